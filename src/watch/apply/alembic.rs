//! An Alembic project's revisions previewed, linted and applied from the dashboard, by the project's own `alembic`
//! executable (`alembic_path`) in the project's folder with `-c alembic.ini`, as its developers run it.
//!
//! The database URL is the project's: whatever its `alembic.ini` (`sqlalchemy.url`) or `env.py` connects to. Strata
//! never puts a URL or a password on a command line or in the environment; when `alembic.ini` names a URL, it must
//! name the watched database (same server and database, or the same SQLite file), else nothing runs. A password
//! Strata knows that shows up in Alembic's output is masked before it is shown or kept.
//!
//! The preview is what `alembic upgrade|downgrade|stamp --sql FROM:TO` prints, FROM being the revision
//! `alembic_version` holds now; the run then goes to the last revision that SQL reaches, so the preview is what
//! runs. Progress comes from Alembic's `Running upgrade a -> b` INFO lines on stderr; when the run fails,
//! `alembic_version` is read again to say which revisions stayed applied (on PostgreSQL Alembic runs them all in
//! one transaction, so a failure rolls back the earlier ones too).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use super::run::{self, LiveRun, Opened, Step};
use super::{Plan, Planned, Preview, confirmation};
use crate::config::{Backend, DatabaseUrl};
use crate::error::{Error, Result};
use crate::home::audit;
use crate::migrate::lint::{self, External, Report};
use crate::migrate::{Action, Steps};
use crate::watch::Watched;
use crate::watch::schema_history::alembic::command::version_rows;
use crate::watch::schema_history::alembic::{Scripts, Settings};

/// How often a run checks whether a stop was asked for.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Longest error kept from Alembic's output.
const ERROR_LIMIT: usize = 4000;

/// An Alembic project the dashboard may run.
#[derive(Clone, Debug)]
pub struct Project {
    /// The project's own `alembic` (`alembic_path`).
    pub exe: PathBuf,
    /// Its `alembic.ini` (`alembic_ini`).
    pub ini: PathBuf,
    /// The ini's folder: `alembic` runs there.
    pub dir: PathBuf,
}

