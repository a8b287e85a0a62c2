//! The approximate index over knowledge vectors: one HNSW graph per group, derived from
//! the vectors in the store, and kept honest by the store.
//!
//! A group's graph ([`one_storage::vectors::VectorIndex`]) is built by
//! [`crate::Admin::compact_knowledge`] from a snapshot of the group's vectors, outside any
//! write transaction (writers never wait for a build), and persisted in one transaction as
//! chunks `h <group> <n>`, so reopening the database does not rebuild it. Between builds:
//!
//! - chunks created after the build have larger ids than any in the graph (ids grow with
//!   commits), so they are one key range, searched exactly and merged in;
//! - deleted chunks leave a tombstone `z <group> <id>`, and graph results are filtered
//!   through them (a build clears the tombstones it saw).
//!
//! So a chunk is found the moment its create commits and never after its delete commits.
//! Groups with fewer than [`KnowledgeIndexConfig::min_vectors`] vectors have no graph:
//! exact search is as fast there. A label carried by at least `min_vectors` chunks of a
//! group, and by at most half of them, gets a graph of its own (`h <group> <label>`), so a
//! query filtered by a rare label keeps its recall and speed; chunks are also listed by
//! label (`l <group> <label> <id>`), so a label too rare for a graph is searched exactly
//! over its own chunks only. A graph that is missing or fails its checks when loaded
//! (a crash cannot leave half of one: it is written in one transaction) is ignored, search
//! is exact, and the next compaction rebuilds it.

pub use one_vocabulary::records::knowledge::CompactReport;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use one_storage::vectors::{IndexParams, VectorIndex};
use one_storage::{Direction, KeyRange, KvRead};

use crate::base::context::{Context, Env};
use crate::base::id::GroupId;
use crate::base::layout::{self, TenantKeys};
use crate::kernel::Admin;
use crate::kernel::{AfterTx, Engine, Parts, Scope, View};
use crate::records::group::tenant_roots;
use crate::{Error, Result};

/// The size of each stored piece of a graph.
const CHUNK_BYTES: usize = 1 << 20;

/// When groups get a graph, and how it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnowledgeIndexConfig {
    /// Groups with fewer vectors are searched exactly. Default 1,000.
    pub min_vectors: usize,
    /// HNSW parameters (`ef_construction`, `ef_search`).
    pub params: IndexParams,
    /// The most vectors the graphs kept in memory may hold together. Default 2,000,000
    /// (about 1.5 GB at 128 dimensions).
    pub max_cached_vectors: usize,
    /// The background upkeep rebuilds a group's graph once the vectors added, deleted or
    /// relabelled since its build reach this percentage of it. Default 10.
    pub rebuild_percent: u32,
}

impl Default for KnowledgeIndexConfig {
    fn default() -> Self {
        Self {
            min_vectors: 1000,
            params: IndexParams::default(),
            max_cached_vectors: 2_000_000,
            rebuild_percent: 10,
        }
    }
}

type GraphKey = (GroupId, Env, GroupId, String);

/// Graphs loaded in memory, per (tenant, environment, group, label); `None` when there is
/// no usable graph. When the loaded graphs hold more than
/// [`KnowledgeIndexConfig::max_cached_vectors`] vectors, the least recently used are
/// dropped; the next search that needs one reads it from the store again.
#[derive(Debug, Default)]
pub(crate) struct Graphs {
    inner: Mutex<GraphsInner>,
}

#[derive(Debug, Default)]
struct GraphsInner {
    loaded: HashMap<GraphKey, Cached>,
    /// Vectors in the loaded graphs.
    vectors: usize,
    /// A counter standing for time, for least-recently-used eviction.
    tick: u64,
}

#[derive(Debug)]
struct Cached {
    graph: Option<Arc<VectorIndex>>,
    used: u64,
}

fn size(graph: &Option<Arc<VectorIndex>>) -> usize {
    graph.as_ref().map_or(0, |g| g.len())
}

