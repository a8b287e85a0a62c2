//! The change feed: delivery in commit order, filters, permissions on every change,
//! tenant isolation, resuming from a cursor, lagging, and a stress test with writers on
//! several threads and subscribers that drop and resume at random points.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use one_core::*;

use crate::{Fixture, json};

/// Everything ready now, without waiting.
fn drain(s: &mut Subscription, engine: &Engine) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = s.try_next(engine).unwrap() {
        out.push(e);
    }
    out
}

fn create(f: &Fixture, ctx: &Context, kind: &str, name: &str) -> Thing {
    f.engine
        .write(ctx, |tx| tx.create_thing(NewThing::new(kind, name)))
        .unwrap()
}

#[test]
fn a_subscriber_gets_each_commit_in_order_from_the_next_one_on() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    create(&f, &ctx, "product", "before");
    let mut s = f.engine.subscribe(&ctx, ChangeFilter::new()).unwrap();
    assert!(s.try_next(&f.engine).unwrap().is_none());
    let a = create(&f, &ctx, "product", "a");
    let b = f
        .engine
        .write(&ctx, |tx| {
            let b = tx.create_thing(NewThing::new("product", "b"))?;
            tx.log_event("invoice_sent", Some(b.id.into()), Value::map())?;
            Ok(b)
        })
        .unwrap();
    let got = drain(&mut s, &f.engine);
    let seen: Vec<(&str, Option<Ref>)> = got.iter().map(|e| (e.kind.as_str(), e.target)).collect();
    assert_eq!(
        seen,
        [
            ("thing_created", Some(a.id.into())),
            ("thing_created", Some(b.id.into())),
            ("invoice_sent", Some(b.id.into())),
        ]
    );
    assert!(got[0].seq < got[1].seq && got[1].seq == got[2].seq);
    assert_eq!(s.cursor(), Some(got[2].id));
}

#[test]
fn filters_pick_dimensions_types_and_groups() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let child = f
        .engine
        .write(&ctx, |tx| {
            tx.create_group(
                g.id,
                NewGroup::new(GroupType::Organization, "Child", "child"),
            )
        })
        .unwrap();
    let mut products = f
        .engine
        .subscribe(
            &ctx,
            ChangeFilter::new()
                .with_subtree()
                .dimension(Dimension::Things)
                .kind("product"),
        )
        .unwrap();
    let mut subtree = f
        .engine
        .subscribe(&ctx, ChangeFilter::new().with_subtree())
        .unwrap();
    let mut child_only = f
        .engine
        .subscribe(&ctx, ChangeFilter::new().group(child.id))
        .unwrap();
    let mug = create(&f, &ctx, "product", "Mug");
    create(&f, &ctx, "invoice", "I-1");
    let in_child = create(&f, &ctx.in_group(child.id), "product", "Cup");
    f.engine
        .write(&ctx, |tx| {
            tx.connect(NewConnection::new(mug.id, "bundled_with", in_child.id))
        })
        .unwrap();

    let names = |events: Vec<Event>| -> Vec<String> {
        events
            .iter()
            .map(|e| {
                format!(
                    "{}:{}",
                    e.kind,
                    e.metadata
                        .get_path("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )
            })
            .collect()
    };
    assert_eq!(
        names(drain(&mut products, &f.engine)),
        ["thing_created:Mug", "thing_created:Cup"]
    );
    assert_eq!(
        names(drain(&mut subtree, &f.engine)),
        [
            "thing_created:Mug",
            "thing_created:I-1",
            "thing_created:Cup",
            "connection_created:"
        ]
    );
    assert_eq!(
        names(drain(&mut child_only, &f.engine)),
        ["thing_created:Cup"]
    );
}

#[test]
fn a_tenant_never_sees_another_tenants_changes() {
    let f = Fixture::new();
    let (a, b) = (f.tenant("a"), f.tenant("b"));
    let (ctx_a, ctx_b) = (Context::system(a.id), Context::system(b.id));
    let mut sa = f
        .engine
        .subscribe(&ctx_a, ChangeFilter::new().with_subtree())
        .unwrap();
    let mut from_start = f
        .engine
        .subscribe_from(&ctx_a, ChangeFilter::new().with_subtree(), None)
        .unwrap();
    create(&f, &ctx_b, "secret", "B's");
    create(&f, &ctx_b.with_env(Env::Test), "secret", "B's test");
    create(&f, &ctx_a.with_env(Env::Test), "secret", "A's test data");
    assert!(drain(&mut sa, &f.engine).is_empty());
    let replayed = drain(&mut from_start, &f.engine);
    assert!(replayed.iter().all(|e| e.group == a.id), "{replayed:?}");
    // A subscription can't name another tenant's group.
    let err = f
        .engine
        .subscribe(&ctx_a, ChangeFilter::new().group(b.id))
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. } | Error::Forbidden { .. }),
        "{err}"
    );
}

