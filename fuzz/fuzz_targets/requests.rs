//! Fuzz target: requests and batches as JSON text, decoded and executed (see `one_core::fuzz::requests`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::requests(data));
