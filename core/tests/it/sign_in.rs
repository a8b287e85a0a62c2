//! Sign-up, sign-in, sessions, one-time tokens and external identities.

use one_core::*;

use crate::{Fixture, PASSWORD, json};

fn settings(f: &Fixture, group: GroupId, s: serde_json::Value) {
    f.engine
        .write(&Context::system(group), |tx| {
            tx.update_group(
                group,
                GroupUpdate::default().properties(json(serde_json::json!({ "settings": s }))),
            )
        })
        .unwrap();
}

/// The latest 100 events of `group`, newest first.
fn events(f: &Fixture, group: GroupId) -> Vec<Event> {
    f.engine
        .read(&Context::system(group), |v| {
            v.events(&EventQuery::latest().group(group).limit(100))
        })
        .unwrap()
        .items
}

fn kinds_of(f: &Fixture, group: GroupId) -> Vec<String> {
    events(f, group).into_iter().map(|e| e.kind).collect()
}

/// The events of `group` of one kind, newest first.
fn events_of(f: &Fixture, group: GroupId, kind: &str) -> Vec<Event> {
    events(f, group)
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

/// Tenant `acme` with Ann signed up and signed in twice, as the application.
struct Ann {
    f: Fixture,
    g: Group,
    app: Context,
    up: SignedUp,
    first: Session,
    second: Session,
}

fn ann_signed_in_twice() -> Ann {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    let (up, first) = f.signed_in(&app, g.id, "ann@acme.io");
    let second = f
        .engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    Ann {
        f,
        g,
        app,
        up,
        first,
        second,
    }
}

#[test]
fn sign_up_sign_in_session_and_sign_out() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    let up = f
        .engine
        .sign_up(&app, g.id, " Ann@Acme.io ", PASSWORD, "Ann")
        .unwrap();
    assert_eq!(
        up.person.properties.get_path("email"),
        Some(&Value::from("ann@acme.io"))
    );
    let session = f
        .engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    assert!(session.token.expose().starts_with("ok_sess_"));
    let ctx = f
        .engine
        .context_for_session(session.token.expose())
        .unwrap();
    assert_eq!(ctx.principal(), Principal::Person(up.person.id));
    // A signed-up person is a group_user: they may write things.
    f.engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("note", "mine")))
        .unwrap();

    f.engine.sign_out(session.token.expose()).unwrap();
    assert!(matches!(
        f.engine.context_for_session(session.token.expose()),
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        f.engine.sign_out(session.token.expose()),
        Err(Error::InvalidCredentials)
    ));
    let k = kinds_of(&f, g.id);
    for want in ["sign_up", "sign_in", "sign_out", "user_joined_group"] {
        assert!(k.iter().any(|x| x == want), "{want} missing from {k:?}");
    }
}

#[test]
fn wrong_password_and_unknown_email_fail_alike_and_are_logged() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    f.engine
        .sign_up(&app, g.id, "ann@acme.io", PASSWORD, "Ann")
        .unwrap();
    let wrong = f
        .engine
        .sign_in(&app, g.id, "ann@acme.io", "wrong password");
    let unknown = f.engine.sign_in(&app, g.id, "nobody@acme.io", PASSWORD);
    let malformed = f.engine.sign_in(&app, g.id, "not an email", PASSWORD);
    for r in [&wrong, &unknown, &malformed] {
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
    }
    assert_eq!(
        wrong.unwrap_err().to_string(),
        unknown.unwrap_err().to_string()
    );
    let failed = kinds_of(&f, g.id)
        .into_iter()
        .filter(|k| k == "sign_in_failed")
        .count();
    assert_eq!(failed, 2);
}

