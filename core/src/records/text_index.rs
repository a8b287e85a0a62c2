//! How the text index is stored: each write transaction's postings in a segment of its
//! own, segments merged in tiers, and a word's documents read back from them.
//!
//! **Layout.** Each corpus of each group has a directory, `W <group> <corpus>`, listing
//! its segments oldest first. A segment, `W <group> <corpus> <segment>`, holds for each
//! word the documents holding it, in id order, each with the word's count in it and its
//! length ([`Shape`]: every entry of a value the same size, ids without the leading
//! bytes they all share, counts as narrow as the largest needs — 13 to 15 bytes a
//! document in the benchmarks, after a 10-byte header); its words are packed in blocks
//! of about 4 KiB, one key each (the segment and the block's first word), found by a
//! backward seek. While a transaction
//! runs, the documents it indexes are kept beside it in memory ([`TextWrites`], attached
//! to the write transaction, so its own searches see them); when its closure succeeds
//! they become one new segment. A transaction's postings are thus one contiguous run of
//! keys, where one key per posting in the range of each word made
//! a bulk load touch a page of the tree per distinct word (BENCHMARKS.md, "What the text
//! index costs a write"); and a word's documents are read as a few values, not one key
//! each.
//!
//! **Changes are entries.** A document that changes or goes leaves entries in the newer
//! segment: a live one with its new count, or a dead one (a tombstone). Each entry says
//! whether it is live and whether it *shadows* a live entry of the same word and
//! document in an older segment; for a word and document, the newest entry decides. So
//! the number of documents holding a word, BM25's document frequency, is the number of
//! live entries that shadow nothing less the dead entries that shadow one, summed over
//! segments: each value's header holds its two counts, and no document list is decoded
//! to know it.
//!
//! **Merging.** When [`FANOUT`] adjacent segments are of one tier (⌊log₈ entries⌋), they
//! are merged into one: a group keeps about `FANOUT − 1` segments of each tier, and an
//! entry is rewritten about once per tier. A merge of adjacent segments keeps, for each
//! word and document, the newest entry's liveness and the oldest entry's shadowing, and
//! drops an entry that is dead and shadows nothing: a deletion is forgotten once a merge
//! reaches the oldest segment. With no upkeep thread, writers do every merge in their own
//! transaction. While one runs, a writer does the merges of up to
//! [`INLINE_MERGE_ENTRIES`] entries; larger ones are left to the upkeep thread (`knowledge/maintenance.rs`), which reads the segments from a snapshot
//! ([`MergePlan`]), merges them with no lock, and stores the result unless a writer
//! merged them meanwhile ([`BuiltMerge::store`]: sealed segments never change, so finding
//! them still side by side in the directory is the whole check). A tier that reaches
//! twice `FANOUT` segments (the thread lags) is merged by the writer whatever its size, so
//! a search never reads an unbounded number of segments.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead, WriteTx};

use crate::base::id::GroupId;
use crate::base::layout::{self, Corpus, TenantKeys, TextKey};
use crate::records::text::TextDoc;
use crate::{Error, Result};

/// How many segments of one tier are merged into one.
pub(crate) const FANOUT: usize = 8;

/// Bytes of a word's value before its shared id bytes and entries: the two counts of
/// its header and its [`Shape`].
const HEADER_BYTES: usize = 10;
fn corrupt(reason: impl Into<String>) -> Error {
    Error::Corrupt {
        what: "text index",
        reason: reason.into(),
    }
}

/// One word's entry for one document in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Occurrences of the word in the document (0 in a dead entry).
    pub(crate) tf: u32,
    /// The document's length in words (0 in a dead entry).
    pub(crate) len: u32,
    /// Whether the document holds the word as of this segment.
    pub(crate) live: bool,
    /// Whether an older segment holds a live entry of the same word and document.
    pub(crate) shadows: bool,
}

impl Entry {
    const DEAD: Entry = Entry {
        tf: 0,
        len: 0,
        live: false,
        shadows: true,
    };

    fn flags(self) -> u8 {
        u8::from(self.live) | (u8::from(self.shadows) << 1)
    }

    fn from_parts(tf: u32, len: u32, flags: u8) -> Result<Self> {
        if flags > 3 {
            return Err(corrupt(format!("entry flags {flags:#x}")));
        }
        Ok(Self {
            tf,
            len,
            live: flags & 1 == 1,
            shadows: flags & 2 == 2,
        })
    }

    /// What this entry adds to the word's document count.
    fn df_change(self) -> i64 {
        match (self.live, self.shadows) {
            (true, false) => 1,
            (false, true) => -1,
            _ => 0,
        }
    }

    /// The entry's count and flags in one number.
    fn packed(self) -> u64 {
        u64::from(self.tf) << 2 | u64::from(self.flags())
    }

    fn unpack(packed: u64, len: u32) -> Result<Self> {
        let tf = u32::try_from(packed >> 2)
            .map_err(|_| corrupt(format!("a count of {}", packed >> 2)))?;
        Self::from_parts(tf, len, (packed & 3) as u8)
    }
}

/// How a word's value lays out its entries. Every entry has the same size, so a seek
/// jumps to the i-th: the id's bytes after the `shared` leading ones all the value's ids
/// have (stored once), then the count and flags in `packed` bytes, then the document's
/// length in `len` bytes (1, 2, 4 or 8 and 1, 2 or 4: as many as the largest needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    shared: usize,
    packed: usize,
    len: usize,
}

impl Shape {
    /// The narrowest shape that holds `entries` (in id order).
    fn of(entries: &[(u128, Entry)]) -> Self {
        let shared = match (entries.first(), entries.last()) {
            (Some((first, _)), Some((last, _))) => ((first ^ last).leading_zeros() / 8) as usize,
            _ => 16,
        };
        let packed = entries.iter().map(|(_, e)| e.packed()).max().unwrap_or(0);
        let len = entries.iter().map(|(_, e)| e.len).max().unwrap_or(0);
        Self {
            shared,
            packed: width(packed, &[1, 2, 4, 8]),
            len: width(u64::from(len), &[1, 2, 4]),
        }
    }

    /// The shape a value's header states, checked.
    fn read(shared: u8, widths: u8) -> Result<Self> {
        let shape = Self {
            shared: usize::from(shared),
            packed: usize::from(widths & 0x0f),
            len: usize::from(widths >> 4),
        };
        if shape.shared > 16
            || ![1, 2, 4, 8].contains(&shape.packed)
            || ![1, 2, 4].contains(&shape.len)
        {
            return Err(corrupt(format!(
                "a word's value shaped {shared} shared bytes, widths {widths:#04x}"
            )));
        }
        Ok(shape)
    }

    fn widths(self) -> u8 {
        // Both widths are at most 8: each fits a nibble.
        (self.packed | self.len << 4) as u8
    }

    /// Bytes of one entry.
    fn stride(self) -> usize {
        16 - self.shared + self.packed + self.len
    }
}

/// The first of `widths` (growing) whose bytes hold `n`.
fn width(n: u64, widths: &[usize]) -> usize {
    let needed = (64 - n.leading_zeros() as usize).div_ceil(8).max(1);
    widths.iter().copied().find(|w| *w >= needed).unwrap_or(8)
}

/// `n` in its last `width` bytes, big-endian.
fn push_uint(n: u64, width: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&n.to_be_bytes()[8 - width..]);
}

