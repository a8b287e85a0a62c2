//! The change feed: every committed event, delivered to subscribers in commit order.
//!
//! A write transaction notes each event it logs ([`one_storage::WriteTx::note`]); when it
//! commits, the store's commit listener ([`Feed::listener`]) hands the events to the
//! inboxes of the subscribers of their tenant and environment, one commit at a time, in
//! commit order. A writer never waits for a subscriber: an inbox that passes
//! [`INBOX_CAPACITY`] events is emptied and marked lagged.
//!
//! A [`Subscription`] reads its inbox on its own thread. Each change is checked against
//! its filter and against what its context may read *now* (a revoked membership ends the
//! stream with [`Error::Forbidden`]). Event ids grow with commit order, so the last id
//! seen is the subscription's cursor: [`Engine::subscribe_from`] replays the stored log
//! after a cursor and then goes live, skipping what the replay already delivered, so
//! nothing is missed or repeated at the switch; a lagged subscription does the same.

use std::collections::{HashSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use one_storage::{CommitListener, Direction, Flow, KeyRange, KvRead, ReadTx};

use crate::access::Permission;
use crate::context::{Context, Env};
use crate::engine::{Engine, View};
use crate::events::Event;
use crate::id::{EventId, GroupId};
use crate::{Error, Result, codec, layout};

/// Events an inbox holds before its subscriber is declared lagged.
pub const INBOX_CAPACITY: usize = 10_000;
/// Events read from the stored log per replay step.
const REPLAY_BATCH: usize = 1_000;

/// The dimension a change belongs to, from its event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

impl Dimension {
    /// The dimension of an event type.
    pub fn of(kind: &str) -> Dimension {
        use crate::events::kinds::*;
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
            | EMAIL_VERIFIED => Dimension::People,
            THING_CREATED | THING_UPDATED | THING_DELETED => Dimension::Things,
            CONNECTION_CREATED | CONNECTION_DELETED => Dimension::Connections,
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

/// Which changes a subscription receives: those of one group (or its subtree), of some
/// dimensions, of some types. Empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    group: Option<GroupId>,
    subtree: bool,
    dimensions: Vec<Dimension>,
    types: Vec<String>,
}

impl ChangeFilter {
    /// Every change in the context's group (not its descendants).
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes in `group` instead of the context's group.
    pub fn group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }

    /// Changes in the group's descendants too.
    pub fn with_subtree(mut self) -> Self {
        self.subtree = true;
        self
    }

    /// Changes of `dimension` (may be given several times).
    pub fn dimension(mut self, dimension: Dimension) -> Self {
        self.dimensions.push(dimension);
        self
    }

    /// Changes of records of type `kind`: a thing's or a connection's type, as the
    /// event's `metadata.type` holds it (may be given several times).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.types.push(kind.into());
        self
    }

    fn matches(&self, e: &Event) -> bool {
        (self.dimensions.is_empty() || self.dimensions.contains(&Dimension::of(&e.kind)))
            && (self.types.is_empty()
                || e.metadata
                    .get_path("type")
                    .and_then(crate::Value::as_str)
                    .is_some_and(|t| self.types.iter().any(|k| k == t)))
    }

    /// The permissions a subscription with this filter needs in its group.
    fn needs(&self) -> Vec<Permission> {
        if self.dimensions.is_empty() {
            vec![Permission::EventsRead]
        } else {
            self.dimensions.iter().map(|d| d.permission()).collect()
        }
    }
}

/// One commit's events of one tenant and environment.
type Batch = Arc<[Event]>;

#[derive(Default)]
struct Inbox {
    batches: VecDeque<Batch>,
    queued: usize,
    lagged: bool,
}

/// What the feed keeps of one subscription.
struct Subscriber {
    root: GroupId,
    env: Env,
    inbox: Mutex<Inbox>,
    arrived: Condvar,
}

impl Subscriber {
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The subscribers of a database, and the commit listener that feeds them.
#[derive(Default)]
pub(crate) struct Feed {
    subscribers: Mutex<Vec<Weak<Subscriber>>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

impl Feed {
    /// The function the store calls after every commit.
    pub(crate) fn listener(self: &Arc<Self>) -> CommitListener {
        let feed = Arc::downgrade(self);
        Arc::new(move |_seq, notes| {
            if let Some(feed) = feed.upgrade() {
                feed.publish(notes);
            }
        })
    }

    fn subscribers(&self) -> MutexGuard<'_, Vec<Weak<Subscriber>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, root: GroupId, env: Env) -> Arc<Subscriber> {
        let s = Arc::new(Subscriber {
            root,
            env,
            inbox: Mutex::default(),
            arrived: Condvar::new(),
        });
        self.subscribers().push(Arc::downgrade(&s));
        s
    }

