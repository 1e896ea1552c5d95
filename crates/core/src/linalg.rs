//! faer helpers shared by the measures: centring, Gram and cross products, and the symmetric
//! eigen, SVD and QR decompositions with an explicit [`Par`].
//!
//! Conventions:
//! - every function takes views (`MatRef`) and returns owned results;
//! - parallelism is chosen by [`par_for`] from the flop count: `Par::Seq` for small problems (no
//!   rayon task overhead, and safe to call from inside a rayon task), otherwise `Par::rayon(0)`,
//!   i.e. the global rayon pool. Nothing here creates a pool or a thread;
//! - symmetric products (`AᵀA`, `AAᵀ`) compute one triangle with faer's triangular matmul and
//!   mirror it, which halves the GEMM work;
//! - singular values alone go through faer's bidiagonalisation and our dqds
//!   (`linalg/bidiagonal.rs`), which replaces faer's divide and conquer on the bidiagonal (a third
//!   of its SVD's time);
//! - symmetric eigenvalues alone go through our tridiagonalisation (`linalg/tridiagonalize.rs`,
//!   twice as fast as faer's at 199²) and our root-free QL/QR (`linalg/tridiagonal.rs`), which
//!   replaces faer's tridiagonal QR (twice as slow at 199²);
//! - decomposition failures become [`LinalgError`] instead of panics.

mod bidiagonal;
mod tridiagonal;
mod tridiagonalize;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::BlockStructure;
use faer::traits::RealField;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// The power of two nearest `x > 0` on the log scale, within the normal exponent range: dividing
/// by it is exact and brings `x` near 1.
fn power_of_two_near(x: f64) -> f64 {
    2f64.powi((x.log2().round() as i32).clamp(-1022, 1023))
}

/// A decomposition did not converge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinalgError {
    #[error("the singular value decomposition did not converge")]
    SvdNoConvergence,
    #[error("the symmetric eigendecomposition did not converge")]
    EigenNoConvergence,
}

/// Below this many flops a decomposition or product runs on the calling thread (see [`par_for`]).
pub const PAR_MIN_FLOPS: f64 = 5e7;

/// `Par::Seq` below [`PAR_MIN_FLOPS`], otherwise the global rayon pool.
pub fn par_for(flops: f64) -> Par {
    if flops < PAR_MIN_FLOPS || rayon::current_num_threads() <= 1 {
        Par::Seq
    } else {
        Par::rayon(0)
    }
}

/// Column means of `x`.
pub fn column_means(x: MatRef<'_, f64>) -> Vec<f64> {
    use rayon::prelude::*;
    let n = x.nrows() as f64;
    let mean = |j: usize| x.col(j).sum() / n;
    if streams_in_parallel(x) {
        (0..x.ncols()).into_par_iter().map(mean).collect()
    } else {
        (0..x.ncols()).map(mean).collect()
    }
}

/// Column means of `x` and its squared Frobenius norms before and after centring, from one pass.
#[derive(Debug, Clone)]
pub struct ColumnMoments {
    pub means: Vec<f64>,
    /// `‖x‖_F²`.
    pub raw_norm2: f64,
    /// `‖x − 1μᵀ‖_F² = Σ_j (Σ_i x_ij² − n μ_j²)`: loses about `log₁₀(raw/centred)` digits to
    /// cancellation, so it is meant for inputs whose means are small against their spread.
    pub centred_norm2: f64,
}

/// [`ColumnMoments`] of `x`, each column summed in eight lanes (vectorised).
pub fn column_moments(x: MatRef<'_, f64>) -> ColumnMoments {
    use rayon::prelude::*;
    let n = x.nrows() as f64;
    let column = |j: usize| -> (f64, f64) {
        let (mut s, mut q) = ([0.0f64; 8], [0.0f64; 8]);
        let mut add = |lane: usize, v: f64| {
            s[lane] += v;
            q[lane] += v * v;
        };
        match x.col(j).try_as_col_major() {
            Some(c) => {
                let chunks = c.as_slice().chunks_exact(8);
                for (k, &v) in chunks.remainder().iter().enumerate() {
                    add(k, v);
                }
                for chunk in chunks {
                    for (k, &v) in chunk.iter().enumerate() {
                        add(k, v);
                    }
                }
            }
            None => x
                .col(j)
                .iter()
                .enumerate()
                .for_each(|(i, &v)| add(i % 8, v)),
        }
        (s.iter().sum(), q.iter().sum())
    };
    let sums: Vec<(f64, f64)> = if streams_in_parallel(x) {
        (0..x.ncols()).into_par_iter().map(column).collect()
    } else {
        (0..x.ncols()).map(column).collect()
    };
    let means: Vec<f64> = sums.iter().map(|&(s, _)| s / n).collect();
    let raw_norm2 = sums.iter().map(|&(_, q)| q).sum();
    let centred_norm2 = sums.iter().map(|&(s, q)| (q - s * s / n).max(0.0)).sum();
    ColumnMoments {
        means,
        raw_norm2,
        centred_norm2,
    }
}

/// `m − a bᵀ` in place (the rank-one correction that centres a raw product); with `a = b` the
/// result stays exactly symmetric, since `a_i b_j = a_j b_i` bit for bit.
pub fn sub_outer(mut m: MatMut<'_, f64>, a: &[f64], b: &[f64]) {
    for (j, &bj) in b.iter().enumerate() {
        for (i, &ai) in a.iter().enumerate() {
            m[(i, j)] -= ai * bj;
        }
    }
}

/// Below this many elements a memory-bound pass over a matrix stays on one thread.
const PAR_MIN_ELEMENTS: usize = 1 << 18;

/// Whether a memory-bound pass over `x` is worth splitting over the pool (column by column):
/// centring a 5000 × 1000 matrix takes 16 ms on one thread.
fn streams_in_parallel(x: MatRef<'_, f64>) -> bool {
    x.nrows() * x.ncols() >= PAR_MIN_ELEMENTS && rayon::current_num_threads() > 1
}

/// Whether every entry of `m` is finite: one branch-free (vectorisable) pass per column, the
/// columns split over the pool when large (6% of NBS at size C ran here on one thread).
pub fn all_finite(m: MatRef<'_, f64>) -> bool {
    use rayon::prelude::*;
    let column = |j: usize| match m.col(j).try_as_col_major() {
        Some(c) => c.as_slice().iter().fold(true, |ok, v| ok & v.is_finite()),
        None => m.col(j).iter().fold(true, |ok, v| ok & v.is_finite()),
    };
    if streams_in_parallel(m) {
        (0..m.ncols()).into_par_iter().all(column)
    } else {
        (0..m.ncols()).all(column)
    }
}

/// `x` with each column's mean subtracted (`H X` with `H = I − 11ᵀ/n`).
pub fn center(x: MatRef<'_, f64>) -> Mat<f64> {
    let means = column_means(x);
    center_with(x, &means)
}

