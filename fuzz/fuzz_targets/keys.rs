//! Fuzz target: Keys: arbitrary bytes read as key components round-trip and keep their order (see `one_core::fuzz::decode_keys`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::decode_keys(data));
