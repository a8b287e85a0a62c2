//! Fuzz target: Filter JSON never panic the engine (see `one_core::fuzz::parse_filter`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::parse_filter(data));
