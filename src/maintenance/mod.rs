//! Database maintenance (VACUUM, ANALYZE, REINDEX, OPTIMIZE, CHECK TABLE, SQLite's checks): one action enum, one implementation per backend chosen in [`maintainer`], each run on its own connection under `maintenance_timeout`.
//!
//! | backend | actions |
//! |---|---|
//! | PostgreSQL | `vacuum`, `vacuum-analyze`, `vacuum-full`, `analyze`, `reindex`, `reindex-concurrently` (PostgreSQL 12+) |
//! | MariaDB/MySQL | `analyze`, `optimize`, `check` (each answers with result rows) |
//! | SQLite | `integrity-check`, `quick-check`, `foreign-key-check`, `wal-checkpoint`, `vacuum`, `analyze` |
//!
//! An action a backend lacks is refused with why ([`Error::Unsupported`]); actions that block other
//! sessions ([`Offer::locks`]) are confirmed first by the CLI and the dashboard.

mod mysql;
mod postgres;
pub mod registry;
mod sqlite;

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use serde::Serialize;

pub use registry::{Registry, Run, RunState};

use crate::config::{Backend, DatabaseUrl, Settings};
use crate::db::introspect::Introspector;
use crate::db::{self, Purpose};
use crate::error::{Error, Result};

/// Extra time Strata's own timer gives the server's statement timeout to fire first.
const GRACE: Duration = Duration::from_secs(5);

/// Every maintenance action Strata knows; which ones a backend offers is [`offers`]'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Vacuum,
    VacuumAnalyze,
    VacuumFull,
    Analyze,
    Reindex,
    ReindexConcurrently,
    Optimize,
    Check,
    IntegrityCheck,
    QuickCheck,
    ForeignKeyCheck,
    WalCheckpoint,
}

impl Action {
    /// Every action, in the order lists show them.
    pub const ALL: [Action; 12] = [
        Action::Vacuum,
        Action::VacuumAnalyze,
        Action::VacuumFull,
        Action::Analyze,
        Action::Reindex,
        Action::ReindexConcurrently,
        Action::Optimize,
        Action::Check,
        Action::IntegrityCheck,
        Action::QuickCheck,
        Action::ForeignKeyCheck,
        Action::WalCheckpoint,
    ];

    /// The name the CLI and the forms use (`vacuum-analyze`).
    pub fn name(self) -> &'static str {
        match self {
            Action::Vacuum => "vacuum",
            Action::VacuumAnalyze => "vacuum-analyze",
            Action::VacuumFull => "vacuum-full",
            Action::Analyze => "analyze",
            Action::Reindex => "reindex",
            Action::ReindexConcurrently => "reindex-concurrently",
            Action::Optimize => "optimize",
            Action::Check => "check",
            Action::IntegrityCheck => "integrity-check",
            Action::QuickCheck => "quick-check",
            Action::ForeignKeyCheck => "foreign-key-check",
            Action::WalCheckpoint => "wal-checkpoint",
        }
    }

    /// How a DBA would write it.
    pub fn label(self) -> &'static str {
        match self {
            Action::Vacuum => "VACUUM",
            Action::VacuumAnalyze => "VACUUM ANALYZE",
            Action::VacuumFull => "VACUUM FULL",
            Action::Analyze => "ANALYZE",
            Action::Reindex => "REINDEX",
            Action::ReindexConcurrently => "REINDEX CONCURRENTLY",
            Action::Optimize => "OPTIMIZE TABLE",
            Action::Check => "CHECK TABLE",
            Action::IntegrityCheck => "integrity_check",
            Action::QuickCheck => "quick_check",
            Action::ForeignKeyCheck => "foreign_key_check",
            Action::WalCheckpoint => "wal_checkpoint(TRUNCATE)",
        }
    }

    /// The audit log's name for it (listed in `audit::KNOWN_ACTIONS`).
    pub fn audit_action(self) -> &'static str {
        match self {
            Action::Vacuum => "maintenance.vacuum",
            Action::VacuumAnalyze => "maintenance.vacuum_analyze",
            Action::VacuumFull => "maintenance.vacuum_full",
            Action::Analyze => "maintenance.analyze",
            Action::Reindex => "maintenance.reindex",
            Action::ReindexConcurrently => "maintenance.reindex_concurrently",
            Action::Optimize => "maintenance.optimize",
            Action::Check => "maintenance.check",
            Action::IntegrityCheck => "maintenance.integrity_check",
            Action::QuickCheck => "maintenance.quick_check",
            Action::ForeignKeyCheck => "maintenance.foreign_key_check",
            Action::WalCheckpoint => "maintenance.wal_checkpoint",
        }
    }

    /// A check reports on the database without changing it; its findings are worth keeping in sight.
    pub fn is_check(self) -> bool {
        matches!(self, Action::Check | Action::IntegrityCheck | Action::QuickCheck | Action::ForeignKeyCheck)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Action {
    type Err = Error;

    fn from_str(s: &str) -> Result<Action> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Action::ALL.into_iter().find(|a| a.name() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
            Error::BadRequest(format!("unknown maintenance action {s:?}; the actions are: {}", names.join(", ")))
        })
    }
}

