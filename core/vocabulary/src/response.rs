//! What the engine answers to a [`Request`](crate::request::Request), and how a failure
//! travels.
//!
//! In JSON a response is an object with one key naming its shape
//! (`{"thing":{…}}`, `{"thing_page":{"items":[…],"next":null}}`, `"done"`); the doc of
//! each request variant names the shape it answers with. A failure is a [`Failure`]: the
//! error's stable code, its name, its message and the input at fault.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::context::Context;
use crate::error::Error;
use crate::id::{EventId, GroupId, Ref, ThingId};
use crate::identity::{Session, SignedIn, SignedUp, TwoFactorEnabled, TwoFactorEnrollment};
use crate::metering::{KeyCall, ResourceUsage, RevenueReport, RevenueSplit};
use crate::money::{Bps, Money};
use crate::operations::{CheckReport, Counts, PortableReport, Stats};
use crate::page::Page;
use crate::permission::PermissionSet;
use crate::plugins::{PluginInfo, TypeSchema};
use crate::records::connection::Connection;
use crate::records::event::Event;
use crate::records::group::Group;
use crate::records::index::IndexDef;
use crate::records::key::{ApiKey, CreatedKey};
use crate::records::knowledge::{CompactReport, Hit, IndexInfo, Knowledge};
use crate::records::search::ThingHit;
use crate::records::thing::Thing;
use crate::secret::Secret;

/// The result of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[allow(
    clippy::large_enum_variant,
    reason = "a response is made once and moved once; boxing would only add an allocation"
)]
pub enum Response {
    /// Nothing to return: the operation was done.
    Done,
    /// A count (of sessions ended, …).
    Count(u64),
    /// Whether something is allowed.
    Allowed(bool),
    /// Whether something existed and was removed.
    Removed(bool),
    /// A group.
    Group(Group),
    /// Groups.
    Groups(Vec<Group>),
    /// A page of groups.
    GroupPage(Page<Group>),
    /// A tenant found by slug or domain, or none.
    Tenant(Option<Group>),
    /// A thing (people are things of type `person`).
    Thing(Thing),
    /// A page of things.
    ThingPage(Page<Thing>),
    /// A page of text search hits, most relevant first.
    ThingHits(Page<ThingHit>),
    /// A thing's id.
    ThingId(ThingId),
    /// A connection (memberships are connections of type `member_of`).
    Connection(Connection),
    /// Connections.
    Connections(Vec<Connection>),
    /// A page of connections.
    ConnectionPage(Page<Connection>),
    /// An event.
    Event(Event),
    /// A page of events.
    EventPage(Page<Event>),
    /// What a principal may do in a group.
    Permissions(PermissionSet),
    /// An API key, without its secret.
    ApiKey(ApiKey),
    /// API keys, without their secrets.
    ApiKeys(Vec<ApiKey>),
    /// A new API key with its secret, shown this once.
    CreatedKey(CreatedKey),
    /// An admitted API-key call.
    KeyCall(KeyCall),
    /// What a sign-up made.
    SignedUp(SignedUp),
    /// What a sign-in gave: `{"session": …}`, or `{"second_factor": …}` when a code of
    /// the person's authenticator is asked for next.
    SignedIn(SignedIn),
    /// A new session.
    Session(Session),
    /// A new authenticator secret, to confirm with a first code.
    TwoFactorEnrollment(TwoFactorEnrollment),
    /// Two-factor sign-in turned on: the recovery codes, and the session of a sign-in it
    /// completed.
    TwoFactorEnabled(TwoFactorEnabled),
    /// A one-time token, shown this once.
    Secret(Secret),
    /// A password reset token, or none when the email is nobody's (answer both alike).
    ResetToken(Option<Secret>),
    /// The context a token acts as.
    Context(Context),
    /// Usage of each resource.
    Usage(Vec<ResourceUsage>),
    /// A revenue share in basis points.
    Bps(Bps),
    /// A total split along a chain of groups: each group's part, `null` for what stays
    /// with the platform.
    RevenueChain(Vec<(Option<GroupId>, Money)>),
    /// Revenue over a time range.
    RevenueReport(RevenueReport),
    /// How recorded revenue was split.
    RevenueSplit(RevenueSplit),
    /// A knowledge chunk.
    Knowledge(Knowledge),
    /// Search results, best first.
    Hits(Vec<Hit>),
    /// The state of a vector index.
    IndexInfo(IndexInfo),
    /// What compacting the vector indexes did.
    CompactReport(CompactReport),
    /// A plugin.
    Plugin(PluginInfo),
    /// Plugins.
    Plugins(Vec<PluginInfo>),
    /// Thing types defined by plugins.
    ThingTypes(#[schemars(with = "Vec<serde_json::Value>")] Vec<TypeSchema>),
    /// Changes from the feed, oldest first.
    Changes {
        /// The changes.
        events: Vec<Event>,
        /// Where the next poll resumes (`after`); `null` when nothing was ever committed.
        cursor: Option<EventId>,
    },
    /// An export.
    Export {
        /// The export's lines.
        text: String,
        /// What it holds.
        report: PortableReport,
    },
    /// What an import restored.
    PortableReport(PortableReport),
    /// Record counts of a group.
    Counts(Counts),
    /// Record counts of the database.
    Stats(Stats),
    /// What a consistency check found.
    CheckReport(CheckReport),
    /// A declared index.
    Index(IndexDef),
    /// Declared indexes.
    Indexes(Vec<IndexDef>),
}

impl Response {
    /// The snake_case name of the response's shape, as its JSON form writes it.
    pub fn shape(&self) -> &'static str {
        match self {
            Response::Done => "done",
            Response::Count(_) => "count",
            Response::Allowed(_) => "allowed",
            Response::Removed(_) => "removed",
            Response::Group(_) => "group",
            Response::Groups(_) => "groups",
            Response::GroupPage(_) => "group_page",
            Response::Tenant(_) => "tenant",
            Response::Thing(_) => "thing",
            Response::ThingPage(_) => "thing_page",
            Response::ThingHits(_) => "thing_hits",
            Response::ThingId(_) => "thing_id",
            Response::Connection(_) => "connection",
            Response::Connections(_) => "connections",
            Response::ConnectionPage(_) => "connection_page",
            Response::Event(_) => "event",
            Response::EventPage(_) => "event_page",
            Response::Permissions(_) => "permissions",
            Response::ApiKey(_) => "api_key",
            Response::ApiKeys(_) => "api_keys",
            Response::CreatedKey(_) => "created_key",
            Response::KeyCall(_) => "key_call",
            Response::SignedUp(_) => "signed_up",
            Response::SignedIn(_) => "signed_in",
            Response::Session(_) => "session",
            Response::TwoFactorEnrollment(_) => "two_factor_enrollment",
            Response::TwoFactorEnabled(_) => "two_factor_enabled",
            Response::Secret(_) => "secret",
            Response::ResetToken(_) => "reset_token",
            Response::Context(_) => "context",
            Response::Usage(_) => "usage",
            Response::Bps(_) => "bps",
            Response::RevenueChain(_) => "revenue_chain",
            Response::RevenueReport(_) => "revenue_report",
            Response::RevenueSplit(_) => "revenue_split",
            Response::Knowledge(_) => "knowledge",
            Response::Hits(_) => "hits",
            Response::IndexInfo(_) => "index_info",
            Response::CompactReport(_) => "compact_report",
            Response::Plugin(_) => "plugin",
            Response::Plugins(_) => "plugins",
            Response::ThingTypes(_) => "thing_types",
            Response::Changes { .. } => "changes",
            Response::Export { .. } => "export",
            Response::PortableReport(_) => "portable_report",
            Response::Counts(_) => "counts",
            Response::Stats(_) => "stats",
            Response::CheckReport(_) => "check_report",
            Response::Index(_) => "index",
            Response::Indexes(_) => "indexes",
        }
    }

