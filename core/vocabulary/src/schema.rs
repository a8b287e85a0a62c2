//! The JSON Schema of the vocabulary, generated from its types.
//!
//! `schema.json` beside this crate's `Cargo.toml` is this function's output, committed;
//! a test fails when the types and the file differ (`ONE_BLESS=1` rewrites the file),
//! so the schema a client reads is always the one the engine speaks.

use schemars::generate::SchemaSettings;

use crate::request::Request;
use crate::response::{Failure, Response};

/// The JSON Schema (draft 2020-12) of the three messages: a request, a response and a
/// failure, under `properties`, with every type they use under `$defs`.
pub fn json_schema() -> serde_json::Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let request = generator.subschema_for::<Request>();
    let response = generator.subschema_for::<Response>();
    let failure = generator.subschema_for::<Failure>();
    let definitions = generator.take_definitions(true);
    sorted(serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ONE vocabulary",
        "description": "The operations of the ONE engine as JSON: a request names one operation and holds its arguments; the engine answers with a response, or a failure. The C ABI (`one_execute`), the HTTP server and the remote client carry these messages.",
        "type": "object",
        "properties": {
            "request": request,
            "response": response,
            "failure": failure,
        },
        "$defs": definitions,
    }))
}

/// `value` with the keys of every object in order, so that a document's text is the same
/// whether or not some crate of the build makes `serde_json` keep insertion order.
pub fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let entries: std::collections::BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            serde_json::Value::Object(entries.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}
