//! Knowledge chunks and exact k-nearest-neighbour search, through the public API.

use one_core::*;
use proptest::prelude::*;

use crate::{Fixture, json};

fn chunk(f: &Fixture, ctx: &Context, new: NewKnowledge) -> Knowledge {
    f.engine
        .write(ctx, |tx| tx.create_knowledge(new.clone()))
        .unwrap()
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
            .write(&sys, |tx| tx.create_knowledge(new.clone()))
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

/// Seeded clustered vectors: `clusters` centres, then `n` points around them; `queries`
/// more points around the same centres, from the same stream.
fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dims).map(|_| next()).collect())
        .collect();
    (0..n)
        .map(|i| {
            centres[i % clusters]
                .iter()
                .map(|x| x + 0.15 * next())
                .collect()
        })
        .collect()
}

fn fill(f: &Fixture, ctx: &Context, vectors: &[Vec<f32>]) -> Vec<(KnowledgeId, Vec<f32>)> {
    f.engine
        .write(ctx, |tx| {
            vectors
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let labels: &[&str] = if i % 50 == 0 { &["rare"] } else { &["common"] };
                    let k = tx.create_knowledge(
                        NewKnowledge::new(format!("chunk {i}"))
                            .embedding(v.clone())
                            .labels(labels),
                    )?;
                    Ok((k.id, v.clone()))
                })
                .collect()
        })
        .unwrap()
}

