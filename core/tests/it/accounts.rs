//! One person in several tenants: switching with an account, what each tenant sees, who
//! may change the account's credentials, sessions across tenants, the second factor,
//! and unlinking.

use one_core::testkit::totp_code;
use one_core::*;

use crate::{Fixture, PASSWORD, json};

const EMAIL: &str = "ann@example.com";

/// Ann signed up (email verified) and in at Acme; Globex has a person with her email,
/// invited as a member, with no password.
struct Two {
    f: Fixture,
    acme: Group,
    globex: Group,
    ann_acme: ThingId,
    ann_globex: ThingId,
    session: Session,
}

fn two() -> Two {
    let f = Fixture::new();
    let acme = f.tenant("acme");
    let globex = f.tenant("globex");
    let (up, session) = f.signed_in(&Context::system(acme.id), acme.id, EMAIL);
    f.engine.verify_email(up.verification.expose()).unwrap();
    let ann_globex = f
        .engine
        .write(&Context::system(globex.id), |tx| {
            let p = tx.create_person(NewPerson::new(EMAIL, "Ann G").in_group(globex.id))?;
            tx.add_member(p.id, globex.id, "group_user", &[])?;
            Ok(p.id)
        })
        .unwrap();
    Two {
        f,
        acme,
        globex,
        ann_acme: up.person.id,
        ann_globex,
        session,
    }
}

impl Two {
    fn switch(&self, session: &Session, to: GroupId) -> Result<SignedIn> {
        self.f.engine.switch_tenant(session.token.expose(), to)
    }

    fn to_globex(&self) -> Session {
        self.switch(&self.session, self.globex.id)
            .unwrap()
            .session()
            .expect("no second factor asked")
    }

    fn sign_in(&self, at: &Group, password: &str) -> Result<SignedIn> {
        self.f
            .engine
            .sign_in(&Context::system(at.id), at.id, EMAIL, password)
    }

    fn works(&self, s: &Session) -> bool {
        self.f.engine.context_for_session(s.token.expose()).is_ok()
    }

    /// A person with every permission in `group`, and their context.
    fn owner(&self, group: &Group) -> Context {
        let id = self
            .f
            .engine
            .write(&Context::system(group.id), |tx| {
                let p = tx.create_person(
                    NewPerson::new(format!("owner@{}.io", group.slug).as_str(), "Owner")
                        .in_group(group.id),
                )?;
                tx.add_member(p.id, group.id, "group_owner", &["*"])?;
                Ok(p.id)
            })
            .unwrap();
        Context::person(id, group.id)
    }
}

#[test]
fn a_person_switches_tenant_and_signs_in_there_with_the_same_password() {
    let t = two();
    let there = t.to_globex();
    assert_eq!(there.person, t.ann_globex);
    assert_eq!(there.group, t.globex.id);
    let ctx =
        t.f.engine
            .context_for_session(there.token.expose())
            .unwrap();
    assert_eq!(ctx.principal(), Principal::Person(t.ann_globex));
    assert_eq!(ctx.group(), t.globex.id);
    // Globex's person has no password of its own: the account's signs in there.
    assert!(matches!(
        t.sign_in(&t.globex, PASSWORD),
        Ok(SignedIn::Session(_))
    ));
    assert!(matches!(
        t.sign_in(&t.globex, "not the password"),
        Err(Error::InvalidCredentials)
    ));
    assert!(t.works(&t.session));
    // Switching back and forth needs no new link.
    let back = t.switch(&there, t.acme.id).unwrap().session().unwrap();
    assert_eq!(back.person, t.ann_acme);
    let linked = |g: &Group| {
        t.f.engine
            .read(&Context::system(g.id), |v| {
                v.events(&EventQuery::latest().group(g.id).kind("account_linked"))
            })
            .unwrap()
            .items
            .len()
    };
    assert_eq!((linked(&t.acme), linked(&t.globex)), (0, 1));
    let report = t.f.engine.check().unwrap();
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
}

#[test]
fn switching_needs_a_verified_email_and_a_person_without_credentials() {
    let f = Fixture::new();
    let acme = f.tenant("acme");
    let globex = f.tenant("globex");
    let (_, session) = f.signed_in(&Context::system(acme.id), acme.id, EMAIL);
    let before = f.dump();
    assert!(matches!(
        f.engine.switch_tenant(session.token.expose(), globex.id),
        Err(Error::EmailNotVerified)
    ));
    assert_eq!(f.dump(), before);

    let t = two();
    // A group of the session's own tenant, a tenant without her, an unknown group: the
    // same answer.
    let initech = t.f.tenant("initech");
    let before = t.f.dump();
    for g in [t.acme.id, initech.id, GroupId::from_u128(7)] {
        assert!(
            matches!(t.switch(&t.session, g), Err(Error::NotFound { .. })),
            "{g}"
        );
    }
    assert_eq!(t.f.dump(), before, "a refused switch wrote something");
    // A person who signed up at Initech on their own keeps their own password.
    t.f.engine
        .sign_up(
            &Context::system(initech.id),
            initech.id,
            EMAIL,
            "another long passphrase",
            "Ann I",
        )
        .unwrap();
    let before = t.f.dump();
    assert!(matches!(
        t.switch(&t.session, initech.id),
        Err(Error::InvalidField { .. })
    ));
    assert_eq!(t.f.dump(), before);
}

