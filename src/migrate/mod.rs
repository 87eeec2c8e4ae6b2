//! The migration runner around SeaORM's migrations: one lock, per-migration transactions, the head in `alembic_version`, every attempt in `migrations_log`.

mod backend;
pub mod bookkeeping;
mod dry_run;
pub mod impact;
pub mod lint;
mod ownership;
mod rehearse;
mod set;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::migrations_log;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseExecutor, DbBackend, TransactionTrait};
use sea_orm_migration::SchemaManager;
use serde::Serialize;

pub use dry_run::render;
pub use lint::lint_plan;
pub use rehearse::{Rehearsal, rehearsable, rehearse};
pub use set::{Entry, MAX_REVISION_LEN, MigrationSet, Target};

use crate::error::{Error, Result};
use backend::Lock;

/// How far `up` or `down` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Steps {
    /// Every pending migration (`up`) or every applied one (`down`).
    All,
    /// This many.
    Count(u32),
    /// Up to and including this revision (`up`); down to, not including, this revision or `base` (`down`).
    To(String),
}

/// Which way a migration runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Upgrade,
    Downgrade,
    Stamp,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upgrade => "upgrade",
            Action::Downgrade => "downgrade",
            Action::Stamp => "stamp",
        }
    }
}

/// What the runner tells whoever watches it, as it goes.
pub enum Event<'a> {
    /// Another session holds the lock.
    Waiting(&'a str),
    Started {
        action: Action,
        entry: &'a Entry,
    },
    Finished {
        action: Action,
        entry: &'a Entry,
        duration_ms: i64,
    },
    Failed {
        action: Action,
        entry: &'a Entry,
        duration_ms: i64,
        error: &'a str,
    },
}

/// One migration the runner carried out.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub revision: String,
    pub name: String,
    pub action: Action,
    pub duration_ms: i64,
}

/// A migration as `status` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MigrationStatus {
    pub revision: String,
    pub name: String,
    pub label: String,
    pub applied: bool,
    pub applied_at: Option<DateTime<Utc>>,
    /// `applied`, `pending`, `running` (a live runner is applying or rolling it back now), `failed` (last
    /// attempt failed and was rolled back), `dirty` (failed, or its runner died, where DDL is not
    /// transactional: may be half-applied) or `unknown` (applied, but not in this build).
    pub state: &'static str,
    pub last_error: Option<String>,
    /// For a `dirty` migration: what to do about it.
    pub advice: Option<String>,
}

/// The migration state read from the database without changing it (a read-only role can call it).
pub async fn status(db: &DatabaseConnection, set: &MigrationSet) -> Result<Vec<MigrationStatus>> {
    let mut state = State::load(DatabaseExecutor::from(db), set).await?;
    // An attempt still marked running is a live runner's while the lock is held, a dead one's otherwise.
    if state.latest.values().any(|r| r.status == bookkeeping::RUNNING) {
        state.runner_alive = backend::held(db).await?;
    }
    Ok(state.describe(set, db.get_database_backend()))
}

/// Why this migrator would refuse to change the database, when `alembic_version` is another project's: for
/// read-only commands to warn with (they work all the same). Reads the catalog only.
pub async fn foreign(db: &DatabaseConnection, set: &MigrationSet) -> Result<Option<String>> {
    Ok(State::load(DatabaseExecutor::from(db), set).await?.foreign(set))
}

/// Refuses at once when `alembic_version` is another project's (the runner checks again under its lock).
pub async fn check_owned(db: &DatabaseConnection, set: &MigrationSet) -> Result<()> {
    match foreign(db, set).await? {
        Some(description) => Err(ownership::refuse_foreign(description)),
        None => Ok(()),
    }
}

/// The revision in `alembic_version`, or `None` at base.
pub async fn current(db: &DatabaseConnection) -> Result<Option<String>> {
    let present = bookkeeping::present(DatabaseExecutor::from(db)).await?;
    if !present.head {
        return Ok(None);
    }
    bookkeeping::head(db).await
}

/// `migrations_log` rows, newest first.
pub async fn history(db: &DatabaseConnection, limit: u64, status: Option<&str>) -> Result<Vec<migrations_log::Model>> {
    let present = bookkeeping::present(DatabaseExecutor::from(db)).await?;
    if !present.log {
        return Ok(Vec::new());
    }
    bookkeeping::history(db, limit, status).await
}

