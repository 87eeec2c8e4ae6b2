//! `GET /api/v1/databases/{name}/backups`: the database's backups in its backup folder, newest first, each with its
//! last restore test, and when the next scheduled backup runs. The Backups page's list, for scripts.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::errors::{DbRefusals, KeyRefusals};
use crate::backup::{self, manifest};
use crate::error::Result;
use crate::home::accounts::Role;
use crate::home::api_keys::Scope;
use crate::state::AppState;
use crate::watch::scheduler;
use crate::web::current_db::CurrentDb;

/// A backup's last restore test.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreTestState {
    /// `passed` or `failed` (`running` while one runs; `null` when it was never tested).
    pub state: Option<String>,
    /// When the test ran.
    pub at: Option<DateTime<Utc>>,
    /// What was checked and what was wrong, one line each.
    pub report: Option<Vec<String>>,
}

/// One backup file.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupItem {
    /// The file name in the database's backup folder.
    pub file: String,
    /// Bytes.
    pub size: u64,
    pub created_at: DateTime<Utc>,
    /// Whether the file is an age file (`backup_encrypt_to`); restoring it needs an identity.
    pub encrypted: bool,
    /// Where its off-site copy is (`s3://bucket/prefix/file`), once uploaded; `null` without one.
    pub offsite: Option<String>,
    pub restore_test: RestoreTestState,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupsResponse {
    pub items: Vec<BackupItem>,
    /// When the next scheduled backup runs; `null` without a schedule.
    pub next_run: Option<DateTime<Utc>>,
}

/// The database's backups, newest first, with their restore tests and the next scheduled run.
///
/// Needs the `read_catalog` scope and a key with the admin role (backups are an admin's page).
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/backups", tag = "backups", operation_id = "backups_index", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)")),
    responses(
        (status = 200, description = "The backups and the next scheduled run", body = BackupsResponse),
        KeyRefusals, DbRefusals
    )
)]
pub async fn index(caller: Caller, db: CurrentDb, State(state): State<AppState>) -> Result<Json<BackupsResponse>> {
    caller.require(Scope::ReadCatalog)?;
    caller.require_role(Role::Admin)?;
    let listed = backup::list(&db.backup_dir(&state.config), &backup::file_prefix(db.url()))?;
    let items = listed
        .into_iter()
        .map(|b| {
            let sidecar = manifest::read(&b.path).ok().flatten();
            let offsite = sidecar.as_ref().and_then(|m| m.offsite.clone());
            let test = sidecar.and_then(|m| m.restore_test);
            BackupItem {
                encrypted: b.encrypted(),
                file: b.name,
                size: b.bytes,
                created_at: b.taken,
                offsite,
                restore_test: RestoreTestState {
                    state: test.as_ref().map(|t| t.state.clone()),
                    at: test.as_ref().map(|t| t.at),
                    report: test.map(|t| t.checked.into_iter().chain(t.problems).collect()),
                },
            }
        })
        .collect();
    let in_force = scheduler::in_force(&state.home, &db).await?;
    let next_run = match &in_force.schedule {
        Some(s) => scheduler::next_run(&state.home, &db, s).await?,
        None => None,
    };
    Ok(Json(BackupsResponse { items, next_run }))
}
