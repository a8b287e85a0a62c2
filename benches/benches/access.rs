//! Criterion benchmarks of access control: a permission check four levels below the
//! grant, API key verification, session resolution, and finding a tenant by its domain or
//! slug among 1,000, on a database file; sign-in with and without a second factor. See `BENCHMARKS.md` for the numbers and the
//! command.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use one::*;

/// Tenants with a domain besides the one the checks run in.
const TENANTS: usize = 1_000;

struct Setup {
    db: Ontology,
    root: GroupId,
    deepest: GroupId,
    owner: ThingId,
    key: String,
    session: String,
    _dir: tempfile::TempDir,
}

/// A tenant with a chain of four groups below the root, an owner granted at the root,
/// an API key with an IP allow-list, and a signed-in session.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = Ontology::builder()
        .auth(AuthConfig {
            password: PasswordParams::INSECURE_FAST,
            ..AuthConfig::default()
        })
        .open(dir.path().join("access.redb"))
        .unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Organization, "Bench", "bench"))
        .unwrap()
        .id;
    let sys = Context::system(root);
    let (deepest, owner, key) = db
        .write(&sys, |tx| {
            let mut parent = root;
            for level in 1..=4 {
                parent = tx
                    .create_group(
                        parent,
                        NewGroup::new(
                            GroupType::Business,
                            format!("L{level}"),
                            format!("l{level}"),
                        ),
                    )?
                    .id;
            }
            let owner = tx.create_person(NewPerson::new("owner@bench.io", "Owner"))?;
            tx.add_member(owner.id, root, "org_owner", &[])?;
            let key = tx.create_api_key(
                NewApiKey::new("bench", &["read"]).allow_ips(&["10.0.0.0/8", "2001:db8::/32"]),
            )?;
            Ok((parent, owner.id, key.secret.expose().to_string()))
        })
        .unwrap();
    db.engine()
        .sign_up(&sys, root, "user@bench.io", "a long passphrase", "User")
        .unwrap();
    let session = db
        .engine()
        .sign_in(&sys, root, "user@bench.io", "a long passphrase")
        .unwrap()
        .session()
        .expect("no second factor asked")
        .token
        .expose()
        .to_string();
    for t in 0..TENANTS {
        db.admin()
            .create_root_group(
                NewGroup::new(GroupType::Business, format!("T{t}"), format!("t{t}"))
                    .properties(Value::map().with("domain", format!("shop.t{t}.example"))),
            )
            .unwrap();
    }
    Setup {
        db,
        root,
        deepest,
        owner,
        key,
        session,
        _dir: dir,
    }
}

fn access(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("access");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let as_owner = Context::person(s.owner, s.root);

    g.bench_function("check_4_levels_below_grant", |b| {
        b.iter(|| {
            assert!(s.db.engine().can(
                black_box(&as_owner),
                Permission::ThingsWrite,
                black_box(s.deepest)
            ))
        })
    });
    // Each check after a change to access data: the answer is computed from the store.
    g.bench_function("check_4_levels_below_grant_uncached", |b| {
        b.iter_batched(
            || {
                s.db.write(&Context::system(s.root), |tx| {
                    tx.change_role(s.owner, s.root, "org_owner", &[])
                })
                .unwrap();
            },
            |()| {
                assert!(
                    s.db.engine()
                        .can(&as_owner, Permission::ThingsWrite, s.deepest)
                );
            },
            BatchSize::PerIteration,
        )
    });
    let ip = Some("10.20.30.40".parse().unwrap());
    g.bench_function("api_key_verification", |b| {
        b.iter(|| {
            s.db.engine()
                .context_for_api_key(black_box(&s.key), ip)
                .unwrap()
        })
    });
    g.bench_function("session_resolution", |b| {
        b.iter(|| {
            s.db.engine()
                .context_for_session(black_box(&s.session))
                .unwrap()
        })
    });
    // What a request handler asks first: the tenant of a `Host` header, or of a path.
    g.bench_function("tenant_by_domain", |b| {
        b.iter(|| {
            s.db.admin()
                .tenant_by_domain(black_box("Shop.T500.example:443"))
                .unwrap()
                .unwrap()
        })
    });
    g.bench_function("tenant_by_slug", |b| {
        b.iter(|| {
            s.db.admin()
                .tenant_by_slug(black_box("t500"))
                .unwrap()
                .unwrap()
        })
    });
    g.finish();
}

