//! What ONE's bulk loads would cost if the engine did nothing but hand its entries to the
//! storage layer, and what a shorter format would buy: the benchmark workload's bulk
//! phases loaded into ONE (timed), then the very keys and values each phase stored
//! replayed through `one_storage::Store` (its write buffer, sorted runs into redb, the
//! commit log), one transaction per phase, beside SQLite loading the same rows with the
//! same audit events and indexes. The replay is the floor of the engine's bulk loads on
//! today's format: no validation, no records to build, no ids to issue.
//!
//! ```sh
//! cargo run --release -p one-benches --features sqlite --example storage_floor
//! ```
//!
//! Every stored record key ends with the 16-byte id of its record, and an id starts with
//! its millisecond, so an entry belongs to the phase during which its id's millisecond
//! fell and is replayed in id order (the few counter keys, which end with no id, are left
//! out: a few hundred entries). Each replay loads the three phases into one store with
//! the default options (1 GiB cache, durable commits); its size is measured as loaded and
//! after `Store::compact`.
//!
//! What-ifs replay the same entries in formats that do not exist: every 16-byte
//! id in a key (tenant, group, record, reference) replaced by a tenant-local number (4
//! bytes for the tenant and groups, 6 for records; numbered in id order, so keys sort as
//! before), values unchanged, plus one entry per record (`N <id:16>` -> its number) to
//! find a record from its public id ("short keys"); and the same with the index copies (`y`,
//! `p`, `o`, `i`, `C`) holding no value ("no copies"); and, on short keys, the audit trail
//! stored in blocks (a group's events 64 to an entry, each event index's postings 128 to
//! an entry: [`events_in_blocks`]), with the copies and without. They bound what a format
//! change could buy; the stored bytes and the files' sizes are printed beside ONE's file and
//! SQLite's for the same rows.

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark binary measures wall time"
)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use one::Durability;
use one_benches::{OneDb, sizes};
use one_storage::{Direction, Flow, KeyRange, KvRead, Store, StoreOptions};

/// Sections whose keys end with the id of their record (see `core/src/base/layout.rs`).
const RECORD_SECTIONS: &[u8] = b"tyYUpcoiCEKAG";

type Entry = (Vec<u8>, Vec<u8>);

/// The wall clock's millisecond, with a few milliseconds' margin on each side, so no id
/// issued before the call and none issued after share it.
fn now_ms() -> u128 {
    std::thread::sleep(Duration::from_millis(3));
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    std::thread::sleep(Duration::from_millis(3));
    ms
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (things, connections, events) = sizes();
    let phases = ["things", "connections", "events"];
    let mut one = OneDb::empty(Durability::Immediate)?;
    let mut bounds = vec![now_ms()];
    let mut one_times = Vec::new();
    for phase in phases {
        let t = Instant::now();
        match phase {
            "things" => one.bulk_things(things)?,
            "connections" => one.bulk_connections(connections)?,
            _ => one.bulk_events(events)?,
        }
        one_times.push(t.elapsed());
        bounds.push(now_ms());
    }
    let path = one.path.clone();
    let folder = one.close()?;
    let one_file = store_bytes(&path);

    // Each phase's entries, in creation order (by id; entries of one record keep their
    // key order).
    let mut entries: Vec<Vec<(u128, Entry)>> = vec![Vec::new(); phases.len()];
    let store = Store::open_read_only(&path, &StoreOptions::default())?;
    store
        .read()?
        .scan(&KeyRange::prefix(b"T"), Direction::Forward, |k, v| {
            if k.len() > 18 + 16 && RECORD_SECTIONS.contains(&k[18]) {
                let id = u128::from_be_bytes(k[k.len() - 16..].try_into().expect("16 bytes"));
                let ms = id >> 80;
                if let Some(p) = bounds.windows(2).position(|w| w[0] <= ms && ms < w[1]) {
                    entries[p].push((id, (k.to_vec(), v.to_vec())));
                }
            }
            Ok::<_, one_storage::StorageError>(Flow::Continue(()))
        })?;
    drop(store);

    let numbers = Numbers::of(entries.iter().flatten().map(|(_, e)| &e.0));
    let in_order: Vec<Vec<Entry>> = entries
        .into_iter()
        .map(|mut phase| {
            phase.sort_by_key(|(id, _)| *id);
            phase.into_iter().map(|(_, e)| e).collect()
        })
        .collect();
    let lite = sqlite_times(things, connections, events);

    // Each variant loads the three phases into one store, one transaction each.
    let mut rows = Vec::new();
    for variant in [
        Variant::Today,
        Variant::ShortKeys,
        Variant::NoCopies,
        Variant::EventBlocks,
        Variant::EventBlocksNoCopies,
    ] {
        let path = folder.path().join("floor.one");
        let mut store = Store::open(&path, &StoreOptions::default())?;
        let mut times = Vec::new();
        let mut stored = 0;
        for phase in &in_order {
            let mut load: Vec<Entry> = phase
                .iter()
                .flat_map(|(k, v)| variant.apply(&numbers, k, v))
                .collect();
            if matches!(variant, Variant::EventBlocks | Variant::EventBlocksNoCopies) {
                load = events_in_blocks(load);
            }
            stored += load
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>();
            let t = Instant::now();
            store.write(|tx| {
                for (k, v) in &load {
                    tx.put(k.as_slice(), v.as_slice())?;
                }
                Ok::<_, one_storage::StorageError>(())
            })?;
            times.push(t.elapsed());
        }
        let loaded = store_bytes(&path);
        store.compact()?;
        store.close()?;
        let compacted = store_bytes(&path);
        std::fs::remove_file(&path)?;
        let _ = std::fs::remove_file(one_storage::log_path(&path));
        rows.push((variant.name(), times, stored, loaded, compacted));
    }

    println!("seconds per phase (each one transaction, commit included), then bytes:");
    print!("{:<34}", "");
    for (phase, records) in phases.iter().zip([things, connections, events]) {
        print!(" {:>18}", format!("{records} {phase}"));
    }
    println!(
        " {:>11} {:>10} {:>10}",
        "stored MiB", "file MiB", "compacted"
    );
    print!("{:<34}", "ONE (the engine)");
    for t in &one_times {
        print!(" {:>18.2}", t.as_secs_f64());
    }
    println!(" {:>11} {:>10.1}", "", mib(one_file));
    for (name, times, stored, loaded, compacted) in rows {
        print!("{name:<34}");
        for t in times {
            print!(" {:>18.2}", t.as_secs_f64());
        }
        println!(
            " {:>11.1} {:>10.1} {:>10.1}",
            mib(stored),
            mib(loaded),
            mib(compacted)
        );
    }
    if let Some((times, file)) = lite {
        print!("{:<34}", "SQLite (same rows, audited)");
        for t in times {
            print!(" {:>18.2}", t.as_secs_f64());
        }
        println!(" {:>11} {:>10.1}", "", mib(file));
    }
    Ok(())
}

