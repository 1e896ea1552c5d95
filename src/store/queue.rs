//! The job queue: enqueue (idempotent), claim with a lease, heartbeat, fenced completion, the
//! reaper for expired leases, cancellation, the event log and artifacts.

use anyhow::Context;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError, StoreResult, page};
use crate::domain::{
    Artifact, Job, JobEvent, JobStatus, Lease, Page, User, new_id, now_ms, rfc3339,
};

/// A validated job ready to be queued.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub owner: String,
    pub kind: String,
    pub spec: serde_json::Value,
    pub priority: i64,
    pub max_attempts: i64,
    pub idempotency_key: Option<String>,
    /// (dataset id, sha256) of every input, kept so the dataset cannot be deleted under the job and
    /// so the reproducibility record can name the exact bytes.
    pub inputs: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub kind: Option<String>,
    pub status: Option<JobStatus>,
}

/// A job a worker now holds.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job: Job,
    pub lease: Lease,
    pub inputs: Vec<(String, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueCount {
    pub kind: String,
    pub status: String,
    pub count: i64,
}

impl Store {
    /// Queues a job. With an idempotency key already used by this owner, returns the job created
    /// the first time (`created = false`) if the request was the same, and a conflict otherwise.
    pub async fn enqueue(&self, new: NewJob) -> StoreResult<(Job, bool)> {
        if let Some(key) = &new.idempotency_key
            && let Some(existing) = self.job_by_idempotency_key(&new.owner, key).await?
        {
            return same_request(existing, &new).map(|j| (j, false));
        }
        let id = new_id();
        let now = now_ms();
        if let Some(job) = self.batcher.enqueue(&id, now, &new).await? {
            self.wake.notify_waiters();
            return Ok((job, true));
        }
        // Nothing inserted: a concurrent request with the same key won the race, or an input was
        // deleted since validation.
        if let Some(key) = &new.idempotency_key
            && let Some(existing) = self.job_by_idempotency_key(&new.owner, key).await?
        {
            return same_request(existing, &new).map(|j| (j, false));
        }
        Err(self.missing_input(&new).await)
    }

    /// The error for a job whose input datasets are not all there any more.
    async fn missing_input(&self, new: &NewJob) -> StoreError {
        for (dataset_id, _) in &new.inputs {
            let found = sqlx::query("select id from datasets where id = $1")
                .bind(dataset_id)
                .fetch_optional(&self.pool)
                .await;
            match found {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return StoreError::MissingInput(format!(
                        "dataset {dataset_id} was deleted while the job was being submitted"
                    ));
                }
                Err(e) => return e.into(),
            }
        }
        StoreError::Conflict("the job could not be queued; submit it again".into())
    }

    async fn job_by_idempotency_key(&self, owner: &str, key: &str) -> StoreResult<Option<Job>> {
        let row = sqlx::query(concat!(
            "select ",
            job_columns!(),
            " from jobs where owner = $1 and idempotency_key = $2"
        ))
        .bind(owner)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// A job by id, whoever owns it (for workers and the event stream after an access check).
    pub async fn job(&self, id: &str) -> StoreResult<Job> {
        let row = sqlx::query(concat!(
            "select ",
            job_columns!(),
            " from jobs where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(job_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// A job visible to `viewer`; another user's job is `NotFound`, exactly like a missing one.
    pub async fn get_job(&self, viewer: &User, id: &str) -> StoreResult<Job> {
        let job = self.job(id).await?;
        if job.owner == viewer.id || viewer.is_admin() {
            Ok(job)
        } else {
            Err(StoreError::NotFound)
        }
    }

    pub async fn list_jobs(
        &self,
        viewer: &User,
        filter: &JobFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> StoreResult<Page<Job>> {
        let rows = sqlx::query(concat!(
            "select ",
            job_columns!(),
            " from jobs where (owner = $1 or $2 = 'admin') and id < $3
              and ($4 = '' or kind = $4) and ($5 = '' or status = $5)
              order by id desc limit $6"
        ))
        .bind(&viewer.id)
        .bind(viewer.role.as_str())
        .bind(cursor.unwrap_or("~"))
        .bind(filter.kind.clone().unwrap_or_default())
        .bind(filter.status.map(JobStatus::as_str).unwrap_or_default())
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(job_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page(items, limit, |j| j.id.clone()))
    }

    /// Cancels a job: a queued job is cancelled at once; a running one is flagged and its worker
    /// stops at the next progress tick. Idempotent: a finished job is returned unchanged.
    pub async fn request_cancel(&self, viewer: &User, id: &str) -> StoreResult<Job> {
        self.get_job(viewer, id).await?;
        let now = now_ms();
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        let cancelled_queued = sqlx::query(
            "update jobs set status = 'cancelled', cancel_requested = 1, finished_ms = $2,
                             updated_ms = $2, message = 'cancelled before it started'
             where id = $1 and status = 'queued'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if cancelled_queued {
            insert_event(
                &mut tx,
                id,
                now,
                "status",
                serde_json::json!({"status": "cancelled"}),
            )
            .await?;
        } else {
            let flagged = sqlx::query(
                "update jobs set cancel_requested = 1, updated_ms = $2
                 where id = $1 and status = 'running' and cancel_requested = 0",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if flagged {
                insert_event(
                    &mut tx,
                    id,
                    now,
                    "log",
                    serde_json::json!({"message": "cancellation requested"}),
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.job(id).await
    }

    /// Claims the most urgent runnable job of one of `kinds` for `worker_id`. Runnable means
    /// queued, or running with an expired lease (its worker died) and attempts left.
    pub async fn claim(
        &self,
        worker_id: &str,
        kinds: &[&str],
        lease_ms: i64,
    ) -> StoreResult<Option<ClaimedJob>> {
        let now = now_ms();
        let kinds_json = serde_json::to_string(kinds).context("encoding kinds")?;
        let sql = match self.backend {
            Backend::Postgres => concat!(
                "update jobs set status = 'running', attempts = attempts + 1, lease_owner = $1,
                    lease_expires_ms = $2 + $3, started_ms = coalesce(started_ms, $2), updated_ms = $2
                 where id = (
                    select id from jobs
                    where (status = 'queued' or (status = 'running' and lease_expires_ms < $2
                                                 and attempts < max_attempts and cancel_requested = 0))
                      and kind in (select json_array_elements_text($4::json))
                    order by priority desc, created_ms, id
                    limit 1 for update skip locked)
                 returning ",
                job_columns!()
            ),
            // SQLite runs one writer at a time, so the sub-select and update cannot interleave with
            // another claim.
            Backend::Sqlite => concat!(
                "update jobs set status = 'running', attempts = attempts + 1, lease_owner = $1,
                    lease_expires_ms = $2 + $3, started_ms = coalesce(started_ms, $2), updated_ms = $2
                 where id = (
                    select id from jobs
                    where (status = 'queued' or (status = 'running' and lease_expires_ms < $2
                                                 and attempts < max_attempts and cancel_requested = 0))
                      and kind in (select value from json_each($4))
                    order by priority desc, created_ms, id
                    limit 1)
                 returning ",
                job_columns!()
            ),
        };
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        let row = sqlx::query(sql)
            .bind(worker_id)
            .bind(now)
            .bind(lease_ms)
            .bind(kinds_json)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        insert_event(
            &mut tx,
            &job.id,
            now,
            "status",
            serde_json::json!({"status": "running", "attempt": job.attempts, "worker": worker_id}),
        )
        .await?;
        let inputs = sqlx::query(
            "select dataset_id, sha256 from job_inputs where job_id = $1 order by dataset_id",
        )
        .bind(&job.id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("dataset_id")?, r.try_get("sha256")?)))
        .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        let lease = Lease {
            job_id: job.id.clone(),
            worker_id: worker_id.to_string(),
            attempt: job.attempts,
        };
        Ok(Some(ClaimedJob { job, lease, inputs }))
    }

    /// Extends the lease. `Ok(None)` means the lease is lost (expired and re-claimed, or the job
    /// was finished by someone else): the worker must stop. `Ok(Some(cancel))` tells whether a
    /// cancellation was requested.
    pub async fn heartbeat(&self, lease: &Lease, lease_ms: i64) -> StoreResult<Option<bool>> {
        let now = now_ms();
        let row = sqlx::query(
            "update jobs set lease_expires_ms = $4 + $5
             where id = $1 and lease_owner = $2 and attempts = $3 and status = 'running'
             returning cancel_requested",
        )
        .bind(&lease.job_id)
        .bind(&lease.worker_id)
        .bind(lease.attempt)
        .bind(now)
        .bind(lease_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(r.try_get::<i64, _>("cancel_requested")? != 0))
            .transpose()
    }

    /// Records progress (fenced) and returns the same as `heartbeat`.
    pub async fn set_progress(
        &self,
        lease: &Lease,
        progress: f64,
        message: &str,
    ) -> StoreResult<Option<bool>> {
        let now = now_ms();
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        let row = sqlx::query(
            "update jobs set progress = $4, message = $5, updated_ms = $6
             where id = $1 and lease_owner = $2 and attempts = $3 and status = 'running'
             returning cancel_requested",
        )
        .bind(&lease.job_id)
        .bind(&lease.worker_id)
        .bind(lease.attempt)
        .bind(progress)
        .bind(message)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        insert_event(
            &mut tx,
            &lease.job_id,
            now,
            "progress",
            serde_json::json!({"progress": progress, "message": message}),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(row.try_get::<i64, _>("cancel_requested")? != 0))
    }

    /// Appends a log line to the job's event stream (fenced).
    pub async fn log(&self, lease: &Lease, message: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        if !holds(&mut tx, lease).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_event(
            &mut tx,
            &lease.job_id,
            now_ms(),
            "log",
            serde_json::json!({"message": message}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores the reproducibility record when a run starts (fenced).
    pub async fn set_reproducibility(
        &self,
        lease: &Lease,
        record: &serde_json::Value,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update jobs set reproducibility = $4
             where id = $1 and lease_owner = $2 and attempts = $3 and status = 'running'",
        )
        .bind(&lease.job_id)
        .bind(&lease.worker_id)
        .bind(lease.attempt)
        .bind(record.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes a running job (fenced): `succeeded` with a result, `failed` with an error, or
    /// `cancelled`. Returns false when the lease was lost, in which case nothing was written.
    pub async fn finish(
        &self,
        lease: &Lease,
        status: JobStatus,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        let done = sqlx::query(
            "update jobs set status = $4, result = $5, error = $6, finished_ms = $7, updated_ms = $7,
                    progress = case when $4 = 'succeeded' then 1.0 else progress end,
                    lease_owner = null, lease_expires_ms = null
             where id = $1 and lease_owner = $2 and attempts = $3 and status = 'running'",
        )
        .bind(&lease.job_id)
        .bind(&lease.worker_id)
        .bind(lease.attempt)
        .bind(status.as_str())
        .bind(result.map(|r| r.to_string()))
        .bind(error)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !done {
            tx.rollback().await?;
            return Ok(false);
        }
        let mut data = serde_json::json!({"status": status.as_str()});
        if let Some(e) = error {
            data["error"] = e.into();
        }
        insert_event(&mut tx, &lease.job_id, now, "status", data).await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(true)
    }

    /// Puts a job whose run failed with a retryable error back in the queue (fenced), or fails it
    /// for good when no attempts are left.
    pub async fn retry_or_fail(&self, lease: &Lease, error: &str) -> StoreResult<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        let row = sqlx::query(
            "update jobs set status = case when attempts < max_attempts then 'queued' else 'failed' end,
                    error = $4, updated_ms = $5, lease_owner = null, lease_expires_ms = null,
                    finished_ms = case when attempts < max_attempts then null else $5 end
             where id = $1 and lease_owner = $2 and attempts = $3 and status = 'running'
             returning status",
        )
        .bind(&lease.job_id)
        .bind(&lease.worker_id)
        .bind(lease.attempt)
        .bind(error)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let status: String = row.try_get("status")?;
        insert_event(
            &mut tx,
            &lease.job_id,
            now,
            "status",
            serde_json::json!({"status": status, "error": error}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Settles jobs whose worker vanished: an expired lease with no attempts left becomes `failed`
    /// (keeping the last error), one whose cancellation was requested becomes `cancelled`. Any
    /// worker may run this; the rest are re-claimed by `claim`.
    pub async fn reap_expired(&self) -> StoreResult<u64> {
        let now = now_ms();
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        let rows = sqlx::query(
            "update jobs set
                status = case when cancel_requested = 1 then 'cancelled' else 'failed' end,
                error = case when cancel_requested = 1 then error
                        else 'the worker stopped responding (lease expired) on attempt ' || attempts
                             || ' of ' || max_attempts
                             || coalesce('; last error: ' || error, '') end,
                finished_ms = $1, updated_ms = $1, lease_owner = null, lease_expires_ms = null
             where status = 'running' and lease_expires_ms < $1
               and (attempts >= max_attempts or cancel_requested = 1)
             returning id, status",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let status: String = row.try_get("status")?;
            insert_event(
                &mut tx,
                &id,
                now,
                "status",
                serde_json::json!({"status": status, "reason": "lease expired"}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Events of a job after `after_seq`, oldest first.
    pub async fn events_after(
        &self,
        job_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<JobEvent>> {
        let rows = sqlx::query(
            "select seq, kind, ts_ms, data from job_events where job_id = $1 and seq > $2
             order by seq limit $3",
        )
        .bind(job_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                Ok(JobEvent {
                    seq: r.try_get("seq")?,
                    kind: r.try_get("kind")?,
                    time: rfc3339(r.try_get("ts_ms")?),
                    data: serde_json::from_str(&data).context("decoding event")?,
                })
            })
            .collect()
    }

    /// Records an artifact the worker has written to the blob store (fenced; replaces an artifact
    /// of the same name written by an earlier attempt).
    pub async fn put_artifact(&self, lease: &Lease, artifact: &Artifact) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        if !holds(&mut tx, lease).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "insert into artifacts (job_id, name, content_type, sha256, size_bytes, created_ms)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (job_id, name) do update set content_type = excluded.content_type,
                 sha256 = excluded.sha256, size_bytes = excluded.size_bytes, created_ms = excluded.created_ms",
        )
        .bind(&lease.job_id)
        .bind(&artifact.name)
        .bind(&artifact.content_type)
        .bind(&artifact.sha256)
        .bind(artifact.size_bytes)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn artifacts(&self, job_id: &str) -> StoreResult<Vec<Artifact>> {
        let rows = sqlx::query(
            "select name, content_type, sha256, size_bytes from artifacts where job_id = $1 order by name",
        )
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| artifact_from_row(job_id, r)).collect()
    }

    pub async fn artifact(&self, job_id: &str, name: &str) -> StoreResult<Artifact> {
        let row = sqlx::query(
            "select name, content_type, sha256, size_bytes from artifacts where job_id = $1 and name = $2",
        )
        .bind(job_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|r| artifact_from_row(job_id, r))
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// Jobs by kind and status, for `/metrics`.
    pub async fn queue_counts(&self) -> StoreResult<Vec<QueueCount>> {
        let rows = sqlx::query("select kind, status, count(*) as n from jobs group by kind, status order by kind, status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(QueueCount {
                    kind: r.try_get("kind")?,
                    status: r.try_get("status")?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }
}

/// Whether `lease` still holds its job (inside a write transaction, so it stays true until commit).
async fn holds(tx: &mut sqlx::Transaction<'_, sqlx::Any>, lease: &Lease) -> StoreResult<bool> {
    let row = sqlx::query(
        "select 1 as held from jobs
         where id = $1 and lease_owner = $2 and attempts = $3 and status = 'running'",
    )
    .bind(&lease.job_id)
    .bind(&lease.worker_id)
    .bind(lease.attempt)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

pub(super) async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    job_id: &str,
    ts_ms: i64,
    kind: &str,
    data: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query("insert into job_events (job_id, ts_ms, kind, data) values ($1, $2, $3, $4)")
        .bind(job_id)
        .bind(ts_ms)
        .bind(kind)
        .bind(data.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An idempotent retry must repeat the original request; a different one under the same key is a
/// client bug worth telling about.
fn same_request(existing: Job, new: &NewJob) -> StoreResult<Job> {
    if existing.kind == new.kind && existing.spec == new.spec && existing.priority == new.priority {
        Ok(existing)
    } else {
        Err(StoreError::Conflict(format!(
            "Idempotency-Key {:?} was already used for job {} with a different request; use a new key",
            new.idempotency_key.as_deref().unwrap_or_default(),
            existing.id
        )))
    }
}

pub(super) fn job_from_row(row: &AnyRow) -> StoreResult<Job> {
    let json = |col: &str| -> StoreResult<Option<serde_json::Value>> {
        let text: Option<String> = row.try_get(col)?;
        Ok(text
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .with_context(|| format!("decoding jobs.{col}"))?)
    };
    let status: String = row.try_get("status")?;
    Ok(Job {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        kind: row.try_get("kind")?,
        spec: json("spec")?.unwrap_or_default(),
        priority: row.try_get("priority")?,
        status: JobStatus::parse(&status)
            .with_context(|| format!("unknown job status {status:?}"))?,
        progress: row.try_get("progress")?,
        message: row.try_get("message")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        error: row.try_get("error")?,
        result: json("result")?,
        reproducibility: json("reproducibility")?,
        idempotency_key: row.try_get("idempotency_key")?,
        created_ms: row.try_get("created_ms")?,
        started_ms: row.try_get("started_ms")?,
        finished_ms: row.try_get("finished_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

fn artifact_from_row(job_id: &str, row: &AnyRow) -> StoreResult<Artifact> {
    let name: String = row.try_get("name")?;
    Ok(Artifact {
        url: format!("/v1/jobs/{job_id}/artifacts/{name}"),
        name,
        content_type: row.try_get("content_type")?,
        sha256: row.try_get("sha256")?,
        size_bytes: row.try_get("size_bytes")?,
    })
}
