//! Decoding analysis (diffscore's `decoder_logistic` and the normalisation in
//! `pipeline_optim_score`, spec §1b "Analyses").
//!
//! For data of shape `(T, C, N)` (a 2-D `(C, N)` array is one time step) and one label per
//! condition: at each time step `t`, the `C × N` slice is split by stratified k-fold (5 folds),
//! an L2 logistic regression ([`LogisticModel`], scikit-learn's objective with `C = 1`) is fitted
//! on each training part and scored on its test part; the step's accuracy is the mean over folds
//! and the data's accuracy the mean over time steps.
//!
//! The normalised decoding accuracy of an iterate Y is `accuracy(Y) / accuracy(X)` for each label
//! set, averaged over the label sets.
//!
//! Randomness: diffscore draws fresh unseeded folds at every time step of every call. Here the
//! folds of time step `t` are the `t`-th draw of `ChaCha8Rng::seed_from_u64(seed)`, so every call
//! with the same seed (X and each iterate Y) uses the same folds, and results are reproducible.
//! Time steps and folds run in parallel on the global rayon pool.

#![allow(clippy::needless_range_loop)]

use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::AnalysisError;
use super::logistic::{LogisticModel, LogisticOptions, stratified_kfold};
use crate::array::Array;
use crate::progress::{Cancelled, Progress};

/// Settings of the decoding analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DecodingOptions {
    /// Folds of the stratified k-fold split.
    pub n_splits: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// The logistic regression.
    pub logistic: LogisticOptions,
}

impl Default for DecodingOptions {
    fn default() -> Self {
        DecodingOptions {
            n_splits: 5,
            seed: 0,
            logistic: LogisticOptions::default(),
        }
    }
}

/// One named set of task labels, one value per condition (per row of a 2-D array).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelSet {
    pub name: String,
    pub labels: Vec<f64>,
}

/// Cross-validated decoding accuracy of one label set from one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecodingScore {
    /// Mean over time steps of `per_time`.
    pub accuracy: f64,
    /// Per time step, the mean test accuracy over folds.
    pub per_time: Vec<f64>,
    /// Per time step, the (population) standard deviation of the test accuracy over folds.
    pub per_time_std: Vec<f64>,
}

/// Decoding of every label set from one iterate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecodingPoint {
    /// Per label set, the accuracy on the iterate.
    pub accuracy: Vec<f64>,
    /// Per label set, `accuracy / reference accuracy on X`.
    pub normalized: Vec<f64>,
    /// Mean of `normalized` over label sets: the "normalised decoding accuracy".
    pub normalized_mean: f64,
}

/// Decoding along a trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecodingTrajectory {
    /// Names of the label sets, in the order of every per-label vector.
    pub labels: Vec<String>,
    /// Per label set, the accuracy on the target X.
    pub reference_accuracy: Vec<f64>,
    /// `accuracy[k][l]`: accuracy of label set `l` on the k-th iterate.
    pub accuracy: Vec<Vec<f64>>,
    /// Per iterate, the normalised decoding accuracy averaged over label sets.
    pub normalized_accuracy: Vec<f64>,
}