impl Graphs {
    fn lock(&self) -> std::sync::MutexGuard<'_, GraphsInner> {
        // Plain bookkeeping, valid whatever a panicking thread left.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &GraphKey) -> Option<Option<Arc<VectorIndex>>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        inner.loaded.get_mut(key).map(|c| {
            c.used = tick;
            c.graph.clone()
        })
    }

    fn set(&self, key: GraphKey, graph: Option<Arc<VectorIndex>>, budget: usize) {
        let mut inner = self.lock();
        inner.tick += 1;
        let used = inner.tick;
        inner.vectors += size(&graph);
        if let Some(old) = inner.loaded.insert(key.clone(), Cached { graph, used }) {
            inner.vectors -= size(&old.graph);
        }
        while inner.vectors > budget {
            let oldest = inner
                .loaded
                .iter()
                .filter(|(k, c)| c.graph.is_some() && **k != key)
                .min_by_key(|(_, c)| c.used)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(c) = inner.loaded.remove(&oldest) {
                inner.vectors -= size(&c.graph);
            }
        }
    }

    #[cfg(test)]
    fn loaded_vectors(&self) -> usize {
        self.lock().vectors
    }
}

impl<K: KvRead> View<'_, K> {
    /// One of the group's graphs (label `""`: the whole group's): from memory, or read
    /// and checked from this snapshot.
    pub(crate) fn load_graph(
        &self,
        group: GroupId,
        label: &str,
    ) -> Result<Option<Arc<VectorIndex>>> {
        let key = (
            self.scope.root,
            self.scope.ctx.env(),
            group,
            label.to_string(),
        );
        if let Some(g) = self.engine.part::<Graphs>().get(&key) {
            return Ok(g);
        }
        let prefix = self.scope.tenant.graph(group, label);
        let mut bytes = Vec::new();
        self.kv
            .scan(&KeyRange::prefix(&prefix), Direction::Forward, |_, v| {
                bytes.extend_from_slice(v);
                Ok::<_, Error>(ControlFlow::Continue(()))
            })?;
        let graph = if bytes.is_empty() {
            None
        } else {
            // A damaged graph is derived data: ignore it; search is exact until rebuilt.
            VectorIndex::decode(&bytes).ok().map(Arc::new)
        };
        self.engine.part::<Graphs>().set(
            key,
            graph.clone(),
            self.engine
                .part::<KnowledgeIndexConfig>()
                .max_cached_vectors,
        );
        Ok(graph)
    }

    /// The ids deleted since the group's graph was built.
    pub(crate) fn tombstones(&self, group: GroupId) -> Result<HashSet<u128>> {
        let mut out = HashSet::new();
        self.kv.scan(
            &KeyRange::prefix(&self.scope.tenant.tombstones(group)),
            Direction::Forward,
            |k, _| {
                out.insert(layout::trailing_id(k)?);
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        Ok(out)
    }
}

/// Every group with vectors or a graph, in one tenant and environment.
pub(crate) fn indexed_groups(kv: &impl KvRead, keys: &TenantKeys) -> Result<Vec<GroupId>> {
    let mut groups = Vec::new();
    for prefix in [keys.all_vectors(), keys.all_graphs()] {
        kv.scan(&KeyRange::prefix(&prefix), Direction::Forward, |k, _| {
            let g = layout::decode_leading_group(k, &prefix, "knowledge key")?;
            if groups.last() != Some(&g) && !groups.contains(&g) {
                groups.push(g);
            }
            Ok::<_, Error>(ControlFlow::Continue(()))
        })?;
    }
    Ok(groups)
}

impl Admin<'_> {
    /// Builds (or rebuilds) the graph of every group whose vectors changed since its last
    /// build, or that has none, reaching [`KnowledgeIndexConfig::min_vectors`]; drops the
    /// graphs of groups that fell below it. Builds run outside any write transaction;
    /// each graph is then stored in one short transaction. Run it from a maintenance
    /// thread or a scheduled job: until then, new vectors are searched exactly.
    pub fn compact_knowledge(&self) -> Result<CompactReport> {
        let engine = self.engine;
        let mut report = CompactReport::default();
        let roots = tenant_roots(&*engine.store().read()?)?;
        for root in roots {
            for env in [Env::Live, Env::Test] {
                let keys = TenantKeys::new(root, env);
                let groups = indexed_groups(&*engine.store().read()?, &keys)?;
                for group in groups {
                    engine.compact_group(root, env, group, &mut report)?;
                }
            }
        }
        Ok(report)
    }
}

