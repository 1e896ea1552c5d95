//! Representational similarity analysis (spec §1a E).
//!
//! RDMs (`n × n`, upper triangle `i < j` in `np.triu_indices(n, 1)` order):
//! - `correlation`: rows centred across units and normalised, `1 − x̂_i·x̂_j` (rsatoolbox);
//! - `squared_euclidean`: `‖x_i‖² + ‖x_j‖² − 2 x_i·x_j` from the raw Gram, as rsatoolbox (its
//!   `/p` factor changes no comparison); exact on integer data, so ties are kept;
//! - `euclidean`: its square root (thingsvision / scipy `pdist`);
//! - `cosine`: `1 − x_i·x_j/(‖x_i‖‖x_j‖)` (thingsvision).
//!
//! Comparisons of the two vectors `a`, `b` (length `m = n(n−1)/2`):
//! `pearson` (centre then cosine), `spearman` (average ranks then Pearson), `kendall` (tau-b,
//! Knight's O(m log m) algorithm as scipy), `tau_a` (`(P − Q)/(m(m−1)/2)`), `rho_a`
//! (`12 Σ(r_a − r̄)(r_b − r̄)/(m³ − m)`), `cosine`.

use std::rc::Rc;

use faer::MatRef;

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
        Rdm::SquaredEuclidean | Rdm::Euclidean => {
            let g = linalg::gram_nt(x);
            let sq = |i: usize, j: usize| (g[(i, i)] + g[(j, j)] - 2.0 * g[(i, j)]).max(0.0);
            Ok(if rdm == Rdm::Euclidean {
                upper(n, |i, j| sq(i, j).sqrt())
            } else {
                upper(n, sq)
            })
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

fn rdm_name(rdm: Rdm) -> &'static str {
    match rdm {
        Rdm::Correlation => "correlation",
        Rdm::Euclidean => "euclidean",
        Rdm::SquaredEuclidean => "squared_euclidean",
        Rdm::Cosine => "cosine",
    }
}

pub(crate) fn rsa(ctx: &Ctx<'_>, rdm: Rdm, cmp: Compare, id: &str) -> Result<f64, MeasureError> {
    let key = rdm_name(rdm);
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
        Compare::Spearman => pearson(&rankdata(&a), &rankdata(&b)),
        Compare::RhoA => {
            let (ra, rb) = (rankdata(&a), rankdata(&b));
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
    };
    if v.is_nan() {
        return Err(MeasureError::Degenerate {
            measure: id.to_string(),
            reason: "an RDM has zero norm".into(),
        });
    }
    Ok(v)
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
pub(crate) fn rankdata(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut s = 0;
    while s < idx.len() {
        let mut e = s + 1;
        while e < idx.len() && v[idx[e]] == v[idx[s]] {
            e += 1;
        }
        let avg = (s + e + 1) as f64 / 2.0;
        for &k in &idx[s..e] {
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
