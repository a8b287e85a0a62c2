//! Each kind of bad input gets its own typed error whose message names the input.

use one_core::*;
use serde_json::json;

use crate::{Fixture, each_case};

/// Asserts the error's variant (by code) and that its message mentions `needle`.
#[track_caller]
fn check<T: std::fmt::Debug>(r: Result<T>, code: u32, needle: &str) {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code(), code, "wrong error: {e:?}");
    assert!(
        e.to_string().contains(needle),
        "message {:?} should mention {needle:?}",
        e.to_string()
    );
}

#[test]
fn each_bad_input_has_a_distinct_typed_error() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    let t = f
        .engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("product", "Mug")))
        .unwrap();

    // Unknown id.
    let ghost = ThingId::from_u128(t.id.to_u128() + 1);
    check(
        f.engine.read(&ctx, |v| v.get_thing(ghost)),
        100,
        &ghost.to_string(),
    );
    // An unknown context group is not found either.
    let nowhere = GroupId::from_u128(5);
    check(
        f.engine
            .read(&Context::system(nowhere), |v| v.get_group(nowhere)),
        100,
        &nowhere.to_string(),
    );
    // Id of the wrong kind.
    let as_group: std::result::Result<GroupId, _> = t.id.to_string().parse();
    check(as_group.map_err(Error::from), 102, &t.id.to_string());
    // Malformed id text.
    check(
        "thg_123".parse::<ThingId>().map_err(Error::from),
        101,
        "thg_123",
    );
    check("nope".parse::<ThingId>().map_err(Error::from), 101, "nope");
    // Parent cycle.
    let child = f
        .engine
        .write(&ctx, |tx| {
            tx.create_group(g.id, NewGroup::new(GroupType::Business, "C", "c"))
        })
        .unwrap();
    let grandchild = f
        .engine
        .write(&ctx, |tx| {
            tx.create_group(child.id, NewGroup::new(GroupType::Business, "GC", "gc"))
        })
        .unwrap();
    check(
        f.engine.write(&ctx, |tx| {
            tx.update_group(child.id, GroupUpdate::default().parent(grandchild.id))
        }),
        200,
        &grandchild.id.to_string(),
    );
    check(
        f.engine.write(&ctx, |tx| {
            tx.update_group(child.id, GroupUpdate::default().parent(child.id))
        }),
        200,
        &child.id.to_string(),
    );
    // A tenant cannot be moved under another group.
    check(
        f.engine.write(&ctx, |tx| {
            tx.update_group(g.id, GroupUpdate::default().parent(child.id))
        }),
        104,
        "parent",
    );
    // Duplicate slug, among siblings and among tenants.
    check(
        f.engine.write(&ctx, |tx| {
            tx.create_group(g.id, NewGroup::new(GroupType::Dao, "C2", "c"))
        }),
        201,
        "\"c\"",
    );
    check(
        f.engine
            .admin()
            .create_root_group(NewGroup::new(GroupType::Dao, "Acme 2", "acme")),
        201,
        "\"acme\"",
    );
    // Duplicate email.
    f.engine
        .write(&ctx, |tx| tx.create_person(NewPerson::new("x@y.io", "X")))
        .unwrap();
    check(
        f.engine
            .write(&ctx, |tx| tx.create_person(NewPerson::new("X@Y.IO", "X2"))),
        202,
        "x@y.io",
    );
    // Missing required fields.
    check(
        f.engine
            .write(&ctx, |tx| tx.create_thing(NewThing::new("product", " "))),
        103,
        "name",
    );
    check(
        f.engine
            .write(&ctx, |tx| tx.create_thing(NewThing::new("", "x"))),
        103,
        "type",
    );
    check(
        f.engine
            .write(&ctx, |tx| tx.create_person(NewPerson::new("", "x"))),
        103,
        "email",
    );
    check(
        f.engine
            .admin()
            .create_root_group(NewGroup::new(GroupType::Dao, "No slug", "")),
        103,
        "slug",
    );
    // Filters on malformed paths, and malformed operators.
    check(Filter::from_json(&json!({"price": 3})), 106, "price");
    check(
        Filter::from_json(&json!({"properties..x": 3})),
        106,
        "properties..x",
    );
    check(
        Filter::from_json(&json!({"properties": 3})),
        106,
        "properties",
    );
    check(
        Filter::from_json(&json!({"properties.x": {"$near": 3}})),
        106,
        "$near",
    );
    check(
        Filter::from_json(&json!({"properties.x": {"$in": 3}})),
        106,
        "$in",
    );
    check(
        Filter::from_json(&json!({"properties.x": {"$gt": 3, "y": 1}})),
        106,
        "properties.x",
    );
    check(Filter::from_json(&json!([1])), 106, "object");
    // Invalid field values and sizes.
    check(
        f.engine
            .write(&ctx, |tx| tx.create_thing(NewThing::new("Product", "x"))),
        104,
        "Product",
    );
    check(
        f.engine.write(&ctx, |tx| {
            tx.create_thing(NewThing::new("product", "x").properties(Value::Int(1)))
        }),
        104,
        "properties",
    );
    let big = "x".repeat(MAX_VALUE_BYTES + 1);
    check(
        f.engine.write(&ctx, |tx| {
            tx.create_thing(NewThing::new("product", "x").property("blob", big.as_str()))
        }),
        105,
        "properties",
    );
    check(
        f.engine.write(&ctx, |tx| {
            tx.create_thing(NewThing::new("product", "x".repeat(MAX_NAME_BYTES + 1)))
        }),
        105,
        "name",
    );
    // Cursors and limits.
    let bad_cursor = ThingQuery::of_type("product").after(Cursor::from_text("zz"));
    check(
        f.engine.read(&ctx, |v| v.things(&bad_cursor)),
        107,
        "cursor",
    );
    check(
        f.engine
            .read(&ctx, |v| v.things(&ThingQuery::of_type("product").limit(0))),
        104,
        "limit",
    );
    // Connecting to something that is not a group or thing.
    let e = f
        .engine
        .read(&ctx, |v| v.events(&EventQuery::latest().limit(1)))
        .unwrap()
        .items[0]
        .id;
    check(
        f.engine
            .write(&ctx, |tx| tx.connect(NewConnection::new(t.id, "likes", e))),
        104,
        &e.to_string(),
    );
}

