//! Permissions, memberships and API keys, through the public API.

use std::net::IpAddr;

use one_core::*;

use crate::{Fixture, json};

/// A tenant with a chain of groups below it: `chain[0]` is the root.
fn chain(f: &Fixture, slug: &str, depth: usize) -> Vec<Group> {
    let root = f.tenant(slug);
    let sys = Context::system(root.id);
    let mut out = vec![root];
    for i in 1..=depth {
        let parent = out[i - 1].id;
        let g = f
            .engine
            .write(&sys, |tx| {
                tx.create_group(
                    parent,
                    NewGroup::new(GroupType::Business, format!("L{i}"), format!("l{i}")),
                )
            })
            .unwrap();
        out.push(g);
    }
    out
}

fn person(f: &Fixture, root: GroupId, email: &str) -> ThingId {
    f.engine
        .write(&Context::system(root), |tx| {
            tx.create_person(NewPerson::new(email, email))
        })
        .unwrap()
        .id
}

fn join(f: &Fixture, root: GroupId, who: ThingId, group: GroupId, role: &str, perms: &[&str]) {
    f.engine
        .write(&Context::system(root), |tx| {
            tx.add_member(who, group, role, perms)
        })
        .unwrap();
}

fn denied_events(f: &Fixture, root: GroupId, group: GroupId) -> Vec<Event> {
    f.engine
        .read(&Context::system(root), |v| {
            v.events(&EventQuery::latest().group(group).kind(kinds::ACCESS_DENIED))
        })
        .unwrap()
        .items
}

#[test]
fn a_person_without_a_membership_meets_the_group_as_unknown_and_nothing_is_logged() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let bob = person(&f, root, "bob@acme.io");
    let as_bob = Context::person(bob, root);
    let err = f
        .engine
        .write(&as_bob, |tx| tx.create_thing(NewThing::new("note", "n")))
        .unwrap_err();
    // Bob may not even see the group: the answer is the one for an unknown id.
    let unknown = GroupId::from_u128(root.to_u128() + 1);
    let unknown_err = f
        .engine
        .write(&Context::system(root), |tx| {
            tx.create_thing(NewThing::new("note", "n").in_group(unknown))
        })
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string().replace(&root.to_string(), "ID"),
        unknown_err.to_string().replace(&unknown.to_string(), "ID")
    );
    let read = f
        .engine
        .read(&as_bob, |v| v.things(&ThingQuery::of_type("note")));
    assert!(matches!(read, Err(Error::NotFound { .. })), "{read:?}");
    assert!(denied_events(&f, root, root).is_empty());
}

#[test]
fn a_member_who_sees_a_group_is_refused_by_name_and_each_refusal_is_logged() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let bob = person(&f, root, "bob@acme.io");
    join(&f, root, bob, root, "group_user", &["groups:read"]);
    let as_bob = Context::person(bob, root);
    let err = f
        .engine
        .write(&as_bob, |tx| tx.create_thing(NewThing::new("note", "n")))
        .unwrap_err();
    match &err {
        Error::Forbidden { needed, group } => {
            assert_eq!(*needed, Permission::ThingsWrite);
            assert_eq!(group, &root.to_string());
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert_eq!(err.code(), 300);
    let read = f
        .engine
        .read(&as_bob, |v| v.things(&ThingQuery::of_type("note")));
    assert!(matches!(
        read,
        Err(Error::Forbidden {
            needed: Permission::ThingsRead,
            ..
        })
    ));
    let denied = denied_events(&f, root, root);
    assert_eq!(denied.len(), 2);
    assert_eq!(denied[0].actor, Principal::Person(bob));
    assert_eq!(
        denied[0].metadata.get_path("needed"),
        Some(&Value::from("things:read"))
    );
    // Asking first logs nothing.
    assert!(!f.engine.can(&as_bob, Permission::ThingsWrite, root));
    assert_eq!(denied_events(&f, root, root).len(), 2);
}

#[test]
fn coarse_permissions_and_roles_decide_what_a_member_may_do() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let reader = person(&f, root, "r@acme.io");
    let user = person(&f, root, "u@acme.io");
    join(&f, root, reader, root, "group_user", &["read"]);
    join(&f, root, user, root, "group_user", &[]);
    let can = |p: ThingId, perm: Permission| f.engine.can(&Context::person(p, root), perm, root);
    assert!(can(reader, Permission::ThingsRead));
    assert!(!can(reader, Permission::ThingsWrite));
    assert!(can(user, Permission::ThingsWrite));
    assert!(!can(user, Permission::MembersManage));
    assert!(!can(user, Permission::BillingManage));
    let note = f
        .engine
        .write(&Context::person(user, root), |tx| {
            tx.create_thing(NewThing::new("note", "hello"))
        })
        .unwrap();
    let seen = f
        .engine
        .read(&Context::person(reader, root), |v| v.get_thing(note.id))
        .unwrap();
    assert_eq!(seen.id, note.id);
    let changed = f.engine.write(&Context::person(reader, root), |tx| {
        tx.update_thing(note.id, ThingUpdate::default().name("x"))
    });
    assert!(matches!(changed, Err(Error::Forbidden { .. })));
}

