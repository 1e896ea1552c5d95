//! Job pages at `/ui`: server-rendered HTML with no CDN and no framework; a little vanilla JS
//! (`ui/ui.js`) follows running jobs over server-sent events.
//!
//! - `/ui`: your jobs with status and progress (live), filterable by status and kind;
//! - `/ui/jobs/{id}`: a job's spec, progress and log (live), reproducibility record, result table
//!   (score tables as heatmaps), plots (the job's image artifacts) and artifact downloads;
//! - `/ui/datasets`: your datasets with their arrays' shapes and dtypes.
//!
//! The pages are not part of the OpenAPI document. They authenticate like the API: an
//! `Authorization: Bearer` header, else the `simscore_token` cookie that the login form at
//! `/ui/login` sets (HttpOnly, SameSite=Strict, Path=/ui; the token is posted in a form, so it never
//! appears in a URL or a request log), else single-user mode (a loopback server without tokens).
//! The cookie only opens `/ui`; the JSON API still needs the header. Everything under `/ui` is
//! read-only apart from logging in and out.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::Stream;
use serde::Deserialize;
use serde_json::Value;
use tower_http::timeout::TimeoutLayer;

use super::datasets::serve_blob;
use super::{ApiConfig, AppState};
use crate::domain::{Artifact, Dataset, Job, JobEvent, JobStatus, User};
use crate::store::{JobFilter, StoreError};

const COOKIE: &str = "simscore_token";
const CSS: &str = include_str!("ui/ui.css");
const JS: &str = include_str!("ui/ui.js");
/// Jobs a list page follows live at most (one event stream for all of them).
const MAX_FOLLOWED: usize = 50;

/// The `/ui` routes, merged into the application router beside the API.
pub fn routes(config: &ApiConfig) -> Router<AppState> {
    let pages = Router::new()
        .route("/ui", get(job_list))
        .route("/ui/", get(|| async { Redirect::permanent("/ui") }))
        .route("/ui/jobs/{id}", get(job_page))
        .route("/ui/datasets", get(dataset_list))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/static/ui.css", get(css))
        .route("/ui/static/ui.js", get(js))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ));
    // Event streams and downloads run as long as they need, like their API counterparts.
    let streaming = Router::new()
        .route("/ui/events", get(list_events))
        .route("/ui/jobs/{id}/events", get(job_events))
        .route("/ui/jobs/{id}/artifacts/{name}", get(artifact));
    pages
        .merge(streaming)
        .layer(middleware::from_fn(security_headers))
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// How the viewer of a page was recognised.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Header,
    Cookie,
    SingleUser,
}

struct Viewer {
    user: User,
    via: Via,
}

enum AuthError {
    /// Nobody is logged in (or the cookie's token was revoked): log in.
    Anonymous {
        stale_cookie: bool,
    },
    /// An `Authorization` header was sent and is wrong.
    BadHeader,
    Internal(String),
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Viewer, AuthError> {
    let internal = |e: StoreError| AuthError::Internal(e.to_string());
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::BadHeader)?;
        return match state.auth.user_for_token(token.trim()).await {
            Ok(Some(user)) => Ok(Viewer {
                user,
                via: Via::Header,
            }),
            Ok(None) => Err(AuthError::BadHeader),
            Err(e) => Err(internal(e)),
        };
    }
    let mut stale_cookie = false;
    if let Some(token) = cookie_token(headers) {
        match state.auth.user_for_token(&token).await {
            Ok(Some(user)) => {
                return Ok(Viewer {
                    user,
                    via: Via::Cookie,
                });
            }
            Ok(None) => stale_cookie = true,
            Err(e) => return Err(internal(e)),
        }
    }
    match state.auth.single_user().await {
        Ok(Some(user)) => Ok(Viewer {
            user,
            via: Via::SingleUser,
        }),
        Ok(None) => Err(AuthError::Anonymous { stale_cookie }),
        Err(e) => Err(internal(e)),
    }
}

/// The viewer of an HTML page; anonymous visitors are sent to the login form.
struct PageViewer(Viewer);

impl FromRequestParts<AppState> for PageViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match authenticate(state, &parts.headers).await {
            Ok(v) => Ok(PageViewer(v)),
            Err(AuthError::Anonymous { stale_cookie }) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/ui");
                let mut resp =
                    Redirect::to(&format!("/ui/login?next={}", url_encode(next))).into_response();
                if stale_cookie {
                    resp.headers_mut()
                        .insert(header::SET_COOKIE, clear_cookie());
                }
                Err(resp)
            }
            Err(AuthError::BadHeader) => Err(error_page(
                StatusCode::UNAUTHORIZED,
                "Authentication failed",
                "The Authorization header does not hold a valid token ('Bearer <token>').",
                None,
            )),
            Err(AuthError::Internal(e)) => Err(internal_error(e)),
        }
    }
}

/// The viewer of an event stream or a download: no redirects, a plain 401.
struct DataViewer(User);

