//! Errors under `/api` are JSON: `{"error": {"code": ..., "message": ...}}`, whatever produced them.
//!
//! [`json`] wraps the whole app: an `Error` response brings its [`ErrorReport`]; a response axum made
//! itself (405 with `Allow`, a body too large) gets a code from its status. Headers such as
//! `WWW-Authenticate` and `Allow` are kept.

use axum::Json;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};

use crate::error::ErrorReport;

/// The body of every API error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `unauthorized`, `missing_scope`, `forbidden`, `bad_request`,
    /// `not_found`, `method_not_allowed`, `timeout`, `unsupported`, `unavailable`, `internal`, ...
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
}

/// The refusals every `/api/v1` endpoint can give, for its `responses(...)`: a key that is not accepted, a key
/// without the scope or role, and a database that does not answer.
#[derive(IntoResponses)]
#[allow(dead_code)] // a list for the document, never built
pub enum KeyRefusals {
    /// `unauthorized`, with `WWW-Authenticate: Bearer`.
    #[response(status = 401, description = "No API key, or one that is wrong, expired or revoked (`unauthorized`)")]
    Unauthorized(ErrorBody),
    #[response(
        status = 403,
        description = "The key lacks the scope (`missing_scope`) or its owner the role (`forbidden`) this needs"
    )]
    Forbidden(ErrorBody),
    #[response(status = 503, description = "The database does not answer right now (`unavailable`)")]
    Unavailable(ErrorBody),
}

/// What every `/api/v1/databases/{name}/…` endpoint can also answer: no watched database of that name, or an
/// address that cannot be used.
#[derive(IntoResponses)]
#[allow(dead_code)] // a list for the document, never built
pub enum DbRefusals {
    #[response(
        status = 400,
        description = "The address or a parameter cannot be used; the message says why (`bad_request`)"
    )]
    BadRequest(ErrorBody),
    #[response(status = 404, description = "No watched database of that name, or no such object in it (`not_found`)")]
    NotFound(ErrorBody),
}

/// The middleware: any error response to an `/api` request becomes an [`ErrorBody`].
pub async fn json(req: Request, next: Next) -> Response {
    if !super::is_api(req.uri().path()) {
        return next.run(req).await;
    }
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _html) = response.into_parts();
    let report = parts.extensions.remove::<ErrorReport>().unwrap_or_else(|| report_for(status));
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = ErrorBody { error: ErrorDetail { code: report.code.to_string(), message: report.message } };
    let json = Json(body).into_response().into_body();
    Response::from_parts(parts, json)
}

/// A report for a response that axum made itself, from its status alone.
fn report_for(status: StatusCode) -> ErrorReport {
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this endpoint does not answer that method (see Allow)")
        }
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as application/json"),
        s if s.is_client_error() => ("bad_request", "the request cannot be used"),
        _ => ("internal", "Something went wrong on the server. The details are in Strata's log."),
    };
    ErrorReport { code, message: message.to_string() }
}