    /// Hands one commit's events to the inboxes of their tenant's subscribers.
    fn publish(&self, notes: Vec<(Vec<u8>, Vec<u8>)>) {
        let live: Vec<Arc<Subscriber>> = {
            let mut subscribers = self.subscribers();
            subscribers.retain(|w| w.strong_count() > 0);
            subscribers.iter().filter_map(Weak::upgrade).collect()
        };
        if live.is_empty() || notes.is_empty() {
            return;
        }
        // Usually one tenant per commit; keep the order within each.
        let mut batches: Vec<((GroupId, Env), Vec<Event>)> = Vec::new();
        for (key, value) in notes {
            let (Some(tenant), Ok(event)) =
                (layout::tenant_env_of(&key), codec::decode::<Event>(&value))
            else {
                continue;
            };
            match batches.iter_mut().find(|(t, _)| *t == tenant) {
                Some((_, events)) => events.push(event),
                None => batches.push((tenant, vec![event])),
            }
        }
        for ((root, env), events) in batches {
            let batch: Batch = events.into();
            for s in live.iter().filter(|s| s.root == root && s.env == env) {
                let mut inbox = s.inbox();
                if inbox.lagged {
                    continue;
                }
                if inbox.queued + batch.len() > INBOX_CAPACITY {
                    inbox.batches.clear();
                    inbox.queued = 0;
                    inbox.lagged = true;
                } else {
                    inbox.queued += batch.len();
                    inbox.batches.push_back(Arc::clone(&batch));
                }
                s.arrived.notify_all();
            }
        }
    }
}

/// How long a call may wait for a change.
#[derive(Clone, Copy)]
enum Wait {
    No,
    Until(Instant),
    Forever,
}

/// A live stream of the changes a context may read, in commit order. Read it with
/// [`Subscription::try_next`] (never blocks), [`Subscription::next_timeout`], or
/// [`Subscription::iter`] (blocks). Dropping it unsubscribes.
pub struct Subscription {
    ctx: Context,
    group: GroupId,
    filter: ChangeFilter,
    subscriber: Arc<Subscriber>,
    /// The last event admitted (queued in `ready`, or filtered out).
    position: Option<EventId>,
    /// The last event handed out: with nothing in `ready`, `position` is the cursor.
    cursor: Option<EventId>,
    /// Reading the stored log after `position` before the inbox.
    replaying: bool,
    ready: VecDeque<Event>,
    /// Set when the context lost the right to read the subscription's group.
    ended: Option<Permission>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("ctx", &self.ctx)
            .field("group", &self.group)
            .field("filter", &self.filter)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Subscribes `ctx` to the changes that match `filter`, from the next commit on. The
    /// context needs, in the filter's group, `events:read` (or, with dimensions in the
    /// filter, each dimension's read permission); each change is delivered only if the
    /// context may read its dimension in its group at the time.
    pub fn subscribe(&self, ctx: &Context, filter: ChangeFilter) -> Result<Subscription> {
        self.subscription(ctx, filter, None, false)
    }

    /// Subscribes like [`Engine::subscribe`], but first delivers every stored change after
    /// the event `after` (from the beginning of the log with `None`), then goes live with
    /// no gap and no repeat: pass a subscription's [`Subscription::cursor`] to resume it.
    pub fn subscribe_from(
        &self,
        ctx: &Context,
        filter: ChangeFilter,
        after: Option<EventId>,
    ) -> Result<Subscription> {
        self.subscription(ctx, filter, after, true)
    }

    fn subscription(
        &self,
        ctx: &Context,
        filter: ChangeFilter,
        after: Option<EventId>,
        replay: bool,
    ) -> Result<Subscription> {
        let group = filter.group.unwrap_or(ctx.group());
        let root = self.read(ctx, |v| {
            for need in filter.needs() {
                v.authorize(group, need)?;
            }
            Ok(v.scope.root)
        })?;
        // Registered between commits: every later commit reaches the inbox, and every
        // earlier one is stored (for a replay) with an id at most the last id issued.
        // Whatever the replay and the inbox both hold, the cursor drops the repeat.
        let (last_id, subscriber) = self
            .store()
            .between_commits(|| (self.last_id(), self.feed.register(root, ctx.env())))?;
        let position = if replay {
            after
        } else {
            Some(EventId::from_u128(last_id))
        };
        Ok(Subscription {
            ctx: *ctx,
            group,
            filter,
            subscriber,
            position,
            cursor: position,
            replaying: replay,
            ready: VecDeque::new(),
            ended: None,
        })
    }
}

/// What the inbox had.
enum Taken {
    Batches(Vec<Batch>),
    Lagged,
    Nothing,
}

impl Subscription {
    /// The id of the last change this subscription has passed (delivered, or skipped by
    /// its filter or permissions): resume with [`Engine::subscribe_from`] from here.
    pub fn cursor(&self) -> Option<EventId> {
        if self.ready.is_empty() {
            self.position
        } else {
            self.cursor
        }
    }

    /// The next change if one is ready, without waiting.
    pub fn try_next(&mut self, engine: &Engine) -> Result<Option<Event>> {
        self.step(engine, Wait::No)
    }

    /// The next change, waiting up to `timeout` for one.
    pub fn next_timeout(&mut self, engine: &Engine, timeout: Duration) -> Result<Option<Event>> {
        let wait = Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until);
        self.step(engine, wait)
    }

