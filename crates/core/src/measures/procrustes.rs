//! NBS, Bures and Procrustes distances, generalised shape metrics, permutation metric
//! (spec §1a B, C).
//!
//! - `NBS = ‖XcᵀYc‖_* / (‖Xc‖_F ‖Yc‖_F)`; angular Procrustes `d = arccos(NBS)`; Euclidean
//!   Procrustes / Bures `d² = ‖Xc‖² + ‖Yc‖² − 2‖XcᵀYc‖_*`. The nuclear norm comes from the singular
//!   values of the reduced cross-product (`min(n,p1) × min(n,p2)`, see `linalg::row_space_reduce`),
//!   shared through the context.
//! - Shape metric (netrep `LinearMetric`, α ∈ [0,1]): zero-pad to `p = max(p1,p2)`, partially
//!   whiten `Xw = Xc V diag(d) Vᵀ` with `XcᵀXc = V diag(λ) Vᵀ`, `λ ≥ 1e−7`,
//!   `d = (α + (1−α)λ^{−1/2})·sqrt(Σλ / Σ(α²λ + 2α(1−α)λ^{1/2} + (1−α)²))`; then with
//!   `XwᵀYw = U S Vᵀ`: angular `arccos(ΣS / (‖Xw‖‖Yw‖))`, Euclidean `sqrt(‖Xw‖²+‖Yw‖²−2ΣS)`.
//! - Permutation metric: the optimal assignment of units on `XcᵀYc` replaces `ΣS`.
//! - Cross-validated Procrustes (diffscore `procrustes-angular#5folds_cv`): for each contiguous
//!   fold (sklearn `KFold(k)`), centre with the training means, fit the rotation on the training
//!   rows (`XtrᵀYtr = U S Vᵀ`) and score the held-out rows aligned by it; the fold distances are
//!   averaged. The rotation enters only through `V Uᵀ` on the span of the cross-covariance, so
//!   the zero-padded directions contribute nothing and the thin SVD suffices.

use faer::{Mat, MatRef};

use super::context::Ctx;
use super::regression::{select_rows, splits};
use super::spec::Out;
use super::{MeasureError, guarded_arccos, linear_sum_assignment};
use crate::linalg;

fn no_variance(id: &str) -> MeasureError {
    MeasureError::Degenerate {
        measure: id.to_string(),
        reason: "X or Y has no variance across rows (every row is the same after centring); the normalised score is 0/0".into(),
    }
}

/// NBS = cos(angular Procrustes distance).
pub(crate) fn nbs(ctx: &Ctx<'_>, id: &str) -> Result<f64, MeasureError> {
    let (nx2, ny2) = (ctx.nx2(), ctx.ny2());
    if nx2 == 0.0 || ny2 == 0.0 {
        return Err(no_variance(id));
    }
    Ok(ctx.nuclear(id)? / (nx2.sqrt() * ny2.sqrt()))
}

/// Squared Euclidean Procrustes (= squared Bures) distance. Values at the rounding level of
/// `‖Xc‖² + ‖Yc‖²` are returned as exactly 0.
pub(crate) fn euclidean(ctx: &Ctx<'_>, id: &str) -> Result<f64, MeasureError> {
    let (nx2, ny2) = (ctx.nx2(), ctx.ny2());
    let d2 = nx2 + ny2 - 2.0 * ctx.nuclear(id)?;
    let p = ctx.x.ncols().max(ctx.y.ncols()).min(ctx.n()) as f64;
    Ok(if d2 <= 8.0 * p * f64::EPSILON * (nx2 + ny2) {
        0.0
    } else {
        d2
    })
}

/// netrep's partial whitening of centred, zero-padded `x` (`alpha < 1`).
fn whiten(x: &Mat<f64>, alpha: f64, id: &str) -> Result<Mat<f64>, MeasureError> {
    let (lam, v) = linalg::sym_eigen(linalg::gram_tn(x.as_ref()).as_ref()).map_err(|e| {
        MeasureError::Numerical {
            measure: id.to_string(),
            message: e.to_string(),
        }
    })?;
    let lam: Vec<f64> = lam.iter().map(|&l| l.max(1e-7)).collect();
    let new_var: f64 = lam
        .iter()
        .map(|&l| {
            alpha * alpha * l + 2.0 * alpha * (1.0 - alpha) * l.sqrt() + (1.0 - alpha).powi(2)
        })
        .sum();
    let scale = (lam.iter().sum::<f64>() / new_var).sqrt();
    let d: Vec<f64> = lam
        .iter()
        .map(|&l| (alpha + (1.0 - alpha) / l.sqrt()) * scale)
        .collect();
    // Z = V diag(d) Vᵀ ; Xw = X Z
    let vd = Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)] * d[j]);
    let z = linalg::mul_nt(vd.as_ref(), v.as_ref());
    Ok(linalg::mul(x.as_ref(), z.as_ref()))
}

