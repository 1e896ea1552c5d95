//! Score optimisation (Cloos et al. 2024, spec `measures.md` §1b): differentiable similarity
//! measures on candle, and the loop that optimises a synthetic dataset `Y` to maximise its score
//! against a target `X`.
//!
//! - [`DiffMeasure`]: a catalogue measure as a candle graph (CPU or CUDA, f32 or f64), equal to
//!   [`crate::measures::score`] in f64 and exactly differentiable (see [`diff`] for the formulas).
//! - [`optimize`]: diffscore's `MeasureOptim` loop — `Y` a free tensor of the target's shape,
//!   Adam (lr 0.1) or SGD, `max_iter` steps, stop once the score passes `stop_score`, NaN
//!   gradients handled as the reference does (a sticky flag after which every evaluation is at
//!   `Y + 0.01·N(0, 1)` and the step is skipped), progress and cancellation through
//!   [`Progress`]. Several measures are combined by a weighted mean, or (with `targets`) by the L1
//!   distance of the score tuple to target values (diffscore `optim_square.py`).
//! - [`joint`]: the "allowable range" sweep of a pair of measures (`joint_optim.py`).
//! - [`datasets`]: the built-in synthetic targets (ultrametric, exp-gaussian, toy2d).
//!
//! Everything random comes from one seeded ChaCha8 stream, so a CPU run is deterministic for a
//! given seed (and thread count).

pub mod datasets;
pub mod diff;
mod host;
pub mod joint;
mod linreg;
mod operand;
pub mod optimizer;
pub(crate) mod rng;
pub(crate) mod tensor;

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::array::{Array, Dtype};
use crate::measures::{self, MeasureError};
use crate::progress::Progress;
pub use diff::{DiffMeasure, DiffMeasureError, differentiable_measures};
pub use operand::Operand;
pub use optimizer::{AdamConfig, Optimizer, OptimizerConfig, SgdConfig};

/// Why an optimisation could not run or stopped early.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimError {
    #[error(transparent)]
    Measure(#[from] MeasureError),
    #[error("`{id}` has no differentiable implementation; differentiable measures: {}", supported.join(", "))]
    NotDifferentiable { id: String, supported: Vec<String> },
    #[error("invalid optimisation settings: {0}")]
    InvalidSpec(String),
    #[error("invalid data: {0}")]
    Data(String),
    #[error("device `{device}` is not available: {message}")]
    Device { device: String, message: String },
    #[error("computation failed: {0}")]
    Compute(String),
    #[error("cancelled")]
    Cancelled,
}

impl From<DiffMeasureError> for OptimError {
    fn from(e: DiffMeasureError) -> Self {
        match e {
            DiffMeasureError::Measure(m) => OptimError::Measure(m),
            DiffMeasureError::NotDifferentiable { id, supported } => {
                OptimError::NotDifferentiable { id, supported }
            }
        }
    }
}

impl From<candle_core::Error> for OptimError {
    fn from(e: candle_core::Error) -> Self {
        OptimError::Compute(e.to_string())
    }
}

impl From<crate::progress::Cancelled> for OptimError {
    fn from(_: crate::progress::Cancelled) -> Self {
        OptimError::Cancelled
    }
}

/// Floating-point type of the optimisation (diffscore optimises in float32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FloatType {
    #[default]
    F32,
    F64,
}

impl FloatType {
    pub fn dtype(self) -> DType {
        match self {
            FloatType::F32 => DType::F32,
            FloatType::F64 => DType::F64,
        }
    }

    fn array_dtype(self) -> Dtype {
        match self {
            FloatType::F32 => Dtype::Float32,
            FloatType::F64 => Dtype::Float64,
        }
    }
}

/// How `Y` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// i.i.d. standard normal from the seed (diffscore's `torch.randn(X.shape)`).
    #[default]
    Normal,
    /// Spectrum-matched Gaussian control: `U S Vᵀ` with Haar-random `U`, `V` and `S` the singular
    /// values of the (flattened) target.
    SpectrumMatched,
    /// The array passed to [`optimize`] as `init` (same shape as the target).
    Given,
}

