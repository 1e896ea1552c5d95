//! PC capture against reference values from `tests/fixtures/analysis/make_pc_capture_fixtures.py`
//! (diffscore's `projected_r2` / `pc_captured_variance` restated with numpy, scipy and sklearn).

#![allow(clippy::needless_range_loop)]

use serde_json::Value;
use simscore_core::analysis::pc_capture::{PcCaptureOptions, pc_capture};
use simscore_core::array::{Array, Dtype};
use simscore_core::progress::NoProgress;

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/analysis/pc_capture_fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn matches_diffscore_reference() {
    let fx = fixtures();
    let mut checked = 0;
    for case in fx["cases"].as_array().unwrap() {
        let name = format!("{} orth={}", case["name"], case["orth"]);
        let orth = case["orth"].as_bool().unwrap();
        let x = Array::new(shape(&case["x_shape"]), Dtype::Float64, floats(&case["x"]));
        let y_shape = shape(&case["y_shape"]);
        let ys: Vec<Array> = case["ys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|y| Array::new(y_shape.clone(), Dtype::Float64, floats(y)))
            .collect();
        let scores = floats(&case["scores"]);
        let res = pc_capture(&x, &ys, &scores, &PcCaptureOptions { orth }, &NoProgress).unwrap();

        // We report X's nonzero-variance PCs; the reference also lists the padded X's
        // zero-variance directions (NaN R², NaN score).
        let evr = floats(&case["explained_variance_ratio"]);
        let c = res.explained_variance_ratio.len();
        assert_eq!(c, x.shape[x.shape.len() - 1].min(evr.len()), "{name}");
        for i in 0..c {
            assert!(
                (res.explained_variance_ratio[i] - evr[i]).abs() < 1e-12,
                "{name}: evr {i}"
            );
        }
        let r2_ref: Vec<Vec<f64>> = case["r2"].as_array().unwrap().iter().map(floats).collect();
        for (k, (ours, theirs)) in res.r2.iter().zip(&r2_ref).enumerate() {
            for i in 0..c {
                assert!(
                    (ours[i] - theirs[i]).abs() < 1e-9,
                    "{name}: R² iterate {k} PC {i}: {} vs {}",
                    ours[i],
                    theirs[i]
                );
            }
        }
        let thr = floats(&case["threshold"]);
        let at: Vec<Option<f64>> = case["score_to_capture"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::as_f64)
            .collect();
        for i in 0..c {
            assert!(
                (res.threshold[i] - thr[i]).abs() < 1e-9,
                "{name}: threshold {i}"
            );
            match (res.score_to_capture[i], at[i]) {
                (Some(a), Some(b)) => {
                    assert!(
                        (a - b).abs() < 1e-6,
                        "{name}: score to capture PC {i}: {a} vs {b}"
                    )
                }
                (None, None) => {}
                (a, b) => panic!("{name}: score to capture PC {i}: {a:?} vs {b:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} components checked");
}

/// A 100 × 30 target whose column scales fall off exponentially (PC variances from 1 down to
/// e^-10), seeded.
fn spread_spectrum_target() -> Array {
    use rand::{RngExt, SeedableRng};
    let (n, p) = (100, 30);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut data = vec![0.0; n * p];
    for i in 0..n {
        for j in 0..p {
            let z: f64 = rng.sample(rand_distr::StandardNormal);
            data[i * p + j] = z * (-(j as f64) / 6.0).exp();
        }
    }
    Array::new(vec![n, p], Dtype::Float64, data)
}

/// Optimises a random Y for `measure` up to 0.99 (every iterate kept) and returns the score at
/// which each target PC is half-captured, with PCs never captured counted at 1 (beyond the run),
/// and the PCs' explained-variance ratios.
fn capture_scores(x: &Array, measure: &str) -> (Vec<f64>, Vec<f64>) {
    use simscore_core::optim::{FloatType, OptimizeSpec, optimize};
    let mut spec = OptimizeSpec::new(measure);
    spec.stop_score = Some(0.99);
    spec.max_iter = 3000;
    spec.seed = 5;
    spec.dtype = FloatType::F64;
    spec.snapshot_every = Some(1);
    let run = optimize(x, &spec, None, &NoProgress).unwrap();
    assert!(
        run.summary.final_score > 0.99,
        "{measure} did not reach 0.99"
    );
    let ys: Vec<Array> = run.snapshots.iter().map(|s| s.y.clone()).collect();
    let scores: Vec<f64> = run
        .snapshots
        .iter()
        .map(|s| run.summary.scores[s.iteration])
        .collect();
    let pcs = pc_capture(x, &ys, &scores, &PcCaptureOptions::default(), &NoProgress).unwrap();
    let capture = pcs
        .score_to_capture
        .iter()
        .map(|s| s.unwrap_or(1.0))
        .collect();
    (capture, pcs.explained_variance_ratio)
}

/// Spec §1c: CKA weighs PCs by their squared variance, angular Procrustes by the square root of
/// theirs, so CKA reaches high scores before it captures the low-variance PCs, while angular
/// Procrustes has to capture them on the way. High-variance PCs are captured early by both.
#[test]
fn cka_captures_low_variance_pcs_later_than_angular_procrustes() {
    let x = spread_spectrum_target();
    let (cka, ratio) = capture_scores(&x, "cka");
    let (procrustes, _) = capture_scores(&x, "procrustes-angular-score");
    let p = ratio.len();
    assert!(
        ratio.windows(2).all(|w| w[0] >= w[1]),
        "PCs sorted by variance"
    );
    eprintln!("cka {cka:.3?}\nprocrustes {procrustes:.3?}");
    let captured = |v: &[f64]| v.iter().filter(|&&s| s < 1.0).count();
    // By 0.99, CKA has captured only the high-variance PCs; angular Procrustes nearly all.
    assert!(captured(&cka) < p / 2, "{cka:?}");
    assert!(captured(&procrustes) >= p - 2, "{procrustes:?}");
    // The PCs of ranks p/4..p/2 (variance ratios ~1e-2 to 1e-3): Procrustes captures them at
    // moderate scores, CKA only at the very end if at all.
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mid_cka, mid_procrustes) = (mean(&cka[p / 4..p / 2]), mean(&procrustes[p / 4..p / 2]));
    assert!(
        mid_cka > 0.95 && mid_cka > mid_procrustes + 0.2,
        "CKA {mid_cka} vs Procrustes {mid_procrustes}"
    );
    // Both capture the top PC early, and Procrustes captures PCs in order of variance.
    assert!(
        cka[0] < 0.5 && procrustes[0] < 0.5,
        "{cka:?} {procrustes:?}"
    );
    assert!(
        mean(&procrustes[..p / 4]) + 0.3 < mean(&procrustes[3 * p / 4..]),
        "{procrustes:?}"
    );
}
