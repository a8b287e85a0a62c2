//! Background upkeep of the vector graphs: a thread, owned by whoever opened the engine,
//! that gives a group its graph once it has [`KnowledgeIndexConfig::min_vectors`]
//! vectors and rebuilds it once the vectors added, deleted or relabelled since its build
//! reach [`KnowledgeIndexConfig::rebuild_percent`] of it, so no application has to call
//! [`crate::Admin::compact_knowledge`].
//!
//! The thread never holds the write lock while it builds: it reads a group's vectors from
//! a snapshot, builds with no lock and without the engine (it keeps only a weak
//! reference, so closing the engine never waits for a build), and stores the graphs in one
//! short transaction, as `compact_knowledge` does. Writers never wait for it, and search
//! is exact over whatever a graph does not cover yet, so answers are the same before,
//! during and after a rebuild. Writes mark their group for the next round; a full pass
//! over every group runs when the thread starts and every [`FULL_PASS_ROUNDS`] rounds
//! (other instances on a shared store mark nothing here).
//!
//! The same thread merges the text index's segments when a writer left a merge larger
//! than it does itself (`records/text_index.rs`, `INLINE_MERGE_ENTRIES`): it reads the
//! segments from a snapshot, merges them with no lock and no engine, and stores the
//! result in one short transaction, unless a writer merged them meanwhile.

pub use one_vocabulary::records::knowledge::MaintenanceStatus;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use one_storage::{Direction, KeyRange, KvRead};

use crate::base::context::{Context, Env};
use crate::base::id::GroupId;
use crate::base::layout::TenantKeys;
use crate::kernel::{Engine, Parts, Scope, View};
use crate::knowledge::index::{KnowledgeIndexConfig, indexed_groups};
use crate::records::group::tenant_roots;
use crate::records::text_index::{Corpora, MergePlan, TextUpkeep, every_corpus};
use crate::{Error, Result};

/// Every this many rounds, the thread looks at every group, not only those written to.
pub const FULL_PASS_ROUNDS: u64 = 600;

/// At most this many merges of one corpus's text segments in one round (the rest wait
/// for the next).
const MERGES_PER_ROUND: usize = 16;

/// Between rounds, how often the thread looks for text merges writers left.
const TEXT_POLL: Duration = Duration::from_millis(10);

type Target = (GroupId, Env, GroupId);

/// The engine's side of the upkeep: the groups written to since the last round, and what
/// the thread reports.
#[derive(Debug, Default)]
pub(crate) struct Upkeep {
    dirty: Mutex<HashSet<Target>>,
    status: Mutex<MaintenanceStatus>,
    /// Held while one group is compacted, so two compactions of the engine (the thread's
    /// and an explicit one) never interleave.
    pub(crate) compacting: Arc<Mutex<()>>,
}

impl Upkeep {
    /// Marks a group whose vectors or labels a transaction changed (committed or not:
    /// the thread reads the store).
    pub(crate) fn mark(&self, root: GroupId, env: Env, group: GroupId) {
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((root, env, group));
    }

    fn take_dirty(&self) -> Vec<Target> {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        dirty.drain().collect()
    }

