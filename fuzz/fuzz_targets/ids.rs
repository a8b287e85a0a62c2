//! Fuzz target: Id text never panic the engine (see `one_core::fuzz::parse_id`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::parse_id(data));