impl FromRequestParts<AppState> for DataViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match authenticate(state, &parts.headers).await {
            Ok(v) => Ok(DataViewer(v.user)),
            Err(AuthError::Internal(e)) => Err(internal_error(e)),
            Err(_) => Err((
                StatusCode::UNAUTHORIZED,
                "log in at /ui/login, or send 'Authorization: Bearer <token>'",
            )
                .into_response()),
        }
    }
}

fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=2592000{secure}"
    ))
    .unwrap_or_else(|_| clear_cookie())
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("simscore_token=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Only local `/ui` paths are followed after logging in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.starts_with("/ui/login") =>
        {
            n.to_string()
        }
        _ => "/ui".to_string(),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_form(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    // Nothing to log in to in single-user mode.
    if let Ok(Some(_)) = state.auth.single_user().await {
        return Redirect::to(&next).into_response();
    }
    login_page(StatusCode::OK, &next, None)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim();
    match state.auth.user_for_token(token).await {
        Ok(Some(_)) => {
            let secure = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"));
            let mut resp = Redirect::to(&next).into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(token, secure));
            resp
        }
        Ok(None) => login_page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some(
                "That token is unknown or revoked. Create one with `simscore token create --user NAME`.",
            ),
        ),
        Err(e) => internal_error(e.to_string()),
    }
}

async fn logout() -> Response {
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie());
    resp
}

