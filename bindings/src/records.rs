//! Things, connections, events and knowledge.

use std::ffi::{c_char, c_int};

use one::serde_json::Value as Json;
use one::{
    ConnectionId, ConnectionQuery, EventQuery, Filter, KnowledgeId, KnowledgeQuery, Metric,
    NewConnection, NewKnowledge, NewThing, Principal, ThingId, ThingQuery, ThingUpdate,
};
use serde::Deserialize;

use crate::boundary::{Failure, OneCtx, OneDb, exported, parse_id};
use crate::json as to_json;
use crate::requests::{any_id, thing_status, time, value};

/// `{"type", "name", "properties", "status", "group"}`; the last three optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThingRequest {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    properties: Option<Json>,
    status: Option<String>,
    group: Option<String>,
}

/// Creates a thing. `*out` receives it as stored (a plugin may have normalised its
/// properties).
///
/// # Safety
/// `thing` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_thing_create(
    db: *const OneDb,
    ctx: *const OneCtx,
    thing: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: ThingRequest = raw.json(thing, "thing")?;
        let mut new = NewThing::new(request.kind, request.name);
        if let Some(p) = value(request.properties) {
            new = new.properties(p);
        }
        if let Some(s) = request.status {
            new = new.status(thing_status(&s)?);
        }
        if let Some(g) = request.group {
            new = new.in_group(parse_id(&g)?);
        }
        let t = db.write(&ctx, |tx| tx.create_thing(new))?;
        out.json(&to_json::thing(&t))
    })
}

/// Reads a thing (or a person).
///
/// # Safety
/// `thing` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_thing_get(
    db: *const OneDb,
    ctx: *const OneCtx,
    thing: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let thing: ThingId = raw.id(thing, "thing")?;
        let t = db.read(&ctx, |v| v.get_thing(thing))?;
        out.json(&to_json::thing(&t))
    })
}

/// `{"name", "status", "properties"}`, each optional; `properties` is merged into the
/// stored map (a `null` value removes a key).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThingUpdateRequest {
    name: Option<String>,
    status: Option<String>,
    properties: Option<Json>,
}

/// Changes a thing. `*out` receives it as it now is.
///
/// # Safety
/// `thing` and `update` are NUL-terminated strings; `out` points to writable storage for
/// a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_thing_update(
    db: *const OneDb,
    ctx: *const OneCtx,
    thing: *const c_char,
    update: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let thing: ThingId = raw.id(thing, "thing")?;
        let request: ThingUpdateRequest = raw.json(update, "update")?;
        let mut change = ThingUpdate::default();
        if let Some(name) = request.name {
            change = change.name(name);
        }
        if let Some(s) = request.status {
            change = change.status(thing_status(&s)?);
        }
        if let Some(patch) = value(request.properties) {
            change = change.properties(patch);
        }
        let t = db.write(&ctx, |tx| tx.update_thing(thing, change))?;
        out.json(&to_json::thing(&t))
    })
}

/// Deletes a thing (its status becomes `deleted`; its record and history stay). `*out`
/// receives it as it now is.
///
/// # Safety
/// `thing` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_thing_delete(
    db: *const OneDb,
    ctx: *const OneCtx,
    thing: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let thing: ThingId = raw.id(thing, "thing")?;
        let t = db.write(&ctx, |tx| tx.delete_thing(thing))?;
        out.json(&to_json::thing(&t))
    })
}

/// `{"type", "group", "filter", "limit", "after"}`; `filter` as in the Rust API
/// (`{"properties.price": {"$lt": 2000}}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThingsRequest {
    #[serde(rename = "type")]
    kind: String,
    group: Option<String>,
    filter: Option<Json>,
    limit: Option<usize>,
    after: Option<String>,
}

/// Lists things of one type in a group, filtered, a page at a time: `*out` receives
/// `{"items": [things], "next": cursor}`.
///
/// # Safety
/// `query` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_things(
    db: *const OneDb,
    ctx: *const OneCtx,
    query: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: ThingsRequest = raw.json(query, "query")?;
        let mut query = ThingQuery::of_type(request.kind);
        if let Some(g) = request.group {
            query = query.group(parse_id(&g)?);
        }
        if let Some(f) = request.filter {
            query = query.filter(Filter::from_json(&f)?);
        }
        if let Some(n) = request.limit {
            query = query.limit(n);
        }
        if let Some(c) = request.after {
            query = query.after(one::Cursor::from_text(c));
        }
        let p = db.read(&ctx, |v| v.things(&query))?;
        out.json(&to_json::page(&p, to_json::thing))
    })
}

/// `{"from", "type", "to", "metadata", "group"}`; the last two optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionRequest {
    from: String,
    #[serde(rename = "type")]
    kind: String,
    to: String,
    metadata: Option<Json>,
    group: Option<String>,
}

