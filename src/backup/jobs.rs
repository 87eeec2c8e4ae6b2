//! Backups and restores started from the dashboard: one at a time per database in this process, run in the background, progress and outcome kept.
//!
//! ```ignore
//! let job = state.backups.start(Kind::Backup, None, &user.username, None, |progress, _step| async move {
//!     backup::backup(&config, &opts, progress).await.map(Done::Backup).map_err(|e| e.to_string())
//! })?; // Err(Error::Backup(..)), a 409, while another backup or restore of this database runs
//! ```
//!
//! The lock is process-wide: [`Jobs::shared`] hands every caller naming the same database the same
//! `Jobs`, so two dashboards built in one process (or two browser tabs) cannot restore over each
//! other. It does not reach other processes: a `strata restore` run from a shell is not seen.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{BackupSummary, Progress, Report, RestoreSummary, Step, Steps, human_duration};
use crate::config::DatabaseUrl;
use crate::error::{Error, Result};

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Backup,
    Restore,
    /// A scheduled restore test (`restore_test = CRON`) of the newest backup into a scratch database.
    RestoreTest,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Backup => "backup",
            Kind::Restore => "restore",
            Kind::RestoreTest => "restore test",
        }
    }
}

/// What a job that succeeded produced.
#[derive(Clone, Debug)]
pub enum Done {
    Backup(BackupSummary),
    /// The restore, and the verification report read afterwards (or why it could not be read).
    Restore {
        summary: RestoreSummary,
        report: Box<Result<Report, String>>,
    },
    /// A restore test's record (passed or failed: the test ran).
    RestoreTest(Box<super::manifest::RestoreTestRecord>),
}

/// How a job ended: what it produced, or the message of what went wrong.
pub type Outcome = Result<Done, String>;

/// One backup or restore, running or finished.
#[derive(Debug)]
pub struct Job {
    pub kind: Kind,
    /// The backup file's name: known from the start for a restore, at the end for a backup.
    file: Mutex<Option<String>>,
    /// Who started it.
    pub actor: String,
    pub started_at: DateTime<Utc>,
    started: Instant,
    /// Bytes written (backup), sent (upload) or read (restore) so far in the current step.
    bytes: AtomicU64,
    /// The step under way and when it began (`None`: the job has not named one; its bytes count from its start).
    step: Mutex<Option<(Steps, Instant)>>,
    /// The size of the file being restored.
    pub file_bytes: Option<u64>,
    ended: Mutex<Option<(Outcome, Duration)>>,
}

/// A job as the page and the status endpoint (`GET /backups/status`) show it.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub kind: Kind,
    /// `running`, `succeeded` or `failed`.
    pub state: &'static str,
    pub file: Option<String>,
    pub actor: String,
    pub started_at: DateTime<Utc>,
    pub elapsed_ms: u64,
    /// "1.2 MB written at 400 KB/s, 3.4 s" / "off-site upload: 41.3 MB sent at 9.0 MB/s, 2 min 05 s".
    pub progress: String,
    /// The step under way: `dump`, `upload`, `restore` or `check` (`null` before the job names one).
    pub step: Option<Steps>,
    /// Bytes written (backup), sent (upload) or read after decompression (restore) so far in this step.
    pub bytes: u64,
    /// Bytes per second over this step so far (0 while it has not moved a byte).
    pub rate: u64,
    /// The size of the file being restored.
    pub file_bytes: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

impl Job {
    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        // A panic while holding these small locks leaves consistent data: keep going.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether it is still running.
    pub fn is_running(&self) -> bool {
        Job::lock(&self.ended).is_none()
    }

    /// How it ended; `None` while it runs.
    pub fn outcome(&self) -> Option<Outcome> {
        Job::lock(&self.ended).as_ref().map(|(o, _)| o.clone())
    }

    pub fn file(&self) -> Option<String> {
        Job::lock(&self.file).clone()
    }

    /// A snapshot for the page.
    pub fn status(&self) -> Status {
        let (state, elapsed, error) = match &*Job::lock(&self.ended) {
            None => ("running", self.started.elapsed(), None),
            Some((Ok(_), took)) => ("succeeded", *took, None),
            Some((Err(e), took)) => ("failed", *took, Some(e.clone())),
        };
        let bytes = self.bytes.load(Ordering::Relaxed);
        let step = *Job::lock(&self.step);
        // The rate over the step under way, else over the whole job.
        let step_secs = step.map(|(_, at)| at.elapsed()).unwrap_or(elapsed).as_secs_f64();
        let rate = if step_secs > 0.0 { (bytes as f64 / step_secs) as u64 } else { 0 };
        let progress = progress_line(self.kind, step.map(|(s, _)| s), bytes, rate, self.file_bytes, elapsed);
        Status {
            kind: self.kind,
            state,
            file: self.file(),
            actor: self.actor.clone(),
            started_at: self.started_at,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            progress,
            step: step.map(|(s, _)| s),
            bytes,
            rate,
            file_bytes: self.file_bytes,
            error,
        }
    }

