//! The OpenAPI 3.1 document of the server, built from the vocabulary's JSON Schema and
//! the route table: nothing in it is written by hand twice.
//!
//! `host/openapi.json` is this document, committed; a test fails when the code and the
//! file differ (`ONE_BLESS=1` rewrites it). The server serves it at `/v1/openapi.json`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};

use super::{RESOURCES, Verb};

/// `GET /v1/openapi.json`.
pub async fn route() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&document()).unwrap_or_default(),
    )
        .into_response()
}

/// Rewrites the schema's references (`#/$defs/X`) to OpenAPI's (`#/components/schemas/X`).
fn relocated(value: Json) -> Json {
    match value {
        Json::String(s) if s.starts_with("#/$defs/") => {
            Json::String(s.replacen("#/$defs/", "#/components/schemas/", 1))
        }
        Json::Array(items) => Json::Array(items.into_iter().map(relocated).collect()),
        Json::Object(map) => {
            Json::Object(map.into_iter().map(|(k, v)| (k, relocated(v))).collect())
        }
        other => other,
    }
}

/// A `$ref` to the component `name`.
fn component(name: &str) -> Json {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The failure answers every operation may give.
fn failures() -> Map<String, Json> {
    let failure = json!({
        "content": {"application/json": {"schema": component("Failure")}}
    });
    let mut answers = Map::new();
    for (status, what) in [
        (
            "400",
            "Not a request: malformed JSON, a value of the wrong type or shape.",
        ),
        (
            "401",
            "No credential, or one that is unknown, expired or revoked.",
        ),
        ("403", "The principal may know the record but not do this."),
        (
            "404",
            "No such record where the caller can see it (also: out of scope).",
        ),
        ("408", "The request took longer than the server allows."),
        ("409", "A conflict with stored data."),
        ("413", "A body or a value over its size limit."),
        ("422", "A value the engine refuses (named in `field`)."),
        (
            "429",
            "A rate limit or a quota: `Retry-After` says when to come back.",
        ),
        (
            "503",
            "The server is at its limit of concurrent requests or feeds.",
        ),
    ] {
        let mut answer = failure.clone();
        answer["description"] = Json::String(what.into());
        answers.insert(status.into(), answer);
    }
    answers
}

/// Where each operation's arguments and answer are in the schema: the `Request` variant
/// that names it, and the `Response` shape its description names (`… → \`thing\``).
struct Operations {
    requests: Vec<Json>,
    responses: Vec<Json>,
}

impl Operations {
    fn variant<'a>(variants: &'a [Json], name: &str) -> Option<&'a Json> {
        variants
            .iter()
            .find(|v| v["properties"].get(name).is_some())
    }

    /// The schema of the arguments of `op`.
    fn arguments(&self, op: &str) -> Json {
        Self::variant(&self.requests, op)
            .map(|v| v["properties"][op].clone())
            .unwrap_or_else(|| json!({"type": "object"}))
    }

    /// The description of `op`, and the schema of the content of its answer.
    fn answer(&self, op: &str) -> (String, Json) {
        let description = Self::variant(&self.requests, op)
            .and_then(|v| v["description"].as_str())
            .unwrap_or_default()
            .to_string();
        let shape = description
            .rsplit_once("→ `")
            .and_then(|(_, rest)| rest.split('`').next())
            .unwrap_or_default();
        let content = Self::variant(&self.responses, shape)
            .map(|v| v["properties"][shape].clone())
            .unwrap_or(Json::Null);
        (description, content)
    }
}

