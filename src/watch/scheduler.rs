//! Scheduled backups and restore tests in `strata serve`: one scheduler among all instances sharing the home
//! database.
//!
//! Every instance reads the schedules set on the Backups page each [`TICK`]; when some database has a schedule, it
//! tries to take or renew the lease `backup_scheduler` (held for [`LEASE`]), and only its holder runs anything. An instance that stops gives the lease up (or, killed, lets it expire), and
//! another takes it within `LEASE + TICK`. Before running anything the holder claims the run in the home database
//! (a unique row per database, kind and scheduled time), so even two instances that both believe they hold the
//! lease never run the same backup twice. A schedule is counted from its last claimed run: after a downtime the
//! missed runs collapse into one, run at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use super::{Watched, Watchlist};
use crate::backup::jobs::{Done, Kind};
use crate::backup::{self, BackupOptions, Format};
use crate::config::Config;
use crate::config::backup::{RestoreTest, Schedule};
use crate::error::Result;
use crate::home::audit;
use crate::home::backup_runs::{self, RunKind};
use crate::migrate::MigrationSet;

/// How often each instance looks at the lease (and its holder at the schedules).
pub const TICK: Duration = Duration::from_secs(1);

/// How long a lease lasts without renewal: a stopped holder is replaced within `LEASE + TICK`.
pub const LEASE: Duration = Duration::from_secs(4);

/// The lease's name in `strata_leases`.
const LEASE_NAME: &str = "backup_scheduler";

/// The audit log's actor for what the scheduler does.
pub const ACTOR: &str = "scheduler";

/// The schedule in force for a database: the one set on the Backups page, else the configuration's.
#[derive(Clone, Debug)]
pub struct InForce {
    pub schedule: Option<Schedule>,
    /// The admin who set it on the page; `None`: it is the configuration's.
    pub set_by: Option<String>,
}

/// The backup schedule in force for `watched`, reading the page's override from the home database.
pub async fn in_force(home: &DatabaseConnection, watched: &Watched) -> Result<InForce> {
    let set = backup_runs::schedule_override(home, watched.name()).await?;
    Ok(resolve(watched, set))
}

fn resolve(watched: &Watched, set: Option<backup_runs::Override>) -> InForce {
    match set {
        Some(o) => InForce {
            // Checked when it was saved; a value that no longer parses counts as off rather than guessing.
            schedule: (o.schedule != "off").then(|| Schedule::parse(&o.schedule).ok()).flatten(),
            set_by: Some(o.updated_by),
        },
        None => InForce { schedule: watched.spec.backup_schedule.clone(), set_by: None },
    }
}

/// When the next scheduled backup of `watched` runs under `schedule`, counted from its last run.
pub async fn next_run(
    home: &DatabaseConnection,
    watched: &Watched,
    schedule: &Schedule,
) -> Result<Option<DateTime<Utc>>> {
    let last = backup_runs::last_run(home, watched.name(), RunKind::Backup).await?;
    Ok(schedule.next_after(last.unwrap_or_else(Utc::now)))
}

/// The scheduler of one instance.
pub struct Scheduler {
    home: DatabaseConnection,
    watched: Arc<Watchlist>,
    config: Arc<Config>,
    set: Arc<MigrationSet>,
    /// This instance, as the lease and the runs name it.
    instance: String,
    /// When this instance first saw each schedule that has never run (counted from there).
    first_seen: HashMap<(String, &'static str), DateTime<Utc>>,
}

impl Scheduler {
    pub fn new(home: DatabaseConnection, watched: Arc<Watchlist>, config: Arc<Config>, set: Arc<MigrationSet>) -> Self {
        let host = hostname();
        let instance = format!("{host}:{}:{:04x}", std::process::id(), rand::random::<u16>());
        Scheduler { home, watched, config, set, instance, first_seen: HashMap::new() }
    }