#[test]
fn tenants_see_nothing_of_each_other() {
    let t = two();
    let there = t.to_globex();
    t.f.engine
        .change_password(there.token.expose(), PASSWORD, "a brand new passphrase")
        .unwrap();
    // Nothing stored under Globex names Acme or Ann's Acme record, and the other way.
    let dump = t.f.dump();
    let under = |root: GroupId| {
        let mut prefix = vec![b'T'];
        prefix.extend_from_slice(&root.to_u128().to_be_bytes());
        dump.iter()
            .filter(move |(k, _)| k.starts_with(&prefix))
            .collect::<Vec<_>>()
    };
    let contains = |hay: &[u8], needle: u128| {
        hay.windows(16)
            .any(|w| w == needle.to_be_bytes().as_slice())
    };
    for (k, v) in under(t.globex.id) {
        for other in [t.acme.id.to_u128(), t.ann_acme.to_u128()] {
            assert!(!contains(k, other) && !contains(v, other), "{k:?}");
        }
    }
    for (k, v) in under(t.acme.id) {
        for other in [t.globex.id.to_u128(), t.ann_globex.to_u128()] {
            assert!(!contains(k, other) && !contains(v, other), "{k:?}");
        }
    }
    // What Globex reads and exports: its own person, no trace of Acme.
    let owner = t.owner(&t.globex);
    let person =
        t.f.engine
            .read(&owner, |v| v.get_thing(t.ann_globex))
            .unwrap();
    assert_eq!(person.name, "Ann G");
    let mut text = Vec::new();
    t.f.engine
        .export(&Context::system(t.globex.id), t.globex.id, &mut text)
        .unwrap();
    let text = String::from_utf8(text).unwrap();
    for other in [t.acme.id.to_string(), t.ann_acme.to_string(), "acme".into()] {
        assert!(!text.contains(&other), "{other}");
    }
}

#[test]
fn only_the_holder_changes_the_accounts_credentials() {
    let t = two();
    let owner = t.owner(&t.globex);
    // Globex's owner asks for a reset token before Ann links her account…
    let early =
        t.f.engine
            .password_reset(&owner, t.globex.id, EMAIL)
            .unwrap()
            .unwrap();
    let there = t.to_globex();
    // …which cannot set the account's password afterwards.
    assert!(matches!(
        t.f.engine
            .reset_password(early.expose(), "taken over by globex"),
        Err(Error::InvalidCredentials)
    ));
    // Now linked: Globex's principals cannot reset, remove the second factor or change the
    // email.
    let before = t.f.dump();
    assert!(matches!(
        t.f.engine.password_reset(&owner, t.globex.id, EMAIL),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        t.f.engine
            .write(&owner, |tx| tx.reset_two_factor(t.ann_globex)),
        Err(Error::InvalidField { .. })
    ));
    for ctx in [owner, Context::system(t.globex.id)] {
        assert!(matches!(
            t.f.engine.write(&ctx, |tx| {
                tx.update_thing(
                    t.ann_globex,
                    ThingUpdate::default()
                        .properties(json(serde_json::json!({"email": "mallory@globex.io"}))),
                )
            }),
            Err(Error::InvalidField { .. })
        ));
    }
    assert_eq!(t.f.dump(), before);
    assert!(t.sign_in(&t.acme, PASSWORD).is_ok());
    // The platform (the system) may reset it: the token sets the account's password.
    let token =
        t.f.engine
            .password_reset(&Context::system(t.globex.id), t.globex.id, EMAIL)
            .unwrap()
            .unwrap();
    t.f.engine
        .reset_password(token.expose(), "reset by the platform")
        .unwrap();
    assert!(t.sign_in(&t.acme, "reset by the platform").is_ok());
    assert!(!t.works(&t.session) && !t.works(&there));
}

#[test]
fn a_password_change_ends_the_sessions_of_every_tenant() {
    let t = two();
    let there = t.to_globex();
    let other_there = t.sign_in(&t.globex, PASSWORD).unwrap().session().unwrap();
    t.f.engine
        .change_password(there.token.expose(), PASSWORD, "a brand new passphrase")
        .unwrap();
    assert!(t.works(&there), "the session it was changed from goes on");
    assert!(!t.works(&t.session), "Acme's session ended");
    assert!(!t.works(&other_there), "Globex's other session ended");
    assert!(matches!(
        t.sign_in(&t.acme, PASSWORD),
        Err(Error::InvalidCredentials)
    ));
    let again = t
        .sign_in(&t.acme, "a brand new passphrase")
        .unwrap()
        .session()
        .unwrap();
    assert!(t.works(&again));
}