#[test]
fn parent_access_setting_decides_what_flows_down() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 2);
    let (root, mid, leaf) = (g[0].id, g[1].id, g[2].id);
    let sys = Context::system(root);
    let owner = person(&f, root, "o@acme.io");
    let user = person(&f, root, "u@acme.io");
    join(&f, root, owner, root, "org_owner", &[]);
    join(&f, root, user, root, "org_user", &["write"]);
    let can = |p: ThingId, perm: Permission, at: GroupId| {
        f.engine.can(&Context::person(p, root), perm, at)
    };
    // Default `admins`: owners reach children, plain users do not.
    assert!(can(owner, Permission::ThingsWrite, leaf));
    assert!(!can(user, Permission::ThingsRead, mid));
    assert!(can(user, Permission::ThingsRead, root));
    // `members` on mid lets the user into mid, but leaf (default) still stops them.
    f.engine
        .write(&sys, |tx| {
            tx.update_group(
                mid,
                GroupUpdate::default().properties(json(
                    serde_json::json!({"settings": {"parentAccess": "members"}}),
                )),
            )
        })
        .unwrap();
    assert!(can(user, Permission::ThingsRead, mid));
    assert!(!can(user, Permission::ThingsRead, leaf));
    // `none` on mid cuts the owner off from mid and everything below it.
    f.engine
        .write(&sys, |tx| {
            tx.update_group(
                mid,
                GroupUpdate::default().properties(json(
                    serde_json::json!({"settings": {"parentAccess": "none"}}),
                )),
            )
        })
        .unwrap();
    assert!(!can(owner, Permission::ThingsRead, mid));
    assert!(!can(owner, Permission::ThingsRead, leaf));
    assert!(can(owner, Permission::ThingsRead, root));
    // Listing the tree leaves out what the owner may no longer read.
    let seen: Vec<GroupId> = f
        .engine
        .read(&Context::person(owner, root), |v| v.subtree(root))
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(seen, [root]);
    let children = f
        .engine
        .read(&Context::person(owner, root), |v| {
            v.children(root, None, None)
        })
        .unwrap();
    assert!(children.items.is_empty());
    // A bad setting is refused by name.
    let bad = f.engine.write(&sys, |tx| {
        tx.update_group(
            mid,
            GroupUpdate::default().properties(json(
                serde_json::json!({"settings": {"parentAccess": "everyone"}}),
            )),
        )
    });
    assert!(bad.unwrap_err().to_string().contains("parentAccess"));
}

