//! Declared property indexes never change an answer, only how it is found.

use one_core::*;
use proptest::prelude::*;
use serde_json::json;

use crate::Fixture;

fn price() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        4 => (-5i64..30).prop_map(|i| json!(i)),
        2 => (-5.0f64..30.0).prop_map(|f| json!(f)),
        1 => "[a-c]{0,2}".prop_map(|s| json!(s)),
        1 => any::<bool>().prop_map(|b| json!(b)),
        1 => Just(json!(null)),
        1 => Just(json!([1, 2])),
    ]
}

fn condition() -> impl Strategy<Value = serde_json::Value> {
    let op = prop_oneof![
        Just("$eq"),
        Just("$gt"),
        Just("$gte"),
        Just("$lt"),
        Just("$lte"),
        Just("$ne"),
        Just("$in")
    ];
    (proptest::collection::vec((op, price()), 1..3)).prop_map(|ops| {
        let mut m = serde_json::Map::new();
        for (op, v) in ops {
            let v = if op == "$in" { json!([v]) } else { v };
            m.insert(op.to_string(), v);
        }
        serde_json::Value::Object(m)
    })
}

#[derive(Debug, Clone)]
enum Change {
    Set(usize, serde_json::Value),
    Remove(usize),
    Delete(usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), price()).prop_map(|(i, p)| Change::Set(i, p)),
        any::<usize>().prop_map(Change::Remove),
        any::<usize>().prop_map(Change::Delete),
    ]
}

fn sorted_ids(items: Vec<Thing>) -> Vec<ThingId> {
    let mut ids: Vec<ThingId> = items.into_iter().map(|t| t.id).collect();
    ids.sort();
    ids
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn indexed_lists_equal_scanned_lists(
        prices in proptest::collection::vec(price(), 0..30),
        changes in proptest::collection::vec(change(), 0..10),
        conditions in proptest::collection::vec(condition(), 1..6),
    ) {
        let f = Fixture::new();
        let g = f.tenant("shop");
        let ctx = Context::system(g.id);
        let things = f.engine.write(&ctx, |tx| {
            prices.iter().map(|p| tx.create_thing(NewThing::new("product", "p").properties(Value::map().with("price", Value::from_json(p)))))
                .collect::<Result<Vec<_>>>()
        }).unwrap();
        // Another type and another group must never show up.
        f.engine.write(&ctx, |tx| tx.create_thing(NewThing::new("course", "c").property("price", 3))).unwrap();
        f.engine.admin().create_index("product", "properties.price").unwrap();
        for c in &changes {
            if things.is_empty() { break; }
            let _ = f.engine.write(&ctx, |tx| match c {
                Change::Set(i, p) => tx.update_thing(things[i % things.len()].id, ThingUpdate::default().property("price", Value::from_json(p))),
                Change::Remove(i) => tx.update_thing(things[i % things.len()].id, ThingUpdate::default().property("price", Value::Null)),
                Change::Delete(i) => tx.delete_thing(things[i % things.len()].id),
            });
        }
        let everything = f.engine.read(&ctx, |v| v.things(&ThingQuery::of_type("product").limit(1000))).unwrap().items;
        for cond in &conditions {
            let filter = Filter::from_json(&json!({"properties.price": cond})).unwrap();
            let expected: Vec<Thing> = everything.iter().filter(|t| filter.matches(t)).cloned().collect();
            // Page through in small pages to exercise cursors on index slices.
            let mut got = Vec::new();
            let mut q = ThingQuery::of_type("product").filter(filter.clone()).limit(3);
            loop {
                let page = f.engine.read(&ctx, |v| v.things(&q)).unwrap();
                got.extend(page.items);
                match page.next { Some(c) => q = ThingQuery::of_type("product").filter(filter.clone()).limit(3).after(c), None => break }
            }
            prop_assert_eq!(sorted_ids(got), sorted_ids(expected), "filter {}", cond);
        }
    }
}

