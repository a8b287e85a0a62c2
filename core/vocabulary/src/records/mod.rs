//! The records of the six dimensions as a caller sees them, what a caller sends to make,
//! change and find them, and the filters over them. How each is stored and found is the
//! engine's (`one-core`).

pub mod connection;
pub mod event;
pub mod filter;
pub mod group;
pub mod index;
pub mod key;
pub mod knowledge;
pub mod person;
pub mod search;
pub mod thing;
