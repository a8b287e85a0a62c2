//! Knowledge: text chunks with labels, a source and an embedding, and k-nearest-neighbour
//! search over them.
//!
//! A chunk belongs to a group. Its record is stored at `k <id>` and its vector, as
//! little-endian `f32`s, at `v <group> <id>`, so one group's vectors are one contiguous
//! range. The vector comes from the caller or from the engine's [`Embedder`]; its length is
//! the database's dimension (fixed by the first vector stored) and every component is
//! finite. Creating, relabelling and deleting chunks need `knowledge:write` and log
//! `knowledge_created`, `knowledge_updated`, `knowledge_deleted`; reading needs
//! `knowledge:read`; searching needs `knowledge:query`. Text embedded by the engine counts
//! its tokens against `embedding_tokens`.
//!
//! [`View::query_knowledge`] searches the context's group, and optionally the groups below
//! it that the context may read, and keeps the best `k` chunks that pass the label and
//! source filters. A group with a graph (see [`crate::knowledge::index`]) is searched
//! through it, plus an exact scan of the vectors added since it was built; a query that
//! needs a label goes through that label's own graph, or scans the label's chunks exactly
//! when the label is too rare for a graph; a group without a graph, a dot-product query,
//! or a filtered query a graph cannot fill are searched exactly, scoring every vector of
//! the group. Results are always read from the
//! transaction's snapshot, so a deleted chunk is never returned.

pub use one_vocabulary::records::knowledge::{IndexInfo, NewKnowledge};

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::policy::Op;
use crate::base::codec;
use crate::base::id::{GroupId, KnowledgeId, Ref};
use crate::base::layout::{self, Corpus};
use crate::base::resource::Resource;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Tx, View};
use crate::records::event::kinds;
use crate::records::knowledge::Knowledge;
use crate::records::text::TextDoc;
use crate::{Error, Result};
/// The longest chunk text, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The most labels a chunk may have.
pub const MAX_LABELS: usize = 32;
/// The longest vector accepted.
pub const MAX_DIMS: usize = 4096;

pub(crate) fn check_labels(labels: &[String]) -> Result<Vec<String>> {
    if labels.len() > MAX_LABELS {
        return Err(Error::invalid(
            "labels",
            format!("at most {MAX_LABELS} labels, not {}", labels.len()),
        ));
    }
    let mut out = BTreeSet::new();
    for l in labels {
        let ok = !l.is_empty()
            && l.len() <= validate::MAX_TYPE_BYTES
            && l.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && l.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b':' | b'.' | b'-')
            });
        if !ok {
            return Err(Error::invalid(
                "labels",
                format!("{l:?} must match [a-z0-9][a-z0-9_:.-]* and have at most 64 bytes"),
            ));
        }
        out.insert(l.clone());
    }
    Ok(out.into_iter().collect())
}

/// Checks a vector against the database's dimension.
/// The dimension of the vectors stored for one tenant and environment: that of the first
/// one (they all have one dimension), `None` while there is none. Each tenant chooses its
/// own: what one tenant stores never limits what another may.
pub(crate) fn tenant_dims(
    kv: &impl KvRead,
    keys: &crate::base::layout::TenantKeys,
) -> Result<Option<usize>> {
    let mut dims = None;
    kv.scan(
        &KeyRange::prefix(&keys.all_vectors()),
        Direction::Forward,
        |_, v| {
            dims = Some(v.len() / 4);
            Ok::<_, Error>(ControlFlow::Break(()))
        },
    )?;
    Ok(dims)
}

/// Checks a new vector against the tenant's dimension (`stored`), or, for the tenant's
/// first vector, against [`MAX_DIMS`].
pub(crate) fn check_dims(v: &[f32], stored: Option<usize>) -> Result<()> {
    match stored {
        Some(dims) => check_vector(v, dims),
        None if v.is_empty() || v.len() > MAX_DIMS => Err(Error::invalid(
            "embedding",
            format!("must have 1 to {MAX_DIMS} dimensions, not {}", v.len()),
        )),
        None => check_vector(v, v.len()),
    }
}

pub(crate) fn check_vector(v: &[f32], dims: usize) -> Result<()> {
    if v.len() != dims {
        return Err(Error::invalid(
            "embedding",
            format!(
                "has {} dimensions; this tenant's vectors have {dims}",
                v.len()
            ),
        ));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(
            "embedding",
            format!("component {i} is {} (must be finite)", v[i]),
        ));
    }
    Ok(())
}

pub(crate) fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn decode_vector(bytes: &[u8], out: &mut Vec<f32>) -> Result<()> {
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::Corrupt {
            what: "knowledge vector",
            reason: format!("{} bytes is not a whole number of f32s", bytes.len()),
        });
    }
    out.clear();
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
    Ok(())
}

