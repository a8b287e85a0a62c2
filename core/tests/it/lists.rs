//! Lists across types and subtrees: every order and every subtree answers what sorting
//! the live things by hand answers, page after page, and never shows a group the caller
//! may not read.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use one_core::*;
use proptest::prelude::*;
use serde_json::json;

use crate::Fixture;

#[derive(Debug, Clone)]
enum Step {
    /// A thing of type `a` (false) or `b` (true) in group n % 4, with a price.
    Create(bool, usize, Option<i64>),
    /// A new price, a clock tick later.
    Reprice(usize, Option<i64>),
    Delete(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let price = proptest::option::of(-3i64..6);
    prop_oneof![
        4 => (any::<bool>(), any::<usize>(), price.clone()).prop_map(|(b, g, p)| Step::Create(b, g, p)),
        2 => (any::<usize>(), price).prop_map(|(i, p)| Step::Reprice(i, p)),
        1 => any::<usize>().prop_map(Step::Delete),
    ]
}

fn order() -> impl Strategy<Value = Option<ThingOrder>> {
    prop_oneof![
        Just(None),
        Just(Some(ThingOrder::Created)),
        Just(Some(ThingOrder::Updated)),
        Just(Some(ThingOrder::Property("price".into()))),
    ]
}

/// Every thing of a list, page by page.
fn all_pages(e: &Engine, ctx: &Context, q: ThingQuery) -> Result<Vec<ThingId>> {
    let mut out = Vec::new();
    let mut q = q.limit(3);
    loop {
        let page = e.read(ctx, |v| v.things(&q))?;
        out.extend(page.items.iter().map(|t| t.id));
        match page.next {
            Some(c) => q = q.after(c),
            None => return Ok(out),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(one_core::testkit::cases(32)))]

    #[test]
    fn lists_equal_the_live_things_sorted_by_hand(
        steps in proptest::collection::vec(step(), 1..40),
        typed in any::<bool>(),
        below in any::<bool>(),
        order in order(),
        descending in any::<bool>(),
        from_child in any::<bool>(),
    ) {
        let f = Fixture::new();
        let root = f.tenant("acme");
        let sys = Context::system(root.id);
        f.engine.admin().create_index("a", "properties.price").unwrap();
        // root ─ left ─ deep; root ─ right
        let groups = f.engine.write(&sys, |tx| {
            let left = tx.create_group(root.id, NewGroup::new(GroupType::Business, "L", "left"))?;
            let deep = tx.create_group(left.id, NewGroup::new(GroupType::Business, "D", "deep"))?;
            let right = tx.create_group(root.id, NewGroup::new(GroupType::Business, "R", "right"))?;
            Ok([root.id, left.id, deep.id, right.id])
        }).unwrap();
        let mut live: BTreeMap<ThingId, Thing> = BTreeMap::new();
        let mut made = Vec::new();
        for s in steps {
            f.clock.advance(1);
            match s {
                Step::Create(b, g, p) => {
                    let mut new = NewThing::new(if b { "b" } else { "a" }, "x").in_group(groups[g % 4]);
                    if let Some(p) = p {
                        new = new.property("price", p);
                    }
                    let t = f.engine.write(&sys, |tx| tx.create_thing(new.clone())).unwrap();
                    made.push(t.id);
                    live.insert(t.id, t);
                }
                Step::Reprice(i, p) if !made.is_empty() => {
                    let id = made[i % made.len()];
                    if let Some(entry) = live.get_mut(&id) {
                        let patch = json!({"price": p});
                        *entry = f.engine.write(&sys, |tx| {
                            tx.update_thing(id, ThingUpdate::default().properties(crate::json(patch.clone())))
                        }).unwrap();
                    }
                }
                Step::Delete(i) if !made.is_empty() => {
                    let id = made[i % made.len()];
                    if live.remove(&id).is_some() {
                        f.engine.write(&sys, |tx| tx.delete_thing(id)).unwrap();
                    }
                }
                _ => {}
            }
        }
        let top = if from_child { groups[1] } else { root.id };
        let in_scope = |g: GroupId| {
            if !below {
                g == top
            } else if from_child {
                g == groups[1] || g == groups[2]
            } else {
                true
            }
        };
        let mut query = if typed { ThingQuery::of_type("a") } else { ThingQuery::all() }.group(top);
        if below {
            query = query.include_children();
        }
        if let Some(o) = order.clone() {
            query = query.order(o);
        }
        if descending {
            query = query.descending();
        }
        let got = all_pages(&f.engine, &sys, query);
        if matches!(order, Some(ThingOrder::Property(_))) && !typed {
            let refused = matches!(got, Err(Error::InvalidField { .. }));
            prop_assert!(refused);
            return Ok(());
        }
        let mut want: Vec<&Thing> = live
            .values()
            .filter(|t| in_scope(t.group) && (!typed || t.kind == "a"))
            .collect();
        let by_price = matches!(order, Some(ThingOrder::Property(_)));
        if by_price {
            want.retain(|t| t.properties.get_path("price").is_some_and(|p| p.as_f64().is_some()));
        }
        want.sort_by(|x, y| {
            let key = match order {
                Some(ThingOrder::Updated) => x.updated_at.cmp(&y.updated_at),
                Some(ThingOrder::Property(_)) => {
                    let p = |t: &Thing| t.properties.get_path("price").and_then(Value::as_f64).unwrap_or(0.0);
                    p(x).partial_cmp(&p(y)).unwrap_or(Ordering::Equal)
                }
                _ => Ordering::Equal,
            };
            key.then(x.id.cmp(&y.id))
        });
        if descending {
            want.reverse();
        }
        prop_assert_eq!(got.unwrap(), want.iter().map(|t| t.id).collect::<Vec<_>>());
        prop_assert!(f.engine.check().unwrap().is_ok());
    }
}

#[test]
fn a_subtree_list_skips_the_groups_closed_to_the_caller() {
    let f = Fixture::new();
    let acme = f.tenant("acme");
    let sys = Context::system(acme.id);
    let ids = f
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
            let here = tx.create_thing(NewThing::new("note", "here"))?;
            tx.create_thing(NewThing::new("note", "closed").in_group(closed.id))?;
            let there = tx.create_thing(NewThing::new("task", "open").in_group(open.id))?;
            let ann = tx.create_person(NewPerson::new("ann@example.com", "Ann"))?;
            tx.add_member(ann.id, acme.id, "group_user", &[])?;
            Ok((here.id, there.id, ann.id))
        })
        .unwrap();
    let (here, there, ann) = ids;
    let ctx = Context::person(ann, acme.id);
    let all = f
        .engine
        .read(&ctx, |v| v.things(&ThingQuery::all().include_children()))
        .unwrap();
    let listed: Vec<ThingId> = all.items.iter().map(|t| t.id).collect();
    // Oldest first across the groups; Ann herself is a thing of the root group: people
    // are listed with every type.
    assert_eq!(listed, [here, there, ann]);
    let newest_first = f
        .engine
        .read(&ctx, |v| {
            v.things(&ThingQuery::all().include_children().descending().limit(1))
        })
        .unwrap();
    assert_eq!(newest_first.items[0].id, ann);
    let next = newest_first.next.expect("more");
    let second = f
        .engine
        .read(&ctx, |v| {
            v.things(
                &ThingQuery::all()
                    .include_children()
                    .descending()
                    .limit(1)
                    .after(next),
            )
        })
        .unwrap();
    assert_eq!(second.items[0].id, there);
    // Ordering by a property needs an index.
    let err = f
        .engine
        .read(&ctx, |v| {
            v.things(&ThingQuery::of_type("note").order(ThingOrder::Property("rank".into())))
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidField { ref field, .. } if field == "order"),
        "{err}"
    );
    for bad in ["", "a..b", "$gt", &"x".repeat(100_000)] {
        let err = f
            .engine
            .read(&ctx, |v| {
                v.things(&ThingQuery::of_type("note").order(ThingOrder::Property(bad.to_string())))
            })
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidField { field, .. } if field == "order")
                || matches!(err, Error::TooLarge { field: "order", .. }),
            "{err}"
        );
        assert!(
            err.to_string().len() < 300,
            "the error echoes the input: {err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(one_core::testkit::cases(32)))]

    #[test]
    fn group_connections_equal_the_live_connections_filtered_by_hand(
        made in proptest::collection::vec((any::<bool>(), any::<bool>(), 0i64..100, any::<bool>()), 1..30),
        typed in any::<bool>(),
        below in any::<bool>(),
        since in proptest::option::of(0u64..30),
        until in proptest::option::of(0u64..30),
        min_share in proptest::option::of(0i64..100),
        descending in any::<bool>(),
    ) {
        let f = Fixture::new();
        let root = f.tenant("acme");
        let sys = Context::system(root.id);
        let start = f.clock.now().as_millis();
        let child = f.team(root.id).id;
        let (a, b) = f.engine.write(&sys, |tx| {
            Ok((tx.create_thing(NewThing::new("x", "a"))?, tx.create_thing(NewThing::new("x", "b"))?))
        }).unwrap();
        let mut live: Vec<Connection> = Vec::new();
        for (owns, in_child, share, remove) in made {
            f.clock.advance(1);
            let group = if in_child { child } else { root.id };
            let c = f.engine.write(&sys, |tx| {
                tx.connect(
                    NewConnection::new(a.id, if owns { "owns" } else { "likes" }, b.id)
                        .metadata(crate::json(json!({"share": share})))
                        .in_group(group),
                )
            }).unwrap();
            if remove {
                f.engine.write(&sys, |tx| tx.disconnect(c.id)).unwrap();
            } else {
                live.push(c);
            }
        }
        let at = |ms: u64| Timestamp::from_millis(start + ms);
        let mut q = GroupConnectionQuery::new().made(since.map(at), until.map(at)).limit(4);
        if typed {
            q = q.kind("owns");
        }
        if below {
            q = q.include_children();
        }
        if let Some(m) = min_share {
            q = q.filter(Filter::from_json(&json!({"metadata.share": {"$gte": m}})).unwrap());
        }
        if descending {
            q = q.descending();
        }
        let mut got = Vec::new();
        let result = loop {
            match f.engine.read(&sys, |v| v.group_connections(&q)) {
                Ok(page) => {
                    got.extend(page.items.iter().map(|c| c.id));
                    match page.next {
                        Some(c) => q = q.after(c),
                        None => break Ok(()),
                    }
                }
                Err(e) => break Err(e),
            }
        };
        if let (Some(s), Some(u)) = (since, until) && u < s {
            prop_assert!(result.is_err());
            return Ok(());
        }
        prop_assert!(result.is_ok());
        let mut want: Vec<&Connection> = live
            .iter()
            .filter(|c| below || c.group == root.id)
            .filter(|c| !typed || c.kind == "owns")
            .filter(|c| since.is_none_or(|s| c.created_at >= at(s)))
            .filter(|c| until.is_none_or(|u| c.created_at < at(u)))
            .filter(|c| min_share.is_none_or(|m| c.metadata.get_path("share").and_then(Value::as_f64).unwrap_or(-1.0) >= m as f64))
            .collect();
        want.sort_by(|x, y| x.kind.cmp(&y.kind).then(x.created_at.cmp(&y.created_at)).then(x.id.cmp(&y.id)));
        if descending {
            want.reverse();
        }
        prop_assert_eq!(got, want.iter().map(|c| c.id).collect::<Vec<_>>());
    }
}

