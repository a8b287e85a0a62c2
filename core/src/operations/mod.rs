//! Work over the stored data as a whole: integrity check (`check.rs`), export and import
//! (`portable.rs`), counts (`stats.rs`), the change feed (`feed.rs`), and executing the
//! vocabulary of requests (`execute.rs`).

pub(crate) mod check;
pub(crate) mod execute;
pub(crate) mod feed;
pub(crate) mod portable;
pub(crate) mod stats;
