//! diffscore's `measure_linreg` as a differentiable measure: predict `T` (the first argument)
//! from `P`, R² or Pearson r per fold, averaged; ridge when `λ > 0`, least squares
//! (pseudo-inverse) when `λ = 0`; in-sample (`no_cv`) or contiguous k-fold (sklearn `KFold`).
//!
//! The `n`-row data enter only through per-block moments, so they are touched by two products
//! per block forward and at most three backward:
//!
//! - per block `j` (rows `r_j`): `S_j = P_jᵀP_j`, `C_j = P_jᵀT_j` and the column sums `s_j`,
//!   `t_j`, as candle `Var` leaves ([`Blocks`]);
//! - fold `k`'s training moments are `Σ_{j≠k} S_j − n_tr m mᵀ` etc. with the training means `m`,
//!   built as a small graph over the leaves;
//! - the fold is solved on the host and enters that graph as a surrogate carrying its gradients;
//! - the small graph's backward gives `S̄_j`, `C̄_j`, … and one product per block maps them to
//!   the data rows: `P_j(S̄_j + S̄_jᵀ) + T_j C̄_jᵀ + 1 s̄_jᵀ` for `P`, `P_j C̄_j + 1 t̄_jᵀ + 2τ̄_j T_j`
//!   for `T` (`τ_j = ‖T_j‖²`), plus the test rows' own gradients where they are leaves.
//!
//! Two ways to score the held-out block, chosen by cost:
//!
//! - **test moments** (tall test blocks): `S_k − s_k mᵀ − m s_kᵀ + n_te m mᵀ`, `C_k − …` and
//!   `‖T_k‖² − …`, all `p`-sized, so the whole fold is `p × p` work on the host
//!   ([`host::ridge_fold`], f64);
//! - **test rows** (ridge with test blocks shorter than half the predictor's width): the block's
//!   rows, centred with the training means, are predicted on the device, which saves the
//!   `p × p` test-moment products (about `3p³` host flops per fold; on Mante-shaped data, 216 test
//!   rows against 727 columns, the test-moment form took twice as long).
//!
//! Both operands are centred globally first: that changes no fold's result (each re-centres with
//! its training means) and keeps the raw moments free of cancellation.

#![allow(clippy::single_range_in_vec_init)]

use candle_core::{DType, Result, Tensor, Var};

use super::host::{self, FoldScore};
use super::operand::Operand;
use super::tensor::{self, Grad, scalar, surrogate, to_mat};
use crate::measures::regression::kfold;

pub(crate) fn linreg(
    t: &Operand,
    p: &Operand,
    lambda: f64,
    folds: Option<usize>,
    score: FoldScore,
) -> Result<Tensor> {
    let n = t.rows();
    let on_test_rows = lambda > 0.0 && folds.is_some_and(|k| 2 * (n / k) < p.cols());
    let blocks = Blocks::new(t, p, folds, on_test_rows)?;
    let inner = match (on_test_rows, t.dtype()) {
        (false, _) => on_test_moments(&blocks, lambda, score)?,
        (true, DType::F64) => on_test_rows_in::<f64>(&blocks, lambda, score)?,
        (true, _) => on_test_rows_in::<f32>(&blocks, lambda, score)?,
    };
    blocks.attach_gradients(inner)
}

/// One row block of the centred operands.
struct Block {
    /// The block's rows of the centred `P` and `T` (detached).
    p: Tensor,
    t: Tensor,
    /// `P_jᵀP_j`, `P_jᵀT_j`, `1ᵀP_j`, `1ᵀT_j`.
    s: Var,
    c: Var,
    sp: Var,
    st: Var,
    /// `‖T_j‖²` (test-moment form) or the rows themselves (test-row form).
    tt: Option<Var>,
    rows: Option<(Var, Var)>,
}

/// The per-block moments of the centred operands, as leaves of a small graph.
struct Blocks {
    pc: Tensor,
    tc: Tensor,
    in_sample: bool,
    blocks: Vec<Block>,
    /// `Σ_j` of `s`, `c`, `sp`, `st`.
    totals: [Tensor; 4],
}