/// Whether the objective goes up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Similarities: maximise the (weighted mean) score; stop when it exceeds `stop_score`.
    Maximize,
    /// Distances: minimise the (weighted mean) distance; stop when it falls below `stop_score`.
    Minimize,
    /// Target values: minimise `Σ|m_i − t_i|`; stop when it falls below `stop_score`.
    Targets,
}

fn default_max_iter() -> usize {
    1000
}
fn default_device() -> String {
    "cpu".into()
}

/// Everything an optimisation job needs besides the arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OptimizeSpec {
    /// Measure ids (catalogue ids or aliases; see [`differentiable_measures`]).
    pub measures: Vec<String>,
    /// Weights of the measures in the mean (default: equal).
    #[serde(default)]
    pub weights: Option<Vec<f64>>,
    /// Target values, one per measure: minimise the L1 distance `Σ|m_i − t_i|` instead.
    #[serde(default)]
    pub targets: Option<Vec<f64>>,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Number of optimizer steps at most (default 1000).
    #[serde(default = "default_max_iter")]
    pub max_iter: usize,
    /// Stop once the objective passes this value (see [`Direction`]); default: never.
    #[serde(default)]
    pub stop_score: Option<f64>,
    #[serde(default)]
    pub init: Init,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub dtype: FloatType,
    /// `cpu`, `cuda` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Keep `Y` every this many iterations (the first and last are always kept).
    #[serde(default)]
    pub snapshot_every: Option<usize>,
    /// Record each measure's value every this many iterations (and at the last one).
    #[serde(default)]
    pub record_every: Option<usize>,
    /// Further measures (any catalogue id, computed by the f64 engine without gradients) recorded
    /// along with the objective's measures; needs `record_every`.
    #[serde(default)]
    pub track: Vec<String>,
}

impl OptimizeSpec {
    /// Defaults for one measure: Adam lr 0.1, 1000 steps, no stop score, seeded normal init, f32, CPU.
    pub fn new(measure: &str) -> Self {
        OptimizeSpec {
            measures: vec![measure.to_string()],
            weights: None,
            targets: None,
            optimizer: OptimizerConfig::default(),
            max_iter: default_max_iter(),
            stop_score: None,
            init: Init::Normal,
            seed: 0,
            dtype: FloatType::F32,
            device: default_device(),
            snapshot_every: None,
            record_every: None,
            track: vec![],
        }
    }
}

/// One measure's values at the recorded iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasureTrace {
    pub id: String,
    /// `false` for measures of the objective, `true` for `track` measures.
    pub tracked: bool,
    /// At `recorded_iterations`; `null` where the measure is undefined.
    pub values: Vec<Option<f64>>,
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    StopScore,
    MaxIter,
}

/// The JSON part of an optimisation result (the arrays are in [`OptimizeResult`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OptimizeSummary {
    /// Canonical ids of the objective's measures.
    pub measures: Vec<String>,
    pub direction: Direction,
    /// Objective at every evaluated iterate: `scores[i]` is at `Y_i` (after `i` steps), so
    /// `scores[0]` is the initial score and there are `steps + 1` entries.
    pub scores: Vec<f64>,
    pub recorded_iterations: Vec<usize>,
    pub measure_scores: Vec<MeasureTrace>,
    pub snapshot_iterations: Vec<usize>,
    /// Optimizer steps taken (skipped NaN steps included).
    pub steps: usize,
    /// Steps after which the stop score was first passed.
    pub steps_to_stop: Option<usize>,
    pub stop_reason: StopReason,
    pub final_score: f64,
    /// Iterations whose gradient was not finite (their step was skipped).
    pub nan_events: Vec<usize>,
    /// Iteration from which every evaluation used `Y + 0.01·noise`.
    pub resampling_from: Option<usize>,
    pub seed: u64,
    pub dtype: FloatType,
    pub device: String,
    pub elapsed_s: f64,
}

/// `Y` at one iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub iteration: usize,
    pub y: Array,
}

/// What [`optimize`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizeResult {
    pub summary: OptimizeSummary,
    /// The final `Y`, with the target's shape.
    pub final_y: Array,
    /// `Y` at the snapshot iterations (first and last included).
    pub snapshots: Vec<Snapshot>,
}

