//! Backups and restores: one engine per backend behind one trait, chosen in [`engine`]; files, tools and the verification report beside them.
//!
//! | backend | backup | restore |
//! |---|---|---|
//! | PostgreSQL | `pg_dump` plain SQL (`--clean --if-exists`) gzip-compressed, or `-Fc` | `psql --single-transaction` (custom format read through `pg_restore`) |
//! | MariaDB/MySQL | `mariadb-dump --single-transaction`, gzip-compressed | `mariadb` client, the file checked whole first |
//! | SQLite | `VACUUM INTO` a copy, checked, gzip-compressed | one `BEGIN IMMEDIATE` transaction copying from the attached copy |

pub mod encrypt;
mod file;
pub mod jobs;
pub mod manifest;
mod mysql;
pub mod offsite;
mod pg_script;
mod postgres;
pub mod restore_test;
pub mod retention;
mod sqlite;
mod tools;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

pub use file::{
    Content, EXTENSIONS, Input, Listed, backup_name, backup_time, find, list, listed_as, remove, retention, safe_name,
};
pub use jobs::Jobs;
pub use verify::{Report, TableRows};

use crate::config::{Backend, Config, DatabaseUrl, Settings};
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::migrate::MigrationSet;

/// Called with the number of bytes written (backup) or read (restore) so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Names the step a long run has reached (a backup's dump, its off-site upload, a restore test's restore and
/// checks): a background job shows the step with its bytes, which count from 0 again in each step.
pub type Step = Arc<dyn Fn(Steps) + Send + Sync>;

/// The steps a [`Step`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Steps {
    /// Writing the backup file.
    Dump,
    /// Sending the finished file and its sidecar off-site.
    Upload,
    /// Fetching an off-site copy before restoring it.
    Download,
    /// Restoring into the database (or a restore test's scratch database).
    Restore,
    /// A restore test checking the scratch database against what was recorded.
    Check,
}

/// A [`Step`] that reports nowhere (the CLI, whose progress line counts bytes only).
pub fn no_step() -> Step {
    Arc::new(|_| {})
}

/// The kind of backup file to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// SQL (PostgreSQL, MariaDB) or a database file (SQLite), gzip-compressed.
    #[default]
    Sql,
    /// pg_dump's custom format (PostgreSQL only), compressed by pg_dump and read with pg_restore.
    Custom,
}

/// What `strata backup` is asked to do.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    pub dir: PathBuf,
    pub format: Format,
    /// Keep the newest N backups of this database in `dir`, delete older ones.
    pub keep: Option<usize>,
    /// age recipients (`age1…`) to encrypt the backup to; empty: not encrypted.
    pub encrypt_to: Vec<String>,
}

/// What a finished backup produced.
#[derive(Clone, Debug, Serialize)]
pub struct BackupSummary {
    pub file: PathBuf,
    pub bytes: u64,
    pub duration_ms: u128,
    pub tables: usize,
    /// Older backups `--keep` or the retention policy deleted.
    pub deleted: Vec<PathBuf>,
    /// The restore test run right after it (`restore_test = after_backup`).
    pub restore_test: Option<manifest::RestoreTestRecord>,
    /// Where its off-site copy went (`backup_offsite`), once uploaded.
    pub offsite: Option<String>,
    /// Why the off-site copy failed (the local backup stands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offsite_error: Option<String>,
    /// Off-site copies the retention policy deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offsite_deleted: Vec<String>,
}

/// What `strata restore` is asked to do.
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    pub file: PathBuf,
    /// Empty the schema before restoring, so objects the backup lacks go too.
    pub clean: bool,
    /// A role to grant usage and privileges on the restored objects to (PostgreSQL).
    pub grant_to: Option<String>,
    /// What opens an encrypted (age) backup; never stored.
    pub identity: Option<encrypt::Identities>,
}

/// What a finished restore did.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreSummary {
    pub file: PathBuf,
    pub content: &'static str,
    pub duration_ms: u128,
    /// How the database was emptied first, when `--clean` was given.
    pub cleaned: Option<String>,
    /// The grants made, when `--grant-to` was given.
    pub granted: Option<String>,
    /// Roles that owned or could use the tables before and cannot read them now (PostgreSQL: a restore makes
    /// the restoring login their owner), with what gives their access back.
    pub access_lost: Option<String>,
}

/// What a restore is about to overwrite, for the confirmation.
#[derive(Clone, Debug)]
pub struct Preview {
    pub database: String,
    pub input: Input,
    pub tables: Vec<TableRows>,
}

/// What a backend's restore did besides loading the data.
#[derive(Default)]
struct Restored {
    cleaned: Option<String>,
    granted: Option<String>,
    access_lost: Option<String>,
}

