//! The similarity-measure catalogue: every measure of `shared/specs/measures.md` §1a, computed in
//! f64 exactly as its reference implementation defines it.
//!
//! Inputs are `X ∈ R^{n×p1}` and `Y ∈ R^{n×p2}` (rows = stimuli/conditions, columns = units; a
//! 3-D `(T, C, N)` upload is flattened row-major to `(T·C, N)` by [`crate::array::Array::to_mat`]).
//!
//! Ids follow the similarity-repository grammar `<family>[-<param>=<value>…]-<output>` (e.g.
//! `cka-kernel=linear-hsic=gretton-score`, `procrustes-distance=angular`,
//! `rsa-rdm=correlation-compare=spearman`); a `measure/<repo>/` prefix is accepted and ignored.
//! The diffscore ids (`cka`, `nbs`, `procrustes-angular-score`, `ridge-lambda100-r2#5folds_cv`, …)
//! are aliases. Parametrised ids (`shape_metric-alpha=0.5-distance=angular`,
//! `ridge-lambda37-r2#5folds_cv`, `svcca-dim=7-score`, `cka-kernel=(rbf-sigma=0.5)-hsic=gretton-score`)
//! are parsed; [`catalogue`] lists the canonical forms with default parameters.
//!
//! Entry points:
//! - [`find`] resolves an id or alias to a [`Measure`] (with its [`MeasureInfo`]);
//! - [`check_shapes`] is the cheap validation run at job submission;
//! - [`score`] computes one measure; [`score_many`] computes several on the same pair and shares
//!   centring, cross-products and decompositions between them;
//! - [`stats`] has the all-pairs table, the permutation test and the bootstrap.
//!
//! Degenerate inputs give the analytic value or a [`MeasureError`] naming the requirement, never a
//! NaN: arccos is guarded as the registry does (`|s − 1| < 1e−10 ⇒ 0`) and scores with a bounded
//! range are clamped to it (the clamp only ever moves a value by rounding error).

mod assignment;
mod cca;
mod cka;
mod condition_cv;
mod context;
mod matching;
mod procrustes;
pub(crate) mod regression;
mod rsa;
mod spec;
pub mod stats;

use faer::MatRef;
use serde::Serialize;

use crate::progress::{Cancelled, Progress};
pub use assignment::linear_sum_assignment;
use context::Ctx;
pub use spec::{catalogue, find};

/// Which family a measure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Cka,
    Nbs,
    Procrustes,
    ShapeMetric,
    Cca,
    Rsa,
    Regression,
    Matching,
    Ensd,
}

/// Invariance of a measure to transforms applied to the units (columns) of either argument, each
/// argument with its own transform: `f(g₁(X), g₂(Y)) = f(X, Y)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invariances {
    /// Reordering the units.
    pub permutation: bool,
    /// `X ↦ X Q` with `Q` orthogonal.
    pub orthogonal: bool,
    /// `X ↦ c X` with `c > 0`.
    pub isotropic_scaling: bool,
    /// `X ↦ X + 1 bᵀ` (the same offset added to every row).
    pub translation: bool,
    /// `X ↦ X A` with `A` invertible.
    pub invertible_linear: bool,
}

/// A parameter of a parametrised id, with its default.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParameterInfo {
    pub name: String,
    /// The default (or, for a resolved id, the value in use), as written in ids.
    pub default: String,
    pub description: String,
}

/// Everything a client needs to know about one measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasureInfo {
    /// Canonical id, in the similarity-repository grammar where the registry has the measure.
    pub id: String,
    /// Other accepted ids (diffscore's flat ids, registry synonyms).
    pub aliases: Vec<String>,
    pub family: Family,
    pub description: String,
    /// `true` for similarities (scores), `false` for distances.
    pub higher_is_more_similar: bool,
    /// `[min, max]`; `null` stands for −∞ / +∞.
    pub range: [Option<f64>; 2],
    pub parameters: Vec<ParameterInfo>,
    pub invariances: Invariances,
    /// `f(X, Y) = f(Y, X)`.
    pub symmetric: bool,
    /// Requirements on the shapes (`n` rows, `p1`/`p2` columns), in words.
    pub requirements: String,
    /// The implementation this measure matches, with version or commit.
    pub reference: String,
}

