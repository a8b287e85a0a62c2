//! Full-text search: it answers exactly what a brute-force BM25 over the same documents
//! answers, keeps up with every write in the write's own transaction, and never shows
//! what the caller may not read.

use std::collections::BTreeMap;

use one_core::*;
use proptest::prelude::*;
use serde_json::json;

use crate::Fixture;

/// A small vocabulary, so that words repeat across documents; mixed case on purpose.
const WORDS: &[&str] = &[
    "Blue", "mug", "MUGS", "red", "cup", "coffee", "tea", "big", "small", "mugshot",
];

fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec(0..WORDS.len(), 1..6)
        .prop_map(|ws| ws.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" "))
}

#[derive(Debug, Clone)]
enum Step {
    /// A new thing in the root (false) or the child group (true).
    Create(String, bool),
    Rename(usize, String),
    Delete(usize),
    /// A create that is rolled back.
    RolledBack(String),
    /// One transaction that creates these things, renames the first twice (to "tea
    /// tea", then to the name given), deletes the last of them (when there are two or
    /// more), and renames an older thing twice and deletes it if the flag says so.
    Batch(Vec<(String, bool)>, String, usize, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (name(), any::<bool>()).prop_map(|(n, c)| Step::Create(n, c)),
        2 => (any::<usize>(), name()).prop_map(|(i, n)| Step::Rename(i, n)),
        1 => any::<usize>().prop_map(Step::Delete),
        1 => name().prop_map(Step::RolledBack),
        2 => (
            proptest::collection::vec((name(), any::<bool>()), 1..4),
            name(),
            any::<usize>(),
            any::<bool>(),
        )
            .prop_map(|(made, renamed, older, delete)| Step::Batch(made, renamed, older, delete)),
    ]
}

/// The reference: BM25 as FTS5 computes it, over `docs` (id → words), for every word of
/// `query` (the last one a prefix when `prefix`), best first, ties by id.
fn reference(
    docs: &BTreeMap<ThingId, Vec<String>>,
    query: &[String],
    prefix: bool,
) -> Vec<(ThingId, f32)> {
    let n = docs.len() as f64;
    let total: usize = docs.values().map(Vec::len).sum();
    let avg = if docs.is_empty() {
        0.0
    } else {
        total as f64 / n
    };
    let matches = |term: &str, last: bool, w: &String| {
        if last && prefix {
            w.starts_with(term)
        } else {
            w == term
        }
    };
    let mut out = Vec::new();
    'doc: for (id, words) in docs {
        let mut score = 0.0f64;
        for (i, term) in query.iter().enumerate() {
            let last = i + 1 == query.len();
            let tf = words.iter().filter(|w| matches(term, last, w)).count();
            if tf == 0 {
                continue 'doc;
            }
            let df = docs
                .values()
                .filter(|ws| ws.iter().any(|w| matches(term, last, w)))
                .count() as f64;
            let idf = ((n - df + 0.5) / (df + 0.5)).ln().max(1e-6);
            let norm = 1.0 - 0.75 + 0.75 * words.len() as f64 / avg;
            score += idf * tf as f64 * 2.2 / (tf as f64 + 1.2 * norm);
        }
        out.push((*id, score));
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.into_iter().map(|(id, s)| (id, s as f32)).collect()
}

fn lower_words(name: &str) -> Vec<String> {
    name.split(' ').map(str::to_lowercase).collect()
}

