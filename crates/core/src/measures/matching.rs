//! Soft matching and ENSD (spec §1a G).
//!
//! - Soft matching (Khosla & Williams; NeuroAIMetrics `SoftMatching`): drop all-zero units;
//!   `C_ij = 1 − cos(x̃_i, ỹ_j)` between column-centred units; `T` the exact optimal transport plan
//!   between uniform weights `1/p1`, `1/p2` (POT `ot.emd`); score `1 − ⟨T, C⟩`. The transport
//!   problem is solved exactly as an integer min-cost flow (supplies `p2`, demands `p1`) by
//!   successive shortest paths with potentials; the reference computes `C` in float32, ours is f64.
//! - ENSD (diffscore `ensd`): `tr(XᵀYYᵀX)·tr(XᵀX)·tr(YᵀY) / (tr((XᵀX)²)·tr((YᵀY)²))` on centred
//!   data, i.e. `⟨K_X,K_Y⟩·tr K_X·tr K_Y/(‖K_X‖²‖K_Y‖²)` from the shared linear-kernel terms.

use faer::{Mat, MatRef};

use super::MeasureError;
use super::context::Ctx;
use crate::linalg;

/// Centred, unit-norm columns of `m` after dropping all-zero columns.
fn unit_columns(m: MatRef<'_, f64>, which: &str, id: &str) -> Result<Mat<f64>, MeasureError> {
    let keep: Vec<usize> = (0..m.ncols())
        .filter(|&j| (0..m.nrows()).any(|i| m[(i, j)] != 0.0))
        .collect();
    if keep.is_empty() {
        return Err(MeasureError::Degenerate {
            measure: id.to_string(),
            reason: format!("every unit of {which} is all zeros"),
        });
    }
    let n = m.nrows() as f64;
    let mut out = Mat::zeros(m.nrows(), keep.len());
    for (k, &j) in keep.iter().enumerate() {
        let mean = m.col(j).sum() / n;
        let mut norm = 0.0;
        for i in 0..m.nrows() {
            let v = m[(i, j)] - mean;
            out[(i, k)] = v;
            norm += v * v;
        }
        if norm == 0.0 {
            return Err(MeasureError::Degenerate {
                measure: id.to_string(),
                reason: format!(
                    "unit {j} of {which} is constant (and not zero), so its correlation with any unit is undefined; drop constant units"
                ),
            });
        }
        let norm = norm.sqrt();
        for i in 0..m.nrows() {
            out[(i, k)] /= norm;
        }
    }
    Ok(out)
}

pub(crate) fn soft_match(ctx: &Ctx<'_>, id: &str) -> Result<f64, MeasureError> {
    let ux = unit_columns(ctx.x, "X", id)?;
    let uy = unit_columns(ctx.y, "Y", id)?;
    let cos = linalg::mul_tn(ux.as_ref(), uy.as_ref());
    let c = Mat::from_fn(cos.nrows(), cos.ncols(), |i, j| 1.0 - cos[(i, j)]);
    let flow = transport_uniform(c.as_ref());
    let total = (c.nrows() * c.ncols()) as f64;
    let mut cost = 0.0;
    for j in 0..c.ncols() {
        for i in 0..c.nrows() {
            if flow[i * c.ncols() + j] != 0 {
                cost += flow[i * c.ncols() + j] as f64 * c[(i, j)];
            }
        }
    }
    Ok(1.0 - cost / total)
}

