//! Statistics over measures: all-pairs tables, row-permutation tests and row-bootstrap intervals.
//!
//! - [`all_pairs`]: every measure on every `(xs[i], ys[j])`, sharing work within each pair
//!   through [`super::score_many`].
//! - [`permutation_test`]: the null distribution of the measure under random permutations of the
//!   rows of Y (stimulus labels shuffled). `p = (1 + #{null at least as similar as observed}) /
//!   (1 + N)` ("at least as similar" = `≥` for scores, `≤` for distances).
//! - [`bootstrap`]: rows resampled with replacement (the same rows for X and Y); percentile
//!   confidence interval, mean and standard error of the resampled values.
//!
//! Randomness: resample `k` uses `ChaCha8Rng::seed_from_u64(seed)` on stream `k`, so results do
//! not depend on how rayon schedules the resamples. Quantiles use numpy's default linear
//! interpolation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use faer::{Mat, MatRef};
use rand::RngExt;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::{MeasureError, find, score_many_in, validate_pair};
use crate::progress::{Cancelled, Progress};

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatsError {
    #[error(transparent)]
    Measure(MeasureError),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("cancelled")]
    Cancelled,
}

impl From<MeasureError> for StatsError {
    fn from(e: MeasureError) -> Self {
        StatsError::Measure(e)
    }
}

impl From<Cancelled> for StatsError {
    fn from(_: Cancelled) -> Self {
        StatsError::Cancelled
    }
}

/// One cell of an all-pairs table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairScore {
    /// Index into `xs`.
    pub row: usize,
    /// Index into `ys`.
    pub col: usize,
    pub measure: String,
    pub value: Option<f64>,
    pub error: Option<String>,
}

/// Every measure on every `(xs[i], ys[j])`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairTable {
    pub measures: Vec<String>,
    pub n_rows: usize,
    pub n_cols: usize,
    /// Row-major over `(row, col)`, then in `measures` order.
    pub cells: Vec<PairScore>,
}

impl PairTable {
    /// The value for `(row, col, measure index)`, if it was computed.
    pub fn get(&self, row: usize, col: usize, measure: usize) -> Option<f64> {
        let k = (row * self.n_cols + col) * self.measures.len() + measure;
        self.cells.get(k).and_then(|c| c.value)
    }
}

/// All measures on all pairs (e.g. model layers × brain areas).
///
/// `conditions(i, j)` is the row layout of pair `(i, j)`: `C` when both arrays were 3-D
/// `(T, C, N)` (see [`super::Measure::check_shapes_in`]).
pub fn all_pairs(
    ids: &[String],
    xs: &[MatRef<'_, f64>],
    ys: &[MatRef<'_, f64>],
    conditions: &dyn Fn(usize, usize) -> Option<usize>,
    progress: &dyn Progress,
) -> Result<PairTable, Cancelled> {
    let total = (xs.len() * ys.len()).max(1);
    let mut cells = Vec::with_capacity(total * ids.len());
    for (i, x) in xs.iter().enumerate() {
        for (j, y) in ys.iter().enumerate() {
            if progress.cancelled() {
                return Err(Cancelled);
            }
            progress.report(
                (i * ys.len() + j) as f64 / total as f64,
                &format!("pair ({i}, {j})"),
            );
            let scores = score_many_in(
                ids,
                *x,
                *y,
                conditions(i, j),
                &super::super::progress::NoProgress,
            )?;
            for (id, r) in ids.iter().zip(scores) {
                cells.push(PairScore {
                    row: i,
                    col: j,
                    measure: id.clone(),
                    value: r.as_ref().ok().copied(),
                    error: r.err().map(|e| e.to_string()),
                });
            }
        }
    }
    progress.report(1.0, "done");
    Ok(PairTable {
        measures: ids.to_vec(),
        n_rows: xs.len(),
        n_cols: ys.len(),
        cells,
    })
}

/// A quantile of a resampled distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quantile {
    pub q: f64,
    pub value: f64,
}

/// Result of [`permutation_test`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PermutationTest {
    pub measure: String,
    pub observed: f64,
    pub higher_is_more_similar: bool,
    pub n_permutations: usize,
    pub seed: u64,
    /// `(1 + #{null at least as similar as observed}) / (1 + n_valid)`.
    pub p_value: f64,
    pub null_mean: f64,
    pub null_sd: f64,
    /// Quantiles 0.01, 0.025, 0.05, 0.5, 0.95, 0.975, 0.99 of the null distribution.
    pub null_quantiles: Vec<Quantile>,
    /// Permutations on which the measure failed (excluded from the null).
    pub n_failed: usize,
}

