//! One test per class of the outside attack run that broke isolation or least privilege,
//! each written from the class's description: crashes that poisoned the store, one
//! tenant reaching another, escalation inside a tenant, and untrusted imports. Each
//! checks the refusal's variant and that the store (every tenant's range) is unchanged.

use one_core::*;

use crate::{Fixture, json};

/// The entries of the store under tenant `root`'s prefix.
fn tenant_range(f: &Fixture, root: GroupId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut prefix = vec![b'T'];
    prefix.extend_from_slice(&root.to_be_bytes());
    f.dump()
        .into_iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect()
}

/// A person with one membership, made by the system.
fn member(f: &Fixture, root: GroupId, email: &str, group: GroupId, perms: &[&str]) -> ThingId {
    f.engine
        .write(&Context::system(root), |tx| {
            let p = tx.create_person(NewPerson::new(email, email).in_group(group))?;
            tx.add_member(p.id, group, "group_user", perms)?;
            Ok(p.id)
        })
        .unwrap()
}

fn child(f: &Fixture, root: GroupId, slug: &str, parent_access: &str) -> GroupId {
    f.engine
        .write(&Context::system(root), |tx| {
            tx.create_group(
                root,
                NewGroup::new(GroupType::Business, slug, slug).properties(json(
                    serde_json::json!({"settings": {"parentAccess": parent_access}}),
                )),
            )
        })
        .unwrap()
        .id
}

// ---- Crashes that poisoned the store for every tenant ----

#[test]
fn usage_that_would_overflow_fails_that_write_alone() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let b = f.tenant("b");
    let writer = member(&f, a.id, "w@a.io", a.id, &["events:write"]);
    let ctx = Context::person(writer, a.id);
    let before = f.dump();
    // Three times the largest amount passes what a counter can hold.
    let usage = f.engine.write(&ctx, |tx| {
        for _ in 0..3 {
            tx.record_usage(Resource::AiTokens, i64::MAX as u64)?;
        }
        Ok(())
    });
    assert!(matches!(usage, Err(Error::Overflow { .. })), "{usage:?}");
    let cycles = f.engine.write(&ctx, |tx| {
        let price = Money::new(1, "USD")?;
        for _ in 0..3 {
            tx.record_cycle(CycleStage::Completed, "m", i64::MAX as u64, price)?;
        }
        Ok(())
    });
    assert!(matches!(cycles, Err(Error::Overflow { .. })), "{cycles:?}");
    assert_eq!(f.dump(), before);
    // Every tenant goes on writing.
    for g in [a.id, b.id] {
        f.engine
            .write(&Context::system(g), |tx| {
                tx.create_thing(NewThing::new("note", "fine"))
            })
            .unwrap();
    }
}

#[test]
fn a_key_rate_out_of_range_is_refused_by_name() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let sys = Context::system(a.id);
    let before = f.dump();
    for (per_second, burst, field) in [
        (1_000_000_001, 1, "rate.per_second"),
        (u32::MAX, 10, "rate.per_second"),
        (0, 1, "rate.per_second"),
        (10, 0, "rate.burst"),
        (10, u32::MAX, "rate.burst"),
    ] {
        let r = f.engine.write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new("k", &["read"]).rate(per_second, burst))
        });
        match r {
            Err(Error::InvalidField { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{per_second}/{burst}: {other:?}"),
        }
    }
    assert_eq!(f.dump(), before);
    // The fastest allowed rate works, call after call.
    let made = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new("fast", &["read"]).rate(MAX_PER_SECOND, MAX_BURST))
        })
        .unwrap();
    for _ in 0..3 {
        f.engine.check_api_key(made.secret.expose(), None).unwrap();
    }
}