/// What an action runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    /// The whole database the URL names.
    Database,
    /// One table the catalog confirmed exists (see [`table`]).
    Table { schema: String, name: String },
}

impl Target {
    /// Whether `other` would get in this one's way (the same table, or either is the whole database).
    pub fn overlaps(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Database, _) | (_, Target::Database) => true,
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Database => f.write_str("the whole database"),
            Target::Table { schema, name } => write!(f, "{schema}.{name}"),
        }
    }
}

/// What a backend offers for one action.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Offer {
    pub action: Action,
    /// Runs on the whole database.
    pub per_database: bool,
    /// Runs on one table.
    pub per_table: bool,
    /// What it holds up while it runs; such actions are confirmed first.
    pub locks: Option<&'static str>,
    /// What it does, in a sentence.
    pub does: &'static str,
}

/// One action on this backend: offered, or why not.
#[derive(Clone, Debug, Serialize)]
pub struct Availability {
    pub action: Action,
    pub offer: Option<Offer>,
    /// Why the backend lacks it.
    pub missing: Option<&'static str>,
}

/// What a finished action reported.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    /// One line: `ok`, `2 problems`, `checkpointed 12 WAL frames into the database and truncated the WAL; ...`.
    pub summary: String,
    /// False when a check found problems (the action itself ran).
    pub healthy: bool,
    /// The result rows the database answered with (CHECK TABLE, integrity_check, ...), if any.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub duration_ms: u128,
}

impl Outcome {
    fn done(summary: impl Into<String>) -> Outcome {
        Outcome { summary: summary.into(), healthy: true, ..Outcome::default() }
    }
}

/// How far a running action is, as the database (or Strata, table by table) reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// `scanning heap`, `waiting for a lock`, `table 3 of 12`.
    pub phase: String,
    /// The table being worked on.
    pub relation: Option<String>,
    pub done: Option<i64>,
    pub total: Option<i64>,
    /// What `done` and `total` count (`blocks`, `tables`).
    pub unit: String,
}

impl Progress {
    /// `done / total` as a whole percentage, when both are known and total is not 0.
    pub fn percent(&self) -> Option<i64> {
        match (self.done, self.total) {
            (Some(d), Some(t)) if t > 0 => Some((d * 100 / t).clamp(0, 100)),
            _ => None,
        }
    }
}

/// Shared between a running action and whoever watches it: the server session it runs in and the
/// step Strata itself is at (for actions that go table by table).
#[derive(Clone, Debug, Default)]
pub struct Tracker(Arc<Mutex<Tracked>>);

#[derive(Clone, Debug, Default)]
struct Tracked {
    pid: Option<i64>,
    step: Option<Progress>,
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server session (PostgreSQL backend pid, MariaDB connection id) the action runs in.
    pub fn pid(&self) -> Option<i64> {
        self.lock().pid
    }

    fn set_pid(&self, pid: i64) {
        self.lock().pid = Some(pid);
    }

    /// The step Strata last reported.
    pub fn step(&self) -> Option<Progress> {
        self.lock().step.clone()
    }

    fn set_step(&self, step: Progress) {
        self.lock().step = Some(step);
    }

    /// Reports "table `n` of `total`" for actions Strata runs one table at a time.
    fn table_step(&self, n: usize, total: usize, relation: &str) {
        self.set_step(Progress {
            phase: format!("table {n} of {total}"),
            relation: Some(relation.to_string()),
            done: Some(n as i64 - 1),
            total: Some(total as i64),
            unit: "tables".into(),
        });
    }
}

/// Maintenance for one backend.
#[async_trait::async_trait]
trait Maintainer: Send + Sync {
    /// What this backend offers for `action`, or why it has no such thing.
    fn offer(&self, action: Action) -> std::result::Result<Offer, &'static str>;

    /// Runs `action` on `db` (a dedicated connection), stopping at `timeout`.
    async fn run(
        &self,
        db: &DatabaseConnection,
        action: Action,
        target: &Target,
        timeout: Duration,
        tracker: &Tracker,
    ) -> Result<Outcome>;

    /// Facts the Maintenance page shows (SQLite's journal mode and WAL size, the server version).
    async fn facts(&self, db: &DatabaseConnection) -> Result<Vec<(String, String)>>;

