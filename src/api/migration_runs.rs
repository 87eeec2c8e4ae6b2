//! `POST /api/v1/databases/{name}/migrations/preview|lint|apply` and `GET .../migrations/runs/{id}`: Strata's migrations
//! previewed and applied on the project database, or an Alembic project's revisions on a watched database with
//! `alembic_ini` and `alembic_path`, by an admin key with the `manage_migrations` scope.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::api_keys::Scope;
use crate::home::audit;
use crate::migrate::Rehearsal;
use crate::migrate::lint::Report;
use crate::state::AppState;
use crate::watch::apply::{self, Preview, Request, RunStatus};
use crate::web::current_db::CurrentDb;
use crate::web::extract::{Json as Body, Path, Query};

/// An admin key with `manage_migrations`, on the project database, when it is not `read_only`.
fn allowed(caller: &Caller, db: &CurrentDb) -> Result<()> {
    caller.require(Scope::ManageMigrations)?;
    caller.require_role(Role::Admin)?;
    apply::check_allowed(db)
}

/// The SQL a migration command would run now, and the migrations it would run; nothing runs. On a database with an
/// Alembic project (`alembic_ini` and `alembic_path`), what the project's `alembic ... --sql` prints from the revision
/// the database is at.
///
/// Needs an admin key with the `manage_migrations` scope.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/migrations/preview", tag = "migrations", operation_id = "migration_runs_preview", security(("bearer" = [])),
    params(("name" = String, Path, description = "The project database (a name from GET /api/v1/databases)")),
    request_body = Request,
    responses(
        (status = 200, description = "The exact SQL for this backend, version-table writes included", body = Preview),
        (status = 409, description = "Neither the project database nor an Alembic project with alembic_path, or the database is another project's (`conflict`)", body = ErrorBody),
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
        (status = 409, description = "Neither the project database nor an Alembic project with alembic_path, or the database is another project's (`conflict`)", body = ErrorBody),
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
    Ok(Json(apply::lint(&db, &state.migrations, &plan).await?))
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
        (status = 409, description = "Neither the project database nor an Alembic project with alembic_path, or the database is another project's (`conflict`)", body = ErrorBody),
        (status = 501, description = "MariaDB/MySQL: DDL commits; an Alembic project: alembic commits as its env.py says; \
                                      so nothing can be rehearsed (`unsupported`)", body = ErrorBody),
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

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelParams {
    /// Also abort the statement running now (PostgreSQL `pg_cancel_backend` on the runner's session).
    #[serde(default)]
    pub abort: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cancelled {
    pub id: i64,
    /// What was done, in a sentence.
    pub done: String,
}

/// Asks a running migration run to stop: before its next migration, or at once while it still waits for another
/// migrator's lock (it then ends `cancelled` having run nothing); with `abort=true` the statement running now is
/// aborted too (PostgreSQL). An Alembic run's process is ended. Audited as `migrations.cancel` / `migrations.abort`.
///
/// Needs an admin key with the `manage_migrations` scope.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/migrations/runs/{id}/cancel", tag = "migrations", operation_id = "migration_runs_cancel", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "The database (a name from GET /api/v1/databases)"),
        ("id" = i64, Path, description = "The run's id, as `apply` answered"),
        CancelParams
    ),
    responses(
        (status = 200, description = "Asked; follow the run's status until it ends", body = Cancelled),
        (status = 409, description = "The run is not running in this server (`conflict`)", body = ErrorBody),
        (status = 501, description = "`abort` where no statement can be aborted (`unsupported`); the run still stops", body = ErrorBody),
        KeyRefusals, DbRefusals
    )
)]
pub async fn cancel(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    Query(params): Query<CancelParams>,
) -> Result<Json<Cancelled>> {
    allowed(&caller, &db)?;
    let id: i64 = id.parse().map_err(|_| Error::BadRequest(format!("id={id:?}: a run's id is an integer")))?;
    let done = apply::cancel(&db, id, params.abort).await;
    let detail = match &done {
        Ok(what) => format!("{what}, through the API"),
        Err(e) => format!("refused: {e}, through the API"),
    };
    let action = if params.abort { "migrations.abort" } else { "migrations.cancel" };
    let entry = caller.audit(action, detail).database(db.name()).target(format!("run {id}"));
    if let Err(e) = audit::record(&state.home, entry).await {
        tracing::warn!(error = %e, "cannot record the cancel in the audit log");
    }
    Ok(Json(Cancelled { id, done: done? }))
}
