//! Fuzz target: presented API keys, tokens, IP ranges and permission strings never panic
//! the engine (see `one_core::fuzz::parse_credentials`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| one_core::fuzz::parse_credentials(data));