/// `cpu`, `cuda`, `cuda:N` → a candle device.
pub fn parse_device(s: &str) -> Result<Device, OptimError> {
    let err = |m: String| OptimError::Device {
        device: s.to_string(),
        message: m,
    };
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(|e| err(e.to_string())),
        _ => {
            let n = s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| err("expected `cpu`, `cuda` or `cuda:N`".into()))?;
            Device::new_cuda(n).map_err(|e| err(e.to_string()))
        }
    }
}

/// An array as a tensor of its own shape.
pub fn array_to_tensor(a: &Array, dtype: DType, device: &Device) -> Result<Tensor, OptimError> {
    Ok(Tensor::from_vec(a.data.clone(), a.shape.as_slice(), device)?.to_dtype(dtype)?)
}

/// A tensor as an array of its own shape (values widened to f64).
pub fn tensor_to_array(t: &Tensor, dtype: Dtype) -> Result<Array, OptimError> {
    let data = t
        .detach()
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    Ok(Array::new(t.dims().to_vec(), dtype, data))
}

/// Checks a target or initial array: 2-D/3-D, non-empty, finite.
pub(crate) fn check_array(a: &Array, what: &str) -> Result<(usize, usize), OptimError> {
    let (n, p) = a
        .matrix_shape()
        .map_err(|e| OptimError::Data(format!("{what}: {e}")))?;
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(OptimError::Data(format!(
            "{what} has a non-finite value ({}) at flat index {i}",
            a.data[i]
        )));
    }
    Ok((n, p))
}

/// The objective's measures with their weights or targets.
pub(crate) struct Objective {
    pub measures: Vec<DiffMeasure>,
    pub weights: Vec<f64>,
    pub targets: Option<Vec<f64>>,
    pub direction: Direction,
}

impl Objective {
    pub fn new(
        ids: &[String],
        weights: Option<&[f64]>,
        targets: Option<&[f64]>,
    ) -> Result<Self, OptimError> {
        if ids.is_empty() {
            return Err(OptimError::InvalidSpec("no measure given".into()));
        }
        let measures = ids
            .iter()
            .map(|id| DiffMeasure::new(id))
            .collect::<Result<Vec<_>, _>>()?;
        let weights = match weights {
            None => vec![1.0; ids.len()],
            Some(w) => {
                if w.len() != ids.len() {
                    return Err(OptimError::InvalidSpec(format!(
                        "{} weights for {} measures",
                        w.len(),
                        ids.len()
                    )));
                }
                if w.iter().any(|v| !v.is_finite() || *v < 0.0) || w.iter().sum::<f64>() <= 0.0 {
                    return Err(OptimError::InvalidSpec(
                        "weights must be finite, non-negative and not all zero".into(),
                    ));
                }
                w.to_vec()
            }
        };
        let direction = if let Some(t) = targets {
            if t.len() != ids.len() {
                return Err(OptimError::InvalidSpec(format!(
                    "{} targets for {} measures",
                    t.len(),
                    ids.len()
                )));
            }
            if t.iter().any(|v| !v.is_finite()) {
                return Err(OptimError::InvalidSpec("targets must be finite".into()));
            }
            Direction::Targets
        } else {
            let sims = measures
                .iter()
                .filter(|m| m.higher_is_more_similar())
                .count();
            if sims == measures.len() {
                Direction::Maximize
            } else if sims == 0 {
                Direction::Minimize
            } else {
                return Err(OptimError::InvalidSpec(
                    "cannot average similarities with distances; optimise them separately or give targets".into(),
                ));
            }
        };
        Ok(Objective {
            measures,
            weights,
            targets: targets.map(|t| t.to_vec()),
            direction,
        })
    }

    pub fn check_shapes(&self, n: usize, px: usize, py: usize) -> Result<(), OptimError> {
        for m in &self.measures {
            m.check_shapes(n, px, py)?;
        }
        Ok(())
    }

