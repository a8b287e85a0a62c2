//! Timing for the benchmark examples: each call timed, and p50, p99 and calls per second
//! printed from the samples.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]

use std::time::{Duration, Instant};

/// Prints `name`, calls per second over the samples' sum, and their p50 and p99.
pub fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let total: Duration = samples.iter().sum();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name:<44} {:>9.0} ops/s  p50 {:>8.1} µs  p99 {:>8.1} µs",
        samples.len() as f64 / total.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
    );
}

/// The time of each of `n` calls of `f` (with the call's number).
pub fn timed_each(n: usize, mut f: impl FnMut(usize)) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            let started = Instant::now();
            f(i);
            started.elapsed()
        })
        .collect()
}
