//! Every operation of the engine as one value: what the embedded engine executes and
//! every transport carries.
//!
//! A [`Request`] names one public operation and holds its arguments; the engine answers
//! with a [`Response`](crate::response::Response). The acting principal is not part of a
//! request: the caller passes a [`Context`](crate::context::Context) beside it, made from
//! a session, an API key or the application itself.
//!
//! # Forms
//!
//! In JSON (the C ABI, HTTP) a request is an object with one key, the operation's
//! snake_case name, whose value holds the arguments: `{"get_thing":{"id":"thg_…"}}`,
//! `{"create_thing":{"type":"product","name":"Mug"}}`, `"root_groups"` for an operation
//! without arguments. Ids are their text, times integer milliseconds, properties plain
//! JSON, enums snake_case names; an unknown field is refused. Between Rust programs the
//! same types travel in postcard, a compact binary form that names a variant by its
//! position: it is for peers built from the same version of this crate, where JSON is the
//! stable form. The JSON Schema of both directions is committed as
//! `core/vocabulary/schema.json`.
//!
//! # Where operations run
//!
//! [`Request::runs_in`] says whether an operation reads one snapshot, writes in one
//! transaction, or runs on the engine as a whole (sign-in flows, plugin lifecycle,
//! maintenance). Only the first two can be steps of a batch, which runs every step in
//! one write transaction; [`Request::platform`] operations need the `system` principal.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::id::{ConnectionId, EventId, GroupId, KeyId, KnowledgeId, ThingId};
use crate::metering::{CycleStage, Payment, PaymentRail};
use crate::money::Money;
use crate::operations::{ChangeFilter, ImportInto};
use crate::page::Cursor;
use crate::permission::Permission;
use crate::records::connection::{ConnectionQuery, GroupConnectionQuery, NewConnection};
use crate::records::event::{EventQuery, NewEvent};
use crate::records::group::{GroupUpdate, NewGroup};
use crate::records::key::NewApiKey;
use crate::records::knowledge::{KnowledgeQuery, NewKnowledge};
use crate::records::person::NewPerson;
use crate::records::search::TextQuery;
use crate::records::thing::{NewThing, ThingQuery, ThingUpdate};
use crate::resource::Resource;

/// Where an operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunsIn {
    /// A read of one snapshot.
    Read,
    /// A write transaction: the operation and its event commit together.
    Write,
    /// The engine as a whole: its own transactions, or none.
    Engine,
}