#[test]
fn an_import_with_an_id_from_the_far_future_is_refused_and_changes_nothing() {
    let from = Fixture::new();
    let acme = from.populated("acme");
    let mut out = Vec::new();
    from.engine
        .export(&Context::system(acme.id), acme.id, &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let event_id = text
        .split('"')
        .find(|s| s.starts_with("evt_"))
        .unwrap()
        .to_string();
    for forged in [
        // The largest id there is, and one dated thousands of years ahead.
        "evt_7zzzzzzzzzzzzzzzzzzzzzzzzz".to_string(),
        format!("evt_1{}", &event_id[5..]),
    ] {
        let to = Fixture::new();
        let other = to.tenant("other");
        let before = to.dump();
        let bad = text.replacen(&event_id, &forged, 1);
        let r = to
            .engine
            .admin()
            .import(bad.as_bytes(), ImportInto::NewTenant);
        match r {
            Err(Error::InvalidField { field, .. }) => assert_eq!(field, "id"),
            other => panic!("{forged}: {other:?}"),
        }
        assert_eq!(to.dump(), before);
        // Ids made afterwards carry the clock's time, in every tenant.
        let e = to
            .engine
            .write(&Context::system(other.id), |tx| {
                tx.log_event("after", None, Value::Null)
            })
            .unwrap();
        assert_eq!(e.id.timestamp(), to.clock.now());
    }
}

// ---- One tenant reaching another ----

#[test]
fn a_principal_pointed_at_another_tenant_meets_unknown_ids_and_leaves_no_trace() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let b = f.tenant("b");
    let alice = member(&f, a.id, "alice@a.io", a.id, &["*"]);
    let key = f
        .engine
        .write(&Context::system(a.id), |tx| {
            tx.create_api_key(NewApiKey::new("k", &["*"]))
        })
        .unwrap();
    let key_ctx = f
        .engine
        .context_for_api_key(key.secret.expose(), None)
        .unwrap();
    let b_thing = f
        .engine
        .write(&Context::system(b.id), |tx| {
            tx.create_thing(NewThing::new("doc", "secret"))
        })
        .unwrap();
    let before = tenant_range(&f, b.id);
    // The same calls with B's real group, and with an id that exists nowhere.
    let nowhere = GroupId::from_u128(b.id.to_u128() ^ 1);
    for ctx in [Context::person(alice, a.id), key_ctx] {
        for (real, fake) in [(b.id, nowhere)] {
            let attempts: Vec<(Result<String>, Result<String>)> = vec![
                (
                    f.engine.read(&ctx.in_group(real), |v| {
                        v.get_thing(b_thing.id).map(|t| t.name)
                    }),
                    f.engine.read(&ctx.in_group(fake), |v| {
                        v.get_thing(b_thing.id).map(|t| t.name)
                    }),
                ),
                (
                    f.engine.write(&ctx.in_group(real), |tx| {
                        tx.create_thing(NewThing::new("x", "x")).map(|t| t.name)
                    }),
                    f.engine.write(&ctx.in_group(fake), |tx| {
                        tx.create_thing(NewThing::new("x", "x")).map(|t| t.name)
                    }),
                ),
                (
                    f.engine.read(&ctx.in_group(real), |v| {
                        v.memberships(b_thing.id).map(|m| format!("{m:?}"))
                    }),
                    f.engine.read(&ctx.in_group(fake), |v| {
                        v.memberships(b_thing.id).map(|m| format!("{m:?}"))
                    }),
                ),
            ];
            for (r, u) in attempts {
                let (r, u) = (r.unwrap_err(), u.unwrap_err());
                assert!(matches!(r, Error::NotFound { .. }), "{r:?}");
                assert_eq!(r.code(), u.code());
                assert_eq!(
                    r.to_string().replace(&real.to_string(), "G"),
                    u.to_string().replace(&fake.to_string(), "G")
                );
            }
        }
    }
    // Nothing logged in B, nothing charged to B.
    assert_eq!(tenant_range(&f, b.id), before);
}

