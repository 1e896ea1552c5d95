//! Which principal components of the target X a synthetic dataset Y has captured, and at which
//! score (diffscore's `projected_r2` and `pc_captured_variance`, spec §1b "Analyses").
//!
//! For one iterate Y (both `n × p` after flattening 3-D `(T, C, N)` arrays to `(T·C, N)`):
//!
//! 1. centre the columns of X and Y and zero-pad the narrower one to the same width `p`;
//!    the analysis needs `n ≥ p`;
//! 2. predict X from Y: `X̂ = Q Qᵀ Xc` with `Q` from the thin QR of `Yc` (linear regression), or,
//!    with `orth`, `X̂ = Yc R` with `R = V Uᵀ` from the SVD `Xcᵀ Yc = U S Vᵀ` (orthogonal
//!    Procrustes). diffscore's `orth=True` code forms `Vh.T @ U`, i.e. `V U` instead of `V Uᵀ`,
//!    which is not the Procrustes solution (with `Y = X` it gives negative R²; its pipeline keeps
//!    that call commented out, "TODO: give very low R2"); we use the Procrustes map;
//! 3. for each principal direction `v_i` of `Xc` (right singular vector, variance `s_i²`):
//!    `R²_i = 1 − ‖Xc v_i − X̂ v_i‖² / ‖Xc v_i‖²`.
//!
//! With regression, `Xc v_i = s_i u_i` and `Q` has orthonormal columns, so
//! `R²_i = ‖Qᵀ u_i‖²` exactly; that is how it is computed (an `n·p·r` product per iterate after
//! the QR). With `orth` the residual is formed explicitly and `R²_i` can be negative.
//!
//! As in diffscore, `Q` has as many columns as the padded width even when `Yc` is rank-deficient
//! (zero-padded, or a rank-deficient iterate): the Householder QR then adds orthonormal columns
//! outside `Yc`'s column space, which count as captured variance. faer's Householder QR builds
//! the same `Q` as LAPACK's (checked against numpy in the narrower-Y fixture). Iterates of the
//! optimisation have the target's shape and full column rank, where this does not arise.
//!
//! Over a trajectory of iterates `Y_0, Y_1, …` with scores `s_0, s_1, …`, the "score to capture
//! PC i" is `interp1d(R²_i(Y_·), s_·)` (scipy, linear, `bounds_error=True`) evaluated at the
//! threshold `(R²_i(Y_0) + 1) / 2`, half-way from the starting value to 1; `None` where scipy
//! raises (threshold outside the range of `R²_i`) or returns a non-finite value. See
//! [`interp1d`] for the exact rules.
//!
//! Components: only the principal components of X with nonzero variance are reported (singular
//! value above `s_max · max(n, p) · ε`, the rank rule of [`crate::linalg::column_space`]).
//! diffscore also lists the zero-variance directions of the padded X, whose R² is `0/0 = NaN`
//! and whose score is NaN. The explained-variance ratio is `s_i² / Σ_j s_j²` over all singular
//! values of the unpadded `Xc` (scikit-learn's `PCA().explained_variance_ratio_`).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::{Conj, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

use super::AnalysisError;
use crate::array::Array;
use crate::linalg::{self, center, par_for, thin_svd, zero_pad};
use crate::progress::{Cancelled, Progress};

/// Options of the PC-capture analysis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct PcCaptureOptions {
    /// Predict X from Y with an orthogonal Procrustes map instead of linear regression
    /// (diffscore's `orth=True`).
    pub orth: bool,
}

/// The PC-capture analysis of a trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PcCapture {
    /// Whether Y was aligned to X by orthogonal Procrustes (`true`) or regression (`false`).
    pub orth: bool,
    /// Fraction of X's variance along each reported principal component, nonincreasing.
    pub explained_variance_ratio: Vec<f64>,
    /// `r2[k][i]`: R² with which the k-th recorded iterate captures PC i.
    pub r2: Vec<Vec<f64>>,
    /// Per PC, the R² threshold `(r2[0][i] + 1) / 2`.
    pub threshold: Vec<f64>,
    /// Per PC, the score at which `R²_i` reaches its threshold (linear interpolation of the score
    /// as a function of `R²_i`); `None` if it is never reached.
    pub score_to_capture: Vec<Option<f64>>,
}

