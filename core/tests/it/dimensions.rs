//! The behaviour of each dimension: groups, people, things, connections, events.

use one_core::*;
use serde_json::json;

use crate::{Fixture, each_case, json};

#[test]
fn groups_nest_move_and_archive() {
    let f = Fixture::new();
    let root = f.tenant("acme");
    let ctx = Context::system(root.id);
    let (a, b, a1) = f
        .engine
        .write(&ctx, |tx| {
            let a = tx.create_group(root.id, NewGroup::new(GroupType::Business, "A", "a"))?;
            let b = tx.create_group(root.id, NewGroup::new(GroupType::Community, "B", "b"))?;
            let a1 = tx.create_group(a.id, NewGroup::new(GroupType::FriendCircle, "A1", "a1"))?;
            Ok((a, b, a1))
        })
        .unwrap();
    let read = |c: &Context| {
        f.engine.read(c, |v| {
            Ok((v.subtree(root.id)?, v.children(root.id, None, None)?))
        })
    };
    let (tree, children) = read(&ctx).unwrap();
    assert_eq!(
        tree.iter().map(|g| g.slug.as_str()).collect::<Vec<_>>(),
        ["acme", "a", "b", "a1"]
    );
    assert_eq!(children.items, vec![a.clone(), b.clone()]);

    // Same slug under different parents is fine; under the same parent it is not.
    f.engine
        .write(&ctx, |tx| {
            tx.create_group(b.id, NewGroup::new(GroupType::Dao, "A1 too", "a1"))
        })
        .unwrap();
    let moved = f.engine.write(&ctx, |tx| {
        tx.update_group(a1.id, GroupUpdate::default().parent(b.id))
    });
    assert!(matches!(moved, Err(Error::DuplicateSlug { ref slug, .. }) if slug == "a1"));
    let moved = f
        .engine
        .write(&ctx, |tx| {
            tx.update_group(a1.id, GroupUpdate::default().parent(b.id).slug("a1-moved"))
        })
        .unwrap();
    assert_eq!(moved.parent, Some(b.id));
    let a_children = f
        .engine
        .read(&ctx, |v| v.children(a.id, None, None))
        .unwrap();
    assert!(a_children.items.is_empty());

    // A child context sees its subtree only.
    let b_ctx = Context::system(b.id);
    assert!(matches!(
        f.engine.read(&b_ctx, |v| v.get_group(a.id)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        f.engine.read(&b_ctx, |v| v.get_group(root.id)),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        f.engine.read(&b_ctx, |v| v.get_group(a1.id)).unwrap().slug,
        "a1-moved"
    );

    // Archive: readable, refuses new records.
    let archived = f.engine.write(&ctx, |tx| tx.archive_group(b.id)).unwrap();
    assert_eq!(archived.status, GroupStatus::Archived);
    let refused = f
        .engine
        .write(&b_ctx, |tx| tx.create_thing(NewThing::new("note", "x")));
    assert!(matches!(refused, Err(Error::GroupArchived { .. })));
    let events = f
        .engine
        .read(&ctx, |v| {
            v.events(&EventQuery::latest().kind(kinds::GROUP_ARCHIVED))
        })
        .unwrap();
    assert_eq!(events.items.len(), 1);
    assert_eq!(events.items[0].target, Some(Ref::from(b.id)));

    // Properties: well-known keys are type-checked, merges are JSON merge patches.
    let g = f
        .engine
        .write(&ctx, |tx| {
            tx.update_group(
                root.id,
                GroupUpdate::default()
                    .properties(json(json!({"plan": "pro", "settings": {"x": 1}}))),
            )
        })
        .unwrap();
    assert_eq!(
        g.properties.to_json(),
        json!({"plan": "pro", "settings": {"x": 1}})
    );
    let bad = f.engine.write(&ctx, |tx| {
        tx.update_group(
            root.id,
            GroupUpdate::default().properties(json(json!({"limits": 3}))),
        )
    });
    assert!(
        matches!(bad, Err(Error::InvalidField { ref field, .. }) if field == "properties.limits")
    );
}

#[test]
fn things_update_delete_and_list_with_filters_and_pages() {
    let f = Fixture::new();
    let g = f.tenant("shop");
    let ctx = Context::system(g.id);
    let things = f
        .engine
        .write(&ctx, |tx| {
            (0..25)
                .map(|i| {
                    let mut t = NewThing::new("product", format!("p{i}")).property("price", i * 10);
                    if i % 2 == 0 {
                        t = t.property(
                            "tags",
                            Value::map().with("color", if i % 4 == 0 { "red" } else { "blue" }),
                        );
                    }
                    tx.create_thing(t)
                })
                .collect::<Result<Vec<_>>>()
        })
        .unwrap();
    f.engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("course", "c")))
        .unwrap();

    let list = |q: ThingQuery| f.engine.read(&ctx, |v| v.things(&q)).unwrap();
    let all = list(ThingQuery::of_type("product").limit(1000));
    assert_eq!(all.items, things);
    assert!(all.next.is_none());

    // Pages of 7 concatenate to the whole list.
    let mut paged = Vec::new();
    let mut q = ThingQuery::of_type("product").limit(7);
    loop {
        let page = list(q.clone());
        assert!(page.items.len() <= 7);
        paged.extend(page.items);
        match page.next {
            Some(c) => q = ThingQuery::of_type("product").limit(7).after(c),
            None => break,
        }
    }
    assert_eq!(paged, things);

    // Each operator against a direct evaluation.
    let cases = [
        (
            json!({"properties.price": {"$gte": 50, "$lt": 90}}),
            vec![5, 6, 7, 8],
        ),
        (
            json!({"properties.price": {"$gt": 200}}),
            vec![21, 22, 23, 24],
        ),
        (json!({"properties.price": {"$lte": 10.5}}), vec![0, 1]),
        (json!({"properties.price": 30}), vec![3]),
        (
            json!({"properties.price": {"$in": [0, 40, 41]}}),
            vec![0, 4],
        ),
        (
            json!({"properties.tags.color": "red"}),
            vec![0, 4, 8, 12, 16, 20, 24],
        ),
        (
            json!({"properties.tags.color": {"$ne": "red"}, "properties.price": {"$lt": 60}}),
            vec![1, 2, 3, 5],
        ),
        (
            json!({"properties.tags": {"$exists": false}, "properties.price": {"$lt": 60}}),
            vec![1, 3, 5],
        ),
        (json!({"name": {"$in": ["p3", "p9"]}}), vec![3, 9]),
        (json!({"properties.price": {"$gt": "a"}}), vec![]),
    ];
    each_case(
        cases,
        |c| c.0.to_string(),
        |(filter, want)| {
            let got = list(
                ThingQuery::of_type("product")
                    .limit(100)
                    .filter(Filter::from_json(&filter).unwrap()),
            );
            let names: Vec<String> = got.items.iter().map(|t| t.name.clone()).collect();
            let want: Vec<String> = want.iter().map(|i| format!("p{i}")).collect();
            assert_eq!(names, want, "filter {filter}");
        },
    );
    // A filtered query pages too.
    let f2 = Filter::from_json(&json!({"properties.price": {"$gte": 100}})).unwrap();
    let first = list(ThingQuery::of_type("product").limit(10).filter(f2.clone()));
    let second = list(
        ThingQuery::of_type("product")
            .limit(10)
            .filter(f2)
            .after(first.next.clone().unwrap()),
    );
    assert_eq!(first.items.len() + second.items.len(), 15);
    assert!(second.next.is_none());

    // Partial update merges properties; delete is soft.
    f.clock.advance(1000);
    let id = things[3].id;
    let updated = f
        .engine
        .write(&ctx, |tx| {
            tx.update_thing(
                id,
                ThingUpdate::default()
                    .name("renamed")
                    .property("stock", 5)
                    .property("price", Value::Null),
            )
        })
        .unwrap();
    assert_eq!(updated.properties.to_json(), json!({"stock": 5}));
    assert_eq!(updated.name, "renamed");
    assert!(updated.updated_at > updated.created_at);
    let deleted = f.engine.write(&ctx, |tx| tx.delete_thing(id)).unwrap();
    assert_eq!(deleted.status, ThingStatus::Deleted);
    assert_eq!(
        f.engine.read(&ctx, |v| v.get_thing(id)).unwrap().status,
        ThingStatus::Deleted
    );
    assert_eq!(
        list(ThingQuery::of_type("product").limit(100)).items.len(),
        24
    );
    let again = f.engine.write(&ctx, |tx| {
        tx.update_thing(id, ThingUpdate::default().name("x"))
    });
    assert!(matches!(again, Err(Error::ThingDeleted { .. })));
    for (from, to) in [(things[0].id, id), (id, things[0].id)] {
        let linked = f
            .engine
            .write(&ctx, |tx| tx.connect(NewConnection::new(from, "likes", to)));
        assert!(
            matches!(linked, Err(Error::ThingDeleted { ref id }) if *id == deleted.id.to_string()),
            "{linked:?}"
        );
    }
    let audit = f
        .engine
        .read(&ctx, |v| v.events(&EventQuery::latest().target(id)))
        .unwrap();
    let kinds_seen: Vec<&str> = audit.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds_seen,
        ["thing_deleted", "thing_updated", "thing_created"]
    );
    let counts = f.engine.read(&ctx, |v| v.counts(g.id)).unwrap();
    assert_eq!(counts.things, 25);
}

