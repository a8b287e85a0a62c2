//! Plans, quotas, usage, rate limits and revenue, through the public API.

use std::sync::Arc;

use one_core::*;
use proptest::prelude::*;

use crate::{Fixture, json};

fn set(f: &Fixture, group: GroupId, props: serde_json::Value) {
    let root = f
        .engine
        .read(&Context::system(group), |v| Ok(v.tenant()))
        .unwrap();
    f.engine
        .write(&Context::system(root), |tx| {
            tx.update_group(
                group,
                GroupUpdate::default().properties(json(props.clone())),
            )
        })
        .unwrap();
}

/// What the usage report says of `resource` for `group`.
fn usage_of(f: &Fixture, group: GroupId, resource: Resource) -> ResourceUsage {
    f.engine
        .read(&Context::system(group), |v| v.usage(group))
        .unwrap()
        .into_iter()
        .find(|u| u.resource == resource)
        .unwrap()
}

fn used(f: &Fixture, group: GroupId, resource: Resource) -> u64 {
    usage_of(f, group, resource).used
}

fn events_of(f: &Fixture, group: GroupId, kind: &str) -> Vec<Event> {
    f.engine
        .read(&Context::system(group), |v| {
            v.events(&EventQuery::latest().group(group).kind(kind).limit(100))
        })
        .unwrap()
        .items
}

#[test]
fn a_limit_refuses_the_change_that_would_pass_it_and_logs_once() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    set(
        &f,
        g.id,
        serde_json::json!({"plan": "starter", "limits": {"things": 3}}),
    );
    for i in 0..3 {
        f.engine
            .write(&sys, |tx| {
                tx.create_thing(NewThing::new("doc", format!("d{i}")))
            })
            .unwrap();
    }
    let before = f.dump();
    for _ in 0..3 {
        let err = f
            .engine
            .write(&sys, |tx| {
                tx.create_thing(NewThing::new("doc", "one too many"))
            })
            .unwrap_err();
        match err {
            Error::QuotaExceeded {
                resource,
                limit,
                used,
                resets_at,
            } => {
                assert_eq!(
                    (resource, limit, used, resets_at),
                    (Resource::Things, 3, 3, None)
                );
            }
            other => panic!("expected QuotaExceeded, got {other:?}"),
        }
    }
    assert_eq!(used(&f, g.id, Resource::Things), 3);
    // The refusals changed nothing but the one notice (and its marker).
    let added: Vec<_> = f
        .dump()
        .into_iter()
        .filter(|kv| !before.contains(kv))
        .collect();
    assert!(added.len() < 10, "{} entries added", added.len());
    let notices = events_of(&f, g.id, kinds::QUOTA_EXCEEDED);
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].metadata.get_path("resource"),
        Some(&Value::from("things"))
    );
    // Deleting makes room again; raising the limit too.
    let doc = f
        .engine
        .read(&sys, |v| v.things(&ThingQuery::of_type("doc")))
        .unwrap()
        .items[0]
        .id;
    f.engine.write(&sys, |tx| tx.delete_thing(doc)).unwrap();
    f.engine
        .write(&sys, |tx| tx.create_thing(NewThing::new("doc", "fits")))
        .unwrap();
    set(&f, g.id, serde_json::json!({"limits": {"things": -1}}));
    f.engine
        .write(&sys, |tx| {
            tx.create_thing(NewThing::new("doc", "unlimited"))
        })
        .unwrap();
}

#[test]
fn usage_counts_against_the_tenant_and_a_limited_child() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let team = f.team(g.id);
    let other = f
        .engine
        .write(&sys, |tx| {
            tx.create_group(g.id, NewGroup::new(GroupType::Business, "Other", "other"))
        })
        .unwrap();
    set(&f, g.id, serde_json::json!({"limits": {"things": 5}}));
    set(&f, team.id, serde_json::json!({"limits": {"things": 2}}));
    let make = |group: GroupId| {
        f.engine.write(&sys, |tx| {
            tx.create_thing(NewThing::new("doc", "d").in_group(group))
        })
    };
    make(team.id).unwrap();
    make(team.id).unwrap();
    assert!(matches!(
        make(team.id),
        Err(Error::QuotaExceeded { limit: 2, .. })
    ));
    make(other.id).unwrap();
    make(g.id).unwrap();
    make(other.id).unwrap();
    // The tenant's limit of 5 now binds in the unlimited child too.
    assert!(matches!(
        make(other.id),
        Err(Error::QuotaExceeded { limit: 5, .. })
    ));
    assert_eq!(used(&f, g.id, Resource::Things), 5);
    assert_eq!(used(&f, team.id, Resource::Things), 2);
    assert_eq!(used(&f, other.id, Resource::Things), 2);
    let report = f.engine.read(&sys, |v| v.usage(team.id)).unwrap();
    let things = report
        .iter()
        .find(|u| u.resource == Resource::Things)
        .unwrap();
    assert_eq!(things.limit, Some(2));
    assert!(used(&f, g.id, Resource::StorageBytes) > 0);
}

