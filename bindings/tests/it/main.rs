//! Tests of the C ABI: the header is current, C and Python programs use the library, and
//! handles hold up under threads.

#![allow(unsafe_code, reason = "the tests call the C ABI")]

mod fuzz_body;
mod header;
mod misuse;
mod programs;
mod threads;

use std::ffi::{CStr, c_char};

use one_ffi::boundary::one_string_free;

/// Calls `f` with an out pointer; the status and the returned text (freed here).
pub fn call(f: impl FnOnce(*mut *mut c_char) -> i32) -> (i32, String) {
    let mut out: *mut c_char = std::ptr::null_mut();
    let status = f(&mut out);
    let text = if out.is_null() {
        String::new()
    } else {
        // SAFETY: a string ONE returned, freed right after.
        let text = unsafe { CStr::from_ptr(out) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as above.
        unsafe { one_string_free(out) };
        text
    };
    (status, text)
}