#[test]
fn sessions_expire_and_end_everywhere() {
    let Ann {
        f,
        g,
        app,
        up,
        first: one,
        second: two,
    } = ann_signed_in_twice();
    let as_ann = f.engine.context_for_session(one.token.expose()).unwrap();
    let ended = f
        .engine
        .write(&as_ann, |tx| tx.sign_out_everywhere(up.person.id))
        .unwrap();
    assert_eq!(ended, 2);
    for s in [&one, &two] {
        assert!(f.engine.context_for_session(s.token.expose()).is_err());
    }
    let three = f
        .engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    f.clock
        .advance(f.engine.auth_config().session_ttl.as_millis() as u64);
    assert!(matches!(
        f.engine.context_for_session(three.token.expose()),
        Err(Error::Expired)
    ));
}

#[test]
fn group_settings_govern_sign_up_and_sign_in() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    settings(&f, g.id, serde_json::json!({"allowedDomains": ["acme.io"]}));
    let outsider = f.engine.sign_up(&app, g.id, "eve@evil.io", PASSWORD, "Eve");
    assert!(matches!(outsider, Err(Error::SignupNotAllowed { .. })));
    settings(
        &f,
        g.id,
        serde_json::json!({"requireEmailVerification": true}),
    );
    let up = f
        .engine
        .sign_up(&app, g.id, "ann@acme.io", PASSWORD, "Ann")
        .unwrap();
    assert!(matches!(
        f.engine.sign_in(&app, g.id, "ann@acme.io", PASSWORD),
        Err(Error::EmailNotVerified)
    ));
    assert_eq!(
        f.engine.verify_email(up.verification.expose()).unwrap(),
        up.person.id
    );
    // Single use.
    assert!(matches!(
        f.engine.verify_email(up.verification.expose()),
        Err(Error::InvalidCredentials)
    ));
    f.engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    settings(&f, g.id, serde_json::json!({"allowSignups": false}));
    let closed = f.engine.sign_up(&app, g.id, "bob@acme.io", PASSWORD, "Bob");
    assert!(matches!(closed, Err(Error::SignupNotAllowed { .. })));
    let dup = {
        settings(&f, g.id, serde_json::json!({"allowSignups": true}));
        f.engine
            .sign_up(&app, g.id, "ANN@acme.io", PASSWORD, "Ann 2")
    };
    assert!(matches!(dup, Err(Error::DuplicateEmail { .. })));
    assert!(matches!(
        f.engine.sign_up(&app, g.id, "bob@acme.io", "short", "Bob"),
        Err(Error::InvalidField { .. })
    ));
}

#[test]
fn sign_up_and_sign_in_need_their_permissions() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let reader = f
        .engine
        .write(&sys, |tx| tx.create_api_key(NewApiKey::new("r", &["read"])))
        .unwrap();
    let frontend = f
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new("web", &["auth:signup", "auth:signin"]))
        })
        .unwrap();
    let reader = f
        .engine
        .context_for_api_key(reader.secret.expose(), None)
        .unwrap();
    let web = f
        .engine
        .context_for_api_key(frontend.secret.expose(), None)
        .unwrap();
    assert!(matches!(
        f.engine
            .sign_up(&reader, g.id, "ann@acme.io", PASSWORD, "Ann"),
        Err(Error::Forbidden {
            needed: Permission::AuthSignup,
            ..
        })
    ));
    f.engine
        .sign_up(&web, g.id, "ann@acme.io", PASSWORD, "Ann")
        .unwrap();
    f.engine
        .sign_in(&web, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    assert!(matches!(
        f.engine.sign_in(&reader, g.id, "ann@acme.io", PASSWORD),
        Err(Error::Forbidden { .. })
    ));
}

