//! Events: the append-only audit trail.
//!
//! Every mutation logs its event in the same write transaction, so a change and its
//! event commit together or not at all; nothing ever edits or removes an event. An event
//! belongs to the group where the action happened and carries the commit sequence number
//! of its transaction. Its time is the timestamp of its id, so the primary key
//! `E <group> <event id>` orders a group's events by time, and the three indexes (by
//! type, actor and target) end with the event id too: every query below is one range
//! scan, newest first.

use one_storage::{Direction, KeyRange, KvRead};
use serde::{Deserialize, Serialize};

use crate::access::policy::Op;
use crate::base::clock::Timestamp;
use crate::base::codec::Record;
use crate::base::context::Principal;
use crate::base::id::{EventId, GroupId, Ref};
use crate::base::layout::{self, Counter, TenantKeys};
use crate::base::page::{Cursor, Page, page_size, scan_page};
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Tx, View};
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
        /// A connection was created.
        CONNECTION_CREATED = "connection_created";
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
        /// A plugin failed after a commit (in `react`), so its follow-up did not happen.
        PLUGIN_FAILED = "plugin_failed";
    }

    /// Whether the engine logs `kind` itself.
    pub fn is_builtin(kind: &str) -> bool {
        ALL.contains(&kind)
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// Its id; its timestamp is the event's time.
    pub id: EventId,
    /// The commit sequence number of the transaction that logged it.
    pub seq: u64,
    /// The event type (`thing_created`, …).
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

impl Event {
    /// When it happened.
    pub fn time(&self) -> Timestamp {
        self.id.timestamp()
    }
}

impl Record for Event {
    const NAME: &'static str = "event";
    const VERSION: u8 = 1;
}

/// Which index an event query reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
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

/// A query for a group's events, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    group: Option<GroupId>,
    filter: EventFilter,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    limit: Option<usize>,
    cursor: Option<Cursor>,
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

/// The smallest key of an event at time `t` under `prefix`. Ids hold 48 bits of
/// milliseconds, so later times are clamped to the last one ids can express.
fn time_bound(prefix: &[u8], t: Timestamp) -> Vec<u8> {
    let ms = t.as_millis().min((1 << 48) - 1);
    layout::with_id(prefix, u128::from(ms) << 80)
}

impl<K: KvRead> View<'_, K> {
    /// Events of a group in the context's scope, newest first. Needs `events:read` there.
    pub fn events(&self, query: &EventQuery) -> Result<Page<Event>> {
        let group = query.group.unwrap_or(self.scope.ctx.group());
        self.authorize(Op::ListEvents, group)?;
        let held = self.permits_set(group)?;
        // Whoever holds everything any event may need reads them all unfiltered.
        let reads_all = crate::access::policy::any_event_permissions().is_subset(held);
        let keys = &self.scope.tenant;
        let prefix = match &query.filter {
            EventFilter::All => keys.events(group),
            EventFilter::Kind(kind) => {
                validate::type_name("kind", kind)?;
                keys.events_by_type(group, kind)
            }
            EventFilter::Actor(actor) => keys.events_by_actor(group, *actor),
            EventFilter::Target(target) => keys.events_by_target(group, *target),
        };
        let mut range = KeyRange::prefix(&prefix);
        if let Some(since) = query.since {
            range.start = std::ops::Bound::Included(time_bound(&prefix, since));
        }
        if let Some(until) = query.until {
            range.end = std::ops::Bound::Excluded(time_bound(&prefix, until));
        }
        let primary = matches!(query.filter, EventFilter::All);
        scan_page(
            self.kv,
            &prefix,
            range,
            Direction::Reverse,
            query.cursor.as_ref(),
            page_size(query.limit)?,
            |k, v| {
                let event = if primary {
                    Some(crate::base::codec::decode::<Event>(v)?)
                } else {
                    let id = EventId::from_u128(layout::trailing_id(k)?);
                    Some(self.get_record(&keys.event(group, id))?.ok_or_else(|| {
                        Error::Corrupt {
                            what: "event index",
                            reason: format!("{id} is indexed but missing"),
                        }
                    })?)
                };
                // Billing and key events need their own rights on top of `events:read`.
                Ok(event.filter(|e| {
                    reads_all || crate::access::policy::event_permissions(&e.kind).is_subset(held)
                }))
            },
        )
    }
}

impl Tx<'_, '_> {
    /// Logs a custom event in the context's group. `kind` is `[a-z][a-z0-9_]*`; `metadata`
    /// a map. The engine logs its own events itself, and their types ([`kinds::ALL`]) are
    /// reserved: an application's event named like one is refused, so nobody can forge an
    /// audit entry. Needs `events:write`.
    pub fn log_event(&mut self, kind: &str, target: Option<Ref>, metadata: Value) -> Result<Event> {
        validate::type_name("kind", kind)?;
        if kinds::is_builtin(kind) {
            return Err(Error::invalid(
                "kind",
                format!(
                    "{kind:?} is an event type the engine logs itself; name custom events otherwise"
                ),
            ));
        }
        let group = self.scope.ctx.group();
        self.view().authorize(Op::LogEvent, group)?;
        let metadata = validate::map_value("metadata", metadata)?;
        self.log(kind, group, target, metadata)
    }

    /// Appends an event and its index entries.
    pub(crate) fn log(
        &mut self,
        kind: &str,
        group: GroupId,
        target: Option<Ref>,
        metadata: Value,
    ) -> Result<Event> {
        let event = Event {
            id: EventId::from_u128(self.engine.next_id()),
            seq: self.seq(),
            kind: kind.to_string(),
            actor: self.scope.ctx.principal(),
            group,
            target,
            metadata,
        };
        let keys = self.scope.tenant.clone();
        let key = keys.event(group, event.id);
        let bytes = crate::base::codec::encode(&event)?;
        self.store_bytes(group, &key, &bytes, 1);
        // The change feed delivers it once the transaction commits.
        if self
            .engine
            .part::<std::sync::Arc<crate::operations::feed::Feed>>()
            .listens(self.scope.root, self.scope.ctx.env())
        {
            self.kv.note(key.clone(), bytes.clone());
        }
        self.put(key, bytes)?;
        for index in index_keys(&keys, &event) {
            self.put(index, [])?;
        }
        self.count(group, Counter::Events, 1);
        Ok(event)
    }
}

/// The index entries of an event: by type, by actor, and by target if it has one.
pub(crate) fn index_keys(keys: &TenantKeys, event: &Event) -> Vec<Vec<u8>> {
    let (group, id) = (event.group, event.id.to_u128());
    let mut out = vec![
        layout::with_id(&keys.events_by_type(group, &event.kind), id),
        layout::with_id(&keys.events_by_actor(group, event.actor), id),
    ];
    if let Some(t) = event.target {
        out.push(layout::with_id(&keys.events_by_target(group, t), id));
    }
    out
}
