//! Joint optimisation of X *and* Y towards target values of two (or more) measures, and the
//! "allowable range" sweep of a pair of measures (diffscore `analysis/joint_optim.py`).
//!
//! The sweep starts every run from the same random `X0`, `Y0` (`20 × 10` standard normal by
//! default, seeded), minimises `|m1(X,Y) − t1| + |m2(X,Y) − t2|` with Adam (lr 0.01) over both
//! matrices for `max_iter` steps, for targets on the boundary of the unit square (`N` per side,
//! `(1, 1)` left out as the reference does) plus `(0, 0)` and `(0.99, 0.99)`. The reached score
//! pairs outline the region of jointly attainable values. The slopes: runs towards `(0.95, 0)`
//! and `(0, 0.95)` end at `(a1, b1)` and `(a2, b2)`; `slope_i = (1 − b_i)/(1 − a_i)` is the slope
//! of the line from the end point to `(1, 1)` (the reference's `compute_slopes`). A steep first
//! slope says that a high first score forces a high second one.

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use super::{
    AdamConfig, FloatType, Objective, Operand, OptimError, OptimizerConfig, parse_device, rng,
    tensor_to_array,
};
use crate::array::Array;
use crate::progress::Progress;

/// Result of one joint run.
#[derive(Debug, Clone, PartialEq)]
pub struct JointRun {
    pub targets: Vec<f64>,
    /// Measure values at every evaluated iterate (`max_iter + 1` rows).
    pub values: Vec<Vec<f64>>,
    /// L1 distance to the targets at every evaluated iterate.
    pub loss: Vec<f64>,
    pub x: Array,
    pub y: Array,
    /// Iterations whose gradient was not finite (step skipped).
    pub nan_events: Vec<usize>,
}

/// Minimises `Σ|m_i(X, Y) − t_i|` over both X and Y from `x0`, `y0` (same number of rows).
#[allow(clippy::too_many_arguments)]
pub fn joint_optimize(
    x0: &Array,
    y0: &Array,
    measures: &[String],
    targets: &[f64],
    optimizer: &OptimizerConfig,
    max_iter: usize,
    dtype: FloatType,
    device: &str,
    progress: &dyn Progress,
) -> Result<JointRun, OptimError> {
    let (n, px) = super::check_array(x0, "X0")?;
    let (ny, py) = super::check_array(y0, "Y0")?;
    if n != ny {
        return Err(OptimError::Data(format!(
            "X0 and Y0 must have the same number of rows; got {n} and {ny}"
        )));
    }
    let objective = Objective::new(measures, None, Some(targets))?;
    objective.check_shapes(n, px, py)?;
    optimizer.validate().map_err(OptimError::InvalidSpec)?;
    let dev = parse_device(device)?;
    let dt = dtype.dtype();
    let x = Var::from_tensor(&super::array_to_tensor(x0, dt, &dev)?)?;
    let y = Var::from_tensor(&super::array_to_tensor(y0, dt, &dev)?)?;
    let mut opt = optimizer.build(2);
    let mut values = Vec::with_capacity(max_iter + 1);
    let mut loss_trace = Vec::with_capacity(max_iter + 1);
    let mut nan_events = Vec::new();
    for i in 0..=max_iter {
        if progress.cancelled() {
            return Err(OptimError::Cancelled);
        }
        let (xo, yo) = (
            Operand::variable(x.as_tensor())?,
            Operand::variable(y.as_tensor())?,
        );
        let (l, v, loss) = objective.eval(&xo, &yo)?;
        values.push(v);
        loss_trace.push(l);
        if i == max_iter {
            break;
        }
        let grads = loss.backward()?;
        let gx = grad_or_zero(&grads, x.as_tensor())?;
        let gy = grad_or_zero(&grads, y.as_tensor())?;
        let s = super::tensor::scalar(&(gx.sum_all()? + gy.sum_all()?)?)?;
        if !s.is_finite() {
            nan_events.push(i);
            continue;
        }
        opt.step(&[&x, &y], &[&gx, &gy])?;
    }
    Ok(JointRun {
        targets: targets.to_vec(),
        values,
        loss: loss_trace,
        x: tensor_to_array(x.as_tensor(), x0.dtype)?,
        y: tensor_to_array(y.as_tensor(), y0.dtype)?,
        nan_events,
    })
}

