//! Centred kernel alignment (spec §1a A).
//!
//! Linear kernel, all from the shared terms `hxy = ‖XcᵀYc‖_F² = ⟨K_X, K_Y⟩`, `hxx = ‖XcᵀXc‖_F²`,
//! `hyy` and the row norms `r_i = (K_X)_ii` (so either the `p×p` or the `n×n` space is used,
//! whichever is cheaper):
//! - Gretton (biased): `CKA = hxy / sqrt(hxx·hyy)`;
//! - Song (debiased, Kornblith's feature-space form on centred X):
//!   `d(X,Y) = hxy − n/(n−2)·⟨r_X, r_Y⟩ + ‖X‖²‖Y‖²/((n−1)(n−2))`, `CKA_u = d(X,Y)/sqrt(d(X,X)d(Y,Y))`;
//! - Lange: cosine of `HKH` with its diagonal zeroed: `(hxy − ⟨r_X,r_Y⟩)/sqrt((hxx − ‖r_X‖²)(hyy − ‖r_Y‖²))`.
//!
//! RBF kernels build `K_ij = exp(−d_ij²/(2σ²))` (`n×n`) with σ per matrix (absolute, Kornblith's
//! threshold rule on the median of all n² squared distances, or the median of the non-zero ones),
//! then centre it (`HKH`, or the U-centring `K̃`) and take the cosine.

use faer::{Mat, MatRef};

use super::MeasureError;
use super::context::Ctx;
use super::spec::{Hsic, Kernel};

fn degenerate(id: &str, which: &str) -> MeasureError {
    MeasureError::Degenerate {
        measure: id.to_string(),
        reason: format!(
            "{which} has no variance across rows (every row is the same after centring), so its kernel alignment is 0/0; remove constant representations"
        ),
    }
}

pub(crate) fn cka(
    ctx: &Ctx<'_>,
    kernel: Kernel,
    hsic: Hsic,
    id: &str,
) -> Result<f64, MeasureError> {
    match kernel {
        Kernel::Linear => linear(ctx, hsic, id),
        _ => {
            let kx = rbf_gram(ctx.xc(), kernel);
            let ky = rbf_gram(ctx.yc(), kernel);
            let (Some(kx), Some(ky)) = (kx, ky) else {
                return Err(degenerate(id, "X or Y"));
            };
            gram_cka(kx, ky, hsic).ok_or_else(|| degenerate(id, "X or Y"))
        }
    }
}