    /// Enters a step: its bytes count from 0.
    fn enter(&self, step: Steps) {
        let mut current = Job::lock(&self.step);
        self.bytes.store(0, Ordering::Relaxed);
        *current = Some((step, Instant::now()));
    }

    fn finish(&self, outcome: Outcome) {
        if let Ok(Done::Backup(summary)) = &outcome {
            let name = summary.file.file_name().map(|n| n.to_string_lossy().into_owned());
            *Job::lock(&self.file) = name;
        }
        let mut ended = Job::lock(&self.ended);
        if ended.is_none() {
            *ended = Some((outcome, self.started.elapsed()));
        }
    }
}

/// The backup or restore of one database: the one running, else the last one that ran.
#[derive(Debug, Default)]
pub struct Jobs {
    latest: Mutex<Option<Arc<Job>>>,
}

static SHARED: LazyLock<Mutex<HashMap<String, Arc<Jobs>>>> = LazyLock::new(Default::default);

impl Jobs {
    /// The jobs of the database `url` names, the same for every caller in this process.
    pub fn shared(url: &DatabaseUrl) -> Arc<Jobs> {
        // The masked URL names the server, the database and its options; the password does not matter.
        Job::lock(&SHARED).entry(url.masked()).or_default().clone()
    }

    /// The running job, else the last one that ran since the server started.
    pub fn latest(&self) -> Option<Arc<Job>> {
        Job::lock(&self.latest).clone()
    }

    /// Starts `work` in the background unless a job is running already (then an [`Error::Backup`]
    /// saying which, answered with 409). `work` gets a [`Progress`] to report bytes through, and a [`Step`] to
    /// say which step it has reached.
    pub fn start<F, Fut>(
        &self,
        kind: Kind,
        file: Option<String>,
        actor: &str,
        file_bytes: Option<u64>,
        work: F,
    ) -> Result<Arc<Job>>
    where
        F: FnOnce(Progress, Step) -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let mut latest = Job::lock(&self.latest);
        if let Some(running) = latest.as_ref().filter(|j| j.is_running()) {
            let what = match running.file() {
                Some(f) => format!("a {} of {f}", running.kind.as_str()),
                None => format!("a {}", running.kind.as_str()),
            };
            return Err(Error::Backup(format!(
                "{what} started by {} at {} is already running; nothing was started. \
                 Wait for it to finish (the Backups page shows its progress), then try again",
                running.actor,
                running.started_at.format("%H:%M:%S UTC")
            )));
        }
        let job = Arc::new(Job {
            kind,
            file: Mutex::new(file),
            actor: actor.to_string(),
            started_at: Utc::now(),
            started: Instant::now(),
            bytes: AtomicU64::new(0),
            step: Mutex::new(None),
            file_bytes,
            ended: Mutex::new(None),
        });
        let counter = job.clone();
        let progress: Progress = Arc::new(move |n| counter.bytes.store(n, Ordering::Relaxed));
        let stepper = job.clone();
        let step: Step = Arc::new(move |s| stepper.enter(s));
        let task = tokio::spawn(work(progress, step));
        let watcher = job.clone();
        // A second task waits for the first so that even a panic ends the job and frees the lock.
        tokio::spawn(async move {
            let outcome = task.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "a background {} stopped", watcher.kind.as_str());
                Err(format!("the {} stopped unexpectedly; the details are in Strata's log", watcher.kind.as_str()))
            });
            watcher.finish(outcome);
        });
        *latest = Some(job.clone());
        Ok(job)
    }
}

