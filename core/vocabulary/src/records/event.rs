//! Events: the append-only audit trail. An event belongs to the group where the action
//! happened, carries the commit sequence number of its transaction, and its time is the
//! timestamp of its id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::context::Principal;
use crate::id::{EventId, GroupId, Ref};
use crate::page::Cursor;
use crate::permission::Permission;
use crate::value::Value;
use crate::{Error, Result};

/// The event types the engine logs itself.
pub mod kinds {
    macro_rules! kinds {
        ($($(#[$doc:meta])* $name:ident = $text:literal;)*) => {
            $($(#[$doc])* pub const $name: &str = $text;)*

            /// Every event type the engine logs itself; plugins may not log these.
            pub const ALL: &[&str] = &[$($name),*];
        };
    }

    kinds! {
        /// A group was created.
        GROUP_CREATED = "group_created";
        /// A group was changed.
        GROUP_UPDATED = "group_updated";
        /// A group was archived.
        GROUP_ARCHIVED = "group_archived";
        /// A thing was created.
        THING_CREATED = "thing_created";
        /// A thing was changed.
        THING_UPDATED = "thing_updated";
        /// A thing was (soft-)deleted.
        THING_DELETED = "thing_deleted";
        /// A person was created.
        PERSON_CREATED = "person_created";
        /// A person joined a group: added directly, or accepting an invitation.
        USER_JOINED_GROUP = "user_joined_group";
        /// A person was invited to a group (a pending membership).
        USER_INVITED_TO_GROUP = "user_invited_to_group";
        /// A membership's role or permissions changed.
        USER_ROLE_CHANGED = "user_role_changed";
        /// A membership (or invitation) was removed.
        USER_REMOVED_FROM_GROUP = "user_removed_from_group";
        /// A call was refused a permission; `metadata.needed` names it.
        ACCESS_DENIED = "access_denied";
        /// An API key was created.
        API_KEY_CREATED = "api_key_created";
        /// An API key was revoked.
        API_KEY_REVOKED = "api_key_revoked";
        /// An API key was replaced by a new secret with the same settings.
        API_KEY_ROTATED = "api_key_rotated";
        /// A person signed up; `metadata.method` says how.
        SIGN_UP = "sign_up";
        /// A person signed in; `metadata.method` says how.
        SIGN_IN = "sign_in";
        /// A sign-in was refused; `metadata.method` says which kind.
        SIGN_IN_FAILED = "sign_in_failed";
        /// A session ended (`metadata.method`: `session` or `everywhere`).
        SIGN_OUT = "sign_out";
        /// An external identity (`metadata.provider`) was linked to a person.
        IDENTITY_LINKED = "identity_linked";
        /// A group's plan or limits changed.
        SUBSCRIPTION_EVENT = "subscription_event";
        /// A change was refused over a limit (logged once per group, resource and month).
        QUOTA_EXCEEDED = "quota_exceeded";
        /// An AI call was refused over the `ai_tokens` limit (once per group and month).
        CYCLE_QUOTA_EXCEEDED = "cycle_quota_exceeded";
        /// An AI call is about to be made.
        CYCLE_REQUEST = "cycle_request";
        /// An AI call was made; its tokens were counted.
        CYCLE_COMPLETED = "cycle_completed";
        /// A group earned revenue; the metadata holds the total and both shares.
        GROUP_REVENUE_GENERATED = "group_revenue_generated";
        /// A group's revenue share was paid out.
        REVENUE_SHARE_DISTRIBUTED = "revenue_share_distributed";
        /// A payment was made or received.
        PAYMENT_EVENT = "payment_event";
        /// A knowledge chunk was added.
        KNOWLEDGE_CREATED = "knowledge_created";
        /// A knowledge chunk's labels changed.
        KNOWLEDGE_UPDATED = "knowledge_updated";
        /// A knowledge chunk was deleted.
        KNOWLEDGE_DELETED = "knowledge_deleted";
        /// A person proved they own their email address.
        EMAIL_VERIFIED = "email_verified";
        /// A password reset token was asked for (no target: the email is nobody's).
        PASSWORD_RESET_REQUESTED = "password_reset_requested";
        /// A person set a new password with a reset token; `metadata.sessions` ended.
        PASSWORD_RESET = "password_reset";
        /// A person changed their password; `metadata.sessions` (the others) ended.
        PASSWORD_CHANGED = "password_changed";
        /// A password change was refused: the current password was wrong.
        PASSWORD_CHANGE_FAILED = "password_change_failed";
        /// A sign-in proved its first factor (`metadata.method`) and waits for the second.
        SECOND_FACTOR_REQUIRED = "second_factor_required";
        /// A second factor (a code of the authenticator app, a recovery code) was refused.
        SECOND_FACTOR_FAILED = "second_factor_failed";
        /// A person confirmed an authenticator app: two-factor sign-in is on.
        TWO_FACTOR_ENABLED = "two_factor_enabled";
        /// Two-factor sign-in was turned off (`metadata.method`: `self` or `reset`, by
        /// someone managing the person).
        TWO_FACTOR_DISABLED = "two_factor_disabled";
        /// A recovery code was used; `metadata.remaining` are left.
        RECOVERY_CODE_USED = "recovery_code_used";
        /// A person of this tenant now signs in with their account (the person switched
        /// here from another tenant for the first time); their credentials are the
        /// account's.
        ACCOUNT_LINKED = "account_linked";
        /// A connection was created.
        CONNECTION_CREATED = "connection_created";
        /// A connection's metadata changed (`metadata.metadata`: the merge patch).
        CONNECTION_UPDATED = "connection_updated";
        /// A connection was deleted.
        CONNECTION_DELETED = "connection_deleted";
        /// A plugin was installed in a tenant.
        PLUGIN_INSTALLED = "plugin_installed";
        /// A plugin was replaced by a new version.
        PLUGIN_UPGRADED = "plugin_upgraded";
        /// A plugin was uninstalled.
        PLUGIN_REMOVED = "plugin_removed";
        /// A plugin was enabled again.
        PLUGIN_ENABLED = "plugin_enabled";
        /// A plugin was disabled.
        PLUGIN_DISABLED = "plugin_disabled";
        /// A tenant changed what a plugin is granted.
        PLUGIN_GRANTED = "plugin_granted";
        /// A plugin failed after a commit (in `react`), so its follow-up did not happen.
        PLUGIN_FAILED = "plugin_failed";
    }

    /// Whether the engine logs `kind` itself.
    pub fn is_builtin(kind: &str) -> bool {
        ALL.contains(&kind)
    }
}

/// One entry of the audit trail. Its JSON form also has `time`, the timestamp of its id
/// (read back, it is ignored: the id says it).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[schemars(transform = with_time)]
pub struct Event {
    /// Its id; its timestamp is the event's time.
    pub id: EventId,
    /// The commit sequence number of the transaction that logged it.
    pub seq: u64,
    /// The event type (`thing_created`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Who acted.
    pub actor: Principal,
    /// The group where it happened.
    pub group: GroupId,
    /// What it was about, if anything.
    pub target: Option<Ref>,
    /// Details.
    pub metadata: Value,
}

/// Adds `time` to the schema of an event's JSON form.
fn with_time(schema: &mut schemars::Schema) {
    if let Some(properties) = schema
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        properties.insert(
            "time".into(),
            serde_json::json!({
                "type": "integer",
                "minimum": 0,
                "description": "When it happened: the timestamp of its id, in milliseconds.",
            }),
        );
    }
}

/// The binary form of [`Event`]: the derived one, fixed by stored records.
#[derive(Serialize)]
#[serde(remote = "Event")]
struct EventShadow {
    id: EventId,
    seq: u64,
    kind: String,
    actor: Principal,
    group: GroupId,
    target: Option<Ref>,
    metadata: Value,
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        if !s.is_human_readable() {
            return EventShadow::serialize(self, s);
        }
        let mut st = s.serialize_struct("Event", 8)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("seq", &self.seq)?;
        st.serialize_field("type", &self.kind)?;
        st.serialize_field("actor", &self.actor)?;
        st.serialize_field("group", &self.group)?;
        st.serialize_field("target", &self.target)?;
        st.serialize_field("metadata", &self.metadata)?;
        st.serialize_field("time", &self.time())?;
        st.end()
    }
}

impl Event {
    /// When it happened.
    pub fn time(&self) -> Timestamp {
        self.id.timestamp()
    }
}

/// The dimension a change belongs to, from its event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Groups: created, changed, archived; plans, revenue, payments.
    Groups,
    /// People and memberships, sign-up and sign-in.
    People,
    /// Things.
    Things,
    /// Connections.
    Connections,
    /// Knowledge chunks.
    Knowledge,
    /// Everything else: application events, API keys, access denials, plugins, quotas.
    Events,
}

crate::text_form::named_in_json!(Dimension);

impl std::str::FromStr for Dimension {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Dimension::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "dimension",
                    format!("{s:?} is not one of groups, people, things, connections, knowledge or events"),
                )
            })
    }
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 6] = [
        Dimension::Groups,
        Dimension::People,
        Dimension::Things,
        Dimension::Connections,
        Dimension::Knowledge,
        Dimension::Events,
    ];

    /// The lower-case name (`groups`, `people`, `things`, `connections`, `knowledge`,
    /// `events`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Groups => "groups",
            Dimension::People => "people",
            Dimension::Things => "things",
            Dimension::Connections => "connections",
            Dimension::Knowledge => "knowledge",
            Dimension::Events => "events",
        }
    }

    /// The dimension of an event type.
    pub fn of(kind: &str) -> Dimension {
        use crate::records::event::kinds::*;
        match kind {
            GROUP_CREATED
            | GROUP_UPDATED
            | GROUP_ARCHIVED
            | SUBSCRIPTION_EVENT
            | GROUP_REVENUE_GENERATED
            | REVENUE_SHARE_DISTRIBUTED
            | PAYMENT_EVENT => Dimension::Groups,
            PERSON_CREATED
            | USER_JOINED_GROUP
            | USER_INVITED_TO_GROUP
            | USER_ROLE_CHANGED
            | USER_REMOVED_FROM_GROUP
            | SIGN_UP
            | SIGN_IN
            | SIGN_IN_FAILED
            | SIGN_OUT
            | IDENTITY_LINKED
            | EMAIL_VERIFIED
            | PASSWORD_RESET_REQUESTED
            | PASSWORD_RESET
            | PASSWORD_CHANGED
            | PASSWORD_CHANGE_FAILED
            | SECOND_FACTOR_REQUIRED
            | SECOND_FACTOR_FAILED
            | TWO_FACTOR_ENABLED
            | TWO_FACTOR_DISABLED
            | RECOVERY_CODE_USED
            | ACCOUNT_LINKED => Dimension::People,
            THING_CREATED | THING_UPDATED | THING_DELETED => Dimension::Things,
            CONNECTION_CREATED | CONNECTION_UPDATED | CONNECTION_DELETED => Dimension::Connections,
            KNOWLEDGE_CREATED | KNOWLEDGE_UPDATED | KNOWLEDGE_DELETED => Dimension::Knowledge,
            _ => Dimension::Events,
        }
    }

    /// The permission that reads changes of this dimension.
    pub fn permission(self) -> Permission {
        match self {
            Dimension::Groups | Dimension::People => Permission::GroupsRead,
            Dimension::Things => Permission::ThingsRead,
            Dimension::Connections => Permission::ConnectionsRead,
            Dimension::Knowledge => Permission::KnowledgeRead,
            Dimension::Events => Permission::EventsRead,
        }
    }
}

