//! L2-regularised logistic regression with scikit-learn's objective, and scikit-learn's stratified
//! k-fold split driven by our own seeded RNG.
//!
//! # Objective (scikit-learn ≥ 1.1, `LogisticRegression(penalty="l2", C, solver="lbfgs")`)
//!
//! With `m` training samples `x_i`, classes sorted ascending (`classes_ = np.unique(y)`) and
//! `λ = 1 / (C·m)`; intercepts are fitted and not penalised:
//!
//! - two classes: one weight vector `w` and intercept `b`, `t_i = 1` for the larger class,
//!   `min (1/m) Σ_i [log(1 + exp(r_i)) − t_i r_i] + (λ/2)‖w‖²`, `r_i = x_iᵀw + b`;
//!   the prediction is the larger class when `r > 0`;
//! - `K ≥ 3` classes: multinomial, `W` (`K × p`), `b` (`K`),
//!   `min (1/m) Σ_i [log Σ_k exp(r_ik) − r_i,y_i] + (λ/2)‖W‖²_F`, `r_i = W x_i + b`;
//!   the prediction is the first class of largest `r_ik`.
//!
//! The multinomial intercepts are only defined up to a common shift; the solver starts at zero
//! and every step keeps `Σ_k b_k = 0`, as scikit-learn's lbfgs does.
//!
//! # Solver
//!
//! L-BFGS (10 correction pairs, as scipy's L-BFGS-B) with a strong-Wolfe line search, from zero,
//! stopping when `‖∇‖_∞ ≤ tol`, when the relative decrease of the objective stays below `64·ε`
//! (scipy's `ftol` as scikit-learn sets it) for three iterations, or when no decrease can be
//! found. Problems with at most 400 parameters then get up to six Newton steps (exact Hessian,
//! Cholesky) while they shrink the gradient (down to `1e-12`), which takes the fit to the
//! optimum's last digits; larger ones stop at `tol` (default `1e-6`, 100× tighter than
//! scikit-learn's).
//! scikit-learn stops at `‖∇‖_∞ ≤ 1e-4` or after `max_iter` (diffscore: 200) iterations; the
//! defaults here converge much further ([`LogisticOptions`]), so our fit is the optimum and
//! scikit-learn's is within its own tolerance of it (equal predictions except for test points
//! within that tolerance of the decision boundary).
//!
//! Two exact reformulations make the problem smaller and better conditioned:
//! - the features are centred on the training means `μ` (`x w + b = (x − μ) w + (b + μᵀw)`, and
//!   the intercept is not penalised, so the optimum `w` is the same; the intercept is mapped
//!   back);
//! - when there are more features than training samples (`p > m`), the problem is solved in the
//!   row space of the centred training matrix: with `Xcᵀ = Q R` (thin QR, `Q` is `p × m`) every
//!   optimum has `W = Q B`, and the objective in `B` is the same one with features `Xc Q`.

#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

use faer::{Mat, MatRef};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::AnalysisError;
use super::pc_capture::thin_q;
use crate::linalg;

/// Settings of [`LogisticModel::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct LogisticOptions {
    /// Inverse regularisation strength (scikit-learn's `C`); must be positive.
    pub c: f64,
    /// Most L-BFGS iterations.
    pub max_iter: usize,
    /// L-BFGS stops when the largest absolute gradient entry of the (mean-loss) objective is
    /// below this (scikit-learn: 1e-4). Problems with at most 400 parameters are then polished
    /// by Newton steps to `min(tol, 1e-12)`.
    pub tol: f64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions {
            c: 1.0,
            max_iter: 1000,
            tol: 1e-6,
        }
    }
}

/// A fitted logistic regression, laid out as scikit-learn's attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogisticModel {
    /// The classes seen in training, ascending (`classes_`).
    pub classes: Vec<f64>,
    /// `coef_`: one row for two classes (for `classes[1]`), one row per class otherwise; no rows
    /// when training saw a single class (scikit-learn refuses that case; we predict that class).
    pub coef: Vec<Vec<f64>>,
    /// `intercept_`, one entry per row of `coef`.
    pub intercept: Vec<f64>,
    /// L-BFGS iterations taken.
    pub n_iter: usize,
    /// Whether the gradient or objective criterion was met within `max_iter`.
    pub converged: bool,
}

