//! Criterion benchmarks of plugins: a create of a plugin-typed thing against a built-in
//! type, the cost of one sandboxed call (a fresh instance, a tiny request and answer), and
//! the throughput of `prepare` calls of the example `product` plugin. See `BENCHMARKS.md`.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use one::plugins::abi_types::Op;
use one::plugins::abi_types::Read;
use one::plugins::{HostAnswer, HostReads, PluginRuntime, PrepareInput, module_hash};
use one::*;

/// The smallest plugin that follows the ABI: `prepare` answers `{"size":1}` at once.
const MINIMAL: &str = include_str!("../../plugins/examples/minimal.wat");

fn product_props() -> serde_json::Value {
    serde_json::json!({"price": 12.5, "currency": "eur", "sku": "ab-12", "stock": 40})
}

/// A ticket's properties as a caller sends them (its plugin computes `total_cents`).
fn ticket_props() -> serde_json::Value {
    serde_json::json!({"event": "RustConf", "price_cents": 1000, "quantity": 3, "tier": "student"})
}

/// What the built-in type stores for the same ticket: the same properties and the total.
fn plain_ticket_props() -> serde_json::Value {
    serde_json::json!({"event": "RustConf", "price_cents": 1000, "quantity": 3, "tier": "student", "total_cents": 1500})
}

/// Answers no read: the direct calls below make none.
struct NoReads;

impl HostReads for NoReads {
    fn read(&mut self, _: &Read, _: u64) -> Result<HostAnswer, String> {
        Err("this benchmark answers no reads".into())
    }
}

/// A fresh in-memory database with one tenant, running plugins in `runtime`.
fn fresh(runtime: &Arc<one::wasm::Runtime>) -> (Ontology, Context) {
    let db = Ontology::builder()
        .plugins(runtime.clone())
        .in_memory()
        .unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Bench", "bench"))
        .unwrap()
        .id;
    (db, Context::system(root))
}

fn benches(c: &mut Criterion) {
    let runtime = Arc::new(one::wasm::Runtime::new(one::wasm::Limits::default()).unwrap());
    let product = one_benches::plugin_example("product");
    let tickets = one_benches::plugin_example("tickets");
    let minimal = wat_to_wasm(MINIMAL);

    let mut g = c.benchmark_group("plugins");
    // Each pair writes the same properties with the same declared index, on a fresh
    // database: the built-in type stores them as given, the plugin type runs `prepare`
    // (and, for `product`, `react` after the commit).
    let cases = [
        (
            "event_ticket",
            &tickets,
            plain_ticket_props(),
            ticket_props(),
            "total_cents",
        ),
        (
            "product",
            &product,
            product_props(),
            product_props(),
            "price",
        ),
    ];
    for (kind, wasm, plain, sent, indexed) in cases {
        let (props, sent) = (Value::from_json(&plain), Value::from_json(&sent));
        let (db, ctx) = fresh(&runtime);
        db.admin()
            .create_index(&format!("plain_{kind}"), &format!("properties.{indexed}"))
            .unwrap();
        g.bench_function(format!("create/{kind}/built_in_type"), |b| {
            b.iter(|| {
                db.write(&ctx, |tx| {
                    tx.create_thing(
                        NewThing::new(format!("plain_{kind}"), "t").properties(props.clone()),
                    )
                })
                .unwrap()
            })
        });
        let (db, ctx) = fresh(&runtime);
        db.engine().install_plugin(&ctx, wasm).unwrap();
        g.bench_function(format!("create/{kind}/plugin_type"), |b| {
            b.iter(|| {
                db.write(&ctx, |tx| {
                    tx.create_thing(NewThing::new(kind, "t").properties(sent.clone()))
                })
                .unwrap()
            })
        });
    }
    // The same ticket naming a show: `prepare` reads the show through the host.
    let (db, ctx) = fresh(&runtime);
    db.engine().install_plugin(&ctx, &tickets).unwrap();
    let show = db
        .write(&ctx, |tx| {
            tx.create_thing(NewThing::new("show", "RustConf"))
        })
        .unwrap();
    let mut with_show = ticket_props();
    with_show["show"] = show.id.to_string().into();
    let with_show = Value::from_json(&with_show);
    g.bench_function("create/event_ticket/plugin_type_reading_its_show", |b| {
        b.iter(|| {
            db.write(&ctx, |tx| {
                tx.create_thing(NewThing::new("event_ticket", "t").properties(with_show.clone()))
            })
            .unwrap()
        })
    });
    let (db, ctx) = fresh(&runtime);
    db.engine().install_plugin(&ctx, &product).unwrap();
    db.engine().install_plugin(&ctx, &minimal).unwrap();

    fn input(properties: &Value) -> PrepareInput<'_> {
        PrepareInput {
            op: Op::Create,
            id: String::new(),
            group: String::new(),
            kind: "product",
            name: "p",
            properties,
            previous: None,
        }
    }
    let minimal_hash = module_hash(&minimal);
    let empty = Value::map();
    let tiny = input(&empty);
    g.throughput(Throughput::Elements(1));
    g.bench_function("call/minimal_module", |b| {
        b.iter(|| {
            runtime
                .prepare(&minimal_hash, black_box(&tiny), &mut NoReads)
                .unwrap()
                .unwrap()
        })
    });
    let product_hash = module_hash(&product);
    let product_value = Value::from_json(&product_props());
    let real = input(&product_value);
    g.bench_function("call/product_prepare", |b| {
        b.iter(|| {
            runtime
                .prepare(&product_hash, black_box(&real), &mut NoReads)
                .unwrap()
                .unwrap()
        })
    });
    g.finish();
}

/// The engine takes binary modules only.
fn wat_to_wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

criterion_group!(plugins, benches);
criterion_main!(plugins);
