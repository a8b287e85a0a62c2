//! Listing across a subtree: one `things` call over a group and its 1,000 children
//! (`include_children`, the groups' lists merged in order) against what an application
//! would do without it, a `things` call per group and a merge of its own.
//!
//! ```sh
//! cargo run --release -p one-benches --example subtree_list -- 1000 20
//! #                                                       child groups, things in each
//! ```
//!
//! A database file, default durability; the things are made in transactions of one group
//! each, so creation order interleaves nothing; both ways read the same snapshot state.

#![allow(
    clippy::disallowed_methods,
    reason = "benchmarks measure wall-clock time"
)]

use one::*;
use one_benches::timing::{report, timed_each};

fn main() {
    let [groups, per] = one_benches::numeric_args([1000, 20]);
    let dir = tempfile::tempdir().unwrap();
    let db = Ontology::builder()
        .knowledge_upkeep(None)
        .open(dir.path().join("one.redb"))
        .unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Organization, "Org", "org"))
        .unwrap();
    let ctx = Context::system(root.id);
    let children: Vec<GroupId> = db
        .write(&ctx, |tx| {
            (0..groups)
                .map(|i| {
                    tx.create_group(
                        root.id,
                        NewGroup::new(GroupType::Business, format!("G{i}"), format!("g{i}")),
                    )
                    .map(|g| g.id)
                })
                .collect::<Result<Vec<_>>>()
        })
        .unwrap();
    for round in 0..per {
        db.write(&ctx, |tx| {
            for (i, g) in children.iter().enumerate() {
                tx.create_thing(NewThing::new("ticket", format!("t{round}.{i}")).in_group(*g))?;
            }
            Ok(())
        })
        .unwrap();
    }
    println!("{groups} child groups, {per} things each");
    let first_page_merged = timed_each(200, |_| {
        let page = db
            .read(&ctx, |v| {
                v.things(&ThingQuery::all().include_children().limit(50))
            })
            .unwrap();
        assert_eq!(page.items.len(), 50);
    });
    report("first 50, one subtree call", first_page_merged);
    let first_page_loop = timed_each(20, |_| {
        let mut all = Vec::new();
        for g in &children {
            let page = db
                .read(&ctx, |v| v.things(&ThingQuery::all().group(*g).limit(50)))
                .unwrap();
            all.extend(page.items);
        }
        all.sort_by_key(|t| t.id);
        all.truncate(50);
        assert_eq!(all.len(), 50);
    });
    report("first 50, a call per group and a merge", first_page_loop);
    let everything_merged = timed_each(5, |_| {
        let mut q = ThingQuery::all().include_children().limit(1000);
        let mut n = 0;
        loop {
            let page = db.read(&ctx, |v| v.things(&q)).unwrap();
            n += page.items.len();
            match page.next {
                Some(c) => q = q.after(c),
                None => break,
            }
        }
        assert_eq!(n, groups * per);
    });
    report("all, one subtree call a page of 1,000", everything_merged);
    let everything_loop = timed_each(5, |_| {
        let mut n = 0;
        for g in &children {
            let page = db
                .read(&ctx, |v| v.things(&ThingQuery::all().group(*g).limit(1000)))
                .unwrap();
            n += page.items.len();
        }
        assert_eq!(n, groups * per);
    });
    report("all, a call per group", everything_loop);
}