/// The target X, prepared once (centred, SVD) so that many iterates can be analysed.
#[derive(Debug, Clone)]
pub struct PcTarget {
    shape: Vec<usize>,
    /// Centred X, `n × px`.
    xc: Mat<f64>,
    /// Left singular vectors of `xc` with nonzero singular value, `n × r`.
    u: Mat<f64>,
    /// The `r` nonzero singular values, nonincreasing.
    s: Vec<f64>,
    /// Right singular vectors, `px × r`.
    v: Mat<f64>,
    explained_variance_ratio: Vec<f64>,
}

impl PcTarget {
    /// Centre X and compute its principal components.
    pub fn new(x: &Array) -> Result<Self, AnalysisError> {
        let xm = x.to_mat()?;
        check_finite(&x.data, "the target")?;
        let (n, p) = xm.shape();
        if n < p {
            return Err(AnalysisError::TooFewRows { rows: n, cols: p });
        }
        let xc = center(xm.as_ref());
        let svd = thin_svd(xc.as_ref())?;
        let total: f64 = svd.s.iter().map(|s| s * s).sum();
        let smax = svd.s.first().copied().unwrap_or(0.0);
        let tol = smax * (n.max(p) as f64) * f64::EPSILON;
        let r = svd.s.iter().take_while(|&&s| s > tol).count();
        let s: Vec<f64> = svd.s[..r].to_vec();
        let explained_variance_ratio = s.iter().map(|s| s * s / total).collect();
        Ok(PcTarget {
            shape: x.shape.clone(),
            u: svd.u.as_ref().subcols(0, r).to_owned(),
            v: svd.v.as_ref().subcols(0, r).to_owned(),
            s,
            xc,
            explained_variance_ratio,
        })
    }

    /// Number of reported principal components (those with nonzero variance).
    pub fn n_components(&self) -> usize {
        self.s.len()
    }

    /// Fraction of X's variance along each reported principal component.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.explained_variance_ratio
    }

    /// R² of each principal component of X when predicted from `y` (one entry per component).
    ///
    /// `y` must have X's leading dimensions (the same rows once flattened); its width may differ
    /// (the narrower one is zero-padded), but the padded width must not exceed the row count.
    pub fn r2(&self, y: &Array, orth: bool) -> Result<Vec<f64>, AnalysisError> {
        let (n, px) = self.xc.shape();
        let rank = self.shape.len();
        if y.shape.len() != rank || y.shape[..rank - 1] != self.shape[..rank - 1] {
            return Err(AnalysisError::ShapeMismatch {
                what: "an iterate",
                target: self.shape.clone(),
                got: y.shape.clone(),
                rule: "all dimensions but the last (units) must be equal",
            });
        }
        let ym = y.to_mat()?;
        check_finite(&y.data, "an iterate")?;
        let p = px.max(ym.ncols());
        if n < p {
            return Err(AnalysisError::TooFewRows { rows: n, cols: p });
        }
        let yc = zero_pad(center(ym.as_ref()).as_ref(), p);
        let r = self.n_components();
        if !orth {
            // R²_i = ‖Qᵀ u_i‖², with Q the thin-QR factor of the padded Yc (as numpy's `qr`).
            let q = thin_q(yc.as_ref());
            let proj = linalg::mul_tn(q.as_ref(), self.u.as_ref());
            Ok((0..r).map(|i| proj.col(i).squared_norm_l2()).collect())
        } else {
            let xp = zero_pad(self.xc.as_ref(), p);
            let m = linalg::mul_tn(xp.as_ref(), yc.as_ref());
            let svd = thin_svd(m.as_ref())?;
            // Y → X map R = V Uᵀ; the prediction of X v_i is Yc R v_i.
            let rot = linalg::mul_nt(svd.v.as_ref(), svd.u.as_ref());
            let vp = Mat::from_fn(p, r, |i, j| if i < px { self.v[(i, j)] } else { 0.0 });
            let w = linalg::mul(rot.as_ref(), vp.as_ref());
            let pred = linalg::mul(yc.as_ref(), w.as_ref());
            Ok((0..r)
                .map(|i| {
                    let si = self.s[i];
                    let mut e = 0.0;
                    for k in 0..n {
                        let d = si * self.u[(k, i)] - pred[(k, i)];
                        e += d * d;
                    }
                    1.0 - e / (si * si)
                })
                .collect())
        }
    }
}

