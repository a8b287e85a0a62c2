//! Criterion benchmarks of metering: a quota-checked thing create against an unchecked
//! one, a rate-limit check, and revenue splits. See `BENCHMARKS.md` for the numbers.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use one::serde_json::json;
use one::*;
use one_core::{Gcra, GcraState};

/// An in-memory database (no fsync, so the engine's own work is what is measured) with a
/// tenant; `limits` are set on it when given.
fn tenant(limits: Option<serde_json::Value>) -> (Ontology, GroupId) {
    let db = Ontology::builder().in_memory().unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Organization, "Bench", "bench"))
        .unwrap()
        .id;
    if let Some(limits) = limits {
        db.write(&Context::system(root), |tx| {
            tx.update_group(
                root,
                GroupUpdate::default().properties(Value::from_json(&json!({
                    "plan": "starter",
                    "limits": limits,
                }))),
            )
        })
        .unwrap();
    }
    (db, root)
}

/// Creates per measured batch, each in its own transaction, on a fresh database: the same
/// database sizes for both cases.
const CREATES: u64 = 200;

fn quota(c: &mut Criterion) {
    let mut g = c.benchmark_group("create_thing");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(CREATES));
    let cases = [
        ("unchecked", None),
        (
            "quota_checked",
            Some(json!({"things": 1_000_000_000u64, "storage_bytes": 1_000_000_000_000u64})),
        ),
    ];
    for (name, limits) in cases {
        g.bench_function(name, |b| {
            b.iter_batched(
                || tenant(limits.clone()),
                |(db, root)| {
                    let ctx = Context::system(root);
                    for _ in 0..CREATES {
                        db.write(&ctx, |tx| {
                            tx.create_thing(NewThing::new("doc", "d").property("n", 1))
                        })
                        .unwrap();
                    }
                    db
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn rate_limit(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate_limit");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let gcra = Gcra::new(KeyRate {
        per_second: 1_000_000,
        burst: 1_000_000,
    })
    .unwrap();
    let mut state = GcraState::default();
    let mut now = 1_700_000_000_000u64;
    g.bench_function("gcra_check", |b| {
        b.iter(|| {
            now += 1;
            gcra.check(black_box(&mut state), Timestamp::from_millis(now))
                .unwrap()
        })
    });
    let (db, root) = tenant(None);
    let keys = db
        .write(&Context::system(root), |tx| {
            let plain = tx.create_api_key(NewApiKey::new("plain", &["read"]))?;
            let limited = tx.create_api_key(
                NewApiKey::new("limited", &["read"])
                    .monthly_calls(u64::MAX)
                    .rate(1_000_000_000, 1_000_000_000),
            )?;
            Ok([plain, limited])
        })
        .unwrap();
    for (name, key) in ["key_check_unlimited", "key_check_rate_limited"]
        .into_iter()
        .zip(&keys)
    {
        let secret = key.secret.expose().to_string();
        g.bench_function(name, |b| {
            b.iter(|| db.engine().check_api_key(black_box(&secret), None).unwrap())
        });
    }
    g.finish();
}

fn revenue(c: &mut Criterion) {
    let mut g = c.benchmark_group("revenue_split");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1_000_000));
    let share = Bps::new(1500).unwrap();
    g.bench_function("share_1m_amounts", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for i in 0..1_000_000i64 {
                let m = Money::new(i * 37 + 1, "USD").unwrap();
                let (group, _) = m.share(share).unwrap();
                sum = sum.wrapping_add(group.minor);
            }
            sum
        })
    });
    let weights = [5u64, 3, 2, 1, 1];
    g.bench_function("split_1m_amounts_5_ways", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for i in 0..1_000_000i64 {
                let parts = split(black_box(i * 37 + 1), &weights).unwrap();
                sum = sum.wrapping_add(parts[0]);
            }
            sum
        })
    });
    g.finish();
}

criterion_group!(benches, quota, rate_limit, revenue);
criterion_main!(benches);