/// The big-endian number of `b` (at most 16 bytes).
fn read_uint(b: &[u8]) -> u128 {
    let mut full = [0u8; 16];
    full[16 - b.len()..].copy_from_slice(b);
    u128::from_be_bytes(full)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A word's value: its header (counts and [`Shape`]), the ids' shared bytes, and its
/// entries.
fn encode_value(entries: &[(u128, Entry)]) -> Vec<u8> {
    let (mut fresh, mut removed) = (0u32, 0u32);
    for (_, e) in entries {
        match e.df_change() {
            1 => fresh = fresh.saturating_add(1),
            -1 => removed = removed.saturating_add(1),
            _ => {}
        }
    }
    let shape = Shape::of(entries);
    let first = entries.first().map_or(0, |(doc, _)| *doc).to_be_bytes();
    let mut out = Vec::with_capacity(HEADER_BYTES + shape.shared + entries.len() * shape.stride());
    out.extend_from_slice(&fresh.to_be_bytes());
    out.extend_from_slice(&removed.to_be_bytes());
    // At most 16: fits a byte.
    out.push(shape.shared as u8);
    out.push(shape.widths());
    out.extend_from_slice(&first[..shape.shared]);
    for (doc, e) in entries {
        out.extend_from_slice(&doc.to_be_bytes()[shape.shared..]);
        push_uint(e.packed(), shape.packed, &mut out);
        push_uint(u64::from(e.len), shape.len, &mut out);
    }
    out
}

/// Zero bytes before a run's first entry, so that every field ends at least 16 bytes
/// into the buffer and is read as one fixed-size load, masked.
const PAD: usize = 16;

/// One segment's entries for one word, in id order.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// [`PAD`] zero bytes, then entries of `shape.stride()` bytes each.
    bytes: Vec<u8>,
    shape: Shape,
    /// The ids' shared leading bytes, in place (the rest zero).
    prefix: u128,
    /// The bits of an id an entry holds (its last `16 - shared` bytes).
    suffix_mask: u128,
    /// The entry the run is at.
    at: usize,
    /// What the run adds to the word's document count.
    df: i64,
}

impl Run {
    /// The run a word's stored value holds.
    fn from_value(v: &[u8]) -> Result<Self> {
        let bad = || corrupt(format!("a word's value of {} bytes", v.len()));
        if v.len() < HEADER_BYTES {
            return Err(bad());
        }
        let shape = Shape::read(v[8], v[9])?;
        let entries = v.get(HEADER_BYTES + shape.shared..).ok_or_else(bad)?;
        if !entries.len().is_multiple_of(shape.stride()) {
            return Err(bad());
        }
        let prefix = match shape.shared {
            0 => 0,
            n => read_uint(&v[HEADER_BYTES..HEADER_BYTES + n]) << (8 * (16 - n)),
        };
        let df = i64::from(u32_at(v, 0)) - i64::from(u32_at(v, 4));
        let mut bytes = Vec::with_capacity(PAD + entries.len());
        bytes.resize(PAD, 0);
        bytes.extend_from_slice(entries);
        Ok(Self {
            bytes,
            shape,
            prefix,
            suffix_mask: u128::MAX.checked_shr(8 * shape.shared as u32).unwrap_or(0),
            at: 0,
            df,
        })
    }

    /// The run of these entries (in id order).
    fn of(entries: &[(u128, Entry)]) -> Result<Self> {
        Self::from_value(&encode_value(entries))
    }

    fn len(&self) -> usize {
        (self.bytes.len() - PAD) / self.shape.stride()
    }

    /// The 16 bytes of the buffer that end at `end` (after [`PAD`], so there are 16).
    fn window(&self, end: usize) -> u128 {
        let mut w = [0u8; 16];
        w.copy_from_slice(&self.bytes[end - 16..end]);
        u128::from_be_bytes(w)
    }

    fn doc_at(&self, i: usize) -> u128 {
        let end = PAD + i * self.shape.stride() + 16 - self.shape.shared;
        self.prefix | (self.window(end) & self.suffix_mask)
    }

    /// The document the run is at, if any is left.
    fn head(&self) -> Option<u128> {
        (self.at < self.len()).then(|| self.doc_at(self.at))
    }

    /// The entry the run is at (there is one).
    fn entry(&self) -> Result<Entry> {
        let shape = self.shape;
        let packed_end = PAD + self.at * shape.stride() + 16 - shape.shared + shape.packed;
        let low = |n: u128, bytes: usize| n & (u128::MAX >> (128 - 8 * bytes));
        // Widths of at most 8 and 4 bytes: the masks keep what fits.
        let packed = low(self.window(packed_end), shape.packed) as u64;
        let len = low(self.window(packed_end + shape.len), shape.len) as u32;
        Entry::unpack(packed, len)
    }

    /// Moves to the first entry whose document is `doc` or later (galloping: runs are
    /// walked with growing documents).
    fn seek(&mut self, doc: u128) {
        if self.head().is_none_or(|d| d >= doc) {
            return;
        }
        let n = self.len();
        let (mut lo, mut step) = (self.at, 1);
        while lo + step < n && self.doc_at(lo + step) < doc {
            lo += step;
            step *= 2;
        }
        // The answer is in (lo, min(lo + step, n)].
        let (mut a, mut b) = (lo + 1, (lo + step).min(n));
        while a < b {
            let mid = a + (b - a) / 2;
            if self.doc_at(mid) < doc {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        self.at = a;
    }
}

/// Visits every document of `runs` (one word's runs of one group, newest segment first)
/// once, in id order, with its entry as the runs resolve it: the newest entry's count,
/// length and liveness, the oldest entry's shadowing.
fn resolve(runs: &mut [Run], mut visit: impl FnMut(u128, Entry)) -> Result<()> {
    if let [run] = runs {
        while run.head().is_some() {
            visit(run.doc_at(run.at), run.entry()?);
            run.at += 1;
        }
        return Ok(());
    }
    // Each run's document, decoded once per step.
    let mut heads: Vec<Option<u128>> = runs.iter().map(Run::head).collect();
    loop {
        let Some(doc) = heads.iter().flatten().min().copied() else {
            return Ok(());
        };
        let mut newest: Option<Entry> = None;
        let mut oldest_shadows = false;
        for (run, head) in runs.iter_mut().zip(heads.iter_mut()) {
            if *head == Some(doc) {
                let e = run.entry()?;
                newest.get_or_insert(e);
                oldest_shadows = e.shadows;
                run.at += 1;
                *head = run.head();
            }
        }
        if let Some(e) = newest {
            visit(
                doc,
                Entry {
                    shadows: oldest_shadows,
                    ..e
                },
            );
        }
    }
}

/// A segment as its directory lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) id: u64,
    /// Entries it holds (for its tier).
    pub(crate) entries: u64,
}

fn tier(entries: u64) -> u32 {
    entries.max(1).ilog(FANOUT as u64)
}

/// The segments of a directory, oldest first.
pub(crate) fn load_directory(kv: &impl KvRead, key: &[u8]) -> Result<Vec<Segment>> {
    match kv.get(key)? {
        Some(v) => decode_directory(&v),
        None => Ok(Vec::new()),
    }
}

fn decode_directory(v: &[u8]) -> Result<Vec<Segment>> {
    if !v.len().is_multiple_of(16) {
        return Err(corrupt(format!("a segment directory of {} bytes", v.len())));
    }
    Ok(v.chunks_exact(16)
        .map(|c| Segment {
            id: u64::from_be_bytes(c[..8].try_into().unwrap_or_default()),
            entries: u64::from_be_bytes(c[8..].try_into().unwrap_or_default()),
        })
        .collect())
}

fn store_directory(kv: &mut WriteTx<'_>, key: Vec<u8>, dir: &[Segment]) -> Result<()> {
    if dir.is_empty() {
        kv.delete(&key)?;
        return Ok(());
    }
    let mut v = Vec::with_capacity(dir.len() * 16);
    for s in dir {
        v.extend_from_slice(&s.id.to_be_bytes());
        v.extend_from_slice(&s.entries.to_be_bytes());
    }
    kv.put(key, v)?;
    Ok(())
}

/// A segment's words are stored in blocks of about this many bytes: one key per block
/// (the segment's key and the block's first word), so writing or dropping a segment
/// costs a key per block, not per word. A word whose list is larger has a block of its
/// own.
const BLOCK_BYTES: usize = 4096;

/// Writes segment `segment_key`: `words` (escaped, in order) and their values, packed in
/// blocks. Each word in a block is its escaped form and value, each after its length
/// (`u16`, `u32`, big-endian).
fn put_segment(
    kv: &mut WriteTx<'_>,
    segment_key: &[u8],
    words: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
) -> Result<()> {
    let mut block: Vec<u8> = Vec::new();
    let mut first: Option<Vec<u8>> = None;
    let flush = |kv: &mut WriteTx<'_>, first: &mut Option<Vec<u8>>, block: &mut Vec<u8>| match first
        .take()
    {
        Some(w) => {
            let mut key = segment_key.to_vec();
            key.extend_from_slice(&w);
            kv.put(key, std::mem::take(block))
        }
        None => Ok(()),
    };
    for (word, value) in words {
        let (Ok(wl), Ok(vl)) = (u16::try_from(word.len()), u32::try_from(value.len())) else {
            return Err(corrupt("a word or document list too long for a block"));
        };
        if first.is_some() && block.len() + word.len() + value.len() > BLOCK_BYTES {
            flush(kv, &mut first, &mut block)?;
        }
        if first.is_none() {
            first = Some(word.clone());
        }
        block.extend_from_slice(&wl.to_be_bytes());
        block.extend_from_slice(&word);
        block.extend_from_slice(&vl.to_be_bytes());
        block.extend_from_slice(&value);
    }
    flush(kv, &mut first, &mut block)?;
    Ok(())
}

/// The words of a block (escaped) and their values, in order.
fn block_words(block: &[u8]) -> Result<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    let mut at = 0;
    let take = |at: &mut usize, n: usize| -> Result<std::ops::Range<usize>> {
        let end = at
            .checked_add(n)
            .filter(|end| *end <= block.len())
            .ok_or_else(|| corrupt(format!("a block cut short at byte {at}")))?;
        let r = *at..end;
        *at = end;
        Ok(r)
    };
    while at < block.len() {
        let r = take(&mut at, 2)?;
        let wl = usize::from(u16::from_be_bytes([block[r.start], block[r.start + 1]]));
        let word = &block[take(&mut at, wl)?];
        let r = take(&mut at, 4)?;
        let vl = u32_at(block, r.start) as usize;
        let value = &block[take(&mut at, vl)?];
        if out
            .last()
            .is_some_and(|(prev, _): &(&[u8], &[u8])| *prev >= word)
        {
            return Err(corrupt("words out of order in a block"));
        }
        out.push((word, value));
    }
    Ok(out)
}

