//! Full-text search, ONE against SQLite FTS5 on the same seeded corpus: index build time,
//! query latency for one-word, two-word and prefix queries (top 50 by BM25), whether the
//! two answer the same, and index size.
//!
//! ```sh
//! cargo run --release -p one-benches --features sqlite --example text_search -- 200000 20000
//! #                                                                   product names, chunks
//! ```
//!
//! The corpus: a 20,000-word vocabulary with Zipf frequencies; names of 3 to 7 words,
//! chunks of 40 to 80. ONE: a database file, default durability, the names as things of
//! one group whose type declares `name` a text field (each write transaction 1,000
//! things or 500 chunks), chunks as knowledge
//! with a one-dimension embedding (so the embedder costs nothing), the upkeep thread off.
//! SQLite: WAL, `synchronous=FULL`, the same 1 GiB page cache, one contentless FTS5 table
//! per corpus (`content=''`, `tokenize='unicode61 remove_diacritics 2'`), the same
//! transactions, statements prepared once, `ORDER BY bm25(t), rowid LIMIT 50`. Both rank
//! with FTS5's BM25 (k1 1.2, b 0.75) over the whole corpus, ties to the older row.

#![allow(
    clippy::disallowed_methods,
    reason = "benchmarks measure wall-clock time"
)]

use std::time::Instant;

use one::*;
use one_benches::Rng;
use one_benches::corpus::{texts, vocabulary};
use one_benches::timing::report;

/// How many distinct queries of each kind, and how often each runs.
const QUERIES: usize = 20;
const REPEAT: usize = 10;
const TOP: usize = 50;

