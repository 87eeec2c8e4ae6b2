//! `GET /api/v1/databases/{name}/backups`: the database's backups in its backup folder and, with off-site copies in
//! force, in the bucket (also copies whose local file is gone), newest first, each with where it is and its last
//! restore test, and when the next scheduled backup runs. The Backups page's list, for scripts.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::errors::{DbRefusals, KeyRefusals};
use crate::backup::manifest;
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
    /// The file name in the database's backup folder (and off-site, under the same name).
    pub file: String,
    /// Bytes (of the off-site copy when there is no local file).
    pub size: u64,
    pub created_at: DateTime<Utc>,
    /// Whether the file is an age file (`backup_encrypt_to`); restoring it needs an identity.
    pub encrypted: bool,
    /// Where its off-site copy is (`s3://bucket/prefix/file`), as the bucket lists it (from the backup's sidecar when
    /// the bucket cannot be listed); `null` without one.
    pub offsite: Option<String>,
    /// Where its copies are: `local` (the backup folder), `offsite` (only in the bucket) or `both`.
    #[schema(value_type = String)]
    pub location: &'static str,
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
    let config = db.config(&state.config);
    let (located, _) =
        crate::watch::backups::located(&state.home, &config, &db.spec, &db.backup_dir(&state.config)).await?;
    let items = located
        .into_iter()
        .map(|l| {
            let location = l.location();
            let b = l.backup;
            let sidecar = if l.local { manifest::read(&b.path).ok().flatten() } else { None };
            let test = sidecar.and_then(|m| m.restore_test);
            BackupItem {
                encrypted: b.encrypted(),
                file: b.name,
                size: b.bytes,
                created_at: b.taken,
                offsite: l.offsite,
                location,
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