/// Why a measure could not be computed. Messages tell the user what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MeasureError {
    #[error("unknown measure `{id}`{}", suggest(suggestions))]
    UnknownMeasure {
        id: String,
        suggestions: Vec<String>,
    },
    #[error("invalid parameter in `{id}`: {message}")]
    InvalidParameter { id: String, message: String },
    #[error("X and Y must have the same number of rows (stimuli/conditions); got {n_x} and {n_y}")]
    RowMismatch { n_x: usize, n_y: usize },
    #[error("{which} is empty (shape {rows}×{cols}); it needs at least one row and one column")]
    Empty {
        which: String,
        rows: usize,
        cols: usize,
    },
    #[error("{which} has a non-finite value ({value}) at row {row}, column {col}")]
    NonFinite {
        which: String,
        row: usize,
        col: usize,
        value: String,
    },
    #[error("`{measure}` needs {requirement}; got {got}")]
    Requirement {
        measure: String,
        requirement: String,
        got: String,
    },
    #[error("`{measure}` is undefined here: {reason}")]
    Degenerate { measure: String, reason: String },
    #[error("`{measure}`: numerical failure: {message}")]
    Numerical { measure: String, message: String },
}

fn suggest(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", s.join(", "))
    }
}

/// A resolved measure: its metadata plus the parsed parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    info: MeasureInfo,
    spec: spec::Spec,
}

impl Measure {
    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn info(&self) -> &MeasureInfo {
        &self.info
    }

    /// Whether the measure splits the conditions of a 3-D `(T, C, N)` input (and needs one).
    pub fn splits_conditions(&self) -> bool {
        matches!(self.spec, spec::Spec::ConditionCv { .. })
    }

    /// Shape validation without data (see [`check_shapes`]), for 2-D inputs.
    pub fn check_shapes(&self, n: usize, p1: usize, p2: usize) -> Result<(), MeasureError> {
        self.check_shapes_in(n, p1, p2, None)
    }

    /// Shape validation with the row layout: `conditions` is `C` when both arrays were 3-D
    /// `(T, C, N)`, flattened to `T·C` rows.
    pub fn check_shapes_in(
        &self,
        n: usize,
        p1: usize,
        p2: usize,
        conditions: Option<usize>,
    ) -> Result<(), MeasureError> {
        self.spec.check_shapes(&self.info.id, n, p1, p2, conditions)
    }

    /// The measure on one pair of 2-D inputs.
    pub fn score(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<f64, MeasureError> {
        self.score_in(x, y, None)
    }

    /// The measure on one pair, with the row layout as in [`Measure::check_shapes_in`].
    pub fn score_in(
        &self,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        conditions: Option<usize>,
    ) -> Result<f64, MeasureError> {
        let ctx = Ctx::validated(x, y, conditions)?;
        self.check_shapes_in(x.nrows(), x.ncols(), y.ncols(), conditions)?;
        self.eval(&ctx)
    }

    fn eval(&self, ctx: &Ctx<'_>) -> Result<f64, MeasureError> {
        let v = self.spec.eval(&self.info.id, ctx)?;
        finish(&self.info, v)
    }
}

/// Clamp rounding overshoot into the declared range; refuse NaN and values clearly beyond it.
fn finish(info: &MeasureInfo, v: f64) -> Result<f64, MeasureError> {
    if v.is_nan() {
        return Err(MeasureError::Numerical {
            measure: info.id.clone(),
            message: "the computation produced NaN".into(),
        });
    }
    let [lo, hi] = info.range;
    // rounding can overshoot a bound slightly (CKA of X with itself at 1 + 2ε); anything beyond
    // that would mean the declared range is wrong, which the clamp must not hide
    let slack = |b: f64| 1e-8 * b.abs().max(1.0);
    let outside =
        lo.is_some_and(|lo| v < lo - slack(lo)) || hi.is_some_and(|hi| v > hi + slack(hi));
    if outside {
        return Err(MeasureError::Numerical {
            measure: info.id.clone(),
            message: format!(
                "the value {v} is outside the measure's declared range {:?}; please report this",
                info.range
            ),
        });
    }
    Ok(v.clamp(lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY)))
}

