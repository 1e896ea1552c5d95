//! Process-wide settings for the compute code, applied once at start-up, and
//! [`on_compute_pool`], which runs a computation on the rayon pool's own threads.
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

/// Runs `f` on a thread of the global rayon pool; the calling thread sleeps until it returns.
///
/// Why: compute started on a thread outside the pool runs beside all of the pool's workers, one
/// thread more than there are cores. Between parallel sections the idle workers spin and
/// `sched_yield`, taking CPU from the thread doing the sequential parts: on 2 cores an angular
/// Procrustes at n=1000, p=500 spent a quarter of its time in the scheduler and ran 25-35% slower
/// than from inside the pool.
///
/// For one computation at a time: a pool thread that waits inside `f` may pick up another
/// computation submitted this way and finish it first, so concurrent jobs should call the
/// compute code directly instead.
pub fn on_compute_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        // `scope` hands its body to a pool thread when called from outside the pool.
        rayon::scope(|_| f())
    }
}