/// A database file's bytes with its commit log's.
fn store_bytes(path: &std::path::Path) -> u64 {
    let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    len(path) + len(&one_storage::log_path(path))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Tenant-local numbers for every 16-byte id found in the stored keys, in id order.
struct Numbers(Vec<u128>);

impl Numbers {
    fn of<'a>(keys: impl Iterator<Item = &'a Vec<u8>>) -> Self {
        let mut ids: Vec<u128> = keys
            .flat_map(|k| Parts::of(k).ids().collect::<Vec<_>>())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Self(ids)
    }

    fn number(&self, id: u128) -> u64 {
        self.0.binary_search(&id).expect("every id was collected") as u64
    }
}

/// A stored key cut where it holds ids: the section, then pieces that are either an id
/// or bytes kept as they are.
struct Parts {
    section: u8,
    env: u8,
    pieces: Vec<Piece>,
}

enum Piece {
    Tenant(u128),
    Group(u128),
    Record(u128),
    Bytes(Vec<u8>),
}

fn id_at(k: &[u8], at: usize) -> u128 {
    u128::from_be_bytes(k[at..at + 16].try_into().expect("16 bytes"))
}

impl Parts {
    /// `T <root:16> <env> <section> …` as `layout.rs` writes the record sections.
    fn of(k: &[u8]) -> Self {
        let (section, env) = (k[18], k[17]);
        let mut pieces = vec![Piece::Tenant(id_at(k, 1))];
        let end = k.len() - 16;
        let mut at = 19;
        // A leading group, for every record section but the primary records and edges.
        if !b"tcoi".contains(&section) {
            pieces.push(Piece::Group(id_at(k, at)));
            at += 16;
        }
        // Edges start with their near end (a kind byte and an id) and end, before the
        // connection id, with the far end.
        let far = if b"oi".contains(&section) {
            pieces.push(Piece::Bytes(vec![k[at]]));
            pieces.push(Piece::Record(id_at(k, at + 1)));
            at += 17;
            Some(end - 16)
        } else if section == b'G' || (section == b'A' && end - at == 17) {
            Some(end - 16)
        } else {
            None
        };
        match far {
            Some(far) => {
                pieces.push(Piece::Bytes(k[at..far].to_vec()));
                pieces.push(Piece::Record(id_at(k, far)));
            }
            None => pieces.push(Piece::Bytes(k[at..end].to_vec())),
        }
        pieces.push(Piece::Record(id_at(k, end)));
        Self {
            section,
            env,
            pieces,
        }
    }

    /// The ids the key holds, in key order (its record's last).
    fn ids(&self) -> impl Iterator<Item = u128> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Tenant(id) | Piece::Group(id) | Piece::Record(id) => Some(*id),
            Piece::Bytes(_) => None,
        })
    }
}