/// One page of `migrations_log` (newest first) and how many rows match `status`.
pub async fn history_page(
    db: &DatabaseConnection,
    status: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<migrations_log::Model>, u64)> {
    let present = bookkeeping::present(DatabaseExecutor::from(db)).await?;
    if !present.log {
        return Ok((Vec::new(), 0));
    }
    bookkeeping::history_page(db, status, offset, limit).await
}

/// The SQL `up`/`down` would run now, without running it.
pub async fn dry_run(
    db: &DatabaseConnection,
    set: &MigrationSet,
    action: Action,
    steps: &Steps,
    actor: &str,
) -> Result<String> {
    let state = State::load(DatabaseExecutor::from(db), set).await?;
    // The preview refuses what the command would refuse.
    state.check_owned(set)?;
    let plan = match action {
        Action::Downgrade => state.plan_down(set, steps)?,
        _ => state.plan_up(set, steps)?,
    };
    if action == Action::Upgrade && state.at_base() {
        ownership::refuse_clashes(db, set, &plan).await?;
    }
    let mut applied = state.applied.clone();
    dry_run::render(db.get_database_backend(), set, action, &plan, &mut applied, state.head.clone(), actor).await
}

/// The migrations `up`/`down` would run now, in order (revision, name), without running anything.
pub async fn plan(db: &DatabaseConnection, set: &MigrationSet, action: Action, steps: &Steps) -> Result<Vec<usize>> {
    let state = State::load(DatabaseExecutor::from(db), set).await?;
    state.check_owned(set)?;
    match action {
        Action::Downgrade => state.plan_down(set, steps),
        Action::Upgrade => state.plan_up(set, steps),
        Action::Stamp => Ok(Vec::new()),
    }
}

/// The SQL `stamp` would run now (version rows and `alembic_version`), without running it.
pub async fn stamp_sql(db: &DatabaseConnection, set: &MigrationSet, target: &str) -> Result<String> {
    let state = State::load(DatabaseExecutor::from(db), set).await?;
    state.check_owned(set)?;
    let last = match set.resolve(target)? {
        Target::Base => None,
        Target::Revision(i) => Some(i),
    };
    let backend = db.get_database_backend();
    let now = Utc::now().timestamp();
    let mut stmts = bookkeeping::create_statements(backend);
    for (i, entry) in set.entries().iter().enumerate() {
        let want = last.is_some_and(|l| i <= l);
        if state.applied[i] != want {
            stmts.push(if want {
                bookkeeping::insert_applied(backend, &entry.name, now)
            } else {
                bookkeeping::delete_applied(backend, &entry.name)
            });
        }
    }
    stmts.extend(bookkeeping::set_head(backend, last.map(|l| set.entries()[l].revision.as_str())));
    let mut out = format!(
        "-- strata migrate stamp {target}: records the version without running any migration \
         (migrations_log gets a stamp row per migration it changes)\nBEGIN;\n"
    );
    for s in stmts {
        out.push_str(&s.to_string());
        out.push_str(";\n");
    }
    out.push_str("COMMIT;\n");
    Ok(out)
}

/// Who holds the migration lock now, when someone does (for the page: a migrator elsewhere).
pub async fn lock_holder(db: &DatabaseConnection) -> Result<Option<String>> {
    Ok(if backend::held(db).await? { Some(backend::holder(db).await) } else { None })
}

/// The server's id for the session of `db` (a single-connection pool): PostgreSQL's backend PID; `None` where
/// the engine has no such id Strata can act on.
pub async fn session_pid(db: &DatabaseConnection) -> Result<Option<i64>> {
    backend::session_pid(db).await
}

/// Asks the server to abort the statement session `pid` is running (PostgreSQL `pg_cancel_backend`), from
/// another connection `db`; whether a session got the signal.
pub async fn abort_statement(db: &DatabaseConnection, pid: i64) -> Result<bool> {
    backend::cancel_backend(db, pid).await
}

