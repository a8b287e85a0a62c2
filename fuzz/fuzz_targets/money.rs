//! Fuzz target: currency codes, shares and splits never panic and always conserve the
//! total (see `one_core::fuzz::money`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::money(data));