#[test]
fn error_codes_are_unique() {
    let samples: Vec<Error> = vec![
        Error::NotFound {
            kind: IdKind::Thing,
            id: String::new(),
        },
        Error::from("x".parse::<ThingId>().unwrap_err()),
        Error::from(
            ThingId::from_u128(1)
                .to_string()
                .parse::<GroupId>()
                .unwrap_err(),
        ),
        Error::MissingField { field: "x" },
        Error::InvalidField {
            field: String::new(),
            reason: String::new(),
        },
        Error::TooLarge {
            field: "x",
            limit: 0,
            actual: 0,
        },
        Error::InvalidFilter {
            path: String::new(),
            reason: String::new(),
        },
        Error::InvalidCursor {
            reason: String::new(),
        },
        Error::ParentCycle {
            group: String::new(),
            parent: String::new(),
        },
        Error::DuplicateSlug {
            slug: String::new(),
            parent: String::new(),
        },
        Error::DuplicateEmail {
            email: String::new(),
        },
        Error::GroupArchived {
            group: String::new(),
        },
        Error::ThingDeleted { id: String::new() },
        Error::AlreadyMember {
            person: String::new(),
            group: String::new(),
        },
        Error::LastOwner {
            group: String::new(),
        },
        Error::Forbidden {
            needed: Permission::ThingsRead,
            group: String::new(),
        },
        Error::InvalidCredentials,
        Error::Expired,
        Error::Revoked,
        Error::IpNotAllowed { ip: String::new() },
        Error::SignupNotAllowed {
            reason: String::new(),
        },
        Error::EmailNotVerified,
        Error::CurrencyMismatch {
            left: String::new(),
            right: String::new(),
        },
        Error::Overflow { what: "x" },
        Error::QuotaExceeded {
            resource: Resource::Things,
            limit: 0,
            used: 0,
            resets_at: None,
        },
        Error::RateLimited { retry_after_ms: 0 },
        Error::UnsupportedVersion {
            record: "x",
            version: 9,
        },
        Error::Corrupt {
            what: "x",
            reason: String::new(),
        },
        Error::Poisoned,
        Error::AlreadyOpen,
        Error::NestedWrite,
        Error::ReadOnly,
        Error::from(one_storage::StorageError::Corrupt(String::new())),
        Error::Io {
            action: "x",
            path: Default::default(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        },
    ];
    let mut codes: Vec<u32> = samples.iter().map(Error::code).collect();
    let n = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), n, "two variants share a code");
}