/// The runs of one segment whose word is `word` (escaped), or with `prefix`, begins with
/// `word` (raw bytes); all of its words with `None`. One per word, in word order, with
/// each word's escaped form.
fn segment_runs(
    kv: &impl KvRead,
    segment_key: &[u8],
    word: Option<(&[u8], bool)>,
) -> Result<Vec<(Vec<u8>, Run)>> {
    let Some(end) = one_storage::keys::prefix_successor(segment_key) else {
        return Ok(Vec::new());
    };
    // The block holding the word is the last one whose first word is not after it.
    let mut start = segment_key.to_vec();
    if let Some((target, prefix)) = word {
        let mut bound = segment_key.to_vec();
        bound.extend_from_slice(target);
        if !prefix {
            bound.push(0);
        }
        kv.scan(
            &KeyRange::between(segment_key.to_vec(), bound),
            Direction::Reverse,
            |k, _| {
                start = k.to_vec();
                Ok::<_, Error>(ControlFlow::Break(()))
            },
        )?;
    }
    let mut out: Vec<(Vec<u8>, Run)> = Vec::new();
    kv.scan(
        &KeyRange::between(start, end),
        Direction::Forward,
        |k, v| {
            let words = block_words(v)?;
            if words.first().map(|(w, _)| *w) != Some(layout::decode_block_word(k, segment_key)?) {
                return Err(corrupt("a block whose key is not its first word"));
            }
            for (w, value) in words {
                let wanted = match word {
                    None => true,
                    Some((target, false)) => w == target,
                    Some((target, true)) => w.starts_with(target),
                };
                if wanted {
                    out.push((w.to_vec(), Run::from_value(value)?));
                } else if word.is_some_and(|(target, _)| w > target) {
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok::<_, Error>(ControlFlow::Continue(()))
        },
    )?;
    Ok(out)
}

/// A live document's match of a term: occurrences, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Occurrence {
    pub(crate) tf: u32,
    pub(crate) len: u32,
}

/// The documents holding one term in the groups searched: each group's runs of it,
/// newest segment first, read as the search walks documents in id order.
#[derive(Debug, Default)]
pub(crate) struct TermDocs {
    groups: Vec<Vec<Run>>,
    /// How many documents hold the term.
    pub(crate) df: u64,
}

impl TermDocs {
    /// The documents of `groups` holding `word`, or with `prefix`, any word it begins
    /// (their occurrences summed per document, as FTS5's `word*`).
    pub(crate) fn read(
        kv: &impl KvRead,
        keys: &TenantKeys,
        corpus: Corpus,
        groups: &[GroupId],
        word: &str,
        prefix: bool,
    ) -> Result<Self> {
        let mut out = TermDocs::default();
        let mut df = 0i64;
        let mut summed: Vec<(u128, Occurrence)> = Vec::new();
        let form = layout::text_word(word);
        let target = if prefix {
            (word.as_bytes(), true)
        } else {
            (form.as_slice(), false)
        };
        for &group in groups {
            let dir = load_directory(kv, &keys.text_segments(group, corpus))?;
            let mut by_word: BTreeMap<Vec<u8>, Vec<Run>> = BTreeMap::new();
            for seg in dir.iter().rev() {
                let segment_key = keys.text_segment(group, corpus, seg.id);
                for (w, run) in segment_runs(kv, &segment_key, Some(target))? {
                    by_word.entry(w).or_default().push(run);
                }
            }
            // The reading transaction's own postings are the newest.
            if let Some(open) = kv
                .attached::<TextWrites>()
                .and_then(|w| w.segment(keys, group, corpus))
            {
                let held: Vec<(&String, &Vec<(u128, Entry)>)> = if prefix {
                    let starting = |(w, _): &(&String, _)| w.starts_with(word);
                    open.words.iter().filter(starting).collect()
                } else {
                    open.words.get_key_value(word).into_iter().collect()
                };
                for (w, entries) in held {
                    by_word
                        .entry(layout::text_word(w))
                        .or_default()
                        .insert(0, Run::of(entries)?);
                }
            }
            if prefix {
                for runs in by_word.values_mut() {
                    resolve(runs, |doc, e| {
                        if e.live {
                            summed.push((
                                doc,
                                Occurrence {
                                    tf: e.tf,
                                    len: e.len,
                                },
                            ));
                        }
                    })?;
                }
            } else if let Some(runs) = by_word.pop_first().map(|(_, r)| r) {
                df += runs.iter().map(|r| r.df).sum::<i64>();
                out.groups.push(runs);
            }
        }
        if prefix {
            summed.sort_unstable_by_key(|(doc, _)| *doc);
            summed.dedup_by(|later, kept| {
                if later.0 == kept.0 {
                    kept.1.tf = kept.1.tf.saturating_add(later.1.tf);
                    true
                } else {
                    false
                }
            });
            df = i64::try_from(summed.len()).unwrap_or(i64::MAX);
            let live = |o: &Occurrence| Entry {
                tf: o.tf,
                len: o.len,
                live: true,
                shadows: false,
            };
            let entries: Vec<(u128, Entry)> = summed.iter().map(|(d, o)| (*d, live(o))).collect();
            out.groups = vec![vec![Run::of(&entries)?]];
        }
        out.df = u64::try_from(df.max(0)).unwrap_or(0);
        Ok(out)
    }

    /// Every document holding the term, in id order.
    pub(crate) fn all(&mut self) -> Result<Vec<(u128, Occurrence)>> {
        let mut out = Vec::new();
        for runs in &mut self.groups {
            resolve(runs, |doc, e| {
                if e.live {
                    out.push((
                        doc,
                        Occurrence {
                            tf: e.tf,
                            len: e.len,
                        },
                    ));
                }
            })?;
        }
        if self.groups.len() > 1 {
            out.sort_unstable_by_key(|(doc, _)| *doc);
        }
        Ok(out)
    }

    /// Whether `doc` holds the term, and how. Calls must come with growing documents.
    pub(crate) fn find(&mut self, doc: u128) -> Result<Option<Occurrence>> {
        for runs in &mut self.groups {
            for run in runs.iter_mut() {
                run.seek(doc);
                if run.head() == Some(doc) {
                    let e = run.entry()?;
                    if e.live {
                        return Ok(Some(Occurrence {
                            tf: e.tf,
                            len: e.len,
                        }));
                    }
                    // Gone from this group; it may have moved to another.
                    break;
                }
            }
        }
        Ok(None)
    }
}

/// The postings a transaction has written to one corpus of one group and not yet
/// folded into the store: its segment, and each word's entries in document order.
#[derive(Debug)]
struct OpenSegment {
    id: u64,
    words: HashMap<String, Vec<(u128, Entry)>>,
}

/// Where `doc` is, or would go, in a word's entries (documents mostly come in growing
/// order: new ids grow).
fn place(entries: &[(u128, Entry)], doc: u128) -> std::result::Result<usize, usize> {
    match entries.last() {
        Some((last, _)) if *last < doc => Err(entries.len()),
        None => Err(0),
        _ => entries.binary_search_by_key(&doc, |(d, _)| *d),
    }
}

/// The text index's writes of one transaction, kept beside it
/// ([`WriteTx::attached_mut`]) so its own searches see them: the segment it opened for
/// each corpus of each group it touched. [`seal`] folds them into the store before the
/// transaction commits.
#[derive(Debug, Default)]
pub(crate) struct TextWrites {
    open: BTreeMap<(TenantKeys, GroupId, Corpus), OpenSegment>,
}

impl TextWrites {
    /// The open segment of one corpus of one group, if the transaction has one.
    fn segment(&self, keys: &TenantKeys, group: GroupId, corpus: Corpus) -> Option<&OpenSegment> {
        self.open.get(&(keys.clone(), group, corpus))
    }
}

/// What a document's change of one word does to the transaction's entry for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing: an older segment's entry is still right.
    Keep,
    /// The entry becomes this one.
    Put(Entry),
    /// The entry goes: no older segment holds the word for the document.
    Drop,
}

