//! The commits readers see before their batch reaches redb.
//!
//! With a commit log, a batch's commits share one redb write transaction, committed when
//! the batch is sealed (`batch.rs`), while each commit is published — visible to readers
//! — as soon as the log has made it durable. Until its batch is sealed, a published
//! commit's writes are read from here: each kept with its commit number, so a reader's
//! snapshot (the last sealed redb snapshot, and what is here up to the snapshot's commit
//! number) sees exactly the commits published before it, and none after. A seal starts a
//! new, empty `Recent`; snapshots taken before it keep the old one alive.
//!
//! Sealing seldom is the point: every redb write transaction copies and checksums each
//! page it dirties, and writers in different groups dirty different pages, so the fewer
//! the transactions, the fewer the copies.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use crate::StorageError;
use crate::kv::KeyRange;
use crate::log::Payload;

/// The writes of commits published, or about to be, whose batch is not sealed yet.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    /// Commits added since the last read, in commit order: a writer only hands over its
    /// log record, and the first read after it indexes them (a burst of writes nobody
    /// reads meanwhile costs no index).
    unindexed: Mutex<Vec<(u64, Arc<Payload>)>>,
    /// Whether `unindexed` may hold a commit: reads skip its lock when not. A commit is
    /// added before it can be published, so a snapshot that sees it finds this set.
    any_unindexed: AtomicBool,
    /// Each key's versions, oldest first, with the commit number that wrote each
    /// (`None`: deleted).
    entries: RwLock<Index>,
}

/// Each key's versions.
type Index = BTreeMap<Vec<u8>, Vec<Version>>;

type Version = (u64, Option<Vec<u8>>);

/// A key and what a snapshot sees of it: `None` if it is deleted.
pub(crate) type Seen = (Vec<u8>, Option<Vec<u8>>);

impl Recent {
    fn unindexed(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<Payload>)>> {
        self.unindexed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index, with every commit added so far in it.
    fn entries(&self) -> Result<RwLockReadGuard<'_, Index>, StorageError> {
        if self.any_unindexed.load(Ordering::Acquire) {
            let mut unindexed = self.unindexed();
            let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
            for (seq, payload) in unindexed.drain(..) {
                for (key, value) in payload.writes()? {
                    entries.entry(key).or_default().push((seq, value));
                }
            }
            self.any_unindexed.store(false, Ordering::Release);
        }
        Ok(self.entries.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds the writes of commit `seq` (its log record), a number greater than any added
    /// before.
    pub(crate) fn add(&self, seq: u64, payload: Arc<Payload>) {
        let mut unindexed = self.unindexed();
        unindexed.push((seq, payload));
        self.any_unindexed.store(true, Ordering::Release);
    }

    /// Whether no commit's writes are here.
    pub(crate) fn is_empty(&self) -> bool {
        self.unindexed().is_empty()
            && self
                .entries
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }

    /// What a snapshot of commit `upto` sees of `key` here: `None` if no commit up to
    /// `upto` wrote it (the sealed snapshot has it), `Some(None)` if one deleted it.
    pub(crate) fn get(
        &self,
        key: &[u8],
        upto: u64,
    ) -> Result<Option<Option<Vec<u8>>>, StorageError> {
        let entries = self.entries()?;
        Ok(entries
            .get(key)
            .and_then(|versions| visible(versions, upto))
            .cloned())
    }

    /// What a snapshot of commit `upto` sees here of the keys in `range`, in ascending
    /// order: copied, so a scan's visitor never runs while the writers' lock is held.
    pub(crate) fn range(&self, range: &KeyRange, upto: u64) -> Result<Vec<Seen>, StorageError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .entries()?
            .range::<[u8], _>(range.as_refs())
            .filter_map(|(key, versions)| Some((key.clone(), visible(versions, upto)?.clone())))
            .collect())
    }
}

/// The newest of `versions` written by a commit up to `upto`.
fn visible(versions: &[Version], upto: u64) -> Option<&Option<Vec<u8>>> {
    versions
        .iter()
        .rev()
        .find(|(seq, _)| *seq <= upto)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Seen {
        (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))
    }

    fn record(writes: &[Seen]) -> Arc<Payload> {
        let mut payload = Payload::default();
        for (k, v) in writes {
            payload.push(k, v.as_deref());
        }
        Arc::new(payload)
    }

    #[test]
    fn a_snapshot_sees_the_commits_up_to_its_number_and_no_later() {
        let recent = Recent::default();
        assert!(recent.is_empty());
        recent.add(5, record(&[put("a", "1"), put("b", "1")]));
        assert!(!recent.is_empty());
        assert_eq!(recent.get(b"a", 4).unwrap(), None);
        assert_eq!(recent.get(b"a", 5).unwrap(), Some(Some(b"1".to_vec())));
        // Added after a read: indexed by the next one.
        recent.add(6, record(&[put("a", "2"), (b"b".to_vec(), None)]));
        assert_eq!(recent.get(b"a", 6).unwrap(), Some(Some(b"2".to_vec())));
        assert_eq!(recent.get(b"b", 6).unwrap(), Some(None));
        assert_eq!(recent.get(b"b", 5).unwrap(), Some(Some(b"1".to_vec())));
        assert_eq!(recent.get(b"c", 6).unwrap(), None);
        let seen = recent.range(&KeyRange::all(), 5).unwrap();
        assert_eq!(seen, vec![put("a", "1"), put("b", "1")]);
        let seen = recent.range(&KeyRange::prefix(b"b"), 6).unwrap();
        assert_eq!(seen, vec![(b"b".to_vec(), None)]);
        assert!(recent.range(&KeyRange::all(), 4).unwrap().is_empty());
    }
}
