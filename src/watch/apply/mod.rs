//! Migrations applied to the project database from the dashboard or the API: what a request asks for, its preview,
//! its lint, the typed confirmation, and the run in the background with its live progress, cancellation and impact report.
//!
//! A run works as `strata migrate` does: its own single-connection pool, the runner's lock (a migrator elsewhere
//! holding it is named while the run waits), `migrations_log` rows with the account as actor. It is recorded in
//! the home database's `migration_runs` (steps and impact) and the audit log (`migrations.apply`, with how it
//! ended), both written before the run shows as finished. One run at a time per database in this process.

pub mod alembic;
mod run;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use super::Watched;
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::migrate::lint::{self, Report};
use crate::migrate::{self, Action, MigrationSet, Rehearsal, Steps};

pub use run::{LiveRun, RunStatus, Runs, Step, cancel, status};

/// What a person or a key asks for: `{"action": "up"|"down"|"stamp", "to": REV|"base", "n": N, "confirm": NAME}`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Request {
    /// `up`, `down` or `stamp`.
    #[schema(pattern = "^(up|down|stamp)$")]
    pub action: String,
    /// A revision (id, name or unique prefix), `head`, or `base` (`down`, `stamp`).
    #[serde(default)]
    pub to: Option<String>,
    /// How many migrations (`up`, `down`); `up` runs them all and `down` one when neither `to` nor `n` is given.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub n: Option<u32>,
    /// The database's name, typed, when the action needs a confirmation (`down`, `stamp`, and `up` when the lint
    /// finds a statement that drops or rewrites data).
    #[serde(default)]
    pub confirm: Option<String>,
}

/// A request checked and resolved to what the runner does.
#[derive(Clone, Debug)]
pub struct Plan {
    pub action: Action,
    pub steps: Steps,
    /// `stamp`'s revision.
    pub stamp: Option<String>,
    /// `up all`, `down n=1`, `stamp to=base`: how runs and the audit log name it.
    pub target: String,
}

impl Plan {
    /// `up`, `down` or `stamp`.
    pub fn verb(&self) -> &'static str {
        match self.action {
            Action::Upgrade => "up",
            Action::Downgrade => "down",
            Action::Stamp => "stamp",
        }
    }
}

impl Request {
    /// Checks the fields: one of `to` and `n`, `stamp` with `to`, `n` at least 1.
    pub fn plan(&self) -> Result<Plan> {
        let to = self.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if to.is_some() && self.n.is_some() {
            return Err(Error::BadRequest("give `to` or `n`, not both".into()));
        }
        if self.n == Some(0) {
            return Err(Error::BadRequest("n=0 runs nothing: give at least 1".into()));
        }
        let steps = match (to, self.n) {
            (Some(rev), _) => Steps::To(rev.to_string()),
            (None, Some(n)) => Steps::Count(n),
            (None, None) if self.action == "down" => Steps::Count(1),
            (None, None) => Steps::All,
        };
        let target = match &steps {
            Steps::All => "all".to_string(),
            Steps::Count(n) => format!("n={n}"),
            Steps::To(rev) => format!("to={rev}"),
        };
        let (action, stamp) = match self.action.trim() {
            "up" => (Action::Upgrade, None),
            "down" => (Action::Downgrade, None),
            "stamp" => match (to, self.n) {
                (Some(rev), None) => (Action::Stamp, Some(rev.to_string())),
                _ => return Err(Error::BadRequest("stamp needs `to`: the revision (or base) to record".into())),
            },
            other => return Err(Error::BadRequest(format!("action={other:?}: use up, down or stamp"))),
        };
        Ok(Plan { action, steps, stamp, target })
    }
}

/// Why this plan needs the database's name typed before it runs, if it does: `down` and `stamp` always, `up` when
/// the lint finds a statement that drops or rewrites data.
pub fn confirmation(plan: &Plan, lint: &Report) -> Option<String> {
    match plan.action {
        Action::Downgrade => Some("down rolls migrations back: what they created, data included, is dropped".into()),
        Action::Stamp => Some("stamp changes the recorded version without running any migration".into()),
        Action::Upgrade => {
            let destructive: Vec<String> = lint
                .findings()
                .filter(|f| f.destructive)
                .map(|f| format!("{} statement {} ({})", f.migration, f.statement, f.rule))
                .collect();
            (!destructive.is_empty()).then(|| format!("this plan drops or rewrites data: {}", destructive.join(", ")))
        }
    }
}

/// Refuses a plan that needs a confirmation without the database's name typed exactly (the lint is read again:
/// what runs is what is checked).
pub async fn check_confirmed(w: &Watched, set: &MigrationSet, plan: &Plan, confirm: Option<&str>) -> Result<()> {
    if confirm.map(str::trim) == Some(w.name()) {
        return Ok(());
    }
    let lint = lint(w, set, plan).await?;
    let Some(why) = confirmation(plan, &lint) else { return Ok(()) };
    Err(Error::BadRequest(format!("{why}: type the database's name ({}) to confirm; nothing was run", w.name())))
}

/// Which migrator a database's migrations page and API run.
pub enum Tool {
    /// Strata's own, on the project database.
    Strata,
    /// An Alembic project's own `alembic` (`alembic_ini` and `alembic_path`), on a watched database that is not
    /// the project database.
    Alembic(alembic::Project),
}

/// The migrator that runs `w`'s migrations from the dashboard; refuses a `read_only` database, one with
/// `alembic_ini` but no `alembic_path` (saying how to enable it), and one no migrator manages.
pub fn tool(w: &Watched) -> Result<Tool> {
    w.require_writable("running migrations")?;
    if w.spec.project {
        return Ok(Tool::Strata);
    }
    match alembic::Project::of(w) {
        Some(project) => Ok(Tool::Alembic(project?)),
        None => check_usable(w).map(|_| Tool::Strata),
    }
}

