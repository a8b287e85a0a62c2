//! Tests of the C ABI: the header is current, C and Python programs use the library, and
//! handles hold up under threads.

#![allow(unsafe_code, reason = "the tests call the C ABI")]

mod fuzz_body;
mod header;
mod misuse;
mod programs;
mod threads;
