//! Fuzz target: Stored record bytes never panic the engine (see `one_core::fuzz::decode_records`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::decode_records(data));
