//! `/healthz` (the process answers) and `/readyz` (database reachable, no pending migrations).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::migrate;
use crate::state::AppState;

/// `GET /healthz`: 200 while the process serves.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database answers and every migration is applied, 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if let Err(e) = state.db.ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
        );
    }
    match migrate::status(&state.db, &state.migrations).await {
        Ok(rows) => {
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
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read migration state");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "cannot read migration state" })),
            )
        }
    }
}
