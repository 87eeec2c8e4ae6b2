//! `strata backup [prune | test-restore]` and `strata restore --latest`: backups, retention and restore tests
//! from a shell or cron, through the same code the dashboard and the scheduler use.

use std::path::PathBuf;
use std::sync::Arc;

use super::{BackupAction, BackupArgs, print_json, print_table, progress_line};
use crate::backup::{self, BackupOptions, offsite, retention};
use crate::config::{Config, WatchSpec};
use crate::error::{Error, Result};
use crate::migrate::MigrationSet;
use crate::watch::backups;

/// The watched database `config` acts on (the one `--db` chose, else the project database).
fn configured_spec(config: &Config) -> WatchSpec {
    let url = config.database_url.connect_url();
    config.watched.iter().find(|s| s.url.connect_url() == url).cloned().unwrap_or_else(|| config.project().clone())
}

/// That database with the off-site settings in force: the Backups page's, read from the home database, else the
/// configuration's. The home database is only read (a backup does not need it migrated, nor writable): when it
/// does not exist yet or cannot be read, the configuration's settings are used, with a warning when it cannot be
/// read. A page's secret that cannot be opened is an error.
async fn spec(config: &Config) -> Result<WatchSpec> {
    let configured = configured_spec(config);
    let home = &config.home_url;
    if home.is_memory() || home.sqlite_path().is_some_and(|p| !p.exists()) {
        return Ok(configured);
    }
    let home = match crate::db::connect(home, crate::db::Purpose::Cli).await {
        Ok(home) => home,
        Err(e) => {
            tracing::warn!(error = %e, "the home database cannot be read: the configuration's off-site settings apply");
            return Ok(configured);
        }
    };
    let spec = match crate::home::secrets::label(&home, &crate::home::offsite::secret_name(&configured.name)).await {
        Ok(None) => Ok(configured),
        Ok(Some(_)) => backups::offsite_in_force(&home, config, &configured).await,
        Err(e) => {
            tracing::warn!(error = %e, "the home database cannot be read: the configuration's off-site settings apply");
            Ok(configured)
        }
    };
    home.close().await.ok();
    spec
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

/// The off-site bucket of the database, or why there is none.
fn offsite_store(spec: &WatchSpec) -> Result<offsite::Store> {
    let offsite = spec.backup_offsite.as_ref().ok_or_else(|| {
        Error::BadRequest(format!(
            "{} has no off-site copies: set backup_offsite = s3://bucket/prefix in its [database:{}] section, or the \
             off-site target on its Backups page",
            spec.name, spec.name
        ))
    })?;
    offsite::Store::new(offsite)
}

/// Downloads the off-site copy `name` into a temporary folder (`strata restore --from-offsite`).
pub async fn download(config: &Config, name: &str, progress: backup::Progress) -> Result<(tempfile::TempDir, PathBuf)> {
    let store = offsite_store(&spec(config).await?)?;
    let dir = tempfile::Builder::new()
        .prefix("strata-offsite-")
        .tempdir()
        .map_err(|e| Error::io("cannot create a temporary folder", e))?;
    eprintln!("downloading {} ...", store.url_of(name));
    let file = store.download(&backup::file_prefix(&config.database_url), name, dir.path(), progress).await?;
    Ok((dir, file))
}

/// `strata backup`, `strata backup prune` and `strata backup test-restore`.
pub async fn run(config: &Config, set: Arc<MigrationSet>, args: BackupArgs) -> Result<()> {
    let spec = match &args.action {
        None | Some(BackupAction::Offsite { .. }) => spec(config).await?,
        _ => configured_spec(config),
    };
    match args.action {
        None => {
            let opts = BackupOptions {
                dir: folder(config, args.dir),
                format: args.format,
                keep: args.keep.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                encrypt_to: args.encrypt_to,
            };
            eprintln!("backing up {} ...", config.database_url);
            let (progress, done) = progress_line("written", args.progress);
            let summary = backups::backup(config, &spec, set, &opts, progress, backup::no_step()).await;
            done();
            let summary = summary?;
            if args.out.json {
                print_json(&summary)?;
                return offsite_outcome(&summary);
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
            if let Some(url) = &summary.offsite {
                println!("offsite   {url}");
            }
            for url in &summary.offsite_deleted {
                println!("deleted   {url} (retention, off-site)");
            }
            if let Some(test) = &summary.restore_test {
                println!("restore   {}", backups::describe(test));
                if !test.passed() {
                    return Err(Error::Backup(format!("the restore test failed: {}", test.problems.join("; "))));
                }
            }
            offsite_outcome(&summary)
        }
        Some(BackupAction::Offsite { out }) => {
            let copies = offsite_store(&spec)?.list(&backup::file_prefix(&config.database_url)).await?;
            if out.json {
                return print_json(&copies);
            }
            print_table(
                &["COPY", "SIZE", "TAKEN (UTC)"],
                copies
                    .iter()
                    .map(|c| vec![c.url.clone(), c.bytes.to_string(), c.taken.format("%Y-%m-%d %H:%M:%S").to_string()])
                    .collect(),
            );
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
        Some(BackupAction::TestRestore { file, scratch_url, dir, identity, progress, out }) => {
            let identity = identity.as_deref().map(backup::encrypt::Identities::read).transpose()?;
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
            let (progress, done) = progress_line("read", progress);
            let record = backups::test_restore(config, &spec, set, &file, identity, progress, backup::no_step()).await;
            done();
            let record = record?;
            if out.json {
                print_json(&record)?;
            } else {
                println!("backup    {}", backup::shown(&file));
                println!("scratch   {} (dropped)", record.scratch);
                println!("restore   {} ms", record.restore_ms);
                println!("checks    {} ms", record.verify_ms);
                println!("scratch   {} ms (created and dropped)", record.scratch_ms);
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

/// A backup whose off-site copy failed exits 1, saying that the local backup stands.
fn offsite_outcome(summary: &backup::BackupSummary) -> Result<()> {
    match &summary.offsite_error {
        Some(e) => Err(Error::Backup(format!(
            "the off-site copy failed: {e}. The local backup {} stands and is complete; nothing off-site claims it",
            backup::shown(&summary.file)
        ))),
        None => Ok(()),
    }
}
