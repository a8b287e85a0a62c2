//! The records workload on PostgreSQL beside the embedded redb file, in one run: durable
//! creates of things and connections, reads, event lists and permission checks, by one
//! caller (p50/p99) and by 8 writer threads; then durable creates with 1, 2 and 4 engine
//! instances on one PostgreSQL database (8 writer threads each), all in one tenant (whose
//! writers take turns) and spread over 8 tenants (whose writers do not wait for each
//! other); and bytes per record.
//!
//! ```sh
//! .ci/postgres    # a local PostgreSQL server, role one/one, database one_test
//! cargo run --release -p one-benches --example postgres
//! ```
//!
//! Both backends get ONE's defaults: durable commits (redb: commit log synced; PostgreSQL
//! `synchronous_commit = on`, the server's default, over TCP on loopback). PostgreSQL's
//! settings are the Debian package's (shared_buffers 128 MB); the server runs on the same
//! two cores as the benchmark. `ONE_TEST_POSTGRES` points it at another server.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]

use std::sync::Arc;
use std::time::Instant;

use one::*;
use one_benches::timing::{report, timed_each};

const CALLS: usize = 1_000;
const THREADS: usize = 8;
const PER_THREAD: usize = 150;

/// Durable creates by `THREADS` threads on each of `dbs` at once, thread `t` writing as
/// `ctxs[t % ctxs.len()]`: creates per second, and how many transactions ran again after
/// a conflict.
fn concurrent_creates(dbs: &[Arc<Ontology>], ctxs: &[Context]) -> (f64, u64) {
    let reruns = || -> u64 { dbs.iter().map(|db| db.engine().store().reruns()).sum() };
    let before = reruns();
    let started = Instant::now();
    std::thread::scope(|s| {
        for db in dbs {
            for t in 0..THREADS {
                let (db, ctx) = (Arc::clone(db), ctxs[t % ctxs.len()]);
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        db.write(&ctx, |tx| {
                            tx.create_thing(NewThing::new("item", format!("w{t}.{i}")))
                        })
                        .unwrap();
                    }
                });
            }
        }
    });
    let rate = (dbs.len() * THREADS * PER_THREAD) as f64 / started.elapsed().as_secs_f64();
    (rate, reruns() - before)
}

/// The workload on `db`; returns the tenant's context.
fn workload(backend: &str, db: &Ontology) -> Context {
    let g = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Bench", "bench"))
        .unwrap();
    let sys = Context::system(g.id);
    let ann = db
        .write(&sys, |tx| {
            let ann = tx.create_person(NewPerson::new("ann@example.com", "Ann"))?;
            tx.add_member(ann.id, g.id, "group_user", &["things:read", "things:write"])?;
            Ok(ann.id)
        })
        .unwrap();
    let mut things = Vec::new();
    report(
        &format!("{backend:<9} create thing (durable, 1 caller)"),
        timed_each(CALLS, |i| {
            let t = db
                .write(&sys, |tx| {
                    tx.create_thing(NewThing::new("item", format!("t{i}")).property("n", i as i64))
                })
                .unwrap();
            things.push(t.id);
        }),
    );
    report(
        &format!("{backend:<9} create connection (durable)"),
        timed_each(CALLS, |i| {
            let (a, b) = (things[i], things[(i * 7 + 1) % things.len()]);
            db.write(&sys, |tx| tx.connect(NewConnection::new(a, "links", b)))
                .unwrap();
        }),
    );
    report(
        &format!("{backend:<9} get thing"),
        timed_each(CALLS, |i| {
            db.read(&sys, |v| v.get_thing(things[i])).unwrap();
        }),
    );
    report(
        &format!("{backend:<9} list 20 things of a type"),
        timed_each(CALLS / 4, |_| {
            db.read(&sys, |v| v.things(&ThingQuery::of_type("item").limit(20)))
                .unwrap();
        }),
    );
    report(
        &format!("{backend:<9} latest 20 events"),
        timed_each(CALLS / 4, |_| {
            db.read(&sys, |v| v.events(&EventQuery::latest().limit(20)))
                .unwrap();
        }),
    );
    let as_ann = Context::person(ann, g.id);
    report(
        &format!("{backend:<9} permission check (person)"),
        timed_each(CALLS, |_| {
            assert!(db.engine().can(&as_ann, Permission::ThingsWrite, g.id));
        }),
    );
    sys
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.redb");
    let redb = Arc::new(Ontology::open(&path).unwrap());
    let ctx = workload("redb", &redb);
    println!(
        "redb      8 writers, durable creates        {:>8.0} ops/s",
        concurrent_creates(&[Arc::clone(&redb)], &[ctx]).0
    );
    let records = redb.admin().stats().unwrap();
    drop(redb);
    let file_bytes = std::fs::metadata(&path).map_or(0, |m| m.len())
        + std::fs::metadata(one_storage::log_path(&path)).map_or(0, |m| m.len());

    let scratch = one_storage::Store::scratch(
        &one_storage::test_server(),
        &one_storage::StoreOptions::default(),
    )
    .expect("a PostgreSQL server (run .ci/postgres, or set ONE_TEST_POSTGRES)");
    let location = format!(
        "{} options=-csearch_path={}",
        one_storage::test_server(),
        scratch.schema().unwrap()
    );
    let open = || Arc::new(Ontology::builder().connect(&location).unwrap());
    let pg = open();
    let ctx = workload("postgres", &pg);
    let tenants: Vec<Context> = (0..THREADS)
        .map(|t| {
            let g = pg
                .admin()
                .create_root_group(NewGroup::new(
                    GroupType::Business,
                    format!("Writers {t}"),
                    format!("writers-{t}"),
                ))
                .unwrap();
            Context::system(g.id)
        })
        .collect();
    for instances in [1, 2, 4] {
        let dbs: Vec<Arc<Ontology>> = (0..instances)
            .map(|i| if i == 0 { Arc::clone(&pg) } else { open() })
            .collect();
        for (what, ctxs) in [("one tenant", &[ctx][..]), ("8 tenants", &tenants)] {
            let (rate, reruns) = concurrent_creates(&dbs, ctxs);
            println!(
                "postgres  {instances} instance(s) x 8 writers, {what:<10} {rate:>8.0} ops/s  \
                 ({reruns} transactions ran again)"
            );
        }
    }
    let pg_records = pg.admin().stats().unwrap();
    let per = |bytes: u64, s: &Stats| {
        let n = s.live.things + s.live.connections + s.live.events + s.live.people;
        (n, bytes as f64 / n.max(1) as f64)
    };
    let (n, b) = per(file_bytes, &records);
    println!(
        "redb      bytes per record (file + log)   {b:>8.0}  ({n} records, {file_bytes} bytes)"
    );
    let pg_bytes = pg_table_bytes(&location);
    let (n, b) = per(pg_bytes, &pg_records);
    println!(
        "postgres  bytes per record (table + index + toast) {b:>8.0}  ({n} records, {pg_bytes} bytes)"
    );
    drop(pg);
    drop(scratch);
}

/// `pg_total_relation_size` of ONE's table, through `psql` (the benchmark has no SQL
/// client of its own).
fn pg_table_bytes(location: &str) -> u64 {
    let out = std::process::Command::new("psql")
        .args([location, "-qtAc", "SELECT pg_total_relation_size('one_kv')"])
        .env("PGPASSWORD", "one")
        .output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}