/// Result of [`bootstrap`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bootstrap {
    pub measure: String,
    pub observed: f64,
    pub n_resamples: usize,
    pub seed: u64,
    pub confidence: f64,
    /// Percentile interval `[q((1−c)/2), q((1+c)/2)]`.
    pub ci_low: f64,
    pub ci_high: f64,
    pub mean: f64,
    pub std_error: f64,
    /// Resamples on which the measure failed (e.g. repeated rows making CCA rank deficient).
    pub n_failed: usize,
}

/// numpy's default (linear) quantile of sorted data.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn rng_for(seed: u64, k: usize) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(k as u64);
    r
}

/// Evaluate `f(k)` for `k in 0..count` on the rayon pool with progress and cancellation.
fn resample<F>(
    count: usize,
    progress: &dyn Progress,
    what: &str,
    f: F,
) -> Result<Vec<Option<f64>>, Cancelled>
where
    F: Fn(usize) -> Option<f64> + Sync,
{
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let step = (count / 100).max(1);
    let out: Vec<Option<f64>> = (0..count)
        .into_par_iter()
        .map(|k| {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            if progress.cancelled() {
                stop.store(true, Ordering::Relaxed);
                return None;
            }
            let v = f(k);
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            if d.is_multiple_of(step) {
                progress.report(d as f64 / count as f64, what);
            }
            v
        })
        .collect();
    if stop.load(Ordering::Relaxed) {
        return Err(Cancelled);
    }
    progress.report(1.0, what);
    Ok(out)
}

fn moments(v: &[f64]) -> (f64, f64) {
    let m = v.len() as f64;
    let mean = v.iter().sum::<f64>() / m;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

fn permuted_rows(y: MatRef<'_, f64>, perm: &[usize]) -> Mat<f64> {
    Mat::from_fn(y.nrows(), y.ncols(), |i, j| y[(perm[i], j)])
}

/// One pair of inputs with its row layout: `conditions` is `C` when both were 3-D `(T, C, N)`
/// arrays (see [`super::Measure::check_shapes_in`]).
#[derive(Clone, Copy)]
pub struct Pair<'a> {
    pub x: MatRef<'a, f64>,
    pub y: MatRef<'a, f64>,
    pub conditions: Option<usize>,
}

impl<'a> Pair<'a> {
    /// A pair of 2-D inputs.
    pub fn new(x: MatRef<'a, f64>, y: MatRef<'a, f64>) -> Self {
        Pair {
            x,
            y,
            conditions: None,
        }
    }
}

/// Row-permutation test of measure `id` on a pair.
pub fn permutation_test(
    id: &str,
    pair: Pair<'_>,
    n_permutations: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<PermutationTest, StatsError> {
    if n_permutations == 0 {
        return Err(StatsError::InvalidArgument(
            "n_permutations must be ≥ 1".into(),
        ));
    }
    let Pair { x, y, conditions } = pair;
    let m = find(id)?;
    validate_pair(x, y)?;
    m.check_shapes_in(x.nrows(), x.ncols(), y.ncols(), conditions)?;
    let observed = m.score_in(x, y, conditions)?;
    let n = x.nrows();
    let null = resample(n_permutations, progress, "permutations", |k| {
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut rng_for(seed, k));
        m.score_in(x, permuted_rows(y, &perm).as_ref(), conditions)
            .ok()
    })?;
    let n_failed = null.iter().filter(|v| v.is_none()).count();
    let mut vals: Vec<f64> = null.into_iter().flatten().collect();
    if vals.is_empty() {
        return Err(StatsError::InvalidArgument(format!(
            "`{id}` failed on every permutation"
        )));
    }
    vals.sort_by(f64::total_cmp);
    let higher = m.info().higher_is_more_similar;
    let extreme = vals
        .iter()
        .filter(|&&v| if higher { v >= observed } else { v <= observed })
        .count();
    let (null_mean, null_sd) = moments(&vals);
    Ok(PermutationTest {
        measure: m.id().to_string(),
        observed,
        higher_is_more_similar: higher,
        n_permutations,
        seed,
        p_value: (1 + extreme) as f64 / (1 + vals.len()) as f64,
        null_mean,
        null_sd,
        null_quantiles: [0.01, 0.025, 0.05, 0.5, 0.95, 0.975, 0.99]
            .iter()
            .map(|&q| Quantile {
                q,
                value: quantile(&vals, q),
            })
            .collect(),
        n_failed,
    })
}

