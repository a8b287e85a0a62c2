//! What a plugin adds to a create, measured in one database, kinds taken in turn: a
//! built-in type, the minimal WAT plugin's type, the `tickets` example's `event_ticket`
//! (its `prepare` computes a total), and the same ticket naming a show (its `prepare`
//! reads the show through the host). One database for all, so every kind writes into the
//! same B-trees and the same file holds the same modules; rounds of each kind alternate,
//! and the median round is reported. The file is written without a sync per commit
//! (`Durability::Deferred`): what is measured is the work of a create, not the disk.
//!
//! `cargo run --release -p one-benches --example plugin_overhead -- [rounds] [per_round]`

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
    let db = Ontology::builder()
        .plugins(runtime)
        .durability(Durability::Deferred)
        .open(dir.path().join("one.redb"))
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
    db.admin()
        .create_index("plain_ticket", "properties.total_cents")
        .unwrap();
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
    let kinds: [(&str, &str, Value); 4] = [
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
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 0..rounds {
        for (i, (_, kind, props)) in kinds.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                times[i].push(0.0);
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
        "{} rounds of {per_round} creates of each kind, in turn (median round, min–max), µs per create:",
        rounds - 1
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median(&mut times[0].clone());
    for (i, (label, _, _)) in kinds.iter().enumerate() {
        let v = &mut times[i];
        let m = median(v);
        println!(
            "  {label:<34} {m:>7.1}  ({:.1}–{:.1})  +{:.1} over the built-in type",
            v[0],
            v[v.len() - 1],
            m - base
        );
    }
}