#[test]
fn a_record_out_of_sight_answers_as_an_unknown_id_everywhere() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let hidden = child(&f, a.id, "hidden", "none");
    let outsider = member(&f, a.id, "o@a.io", a.id, &["*"]);
    let (doc, person) = f
        .engine
        .write(&Context::system(a.id), |tx| {
            let doc = tx.create_thing(NewThing::new("doc", "d").in_group(hidden))?;
            let p = tx.create_person(NewPerson::new("p@a.io", "P").in_group(hidden))?;
            Ok((doc.id, p.id))
        })
        .unwrap();
    let unknown = ThingId::from_u128(doc.to_u128() ^ 1);
    let ctx = Context::person(outsider, a.id);
    let same = |known: Result<String>, unknown_r: Result<String>, id: ThingId| {
        let (k, u) = (known.unwrap_err(), unknown_r.unwrap_err());
        assert!(matches!(k, Error::NotFound { .. }), "{k:?}");
        assert_eq!(
            k.to_string().replace(&id.to_string(), "ID"),
            u.to_string().replace(&unknown.to_string(), "ID")
        );
    };
    for id in [doc, person] {
        same(
            f.engine.read(&ctx, |v| v.get_thing(id).map(|t| t.name)),
            f.engine
                .read(&ctx, |v| v.get_thing(unknown).map(|t| t.name)),
            id,
        );
        same(
            f.engine.write(&ctx, |tx| {
                tx.update_thing(id, ThingUpdate::default().name("x"))
                    .map(|t| t.name)
            }),
            f.engine.write(&ctx, |tx| {
                tx.update_thing(unknown, ThingUpdate::default().name("x"))
                    .map(|t| t.name)
            }),
            id,
        );
    }
    // Asking for the memberships of a thing that is no person says nothing of its type.
    same(
        f.engine
            .read(&ctx, |v| v.memberships(doc).map(|m| format!("{m:?}"))),
        f.engine
            .read(&ctx, |v| v.memberships(unknown).map(|m| format!("{m:?}"))),
        doc,
    );
}

#[test]
fn each_tenant_chooses_its_own_vector_dimension() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let b = f.tenant("b");
    let add = |g: GroupId, dims: usize| {
        f.engine.write(&Context::system(g), |tx| {
            tx.create_knowledge(NewKnowledge::new("chunk").embedding(vec![0.5; dims]))
        })
    };
    add(a.id, 3).unwrap();
    add(b.id, 5).unwrap();
    add(b.id, 5).unwrap();
    assert!(matches!(add(a.id, 5), Err(Error::InvalidField { .. })));
    let hits = f
        .engine
        .read(&Context::system(b.id), |v| {
            v.query_knowledge(&KnowledgeQuery::vector(vec![0.5; 5]).k(5))
        })
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(f.engine.check().unwrap().is_ok());
}

// ---- Escalation inside a tenant ----

#[test]
fn renaming_a_role_gives_no_rights() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let team = child(&f, a.id, "team", "admins");
    let user = member(&f, a.id, "u@a.io", a.id, &["read", "members:manage"]);
    let ctx = Context::person(user, a.id);
    assert!(!f.engine.can(&ctx, Permission::ThingsRead, team));
    f.engine
        .write(&ctx, |tx| {
            tx.change_role(user, a.id, "group_admin", &["read", "members:manage"])
        })
        .unwrap();
    // The name is an admin's; the rights are not, so the child's gate stays shut.
    assert!(!f.engine.can(&ctx, Permission::ThingsRead, team));
    // And the role's default rights cannot be taken by emptying the list.
    let grab = f
        .engine
        .write(&ctx, |tx| tx.change_role(user, a.id, "group_admin", &[]));
    assert!(matches!(grab, Err(Error::Forbidden { .. })), "{grab:?}");
}

#[test]
fn a_key_reaches_no_further_than_its_creator_at_the_target() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let closed = child(&f, a.id, "closed", "none");
    let owner = member(&f, a.id, "o@a.io", a.id, &["*"]);
    let owner_ctx = Context::person(owner, a.id);
    assert!(!f.engine.can(&owner_ctx, Permission::ThingsRead, closed));
    let key = f
        .engine
        .write(&owner_ctx, |tx| {
            tx.create_api_key(NewApiKey::new("reader", &["read"]))
        })
        .unwrap();
    let ctx = f
        .engine
        .context_for_api_key(key.secret.expose(), None)
        .unwrap();
    assert!(f.engine.can(&ctx, Permission::ThingsRead, a.id));
    assert!(!f.engine.can(&ctx, Permission::ThingsRead, closed));
    let r = f.engine.read(&ctx, |v| {
        v.things(&ThingQuery::of_type("doc").group(closed))
    });
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
}