    /// The objective's value, the measures' values and the scalar graph to *minimise*.
    pub fn eval(&self, x: &Operand, y: &Operand) -> Result<(f64, Vec<f64>, Tensor), OptimError> {
        let mut values = Vec::with_capacity(self.measures.len());
        let mut loss: Option<Tensor> = None;
        let wsum: f64 = self.weights.iter().sum();
        let mut objective = 0.0;
        for (k, m) in self.measures.iter().enumerate() {
            let (v, t) = m.eval_operands(x, y)?;
            values.push(v);
            let (term_value, coef) = match (&self.targets, self.direction) {
                (Some(targets), _) => {
                    let d = v - targets[k];
                    // d|v − t|/dv = sign(v − t), 0 at equality (torch's abs)
                    let sign = if d > 0.0 {
                        1.0
                    } else if d < 0.0 {
                        -1.0
                    } else {
                        0.0
                    };
                    (d.abs(), sign)
                }
                (None, Direction::Maximize) => {
                    let w = self.weights[k] / wsum;
                    (w * v, -w)
                }
                (None, _) => {
                    let w = self.weights[k] / wsum;
                    (w * v, w)
                }
            };
            objective += term_value;
            let term = t.affine(coef, 0.0)?;
            loss = Some(match loss {
                None => term,
                Some(l) => (l + term)?,
            });
        }
        Ok((objective, values, loss.expect("at least one measure")))
    }

    pub fn passed(&self, value: f64, stop: f64) -> bool {
        match self.direction {
            Direction::Maximize => value > stop,
            Direction::Minimize | Direction::Targets => value < stop,
        }
    }
}

/// `Y0` for a run.
fn initial_y(
    target: &Array,
    spec_init: Init,
    init: Option<&Array>,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Result<Vec<f64>, OptimError> {
    match spec_init {
        Init::Normal => Ok(rng::normals(rng, target.data.len())),
        Init::Given => {
            let a = init.ok_or_else(|| {
                OptimError::InvalidSpec("init is `given` but no initial array was passed".into())
            })?;
            check_array(a, "the initial array")?;
            if a.shape != target.shape {
                return Err(OptimError::Data(format!(
                    "the initial array has shape {:?}, the target {:?}",
                    a.shape, target.shape
                )));
            }
            Ok(a.data.clone())
        }
        Init::SpectrumMatched => {
            let x = target
                .to_mat()
                .map_err(|e| OptimError::Data(e.to_string()))?;
            let (n, p) = x.shape();
            let s = crate::linalg::singular_values(x.as_ref())
                .map_err(|e| OptimError::Compute(e.to_string()))?;
            let k = n.min(p);
            let u = rng::random_orthonormal(rng, n, k);
            let v = rng::random_orthonormal(rng, p, k);
            let us = faer::Mat::from_fn(n, k, |i, j| u[(i, j)] * s[j]);
            let y = crate::linalg::mul_nt(us.as_ref(), v.as_ref());
            let mut out = Vec::with_capacity(n * p);
            for i in 0..n {
                for j in 0..p {
                    out.push(y[(i, j)]);
                }
            }
            Ok(out)
        }
    }
}

/// What one [`Optimization::step`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The iteration evaluated (`Y_i`, after `i` steps).
    pub iteration: usize,
    /// The objective at `Y_i`.
    pub score: f64,
    /// Each objective measure's value at `Y_i`.
    pub measure_values: Vec<f64>,
    /// The gradient was not finite, so no step was taken.
    pub nan: bool,
    /// The run is over (stop score passed or `max_iter` steps taken).
    pub finished: bool,
}

/// A running optimisation, advanced one iteration at a time by [`Optimization::step`] (what
/// [`optimize`] loops over; a job can also drive it directly, e.g. to report or checkpoint
/// between iterations).
pub struct Optimization {
    spec: OptimizeSpec,
    objective: Objective,
    x_op: Operand,
    x_host: Option<faer::Mat<f64>>,
    y: Var,
    opt: Box<dyn Optimizer>,
    rng: rand_chacha::ChaCha8Rng,
    device: Device,
    dtype: DType,
    out_dtype: Dtype,
    iteration: usize,
    finished: bool,
    scores: Vec<f64>,
    recorded: Vec<usize>,
    traces: Vec<MeasureTrace>,
    snapshots: Vec<Snapshot>,
    nan_events: Vec<usize>,
    resampling_from: Option<usize>,
    steps_to_stop: Option<usize>,
    stop_reason: StopReason,
    steps: usize,
    started: Instant,
}