/// Row-bootstrap percentile confidence interval of measure `id` on a pair (whole conditions for a
/// measure that splits them).
pub fn bootstrap(
    id: &str,
    pair: Pair<'_>,
    n_resamples: usize,
    seed: u64,
    confidence: f64,
    progress: &dyn Progress,
) -> Result<Bootstrap, StatsError> {
    if n_resamples < 2 {
        return Err(StatsError::InvalidArgument(
            "n_resamples must be ≥ 2".into(),
        ));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(StatsError::InvalidArgument(format!(
            "confidence must be in (0, 1), got {confidence}"
        )));
    }
    let Pair { x, y, conditions } = pair;
    let m = find(id)?;
    validate_pair(x, y)?;
    m.check_shapes_in(x.nrows(), x.ncols(), y.ncols(), conditions)?;
    let observed = m.score_in(x, y, conditions)?;
    let n = x.nrows();
    // A measure that splits conditions resamples whole conditions (every time step of each drawn
    // condition, in the (T, C) layout); resampling single rows would scramble that layout.
    let blocks = conditions.filter(|_| m.splits_conditions());
    let vals = resample(n_resamples, progress, "bootstrap", |k| {
        let rows = bootstrap_rows(&mut rng_for(seed, k), n, blocks);
        let xb = permuted_rows(x, &rows);
        let yb = permuted_rows(y, &rows);
        m.score_in(xb.as_ref(), yb.as_ref(), conditions).ok()
    })?;
    let n_failed = vals.iter().filter(|v| v.is_none()).count();
    let mut vals: Vec<f64> = vals.into_iter().flatten().collect();
    if vals.len() < 2 {
        return Err(StatsError::InvalidArgument(format!(
            "`{id}` failed on almost every bootstrap resample (resampling repeats rows; measures needing p < n or distinct rows may fail)"
        )));
    }
    vals.sort_by(f64::total_cmp);
    let (mean, std_error) = moments(&vals);
    Ok(Bootstrap {
        measure: m.id().to_string(),
        observed,
        n_resamples,
        seed,
        confidence,
        ci_low: quantile(&vals, (1.0 - confidence) / 2.0),
        ci_high: quantile(&vals, (1.0 + confidence) / 2.0),
        mean,
        std_error,
        n_failed,
    })
}

