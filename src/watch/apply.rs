//! Migrations applied to the project database from the dashboard or the API: what a request asks for, its preview,
//! its lint, the typed confirmation, and the run in the background with its live progress, cancellation and impact report.
//!
//! A run works as `strata migrate` does: its own single-connection pool, the runner's lock (a migrator elsewhere
//! holding it is named while the run waits), `migrations_log` rows with the account as actor. It is recorded in
//! the home database's `migration_runs` (steps and impact) and the audit log (`migrations.apply`, with how it
//! ended), both written before the run shows as finished. One run at a time per database in this process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseExecutor};
use serde::{Deserialize, Serialize};

use super::Watched;
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::home::{audit, migration_runs};
use crate::migrate::impact::{self, Impact, Snapshot};
use crate::migrate::lint::{self, Report};
use crate::migrate::{self, Action, Between, Entry, Event, MigrationSet, Runner, Steps};

/// Runs kept in memory per database (the home database keeps them all).
const KEPT: usize = 20;

/// What a person or a key asks for: `{"action": "up"|"down"|"stamp", "to": REV|"base", "n": N, "confirm": NAME}`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Request {
    /// `up`, `down` or `stamp`.
    pub action: String,
    /// A revision (id, name or unique prefix), `head`, or `base` (`down`, `stamp`).
    #[serde(default)]
    pub to: Option<String>,
    /// How many migrations (`up`, `down`); `up` runs them all and `down` one when neither `to` nor `n` is given.
    #[serde(default)]
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
    let lint = lint::lint_plan(&w.db, set, plan.action, &plan.steps).await?;
    let Some(why) = confirmation(plan, &lint) else { return Ok(()) };
    Err(Error::BadRequest(format!("{why}: type the database's name ({}) to confirm; nothing was run", w.name())))
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
}

/// The SQL the plan would run now and the migrations it would run.
pub async fn preview(w: &Watched, set: &MigrationSet, plan: &Plan, actor: &str) -> Result<Preview> {
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

/// One migration of a run as the page and the API show it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    pub revision: String,
    pub name: String,
    /// `pending`, `running`, `succeeded`, `failed` or `not_run` (the run stopped before it).
    pub state: String,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

/// A run's progress and outcome (`GET .../migrations/runs/{id}`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunStatus {
    pub id: i64,
    pub database: String,
    /// `up`, `down` or `stamp`.
    pub action: String,
    pub target: String,
    pub actor: String,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// While the run waits for the migration lock: who holds it.
    pub waiting: Option<String>,
    /// The runner's server session (PostgreSQL backend PID), which "abort the current statement" signals.
    pub runner_pid: Option<i64>,
    /// A stop between migrations was asked for.
    pub cancel_requested: bool,
    pub steps: Vec<Step>,
    /// Why it failed, or what the cancellation left run and not run.
    pub error: Option<String>,
    /// Per migration that ran: the relations that changed, with sizes and row estimates before and after.
    pub impact: Vec<Impact>,
}

impl RunStatus {
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// Whether server session `pid` is the runner's.
    pub fn is_runner(&self, pid: &i64) -> bool {
        self.runner_pid == Some(*pid)
    }

    /// A run read back from the home database.
    pub fn from_row(row: entity::migration_runs::Model) -> RunStatus {
        RunStatus {
            id: row.id,
            database: row.database_name,
            action: row.action,
            target: row.target,
            actor: row.actor,
            state: row.state,
            started_at: row.started_at,
            finished_at: row.finished_at,
            waiting: None,
            runner_pid: None,
            cancel_requested: false,
            steps: serde_json::from_str(&row.steps).unwrap_or_default(),
            error: row.error,
            impact: row.impact.as_deref().and_then(|i| serde_json::from_str(i).ok()).unwrap_or_default(),
        }
    }
}

