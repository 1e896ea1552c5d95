//! Differentiable measures: values against the f64 measure engine (1e−10) and gradients against
//! central finite differences (f64), for the target side and the optimised side, on generic,
//! rank-deficient and p > n inputs.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use faer::Mat;
use simscore_core::measures;
use simscore_core::optim::DiffMeasure;

/// Deterministic pseudo-random matrix in [−1, 1) (LCG), optionally with a column offset.
fn mat(n: usize, p: usize, seed: u64) -> Mat<f64> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15).wrapping_add(1);
    Mat::from_fn(n, p, |_, j| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0 + 0.3 * (j % 3) as f64
    })
}

/// `a` with rank `r`: `a[:, :r] · B` mixed into all columns.
fn low_rank(n: usize, p: usize, r: usize, seed: u64) -> Mat<f64> {
    let a = mat(n, r, seed);
    let b = mat(r, p, seed + 7);
    &a * &b
}

fn device() -> Device {
    simscore_core::optim::parse_device(&common::test_device()).expect("SIMSCORE_TEST_DEVICE")
}

fn tensor(m: &Mat<f64>) -> Tensor {
    let (n, p) = m.shape();
    let v: Vec<f64> = (0..n)
        .flat_map(|i| (0..p).map(move |j| (i, j)))
        .map(|(i, j)| m[(i, j)])
        .collect();
    Tensor::from_vec(v, (n, p), &device()).unwrap()
}

fn to_mat(t: &Tensor) -> Mat<f64> {
    let (n, p) = t.dims2().unwrap();
    let v = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    Mat::from_fn(n, p, |i, j| v[i * p + j])
}

fn value(m: &DiffMeasure, x: &Mat<f64>, y: &Mat<f64>) -> f64 {
    m.eval(&tensor(x), &tensor(y)).unwrap().0
}

const VALUE_IDS: &[&str] = &[
    "cka",
    "cka-angular-score",
    "cka-angular",
    "cka-hsic_song",
    "cka-kernel=linear-hsic=lange-score",
    "nbs",
    "nbs-squared",
    "nbs-angular-score",
    "procrustes-angular-score",
    "procrustes-angular",
    "procrustes-score",
    "procrustes-euclidean",
    "procrustes-distance=squared_euclidean",
    "bures_distance",
    "rsa-rdm=correlation-compare=pearson",
    "rsa-rdm=correlation-compare=cosine",
    "linreg-r2#no_cv",
    "linreg-r2#5folds_cv",
    "linreg-pearsonr#5folds_cv",
    "ridge-lambda100-r2#no_cv",
    "ridge-lambda100-r2#5folds_cv",
    "ridge-lambda10-r2-sym#5folds_cv",
    "ridge-lambda1-pearsonr#5folds_cv",
    "ridge-lambda37.5-r2#3folds_cv",
];

/// CCA needs p < n.
const CCA_IDS: &[&str] = &[
    "cca-angular-score",
    "cca-score",
    "cca-squared_score",
    "cca-angular",
];

fn check_values(x: &Mat<f64>, y: &Mat<f64>, ids: &[&str], case: &str) -> f64 {
    let mut worst: f64 = 0.0;
    for id in ids {
        let m = DiffMeasure::new(id).unwrap();
        let got = value(&m, x, y);
        let want = measures::score(id, x.as_ref(), y.as_ref())
            .unwrap_or_else(|e| panic!("{case} {id}: engine failed: {e}"));
        let err = (got - want).abs();
        assert!(
            err <= 1e-10 * want.abs().max(1.0),
            "{case} {id}: differentiable {got} vs engine {want} (error {err:e})"
        );
        worst = worst.max(err);
    }
    worst
}

#[test]
fn values_match_engine() {
    let mut worst: f64 = 0.0;
    // generic, p < n, different widths
    let x = mat(40, 7, 1);
    let y = mat(40, 5, 2);
    worst = worst.max(check_values(&x, &y, VALUE_IDS, "40x7/40x5"));
    worst = worst.max(check_values(&x, &y, CCA_IDS, "40x7/40x5"));
    worst = worst.max(check_values(&y, &x, VALUE_IDS, "40x5/40x7"));
    worst = worst.max(check_values(&y, &x, CCA_IDS, "40x5/40x7"));
    // rank-deficient target
    let xr = low_rank(30, 8, 3, 3);
    let y = mat(30, 6, 4);
    worst = worst.max(check_values(&xr, &y, VALUE_IDS, "rank-3 X"));
    worst = worst.max(check_values(&xr, &y, CCA_IDS, "rank-3 X"));
    // p > n on both sides
    let x = mat(12, 30, 5);
    let y = mat(12, 20, 6);
    let wide: Vec<&str> = VALUE_IDS
        .iter()
        .copied()
        .filter(|id| !id.contains("no_cv") || id.contains("ridge"))
        .collect();
    worst = worst.max(check_values(&x, &y, &wide, "p > n"));
    // reverse = swapped arguments
    let x = mat(25, 6, 7);
    let y = mat(25, 4, 8);
    let m = DiffMeasure::new("ridge-lambda100-r2#5folds_cv-reverse").unwrap();
    let want = measures::score("ridge-lambda100-r2#5folds_cv", y.as_ref(), x.as_ref()).unwrap();
    let got = value(&m, &x, &y);
    assert!((got - want).abs() < 1e-10, "reverse: {got} vs {want}");
    eprintln!("largest |differentiable − engine| = {worst:e}");
}