/// Refuses a database no migrator here manages (see [`tool`]), or one configured `read_only`.
pub fn check_allowed(w: &Watched) -> Result<()> {
    tool(w).map(|_| ())
}

/// The lint of what the plan would run now.
pub async fn lint(w: &Watched, set: &MigrationSet, plan: &Plan) -> Result<Report> {
    match tool(w)? {
        Tool::Strata => lint::lint_plan(&w.db, set, plan.action, &plan.steps).await,
        Tool::Alembic(p) => alembic::lint(w, &p, plan).await,
    }
}

/// Starts `plan` in the background with the database's migrator; returns the run's id at once. `audit` is the
/// `migrations.apply` entry of the account or key, written when the run ends with how it ended.
pub async fn start(
    home: &DatabaseConnection,
    w: std::sync::Arc<Watched>,
    set: std::sync::Arc<MigrationSet>,
    lock_timeout: Duration,
    plan: Plan,
    actor: String,
    audit: crate::home::audit::Entry,
) -> Result<i64> {
    match tool(&w)? {
        Tool::Strata => run::start(home, w, set, lock_timeout, plan, actor, audit).await,
        Tool::Alembic(p) => alembic::start(home, w, p, plan, actor, audit).await,
    }
}

/// Refuses a database Strata's migrator does not manage, or one configured `read_only`.
pub fn check_usable(w: &Watched) -> Result<()> {
    w.require_writable("running migrations")?;
    if !w.spec.project {
        return Err(Error::Conflict(format!(
            "{} is not the project database: Strata's migrator manages the project database only",
            w.name()
        )));
    }
    Ok(())
}

/// Rehearses a plan on its own connection to the project database (see [`migrate::rehearse`]): the migrations run
/// for real inside one transaction under the migration lock, which is then rolled back. PostgreSQL and SQLite;
/// MariaDB/MySQL is refused (DDL commits there). A stamp runs no migration, so there is nothing to rehearse.
/// Like a run, it works on a thread of its own with a single-threaded runtime, as `strata migrate` does.
pub async fn rehearse(w: &Watched, set: &Arc<MigrationSet>, plan: &Plan, lock_timeout: Duration) -> Result<Rehearsal> {
    if let Tool::Alembic(_) = tool(w)? {
        return Err(alembic::cannot_rehearse());
    }
    check_usable(w)?;
    if plan.stamp.is_some() {
        return Err(Error::BadRequest("a stamp runs no migration: there is nothing to rehearse".into()));
    }
    let (url, set, plan) = (w.url().clone(), set.clone(), plan.clone());
    run::on_own_thread("the rehearsal", move || async move {
        let conn = db::connect(&url, Purpose::Migrate).await?;
        let result = migrate::rehearse(&conn, &set, plan.action, &plan.steps, lock_timeout).await;
        conn.close().await.ok();
        result
    })
    .await
}

/// How a rehearsal of `plan` ended, in words, for the audit log.
pub fn rehearsal_outcome(plan: &Plan, result: &Result<Rehearsal>) -> String {
    match result {
        Ok(r) => match &r.failed {
            Some(rev) => format!("{} {}: {rev} failed; rolled back", plan.verb(), plan.target),
            None => {
                format!("{} {}: {} migration(s) rehearsed and rolled back", plan.verb(), plan.target, r.steps.len())
            }
        },
        Err(e) => format!("{} {}: refused: {e}", plan.verb(), plan.target),
    }
}

/// One migration of a plan.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Planned {
    pub revision: String,
    pub name: String,
}

/// What a plan would do, before anything runs.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// `up`, `down` or `stamp`.
    pub action: String,
    pub target: String,
    /// The migrations it would run, in order.
    pub migrations: Vec<Planned>,
    /// The exact SQL for this backend, version-table writes included (what `strata migrate ... --sql` prints).
    pub sql: String,
    /// Why the database's name must be typed (`confirm`) to apply it; `null` when it need not be.
    pub confirmation: Option<String>,
    /// The lint of the migrations' statements (bookkeeping left out), each finding under its statement.
    pub lint: Report,
    /// What the preview could not check (an Alembic project whose `env.py` computes its URL, progress hidden by its
    /// logging config); empty for Strata's migrator.
    pub notes: Vec<String>,
}

/// The SQL the plan would run now and the migrations it would run.
pub async fn preview(w: &Watched, set: &MigrationSet, plan: &Plan, actor: &str) -> Result<Preview> {
    if let Tool::Alembic(p) = tool(w)? {
        return alembic::preview(w, &p, plan).await;
    }
    check_usable(w)?;
    let sql = match &plan.stamp {
        Some(rev) => migrate::stamp_sql(&w.db, set, rev).await?,
        None => migrate::dry_run(&w.db, set, plan.action, &plan.steps, actor).await?,
    };
    let lint = lint::lint_plan(&w.db, set, plan.action, &plan.steps).await?;
    Ok(Preview {
        action: plan.verb().into(),
        target: plan.target.clone(),
        migrations: planned(&w.db, set, plan).await?,
        sql,
        confirmation: confirmation(plan, &lint),
        lint,
        notes: Vec::new(),
    })
}

async fn planned(db: &DatabaseConnection, set: &MigrationSet, plan: &Plan) -> Result<Vec<Planned>> {
    let order = migrate::plan(db, set, plan.action, &plan.steps).await?;
    Ok(order
        .into_iter()
        .map(|i| {
            let e = &set.entries()[i];
            Planned { revision: e.revision.clone(), name: e.name.clone() }
        })
        .collect())
}