/// Every hit of a query, page by page.
fn all_hits(e: &Engine, ctx: &Context, q: TextQuery) -> Vec<(ThingId, f32)> {
    let mut out = Vec::new();
    let mut q = q.limit(3);
    loop {
        let page = e.read(ctx, |v| v.search_things(&q)).unwrap();
        out.extend(page.items.iter().map(|h| (h.thing.id, h.score)));
        match page.next {
            Some(c) => q = q.after(c),
            None => return out,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(one_core::testkit::cases(24)))]

    #[test]
    fn search_equals_brute_force_bm25(
        steps in proptest::collection::vec(step(), 1..80),
        query in proptest::collection::vec(0..WORDS.len(), 1..3),
        prefix in any::<bool>(),
    ) {
        let f = Fixture::new();
        f.engine.admin().create_text_index("product", "name").unwrap();
        let root = f.tenant("acme");
        let team = f.team(root.id);
        let ctx = Context::system(root.id);
        // id → (group is the child, words); deleted ones leave.
        let mut live: BTreeMap<ThingId, (bool, Vec<String>)> = BTreeMap::new();
        let mut made: Vec<ThingId> = Vec::new();
        for s in steps {
            match s {
                Step::Create(n, child) => {
                    let new = NewThing::new("product", n.clone());
                    let new = if child { new.in_group(team.id) } else { new };
                    let t = f.engine.write(&ctx, |tx| tx.create_thing(new.clone())).unwrap();
                    live.insert(t.id, (child, lower_words(&n)));
                    made.push(t.id);
                }
                Step::Rename(i, n) if !made.is_empty() => {
                    let id = made[i % made.len()];
                    if let Some(entry) = live.get_mut(&id) {
                        f.engine
                            .write(&ctx, |tx| tx.update_thing(id, ThingUpdate::default().name(n.clone())))
                            .unwrap();
                        entry.1 = lower_words(&n);
                    }
                }
                Step::Delete(i) if !made.is_empty() => {
                    let id = made[i % made.len()];
                    if live.remove(&id).is_some() {
                        f.engine.write(&ctx, |tx| tx.delete_thing(id)).unwrap();
                    }
                }
                Step::Batch(names, renamed, older, delete) => {
                    let older = (!made.is_empty())
                        .then(|| made[older % made.len()])
                        .filter(|id| live.contains_key(id));
                    let ids = f
                        .engine
                        .write(&ctx, |tx| {
                            let mut ids = Vec::new();
                            for (n, child) in &names {
                                let new = NewThing::new("product", n.clone());
                                let new = if *child { new.in_group(team.id) } else { new };
                                ids.push(tx.create_thing(new)?.id);
                            }
                            tx.update_thing(ids[0], ThingUpdate::default().name("tea tea"))?;
                            tx.update_thing(ids[0], ThingUpdate::default().name(renamed.clone()))?;
                            if ids.len() > 1 {
                                tx.delete_thing(ids[ids.len() - 1])?;
                            }
                            if let Some(id) = older {
                                tx.update_thing(id, ThingUpdate::default().name("cup mug"))?;
                                tx.update_thing(id, ThingUpdate::default().name(renamed.clone()))?;
                                if delete {
                                    tx.delete_thing(id)?;
                                }
                            }
                            Ok(ids)
                        })
                        .unwrap();
                    for (i, (id, (n, child))) in ids.iter().zip(&names).enumerate() {
                        made.push(*id);
                        let words = if i == 0 { lower_words(&renamed) } else { lower_words(n) };
                        if i == 0 || i + 1 < ids.len() {
                            live.insert(*id, (*child, words));
                        }
                    }
                    if let Some(id) = older {
                        if delete {
                            live.remove(&id);
                        } else if let Some(entry) = live.get_mut(&id) {
                            entry.1 = lower_words(&renamed);
                        }
                    }
                }
                Step::RolledBack(n) => {
                    let r: Result<()> = f.engine.write(&ctx, |tx| {
                        tx.create_thing(NewThing::new("product", n.clone()))?;
                        Err(Error::invalid("test", "roll back"))
                    });
                    prop_assert!(r.is_err());
                }
                _ => {}
            }
        }
        let words: Vec<String> = {
            let mut ws: Vec<String> = Vec::new();
            for &i in &query {
                let w = WORDS[i].to_lowercase();
                if !ws.contains(&w) {
                    ws.push(w);
                }
            }
            ws
        };
        let text = query.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" ");
        for (below, group) in [(false, root.id), (true, root.id), (false, team.id)] {
            let docs: BTreeMap<ThingId, Vec<String>> = live
                .iter()
                .filter(|(_, (child, _))| below || *child == (group == team.id))
                .map(|(id, (_, w))| (*id, w.clone()))
                .collect();
            let want = reference(&docs, &words, prefix);
            let mut q = TextQuery::new(text.clone()).group(group);
            if prefix {
                q = q.prefix();
            }
            if below {
                q = q.include_children();
            }
            let got = all_hits(&f.engine, &ctx, q);
            prop_assert_eq!(
                got.iter().map(|h| h.0).collect::<Vec<_>>(),
                want.iter().map(|h| h.0).collect::<Vec<_>>()
            );
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((g.1 - w.1).abs() <= 1e-4 * w.1.abs().max(1.0), "{} vs {}", g.1, w.1);
            }
        }
        prop_assert!(f.engine.check().unwrap().is_ok());
    }
}

