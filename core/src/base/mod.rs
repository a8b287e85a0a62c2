//! The vocabulary every other room speaks: ids, values, time, contexts, how records are
//! encoded and where their keys are, paging, errors, permissions and resources.
//!
//! Nothing here imports anything above it: these files name what the engine stores and
//! decides about, and hold no rule of their own beyond the validity of a single value.

pub(crate) mod clock;
pub(crate) mod codec;
pub(crate) mod context;
pub(crate) mod error;
pub(crate) mod id;
pub(crate) mod layout;
pub(crate) mod page;
pub(crate) mod permission;
pub(crate) mod resource;
pub(crate) mod secret;
pub(crate) mod validate;
pub(crate) mod value;
