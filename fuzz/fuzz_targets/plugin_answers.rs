//! Fuzz target: Arbitrary plugin answers fail cleanly or keep the schema (see `one_plugins::fuzz::answers`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_plugins::fuzz::answers(data));
