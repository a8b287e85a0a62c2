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

/// The direction of a list: backward when `descending`.
pub(crate) fn order(descending: bool) -> Direction {
    if descending {
        Direction::Reverse
    } else {
        Direction::Forward
    }
}

/// One ordered source of a merged list: a key range, all of whose keys start with
/// `prefix`; what follows the prefix is the entry's place in the merged order.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) prefix: Vec<u8>,
    pub(crate) range: KeyRange,
}

/// The entries one source has read ahead, and where it resumes.
struct Ahead {
    source: Source,
    entries: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    /// How many entries the next read takes (doubling, so a source that gives much is read
    /// in few scans, and one that gives little costs one short scan).
    chunk: usize,
    done: bool,
}

impl Ahead {
    fn fill<K: KvRead>(&mut self, kv: &K, direction: Direction) -> Result<()> {
        if self.done || !self.entries.is_empty() {
            return Ok(());
        }
        let want = self.chunk;
        self.chunk = (self.chunk * 2).min(MAX_PAGE + 1);
        kv.scan(&self.source.range, direction, |k, v| {
            self.entries.push_back((k.to_vec(), v.to_vec()));
            Ok::<_, Error>(if self.entries.len() >= want {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        match self.entries.back() {
            Some((last, _)) if self.entries.len() >= want => {
                let after = Bound::Excluded(last.clone());
                match direction {
                    Direction::Forward => self.source.range.start = after,
                    Direction::Reverse => self.source.range.end = after,
                }
            }
            _ => self.done = true,
        }
        Ok(())
    }

    /// The place in the merged order of the next entry.
    fn head(&self) -> Option<&[u8]> {
        self.entries
            .front()
            .map(|(k, _)| k.get(self.source.prefix.len()..).unwrap_or_default())
    }
}

/// A page of several ordered sources merged into one order (that of their keys below
/// their prefixes), resuming after `cursor`, keeping up to `limit` items that `map`
/// turns into `Some`. The cursor is the place of the last item returned, so it resumes
/// every source at once. Reads each source lazily: a page over many sources reads about
/// one entry of each, plus what the page holds.
pub(crate) fn merged_page<K: KvRead, T>(
    kv: &K,
    sources: Vec<Source>,
    direction: Direction,
    cursor: Option<&Cursor>,
    limit: usize,
    mut map: impl FnMut(&[u8], &[u8]) -> Result<Option<T>>,
) -> Result<Page<T>> {
    if let [single] = sources.as_slice() {
        return scan_page(
            kv,
            &single.prefix,
            single.range.clone(),
            direction,
            cursor,
            limit,
            map,
        );
    }
    let after = cursor.map(Cursor::key_suffix).transpose()?;
    let chunk = (limit / sources.len().max(1)).clamp(1, limit + 1);
    let mut ahead: Vec<Ahead> = sources
        .into_iter()
        .map(|mut source| {
            if let Some(after) = &after {
                let mut key = source.prefix.clone();
                key.extend_from_slice(after);
                match direction {
                    Direction::Forward => source.range.start = Bound::Excluded(key),
                    Direction::Reverse => source.range.end = Bound::Excluded(key),
                }
            }
            Ahead {
                source,
                entries: std::collections::VecDeque::new(),
                chunk,
                done: false,
            }
        })
        .collect();
    // The sources by their next entry's place: smallest on top going forward, largest
    // going backward.
    let mut heap = std::collections::BinaryHeap::new();
    let place_of = |place: &[u8]| match direction {
        Direction::Forward => Place::Up(std::cmp::Reverse(place.to_vec())),
        Direction::Reverse => Place::Down(place.to_vec()),
    };
    for (i, a) in ahead.iter_mut().enumerate() {
        a.fill(kv, direction)?;
        if let Some(h) = a.head() {
            heap.push((place_of(h), std::cmp::Reverse(i)));
        }
    }
    let mut items = Vec::new();
    let mut last_place: Option<Vec<u8>> = None;
    while let Some((_, std::cmp::Reverse(i))) = heap.pop() {
        let (key, value) = ahead[i].entries.pop_front().unwrap_or_default();
        let place = key
            .get(ahead[i].source.prefix.len()..)
            .unwrap_or_default()
            .to_vec();
        ahead[i].fill(kv, direction)?;
        if let Some(h) = ahead[i].head() {
            heap.push((place_of(h), std::cmp::Reverse(i)));
        }
        if let Some(item) = map(&key, &value)? {
            if items.len() == limit {
                return Ok(Page {
                    items,
                    next: last_place.map(|p| Cursor::from_key_suffix(&p)),
                });
            }
            items.push(item);
            last_place = Some(place);
        }
    }
    Ok(Page { items, next: None })
}

/// A source's next place, ordered so the heap's top is the next to take.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    /// Going forward: the smallest first.
    Up(std::cmp::Reverse<Vec<u8>>),
    /// Going backward: the largest first.
    Down(Vec<u8>),
}
