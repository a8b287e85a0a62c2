//! The routes: the vocabulary (`POST /v1/execute`, `POST /v1/batch`), resource routes in
//! the seeds' REST shape that each name one operation of it, and `/health`.
//!
//! Every route does the same four things, in [`respond`]: admit the caller (auth.rs),
//! decode one `Request` through the vocabulary's one decoding path, run it on an engine
//! thread, and answer with its content (or the failure, with its status from status.rs),
//! with the rate-limit headers of a key.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Json as JsonBody;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};

use super::State as App;
use super::auth::{self, Caller};
use super::status::ApiError;
use crate::decode::{from_json, from_json_value};
use crate::{Ontology, Request, Response as Answer};

/// What a route answers with: the response's content, or the whole list of a batch.
enum Outcome {
    One(Box<Answer>),
    Batch(Vec<Answer>),
}

/// Runs `work` for the caller of `headers` on an engine thread and answers: `status` and
/// the JSON of the outcome, with the key's rate-limit headers; or the failure.
async fn respond(
    app: App,
    peer: SocketAddr,
    headers: HeaderMap,
    status: StatusCode,
    content_only: bool,
    work: impl FnOnce(&Ontology, &Caller) -> Result<Outcome, ApiError> + Send + 'static,
) -> Response {
    let ip = auth::client_ip(&headers, peer, app.config.trusted_proxy_header.as_deref());
    let db = app.db.clone();
    let done = tokio::task::spawn_blocking(move || {
        let caller = auth::admit(&db, &headers, ip)?;
        let now = db.engine().clock().now();
        let outcome = work(&db, &caller);
        Ok::<_, ApiError>((caller, now, outcome))
    })
    .await;
    let (caller, now, outcome) = match done {
        Ok(Ok(parts)) => parts,
        Ok(Err(e)) => return e.into_response(),
        Err(join) => return ApiError::internal(format!("a worker failed: {join}")).into_response(),
    };
    let mut response = match outcome {
        Ok(Outcome::One(answer)) if content_only => {
            (status, JsonBody(answer.content())).into_response()
        }
        Ok(Outcome::One(answer)) => (status, JsonBody(*answer)).into_response(),
        Ok(Outcome::Batch(answers)) => (status, JsonBody(answers)).into_response(),
        Err(e) => e.into_response(),
    };
    if let Some(limit) = &caller.rate_limit {
        let headers = response.headers_mut();
        for (name, value) in auth::rate_limit_headers(limit, now) {
            headers.insert(name, value);
        }
    }
    response
}

/// The body as UTF-8 text, at most `limit` bytes (413 beyond, 400 if not UTF-8).
async fn text(body: Body, limit: usize) -> Result<String, ApiError> {
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        // Reading stopped at the limit: the body's real size is not known.
        let mut failure = crate::Failure::from(&crate::Error::TooLarge {
            field: "body",
            limit,
            actual: limit.saturating_add(1),
        });
        failure.message = format!("the body is larger than the limit of {limit} bytes");
        ApiError::from(failure)
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::invalid("the body is not UTF-8"))
}

/// Refuses a request without a bearer credential before reading anything else of it, so
/// that a caller who is not one learns nothing about the rest of its request.
pub fn require_bearer(headers: &HeaderMap) -> Result<(), ApiError> {
    let present = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if present {
        Ok(())
    } else {
        Err(ApiError::from(crate::Error::InvalidCredentials))
    }
}

/// What every route reads first: the credential's presence, then the body as text.
async fn prologue(headers: &HeaderMap, body: Body, limit: usize) -> Result<String, ApiError> {
    require_bearer(headers)?;
    text(body, limit).await
}

/// Runs one request on the engine: the one path of every route.
fn execute(db: &Ontology, caller: &Caller, request: Request) -> Result<Outcome, ApiError> {
    let now = db.engine().clock().now();
    db.execute(&caller.ctx, request)
        .map(|answer| Outcome::One(Box::new(answer)))
        .map_err(|e| ApiError::at(e, now))
}