/// Backup and restore for one backend.
#[async_trait::async_trait]
trait Engine: Send + Sync {
    /// The ending of a backup file in `format`, or why this backend cannot write it.
    fn extension(&self, format: Format) -> Result<&'static str>;

    /// Writes a backup of the database into `staged`'s temporary file.
    async fn dump(
        &self,
        db: &DatabaseConnection,
        format: Format,
        staged: &file::Staged,
        progress: Progress,
    ) -> Result<()>;

    /// Refuses input this backend cannot restore, before anything is shown or asked.
    fn accepts(&self, input: &Input) -> Result<()>;

    /// Restores `input` over the database (emptied first with `opts.clean`).
    async fn restore(
        &self,
        db: &DatabaseConnection,
        input: &Input,
        opts: &RestoreOptions,
        progress: Progress,
    ) -> Result<Restored>;

    /// The schema tables land in when a backup is restored elsewhere (PostgreSQL: the URL's search path, else
    /// `public`; MariaDB: the database; SQLite: `main`).
    fn default_schema(&self) -> String;

    /// The statements that create and drop a scratch database for a restore test; `None` where a scratch
    /// database is a file (SQLite).
    fn scratch_sql(&self, _name: &str) -> Option<(String, String)> {
        None
    }

    /// Health lines for the verification report that only this backend has (SQLite's integrity_check).
    async fn checks(&self, _db: &DatabaseConnection) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
}

/// The only place backup and restore match on the backend.
fn engine(url: &DatabaseUrl, settings: &Settings) -> Box<dyn Engine> {
    match url.backend() {
        Backend::Postgres => Box::new(postgres::Postgres::new(url, settings)),
        Backend::MySql => Box::new(mysql::MySql::new(url, settings)),
        Backend::Sqlite => Box::new(sqlite::Sqlite::new(url)),
    }
}

/// The database's name as it appears in backup file names.
pub fn file_prefix(url: &DatabaseUrl) -> String {
    safe_name(&url.database_name().unwrap_or_else(|| "database".into()))
}

/// The name a restore's confirmation asks to be typed: the database name, else the masked URL.
pub fn database_label(url: &DatabaseUrl) -> String {
    url.database_name().unwrap_or_else(|| url.masked())
}

/// The formats this database's backups can be written in, the default first.
pub fn formats(config: &Config) -> Vec<Format> {
    let engine = engine(&config.database_url, &config.settings);
    [Format::Sql, Format::Custom].into_iter().filter(|f| engine.extension(*f).is_ok()).collect()
}

/// What restoring `file` would overwrite, read on `conn`; refuses a file this backend cannot restore.
pub async fn preview(
    config: &Config,
    conn: &DatabaseConnection,
    file: &Path,
    identity: Option<&encrypt::Identities>,
) -> Result<Preview> {
    let input = Input::open(file, identity)?;
    engine(&config.database_url, &config.settings).accepts(&input)?;
    preview_of(&config.database_url, conn, input).await
}

async fn preview_of(url: &DatabaseUrl, conn: &DatabaseConnection, input: Input) -> Result<Preview> {
    Ok(Preview { database: database_label(url), input, tables: verify::tables(conn).await? })
}

/// Backs the database up into `opts.dir`, then applies `--keep`.
pub async fn backup(config: &Config, opts: &BackupOptions, progress: Progress) -> Result<BackupSummary> {
    let url = &config.database_url;
    if url.is_memory() {
        return Err(Error::BadRequest(
            "an in-memory SQLite database lives and dies with its process: nothing to back up".into(),
        ));
    }
    let engine = engine(url, &config.settings);
    let ext = engine.extension(opts.format)?;
    let ext = if opts.encrypt_to.is_empty() { ext.to_string() } else { format!("{ext}{}", encrypt::SUFFIX) };
    let prefix = file_prefix(url);
    let started = Instant::now();
    // The folder and the recipients are checked before connecting: a bad --dir fails at once and leaves nothing.
    for r in &opts.encrypt_to {
        encrypt::parse_recipient(r).map_err(Error::BadRequest)?;
    }
    let staged = file::Staged::create(&opts.dir, &backup_name(&prefix, Utc::now(), &ext))?.encrypt_to(&opts.encrypt_to);
    let conn = db::connect(url, Purpose::Cli).await?;
    // Counted before and after the dump: the restore test checks the restored rows against these.
    let before = verify::tables(&conn).await?;
    engine.dump(&conn, opts.format, &staged, progress).await?;
    let after = verify::tables(&conn).await?;
    let shape = verify::shape(&conn).await;
    conn.close().await.ok();
    let (file, bytes) = staged.commit()?;
    let tables = after.len();
    let mut sidecar = manifest::Manifest {
        tables: manifest::merge_counts(&before, &after, &engine.default_schema()),
        encrypted: !opts.encrypt_to.is_empty(),
        recipients: opts.encrypt_to.clone(),
        ..Default::default()
    };
    if let Ok((foreign_keys, indexes)) = shape {
        (sidecar.foreign_keys, sidecar.indexes) = (Some(foreign_keys), Some(indexes));
    }
    if let Err(e) = manifest::write(&file, &sidecar) {
        tracing::warn!(error = %e, "the backup was written but its sidecar was not: a restore test cannot check its rows");
    }
    let deleted = match opts.keep {
        Some(keep) => file::prune(&opts.dir, &prefix, keep)?,
        None => Vec::new(),
    };
    Ok(BackupSummary {
        file,
        bytes,
        duration_ms: started.elapsed().as_millis(),
        tables,
        deleted,
        restore_test: None,
        offsite: None,
        offsite_error: None,
        offsite_deleted: Vec::new(),
    })
}

