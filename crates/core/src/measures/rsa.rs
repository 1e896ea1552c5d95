//! Representational similarity analysis (spec §1a E).
//!
//! RDMs (`n × n`, upper triangle `i < j` in `np.triu_indices(n, 1)` order):
//! - `correlation`: rows centred across units and normalised, `1 − x̂_i·x̂_j` (rsatoolbox);
//! - `squared_euclidean`: `(‖x_i‖² + ‖x_j‖² − 2 x_i·x_j)/p` from the raw Gram, as rsatoolbox
//!   (the `/p` matters only to the Bures metric, which keeps the RDM's scale);
//! - `euclidean`: its square root (thingsvision / scipy `pdist`);
//! - `cosine`: `1 − x_i·x_j/(‖x_i‖‖x_j‖)` (thingsvision);
//! - `gaussian`: `1 − exp(−d²_ij / mean(d²))` with the mean over all `n²` squared distances, the
//!   zero diagonal included (thingsvision);
//! - `poisson` (rsatoolbox): symmetrised KL divergence of Poisson rates smoothed towards the
//!   prior λ = 1 with weight 0.1, `m = (x + 0.1)/1.1`, `Σ_k (m_ik − m_jk)(log m_ik − log m_jk)/p`.
//!   rsatoolbox's `mahalanobis` with its default (identity) precision is `squared_euclidean`.
//!
//! Comparisons of the two vectors `a`, `b` (length `m = n(n−1)/2`):
//! `pearson` (centre then cosine), `spearman` (average ranks then Pearson), `kendall` (tau-b,
//! Knight's O(m log m) algorithm as scipy), `tau_a` (`(P − Q)/(m(m−1)/2)`), `rho_a`
//! (`12 Σ(r_a − r̄)(r_b − r̄)/(m³ − m)`), `cosine`, `euclidean` (`‖a − b‖₂`, resi; with
//! correlation RDMs this equals resi's distance between the correlation RSMs).
//! The whitened comparisons work on the double-centred second-moment matrices
//! `G = −½ H D H` (`D` the full RDM with its zero diagonal): `cosine_cov` is the cosine of `G₁`
//! and `G₂` (rsatoolbox's whitening with i.i.d. pattern noise; with `squared_euclidean` this is
//! linear CKA), `corr_cov` the same after subtracting the mean distance from `D`'s off-diagonal
//! (`G − (d̄/2) H`), `bures` the fidelity `Σ sqrt(λ(A₊^½ B A₊^½)₊) / sqrt(tr A tr B)` and
//! `bures_metric` its squared metric `tr A + tr B − 2 Σ sqrt(…)`, with `A₊^½` from the eigenvalues
//! of `A` clipped at 0, as rsatoolbox computes them.

use std::rc::Rc;

use faer::{Mat, MatRef};

use super::MeasureError;
use super::context::Ctx;
use super::spec::{Compare, Rdm};
use crate::linalg;

fn upper(n: usize, f: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let mut v = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            v.push(f(i, j));
        }
    }
    v
}

