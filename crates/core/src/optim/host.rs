//! Host-side (faer, f64) pieces of the differentiable measures, each returning its value and the
//! gradient with respect to its small (`p × p`-sized) matrix inputs.
//!
//! The device graph only ever sees these through [`super::tensor::surrogate`]: a scalar
//! `v + Σ ⟨G_i, M_i − stop_grad(M_i)⟩`, whose value is exactly `v` and whose gradient with respect
//! to `M_i` is exactly `G_i`. Decompositions (SVD, symmetric eigen, Cholesky) thereby stay off the
//! device and out of candle's autograd, which has none of them, while every large product stays a
//! candle op.

use faer::{Mat, MatRef};

use super::tensor::HostFloat;
use crate::linalg::{self, LinalgError};

/// `‖M‖_*` and its gradient `U_r V_rᵀ` (singular vectors of the singular values above
/// `s_max · max(m, n) · ε`, the minimal-norm subgradient at rank-deficient points), in `T`.
pub(crate) fn nuclear<T: HostFloat>(m: MatRef<'_, T>) -> Result<(f64, Mat<T>), LinalgError> {
    let svd = linalg::thin_svd(m)?;
    let s: Vec<f64> = svd.s.iter().map(|v| v.to_f64()).collect();
    let r = numerical_rank(&s, m.nrows().max(m.ncols()), T::EPSILON);
    let u = svd.u.as_ref().subcols(0, r);
    let v = svd.v.as_ref().subcols(0, r);
    Ok((s.iter().sum(), linalg::mul(u, v.transpose())))
}

fn numerical_rank(s: &[f64], dim: usize, eps: f64) -> usize {
    let smax = s.iter().cloned().fold(0.0, f64::max);
    let tol = smax * dim as f64 * eps;
    s.iter().filter(|&&v| v > tol).count()
}

/// `G^{−1/2}` (pseudo-inverse on the numerical null space) with the eigen-decomposition it came
/// from, for the Fréchet derivative of [`inv_sqrt_adjoint`].
pub(crate) struct InvSqrt {
    pub w: Mat<f64>,
    e: Mat<f64>,
    /// `sqrt(λ_i)` for kept eigenvalues, `0` on the null space.
    s: Vec<f64>,
}

pub(crate) fn inv_sqrt(g: MatRef<'_, f64>) -> Result<InvSqrt, LinalgError> {
    let (lam, e) = linalg::sym_eigen(g)?;
    let lmax = lam.iter().cloned().fold(0.0, f64::max);
    let tol = lmax * g.nrows().max(1) as f64 * f64::EPSILON;
    let s: Vec<f64> = lam
        .iter()
        .map(|&l| if l > tol { l.sqrt() } else { 0.0 })
        .collect();
    let ed = Mat::from_fn(e.nrows(), e.ncols(), |i, j| {
        if s[j] > 0.0 { e[(i, j)] / s[j] } else { 0.0 }
    });
    let w = linalg::mul_nt(ed.as_ref(), e.as_ref());
    Ok(InvSqrt { w, e, s })
}

/// Adjoint of `dG ↦ d(G^{−1/2})`: given `B = ∂f/∂(G^{−1/2})`, returns `∂f/∂G`
/// `= E (F ∘ (Eᵀ B E)) Eᵀ` with `F_ij = −1/(s_i s_j (s_i + s_j))` (divided differences of `λ^{−1/2}`).
pub(crate) fn inv_sqrt_adjoint(is: &InvSqrt, b: MatRef<'_, f64>) -> Mat<f64> {
    let e = is.e.as_ref();
    let mut m = linalg::mul(linalg::mul_tn(e, b).as_ref(), e);
    let s = &is.s;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            m[(i, j)] *= if s[i] > 0.0 && s[j] > 0.0 {
                -1.0 / (s[i] * s[j] * (s[i] + s[j]))
            } else {
                0.0
            };
        }
    }
    linalg::mul_nt(linalg::mul(e, m.as_ref()).as_ref(), e)
}

/// Canonical correlations through `T = Wa C Wb` with `W = G^{−1/2}` (or the identity when that
/// side is already an orthonormal basis): value `Σ ρ_i` (each clamped at 1, as the measure
/// engine) or `Σ ρ_i²`, and the gradients with respect to `C`, `Ga`, `Gb`.
pub(crate) struct CcaGrad {
    pub value: f64,
    pub c: Mat<f64>,
    pub ga: Option<Mat<f64>>,
    pub gb: Option<Mat<f64>>,
}

