//! Householder reduction of a symmetric matrix to tridiagonal form, values only: LAPACK's dsytd2
//! (lower triangle), with each step's rank-2 update fused into the next step's matrix-vector
//! product as faer does, but four columns per pass instead of one. faer's fused kernel pays a
//! setup, a masked head and tail and a horizontal sum for every column of every step; at 199²
//! (the Gram whose eigenvalues give NBS and Procrustes at size C) its columns average 66 entries
//! and that overhead held it to about 13 Gflop/s. Four columns share the loads of the reflector
//! vectors and the running product, and the work per pass quadruples.
//!
//! Measured through `sym_eigvals` (this reduction plus the QL of `tridiagonal.rs`) against
//! faer's reduction, alternated, min / median of 8-40 runs (ms): 199², 1.17-1.50 / 1.21-1.61 →
//! 0.82-0.98 / 0.85-1.02; 500², 10.4-11.1 / 14.6-17.9 → 8.3-8.6 / 8.5-9.2; 1000², 54.5-58.5 /
//! 69-75 → 51.6-53.9 / 54-55; 2000², 447-550 → 427-444. From 500² on faer's runs on both
//! threads and this one on one: the matrix no longer fits in one core's L2, and both are bound
//! by the bandwidth beyond it.

use faer::MatRef;

/// Diagonal and off-diagonal of a tridiagonal matrix orthogonally similar to the symmetric `a`
/// (lower triangle read), or `None` where this kernel does not run (no AVX2 and FMA, or entries
/// that are not finite): the caller then takes faer's reduction.
pub(crate) fn tridiagonalize(a: MatRef<'_, f64>) -> Option<(Vec<f64>, Vec<f64>)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        let n = a.nrows();
        assert_eq!(n, a.ncols(), "tridiagonalize needs a square matrix");
        let mut max = 0.0f64;
        let mut finite = true;
        for j in 0..n {
            for i in j..n {
                let v = a[(i, j)];
                finite &= v.is_finite();
                max = max.max(v.abs());
            }
        }
        if !finite {
            return None;
        }
        // A power of two is exact and keeps the squared norms of the reflectors in range.
        let scale = super::power_of_two_near(max);
        let mut lower = vec![0.0; n * n];
        for j in 0..n {
            for i in j..n {
                lower[j * n + i] = a[(i, j)] / scale;
            }
        }
        // SAFETY: AVX2 and FMA were detected just above.
        let (mut d, mut e) = unsafe { fma::reduce(&mut lower, n) };
        d.iter_mut().chain(e.iter_mut()).for_each(|v| *v *= scale);
        return Some((d, e));
    }
    let _ = a;
    None
}

#[cfg(target_arch = "x86_64")]
mod fma {
    use std::arch::x86_64::*;

    /// The reduction of the `n × n` column-major lower triangle `a` (overwritten).
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn reduce(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut d = vec![0.0; n];
        let mut e = vec![0.0; n.saturating_sub(1)];
        // The pending update `A ← A − v wᵀ − w vᵀ` of the trailing matrix from the previous
        // step (entries from the current step's index on), the new reflector `u`, and `z = A u`.
        let (mut v, mut w) = (vec![0.0f64; n], vec![0.0f64; n]);
        let (mut u, mut z) = (vec![0.0f64; n], vec![0.0f64; n]);
        for k in 0..n {
            let col = &mut a[k * n..(k + 1) * n];
            let (vk, wk) = (-v[k], -w[k]);
            for i in k..n {
                col[i] = v[i].mul_add(wk, w[i].mul_add(vk, col[i]));
            }
            d[k] = col[k];
            if k + 2 >= n {
                // The last coupling needs no reflector; the pending update still reaches the
                // last diagonal entry at the next (final) step.
                if k + 2 == n {
                    e[k] = col[k + 1];
                }
                continue;
            }
            // The reflector `I − τ u uᵀ` (u_{k+1} = 1) sending a[k+1.., k] to β e₁ (dlarfg).
            let x = &col[k + 1..];
            let alpha = x[0];
            let xnorm = x[1..].iter().map(|t| t * t).sum::<f64>().sqrt();
            let tau = if xnorm == 0.0 {
                // Already reduced. τ = 0 makes u's product and the next update zero, while the
                // pending update still reaches the trailing matrix.
                e[k] = alpha;
                u[k + 1..].fill(0.0);
                0.0
            } else {
                let beta = -alpha.signum() * alpha.hypot(xnorm);
                let s = 1.0 / (alpha - beta);
                u[k + 1] = 1.0;
                for (ui, xi) in u[k + 2..].iter_mut().zip(&x[1..]) {
                    *ui = xi * s;
                }
                e[k] = beta;
                (beta - alpha) / beta
            };
            update_and_multiply(a, n, k + 1, &v, &w, &u, &mut z);
            // p = τ A u, then w = p − ½τ (pᵀu) u: the next pending update, with v = u.
            let zu: f64 = z[k + 1..]
                .iter()
                .zip(&u[k + 1..])
                .map(|(zi, ui)| zi * ui)
                .sum();
            let half = -0.5 * tau * tau * zu;
            for i in k + 1..n {
                w[i] = u[i].mul_add(half, tau * z[i]);
                v[i] = u[i];
            }
        }
        (d, e)
    }

