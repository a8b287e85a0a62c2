//! A profiling harness for the read paths: loads a scaled workload, then runs each read
//! query many times and prints its mean time (`cargo run --profile profiling -p
//! one-benches --example read_profile`, or under `perf record`).

#![allow(
    clippy::disallowed_methods,
    reason = "a profiling harness measures wall time"
)]

use std::time::Instant;

use one::serde_json::json;
use one::{ConnectionQuery, Context, EventQuery, Filter, ThingQuery};
use one_benches::{LINKS, OneDb, PRICE_RANGE, Rng, SOURCES, TYPES, sizes};

fn main() -> one::Result<()> {
    let (things, connections, events) = sizes();
    let mut db = OneDb::empty(one::Durability::ImmediateOnePhase)?;
    db.bulk_things(things)?;
    db.bulk_connections(connections)?;
    db.bulk_events(events)?;
    let n = 200_000;
    let mut rng = Rng::new(9);
    let only = std::env::args().nth(1).unwrap_or_default();
    let mut run = |name: &str, f: &mut dyn FnMut(&mut Rng) -> usize| {
        if !only.is_empty() && only != name {
            return;
        }
        let t = Instant::now();
        let mut rows = 0;
        for _ in 0..n {
            rows += f(&mut rng);
        }
        let per = t.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "{name:<20} {per:>9.0} ns/query  {:.1} rows/query",
            rows as f64 / n as f64
        );
    };
    run("point_get", &mut |rng| {
        let (id, g) = db.things[rng.below(db.things.len())];
        db.db
            .read(&Context::system(db.groups[g]), |v| v.get_thing(id))
            .map(|_| 1)
            .unwrap()
    });
    let tenant = Context::system(db.root);
    run("point_get_root", &mut |rng| {
        let (id, _) = db.things[rng.below(db.things.len())];
        db.db.read(&tenant, |v| v.get_thing(id)).map(|_| 1).unwrap()
    });
    run("list_price_range", &mut |rng| {
        let (ctx, q) = price_list(&db, rng);
        db.db.read(&ctx, |v| v.things(&q)).unwrap().items.len()
    });
    // The same for a list: each thing read again by its id.
    run("list_price_range_gets", &mut |rng| {
        let (ctx, q) = price_list(&db, rng);
        db.db
            .read(&ctx, |v| {
                let page = v.things(&q)?;
                for t in &page.items {
                    v.get_thing(t.id)?;
                }
                Ok(page.items.len())
            })
            .unwrap()
    });
    run("neighbours_1hop", &mut |rng| {
        let (ctx, q) = hop(&db, rng);
        db.db.read(&ctx, |v| v.connections(&q)).unwrap().items.len()
    });
    // What a hop would cost if the edge index held no copy of each connection: the same
    // hop, then each connection read again by its id in the same snapshot (an upper
    // bound: the hop still decodes its copies).
    run("neighbours_1hop_gets", &mut |rng| {
        let (ctx, q) = hop(&db, rng);
        db.db
            .read(&ctx, |v| {
                let page = v.connections(&q)?;
                for c in &page.items {
                    v.get_connection(c.id)?;
                }
                Ok(page.items.len())
            })
            .unwrap()
    });
    run("neighbours_1hop_root", &mut |rng| {
        let (_, q) = hop(&db, rng);
        db.db
            .read(&tenant, |v| v.connections(&q))
            .unwrap()
            .items
            .len()
    });
    run("latest_100_events", &mut |_| {
        db.db
            .read(&tenant, |v| v.events(&EventQuery::latest().limit(100)))
            .unwrap()
            .items
            .len()
    });
    Ok(())
}

/// A list of the benchmark: things of a random type in a random group, in a random tenth
/// of the price range; with the context at that group.
fn price_list(db: &OneDb, rng: &mut Rng) -> (Context, ThingQuery) {
    let g = rng.below(db.groups.len());
    let kind = TYPES[rng.below(TYPES.len())];
    let lo = (rng.next_u64() % (PRICE_RANGE as u64 * 9 / 10)) as i64;
    let filter =
        Filter::from_json(&json!({"properties.price": {"$gte": lo, "$lt": lo + PRICE_RANGE / 10}}))
            .unwrap();
    let q = ThingQuery::of_type(kind).filter(filter).limit(1000);
    (Context::system(db.groups[g]), q)
}

/// A hop of the benchmark: a random source's outgoing connections of a random type; with
/// the context at the source's group.
fn hop(db: &OneDb, rng: &mut Rng) -> (Context, ConnectionQuery) {
    let (id, g) = db.things[rng.below(SOURCES.min(db.things.len()))];
    let q = ConnectionQuery::outgoing(id).kind(LINKS[rng.below(LINKS.len())]);
    (Context::system(db.groups[g]), q)
}
