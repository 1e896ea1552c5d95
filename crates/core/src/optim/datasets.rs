//! Built-in synthetic targets (diffscore `dataset/toy.py`), seeded.
//!
//! - `ultrametric` (100 × 50): binary features on a tree. The root is a vector of fair coin bits;
//!   each level splits every node into `branches[l]` children (`[2, 5, 10]`), and a child copies
//!   its parent's bits except that each bit is, with probability `1 − γ` (`γ = 0.8`), replaced by
//!   a fresh fair coin bit. The 100 leaves are the rows; the label `category` is the leaf's
//!   grandparent (10 categories of 10 leaves).
//! - `exp-gaussian` (15 × 40 × 100): i.i.d. rows `N(0, diag(λ))` with `λ = logspace(−4, 0, 100)`
//!   (eigenvalues from 1e−4 to 1); the label `trial` is the condition index (0…39).
//! - `toy2d` (10 × 6 × 2): a 2-D curve of 10 points, scaled along its second axis by 1, 1.5, 2,
//!   and rotated by π, giving 6 conditions with labels `choice` (−1/1) and `stimulus` (−3…3).
//!
//! Random draws come from a ChaCha8 stream (not numpy's), so values differ from diffscore's
//! for the same seed while the distributions are the same.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::rng;
use crate::array::{Array, Dtype};

/// Task labels: one value per condition (axis 1 of a 3-D dataset) or per row (2-D).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskLabels {
    pub name: String,
    pub values: Vec<i64>,
}

/// A built-in dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub id: String,
    pub data: Array,
    pub labels: Vec<TaskLabels>,
}

/// The built-in dataset ids.
pub const DATASETS: [&str; 3] = ["ultrametric", "exp-gaussian", "toy2d"];

/// A built-in dataset by id, with default parameters.
pub fn dataset(id: &str, seed: u64) -> Option<Dataset> {
    Some(match id {
        "ultrametric" => ultrametric(50, &[2, 5, 10], 0.8, seed),
        "exp-gaussian" => exp_gaussian(100, 15, 40, seed),
        "toy2d" => toy2d(0.5),
        _ => return None,
    })
}

fn coin(rng: &mut ChaCha8Rng) -> f64 {
    if rng.random_bool(0.5) { 1.0 } else { 0.0 }
}

/// Hierarchical binary features (see the module docs); rows are leaves in depth-first order.
pub fn ultrametric(dim: usize, branches: &[usize], gamma: f64, seed: u64) -> Dataset {
    let mut rng = rng::rng(seed);
    let root: Vec<f64> = (0..dim).map(|_| coin(&mut rng)).collect();
    let mut nodes = vec![root];
    for &b in branches {
        let mut next = Vec::with_capacity(nodes.len() * b);
        for parent in &nodes {
            for _ in 0..b {
                let child = parent
                    .iter()
                    .map(|&bit| {
                        if rng.random_bool(1.0 - gamma) {
                            coin(&mut rng)
                        } else {
                            bit
                        }
                    })
                    .collect();
                next.push(child);
            }
        }
        nodes = next;
    }
    let n = nodes.len();
    let per = branches.last().copied().unwrap_or(1).max(1);
    let data = nodes.into_iter().flatten().collect();
    Dataset {
        id: "ultrametric".into(),
        data: Array::new(vec![n, dim], Dtype::Float32, data),
        labels: vec![TaskLabels {
            name: "category".into(),
            values: (0..n).map(|i| (i / per) as i64).collect(),
        }],
    }
}

/// Gaussian `(steps, trials, dim)` with log-spaced variances from 1e−4 to 1.
pub fn exp_gaussian(dim: usize, steps: usize, trials: usize, seed: u64) -> Dataset {
    let mut rng = rng::rng(seed);
    let sd: Vec<f64> = (0..dim)
        .map(|i| {
            let e = if dim > 1 {
                -4.0 + 4.0 * i as f64 / (dim - 1) as f64
            } else {
                0.0
            };
            10f64.powf(e).sqrt()
        })
        .collect();
    let mut data = Vec::with_capacity(steps * trials * dim);
    for _ in 0..steps * trials {
        for s in &sd {
            data.push(s * rng.sample::<f64, _>(StandardNormal));
        }
    }
    Dataset {
        id: "exp-gaussian".into(),
        data: Array::new(vec![steps, trials, dim], Dtype::Float64, data),
        labels: vec![TaskLabels {
            name: "trial".into(),
            values: (0..trials as i64).collect(),
        }],
    }
}

/// diffscore's toy 2-D trajectories `(10, 6, 2)` (deterministic).
pub fn toy2d(a: f64) -> Dataset {
    const POINTS: [[f64; 2]; 10] = [
        [0.01, 0.01],
        [0.4, 0.3],
        [0.7, 0.5],
        [0.88, 0.613],
        [1.13, 0.68],
        [1.43, 0.73],
        [1.68, 0.6],
        [1.86, 0.473],
        [1.97, 0.24],
        [2.02, 0.04],
    ];
    // rotation by π: [[cos, sin], [−sin, cos]] = −I
    let conds: [(f64, f64); 6] = [
        (1.0, 1.0),
        (1.0 + a, 1.0),
        (1.0 + 2.0 * a, 1.0),
        (1.0, -1.0),
        (1.0 + a, -1.0),
        (1.0 + 2.0 * a, -1.0),
    ];
    let mut data = Vec::with_capacity(10 * 6 * 2);
    for pt in POINTS {
        for (scale, rot) in conds {
            let (x, y) = (pt[0], pt[1] * scale);
            // x @ R(π) with R = [[c, s], [−s, c]]: (x c − y s, x s + y c)
            let (c, s) = if rot > 0.0 {
                (1.0, 0.0)
            } else {
                (std::f64::consts::PI.cos(), std::f64::consts::PI.sin())
            };
            data.push(x * c - y * s);
            data.push(x * s + y * c);
        }
    }
    Dataset {
        id: "toy2d".into(),
        data: Array::new(vec![10, 6, 2], Dtype::Float64, data),
        labels: vec![
            TaskLabels {
                name: "choice".into(),
                values: vec![-1, -1, -1, 1, 1, 1],
            },
            TaskLabels {
                name: "stimulus".into(),
                values: vec![-3, -2, -1, 1, 2, 3],
            },
        ],
    }
}