fn login_page(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let mut body = String::from("<h1>Log in</h1>");
    if let Some(e) = error {
        let _ = write!(body, r#"<p class="error" role="alert">{}</p>"#, esc(e));
    }
    let _ = write!(
        body,
        r#"<form method="post" action="/ui/login" class="login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required placeholder="ssk_…">
<input type="hidden" name="next" value="{}">
<button type="submit">Log in</button>
</form>
<p class="hint">The pages use the API's tokens: <code>simscore token create --user NAME</code> prints one.
The browser keeps it in an HttpOnly cookie for <code>/ui</code> only.</p>"#,
        esc(next)
    );
    (status, layout("Log in", None, &body)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Pages

#[derive(Deserialize)]
struct JobListQuery {
    status: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
}

async fn job_list(
    State(state): State<AppState>,
    PageViewer(viewer): PageViewer,
    Query(q): Query<JobListQuery>,
) -> Response {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let kind = q.kind.clone().filter(|s| !s.is_empty());
    let filter = JobFilter {
        kind: kind.clone(),
        status: status.and_then(JobStatus::parse),
    };
    let page = match state
        .store
        .list_jobs(&viewer.user, &filter, q.cursor.as_deref(), 50)
        .await
    {
        Ok(p) => p,
        Err(e) => return internal_error(e.to_string()),
    };

    let mut body = String::from(r#"<h1>Jobs</h1><form class="filters" method="get" action="/ui">"#);
    body.push_str(r#"<label>status <select name="status"><option value="">any</option>"#);
    for s in JobStatus::ALL {
        let sel = if status == Some(s.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, r#"<option{sel}>{}</option>"#, s.as_str());
    }
    body.push_str(
        r#"</select></label> <label>kind <select name="kind"><option value="">any</option>"#,
    );
    let mut kinds = state.registry.names();
    kinds.sort_unstable();
    for k in kinds {
        let sel = if kind.as_deref() == Some(k) {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, r#"<option{sel}>{}</option>"#, esc(k));
    }
    body.push_str(r#"</select></label> <button type="submit">Filter</button></form>"#);

    if page.items.is_empty() {
        body.push_str(
            r#"<p class="empty">No jobs yet. Submit one with <code>POST /v1/jobs</code> (see <a href="/docs">the API docs</a>).</p>"#,
        );
    } else {
        body.push_str(
            r#"<table class="jobs"><thead><tr><th>job</th><th>kind</th><th>status</th><th>progress</th><th>created</th><th>run time</th></tr></thead><tbody>"#,
        );
        for job in &page.items {
            let _ = write!(
                body,
                r#"<tr data-job-id="{id}" data-status="{status}"><td><a href="/ui/jobs/{id}" title="{id}"><code>{short}</code></a></td><td>{kind}</td><td>{badge}</td><td class="progress-cell">{progress}</td><td>{created}</td><td>{runtime}</td></tr>"#,
                id = esc(&job.id),
                short = esc(short_id(&job.id)),
                status = job.status.as_str(),
                kind = esc(&job.kind),
                badge = status_badge(job.status),
                progress = progress_html(job),
                created = esc(&time_text(job.created_ms)),
                runtime = esc(&run_time(job)),
            );
        }
        body.push_str("</tbody></table>");
    }
    if let Some(cursor) = &page.next_cursor {
        let mut href = format!("/ui?cursor={}", url_encode(cursor));
        if let Some(s) = status {
            let _ = write!(href, "&status={}", url_encode(s));
        }
        if let Some(k) = &kind {
            let _ = write!(href, "&kind={}", url_encode(k));
        }
        let _ = write!(
            body,
            r#"<p class="pager"><a href="{}">Older jobs →</a></p>"#,
            esc(&href)
        );
    }
    html_page("Jobs", Some(&viewer), &body)
}

async fn job_page(
    State(state): State<AppState>,
    PageViewer(viewer): PageViewer,
    Path(id): Path<String>,
) -> Response {
    let job = match state.store.get_job(&viewer.user, &id).await {
        Ok(j) => j,
        Err(StoreError::NotFound) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "No such job",
                &format!("There is no job {id} (or it belongs to another user)."),
                Some(&viewer),
            );
        }
        Err(e) => return internal_error(e.to_string()),
    };
    let artifacts = match state.store.artifacts(&job.id).await {
        Ok(a) => a,
        Err(e) => return internal_error(e.to_string()),
    };
    let logs = match state.store.events_after(&job.id, 0, 10_000).await {
        Ok(events) => events
            .into_iter()
            .filter(|e| e.kind == "log")
            .collect::<Vec<_>>(),
        Err(e) => return internal_error(e.to_string()),
    };
    // Names of the datasets the spec points at, for readable labels and links.
    let mut ids = BTreeSet::new();
    collect_dataset_ids(&job.spec, &mut ids);
    let mut datasets: HashMap<String, Dataset> = HashMap::new();
    for ds_id in ids {
        if let Ok(d) = state.store.get_dataset(&viewer.user, &ds_id).await {
            datasets.insert(ds_id, d);
        }
    }

    let mut body = String::new();
    let _ = write!(
        body,
        r#"<section class="job" data-job-page="{id}" data-status="{status}" data-rendered-status="{status}">
<p class="crumbs"><a href="/ui">Jobs</a> / <code>{id}</code></p>
<h1>{kind} job {badge}</h1>
<div class="progress-line">{progress}</div>
<dl class="facts">
<dt>created</dt><dd>{created}</dd>
<dt>started</dt><dd>{started}</dd>
<dt>finished</dt><dd>{finished}</dd>
<dt>run time</dt><dd>{runtime}</dd>
<dt>attempts</dt><dd>{attempts} of {max}</dd>
<dt>priority</dt><dd>{priority}</dd>{cancel}
</dl>"#,
        id = esc(&job.id),
        status = job.status.as_str(),
        kind = esc(&job.kind),
        badge = status_badge(job.status),
        progress = progress_html(&job),
        created = esc(&time_text(job.created_ms)),
        started = esc(&job.started_ms.map(time_text).unwrap_or_else(|| "–".into())),
        finished = esc(&job.finished_ms.map(time_text).unwrap_or_else(|| "–".into())),
        runtime = esc(&run_time(&job)),
        attempts = job.attempts,
        max = job.max_attempts,
        priority = job.priority,
        cancel = if job.cancel_requested && !job.status.is_terminal() {
            "<dt>cancel</dt><dd>requested</dd>"
        } else {
            ""
        },
    );
    if let Some(err) = &job.error {
        let _ = write!(
            body,
            r#"<p class="error" role="alert"><strong>Error:</strong> {}</p>"#,
            esc(err)
        );
    }

    body.push_str(r#"<h2 id="result">Result</h2>"#);
    let summary = job
        .result
        .as_ref()
        .map(|r| result_html(&job.kind, r, &datasets))
        .unwrap_or_default();
    match &job.result {
        Some(_) => body.push_str(&summary),
        None if job.status.is_terminal() => body.push_str(r#"<p class="empty">No result.</p>"#),
        None => body.push_str(
            r#"<p class="empty">The result appears here when the job has finished (this page reloads by itself).</p>"#,
        ),
    }

    let images: Vec<&Artifact> = artifacts
        .iter()
        .filter(|a| a.content_type == "image/png" || a.content_type == "image/svg+xml")
        .collect();
    if !images.is_empty() {
        body.push_str(r#"<h3 id="plots">Plots</h3><div class="plots">"#);
        for a in &images {
            let _ = write!(
                body,
                r#"<figure><a href="{href}"><img src="{href}" alt="plot {name}"></a><figcaption>{name}</figcaption></figure>"#,
                href = esc(&artifact_href(&job.id, &a.name)),
                name = esc(&a.name),
            );
        }
        body.push_str("</div>");
    }
    if let Some(result) = &job.result {
        body.push_str(&result_json_html(
            result,
            summary.is_empty() && images.is_empty(),
        ));
    }

    body.push_str(r#"<h2 id="artifacts">Artifacts</h2>"#);
    if artifacts.is_empty() {
        body.push_str(r#"<p class="empty">None yet.</p>"#);
    } else {
        body.push_str(r#"<table class="artifacts"><thead><tr><th>file</th><th>type</th><th>size</th><th>sha256</th></tr></thead><tbody>"#);
        for a in &artifacts {
            let _ = write!(
                body,
                r#"<tr><td><a href="{href}" download="{name}">{name}</a></td><td>{ct}</td><td>{size}</td><td><code title="{sha}">{short}</code></td></tr>"#,
                href = esc(&artifact_href(&job.id, &a.name)),
                name = esc(&a.name),
                ct = esc(&a.content_type),
                size = esc(&human_bytes(a.size_bytes)),
                sha = esc(&a.sha256),
                short = esc(&a.sha256[..a.sha256.len().min(12)]),
            );
        }
        body.push_str("</tbody></table>");
        let _ = write!(
            body,
            r#"<p class="hint">From a script: <code>GET /v1/jobs/{}/artifacts/NAME</code> with your token.</p>"#,
            esc(&job.id)
        );
    }

    body.push_str(r#"<h2 id="spec">Spec</h2>"#);
    let _ = write!(
        body,
        r#"<pre class="json">{}</pre>"#,
        esc(&serde_json::to_string_pretty(&job.spec).unwrap_or_default())
    );
    if !datasets.is_empty() {
        body.push_str(r#"<table class="inputs"><thead><tr><th>input</th><th>dataset</th><th>arrays</th></tr></thead><tbody>"#);
        let mut inputs: Vec<&Dataset> = datasets.values().collect();
        inputs.sort_by(|a, b| a.id.cmp(&b.id));
        for d in inputs {
            let _ = write!(
                body,
                r#"<tr><td><code>{id}</code></td><td>{name}</td><td>{arrays}</td></tr>"#,
                id = esc(&d.id),
                name = esc(&d.name),
                arrays = arrays_html(d),
            );
        }
        body.push_str("</tbody></table>");
    }

    body.push_str(r#"<h2 id="reproducibility">Reproducibility</h2>"#);
    match &job.reproducibility {
        Some(r) => body.push_str(&reproducibility_html(r, &datasets)),
        None => body.push_str(r#"<p class="empty">Recorded when the job starts.</p>"#),
    }

    body.push_str(r#"<h2 id="log">Log</h2><ol class="log" data-field="log">"#);
    for e in &logs {
        body.push_str(&log_line(e));
    }
    body.push_str("</ol>");
    if logs.is_empty() {
        body.push_str(r#"<p class="empty log-empty">No log lines.</p>"#);
    }
    body.push_str("</section>");
    html_page(
        &format!("{} job {}", job.kind, short_id(&job.id)),
        Some(&viewer),
        &body,
    )
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
}

async fn dataset_list(
    State(state): State<AppState>,
    PageViewer(viewer): PageViewer,
    Query(q): Query<PageQuery>,
) -> Response {
    let page = match state
        .store
        .list_datasets(&viewer.user, q.cursor.as_deref(), 50)
        .await
    {
        Ok(p) => p,
        Err(e) => return internal_error(e.to_string()),
    };
    let mut body = String::from("<h1>Datasets</h1>");
    if page.items.is_empty() {
        body.push_str(r#"<p class="empty">No datasets yet. Upload a <code>.npy</code> or <code>.npz</code> file with <code>POST /v1/datasets</code>.</p>"#);
    } else {
        body.push_str(r#"<table class="datasets"><thead><tr><th>name</th><th>id</th><th>arrays (shape, dtype)</th><th>size</th><th>sha256</th><th>uploaded</th></tr></thead><tbody>"#);
        for d in &page.items {
            let _ = write!(
                body,
                r#"<tr data-dataset-id="{id}"><td>{name}</td><td><code>{id}</code></td><td>{arrays}</td><td>{size}</td><td><code title="{sha}">{short}</code></td><td>{created}</td></tr>"#,
                id = esc(&d.id),
                name = esc(&d.name),
                arrays = arrays_html(d),
                size = esc(&human_bytes(d.size_bytes)),
                sha = esc(&d.sha256),
                short = esc(&d.sha256[..d.sha256.len().min(12)]),
                created = esc(d.created_at.get(..19).unwrap_or(&d.created_at)).replace('T', " "),
            );
        }
        body.push_str("</tbody></table>");
    }
    if let Some(cursor) = &page.next_cursor {
        let _ = write!(
            body,
            r#"<p class="pager"><a href="/ui/datasets?cursor={}">Older datasets →</a></p>"#,
            esc(&url_encode(cursor))
        );
    }
    html_page("Datasets", Some(&viewer), &body)
}

async fn css() -> Response {
    static_asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    static_asset("text/javascript; charset=utf-8", JS)
}

fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The pages link the assets with the build's git sha as a query: cache them for a day.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Downloads and event streams

async fn artifact(
    State(state): State<AppState>,
    DataViewer(user): DataViewer,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let found = match state.store.get_job(&user, &id).await {
        Ok(_) => state.store.artifact(&id, &name).await,
        Err(e) => Err(e),
    };
    let artifact = match found {
        Ok(a) => a,
        Err(StoreError::NotFound) => {
            return (StatusCode::NOT_FOUND, "no such job or artifact").into_response();
        }
        Err(e) => return internal_error(e.to_string()),
    };
    match serve_blob(
        &state,
        &artifact.sha256,
        artifact.size_bytes as u64,
        &artifact.content_type,
        &artifact.name,
        &headers,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn job_events(
    State(state): State<AppState>,
    DataViewer(user): DataViewer,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match state.store.get_job(&user, &id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            return (StatusCode::NOT_FOUND, "no such job").into_response();
        }
        Err(e) => return internal_error(e.to_string()),
    }
    let after = resume_points(&headers, 1)[0];
    sse(follow(state, vec![(id, after)], true))
}

#[derive(Deserialize)]
struct ListEventsQuery {
    /// Comma-separated job ids.
    jobs: String,
}

async fn list_events(
    State(state): State<AppState>,
    DataViewer(user): DataViewer,
    Query(q): Query<ListEventsQuery>,
    headers: HeaderMap,
) -> Response {
    let mut ids: Vec<String> = q
        .jobs
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    ids.dedup();
    ids.truncate(MAX_FOLLOWED);
    let resume = resume_points(&headers, ids.len());
    let mut jobs = Vec::new();
    for (id, after) in ids.into_iter().zip(resume) {
        match state.store.get_job(&user, &id).await {
            Ok(_) => jobs.push((id, after)),
            // Another user's or a deleted job is silently left out.
            Err(StoreError::NotFound) => {}
            Err(e) => return internal_error(e.to_string()),
        }
    }
    sse(follow(state, jobs, false))
}

fn sse(stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The per-job sequence numbers to resume after: the `Last-Event-ID` of a reconnecting
/// `EventSource`, which for these streams is the dot-separated list of every followed job's last
/// sequence number.
fn resume_points(headers: &HeaderMap, n: usize) -> Vec<i64> {
    let parsed: Vec<i64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split('.').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_default();
    if parsed.len() == n {
        parsed
    } else {
        vec![0; n]
    }
}

/// Follows jobs' event logs: every status event (and log line, with `with_logs`), and of each batch
/// of progress events only the newest, so that opening a page on a long job does not replay its
/// thousands of progress ticks. Each event's data carries the job id; its id is the resume point
/// (see `resume_points`). When every job has finished, an `end` event closes the stream (the page
/// script then closes its `EventSource` instead of reconnecting).
fn follow(
    state: AppState,
    jobs: Vec<(String, i64)>,
    with_logs: bool,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    struct Cursor {
        state: AppState,
        jobs: Vec<(String, i64)>,
        finished: Vec<bool>,
        pending: VecDeque<(usize, JobEvent)>,
        with_logs: bool,
        ended: bool,
    }
    let n = jobs.len();
    let start = Cursor {
        state,
        jobs,
        finished: vec![false; n],
        pending: VecDeque::new(),
        with_logs,
        ended: false,
    };
    futures::stream::unfold(start, |mut c| async move {
        loop {
            if let Some((k, ev)) = c.pending.pop_front() {
                c.jobs[k].1 = c.jobs[k].1.max(ev.seq);
                let resume: Vec<String> = c.jobs.iter().map(|(_, s)| s.to_string()).collect();
                let data = serde_json::json!({
                    "job": c.jobs[k].0,
                    "seq": ev.seq,
                    "time": ev.time,
                    "data": ev.data,
                });
                let event = Event::default()
                    .id(resume.join("."))
                    .event(ev.kind)
                    .data(data.to_string());
                return Some((Ok(event), c));
            }
            if c.ended {
                return None;
            }
            if c.finished.iter().all(|f| *f) {
                c.ended = true;
                return Some((Ok(Event::default().event("end").data("{}")), c));
            }
            let mut any = false;
            for k in 0..c.jobs.len() {
                if c.finished[k] {
                    continue;
                }
                let (id, after) = (c.jobs[k].0.clone(), c.jobs[k].1);
                // Status first: if the job was finished then, all its events are already logged.
                let done = match c.state.store.job(&id).await {
                    Ok(job) => job.status.is_terminal(),
                    Err(_) => true,
                };
                match c.state.store.events_after(&id, after, 500).await {
                    Ok(events) if !events.is_empty() => {
                        any = true;
                        let last_progress = events
                            .iter()
                            .rposition(|e| e.kind == "progress")
                            .unwrap_or(usize::MAX);
                        let last_seq = events.last().map(|e| e.seq).unwrap_or(after);
                        for (i, e) in events.into_iter().enumerate() {
                            let keep = match e.kind.as_str() {
                                "progress" => i == last_progress,
                                "log" => c.with_logs,
                                _ => true,
                            };
                            if keep {
                                c.pending.push_back((k, e));
                            }
                        }
                        // Skipped events still advance the resume point.
                        c.jobs[k].1 = c.jobs[k].1.max(last_seq);
                    }
                    Ok(_) => c.finished[k] = done,
                    Err(e) => {
                        tracing::warn!(error = %e, job = %id, "reading job events failed");
                        c.finished[k] = true;
                    }
                }
            }
            if !any && !c.finished.iter().all(|f| *f) {
                let woken = c.state.store.wake.notified();
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Rendering helpers

fn layout(title: &str, viewer: Option<&Viewer>, main: &str) -> Html<String> {
    let v = crate::version::GIT_SHA
        .get(..12)
        .unwrap_or(crate::version::GIT_SHA);
    let mut nav = String::from(
        r#"<a href="/ui">Jobs</a><a href="/ui/datasets">Datasets</a><a href="/docs">API docs</a>"#,
    );
    if let Some(viewer) = viewer {
        let _ = write!(
            nav,
            r#"<span class="who">{}</span>"#,
            esc(&viewer.user.name)
        );
        if viewer.via == Via::Cookie {
            nav.push_str(r#"<form method="post" action="/ui/logout"><button type="submit" class="link">Log out</button></form>"#);
        }
    }
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title} · simscore</title>
<link rel="stylesheet" href="/ui/static/ui.css?v={v}">
<script src="/ui/static/ui.js?v={v}" defer></script>
</head>
<body>
<header><a class="brand" href="/ui">simscore</a><nav>{nav}</nav></header>
<main>
{main}
</main>
<footer>simscore {version}</footer>
</body>
</html>
"#,
        title = esc(title),
        version = esc(crate::version::VERSION_LONG),
    ))
}

fn html_page(title: &str, viewer: Option<&Viewer>, body: &str) -> Response {
    let mut resp = layout(title, viewer, body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn error_page(status: StatusCode, title: &str, detail: &str, viewer: Option<&Viewer>) -> Response {
    let body = format!(
        r#"<h1>{}</h1><p class="error">{}</p><p><a href="/ui">Back to the jobs</a></p>"#,
        esc(title),
        esc(detail)
    );
    (status, layout(title, viewer, &body)).into_response()
}

fn internal_error(e: String) -> Response {
    tracing::error!(error = %e, "job pages");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error",
        "Something went wrong on the server; its log has the details.",
        None,
    )
}

/// HTML-escapes text for element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value or path segment (RFC 3986 unreserved characters pass).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn artifact_href(job: &str, name: &str) -> String {
    format!(
        "/ui/jobs/{}/artifacts/{}",
        url_encode(job),
        url_encode(name).replace('/', "%2F")
    )
}

fn short_id(id: &str) -> &str {
    // UUIDv7: the random tail tells jobs apart better than the time-ordered head.
    id.rsplit('-').next().filter(|s| s.len() >= 8).unwrap_or(id)
}

fn status_badge(status: JobStatus) -> String {
    format!(
        r#"<span class="status status-{s}" data-field="status">{s}</span>"#,
        s = status.as_str()
    )
}

fn progress_html(job: &Job) -> String {
    let p = job.progress.clamp(0.0, 1.0);
    format!(
        r#"<progress max="1" value="{p:.4}" data-field="progress"></progress> <span class="percent" data-field="percent">{pct:.0}%</span> <span class="message" data-field="message">{msg}</span>"#,
        pct = p * 100.0,
        // A finished job's last progress message is stale.
        msg = if job.status == JobStatus::Succeeded {
            String::new()
        } else {
            esc(&job.message)
        },
    )
}

fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn run_time(job: &Job) -> String {
    let Some(start) = job.started_ms else {
        return "–".into();
    };
    let end = job.finished_ms.unwrap_or_else(crate::domain::now_ms);
    let secs = (end - start).max(0) as f64 / 1000.0;
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        format!("{:.0} min {:.0} s", (secs / 60.0).floor(), secs % 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

fn human_bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 1024.0 {
        format!("{n} B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2} GiB", n / (1024.0 * 1024.0 * 1024.0))
    }
}

fn arrays_html(d: &Dataset) -> String {
    let mut out = String::from(r#"<ul class="arrays">"#);
    for a in &d.arrays {
        let shape: Vec<String> = a.shape.iter().map(|s| s.to_string()).collect();
        let dtype = serde_json::to_value(a.dtype)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<li><code>{}</code> <span class="shape">{}</span> <span class="dtype">{}</span></li>"#,
            esc(&a.name),
            esc(&shape.join(" × ")),
            esc(&dtype)
        );
    }
    out.push_str("</ul>");
    out
}

fn log_line(e: &JobEvent) -> String {
    let text = e
        .data
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| e.data.to_string());
    format!(
        r#"<li><time>{}</time> {}</li>"#,
        esc(e.time.get(11..19).unwrap_or(&e.time)),
        esc(&text)
    )
}

/// Every `"dataset": "<id>"` in a spec, whatever the kind.
fn collect_dataset_ids(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("dataset", Value::String(id)) => {
                        out.insert(id.clone());
                    }
                    _ => collect_dataset_ids(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_dataset_ids(v, out)),
        _ => {}
    }
}

/// "name" (or "name:array") for a `dataset` or `dataset:array` label of a score result.
fn input_label(label: &str, datasets: &HashMap<String, Dataset>) -> String {
    let (id, array) = match label.split_once(':') {
        Some((id, a)) => (id, Some(a)),
        None => (label, None),
    };
    match (datasets.get(id), array) {
        (Some(d), Some(a)) => format!("{}:{a}", d.name),
        (Some(d), None) => d.name.clone(),
        (None, _) => label.to_string(),
    }
}

fn number(v: f64) -> String {
    if v == 0.0 || (1e-3..1e5).contains(&v.abs()) {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

fn reproducibility_html(r: &Value, datasets: &HashMap<String, Dataset>) -> String {
    let Some(map) = r.as_object() else {
        return format!(r#"<pre class="json">{}</pre>"#, esc(&r.to_string()));
    };
    let mut out = String::from(r#"<table class="repro"><tbody>"#);
    for (k, v) in map {
        let cell = match (k.as_str(), v) {
            ("inputs", Value::Array(inputs)) => {
                let mut s = String::from("<ul>");
                for i in inputs {
                    let id = i.get("dataset").and_then(Value::as_str).unwrap_or("");
                    let sha = i.get("sha256").and_then(Value::as_str).unwrap_or("");
                    let name = datasets.get(id).map(|d| d.name.as_str()).unwrap_or(id);
                    let _ = write!(
                        s,
                        r#"<li>{} <code title="dataset {}">sha256 {}</code></li>"#,
                        esc(name),
                        esc(id),
                        esc(sha)
                    );
                }
                s.push_str("</ul>");
                s
            }
            (_, Value::String(s)) => format!("<code>{}</code>", esc(s)),
            (_, v) => format!("<code>{}</code>", esc(&v.to_string())),
        };
        let _ = write!(out, "<tr><th>{}</th><td>{cell}</td></tr>", esc(k));
    }
    out.push_str("</tbody></table>");
    out
}

fn result_html(kind: &str, result: &Value, datasets: &HashMap<String, Dataset>) -> String {
    let mut out = String::new();
    if kind == "score" {
        match result.get("mode").and_then(Value::as_str) {
            Some("pair") => {
                if let Some(cells) = result.get("scores").and_then(Value::as_array) {
                    out.push_str(&score_pair_table(cells));
                }
            }
            Some("table") => out.push_str(&score_heatmaps(result, datasets)),
            _ => {}
        }
    } else {
        // Other kinds: their scalar fields (two levels deep) as a table; the whole document below.
        let mut scalars = Vec::new();
        collect_scalars(result, "", 2, &mut scalars);
        if !scalars.is_empty() {
            out.push_str(r#"<table class="summary"><tbody>"#);
            for (k, text) in scalars {
                let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&text));
            }
            out.push_str("</tbody></table>");
        }
    }
    out
}

fn result_json_html(result: &Value, open: bool) -> String {
    format!(
        r#"<details{}><summary>Result as JSON</summary><pre class="json">{}</pre></details>"#,
        if open { " open" } else { "" },
        esc(&serde_json::to_string_pretty(result).unwrap_or_default())
    )
}

/// `path: value` for the numbers, strings and booleans of an object, `depth` levels deep.
fn collect_scalars(v: &Value, prefix: &str, depth: usize, out: &mut Vec<(String, String)>) {
    let Some(map) = v.as_object() else {
        return;
    };
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => out.push((key, n.to_string())),
            Value::Number(n) => out.push((key, n.as_f64().map(number).unwrap_or_default())),
            Value::String(s) => out.push((key, s.clone())),
            Value::Bool(b) => out.push((key, b.to_string())),
            Value::Object(_) if depth > 1 => collect_scalars(v, &key, depth - 1, out),
            _ => {}
        }
    }
}

fn stat_cells(cell: &Value) -> (String, String) {
    let p = cell
        .pointer("/permutation/p_value")
        .and_then(Value::as_f64)
        .map(|p| format!("{p:.4}"))
        .unwrap_or_else(|| "–".into());
    let ci = match (
        cell.pointer("/bootstrap/ci_low").and_then(Value::as_f64),
        cell.pointer("/bootstrap/ci_high").and_then(Value::as_f64),
    ) {
        (Some(lo), Some(hi)) => format!("[{}, {}]", number(lo), number(hi)),
        _ => "–".into(),
    };
    (p, ci)
}

fn score_pair_table(cells: &[Value]) -> String {
    let mut out = String::from(
        r#"<table class="scores"><thead><tr><th>measure</th><th>value</th><th>permutation p</th><th>bootstrap CI</th></tr></thead><tbody>"#,
    );
    for cell in cells {
        let measure = cell.get("measure").and_then(Value::as_str).unwrap_or("?");
        let value = match (cell.get("value").and_then(Value::as_f64), cell.get("error")) {
            (Some(v), _) => number(v),
            (None, Some(e)) => format!("error: {}", e.as_str().unwrap_or_default()),
            _ => "–".into(),
        };
        let (p, ci) = stat_cells(cell);
        let _ = write!(
            out,
            r#"<tr><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(measure),
            esc(&value),
            esc(&p),
            esc(&ci)
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// One heatmap table per measure: x arrays down, y arrays across, cells coloured by value.
fn score_heatmaps(result: &Value, datasets: &HashMap<String, Dataset>) -> String {
    let names = |k: &str| -> Vec<String> {
        result
            .get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| input_label(v.as_str().unwrap_or("?"), datasets))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (xs, ys) = (names("x"), names("y"));
    let pairs: Vec<&Vec<Value>> = result
        .get("scores")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_array).collect())
        .unwrap_or_default();
    if xs.is_empty() || ys.is_empty() || pairs.len() != xs.len() * ys.len() {
        return String::new();
    }
    let n_measures = pairs.first().map(|p| p.len()).unwrap_or(0);
    let mut out = String::new();
    for m in 0..n_measures {
        let measure = pairs[0][m]
            .get("measure")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let values: Vec<Option<f64>> = pairs
            .iter()
            .map(|p| {
                p.get(m)
                    .and_then(|c| c.get("value"))
                    .and_then(Value::as_f64)
            })
            .collect();
        let (data_lo, data_hi) = values
            .iter()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        // Colours span the measure's range where it is bounded (so that 0.95 and 0.96 do not
        // look opposite), else the values in the table.
        let (lo, hi, scale) = match simscore_core::measures::find(measure).map(|m| m.info().range) {
            Ok([Some(lo), Some(hi)]) if hi > lo => (lo, hi, "the measure's range"),
            _ => (data_lo, data_hi, "the values in this table"),
        };
        let _ = write!(
            out,
            r#"<figure class="heatmap"><figcaption><code>{}</code> <span class="range">colour scale {} (dark) … {} (bright): {scale}</span></figcaption><table class="heatmap" data-measure="{}"><thead><tr><th></th>"#,
            esc(measure),
            if lo.is_finite() {
                number(lo)
            } else {
                "–".into()
            },
            if hi.is_finite() {
                number(hi)
            } else {
                "–".into()
            },
            esc(measure)
        );
        for y in &ys {
            let _ = write!(out, r#"<th scope="col">{}</th>"#, esc(y));
        }
        out.push_str("</tr></thead><tbody>");
        for (i, x) in xs.iter().enumerate() {
            let _ = write!(out, r#"<tr><th scope="row">{}</th>"#, esc(x));
            for j in 0..ys.len() {
                let k = i * ys.len() + j;
                let cell = pairs[k].get(m).cloned().unwrap_or(Value::Null);
                match values[k] {
                    Some(v) => {
                        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                        let class = heat_class(t);
                        let (p, ci) = stat_cells(&cell);
                        let mut title = format!("{measure}: {v}");
                        if p != "–" {
                            let _ = write!(title, "; permutation p = {p}");
                        }
                        if ci != "–" {
                            let _ = write!(title, "; bootstrap CI {ci}");
                        }
                        let _ = write!(
                            out,
                            r#"<td class="num {class}" title="{}">{}{}</td>"#,
                            esc(&title),
                            esc(&number(v)),
                            if p != "–" {
                                format!(r#"<small>p={}</small>"#, esc(&p))
                            } else {
                                String::new()
                            }
                        );
                    }
                    None => {
                        let err = cell.get("error").and_then(Value::as_str).unwrap_or("");
                        let _ = write!(out, r#"<td class="na" title="{}">n/a</td>"#, esc(err));
                    }
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></figure>");
    }
    out
}

/// The colour class of a cell at `t` in [0, 1]: `heat-0` … `heat-10`, eleven steps of the viridis
/// colour map defined in `ui.css` (classes rather than inline styles, which the pages' content
/// security policy forbids).
fn heat_class(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    format!("heat-{}", (t * 10.0).round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            url_encode("/ui/jobs/a b?c=d&e"),
            "/ui/jobs/a%20b%3Fc%3Dd%26e"
        );
        assert_eq!(
            artifact_href("j", "a/b c.png"),
            "/ui/jobs/j/artifacts/a%2Fb%20c.png"
        );
    }

    #[test]
    fn login_redirects_stay_local() {
        assert_eq!(safe_next(Some("/ui/jobs/1")), "/ui/jobs/1");
        assert_eq!(safe_next(Some("/ui?status=running")), "/ui?status=running");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/ui//evil",
            "/uievil",
            "/docs",
            "/ui/login?next=/x",
            "/ui\\..\\x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui");
    }

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; simscore_token=ssk_x ; b=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("ssk_x"));
        h.insert(header::COOKIE, HeaderValue::from_static("simscore_token="));
        assert_eq!(cookie_token(&h), None);
    }

    #[test]
    fn resume_points_need_one_per_job() {
        let mut h = HeaderMap::new();
        assert_eq!(resume_points(&h, 2), vec![0, 0]);
        h.insert("last-event-id", HeaderValue::from_static("5.7"));
        assert_eq!(resume_points(&h, 2), vec![5, 7]);
        assert_eq!(resume_points(&h, 3), vec![0, 0, 0]);
    }

    #[test]
    fn heat_classes_span_the_map() {
        assert_eq!(heat_class(0.0), "heat-0");
        assert_eq!(heat_class(0.51), "heat-5");
        assert_eq!(heat_class(1.0), "heat-10");
        assert_eq!(heat_class(7.0), "heat-10");
        assert_eq!(heat_class(f64::NAN), "heat-0");
    }
}