/// `POST /v1/execute`: one request of the vocabulary; answers its response.
pub async fn execute_route(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let text = match prologue(&headers, body, app.config.max_body_bytes).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let request: Request = match from_json(&text) {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    respond(
        app,
        peer,
        headers,
        StatusCode::OK,
        false,
        move |db, caller| execute(db, caller, request),
    )
    .await
}

/// `POST /v1/batch`: a list of requests run in one transaction, all or nothing; a step
/// names the id an earlier one returned with `{"$ref": n}`. Answers the list of responses.
pub async fn batch_route(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let text = match prologue(&headers, body, app.config.max_body_bytes).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let steps: Vec<Json> = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            return ApiError::invalid(format!("a batch is a JSON list of requests: {e}"))
                .into_response();
        }
    };
    respond(
        app,
        peer,
        headers,
        StatusCode::OK,
        false,
        move |db, caller| {
            db.execute_batch(&caller.ctx, &steps)
                .map(Outcome::Batch)
                .map_err(ApiError::from)
        },
    )
    .await
}

/// `GET /health`: the server answers. No credential needed.
pub async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// How a resource route builds its operation's arguments.
#[derive(Clone, Copy)]
pub struct Resource {
    /// The operation of the vocabulary.
    pub op: &'static str,
    /// The status of a success (201 for what creates a record).
    pub status: StatusCode,
    /// The path parameter, by name in the arguments (`id`, `group`, …), if the route has one.
    pub path_arg: Option<&'static str>,
    /// The argument the body is, when it is one argument (`update`) rather than all of
    /// them.
    pub body_arg: Option<&'static str>,
    /// Query parameters that are numbers or JSON (the others are text).
    pub typed_query: &'static [&'static str],
    /// Query parameters that are JSON when they parse as JSON, and text otherwise
    /// (`order=updated`, `order={"property":"price"}`).
    pub either_query: &'static [&'static str],
    /// Query parameters that are comma-separated lists.
    pub list_query: &'static [&'static str],
}

/// The arguments of a resource route: the JSON body (an object), the query's parameters,
/// and the path parameter, merged (the path wins).
fn arguments(
    r: &Resource,
    path: Option<String>,
    query: &BTreeMap<String, String>,
    body: &str,
) -> Result<Json, ApiError> {
    let body = if body.trim().is_empty() {
        Map::new()
    } else {
        match serde_json::from_str(body) {
            Ok(Json::Object(map)) => map,
            Ok(_) => return Err(ApiError::invalid("the body is a JSON object")),
            Err(e) => return Err(ApiError::invalid(format!("the body is not JSON: {e}"))),
        }
    };
    let mut args = match r.body_arg {
        Some(name) => Map::from_iter([(name.to_string(), Json::Object(body))]),
        None => body,
    };
    for (name, value) in query {
        let value = if r.typed_query.contains(&name.as_str()) {
            serde_json::from_str(value).map_err(|_| {
                ApiError::invalid(format!("query parameter `{name}` is not a number or JSON"))
            })?
        } else if r.either_query.contains(&name.as_str()) {
            serde_json::from_str(value).unwrap_or_else(|_| Json::String(value.clone()))
        } else if r.list_query.contains(&name.as_str()) {
            Json::Array(
                value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| Json::String(s.to_string()))
                    .collect(),
            )
        } else {
            Json::String(value.clone())
        };
        args.insert(name.clone(), value);
    }
    if let (Some(name), Some(value)) = (r.path_arg, path) {
        args.insert(name.to_string(), Json::String(value));
    }
    let mut request = Map::new();
    request.insert(r.op.to_string(), Json::Object(args));
    Ok(Json::Object(request))
}

/// A resource route: its operation, built from the path, the query and the body.
pub async fn resource_route(
    r: Resource,
    app: App,
    peer: SocketAddr,
    headers: HeaderMap,
    path: Option<String>,
    query: BTreeMap<String, String>,
    body: Body,
) -> Response {
    let text = match prologue(&headers, body, app.config.max_body_bytes).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let request: Request = match arguments(&r, path, &query, &text)
        .and_then(|json| from_json_value(json).map_err(ApiError::from))
    {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    respond(app, peer, headers, r.status, true, move |db, caller| {
        execute(db, caller, request)
    })
    .await
}

/// The query of a request, as text parameters (400 if it does not parse).
pub fn query_of(
    q: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<BTreeMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::invalid(format!("the query string: {e}")))
}
