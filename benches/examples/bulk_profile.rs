#![allow(missing_docs, clippy::disallowed_methods)]
fn main() {
    let mut db = one_benches::OneDb::empty(one::Durability::Immediate).unwrap();
    let t = std::time::Instant::now();
    db.bulk_things(200_000).unwrap();
    println!("things: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    db.bulk_connections(200_000).unwrap();
    println!("connections: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    db.bulk_events(200_000).unwrap();
    println!("events: {:?}", t.elapsed());
}