#[test]
fn people_have_unique_normalised_emails_and_memberships() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let other = f.tenant("other");
    let ctx = Context::system(g.id);
    let alice = f
        .engine
        .write(&ctx, |tx| {
            tx.create_person(NewPerson::new("  Alice@Example.COM ", "Alice").role("org_owner"))
        })
        .unwrap();
    assert_eq!(alice.kind, PERSON);
    assert_eq!(
        alice.properties.get_path("email"),
        Some(&Value::from("alice@example.com"))
    );
    let dup = f.engine.write(&ctx, |tx| {
        tx.create_person(NewPerson::new("alice@example.com", "Again"))
    });
    assert!(
        matches!(dup, Err(Error::DuplicateEmail { ref email }) if email == "alice@example.com")
    );
    // Another tenant may use the same email.
    f.engine
        .write(&Context::system(other.id), |tx| {
            tx.create_person(NewPerson::new("alice@example.com", "Other Alice"))
        })
        .unwrap();

    let found = f
        .engine
        .read(&ctx, |v| v.person_by_email("ALICE@example.com"))
        .unwrap();
    assert_eq!(found.id, alice.id);

    // Changing the email moves the index entry.
    f.engine
        .write(&ctx, |tx| {
            tx.update_thing(
                alice.id,
                ThingUpdate::default().property("email", "A@New.io"),
            )
        })
        .unwrap();
    assert!(
        f.engine
            .read(&ctx, |v| v.person_by_email("alice@example.com"))
            .is_err()
    );
    assert_eq!(
        f.engine
            .read(&ctx, |v| v.person_by_email("a@new.io"))
            .unwrap()
            .id,
        alice.id
    );

    let team = f.team(g.id);
    let m = f
        .engine
        .write(&ctx, |tx| {
            tx.add_member(alice.id, team.id, "group_owner", &["*", "billing"])
        })
        .unwrap();
    assert_eq!(m.kind, MEMBER_OF);
    assert_eq!(
        m.metadata.to_json(),
        json!({"permissions": ["*", "billing"], "role": "group_owner", "status": "active"})
    );
    let again = f.engine.write(&ctx, |tx| {
        tx.add_member(alice.id, team.id, "group_user", &[])
    });
    assert!(matches!(again, Err(Error::AlreadyMember { .. })));
    let members = f
        .engine
        .read(&ctx, |v| v.members(team.id, None, None))
        .unwrap();
    assert_eq!(members.items, vec![m.clone()]);
    assert_eq!(
        f.engine.read(&ctx, |v| v.memberships(alice.id)).unwrap(),
        vec![m]
    );

    // Deleting a person frees the email.
    f.engine
        .write(&ctx, |tx| tx.delete_thing(alice.id))
        .unwrap();
    f.engine
        .write(&ctx, |tx| {
            tx.create_person(NewPerson::new("a@new.io", "New A"))
        })
        .unwrap();
    assert_eq!(f.engine.read(&ctx, |v| v.counts(g.id)).unwrap().people, 1);
}

