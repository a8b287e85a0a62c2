//! What the robustness tools cost on a database of 100,000 things, 100,000 connections and
//! 100,000 logged events (plus the 200,000 events of their creation): the integrity check,
//! a backup, an export, and an import of that export into an empty database.
//!
//! `cargo run --release -p one-benches --example robustness`

#![allow(
    clippy::disallowed_methods,
    reason = "a measuring tool reads the wall clock"
)]

use std::time::Instant;

use one::*;
use one_benches::OneDb;

const N: usize = 100_000;

fn main() -> Result<()> {
    let mut bench = OneDb::empty(Durability::Immediate)?;
    let started = Instant::now();
    for _ in 0..10 {
        bench.bulk_things(N / 10)?;
    }
    bench.bulk_connections(N)?;
    bench.bulk_events(N)?;
    println!("built in {:.1} s", started.elapsed().as_secs_f64());
    let db = &bench.db;

    let t = Instant::now();
    let report = db.engine().check()?;
    assert!(report.is_ok(), "{:?}", report.problems);
    println!(
        "check: {:.2} s ({} records, {} entries)",
        t.elapsed().as_secs_f64(),
        report.records,
        report.entries
    );

    let dir = tempfile::tempdir().map_err(|source| Error::Io {
        action: "cannot create a temporary folder",
        path: std::env::temp_dir(),
        source,
    })?;
    let copy = dir.path().join("copy.redb");
    let t = Instant::now();
    db.engine().backup(&copy)?;
    let elapsed = t.elapsed().as_secs_f64();
    let size =
        |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!(
        "backup: {elapsed:.2} s ({:.0} MB copy of a {:.0} MB file)",
        size(&copy),
        size(&bench.path)
    );

    let mut export = Vec::new();
    let t = Instant::now();
    let exported = db
        .engine()
        .export(&Context::system(bench.root), bench.root, &mut export)?;
    println!(
        "export: {:.2} s ({} lines, {:.0} MB)",
        t.elapsed().as_secs_f64(),
        exported.lines,
        export.len() as f64 / 1e6
    );

    let target = Ontology::open(dir.path().join("imported.redb"))?;
    let t = Instant::now();
    let imported = target
        .admin()
        .import(export.as_slice(), ImportInto::NewTenant)?;
    println!(
        "import: {:.2} s ({} things, {} connections, {} events)",
        t.elapsed().as_secs_f64(),
        imported.things,
        imported.connections,
        imported.events
    );
    let mut again = Vec::new();
    target
        .engine()
        .export(&Context::system(bench.root), bench.root, &mut again)?;
    assert!(again == export, "export → import → export differs");
    println!("export of the import: identical");
    Ok(())
}
