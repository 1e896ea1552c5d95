//! Regression-based measures (spec §1a F).
//!
//! - diffscore `measure_linreg` (predicts the first argument X from Y): per fold (KFold(k),
//!   contiguous, no shuffle), training means `m_X`, `m_Y`; `B = (Ỹᵀ Ỹ + λI)^{−1} Ỹᵀ X̃` on the
//!   centred training rows (Cholesky; the dual `Ỹᵀ(ỸỸᵀ + λI)^{−1}X̃` when `p2 > n_train`; for
//!   λ = 0 the minimum-norm least-squares solution through an SVD, as `torch.linalg.lstsq`);
//!   `X̂ = (Y_te − m_Y) B`; `R² = 1 − ‖(X_te − m_X) − X̂‖²/‖X_te − m_X‖²` (pooled, training mean),
//!   `pearsonr = ⟨X_te − m_X, X̂⟩/(‖·‖‖·‖)`; mean over folds. `-sym` averages both directions.
//! - diffscore `linreg`: `‖Q_Yᵀ Xc‖²/‖Xc‖²` with `Q` the Householder thin Q of the zero-padded
//!   `Yc` (inflated when `p2 < p1`, as the reference).
//! - DeepDive `neural_regression`: predicts Y from X with sklearn `Ridge(alpha=1)` (intercept),
//!   out-of-fold predictions of KFold(5), then r2 / Pearson r / r² per Y column, averaged.
//! - NeuroAIMetrics `LinearPredictivity`: predicts Y from X; `KFold(5, shuffle=True,
//!   random_state=42)` (numpy's MT19937 permutation, reproduced bit for bit); predictors z-scored
//!   separately within train and test; `RidgeCV(alphas=logspace(−8,8,17))`, α chosen by the exact
//!   leave-one-out squared error with an unpenalised intercept (one SVD of the training fold
//!   serves all 17 α); per-unit Pearson r on the test fold, NaN-mean over units, mean over folds.

use faer::{Mat, MatRef};

use super::MeasureError;
use super::context::Ctx;
use super::spec::Agg;
use crate::linalg;

fn numerical(id: &str, e: impl ToString) -> MeasureError {
    MeasureError::Numerical {
        measure: id.to_string(),
        message: e.to_string(),
    }
}

/// sklearn `KFold(k, shuffle=False)` test ranges over `0..n` (rows in `order`).
pub(crate) fn kfold(n: usize, k: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let size = n / k + usize::from(i < n % k);
        out.push(start..start + size);
        start += size;
    }
    out
}

pub(crate) fn select_rows(m: MatRef<'_, f64>, rows: &[usize]) -> Mat<f64> {
    Mat::from_fn(rows.len(), m.ncols(), |i, j| m[(rows[i], j)])
}

/// The rows `rows` (sorted) of `m`: a view when they are contiguous, as KFold's test blocks
/// without shuffling are, a copy otherwise.
enum Rows<'a> {
    View(MatRef<'a, f64>),
    Copy(Mat<f64>),
}

impl<'a> Rows<'a> {
    fn of(m: MatRef<'a, f64>, rows: &[usize]) -> Self {
        match rows {
            [first, .., last] if last - first + 1 == rows.len() => {
                Rows::View(m.subrows(*first, rows.len()))
            }
            _ => Rows::Copy(select_rows(m, rows)),
        }
    }

    fn as_ref(&self) -> MatRef<'_, f64> {
        match self {
            Rows::View(v) => *v,
            Rows::Copy(m) => m.as_ref(),
        }
    }
}

/// Train/test row indices for every fold; `None` folds = in-sample (train = test = all).
pub(crate) fn splits(
    n: usize,
    folds: Option<usize>,
    order: &[usize],
) -> Vec<(Vec<usize>, Vec<usize>)> {
    match folds {
        None => vec![((0..n).collect(), (0..n).collect())],
        Some(k) => kfold(n, k)
            .into_iter()
            .map(|r| {
                let mut test: Vec<usize> = order[r.clone()].to_vec();
                let mut train: Vec<usize> = order[..r.start]
                    .iter()
                    .chain(&order[r.end..])
                    .copied()
                    .collect();
                // sklearn yields sorted indices (boolean masks)
                test.sort_unstable();
                train.sort_unstable();
                (train, test)
            })
            .collect(),
    }
}