/// What a runner does between migrations, beside running them: stop when asked, and look at the database just
/// before and just after each migration, on the runner's own connection and under its lock.
#[async_trait::async_trait]
pub trait Between: Sync {
    /// Whether to stop before the next migration.
    fn cancelled(&self) -> bool;
    /// Just before `entry` runs.
    async fn before(&self, x: &DatabaseExecutor<'_>, entry: &Entry, action: Action);
    /// Inside `entry`'s own transaction, after its version rows and just before it commits: the locks it took are
    /// still held (not called for a migration that runs outside a transaction). Must not fail: an error here would
    /// abort the migration's transaction.
    async fn before_commit(&self, _x: &DatabaseExecutor<'_>, _entry: &Entry, _action: Action) {}
    /// Just after `entry` ran and its version rows were written (not called when it failed).
    async fn after(&self, x: &DatabaseExecutor<'_>, entry: &Entry, action: Action);
}

/// Runs migrations under the database-level lock on one dedicated connection.
pub struct Runner<'a> {
    db: &'a DatabaseConnection,
    set: &'a MigrationSet,
    actor: String,
    lock_timeout: Duration,
    progress: &'a (dyn Fn(Event<'_>) + Sync),
    between: Option<&'a dyn Between>,
}

impl<'a> Runner<'a> {
    /// `db` must be a single-connection pool: the lock belongs to that connection.
    pub fn new(
        db: &'a DatabaseConnection,
        set: &'a MigrationSet,
        actor: impl Into<String>,
        lock_timeout: Duration,
        progress: &'a (dyn Fn(Event<'_>) + Sync),
    ) -> Self {
        Runner { db, set, actor: actor.into(), lock_timeout, progress, between: None }
    }

    /// Checks `between` for a stop before each migration and lets it look at the database around each one.
    pub fn between(mut self, between: &'a dyn Between) -> Self {
        self.between = Some(between);
        self
    }

    /// Runs the plan's migrations one way, stopping between two when [`Between::cancelled`] says so.
    async fn run_plan(
        &self,
        x: &DatabaseExecutor<'_>,
        plan: &[usize],
        action: Action,
        state: &mut State,
    ) -> Result<Vec<StepReport>> {
        let mut done: Vec<StepReport> = Vec::with_capacity(plan.len());
        for (k, &i) in plan.iter().enumerate() {
            let entry = &self.set.entries()[i];
            if let Some(b) = self.between {
                if b.cancelled() {
                    let after = done.last().map_or("nothing ran".to_string(), |d| d.revision.clone());
                    let left: Vec<&str> = plan[k..].iter().map(|&j| self.set.entries()[j].revision.as_str()).collect();
                    return Err(Error::Migration(format!(
                        "cancelled after {after}; {} not run: {}",
                        left.len(),
                        left.join(", ")
                    )));
                }
                b.before(x, entry, action).await;
            }
            done.push(self.step(x, i, action, state).await?);
            if let Some(b) = self.between {
                b.after(x, entry, action).await;
            }
        }
        Ok(done)
    }

    /// Applies pending migrations. `retry_failed` runs past a dirty migration the operator has repaired.
    pub async fn up(&self, steps: &Steps, retry_failed: bool) -> Result<Vec<StepReport>> {
        let lock = self.lock().await?;
        let result = self.up_locked(&exec_for(self.db, &lock), steps, retry_failed).await;
        self.finish(lock, result).await
    }

    /// Rolls applied migrations back, newest first.
    pub async fn down(&self, steps: &Steps, retry_failed: bool) -> Result<Vec<StepReport>> {
        let lock = self.lock().await?;
        let result = self.down_locked(&exec_for(self.db, &lock), steps, retry_failed).await;
        self.finish(lock, result).await
    }

    /// Sets the recorded version without running migrations (Alembic's `stamp`).
    pub async fn stamp(&self, target: &str) -> Result<Vec<StepReport>> {
        let lock = self.lock().await?;
        let result = self.stamp_locked(&exec_for(self.db, &lock), target).await;
        self.finish(lock, result).await
    }

    /// Rolls every applied migration back.
    pub async fn reset(&self) -> Result<Vec<StepReport>> {
        self.down(&Steps::All, false).await
    }

    /// Rolls every migration back, then applies them all again.
    pub async fn refresh(&self) -> Result<Vec<StepReport>> {
        let lock = self.lock().await?;
        let x = exec_for(self.db, &lock);
        let result = async {
            let mut steps = self.down_locked(&x, &Steps::All, false).await?;
            steps.extend(self.up_locked(&x, &Steps::All, false).await?);
            Ok(steps)
        }
        .await;
        self.finish(lock, result).await
    }

    /// Drops every table except `migrations_log`, then applies every migration.
    pub async fn fresh(&self) -> Result<Vec<StepReport>> {
        let lock = self.lock().await?;
        let x = exec_for(self.db, &lock);
        let result = async {
            // Dropping every table is the last thing to do to a database another project manages.
            State::load(reborrow(&x), self.set).await?.check_owned(self.set)?;
            backend::relax_foreign_keys(&x).await?;
            let backend = x.get_database_backend();
            for table in backend::list_tables(&x).await? {
                if table == "migrations_log" {
                    continue; // history outlives the schema
                }
                let mut drop = sea_orm::sea_query::Table::drop();
                drop.table(sea_orm::sea_query::Alias::new(&table)).if_exists();
                if backend == DbBackend::Postgres {
                    drop.cascade();
                }
                x.execute(&drop).await?;
            }
            backend::restore_foreign_keys(&x).await?;
            self.up_locked(&x, &Steps::All, true).await
        }
        .await;
        self.finish(lock, result).await
    }

    async fn lock(&self) -> Result<Lock> {
        let on_wait = |m: &str| (self.progress)(Event::Waiting(m));
        let stop = || self.between.is_some_and(|b| b.cancelled());
        backend::acquire(self.db, self.lock_timeout, &on_wait, &stop).await
    }

    /// Frees the lock; on SQLite this commits what succeeded (a failed migration's savepoint is already rolled back).
    async fn finish<T>(&self, lock: Lock, result: Result<T>) -> Result<T> {
        let released = lock.release(self.db).await;
        let value = result?;
        released?;
        Ok(value)
    }

    /// Reads the state and refuses a database this migrator does not manage, before anything is created.
    async fn prepare(&self, x: &DatabaseExecutor<'_>) -> Result<State> {
        let state = State::load(reborrow(x), self.set).await?;
        state.check_owned(self.set)?;
        Ok(state)
    }

    /// Creates the runner's tables that `state` found missing (all three statements say IF NOT EXISTS).
    async fn create_bookkeeping(&self, x: &DatabaseExecutor<'_>, state: &State) -> Result<()> {
        if state.created.is_empty() {
            return Ok(());
        }
        bookkeeping::run(x, bookkeeping::create_statements(x.get_database_backend())).await
    }

    async fn up_locked(&self, x: &DatabaseExecutor<'_>, steps: &Steps, retry_failed: bool) -> Result<Vec<StepReport>> {
        let mut state = self.prepare(x).await?;
        state.check_runnable(self.set, x.get_database_backend(), retry_failed)?;
        let plan = state.plan_up(self.set, steps)?;
        if state.at_base() {
            // Taking over a schema someone else made would fail half-way: refuse while nothing is created.
            ownership::refuse_clashes(x, self.set, &plan).await?;
        }
        if !plan.is_empty() {
            self.create_bookkeeping(x, &state).await?;
        }
        self.run_plan(x, &plan, Action::Upgrade, &mut state).await
    }

    async fn down_locked(
        &self,
        x: &DatabaseExecutor<'_>,
        steps: &Steps,
        retry_failed: bool,
    ) -> Result<Vec<StepReport>> {
        let mut state = self.prepare(x).await?;
        state.check_runnable(self.set, x.get_database_backend(), retry_failed)?;
        let plan = state.plan_down(self.set, steps)?;
        if !plan.is_empty() {
            self.create_bookkeeping(x, &state).await?;
        }
        self.run_plan(x, &plan, Action::Downgrade, &mut state).await
    }

    async fn stamp_locked(&self, x: &DatabaseExecutor<'_>, target: &str) -> Result<Vec<StepReport>> {
        let backend = x.get_database_backend();
        let state = self.prepare(x).await?;
        let last = match self.set.resolve(target)? {
            Target::Base => None,
            Target::Revision(i) => Some(i),
        };
        let dirty = state.dirty(self.set, backend);
        self.create_bookkeeping(x, &state).await?;
        let now = Utc::now();
        let txn = x.begin().await?;
        let mut done = Vec::new();
        for (i, entry) in self.set.entries().iter().enumerate() {
            let want = last.is_some_and(|l| i <= l);
            let changed = state.applied[i] != want;
            if changed {
                let stmt = if want {
                    bookkeeping::insert_applied(backend, &entry.name, now.timestamp())
                } else {
                    bookkeeping::delete_applied(backend, &entry.name)
                };
                txn.execute_raw(stmt).await?;
            }
            // A stamp also settles a dirty migration: the operator says what the schema is.
            if changed || dirty.contains(&i) {
                bookkeeping::log(
                    &txn,
                    bookkeeping::LogEntry {
                        revision: &entry.revision,
                        name: &entry.name,
                        action: Action::Stamp.as_str(),
                        started_at: now,
                        finished_at: Utc::now(),
                        duration_ms: 0,
                        actor: &self.actor,
                        error: None,
                    },
                )
                .await?;
                done.push(StepReport {
                    revision: entry.revision.clone(),
                    name: entry.name.clone(),
                    action: Action::Stamp,
                    duration_ms: 0,
                });
            }
        }
        let head = last.map(|l| self.set.entries()[l].revision.as_str());
        bookkeeping::run(&txn, bookkeeping::set_head(backend, head)).await?;
        txn.commit().await?;
        Ok(done)
    }

    /// Runs one migration one way, with its bookkeeping, and logs the attempt whatever happens.
    async fn step(&self, x: &DatabaseExecutor<'_>, i: usize, action: Action, state: &mut State) -> Result<StepReport> {
        let entry = &self.set.entries()[i];
        let backend = x.get_database_backend();
        (self.progress)(Event::Started { action, entry });
        let started_at = Utc::now();
        let t0 = Instant::now();
        let mut after = state.applied.clone();
        after[i] = action == Action::Upgrade;
        let head = head_of(self.set, &after);
        let old_head = state.head.as_deref();
        // The version rows: SeaORM's, then alembic_version (which must move exactly one row).
        let bookkeeping = async |txn: &sea_orm::DatabaseTransaction| {
            txn.execute_raw(match action {
                Action::Upgrade => bookkeeping::insert_applied(backend, &entry.name, started_at.timestamp()),
                _ => bookkeeping::delete_applied(backend, &entry.name),
            })
            .await?;
            if let Some(change) = bookkeeping::head_change(backend, old_head, head)
                && txn.execute_raw(change).await?.rows_affected() != 1
            {
                return Err(Error::Migration(format!(
                    "alembic_version did not hold {} as expected: it was changed outside strata. \
                     Check it, then `strata migrate stamp` the revision the schema is at",
                    old_head.unwrap_or("(no row)")
                )));
            }
            Ok::<(), Error>(())
        };
        let log_entry = |error: Option<String>| bookkeeping::LogEntry {
            revision: &entry.revision,
            name: &entry.name,
            action: action.as_str(),
            started_at,
            finished_at: Utc::now(),
            duration_ms: t0.elapsed().as_millis() as i64,
            actor: &self.actor,
            error,
        };

        // Where DDL commits as it goes, the attempt is logged as running before its first statement and
        // settled with its version rows, so a runner killed in between leaves it dirty, never pending.
        let mut mark = None;
        let outcome: Result<()> = if is_transactional(entry, backend) {
            let txn = x.begin().await?;
            let attempt = async {
                run_migration(entry, action, SchemaManager::new(&txn)).await?;
                bookkeeping(&txn).await?;
                bookkeeping::log(&txn, log_entry(None)).await?;
                if let Some(b) = self.between {
                    b.before_commit(&DatabaseExecutor::from(&txn), entry, action).await;
                }
                Ok(())
            }
            .await;
            match attempt {
                Ok(()) => txn.commit().await.map_err(Error::from),
                Err(e) => {
                    txn.rollback().await.ok();
                    Err(e)
                }
            }
        } else {
            let id = bookkeeping::mark_running(x, log_entry(None)).await?;
            mark = Some(id);
            match run_migration(entry, action, SchemaManager::new(reborrow(x))).await {
                Ok(()) => {
                    let txn = x.begin().await?;
                    bookkeeping(&txn).await?;
                    bookkeeping::finish(&txn, id, log_entry(None)).await?;
                    txn.commit().await.map_err(Error::from)
                }
                Err(e) => Err(e),
            }
        };
        let duration_ms = t0.elapsed().as_millis() as i64;
        match outcome {
            Ok(()) => {
                state.applied[i] = action == Action::Upgrade;
                state.head = head.map(str::to_string);
                (self.progress)(Event::Finished { action, entry, duration_ms });
                Ok(StepReport { revision: entry.revision.clone(), name: entry.name.clone(), action, duration_ms })
            }
            Err(e) => {
                let message = e.to_string();
                let logged = match mark {
                    Some(id) => bookkeeping::finish(x, id, log_entry(Some(message.clone()))).await,
                    None => bookkeeping::log(x, log_entry(Some(message.clone()))).await,
                };
                if let Err(log_err) = &logged {
                    tracing::error!(error = %log_err, "could not record the failed migration in migrations_log");
                }
                (self.progress)(Event::Failed { action, entry, duration_ms, error: &message });
                let what = outcome_report(is_transactional(entry, backend), &state.created, logged.err());
                Err(Error::Migration(format!(
                    "{} of {} ({}) failed after {duration_ms} ms: {message}\n{what}",
                    action.as_str(),
                    entry.revision,
                    entry.label
                )))
            }
        }
    }
}