/// Each of `patches` to `group`'s properties, as `ctx`, is refused for want of
/// `billing:manage`.
fn refuses_without_billing<const N: usize>(
    f: &Fixture,
    ctx: &Context,
    group: GroupId,
    patches: [serde_json::Value; N],
) {
    for patch in patches {
        let refused = f.engine.write(ctx, |tx| {
            tx.update_group(
                group,
                GroupUpdate::default().properties(json(patch.clone())),
            )
        });
        assert!(
            matches!(
                refused,
                Err(Error::Forbidden {
                    needed: Permission::BillingManage,
                    ..
                })
            ),
            "{patch}: {refused:?}"
        );
    }
}

#[test]
fn plan_changes_need_billing_and_are_logged() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let admin = f
        .engine
        .write(&sys, |tx| {
            let p = tx.create_person(NewPerson::new("admin@acme.io", "Admin"))?;
            tx.add_member(p.id, g.id, "org_admin", &[])?;
            Ok(p.id)
        })
        .unwrap();
    let as_admin = Context::person(admin, g.id);
    let refused = f.engine.write(&as_admin, |tx| {
        tx.update_group(
            g.id,
            GroupUpdate::default().properties(json(serde_json::json!({"plan": "enterprise"}))),
        )
    });
    assert!(matches!(
        refused,
        Err(Error::Forbidden {
            needed: Permission::BillingManage,
            ..
        })
    ));
    // Nor redirect payments: the billing block is billing's too, on a new group as well.
    refuses_without_billing(
        &f,
        &as_admin,
        g.id,
        [
            serde_json::json!({"billing": {"treasury": "0xattacker"}}),
            serde_json::json!({"billing": null}),
        ],
    );
    let refused = f.engine.write(&as_admin, |tx| {
        tx.create_group(
            g.id,
            NewGroup::new(GroupType::Business, "Shop", "shop").properties(json(
                serde_json::json!({"billing": {"treasury": "0xattacker"}}),
            )),
        )
    });
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    // The admin may still rename the group.
    f.engine
        .write(&as_admin, |tx| {
            tx.update_group(g.id, GroupUpdate::default().name("Acme Inc"))
        })
        .unwrap();
    set(&f, g.id, serde_json::json!({"plan": "pro"}));
    set(&f, g.id, serde_json::json!({"plan": "starter"}));
    set(
        &f,
        g.id,
        serde_json::json!({"billing": {"treasury": "0xours"}}),
    );
    let subs = events_of(&f, g.id, kinds::SUBSCRIPTION_EVENT);
    assert_eq!(subs.len(), 3, "a billing block change is logged too");
    let subs = &subs[1..];
    assert_eq!(subs[0].metadata.get_path("from"), Some(&Value::from("pro")));
    assert_eq!(
        subs[0].metadata.get_path("to"),
        Some(&Value::from("starter"))
    );
    for bad in [
        serde_json::json!({"plan": "gold"}),
        serde_json::json!({"limits": {"things": -5}}),
        serde_json::json!({"limits": {"bananas": 5}}),
        serde_json::json!({"revenue_share_bps": 10_001}),
    ] {
        let before = f.dump();
        let err = f
            .engine
            .write(&sys, |tx| {
                tx.update_group(g.id, GroupUpdate::default().properties(json(bad.clone())))
            })
            .unwrap_err();
        assert!(matches!(err, Error::InvalidField { .. }), "{bad}: {err:?}");
        assert_eq!(f.dump(), before);
    }
}

