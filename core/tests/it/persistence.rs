//! Closing and reopening a database file returns exactly what was committed.

use one_core::*;
use one_storage::{Durability, Store, StoreOptions};

use crate::Fixture;

#[test]
fn reopening_returns_exactly_what_was_committed() {
    for durability in [Durability::Immediate, Durability::Deferred] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.redb");
        let options = StoreOptions {
            durability,
            ..StoreOptions::default()
        };
        let f = Fixture::on(Store::open(&path, &options).unwrap());
        let g = f.tenant("acme");
        let ctx = Context::system(g.id);
        let (p, t) = f
            .engine
            .write(&ctx, |tx| {
                let p = tx.create_person(NewPerson::new("p@x.io", "P"))?;
                let t = tx.create_thing(NewThing::new("product", "Mug").property("price", 5))?;
                tx.connect(NewConnection::new(p.id, "purchased", t.id))?;
                Ok((p, t))
            })
            .unwrap();
        // An aborted transaction must not reappear after reopening.
        let _ = f.engine.write(&ctx, |tx| {
            tx.create_thing(NewThing::new("product", "ghost"))?;
            tx.create_thing(NewThing::new("Bad", "x"))
        });
        let snapshot = |f: &Fixture| {
            f.engine
                .read(&ctx, |v| {
                    Ok((
                        v.get_group(g.id)?,
                        v.get_thing(p.id)?,
                        v.things(&ThingQuery::of_type("product"))?,
                        v.connections(&ConnectionQuery::outgoing(p.id))?,
                        v.events(&EventQuery::latest().limit(100))?,
                        v.counts(g.id)?,
                    ))
                })
                .unwrap()
        };
        let before = (f.dump(), snapshot(&f));
        assert_eq!(before.1.2.items, vec![t.clone()]);
        f.engine.close().unwrap();

        let f = Fixture::on(Store::open(&path, &options).unwrap());
        assert_eq!((f.dump(), snapshot(&f)), before, "{durability:?}");
        // New ids keep sorting after old ones, and writes go on.
        let t2 = f
            .engine
            .write(&ctx, |tx| tx.create_thing(NewThing::new("product", "Cup")))
            .unwrap();
        assert!(t2.id > t.id);
    }
}

#[test]
fn a_record_with_an_unknown_version_is_refused_not_misread() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let t = f
        .engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("product", "Mug")))
        .unwrap();
    // Find the thing's record by its value and rewrite its version byte.
    let (key, mut value) = f
        .dump()
        .into_iter()
        .find(|(k, v)| {
            k.ends_with(&t.id.to_be_bytes()) && v.len() > 20 && k.len() == 1 + 16 + 1 + 1 + 16
        })
        .unwrap();
    value[0] = 99;
    f.engine
        .store()
        .write(|tx| tx.put(key.as_slice(), value.as_slice()))
        .unwrap();
    let e = f.engine.read(&ctx, |v| v.get_thing(t.id)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnsupportedVersion {
                record: "thing",
                version: 99
            }
        ),
        "{e:?}"
    );
    value[0] = 1;
    value.truncate(5);
    f.engine
        .store()
        .write(|tx| tx.put(key.as_slice(), value.as_slice()))
        .unwrap();
    let e = f.engine.read(&ctx, |v| v.get_thing(t.id)).unwrap_err();
    assert!(matches!(e, Error::Corrupt { what: "thing", .. }), "{e:?}");
}
