//! `GET /v1/feed`: the change feed as Server-Sent Events.
//!
//! Each change is an event `change` whose id is the change's event id: its commit cursor.
//! A client that reconnects with `Last-Event-ID` (or `?after=`) gets every later change
//! exactly once, in commit order, replayed from the stored log first — across a server
//! restart too. Changes are delivered after their commit (durable by default), and only
//! those the subscriber may read at that moment. A subscriber that falls too far behind
//! gets an event `resync` with its cursor, then the changes from there (never a silent
//! gap); one that loses the right to read gets `end` with the failure; on shutdown every
//! stream gets `close`. Comments keep idle connections alive.
//!
//! Query parameters: `group`, `subtree` (true/false), `dimensions` and `types`
//! (comma-separated), `after` (an event id). Or, for many filters on one stream (a
//! browser holds about six connections per origin): `filter`, repeated, each a JSON
//! change filter (`{"group":…,"subtree":…,"dimensions":[…],"types":[…]}`), up to
//! [`MAX_FILTERS`]. Such a stream sends each change once, as an event `match` whose data
//! is `{"filters":[indexes of the filters it matched],"event":{…}}`; its ids and its
//! resume are those of every stream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::{Map, Value as Json};

use super::State as App;
use super::auth;
use super::status::ApiError;
use crate::decode::from_json_value;
use crate::{ChangeFilter, Error, Event, EventId, Failure, MAX_FILTERS, Ontology, Subscription};

/// What a subscriber's thread hands to its stream.
enum Item {
    /// A change, with the filters it matched.
    Change(Box<Event>, Vec<usize>),
    Resync(Option<EventId>),
    End(Failure),
}

/// How long a subscriber's thread waits for a change before it looks whether its client
/// is still there.
const WAIT: Duration = Duration::from_millis(250);

/// What a feed request asks for.
struct Asked {
    filters: Vec<ChangeFilter>,
    /// Whether the filters came as `filter` parameters: changes go out as `match` events.
    many: bool,
    after: Option<EventId>,
}

/// The filters and the cursor of a feed request.
fn asked(query: &[(String, String)], headers: &HeaderMap) -> Result<Asked, ApiError> {
    let mut args = Map::new();
    let mut filters = Vec::new();
    let mut after = None;
    for (name, value) in query {
        if args.contains_key(name) || (name == "after" && after.is_some()) {
            return Err(ApiError::invalid(format!("`{name}` is given twice")));
        }
        let value = match name.as_str() {
            "dimensions" | "types" => Json::Array(
                value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| Json::String(s.to_string()))
                    .collect(),
            ),
            "subtree" => Json::Bool(match value.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(ApiError::invalid("`subtree` is true or false")),
            }),
            "after" => {
                after = Some(value.clone());
                continue;
            }
            "filter" => {
                if filters.len() == MAX_FILTERS {
                    return Err(ApiError::invalid(format!(
                        "a stream follows at most {MAX_FILTERS} filters"
                    )));
                }
                filters
                    .push(crate::decode::from_json::<ChangeFilter>(value).map_err(ApiError::from)?);
                continue;
            }
            _ => Json::String(value.clone()),
        };
        args.insert(name.clone(), value);
    }
    let many = !filters.is_empty();
    if many && !args.is_empty() {
        return Err(ApiError::invalid(
            "`filter` parameters replace `group`, `subtree`, `dimensions` and `types`: \
             give one form or the other",
        ));
    }
    if !many {
        filters.push(from_json_value(Json::Object(args)).map_err(ApiError::from)?);
    }
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(after);
    let after = match after {
        Some(text) => Some(text.trim().parse::<EventId>().map_err(Error::from)?),
        None => None,
    };
    Ok(Asked {
        filters,
        many,
        after,
    })
}

