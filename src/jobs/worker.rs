//! The worker pool: claim a job, hold its lease by heartbeat, run it on a blocking thread, write
//! the outcome fenced by the lease. Several processes on several machines may run pools against
//! one Postgres database; SQLite serves the processes of one machine.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use simscore_core::process::on_compute_pool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::context::Services;
use super::{JobContext, JobError, Registry};
use crate::blobs::BlobStore;
use crate::domain::JobStatus;
use crate::metrics::Metrics;
use crate::store::{Backend, ClaimedJob, NOTIFY_CHANNEL, Store};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Prefix of this process's lease owner ids.
    pub name: String,
    pub concurrency: usize,
    pub device: String,
    pub lease: Duration,
    pub poll: Duration,
}

#[derive(Clone)]
pub struct WorkerPool {
    store: Store,
    blobs: BlobStore,
    registry: Registry,
    metrics: Arc<Metrics>,
    config: WorkerConfig,
}

impl WorkerPool {
    pub fn new(
        store: Store,
        blobs: BlobStore,
        registry: Registry,
        metrics: Arc<Metrics>,
        config: WorkerConfig,
    ) -> Self {
        WorkerPool {
            store,
            blobs,
            registry,
            metrics,
            config,
        }
    }

    /// Runs until `shutdown` fires, then stops claiming and waits for the jobs in flight.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if self.config.concurrency == 0 {
            return Ok(());
        }
        if self.store.backend() == Backend::Postgres {
            tokio::spawn(listen_for_jobs(self.store.clone(), shutdown.clone()));
        }
        let mut slots = tokio::task::JoinSet::new();
        for slot in 0..self.config.concurrency {
            let pool = self.clone();
            let shutdown = shutdown.clone();
            slots.spawn(async move { pool.slot_loop(slot, shutdown).await });
        }
        tracing::info!(
            workers = self.config.concurrency,
            device = %self.config.device,
            kinds = ?self.registry.names(),
            "worker pool started"
        );
        while let Some(done) = slots.join_next().await {
            done?;
        }
        Ok(())
    }

    async fn slot_loop(&self, slot: usize, shutdown: CancellationToken) {
        let worker_id = format!("{}/{slot}", self.config.name);
        let kinds = self.registry.names();
        let mut last_reap = Instant::now() - self.config.lease;
        while !shutdown.is_cancelled() {
            // Register for wake-ups before looking, so an enqueue between the look and the wait
            // is not missed.
            let woken = self.store.wake.notified();
            if last_reap.elapsed() >= self.config.lease / 2 {
                last_reap = Instant::now();
                if let Err(e) = self.store.reap_expired().await {
                    tracing::warn!(error = %e, "reaping expired leases failed");
                }
            }
            match self.store.claim(&worker_id, &kinds, self.lease_ms()).await {
                Ok(Some(claimed)) => {
                    let span = tracing::info_span!("job", id = %claimed.job.id, kind = %claimed.job.kind, attempt = claimed.lease.attempt);
                    self.execute(claimed).instrument(span).await
                }
                Ok(None) => {
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed; retrying");
                    tokio::time::sleep(self.config.poll).await;
                }
            }
        }
    }

    fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    async fn execute(&self, claimed: ClaimedJob) {
        let ClaimedJob { job, lease, inputs } = claimed;
        let started = Instant::now();
        tracing::info!("job started");
        let Some(kind) = self.registry.get(&job.kind).cloned() else {
            // Claims only ask for registered kinds, so this is a programming error.
            let _ = self
                .store
                .finish(
                    &lease,
                    JobStatus::Failed,
                    None,
                    Some("this worker cannot run this job kind"),
                )
                .await;
            return;
        };
        let seed = kind.seed(&job.spec);
        let record = serde_json::json!({
            "seed": seed,
            "simscore_version": crate::version::VERSION,
            "git_sha": crate::version::GIT_SHA,
            "device": self.config.device,
            "dtype": kind.dtype(&job.spec),
            "worker": lease.worker_id,
            "attempt": lease.attempt,
            "inputs": inputs.iter().map(|(id, sha)| serde_json::json!({"dataset": id, "sha256": sha})).collect::<Vec<_>>(),
        });
        if let Err(e) = self.store.set_reproducibility(&lease, &record).await {
            tracing::warn!(error = %e, "could not store the reproducibility record");
        }

        let stop = Arc::new(AtomicBool::new(job.cancel_requested));
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = tokio::spawn(heartbeat(
            self.store.clone(),
            lease.clone(),
            self.config.lease,
            stop.clone(),
            lost.clone(),
        ));
        let services = Services {
            rt: tokio::runtime::Handle::current(),
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            device: self.config.device.clone(),
        };
        let ctx = JobContext::new(
            services,
            lease.clone(),
            seed,
            inputs.into_iter().collect::<HashMap<_, _>>(),
            stop.clone(),
        );
        let spec = job.spec.clone();
        // A lone job runs on the compute pool (see `on_compute_pool`); concurrent jobs run beside
        // it, so that none waits for another to finish.
        let alone = self.config.concurrency == 1;
        let outcome = tokio::task::spawn_blocking(move || {
            if alone {
                on_compute_pool(|| kind.run(spec, &ctx))
            } else {
                kind.run(spec, &ctx)
            }
        })
        .await;
        heartbeat.abort();

        let lease_lost = lost.load(Ordering::Relaxed);
        let (status, write) = match outcome {
            _ if lease_lost => (None, Ok(false)),
            Ok(Ok(result)) => (
                Some(JobStatus::Succeeded),
                self.store
                    .finish(&lease, JobStatus::Succeeded, Some(&result), None)
                    .await,
            ),
            Ok(Err(JobError::Cancelled)) => (
                Some(JobStatus::Cancelled),
                self.store
                    .finish(&lease, JobStatus::Cancelled, None, None)
                    .await,
            ),
            Ok(Err(JobError::Fatal(e))) => (
                Some(JobStatus::Failed),
                self.store
                    .finish(&lease, JobStatus::Failed, None, Some(&e))
                    .await,
            ),
            Ok(Err(JobError::Retryable(e))) => {
                tracing::warn!(error = %e, "job hit a retryable error");
                (None, self.store.retry_or_fail(&lease, &e).await)
            }
            Err(panic) => {
                let e = format!("internal error: the job panicked ({panic}); please report it");
                tracing::error!(error = %e, "job panicked");
                (
                    Some(JobStatus::Failed),
                    self.store
                        .finish(&lease, JobStatus::Failed, None, Some(&e))
                        .await,
                )
            }
        };
        match write {
            Ok(true) => {
                if let Some(status) = status {
                    self.metrics
                        .observe_job(&job.kind, status, started.elapsed().as_secs_f64());
                }
                tracing::info!(status = ?status, seconds = started.elapsed().as_secs_f64(), "job finished");
            }
            Ok(false) => {
                tracing::warn!("lease lost before the job finished; its outcome was discarded")
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the job's outcome; the lease will expire and the job will run again")
            }
        }
    }
}

/// Renews the lease every third of its length; flags `stop` on a cancellation request and both
/// `stop` and `lost` when the lease is gone.
async fn heartbeat(
    store: Store,
    lease: crate::domain::Lease,
    length: Duration,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(length / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        match store.heartbeat(&lease, length.as_millis() as i64).await {
            Ok(Some(cancel)) => {
                if cancel {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Ok(None) => {
                lost.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed; will retry"),
        }
    }
}

/// Wakes this process's idle workers when any process enqueues a job (Postgres LISTEN/NOTIFY).
async fn listen_for_jobs(store: Store, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match sqlx::postgres::PgListener::connect(store.url()).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    loop {
                        tokio::select! {
                            n = listener.recv() => match n {
                                Ok(_) => store.wake.notify_waiters(),
                                Err(e) => { tracing::warn!(error = %e, "LISTEN connection lost"); break; }
                            },
                            _ = shutdown.cancelled() => return,
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not open a LISTEN connection; polling only")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
