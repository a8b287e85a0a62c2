//! Criterion benchmark of the vocabulary's overhead: a point get and a create through
//! `Ontology::execute`, as a `Request` value, as JSON text in and out (what the C ABI and
//! the server do), and as postcard bytes in and out (Rust to Rust), against the typed
//! calls.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use one::{Context, GroupType, NewGroup, NewThing, Ontology, Request, Response, ThingId, Value};

fn setup() -> (Ontology, Context, ThingId) {
    let db = Ontology::in_memory().unwrap();
    let g = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "B", "b"))
        .unwrap();
    let ctx = Context::system(g.id);
    let props = serde_json::json!({"price": 1200, "status": "in_stock", "sku": "MUG-001", "tags": ["kitchen", "gift"], "weight_g": 350});
    let t = db
        .write(&ctx, |tx| {
            tx.create_thing(NewThing::new("product", "Mug").properties(Value::from_json(&props)))
        })
        .unwrap();
    (db, ctx, t.id)
}

fn point_get(c: &mut Criterion) {
    let (db, ctx, id) = setup();
    let text = id.to_string();
    let json = format!("{{\"get_thing\":{{\"id\":\"{text}\"}}}}");
    let bytes = postcard::to_stdvec(&Request::GetThing { id }).unwrap();
    let mut group = c.benchmark_group("vocabulary/point_get");
    group.bench_function("typed", |b| {
        b.iter(|| {
            let id: ThingId = black_box(text.as_str()).parse().unwrap();
            black_box(db.read(&ctx, |v| v.get_thing(id)).unwrap())
        })
    });
    group.bench_function("execute", |b| {
        b.iter(|| {
            let id: ThingId = black_box(text.as_str()).parse().unwrap();
            black_box(db.execute(&ctx, Request::GetThing { id }).unwrap())
        })
    });
    group.bench_function("execute_json", |b| {
        b.iter(|| {
            let request: Request = one::decode::from_json(black_box(&json)).unwrap();
            let response = db.execute(&ctx, request).unwrap();
            black_box(serde_json::to_string(&response).unwrap())
        })
    });
    group.bench_function("execute_postcard", |b| {
        b.iter(|| {
            let request: Request = postcard::from_bytes(black_box(&bytes)).unwrap();
            let response = db.execute(&ctx, request).unwrap();
            black_box(postcard::to_stdvec(&response).unwrap())
        })
    });
    group.finish();
}

fn create(c: &mut Criterion) {
    let json = r#"{"create_thing":{"type":"product","name":"Mug","properties":{"price":1200,"sku":"MUG-001"}}}"#;
    let new = || {
        NewThing::new("product", "Mug")
            .property("price", 1200)
            .property("sku", "MUG-001")
    };
    let bytes = postcard::to_stdvec(&Request::CreateThing(new())).unwrap();
    let mut group = c.benchmark_group("vocabulary/create");
    // Each variant writes into a database of its own, so none runs on a bigger one.
    let (db, ctx, _) = setup();
    group.bench_function("typed", |b| {
        b.iter(|| black_box(db.write(&ctx, |tx| tx.create_thing(new())).unwrap()))
    });
    let (db, ctx, _) = setup();
    group.bench_function("execute_json", |b| {
        b.iter(|| {
            let request: Request = one::decode::from_json(black_box(json)).unwrap();
            let response = db.execute(&ctx, request).unwrap();
            black_box(serde_json::to_string(&response).unwrap())
        })
    });
    let (db, ctx, _) = setup();
    group.bench_function("execute_postcard", |b| {
        b.iter(|| {
            let request: Request = postcard::from_bytes(black_box(&bytes)).unwrap();
            let response: Response = db.execute(&ctx, request).unwrap();
            black_box(postcard::to_stdvec(&response).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, point_get, create);
criterion_main!(benches);