#[test]
fn indexes_are_declared_listed_and_dropped() {
    let f = Fixture::new();
    let g = f.tenant("shop");
    let ctx = Context::system(g.id);
    let before = f.dump();
    assert!(matches!(
        f.engine.admin().create_index("product", "price"),
        Err(Error::InvalidFilter { .. })
    ));
    assert!(matches!(
        f.engine.admin().create_index("Product", "properties.price"),
        Err(Error::InvalidField { .. })
    ));
    assert_eq!(f.dump(), before);
    let def = f
        .engine
        .admin()
        .create_index("product", "properties.price")
        .unwrap();
    assert_eq!(
        f.engine
            .admin()
            .create_index("product", "properties.price")
            .unwrap(),
        def
    );
    assert_eq!(f.engine.admin().indexes().unwrap(), vec![def]);
    let things = f
        .engine
        .write(&ctx, |tx| {
            (0..5)
                .map(|i| tx.create_thing(NewThing::new("product", "p").property("price", 10 - i)))
                .collect::<Result<Vec<_>>>()
        })
        .unwrap();
    let q = ThingQuery::of_type("product")
        .filter(Filter::from_json(&json!({"properties.price": {"$gte": 7}})).unwrap());
    let got = f.engine.read(&ctx, |v| v.things(&q)).unwrap().items;
    // Served by the index: in price order.
    assert_eq!(
        got.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![things[3].id, things[2].id, things[1].id, things[0].id]
    );
    assert!(
        f.engine
            .admin()
            .drop_index("product", "properties.price")
            .unwrap()
    );
    assert!(
        !f.engine
            .admin()
            .drop_index("product", "properties.price")
            .unwrap()
    );
    let got = f.engine.read(&ctx, |v| v.things(&q)).unwrap().items;
    assert_eq!(
        got.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![things[0].id, things[1].id, things[2].id, things[3].id]
    );
    // No index entry is left behind: key tag `p` right after the tenant prefix, not even
    // by the writes that follow (which read the definitions again).
    f.engine
        .write(&ctx, |tx| {
            tx.update_thing(things[0].id, ThingUpdate::default().property("price", 1))?;
            tx.create_thing(NewThing::new("product", "p").property("price", 2))
        })
        .unwrap();
    assert!(
        !f.dump()
            .iter()
            .any(|(k, _)| k.len() > 18 && k[0] == b'T' && k[17] == 1 && k[18] == b'p')
    );
    let report = f.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
}

/// A step of [`writes_follow_every_change_of_the_declarations`].
#[derive(Debug, Clone)]
enum Step {
    Create(i64),
    Update(usize, i64),
    Declare,
    Drop,
    DeclareText,
    DropText,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0i64..20).prop_map(Step::Create),
        2 => (any::<usize>(), 0i64..20).prop_map(|(i, p)| Step::Update(i, p)),
        1 => Just(Step::Declare),
        1 => Just(Step::Drop),
        1 => Just(Step::DeclareText),
        1 => Just(Step::DropText),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The engine keeps the declarations (property indexes, text properties) between
    /// transactions, yet every write after a declaration changes follows the new ones:
    /// the integrity check, which recomputes every index entry and posting from the
    /// records and the stored declarations, finds nothing wrong after any step.
    #[test]
    fn writes_follow_every_change_of_the_declarations(steps in proptest::collection::vec(step(), 1..16)) {
        let f = Fixture::new();
        let g = f.tenant("shop");
        let ctx = Context::system(g.id);
        let mut ids = Vec::new();
        for step in steps {
            match step {
                Step::Create(p) => ids.push(
                    f.engine
                        .write(&ctx, |tx| tx.create_thing(NewThing::new("product", "mug").property("price", p)))
                        .unwrap()
                        .id,
                ),
                Step::Update(i, p) if !ids.is_empty() => {
                    let id = ids[i % ids.len()];
                    f.engine
                        .write(&ctx, |tx| tx.update_thing(id, ThingUpdate::default().property("price", p)))
                        .unwrap();
                }
                Step::Update(..) => {}
                Step::Declare => {
                    f.engine.admin().create_index("product", "properties.price").unwrap();
                }
                Step::Drop => {
                    f.engine.admin().drop_index("product", "properties.price").unwrap();
                }
                Step::DeclareText => {
                    f.engine.admin().create_text_index("product", "name").unwrap();
                }
                Step::DropText => {
                    f.engine.admin().drop_text_index("product", "name").unwrap();
                }
            }
            let report = f.engine.check().unwrap();
            prop_assert!(report.is_ok(), "after {:?}: {:#?}", step, report.problems);
        }
    }
}
