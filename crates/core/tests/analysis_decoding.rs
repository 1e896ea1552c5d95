//! Logistic-regression decoding against scikit-learn on fixed folds. Reference values from
//! `tests/fixtures/analysis/make_decoding_fixtures.py`: `LogisticRegression(penalty="l2", C=1.0,
//! max_iter=200)` (diffscore's decoder) and a tightly converged fit of the same objective.

use faer::Mat;
use serde_json::Value;
use simscore_core::analysis::decoding::{
    DecodingOptions, DecodingTarget, LabelSet, decode, decode_with_folds,
};
use simscore_core::analysis::logistic::{LogisticModel, LogisticOptions};
use simscore_core::array::{Array, Dtype};

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/analysis/decoding_fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

struct Case {
    name: String,
    data: Array,
    labels: Vec<f64>,
    folds: Vec<usize>,
    value: Value,
}

fn cases() -> Vec<Case> {
    let fx = fixtures();
    fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            data: Array::new(
                c["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect(),
                Dtype::Float64,
                floats(&c["data"]),
            ),
            labels: floats(&c["labels"]),
            folds: c["folds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect(),
            value: c.clone(),
        })
        .collect()
}

/// Time step `t` of a case's data as a `conditions × units` matrix.
fn slice(data: &Array, t: usize) -> Mat<f64> {
    let n = *data.shape.last().unwrap();
    let c = data.shape[data.shape.len() - 2];
    let off = t * c * n;
    Mat::from_fn(c, n, |i, j| data.data[off + i * n + j])
}

fn centred(v: &[f64]) -> Vec<f64> {
    if v.len() < 2 {
        return v.to_vec();
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| x - m).collect()
}

fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn fits_and_predictions_match_sklearn() {
    let opts = LogisticOptions::default();
    let (mut worst_tight, mut worst_default) = (0.0f64, 0.0f64);
    let mut fits = 0;
    for case in cases() {
        for (t, step) in case.value["steps"].as_array().unwrap().iter().enumerate() {
            let x = slice(&case.data, t);
            for f in step["per_fold"].as_array().unwrap() {
                let fold = f["fold"].as_u64().unwrap() as usize;
                let train: Vec<usize> = (0..x.nrows()).filter(|&i| case.folds[i] != fold).collect();
                let test: Vec<usize> = (0..x.nrows()).filter(|&i| case.folds[i] == fold).collect();
                let sub = |idx: &[usize]| Mat::from_fn(idx.len(), x.ncols(), |r, j| x[(idx[r], j)]);
                let ys = |idx: &[usize]| idx.iter().map(|&i| case.labels[i]).collect::<Vec<_>>();
                let model = LogisticModel::fit(sub(&train).as_ref(), &ys(&train), &opts).unwrap();
                let what = format!("{} t={t} fold={fold}", case.name);
                assert!(model.converged, "{what}: not converged");
                assert_eq!(model.classes, floats(&f["classes"]), "{what}");
                let pred = model.predict(sub(&test).as_ref());
                assert_eq!(pred, floats(&f["pred"]), "{what}: predictions");
                assert_eq!(
                    pred,
                    floats(&f["pred_tight"]),
                    "{what}: predictions (tight)"
                );
                let acc = model.score(sub(&test).as_ref(), &ys(&test));
                assert!(
                    (acc - f["accuracy"].as_f64().unwrap()).abs() < 1e-12,
                    "{what}"
                );

                // Coefficients: the exact optimum (sklearn newton-cholesky, tol=1e-14) to 1e-7.
                // sklearn's default fit stops at ‖∇‖∞ ≤ 1e-4, which leaves it up to about
                // 1e-4 / λ_min(∇²) ≈ 1e-4 · C · m ≈ 5e-3 from the optimum here, so it is held
                // to 2e-2. Multinomial intercepts are compared after centring (they are defined
                // up to a common shift).
                let tight = rows(&f["coef_tight"]);
                let dflt = rows(&f["coef"]);
                let mut ic = vec![centred(&model.intercept)];
                ic.push(centred(&floats(&f["intercept_tight"])));
                let d_tight = max_diff(&model.coef, &tight).max(max_diff(&ic[..1], &ic[1..]));
                let d_default = max_diff(&model.coef, &dflt)
                    .max(max_diff(&ic[..1], &[centred(&floats(&f["intercept"]))]));
                assert!(
                    d_tight < 1e-7,
                    "{what}: coefficients vs tight sklearn differ by {d_tight}"
                );
                assert!(
                    d_default < 2e-2,
                    "{what}: coefficients vs sklearn differ by {d_default}"
                );
                worst_tight = worst_tight.max(d_tight);
                worst_default = worst_default.max(d_default);
                fits += 1;
            }
        }
    }
    eprintln!(
        "{fits} fits; largest coefficient difference: {worst_tight:.2e} vs tight sklearn, \
         {worst_default:.2e} vs default sklearn"
    );
    assert!(fits >= 25);
}