fn main() {
    let [n_names, n_chunks] = one_benches::numeric_args([200_000, 20_000]);
    let mut rng = Rng::new(0x7e57);
    let words = vocabulary(20_000, &mut rng);
    let names = texts(n_names, 3, 7, &words, &mut rng);
    let chunks = texts(n_chunks, 40, 80, &words, &mut rng);
    let dir = tempfile::tempdir().unwrap();
    println!("{n_names} names, {n_chunks} chunks");

    // ONE.
    let path = dir.path().join("one.redb");
    let db = Ontology::builder()
        .knowledge_upkeep(None)
        .open(&path)
        .unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
        .unwrap();
    let ctx = Context::system(root.id);
    db.admin().create_text_index("product", "name").unwrap();
    let started = Instant::now();
    let mut thing_ids = Vec::with_capacity(n_names);
    for batch in names.chunks(1000) {
        let ids = db
            .write(&ctx, |tx| {
                batch
                    .iter()
                    .map(|n| {
                        tx.create_thing(NewThing::new("product", n.as_str()))
                            .map(|t| t.id)
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .unwrap();
        thing_ids.extend(ids);
    }
    let one_names_build = started.elapsed();
    let started = Instant::now();
    let mut chunk_ids = Vec::with_capacity(n_chunks);
    for batch in chunks.chunks(500) {
        let ids = db
            .write(&ctx, |tx| {
                batch
                    .iter()
                    .map(|c| {
                        tx.create_knowledge(NewKnowledge::new(c.as_str()).embedding(vec![1.0]))
                            .map(|k| k.id)
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .unwrap();
        chunk_ids.extend(ids);
    }
    let one_chunks_build = started.elapsed();
    let thing_row = |id: ThingId| thing_ids.binary_search(&id).map_or(0, |i| i as i64 + 1);
    let chunk_row = |id: KnowledgeId| chunk_ids.binary_search(&id).map_or(0, |i| i as i64 + 1);
    println!(
        "ONE build: names {:.1} s ({:.0}/s), chunks {:.1} s ({:.0}/s)",
        one_names_build.as_secs_f64(),
        n_names as f64 / one_names_build.as_secs_f64(),
        one_chunks_build.as_secs_f64(),
        n_chunks as f64 / one_chunks_build.as_secs_f64(),
    );

    // The queries: words from common to rare, pairs of them, and three-letter prefixes.
    let one_word: Vec<String> = (0..QUERIES)
        .map(|i| words[(i * i * 7 + 3) % 5000].clone())
        .collect();
    let two_words: Vec<String> = (0..QUERIES)
        .map(|i| format!("{} {}", words[i + 5], words[(i * 37 + 20) % 400]))
        .collect();
    let prefixes: Vec<String> = (0..QUERIES)
        .map(|i| words[i * 11 + 40].chars().take(3).collect())
        .collect();

    let search_names = |q: &str, prefix: bool| -> Vec<i64> {
        let mut query = TextQuery::new(q).limit(TOP);
        if prefix {
            query = query.prefix();
        }
        db.read(&ctx, |v| v.search_things(&query))
            .unwrap()
            .items
            .iter()
            .map(|h| thing_row(h.thing.id))
            .collect()
    };
    let search_chunks = |q: &str| -> Vec<i64> {
        db.read(&ctx, |v| {
            v.query_knowledge(&KnowledgeQuery::words(q).k(TOP))
        })
        .unwrap()
        .iter()
        .map(|h| chunk_row(h.knowledge.id))
        .collect()
    };

    #[cfg(feature = "sqlite")]
    let fts = Fts::load(dir.path(), &names, &chunks);

    let kinds: [(&str, &[String], bool, bool); 5] = [
        ("names, one word", &one_word, false, false),
        ("names, two words", &two_words, false, false),
        ("names, prefix (3 letters)", &prefixes, true, false),
        ("chunks, one word", &one_word, false, true),
        ("chunks, two words", &two_words, false, true),
    ];
    for (label, queries, prefix, on_chunks) in kinds {
        let mut one_times = Vec::new();
        #[cfg(feature = "sqlite")]
        let (mut fts_times, mut same, mut overlap) = (Vec::new(), 0, 0usize);
        let mut hits = 0;
        for q in queries {
            let run_one = || {
                if on_chunks {
                    search_chunks(q)
                } else {
                    search_names(q, prefix)
                }
            };
            let answer = run_one();
            hits += answer.len();
            #[cfg(feature = "sqlite")]
            {
                let theirs = fts.search(if on_chunks { "chunks" } else { "names" }, q, prefix);
                same += usize::from(theirs == answer);
                overlap += answer.iter().filter(|r| theirs.contains(r)).count();
                for _ in 0..REPEAT {
                    let t = Instant::now();
                    std::hint::black_box(fts.search(
                        if on_chunks { "chunks" } else { "names" },
                        q,
                        prefix,
                    ));
                    fts_times.push(t.elapsed());
                }
            }
            for _ in 0..REPEAT {
                let t = Instant::now();
                std::hint::black_box(run_one());
                one_times.push(t.elapsed());
            }
        }
        println!(
            "-- {label}: {:.1} hits a query",
            hits as f64 / queries.len() as f64
        );
        report(&format!("ONE  {label}"), one_times);
        #[cfg(feature = "sqlite")]
        {
            report(&format!("FTS5 {label}"), fts_times);
            println!(
                "   same top {TOP} (ids and order): {same} of {} queries; {overlap} of {hits} hits in both",
                queries.len()
            );
        }
    }
    let (postings, posting_bytes) = text_index_size(&db);
    println!(
        "ONE text index: {postings} keys, {:.1} MB of keys and values ({:.1} bytes each)",
        posting_bytes as f64 / 1e6,
        posting_bytes as f64 / postings.max(1) as f64
    );
    db.close().unwrap();
    let one_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "ONE file (records, all indexes, text postings): {:.1} MB",
        one_size as f64 / 1e6
    );
    #[cfg(feature = "sqlite")]
    fts.report_size();
}

/// How many keys the text index holds (a value per word per segment, and the segment
/// directories), and their bytes (keys and values): every tenant key whose section byte
/// (after `T`, the tenant and the environment) is `W`.
fn text_index_size(db: &Ontology) -> (u64, u64) {
    use one_storage::{Direction, KeyRange, KvRead};
    let snapshot = db.engine().store().read().unwrap();
    let (mut n, mut bytes) = (0u64, 0u64);
    snapshot
        .scan(&KeyRange::prefix(b"T"), Direction::Forward, |k, v| {
            if k.get(18) == Some(&b'W') {
                n += 1;
                bytes += (k.len() + v.len()) as u64;
            }
            Ok::<_, one_storage::StorageError>(std::ops::ControlFlow::Continue(()))
        })
        .unwrap();
    (n, bytes)
}

/// The SQLite FTS5 side.
#[cfg(feature = "sqlite")]
struct Fts {
    conn: rusqlite::Connection,
    path: std::path::PathBuf,
}

#[cfg(feature = "sqlite")]
impl Fts {
    fn load(dir: &std::path::Path, names: &[String], chunks: &[String]) -> Self {
        let path = dir.join("fts.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; {}
             CREATE VIRTUAL TABLE names USING fts5(t, content='', tokenize='unicode61 remove_diacritics 2');
             CREATE VIRTUAL TABLE chunks USING fts5(t, content='', tokenize='unicode61 remove_diacritics 2');",
            one_benches::sqlite::CACHE_PRAGMA
        ))
        .unwrap();
        for (table, texts, per) in [("names", names, 1000), ("chunks", chunks, 500)] {
            let started = Instant::now();
            for (b, batch) in texts.chunks(per).enumerate() {
                let tx = conn.unchecked_transaction().unwrap();
                {
                    let mut insert = tx
                        .prepare_cached(&format!("INSERT INTO {table}(rowid, t) VALUES (?1, ?2)"))
                        .unwrap();
                    for (i, text) in batch.iter().enumerate() {
                        insert
                            .execute(rusqlite::params![(b * per + i + 1) as i64, text])
                            .unwrap();
                    }
                }
                tx.commit().unwrap();
            }
            let took = started.elapsed();
            println!(
                "FTS5 build: {table} {:.1} s ({:.0}/s)",
                took.as_secs_f64(),
                texts.len() as f64 / took.as_secs_f64()
            );
        }
        Self { conn, path }
    }

    fn search(&self, table: &str, q: &str, prefix: bool) -> Vec<i64> {
        let query = if prefix {
            format!("{q}*")
        } else {
            q.to_string()
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT rowid FROM {table} WHERE {table} MATCH ?1 ORDER BY bm25({table}), rowid LIMIT {TOP}"
            ))
            .unwrap();
        stmt.query_map([query], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn report_size(&self) {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        println!(
            "FTS5 file (the two contentless indexes only): {:.1} MB",
            size as f64 / 1e6
        );
    }
}
