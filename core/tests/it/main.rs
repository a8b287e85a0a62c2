//! Integration tests of the domain, through the public API only.

mod access;
mod access_model;
mod accounts;
mod atomicity;
mod backup;
mod bad_files;
mod check;
mod compat;
mod concurrency;
mod dimensions;
mod errors;
mod faults;
mod feed;
mod fuzz_bodies;
mod indexes;
mod instances;
mod isolation;
mod knowledge;
mod lists;
mod metering;
mod persistence;
mod portable;
mod search;
mod security;
mod sign_in;
mod strategies;
mod tenants;
mod two_factor;
mod values;
mod vocabulary;

pub use one_core::testkit::{Fixture, PASSWORD, each_case, json};
