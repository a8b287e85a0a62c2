//! Vector search on seeded clustered data (queries drawn around the same centres as the
//! data): HNSW build time, recall@10 against exact
//! search, single-thread queries per second, bytes per vector, and exact brute force side
//! by side. A comparison binary rather than a criterion bench: one build takes minutes.
//!
//! ```sh
//! cargo run --release -p one-benches --example vectors -- 100000 128 200 64,100
//! #                                         points dims clusters ef_search list
//! ```
//!
//! Each `ef_search` value needs its own build (instant-distance fixes it at build time).
//! `ONE_VECTORS_DUMP=path` also writes the data and queries (little-endian f32) for the
//! hnswlib comparison in `benches/hnswlib_compare.py`.

#![allow(
    clippy::disallowed_methods,
    reason = "benchmarks measure wall-clock time"
)]

use std::io::Write;
use std::time::Instant;

use one_storage::vectors::{IndexParams, UnitVector, VectorIndex};

/// Gaussian clusters: `clusters` centres drawn from N(0, 1)^dims, then `n` points and
/// `queries` queries around them (sigma 0.1), from independent noise.
fn clustered(
    n: usize,
    queries: usize,
    dims: usize,
    clusters: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = one_benches::Rng::new(seed);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut gauss = move || {
        let (u1, u2) = (uniform().max(1e-12), uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    };
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dims).map(|_| gauss()).collect())
        .collect();
    let mut around = |count: usize| -> Vec<Vec<f32>> {
        (0..count)
            .map(|i| {
                centres[i % clusters]
                    .iter()
                    .map(|c| c + 0.1 * gauss())
                    .collect()
            })
            .collect()
    };
    let data = around(n);
    let qs = around(queries);
    (data, qs)
}

fn exact_top10(points: &[UnitVector], q: &UnitVector) -> Vec<u128> {
    let mut scored: Vec<(f32, u128)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (q.cosine(p), i as u128 + 1))
        .collect();
    scored.select_nth_unstable_by(9, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(10);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, id)| id).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (n, dims, clusters) = (arg(0, 20_000), arg(1, 128), arg(2, 200));
    let efs: Vec<usize> = args
        .get(3)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![IndexParams::default().ef_search]);
    let (data, queries) = clustered(n, 1000, dims, clusters, 42);
    if let Ok(path) = std::env::var("ONE_VECTORS_DUMP") {
        let mut f = std::fs::File::create(&path).expect("dump file");
        for v in data.iter().chain(&queries) {
            for x in v {
                f.write_all(&x.to_le_bytes()).expect("dump");
            }
        }
        println!(
            "wrote {} + {} vectors of {dims} to {path}",
            data.len(),
            queries.len()
        );
    }
    println!("data: {n} x {dims}, {clusters} Gaussian clusters (sigma 0.1), 1000 queries");

    // Exact brute force over unit vectors in memory (the fresh-segment path).
    let points: Vec<UnitVector> = data.iter().map(|v| UnitVector::new(v)).collect();
    let unit_queries: Vec<UnitVector> = queries.iter().map(|v| UnitVector::new(v)).collect();
    let start = Instant::now();
    let truth: Vec<Vec<u128>> = unit_queries
        .iter()
        .map(|q| exact_top10(&points, q))
        .collect();
    let exact = start.elapsed();
    println!(
        "exact brute force: {:.2} ms/query, {:.0} queries/s",
        exact.as_secs_f64() * 1000.0 / queries.len() as f64,
        queries.len() as f64 / exact.as_secs_f64()
    );

    for ef in efs {
        let params = IndexParams {
            ef_search: ef,
            ef_construction: std::env::var("ONE_EF_CONSTRUCTION")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(IndexParams::default().ef_construction),
            ..IndexParams::default()
        };
        let items: Vec<(u128, Vec<f32>)> = data
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u128 + 1, v.clone()))
            .collect();
        let start = Instant::now();
        let index = VectorIndex::build(dims, items, params);
        let build = start.elapsed();
        let bytes = index.encode().len();
        let start = Instant::now();
        let mut found = 0;
        for (q, want) in queries.iter().zip(&truth) {
            let got = index.search(q, 10);
            found += got.iter().filter(|(id, _)| want.contains(id)).count();
        }
        let search = start.elapsed();
        println!(
            "hnsw ef_construction {} ef_search {ef}: build {:.1} s, recall@10 {:.3}, {:.0} queries/s ({:.3} ms/query), {} bytes/vector stored",
            params.ef_construction,
            build.as_secs_f64(),
            found as f64 / (10.0 * queries.len() as f64),
            queries.len() as f64 / search.as_secs_f64(),
            search.as_secs_f64() * 1000.0 / queries.len() as f64,
            bytes / n,
        );
    }
}
