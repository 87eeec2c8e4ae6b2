//! `GET /api/v1/databases/{name}/overview`: the server's figures (cached for `stats_refresh`) and the migration state.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use crate::db::introspect::{Capabilities, Overview};
use crate::error::{Error, Result};
use crate::home::api_keys::Scope;
use crate::migrate;
use crate::state::AppState;
use crate::web::current_db::CurrentDb;

#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewResponse {
    /// The backend's name as the dashboard shows it (`PostgreSQL`, `MySQL`, `SQLite`).
    pub backend: String,
    /// When the server figures were read (they are reused for `stats_refresh`).
    pub read_at: DateTime<Utc>,
    /// When the slow figures (the database size; PostgreSQL's cache hit ratios) were read: they are read in the
    /// background every `slow_stats_refresh`. `null` while the first reading is under way (those figures are
    /// `null` then).
    pub slow_read_at: Option<DateTime<Utc>>,
    pub server: Overview,
    pub capabilities: Capabilities,
    pub migrations: MigrationSummary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationSummary {
    /// The revision in `alembic_version`, or `base`.
    pub head: String,
    pub total: usize,
    pub applied: usize,
    pub pending: usize,
    /// Failed or dirty.
    pub failed: usize,
}

/// The overview.
///
/// Needs the `read_catalog` scope.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/overview", tag = "catalog", operation_id = "overview_show", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)")),
    responses(
        (status = 200, description = "The overview", body = OverviewResponse),
        KeyRefusals, DbRefusals,
        (status = 504, description = "A catalog read passed `catalog_timeout` (`timeout`)", body = ErrorBody)
    )
)]
pub async fn show(caller: Caller, db: CurrentDb, State(state): State<AppState>) -> Result<Json<OverviewResponse>> {
    caller.require(Scope::ReadCatalog)?;
    let limit = state.config.settings.catalog_timeout;
    let threshold = state.config.settings.long_query_threshold;
    let snapshot = db.overview.get(limit, || db.introspector.live_overview(threshold)).await?.ok_or_else(|| {
        Error::Timeout(format!("the server statistics did not arrive within {} s", limit.as_secs_f64()))
    })?;
    let slow = db.slow_reading().await;
    let mut server = (*snapshot.value).clone();
    if let Some(r) = &slow {
        r.value.apply(&mut server);
    }
    let all = migrate::status(&db.db, &state.migrations).await?;
    let count = |f: fn(&migrate::MigrationStatus) -> bool| all.iter().filter(|m| f(m)).count();
    Ok(Json(OverviewResponse {
        backend: db.url().backend().to_string(),
        read_at: snapshot.read_at,
        slow_read_at: slow.map(|r| r.read_at),
        server,
        capabilities: db.introspector.capabilities(),
        migrations: MigrationSummary {
            head: migrate::current(&db.db).await?.unwrap_or_else(|| "base".into()),
            total: all.len(),
            applied: count(|m| m.applied),
            pending: count(|m| !m.applied),
            failed: count(|m| m.state == "failed" || m.state == "dirty"),
        },
    }))
}
