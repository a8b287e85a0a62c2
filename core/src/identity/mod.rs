//! Identity: the credentials principals present — API keys (`keys.rs`), and sign-up,
//! sign-in and sessions (`sign_in.rs`) — and the cache of those found valid.

pub(crate) mod credentials;
pub(crate) mod keys;
pub(crate) mod sign_in;