/// Ridge predictions `(Y_te − m) B` with `B` fitted on centred training rows (no intercept
/// beyond the centring). `lambda = 0`: minimum-norm least squares.
fn ridge_predict(
    ytr_c: MatRef<'_, f64>,
    xtr_c: MatRef<'_, f64>,
    yte_c: MatRef<'_, f64>,
    lambda: f64,
    id: &str,
) -> Result<Mat<f64>, MeasureError> {
    let (ntr, p2) = ytr_c.shape();
    if lambda == 0.0 {
        let svd = linalg::thin_svd(ytr_c).map_err(|e| numerical(id, e))?;
        let smax = svd.s.first().copied().unwrap_or(0.0);
        let tol = smax * (ntr.max(p2) as f64) * f64::EPSILON;
        let r = svd.s.iter().take_while(|&&s| s > tol).count();
        let u = svd.u.as_ref().subcols(0, r);
        let v = svd.v.as_ref().subcols(0, r);
        let mut utx = linalg::mul_tn(u, xtr_c);
        for k in 0..r {
            let inv = 1.0 / svd.s[k];
            for j in 0..utx.ncols() {
                utx[(k, j)] *= inv;
            }
        }
        let yv = linalg::mul(yte_c, v);
        return Ok(linalg::mul(yv.as_ref(), utx.as_ref()));
    }
    // Primal `Y_te (ỸᵀỸ + λI)⁻¹ ỸᵀX̃`, or dual `Y_te Ỹᵀ (ỸỸᵀ + λI)⁻¹ X̃` when `p2 > n_train`:
    // `left (S + λI)⁻¹ right` either way.
    let (c, kte);
    let (mut s, left, right) = if p2 <= ntr {
        c = linalg::mul_tn(ytr_c, xtr_c);
        (linalg::gram_tn(ytr_c), yte_c, c.as_ref())
    } else {
        kte = linalg::mul_nt(yte_c, ytr_c);
        (linalg::gram_nt(ytr_c), kte.as_ref(), xtr_c)
    };
    for i in 0..s.nrows() {
        s[(i, i)] += lambda;
    }
    let chol = linalg::Cholesky::new(s)
        .ok_or_else(|| numerical(id, "the ridge system is not positive definite"))?;
    // The solve costs the system's size squared per right-hand side and the product is the
    // same either way: solve for the test rows unless they outnumber the target columns.
    Ok(if left.nrows() <= right.ncols() {
        linalg::mul_tn(chol.solve(left.transpose()).as_ref(), right)
    } else {
        linalg::mul(left, chol.solve(right).as_ref())
    })
}

/// One fold of a ridge fit: the held-out target rows centred with the training mean, the
/// prediction (same centring), and that training mean.
struct FoldFit {
    test: Vec<usize>,
    target_c: Mat<f64>,
    pred_c: Mat<f64>,
    target_mean: Vec<f64>,
}

/// `full − part − w·u vᵀ`, column by column.
fn downdate(full: &Mat<f64>, part: &Mat<f64>, w: f64, u: &[f64], v: &[f64]) -> Mat<f64> {
    let mut out = full - part;
    for (j, &vj) in v.iter().enumerate() {
        let col = out
            .col_mut(j)
            .try_as_col_major_mut()
            .expect("owned, contiguous");
        for (o, &ui) in col.as_slice_mut().iter_mut().zip(u) {
            *o -= w * ui * vj;
        }
    }
    out
}

