//! The change feed's costs: commit-to-delivery latency with 1, 10 and 100 subscribers,
//! and write throughput with 100 idle subscribers against none.
//!
//! `cargo run --release -p one-benches --example feed`

#![allow(
    clippy::disallowed_methods,
    reason = "a measuring tool reads the wall clock"
)]

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use one::*;

/// Creates per latency run, and per throughput run.
const LATENCY_WRITES: usize = 2_000;
const THROUGHPUT_WRITES: usize = 5_000;

fn tenant(db: &Ontology) -> Context {
    let g = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "B", "b"))
        .unwrap();
    Context::system(g.id)
}

fn create(db: &Ontology, ctx: &Context, i: usize) -> ThingId {
    db.write(ctx, |tx| {
        tx.create_thing(NewThing::new("item", format!("item {i}")).property("n", i as i64))
    })
    .unwrap()
    .id
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Commit-to-delivery latency. The commit's own instant is inside `Ontology::write`, so
/// this measures from the start of the write call to the moment a subscriber thread,
/// blocked in `Subscription::iter`, has the change in hand, and prints the write call's
/// own time beside it: the difference is what delivery adds.
fn latency(subscribers: usize) {
    let db = Arc::new(Ontology::in_memory().unwrap());
    let ctx = tenant(&db);
    let ready = Arc::new(Barrier::new(subscribers + 1));
    let threads: Vec<_> = (0..subscribers)
        .map(|_| {
            let (db, ready) = (Arc::clone(&db), Arc::clone(&ready));
            let mut s = db
                .engine()
                .subscribe(&ctx, ChangeFilter::new().dimension(Dimension::Things))
                .unwrap();
            std::thread::spawn(move || {
                ready.wait();
                let mut got = Vec::with_capacity(LATENCY_WRITES);
                for change in s.iter(db.engine()).take(LATENCY_WRITES) {
                    let e = change.unwrap();
                    got.push((e.target, Instant::now()));
                }
                got
            })
        })
        .collect();
    ready.wait();
    let committed: Mutex<HashMap<Option<Ref>, Instant>> = Mutex::default();
    let mut writes: Vec<Duration> = Vec::with_capacity(LATENCY_WRITES);
    for i in 0..LATENCY_WRITES {
        let started = Instant::now();
        let id = create(&db, &ctx, i);
        writes.push(started.elapsed());
        committed.lock().unwrap().insert(Some(id.into()), started);
        // Paced writes: latency, not a backlog.
        std::thread::sleep(Duration::from_micros(200));
    }
    let committed = committed.into_inner().unwrap();
    let mut all: Vec<Duration> = Vec::new();
    for t in threads {
        for (target, at) in t.join().unwrap() {
            all.push(at.saturating_duration_since(committed[&target]));
        }
    }
    all.sort();
    writes.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{subscribers:>3} subscribers: write start to delivery p50 {:>6.1} µs, p99 {:>7.1} µs \
         ({} deliveries); the write call alone p50 {:>6.1} µs, p99 {:>6.1} µs",
        us(percentile(&all, 0.50)),
        us(percentile(&all, 0.99)),
        all.len(),
        us(percentile(&writes, 0.50)),
        us(percentile(&writes, 0.99)),
    );
}

/// Time per create (one transaction each) on two databases side by side, one with 100
/// idle subscribers (subscribed, never reading) and one with none, alternating create by
/// create so that the machine's drifts hit both alike.
fn throughput_ab() -> (Duration, Duration) {
    let plain = Ontology::in_memory().unwrap();
    let watched = Ontology::in_memory().unwrap();
    let (ctx_plain, ctx_watched) = (tenant(&plain), tenant(&watched));
    let _idle: Vec<Subscription> = (0..100)
        .map(|_| {
            watched
                .engine()
                .subscribe(&ctx_watched, ChangeFilter::new())
                .unwrap()
        })
        .collect();
    for i in 0..500 {
        create(&plain, &ctx_plain, i);
        create(&watched, &ctx_watched, i);
    }
    let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
    for i in 0..THROUGHPUT_WRITES {
        let t = Instant::now();
        create(&plain, &ctx_plain, i);
        a += t.elapsed();
        let t = Instant::now();
        create(&watched, &ctx_watched, i);
        b += t.elapsed();
    }
    let n = THROUGHPUT_WRITES as u32;
    (a / n, b / n)
}

fn main() {
    println!("commit-to-delivery latency, {LATENCY_WRITES} paced creates:");
    for n in [1, 10, 100] {
        latency(n);
    }
    const ROUNDS: usize = 5;
    println!(
        "write cost, {THROUGHPUT_WRITES} creates per database (one transaction each), alternating:"
    );
    let mut ratios = Vec::new();
    for round in 1..=ROUNDS {
        let (none, idle) = throughput_ab();
        let ratio = idle.as_secs_f64() / none.as_secs_f64() - 1.0;
        ratios.push(ratio);
        println!(
            "  round {round}: no subscribers {:>6.1} µs/create, 100 idle subscribers {:>6.1} µs/create ({:+.1}%)",
            none.as_secs_f64() * 1e6,
            idle.as_secs_f64() * 1e6,
            ratio * 100.0
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "  median difference in write cost with 100 idle subscribers: {:+.1}%",
        ratios[ROUNDS / 2] * 100.0
    );
}