/// `x` centred with the given column means. Works column by column on contiguous slices where it
/// can (the element-wise `Mat::from_fn` does not vectorise, and cost a third of linear CKA).
pub fn center_with(x: MatRef<'_, f64>, means: &[f64]) -> Mat<f64> {
    use rayon::prelude::*;
    let mut out = Mat::<f64>::zeros(x.nrows(), x.ncols());
    let centre_column = |(j, dst): (usize, faer::ColMut<'_, f64>)| {
        let m = means[j];
        let dst = dst
            .try_as_col_major_mut()
            .expect("an owned matrix has contiguous columns")
            .as_slice_mut();
        match x.col(j).try_as_col_major() {
            Some(src) => {
                for (d, &v) in dst.iter_mut().zip(src.as_slice()) {
                    *d = v - m;
                }
            }
            None => {
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = x[(i, j)] - m;
                }
            }
        }
    };
    if streams_in_parallel(x) {
        out.par_col_iter_mut().enumerate().for_each(centre_column);
    } else {
        out.col_iter_mut().enumerate().for_each(centre_column);
    }
    out
}

/// `x` zero-padded on the right to `p` columns (netrep's `zero_pad=True`).
pub fn zero_pad(x: MatRef<'_, f64>, p: usize) -> Mat<f64> {
    Mat::from_fn(x.nrows(), p.max(x.ncols()), |i, j| {
        if j < x.ncols() { x[(i, j)] } else { 0.0 }
    })
}

/// `a · b`.
pub fn mul<T: RealField>(a: MatRef<'_, T>, b: MatRef<'_, T>) -> Mat<T> {
    let mut out = Mat::zeros(a.nrows(), b.ncols());
    let par = par_for(2.0 * a.nrows() as f64 * a.ncols() as f64 * b.ncols() as f64);
    faer::linalg::matmul::matmul(out.as_mut(), Accum::Replace, a, b, T::one_impl(), par);
    out
}

/// `aᵀ · b`.
pub fn mul_tn(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    mul(a.transpose(), b)
}

/// `a · bᵀ`.
pub fn mul_nt(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    mul(a, b.transpose())
}

/// `aᵀ a`, computing the lower triangle only and mirroring it.
pub fn gram_tn(a: MatRef<'_, f64>) -> Mat<f64> {
    sym_product(a.transpose())
}

/// `a aᵀ`, computing the lower triangle only and mirroring it.
pub fn gram_nt(a: MatRef<'_, f64>) -> Mat<f64> {
    sym_product(a)
}

/// [`gram_nt`] on the calling thread, for callers that run several side by side.
pub fn gram_nt_sequential(a: MatRef<'_, f64>) -> Mat<f64> {
    let m = a.nrows();
    let mut out = Mat::zeros(m, m);
    accumulate_lower_blocked(out.as_mut(), a);
    mirror_lower(out.as_mut());
    out
}

/// `a aᵀ` through the triangular product (half the flops), lower triangle mirrored.
///
/// For a thin output (`m < 512` rows against more than `2m` columns) the columns are split over
/// the pool's threads, each summing its share sequentially: faer's parallel recursion over a
/// small triangle keeps the second core idle. 200² from 2000 columns, 2 threads: 0.92-1.08 ms
/// against 0.96-1.5 ms for the parallel triangular product and 1.55-1.97 ms for the plain GEMM
/// (probe, AMD machine, two runs); at 500² or 1000² the parallel triangular product is best.
/// Each share is summed in blocks of [`THIN_BLOCK`] columns, which stay in L2 across the
/// triangle's tiles: 1.02-1.05 against 1.19-1.53 ms for the same 200² (a later AMD machine).
fn sym_product(a: MatRef<'_, f64>) -> Mat<f64> {
    use rayon::prelude::*;
    let (m, k) = a.shape();
    let threads = rayon::current_num_threads();
    let flops = m as f64 * m as f64 * k as f64;
    let mut out = if m < 512 && k > 2 * m && threads > 1 && flops >= PAR_MIN_FLOPS {
        let chunk = k.div_ceil(threads);
        (0..k.div_ceil(chunk))
            .into_par_iter()
            .map(|t| {
                let j = t * chunk;
                let mut out = Mat::zeros(m, m);
                accumulate_lower_blocked(out.as_mut(), a.subcols(j, chunk.min(k - j)));
                out
            })
            .reduce_with(|x, y| x + y)
            .expect("k > 2m > 0 columns")
    } else {
        lower_product(a, par_for(flops))
    };
    mirror_lower(out.as_mut());
    out
}

/// `out += a aᵀ` on the lower triangle, on the calling thread, in blocks of [`THIN_BLOCK`]
/// columns.
fn accumulate_lower_blocked(mut out: MatMut<'_, f64>, a: MatRef<'_, f64>) {
    for b in (0..a.ncols()).step_by(THIN_BLOCK) {
        let block = a.subcols(b, THIN_BLOCK.min(a.ncols() - b));
        accumulate_lower(out.as_mut(), block, Par::Seq);
    }
}

/// Copies the strict lower triangle onto the upper one.
fn mirror_lower(mut out: MatMut<'_, f64>) {
    for j in 0..out.ncols() {
        for i in 0..j {
            out[(i, j)] = out[(j, i)];
        }
    }
}

/// Columns per block of a thin Gram's sequential sums (see [`sym_product`]).
const THIN_BLOCK: usize = 128;

/// The lower triangle of `a aᵀ` (the strict upper triangle is left zero).
fn lower_product(a: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let mut out = Mat::zeros(a.nrows(), a.nrows());
    accumulate_lower(out.as_mut(), a, par);
    out
}

/// `out += a aᵀ` on the lower triangle.
fn accumulate_lower(out: MatMut<'_, f64>, a: MatRef<'_, f64>, par: Par) {
    faer::linalg::matmul::triangular::matmul(
        out,
        BlockStructure::TriangularLower,
        Accum::Add,
        a,
        BlockStructure::Rectangular,
        a.transpose(),
        BlockStructure::Rectangular,
        1.0,
        par,
    );
}

/// Frobenius inner product `Σ a_ij b_ij`.
pub fn frob_dot(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    debug_assert_eq!(a.shape(), b.shape());
    let mut s = 0.0;
    for j in 0..a.ncols() {
        let (ca, cb) = (a.col(j), b.col(j));
        for i in 0..a.nrows() {
            s += ca[i] * cb[i];
        }
    }
    s
}

/// Squared Frobenius norm.
pub fn frob2(a: MatRef<'_, f64>) -> f64 {
    a.squared_norm_l2()
}

/// Singular values, nonincreasing: faer's bidiagonalisation, then dqds on the bidiagonal
/// (`linalg::bidiagonal`), or faer's whole SVD where dqds does not apply.
pub fn singular_values(a: MatRef<'_, f64>) -> Result<Vec<f64>, LinalgError> {
    let k = a.nrows().min(a.ncols());
    if k == 0 {
        return Ok(vec![]);
    }
    if let Some(s) = singular_values_by_dqds(a) {
        return Ok(s);
    }
    singular_values_by_svd(a)
}