#[test]
fn permissions_apply_to_every_change_and_revoking_ends_the_stream() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let sys = Context::system(g.id);
    let viewer = f
        .engine
        .write(&sys, |tx| {
            let p = tx.create_person(NewPerson::new("viewer@acme.example", "Viewer"))?;
            tx.add_member(p.id, g.id, "viewer", &["events:read"])?;
            Ok(p)
        })
        .unwrap();
    let as_viewer = Context::person(viewer.id, g.id);
    assert!(matches!(
        f.engine
            .subscribe(&as_viewer, ChangeFilter::new().dimension(Dimension::Things)),
        Err(Error::Forbidden { .. })
    ));
    let mut s = f.engine.subscribe(&as_viewer, ChangeFilter::new()).unwrap();
    create(&f, &sys, "product", "hidden: needs things:read");
    f.engine
        .write(&sys, |tx| {
            tx.log_event("report_ready", None, json(serde_json::json!({"n": 1})))
        })
        .unwrap();
    let got = drain(&mut s, &f.engine);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, "report_ready");

    f.engine
        .write(&sys, |tx| tx.remove_member(viewer.id, g.id))
        .unwrap();
    f.engine
        .write(&sys, |tx| tx.log_event("report_ready", None, Value::map()))
        .unwrap();
    let err = s.try_next(&f.engine).unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err}");
    assert!(s.try_next(&f.engine).is_err(), "the stream stays ended");
}

#[test]
fn resuming_from_a_cursor_misses_nothing_and_repeats_nothing() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let mut s = f
        .engine
        .subscribe_from(&ctx, ChangeFilter::new(), None)
        .unwrap();
    for i in 0..5 {
        create(&f, &ctx, "item", &format!("{i}"));
    }
    let first: Vec<Event> = (0..3)
        .map(|_| s.try_next(&f.engine).unwrap().unwrap())
        .collect();
    let cursor = s.cursor();
    drop(s);
    for i in 5..8 {
        create(&f, &ctx, "item", &format!("{i}"));
    }
    let mut resumed = f
        .engine
        .subscribe_from(&ctx, ChangeFilter::new(), cursor)
        .unwrap();
    // Commits while the replay is pending land in the inbox too: delivered once.
    create(&f, &ctx, "item", "8");
    let rest = drain(&mut resumed, &f.engine);
    let all: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|e| {
            e.metadata
                .get_path("name")
                .and_then(Value::as_str)
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: Vec<String> = std::iter::once("ACME".to_string())
        .chain((0..9).map(|i| i.to_string()))
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn a_lagging_subscriber_is_told_and_resumes_from_its_cursor() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let mut s = f.engine.subscribe(&ctx, ChangeFilter::new()).unwrap();
    let total = FEED_BACKLOG + 10;
    f.engine
        .write(&ctx, |tx| {
            for _ in 0..total {
                tx.log_event("tick", None, Value::map())?;
            }
            Ok(())
        })
        .unwrap();
    create(&f, &ctx, "item", "after the flood");
    // On PostgreSQL the stream is the stored log, which keeps everything: no lag.
    if !one_core::testkit::on_postgres() {
        let err = s.try_next(&f.engine).unwrap_err();
        assert!(matches!(err, Error::Lagged { .. }), "{err}");
    }
    let got = drain(&mut s, &f.engine);
    assert_eq!(got.len(), total + 1);
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(got[total].kind, "thing_created");
}