impl LogisticModel {
    /// Fit on the rows of `x` (`m × p`) with labels `y` (any real values; each distinct value is a
    /// class).
    pub fn fit(
        x: MatRef<'_, f64>,
        y: &[f64],
        options: &LogisticOptions,
    ) -> Result<Self, AnalysisError> {
        let (m, p) = x.shape();
        if y.len() != m {
            return Err(AnalysisError::Length {
                what: "labels",
                got: y.len(),
                expected: m,
            });
        }
        if !(options.c > 0.0 && options.c.is_finite()) {
            return Err(AnalysisError::Options(format!(
                "C must be a positive number, got {}",
                options.c
            )));
        }
        if m == 0 {
            return Err(AnalysisError::Labels("no training samples".into()));
        }
        let classes = sorted_classes(y)?;
        if classes.len() == 1 {
            return Ok(LogisticModel {
                classes,
                coef: vec![],
                intercept: vec![],
                n_iter: 0,
                converged: true,
            });
        }
        let yidx: Vec<usize> = y
            .iter()
            .map(|v| classes.iter().position(|c| c == v).unwrap())
            .collect();
        // Centre the features: with an unpenalised intercept, `x w + b = (x − μ) w + (b + μᵀw)`
        // gives the same optimum `w`, and the intercept no longer fights the weights (unscaled
        // data with large means is otherwise badly conditioned).
        let mu = linalg::column_means(x);
        let xc = linalg::center_with(x, &mu);
        // Work in the row space when that is smaller.
        let (z, q) = if p > m {
            let q = thin_q(xc.transpose());
            (linalg::mul(xc.as_ref(), q.as_ref()), Some(q))
        } else {
            (xc, None)
        };
        let outputs = if classes.len() == 2 { 1 } else { classes.len() };
        let problem = Problem {
            z,
            yidx,
            outputs,
            lambda: 1.0 / (options.c * m as f64),
        };
        let sol = newton_polish(
            &problem,
            lbfgs(&problem, options.max_iter, options.tol),
            options.tol.min(1e-12),
        );
        let (theta, n_iter, converged) = (sol.x, sol.iters, sol.converged);
        let d = problem.z.ncols();
        let b_red = Mat::from_fn(d, outputs, |i, k| theta[k * d + i]);
        let w = match &q {
            Some(q) => linalg::mul(q.as_ref(), b_red.as_ref()),
            None => b_red,
        };
        let intercept = (0..outputs)
            .map(|k| theta[outputs * d + k] - (0..p).map(|j| mu[j] * w[(j, k)]).sum::<f64>())
            .collect();
        Ok(LogisticModel {
            classes,
            coef: (0..outputs)
                .map(|k| (0..p).map(|j| w[(j, k)]).collect())
                .collect(),
            intercept,
            n_iter,
            converged,
        })
    }

    /// `decision_function`: `m × rows(coef)` raw scores `x Wᵀ + b`.
    pub fn decision_function(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let k = self.coef.len();
        let p = x.ncols();
        let wt = Mat::from_fn(p, k, |j, c| self.coef[c][j]);
        let mut raw = linalg::mul(x, wt.as_ref());
        for c in 0..k {
            for i in 0..x.nrows() {
                raw[(i, c)] += self.intercept[c];
            }
        }
        raw
    }

    /// Predicted class of each row of `x`.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Vec<f64> {
        if self.classes.len() == 1 {
            return vec![self.classes[0]; x.nrows()];
        }
        let raw = self.decision_function(x);
        (0..x.nrows())
            .map(|i| {
                if self.classes.len() == 2 {
                    self.classes[usize::from(raw[(i, 0)] > 0.0)]
                } else {
                    let mut best = 0;
                    for c in 1..raw.ncols() {
                        if raw[(i, c)] > raw[(i, best)] {
                            best = c;
                        }
                    }
                    self.classes[best]
                }
            })
            .collect()
    }

    /// Fraction of rows of `x` whose prediction equals `y`.
    pub fn score(&self, x: MatRef<'_, f64>, y: &[f64]) -> f64 {
        let pred = self.predict(x);
        let hits = pred.iter().zip(y).filter(|(a, b)| a == b).count();
        hits as f64 / y.len().max(1) as f64
    }
}

