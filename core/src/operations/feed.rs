//! The change feed: every committed event, delivered to subscribers in commit order.
//!
//! A write transaction notes each event it logs ([`one_storage::WriteTx::note`]); when it
//! commits, the store's commit listener ([`Feed::listener`]) appends the events to the
//! channel of their tenant and environment, one commit at a time, in commit order: one
//! push per commit however many subscribers there are. A writer never waits for a
//! subscriber: the channel keeps the last [`FEED_BACKLOG`] events, and a subscriber
//! that falls further behind is told it lagged.
//!
//! A [`Subscription`] reads the channel on its own thread. Each change is checked against
//! its filter and against what its context may read *now* (a revoked membership ends the
//! stream with [`Error::Forbidden`]). Event ids grow with commit order, so the last id
//! seen is the subscription's cursor: [`Engine::subscribe_from`] replays the stored log
//! after a cursor and then goes live, skipping what the replay already delivered, so
//! nothing is missed or repeated at the switch; a lagged subscription does the same.

pub use one_vocabulary::operations::{ChangeFilter, MAX_FILTERS};

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use one_storage::{CommitListener, Direction, Flow, KeyRange, KvRead, ReadTx};

use crate::access::policy::Op;
use crate::base::context::{Context, Env};
use crate::base::id::{EventId, GroupId};
use crate::base::permission::Permission;
use crate::base::{codec, layout};
use crate::kernel::{Engine, Hooks, Parts, View};
use crate::records::event::Dimension;
use crate::records::event::Event;
use crate::{Error, Result};
/// The most recent events kept per tenant for subscribers to read; one that falls
/// further behind is told it lagged.
pub const FEED_BACKLOG: usize = 10_000;
/// Events read from the stored log per replay step.
const REPLAY_BATCH: usize = 1_000;
/// On a shared store, how often a waiting subscription reads the stored log for the
/// commits of other instances (this instance's own commits wake it at once).
const SHARED_POLL: Duration = Duration::from_millis(50);

/// One commit's events of one tenant and environment, as stored (decoded by each reader,
/// so a commit costs its writer no decoding and no copy).
type Batch = Arc<[Vec<u8>]>;

/// The recent commits of one tenant and environment, shared by all its subscribers:
/// a commit is one push, whatever the number of subscribers.
#[derive(Default)]
struct Ring {
    /// Batches with their positions, oldest first.
    batches: VecDeque<(u64, Batch)>,
    /// The position of the oldest batch still held (`next` when none is): a subscriber
    /// that has not read up to here has lagged.
    first: u64,
    /// The position the next batch will get.
    next: u64,
    /// Events held in `batches`.
    events: usize,
    /// Set when the engine stopped waits ([`Engine::end_waits`]): nobody waits here again.
    ended: bool,
}

/// The channel of one tenant and environment.
#[derive(Default)]
struct Channel {
    ring: Mutex<Ring>,
    arrived: Condvar,
}

impl Channel {
    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The channels of a database, and the commit listener that feeds them.
#[derive(Default)]
pub(crate) struct Feed {
    /// Channels with at least one subscription alive.
    channels: Mutex<HashMap<(GroupId, Env), Weak<Channel>>>,
    /// Set by [`Engine::end_waits`]: channels joined later start ended.
    waits_ended: std::sync::atomic::AtomicBool,
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

    fn channels(&self) -> MutexGuard<'_, HashMap<(GroupId, Env), Weak<Channel>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a subscription of this tenant and environment is alive, so its events
    /// must be noted. Race-free: subscriptions join between commits, and a transaction
    /// that commits after one joined began after it joined.
    pub(crate) fn listens(&self, root: GroupId, env: Env) -> bool {
        self.channels()
            .get(&(root, env))
            .is_some_and(|c| c.strong_count() > 0)
    }

