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

use crate::boundary::{Failure, OneCtx, OneDb, Outcome, exported};

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

/// The vocabulary's JSON Schema (draft 2020-12), as committed in
/// `core/vocabulary/schema.json`: under `$defs/Request/oneOf`, every operation one_execute
/// accepts, with its arguments and what it answers. `*out` receives the schema.
///
/// # Safety
/// `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_schema(out: *mut *mut c_char) -> c_int {
    exported!(|raw| {
        let out = raw.out(out)?;
        out.json(&one::schema::json_schema())
    })
}

/// Runs the operation `op` with the arguments `args` (the JSON object of its request)
/// and gives the response's content: what the typed functions return. The one decoding
/// path of a request, for the typed functions whose argument is a request's arguments.
pub(crate) fn run(db: &one::Ontology, ctx: &one::Context, op: &str, args: Json) -> Outcome<Json> {
    let mut request = one::serde_json::Map::new();
    request.insert(op.to_string(), args);
    let request: Request =
        one::decode::from_json_value(Json::Object(request)).map_err(|e| match e {
            one::decode::Undecodable::Value(error) => Failure::from(error),
            one::decode::Undecodable::Shape(reason) => {
                Failure::invalid(format!("`{op}`: {reason}"))
            }
        })?;
    let response = db.execute(ctx, request)?;
    Ok(response.content())
}

/// The most steps one batch may hold.
pub const ONE_MAX_BATCH_STEPS: usize = 1000;
const _: () = assert!(ONE_MAX_BATCH_STEPS == one::MAX_BATCH_STEPS);