/// The step for one word of a document that held it `was` and holds it `now` (each:
/// occurrences and the document's length), given the transaction's own entry for it,
/// if it has one (`earlier`).
fn step(earlier: Option<Entry>, was: Option<(u32, u32)>, now: Option<(u32, u32)>) -> Step {
    if earlier.is_none() && was.is_some() && was == now {
        return Step::Keep;
    }
    let shadows = earlier.map_or(was.is_some(), |e| e.shadows);
    match now {
        Some((tf, len)) => Step::Put(Entry {
            tf,
            len,
            live: true,
            shadows,
        }),
        None if shadows => Step::Put(Entry::DEAD),
        None => Step::Drop,
    }
}

/// Replaces, in the transaction's text writes, the words of document `id` of `group`:
/// `old` (as the index holds it, if it does) by `new` (`None`: the document leaves the
/// index). Returns the change of the group's document and word counts. A document whose
/// words did not change is left alone.
#[allow(
    clippy::too_many_arguments,
    reason = "a document's place, its id and its two versions"
)]
pub(crate) fn write_doc(
    kv: &mut WriteTx<'_>,
    keys: &TenantKeys,
    group: GroupId,
    corpus: Corpus,
    id: u128,
    old: Option<&TextDoc>,
    new: Option<TextDoc>,
) -> Result<(i64, i64)> {
    if old == new.as_ref() {
        return Ok((0, 0));
    }
    let slot = (keys.clone(), group, corpus);
    if !kv
        .attached::<TextWrites>()
        .is_some_and(|w| w.open.contains_key(&slot))
    {
        // The transaction's own segment, listed at once (empty until sealed).
        let dir_key = keys.text_segments(group, corpus);
        let mut dir = load_directory(&*kv, &dir_key)?;
        let seg = dir
            .iter()
            .map(|s| s.id)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        dir.push(Segment {
            id: seg,
            entries: 0,
        });
        store_directory(kv, dir_key, &dir)?;
        kv.attached_mut::<TextWrites>().open.insert(
            slot.clone(),
            OpenSegment {
                id: seg,
                words: HashMap::new(),
            },
        );
    }
    let Some(seg) = kv.attached_mut::<TextWrites>().open.get_mut(&slot) else {
        return Err(corrupt("a segment opened and gone"));
    };
    let old_len = old.map_or(0, |d| d.len);
    // The group's change of documents and words.
    let size = |d: Option<&TextDoc>| d.map_or((0, 0), |d| (1i64, i64::from(d.len)));
    let ((old_docs, old_words), (new_docs, new_words)) = (size(old), size(new.as_ref()));
    let change = (new_docs - old_docs, new_words - old_words);
    let (new_len, new_counts) = new.map_or((0, BTreeMap::new()), |d| (d.len, d.counts));
    // Each word of either version once: the new one's (owned, so a word the segment
    // has not seen is moved in), then those only the old one had.
    let gone: Vec<_> = old
        .into_iter()
        .flat_map(|d| &d.counts)
        .filter(|(word, _)| !new_counts.contains_key(*word))
        .map(|(word, tf)| (word.clone(), Some((*tf, old_len)), None))
        .collect();
    let kept = new_counts.into_iter().map(|(word, tf)| {
        let was = old.and_then(|d| d.counts.get(&word)).map(|&t| (t, old_len));
        (word, was, Some((tf, new_len)))
    });
    for (word, was, now) in kept.chain(gone) {
        match seg.words.get_mut(word.as_str()) {
            Some(entries) => match place(entries, id) {
                Ok(at) => match step(Some(entries[at].1), was, now) {
                    Step::Keep => {}
                    Step::Put(e) => entries[at].1 = e,
                    Step::Drop => {
                        entries.remove(at);
                    }
                },
                Err(at) => {
                    if let Step::Put(e) = step(None, was, now) {
                        entries.insert(at, (id, e));
                    }
                }
            },
            None => {
                if let Step::Put(e) = step(None, was, now) {
                    seg.words.insert(word, vec![(id, e)]);
                }
            }
        }
    }
    Ok(change)
}

/// One corpus of one group of one tenant's environment: what has a segment directory.
pub(crate) type Corpora = (TenantKeys, GroupId, Corpus);

/// Who does the merges of the segments a writer seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merges {
    /// The writer, all of them: no upkeep thread runs.
    Writer,
    /// The writer the small ones ([`INLINE_MERGE_ENTRIES`]), the upkeep thread the rest
    /// (unless a tier is overdue: twice [`FANOUT`] segments).
    Shared,
}

