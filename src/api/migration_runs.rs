//! `POST /api/v1/databases/{name}/migrations/preview|lint|apply` and `GET .../migrations/runs/{id}`: Strata's migrations
//! previewed and applied on the project database by an admin key with the `manage_migrations` scope.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::api_keys::Scope;
use crate::home::audit;
use crate::migrate;
use crate::migrate::Rehearsal;
use crate::migrate::lint::Report;
use crate::state::AppState;
use crate::watch::apply::{self, Preview, Request, RunStatus};
use crate::web::current_db::CurrentDb;
use crate::web::extract::{Json as Body, Path};

/// An admin key with `manage_migrations`, on the project database, when it is not `read_only`.
fn allowed(caller: &Caller, db: &CurrentDb) -> Result<()> {
    caller.require(Scope::ManageMigrations)?;
    caller.require_role(Role::Admin)?;
    apply::check_usable(db)
}

/// The SQL a migration command would run now, and the migrations it would run; nothing runs.
///
/// Needs an admin key with the `manage_migrations` scope.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/migrations/preview", tag = "migrations", operation_id = "migration_runs_preview", security(("bearer" = [])),
    params(("name" = String, Path, description = "The project database (a name from GET /api/v1/databases)")),
    request_body = Request,
    responses(
        (status = 200, description = "The exact SQL for this backend, version-table writes included", body = Preview),
        (status = 409, description = "Not the project database, or the database is another project's (`conflict`)", body = ErrorBody),
        KeyRefusals, DbRefusals
    )
)]
pub async fn preview(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    body: Result<Body<Request>, Error>,
) -> Result<Json<Preview>> {
    allowed(&caller, &db)?;
    let Body(request) = body?;
    let plan = request.plan()?;
    Ok(Json(apply::preview(&db, &state.migrations, &plan, &caller.history_user()).await?))
}

/// The lint of the statements a migration command would run now, each finding with its statement's number;
/// nothing runs.
///
/// Needs an admin key with the `manage_migrations` scope.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/migrations/lint", tag = "migrations", operation_id = "migration_runs_lint", security(("bearer" = [])),
    params(("name" = String, Path, description = "The project database (a name from GET /api/v1/databases)")),
    request_body = Request,
    responses(
        (status = 200, description = "Per planned migration, its statements and the findings", body = Report),
        (status = 409, description = "Not the project database, or the database is another project's (`conflict`)", body = ErrorBody),
        KeyRefusals, DbRefusals
    )
)]
pub async fn lint(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    body: Result<Body<Request>, Error>,
) -> Result<Json<Report>> {
    allowed(&caller, &db)?;
    let Body(request) = body?;
    let plan = request.plan()?;
    Ok(Json(migrate::lint::lint_plan(&db.db, &state.migrations, plan.action, &plan.steps).await?))
}

/// Rehearses what a migration command would run now: the migrations run for real inside one transaction under
/// the migration lock, each one's time, locks and the schema changes are reported, and everything is rolled back
/// (PostgreSQL and SQLite; MariaDB/MySQL answers 501: DDL commits there). Audited as `migrations.rehearse`.
///
/// Needs an admin key with the `manage_migrations` scope.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/migrations/rehearse", tag = "migrations", operation_id = "migration_runs_rehearse", security(("bearer" = [])),
    params(("name" = String, Path, description = "The project database (a name from GET /api/v1/databases)")),
    request_body = Request,
    responses(
        (status = 200, description = "Per migration its time and locks, the schema changes; nothing stays", body = Rehearsal),
        (status = 409, description = "Not the project database, or the database is another project's (`conflict`)", body = ErrorBody),
        (status = 501, description = "MariaDB/MySQL: DDL commits, so nothing can be rehearsed (`unsupported`)", body = ErrorBody),
        KeyRefusals, DbRefusals
    )
)]
pub async fn rehearse(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    body: Result<Body<Request>, Error>,
) -> Result<Json<Rehearsal>> {
    allowed(&caller, &db)?;
    let Body(request) = body?;
    let plan = request.plan()?;
    let result = apply::rehearse(&db, &state.migrations, &plan, state.config.settings.lock_timeout).await;
    let outcome = apply::rehearsal_outcome(&plan, &result);
    let entry = caller.audit("migrations.rehearse", format!("{outcome}, through the API")).database(db.name());
    if let Err(e) = audit::record(&state.home, entry).await {
        tracing::warn!(error = %e, "cannot record the rehearsal in the audit log");
    }
    Ok(Json(result?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    /// The run's id: `GET /api/v1/databases/{name}/migrations/runs/{id}` follows it.
    pub id: i64,
    /// Where its progress and outcome are.
    pub status_url: String,
}

/// Starts a migration run in the background; its progress and outcome are at `status_url`.
///
/// `down` and `stamp` need `confirm` set to the database's name. The run is written to `migrations_log` (actor:
/// the key's owner and key), `migration_runs` and the audit log (`migrations.apply`). Needs an admin key with the
/// `manage_migrations` scope.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/migrations/apply", tag = "migrations", operation_id = "migration_runs_apply", security(("bearer" = [])),
    params(("name" = String, Path, description = "The project database (a name from GET /api/v1/databases)")),
    request_body = Request,
    responses(
        (status = 202, description = "Started", body = Started),
        (status = 409, description = "Not the project database, another run is going on, or the database is another \
                                      project's (`conflict`)", body = ErrorBody),
        KeyRefusals, DbRefusals
    )
)]
pub async fn apply(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    body: Result<Body<Request>, Error>,
) -> Result<(StatusCode, Json<Started>)> {
    allowed(&caller, &db)?;
    let Body(request) = body?;
    let plan = request.plan()?;
    apply::check_confirmed(&db, &state.migrations, &plan, request.confirm.as_deref()).await?;
    let id = apply::start(
        &state.home,
        db.0.clone(),
        state.migrations.clone(),
        state.config.settings.lock_timeout,
        plan,
        caller.history_user(),
        caller.audit("migrations.apply", "through the API"),
    )
    .await?;
    let status_url = format!("/api/v1/databases/{}/migrations/runs/{id}", db.name());
    Ok((StatusCode::ACCEPTED, Json(Started { id, status_url })))
}

/// A migration run's progress (per migration), who holds the lock while it waits, its outcome and impact report.
///
/// Needs an admin key with the `manage_migrations` scope.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/migrations/runs/{id}", tag = "migrations", operation_id = "migration_runs_show", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "The project database (a name from GET /api/v1/databases)"),
        ("id" = i64, Path, description = "The run's id, as `apply` answered")
    ),
    responses((status = 200, description = "The run", body = RunStatus), KeyRefusals, DbRefusals)
)]
pub async fn show(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<RunStatus>> {
    caller.require(Scope::ManageMigrations)?;
    caller.require_role(Role::Admin)?;
    let id: i64 = id.parse().map_err(|_| Error::BadRequest(format!("id={id:?}: a run's id is an integer")))?;
    Ok(Json(apply::status(&state.home, &db, id).await?))
}
