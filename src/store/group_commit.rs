//! Group commit of job submissions: submissions that arrive while the database is busy with
//! earlier ones are queued together, in one statement and one commit on Postgres and in one write
//! transaction on SQLite.
//!
//! A submission costs the database far more in per-statement and per-commit work (parse, plan,
//! snapshot, locks, WAL flush) than in rows written, and under load that work is what bounds the
//! submission rate; on SQLite, writers that queue for its single write lock also wait in its busy
//! handler's sleeps, which made the tail latency hundreds of milliseconds. The batcher never waits
//! for company: a submission goes out at once when a slot is free, and a batch forms only from
//! submissions that arrived while every slot was taken. A lone request pays nothing; a burst
//! shares commits.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{AnyPool, Row};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::queue::{NewJob, insert_event, job_from_row};
use super::{Backend, NOTIFY_CHANNEL, StoreResult};
use crate::domain::Job;

/// Batches in flight at once on Postgres: more lets it use more cores, fewer makes bigger batches.
/// SQLite has one writer, so one.
const POSTGRES_SLOTS: usize = 2;
/// The most submissions one statement carries.
const MAX_BATCH: usize = 256;

/// One submission waiting for its statement: the job's id, its queueing time and its content;
/// the answer is the inserted row, or `None` when nothing was inserted (an input is gone, or the
/// idempotency key is taken).
struct Pending {
    id: String,
    now: i64,
    new: NewJob,
    reply: oneshot::Sender<StoreResult<Option<Job>>>,
}

/// The submitting side: cheap to clone, shared by every clone of the store.
#[derive(Clone)]
pub(super) struct Batcher {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    /// Starts the batching task on the current runtime; it ends when the last `Batcher` is dropped.
    pub(super) fn start(pool: AnyPool, backend: Backend) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, backend, rx));
        Batcher { tx }
    }

    /// Queues `new` under `id` at `now`, in a statement shared with concurrent submissions.
    pub(super) async fn enqueue(
        &self,
        id: &str,
        now: i64,
        new: &NewJob,
    ) -> StoreResult<Option<Job>> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            id: id.to_string(),
            now,
            new: new.clone(),
            reply,
        };
        self.tx
            .send(pending)
            .map_err(|_| anyhow::anyhow!("the submission batcher has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the submission batcher dropped a submission"))?
    }
}

async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(match backend {
        Backend::Postgres => POSTGRES_SLOTS,
        Backend::Sqlite => 1,
    }));
    loop {
        // Take a slot before looking at the queue, so that submissions pile up while none is free.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, backend, batch).await;
            drop(slot);
        });
    }
}