#[test]
fn racing_writers_cannot_both_take_the_last_unit() {
    for _ in 0..20 {
        let f = Arc::new(Fixture::new());
        let g = f.tenant("acme");
        set(&f, g.id, serde_json::json!({"limits": {"things": 1}}));
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let f = f.clone();
                std::thread::spawn(move || {
                    f.engine.write(&Context::system(g.id), |tx| {
                        tx.create_thing(NewThing::new("doc", format!("t{i}")))
                    })
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(Error::QuotaExceeded { .. })))
        );
        assert_eq!(used(&f, g.id, Resource::Things), 1);
    }
}

#[test]
fn api_calls_count_against_the_plan_and_keys_have_rate_limits() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    set(&f, g.id, serde_json::json!({"limits": {"api_calls": 5}}));
    let plain = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new("plain", &["read"]))
        })
        .unwrap();
    for _ in 0..5 {
        f.engine.check_api_key(plain.secret.expose(), None).unwrap();
    }
    for _ in 0..2 {
        let over = f.engine.check_api_key(plain.secret.expose(), None);
        assert!(
            matches!(
                over,
                Err(Error::QuotaExceeded {
                    resource: Resource::ApiCalls,
                    limit: 5,
                    used: 5,
                    ..
                })
            ),
            "{over:?}"
        );
    }
    assert_eq!(used(&f, g.id, Resource::ApiCalls), 5);
    assert_eq!(events_of(&f, g.id, kinds::QUOTA_EXCEEDED).len(), 1);
    f.engine.flush_meters().unwrap();
    assert_eq!(used(&f, g.id, Resource::ApiCalls), 5);
    // A new month starts from zero.
    f.clock.advance(32 * 24 * 3600 * 1000);
    f.engine.check_api_key(plain.secret.expose(), None).unwrap();
    assert_eq!(used(&f, g.id, Resource::ApiCalls), 1);

    set(&f, g.id, serde_json::json!({"limits": {"api_calls": -1}}));
    let limited = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(
                NewApiKey::new("limited", &["read"])
                    .monthly_calls(3)
                    .rate(2, 2),
            )
        })
        .unwrap();
    let s = limited.secret.expose();
    let first = f.engine.check_api_key(s, None).unwrap().rate_limit;
    assert_eq!((first.limit, first.remaining), (Some(3), Some(2)));
    assert_eq!(first.burst.map(|b| (b.limit, b.remaining)), Some((2, 1)));
    f.engine.check_api_key(s, None).unwrap();
    // The burst of 2 is spent: the next call waits half a second.
    match f.engine.check_api_key(s, None) {
        Err(Error::RateLimited { retry_after_ms }) => assert_eq!(retry_after_ms, 500),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    f.clock.advance(500);
    let third = f.engine.check_api_key(s, None).unwrap().rate_limit;
    assert_eq!(third.remaining, Some(0));
    f.clock.advance(10_000);
    match f.engine.check_api_key(s, None) {
        Err(Error::RateLimited { retry_after_ms }) => {
            assert_eq!(
                f.clock.now().as_millis() + retry_after_ms,
                third.reset.as_millis()
            );
        }
        other => panic!("expected RateLimited for the month, got {other:?}"),
    }
    let bad = f.engine.write(&sys, |tx| {
        tx.create_api_key(NewApiKey::new("zero", &["read"]).rate(0, 1))
    });
    assert!(bad.unwrap_err().to_string().contains("rate"));
}

#[test]
fn counted_calls_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.redb");
    let open = || Fixture::file(&path);
    let f = open();
    let g = f.tenant("acme");
    let key = f
        .engine
        .write(&Context::system(g.id), |tx| {
            tx.create_api_key(NewApiKey::new("k", &["read"]))
        })
        .unwrap();
    for _ in 0..7 {
        f.engine.check_api_key(key.secret.expose(), None).unwrap();
    }
    f.engine.close().unwrap();
    let f = open();
    assert_eq!(used(&f, g.id, Resource::ApiCalls), 7);
    let listed = f
        .engine
        .read(&Context::system(g.id), |v| v.api_keys(g.id))
        .unwrap();
    assert_eq!(listed[0].calls_this_month, 7);
}