/// [`singular_values`] through faer's bidiagonalisation and dqds; `None` where dqds declines.
fn singular_values_by_dqds(a: MatRef<'_, f64>) -> Option<Vec<f64>> {
    use faer::linalg::svd::bidiag;
    let a = if a.nrows() >= a.ncols() {
        a
    } else {
        a.transpose()
    };
    let (m, n) = a.shape();
    if n == 1 {
        return Some(vec![a.col(0).norm_l2()]);
    }
    // A tall matrix is first reduced to its triangle, as faer's SVD does.
    let mut b = if m > 2 * n { qr_r(a) } else { a.to_owned() };
    let m = b.nrows();
    let par = par_for(4.0 * m as f64 * (n * n) as f64);
    // Only B is needed, not the Householder sequences: with block size 1 faer skips building
    // their blocked factors (2-5% of the bidiagonalisation at 500² and 1000²).
    let mut h_left = Mat::<f64>::zeros(1, n);
    let mut h_right = Mat::<f64>::zeros(1, n - 1);
    let mut buf = MemBuffer::new(bidiag::bidiag_in_place_scratch::<f64>(
        m,
        n,
        par,
        Default::default(),
    ));
    bidiag::bidiag_in_place(
        b.as_mut(),
        h_left.as_mut(),
        h_right.as_mut(),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    );
    let d: Vec<f64> = (0..n).map(|i| b[(i, i)]).collect();
    let e: Vec<f64> = (0..n - 1).map(|i| b[(i, i + 1)]).collect();
    bidiagonal::singular_values(&d, &e)
}

/// [`singular_values`] through faer's SVD (divide and conquer on the bidiagonal).
fn singular_values_by_svd(a: MatRef<'_, f64>) -> Result<Vec<f64>, LinalgError> {
    let k = a.nrows().min(a.ncols());
    let mut s = faer::diag::Diag::<f64>::zeros(k);
    svd_into(a, &mut s, None)?;
    let mut v: Vec<f64> = s.column_vector().iter().copied().collect();
    v.sort_by(|a, b| b.total_cmp(a));
    Ok(v)
}

/// faer's SVD of `a` (`min(m, n) > 0`) into `s` and, when given, the thin `U` and `V`, with the
/// parallelism chosen by size.
fn svd_into<T: RealField>(
    a: MatRef<'_, T>,
    s: &mut faer::diag::Diag<T>,
    vectors: Option<(&mut Mat<T>, &mut Mat<T>)>,
) -> Result<(), LinalgError> {
    use faer::linalg::svd::{self, ComputeSvdVectors};
    let (m, n) = a.shape();
    let k = m.min(n) as f64;
    let (flops, compute) = match vectors {
        Some(_) => (8.0, ComputeSvdVectors::Thin),
        None => (4.0, ComputeSvdVectors::No),
    };
    let par = par_for(flops * (m as f64) * (n as f64) * k);
    let mut buf = MemBuffer::new(svd::svd_scratch::<T>(
        m,
        n,
        compute,
        compute,
        par,
        Default::default(),
    ));
    let (u, v) = match vectors {
        Some((u, v)) => (Some(u.as_mut()), Some(v.as_mut())),
        None => (None, None),
    };
    svd::svd(
        a,
        s.as_mut(),
        u,
        v,
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|_| LinalgError::SvdNoConvergence)
}

/// Singular values (nonincreasing) from the eigenvalues of the smaller Gram (`aᵀa` or `aaᵀ`),
/// about twice as fast as the SVD, when that keeps their sum within `max_rel_err`; otherwise
/// from the SVD.
///
/// Square roots of eigenvalues lose accuracy on small singular values. With every eigenvalue off
/// by at most `τ = √k·ε·λ_max`, `k = max(m, n)`, `σ_i` is off by at most `τ/σ_i`, or `√τ` when
/// `σ_i² ≤ τ`; the Gram route is kept only when these bounds sum to at most `max_rel_err · Σσ`.
/// `τ` is a backward-stable eigensolver's `ε·λ_max` (LAPACK's own error estimate) with the
/// Gram's length-`k` inner products counted at `√k·ε`, the size rounding errors reach in practice
/// (Higham & Mary's probabilistic bound), not the worst case `k·ε`. Below 32 columns the SVD costs
/// microseconds, so it always answers there. The test
/// `singular_values_via_gram_stay_within_their_bound` checks accepted sums on adversarial spectra.
pub fn singular_values_via_gram(
    a: MatRef<'_, f64>,
    max_rel_err: f64,
) -> Result<Vec<f64>, LinalgError> {
    if a.nrows().min(a.ncols()) >= 32
        && let Some(sigma) = singular_values_from_gram(a, max_rel_err)?
    {
        return Ok(sigma);
    }
    singular_values(a)
}

/// The Gram route of [`singular_values_via_gram`]; `None` when its error bound is too large.
pub(crate) fn singular_values_from_gram(
    a: MatRef<'_, f64>,
    max_rel_err: f64,
) -> Result<Option<Vec<f64>>, LinalgError> {
    let (m, n) = a.shape();
    let gram = if n <= m { gram_tn(a) } else { gram_nt(a) };
    singular_values_of_gram(gram.as_ref(), m.max(n), max_rel_err)
}

/// Singular values from `gram`, the Gram of a matrix whose longer side is `k`, when the bound of
/// [`singular_values_via_gram`] allows; `None` otherwise.
fn singular_values_of_gram(
    gram: MatRef<'_, f64>,
    k: usize,
    max_rel_err: f64,
) -> Result<Option<Vec<f64>>, LinalgError> {
    let lam = sym_eigvals(gram)?;
    let lmax = lam.last().copied().unwrap_or(0.0).max(0.0);
    let tau = (k as f64).sqrt() * f64::EPSILON * lmax;
    let sigma: Vec<f64> = lam.iter().rev().map(|&l| l.max(0.0).sqrt()).collect();
    let bound: f64 = sigma
        .iter()
        .map(|&s| if s * s > tau { tau / s } else { tau.sqrt() })
        .sum();
    Ok((bound <= max_rel_err * sigma.iter().sum::<f64>()).then_some(sigma))
}

/// [`singular_values_via_gram`] for a square upper triangular `r` (entries below the diagonal
/// ignored), whose Gram `rᵀr` costs a third of the dense one's flops: 0.11 against 0.19 ms at
/// 199² (probe).
pub fn upper_triangular_singular_values_via_gram(
    r: MatRef<'_, f64>,
    max_rel_err: f64,
) -> Result<Vec<f64>, LinalgError> {
    let n = r.nrows();
    assert_eq!(n, r.ncols(), "a triangular matrix is square");
    if n >= 32 {
        let gram = triangular_product(
            BlockStructure::TriangularLower,
            (r.transpose(), BlockStructure::TriangularLower),
            (r, BlockStructure::TriangularUpper),
        );
        if let Some(sigma) = singular_values_of_gram(gram.as_ref(), n, max_rel_err)? {
            return Ok(sigma);
        }
    }
    let upper = Mat::from_fn(n, n, |i, j| if i <= j { r[(i, j)] } else { 0.0 });
    singular_values(upper.as_ref())
}

/// Thin SVD of a tall `a` (`m ≥ n`) from the eigendecomposition of `aᵀa` when that is
/// well conditioned (`λ_min ≥ λ_max / max_condition`): `s = √λ`, `V` its eigenvectors,
/// `U = a V diag(1/s)`, about 2.5× faster than the SVD for `m ≫ n`. Squaring the matrix costs
/// accuracy in proportion to that condition number (errors about `ε·λ_max/λ_min` relative), so
/// wider or ill-conditioned inputs go to the SVD.
pub fn thin_svd_via_gram(
    a: MatRef<'_, f64>,
    max_condition: f64,
) -> Result<ThinSvd<f64>, LinalgError> {
    let (m, n) = a.shape();
    if n == 0 || n > m {
        return thin_svd(a);
    }
    let (lam, vecs) = sym_eigen(gram_tn(a).as_ref())?;
    let (lmin, lmax) = (lam[0], lam[n - 1]);
    if !(lmin > 0.0 && lmin * max_condition >= lmax) {
        return thin_svd(a);
    }
    // nonincreasing order, as the SVD
    let s: Vec<f64> = lam.iter().rev().map(|l| l.sqrt()).collect();
    let v = Mat::from_fn(n, n, |i, j| vecs[(i, n - 1 - j)]);
    let mut u = mul(a, v.as_ref());
    for (j, sj) in s.iter().enumerate() {
        let col = u
            .col_mut(j)
            .try_as_col_major_mut()
            .expect("owned, contiguous");
        col.as_slice_mut().iter_mut().for_each(|x| *x /= sj);
    }
    Ok(ThinSvd { u, s, v })
}

