//! The JSON forms of records, as every call returns them: the one place that fixes the
//! C ABI's output format (bindings/README.md documents it).
//!
//! Ids are their text (`thg_…`), times integer milliseconds since the Unix epoch,
//! properties and metadata plain JSON, enums lower-case names. Each form is a borrowed
//! view serialised straight to text, with no intermediate JSON tree.

use std::fmt::Display;

use one::plugins::TypeSchema;
use one::{
    ApiKey, Connection, Event, Group, Hit, KeyStatus, Knowledge, Page, PluginInfo, ResourceUsage,
    Thing, Timestamp, Value,
};
use serde::{Serialize, Serializer};

/// Anything shown by its text: ids, principals, address ranges.
struct Shown<T>(T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A stored value as plain JSON.
struct Plain<'a>(&'a Value);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(t) => s.serialize_str(t),
            Value::List(l) => s.collect_seq(l.iter().map(Plain)),
            Value::Map(m) => s.collect_map(m.iter().map(|(k, v)| (k, Plain(v)))),
        }
    }
}

fn ms(t: Timestamp) -> u64 {
    t.as_millis()
}

/// A group.
#[derive(Serialize)]
pub(crate) struct GroupJson<'a> {
    id: Shown<one::GroupId>,
    parent: Option<Shown<one::GroupId>>,
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    slug: &'a str,
    status: &'static str,
    properties: Plain<'a>,
    created_at: u64,
    updated_at: u64,
}

/// A group's JSON form.
pub(crate) fn group(g: &Group) -> GroupJson<'_> {
    GroupJson {
        id: Shown(g.id),
        parent: g.parent.map(Shown),
        kind: g.kind.as_str(),
        name: &g.name,
        slug: &g.slug,
        status: g.status.as_str(),
        properties: Plain(&g.properties),
        created_at: ms(g.created_at),
        updated_at: ms(g.updated_at),
    }
}

/// A thing (people are things of type `person`).
#[derive(Serialize)]
pub(crate) struct ThingJson<'a> {
    id: Shown<one::ThingId>,
    group: Shown<one::GroupId>,
    #[serde(rename = "type")]
    kind: &'a str,
    name: &'a str,
    status: &'static str,
    properties: Plain<'a>,
    created_at: u64,
    updated_at: u64,
}

/// A thing's JSON form.
pub(crate) fn thing(t: &Thing) -> ThingJson<'_> {
    ThingJson {
        id: Shown(t.id),
        group: Shown(t.group),
        kind: &t.kind,
        name: &t.name,
        status: t.status.as_str(),
        properties: Plain(&t.properties),
        created_at: ms(t.created_at),
        updated_at: ms(t.updated_at),
    }
}

/// A connection (memberships are connections of type `member_of`).
#[derive(Serialize)]
pub(crate) struct ConnectionJson<'a> {
    id: Shown<one::ConnectionId>,
    group: Shown<one::GroupId>,
    from: Shown<one::Ref>,
    #[serde(rename = "type")]
    kind: &'a str,
    to: Shown<one::Ref>,
    metadata: Plain<'a>,
    created_at: u64,
}

/// A connection's JSON form.
pub(crate) fn connection(c: &Connection) -> ConnectionJson<'_> {
    ConnectionJson {
        id: Shown(c.id),
        group: Shown(c.group),
        from: Shown(c.from),
        kind: &c.kind,
        to: Shown(c.to),
        metadata: Plain(&c.metadata),
        created_at: ms(c.created_at),
    }
}

/// An event.
#[derive(Serialize)]
pub(crate) struct EventJson<'a> {
    id: Shown<one::EventId>,
    seq: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    actor: Shown<one::Principal>,
    group: Shown<one::GroupId>,
    target: Option<Shown<one::Ref>>,
    metadata: Plain<'a>,
    time: u64,
}

/// An event's JSON form.
pub(crate) fn event(e: &Event) -> EventJson<'_> {
    EventJson {
        id: Shown(e.id),
        seq: e.seq,
        kind: &e.kind,
        actor: Shown(e.actor),
        group: Shown(e.group),
        target: e.target.map(Shown),
        metadata: Plain(&e.metadata),
        time: ms(e.time()),
    }
}

/// A knowledge chunk (without its vector).
#[derive(Serialize)]
pub(crate) struct KnowledgeJson<'a> {
    id: Shown<one::KnowledgeId>,
    group: Shown<one::GroupId>,
    text: &'a str,
    labels: &'a [String],
    source: Option<Shown<one::Ref>>,
    metadata: Plain<'a>,
    created_at: u64,
    updated_at: u64,
}

