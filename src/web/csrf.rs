//! CSRF protection: one random token per session, checked by a middleware on every unsafe request.
//!
//! **Why a middleware and not a `CsrfForm<T>` extractor:** an extractor protects only the handlers
//! that remember to use it, and a new `POST` route written with plain `Form` would be open. The
//! middleware wraps the whole dashboard router in `web::router`, so every `POST`, `PUT`, `PATCH`
//! and `DELETE` is refused with 403 (`Error::Csrf`) before any handler runs unless it carries the
//! session's token — there is nothing to forget. Handlers then read their fields with
//! `web::extract::Form` as usual (the extra `_csrf` field is ignored).
//!
//! Where the token may travel, first match wins:
//! 1. the `X-CSRF-Token` header (scripts);
//! 2. the `_csrf` field of an `application/x-www-form-urlencoded` body (every HTML form: templates
//!    write `<input type="hidden" name="_csrf" value="{{ user.csrf_token }}">`);
//! 3. the `_csrf` query parameter, for `multipart/form-data` uploads only (`action="...?_csrf=..."`),
//!    whose bodies are not buffered here.
//!
//! **The API** (`/api/...`) authenticates with `Authorization: Bearer`, which a browser never adds to
//! a cross-site request by itself, so a forged request cannot carry it: an unsafe `/api` request is
//! exempt from the token **only when it carries no session cookie**. One that does could be riding
//! on a signed-in browser, and needs the token (header) like any form.
//!
//! The token lives in the session under `csrf`: created on the first page that needs it (the login
//! form creates a pre-login session for it), replaced at sign-in together with the session id.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use tower_sessions::Session;

use crate::error::{Error, Result};

/// The session key and the form field.
pub const FIELD: &str = "_csrf";
const SESSION_KEY: &str = "csrf";
/// The header scripts may use instead of the field.
pub const HEADER: &str = "x-csrf-token";
/// The largest request body Strata reads: room for a `max_sql_bytes` text urlencoded (up to three bytes
/// per byte) plus the other fields, and never less than axum's default of 2 MiB.
pub fn body_limit(max_sql_bytes: usize) -> usize {
    max_sql_bytes.saturating_mul(3).saturating_add(64 * 1024).max(2 * 1024 * 1024)
}

/// The session's token, created when it has none yet.
pub async fn token(session: &Session) -> Result<String> {
    if let Some(t) = session.get::<String>(SESSION_KEY).await.map_err(super::session::store_error)? {
        return Ok(t);
    }
    rotate(session).await
}

/// Replaces the session's token (at sign-in: a token seen before login is worth nothing after).
pub async fn rotate(session: &Session) -> Result<String> {
    let t = new_token();
    session.insert(SESSION_KEY, &t).await.map_err(super::session::store_error)?;
    Ok(t)
}

/// 32 random bytes as hex.
fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    crate::hex::encode(&bytes)
}

/// The middleware: safe methods pass; anything else needs the session's token.
/// `limit` is the largest urlencoded body it reads (see [`body_limit`]).
pub async fn protect(State(limit): State<usize>, req: Request, next: Next) -> Response {
    if req.method().is_safe() || bearer_only(&req) {
        return next.run(req).await;
    }
    match check(req, limit).await {
        Ok(req) => next.run(req).await,
        Err(e) => {
            if matches!(e, Error::Csrf) {
                tracing::warn!("refused a request without a valid CSRF token");
            }
            e.into_response()
        }
    }
}

/// An `/api` request without the session cookie: nothing ambient authenticates it.
fn bearer_only(req: &Request) -> bool {
    crate::api::is_api(req.uri().path()) && !has_session_cookie(req.headers())
}

pub(crate) fn has_session_cookie(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|pair| pair.trim().split_once('=').is_some_and(|(name, _)| name.trim() == super::session::COOKIE_NAME))
}

async fn check(req: Request, limit: usize) -> Result<Request> {
    let session = req
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or_else(|| Error::Internal("the CSRF check runs outside the session layer".into()))?;
    let expected = session.get::<String>(SESSION_KEY).await.map_err(super::session::store_error)?;
    let (parts, body) = req.into_parts();
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let (submitted, body) = if let Some(h) = parts.headers.get(HEADER) {
        (h.to_str().ok().map(str::to_string), body)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            Error::TooLarge(format!(
                "the form is larger than the {limit} bytes Strata reads (raise max_sql_bytes for longer SQL texts), \
                 or it was cut off"
            ))
        })?;
        (field(&bytes), Body::from(bytes))
    } else if content_type.starts_with("multipart/form-data") {
        (parts.uri.query().and_then(|q| field(q.as_bytes())), body)
    } else {
        (None, body)
    };
    match (expected, submitted) {
        (Some(expected), Some(submitted)) if same(expected.as_bytes(), submitted.as_bytes()) => {
            Ok(Request::from_parts(parts, body))
        }
        _ => Err(Error::Csrf),
    }
}

fn field(urlencoded: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(urlencoded).find(|(k, _)| k == FIELD).map(|(_, v)| v.into_owned())
}

/// Compares without stopping at the first difference, so timing tells nothing about the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_hex() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_field_is_found_among_others() {
        assert_eq!(field(b"a=1&_csrf=abc%2B&b=2").as_deref(), Some("abc+"));
        assert_eq!(field(b"a=1"), None);
    }

    #[test]
    fn only_cookieless_api_requests_skip_the_token() {
        let req = |path: &str, cookie: Option<&str>| {
            let mut b = Request::post(path);
            if let Some(c) = cookie {
                b = b.header(axum::http::header::COOKIE, c);
            }
            b.body(Body::empty()).unwrap()
        };
        assert!(bearer_only(&req("/api/v1/activity/1/cancel", None)));
        assert!(bearer_only(&req("/api/v1/activity/1/cancel", Some("theme=dark"))));
        assert!(!bearer_only(&req("/api/v1/activity/1/cancel", Some("theme=dark; strata_session=abc"))));
        assert!(!bearer_only(&req("/activity/1/cancel", None)));
        assert!(!bearer_only(&req("/apix", None)));
    }

    #[test]
    fn comparison_needs_every_byte() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"x"));
    }
}
