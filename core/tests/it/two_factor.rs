//! Two-factor sign-in: enrolment, the second step of every sign-in path, replayed and
//! stale codes, recovery codes, pending sign-ins that expire or run out of tries, the
//! `enableTwoFactor` setting, and turning it off.

use one_core::testkit::totp_code;
use one_core::*;

use crate::{Fixture, PASSWORD, json};

const STEP_MS: u64 = 30_000;

/// Tenant `acme`, Ann signed up and signed in, as the application.
struct Ann {
    f: Fixture,
    g: Group,
    app: Context,
    person: ThingId,
    session: Session,
}

fn ann() -> Ann {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let app = Context::system(g.id);
    let (up, session) = f.signed_in(&app, g.id, "ann@acme.io");
    Ann {
        f,
        g,
        app,
        person: up.person.id,
        session,
    }
}

impl Ann {
    fn now(&self) -> Timestamp {
        self.f.clock.now()
    }

    /// The code Ann's app shows now.
    fn code(&self, secret: &Secret) -> String {
        totp_code(secret, self.now())
    }

    /// Enrols Ann with her session and confirms; returns the secret and recovery codes.
    fn enrolled(&self) -> (Secret, Vec<Secret>) {
        let e = self
            .f
            .engine
            .enroll_two_factor(self.session.token.expose())
            .unwrap();
        let on = self
            .f
            .engine
            .confirm_two_factor(self.session.token.expose(), &self.code(&e.secret))
            .unwrap();
        assert!(on.session.is_none(), "a session enrolment opens no session");
        (e.secret, on.recovery_codes)
    }

    fn sign_in(&self) -> SignedIn {
        self.f
            .engine
            .sign_in(&self.app, self.g.id, "ann@acme.io", PASSWORD)
            .unwrap()
    }

    fn pending(&self) -> SecondFactor {
        match self.sign_in() {
            SignedIn::SecondFactor(p) => p,
            SignedIn::Session(_) => panic!("signed in without the second factor"),
        }
    }

    fn kinds(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.kind).collect()
    }

    fn events(&self) -> Vec<Event> {
        self.f
            .engine
            .read(&self.app, |v| {
                v.events(&EventQuery::latest().group(self.g.id).limit(200))
            })
            .unwrap()
            .items
    }

    fn settings(&self, group: GroupId, s: serde_json::Value) -> Result<Group> {
        self.f.engine.write(&Context::system(self.g.id), |tx| {
            tx.update_group(
                group,
                GroupUpdate::default().properties(json(serde_json::json!({ "settings": s }))),
            )
        })
    }
}

