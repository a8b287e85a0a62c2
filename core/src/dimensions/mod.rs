//! The operations on the dimensions: groups, people, things, connections, events and
//! memberships, each decided by the policy point and metered, over the records below.

pub(crate) mod connections;
pub(crate) mod events;
pub(crate) mod groups;
pub(crate) mod members;
pub(crate) mod people;
pub(crate) mod search;
pub(crate) mod things;