    /// What the server reports about the session `pid` right now (PostgreSQL's `pg_stat_progress_*`).
    async fn progress(&self, _db: &DatabaseConnection, _pid: i64) -> Result<Option<Progress>> {
        Ok(None)
    }
}

/// The only place maintenance matches on the backend.
fn maintainer(url: &DatabaseUrl) -> Box<dyn Maintainer> {
    match url.backend() {
        Backend::Postgres => Box::new(postgres::Postgres),
        Backend::MySql => Box::new(mysql::MySql),
        Backend::Sqlite => Box::new(sqlite::Sqlite::new(url)),
    }
}

/// Every action and whether this backend offers it.
pub fn offers(url: &DatabaseUrl) -> Vec<Availability> {
    let m = maintainer(url);
    Action::ALL
        .into_iter()
        .map(|action| match m.offer(action) {
            Ok(offer) => Availability { action, offer: Some(offer), missing: None },
            Err(why) => Availability { action, offer: None, missing: Some(why) },
        })
        .collect()
}

/// What the backend offers for `action` on `target`; [`Error::Unsupported`] says why not.
pub fn check(url: &DatabaseUrl, action: Action, target: &Target) -> Result<Offer> {
    let backend = url.backend();
    let offer = maintainer(url)
        .offer(action)
        .map_err(|why| Error::Unsupported(format!("{} is not available on {backend}: {why}", action.label())))?;
    match target {
        Target::Database if !offer.per_database => Err(Error::Unsupported(format!(
            "{} on {backend} runs on one table at a time: name the table",
            action.label()
        ))),
        Target::Table { .. } if !offer.per_table => Err(Error::Unsupported(format!(
            "{} on {backend} runs on the whole database, not on one table",
            action.label()
        ))),
        _ => Ok(offer),
    }
}

/// The table `schema.table` as the catalog has it; [`Error::NotFound`] when there is none.
pub async fn table(introspector: &dyn Introspector, schema: &str, table: &str) -> Result<Target> {
    let detail =
        introspector.table(schema, table).await?.ok_or_else(|| Error::NotFound(format!("table {schema}.{table}")))?;
    Ok(Target::Table { schema: detail.table.schema, name: detail.table.name })
}

/// Parses `SCHEMA.TABLE` (or a bare `TABLE`, in `default_schema`). Quoting is not needed: the
/// name is looked up in the catalog and quoted by the backend, never spliced as typed.
pub fn split_table_name<'a>(name: &'a str, default_schema: &'a str) -> (&'a str, &'a str) {
    match name.split_once('.') {
        Some((schema, table)) if !schema.is_empty() && !table.is_empty() => (schema, table),
        _ => (default_schema, name),
    }
}

/// The schema a bare table name is looked for in: `public` (or the URL's search path), the MariaDB
/// database, SQLite's `main`.
pub fn default_schema(url: &DatabaseUrl) -> String {
    match url.backend() {
        Backend::Postgres => url.search_path().and_then(|p| p.split(',').next()).unwrap_or("public").trim().to_string(),
        Backend::MySql => url.database_name().unwrap_or_default(),
        Backend::Sqlite => "main".to_string(),
    }
}

/// Runs `action` on `target` on a connection of its own (VACUUM cannot run inside a transaction and
/// must not hold a pooled connection of the dashboard), stopped after `maintenance_timeout`.
pub async fn run(
    url: &DatabaseUrl,
    settings: &Settings,
    action: Action,
    target: &Target,
    tracker: &Tracker,
) -> Result<Outcome> {
    check(url, action, target)?;
    let m = maintainer(url);
    let timeout = settings.maintenance_timeout;
    let conn = db::connect(url, Purpose::Maintenance).await?;
    let started = Instant::now();
    let ran = tokio::time::timeout(timeout + GRACE, m.run(&conn, action, target, timeout, tracker)).await;
    conn.close().await.ok();
    let elapsed = started.elapsed();
    match ran {
        Ok(Ok(mut outcome)) => {
            outcome.duration_ms = elapsed.as_millis();
            Ok(outcome)
        }
        // The server's own limit fired (statement_timeout, max_statement_time, SQLite's interrupt).
        Ok(Err(_)) | Err(_) if elapsed >= timeout => Err(Error::Maintenance(format!(
            "{} on {target} did not finish within maintenance_timeout ({}) and was stopped",
            action.label(),
            crate::backup::human_duration(timeout)
        ))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Internal("the maintenance timer fired early".into())),
    }
}

/// Facts for the Maintenance page, read on `db` (the dashboard's pool).
pub async fn facts(url: &DatabaseUrl, db: &DatabaseConnection) -> Result<Vec<(String, String)>> {
    maintainer(url).facts(db).await
}

