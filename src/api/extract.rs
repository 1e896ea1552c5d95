//! Extractors whose rejections are problem+json: JSON bodies and the authenticated user.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::domain::User;

/// `axum::Json` with problem+json rejections that say what is wrong with the body.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(AppJson(v)),
            Err(rejection) => Err(json_problem(rejection)),
        }
    }
}

fn json_problem(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with the header Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed-json",
            "Malformed JSON",
            format!("the body is not valid JSON: {}", source_text(&e)),
        ),
        JsonRejection::JsonDataError(e) => ApiError::unprocessable(
            "invalid-request",
            "Invalid request body",
            format!(
                "the JSON does not match the expected shape: {}",
                source_text(&e)
            ),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Request body too large",
                "the JSON body is too large",
            )
        }
        other => ApiError::bad_request("bad-request", "Bad request", other.body_text()),
    }
}

/// serde's message, without axum's prefix.
fn source_text(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

/// The caller: the owner of the Bearer token, or the local user in single-user mode.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|h| h.to_str().unwrap_or_default().to_string());
        match header {
            Some(value) => {
                let token = value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .ok_or_else(|| {
                        ApiError::unauthorized("the Authorization header must be 'Bearer <token>'")
                    })?;
                match state.auth.user_for_token(token.trim()).await? {
                    Some(user) => Ok(CurrentUser(user)),
                    None => Err(ApiError::unauthorized(
                        "the token is unknown or revoked; create one with `simscore token create --user NAME`",
                    )),
                }
            }
            None => match state.auth.single_user().await? {
                Some(user) => Ok(CurrentUser(user)),
                None => Err(ApiError::unauthorized(
                    "this server requires an API token: send 'Authorization: Bearer <token>' (create one with `simscore token create --user NAME`)",
                )),
            },
        }
    }
}