    fn report(&self, f: impl FnOnce(&mut MaintenanceStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Installs the upkeep's state.
pub(crate) fn install(parts: &mut Parts) {
    parts.insert(Upkeep::default());
}

impl Engine {
    /// What the background upkeep of the vector graphs and the text index is doing (all
    /// zero when no thread was started).
    pub fn maintenance_status(&self) -> MaintenanceStatus {
        let mut status = self
            .part::<Upkeep>()
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        status.text_merges = self
            .part::<TextUpkeep>()
            .merges
            .load(std::sync::atomic::Ordering::Relaxed);
        status
    }

    /// Whether `group`'s graphs are due: it has enough vectors and no graph, or what
    /// changed since its graph was built reaches the rebuild threshold.
    fn upkeep_due(&self, root: GroupId, env: Env, group: GroupId) -> Result<bool> {
        let config = *self.part::<KnowledgeIndexConfig>();
        let snapshot = self.store().read()?;
        let scope = Scope::new(Context::system(root).with_env(env), root);
        let view = View {
            kv: &*snapshot,
            scope: &scope,
            engine: self,
        };
        let keys = TenantKeys::new(root, env);
        let graph = view.load_graph(group, "")?;
        let (indexed, after) = graph.as_ref().map_or((0, 0), |g| (g.len(), g.max_id()));
        let threshold = match graph {
            None => config.min_vectors.max(1),
            Some(_) => (indexed * config.rebuild_percent as usize / 100).max(1),
        };
        // Counts up to the threshold, no further.
        let mut changed = 0usize;
        let mut count = |range: KeyRange| -> Result<()> {
            snapshot.scan(&range, Direction::Forward, |_, _| {
                changed += 1;
                Ok::<_, Error>(if changed >= threshold {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })?;
            Ok(())
        };
        count(view.vectors_after(group, after))?;
        if indexed > 0 {
            count(KeyRange::prefix(&keys.tombstones(group)))?;
            count(KeyRange::prefix(&keys.relabels_of(group)))?;
        }
        Ok(changed >= threshold)
    }

    /// Every corpus of every group of every tenant with text segments.
    fn every_text_corpus(&self) -> Result<Vec<Corpora>> {
        let snapshot = self.store().read()?;
        let mut out = Vec::new();
        for root in tenant_roots(&*snapshot)? {
            for env in [Env::Live, Env::Test] {
                out.extend(every_corpus(&*snapshot, &TenantKeys::new(root, env))?);
            }
        }
        Ok(out)
    }

    /// Every group of every tenant with vectors or a graph.
    fn every_indexed_group(&self) -> Result<Vec<Target>> {
        let snapshot = self.store().read()?;
        let mut out = Vec::new();
        for root in tenant_roots(&*snapshot)? {
            for env in [Env::Live, Env::Test] {
                for group in indexed_groups(&*snapshot, &TenantKeys::new(root, env))? {
                    out.push((root, env, group));
                }
            }
        }
        Ok(out)
    }
}

/// How the thread is told to stop, and woken to do so.
#[derive(Debug, Default)]
struct Signal {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Signal {
    fn stopped(&self) -> bool {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits `interval` or until stopped; whether the thread should go on.
    fn wait(&self, interval: Duration) -> bool {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        let (stop, _) = self
            .wake
            .wait_timeout_while(stop, interval, |stop| !*stop)
            .unwrap_or_else(|p| p.into_inner());
        !*stop
    }
}

/// The background upkeep thread of one engine (see the module docs). Dropping it stops
/// the thread: a round in progress ends at its next step, and a build in progress is
/// discarded without being waited for.
#[derive(Debug)]
pub struct KnowledgeMaintenance {
    signal: Arc<Signal>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KnowledgeMaintenance {
    /// Starts the thread over `engine`, one round every `interval`.
    pub fn start(engine: &Arc<Engine>, interval: Duration) -> Result<Self> {
        let signal = Arc::new(Signal::default());
        let weak = Arc::downgrade(engine);
        let upkeep = engine.part::<Upkeep>();
        upkeep.report(|s| s.running = true);
        // Counted before the thread can end (it uncounts itself as it does).
        engine.part::<TextUpkeep>().thread(true);
        let compacting = upkeep.compacting.clone();
        let thread = std::thread::Builder::new()
            .name("one-knowledge-upkeep".into())
            .spawn({
                let signal = signal.clone();
                move || run(&weak, &signal, &compacting, interval)
            })
            .map_err(|e| {
                engine.part::<TextUpkeep>().thread(false);
                Error::internal(&format!("cannot start the upkeep thread: {e}"))
            })?;
        Ok(Self {
            signal,
            thread: Some(thread),
        })
    }

    /// Stops the thread without waiting for a build in progress (it is discarded).
    pub fn stop(&mut self) {
        *self.signal.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.signal.wake.notify_all();
        // Detached: the thread holds no strong reference while it builds, and checks the
        // signal before every step that needs the engine.
        drop(self.thread.take());
    }
}

impl Drop for KnowledgeMaintenance {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: rounds until stopped or the engine is gone.
fn run(engine: &Weak<Engine>, signal: &Signal, compacting: &Mutex<()>, interval: Duration) {
    let mut rounds: u64 = 0;
    'rounds: loop {
        let full = rounds.is_multiple_of(FULL_PASS_ROUNDS);
        if round(engine, signal, compacting, full).is_none() {
            break;
        }
        rounds += 1;
        // Until the next round, text merges writers leave are taken as they come: a bulk
        // load seals a segment per transaction, faster than a round a second.
        let mut waited = Duration::ZERO;
        while waited < interval {
            let step = TEXT_POLL.min(interval - waited);
            if !signal.wait(step) {
                break 'rounds;
            }
            waited += step;
            let owed = match engine.upgrade() {
                Some(e) => e.part::<TextUpkeep>().is_owed(),
                None => break 'rounds,
            };
            if owed && merge_text(engine, signal, false).is_none() {
                break 'rounds;
            }
        }
    }
    if let Some(e) = engine.upgrade() {
        e.part::<Upkeep>().report(|s| {
            s.running = false;
            s.building = None;
        });
        e.part::<TextUpkeep>().thread(false);
    }
}

/// One round over the groups written to (or every group, with `full`); `None` when the
/// thread must stop.
fn round(engine: &Weak<Engine>, signal: &Signal, compacting: &Mutex<()>, full: bool) -> Option<()> {
    let targets = {
        let e = engine.upgrade()?;
        let dirty = e.part::<Upkeep>().take_dirty();
        if full {
            match e.every_indexed_group() {
                Ok(all) => all,
                Err(err) => {
                    e.part::<Upkeep>()
                        .report(|s| s.last_error = Some(err.to_string()));
                    dirty
                }
            }
        } else {
            dirty
        }
    };
    for (root, env, group) in targets {
        if signal.stopped() {
            return None;
        }
        let _one_at_a_time = compacting.lock().unwrap_or_else(|p| p.into_inner());
        let plan = {
            let e = engine.upgrade()?;
            let planned = e.upkeep_due(root, env, group).and_then(|due| {
                if due {
                    e.plan_compaction(root, env, group)
                } else {
                    Ok(None)
                }
            });
            match planned {
                Ok(Some(plan)) => {
                    e.part::<Upkeep>().report(|s| s.building = Some(group));
                    plan
                }
                Ok(None) => continue,
                Err(err) => {
                    e.part::<Upkeep>()
                        .report(|s| s.last_error = Some(err.to_string()));
                    continue;
                }
            }
        };
        // The slow part: no engine, no lock of the store.
        let built = plan.build();
        if signal.stopped() {
            return None;
        }
        let e = engine.upgrade()?;
        let mut report = Default::default();
        let stored = e.store_compaction(built, &mut report);
        e.part::<Upkeep>().report(|s| {
            s.building = None;
            match stored {
                Ok(()) => s.graphs_built += report.built as u64,
                Err(err) => s.last_error = Some(err.to_string()),
            }
        });
    }
    merge_text(engine, signal, full)?;
    if let Some(e) = engine.upgrade() {
        e.part::<Upkeep>().report(|s| s.rounds += 1);
    }
    Some(())
}

/// The text merges writers left (or, with `full`, every corpus's due merges); `None`
/// when the thread must stop.
fn merge_text(engine: &Weak<Engine>, signal: &Signal, full: bool) -> Option<()> {
    let corpora = {
        let e = engine.upgrade()?;
        if e.store().is_read_only() {
            return Some(());
        }
        let mut owed = e.part::<TextUpkeep>().take();
        if full {
            match e.every_text_corpus() {
                Ok(all) => owed = all,
                Err(err) => e
                    .part::<Upkeep>()
                    .report(|s| s.last_error = Some(err.to_string())),
            }
        }
        owed
    };
    for (keys, group, corpus) in corpora {
        let mut merged = 0;
        loop {
            if signal.stopped() {
                return None;
            }
            if merged == MERGES_PER_ROUND {
                let e = engine.upgrade()?;
                e.part::<TextUpkeep>().mark(vec![(keys, group, corpus)]);
                break;
            }
            let planned = {
                let e = engine.upgrade()?;
                e.store()
                    .read()
                    .map_err(Error::from)
                    .and_then(|snapshot| MergePlan::due(&*snapshot, &keys, group, corpus))
            };
            // The slow part: no engine, no lock of the store.
            let built = match planned.and_then(|p| p.map(MergePlan::build).transpose()) {
                Ok(Some(built)) => built,
                Ok(None) => break,
                Err(err) => {
                    let e = engine.upgrade()?;
                    e.part::<Upkeep>()
                        .report(|s| s.last_error = Some(err.to_string()));
                    break;
                }
            };
            if signal.stopped() {
                return None;
            }
            let e = engine.upgrade()?;
            let mut built = e.consumed(built);
            match e.transact(|kv| built.take()?.store(kv)) {
                Ok(stored) => {
                    merged += 1;
                    if stored {
                        e.part::<TextUpkeep>()
                            .merges
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Err(err) => {
                    e.part::<Upkeep>()
                        .report(|s| s.last_error = Some(err.to_string()));
                    break;
                }
            }
        }
    }
    Some(())
}