/// What a failed migration left behind, said exactly: its own changes were rolled back (or may be half-applied
/// where DDL commits as it goes), while the runner's bookkeeping stays, the tables `created` before it included.
fn outcome_report(rolled_back: bool, created: &[&str], log_error: Option<Error>) -> String {
    let mut kept = Vec::new();
    match log_error {
        None => kept.push("this failed attempt, recorded in migrations_log".to_string()),
        Some(e) => kept.push(format!("no record of it: writing it to migrations_log failed too ({e})")),
    }
    if !created.is_empty() {
        kept.push(format!("the bookkeeping tables this run created before it ({})", created.join(", ")));
    }
    let kept = kept.join("; ");
    if rolled_back {
        format!("Its own changes were rolled back; what stays is strata's bookkeeping: {kept}.")
    } else {
        format!(
            "This database cannot roll DDL back, so the migration may be half-applied; `strata migrate status` \
             shows it as dirty. Strata's bookkeeping stays as well: {kept}."
        )
    }
}

/// Where the runner's statements go: the SQLite transaction that is the lock, or the dedicated connection.
fn exec_for<'l>(db: &'l DatabaseConnection, lock: &'l Lock) -> DatabaseExecutor<'l> {
    match lock {
        Lock::Sqlite(txn) => DatabaseExecutor::from(txn),
        _ => DatabaseExecutor::from(db),
    }
}