fn grad_or_zero(g: &candle_core::backprop::GradStore, t: &Tensor) -> Result<Tensor, OptimError> {
    Ok(match g.get(t) {
        Some(g) => g.clone(),
        None => t.zeros_like()?,
    })
}

fn default_points() -> usize {
    5
}
fn default_shape() -> [usize; 2] {
    [20, 10]
}
fn default_range_optimizer() -> OptimizerConfig {
    OptimizerConfig::Adam(AdamConfig {
        lr: 0.01,
        ..AdamConfig::default()
    })
}
fn default_iters() -> usize {
    1000
}
fn default_device() -> String {
    "cpu".into()
}
fn default_true() -> bool {
    true
}
fn default_every() -> usize {
    10
}

/// The allowable-range sweep for a pair of measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// The two measures (x axis, y axis).
    pub measures: [String; 2],
    /// Targets per side of the unit square (`N`, default 5).
    #[serde(default = "default_points")]
    pub points_per_side: usize,
    /// Shape of the random `X0` and `Y0` (default 20 × 10).
    #[serde(default = "default_shape")]
    pub shape: [usize; 2],
    /// Default Adam with lr 0.01.
    #[serde(default = "default_range_optimizer")]
    pub optimizer: OptimizerConfig,
    #[serde(default = "default_iters")]
    pub max_iter: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub dtype: FloatType,
    #[serde(default = "default_device")]
    pub device: String,
    /// Also run the two slope targets `(0.95, 0)` and `(0, 0.95)`.
    #[serde(default = "default_true")]
    pub slopes: bool,
    /// Keep every this many iterations of each run's score path (for plots).
    #[serde(default = "default_every")]
    pub trajectory_every: usize,
}

impl RangeSpec {
    pub fn new(m1: &str, m2: &str) -> Self {
        RangeSpec {
            measures: [m1.to_string(), m2.to_string()],
            points_per_side: default_points(),
            shape: default_shape(),
            optimizer: default_range_optimizer(),
            max_iter: default_iters(),
            seed: 0,
            dtype: FloatType::F32,
            device: default_device(),
            slopes: true,
            trajectory_every: default_every(),
        }
    }
}

/// One target of the sweep and where the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RangePoint {
    pub target: [f64; 2],
    /// Scores at the final X, Y.
    pub reached: [f64; 2],
    /// `|reached − target|₁`.
    pub distance: f64,
    /// Score pairs every `trajectory_every` iterations (and the last).
    pub trajectory: Vec<[f64; 2]>,
    pub nan_events: usize,
}

/// Slopes of the lines from the slope runs' end points to `(1, 1)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Slopes {
    /// The run towards `(0.95, 0)`.
    pub first: RangePoint,
    /// The run towards `(0, 0.95)`.
    pub second: RangePoint,
    /// `(1 − b)/(1 − a)` for the first run's end point `(a, b)`.
    pub slope1: f64,
    /// The same for the second run.
    pub slope2: f64,
}

/// The sweep's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RangeResult {
    /// Canonical ids.
    pub measures: [String; 2],
    /// Scores of `(X0, Y0)`.
    pub initial: [f64; 2],
    pub points: Vec<RangePoint>,
    pub slopes: Option<Slopes>,
}

