//! The kernel: an [`Engine`] over a store, the transactions it runs ([`Tx`], [`View`]),
//! and the resolution of a context to its tenant ([`Scope`]). It knows no feature: the
//! features keep their state in [`Parts`] and do their work through [`Hooks`].

mod engine;
mod parts;
mod versioned;

pub use engine::Admin;
pub(crate) use engine::{AfterTx, Denial, Scope};
pub use engine::{Engine, Tx, View};
pub(crate) use parts::{Belongs, Get, Hooks, Parts};
pub(crate) use versioned::{IdHasher, Versioned};
