//! A cache of answers valid for one version of the data they were derived from.
//!
//! Features cache what they derive from stored records (permissions, credentials) and
//! must never serve an answer older than the data: each answer is stored with the version
//! read before the snapshot it was computed from, and only if no change has moved the
//! version on since. A transaction that changes the data moves the version on and empties
//! the cache when it ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many answers a cache holds before it starts over, unless told otherwise.
const LIMIT: usize = 100_000;

/// Answers by key, valid for the current version.
#[derive(Debug)]
pub(crate) struct Versioned<K, V> {
    /// Read without a lock; changed only with `answers` locked for writing, so an insert
    /// (which checks it under the same lock) never stores a stale answer.
    version: AtomicU64,
    answers: RwLock<HashMap<K, V>>,
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
            version: AtomicU64::new(0),
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
}
