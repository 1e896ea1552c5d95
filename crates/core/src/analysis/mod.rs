//! Analyses of a score-optimisation trajectory (spec §1b "Analyses"): what a synthetic dataset Y
//! learns about the target X while its similarity score rises.
//!
//! - [`pc_capture`]: for each principal component of X, the R² with which each recorded iterate Y
//!   captures it, and the score at which it is half-captured (diffscore's
//!   `pc_captured_variance` / `projected_r2`);
//! - [`decoding`]: cross-validated logistic-regression decoding of task labels from Y, per time
//!   step, normalised by the decoding accuracy on X (diffscore's `decoder_logistic` and the
//!   normalisation of `pipeline_optim_score`);
//! - [`logistic`]: the L2-regularised (multinomial) logistic regression behind `decoding`, with
//!   scikit-learn's `LogisticRegression` objective, and the stratified k-fold split.
//!
//! Everything here is pure numerics over [`Array`](crate::array::Array)s (2-D `(samples, units)`
//! or 3-D `(time, conditions, units)`), with progress and cancellation through
//! [`Progress`](crate::progress::Progress).

pub mod decoding;
pub mod logistic;
pub mod pc_capture;

use crate::array::ShapeError;
use crate::linalg::LinalgError;
use crate::progress::Cancelled;

/// Why an analysis could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("{what} has shape {got:?}, but the target has shape {target:?} ({rule})")]
    ShapeMismatch {
        what: &'static str,
        target: Vec<usize>,
        got: Vec<usize>,
        rule: &'static str,
    },
    #[error(
        "PC capture needs at least as many rows as columns (after zero-padding to equal widths): \
         {rows} rows, {cols} columns"
    )]
    TooFewRows { rows: usize, cols: usize },
    #[error("{what} has {got} entries, expected {expected}")]
    Length {
        what: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("{what} contains a non-finite value (NaN or infinity)")]
    NonFinite { what: &'static str },
    #[error("invalid labels: {0}")]
    Labels(String),
    #[error("invalid option: {0}")]
    Options(String),
    #[error(
        "the decoding accuracy on the target for label set {label:?} is 0, so accuracies on Y \
         cannot be normalised by it"
    )]
    ZeroReferenceAccuracy { label: String },
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}