/// The RDM's upper triangle, or an error naming the row that makes it undefined.
fn rdm_vector(
    x: MatRef<'_, f64>,
    rdm: Rdm,
    which: &str,
    id: &str,
) -> Result<Vec<f64>, MeasureError> {
    let n = x.nrows();
    match rdm {
        Rdm::SquaredEuclidean | Rdm::Euclidean | Rdm::Gaussian => {
            let g = linalg::gram_nt(x);
            let sq = |i: usize, j: usize| (g[(i, i)] + g[(j, j)] - 2.0 * g[(i, j)]).max(0.0);
            let p = x.ncols() as f64;
            match rdm {
                Rdm::Euclidean => Ok(upper(n, |i, j| sq(i, j).sqrt())),
                Rdm::SquaredEuclidean => Ok(upper(n, |i, j| sq(i, j) / p)),
                _ => {
                    let d = upper(n, sq);
                    // mean over all n² entries, the zero diagonal included (thingsvision)
                    let mean = 2.0 * d.iter().sum::<f64>() / (n * n) as f64;
                    if mean == 0.0 {
                        return Err(MeasureError::Degenerate {
                            measure: id.to_string(),
                            reason: format!(
                                "all rows of {which} are equal, so the Gaussian RDM's bandwidth (the mean squared distance) is 0"
                            ),
                        });
                    }
                    Ok(d.into_iter().map(|v| 1.0 - (-v / mean).exp()).collect())
                }
            }
        }
        Rdm::Poisson => {
            let p = x.ncols() as f64;
            if let Some((i, j)) =
                (0..n).find_map(|i| (0..x.ncols()).find(|&j| x[(i, j)] <= -0.1).map(|j| (i, j)))
            {
                return Err(MeasureError::Degenerate {
                    measure: id.to_string(),
                    reason: format!(
                        "the Poisson RDM needs non-negative counts, but {which}[{i}, {j}] = {}",
                        x[(i, j)]
                    ),
                });
            }
            let m = Mat::from_fn(n, x.ncols(), |i, j| (x[(i, j)] + 0.1) / 1.1);
            let l = Mat::from_fn(n, x.ncols(), |i, j| m[(i, j)].ln());
            let k = linalg::mul_nt(m.as_ref(), l.as_ref());
            Ok(upper(n, |i, j| {
                (k[(i, i)] + k[(j, j)] - k[(i, j)] - k[(j, i)]) / p
            }))
        }
        Rdm::Correlation | Rdm::Cosine => {
            let p = x.ncols() as f64;
            let mut z = x.to_owned();
            for i in 0..n {
                if rdm == Rdm::Correlation {
                    let mean = (0..x.ncols()).map(|j| x[(i, j)]).sum::<f64>() / p;
                    for j in 0..x.ncols() {
                        z[(i, j)] -= mean;
                    }
                }
                let norm = (0..x.ncols())
                    .map(|j| z[(i, j)] * z[(i, j)])
                    .sum::<f64>()
                    .sqrt();
                if norm == 0.0 {
                    return Err(MeasureError::Degenerate {
                        measure: id.to_string(),
                        reason: format!(
                            "row {i} of {which} is {} across units, so its {} distance to other rows is undefined",
                            if rdm == Rdm::Correlation {
                                "constant"
                            } else {
                                "all zeros"
                            },
                            if rdm == Rdm::Correlation {
                                "correlation"
                            } else {
                                "cosine"
                            }
                        ),
                    });
                }
                for j in 0..x.ncols() {
                    z[(i, j)] /= norm;
                }
            }
            let g = linalg::gram_nt(z.as_ref());
            Ok(upper(n, |i, j| 1.0 - g[(i, j)]))
        }
    }
}

pub(crate) fn rsa(ctx: &Ctx<'_>, rdm: Rdm, cmp: Compare, id: &str) -> Result<f64, MeasureError> {
    let key = rdm.name();
    let cached = ctx.rdms.borrow().get(key).cloned();
    let (a, b) = match cached {
        Some(v) => v,
        None => {
            let a = Rc::new(rdm_vector(ctx.x, rdm, "X", id)?);
            let b = Rc::new(rdm_vector(ctx.y, rdm, "Y", id)?);
            ctx.rdms.borrow_mut().insert(key, (a.clone(), b.clone()));
            (a, b)
        }
    };
    let constant = |v: &[f64]| v.iter().all(|&t| t == v[0]);
    if matches!(
        cmp,
        Compare::Pearson | Compare::Spearman | Compare::KendallTauB | Compare::RhoA
    ) && (constant(&a) || constant(&b))
    {
        return Err(MeasureError::Degenerate {
            measure: id.to_string(),
            reason: "all entries of an RDM are equal (e.g. all stimuli equidistant), so its correlation with the other RDM is 0/0".into(),
        });
    }
    let v = match cmp {
        Compare::Pearson => pearson(&a, &b),
        Compare::Cosine => cosine(&a, &b),
        Compare::Euclidean => a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt(),
        Compare::Spearman => {
            let (sa, sb): (&[f64], &[f64]) = (&a, &b);
            let (ra, rb) = rayon::join(|| rankdata(sa), || rankdata(sb));
            pearson(&ra, &rb)
        }
        Compare::RhoA => {
            let (sa, sb): (&[f64], &[f64]) = (&a, &b);
            let (ra, rb) = rayon::join(|| rankdata(sa), || rankdata(sb));
            let m = ra.len() as f64;
            let mean = (m + 1.0) / 2.0;
            12.0 * ra
                .iter()
                .zip(&rb)
                .map(|(x, y)| (x - mean) * (y - mean))
                .sum::<f64>()
                / (m * m * m - m)
        }
        Compare::KendallTauB => kendall(&a, &b, true),
        Compare::TauA => kendall(&a, &b, false),
        Compare::CosineCov | Compare::CorrCov => {
            let centre = cmp == Compare::CorrCov;
            let (ga, gb) = (second_moment(&a, centre), second_moment(&b, centre));
            linalg::frob_dot(ga.as_ref(), gb.as_ref())
                / (linalg::frob2(ga.as_ref()) * linalg::frob2(gb.as_ref())).sqrt()
        }
        Compare::Bures | Compare::BuresMetric => {
            let cached = ctx.bures.borrow().get(key).copied();
            let (fidelity, ta, tb) = match cached {
                Some(v) => v,
                None => {
                    let (ga, gb) = (second_moment(&a, false), second_moment(&b, false));
                    let f = bures_fidelity(ga.as_ref(), gb.as_ref()).map_err(|e| {
                        MeasureError::Numerical {
                            measure: id.to_string(),
                            message: e.to_string(),
                        }
                    })?;
                    let v = (f, trace(ga.as_ref()), trace(gb.as_ref()));
                    ctx.bures.borrow_mut().insert(key, v);
                    v
                }
            };
            if cmp == Compare::Bures {
                fidelity / (ta * tb).sqrt()
            } else {
                ta + tb - 2.0 * fidelity
            }
        }
    };
    if v.is_nan() {
        return Err(MeasureError::Degenerate {
            measure: id.to_string(),
            reason: "an RDM has zero norm".into(),
        });
    }
    Ok(v)
}

