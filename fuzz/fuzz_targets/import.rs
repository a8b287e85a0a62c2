//! Fuzz target: Export text: an import succeeds whole or changes nothing (see `one_core::fuzz::import`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::import(data));