/// The PC-capture analysis of a whole trajectory: `ys[k]` is the k-th recorded iterate and
/// `scores[k]` its score (diffscore records Y0 twice; pass the trajectory as recorded).
pub fn pc_capture(
    x: &Array,
    ys: &[Array],
    scores: &[f64],
    options: &PcCaptureOptions,
    progress: &dyn Progress,
) -> Result<PcCapture, AnalysisError> {
    if ys.len() != scores.len() {
        return Err(AnalysisError::Length {
            what: "scores",
            got: scores.len(),
            expected: ys.len(),
        });
    }
    let target = PcTarget::new(x)?;
    let mut r2 = Vec::with_capacity(ys.len());
    for (k, y) in ys.iter().enumerate() {
        if progress.cancelled() {
            return Err(Cancelled.into());
        }
        r2.push(target.r2(y, options.orth)?);
        progress.report(
            (k + 1) as f64 / ys.len() as f64,
            "PC capture: R² of each principal component",
        );
    }
    PcCapture::from_r2(
        options.orth,
        target.explained_variance_ratio().to_vec(),
        r2,
        scores,
    )
}

impl PcCapture {
    /// Assemble the result from per-iterate R² rows (as returned by [`PcTarget::r2`]) and the
    /// scores of the same iterates.
    pub fn from_r2(
        orth: bool,
        explained_variance_ratio: Vec<f64>,
        r2: Vec<Vec<f64>>,
        scores: &[f64],
    ) -> Result<Self, AnalysisError> {
        if r2.len() != scores.len() {
            return Err(AnalysisError::Length {
                what: "scores",
                got: scores.len(),
                expected: r2.len(),
            });
        }
        let c = explained_variance_ratio.len();
        if let Some(row) = r2.iter().find(|row| row.len() != c) {
            return Err(AnalysisError::Length {
                what: "an R² row",
                got: row.len(),
                expected: c,
            });
        }
        let (threshold, score_to_capture) = score_to_capture(&r2, scores);
        Ok(PcCapture {
            orth,
            explained_variance_ratio,
            r2,
            threshold,
            score_to_capture,
        })
    }
}

/// Per component `i`: the threshold `(r2[0][i] + 1) / 2` and `interp1d(r2[·][i], scores)` at it.
/// Rows of `r2` are iterates; every row must have the same length.
pub fn score_to_capture(r2: &[Vec<f64>], scores: &[f64]) -> (Vec<f64>, Vec<Option<f64>>) {
    let c = r2.first().map_or(0, Vec::len);
    (0..c)
        .map(|i| {
            let col: Vec<f64> = r2.iter().map(|row| row[i]).collect();
            let t = (col[0] + 1.0) / 2.0;
            (t, interp1d(&col, scores, t))
        })
        .unzip()
}