/// Ridge fits of `target` on `pred` for every split (training-mean centring, no other intercept).
///
/// With several folds whose test sets partition the rows (k-fold), λ > 0 and `p ≤ n_train`, the
/// training Grams are obtained by downdating the full-data Grams (`ỸᵀỸ_train = ỸᵀỸ − Ỹ_testᵀỸ_test
/// − n_train m mᵀ` on globally centred data), and the full-data Grams are the sums of the test
/// blocks', so the `n·p²` products are paid once in all instead of once per fold.
fn fold_fits(
    target: MatRef<'_, f64>,
    pred: MatRef<'_, f64>,
    lambda: f64,
    sp: &[(Vec<usize>, Vec<usize>)],
    id: &str,
) -> Result<Vec<FoldFit>, MeasureError> {
    let (n, p2, p1) = (pred.nrows(), pred.ncols(), target.ncols());
    let min_train = sp.iter().map(|(t, _)| t.len()).min().unwrap_or(0);
    let partition = sp.iter().map(|(_, t)| t.len()).sum::<usize>() == n;
    let mut out = Vec::with_capacity(sp.len());
    if sp.len() > 1 && partition && lambda > 0.0 && p2 <= min_train {
        let my_g = linalg::column_means(pred);
        let mx_g = linalg::column_means(target);
        let yg = linalg::center_with(pred, &my_g);
        let xg = linalg::center_with(target, &mx_g);
        // test blocks of the globally centred data, with their Grams
        let blocks: Vec<_> = sp
            .iter()
            .map(|(_, test)| {
                let yt = Rows::of(yg.as_ref(), test);
                let xt = Rows::of(xg.as_ref(), test);
                let gt = linalg::gram_tn(yt.as_ref());
                let ct = linalg::mul_tn(yt.as_ref(), xt.as_ref());
                (yt, xt, gt, ct)
            })
            .collect();
        let mut g = Mat::<f64>::zeros(p2, p2);
        let mut c = Mat::<f64>::zeros(p2, p1);
        for (_, _, gt, ct) in &blocks {
            g += gt;
            c += ct;
        }
        for ((train, test), (yt, xt, gt, ct)) in sp.iter().zip(blocks) {
            let ntr = train.len() as f64;
            // training sums are minus the test sums (global centring)
            let (yt, xt) = (yt.as_ref(), xt.as_ref());
            let my: Vec<f64> = (0..p2).map(|j| -yt.col(j).sum() / ntr).collect();
            let mx: Vec<f64> = (0..p1).map(|j| -xt.col(j).sum() / ntr).collect();
            let mut a = downdate(&g, &gt, ntr, &my, &my);
            for i in 0..p2 {
                a[(i, i)] += lambda;
            }
            let cc = downdate(&c, &ct, ntr, &my, &mx);
            let chol = linalg::Cholesky::new(a)
                .ok_or_else(|| numerical(id, "the ridge system is not positive definite"))?;
            let target_c = linalg::center_with(xt, &mx);
            // Ŷ = Y_te A⁻¹ C. The solves cost p² per right-hand side and the product is the
            // same either way, so solve for the fewer: (A⁻¹ Y_teᵀ)ᵀ C when the test block is
            // no taller than the target is wide (A: 200 against 500), otherwise Y_te (A⁻¹ C).
            let pred_c = if test.len() <= p1 {
                let mut z = yt.transpose().to_owned();
                linalg::sub_outer(z.as_mut(), &my, &vec![1.0; test.len()]);
                chol.solve_lower_in_place(z.as_mut());
                chol.solve_upper_in_place(z.as_mut());
                linalg::mul_tn(z.as_ref(), cc.as_ref())
            } else {
                let yte_c = linalg::center_with(yt, &my);
                linalg::mul(yte_c.as_ref(), chol.solve(cc.as_ref()).as_ref())
            };
            let target_mean = (0..p1).map(|j| mx[j] + mx_g[j]).collect();
            out.push(FoldFit {
                test: test.clone(),
                target_c,
                pred_c,
                target_mean,
            });
        }
        return Ok(out);
    }
    for (train, test) in sp {
        let (xtr, xte) = (select_rows(target, train), select_rows(target, test));
        let (ytr, yte) = (select_rows(pred, train), select_rows(pred, test));
        let mx = linalg::column_means(xtr.as_ref());
        let my = linalg::column_means(ytr.as_ref());
        let xtr_c = linalg::center_with(xtr.as_ref(), &mx);
        let ytr_c = linalg::center_with(ytr.as_ref(), &my);
        let target_c = linalg::center_with(xte.as_ref(), &mx);
        let yte_c = linalg::center_with(yte.as_ref(), &my);
        let pred_c = ridge_predict(ytr_c.as_ref(), xtr_c.as_ref(), yte_c.as_ref(), lambda, id)?;
        out.push(FoldFit {
            test: test.clone(),
            target_c,
            pred_c,
            target_mean: mx,
        });
    }
    Ok(out)
}