#[test]
fn connection_metadata_changes_by_merge_patch_and_is_logged() {
    let f = Fixture::new();
    let root = f.populated("acme");
    let sys = Context::system(root.id);
    let (ada, c) = f
        .engine
        .read(&sys, |v| {
            let ada = v.person_by_email("ada@example.com")?;
            let c = v.connections(&ConnectionQuery::outgoing(ada.id).kind("purchased"))?;
            Ok((ada, c.items[0].clone()))
        })
        .unwrap();
    let changed = f
        .engine
        .write(&sys, |tx| {
            tx.update_connection(c.id, crate::json(json!({"qty": 3, "note": "gift"})))
        })
        .unwrap();
    assert_eq!(
        changed.metadata,
        crate::json(json!({"qty": 3, "note": "gift"}))
    );
    let removed = f
        .engine
        .write(&sys, |tx| {
            tx.update_connection(c.id, crate::json(json!({"note": null})))
        })
        .unwrap();
    assert_eq!(removed.metadata, crate::json(json!({"qty": 3})));
    // Every copy agrees: by id, from either end, and in the group's list.
    let (by_id, from_end, listed) = f
        .engine
        .read(&sys, |v| {
            Ok((
                v.get_connection(c.id)?,
                v.connections(&ConnectionQuery::outgoing(ada.id).kind("purchased"))?
                    .items[0]
                    .clone(),
                v.group_connections(&GroupConnectionQuery::new().kind("purchased"))?
                    .items[0]
                    .clone(),
            ))
        })
        .unwrap();
    assert_eq!(by_id, removed);
    assert_eq!(from_end, removed);
    assert_eq!(listed, removed);
    let events = f
        .engine
        .read(&sys, |v| {
            v.events(&EventQuery::latest().kind(kinds::CONNECTION_UPDATED))
        })
        .unwrap();
    assert_eq!(events.items.len(), 2);
    // Refused changes change nothing.
    let before = f.dump();
    let membership = f
        .engine
        .read(&sys, |v| v.memberships(ada.id))
        .unwrap()
        .remove(0);
    let e = f
        .engine
        .write(&sys, |tx| {
            tx.update_connection(membership.id, crate::json(json!({"role": "owner"})))
        })
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidField { ref field, .. } if field == "id"),
        "{e}"
    );
    let e = f
        .engine
        .write(&sys, |tx| {
            tx.update_connection(c.id, Value::from("not a map"))
        })
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidField { ref field, .. } if field == "metadata"),
        "{e}"
    );
    let e = f
        .engine
        .read(&sys, |v| {
            v.group_connections(
                &GroupConnectionQuery::new()
                    .filter(Filter::from_json(&json!({"properties.qty": 3})).unwrap()),
            )
        })
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFilter { .. }), "{e}");
    assert_eq!(f.dump(), before);
    assert!(f.engine.check().unwrap().is_ok());
}

