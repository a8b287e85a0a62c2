//! The test kit of ONE's own test suites (feature `internals`): one fixture type every
//! crate's tests build on, the setups they repeat, and a runner for tables of cases.
//!
//! Not part of the stable API: it reaches the raw store ([`Fixture::dump`]) to prove
//! that a refused operation changed nothing.

use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use one_storage::{Direction, KeyRange, KvRead, StorageError, Store, StoreOptions};

use crate::*;

/// The password the kit signs people up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// An engine on memory with a manual clock at a fixed time.
pub struct Fixture {
    /// The engine under test.
    pub engine: Engine,
    /// Its clock; tests move it by hand.
    pub clock: Arc<ManualClock>,
}

impl Default for Fixture {
    /// A fresh engine on [`fresh_store`].
    fn default() -> Self {
        Self::on(fresh_store())
    }
}

/// A fresh, empty store for one test: in memory, or, when `ONE_TEST_BACKEND=postgres`
/// (and the `postgres` feature is on), a scratch database of its own on the PostgreSQL
/// test server ([`one_storage::test_server`]), dropped with the store. The suites that
/// build on the kit run unchanged on either backend.
pub fn fresh_store() -> Store {
    match std::env::var("ONE_TEST_BACKEND").as_deref() {
        Ok("postgres") => postgres_store(),
        Ok("redb") | Err(_) => Store::in_memory(&StoreOptions::default()).unwrap(),
        Ok(other) => panic!("ONE_TEST_BACKEND={other}: expected redb or postgres"),
    }
}

