//! Knowledge chunks and exact k-nearest-neighbour search, through the public API.

use one_core::*;
use proptest::prelude::*;

use crate::{Fixture, json};

fn chunk(f: &Fixture, ctx: &Context, new: NewKnowledge) -> Knowledge {
    f.engine.write(ctx, |tx| tx.create_knowledge(new)).unwrap()
}

#[test]
fn text_is_embedded_stored_found_and_deleted() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let reset = chunk(
        &f,
        &sys,
        NewKnowledge::new("To reset your password, open Settings and choose Reset password.")
            .labels(&["faq", "account"]),
    );
    chunk(
        &f,
        &sys,
        NewKnowledge::new("We ship to Canada and Mexico; rates depend on weight.").labels(&["faq"]),
    );
    chunk(
        &f,
        &sys,
        NewKnowledge::new("Our office is closed on public holidays."),
    );
    assert_eq!(reset.labels, ["account", "faq"]);
    let hits = f
        .engine
        .read(&sys, |v| {
            v.query_knowledge(&KnowledgeQuery::text("how can I reset a password").k(2))
        })
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].knowledge.id, reset.id);
    assert!(hits[0].score > hits[1].score);
    // Found the moment its transaction commits; gone the moment it is deleted.
    f.engine
        .write(&sys, |tx| tx.delete_knowledge(reset.id))
        .unwrap();
    let hits = f
        .engine
        .read(&sys, |v| {
            v.query_knowledge(&KnowledgeQuery::text("reset password"))
        })
        .unwrap();
    assert!(hits.iter().all(|h| h.knowledge.id != reset.id));
    assert!(matches!(
        f.engine.read(&sys, |v| v.get_knowledge(reset.id)),
        Err(Error::NotFound { .. })
    ));
    let kinds: Vec<String> = f
        .engine
        .read(&sys, |v| v.events(&EventQuery::latest().target(reset.id)))
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["knowledge_deleted", "knowledge_created"]);
    let usage = f.engine.read(&sys, |v| v.usage(g.id)).unwrap();
    let tokens = usage
        .iter()
        .find(|u| u.resource == Resource::EmbeddingTokens)
        .unwrap();
    assert!(tokens.used >= 20, "{tokens:?}");
    // Storage counted as chunks come and go matches a recount from the records.
    f.engine.admin().recount_usage().unwrap();
    assert_eq!(f.engine.read(&sys, |v| v.usage(g.id)).unwrap(), usage);
}

#[test]
fn filters_by_labels_and_source_and_respects_groups() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let (team, doc) = f
        .engine
        .write(&sys, |tx| {
            let team = tx.create_group(g.id, NewGroup::new(GroupType::Business, "Team", "team"))?;
            let doc = tx.create_thing(NewThing::new("document", "Handbook"))?;
            Ok((team, doc))
        })
        .unwrap();
    let v = |x: f32, y: f32| vec![x, y, 0.0, 0.0];
    let a = chunk(
        &f,
        &sys,
        NewKnowledge::new("a")
            .embedding(v(1.0, 0.0))
            .labels(&["x", "y"]),
    );
    let b = chunk(
        &f,
        &sys,
        NewKnowledge::new("b")
            .embedding(v(0.9, 0.1))
            .labels(&["x"])
            .source(doc.id),
    );
    let c = chunk(
        &f,
        &sys,
        NewKnowledge::new("c")
            .embedding(v(0.8, 0.2))
            .in_group(team.id)
            .labels(&["y"]),
    );
    let ids = |q: KnowledgeQuery| -> Vec<KnowledgeId> {
        f.engine
            .read(&sys, |view| view.query_knowledge(&q))
            .unwrap()
            .into_iter()
            .map(|h| h.knowledge.id)
            .collect()
    };
    let q = || KnowledgeQuery::vector(v(1.0, 0.0));
    assert_eq!(ids(q()), [a.id, b.id]);
    assert_eq!(ids(q().include_children()), [a.id, b.id, c.id]);
    assert_eq!(ids(q().include_children().any_label(&["y"])), [a.id, c.id]);
    assert_eq!(ids(q().all_labels(&["x", "y"])), [a.id]);
    assert_eq!(ids(q().source(doc.id)), [b.id]);
    assert_eq!(ids(q().group(team.id)), [c.id]);
    assert_eq!(ids(q().k(1).metric(Metric::Dot)), [a.id]);

    // A member of the team alone sees only the team's chunks.
    let person = f
        .engine
        .write(&sys, |tx| {
            let p = tx.create_person(NewPerson::new("t@acme.io", "T"))?;
            tx.add_member(p.id, team.id, "group_user", &["read"])?;
            Ok(p.id)
        })
        .unwrap();
    let as_member = Context::person(person, team.id);
    let seen: Vec<KnowledgeId> = f
        .engine
        .read(&as_member, |view| {
            view.query_knowledge(&q().include_children())
        })
        .unwrap()
        .into_iter()
        .map(|h| h.knowledge.id)
        .collect();
    assert_eq!(seen, [c.id]);
    let write = f.engine.write(&as_member, |tx| {
        tx.create_knowledge(NewKnowledge::new("x").embedding(v(1.0, 1.0)))
    });
    assert!(matches!(
        write,
        Err(Error::Forbidden {
            needed: Permission::KnowledgeWrite,
            ..
        })
    ));
    // Another tenant sees nothing of this one, whatever it asks.
    let other = f.tenant("other");
    let theirs = f
        .engine
        .read(&Context::system(other.id), |view| {
            view.query_knowledge(&KnowledgeQuery::vector(v(1.0, 0.0)).k(100))
        })
        .unwrap();
    assert!(theirs.is_empty());
    assert!(matches!(
        f.engine
            .read(&Context::system(other.id), |view| view.get_knowledge(a.id)),
        Err(Error::NotFound { .. })
    ));
    // Relabelling changes what a filter finds.
    f.engine
        .write(&sys, |tx| tx.set_knowledge_labels(b.id, &["y"]))
        .unwrap();
    assert_eq!(ids(q().any_label(&["y"])), [a.id, b.id]);
}