/// scipy's `interp1d(x, y)(at)` (linear, `bounds_error=True`, `assume_sorted=False`), with
/// `None` for scipy's `ValueError` and for non-finite results.
///
/// The rules, as scipy applies them when `y` is float32 (diffscore's scores are float32 tensors
/// turned into numpy arrays, which routes `interp1d` to its `_call_linear`):
/// - the points are sorted by `x` with a stable sort, NaN last;
/// - `at < x[0]` or `at > x[last]` → out of bounds;
/// - `i` = first index with `x[i] ≥ at` (numpy `searchsorted`, NaN counting as largest), clipped to
///   `1..=len−1`; the result is the line through points `i−1` and `i` evaluated at `at`;
/// - fewer than two points → `None` (scipy refuses them).
///
/// Consequence worth knowing: when `at` equals the smallest `x` and that value is repeated (e.g.
/// `R²(Y0) = 1`, so the threshold is 1 and every R² is 1), the slope is `0/0` and the result is
/// `None`, exactly like diffscore's NaN.
pub fn interp1d(x: &[f64], y: &[f64], at: f64) -> Option<f64> {
    let len = x.len().min(y.len());
    if len < 2 || at.is_nan() {
        return None;
    }
    let mut idx: Vec<usize> = (0..len).collect();
    idx.sort_by(|&a, &b| nan_last(x[a], x[b]));
    let xs: Vec<f64> = idx.iter().map(|&k| x[k]).collect();
    let ys: Vec<f64> = idx.iter().map(|&k| y[k]).collect();
    if at < xs[0] || at > xs[len - 1] {
        return None;
    }
    let first_ge = xs
        .iter()
        .position(|&v| v.is_nan() || v >= at)
        .unwrap_or(len);
    let hi = first_ge.clamp(1, len - 1);
    let lo = hi - 1;
    let slope = (ys[hi] - ys[lo]) / (xs[hi] - xs[lo]);
    let v = slope * (at - xs[lo]) + ys[lo];
    v.is_finite().then_some(v)
}

fn nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn check_finite(data: &[f64], what: &'static str) -> Result<(), AnalysisError> {
    if data.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(AnalysisError::NonFinite { what })
    }
}

