//! Extractors with Strata's error pages: `Form`, `Query`, `Path` and `Json` answer 400 with what was wrong, and `ClientAddr`.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;

use crate::error::Error;
use crate::home::audit::UNKNOWN_CLIENT;

/// `axum::Form` whose rejection is a 400 page naming the problem (axum's own answers 422 in plain text).
/// The CSRF token has already been checked by the time a handler sees the form (see `web::csrf`).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Form), rejection(Error))]
pub struct Form<T>(pub T);

/// `axum::extract::Query` with a 400 page as its rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

/// `axum::Json` as a request body with a 400 as its rejection, naming the field that was missing or wrong
/// (axum's own answers 415 or 422 in plain text).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

/// `axum::extract::Path` with a 400 page as its rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

/// The client's IP address as text, or `unknown` when the server was not started with connect info
/// (tests calling the router directly). Behind a reverse proxy this is the proxy's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl ClientAddr {
    pub fn of(parts: &Parts) -> ClientAddr {
        ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string())
                .unwrap_or_else(|| UNKNOWN_CLIENT.to_string()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(parts))
    }
}

/// A list page's `dir` parameter: `asc`, `desc`, or absent/empty for the sort's own default.
pub fn sort_direction(dir: Option<&str>, descending_by_default: bool) -> Result<bool, Error> {
    match dir {
        None | Some("") => Ok(descending_by_default),
        Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(other) => Err(Error::BadRequest(format!("dir={other:?}: use asc or desc"))),
    }
}

/// A list page's search box (`q`), trimmed; `None` when blank.
pub fn search_term(q: Option<&str>) -> Option<String> {
    q.map(str::trim).filter(|q| !q.is_empty()).map(str::to_string)
}
