//! The vocabulary over C: any operation of the engine as one JSON request, and a batch of
//! them in one transaction.
//!
//! A request is the JSON form of `one::Request`, a response that of `one::Response`; both
//! are specified by `core/vocabulary/schema.json` (JSON Schema, draft 2020-12). The
//! typed functions of the other files stay for the hot paths; everything else, including
//! operations they do not cover, goes through `one_execute`.

use std::ffi::{c_char, c_int};

use one::Request;
use one::serde_json::Value as Json;

use crate::boundary::{Failure, OneCtx, OneDb, exported};

/// Executes one request, e.g. `{"get_thing":{"id":"thg_…"}}` or `"tenants"`, as `ctx`.
/// `*out` receives the response, e.g. `{"thing":{…}}` or `"done"`. A request that does not
/// parse is `ONE_INVALID`, naming what is wrong; a refused one has the error's status.
///
/// # Safety
/// `request` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_execute(
    db: *const OneDb,
    ctx: *const OneCtx,
    request: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: Request = raw.json(request, "request")?;
        let response = db.execute(&ctx, request)?;
        out.json(&response)
    })
}

/// Executes a batch in one write transaction, all or nothing: `steps` is a JSON array of
/// requests (at most `ONE_MAX_BATCH_STEPS`), in which `{"$ref": n}` stands for the id of
/// the record step `n` returned, e.g. `[{"create_thing":{…}}, {"connect":{"from":{"$ref":0},…}}]`.
/// Only reads and writes may be steps. `*out` receives the array of responses. On
/// failure nothing is kept, the status is the failing step's, and the message starts with
/// `step <n>:`.
///
/// # Safety
/// `steps` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_execute_batch(
    db: *const OneDb,
    ctx: *const OneCtx,
    steps: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let steps: Vec<Json> = raw.json(steps, "steps")?;
        let responses = db.execute_batch(&ctx, &steps).map_err(Failure::from)?;
        out.json(&responses)
    })
}

/// The most steps one batch may hold.
pub const ONE_MAX_BATCH_STEPS: usize = 1000;
const _: () = assert!(ONE_MAX_BATCH_STEPS == one::MAX_BATCH_STEPS);