/// The first `min(m, n)` columns of `Q` in the Householder QR `a = Q R` (numpy's `qr` in its
/// default "reduced" mode).
pub(crate) fn thin_q(a: MatRef<'_, f64>) -> Mat<f64> {
    use faer::linalg::householder;
    use faer::linalg::qr::no_pivoting::factor;
    let (m, n) = a.shape();
    let k = m.min(n);
    if k == 0 {
        return Mat::zeros(m, 0);
    }
    let par: Par = par_for(4.0 * (m as f64) * (n as f64) * (k as f64));
    let mut qr = a.to_owned();
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
    let basis = Mat::from_fn(m, k, |i, j| match i.cmp(&j) {
        std::cmp::Ordering::Greater => qr[(i, j)],
        std::cmp::Ordering::Equal => 1.0,
        std::cmp::Ordering::Less => 0.0,
    });
    let mut q = Mat::<f64>::identity(m, k);
    let mut buf = MemBuffer::new(
        householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(m, bs, k),
    );
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        basis.as_ref(),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        par,
        MemStack::new(&mut buf),
    );
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Dtype;

    fn arr(n: usize, p: usize, f: impl Fn(usize, usize) -> f64) -> Array {
        let mut data = Vec::with_capacity(n * p);
        for i in 0..n {
            for j in 0..p {
                data.push(f(i, j));
            }
        }
        Array::new(vec![n, p], Dtype::Float64, data)
    }

    fn noise(seed: u64) -> impl Fn(usize, usize) -> f64 {
        move |i, j| {
            let mut s = seed ^ ((i as u64) << 32) ^ (j as u64);
            for _ in 0..3 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
            }
            ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        }
    }

    #[test]
    fn thin_q_is_orthonormal_and_spans_a() {
        let a = arr(9, 4, noise(1)).to_mat().unwrap();
        let q = thin_q(a.as_ref());
        assert_eq!(q.shape(), (9, 4));
        let g = linalg::gram_tn(q.as_ref());
        let e = &g - &Mat::<f64>::identity(4, 4);
        assert!(e.norm_max() < 1e-14);
        let back = linalg::mul(q.as_ref(), linalg::mul_tn(q.as_ref(), a.as_ref()).as_ref());
        assert!((&back - &a).norm_max() < 1e-14);
    }

    #[test]
    fn y_equal_x_captures_everything() {
        let x = arr(20, 5, noise(2));
        let t = PcTarget::new(&x).unwrap();
        for orth in [false, true] {
            for r in t.r2(&x, orth).unwrap() {
                assert!((r - 1.0).abs() < 1e-12, "orth={orth}: {r}");
            }
        }
        let ratio: f64 = t.explained_variance_ratio().iter().sum();
        assert!((ratio - 1.0).abs() < 1e-12);
    }

    #[test]
    fn y_with_a_subset_of_pcs_captures_exactly_those() {
        // Y's columns span PCs {0, 2} of X plus two centred directions orthogonal to every PC:
        // R² is 1 for PCs 0 and 2 and 0 for the others. (Y has full column rank: with a
        // rank-deficient Y, numpy's Householder Q, and so diffscore's, has extra columns outside
        // Y's column space.)
        let x = arr(30, 4, noise(3));
        let t = PcTarget::new(&x).unwrap();
        let g = center(arr(30, 2, noise(8)).to_mat().unwrap().as_ref());
        let ug = linalg::mul_tn(t.u.as_ref(), g.as_ref());
        let g = &g - &linalg::mul(t.u.as_ref(), ug.as_ref());
        let y = Mat::from_fn(30, 4, |i, j| match j {
            0 => t.s[0] * t.u[(i, 0)],
            1 => t.s[2] * t.u[(i, 2)],
            _ => g[(i, j - 2)],
        });
        let r2 = t.r2(&Array::from_mat(&y), false).unwrap();
        for (i, r) in r2.iter().enumerate() {
            let want = if i == 0 || i == 2 { 1.0 } else { 0.0 };
            assert!((r - want).abs() < 1e-10, "PC {i}: {r}");
        }
    }

    #[test]
    fn interp1d_follows_scipy() {
        // Plain interpolation on unsorted x.
        let x = [0.2, 0.1, 0.5, 0.9];
        let y = [2.0, 1.0, 5.0, 9.0];
        assert!((interp1d(&x, &y, 0.3).unwrap() - 3.0).abs() < 1e-12);
        assert_eq!(interp1d(&x, &y, 0.1), Some(1.0));
        assert_eq!(interp1d(&x, &y, 0.9), Some(9.0));
        // Out of bounds.
        assert_eq!(interp1d(&x, &y, 0.95), None);
        assert_eq!(interp1d(&x, &y, 0.05), None);
        // A repeated smallest x hit exactly: 0/0.
        assert_eq!(interp1d(&[1.0, 1.0, 1.0], &[0.3, 0.3, 0.5], 1.0), None);
        // Duplicates elsewhere: the first one at or above `at` (stable order) is the upper end.
        let x = [0.0, 0.5, 0.5, 1.0];
        let y = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(interp1d(&x, &y, 0.5), Some(1.0));
        assert!((interp1d(&x, &y, 0.75).unwrap() - 2.5).abs() < 1e-12);
        assert_eq!(interp1d(&[0.5], &[1.0], 0.5), None);
    }

    #[test]
    fn shape_checks() {
        let x = arr(5, 6, noise(4));
        assert!(matches!(
            PcTarget::new(&x),
            Err(AnalysisError::TooFewRows { rows: 5, cols: 6 })
        ));
        let x = arr(8, 3, noise(5));
        let t = PcTarget::new(&x).unwrap();
        let y = arr(7, 3, noise(6));
        assert!(matches!(
            t.r2(&y, false),
            Err(AnalysisError::ShapeMismatch { .. })
        ));
        let y = arr(8, 9, noise(7));
        assert!(matches!(
            t.r2(&y, false),
            Err(AnalysisError::TooFewRows { .. })
        ));
    }
}
