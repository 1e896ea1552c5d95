//! The `optimize` job (Cloos et al. 2024): gradient ascent on a synthetic dataset Y to maximise
//! similarity scores against a target X, with the PC-capture and decoding analyses along the
//! trajectory and plots of both.
//!
//! An adapter only: it resolves the target (uploaded or built-in), calls
//! `simscore_core::optim::optimize` and the `analysis` functions, and stores arrays and plots as
//! artifacts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Outcome, check_settings_leave_seed_and_device, dtype_name};
use crate::jobs::{ArrayRef, Inputs, JobContext, JobError, JobKind};
use simscore_core::analysis::AnalysisError;
use simscore_core::analysis::decoding::{DecodingOptions, LabelSet, decoding_trajectory};
use simscore_core::analysis::pc_capture::{PcCaptureOptions, pc_capture};
use simscore_core::array::Array;
use simscore_core::optim::{self, DiffMeasure, Init, OptimError, OptimizeSpec};
use simscore_core::plots::{self, Axis, Series, Size, XyPlot};
use simscore_core::progress::{Progress, Slice};

pub struct Optimize;

/// The dataset to match: an uploaded array, or a built-in synthetic dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// An uploaded dataset id (with `array` for an `.npz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array: Option<String>,
    /// A built-in dataset: `ultrametric`, `exp-gaussian` or `toy2d` (generated from the job's seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
}

/// Which analyses to run along the trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Analyses {
    /// R² with which each recorded Y captures each principal component of the target, and the
    /// score at which each PC is half captured.
    #[serde(default)]
    pub pc_capture: bool,
    /// Predict the target from Y with orthogonal Procrustes instead of regression.
    #[serde(default)]
    pub pc_capture_orth: bool,
    /// Logistic-regression decoding of the task labels from each recorded Y, normalised by X.
    #[serde(default)]
    pub decoding: bool,
    /// PNG plots as artifacts (score vs iteration, PC capture, decoding vs score).
    #[serde(default = "yes")]
    pub plots: bool,
}

fn yes() -> bool {
    true
}

impl Default for Analyses {
    fn default() -> Self {
        Analyses {
            pc_capture: false,
            pc_capture_orth: false,
            decoding: false,
            plots: true,
        }
    }
}

/// Input of an `optimize` job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "target": {"builtin": "ultrametric"},
    "settings": {"measures": ["cka"], "stop_score": 0.99, "snapshot_every": 10},
    "analyses": {"pc_capture": true, "decoding": true}
}))]
pub struct OptimizeJobSpec {
    pub target: Target,
    /// Names of arrays in the target's `.npz` holding task labels (one per condition), for decoding.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The starting Y when `settings.init` is `given` (same shape as the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub init_from: Option<ArrayRef>,
    /// Measures, optimizer, stop rule, init, dtype, snapshots (the seed is the job's `seed`; the
    /// device is the worker's).
    pub settings: OptimizeSpec,
    #[serde(default)]
    pub analyses: Analyses,
    /// Seed of the initial Y, built-in datasets and decoding folds (default: drawn at submission).
    #[serde(default = "super::score::random_seed")]
    pub seed: u64,
}

fn target_ref(t: &Target) -> Option<ArrayRef> {
    t.dataset.as_ref().map(|d| ArrayRef {
        dataset: d.clone(),
        array: t.array.clone(),
    })
}

fn fatal(e: impl std::fmt::Display) -> JobError {
    JobError::Fatal(e.to_string())
}

fn analysis_error(e: AnalysisError) -> JobError {
    match e {
        AnalysisError::Cancelled(_) => JobError::Cancelled,
        other => fatal(other),
    }
}

impl JobKind for Optimize {
    const KIND: &'static str = "optimize";
    const SUMMARY: &'static str =
        "Optimise a synthetic dataset to maximise similarity scores against a target";
    type Spec = OptimizeJobSpec;

    fn datasets(spec: &OptimizeJobSpec) -> Vec<String> {
        let mut ids: Vec<String> = spec.target.dataset.iter().cloned().collect();
        ids.extend(spec.init_from.iter().map(|r| r.dataset.clone()));
        ids.sort();
        ids.dedup();
        ids
    }

