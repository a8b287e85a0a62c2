//! I/O failures and crashes at every step of a commit leave the database in the state
//! before the transaction or after it, never in between; and a commit that returned `Ok`
//! survives a power cut.
//!
//! The disk below redb is simulated: it fails the Nth I/O call, and remembers both what
//! was written and what was synced, so a "process crash" reopens the written bytes and a
//! "power cut" reopens only the synced ones (redb's own fuzzer never simulates the latter).

use std::io;
use std::sync::{Arc, Mutex};

use one_core::*;
use one_storage::{Durability, Store, StoreOptions};

use crate::Fixture;

#[derive(Debug, Default)]
struct DiskState {
    written: Vec<u8>,
    synced: Vec<u8>,
    /// I/O calls that may still succeed; `None` means no limit.
    budget: Option<usize>,
    failed: bool,
}

#[derive(Debug, Clone, Default)]
struct Disk(Arc<Mutex<DiskState>>);

impl Disk {
    fn from_image(bytes: Vec<u8>) -> Self {
        Disk(Arc::new(Mutex::new(DiskState {
            written: bytes.clone(),
            synced: bytes,
            budget: None,
            failed: false,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DiskState> {
        self.0.lock().unwrap()
    }

    fn spend(&self) -> io::Result<()> {
        let mut s = self.state();
        match s.budget {
            Some(0) => {
                s.failed = true;
                Err(io::Error::other("injected I/O failure"))
            }
            Some(ref mut n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl redb::StorageBackend for Disk {
    fn len(&self) -> io::Result<u64> {
        Ok(self.state().written.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let s = self.state();
        let start = offset as usize;
        let src = s
            .written
            .get(start..start + out.len())
            .ok_or_else(|| io::Error::other("read past the end"))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.spend()?;
        self.state().written.resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.spend()?;
        let mut s = self.state();
        s.synced = s.written.clone();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.spend()?;
        let mut s = self.state();
        let end = offset as usize + data.len();
        if s.written.len() < end {
            s.written.resize(end, 0);
        }
        s.written[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
}

/// What a reader sees, without ids (they differ between runs).
#[derive(Debug, Clone, PartialEq)]
struct Summary {
    things: Vec<String>,
    events: Vec<String>,
    counts: Counts,
    out_edges: usize,
}

fn summary(engine: &Engine, ctx: &Context) -> Summary {
    engine
        .read(ctx, |v| {
            let things = v.things(&ThingQuery::of_type("product").limit(1000))?.items;
            let people = v.things(&ThingQuery::of_type("person").limit(1000))?.items;
            let mut out_edges = 0;
            for p in &people {
                out_edges += v
                    .connections(&ConnectionQuery::outgoing(p.id).limit(1000))?
                    .items
                    .len();
            }
            Ok(Summary {
                things: things
                    .iter()
                    .chain(&people)
                    .map(|t| t.name.clone())
                    .collect(),
                events: v
                    .events(&EventQuery::latest().limit(1000))?
                    .items
                    .into_iter()
                    .map(|e| e.kind)
                    .collect(),
                counts: v.counts(ctx.group())?,
                out_edges,
            })
        })
        .unwrap()
}

/// The committed setup, then the transaction under test.
fn setup(engine: &Engine) -> Context {
    let g = engine
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
        .unwrap();
    let ctx = Context::system(g.id);
    engine
        .write(&ctx, |tx| {
            tx.create_person(NewPerson::new("p@x.io", "P"))?;
            tx.create_thing(NewThing::new("product", "old mug").property("price", 5))
        })
        .unwrap();
    ctx
}

fn the_transaction(engine: &Engine, ctx: &Context) -> Result<()> {
    engine.write(ctx, |tx| {
        let p = tx.view().person_by_email("p@x.io")?;
        for i in 0..20 {
            let t =
                tx.create_thing(NewThing::new("product", format!("new {i}")).property("price", i))?;
            tx.connect(NewConnection::new(p.id, "purchased", t.id))?;
        }
        tx.log_event("batch_done", None, Value::map())?;
        Ok(())
    })
}

fn engine_on(disk: Disk, durability: Durability) -> Result<Engine> {
    let options = StoreOptions {
        durability,
        ..StoreOptions::default()
    };
    Ok(Fixture::on(Store::with_backend(disk, &options)?).engine)
}

#[test]
fn every_failure_point_of_a_commit_leaves_before_or_after() {
    for durability in [Durability::Immediate, Durability::ImmediateOnePhase] {
        check_every_failure_point(durability);
    }
}

fn check_every_failure_point(durability: Durability) {
    // The two legitimate states, from a run without faults.
    let clean = engine_on(Disk::default(), durability).unwrap();
    let ctx = setup(&clean);
    let before = summary(&clean, &ctx);
    the_transaction(&clean, &ctx).unwrap();
    let after = summary(&clean, &ctx);
    assert_ne!(before, after);

    let mut completed = None;
    for n in 0..400 {
        let disk = Disk::default();
        let engine = engine_on(disk.clone(), durability).unwrap();
        let ctx = setup(&engine);
        disk.state().budget = Some(n);
        let result = the_transaction(&engine, &ctx);
        let failed = disk.state().failed;
        drop(engine);
        let (written, synced) = {
            let s = disk.state();
            (s.written.clone(), s.synced.clone())
        };
        for (crash, image) in [("process crash", written), ("power cut", synced)] {
            let reopened = engine_on(Disk::from_image(image), durability)
                .unwrap_or_else(|e| panic!("n={n} {crash}: cannot reopen: {e}"));
            let state = summary(&reopened, &ctx);
            let report = reopened.check().unwrap();
            assert!(report.is_ok(), "n={n} {crash}: {:#?}", report.problems);
            assert!(
                state == before || state == after,
                "{durability:?} n={n} {crash}: a state in between: {state:?}"
            );
            if result.is_ok() {
                assert_eq!(
                    state, after,
                    "{durability:?} n={n} {crash}: a commit that returned Ok was lost"
                );
            }
        }
        if !failed {
            assert!(result.is_ok());
            completed = Some(n);
            break;
        }
        assert!(
            result.is_err(),
            "n={n}: an I/O failure must surface as an error"
        );
    }
    let points = completed.expect("the transaction never completed within the I/O budget");
    assert!(
        points >= 4,
        "only {points} I/O calls: the test no longer reaches the commit"
    );
}

#[test]
fn deferred_commits_survive_a_power_cut_once_synced() {
    let disk = Disk::default();
    let engine = engine_on(disk.clone(), Durability::Deferred).unwrap();
    let ctx = setup(&engine);
    the_transaction(&engine, &ctx).unwrap();
    let after = summary(&engine, &ctx);
    engine.sync().unwrap();
    let synced = disk.state().synced.clone();
    drop(engine);
    let reopened = engine_on(Disk::from_image(synced), Durability::Deferred).unwrap();
    assert_eq!(summary(&reopened, &ctx), after);
}