#[test]
fn words_are_found_whatever_their_case_and_accents_and_as_prefixes() {
    let f = Fixture::new();
    f.engine
        .admin()
        .create_text_index("dessert", "name")
        .unwrap();
    let root = f.tenant("acme");
    let ctx = Context::system(root.id);
    let creme = f
        .engine
        .write(&ctx, |tx| {
            tx.create_thing(NewThing::new("dessert", "Crème BRÛLÉE"))
        })
        .unwrap();
    let search = |q: TextQuery| {
        f.engine
            .read(&ctx, |v| v.search_things(&q))
            .unwrap()
            .items
            .into_iter()
            .map(|h| h.thing.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(search(TextQuery::new("creme")), [creme.id]);
    assert_eq!(search(TextQuery::new("CRÈME brulee")), [creme.id]);
    assert!(search(TextQuery::new("cre")).is_empty());
    assert_eq!(
        search(TextQuery::new("bru cre").prefix()),
        Vec::<ThingId>::new()
    );
    assert_eq!(search(TextQuery::new("brulee cre").prefix()), [creme.id]);
    assert_eq!(search(TextQuery::new("creme").kind("dessert")), [creme.id]);
    assert!(search(TextQuery::new("creme").kind("product")).is_empty());
    let filter = Filter::from_json(&json!({"status": "archived"})).unwrap();
    assert!(search(TextQuery::new("creme").filter(filter)).is_empty());
}

#[test]
fn bad_queries_are_refused_by_name() {
    let f = Fixture::new();
    let root = f.tenant("acme");
    let ctx = Context::system(root.id);
    let err = |q: TextQuery| f.engine.read(&ctx, |v| v.search_things(&q)).unwrap_err();
    assert!(
        matches!(err(TextQuery::new(" ,;- ")), Error::InvalidField { field, .. } if field == "text")
    );
    assert!(matches!(
        err(TextQuery::new("a".repeat(MAX_QUERY_BYTES + 1))),
        Error::TooLarge { field: "text", .. }
    ));
    let many: String = (0..MAX_QUERY_WORDS + 1).map(|i| format!("w{i} ")).collect();
    assert!(
        matches!(err(TextQuery::new(many)), Error::InvalidField { field, .. } if field == "text")
    );
    assert!(
        matches!(err(TextQuery::new("mug").kind("Bad Type")), Error::InvalidField { field, .. } if field == "type")
    );
    assert!(
        matches!(err(TextQuery::new("mug").limit(0)), Error::InvalidField { field, .. } if field == "limit")
    );
    assert!(matches!(
        err(TextQuery::new("mug").after(Cursor::from_text("c00"))),
        Error::InvalidCursor { .. }
    ));
}

#[test]
fn search_shows_nothing_of_another_tenant_a_deleted_thing_or_a_closed_group() {
    let f = Fixture::new();
    f.engine
        .admin()
        .create_text_index("product", "name")
        .unwrap();
    let acme = f.tenant("acme");
    let other = f.tenant("other");
    let sys = Context::system(acme.id);
    let (closed, open) = f
        .engine
        .write(&sys, |tx| {
            let closed = tx.create_group(
                acme.id,
                NewGroup::new(GroupType::Business, "Closed", "closed")
                    .properties(crate::json(json!({"settings": {"parentAccess": "none"}}))),
            )?;
            let open = tx.create_group(
                acme.id,
                NewGroup::new(GroupType::Business, "Open", "open").properties(crate::json(
                    json!({"settings": {"parentAccess": "members"}}),
                )),
            )?;
            Ok((closed, open))
        })
        .unwrap();
    f.engine
        .write(&Context::system(other.id), |tx| {
            tx.create_thing(NewThing::new("product", "Secret mug"))
        })
        .unwrap();
    let (visible, in_open, gone) = f
        .engine
        .write(&sys, |tx| {
            let visible = tx.create_thing(NewThing::new("product", "Mug"))?;
            tx.create_thing(NewThing::new("product", "Closed mug").in_group(closed.id))?;
            let in_open =
                tx.create_thing(NewThing::new("product", "Open mug").in_group(open.id))?;
            let gone = tx.create_thing(NewThing::new("product", "Gone mug"))?;
            tx.delete_thing(gone.id)?;
            Ok((visible, in_open, gone))
        })
        .unwrap();
    let ann = f
        .engine
        .write(&sys, |tx| {
            let ann = tx.create_person(NewPerson::new("ann@example.com", "Ann"))?;
            tx.add_member(ann.id, acme.id, "group_user", &[])?;
            Ok(ann)
        })
        .unwrap();
    let ctx = Context::person(ann.id, acme.id);
    let mut found: Vec<ThingId> = f
        .engine
        .read(&ctx, |v| {
            v.search_things(&TextQuery::new("mug").include_children())
        })
        .unwrap()
        .items
        .into_iter()
        .map(|h| h.thing.id)
        .collect();
    found.sort();
    let mut want = vec![visible.id, in_open.id];
    want.sort();
    assert_eq!(found, want);
    assert!(!found.contains(&gone.id));
    // The closed group itself cannot be searched by Ann; another tenant's group answers as
    // unknown.
    let err = f
        .engine
        .read(&ctx, |v| {
            v.search_things(&TextQuery::new("mug").group(closed.id))
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::Forbidden { .. } | Error::NotFound { .. }),
        "{err}"
    );
    let err = f
        .engine
        .read(&ctx, |v| {
            v.search_things(&TextQuery::new("mug").group(other.id))
        })
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn declared_text_properties_are_indexed_for_every_tenant_and_dropped_cleanly() {
    let f = Fixture::new();
    let root = f.tenant("acme");
    let ctx = Context::system(root.id);
    let mug = f
        .engine
        .write(&ctx, |tx| {
            tx.create_thing(
                NewThing::new("product", "Mug")
                    .property("description", "Holds hot coffee")
                    .property("tags", vec!["kitchen", "ceramic"]),
            )
        })
        .unwrap();
    let ids = |text: &str| {
        f.engine
            .read(&ctx, |v| v.search_things(&TextQuery::new(text)))
            .unwrap()
            .items
            .into_iter()
            .map(|h| h.thing.id)
            .collect::<Vec<_>>()
    };
    // Nothing is searched until a type declares its text fields.
    assert!(ids("mug").is_empty());
    let admin = f.engine.admin();
    admin.create_text_index("product", "name").unwrap();
    assert_eq!(ids("mug"), [mug.id]);
    assert!(ids("coffee").is_empty());
    admin
        .create_text_index("product", "properties.description")
        .unwrap();
    admin
        .create_text_index("product", "properties.tags")
        .unwrap();
    assert_eq!(admin.text_indexes().unwrap().len(), 3);
    assert_eq!(ids("coffee mug"), [mug.id]);
    assert_eq!(ids("ceramic"), [mug.id]);
    assert!(f.engine.check().unwrap().is_ok());
    // A later write of another property leaves the words; one of the text changes them.
    f.engine
        .write(&ctx, |tx| {
            tx.update_thing(
                mug.id,
                ThingUpdate::default().property("description", "Holds tea"),
            )
        })
        .unwrap();
    assert!(ids("coffee").is_empty());
    assert_eq!(ids("tea"), [mug.id]);
    assert!(
        admin
            .drop_text_index("product", "properties.description")
            .unwrap()
    );
    assert!(
        !admin
            .drop_text_index("product", "properties.description")
            .unwrap()
    );
    assert!(ids("tea").is_empty());
    assert_eq!(ids("mug"), [mug.id]);
    assert!(admin.drop_text_index("product", "properties.tags").unwrap());
    assert!(admin.drop_text_index("product", "name").unwrap());
    assert!(ids("mug").is_empty());
    assert!(f.engine.check().unwrap().is_ok());
    assert!(matches!(
        admin.create_text_index("product", "status").unwrap_err(),
        Error::InvalidFilter { .. }
    ));
}

/// Deletes `doomed` and puts `puts` in the file under `f`, which `check` must then find
/// damaged, and opens the file again: that open must mend it.
fn reopened_after(
    f: Fixture,
    path: &std::path::Path,
    doomed: Vec<Vec<u8>>,
    puts: Vec<(Vec<u8>, Vec<u8>)>,
) -> Fixture {
    assert!(!doomed.is_empty() || !puts.is_empty());
    f.engine
        .store()
        .write(|kv| {
            for k in &doomed {
                kv.delete(k)?;
            }
            for (k, v) in &puts {
                kv.put(k.clone(), v.clone())?;
            }
            Ok::<_, one_storage::StorageError>(())
        })
        .unwrap();
    assert!(!f.engine.check().unwrap().is_ok());
    drop(f);
    let f = Fixture::file(path);
    let report = f.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
    f
}

/// A database file whose products' names are searchable, with a populated tenant, and
/// the context of that tenant.
fn named_file(path: &std::path::Path) -> (Fixture, Context) {
    let f = Fixture::file(path);
    f.engine
        .admin()
        .create_text_index("product", "name")
        .unwrap();
    let root = f.populated("acme");
    (f, Context::system(root.id))
}

/// The things whose names hold "mug", best first.
fn mug_ids(f: &Fixture, ctx: &Context) -> Vec<ThingId> {
    let hits = f
        .engine
        .read(ctx, |v| v.search_things(&TextQuery::new("mug")))
        .unwrap();
    hits.items.iter().map(|h| h.thing.id).collect()
}

#[test]
fn a_text_index_of_one_key_per_posting_is_rebuilt_in_segments_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.one");
    let (f, ctx) = named_file(&path);
    let before = mug_ids(&f, &ctx);
    assert_eq!(before.len(), 1);
    // Make the text index look like the one-key-per-posting format: its segments gone,
    // an old posting under `S` in their place, the marker of segments gone.
    let (doomed, old) = {
        let mut doomed = Vec::new();
        let mut old_posting = None;
        for (k, _) in f.dump() {
            if k.len() > 18 && k[0] == b'T' && k[18] == b'W' {
                let mut old = k[..19].to_vec();
                old[18] = b'S';
                old_posting.get_or_insert(old);
                doomed.push(k);
            } else if k == b"MW" {
                doomed.push(k);
            }
        }
        let mut old_posting = old_posting.expect("a text index");
        old_posting.extend_from_slice(b"mug\0\x01");
        old_posting.extend_from_slice(&[7; 16]);
        let old = (old_posting, vec![0, 0, 0, 1, 0, 0, 0, 2]);
        (doomed, vec![old])
    };
    let f = reopened_after(f, &path, doomed, old);
    assert!(
        !f.dump()
            .iter()
            .any(|(k, _)| k.len() > 18 && k[0] == b'T' && k[18] == b'S'),
        "the old postings are gone"
    );
    assert_eq!(mug_ids(&f, &ctx), before);
}

#[test]
fn a_text_index_of_an_earlier_segment_layout_is_rebuilt_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.one");
    let (f, ctx) = named_file(&path);
    let before = mug_ids(&f, &ctx);
    assert_eq!(before.len(), 1);
    // The marker of layout 1, and a block of words this engine cannot read in place of
    // one of its own (a directory key is 36 bytes; a block's key is longer).
    let block = f
        .dump()
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| k.len() > 36 && k[0] == b'T' && k[18] == b'W')
        .expect("a block of the text index");
    let earlier = vec![
        (b"MW".to_vec(), vec![1]),
        (block, vec![0, 0, 0, 9, 1, 2, 3]),
    ];
    let f = reopened_after(f, &path, Vec::new(), earlier);
    assert_eq!(mug_ids(&f, &ctx), before);
}

