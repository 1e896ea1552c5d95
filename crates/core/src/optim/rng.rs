//! Seeded random tensors (candle's CPU RNG cannot be seeded, so every random number of an
//! optimisation run comes from one ChaCha8 stream).

use candle_core::{DType, Device, Result, Tensor};
use faer::Mat;
use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `len` i.i.d. standard normal draws.
pub(crate) fn normals(rng: &mut ChaCha8Rng, len: usize) -> Vec<f64> {
    (0..len)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect()
}

/// A standard normal tensor of the given shape.
pub(crate) fn randn(
    rng: &mut ChaCha8Rng,
    shape: &[usize],
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let len = shape.iter().product();
    Tensor::from_vec(normals(rng, len), shape, device)?.to_dtype(dtype)
}

/// A Haar-random `n × k` matrix with orthonormal columns (`k ≤ n`): the Q of the QR of a Gaussian
/// matrix, columns signed by the diagonal of R.
pub(crate) fn random_orthonormal(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Mat<f64> {
    let v = normals(rng, n * k);
    let g = Mat::from_fn(n, k, |i, j| v[i * k + j]);
    let qr = g.qr();
    let q = qr.compute_thin_Q();
    let r = qr.thin_R();
    Mat::from_fn(n, k, |i, j| {
        if r[(j, j)] < 0.0 {
            -q[(i, j)]
        } else {
            q[(i, j)]
        }
    })
}
