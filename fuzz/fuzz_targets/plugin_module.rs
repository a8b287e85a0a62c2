//! Fuzz target: Arbitrary bytes as a plugin module never panic the runtime (see `one_plugins::fuzz::module`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_plugins::fuzz::module(data));
