//! Joint optimisation of X and Y towards target scores, and the allowable-range sweep.

mod common;

use simscore_core::array::{Array, Dtype};
use simscore_core::measures;
use simscore_core::optim::joint::{RangeSpec, allowable_range, joint_optimize, square_targets};
use simscore_core::optim::{AdamConfig, FloatType, OptimizerConfig};
use simscore_core::progress::NoProgress;

fn arr(n: usize, p: usize, seed: u64) -> Array {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15).wrapping_add(3);
    let data = (0..n * p)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Array::new(vec![n, p], Dtype::Float64, data)
}

#[test]
fn reaches_a_feasible_target_pair() {
    let ids = vec!["cka".to_string(), "procrustes-angular-score".to_string()];
    // a pair of scores that some (X, Y) attains
    let (x1, y1) = (arr(20, 10, 1), arr(20, 10, 2));
    let mut y1m = y1.clone();
    for (v, w) in y1m.data.iter_mut().zip(&x1.data) {
        *v = 0.6 * *v + *w;
    }
    let t: Vec<f64> = ids
        .iter()
        .map(|id| {
            measures::score(
                id,
                x1.to_mat().unwrap().as_ref(),
                y1m.to_mat().unwrap().as_ref(),
            )
            .unwrap()
        })
        .collect();
    let opt = OptimizerConfig::Adam(AdamConfig {
        lr: 0.02,
        ..Default::default()
    });
    let run = joint_optimize(
        &arr(20, 10, 3),
        &arr(20, 10, 4),
        &ids,
        &t,
        &opt,
        400,
        FloatType::F64,
        &common::test_device(),
        &NoProgress,
    )
    .unwrap();
    let last = run.loss.last().unwrap();
    assert!(
        *last < 0.02,
        "L1 distance {last} to {t:?} (start {})",
        run.loss[0]
    );
    // the reported values are the engine's at the final X, Y
    let got = measures::score(
        &ids[0],
        run.x.to_mat().unwrap().as_ref(),
        run.y.to_mat().unwrap().as_ref(),
    )
    .unwrap();
    assert!((got - run.values.last().unwrap()[0]).abs() < 1e-10);
}

#[test]
fn square_targets_like_the_reference() {
    let t = square_targets(5);
    // (0,0), 4 per side with the corners (1, 0) and (0, 1) once, (0.99, 0.99); (1, 1) excluded
    assert_eq!(t.len(), 1 + 14 + 1);
    assert_eq!(t[0], [0.0, 0.0]);
    assert_eq!(t[1], [0.0, 1.0]);
    assert_eq!(*t.last().unwrap(), [0.99, 0.99]);
    assert!(!t.contains(&[1.0, 1.0]));
}

#[test]
fn allowable_range_sweep() {
    let mut spec = RangeSpec::new("cka", "procrustes-angular-score");
    spec.device = common::test_device();
    spec.points_per_side = 3;
    spec.max_iter = 300;
    spec.optimizer = OptimizerConfig::Adam(AdamConfig {
        lr: 0.03,
        ..Default::default()
    });
    spec.seed = 5;
    let r = allowable_range(&spec, &NoProgress).unwrap();
    assert_eq!(r.points.len(), square_targets(3).len());
    assert_eq!(r.measures[0], "cka-kernel=linear-hsic=gretton-score");
    let s = r.slopes.as_ref().unwrap();
    assert!(s.slope1.is_finite() && s.slope2.is_finite());
    for p in &r.points {
        assert!(p.reached.iter().all(|v| v.is_finite()));
        eprintln!("target {:?} reached {:.3?}", p.target, p.reached);
    }
    eprintln!(
        "to (0.95, 0): {:.3?}; to (0, 0.95): {:.3?}; slopes {:.3} {:.3}",
        s.first.reached, s.second.reached, s.slope1, s.slope2
    );
    // The paper's asymmetry: CKA can be high while angular Procrustes stays low, but Procrustes
    // cannot be pushed high while CKA stays low.
    let gap_first = s.first.reached[0] - s.first.reached[1];
    let gap_second = s.second.reached[1] - s.second.reached[0];
    assert!(gap_first > 0.3 && gap_second < gap_first, "{s:?}");
    assert!(s.slope1 > 1.0 && s.slope2 < 1.0);
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("slope1"));
}