/// Thin SVD `a = U diag(s) Vᵀ`, singular values nonincreasing.
pub struct ThinSvd<T = f64> {
    pub u: Mat<T>,
    pub s: Vec<T>,
    pub v: Mat<T>,
}

/// Thin SVD of `a`, in `a`'s precision.
pub fn thin_svd<T: RealField>(a: MatRef<'_, T>) -> Result<ThinSvd<T>, LinalgError> {
    let (m, n) = a.shape();
    let k = m.min(n);
    let mut s = faer::diag::Diag::<T>::zeros(k);
    let mut u = Mat::zeros(m, k);
    let mut v = Mat::zeros(n, k);
    if k > 0 {
        svd_into(a, &mut s, Some((&mut u, &mut v)))?;
    }
    Ok(ThinSvd {
        u,
        s: s.column_vector().iter().cloned().collect(),
        v,
    })
}

/// Eigenvalues of the symmetric matrix `a` (lower triangle read), nondecreasing: the
/// tridiagonalisation of `linalg/tridiagonalize.rs` (faer's where that declines), then the
/// root-free QL/QR of `linalg/tridiagonal.rs`, or faer's whole solver where that declines.
pub fn sym_eigvals(a: MatRef<'_, f64>) -> Result<Vec<f64>, LinalgError> {
    if let Some(values) = sym_eigvals_by_tridiagonal(a) {
        return Ok(values);
    }
    sym_evd(a, false).map(|(s, _)| s)
}

/// [`sym_eigvals`] through a tridiagonalisation and our root-free QL/QR; `None` where the latter
/// declines.
fn sym_eigvals_by_tridiagonal(a: MatRef<'_, f64>) -> Option<Vec<f64>> {
    use faer::linalg::evd::tridiag;
    let n = a.nrows();
    assert_eq!(n, a.ncols(), "sym_eigvals needs a square matrix");
    if n < 2 {
        return Some(if n == 1 { vec![a[(0, 0)]] } else { vec![] });
    }
    if let Some((d, e)) = tridiagonalize::tridiagonalize(a) {
        return tridiagonal::eigenvalues(&d, &e);
    }
    let par = par_for(10.0 * (n as f64).powi(3));
    let mut t = Mat::<f64>::zeros(n, n);
    t.copy_from_triangular_lower(a);
    // With block size 1 faer skips the blocked factors of the Householder sequence, as for the
    // bidiagonalisation: only the tridiagonal is needed.
    let mut householder = Mat::<f64>::zeros(1, n - 1);
    let mut buf = MemBuffer::new(tridiag::tridiag_in_place_scratch::<f64>(
        n,
        par,
        Default::default(),
    ));
    tridiag::tridiag_in_place(
        t.as_mut(),
        householder.as_mut(),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    );
    let d: Vec<f64> = (0..n).map(|i| t[(i, i)]).collect();
    let e: Vec<f64> = (0..n - 1).map(|i| t[(i + 1, i)]).collect();
    tridiagonal::eigenvalues(&d, &e)
}

/// Eigen-decomposition `a = U diag(s) Uᵀ` of a symmetric matrix, eigenvalues nondecreasing.
pub fn sym_eigen(a: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>), LinalgError> {
    sym_evd(a, true).map(|(s, u)| (s, u.unwrap_or_else(|| Mat::zeros(0, 0))))
}

fn sym_evd(a: MatRef<'_, f64>, vectors: bool) -> Result<(Vec<f64>, Option<Mat<f64>>), LinalgError> {
    use faer::linalg::evd::{self, ComputeEigenvectors};
    let n = a.nrows();
    assert_eq!(n, a.ncols(), "sym_evd needs a square matrix");
    if n == 0 {
        return Ok((vec![], vectors.then(|| Mat::zeros(0, 0))));
    }
    let par = par_for(10.0 * (n as f64).powi(3));
    let mut s = faer::diag::Diag::<f64>::zeros(n);
    let mut u = vectors.then(|| Mat::<f64>::zeros(n, n));
    let compute = if vectors {
        ComputeEigenvectors::Yes
    } else {
        ComputeEigenvectors::No
    };
    let mut buf = MemBuffer::new(evd::self_adjoint_evd_scratch::<f64>(
        n,
        compute,
        par,
        Default::default(),
    ));
    evd::self_adjoint_evd(
        a,
        s.as_mut(),
        u.as_mut().map(|u| u.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|_| LinalgError::EigenNoConvergence)?;
    Ok((s.column_vector().iter().copied().collect(), u))
}

/// The `R` factor (upper triangular, `min(m, n) × n`) of the QR decomposition of `a`.
pub fn qr_r(a: MatRef<'_, f64>) -> Mat<f64> {
    use faer::linalg::qr::no_pivoting::factor;
    let (m, n) = a.shape();
    let k = m.min(n);
    let mut qr = a.to_owned();
    if k == 0 {
        return Mat::zeros(k, n);
    }
    let par = par_for(2.0 * (m as f64) * (n as f64) * (k as f64));
    let bs = factor::recommended_block_size::<f64>(m, n);
    let mut coeff = Mat::<f64>::zeros(bs, k);
    let mut buf = MemBuffer::new(factor::qr_in_place_scratch::<f64>(
        m,
        n,
        bs,
        par,
        Default::default(),
    ));
    factor::qr_in_place(
        qr.as_mut(),
        coeff.as_mut(),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    );
    Mat::from_fn(k, n, |i, j| if i <= j { qr[(i, j)] } else { 0.0 })
}

/// A matrix `x̃` with at most `min(n, p)` columns and the same row Gram: `x̃ x̃ᵀ = x xᵀ`.
///
/// When `p ≤ n` this is `x` itself; otherwise `x̃ = Rᵀ` from the QR of `xᵀ` (`xᵀ = Q R`), so
/// every orthogonally invariant quantity of `x` (singular values of `xᵀ y`, `‖xᵀx‖_F`, …) can be
/// computed from an `n × n` matrix instead of a `p`-wide one.
pub fn row_space_reduce(x: MatRef<'_, f64>) -> Mat<f64> {
    if x.ncols() <= x.nrows() {
        x.to_owned()
    } else {
        qr_r(x.transpose()).transpose().to_owned()
    }
}

/// Orthonormal basis `Q` (`n × r`) of the column space of `x`, with the rank `r` decided by the
/// singular values: `s_i > s_max · max(n, p) · ε`. Also returns the singular values.
pub fn column_space(x: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<f64>), LinalgError> {
    let svd = thin_svd(x)?;
    let smax = svd.s.first().copied().unwrap_or(0.0);
    let tol = smax * (x.nrows().max(x.ncols()) as f64) * f64::EPSILON;
    let r = svd.s.iter().take_while(|&&s| s > tol).count();
    let q = svd.u.as_ref().subcols(0, r).to_owned();
    Ok((q, svd.s))
}

/// The Householder reflector `H = I − β v vᵀ` that sends `1` (length `n`) to `−√n e₁`.
fn ones_reflector(n: usize) -> (Vec<f64>, f64) {
    let sq = (n as f64).sqrt();
    let v: Vec<f64> = (0..n)
        .map(|i| if i == 0 { 1.0 + sq } else { 1.0 })
        .collect();
    let beta = 2.0 / v.iter().map(|x| x * x).sum::<f64>();
    (v, beta)
}

/// Which triangle of a square matrix holds its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triangle {
    Lower,
    Upper,
}