    /// The channel of a tenant and environment, and the position of its next batch.
    /// Called between commits, so nothing is published meanwhile.
    fn join(&self, root: GroupId, env: Env) -> (Arc<Channel>, u64) {
        let mut channels = self.channels();
        channels.retain(|_, c| c.strong_count() > 0);
        let channel = match channels.get(&(root, env)).and_then(Weak::upgrade) {
            Some(c) => c,
            None => {
                let c = Arc::new(Channel::default());
                channels.insert((root, env), Arc::downgrade(&c));
                c
            }
        };
        let next = {
            let mut ring = channel.ring();
            ring.ended |= self.waits_ended.load(std::sync::atomic::Ordering::Acquire);
            ring.next
        };
        (channel, next)
    }

    /// Wakes every waiting subscriber and keeps later waits from blocking.
    fn end_waits(&self) {
        self.waits_ended
            .store(true, std::sync::atomic::Ordering::Release);
        let channels: Vec<Arc<Channel>> =
            self.channels().values().filter_map(Weak::upgrade).collect();
        for channel in channels {
            channel.ring().ended = true;
            channel.arrived.notify_all();
        }
    }

    /// Appends one commit's events to the channels of their tenants.
    fn publish(&self, notes: Vec<(Vec<u8>, Vec<u8>)>) {
        if notes.is_empty() {
            return;
        }
        // Usually one tenant per commit; keep the order within each.
        let mut batches: Vec<(Arc<Channel>, Vec<Vec<u8>>)> = Vec::new();
        {
            let channels = self.channels();
            if channels.is_empty() {
                return;
            }
            for (key, value) in notes {
                let Some(tenant) = layout::tenant_env_of(&key) else {
                    continue;
                };
                let Some(channel) = channels.get(&tenant).and_then(Weak::upgrade) else {
                    continue;
                };
                match batches.iter_mut().find(|(c, _)| Arc::ptr_eq(c, &channel)) {
                    Some((_, events)) => events.push(value),
                    None => batches.push((channel, vec![value])),
                }
            }
        }
        for (channel, events) in batches {
            let mut ring = channel.ring();
            let position = ring.next;
            ring.next += 1;
            if events.len() > FEED_BACKLOG {
                // A bulk commit: its subscribers replay it from the store, in steps.
                ring.batches.clear();
                ring.events = 0;
            } else {
                ring.events += events.len();
                ring.batches.push_back((position, events.into()));
                while ring.events > FEED_BACKLOG {
                    if let Some((_, old)) = ring.batches.pop_front() {
                        ring.events -= old.len();
                    }
                }
            }
            ring.first = ring.batches.front().map_or(ring.next, |(p, _)| *p);
            drop(ring);
            channel.arrived.notify_all();
        }
    }
}

/// How long a call may wait for a change.
#[derive(Clone, Copy)]
enum Wait {
    No,
    /// Up to this long (once: a wake-up that brings nothing ends the wait early).
    For(Duration),
    Forever,
}

/// A live stream of the changes a context may read, in commit order. Read it with
/// [`Subscription::try_next`] (never blocks), [`Subscription::next_timeout`], or
/// [`Subscription::iter`] (blocks). Dropping it unsubscribes.
pub struct Subscription {
    /// The feed of the engine that made it: another engine's is refused.
    feed: Weak<Feed>,
    ctx: Context,
    /// What it follows: a change is delivered if any of them matches.
    watches: Vec<Watch>,
    channel: Arc<Channel>,
    /// The position of the next batch to read from the channel.
    next: u64,
    /// The last event admitted (queued in `ready`, or filtered out).
    position: Option<EventId>,
    /// The last event handed out: with nothing in `ready`, `position` is the cursor.
    cursor: Option<EventId>,
    /// Reading the stored log after `position` before the channel.
    replaying: bool,
    /// Admitted changes, each with the filters it matched (bit `i` for filter `i`).
    ready: VecDeque<(Event, u32)>,
    /// The filters the change handed out last matched.
    matched: u32,
    /// Set when the context lost the right to read a followed group.
    ended: Option<(Permission, GroupId)>,
}

/// One filter of a subscription, with the group it names.
#[derive(Debug)]
struct Watch {
    filter: ChangeFilter,
    group: GroupId,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("ctx", &self.ctx)
            .field("watches", &self.watches)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Installs the change feed: its channels, fed by the store's commit listener from the
/// moment the engine opens.
pub(crate) fn install(parts: &mut Parts, hooks: &mut Hooks) {
    parts.insert(Arc::new(Feed::default()));
    hooks.listening = |engine, root, env| engine.part::<Arc<Feed>>().listens(root, env);
    hooks.open.push(|engine| {
        let listener = engine.part::<Arc<Feed>>().listener();
        engine.store().set_commit_listener(listener);
        Ok(())
    });
}

impl Engine {
    /// Wakes every call waiting for changes on this engine's subscriptions, and makes
    /// later waits return at once (with no change): for hosts that close an engine shared
    /// with threads that may be waiting, as the C ABI's `one_close` does. Subscriptions
    /// still deliver what was committed; they only stop waiting.
    pub fn end_waits(&self) {
        self.part::<Arc<Feed>>().end_waits();
    }
}

impl Engine {
    /// Subscribes `ctx` to the changes that match `filter`, from the next commit on. The
    /// context needs, in the filter's group, `events:read` (or, with dimensions in the
    /// filter, each dimension's read permission); each change is delivered only if the
    /// context may read its dimension in its group at the time.
    pub fn subscribe(&self, ctx: &Context, filter: ChangeFilter) -> Result<Subscription> {
        self.subscription(ctx, vec![filter], None, false)
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
        self.subscription(ctx, vec![filter], after, true)
    }