/// The SSE stream of one subscriber.
pub async fn feed_route(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(e) = super::routes::require_bearer(&headers) {
        return e.into_response();
    }
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::invalid(format!("the query string: {e}")).into_response(),
    };
    let Asked {
        filters,
        many,
        after,
    } = match asked(&query, &headers) {
        Ok(asked) => asked,
        Err(e) => return e.into_response(),
    };
    let Ok(permit) = app.feeds.clone().try_acquire_owned() else {
        return ApiError::busy("the server holds as many feeds as it may").into_response();
    };
    let ip = auth::client_ip(&headers, peer, app.config.trusted_proxy_header.as_deref());
    let db = app.db.clone();
    // Admitting and subscribing happen before the stream starts, so a refusal is an
    // ordinary error response.
    let subscribed = tokio::task::spawn_blocking(move || {
        let caller = auth::admit(&db, &headers, ip)?;
        let sub = db
            .engine()
            .subscribe_all(&caller.ctx, filters, after)
            .map_err(ApiError::from)?;
        Ok::<_, ApiError>((db, sub))
    })
    .await;
    let (db, sub) = match subscribed {
        Ok(Ok(parts)) => parts,
        Ok(Err(e)) => return e.into_response(),
        Err(join) => return ApiError::internal(format!("a worker failed: {join}")).into_response(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Item>(64);
    let stop = app.stop.clone();
    let running = app.followers.enter();
    let spawned = std::thread::Builder::new()
        .name("one-feed".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            follow(&db, sub, &tx);
            // The database is let go of before the thread counts as gone.
            drop(db);
            drop(running);
        });
    if spawned.is_err() {
        return ApiError::busy("no thread for another feed").into_response();
    }
    let events = stream::unfold((rx, Some(permit), false), move |(mut rx, permit, done)| {
        let stop = stop.clone();
        async move {
            if done {
                return None;
            }
            let item = tokio::select! {
                item = rx.recv() => item,
                () = stop.cancelled() => {
                    let close = Sse::default().event("close").data("the server is shutting down");
                    return Some((Ok::<_, Infallible>(close), (rx, permit, true)));
                }
            };
            let (event, last) = match item? {
                Item::Change(e, matched) => (change(&e, &matched, many), false),
                Item::Resync(cursor) => (
                    Sse::default()
                        .event("resync")
                        .json_data(serde_json::json!({ "cursor": cursor }))
                        .unwrap_or_else(|_| Sse::default().event("resync")),
                    false,
                ),
                Item::End(failure) => (
                    Sse::default()
                        .event("end")
                        .json_data(&failure)
                        .unwrap_or_else(|_| Sse::default().event("end")),
                    true,
                ),
            };
            Some((Ok(event), (rx, permit, last)))
        }
    });
    axum::response::sse::Sse::new(events)
        .keep_alive(KeepAlive::new().interval(app.config.feed_heartbeat))
        .into_response()
}

/// The SSE event of a change: `change` with the event, or on a stream of `filter`
/// parameters `match` with the event and the filters it matched.
fn change(e: &Event, matched: &[usize], many: bool) -> Sse {
    let sse = Sse::default().id(e.id.to_string());
    let sent = if many {
        sse.event("match")
            .json_data(serde_json::json!({ "filters": matched, "event": e }))
    } else {
        sse.event("change").json_data(e)
    };
    sent.unwrap_or_else(|_| Sse::default().event("change"))
}

/// A subscriber's thread: waits for changes and hands them to its stream, until the
/// stream is gone or the subscription ends.
fn follow(db: &Arc<Ontology>, mut sub: Subscription, tx: &tokio::sync::mpsc::Sender<Item>) {
    loop {
        if tx.is_closed() {
            return;
        }
        let item = match sub.next_timeout(db.engine(), WAIT) {
            Ok(Some(e)) => Item::Change(Box::new(e), sub.matched()),
            Ok(None) => continue,
            Err(Error::Lagged { .. }) => Item::Resync(sub.cursor()),
            Err(e) => {
                let _ = tx.blocking_send(Item::End(Failure::from(&e)));
                return;
            }
        };
        if tx.blocking_send(item).is_err() {
            return;
        }
    }
}
