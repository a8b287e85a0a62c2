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

fn kinds_of(f: &Fixture, group: GroupId) -> Vec<String> {
    f.engine
        .read(&Context::system(group), |v| {
            v.events(&EventQuery::latest().group(group).limit(100))
        })
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.kind)
        .collect()
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
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    let (up, one) = f.signed_in(&app, g.id, "ann@acme.io");
    let two = f
        .engine
        .sign_in(&app, g.id, "ann@acme.io", PASSWORD)
        .unwrap();
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
    let session = f.engine.sign_in_with_magic_link(link.expose()).unwrap();
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