#[test]
fn invitations_roles_and_the_last_owner() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 1);
    let (root, team) = (g[0].id, g[1].id);
    let sys = Context::system(root);
    let ann = person(&f, root, "ann@acme.io");
    let ben = person(&f, root, "ben@acme.io");
    join(&f, root, ann, team, "group_owner", &[]);
    f.engine
        .write(&Context::person(ann, root), |tx| {
            tx.invite_member(ben, team, "group_user", &["read"])
        })
        .unwrap();
    let as_ben = Context::person(ben, team);
    assert!(!f.engine.can(&as_ben, Permission::ThingsRead, team));
    // Someone else cannot accept for Ben.
    let carl = person(&f, root, "carl@acme.io");
    let stolen = f.engine.write(&Context::person(carl, team), |tx| {
        tx.accept_invitation(ben, team)
    });
    // Carl holds nothing in the team: he meets it as an unknown id.
    assert!(matches!(stolen, Err(Error::NotFound { .. })), "{stolen:?}");
    f.engine
        .write(&as_ben, |tx| tx.accept_invitation(ben, team))
        .unwrap();
    assert!(f.engine.can(&as_ben, Permission::ThingsRead, team));
    assert!(!f.engine.can(&as_ben, Permission::ThingsWrite, team));

    // A user cannot give what they do not hold.
    let grab = f
        .engine
        .write(&as_ben, |tx| tx.change_role(ben, team, "group_owner", &[]));
    assert!(matches!(grab, Err(Error::Forbidden { .. })));
    f.engine
        .write(&Context::person(ann, team), |tx| {
            tx.change_role(ben, team, "group_user", &["write"])
        })
        .unwrap();
    assert!(f.engine.can(&as_ben, Permission::ThingsWrite, team));

    // The last owner can neither leave nor be demoted.
    let leave = f.engine.write(&Context::person(ann, team), |tx| {
        tx.remove_member(ann, team)
    });
    assert!(matches!(leave, Err(Error::LastOwner { .. })));
    let demote = f
        .engine
        .write(&sys, |tx| tx.change_role(ann, team, "group_user", &[]));
    assert!(matches!(demote, Err(Error::LastOwner { .. })));
    // With a second owner, the first may go.
    f.engine
        .write(&sys, |tx| tx.change_role(ben, team, "group_owner", &[]))
        .unwrap();
    f.engine
        .write(&Context::person(ann, team), |tx| {
            tx.remove_member(ann, team)
        })
        .unwrap();
    assert!(
        !f.engine
            .can(&Context::person(ann, team), Permission::ThingsRead, team)
    );
    let kinds: Vec<String> = f
        .engine
        .read(&sys, |v| {
            v.events(&EventQuery::latest().group(team).target(ann))
        })
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["user_removed_from_group", "user_joined_group"]);
    let ben_events: Vec<String> = f
        .engine
        .read(&sys, |v| {
            v.events(&EventQuery::latest().group(team).target(ben))
        })
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        ben_events,
        [
            "user_role_changed",
            "user_role_changed",
            "user_joined_group",
            "user_invited_to_group"
        ]
    );
}

#[test]
fn unknown_permission_strings_are_refused_and_change_nothing() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let ann = person(&f, root, "ann@acme.io");
    let before = f.dump();
    let err = f
        .engine
        .write(&Context::system(root), |tx| {
            tx.add_member(ann, root, "group_user", &["things:fly"])
        })
        .unwrap_err();
    assert!(err.to_string().contains("things:fly"), "{err}");
    assert_eq!(f.dump(), before);
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn api_keys_act_with_their_permissions_and_are_refused_when_revoked_expired_or_elsewhere() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 1);
    let (root, team) = (g[0].id, g[1].id);
    let sys = Context::system(root);
    let made = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(
                NewApiKey::new("ci", &["things:read", "things:write"])
                    .in_group(team)
                    .allow_ips(&["10.0.0.0/8", "2001:db8::/32"])
                    .expires_at(f.clock.now().plus_millis(60_000)),
            )
        })
        .unwrap();
    let secret = made.secret.expose().to_string();
    assert!(secret.starts_with("ok_live_"));
    assert_eq!(made.key.prefix, secret[..12]);
    assert!(!format!("{made:?}").contains(&secret[12..]));

    let ctx = f
        .engine
        .context_for_api_key(&secret, ip("10.1.2.3"))
        .unwrap();
    assert_eq!(ctx.principal(), Principal::ApiKey(made.key.id));
    assert_eq!(ctx.group(), team);
    f.engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("build", "b1")))
        .unwrap();
    // No permission beyond the key's; no reach above its group.
    let refused = f.engine.read(&ctx, |v| v.events(&EventQuery::latest()));
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    assert!(
        !f.engine
            .can(&ctx.in_group(root), Permission::ThingsRead, root)
    );
    assert!(
        f.engine
            .context_for_api_key(&secret, ip("2001:db8::9"))
            .is_ok()
    );

    // Outside the allow-list, or with no address.
    let outside = f.engine.context_for_api_key(&secret, ip("192.168.0.1"));
    assert!(matches!(outside, Err(Error::IpNotAllowed { .. })));
    assert!(matches!(
        f.engine.context_for_api_key(&secret, None),
        Err(Error::IpNotAllowed { .. })
    ));

    // A typo is caught by the checksum; a well-formed unknown key is unknown.
    let mut typo = secret.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    assert!(matches!(
        f.engine.context_for_api_key(&typo, ip("10.0.0.1")),
        Err(Error::InvalidCredentials)
    ));
    for junk in [
        "",
        "ok_live_",
        "Bearer x",
        "ok_sess_0000000000000000000000000000000000000",
    ] {
        assert!(matches!(
            f.engine.context_for_api_key(junk, ip("10.0.0.1")),
            Err(Error::InvalidCredentials)
        ));
    }

    // Revocation holds for the next call, and for a context already handed out.
    f.engine
        .write(&sys, |tx| tx.revoke_api_key(made.key.id))
        .unwrap();
    assert!(matches!(
        f.engine.context_for_api_key(&secret, ip("10.0.0.1")),
        Err(Error::Revoked)
    ));
    let late = f
        .engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("build", "b2")));
    // A revoked key holds nothing, so it sees nothing either.
    assert!(matches!(late, Err(Error::NotFound { .. })), "{late:?}");

    // Expiry, by the injected clock.
    let short = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(
                NewApiKey::new("short", &["read"]).expires_at(f.clock.now().plus_millis(1000)),
            )
        })
        .unwrap();
    let short_ctx = f
        .engine
        .context_for_api_key(short.secret.expose(), None)
        .unwrap();
    assert!(f.engine.can(&short_ctx, Permission::ThingsRead, root));
    f.clock.advance(1000);
    assert!(matches!(
        f.engine.context_for_api_key(short.secret.expose(), None),
        Err(Error::Expired)
    ));
    assert!(!f.engine.can(&short_ctx, Permission::ThingsRead, root));
}