/// A fold's training moments: `g = P̃ᵀP̃`, `c = P̃ᵀT̃` (training rows centred with their means
/// `mp`, `mt`).
struct Training {
    g: Tensor,
    c: Tensor,
    mp: Tensor,
    mt: Tensor,
}

fn outer(u: &Tensor, v: &Tensor) -> Result<Tensor> {
    u.t()?.matmul(v)
}

impl Blocks {
    fn new(t: &Operand, p: &Operand, folds: Option<usize>, with_rows: bool) -> Result<Self> {
        let n = t.rows();
        let tc = t.centered_raw()?;
        let pc = p.centered_raw()?;
        let (tcd, pcd) = (tc.detach(), pc.detach());
        let ranges = match folds {
            None => vec![0..n],
            Some(k) => kfold(n, k),
        };
        let mut blocks = Vec::with_capacity(ranges.len());
        for r in &ranges {
            let pk = pcd.narrow(0, r.start, r.len())?;
            let tk = tcd.narrow(0, r.start, r.len())?;
            let (tt, rows) = if with_rows {
                (None, Some((Var::from_tensor(&pk)?, Var::from_tensor(&tk)?)))
            } else {
                (Some(Var::from_tensor(&tensor::frob2(&tk)?)?), None)
            };
            blocks.push(Block {
                s: Var::from_tensor(&pk.t()?.matmul(&pk)?)?,
                c: Var::from_tensor(&pk.t()?.matmul(&tk)?)?,
                sp: Var::from_tensor(&tensor::col_sums(&pk)?)?,
                st: Var::from_tensor(&tensor::col_sums(&tk)?)?,
                tt,
                rows,
                p: pk,
                t: tk,
            });
        }
        let sum_of = |f: &dyn Fn(&Block) -> &Var| -> Result<Tensor> {
            let mut acc = f(&blocks[0]).as_tensor().clone();
            for b in &blocks[1..] {
                acc = (acc + f(b).as_tensor())?;
            }
            Ok(acc)
        };
        let totals = [
            sum_of(&|b| &b.s)?,
            sum_of(&|b| &b.c)?,
            sum_of(&|b| &b.sp)?,
            sum_of(&|b| &b.st)?,
        ];
        Ok(Blocks {
            pc,
            tc,
            in_sample: folds.is_none(),
            blocks,
            totals,
        })
    }

    fn rows(&self) -> usize {
        self.pc.dims()[0]
    }

    /// Training moments of the fold that holds out `b` (in-sample: of all rows).
    fn training(&self, b: &Block) -> Result<Training> {
        let [s_all, c_all, sp_all, st_all] = &self.totals;
        let n = self.rows();
        if self.in_sample {
            let nf = n as f64;
            let mp = sp_all.affine(1.0 / nf, 0.0)?;
            let mt = st_all.affine(1.0 / nf, 0.0)?;
            let g = (s_all - outer(&mp, &mp)?.affine(nf, 0.0)?)?;
            let c = (c_all - outer(&mp, &mt)?.affine(nf, 0.0)?)?;
            return Ok(Training { g, c, mp, mt });
        }
        let ntr = (n - b.p.dims()[0]) as f64;
        let mp = (sp_all - b.sp.as_tensor())?.affine(1.0 / ntr, 0.0)?;
        let mt = (st_all - b.st.as_tensor())?.affine(1.0 / ntr, 0.0)?;
        let g = ((s_all - b.s.as_tensor())? - outer(&mp, &mp)?.affine(ntr, 0.0)?)?;
        let c = ((c_all - b.c.as_tensor())? - outer(&mp, &mt)?.affine(ntr, 0.0)?)?;
        Ok(Training { g, c, mp, mt })
    }

