//! The full-text index: words, postings kept in the same transaction as the records, and
//! BM25 ranking.
//!
//! The documents are knowledge chunks (their text) and things of the types that declare
//! text fields (`Admin::create_text_index`: `name`, `properties.<key>`), the fields
//! joined in declaration order. Types are declared, not indexed by default, because each
//! posting is a key written with the record: a type nobody searches pays nothing. A
//! document is cut into words at Unicode word
//! boundaries (UAX #29, `unicode-segmentation`); each word is decomposed (NFKD), stripped
//! of combining marks and lower-cased, so `Crème` and `CREME` are both `creme`. Words
//! longer than [`MAX_WORD_BYTES`] are cut there. Han and kana text comes out one
//! character per word.
//!
//! Each distinct word of a document has one posting: how often the word occurs in it and
//! how many words it has; each group counts its documents and their words per corpus
//! (`n` counters). A write replaces a document's postings in its own transaction, so a
//! search after a commit finds the record, a rolled-back write leaves nothing, and a
//! deleted record leaves the index with its last posting. How postings are stored —
//! segments of per-word document lists, merged in tiers — is `text_index.rs`. The
//! postings of one group are one key range, so a search reads only the groups it
//! searches.
//!
//! Ranking is Okapi BM25 exactly as SQLite FTS5 computes it (k1 = 1.2, b = 0.75,
//! `idf = ln((N − n + 0.5) / (n + 0.5))`, at least 1e-6), over the documents of the
//! groups searched: a group the caller may not read never changes a score. A prefix word
//! counts, in a document, the occurrences of every word it begins, as FTS5's `word*`.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead, WriteTx};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_segmentation::UnicodeSegmentation;

use crate::base::id::GroupId;
use crate::base::layout::{self, Corpus, Counter, TenantKeys};
use crate::base::page::{Cursor, Page};
use crate::base::value::Value;
use crate::kernel::{Admin, Tx, View};
use crate::records::filter::FieldPath;
use crate::records::index::IndexDef;
use crate::records::text_index::{self, TermDocs};
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// Words are cut to at most this many bytes (at a character boundary).
pub const MAX_WORD_BYTES: usize = 64;

/// BM25's term-frequency saturation.
const K1: f64 = 1.2;
/// BM25's length normalisation.
const B: f64 = 0.75;

/// One word in its indexed form: decomposed, without marks, lower case, cut to
/// [`MAX_WORD_BYTES`].
pub(crate) fn normalise(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    if word.is_ascii() {
        out.push_str(word);
        out.make_ascii_lowercase();
    } else {
        for c in word.nfkd().filter(|c| !is_combining_mark(*c)) {
            out.extend(c.to_lowercase());
        }
    }
    if out.len() > MAX_WORD_BYTES {
        let mut end = MAX_WORD_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// The indexed words of `text`, in order.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.unicode_words()
        .map(normalise)
        .filter(|w| !w.is_empty() && !w.contains('\0'))
}

/// A document as the index sees it: how often each word occurs, and how many words it
/// has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TextDoc {
    pub(crate) counts: BTreeMap<String, u32>,
    pub(crate) len: u32,
}

impl TextDoc {
    /// The document made of these texts, one after the other.
    pub(crate) fn of<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut doc = TextDoc::default();
        for text in texts {
            for w in words(text) {
                *doc.counts.entry(w).or_default() += 1;
                doc.len = doc.len.saturating_add(1);
            }
        }
        doc
    }
}

/// The text of a thing the index holds: the fields declared for its type (its name, and
/// properties that hold a string or a list of strings), in declaration order; `None` for
/// a deleted thing or a type with no text field declared, which the index does not hold.
pub(crate) fn thing_doc(defs: &[IndexDef], thing: &Thing) -> Option<TextDoc> {
    if thing.status == ThingStatus::Deleted {
        return None;
    }
    let mut texts: Vec<&str> = Vec::new();
    let mut declared = false;
    for def in defs.iter().filter(|d| d.kind == thing.kind) {
        declared = true;
        let value = match def.path.strip_prefix("properties.") {
            Some(path) => thing.properties.get_path(path),
            None => {
                texts.push(&thing.name);
                continue;
            }
        };
        match value {
            Some(Value::String(s)) => texts.push(s),
            Some(Value::List(items)) => texts.extend(items.iter().filter_map(|v| match v {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })),
            _ => {}
        }
    }
    declared.then(|| TextDoc::of(texts))
}

