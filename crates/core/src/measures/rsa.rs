//! RSA (spec §1a E). Filled in by the next commit.

use super::MeasureError;
use super::context::Ctx;
use super::spec::{Compare, Rdm};

pub(crate) fn rsa(_ctx: &Ctx<'_>, _rdm: Rdm, _cmp: Compare, id: &str) -> Result<f64, MeasureError> {
    Err(MeasureError::Numerical {
        measure: id.to_string(),
        message: "not implemented yet".into(),
    })
}