/// Distinct label values, ascending; NaN and infinities are refused.
pub fn sorted_classes(y: &[f64]) -> Result<Vec<f64>, AnalysisError> {
    if y.iter().any(|v| !v.is_finite()) {
        return Err(AnalysisError::Labels(
            "labels must be finite numbers (NaN or infinity found)".into(),
        ));
    }
    let mut c = y.to_vec();
    c.sort_by(f64::total_cmp);
    c.dedup();
    Ok(c)
}

/// scikit-learn's `StratifiedKFold(n_splits, shuffle=True)` test-fold assignment (`_make_test_folds`),
/// with `rng` in place of numpy's: entry `i` is the fold in which sample `i` is tested.
///
/// Classes are numbered by first appearance; the number of samples of each class in each fold
/// comes from dealing the class-sorted labels round robin over the folds; each class's block of
/// fold numbers is then shuffled and handed to its samples in order. Refused like scikit-learn:
/// fewer than 2 splits, more splits than samples, or more splits than members in every class.
pub fn stratified_kfold<R: Rng + ?Sized>(
    y: &[f64],
    n_splits: usize,
    rng: &mut R,
) -> Result<Vec<usize>, AnalysisError> {
    if n_splits < 2 {
        return Err(AnalysisError::Options(format!(
            "n_splits must be at least 2, got {n_splits}"
        )));
    }
    if n_splits > y.len() {
        return Err(AnalysisError::Labels(format!(
            "cannot have n_splits={n_splits} greater than the number of samples ({})",
            y.len()
        )));
    }
    sorted_classes(y)?;
    // Encode by order of first appearance.
    let mut seen: Vec<f64> = Vec::new();
    let enc: Vec<usize> = y
        .iter()
        .map(|v| match seen.iter().position(|s| s == v) {
            Some(k) => k,
            None => {
                seen.push(*v);
                seen.len() - 1
            }
        })
        .collect();
    let n_classes = seen.len();
    let mut counts = vec![0usize; n_classes];
    for &k in &enc {
        counts[k] += 1;
    }
    if counts.iter().all(|&c| n_splits > c) {
        return Err(AnalysisError::Labels(format!(
            "n_splits={n_splits} cannot be greater than the number of members in each class \
             (counts {counts:?})"
        )));
    }
    // allocation[f][k]: samples of class k in fold f, from y sorted by class dealt round robin.
    let mut order = enc.clone();
    order.sort_unstable();
    let mut allocation = vec![vec![0usize; n_classes]; n_splits];
    for (i, &k) in order.iter().enumerate() {
        allocation[i % n_splits][k] += 1;
    }
    let mut folds = vec![0usize; y.len()];
    for k in 0..n_classes {
        let mut block: Vec<usize> = (0..n_splits)
            .flat_map(|f| std::iter::repeat_n(f, allocation[f][k]))
            .collect();
        block.shuffle(rng);
        let mut it = block.into_iter();
        for (i, &e) in enc.iter().enumerate() {
            if e == k {
                folds[i] = it.next().unwrap();
            }
        }
    }
    Ok(folds)
}

/// The objective in (possibly reduced) features `z` (`m × d`). Parameters `θ` are the `d × K'`
/// weights column-major, then the `K'` intercepts.
struct Problem {
    z: Mat<f64>,
    yidx: Vec<usize>,
    /// 1 for two classes (binomial), the number of classes otherwise (multinomial).
    outputs: usize,
    lambda: f64,
}

impl Problem {
    fn dim(&self) -> usize {
        self.outputs * (self.z.ncols() + 1)
    }

