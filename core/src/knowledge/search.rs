//! Search over knowledge chunks: k-nearest-neighbour by vector (the planner that picks,
//! per group, between a label's or the group's HNSW graph and an exact scan, and the
//! top-k merge of what they find), BM25 by text (`records/text.rs`), and both fused by
//! reciprocal rank.
//!
//! The store's snapshot is the truth: records are read from it, deleted ids are
//! filtered out, and vectors newer than a graph are scanned exactly, so a graph only
//! narrows what is read.

pub use one_vocabulary::records::knowledge::{Hit, KnowledgeQuery, Metric, QueryInput, SearchMode};

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::ControlFlow;

use crate::access::policy::Op;
use crate::base::id::{GroupId, KnowledgeId};
use crate::base::layout::{self, Corpus};
use crate::base::permission::Permission;
use crate::dimensions::search::MAX_QUERY_BYTES;
use crate::kernel::View;
use crate::knowledge::chunks::check_labels;
use crate::knowledge::chunks::check_vector;
use crate::knowledge::chunks::decode_vector;
use crate::records::knowledge::Knowledge;
use crate::records::text::TextTerms;
use crate::{Error, Result};
use one_storage::vectors::dot;
use one_storage::{Direction, KeyRange, KvRead};
/// The most results a search returns.
pub const MAX_K: usize = 1000;

/// Reciprocal rank fusion's constant: a hit at rank `r` (from 1) scores `1 / (RRF_K + r)`.
pub const RRF_K: f32 = 60.0;

/// The least depth of each ranking a hybrid search fuses.
const HYBRID_MIN_DEPTH: usize = 50;

/// Fuses rankings by reciprocal rank: the `k` best chunks by the sum of `1 / (RRF_K +
/// rank)` over the rankings they are in, ties to the older id.
fn fuse<const N: usize>(k: usize, rankings: [Vec<Hit>; N]) -> Vec<Hit> {
    let mut fused: std::collections::HashMap<KnowledgeId, Hit> = std::collections::HashMap::new();
    for ranking in rankings {
        for (rank, hit) in ranking.into_iter().enumerate() {
            let score = 1.0 / (RRF_K + rank as f32 + 1.0);
            fused
                .entry(hit.knowledge.id)
                .and_modify(|h| h.score += score)
                .or_insert(Hit { score, ..hit });
        }
    }
    let mut hits: Vec<Hit> = fused.into_values().collect();
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.knowledge.id.cmp(&b.knowledge.id))
    });
    hits.truncate(k);
    hits
}

/// A candidate in the top-k heap: the worst on top.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f32,
    id: KnowledgeId,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    /// Better candidates are smaller, so the heap's top is the worst kept one: higher
    /// score is better, then the older id.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.id.cmp(&other.id))
    }
}

/// The best `k` candidates seen so far, and the records loaded to filter them.
struct TopK<'q> {
    query: &'q KnowledgeQuery,
    heap: BinaryHeap<Candidate>,
    records: std::collections::HashMap<KnowledgeId, Knowledge>,
    /// Ids already offered (a chunk may be reached through several labels' graphs).
    seen: std::collections::HashSet<KnowledgeId>,
}

impl<'q> TopK<'q> {
    fn new(query: &'q KnowledgeQuery) -> Self {
        Self {
            query,
            heap: BinaryHeap::with_capacity(query.k + 1),
            records: std::collections::HashMap::new(),
            seen: std::collections::HashSet::new(),
        }
    }

    fn filtered(&self) -> bool {
        !self.query.any_labels.is_empty()
            || !self.query.all_labels.is_empty()
            || self.query.source.is_some()
    }

    /// Whether a candidate would enter the top `k`.
    fn would_enter(&self, c: Candidate) -> bool {
        self.heap.len() < self.query.k || self.heap.peek().is_some_and(|worst| c < *worst)
    }

