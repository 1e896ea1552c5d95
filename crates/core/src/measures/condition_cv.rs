//! diffscore's cross-validation over *conditions* (`procrustes-angular-cv`, `linreg-cv`, …).
//!
//! The pair must come from 3-D `(T, C, N)` arrays, flattened row-major (row `t·C + c`). Each of
//! [`SPLITS`] splits fits on every time step of a random `⌊0.8·C⌋` of the conditions and scores
//! on the rest; the measure is the mean over the splits.
//!
//! diffscore draws the splits with torch's unseeded `randperm`, so its value changes from call to
//! call. Here the condition permutations come from a fixed seed, so a score is reproducible; given
//! the splits, the computation is the reference's (the fixture test feeds it torch's own
//! permutations).

use faer::MatRef;

use super::spec::{Agg, Out};
use super::{MeasureError, guarded_arccos, procrustes, regression};

/// Number of random splits, as diffscore.
pub(crate) const SPLITS: usize = 5;
/// Share of the conditions fitted on in each split, as diffscore (`int(C · 0.8)` of them).
const FIT_RATIO: f64 = 0.8;
/// Seed of the condition permutations.
const SEED: u64 = 0;

/// What is fitted on the training conditions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CvFit {
    /// The Procrustes rotation (diffscore `RegCCA(alpha=1)`), scored by the angular distance.
    Procrustes,
    /// Least squares predicting X from Y (diffscore `LinRegScore`), scored by R².
    LinReg,
}

/// Number of conditions fitted on in each split.
pub(crate) fn fit_conditions(conditions: usize) -> usize {
    (conditions as f64 * FIT_RATIO) as usize
}

/// The [`SPLITS`] condition permutations: Fisher–Yates driven by splitmix64 from [`SEED`].
pub(crate) fn permutations(conditions: usize) -> Vec<Vec<usize>> {
    let mut state = SEED;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..SPLITS)
        .map(|_| {
            let mut perm: Vec<usize> = (0..conditions).collect();
            for i in (1..conditions).rev() {
                perm.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            perm
        })
        .collect()
}

/// Rows of a `(T, C)` layout with `rows` rows that hold the conditions `cs`, each at every time
/// step, in the order of the reference's `X[:, cs, :].reshape(-1, N)`: row `t·C + k` of the
/// selection is row `t·C + cs[k]` of the data.
pub(crate) fn rows_of_conditions(rows: usize, conditions: usize, cs: &[usize]) -> Vec<usize> {
    (0..rows / conditions)
        .flat_map(|t| cs.iter().map(move |&c| t * conditions + c))
        .collect()
}

/// (train, test) rows of each split: the first [`fit_conditions`] of a permutation are fitted
/// on, the rest scored.
fn row_splits(
    rows: usize,
    conditions: usize,
    perms: &[Vec<usize>],
) -> Vec<(Vec<usize>, Vec<usize>)> {
    let n_fit = fit_conditions(conditions);
    let rows_of = |cs: &[usize]| rows_of_conditions(rows, conditions, cs);
    perms
        .iter()
        .map(|p| (rows_of(&p[..n_fit]), rows_of(&p[n_fit..])))
        .collect()
}

/// The measure with the fixed-seed splits; `out` is `Angular` or `AngularScore` for Procrustes,
/// `Score` (R²) or `Angular` for least squares.
pub(crate) fn score(
    fit: CvFit,
    out: Out,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    conditions: usize,
    id: &str,
) -> Result<f64, MeasureError> {
    score_with(fit, out, x, y, conditions, &permutations(conditions), id)
}