fn reborrow<'a>(x: &'a DatabaseExecutor<'_>) -> DatabaseExecutor<'a> {
    match x {
        DatabaseExecutor::Connection(c) => DatabaseExecutor::Connection(c),
        DatabaseExecutor::Transaction(t) => DatabaseExecutor::Transaction(t),
        DatabaseExecutor::OwnedTransaction(t) => DatabaseExecutor::Transaction(t),
    }
}

fn is_transactional(entry: &Entry, backend: DbBackend) -> bool {
    backend::transactional_ddl(backend) && entry.migration.use_transaction() != Some(false)
}

async fn run_migration(entry: &Entry, action: Action, manager: SchemaManager<'_>) -> Result<()> {
    match action {
        Action::Downgrade => entry.migration.down(&manager).await?,
        _ => entry.migration.up(&manager).await?,
    }
    Ok(())
}

/// The revision of the newest applied migration.
fn head_of<'s>(set: &'s MigrationSet, applied: &[bool]) -> Option<&'s str> {
    applied.iter().rposition(|&a| a).map(|i| set.entries()[i].revision.as_str())
}

/// What the database says about the migrations.
struct State {
    applied: Vec<bool>,
    /// What `alembic_version` holds (its only row).
    head: Option<String>,
    /// Every row of `alembic_version`: several mean Alembic branches, another project's.
    heads: Vec<String>,
    /// The runner's tables missing when this was read: the ones a run creates before its first migration.
    created: Vec<&'static str>,
    applied_at: Vec<Option<i64>>,
    /// Applied names this build does not know.
    unknown: Vec<(String, i64)>,
    latest: HashMap<String, migrations_log::Model>,
    /// Another session holds the migration lock (only `status` asks; a runner holds it itself).
    runner_alive: bool,
}

