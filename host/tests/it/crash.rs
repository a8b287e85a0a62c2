//! Crash safety with real processes: a child writes transactions to a database file and
//! prints each one it has seen committed; the parent kills it with SIGKILL at a random
//! moment, reopens the file (applying its commit log), and checks that every
//! acknowledged transaction is fully there, that the one in flight is there entirely or not at all, and that
//! [`Engine::check`] finds nothing wrong. Between transactions the child also rebuilds the
//! vector graphs and (with feature `wasm`) installs and removes a plugin, and one child in
//! three closes the file after its first batch and reopens it compacting, so kills land
//! in those too. Beside the batches, [`SIDE_WRITERS`] threads write small transactions of
//! their own at the same time, so kills also land while commits share a batch of the
//! page file (queued, appended, synced, not yet committed to redb).
//!
//! The same test runs on PostgreSQL: the children are instances of the engine on a
//! scratch database, killed while they commit.
//!
//! `ONE_CRASH_ROUNDS` sets the number of kills (default 20, 10 on PostgreSQL);
//! `fuzz/crash.sh` runs 1,000. The child is this same test binary, started with
//! `ONE_CRASH_CHILD` set to the database (a file's path, or a PostgreSQL connection
//! string).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use one::*;

/// What the child prints, followed by a batch number, once the batch has committed.
const ACK: &str = "@ack ";

/// What the child prints, followed by a side writer's number and its transaction's, once
/// that transaction has committed.
const SIDE: &str = "@side ";

/// Threads of the child writing their own transactions beside the batches.
const SIDE_WRITERS: u64 = 3;

/// What the child acknowledged.
#[derive(Debug, Clone, Copy)]
enum Acked {
    /// Batch `i`.
    Batch(u64),
    /// Transaction `n` of side writer `w`.
    Side(u64, u64),
}

/// How many things batch `i` creates (1 to 5): both processes derive it from `i`.
fn batch_size(i: u64) -> u64 {
    1 + (i.wrapping_mul(7919) >> 3) % 5
}

/// Whether batch `i` is followed by a rebuild of the vector graphs.
fn compacts_after(i: u64) -> bool {
    i % 7 == 3
}

/// Whether batch `i` installs the plugin (or removes it, if installed).
fn toggles_plugin(i: u64) -> bool {
    cfg!(feature = "wasm") && i % 5 == 2
}

/// Whether the child that starts at batch `start` closes the file after that batch and
/// reopens it compacting (the parent kills after the first acknowledgement, so the kill
/// may land in the close, the compaction or the reopening).
fn reopens_compacting(start: u64) -> bool {
    start % 3 == 1
}

/// Whether a database location is a PostgreSQL connection string rather than a path.
fn is_postgres(location: &str) -> bool {
    location.starts_with("host=")
}

fn open(location: &str, compact: bool) -> Ontology {
    // A small log: kills land in checkpoints and in the log's restarts as well as in
    // appends, syncs and the commits to the page file.
    let builder = Ontology::builder()
        .compact_on_open(compact)
        .checkpoint_after(16 * 1024)
        .knowledge_index(KnowledgeIndexConfig {
            min_vectors: 8,
            ..KnowledgeIndexConfig::default()
        });
    #[cfg(feature = "wasm")]
    let builder = builder.wasm_plugins(wasm::Limits::default()).unwrap();
    if is_postgres(location) {
        builder.connect(location).unwrap()
    } else {
        builder.open(location).unwrap()
    }
}

fn tenant(db: &Ontology) -> Context {
    let root = db.admin().root_groups().unwrap().remove(0);
    Context::system(root.id)
}

