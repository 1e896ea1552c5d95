//! Process-wide settings for the compute code, applied once at start-up.
//!
//! Measured on the optimisation benchmark (`cargo bench -p simscore-core --bench optim`, 2 cores):
//! - glibc serves every allocation above 128 KiB with a fresh `mmap` and unmaps it on free, so
//!   each candle op on a few-MB tensor paid page faults and zeroing (about 20% of a Mante-shaped
//!   run in `perf`). Keeping such blocks in the heap makes those iterations 20-25% faster.
//! - candle 0.11 runs element-wise ops on its own "barrier" thread pool besides rayon, and its
//!   workers spin for 25 000 iterations after every op, taking a core from the rayon threads that
//!   run the GEMMs and faer. One compute pool (rayon) is what we want, so candle's gets no
//!   workers: element-wise ops run on the calling thread.

/// Largest block glibc still serves from the heap, and how much free heap it keeps.
const MMAP_THRESHOLD: i32 = 256 << 20;
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Apply the settings above. Call it first thing in `main`, before any other thread exists.
///
/// # Safety
/// Sets the `CANDLE_NUM_THREADS` environment variable (unless the user set it), which is only
/// sound while no other thread reads or writes the environment.
pub unsafe fn init_compute() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the caller guarantees no other thread touches the environment yet.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}
