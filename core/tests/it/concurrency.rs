//! Readers on other threads see whole transactions or nothing of them, while a writer
//! commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

/// The membership events of `person` and the things they created in `group`, by commit
/// sequence number, from the audit trail.
fn trail(f: &Fixture, root: GroupId, group: GroupId) -> Vec<Event> {
    let mut out = Vec::new();
    let mut query = EventQuery::latest().group(group).limit(1000);
    loop {
        let page = f
            .engine
            .read(&Context::system(root), |v| v.events(&query))
            .unwrap();
        out.extend(page.items);
        match page.next {
            Some(c) => query = query.after(c),
            None => break,
        }
    }
    out.sort_by_key(|e| e.seq);
    out
}

#[test]
fn no_write_acts_on_a_membership_that_a_commit_before_it_removed() {
    // A file, so commits wait for their sync: the window between a commit and the end of
    // its call (where cached answers are forgotten) is wide, and other writers run in it.
    let dir = tempfile::tempdir().unwrap();
    let f = Arc::new(Fixture::file(&dir.path().join("t.redb")));
    let root = f.tenant("acme").id;
    let team = f.team(root).id;
    let sys = Context::system(root);
    let member = f
        .engine
        .write(&sys, |tx| {
            let p = tx.create_person(NewPerson::new("w@acme.io", "W"))?;
            tx.add_member(p.id, team, "member", &["read", "write"])?;
            Ok(p.id)
        })
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let (f, done, written) = (Arc::clone(&f), Arc::clone(&done), Arc::clone(&written));
            std::thread::spawn(move || {
                let ctx = Context::person(member, root);
                while !done.load(Ordering::Acquire) {
                    let wrote = f.engine.write(&ctx, |tx| {
                        tx.create_thing(NewThing::new("note", "n").in_group(team))
                    });
                    if wrote.is_ok() {
                        written.fetch_add(1, Ordering::AcqRel);
                    }
                }
            })
        })
        .collect();
    // 150 revocations, and more until the writers have written at all (however slow the
    // machine): a run where no write landed would check nothing.
    let mut rounds = 0;
    while rounds < 150 || written.load(Ordering::Acquire) == 0 {
        rounds += 1;
        f.engine
            .write(&sys, |tx| tx.remove_member(member, team))
            .unwrap();
        f.engine
            .write(&sys, |tx| {
                tx.add_member(member, team, "member", &["read", "write"])
            })
            .unwrap();
    }
    done.store(true, Ordering::Release);
    for w in writers {
        w.join().unwrap();
    }
    // Every thing the member created committed after a join and before the next removal.
    let mut joined = false;
    let mut created = 0;
    for e in trail(&f, root, team) {
        match e.kind.as_str() {
            kinds::USER_JOINED_GROUP => joined = true,
            kinds::USER_REMOVED_FROM_GROUP => joined = false,
            kinds::THING_CREATED if e.actor == Principal::Person(member) => {
                assert!(
                    joined,
                    "{} was created after the membership was removed",
                    e.id
                );
                created += 1;
            }
            _ => {}
        }
    }
    assert!(created > 0, "the writers never wrote");
}
