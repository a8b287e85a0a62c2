"""hnswlib on the data `benches/examples/vectors.rs` writes, for BENCHMARKS.md.

    ONE_VECTORS_DUMP=/tmp/vectors.bin cargo run --release -p one-benches --example vectors -- 100000 128 200 16
    python3 -m pip install --user hnswlib numpy
    python3 benches/hnswlib_compare.py /tmp/vectors.bin 100000 128

Cosine space, M=16, ef_construction=200, one thread for building and for queries.
Recall@10 is measured against exact search on the same normalised vectors.
"""

import sys
import time

import hnswlib
import numpy as np

path, n, dims = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
raw = np.fromfile(path, dtype="<f4").reshape(-1, dims)
data, queries = raw[:n], raw[n:]
unit = data / np.linalg.norm(data, axis=1, keepdims=True)
uq = queries / np.linalg.norm(queries, axis=1, keepdims=True)
truth = np.argsort(-(uq @ unit.T), axis=1)[:, :10]

index = hnswlib.Index(space="cosine", dim=dims)
index.init_index(max_elements=n, M=16, ef_construction=200)
index.set_num_threads(1)
start = time.perf_counter()
index.add_items(data, np.arange(n))
build = time.perf_counter() - start
print(f"hnswlib: {n} x {dims}, build {build:.1f} s (1 thread, M=16, ef_construction=200)")
for ef in (16, 32, 64):
    index.set_ef(ef)
    start = time.perf_counter()
    found = 0
    for q, want in zip(queries, truth):
        labels, _ = index.knn_query(q, k=10)
        found += len(set(labels[0]) & set(want))
    elapsed = time.perf_counter() - start
    print(
        f"hnswlib ef {ef}: recall@10 {found / (10 * len(queries)):.3f}, "
        f"{len(queries) / elapsed:.0f} queries/s ({elapsed * 1000 / len(queries):.3f} ms/query, one at a time from Python)"
    )
