//! Integration tests of the domain, through the public API only.

mod access;
mod access_model;
mod atomicity;
mod backup;
mod bad_files;
mod check;
mod compat;
mod concurrency;
mod dimensions;
mod errors;
mod faults;
mod feed;
mod fuzz_bodies;
mod indexes;
mod isolation;
mod knowledge;
mod metering;
mod persistence;
mod portable;
mod security;
mod sign_in;
mod strategies;
mod values;

use std::ops::ControlFlow;
use std::sync::Arc;

use one_core::*;
use one_storage::{Direction, KeyRange, KvRead, StorageError, Store, StoreOptions};

/// An engine on memory with a manual clock at a fixed time.
pub struct Fixture {
    /// The engine under test.
    pub engine: Engine,
    /// Its clock; tests move it by hand.
    pub clock: Arc<ManualClock>,
}

impl Default for Fixture {
    /// A fresh in-memory engine.
    fn default() -> Self {
        Self::on(Store::in_memory(&StoreOptions::default()).unwrap())
    }
}

impl Fixture {
    /// A fresh in-memory engine.
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
        let r = self.engine.store().read().unwrap();
        let mut out = Vec::new();
        r.scan(&KeyRange::prefix(&[]), Direction::Forward, |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok::<_, StorageError>(ControlFlow::Continue(()))
        })
        .unwrap();
        out
    }
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