pub(crate) fn cca(
    c: MatRef<'_, f64>,
    ga: Option<MatRef<'_, f64>>,
    gb: Option<MatRef<'_, f64>>,
    squared: bool,
) -> Result<CcaGrad, LinalgError> {
    let wa = ga.map(inv_sqrt).transpose()?;
    let wb = gb.map(inv_sqrt).transpose()?;
    let mut t = c.to_owned();
    if let Some(wa) = &wa {
        t = linalg::mul(wa.w.as_ref(), t.as_ref());
    }
    if let Some(wb) = &wb {
        t = linalg::mul(t.as_ref(), wb.w.as_ref());
    }
    // P = ∂value/∂T
    let (value, p) = if squared {
        let v = linalg::frob2(t.as_ref());
        (
            v,
            Mat::from_fn(t.nrows(), t.ncols(), |i, j| 2.0 * t[(i, j)]),
        )
    } else {
        let svd = linalg::thin_svd(t.as_ref())?;
        let v: f64 = svd.s.iter().map(|r| r.min(1.0)).sum();
        let r = numerical_rank(&svd.s, t.nrows().max(t.ncols()), f64::EPSILON);
        let p = linalg::mul_nt(svd.u.as_ref().subcols(0, r), svd.v.as_ref().subcols(0, r));
        (v, p)
    };
    // ∂/∂C = Waᵀ P Wbᵀ (both symmetric)
    let mut gc = p.clone();
    if let Some(wa) = &wa {
        gc = linalg::mul(wa.w.as_ref(), gc.as_ref());
    }
    if let Some(wb) = &wb {
        gc = linalg::mul(gc.as_ref(), wb.w.as_ref());
    }
    // ∂/∂Wb = (Wa C)ᵀ P ; ∂/∂Wa = P (C Wb)ᵀ
    let gb_grad = wb.as_ref().map(|wb| {
        let wac = match &wa {
            Some(wa) => linalg::mul(wa.w.as_ref(), c),
            None => c.to_owned(),
        };
        let b = linalg::mul_tn(wac.as_ref(), p.as_ref());
        inv_sqrt_adjoint(wb, b.as_ref())
    });
    let ga_grad = wa.as_ref().map(|wa| {
        let cwb = match &wb {
            Some(wb) => linalg::mul(c, wb.w.as_ref()),
            None => c.to_owned(),
        };
        let b = linalg::mul_nt(p.as_ref(), cwb.as_ref());
        inv_sqrt_adjoint(wa, b.as_ref())
    });
    Ok(CcaGrad {
        value,
        c: gc,
        ga: ga_grad,
        gb: gb_grad,
    })
}

/// What a ridge fold reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FoldScore {
    /// `1 − ‖T_te − T̂‖² / ‖T_te‖²`.
    R2,
    /// `⟨T_te, T̂⟩ / (‖T_te‖ ‖T̂‖)`.
    PearsonR,
}

/// One fold of diffscore's `measure_linreg`, in terms of the centred (training means) moments:
/// `g_tr = P̃ᵀP̃ + …`, `c_tr = P̃ᵀT̃`, `g_te = P_teᵀP_te`, `c_te = P_teᵀT_te`, `tt = ‖T_te‖²`.
/// `W = (g_tr + λI)^{−1} c_tr` (`λ = 0`: pseudo-inverse), `T̂ = P_te W`.
pub(crate) struct FoldGrad {
    pub value: f64,
    pub g_tr: Mat<f64>,
    pub c_tr: Mat<f64>,
    pub g_te: Mat<f64>,
    pub c_te: Mat<f64>,
    pub tt: f64,
}