/// The declared text fields of every type.
pub(crate) fn load_text_defs(kv: &impl KvRead) -> Result<Vec<IndexDef>> {
    let all = layout::text_defs();
    let mut out = Vec::new();
    kv.scan(&KeyRange::prefix(&all), Direction::Forward, |k, _| {
        let (kind, path) = layout::decode_index_def(k, &all)?;
        out.push(IndexDef { kind, path });
        Ok::<_, Error>(ControlFlow::Continue(()))
    })?;
    Ok(out)
}

/// The declared text fields, read on first use in a transaction.
#[derive(Debug, Default)]
pub(crate) struct TextDefCache(Option<std::sync::Arc<[IndexDef]>>);

/// Installs the text index's part of a write: the postings a transaction wrote are
/// sealed into its segments once its closure succeeds, and what merges it leaves are
/// noted for the upkeep thread.
pub(crate) fn install(parts: &mut crate::kernel::Parts, hooks: &mut crate::kernel::Hooks) {
    parts.insert(text_index::TextUpkeep::default());
    hooks.settle.push(|tx| {
        let upkeep = tx.engine.part::<text_index::TextUpkeep>();
        upkeep.mark(text_index::seal(tx.kv, upkeep.merges())?);
        Ok(())
    });
}

impl Tx<'_, '_> {
    /// The declared text fields, read once per transaction.
    fn text_defs(&mut self) -> Result<std::sync::Arc<[IndexDef]>> {
        if let Some(defs) = &self.locals.get::<TextDefCache>().0 {
            return Ok(defs.clone());
        }
        let defs = self
            .engine
            .part::<crate::records::index::DeclaredIndexes>()
            .text(&*self.kv)?;
        self.locals.get::<TextDefCache>().0 = Some(defs.clone());
        Ok(defs)
    }

    /// Replaces the postings of a document of `group` (`None`: it has none) and counts
    /// the change.
    pub(crate) fn index_text(
        &mut self,
        corpus: Corpus,
        group: GroupId,
        id: u128,
        old: Option<&TextDoc>,
        new: Option<TextDoc>,
    ) -> Result<()> {
        let keys = self.scope.tenant.clone();
        let (docs, words) = text_index::write_doc(self.kv, &keys, group, corpus, id, old, new)?;
        let (doc_counter, word_counter) = corpus.counters();
        self.count_unmetered(group, doc_counter, docs);
        self.count_unmetered(group, word_counter, words);
        Ok(())
    }

    /// Moves a thing's postings from its `old` version to `new` (either may be absent).
    pub(crate) fn index_thing_text(&mut self, old: Option<&Thing>, new: &Thing) -> Result<()> {
        let defs = self.text_defs()?;
        let old_doc = old.and_then(|t| thing_doc(&defs, t));
        let new_doc = thing_doc(&defs, new);
        if let Some(old) = old
            && old.group != new.group
        {
            self.index_text(
                Corpus::Things,
                old.group,
                old.id.to_u128(),
                old_doc.as_ref(),
                None,
            )?;
            return self.index_text(Corpus::Things, new.group, new.id.to_u128(), None, new_doc);
        }
        self.index_text(
            Corpus::Things,
            new.group,
            new.id.to_u128(),
            old_doc.as_ref(),
            new_doc,
        )
    }
}

/// Adds `delta` to a stored counter (for writes outside a [`Tx`]).
pub(crate) fn add_to_counter(kv: &mut WriteTx<'_>, key: Vec<u8>, delta: i64) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    let old = match kv.get(&key)? {
        Some(b) => layout::decode_u64(&b, "counter")?,
        None => 0,
    };
    let new = u64::try_from((i128::from(old) + i128::from(delta)).max(0)).unwrap_or(u64::MAX);
    kv.put(key, new.to_be_bytes())?;
    Ok(())
}

