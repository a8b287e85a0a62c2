//! A cache of answers valid for one version of the data they were derived from.
//!
//! Features cache what they derive from stored records (permissions, credentials) and
//! must never serve an answer older than the data: each answer is stored with the version
//! read before the snapshot it was computed from, and only if no change has moved the
//! version on since. A transaction that changes the data moves the version on and empties
//! the cache when it ends. Caches derived from the same data share one version
//! ([`Versioned::alongside`]): an answer read at that version is valid for all of them.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// How the engine's in-memory maps keyed by ids hash them (the caches here, and the
/// kernel's tenant roots and tenant members): foldhash, seeded at random per map, a
/// fraction of std's SipHash on a 16-byte id (measured: checks of principals already met
/// went from 0.96–1.06 µs to 0.70–0.79 µs, BENCHMARKS.md). Not a defence against an
/// attacker who can time the maps and choose every key; these maps hold only records that
/// exist (groups, verified principals) or names a writer was allowed to use, and each is
/// bounded and starts over when full.
pub(crate) type IdHasher = foldhash::fast::RandomState;

/// How many answers a cache holds before it starts over, unless told otherwise.
const LIMIT: usize = 100_000;

/// Answers by key, valid for the current version.
#[derive(Debug)]
pub(crate) struct Versioned<K, V> {
    /// Read without a lock; moved on only with `answers` locked for writing, so an insert
    /// (which checks it under the same lock) never stores a stale answer. Shared with the
    /// caches made [`Versioned::alongside`] this one: an invalidation of any of them
    /// refuses every insert computed before it, and each forgets its own answers when it
    /// is invalidated in turn.
    version: Arc<AtomicU64>,
    answers: RwLock<HashMap<K, V, IdHasher>>,
    /// How many answers it holds before it starts over.
    limit: usize,
}

impl<K, V> Default for Versioned<K, V> {
    fn default() -> Self {
        Self::with_limit(LIMIT)
    }
}

impl<K, V> Versioned<K, V> {
    /// An empty cache that holds at most `limit` answers before it starts over.
    pub(crate) fn with_limit(limit: usize) -> Self {
        Self {
            version: Arc::default(),
            answers: RwLock::default(),
            limit,
        }
    }

    /// An empty cache of other answers derived from the same data, holding at most
    /// `limit`: it shares this cache's version, so the version read for one is valid for
    /// both. Both must be invalidated by every change of that data.
    pub(crate) fn alongside<K2, V2>(&self, limit: usize) -> Versioned<K2, V2> {
        Versioned {
            version: Arc::clone(&self.version),
            answers: RwLock::default(),
            limit,
        }
    }
}

impl<K: Eq + Hash, V: Clone> Versioned<K, V> {
    /// The current version; read it before taking the snapshot an answer is computed
    /// from, and give it back to [`Versioned::insert`].
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Moves the version on and forgets every answer.
    pub(crate) fn invalidate(&self) {
        let mut answers = self.answers.write().unwrap_or_else(|p| p.into_inner());
        self.version.fetch_add(1, Ordering::AcqRel);
        answers.clear();
    }

    /// Calls `f` with every answer held.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&V)) {
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        answers.values().for_each(&mut f);
    }

    /// The answer for `key`, if one is cached.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        answers.get(key).cloned()
    }

    /// Caches `answer`, computed from a snapshot taken at `version`, unless the data
    /// changed since.
    pub(crate) fn insert(&self, key: K, answer: V, version: u64) {
        let mut answers = self.answers.write().unwrap_or_else(|p| p.into_inner());
        if self.version.load(Ordering::Acquire) != version {
            return;
        }
        if answers.len() >= self.limit {
            answers.clear();
        }
        // Room for every answer it may hold, the first time: growing a large map
        // rehashes it into fresh memory, a page fault per page each time (measured: a
        // quarter of a permission check while the cache filled).
        if answers.capacity() == 0 {
            answers.reserve(self.limit);
        }
        answers.insert(key, answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_from_an_older_version_is_never_cached() {
        let cache = Versioned::<u8, &str>::default();
        let before = cache.version();
        cache.invalidate();
        cache.insert(1, "stale", before);
        assert_eq!(cache.get(&1), None);
        cache.insert(1, "fresh", cache.version());
        assert_eq!(cache.get(&1), Some("fresh"));
        cache.invalidate();
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn caches_alongside_share_one_version() {
        let first = Versioned::<u8, &str>::default();
        let second = first.alongside::<u16, u8>(10);
        let before = first.version();
        first.invalidate();
        second.insert(1, 1, before);
        assert_eq!(
            second.get(&1),
            None,
            "an answer from before first's invalidation"
        );
        assert_eq!(second.version(), first.version());
        second.insert(1, 2, first.version());
        assert_eq!(second.get(&1), Some(2));
        second.invalidate();
        assert_eq!(second.get(&1), None);
        first.insert(1, "stale", before);
        assert_eq!(first.get(&1), None);
    }
}