/// Which index an event query reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventFilter {
    /// Every event of the group.
    #[default]
    All,
    /// Events of one type.
    Kind(String),
    /// Events by one actor.
    Actor(Principal),
    /// Events about one record.
    Target(Ref),
}

/// An application event to log: its type (not one the engine logs itself), the record
/// it is about, and metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The record it is about.
    #[serde(default)]
    pub target: Option<Ref>,
    /// Metadata (a map).
    #[serde(default = "Value::map")]
    pub metadata: Value,
}

/// A query for a group's events, newest first. Serialised flat: the filter is one of
/// `type`, `actor` or `target`, or none of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "EventQueryForm", into = "EventQueryForm")]
pub struct EventQuery {
    /// The group read; `None` is the context's group.
    pub group: Option<GroupId>,
    /// Which events are kept.
    pub filter: EventFilter,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// The page size: [`DEFAULT_PAGE`](crate::page::DEFAULT_PAGE) when `None`, at most [`MAX_PAGE`](crate::page::MAX_PAGE).
    pub limit: Option<usize>,
    /// Resume after the page that returned this cursor (`after` in JSON).
    pub cursor: Option<Cursor>,
}

/// The serialised form of an [`EventQuery`].
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EventQuery")]
struct EventQueryForm {
    /// The group read; the context's group when absent.
    #[serde(default)]
    group: Option<GroupId>,
    /// Only events of this type.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// Only events by this principal.
    #[serde(default)]
    actor: Option<Principal>,
    /// Only events about this record.
    #[serde(default)]
    target: Option<Ref>,
    /// Only events at or after this time.
    #[serde(default)]
    since: Option<Timestamp>,
    /// Only events before this time.
    #[serde(default)]
    until: Option<Timestamp>,
    /// The page size (default 50, at most 1000).
    #[serde(default)]
    limit: Option<usize>,
    /// Resume after the page that returned this cursor.
    #[serde(default)]
    after: Option<Cursor>,
}