/// Installs the knowledge feature: the embedder, when groups get an HNSW graph, and the
/// graphs loaded in memory.
pub(crate) fn install(parts: &mut Parts) {
    parts.insert(KnowledgeEmbedder(Arc::new(
        crate::knowledge::embedder::HashingEmbedder::default(),
    )));
    parts.insert(KnowledgeIndexConfig::default());
    parts.insert(Graphs::default());
    crate::knowledge::maintenance::install(parts);
}

/// What turns knowledge text into vectors.
pub(crate) struct KnowledgeEmbedder(pub(crate) Arc<dyn crate::knowledge::embedder::Embedder>);

impl Engine {
    /// Embeds knowledge text with `embedder` (default: [`crate::HashingEmbedder`]). Its
    /// dimension must match the vectors the database already stores.
    pub fn with_embedder(
        mut self,
        embedder: Arc<dyn crate::knowledge::embedder::Embedder>,
    ) -> Self {
        self.part_mut::<KnowledgeEmbedder>().0 = embedder;
        self
    }

    /// Sets when groups get an HNSW graph and how it is built (see
    /// [`KnowledgeIndexConfig`]).
    pub fn with_knowledge_index(mut self, config: KnowledgeIndexConfig) -> Self {
        *self.part_mut::<KnowledgeIndexConfig>() = config;
        self
    }

    /// The embedder knowledge text is embedded with.
    pub fn embedder(&self) -> &dyn crate::knowledge::embedder::Embedder {
        self.part::<KnowledgeEmbedder>().0.as_ref()
    }
}

/// What compacting one group found in a snapshot: everything a build needs, so the build
/// runs with no lock and no reference to the engine.
pub(crate) struct CompactionPlan {
    root: GroupId,
    env: Env,
    group: GroupId,
    dims: usize,
    /// The group's vectors, by id.
    items: Vec<(u128, Vec<f32>)>,
    /// Labels common enough for a graph of their own, and rare enough to need one.
    by_label: HashMap<String, Vec<u128>>,
    /// The graph pieces stored now (replaced by the build).
    graph_keys: Vec<Vec<u8>>,
    /// The labels with a graph now.
    existing_labels: HashSet<String>,
    /// Tombstones and relabel marks the build covers (cleared with it).
    dead: HashSet<u128>,
    relabels: Vec<Vec<u8>>,
    config: KnowledgeIndexConfig,
}

/// Graphs built from a plan, ready to store.
pub(crate) struct BuiltGraphs {
    plan: CompactionPlan,
    built: Vec<(String, VectorIndex)>,
}

impl CompactionPlan {
    /// The group the plan is for, as (tenant, environment, group).
    pub(crate) fn target(&self) -> (GroupId, Env, GroupId) {
        (self.root, self.env, self.group)
    }

