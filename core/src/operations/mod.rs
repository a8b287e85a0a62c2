//! Work over the stored data as a whole: integrity check (`check.rs`), export and import
//! (`portable.rs`), counts (`stats.rs`) and the change feed (`feed.rs`).

pub(crate) mod check;
pub(crate) mod feed;
pub(crate) mod portable;
pub(crate) mod stats;