/// `G = −½ H D H` from the upper triangle of `D` (zero diagonal); `centre` first subtracts the
/// mean distance from the off-diagonal entries.
fn second_moment(v: &[f64], centre: bool) -> Mat<f64> {
    let n = (1.0 + (1.0 + 8.0 * v.len() as f64).sqrt()).round() as usize / 2;
    let shift = if centre {
        v.iter().sum::<f64>() / v.len() as f64
    } else {
        0.0
    };
    let mut d = Mat::<f64>::zeros(n, n);
    let mut k = 0;
    for i in 0..n {
        for j in i + 1..n {
            d[(i, j)] = v[k] - shift;
            d[(j, i)] = v[k] - shift;
            k += 1;
        }
    }
    let rows: Vec<f64> = (0..n)
        .map(|i| d.col(i).iter().sum::<f64>() / n as f64)
        .collect();
    let all = rows.iter().sum::<f64>() / n as f64;
    Mat::from_fn(n, n, |i, j| -0.5 * (d[(i, j)] - rows[i] - rows[j] + all))
}

fn trace(a: MatRef<'_, f64>) -> f64 {
    (0..a.nrows()).map(|i| a[(i, i)]).sum()
}

/// `Σ sqrt(λ(A₊^½ B A₊^½)₊)` as rsatoolbox computes it (`A`'s eigenvalues clipped, `B` used as
/// is, so the result is asymmetric when `B` is indefinite), via `Sᵀ B S` with
/// `S = U diag(sqrt(λ₊))`. Eigenvalues at the rounding level (`≤ n ε λ_max`) count as 0: the
/// square root would turn each into a spurious `~1e−8` contribution.
fn bures_fidelity(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<f64, linalg::LinalgError> {
    let tol = a.nrows() as f64 * f64::EPSILON;
    let (lam, u) = linalg::sym_eigen(a)?;
    let lmax = lam.iter().fold(0.0f64, |m, &l| m.max(l.abs()));
    let keep: Vec<usize> = (0..lam.len()).filter(|&k| lam[k] > tol * lmax).collect();
    let s = Mat::from_fn(u.nrows(), keep.len(), |i, c| {
        u[(i, keep[c])] * lam[keep[c]].sqrt()
    });
    let m = linalg::mul_tn(s.as_ref(), linalg::mul(b, s.as_ref()).as_ref());
    let mu = linalg::sym_eigvals(m.as_ref())?;
    let mmax = mu.iter().fold(0.0f64, |m, &l| m.max(l.abs()));
    Ok(mu
        .iter()
        .filter(|&&l| l > tol * mmax)
        .map(|&l| l.sqrt())
        .sum())
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let m = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / m, b.iter().sum::<f64>() / m);
    let ac: Vec<f64> = a.iter().map(|x| x - ma).collect();
    let bc: Vec<f64> = b.iter().map(|x| x - mb).collect();
    cosine(&ac, &bc)
}

