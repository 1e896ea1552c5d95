//! Shared by the optimisation tests.

/// The device the optimisation tests run on: `SIMSCORE_TEST_DEVICE` (`cpu` by default, `cuda:0`
/// on a GPU machine with a `cuda` build, see `scripts/gpu_check.sh`).
pub fn test_device() -> String {
    std::env::var("SIMSCORE_TEST_DEVICE").unwrap_or_else(|_| "cpu".into())
}
