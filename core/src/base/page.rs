//! Cursor pagination over key ranges, shared by every list query.
//!
//! A cursor is the key of the last item returned, written relative to the query's own
//! key prefix, so a cursor can never move a scan outside the range its query may read:
//! a cursor from another query or another tenant yields a wrong page at worst, never
//! another tenant's data.

use std::ops::{Bound, ControlFlow};

use one_storage::{Direction, KeyRange, KvRead};

use crate::{Error, Result};

/// The most items one page may hold.
pub const MAX_PAGE: usize = 1000;
/// The page size when none is given.
pub const DEFAULT_PAGE: usize = 50;

/// Where the next page starts. Opaque; pass it back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// The cursor's text, to hand to a client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor from text a client sent back. It is checked when used.
    pub fn from_text(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    fn encode(suffix: &[u8]) -> Self {
        let mut s = String::with_capacity(1 + 2 * suffix.len());
        s.push('c');
        for b in suffix {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }

    fn decode(&self) -> Result<Vec<u8>> {
        let bad = |reason: &str| Error::InvalidCursor {
            reason: reason.to_string(),
        };
        let hex = self
            .0
            .strip_prefix('c')
            .ok_or_else(|| bad("does not start with `c`"))?;
        if hex.len() % 2 != 0 {
            return Err(bad("odd number of hex digits"));
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad("not hexadecimal"))
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of results and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in the query's order.
    pub items: Vec<T>,
    /// The cursor for the next page, if there are more items.
    pub next: Option<Cursor>,
}

/// Checks a requested page size: `None` means [`DEFAULT_PAGE`].
pub(crate) fn page_size(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(Error::invalid(
            "limit",
            format!("{n} is outside 1..={MAX_PAGE}"),
        )),
    }
}

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
        after.extend_from_slice(&c.decode()?);
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
        (true, Some(k)) => Some(Cursor::encode(k.get(prefix.len()..).unwrap_or_default())),
        _ => None,
    };
    Ok(Page { items, next })
}