/// diffscore `measure_linreg`: predict `x` (target) from `y`.
pub(crate) fn linreg(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    lambda: f64,
    folds: Option<usize>,
    agg: Agg,
    id: &str,
) -> Result<f64, MeasureError> {
    let n = x.nrows();
    let order: Vec<usize> = (0..n).collect();
    let sp = splits(n, folds, &order);
    let scores = linreg_on_splits(x, y, lambda, &sp, agg, id)?;
    Ok(scores.iter().sum::<f64>() / sp.len() as f64)
}

/// The per-split scores of [`linreg`] on explicit (train, test) row splits.
pub(crate) fn linreg_on_splits(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    lambda: f64,
    sp: &[(Vec<usize>, Vec<usize>)],
    agg: Agg,
    id: &str,
) -> Result<Vec<f64>, MeasureError> {
    let mut scores = Vec::with_capacity(sp.len());
    for (fold, f) in fold_fits(x, y, lambda, sp, id)?.into_iter().enumerate() {
        let (xte_c, xhat) = (f.target_c, f.pred_c);
        let nx2 = linalg::frob2(xte_c.as_ref());
        if nx2 == 0.0 {
            return Err(MeasureError::Degenerate {
                measure: id.to_string(),
                reason: format!(
                    "the target rows of X in fold {fold} equal the training mean exactly, so R² is 0/0"
                ),
            });
        }
        let s = match agg {
            Agg::R2 => {
                let res = &xte_c - &xhat;
                1.0 - linalg::frob2(res.as_ref()) / nx2
            }
            _ => {
                let nh2 = linalg::frob2(xhat.as_ref());
                if nh2 == 0.0 {
                    return Err(MeasureError::Degenerate {
                        measure: id.to_string(),
                        reason: format!(
                            "the prediction is identically zero in fold {fold}, so its correlation is 0/0 (Y has no variance in the training rows)"
                        ),
                    });
                }
                linalg::frob_dot(xte_c.as_ref(), xhat.as_ref()) / (nx2.sqrt() * nh2.sqrt())
            }
        };
        scores.push(s);
    }
    Ok(scores)
}

/// diffscore `linreg` (QR, in-sample, zero-padded).
pub(crate) fn linreg_qr(ctx: &Ctx<'_>, angular: bool, id: &str) -> Result<f64, MeasureError> {
    let p = ctx.x.ncols().max(ctx.y.ncols());
    let yp = linalg::zero_pad(ctx.yc(), p);
    let q = yp.qr().compute_thin_Q();
    let nx2 = ctx.nx2();
    if nx2 == 0.0 {
        return Err(MeasureError::Degenerate {
            measure: id.to_string(),
            reason: "X has no variance across rows, so R² is 0/0".into(),
        });
    }
    let r2 = linalg::frob2(linalg::mul_tn(q.as_ref(), ctx.xc()).as_ref()) / nx2;
    Ok(if angular {
        if (r2 - 1.0).abs() < 1e-5 {
            0.0
        } else {
            r2.clamp(-1.0, 1.0).acos()
        }
    } else {
        r2
    })
}

