//! A watched database's backup as the page, the scheduler and `strata backup` take it: the file, then the
//! migration heads recorded in its sidecar, the retention policy applied, and the restore test run when
//! `restore_test = after_backup`.

use std::sync::Arc;

use futures::FutureExt;
use sea_orm::DatabaseConnection;

use super::schema_history;
use crate::backup::manifest::{self, RestoreTestRecord, ToolHeads};
use crate::backup::restore_test::{self, HeadsReader};
use crate::backup::retention::{self, Policy};
use crate::backup::{self, BackupOptions, BackupSummary, Progress};
use crate::config::backup::RestoreTest;
use crate::config::{Config, WatchSpec};
use crate::db::{self, Purpose};
use crate::error::Result;
use crate::migrate::MigrationSet;

/// The retention policy configured for `spec`.
pub fn policy(spec: &WatchSpec) -> Policy {
    Policy { keep: spec.backup_keep, max_age: spec.backup_max_age }
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
/// and runs the restore test when configured after each backup.
pub async fn backup(
    config: &Config,
    spec: &WatchSpec,
    set: Arc<MigrationSet>,
    opts: &BackupOptions,
    progress: Progress,
) -> Result<BackupSummary> {
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
    if opts.keep.is_none() {
        let policy = policy(spec);
        let deleted = retention::prune(&opts.dir, &backup::file_prefix(&config.database_url), &policy)?;
        summary.deleted.extend(deleted.into_iter().map(|b| b.path));
    }
    if spec.restore_test == RestoreTest::AfterBackup {
        summary.restore_test = Some(test_restore(config, spec, set, &summary.file, progress).await?);
    }
    Ok(summary)
}

/// Restore-tests the backup `file` of `config`'s database (`spec`) into a scratch database.
pub async fn test_restore(
    config: &Config,
    spec: &WatchSpec,
    set: Arc<MigrationSet>,
    file: &std::path::Path,
    progress: Progress,
) -> Result<RestoreTestRecord> {
    let reader = heads_reader(spec, set.clone());
    restore_test::run(config, &set, spec.restore_test_url.as_ref(), file, Some(reader), progress).await
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