#[test]
fn bad_vectors_and_inputs_are_refused_by_name_and_change_nothing() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    chunk(
        &f,
        &sys,
        NewKnowledge::new("first").embedding(vec![1.0, 0.0, 0.0]),
    );
    let before = f.dump();
    for (new, field) in [
        (
            NewKnowledge::new("x").embedding(vec![1.0, 0.0]),
            "embedding",
        ),
        (
            NewKnowledge::new("x").embedding(vec![1.0, f32::NAN, 0.0]),
            "embedding",
        ),
        (
            NewKnowledge::new("x").embedding(vec![f32::INFINITY, 0.0, 0.0]),
            "embedding",
        ),
        (NewKnowledge::new("  "), "text"),
        (NewKnowledge::new("x".repeat(MAX_TEXT_BYTES + 1)), "text"),
        (
            NewKnowledge::new("x")
                .embedding(vec![1.0, 0.0, 0.0])
                .labels(&["Not OK"]),
            "labels",
        ),
        (
            NewKnowledge::new("x")
                .embedding(vec![1.0, 0.0, 0.0])
                .metadata(json(serde_json::json!([1]))),
            "metadata",
        ),
        (
            NewKnowledge::new("x")
                .embedding(vec![1.0, 0.0, 0.0])
                .source(ThingId::from_u128(42)),
            "source",
        ),
        // The built-in embedder makes 256 dimensions; this database stores 3.
        (NewKnowledge::new("embed me"), "embedding"),
    ] {
        let err = f
            .engine
            .write(&sys, |tx| tx.create_knowledge(new))
            .unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    for q in [
        KnowledgeQuery::vector(vec![1.0]),
        KnowledgeQuery::vector(vec![1.0, 0.0, 0.0]).k(0),
        KnowledgeQuery::vector(vec![1.0, 0.0, 0.0]).k(MAX_K + 1),
        KnowledgeQuery::vector(vec![1.0, 0.0, 0.0]).any_label(&["BAD"]),
    ] {
        assert!(f.engine.read(&sys, |v| v.query_knowledge(&q)).is_err());
    }
    assert_eq!(f.dump(), before);
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n =
        a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 { d / n } else { 0.0 }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Exact search returns what a brute-force scan in the test returns.
    #[test]
    fn search_equals_brute_force(
        vectors in prop::collection::vec(prop::collection::vec(-1.0f32..1.0, 8), 1..60),
        query in prop::collection::vec(-1.0f32..1.0, 8),
        k in 1usize..15,
    ) {
        let f = Fixture::new();
        let g = f.tenant("acme");
        let sys = Context::system(g.id);
        let items: Vec<(KnowledgeId, Vec<f32>)> = f.engine.write(&sys, |tx| {
            vectors
                .iter()
                .map(|v| Ok((tx.create_knowledge(NewKnowledge::new("t").embedding(v.clone()))?.id, v.clone())))
                .collect::<Result<Vec<_>>>()
        }).unwrap();
        let got: Vec<KnowledgeId> = f
            .engine
            .read(&sys, |v| v.query_knowledge(&KnowledgeQuery::vector(query.clone()).k(k)))
            .unwrap()
            .into_iter()
            .map(|h| h.knowledge.id)
            .collect();
        // A brute-force scan in the test: the k-th best score, and every item's score.
        let score = |id: &KnowledgeId| {
            let v = &items.iter().find(|(i, _)| i == id).unwrap().1;
            cosine(&query, v)
        };
        let mut all: Vec<f32> = items.iter().map(|(id, _)| score(id)).collect();
        all.sort_by(|a, b| b.total_cmp(a));
        let kth = all[k.min(all.len()) - 1];
        prop_assert_eq!(got.len(), k.min(items.len()));
        let unique: std::collections::BTreeSet<_> = got.iter().collect();
        prop_assert_eq!(unique.len(), got.len());
        // Every returned item is among the best k, up to float rounding, best first.
        for pair in got.windows(2) {
            prop_assert!(score(&pair[0]) >= score(&pair[1]) - 1e-5);
        }
        for id in &got {
            prop_assert!(score(id) >= kth - 1e-5, "{} < {}", score(id), kth);
        }
    }
}