    /// The mean of the fold surrogates, with its gradient mapped from the leaves to the data rows
    /// and attached to the centred operands.
    fn attach_gradients(&self, inner: Tensor) -> Result<Tensor> {
        let inner = inner.affine(1.0 / self.blocks.len() as f64, 0.0)?;
        let value = inner.detach();
        let (track_p, track_t) = (self.pc.track_op(), self.tc.track_op());
        if !track_p && !track_t {
            return Ok(value);
        }
        let grads = inner.backward()?;
        let g = |v: &Var| -> Result<Tensor> {
            match grads.get(v.as_tensor()) {
                Some(g) => Ok(g.clone()),
                None => v.as_tensor().zeros_like(),
            }
        };
        let mut gp_rows = Vec::with_capacity(self.blocks.len());
        let mut gt_rows = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            let cbar = g(&b.c)?;
            if track_p {
                let sbar = g(&b.s)?;
                let sym = (&sbar + sbar.t()?)?;
                let mut gp =
                    (b.p.matmul(&sym)? + b.t.matmul(&cbar.t()?)?)?.broadcast_add(&g(&b.sp)?)?;
                if let Some((vp, _)) = &b.rows {
                    gp = (gp + g(vp)?)?;
                }
                gp_rows.push(gp);
            }
            if track_t {
                let mut gt = b.p.matmul(&cbar)?.broadcast_add(&g(&b.st)?)?;
                if let Some(tt) = &b.tt {
                    gt = (gt + b.t.affine(2.0 * scalar(&g(tt)?)?, 0.0)?)?;
                }
                if let Some((_, vt)) = &b.rows {
                    gt = (gt + g(vt)?)?;
                }
                gt_rows.push(gt);
            }
        }
        let mut terms = Vec::new();
        if track_p {
            terms.push((&self.pc, Tensor::cat(&gp_rows, 0)?));
        }
        if track_t {
            terms.push((&self.tc, Tensor::cat(&gt_rows, 0)?));
        }
        tensor::attach(value, terms)
    }
}

/// The sum of the fold surrogates, each fold solved from its training and test moments by
/// [`host::ridge_fold`] (f64).
fn on_test_moments(blocks: &Blocks, lambda: f64, score: FoldScore) -> Result<Tensor> {
    let (dtype, device) = (blocks.pc.dtype(), blocks.pc.device().clone());
    let mut inner: Option<Tensor> = None;
    for b in &blocks.blocks {
        let tr = blocks.training(b)?;
        let tt = b.tt.as_ref().expect("test-moment blocks keep ‖T_j‖²");
        let (s, c, sp, st, tt) = (
            b.s.as_tensor(),
            b.c.as_tensor(),
            b.sp.as_tensor(),
            b.st.as_tensor(),
            tt.as_tensor(),
        );
        let (g_te, c_te, tt) = if blocks.in_sample {
            let nf = blocks.rows() as f64;
            let tt = (tt - tensor::frob2(&tr.mt)?.affine(nf, 0.0)?)?;
            (tr.g.clone(), tr.c.clone(), tt)
        } else {
            let nte = b.p.dims()[0] as f64;
            let (mp, mt) = (&tr.mp, &tr.mt);
            let g_te =
                (((s - outer(sp, mp)?)? - outer(mp, sp)?)? + outer(mp, mp)?.affine(nte, 0.0)?)?;
            let c_te =
                (((c - outer(sp, mt)?)? - outer(mp, st)?)? + outer(mp, mt)?.affine(nte, 0.0)?)?;
            let tt = ((tt - tensor::dot(st, mt)?.affine(2.0, 0.0)?)?
                + tensor::frob2(mt)?.affine(nte, 0.0)?)?;
            (g_te, c_te, tt)
        };
        let r = host::ridge_fold(
            to_mat(&tr.g)?.as_ref(),
            to_mat(&tr.c)?.as_ref(),
            to_mat(&g_te)?.as_ref(),
            to_mat(&c_te)?.as_ref(),
            scalar(&tt)?,
            lambda,
            score,
        )
        .map_err(candle_core::Error::Msg)?;
        let terms = if blocks.in_sample {
            // train and test moments are the same tensors: their gradients add
            vec![
                Grad::Matrix(tr.g, &r.g_tr + &r.g_te),
                Grad::Matrix(tr.c, &r.c_tr + &r.c_te),
                Grad::Scalar(tt, r.tt),
            ]
        } else {
            vec![
                Grad::Matrix(tr.g, r.g_tr),
                Grad::Matrix(tr.c, r.c_tr),
                Grad::Matrix(g_te, r.g_te),
                Grad::Matrix(c_te, r.c_te),
                Grad::Scalar(tt, r.tt),
            ]
        };
        let fold = surrogate(r.value, terms, dtype, &device)?;
        inner = Some(match inner {
            None => fold,
            Some(acc) => (acc + fold)?,
        });
    }
    Ok(inner.expect("at least one fold"))
}