impl Project {
    /// The Alembic project of `w`: `None` without `alembic_ini`; an error saying how to enable it without
    /// `alembic_path`.
    pub fn of(w: &Watched) -> Option<Result<Project>> {
        let ini = w.spec.alembic_ini.clone()?;
        Some(match &w.spec.alembic_path {
            None => Err(Error::Conflict(how_to_enable(w))),
            Some(exe) => {
                let dir = ini.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
                Ok(Project { exe: exe.clone(), ini, dir })
            }
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.current_dir(&self.dir)
            .arg("-c")
            .arg(&self.ini)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// Runs `alembic` to the end (offline commands); its stdout and stderr, or its error.
    async fn output(&self, w: &Watched, args: &[&str]) -> Result<(String, String)> {
        let out = self.command(args).output().await.map_err(|e| cannot_run(&self.exe, e))?;
        let stdout = mask(w, &String::from_utf8_lossy(&out.stdout));
        let stderr = mask(w, &String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            let lines: Vec<String> = stderr.lines().map(str::to_string).collect();
            return Err(Error::BadRequest(format!(
                "alembic {} failed ({}): {}; nothing was run",
                args.join(" "),
                out.status,
                error_of(&lines)
            )));
        }
        Ok((stdout, stderr))
    }
}

fn cannot_run(exe: &Path, e: std::io::Error) -> Error {
    Error::ToolMissing(format!(
        "cannot run {} (alembic_path): {e}; point alembic_path at the project's alembic executable",
        exe.display()
    ))
}

/// What the page says on a database with `alembic_ini` and no `alembic_path`.
pub fn how_to_enable(w: &Watched) -> String {
    let ini = w.spec.alembic_ini.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
    format!(
        "{} is managed by the Alembic project {ini}. To preview, lint and apply its revisions from the dashboard, set \
         alembic_path in its [database:{}] section to that project's own alembic executable (for example \
         /srv/app/.venv/bin/alembic); Strata runs it in the project's folder with -c alembic.ini",
        w.name(),
        w.name()
    )
}

/// Why a rehearsal of an Alembic project is refused (501).
pub fn cannot_rehearse() -> Error {
    Error::Unsupported(
        "an Alembic project cannot be rehearsed: alembic runs the revisions itself and commits them as its env.py \
         says (per run or per revision, and MariaDB/MySQL commit each DDL statement), so Strata cannot hold them in \
         one transaction and roll it back; preview and lint show what would run"
            .into(),
    )
}

/// The password Strata knows for `w`, replaced by `***` wherever it appears.
fn mask(w: &Watched, text: &str) -> String {
    match w.url().password() {
        Some(p) if p.len() >= 3 => {
            let encoded = percent_encoding::utf8_percent_encode(&p, percent_encoding::NON_ALPHANUMERIC).to_string();
            text.replace(&p, "***").replace(&encoded, "***")
        }
        _ => text.to_string(),
    }
}

/// Alembic's error in its output: a `FAILED: ...` line (a command error), else the exception line of the last
/// traceback and what follows it (SQLAlchemy's `[SQL: ...]`), else the last lines.
fn error_of(lines: &[String]) -> String {
    if let Some(l) = lines.iter().rev().find(|l| l.starts_with("FAILED:")) {
        return l.trim_start_matches("FAILED:").trim().to_string();
    }
    let is_exception = |l: &str| {
        let Some((head, _)) = l.split_once(": ") else { return false };
        !l.starts_with(char::is_whitespace)
            && !head.contains(' ')
            && (head.ends_with("Error") || head.ends_with("Exception") || head.contains('.'))
    };
    let text = match lines.iter().rposition(|l| is_exception(l)) {
        Some(i) => lines[i..]
            .iter()
            .filter(|l| !l.starts_with("(Background on this error"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        None => {
            let start = lines.len().saturating_sub(5);
            lines[start..].join("\n")
        }
    };
    let mut text = text.trim().to_string();
    if text.len() > ERROR_LIMIT {
        let mut cut = ERROR_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(" …");
    }
    if text.is_empty() { "alembic printed no error".into() } else { text }
}

/// Refuses to run when `alembic.ini`'s `sqlalchemy.url` names another database than the watched one. A URL
/// `env.py` computes cannot be checked: the preview says so.
fn check_url(w: &Watched, p: &Project, settings: &std::result::Result<Settings, String>) -> Result<Vec<String>> {
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            return Ok(vec![format!(
                "Strata cannot read {} itself ({e}), so it cannot check that alembic connects to {}",
                p.ini.display(),
                w.name()
            )]);
        }
    };
    let Some(raw) = settings.sqlalchemy_url.clone().filter(|u| !u.trim().is_empty()) else {
        return Ok(vec![format!(
            "{} names no sqlalchemy.url: alembic connects to whatever its env.py computes, which Strata cannot check \
             is {}",
            p.ini.display(),
            w.name()
        )]);
    };
    if !same_database(w.url(), &raw, &p.dir) {
        return Err(Error::Conflict(format!(
            "{} connects alembic to {}, not to the watched database {} ({}); nothing was run",
            p.ini.display(),
            crate::config::mask_url_str(&raw),
            w.name(),
            w.url().masked()
        )));
    }
    Ok(Vec::new())
}

/// Whether a SQLAlchemy URL (relative SQLite paths from `dir`, where alembic runs) names `url`'s database.
fn same_database(url: &DatabaseUrl, raw: &str, dir: &Path) -> bool {
    if url.backend() == Backend::Sqlite {
        let Some((_, rest)) = raw.split_once(":///") else { return false };
        let path = Path::new(rest.split('?').next().unwrap_or(rest));
        let path = if path.is_absolute() { path.to_path_buf() } else { dir.join(path) };
        return match (url.sqlite_path(), std::fs::canonicalize(&path)) {
            (Some(a), Ok(b)) => std::fs::canonicalize(a).map(|a| a == b).unwrap_or(false),
            _ => false,
        };
    }
    let Ok(other) = DatabaseUrl::parse(raw) else { return false };
    let place = |u: &DatabaseUrl| {
        let parsed = url::Url::parse(u.connect_url()).ok()?;
        let host = parsed.host_str()?.to_ascii_lowercase();
        let host = if host == "localhost" { "127.0.0.1".to_string() } else { host };
        let port = parsed.port().unwrap_or(if u.backend() == Backend::Postgres { 5432 } else { 3306 });
        Some((u.backend(), host, port, u.database_name()))
    };
    place(url).is_some() && place(url) == place(&other)
}

/// One revision of a plan as the `--sql` output shows it.
#[derive(Clone, Debug)]
struct Section {
    /// The revision it runs (upgrade, stamp) or undoes (downgrade).
    revision: String,
    /// The revision the database is at after it (`""`: base).
    after: String,
    /// Its statements, version-table writes and `BEGIN`/`COMMIT` left out.
    statements: Vec<String>,
}

/// A request resolved against the database and the project.
#[derive(Clone, Debug)]
struct Resolved {
    /// `upgrade`, `downgrade` or `stamp`.
    command: &'static str,
    /// The revision the run goes to (explicit, as the preview reached it).
    target: String,
    /// What `--sql` printed.
    sql: String,
    sections: Vec<Section>,
    /// Revision messages, from Alembic's INFO lines or the revision files.
    names: Vec<String>,
    notes: Vec<String>,
    action: Action,
}

/// The revision `alembic_version` holds (`None`: base).
async fn current(w: &Watched, settings: Option<&Settings>) -> Result<Option<String>> {
    let table = settings.map_or("alembic_version", |s| s.version_table.as_str());
    let schema = settings.and_then(|s| s.version_table_schema.as_deref());
    let mut rows = version_rows(&w.db, table, schema).await?;
    match rows.len() {
        0 => Ok(None),
        1 => Ok(rows.pop()),
        _ => Err(Error::Conflict(format!(
            "{table} holds several revisions ({}: Alembic branches); the dashboard runs a database at one revision, \
             use alembic itself here",
            rows.join(", ")
        ))),
    }
}

async fn resolve(w: &Watched, p: &Project, plan: &Plan) -> Result<Resolved> {
    let read = Settings::read(&p.ini).map_err(|e| e.to_string());
    let mut notes = check_url(w, p, &read)?;
    let settings = read.ok();
    if settings.as_ref().is_some_and(|s| !s.logs_info) {
        notes.push(format!(
            "{}'s logging hides alembic's INFO lines, so a run shows its progress only when it ends",
            p.ini.display()
        ));
    }
    let from = current(w, settings.as_ref()).await?;
    let (command, action, to) = match (plan.action, &plan.steps) {
        (Action::Stamp, _) => ("stamp", Action::Stamp, revision_arg(plan.stamp.as_deref().unwrap_or("head"))?),
        (Action::Upgrade, Steps::All) => ("upgrade", Action::Upgrade, "head".to_string()),
        (Action::Upgrade, Steps::Count(n)) => ("upgrade", Action::Upgrade, format!("+{n}")),
        (Action::Upgrade, Steps::To(r)) => ("upgrade", Action::Upgrade, revision_arg(r)?),
        (Action::Downgrade, Steps::All) => ("downgrade", Action::Downgrade, "base".to_string()),
        (Action::Downgrade, Steps::Count(n)) => ("downgrade", Action::Downgrade, format!("-{n}")),
        (Action::Downgrade, Steps::To(r)) => ("downgrade", Action::Downgrade, revision_arg(r)?),
    };
    let range = match (&from, action) {
        (Some(f), _) => format!("{f}:{to}"),
        (None, Action::Downgrade) => {
            return Err(Error::BadRequest("the database is at base: there is nothing to roll back".into()));
        }
        (None, _) => to.clone(),
    };
    let (sql, stderr) = p.output(w, &[command, "--sql", &range]).await?;
    let table = settings.as_ref().map_or("alembic_version", |s| s.version_table.as_str());
    let sections = sections(&sql, command, table, backend_of(w));
    let messages = running_messages(&stderr, command);
    let scripts = Scripts::from_ini(&p.ini).ok();
    let names = sections
        .iter()
        .map(|s| {
            messages.iter().find(|(r, _)| *r == s.revision).map(|(_, m)| m.clone()).unwrap_or_else(|| {
                let graph = scripts.as_ref().map(|x| &x.graph);
                graph.and_then(|g| g.by_id(&s.revision).map(|i| g.script(i).doc().to_string())).unwrap_or_default()
            })
        })
        .collect();
    let target = match sections.last() {
        Some(last) if command == "downgrade" && last.after.is_empty() => "base".to_string(),
        Some(last) => last.after.clone(),
        None => to,
    };
    Ok(Resolved { command, target, sql, sections, names, notes, action })
}

/// A revision as a person typed it (an id, a prefix, `head`, `base`, a branch label, `name@head`), refused when
/// alembic could read it as an option or a range.
fn revision_arg(r: &str) -> Result<String> {
    let r = r.trim();
    if r.is_empty() || r.starts_with('-') || r.contains(':') || r.contains(char::is_whitespace) {
        return Err(Error::BadRequest(format!("{r:?} is not a revision: give an id, a prefix, head or base")));
    }
    Ok(r.to_string())
}

fn backend_of(w: &Watched) -> Backend {
    w.url().backend()
}

/// The `-- Running upgrade a -> b` sections of `--sql` output, with their statements.
fn sections(sql: &str, command: &str, table: &str, backend: Backend) -> Vec<Section> {
    let marker = format!("-- Running {} ", if command == "stamp" { "stamp_revision" } else { command });
    let mut out: Vec<(String, String, String)> = Vec::new();
    for line in sql.lines() {
        if let Some(rest) = line.strip_prefix(&marker) {
            let (before, after) = rest.split_once(" -> ").unwrap_or((rest, ""));
            let (before, after) = (before.trim().to_string(), after.trim().to_string());
            let revision = if command == "downgrade" { before } else { after.clone() };
            let after = if command == "downgrade" { after } else { revision.clone() };
            out.push((revision, after, String::new()));
        } else if let Some(last) = out.last_mut() {
            last.2.push_str(line);
            last.2.push('\n');
        }
    }
    out.into_iter()
        .map(|(revision, after, text)| Section {
            revision,
            after,
            statements: crate::query::split::split(&text, backend)
                .into_iter()
                .map(|p| p.sql.trim().to_string())
                .filter(|s| !s.is_empty() && !is_bookkeeping(s, table))
                .collect(),
        })
        .collect()
}

/// `BEGIN`, `COMMIT`, and the version table's own writes: Alembic's, not the revision's.
fn is_bookkeeping(statement: &str, table: &str) -> bool {
    let words: String =
        statement.split_whitespace().take(4).collect::<Vec<_>>().join(" ").to_ascii_lowercase().replace(['"', '`'], "");
    if matches!(words.trim_end_matches(';'), "begin" | "commit" | "start transaction" | "begin transaction") {
        return true;
    }
    let table = table.to_ascii_lowercase();
    ["insert into ", "update ", "delete from ", "create table ", "drop table "].iter().any(|verb| {
        words.strip_prefix(verb).is_some_and(|rest| {
            let name = rest.split([' ', '(', ';']).next().unwrap_or_default();
            name == table || name.ends_with(&format!(".{table}"))
        })
    })
}

/// `(revision, message)` of each `Running upgrade a -> b, message` INFO line (the revision `b`; `a` for a
/// downgrade).
fn running_messages(stderr: &str, command: &str) -> Vec<(String, String)> {
    stderr.lines().filter_map(|l| running_line(l, command)).collect()
}

/// The revision an INFO line says is starting, with its message.
fn running_line(line: &str, command: &str) -> Option<(String, String)> {
    let word = if command == "stamp" { "stamp_revision" } else { command };
    let (_, rest) = line.split_once(&format!("Running {word} "))?;
    let (before, after) = rest.split_once(" -> ")?;
    let (after, message) = after.split_once(", ").unwrap_or((after, ""));
    let revision = if command == "downgrade" { before } else { after };
    Some((revision.trim().to_string(), message.trim().to_string()))
}

fn lint_input(r: &Resolved) -> Vec<External> {
    r.sections
        .iter()
        .zip(&r.names)
        .map(|(s, name)| External {
            revision: s.revision.clone(),
            name: name.clone(),
            statements: s.statements.clone(),
        })
        .collect()
}

/// What the plan would run: Alembic's `--sql` output for this database's revision, and its lint.
pub async fn preview(w: &Watched, p: &Project, plan: &Plan) -> Result<Preview> {
    let r = resolve(w, p, plan).await?;
    let lint = lint::lint_external(&w.db, r.action, lint_input(&r)).await?;
    Ok(Preview {
        action: plan.verb().into(),
        target: plan.target.clone(),
        migrations: r
            .sections
            .iter()
            .zip(&r.names)
            .map(|(s, n)| Planned { revision: s.revision.clone(), name: n.clone() })
            .collect(),
        sql: r.sql,
        confirmation: confirmation(plan, &lint),
        lint,
        notes: r.notes,
    })
}

/// The lint of what the plan would run.
pub async fn lint(w: &Watched, p: &Project, plan: &Plan) -> Result<Report> {
    let r = resolve(w, p, plan).await?;
    lint::lint_external(&w.db, r.action, lint_input(&r)).await
}

/// Starts `alembic upgrade|downgrade|stamp TARGET` in the background; returns the run's id at once.
pub async fn start(
    home: &sea_orm::DatabaseConnection,
    w: Arc<Watched>,
    p: Project,
    plan: Plan,
    actor: String,
    audit: audit::Entry,
) -> Result<i64> {
    let busy = run::claim(&w)?;
    let r = resolve(&w, &p, &plan).await?;
    let steps: Vec<Step> = r
        .sections
        .iter()
        .zip(&r.names)
        .map(|(s, n)| Step {
            revision: s.revision.clone(),
            name: n.clone(),
            state: "pending".into(),
            duration_ms: None,
            error: None,
        })
        .collect();
    let Opened { id, live } = run::open(home, &w, &plan, &actor, steps, None).await?;
    let home = home.clone();
    let (entry, via) = run::run_entry(&w, &plan, audit);
    tokio::spawn(async move {
        let _busy = busy;
        let (state, error) = execute(&w, &p, &r, &live).await;
        let detail = match &error {
            None => {
                let done: Vec<String> = live.status().steps.iter().map(|s| s.revision.clone()).collect();
                format!("succeeded: {} revision(s) with alembic ({})", done.len(), done.join(", "))
            }
            Some(e) => format!("{state}: {e}"),
        };
        live.close(&home, id, state, error, format!("run {id} {detail}{via}"), entry).await;
    });
    Ok(id)
}

/// Runs alembic, following its INFO lines; how it ended (`succeeded`, `failed` or `cancelled`) and why not.
async fn execute(w: &Watched, p: &Project, r: &Resolved, live: &LiveRun) -> (&'static str, Option<String>) {
    let mut child = match p.command(&[r.command, &r.target]).spawn() {
        Ok(c) => c,
        Err(e) => return ("failed", Some(cannot_run(&p.exe, e).to_string())),
    };
    let mut stdout = child.stdout.take();
    let drain = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            out.read_to_string(&mut text).await.ok();
        }
        text
    });
    let mut lines = child.stderr.take().map(|e| BufReader::new(e).lines());
    let mut log: Vec<String> = Vec::new();
    let mut running: Option<(String, Instant)> = None;
    let mut stopped = false;
    let mut tick = tokio::time::interval(CANCEL_POLL);
    while let Some(reader) = lines.as_mut() {
        tokio::select! {
            line = reader.next_line() => match line {
                Ok(Some(line)) => {
                    let line = mask(w, &line);
                    if let Some((revision, _)) = running_line(&line, r.command) {
                        if let Some((done, since)) = running.take() {
                            live.set_step(&done, "succeeded", Some(since.elapsed().as_millis() as i64), None);
                        }
                        live.set_step(&revision, "running", None, None);
                        running = Some((revision, Instant::now()));
                    }
                    log.push(line);
                }
                _ => lines = None,
            },
            _ = tick.tick() => {
                if live.cancel_asked() && !stopped {
                    child.start_kill().ok();
                    stopped = true;
                }
            }
        }
    }
    let status = child.wait().await;
    let _ = drain.await;
    let running = running.map(|(rev, since)| (rev, since.elapsed().as_millis() as i64));
    if !stopped && status.as_ref().is_ok_and(|s| s.success()) {
        if let Some((rev, ms)) = &running {
            live.set_step(rev, "succeeded", Some(*ms), None);
        }
        for s in live.status().steps.iter().filter(|s| s.state == "pending") {
            live.set_step(&s.revision, "succeeded", None, None);
        }
        return ("succeeded", None);
    }
    // What stayed applied is what the version table says now.
    let settings = Settings::read(&p.ini).ok();
    let now = current(w, settings.as_ref()).await.ok().flatten().unwrap_or_default();
    let kept = match r.sections.iter().position(|s| s.after == now) {
        Some(k) => k + 1,
        None => 0,
    };
    let error = if stopped {
        format!(
            "stopped on request: the alembic process was ended{}; {} is at {}",
            running.as_ref().map(|(rev, _)| format!(" while {rev} ran")).unwrap_or_default(),
            w.name(),
            if now.is_empty() { "base" } else { &now }
        )
    } else {
        match &status {
            Ok(s) => format!("alembic {} {} failed ({s}): {}", r.command, r.target, error_of(&log)),
            Err(e) => format!("alembic {} {} failed: {e}", r.command, r.target),
        }
    };
    for (k, s) in r.sections.iter().enumerate() {
        let shown = live.status().steps.iter().find(|x| x.revision == s.revision).map(|x| x.state.clone());
        if k < kept {
            live.set_step(&s.revision, "succeeded", None, None);
        } else if running.as_ref().is_some_and(|(rev, _)| *rev == s.revision) {
            let ms = running.as_ref().map(|(_, ms)| *ms);
            if stopped {
                live.set_step(&s.revision, "not_run", ms, Some("stopped while it ran; rolled back".into()));
            } else {
                live.set_step(&s.revision, "failed", ms, Some(error_of(&log)));
            }
        } else if shown.as_deref() == Some("succeeded") {
            live.set_step(
                &s.revision,
                "not_run",
                None,
                Some("rolled back: alembic ran it in the same transaction as the revision that stopped".into()),
            );
        }
    }
    (if stopped { "cancelled" } else { "failed" }, Some(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "BEGIN;\n\nCREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n    \
                       CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n);\n\n-- Running upgrade  -> aaa111\n\n\
                       CREATE TABLE teams (\n    id INTEGER NOT NULL\n);\n\nINSERT INTO alembic_version (version_num) \
                       VALUES ('aaa111') RETURNING alembic_version.version_num;\n\n-- Running upgrade aaa111 -> bbb222\n\n\
                       ALTER TABLE teams DROP COLUMN name;\n\nUPDATE alembic_version SET version_num='bbb222' WHERE \
                       alembic_version.version_num = 'aaa111';\n\nCOMMIT;\n\n";

    #[test]
    fn sql_splits_per_revision_without_the_version_table() {
        let s = sections(SQL, "upgrade", "alembic_version", Backend::Postgres);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].revision.as_str(), s[0].after.as_str()), ("aaa111", "aaa111"));
        assert_eq!(s[0].statements.len(), 1, "{:?}", s[0].statements);
        assert!(s[0].statements[0].starts_with("CREATE TABLE teams"));
        assert_eq!(s[1].statements, ["ALTER TABLE teams DROP COLUMN name"]);
    }

    #[test]
    fn a_downgrade_section_is_the_revision_it_undoes() {
        let sql = "-- Running downgrade bbb222 -> aaa111\n\nDROP TABLE users;\n\n-- Running downgrade aaa111 -> \n\n\
                   DROP TABLE teams;\n\nDELETE FROM alembic_version WHERE alembic_version.version_num = 'aaa111';\n\n\
                   DROP TABLE alembic_version;\n";
        let s = sections(sql, "downgrade", "alembic_version", Backend::Sqlite);
        let got: Vec<(&str, &str, usize)> =
            s.iter().map(|x| (x.revision.as_str(), x.after.as_str(), x.statements.len())).collect();
        assert_eq!(got, [("bbb222", "aaa111", 1), ("aaa111", "", 1)]);
        assert_eq!(
            running_line("INFO  [alembic] Running downgrade bbb222 -> aaa111, add users", "downgrade").unwrap().0,
            "bbb222"
        );
    }

    #[test]
    fn the_error_is_the_exception_with_its_sql() {
        let lines: Vec<String> = [
            "INFO  [alembic.runtime.migration] Running upgrade aaa111 -> bbb222, add users",
            "Traceback (most recent call last):",
            "  File \"x.py\", line 1, in <module>",
            "sqlite3.OperationalError: no such table: nowhere",
            "",
            "The above exception was the direct cause of the following exception:",
            "Traceback (most recent call last):",
            "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: nowhere",
            "[SQL: INSERT INTO nowhere VALUES (1)]",
            "(Background on this error at: https://sqlalche.me/e/21/e3q8)",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            error_of(&lines),
            "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: nowhere\n\
             [SQL: INSERT INTO nowhere VALUES (1)]"
        );
        assert_eq!(
            error_of(&["FAILED: Can't locate revision identified by 'zzz'".to_string()]),
            "Can't locate revision identified by 'zzz'"
        );
    }

    #[test]
    fn a_url_names_the_same_server_database_whatever_the_driver() {
        let url = DatabaseUrl::parse("postgres://app:secret@localhost:5432/shop").unwrap();
        assert!(same_database(&url, "postgresql+psycopg2://app:other@127.0.0.1/shop", Path::new("/")));
        assert!(!same_database(&url, "postgresql+psycopg2://app@127.0.0.1/other", Path::new("/")));
        assert!(!same_database(&url, "postgresql://app@10.0.0.2/shop", Path::new("/")));
    }
}