/// Connects two records. `*out` receives the connection.
///
/// # Safety
/// `connection` is a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_connection_create(
    db: *const OneDb,
    ctx: *const OneCtx,
    connection: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: ConnectionRequest = raw.json(connection, "connection")?;
        let mut new =
            NewConnection::new(any_id(&request.from)?, request.kind, any_id(&request.to)?);
        if let Some(m) = value(request.metadata) {
            new = new.metadata(m);
        }
        if let Some(g) = request.group {
            new = new.in_group(parse_id(&g)?);
        }
        let c = db.write(&ctx, |tx| tx.connect(new))?;
        out.json(&to_json::connection(&c))
    })
}

/// Reads a connection.
///
/// # Safety
/// `connection` is a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_connection_get(
    db: *const OneDb,
    ctx: *const OneCtx,
    connection: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let connection: ConnectionId = raw.id(connection, "connection")?;
        let c = db.read(&ctx, |v| v.get_connection(connection))?;
        out.json(&to_json::connection(&c))
    })
}

/// Removes a connection. `*out` receives it as it was.
///
/// # Safety
/// `connection` is a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_connection_delete(
    db: *const OneDb,
    ctx: *const OneCtx,
    connection: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let connection: ConnectionId = raw.id(connection, "connection")?;
        let c = db.write(&ctx, |tx| tx.disconnect(connection))?;
        out.json(&to_json::connection(&c))
    })
}

/// `{"node", "direction": "outgoing"|"incoming", "type", "limit", "after"}`; `direction`
/// defaults to outgoing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionsRequest {
    node: String,
    direction: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

/// Lists the connections of a record in one direction, a page at a time: `*out`
/// receives `{"items": [connections], "next": cursor}`.
///
/// # Safety
/// `query` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_connections(
    db: *const OneDb,
    ctx: *const OneCtx,
    query: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: ConnectionsRequest = raw.json(query, "query")?;
        let node = any_id(&request.node)?;
        let mut query = match request.direction.as_deref() {
            None | Some("outgoing") => ConnectionQuery::outgoing(node),
            Some("incoming") => ConnectionQuery::incoming(node),
            Some(other) => {
                return Err(Failure::from(one::Error::InvalidField {
                    field: "direction".into(),
                    reason: format!("{other:?} is not one of outgoing or incoming"),
                }));
            }
        };
        if let Some(k) = request.kind {
            query = query.kind(k);
        }
        if let Some(n) = request.limit {
            query = query.limit(n);
        }
        if let Some(c) = request.after {
            query = query.after(one::Cursor::from_text(c));
        }
        let p = db.read(&ctx, |v| v.connections(&query))?;
        out.json(&to_json::page(&p, to_json::connection))
    })
}

/// `{"type", "target", "metadata"}`; the last two optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    #[serde(rename = "type")]
    kind: String,
    target: Option<String>,
    metadata: Option<Json>,
}

/// Logs an application event (a type that is not one of ONE's own) in the context's
/// group. `*out` receives the event.
///
/// # Safety
/// `event` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_event_log(
    db: *const OneDb,
    ctx: *const OneCtx,
    event: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: EventRequest = raw.json(event, "event")?;
        let target = request.target.as_deref().map(any_id).transpose()?;
        let metadata = value(request.metadata).unwrap_or_else(one::Value::map);
        let e = db.write(&ctx, |tx| tx.log_event(&request.kind, target, metadata))?;
        out.json(&to_json::event(&e))
    })
}

/// `{"group", "type", "actor", "target", "since", "until", "limit", "after"}`, all
/// optional (NULL for all of them): newest first; `type`, `actor` and `target` are
/// alternatives (one at most); `since`/`until` in milliseconds.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsRequest {
    group: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    since: Option<u64>,
    until: Option<u64>,
    limit: Option<usize>,
    after: Option<String>,
}

/// Reads the audit trail, newest first, a page at a time: `*out` receives
/// `{"items": [events], "next": cursor}`.
///
/// # Safety
/// `query` is NULL or a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_events(
    db: *const OneDb,
    ctx: *const OneCtx,
    query: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: EventsRequest = raw.optional_json(query, "query")?;
        let filters = [&request.kind, &request.actor, &request.target];
        if filters.iter().filter(|f| f.is_some()).count() > 1 {
            return Err(Failure::invalid(
                "`query`: give at most one of type, actor and target",
            ));
        }
        let mut query = EventQuery::latest();
        if let Some(g) = request.group {
            query = query.group(parse_id(&g)?);
        }
        if let Some(k) = request.kind {
            query = query.kind(k);
        }
        if let Some(a) = request.actor {
            query = query.actor(if a == "system" {
                Principal::System
            } else {
                match any_id(&a)? {
                    one::Ref::ThingId(p) => Principal::Person(p),
                    one::Ref::KeyId(k) => Principal::ApiKey(k),
                    _ => {
                        return Err(Failure::from(one::Error::InvalidField {
                            field: "actor".into(),
                            reason: format!("{a:?} is not \"system\", a person or an API key"),
                        }));
                    }
                }
            });
        }
        if let Some(t) = request.target {
            query = query.target(any_id(&t)?);
        }
        if let Some(t) = request.since {
            query = query.since(time(t));
        }
        if let Some(t) = request.until {
            query = query.until(time(t));
        }
        if let Some(n) = request.limit {
            query = query.limit(n);
        }
        if let Some(c) = request.after {
            query = query.after(one::Cursor::from_text(c));
        }
        let p = db.read(&ctx, |v| v.events(&query))?;
        out.json(&to_json::page(&p, to_json::event))
    })
}

