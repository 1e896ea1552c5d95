//! Linear assignment (Hungarian / Jonker–Volgenant shortest augmenting paths), `O(r²c)`.
//!
//! Solves `min Σ_i cost[i, σ(i)]` over injective maps `σ` from the rows into the columns of an
//! `r × c` matrix with `r ≤ c` (transpose first otherwise); the same problem as
//! `scipy.optimize.linear_sum_assignment`.

use faer::MatRef;

/// Optimal assignment: returns `(row, col)` pairs, one per row of the smaller side, minimising the
/// total cost (or maximising it when `maximize`). Works for any rectangular shape.
pub fn linear_sum_assignment(cost: MatRef<'_, f64>, maximize: bool) -> Vec<(usize, usize)> {
    let (r, c) = cost.shape();
    let sign = if maximize { -1.0 } else { 1.0 };
    if r <= c {
        solve(r, c, |i, j| sign * cost[(i, j)])
            .into_iter()
            .enumerate()
            .collect()
    } else {
        let mut pairs: Vec<(usize, usize)> = solve(c, r, |i, j| sign * cost[(j, i)])
            .into_iter()
            .enumerate()
            .map(|(j, i)| (i, j))
            .collect();
        pairs.sort_unstable();
        pairs
    }
}

/// Rows `0..n` into columns `0..m` (`n ≤ m`); returns the column of each row.
fn solve(n: usize, m: usize, a: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    // 1-based potentials u (rows), v (columns); p[j] = row matched to column j (0 = none).
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = a(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut ans = vec![0usize; n];
    for j in 1..=m {
        if p[j] != 0 {
            ans[p[j] - 1] = j - 1;
        }
    }
    ans
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn brute(c: &Mat<f64>) -> f64 {
        // all permutations of columns for square c (small)
        fn rec(c: &Mat<f64>, i: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
            if i == c.nrows() {
                *best = best.min(acc);
                return;
            }
            for j in 0..c.ncols() {
                if !used[j] {
                    used[j] = true;
                    rec(c, i + 1, used, acc + c[(i, j)], best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        rec(c, 0, &mut vec![false; c.ncols()], 0.0, &mut best);
        best
    }

    #[test]
    fn matches_brute_force() {
        let mut s = 7u64;
        for (r, cc) in [(4, 4), (3, 5), (5, 3), (6, 6), (1, 4)] {
            let c = Mat::from_fn(r, cc, |_, _| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((s >> 33) % 100) as f64
            });
            let pairs = linear_sum_assignment(c.as_ref(), false);
            let got: f64 = pairs.iter().map(|&(i, j)| c[(i, j)]).sum();
            let want = if r <= cc {
                brute(&c)
            } else {
                brute(&c.transpose().to_owned())
            };
            assert_eq!(got, want, "{r}x{cc}");
            assert_eq!(pairs.len(), r.min(cc));
        }
    }
}
