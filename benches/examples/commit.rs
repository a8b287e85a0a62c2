//! Durable commits, ONE against SQLite: one thing created per transaction (with its audit
//! event, as ONE writes one), by one writer (latency) and by 8 writers at once
//! (throughput), on database files in the temporary folder.
//!
//! ```sh
//! cargo run --release -p one-benches --features sqlite --example commit
//! ```
//!
//! ONE: `Durability::Immediate` (the default; `ONE_DURABILITY=deferred` for no sync at
//! all; `ONE_PHASE=one8` runs only ONE's 8 writers, for a profiler). SQLite: WAL, `synchronous=FULL`, statements
//! prepared once, a 1 GiB page cache, one connection per writer with a busy timeout.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]

use std::time::{Duration, Instant};

use one::*;
use one_benches::OneDb;
use one_benches::timing::{report, timed_each};

const SINGLE: usize = 3_000;
const THREADS: usize = 8;
const PER_THREAD: usize = 500;

fn throughput(name: &str, n: usize, took: Duration) {
    println!(
        "{name:<40} {:>9.0} ops/s  ({n} commits in {:.2} s)",
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
}

/// `Durability::Immediate`, or `Deferred` with `ONE_DURABILITY=deferred` (to see the cost
/// of a create without any sync).
fn durability() -> Durability {
    match std::env::var("ONE_DURABILITY").as_deref() {
        Ok("deferred") => Durability::Deferred,
        _ => Durability::Immediate,
    }
}

fn create(db: &Ontology, ctx: &Context) {
    db.write(ctx, |tx| {
        tx.create_thing(NewThing::new("product", "durable").property("price", 100))
    })
    .unwrap();
}

fn one() {
    let db = OneDb::empty(durability()).unwrap();
    let ctx = Context::system(db.groups[0]);
    for _ in 0..200 {
        create(&db.db, &ctx);
    }
    let samples = timed_each(SINGLE, |_| create(&db.db, &ctx));
    report("ONE durable create, 1 writer", samples);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (db, ctx) = (&db.db, Context::system(db.groups[t % db.groups.len()]));
            s.spawn(move || {
                for _ in 0..PER_THREAD {
                    create(db, &ctx);
                }
            });
        }
    });
    throughput(
        "ONE durable create, 8 writers",
        THREADS * PER_THREAD,
        started.elapsed(),
    );
}

#[cfg(feature = "sqlite")]
fn sqlite() {
    let db = one_benches::sqlite::SqliteDb::empty().unwrap();
    for i in 0..200 {
        db.create_thing_audited(i).unwrap();
    }
    let samples = timed_each(SINGLE, |i| {
        db.create_thing_audited(i).unwrap();
    });
    report("SQLite durable create, 1 writer", samples);
    let conns: Vec<_> = (0..THREADS).map(|_| db.connect().unwrap()).collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for (t, conn) in conns.into_iter().enumerate() {
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    one_benches::sqlite::create_thing_audited(&conn, t * PER_THREAD + i).unwrap();
                }
            });
        }
    });
    throughput(
        "SQLite durable create, 8 writers",
        THREADS * PER_THREAD,
        started.elapsed(),
    );
}

/// The storage layer alone: one small key per commit, the floor under ONE's commits.
fn store() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        one_storage::Store::open(dir.path().join("floor.redb"), &Default::default()).unwrap();
    let put = |t: usize, i: usize| {
        store
            .write(|tx| tx.put(format!("k{t}-{i}").into_bytes(), *b"value"))
            .unwrap()
    };
    let samples = timed_each(SINGLE, |i| put(99, i));
    report("store: one put per commit, 1 writer", samples);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let put = &put;
            s.spawn(move || (0..PER_THREAD).for_each(|i| put(t, i)));
        }
    });
    throughput(
        "store: one put per commit, 8 writers",
        THREADS * PER_THREAD,
        started.elapsed(),
    );
}

fn main() {
    if std::env::var("ONE_PHASE").as_deref() == Ok("one8") {
        // Only ONE's 8 writers, for a profiler.
        let db = OneDb::empty(durability()).unwrap();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (db, ctx) = (&db.db, Context::system(db.groups[t % db.groups.len()]));
                s.spawn(move || (0..PER_THREAD * 4).for_each(|_| create(db, &ctx)));
            }
        });
        return;
    }
    store();
    // Alternately, twice each, so neither engine always runs on a warmer machine.
    for _ in 0..2 {
        one();
        #[cfg(feature = "sqlite")]
        sqlite();
    }
}