#[test]
fn magic_links_and_external_identities_sign_in() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    let up = f
        .engine
        .sign_up(&app, g.id, "ann@acme.io", PASSWORD, "Ann")
        .unwrap();
    let link = f.engine.magic_link(&app, g.id, "ann@acme.io").unwrap();
    let session = f
        .engine
        .sign_in_with_magic_link(link.expose())
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(session.person, up.person.id);
    let verified = f.engine.read(&app, |v| v.get_thing(up.person.id)).unwrap();
    assert_eq!(
        verified.properties.get_path("email_verified"),
        Some(&Value::Bool(true))
    );
    assert!(matches!(
        f.engine.sign_in_with_magic_link(link.expose()),
        Err(Error::InvalidCredentials)
    ));
    // Expired links are refused.
    let late = f.engine.magic_link(&app, g.id, "ann@acme.io").unwrap();
    f.clock
        .advance(f.engine.auth_config().magic_link_ttl.as_millis() as u64);
    assert!(matches!(
        f.engine.sign_in_with_magic_link(late.expose()),
        Err(Error::Expired)
    ));
    // A verification token is not a magic link.
    assert!(matches!(
        f.engine.sign_in_with_magic_link(up.verification.expose()),
        Err(Error::InvalidCredentials)
    ));

    f.engine
        .write(&app, |tx| tx.link_identity(up.person.id, "github", "12345"))
        .unwrap();
    let s = f
        .engine
        .sign_in_external(&app, g.id, "github", "12345")
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(s.person, up.person.id);
    assert!(matches!(
        f.engine.sign_in_external(&app, g.id, "github", "99999"),
        Err(Error::InvalidCredentials)
    ));
    let methods: Vec<Value> = f
        .engine
        .read(&app, |v| {
            v.events(&EventQuery::latest().group(g.id).kind(kinds::SIGN_IN))
        })
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.metadata.get_path("method").cloned())
        .collect();
    assert_eq!(methods, [Value::from("github"), Value::from("magic_link")]);
}

#[test]
fn a_deleted_person_cannot_sign_in_or_use_a_session() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    let up = f
        .engine
        .sign_up(&app, g.id, "ann@acme.io", PASSWORD, "Ann")
        .unwrap();
    let s = f
        .engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    f.engine
        .write(&app, |tx| tx.delete_thing(up.person.id))
        .unwrap();
    assert!(f.engine.context_for_session(s.token.expose()).is_err());
    assert!(matches!(
        f.engine.sign_in(&app, g.id, "ann@acme.io", PASSWORD),
        Err(Error::InvalidCredentials)
    ));
    assert!(!f.engine.can(
        &Context::person(up.person.id, g.id),
        Permission::ThingsRead,
        g.id
    ));
}

#[test]
fn no_secret_is_stored_logged_or_printed() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    let up = f
        .engine
        .sign_up(&app, g.id, "ann@acme.io", PASSWORD, "Ann")
        .unwrap();
    let session = f
        .engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    let link = f.engine.magic_link(&app, g.id, "ann@acme.io").unwrap();
    let key = f
        .engine
        .write(&app, |tx| tx.create_api_key(NewApiKey::new("k", &["read"])))
        .unwrap();
    let _ = f
        .engine
        .sign_in(&app, g.id, "ann@acme.io", "wrong but secret");
    f.engine
        .context_for_api_key(key.secret.expose(), None)
        .unwrap();
    f.engine.flush_meters().unwrap();
    let secrets = [
        PASSWORD.to_string(),
        "wrong but secret".to_string(),
        session.token.expose().to_string(),
        link.expose().to_string(),
        up.verification.expose().to_string(),
        key.secret.expose().to_string(),
    ];
    // Every stored byte: the random part of each secret must appear nowhere.
    let dump = f.dump();
    for s in &secrets {
        let needle = &s.as_bytes()[s.len().min(12)..];
        for (k, v) in &dump {
            assert!(
                !k.windows(needle.len()).any(|w| w == needle)
                    && !v.windows(needle.len()).any(|w| w == needle),
                "a secret is stored in clear"
            );
        }
    }
    // Debug output of what the calls returned.
    let printed = format!("{up:?}{session:?}{key:?}{link:?}");
    for s in &secrets[2..] {
        assert!(!printed.contains(&s[12..]), "{printed}");
    }
    // Events, as JSON.
    let events = f
        .engine
        .read(&app, |v| v.events(&EventQuery::latest().limit(1000)))
        .unwrap();
    let text = format!("{:?}", events.items);
    for s in &secrets {
        assert!(!text.contains(&s[s.len().min(12)..]));
    }
}