    /// Objective value and gradient at `theta`.
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let (m, d) = self.z.shape();
        let k = self.outputs;
        let w = MatRef::from_column_major_slice(&theta[..d * k], d, k);
        let b = &theta[d * k..];
        let mut raw = linalg::mul(self.z.as_ref(), w);
        let mut loss = 0.0;
        // Turn `raw` into the pointwise gradient of the loss w.r.t. the raw scores.
        if k == 1 {
            for i in 0..m {
                let r = raw[(i, 0)] + b[0];
                let t = if self.yidx[i] == 1 { 1.0 } else { 0.0 };
                loss += r.max(0.0) + (-r.abs()).exp().ln_1p() - t * r;
                raw[(i, 0)] = sigmoid(r) - t;
            }
        } else {
            let mut row = vec![0.0; k];
            for i in 0..m {
                let mut mx = f64::NEG_INFINITY;
                for c in 0..k {
                    row[c] = raw[(i, c)] + b[c];
                    mx = mx.max(row[c]);
                }
                let yi = self.yidx[i];
                // log Σ exp(r) − r_y = log Σ exp(r − max) − (r_y − max)
                let shifted_y = row[yi] - mx;
                let mut sum = 0.0;
                for v in row.iter_mut() {
                    *v = (*v - mx).exp();
                    sum += *v;
                }
                loss += sum.ln() - shifted_y;
                for c in 0..k {
                    raw[(i, c)] = row[c] / sum - if c == yi { 1.0 } else { 0.0 };
                }
            }
        }
        let inv_m = 1.0 / m as f64;
        let gw = linalg::mul_tn(self.z.as_ref(), raw.as_ref());
        let mut pen = 0.0;
        for c in 0..k {
            for j in 0..d {
                let wj = theta[c * d + j];
                pen += wj * wj;
                grad[c * d + j] = gw[(j, c)] * inv_m + self.lambda * wj;
            }
            grad[d * k + c] = raw.col(c).sum() * inv_m;
        }
        loss * inv_m + 0.5 * self.lambda * pen
    }
}

impl Problem {
    /// The Hessian at `theta`, with `(1/K)·1 1ᵀ` added on the multinomial intercepts: the
    /// objective is flat along a common shift of all intercepts, and the gradient never has a
    /// component along it, so this only makes the matrix invertible.
    fn hessian(&self, theta: &[f64]) -> Mat<f64> {
        let (m, d) = self.z.shape();
        let k = self.outputs;
        let w = MatRef::from_column_major_slice(&theta[..d * k], d, k);
        let b = &theta[d * k..];
        let raw = linalg::mul(self.z.as_ref(), w);
        // Per-sample probabilities (binary: σ; multinomial: softmax).
        let mut prob = Mat::<f64>::zeros(m, k);
        for i in 0..m {
            if k == 1 {
                prob[(i, 0)] = sigmoid(raw[(i, 0)] + b[0]);
            } else {
                let mx = (0..k)
                    .map(|c| raw[(i, c)] + b[c])
                    .fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for c in 0..k {
                    let e = (raw[(i, c)] + b[c] - mx).exp();
                    prob[(i, c)] = e;
                    sum += e;
                }
                for c in 0..k {
                    prob[(i, c)] /= sum;
                }
            }
        }
        let zt = Mat::from_fn(m, d + 1, |i, j| if j < d { self.z[(i, j)] } else { 1.0 });
        let n = self.dim();
        // Parameter index of (output c, feature j), the intercept being feature d.
        let idx = |c: usize, j: usize| if j < d { c * d + j } else { k * d + c };
        let mut h = Mat::<f64>::zeros(n, n);
        let inv_m = 1.0 / m as f64;
        for c in 0..k {
            for l in c..k {
                let scaled = Mat::from_fn(m, d + 1, |i, j| {
                    let wgt = if k == 1 {
                        prob[(i, 0)] * (1.0 - prob[(i, 0)])
                    } else {
                        prob[(i, c)] * (f64::from(u8::from(c == l)) - prob[(i, l)])
                    };
                    wgt * inv_m * zt[(i, j)]
                });
                let block = linalg::mul_tn(zt.as_ref(), scaled.as_ref());
                for a in 0..=d {
                    for bb in 0..=d {
                        let v = block[(a, bb)];
                        h[(idx(c, a), idx(l, bb))] = v;
                        h[(idx(l, bb), idx(c, a))] = v;
                    }
                }
            }
            for j in 0..d {
                h[(idx(c, j), idx(c, j))] += self.lambda;
            }
        }
        if k > 1 {
            for c in 0..k {
                for l in 0..k {
                    h[(idx(c, d), idx(l, d))] += 1.0 / k as f64;
                }
            }
        }
        h
    }
}

