//! Command line and configuration: every flag can also be set by a `SIMSCORE_*` environment
//! variable (and the database by the conventional `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "simscore", version = crate::version::VERSION_LONG, about = "Representational-similarity scoring service")]
pub struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "SIMSCORE_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API with in-process workers.
    Serve(ServeArgs),
    /// Run workers only (same database and blob store as the API; any number of machines).
    Worker(WorkerArgs),
    /// Apply database migrations and exit.
    Migrate(StorageArgs),
    /// Print the OpenAPI 3.1 document.
    Openapi,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Score two local .npy/.npz files without a server.
    Score(crate::cli::ScoreArgs),
    /// Run a score optimisation locally (the `optimize` job without a server).
    Optimize(crate::cli::OptimizeArgs),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token (and the user, if new); prints the token once.
    Create {
        /// User the token belongs to.
        #[arg(long, env = "SIMSCORE_TOKEN_USER")]
        user: String,
        /// A label for the token (e.g. the machine it is used on).
        #[arg(long, default_value = "default")]
        name: String,
        /// Give the user the admin role (sees every user's objects).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List tokens (never their values).
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke a token by id.
    Revoke {
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Database URL: `sqlite://path` (embedded default) or `postgres://…`. Falls back to `DATABASE_URL`.
    #[arg(long, env = "SIMSCORE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Maximum database connections of this process.
    #[arg(long, env = "SIMSCORE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Blob store: a directory, or `s3://bucket[/prefix]` (credentials from `AWS_*` variables).
    #[arg(long, env = "SIMSCORE_BLOB_STORE", default_value = "data/blobs")]
    pub blob_store: String,
    /// Where uploads are staged while hashed and validated (default: inside the blob directory).
    #[arg(long, env = "SIMSCORE_STAGING_DIR")]
    pub staging_dir: Option<PathBuf>,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/simscore.db";

impl StorageArgs {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string())
    }
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Jobs this process runs at once (each job's numerics use the shared rayon pool).
    #[arg(long, env = "SIMSCORE_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Compute device for job kinds that use one: `cpu` or `cuda:N`.
    #[arg(long, env = "SIMSCORE_DEVICE", default_value = "cpu")]
    pub device: String,
    /// Lease length in seconds: a job whose worker stops heartbeating for this long is re-claimed.
    #[arg(long, env = "SIMSCORE_LEASE_SECS", default_value_t = 30.0)]
    pub lease_secs: f64,
    /// Attempts before a job whose worker keeps dying is failed.
    #[arg(long, env = "SIMSCORE_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: i64,
    /// How often idle workers poll the queue when no wake-up arrives (milliseconds).
    #[arg(long, env = "SIMSCORE_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// A name for this worker process in leases and logs (default: host name and pid).
    #[arg(long, env = "SIMSCORE_WORKER_NAME")]
    pub worker_name: Option<String>,
}

impl WorkerArgs {
    pub fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.lease_secs.max(0.5))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Address to listen on. Without API tokens only a loopback address is allowed.
    #[arg(long, env = "SIMSCORE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Largest accepted upload, in MiB.
    #[arg(long, env = "SIMSCORE_MAX_UPLOAD_MB", default_value_t = 2048)]
    pub max_upload_mb: u64,
    /// Timeout for ordinary requests in seconds (uploads, downloads and event streams are exempt).
    #[arg(long, env = "SIMSCORE_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// Origins allowed by CORS, comma separated (`*` for any). Empty: no CORS headers.
    #[arg(long, env = "SIMSCORE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// `POST /v1/score` answers synchronously when X and Y hold at most this many values together;
    /// larger inputs must be submitted as a job.
    #[arg(
        long,
        env = "SIMSCORE_SYNC_SCORE_MAX_VALUES",
        default_value_t = 4_000_000
    )]
    pub sync_score_max_values: u64,
}
