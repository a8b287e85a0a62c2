//! Criterion benchmark of the C ABI's overhead: a thing get through `one_thing_get`
//! (handle lookup, id parse from C text, the record as JSON text, string free) and through
//! `one_execute` (the same read as a JSON request), against the same read through the Rust
//! API.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(unsafe_code, reason = "the benchmark calls the C ABI")]

use std::ffi::{CStr, CString, c_char};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use one_ffi::boundary::{OneCtx, OneDb, one_string_free};
use one_ffi::db::{one_ctx_system, one_open_memory};
use one_ffi::execute::one_execute;
use one_ffi::groups::one_tenant_create;
use one_ffi::records::{one_thing_create, one_thing_get};

/// Calls `f` with an out pointer and returns the JSON it wrote.
fn json_out(f: impl FnOnce(*mut *mut c_char) -> i32) -> String {
    let mut out: *mut c_char = std::ptr::null_mut();
    assert_eq!(f(&mut out), 0);
    // SAFETY: a string ONE returned, freed right after.
    let text = unsafe { CStr::from_ptr(out) }
        .to_string_lossy()
        .into_owned();
    unsafe { one_string_free(out) };
    text
}

fn id_in(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn thing_get(c: &mut Criterion) {
    // The C side: a database made and read through the C ABI.
    let mut db: *mut OneDb = std::ptr::null_mut();
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { one_open_memory(&mut db) }, 0);
    let tenant = c"{\"type\":\"business\",\"name\":\"B\",\"slug\":\"b\"}";
    // SAFETY: valid strings and out pointer.
    let tenant = id_in(&json_out(|out| unsafe {
        one_tenant_create(db, tenant.as_ptr(), out)
    }));
    let mut ctx: *mut OneCtx = std::ptr::null_mut();
    let tenant_c = CString::new(tenant.clone()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { one_ctx_system(tenant_c.as_ptr(), &mut ctx) }, 0);
    let thing = c"{\"type\":\"product\",\"name\":\"Mug\",\"properties\":{\"price\":1200,\"status\":\"in_stock\",\"sku\":\"MUG-001\",\"tags\":[\"kitchen\",\"gift\"],\"weight_g\":350}}";
    // SAFETY: as above.
    let id = id_in(&json_out(|out| unsafe {
        one_thing_create(db, ctx, thing.as_ptr(), out)
    }));
    let id_c = CString::new(id.clone()).unwrap();

    // The Rust side: its own database with the same record.
    let rust = one::Ontology::in_memory().unwrap();
    let g = rust
        .admin()
        .create_root_group(one::NewGroup::new(one::GroupType::Business, "B", "b"))
        .unwrap();
    let rctx = one::Context::system(g.id);
    let props = serde_json::json!({"price": 1200, "status": "in_stock", "sku": "MUG-001", "tags": ["kitchen", "gift"], "weight_g": 350});
    let t = rust
        .write(&rctx, |tx| {
            tx.create_thing(
                one::NewThing::new("product", "Mug").properties(one::Value::from_json(&props)),
            )
        })
        .unwrap();
    let rid = t.id.to_string();

    let mut group = c.benchmark_group("ffi/thing_get");
    group.bench_function("rust", |b| {
        b.iter(|| {
            let id: one::ThingId = black_box(rid.as_str()).parse().unwrap();
            black_box(rust.read(&rctx, |v| v.get_thing(id)).unwrap())
        })
    });
    group.bench_function("c_abi", |b| {
        b.iter(|| {
            let mut out: *mut c_char = std::ptr::null_mut();
            // SAFETY: valid handles, string and out pointer; the result is freed.
            let status = unsafe { one_thing_get(db, ctx, black_box(id_c.as_ptr()), &mut out) };
            assert_eq!(status, 0);
            unsafe { one_string_free(black_box(out)) };
        })
    });
    let request = CString::new(format!("{{\"get_thing\":{{\"id\":\"{id}\"}}}}")).unwrap();
    group.bench_function("c_abi_execute", |b| {
        b.iter(|| {
            let mut out: *mut c_char = std::ptr::null_mut();
            // SAFETY: valid handles, string and out pointer; the result is freed.
            let status = unsafe { one_execute(db, ctx, black_box(request.as_ptr()), &mut out) };
            assert_eq!(status, 0);
            unsafe { one_string_free(black_box(out)) };
        })
    });
    group.finish();
}

criterion_group!(benches, thing_get);
criterion_main!(benches);