/// Folds the transaction's open segments into blocks of words, lists each with its
/// size, and merges segments where a tier is full, as `merges` says. Returns the
/// corpora left with a merge for the upkeep thread.
pub(crate) fn seal(kv: &mut WriteTx<'_>, merges: Merges) -> Result<Vec<Corpora>> {
    let mut owed = Vec::new();
    let Some(writes) = kv.take_attached::<TextWrites>() else {
        return Ok(owed);
    };
    for ((keys, group, corpus), seg) in writes.open {
        let n: u64 = seg.words.values().map(|e| e.len() as u64).sum();
        let mut held: Vec<(&String, &Vec<(u128, Entry)>)> = seg
            .words
            .iter()
            .filter(|(_, entries)| !entries.is_empty())
            .collect();
        held.sort_unstable_by_key(|(word, _)| *word);
        let words = held
            .into_iter()
            .map(|(word, entries)| (layout::text_word(word), encode_value(entries)));
        put_segment(kv, &keys.text_segment(group, corpus, seg.id), words)?;
        let dir_key = keys.text_segments(group, corpus);
        let mut dir = load_directory(&*kv, &dir_key)?;
        dir.retain_mut(|s| {
            if s.id == seg.id {
                s.entries = n;
            }
            s.id != seg.id || n > 0
        });
        if merge_full_tiers(kv, &keys, group, corpus, &mut dir, merges)? {
            owed.push((keys.clone(), group, corpus));
        }
        store_directory(kv, dir_key, &dir)?;
    }
    Ok(owed)
}

/// The text index's side of the upkeep thread: whether one runs, the corpora whose
/// writers left a merge for it, and how many merges it stored.
#[derive(Debug, Default)]
pub(crate) struct TextUpkeep {
    threads: std::sync::atomic::AtomicUsize,
    owed: std::sync::Mutex<std::collections::BTreeSet<Corpora>>,
    pub(crate) merges: std::sync::atomic::AtomicU64,
}

impl TextUpkeep {
    /// Notes an upkeep thread starting (`true`) or ending.
    pub(crate) fn thread(&self, started: bool) {
        use std::sync::atomic::Ordering::AcqRel;
        if started {
            self.threads.fetch_add(1, AcqRel);
        } else {
            let _ = self
                .threads
                .fetch_update(AcqRel, std::sync::atomic::Ordering::Acquire, |n| {
                    n.checked_sub(1)
                });
        }
    }

    /// Who does the merges writers seal: shared with a thread while one runs.
    pub(crate) fn merges(&self) -> Merges {
        if self.threads.load(std::sync::atomic::Ordering::Acquire) > 0 {
            Merges::Shared
        } else {
            Merges::Writer
        }
    }

    /// Notes corpora that owe a merge (committed or not: the thread reads the store).
    pub(crate) fn mark(&self, owed: Vec<Corpora>) {
        if !owed.is_empty() {
            self.owed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(owed);
        }
    }

