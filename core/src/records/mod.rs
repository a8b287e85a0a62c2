//! The records of the six dimensions as they are stored, and how each is found: groups
//! and their tree, things and their indexes, connections, the event log, knowledge
//! chunks, people's emails and accounts, and API keys. No rule about who may read or write them lives
//! here; that is the policy point's, in `access/`.

pub(crate) mod account;
pub(crate) mod connection;
pub(crate) mod event;
pub(crate) mod filter;
pub(crate) mod group;
pub(crate) mod index;
pub(crate) mod key;
pub(crate) mod knowledge;
pub(crate) mod person;
pub(crate) mod text;
pub(crate) mod text_index;
pub(crate) mod thing;
pub(crate) mod upgrade;
