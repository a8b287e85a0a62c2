//! The vocabulary every other room speaks — ids, values, time, contexts, errors,
//! permissions and resources, from the `one-vocabulary` crate — and what only the engine
//! needs beside it: how records are encoded, where their keys are, and paging over keys.
//!
//! Nothing here imports anything above it: these files name what the engine stores and
//! decides about, and hold no rule of their own beyond the validity of a single value.

pub(crate) use one_vocabulary::{
    clock, context, error, id, permission, resource, secret, validate, value,
};

pub(crate) mod codec;
pub(crate) mod layout;
pub(crate) mod page;
