//! `/db/{name}/backups` (admins): this database's backups in its backup folder — list, create, download, delete, retention, restore.
//!
//! A backup or a restore runs in the background (`backup::jobs`), one at a time per database in
//! this process: the page refreshes itself while one runs, `GET /backups/status` answers the same
//! as JSON, and a second one is refused with 409. A name in a URL is looked up among the listed
//! backups and never joined to a path as given, so `../x` or `/etc/passwd` is simply not found.
//! Every action is written to the home database's audit log with the file and how it went; a job's entry is
//! written when it ends. A restore replaces the watched database only: Strata's accounts, sessions and audit log
//! live in the home database and are never part of a backup or a restore.

use std::collections::HashSet;
use std::path::Path as FsPath;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use futures::stream;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::current_db::CurrentDb;
use super::extract::{Form, Path, Query};
use super::fmt;
use super::layout::Layout;
use super::session::{CurrentUser, FlashKind};
use crate::backup::jobs::{Done, Job, Kind, Status};
use crate::backup::{self, BackupOptions, Format, Listed, Preview, Report, RestoreOptions, TableRows};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::audit;
use crate::migrate::MigrationSet;
use crate::state::AppState;
use crate::watch::scheduler;

/// Downloads are read from disk this many bytes at a time.
const CHUNK: usize = 64 * 1024;

/// `GET /backups`: the backups, the running or last job, and the forms.
pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<IndexPage> {
    user.require(Role::Admin)?;
    let config = db.config(&state.config);
    let (located, offsite_error) =
        crate::watch::backups::located(&state.home, &config, &db.spec, &db.backup_dir(&state.config)).await?;
    let backups = located.iter().map(Row::located).collect();
    let job = db.backups.latest();
    let in_force = scheduler::in_force(&state.home, &db).await?;
    let next_run = match &in_force.schedule {
        Some(s) => scheduler::next_run(&state.home, &db, s).await?,
        None => None,
    };
    let offsite = OffsiteView::new(&state, &db).await?;
    Ok(IndexPage {
        offsite,
        offsite_error,
        schedule: ScheduleView {
            text: in_force.schedule.as_ref().map(|s| s.to_string()),
            source: match (&in_force.set_by, &db.spec.backup_schedule) {
                (Some(by), _) => format!("set on this page by {by}; it overrides the configuration"),
                (None, Some(_)) => "from backup_schedule in the configuration".to_string(),
                (None, None) => "no backup_schedule in the configuration".to_string(),
            },
            from_page: in_force.set_by.is_some(),
            configured: db.spec.backup_schedule.as_ref().map(|s| s.to_string()),
            next_run: fmt::time(&next_run),
            next_run_exact: fmt::exact_time(&next_run),
        },
        policy: crate::watch::backups::policy(&db.spec).describe(),
        restore_test: db.spec.restore_test.to_string(),
        layout: Layout::for_db(&user, &state, &db, "backups").await?,
        dir: db.backup_dir(&state.config).display().to_string(),
        formats: backup::formats(&db.config(&state.config)).into_iter().map(FormatChoice::new).collect(),
        running: job.as_ref().is_some_and(|j| j.is_running()),
        job: job.map(|j| JobView::new(&j)),
        backups,
    })
}

/// `GET /backups/status`: the running or last job as JSON (`null` when none ran since the server started).
pub async fn status(user: CurrentUser, db: CurrentDb) -> Result<Json<Option<Status>>> {
    user.require(Role::Admin)?;
    Ok(Json(db.backups.latest().map(|j| j.status())))
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    format: Format,
}