/// Restores a backup over the database. `confirm`, when given, sees what will be overwritten (every
/// table with its exact row count) and may refuse; nothing has been changed when it is called.
/// Without it (`--yes`) the rows are not counted: on a large database that alone takes a while.
pub async fn restore<F>(
    config: &Config,
    opts: &RestoreOptions,
    confirm: Option<F>,
    progress: Progress,
) -> Result<RestoreSummary>
where
    F: FnOnce(&Preview) -> Result<()>,
{
    let url = &config.database_url;
    let input = Input::open(&opts.file, opts.identity.as_ref())?;
    let engine = engine(url, &config.settings);
    engine.accepts(&input)?;
    // One connection: session settings (foreign key checks, attached files) hold for every statement.
    let conn = db::connect(url, Purpose::Migrate).await?;
    if let Some(confirm) = confirm {
        confirm(&preview_of(url, &conn, input.clone()).await?)?;
    }
    let started = Instant::now();
    let done = engine.restore(&conn, &input, opts, progress).await;
    conn.close().await.ok();
    let done = done?;
    Ok(RestoreSummary {
        file: input.path,
        content: input.content.describe(),
        duration_ms: started.elapsed().as_millis(),
        cleaned: done.cleaned,
        granted: done.granted,
        access_lost: done.access_lost,
    })
}

/// The verification report of the database `config` names, on a fresh connection.
pub async fn verify(config: &Config, set: &MigrationSet) -> Result<Report> {
    let url = &config.database_url;
    let conn = db::connect(url, Purpose::Cli).await?;
    let engine = engine(url, &config.settings);
    let report = verify::report(&conn, url, set, engine.as_ref()).await;
    conn.close().await.ok();
    report
}

/// A duration the way the summary shows it: `850 ms`, `3.4 s`, `2 min 05 s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", d.as_secs_f64()),
        _ => format!("{} min {:02} s", d.as_secs() / 60, d.as_secs() % 60),
    }
}

/// `path` shown relative to the current directory when it is under it.
pub fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

/// Runs blocking file and pipe work off the async runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Internal(format!("backup worker: {e}")))?
}

/// Runs a dump tool and writes what it prints into `out`, gzip-compressed when asked. A tool that
/// fails, or a file that cannot be written, is an error (the caller's staged file is then dropped).
fn dump_with_tool(
    mut cmd: std::process::Command,
    secret: Option<&str>,
    out: encrypt::Sink,
    gzip: bool,
    progress: Progress,
) -> Result<()> {
    let tool = Path::new(cmd.get_program()).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped());
    let mut running = tools::Running::spawn(&mut cmd, secret)?;
    let mut stdout = running.stdout();
    let sink = file::Counting::new(out, progress);
    let written = if gzip {
        let mut gz = flate2::write::GzEncoder::new(sink, flate2::Compression::default());
        std::io::copy(&mut stdout, &mut gz).and_then(|_| gz.finish()).and_then(|w| w.into_inner().finish())
    } else {
        let mut sink = sink;
        std::io::copy(&mut stdout, &mut sink).and_then(|_| sink.into_inner().finish())
    };
    if let Err(e) = written {
        running.kill();
        return Err(Error::io("cannot write the backup; nothing was kept", e));
    }
    let (status, stderr) = running.wait();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Error::Backup(format!("{tool} failed ({s}); no backup was kept:\n{}", stderr.trim()))),
        Err(e) => Err(Error::Backup(format!("{tool} could not be waited for ({e}); no backup was kept"))),
    }
}
