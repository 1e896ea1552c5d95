//! The `allowable-range` job (Cloos et al. 2024, joint optimisation): which pairs of scores two
//! measures can take together. Both X and Y are optimised towards target score pairs on the
//! boundary of the unit square; the reached pairs outline the attainable region, and the slopes of
//! the lines from the `(0.95, 0)` and `(0, 0.95)` runs to `(1, 1)` say whether a high score of one
//! measure forces a high score of the other.
//!
//! An adapter only: the sweep is `simscore_core::optim::joint::allowable_range`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Outcome, check_settings_leave_seed_and_device, dtype_name};
use crate::jobs::{Inputs, JobContext, JobError, JobKind};
use simscore_core::optim::joint::{RangePoint, RangeResult, RangeSpec, allowable_range};
use simscore_core::optim::{DiffMeasure, OptimError};
use simscore_core::plots::{self, Axis, Series, Size, XyPlot};
use simscore_core::progress::Progress;

pub struct AllowableRange;

/// Largest sweep a job may ask for: targets per side, iterations per run, cells of X0 and Y0.
const MAX_POINTS_PER_SIDE: usize = 21;
const MAX_ITER: usize = 100_000;
const MAX_CELLS: usize = 1_000_000;

/// An allowable-range sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowableRangeSpec {
    /// The two measures, points per side, shape of X and Y, optimizer (default Adam, lr 0.01),
    /// iterations per target (default 1000), dtype (the seed is the job's `seed`; the device is
    /// the worker's).
    pub settings: RangeSpec,
    /// Seeds the random starting X0 and Y0 (shared by every target of the sweep).
    #[serde(default)]
    pub seed: u64,
}

impl JobKind for AllowableRange {
    const KIND: &'static str = "allowable-range";
    const SUMMARY: &'static str = "Allowable range of a pair of measures: optimise X and Y jointly towards score pairs on the unit square's boundary (Cloos et al. 2024)";
    type Spec = AllowableRangeSpec;

    fn datasets(_spec: &AllowableRangeSpec) -> Vec<String> {
        vec![]
    }

