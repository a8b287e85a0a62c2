//! A profiling harness: the bulk part of the benchmark workload as a plain program, to run
//! under `perf record` (`cargo build --profile profiling -p one-benches --example
//! bulk_profile`). Prints the wall time of each phase.

#![allow(
    clippy::disallowed_methods,
    reason = "a profiling harness measures wall time"
)]

use std::time::Instant;

fn main() -> one::Result<()> {
    let (things, connections, events) = one_benches::sizes();
    let mut db = one_benches::OneDb::empty(one::Durability::Immediate)?;
    let t = Instant::now();
    db.bulk_things(things)?;
    println!("{things} things: {:?}", t.elapsed());
    let t = Instant::now();
    db.bulk_connections(connections)?;
    println!("{connections} connections: {:?}", t.elapsed());
    let t = Instant::now();
    db.bulk_events(events)?;
    println!("{events} events: {:?}", t.elapsed());
    Ok(())
}