pub(crate) fn shape_metric(
    ctx: &Ctx<'_>,
    alpha: f64,
    out: Out,
    id: &str,
) -> Result<f64, MeasureError> {
    if alpha > 1.0 - 1e-7 {
        // No whitening: Procrustes.
        return match out {
            Out::Euclidean => euclidean(ctx, id).map(f64::sqrt),
            _ => Ok(out.apply(nbs(ctx, id)?)),
        };
    }
    let p = ctx.x.ncols().max(ctx.y.ncols());
    let xp = linalg::zero_pad(ctx.xc(), p);
    let yp = linalg::zero_pad(ctx.yc(), p);
    let xw = whiten(&xp, alpha, id)?;
    let yw = whiten(&yp, alpha, id)?;
    let c = linalg::mul_tn(xw.as_ref(), yw.as_ref());
    let nuc: f64 = linalg::singular_values(c.as_ref())
        .map_err(|e| MeasureError::Numerical {
            measure: id.to_string(),
            message: e.to_string(),
        })?
        .iter()
        .sum();
    let (nx2, ny2) = (linalg::frob2(xw.as_ref()), linalg::frob2(yw.as_ref()));
    match out {
        Out::Euclidean => Ok((nx2 + ny2 - 2.0 * nuc).max(0.0).sqrt()),
        _ => {
            if nx2 == 0.0 || ny2 == 0.0 {
                return Err(no_variance(id));
            }
            Ok(out.apply((nuc / (nx2.sqrt() * ny2.sqrt())).clamp(-1.0, 1.0)))
        }
    }
}

pub(crate) fn permutation_metric(ctx: &Ctx<'_>, out: Out, id: &str) -> Result<f64, MeasureError> {
    let c = linalg::mul_tn(ctx.xc(), ctx.yc());
    let pairs = linear_sum_assignment(c.as_ref(), true);
    let inner: f64 = pairs.iter().map(|&(i, j)| c[(i, j)]).sum();
    let (nx2, ny2) = (ctx.nx2(), ctx.ny2());
    match out {
        Out::Euclidean => Ok((nx2 + ny2 - 2.0 * inner).max(0.0).sqrt()),
        _ => {
            if nx2 == 0.0 || ny2 == 0.0 {
                return Err(no_variance(id));
            }
            Ok(out.apply((inner / (nx2.sqrt() * ny2.sqrt())).clamp(-1.0, 1.0)))
        }
    }
}

/// Cross-validated Procrustes distance (angular, its angular score, or Euclidean), averaged over
/// `folds` contiguous folds.
pub(crate) fn procrustes_cv(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    folds: usize,
    out: Out,
    id: &str,
) -> Result<f64, MeasureError> {
    let rows: Vec<usize> = (0..x.nrows()).collect();
    procrustes_on_splits(x, y, &splits(x.nrows(), Some(folds), &rows), out, id)
}

/// Procrustes fitted on each split's training rows (centred with their means) and scored on its
/// test rows, averaged over the splits; `out` as in [`procrustes_cv`].
pub(crate) fn procrustes_on_splits(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    sp: &[(Vec<usize>, Vec<usize>)],
    out: Out,
    id: &str,
) -> Result<f64, MeasureError> {
    let r = x.ncols().min(y.ncols());
    let mut total = 0.0;
    for (train, test) in sp {
        let (xtr, ytr) = (select_rows(x, train), select_rows(y, train));
        let (mx, my) = (
            linalg::column_means(xtr.as_ref()),
            linalg::column_means(ytr.as_ref()),
        );
        let m = linalg::mul_tn(
            linalg::center_with(xtr.as_ref(), &mx).as_ref(),
            linalg::center_with(ytr.as_ref(), &my).as_ref(),
        );
        let svd = linalg::thin_svd(m.as_ref()).map_err(|e| MeasureError::Numerical {
            measure: id.to_string(),
            message: e.to_string(),
        })?;
        // A rank-deficient training cross-covariance leaves part of the rotation arbitrary, and
        // the held-out score would depend on it.
        if svd.s[r - 1] <= 1e-10 * svd.s[0].max(f64::MIN_POSITIVE) {
            return Err(MeasureError::Degenerate {
                measure: id.to_string(),
                reason: format!(
                    "the training rows' cross-covariance XᵀY has rank below min(p1, p2) = {r} in a fold ({} training rows), so the fitted rotation is not unique; use fewer units than training rows, or the in-sample procrustes measures",
                    train.len()
                ),
            });
        }
        let xte = linalg::center_with(select_rows(x, test).as_ref(), &mx);
        let yte = linalg::center_with(select_rows(y, test).as_ref(), &my);
        // ⟨Xte U, Yte V⟩ = tr(Uᵀ XteᵀYte V)
        let c = linalg::mul_tn(xte.as_ref(), yte.as_ref());
        let cu = linalg::mul_tn(svd.u.as_ref(), c.as_ref());
        let inner = linalg::frob_dot(cu.as_ref(), svd.v.transpose());
        let (nx2, ny2) = (linalg::frob2(xte.as_ref()), linalg::frob2(yte.as_ref()));
        total += match out {
            Out::Euclidean => (nx2 + ny2 - 2.0 * inner).max(0.0).sqrt(),
            _ => {
                if nx2 == 0.0 || ny2 == 0.0 {
                    return Err(no_variance(id));
                }
                guarded_arccos(inner / (nx2.sqrt() * ny2.sqrt()))
            }
        };
    }
    let d = total / sp.len() as f64;
    Ok(match out {
        Out::AngularScore => 1.0 - d / std::f64::consts::FRAC_PI_2,
        _ => d,
    })
}