#[test]
fn an_export_honours_parent_access() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let closed = child(&f, a.id, "closed", "none");
    let owner = member(&f, a.id, "o@a.io", a.id, &["*"]);
    let r = f
        .engine
        .export(&Context::person(owner, a.id), a.id, Vec::new());
    match r {
        Err(Error::NotFound { id, .. }) => assert_eq!(id, closed.to_string()),
        other => panic!("{other:?}"),
    }
    // The system exports everything.
    f.engine
        .export(&Context::system(a.id), a.id, Vec::new())
        .unwrap();
}

#[test]
fn a_child_admin_cannot_act_on_a_principal_with_more_rights() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let team = child(&f, a.id, "team", "admins");
    let sys = Context::system(a.id);
    // The owner's person record lives in the team; the owner owns the root.
    let (owner, admin, plain) = f
        .engine
        .write(&sys, |tx| {
            let owner = tx.create_person(NewPerson::new("owner@a.io", "O").in_group(team))?;
            tx.add_member(owner.id, a.id, "org_owner", &["*"])?;
            let admin = tx.create_person(NewPerson::new("admin@a.io", "A").in_group(team))?;
            tx.add_member(admin.id, team, "group_admin", &["admin"])?;
            let plain = tx.create_person(NewPerson::new("plain@a.io", "P").in_group(team))?;
            tx.add_member(plain.id, team, "group_user", &["read"])?;
            Ok((owner.id, admin.id, plain.id))
        })
        .unwrap();
    let ctx = Context::person(admin, team);
    let before = f.dump();
    let attempts: Vec<Result<()>> = vec![
        f.engine
            .write(&ctx, |tx| tx.link_identity(owner, "google", "attacker")),
        f.engine.write(&ctx, |tx| {
            tx.update_thing(
                owner,
                ThingUpdate::default().property("email", "attacker@evil.io"),
            )
            .map(drop)
        }),
        f.engine.write(&ctx, |tx| tx.delete_thing(owner).map(drop)),
        f.engine
            .write(&ctx, |tx| tx.sign_out_everywhere(owner).map(drop)),
        f.engine.email_verification(&ctx, owner).map(drop),
        f.engine.magic_link(&ctx, team, "owner@a.io").map(drop),
    ];
    for r in attempts {
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    }
    // Denials are logged; nothing else changed.
    let changed: Vec<_> = f
        .dump()
        .into_iter()
        .filter(|e| !before.contains(e))
        .collect();
    assert!(
        changed
            .iter()
            .all(|(k, _)| !k.windows(2).any(|w| w == b"Pw")),
        "no password or record written"
    );
    // A principal the admin covers is fair game.
    f.engine
        .write(&ctx, |tx| tx.link_identity(plain, "google", "plain-1"))
        .unwrap();
    f.engine
        .write(&ctx, |tx| tx.sign_out_everywhere(plain).map(drop))
        .unwrap();
}

#[test]
fn a_test_key_never_touches_live_data() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let sys = Context::system(a.id);
    let (test_key, live_key) = f
        .engine
        .write(&sys, |tx| {
            let t = tx.create_api_key(NewApiKey::new("t", &["*"]).env(Env::Test))?;
            let l = tx.create_api_key(NewApiKey::new("l", &["read"]))?;
            Ok((t, l))
        })
        .unwrap();
    let ctx = f
        .engine
        .context_for_api_key(test_key.secret.expose(), None)
        .unwrap();
    assert_eq!(ctx.env(), Env::Test);
    let before = f.dump();
    let refused: Vec<Result<()>> = vec![
        f.engine
            .write(&ctx, |tx| tx.revoke_api_key(live_key.key.id).map(drop)),
        f.engine.write(&ctx, |tx| {
            tx.update_group(
                a.id,
                GroupUpdate::default().properties(json(serde_json::json!({"plan": "pro"}))),
            )
            .map(drop)
        }),
        f.engine.write(&ctx, |tx| {
            tx.update_group(
                a.id,
                GroupUpdate::default().properties(json(
                    serde_json::json!({"settings": {"parentAccess": "members"}}),
                )),
            )
            .map(drop)
        }),
        f.engine.write(&ctx, |tx| {
            tx.create_group(a.id, NewGroup::new(GroupType::Dao, "x", "x"))
                .map(drop)
        }),
        f.engine.read(&ctx, |v| v.api_keys(a.id).map(drop)),
        f.engine.read(&ctx, |v| v.usage(a.id).map(drop)),
    ];
    for r in refused {
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    }
    // Only the test environment (its denial events) and the id high-water mark (the
    // store's, `M i`, or on a shared store the tenant's, `T <root> 0x00 i`) moved.
    let live = |d: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<(Vec<u8>, Vec<u8>)> {
        d.into_iter()
            .filter(|(k, _)| k.as_slice() != b"Mi")
            .filter(|(k, _)| !(k.len() == 19 && k[0] == b'T' && k[17..] == [0, b'i']))
            .filter(|(k, _)| k.first() != Some(&b'T') || k.get(17) != Some(&2))
            .collect()
    };
    assert!(live(f.dump()) == live(before), "live data changed");
    // The sandbox is the key's to write.
    f.engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("note", "sandbox")))
        .unwrap();
}