#[test]
fn the_blocking_iterator_waits_for_the_next_commit() {
    let f = Arc::new(Fixture::new());
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let mut s = f.engine.subscribe(&ctx, ChangeFilter::new()).unwrap();
    let reader = {
        let f = Arc::clone(&f);
        std::thread::spawn(move || {
            let got: Vec<Event> = s.iter(&f.engine).take(2).map(Result::unwrap).collect();
            got
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    create(&f, &ctx, "item", "one");
    create(&f, &ctx, "item", "two");
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 2);
    let mut idle = f.engine.subscribe(&ctx, ChangeFilter::new()).unwrap();
    assert!(
        idle.next_timeout(&f.engine, Duration::from_millis(10))
            .unwrap()
            .is_none()
    );
}

/// A small deterministic generator, so the stress test is the same on every run.
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
fn writers_on_threads_and_resuming_subscribers_see_each_change_once_in_order() {
    let f = Arc::new(Fixture::new());
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || {
                for i in 0..60 {
                    f.engine
                        .write(&ctx, |tx| {
                            tx.create_thing(NewThing::new("item", format!("{w}-{i}")))?;
                            if i % 3 == 0 {
                                tx.log_event("batch_done", None, Value::map())?;
                            }
                            Ok(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    let filters = [
        ChangeFilter::new(),
        ChangeFilter::new().dimension(Dimension::Things),
    ];
    let subscribers: Vec<_> = filters
        .iter()
        .cloned()
        .enumerate()
        .map(|(n, filter)| {
            let (f, done) = (Arc::clone(&f), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut rng = Rng(0x5eed + n as u64);
                let mut seen: Vec<Event> = Vec::new();
                let mut s = f.engine.subscribe_from(&ctx, filter.clone(), None).unwrap();
                loop {
                    let finished = done.load(Ordering::Acquire);
                    match s.next_timeout(&f.engine, Duration::from_millis(2)).unwrap() {
                        Some(e) => seen.push(e),
                        None if finished => break,
                        None => {}
                    }
                    // Now and then: disconnect, and resume from the cursor.
                    if rng.below(20) == 0 {
                        let cursor = s.cursor();
                        drop(s);
                        s = f
                            .engine
                            .subscribe_from(&ctx, filter.clone(), cursor)
                            .unwrap();
                    }
                }
                seen
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for (filter, sub) in filters.into_iter().zip(subscribers) {
        let seen = sub.join().unwrap();
        // What was committed, replayed once from the stored log.
        let mut all = f.engine.subscribe_from(&ctx, filter, None).unwrap();
        let expected = drain(&mut all, &f.engine);
        assert!(expected.len() >= 180, "{}", expected.len());
        let ids = |v: &[Event]| v.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&seen), ids(&expected));
        assert!(seen.windows(2).all(|w| w[0].seq <= w[1].seq));
    }
}

#[test]
fn a_subscription_refuses_another_engine_and_loses_nothing() {
    let (a, b) = (Fixture::new(), Fixture::new());
    let (ga, gb) = (a.tenant("acme"), b.tenant("acme"));
    let ctx = Context::system(ga.id);
    let mut s = a.engine.subscribe(&ctx, ChangeFilter::new()).unwrap();
    create(&a, &ctx, "note", "pending");
    create(&b, &Context::system(gb.id), "note", "elsewhere");
    let wrong = s.try_next(&b.engine);
    assert!(
        matches!(&wrong, Err(Error::InvalidField { field, .. }) if field == "engine"),
        "{wrong:?}"
    );
    let kept = s.try_next(&a.engine).unwrap().unwrap();
    assert_eq!(kept.kind, kinds::THING_CREATED);
}

#[test]
fn a_cursor_later_than_every_commit_is_refused() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let future = EventId::from_u128(u128::MAX >> 1);
    let r = f
        .engine
        .subscribe_from(&ctx, ChangeFilter::new(), Some(future));
    assert!(matches!(r, Err(Error::InvalidCursor { .. })), "{r:?}");
    create(&f, &ctx, "note", "now");
    let last = f
        .engine
        .read(&ctx, |v| v.events(&EventQuery::latest().limit(1)))
        .unwrap()
        .items
        .remove(0);
    assert!(
        f.engine
            .subscribe_from(&ctx, ChangeFilter::new(), Some(last.id))
            .is_ok()
    );
}

#[test]
fn ending_waits_wakes_a_waiting_subscriber_and_later_waits_return_at_once() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let mut s = f.engine.subscribe(&ctx, ChangeFilter::new()).unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| s.next_timeout(&f.engine, Duration::from_secs(3600)));
        std::thread::sleep(Duration::from_millis(50));
        f.engine.end_waits();
        assert!(matches!(waiter.join().unwrap(), Ok(None)));
    });
    create(&f, &ctx, "note", "after");
    // Committed changes are still delivered; waits no longer block.
    assert!(
        s.next_timeout(&f.engine, Duration::from_secs(3600))
            .unwrap()
            .is_some()
    );
    assert!(
        s.next_timeout(&f.engine, Duration::from_secs(3600))
            .unwrap()
            .is_none()
    );
}