/// Row counts equal, both non-empty, all values finite.
pub fn validate_pair(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<(), MeasureError> {
    validate_shapes(x, y)?;
    check_finite("X", x)?;
    check_finite("Y", y)
}

/// Row counts equal, both non-empty.
pub(crate) fn validate_shapes(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<(), MeasureError> {
    for (which, m) in [("X", x), ("Y", y)] {
        if m.nrows() == 0 || m.ncols() == 0 {
            return Err(MeasureError::Empty {
                which: which.into(),
                rows: m.nrows(),
                cols: m.ncols(),
            });
        }
    }
    if x.nrows() != y.nrows() {
        return Err(MeasureError::RowMismatch {
            n_x: x.nrows(),
            n_y: y.nrows(),
        });
    }
    Ok(())
}

/// All values of `m` (the side named `which`) finite, or the first that is not.
pub(crate) fn check_finite(which: &str, m: MatRef<'_, f64>) -> Result<(), MeasureError> {
    if crate::linalg::all_finite(m) {
        return Ok(());
    }
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            let v = m[(i, j)];
            if !v.is_finite() {
                return Err(MeasureError::NonFinite {
                    which: which.into(),
                    row: i,
                    col: j,
                    value: v.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Cheap validation at job submission: is `id` known, and can it run on `n` rows with `p1` and
/// `p2` columns (e.g. "CCA needs p < n", "debiased CKA needs n ≥ 4")?
pub fn check_shapes(id: &str, n: usize, p1: usize, p2: usize) -> Result<(), MeasureError> {
    find(id)?.check_shapes(n, p1, p2)
}

/// One measure on one pair of 2-D inputs.
pub fn score(id: &str, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<f64, MeasureError> {
    find(id)?.score(x, y)
}

/// One measure on one pair, with the row layout as in [`Measure::check_shapes_in`].
pub fn score_in(
    id: &str,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    conditions: Option<usize>,
) -> Result<f64, MeasureError> {
    find(id)?.score_in(x, y, conditions)
}

/// Several measures on the same pair. Work is shared: the centred matrices, the cross-product
/// `XcᵀYc` and its singular values (NBS, Procrustes, Bures), the linear CKA terms, the Grams, the
/// canonical correlations, … are computed once, the first time a measure asks for them.
///
/// The outer `Result` is `Err` only if `progress` asked to stop; each measure's own failure is in
/// its slot.
pub fn score_many(
    ids: &[String],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    progress: &dyn Progress,
) -> Result<Vec<Result<f64, MeasureError>>, Cancelled> {
    score_many_in(ids, x, y, None, progress)
}

/// [`score_many`] with the row layout as in [`Measure::check_shapes_in`].
pub fn score_many_in(
    ids: &[String],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    conditions: Option<usize>,
    progress: &dyn Progress,
) -> Result<Vec<Result<f64, MeasureError>>, Cancelled> {
    let ctx = Ctx::validated(x, y, conditions);
    let mut out = Vec::with_capacity(ids.len());
    for (k, id) in ids.iter().enumerate() {
        if progress.cancelled() {
            return Err(Cancelled);
        }
        progress.report(k as f64 / ids.len().max(1) as f64, id);
        let r = ctx.as_ref().map_err(Clone::clone).and_then(|ctx| {
            let m = find(id)?;
            m.check_shapes_in(x.nrows(), x.ncols(), y.ncols(), conditions)?;
            m.eval(ctx)
        });
        out.push(r);
    }
    progress.report(1.0, "done");
    Ok(out)
}

/// Shared by the family modules: arccos guarded as the registry's `postprocessing/arccos`.
pub(crate) fn guarded_arccos(s: f64) -> f64 {
    if (s - 1.0).abs() < 1e-10 {
        0.0
    } else {
        s.clamp(-1.0, 1.0).acos()
    }
}

#[cfg(test)]
mod tests;
