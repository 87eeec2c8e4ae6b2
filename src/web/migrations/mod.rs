//! The migrations page: every migration tool found in the database with its history, pending files and troubles;
//! then Strata's own migrator: every migration's state, the alembic_version head, migrations_log, the runs started
//! here and, for admins on the project database, the form that previews and applies migrations ([`runs`]).

pub mod around;
pub mod runs;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use entity::migrations_log;
use serde::Deserialize;

use super::current_db::CurrentDb;
use super::extract::Query;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::migration_runs;
use crate::migrate::{self, MigrationStatus};
use crate::state::AppState;
use crate::watch::apply::{self, RunStatus};
use crate::watch::{catalog, schema_history};

/// History rows shown per migration tool unless `?rows=all` asks for every row read (the newest
/// [`schema_history::HISTORY_LIMIT`]).
pub const TOOL_ROWS: usize = 100;

/// Runs started from the dashboard listed on the page.
const RUNS_SHOWN: u64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// `success` or `failed`.
    status: Option<String>,
    /// `all`: every history row read per tool, not the newest [`TOOL_ROWS`].
    rows: Option<String>,
}

/// `GET /db/{name}/migrations`.
pub async fn index(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<MigrationsPage> {
    user.require(Role::Viewer)?;
    let status = params.status.filter(|s| !s.is_empty());
    let all_rows = match params.rows.as_deref() {
        None | Some("") => false,
        Some("all") => true,
        Some(r) => return Err(Error::BadRequest(format!("rows={r:?}: use all"))),
    };
    if let Some(s) = status.as_deref()
        && s != "success"
        && s != "failed"
    {
        return Err(Error::BadRequest(format!("status={s:?}: use success or failed")));
    }
    // Strata's migrator manages the project database only; on another one the page shows its alembic_version.
    let (migrations, history) = if db.spec.project {
        (migrate::status(&db.db, &state.migrations).await?, migrate::history(&db.db, 200, status.as_deref()).await?)
    } else {
        (Vec::new(), Vec::new())
    };
    // A watched database (not the project one) with an Alembic project: its revisions run from here too.
    let alembic_ini = db.spec.alembic_ini.as_ref().filter(|_| !db.spec.project).map(|p| p.display().to_string());
    let runs = if db.spec.project || alembic_ini.is_some() {
        let runs = migration_runs::recent(&state.home, db.name(), RUNS_SHOWN).await?;
        runs.into_iter().map(RunStatus::from_row).collect()
    } else {
        Vec::new()
    };
    let lock_holder = if db.spec.project { runs::lock_holder(&db).await } else { None };
    // Why the form is not offered to this account here, if it is not.
    let cannot_apply = if !user.can(Role::Admin) {
        Some("Only admins apply migrations from the dashboard.".to_string())
    } else {
        apply::check_allowed(&db).err().map(|e| e.to_string())
    };
    let limit = state.config.settings.catalog_timeout;
    let found = schema_history::of(&db, &state.migrations, limit, true).await?;
    Ok(MigrationsPage {
        timed_out: found.is_none().then(|| catalog::timeout_note(limit)),
        found: found.unwrap_or_default(),
        layout: Layout::for_db(&user, &state, &db, "migrations").await?,
        project: db.spec.project,
        migrations,
        head: migrate::current(&db.db).await?.unwrap_or_else(|| "base".into()),
        history,
        status: status.unwrap_or_default(),
        tool_rows: if all_rows { usize::MAX } else { TOOL_ROWS },
        cannot_apply,
        lock_holder,
        runs,
        alembic_ini,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "migrations/index.html")]
pub struct MigrationsPage {
    /// Every migration tool found, with its history, pending files and problems.
    pub found: std::sync::Arc<schema_history::Migrations>,
    pub timed_out: Option<String>,
    /// Whether this is the project database (the one `strata migrate` manages).
    pub project: bool,
    pub layout: Layout,
    pub migrations: Vec<MigrationStatus>,
    pub head: String,
    pub history: Vec<migrations_log::Model>,
    pub status: String,
    /// History rows shown per tool (newest first).
    pub tool_rows: usize,
    /// Why this account cannot apply migrations here; `None`: the form is shown.
    pub cannot_apply: Option<String>,
    /// Who holds the migration lock now (another migrator), if anyone.
    pub lock_holder: Option<String>,
    /// The newest runs started from the dashboard or the API.
    pub runs: Vec<RunStatus>,
    /// The Alembic project (`alembic_ini`) of a database that is not the project database.
    pub alembic_ini: Option<String>,
}