/// Pearson r of two columns; `None` when either is constant.
fn pearson_cols(a: MatRef<'_, f64>, b: MatRef<'_, f64>, j: usize) -> Option<f64> {
    let n = a.nrows() as f64;
    let (ma, mb) = (a.col(j).sum() / n, b.col(j).sum() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..a.nrows() {
        let (u, v) = (a[(i, j)] - ma, b[(i, j)] - mb);
        sab += u * v;
        saa += u * u;
        sbb += v * v;
    }
    if saa == 0.0 || sbb == 0.0 {
        None
    } else {
        Some(sab / (saa.sqrt() * sbb.sqrt()))
    }
}

/// DeepDive `neural_regression`: predict `y` from `x` with Ridge(alpha=1) and an intercept.
pub(crate) fn deepdive(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    agg: Agg,
    id: &str,
) -> Result<f64, MeasureError> {
    let n = x.nrows();
    let order: Vec<usize> = (0..n).collect();
    let mut pred = Mat::<f64>::zeros(n, y.ncols());
    for f in fold_fits(y, x, 1.0, &splits(n, Some(5), &order), id)? {
        for (r, &i) in f.test.iter().enumerate() {
            for j in 0..y.ncols() {
                pred[(i, j)] = f.pred_c[(r, j)] + f.target_mean[j];
            }
        }
    }
    let p2 = y.ncols();
    let mut total = 0.0;
    for j in 0..p2 {
        let v = match agg {
            Agg::R2 => {
                let m = y.col(j).sum() / n as f64;
                let (mut num, mut den) = (0.0, 0.0);
                for i in 0..n {
                    num += (y[(i, j)] - pred[(i, j)]).powi(2);
                    den += (y[(i, j)] - m).powi(2);
                }
                // sklearn r2_score(force_finite=True)
                if den == 0.0 {
                    if num == 0.0 { 1.0 } else { 0.0 }
                } else {
                    1.0 - num / den
                }
            }
            Agg::PearsonR | Agg::PearsonR2 => {
                let r = pearson_cols(y, pred.as_ref(), j).ok_or_else(|| MeasureError::Degenerate {
                    measure: id.to_string(),
                    reason: format!("column {j} of Y (or its prediction) is constant, so its Pearson r is undefined; drop constant units"),
                })?;
                if agg == Agg::PearsonR2 { r * r } else { r }
            }
        };
        total += v;
    }
    Ok(total / p2 as f64)
}

/// numpy's legacy `RandomState(seed).shuffle(arange(n))` (MT19937 + masked rejection).
pub(crate) fn numpy_legacy_permutation(n: usize, seed: u32) -> Vec<usize> {
    let mut mt = Mt19937::new(seed);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let max = i as u64;
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        mask |= mask >> 32;
        let j = loop {
            let v = if max <= 0xffff_ffff {
                u64::from(mt.next_u32()) & mask
            } else {
                ((u64::from(mt.next_u32()) << 32) | u64::from(mt.next_u32())) & mask
            };
            if v <= max {
                break v as usize;
            }
        };
        v.swap(i, j);
    }
    v
}

struct Mt19937 {
    mt: [u32; 624],
    idx: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut mt = [0u32; 624];
        mt[0] = seed;
        for i in 1..624 {
            mt[i] = 1812433253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, idx: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.idx >= 624 {
            for i in 0..624 {
                let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(i + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[i] = v;
            }
            self.idx = 0;
        }
        let mut y = self.mt[self.idx];
        self.idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }
}

/// The index of the smallest `exact(a)` (the first on ties, as sklearn's `argmin`), calling
/// `exact` only for the `a` whose bracket `lo[a] ≤ exact(a) ≤ hi[a]` can still hold the minimum.
fn argmin_within_bounds(lo: &[f64], hi: &[f64], mut exact: impl FnMut(usize) -> f64) -> usize {
    let cap = hi.iter().copied().fold(f64::INFINITY, f64::min);
    let mut order: Vec<usize> = (0..lo.len()).collect();
    order.sort_by(|&a, &b| lo[a].total_cmp(&lo[b]));
    let mut best: Option<(f64, usize)> = None;
    for a in order {
        if lo[a] > cap || best.is_some_and(|(e, _)| lo[a] > e) {
            continue;
        }
        let e = exact(a);
        if best.is_none_or(|(be, bi)| e < be || (e == be && a < bi)) {
            best = Some((e, a));
        }
    }
    best.map_or(0, |b| b.1)
}

/// NeuroAIMetrics `normalize`: z-score columns (population std), constant columns → 0.
fn zscore(m: MatRef<'_, f64>) -> Mat<f64> {
    let n = m.nrows() as f64;
    let means = linalg::column_means(m);
    let sds: Vec<f64> = (0..m.ncols())
        .map(|j| {
            ((0..m.nrows())
                .map(|i| (m[(i, j)] - means[j]).powi(2))
                .sum::<f64>()
                / n)
                .sqrt()
        })
        .collect();
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| {
        if sds[j] == 0.0 {
            0.0
        } else {
            (m[(i, j)] - means[j]) / sds[j]
        }
    })
}

/// A fitted ridge model: `(coef p1×p2, x_mean, y_mean)`.
type RidgeFit = (Mat<f64>, Vec<f64>, Vec<f64>);