impl State {
    /// Reads the runner's tables, the missing ones as empty, without creating anything.
    async fn load(x: DatabaseExecutor<'_>, set: &MigrationSet) -> Result<State> {
        let n = set.len();
        let mut state = State {
            applied: vec![false; n],
            head: None,
            heads: Vec::new(),
            created: Vec::new(),
            applied_at: vec![None; n],
            unknown: Vec::new(),
            latest: HashMap::new(),
            runner_alive: false,
        };
        let present = bookkeeping::present(reborrow(&x)).await?;
        for (there, table) in
            [(present.seaql, "seaql_migrations"), (present.head, "alembic_version"), (present.log, "migrations_log")]
        {
            if !there {
                state.created.push(table);
            }
        }
        if present.seaql {
            for (name, at) in bookkeeping::applied(&x).await? {
                match set.index_of_name(&name) {
                    Some(i) => {
                        state.applied[i] = true;
                        state.applied_at[i] = Some(at);
                    }
                    None => state.unknown.push((name, at)),
                }
            }
        }
        if present.head {
            state.heads = bookkeeping::heads(&x).await?;
            state.head = state.heads.first().cloned();
        }
        if present.log {
            for row in bookkeeping::latest_per_revision(&x).await? {
                state.latest.insert(row.revision.clone(), row);
            }
        }
        Ok(state)
    }