/// A tenant with `user@bench.io` signed up (password "a long passphrase"): its root and
/// the system's context there.
fn signed_up(db: &Ontology) -> (GroupId, Context) {
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Organization, "Bench", "bench"))
        .unwrap()
        .id;
    let sys = Context::system(root);
    db.engine()
        .sign_up(&sys, root, "user@bench.io", "a long passphrase", "User")
        .unwrap();
    (root, sys)
}

/// Sign-in with OWASP argon2id parameters: a wrong password and an unknown email should
/// cost the same (the unknown email is checked against a dummy hash).
fn sign_in(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = Ontology::open(dir.path().join("sign_in.redb")).unwrap();
    let (root, sys) = signed_up(&db);
    let mut g = c.benchmark_group("sign_in_owasp");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("wrong_password", |b| {
        b.iter(|| {
            db.engine()
                .sign_in(&sys, root, "user@bench.io", "not the passphrase")
                .unwrap_err()
        })
    });
    g.bench_function("unknown_email", |b| {
        b.iter(|| {
            db.engine()
                .sign_in(&sys, root, "nobody@bench.io", "not the passphrase")
                .unwrap_err()
        })
    });
    g.bench_function("right_password", |b| {
        b.iter(|| {
            db.engine()
                .sign_in(&sys, root, "user@bench.io", "a long passphrase")
                .unwrap()
        })
    });
    g.finish();
}

/// What an authenticator app shows for a base32 `secret` at `at`: RFC 6238 with its
/// defaults (HMAC-SHA1, 6 digits, 30 s), written here independently of the engine's.
fn authenticator(secret: &str, at: Timestamp) -> String {
    use hmac::Mac;
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&(at.as_millis() / 30_000).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = usize::from(h[19] & 0x0f);
    let n = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

/// Sign-in with a second factor, OWASP argon2id parameters: the whole sign-in (password,
/// then a code), and the second step alone. The clock moves a step per sign-in, as each
/// code is taken once.
fn second_factor(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    let db = Ontology::builder()
        .clock(clock.clone())
        .open(dir.path().join("second_factor.redb"))
        .unwrap();
    let (root, sys) = signed_up(&db);
    let session = db
        .engine()
        .sign_in(&sys, root, "user@bench.io", "a long passphrase")
        .unwrap()
        .session()
        .unwrap();
    let enrolled = db
        .engine()
        .enroll_two_factor(session.token.expose())
        .unwrap();
    let secret = enrolled.secret.expose().to_string();
    db.engine()
        .confirm_two_factor(session.token.expose(), &authenticator(&secret, clock.now()))
        .unwrap();
    let pending = || {
        clock.advance(30_000);
        match db
            .engine()
            .sign_in(&sys, root, "user@bench.io", "a long passphrase")
            .unwrap()
        {
            SignedIn::SecondFactor(p) => p.token.expose().to_string(),
            SignedIn::Session(_) => panic!("no second factor asked"),
        }
    };
    let mut g = c.benchmark_group("sign_in_owasp");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("right_password_and_code", |b| {
        b.iter(|| {
            let token = pending();
            db.engine()
                .complete_sign_in(&token, &authenticator(&secret, clock.now()))
                .unwrap()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("second_factor");
    g.bench_function("complete_sign_in", |b| {
        b.iter_batched(
            pending,
            |token| {
                db.engine()
                    .complete_sign_in(&token, &authenticator(&secret, clock.now()))
                    .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, access, sign_in, second_factor);
criterion_main!(benches);
