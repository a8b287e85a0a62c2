//! Knowledge search through the engine: the whole query path (snapshot, permissions,
//! graph, tombstones, fresh range, records), filtered cases, and insert-to-searchable time.
//!
//! ```sh
//! cargo run --release -p one-benches --example knowledge -- 100000 128
//! ```
//!
//! Data as in `examples/vectors.rs` (200 Gaussian clusters, queries around the same
//! centres), normalised, so the exact answer is the dot-product query (always exact).

#![allow(
    clippy::disallowed_methods,
    reason = "benchmarks measure wall-clock time"
)]

use std::time::{Duration, Instant};

use one::*;

fn clustered(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = one_benches::Rng::new(seed);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut gauss = move || {
        let (u1, u2) = (uniform().max(1e-12), uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    };
    let centres: Vec<Vec<f32>> = (0..200)
        .map(|_| (0..dims).map(|_| gauss()).collect())
        .collect();
    (0..n)
        .map(|i| {
            let v: Vec<f32> = centres[i % 200].iter().map(|c| c + 0.1 * gauss()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// Runs the queries (timed, back to back), then their exact versions (untimed, after, so
/// the exact scans do not evict the graph from the caches between timed queries).
/// Returns (queries/s, recall@10 against the exact answers).
fn measure(db: &Ontology, ctx: &Context, queries: &[KnowledgeQuery]) -> (f64, f64) {
    let start = Instant::now();
    let answers: Vec<Vec<Hit>> = queries
        .iter()
        .map(|q| db.read(ctx, |v| v.query_knowledge(q)).unwrap())
        .collect();
    let spent = start.elapsed();
    let mut found = 0;
    let mut expected = 0;
    for (q, got) in queries.iter().zip(&answers) {
        let exact = db
            .read(ctx, |v| v.query_knowledge(&q.clone().metric(Metric::Dot)))
            .unwrap();
        found += got
            .iter()
            .filter(|h| exact.iter().any(|e| e.knowledge.id == h.knowledge.id))
            .count();
        expected += exact.len();
    }
    (
        queries.len() as f64 / spent.as_secs_f64(),
        found as f64 / expected.max(1) as f64,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (n, dims) = (arg(0, 100_000), arg(1, 128));
    let mut all = clustered(n + 200, dims, 7);
    let query_vectors = all.split_off(n);
    // `ONE_EF_SEARCH` overrides the default ef_search (100).
    let mut config = KnowledgeIndexConfig::default();
    if let Some(ef) = std::env::var("ONE_EF_SEARCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.params.ef_search = ef;
    }
    let db = Ontology::builder()
        .knowledge_index(config)
        .in_memory()
        .unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Organization, "Bench", "bench"))
        .unwrap()
        .id;
    let sys = Context::system(root);
    let groups: Vec<GroupId> = db
        .write(&sys, |tx| {
            (0..100)
                .map(|i| {
                    Ok(tx
                        .create_group(
                            root,
                            NewGroup::new(GroupType::Business, format!("g{i}"), format!("g{i}")),
                        )?
                        .id)
                })
                .collect::<Result<Vec<_>>>()
        })
        .unwrap();

    // One big group holding everything, and the same vectors spread over 100 groups.
    let start = Instant::now();
    for (c, chunk) in all.chunks(1000).enumerate() {
        db.write(&sys, |tx| {
            for (i, v) in chunk.iter().enumerate() {
                // Every tenth round over the 200 clusters is hot: hot chunks in every cluster.
                let round = (c * 1000 + i) / 200;
                let hot: &[&str] = if round % 10 == 0 { &["hot"] } else { &["cold"] };
                tx.create_knowledge(NewKnowledge::new("c").embedding(v.clone()).labels(hot))?;
                tx.create_knowledge(
                    NewKnowledge::new("c")
                        .embedding(v.clone())
                        .labels(hot)
                        .in_group(groups[c % 100]),
                )?;
            }
            Ok(())
        })
        .unwrap();
    }
    println!(
        "inserted 2 x {n} chunks of {dims} dims in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let report = db.admin().compact_knowledge().unwrap();
    println!(
        "compact: {} graphs, {} vectors, {:.1} s",
        report.built,
        report.vectors,
        start.elapsed().as_secs_f64()
    );

    let plain: Vec<KnowledgeQuery> = query_vectors
        .iter()
        .map(|v| KnowledgeQuery::vector(v.clone()).k(10))
        .collect();
    let (qps, recall) = measure(&db, &sys, &plain);
    println!("one group of {n}: {qps:.0} queries/s, recall@10 {recall:.3}");
    let hot: Vec<KnowledgeQuery> = plain
        .iter()
        .map(|q| q.clone().any_label(&["hot"]))
        .collect();
    let (qps, recall) = measure(&db, &sys, &hot);
    println!(
        "one group of {n}, label filter (10% match): {qps:.0} queries/s, recall@10 {recall:.3}"
    );
    let one_of_100: Vec<KnowledgeQuery> =
        plain.iter().map(|q| q.clone().group(groups[4])).collect();
    let (qps, recall) = measure(&db, &sys, &one_of_100);
    println!(
        "one group among 100 ({} chunks): {qps:.0} queries/s, recall@10 {recall:.3}",
        n / 100
    );
    let both: Vec<KnowledgeQuery> = one_of_100
        .iter()
        .map(|q| q.clone().any_label(&["hot"]))
        .collect();
    let (qps, recall) = measure(&db, &sys, &both);
    println!("one group among 100, label filter: {qps:.0} queries/s, recall@10 {recall:.3}");

    // Insert to searchable: a create commits, and the next query finds it.
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    for v in query_vectors.iter().take(50) {
        let start = Instant::now();
        let k = db
            .write(&sys, |tx| {
                tx.create_knowledge(NewKnowledge::new("new").embedding(v.clone()))
            })
            .unwrap();
        let hits = db
            .read(&sys, |view| {
                view.query_knowledge(&KnowledgeQuery::vector(v.clone()).k(1))
            })
            .unwrap();
        let took = start.elapsed();
        assert_eq!(hits[0].knowledge.id, k.id);
        worst = worst.max(took);
        total += took;
    }
    println!(
        "insert-to-searchable (create commit + first query that finds it, in memory): mean {:.3} ms, worst {:.3} ms",
        total.as_secs_f64() * 1000.0 / 50.0,
        worst.as_secs_f64() * 1000.0
    );
    let (qps, _) = measure(&db, &sys, &plain);
    println!("one group of {n} with 50 fresh chunks: {qps:.0} queries/s");
}
