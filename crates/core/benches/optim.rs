//! Optimisation-loop throughput (iterations per second: forward score + backward + Adam step) for
//! the measures and targets, f32 on the CPU as diffscore's `MeasureOptim`:
//!
//! - `ultrametric` (100 × 50), the built-in dataset;
//! - `mante` (15, 72, 727) and `hatsopoulos` (10, 391, 141): Gaussian with a power-law spectrum,
//!   `X_ij = g_ij / sqrt(j + 1)` (PCA variances ∝ 1/k), from the splitmix64 + Box–Muller stream of
//!   `benches/measures.rs` (streams 7 and 8), which `benches/python/bench_optim_reference.py`
//!   reproduces bit for bit.
//!
//! `SIMSCORE_BENCH_TARGETS=ultrametric,mante` and `SIMSCORE_BENCH_MEASURES=cka,nbs` restrict the
//! grid; `SIMSCORE_BENCH_DEVICE=cuda:0` runs on a GPU (build with `--features cuda`). Run with
//! `RAYON_NUM_THREADS=2 cargo bench -p simscore-core --bench optim`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use simscore_core::array::{Array, Dtype};
use simscore_core::optim::{Optimization, OptimizeSpec, datasets};

/// The service binary's allocator (see `src/main.rs`), so that the benchmarks time what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Steps timed per fresh run: the reference script times iterations 1 to 30.
const WINDOW: u64 = 30;

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uniform(stream: u64, k: u64) -> f64 {
    ((splitmix64((stream << 40) + k) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// `(T, C, N)` Gaussian with column `j` scaled by `1/sqrt(j+1)`.
fn power_law(stream: u64, shape: [usize; 3]) -> Array {
    let p = shape[2];
    let len = shape.iter().product::<usize>();
    let data = (0..len)
        .map(|k| {
            let (u1, u2) = (
                uniform(stream, 2 * k as u64),
                uniform(stream, 2 * k as u64 + 1),
            );
            let g = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            g / ((k % p + 1) as f64).sqrt()
        })
        .collect();
    Array::new(shape.to_vec(), Dtype::Float64, data)
}

fn selected(var: &str, all: &[&'static str]) -> Vec<&'static str> {
    match std::env::var(var) {
        Ok(v) => all
            .iter()
            .copied()
            .filter(|a| v.split(',').any(|s| s == *a))
            .collect(),
        Err(_) => all.to_vec(),
    }
}

fn bench_optim(c: &mut Criterion) {
    let targets = selected(
        "SIMSCORE_BENCH_TARGETS",
        &["ultrametric", "mante", "hatsopoulos"],
    );
    let measures = selected(
        "SIMSCORE_BENCH_MEASURES",
        &[
            "cka",
            "nbs",
            "procrustes-angular-score",
            "ridge-lambda100-r2#5folds_cv",
        ],
    );
    let device = std::env::var("SIMSCORE_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    for target in targets {
        let x = match target {
            "ultrametric" => datasets::dataset("ultrametric", 0).unwrap().data,
            "mante" => power_law(7, [15, 72, 727]),
            _ => power_law(8, [10, 391, 141]),
        };
        let mut g = c.benchmark_group(format!("optim_{target}"));
        g.throughput(Throughput::Elements(1));
        let big = target != "ultrametric";
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(if big { 2 } else { 1 }))
            .measurement_time(Duration::from_secs(if big { 8 } else { 3 }));
        for m in &measures {
            let mut spec = OptimizeSpec::new(m);
            spec.max_iter = usize::MAX / 2;
            spec.device = device.clone();
            // Like the reference script: steps 1..=30 of fresh runs, so both time the same part of
            // the trajectory (a long run reaches the NaN-resampling regime near score 1, whose
            // per-step cost differs), with the set-up and the first step untimed.
            g.bench_function(BenchmarkId::from_parameter(m), |b| {
                b.iter_custom(|steps| {
                    let mut timed = Duration::ZERO;
                    let mut done = 0;
                    while done < steps {
                        let mut run = Optimization::new(&x, &spec, None).unwrap();
                        run.step().unwrap();
                        let window = (steps - done).min(WINDOW);
                        let start = Instant::now();
                        for _ in 0..window {
                            run.step().unwrap();
                        }
                        timed += start.elapsed();
                        done += window;
                    }
                    timed
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_optim);

fn main() {
    // SAFETY: first thing in main, before criterion or the compute pools start threads.
    unsafe { simscore_core::process::init_compute() };
    // Timed as a job runs: on the compute pool.
    simscore_core::process::on_compute_pool(|| {
        benches();
        Criterion::default().configure_from_args().final_summary();
    });
}