#[test]
fn group_connections_show_nothing_of_another_tenant_or_a_closed_group() {
    let f = Fixture::new();
    let acme = f.tenant("acme");
    let other = f.tenant("other");
    let sys = Context::system(acme.id);
    f.engine
        .write(&Context::system(other.id), |tx| {
            let a = tx.create_thing(NewThing::new("x", "a"))?;
            tx.connect(NewConnection::new(other.id, "owns", a.id))
        })
        .unwrap();
    let (mine, ann) = f
        .engine
        .write(&sys, |tx| {
            let closed = tx.create_group(
                acme.id,
                NewGroup::new(GroupType::Business, "Closed", "closed")
                    .properties(crate::json(json!({"settings": {"parentAccess": "none"}}))),
            )?;
            let a = tx.create_thing(NewThing::new("x", "a"))?;
            let hidden = tx.create_thing(NewThing::new("x", "h").in_group(closed.id))?;
            let mine = tx.connect(NewConnection::new(acme.id, "owns", a.id))?;
            tx.connect(NewConnection::new(closed.id, "owns", hidden.id).in_group(closed.id))?;
            let ann = tx.create_person(NewPerson::new("ann@example.com", "Ann"))?;
            tx.add_member(ann.id, acme.id, "group_user", &[])?;
            Ok((mine, ann))
        })
        .unwrap();
    let ctx = Context::person(ann.id, acme.id);
    let owns = f
        .engine
        .read(&ctx, |v| {
            v.group_connections(&GroupConnectionQuery::new().kind("owns").include_children())
        })
        .unwrap();
    assert_eq!(
        owns.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [mine.id]
    );
    let err = f
        .engine
        .read(&ctx, |v| {
            v.group_connections(&GroupConnectionQuery::new().group(other.id))
        })
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}