#[test]
fn every_limit_is_enforced_with_a_typed_error_and_changes_nothing() {
    let f = Fixture::new();
    let g = f.tenant("acme");
    let ctx = Context::system(g.id);
    f.engine
        .write(&ctx, |tx| {
            tx.create_knowledge(NewKnowledge::new("first").embedding(vec![1.0, 0.0]))
        })
        .unwrap();
    let mut deep = Value::Int(1);
    for _ in 0..=MAX_VALUE_DEPTH {
        deep = Value::List(vec![deep]);
    }
    type Call = Box<dyn Fn(&mut Tx<'_, '_>) -> Result<()>>;
    let cases: Vec<(&str, Call, u32, &str)> = vec![
        (
            "nesting deeper than MAX_VALUE_DEPTH",
            Box::new(move |tx| {
                tx.create_thing(NewThing::new("note", "n").property("deep", deep.clone()))
                    .map(drop)
            }),
            104,
            "nested deeper than 32",
        ),
        (
            "NaN in properties",
            Box::new(|tx| {
                tx.create_thing(NewThing::new("note", "n").property("x", f64::NAN))
                    .map(drop)
            }),
            104,
            "non-finite",
        ),
        (
            "infinity in metadata",
            Box::new(|tx| {
                tx.log_event("noted", None, Value::map().with("x", f64::INFINITY))
                    .map(drop)
            }),
            104,
            "non-finite",
        ),
        (
            "NaN in an embedding",
            Box::new(|tx| {
                tx.create_knowledge(NewKnowledge::new("t").embedding(vec![f32::NAN, 0.0]))
                    .map(drop)
            }),
            104,
            "embedding",
        ),
        (
            "an embedding of the wrong dimension",
            Box::new(|tx| {
                tx.create_knowledge(NewKnowledge::new("t").embedding(vec![1.0, 0.0, 0.0]))
                    .map(drop)
            }),
            104,
            "embedding",
        ),
        (
            "more than MAX_LABELS labels",
            Box::new(|tx| {
                let labels: Vec<String> = (0..=MAX_LABELS).map(|i| format!("l{i}")).collect();
                tx.create_knowledge(NewKnowledge::new("t").labels(&labels))
                    .map(drop)
            }),
            104,
            "labels",
        ),
        (
            "a label longer than MAX_TYPE_BYTES",
            Box::new(|tx| {
                tx.create_knowledge(
                    NewKnowledge::new("t").labels(&["l".repeat(MAX_TYPE_BYTES + 1)]),
                )
                .map(drop)
            }),
            104,
            "labels",
        ),
        (
            "text over MAX_TEXT_BYTES",
            Box::new(|tx| {
                tx.create_knowledge(NewKnowledge::new("x".repeat(MAX_TEXT_BYTES + 1)))
                    .map(drop)
            }),
            105,
            "text",
        ),
        (
            "a type name over MAX_TYPE_BYTES",
            Box::new(|tx| {
                tx.create_thing(NewThing::new("t".repeat(MAX_TYPE_BYTES + 1), "n"))
                    .map(drop)
            }),
            105,
            "type",
        ),
        (
            "an email over MAX_EMAIL_BYTES",
            Box::new(|tx| {
                let email = format!("{}@example.com", "a".repeat(MAX_EMAIL_BYTES));
                tx.create_person(NewPerson::new(email, "P")).map(drop)
            }),
            105,
            "email",
        ),
        (
            "connection metadata over MAX_VALUE_BYTES",
            Box::new(|tx| {
                let a = tx.create_thing(NewThing::new("note", "a"))?;
                let big = Value::map().with("blob", "x".repeat(MAX_VALUE_BYTES));
                tx.connect(NewConnection::new(a.id, "links", a.id).metadata(big))
                    .map(drop)
            }),
            105,
            "metadata",
        ),
    ];
    each_case(
        cases,
        |c| c.0.to_string(),
        |(name, call, code, needle)| {
            let before = f.dump();
            let r = f.engine.write(&ctx, |tx| call(tx));
            let e = r.expect_err(name);
            assert_eq!(e.code(), code, "{name}: {e}");
            assert!(e.to_string().contains(needle), "{name}: {e}");
            assert_eq!(f.dump(), before, "{name}: the database changed");
        },
    );
    let too_many = f.engine.read(&ctx, |v| {
        v.query_knowledge(&KnowledgeQuery::text("first").k(MAX_K + 1))
    });
    check(too_many, 104, "k");
}