    /// The response's content: the value under its one key in the JSON form (`null` for
    /// `"done"`), what the typed C functions and the server's resource routes answer with.
    pub fn content(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => map
                .values_mut()
                .next()
                .map(std::mem::take)
                .unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    }

    /// The id of the one record the response is about, if it is about one: what a later
    /// step of a batch names with `{"$ref": n}`.
    pub fn id(&self) -> Option<Ref> {
        match self {
            Response::Group(g) => Some(g.id.into()),
            Response::Thing(t) => Some(t.id.into()),
            Response::ThingId(id) => Some((*id).into()),
            Response::Connection(c) => Some(c.id.into()),
            Response::Event(e) => Some(e.id.into()),
            Response::ApiKey(k) => Some(k.id.into()),
            Response::CreatedKey(k) => Some(k.key.id.into()),
            Response::SignedUp(s) => Some(s.person.id.into()),
            Response::Knowledge(k) => Some(k.id.into()),
            _ => None,
        }
    }
}

/// A failed request, as it travels: the error's stable [code](Error::code), its
/// [name](Error::name), its message, and the input at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// The stable code (`100` not found, `104` invalid field, …).
    pub code: u32,
    /// The code's snake_case name (`not_found`, `invalid_field`, …).
    pub name: String,
    /// What went wrong, for people.
    pub message: String,
    /// The field or path at fault, when the error names one.
    #[serde(default)]
    pub field: Option<String>,
    /// In a batch, the index of the step that failed.
    #[serde(default)]
    pub step: Option<u32>,
    /// For a rate limit: milliseconds until a call can succeed.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// For a quota: when the usage starts again from zero, if it does.
    #[serde(default)]
    pub resets_at: Option<Timestamp>,
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Self {
        Failure {
            code: e.code(),
            name: e.name().to_string(),
            message: e.to_string(),
            field: e.field().map(str::to_string),
            step: None,
            retry_after_ms: match e {
                Error::RateLimited { retry_after_ms } => Some(*retry_after_ms),
                _ => None,
            },
            resets_at: match e {
                Error::QuotaExceeded { resets_at, .. } => *resets_at,
                _ => None,
            },
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::from(&e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(step) = self.step {
            write!(f, "step {step}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
