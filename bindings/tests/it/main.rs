//! Tests of the C ABI: the header is current, and C and Python programs use the library.

mod header;
mod programs;