/// A knowledge chunk's JSON form.
pub(crate) fn knowledge(k: &Knowledge) -> KnowledgeJson<'_> {
    KnowledgeJson {
        id: Shown(k.id),
        group: Shown(k.group),
        text: &k.text,
        labels: &k.labels,
        source: k.source.map(Shown),
        metadata: Plain(&k.metadata),
        created_at: ms(k.created_at),
        updated_at: ms(k.updated_at),
    }
}

/// A search result.
#[derive(Serialize)]
pub(crate) struct HitJson<'a> {
    knowledge: KnowledgeJson<'a>,
    score: f32,
}

/// A search result's JSON form.
pub(crate) fn hit(h: &Hit) -> HitJson<'_> {
    HitJson {
        knowledge: knowledge(&h.knowledge),
        score: h.score,
    }
}

/// An API key's record: never its secret, nor the secret's digest.
#[derive(Serialize)]
pub(crate) struct ApiKeyJson<'a> {
    id: Shown<one::KeyId>,
    group: Shown<one::GroupId>,
    env: &'static str,
    name: &'a str,
    prefix: &'a str,
    permissions: Vec<String>,
    expires_at: Option<u64>,
    allowed_ips: Vec<Shown<one::IpRange>>,
    status: &'static str,
    created_by: Shown<one::Principal>,
    created_at: u64,
    revoked_at: Option<u64>,
    last_used_at: Option<u64>,
    calls_this_month: u64,
    monthly_calls: Option<u64>,
    rate: Option<RateJson>,
}

/// A key's rate limit.
#[derive(Serialize)]
pub(crate) struct RateJson {
    per_second: u32,
    burst: u32,
}

/// An API key's JSON form.
pub(crate) fn api_key(k: &ApiKey) -> ApiKeyJson<'_> {
    ApiKeyJson {
        id: Shown(k.id),
        group: Shown(k.group),
        env: k.env.as_str(),
        name: &k.name,
        prefix: &k.prefix,
        permissions: k.permissions.names(),
        expires_at: k.expires_at.map(ms),
        allowed_ips: k.allowed_ips.iter().copied().map(Shown).collect(),
        status: if k.status == KeyStatus::Active {
            "active"
        } else {
            "revoked"
        },
        created_by: Shown(k.created_by),
        created_at: ms(k.created_at),
        revoked_at: k.revoked_at.map(ms),
        last_used_at: k.last_used_at.map(ms),
        calls_this_month: k.calls_this_month,
        monthly_calls: k.monthly_calls,
        rate: k.rate.map(|r| RateJson {
            per_second: r.per_second,
            burst: r.burst,
        }),
    }
}

/// An installed plugin.
#[derive(Serialize)]
pub(crate) struct PluginJson<'a> {
    name: &'a str,
    version: &'a str,
    module: &'a str,
    enabled: bool,
    types: &'a [TypeSchema],
    reacts: bool,
    installed_at: u64,
    updated_at: u64,
}

/// A plugin's JSON form.
pub(crate) fn plugin(p: &PluginInfo) -> PluginJson<'_> {
    PluginJson {
        name: &p.name,
        version: &p.version,
        module: &p.module,
        enabled: p.enabled,
        types: &p.types,
        reacts: p.reacts,
        installed_at: ms(p.installed_at),
        updated_at: ms(p.updated_at),
    }
}

/// The usage of one resource.
#[derive(Serialize)]
pub(crate) struct UsageJson {
    resource: &'static str,
    used: u64,
    limit: Option<u64>,
    resets_at: Option<u64>,
}

/// A resource usage's JSON form.
pub(crate) fn usage(u: &ResourceUsage) -> UsageJson {
    UsageJson {
        resource: u.resource.as_str(),
        used: u.used,
        limit: u.limit,
        resets_at: u.resets_at.map(ms),
    }
}

/// A page of results: `{"items": […], "next": cursor or null}`.
#[derive(Serialize)]
pub(crate) struct PageJson<'a, J> {
    items: Vec<J>,
    next: Option<&'a str>,
}

/// A page's JSON form, each item through `item`.
pub(crate) fn page<'a, T, J>(p: &'a Page<T>, item: impl Fn(&'a T) -> J) -> PageJson<'a, J> {
    PageJson {
        items: p.items.iter().map(item).collect(),
        next: p.next.as_ref().map(|c| c.as_str()),
    }
}

/// A list's JSON form, each item through `item`.
pub(crate) fn list<'a, T, J>(items: &'a [T], item: impl Fn(&'a T) -> J) -> Vec<J> {
    items.iter().map(item).collect()
}
