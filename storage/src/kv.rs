//! The contract every backend keeps: ordered keys, consistent snapshots, range scans.
//!
//! Keys are raw bytes compared with memcmp, so callers get ordered range scans over
//! prefixes they design with [`crate::keys`]. [`KvRead`] is what read and write
//! transactions share, on every backend.

use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use crate::StorageError;
use crate::keys::prefix_successor;

/// Which way a scan walks its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending key order.
    Forward,
    /// Descending key order.
    Reverse,
}

/// Whether a scan goes on after a visited entry.
pub type Flow = ControlFlow<()>;

/// A range of keys: lower and upper bounds, each inclusive, exclusive or open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// The lower bound.
    pub start: Bound<Vec<u8>>,
    /// The upper bound.
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        Self {
            start: Bound::Included(prefix.to_vec()),
            end: match prefix_successor(prefix) {
                Some(s) => Bound::Excluded(s),
                None => Bound::Unbounded,
            },
        }
    }

    /// Every key.
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Keys from `start` (inclusive) to `end` (exclusive).
    pub fn between(start: Vec<u8>, end: Vec<u8>) -> Self {
        Self {
            start: Bound::Included(start),
            end: Bound::Excluded(end),
        }
    }

    pub(crate) fn as_refs(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (as_ref(&self.start), as_ref(&self.end))
    }

    /// Whether `key` is within the range.
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        std::ops::RangeBounds::<[u8]>::contains(&self.as_refs(), key)
    }

    pub(crate) fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e))
            | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
            (Bound::Included(s), Bound::Included(e)) => s > e,
            _ => false,
        }
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Reads shared by read and write transactions.
///
/// Contract for implementers: reads observe one consistent snapshot (for a write
/// transaction, the snapshot plus its own writes so far); scans visit keys in strict
/// ascending (or, reversed, descending) byte order, each key at most once, and stop at the
/// first `Break` or error without visiting further entries.
pub trait KvRead {
    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Calls `read` with the value stored under `key`, if any, lent by the store where
    /// the backend can (a page of a file) rather than copied out of it as
    /// [`KvRead::get`] does. `read` must not panic.
    fn get_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, StorageError> {
        Ok(self.get(key)?.map(|value| read(&value)))
    }

    /// Whether `key` is present.
    fn contains(&self, key: &[u8]) -> Result<bool, StorageError> {
        Ok(self.get(key)?.is_some())
    }

    /// Visits the entries of `range` in `direction` until `visit` breaks or fails.
    fn scan<E: From<StorageError>>(
        &self,
        range: &KeyRange,
        direction: Direction,
        visit: impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
    ) -> Result<(), E>;

    /// What the layer above keeps of type `T` beside a write transaction's writes (see
    /// [`crate::WriteTx::attached_mut`]); `None` for a read transaction.
    fn attached<T: std::any::Any>(&self) -> Option<&T> {
        None
    }
}

impl<T: KvRead> KvRead for Arc<T> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).get(key)
    }

    fn get_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, StorageError> {
        (**self).get_with(key, read)
    }

    fn scan<E: From<StorageError>>(
        &self,
        range: &KeyRange,
        direction: Direction,
        visit: impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
    ) -> Result<(), E> {
        (**self).scan(range, direction, visit)
    }

    fn attached<A: std::any::Any>(&self) -> Option<&A> {
        (**self).attached()
    }
}
