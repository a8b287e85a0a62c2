//! Readers on other threads see whole transactions or nothing of them, while a writer
//! commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use one_core::*;

use crate::Fixture;

#[test]
fn concurrent_readers_never_see_half_a_transaction() {
    let f = Arc::new(Fixture::new());
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (f, done) = (Arc::clone(&f), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut seen = 0;
                while !done.load(Ordering::Acquire) {
                    let (things, counted, events) = f
                        .engine
                        .read(&ctx, |v| {
                            let things = v
                                .things(&ThingQuery::of_type("item").limit(1000))?
                                .items
                                .len();
                            let counted = v.counts(ctx.group())?.things;
                            let events = v
                                .events(
                                    &EventQuery::latest().kind(kinds::THING_CREATED).limit(1000),
                                )?
                                .items
                                .len();
                            Ok((things, counted, events))
                        })
                        .unwrap();
                    assert_eq!(things % 10, 0, "saw part of a transaction");
                    assert_eq!(
                        things as u64, counted,
                        "counter and index disagree in one snapshot"
                    );
                    assert_eq!(things, events, "a thing without its event, or the reverse");
                    assert!(things >= seen, "a later read went back in time");
                    seen = things;
                }
                seen
            })
        })
        .collect();
    for batch in 0..30 {
        f.engine
            .write(&ctx, |tx| {
                for i in 0..10 {
                    tx.create_thing(NewThing::new("item", format!("{batch}-{i}")))?;
                }
                Ok(())
            })
            .unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() <= 300);
    }
    let last = f.engine.read(&ctx, |v| v.counts(ctx.group())).unwrap();
    assert_eq!(last.things, 300);
}