    /// A blocking iterator over the changes: each item waits for the next commit that
    /// brings one. An error ([`Error::Lagged`], [`Error::Forbidden`]) is an item too; after
    /// `Lagged`, the stream resumes from its cursor.
    pub fn iter<'a>(&'a mut self, engine: &'a Engine) -> Changes<'a> {
        Changes {
            subscription: self,
            engine,
        }
    }

    fn step(&mut self, engine: &Engine, wait: Wait) -> Result<Option<Event>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                self.cursor = Some(e.id);
                return Ok(Some(e));
            }
            if let Some(needed) = self.ended {
                return Err(Error::Forbidden {
                    needed,
                    group: self.group.to_string(),
                });
            }
            if self.replaying {
                self.replay(engine)?;
                continue;
            }
            match self.take(wait) {
                Taken::Batches(batches) => self.accept(engine, &batches)?,
                Taken::Lagged => {
                    self.replaying = true;
                    return Err(Error::Lagged {
                        after: self.cursor().map(|p| p.to_string()),
                    });
                }
                Taken::Nothing => return Ok(None),
            }
        }
    }

    /// Takes what the inbox holds, waiting as allowed while it is empty.
    fn take(&self, wait: Wait) -> Taken {
        let s = &self.subscriber;
        let mut inbox = s.inbox();
        loop {
            if inbox.lagged {
                inbox.lagged = false;
                inbox.batches.clear();
                inbox.queued = 0;
                return Taken::Lagged;
            }
            if !inbox.batches.is_empty() {
                inbox.queued = 0;
                return Taken::Batches(inbox.batches.drain(..).collect());
            }
            inbox = match wait {
                Wait::No => return Taken::Nothing,
                Wait::Forever => s.arrived.wait(inbox).unwrap_or_else(|p| p.into_inner()),
                Wait::Until(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Taken::Nothing;
                    }
                    s.arrived
                        .wait_timeout(inbox, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// Checks that the context may still read the subscription's group, and the groups
    /// its changes may come from.
    fn scope(&mut self, v: &View<'_, ReadTx>) -> Result<Option<HashSet<GroupId>>> {
        for need in self.filter.needs() {
            if !v.permits(self.group, need)? {
                self.ended = Some(need);
                return Ok(None);
            }
        }
        let mut groups = HashSet::from([self.group]);
        if self.filter.subtree {
            groups.extend(v.descendants(self.group)?);
        }
        Ok(Some(groups))
    }

    /// Moves the events after the cursor that pass the filter and the context's
    /// permissions to `ready`.
    fn admit<'e>(
        &mut self,
        v: &View<'_, ReadTx>,
        groups: &HashSet<GroupId>,
        events: impl IntoIterator<Item = &'e Event>,
    ) -> Result<()> {
        for e in events {
            if self.position.is_some_and(|p| e.id <= p) {
                continue;
            }
            self.position = Some(e.id);
            if groups.contains(&e.group)
                && self.filter.matches(e)
                && v.permits(e.group, Dimension::of(&e.kind).permission())?
            {
                self.ready.push_back(e.clone());
            }
        }
        Ok(())
    }

    fn accept(&mut self, engine: &Engine, batches: &[Batch]) -> Result<()> {
        let ctx = self.ctx;
        engine.read_quietly(&ctx, |v| {
            let Some(groups) = self.scope(v)? else {
                return Ok(());
            };
            self.admit(v, &groups, batches.iter().flat_map(|b| b.iter()))
        })
    }

    /// Reads the next stored events after the cursor, in id (= commit) order.
    fn replay(&mut self, engine: &Engine) -> Result<()> {
        let ctx = self.ctx;
        engine.read_quietly(&ctx, |v| {
            let Some(groups) = self.scope(v)? else {
                return Ok(());
            };
            let mut found: Vec<Event> = Vec::new();
            for &g in &groups {
                let prefix = v.scope.tenant.events(g);
                let mut range = KeyRange::prefix(&prefix);
                if let Some(p) = self.position {
                    range.start = Bound::Excluded(v.scope.tenant.event(g, p));
                }
                let mut taken = 0;
                v.kv.scan(&range, Direction::Forward, |_, value| {
                    found.push(codec::decode(value)?);
                    taken += 1;
                    Ok::<_, Error>(if taken == REPLAY_BATCH {
                        Flow::Break(())
                    } else {
                        Flow::Continue(())
                    })
                })?;
            }
            found.sort_by_key(|e| e.id);
            let complete = found.len() < REPLAY_BATCH;
            found.truncate(REPLAY_BATCH);
            self.admit(v, &groups, &found)?;
            if complete {
                self.replaying = false;
            }
            Ok(())
        })
    }
}

/// A blocking iterator over a subscription's changes (see [`Subscription::iter`]).
pub struct Changes<'a> {
    subscription: &'a mut Subscription,
    engine: &'a Engine,
}

impl Iterator for Changes<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        self.subscription
            .step(self.engine, Wait::Forever)
            .transpose()
    }
}
