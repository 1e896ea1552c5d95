//! CCA, SVCCA and PWCCA (spec §1a D). All need `p < n`.
//!
//! - Canonical correlations `ρ = σ(Q_Xᵀ Q_Y)` with `Q` orthonormal bases of the column spaces of
//!   the centred X and Y (Householder QR; a thin SVD with rank decided at `σ > σ_max·max(n,p)·ε`
//!   when R's diagonal shows near rank deficiency); this equals
//!   the singular values of `Σxx^{−1/2} Σxy Σyy^{−1/2}` of google/contrasim `compute_cca` on
//!   full-rank data, and counts rank-deficient directions as zero correlations (sim_metric).
//!   Well-conditioned data get the same values faster from the Cholesky factors of the Grams,
//!   `ρ = σ(Lx⁻¹ XcᵀYc Ly⁻ᵀ)` (see `canonical_correlations`).
//!   `cca-score = Σρ / min(p1,p2)`, `cca-squared_score = Σρ² / min(p1,p2)`.
//! - SVCCA: sklearn `PCA` of X and of Y separately (k = `dim`, or the fewest components whose
//!   cumulative explained-variance ratio exceeds `var`: `searchsorted(cumsum, var, 'right') + 1`),
//!   then mean CCA of the PC scores (their bases are the leading left singular vectors).
//! - PWCCA (sim_metric `pwcca_dist`): with `T = Cxx^{−1/2} Cxy Cyy^{−1/2} = U S Vᵀ` (full SVD),
//!   weights `w_i ∝ Σ_j |(Uᵀ Cxx^{1/2})_ij|` over all `p1` rows, and `PWCCA = Σ_{i<min} w_i ρ_i`.

use faer::{Mat, MatRef};

use super::MeasureError;
use super::context::Ctx;
use super::spec::Trunc;
use crate::linalg;

fn numerical(id: &str, e: impl ToString) -> MeasureError {
    MeasureError::Numerical {
        measure: id.to_string(),
        message: e.to_string(),
    }
}

fn no_variance(id: &str) -> MeasureError {
    MeasureError::Degenerate {
        measure: id.to_string(),
        reason: "X or Y has no variance across rows, so there is no canonical correlation".into(),
    }
}

/// Largest estimated condition number of `XcᵀXc` (and `YcᵀYc`) for which the canonical
/// correlations are taken from the Cholesky factors: their error grows as `ε·κ(XcᵀXc)` (times up
/// to 4 when the Grams come from the raw data, see `context::MAX_RAW_GROWTH`), so this keeps it
/// below about 1e−8 even if the estimate is a few times low (the CCA family is compared with its
/// references at 1e−6). The benchmark inputs have κ ≈ 1.1e4 (size A) and 4.7e3 (B).
const MAX_GRAM_CONDITION: f64 = 1e6;

/// Largest error bound, relative to `Σρ`, accepted for taking the canonical correlations from
/// the eigenvalues of `KᵀK` instead of the SVD of `K` (see `linalg::singular_values_via_gram`);
/// 1e−10, well inside the 1e−6 to which the CCA family is compared with the references.
const SUM_REL_ERR: f64 = 1e-10;

/// Canonical correlations of the centred data in `ctx`, nonincreasing, `min(rank X, rank Y)` of
/// them.
///
/// Well-conditioned data (the usual case) take the Gram route: with `XcᵀXc = Lx Lxᵀ`,
/// `ρ = σ(Lx⁻¹ XcᵀYc Ly⁻ᵀ)`. It needs the two Grams (shared with CKA) and the cross product
/// (shared with Procrustes and NBS) instead of two Householder QRs and their thin `Q`s, about 4×
/// the flops at half the GEMM rate. Otherwise, orthonormal bases from QR or SVD.
pub(crate) fn canonical_correlations(ctx: &Ctx<'_>, id: &str) -> Result<Vec<f64>, MeasureError> {
    let (n, p1, p2) = (ctx.n(), ctx.x.ncols(), ctx.y.ncols());
    let factor = |gram: MatRef<'_, f64>| {
        linalg::Cholesky::new(gram.to_owned())
            .filter(|c| c.condition_estimate() <= MAX_GRAM_CONDITION)
    };
    if p1 < n
        && p2 < n
        && let Some(lx) = factor(ctx.cxx())
        && let Some(ly) = factor(ctx.cyy())
    {
        let mut k = ctx.cxy().to_owned();
        lx.solve_lower_in_place(k.as_mut());
        ly.solve_lower_in_place(k.as_mut().transpose_mut());
        let s = linalg::singular_values_via_gram(k.as_ref(), SUM_REL_ERR)
            .map_err(|e| numerical(id, e))?;
        return Ok(s.into_iter().map(|r| r.min(1.0)).collect());
    }
    correlations_via_bases(ctx.xc(), ctx.yc(), id)
}

