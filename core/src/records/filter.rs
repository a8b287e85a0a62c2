//! Filters on things, from the vocabulary; the index planner that serves them is in
//! `index.rs`.

pub use one_vocabulary::records::filter::*;