#[test]
fn a_sign_in_keeps_what_the_caches_know_and_a_sign_out_forgets_it() {
    let f = Fixture::new();
    let root = f.tenant("acme");
    let app = Context::system(root.id);
    let (up, first) = f.signed_in(&app, root.id, "ann@example.com");
    let ann = Context::person(up.person.id, root.id);
    assert!(f.engine.can(&ann, Permission::ThingsRead, root.id));
    let epoch = || one_core::testkit::access_epoch(&f.engine);
    let before = epoch();
    let second = f
        .engine
        .sign_in(&app, root.id, "ann@example.com", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(epoch(), before, "a sign-in forgot the cached permissions");
    // Both sessions work at once; ending one forgets, and refuses it from then on.
    for session in [&first, &second] {
        f.engine
            .context_for_session(session.token.expose())
            .unwrap();
    }
    f.engine.sign_out(first.token.expose()).unwrap();
    assert_ne!(epoch(), before);
    assert!(f.engine.context_for_session(first.token.expose()).is_err());
    f.engine.context_for_session(second.token.expose()).unwrap();
}

const NEW_PASSWORD: &str = "a brand new passphrase";

#[test]
fn a_reset_token_sets_a_new_password_once_and_ends_every_session() {
    let Ann {
        f,
        g,
        app,
        up,
        first,
        second,
    } = ann_signed_in_twice();
    let token = f
        .engine
        .password_reset(&app, g.id, "ANN@acme.io")
        .unwrap()
        .expect("ann has an account");
    // A new password that breaks the rules is refused before the token is used.
    assert!(f.engine.reset_password(token.expose(), "short").is_err());
    let person = f
        .engine
        .reset_password(token.expose(), NEW_PASSWORD)
        .unwrap();
    assert_eq!(person, up.person.id);
    // Every session ended, a thief's among them; the old password is gone.
    for session in [&first, &second] {
        assert!(
            f.engine
                .context_for_session(session.token.expose())
                .is_err()
        );
    }
    assert!(matches!(
        f.engine.sign_in(&app, g.id, "ann@acme.io", PASSWORD),
        Err(Error::InvalidCredentials)
    ));
    f.engine
        .sign_in(&app, g.id, "ann@acme.io", NEW_PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    // Once only.
    assert!(matches!(
        f.engine
            .reset_password(token.expose(), "another new passphrase"),
        Err(Error::InvalidCredentials)
    ));
    let reset = events_of(&f, g.id, "password_reset");
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0].target, Some(Ref::from(person)));
    assert_eq!(reset[0].metadata.get_path("sessions"), Some(&Value::Int(2)));
    assert_eq!(events_of(&f, g.id, "password_reset_requested").len(), 1);
    // The token reached the address: the email is verified.
    let ann = f.engine.read(&app, |v| v.get_thing(person)).unwrap();
    assert_eq!(
        ann.properties.get_path("email_verified"),
        Some(&Value::Bool(true))
    );
    // Neither the token nor the new password is stored anywhere.
    for secret in [&token.expose()[12..], NEW_PASSWORD] {
        for (k, v) in f.dump() {
            let found = |b: &[u8]| b.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found(&k) && !found(&v), "{secret} is stored in clear");
        }
    }
}

#[test]
fn an_unknown_email_gets_no_token_at_the_same_cost_and_tokens_expire() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    f.signed_in(&app, g.id, "ann@acme.io");
    assert!(
        f.engine
            .password_reset(&app, g.id, "nobody@acme.io")
            .unwrap()
            .is_none()
    );
    // Logged too (one commit, like a known email's), naming no one.
    let asked = events_of(&f, g.id, "password_reset_requested");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].target, None);
    let token = f
        .engine
        .password_reset(&app, g.id, "ann@acme.io")
        .unwrap()
        .unwrap();
    f.clock
        .advance(f.engine.auth_config().password_reset_ttl.as_millis() as u64);
    let before = f.dump();
    assert!(matches!(
        f.engine.reset_password(token.expose(), NEW_PASSWORD),
        Err(Error::Expired)
    ));
    assert_eq!(f.dump(), before);
    f.engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
}