#[test]
fn ai_cycles_are_checked_before_and_counted_after() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    set(&f, g.id, serde_json::json!({"limits": {"ai_tokens": 1000}}));
    let price = Money::new(12, "USD").unwrap();
    let cycle = |stage, tokens| {
        f.engine
            .write(&sys, |tx| tx.record_cycle(stage, "gpt-x", tokens, price))
    };
    cycle(CycleStage::Request, 800).unwrap();
    cycle(CycleStage::Completed, 900).unwrap();
    assert_eq!(used(&f, g.id, Resource::AiTokens), 900);
    assert!(matches!(
        cycle(CycleStage::Request, 200),
        Err(Error::QuotaExceeded {
            resource: Resource::AiTokens,
            ..
        })
    ));
    // What was spent is recorded even past the limit.
    cycle(CycleStage::Completed, 300).unwrap();
    assert_eq!(used(&f, g.id, Resource::AiTokens), 1200);
    assert!(cycle(CycleStage::Request, 1).is_err());
    assert_eq!(events_of(&f, g.id, kinds::CYCLE_QUOTA_EXCEEDED).len(), 1);
    assert_eq!(events_of(&f, g.id, kinds::CYCLE_COMPLETED).len(), 2);
    let refused = f
        .engine
        .write(&sys, |tx| tx.record_usage(Resource::Things, 1));
    assert!(matches!(refused, Err(Error::InvalidField { .. })));
}

#[test]
fn revenue_is_split_exactly_and_reported_from_its_index() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    set(&f, g.id, serde_json::json!({"revenue_share_bps": 1500}));
    let usd = |m| Money::new(m, "USD").unwrap();
    let t0 = f.clock.now();
    let split = f
        .engine
        .write(&sys, |tx| tx.record_revenue(g.id, usd(1999)))
        .unwrap();
    assert_eq!((split.group.minor, split.platform.minor), (300, 1699));
    f.clock.advance(1000);
    f.engine
        .write(&sys, |tx| tx.record_revenue(g.id, usd(1)))
        .unwrap();
    f.engine
        .write(&sys, |tx| {
            tx.record_revenue(g.id, Money::new(500, "EUR").unwrap())
        })
        .unwrap();
    let t1 = f.clock.now().plus_millis(1);
    f.clock.advance(1000);
    f.engine
        .write(&sys, |tx| tx.record_revenue(g.id, usd(10_000)))
        .unwrap();
    let report = f
        .engine
        .read(&sys, |v| v.revenue(g.id, "USD", t0, t1))
        .unwrap();
    assert_eq!(report.entries, 2);
    assert_eq!(
        (
            report.total.minor,
            report.group.minor,
            report.platform.minor
        ),
        (2000, 300, 1700)
    );
    let all = f
        .engine
        .read(&sys, |v| {
            v.revenue(g.id, "USD", t0, f.clock.now().plus_millis(1))
        })
        .unwrap();
    assert_eq!(all.total.minor, 12_000);
    assert_eq!(all.group.minor + all.platform.minor, all.total.minor);
    assert_eq!(events_of(&f, g.id, kinds::GROUP_REVENUE_GENERATED).len(), 4);

    f.engine
        .write(&sys, |tx| {
            tx.distribute_revenue_share(
                g.id,
                usd(300),
                PaymentRail::Crypto {
                    network: "ethereum".into(),
                },
                "0xabc",
            )
        })
        .unwrap();
    let paid = f
        .engine
        .write(&sys, |tx| {
            tx.record_payment(g.id, Payment::new(usd(1999), PaymentRail::Fiat, "ch_1"))
        })
        .unwrap();
    assert_eq!(paid.metadata.get_path("rail"), Some(&Value::from("fiat")));
    let dist = &events_of(&f, g.id, kinds::REVENUE_SHARE_DISTRIBUTED)[0];
    assert_eq!(
        dist.metadata.get_path("network"),
        Some(&Value::from("ethereum"))
    );
    assert_eq!(
        dist.metadata.get_path("percentage_bps"),
        Some(&Value::Int(1500))
    );
    let before = f.dump();
    for r in [
        f.engine.write(&sys, |tx| {
            tx.record_payment(g.id, Payment::new(usd(1), PaymentRail::Fiat, ""))
                .map(drop)
        }),
        f.engine
            .read(&sys, |v| v.revenue(g.id, "usd", t0, t1).map(drop)),
    ] {
        assert!(
            matches!(
                r,
                Err(Error::MissingField { .. } | Error::InvalidField { .. })
            ),
            "{r:?}"
        );
    }
    assert_eq!(f.dump(), before);
}