#[test]
fn connections_are_indexed_both_ways() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let (p, items, cs) = f
        .engine
        .write(&ctx, |tx| {
            let p = tx.create_person(NewPerson::new("p@x.io", "P"))?;
            let items: Vec<Thing> = (0..4)
                .map(|i| tx.create_thing(NewThing::new("product", format!("i{i}"))))
                .collect::<Result<_>>()?;
            let mut cs = Vec::new();
            for (i, t) in items.iter().enumerate() {
                let kind = if i % 2 == 0 { "purchased" } else { "owns" };
                cs.push(tx.connect(
                    NewConnection::new(p.id, kind, t.id).metadata(Value::map().with("n", i as i64)),
                )?);
            }
            Ok((p, items, cs))
        })
        .unwrap();
    let q = |q: ConnectionQuery| f.engine.read(&ctx, |v| v.connections(&q)).unwrap().items;
    assert_eq!(
        q(ConnectionQuery::outgoing(p.id).kind("purchased")),
        vec![cs[0].clone(), cs[2].clone()]
    );
    assert_eq!(q(ConnectionQuery::outgoing(p.id)).len(), 4);
    assert_eq!(
        q(ConnectionQuery::incoming(items[1].id)),
        vec![cs[1].clone()]
    );
    assert!(q(ConnectionQuery::incoming(items[1].id).kind("purchased")).is_empty());
    let page = f
        .engine
        .read(&ctx, |v| {
            v.connections(&ConnectionQuery::outgoing(p.id).limit(3))
        })
        .unwrap();
    assert_eq!(page.items.len(), 3);
    let rest = f
        .engine
        .read(&ctx, |v| {
            v.connections(
                &ConnectionQuery::outgoing(p.id)
                    .limit(3)
                    .after(page.next.clone().unwrap()),
            )
        })
        .unwrap();
    assert_eq!(rest.items.len(), 1);

    let gone = f.engine.write(&ctx, |tx| tx.disconnect(cs[0].id)).unwrap();
    assert_eq!(gone, cs[0]);
    assert_eq!(
        q(ConnectionQuery::outgoing(p.id).kind("purchased")),
        vec![cs[2].clone()]
    );
    assert!(q(ConnectionQuery::incoming(items[0].id)).is_empty());
    assert!(matches!(
        f.engine.read(&ctx, |v| v.get_connection(cs[0].id)),
        Err(Error::NotFound { .. })
    ));
    let log = f
        .engine
        .read(&ctx, |v| {
            v.events(&EventQuery::latest().kind(kinds::CONNECTION_DELETED))
        })
        .unwrap();
    assert_eq!(
        log.items[0].metadata.get_path("metadata.n"),
        Some(&Value::Int(0))
    );
    assert_eq!(
        f.engine.read(&ctx, |v| v.counts(g.id)).unwrap().connections,
        3
    );
}