#[test]
fn the_second_factor_is_the_accounts() {
    let t = two();
    // Enrolled at Acme before the account existed: it moves up with the password.
    let e =
        t.f.engine
            .enroll_two_factor(t.session.token.expose())
            .unwrap();
    let now = || t.f.clock.now();
    t.f.engine
        .confirm_two_factor(t.session.token.expose(), &totp_code(&e.secret, now()))
        .unwrap();
    // This session was opened without a second factor: switching asks for one.
    let SignedIn::SecondFactor(pending) = t.switch(&t.session, t.globex.id).unwrap() else {
        panic!("switched without the second factor")
    };
    assert!(pending.enrolled);
    t.f.clock.advance(30_000);
    let there =
        t.f.engine
            .complete_sign_in(pending.token.expose(), &totp_code(&e.secret, now()))
            .unwrap();
    // Signing in to Globex directly asks for the account's code too.
    assert!(matches!(
        t.sign_in(&t.globex, PASSWORD),
        Ok(SignedIn::SecondFactor(_))
    ));
    // A session that proved the second factor switches without it.
    let back = t.switch(&there, t.acme.id).unwrap();
    assert!(matches!(back, SignedIn::Session(_)), "{back:?}");
    // The holder turns it off from either tenant.
    t.f.clock.advance(30_000);
    t.f.engine
        .disable_two_factor(there.token.expose(), &totp_code(&e.secret, now()))
        .unwrap();
    assert!(matches!(
        t.sign_in(&t.acme, PASSWORD),
        Ok(SignedIn::Session(_))
    ));
}

#[test]
fn deleting_a_person_unlinks_them_and_the_last_removes_the_account() {
    let t = two();
    t.f.engine
        .write(&Context::system(t.acme.id), |tx| {
            tx.link_identity(t.ann_acme, "github", "ann")
        })
        .unwrap();
    t.to_globex();
    let accounts = |f: &Fixture| {
        f.dump()
            .into_iter()
            .filter(|(k, _)| [b"Da", b"De", b"Dx"].iter().any(|p| k.starts_with(*p)))
            .count()
    };
    assert!(accounts(&t.f) > 0);
    t.f.engine
        .write(&Context::system(t.globex.id), |tx| {
            tx.delete_thing(t.ann_globex)
        })
        .unwrap();
    assert!(t.works(&t.session));
    assert!(t.sign_in(&t.acme, PASSWORD).is_ok());
    assert!(matches!(
        t.switch(&t.session, t.globex.id),
        Err(Error::NotFound { .. })
    ));
    t.f.engine
        .write(&Context::system(t.acme.id), |tx| {
            tx.delete_thing(t.ann_acme)
        })
        .unwrap();
    assert_eq!(accounts(&t.f), 0, "an account with nobody left is removed");
    let report = t.f.engine.check().unwrap();
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
}

#[test]
fn external_identities_go_with_the_account() {
    let t = two();
    let ext = |g: &Group, provider: &str, subject: &str| {
        t.f.engine
            .sign_in_external(&Context::system(g.id), g.id, provider, subject)
    };
    // Linked at Acme before there was an account: the first switch moves it up.
    t.f.engine
        .write(&Context::system(t.acme.id), |tx| {
            tx.link_identity(t.ann_acme, "github", "ann")
        })
        .unwrap();
    let there = t.to_globex();
    for (g, who) in [(&t.globex, t.ann_globex), (&t.acme, t.ann_acme)] {
        let s = ext(g, "github", "ann").unwrap().session().unwrap();
        assert_eq!(s.person, who);
    }
    // The holder links another one from Globex; it signs in at Acme too.
    let me =
        t.f.engine
            .context_for_session(there.token.expose())
            .unwrap();
    t.f.engine
        .write(&me, |tx| tx.link_identity(t.ann_globex, "google", "ann-g"))
        .unwrap();
    let s = ext(&t.acme, "google", "ann-g").unwrap().session().unwrap();
    assert_eq!(s.person, t.ann_acme);
    // Globex's owner cannot give the account an identity of their own choosing.
    let owner = t.owner(&t.globex);
    let before = t.f.dump();
    assert!(matches!(
        t.f.engine.write(&owner, |tx| tx.link_identity(
            t.ann_globex,
            "evil",
            "mallory"
        )),
        Err(Error::InvalidField { .. })
    ));
    assert_eq!(t.f.dump(), before);
    assert!(matches!(
        ext(&t.acme, "evil", "mallory"),
        Err(Error::InvalidCredentials)
    ));
    // One identity, one account.
    assert!(matches!(
        t.f.engine
            .write(&me, |tx| tx.link_identity(t.ann_globex, "google", "ann-g")),
        Err(Error::InvalidField { .. })
    ));
    let report = t.f.engine.check().unwrap();
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
}
