//! Fuzz target: Store contents: an engine opened on arbitrary entries checks them without panicking (see `one_core::fuzz::check_store`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::check_store(data));
