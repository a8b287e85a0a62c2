//! Tests of the `one` facade: the command-line tool, plugins behind the facade, and the
//! rules of the repository.

mod cli;
mod conformance;
mod crash;
mod facade;
mod layers;
mod processes;
mod server;
mod tidy;
#[cfg(feature = "wasm")]
mod wasm;