fn exact_top(items: &[(KnowledgeId, Vec<f32>)], q: &[f32], k: usize) -> Vec<KnowledgeId> {
    let mut scored: Vec<(f32, KnowledgeId)> =
        items.iter().map(|(id, v)| (cosine(q, v), *id)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

fn ids_of(f: &Fixture, ctx: &Context, q: &KnowledgeQuery) -> Vec<KnowledgeId> {
    f.engine
        .read(ctx, |v| v.query_knowledge(q))
        .unwrap()
        .into_iter()
        .map(|h| h.knowledge.id)
        .collect()
}

#[test]
fn an_indexed_group_keeps_recall_and_sees_changes_at_once() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    // The last 50 points are the queries: near the data, never in it.
    let mut all = clustered(1550, 24, 15, 7);
    let queries = all.split_off(1500);
    let mut items = fill(&f, &sys, &all);
    // `fill` labels every 50th chunk `rare`.
    let mut rare: Vec<(KnowledgeId, Vec<f32>)> = items.iter().step_by(50).cloned().collect();
    let report = f.engine.admin().compact_knowledge().unwrap();
    assert_eq!((report.built, report.vectors), (1, 1500));
    let info = f.engine.read(&sys, |v| v.knowledge_index(g.id)).unwrap();
    assert_eq!((info.indexed, info.fresh, info.deleted), (1500, 0, 0));

    // Recall@10 against exact search, at the default parameters.
    let mut found = 0;
    for q in &queries {
        let want = exact_top(&items, q, 10);
        let got = ids_of(&f, &sys, &KnowledgeQuery::vector(q.clone()).k(10));
        found += got.iter().filter(|id| want.contains(id)).count();
    }
    let recall = found as f64 / (10.0 * queries.len() as f64);
    assert!(recall >= 0.95, "recall@10 {recall}");

    // A new chunk is found as soon as it commits; a deleted one never again.
    let q = queries[0].clone();
    let fresh = chunk(
        &f,
        &sys,
        NewKnowledge::new("exactly the query").embedding(q.clone()),
    );
    let top = ids_of(&f, &sys, &KnowledgeQuery::vector(q.clone()).k(3));
    assert_eq!(top[0], fresh.id);
    let victim = top[1];
    f.engine
        .write(&sys, |tx| tx.delete_knowledge(victim))
        .unwrap();
    items.retain(|(id, _)| *id != victim);
    rare.retain(|(id, _)| *id != victim);
    let after = ids_of(&f, &sys, &KnowledgeQuery::vector(q.clone()).k(20));
    assert!(!after.contains(&victim));
    assert_eq!(after[0], fresh.id);
    let info = f.engine.read(&sys, |v| v.knowledge_index(g.id)).unwrap();
    assert_eq!((info.indexed, info.fresh, info.deleted), (1500, 1, 1));

    // A filter the graph's candidates cannot satisfy falls back to exact search.
    let got = ids_of(
        &f,
        &sys,
        &KnowledgeQuery::vector(q.clone()).k(5).any_label(&["rare"]),
    );
    assert_eq!(got, exact_top(&rare, &q, 5));

    // Compacting folds the fresh chunk in and forgets the deletion.
    f.engine.admin().compact_knowledge().unwrap();
    let info = f.engine.read(&sys, |v| v.knowledge_index(g.id)).unwrap();
    assert_eq!((info.indexed, info.fresh, info.deleted), (1500, 0, 0));
    let top = ids_of(&f, &sys, &KnowledgeQuery::vector(q).k(3));
    assert_eq!(top[0], fresh.id);
    assert!(!top.contains(&victim));
    // Nothing changed: nothing to rebuild.
    assert_eq!(f.engine.admin().compact_knowledge().unwrap().built, 0);
}

#[test]
fn the_graph_is_kept_across_reopening_and_a_damaged_one_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.redb");
    let open = || Fixture::file(&path);
    let f = open();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let mut all = clustered(1201, 16, 12, 3);
    let q = all.pop().unwrap();
    let items = fill(&f, &sys, &all);
    f.engine.admin().compact_knowledge().unwrap();
    f.engine.close().unwrap();

    let f = open();
    let info = f.engine.read(&sys, |v| v.knowledge_index(g.id)).unwrap();
    assert_eq!(info.indexed, 1200, "the graph was loaded, not rebuilt");
    let want = exact_top(&items, &q, 5);
    let got = ids_of(&f, &sys, &KnowledgeQuery::vector(q.clone()).k(5));
    assert!(got.iter().filter(|id| want.contains(id)).count() >= 4);
    f.engine.close().unwrap();

    // Damage the stored graph (as a crash of some other writer might): it is not trusted.
    {
        let store = one_storage::Store::open(&path, &one_storage::StoreOptions::default()).unwrap();
        let mut key = vec![b'T'];
        key.extend_from_slice(&g.id.to_be_bytes());
        key.push(0x01);
        key.push(b'h');
        key.extend_from_slice(&g.id.to_be_bytes());
        key.extend_from_slice(&[0x00, 0x01]); // the empty label: the group's own graph
        key.extend_from_slice(&0u32.to_be_bytes());
        store
            .write(|tx| {
                let mut v = one_storage::KvRead::get(&*tx, &key)?.expect("graph chunk");
                let mid = v.len() / 2;
                v[mid] ^= 0xff;
                tx.put(key.clone(), v)?;
                Ok::<_, one_storage::StorageError>(())
            })
            .unwrap();
        store.close().unwrap();
    }
    let f = open();
    let info = f.engine.read(&sys, |v| v.knowledge_index(g.id)).unwrap();
    assert_eq!(info.indexed, 0, "a damaged graph is ignored");
    assert_eq!(
        ids_of(&f, &sys, &KnowledgeQuery::vector(q.clone()).k(5)),
        want
    );
    f.engine.admin().compact_knowledge().unwrap();
    let info = f.engine.read(&sys, |v| v.knowledge_index(g.id)).unwrap();
    assert_eq!(info.indexed, 1200);
}

