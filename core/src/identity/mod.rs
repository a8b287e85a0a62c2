//! Identity: the credentials principals present — API keys (`keys.rs`); sign-up, sign-in
//! and sessions (`sign_in.rs`); the second factor (`two_factor.rs`, on the TOTP codes of
//! `totp.rs`); accounts, which carry one person's credentials across tenants
//! (`accounts.rs`) — and the cache of those found valid.

pub(crate) mod accounts;
pub(crate) mod credentials;
pub(crate) mod keys;
pub(crate) mod sign_in;
pub(crate) mod totp;
pub(crate) mod two_factor;
