//! Types shared by the API, the store and the workers: users, datasets, jobs and their states.

use serde::{Deserialize, Serialize};
use simscore_core::formats::ArrayInfo;
use utoipa::ToSchema;

/// Milliseconds since the Unix epoch: the one time representation in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 rendering of an epoch-millisecond time, for API responses.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new time-ordered id (UUIDv7): lexicographic order is creation order, which keyset pagination uses.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Role {
        if s == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// Who is making a request. Every dataset and job belongs to one user; admins see everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// An uploaded `.npy`/`.npz` file: its arrays' shapes and dtypes, and the hash of its bytes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Dataset {
    /// Dataset id (UUIDv7).
    pub id: String,
    /// Name given at upload (file name or `name` query parameter).
    pub name: String,
    /// The arrays in the file: one for `.npy` (named after the dataset's `array` default `X`), one per member for `.npz`.
    pub arrays: Vec<ArrayInfo>,
    /// Hex SHA-256 of the uploaded bytes; also the `ETag` of its content.
    pub sha256: String,
    /// Size of the uploaded file in bytes.
    pub size_bytes: i64,
    /// Upload time (RFC 3339).
    pub created_at: String,
    #[serde(skip)]
    pub owner: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// A job as stored: what was asked, where it stands, what came out.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub owner: String,
    pub kind: String,
    pub spec: serde_json::Value,
    pub priority: i64,
    pub status: JobStatus,
    pub progress: f64,
    pub message: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub cancel_requested: bool,
    pub error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub reproducibility: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub updated_ms: i64,
}

/// What a worker holds while it runs a job: every write it makes is fenced on all three fields, so a
/// worker whose lease expired (and whose job was re-claimed) can never overwrite the new attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: String,
    pub worker_id: String,
    pub attempt: i64,
}

/// A file a job produced (an `.npy` array, a PNG plot, a JSON table).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Artifact {
    /// File name, unique within the job (e.g. `Y_final.npy`).
    pub name: String,
    /// MIME type (e.g. `application/octet-stream`, `image/png`).
    pub content_type: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub size_bytes: i64,
    /// Path to download it.
    pub url: String,
}

/// One entry of a job's event log, replayed by `GET /v1/jobs/{id}/events`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobEvent {
    /// Monotonic event number; the SSE `id`, resumable with `Last-Event-ID`.
    pub seq: i64,
    /// `status`, `progress` or `log`.
    pub kind: String,
    /// Event time (RFC 3339).
    pub time: String,
    /// Event payload.
    pub data: serde_json::Value,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