#[test]
fn a_common_label_gets_its_own_graph_and_relabels_are_seen_at_once() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let mut all = clustered(3020, 16, 12, 11);
    let queries = all.split_off(3000);
    // Every third chunk is `hot` (1,000 of 3,000: a graph of its own); `fill` adds `rare`
    // to every 50th.
    let items = fill(&f, &sys, &all);
    f.engine
        .write(&sys, |tx| {
            for (i, (id, _)) in items.iter().enumerate() {
                let rare = i % 50 == 0;
                let mut labels = vec![if rare { "rare" } else { "common" }];
                if i % 3 == 0 {
                    labels.push("hot");
                }
                tx.set_knowledge_labels(*id, &labels)?;
            }
            Ok(())
        })
        .unwrap();
    f.engine.admin().compact_knowledge().unwrap();
    let hot: Vec<(KnowledgeId, Vec<f32>)> = items.iter().step_by(3).cloned().collect();
    let rare: Vec<(KnowledgeId, Vec<f32>)> = items.iter().step_by(50).cloned().collect();
    let mut found = 0;
    for q in &queries {
        let got = ids_of(
            &f,
            &sys,
            &KnowledgeQuery::vector(q.clone()).any_label(&["hot"]),
        );
        let want = exact_top(&hot, q, 10);
        found += got.iter().filter(|id| want.contains(id)).count();
        assert_eq!(
            ids_of(
                &f,
                &sys,
                &KnowledgeQuery::vector(q.clone()).k(5).any_label(&["rare"])
            ),
            exact_top(&rare, q, 5)
        );
    }
    let recall = found as f64 / (10.0 * queries.len() as f64);
    assert!(recall >= 0.95, "recall@10 with a label filter: {recall}");

    // After the build: a chunk that gains `hot` is found through the filter at once; one
    // that loses it is not.
    let q = queries[0].clone();
    let nearest_cold = exact_top(
        &items
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, x)| x.clone())
            .collect::<Vec<_>>(),
        &q,
        1,
    )[0];
    f.engine
        .write(&sys, |tx| tx.set_knowledge_labels(nearest_cold, &["hot"]))
        .unwrap();
    let own = items
        .iter()
        .find(|(id, _)| *id == nearest_cold)
        .unwrap()
        .1
        .clone();
    let got = ids_of(&f, &sys, &KnowledgeQuery::vector(own).any_label(&["hot"]));
    assert_eq!(got[0], nearest_cold, "a relabelled chunk is found at once");
    let got = ids_of(
        &f,
        &sys,
        &KnowledgeQuery::vector(q.clone()).any_label(&["hot"]),
    );
    let first_hot = got[0];
    f.engine
        .write(&sys, |tx| tx.set_knowledge_labels(first_hot, &["common"]))
        .unwrap();
    let got = ids_of(&f, &sys, &KnowledgeQuery::vector(q).any_label(&["hot"]));
    assert!(!got.contains(&first_hot));
}

#[test]
fn a_key_with_only_knowledge_permissions_searches_the_groups_below() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let team = f.team(g.id);
    let c = chunk(
        &f,
        &sys,
        NewKnowledge::new("x")
            .embedding(vec![1.0, 0.0])
            .in_group(team.id),
    );
    let key = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new(
                "search",
                &["knowledge:query", "knowledge:read"],
            ))
        })
        .unwrap();
    let ctx = f
        .engine
        .context_for_api_key(key.secret.expose(), None)
        .unwrap();
    let q = KnowledgeQuery::vector(vec![1.0, 0.0]).include_children();
    assert_eq!(ids_of(&f, &ctx, &q), [c.id]);
}

#[test]
fn graphs_dropped_from_memory_are_read_again_and_answer_the_same() {
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let store = one_storage::Store::in_memory(&one_storage::StoreOptions::default()).unwrap();
    let engine = Engine::new(store, clock.clone())
        .unwrap()
        .with_knowledge_index(KnowledgeIndexConfig {
            // Room for one group's graph at a time.
            max_cached_vectors: 1500,
            ..KnowledgeIndexConfig::default()
        });
    let f = Fixture { engine, clock };
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let team = f.team(g.id);
    let mut data = clustered(2420, 16, 12, 21);
    let queries = data.split_off(2400);
    let in_root = fill(&f, &sys, &data[..1200]);
    let in_team = fill(&f, &Context::system(team.id), &data[1200..]);
    f.engine.admin().compact_knowledge().unwrap();
    for round in 0..2 {
        for (group, items) in [(g.id, &in_root), (team.id, &in_team)] {
            let info = f.engine.read(&sys, |v| v.knowledge_index(group)).unwrap();
            assert_eq!(info.indexed, 1200, "round {round}");
            let mut found = 0;
            for q in &queries {
                let got = ids_of(&f, &sys, &KnowledgeQuery::vector(q.clone()).group(group));
                let want = exact_top(items, q, 10);
                found += got.iter().filter(|id| want.contains(id)).count();
            }
            assert!(
                found as f64 >= 0.95 * 10.0 * queries.len() as f64,
                "{found}"
            );
        }
    }
}

