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