/// Runs one batch and answers every submission in it. If the statement fails as a whole, each
/// submission is retried on its own, so that one bad submission cannot fail its neighbours.
async fn answer(pool: &AnyPool, backend: Backend, batch: Vec<Pending>) {
    match insert(pool, backend, &batch).await {
        Ok(mut rows) => {
            for p in batch {
                let _ = p.reply.send(Ok(rows.remove(&p.id)));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(p) = batch.into_iter().next() {
                let _ = p.reply.send(Err(e));
            }
        }
        Err(_) => {
            for p in batch {
                let one = std::slice::from_ref(&p);
                let result = insert(pool, backend, one)
                    .await
                    .map(|mut rows| rows.remove(&p.id));
                let _ = p.reply.send(result);
            }
        }
    }
}

/// Queues the batch's jobs; returns the inserted rows by id.
async fn insert(
    pool: &AnyPool,
    backend: Backend,
    batch: &[Pending],
) -> StoreResult<HashMap<String, Job>> {
    match backend {
        Backend::Postgres => insert_postgres(pool, batch).await,
        Backend::Sqlite => insert_sqlite(pool, batch).await,
    }
}

/// Postgres: one statement (atomic without BEGIN/COMMIT) queues every job of the batch whose
/// input datasets all still exist, which it holds (FOR KEY SHARE) until it commits: the jobs,
/// their inputs, their first events and the wake-up notification. Returns the inserted rows by id.
///
/// The batch travels as one JSON parameter, so the statement text, and with it the prepared
/// statement, is the same whatever the batch size. Specs travel as JSON strings, so the stored
/// text is the submitted text. Within a batch, a second job with an idempotency key already taken
/// by the first is skipped by ON CONFLICT like one from another statement.
async fn insert_postgres(pool: &AnyPool, batch: &[Pending]) -> StoreResult<HashMap<String, Job>> {
    let records: Vec<serde_json::Value> = batch
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id,
                "owner": p.new.owner,
                "kind": p.new.kind,
                "spec": p.new.spec.to_string(),
                "priority": p.new.priority,
                "max_attempts": p.new.max_attempts,
                "idempotency_key": p.new.idempotency_key,
                "created_ms": p.now,
                "inputs": p.new.inputs,
            })
        })
        .collect();
    let rows = sqlx::query(concat!(
        "with b as (select * from json_to_recordset($1::json) as b(
                        id text, owner text, kind text, spec text, priority bigint,
                        max_attempts bigint, idempotency_key text, created_ms bigint, inputs json)),
              bi as (select b.id as job_id, i->>0 as dataset_id, i->>1 as sha256
                     from b, json_array_elements(b.inputs) as i),
              d as (select id from datasets where id in (select dataset_id from bi) for key share),
              j as (insert into jobs (id, owner, kind, spec, priority, status, max_attempts,
                                      idempotency_key, created_ms, updated_ms)
                    select id, owner, kind, spec, priority, 'queued', max_attempts,
                           idempotency_key, created_ms, created_ms
                    from b
                    where not exists (select 1 from bi
                                      where bi.job_id = b.id
                                        and bi.dataset_id not in (select id from d))
                    on conflict (owner, idempotency_key) do nothing
                    returning *),
              i as (insert into job_inputs (job_id, dataset_id, sha256)
                    select bi.job_id, bi.dataset_id, bi.sha256 from bi join j on j.id = bi.job_id),
              e as (insert into job_events (job_id, ts_ms, kind, data)
                    select j.id, j.created_ms, 'status', $2 from j)
         select ",
        job_columns!(),
        " from j, lateral (select pg_notify($3, j.kind)) as n"
    ))
    .bind(serde_json::Value::Array(records).to_string())
    .bind(serde_json::json!({"status": "queued"}).to_string())
    .bind(NOTIFY_CHANNEL)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| job_from_row(row).map(|job| (job.id.clone(), job)))
        .collect()
}

/// SQLite: one write transaction queues every job of the batch whose input datasets all still
/// exist. Writers are serialised (BEGIN IMMEDIATE), so a deletion cannot slip in between the check
/// and the commit. Returns the inserted rows by id.
async fn insert_sqlite(pool: &AnyPool, batch: &[Pending]) -> StoreResult<HashMap<String, Job>> {
    let mut tx = pool.begin_with(Backend::Sqlite.begin_write()).await?;
    let mut inserted = Vec::new();
    for p in batch {
        let new = &p.new;
        if !new.inputs.is_empty() {
            let sql = format!(
                "select count(*) as n from datasets where id in ({})",
                placeholders(new.inputs.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (dataset_id, _) in &new.inputs {
                q = q.bind(dataset_id);
            }
            let n: i64 = q.fetch_one(&mut *tx).await?.try_get("n")?;
            if n != new.inputs.len() as i64 {
                continue;
            }
        }
        let queued = sqlx::query(
            "insert into jobs (id, owner, kind, spec, priority, status, max_attempts, idempotency_key,
                               created_ms, updated_ms)
             values ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $8)
             on conflict (owner, idempotency_key) do nothing",
        )
        .bind(&p.id)
        .bind(&new.owner)
        .bind(&new.kind)
        .bind(new.spec.to_string())
        .bind(new.priority)
        .bind(new.max_attempts)
        .bind(new.idempotency_key.as_deref())
        .bind(p.now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !queued {
            continue;
        }
        for (dataset_id, sha) in &new.inputs {
            sqlx::query("insert into job_inputs (job_id, dataset_id, sha256) values ($1, $2, $3)")
                .bind(&p.id)
                .bind(dataset_id)
                .bind(sha)
                .execute(&mut *tx)
                .await?;
        }
        let queued_event = serde_json::json!({"status": "queued"});
        insert_event(&mut tx, &p.id, p.now, "status", queued_event).await?;
        inserted.push(&p.id);
    }
    tx.commit().await?;
    if inserted.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        concat!("select ", job_columns!(), " from jobs where id in ({})"),
        placeholders(inserted.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in inserted {
        q = q.bind(id);
    }
    let rows = q.fetch_all(pool).await?;
    rows.iter()
        .map(|row| job_from_row(row).map(|job| (job.id.clone(), job)))
        .collect()
}

/// `$1, $2, …, $count`: placeholders for a dynamic `in (…)` list.
fn placeholders(count: usize) -> String {
    (1..=count)
        .map(|m| format!("${m}"))
        .collect::<Vec<_>>()
        .join(", ")
}