/// For a column-centred `xc` (`n × p`, `p > n`) with centred Gram `k = xc xcᵀ`: a triangular
/// factor `F` (`(n−1)²`, lower or upper as asked) of `k` restricted to `1⊥`, i.e.
/// `H k H = [0 0; 0 F Fᵀ]` with `H` the reflector sending `1` to `−√n e₁`: the Cholesky factor,
/// or for [`Triangle::Upper`] that of the matrix in reverse index order, reversed back. Then
/// `x̃ = H [0; F]` ([`embed_centred_factor`]) has `x̃ x̃ᵀ = k`, and for two such sides
/// `x̃ᵀỹ = F_xᵀ F_y`, upper triangular when `F_x` is lower and `F_y` upper. Costs `O(n³)` after
/// the Gram instead of a `p × n` QR. `None` when the restricted Gram is not clearly positive
/// definite (`min F_ii < 1e−4 · max F_ii`), i.e. the data are (nearly) rank deficient, where the
/// QR route is more accurate.
pub fn centred_gram_cholesky(k: MatRef<'_, f64>, triangle: Triangle) -> Option<Mat<f64>> {
    use faer::linalg::cholesky::llt::factor;
    let n = k.nrows();
    if n < 2 {
        return None;
    }
    // Below its first row and column the reflector's vector is all ones, so with
    // `w = β k v − ½β² (vᵀ k v) v` the restriction is `(H k H)[1.., 1..] = k[1.., 1..] − w1ᵀ − 1wᵀ`.
    let (v, beta) = ones_reflector(n);
    let kv: Vec<f64> = (0..n).map(|j| column_dot(k, j, &v)).collect();
    let s: f64 = v.iter().zip(&kv).map(|(a, b)| a * b).sum();
    let w: Vec<f64> = (1..n)
        .map(|i| beta * kv[i] - 0.5 * beta * beta * s * v[i])
        .collect();
    let m = n - 1;
    let mut l = Mat::<f64>::zeros(m, m);
    for b in 0..m {
        let out = l
            .col_mut(b)
            .try_as_col_major_mut()
            .expect("owned, contiguous");
        let out = &mut out.as_slice_mut()[b..];
        match triangle {
            Triangle::Lower => {
                let kc = k.col(b + 1).subrows(b + 1, m - b);
                for ((o, ka), wa) in out.iter_mut().zip(kc.iter()).zip(&w[b..]) {
                    *o = ka - wa - w[b];
                }
            }
            Triangle::Upper => {
                // reversed order: entry (a, b) is the restriction's (m−1−a, m−1−b), i.e. column
                // m−1−b read upwards from its diagonal (k's column m−b, rows m−b down to 1)
                let kc = k.col(m - b).subrows(1, m - b);
                let wb = w[m - 1 - b];
                for ((o, ka), wa) in out
                    .iter_mut()
                    .zip(kc.iter().rev())
                    .zip(w[..m - b].iter().rev())
                {
                    *o = ka - wa - wb;
                }
            }
        }
    }
    // Sequential: at these sizes (n ≈ 200, 0.2 ms) the pool has nothing to gain, and the two
    // sides' factorisations already run side by side (`Ctx::factor_wide_sides`).
    let mut buf = MemBuffer::new(factor::cholesky_in_place_scratch::<f64>(
        m,
        Par::Seq,
        Default::default(),
    ));
    factor::cholesky_in_place(
        l.as_mut(),
        Default::default(),
        Par::Seq,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .ok()?;
    let d: Vec<f64> = (0..m).map(|i| l[(i, i)].abs()).collect();
    let max = d.iter().copied().fold(0.0, f64::max);
    let min = d.iter().copied().fold(f64::INFINITY, f64::min);
    if !(max > 0.0 && min > 1e-4 * max) {
        return None;
    }
    // faer leaves workspace values above the diagonal
    Some(match triangle {
        Triangle::Lower => {
            for j in 1..m {
                l.col_mut(j).subrows_mut(0, j).fill(0.0);
            }
            l
        }
        Triangle::Upper => Mat::from_fn(m, m, |i, j| {
            if i <= j {
                l[(m - 1 - i, m - 1 - j)]
            } else {
                0.0
            }
        }),
    })
}

/// `Σ_i k_ij v_i`, the `j`-th entry of `kᵀv`.
fn column_dot(k: MatRef<'_, f64>, j: usize, v: &[f64]) -> f64 {
    match k.col(j).try_as_col_major() {
        Some(c) => c.as_slice().iter().zip(v).map(|(a, b)| a * b).sum(),
        None => k.col(j).iter().zip(v).map(|(a, b)| a * b).sum(),
    }
}

/// `x̃ = H [0; F]` (`n × (n−1)`) from a factor of [`centred_gram_cholesky`].
pub fn embed_centred_factor(f: MatRef<'_, f64>) -> Mat<f64> {
    let m = f.nrows();
    let (v, beta) = ones_reflector(m + 1);
    // x̃ = [0; F] − β v (vᵀ [0; F]), with v all ones below its first entry
    let vtf: Vec<f64> = (0..m).map(|c| f.col(c).iter().sum()).collect();
    Mat::from_fn(m + 1, m, |i, c| {
        let base = if i == 0 { 0.0 } else { f[(i - 1, c)] };
        base - beta * v[i] * vtf[c]
    })
}

/// `L_xᵀ U_y` (upper triangular) for a lower and an upper triangular factor: a sixth of the
/// dense product's flops (0.12 against 0.18 ms for the lower-lower product at 199², probe).
pub fn factors_tn(lx: MatRef<'_, f64>, uy: MatRef<'_, f64>) -> Mat<f64> {
    triangular_product(
        BlockStructure::TriangularUpper,
        (lx.transpose(), BlockStructure::TriangularUpper),
        (uy, BlockStructure::TriangularUpper),
    )
}

/// The `structure` part of `lhs · rhs` (zeros elsewhere), each factor read as its structure
/// says, on the calling thread: at the sizes of the triangular factors (n ≈ 200) the pool is
/// slower (0.14-0.17 against 0.12 ms at 199², probe).
fn triangular_product(
    structure: BlockStructure,
    (lhs, lhs_structure): (MatRef<'_, f64>, BlockStructure),
    (rhs, rhs_structure): (MatRef<'_, f64>, BlockStructure),
) -> Mat<f64> {
    let mut out = Mat::zeros(lhs.nrows(), rhs.ncols());
    faer::linalg::matmul::triangular::matmul(
        out.as_mut(),
        structure,
        Accum::Replace,
        lhs,
        lhs_structure,
        rhs,
        rhs_structure,
        1.0,
        Par::Seq,
    );
    out
}

/// Orthonormal basis of the column space of `x`: the Householder thin `Q` when `x` is clearly of
/// full column rank (`min|R_ii| > 1e−8 · max|R_ii|`), otherwise the rank-revealing
/// [`column_space`] (SVD).
pub fn orthonormal_basis(x: MatRef<'_, f64>) -> Result<Mat<f64>, LinalgError> {
    if x.ncols() <= x.nrows() && x.ncols() > 0 {
        let qr = x.qr();
        let r = qr.thin_R();
        let d: Vec<f64> = (0..r.ncols()).map(|i| r[(i, i)].abs()).collect();
        let max = d.iter().copied().fold(0.0, f64::max);
        let min = d.iter().copied().fold(f64::INFINITY, f64::min);
        if max > 0.0 && min > 1e-8 * max {
            return Ok(qr.compute_thin_Q());
        }
    }
    column_space(x).map(|(q, _)| q)
}

/// Solve `a x = b` for symmetric positive definite `a` (Cholesky); `None` when not SPD.
pub fn spd_solve(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Option<Mat<f64>> {
    Cholesky::new(a.to_owned()).map(|c| c.solve(b))
}

/// The Cholesky factor `L` (`a = L Lᵀ`) of a symmetric positive definite matrix, with the
/// parallelism chosen by size (faer's `Llt` uses its global setting, the rayon pool, which costs
/// more than it saves on the small systems an optimisation solves thousands of times).
pub struct Cholesky<T: RealField> {
    /// `L` in the lower triangle; the strict upper triangle is not referenced.
    l: Mat<T>,
}

impl<T: RealField> Cholesky<T> {
    /// Factors `a` (only its lower triangle is read); `None` when it is not positive definite.
    pub fn new(mut a: Mat<T>) -> Option<Self> {
        use faer::linalg::cholesky::llt::factor;
        let n = a.nrows();
        let par = par_for((n as f64).powi(3) / 3.0);
        let mut buf = MemBuffer::new(factor::cholesky_in_place_scratch::<T>(
            n,
            par,
            Default::default(),
        ));
        factor::cholesky_in_place(
            a.as_mut(),
            Default::default(),
            par,
            MemStack::new(&mut buf),
            Default::default(),
        )
        .ok()?;
        Some(Cholesky { l: a })
    }

    /// `b ← L⁻¹ b`.
    pub fn solve_lower_in_place(&self, b: MatMut<'_, T>) {
        let n = self.l.nrows() as f64;
        let par = par_for(n * n * b.ncols() as f64);
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(self.l.as_ref(), b, par);
    }

    /// `b ← L⁻ᵀ b`.
    pub fn solve_upper_in_place(&self, b: MatMut<'_, T>) {
        let n = self.l.nrows() as f64;
        let par = par_for(n * n * b.ncols() as f64);
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(self.l.transpose(), b, par);
    }

    /// `a⁻¹ b`.
    pub fn solve(&self, b: MatRef<'_, T>) -> Mat<T> {
        let mut x = b.to_owned();
        let n = self.l.nrows() as f64;
        let par = par_for(2.0 * n * n * b.ncols() as f64);
        faer::linalg::cholesky::llt::solve::solve_in_place(
            self.l.as_ref(),
            x.as_mut(),
            par,
            MemStack::new(&mut MemBuffer::new(faer::dyn_stack::StackReq::EMPTY)),
        );
        x
    }
}

impl Cholesky<f64> {
    /// An estimate of the 2-norm condition number `λ_max(a) / λ_min(a)` of the factored matrix:
    /// power iteration on `a = L Lᵀ` and inverse iteration through the factor, 20 steps each from
    /// a fixed start, `O(n²)` per step. Both Rayleigh quotients approach their extreme eigenvalue
    /// from inside, so this can underestimate; callers leave a margin.
    pub fn condition_estimate(&self) -> f64 {
        let n = self.l.nrows();
        if n == 0 {
            return 1.0;
        }
        // A fixed start with a component along every eigenvector in general position.
        let start = Mat::from_fn(n, 1, |i, _| 1.0 + ((i * 7919) % 101) as f64 / 101.0);
        let lower = self.l.as_ref();
        let apply_a = |v: &mut Mat<f64>| {
            // a v = L (Lᵀ v), reading only the lower triangle
            let t = faer::linalg::matmul::triangular::matmul;
            let mut w = Mat::<f64>::zeros(n, 1);
            t(
                w.as_mut(),
                BlockStructure::Rectangular,
                Accum::Replace,
                lower.transpose(),
                BlockStructure::TriangularUpper,
                v.as_ref(),
                BlockStructure::Rectangular,
                1.0,
                Par::Seq,
            );
            t(
                v.as_mut(),
                BlockStructure::Rectangular,
                Accum::Replace,
                lower,
                BlockStructure::TriangularLower,
                w.as_ref(),
                BlockStructure::Rectangular,
                1.0,
                Par::Seq,
            );
        };
        let apply_inv = |v: &mut Mat<f64>| {
            self.solve_lower_in_place(v.as_mut());
            self.solve_upper_in_place(v.as_mut());
        };
        let rayleigh = |op: &dyn Fn(&mut Mat<f64>)| -> f64 {
            let mut v = &start * (1.0 / start.norm_l2());
            let mut q = 0.0;
            for _ in 0..20 {
                let mut w = v.clone();
                op(&mut w);
                q = (v.transpose() * &w)[(0, 0)];
                let norm = w.norm_l2();
                if !(norm > 0.0 && norm.is_finite()) {
                    return norm;
                }
                v = w * (1.0 / norm);
            }
            q
        };
        let lmax = rayleigh(&apply_a);
        let inv_lmin = rayleigh(&apply_inv);
        if !(lmax.is_finite() && inv_lmin.is_finite()) {
            return f64::INFINITY;
        }
        lmax * inv_lmin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_data::uniform as m;

    #[test]
    fn non_finite_entries_are_found_in_any_column_of_a_large_matrix() {
        // 600 × 500 is above the parallel threshold; a two-thread pool splits the columns
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let clean = m(600, 500, 3);
        pool.install(|| {
            assert!(all_finite(clean.as_ref()));
            assert!(all_finite(clean.transpose()));
            for (i, j) in [(0, 0), (599, 499), (300, 250), (17, 1)] {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let mut x = clean.clone();
                    x[(i, j)] = bad;
                    assert!(!all_finite(x.as_ref()), "{bad} at ({i}, {j})");
                    assert!(
                        !all_finite(x.transpose()),
                        "{bad} at ({i}, {j}), transposed"
                    );
                }
            }
        });
    }

    #[test]
    fn centring_matches_the_definition_on_any_layout() {
        // the second size is above PAR_MIN_ELEMENTS: columns are centred on the pool
        for (n, p) in [(30, 7), (600, 500)] {
            let x = m(n, p, 1);
            let xt = x.transpose().to_owned();
            for view in [x.as_ref(), xt.transpose()] {
                let c = center(view);
                for j in 0..p {
                    let mean = view.col(j).sum() / n as f64;
                    for i in 0..n {
                        assert_eq!(c[(i, j)], view[(i, j)] - mean);
                    }
                    assert!(c.col(j).sum().abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn cholesky_solves_in_both_precisions_and_refuses_indefinite_systems() {
        let x = m(40, 6, 2);
        let a = gram_tn(x.as_ref());
        let b = m(6, 3, 3);
        let sol = Cholesky::new(a.clone()).expect("SPD").solve(b.as_ref());
        let back = mul(a.as_ref(), sol.as_ref());
        assert!((&back - &b).norm_max() < 1e-12);
        let a32 = Mat::<f32>::from_fn(6, 6, |i, j| a[(i, j)] as f32);
        let b32 = Mat::<f32>::from_fn(6, 3, |i, j| b[(i, j)] as f32);
        let sol32 = Cholesky::new(a32.clone()).expect("SPD").solve(b32.as_ref());
        assert!((&mul(a32.as_ref(), sol32.as_ref()) - &b32).norm_max() < 1e-4);
        let mut indefinite = a.clone();
        indefinite[(2, 2)] = -1.0;
        assert!(Cholesky::new(indefinite).is_none());
    }

    #[test]
    fn thin_svd_in_single_precision_reconstructs() {
        let a = Mat::<f32>::from_fn(9, 5, |i, j| ((i * 5 + j) as f32 * 0.37).sin());
        let svd = thin_svd(a.as_ref()).expect("svd");
        let us = Mat::<f32>::from_fn(9, 5, |i, j| svd.u[(i, j)] * svd.s[j]);
        let back = mul(us.as_ref(), svd.v.transpose());
        assert!((&back - &a).norm_max() < 1e-5);
        assert!(svd.s.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn gram_matches_plain_product() {
        let a = m(7, 4, 1);
        let g = gram_tn(a.as_ref());
        let h = mul_tn(a.as_ref(), a.as_ref());
        assert!((&g - &h).norm_max() < 1e-14);
        let g = gram_nt(a.as_ref());
        let h = mul_nt(a.as_ref(), a.as_ref());
        assert!((&g - &h).norm_max() < 1e-14);
    }

    #[test]
    fn thin_gram_split_over_threads_and_blocks_matches_plain_product() {
        // 100 rows, 5101 columns: over PAR_MIN_FLOPS, so two threads each sum 20 or 21 blocks,
        // the last of them partial.
        let a = m(100, 5101, 3);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let g = pool.install(|| gram_nt(a.as_ref()));
        let h = mul_nt(a.as_ref(), a.as_ref());
        assert!((&g - &h).norm_max() < 1e-12 * h.norm_max());
    }

    #[test]
    fn reduction_keeps_row_gram() {
        let a = m(5, 12, 2);
        let r = row_space_reduce(a.as_ref());
        assert_eq!(r.shape(), (5, 5));
        let d = &gram_nt(r.as_ref()) - &gram_nt(a.as_ref());
        assert!(d.norm_max() < 1e-13);
    }

    #[test]
    fn svd_and_eigen_agree() {
        let a = m(6, 4, 3);
        let s = singular_values(a.as_ref()).unwrap();
        let e = sym_eigvals(gram_tn(a.as_ref()).as_ref()).unwrap();
        for (si, ei) in s.iter().rev().zip(e.iter()) {
            assert!((si * si - ei).abs() < 1e-12);
        }
        let t = thin_svd(a.as_ref()).unwrap();
        assert!((t.s[0] - s[0]).abs() < 1e-13);
    }

    #[test]
    fn singular_values_via_gram_match_the_svd_or_fall_back_to_it() {
        for (r, c) in [(7, 4), (4, 7), (30, 30)] {
            let a = m(r, c, 5);
            let exact = singular_values(a.as_ref()).unwrap();
            let fast = singular_values_via_gram(a.as_ref(), 1e-10).unwrap();
            assert_eq!(fast.len(), exact.len());
            for (f, e) in fast.iter().zip(&exact) {
                assert!((f - e).abs() < 1e-12 * exact[0], "{f} vs {e}");
            }
        }
        // rank 1: the zero singular values are not resolvable from the Gram, so the SVD answers
        let u = m(6, 1, 1);
        let v = m(1, 5, 2);
        let a = &u * &v;
        assert_eq!(
            singular_values_via_gram(a.as_ref(), 1e-10).unwrap(),
            singular_values(a.as_ref()).unwrap()
        );
    }

    #[test]
    fn dqds_matches_the_prescribed_spectrum_and_the_svd() {
        let mut spectra: Vec<(usize, usize, Vec<f64>)> = Vec::new();
        for k in [2, 40, 90] {
            for lo in [1e-3f64, 1e-9, 1e-15] {
                let geometric = (0..k).map(|i| lo.powf(i as f64 / (k - 1) as f64)).collect();
                spectra.push((k, k, geometric));
            }
            let mut clustered = vec![1.0; k];
            clustered[0] = 3.0;
            spectra.push((k + 5, k, clustered.clone())); // tall
            spectra.push((k, 3 * k, clustered)); // wide: transposed, then QR-reduced (m > 2n)
            let mut deficient = vec![1.0; k];
            deficient.iter_mut().skip(k / 2).for_each(|v| *v = 0.0);
            spectra.push((k, k, deficient));
        }
        let mut by_dqds = 0;
        for (case, (r, c, s)) in spectra.iter().enumerate() {
            let a = with_spectrum(*r, *c, s, 300 + case as u64);
            let svd = singular_values_by_svd(a.as_ref()).unwrap();
            let mut want = s.clone();
            want.sort_by(|a, b| b.total_cmp(a));
            let Some(got) = singular_values_by_dqds(a.as_ref()) else {
                continue;
            };
            by_dqds += 1;
            assert_eq!(got.len(), want.len());
            for i in 0..got.len() {
                // both are backward stable: within a few ε·σ_max of the spectrum and of each other
                assert!(
                    (got[i] - want[i]).abs() <= 1e-13 * want[0]
                        && (got[i] - svd[i]).abs() <= 1e-13 * want[0],
                    "case {case} ({r}×{c}), σ_{i}: {} vs {} (svd {})",
                    got[i],
                    want[i],
                    svd[i]
                );
            }
        }
        assert!(
            by_dqds >= spectra.len() - 3,
            "only {by_dqds} cases took dqds"
        );
    }

    /// `u · diag(s) · vᵀ` with random orthonormal `u` (`r × k`) and `v` (`c × k`).
    fn with_spectrum(r: usize, c: usize, s: &[f64], seed: u64) -> Mat<f64> {
        let basis = |rows: usize, seed: u64| m(rows, s.len(), seed).qr().compute_thin_Q();
        let (u, v) = (basis(r, seed), basis(c, seed + 1));
        let us = Mat::from_fn(r, s.len(), |i, j| u[(i, j)] * s[j]);
        mul_nt(us.as_ref(), v.as_ref())
    }

    /// Adversarial spectra for the Gram route's error bound: wherever the route accepts, the sum of
    /// the singular values must be within the promised `1e−10` of the SVD's.
    #[test]
    fn singular_values_via_gram_stay_within_their_bound() {
        let mut spectra: Vec<(usize, usize, Vec<f64>)> = Vec::new();
        for k in [40, 90] {
            let geometric = |lo: f64| -> Vec<f64> {
                (0..k).map(|i| lo.powf(i as f64 / (k - 1) as f64)).collect()
            };
            for lo in [1e-2, 1e-4, 1e-6, 1e-8, 1e-12] {
                spectra.push((k, k, geometric(lo)));
                spectra.push((k + 7, k, geometric(lo)));
            }
            for (small, count) in [(1e-5, 1), (1e-7, 3), (1e-9, k / 2), (0.0, 2), (0.0, k / 3)] {
                let mut s = vec![1.0; k];
                s.iter_mut().rev().take(count).for_each(|v| *v = small);
                spectra.push((k, k, s.clone()));
                // one dominant direction above the rest
                s[0] = 1e4;
                spectra.push((k, k + 11, s));
            }
            // tightly clustered just above the bound's √τ turning point
            spectra.push((
                k,
                k,
                (0..k)
                    .map(|i| 1e-7 * (1.0 + i as f64 * 1e-3))
                    .chain([1.0])
                    .take(k)
                    .collect(),
            ));
        }
        let mut accepted = 0;
        for (case, (r, c, s)) in spectra.iter().enumerate() {
            let a = with_spectrum(*r, *c, s, 100 + case as u64);
            let exact: f64 = singular_values(a.as_ref()).unwrap().iter().sum();
            if let Some(fast) = singular_values_from_gram(a.as_ref(), 1e-10).unwrap() {
                accepted += 1;
                let err = (fast.iter().sum::<f64>() - exact).abs() / exact;
                assert!(
                    err <= 1e-10,
                    "case {case} ({r}×{c}): relative error {err:e}"
                );
            }
        }
        // products of independent factors, the shape the measures hand it (`XcᵀYc` and reduced forms)
        for (n, p) in [(40, 40), (41, 40), (80, 40), (200, 60)] {
            let (x, y) = (m(n, p, 7), m(n, p, 8));
            let a = mul_tn(x.as_ref(), y.as_ref());
            let exact: f64 = singular_values(a.as_ref()).unwrap().iter().sum();
            if let Some(fast) = singular_values_from_gram(a.as_ref(), 1e-10).unwrap() {
                accepted += 1;
                let err = (fast.iter().sum::<f64>() - exact).abs() / exact;
                assert!(err <= 1e-10, "XᵀY {n}×{p}: relative error {err:e}");
            }
        }
        // the check must have something to check: most of these spectra are benign enough
        assert!(accepted >= 10, "only {accepted} cases took the Gram route");
    }

    #[test]
    fn centred_gram_factors_reproduce_the_gram_in_either_triangle() {
        let (n, p) = (37, 90);
        let x = center(m(n, p, 21).as_ref());
        let k = gram_nt(x.as_ref());
        let scale = k.norm_max();
        let mut factors = vec![];
        for triangle in [Triangle::Lower, Triangle::Upper] {
            let f = centred_gram_cholesky(k.as_ref(), triangle).unwrap();
            for j in 0..n - 1 {
                for i in 0..n - 1 {
                    let zero = match triangle {
                        Triangle::Lower => i < j,
                        Triangle::Upper => i > j,
                    };
                    assert!(!zero || f[(i, j)] == 0.0, "{triangle:?} ({i}, {j})");
                }
            }
            // x̃ x̃ᵀ = k with x̃ = H [0; F]
            let xt = embed_centred_factor(f.as_ref());
            let back = gram_nt(xt.as_ref());
            assert!((&back - &k).norm_max() <= 1e-12 * scale, "{triangle:?}");
            factors.push(f);
        }
        // L_xᵀ U_y is upper triangular with the singular values of XcᵀYc
        let y = center(m(n, 70, 22).as_ref());
        let uy = centred_gram_cholesky(gram_nt(y.as_ref()).as_ref(), Triangle::Upper).unwrap();
        let r = factors_tn(factors[0].as_ref(), uy.as_ref());
        assert!((0..n - 1).all(|j| (j + 1..n - 1).all(|i| r[(i, j)] == 0.0)));
        let want = singular_values(mul_tn(x.as_ref(), y.as_ref()).as_ref()).unwrap();
        let got = upper_triangular_singular_values_via_gram(r.as_ref(), 1e-10).unwrap();
        let total: f64 = want.iter().sum();
        assert!((got.iter().sum::<f64>() - total).abs() <= 1e-12 * total);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-10 * want[0], "{g} vs {w}");
        }
        // the SVD fallback (a spread too wide for the Gram route) reads the upper triangle only
        let mut graded = Mat::from_fn(40, 40, |i, j| {
            if i <= j {
                1e-9f64.powf(i as f64 / 39.0)
            } else {
                7.0
            }
        });
        graded[(39, 39)] = 1e-12;
        let upper = Mat::from_fn(40, 40, |i, j| if i <= j { graded[(i, j)] } else { 0.0 });
        let got = upper_triangular_singular_values_via_gram(graded.as_ref(), 1e-10).unwrap();
        assert_eq!(got, singular_values(upper.as_ref()).unwrap());
    }

    #[test]
    fn thin_svd_via_gram_reconstructs_or_falls_back() {
        for (r, c) in [(40, 7), (7, 7), (5, 9)] {
            let a = m(r, c, 4);
            let svd = thin_svd_via_gram(a.as_ref(), 1e6).unwrap();
            let exact = thin_svd(a.as_ref()).unwrap();
            for (x, y) in svd.s.iter().zip(&exact.s) {
                assert!((x - y).abs() < 1e-12 * exact.s[0], "{x} vs {y}");
            }
            let us = Mat::from_fn(svd.u.nrows(), svd.s.len(), |i, j| svd.u[(i, j)] * svd.s[j]);
            let back = mul_nt(us.as_ref(), svd.v.as_ref());
            assert!(frob2((&back - &a).as_ref()).sqrt() < 1e-12 * frob2(a.as_ref()).sqrt());
            let utu = gram_tn(svd.u.as_ref());
            let eye = Mat::<f64>::identity(utu.nrows(), utu.ncols());
            assert!(frob2((&utu - &eye).as_ref()).sqrt() < 1e-12);
        }
        // rank deficient: the Gram route is refused and the SVD answers
        let a = &m(12, 1, 1) * &m(1, 4, 2);
        let svd = thin_svd_via_gram(a.as_ref(), 1e6).unwrap();
        assert_eq!(svd.s, thin_svd(a.as_ref()).unwrap().s);
    }

    #[test]
    fn cholesky_condition_estimate_approaches_the_true_condition_from_below() {
        let q = m(60, 60, 9).qr().compute_thin_Q();
        for kappa in [1.0f64, 37.0, 1e4, 1e9] {
            // eigenvalues spread geometrically from 1 to kappa
            let lam: Vec<f64> = (0..60).map(|i| kappa.powf(i as f64 / 59.0)).collect();
            let a = Mat::from_fn(60, 60, |i, j| {
                (0..60).map(|k| q[(i, k)] * lam[k] * q[(j, k)]).sum::<f64>()
            });
            let est = Cholesky::new(a).unwrap().condition_estimate();
            assert!(est <= kappa * (1.0 + 1e-6), "κ={kappa}: estimate {est}");
            assert!(est >= kappa / 2.0, "κ={kappa}: estimate {est}");
        }
        // only the lower triangle is read
        let g = gram_tn(m(9, 5, 1).as_ref());
        let clean = Cholesky::new(g.clone()).unwrap().condition_estimate();
        let nan_upper = Mat::from_fn(5, 5, |i, j| if j > i { f64::NAN } else { g[(i, j)] });
        assert_eq!(
            Cholesky::new(nan_upper).unwrap().condition_estimate(),
            clean
        );
    }
}