impl<K: KvRead> View<'_, K> {
    /// The dimension of the vectors of the context's tenant (in its environment), once
    /// one is stored.
    pub(crate) fn stored_dims(&self) -> Result<Option<usize>> {
        tenant_dims(self.kv, &self.scope.tenant)
    }

    /// The chunk `id`. Needs `knowledge:read` in its group.
    pub fn get_knowledge(&self, id: KnowledgeId) -> Result<Knowledge> {
        self.get_scoped(
            &self.scope.tenant.knowledge(id),
            id,
            Op::GetKnowledge,
            |k: &Knowledge| k.group,
        )
    }

    /// What `group`'s approximate index covers. Needs `knowledge:read`.
    pub fn knowledge_index(&self, group: GroupId) -> Result<IndexInfo> {
        self.authorize(Op::ListKnowledge, group)?;
        let graph = self.load_graph(group, "")?;
        let max_id = graph.as_ref().map_or(0, |g| g.max_id());
        let mut fresh = 0;
        self.kv.scan(
            &self.vectors_after(group, max_id),
            Direction::Forward,
            |_, _| {
                fresh += 1;
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        Ok(IndexInfo {
            indexed: graph.as_ref().map_or(0, |g| g.len()),
            fresh,
            deleted: if graph.is_some() {
                self.tombstones(group)?.len()
            } else {
                0
            },
        })
    }
}

impl Tx<'_, '_> {
    /// Adds a chunk. Needs `knowledge:write` in its group. Logs `knowledge_created`.
    pub fn create_knowledge(&mut self, new: NewKnowledge) -> Result<Knowledge> {
        if new.text.trim().is_empty() {
            return Err(Error::MissingField { field: "text" });
        }
        if new.text.len() > MAX_TEXT_BYTES {
            return Err(Error::TooLarge {
                field: "text",
                limit: MAX_TEXT_BYTES,
                actual: new.text.len(),
            });
        }
        let labels = check_labels(&new.labels)?;
        let metadata = validate::map_value("metadata", new.metadata)?;
        let group = new.group.unwrap_or(self.scope.ctx.group());
        self.ensure_writable(group, Op::CreateKnowledge)?;
        if let Some(source) = new.source {
            self.check_source(source)?;
        }
        let embedder = self.engine.embedder();
        let vector = match new.embedding {
            Some(v) => v,
            None => {
                let tokens = embedder.tokens(&new.text);
                self.meter(
                    group,
                    Resource::EmbeddingTokens,
                    i64::try_from(tokens).unwrap_or(i64::MAX),
                );
                embedder.embed(&new.text)
            }
        };
        check_dims(&vector, self.view().stored_dims()?)?;
        let now = self.now();
        let k = Knowledge {
            id: KnowledgeId::from_u128(self.engine.next_id()),
            group,
            text: new.text,
            labels,
            source: new.source,
            metadata,
            created_at: now,
            updated_at: now,
        };
        let record_key = self.scope.tenant.knowledge(k.id);
        let record = codec::encode(&k)?;
        let vector_key = self.scope.tenant.vector(group, k.id);
        let vector = encode_vector(&vector);
        self.store_bytes(group, &record_key, &record, 1);
        self.store_bytes(group, &vector_key, &vector, 1);
        self.put(record_key, record)?;
        self.put(vector_key, vector)?;
        for label in &k.labels {
            self.put(
                layout::with_id(&self.scope.tenant.postings(group, label), k.id.to_u128()),
                [],
            )?;
        }
        self.index_knowledge_text(&k, true)?;
        self.log(
            kinds::KNOWLEDGE_CREATED,
            group,
            Some(Ref::from(k.id)),
            Value::map()
                .with("labels", k.labels.clone())
                .with("source", k.source.map(|s| s.to_string())),
        )?;
        Ok(k)
    }

    /// Adds a chunk's text to the text index, or removes it, and marks its group for the
    /// vector graphs' upkeep.
    pub(crate) fn index_knowledge_text(&mut self, k: &Knowledge, add: bool) -> Result<()> {
        self.engine
            .part::<crate::knowledge::maintenance::Upkeep>()
            .mark(self.scope.root, self.scope.ctx.env(), k.group);
        let doc = TextDoc::of([k.text.as_str()]);
        let (group, id) = (k.group, k.id.to_u128());
        if add {
            self.index_text(Corpus::Knowledge, group, id, None, Some(doc))
        } else {
            self.index_text(Corpus::Knowledge, group, id, Some(&doc), None)
        }
    }

    /// A source must be a thing or group of this tenant.
    fn check_source(&self, source: Ref) -> Result<()> {
        let exists = match source {
            Ref::ThingId(t) => self.kv.contains(&self.scope.tenant.thing(t))?,
            Ref::GroupId(g) => self.view().load_group(g).is_ok(),
            _ => false,
        };
        if !exists {
            return Err(Error::invalid(
                "source",
                format!("{source} is not a thing or group of this tenant"),
            ));
        }
        Ok(())
    }

    /// Replaces a chunk's labels. Needs `knowledge:write`. Logs `knowledge_updated`.
    pub fn set_knowledge_labels<S: AsRef<str>>(
        &mut self,
        id: KnowledgeId,
        labels: &[S],
    ) -> Result<Knowledge> {
        let labels: Vec<String> = labels.iter().map(|l| l.as_ref().to_string()).collect();
        let labels = check_labels(&labels)?;
        let mut k = self.view().get_knowledge(id)?;
        self.ensure_writable(k.group, Op::ChangeKnowledge)?;
        let key = self.scope.tenant.knowledge(id);
        self.store_bytes(k.group, &key, &codec::encode(&k)?, -1);
        for label in &k.labels {
            self.delete(&layout::with_id(
                &self.scope.tenant.postings(k.group, label),
                id.to_u128(),
            ))?;
        }
        for label in &labels {
            self.put(
                layout::with_id(&self.scope.tenant.postings(k.group, label), id.to_u128()),
                [],
            )?;
            if !k.labels.contains(label) {
                // Not in that label's graph, and older than it: listed until the next build.
                self.put(
                    layout::with_id(&self.scope.tenant.relabels(k.group, label), id.to_u128()),
                    [],
                )?;
            }
        }
        k.labels = labels;
        k.updated_at = self.now();
        self.engine
            .part::<crate::knowledge::maintenance::Upkeep>()
            .mark(self.scope.root, self.scope.ctx.env(), k.group);
        let bytes = codec::encode(&k)?;
        self.store_bytes(k.group, &key, &bytes, 1);
        self.put(key, bytes)?;
        self.log(
            kinds::KNOWLEDGE_UPDATED,
            k.group,
            Some(Ref::from(id)),
            Value::map().with("labels", k.labels.clone()),
        )?;
        Ok(k)
    }

    /// Deletes a chunk and its vector. Needs `knowledge:write`. Logs `knowledge_deleted`
    /// with its text's length and labels.
    pub fn delete_knowledge(&mut self, id: KnowledgeId) -> Result<Knowledge> {
        let k = self.view().get_knowledge(id)?;
        self.view()
            .authorize_record(Op::ChangeKnowledge, k.group, Ref::from(id))?;
        let record_key = self.scope.tenant.knowledge(id);
        let vector_key = self.scope.tenant.vector(k.group, id);
        self.store_bytes(k.group, &record_key, &codec::encode(&k)?, -1);
        if let Some(v) = self.kv.get(&vector_key)? {
            self.store_bytes(k.group, &vector_key, &v, -1);
        }
        self.delete(&record_key)?;
        self.delete(&vector_key)?;
        for label in &k.labels {
            self.delete(&layout::with_id(
                &self.scope.tenant.postings(k.group, label),
                id.to_u128(),
            ))?;
        }
        self.index_knowledge_text(&k, false)?;
        // The group's graph may hold it: hide it there until the next build.
        self.put(
            layout::with_id(&self.scope.tenant.tombstones(k.group), id.to_u128()),
            [],
        )?;
        self.log(
            kinds::KNOWLEDGE_DELETED,
            k.group,
            Some(Ref::from(id)),
            Value::map()
                .with("labels", k.labels.clone())
                .with("text_bytes", k.text.len() as i64),
        )?;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked_sorted_and_unique() {
        let l = |v: &[&str]| check_labels(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(l(&["b", "a", "b"]).unwrap(), ["a", "b"]);
        assert!(l(&["Bad"]).is_err() && l(&[""]).is_err() && l(&["a b"]).is_err());
        assert!(l(&["topic:billing", "v1.2", "x-y_z"]).is_ok());
    }

    #[test]
    fn vectors_are_checked() {
        assert!(check_vector(&[1.0, 2.0], 2).is_ok());
        let e = check_vector(&[1.0], 2).unwrap_err();
        assert!(e.to_string().contains("embedding"));
        assert!(check_vector(&[1.0, f32::NAN], 2).is_err());
        assert!(check_vector(&[f32::INFINITY, 0.0], 2).is_err());
        let mut out = Vec::new();
        decode_vector(&encode_vector(&[1.5, -2.0]), &mut out).unwrap();
        assert_eq!(out, [1.5, -2.0]);
        assert!(decode_vector(&[0, 0, 0], &mut out).is_err());
    }
}