#[derive(Debug, Clone)]
enum Op {
    Create(u8),
    Delete(u8),
    Connect(u8, u8),
    Disconnect(u8),
    FailAfterCreate(u8),
    Move,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Create),
        1 => any::<u8>().prop_map(Op::Delete),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Connect(a, b)),
        1 => any::<u8>().prop_map(Op::Disconnect),
        1 => any::<u8>().prop_map(Op::FailAfterCreate),
        1 => Just(Op::Move),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Usage equals what exists, in every group up the tree, whatever commits, rolls back
    /// or moves; it never goes below zero; a limit is never passed; and counting again
    /// from the records finds the same numbers.
    #[test]
    fn usage_follows_what_exists(ops in prop::collection::vec(op(), 1..40), limit in 3u64..12) {
        let f = Fixture::new();
        let g = f.tenant("acme");
        let sys = Context::system(g.id);
        let child = f.engine.write(&sys, |tx| {
            tx.create_group(g.id, NewGroup::new(GroupType::Business, "C", "c"))
        }).unwrap();
        let moving = f.engine.write(&sys, |tx| {
            tx.create_group(g.id, NewGroup::new(GroupType::Business, "D", "d"))
        }).unwrap();
        let mut d_under_c = false;
        set(&f, g.id, serde_json::json!({"limits": {"things": limit}}));
        let groups = [g.id, child.id, moving.id];
        let mut things: Vec<(ThingId, usize)> = Vec::new();
        let mut links: Vec<ConnectionId> = Vec::new();
        for op in ops {
            match op {
                Op::Create(i) | Op::FailAfterCreate(i) => {
                    let gi = usize::from(i) % 3;
                    let fail = matches!(op, Op::FailAfterCreate(_));
                    let r = f.engine.write(&sys, |tx| {
                        let t = tx.create_thing(NewThing::new("doc", "d").in_group(groups[gi]))?;
                        if fail {
                            return Err(Error::MissingField { field: "rollback" });
                        }
                        Ok(t)
                    });
                    match r {
                        Ok(t) => things.push((t.id, gi)),
                        Err(Error::QuotaExceeded { .. }) => {
                            prop_assert_eq!(things.len() as u64, limit);
                        }
                        Err(Error::MissingField { .. }) => prop_assert!(fail),
                        Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
                    }
                }
                Op::Delete(i) if !things.is_empty() => {
                    let (id, _) = things.remove(usize::from(i) % things.len());
                    f.engine.write(&sys, |tx| tx.delete_thing(id)).unwrap();
                }
                Op::Connect(a, b) if !things.is_empty() => {
                    let from = things[usize::from(a) % things.len()].0;
                    let to = things[usize::from(b) % things.len()].0;
                    let c = f.engine.write(&sys, |tx| {
                        tx.connect(NewConnection::new(from, "links", to))
                    }).unwrap();
                    links.push(c.id);
                }
                Op::Disconnect(i) if !links.is_empty() => {
                    let id = links.remove(usize::from(i) % links.len());
                    f.engine.write(&sys, |tx| tx.disconnect(id)).unwrap();
                }
                Op::Move => {
                    let to = if d_under_c { g.id } else { child.id };
                    f.engine.write(&sys, |tx| {
                        tx.update_group(moving.id, GroupUpdate::default().parent(to))
                    }).unwrap();
                    d_under_c = !d_under_c;
                }
                _ => {}
            }
            let in_child = things
                .iter()
                .filter(|(_, gi)| *gi == 1 || (*gi == 2 && d_under_c))
                .count() as u64;
            prop_assert_eq!(used(&f, g.id, Resource::Things), things.len() as u64);
            prop_assert_eq!(used(&f, child.id, Resource::Things), in_child);
            prop_assert!(used(&f, g.id, Resource::Things) <= limit);
            prop_assert_eq!(used(&f, g.id, Resource::Connections), links.len() as u64);
        }
        let report = |f: &Fixture| -> Vec<Vec<ResourceUsage>> {
            groups.iter().map(|id| f.engine.read(&sys, |v| v.usage(*id)).unwrap()).collect()
        };
        let kept = report(&f);
        f.engine.admin().recount_usage().unwrap();
        prop_assert_eq!(report(&f), kept);
    }
}

