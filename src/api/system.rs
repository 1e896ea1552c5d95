//! Liveness, readiness, Prometheus metrics and the build version.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(version))
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "system", security(()),
    responses(
        (status = 200, description = "Ready", body = String, content_type = "text/plain"),
        (status = 503, description = "The database is unreachable", body = Problem, content_type = "application/problem+json")
    ))]
async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state.store.ping().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            format!(
                "the {} database is unreachable: {e}",
                state.store.backend().name()
            ),
        )
    })?;
    Ok("ready")
}

/// Prometheus metrics: jobs by kind and status, queue depth, job durations, HTTP latencies.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, description = "Metrics in the Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let queue = state.store.queue_counts().await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&queue),
    ))
}

/// Build and runtime identity.
#[derive(Serialize, ToSchema)]
struct Version {
    /// simscore version.
    version: &'static str,
    /// Git commit the server was built from.
    git_sha: &'static str,
    /// `postgres` or `sqlite`.
    database: &'static str,
    /// Job kinds this server accepts.
    job_kinds: Vec<&'static str>,
}

/// The server's version, database backend and job kinds.
#[utoipa::path(get, path = "/v1/version", tag = "system", security(()),
    responses((status = 200, description = "Version information", body = Version)))]
async fn version(State(state): State<AppState>) -> axum::Json<Version> {
    axum::Json(Version {
        version: crate::version::VERSION,
        git_sha: crate::version::GIT_SHA,
        database: state.store.backend().name(),
        job_kinds: state.registry.names(),
    })
}