    /// Builds the graphs (the slow part: no lock is held, and the engine may be gone).
    pub(crate) fn build(mut self) -> BuiltGraphs {
        let mut built = Vec::new();
        if self.items.len() >= self.config.min_vectors {
            let position: HashMap<u128, usize> = self
                .items
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (*id, i))
                .collect();
            for (label, ids) in &self.by_label {
                let subset = ids
                    .iter()
                    .filter_map(|id| position.get(id).map(|i| self.items[*i].clone()))
                    .collect();
                built.push((
                    label.clone(),
                    VectorIndex::build(self.dims, subset, self.config.params),
                ));
            }
            let items = std::mem::take(&mut self.items);
            built.push((
                String::new(),
                VectorIndex::build(self.dims, items, self.config.params),
            ));
        }
        BuiltGraphs { plan: self, built }
    }
}

impl Engine {
    /// Builds and stores one group's graphs now, if its vectors changed since the last
    /// build (see [`Engine::plan_compaction`]).
    fn compact_group(
        &self,
        root: GroupId,
        env: Env,
        group: GroupId,
        report: &mut CompactReport,
    ) -> Result<()> {
        let lock = self
            .part::<crate::knowledge::maintenance::Upkeep>()
            .compacting
            .clone();
        let _one_at_a_time = lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(plan) = self.plan_compaction(root, env, group)? {
            self.store_compaction(plan.build(), report)?;
        }
        Ok(())
    }

