//! Criterion benchmarks of ONE, with the same workload on SQLite beside each one when
//! built with `--features sqlite`. See `BENCHMARKS.md` for the numbers and the command.

#![allow(
    clippy::disallowed_methods,
    reason = "benchmarks measure wall-clock time"
)]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use one::{
    ConnectionQuery, Context, Durability, EventQuery, Filter, NewThing, ThingQuery,
    serde_json::json,
};
use one_benches::{LINKS, OneDb, PRICE_RANGE, Rng, SOURCES, TYPES, sizes};

/// Times `work` on a fresh database made by `setup`, `iters` times.
fn timed<D>(iters: u64, mut setup: impl FnMut() -> D, mut work: impl FnMut(&mut D)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut db = setup();
        let start = Instant::now();
        work(&mut db);
        total += start.elapsed();
    }
    total
}

fn bulk(c: &mut Criterion) {
    let (things, connections, events) = sizes();
    let mut g = c.benchmark_group("bulk");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(1));

    g.throughput(Throughput::Elements(things as u64));
    g.bench_function(BenchmarkId::new("create_things", "one"), |b| {
        b.iter_custom(|n| {
            timed(
                n,
                || OneDb::empty(Durability::Immediate).unwrap(),
                |db| db.bulk_things(things).unwrap(),
            )
        })
    });
    #[cfg(feature = "sqlite")]
    g.bench_function(BenchmarkId::new("create_things", "sqlite_audited"), |b| {
        use one_benches::sqlite::SqliteDb;
        let work = |db: &mut SqliteDb| db.bulk_things_audited(things).unwrap();
        b.iter_custom(|n| timed(n, || SqliteDb::empty().unwrap(), work))
    });
    #[cfg(feature = "sqlite")]
    g.bench_function(BenchmarkId::new("create_things", "sqlite"), |b| {
        use one_benches::sqlite::SqliteDb;
        b.iter_custom(|n| {
            timed(
                n,
                || SqliteDb::empty().unwrap(),
                |db| db.bulk_things(things).unwrap(),
            )
        })
    });

    g.throughput(Throughput::Elements(connections as u64));
    g.bench_function(BenchmarkId::new("create_connections", "one"), |b| {
        let setup = || {
            let mut db = OneDb::empty(Durability::Immediate).unwrap();
            db.bulk_things(things).unwrap();
            db
        };
        b.iter_custom(|n| timed(n, setup, |db| db.bulk_connections(connections).unwrap()))
    });
    #[cfg(feature = "sqlite")]
    g.bench_function(
        BenchmarkId::new("create_connections", "sqlite_audited"),
        |b| {
            use one_benches::sqlite::SqliteDb;
            let setup = || {
                let mut db = SqliteDb::empty().unwrap();
                db.bulk_things(things).unwrap();
                db
            };
            let work = |db: &mut SqliteDb| db.bulk_connections_audited(connections).unwrap();
            b.iter_custom(|n| timed(n, setup, work))
        },
    );
    #[cfg(feature = "sqlite")]
    g.bench_function(BenchmarkId::new("create_connections", "sqlite"), |b| {
        use one_benches::sqlite::SqliteDb;
        let setup = || {
            let mut db = SqliteDb::empty().unwrap();
            db.bulk_things(things).unwrap();
            db
        };
        b.iter_custom(|n| timed(n, setup, |db| db.bulk_connections(connections).unwrap()))
    });

    g.throughput(Throughput::Elements(events as u64));
    g.bench_function(BenchmarkId::new("append_events", "one"), |b| {
        let setup = || {
            let mut db = OneDb::empty(Durability::Immediate).unwrap();
            db.bulk_things(things / 10).unwrap();
            db
        };
        b.iter_custom(|n| timed(n, setup, |db| db.bulk_events(events).unwrap()))
    });
    #[cfg(feature = "sqlite")]
    g.bench_function(BenchmarkId::new("append_events", "sqlite"), |b| {
        use one_benches::sqlite::SqliteDb;
        let setup = || {
            let mut db = SqliteDb::empty().unwrap();
            db.bulk_things(things / 10).unwrap();
            db
        };
        b.iter_custom(|n| timed(n, setup, |db| db.bulk_events(events).unwrap()))
    });
    g.finish();
}

fn durable(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable_create_thing");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(3));
    for (name, durability) in [
        ("one", Durability::Immediate),
        ("one_1pc", Durability::ImmediateOnePhase),
        ("one_deferred", Durability::Deferred),
    ] {
        let db = OneDb::empty(durability).unwrap();
        let ctx = Context::system(db.groups[0]);
        g.bench_function(name, |b| {
            b.iter(|| {
                db.db
                    .write(&ctx, |tx| {
                        tx.create_thing(NewThing::new("product", "durable").property("price", 100))
                    })
                    .unwrap()
            })
        });
    }
    // The floor: one key written by the storage layer alone, with the default durability.
    let dir = tempfile::tempdir().unwrap();
    let store =
        one_storage::Store::open(dir.path().join("floor.redb"), &Default::default()).unwrap();
    let mut n = 0u64;
    g.bench_function("store_one_put", |b| {
        b.iter(|| {
            n += 1;
            store
                .write(|tx| tx.put(n.to_be_bytes(), [0u8; 100]))
                .unwrap()
        })
    });
    #[cfg(feature = "sqlite")]
    {
        let db = one_benches::sqlite::SqliteDb::empty().unwrap();
        let mut i = 0;
        g.bench_function("sqlite", |b| {
            b.iter(|| {
                i += 1;
                db.create_thing(i).unwrap()
            })
        });
    }
    g.finish();
}