fn linear(ctx: &Ctx<'_>, hsic: Hsic, id: &str) -> Result<f64, MeasureError> {
    let t = ctx.linear();
    // ‖XcᵀXc‖_F = 0 exactly when Xc = 0, and it is at hand (‖Xc‖² would be another pass).
    if t.hxx == 0.0 {
        return Err(degenerate(id, "X"));
    }
    if t.hyy == 0.0 {
        return Err(degenerate(id, "Y"));
    }
    let (rx, ry) = match hsic {
        Hsic::Gretton => (&[][..], &[][..]),
        _ => ctx.row_norms2(),
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let (num, dx, dy) = match hsic {
        Hsic::Gretton => (t.hxy, t.hxx, t.hyy),
        Hsic::Lange => (
            t.hxy - dot(rx, ry),
            t.hxx - dot(rx, rx),
            t.hyy - dot(ry, ry),
        ),
        Hsic::Song => {
            let n = ctx.n() as f64;
            let (sx, sy) = (rx.iter().sum::<f64>(), ry.iter().sum::<f64>());
            let d = |h: f64, a: &[f64], b: &[f64], na: f64, nb: f64| {
                h - n / (n - 2.0) * dot(a, b) + na * nb / ((n - 1.0) * (n - 2.0))
            };
            (
                d(t.hxy, rx, ry, sx, sy),
                d(t.hxx, rx, rx, sx, sx),
                d(t.hyy, ry, ry, sy, sy),
            )
        }
    };
    if dx <= 0.0 || dy <= 0.0 {
        return Err(MeasureError::Degenerate {
            measure: id.to_string(),
            reason: "a centred Gram matrix is zero off its diagonal (e.g. fewer distinct rows than the estimator needs), so the alignment is 0/0".into(),
        });
    }
    Ok(num / (dx.sqrt() * dy.sqrt()))
}

/// Squared Euclidean distances between rows from the centred Gram.
fn sq_dists(xc: MatRef<'_, f64>) -> Mat<f64> {
    let g = crate::linalg::gram_nt(xc);
    let n = g.nrows();
    Mat::from_fn(n, n, |i, j| {
        if i == j {
            0.0
        } else {
            (g[(i, i)] + g[(j, j)] - 2.0 * g[(i, j)]).max(0.0)
        }
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    let m = v.len();
    v.sort_by(f64::total_cmp);
    if m % 2 == 1 {
        v[m / 2]
    } else {
        0.5 * (v[m / 2 - 1] + v[m / 2])
    }
}

/// The RBF Gram, or `None` when the bandwidth rule gives σ = 0 (all rows equal).
fn rbf_gram(xc: MatRef<'_, f64>, kernel: Kernel) -> Option<Mat<f64>> {
    let d2 = sq_dists(xc);
    let n = d2.nrows();
    let sigma2 = match kernel {
        Kernel::RbfSigma(s) => s * s,
        Kernel::RbfThreshold(t) => {
            let all: Vec<f64> = (0..n)
                .flat_map(|j| (0..n).map(move |i| (i, j)))
                .map(|(i, j)| d2[(i, j)])
                .collect();
            t * t * median(all)
        }
        Kernel::RbfMedian => {
            let nz: Vec<f64> = (0..n)
                .flat_map(|j| (0..n).map(move |i| (i, j)))
                .map(|(i, j)| d2[(i, j)])
                .filter(|&v| v != 0.0)
                .collect();
            if nz.is_empty() {
                return None;
            }
            median(nz)
        }
        Kernel::Linear => unreachable!("rbf_gram is only called for RBF kernels"),
    };
    if sigma2 <= 0.0 {
        return None;
    }
    Some(Mat::from_fn(n, n, |i, j| {
        (-d2[(i, j)] / (2.0 * sigma2)).exp()
    }))
}

/// `HKH` (biased centring).
fn center_gram(k: &mut Mat<f64>) {
    let n = k.nrows();
    let nf = n as f64;
    let means: Vec<f64> = (0..n).map(|j| k.col(j).sum() / nf).collect();
    let total = means.iter().sum::<f64>() / nf;
    for j in 0..n {
        for i in 0..n {
            k[(i, j)] += total - means[i] - means[j];
        }
    }
}

/// Kornblith's / Székely–Rizzo U-centring: zero diagonal, subtract corrected means.
fn u_center_gram(k: &mut Mat<f64>) {
    let n = k.nrows();
    let nf = n as f64;
    for i in 0..n {
        k[(i, i)] = 0.0;
    }
    let mut means: Vec<f64> = (0..n).map(|j| k.col(j).sum() / (nf - 2.0)).collect();
    let corr = means.iter().sum::<f64>() / (2.0 * (nf - 1.0));
    for m in &mut means {
        *m -= corr;
    }
    for j in 0..n {
        for i in 0..n {
            k[(i, j)] -= means[i] + means[j];
        }
    }
    for i in 0..n {
        k[(i, i)] = 0.0;
    }
}

/// Cosine of two kernel matrices after the chosen centring.
pub(crate) fn gram_cka(mut kx: Mat<f64>, mut ky: Mat<f64>, hsic: Hsic) -> Option<f64> {
    match hsic {
        Hsic::Gretton => {
            center_gram(&mut kx);
            center_gram(&mut ky);
        }
        Hsic::Lange => {
            center_gram(&mut kx);
            center_gram(&mut ky);
            for i in 0..kx.nrows() {
                kx[(i, i)] = 0.0;
                ky[(i, i)] = 0.0;
            }
        }
        Hsic::Song => {
            u_center_gram(&mut kx);
            u_center_gram(&mut ky);
        }
    }
    let num = crate::linalg::frob_dot(kx.as_ref(), ky.as_ref());
    let (nx, ny) = (kx.squared_norm_l2(), ky.squared_norm_l2());
    if nx <= 0.0 || ny <= 0.0 {
        return None;
    }
    Some(num / (nx.sqrt() * ny.sqrt()))
}
