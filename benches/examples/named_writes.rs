//! What maintaining the text index costs a write: things with names of 3 to 7 words
//! (Zipf words of a 20,000-word vocabulary) created in bulk (transactions of 1,000) and
//! one by one (each its own durable transaction), on a database file with the default
//! durability; each run twice, alternately, on a fresh database whose `product` type
//! declares `name` a text field and on one whose type declares nothing. The upkeep thread
//! runs as in an application (`ONE_UPKEEP=off` stops it: writers then do every merge of
//! the text index themselves).
//!
//! ```sh
//! cargo run --release -p one-benches --example named_writes -- 100000 2000
//! #                                                     bulk things, single creates
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "benchmarks measure wall-clock time"
)]

use std::time::Instant;

use one::*;
use one_benches::Rng;
use one_benches::corpus::{texts, vocabulary};
use one_benches::timing::{report, timed_each};

fn main() {
    let [bulk, singles] = one_benches::numeric_args([100_000, 2_000]);
    let mut rng = Rng::new(0x7e57);
    let words = vocabulary(20_000, &mut rng);
    let names = texts(bulk + singles, 3, 7, &words, &mut rng);
    for indexed in [false, true, false, true] {
        run(&names, bulk, singles, indexed);
    }
}

/// One database: the same writes, with the type's names in the text index or not.
fn run(names: &[String], bulk: usize, singles: usize, indexed: bool) {
    let dir = tempfile::tempdir().unwrap();
    // The upkeep thread as an application has it (on, by default) unless
    // `ONE_UPKEEP=off`: it takes the text index's large merges off the writer.
    let upkeep = match std::env::var("ONE_UPKEEP").as_deref() {
        Ok("off") => None,
        _ => Some(KNOWLEDGE_UPKEEP_INTERVAL),
    };
    let db = Ontology::builder()
        .knowledge_upkeep(upkeep)
        .open(dir.path().join("one.redb"))
        .unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
        .unwrap();
    if indexed {
        db.admin().create_text_index("product", "name").unwrap();
    }
    let label = if indexed {
        "names indexed"
    } else {
        "not indexed"
    };
    let ctx = Context::system(root.id);
    let started = Instant::now();
    for batch in names[..bulk].chunks(1000) {
        db.write(&ctx, |tx| {
            for n in batch {
                tx.create_thing(NewThing::new("product", n.as_str()))?;
            }
            Ok(())
        })
        .unwrap();
    }
    let took = started.elapsed();
    println!(
        "{label:<14} bulk create, 1,000 a transaction: {:.0} things/s",
        bulk as f64 / took.as_secs_f64()
    );
    let rest = &names[bulk..];
    let samples = timed_each(singles, |i| {
        db.write(&ctx, |tx| {
            tx.create_thing(NewThing::new("product", rest[i].as_str()))
        })
        .unwrap();
    });
    report(
        &format!("{label:<14} single create, own transaction"),
        samples,
    );
}