#[derive(Clone, Copy)]
enum Variant {
    Today,
    ShortKeys,
    NoCopies,
    EventBlocks,
    EventBlocksNoCopies,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Today => "one-storage, the same entries",
            Variant::ShortKeys => "one-storage, short keys",
            Variant::NoCopies => "one-storage, short keys, no copies",
            Variant::EventBlocks => "short keys, events in blocks",
            Variant::EventBlocksNoCopies => "… and no copies",
        }
    }

    /// The entry in this variant's format; with short keys, a primary record also gets
    /// the entry that finds its number from its public id (`N <id:16>` -> number).
    fn apply(self, numbers: &Numbers, k: &[u8], v: &[u8]) -> Vec<Entry> {
        if let Variant::Today = self {
            return vec![(k.to_vec(), v.to_vec())];
        }
        let parts = Parts::of(k);
        let mut key = vec![b'T'];
        for piece in &parts.pieces {
            match piece {
                Piece::Tenant(id) => {
                    key.extend_from_slice(&(numbers.number(*id) as u32).to_be_bytes());
                    key.extend_from_slice(&[parts.env, parts.section]);
                }
                Piece::Group(id) => {
                    key.extend_from_slice(&(numbers.number(*id) as u32).to_be_bytes())
                }
                Piece::Record(id) => key.extend_from_slice(&numbers.number(*id).to_be_bytes()[2..]),
                Piece::Bytes(b) => key.extend_from_slice(b),
            }
        }
        let copy = b"ypoiC".contains(&parts.section);
        let value = if copy && matches!(self, Variant::NoCopies | Variant::EventBlocksNoCopies) {
            Vec::new()
        } else {
            v.to_vec()
        };
        let mut out = vec![(key, value)];
        if b"tcE".contains(&parts.section) {
            let id = parts.ids().last().expect("a record key ends with its id");
            let mut by_id = out[0].0[..7].to_vec();
            by_id[6] = b'N';
            by_id.extend_from_slice(&id.to_be_bytes());
            out.push((by_id, numbers.number(id).to_be_bytes()[2..].to_vec()));
        }
        out
    }
}

/// The what-if of events in blocks, over entries in the short format (`T <tenant:4> <env>
/// <section> …`, a record number of 6 bytes at the end): a group's events, in order, 64
/// to an entry (keyed by the first; each event its number's difference from the one
/// before and its value, both lengths as varints), and each event index's postings 128 to
/// an entry (keyed by the first number; the rest as varint differences). Everything else
/// is kept as it is, the entries finding events by public id included.
fn events_in_blocks(load: Vec<Entry>) -> Vec<Entry> {
    use std::collections::BTreeMap;
    let (mut events, mut out): (Vec<Entry>, Vec<Entry>) =
        load.into_iter().partition(|(k, _)| b"EAGK".contains(&k[6]));
    events.sort();
    // Runs of entries that share everything but the trailing number.
    let mut runs: BTreeMap<Vec<u8>, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    for (k, v) in events {
        let (prefix, number) = k.split_at(k.len() - 6);
        let mut n = [0u8; 8];
        n[2..].copy_from_slice(number);
        runs.entry(prefix.to_vec())
            .or_default()
            .push((u64::from_be_bytes(n), v));
    }
    for (prefix, run) in runs {
        let per_entry = if prefix[6] == b'E' { 64 } else { 128 };
        for chunk in run.chunks(per_entry) {
            let mut key = prefix.clone();
            key.extend_from_slice(&chunk[0].0.to_be_bytes()[2..]);
            let mut value = Vec::new();
            let mut previous = chunk[0].0;
            for (number, v) in chunk {
                varint(&mut value, number - previous);
                previous = *number;
                if prefix[6] == b'E' {
                    varint(&mut value, v.len() as u64);
                    value.extend_from_slice(v);
                }
            }
            out.push((key, value));
        }
    }
    out
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// SQLite loading the same rows with the same audit events and indexes, per phase.
#[cfg(feature = "sqlite")]
fn sqlite_times(things: usize, connections: usize, events: usize) -> Option<([Duration; 3], u64)> {
    let mut lite = one_benches::sqlite::SqliteDb::empty().expect("sqlite");
    let t = Instant::now();
    lite.bulk_things_audited(things).expect("sqlite things");
    let a = t.elapsed();
    let t = Instant::now();
    lite.bulk_connections_audited(connections)
        .expect("sqlite connections");
    let b = t.elapsed();
    let t = Instant::now();
    lite.bulk_events(events).expect("sqlite events");
    let c = t.elapsed();
    Some(([a, b, c], lite.bytes_on_disk().expect("sqlite size")))
}

#[cfg(not(feature = "sqlite"))]
fn sqlite_times(_: usize, _: usize, _: usize) -> Option<([Duration; 3], u64)> {
    None
}