#[test]
fn engine_event_types_cannot_be_forged() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let before = f.dump();
    for kind in kinds::ALL {
        let r = f.engine.write(&Context::system(a.id), |tx| {
            tx.log_event(kind, None, Value::Null)
        });
        match r {
            Err(Error::InvalidField { field, .. }) => assert_eq!(field, "kind"),
            other => panic!("{kind}: {other:?}"),
        }
    }
    assert_eq!(f.dump(), before);
}

#[test]
fn billing_events_need_billing_rights_to_be_read() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let sys = Context::system(a.id);
    f.engine
        .write(&sys, |tx| {
            tx.record_payment(
                a.id,
                Payment::new(Money::new(500, "USD")?, PaymentRail::Fiat, "pi_1"),
            )?;
            tx.log_event("visited", None, Value::Null)
        })
        .unwrap();
    let reader = member(&f, a.id, "r@a.io", a.id, &["read"]);
    let kinds_seen = |ctx: &Context| -> Vec<String> {
        f.engine
            .read(ctx, |v| v.events(&EventQuery::latest().limit(100)))
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.kind)
            .collect()
    };
    let seen = kinds_seen(&Context::person(reader, a.id));
    assert!(seen.contains(&"visited".to_string()));
    assert!(
        !seen.contains(&kinds::PAYMENT_EVENT.to_string()),
        "{seen:?}"
    );
    assert!(!seen.contains(&kinds::API_KEY_CREATED.to_string()));
    assert!(kinds_seen(&sys).contains(&kinds::PAYMENT_EVENT.to_string()));
}

// ---- Untrusted imports ----