#[test]
fn events_are_queried_by_index_newest_first() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let bob = f
        .engine
        .write(&sys, |tx| {
            let bob = tx.create_person(NewPerson::new("bob@x.io", "Bob"))?;
            tx.add_member(bob.id, g.id, "group_user", &[])?;
            Ok(bob)
        })
        .unwrap();
    let as_bob = Context::person(bob.id, g.id);
    let t0 = f.clock.now();
    let mut made = Vec::new();
    for i in 0..10 {
        f.clock.advance(1000);
        let ctx = if i % 2 == 0 { as_bob } else { sys };
        made.push(
            f.engine
                .write(&ctx, |tx| {
                    tx.create_thing(NewThing::new("note", format!("n{i}")))
                })
                .unwrap(),
        );
    }
    let q = |q: EventQuery| f.engine.read(&sys, |v| v.events(&q)).unwrap().items;
    let latest = q(EventQuery::latest().limit(3));
    assert_eq!(
        latest.iter().map(|e| e.target).collect::<Vec<_>>(),
        [9, 8, 7].map(|i| Some(Ref::from(made[i].id)))
    );
    assert!(latest.windows(2).all(|w| w[0].id > w[1].id));
    let by_bob = q(EventQuery::latest().actor(Principal::Person(bob.id)));
    assert_eq!(by_bob.len(), 5);
    assert!(by_bob.iter().all(|e| e.actor == Principal::Person(bob.id)));
    let created = q(EventQuery::latest().kind(kinds::THING_CREATED).limit(100));
    assert_eq!(created.len(), 10);
    let window = q(EventQuery::latest()
        .since(Timestamp::from_millis(t0.as_millis() + 3000))
        .until(Timestamp::from_millis(t0.as_millis() + 6000)));
    assert_eq!(
        window.iter().map(|e| e.target).collect::<Vec<_>>(),
        [5, 4, 3].map(|i| Some(Ref::from(made[i - 1].id)))
    );
    let by_target = q(EventQuery::latest().target(made[0].id));
    assert_eq!(by_target.len(), 1);
    assert_eq!(
        by_target[0].time(),
        Timestamp::from_millis(t0.as_millis() + 1000)
    );
    let custom = f
        .engine
        .write(&as_bob, |tx| {
            tx.log_event(
                "invoice_sent",
                Some(Ref::from(made[0].id)),
                Value::map().with("amount", 5),
            )
        })
        .unwrap();
    assert_eq!(q(EventQuery::latest().limit(1)), vec![custom]);
}

