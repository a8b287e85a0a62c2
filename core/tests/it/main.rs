//! Integration tests of the domain, through the public API only.

mod access;
mod access_model;
mod atomicity;
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
mod sign_in;

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