#[test]
fn an_import_below_a_group_cannot_reach_outside_its_subtree() {
    let from = Fixture::new();
    let acme = from.populated("acme");
    let team = from.first_child(acme.id).id;
    let mut out = Vec::new();
    from.engine
        .export(&Context::system(acme.id), team, &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let to = Fixture::new();
    let host = to.tenant("host");
    let before = to.dump();
    // The export's connection, turned into a membership with an end at the host
    // tenant's root.
    let forged: String = text
        .lines()
        .map(|l| {
            if l.contains("\"record\":\"connection\"") {
                l.replace(&team.to_string(), &host.id.to_string())
                    .replace("\"owns\"", "\"member_of\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(forged, text.trim_end(), "the export has a connection");
    let r = to
        .engine
        .admin()
        .import(forged.as_bytes(), ImportInto::Under(host.id));
    assert!(matches!(r, Err(Error::InvalidField { .. })), "{r:?}");
    assert_eq!(to.dump(), before);
    // The honest export imports.
    to.engine
        .admin()
        .import(text.as_bytes(), ImportInto::Under(host.id))
        .unwrap();
}

// ---- Every numeric and size input of the public API, at its extremes ----

mod extremes {
    use proptest::prelude::*;

    use super::*;

    /// Numbers where arithmetic breaks: zero, one, the edges of `i64` and `u64`, and any.
    fn number() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(i64::MAX as u64),
            Just(i64::MAX as u64 + 1),
            Just(u64::MAX),
            Just(u64::MAX / 2),
            any::<u64>(),
        ]
    }

    /// Sizes around the limits, and far past them.
    fn size() -> impl Strategy<Value = usize> {
        prop_oneof![
            Just(0usize),
            Just(1),
            Just(MAX_NAME_BYTES),
            Just(MAX_NAME_BYTES + 1),
            Just(MAX_TEXT_BYTES + 1),
            Just(MAX_VALUE_BYTES + 1),
            0usize..300_000,
        ]
    }

    /// One call of the public API with extreme numbers or sizes in it.
    #[derive(Debug, Clone)]
    enum Call {
        Usage(u64, u64),
        Cycle(u64, i64),
        Revenue(i64),
        Payment(i64),
        Share(i64, u32),
        KeyQuota(u64, u32, u32),
        KeyExpiry(u64),
        Limits(i64, u64),
        Page(usize),
        Query(usize, usize),
        Name(usize),
        Text(usize),
        Property(usize, u64),
        Labels(usize),
        Events(u64, u64),
    }

    fn call() -> impl Strategy<Value = Call> {
        let n = number;
        prop_oneof![
            (n(), n()).prop_map(|(a, b)| Call::Usage(a, b)),
            (n(), n()).prop_map(|(t, p)| Call::Cycle(t, p as i64)),
            n().prop_map(|m| Call::Revenue(m as i64)),
            n().prop_map(|m| Call::Payment(m as i64)),
            (n(), n()).prop_map(|(m, b)| Call::Share(m as i64, b as u32)),
            (n(), n(), n()).prop_map(|(q, r, b)| Call::KeyQuota(q, r as u32, b as u32)),
            n().prop_map(Call::KeyExpiry),
            (n(), n()).prop_map(|(a, b)| Call::Limits(a as i64, b)),
            size().prop_map(Call::Page),
            (size(), size()).prop_map(|(k, d)| Call::Query(k, d % 5000)),
            size().prop_map(Call::Name),
            size().prop_map(Call::Text),
            (size(), n()).prop_map(|(s, v)| Call::Property(s, v)),
            size().prop_map(|s| Call::Labels(s % 5000)),
            (n(), n()).prop_map(|(a, b)| Call::Events(a, b)),
        ]
    }

    fn run(f: &Fixture, g: GroupId, call: &Call) -> Result<()> {
        let ctx = Context::system(g);
        let e = &f.engine;
        match call.clone() {
            Call::Usage(a, b) => e.write(&ctx, |tx| {
                tx.record_usage(Resource::AiTokens, a)?;
                tx.record_usage(Resource::EmbeddingTokens, b)
            }),
            Call::Cycle(tokens, price) => e.write(&ctx, |tx| {
                let price = Money::new(price, "USD")?;
                tx.record_cycle(CycleStage::Request, "m", tokens, price)?;
                tx.record_cycle(CycleStage::Completed, "m", tokens, price)
                    .map(drop)
            }),
            Call::Revenue(minor) => e.write(&ctx, |tx| {
                tx.record_revenue(g, Money::new(minor, "USD")?).map(drop)
            }),
            Call::Payment(minor) => e.write(&ctx, |tx| {
                let p = Payment::new(Money::new(minor, "EUR")?, PaymentRail::Fiat, "r");
                tx.record_payment(g, p).map(drop)
            }),
            Call::Share(minor, bps) => e.write(&ctx, |tx| {
                tx.update_group(
                    g,
                    GroupUpdate::default()
                        .properties(json(serde_json::json!({"revenue_share_bps": bps}))),
                )?;
                tx.record_revenue(g, Money::new(minor, "USD")?).map(drop)
            }),
            Call::KeyQuota(quota, per_second, burst) => {
                let made = e.write(&ctx, |tx| {
                    tx.create_api_key(
                        NewApiKey::new("k", &["read"])
                            .monthly_calls(quota)
                            .rate(per_second, burst),
                    )
                })?;
                for _ in 0..3 {
                    match e.check_api_key(made.secret.expose(), None) {
                        Ok(_) | Err(Error::RateLimited { .. } | Error::QuotaExceeded { .. }) => {}
                        Err(other) => return Err(other),
                    }
                }
                Ok(())
            }
            Call::KeyExpiry(at) => {
                let made = e.write(&ctx, |tx| {
                    tx.create_api_key(
                        NewApiKey::new("k", &["read"]).expires_at(Timestamp::from_millis(at)),
                    )
                })?;
                e.context_for_api_key(made.secret.expose(), None).map(drop)
            }
            Call::Limits(things, calls) => e.write(&ctx, |tx| {
                tx.update_group(
                    g,
                    GroupUpdate::default().properties(json(serde_json::json!({
                        "limits": {"things": things, "api_calls": calls}
                    }))),
                )?;
                tx.create_thing(NewThing::new("item", "i")).map(drop)
            }),
            Call::Page(n) => e.read(&ctx, |v| {
                v.things(&ThingQuery::of_type("item").limit(n))?;
                v.events(&EventQuery::latest().limit(n)).map(drop)
            }),
            Call::Query(k, dims) => e.read(&ctx, |v| {
                v.query_knowledge(&KnowledgeQuery::vector(vec![0.1; dims]).k(k))
                    .map(drop)
            }),
            Call::Name(len) => e.write(&ctx, |tx| {
                tx.create_thing(NewThing::new("item", "n".repeat(len)))
                    .map(drop)
            }),
            Call::Text(len) => e.write(&ctx, |tx| {
                tx.create_knowledge(NewKnowledge::new("t".repeat(len)))
                    .map(drop)
            }),
            Call::Property(len, v) => e.write(&ctx, |tx| {
                tx.create_thing(
                    NewThing::new("item", "p")
                        .property("blob", "b".repeat(len))
                        .property("n", v as i64),
                )
                .map(drop)
            }),
            Call::Labels(n) => e.write(&ctx, |tx| {
                let labels: Vec<String> = (0..n).map(|i| format!("l{i}")).collect();
                let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
                tx.create_knowledge(NewKnowledge::new("x").labels(&refs))
                    .map(drop)
            }),
            Call::Events(since, until) => e.read(&ctx, |v| {
                v.events(
                    &EventQuery::latest()
                        .since(Timestamp::from_millis(since))
                        .until(Timestamp::from_millis(until)),
                )
                .map(drop)
            }),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// No extreme number or size panics (a caught panic would be `Internal`), and a
        /// call that fails leaves the store exactly as it was.
        #[test]
        fn extreme_inputs_get_typed_errors_and_change_nothing(calls in prop::collection::vec(call(), 1..6)) {
            let f = Fixture::new();
            let g = f.tenant("x");
            for call in &calls {
                let before = f.dump();
                match run(&f, g.id, call) {
                    Ok(()) => {}
                    Err(Error::Internal { reason }) => {
                        prop_assert!(false, "{call:?} panicked: {reason}");
                    }
                    // A refusal over a quota logs its once-per-period notice, by design.
                    Err(Error::QuotaExceeded { .. }) => {}
                    Err(_) => {
                        // Refused reads and writes change nothing. (A key call is checked
                        // after its key was made, which is kept.)
                        if !matches!(call, Call::KeyQuota(..) | Call::KeyExpiry(..)) {
                            prop_assert!(f.dump() == before, "{call:?} failed and changed the store");
                        }
                    }
                }
            }
            prop_assert!(f.engine.check().unwrap().is_ok());
        }
    }
}

#[test]
fn an_email_out_of_sight_is_answered_as_an_unknown_email() {
    let f = Fixture::new();
    let a = f.tenant("a");
    let hidden = child(&f, a.id, "hidden", "none");
    let outsider = member(&f, a.id, "o@a.io", a.id, &["read"]);
    f.engine
        .write(&Context::system(a.id), |tx| {
            tx.create_person(NewPerson::new("secret@a.io", "S").in_group(hidden))
        })
        .unwrap();
    let ctx = Context::person(outsider, a.id);
    let message = |email: &str| {
        f.engine
            .read(&ctx, |v| v.person_by_email(email))
            .unwrap_err()
            .to_string()
            .replace(email, "EMAIL")
    };
    assert_eq!(message("secret@a.io"), message("nobody@a.io"));
}
