//! What the background upkeep of the vector graphs costs writers: the latency of single
//! durable creates of small things while nothing is built, and while the upkeep thread
//! rebuilds the graph of a group of 100,000 chunks.
//!
//! ```sh
//! cargo run --release -p one-benches --example upkeep_writes -- 100000 128
//! #                                                        chunks, dimensions
//! ```
//!
//! A database file, default durability. The chunks come with their vectors (seeded,
//! uniform in [-1, 1]); the writes measured are things in another group of the tenant.

#![allow(
    clippy::disallowed_methods,
    reason = "benchmarks measure wall-clock time"
)]

use std::time::{Duration, Instant};

use one::*;
use one_benches::Rng;
use one_benches::timing::report;

fn main() {
    let [chunks, dims] = one_benches::numeric_args([100_000, 128]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.redb");
    let (root, side) = {
        let db = Ontology::builder()
            .knowledge_upkeep(None)
            .open(&path)
            .unwrap();
        let root = db
            .admin()
            .create_root_group(NewGroup::new(GroupType::Business, "Docs", "docs"))
            .unwrap();
        let ctx = Context::system(root.id);
        let side = db
            .write(&ctx, |tx| {
                tx.create_group(root.id, NewGroup::new(GroupType::Business, "Side", "side"))
            })
            .unwrap();
        let mut rng = Rng::new(9);
        let mut uniform = move || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
        for start in (0..chunks).step_by(1000) {
            let vectors: Vec<Vec<f32>> = (start..(start + 1000).min(chunks))
                .map(|_| (0..dims).map(|_| uniform()).collect())
                .collect();
            db.write(&ctx, |tx| {
                for (i, v) in vectors.clone().into_iter().enumerate() {
                    tx.create_knowledge(
                        NewKnowledge::new(format!("chunk {}", start + i)).embedding(v),
                    )?;
                }
                Ok(())
            })
            .unwrap();
        }
        db.close().unwrap();
        (root.id, side.id)
    };
    println!("{chunks} chunks of {dims} dimensions in one group");
    let write = |db: &Ontology, n: usize| {
        let ctx = Context::system(root);
        let started = Instant::now();
        db.write(&ctx, |tx| {
            tx.create_thing(NewThing::new("note", format!("n{n}")).in_group(side))
        })
        .unwrap();
        started.elapsed()
    };
    // Without the upkeep: the baseline.
    {
        let db = Ontology::builder()
            .knowledge_upkeep(None)
            .open(&path)
            .unwrap();
        let samples: Vec<Duration> = (0..2000).map(|n| write(&db, n)).collect();
        report("single create, no build running", samples);
    }
    // With the upkeep: it finds the group without a graph at once and builds it.
    let db = Ontology::builder()
        .knowledge_upkeep(Some(Duration::from_millis(10)))
        .open(&path)
        .unwrap();
    while db.engine().maintenance_status().building.is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    let mut samples = Vec::new();
    while db.engine().maintenance_status().building.is_some() {
        samples.push(write(&db, 10_000 + samples.len()));
    }
    let built_in = started.elapsed();
    report("single create, during the graph build", samples);
    println!(
        "graph of {} vectors built and stored in {:.1} s while those writes ran",
        db.read(&Context::system(root), |v| v.knowledge_index(root))
            .unwrap()
            .indexed,
        built_in.as_secs_f64()
    );
}