/// scipy `rankdata(method="average")`, 1-based.
///
/// Sorts (value, index) pairs rather than indices into `v`, so the comparisons read contiguous
/// memory (the RDM of 5000 stimuli has 12.5M entries), on the rayon pool.
pub(crate) fn rankdata(v: &[f64]) -> Vec<f64> {
    use rayon::slice::ParallelSliceMut;
    let mut pairs: Vec<(f64, usize)> = v.iter().copied().zip(0..).collect();
    // the order within a tie does not matter: its members share their average rank
    if pairs.len() > 1 << 16 {
        pairs.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    } else {
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut r = vec![0.0; v.len()];
    let mut s = 0;
    while s < pairs.len() {
        let mut e = s + 1;
        while e < pairs.len() && pairs[e].0 == pairs[s].0 {
            e += 1;
        }
        let avg = (s + e + 1) as f64 / 2.0;
        for &(_, k) in &pairs[s..e] {
            r[k] = avg;
        }
        s = e;
    }
    r
}

/// Kendall tau-b (`b = true`, scipy) or tau-a (rsatoolbox), O(m log m).
fn kendall(a: &[f64], b: &[f64], tau_b: bool) -> f64 {
    let m = a.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&i, &j| a[i].total_cmp(&a[j]).then(b[i].total_cmp(&b[j])));
    let pairs = |c: u64| c * c.saturating_sub(1) / 2;
    // ties in a, joint ties
    let (mut xtie, mut ntie) = (0u64, 0u64);
    let mut s = 0;
    while s < m {
        let mut e = s + 1;
        while e < m && a[idx[e]] == a[idx[s]] {
            e += 1;
        }
        xtie += pairs((e - s) as u64);
        let mut t = s;
        while t < e {
            let mut u = t + 1;
            while u < e && b[idx[u]] == b[idx[t]] {
                u += 1;
            }
            ntie += pairs((u - t) as u64);
            t = u;
        }
        s = e;
    }
    // discordant pairs = inversions of b in this order (strict), by merge sort
    let mut seq: Vec<f64> = idx.iter().map(|&i| b[i]).collect();
    let mut buf = vec![0.0; m];
    let dis = merge_count(&mut seq, &mut buf);
    // ties in b (seq is now sorted)
    let mut ytie = 0u64;
    let mut s = 0;
    while s < m {
        let mut e = s + 1;
        while e < m && seq[e] == seq[s] {
            e += 1;
        }
        ytie += pairs((e - s) as u64);
        s = e;
    }
    let tot = pairs(m as u64);
    let con_minus_dis = tot as f64 - xtie as f64 - ytie as f64 + ntie as f64 - 2.0 * dis as f64;
    let tau = if tau_b {
        con_minus_dis / ((tot - xtie) as f64).sqrt() / ((tot - ytie) as f64).sqrt()
    } else {
        con_minus_dis / tot as f64
    };
    tau.clamp(-1.0, 1.0)
}

/// Sorts `v` and returns the number of strict inversions (i < j, v_i > v_j).
fn merge_count(v: &mut [f64], buf: &mut [f64]) -> u64 {
    let m = v.len();
    if m < 2 {
        return 0;
    }
    let mid = m / 2;
    let mut c = {
        let (l, r) = v.split_at_mut(mid);
        let (bl, br) = buf.split_at_mut(mid);
        merge_count(l, bl) + merge_count(r, br)
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < m {
        if v[j] < v[i] {
            buf[k] = v[j];
            c += (mid - i) as u64;
            j += 1;
        } else {
            buf[k] = v[i];
            i += 1;
        }
        k += 1;
    }
    while i < mid {
        buf[k] = v[i];
        i += 1;
        k += 1;
    }
    while j < m {
        buf[k] = v[j];
        j += 1;
        k += 1;
    }
    v.copy_from_slice(&buf[..m]);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(a: &[f64], b: &[f64]) -> (f64, f64) {
        let m = a.len();
        let (mut c, mut d, mut tx, mut ty) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..m {
            for j in i + 1..m {
                let s = (a[i] - a[j]).signum() * (b[i] - b[j]).signum();
                if s > 0.0 {
                    c += 1.0
                } else if s < 0.0 {
                    d += 1.0
                }
                if a[i] == a[j] {
                    tx += 1.0
                }
                if b[i] == b[j] {
                    ty += 1.0
                }
            }
        }
        let tot = (m * (m - 1) / 2) as f64;
        ((c - d) / ((tot - tx) * (tot - ty)).sqrt(), (c - d) / tot)
    }

    #[test]
    fn kendall_matches_brute_force_with_ties() {
        let a = [1.0, 2.0, 2.0, 3.0, 5.0, 1.0, 4.0, 4.0, 0.0];
        let b = [2.0, 1.0, 3.0, 3.0, 5.0, 0.0, 4.0, 2.0, 0.0];
        let (tb, ta) = brute(&a, &b);
        assert!((kendall(&a, &b, true) - tb).abs() < 1e-15);
        assert!((kendall(&a, &b, false) - ta).abs() < 1e-15);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(rankdata(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }
}