fn reads(c: &mut Criterion) {
    let (things, connections, events) = sizes();
    let mut one = OneDb::empty(Durability::Immediate).unwrap();
    one.bulk_things(things).unwrap();
    one.bulk_connections(connections).unwrap();
    one.bulk_events(events).unwrap();
    #[cfg(feature = "sqlite")]
    let sqlite = {
        let mut db = one_benches::sqlite::SqliteDb::empty().unwrap();
        db.bulk_things(things).unwrap();
        db.bulk_connections(connections).unwrap();
        db.bulk_events(events).unwrap();
        db
    };
    let width = PRICE_RANGE / 10;

    let mut g = c.benchmark_group("read");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));

    let mut rng = Rng::new(3);
    g.bench_function(BenchmarkId::new("point_get", "one"), |b| {
        b.iter(|| {
            let (id, grp) = one.things[rng.below(one.things.len())];
            one.db
                .read(&Context::system(one.groups[grp]), |v| {
                    v.get_thing(black_box(id))
                })
                .unwrap()
        })
    });
    // The same get with the context at the tenant's root, as a server acting for the
    // whole tenant makes it: the thing's group is checked to be in scope.
    let tenant = Context::system(one.root);
    g.bench_function(BenchmarkId::new("point_get_tenant", "one"), |b| {
        b.iter(|| {
            let (id, _) = one.things[rng.below(one.things.len())];
            one.db
                .read(&tenant, |v| v.get_thing(black_box(id)))
                .unwrap()
        })
    });
    #[cfg(feature = "sqlite")]
    g.bench_function(BenchmarkId::new("point_get", "sqlite"), |b| {
        b.iter(|| sqlite.get(black_box(rng.below(things) as i64 + 1)).unwrap())
    });

    g.bench_function(BenchmarkId::new("list_price_range", "one"), |b| {
        b.iter(|| {
            let grp = rng.below(one.groups.len());
            let kind = TYPES[rng.below(TYPES.len())];
            let lo = (rng.next_u64() % (PRICE_RANGE - width) as u64) as i64;
            let filter =
                Filter::from_json(&json!({"properties.price": {"$gte": lo, "$lt": lo + width}}))
                    .unwrap();
            let q = ThingQuery::of_type(kind).filter(filter).limit(1000);
            one.db
                .read(&Context::system(one.groups[grp]), |v| v.things(&q))
                .unwrap()
        })
    });
    #[cfg(feature = "sqlite")]
    g.bench_function(BenchmarkId::new("list_price_range", "sqlite"), |b| {
        b.iter(|| {
            let grp = rng.below(one_benches::GROUPS);
            let kind = TYPES[rng.below(TYPES.len())];
            let lo = (rng.next_u64() % (PRICE_RANGE - width) as u64) as i64;
            sqlite.list_price_range(grp, kind, lo, lo + width).unwrap()
        })
    });

    let sources = SOURCES.min(one.things.len());
    g.bench_function(BenchmarkId::new("neighbours_1hop", "one"), |b| {
        b.iter(|| {
            let (id, grp) = one.things[rng.below(sources)];
            let q = ConnectionQuery::outgoing(id).kind(LINKS[rng.below(LINKS.len())]);
            one.db
                .read(&Context::system(one.groups[grp]), |v| v.connections(&q))
                .unwrap()
        })
    });
    g.bench_function(BenchmarkId::new("neighbours_1hop_tenant", "one"), |b| {
        b.iter(|| {
            let (id, _) = one.things[rng.below(sources)];
            let q = ConnectionQuery::outgoing(id).kind(LINKS[rng.below(LINKS.len())]);
            one.db.read(&tenant, |v| v.connections(&q)).unwrap()
        })
    });
    #[cfg(feature = "sqlite")]
    g.bench_function(BenchmarkId::new("neighbours_1hop", "sqlite"), |b| {
        b.iter(|| {
            sqlite
                .neighbours(rng.below(sources) as i64 + 1, LINKS[rng.below(LINKS.len())])
                .unwrap()
        })
    });

    g.bench_function(BenchmarkId::new("latest_100_events", "one"), |b| {
        b.iter(|| {
            one.db
                .read(&tenant, |v| v.events(&EventQuery::latest().limit(100)))
                .unwrap()
        })
    });
    #[cfg(feature = "sqlite")]
    g.bench_function(BenchmarkId::new("latest_100_events", "sqlite"), |b| {
        b.iter(|| sqlite.latest_events(100).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bulk, durable, reads);
criterion_main!(benches);
