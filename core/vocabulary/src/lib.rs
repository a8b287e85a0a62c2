//! `one-vocabulary`: the words every part of ONE speaks, and nothing that stores them.
//!
//! Ids, `Value`, time, contexts, permissions and resources; the records of the six
//! dimensions as a caller sees them; the [`Error`] type with its stable codes; and the
//! requests and responses that the embedded engine executes and every transport (the C
//! ABI, the HTTP server, a remote client) carries. This crate depends on no storage and
//! no plugin runtime, so a client of a remote ONE can depend on it alone.

#![deny(missing_docs)]

pub mod bytes;
pub mod clock;
pub mod context;
pub mod decode;
pub mod error;
pub mod id;
pub mod identity;
pub mod metering;
pub mod money;
pub mod operations;
pub mod page;
pub mod permission;
pub mod plugins;
pub mod provider;
pub mod records;
pub mod request;
pub mod resource;
pub mod response;
pub mod schema;
pub mod secret;
mod text_form;
pub mod validate;
pub mod value;

pub use error::{Error, Result};
pub use request::{Request, RunsIn};
pub use response::{Failure, Response};
