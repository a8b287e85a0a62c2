//! A failed operation, or a failed multi-operation transaction, leaves nothing behind.

use one_core::*;

use crate::Fixture;

#[test]
fn bad_input_in_the_middle_of_a_transaction_leaves_no_trace() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let before = f.dump();
    let result = f.engine.write(&ctx, |tx| {
        let p = tx.create_person(NewPerson::new("a@x.io", "A"))?;
        let t = tx.create_thing(NewThing::new("product", "Mug").property("price", 3))?;
        tx.connect(NewConnection::new(p.id, "purchased", t.id))?;
        tx.create_group(g.id, NewGroup::new(GroupType::Business, "Shop", "shop"))?;
        tx.log_event("custom_thing", None, Value::map())?;
        // The bad input: a property that is not finite.
        tx.create_thing(NewThing::new("product", "Bad").property("price", f64::NAN))
    });
    assert!(
        matches!(result, Err(Error::InvalidField { ref field, .. }) if field == "properties.price"),
        "{result:?}"
    );
    assert_eq!(
        f.dump(),
        before,
        "no record, event, index entry or counter may survive"
    );
}

/// An operation expected to fail.
type Failing<'a> = Box<dyn Fn(&mut Tx<'_, '_>) -> Result<()> + 'a>;

#[test]
fn every_failing_single_operation_leaves_the_store_unchanged() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let (p, t) = f
        .engine
        .write(&ctx, |tx| {
            let p = tx.create_person(NewPerson::new("a@x.io", "A"))?;
            let t = tx.create_thing(NewThing::new("product", "Mug"))?;
            Ok((p, t))
        })
        .unwrap();
    let before = f.dump();
    let failures: Vec<Failing<'_>> = vec![
        Box::new(|tx| tx.create_thing(NewThing::new("product", "  ")).map(drop)),
        Box::new(|tx| tx.create_thing(NewThing::new("person", "x")).map(drop)),
        Box::new(|tx| tx.create_person(NewPerson::new("A@X.IO ", "dup")).map(drop)),
        Box::new(|tx| {
            tx.create_person(NewPerson::new("not-an-email", "x"))
                .map(drop)
        }),
        Box::new(|tx| {
            tx.create_group(g.id, NewGroup::new(GroupType::Dao, "x", "Bad Slug"))
                .map(drop)
        }),
        Box::new(move |tx| {
            tx.update_thing(t.id, ThingUpdate::default().properties(Value::Int(3)))
                .map(drop)
        }),
        Box::new(move |tx| {
            tx.update_thing(t.id, ThingUpdate::default().status(ThingStatus::Deleted))
                .map(drop)
        }),
        Box::new(move |tx| {
            tx.connect(NewConnection::new(p.id, "member_of", g.id))
                .map(drop)
        }),
        Box::new(move |tx| {
            tx.connect(NewConnection::new(p.id, "likes", ThingId::from_u128(7)))
                .map(drop)
        }),
        Box::new(move |tx| tx.add_member(t.id, g.id, "group_user", &["read"]).map(drop)),
        Box::new(move |tx| tx.add_member(p.id, g.id, "Bad Role", &[]).map(drop)),
        Box::new(|tx| tx.log_event("Bad Kind", None, Value::map()).map(drop)),
        Box::new(move |tx| {
            tx.update_group(g.id, GroupUpdate::default().properties(json_value()))
                .map(drop)
        }),
    ];
    for (i, op) in failures.iter().enumerate() {
        let r = f.engine.write(&ctx, |tx| op(tx));
        assert!(r.is_err(), "operation {i} should fail");
        assert_eq!(f.dump(), before, "operation {i} changed the store: {r:?}");
    }
}

fn json_value() -> Value {
    Value::map().with("revenue_share", 1.5)
}

#[test]
fn a_panic_inside_a_write_fails_that_write_alone() {
    let f = std::sync::Arc::new(Fixture::new());
    let g = f.tenant("acme");
    let other = f.tenant("other");
    let ctx = Context::system(g.id);
    let before = f.dump();
    let r = f.engine.write(&ctx, |tx| {
        tx.create_thing(NewThing::new("product", "Mug"))?;
        panic!("injected bug");
        #[allow(unreachable_code, reason = "the panic is the point")]
        Ok(())
    });
    match r {
        Err(e @ Error::Internal { .. }) => {
            assert_eq!(e.code(), 3);
            assert!(e.to_string().contains("injected bug"), "{e}");
        }
        other => panic!("expected Internal, got {other:?}"),
    }
    assert_eq!(f.dump(), before);
    // The store keeps serving every writer, on this thread and on others.
    f.engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("product", "Mug")))
        .unwrap();
    let f2 = std::sync::Arc::clone(&f);
    std::thread::spawn(move || {
        f2.engine
            .write(&Context::system(other.id), |tx| {
                tx.create_thing(NewThing::new("product", "Cup"))
            })
            .unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn commit_sequence_numbers_are_carried_by_events() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let seq = f
        .engine
        .write(&ctx, |tx| {
            tx.create_thing(NewThing::new("a", "1"))?;
            tx.create_thing(NewThing::new("a", "2"))?;
            tx.seq()
        })
        .unwrap();
    let events = f
        .engine
        .read(&ctx, |v| v.events(&EventQuery::latest().limit(2)))
        .unwrap();
    assert!(events.items.iter().all(|e| e.seq == seq));
    let _ = f
        .engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("BAD", "x")));
    let next = f.engine.write(&ctx, |tx| tx.seq()).unwrap();
    assert_eq!(next, seq + 1, "an aborted transaction takes no number");
}