#[test]
fn revenue_splits_up_the_tree_and_adds_up() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let team = f.team(g.id);
    set(&f, g.id, serde_json::json!({"revenue_share_bps": 2000}));
    set(&f, team.id, serde_json::json!({"revenue_share_bps": 1000}));
    let parts = f
        .engine
        .read(&sys, |v| {
            v.revenue_chain(team.id, Money::new(10_001, "EUR")?)
        })
        .unwrap();
    let shown: Vec<(Option<GroupId>, i64)> = parts.iter().map(|(g, m)| (*g, m.minor)).collect();
    // Team keeps 10% (1000.1 -> 1000), the tenant 20% of the rest (1800.2 -> 1800), the
    // platform the remainder.
    assert_eq!(
        shown,
        [(Some(team.id), 1000), (Some(g.id), 1800), (None, 7201)]
    );
}

#[test]
fn calls_are_written_after_the_interval_and_a_crash_only_under_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.redb");
    let open = || Fixture::file(&path);
    let f = open();
    let g = f.tenant("acme");
    let key = f
        .engine
        .write(&Context::system(g.id), |tx| {
            tx.create_api_key(NewApiKey::new("k", &["read"]))
        })
        .unwrap();
    for _ in 0..3 {
        f.engine.check_api_key(key.secret.expose(), None).unwrap();
    }
    // The interval passes: the next call writes all four.
    f.clock.advance(one_core::FLUSH_INTERVAL_MS);
    f.engine.check_api_key(key.secret.expose(), None).unwrap();
    // Two more, then the process dies without closing.
    for _ in 0..2 {
        f.engine.check_api_key(key.secret.expose(), None).unwrap();
    }
    drop(f);
    let f = open();
    assert_eq!(used(&f, g.id, Resource::ApiCalls), 4);
}

fn limit(f: &Fixture, group: GroupId, resource: Resource) -> Option<u64> {
    usage_of(f, group, resource).limit
}

#[test]
fn the_seeds_limits_are_read_under_their_own_names_and_units() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    set(
        &f,
        g.id,
        serde_json::json!({"plan": "pro", "limits": {"apiCalls": 50_000, "storage": 2.5, "cycles": 100}}),
    );
    assert_eq!(limit(&f, g.id, Resource::ApiCalls), Some(50_000));
    assert_eq!(limit(&f, g.id, Resource::StorageBytes), Some(2_500_000_000));
    assert_eq!(limit(&f, g.id, Resource::AiTokens), Some(100));
    // Not named: the plan's.
    assert_eq!(limit(&f, g.id, Resource::Things), Some(10_000));
    let price = Money::new(1, "USD").unwrap();
    assert!(matches!(
        f.engine.write(&sys, |tx| tx.record_cycle(
            CycleStage::Request,
            "m",
            101,
            price
        )),
        Err(Error::QuotaExceeded {
            resource: Resource::AiTokens,
            limit: 100,
            ..
        })
    ));
    // One name per resource; unknown names and wrong units are refused, naming the key.
    for (bad, key) in [
        (
            serde_json::json!({"limits": {"apiCalls": 1, "api_calls": 2}}),
            "api_calls",
        ),
        (
            serde_json::json!({"limits": {"storage": 1, "storage_bytes": 2}}),
            "storage_bytes",
        ),
        (serde_json::json!({"limits": {"bandwidth": 1}}), "bandwidth"),
        (
            serde_json::json!({"limits": {"storage": "10GB"}}),
            "storage",
        ),
        (serde_json::json!({"limits": {"apiCalls": 1.5}}), "apiCalls"),
    ] {
        let before = f.dump();
        // A patch merges into the stored limits: replace them whole.
        let err = f
            .engine
            .write(&sys, |tx| {
                tx.update_group(
                    g.id,
                    GroupUpdate::default().properties(json(serde_json::json!({"limits": null}))),
                )?;
                tx.update_group(g.id, GroupUpdate::default().properties(json(bad.clone())))
            })
            .unwrap_err();
        match &err {
            Error::InvalidField { field, .. } => {
                assert!(field.ends_with(key), "{bad}: {err}")
            }
            other => panic!("{bad}: {other:?}"),
        }
        assert_eq!(f.dump(), before);
    }
}

