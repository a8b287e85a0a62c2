//! Bytes on disk for the same data, ONE against SQLite: the benchmark workload (things,
//! connections, events; `ONE_BENCH_SCALE` divides the sizes) loaded into both, then ONE's
//! file compacted (`Builder::compact_on_open`). Also prints the key and value bytes of
//! each section of ONE's key space, before redb's pages.
//!
//! ```sh
//! cargo run --release -p one-benches --features sqlite --example space
//! ```
//!
//! ONE: default options (durable commits through the commit log), each phase one
//! transaction; its size is the database file plus the commit log. SQLite: the same rows
//! with the audit events ONE writes for each thing and connection (`bulk_things_audited`,
//! `bulk_connections_audited`), and the rows alone; WAL checkpointed into the file before
//! measuring.

use one::{Durability, Ontology};
use one_benches::{OneDb, sizes};

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn main() -> one::Result<()> {
    let (things, connections, events) = sizes();
    let records = (things + connections + events) as u64;
    println!("{things} things, {connections} connections, {events} events");

    let mut one = OneDb::empty(Durability::Immediate)?;
    one.bulk_things(things)?;
    one.bulk_connections(connections)?;
    one.bulk_events(events)?;
    let path = one.path.clone();
    let log = one_storage::log_path(&path);
    let on_disk = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let folder = one.close()?;
    let loaded = on_disk(&path) + on_disk(&log);
    print_sections(&path).expect("reading the sections");
    let reopened = Ontology::builder().compact_on_open(true).open(&path)?;
    reopened.close()?;
    let compacted = on_disk(&path) + on_disk(&log);

    let sizes = [("ONE, as loaded", loaded), ("ONE, compacted", compacted)]
        .into_iter()
        .chain(sqlite_bytes(things, connections, events));
    for (name, bytes) in sizes {
        println!(
            "{name:<24} {:>10}  {:>6.0} bytes/record",
            mib(bytes),
            bytes as f64 / records as f64
        );
    }
    drop(folder);
    Ok(())
}

/// The stored key and value bytes of each section of the file (the tag after a tenant's
/// 18-byte prefix, or the first two bytes elsewhere): what the records weigh before
/// redb's pages.
fn print_sections(path: &std::path::Path) -> std::io::Result<()> {
    let io = |e: one_storage::StorageError| std::io::Error::other(e.to_string());
    use one_storage::{Direction, Flow, KeyRange, KvRead, Store, StoreOptions};
    use std::collections::BTreeMap;
    let store = Store::open_read_only(path, &StoreOptions::default()).map_err(io)?;
    let snapshot = store.read().map_err(io)?;
    let mut sections: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    snapshot
        .scan(&KeyRange::prefix(&[]), Direction::Forward, |k, v| {
            let tag = if k.first() == Some(&b'T') && k.len() > 18 {
                format!("T env {} '{}'", k[17], k[18] as char)
            } else {
                String::from_utf8_lossy(&k[..k.len().min(2)]).into_owned()
            };
            let e = sections.entry(tag).or_default();
            e.0 += 1;
            e.1 += k.len() as u64;
            e.2 += v.len() as u64;
            Ok::<_, one_storage::StorageError>(Flow::Continue(()))
        })
        .map_err(io)?;
    let (mut keys, mut values) = (0, 0);
    println!(
        "{:<14} {:>9} {:>12} {:>12} {:>8}",
        "section", "entries", "key bytes", "value bytes", "per entry"
    );
    for (tag, (n, k, v)) in &sections {
        keys += k;
        values += v;
        println!(
            "{tag:<14} {n:>9} {k:>12} {v:>12} {:>8.0}",
            (k + v) as f64 / *n as f64
        );
    }
    println!(
        "stored bytes: {} (keys {}, values {})",
        mib(keys + values),
        mib(keys),
        mib(values)
    );
    Ok(())
}

/// SQLite's bytes for the same rows (with the `sqlite` feature): with the audit events ONE
/// writes for each thing and connection (the same data), and without them.
#[cfg(feature = "sqlite")]
fn sqlite_bytes(things: usize, connections: usize, events: usize) -> Vec<(&'static str, u64)> {
    [("SQLite (audited)", true), ("SQLite (rows alone)", false)]
        .into_iter()
        .map(|(name, audited)| {
            let mut lite = one_benches::sqlite::SqliteDb::empty().expect("sqlite");
            if audited {
                lite.bulk_things_audited(things).expect("sqlite things");
                lite.bulk_connections_audited(connections)
                    .expect("sqlite connections");
            } else {
                lite.bulk_things(things).expect("sqlite things");
                lite.bulk_connections(connections)
                    .expect("sqlite connections");
            }
            lite.bulk_events(events).expect("sqlite events");
            (name, lite.bytes_on_disk().expect("sqlite size"))
        })
        .collect()
}

#[cfg(not(feature = "sqlite"))]
fn sqlite_bytes(_: usize, _: usize, _: usize) -> Vec<(&'static str, u64)> {
    Vec::new()
}