/// Cross-validated decoding accuracy with seeded stratified folds, drawn anew for each time step.
pub fn decode(
    data: &Array,
    labels: &[f64],
    options: &DecodingOptions,
) -> Result<DecodingScore, AnalysisError> {
    let (t_steps, c) = time_layout(data)?;
    check_labels(labels, c)?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let folds = (0..t_steps)
        .map(|_| stratified_kfold(labels, options.n_splits, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    decode_folds(data, labels, &folds, &options.logistic)
}

/// Cross-validated decoding accuracy with a given test-fold assignment (`folds[i]` = the fold in
/// which condition `i` is tested), the same at every time step. Folds are visited in increasing
/// order of their number; numbers with no members are skipped.
pub fn decode_with_folds(
    data: &Array,
    labels: &[f64],
    folds: &[usize],
    options: &LogisticOptions,
) -> Result<DecodingScore, AnalysisError> {
    let (t_steps, c) = time_layout(data)?;
    check_labels(labels, c)?;
    if folds.len() != c {
        return Err(AnalysisError::Length {
            what: "the fold assignment",
            got: folds.len(),
            expected: c,
        });
    }
    let all = vec![folds.to_vec(); t_steps];
    decode_folds(data, labels, &all, options)
}

fn decode_folds(
    data: &Array,
    labels: &[f64],
    folds: &[Vec<usize>],
    options: &LogisticOptions,
) -> Result<DecodingScore, AnalysisError> {
    let (t_steps, c) = time_layout(data)?;
    if data.data.iter().any(|v| !v.is_finite()) {
        return Err(AnalysisError::NonFinite { what: "the data" });
    }
    let n = data.shape[data.shape.len() - 1];
    // (time step, fold) jobs.
    let jobs: Vec<(usize, usize)> = folds
        .iter()
        .enumerate()
        .flat_map(|(t, f)| {
            let mut ids = f.clone();
            ids.sort_unstable();
            ids.dedup();
            ids.into_iter().map(move |id| (t, id))
        })
        .collect();
    let acc: Vec<(usize, f64)> = jobs
        .par_iter()
        .map(|&(t, fold)| {
            let slice = &data.data[t * c * n..(t + 1) * c * n];
            let f = &folds[t];
            let (train, test): (Vec<usize>, Vec<usize>) = (0..c).partition(|&i| f[i] != fold);
            let rows = |idx: &[usize]| Mat::from_fn(idx.len(), n, |r, j| slice[idx[r] * n + j]);
            let ys = |idx: &[usize]| idx.iter().map(|&i| labels[i]).collect::<Vec<_>>();
            if train.is_empty() {
                return Err(AnalysisError::Labels(format!(
                    "fold {fold} leaves no training conditions"
                )));
            }
            let model = LogisticModel::fit(rows(&train).as_ref(), &ys(&train), options)?;
            Ok((t, model.score(rows(&test).as_ref(), &ys(&test))))
        })
        .collect::<Result<_, AnalysisError>>()?;
    let mut per_time = Vec::with_capacity(t_steps);
    let mut per_time_std = Vec::with_capacity(t_steps);
    for t in 0..t_steps {
        let a: Vec<f64> = acc
            .iter()
            .filter(|(s, _)| *s == t)
            .map(|(_, v)| *v)
            .collect();
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / a.len() as f64;
        per_time.push(mean);
        per_time_std.push(var.sqrt());
    }
    Ok(DecodingScore {
        accuracy: per_time.iter().sum::<f64>() / t_steps as f64,
        per_time,
        per_time_std,
    })
}

/// The target X with its label sets and reference accuracies, prepared once so that iterates can
/// be decoded as they are recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecodingTarget {
    shape: Vec<usize>,
    label_sets: Vec<LabelSet>,
    reference: Vec<DecodingScore>,
    options: DecodingOptions,
}

impl DecodingTarget {
    /// Decode every label set from `x` (the reference accuracies).
    pub fn new(
        x: &Array,
        label_sets: Vec<LabelSet>,
        options: DecodingOptions,
    ) -> Result<Self, AnalysisError> {
        if label_sets.is_empty() {
            return Err(AnalysisError::Labels("no label sets given".into()));
        }
        let reference = label_sets
            .iter()
            .map(|l| decode(x, &l.labels, &options))
            .collect::<Result<Vec<_>, _>>()?;
        for (l, r) in label_sets.iter().zip(&reference) {
            if r.accuracy == 0.0 {
                return Err(AnalysisError::ZeroReferenceAccuracy {
                    label: l.name.clone(),
                });
            }
        }
        Ok(DecodingTarget {
            shape: x.shape.clone(),
            label_sets,
            reference,
            options,
        })
    }

    pub fn label_sets(&self) -> &[LabelSet] {
        &self.label_sets
    }

    /// The decoding of each label set from X.
    pub fn reference(&self) -> &[DecodingScore] {
        &self.reference
    }

    /// Decode every label set from `y` (which must have X's shape) and normalise by X.
    pub fn evaluate(&self, y: &Array) -> Result<DecodingPoint, AnalysisError> {
        if y.shape != self.shape {
            return Err(AnalysisError::ShapeMismatch {
                what: "an iterate",
                target: self.shape.clone(),
                got: y.shape.clone(),
                rule: "shapes must be equal",
            });
        }
        let accuracy = self
            .label_sets
            .iter()
            .map(|l| decode(y, &l.labels, &self.options).map(|s| s.accuracy))
            .collect::<Result<Vec<_>, _>>()?;
        let normalized: Vec<f64> = accuracy
            .iter()
            .zip(&self.reference)
            .map(|(a, r)| a / r.accuracy)
            .collect();
        let normalized_mean = normalized.iter().sum::<f64>() / normalized.len() as f64;
        Ok(DecodingPoint {
            accuracy,
            normalized,
            normalized_mean,
        })
    }
}

/// The decoding analysis of a whole trajectory of iterates `ys`.
pub fn decoding_trajectory(
    x: &Array,
    ys: &[Array],
    label_sets: Vec<LabelSet>,
    options: &DecodingOptions,
    progress: &dyn Progress,
) -> Result<DecodingTrajectory, AnalysisError> {
    let target = DecodingTarget::new(x, label_sets, *options)?;
    let mut accuracy = Vec::with_capacity(ys.len());
    let mut normalized_accuracy = Vec::with_capacity(ys.len());
    for (k, y) in ys.iter().enumerate() {
        if progress.cancelled() {
            return Err(Cancelled.into());
        }
        let point = target.evaluate(y)?;
        accuracy.push(point.accuracy);
        normalized_accuracy.push(point.normalized_mean);
        progress.report(
            (k + 1) as f64 / ys.len() as f64,
            "decoding: logistic regression on each iterate",
        );
    }
    Ok(DecodingTrajectory {
        labels: target.label_sets.iter().map(|l| l.name.clone()).collect(),
        reference_accuracy: target.reference.iter().map(|r| r.accuracy).collect(),
        accuracy,
        normalized_accuracy,
    })
}

/// `(time steps, conditions)`: a 2-D array is one time step.
fn time_layout(data: &Array) -> Result<(usize, usize), AnalysisError> {
    data.matrix_shape()?;
    match data.shape.as_slice() {
        [c, _] => Ok((1, *c)),
        [t, c, _] => Ok((*t, *c)),
        _ => unreachable!("matrix_shape accepts 2-D and 3-D only"),
    }
}

fn check_labels(labels: &[f64], conditions: usize) -> Result<(), AnalysisError> {
    if labels.len() != conditions {
        return Err(AnalysisError::Length {
            what: "labels (one per condition)",
            got: labels.len(),
            expected: conditions,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Dtype;

    /// Two well-separated classes on every time step decode perfectly; noise decodes near chance.
    #[test]
    fn separable_data_decodes_and_normalises() {
        let (t, c, n) = (3, 20, 4);
        let labels: Vec<f64> = (0..c).map(|i| (i % 2) as f64).collect();
        let mut data = Vec::new();
        for _ in 0..t {
            for i in 0..c {
                for j in 0..n {
                    let sign = if labels[i] == 1.0 { 1.0 } else { -1.0 };
                    data.push(sign * 3.0 + 0.1 * ((i * 7 + j * 3) % 5) as f64);
                }
            }
        }
        let x = Array::new(vec![t, c, n], Dtype::Float64, data);
        let opts = DecodingOptions::default();
        let s = decode(&x, &labels, &opts).unwrap();
        assert_eq!(s.per_time.len(), 3);
        assert_eq!(s.accuracy, 1.0);
        let target = DecodingTarget::new(
            &x,
            vec![LabelSet {
                name: "parity".into(),
                labels: labels.clone(),
            }],
            opts,
        )
        .unwrap();
        let p = target.evaluate(&x).unwrap();
        assert_eq!(p.normalized_mean, 1.0);
        // Same seed, same folds, same result.
        assert_eq!(decode(&x, &labels, &opts).unwrap(), s);
    }

    #[test]
    fn label_count_is_checked() {
        let x = Array::new(vec![6, 2], Dtype::Float64, vec![0.0; 12]);
        let e = decode(&x, &[0.0, 1.0], &DecodingOptions::default()).unwrap_err();
        assert!(matches!(e, AnalysisError::Length { .. }));
    }
}