/// One bootstrap resample of `n` rows: rows drawn with replacement, or with `blocks = Some(C)`
/// conditions drawn with replacement, each with all its time steps (row `t·C + k` of the
/// resample is row `t·C + c_k` of the data).
fn bootstrap_rows(rng: &mut ChaCha8Rng, n: usize, blocks: Option<usize>) -> Vec<usize> {
    match blocks {
        Some(c) => {
            let drawn: Vec<usize> = (0..c).map(|_| rng.random_range(0..c)).collect();
            super::condition_cv::rows_of_conditions(n, c, &drawn)
        }
        None => (0..n).map(|_| rng.random_range(0..n)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    #[test]
    fn condition_resamples_keep_the_time_steps_of_each_condition() {
        let (t, c) = (4, 10);
        let mut repeated = false;
        for k in 0..20 {
            let rows = bootstrap_rows(&mut rng_for(3, k), t * c, Some(c));
            assert_eq!(rows.len(), t * c);
            for (r, &src) in rows.iter().enumerate() {
                // same time step, and the same drawn condition at every time step
                assert_eq!(src / c, r / c);
                assert_eq!(src % c, rows[r % c] % c);
            }
            let mut drawn: Vec<usize> = rows[..c].to_vec();
            drawn.sort_unstable();
            drawn.dedup();
            repeated |= drawn.len() < c;
        }
        assert!(repeated, "drawn with replacement");
        // and the bootstrap of a condition-split measure runs on such resamples
        let x = data(t * c, 5, 1);
        let noise = data(t * c, 4, 2);
        let y = Mat::from_fn(t * c, 4, |i, j| x[(i, j)] + 0.3 * noise[(i, j)]);
        let pair = Pair {
            conditions: Some(c),
            ..Pair::new(x.as_ref(), y.as_ref())
        };
        let b = bootstrap("linreg-cv", pair, 30, 1, 0.9, &NoProgress).unwrap();
        assert!(b.n_failed < 30 && b.ci_low <= b.ci_high, "{b:?}");
    }

    fn data(n: usize, p: usize, seed: u64) -> Mat<f64> {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        Mat::from_fn(n, p, |_, _| r.random_range(-1.0..1.0))
    }

    #[test]
    fn permutation_test_is_seeded_and_detects_signal() {
        let x = data(40, 5, 1);
        let noise = data(40, 5, 2);
        let y = Mat::from_fn(40, 5, |i, j| x[(i, j)] + 0.1 * noise[(i, j)]);
        let a =
            permutation_test("cka", Pair::new(x.as_ref(), y.as_ref()), 99, 7, &NoProgress).unwrap();
        let b =
            permutation_test("cka", Pair::new(x.as_ref(), y.as_ref()), 99, 7, &NoProgress).unwrap();
        assert_eq!(a, b);
        assert!((a.p_value - 0.01).abs() < 1e-12, "{}", a.p_value);
        let d = permutation_test(
            "procrustes-distance=angular",
            Pair::new(x.as_ref(), y.as_ref()),
            49,
            7,
            &NoProgress,
        )
        .unwrap();
        assert!((d.p_value - 0.02).abs() < 1e-12);
        let indep = permutation_test(
            "cka",
            Pair::new(x.as_ref(), noise.as_ref()),
            99,
            3,
            &NoProgress,
        )
        .unwrap();
        assert!(indep.p_value > 0.05);
    }

    #[test]
    fn bootstrap_interval_contains_observed() {
        let x = data(50, 4, 3);
        let noise = data(50, 4, 4);
        let y = Mat::from_fn(50, 4, |i, j| x[(i, j)] + 0.5 * noise[(i, j)]);
        let b = bootstrap(
            "nbs",
            Pair::new(x.as_ref(), y.as_ref()),
            200,
            1,
            0.95,
            &NoProgress,
        )
        .unwrap();
        assert!(b.ci_low <= b.observed && b.observed <= b.ci_high, "{b:?}");
        assert!(b.ci_low < b.ci_high);
    }

    #[test]
    fn all_pairs_table_shape() {
        let xs = [data(20, 3, 1), data(20, 4, 2)];
        let ys = [data(20, 5, 3)];
        let xr: Vec<_> = xs.iter().map(|m| m.as_ref()).collect();
        let yr: Vec<_> = ys.iter().map(|m| m.as_ref()).collect();
        let ids = vec!["cka".to_string(), "nbs".to_string()];
        let t = all_pairs(&ids, &xr, &yr, &|_, _| None, &NoProgress).unwrap();
        assert_eq!(t.cells.len(), 4);
        let direct = super::super::score("nbs", xs[1].as_ref(), ys[0].as_ref()).unwrap();
        assert_eq!(t.get(1, 0, 1), Some(direct));
    }

    #[test]
    fn cancellation_stops() {
        struct Stop;
        impl Progress for Stop {
            fn report(&self, _: f64, _: &str) {}
            fn cancelled(&self) -> bool {
                true
            }
        }
        let x = data(20, 3, 1);
        let r = permutation_test("cka", Pair::new(x.as_ref(), x.as_ref()), 10, 1, &Stop);
        assert_eq!(r, Err(StatsError::Cancelled));
    }
}