/// What the page and the status endpoint say of a job's progress: the step, its bytes and rate, the time so far.
fn progress_line(
    kind: Kind,
    step: Option<Steps>,
    bytes: u64,
    rate: u64,
    file: Option<u64>,
    elapsed: Duration,
) -> String {
    let size = |n: u64| crate::web::fmt::bytes_of(&i64::try_from(n).unwrap_or(i64::MAX));
    let at = if rate > 0 { format!(" at {}/s", size(rate)) } else { String::new() };
    let took = human_duration(elapsed);
    let step = step.unwrap_or(match kind {
        Kind::Backup => Steps::Dump,
        Kind::Restore | Kind::RestoreTest => Steps::Restore,
    });
    let test = if kind == Kind::RestoreTest { "restore test: " } else { "" };
    match (step, kind, file) {
        (Steps::Dump, _, _) => format!("{} written{at}, {took}", size(bytes)),
        (Steps::Upload, _, _) => format!("off-site upload: {} sent{at}, {took}", size(bytes)),
        (Steps::Download, _, Some(file)) => {
            format!("off-site download: {} of {} received{at}, {took}", size(bytes), size(file))
        }
        (Steps::Download, _, None) => format!("off-site download: {} received{at}, {took}", size(bytes)),
        // A restore counts the data it feeds the database, after decompression: no percentage of the file.
        (Steps::Restore, Kind::Restore, Some(file)) => {
            format!("{} read from the {} file{at}, {took}", size(bytes), size(file))
        }
        (Steps::Restore, Kind::Backup, _) => format!("restore test: {} read{at}, {took}", size(bytes)),
        (Steps::Restore, _, _) => format!("{test}{} read{at}, {took}", size(bytes)),
        (Steps::Check, _, _) => format!("restore test: checking rows, keys, indexes and migration heads, {took}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn finished(job: &Job) -> Outcome {
        for _ in 0..100 {
            if let Some(o) = job.outcome() {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the job did not finish");
    }

    #[tokio::test]
    async fn a_second_job_is_refused_while_one_runs_and_allowed_after() {
        let jobs = Jobs::default();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let (reported, progressed) = tokio::sync::oneshot::channel::<()>();
        let first = jobs
            .start(Kind::Restore, Some("a.sql.gz".into()), "ann", Some(10), |progress, _| async move {
                progress(4);
                reported.send(()).ok();
                wait.await.ok();
                Err("stopped".to_string())
            })
            .unwrap();
        let refused = jobs.start(Kind::Backup, None, "bob", None, |_, _| async { Err("never".to_string()) });
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("a restore of a.sql.gz started by ann") && message.contains("already running"));
        assert_eq!(first.status().state, "running");
        progressed.await.unwrap();
        let status = first.status();
        assert!(status.progress.starts_with("4 B read from the 10 B file at "), "{}", status.progress);
        assert_eq!((status.bytes, status.step), (4, None));
        release.send(()).unwrap();
        assert_eq!(finished(&first).await.unwrap_err(), "stopped");
        assert_eq!(first.status().state, "failed");
        jobs.start(Kind::Backup, None, "bob", None, |_, _| async { Err("ran".to_string()) }).unwrap();
    }

    #[tokio::test]
    async fn each_step_counts_its_own_bytes_and_says_what_it_does() {
        let jobs = Jobs::default();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let (reported, progressed) = tokio::sync::oneshot::channel::<()>();
        let job = jobs
            .start(Kind::Backup, None, "ann", None, |progress, step| async move {
                step(Steps::Dump);
                progress(5000);
                step(Steps::Upload);
                progress(700);
                reported.send(()).ok();
                wait.await.ok();
                Err("stopped".to_string())
            })
            .unwrap();
        progressed.await.unwrap();
        let status = job.status();
        assert_eq!((status.state, status.step, status.bytes), ("running", Some(Steps::Upload), 700));
        assert!(status.progress.starts_with("off-site upload: 700 B sent at "), "{}", status.progress);
        assert!(status.rate > 0, "{status:?}");
        release.send(()).unwrap();
        finished(&job).await.unwrap_err();
        let line = progress_line(Kind::RestoreTest, Some(Steps::Check), 0, 0, None, Duration::from_secs(3));
        assert_eq!(line, "restore test: checking rows, keys, indexes and migration heads, 3.0 s");
        let line = progress_line(Kind::RestoreTest, Some(Steps::Restore), 2048, 1024, None, Duration::from_secs(2));
        assert!(line.starts_with("restore test: 2.0 kB read at 1.0 kB/s, "), "{line}");
    }

    #[tokio::test]
    async fn a_panicking_job_ends_as_failed_and_frees_the_lock() {
        let jobs = Jobs::default();
        let job = jobs.start(Kind::Backup, None, "ann", None, |_, _| async { panic!("boom") }).unwrap();
        assert!(finished(&job).await.unwrap_err().contains("stopped unexpectedly"));
        assert!(jobs.start(Kind::Backup, None, "ann", None, |_, _| async { Err("ran".to_string()) }).is_ok());
    }
}
