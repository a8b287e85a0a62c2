//! Files written by earlier versions keep opening and reading the same.
//!
//! `core/tests/data/format1.redb` was written by `one demo` at on-disk format 1. A change
//! that makes this test fail changes the format: add a new record version and a migration
//! (see `core/FORMAT.md`), and keep this file.

use one_core::*;
use one_storage::{Store, StoreOptions};
use serde_json::json;

use crate::Fixture;

#[test]
fn a_format_1_file_still_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("format1.redb");
    let original = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/format1.redb");
    std::fs::copy(original, &path).unwrap();
    let f = Fixture::on(Store::open(&path, &StoreOptions::default()).unwrap());

    let stats = f.engine.admin().stats().unwrap();
    assert_eq!((stats.tenants, stats.groups), (2, 4));
    assert_eq!(
        (
            stats.live.people,
            stats.live.things,
            stats.live.connections,
            stats.live.events
        ),
        (5, 6, 10, 32)
    );
    let roots = f.engine.admin().root_groups().unwrap();
    assert_eq!(
        roots.iter().map(|g| g.slug.as_str()).collect::<Vec<_>>(),
        ["acme", "bookworms"]
    );
    let acme = &roots[0];
    assert_eq!(
        acme.properties.to_json(),
        json!({"domain": "acme.example", "plan": "pro", "revenue_share": 0.15})
    );
    assert_eq!(acme.kind, GroupType::Organization);

    let ctx = Context::system(acme.id);
    f.engine
        .read(&ctx, |v| {
            let alice = v.person_by_email("ALICE@acme.example")?;
            assert_eq!(alice.name, "Alice");
            let filter =
                Filter::from_json(&json!({"properties.price": {"$gte": 1000, "$lt": 1500}}))?;
            let mid = v.things(&ThingQuery::of_type("product").filter(filter))?;
            let names: Vec<&str> = mid.items.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, ["Colombia Huila", "House Espresso"]);
            let members = v.members(acme.id, None, None)?;
            assert_eq!(members.items.len(), 3);
            assert_eq!(
                members.items[0].metadata.to_json(),
                json!({"permissions": ["*"], "role": "group_owner"})
            );
            let bob = v.person_by_email("bob@acme.example")?;
            let bought = v.connections(&ConnectionQuery::outgoing(bob.id).kind("purchased"))?;
            assert_eq!(
                bought.items[0].metadata.to_json(),
                json!({"currency": "USD", "quantity": 2, "total": 3300})
            );
            let events = v.events(&EventQuery::latest().limit(100))?;
            assert_eq!(events.items.len(), 17);
            assert_eq!(
                events.items.last().map(|e| e.kind.as_str()),
                Some("group_created")
            );
            assert_eq!(v.subtree(acme.id)?.len(), 2);
            Ok(())
        })
        .unwrap();

    // Usage did not exist at format 1: it was counted from the records when the file
    // was opened, and an old `revenue_share` float reads as exact basis points.
    let usage = f.engine.read(&ctx, |v| v.usage(acme.id)).unwrap();
    let of = |r: Resource| usage.iter().find(|u| u.resource == r).unwrap();
    assert_eq!(
        (of(Resource::Things).used, of(Resource::Things).limit),
        (4, Some(10_000))
    );
    assert_eq!(of(Resource::Users).used, 3);
    assert!(of(Resource::StorageBytes).used > 0);
    let share = f.engine.read(&ctx, |v| v.revenue_share(acme.id)).unwrap();
    assert_eq!(share.get(), 1500);

    // And it takes new writes whose ids sort after the old ones.
    let old_max = f
        .engine
        .read(&ctx, |v| v.events(&EventQuery::latest().limit(1)))
        .unwrap()
        .items[0]
        .id;
    let e = f
        .engine
        .write(&ctx, |tx| tx.log_event("reopened", None, Value::map()))
        .unwrap();
    assert!(e.id > old_max);
}