    /// On the trailing matrix `A[s.., s..]` (lower triangle): `A ← A − v wᵀ − w vᵀ`, then
    /// `z = A u`, in one pass over `A`, four columns at a time.
    #[target_feature(enable = "avx2,fma")]
    fn update_and_multiply(
        a: &mut [f64],
        n: usize,
        s: usize,
        v: &[f64],
        w: &[f64],
        u: &[f64],
        z: &mut [f64],
    ) {
        z[s..].fill(0.0);
        let mut j = s;
        while j + 4 <= n {
            four_columns(a, n, j, v, w, u, z);
            j += 4;
        }
        for j in j..n {
            let col = &mut a[j * n..(j + 1) * n];
            let (vj, wj, uj) = (-v[j], -w[j], u[j]);
            let mut acc = 0.0;
            for i in j..n {
                let x = v[i].mul_add(wj, w[i].mul_add(vj, col[i]));
                col[i] = x;
                z[i] = x.mul_add(uj, z[i]);
                if i > j {
                    acc = x.mul_add(u[i], acc);
                }
            }
            z[j] += acc;
        }
    }

    /// [`update_and_multiply`] on columns `j..j + 4`: the 4 × 4 triangle at their top entry by
    /// entry, then the rows below four at a time, each group's entries of `v`, `w`, `u` and `z`
    /// loaded once for the four columns. Column `c` adds `A_ic u_c` to `z_i` (`i ≥ c`) and
    /// `Σ_{i>c} A_ic u_i` to `z_c`.
    #[target_feature(enable = "avx2,fma")]
    fn four_columns(
        a: &mut [f64],
        n: usize,
        j: usize,
        v: &[f64],
        w: &[f64],
        u: &[f64],
        z: &mut [f64],
    ) {
        let nv = [-v[j], -v[j + 1], -v[j + 2], -v[j + 3]];
        let nw = [-w[j], -w[j + 1], -w[j + 2], -w[j + 3]];
        let uc = [u[j], u[j + 1], u[j + 2], u[j + 3]];
        let block = &mut a[j * n..(j + 4) * n];
        let (c0, rest) = block.split_at_mut(n);
        let (c1, rest) = rest.split_at_mut(n);
        let (c2, c3) = rest.split_at_mut(n);
        let mut cols = [c0, c1, c2, c3];
        let mut sums = [0.0f64; 4];
        for (c, col) in cols.iter_mut().enumerate() {
            for i in j + c..j + 4 {
                let x = v[i].mul_add(nw[c], w[i].mul_add(nv[c], col[i]));
                col[i] = x;
                z[i] = x.mul_add(uc[c], z[i]);
                if i > j + c {
                    sums[c] = x.mul_add(u[i], sums[c]);
                }
            }
        }
        let r0 = j + 4;
        let len = n - r0;
        let whole = len - len % 4;
        let (vs, ws, us) = (&v[r0..n], &w[r0..n], &u[r0..n]);
        let zs = &mut z[r0..n];
        let ptrs = cols.each_mut().map(|col| col[r0..].as_mut_ptr());
        let splat = |x: f64| _mm256_set1_pd(x);
        let (bv, bw, bu) = (nv.map(splat), nw.map(splat), uc.map(splat));
        let mut acc = [_mm256_setzero_pd(); 4];
        for i in (0..whole).step_by(4) {
            // SAFETY: `i + 4 ≤ whole ≤ len`, the length of every slice read or written here
            // (the four columns from row r0 on, and v, w, u, z from r0 on).
            unsafe {
                let vv = _mm256_loadu_pd(vs.as_ptr().add(i));
                let ww = _mm256_loadu_pd(ws.as_ptr().add(i));
                let uu = _mm256_loadu_pd(us.as_ptr().add(i));
                let mut zz = _mm256_loadu_pd(zs.as_ptr().add(i));
                for c in 0..4 {
                    let p = ptrs[c].add(i);
                    let x =
                        _mm256_fmadd_pd(vv, bw[c], _mm256_fmadd_pd(ww, bv[c], _mm256_loadu_pd(p)));
                    _mm256_storeu_pd(p, x);
                    zz = _mm256_fmadd_pd(x, bu[c], zz);
                    acc[c] = _mm256_fmadd_pd(x, uu, acc[c]);
                }
                _mm256_storeu_pd(zs.as_mut_ptr().add(i), zz);
            }
        }
        for i in whole..len {
            for c in 0..4 {
                let col = &mut cols[c][r0..];
                let x = vs[i].mul_add(nw[c], ws[i].mul_add(nv[c], col[i]));
                col[i] = x;
                zs[i] = x.mul_add(uc[c], zs[i]);
                sums[c] = x.mul_add(us[i], sums[c]);
            }
        }
        for c in 0..4 {
            let mut lanes = [0.0f64; 4];
            // SAFETY: four f64 lanes into a four-element array.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), acc[c]) };
            z[j + c] += sums[c] + (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn random_symmetric(n: usize, seed: u64) -> Mat<f64> {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64) / ((1u64 << 53) as f64) - 0.5
        };
        let b = Mat::from_fn(n, n, |_, _| next());
        Mat::from_fn(n, n, |i, j| b[(i, j)] + b[(j, i)])
    }

    /// faer's eigenvalues of `a`, and of the tridiagonal (`d`, `e`), both sorted.
    fn spectra(a: &Mat<f64>, d: &[f64], e: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = d.len();
        let t = Mat::from_fn(n, n, |i, j| match i.abs_diff(j) {
            0 => d[i],
            1 => e[i.min(j)],
            _ => 0.0,
        });
        let sorted = |m: &Mat<f64>| {
            let mut s = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            s.sort_by(f64::total_cmp);
            s
        };
        (sorted(a), sorted(&t))
    }

    /// Whether this machine runs the kernel (x86-64 with AVX2 and FMA); elsewhere it declines.
    fn runs_here() -> bool {
        let runs = tridiagonalize(Mat::<f64>::identity(3, 3).as_ref()).is_some();
        if !runs {
            eprintln!("skipped: no AVX2 and FMA here, the kernel declines (checked below)");
        }
        runs
    }

    #[test]
    fn random_matrices_keep_their_spectrum_trace_and_norm() {
        if !runs_here() {
            return;
        }
        // sizes around the four-column blocks and their four-row groups, and NBS's 199
        for n in (1..=19).chain([31, 32, 33, 64, 199, 257]) {
            let a = random_symmetric(n, n as u64);
            let (d, e) = tridiagonalize(a.as_ref()).unwrap();
            assert_eq!((d.len(), e.len()), (n, n.saturating_sub(1)));
            let (want, got) = spectra(&a, &d, &e);
            let norm = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-13 * norm, "n = {n}: {g} vs {w}");
            }
            // orthogonal similarity keeps the trace and the Frobenius norm
            let trace: f64 = (0..n).map(|i| a[(i, i)]).sum();
            let frob2: f64 = a.norm_l2().powi(2);
            let t_frob2: f64 =
                d.iter().map(|v| v * v).sum::<f64>() + 2.0 * e.iter().map(|v| v * v).sum::<f64>();
            assert!((d.iter().sum::<f64>() - trace).abs() <= 1e-13 * n as f64 * norm);
            assert!((t_frob2 - frob2).abs() <= 1e-13 * frob2, "n = {n}");
        }
    }

    #[test]
    fn reduced_columns_scaling_and_non_finite_entries() {
        if !runs_here() {
            return;
        }
        // Columns already reduced (a diagonal with one coupled pair, and a tridiagonal) skip
        // their reflector while the pending update still reaches the rest: the values stay.
        let mut a = Mat::from_fn(9, 9, |i, j| if i == j { i as f64 - 4.0 } else { 0.0 });
        a[(6, 5)] = 3.0;
        a[(5, 6)] = 3.0;
        let (d, e) = tridiagonalize(a.as_ref()).unwrap();
        let (want, got) = spectra(&a, &d, &e);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-14 * 8.0, "{g} vs {w}");
        }
        let tri = Mat::from_fn(7, 7, |i, j| match i.abs_diff(j) {
            0 => 2.0,
            1 => -1.0,
            _ => 0.0,
        });
        let (d, e) = tridiagonalize(tri.as_ref()).unwrap();
        assert!(d.iter().all(|&v| v == 2.0) && e.iter().all(|&v| v.abs() == 1.0));
        // Scaling by a power of two is exact: the same reduction, scaled, at either end of the
        // range (without the internal scaling, the reflector norms under- or overflow there).
        let a = random_symmetric(40, 3);
        let (d, e) = tridiagonalize(a.as_ref()).unwrap();
        for k in [-900, -600, 600, 1000] {
            let f = 2f64.powi(k);
            let scaled = Mat::from_fn(40, 40, |i, j| a[(i, j)] * f);
            let (ds, es) = tridiagonalize(scaled.as_ref()).unwrap();
            assert!(ds.iter().zip(&d).all(|(s, v)| *s == v * f), "2^{k}");
            assert!(es.iter().zip(&e).all(|(s, v)| *s == v * f), "2^{k}");
        }
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut b = a.clone();
            b[(30, 7)] = bad;
            assert!(tridiagonalize(b.as_ref()).is_none());
        }
    }
}
