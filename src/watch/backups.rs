//! A watched database's backup as the page, the scheduler and `strata backup` take it: the file, then the
//! migration heads recorded in its sidecar, the retention policy applied, and the restore test run when
//! `restore_test = after_backup`.

use std::sync::Arc;

use futures::FutureExt;
use sea_orm::DatabaseConnection;

use super::schema_history;
use crate::backup::encrypt::{self, Identities};
use crate::backup::manifest::{self, RestoreTestRecord, ToolHeads};
use crate::backup::offsite;
use crate::backup::restore_test::{self, HeadsReader};
use crate::backup::retention::{self, Policy};
use crate::backup::{self, BackupOptions, BackupSummary, Progress, Step, Steps};
use crate::config::backup::{Offsite, RestoreTest};
use crate::config::{Config, WatchSpec};
use crate::db::{self, Purpose};
use crate::error::Result;
use crate::migrate::MigrationSet;

/// The retention policy configured for `spec`.
pub fn policy(spec: &WatchSpec) -> Policy {
    Policy { keep: spec.backup_keep, max_age: spec.backup_max_age }
}

/// `spec` with the off-site settings in force: those set on the Backups page (in the home database, the secret
/// opened with the key file) when there are any, else the configuration's.
pub async fn offsite_in_force(home: &DatabaseConnection, config: &Config, spec: &WatchSpec) -> Result<WatchSpec> {
    let mut spec = spec.clone();
    spec.backup_offsite =
        crate::home::offsite::in_force(home, &config.secret_key_file(), &spec.name, spec.backup_offsite.as_ref())
            .await?;
    Ok(spec)
}

/// A backup and where its copies are: the local file, the off-site copy (as the bucket lists it), or both.
#[derive(Clone, Debug)]
pub struct Located {
    /// The backup as listed locally; for a copy only off-site, as it would be listed (its file is not there).
    pub backup: backup::Listed,
    pub local: bool,
    /// The off-site copy's `s3://` URL, when the bucket has it.
    pub offsite: Option<String>,
}

impl Located {
    /// `local`, `offsite` or `both`.
    pub fn location(&self) -> &'static str {
        match (self.local, self.offsite.is_some()) {
            (true, true) => "both",
            (false, _) => "offsite",
            (true, false) => "local",
        }
    }
}

/// How long listing the off-site bucket may take before a page or the API answers with the local backups only.
const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The backups of `spec`'s database in `dir` and, when off-site copies are in force, those in the bucket (also the
/// ones whose local file is gone), newest first. When the bucket cannot be listed the local backups stand, each
/// with the copy its sidecar recorded, and the second value says why.
pub async fn located(
    home: &DatabaseConnection,
    config: &Config,
    spec: &WatchSpec,
    dir: &std::path::Path,
) -> Result<(Vec<Located>, Option<String>)> {
    let prefix = backup::file_prefix(&config.database_url);
    let recorded = |b: &backup::Listed| manifest::read(&b.path).ok().flatten().and_then(|m| m.offsite);
    let mut all: Vec<Located> =
        backup::list(dir, &prefix)?.into_iter().map(|b| Located { offsite: None, local: true, backup: b }).collect();
    let spec = offsite_in_force(home, config, spec).await?;
    let Some(target) = &spec.backup_offsite else {
        return Ok((with_recorded(all, recorded), None));
    };
    let listed = async { offsite::Store::new(target)?.list(&prefix).await };
    let copies = match tokio::time::timeout(LIST_TIMEOUT, listed).await {
        Ok(Ok(copies)) => copies,
        Ok(Err(e)) => return Ok((with_recorded(all, recorded), Some(e.to_string()))),
        Err(_) => {
            let why = format!("{target} did not answer within {} s", LIST_TIMEOUT.as_secs());
            return Ok((with_recorded(all, recorded), Some(why)));
        }
    };
    for copy in copies {
        match all.iter_mut().find(|l| l.backup.name == copy.name) {
            Some(l) => l.offsite = Some(copy.url),
            None => {
                if let Some(b) = backup::listed_as(dir, &prefix, &copy.name, copy.bytes) {
                    all.push(Located { backup: b, local: false, offsite: Some(copy.url) });
                }
            }
        }
    }
    all.sort_by(|a, b| b.backup.taken.cmp(&a.backup.taken).then_with(|| b.backup.name.cmp(&a.backup.name)));
    Ok((all, None))
}

fn with_recorded(mut all: Vec<Located>, recorded: impl Fn(&backup::Listed) -> Option<String>) -> Vec<Located> {
    for l in &mut all {
        l.offsite = recorded(&l.backup);
    }
    all
}

/// Reads every migration tool's heads with `schema_history` (no migration files: only what the database records).
pub fn heads_reader(spec: &WatchSpec, set: Arc<MigrationSet>) -> HeadsReader {
    let mut spec = spec.clone();
    spec.migrations_dir = None;
    spec.alembic_ini = None;
    Arc::new(move |conn: DatabaseConnection| {
        let (spec, set) = (spec.clone(), set.clone());
        async move {
            let read = schema_history::read(&conn, &spec, Some(&set)).await?;
            Ok(read.tools.into_iter().map(|t| ToolHeads { tool: t.tool.label().to_string(), heads: t.heads }).collect())
        }
        .boxed()
    })
}