/// The sum of the fold values (ridge), each fold's held-out rows predicted on the device.
///
/// With `A = g_tr + λI` (Cholesky on the host, in the run's precision `T`) and the few held-out
/// rows `P_te` (`m < p/2` of them), every quantity goes through `Z = A⁻¹P_teᵀ` (`p × m`) instead
/// of the `p × q` weights `W = A⁻¹c_tr`, so each product and solve is `m`-thin:
/// `X̂ = P_te W = Zᵀc_tr`; with `X̄ = ∂v/∂X̂`, `∂v/∂c_tr = A⁻¹P_teᵀX̄ = Z X̄`,
/// `∂v/∂P_te = X̄ Wᵀ = (A⁻¹c_tr X̄ᵀ)ᵀ` and `∂v/∂g_tr = −A⁻¹P_teᵀX̄ Wᵀ = −Z ∂v/∂P_te`.
/// About half the flops of going through `W` (two `p × p × q` solves and a `p × q × p` product).
fn on_test_rows_in<T: tensor::HostFloat>(
    blocks: &Blocks,
    lambda: f64,
    score: FoldScore,
) -> Result<Tensor> {
    let (dtype, device) = (blocks.pc.dtype(), blocks.pc.device().clone());
    let mut inner: Option<Tensor> = None;
    for b in &blocks.blocks {
        let tr = blocks.training(b)?;
        let (vp, vt) = b.rows.as_ref().expect("test-row blocks keep their rows");
        let llt = host::ridge_factor::<T>(tensor::to_mat_t::<T>(&tr.g)?, lambda)
            .map_err(candle_core::Error::Msg)?;
        let solve = |rhs_t: &Tensor| -> Result<Tensor> {
            // A⁻¹ rhs_tᵀ, returned transposed (m × p)
            let x = llt.solve(tensor::to_mat_t::<T>(rhs_t)?.transpose());
            tensor::from_mat_t(x.transpose(), dtype, &device)
        };
        // test rows centred with the training means
        let pte = vp.as_tensor().broadcast_sub(&tr.mp)?;
        let tte = vt.as_tensor().broadcast_sub(&tr.mt)?;
        let (pted, tted, c) = (pte.detach(), tte.detach(), tr.c.detach());
        let zt = solve(&pted)?;
        let xhat = zt.matmul(&c)?;
        let ttv = scalar(&tensor::frob2(&tted)?)?;
        // value, ∂v/∂X̂ (device) and the direct ∂v/∂T_te
        let (value, dxhat, dtte) = match score {
            FoldScore::R2 => {
                let r = (&tted - &xhat)?;
                let ssev = scalar(&tensor::frob2(&r)?)?;
                let v = 1.0 - ssev / ttv;
                let dx = r.affine(2.0 / ttv, 0.0)?;
                let dt =
                    (r.affine(-2.0 / ttv, 0.0)? + tted.affine(2.0 * ssev / (ttv * ttv), 0.0)?)?;
                (v, dx, dt)
            }
            FoldScore::PearsonR => {
                let cw = scalar(&tensor::dot(&tted, &xhat)?)?;
                let q = scalar(&tensor::frob2(&xhat)?)?;
                let den = (ttv * q).sqrt();
                let v = cw / den;
                let dx = (tted.affine(1.0 / den, 0.0)? - xhat.affine(v / q, 0.0)?)?;
                let dt = (xhat.affine(1.0 / den, 0.0)? - tted.affine(v / ttv, 0.0)?)?;
                (v, dx, dt)
            }
        };
        let z = zt.t()?;
        let cbar = z.matmul(&dxhat)?;
        let dpte = solve(&dxhat.matmul(&c.t()?)?)?;
        let gbar = z.matmul(&dpte)?.neg()?;
        let fold = tensor::attach(
            tensor::constant(value, dtype, &device)?,
            vec![(&pte, dpte), (&tte, dtte), (&tr.c, cbar), (&tr.g, gbar)],
        )?;
        inner = Some(match inner {
            None => fold,
            Some(acc) => (acc + fold)?,
        });
    }
    Ok(inner.expect("at least one fold"))
}