    /// Reads what a compaction of `group` needs from one snapshot; `None` when its graphs
    /// are up to date, or it has too few vectors for one and no graph to drop.
    pub(crate) fn plan_compaction(
        &self,
        root: GroupId,
        env: Env,
        group: GroupId,
    ) -> Result<Option<CompactionPlan>> {
        let config = *self.part::<KnowledgeIndexConfig>();
        let keys = TenantKeys::new(root, env);
        let snapshot = self.store().read()?;
        let scope = Scope::new(Context::system(root).with_env(env), root);
        let view = View {
            kv: &*snapshot,
            scope: &scope,
            engine: self,
        };
        let current = view.load_graph(group, "")?;
        let dead = view.tombstones(group)?;
        let mut items = Vec::new();
        let mut dims = 0;
        snapshot.scan(
            &KeyRange::prefix(&keys.vectors(group)),
            Direction::Forward,
            |k, v| {
                let vector: Vec<f32> = v
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                dims = vector.len();
                items.push((layout::trailing_id(k)?, vector));
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        let mut by_label: HashMap<String, Vec<u128>> = HashMap::new();
        let postings = keys.postings_of(group);
        snapshot.scan(&KeyRange::prefix(&postings), Direction::Forward, |k, _| {
            let label = layout::decode_label(k, &postings)?;
            by_label
                .entry(label)
                .or_default()
                .push(layout::trailing_id(k)?);
            Ok::<_, Error>(ControlFlow::Continue(()))
        })?;
        by_label.retain(|_, ids| ids.len() >= config.min_vectors && ids.len() * 2 <= items.len());
        let mut existing_labels = HashSet::new();
        let mut graph_keys = Vec::new();
        let graphs = keys.graphs_of(group);
        snapshot.scan(&KeyRange::prefix(&graphs), Direction::Forward, |k, _| {
            let label = layout::decode_label(k, &graphs)?;
            if !label.is_empty() {
                existing_labels.insert(label);
            }
            graph_keys.push(k.to_vec());
            Ok::<_, Error>(ControlFlow::Continue(()))
        })?;
        let mut relabels = Vec::new();
        snapshot.scan(
            &KeyRange::prefix(&keys.relabels_of(group)),
            Direction::Forward,
            |k, _| {
                relabels.push(k.to_vec());
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        let wanted_labels: HashSet<String> = by_label.keys().cloned().collect();
        let unchanged = current.as_ref().is_some_and(|g| {
            dead.is_empty()
                && relabels.is_empty()
                && items.last().is_none_or(|(id, _)| *id <= g.max_id())
                && wanted_labels == existing_labels
        });
        if unchanged
            || (items.len() < config.min_vectors
                && graph_keys.is_empty()
                && dead.is_empty()
                && relabels.is_empty())
        {
            return Ok(None);
        }
        Ok(Some(CompactionPlan {
            root,
            env,
            group,
            dims,
            items,
            by_label,
            graph_keys,
            existing_labels,
            dead,
            relabels,
            config,
        }))
    }

    /// Stores built graphs in one short transaction, replacing the group's old ones and
    /// clearing the tombstones and relabel marks they cover, and counts them in `report`.
    pub(crate) fn store_compaction(
        &self,
        graphs: BuiltGraphs,
        report: &mut CompactReport,
    ) -> Result<()> {
        let BuiltGraphs { plan, built } = graphs;
        let (root, env, group) = plan.target();
        if let Some((_, whole)) = built.iter().find(|(label, _)| label.is_empty()) {
            report.built += 1;
            report.vectors += whole.len();
        } else if !plan.graph_keys.is_empty() {
            report.dropped += 1;
        }
        let encoded: Vec<(String, Vec<u8>)> = built
            .iter()
            .map(|(label, g)| (label.clone(), g.encode()))
            .collect();
        self.transact(|kv| {
            let scope = Scope::new(Context::system(root).with_env(env), root);
            self.write_in(kv, scope, &mut AfterTx::default(), |tx| {
                // Whatever graph is stored now, even one a concurrent build stored.
                let mut stored = Vec::new();
                tx.kv.scan(
                    &KeyRange::prefix(&tx.scope.tenant.graphs_of(group)),
                    Direction::Forward,
                    |k, _| {
                        stored.push(k.to_vec());
                        Ok::<_, Error>(ControlFlow::Continue(()))
                    },
                )?;
                for k in &stored {
                    tx.delete(k)?;
                }
                for (label, bytes) in &encoded {
                    for (n, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
                        tx.put(tx.scope.tenant.graph_chunk(group, label, n as u32), chunk)?;
                    }
                }
                // Only the deletions this build saw; later ones keep their tombstones.
                for id in &plan.dead {
                    tx.delete(&layout::with_id(&tx.scope.tenant.tombstones(group), *id))?;
                }
                for k in &plan.relabels {
                    tx.delete(k)?;
                }
                Ok(())
            })
        })?;
        let budget = plan.config.max_cached_vectors;
        for label in plan
            .existing_labels
            .iter()
            .chain(std::iter::once(&String::new()))
        {
            self.part::<Graphs>()
                .set((root, env, group, label.clone()), None, budget);
        }
        for (label, graph) in built {
            self.part::<Graphs>()
                .set((root, env, group, label), Some(Arc::new(graph)), budget);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize) -> Option<Arc<VectorIndex>> {
        let items = (1..=n as u128).map(|i| (i, vec![i as f32, 1.0])).collect();
        Some(Arc::new(VectorIndex::build(
            2,
            items,
            IndexParams::default(),
        )))
    }

    fn key(g: u128) -> GraphKey {
        (
            GroupId::from_u128(1),
            Env::Live,
            GroupId::from_u128(g),
            String::new(),
        )
    }

    #[test]
    fn the_least_recently_used_graphs_go_first_when_over_budget() {
        let graphs = Graphs::default();
        graphs.set(key(1), graph(10), 25);
        graphs.set(key(2), graph(10), 25);
        assert!(graphs.get(&key(1)).is_some()); // 1 is now more recent than 2
        graphs.set(key(3), graph(10), 25);
        assert_eq!(graphs.loaded_vectors(), 20);
        assert!(
            graphs.get(&key(2)).is_none(),
            "the least recently used went"
        );
        assert!(graphs.get(&key(1)).is_some() && graphs.get(&key(3)).is_some());
        // Replacing an entry counts only the new graph.
        graphs.set(key(3), None, 25);
        assert_eq!(graphs.loaded_vectors(), 10);
        // A single graph over the budget stays: it is what the search needs now.
        graphs.set(key(4), graph(40), 25);
        assert_eq!(graphs.loaded_vectors(), 40);
    }
}