#[test]
fn accuracies_match_sklearn_on_the_same_folds() {
    for case in cases() {
        let s = decode_with_folds(
            &case.data,
            &case.labels,
            &case.folds,
            &LogisticOptions::default(),
        )
        .unwrap();
        let steps = case.value["steps"].as_array().unwrap();
        assert_eq!(s.per_time.len(), steps.len(), "{}", case.name);
        for (t, step) in steps.iter().enumerate() {
            assert!((s.per_time[t] - step["accuracy"].as_f64().unwrap()).abs() < 1e-12);
            assert!((s.per_time_std[t] - step["std"].as_f64().unwrap()).abs() < 1e-12);
        }
        let want = case.value["accuracy"].as_f64().unwrap();
        assert!(
            (s.accuracy - want).abs() < 1e-12,
            "{}: {} vs {want}",
            case.name,
            s.accuracy
        );
    }
}

#[test]
fn seeded_decoding_is_reproducible_and_normalises_to_one_on_the_target() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "multinomial_3d")
        .unwrap();
    let opts = DecodingOptions {
        seed: 11,
        ..DecodingOptions::default()
    };
    let a = decode(&case.data, &case.labels, &opts).unwrap();
    let b = decode(&case.data, &case.labels, &opts).unwrap();
    assert_eq!(a, b);
    let target = DecodingTarget::new(
        &case.data,
        vec![LabelSet {
            name: "class".into(),
            labels: case.labels.clone(),
        }],
        opts,
    )
    .unwrap();
    let p = target.evaluate(&case.data).unwrap();
    assert_eq!(p.normalized, vec![1.0]);
    assert_eq!(p.accuracy[0], a.accuracy);
}

/// Our seeded split deals the same number of each class to each fold as scikit-learn's
/// `StratifiedKFold._make_test_folds` (only the shuffle within a class differs).
#[test]
fn stratified_allocation_matches_sklearn() {
    use rand::SeedableRng;
    use simscore_core::analysis::logistic::stratified_kfold;
    for case in cases() {
        let ours = stratified_kfold(
            &case.labels,
            5,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(3),
        )
        .unwrap();
        let count = |folds: &[usize], f: usize, c: f64| {
            (0..folds.len())
                .filter(|&i| folds[i] == f && case.labels[i] == c)
                .count()
        };
        let mut classes = case.labels.clone();
        classes.sort_by(f64::total_cmp);
        classes.dedup();
        for f in 0..5 {
            for &c in &classes {
                assert_eq!(
                    count(&ours, f, c),
                    count(&case.folds, f, c),
                    "{}: fold {f} class {c}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn trajectory_reports_progress_and_stops_when_cancelled() {
    use simscore_core::analysis::AnalysisError;
    use simscore_core::analysis::decoding::decoding_trajectory;
    use simscore_core::progress::Progress;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<f64>>, bool);
    impl Progress for Recorder {
        fn report(&self, fraction: f64, _: &str) {
            self.0.lock().unwrap().push(fraction);
        }
        fn cancelled(&self) -> bool {
            self.1
        }
    }
    let case = cases()
        .into_iter()
        .find(|c| c.name == "binary_overlap")
        .unwrap();
    let ys = vec![case.data.clone(), case.data.clone()];
    let sets = vec![LabelSet {
        name: "class".into(),
        labels: case.labels.clone(),
    }];
    let rec = Recorder(Mutex::new(vec![]), false);
    let tr = decoding_trajectory(
        &case.data,
        &ys,
        sets.clone(),
        &DecodingOptions::default(),
        &rec,
    )
    .unwrap();
    assert_eq!(tr.normalized_accuracy, vec![1.0, 1.0]);
    assert_eq!(tr.labels, vec!["class".to_string()]);
    assert_eq!(*rec.0.lock().unwrap(), vec![0.5, 1.0]);
    let cancel = Recorder(Mutex::new(vec![]), true);
    let e = decoding_trajectory(&case.data, &ys, sets, &DecodingOptions::default(), &cancel);
    assert!(matches!(e, Err(AnalysisError::Cancelled(_))));
}
