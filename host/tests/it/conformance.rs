//! One conformance suite, written once against [`DataProvider`], run on the embedded
//! engine ([`Local`]) and on the remote client ([`one_client::Remote`]) against a live
//! server on loopback: both answer alike, failures included, and both feeds resume.

use std::sync::Arc;
use std::time::Duration;

use one::server::{Server, ServerConfig};
use one::*;
use serde_json::json;

/// Long enough for any loaded machine; the suite never waits for it unless it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// The suite: what any provider must do, acting as an API key of a tenant.
fn suite(p: &dyn DataProvider) {
    // Things: made, read, changed, listed with a filter.
    let mug = p
        .create_thing(NewThing::new("product", "Mug").property("price", 12))
        .unwrap();
    assert_eq!(p.get_thing(mug.id).unwrap(), mug);
    let changed = p
        .update_thing(mug.id, ThingUpdate::default().property("price", 15))
        .unwrap();
    assert_eq!(changed.properties.get_path("price"), Some(&Value::Int(15)));
    let cheap = Filter::new()
        .and("properties.price", Op::Lt(Value::Int(100)))
        .unwrap();
    let page = p
        .things(ThingQuery::of_type("product").filter(cheap))
        .unwrap();
    assert_eq!(page.items, vec![changed.clone()]);

    // Failures carry the engine's code, name and field.
    let unknown: ThingId = "thg_00000000000000000000000000".parse().unwrap();
    let missing = p.get_thing(unknown).unwrap_err();
    assert_eq!((missing.code, missing.name.as_str()), (100, "not_found"));
    let invalid = p.create_thing(NewThing::new("Bad Type", "x")).unwrap_err();
    assert_eq!(
        (invalid.code, invalid.field.as_deref()),
        (104, Some("type"))
    );
    let platform = p.execute(Request::Tenants).unwrap_err();
    assert_eq!(platform.code, 307);

    // A batch is one transaction: later steps name what earlier ones made.
    let done = p
        .batch(&[
            json!({"create_thing": {"type": "product", "name": "Lid"}}),
            json!({"connect": {"from": {"$ref": 0}, "type": "fits", "to": mug.id}}),
        ])
        .unwrap();
    let (Response::Thing(lid), Response::Connection(fits)) = (&done[0], &done[1]) else {
        panic!("{done:?}")
    };
    assert_eq!((fits.from, fits.to), (Ref::from(lid.id), Ref::from(mug.id)));
    let failed = p
        .batch(&[
            json!({"create_thing": {"type": "product", "name": "Ghost"}}),
            json!({"get_thing": {"id": unknown}}),
        ])
        .unwrap_err();
    assert_eq!((failed.code, failed.step), (100, Some(1)));
    let ghosts = p
        .things(ThingQuery::of_type("product").limit(100))
        .unwrap()
        .items
        .into_iter()
        .filter(|t| t.name == "Ghost")
        .count();
    assert_eq!(ghosts, 0, "a failed batch kept a step");

    // The feed: live changes, then a resumption after a cursor replays exactly the rest.
    let things = ChangeFilter::new().dimension(Dimension::Things);
    let mut feed = p.follow(things.clone(), None).unwrap();
    let first = p.create_thing(NewThing::new("note", "first")).unwrap();
    let second = p.create_thing(NewThing::new("note", "second")).unwrap();
    let e1 = feed
        .next_change(PATIENCE)
        .unwrap()
        .expect("the first change");
    assert_eq!(e1.target, Some(Ref::from(first.id)));
    let cursor = feed.cursor();
    assert_eq!(cursor, Some(e1.id));
    drop(feed);
    let third = p.create_thing(NewThing::new("note", "third")).unwrap();
    let mut resumed = p.follow(things, cursor).unwrap();
    let rest: Vec<Option<Ref>> = (0..2)
        .map(|_| {
            resumed
                .next_change(PATIENCE)
                .unwrap()
                .expect("a change after the cursor")
                .target
        })
        .collect();
    assert_eq!(
        rest,
        vec![Some(Ref::from(second.id)), Some(Ref::from(third.id))]
    );

    // Many filters on one stream: each change comes once, with the filters it matched,
    // and the stream resumes like any other.
    let filters = vec![
        ChangeFilter::new()
            .dimension(Dimension::Things)
            .kind("memo"),
        ChangeFilter::new().dimension(Dimension::Connections),
        ChangeFilter::new().dimension(Dimension::Things),
    ];
    let mut feed = p.follow_all(filters.clone(), None).unwrap();
    let memo = p.create_thing(NewThing::new("memo", "m")).unwrap();
    let e1 = feed.next_change(PATIENCE).unwrap().expect("the memo");
    assert_eq!(
        (e1.target, feed.matched()),
        (Some(Ref::from(memo.id)), vec![0, 2])
    );
    let cursor = feed.cursor();
    drop(feed);
    let cup = p.create_thing(NewThing::new("product", "Cup")).unwrap();
    let link = p
        .connect(NewConnection::new(memo.id, "about", cup.id))
        .unwrap();
    let mut resumed = p.follow_all(filters, cursor).unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let e = resumed.next_change(PATIENCE).unwrap().expect("a change");
        got.push((e.target, resumed.matched()));
    }
    assert_eq!(
        got,
        vec![
            (Some(Ref::from(cup.id)), vec![2]),
            (Some(Ref::from(link.id)), vec![1]),
        ]
    );
    assert_eq!(
        resumed.next_change(Duration::from_millis(50)).unwrap(),
        None,
        "a change came twice"
    );
    let none = p.follow_all(Vec::new(), None).err().expect("no filter");
    assert_eq!((none.code, none.field.as_deref()), (104, Some("filters")));
}

/// A database with a tenant and an API key that may read and write.
fn tenant_with_key(db: &Ontology) -> (Group, String) {
    let tenant = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
        .unwrap();
    let key = db
        .write(&Context::system(tenant.id), |tx| {
            tx.create_api_key(NewApiKey::new("app", &["read", "write"]))
        })
        .unwrap();
    (tenant, key.secret.expose().to_string())
}

#[test]
fn the_suite_passes_on_the_embedded_engine() {
    let db = Arc::new(Ontology::in_memory().unwrap());
    let (_, key) = tenant_with_key(&db);
    let ctx = db.engine().context_for_api_key(&key, None).unwrap();
    suite(&Local::new(db, ctx));
}

#[test]
fn the_suite_passes_on_the_remote_client() {
    let db = Arc::new(Ontology::in_memory().unwrap());
    let (_, key) = tenant_with_key(&db);
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.log_requests = false;
    let server = Server::start(db, config).unwrap();
    let remote = one_client::Remote::connect(&format!("http://{}", server.addr()), &key).unwrap();
    suite(&remote);
    server.shutdown().unwrap();
}
