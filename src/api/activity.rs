//! `GET /api/v1/databases/{name}/activity` (sessions, groups, long-running, who blocks whom) and `POST .../{pid}/cancel|terminate`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use crate::db::introspect::Activity;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::api_keys::Scope;
use crate::home::audit;
use crate::state::AppState;
use crate::web::current_db::CurrentDb;
use crate::web::extract::Path;

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityResponse {
    /// Server sessions exist (PostgreSQL, MariaDB); on SQLite `sessions` are Strata's own statements.
    pub server_activity: bool,
    /// This backend lets Strata cancel a statement or end a session.
    pub can_cancel: bool,
    pub can_terminate: bool,
    /// `long_running` lists the sessions running longer than this.
    pub long_query_threshold_ms: u64,
    pub activity: Activity,
}

/// Sessions and what they run.
///
/// Needs the `read_catalog` scope.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/activity", tag = "catalog", operation_id = "activity_index", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)")),
    responses(
        (status = 200, description = "The sessions", body = ActivityResponse),
        KeyRefusals, DbRefusals,
        (status = 504, description = "A catalog read passed `catalog_timeout` (`timeout`)", body = ErrorBody)
    )
)]
pub async fn index(caller: Caller, db: CurrentDb, State(state): State<AppState>) -> Result<Json<ActivityResponse>> {
    caller.require(Scope::ReadCatalog)?;
    let caps = db.introspector.capabilities();
    let threshold = state.config.settings.long_query_threshold;
    let activity = super::within(&state, db.introspector.activity(threshold)).await?;
    Ok(Json(ActivityResponse {
        server_activity: caps.server_activity,
        can_cancel: caps.cancel,
        can_terminate: caps.terminate,
        long_query_threshold_ms: u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX),
        activity,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignalResponse {
    pub pid: i64,
    /// `cancel` or `terminate`.
    pub action: String,
    /// False when no such session was running (nothing was done).
    pub signalled: bool,
}

/// Cancel the statement a session is running.
///
/// Needs an admin key with the `run_sql` scope. Written to the audit log.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/activity/{pid}/cancel", tag = "sessions", operation_id = "activity_cancel", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)"), ("pid" = i64, Path, description = "The session's process id (`pid` in /api/v1/activity)")),
    responses(
        (status = 200, description = "Signalled, or no such session was running", body = SignalResponse),
        (status = 400, description = "`pid` is not an integer (`bad_request`)", body = ErrorBody),
        KeyRefusals, DbRefusals,
        (status = 501, description = "The backend has no server sessions (SQLite) or does not let Strata signal them \
                                      (`unsupported`)", body = ErrorBody)
    )
)]
pub async fn cancel(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, pid)): Path<(String, String)>,
) -> Result<Json<SignalResponse>> {
    signal(caller, db, state, &pid, "cancel").await
}

/// End a session.
///
/// Needs an admin key with the `run_sql` scope. Written to the audit log.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/activity/{pid}/terminate", tag = "sessions", operation_id = "activity_terminate", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)"), ("pid" = i64, Path, description = "The session's process id (`pid` in /api/v1/activity)")),
    responses(
        (status = 200, description = "Signalled, or no such session was running", body = SignalResponse),
        (status = 400, description = "`pid` is not an integer (`bad_request`)", body = ErrorBody),
        KeyRefusals, DbRefusals,
        (status = 501, description = "The backend has no server sessions (SQLite) or does not let Strata signal them \
                                      (`unsupported`)", body = ErrorBody)
    )
)]
pub async fn terminate(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, pid)): Path<(String, String)>,
) -> Result<Json<SignalResponse>> {
    signal(caller, db, state, &pid, "terminate").await
}

async fn signal(
    caller: Caller,
    db: CurrentDb,
    state: AppState,
    pid: &str,
    action: &'static str,
) -> Result<Json<SignalResponse>> {
    caller.require_role(Role::Admin)?;
    caller.require(Scope::RunSql)?;
    if action == "terminate" {
        db.require_writable("terminating a session")?;
    }
    let pid: i64 = pid.parse().map_err(|_| Error::BadRequest(format!("pid={pid:?}: a session's pid is an integer")))?;
    let caps = db.introspector.capabilities();
    let backend = db.url().backend();
    let signalled = match action {
        "cancel" if caps.cancel => db.introspector.cancel(pid).await?,
        "terminate" if caps.terminate => db.introspector.terminate(pid).await?,
        _ if caps.server_activity => {
            return Err(Error::Unsupported(format!("this {backend} server does not let Strata {action} sessions")));
        }
        _ => return Err(Error::Unsupported(format!("{backend} has no server sessions to {action}"))),
    };
    let outcome = if signalled { "signalled" } else { "no such session" };
    audit::record(
        &state.home,
        caller.audit(format!("session.{action}"), outcome).database(db.name()).target(format!("pid {pid}")),
    )
    .await?;
    Ok(Json(SignalResponse { pid, action: action.to_string(), signalled }))
}
