//! `/v1/datasets`: upload (raw body or multipart), list, inspect, download (ETag, Range), delete.
//!
//! An upload is streamed to a staging file while it is hashed and counted (bounded memory, the size
//! limit enforced as bytes arrive), validated by streaming through it (dtype, sizes, finiteness),
//! then moved into the content-addressed blob store. Nothing is recorded unless all of that passed.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, OrNotFound, Problem};
use super::extract::CurrentUser;
use crate::domain::Dataset;
use crate::store::DatasetDeletion;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_datasets))
        .routes(routes!(get_dataset, delete_dataset))
}

pub fn streaming_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_dataset))
        .routes(routes!(dataset_content))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// A name for the dataset (default: the multipart file name, else `dataset`).
    name: Option<String>,
    /// Name given to the array of a plain `.npy` upload (default `X`); `.npz` members keep their names.
    array: Option<String>,
}

/// The upload body: raw bytes of a `.npy`/`.npz` file (`application/octet-stream`), or a
/// multipart form with the file in a field named `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The `.npy` or `.npz` file.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
}

/// The raw bytes of a file.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub(super) struct Binary(Vec<u8>);

/// Upload a `.npy` or `.npz` file.
///
/// Accepts float32/float64, signed and unsigned integer and bool arrays, in C or Fortran order;
/// an `.npz` may hold several named arrays (e.g. `X` and `labels`). Values must be finite.
/// Uploading content you already uploaded returns the existing dataset (200) instead of a new one.
#[utoipa::path(
    post,
    path = "/v1/datasets",
    tag = "datasets",
    params(UploadParams),
    request_body(
        description = "The file, raw or as multipart field `file`",
        content(
            (inline(Binary) = "application/octet-stream"),
            (UploadForm = "multipart/form-data")
        )
    ),
    responses(
        (status = 201, description = "Dataset created", body = Dataset),
        (status = 200, description = "Identical content was already uploaded: the existing dataset", body = Dataset),
        (status = 413, description = "File larger than the server's limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid, supported array file (the detail says why)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json")
    )
)]
async fn upload_dataset(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(params): Query<UploadParams>,
    req: Request,
) -> ApiResult<Response> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let limit = state.config.max_upload_bytes;
    let staging = state.blobs.staging_dir().to_path_buf();
    let (staged, file_name) = if is_multipart {
        let mut form = Multipart::from_request(req, &state).await.map_err(|e| {
            ApiError::bad_request("bad-multipart", "Malformed multipart body", e.body_text())
        })?;
        let mut found = None;
        while let Some(field) = form.next_field().await.map_err(|e| {
            ApiError::bad_request("bad-multipart", "Malformed multipart body", e.body_text())
        })? {
            if field.name() == Some("file") {
                let name = field.file_name().map(str::to_string);
                let stream = field.map_err(std::io::Error::other);
                found = Some((stage(stream, &staging, limit).await?, name));
                break;
            }
        }
        found.ok_or_else(|| {
            ApiError::bad_request(
                "bad-multipart",
                "Malformed multipart body",
                "the multipart form has no field named 'file'",
            )
        })?
    } else {
        let stream = req
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        (stage(stream, &staging, limit).await?, None)
    };

    let array_name = params.array.clone().unwrap_or_else(|| "X".to_string());
    let path = staged.file.path().to_path_buf();
    let infos = tokio::task::spawn_blocking(move || {
        simscore_core::formats::inspect_file(&path, &array_name)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::unprocessable("invalid-array", "Invalid array file", e.to_string()))?;
    if let Some(empty) = infos.iter().find(|a| a.shape.contains(&0)) {
        return Err(ApiError::unprocessable(
            "invalid-array",
            "Invalid array file",
            format!(
                "array '{}' is empty (shape {:?}): representations need at least one row and one column",
                empty.name, empty.shape
            ),
        ));
    }

    state
        .blobs
        .put_file(&staged.sha256, staged.file.path())
        .await
        .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let name = params
        .name
        .or(file_name)
        .unwrap_or_else(|| "dataset".to_string());
    let (dataset, created) = state
        .store
        .insert_dataset(&user, &name, &staged.sha256, staged.size as i64, &infos)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/v1/datasets/{}", dataset.id);
    Ok((status, [(header::LOCATION, location)], axum::Json(dataset)).into_response())
}

struct Staged {
    file: tempfile::NamedTempFile,
    sha256: String,
    size: u64,
}