fn sigmoid(r: f64) -> f64 {
    if r >= 0.0 {
        1.0 / (1.0 + (-r).exp())
    } else {
        let e = r.exp();
        e / (1.0 + e)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// One evaluated point of the line search.
struct Point {
    alpha: f64,
    f: f64,
    g: Vec<f64>,
    /// Directional derivative `gᵀd`.
    dg: f64,
}

/// Where a minimisation ended.
struct Solution {
    x: Vec<f64>,
    g: Vec<f64>,
    iters: usize,
    /// The gradient criterion was met, or no further decrease was numerically possible.
    converged: bool,
}

/// Minimise `problem` by L-BFGS from zero.
fn lbfgs(problem: &Problem, max_iter: usize, tol: f64) -> Solution {
    const HISTORY: usize = 10;
    let n = problem.dim();
    let mut x = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut f = problem.eval(&x, &mut g);
    let mut s_hist: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::new();
    let mut stalled = 0;
    for iter in 0..max_iter {
        if inf_norm(&g) <= tol {
            return Solution {
                x,
                g,
                iters: iter,
                converged: true,
            };
        }
        // Two-loop recursion: d = −H g.
        let mut d: Vec<f64> = g.iter().map(|v| -v).collect();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, y, rho) in s_hist.iter().rev() {
            let a = rho * dot(s, &d);
            for (di, yi) in d.iter_mut().zip(y) {
                *di -= a * yi;
            }
            alphas.push(a);
        }
        if let Some((s, y, _)) = s_hist.back() {
            let gamma = dot(s, y) / dot(y, y);
            d.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in s_hist.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &d);
            for (di, si) in d.iter_mut().zip(s) {
                *di += (a - b) * si;
            }
        }
        let mut dg0 = dot(&g, &d);
        if dg0.is_nan() || dg0 >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            d = g.iter().map(|v| -v).collect();
            dg0 = dot(&g, &d);
        }
        let alpha0 = if s_hist.is_empty() {
            (1.0 / dot(&d, &d).sqrt()).min(1.0)
        } else {
            1.0
        };
        let Some(pt) = line_search(problem, &x, f, dg0, &d, alpha0) else {
            // No decrease found along a descent direction: the objective is flat to rounding.
            return Solution {
                x,
                g,
                iters: iter,
                converged: true,
            };
        };
        let s: Vec<f64> = d.iter().map(|v| v * pt.alpha).collect();
        let y: Vec<f64> = pt.g.iter().zip(&g).map(|(a, b)| a - b).collect();
        for (xi, si) in x.iter_mut().zip(&s) {
            *xi += si;
        }
        let f_old = f;
        f = pt.f;
        g = pt.g;
        let sy = dot(&s, &y);
        if sy > f64::EPSILON * dot(&y, &y) {
            if s_hist.len() == HISTORY {
                s_hist.pop_front();
            }
            s_hist.push_back((s, y, 1.0 / sy));
        }
        // scipy's `ftol` test, but only after three stalled iterations in a row: single tiny
        // decreases happen on ill-conditioned problems well before the gradient is small.
        if (f_old - f) <= 64.0 * f64::EPSILON * f_old.abs().max(f.abs()).max(1.0) {
            stalled += 1;
            if stalled >= 3 {
                return Solution {
                    x,
                    g,
                    iters: iter + 1,
                    converged: true,
                };
            }
        } else {
            stalled = 0;
        }
    }
    let converged = inf_norm(&g) <= tol;
    Solution {
        x,
        g,
        iters: max_iter,
        converged,
    }
}

