//! Build identity, reported by `/v1/version`, `--version` and every job's reproducibility record.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_SHA: &str = env!("SIMSCORE_GIT_SHA");
pub const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("SIMSCORE_GIT_SHA"),
    ")"
);
