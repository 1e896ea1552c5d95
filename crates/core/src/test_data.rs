//! Seeded pseudo-random data for unit tests: a 64-bit linear congruential stream, reproducible
//! and free of dependencies.

use faer::Mat;

/// A stream of numbers uniform in `[0, 1)` from `seed`.
pub(crate) fn stream(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// An `n × p` matrix with entries uniform in `[−0.5, 0.5)`.
pub(crate) fn uniform(n: usize, p: usize, seed: u64) -> Mat<f64> {
    let mut next = stream(seed);
    Mat::from_fn(n, p, |_, _| next() - 0.5)
}
