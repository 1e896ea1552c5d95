//! Queue claim throughput: enqueue N jobs, then W concurrent workers claim and finish them through
//! the real store (Postgres when SIMSCORE_BENCH_POSTGRES_URL is set, else SQLite in a temp dir).
//!
//!     cargo bench --bench queue                     # SQLite
//!     SIMSCORE_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench queue
//!
//! Not a criterion benchmark: one timed run of a fixed workload, printed as claims per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::json;
use simscore::domain::{JobStatus, Role};
use simscore::store::{NewJob, Store};

const JOBS: usize = 2000;
const WORKERS: usize = 8;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = match std::env::var("SIMSCORE_BENCH_POSTGRES_URL") {
        Ok(server) => {
            let name = format!("simscore_bench_{}", uuid::Uuid::new_v4().simple());
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await?;
            sqlx::Executor::execute(
                &mut admin,
                sqlx::AssertSqlSafe(format!("create database {name}")),
            )
            .await?;
            let base = server
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&server)
                .to_string();
            format!("{base}/{name}")
        }
        Err(_) => format!("sqlite://{}/bench.db", dir.path().display()),
    };
    let store = Store::connect(&url, 16).await?;
    let user = store.ensure_user("bench", Role::User).await?;
    let started = Instant::now();
    for i in 0..JOBS {
        store
            .enqueue(NewJob {
                owner: user.id.clone(),
                kind: "score".into(),
                spec: json!({"i": i}),
                priority: 0,
                max_attempts: 3,
                idempotency_key: None,
                inputs: vec![],
            })
            .await?;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();

    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let store = store.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("bench/{w}");
            while let Some(c) = store.claim(&id, &["score"], 30_000).await? {
                store
                    .finish(&c.lease, JobStatus::Succeeded, Some(&json!({})), None)
                    .await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let claim_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        done.load(Ordering::Relaxed),
        JOBS,
        "every job claimed exactly once"
    );
    println!(
        "{}: enqueue {JOBS} jobs sequentially: {:.0} jobs/s; {WORKERS} workers claim+finish: {:.0} jobs/s",
        store.backend().name(),
        JOBS as f64 / enqueue_secs,
        JOBS as f64 / claim_secs
    );
    Ok(())
}
