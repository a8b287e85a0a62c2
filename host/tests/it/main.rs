//! Tests of the `one` facade: the command-line tool, and the rules of the repository.

mod cli;
mod tidy;
