//! The HTTP API: routes, shared state, middleware and the OpenAPI document.
//!
//! Handlers stay thin: parse input, call the store, the blob store or the job registry, shape the
//! response. Each resource module exposes its routes; `router` merges them under global layers.

mod datasets;
pub mod error;
mod extract;
mod jobs;
mod measures;
mod system;
mod ui;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Authenticator;
use crate::blobs::BlobStore;
use crate::jobs::Registry;
use crate::metrics::Metrics;
use crate::store::Store;

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub max_upload_bytes: u64,
    pub request_timeout: Duration,
    pub cors_origins: Vec<String>,
    pub sync_score_max_values: u64,
    pub max_attempts: i64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_upload_bytes: 2 << 30,
            request_timeout: Duration::from_secs(60),
            cors_origins: Vec::new(),
            sync_score_max_values: 4_000_000,
            max_attempts: 3,
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub blobs: BlobStore,
    pub registry: Registry,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ApiConfig>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "simscore",
        description = "Representational-similarity scoring as a service: upload representation matrices (rows = stimuli or conditions, columns = units) as .npy/.npz, then score them with a catalogue of similarity measures, or run long jobs (score tables, permutation tests, score optimization) and follow their progress.\n\nAuthentication: `Authorization: Bearer <token>` (tokens are created with `simscore token create`). A server bound to loopback with no tokens runs in single-user mode and needs none.\n\nErrors are RFC 9457 `application/problem+json` documents.",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "simscore maintainers")
    ),
    tags(
        (name = "datasets", description = "Upload and manage representation matrices"),
        (name = "jobs", description = "Queue jobs and follow them"),
        (name = "measures", description = "The similarity-measure catalogue and small synchronous scoring"),
        (name = "system", description = "Health, readiness, metrics and version")
    ),
    components(schemas(
        error::Problem,
        crate::jobs::kinds::score::ScoreSpec,
        crate::jobs::kinds::optimize::OptimizeJobSpec,
        crate::jobs::kinds::allowable_range::AllowableRangeSpec
    )),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token from `simscore token create`"))
                    .build(),
            ),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

fn api_routes(config: &ApiConfig) -> OpenApiRouter<AppState> {
    // Uploads and downloads stream for as long as they need; everything else is bounded.
    let streaming = datasets::streaming_routes().merge(jobs::streaming_routes());
    let bounded = datasets::routes()
        .merge(jobs::routes())
        .merge(measures::routes())
        .merge(system::routes())
        .layer(DefaultBodyLimit::max(64 << 20))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(streaming)
        .merge(bounded)
}

/// The OpenAPI document, as served at `/openapi.json` and committed at `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes(&ApiConfig::default()).into_openapi()
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = api_routes(&state.config).split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");
    let mut app = routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .merge(ui::routes(&state.config))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("http", method = %req.method(), uri = %req.uri(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    if let Some(cors) = cors(&state.config.cors_origins) {
        app = app.layer(cors);
    }
    app.with_state(state)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<&String> = origins.iter().filter(|o| !o.is_empty()).collect();
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o.as_str() == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([
                axum::http::header::LOCATION,
                axum::http::header::ETAG,
                HeaderName::from_static("x-request-id"),
            ]),
    )
}

/// Records every request's latency under its route template (not the raw path, which would
/// explode the label set).
async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let resp = next.run(req).await;
    state.metrics.observe_http(
        method.as_str(),
        &route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}