    /// Offers a candidate; with filters, its record is loaded (through `load`) and checked
    /// first. Returns whether it was kept.
    fn offer(
        &mut self,
        c: Candidate,
        load: impl FnOnce(KnowledgeId) -> Result<Option<Knowledge>>,
    ) -> Result<bool> {
        if self.seen.contains(&c.id) || !self.would_enter(c) {
            return Ok(false);
        }
        if self.filtered() {
            let Some(k) = load(c.id)? else {
                return Ok(false);
            };
            if !self.query.accepts(&k) {
                return Ok(false);
            }
            self.records.insert(c.id, k);
        }
        self.push(c);
        Ok(true)
    }

    /// Keeps a candidate that already passed the filters, if it is among the best.
    fn push(&mut self, c: Candidate) {
        if self.seen.insert(c.id) && self.would_enter(c) {
            self.heap.push(c);
            if self.heap.len() > self.query.k {
                self.heap.pop();
            }
        }
    }
}

impl<K: KvRead> View<'_, K> {
    /// The vectors of `group` with ids above `after`.
    pub(crate) fn vectors_after(&self, group: GroupId, after: u128) -> KeyRange {
        let prefix = self.scope.tenant.vectors(group);
        let mut range = KeyRange::prefix(&prefix);
        if after > 0 {
            range.start = std::ops::Bound::Excluded(layout::with_id(&prefix, after));
        }
        range
    }

    /// The chunks best for the query, best first: nearest by vector (see the module
    /// docs), most relevant by text (BM25, every word required), or both fused by
    /// reciprocal rank, as its mode says. Needs `knowledge:query` in the searched group;
    /// with `include_children`, also searches every group below where the context has
    /// `knowledge:read`.
    pub fn query_knowledge(&self, query: &KnowledgeQuery) -> Result<Vec<Hit>> {
        if query.k == 0 || query.k > MAX_K {
            return Err(Error::invalid("k", format!("must be 1 to {MAX_K}")));
        }
        let any = check_labels(&query.any_labels)?;
        let all = check_labels(&query.all_labels)?;
        let query = KnowledgeQuery {
            any_labels: any,
            all_labels: all,
            ..query.clone()
        };
        let group = query.group.unwrap_or(self.scope.ctx.group());
        self.authorize(Op::QueryKnowledge, group)?;
        let groups = self.groups_with(group, query.include_children, Permission::KnowledgeRead)?;
        match query.mode {
            SearchMode::Vector => self.vector_hits(&query, &groups),
            SearchMode::Text => self.text_hits(&query, &groups, query.k),
            SearchMode::Hybrid => {
                let depth = (query.k * 4).clamp(HYBRID_MIN_DEPTH, MAX_K);
                let by_text = self.text_hits(&query, &groups, depth)?;
                let by_vector = self.vector_hits(
                    &KnowledgeQuery {
                        k: depth,
                        ..query.clone()
                    },
                    &groups,
                )?;
                Ok(fuse(query.k, [by_text, by_vector]))
            }
        }
    }

    /// The `k` chunks of `groups` whose text is most relevant to the query's words and
    /// that pass its filters, with their BM25 scores.
    fn text_hits(&self, query: &KnowledgeQuery, groups: &[GroupId], k: usize) -> Result<Vec<Hit>> {
        let text = query
            .input
            .text()
            .ok_or_else(|| Error::invalid("text", "a text or hybrid search needs text"))?;
        if text.len() > MAX_QUERY_BYTES {
            return Err(Error::TooLarge {
                field: "text",
                limit: MAX_QUERY_BYTES,
                actual: text.len(),
            });
        }
        let terms = TextTerms::parse(text, false)?;
        let mut hits = Vec::new();
        for (id, score) in self.text_matches(Corpus::Knowledge, groups, &terms)? {
            if hits.len() == k {
                break;
            }
            let key = self.scope.tenant.knowledge(KnowledgeId::from_u128(id));
            if let Some(knowledge) = self.get_record::<Knowledge>(&key)?
                && query.accepts(&knowledge)
            {
                hits.push(Hit {
                    knowledge,
                    score: score as f32,
                });
            }
        }
        Ok(hits)
    }

    /// The `query.k` chunks of `groups` nearest to the query's vector (or its text's
    /// embedding) that pass its filters.
    fn vector_hits(&self, query: &KnowledgeQuery, groups: &[GroupId]) -> Result<Vec<Hit>> {
        let q = match &query.input {
            QueryInput::Vector(v) | QueryInput::TextAndVector(_, v) => v.clone(),
            QueryInput::Text(t) => self.engine.embedder().embed(t),
        };
        let Some(dims) = self.stored_dims()? else {
            return Ok(Vec::new());
        };
        check_vector(&q, dims)?;
        let mut best = TopK::new(query);
        for &g in groups {
            self.search_group(g, &q, dims, &mut best)?;
        }
        let mut hits = Vec::with_capacity(best.heap.len());
        let mut records = std::mem::take(&mut best.records);
        for c in best.heap.into_sorted_vec() {
            let knowledge = match records.remove(&c.id) {
                Some(k) => k,
                None => match self.get_record(&self.scope.tenant.knowledge(c.id))? {
                    Some(k) => k,
                    // Indexed by a graph newer than this snapshot; not visible here.
                    None => continue,
                },
            };
            hits.push(Hit {
                knowledge,
                score: c.score,
            });
        }
        Ok(hits)
    }

    /// Offers `group`'s best candidates. A query that needs a label goes through that
    /// label's own graph, or its chunks exactly when the label is too rare for a graph;
    /// otherwise through the group's graph, or exactly when it has none or the metric is
    /// the dot product (see [`View::search_graph`]).
    fn search_group(
        &self,
        group: GroupId,
        q: &[f32],
        dims: usize,
        best: &mut TopK<'_>,
    ) -> Result<()> {
        if best.query.metric == Metric::Dot {
            return self.scan_exact(self.vectors_after(group, 0), q, dims, best);
        }
        let needed: Vec<String> = if !best.query.any_labels.is_empty() {
            best.query.any_labels.clone()
        } else {
            best.query.all_labels.iter().take(1).cloned().collect()
        };
        let min = self
            .engine
            .part::<crate::knowledge::index::KnowledgeIndexConfig>()
            .min_vectors;
        let mut routes = Vec::new();
        for label in &needed {
            if let Some(graph) = self.load_graph(group, label)? {
                routes.push((label.clone(), Some(graph), Vec::new()));
                continue;
            }
            let ids = self.posting_ids(group, label, 0, min + 1)?;
            if ids.len() > min {
                // A common label without a graph of its own: the group's graph filters.
                return self.search_graph(group, "", q, dims, best);
            }
            routes.push((label.clone(), None, ids));
        }
        if needed.is_empty() {
            return self.search_graph(group, "", q, dims, best);
        }
        for (label, graph, ids) in routes {
            match graph {
                Some(_) => self.search_graph(group, &label, q, dims, best)?,
                None => self.scan_ids(group, &ids, q, dims, best)?,
            }
        }
        Ok(())
    }

    /// Offers the candidates of one graph of `group` (label `""`: the group's own), minus
    /// deleted chunks, and the chunks added since it was built, scanned exactly. Without
    /// the graph, or when filters or deletions leave its answer short, the chunks it
    /// covers are all scanned exactly instead.
    fn search_graph(
        &self,
        group: GroupId,
        label: &str,
        q: &[f32],
        dims: usize,
        best: &mut TopK<'_>,
    ) -> Result<()> {
        let exact_all = |best: &mut TopK<'_>| -> Result<()> {
            if label.is_empty() {
                self.scan_exact(self.vectors_after(group, 0), q, dims, best)
            } else {
                let ids = self.posting_ids(group, label, 0, usize::MAX)?;
                self.scan_ids(group, &ids, q, dims, best)
            }
        };
        let Some(graph) = self.load_graph(group, label)? else {
            return exact_all(best);
        };
        let load = |id: KnowledgeId| self.get_record::<Knowledge>(&self.scope.tenant.knowledge(id));
        let dead = self.tombstones(group)?;
        let ef = graph.params().ef_search;
        let found = graph.search(q, ef);
        let complete = found.len() < ef;
        let mut kept = Vec::new();
        for (id, score) in found {
            if dead.contains(&id) {
                continue;
            }
            let id = KnowledgeId::from_u128(id);
            if best.filtered() {
                match load(id)? {
                    Some(k) if best.query.accepts(&k) => {
                        best.records.insert(id, k);
                    }
                    _ => continue,
                }
            }
            kept.push(Candidate { score, id });
        }
        if kept.len() < best.query.k && !complete {
            // Filters or deletions thinned the graph's answer: be exact instead.
            return exact_all(best);
        }
        for c in kept {
            best.push(c);
        }
        if label.is_empty() {
            self.scan_exact(self.vectors_after(group, graph.max_id()), q, dims, best)
        } else {
            let mut ids = self.posting_ids(group, label, graph.max_id(), usize::MAX)?;
            let relabelled = self.scope.tenant.relabels(group, label);
            self.kv.scan(
                &KeyRange::prefix(&relabelled),
                Direction::Forward,
                |k, _| {
                    ids.push(KnowledgeId::from_u128(layout::trailing_id(k)?));
                    Ok::<_, Error>(ControlFlow::Continue(()))
                },
            )?;
            self.scan_ids(group, &ids, q, dims, best)
        }
    }

    /// The ids of `group`'s chunks labelled `label` above `after`, at most `limit`.
    fn posting_ids(
        &self,
        group: GroupId,
        label: &str,
        after: u128,
        limit: usize,
    ) -> Result<Vec<KnowledgeId>> {
        let prefix = self.scope.tenant.postings(group, label);
        let mut range = KeyRange::prefix(&prefix);
        if after > 0 {
            range.start = std::ops::Bound::Excluded(layout::with_id(&prefix, after));
        }
        let mut out = Vec::new();
        self.kv.scan(&range, Direction::Forward, |k, _| {
            out.push(KnowledgeId::from_u128(layout::trailing_id(k)?));
            Ok::<_, Error>(if out.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        Ok(out)
    }

    /// Scores the vectors of these chunks of `group` and offers them.
    fn scan_ids(
        &self,
        group: GroupId,
        ids: &[KnowledgeId],
        q: &[f32],
        dims: usize,
        best: &mut TopK<'_>,
    ) -> Result<()> {
        let q_norm = dot(q, q).sqrt();
        let mut v = Vec::with_capacity(dims);
        for id in ids {
            let Some(bytes) = self.kv.get(&self.scope.tenant.vector(group, *id))? else {
                continue;
            };
            decode_vector(&bytes, &mut v)?;
            let n = dot(&v, &v).sqrt() * q_norm;
            let score = if n > 0.0 { dot(q, &v) / n } else { 0.0 };
            best.offer(Candidate { score, id: *id }, |id| {
                self.get_record(&self.scope.tenant.knowledge(id))
            })?;
        }
        Ok(())
    }

    /// Scores every vector in `range` and offers it.
    fn scan_exact(
        &self,
        range: KeyRange,
        q: &[f32],
        dims: usize,
        best: &mut TopK<'_>,
    ) -> Result<()> {
        let q_norm = dot(q, q).sqrt();
        let mut v = Vec::with_capacity(dims);
        self.kv.scan(&range, Direction::Forward, |key, bytes| {
            decode_vector(bytes, &mut v)?;
            if v.len() != dims {
                return Err(Error::Corrupt {
                    what: "knowledge vector",
                    reason: format!("{} dimensions, expected {dims}", v.len()),
                });
            }
            let d = dot(q, &v);
            let score = match best.query.metric {
                Metric::Dot => d,
                Metric::Cosine => {
                    let n = dot(&v, &v).sqrt() * q_norm;
                    if n > 0.0 { d / n } else { 0.0 }
                }
            };
            let id = KnowledgeId::from_u128(layout::trailing_id(key)?);
            best.offer(Candidate { score, id }, |id| {
                self.get_record(&self.scope.tenant.knowledge(id))
            })?;
            Ok::<_, Error>(ControlFlow::Continue(()))
        })?;
        Ok(())
    }
}