/// Whether [`fresh_store`] makes PostgreSQL stores.
pub fn on_postgres() -> bool {
    std::env::var("ONE_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// How many cases a property test of whole scenarios runs: `n` in memory, one on
/// PostgreSQL, where every read is a round trip to the server (such a test runs
/// thousands of operations, each followed by a dump of the whole store).
pub fn cases(n: u32) -> u32 {
    if on_postgres() { 1 } else { n }
}

/// A scratch database on the PostgreSQL test server, partitioned by tenant.
#[cfg(feature = "postgres")]
pub fn postgres_store() -> Store {
    let server = one_storage::test_server();
    // Commits visible at once, flushed by the server in the background: the suites check
    // behaviour; the crash tests check durability.
    let options = StoreOptions {
        partition: crate::tenant_partition,
        durability: one_storage::Durability::Deferred,
        ..StoreOptions::default()
    };
    Store::scratch(&server, &options).unwrap_or_else(|e| {
        panic!(
            "the PostgreSQL test server ({server}) is needed: {e}. Start it with .ci/postgres, \
             or point ONE_TEST_POSTGRES at another"
        )
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres_store() -> Store {
    panic!("ONE_TEST_BACKEND=postgres needs one-core's `postgres` feature")
}

impl Fixture {
    /// A fresh engine on [`fresh_store`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine over `store`.
    pub fn on(store: Store) -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        // Cheap password hashes: the tests check behaviour, not argon2's cost.
        let engine = Engine::new(store, clock.clone())
            .unwrap()
            .with_auth(AuthConfig {
                password: PasswordParams::INSECURE_FAST,
                ..AuthConfig::default()
            });
        Self { engine, clock }
    }

    /// An engine over the database file at `path` (created if missing).
    pub fn file(path: &std::path::Path) -> Self {
        Self::on(Store::open(path, &StoreOptions::default()).unwrap())
    }

    /// Creates a tenant (a top-level organization) with this slug.
    pub fn tenant(&self, slug: &str) -> Group {
        self.engine
            .admin()
            .create_root_group(NewGroup::new(
                GroupType::Organization,
                slug.to_uppercase(),
                slug,
            ))
            .unwrap()
    }

    /// The oldest child group of `group` (the `team` of [`Fixture::populated`]).
    pub fn first_child(&self, group: GroupId) -> Group {
        self.engine
            .read(&Context::system(group), |v| v.children(group, None, None))
            .unwrap()
            .items
            .remove(0)
    }

    /// Every key and value in the store, to compare states exactly.
    pub fn dump(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        dump(&self.engine)
    }

    /// The engine, changed by `f` (to attach a plugin runtime, an embedder…).
    pub fn map(mut self, f: impl FnOnce(Engine) -> Result<Engine>) -> Self {
        self.engine = f(self.engine).unwrap();
        self
    }

    /// Creates the child group `team` ("Team", a business) of `parent`, as the system.
    pub fn team(&self, parent: GroupId) -> Group {
        self.engine
            .write(&Context::system(parent), |tx| {
                tx.create_group(parent, NewGroup::new(GroupType::Business, "Team", "team"))
            })
            .unwrap()
    }

    /// Signs `email` up in `group` as `app` (which needs `auth:signup` there) with
    /// [`PASSWORD`] and the name "Ann", and signs them in.
    pub fn signed_in(&self, app: &Context, group: GroupId, email: &str) -> (SignedUp, Session) {
        let up = self
            .engine
            .sign_up(app, group, email, PASSWORD, "Ann")
            .unwrap();
        let session = self
            .engine
            .sign_in(app, group, email, PASSWORD)
            .unwrap()
            .session()
            .expect("no second factor asked");
        (up, session)
    }
}

/// The code an authenticator app shows at `at` for the base32 `secret` of a
/// [`TwoFactorEnrollment`], as a person would type it.
pub fn totp_code(secret: &Secret, at: Timestamp) -> String {
    let bytes = data_encoding::BASE32_NOPAD
        .decode(secret.expose().as_bytes())
        .expect("an enrolment's secret is base32");
    crate::identity::totp::code(&bytes, crate::identity::totp::step_at(at.as_millis()))
        .expect("HMAC takes any key")
}

/// The version of access data the engine's permission caches hold: it moves whenever a
/// transaction changed access data and the caches were forgotten. Tests read it to prove
/// an operation kept them.
pub fn access_epoch(engine: &Engine) -> u64 {
    engine
        .part::<Arc<crate::access::cache::AccessCache>>()
        .epoch()
}

/// Every key and value in the engine's store, in key order: what tests compare to prove
/// a refused operation changed nothing.
pub fn dump(engine: &Engine) -> Vec<(Vec<u8>, Vec<u8>)> {
    let r = engine.store().read().expect("a snapshot");
    let mut out = Vec::new();
    r.scan(&KeyRange::prefix(&[]), Direction::Forward, |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Ok::<_, StorageError>(ControlFlow::Continue(()))
    })
    .expect("a scan");
    out
}

/// Runs `check` on every case of a table and fails once, naming every case that failed
/// (by `name`) with its message: the first failure does not hide the rest.
pub fn each_case<T>(
    cases: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> String,
    mut check: impl FnMut(T),
) {
    let mut failed = Vec::new();
    let mut count = 0;
    for case in cases {
        count += 1;
        let label = name(&case);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(case))) {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            failed.push(format!("- {label}: {message}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {count} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// A `Value` from JSON.
pub fn json(v: serde_json::Value) -> Value {
    Value::from_json(&v)
}

impl Fixture {
    /// A tenant holding some of every kind of record: a child group, people with
    /// memberships, things of an indexed type (one updated, one deleted), connections,
    /// knowledge with labels (one deleted), an API key, logged events, and a thing in the
    /// test environment.
    pub fn populated(&self, slug: &str) -> Group {
        let e = &self.engine;
        let root = self.tenant(slug);
        e.admin()
            .create_index("product", "properties.price")
            .unwrap();
        let ctx = Context::system(root.id);
        e.write(&ctx, |tx| {
            let team = tx.create_group(
                root.id,
                NewGroup::new(GroupType::Business, "Team", "team").properties(json(
                    serde_json::json!({"settings": {"parentAccess": "members"}}),
                )),
            )?;
            let ada = tx.create_person(NewPerson::new("ada@example.com", "Ada"))?;
            tx.add_member(ada.id, team.id, "group_admin", &[])?;
            let mug = tx.create_thing(NewThing::new("product", "Mug").property("price", 12))?;
            let cap = tx.create_thing(
                NewThing::new("product", "Cap")
                    .property("price", 7.5)
                    .in_group(team.id),
            )?;
            let old =
                tx.create_thing(NewThing::new("note", "Old").property("tags", vec!["a", "b"]))?;
            tx.update_thing(mug.id, ThingUpdate::default().property("price", 14))?;
            tx.delete_thing(old.id)?;
            tx.connect(
                NewConnection::new(ada.id, "purchased", mug.id)
                    .metadata(json(serde_json::json!({"qty": 2}))),
            )?;
            tx.connect(NewConnection::new(team.id, "owns", cap.id).in_group(team.id))?;
            tx.create_knowledge(
                NewKnowledge::new("Mugs hold coffee.")
                    .labels(&["faq", "product"])
                    .source(mug.id),
            )?;
            let gone = tx.create_knowledge(NewKnowledge::new("Obsolete.").in_group(team.id))?;
            tx.delete_knowledge(gone.id)?;
            tx.create_api_key(NewApiKey::new("ci", &["read"]))?;
            tx.log_event(
                "deployed",
                Some(Ref::from(mug.id)),
                json(serde_json::json!({"v": 3})),
            )?;
            Ok(())
        })
        .unwrap();
        e.write(&ctx.with_env(Env::Test), |tx| {
            tx.create_thing(NewThing::new("product", "Test mug").property("price", 1))
        })
        .unwrap();
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failing_case_is_named_not_just_the_first() {
        let outcome = catch_unwind(|| {
            each_case(
                1..=4,
                |n| format!("case {n}"),
                |n| assert!(n % 2 == 0, "odd {n}"),
            );
        });
        let panic = outcome.unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.starts_with("2 of 4 cases failed"), "{message}");
        assert!(message.contains("- case 1: odd 1"), "{message}");
        assert!(message.contains("- case 3: odd 3"), "{message}");
        each_case(["a", "b"], |s| s.to_string(), |s| assert!(!s.is_empty()));
    }

    #[test]
    fn the_fixture_sets_up_a_team_and_a_signed_in_person() {
        let f = Fixture::new();
        let acme = f.tenant("acme");
        let team = f.team(acme.id);
        assert_eq!((team.parent, team.slug.as_str()), (Some(acme.id), "team"));
        f.engine
            .write(&Context::system(acme.id), |tx| {
                tx.update_group(
                    acme.id,
                    GroupUpdate::default().properties(json(
                        serde_json::json!({"settings": {"allowSignups": true}}),
                    )),
                )
            })
            .unwrap();
        let (up, session) = f.signed_in(&Context::system(acme.id), acme.id, "ann@acme.io");
        let ctx = f
            .engine
            .context_for_session(session.token.expose())
            .unwrap();
        assert_eq!(ctx.principal(), Principal::Person(up.person.id));
    }
}