/// A run of this process, while it runs and for a while after.
pub struct LiveRun {
    status: Mutex<RunStatus>,
    cancel: AtomicBool,
    /// "Abort the current statement" was asked for.
    aborted: AtomicBool,
    /// The schema just before the migration running now.
    before: Mutex<Option<Snapshot>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LiveRun {
    pub fn status(&self) -> RunStatus {
        lock(&self.status).clone()
    }

    fn on_event(&self, event: Event<'_>) {
        let mut s = lock(&self.status);
        let step =
            |s: &mut RunStatus, e: &Entry| -> Option<usize> { s.steps.iter().position(|x| x.revision == e.revision) };
        match event {
            Event::Waiting(m) => s.waiting = Some(m.to_string()),
            Event::Started { entry, .. } => {
                s.waiting = None;
                if let Some(i) = step(&mut s, entry) {
                    s.steps[i].state = "running".into();
                }
            }
            Event::Finished { entry, duration_ms, .. } => {
                if let Some(i) = step(&mut s, entry) {
                    s.steps[i].state = "succeeded".into();
                    s.steps[i].duration_ms = Some(duration_ms);
                }
            }
            Event::Failed { entry, duration_ms, error, .. } => {
                if let Some(i) = step(&mut s, entry) {
                    s.steps[i].state = "failed".into();
                    s.steps[i].duration_ms = Some(duration_ms);
                    s.steps[i].error = Some(error.to_string());
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Between for LiveRun {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    async fn before(&self, x: &DatabaseExecutor<'_>, _entry: &Entry, _action: Action) {
        let snapshot = impact::snapshot(x).await;
        *lock(&self.before) = Some(snapshot);
    }

    async fn after(&self, x: &DatabaseExecutor<'_>, entry: &Entry, action: Action) {
        let after = impact::snapshot(x).await;
        let before = lock(&self.before).take().unwrap_or_default();
        let report = impact::compare(&entry.revision, &entry.name, action.as_str(), &before, &after);
        lock(&self.status).impact.push(report);
    }
}

/// The runs of one database in this process.
#[derive(Default)]
pub struct Runs {
    live: Mutex<Vec<Arc<LiveRun>>>,
    busy: AtomicBool,
}

static SHARED: LazyLock<Mutex<HashMap<String, Arc<Runs>>>> = LazyLock::new(Default::default);

impl Runs {
    /// The runs of the database `w` names, the same for every caller in this process.
    pub fn of(w: &Watched) -> Arc<Runs> {
        lock(&SHARED).entry(w.url().masked()).or_default().clone()
    }

    /// Run `id`, when this process has it in memory.
    pub fn get(&self, id: i64) -> Option<Arc<LiveRun>> {
        lock(&self.live).iter().find(|r| lock(&r.status).id == id).cloned()
    }

    /// The run going on now.
    pub fn running(&self) -> Option<Arc<LiveRun>> {
        lock(&self.live).iter().find(|r| r.status().is_running()).cloned()
    }
}

/// Frees the database for the next run however the task ends.
struct Busy(Arc<Runs>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

/// Starts `plan` in the background; returns the run's id at once. `audit` is the `migrations.apply` entry of the
/// account or key, written when the run ends with how it ended.
pub async fn start(
    home: &DatabaseConnection,
    w: Arc<Watched>,
    set: Arc<MigrationSet>,
    lock_timeout: Duration,
    plan: Plan,
    actor: String,
    audit: audit::Entry,
) -> Result<i64> {
    check_usable(&w)?;
    let runs = Runs::of(&w);
    if runs.busy.swap(true, Ordering::SeqCst) {
        let who = runs.running().map(|r| {
            let s = r.status();
            format!(" ({} {} by {}, run {})", s.action, s.target, s.actor, s.id)
        });
        return Err(Error::Conflict(format!(
            "a migration run started from the dashboard is already running on {}{}; nothing was started",
            w.name(),
            who.unwrap_or_default()
        )));
    }
    let busy = Busy(runs.clone());
    let steps: Vec<Step> = planned(&w.db, &set, &plan)
        .await?
        .into_iter()
        .map(|p| Step { revision: p.revision, name: p.name, state: "pending".into(), duration_ms: None, error: None })
        .collect();
    let conn = db::connect(w.url(), Purpose::Migrate).await?;
    let runner_pid = migrate::session_pid(&conn).await?;
    let started_at = Utc::now();
    let id = migration_runs::start(
        home,
        migration_runs::NewRun {
            database: w.name(),
            action: plan.verb(),
            target: &plan.target,
            actor: &actor,
            started_at,
            steps: serde_json::to_string(&steps).unwrap_or_else(|_| "[]".into()),
        },
    )
    .await?;
    let live = Arc::new(LiveRun {
        status: Mutex::new(RunStatus {
            id,
            database: w.name().to_string(),
            action: plan.verb().into(),
            target: plan.target.clone(),
            actor: actor.clone(),
            state: "running".into(),
            started_at,
            finished_at: None,
            waiting: None,
            runner_pid,
            cancel_requested: false,
            steps,
            error: None,
            impact: Vec::new(),
        }),
        cancel: AtomicBool::new(false),
        aborted: AtomicBool::new(false),
        before: Mutex::new(None),
    });
    {
        let mut all = lock(&runs.live);
        all.push(live.clone());
        let finished = all.len().saturating_sub(KEPT);
        let mut dropped = 0;
        all.retain(|r| {
            dropped >= finished || r.status().is_running() || {
                dropped += 1;
                false
            }
        });
    }
    let home = home.clone();
    // What the caller wrote in the detail (which API key) follows the outcome.
    let via = audit.detail.clone().map(|d| format!(" {d}")).unwrap_or_default();
    let entry = audit.database(w.name()).target(format!("{} {}", plan.verb(), plan.target));
    tokio::spawn(async move {
        let _busy = busy;
        let progress = |e: Event<'_>| live.on_event(e);
        let runner = Runner::new(&conn, &set, actor, lock_timeout, &progress).between(&*live);
        let result = match (&plan.action, &plan.stamp) {
            (Action::Stamp, Some(rev)) => runner.stamp(rev).await,
            (Action::Downgrade, _) => runner.down(&plan.steps, false).await,
            _ => runner.up(&plan.steps, false).await,
        };
        conn.close().await.ok();
        let mut status = live.status();
        let (state, error) = match &result {
            Ok(_) => ("succeeded", None),
            Err(e) => {
                let message = e.to_string();
                let cancelled = live.cancel.load(Ordering::SeqCst) && message.starts_with("cancelled after");
                let aborted = live.aborted.load(Ordering::SeqCst) && message.contains("canceling statement");
                if aborted {
                    ("cancelled", Some(format!("the current statement was aborted on request: {message}")))
                } else if cancelled {
                    ("cancelled", Some(message))
                } else {
                    ("failed", Some(message))
                }
            }
        };
        for s in status.steps.iter_mut().filter(|s| s.state == "pending" || s.state == "running") {
            s.state = "not_run".into();
        }
        status.state = state.into();
        status.error = error.clone();
        status.waiting = None;
        status.finished_at = Some(Utc::now());
        let detail = match &result {
            Ok(done) => format!(
                "succeeded: {} migration(s) ({})",
                done.len(),
                done.iter().map(|d| d.revision.as_str()).collect::<Vec<_>>().join(", ")
            ),
            Err(_) => format!("{state}: {}", error.clone().unwrap_or_default()),
        };
        let ended = migration_runs::Ended {
            state,
            steps: serde_json::to_string(&status.steps).unwrap_or_else(|_| "[]".into()),
            error,
            impact: serde_json::to_string(&status.impact).ok(),
        };
        if let Err(e) = migration_runs::finish(&home, id, ended).await {
            tracing::error!(error = %e, "recording migration run {id} in migration_runs");
        }
        if let Err(e) = audit::record(&home, entry.detail(format!("run {id} {detail}{via}"))).await {
            tracing::error!(error = %e, "recording migration run {id} in the audit log");
        }
        *lock(&live.status) = status;
    });
    Ok(id)
}

/// Run `id` of `w`: live from this process, else as the home database recorded it.
pub async fn status(home: &DatabaseConnection, w: &Watched, id: i64) -> Result<RunStatus> {
    if let Some(live) = Runs::of(w).get(id) {
        return Ok(live.status());
    }
    migration_runs::get(home, w.name(), id)
        .await?
        .map(RunStatus::from_row)
        .ok_or_else(|| Error::NotFound(format!("migration run {id}")))
}

/// Asks run `id` to stop before its next migration; with `abort`, also aborts the statement running now
/// (PostgreSQL). Returns what was done, in a sentence.
pub async fn cancel(w: &Watched, id: i64, abort: bool) -> Result<String> {
    let live = Runs::of(w)
        .get(id)
        .filter(|r| r.status().is_running())
        .ok_or_else(|| Error::Conflict(format!("migration run {id} is not running in this server")))?;
    live.cancel.store(true, Ordering::SeqCst);
    lock(&live.status).cancel_requested = true;
    if !abort {
        return Ok("the run stops before its next migration".into());
    }
    let pid = live.status().runner_pid.ok_or_else(|| {
        Error::Unsupported(
            "aborting the current statement is offered on PostgreSQL only; the run stops before its next migration"
                .into(),
        )
    })?;
    live.aborted.store(true, Ordering::SeqCst);
    Ok(if migrate::abort_statement(&w.db, pid).await? {
        format!(
            "pg_cancel_backend({pid}) was sent: a statement running now is aborted (its migration fails and is rolled back); the run stops"
        )
    } else {
        format!("backend {pid} is gone; the run stops before its next migration")
    })
}