#[test]
fn a_file_written_before_the_text_index_gets_it_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.one");
    let (f, ctx) = named_file(&path);
    // Make the file look older: no text postings, no text counts, no marker.
    let doomed = {
        let mut doomed = Vec::new();
        for (k, _) in f.dump() {
            let text_posting = k.len() > 18 && k[0] == b'T' && k[18] == b'W';
            let text_count =
                k.len() == 36 && k[0] == b'T' && k[18] == b'n' && (5..=8).contains(&k[35]);
            let group_list = k.len() > 18 && k[0] == b'T' && (k[18] == b'Y' || k[18] == b'U');
            if text_posting || text_count || group_list || k == b"MT" || k == b"MW" {
                doomed.push(k);
            }
        }
        assert!(!doomed.is_empty());
        doomed
    };
    let f = reopened_after(f, &path, doomed, Vec::new());
    let hits = f
        .engine
        .read(&ctx, |v| v.search_things(&TextQuery::new("mug")))
        .unwrap();
    assert_eq!(hits.items.len(), 1);
    let all = f
        .engine
        .read(&ctx, |v| v.things(&ThingQuery::all()))
        .unwrap();
    assert!(!all.items.is_empty());
}

#[test]
fn knowledge_is_searched_by_text_and_by_both_rankings_fused() {
    let f = Fixture::new();
    let root = f.tenant("acme");
    let ctx = Context::system(root.id);
    let (refund, shipping, vec_only) = f
        .engine
        .write(&ctx, |tx| {
            let refund = tx.create_knowledge(
                NewKnowledge::new("Refunds are paid within five days.")
                    .embedding(vec![0.0, 1.0, 0.0])
                    .labels(&["faq"]),
            )?;
            let shipping = tx.create_knowledge(
                NewKnowledge::new("Shipping takes two days; refunds of shipping are not paid.")
                    .embedding(vec![0.0, 0.0, 1.0]),
            )?;
            let vec_only = tx.create_knowledge(
                NewKnowledge::new("Nothing about money here.").embedding(vec![1.0, 0.0, 0.0]),
            )?;
            let gone = tx.create_knowledge(
                NewKnowledge::new("Refunds refunds refunds").embedding(vec![1.0, 0.0, 0.0]),
            )?;
            tx.delete_knowledge(gone.id)?;
            Ok((refund, shipping, vec_only))
        })
        .unwrap();
    let ids = |q: KnowledgeQuery| {
        f.engine
            .read(&ctx, |v| v.query_knowledge(&q))
            .unwrap()
            .into_iter()
            .map(|h| h.knowledge.id)
            .collect::<Vec<_>>()
    };
    // The shorter chunk ranks first for the same one occurrence; a deleted one is gone.
    assert_eq!(
        ids(KnowledgeQuery::words("REFUNDS")),
        [refund.id, shipping.id]
    );
    assert_eq!(
        ids(KnowledgeQuery::words("refunds shipping")),
        [shipping.id]
    );
    assert_eq!(
        ids(KnowledgeQuery::words("refunds").any_label(&["faq"])),
        [refund.id]
    );
    // Hybrid: the text's best and the vector's best both come, the one in both first.
    let hybrid = ids(KnowledgeQuery::hybrid("shipping").with_vector(vec![0.9, 0.0, 0.1]));
    assert_eq!(hybrid[0], shipping.id);
    assert!(hybrid.contains(&vec_only.id));
    // A text search needs words; a vector alone cannot be ranked by text.
    let err = f
        .engine
        .read(&ctx, |v| {
            v.query_knowledge(&KnowledgeQuery::vector(vec![1.0, 0.0, 0.0]).mode(SearchMode::Text))
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidField { ref field, .. } if field == "text"),
        "{err}"
    );
    let bad: Result<KnowledgeQuery, _> =
        serde_json::from_value(json!({"vector": [1.0], "text": "a", "mode": "text"}));
    assert!(bad.is_err());
    assert!(f.engine.check().unwrap().is_ok());
}