    /// Whose `alembic_version` this is, when not this migrator's (see [`ownership::foreign_head`]).
    fn foreign(&self, set: &MigrationSet) -> Option<String> {
        ownership::foreign_head(&self.heads, set, &self.unknown)
    }

    /// Refuses a database whose `alembic_version` is another project's.
    fn check_owned(&self, set: &MigrationSet) -> Result<()> {
        match self.foreign(set) {
            Some(description) => Err(ownership::refuse_foreign(description)),
            None => Ok(()),
        }
    }

    /// Nothing of this migrator's is recorded: no head, no applied migration, none unknown.
    fn at_base(&self) -> bool {
        self.heads.is_empty() && self.unknown.is_empty() && !self.applied.contains(&true)
    }

    fn last_failure(&self, entry: &Entry, action: Action) -> Option<&migrations_log::Model> {
        self.latest.get(&entry.revision).filter(|row| row.status == "failed" && row.action == action.as_str())
    }

    /// The attempt still marked running at `entry` (see [`bookkeeping::mark_running`]).
    fn unfinished(&self, entry: &Entry, action: Action) -> Option<&migrations_log::Model> {
        self.latest
            .get(&entry.revision)
            .filter(|row| row.status == bookkeeping::RUNNING && row.action == action.as_str())
    }

    /// Whether migration `i` may be half-applied: its last attempt failed where DDL is not transactional,
    /// or its runner died mid-way (a `running` row and nobody holding the lock), and nothing settled it since.
    fn is_dirty(&self, set: &MigrationSet, backend: DbBackend, i: usize) -> bool {
        let e = &set.entries()[i];
        let action = self.pending_action(i);
        (!is_transactional(e, backend) && self.last_failure(e, action).is_some())
            || (!self.runner_alive && self.unfinished(e, action).is_some())
    }

    /// What the next attempt at migration `i` would do: roll it back when applied, else apply it.
    fn pending_action(&self, i: usize) -> Action {
        if self.applied[i] { Action::Downgrade } else { Action::Upgrade }
    }

    /// Indexes of the dirty migrations.
    fn dirty(&self, set: &MigrationSet, backend: DbBackend) -> Vec<usize> {
        (0..set.len()).filter(|&i| self.is_dirty(set, backend, i)).collect()
    }

    /// What happened to dirty migration `i`, in one sentence.
    fn dirty_cause(&self, set: &MigrationSet, i: usize) -> String {
        let e = &set.entries()[i];
        let action = self.pending_action(i);
        match (self.unfinished(e, action), self.last_failure(e, action)) {
            (Some(row), _) => format!(
                "its {} started at {} by {} never finished (the migrator was killed, crashed or lost its \
                 connection mid-way)",
                action.as_str(),
                row.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                row.actor
            ),
            (None, Some(row)) => format!(
                "its {} failed at {}: {}",
                action.as_str(),
                row.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                row.error.as_deref().unwrap_or("(no error recorded)")
            ),
            (None, None) => "its last attempt did not complete".into(),
        }
    }