/// sklearn `RidgeCV(alphas=logspace(-8, 8, 17))` fitted on `(x, y)`; returns the prediction
/// function's pieces `(coef p1×p2, x_mean, y_mean)`.
fn ridge_cv_fit(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    id: &str,
) -> Result<RidgeFit, MeasureError> {
    let n = x.nrows();
    let mx = linalg::column_means(x);
    let my = linalg::column_means(y);
    let xc = linalg::center_with(x, &mx);
    let yc = linalg::center_with(y, &my);
    // Through XcᵀXc when κ(XcᵀXc) ≤ 1e6 (z-scored predictors usually are): errors near 1e−10,
    // far inside the 1e−6 to which RidgeCV measures are compared with sklearn.
    let svd = linalg::thin_svd_via_gram(xc.as_ref(), 1e6).map_err(|e| numerical(id, e))?;
    let r = svd.s.len();
    let u = svd.u.as_ref();
    // z = Uᵀ Yc; E0 = Yc − U z (part of Yc outside the column space of Xc)
    let z = linalg::mul_tn(u, yc.as_ref());
    let uz = linalg::mul(u, z.as_ref());
    let e0 = &yc - &uz;
    drop(uz);
    let s2: Vec<f64> = svd.s.iter().map(|s| s * s).collect();
    // LOO error for every α from r-space quantities: with e = E0 + U diag(g) z and weights
    // w_i = 1/(1 − h_i)², Σ w_i‖e_i‖² = Σ w_i‖E0_i‖² + 2 Σ_ik w_i U_ik g_k (E0 zᵀ)_ik
    //                                  + Σ_kl g_k g_l (Uᵀ W U)_kl (z zᵀ)_kl.
    // Everything but the last term's weighted Gram is computed for all 17 α at once.
    let p2 = z.ncols();
    let alphas: Vec<f64> = (-8..=8).map(|k| 10f64.powi(k)).collect();
    // g[k, a] = α_a / (s_k² + α_a), the shrinkage of direction k
    let g = Mat::from_fn(r, alphas.len(), |k, a| alphas[a] / (s2[k] + alphas[a]));
    let one_minus_g = Mat::from_fn(r, alphas.len(), |k, a| 1.0 - g[(k, a)]);
    let uu = Mat::from_fn(n, r, |i, k| u[(i, k)] * u[(i, k)]);
    let pm = linalg::mul_nt(e0.as_ref(), z.as_ref());
    let upm = Mat::from_fn(n, r, |i, k| u[(i, k)] * pm[(i, k)]);
    drop(pm);
    // leverages h[i, a] = 1/n + Σ_k U_ik² (1 − g_ka), weights w = 1/(1 − h)²
    let mut w = linalg::mul(uu.as_ref(), one_minus_g.as_ref());
    for a in 0..alphas.len() {
        let col = w
            .col_mut(a)
            .try_as_col_major_mut()
            .expect("owned, contiguous");
        for v in col.as_slice_mut() {
            let h = *v + 1.0 / n as f64;
            *v = 1.0 / ((1.0 - h) * (1.0 - h));
        }
    }
    drop(uu);
    let e0n: Vec<f64> = (0..n)
        .map(|i| (0..p2).map(|j| e0[(i, j)] * e0[(i, j)]).sum())
        .collect();
    let t2_inner = linalg::mul_tn(upm.as_ref(), w.as_ref());
    let zz = linalg::gram_nt(z.as_ref());
    // The last term needs an n·r² weighted Gram per α. It is bracketed for free by
    // min_i w_i·Q ≤ t3 ≤ max_i w_i·Q with Q = Σ_i‖(U G z)_i‖² = Σ_k g_k²‖z_k‖² (orthonormal U),
    // so only the α whose bracket can still hold the minimum get their Gram.
    let zn: Vec<f64> = (0..r).map(|k| z.row(k).squared_norm_l2()).collect();
    let (mut lo, mut hi, mut base) = (vec![], vec![], vec![]);
    for a in 0..alphas.len() {
        let wa = w.col(a);
        let t1: f64 = (0..n).map(|i| wa[i] * e0n[i]).sum();
        let t2: f64 = (0..r).map(|k| g[(k, a)] * t2_inner[(k, a)]).sum();
        let q: f64 = (0..r).map(|k| g[(k, a)] * g[(k, a)] * zn[k]).sum();
        let (wmin, wmax) = wa
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        // rounding slack (U is orthonormal to about 1e−10 on the Gram route)
        let slack = 1e-8 * (t1.abs() + 2.0 * t2.abs() + wmax * q);
        base.push(t1 + 2.0 * t2);
        lo.push(t1 + 2.0 * t2 + wmin * q - slack);
        hi.push(t1 + 2.0 * t2 + wmax * q + slack);
    }
    let best = argmin_within_bounds(&lo, &hi, |a| {
        let sw: Vec<f64> = w.col(a).iter().map(|w| w.sqrt()).collect();
        let mut wu = u.to_owned();
        for k in 0..r {
            let col = wu
                .col_mut(k)
                .try_as_col_major_mut()
                .expect("owned, contiguous");
            col.as_slice_mut()
                .iter_mut()
                .zip(&sw)
                .for_each(|(v, s)| *v *= s);
        }
        let sm = linalg::gram_tn(wu.as_ref());
        let gzz = Mat::from_fn(r, r, |k, l| g[(k, a)] * g[(l, a)] * zz[(k, l)]);
        base[a] + linalg::frob_dot(sm.as_ref(), gzz.as_ref())
    });
    let alpha = alphas[best];
    // coef = V diag(s/(s²+α)) z
    let v = svd.v.as_ref();
    let fz = Mat::from_fn(r, z.ncols(), |i, j| svd.s[i] / (s2[i] + alpha) * z[(i, j)]);
    Ok((linalg::mul(v, fz.as_ref()), mx, my))
}

