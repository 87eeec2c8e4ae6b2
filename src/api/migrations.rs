//! `GET /api/v1/databases/{name}/migrations`: every migration tool found in the database with its history, pending
//! files and problems (`tools`), and for Strata's own migrator its state, head and a page of `migrations_log`.

use axum::Json;
use axum::extract::State;
use entity::migrations_log;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use super::params::{PageParams, Paged};
use crate::error::{Error, Result};
use crate::home::api_keys::Scope;
use crate::migrate::{self, MigrationStatus};
use crate::state::AppState;
use crate::watch::{catalog, schema_history};
use crate::web::current_db::CurrentDb;
use crate::web::extract::Query;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Only log entries with this status: `success` or `failed`.
    #[param(inline, value_type = Option<LogStatus>)]
    status: Option<String>,
}

/// The values of `status` (the document's list; the handler matches the text).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum LogStatus {
    Success,
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationsResponse {
    /// Every migration tool whose version table is in the database (any schema), as that tool records it, with
    /// pending files when `migrations_dir` is configured and the problems found.
    pub tools: Vec<schema_history::ToolHistory>,
    /// What the reading could not cover.
    pub notes: Vec<String>,
    /// The revision in `alembic_version`, or `base`.
    pub head: String,
    /// Every migration this build knows, oldest first.
    pub migrations: Vec<MigrationStatus>,
    /// `migrations_log`, newest first, paged by `page` and `per_page`.
    pub log: Paged<migrations_log::Model>,
}

/// Every migration tool's history, pending files and problems; Strata's migrator's status and log.
///
/// Needs the `read_catalog` scope.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/migrations", tag = "catalog", operation_id = "migrations_index", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)"), PageParams, Filter),
    responses(
        (status = 200, description = "The migrations and a page of the log", body = MigrationsResponse),
        (status = 400, description = "A parameter out of its bounds; the message names it (`bad_request`)", body = ErrorBody),
        KeyRefusals, DbRefusals,
        (status = 504, description = "The catalog read passed `catalog_timeout` (`timeout`)", body = ErrorBody)
    )
)]
pub async fn index(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(paging): Query<PageParams>,
    Query(filter): Query<Filter>,
) -> Result<Json<MigrationsResponse>> {
    caller.require(Scope::ReadCatalog)?;
    let (page, per_page) = paging.get()?;
    let status = filter.status.filter(|s| !s.is_empty());
    if let Some(s) = status.as_deref()
        && s != "success"
        && s != "failed"
    {
        return Err(Error::BadRequest(format!("status={s:?}: use success or failed")));
    }
    let limit = state.config.settings.catalog_timeout;
    let found = schema_history::of(&db, &state.migrations, limit, true)
        .await?
        .ok_or_else(|| Error::Timeout(catalog::timeout_note(limit)))?;
    let (rows, total) = migrate::history_page(&db.db, status.as_deref(), (page - 1) * per_page, per_page).await?;
    Ok(Json(MigrationsResponse {
        tools: found.tools.clone(),
        notes: found.notes.clone(),
        head: migrate::current(&db.db).await?.unwrap_or_else(|| "base".into()),
        migrations: migrate::status(&db.db, &state.migrations).await?,
        log: Paged::new(rows, page, per_page, total),
    }))
}