impl TryFrom<EventQueryForm> for EventQuery {
    type Error = Error;
    fn try_from(f: EventQueryForm) -> Result<Self> {
        let filter = match (f.kind, f.actor, f.target) {
            (None, None, None) => EventFilter::All,
            (Some(kind), None, None) => EventFilter::Kind(kind),
            (None, Some(actor), None) => EventFilter::Actor(actor),
            (None, None, Some(target)) => EventFilter::Target(target),
            _ => {
                return Err(crate::decode::refused(|| {
                    Error::invalid("filter", "give at most one of `type`, `actor` and `target`")
                }));
            }
        };
        Ok(EventQuery {
            group: f.group,
            filter,
            since: f.since,
            until: f.until,
            limit: f.limit,
            cursor: f.after,
        })
    }
}

impl From<EventQuery> for EventQueryForm {
    fn from(q: EventQuery) -> Self {
        let (kind, actor, target) = match q.filter {
            EventFilter::All => (None, None, None),
            EventFilter::Kind(kind) => (Some(kind), None, None),
            EventFilter::Actor(actor) => (None, Some(actor), None),
            EventFilter::Target(target) => (None, None, Some(target)),
        };
        EventQueryForm {
            group: q.group,
            kind,
            actor,
            target,
            since: q.since,
            until: q.until,
            limit: q.limit,
            after: q.cursor,
        }
    }
}

impl EventQuery {
    /// The latest events of the context's group.
    pub fn latest() -> Self {
        Self::default()
    }

    /// Reads another group in the context's scope.
    pub fn group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }

    /// Only events of type `kind`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.filter = EventFilter::Kind(kind.into());
        self
    }

    /// Only events by `actor`.
    pub fn actor(mut self, actor: Principal) -> Self {
        self.filter = EventFilter::Actor(actor);
        self
    }

    /// Only events about `target`.
    pub fn target(mut self, target: impl Into<Ref>) -> Self {
        self.filter = EventFilter::Target(target.into());
        self
    }

    /// Only events at or after `t`.
    pub fn since(mut self, t: Timestamp) -> Self {
        self.since = Some(t);
        self
    }

    /// Only events before `t`.
    pub fn until(mut self, t: Timestamp) -> Self {
        self.until = Some(t);
        self
    }

    /// At most `n` events (default 50, at most 1000).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Continues after a previous page.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }
}