/// The targets of `joint_optim_square` for `N` per side, duplicates removed: `(0, 0)`, the
/// boundary of the unit square without `(1, 1)`, and `(0.99, 0.99)`.
pub fn square_targets(n: usize) -> Vec<[f64; 2]> {
    let pts: Vec<f64> = if n < 2 {
        vec![0.0, 1.0]
    } else {
        (0..n).map(|i| i as f64 / (n - 1) as f64).collect()
    };
    let k = pts.len();
    let mut t = vec![[0.0, 0.0]];
    t.extend(pts[..k - 1].iter().map(|&v| [v, 1.0]));
    t.extend(pts[..k - 1].iter().rev().map(|&v| [1.0, v]));
    t.extend(pts[1..].iter().rev().map(|&v| [v, 0.0]));
    t.extend(pts[1..].iter().map(|&v| [0.0, v]));
    t.push([0.99, 0.99]);
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(t.len());
    for p in t {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Progress of one run inside the sweep.
struct Sub<'a> {
    inner: &'a dyn Progress,
    k: usize,
    total: usize,
    label: String,
}

impl Progress for Sub<'_> {
    fn report(&self, fraction: f64, message: &str) {
        self.inner.report(
            (self.k as f64 + fraction) / self.total as f64,
            &format!("{} {}", self.label, message),
        );
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

/// Runs the allowable-range sweep.
pub fn allowable_range(
    spec: &RangeSpec,
    progress: &dyn Progress,
) -> Result<RangeResult, OptimError> {
    if spec.trajectory_every == 0 {
        return Err(OptimError::InvalidSpec(
            "trajectory_every must be at least 1".into(),
        ));
    }
    let [n, p] = spec.shape;
    if n == 0 || p == 0 {
        return Err(OptimError::InvalidSpec(format!(
            "empty shape {:?}",
            spec.shape
        )));
    }
    let measures = vec![spec.measures[0].clone(), spec.measures[1].clone()];
    let ids = [
        super::DiffMeasure::new(&measures[0])?.id().to_string(),
        super::DiffMeasure::new(&measures[1])?.id().to_string(),
    ];
    let mut r = rng::rng(spec.seed);
    let mk = |v: Vec<f64>| Array::new(vec![n, p], crate::array::Dtype::Float64, v);
    let x0 = mk(rng::normals(&mut r, n * p));
    let y0 = mk(rng::normals(&mut r, n * p));
    let mut targets = square_targets(spec.points_per_side);
    let n_square = targets.len();
    if spec.slopes {
        targets.push([0.95, 0.0]);
        targets.push([0.0, 0.95]);
    }
    let total = targets.len();
    let mut points = Vec::with_capacity(total);
    let mut initial = [f64::NAN; 2];
    for (k, t) in targets.iter().enumerate() {
        let sub = Sub {
            inner: progress,
            k,
            total,
            label: format!("target ({:.2}, {:.2}):", t[0], t[1]),
        };
        let run = joint_optimize(
            &x0,
            &y0,
            &measures,
            t,
            &spec.optimizer,
            spec.max_iter,
            spec.dtype,
            &spec.device,
            &sub,
        )?;
        sub.report(1.0, "done");
        initial = [run.values[0][0], run.values[0][1]];
        let last = run.values.last().expect("evaluated");
        let reached = [last[0], last[1]];
        let m = run.values.len();
        let trajectory = run
            .values
            .iter()
            .enumerate()
            .filter(|(i, _)| i % spec.trajectory_every == 0 || *i + 1 == m)
            .map(|(_, v)| [v[0], v[1]])
            .collect();
        points.push(RangePoint {
            target: *t,
            reached,
            distance: (reached[0] - t[0]).abs() + (reached[1] - t[1]).abs(),
            trajectory,
            nan_events: run.nan_events.len(),
        });
    }
    let slopes = if spec.slopes {
        let second = points.pop().expect("slope run");
        let first = points.pop().expect("slope run");
        let slope = |q: &RangePoint| (1.0 - q.reached[1]) / (1.0 - q.reached[0]);
        Some(Slopes {
            slope1: slope(&first),
            slope2: slope(&second),
            first,
            second,
        })
    } else {
        None
    };
    debug_assert_eq!(points.len(), n_square);
    Ok(RangeResult {
        measures: ids,
        initial,
        points,
        slopes,
    })
}
