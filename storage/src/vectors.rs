//! The vector index: an HNSW graph (instant-distance) over normalised vectors, searched by
//! cosine similarity.
//!
//! instant-distance builds a graph once from a batch and cannot insert or delete, so an
//! index here is an immutable snapshot of a set of `(id, vector)` pairs; the caller keeps
//! what changed since (new vectors searched exactly, deleted ids filtered out) and builds a
//! new index from time to time. Vectors are normalised and zero-padded to a multiple of 8
//! when the index is built, so the distance is the squared Euclidean distance between
//! unit vectors (`2 - 2 cos`, which orders exactly like cosine) computed with eight
//! independent accumulators the compiler vectorises: 8 lanes wide on a CPU with AVX2
//! (detected when the program runs), 4 with the SSE2 every x86-64 has. `M` is fixed at
//! 32 by the crate; `ef_search` is fixed when the index is built.
//!
//! An index is derived data: [`VectorIndex::encode`] gives bytes to persist and
//! [`VectorIndex::decode`] refuses anything it did not write (a version byte, a length and
//! a checksum guard them), so a damaged copy is rebuilt, never trusted.

use std::cell::RefCell;

use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};

/// Build and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexParams {
    /// Candidates considered while linking each point (quality of the graph).
    pub ef_construction: usize,
    /// Candidates considered per search (recall against speed); the most results a
    /// search returns.
    pub ef_search: usize,
    /// Seed of the layer assignment.
    pub seed: u64,
}

impl Default for IndexParams {
    /// `ef_construction` 100, `ef_search` 100: recall@10 above 0.95 on clustered data
    /// (see `BENCHMARKS.md`).
    fn default() -> Self {
        Self {
            ef_construction: 100,
            ef_search: 100,
            seed: 0x5eed,
        }
    }
}

/// A unit vector, zero-padded to a multiple of 8 components.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnitVector(Box<[f32]>);

impl UnitVector {
    /// `v` scaled to length 1 (a zero vector stays zero) and padded.
    pub fn new(v: &[f32]) -> Self {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        let padded = v.len().div_ceil(8) * 8;
        let mut out = vec![0.0f32; padded];
        for (o, x) in out.iter_mut().zip(v) {
            *o = x * scale;
        }
        UnitVector(out.into_boxed_slice())
    }

    /// The cosine similarity of two unit vectors.
    pub fn cosine(&self, other: &Self) -> f32 {
        1.0 - self.distance(other) / 2.0
    }
}

impl Point for UnitVector {
    fn distance(&self, other: &Self) -> f32 {
        squared_distance(&self.0, &other.0)
    }
}

/// Whether this CPU runs the loops below 8 lanes wide (AVX2).
fn wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The squared Euclidean distance over the whole groups of 8 components two slices share,
/// with the widest vector instructions this CPU has.
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    widest(
        a,
        b,
        squared_distance_portable,
        #[cfg(target_arch = "x86_64")]
        avx2::squared_distance,
    )
}

/// The dot product of two slices of the same length, with the widest vector instructions
/// this CPU has; the same result on every CPU.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    widest(
        a,
        b,
        dot_portable,
        #[cfg(target_arch = "x86_64")]
        avx2::dot,
    )
}

/// `portable(a, b)`, or on a CPU with AVX2 its copy `avx2` compiled for it.
#[inline(always)]
fn widest(
    a: &[f32],
    b: &[f32],
    portable: fn(&[f32], &[f32]) -> f32,
    #[cfg(target_arch = "x86_64")] avx2: unsafe fn(&[f32], &[f32]) -> f32,
) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if wide() {
        #[allow(
            unsafe_code,
            reason = "calls a function compiled for AVX2, after checking this CPU has it"
        )]
        // SAFETY: `avx2` is one of `mod avx2`'s functions, which need AVX2 and nothing
        // else; `wide` found it.
        return unsafe { avx2(a, b) };
    }
    portable(a, b)
}

/// The portable loops compiled for AVX2: the same code, 8 lanes wide.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    #[target_feature(enable = "avx2")]
    pub(super) fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
        super::squared_distance_portable(a, b)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        super::dot_portable(a, b)
    }
}