    fn validate(spec: &AllowableRangeSpec, _inputs: &Inputs) -> Result<(), String> {
        let s = &spec.settings;
        check_settings_leave_seed_and_device(s.seed, &s.device)?;
        if !(2..=MAX_POINTS_PER_SIDE).contains(&s.points_per_side) {
            return Err(format!(
                "settings.points_per_side is {}; it must be between 2 and {MAX_POINTS_PER_SIDE}",
                s.points_per_side
            ));
        }
        if s.max_iter == 0 || s.max_iter > MAX_ITER {
            return Err(format!(
                "settings.max_iter is {}; it must be between 1 and {MAX_ITER}",
                s.max_iter
            ));
        }
        if s.trajectory_every == 0 {
            return Err("settings.trajectory_every must be at least 1".into());
        }
        let [n, p] = s.shape;
        if n < 2 || p == 0 || n * p > MAX_CELLS {
            return Err(format!(
                "settings.shape is {:?}; it needs at least 2 rows and 1 column and at most {MAX_CELLS} cells",
                s.shape
            ));
        }
        s.optimizer.validate()?;
        for id in &s.measures {
            DiffMeasure::new(id).map_err(|e| OptimError::from(e).to_string())?;
            simscore_core::measures::check_shapes(id, n, p, p).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn seed(spec: &AllowableRangeSpec) -> u64 {
        spec.seed
    }

    fn dtype(spec: &AllowableRangeSpec) -> &'static str {
        dtype_name(spec.settings.dtype)
    }

    fn run(spec: AllowableRangeSpec, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let mut settings = spec.settings.clone();
        settings.seed = spec.seed;
        settings.device = ctx.device().to_string();
        let outcome = run(&settings, ctx)?;
        outcome.store(ctx)
    }
}

/// Runs the sweep and draws it.
pub fn run(settings: &RangeSpec, progress: &dyn Progress) -> Result<Outcome, JobError> {
    let range = allowable_range(settings, progress).map_err(|e| match e {
        OptimError::Cancelled => JobError::Cancelled,
        other => JobError::Fatal(other.to_string()),
    })?;
    let boundary = boundary_loop(&range.points);
    let reached: Vec<[f64; 2]> = boundary.iter().map(|p| p.reached).collect();
    let area = polygon_area(&reached);
    let mut result = serde_json::to_value(&range)
        .map_err(|e| JobError::Fatal(format!("could not encode the result: {e}")))?;
    result["reachable_area"] = serde_json::json!(area);
    let plot = plot(settings, &range, &boundary)
        .map_err(|e| JobError::Fatal(format!("plotting failed: {e}")))?;
    progress.report(1.0, "done");
    Ok(Outcome {
        result,
        artifacts: vec![("allowable_range.png".into(), "image/png", plot)],
    })
}

/// The runs whose target lies on the square's boundary, in order around it (counter-clockwise
/// from `(0, 0)`), so that their end points trace the outline of the attainable region.
fn boundary_loop(points: &[RangePoint]) -> Vec<&RangePoint> {
    let on_edge = |t: &[f64; 2]| t.iter().any(|&v| v == 0.0 || v == 1.0);
    let mut ring: Vec<&RangePoint> = points.iter().filter(|p| on_edge(&p.target)).collect();
    // The angle around the centre, starting at the (0, 0) corner.
    let angle = |t: &[f64; 2]| {
        let a = (t[1] - 0.5).atan2(t[0] - 0.5) + 0.75 * std::f64::consts::PI;
        a.rem_euclid(2.0 * std::f64::consts::PI)
    };
    ring.sort_by(|a, b| angle(&a.target).total_cmp(&angle(&b.target)));
    ring
}

/// Area enclosed by a closed polygon (shoelace formula); the fraction of the unit square the
/// reached boundary encloses.
fn polygon_area(points: &[[f64; 2]]) -> f64 {
    let n = points.len();
    if n < 3 {
        return 0.0;
    }
    let twice: f64 = (0..n)
        .map(|i| {
            let (a, b) = (points[i], points[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum();
    twice.abs() / 2.0
}

fn plot(
    settings: &RangeSpec,
    range: &RangeResult,
    boundary: &[&RangePoint],
) -> Result<Vec<u8>, plots::PlotError> {
    let closed = |pick: &dyn Fn(&RangePoint) -> [f64; 2]| -> (Vec<f64>, Vec<f64>) {
        boundary
            .iter()
            .chain(boundary.first())
            .map(|p| {
                let q = pick(p);
                (q[0], q[1])
            })
            .unzip()
    };
    let (tx, ty) = closed(&|p| p.target);
    let (rx, ry) = closed(&|p| p.reached);
    let mut series = vec![
        Series::new("targets", tx, ty),
        Series::new("reached", rx, ry),
    ];
    if let Some(s) = &range.slopes {
        for (run, slope) in [(&s.first, s.slope1), (&s.second, s.slope2)] {
            series.push(Series::new(
                format!(
                    "({:.2}, {:.2}) to (1, 1): slope {slope:.2}",
                    run.target[0], run.target[1]
                ),
                vec![run.reached[0], 1.0],
                vec![run.reached[1], 1.0],
            ));
        }
    }
    let fig = plots::line_plot(
        &XyPlot {
            title: "Allowable range of the score pair".into(),
            x: Axis::new(settings.measures[0].clone(), ""),
            y: Axis::new(settings.measures[1].clone(), ""),
            series,
        },
        Size {
            width: 800,
            height: 500,
        },
    )?;
    Ok(fig.png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(target: [f64; 2]) -> RangePoint {
        RangePoint {
            target,
            reached: target,
            distance: 0.0,
            trajectory: vec![],
            nan_events: 0,
        }
    }

    #[test]
    fn boundary_runs_go_around_the_square() {
        let targets = simscore_core::optim::joint::square_targets(3);
        let points: Vec<RangePoint> = targets.iter().map(|&t| point(t)).collect();
        let ring: Vec<[f64; 2]> = boundary_loop(&points).iter().map(|p| p.target).collect();
        // (0.99, 0.99) is inside; (1, 1) is not a target.
        assert_eq!(
            ring,
            vec![
                [0.0, 0.0],
                [0.5, 0.0],
                [1.0, 0.0],
                [1.0, 0.5],
                [0.5, 1.0],
                [0.0, 1.0],
                [0.0, 0.5]
            ]
        );
        // The unit square without the triangle (1, 0.5), (1, 1), (0.5, 1).
        assert!((polygon_area(&ring) - (1.0 - 0.125)).abs() < 1e-12);
    }
}
