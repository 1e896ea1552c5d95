//! The one place that talks SQL: users and tokens, datasets, the job queue and its event log.
//!
//! One implementation serves both backends through sqlx's `Any` driver, which dispatches to the
//! native Postgres or SQLite driver chosen by the URL. The schemas (`migrations/{postgres,sqlite}`)
//! are column-for-column identical and use portable types (text ids, epoch-millisecond integers,
//! JSON as text), so almost every statement is shared; where the backends differ (the claim's
//! `FOR UPDATE SKIP LOCKED`, how a write transaction starts, wake-ups) `Backend` says so.
//!
//! The queue follows the lease model: a claim sets `lease_owner`, bumps `attempts` and sets
//! `lease_expires_ms`; the worker renews the lease by heartbeat; every later write is fenced on
//! (id, lease_owner, attempts, status = running), so a worker that lost its lease cannot write.

// `sqlx::query` wants static SQL; this macro splices the shared column list into literals.
macro_rules! job_columns {
    () => {
        "id, owner, kind, spec, priority, status, progress, message, attempts, max_attempts, \
         cancel_requested, error, result, reproducibility, idempotency_key, created_ms, \
         started_ms, finished_ms, updated_ms"
    };
}

mod group_commit;
mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::Notify;

use crate::domain::{Dataset, Page, Role, User, new_id, now_ms, rfc3339};
use simscore_core::formats::ArrayInfo;

// `sqlx::query` wants static SQL: this splices the column list into literals.
macro_rules! dataset_select {
    ($rest:literal) => {
        concat!(
            "select id, owner, name, sha256, size_bytes, arrays, created_ms ",
            $rest
        )
    };
}

pub use queue::{ClaimedJob, JobFilter, NewJob, QueueCount};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
    /// SQLite upgrades a read lock to a write lock only by failing (`SQLITE_BUSY`) when another
    /// writer got there first; starting write transactions with `BEGIN IMMEDIATE` takes the write
    /// lock up front, where the busy timeout can wait for it.
    fn begin_write(self) -> &'static str {
        match self {
            Backend::Postgres => "BEGIN",
            Backend::Sqlite => "BEGIN IMMEDIATE",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// A job's input dataset was deleted between validation and queueing.
    #[error("{0}")]
    MissingInput(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The job-queue channel name for Postgres LISTEN/NOTIFY.
pub const NOTIFY_CHANNEL: &str = "simscore_jobs";

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
    /// Wakes this process's workers when this process enqueues or a job changes state; other
    /// processes learn of new jobs through LISTEN/NOTIFY (Postgres) or polling (SQLite).
    pub(crate) wake: Arc<Notify>,
    /// Metadata of datasets that jobs were submitted with, by id. A dataset never changes after
    /// upload, so an entry can only go stale by deletion, and `enqueue` checks, in the statement
    /// that queues the job, that every input still exists.
    job_inputs_meta: Arc<Mutex<HashMap<String, Dataset>>>,
    /// Shares statements and commits among concurrent submissions.
    batcher: group_commit::Batcher,
}

/// Entries kept in `Store::job_inputs_meta` before it starts over.
const INPUT_META_CAPACITY: usize = 4096;

/// A freshly created API token: the plaintext is shown once and never stored.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
    pub user: User,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub user: String,
    pub role: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// What deleting a dataset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetDeletion {
    /// Deleted; `orphaned_blob` is set when no other dataset shares the content, so the blob can go.
    Deleted { orphaned_blob: Option<String> },
}