#[test]
fn a_person_without_a_password_sets_a_first_one_with_a_reset_token() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    let bob = f
        .engine
        .write(&app, |tx| {
            tx.create_person(NewPerson::new("bob@acme.io", "Bob"))
        })
        .unwrap();
    f.engine
        .write(&app, |tx| tx.add_member(bob.id, g.id, "group_user", &[]))
        .unwrap();
    assert!(matches!(
        f.engine.sign_in(&app, g.id, "bob@acme.io", NEW_PASSWORD),
        Err(Error::InvalidCredentials)
    ));
    let token = f
        .engine
        .password_reset(&app, g.id, "bob@acme.io")
        .unwrap()
        .unwrap();
    f.engine
        .reset_password(token.expose(), NEW_PASSWORD)
        .unwrap();
    f.engine
        .sign_in(&app, g.id, "bob@acme.io", NEW_PASSWORD)
        .unwrap()
        .session()
        .unwrap();
}

#[test]
fn a_password_change_needs_the_current_one_and_ends_every_other_session() {
    let Ann {
        f,
        g,
        app,
        first: mine,
        second: stolen,
        ..
    } = ann_signed_in_twice();
    assert!(matches!(
        f.engine
            .change_password(mine.token.expose(), "not my password", NEW_PASSWORD),
        Err(Error::InvalidCredentials)
    ));
    assert_eq!(events_of(&f, g.id, "password_change_failed").len(), 1);
    // Refused: the password and the sessions are as they were (a third session opens).
    f.engine.context_for_session(stolen.token.expose()).unwrap();
    f.engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    assert!(
        f.engine
            .change_password(mine.token.expose(), PASSWORD, "short")
            .is_err()
    );
    f.engine
        .change_password(mine.token.expose(), PASSWORD, NEW_PASSWORD)
        .unwrap();
    // The thief is out; this session goes on; only the new password signs in.
    assert!(matches!(
        f.engine.context_for_session(stolen.token.expose()),
        Err(Error::InvalidCredentials)
    ));
    f.engine.context_for_session(mine.token.expose()).unwrap();
    let changed = events_of(&f, g.id, "password_changed");
    assert_eq!(
        changed[0].metadata.get_path("sessions"),
        Some(&Value::Int(2))
    );
    assert!(
        f.engine
            .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
            .is_err()
    );
    f.engine
        .sign_in(&app, g.id, "ann@acme.io", NEW_PASSWORD)
        .unwrap()
        .session()
        .unwrap();
    // A session that ended cannot change anything.
    assert!(
        f.engine
            .change_password(stolen.token.expose(), NEW_PASSWORD, PASSWORD)
            .is_err()
    );
}

#[test]
fn a_reset_token_needs_sign_in_rights_and_the_persons_permissions() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    f.signed_in(&sys, g.id, "ann@acme.io");
    let key_with = |permissions: &[&str]| {
        let key = f
            .engine
            .write(&sys, |tx| {
                tx.create_api_key(NewApiKey::new("app", permissions))
            })
            .unwrap();
        f.engine
            .context_for_api_key(key.secret.expose(), None)
            .unwrap()
    };
    // A key that may not sign people in; one that may, but holds less than Ann: neither
    // may take her account.
    for key in [key_with(&["read"]), key_with(&["auth:signin"])] {
        assert!(matches!(
            f.engine.password_reset(&key, g.id, "ann@acme.io"),
            Err(Error::Forbidden { .. })
        ));
    }
}

#[test]
fn a_sign_up_without_a_name_is_named_by_its_email() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let up = f
        .engine
        .sign_up(
            &Context::system(g.id),
            g.id,
            " Ann@Acme.io ",
            PASSWORD,
            "  ",
        )
        .unwrap();
    assert_eq!(up.person.name, "ann@acme.io");
}