#[test]
fn the_upkeep_thread_merges_what_writers_leave_and_answers_stay_exact() {
    let f = Fixture::new();
    f.engine
        .admin()
        .create_text_index("product", "name")
        .unwrap();
    let root = f.tenant("acme");
    let ctx = Context::system(root.id);
    let engine = std::sync::Arc::new(f.engine);
    let mut upkeep =
        KnowledgeMaintenance::start(&engine, std::time::Duration::from_millis(5)).unwrap();
    // Transactions of 600 names: eight of them make a merge larger than a writer does.
    let mut sevens = Vec::new();
    for t in 0..12 {
        let made = engine
            .write(&ctx, |tx| {
                (0..600)
                    .map(|i| {
                        let name = format!("w{} common", (t * 600 + i) % 50);
                        tx.create_thing(NewThing::new("product", name))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .unwrap();
        sevens.extend(made.iter().filter(|t| t.name == "w7 common").map(|t| t.id));
        let hits = all_hits(&engine, &ctx, TextQuery::new("w7 common").limit(50));
        assert_eq!(hits.len(), sevens.len());
    }
    crate::knowledge::eventually("the thread merged the text segments", || {
        engine.maintenance_status().text_merges >= 1
    });
    let mut hits: Vec<ThingId> = all_hits(&engine, &ctx, TextQuery::new("w7 common"))
        .into_iter()
        .map(|h| h.0)
        .collect();
    hits.sort();
    sevens.sort();
    assert_eq!(hits, sevens);
    upkeep.stop();
    assert!(engine.check().unwrap().is_ok());
}