/// Eight independent accumulators (so the loop vectorises), then the tail.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Eight independent accumulators, so the compiler vectorises the loop (and the sum of
/// one lane's terms does not depend on the instruction set: results are the same on
/// every CPU).
#[inline(always)]
fn squared_distance_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            let d = a[i] - b[i];
            acc[i] += d * d;
        }
    }
    acc.iter().sum()
}

/// Why bytes are not an index this build can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("vector index bytes rejected: {0}")]
pub struct IndexDecodeError(String);

const FORMAT: u8 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    dims: u32,
    params: IndexParams,
    map: HnswMap<UnitVector, u128>,
}

/// An HNSW graph over `(id, vector)` pairs.
pub struct VectorIndex {
    dims: usize,
    params: IndexParams,
    map: HnswMap<UnitVector, u128>,
    max_id: u128,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("dims", &self.dims)
            .field("len", &self.len())
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Search scratch space, reused by every search on this thread.
    static SCRATCH: RefCell<Search> = RefCell::new(Search::default());
}

impl VectorIndex {
    /// Builds an index of `items` (all of dimension `dims`). Uses the rayon thread pool.
    pub fn build(dims: usize, items: Vec<(u128, Vec<f32>)>, params: IndexParams) -> Self {
        let max_id = items.iter().map(|(id, _)| *id).max().unwrap_or(0);
        let (ids, points): (Vec<u128>, Vec<UnitVector>) = items
            .into_iter()
            .map(|(id, v)| (id, UnitVector::new(&v)))
            .unzip();
        let map = Builder::default()
            .ef_construction(params.ef_construction)
            .ef_search(params.ef_search)
            .seed(params.seed)
            .build(points, ids);
        Self {
            dims,
            params,
            map,
            max_id,
        }
    }

    /// The `n` (at most `ef_search`) nearest ids to `query`, with cosine similarities,
    /// best first.
    pub fn search(&self, query: &[f32], n: usize) -> Vec<(u128, f32)> {
        let q = UnitVector::new(query);
        SCRATCH.with(|s| {
            let mut search = s.borrow_mut();
            self.map
                .search(&q, &mut search)
                .take(n)
                .map(|item| (*item.value, 1.0 - item.distance / 2.0))
                .collect()
        })
    }

    /// How many vectors it holds.
    pub fn len(&self) -> usize {
        self.map.values.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dimension of its vectors.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The parameters it was built with.
    pub fn params(&self) -> IndexParams {
        self.params
    }

    /// The largest id it holds (0 when empty).
    pub fn max_id(&self) -> u128 {
        self.max_id
    }

    /// Every id it holds.
    pub fn ids(&self) -> impl Iterator<Item = u128> + '_ {
        self.map.values.iter().copied()
    }