/// Exact optimal transport between uniform marginals on the rows and columns of `c` (scaled to
/// integers: each row supplies `ncols`, each column demands `nrows`). Returns the integer flow,
/// row-major; the plan is `flow / (nrows·ncols)`.
pub(crate) fn transport_uniform(c: MatRef<'_, f64>) -> Vec<i64> {
    let (r, k) = c.shape();
    let mut flow = vec![0i64; r * k];
    let mut supply = vec![k as i64; r];
    let mut demand = vec![r as i64; k];
    // potentials: reduced cost of row i → col j is c_ij + hr_i − hc_j ≥ 0
    let mut hr = vec![0.0f64; r];
    let mut hc = vec![0.0f64; k];
    let min_c = (0..k)
        .flat_map(|j| (0..r).map(move |i| (i, j)))
        .map(|(i, j)| c[(i, j)])
        .fold(f64::INFINITY, f64::min);
    if min_c < 0.0 {
        hc.iter_mut().for_each(|h| *h = min_c);
    }
    let mut remaining: i64 = (r * k) as i64;
    let inf = f64::INFINITY;
    let mut dr = vec![inf; r];
    let mut dc = vec![inf; k];
    let mut done_r = vec![false; r];
    let mut done_c = vec![false; k];
    let mut prev_c = vec![usize::MAX; k]; // row that reached column j
    let mut prev_r = vec![usize::MAX; r]; // column that reached row i (via a reverse arc)
    while remaining > 0 {
        dr.iter_mut().for_each(|d| *d = inf);
        dc.iter_mut().for_each(|d| *d = inf);
        done_r.iter_mut().for_each(|d| *d = false);
        done_c.iter_mut().for_each(|d| *d = false);
        for i in 0..r {
            if supply[i] > 0 {
                dr[i] = 0.0;
                prev_r[i] = usize::MAX;
            }
        }
        let target = loop {
            // pick the closest unsettled node
            let (mut best, mut is_row, mut idx) = (inf, true, usize::MAX);
            for i in 0..r {
                if !done_r[i] && dr[i] < best {
                    (best, is_row, idx) = (dr[i], true, i);
                }
            }
            for j in 0..k {
                if !done_c[j] && dc[j] < best {
                    (best, is_row, idx) = (dc[j], false, j);
                }
            }
            if idx == usize::MAX {
                break None;
            }
            if is_row {
                done_r[idx] = true;
                let i = idx;
                for j in 0..k {
                    if !done_c[j] {
                        let nd = dr[i] + (c[(i, j)] + hr[i] - hc[j]).max(0.0);
                        if nd < dc[j] {
                            dc[j] = nd;
                            prev_c[j] = i;
                        }
                    }
                }
            } else {
                done_c[idx] = true;
                let j = idx;
                if demand[j] > 0 {
                    break Some(j);
                }
                for i in 0..r {
                    if !done_r[i] && flow[i * k + j] > 0 {
                        let nd = dc[j] + (-c[(i, j)] + hc[j] - hr[i]).max(0.0);
                        if nd < dr[i] {
                            dr[i] = nd;
                            prev_r[i] = j;
                        }
                    }
                }
            }
        };
        let Some(t) = target else { break };
        let dt = dc[t];
        for i in 0..r {
            hr[i] += dr[i].min(dt);
        }
        for j in 0..k {
            hc[j] += dc[j].min(dt);
        }
        // bottleneck along the path t ← row ← col ← … ← source row
        let mut amount = demand[t];
        let mut j = t;
        loop {
            let i = prev_c[j];
            let pj = prev_r[i];
            if pj == usize::MAX {
                amount = amount.min(supply[i]);
                break;
            }
            amount = amount.min(flow[i * k + pj]);
            j = pj;
        }
        let mut j = t;
        loop {
            let i = prev_c[j];
            flow[i * k + j] += amount;
            let pj = prev_r[i];
            if pj == usize::MAX {
                supply[i] -= amount;
                break;
            }
            flow[i * k + pj] -= amount;
            j = pj;
        }
        demand[t] -= amount;
        remaining -= amount;
    }
    flow
}

/// ENSD = ⟨K_X, K_Y⟩ · tr K_X · tr K_Y / (‖K_X‖² ‖K_Y‖²) on centred data (diffscore `ensd`).
pub(crate) fn ensd(ctx: &Ctx<'_>, id: &str) -> Result<f64, MeasureError> {
    let t = ctx.linear();
    if t.hxx == 0.0 || t.hyy == 0.0 {
        return Err(MeasureError::Degenerate {
            measure: id.to_string(),
            reason: "X or Y has no variance across rows".into(),
        });
    }
    Ok(t.hxy * ctx.nx2() * ctx.ny2() / (t.hxx * t.hyy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_square_is_assignment() {
        let c = Mat::from_fn(4, 4, |i, j| ((i * 7 + j * 3) % 5) as f64);
        let f = transport_uniform(c.as_ref());
        let cost: f64 = (0..16)
            .map(|t| f[t] as f64 * c[(t / 4, t % 4)])
            .sum::<f64>()
            / 16.0;
        let pairs = super::super::linear_sum_assignment(c.as_ref(), false);
        let best: f64 = pairs.iter().map(|&(i, j)| c[(i, j)]).sum::<f64>() / 4.0;
        assert!((cost - best).abs() < 1e-12, "{cost} vs {best}");
        // marginals
        for i in 0..4 {
            assert_eq!((0..4).map(|j| f[i * 4 + j]).sum::<i64>(), 4);
        }
    }

    #[test]
    fn transport_rectangular_marginals() {
        let c = Mat::from_fn(3, 5, |i, j| ((i * 5 + j * 2) % 7) as f64 / 7.0);
        let f = transport_uniform(c.as_ref());
        for i in 0..3 {
            assert_eq!((0..5).map(|j| f[i * 5 + j]).sum::<i64>(), 5);
        }
        for j in 0..5 {
            assert_eq!((0..3).map(|i| f[i * 5 + j]).sum::<i64>(), 3);
        }
    }
}