/// The properties of an arguments schema, resolved through a `$ref` to a component.
fn properties(arguments: &Json, components: &Map<String, Json>) -> Map<String, Json> {
    let target = match arguments["$ref"].as_str() {
        Some(r) => r
            .strip_prefix("#/components/schemas/")
            .and_then(|name| components.get(name))
            .unwrap_or(arguments),
        None => arguments,
    };
    target["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// The whole document.
pub fn document() -> Json {
    let schema = relocated(one_vocabulary::schema::json_schema());
    let components = schema["$defs"].as_object().cloned().unwrap_or_default();
    let operations = Operations {
        requests: components["Request"]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        responses: components["Response"]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    };
    let security = json!([{"bearer": []}]);
    let mut paths = Map::new();
    let mut add = |path: &str, verb: &str, operation: Json| {
        let entry = paths
            .entry(path.to_string())
            .or_insert_with(|| Json::Object(Map::new()));
        entry[verb] = operation;
    };
    let ok = |description: &str, schema: Json| {
        let mut answers = failures();
        answers.insert(
            "200".into(),
            json!({"description": description, "content": {"application/json": {"schema": schema}}}),
        );
        Json::Object(answers)
    };
    add(
        "/v1/execute",
        "post",
        json!({
            "operationId": "execute",
            "summary": "Runs one request of the vocabulary.",
            "security": security,
            "requestBody": {"required": true, "content": {"application/json": {"schema": component("Request")}}},
            "responses": ok("The response.", component("Response")),
        }),
    );
    add(
        "/v1/batch",
        "post",
        json!({
            "operationId": "batch",
            "summary": "Runs requests in one transaction, all or nothing; `{\"$ref\": n}` names the id step n returned.",
            "security": security,
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": {}}}}},
            "responses": ok("The responses, one per step.", json!({"type": "array", "items": component("Response")})),
        }),
    );
    let mut feed_answers = failures();
    feed_answers.insert(
        "200".into(),
        json!({"description": "Events `change` (or `match` with `filter` parameters; id: the event id), `resync`, `end`, `close`.", "content": {"text/event-stream": {"schema": {"description": "Each event's data is JSON: an event record for `change`, `{\"cursor\"}` for `resync`, a failure for `end`."}}}}),
    );
    add(
        "/v1/feed",
        "get",
        json!({
            "operationId": "feed",
            "summary": "The change feed as Server-Sent Events; `Last-Event-ID` (or `after`) resumes after an event.",
            "security": security,
            "parameters": [
                {"name": "group", "in": "query", "schema": component("GroupId")},
                {"name": "subtree", "in": "query", "schema": {"type": "boolean"}},
                {"name": "dimensions", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated dimensions."},
                {"name": "types", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated types."},
                {"name": "filter", "in": "query", "style": "form", "explode": true, "schema": {"type": "array", "maxItems": crate::MAX_FILTERS, "items": {"type": "string"}}, "description": "Instead of `group`, `subtree`, `dimensions` and `types`: a change filter as JSON (`{\"group\":…,\"subtree\":…,\"dimensions\":[…],\"types\":[…]}`), repeated for many filters on one stream. Changes then come as events `match` with data `{\"filters\":[indexes],\"event\":{…}}`."},
                {"name": "after", "in": "query", "schema": component("EventId")},
                {"name": "Last-Event-ID", "in": "header", "schema": component("EventId")},
            ],
            "responses": feed_answers,
        }),
    );
    add(
        "/v1/openapi.json",
        "get",
        json!({
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }),
    );
    add(
        "/health",
        "get",
        json!({
            "operationId": "health",
            "summary": "The server answers.",
            "responses": {"200": {"description": "It does.", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"const": "ok"}}}}}}},
        }),
    );
    for (verb, path, r) in RESOURCES {
        let arguments = operations.arguments(r.op);
        let (description, content) = operations.answer(r.op);
        let mut parameters = Vec::new();
        if let Some(name) = r.path_arg {
            let schema = properties(&arguments, &components)
                .get(name)
                .cloned()
                .unwrap_or_else(|| json!({"type": "string"}));
            parameters
                .push(json!({"name": "id", "in": "path", "required": true, "schema": schema}));
        }
        let mut operation = json!({
            "operationId": format!("{}_{}", verb.as_str(), r.op),
            "summary": description,
            "security": security,
        });
        match (verb, r.body_arg) {
            (Verb::Get, _) => {
                for (name, schema) in properties(&arguments, &components) {
                    if Some(name.as_str()) == r.path_arg {
                        continue;
                    }
                    // Lists travel comma-separated, a filter as its JSON text.
                    let schema = if r.list_query.contains(&name.as_str()) {
                        json!({"type": "string", "description": "Comma-separated."})
                    } else if name == "filter" {
                        json!({"type": "string", "description": "The filter's JSON text."})
                    } else {
                        schema
                    };
                    parameters.push(json!({"name": name, "in": "query", "schema": schema}));
                }
            }
            (Verb::Delete, _) => {}
            (_, Some(name)) => {
                let body = properties(&arguments, &components)
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"}));
                operation["requestBody"] =
                    json!({"required": true, "content": {"application/json": {"schema": body}}});
            }
            (_, None) => {
                operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": arguments}}});
            }
        }
        operation["parameters"] = Json::Array(parameters);
        let mut answers = failures();
        answers.insert(
            r.status.as_u16().to_string(),
            json!({"description": "The operation's answer.", "content": {"application/json": {"schema": content}}}),
        );
        operation["responses"] = Json::Object(answers);
        add(path, verb.as_str(), operation);
    }
    one_vocabulary::schema::sorted(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ONE",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "ONE over HTTP: the vocabulary of operations (`/v1/execute`, `/v1/batch`), resource routes that each name one of its operations, and the change feed. Authenticate with `Authorization: Bearer` and an API key or a session token; `X-Organization-ID` chooses a group within the credential's scope.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }))
}