impl Optimization {
    /// Validates everything and prepares the target; `init` is read only when `spec.init` is
    /// [`Init::Given`].
    pub fn new(
        target: &Array,
        spec: &OptimizeSpec,
        init: Option<&Array>,
    ) -> Result<Self, OptimError> {
        let started = Instant::now();
        let (n, p) = check_array(target, "the target")?;
        let objective = Objective::new(
            &spec.measures,
            spec.weights.as_deref(),
            spec.targets.as_deref(),
        )?;
        objective.check_shapes(n, p, p)?;
        spec.optimizer.validate().map_err(OptimError::InvalidSpec)?;
        for (name, v) in [
            ("snapshot_every", spec.snapshot_every),
            ("record_every", spec.record_every),
        ] {
            if v == Some(0) {
                return Err(OptimError::InvalidSpec(format!(
                    "{name} must be at least 1"
                )));
            }
        }
        if !spec.track.is_empty() && spec.record_every.is_none() {
            return Err(OptimError::InvalidSpec(
                "tracked measures need `record_every`".into(),
            ));
        }
        for id in &spec.track {
            measures::check_shapes(id, n, p, p)?;
        }
        if let Some(s) = spec.stop_score
            && s.is_nan()
        {
            return Err(OptimError::InvalidSpec("stop_score is NaN".into()));
        }
        let device = parse_device(&spec.device)?;
        let dtype = spec.dtype.dtype();
        let x_t = array_to_tensor(target, dtype, &device)?;
        let x_op = Operand::constant(&x_t)?;
        let x_host = if spec.track.is_empty() {
            None
        } else {
            Some(
                target
                    .to_mat()
                    .map_err(|e| OptimError::Data(e.to_string()))?,
            )
        };
        let mut rng = rng::rng(spec.seed);
        let y0 = initial_y(target, spec.init, init, &mut rng)?;
        let y = Var::from_tensor(
            &Tensor::from_vec(y0, target.shape.as_slice(), &device)?.to_dtype(dtype)?,
        )?;
        let traces = objective
            .measures
            .iter()
            .map(|m| MeasureTrace {
                id: m.id().to_string(),
                tracked: false,
                values: vec![],
            })
            .chain(spec.track.iter().map(|id| MeasureTrace {
                id: id.clone(),
                tracked: true,
                values: vec![],
            }))
            .collect();
        Ok(Optimization {
            opt: spec.optimizer.build(1),
            spec: spec.clone(),
            objective,
            x_op,
            x_host,
            y,
            rng,
            device,
            dtype,
            out_dtype: spec.dtype.array_dtype(),
            iteration: 0,
            finished: false,
            scores: vec![],
            recorded: vec![],
            traces,
            snapshots: vec![],
            nan_events: vec![],
            resampling_from: None,
            steps_to_stop: None,
            stop_reason: StopReason::MaxIter,
            steps: 0,
            started,
        })
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next iteration to evaluate.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The current `Y` (target's shape).
    pub fn current_y(&self) -> Result<Array, OptimError> {
        tensor_to_array(self.y.as_tensor(), self.out_dtype)
    }

    /// Evaluates `Y_i`, records it, and unless the run is over takes the optimizer step to
    /// `Y_{i+1}`.
    pub fn step(&mut self) -> Result<StepReport, OptimError> {
        if self.finished {
            return Err(OptimError::InvalidSpec(
                "the optimisation is finished".into(),
            ));
        }
        let i = self.iteration;
        let y_eval = if self.resampling_from.is_some() {
            let noise = rng::randn(&mut self.rng, self.y.dims(), self.dtype, &self.device)?;
            (self.y.as_tensor() + noise.affine(0.01, 0.0)?)?
        } else {
            self.y.as_tensor().clone()
        };
        let y_op = Operand::variable(&y_eval)?;
        let (value, values, loss) = self.objective.eval(&self.x_op, &y_op)?;
        self.scores.push(value);
        let stop = self
            .spec
            .stop_score
            .is_some_and(|s| self.objective.passed(value, s));
        let last = stop || i == self.spec.max_iter;
        if let Some(k) = self.spec.record_every
            && (i.is_multiple_of(k) || last)
        {
            self.recorded.push(i);
            for (t, v) in self.traces.iter_mut().zip(&values) {
                t.values.push(v.is_finite().then_some(*v));
            }
            if let Some(xh) = &self.x_host {
                let yh = tensor_to_array(&y_eval, self.out_dtype)?
                    .to_mat()
                    .map_err(|e| OptimError::Data(e.to_string()))?;
                for (t, id) in self.traces[values.len()..].iter_mut().zip(&self.spec.track) {
                    t.values
                        .push(measures::score(id, xh.as_ref(), yh.as_ref()).ok());
                }
            }
        }
        if i == 0
            || last
            || self
                .spec
                .snapshot_every
                .is_some_and(|k| i.is_multiple_of(k))
        {
            self.snapshots.push(Snapshot {
                iteration: i,
                y: tensor_to_array(self.y.as_tensor(), self.out_dtype)?,
            });
        }
        let mut report = StepReport {
            iteration: i,
            score: value,
            measure_values: values,
            nan: false,
            finished: last,
        };
        if last {
            self.finished = true;
            if stop {
                self.steps_to_stop = Some(i);
                self.stop_reason = StopReason::StopScore;
            }
            return Ok(report);
        }
        let grads = loss.backward()?;
        self.steps += 1;
        self.iteration += 1;
        let g = match grads.get(self.y.as_tensor()) {
            Some(g) => g.clone(),
            None => self.y.as_tensor().zeros_like()?,
        };
        let gsum = tensor::scalar(&g.sum_all()?)?;
        if !gsum.is_finite() {
            self.nan_events.push(i);
            self.resampling_from.get_or_insert(i + 1);
            report.nan = true;
            return Ok(report);
        }
        self.opt.step(&[&self.y], &[&g])?;
        Ok(report)
    }

    /// The result (call once the run is finished, or to keep a partial run).
    pub fn finish(mut self) -> Result<OptimizeResult, OptimError> {
        let final_y = self.current_y()?;
        if self.snapshots.last().is_none_or(|s| s.y != final_y) {
            self.snapshots.push(Snapshot {
                iteration: self.iteration,
                y: final_y.clone(),
            });
        }
        let final_score = self.scores.last().copied().unwrap_or(f64::NAN);
        Ok(OptimizeResult {
            summary: OptimizeSummary {
                measures: self
                    .objective
                    .measures
                    .iter()
                    .map(|m| m.id().to_string())
                    .collect(),
                direction: self.objective.direction,
                scores: self.scores,
                recorded_iterations: self.recorded,
                measure_scores: if self.spec.record_every.is_some() {
                    self.traces
                } else {
                    vec![]
                },
                snapshot_iterations: self.snapshots.iter().map(|s| s.iteration).collect(),
                steps: self.steps,
                steps_to_stop: self.steps_to_stop,
                stop_reason: self.stop_reason,
                final_score,
                nan_events: self.nan_events,
                resampling_from: self.resampling_from,
                seed: self.spec.seed,
                dtype: self.spec.dtype,
                device: self.spec.device.clone(),
                elapsed_s: self.started.elapsed().as_secs_f64(),
            },
            final_y,
            snapshots: self.snapshots,
        })
    }
}

/// Optimises `Y` (the target's shape) to maximise the objective's measures against `target`
/// (or minimise distances, or approach target values; see [`Direction`]).
///
/// `init` is read only when `spec.init` is [`Init::Given`]. Progress is reported every iteration;
/// `progress.cancelled()` is checked before every iteration and ends the run with
/// [`OptimError::Cancelled`].
pub fn optimize(
    target: &Array,
    spec: &OptimizeSpec,
    init: Option<&Array>,
    progress: &dyn Progress,
) -> Result<OptimizeResult, OptimError> {
    let mut run = Optimization::new(target, spec, init)?;
    while !run.is_finished() {
        if progress.cancelled() {
            return Err(OptimError::Cancelled);
        }
        let r = run.step()?;
        progress.report(
            if spec.max_iter == 0 {
                1.0
            } else {
                r.iteration as f64 / spec.max_iter as f64
            },
            &format!("iteration {}: objective {:.6}", r.iteration, r.score),
        );
    }
    run.finish()
}
