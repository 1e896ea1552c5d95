//! How long computations report progress and learn that they should stop.

/// Implemented by whoever runs a computation (a job worker, the CLI's progress bar, a test).
/// Compute code calls `report` now and then and stops early, returning `Cancelled`, once
/// `cancelled()` is true.
pub trait Progress: Sync {
    /// `fraction` in 0..=1; `message` says what is being done.
    fn report(&self, fraction: f64, message: &str);
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that goes nowhere, for callers that do not care.
pub struct NoProgress;

impl Progress for NoProgress {
    fn report(&self, _: f64, _: &str) {}
}

/// Returned by computations that observed `Progress::cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;
