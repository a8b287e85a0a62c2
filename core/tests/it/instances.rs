//! Several engine instances on one PostgreSQL database, as several processes (or machines)
//! would run them: what one commits, every other sees at its next call.

use std::collections::HashSet;
use std::sync::Barrier;
use std::time::Duration;

use one_core::testkit::postgres_store;
use one_core::*;

use crate::{Fixture, json};

/// Two instances on one fresh database.
fn two_instances() -> (Fixture, Fixture) {
    let a = Fixture::on(postgres_store());
    let store = a.engine.store().another_instance().unwrap().unwrap();
    (a, Fixture::on(store))
}

#[test]
fn a_permission_revoked_on_one_instance_is_refused_on_the_other_at_its_next_call() {
    let (a, b) = two_instances();
    let g = a.tenant("acme");
    let sys = Context::system(g.id);
    let ann = a
        .engine
        .write(&sys, |tx| {
            let ann = tx.create_person(NewPerson::new("ann@example.com", "Ann"))?;
            tx.add_member(ann.id, g.id, "group_user", &["things:write"])?;
            Ok(ann.id)
        })
        .unwrap();
    let as_ann = Context::person(ann, g.id);
    // B answers, and caches the answer.
    assert!(b.engine.can(&as_ann, Permission::ThingsWrite, g.id));
    assert!(b.engine.can(&as_ann, Permission::ThingsWrite, g.id));
    b.engine
        .write(&as_ann, |tx| {
            tx.create_thing(NewThing::new("note", "allowed"))
        })
        .unwrap();
    a.engine
        .write(&sys, |tx| tx.remove_member(ann, g.id).map(drop))
        .unwrap();
    assert!(!b.engine.can(&as_ann, Permission::ThingsWrite, g.id));
    let refused = b.engine.write(&as_ann, |tx| {
        tx.create_thing(NewThing::new("note", "refused"))
    });
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn the_last_unit_of_a_quota_goes_to_exactly_one_instance() {
    let (a, b) = two_instances();
    for race in 0..20u32 {
        let g = a.tenant(&format!("race{race}"));
        let sys = Context::system(g.id);
        a.engine
            .write(&sys, |tx| {
                tx.update_group(
                    g.id,
                    GroupUpdate::default()
                        .properties(json(serde_json::json!({"limits": {"things": 1}}))),
                )
            })
            .unwrap();
        let start = Barrier::new(2);
        let won: Vec<bool> = std::thread::scope(|s| {
            let racers: Vec<_> = [&a, &b]
                .into_iter()
                .map(|f| {
                    let start = &start;
                    s.spawn(move || {
                        start.wait();
                        match f
                            .engine
                            .write(&sys, |tx| tx.create_thing(NewThing::new("doc", "last")))
                        {
                            Ok(_) => true,
                            Err(Error::QuotaExceeded { .. }) => false,
                            Err(e) => panic!("{e:?}"),
                        }
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "race {race}: {won:?}"
        );
    }
}

#[test]
fn ids_made_on_two_instances_at_once_never_collide_and_follow_commit_order() {
    let (a, b) = two_instances();
    let g = a.tenant("acme");
    let sys = Context::system(g.id);
    // Both clocks stand still at the same millisecond: only the ids' random part and
    // the stored last id keep them apart.
    let made: Vec<ThingId> = std::thread::scope(|s| {
        let writers: Vec<_> = [&a, &b, &a, &b]
            .into_iter()
            .map(|f| {
                s.spawn(move || {
                    (0..30)
                        .map(|i| {
                            f.engine
                                .write(&sys, |tx| {
                                    tx.create_thing(NewThing::new("doc", format!("d{i}")))
                                })
                                .unwrap()
                                .id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(made.iter().collect::<HashSet<_>>().len(), 120);
    // The event log, in id order, is the commit order: each commit's number grows too.
    let events = b
        .engine
        .read(&sys, |v| {
            v.events(
                &EventQuery::latest()
                    .group(g.id)
                    .kind("thing_created")
                    .limit(500),
            )
        })
        .unwrap()
        .items;
    assert_eq!(events.len(), 120);
    assert!(
        events
            .windows(2)
            .all(|w| w[0].seq > w[1].seq && w[0].id > w[1].id)
    );
}

#[test]
fn a_subscriber_on_one_instance_receives_the_other_instances_commits_in_order_and_resumes() {
    let (a, b) = two_instances();
    let g = a.tenant("acme");
    let sys = Context::system(g.id);
    let mut live = b.engine.subscribe(&sys, ChangeFilter::new()).unwrap();
    let write = |f: &Fixture, name: String| {
        f.engine
            .write(&sys, |tx| {
                tx.create_thing(NewThing::new("doc", name.clone()))
            })
            .unwrap()
            .id
    };
    let written: Vec<ThingId> = (0..10)
        .map(|i| write(if i % 2 == 0 { &a } else { &b }, format!("n{i}")))
        .collect();
    let mut seen = Vec::new();
    while seen.len() < 10 {
        match live
            .next_timeout(&b.engine, Duration::from_secs(20))
            .unwrap()
        {
            Some(e) => seen.push(e),
            None => panic!("only {} of 10 changes arrived", seen.len()),
        }
    }
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "commit order");
    let targets: Vec<Option<Ref>> = seen.iter().map(|e| e.target).collect();
    assert_eq!(
        targets,
        written
            .iter()
            .map(|t| Some(Ref::from(*t)))
            .collect::<Vec<_>>()
    );
    // B goes away; a new instance resumes from the cursor: no gap, no repeat.
    let cursor = live.cursor();
    drop(live);
    drop(b);
    let after = write(&a, "after".into());
    let c = Fixture::on(a.engine.store().another_instance().unwrap().unwrap());
    let mut resumed = c
        .engine
        .subscribe_from(&sys, ChangeFilter::new(), cursor)
        .unwrap();
    let next = resumed
        .next_timeout(&c.engine, Duration::from_secs(20))
        .unwrap()
        .unwrap();
    assert_eq!(next.target, Some(Ref::from(after)));
    assert_eq!(resumed.try_next(&c.engine).unwrap(), None);
}

#[test]
fn rate_limits_hold_per_instance_and_call_quotas_once_counts_are_written() {
    let (a, b) = two_instances();
    let g = a.tenant("acme");
    let sys = Context::system(g.id);
    let key = a
        .engine
        .write(&sys, |tx| {
            tx.create_api_key(NewApiKey::new("k", &["read"]).rate(2, 5).monthly_calls(8))
        })
        .unwrap();
    let secret = key.secret.expose();
    let accepted = |f: &Fixture, tries: usize| {
        (0..tries)
            .filter(|_| f.engine.check_api_key(secret, None).is_ok())
            .count()
    };
    // The burst is each instance's: at one instant, each accepts exactly its burst, so
    // N instances accept at most N × burst.
    assert_eq!(accepted(&a, 20), 5);
    assert_eq!(accepted(&b, 20), 5);
    // The monthly count (8): each instance counts its own calls in memory and writes
    // them in batches, reading back the totals every instance wrote. A wrote 5, then B
    // wrote its 5 and read back 10: B refuses. A has not read B's yet: it admits up to 3
    // more (the bound: the calls of others it has not read), then its next write reads 13.
    a.engine.flush_meters().unwrap();
    b.engine.flush_meters().unwrap();
    a.clock.advance(10_000);
    b.clock.advance(10_000);
    assert_eq!(accepted(&b, 5), 0);
    assert_eq!(accepted(&a, 5), 3);
    a.engine.flush_meters().unwrap();
    a.clock.advance(10_000);
    assert_eq!(accepted(&a, 5), 0);
    assert_eq!(accepted(&b, 5), 0);
}

#[test]
fn writers_of_different_tenants_commit_at_once_and_one_tenants_take_turns() {
    let (a, b) = two_instances();
    let (acme, globex) = (a.tenant("acme"), a.tenant("globex"));
    let (at_acme, at_globex) = (Context::system(acme.id), Context::system(globex.id));
    let (inside, release) = (Barrier::new(2), Barrier::new(2));
    let b = &b;
    std::thread::scope(|s| {
        let held = s.spawn(|| {
            let mut runs = 0;
            a.engine
                .write(&at_acme, |tx| {
                    runs += 1;
                    let t = tx.create_thing(NewThing::new("note", "held"))?;
                    // A run after the first (the transaction met a conflict at commit)
                    // does not wait again.
                    if runs == 1 {
                        inside.wait();
                        release.wait();
                    }
                    Ok((t.id, tx.seq()?))
                })
                .unwrap()
        });
        inside.wait();
        // Acme's writer is inside its transaction. Another tenant's writer, on the other
        // instance, does not wait for it ...
        let (done, finished) = std::sync::mpsc::channel();
        let other = s.spawn(move || {
            let r = b.engine.write(&at_globex, |tx| {
                tx.create_thing(NewThing::new("note", "beside"))
                    .map(|t| t.id)
            });
            let _ = done.send(());
            r
        });
        let waited = finished.recv_timeout(Duration::from_secs(120));
        // ... while one of acme's does: it commits after the held one.
        let (queued_tx, queued) = std::sync::mpsc::channel();
        let same = s.spawn(move || {
            let r = b.engine.write(&at_acme, |tx| {
                let t = tx.create_thing(NewThing::new("note", "after"))?;
                Ok((t.id, tx.seq()?))
            });
            let _ = queued_tx.send(());
            r
        });
        let overtook = queued.recv_timeout(Duration::from_millis(300)).is_ok();
        release.wait();
        assert!(waited.is_ok(), "another tenant's commit waited for acme's");
        other.join().unwrap().unwrap();
        let (first, first_seq) = held.join().unwrap();
        let (second, second_seq) = same.join().unwrap().unwrap();
        assert!(
            !overtook,
            "acme's second writer committed inside the first's turn"
        );
        // Acme numbers its own commits, and its ids follow their order (the held
        // transaction commits first unless it had to run again).
        assert_eq!(first_seq.abs_diff(second_seq), 1);
        assert_eq!(first < second, first_seq < second_seq);
    });
}

#[test]
fn a_transaction_run_again_leaves_nothing_of_a_tenant_only_its_first_run_made() {
    let (a, b) = two_instances();
    let acme = a.tenant("acme");
    let (inside, release) = (Barrier::new(2), Barrier::new(2));
    std::thread::scope(|s| {
        // The other instance holds the directory's turn (a domain is a directory entry).
        let held = s.spawn(|| {
            let mut runs = 0;
            b.engine.write(&Context::system(acme.id), |tx| {
                runs += 1;
                let patch = GroupUpdate::default()
                    .properties(json(serde_json::json!({"domain": "acme.example"})));
                tx.update_group(acme.id, patch)?;
                if runs == 1 {
                    inside.wait();
                    release.wait();
                }
                Ok(())
            })
        });
        inside.wait();
        // A new tenant's first run makes its id and meets the directory's turn held: it
        // runs again, with a new id, once the turn is free.
        let made = s.spawn(|| {
            a.engine.admin().create_root_group(NewGroup::new(
                GroupType::Business,
                "Globex",
                "globex",
            ))
        });
        // Waits (at most about a minute) for that first run to have met the turn.
        for _ in 0..12_000 {
            if a.engine.store().reruns() > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        release.wait();
        held.join().unwrap().unwrap();
        made.join().unwrap().unwrap();
    });
    assert!(
        a.engine.store().reruns() > 0,
        "the new tenant's write never ran again"
    );
    let report = a.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
}
