//! The JSON forms of records, as every call returns them: the one place that fixes the
//! C ABI's output format (bindings/README.md documents it).
//!
//! Ids are their text (`thg_…`), times integer milliseconds since the Unix epoch,
//! properties and metadata plain JSON, enums lower-case names.

use one::serde_json::{Value as Json, json};
use one::{
    ApiKey, Connection, Env, Event, Group, Hit, KeyStatus, Knowledge, Page, PluginInfo,
    ResourceUsage, Thing, Timestamp,
};

fn time(t: Timestamp) -> Json {
    json!(t.as_millis())
}

fn optional_time(t: Option<Timestamp>) -> Json {
    t.map_or(Json::Null, time)
}

fn env(e: Env) -> &'static str {
    match e {
        Env::Live => "live",
        Env::Test => "test",
    }
}

/// A group.
pub(crate) fn group(g: &Group) -> Json {
    json!({
        "id": g.id.to_string(),
        "parent": g.parent.map(|p| p.to_string()),
        "type": g.kind.as_str(),
        "name": g.name,
        "slug": g.slug,
        "status": g.status.as_str(),
        "properties": g.properties.to_json(),
        "created_at": time(g.created_at),
        "updated_at": time(g.updated_at),
    })
}

/// A thing (people are things of type `person`).
pub(crate) fn thing(t: &Thing) -> Json {
    json!({
        "id": t.id.to_string(),
        "group": t.group.to_string(),
        "type": t.kind,
        "name": t.name,
        "status": t.status.as_str(),
        "properties": t.properties.to_json(),
        "created_at": time(t.created_at),
        "updated_at": time(t.updated_at),
    })
}

/// A connection (memberships are connections of type `member_of`).
pub(crate) fn connection(c: &Connection) -> Json {
    json!({
        "id": c.id.to_string(),
        "group": c.group.to_string(),
        "from": c.from.to_string(),
        "type": c.kind,
        "to": c.to.to_string(),
        "metadata": c.metadata.to_json(),
        "created_at": time(c.created_at),
    })
}

/// An event.
pub(crate) fn event(e: &Event) -> Json {
    json!({
        "id": e.id.to_string(),
        "seq": e.seq,
        "type": e.kind,
        "actor": e.actor.to_string(),
        "group": e.group.to_string(),
        "target": e.target.map(|t| t.to_string()),
        "metadata": e.metadata.to_json(),
        "time": time(e.time()),
    })
}

/// A knowledge chunk (without its vector).
pub(crate) fn knowledge(k: &Knowledge) -> Json {
    json!({
        "id": k.id.to_string(),
        "group": k.group.to_string(),
        "text": k.text,
        "labels": k.labels,
        "source": k.source.map(|s| s.to_string()),
        "metadata": k.metadata.to_json(),
        "created_at": time(k.created_at),
        "updated_at": time(k.updated_at),
    })
}

/// A search result.
pub(crate) fn hit(h: &Hit) -> Json {
    json!({ "knowledge": knowledge(&h.knowledge), "score": h.score })
}

/// An API key's record: never its secret.
pub(crate) fn api_key(k: &ApiKey) -> Json {
    json!({
        "id": k.id.to_string(),
        "group": k.group.to_string(),
        "env": env(k.env),
        "name": k.name,
        "prefix": k.prefix,
        "permissions": k.permissions.names(),
        "expires_at": optional_time(k.expires_at),
        "allowed_ips": k.allowed_ips.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "status": if k.status == KeyStatus::Active { "active" } else { "revoked" },
        "created_by": k.created_by.to_string(),
        "created_at": time(k.created_at),
        "revoked_at": optional_time(k.revoked_at),
        "last_used_at": optional_time(k.last_used_at),
        "calls_this_month": k.calls_this_month,
        "monthly_calls": k.monthly_calls,
        "rate": k.rate.map(|r| json!({"per_second": r.per_second, "burst": r.burst})),
    })
}

/// An installed plugin.
pub(crate) fn plugin(p: &PluginInfo) -> Json {
    json!({
        "name": p.name,
        "version": p.version,
        "module": p.module,
        "enabled": p.enabled,
        "types": p.types,
        "reacts": p.reacts,
        "installed_at": time(p.installed_at),
        "updated_at": time(p.updated_at),
    })
}

/// The usage of one resource.
pub(crate) fn usage(u: &ResourceUsage) -> Json {
    json!({
        "resource": u.resource.as_str(),
        "used": u.used,
        "limit": u.limit,
        "resets_at": optional_time(u.resets_at),
    })
}

/// A page of results: `{"items": […], "next": cursor or null}`.
pub(crate) fn page<T>(p: &Page<T>, item: impl Fn(&T) -> Json) -> Json {
    json!({
        "items": p.items.iter().map(item).collect::<Vec<_>>(),
        "next": p.next.as_ref().map(|c| c.as_str()),
    })
}

/// A list of results.
pub(crate) fn list<T>(items: &[T], item: impl Fn(&T) -> Json) -> Json {
    Json::Array(items.iter().map(item).collect())
}
