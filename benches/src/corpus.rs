//! A seeded text corpus for the full-text benchmarks: product names and knowledge
//! chunks over a vocabulary whose words occur with Zipf frequencies (the `r`-th most
//! common word about `1/r` as often as the first), as words do in real text.

use crate::Rng;

/// The vocabulary: `n` distinct lower-case ASCII words of 3 to 9 letters, most common
/// first.
pub fn vocabulary(n: usize, rng: &mut Rng) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(n);
    while words.len() < n {
        let len = 3 + rng.below(7);
        let w: String = (0..len)
            .map(|_| char::from(b'a' + rng.below(26) as u8))
            .collect();
        if seen.insert(w.clone()) {
            words.push(w);
        }
    }
    words
}

/// Draws word ranks with Zipf frequencies over `n` words.
pub struct Zipf {
    /// Cumulative weights, for a binary search.
    cumulative: Vec<f64>,
}

impl Zipf {
    /// Ranks `0..n`, rank `r` with weight `1 / (r + 1)`.
    pub fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|r| {
                total += 1.0 / (r as f64 + 1.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// One rank.
    pub fn draw(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.cumulative.partition_point(|c| *c < x)
    }
}

/// `count` texts of `min..=max` words drawn from `words` with Zipf frequencies.
pub fn texts(count: usize, min: usize, max: usize, words: &[String], rng: &mut Rng) -> Vec<String> {
    let zipf = Zipf::new(words.len());
    (0..count)
        .map(|_| {
            let n = min + rng.below(max - min + 1);
            let mut text = String::new();
            for i in 0..n {
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(&words[zipf.draw(rng)]);
            }
            text
        })
        .collect()
}
