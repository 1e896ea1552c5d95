//! Soft matching and ENSD (spec §1a G). Filled in by a later commit.

use super::MeasureError;
use super::context::Ctx;

pub(crate) fn soft_match(_ctx: &Ctx<'_>, id: &str) -> Result<f64, MeasureError> {
    Err(MeasureError::Numerical {
        measure: id.to_string(),
        message: "not implemented yet".into(),
    })
}

/// ENSD = ⟨K_X, K_Y⟩ · tr K_X · tr K_Y / (‖K_X‖² ‖K_Y‖²) on centred data (diffscore `ensd`).
pub(crate) fn ensd(ctx: &Ctx<'_>, id: &str) -> Result<f64, MeasureError> {
    let t = ctx.linear();
    if t.hxx == 0.0 || t.hyy == 0.0 {
        return Err(MeasureError::Degenerate {
            measure: id.to_string(),
            reason: "X or Y has no variance across rows".into(),
        });
    }
    Ok(t.hxy * ctx.nx2() * ctx.ny2() / (t.hxx * t.hyy))
}
