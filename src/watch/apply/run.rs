//! One run in the background: its live status, the watcher that stops it between migrations and reads the
//! impact around each, the record in `migration_runs` and the audit log when it ends, cancel and abort.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseExecutor};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Plan, check_usable, planned};
use crate::config::DatabaseUrl;
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::home::{audit, migration_runs};
use crate::migrate::impact::{Impact, Tracker};
use crate::migrate::{self, Action, Between, Entry, Event, MigrationSet, Runner};
use crate::watch::Watched;

/// Runs kept in memory per database (the home database keeps them all).
const KEPT: usize = 20;

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
    // Shared, not copied, by each status read while the run goes on (a report lists every index: they add up).
    #[schema(value_type = Vec<Impact>)]
    pub impact: Vec<Arc<Impact>>,
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
    /// The schema as the run leaves it, for each migration's impact.
    tracker: Mutex<Tracker>,
    /// Time spent reading the impact around the migrations, in microseconds (told at debug level when the run ends).
    impact_us: AtomicU64,
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
        let t0 = Instant::now();
        let mut tracker = std::mem::take(&mut *lock(&self.tracker));
        tracker.before(x).await;
        *lock(&self.tracker) = tracker;
        self.impact_us.fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    async fn before_commit(&self, x: &DatabaseExecutor<'_>, _entry: &Entry, _action: Action) {
        let t0 = Instant::now();
        let mut tracker = std::mem::take(&mut *lock(&self.tracker));
        tracker.before_commit(x).await;
        *lock(&self.tracker) = tracker;
        self.impact_us.fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    async fn after(&self, x: &DatabaseExecutor<'_>, entry: &Entry, action: Action) {
        let t0 = Instant::now();
        let mut tracker = std::mem::take(&mut *lock(&self.tracker));
        let report = tracker.after(x, &entry.revision, &entry.name, action.as_str()).await;
        *lock(&self.tracker) = tracker;
        lock(&self.status).impact.push(Arc::new(report));
        self.impact_us.fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
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
pub(super) struct Busy(Arc<Runs>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

/// Claims the database for one run started here (409 while another runs).
pub(super) fn claim(w: &Watched) -> Result<Busy> {
    let runs = Runs::of(w);
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
    Ok(Busy(runs))
}

/// A run just recorded in `migration_runs` and shown as running.
pub(super) struct Opened {
    pub id: i64,
    pub live: Arc<LiveRun>,
}

/// Records a new run of `plan` with its `steps` (all `pending`) in the home database and in memory.
pub(super) async fn open(
    home: &DatabaseConnection,
    w: &Watched,
    plan: &Plan,
    actor: &str,
    steps: Vec<Step>,
    runner_pid: Option<i64>,
) -> Result<Opened> {
    let started_at = Utc::now();
    let id = migration_runs::start(
        home,
        migration_runs::NewRun {
            database: w.name(),
            action: plan.verb(),
            target: &plan.target,
            actor,
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
            actor: actor.to_string(),
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
        tracker: Mutex::new(Tracker::default()),
        impact_us: AtomicU64::new(0),
    });
    let runs = Runs::of(w);
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
    Ok(Opened { id, live })
}

impl LiveRun {
    /// Whether a stop was asked for.
    pub(super) fn cancel_asked(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Changes one step's state (by revision); `duration_ms` and `error` are kept when `None`.
    pub(super) fn set_step(&self, revision: &str, state: &str, duration_ms: Option<i64>, error: Option<String>) {
        let mut s = lock(&self.status);
        if let Some(step) = s.steps.iter_mut().find(|x| x.revision == revision) {
            step.state = state.into();
            if duration_ms.is_some() {
                step.duration_ms = duration_ms;
            }
            if error.is_some() {
                step.error = error;
            }
        }
    }

    /// Writes how the run ended: steps still `pending` or `running` become `not_run`, then `migration_runs` and the
    /// audit log (`entry`, with `detail`) are written, and only then does the run show as ended.
    pub(super) async fn close(
        &self,
        home: &DatabaseConnection,
        id: i64,
        state: &'static str,
        error: Option<String>,
        detail: String,
        entry: audit::Entry,
    ) {
        tracing::debug!(
            run = id,
            impact_ms = self.impact_us.load(Ordering::Relaxed) / 1000,
            "migration run ended; time spent reading its impact"
        );
        let mut status = self.status();
        for s in status.steps.iter_mut().filter(|s| s.state == "pending" || s.state == "running") {
            s.state = "not_run".into();
        }
        status.state = state.into();
        status.error = error.clone();
        status.waiting = None;
        status.finished_at = Some(Utc::now());
        let ended = migration_runs::Ended {
            state,
            steps: serde_json::to_string(&status.steps).unwrap_or_else(|_| "[]".into()),
            error,
            impact: serde_json::to_string(&status.impact).ok(),
        };
        if let Err(e) = migration_runs::finish(home, id, ended).await {
            tracing::error!(error = %e, "recording migration run {id} in migration_runs");
        }
        if let Err(e) = audit::record(home, entry.detail(detail)).await {
            tracing::error!(error = %e, "recording migration run {id} in the audit log");
        }
        *lock(&self.status) = status;
    }
}

/// The audit entry of a run, and what the caller wrote in its detail (which API key), to follow the outcome.
pub(super) fn run_entry(w: &Watched, plan: &Plan, audit: audit::Entry) -> (audit::Entry, String) {
    let via = audit.detail.clone().map(|d| format!(" {d}")).unwrap_or_default();
    (audit.database(w.name()).target(format!("{} {}", plan.verb(), plan.target)), via)
}

/// Starts `plan` in the background; returns the run's id at once. `audit` is the `migrations.apply` entry of the
/// account or key, written when the run ends with how it ended.
///
/// The runner works on its own thread with a single-threaded runtime, as `strata migrate` does: each answer from
/// the database wakes it on the thread that sent the statement, where the server's multi-threaded scheduler moved
/// it between threads at every statement (measurable over hundreds of migrations). Its connection is opened there;
/// the run's record, its status and how it ended are written from the server's runtime as before.
pub(super) async fn start(
    home: &DatabaseConnection,
    w: Arc<Watched>,
    set: Arc<MigrationSet>,
    lock_timeout: Duration,
    plan: Plan,
    actor: String,
    audit: audit::Entry,
) -> Result<i64> {
    check_usable(&w)?;
    let busy = claim(&w)?;
    let steps: Vec<Step> = planned(&w.db, &set, &plan)
        .await?
        .into_iter()
        .map(|p| Step { revision: p.revision, name: p.name, state: "pending".into(), duration_ms: None, error: None })
        .collect();
    let (ready_tx, ready_rx) = oneshot::channel::<Result<Option<i64>>>();
    let (go_tx, go_rx) = oneshot::channel::<Arc<LiveRun>>();
    let runner = RunnerThread { url: w.url().clone(), set, lock_timeout, plan: plan.clone(), actor: actor.clone() };
    let outcome = tokio::spawn(on_own_thread("the migration run", move || runner.run(ready_tx, go_rx)));
    let runner_pid = match ready_rx.await {
        Ok(pid) => pid?,
        // The thread or its runtime could not start: its outcome says why.
        Err(_) => {
            return Err(match outcome.await {
                Ok(Err(e)) => e,
                _ => Error::Unavailable("the migration run's thread ended before connecting".into()),
            });
        }
    };
    // Dropping `go_tx` on an error here tells the thread to close its connection and end: nothing ran.
    let Opened { id, live } = open(home, &w, &plan, &actor, steps, runner_pid).await?;
    if go_tx.send(live.clone()).is_err() {
        return Err(Error::Unavailable("the migration run's thread ended before the run".into()));
    }
    let home = home.clone();
    let (entry, via) = run_entry(&w, &plan, audit);
    tokio::spawn(async move {
        let _busy = busy;
        let result = outcome.await.unwrap_or_else(|e| {
            Err(Error::Migration(format!("the migration run's thread ended without an outcome: {e}")))
        });
        let (state, error) = match &result {
            Ok(_) => ("succeeded", None),
            Err(e) => {
                let message = e.to_string();
                let cancelled = live.cancel.load(Ordering::SeqCst)
                    && (message.starts_with("cancelled after") || message.starts_with("cancelled while waiting"));
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
        let detail = match &result {
            Ok(done) => format!(
                "succeeded: {} migration(s) ({})",
                done.len(),
                done.iter().map(|d| d.revision.as_str()).collect::<Vec<_>>().join(", ")
            ),
            Err(_) => format!("{state}: {}", error.clone().unwrap_or_default()),
        };
        live.close(&home, id, state, error, format!("run {id} {detail}{via}"), entry).await;
    });
    Ok(id)
}

/// Runs `work` on a thread of its own with a single-threaded runtime and hands back its outcome: a run's or a
/// rehearsal's statements then go out and come back on one thread, as `strata migrate`'s do (the server's multi-threaded
/// scheduler moves a task between worker threads at every answer). A panic there is an error here.
/// `name` says what runs there in errors (`the migration run`).
pub(super) async fn on_own_thread<T, F, Fut>(name: &'static str, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("strata-migrate".into())
        .spawn(move || {
            let outcome = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(work()),
                Err(e) => Err(Error::Unavailable(format!("cannot start {name}'s runtime: {e}"))),
            };
            let _ = tx.send(outcome);
        })
        .map_err(|e| Error::Unavailable(format!("cannot start {name}'s thread: {e}")))?;
    rx.await.map_err(|_| Error::Migration(format!("{name}'s thread ended without an outcome (it panicked)")))?
}

/// What a run's own thread needs: the database, the migrator and the plan.
struct RunnerThread {
    url: DatabaseUrl,
    set: Arc<MigrationSet>,
    lock_timeout: Duration,
    plan: Plan,
    actor: String,
}

impl RunnerThread {
    /// On the run's own thread: connects and says so with the runner's session id (`ready`), waits for the run's
    /// record (`go`; none: it could not be written, and nothing runs), runs the plan and gives its outcome. When
    /// nothing ran, the outcome is an error nobody reads: `start` has answered with the reason already.
    async fn run(
        self,
        ready: oneshot::Sender<Result<Option<i64>>>,
        go: oneshot::Receiver<Arc<LiveRun>>,
    ) -> Result<Vec<migrate::StepReport>> {
        let not_run = || Err(Error::Unavailable("the migration run did not start".into()));
        let conn = match db::connect(&self.url, Purpose::Migrate).await {
            Ok(conn) => conn,
            Err(e) => {
                let _ = ready.send(Err(e));
                return not_run();
            }
        };
        let pid = migrate::session_pid(&conn).await;
        let connected = pid.is_ok();
        if ready.send(pid).is_err() || !connected {
            conn.close().await.ok();
            return not_run();
        }
        let Ok(live) = go.await else {
            conn.close().await.ok();
            return not_run();
        };
        let progress = |e: Event<'_>| live.on_event(e);
        let runner = Runner::new(&conn, &self.set, self.actor, self.lock_timeout, &progress).between(&*live);
        let result = match (&self.plan.action, &self.plan.stamp) {
            (Action::Stamp, Some(rev)) => runner.stamp(rev).await,
            (Action::Downgrade, _) => runner.down(&self.plan.steps, false).await,
            _ => runner.up(&self.plan.steps, false).await,
        };
        conn.close().await.ok();
        result
    }
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
        return Ok(if live.status().waiting.is_some() {
            "the run stops waiting for the migration lock; no migration runs".into()
        } else {
            "the run stops before its next migration".into()
        });
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