/// Batch `i`, in one transaction: its things (indexed by `batch`), connections between
/// them, a knowledge chunk, and every fourth batch an update of an older thing and the
/// deletion of an older chunk.
fn write_batch(db: &Ontology, ctx: &Context, i: u64) -> Result<()> {
    db.write(ctx, |tx| {
        let mut first = None;
        for n in 0..batch_size(i) {
            let t = tx.create_thing(
                NewThing::new("item", format!("item {i}.{n}"))
                    .property("batch", i as i64)
                    .property("n", n as i64),
            )?;
            match first {
                None => first = Some(t.id),
                Some(f) => {
                    tx.connect(NewConnection::new(f, "next", t.id))?;
                }
            }
        }
        tx.create_knowledge(
            NewKnowledge::new(format!("batch {i} of the crash test"))
                .labels(&[format!("b{}", i % 3)]),
        )?;
        if i.is_multiple_of(4) && i > 0 {
            let older = tx.view().things(&ThingQuery::of_type("item").limit(1))?;
            if let Some(t) = older.items.first() {
                tx.update_thing(t.id, ThingUpdate::default().property("touched", i as i64))?;
            }
            let chunks = tx
                .view()
                .query_knowledge(&KnowledgeQuery::text("batch").k(1))?;
            if let Some(hit) = chunks.first() {
                tx.delete_knowledge(hit.knowledge.id)?;
            }
        }
        Ok(())
    })
}

#[cfg(feature = "wasm")]
fn toggle_plugin(db: &Ontology, ctx: &Context) -> Result<()> {
    const MINIMAL: &str = include_str!("../../../plugins/examples/minimal.wat");
    if db.read(ctx, |v| v.plugins())?.is_empty() {
        db.engine()
            .install_plugin(ctx, &wat::parse_str(MINIMAL).unwrap())
            .map(drop)
    } else {
        db.engine().uninstall_plugin(ctx, "minimal")
    }
}

/// The child: writes batches from `start` on, printing `@ack <i>` after each commit,
/// and, once past its first batch, side transactions from `sides` on (one start per side
/// writer).
fn child(location: &str, start: u64, sides: &[u64]) {
    let mut db = open(location, false);
    let ctx = tenant(&db);
    for i in start..start + 10_000 {
        if i == start + 1 {
            // Past the first batch (and the reopening that may follow it): the side
            // writers join, and batches go on beside them.
            std::thread::scope(|s| {
                for (w, &from) in sides.iter().enumerate() {
                    let (db, ctx) = (&db, &ctx);
                    s.spawn(move || {
                        for n in from.. {
                            if let Err(e) = write_side(db, ctx, w as u64, n) {
                                // Not a kill: the parent reports the exit and this.
                                eprintln!("side writer {w} failed: {e}");
                                std::process::exit(3);
                            }
                            println!("{SIDE}{w} {n}");
                        }
                    });
                }
                for i in i..start + 10_000 {
                    write_or_toggle(&db, &ctx, i);
                }
            });
            return;
        }
        write_or_toggle(&db, &ctx, i);
        if i == start && reopens_compacting(start) {
            db.close().unwrap();
            db = open(location, true);
        }
    }
}

/// Batch `i` (or the plugin toggle in its place), acknowledged, then the graph rebuild
/// that follows it if any.
fn write_or_toggle(db: &Ontology, ctx: &Context, i: u64) {
    if toggles_plugin(i) {
        #[cfg(feature = "wasm")]
        toggle_plugin(db, ctx).unwrap();
    } else {
        write_batch(db, ctx, i).unwrap();
    }
    println!("{ACK}{i}");
    if compacts_after(i) {
        db.admin().compact_knowledge().unwrap();
    }
}

/// Side transaction `n` of writer `w`: two things and a connection between them.
fn write_side(db: &Ontology, ctx: &Context, w: u64, n: u64) -> Result<()> {
    db.write(ctx, |tx| {
        let side = |k: i64| {
            NewThing::new("side", format!("side {w}.{n}.{k}"))
                .property("writer", w as i64)
                .property("n", n as i64)
        };
        let a = tx.create_thing(side(0))?;
        let b = tx.create_thing(side(1))?;
        tx.connect(NewConnection::new(a.id, "pair", b.id))?;
        Ok(())
    })
}

/// The number of things of each side transaction, by writer and transaction.
fn side_things(db: &Ontology, ctx: &Context) -> BTreeMap<(u64, u64), u64> {
    let mut out = BTreeMap::new();
    let mut query = ThingQuery::of_type("side").limit(1000);
    loop {
        let page = db.read(ctx, |v| v.things(&query)).unwrap();
        for t in &page.items {
            let at = |path| t.properties.get_path(path).and_then(Value::as_i64).unwrap() as u64;
            *out.entry((at("writer"), at("n"))).or_default() += 1;
        }
        match page.next {
            Some(c) => query = query.after(c),
            None => return out,
        }
    }
}

