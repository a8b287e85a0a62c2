//! Cursor pagination over key ranges, shared by every list query; the pages and cursors
//! themselves are the vocabulary's.
//!
//! A cursor is the key of the last item returned, written relative to the query's own
//! key prefix, so a cursor can never move a scan outside the range its query may read:
//! a cursor from another query or another tenant yields a wrong page at worst, never
//! another tenant's data.

use std::ops::{Bound, ControlFlow};

use one_storage::{Direction, KeyRange, KvRead};

use crate::{Error, Result};

pub use one_vocabulary::page::{Cursor, DEFAULT_PAGE, MAX_PAGE, Page, page_size};

/// Scans `range` (all of whose keys start with `prefix`) in `direction`, resuming after
/// `cursor`, and keeps up to `limit` items that `map` turns into `Some`.
pub(crate) fn scan_page<K: KvRead, T>(
    kv: &K,
    prefix: &[u8],
    mut range: KeyRange,
    direction: Direction,
    cursor: Option<&Cursor>,
    limit: usize,
    mut map: impl FnMut(&[u8], &[u8]) -> Result<Option<T>>,
) -> Result<Page<T>> {
    if let Some(c) = cursor {
        let mut after = prefix.to_vec();
        after.extend_from_slice(&c.key_suffix()?);
        match direction {
            Direction::Forward => range.start = Bound::Excluded(after),
            Direction::Reverse => range.end = Bound::Excluded(after),
        }
    }
    let mut items = Vec::new();
    let mut last_key: Option<Vec<u8>> = None;
    let mut more = false;
    kv.scan(&range, direction, |k, v| {
        if let Some(item) = map(k, v)? {
            if items.len() == limit {
                more = true;
                return Ok(ControlFlow::Break(()));
            }
            items.push(item);
            last_key = Some(k.to_vec());
        }
        Ok::<_, Error>(ControlFlow::Continue(()))
    })?;
    let next = match (more, last_key) {
        (true, Some(k)) => Some(Cursor::from_key_suffix(
            k.get(prefix.len()..).unwrap_or_default(),
        )),
        _ => None,
    };
    Ok(Page { items, next })
}