/// `POST /backups`: starts a backup in the background and goes back to the page, which shows its progress.
pub async fn create(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<CreateForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    if !backup::formats(&db.config(&state.config)).contains(&form.format) {
        return Err(Error::BadRequest(format!(
            "{} backups cannot be written in the {:?} format",
            db.url().backend(),
            form.format
        )));
    }
    let opts =
        BackupOptions { dir: db.backup_dir(&state.config), format: form.format, keep: None, encrypt_to: Vec::new() };
    let (config, home, spec, set) =
        (db.config(&state.config), state.home.clone(), db.spec.clone(), state.migrations.clone());
    let entry = user.audit("backup.create").database(db.name()).database(db.name());
    db.backups.start(Kind::Backup, None, &user.username, None, move |progress, step| async move {
        let done = async {
            let spec = crate::watch::backups::offsite_in_force(&home, &config, &spec).await?;
            crate::watch::backups::backup(&config, &spec, set, &opts, progress, step).await
        }
        .await;
        let entry = match &done {
            Ok(s) => entry.target(file_name(&s.file)).detail(format!(
                "succeeded: {} in {}, {} tables{}",
                fmt::bytes_of(&(s.bytes as i64)),
                backup::human_duration(std::time::Duration::from_millis(s.duration_ms as u64)),
                s.tables,
                crate::watch::backups::describe_offsite(s)
            )),
            Err(e) => entry.detail(format!("failed: {e}")),
        };
        record_outcome(&home, entry).await;
        done.map(Done::Backup).map_err(|e| e.to_string())
    })?;
    Ok(Redirect::to(&format!("{}/backups", db.base())))
}