    /// Runs until the task is aborted; [`Scheduler::release`] gives the lease up on shutdown.
    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "the backup scheduler could not read the home database; it tries again");
            }
        }
    }

    /// This instance's name in the lease and the runs.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Gives the lease up if this instance holds it.
    pub async fn release(home: &DatabaseConnection, instance: &str) {
        if let Err(e) = backup_runs::release_lease(home, LEASE_NAME, instance).await {
            tracing::warn!(error = %e, "the backup scheduler's lease was not given up; it expires by itself");
        }
    }

    async fn tick(&mut self) -> Result<()> {
        let overrides: HashMap<String, backup_runs::Override> =
            backup_runs::overrides(&self.home).await?.into_iter().collect();
        let all = self.watched.all();
        // Nothing scheduled anywhere: one read a tick, no lease written.
        let scheduled = all.iter().any(|w| {
            resolve(w, overrides.get(w.name()).cloned()).schedule.is_some()
                || matches!(w.spec.restore_test, RestoreTest::Scheduled(_))
        });
        if !scheduled {
            return Ok(());
        }
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        if !backup_runs::take_lease(&self.home, LEASE_NAME, &self.instance, now, until).await? {
            // Another instance schedules; when it took over, what this one first saw no longer counts.
            self.first_seen.clear();
            return Ok(());
        }
        for watched in all {
            // A run due while this database's backup, restore or restore test runs here waits for it to end (runs
            // missed meanwhile collapse into one), rather than being claimed and skipped every tick.
            if watched.backups.latest().is_some_and(|j| j.is_running()) {
                continue;
            }
            let in_force = resolve(&watched, overrides.get(watched.name()).cloned());
            if let Some(schedule) = &in_force.schedule
                && let Some(due) = self.due(&watched, RunKind::Backup, schedule, now).await?
                && backup_runs::claim(&self.home, watched.name(), RunKind::Backup, due, &self.instance).await?
            {
                self.start_backup(watched.clone(), due).await;
            }
            if let RestoreTest::Scheduled(schedule) = &watched.spec.restore_test
                && let Some(due) = self.due(&watched, RunKind::RestoreTest, schedule, now).await?
                && backup_runs::claim(&self.home, watched.name(), RunKind::RestoreTest, due, &self.instance).await?
            {
                self.start_restore_test(watched.clone(), due).await;
            }
        }
        Ok(())
    }

    /// The run due now, if any: the latest scheduled time since the last claimed run (or since this instance
    /// first saw the schedule, when it never ran).
    async fn due(
        &mut self,
        watched: &Watched,
        kind: RunKind,
        schedule: &Schedule,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let last = match backup_runs::last_run(&self.home, watched.name(), kind).await? {
            Some(last) => last,
            None => *self.first_seen.entry((watched.name().to_string(), kind.as_str())).or_insert(now),
        };
        Ok(schedule.latest_due(last, now))
    }

    async fn start_backup(&self, watched: Arc<Watched>, due: DateTime<Utc>) {
        let (home, set) = (self.home.clone(), self.set.clone());
        let config = watched.config(&self.config);
        let spec = watched.spec.clone();
        let opts = BackupOptions {
            dir: watched.backup_dir(&self.config),
            format: Format::Sql,
            keep: None,
            encrypt_to: Vec::new(),
        };
        let name = watched.name().to_string();
        let when = due.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        let entry = scheduler_audit("backup.create").database(&name);
        let (job_home, job_name, job_entry, job_when) = (home.clone(), name.clone(), entry.clone(), when.clone());
        let started = watched.backups.start(Kind::Backup, None, ACTOR, None, move |progress, step| async move {
            let done = async {
                let spec = super::backups::offsite_in_force(&job_home, &config, &spec).await?;
                super::backups::backup(&config, &spec, set, &opts, progress, step).await
            }
            .await;
            let (outcome, detail, entry) = match &done {
                Ok(s) => {
                    let mut detail = format!(
                        "scheduled for {job_when}: succeeded: {} bytes in {}, {} tables",
                        s.bytes,
                        backup::human_duration(Duration::from_millis(s.duration_ms as u64)),
                        s.tables
                    );
                    if !s.deleted.is_empty() {
                        let names: Vec<String> = s.deleted.iter().map(|p| backup::shown(p)).collect();
                        detail.push_str(&format!("; retention deleted {}", names.join(", ")));
                    }
                    detail.push_str(&super::backups::describe_offsite(s));
                    if let Some(t) = &s.restore_test {
                        detail.push_str(&format!("; restore test {}", super::backups::describe(t)));
                    }
                    let file = s.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    ("succeeded", detail.clone(), job_entry.target(file).detail(detail))
                }
                Err(e) => {
                    let detail = format!("scheduled for {job_when}: failed: {e}");
                    ("failed", detail.clone(), job_entry.detail(detail))
                }
            };
            record(&job_home, entry).await;
            if let Err(e) = backup_runs::finish(&job_home, &job_name, RunKind::Backup, due, outcome, &detail).await {
                tracing::warn!(error = %e, database = %job_name, "the scheduled backup's outcome was not recorded");
            }
            done.map(Done::Backup).map_err(|e| e.to_string())
        });
        if let Err(e) = started {
            let detail = format!("scheduled for {when}: skipped: {e}");
            record(&home, entry.detail(detail.clone())).await;
            backup_runs::finish(&home, &name, RunKind::Backup, due, "skipped", &detail).await.ok();
        }
    }

    /// Runs the restore test of the newest backup as the database's background job (the Backups page shows it
    /// with its progress); while another backup, restore or restore test of it runs, this one is skipped.
    async fn start_restore_test(&self, watched: Arc<Watched>, due: DateTime<Utc>) {
        let (home, set) = (self.home.clone(), self.set.clone());
        let config = watched.config(&self.config);
        let dir = watched.backup_dir(&self.config);
        let name = watched.name().to_string();
        let entry = scheduler_audit("backup.restore_test").database(&name);
        let newest = match backup::list(&dir, &backup::file_prefix(watched.url())).map(|l| l.into_iter().next()) {
            Ok(Some(b)) => b,
            Ok(None) => {
                record(&home, entry.detail("skipped: no backup to test")).await;
                backup_runs::finish(&home, &name, RunKind::RestoreTest, due, "skipped", "no backup to test").await.ok();
                return;
            }
            Err(e) => {
                record(&home, entry.detail(format!("failed: {e}"))).await;
                backup_runs::finish(&home, &name, RunKind::RestoreTest, due, "failed", &e.to_string()).await.ok();
                return;
            }
        };
        let (job_home, job_name, spec, file) = (home.clone(), name.clone(), watched.spec.clone(), newest.path.clone());
        let job_entry = entry.clone().target(&newest.name);
        let started = watched.backups.start(
            Kind::RestoreTest,
            Some(newest.name.clone()),
            ACTOR,
            Some(newest.bytes),
            move |progress, step| async move {
                let tested = super::backups::test_restore(&config, &spec, set, &file, None, progress, step).await;
                let (outcome, detail) = match &tested {
                    Ok(r) if r.passed() => ("succeeded", super::backups::describe(r)),
                    Ok(r) => ("failed", super::backups::describe(r)),
                    Err(e) => ("failed", format!("failed: {e}")),
                };
                record(&job_home, job_entry.detail(detail.clone())).await;
                backup_runs::finish(&job_home, &job_name, RunKind::RestoreTest, due, outcome, &detail).await.ok();
                match tested {
                    Ok(r) if r.passed() => Ok(Done::RestoreTest(Box::new(r))),
                    Ok(r) => Err(format!("the restore test failed: {}", r.problems.join("; "))),
                    Err(e) => Err(e.to_string()),
                }
            },
        );
        if let Err(e) = started {
            let detail = format!("skipped: {e}");
            record(&home, entry.target(&newest.name).detail(detail.clone())).await;
            backup_runs::finish(&home, &name, RunKind::RestoreTest, due, "skipped", &detail).await.ok();
        }
    }
}

fn scheduler_audit(action: &str) -> audit::Entry {
    let mut entry = audit::Entry::new(action).client("scheduler");
    entry.actor = ACTOR.to_string();
    entry
}

async fn record(home: &DatabaseConnection, entry: audit::Entry) {
    if let Err(e) = audit::record(home, entry).await {
        tracing::error!(error = %e, "could not write the scheduler's audit entry");
    }
}

/// This host's name, for naming an instance in a lease.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "strata".into())
}
