//! `strata backup [prune | test-restore]` and `strata restore --latest`: backups, retention and restore tests
//! from a shell or cron, through the same code the dashboard and the scheduler use.

use std::path::PathBuf;
use std::sync::Arc;

use super::{BackupAction, BackupArgs, print_json, print_table, progress_line};
use crate::backup::{self, BackupOptions, retention};
use crate::config::{Config, WatchSpec};
use crate::error::{Error, Result};
use crate::migrate::MigrationSet;
use crate::watch::backups;

/// The watched database `config` acts on (the one `--db` chose, else the project database).
fn spec(config: &Config) -> WatchSpec {
    let url = config.database_url.connect_url();
    config.watched.iter().find(|s| s.url.connect_url() == url).cloned().unwrap_or_else(|| config.project().clone())
}

fn folder(config: &Config, dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| config.settings.backup_dir.clone())
}

/// The newest backup of the database in its backup folder (`strata restore --latest`).
pub fn latest(config: &Config) -> Result<PathBuf> {
    let dir = folder(config, None);
    backup::list(&dir, &backup::file_prefix(&config.database_url))?.into_iter().next().map(|b| b.path).ok_or_else(
        || Error::NotFound(format!("a backup of {} in {}: there is none yet", config.database_url, dir.display())),
    )
}

/// `strata backup`, `strata backup prune` and `strata backup test-restore`.
pub async fn run(config: &Config, set: Arc<MigrationSet>, args: BackupArgs) -> Result<()> {
    let spec = spec(config);
    match args.action {
        None => {
            let opts = BackupOptions {
                dir: folder(config, args.dir),
                format: args.format,
                keep: args.keep.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            };
            eprintln!("backing up {} ...", config.database_url);
            let (progress, done) = progress_line("written");
            let summary = backups::backup(config, &spec, set, &opts, progress).await;
            done();
            let summary = summary?;
            if args.out.json {
                return print_json(&summary);
            }
            println!("backup    {}", backup::shown(&summary.file));
            println!("size      {} bytes", summary.bytes);
            println!(
                "duration  {}",
                backup::human_duration(std::time::Duration::from_millis(summary.duration_ms as u64))
            );
            println!("tables    {}", summary.tables);
            let why = if opts.keep.is_some() { "--keep" } else { "retention" };
            for old in &summary.deleted {
                println!("deleted   {} ({why})", backup::shown(old));
            }
            if let Some(test) = &summary.restore_test {
                println!("restore   {}", backups::describe(test));
                if !test.passed() {
                    return Err(Error::Backup(format!("the restore test failed: {}", test.problems.join("; "))));
                }
            }
            Ok(())
        }
        Some(BackupAction::Prune { dry_run, dir, out }) => {
            let dir = folder(config, dir);
            let policy = backups::policy(&spec);
            if !policy.is_set() {
                return Err(Error::BadRequest(format!(
                    "{} has no retention policy: set backup_keep (e.g. last=3 daily=7 weekly=4) and/or backup_max_age \
                     in its [database:{}] section; nothing was deleted",
                    spec.name, spec.name
                )));
            }
            let plan = retention::plan(&dir, &backup::file_prefix(&config.database_url), &policy)?;
            let mut deleted = Vec::new();
            if !dry_run {
                for (b, d) in &plan {
                    if !d.keep() {
                        backup::remove(&b.path)?;
                        deleted.push(b.name.clone());
                    }
                }
            }
            if out.json {
                let rows: Vec<_> = plan
                    .iter()
                    .map(|(b, d)| serde_json::json!({"file": b.name, "keep": d.keep(), "kept_by": d.kept_by}))
                    .collect();
                return print_json(
                    &serde_json::json!({"policy": policy.describe(), "dry_run": dry_run, "backups": rows}),
                );
            }
            println!("policy    {}", policy.describe());
            let verb = if dry_run { "would delete" } else { "deleted" };
            print_table(
                &["BACKUP", "DECISION"],
                plan.iter()
                    .map(|(b, d)| {
                        let what = if d.keep() { format!("keep ({})", d.kept_by.join(", ")) } else { verb.to_string() };
                        vec![b.name.clone(), what]
                    })
                    .collect(),
            );
            Ok(())
        }
        Some(BackupAction::TestRestore { file, scratch_url, dir, out }) => {
            let mut spec = spec;
            if let Some(url) = scratch_url {
                spec.restore_test_url = Some(crate::config::DatabaseUrl::parse(&url)?);
            }
            let file = match file {
                Some(f) => f,
                None => {
                    let dir = folder(config, dir);
                    let newest = backup::list(&dir, &backup::file_prefix(&config.database_url))?.into_iter().next();
                    newest.map(|b| b.path).ok_or_else(|| {
                        Error::NotFound(format!("a backup of {} in {}: there is none yet", spec.name, dir.display()))
                    })?
                }
            };
            eprintln!("restore-testing {} ...", backup::shown(&file));
            let (progress, done) = progress_line("read");
            let record = backups::test_restore(config, &spec, set, &file, progress).await;
            done();
            let record = record?;
            if out.json {
                print_json(&record)?;
            } else {
                println!("backup    {}", backup::shown(&file));
                println!("scratch   {} (dropped)", record.scratch);
                println!("restore   {} ms", record.restore_ms);
                println!("checks    {} ms", record.verify_ms);
                for line in &record.checked {
                    println!("checked   {line}");
                }
                for line in &record.problems {
                    println!("problem   {line}");
                }
                println!("result    {}", record.state);
            }
            if record.passed() {
                Ok(())
            } else {
                Err(Error::Backup(format!("the restore test failed: {}", record.problems.join("; "))))
            }
        }
    }
}