pub(crate) fn ridge_fold(
    g_tr: MatRef<'_, f64>,
    c_tr: MatRef<'_, f64>,
    g_te: MatRef<'_, f64>,
    c_te: MatRef<'_, f64>,
    tt: f64,
    lambda: f64,
    score: FoldScore,
) -> Result<FoldGrad, String> {
    let p = g_tr.nrows();
    enum Solver {
        Chol(linalg::Cholesky<f64>),
        Pinv { e: Mat<f64>, d: Vec<f64> },
    }
    let solver = if lambda > 0.0 {
        let mut a = g_tr.to_owned();
        for i in 0..p {
            a[(i, i)] += lambda;
        }
        Solver::Chol(
            linalg::Cholesky::new(a)
                .ok_or_else(|| "the ridge system is not positive definite".to_string())?,
        )
    } else {
        let (lam, e) = linalg::sym_eigen(g_tr).map_err(|e| e.to_string())?;
        let lmax = lam.iter().cloned().fold(0.0, f64::max);
        let tol = lmax * (p.max(1) as f64) * f64::EPSILON;
        let d = lam
            .iter()
            .map(|&l| if l > tol { 1.0 / l } else { 0.0 })
            .collect();
        Solver::Pinv { e, d }
    };
    let solve = |b: MatRef<'_, f64>| -> Mat<f64> {
        match &solver {
            Solver::Chol(llt) => llt.solve(b),
            Solver::Pinv { e, d } => {
                let mut eb = linalg::mul_tn(e.as_ref(), b);
                for i in 0..eb.nrows() {
                    for j in 0..eb.ncols() {
                        eb[(i, j)] *= d[i];
                    }
                }
                linalg::mul(e.as_ref(), eb.as_ref())
            }
        }
    };
    let w = solve(c_tr);
    let gw = linalg::mul(g_te, w.as_ref());
    let cw = linalg::frob_dot(c_te, w.as_ref());
    let q = linalg::frob_dot(w.as_ref(), gw.as_ref());
    // value and its partials in (cw, q, tt)
    let (value, d_cw, d_q, d_tt) = match score {
        FoldScore::R2 => {
            let sse = tt - 2.0 * cw + q;
            (1.0 - sse / tt, 2.0 / tt, -1.0 / tt, -(tt - sse) / (tt * tt))
        }
        FoldScore::PearsonR => {
            let den = (tt * q).sqrt();
            (
                cw / den,
                1.0 / den,
                -0.5 * cw / (den * q),
                -0.5 * cw / (den * tt),
            )
        }
    };
    let gc_te = Mat::from_fn(w.nrows(), w.ncols(), |i, j| d_cw * w[(i, j)]);
    let mut gg_te = linalg::gram_nt(w.as_ref());
    for j in 0..gg_te.ncols() {
        for i in 0..gg_te.nrows() {
            gg_te[(i, j)] *= d_q;
        }
    }
    // H = ∂value/∂W = d_cw c_te + 2 d_q g_te W
    let h = Mat::from_fn(w.nrows(), w.ncols(), |i, j| {
        d_cw * c_te[(i, j)] + 2.0 * d_q * gw[(i, j)]
    });
    let gc_tr = solve(h.as_ref());
    let gg_tr = match &solver {
        // ∂/∂A of ⟨H, A⁻¹C⟩ = −A⁻¹ H Wᵀ
        Solver::Chol(_) => {
            let mut m = linalg::mul_nt(gc_tr.as_ref(), w.as_ref());
            for j in 0..m.ncols() {
                for i in 0..m.nrows() {
                    m[(i, j)] = -m[(i, j)];
                }
            }
            m
        }
        // d(G⁺) = −G⁺dGG⁺ + G⁺G⁺dG N + N dG G⁺G⁺ (constant rank), with B = H c_trᵀ; in the
        // eigenbasis entry (i, j) of the adjoint is B'_ij (−d_i d_j + d_i² z_j + z_i d_j²).
        Solver::Pinv { e, d } => {
            let b = linalg::mul_nt(h.as_ref(), c_tr);
            let mut bp = linalg::mul(linalg::mul_tn(e.as_ref(), b.as_ref()).as_ref(), e.as_ref());
            let z: Vec<f64> = d
                .iter()
                .map(|&v| if v == 0.0 { 1.0 } else { 0.0 })
                .collect();
            for j in 0..bp.ncols() {
                for i in 0..bp.nrows() {
                    bp[(i, j)] *= -d[i] * d[j] + d[i] * d[i] * z[j] + z[i] * d[j] * d[j];
                }
            }
            linalg::mul_nt(linalg::mul(e.as_ref(), bp.as_ref()).as_ref(), e.as_ref())
        }
    };
    Ok(FoldGrad {
        value,
        g_tr: gg_tr,
        c_tr: gc_tr,
        g_te: gg_te,
        c_te: gc_te,
        tt: d_tt,
    })
}

fn msg(e: impl std::fmt::Debug) -> candle_core::Error {
    candle_core::Error::Msg(format!("{e:?}"))
}

/// `‖M‖_*` and `U_r V_rᵀ` for the device matrix `m`, decomposed on the host in `m`'s precision.
pub(crate) fn nuclear_tensor(
    m: &candle_core::Tensor,
) -> candle_core::Result<(f64, candle_core::Tensor)> {
    fn on_host<T: HostFloat>(
        m: &candle_core::Tensor,
    ) -> candle_core::Result<(f64, candle_core::Tensor)> {
        let h = super::tensor::to_mat_t::<T>(m)?;
        let (v, g) = nuclear(h.as_ref()).map_err(msg)?;
        Ok((
            v,
            super::tensor::from_mat_t(g.as_ref(), m.dtype(), m.device())?,
        ))
    }
    match m.dtype() {
        candle_core::DType::F64 => on_host::<f64>(m),
        _ => on_host::<f32>(m),
    }
}

/// The Cholesky factor of a ridge fold's `g_tr + λI`, in the run's precision `T`.
pub(crate) fn ridge_factor<T: super::tensor::HostFloat>(
    g_tr: Mat<T>,
    lambda: f64,
) -> Result<crate::linalg::Cholesky<T>, String> {
    let mut a = g_tr;
    let l = T::from_host_f64(lambda);
    for i in 0..a.nrows() {
        a[(i, i)] += l;
    }
    crate::linalg::Cholesky::new(a)
        .ok_or_else(|| "the ridge system is not positive definite".to_string())
}