/// How far a running action is: what the server reports about its session, else Strata's own step.
pub async fn progress(url: &DatabaseUrl, db: &DatabaseConnection, tracker: &Tracker) -> Option<Progress> {
    let step = tracker.step();
    let Some(pid) = tracker.pid() else { return step };
    match maintainer(url).progress(db, pid).await {
        // The server's phase, with Strata's table and count where the server gives none.
        Ok(Some(mut p)) => {
            if let Some(s) = step {
                p.relation = p.relation.or(s.relation);
                if p.total.is_none() {
                    (p.done, p.total, p.unit) = (s.done, s.total, s.unit);
                }
            }
            Some(p)
        }
        Ok(None) => step,
        Err(e) => {
            tracing::warn!(error = %e, "reading maintenance progress");
            step
        }
    }
}

/// The audit log's detail for a finished action: its outcome, its time, its summary or error.
pub fn audit_detail(outcome: &Result<Outcome>) -> String {
    match outcome {
        Ok(o) if o.healthy => format!("succeeded in {} ms: {}", o.duration_ms, o.summary),
        Ok(o) => format!("problems found in {} ms: {}", o.duration_ms, o.summary),
        Err(e) => format!("failed: {e}"),
    }
}

/// One line per row of text cells, for outcomes made of result rows.
fn text_rows(rows: &[sea_orm::QueryResult], columns: usize) -> Vec<Vec<String>> {
    rows.iter().map(|r| (0..columns).map(|i| cell(r, i)).collect()).collect()
}

/// A result cell as text, whatever its type.
fn cell(row: &sea_orm::QueryResult, i: usize) -> String {
    row.try_get_by_index::<Option<String>>(i)
        .map(|v| v.unwrap_or_else(|| "NULL".into()))
        .or_else(|_| row.try_get_by_index::<Option<i64>>(i).map(|v| v.map(|n| n.to_string()).unwrap_or_default()))
        .or_else(|_| row.try_get_by_index::<Option<i32>>(i).map(|v| v.map(|n| n.to_string()).unwrap_or_default()))
        .or_else(|_| {
            row.try_get_by_index::<Option<Vec<u8>>>(i)
                .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
        })
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_accept_underscores() {
        for a in Action::ALL {
            assert_eq!(a.name().parse::<Action>().unwrap(), a);
        }
        assert_eq!("integrity_check".parse::<Action>().unwrap(), Action::IntegrityCheck);
        let err = "defrag".parse::<Action>().unwrap_err().to_string();
        assert!(err.contains("vacuum-analyze") && err.contains("wal-checkpoint"), "{err}");
    }

    #[test]
    fn every_audit_name_is_a_known_audit_action() {
        for a in Action::ALL {
            assert!(crate::home::audit::KNOWN_ACTIONS.contains(&a.audit_action()), "{a} is not in KNOWN_ACTIONS");
        }
    }

    #[test]
    fn a_database_wide_run_overlaps_everything_and_tables_only_themselves() {
        let t = |n: &str| Target::Table { schema: "s".into(), name: n.into() };
        assert!(Target::Database.overlaps(&t("a")) && t("a").overlaps(&Target::Database));
        assert!(t("a").overlaps(&t("a")));
        assert!(!t("a").overlaps(&t("b")));
    }

    #[test]
    fn table_names_split_on_the_first_dot_or_take_the_default_schema() {
        assert_eq!(split_table_name("public.users", "x"), ("public", "users"));
        assert_eq!(split_table_name("users", "main"), ("main", "users"));
        assert_eq!(split_table_name(".users", "main"), ("main", ".users"));
    }

    #[test]
    fn every_backend_says_why_it_lacks_an_action() {
        for url in ["postgres://u@h/db", "mysql://u@h/db", "sqlite:///tmp/x.db"] {
            let url = DatabaseUrl::parse(url).unwrap();
            let all = offers(&url);
            assert_eq!(all.len(), Action::ALL.len());
            for a in &all {
                assert!(a.offer.is_some() != a.missing.is_some(), "{url}: {:?}", a.action);
                if let Some(o) = a.offer {
                    assert!(o.per_database || o.per_table, "{url}: {:?} runs on nothing", a.action);
                }
            }
        }
        let mysql = DatabaseUrl::parse("mysql://u@h/db").unwrap();
        let err = check(&mysql, Action::Vacuum, &Target::Database).unwrap_err().to_string();
        assert!(err.contains("OPTIMIZE"), "MariaDB's answer to VACUUM points at OPTIMIZE: {err}");
    }

    #[test]
    fn percent_needs_a_total() {
        let p = |d, t| Progress { done: d, total: t, ..Progress::default() };
        assert_eq!(p(Some(5), Some(20)).percent(), Some(25));
        assert_eq!(p(Some(5), Some(0)).percent(), None);
        assert_eq!(p(None, Some(5)).percent(), None);
    }
}