#[test]
fn a_key_never_has_more_than_its_creator() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let sys = Context::system(root);
    let dev = person(&f, root, "dev@acme.io");
    join(&f, root, dev, root, "group_user", &["read", "keys:manage"]);
    let as_dev = Context::person(dev, root);
    let greedy = f.engine.write(&as_dev, |tx| {
        tx.create_api_key(NewApiKey::new("greedy", &["write"]))
    });
    match greedy {
        Err(Error::Forbidden { needed, .. }) => assert_eq!(needed, Permission::ThingsWrite),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    let key = f
        .engine
        .write(&as_dev, |tx| {
            tx.create_api_key(NewApiKey::new("ro", &["read"]))
        })
        .unwrap();
    let ctx = f
        .engine
        .context_for_api_key(key.secret.expose(), None)
        .unwrap();
    assert!(f.engine.can(&ctx, Permission::ThingsRead, root));
    // The creator loses the membership: the key loses what it had through them.
    f.engine
        .write(&sys, |tx| tx.remove_member(dev, root))
        .unwrap();
    assert!(!f.engine.can(&ctx, Permission::ThingsRead, root));
    // A key cannot mint keys.
    let admin_key = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new("admin", &["*"]))
        })
        .unwrap();
    let admin_ctx = f
        .engine
        .context_for_api_key(admin_key.secret.expose(), None)
        .unwrap();
    let minted = f.engine.write(&admin_ctx, |tx| {
        tx.create_api_key(NewApiKey::new("child", &["read"]))
    });
    assert!(matches!(minted, Err(Error::Forbidden { .. })));
}

#[test]
fn keys_are_listed_without_secrets_rotated_and_counted() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let sys = Context::system(root);
    let made = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new("app", &["read"]))
        })
        .unwrap();
    for _ in 0..3 {
        f.engine
            .context_for_api_key(made.secret.expose(), None)
            .unwrap();
    }
    let listed = f.engine.read(&sys, |v| v.api_keys(root)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].calls_this_month, 3);
    assert_eq!(listed[0].last_used_at, Some(f.clock.now()));
    assert!(!format!("{listed:?}").contains(&made.secret.expose()[12..]));
    // Counts survive a flush.
    f.engine.flush_meters().unwrap();
    let listed = f.engine.read(&sys, |v| v.api_keys(root)).unwrap();
    assert_eq!(listed[0].calls_this_month, 3);

    let rotated = f
        .engine
        .write(&sys, |tx| tx.rotate_api_key(made.key.id))
        .unwrap();
    assert_ne!(rotated.secret, made.secret);
    assert_eq!(rotated.key.permissions, made.key.permissions);
    assert!(matches!(
        f.engine.context_for_api_key(made.secret.expose(), None),
        Err(Error::Revoked)
    ));
    f.engine
        .context_for_api_key(rotated.secret.expose(), None)
        .unwrap();
    let listed = f.engine.read(&sys, |v| v.api_keys(root)).unwrap();
    let statuses: Vec<KeyStatus> = listed.iter().map(|k| k.status).collect();
    assert_eq!(statuses, [KeyStatus::Revoked, KeyStatus::Active]);
    let kinds: Vec<String> = f
        .engine
        .read(&sys, |v| v.events(&EventQuery::latest().limit(3)))
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["api_key_rotated", "api_key_revoked", "api_key_created"]
    );
}

