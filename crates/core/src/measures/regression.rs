//! Regression-based measures (spec §1a F). Filled in by the next commit.

use faer::MatRef;

use super::MeasureError;
use super::context::Ctx;
use super::spec::Agg;

fn todo(id: &str) -> MeasureError {
    MeasureError::Numerical {
        measure: id.to_string(),
        message: "not implemented yet".into(),
    }
}

pub(crate) fn linreg(
    _x: MatRef<'_, f64>,
    _y: MatRef<'_, f64>,
    _lambda: f64,
    _folds: Option<usize>,
    _agg: Agg,
    id: &str,
) -> Result<f64, MeasureError> {
    Err(todo(id))
}

pub(crate) fn linreg_qr(_ctx: &Ctx<'_>, _angular: bool, id: &str) -> Result<f64, MeasureError> {
    Err(todo(id))
}

pub(crate) fn deepdive(
    _x: MatRef<'_, f64>,
    _y: MatRef<'_, f64>,
    _agg: Agg,
    id: &str,
) -> Result<f64, MeasureError> {
    Err(todo(id))
}

pub(crate) fn neuroai(
    _x: MatRef<'_, f64>,
    _y: MatRef<'_, f64>,
    id: &str,
) -> Result<f64, MeasureError> {
    Err(todo(id))
}