/// The measure on the splits given by `perms` (each a permutation of the conditions).
pub(crate) fn score_with(
    fit: CvFit,
    out: Out,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    conditions: usize,
    perms: &[Vec<usize>],
    id: &str,
) -> Result<f64, MeasureError> {
    let sp = row_splits(x.nrows(), conditions, perms);
    match fit {
        CvFit::Procrustes => procrustes::procrustes_on_splits(x, y, &sp, out, id),
        CvFit::LinReg => {
            let r2 = regression::linreg_on_splits(x, y, 0.0, &sp, Agg::R2, id)?;
            let per_split = |r: f64| -> Result<f64, MeasureError> {
                match out {
                    Out::Angular if (r - 1.0).abs() < 1e-5 => Ok(0.0),
                    Out::Angular if r < -1.0 => Err(MeasureError::Degenerate {
                        measure: id.to_string(),
                        reason: format!(
                            "a split's held-out R² is {r:.4}, below −1, where arccos(R²) is undefined; use linreg-cv (the R² itself)"
                        ),
                    }),
                    Out::Angular => Ok(guarded_arccos(r)),
                    _ => Ok(r),
                }
            };
            let total = r2
                .into_iter()
                .map(per_split)
                .sum::<Result<f64, MeasureError>>()?;
            Ok(total / sp.len() as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::FRAC_PI_2;

    #[test]
    fn permutations_are_seeded_permutations() {
        let p = permutations(13);
        assert_eq!(p, permutations(13));
        assert_eq!(p.len(), SPLITS);
        for perm in &p {
            let mut s = perm.clone();
            s.sort_unstable();
            assert_eq!(s, (0..13).collect::<Vec<_>>());
        }
        assert_ne!(p[0], p[1]);
    }

    /// diffscore's values on the permutations its `torch.randperm` drew
    /// (`tests/fixtures/measures/make_diffscore_fixtures.py`).
    #[test]
    fn values_match_diffscore_on_its_splits() {
        use serde_json::Value;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/measures/diffscore.json"
        );
        let data: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
        // (T·C, N) row-major, and C
        let flat = |v: &Value| -> (faer::Mat<f64>, usize) {
            let t = v.as_array().expect("time steps");
            let c = t[0].as_array().expect("conditions").len();
            let p = t[0][0].as_array().expect("units").len();
            let m = faer::Mat::from_fn(t.len() * c, p, |r, j| {
                t[r / c][r % c][j].as_f64().expect("number")
            });
            (m, c)
        };
        let mut compared = 0;
        let entries = data["entries"].as_array().expect("entries");
        for e in entries.iter().filter(|e| e["kind"] == "condition_cv") {
            let case = &data["cases"][e["case"].as_str().unwrap()];
            let ((x, c), (y, _)) = (flat(&case["x"]), flat(&case["y"]));
            let id = e["measure"].as_str().unwrap();
            let perms: Vec<Vec<usize>> = serde_json::from_value(e["permutations"].clone()).unwrap();
            let want = e["value"].as_f64().unwrap();
            let on_splits = |fit, out| score_with(fit, out, x.as_ref(), y.as_ref(), c, &perms, id);
            // (ours, reference); diffscore keeps the split scores in a float32 tensor
            let mut check = |got: f64, want: f64, what: &str| {
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{} {what} seed {}: ours {got} ref {want}",
                    e["case"],
                    e["torch_seed"]
                );
                compared += 1;
            };
            match id {
                "procrustes-angular-cv" => {
                    check(
                        on_splits(CvFit::Procrustes, Out::Angular).unwrap(),
                        want,
                        id,
                    );
                    let score = on_splits(CvFit::Procrustes, Out::AngularScore).unwrap();
                    check(score, 1.0 - want / FRAC_PI_2, "its angular score");
                }
                // the k-fold Procrustes (a rebound name in diffscore): deterministic
                "procrustes-angular-cv-score" => {
                    let got = super::super::score_in(id, x.as_ref(), y.as_ref(), Some(c)).unwrap();
                    check(got, want, id);
                }
                "linreg-cv" => check(on_splits(CvFit::LinReg, Out::Score).unwrap(), want, id),
                "linreg-angular-cv" => {
                    check(on_splits(CvFit::LinReg, Out::Angular).unwrap(), want, id)
                }
                other => panic!("unexpected id {other}"),
            }
        }
        assert_eq!(compared, 45);
    }

    #[test]
    fn splits_cover_each_time_step_of_their_conditions() {
        let perms = vec![vec![3, 0, 4, 1, 2]];
        let sp = row_splits(15, 5, &perms);
        // ⌊0.8·5⌋ = 4 conditions fitted, at t = 0, 1, 2
        assert_eq!(sp[0].0, vec![3, 0, 4, 1, 8, 5, 9, 6, 13, 10, 14, 11]);
        assert_eq!(sp[0].1, vec![2, 7, 12]);
    }
}