    /// What the operator does about dirty migration `i`.
    fn dirty_advice(&self, set: &MigrationSet, i: usize) -> String {
        let action = self.pending_action(i);
        let (command, stamp) = if action == Action::Upgrade {
            // stamping this one means "I finished it by hand"
            ("up", set.entries()[i].revision.clone())
        } else {
            ("down", i.checked_sub(1).map(|p| set.entries()[p].revision.clone()).unwrap_or_else(|| "base".into()))
        };
        format!(
            "This database cannot roll DDL back, so the migration may be half-applied. Inspect the database, then \
             either undo what it did and run `strata migrate {command} --retry-failed` to run it again, or finish it \
             by hand and run `strata migrate stamp {stamp}` to record the schema as it now is."
        )
    }

    fn check_runnable(&self, set: &MigrationSet, backend: DbBackend, retry_failed: bool) -> Result<()> {
        if !self.unknown.is_empty() {
            let names: Vec<&str> = self.unknown.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::Migration(format!(
                "the database has migrations applied that this build of strata does not know: {}. \
                 Run the strata version that applied them, or `strata migrate stamp` to a known revision",
                names.join(", ")
            )));
        }
        if retry_failed {
            return Ok(());
        }
        if let Some(&i) = self.dirty(set, backend).first() {
            let e = &set.entries()[i];
            return Err(Error::Migration(format!(
                "migration {} ({}) is dirty: {}.\n{}",
                e.revision,
                e.label,
                self.dirty_cause(set, i),
                self.dirty_advice(set, i),
            )));
        }
        Ok(())
    }

    fn plan_up(&self, set: &MigrationSet, steps: &Steps) -> Result<Vec<usize>> {
        let pending = (0..set.len()).filter(|&i| !self.applied[i]);
        Ok(match steps {
            Steps::All => pending.collect(),
            Steps::Count(n) => pending.take(*n as usize).collect(),
            Steps::To(rev) => match set.resolve(rev)? {
                Target::Base => {
                    return Err(Error::Migration("`up --to base` goes nowhere: use `down --to base`".into()));
                }
                Target::Revision(last) => pending.filter(|&i| i <= last).collect(),
            },
        })
    }

    fn plan_down(&self, set: &MigrationSet, steps: &Steps) -> Result<Vec<usize>> {
        let applied = (0..set.len()).rev().filter(|&i| self.applied[i]);
        Ok(match steps {
            Steps::All => applied.collect(),
            Steps::Count(n) => applied.take(*n as usize).collect(),
            Steps::To(rev) => match set.resolve(rev)? {
                Target::Base => applied.collect(),
                Target::Revision(keep) => applied.filter(|&i| i > keep).collect(),
            },
        })
    }

    fn describe(&self, set: &MigrationSet, backend: DbBackend) -> Vec<MigrationStatus> {
        let to_time = |at: Option<i64>| at.and_then(|s| DateTime::<Utc>::from_timestamp(s, 0));
        let mut out: Vec<MigrationStatus> = set
            .entries()
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let action = self.pending_action(i);
                let failure = self.last_failure(e, action);
                let dirty = self.is_dirty(set, backend, i);
                let state = match (self.applied[i], failure) {
                    _ if dirty => "dirty",
                    _ if self.unfinished(e, action).is_some() => "running",
                    (false, Some(_)) => "failed",
                    (true, _) => "applied",
                    (false, None) => "pending",
                };
                let last_error = match self.unfinished(e, action) {
                    Some(_) if dirty => Some(self.dirty_cause(set, i)),
                    _ => failure.and_then(|r| r.error.clone()),
                };
                MigrationStatus {
                    revision: e.revision.clone(),
                    name: e.name.clone(),
                    label: e.label.clone(),
                    applied: self.applied[i],
                    applied_at: to_time(self.applied_at[i]),
                    state,
                    last_error,
                    advice: dirty.then(|| self.dirty_advice(set, i)),
                }
            })
            .collect();
        out.extend(self.unknown.iter().map(|(name, at)| MigrationStatus {
            revision: name.chars().take(MAX_REVISION_LEN).collect(),
            name: name.clone(),
            label: "(not in this build)".into(),
            applied: true,
            applied_at: to_time(Some(*at)),
            state: "unknown",
            last_error: None,
            advice: None,
        }));
        out
    }
}

/// Who ran a command, as the migrations log and the audit log name it: the OS user at this host.
pub fn actor() -> String {
    format!("{}@{}", whoami::username(), whoami::fallible::hostname().unwrap_or_else(|_| "localhost".into()))
}