    fn validate(spec: &OptimizeJobSpec, inputs: &Inputs) -> Result<(), String> {
        let s = &spec.settings;
        check_settings_leave_seed_and_device(s.seed, &s.device)?;
        if s.measures.is_empty() {
            return Err("settings.measures is empty: name at least one measure".into());
        }
        let shape: Vec<usize> = match (&spec.target.dataset, &spec.target.builtin) {
            (Some(_), None) => {
                let r = target_ref(&spec.target).unwrap_or_else(|| unreachable!());
                inputs.array(&r)?.shape.clone()
            }
            (None, Some(name)) => {
                optim::datasets::dataset(name, 0)
                    .ok_or_else(|| {
                        format!(
                            "unknown built-in dataset {name:?}; available: {}",
                            optim::datasets::DATASETS.join(", ")
                        )
                    })?
                    .data
                    .shape
            }
            _ => return Err("target needs exactly one of \"dataset\" or \"builtin\"".into()),
        };
        let (n, p) = match shape.as_slice() {
            [n, p] => (*n, *p),
            [t, c, p] => (t * c, *p),
            _ => {
                return Err(format!(
                    "the target has shape {shape:?}; it must be 2-D or 3-D"
                ));
            }
        };
        for id in &s.measures {
            DiffMeasure::new(id).map_err(|e| OptimError::from(e).to_string())?;
            simscore_core::measures::check_shapes(id, n, p, p).map_err(|e| e.to_string())?;
        }
        if s.init == Init::Given {
            let r = spec
                .init_from
                .as_ref()
                .ok_or("settings.init is \"given\": name the starting array in \"init_from\"")?;
            let init = inputs.array(r)?;
            if init.shape != shape {
                return Err(format!(
                    "init_from has shape {:?} but the target has {shape:?}",
                    init.shape
                ));
            }
        }
        if spec.analyses.decoding {
            if spec.target.builtin.is_none() && spec.labels.is_empty() {
                return Err("decoding needs task labels: name the label arrays of the target's .npz in \"labels\"".into());
            }
            if let Some(r) = target_ref(&spec.target) {
                let conditions = if shape.len() == 3 { shape[1] } else { shape[0] };
                for name in &spec.labels {
                    let info = inputs.array(&ArrayRef {
                        dataset: r.dataset.clone(),
                        array: Some(name.clone()),
                    })?;
                    if info.shape != [conditions] {
                        return Err(format!(
                            "labels {name:?} have shape {:?}; decoding needs one label per condition ({conditions})",
                            info.shape
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn seed(spec: &OptimizeJobSpec) -> u64 {
        spec.seed
    }

    fn dtype(spec: &OptimizeJobSpec) -> &'static str {
        dtype_name(spec.settings.dtype)
    }

    fn run(spec: OptimizeJobSpec, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        ctx.progress(0.0, "loading the target");
        let (target, label_sets) = match (&spec.target.dataset, &spec.target.builtin) {
            (Some(id), _) => {
                let r = target_ref(&spec.target).unwrap_or_else(|| unreachable!());
                let x = ctx.array(&r)?;
                let labels = spec
                    .labels
                    .iter()
                    .map(|name| {
                        let a = ctx.array(&ArrayRef {
                            dataset: id.clone(),
                            array: Some(name.clone()),
                        })?;
                        Ok(LabelSet {
                            name: name.clone(),
                            labels: a.data,
                        })
                    })
                    .collect::<Result<Vec<_>, JobError>>()?;
                (x, labels)
            }
            (None, Some(name)) => {
                let ds = optim::datasets::dataset(name, spec.seed)
                    .ok_or_else(|| fatal(format!("unknown built-in dataset {name:?}")))?;
                let labels = ds
                    .labels
                    .into_iter()
                    .map(|l| LabelSet {
                        name: l.name,
                        labels: l.values.into_iter().map(|v| v as f64).collect(),
                    })
                    .collect();
                (ds.data, labels)
            }
            (None, None) => return Err(fatal("the target names no dataset")),
        };
        let init = spec.init_from.as_ref().map(|r| ctx.array(r)).transpose()?;
        let mut settings = spec.settings.clone();
        settings.seed = spec.seed;
        settings.device = ctx.device().to_string();
        let outcome = run(
            &target,
            &settings,
            init.as_ref(),
            &label_sets,
            &spec.analyses,
            ctx,
        )?;
        outcome.store(ctx)
    }
}

/// Optimises and analyses; shared by the job and `simscore optimize`.
pub fn run(
    target: &Array,
    settings: &OptimizeSpec,
    init: Option<&Array>,
    label_sets: &[LabelSet],
    analyses: &Analyses,
    progress: &dyn Progress,
) -> Result<Outcome, JobError> {
    let share = if analyses.pc_capture || analyses.decoding {
        0.8
    } else {
        1.0
    };
    let optimizing = Slice::new(progress, 0.0, share, "");
    let res = optim::optimize(target, settings, init, &optimizing).map_err(|e| match e {
        OptimError::Cancelled => JobError::Cancelled,
        other => fatal(other),
    })?;
    let summary = &res.summary;
    // The score of each snapshot, read off the trajectory.
    let snapshot_scores: Vec<f64> = res
        .snapshots
        .iter()
        .map(|s| summary.scores.get(s.iteration).copied().unwrap_or(f64::NAN))
        .collect();
    let ys: Vec<Array> = res.snapshots.iter().map(|s| s.y.clone()).collect();

    let mut artifacts: Vec<(String, &'static str, Vec<u8>)> = vec![(
        "Y_final.npy".into(),
        "application/octet-stream",
        simscore_core::formats::npy_bytes(&res.final_y),
    )];
    let names: Vec<String> = res
        .snapshots
        .iter()
        .map(|s| format!("iter_{:06}", s.iteration))
        .collect();
    let members: Vec<(&str, &Array)> = names.iter().map(String::as_str).zip(&ys).collect();
    artifacts.push((
        "snapshots.npz".into(),
        "application/octet-stream",
        simscore_core::formats::npz_bytes(&members),
    ));

    let mut result = serde_json::json!({ "optimization": summary });
    let size = Size {
        width: 800,
        height: 500,
    };
    let plot_error = |e: plots::PlotError| fatal(format!("plotting failed: {e}"));
    // Legends use the names as the user wrote them ("cka"), not the long canonical ids.
    let legend = settings.measures.join(" + ");
    if analyses.plots {
        let objective = match summary.direction {
            optim::Direction::Maximize => "score",
            optim::Direction::Minimize => "distance",
            optim::Direction::Targets => "Σ|score − target|",
        };
        let mut series = vec![Series::new(
            legend.clone(),
            (0..summary.scores.len()).map(|i| i as f64).collect(),
            summary.scores.clone(),
        )];
        for trace in summary.measure_scores.iter().filter(|t| t.tracked) {
            let (x, y): (Vec<f64>, Vec<f64>) = summary
                .recorded_iterations
                .iter()
                .zip(&trace.values)
                .filter_map(|(&i, v)| v.map(|v| (i as f64, v)))
                .unzip();
            series.push(Series::new(format!("{} (tracked)", trace.id), x, y));
        }
        let fig = plots::line_plot(
            &XyPlot {
                title: "Score during optimisation".into(),
                x: Axis::new("iteration", "steps"),
                y: Axis::new(objective, ""),
                series,
            },
            size,
        )
        .map_err(plot_error)?;
        artifacts.push(("score.png".into(), "image/png", fig.png));
    }

    let after = Slice::new(progress, 0.8, 0.2, "");
    if analyses.pc_capture {
        let opts = PcCaptureOptions {
            orth: analyses.pc_capture_orth,
        };
        let pcs =
            pc_capture(target, &ys, &snapshot_scores, &opts, &after).map_err(analysis_error)?;
        if analyses.plots {
            let (x, y): (Vec<f64>, Vec<f64>) = pcs
                .explained_variance_ratio
                .iter()
                .zip(&pcs.score_to_capture)
                .filter_map(|(&v, s)| s.map(|s| (v, s)))
                .unzip();
            let fig = plots::scatter_log_x(
                &XyPlot {
                    title: "Score at which each target PC is captured".into(),
                    x: Axis::new("PC explained variance", "fraction"),
                    y: Axis::new("score to capture", ""),
                    series: vec![Series::new(legend.clone(), x, y)],
                },
                size,
            )
            .map_err(plot_error)?;
            artifacts.push(("pc_capture.png".into(), "image/png", fig.png));
        }
        result["pc_capture"] = serde_json::to_value(&pcs).unwrap_or_default();
    }
    if analyses.decoding && !label_sets.is_empty() {
        let opts = DecodingOptions {
            seed: settings.seed,
            ..DecodingOptions::default()
        };
        let dec = decoding_trajectory(target, &ys, label_sets.to_vec(), &opts, &after)
            .map_err(analysis_error)?;
        if analyses.plots {
            let fig = plots::scatter(
                &XyPlot {
                    title: "Task decoding from Y along the optimisation".into(),
                    x: Axis::new("score", ""),
                    y: Axis::new("normalised decoding accuracy", "accuracy on Y / on X"),
                    series: vec![Series::new(
                        legend.clone(),
                        snapshot_scores.clone(),
                        dec.normalized_accuracy.clone(),
                    )],
                },
                size,
            )
            .map_err(plot_error)?;
            artifacts.push(("decoding.png".into(), "image/png", fig.png));
        }
        result["decoding"] = serde_json::to_value(&dec).unwrap_or_default();
    }
    result["snapshot_scores"] = serde_json::to_value(&snapshot_scores).unwrap_or_default();
    progress.report(1.0, "done");
    Ok(Outcome { result, artifacts })
}