/// The number of things of each batch in the database.
fn batches(db: &Ontology, ctx: &Context) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    let mut query = ThingQuery::of_type("item").limit(1000);
    loop {
        let page = db.read(ctx, |v| v.things(&query)).unwrap();
        for t in &page.items {
            let b = t
                .properties
                .get_path("batch")
                .and_then(Value::as_i64)
                .unwrap();
            *out.entry(b as u64).or_default() += 1;
        }
        match page.next {
            Some(c) => query = query.after(c),
            None => return out,
        }
    }
}

/// A small deterministic generator for the kill delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn acknowledged_transactions_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    kill_children_while_they_commit(
        "crash::acknowledged_transactions_survive_sigkill",
        path.to_str().unwrap(),
        20,
    );
}

#[test]
fn acknowledged_transactions_survive_sigkill_on_postgres() {
    // The database lives as long as this scratch store: a schema of its own.
    let scratch = one_core::testkit::postgres_store();
    let schema = scratch.schema().unwrap();
    let location = format!(
        "{} options=-csearch_path={schema}",
        one_storage::test_server()
    );
    kill_children_while_they_commit(
        "crash::acknowledged_transactions_survive_sigkill_on_postgres",
        &location,
        10,
    );
    drop(scratch);
}

/// The crash test of the database at `location` (this test, `test`, is the child).
fn kill_children_while_they_commit(test: &str, location: &str, default_rounds: u64) {
    if let Ok(location) = std::env::var("ONE_CRASH_CHILD") {
        let start = std::env::var("ONE_CRASH_START").unwrap().parse().unwrap();
        let sides: Vec<u64> = std::env::var("ONE_CRASH_SIDES")
            .unwrap()
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        return child(&location, start, &sides);
    }
    let rounds: u64 = std::env::var("ONE_CRASH_ROUNDS")
        .map(|r| r.parse().expect("ONE_CRASH_ROUNDS is a number"))
        .unwrap_or(default_rounds);
    let path = location;
    {
        let db = open(path, false);
        db.admin()
            .create_root_group(NewGroup::new(GroupType::Business, "Crash", "crash"))
            .unwrap();
        db.admin().create_index("item", "properties.batch").unwrap();
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut next = 0u64;
    let mut next_sides = vec![0u64; SIDE_WRITERS as usize];
    let (mut acked_total, mut sides_total, mut sides_landed) = (0, 0, 0);
    let mut in_flight_landed = 0;
    let mut plugin_installed = false;
    // Kills that may have landed in a graph rebuild, or in a plugin install or removal.
    let (mut during_rebuild, mut during_toggle) = (0, 0);
    // Kills of a child that reopens compacting after its first batch, before its second
    // was acknowledged: in the close, the compaction, the reopening or the next batch.
    let mut during_reopen = 0;
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env("ONE_CRASH_CHILD", path)
            .env("ONE_CRASH_START", next.to_string())
            .env(
                "ONE_CRASH_SIDES",
                next_sides
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest may print the test's name on the same line before the first.
                if let Some((_, i)) = line.rsplit_once(ACK) {
                    tx.send(Acked::Batch(i.parse().unwrap())).ok();
                } else if let Some((_, wn)) = line.rsplit_once(SIDE) {
                    let (w, n) = wn.split_once(' ').unwrap();
                    tx.send(Acked::Side(w.parse().unwrap(), n.parse().unwrap()))
                        .ok();
                }
            }
        });
        let mut child_stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut child_stderr, &mut text).ok();
            text
        });
        // Kill at a random moment once the child is writing: after 0 to 60 ms.
        let first = rx.recv_timeout(Duration::from_secs(120));
        if first.is_err() {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "round {round}: the child never acknowledged: {}",
                errors.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let stderr = errors.join().unwrap();
        // The child must have died of the kill, not of an error of its own.
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the child failed: {stderr}"
        );
        let all: Vec<Acked> = first.into_iter().chain(rx.try_iter()).collect();
        let acked: Vec<u64> = all
            .iter()
            .filter_map(|a| match a {
                Acked::Batch(i) => Some(*i),
                Acked::Side(..) => None,
            })
            .collect();
        let last_acked = *acked.last().unwrap();
        during_rebuild += usize::from(compacts_after(last_acked));
        during_toggle += usize::from(toggles_plugin(last_acked + 1));
        during_reopen += usize::from(reopens_compacting(acked[0]) && last_acked == acked[0]);
        acked_total += acked.len();

        let db = open(path, false);
        let ctx = tenant(&db);
        let report = db.engine().check().unwrap();
        assert!(report.is_ok(), "round {round}: {:#?}", report.problems);
        // Search (through whatever graphs a killed rebuild left) finds only live chunks.
        let hits = db
            .read(&ctx, |v| {
                v.query_knowledge(&KnowledgeQuery::text("batch of the crash test").k(50))
            })
            .unwrap();
        for hit in &hits {
            db.read(&ctx, |v| v.get_knowledge(hit.knowledge.id))
                .unwrap_or_else(|e| panic!("round {round}: search found a missing chunk: {e}"));
        }
        let present = batches(&db, &ctx);
        for i in acked.iter().filter(|i| !toggles_plugin(**i)) {
            assert_eq!(
                present.get(i),
                Some(&batch_size(*i)),
                "round {round}: acknowledged batch {i} is not all there"
            );
        }
        for (i, n) in &present {
            assert_eq!(
                *n,
                batch_size(*i),
                "round {round}: batch {i} is partly there"
            );
            assert!(
                *i <= last_acked + 1,
                "round {round}: batch {i} was never written"
            );
        }
        // Each side writer's transactions: every acknowledged one whole, the one in
        // flight whole or absent, nothing after it.
        let sides = side_things(&db, &ctx);
        for ((w, n), count) in &sides {
            assert_eq!(*count, 2, "round {round}: side {w}.{n} is partly there");
        }
        for (w, next_side) in next_sides.iter_mut().enumerate() {
            let w = w as u64;
            let acked_side: Vec<u64> = all
                .iter()
                .filter_map(|a| match a {
                    Acked::Side(aw, n) if *aw == w => Some(*n),
                    _ => None,
                })
                .collect();
            sides_total += acked_side.len();
            for n in &acked_side {
                assert!(
                    sides.contains_key(&(w, *n)),
                    "round {round}: acknowledged side {w}.{n} is missing"
                );
            }
            let first_unacked = acked_side.last().map_or(*next_side, |n| n + 1);
            let present: Vec<u64> = sides
                .keys()
                .filter(|(sw, _)| *sw == w)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(
                present,
                (0..present.len() as u64).collect::<Vec<_>>(),
                "round {round}: side writer {w} has gaps"
            );
            let landed = present.len() as u64 > first_unacked;
            assert!(
                present.len() as u64 <= first_unacked + 1,
                "round {round}: side writer {w} has transactions never written"
            );
            sides_landed += usize::from(landed);
            *next_side = present.len() as u64;
        }
        // The one in flight (never acknowledged) may have landed: continue after it.
        let landed = present.keys().next_back().is_some_and(|i| *i > last_acked);
        in_flight_landed += usize::from(landed);
        next = last_acked + 1 + u64::from(landed || toggles_plugin(last_acked + 1));
        // Each acknowledged toggle flipped the plugin; one in flight may have flipped it too.
        let installed = !db.read(&ctx, |v| v.plugins()).unwrap().is_empty();
        let flips = acked.iter().filter(|i| toggles_plugin(**i)).count();
        let expected = plugin_installed ^ (flips % 2 == 1);
        assert!(
            installed == expected || toggles_plugin(last_acked + 1),
            "round {round}: plugin installed: {installed}, expected {expected}; acknowledged {acked:?}"
        );
        plugin_installed = installed;
        drop(db);
    }
    eprintln!(
        "{rounds} kills: {acked_total} acknowledged transactions, all present; \
         {in_flight_landed} unacknowledged ones landed whole, none in part; \
         {sides_total} acknowledged side transactions written beside them, all present, \
         {sides_landed} unacknowledged ones landed whole; \
         {during_rebuild} kills after a batch that rebuilds the graphs, \
         {during_toggle} with a plugin install or removal next, \
         {during_reopen} around a compacting reopen"
    );
}