/// Canonical correlations as the singular values of `Q_Xᵀ Q_Y`, with orthonormal bases of the
/// column spaces from QR (or SVD when rank deficient): accurate at any condition.
pub(crate) fn correlations_via_bases(
    xc: MatRef<'_, f64>,
    yc: MatRef<'_, f64>,
    id: &str,
) -> Result<Vec<f64>, MeasureError> {
    let qx = linalg::orthonormal_basis(xc).map_err(|e| numerical(id, e))?;
    let qy = linalg::orthonormal_basis(yc).map_err(|e| numerical(id, e))?;
    if qx.ncols() == 0 || qy.ncols() == 0 {
        return Err(no_variance(id));
    }
    correlations_of_bases(qx.as_ref(), qy.as_ref(), id)
}

fn correlations_of_bases(
    qx: MatRef<'_, f64>,
    qy: MatRef<'_, f64>,
    id: &str,
) -> Result<Vec<f64>, MeasureError> {
    let m = linalg::mul_tn(qx, qy);
    let s = linalg::singular_values(m.as_ref()).map_err(|e| numerical(id, e))?;
    Ok(s.into_iter().map(|r| r.min(1.0)).collect())
}

/// The PCA scores basis kept by SVCCA: leading left singular vectors of the centred matrix.
fn pca_basis(xc: MatRef<'_, f64>, trunc: Trunc, id: &str) -> Result<Mat<f64>, MeasureError> {
    let svd = linalg::thin_svd(xc).map_err(|e| numerical(id, e))?;
    let total: f64 = svd.s.iter().map(|s| s * s).sum();
    if total == 0.0 {
        return Err(no_variance(id));
    }
    let k = match trunc {
        Trunc::Dim(k) => k,
        Trunc::Var(v) => {
            // sklearn: n_components = searchsorted(cumsum(ratio), v, side="right") + 1
            let mut cum = 0.0;
            let mut count = 0;
            for s in &svd.s {
                cum += s * s / total;
                if cum <= v {
                    count += 1;
                } else {
                    break;
                }
            }
            (count + 1).min(svd.s.len())
        }
    };
    Ok(svd.u.as_ref().subcols(0, k.min(svd.u.ncols())).to_owned())
}

pub(crate) fn svcca(ctx: &Ctx<'_>, trunc: Trunc, id: &str) -> Result<f64, MeasureError> {
    let bx = pca_basis(ctx.xc(), trunc, id)?;
    let by = pca_basis(ctx.yc(), trunc, id)?;
    let n = ctx.n();
    let (kx, ky) = (bx.ncols(), by.ncols());
    if kx >= n || ky >= n {
        return Err(MeasureError::Requirement {
            measure: id.to_string(),
            requirement: "fewer kept principal components than rows (CCA needs k < n)".into(),
            got: format!("n={n}, k_X={kx}, k_Y={ky}"),
        });
    }
    let rho = correlations_of_bases(bx.as_ref(), by.as_ref(), id)?;
    Ok(rho.iter().sum::<f64>() / kx.min(ky) as f64)
}

/// `C^{±1/2}` of a symmetric positive semidefinite matrix (pseudo-inverse for zero eigenvalues,
/// as sim_metric's `1/sqrt(x) if x > 0 else 0`).
fn sym_pow_half(c: MatRef<'_, f64>, inverse: bool, id: &str) -> Result<Mat<f64>, MeasureError> {
    let (lam, v) = linalg::sym_eigen(c).map_err(|e| numerical(id, e))?;
    let d: Vec<f64> = lam
        .iter()
        .map(|&l| {
            let l = l.max(0.0);
            if inverse {
                if l > 0.0 { 1.0 / l.sqrt() } else { 0.0 }
            } else {
                l.sqrt()
            }
        })
        .collect();
    let vd = Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)] * d[j]);
    Ok(linalg::mul_nt(vd.as_ref(), v.as_ref()))
}

pub(crate) fn pwcca(ctx: &Ctx<'_>, id: &str) -> Result<f64, MeasureError> {
    let (xc, yc) = (ctx.xc(), ctx.yc());
    if ctx.nx2() == 0.0 || ctx.ny2() == 0.0 {
        return Err(no_variance(id));
    }
    let cxx = linalg::gram_tn(xc);
    let cyy = linalg::gram_tn(yc);
    let cxy = linalg::mul_tn(xc, yc);
    let ixx = sym_pow_half(cxx.as_ref(), true, id)?;
    let iyy = sym_pow_half(cyy.as_ref(), true, id)?;
    let sxx = sym_pow_half(cxx.as_ref(), false, id)?;
    let t = linalg::mul(
        linalg::mul(ixx.as_ref(), cxy.as_ref()).as_ref(),
        iyy.as_ref(),
    );
    let svd = t
        .svd()
        .map_err(|_| numerical(id, "the SVD did not converge"))?;
    let u = svd.U();
    let rho: Vec<f64> = svd.S().column_vector().iter().copied().collect();
    let w = linalg::mul_tn(u, sxx.as_ref());
    let weights: Vec<f64> = (0..w.nrows())
        .map(|i| (0..w.ncols()).map(|j| w[(i, j)].abs()).sum())
        .collect();
    let total: f64 = weights.iter().sum();
    if total == 0.0 {
        return Err(no_variance(id));
    }
    let dim = weights.len().min(rho.len());
    Ok((0..dim).map(|i| weights[i] / total * rho[i]).sum())
}
