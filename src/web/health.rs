//! `/healthz` (the process answers), `/readyz` (home database reachable, the project database's migrations applied), and the guard
//! that answers 503 at once while the database is known to be down or refuses writes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::db::health::{Health, PING_TIMEOUT};
use crate::error::Outage;
use crate::error::{Error, ErrorReport, Fault};
use crate::migrate;
use crate::state::AppState;

/// `GET /healthz`: 200 while the process serves.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database answers and every migration is applied, 503 otherwise; while the
/// database is known to be down, 503 at once.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if let Some(outage) = state.health.outage() {
        return unreachable(&outage);
    }
    let cause = match tokio::time::timeout(PING_TIMEOUT, state.home.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(crate::error::db_text(&e)),
        Err(_) => Some(format!("no answer within {} s", PING_TIMEOUT.as_secs())),
    };
    if let Some(cause) = cause {
        tracing::warn!(error = %crate::config::mask_url_str(&cause), "readiness: database unreachable");
        state.health.report_unreachable(&cause);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
        );
    }
    // The home database answers; the project database's migration state decides the rest (when it is watched and
    // answers: another database's outage is shown on its pages, not here).
    let Some(project) = state.watched.project() else {
        return (StatusCode::OK, Json(json!({ "status": "ready" })));
    };
    let status =
        tokio::time::timeout(state.config.settings.catalog_timeout, migrate::status(&project.db, &state.migrations));
    match status.await {
        Ok(Ok(rows)) => {
            let dirty: Vec<&str> = rows.iter().filter(|r| r.state == "dirty").map(|r| r.revision.as_str()).collect();
            if !dirty.is_empty() {
                // Not something to wait out: an operator has to look (see `strata migrate status`).
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "status": "dirty_migrations", "dirty": dirty })),
                );
            }
            let pending: Vec<&str> = rows.iter().filter(|r| !r.applied).map(|r| r.revision.as_str()).collect();
            if pending.is_empty() {
                (StatusCode::OK, Json(json!({ "status": "ready" })))
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "pending_migrations", "pending": pending })))
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: cannot read migration state");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "cannot read migration state" })),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "unavailable", "reason": "the migration state did not answer within catalog_timeout" }),
            ),
        ),
    }
}

fn unreachable(outage: &Outage) -> (StatusCode, Json<Value>) {
    let body = json!({
        "status": "unavailable",
        "reason": "database unreachable",
        "cause": outage.cause,
        "since": outage.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body))
}

/// The middleware around everything that needs the database (pages, sign-in, the session layer, the API).
///
/// - While the database is known to be down: 503 at once (one atomic load per request; no ping).
/// - A response that met a connection failure marks the database down; the watcher clears it.
/// - A response that met a refused write records the fault and names it (the SQLite path or masked URL).
/// - A form refused for its CSRF token while writes fail, from a client that has no session cookie because
///   none could be stored, gets that 503 as well rather than a bare 403.
pub async fn guard(State(health): State<Arc<Health>>, req: Request, next: Next) -> Response {
    if let Some(outage) = health.outage() {
        return Error::Down(outage).into_response();
    }
    let cookieless = !super::csrf::has_session_cookie(req.headers());
    let response = next.run(req).await;
    match response.extensions().get::<Fault>() {
        Some(Fault::Unreachable(cause)) => {
            health.report_unreachable(cause);
            response
        }
        Some(Fault::Unwritable(fault)) => {
            health.report_write_fault(*fault);
            Error::Unwritable { fault: *fault, home: Some(health.home().to_string()) }.into_response()
        }
        None => {
            let refused_csrf = response.extensions().get::<ErrorReport>().is_some_and(|r| r.code == "csrf");
            match health.write_fault() {
                Some(fault) if refused_csrf && cookieless => {
                    Error::Unwritable { fault, home: Some(health.home().to_string()) }.into_response()
                }
                _ => response,
            }
        }
    }
}
