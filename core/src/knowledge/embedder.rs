//! Turning text into vectors: the [`Embedder`] seam, and a built-in embedder that needs no
//! model.
//!
//! The engine embeds knowledge text (and text queries) with the embedder it was given
//! ([`crate::Engine::with_embedder`]); an application with a real embedding model (a
//! sentence transformer, an embeddings API) implements [`Embedder`] over it, or passes
//! vectors itself. The dimension is fixed per database: the first vector stored fixes it,
//! and a vector of any other length is refused.
//!
//! [`HashingEmbedder`] is the default. It is **lexical, not semantic**: it hashes words and
//! character trigrams into a fixed number of signed buckets and normalises the result
//! (the "hashing trick"), so texts that share words and word fragments score high, and
//! synonyms or paraphrases with different words do not. It is good for tests, demos,
//! offline use, keyword-like search over short texts and de-duplication; it is no
//! substitute for a trained model where meaning matters.

/// Makes vectors from text.
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The length of every vector it makes.
    fn dims(&self) -> usize;

    /// The vector of `text`; must have [`Embedder::dims`] finite components.
    fn embed(&self, text: &str) -> Vec<f32>;

    /// How many tokens embedding `text` costs, for the `embedding_tokens` usage.
    fn tokens(&self, text: &str) -> u64 {
        words(text).count() as u64
    }
}

/// Lower-cased alphanumeric words of `text`.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The built-in, model-free embedder: feature hashing of words and character trigrams
/// (see the module docs for what it is good for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingEmbedder {
    dims: usize,
}

impl HashingEmbedder {
    /// The default dimension.
    pub const DEFAULT_DIMS: usize = 256;

    /// An embedder making `dims`-dimensional vectors (at least 8).
    pub fn new(dims: usize) -> Self {
        Self { dims: dims.max(8) }
    }

    fn add(&self, v: &mut [f32], feature: &[u8], weight: f32) {
        // FNV-1a: stable across platforms and releases, so stored vectors stay comparable.
        let h = feature.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        let slot = (h % self.dims as u64) as usize;
        v[slot] += if h >> 63 == 1 { -weight } else { weight };
    }
}

impl Default for HashingEmbedder {
    fn default() -> Self {
        Self::new(Self::DEFAULT_DIMS)
    }
}

impl Embedder for HashingEmbedder {
    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dims];
        for word in words(text) {
            self.add(&mut v, word.as_bytes(), 1.0);
            let padded: Vec<char> = format!(" {word} ").chars().collect();
            for tri in padded.windows(3) {
                let s: String = tri.iter().collect();
                self.add(&mut v, s.as_bytes(), 0.5);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn similar_texts_score_higher_than_unrelated_ones() {
        let e = HashingEmbedder::default();
        let a = e.embed("How do I reset my password?");
        let b = e.embed("resetting a forgotten password");
        let c = e.embed("Shipping rates to Canada");
        assert_eq!(a.len(), 256);
        assert!((cos(&a, &a) - 1.0).abs() < 1e-5);
        assert!(
            cos(&a, &b) > cos(&a, &c) + 0.2,
            "{} vs {}",
            cos(&a, &b),
            cos(&a, &c)
        );
        assert_eq!(e.embed(""), vec![0.0; 256]);
        assert_eq!(e.tokens("Hello, wide world!"), 3);
        assert_eq!(e.embed("Same text"), e.embed("same TEXT"));
    }
}