#[test]
fn an_enrolled_person_signs_in_with_a_code() {
    let a = ann();
    let e =
        a.f.engine
            .enroll_two_factor(a.session.token.expose())
            .unwrap();
    let uri = e.uri.expose();
    assert!(
        uri.starts_with("otpauth://totp/ACME:ann%40acme.io?secret="),
        "{uri}"
    );
    assert!(uri.contains(e.secret.expose()) && uri.ends_with("&issuer=ACME"));
    assert!(!format!("{e:?}").contains(e.secret.expose()));
    // Not on until a first code confirms it.
    assert!(matches!(a.sign_in(), SignedIn::Session(_)));
    assert!(matches!(
        a.f.engine
            .confirm_two_factor(a.session.token.expose(), "000000"),
        Err(Error::InvalidCredentials)
    ));
    let on =
        a.f.engine
            .confirm_two_factor(a.session.token.expose(), &a.code(&e.secret))
            .unwrap();
    assert_eq!(on.recovery_codes.len(), RECOVERY_CODES);
    // A confirmed authenticator is not replaced without turning it off.
    assert!(matches!(
        a.f.engine.enroll_two_factor(a.session.token.expose()),
        Err(Error::InvalidField { .. })
    ));

    a.f.clock.advance(STEP_MS);
    let pending = a.pending();
    assert!(pending.enrolled);
    assert_eq!(pending.person, a.person);
    // The pending token is no session.
    assert!(
        a.f.engine
            .context_for_session(pending.token.expose())
            .is_err()
    );
    assert!(a.f.engine.sign_out(pending.token.expose()).is_err());
    let session =
        a.f.engine
            .complete_sign_in(pending.token.expose(), &a.code(&e.secret))
            .unwrap();
    let ctx =
        a.f.engine
            .context_for_session(session.token.expose())
            .unwrap();
    assert_eq!(ctx.principal(), Principal::Person(a.person));
    // Used up.
    assert!(matches!(
        a.f.engine
            .complete_sign_in(pending.token.expose(), &a.code(&e.secret)),
        Err(Error::InvalidCredentials)
    ));
    let kinds = a.kinds();
    for kind in ["two_factor_enabled", "second_factor_required", "sign_in"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let last_sign_in = a
        .events()
        .into_iter()
        .find(|e| e.kind == "sign_in")
        .unwrap();
    assert_eq!(
        last_sign_in.metadata.get_path("second_factor"),
        Some(&Value::from("totp"))
    );
    // No secret in any event.
    let logged = format!("{:?}", a.events());
    assert!(!logged.contains(e.secret.expose()));
    for code in &on.recovery_codes {
        assert!(!logged.contains(code.expose()));
    }
    // Nor in an export.
    let mut text = Vec::new();
    a.f.engine.export(&a.app, a.g.id, &mut text).unwrap();
    assert!(!String::from_utf8(text).unwrap().contains(e.secret.expose()));
}

#[test]
fn a_code_is_taken_once_and_only_near_its_time() {
    let a = ann();
    let (secret, _) = a.enrolled();
    // The confirming code's step is used: a sign-in in the same step needs the next one.
    let pending = a.pending();
    let used = a.code(&secret);
    assert!(matches!(
        a.f.engine.complete_sign_in(pending.token.expose(), &used),
        Err(Error::InvalidCredentials)
    ));
    // The next step's code (a clock a little ahead) is taken, once.
    let ahead = totp_code(&secret, a.now().plus_millis(STEP_MS));
    a.f.engine
        .complete_sign_in(pending.token.expose(), &ahead)
        .unwrap();
    let again = a.pending();
    assert!(matches!(
        a.f.engine.complete_sign_in(again.token.expose(), &ahead),
        Err(Error::InvalidCredentials)
    ));
    // Two steps later: a code two steps old is refused, the current one taken.
    a.f.clock.advance(3 * STEP_MS);
    let stale = totp_code(
        &secret,
        Timestamp::from_millis(a.now().as_millis() - 2 * STEP_MS),
    );
    let current = a.code(&secret);
    if stale != current {
        assert!(matches!(
            a.f.engine.complete_sign_in(again.token.expose(), &stale),
            Err(Error::InvalidCredentials)
        ));
    }
    a.f.engine
        .complete_sign_in(again.token.expose(), &current)
        .unwrap();
    let failed = a
        .kinds()
        .iter()
        .filter(|k| *k == "second_factor_failed")
        .count();
    assert!(failed >= 2, "{failed}");
}

#[test]
fn recovery_codes_work_once() {
    let a = ann();
    let (_, codes) = a.enrolled();
    let pending = a.pending();
    // Typed in capitals with spaces for dashes: still the code.
    let typed = codes[3].expose().to_uppercase().replace('-', " ");
    a.f.engine
        .complete_sign_in(pending.token.expose(), &typed)
        .unwrap();
    let used = a
        .events()
        .into_iter()
        .find(|e| e.kind == "recovery_code_used")
        .unwrap();
    assert_eq!(
        used.metadata.get_path("remaining"),
        Some(&Value::from(RECOVERY_CODES as i64 - 1))
    );
    let again = a.pending();
    assert!(matches!(
        a.f.engine
            .complete_sign_in(again.token.expose(), codes[3].expose()),
        Err(Error::InvalidCredentials)
    ));
    a.f.engine
        .complete_sign_in(again.token.expose(), codes[4].expose())
        .unwrap();
}

#[test]
fn a_pending_sign_in_expires_and_runs_out_of_tries() {
    let a = ann();
    let (secret, _) = a.enrolled();
    a.f.clock.advance(STEP_MS);
    let pending = a.pending();
    for _ in 0..MAX_SECOND_FACTOR_FAILURES {
        assert!(matches!(
            a.f.engine
                .complete_sign_in(pending.token.expose(), "999999x"),
            Err(Error::InvalidCredentials)
        ));
    }
    // Even the right code: the token is gone.
    assert!(matches!(
        a.f.engine
            .complete_sign_in(pending.token.expose(), &a.code(&secret)),
        Err(Error::InvalidCredentials)
    ));
    let slow = a.pending();
    a.f.clock
        .advance(a.f.engine.auth_config().second_factor_ttl.as_millis() as u64);
    assert!(matches!(
        a.f.engine
            .complete_sign_in(slow.token.expose(), &a.code(&secret)),
        Err(Error::Expired)
    ));
    // Other tokens are not pending sign-ins.
    for other in [a.session.token.expose(), "ok_once_bad", "", "123456"] {
        assert!(
            a.f.engine
                .complete_sign_in(other, &a.code(&secret))
                .is_err(),
            "{other:?}"
        );
    }
}

#[test]
fn enable_two_factor_guards_every_sign_in_path() {
    let a = ann();
    let team = a.f.team(a.g.id);
    assert!(matches!(
        a.settings(a.g.id, serde_json::json!({"enableTwoFactor": "yes"})),
        Err(Error::InvalidField { .. })
    ));
    a.settings(a.g.id, serde_json::json!({"enableTwoFactor": true}))
        .unwrap();
    a.f.engine
        .write(&a.app, |tx| tx.link_identity(a.person, "github", "ann-gh"))
        .unwrap();
    a.f.engine
        .write(&a.app, |tx| {
            tx.add_member(a.person, team.id, "group_user", &[])
        })
        .unwrap();
    let link =
        a.f.engine
            .magic_link(&a.app, a.g.id, "ann@acme.io")
            .unwrap();
    let signed_in = [
        a.sign_in(),
        a.f.engine.sign_in_with_magic_link(link.expose()).unwrap(),
        a.f.engine
            .sign_in_external(&a.app, a.g.id, "github", "ann-gh")
            .unwrap(),
        // A group below one that requires it requires it too.
        a.f.engine
            .sign_in(&Context::system(team.id), team.id, "ann@acme.io", PASSWORD)
            .unwrap(),
    ];
    for s in &signed_in {
        let SignedIn::SecondFactor(p) = s else {
            panic!("a session without a second factor: {s:?}")
        };
        assert!(!p.enrolled);
        // Not enrolled: no code completes it, and it says why.
        assert!(matches!(
            a.f.engine.complete_sign_in(p.token.expose(), "123456"),
            Err(Error::InvalidField { .. })
        ));
    }
    // The pending sign-in enrols, and confirming completes it.
    let SignedIn::SecondFactor(p) = &signed_in[2] else {
        unreachable!()
    };
    let e = a.f.engine.enroll_two_factor(p.token.expose()).unwrap();
    let on =
        a.f.engine
            .confirm_two_factor(p.token.expose(), &a.code(&e.secret))
            .unwrap();
    let session = on.session.expect("the sign-in completes");
    assert_eq!(session.person, a.person);
    assert!(
        a.f.engine
            .context_for_session(session.token.expose())
            .is_ok()
    );
    // Enrolled now: another pending sign-in cannot enrol a second authenticator (a
    // stolen password does not replace the app).
    let SignedIn::SecondFactor(p) = &signed_in[0] else {
        unreachable!()
    };
    assert!(a.f.engine.enroll_two_factor(p.token.expose()).is_err());
    assert!(
        a.f.engine
            .confirm_two_factor(p.token.expose(), &a.code(&e.secret))
            .is_err()
    );
    // Through the vocabulary the answer is `second_factor`.
    let r =
        a.f.engine
            .execute(
                &a.app,
                Request::SignIn {
                    group: a.g.id,
                    email: "ann@acme.io".into(),
                    password: PASSWORD.into(),
                },
            )
            .unwrap();
    assert_eq!(r.shape(), "signed_in");
    assert!(r.content().get("second_factor").is_some(), "{r:?}");
}

#[test]
fn turning_it_off_takes_a_code_or_a_manager() {
    let a = ann();
    let (secret, codes) = a.enrolled();
    a.f.clock.advance(STEP_MS);
    assert!(matches!(
        a.f.engine
            .disable_two_factor(a.session.token.expose(), "000000x"),
        Err(Error::InvalidCredentials)
    ));
    a.f.engine
        .disable_two_factor(a.session.token.expose(), &a.code(&secret))
        .unwrap();
    assert!(matches!(a.sign_in(), SignedIn::Session(_)));
    assert!(a.kinds().iter().any(|k| k == "two_factor_disabled"));
    // The old recovery codes are gone with it.
    assert!(
        a.f.engine
            .disable_two_factor(a.session.token.expose(), codes[0].expose())
            .is_err()
    );

    // On again; Ann's own session cannot reset it without a code…
    let (_, _) = a.enrolled();
    let own =
        a.f.engine
            .context_for_session(a.session.token.expose())
            .unwrap();
    assert!(
        a.f.engine
            .write(&own, |tx| tx.reset_two_factor(a.person))
            .is_err()
    );
    assert!(matches!(a.sign_in(), SignedIn::SecondFactor(_)));
    // …an owner can, for a lost app.
    let reset =
        a.f.engine
            .write(&a.app, |tx| tx.reset_two_factor(a.person))
            .unwrap();
    assert!(reset);
    assert!(matches!(a.sign_in(), SignedIn::Session(_)));
    assert!(
        !a.f.engine
            .write(&a.app, |tx| tx.reset_two_factor(a.person))
            .unwrap()
    );
}

#[test]
fn refused_steps_change_nothing_but_their_log() {
    let a = ann();
    let (secret, _) = a.enrolled();
    let pending = a.pending();
    let before = a.f.dump();
    // Malformed tokens and codes: refused before any write.
    for (token, code) in [
        ("", "123456"),
        ("ok_once_", "123456"),
        ("not a token", ""),
        ("ok_sess_nothing", "123456"),
    ] {
        assert!(a.f.engine.complete_sign_in(token, code).is_err());
        assert!(a.f.engine.confirm_two_factor(token, code).is_err());
        assert!(a.f.engine.disable_two_factor(token, "").is_err());
    }
    assert!(a.f.engine.enroll_two_factor("ok_sess_nothing").is_err());
    assert_eq!(a.f.dump(), before);
    // A pending sign-in still works after them.
    a.f.clock.advance(STEP_MS);
    a.f.engine
        .complete_sign_in(pending.token.expose(), &a.code(&secret))
        .unwrap();
}

#[test]
fn wrong_codes_in_a_row_make_the_next_wait() {
    let a = ann();
    let (secret, codes) = a.enrolled();
    a.f.clock.advance(STEP_MS);
    // Each sign-in is new (the password again), but the count is the person's.
    for _ in 0..FREE_SECOND_FACTOR_FAILURES {
        let p = a.pending();
        assert!(matches!(
            a.f.engine.complete_sign_in(p.token.expose(), "000000x"),
            Err(Error::InvalidCredentials)
        ));
    }
    let p = a.pending();
    // Blocked: not even the right code (nor a recovery code) is checked, and nothing is
    // counted against the pending sign-in.
    for code in [a.code(&secret), codes[0].expose().to_string()] {
        match a.f.engine.complete_sign_in(p.token.expose(), &code) {
            Err(Error::RateLimited { retry_after_ms }) => {
                assert!(
                    retry_after_ms > 0 && retry_after_ms <= 30_000,
                    "{retry_after_ms}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        a.f.engine
            .disable_two_factor(a.session.token.expose(), &a.code(&secret)),
        Err(Error::RateLimited { .. })
    ));
    a.f.clock.advance(30_000);
    // One more wrong code: the wait doubles.
    assert!(
        a.f.engine
            .complete_sign_in(p.token.expose(), "111111x")
            .is_err()
    );
    match a
        .f
        .engine
        .complete_sign_in(p.token.expose(), &a.code(&secret))
    {
        Err(Error::RateLimited { retry_after_ms }) => assert_eq!(retry_after_ms, 60_000),
        other => panic!("{other:?}"),
    }
    a.f.clock.advance(60_000);
    a.f.engine
        .complete_sign_in(p.token.expose(), &a.code(&secret))
        .unwrap();
    // A right code starts the count again.
    a.f.clock.advance(STEP_MS);
    let p = a.pending();
    for _ in 0..FREE_SECOND_FACTOR_FAILURES - 1 {
        assert!(matches!(
            a.f.engine.complete_sign_in(p.token.expose(), "000000x"),
            Err(Error::InvalidCredentials)
        ));
    }
    a.f.engine
        .complete_sign_in(p.token.expose(), &a.code(&secret))
        .unwrap();
}