/// Central differences of `f` along random directions, against `⟨∇f, D⟩`.
fn check_grad(id: &str, x: &Mat<f64>, y: &Mat<f64>, wrt_x: bool, case: &str) -> f64 {
    let m = DiffMeasure::new(id).unwrap();
    let (xt, yt) = (tensor(x), tensor(y));
    let var = Var::from_tensor(if wrt_x { &xt } else { &yt }).unwrap();
    let (_, t) = if wrt_x {
        m.eval(var.as_tensor(), &yt).unwrap()
    } else {
        m.eval(&xt, var.as_tensor()).unwrap()
    };
    let grads = t.backward().unwrap();
    let g = to_mat(grads.get(var.as_tensor()).expect("gradient"));
    let base = if wrt_x { x } else { y };
    let scale = base.norm_max().max(1e-3);
    let h = 1e-5 * scale;
    let mut worst: f64 = 0.0;
    for k in 0..3 {
        let d = mat(base.nrows(), base.ncols(), 100 + k);
        let plus = base + &d * faer::Scale(h);
        let minus = base - &d * faer::Scale(h);
        let (fp, fm) = if wrt_x {
            (value(&m, &plus, y), value(&m, &minus, y))
        } else {
            (value(&m, x, &plus), value(&m, x, &minus))
        };
        let fd = (fp - fm) / (2.0 * h);
        let an: f64 = (0..g.nrows())
            .flat_map(|i| (0..g.ncols()).map(move |j| (i, j)))
            .map(|(i, j)| g[(i, j)] * d[(i, j)])
            .sum();
        let err = (fd - an).abs() / an.abs().max(fd.abs()).max(1e-3);
        assert!(
            err < 1e-5,
            "{case} {id} (d/d{}): finite difference {fd} vs gradient {an} (relative error {err:e})",
            if wrt_x { "X" } else { "Y" }
        );
        worst = worst.max(err);
    }
    worst
}

const GRAD_IDS: &[&str] = &[
    "cka",
    "cka-angular-score",
    "cka-hsic_song",
    "cka-kernel=linear-hsic=lange-score",
    "nbs",
    "nbs-angular-score",
    "procrustes-angular-score",
    "procrustes-euclidean",
    "rsa-rdm=correlation-compare=pearson",
    "linreg-r2#no_cv",
    "linreg-r2#5folds_cv",
    "ridge-lambda100-r2#no_cv",
    "ridge-lambda100-r2#5folds_cv",
    "ridge-lambda10-r2-sym#5folds_cv",
    "ridge-lambda100-r2#5folds_cv-reverse",
    "linreg-pearsonr#5folds_cv",
    "ridge-lambda1-pearsonr#5folds_cv",
];

#[test]
fn gradients_match_finite_differences() {
    let mut worst: f64 = 0.0;
    let x = mat(30, 6, 11);
    let y = mat(30, 5, 12);
    for id in GRAD_IDS.iter().chain(CCA_IDS) {
        worst = worst.max(check_grad(id, &x, &y, false, "30x6/30x5"));
        worst = worst.max(check_grad(id, &x, &y, true, "30x6/30x5"));
    }
    // rank-deficient target (the optimised side stays generic)
    let xr = low_rank(30, 8, 3, 13);
    for id in GRAD_IDS.iter().chain(CCA_IDS) {
        worst = worst.max(check_grad(id, &xr, &y, false, "rank-3 X"));
    }
    // p > n: both sides wider than the number of rows
    let x = mat(10, 16, 14);
    let y = mat(10, 13, 15);
    for id in GRAD_IDS {
        if id.starts_with("linreg") && id.contains("no_cv") {
            continue; // in-sample R² is identically 1 when p ≥ n
        }
        worst = worst.max(check_grad(id, &x, &y, false, "p > n"));
        worst = worst.max(check_grad(id, &x, &y, true, "p > n"));
    }
    eprintln!("largest relative gradient error = {worst:e}");
}

#[test]
fn f32_runs_and_is_close() {
    let x = mat(40, 7, 21);
    let y = mat(40, 5, 22);
    for id in [
        "cka",
        "nbs",
        "procrustes-angular-score",
        "ridge-lambda100-r2#5folds_cv",
    ] {
        let m = DiffMeasure::new(id).unwrap();
        let x32 = tensor(&x).to_dtype(DType::F32).unwrap();
        let y32 = Var::from_tensor(&tensor(&y).to_dtype(DType::F32).unwrap()).unwrap();
        let (v, t) = m.eval(&x32, y32.as_tensor()).unwrap();
        assert_eq!(t.dtype(), DType::F32);
        let want = measures::score(id, x.as_ref(), y.as_ref()).unwrap();
        assert!((v - want).abs() < 1e-4, "{id}: f32 {v} vs f64 {want}");
        let g = t.backward().unwrap();
        assert!(g.get(y32.as_tensor()).is_some());
    }
    // ridge with held-out blocks shorter than half the width (predicted row by row, f32 solves)
    let x = mat(10, 16, 23);
    let y = mat(10, 13, 24);
    for id in [
        "ridge-lambda100-r2#5folds_cv",
        "ridge-lambda1-pearsonr#5folds_cv",
    ] {
        let m = DiffMeasure::new(id).unwrap();
        let x32 = tensor(&x).to_dtype(DType::F32).unwrap();
        let y32 = tensor(&y).to_dtype(DType::F32).unwrap();
        let (v, _) = m.eval(&x32, &y32).unwrap();
        let want = measures::score(id, x.as_ref(), y.as_ref()).unwrap();
        assert!(
            (v - want).abs() < 1e-4,
            "{id} (p > n): f32 {v} vs f64 {want}"
        );
    }
}

#[test]
fn not_differentiable_is_reported() {
    let e = DiffMeasure::new("soft_correlation_match").unwrap_err();
    assert!(
        e.to_string().contains("no differentiable implementation"),
        "{e}"
    );
    assert!(DiffMeasure::new("no-such-measure").is_err());
}