#[test]
fn live_and_test_environments_are_apart() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let live = Context::system(g.id);
    let test = live.with_env(Env::Test);
    let t = f
        .engine
        .write(&test, |tx| {
            tx.create_thing(NewThing::new("product", "test mug"))
        })
        .unwrap();
    assert!(matches!(
        f.engine.read(&live, |v| v.get_thing(t.id)),
        Err(Error::NotFound { .. })
    ));
    assert!(
        f.engine
            .read(&live, |v| v.things(&ThingQuery::of_type("product")))
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(f.engine.read(&test, |v| v.get_thing(t.id)).unwrap(), t);
    let stats = f.engine.admin().stats().unwrap();
    assert_eq!(
        (
            stats.live.things,
            stats.test.things,
            stats.tenants,
            stats.groups
        ),
        (0, 1, 1, 1)
    );
}

#[test]
fn group_trees_stay_within_the_depth_limit_when_built_and_moved() {
    let f = Fixture::new();
    let root = f.tenant("deep");
    let ctx = Context::system(root.id);
    // chain[i] has i ancestors; the deepest allowed group has MAX_DEPTH - 1.
    let chain = f
        .engine
        .write(&ctx, |tx| {
            let mut chain = vec![root.id];
            for i in 1..MAX_DEPTH {
                let parent = chain[i - 1];
                chain.push(
                    tx.create_group(
                        parent,
                        NewGroup::new(GroupType::Community, "c", format!("c{i}")),
                    )?
                    .id,
                );
            }
            Ok(chain)
        })
        .unwrap();
    let deepest = *chain.last().unwrap();
    let too_deep = f.engine.write(&ctx, |tx| {
        tx.create_group(deepest, NewGroup::new(GroupType::Dao, "x", "x"))
    });
    assert!(
        matches!(too_deep, Err(Error::InvalidField { ref field, .. }) if field == "parent"),
        "{too_deep:?}"
    );
    // A group with one child moves under chain[MAX_DEPTH - 3] but not one level deeper.
    let (x, y) = f
        .engine
        .write(&ctx, |tx| {
            let x = tx.create_group(root.id, NewGroup::new(GroupType::Business, "x", "x"))?;
            let y = tx.create_group(x.id, NewGroup::new(GroupType::Business, "y", "y"))?;
            Ok((x.id, y.id))
        })
        .unwrap();
    let refused = f.engine.write(&ctx, |tx| {
        tx.update_group(x, GroupUpdate::default().parent(chain[MAX_DEPTH - 2]))
    });
    assert!(
        matches!(refused, Err(Error::InvalidField { ref field, .. }) if field == "parent"),
        "{refused:?}"
    );
    f.engine
        .write(&ctx, |tx| {
            tx.update_group(x, GroupUpdate::default().parent(chain[MAX_DEPTH - 3]))
        })
        .unwrap();
    // The deepest descendant is still reachable from the tenant's context.
    assert_eq!(
        f.engine.read(&ctx, |v| v.get_group(y)).unwrap().parent,
        Some(x)
    );
}
