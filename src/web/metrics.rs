//! `GET /metrics` and who may read it: a client address in `metrics_allow` (loopback by default).
//!
//! All access rules live in [`MetricsReader`]: a client address in `metrics_allow`, or an API key with the
//! `read_metrics` scope.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::IntoResponse;

use crate::api::auth::Caller;
use crate::error::Error;
use crate::home::api_keys::Scope;
use crate::metrics;
use crate::state::AppState;

/// `GET /metrics`: the last collected readings and the HTTP counters, in the Prometheus text format.
pub async fn show(_reader: MetricsReader, State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.start_collecting(); // already running under `strata serve`
    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.render())
}

/// A client allowed to read `/metrics`; anyone else gets 403 before the handler runs.
#[derive(Debug)]
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if address_allowed(parts, state) {
            return Ok(MetricsReader);
        }
        // From elsewhere, a bearer key with the `read_metrics` scope (a wrong key answers 401 like the API).
        if parts.headers.contains_key(AUTHORIZATION) {
            let caller = Caller::from_request_parts(parts, state).await?;
            caller.require(Scope::ReadMetrics)?;
            return Ok(MetricsReader);
        }
        Err(Error::Forbidden)
    }
}

/// Whether the request came over a socket from an address in `metrics_allow`. A request without connect
/// information (the router called in-process) has no address and is refused.
fn address_allowed(parts: &Parts, state: &AppState) -> bool {
    let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return false;
    };
    state.config.settings.metrics_allow.iter().any(|range| range.contains(addr.ip()))
}