/// `{"text", "labels", "source", "metadata", "embedding", "group"}`; all but `text`
/// optional. Without `embedding`, the database's embedder computes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnowledgeRequest {
    text: String,
    #[serde(default)]
    labels: Vec<String>,
    source: Option<String>,
    metadata: Option<Json>,
    embedding: Option<Vec<f32>>,
    group: Option<String>,
}

/// Adds a knowledge chunk. `*out` receives it (without its vector).
///
/// # Safety
/// `knowledge` is a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_knowledge_create(
    db: *const OneDb,
    ctx: *const OneCtx,
    knowledge: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: KnowledgeRequest = raw.json(knowledge, "knowledge")?;
        let mut new = NewKnowledge::new(request.text).labels(&request.labels);
        if let Some(s) = request.source {
            new = new.source(any_id(&s)?);
        }
        if let Some(m) = value(request.metadata) {
            new = new.metadata(m);
        }
        if let Some(v) = request.embedding {
            new = new.embedding(v);
        }
        if let Some(g) = request.group {
            new = new.in_group(parse_id(&g)?);
        }
        let k = db.write(&ctx, |tx| tx.create_knowledge(new))?;
        out.json(&to_json::knowledge(&k))
    })
}

/// Reads a knowledge chunk.
///
/// # Safety
/// `knowledge` is a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_knowledge_get(
    db: *const OneDb,
    ctx: *const OneCtx,
    knowledge: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let knowledge: KnowledgeId = raw.id(knowledge, "knowledge")?;
        let k = db.read(&ctx, |v| v.get_knowledge(knowledge))?;
        out.json(&to_json::knowledge(&k))
    })
}

/// Deletes a knowledge chunk. `*out` receives it as it was.
///
/// # Safety
/// `knowledge` is a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_knowledge_delete(
    db: *const OneDb,
    ctx: *const OneCtx,
    knowledge: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let knowledge: KnowledgeId = raw.id(knowledge, "knowledge")?;
        let k = db.write(&ctx, |tx| tx.delete_knowledge(knowledge))?;
        out.json(&to_json::knowledge(&k))
    })
}

/// `{"text" or "vector", "k", "group", "include_children", "any_labels", "all_labels",
/// "source", "metric": "cosine"|"dot"}`; one of `text` and `vector` is required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    text: Option<String>,
    vector: Option<Vec<f32>>,
    k: Option<usize>,
    group: Option<String>,
    #[serde(default)]
    include_children: bool,
    #[serde(default)]
    any_labels: Vec<String>,
    #[serde(default)]
    all_labels: Vec<String>,
    source: Option<String>,
    metric: Option<String>,
}

/// Searches knowledge by meaning: `*out` receives `[{"knowledge": chunk, "score": s}]`,
/// closest first.
///
/// # Safety
/// `query` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_knowledge_search(
    db: *const OneDb,
    ctx: *const OneCtx,
    query: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let request: SearchRequest = raw.json(query, "query")?;
        let mut query = match (request.text, request.vector) {
            (Some(t), None) => KnowledgeQuery::text(t),
            (None, Some(v)) => KnowledgeQuery::vector(v),
            _ => {
                return Err(Failure::invalid(
                    "`query`: give exactly one of text and vector",
                ));
            }
        };
        if let Some(k) = request.k {
            query = query.k(k);
        }
        if let Some(g) = request.group {
            query = query.group(parse_id(&g)?);
        }
        if request.include_children {
            query = query.include_children();
        }
        if !request.any_labels.is_empty() {
            query = query.any_label(&request.any_labels);
        }
        if !request.all_labels.is_empty() {
            query = query.all_labels(&request.all_labels);
        }
        if let Some(s) = request.source {
            query = query.source(any_id(&s)?);
        }
        match request.metric.as_deref() {
            None | Some("cosine") => {}
            Some("dot") => query = query.metric(Metric::Dot),
            Some(other) => {
                return Err(Failure::from(one::Error::InvalidField {
                    field: "metric".into(),
                    reason: format!("{other:?} is not one of cosine or dot"),
                }));
            }
        }
        let hits = db.read(&ctx, |v| v.query_knowledge(&query))?;
        out.json(&to_json::list(&hits, to_json::hit))
    })
}
