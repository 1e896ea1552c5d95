//! Spawns the real application on port 0 against a fresh SQLite file or a fresh Postgres database,
//! and offers one helper per endpoint.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use simscore::app::Application;
use simscore::config::{ServeArgs, StorageArgs, WorkerArgs};
use simscore_core::array::{Array, Dtype};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Postgres server tests use; unset means the Postgres variants are skipped.
pub const POSTGRES_ENV: &str = "SIMSCORE_TEST_POSTGRES_URL";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
    pub database_url: String,
    pub blob_dir: PathBuf,
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

pub struct Options {
    pub workers: usize,
    pub lease_secs: f64,
    pub max_upload_mb: u64,
    pub sync_score_max_values: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 2,
            lease_secs: 30.0,
            max_upload_mb: 64,
            sync_score_max_values: 4_000_000,
        }
    }
}

/// A fresh, empty database URL for `backend`, or `None` (with a message) when Postgres tests are
/// not configured.
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}/simscore.db", dir.display())),
        Backend::Postgres => {
            let Ok(server) = std::env::var(POSTGRES_ENV) else {
                eprintln!(
                    "skipped: set {POSTGRES_ENV}=postgres://user@host:port/db to run the Postgres variant"
                );
                return None;
            };
            let name = format!("simscore_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
                .await
                .expect("connecting to the test Postgres server");
            sqlx::Executor::execute(
                &mut admin,
                sqlx::AssertSqlSafe(format!("create database {name}")),
            )
            .await
            .expect("creating a test database");
            let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
            Some(format!("{base}/{name}"))
        }
    }
}

pub async fn spawn_app(backend: Backend, opts: Options) -> Option<TestApp> {
    simscore::telemetry::init(false);
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(backend, dir.path()).await?;
    let blob_dir = dir.path().join("blobs");
    let args = ServeArgs {
        worker: WorkerArgs {
            storage: storage_args(&database_url, &blob_dir),
            workers: opts.workers,
            device: "cpu".into(),
            lease_secs: opts.lease_secs,
            max_attempts: 3,
            poll_ms: 100,
            worker_name: Some("test".into()),
        },
        bind: "127.0.0.1:0".parse().expect("address"),
        max_upload_mb: opts.max_upload_mb,
        request_timeout_secs: 60,
        cors_origins: vec![],
        sync_score_max_values: opts.sync_score_max_values,
    };
    let app = Application::build(&args).await.expect("building the app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    Some(TestApp {
        base,
        client: reqwest::Client::new(),
        token: None,
        database_url,
        blob_dir,
        shutdown,
        _dir: dir,
    })
}

pub fn storage_args(database_url: &str, blob_dir: &std::path::Path) -> StorageArgs {
    StorageArgs {
        database_url: Some(database_url.to_string()),
        db_max_connections: 8,
        blob_store: blob_dir.display().to_string(),
        staging_dir: None,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Runs the real binary.
pub fn simscore_bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_simscore"))
}

impl TestApp {
    /// Creates a token with the real CLI (`simscore token create`) and returns it.
    pub fn create_token(&self, user: &str, admin: bool) -> String {
        let mut cmd = simscore_bin();
        cmd.args(["token", "create", "--user", user, "--name", "test"])
            .env("SIMSCORE_DATABASE_URL", &self.database_url);
        if admin {
            cmd.arg("--admin");
        }
        let out = cmd.output().expect("running simscore token create");
        assert!(
            out.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_string()
    }

    pub fn as_user(&self, token: &str) -> TestApp {
        TestApp {
            base: self.base.clone(),
            client: self.client.clone(),
            token: Some(token.to_string()),
            database_url: self.database_url.clone(),
            blob_dir: self.blob_dir.clone(),
            shutdown: CancellationToken::new(), // the original owns the server
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn upload(&self, bytes: Vec<u8>, name: &str) -> (StatusCode, Value) {
        send(
            self.request(reqwest::Method::POST, &format!("/v1/datasets?name={name}"))
                .header("content-type", "application/octet-stream")
                .body(bytes),
        )
        .await
    }

    /// Uploads and returns the dataset id, asserting success.
    pub async fn upload_ok(&self, array: &Array, name: &str) -> String {
        let (status, body) = self
            .upload(simscore_core::formats::npy_bytes(array), name)
            .await;
        assert!(status.is_success(), "upload failed: {status} {body}");
        body["id"].as_str().expect("id").to_string()
    }

    pub async fn submit(&self, kind: &str, spec: Value) -> (StatusCode, Value) {
        self.post_json("/v1/jobs", &serde_json::json!({"kind": kind, "spec": spec}))
            .await
    }

    pub async fn submit_ok(&self, kind: &str, spec: Value) -> String {
        let (status, body) = self.submit(kind, spec).await;
        assert_eq!(status, StatusCode::ACCEPTED, "submit failed: {body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Polls the job until `done(job)` or the timeout.
    pub async fn wait_job(
        &self,
        id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let (status, job) = self.get(&format!("/v1/jobs/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if done(&job) {
                return job;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for job {id}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_finished(&self, id: &str, timeout: Duration) -> Value {
        self.wait_job(id, timeout, |j| {
            matches!(
                j["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
        .await
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A seeded random matrix (n × p) with a shared low-dimensional signal, so measures are not trivial.
pub fn matrix(n: usize, p: usize, seed: u64) -> Array {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let data = (0..n * p)
        .map(|k| {
            let i = k / p;
            ((i % 7) as f64) * 0.3 + next()
        })
        .collect();
    Array::new(vec![n, p], Dtype::Float64, data)
}

/// Asserts an RFC 9457 problem with the given status and a helpful detail.
pub fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode, case: &str) {
    assert_eq!(status, expected, "{case}: {body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:simscore:problem:")),
        "{case}: not a problem document: {body}"
    );
    assert_eq!(
        body["status"].as_u64(),
        Some(expected.as_u16() as u64),
        "{case}: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| d.len() > 10),
        "{case}: detail should say what to fix: {body}"
    );
}

/// Generates `<name>_sqlite` and `<name>_postgres` tests from one async body taking a `Backend`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    };
}