#[test]
fn the_seeds_revenue_share_and_ai_switches_have_their_meaning() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let team = f.team(g.id);
    set(&f, team.id, serde_json::json!({"revenueShare": 0.25}));
    assert_eq!(
        f.engine
            .read(&sys, |v| v.revenue_share(team.id))
            .unwrap()
            .get(),
        2500
    );
    for bad in [
        serde_json::json!({"revenueShare": 25}),
        serde_json::json!({"revenue_share_bps": 100}),
        serde_json::json!({"cycleEnabled": "no"}),
        serde_json::json!({"cycleModels": "gpt-4o"}),
        serde_json::json!({"cycleModels": [1, 2]}),
    ] {
        let before = f.dump();
        let err = f
            .engine
            .write(&sys, |tx| {
                tx.update_group(
                    team.id,
                    GroupUpdate::default().properties(json(bad.clone())),
                )
            })
            .unwrap_err();
        assert!(matches!(err, Error::InvalidField { .. }), "{bad}: {err:?}");
        assert_eq!(f.dump(), before);
    }

    let price = Money::new(1, "USD").unwrap();
    let cycle = |group: GroupId, model: &str| {
        f.engine.write(&Context::system(group), |tx| {
            tx.record_cycle(CycleStage::Request, model, 10, price)
        })
    };
    // Models: the nearest list decides, for the group and the groups below it.
    set(
        &f,
        g.id,
        serde_json::json!({"cycleModels": ["gpt-4o", "claude"]}),
    );
    cycle(team.id, "claude").unwrap();
    let refused = cycle(team.id, "llama").unwrap_err();
    assert!(
        matches!(&refused, Error::InvalidField { field, .. } if field == "model"),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("gpt-4o"), "{refused}");
    set(&f, team.id, serde_json::json!({"cycleModels": ["llama"]}));
    cycle(team.id, "llama").unwrap();
    assert!(cycle(team.id, "claude").is_err());
    cycle(g.id, "claude").unwrap();
    // AI off: no tokens for the group and the groups below it.
    set(&f, g.id, serde_json::json!({"cycleEnabled": false}));
    assert_eq!(limit(&f, g.id, Resource::AiTokens), Some(0));
    for group in [g.id, team.id] {
        let model = if group == g.id { "claude" } else { "llama" };
        assert!(matches!(
            cycle(group, model),
            Err(Error::QuotaExceeded {
                resource: Resource::AiTokens,
                ..
            })
        ));
    }
    set(&f, g.id, serde_json::json!({"cycleEnabled": true}));
    cycle(g.id, "claude").unwrap();

    // These are billing settings: an admin without billing:manage cannot change them.
    let admin = f
        .engine
        .write(&sys, |tx| {
            let p = tx.create_person(NewPerson::new("admin@acme.io", "Admin"))?;
            tx.add_member(p.id, g.id, "org_admin", &[])?;
            Ok(p.id)
        })
        .unwrap();
    refuses_without_billing(
        &f,
        &Context::person(admin, g.id),
        g.id,
        [
            serde_json::json!({"cycleEnabled": true}),
            serde_json::json!({"cycleModels": ["any"]}),
            serde_json::json!({"revenueShare": 0.9}),
        ],
    );
}

#[test]
fn settings_the_engine_would_ignore_are_refused() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    for (props, key) in [
        (
            serde_json::json!({"usage": {"users": 5}}),
            "properties.usage",
        ),
        (
            serde_json::json!({"trialEndsAt": 1_900_000_000_000_i64}),
            "properties.trialEndsAt",
        ),
    ] {
        let before = f.dump();
        let created = f.engine.write(&sys, |tx| {
            tx.create_group(
                g.id,
                NewGroup::new(GroupType::Business, "Shop", "shop").properties(json(props.clone())),
            )
        });
        let updated = f.engine.write(&sys, |tx| {
            tx.update_group(g.id, GroupUpdate::default().properties(json(props.clone())))
        });
        for r in [created.map(drop), updated.map(drop)] {
            match r {
                Err(Error::InvalidField { field, .. }) => assert_eq!(field, key),
                other => panic!("{props}: {other:?}"),
            }
        }
        assert_eq!(f.dump(), before);
    }
    // Removing one is fine.
    set(
        &f,
        g.id,
        serde_json::json!({"usage": null, "trialEndsAt": null}),
    );
}