    /// Subscribes to the changes that match any of `filters` (at most [`MAX_FILTERS`]),
    /// in one stream with one cursor: each change is delivered once, whatever the number
    /// of filters it matches, and [`Subscription::matched`] says which. With `after`,
    /// the stored log after it is replayed first, as [`Engine::subscribe_from`] does;
    /// with `None`, the stream starts at the next commit. Each filter needs what
    /// [`Engine::subscribe`] needs in its group.
    pub fn subscribe_all(
        &self,
        ctx: &Context,
        filters: Vec<ChangeFilter>,
        after: Option<EventId>,
    ) -> Result<Subscription> {
        let replay = after.is_some();
        self.subscription(ctx, filters, after, replay)
    }

    fn subscription(
        &self,
        ctx: &Context,
        filters: Vec<ChangeFilter>,
        after: Option<EventId>,
        replay: bool,
    ) -> Result<Subscription> {
        ChangeFilter::check_all(&filters)?;
        let watches: Vec<Watch> = filters
            .into_iter()
            .map(|filter| Watch {
                group: filter.group.unwrap_or(ctx.group()),
                filter,
            })
            .collect();
        let root = self.read(ctx, |v| {
            for w in &watches {
                for op in ops_of(&w.filter) {
                    v.authorize(op, w.group)?;
                }
            }
            Ok(v.scope.root)
        })?;
        let (last_id, (channel, next)) = if self.store().is_shared() {
            // Other instances commit too, and the stored log is the stream (see
            // `follow_stored_log`): the tenant's commits so far hold ids up to the last
            // one stored in it, and every later one makes ids above that.
            let snapshot = self.store().read()?;
            (
                self.observe_stored_ids(&*snapshot, root)?,
                self.part::<Arc<Feed>>().join(root, ctx.env()),
            )
        } else {
            // Joined between commits: every later commit reaches the channel after
            // `next`, and every earlier one is stored (for a replay) with an id at most
            // the last id issued. Whatever the replay and the channel both hold, the
            // cursor drops.
            self.store().between_commits(|| {
                (
                    self.last_id(),
                    self.part::<Arc<Feed>>().join(root, ctx.env()),
                )
            })?
        };
        if let Some(after) = after.filter(|a| replay && a.to_u128() > last_id) {
            return Err(Error::InvalidCursor {
                reason: format!(
                    "`after` names {after}, later than every event committed so far: such a \
                     subscription would never deliver"
                ),
            });
        }
        let position = if replay {
            after
        } else {
            Some(EventId::from_u128(last_id))
        };
        Ok(Subscription {
            feed: Arc::downgrade(self.part::<Arc<Feed>>()),
            ctx: *ctx,
            watches,
            channel,
            next,
            position,
            cursor: position,
            replaying: replay,
            ready: VecDeque::new(),
            matched: 0,
            ended: None,
        })
    }
}

/// What the channel had.
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