    /// Whether a corpus is marked.
    pub(crate) fn is_owed(&self) -> bool {
        !self
            .owed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// The corpora marked since the last call.
    pub(crate) fn take(&self) -> Vec<Corpora> {
        std::mem::take(&mut *self.owed.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect()
    }
}

/// Every corpus of every group of one tenant's environment that has a segment
/// directory (one short read per corpus: the directory keys are skipped to, not
/// scanned through).
pub(crate) fn every_corpus(kv: &impl KvRead, keys: &TenantKeys) -> Result<Vec<Corpora>> {
    let all = keys.all_text();
    let Some(end) = one_storage::keys::prefix_successor(&all) else {
        return Ok(Vec::new());
    };
    let mut from = all.clone();
    let mut out = Vec::new();
    loop {
        let mut first = None;
        kv.scan(
            &KeyRange::between(from, end.clone()),
            Direction::Forward,
            |k, _| {
                first = Some(k.to_vec());
                Ok::<_, Error>(ControlFlow::Break(()))
            },
        )?;
        let Some(k) = first else {
            return Ok(out);
        };
        let (TextKey::Directory(group, corpus) | TextKey::Block(group, corpus, ..)) =
            layout::decode_text_key(&k, &all)?;
        out.push((keys.clone(), group, corpus));
        let Some(next) = one_storage::keys::prefix_successor(&keys.text_segments(group, corpus))
        else {
            return Ok(out);
        };
        from = next;
    }
}

/// While an upkeep thread runs, the largest merge a writer does itself (entries in the
/// segments merged); larger ones are the thread's, unless a tier has grown to twice
/// [`FANOUT`] segments (the thread lags), when the writer merges whatever the size.
pub(crate) const INLINE_MERGE_ENTRIES: u64 = 256;

/// The first run of [`FANOUT`] or more adjacent segments of one tier in `dir` that
/// `take` accepts (given the run's length and entries): its start and length.
fn full_run(dir: &[Segment], take: impl Fn(usize, u64) -> bool) -> Option<(usize, usize)> {
    let mut start = 0;
    while start < dir.len() {
        let t = tier(dir[start].entries);
        let len = dir[start..]
            .iter()
            .take_while(|s| tier(s.entries) == t)
            .count();
        let entries = dir[start..start + len].iter().map(|s| s.entries).sum();
        if len >= FANOUT && take(len, entries) {
            return Some((start, len));
        }
        start += len;
    }
    None
}

/// Merges, in the writing transaction, the full runs of `dir` that are the writer's
/// (`merges`); returns whether a full run is left for the upkeep thread.
fn merge_full_tiers(
    kv: &mut WriteTx<'_>,
    keys: &TenantKeys,
    group: GroupId,
    corpus: Corpus,
    dir: &mut Vec<Segment>,
    merges: Merges,
) -> Result<bool> {
    let inline = |len: usize, entries: u64| {
        merges == Merges::Writer || entries <= INLINE_MERGE_ENTRIES || len >= 2 * FANOUT
    };
    while let Some((start, len)) = full_run(dir, inline) {
        let plan = MergePlan::read(&*kv, keys, group, corpus, &dir[start..start + len])?;
        let merged = plan.build()?.write(kv, dir)?;
        debug_assert!(merged, "a writer's own directory is current");
    }
    Ok(full_run(dir, |_, _| true).is_some())
}

/// A merge of adjacent segments, read from a snapshot: the upkeep thread plans it, builds
/// it with no lock held, and stores it if its segments are still there
/// ([`BuiltMerge::store`]); a writer does the three at once.
#[derive(Debug)]
pub(crate) struct MergePlan {
    keys: TenantKeys,
    group: GroupId,
    corpus: Corpus,
    inputs: Vec<Segment>,
    /// Each word's runs, newest segment first.
    by_word: BTreeMap<Vec<u8>, Vec<Run>>,
}

impl MergePlan {
    /// The merge the upkeep thread owes one corpus of one group, if any: the first full
    /// run of its segments.
    pub(crate) fn due(
        kv: &impl KvRead,
        keys: &TenantKeys,
        group: GroupId,
        corpus: Corpus,
    ) -> Result<Option<Self>> {
        let dir = load_directory(kv, &keys.text_segments(group, corpus))?;
        match full_run(&dir, |_, _| true) {
            Some((start, len)) => Ok(Some(Self::read(
                kv,
                keys,
                group,
                corpus,
                &dir[start..start + len],
            )?)),
            None => Ok(None),
        }
    }

    /// Reads adjacent `segments` (oldest first).
    fn read(
        kv: &impl KvRead,
        keys: &TenantKeys,
        group: GroupId,
        corpus: Corpus,
        segments: &[Segment],
    ) -> Result<Self> {
        let mut by_word: BTreeMap<Vec<u8>, Vec<Run>> = BTreeMap::new();
        for seg in segments.iter().rev() {
            let segment_key = keys.text_segment(group, corpus, seg.id);
            for (w, run) in segment_runs(kv, &segment_key, None)? {
                by_word.entry(w).or_default().push(run);
            }
        }
        Ok(Self {
            keys: keys.clone(),
            group,
            corpus,
            inputs: segments.to_vec(),
            by_word,
        })
    }

    /// Resolves every word's entries into one list each (no store needed).
    pub(crate) fn build(self) -> Result<BuiltMerge> {
        let mut values = Vec::with_capacity(self.by_word.len());
        let mut entries = 0u64;
        let mut kept: Vec<(u128, Entry)> = Vec::new();
        for (w, mut runs) in self.by_word {
            kept.clear();
            resolve(&mut runs, |doc, e| {
                if e.live || e.shadows {
                    kept.push((doc, e));
                }
            })?;
            if !kept.is_empty() {
                entries += kept.len() as u64;
                values.push((w, encode_value(&kept)));
            }
        }
        Ok(BuiltMerge {
            keys: self.keys,
            group: self.group,
            corpus: self.corpus,
            inputs: self.inputs,
            values,
            entries,
        })
    }
}

/// A merged segment ready to replace its inputs.
#[derive(Debug, Clone)]
pub(crate) struct BuiltMerge {
    keys: TenantKeys,
    group: GroupId,
    corpus: Corpus,
    inputs: Vec<Segment>,
    /// Each word (escaped) and its value.
    values: Vec<(Vec<u8>, Vec<u8>)>,
    entries: u64,
}

impl BuiltMerge {
    /// Stores the merge in a transaction of its own making: replaces its inputs if they
    /// are still adjacent in the directory, and returns whether it did (a writer may
    /// have merged them meanwhile: then nothing is written).
    pub(crate) fn store(self, kv: &mut WriteTx<'_>) -> Result<bool> {
        let dir_key = self.keys.text_segments(self.group, self.corpus);
        let mut dir = load_directory(&*kv, &dir_key)?;
        if !self.write(kv, &mut dir)? {
            return Ok(false);
        }
        store_directory(kv, dir_key, &dir)?;
        Ok(true)
    }

    /// Replaces the inputs by the merged segment in `dir` and in the store, if `dir` still
    /// holds them side by side; whether it did.
    fn write(self, kv: &mut WriteTx<'_>, dir: &mut Vec<Segment>) -> Result<bool> {
        let Some(start) = dir
            .windows(self.inputs.len())
            .position(|w| w == self.inputs.as_slice())
        else {
            return Ok(false);
        };
        let (keys, group, corpus) = (&self.keys, self.group, self.corpus);
        for seg in &self.inputs {
            kv.delete_prefix(&keys.text_segment(group, corpus, seg.id))?;
        }
        let id = dir
            .iter()
            .map(|s| s.id)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        put_segment(kv, &keys.text_segment(group, corpus, id), self.values)?;
        let merged = (self.entries > 0).then_some(Segment {
            id,
            entries: self.entries,
        });
        dir.splice(start..start + self.inputs.len(), merged);
        Ok(true)
    }
}

/// One posting as the index resolves it: group, corpus, word, document → occurrence.
pub(crate) type LivePostings = BTreeMap<(GroupId, Corpus, String, u128), Occurrence>;

/// Reads the whole text index of one tenant's environment, checking its structure: each
/// key belongs to a listed segment, each segment's size and each value's header agree
/// with its entries, and the entries of a word and document, oldest first, shadow
/// exactly when an older one is live. Returns the live postings and the problems found.
pub(crate) fn read_all(kv: &impl KvRead, keys: &TenantKeys) -> Result<(LivePostings, Vec<String>)> {
    let mut problems = Vec::new();
    // Directory entries and segment contents, by (group, corpus).
    let mut dirs: BTreeMap<(GroupId, Corpus), Vec<Segment>> = BTreeMap::new();
    // Each segment's words (escaped) and values, by (group, corpus, segment).
    type Stored = Vec<(Vec<u8>, Vec<u8>)>;
    let mut words: BTreeMap<(GroupId, Corpus, u64), Stored> = BTreeMap::new();
    let all = keys.all_text();
    kv.scan(&KeyRange::prefix(&all), Direction::Forward, |k, v| {
        match layout::decode_text_key(k, &all) {
            Ok(TextKey::Directory(group, corpus)) => match decode_directory(v) {
                Ok(dir) => {
                    dirs.insert((group, corpus), dir);
                }
                Err(e) => problems.push(format!("text index directory of {group}: {e}")),
            },
            Ok(TextKey::Block(group, corpus, seg, first)) => match block_words(v) {
                Ok(block) if block.first().map(|(w, _)| *w) == Some(first) => {
                    let held = words.entry((group, corpus, seg)).or_default();
                    for (w, value) in block {
                        if held.last().is_some_and(|(prev, _)| prev.as_slice() >= w) {
                            problems
                                .push(format!("text segment {seg} of {group}: words out of order"));
                        }
                        held.push((w.to_vec(), value.to_vec()));
                    }
                }
                Ok(_) => problems.push(format!(
                    "text segment {seg} of {group}: a block whose key is not its first word"
                )),
                Err(e) => problems.push(format!("text segment {seg} of {group}: {e}")),
            },
            Err(e) => problems.push(format!("text index key unreadable: {e}")),
        }
        Ok::<_, Error>(ControlFlow::Continue(()))
    })?;
    let mut live = LivePostings::new();
    for ((group, corpus), dir) in &dirs {
        // Each word's runs, oldest segment first.
        let mut chains: BTreeMap<Vec<u8>, Vec<Run>> = BTreeMap::new();
        for seg in dir {
            let Some(entries) = words.remove(&(*group, *corpus, seg.id)) else {
                problems.push(format!("text segment {} of {group} has no words", seg.id));
                continue;
            };
            let mut count = 0u64;
            for (w, v) in entries {
                match Run::from_value(&v).and_then(|run| {
                    let mut df = 0i64;
                    let mut last: Option<u128> = None;
                    let mut check = run.clone();
                    while let Some(doc) = check.head() {
                        if last.is_some_and(|l| l >= doc) {
                            return Err(corrupt("documents out of order"));
                        }
                        last = Some(doc);
                        df += check.entry()?.df_change();
                        check.at += 1;
                    }
                    if df != run.df {
                        return Err(corrupt("a header that disagrees with its entries"));
                    }
                    Ok(run)
                }) {
                    Ok(run) => {
                        count += run.len() as u64;
                        chains.entry(w).or_default().push(run);
                    }
                    Err(e) => problems.push(format!("text segment {} of {group}: {e}", seg.id)),
                }
            }
            if count != seg.entries {
                problems.push(format!(
                    "text segment {} of {group} holds {count} entries, its directory says {}",
                    seg.id, seg.entries
                ));
            }
        }
        for (w, runs) in chains {
            let word = match layout::decode_text_word(&w) {
                Ok(word) => word,
                Err(e) => {
                    problems.push(format!("a word of the text index of {group}: {e}"));
                    continue;
                }
            };
            // Walk each document's entries oldest first.
            let mut state: BTreeMap<u128, Option<Entry>> = BTreeMap::new();
            for run in runs {
                let mut run = run;
                while let Some(doc) = run.head() {
                    let e = run.entry()?;
                    let before = state.get(&doc).copied().flatten();
                    if e.shadows != before.is_some() {
                        problems.push(format!(
                            "text entry of {word:?} for document {doc:032x} in {group} shadows \
                             wrongly"
                        ));
                    }
                    state.insert(doc, e.live.then_some(e));
                    run.at += 1;
                }
            }
            for (doc, e) in state {
                if let Some(e) = e {
                    live.insert(
                        (*group, *corpus, word.clone(), doc),
                        Occurrence {
                            tf: e.tf,
                            len: e.len,
                        },
                    );
                }
            }
        }
    }
    for (group, _, seg) in words.keys() {
        problems.push(format!("text segment {seg} of {group} is in no directory"));
    }
    Ok((live, problems))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::context::Env;
    use one_storage::{Store, StoreOptions};

    fn doc(text: &str) -> TextDoc {
        TextDoc::of([text])
    }

    /// Runs `f` in its own transaction and seals what it wrote.
    fn tx(store: &Store, mut f: impl FnMut(&mut WriteTx<'_>)) {
        store
            .write(|kv| {
                f(kv);
                seal(kv, Merges::Writer)?;
                Ok::<_, Error>(())
            })
            .unwrap();
    }

    fn directory(store: &Store, keys: &TenantKeys, g: GroupId) -> Vec<Segment> {
        load_directory(
            &store.read().unwrap(),
            &keys.text_segments(g, Corpus::Things),
        )
        .unwrap()
    }

    fn holding(store: &Store, keys: &TenantKeys, g: GroupId, word: &str) -> (u64, Vec<u128>) {
        let read = store.read().unwrap();
        let mut t = TermDocs::read(&read, keys, Corpus::Things, &[g], word, false).unwrap();
        (t.df, t.all().unwrap().into_iter().map(|(d, _)| d).collect())
    }

    /// The first text of document `i`: "blue mug", every third also "red".
    fn first_text(i: u128) -> &'static str {
        if i.is_multiple_of(3) {
            "blue mug red"
        } else {
            "blue mug"
        }
    }

    #[test]
    fn segments_merge_by_tier_and_read_back_exactly_after_deletions_and_renames() {
        let store = Store::in_memory(&StoreOptions::default()).unwrap();
        let keys = TenantKeys::new(GroupId::from_u128(1), Env::Live);
        let g = GroupId::from_u128(2);
        // 200 transactions of one document each: "blue mug", every third also "red".
        for i in 0..200u128 {
            let text = first_text(i);
            tx(&store, |kv| {
                write_doc(kv, &keys, g, Corpus::Things, i, None, Some(doc(text))).unwrap();
            });
        }
        let dir = directory(&store, &keys, g);
        // With no upkeep thread, the writer merges every full tier.
        for t in 0..8 {
            assert!(dir.iter().filter(|s| tier(s.entries) == t).count() < FANOUT);
        }
        assert!(dir.len() < 12, "{dir:?}");
        assert_eq!(holding(&store, &keys, g, "blue"), (200, (0..200).collect()));
        assert_eq!(holding(&store, &keys, g, "red").0, 67);
        // Merging adds no entry: one per word and document.
        let held: u64 = dir.iter().map(|s| s.entries).sum();
        assert_eq!(held, 467);
        // Delete every even document, one transaction each, and rename the odd ones.
        for i in 0..200u128 {
            let text = first_text(i);
            tx(&store, |kv| {
                let new = (i % 2 == 1).then(|| doc("green mug"));
                write_doc(kv, &keys, g, Corpus::Things, i, Some(&doc(text)), new).unwrap();
            });
        }
        assert_eq!(holding(&store, &keys, g, "blue"), (0, vec![]));
        assert_eq!(holding(&store, &keys, g, "red"), (0, vec![]));
        let odd: Vec<u128> = (0..200).filter(|i| i % 2 == 1).collect();
        assert_eq!(holding(&store, &keys, g, "green"), (100, odd.clone()));
        assert_eq!(holding(&store, &keys, g, "mug"), (100, odd.clone()));
        let (live, problems) = read_all(&store.read().unwrap(), &keys).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(live.len(), 200);
    }

    /// A transaction putting documents `ids`, each "w<id % 50> common".
    fn bulk(
        store: &Store,
        keys: &TenantKeys,
        g: GroupId,
        ids: std::ops::Range<u128>,
    ) -> Vec<Corpora> {
        store
            .write(|kv| {
                for i in ids.clone() {
                    let text = format!("w{} common", i % 50);
                    write_doc(kv, keys, g, Corpus::Things, i, None, Some(doc(&text)))?;
                }
                seal(kv, Merges::Shared)
            })
            .unwrap()
    }

    #[test]
    fn merges_too_large_for_a_writer_are_left_to_the_upkeep_and_stored_once() {
        let store = Store::in_memory(&StoreOptions::default()).unwrap();
        let keys = TenantKeys::new(GroupId::from_u128(1), Env::Live);
        let g = GroupId::from_u128(2);
        // Eight transactions of 600 documents (1,200 entries each, one tier): a merge of
        // 9,600 entries, more than a writer does.
        let mut owed = Vec::new();
        for t in 0..8u128 {
            owed = bulk(&store, &keys, g, t * 600..(t + 1) * 600);
        }
        assert_eq!(owed, [(keys.clone(), g, Corpus::Things)]);
        assert_eq!(directory(&store, &keys, g).len(), 8);
        let before = holding(&store, &keys, g, "common");
        assert_eq!(before.0, 4800);
        // Two plans from the same snapshot: the first stores, the second finds its
        // segments gone and writes nothing.
        let plans: Vec<BuiltMerge> = (0..2)
            .map(|_| {
                let read = store.read().unwrap();
                MergePlan::due(&read, &keys, g, Corpus::Things)
                    .unwrap()
                    .expect("a merge is due")
                    .build()
                    .unwrap()
            })
            .collect();
        let stored: Vec<bool> = plans
            .into_iter()
            .map(|built| store.write(|kv| built.clone().store(kv)).unwrap())
            .collect();
        assert_eq!(stored, [true, false]);
        let dir = directory(&store, &keys, g);
        assert_eq!(dir.len(), 1);
        assert_eq!(dir[0].entries, 9600);
        assert_eq!(holding(&store, &keys, g, "common"), before);
        assert!(
            MergePlan::due(&store.read().unwrap(), &keys, g, Corpus::Things)
                .unwrap()
                .is_none()
        );
        let (live, problems) = read_all(&store.read().unwrap(), &keys).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(live.len(), 9600);
    }

    #[test]
    fn a_writer_merges_a_large_tier_itself_once_the_upkeep_is_overdue() {
        let store = Store::in_memory(&StoreOptions::default()).unwrap();
        let keys = TenantKeys::new(GroupId::from_u128(1), Env::Live);
        let g = GroupId::from_u128(2);
        for t in 0..16u128 {
            bulk(&store, &keys, g, t * 600..(t + 1) * 600);
        }
        // Never more than twice FANOUT segments of one tier, thread or not.
        let dir = directory(&store, &keys, g);
        assert!(dir.len() < 2 * FANOUT, "{dir:?}");
        assert_eq!(holding(&store, &keys, g, "common").0, 9600);
        let (_, problems) = read_all(&store.read().unwrap(), &keys).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let corpora = every_corpus(&store.read().unwrap(), &keys).unwrap();
        assert_eq!(corpora, [(keys.clone(), g, Corpus::Things)]);
    }

    #[test]
    fn words_are_found_in_any_block_of_a_segment_exactly_and_by_prefix() {
        let store = Store::in_memory(&StoreOptions::default()).unwrap();
        let keys = TenantKeys::new(GroupId::from_u128(1), Env::Live);
        let g = GroupId::from_u128(2);
        // 3,000 documents: word `a<i>` in one each, `common` in all (a list far larger
        // than a block), `ab` and `abc` as words of their own next to `ab<i>` prefixes.
        tx(&store, |kv| {
            for i in 0..3000u128 {
                let text = format!("a{i} common ab abc");
                write_doc(kv, &keys, g, Corpus::Things, i, None, Some(doc(&text))).unwrap();
            }
        });
        let seg = directory(&store, &keys, g)[0].id;
        let blocks = {
            let read = store.read().unwrap();
            let mut n = 0;
            read.scan(
                &KeyRange::prefix(&keys.text_segment(g, Corpus::Things, seg)),
                Direction::Forward,
                |_, _| {
                    n += 1;
                    Ok::<_, Error>(ControlFlow::Continue(()))
                },
            )
            .unwrap();
            n
        };
        assert!(blocks > 10, "{blocks} blocks");
        for i in [0u128, 1, 17, 999, 1000, 2999] {
            assert_eq!(holding(&store, &keys, g, &format!("a{i}")), (1, vec![i]));
        }
        assert_eq!(holding(&store, &keys, g, "a3000").0, 0);
        assert_eq!(holding(&store, &keys, g, "common").0, 3000);
        assert_eq!(holding(&store, &keys, g, "ab").0, 3000);
        assert_eq!(holding(&store, &keys, g, "zzz").0, 0);
        let prefixed = |start: &str| {
            let read = store.read().unwrap();
            let mut t = TermDocs::read(&read, &keys, Corpus::Things, &[g], start, true).unwrap();
            t.all().unwrap().len()
        };
        // `a29` begins a29, a290…a299 and a2900…a2999: 111 documents.
        assert_eq!(prefixed("a29"), 111);
        assert_eq!(prefixed("a2999"), 1);
        assert_eq!(prefixed("a"), 3000);
        assert_eq!(prefixed("abc"), 3000);
        assert_eq!(prefixed("b"), 0);
        let (live, problems) = read_all(&store.read().unwrap(), &keys).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(live.len(), 4 * 3000);
    }

    #[test]
    fn a_merge_keeps_the_newest_liveness_and_the_oldest_shadowing() {
        let e = |live, shadows| Entry {
            tf: u32::from(live),
            len: 1,
            live,
            shadows,
        };
        let resolved = |runs: &mut [Run]| {
            let mut out = Vec::new();
            resolve(runs, |doc, e| out.push((doc, e.live, e.shadows))).unwrap();
            out
        };
        // Newest first: doc 1 deleted after being added in the oldest run (dropped by a
        // merge: dead, shadowing nothing); doc 2 re-added over an older live entry;
        // doc 3 only in the newest, as a tombstone of something older still.
        let mut runs = [
            Run::of(&[(1, e(false, true)), (2, e(true, true)), (3, e(false, true))]).unwrap(),
            Run::of(&[(1, e(true, false)), (2, e(true, true))]).unwrap(),
        ];
        assert_eq!(
            resolved(&mut runs),
            [(1, false, false), (2, true, true), (3, false, true)]
        );
    }

    #[test]
    fn a_transaction_sees_its_own_postings_and_leaves_no_per_document_key() {
        let store = Store::in_memory(&StoreOptions::default()).unwrap();
        let keys = TenantKeys::new(GroupId::from_u128(1), Env::Live);
        let g = GroupId::from_u128(2);
        tx(&store, |kv| {
            write_doc(kv, &keys, g, Corpus::Things, 1, None, Some(doc("tea cup"))).unwrap();
            write_doc(kv, &keys, g, Corpus::Things, 2, None, Some(doc("tea"))).unwrap();
            // Created and deleted in the same transaction: as if never written.
            write_doc(kv, &keys, g, Corpus::Things, 2, Some(&doc("tea")), None).unwrap();
            let mut t = TermDocs::read(&*kv, &keys, Corpus::Things, &[g], "tea", false).unwrap();
            assert_eq!(t.df, 1);
            assert_eq!(t.all().unwrap().len(), 1);
        });
        let read = store.read().unwrap();
        let mut keys_seen = Vec::new();
        read.scan(
            &KeyRange::prefix(&keys.all_text()),
            Direction::Forward,
            |k, _| {
                keys_seen.push(k.to_vec());
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )
        .unwrap();
        // The directory and one block holding both words.
        assert_eq!(keys_seen.len(), 2, "{keys_seen:?}");
        let (live, problems) = read_all(&read, &keys).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(live.len(), 2);
    }

    #[test]
    fn a_wrong_shadow_or_header_is_reported() {
        let store = Store::in_memory(&StoreOptions::default()).unwrap();
        let keys = TenantKeys::new(GroupId::from_u128(1), Env::Live);
        let g = GroupId::from_u128(2);
        tx(&store, |kv| {
            write_doc(kv, &keys, g, Corpus::Things, 1, None, Some(doc("tea"))).unwrap();
        });
        let seg = directory(&store, &keys, g)[0].id;
        // One block, one word: its length fields come first.
        let mut key = keys.text_segment(g, Corpus::Things, seg);
        key.extend_from_slice(&layout::text_word("tea"));
        let block = store.read().unwrap().get(&key).unwrap().unwrap();
        let good = block_words(&block).unwrap()[0].1.to_vec();
        let in_block = |value: &[u8]| {
            let mut b = block[..block.len() - good.len() - 4].to_vec();
            b.extend_from_slice(&(value.len() as u32).to_be_bytes());
            b.extend_from_slice(value);
            b
        };
        // The entry claims to shadow an older one that does not exist.
        let mut shadowing = good.clone();
        let flags = good.len() - 2;
        shadowing[flags] |= 2;
        // The header counts a document the entries do not hold.
        let mut header = good.clone();
        header[3] = 2;
        for bad in [
            in_block(&shadowing),
            in_block(&header),
            in_block(&good[..good.len() - 1]),
            block[..block.len() - 1].to_vec(),
        ] {
            store
                .write(|kv| {
                    kv.put(key.clone(), bad.clone())?;
                    Ok::<_, Error>(())
                })
                .unwrap();
            let (_, problems) = read_all(&store.read().unwrap(), &keys).unwrap();
            assert!(!problems.is_empty());
        }
    }

    #[test]
    fn entries_of_every_width_read_back_and_a_bad_shape_is_refused() {
        let e = |tf: u32, len: u32, live: bool, shadows: bool| Entry {
            tf,
            len,
            live,
            shadows,
        };
        let cases: Vec<Vec<(u128, Entry)>> = vec![
            Vec::new(),
            vec![(u128::MAX, e(1, 1, true, false))],
            // Ids sharing their first bytes, narrow counts.
            (0..50u128)
                .map(|i| ((0xabcd_u128 << 112) | (i * 7), e(1, 5, true, i % 2 == 0)))
                .collect(),
            // Nothing shared, counts that need every width.
            vec![
                (1, e(0, 0, false, true)),
                (1 << 127, e(u32::MAX, u32::MAX, true, true)),
            ],
            vec![(5, e(70_000, 300, true, false)), (6, Entry::DEAD)],
        ];
        for entries in cases {
            let run = Run::from_value(&encode_value(&entries)).unwrap();
            let mut read = Vec::new();
            let mut walk = run.clone();
            while let Some(doc) = walk.head() {
                read.push((doc, walk.entry().unwrap()));
                walk.at += 1;
            }
            assert_eq!(read, entries);
            let df: i64 = entries.iter().map(|(_, e)| e.df_change()).sum();
            assert_eq!(run.df, df);
        }
        let good = encode_value(&[(9, e(2, 3, true, false))]);
        for (at, byte) in [(8, 17), (9, 0x13), (9, 0x81), (9, 0x00)] {
            let mut bad = good.clone();
            bad[at] = byte;
            assert!(Run::from_value(&bad).is_err(), "byte {at} = {byte:#x}");
        }
        assert!(Run::from_value(&good[..good.len() - 1]).is_err());
        assert!(Run::from_value(&good[..9]).is_err());
    }

    #[test]
    fn seeking_lands_on_the_first_document_not_before() {
        let entries: Vec<(u128, Entry)> = (0..100u128)
            .map(|i| {
                (
                    i * 3,
                    Entry {
                        tf: 1,
                        len: 1,
                        live: true,
                        shadows: false,
                    },
                )
            })
            .collect();
        let mut run = Run::of(&entries).unwrap();
        for target in [0u128, 1, 3, 4, 50, 151, 297, 298] {
            run.seek(target);
            let want = entries.iter().map(|(d, _)| *d).find(|d| *d >= target);
            assert_eq!(run.head(), want, "seek {target}");
        }
    }
}