#[test]
fn a_test_key_writes_the_sandbox_and_never_sees_live_data() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let sys = Context::system(root);
    let live_thing = f
        .engine
        .write(&sys, |tx| tx.create_thing(NewThing::new("order", "live")))
        .unwrap();
    let key = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new("sandbox", &["write"]).env(Env::Test))
        })
        .unwrap();
    assert!(key.secret.expose().starts_with("ok_test_"));
    let ctx = f
        .engine
        .context_for_api_key(key.secret.expose(), None)
        .unwrap();
    assert_eq!(ctx.env(), Env::Test);
    let test_thing = f
        .engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("order", "test")))
        .unwrap();
    let seen = f
        .engine
        .read(&ctx, |v| v.things(&ThingQuery::of_type("order")))
        .unwrap();
    assert_eq!(seen.items, vec![test_thing.clone()]);
    assert!(matches!(
        f.engine.read(&ctx, |v| v.get_thing(live_thing.id)),
        Err(Error::NotFound { .. })
    ));
    let live = f
        .engine
        .read(&sys, |v| v.things(&ThingQuery::of_type("order")))
        .unwrap();
    assert_eq!(live.items, vec![live_thing]);
    // Moved to the live environment by hand, the key can do nothing.
    assert!(
        !f.engine
            .can(&ctx.with_env(Env::Live), Permission::ThingsRead, root)
    );
}

#[test]
fn key_inputs_are_checked_by_name_and_change_nothing() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let sys = Context::system(root);
    let before = f.dump();
    for (new, field) in [
        (NewApiKey::new("", &["read"]), "name"),
        (NewApiKey::new("k", &["read", "nope"]), "permissions"),
        (
            NewApiKey::new("k", &["read"]).allow_ips(&["10.0.0.0/40"]),
            "allowed_ips",
        ),
        (
            NewApiKey::new("k", &["read"]).allow_ips(&["not an ip"]),
            "allowed_ips",
        ),
    ] {
        let err = f
            .engine
            .write(&sys, |tx| tx.create_api_key(new.clone()))
            .unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    assert_eq!(f.dump(), before);
}