/// Re-indexes the live things of type `kind` in every tenant from the text fields
/// `before` to those `after` a declaration changed.
pub(crate) fn reindex_type(
    kv: &mut WriteTx<'_>,
    kind: &str,
    before: &[IndexDef],
    after: &[IndexDef],
) -> Result<()> {
    for root in crate::records::group::tenant_roots(&*kv)? {
        for env in [
            crate::base::context::Env::Live,
            crate::base::context::Env::Test,
        ] {
            let keys = TenantKeys::new(root, env);
            let mut things = Vec::new();
            kv.scan(
                &KeyRange::prefix(&keys.things()),
                Direction::Forward,
                |_, v| {
                    let thing: Thing = crate::base::codec::decode(v)?;
                    if thing.kind == kind && thing.status != ThingStatus::Deleted {
                        things.push(thing);
                    }
                    Ok::<_, Error>(ControlFlow::Continue(()))
                },
            )?;
            let mut deltas: HashMap<GroupId, (i64, i64)> = HashMap::new();
            for t in things {
                let old = thing_doc(before, &t);
                let new = thing_doc(after, &t);
                let (d, w) = text_index::write_doc(
                    kv,
                    &keys,
                    t.group,
                    Corpus::Things,
                    t.id.to_u128(),
                    old.as_ref(),
                    new,
                )?;
                let e = deltas.entry(t.group).or_default();
                e.0 += d;
                e.1 += w;
            }
            text_index::seal(kv, text_index::Merges::Writer)?;
            for (group, (docs, words)) in deltas {
                add_to_counter(kv, keys.counter(group, Counter::ThingTexts), docs)?;
                add_to_counter(kv, keys.counter(group, Counter::ThingWords), words)?;
            }
        }
    }
    Ok(())
}

/// A declared text field from its type and path (`name` or `properties.<key>`).
pub(crate) fn parse_text_def(kind: &str, path: &str) -> Result<IndexDef> {
    crate::base::validate::type_name("type", kind)?;
    match FieldPath::parse(path)? {
        field @ (FieldPath::Name | FieldPath::Property(_)) => Ok(IndexDef {
            kind: kind.to_string(),
            path: field.text(),
        }),
        _ => Err(Error::InvalidFilter {
            path: path.to_string(),
            reason: "text fields are `name` and `properties.<key>`".into(),
        }),
    }
}

impl Admin<'_> {
    /// Declares a text field of things of type `kind`, `name` or `properties.<key>`:
    /// searched by [`View::search_things`] from now on, and indexed at once for every
    /// tenant, in one transaction. Only declared types are in the text index (each
    /// indexed write costs postings, see BENCHMARKS.md). Declaring an existing one does
    /// nothing.
    pub fn create_text_index(&self, kind: &str, path: &str) -> Result<IndexDef> {
        let def = parse_text_def(kind, path)?;
        self.engine.transact(|kv| {
            let key = layout::text_def(&def.kind, &def.path);
            if kv.contains(&key)? {
                return Ok(());
            }
            let before = load_text_defs(&*kv)?;
            kv.put(key, [])?;
            crate::records::index::declarations_changed(kv)?;
            let after = load_text_defs(&*kv)?;
            reindex_type(kv, &def.kind, &before, &after)
        })?;
        Ok(def)
    }

    /// Removes a declared text field and its words from the index (a type left with
    /// none leaves the index). Returns whether it was declared.
    pub fn drop_text_index(&self, kind: &str, path: &str) -> Result<bool> {
        let def = parse_text_def(kind, path)?;
        self.engine.transact(|kv| {
            let before = load_text_defs(&*kv)?;
            if kv
                .remove(&layout::text_def(&def.kind, &def.path))?
                .is_none()
            {
                return Ok(false);
            }
            crate::records::index::declarations_changed(kv)?;
            let after = load_text_defs(&*kv)?;
            reindex_type(kv, &def.kind, &before, &after)?;
            Ok(true)
        })
    }

    /// Every declared text field (`path` is `name` or `properties.<key>`).
    pub fn text_indexes(&self) -> Result<Vec<IndexDef>> {
        load_text_defs(&self.engine.store().read()?)
    }
}