/// Backs `config`'s database (`spec`) up, then records its heads, applies retention (unless `opts.keep` is given)
/// and runs the restore test when configured after each backup. `step` hears each step begin (dump, upload, the
/// restore test's restore and checks), `progress` the bytes of the step under way.
pub async fn backup(
    config: &Config,
    spec: &WatchSpec,
    set: Arc<MigrationSet>,
    opts: &BackupOptions,
    progress: Progress,
    step: Step,
) -> Result<BackupSummary> {
    let mut opts = opts.clone();
    if opts.encrypt_to.is_empty() {
        opts.encrypt_to = spec.backup_encrypt_to.clone();
    }
    let opts = &opts;
    step(Steps::Dump);
    let mut summary = backup::backup(config, opts, progress.clone()).await?;
    let reader = heads_reader(spec, set.clone());
    match db::connect(&config.database_url, Purpose::Cli).await {
        Ok(conn) => {
            let heads = reader(conn.clone()).await;
            conn.close().await.ok();
            match heads {
                Ok(heads) => manifest::update(&summary.file, |m| m.migrations = Some(heads))?,
                Err(e) => tracing::warn!(error = %e, "the migration heads were not recorded with the backup"),
            }
        }
        Err(e) => tracing::warn!(error = %e, "the migration heads were not recorded with the backup"),
    }
    if let Some(offsite) = &spec.backup_offsite {
        // After the file and its sidecar are complete; a failure leaves the local backup as it is.
        step(Steps::Upload);
        match copy_offsite(offsite, &summary.file, progress.clone()).await {
            Ok(url) => summary.offsite = Some(url),
            Err(e) => {
                tracing::warn!(error = %e, "the off-site copy failed; the local backup stands");
                summary.offsite_error = Some(e.to_string());
            }
        }
    }
    if opts.keep.is_none() {
        let policy = policy(spec);
        let prefix = backup::file_prefix(&config.database_url);
        let deleted = retention::prune(&opts.dir, &prefix, &policy)?;
        summary.deleted.extend(deleted.into_iter().map(|b| b.path));
        if let (Some(offsite), None) = (&spec.backup_offsite, &summary.offsite_error) {
            match async { offsite::Store::new(offsite)?.prune(&prefix, &policy, &opts.dir).await }.await {
                Ok(gone) => summary.offsite_deleted = gone.into_iter().map(|c| c.url).collect(),
                Err(e) => summary.offsite_error = Some(format!("retention off-site: {e}")),
            }
        }
    }
    if spec.restore_test == RestoreTest::AfterBackup {
        summary.restore_test = Some(test_restore(config, spec, set, &summary.file, None, progress, step).await?);
    }
    Ok(summary)
}

/// Uploads a finished backup and its sidecar, then records where the copy is in the sidecar.
async fn copy_offsite(offsite: &Offsite, file: &std::path::Path, progress: Progress) -> Result<String> {
    let url = offsite::Store::new(offsite)?.upload(file, progress).await?;
    let recorded = url.clone();
    manifest::update(file, move |m| m.offsite = Some(recorded))?;
    Ok(url)
}

/// Restore-tests the backup `file` of `config`'s database (`spec`) into a scratch database.
pub async fn test_restore(
    config: &Config,
    spec: &WatchSpec,
    set: Arc<MigrationSet>,
    file: &std::path::Path,
    identity: Option<Identities>,
    progress: Progress,
    step: Step,
) -> Result<RestoreTestRecord> {
    let reader = heads_reader(spec, set.clone());
    // An encrypted backup is opened with the identity given, else the one `restore_test_identity` names.
    let identity = match (identity, &spec.restore_test_identity) {
        (Some(given), _) => Some(given),
        (None, Some(path)) if encrypt::is_encrypted(file) => Some(Identities::read(path)?),
        _ => None,
    };
    let test_url = spec.restore_test_url.as_ref();
    restore_test::run(config, &set, test_url, file, identity, Some(reader), (progress, step)).await
}

/// One line on a restore test, for the audit log and the terminal.
pub fn describe(record: &RestoreTestRecord) -> String {
    let took = backup::human_duration(std::time::Duration::from_millis(record.total_ms));
    if record.passed() {
        format!(
            "passed in {took} (restore {} ms, checks {} ms): {}",
            record.restore_ms,
            record.verify_ms,
            record.checked.join(", ")
        )
    } else {
        format!("failed in {took}: {}", record.problems.join("; "))
    }
}

/// What happened off-site, for the audit log: `; off-site copy s3://…`, or the failure (the local backup stands).
pub fn describe_offsite(summary: &BackupSummary) -> String {
    let mut out = String::new();
    if let Some(url) = &summary.offsite {
        out.push_str(&format!("; off-site copy {url}"));
    }
    if !summary.offsite_deleted.is_empty() {
        out.push_str(&format!("; retention deleted off-site {}", summary.offsite_deleted.join(", ")));
    }
    if let Some(e) = &summary.offsite_error {
        out.push_str(&format!("; the off-site copy failed (the local backup stands): {e}"));
    }
    out
}