/// Waits until `done` holds, checking every 10 ms: the upkeep thread's work is
/// asynchronous. The bound (30,000 checks, five minutes of sleeping) only ends a test
/// that would hang.
pub(crate) fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..30_000 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("never happened: {what}");
}

#[test]
fn the_upkeep_thread_builds_and_rebuilds_graphs_with_no_call_and_answers_stay_exact() {
    let f = Fixture::new().map(|e| {
        Ok(e.with_knowledge_index(KnowledgeIndexConfig {
            min_vectors: 200,
            ..KnowledgeIndexConfig::default()
        }))
    });
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let engine = std::sync::Arc::new(f.engine);
    let mut upkeep =
        KnowledgeMaintenance::start(&engine, std::time::Duration::from_millis(5)).unwrap();
    let mut all = clustered(320, 16, 8, 11);
    let queries = all.split_off(300);
    let mut items: Vec<(KnowledgeId, Vec<f32>)> = Vec::new();
    let search = |q: &[f32]| -> Vec<KnowledgeId> {
        engine
            .read(&sys, |v| {
                v.query_knowledge(&KnowledgeQuery::vector(q.to_vec()).k(5))
            })
            .unwrap()
            .into_iter()
            .map(|h| h.knowledge.id)
            .collect()
    };
    let info = || engine.read(&sys, |v| v.knowledge_index(g.id)).unwrap();
    // Chunks come in small transactions while the thread works; every answer along the
    // way is the exact one (a graph of 200 points at the default `ef` misses nothing).
    for (i, v) in all.iter().enumerate() {
        let k = engine
            .write(&sys, |tx| {
                tx.create_knowledge(NewKnowledge::new(format!("c{i}")).embedding(v.clone()))
            })
            .unwrap();
        items.push((k.id, v.clone()));
        if i % 25 == 0 {
            for q in &queries[..3] {
                assert_eq!(search(q), exact_top(&items, q, 5));
            }
        }
    }
    // Built once the group had 200 vectors; whatever came after is folded in unless it
    // is under a tenth of the graph (searched exactly meanwhile).
    eventually(
        "the group has a graph, and under a tenth of it fresh",
        || {
            let i = info();
            i.indexed >= 200 && i.fresh * 10 < i.indexed && i.indexed + i.fresh == 300
        },
    );
    assert!(engine.maintenance_status().graphs_built >= 1);
    // More than a tenth deleted in one transaction: rebuilt without them.
    let doomed: Vec<KnowledgeId> = items.iter().step_by(9).map(|(id, _)| *id).collect();
    engine
        .write(&sys, |tx| {
            for id in &doomed {
                tx.delete_knowledge(*id)?;
            }
            Ok(())
        })
        .unwrap();
    items.retain(|(id, _)| !doomed.contains(id));
    for q in &queries {
        assert_eq!(search(q), exact_top(&items, q, 5));
    }
    eventually("the graph is rebuilt without the deleted chunks", || {
        let i = info();
        i.indexed == items.len() && i.deleted == 0
    });
    for q in &queries {
        assert_eq!(search(q), exact_top(&items, q, 5));
    }
    let status = engine.maintenance_status();
    assert!(
        status.running && status.rounds > 0 && status.last_error.is_none(),
        "{status:?}"
    );
    upkeep.stop();
    eventually("the thread stops", || !engine.maintenance_status().running);
    assert!(engine.check().unwrap().is_ok());
}
