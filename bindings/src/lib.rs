//! `one-ffi`: the C ABI of ONE.
//!
//! A small, regular API in the manner of SQLite's: an opaque database handle
//! ([`db::one_open`]), an opaque context handle saying who acts ([`db::one_ctx_system`],
//! [`db::one_ctx_session`], [`db::one_ctx_api_key`]), and a few functions per dimension
//! that take records and queries as JSON text and plain C types for ids and numbers.
//! Every function returns a status code ([`status`]); the message of a failure is
//! [`boundary::one_last_error_message`]. The header, `include/one.h`, is generated from
//! this crate by cbindgen and checked by the tests; `README.md` documents the JSON.
//!
//! The rules every function keeps, in one place ([`boundary`]): no panic crosses the
//! boundary (it becomes `ONE_INTERNAL`); NULL and invalid UTF-8 are `ONE_INVALID`; output
//! pointers are checked before anything is done, so a bad one never leaves a change
//! behind; handles are values in a registry, never dereferenced, so a closed handle is
//! `ONE_MISUSE` and closing is safe beside calls running on other threads.

#![allow(
    unsafe_code,
    reason = "a C ABI takes raw pointers; each use states its contract"
)]

pub mod access;
pub mod boundary;
pub mod db;
pub mod execute;
pub mod feed;
#[cfg(feature = "internals")]
pub mod fuzz;
pub mod groups;
pub mod maintenance;
pub mod plugins;
pub mod records;
pub mod status;
