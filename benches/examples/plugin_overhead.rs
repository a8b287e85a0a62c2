//! What a plugin adds to a create, measured in one database, kinds taken in turn: a
//! built-in type, the minimal WAT plugin's type, the `tickets` example's `event_ticket`
//! (its `prepare` computes a total), the same ticket naming a show (its `prepare` reads
//! the show through the host), and the example's `show` type (its `prepare` keeps what it
//! is sent: the cost of a Rust SDK call itself). One database for all, so every kind writes into the
//! same B-trees and the same file holds the same modules; rounds of each kind alternate,
//! and the median round is reported with the median of each round's difference to the
//! built-in type's round before it (the database grows as it runs, so paired rounds
//! compare like with like). The file is written without a sync per commit
//! (`Durability::Deferred`): what is measured is the work of a create, not the disk.
//!
//! `cargo run --release -p one-benches --example plugin_overhead -- [rounds] [per_round] [kind]`
//!
//! With `kind` (0–4) only that kind runs: a profile of one kind (`perf record`). With
//! `ONE_BENCH_IN_MEMORY=1` the database lives in memory: no page is written to a file,
//! which takes the disk's noise out of the comparison (not its cache effects).

#![allow(
    clippy::disallowed_methods,
    reason = "a measuring tool reads the wall clock"
)]

use std::sync::Arc;
use std::time::Instant;

use one::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(21, |a| a.parse().expect("rounds"));
    let per_round: usize = args.next().map_or(1_000, |a| a.parse().expect("per_round"));
    let only: Option<usize> = args.next().map(|a| a.parse().expect("kind"));
    let runtime = Arc::new(one::wasm::Runtime::new(one::wasm::Limits::default()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let builder = Ontology::builder()
        .plugins(runtime)
        .durability(Durability::Deferred);
    let db = if std::env::var_os("ONE_BENCH_IN_MEMORY").is_some() {
        builder.in_memory()
    } else {
        builder.open(dir.path().join("one.redb"))
    }
    .unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Bench", "bench"))
        .unwrap()
        .id;
    let ctx = Context::system(root);
    db.engine()
        .install_plugin(&ctx, &one_benches::plugin_example("tickets"))
        .unwrap();
    let minimal = wat::parse_str(include_str!("../../plugins/examples/minimal.wat")).unwrap();
    db.engine().install_plugin(&ctx, &minimal).unwrap();
    // The built-in type and the `show` get the index `event_ticket` declares.
    for kind in ["plain_ticket", "show"] {
        db.admin()
            .create_index(kind, "properties.total_cents")
            .unwrap();
    }
    let show = db
        .write(&ctx, |tx| {
            tx.create_thing(NewThing::new("show", "RustConf"))
        })
        .unwrap();
    let ticket = serde_json::json!({"event": "RustConf", "price_cents": 1000, "quantity": 3, "tier": "student"});
    let mut plain = ticket.clone();
    plain["total_cents"] = 1500.into();
    let mut with_show = ticket.clone();
    with_show["show"] = show.id.to_string().into();
    let kinds: [(&str, &str, Value); 5] = [
        ("built-in type", "plain_ticket", Value::from_json(&plain)),
        (
            "minimal WAT plugin",
            "gadget",
            Value::from_json(&serde_json::json!({"size": 1})),
        ),
        ("tickets plugin", "event_ticket", Value::from_json(&ticket)),
        (
            "tickets plugin reading its show",
            "event_ticket",
            Value::from_json(&with_show),
        ),
        (
            "tickets plugin, a `show` (kept as sent)",
            "show",
            Value::from_json(&plain),
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 0..rounds {
        for (i, (_, kind, props)) in kinds.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let start = Instant::now();
            for _ in 0..per_round {
                db.write(&ctx, |tx| {
                    tx.create_thing(NewThing::new(*kind, "t").properties(props.clone()))
                })
                .unwrap();
            }
            // The first round warms caches and the file up; it is not counted.
            if round > 0 {
                times[i].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
            }
        }
    }
    println!(
        "{} rounds of {per_round} creates of each kind, in turn; µs per create (median round, \
         min–max), and the median over rounds of the round's difference to the built-in \
         type's round just before it:",
        rounds - 1
    );
    // The median, the least and the most, of rounds that ran.
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        Some((*v.get(v.len() / 2)?, v[0], v[v.len() - 1]))
    };
    for (i, (label, _, _)) in kinds.iter().enumerate() {
        let Some((m, lo, hi)) = median(times[i].clone()) else {
            continue;
        };
        let over = median(times[i].iter().zip(&times[0]).map(|(t, b)| t - b).collect())
            .map_or_else(String::new, |(d, lo, hi)| {
                format!("+{d:.1} ({lo:.1}–{hi:.1})")
            });
        println!("  {label:<40} {m:>7.1}  ({lo:.1}–{hi:.1})  {over}");
    }
}