    /// Bytes to persist: a format byte, the length, an FNV-1a checksum, then postcard.
    pub fn encode(&self) -> Vec<u8> {
        let body = postcard::to_allocvec(&StoredRef {
            dims: self.dims as u32,
            params: self.params,
            map: &self.map,
        })
        .unwrap_or_default();
        let mut out = Vec::with_capacity(body.len() + 17);
        out.push(FORMAT);
        out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        out.extend_from_slice(&checksum(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// An index from [`VectorIndex::encode`]'s bytes; anything else is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, IndexDecodeError> {
        let bad = |why: &str| IndexDecodeError(why.to_string());
        let (&format, rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        if format != FORMAT {
            return Err(bad(&format!("format {format}, expected {FORMAT}")));
        }
        if rest.len() < 16 {
            return Err(bad("truncated header"));
        }
        let len = u64::from_be_bytes(rest[..8].try_into().map_err(|_| bad("header"))?);
        let sum = u64::from_be_bytes(rest[8..16].try_into().map_err(|_| bad("header"))?);
        let body = &rest[16..];
        if body.len() as u64 != len {
            return Err(bad("length mismatch"));
        }
        if checksum(body) != sum {
            return Err(bad("checksum mismatch"));
        }
        let stored: Stored = postcard::from_bytes(body).map_err(|e| bad(&e.to_string()))?;
        let dims = stored.dims as usize;
        if stored
            .map
            .iter()
            .any(|(_, p)| p.0.len() != dims.div_ceil(8) * 8)
        {
            return Err(bad("a vector has the wrong length"));
        }
        let max_id = stored.map.values.iter().copied().max().unwrap_or(0);
        Ok(Self {
            dims,
            params: stored.params,
            map: stored.map,
            max_id,
        })
    }
}

#[derive(Serialize)]
struct StoredRef<'a> {
    dims: u32,
    params: IndexParams,
    map: &'a HnswMap<UnitVector, u128>,
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instruction_set_gives_the_same_distance() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for dims in [8, 16, 128, 1536] {
            let a: Vec<f32> = (0..dims).map(|_| next()).collect();
            let b: Vec<f32> = (0..dims).map(|_| next()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            let portable = squared_distance_portable(&a, &b);
            assert!((portable - plain).abs() <= 1e-4 * plain.max(1.0), "{dims}");
            // The dispatched one is bit for bit the portable one, whichever it ran.
            assert_eq!(
                squared_distance(&a, &b).to_bits(),
                portable.to_bits(),
                "{dims}"
            );
            let (a, b) = (&a[..dims - 3], &b[..dims - 3]);
            let plain: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            assert!(
                (dot(a, b) - plain).abs() <= 1e-4 * plain.abs().max(1.0),
                "{dims}"
            );
            assert_eq!(dot(a, b).to_bits(), dot_portable(a, b).to_bits(), "{dims}");
        }
    }

    fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<(u128, Vec<f32>)> {
        let mut s = seed;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        };
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dims).map(|_| next()).collect())
            .collect();
        (0..n)
            .map(|i| {
                let c = &centres[i % clusters];
                (i as u128 + 1, c.iter().map(|x| x + 0.15 * next()).collect())
            })
            .collect()
    }

    #[test]
    fn finds_what_exact_search_finds() {
        // The last 50 points are the queries: near the data, never in it.
        let mut items = clustered(1550, 24, 15, 7);
        let queries = items.split_off(1500);
        let index = VectorIndex::build(24, items.clone(), IndexParams::default());
        assert_eq!(index.len(), 1500);
        let unit: Vec<(u128, UnitVector)> = items
            .iter()
            .map(|(id, v)| (*id, UnitVector::new(v)))
            .collect();
        let mut found = 0;
        for (_, q) in &queries {
            let qv = UnitVector::new(q);
            let mut exact: Vec<(f32, u128)> =
                unit.iter().map(|(id, v)| (qv.cosine(v), *id)).collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let want: Vec<u128> = exact.iter().take(10).map(|(_, id)| *id).collect();
            let got = index.search(q, 10);
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
            found += got.iter().filter(|(id, _)| want.contains(id)).count();
        }
        let recall = found as f64 / (10.0 * queries.len() as f64);
        eprintln!("recall@10 {recall}");
        assert!(recall >= 0.95, "recall@10 {recall}");
    }

    #[test]
    fn encodes_and_refuses_damaged_bytes() {
        let index = VectorIndex::build(8, clustered(200, 8, 4, 3), IndexParams::default());
        let bytes = index.encode();
        let back = VectorIndex::decode(&bytes).unwrap();
        assert_eq!((back.len(), back.dims(), back.max_id()), (200, 8, 200));
        let q = vec![0.5; 8];
        assert_eq!(back.search(&q, 5), index.search(&q, 5));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 1;
        assert!(VectorIndex::decode(&flipped).is_err());
        assert!(VectorIndex::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(VectorIndex::decode(&[]).is_err());
        assert!(VectorIndex::decode(&[9, 0, 0]).is_err());
    }

    #[test]
    fn unit_vectors_score_cosine() {
        let a = UnitVector::new(&[3.0, 4.0]);
        let b = UnitVector::new(&[6.0, 8.0]);
        let c = UnitVector::new(&[-4.0, 3.0]);
        assert!((a.cosine(&b) - 1.0).abs() < 1e-6);
        assert!(a.cosine(&c).abs() < 1e-6);
        assert_eq!(UnitVector::new(&[0.0; 3]).0.len(), 8);
    }
}