    /// The indexes of the filters the change returned last matched, in the order the
    /// filters were given (`[0]` for a subscription with one filter).
    pub fn matched(&self) -> Vec<usize> {
        (0..self.watches.len())
            .filter(|i| self.matched & (1 << i) != 0)
            .collect()
    }

    /// The next change if one is ready, without waiting.
    pub fn try_next(&mut self, engine: &Engine) -> Result<Option<Event>> {
        self.step(engine, Wait::No)
    }

    /// The next change, waiting up to `timeout` for a commit that brings one (it may
    /// return `None` sooner when a commit brings only changes the filter drops).
    pub fn next_timeout(&mut self, engine: &Engine, timeout: Duration) -> Result<Option<Event>> {
        self.step(engine, Wait::For(timeout))
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

    fn step(&mut self, engine: &Engine, mut wait: Wait) -> Result<Option<Event>> {
        if !std::ptr::eq(self.feed.as_ptr(), Arc::as_ptr(engine.part::<Arc<Feed>>())) {
            return Err(Error::invalid(
                "engine",
                "this subscription was made by another engine (or by one since closed); \
                 nothing was read",
            ));
        }
        loop {
            if let Some((e, matched)) = self.ready.pop_front() {
                self.cursor = Some(e.id);
                self.matched = matched;
                return Ok(Some(e));
            }
            if let Some((needed, group)) = self.ended {
                return Err(Error::Forbidden {
                    needed,
                    group: group.to_string(),
                });
            }
            if self.replaying {
                self.replay(engine)?;
                continue;
            }
            if engine.store().is_shared() {
                match self.follow_stored_log(engine, &mut wait)? {
                    true => continue,
                    false => return Ok(None),
                }
            }
            match self.take(wait) {
                Taken::Batches(batches) => {
                    self.accept(engine, &batches)?;
                    // A timed wait ends with the first commit, delivered or filtered out.
                    if let Wait::For(_) = wait {
                        wait = Wait::No;
                    }
                }
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

    /// On a shared store, where other instances commit too, the stored log is the
    /// stream: writers of every instance take turns, so ids grow with commit order and a
    /// snapshot holds every commit before its newest. The channel only wakes the wait
    /// early, for this instance's commits; others are found by reading the log again
    /// every [`SHARED_POLL`]. Returns whether there is something to deliver (or an end),
    /// `false` once the wait allowed is over.
    fn follow_stored_log(&mut self, engine: &Engine, wait: &mut Wait) -> Result<bool> {
        // What is left of a timed wait, counted down by the pauses (a pause a commit cut
        // short counts whole: the wait never runs over).
        let mut left = match *wait {
            Wait::For(timeout) => Some(timeout),
            Wait::No | Wait::Forever => None,
        };
        loop {
            self.replaying = true;
            self.replay(engine)?;
            if !self.ready.is_empty() || self.ended.is_some() || self.replaying {
                return Ok(true);
            }
            let pause = match (*wait, left) {
                (Wait::No, _) => return Ok(false),
                (_, Some(left)) if left.is_zero() => {
                    *wait = Wait::No;
                    return Ok(false);
                }
                (_, Some(left)) => left.min(SHARED_POLL),
                (_, None) => SHARED_POLL,
            };
            left = left.map(|l| l.saturating_sub(pause));
            let channel = Arc::clone(&self.channel);
            let ring = channel.ring();
            if ring.ended {
                return Ok(false);
            }
            // What the channel holds is in the stored log: it is read from there.
            self.next = if ring.next == self.next {
                channel
                    .arrived
                    .wait_timeout(ring, pause)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .next
            } else {
                ring.next
            };
        }
    }

    /// Takes the batches published since the last take, waiting as allowed for one.
    fn take(&mut self, wait: Wait) -> Taken {
        let channel = Arc::clone(&self.channel);
        let mut ring = channel.ring();
        let mut wait = wait;
        loop {
            if self.next < ring.first {
                // Batches this subscription had not read were dropped.
                self.next = ring.next;
                return Taken::Lagged;
            }
            if ring.next > self.next {
                let taken: Vec<Batch> = ring
                    .batches
                    .iter()
                    .filter(|(p, _)| *p >= self.next)
                    .map(|(_, b)| Arc::clone(b))
                    .collect();
                self.next = ring.next;
                return Taken::Batches(taken);
            }
            if ring.ended {
                return Taken::Nothing;
            }
            ring = match wait {
                Wait::No => return Taken::Nothing,
                Wait::Forever => channel
                    .arrived
                    .wait(ring)
                    .unwrap_or_else(|p| p.into_inner()),
                Wait::For(timeout) => {
                    wait = Wait::No;
                    channel
                        .arrived
                        .wait_timeout(ring, timeout)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// Checks that the context may still read each followed group, and the groups each
    /// filter's changes may come from (in the order of the filters).
    fn scope(&mut self, v: &View<'_, ReadTx>) -> Result<Option<Vec<HashSet<GroupId>>>> {
        let mut scopes = Vec::with_capacity(self.watches.len());
        for w in &self.watches {
            let held = v.permits_set(w.group)?;
            for op in ops_of(&w.filter) {
                if let Some(need) = op.needs().set().difference(held).iter().next() {
                    self.ended = Some((need, w.group));
                    return Ok(None);
                }
            }
            let mut groups = HashSet::from([w.group]);
            if w.filter.subtree {
                groups.extend(v.descendants(w.group)?);
            }
            scopes.push(groups);
        }
        Ok(Some(scopes))
    }

    /// Moves the events after the cursor that pass a filter and the context's
    /// permissions to `ready`.
    fn admit<'e>(
        &mut self,
        v: &View<'_, ReadTx>,
        scopes: &[HashSet<GroupId>],
        events: impl IntoIterator<Item = &'e Event>,
    ) -> Result<()> {
        for e in events {
            if self.position.is_some_and(|p| e.id <= p) {
                continue;
            }
            self.position = Some(e.id);
            let matched = self
                .watches
                .iter()
                .zip(scopes)
                .enumerate()
                .filter(|(_, (w, groups))| groups.contains(&e.group) && w.filter.matches(e))
                .fold(0u32, |mask, (i, _)| mask | 1 << i);
            if matched != 0 && v.may_read_event(e.group, &e.kind)? {
                self.ready.push_back((e.clone(), matched));
            }
        }
        Ok(())
    }

    fn accept(&mut self, engine: &Engine, batches: &[Batch]) -> Result<()> {
        let ctx = self.ctx;
        engine.read_quietly(&ctx, |v| {
            let Some(scopes) = self.scope(v)? else {
                return Ok(());
            };
            let events = batches
                .iter()
                .flat_map(|b| b.iter())
                .map(|bytes| codec::decode::<Event>(bytes))
                .collect::<Result<Vec<_>>>()?;
            self.admit(v, &scopes, &events)
        })
    }

    /// Reads the next stored events after the cursor, in id (= commit) order.
    fn replay(&mut self, engine: &Engine) -> Result<()> {
        let ctx = self.ctx;
        engine.read_quietly(&ctx, |v| {
            let Some(scopes) = self.scope(v)? else {
                return Ok(());
            };
            let groups: HashSet<GroupId> = scopes.iter().flatten().copied().collect();
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
            self.admit(v, &scopes, &found)?;
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

/// Following the changes of dimension `d`, as an operation of the policy.
fn watch_op(d: Dimension) -> Op {
    match d {
        Dimension::Groups | Dimension::People => Op::WatchGroups,
        Dimension::Things => Op::WatchThings,
        Dimension::Connections => Op::WatchConnections,
        Dimension::Knowledge => Op::WatchKnowledge,
        Dimension::Events => Op::WatchEvents,
    }
}

/// What subscribing with `filter` is, for the policy: following each dimension it names,
/// or every event when it names none.
fn ops_of(filter: &ChangeFilter) -> Vec<Op> {
    if filter.dimensions.is_empty() {
        vec![Op::WatchEvents]
    } else {
        filter.dimensions.iter().map(|d| watch_op(*d)).collect()
    }
}
