//! `/v1/jobs`: submit (validated, idempotent), get, list, cancel, follow (SSE), artifacts.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::datasets::{Binary, serve_blob};
use super::error::{ApiError, ApiResult, OrNotFound, Problem};
use super::extract::{AppJson, CurrentUser};
use crate::domain::{Artifact, Job, JobStatus, User, rfc3339};
use crate::jobs::Inputs;
use crate::store::{JobFilter, NewJob, StoreError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit_job, list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
}

pub fn streaming_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(job_events))
        .routes(routes!(job_artifact))
}

/// A job to run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "score",
    "spec": {"x": {"dataset": "0190f1c2-0000-7000-8000-000000000001"},
             "y": {"dataset": "0190f1c2-0000-7000-8000-000000000002"},
             "measures": ["cka", "procrustes-angular-score"]},
    "priority": 0
}))]
pub struct SubmitJob {
    /// Job kind (e.g. `score`).
    pub kind: String,
    /// The kind's input: a `ScoreSpec` for `score`, an `OptimizeJobSpec` for `optimize`, an
    /// `AllowableRangeSpec` for `allowable-range`.
    #[schema(value_type = JobSpec)]
    pub spec: serde_json::Value,
    /// Higher runs first (default 0).
    #[serde(default)]
    pub priority: i64,
}

/// The input of a job: the spec schema of its kind.
#[derive(ToSchema)]
#[serde(untagged)]
// Only documents `SubmitJob::spec` in the OpenAPI document; never built.
#[allow(dead_code, clippy::large_enum_variant)]
enum JobSpec {
    Score(crate::jobs::kinds::score::ScoreSpec),
    Optimize(crate::jobs::kinds::optimize::OptimizeJobSpec),
    AllowableRange(crate::jobs::kinds::allowable_range::AllowableRangeSpec),
}

/// A job: what was asked, where it stands, what came out.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub status: JobStatus,
    pub priority: i64,
    /// Fraction done, 0 to 1.
    pub progress: f64,
    /// What the job is doing now.
    pub message: String,
    /// Runs started so far (a job whose worker died is run again).
    pub attempts: i64,
    pub max_attempts: i64,
    /// Whether a cancellation was requested.
    pub cancel_requested: bool,
    /// The spec as run, with defaults (such as the seed) filled in.
    pub spec: serde_json::Value,
    /// Why the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The result summary (kind-specific JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Files the job wrote.
    pub artifacts: Vec<Artifact>,
    /// Seed, simscore version and git sha, device, dtype and the SHA-256 of every input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproducibility: Option<serde_json::Value>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub updated_at: String,
    /// Where to follow the job's events (SSE).
    pub events_url: String,
}

impl JobView {
    fn new(job: Job, artifacts: Vec<Artifact>) -> Self {
        JobView {
            events_url: format!("/v1/jobs/{}/events", job.id),
            id: job.id,
            kind: job.kind,
            status: job.status,
            priority: job.priority,
            progress: job.progress,
            message: job.message,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            cancel_requested: job.cancel_requested,
            spec: job.spec,
            error: job.error,
            result: job.result,
            artifacts,
            reproducibility: job.reproducibility,
            created_at: rfc3339(job.created_ms),
            started_at: job.started_ms.map(rfc3339),
            finished_at: job.finished_ms.map(rfc3339),
            updated_at: rfc3339(job.updated_ms),
        }
    }
}