/// The words of a query, each once, in order; with `prefix`, the last one is a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextTerms {
    pub(crate) exact: Vec<String>,
    pub(crate) prefix: Option<String>,
}

impl TextTerms {
    /// The terms of `text`: at least one word, at most `MAX_QUERY_WORDS`.
    pub(crate) fn parse(text: &str, prefix: bool) -> Result<Self> {
        let mut all: Vec<String> = Vec::new();
        for w in words(text) {
            if !all.contains(&w) {
                all.push(w);
            }
        }
        if all.is_empty() {
            return Err(Error::invalid("text", "holds no word to search for"));
        }
        let max = one_vocabulary::records::search::MAX_QUERY_WORDS;
        if all.len() > max {
            return Err(Error::invalid(
                "text",
                format!(
                    "{} distinct words; a query may have at most {max}",
                    all.len()
                ),
            ));
        }
        let prefix = if prefix { all.pop() } else { None };
        Ok(Self { exact: all, prefix })
    }

    fn count(&self) -> usize {
        self.exact.len() + usize::from(self.prefix.is_some())
    }
}

/// The BM25 score of one term in one document, FTS5's formula.
pub(crate) fn bm25_term(tf: u32, len: u32, df: u64, docs: u64, avg_len: f64) -> f64 {
    let (n, df) = (docs as f64, df as f64);
    let idf = ((n - df + 0.5) / (df + 0.5)).ln().max(1e-6);
    let tf = f64::from(tf);
    let norm = if avg_len > 0.0 {
        1.0 - B + B * f64::from(len) / avg_len
    } else {
        1.0
    };
    idf * tf * (K1 + 1.0) / (tf + K1 * norm)
}

impl<K: KvRead> View<'_, K> {
    /// The documents of `groups` (in `corpus`) that hold every term, with their BM25
    /// scores over those groups' documents, best first (ties: the older id first).
    ///
    /// The term held by the fewest documents is read whole; the others are looked up
    /// document by document, in id order, skipping what lies between.
    pub(crate) fn text_matches(
        &self,
        corpus: Corpus,
        groups: &[GroupId],
        terms: &TextTerms,
    ) -> Result<Vec<(u128, f64)>> {
        let (doc_counter, word_counter) = corpus.counters();
        let (mut docs, mut words) = (0u64, 0u64);
        for &group in groups {
            let read = |c: Counter| -> Result<u64> {
                match self.kv.get(&self.scope.tenant.counter(group, c))? {
                    Some(b) => layout::decode_u64(&b, "counter"),
                    None => Ok(0),
                }
            };
            docs = docs.saturating_add(read(doc_counter)?);
            words = words.saturating_add(read(word_counter)?);
        }
        let keys = &self.scope.tenant;
        let mut found: Vec<TermDocs> = Vec::with_capacity(terms.count());
        for word in &terms.exact {
            found.push(TermDocs::read(self.kv, keys, corpus, groups, word, false)?);
        }
        if let Some(start) = &terms.prefix {
            found.push(TermDocs::read(self.kv, keys, corpus, groups, start, true)?);
        }
        let avg_len = if docs > 0 {
            words as f64 / docs as f64
        } else {
            0.0
        };
        // A snapshot's counters and postings agree; never let a damaged count make the
        // number of documents smaller than those found.
        let docs = found.iter().map(|t| t.df).fold(docs, u64::max);
        let shortest = (0..found.len())
            .min_by_key(|i| found[*i].df)
            .ok_or_else(|| Error::invalid("text", "no word"))?;
        let driver = found[shortest].all()?;
        let mut scored: Vec<(u128, f64)> = Vec::new();
        'docs: for (id, held) in driver {
            let mut score = 0.0;
            // Summed in the query's order, so equal documents score exactly alike.
            for (i, term) in found.iter_mut().enumerate() {
                let o = if i == shortest {
                    held
                } else {
                    match term.find(id)? {
                        Some(o) => o,
                        None => continue 'docs,
                    }
                };
                score += bm25_term(o.tf, o.len, term.df, docs, avg_len);
            }
            scored.push((id, score));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored)
    }
}