/// `GET /backups/{name}/download`: the file as it is on disk, streamed.
pub async fn download(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response> {
    user.require(Role::Admin)?;
    let found = find(&db, &state, &name)?;
    let open = |e| Error::io(format!("cannot read the backup {}", found.name), e);
    let file = tokio::fs::File::open(&found.path).await.map_err(open)?;
    let bytes = file.metadata().await.map_err(open)?.len();
    let detail = format!("sent {} ({bytes} bytes)", fmt::bytes_of(&(bytes as i64)));
    audit::record(&state.home, user.audit("backup.download").database(db.name()).target(&found.name).detail(detail))
        .await?;
    let body = stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0; CHUNK];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    });
    let mime = if found.ext.ends_with(".gz") { "application/gzip" } else { "application/octet-stream" };
    Ok((
        [
            (CONTENT_TYPE, mime.to_string()),
            // Listed names are letters, digits, `-`, `_` and `.` only: safe inside the quotes.
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", found.name)),
            (CONTENT_LENGTH, bytes.to_string()),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// `GET /backups/{name}/delete`: what is about to be deleted, and a button to confirm.
pub async fn confirm_delete(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
) -> Result<DeletePage> {
    user.require(Role::Admin)?;
    let found = find(&db, &state, &name)?;
    Ok(DeletePage { layout: Layout::for_db(&user, &state, &db, "backups").await?, backup: Row::new(&found) })
}

/// `POST /backups/{name}/delete`.
pub async fn delete(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let found = find(&db, &state, &name)?;
    let removed = backup::remove(&found.path);
    let detail = match &removed {
        Ok(()) => "deleted".to_string(),
        Err(e) => format!("failed: {e}"),
    };
    audit::record(&state.home, user.audit("backup.delete").database(db.name()).target(&found.name).detail(detail))
        .await?;
    removed?;
    user.flash(FlashKind::Success, format!("Deleted {}.", found.name)).await?;
    Ok(Redirect::to(&format!("{}/backups", db.base())))
}

#[derive(Debug, Deserialize)]
pub struct KeepQuery {
    keep: usize,
}

/// Retention keeps at least one backup, as `strata backup --keep N` does (deleting them all is done one by one).
fn at_least_one(keep: usize) -> Result<()> {
    if keep == 0 {
        return Err(Error::BadRequest("keep=0 would delete every backup: keep at least the newest 1".into()));
    }
    Ok(())
}

/// `GET /backups/retention?keep=N`: which backups `--keep N` would delete (the older ones) and which it keeps.
pub async fn retention(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(query): Query<KeepQuery>,
) -> Result<RetentionPage> {
    user.require(Role::Admin)?;
    at_least_one(query.keep)?;
    let mut kept = listed(&db, &state)?;
    let doomed = kept.split_off(query.keep.min(kept.len()));
    Ok(RetentionPage {
        layout: Layout::for_db(&user, &state, &db, "backups").await?,
        keep: query.keep,
        files: doomed.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(","),
        kept: kept.iter().map(Row::new).collect(),
        doomed: doomed.iter().map(Row::new).collect(),
    })
}

#[derive(Debug, Deserialize)]
pub struct PruneForm {
    keep: usize,
    /// The names the preview showed, comma-separated (listed names never contain a comma).
    #[serde(default)]
    files: String,
}

/// `POST /backups/retention`: applies `--keep N`, deleting only backups the preview showed. One taken
/// since the preview moves the line: the files that then fall beyond it are kept and named in the message.
pub async fn prune(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<PruneForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    at_least_one(form.keep)?;
    let previewed: HashSet<&str> = form.files.split(',').filter(|n| !n.is_empty()).collect();
    let (doomed, unconfirmed): (Vec<Listed>, Vec<Listed>) =
        backup::retention(&db.backup_dir(&state.config), &backup::file_prefix(db.url()), form.keep)?
            .into_iter()
            .partition(|b| previewed.contains(b.name.as_str()));
    let mut deleted = Vec::new();
    let mut failed = None;
    for old in &doomed {
        match backup::remove(&old.path) {
            Ok(()) => deleted.push(old.name.as_str()),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let unconfirmed: Vec<&str> = unconfirmed.iter().map(|b| b.name.as_str()).collect();
    let mut detail = match deleted.len() {
        0 => "deleted nothing".to_string(),
        _ => format!("deleted {}", deleted.join(", ")),
    };
    if !unconfirmed.is_empty() {
        detail.push_str(&format!("; kept {} (not in the preview)", unconfirmed.join(", ")));
    }
    if let Some(e) = &failed {
        detail.push_str(&format!("; failed: {e}"));
    }
    let target = format!("keep {}", form.keep);
    audit::record(&state.home, user.audit("backup.prune").database(db.name()).target(target).detail(detail)).await?;
    if let Some(e) = failed {
        return Err(e);
    }
    let mut message = match deleted.len() {
        0 => format!("Nothing to delete: {} or fewer backups were previewed for deletion.", form.keep),
        1 => format!("Deleted 1 old backup, keeping the newest {}.", form.keep),
        n => format!("Deleted {n} old backups, keeping the newest {}.", form.keep),
    };
    if !unconfirmed.is_empty() {
        message.push_str(&format!(
            " Not deleted because the preview did not show them: {}. Preview again to delete them.",
            unconfirmed.join(", ")
        ));
    }
    user.flash(FlashKind::Success, message).await?;
    Ok(Redirect::to(&format!("{}/backups", db.base())))
}

/// `GET /backups/{name}/restore`: what the restore overwrites (tables and their rows), the typed-name form.
pub async fn confirm_restore(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
) -> Result<RestorePage> {
    user.require(Role::Admin)?;
    let found = find(&db, &state, &name)?;
    // An encrypted backup's content is only known once the identity (given with the form) opens it.
    let (database, content, tables) = if found.encrypted() {
        (backup::database_label(db.url()), found.format(), backup::verify::tables(&db.db).await?)
    } else {
        let Preview { database, input, tables } =
            backup::preview(&db.config(&state.config), &db.db, &found.path, None).await?;
        (database, input.content.describe(), tables)
    };
    Ok(RestorePage {
        action: format!("{}/backups/{}/restore", db.base(), found.name),
        from_offsite: None,
        layout: Layout::for_db(&user, &state, &db, "backups").await?,
        encrypted: found.encrypted(),
        backup: Row::new(&found),
        database,
        content,
        tables,
        running: db.backups.latest().filter(|j| j.is_running()).map(|j| j.status()),
    })
}

/// No `Debug`: the identity must never reach a log line.
#[derive(Deserialize)]
pub struct RestoreForm {
    /// The database name, typed to confirm.
    #[serde(default)]
    pub(super) database: String,
    /// A checkbox: present when ticked.
    pub(super) clean: Option<String>,
    /// The age identity file's text, for an encrypted backup: used for this restore only, never stored or shown.
    #[serde(default)]
    pub(super) identity: String,
}

/// `POST /backups/{name}/restore`: refuses unless the database name was typed, then restores in the
/// background; the page shows the verification report when it is done.
pub async fn restore(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
    Form(form): Form<RestoreForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    db.require_writable("a restore")?;
    let found = find(&db, &state, &name)?;
    let expected = backup::database_label(db.url());
    let typed = form.database.trim();
    if typed != expected {
        let refused = format!("{typed:?} was typed, not the database name {expected:?}; nothing was restored");
        audit::record(
            &state.home,
            user.audit("backup.restore").database(db.name()).target(&found.name).detail(format!("refused: {refused}")),
        )
        .await?;
        user.flash(FlashKind::Error, format!("Not restored: {refused}.")).await?;
        return Ok(Redirect::to(&format!("{}/backups/{}/restore", db.base(), found.name)));
    }
    let clean = form.clean.is_some();
    let identity = if found.encrypted() {
        // Checked before the job starts: a missing or wrong identity is said at once and restores nothing.
        let opened = match form.identity.trim() {
            "" => Err(backup::encrypt::needs_identity(&found.path)),
            text => backup::encrypt::Identities::parse(text.as_bytes())
                .and_then(|ids| backup::Input::open(&found.path, Some(&ids)).map(|_| ids)),
        };
        match opened {
            Ok(ids) => Some(ids),
            Err(e) => {
                let refused = e.to_string();
                audit::record(
                    &state.home,
                    user.audit("backup.restore")
                        .database(db.name())
                        .target(&found.name)
                        .detail(format!("refused: {refused}")),
                )
                .await?;
                user.flash(FlashKind::Error, format!("Not restored: {refused}")).await?;
                return Ok(Redirect::to(&format!("{}/backups/{}/restore", db.base(), found.name)));
            }
        }
    } else {
        None
    };
    let opts = RestoreOptions { file: found.path.clone(), clean, grant_to: None, identity };
    let (config, set, home) = (db.config(&state.config), state.migrations.clone(), state.home.clone());
    let entry = user.audit("backup.restore").database(db.name()).target(&found.name);
    let size = Some(found.bytes);
    db.backups.start(Kind::Restore, Some(found.name.clone()), &user.username, size, move |progress, _| async move {
        let confirmed = None::<fn(&Preview) -> Result<()>>; // typed on the page already
        let restored = backup::restore(&config, &opts, confirmed, progress).await;
        restore_outcome(restored, &config, &set, &home, entry, clean, None).await
    })?;
    Ok(Redirect::to(&format!("{}/backups", db.base())))
}

/// This database's backups in its backup folder, newest first.
fn listed(db: &CurrentDb, state: &AppState) -> Result<Vec<Listed>> {
    backup::list(&db.backup_dir(&state.config), &backup::file_prefix(db.url()))
}

/// The listed backup called `name`, else 404.
fn find(db: &CurrentDb, state: &AppState, name: &str) -> Result<Listed> {
    backup::find(&db.backup_dir(&state.config), &backup::file_prefix(db.url()), name)
}

fn file_name(path: &FsPath) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// Writes a background job's audit entry; there is no request left to fail, so a failure is logged.
/// How a restore job started from a page ends: after a restore that went through, the database's verification
/// report; either way the audit entry's outcome (`offsite`: the off-site copy's URL the file was downloaded from).
pub(super) async fn restore_outcome(
    restored: Result<backup::RestoreSummary>,
    config: &Config,
    set: &MigrationSet,
    home: &DatabaseConnection,
    entry: audit::Entry,
    clean: bool,
    offsite: Option<&str>,
) -> std::result::Result<Done, String> {
    match restored {
        Ok(summary) => {
            let report = backup::verify(config, set).await.map_err(|e| e.to_string());
            let took = backup::human_duration(std::time::Duration::from_millis(summary.duration_ms as u64));
            let from = offsite.map(|url| format!(" from the off-site copy {url}")).unwrap_or_default();
            let mut detail = format!("succeeded{from}: {} in {took}", summary.content);
            if let Some(how) = &summary.cleaned {
                detail.push_str(&format!("; cleaned first: {how}"));
            }
            record_outcome(home, entry.detail(detail)).await;
            Ok(Done::Restore { summary, report: Box::new(report) })
        }
        Err(e) => {
            let clean = if clean { " (--clean)" } else { "" };
            let from = offsite.map(|url| format!(" (off-site copy {url})")).unwrap_or_default();
            record_outcome(home, entry.detail(format!("failed{clean}{from}: {e}"))).await;
            Err(e.to_string())
        }
    }
}

pub(super) async fn record_outcome(db: &DatabaseConnection, entry: audit::Entry) {
    let action = entry.action.clone();
    if let Err(e) = audit::record(db, entry).await {
        tracing::error!(error = %e, action, "could not write the audit entry of a background job");
    }
}

/// One backup as the tables show it.
pub struct Row {
    pub name: String,
    pub format: &'static str,
    pub size: String,
    /// The exact byte count, for the tooltip.
    pub bytes: String,
    pub taken: String,
    pub taken_exact: String,
    pub age: String,
    /// The last restore test: `passed` or `failed`, and a line saying when and what.
    pub restore: Option<(&'static str, String)>,
    /// An age file (restoring it needs an identity).
    pub encrypted: bool,
    /// Where its off-site copy is (`s3://…`): as the bucket lists it on the Backups page, else from its sidecar.
    pub offsite: Option<String>,
    /// The file is in the backup folder (`false`: only off-site).
    pub local: bool,
    /// Where its copies are: `local`, `off-site`, `local and off-site`.
    pub location: &'static str,
}

impl Row {
    pub(super) fn new(b: &Listed) -> Row {
        let sidecar = backup::manifest::read(&b.path);
        let offsite = sidecar.as_ref().ok().and_then(|m| m.as_ref()).and_then(|m| m.offsite.clone());
        let restore = match sidecar {
            Ok(m) => m.and_then(|m| m.restore_test).map(|t| {
                let when = fmt::ago(&Some(t.at));
                if t.passed() {
                    ("passed", format!("restore verified {when}"))
                } else {
                    ("failed", format!("restore failed {when}: {}", t.problems.join("; ")))
                }
            }),
            Err(e) => Some(("failed", e.to_string())),
        };
        let bytes = i64::try_from(b.bytes).unwrap_or(i64::MAX);
        let taken = Some(b.taken);
        Row {
            encrypted: b.encrypted(),
            location: if offsite.is_some() { "local and off-site" } else { "local" },
            local: true,
            offsite,
            name: b.name.clone(),
            format: b.format(),
            size: fmt::bytes_of(&bytes),
            bytes: fmt::exact(&Some(bytes)),
            taken: fmt::time(&taken),
            taken_exact: fmt::exact_time(&taken),
            age: fmt::ago(&taken),
            restore,
        }
    }
}

impl Row {
    /// A backup where the Backups page found it: the local file (its sidecar says how its restore test went) and
    /// the off-site copy the bucket listed.
    pub(super) fn located(l: &crate::watch::backups::Located) -> Row {
        let mut row = Row::new(&l.backup);
        row.local = l.local;
        row.offsite = l.offsite.clone();
        row.location = match l.location() {
            "both" => "local and off-site",
            "offsite" => "off-site",
            _ => "local",
        };
        if !l.local {
            row.restore = None; // no local sidecar: the copy's test is not known here
        }
        row
    }
}

/// A format the create form offers.
pub struct FormatChoice {
    pub value: &'static str,
    pub label: &'static str,
}

impl FormatChoice {
    fn new(format: Format) -> FormatChoice {
        match format {
            Format::Sql => FormatChoice { value: "sql", label: "gzip-compressed (SQL, or the SQLite file)" },
            Format::Custom => FormatChoice { value: "custom", label: "pg_dump custom format (.dump)" },
        }
    }
}

/// The running or last job, with what it produced.
pub struct JobView {
    pub status: Status,
    /// When it started, shown and for the tooltip.
    pub started: String,
    pub started_exact: String,
    /// One line on what a finished job did.
    pub summary: Option<String>,
    /// The verification report after a restore.
    pub report: Option<Report>,
    /// Why the report could not be read after a restore that succeeded.
    pub report_error: Option<String>,
}

impl JobView {
    fn new(job: &Job) -> JobView {
        let status = job.status();
        let (mut summary, mut report, mut report_error) = (None, None, None);
        match job.outcome() {
            Some(Ok(Done::Backup(s))) => {
                summary = Some(format!(
                    "Wrote {} ({}) in {}: {} tables.",
                    file_name(&s.file),
                    fmt::bytes_of(&(s.bytes as i64)),
                    backup::human_duration(std::time::Duration::from_millis(s.duration_ms as u64)),
                    s.tables
                ));
                if let Some(test) = &s.restore_test {
                    let line = crate::watch::backups::describe(test);
                    summary = summary.map(|text| format!("{text} Restore test {line}."));
                }
            }
            Some(Ok(Done::Restore { summary: s, report: r })) => {
                let mut line = format!(
                    "Restored {} ({}) in {}.",
                    file_name(&s.file),
                    s.content,
                    backup::human_duration(std::time::Duration::from_millis(s.duration_ms as u64))
                );
                if let Some(how) = &s.cleaned {
                    line.push_str(&format!(" Emptied first: {how}."));
                }
                if let Some(what) = &s.access_lost {
                    line.push_str(&format!(" Warning: {what}."));
                }
                summary = Some(line);
                match *r {
                    Ok(r) => report = Some(r),
                    Err(e) => report_error = Some(e),
                }
            }
            Some(Ok(Done::RestoreTest(r))) => {
                let file = status.file.clone().unwrap_or_default();
                summary = Some(format!("Restore test of {file} {}.", crate::watch::backups::describe(&r)));
            }
            Some(Err(_)) | None => {}
        }
        let started = Some(status.started_at);
        JobView {
            started: fmt::time(&started),
            started_exact: fmt::exact_time(&started),
            status,
            summary,
            report,
            report_error,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "backups/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    /// `backup_dir` as configured.
    pub dir: String,
    pub backups: Vec<Row>,
    pub formats: Vec<FormatChoice>,
    pub job: Option<JobView>,
    /// A job is running: the page refreshes itself.
    pub running: bool,
    pub schedule: ScheduleView,
    pub offsite: OffsiteView,
    /// Why the off-site copies could not be listed (the local backups are shown, with the copies their sidecars record).
    pub offsite_error: Option<String>,
    /// The retention policy, described.
    pub policy: String,
    /// `restore_test` as configured.
    pub restore_test: String,
}

/// The off-site target in force, where it comes from, and the page's form (never the secret).
pub struct OffsiteView {
    /// `s3://bucket/prefix` in force; `None`: no off-site copies.
    pub url: Option<String>,
    pub source: String,
    /// Set on this page (a button puts the configuration's back).
    pub from_page: bool,
    /// The form's values: the page's settings, else the configuration's.
    pub form_url: String,
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    /// A secret access key is set (in force); its field stays empty.
    pub secret_set: bool,
}

impl OffsiteView {
    async fn new(state: &AppState, db: &CurrentDb) -> Result<OffsiteView> {
        let stored = crate::home::offsite::stored(&state.home, db.name()).await?;
        let configured = db.spec.backup_offsite.as_ref();
        let (shown, secret_set, source) = match &stored {
            Some(s) => (
                s.offsite.as_ref(),
                s.secret_set,
                format!(
                    "set on this page by {} ({}); it overrides the configuration",
                    s.updated_by,
                    s.updated_at.format("%Y-%m-%d %H:%M UTC")
                ),
            ),
            None => (
                configured,
                configured.is_some_and(|o| o.secret_access_key.is_some()),
                match configured {
                    Some(_) => "from backup_offsite in the configuration".to_string(),
                    None => "no backup_offsite in the configuration".to_string(),
                },
            ),
        };
        let text = |v: Option<&String>| v.cloned().unwrap_or_default();
        Ok(OffsiteView {
            url: shown.map(|o| o.to_string()),
            source,
            from_page: stored.is_some(),
            form_url: shown.map(|o| o.to_string()).unwrap_or_default(),
            endpoint: text(shown.and_then(|o| o.endpoint.as_ref())),
            region: text(shown.and_then(|o| o.region.as_ref())),
            access_key_id: text(shown.and_then(|o| o.access_key_id.as_ref())),
            secret_set,
        })
    }
}

/// The backup schedule in force and where it comes from.
pub struct ScheduleView {
    /// `None`: no scheduled backups.
    pub text: Option<String>,
    pub source: String,
    /// Set on this page (a button puts the configuration's back).
    pub from_page: bool,
    /// The configuration's `backup_schedule`.
    pub configured: Option<String>,
    pub next_run: String,
    pub next_run_exact: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "backups/delete.html")]
pub struct DeletePage {
    pub layout: Layout,
    pub backup: Row,
}

#[derive(Template, WebTemplate)]
#[template(path = "backups/retention.html")]
pub struct RetentionPage {
    pub layout: Layout,
    pub keep: usize,
    pub kept: Vec<Row>,
    pub doomed: Vec<Row>,
    /// The doomed names, for the confirmation form.
    pub files: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "backups/restore.html")]
pub struct RestorePage {
    pub layout: Layout,
    /// Where the form posts: the local file's restore, or the off-site copy's.
    pub action: String,
    /// The off-site copy restored (downloaded first); `None` for a local file.
    pub from_offsite: Option<String>,
    /// An age file: the form asks for the identity.
    pub encrypted: bool,
    pub backup: Row,
    /// The name to type.
    pub database: String,
    /// What the file holds.
    pub content: &'static str,
    /// The tables the restore overwrites, with their rows now.
    pub tables: Vec<TableRows>,
    /// A backup or restore already running (the form would be refused).
    pub running: Option<Status>,
}