/// Problems with at most this many parameters get Newton steps after L-BFGS.
const NEWTON_MAX_PARAMS: usize = 400;

/// A few Newton steps from `sol` (exact Hessian, Cholesky), kept while they shrink the gradient.
///
/// L-BFGS's line search works on objective values, which stop resolving progress once the
/// gradient is about `sqrt(ε)`-small; Newton steps are judged by the gradient instead and take
/// the fit to the optimum's last digits, including along weakly curved directions (the
/// unpenalised intercept of well-separated classes).
fn newton_polish(problem: &Problem, mut sol: Solution, tol: f64) -> Solution {
    let n = problem.dim();
    if n > NEWTON_MAX_PARAMS {
        return sol;
    }
    for _ in 0..6 {
        let gnorm = inf_norm(&sol.g);
        if gnorm <= tol {
            sol.converged = true;
            break;
        }
        let h = problem.hessian(&sol.x);
        let rhs = Mat::from_fn(n, 1, |i, _| -sol.g[i]);
        let Some(step) = linalg::spd_solve(h.as_ref(), rhs.as_ref()) else {
            break;
        };
        let x_new: Vec<f64> = (0..n).map(|i| sol.x[i] + step[(i, 0)]).collect();
        let mut g_new = vec![0.0; n];
        let f_new = problem.eval(&x_new, &mut g_new);
        if !f_new.is_finite() || inf_norm(&g_new) >= gnorm {
            break;
        }
        sol.x = x_new;
        sol.g = g_new;
        sol.iters += 1;
    }
    sol
}

/// Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6) along `d` from `x`.
fn line_search(
    problem: &Problem,
    x: &[f64],
    f0: f64,
    dg0: f64,
    d: &[f64],
    alpha0: f64,
) -> Option<Point> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    const MAX_EVALS: usize = 50;
    let n = x.len();
    let mut evals = 0usize;
    let mut xt = vec![0.0; n];
    let mut eval = |alpha: f64, evals: &mut usize| -> Point {
        *evals += 1;
        for i in 0..n {
            xt[i] = x[i] + alpha * d[i];
        }
        let mut g = vec![0.0; n];
        let f = problem.eval(&xt, &mut g);
        let dg = dot(&g, d);
        Point { alpha, f, g, dg }
    };
    let armijo = |p: &Point| p.f <= f0 + C1 * p.alpha * dg0;
    let curvature = |p: &Point| p.dg.abs() <= -C2 * dg0;

    let mut prev = Point {
        alpha: 0.0,
        f: f0,
        g: vec![],
        dg: dg0,
    };
    let mut alpha = alpha0;
    let (mut lo, mut hi);
    loop {
        let cur = eval(alpha, &mut evals);
        if !cur.f.is_finite() {
            // Overflow: shrink.
            alpha *= 0.1;
            if evals >= MAX_EVALS {
                return None;
            }
            continue;
        }
        if !armijo(&cur) || (evals > 1 && cur.f >= prev.f) {
            lo = prev;
            hi = cur;
            break;
        }
        if curvature(&cur) {
            return Some(cur);
        }
        if cur.dg >= 0.0 {
            lo = cur;
            hi = prev;
            break;
        }
        if evals >= MAX_EVALS {
            return Some(cur);
        }
        alpha = cur.alpha * 2.0;
        prev = cur;
    }
    // Zoom between lo (satisfies Armijo, lowest f so far) and hi.
    loop {
        if evals >= MAX_EVALS || (hi.alpha - lo.alpha).abs() <= f64::EPSILON * lo.alpha.abs() {
            return (lo.alpha > 0.0).then_some(lo);
        }
        // Minimiser of the quadratic through (lo.f, lo.dg) and hi.f, safeguarded to the interior.
        let (a, b) = (lo.alpha, hi.alpha);
        let dalpha = b - a;
        let denom = 2.0 * (hi.f - lo.f - lo.dg * dalpha);
        let mut t = if denom > 0.0 {
            a - lo.dg * dalpha * dalpha / denom
        } else {
            a + 0.5 * dalpha
        };
        let (left, right) = if a < b { (a, b) } else { (b, a) };
        let margin = 0.1 * (right - left);
        if !(t > left + margin && t < right - margin) {
            t = 0.5 * (a + b);
        }
        let cur = eval(t, &mut evals);
        if !cur.f.is_finite() || !armijo(&cur) || cur.f >= lo.f {
            hi = cur;
        } else {
            if curvature(&cur) {
                return Some(cur);
            }
            if cur.dg * (hi.alpha - lo.alpha) >= 0.0 {
                hi = lo;
            }
            lo = cur;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn data(m: usize, p: usize, seed: u64) -> Mat<f64> {
        let mut s = seed;
        Mat::from_fn(m, p, |_, _| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
    }

    /// Gradient of the objective against central differences, binary and multinomial.
    #[test]
    fn gradient_matches_finite_differences() {
        for outputs in [1usize, 3] {
            let z = data(12, 4, 7);
            let problem = Problem {
                z,
                yidx: (0..12).map(|i| i % outputs.max(2)).collect(),
                outputs,
                lambda: 0.3,
            };
            let n = problem.dim();
            let theta: Vec<f64> = (0..n).map(|i| 0.1 * (i as f64).sin()).collect();
            let mut g = vec![0.0; n];
            problem.eval(&theta, &mut g);
            for i in 0..n {
                let h = 1e-6;
                let mut tp = theta.clone();
                let mut tm = theta.clone();
                tp[i] += h;
                tm[i] -= h;
                let mut scratch = vec![0.0; n];
                let fd =
                    (problem.eval(&tp, &mut scratch) - problem.eval(&tm, &mut scratch)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-8,
                    "outputs {outputs} θ{i}: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn fit_reaches_a_stationary_point_and_reduction_is_exact() {
        // p > m: the row-space solution must equal the full-space one.
        let x = data(10, 25, 3);
        let y: Vec<f64> = (0..10).map(|i| (i % 3) as f64).collect();
        let opts = LogisticOptions::default();
        let model = LogisticModel::fit(x.as_ref(), &y, &opts).unwrap();
        assert!(model.converged);
        let full = Problem {
            z: x.clone(),
            yidx: y.iter().map(|&v| v as usize).collect(),
            outputs: 3,
            lambda: 1.0 / 10.0,
        };
        let mut theta = vec![];
        for c in 0..3 {
            theta.extend_from_slice(&model.coef[c]);
        }
        theta.extend_from_slice(&model.intercept);
        let mut g = vec![0.0; full.dim()];
        full.eval(&theta, &mut g);
        assert!(inf_norm(&g) < 1e-7, "gradient {}", inf_norm(&g));
        let sum_b: f64 = model.intercept.iter().sum();
        assert!(sum_b.abs() < 1e-10);
        assert_eq!(model.score(x.as_ref(), &y), 1.0);
    }

    #[test]
    fn stratified_folds_balance_classes() {
        let y: Vec<f64> = (0..23)
            .map(|i| if i % 3 == 0 { 7.0 } else { -1.0 })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let folds = stratified_kfold(&y, 5, &mut rng).unwrap();
        for f in 0..5 {
            let in_f: Vec<usize> = (0..23).filter(|&i| folds[i] == f).collect();
            let sevens = in_f.iter().filter(|&&i| y[i] == 7.0).count();
            assert!((1..=2).contains(&sevens), "fold {f}: {sevens}");
            assert!((4..=5).contains(&in_f.len()), "fold {f}: {}", in_f.len());
        }
        let again = stratified_kfold(&y, 5, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        assert_eq!(folds, again);
        assert!(stratified_kfold(&y[..3], 5, &mut rng).is_err());
        assert!(stratified_kfold(&[0.0, 0.0, 1.0, 1.0, 2.0, 2.0], 3, &mut rng).is_err());
    }
}
