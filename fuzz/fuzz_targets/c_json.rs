//! Fuzz target: The C ABI's JSON arguments never panic a call (see `one_ffi::fuzz::json_inputs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_ffi::fuzz::json_inputs(data));
