//! Things, connections, events and knowledge.

use std::ffi::{c_char, c_int};

use one::{
    ConnectionId, ConnectionQuery, EventQuery, KnowledgeId, KnowledgeQuery, NewConnection,
    NewEvent, NewKnowledge, NewThing, ThingId, ThingQuery, ThingUpdate,
};

use crate::boundary::{OneCtx, OneDb, exported};

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
        let new: NewThing = raw.json(thing, "thing")?;
        out.json(&db.write(&ctx, |tx| tx.create_thing(new.clone()))?)
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
        out.json(&db.read(&ctx, |v| v.get_thing(thing))?)
    })
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
        let change: ThingUpdate = raw.json(update, "update")?;
        out.json(&db.write(&ctx, |tx| tx.update_thing(thing, change.clone()))?)
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
        out.json(&db.write(&ctx, |tx| tx.delete_thing(thing))?)
    })
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
        let query: ThingQuery = raw.json(query, "query")?;
        out.json(&db.read(&ctx, |v| v.things(&query))?)
    })
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
        let new: NewConnection = raw.json(connection, "connection")?;
        out.json(&db.write(&ctx, |tx| tx.connect(new.clone()))?)
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
        out.json(&db.read(&ctx, |v| v.get_connection(connection))?)
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
        out.json(&db.write(&ctx, |tx| tx.disconnect(connection))?)
    })
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
        let query: ConnectionQuery = raw.json(query, "query")?;
        out.json(&db.read(&ctx, |v| v.connections(&query))?)
    })
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
        let event: NewEvent = raw.json(event, "event")?;
        out.json(&db.write(&ctx, |tx| {
            tx.log_event(&event.kind, event.target, event.metadata.clone())
        })?)
    })
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
        let query: EventQuery = raw.optional_json(query, "query")?;
        out.json(&db.read(&ctx, |v| v.events(&query))?)
    })
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
        let new: NewKnowledge = raw.json(knowledge, "knowledge")?;
        out.json(&db.write(&ctx, |tx| tx.create_knowledge(new.clone()))?)
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
        out.json(&db.read(&ctx, |v| v.get_knowledge(knowledge))?)
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
        out.json(&db.write(&ctx, |tx| tx.delete_knowledge(knowledge))?)
    })
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
        let query: KnowledgeQuery = raw.json(query, "query")?;
        out.json(&db.read(&ctx, |v| v.query_knowledge(&query))?)
    })
}