/// Parses and validates a job request against its inputs; on success returns the job to enqueue.
pub(super) async fn prepare(
    state: &AppState,
    user: &User,
    kind: &str,
    spec: &serde_json::Value,
    priority: i64,
    idempotency_key: Option<String>,
) -> ApiResult<NewJob> {
    let runner = state.registry.get(kind).ok_or_else(|| {
        ApiError::unprocessable(
            "unknown-job-kind",
            "Unknown job kind",
            format!(
                "unknown job kind {kind:?}; this server runs: {}",
                state.registry.names().join(", ")
            ),
        )
    })?;
    let (spec, dataset_ids) = runner
        .parse(spec)
        .map_err(|e| ApiError::unprocessable("invalid-spec", "Invalid job spec", e))?;
    let mut datasets = HashMap::new();
    for id in dataset_ids {
        match state.store.dataset_for_job(user, &id).await {
            Ok(d) => {
                datasets.insert(id, d);
            }
            Err(StoreError::NotFound) => {
                return Err(ApiError::unprocessable(
                    "missing-dataset",
                    "Missing dataset",
                    format!(
                        "the spec names dataset {id}, which does not exist (or belongs to another user); upload it with POST /v1/datasets"
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let inputs = Inputs { datasets };
    runner
        .validate(&spec, &inputs)
        .map_err(|e| ApiError::unprocessable("invalid-spec", "Invalid job spec", e))?;
    let mut inputs: Vec<(String, String)> = inputs
        .datasets
        .into_values()
        .map(|d| (d.id, d.sha256))
        .collect();
    inputs.sort();
    Ok(NewJob {
        owner: user.id.clone(),
        kind: kind.to_string(),
        spec,
        priority,
        max_attempts: state.config.max_attempts,
        idempotency_key,
        inputs,
    })
}

pub(super) async fn enqueue(state: &AppState, new: NewJob) -> ApiResult<Response> {
    let (job, created) = state.store.enqueue(new).await?;
    let location = format!("/v1/jobs/{}", job.id);
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    // A job queued just now has no artifacts yet.
    let artifacts = if created {
        vec![]
    } else {
        state.store.artifacts(&job.id).await?
    };
    Ok((
        status,
        [(header::LOCATION, location)],
        axum::Json(JobView::new(job, artifacts)),
    )
        .into_response())
}

/// Submit a job.
///
/// The spec is validated before anything is queued: an unknown kind or measure, a missing dataset
/// or incompatible shapes are answered 422 and nothing is stored. With an `Idempotency-Key`
/// header, repeating the same request returns the job created the first time (200).
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    request_body = SubmitJob,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this request safe: the same key and body return the same job")),
    responses(
        (status = 202, description = "Queued; `Location` names the job", body = JobView,
         headers(("Location" = String, description = "URL of the job"))),
        (status = 200, description = "Repeated request with the same Idempotency-Key: the existing job", body = JobView),
        (status = 409, description = "Idempotency-Key reused with a different request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid spec (unknown kind or measure, missing dataset, incompatible shapes)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json")
    )
)]
async fn submit_job(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    AppJson(req): AppJson<SubmitJob>,
) -> ApiResult<Response> {
    let key = match headers.get("idempotency-key") {
        Some(v) => {
            let key = v.to_str().unwrap_or_default().trim().to_string();
            if key.is_empty() || key.len() > 255 {
                return Err(ApiError::bad_request(
                    "bad-idempotency-key",
                    "Invalid Idempotency-Key",
                    "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
                ));
            }
            Some(key)
        }
        None => None,
    };
    let new = prepare(&state, &user, &req.kind, &req.spec, req.priority, key).await?;
    enqueue(&state, new).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobListParams {
    /// Only jobs of this kind.
    kind: Option<String>,
    /// Only jobs in this status.
    status: Option<JobStatus>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size (1–500, default 50).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct JobPage {
    /// Jobs, newest first (results and artifacts omitted: get the job for those).
    items: Vec<JobView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// List your jobs, newest first.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(JobListParams),
    responses((status = 200, description = "A page of jobs", body = JobPage))
)]
async fn list_jobs(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(params): Query<JobListParams>,
) -> ApiResult<axum::Json<JobPage>> {
    let filter = JobFilter {
        kind: params.kind,
        status: params.status,
    };
    let limit = params.limit.unwrap_or(50).clamp(1, 500);
    let page = state
        .store
        .list_jobs(&user, &filter, params.cursor.as_deref(), limit)
        .await?;
    let items = page
        .items
        .into_iter()
        .map(|mut j| {
            j.result = None;
            JobView::new(j, Vec::new())
        })
        .collect();
    Ok(axum::Json(JobPage {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Get a job: status, progress, result, artifacts and reproducibility record.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json")
    )
)]
async fn get_job(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<JobView>> {
    let job = state
        .store
        .get_job(&user, &id)
        .await
        .or_not_found("job", &id)?;
    let artifacts = state.store.artifacts(&id).await?;
    Ok(axum::Json(JobView::new(job, artifacts)))
}

/// Cancel a job. A queued job is cancelled at once; a running job stops at its next progress
/// report. Cancelling a finished job changes nothing (idempotent).
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job after the request", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json")
    )
)]
async fn cancel_job(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<JobView>> {
    let job = state
        .store
        .request_cancel(&user, &id)
        .await
        .or_not_found("job", &id)?;
    let artifacts = state.store.artifacts(&id).await?;
    Ok(axum::Json(JobView::new(job, artifacts)))
}

/// Follow a job as server-sent events.
///
/// Each event's `event` is `status`, `progress` or `log`, its `data` a JSON object and its `id` a
/// sequence number: reconnect with `Last-Event-ID` to resume without gaps or repeats. The stream
/// ends after the job's final status event.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/events",
    tag = "jobs",
    params(
        ("id" = String, Path, description = "Job id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json")
    )
)]
async fn job_events(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    state
        .store
        .get_job(&user, &id)
        .await
        .or_not_found("job", &id)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    Ok(Sse::new(event_stream(state, id, after)).keep_alive(KeepAlive::default()))
}

fn event_stream(
    state: AppState,
    job_id: String,
    after: i64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Cursor {
        state: AppState,
        job_id: String,
        last: i64,
        pending: std::collections::VecDeque<crate::domain::JobEvent>,
        done: bool,
    }
    let start = Cursor {
        state,
        job_id,
        last: after,
        pending: Default::default(),
        done: false,
    };
    futures::stream::unfold(start, |mut c| async move {
        loop {
            if let Some(ev) = c.pending.pop_front() {
                c.last = ev.seq;
                let event = Event::default()
                    .id(ev.seq.to_string())
                    .event(ev.kind.clone())
                    .data(ev.data.to_string());
                return Some((Ok(event), c));
            }
            if c.done {
                return None;
            }
            // Read the status before the events: if the job was finished then, every event it
            // will ever have is already in the log, so an empty read means the end.
            let finished = match c.state.store.job(&c.job_id).await {
                Ok(job) => job.status.is_terminal(),
                Err(_) => true,
            };
            match c.state.store.events_after(&c.job_id, c.last, 500).await {
                Ok(events) if !events.is_empty() => c.pending.extend(events),
                Ok(_) if finished => c.done = true,
                Ok(_) => {
                    let woken = c.state.store.wake.notified();
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading job events failed");
                    c.done = true;
                }
            }
        }
    })
}

/// Download a file a job produced.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/artifacts/{name}",
    tag = "jobs",
    params(
        ("id" = String, Path, description = "Job id"),
        ("name" = String, Path, description = "Artifact name, as listed in the job's `artifacts`")
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = inline(Binary)),
        (status = 404, description = "No such job or artifact", body = Problem, content_type = "application/problem+json")
    )
)]
async fn job_artifact(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    state
        .store
        .get_job(&user, &id)
        .await
        .or_not_found("job", &id)?;
    let artifact = state
        .store
        .artifact(&id, &name)
        .await
        .or_not_found("artifact", &format!("{id}/{name}"))?;
    serve_blob(
        &state,
        &artifact.sha256,
        artifact.size_bytes as u64,
        &artifact.content_type,
        &artifact.name,
        &headers,
    )
    .await
}
