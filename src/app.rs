//! Building the application from configuration, separately from running it, so that tests can
//! bind port 0 and read the port back.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiConfig, AppState};
use crate::auth::Authenticator;
use crate::blobs::BlobStore;
use crate::config::{ServeArgs, StorageArgs, WorkerArgs};
use crate::jobs::Registry;
use crate::jobs::worker::{WorkerConfig, WorkerPool};
use crate::metrics::Metrics;
use crate::store::Store;

/// Opens the database (applying migrations) and the blob store.
pub async fn open_storage(args: &StorageArgs) -> anyhow::Result<(Store, BlobStore)> {
    let store = Store::connect(&args.database_url(), args.db_max_connections).await?;
    let blobs = BlobStore::open(&args.blob_store, args.staging_dir.as_deref())?;
    Ok((store, blobs))
}

fn worker_config(args: &WorkerArgs) -> WorkerConfig {
    let name = args.worker_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".into());
        format!("{host}:{}", std::process::id())
    });
    WorkerConfig {
        name: format!("{name}:{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        concurrency: args.workers,
        device: args.device.clone(),
        lease: args.lease(),
        poll: std::time::Duration::from_millis(args.poll_ms.max(10)),
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    pool: WorkerPool,
}

impl Application {
    pub async fn build(args: &ServeArgs) -> anyhow::Result<Application> {
        let (store, blobs) = open_storage(&args.worker.storage).await?;
        let loopback = args.bind.ip().is_loopback();
        if !loopback && !store.has_active_tokens().await? {
            anyhow::bail!(
                "refusing to listen on {} without authentication: create an API token first (`simscore token create --user NAME`), or bind to 127.0.0.1",
                args.bind
            );
        }
        let listener = TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("binding {}", args.bind))?;
        let registry = Registry::standard();
        let metrics = Arc::new(Metrics::default());
        let pool = WorkerPool::new(
            store.clone(),
            blobs.clone(),
            registry.clone(),
            metrics.clone(),
            worker_config(&args.worker),
        );
        let state = AppState {
            auth: Arc::new(Authenticator::new(store.clone(), loopback)),
            store,
            blobs,
            registry,
            metrics,
            config: Arc::new(ApiConfig {
                max_upload_bytes: args.max_upload_mb << 20,
                request_timeout: std::time::Duration::from_secs(args.request_timeout_secs),
                cors_origins: args.cors_origins.clone(),
                sync_score_max_values: args.sync_score_max_values,
                max_attempts: args.worker.max_attempts.max(1),
            }),
        };
        Ok(Application {
            listener,
            state,
            pool,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves the API and runs the in-process workers until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(
            address = %self.listener.local_addr()?,
            database = self.state.store.backend().name(),
            blobs = self.state.blobs.description(),
            "simscore listening"
        );
        let workers = tokio::spawn(self.pool.run(shutdown.clone()));
        let app = api::router(self.state);
        let stop = shutdown.clone();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        shutdown.cancel();
        workers.await??;
        Ok(())
    }
}

/// Runs workers only.
pub async fn run_worker(args: &WorkerArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (store, blobs) = open_storage(&args.storage).await?;
    let pool = WorkerPool::new(
        store,
        blobs,
        Registry::standard(),
        Arc::new(Metrics::default()),
        worker_config(args),
    );
    pool.run(shutdown).await
}

/// Cancels `token` on Ctrl-C or SIGTERM.
pub fn shutdown_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: no new jobs are claimed; jobs in flight finish");
        token.cancel();
    });
}