#[test]
fn no_context_of_one_tenant_reaches_another_tenants_records() {
    let f = Fixture::new();
    let a = chain(&f, "alpha", 1);
    let b = chain(&f, "beta", 1);
    let (a_root, b_root) = (a[0].id, b[0].id);
    let b_sys = Context::system(b_root);
    // Real records of tenant B.
    let b_person = person(&f, b_root, "p@beta.io");
    join(&f, b_root, b_person, b_root, "org_owner", &[]);
    let b_thing = f
        .engine
        .write(&b_sys, |tx| {
            tx.create_thing(NewThing::new("doc", "secret plan"))
        })
        .unwrap();
    let b_conn = f
        .engine
        .write(&b_sys, |tx| {
            tx.connect(NewConnection::new(b_thing.id, "about", b[1].id))
        })
        .unwrap();
    let b_key = f
        .engine
        .write(&b_sys, |tx| tx.create_api_key(NewApiKey::new("k", &["*"])))
        .unwrap();

    // Every kind of context of tenant A, including an all-powerful one.
    let a_owner = person(&f, a_root, "o@alpha.io");
    join(&f, a_root, a_owner, a_root, "org_owner", &[]);
    let a_key = f
        .engine
        .write(&Context::system(a_root), |tx| {
            tx.create_api_key(NewApiKey::new("k", &["*"]))
        })
        .unwrap();
    let contexts = [
        Context::system(a_root),
        Context::person(a_owner, a_root),
        f.engine
            .context_for_api_key(a_key.secret.expose(), None)
            .unwrap(),
        // B's person, claimed in A's context: still only A's range.
        Context::person(b_person, a_root),
    ];
    let before = f.dump();
    for ctx in contexts {
        let e = &f.engine;
        let nf = |r: Result<()>| {
            assert!(
                matches!(r, Err(Error::NotFound { .. })),
                "{ctx:?} reached B: {r:?}"
            )
        };
        nf(e.read(&ctx, |v| v.get_thing(b_thing.id).map(drop)));
        nf(e.read(&ctx, |v| v.get_group(b[1].id).map(drop)));
        nf(e.read(&ctx, |v| v.get_connection(b_conn.id).map(drop)));
        nf(e.read(&ctx, |v| v.members(b_root, None, None).map(drop)));
        nf(e.read(&ctx, |v| {
            v.events(&EventQuery::latest().group(b_root)).map(drop)
        }));
        nf(e.read(&ctx, |v| {
            v.things(&ThingQuery::of_type("doc").group(b_root))
                .map(drop)
        }));
        nf(e.read(&ctx, |v| v.api_keys(b_root).map(drop)));
        nf(e.write(&ctx, |tx| {
            tx.update_thing(b_thing.id, ThingUpdate::default().name("pwned"))
                .map(drop)
        }));
        nf(e.write(&ctx, |tx| tx.delete_thing(b_thing.id).map(drop)));
        nf(e.write(&ctx, |tx| tx.disconnect(b_conn.id).map(drop)));
        nf(e.write(&ctx, |tx| {
            tx.create_thing(NewThing::new("doc", "x").in_group(b[1].id))
                .map(drop)
        }));
        nf(e.write(&ctx, |tx| {
            tx.create_group(b_root, NewGroup::new(GroupType::Dao, "x", "x"))
                .map(drop)
        }));
        nf(e.write(&ctx, |tx| {
            tx.add_member(b_person, b_root, "x_owner", &[]).map(drop)
        }));
        nf(e.write(&ctx, |tx| tx.remove_member(b_person, b_root).map(drop)));
        nf(e.write(&ctx, |tx| tx.revoke_api_key(b_key.key.id).map(drop)));
        nf(e.write(&ctx, |tx| {
            tx.connect(NewConnection::new(b_thing.id, "x", b_root))
                .map(drop)
        }));
        assert!(!e.can(&ctx, Permission::ThingsRead, b_root));
    }
    // A's failed attempts may have logged events in A; B is exactly as it was.
    let b_range = |d: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut prefix = vec![b'T'];
        prefix.extend_from_slice(&b_root.to_be_bytes());
        d.into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .collect()
    };
    assert_eq!(b_range(f.dump()), b_range(before));
}

#[test]
fn a_refusal_is_logged_even_when_the_caller_swallows_it_or_is_inside_a_write() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let sys = Context::system(root);
    let bob = person(&f, root, "bob@acme.io");
    join(&f, root, bob, root, "group_user", &["groups:read"]);
    let as_bob = Context::person(bob, root);
    // The closure ignores the refusal and commits what it may do.
    f.engine
        .write(&as_bob, |tx| {
            let _ = tx.create_thing(NewThing::new("note", "n"));
            Ok(())
        })
        .unwrap();
    assert_eq!(denied_events(&f, root, root).len(), 1);
    // A refused read inside another write transaction on the same thread is logged when
    // that transaction ends.
    f.engine
        .write(&sys, |tx| {
            let r = f
                .engine
                .read(&as_bob, |v| v.things(&ThingQuery::of_type("note")));
            assert!(matches!(r, Err(Error::Forbidden { .. })));
            tx.create_thing(NewThing::new("note", "by the system"))
        })
        .unwrap();
    let denied = denied_events(&f, root, root);
    assert_eq!(denied.len(), 2);
    assert_eq!(
        denied[0].metadata.get_path("needed"),
        Some(&Value::from("things:read"))
    );
}

