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

/// A sub-task's view of a parent's progress: its fractions map into `[offset, offset + share)`
/// of the whole (never reaching the end, which the parent reports), its messages get a prefix.
pub struct Slice<'a> {
    inner: &'a dyn Progress,
    offset: f64,
    share: f64,
    prefix: String,
}

impl<'a> Slice<'a> {
    pub fn new(inner: &'a dyn Progress, offset: f64, share: f64, prefix: &str) -> Self {
        Slice {
            inner,
            offset,
            share,
            prefix: prefix.to_string(),
        }
    }
}

impl Progress for Slice<'_> {
    fn report(&self, fraction: f64, message: &str) {
        let at = self.offset + self.share * fraction.clamp(0.0, 0.999);
        if self.prefix.is_empty() {
            self.inner.report(at, message);
        } else {
            self.inner
                .report(at, &format!("{}: {message}", self.prefix));
        }
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Record(Mutex<Vec<(f64, String)>>);
    impl Progress for Record {
        fn report(&self, f: f64, m: &str) {
            self.0.lock().unwrap().push((f, m.to_string()));
        }
    }

    #[test]
    fn slices_map_into_their_share() {
        let r = Record(Mutex::new(vec![]));
        let s = Slice::new(&r, 0.5, 0.25, "part");
        s.report(0.0, "a");
        s.report(1.0, "b");
        let got = r.0.lock().unwrap().clone();
        assert_eq!(got[0], (0.5, "part: a".to_string()));
        assert!(got[1].0 < 0.75 && got[1].0 > 0.749, "{got:?}");
    }
}