/// A page of ranked documents: skips those up to `cursor`, turns each of the rest into
/// an item with `load` (`None`: not shown), and keeps `limit`. The cursor holds the last
/// item's rank (its score and id), so paging is stable while nothing changes.
pub(crate) fn ranked_page<T>(
    ranked: &[(u128, f64)],
    cursor: Option<&Cursor>,
    limit: usize,
    mut load: impl FnMut(u128, f64) -> Result<Option<T>>,
) -> Result<Page<T>> {
    let rank_key = |id: u128, score: f64| {
        // Higher scores first: invert the order-preserving bits of the score.
        let bits = score.to_bits();
        let ordered = if bits >> 63 == 1 {
            !bits
        } else {
            bits | (1 << 63)
        };
        let mut key = (!ordered).to_be_bytes().to_vec();
        key.extend_from_slice(&id.to_be_bytes());
        key
    };
    let after = match cursor {
        Some(c) => {
            let k = c.key_suffix()?;
            if k.len() != 24 {
                return Err(Error::InvalidCursor {
                    reason: "not a cursor of a search".into(),
                });
            }
            Some(k)
        }
        None => None,
    };
    let mut items = Vec::new();
    let mut last = None;
    for &(id, score) in ranked {
        let key = rank_key(id, score);
        if after.as_ref().is_some_and(|a| key <= *a) {
            continue;
        }
        let Some(item) = load(id, score)? else {
            continue;
        };
        if items.len() == limit {
            return Ok(Page {
                items,
                next: last.map(|k: Vec<u8>| Cursor::from_key_suffix(&k)),
            });
        }
        items.push(item);
        last = Some(key);
    }
    Ok(Page { items, next: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_to_lower_case_without_accents() {
        let w: Vec<String> = words("Crème BRÛLÉE, l'été — e-mail 3.14 ﬁne").collect();
        assert_eq!(w, ["creme", "brulee", "l'ete", "e", "mail", "3.14", "fine"]);
    }

    #[test]
    fn long_words_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100);
        let w: Vec<String> = words(&long).collect();
        assert_eq!(w.len(), 1);
        assert!(w[0].len() <= MAX_WORD_BYTES);
        let long = "ab".repeat(100);
        assert_eq!(words(&long).next().unwrap().len(), MAX_WORD_BYTES);
    }

    #[test]
    fn a_document_counts_its_words() {
        let d = TextDoc::of(["Blue mug", "blue, BLUE cup"]);
        assert_eq!(d.len, 5);
        assert_eq!(d.counts["blue"], 3);
        assert_eq!(d.counts["mug"], 1);
    }

    #[test]
    fn queries_need_words_and_take_each_once() {
        assert!(TextTerms::parse("  ,, ", false).is_err());
        let t = TextTerms::parse("Mug mug cup", true).unwrap();
        assert_eq!(t.exact, ["mug"]);
        assert_eq!(t.prefix.as_deref(), Some("cup"));
        let many: String = (0..40).map(|i| format!("w{i} ")).collect();
        assert!(TextTerms::parse(&many, false).is_err());
    }

    #[test]
    fn bm25_matches_fts5s_formula() {
        // One term, in a document of average length: idf * (k1 + 1) * tf / (tf + k1).
        let s = bm25_term(1, 10, 1, 100, 10.0);
        let idf = ((100.0 - 1.0 + 0.5) / 1.5f64).ln();
        assert!((s - idf * 2.2 / 2.2).abs() < 1e-12);
        // A term in most documents still counts a little.
        assert!(bm25_term(1, 10, 99, 100, 10.0) > 0.0);
    }
}