macro_rules! requests {
    ($(
        $(#[$doc:meta])*
        $name:ident $({ $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? })? $(($inner:ty))?
            => $runs:ident $(, $platform:ident)?;
    )*) => {
        /// One operation of the engine with its arguments. See the [module
        /// docs](self) for the forms and [`Request::runs_in`] for where each runs.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case", deny_unknown_fields)]
        pub enum Request {
            $(
                $(#[$doc])*
                $name $({ $($(#[$fdoc])* $field: $ty),* })? $(($inner))?,
            )*
        }

        impl Request {
            /// The snake_case name of every operation, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(requests!(@snake $name)),*];

            /// The operation's snake_case name, as its JSON form writes it.
            pub fn name(&self) -> &'static str {
                match self {
                    $(requests!(@pat $name $({ $($field),* })? $(($inner))?) => requests!(@snake $name),)*
                }
            }

            /// Where the operation runs.
            pub fn runs_in(&self) -> RunsIn {
                match self {
                    $(requests!(@pat $name $({ $($field),* })? $(($inner))?) => RunsIn::$runs,)*
                }
            }

            /// Whether the operation is the platform's, not a tenant's (creating tenants,
            /// maintenance, imports): only the `system` principal may run it.
            pub fn platform(&self) -> bool {
                match self {
                    $(requests!(@pat $name $({ $($field),* })? $(($inner))?) => requests!(@platform $($platform)?),)*
                }
            }
        }
    };
    (@pat $name:ident { $($field:ident),* }) => { Request::$name { .. } };
    (@pat $name:ident ($inner:ty)) => { Request::$name(_) };
    (@pat $name:ident) => { Request::$name };
    (@platform platform) => { true };
    (@platform) => { false };
    (@snake $name:ident) => {{
        const CAMEL: &str = stringify!($name);
        const BYTES: [u8; snake_len(CAMEL)] = to_snake(CAMEL);
        const NAME: &str = match std::str::from_utf8(&BYTES) {
            Ok(name) => name,
            Err(_) => panic!("operation names are ASCII"),
        };
        NAME
    }};
}

/// The length of `camel` (`CreateThing`) in snake_case (`create_thing`).
pub(crate) const fn snake_len(camel: &str) -> usize {
    let b = camel.as_bytes();
    let mut n = b.len();
    let mut i = 1;
    while i < b.len() {
        if b[i].is_ascii_uppercase() {
            n += 1;
        }
        i += 1;
    }
    n
}

/// `camel` (`CreateThing`) in snake_case (`create_thing`), as serde's `rename_all` writes it.
pub(crate) const fn to_snake<const N: usize>(camel: &str) -> [u8; N] {
    let b = camel.as_bytes();
    let mut out = [0u8; N];
    let (mut i, mut o) = (0, 0);
    while i < b.len() {
        if b[i].is_ascii_uppercase() {
            if i > 0 {
                out[o] = b'_';
                o += 1;
            }
            out[o] = b[i].to_ascii_lowercase();
        } else {
            out[o] = b[i];
        }
        o += 1;
        i += 1;
    }
    out
}

requests! {
    // ── groups ──────────────────────────────────────────────────────────────────
    /// A group of the context's scope. → `group`
    GetGroup { /** The group. */ id: GroupId } => Read;
    /// A page of a group's children. → `group_page`
    Children {
        /** The parent group. */ group: GroupId,
        /** The page size (default 50, at most 1000). */ #[serde(default)] limit: Option<usize>,
        /** Resume after the page that returned this cursor. */ #[serde(default)] after: Option<Cursor>,
    } => Read;
    /// A group and all its descendants, parents first. → `groups`
    Subtree { /** The top of the subtree. */ group: GroupId } => Read;
    /// Makes a group below `parent`. Needs `groups:write` there. → `group`
    CreateGroup { /** The parent group. */ parent: GroupId, /** The new group. */ group: NewGroup } => Write;
    /// Changes a group (a new `parent` moves it). → `group`
    UpdateGroup { /** The group. */ id: GroupId, /** The change. */ update: GroupUpdate } => Write;
    /// Archives a group: it accepts no new records. → `group`
    ArchiveGroup { /** The group. */ id: GroupId } => Write;

    // ── things ──────────────────────────────────────────────────────────────────
    /// A thing. → `thing`
    GetThing { /** The thing. */ id: ThingId } => Read;
    /// A page of things of one type. → `thing_page`
    Things(ThingQuery) => Read;
    /// Things whose text holds the query's words, most relevant first. → `thing_hits`
    SearchThings(TextQuery) => Read;
    /// Makes a thing. → `thing`
    CreateThing(NewThing) => Write;
    /// Changes a thing (properties merge). → `thing`
    UpdateThing { /** The thing. */ id: ThingId, /** The change. */ update: ThingUpdate } => Write;
    /// Deletes a thing (softly: it stays readable by id). → `thing`
    DeleteThing { /** The thing. */ id: ThingId } => Write;

    // ── connections ─────────────────────────────────────────────────────────────
    /// A connection. → `connection`
    GetConnection { /** The connection. */ id: ConnectionId } => Read;
    /// A page of a node's connections. → `connection_page`
    Connections(ConnectionQuery) => Read;
    /// A page of the connections of a group (and the groups below), by type, time and
    /// metadata. → `connection_page`
    GroupConnections(GroupConnectionQuery) => Read;
    /// Connects two records. → `connection`
    Connect(NewConnection) => Write;
    /// Changes a connection's metadata (a merge patch: `null` removes a key). → `connection`
    UpdateConnection { /** The connection. */ id: ConnectionId, /** The merge patch (a map). */ metadata: crate::value::Value } => Write;
    /// Removes a connection. → `connection`
    Disconnect { /** The connection. */ id: ConnectionId } => Write;

    // ── people and memberships ──────────────────────────────────────────────────
    /// Makes a person (and their membership of the group). → `thing`
    CreatePerson(NewPerson) => Write;
    /// The person of the tenant with this email. → `thing`
    PersonByEmail { /** The email, in any case. */ email: String } => Read;
    /// A page of a group's memberships. → `connection_page`
    Members {
        /** The group. */ group: GroupId,
        /** The page size (default 50, at most 1000). */ #[serde(default)] limit: Option<usize>,
        /** Resume after the page that returned this cursor. */ #[serde(default)] after: Option<Cursor>,
    } => Read;
    /// A person's memberships. → `connections`
    Memberships { /** The person. */ person: ThingId } => Read;
    /// Makes a person a member of a group. → `connection`
    AddMember {
        /** The person. */ person: ThingId,
        /** The group. */ group: GroupId,
        /** The role's name. */ role: String,
        /** Permission strings; none means the role's defaults. */ #[serde(default)] permissions: Vec<String>,
    } => Write;
    /// Invites a person: a membership that gives nothing until accepted. → `connection`
    InviteMember {
        /** The person. */ person: ThingId,
        /** The group. */ group: GroupId,
        /** The role's name. */ role: String,
        /** Permission strings; none means the role's defaults. */ #[serde(default)] permissions: Vec<String>,
    } => Write;
    /// Accepts an invitation (the person themselves). → `connection`
    AcceptInvitation { /** The person. */ person: ThingId, /** The group. */ group: GroupId } => Write;
    /// Changes a member's role and permissions. → `connection`
    ChangeRole {
        /** The person. */ person: ThingId,
        /** The group. */ group: GroupId,
        /** The role's name. */ role: String,
        /** Permission strings; none means the role's defaults. */ #[serde(default)] permissions: Vec<String>,
    } => Write;
    /// Ends a membership. → `connection`
    RemoveMember { /** The person. */ person: ThingId, /** The group. */ group: GroupId } => Write;
    /// Everything the context may do in a group now. → `permissions`
    PermissionsIn { /** The group. */ group: GroupId } => Read;
    /// Whether the context may do one thing in a group now; never an error. → `allowed`
    Can { /** The permission. */ permission: Permission, /** The group. */ group: GroupId } => Engine;

    // ── events ──────────────────────────────────────────────────────────────────
    /// A page of a group's events, newest first. → `event_page`
    Events(EventQuery) => Read;
    /// Logs an application event. → `event`
    LogEvent(NewEvent) => Write;

    // ── API keys ────────────────────────────────────────────────────────────────
    /// The API keys of a group. → `api_keys`
    ApiKeys { /** The group. */ group: GroupId } => Read;
    /// Makes an API key; its secret is in the response and nowhere else. → `created_key`
    CreateApiKey(NewApiKey) => Write;
    /// Revokes an API key. → `api_key`
    RevokeApiKey { /** The key. */ id: KeyId } => Write;
    /// Replaces a key by a new one with the same settings. → `created_key`
    RotateApiKey { /** The key. */ id: KeyId } => Write;
    /// Admits one call made with an API key: its context and its rate-limit figures.
    /// Counts the call. → `key_call`
    CheckApiKey {
        /** The key's text. */ key: String,
        /** The caller's address, checked against the key's allowed ranges. */ #[serde(default)] client_ip: Option<std::net::IpAddr>,
    } => Engine;

    // ── sign-in ─────────────────────────────────────────────────────────────────
    /// Signs a person up with a password, as a member of a group. → `signed_up`
    SignUp {
        /** The group. */ group: GroupId,
        /** The email. */ email: String,
        /** The password. */ password: String,
        /** The display name (the email if none is given). */ #[serde(default)] name: String,
    } => Engine;
    /// Signs in with email and password: a session, or a wait for the second factor. →
    /// `signed_in`
    SignIn { /** The group. */ group: GroupId, /** The email. */ email: String, /** The password. */ password: String } => Engine;
    /// Signs in with an identity an external provider vouched for: a session, or a wait
    /// for the second factor. → `signed_in`
    SignInExternal {
        /** The group. */ group: GroupId,
        /** The provider's name. */ provider: String,
        /** The person's id at the provider. */ subject: String,
    } => Engine;
    /// Links an external identity to a person. → `done`
    LinkIdentity {
        /** The person. */ person: ThingId,
        /** The provider's name. */ provider: String,
        /** The person's id at the provider. */ subject: String,
    } => Write;
    /// A one-time sign-in token for a person, to send by email. → `secret`
    MagicLink { /** The group. */ group: GroupId, /** The email. */ email: String } => Engine;
    /// Signs in with a magic link's token: a session, or a wait for the second factor. →
    /// `signed_in`
    SignInWithMagicLink { /** The token. */ token: String } => Engine;
    /// A one-time token that verifies a person's email. → `secret`
    EmailVerification { /** The person. */ person: ThingId } => Engine;
    /// Verifies an email with its token. → `thing_id`
    VerifyEmail { /** The token. */ token: String } => Engine;
    /// The context a session token acts as. → `context`
    SessionContext { /** The session token. */ token: String } => Engine;
    /// Ends a session. → `done`
    SignOut { /** The session token. */ token: String } => Engine;
    /// A one-time token that sets a new (or a first) password for the person with this
    /// email, to send to the address; none for an email that is nobody's. → `reset_token`
    PasswordReset { /** The group. */ group: GroupId, /** The email. */ email: String } => Engine;
    /// Sets a new password with a reset token; every session of the person ends. →
    /// `thing_id`
    ResetPassword { /** The token. */ token: String, /** The new password. */ password: String } => Engine;
    /// Changes the password of the person signed in with a session, which goes on; their
    /// other sessions end. → `done`
    ChangePassword {
        /** The session token. */ session: String,
        /** The password now. */ current_password: String,
        /** The new password. */ new_password: String,
    } => Engine;
    /// Ends every session of a person. → `count`
    SignOutEverywhere { /** The person. */ person: ThingId } => Write;
    /// Completes a sign-in waiting for its second factor with a code of the person's
    /// authenticator app or a recovery code. → `session`
    CompleteSignIn {
        /** The pending sign-in's token (`second_factor.token`). */ token: String,
        /** A 6-digit code, or a recovery code. */ code: String,
    } => Engine;
    /// A new authenticator secret for a person, to confirm with a first code; the token is
    /// their session, or a pending sign-in in a group that requires two factors. →
    /// `two_factor_enrollment`
    EnrollTwoFactor { /** A session token or a pending sign-in's token. */ token: String } => Engine;
    /// Turns two-factor sign-in on with a first code; completes a pending sign-in. →
    /// `two_factor_enabled`
    ConfirmTwoFactor {
        /** The token the enrolment was made with. */ token: String,
        /** A 6-digit code of the new authenticator. */ code: String,
    } => Engine;
    /// Turns two-factor sign-in off for the person of a session, who gives a current code
    /// or a recovery code. → `done`
    DisableTwoFactor {
        /** The session token. */ session: String,
        /** A 6-digit code, or a recovery code. */ code: String,
    } => Engine;
    /// Removes a person's authenticator (a lost app), as someone managing them; never the
    /// person themselves. → `removed`
    ResetTwoFactor { /** The person. */ person: ThingId } => Write;
    /// Opens a session in another tenant as the same person (their account's person
    /// there), from a session; the first switch links the two. → `signed_in`
    SwitchTenant {
        /** The session token. */ session: String,
        /** A group of the other tenant. */ group: GroupId,
    } => Engine;

    // ── metering and revenue ────────────────────────────────────────────────────
    /// A group's usage of every resource, with its limits. → `usage`
    Usage { /** The group. */ group: GroupId } => Read;
    /// Counts AI or embedding tokens against the context's group. → `done`
    RecordUsage { /** The resource. */ resource: Resource, /** How much. */ amount: u64 } => Write;
    /// Records one stage of an AI cycle with its price. → `event`
    RecordCycle {
        /** The stage. */ stage: CycleStage,
        /** The model. */ model: String,
        /** Tokens used. */ tokens: u64,
        /** What it cost. */ price: Money,
    } => Write;
    /// A group's revenue share, in basis points. → `bps`
    RevenueShare { /** The group. */ group: GroupId } => Read;
    /// How a total splits up a group's chain of ancestors. → `revenue_chain`
    RevenueChain { /** The group. */ group: GroupId, /** The total. */ total: Money } => Read;
    /// A group's revenue in one currency over a time range. → `revenue_report`
    Revenue {
        /** The group. */ group: GroupId,
        /** The currency. */ currency: String,
        /** From this time (inclusive). */ from: Timestamp,
        /** Until this time (exclusive). */ until: Timestamp,
    } => Read;
    /// Records revenue and its split. → `revenue_split`
    RecordRevenue { /** The group. */ group: GroupId, /** The total. */ total: Money } => Write;
    /// Records a payment received. → `event`
    RecordPayment { /** The group. */ group: GroupId, /** The payment. */ payment: Payment } => Write;
    /// Records a revenue-share payout. → `event`
    DistributeRevenueShare {
        /** The group paid. */ group: GroupId,
        /** The amount. */ amount: Money,
        /** How it was paid. */ rail: PaymentRail,
        /** The payment's reference. */ reference: String,
    } => Write;

    // ── knowledge ───────────────────────────────────────────────────────────────
    /// A knowledge chunk. → `knowledge`
    GetKnowledge { /** The chunk. */ id: KnowledgeId } => Read;
    /// Adds a knowledge chunk. → `knowledge`
    CreateKnowledge(NewKnowledge) => Write;
    /// Replaces a chunk's labels. → `knowledge`
    SetKnowledgeLabels { /** The chunk. */ id: KnowledgeId, /** The labels. */ labels: Vec<String> } => Write;
    /// Deletes a chunk. → `knowledge`
    DeleteKnowledge { /** The chunk. */ id: KnowledgeId } => Write;
    /// The k nearest chunks. → `hits`
    QueryKnowledge(KnowledgeQuery) => Read;
    /// The state of a group's vector index. → `index_info`
    KnowledgeIndex { /** The group. */ group: GroupId } => Read;

    // ── plugins ─────────────────────────────────────────────────────────────────
    /// Installs a plugin into the context's tenant. → `plugin`
    InstallPlugin { /** The WASM module; hex text in JSON. */ #[serde(with = "crate::bytes")] #[schemars(with = "String")] wasm: Vec<u8> } => Engine;
    /// Upgrades a plugin to a new module. → `plugin`
    UpgradePlugin { /** The WASM module; hex text in JSON. */ #[serde(with = "crate::bytes")] #[schemars(with = "String")] wasm: Vec<u8> } => Engine;
    /// Enables or disables a plugin. → `plugin`
    SetPluginEnabled { /** The plugin's name. */ name: String, /** Enabled or not. */ enabled: bool } => Engine;
    /// Sets what a plugin is granted, among the permissions it asks for. → `plugin`
    GrantPlugin { /** The plugin's name. */ name: String, /** The permissions granted (`things:read`, …); the others it asks for are withdrawn. */ permissions: Vec<String> } => Engine;
    /// Uninstalls a plugin. → `done`
    UninstallPlugin { /** The plugin's name. */ name: String } => Engine;
    /// The tenant's plugins. → `plugins`
    Plugins => Read;
    /// The thing types the tenant's plugins define. → `thing_types`
    ThingTypes => Read;

    // ── the change feed ─────────────────────────────────────────────────────────
    /// The changes after a cursor that the context may read, oldest first: a poll of the
    /// feed. → `changes`
    Changes {
        /** Which changes. */ #[serde(default)] filter: ChangeFilter,
        /** Resume after this event; none starts after the latest commit. */ #[serde(default)] after: Option<EventId>,
        /** The most changes returned (default 50, at most 1000). */ #[serde(default)] limit: Option<usize>,
    } => Engine;

    // ── export ──────────────────────────────────────────────────────────────────
    /// A group and everything below it as export lines (format `one-export`). → `export`
    Export { /** The group. */ group: GroupId } => Engine;
    /// Record counts of a group. → `counts`
    Counts { /** The group. */ group: GroupId } => Read;

    // ── the platform: the system principal only ─────────────────────────────────
    /// Makes a tenant (a top-level group). → `group`
    CreateTenant(NewGroup) => Engine, platform;
    /// Every tenant. → `groups`
    Tenants => Engine, platform;
    /// The tenant whose top-level slug this is, if any. → `tenant`
    TenantBySlug { /** The slug. */ slug: String } => Engine, platform;
    /// The tenant whose domain this is, if any: a host name, compared with case folded
    /// and a trailing dot dropped, which may carry a port (`acme.example:8443`). → `tenant`
    TenantByDomain { /** The domain, or a `Host` header's value. */ domain: String } => Engine, platform;
    /// Declares an index on a property of a thing type. → `index`
    CreateIndex {
        /** The thing type. */ #[serde(rename = "type")] kind: String,
        /** The property path (`properties.…`). */ path: String,
    } => Engine, platform;
    /// Drops an index; whether it existed. → `removed`
    DropIndex {
        /** The thing type. */ #[serde(rename = "type")] kind: String,
        /** The property path. */ path: String,
    } => Engine, platform;
    /// Every declared index. → `indexes`
    Indexes => Engine, platform;
    /// Declares a text field of a thing type (`name` or `properties.<key>`): things of
    /// that type are searched by it. → `index`
    CreateTextIndex {
        /** The thing type. */ #[serde(rename = "type")] kind: String,
        /** The field: `name` or `properties.…`. */ path: String,
    } => Engine, platform;
    /// Drops a text field; whether it was declared. → `removed`
    DropTextIndex {
        /** The thing type. */ #[serde(rename = "type")] kind: String,
        /** The property path. */ path: String,
    } => Engine, platform;
    /// Every declared text field. → `indexes`
    TextIndexes => Engine, platform;
    /// Record counts of the whole database. → `stats`
    Stats => Engine, platform;
    /// Checks every invariant of the stored data. → `check_report`
    Check => Engine, platform;
    /// Recounts every usage counter from the records. → `done`
    RecountUsage => Engine, platform;
    /// Folds fresh vectors into the vector graphs now. → `compact_report`
    CompactKnowledge => Engine, platform;
    /// Writes the API keys' call counts now. → `done`
    FlushMeters => Engine, platform;
    /// Restores an export. → `portable_report`
    Import { /** The export's lines. */ text: String, /** Where it goes. */ into: ImportInto } => Engine, platform;
}