impl Store {
    /// Connects to `postgres://…` or `sqlite://…` (created if missing) and applies the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:// (got {url:?})");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        if backend == Backend::Sqlite {
            create_sqlite_parent_dir(&url)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; NORMAL is durable in WAL
                        // mode except for the last transactions before a power cut.
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {} database", backend.name()))?;
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        let batcher = group_commit::Batcher::start(pool.clone(), backend);
        let store = Store {
            pool,
            backend,
            url,
            wake: Arc::new(Notify::new()),
            job_inputs_meta: Arc::default(),
            batcher,
        };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await,
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await,
        }
        .context("applying database migrations")
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ----- users and tokens -------------------------------------------------------------------

    /// The user named `name`, created with `role` if missing (an existing user keeps its role
    /// unless `role` is admin, which promotes it).
    pub async fn ensure_user(&self, name: &str, role: Role) -> StoreResult<User> {
        let id = new_id();
        sqlx::query(
            "insert into users (id, name, role, created_ms) values ($1, $2, $3, $4)
             on conflict (name) do nothing",
        )
        .bind(&id)
        .bind(name)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if role == Role::Admin {
            sqlx::query("update users set role = 'admin' where name = $1")
                .bind(name)
                .execute(&self.pool)
                .await?;
        }
        let row = sqlx::query("select id, name, role from users where name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        user_from_row(&row)
    }

    /// Creates a token for `user_name` (creating the user). Only the SHA-256 of the token is stored:
    /// tokens are 256-bit random strings, so a fast hash is as good as a slow one here.
    pub async fn create_token(
        &self,
        user_name: &str,
        token_name: &str,
        role: Role,
    ) -> StoreResult<CreatedToken> {
        let user = self.ensure_user(user_name, role).await?;
        let token = crate::auth::generate_token();
        let id = new_id();
        sqlx::query(
            "insert into tokens (id, user_id, name, token_hash, created_ms) values ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&user.id)
        .bind(token_name)
        .bind(crate::auth::hash_token(&token))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(CreatedToken { id, token, user })
    }

    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "select t.id, t.name, u.name as user_name, u.role, t.created_ms, t.revoked_ms
             from tokens t join users u on u.id = t.user_id order by t.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    user: r.try_get("user_name")?,
                    role: r.try_get("role")?,
                    created_at: rfc3339(r.try_get("created_ms")?),
                    revoked_at: r.try_get::<Option<i64>, _>("revoked_ms")?.map(rfc3339),
                })
            })
            .collect()
    }

    /// Revokes a token by id. Returns false when no active token has that id.
    pub async fn revoke_token(&self, id: &str) -> StoreResult<bool> {
        let done =
            sqlx::query("update tokens set revoked_ms = $1 where id = $2 and revoked_ms is null")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The user holding an active token with this hash.
    pub async fn user_by_token_hash(&self, hash: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "select u.id, u.name, u.role from tokens t join users u on u.id = t.user_id
             where t.token_hash = $1 and t.revoked_ms is null",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn has_active_tokens(&self) -> StoreResult<bool> {
        let row = sqlx::query("select count(*) as n from tokens where revoked_ms is null")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    // ----- datasets ---------------------------------------------------------------------------

    /// Records an upload. Identical content uploaded again by the same user returns the existing
    /// dataset (`created = false`).
    pub async fn insert_dataset(
        &self,
        owner: &User,
        name: &str,
        sha256: &str,
        size_bytes: i64,
        arrays: &[ArrayInfo],
    ) -> StoreResult<(Dataset, bool)> {
        let id = new_id();
        let inserted = sqlx::query(
            "insert into datasets (id, owner, name, sha256, size_bytes, arrays, created_ms)
             values ($1, $2, $3, $4, $5, $6, $7) on conflict (owner, sha256) do nothing",
        )
        .bind(&id)
        .bind(&owner.id)
        .bind(name)
        .bind(sha256)
        .bind(size_bytes)
        .bind(serde_json::to_string(arrays).context("encoding array infos")?)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(dataset_select!(
            "from datasets where owner = $1 and sha256 = $2"
        ))
        .bind(&owner.id)
        .bind(sha256)
        .fetch_one(&self.pool)
        .await?;
        Ok((dataset_from_row(&row)?, inserted))
    }

    /// A dataset visible to `viewer` (its owner, or an admin).
    pub async fn get_dataset(&self, viewer: &User, id: &str) -> StoreResult<Dataset> {
        let row = sqlx::query(dataset_select!(
            "from datasets where id = $1 and (owner = $2 or $3 = 'admin')"
        ))
        .bind(id)
        .bind(&viewer.id)
        .bind(viewer.role.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(dataset_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// `get_dataset` for job submission: the metadata comes from memory when this dataset was
    /// looked up before (see `job_inputs_meta`).
    pub async fn dataset_for_job(&self, viewer: &User, id: &str) -> StoreResult<Dataset> {
        let cached = self.inputs_meta().get(id).cloned();
        if let Some(d) = cached {
            return if d.owner == viewer.id || viewer.is_admin() {
                Ok(d)
            } else {
                Err(StoreError::NotFound)
            };
        }
        let d = self.get_dataset(viewer, id).await?;
        let mut meta = self.inputs_meta();
        if meta.len() >= INPUT_META_CAPACITY {
            meta.clear();
        }
        meta.insert(d.id.clone(), d.clone());
        Ok(d)
    }

    fn inputs_meta(&self) -> std::sync::MutexGuard<'_, HashMap<String, Dataset>> {
        // The map holds plain data: a panic elsewhere cannot leave it half-updated.
        self.job_inputs_meta
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub async fn list_datasets(
        &self,
        viewer: &User,
        cursor: Option<&str>,
        limit: i64,
    ) -> StoreResult<Page<Dataset>> {
        let rows = sqlx::query(dataset_select!(
            "from datasets where (owner = $1 or $2 = 'admin') and id < $3
             order by id desc limit $4"
        ))
        .bind(&viewer.id)
        .bind(viewer.role.as_str())
        .bind(cursor.unwrap_or("~"))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(dataset_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page(items, limit, |d| d.id.clone()))
    }

    /// Deletes a dataset unless a queued or running job still needs it.
    pub async fn delete_dataset(&self, viewer: &User, id: &str) -> StoreResult<DatasetDeletion> {
        let dataset = self.get_dataset(viewer, id).await?;
        self.inputs_meta().remove(id);
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        if self.backend == Backend::Postgres {
            // Lock the row first: a submission holding it (FOR KEY SHARE, see `enqueue`) commits
            // before the check below, which then sees its job; a later one finds the row gone.
            sqlx::query("select id from datasets where id = $1 for update")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let busy = sqlx::query(
            "select count(*) as n from job_inputs i join jobs j on j.id = i.job_id
             where i.dataset_id = $1 and j.status in ('queued', 'running')",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("n")?;
        if busy > 0 {
            return Err(StoreError::Conflict(format!(
                "dataset {id} is an input of {busy} queued or running job(s); cancel them or wait until they finish"
            )));
        }
        sqlx::query("delete from datasets where id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let others = sqlx::query("select count(*) as n from datasets where sha256 = $1")
            .bind(&dataset.sha256)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?;
        tx.commit().await?;
        Ok(DatasetDeletion::Deleted {
            orphaned_blob: (others == 0).then_some(dataset.sha256),
        })
    }

    /// Whether some dataset row still references this content (used before deleting a blob).
    pub async fn sha256_referenced(&self, sha256: &str) -> StoreResult<bool> {
        let n = sqlx::query("select count(*) as n from datasets where sha256 = $1")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>("n")?;
        Ok(n > 0)
    }
}

fn dataset_from_row(row: &AnyRow) -> StoreResult<Dataset> {
    let arrays: String = row.try_get("arrays")?;
    Ok(Dataset {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        name: row.try_get("name")?,
        sha256: row.try_get("sha256")?,
        size_bytes: row.try_get("size_bytes")?,
        arrays: serde_json::from_str(&arrays).context("decoding stored array infos")?,
        created_at: rfc3339(row.try_get("created_ms")?),
    })
}

fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&row.try_get::<String, _>("role")?),
    })
}

/// Keyset pagination: the query fetched `limit + 1` rows; the extra row says there is a next page.
fn page<T>(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next_cursor = if more { items.last().map(key) } else { None };
    Page { items, next_cursor }
}

fn create_sqlite_parent_dir(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the database directory {}", parent.display()))?;
    }
    Ok(())
}