/// NeuroAIMetrics `LinearPredictivity(X, Y)`: predict `y` from `x`.
pub(crate) fn neuroai(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    id: &str,
) -> Result<f64, MeasureError> {
    let n = x.nrows();
    let order = numpy_legacy_permutation(n, 42);
    let mut total = 0.0;
    let sp = splits(n, Some(5), &order);
    for (train, test) in &sp {
        let xtr = zscore(select_rows(x, train).as_ref());
        let xte = zscore(select_rows(x, test).as_ref());
        let ytr = select_rows(y, train);
        let yte = select_rows(y, test);
        let (coef, mx, my) = ridge_cv_fit(xtr.as_ref(), ytr.as_ref(), id)?;
        let xte_c = linalg::center_with(xte.as_ref(), &mx);
        let mut pred = linalg::mul(xte_c.as_ref(), coef.as_ref());
        for j in 0..pred.ncols() {
            for i in 0..pred.nrows() {
                pred[(i, j)] += my[j];
            }
        }
        let rs: Vec<f64> = (0..y.ncols())
            .filter_map(|j| pearson_cols(pred.as_ref(), yte.as_ref(), j))
            .collect();
        if rs.is_empty() {
            return Err(MeasureError::Degenerate {
                measure: id.to_string(),
                reason: "every unit of Y (or its prediction) is constant on a test fold, so no correlation is defined".into(),
            });
        }
        total += rs.iter().sum::<f64>() / rs.len() as f64;
    }
    Ok(total / sp.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_reference_output() {
        // First outputs of init_genrand(5489), the reference implementation's default seed.
        let mut mt = Mt19937::new(5489);
        assert_eq!(mt.next_u32(), 3499211612);
        assert_eq!(mt.next_u32(), 581869302);
    }

    #[test]
    fn numpy_shuffle_matches() {
        // np.random.RandomState(42).shuffle(np.arange(23))
        assert_eq!(
            numpy_legacy_permutation(23, 42),
            vec![
                15, 9, 0, 8, 17, 12, 1, 13, 5, 2, 11, 20, 3, 4, 18, 16, 21, 22, 7, 10, 14, 19, 6
            ]
        );
    }

    /// Uniform data with nonzero column means, so the centring is exercised.
    fn data(n: usize, p: usize, seed: u64) -> Mat<f64> {
        let mut m = crate::test_data::uniform(n, p, seed);
        m.col_iter_mut()
            .for_each(|c| c.iter_mut().for_each(|v| *v += 0.2));
        m
    }

    #[test]
    fn ridge_predictions_equal_the_primal_formula_on_every_route() {
        // (n_train, p2, target width, test rows): primal and dual, each solving for the test
        // rows (no more than the target columns) and for the target.
        for (ntr, p2, q, nte) in [(30, 5, 9, 4), (30, 5, 2, 6), (8, 12, 9, 3), (8, 12, 2, 5)] {
            let (ytr, xtr, yte) = (data(ntr, p2, 1), data(ntr, q, 2), data(nte, p2, 3));
            let got = ridge_predict(ytr.as_ref(), xtr.as_ref(), yte.as_ref(), 0.7, "t").unwrap();
            let mut g = linalg::gram_tn(ytr.as_ref());
            for i in 0..p2 {
                g[(i, i)] += 0.7;
            }
            let b = linalg::spd_solve(
                g.as_ref(),
                linalg::mul_tn(ytr.as_ref(), xtr.as_ref()).as_ref(),
            )
            .unwrap();
            let want = linalg::mul(yte.as_ref(), b.as_ref());
            let diff = linalg::frob2((&got - &want).as_ref()).sqrt();
            assert!(diff < 1e-12 * linalg::frob2(want.as_ref()).sqrt(), "{diff}");
        }
    }

    #[test]
    fn downdated_fold_fits_equal_direct_fits() {
        // (target width, predictor width): the first solves for the test rows (test block no
        // taller than the target is wide), the second forms A⁻¹C. Contiguous test blocks are
        // views, shuffled ones copies.
        let orders = [(0..37).collect(), numpy_legacy_permutation(37, 42)];
        for ((p1, p2), order) in [(9, 5), (2, 6)]
            .into_iter()
            .flat_map(|w| orders.iter().map(move |o| (w, o)))
        {
            let (target, pred) = (data(37, p1, 1), data(37, p2, 2));
            let sp = splits(37, Some(5), order);
            let fits = fold_fits(target.as_ref(), pred.as_ref(), 3.0, &sp, "t").unwrap();
            for ((train, test), fit) in sp.iter().zip(&fits) {
                let (xtr, ytr) = (
                    select_rows(target.as_ref(), train),
                    select_rows(pred.as_ref(), train),
                );
                let (mx, my) = (
                    linalg::column_means(xtr.as_ref()),
                    linalg::column_means(ytr.as_ref()),
                );
                let yte = select_rows(pred.as_ref(), test);
                let direct = ridge_predict(
                    linalg::center_with(ytr.as_ref(), &my).as_ref(),
                    linalg::center_with(xtr.as_ref(), &mx).as_ref(),
                    linalg::center_with(yte.as_ref(), &my).as_ref(),
                    3.0,
                    "t",
                )
                .unwrap();
                let diff = linalg::frob2((&fit.pred_c - &direct).as_ref()).sqrt();
                assert!(
                    diff < 1e-12 * linalg::frob2(direct.as_ref()).sqrt(),
                    "{diff}"
                );
                for (a, b) in fit.target_mean.iter().zip(&mx) {
                    assert!((a - b).abs() < 1e-14);
                }
                let target_c =
                    linalg::center_with(select_rows(target.as_ref(), test).as_ref(), &mx);
                let diff = linalg::frob2((&fit.target_c - &target_c).as_ref()).sqrt();
                assert!(
                    diff < 1e-14 * linalg::frob2(target_c.as_ref()).sqrt(),
                    "{diff}"
                );
            }
        }
    }

    #[test]
    fn bracketed_argmin_equals_the_exhaustive_one() {
        let mut next = crate::test_data::stream(3);
        let (mut total_calls, mut total) = (0, 0);
        for trial in 0..200 {
            let k = 1 + trial % 17;
            // coarse values make ties common
            let exact: Vec<f64> = (0..k).map(|_| (next() * 8.0).floor()).collect();
            let lo: Vec<f64> = exact.iter().map(|e| e - next() * 3.0).collect();
            let hi: Vec<f64> = exact.iter().map(|e| e + next() * 3.0).collect();
            let mut calls = 0;
            let got = argmin_within_bounds(&lo, &hi, |a| {
                calls += 1;
                exact[a]
            });
            let min = exact.iter().copied().fold(f64::INFINITY, f64::min);
            let want = exact.iter().position(|&e| e == min).unwrap();
            assert_eq!(got, want, "{exact:?} {lo:?} {hi:?}");
            total_calls += calls;
            total += k;
        }
        // the brackets spare some evaluations
        assert!(total_calls < total * 3 / 4, "{total_calls} of {total}");
    }

    #[test]
    fn kfold_sizes_like_sklearn() {
        let f = kfold(12, 5);
        let sizes: Vec<usize> = f.iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![3, 3, 2, 2, 2]);
    }
}
