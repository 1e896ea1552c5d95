//! `GET /v1/measures` (the catalogue with metadata) and `POST /v1/score` (small inputs, answered
//! synchronously; larger ones are sent to the job queue).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AppJson, CurrentUser};
use super::jobs::prepare;
use crate::jobs::JobError;
use crate::jobs::kinds::score::{self, ScoreSpec};
use simscore_core::measures::MeasureInfo;
use simscore_core::progress::NoProgress;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_measures))
        .routes(routes!(score_now))
}

/// The measure catalogue: ids, aliases, direction, range, parameters, invariances and the
/// reference implementation each measure matches.
#[utoipa::path(
    get,
    path = "/v1/measures",
    tag = "measures",
    security(()),
    responses((status = 200, description = "Every measure", body = Vec<MeasureInfo>))
)]
async fn list_measures() -> axum::Json<&'static [MeasureInfo]> {
    axum::Json(simscore_core::measures::catalogue())
}

#[derive(Serialize, ToSchema)]
struct ScoreResult {
    /// The spec as run (with the seed filled in).
    spec: serde_json::Value,
    /// The scores: `{"mode": "pair", "scores": [{"measure", "value" | "error"}]}` or, when `x` or
    /// `y` is a list, `{"mode": "table", "x", "y", "measures", "scores": [[…] per (x, y) pair]}`.
    result: serde_json::Value,
}

/// Score small inputs now.
///
/// Takes the same spec as a `score` job. Inputs holding more values than the server's
/// synchronous budget are refused with 422 `use-a-job`: submit them with `POST /v1/jobs`.
#[utoipa::path(
    post,
    path = "/v1/score",
    tag = "measures",
    request_body = ScoreSpec,
    responses(
        (status = 200, description = "The scores", body = ScoreResult),
        (status = 422, description = "Invalid spec, or inputs too large to score synchronously (`use-a-job`)", body = Problem, content_type = "application/problem+json")
    )
)]
async fn score_now(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    AppJson(spec): AppJson<serde_json::Value>,
) -> ApiResult<axum::Json<ScoreResult>> {
    let job = prepare(&state, &user, "score", &spec, 0, None).await?;
    let spec: ScoreSpec = serde_json::from_value(job.spec.clone()).map_err(ApiError::internal)?;

    // Budget: values of every input matrix together.
    let mut values = 0u64;
    for r in spec.x.refs().iter().chain(spec.y.refs()) {
        let ds = state.store.get_dataset(&user, &r.dataset).await?;
        let idx = crate::jobs::pick_array(&ds.arrays, r.array.as_deref(), &ds.id)
            .map_err(|e| ApiError::unprocessable("invalid-spec", "Invalid job spec", e))?;
        values += ds.arrays[idx].shape.iter().product::<usize>() as u64;
    }
    if values > state.config.sync_score_max_values {
        return Err(ApiError::unprocessable(
            "use-a-job",
            "Too large to score synchronously",
            format!(
                "the inputs hold {values} values, more than this server scores synchronously ({}); submit the same spec as a job: POST /v1/jobs with {{\"kind\": \"score\", \"spec\": …}}",
                state.config.sync_score_max_values
            ),
        ));
    }

    let mut loaded = std::collections::HashMap::new();
    for (id, sha) in &job.inputs {
        let bytes = state
            .blobs
            .get(sha)
            .await
            .map_err(|e| ApiError::internal(format!("{e:#}")))?;
        loaded.insert(id.clone(), bytes);
    }
    let run_spec = spec.clone();
    let (result, _csv) = tokio::task::spawn_blocking(move || {
        let load = |refs: &[crate::jobs::ArrayRef]| -> Result<Vec<_>, JobError> {
            refs.iter()
                .map(|r| {
                    let arrays = simscore_core::formats::load_bytes(&loaded[&r.dataset], "X")
                        .map_err(|e| JobError::Fatal(e.to_string()))?;
                    let array = crate::jobs::select_array(arrays, r).map_err(JobError::Fatal)?;
                    Ok((r.dataset.clone(), array))
                })
                .collect()
        };
        let xs = load(run_spec.x.refs())?;
        let ys = load(run_spec.y.refs())?;
        let ids = score::expand(&run_spec.measures);
        score::compute(&run_spec, &ids, &xs, &ys, &NoProgress)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        JobError::Fatal(detail) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-spec",
            "Invalid job spec",
            detail,
        ),
        other => ApiError::internal(other),
    })?;
    Ok(axum::Json(ScoreResult {
        spec: job.spec,
        result,
    }))
}