/// Streams a body into a staging file, hashing it and enforcing the size limit as bytes arrive.
async fn stage(
    body: impl Stream<Item = Result<bytes::Bytes, std::io::Error>>,
    dir: &std::path::Path,
    limit: u64,
) -> ApiResult<Staged> {
    let file = tempfile::NamedTempFile::new_in(dir).map_err(ApiError::internal)?;
    let mut out = tokio::fs::File::from_std(file.reopen().map_err(ApiError::internal)?);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "incomplete-body",
                "Incomplete request body",
                format!("reading the upload failed: {e}"),
            )
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::too_large(limit));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    out.flush().await.map_err(ApiError::internal)?;
    if size == 0 {
        return Err(ApiError::unprocessable(
            "invalid-array",
            "Invalid array file",
            "the upload is empty: send the bytes of a .npy or .npz file",
        ));
    }
    Ok(Staged {
        file,
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
}

impl PageParams {
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(50).clamp(1, 500)
    }
}

#[derive(Serialize, ToSchema)]
struct DatasetPage {
    /// Datasets, newest first.
    items: Vec<Dataset>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// List your datasets, newest first.
#[utoipa::path(
    get,
    path = "/v1/datasets",
    tag = "datasets",
    params(PageParams),
    responses(
        (status = 200, description = "A page of datasets", body = DatasetPage),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json")
    )
)]
async fn list_datasets(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<DatasetPage>> {
    let page = state
        .store
        .list_datasets(&user, params.cursor.as_deref(), params.limit())
        .await?;
    Ok(axum::Json(DatasetPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Get a dataset's metadata: its arrays' names, shapes and dtypes.
#[utoipa::path(
    get,
    path = "/v1/datasets/{id}",
    tag = "datasets",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The dataset", body = Dataset),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json")
    )
)]
async fn get_dataset(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Dataset>> {
    let dataset = state
        .store
        .get_dataset(&user, &id)
        .await
        .or_not_found("dataset", &id)?;
    Ok(axum::Json(dataset))
}

/// Delete a dataset. Refused (409) while a queued or running job uses it.
#[utoipa::path(
    delete,
    path = "/v1/datasets/{id}",
    tag = "datasets",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A queued or running job uses it", body = Problem, content_type = "application/problem+json")
    )
)]
async fn delete_dataset(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let DatasetDeletion::Deleted { orphaned_blob } = state
        .store
        .delete_dataset(&user, &id)
        .await
        .or_not_found("dataset", &id)?;
    if let Some(sha) = orphaned_blob {
        // Re-check: another upload of the same bytes may have arrived since.
        if !state.store.sha256_referenced(&sha).await? {
            state
                .blobs
                .delete(&sha)
                .await
                .map_err(|e| ApiError::internal(format!("{e:#}")))?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Download a dataset's file as uploaded. Supports `If-None-Match` (the ETag is the SHA-256) and
/// single byte ranges (`Range: bytes=start-end`).
#[utoipa::path(
    get,
    path = "/v1/datasets/{id}/content",
    tag = "datasets",
    params(
        ("id" = String, Path, description = "Dataset id"),
        ("Range" = Option<String>, Header, description = "A single byte range, e.g. `bytes=0-1023`"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier download")
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = inline(Binary)),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = inline(Binary)),
        (status = 304, description = "Unchanged since the given ETag"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "Range not satisfiable", body = Problem, content_type = "application/problem+json")
    )
)]
async fn dataset_content(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let dataset = state
        .store
        .get_dataset(&user, &id)
        .await
        .or_not_found("dataset", &id)?;
    let file_name = if dataset.arrays.len() == 1 && !dataset.name.ends_with(".npz") {
        "npy"
    } else {
        "npz"
    };
    serve_blob(
        &state,
        &dataset.sha256,
        dataset.size_bytes as u64,
        "application/octet-stream",
        &format!("{}.{file_name}", dataset.id),
        &headers,
    )
    .await
}

/// Serves a blob with ETag, conditional GET and single-range support.
pub(super) async fn serve_blob(
    state: &AppState,
    sha256: &str,
    size: u64,
    content_type: &str,
    file_name: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let etag = format!("\"{sha256}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) => Some(parse_range(spec, size).ok_or_else(|| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range-not-satisfiable",
                "Range not satisfiable",
                format!("the range {spec:?} is not a single satisfiable byte range of this {size}-byte file"),
            )
        })?),
        None => None,
    };
    let (status, start, end) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e),
        None => (StatusCode::OK, 0, size),
    };
    let stream = if end > start {
        state
            .blobs
            .get_range(sha256, start..end)
            .await
            .map_err(|e| ApiError::internal(format!("{e:#}")))?
    } else {
        futures::stream::empty().boxed()
    };
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::ETAG, header_value(&etag));
    h.insert(header::CONTENT_TYPE, header_value(content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(
        header::CONTENT_DISPOSITION,
        header_value(&format!("attachment; filename=\"{file_name}\"")),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {start}-{}/{size}", end.saturating_sub(1))),
        );
    }
    Ok(resp)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` into a half-open range within `size`.
fn parse_range(spec: &str, size: u64) -> Option<(u64, u64)> {
    let spec = spec.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().ok()?, size),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(size),
        ),
    };
    (start < end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-5", 100), Some((95, 100)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=0-1,4-5", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
