//! Access: who may do what, decided at one policy point.
//!
//! `policy.rs` is that point: every operation declares what it needs and one function
//! decides, after the tenant boundary. `memberships.rs` derives a person's or a key's
//! permissions in a group from memberships up the tree, `plugins.rs` a plugin's from its
//! tenant's grants; `cache.rs` keeps the answers for
//! one version of access data. This room reads records and nothing above them.

pub(crate) mod cache;
pub(crate) mod memberships;
pub(crate) mod plugins;
pub(crate) mod policy;