#[test]
fn a_revocation_holds_for_every_call_that_starts_after_it_in_any_thread() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let f = Arc::new(Fixture::new());
    let g = chain(&f, "acme", 1);
    let (root, team) = (g[0].id, g[1].id);
    let sys = Context::system(root);
    let key = f
        .engine
        .write(&sys, |tx| tx.create_api_key(NewApiKey::new("k", &["read"])))
        .unwrap();
    let ctx = f
        .engine
        .context_for_api_key(key.secret.expose(), None)
        .unwrap();
    let revoked = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (f, revoked, secret) = (f.clone(), revoked.clone(), key.secret.clone());
            std::thread::spawn(move || {
                let mut after = 0;
                while after < 200 {
                    let was_revoked = revoked.load(Ordering::SeqCst);
                    let allowed = f.engine.can(&ctx, Permission::ThingsRead, team);
                    let resolved = f.engine.context_for_api_key(secret.expose(), None);
                    if was_revoked {
                        assert!(!allowed, "a revoked key was allowed");
                        assert!(matches!(resolved, Err(Error::Revoked)));
                        after += 1;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    f.engine
        .write(&sys, |tx| tx.revoke_api_key(key.key.id))
        .unwrap();
    revoked.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn nobody_removes_or_demotes_someone_more_powerful() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 0);
    let root = g[0].id;
    let owner = person(&f, root, "owner@acme.io");
    let admin = person(&f, root, "admin@acme.io");
    let user = person(&f, root, "user@acme.io");
    join(&f, root, owner, root, "org_owner", &[]);
    join(&f, root, admin, root, "org_admin", &[]);
    join(&f, root, user, root, "org_user", &[]);
    let as_admin = Context::person(admin, root);
    let before = f.dump();
    for r in [
        f.engine
            .write(&as_admin, |tx| tx.remove_member(owner, root)),
        f.engine
            .write(&as_admin, |tx| tx.change_role(owner, root, "org_user", &[])),
    ] {
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    }
    // Only the two refusals were logged.
    let changed: Vec<_> = f
        .dump()
        .into_iter()
        .filter(|kv| !before.contains(kv))
        .collect();
    assert!(!changed.is_empty());
    assert_eq!(denied_events(&f, root, root).len(), 2);
    // A less powerful member is fine.
    f.engine
        .write(&as_admin, |tx| tx.remove_member(user, root))
        .unwrap();
}

#[test]
fn a_group_made_by_a_transaction_that_failed_stays_unknown() {
    let f = Fixture::new();
    let g = chain(&f, "acme", 1);
    let (root, team) = (g[0].id, g[1].id);
    let sys = Context::system(root);
    let mut made = None;
    // The transaction creates a group, reads it and writes into it, then fails: nothing
    // it saw of the group may outlive it, in the store or in any cache.
    let failed = f.engine.write(&sys, |tx| {
        let child = tx.create_group(team, NewGroup::new(GroupType::Business, "Gone", "gone"))?;
        made = Some(child.id);
        tx.view().get_group(child.id)?;
        tx.create_thing(NewThing::new("note", "n").in_group(child.id))?;
        Err::<(), _>(Error::invalid("test", "roll back"))
    });
    assert!(failed.is_err());
    let gone = made.unwrap();
    for _ in 0..2 {
        let read = f.engine.read(&sys, |v| v.get_group(gone));
        assert!(matches!(read, Err(Error::NotFound { .. })), "{read:?}");
        let write = f.engine.write(&sys, |tx| {
            tx.create_thing(NewThing::new("note", "n").in_group(gone))
        });
        assert!(matches!(write, Err(Error::NotFound { .. })), "{write:?}");
        assert!(!f.engine.can(&sys, Permission::ThingsRead, gone));
    }
}

#[test]
fn a_moved_group_is_reached_from_its_new_parent_at_once() {
    let f = Fixture::new();
    let root = f.tenant("acme").id;
    let sys = Context::system(root);
    let (a, b, x) = f
        .engine
        .write(&sys, |tx| {
            let a = tx.create_group(root, NewGroup::new(GroupType::Business, "A", "a"))?;
            let b = tx.create_group(root, NewGroup::new(GroupType::Business, "B", "b"))?;
            let x = tx.create_group(a.id, NewGroup::new(GroupType::Business, "X", "x"))?;
            Ok((a.id, b.id, x.id))
        })
        .unwrap();
    let thing = f
        .engine
        .write(&sys, |tx| {
            tx.create_thing(NewThing::new("note", "n").in_group(x))
        })
        .unwrap()
        .id;
    let admin = person(&f, root, "admin@acme.io");
    join(&f, root, admin, a, "group_admin", &["admin"]);
    let (from_a, from_b) = (Context::system(a), Context::system(b));
    // Warm every cache: the tree, the person's memberships, the answers.
    for _ in 0..2 {
        assert!(f.engine.read(&from_a, |v| v.get_thing(thing)).is_ok());
        assert!(f.engine.read(&from_b, |v| v.get_thing(thing)).is_err());
        assert!(
            f.engine
                .can(&Context::person(admin, root), Permission::ThingsWrite, x)
        );
    }
    f.engine
        .write(&sys, |tx| {
            tx.update_group(x, GroupUpdate::default().parent(b))
        })
        .unwrap();
    assert!(matches!(
        f.engine.read(&from_a, |v| v.get_thing(thing)),
        Err(Error::NotFound { .. })
    ));
    assert!(f.engine.read(&from_b, |v| v.get_thing(thing)).is_ok());
    assert!(
        !f.engine
            .can(&Context::person(admin, root), Permission::ThingsWrite, x)
    );
}

#[test]
fn a_person_in_more_groups_than_are_kept_in_memory_is_checked_exactly() {
    let f = Fixture::new();
    let root = f.tenant("acme").id;
    let sys = Context::system(root);
    // More memberships than the access cache lists for one person (16).
    let groups: Vec<GroupId> = f
        .engine
        .write(&sys, |tx| {
            (0..70)
                .map(|i| {
                    let name = format!("g{i}");
                    Ok(tx
                        .create_group(root, NewGroup::new(GroupType::Business, &name, &name))?
                        .id)
                })
                .collect::<Result<Vec<_>>>()
        })
        .unwrap();
    let busy = person(&f, root, "busy@acme.io");
    for (i, g) in groups.iter().enumerate() {
        let perms: &[&str] = if i % 2 == 0 {
            &["read", "write"]
        } else {
            &["read"]
        };
        join(&f, root, busy, *g, "member", perms);
    }
    let ctx = Context::person(busy, root);
    for _ in 0..2 {
        for (i, g) in groups.iter().enumerate() {
            assert!(f.engine.can(&ctx, Permission::ThingsRead, *g), "read g{i}");
            assert_eq!(
                f.engine.can(&ctx, Permission::ThingsWrite, *g),
                i % 2 == 0,
                "write g{i}"
            );
        }
        assert!(!f.engine.can(&ctx, Permission::ThingsRead, root));
    }
    f.engine
        .write(&sys, |tx| tx.remove_member(busy, groups[68]))
        .unwrap();
    assert!(!f.engine.can(&ctx, Permission::ThingsRead, groups[68]));
    assert!(f.engine.can(&ctx, Permission::ThingsWrite, groups[66]));
}

#[test]
fn a_person_who_deletes_themselves_holds_nothing_for_the_rest_of_that_call() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let p = person(&f, g.id, "p@acme.io");
    join(&f, g.id, p, g.id, "group_admin", &["admin"]);
    let me = Context::person(p, g.id);
    // The tenant boundary reads the person (active) at the start of the call; the
    // permission checks after the deletion must not use that read.
    let r = f.engine.write(&me, |tx| {
        tx.create_thing(NewThing::new("note", "before"))?;
        tx.delete_thing(p)?;
        tx.create_thing(NewThing::new("note", "after"))
    });
    assert!(
        matches!(r, Err(Error::Forbidden { .. } | Error::NotFound { .. })),
        "{r:?}"
    );
    // The same for a person who leaves the group: nothing the transaction checked
    // before is taken as still allowed.
    let q = person(&f, g.id, "q@acme.io");
    join(&f, g.id, q, g.id, "group_admin", &["admin"]);
    let before = f.dump();
    let r = f.engine.write(&Context::person(q, g.id), |tx| {
        tx.create_thing(NewThing::new("note", "before"))?;
        tx.remove_member(q, g.id)?;
        tx.create_thing(NewThing::new("note", "after"))
    });
    assert!(
        matches!(r, Err(Error::Forbidden { .. } | Error::NotFound { .. })),
        "{r:?}"
    );
    assert_eq!(f.dump(), before, "a refused transaction writes nothing");
    // Deleted, the person's next call holds nothing from its first check.
    f.engine
        .write(&Context::system(g.id), |tx| tx.delete_thing(p))
        .unwrap();
    assert!(!f.engine.can(&me, Permission::ThingsRead, g.id));
    assert!(
        f.engine
            .read(&me, |v| v.things(&ThingQuery::all().group(g.id)))
            .is_err()
    );
}
