//! `strata alembic current|heads|history [--verbose] [-c FILE]`: what `alembic -c FILE current|heads|history`
//! prints, byte for byte on stdout, with Alembic's exit status (255 after `FAILED: ...`, 1 where Python would
//! stop with a traceback) — without Python. `current` reads the version table read-only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};

use super::format::{self, CURRENT, HEADS, HISTORY};
use super::project::{ProjectError, Scripts, Settings};
use crate::config::{Backend, DatabaseUrl};
use crate::db::{self, Purpose};

/// `strata alembic ...`.
#[derive(Debug, Args)]
pub struct AlembicArgs {
    /// Alembic's `-c`: the project's ini file [default: $ALEMBIC_CONFIG, else ./alembic.ini]; `--config` works
    /// too.
    #[arg(short = 'c', value_name = "FILE", global = true)]
    pub ini: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AlembicCommand,
}

/// The Alembic commands Strata answers itself.
#[derive(Debug, Subcommand)]
pub enum AlembicCommand {
    /// The revision(s) the database (sqlalchemy.url) is at, as `alembic current` prints them.
    Current(Verbose),
    /// The head revisions of the scripts, as `alembic heads` prints them.
    Heads(Verbose),
    /// Every revision, newest first, as `alembic history` prints them.
    History(Verbose),
}

#[derive(Debug, Args)]
pub struct Verbose {
    /// Alembic's verbose entries (path, parents, the whole message).
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// How a run ended, as Alembic ends.
enum Outcome {
    Done,
    /// `FAILED: <message>` on stdout, exit status 255 (Alembic's `CommandError`).
    Failed(String),
    /// A message on stderr, exit status 1 (where Alembic stops with a Python traceback).
    Broken(String),
}

impl From<ProjectError> for Outcome {
    fn from(e: ProjectError) -> Outcome {
        match e {
            ProjectError::Command(m) => Outcome::Failed(m),
            ProjectError::Broken(m) => Outcome::Broken(m),
        }
    }
}

/// Runs `strata alembic ...`; `config` is Strata's global `--config`, taken as Alembic's `-c` when `-c` is not
/// given.
pub fn main(config: Option<PathBuf>, args: AlembicArgs) -> ExitCode {
    let ini = args
        .ini
        .or(config)
        .or_else(|| std::env::var_os("ALEMBIC_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("alembic.ini"));
    let mut out = String::new();
    let mut err = String::new();
    let outcome = match args.command {
        AlembicCommand::Heads(v) => heads(&ini, v.verbose, &mut out, &mut err),
        AlembicCommand::History(v) => history(&ini, v.verbose, &mut out, &mut err),
        AlembicCommand::Current(v) => current(&ini, v.verbose, &mut out, &mut err),
    };
    let code = match outcome {
        Outcome::Done => 0,
        Outcome::Failed(message) => {
            out.push_str(&format!("FAILED: {message}\n"));
            255
        }
        Outcome::Broken(message) => {
            err.push_str(&format!("error: {message}\n"));
            1
        }
    };
    // a reader that went away (`| head`) is no error of ours, as Alembic ignores a broken pipe
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    let _ = std::io::stderr().lock().write_all(err.as_bytes());
    ExitCode::from(code)
}

fn print(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// Alembic's warnings (a revision id declared twice), on stderr as Python prints a `UserWarning`.
fn warn(g: &super::Graph, err: &mut String) {
    for w in &g.warnings {
        err.push_str(&format!("UserWarning: {w}\n"));
    }
}

fn heads(ini: &Path, verbose: bool, out: &mut String, err: &mut String) -> Outcome {
    let settings = match Settings::read(ini) {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let scripts = match Scripts::load(&settings) {
        Ok(s) => s,
        // `alembic heads` builds the map outside its error handling: a RevisionError ends in a traceback
        Err(ProjectError::Command(m)) if !m.starts_with("Could not determine") => return Outcome::Broken(m),
        Err(e) => return e.into(),
    };
    let g = &scripts.graph;
    warn(g, err);
    for &h in g.heads() {
        let text = if verbose { format::log_entry(g, h) } else { format::line(g, h, HEADS) };
        print(out, &text);
    }
    Outcome::Done
}

fn history(ini: &Path, verbose: bool, out: &mut String, err: &mut String) -> Outcome {
    let scripts = match Scripts::from_ini(ini) {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let g = &scripts.graph;
    warn(g, err);
    for i in g.history_order() {
        let text = if verbose { format::log_entry(g, i) } else { format::line(g, i, HISTORY) };
        print(out, &text);
    }
    Outcome::Done
}

fn current(ini: &Path, verbose: bool, out: &mut String, err: &mut String) -> Outcome {
    let settings = match Settings::read(ini) {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let Some(raw_url) = settings.sqlalchemy_url.clone() else {
        return Outcome::Broken(format!(
            "{} has no sqlalchemy.url in [alembic]: Strata reads the database from there (it does not run env.py)",
            ini.display()
        ));
    };
    let url = match DatabaseUrl::parse(&raw_url) {
        Ok(u) => u,
        Err(e) => return Outcome::Broken(e.to_string()),
    };
    let info = |err: &mut String, message: &str| {
        if settings.logs_info {
            err.push_str(&format!("INFO  [alembic.runtime.migration] {message}\n"));
        }
    };
    let (imp, transactional) = match url.backend() {
        Backend::Postgres => ("PostgresqlImpl", true),
        Backend::Sqlite => ("SQLiteImpl", false),
        _ if raw_url.trim_start().to_ascii_lowercase().starts_with("mariadb") => ("MariaDBImpl", false),
        _ => ("MySQLImpl", false),
    };
    let rows = match read_version_rows(&url, &settings) {
        Ok(rows) => rows,
        Err(message) => return Outcome::Broken(message),
    };
    info(err, &format!("Context impl {imp}."));
    info(err, if transactional { "Will assume transactional DDL." } else { "Will assume non-transactional DDL." });
    if verbose {
        print(out, &format!("Current revision(s) for {}:", render_url(&raw_url)));
    }
    let failed = |err: &mut String, message: String| {
        if settings.logs_info {
            err.push_str(&format!("ERROR [alembic.util.messaging] {message}\n"));
        }
        Outcome::Failed(message)
    };
    let scripts = match Scripts::load(&settings) {
        Ok(s) => s,
        Err(ProjectError::Command(m)) => return failed(err, m),
        Err(e) => return e.into(),
    };
    let g = &scripts.graph;
    warn(g, err);
    match g.all_current(&rows) {
        Ok(current) => {
            for i in current {
                let text = if verbose { format::log_entry(g, i) } else { format::line(g, i, CURRENT) };
                print(out, &text);
            }
            Outcome::Done
        }
        Err(ident) => failed(err, format!("Can't locate revision identified by '{ident}'")),
    }
}

/// The version table's rows, read-only; none when the table (or a SQLite file) does not exist, as Alembic reads
/// none then.
fn read_version_rows(url: &DatabaseUrl, settings: &Settings) -> Result<Vec<String>, String> {
    if let Some(path) = url.sqlite_path()
        && !path.exists()
    {
        return Ok(Vec::new());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let conn =
            db::connect(url, Purpose::Watch { idle: Duration::from_secs(5) }).await.map_err(|e| e.to_string())?;
        let rows = version_rows(&conn, &settings.version_table, settings.version_table_schema.as_deref()).await;
        conn.close().await.ok();
        rows.map_err(|e| format!("cannot read {} from {url}: {e}", settings.version_table))
    })
}

/// Reads `table` (in `schema`, else where the connection's default schema finds it) if it exists.
pub async fn version_rows(
    conn: &DatabaseConnection,
    table: &str,
    schema: Option<&str>,
) -> Result<Vec<String>, sea_orm::DbErr> {
    let backend = conn.get_database_backend();
    let schema_value = Value::String(schema.map(str::to_string));
    let (exists, quote) = match backend {
        DbBackend::Postgres => (
            Statement::from_sql_and_values(
                backend,
                "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                 AND CASE WHEN $2::text IS NULL THEN pg_catalog.pg_table_is_visible(c.oid) ELSE n.nspname = $2 END",
                [table.into(), schema_value],
            ),
            '"',
        ),
        DbBackend::MySql => (
            Statement::from_sql_and_values(
                backend,
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
                [schema_value, table.into()],
            ),
            '`',
        ),
        _ => (
            Statement::from_sql_and_values(
                backend,
                "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
                [table.into()],
            ),
            '"',
        ),
    };
    let found: i64 = match conn.query_one_raw(exists).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    if found == 0 {
        return Ok(Vec::new());
    }
    let ident = |name: &str| {
        let doubled = name.replace(quote, &format!("{quote}{quote}"));
        format!("{quote}{doubled}{quote}")
    };
    let qualified = match schema {
        Some(s) if backend != DbBackend::Sqlite => format!("{}.{}", ident(s), ident(table)),
        _ => ident(table),
    };
    let rows =
        conn.query_all_raw(Statement::from_string(backend, format!("SELECT version_num FROM {qualified}"))).await?;
    rows.iter().map(|r| r.try_get_by_index::<String>(0)).collect()
}

/// The URL as SQLAlchemy's `render_as_string(hide_password=True)` prints it (Alembic's
/// `Current revision(s) for ...:` line): parsed with SQLAlchemy's pattern, the password shown as `***`, the query
/// sorted by key.
fn render_url(raw: &str) -> String {
    let Some((name, rest)) = raw.split_once("://") else {
        return raw.to_string();
    };
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '+') {
        return raw.to_string();
    }
    // user[:password]@ — the longest user part without ':' or '/' that is followed by '@', as the regex finds it
    let stop = rest.find([':', '/']).unwrap_or(rest.len());
    let (mut user, mut password, mut after) = (None, None, rest);
    if rest[stop..].starts_with(':')
        && let Some(at) = rest[stop + 1..].find('@')
    {
        user = Some(&rest[..stop]);
        password = Some(&rest[stop + 1..stop + 1 + at]);
        after = &rest[stop + 2 + at..];
    } else if let Some(at) = rest[..stop].rfind('@') {
        user = Some(&rest[..at]);
        after = &rest[at + 1..];
    }
    let mut host = None;
    if let Some(inner) = after.strip_prefix('[') {
        let segment_end = inner.find(['/', '?']).unwrap_or(inner.len());
        if let Some(close) = inner[..segment_end].rfind(']').filter(|&c| c > 0) {
            host = Some(inner[..close].to_string());
            after = &inner[close + 1..];
        }
    } else {
        let end = after.find(['/', ':', '?']).unwrap_or(after.len());
        if end > 0 {
            host = Some(after[..end].to_string());
            after = &after[end..];
        }
    }
    let mut port = None;
    if let Some(p) = after.strip_prefix(':') {
        let end = p.find(['/', '?']).unwrap_or(p.len());
        port = p[..end].parse::<u64>().ok();
        after = &p[end..];
    }
    let mut database = None;
    if let Some(d) = after.strip_prefix('/') {
        let end = d.find('?').unwrap_or(d.len());
        database = Some(unquote(&d[..end]));
        after = &d[end..];
    }
    let query = after.strip_prefix('?').map(|q| q.split('\n').next().unwrap_or(""));

    let mut s = format!("{name}://");
    if let Some(user) = user {
        s.push_str(&quote(&unquote(user), " +"));
        if password.is_some() {
            s.push_str(":***");
        }
        s.push('@');
    }
    if let Some(host) = host {
        if host.contains(':') {
            s.push_str(&format!("[{host}]"));
        } else {
            s.push_str(&host);
        }
    }
    if let Some(port) = port {
        s.push_str(&format!(":{port}"));
    }
    if let Some(db) = database {
        s.push('/');
        s.push_str(&quote(&db, " +/"));
    }
    if let Some(query) = query {
        let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
        for piece in query.split('&') {
            let Some((k, v)) = piece.split_once('=') else { continue };
            if v.is_empty() {
                continue;
            }
            let (k, v) = (unquote(&k.replace('+', " ")), unquote(&v.replace('+', " ")));
            match pairs.iter_mut().find(|(key, _)| *key == k) {
                Some((_, values)) => values.push(v),
                None => pairs.push((k, vec![v])),
            }
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        if !pairs.is_empty() {
            let rendered: Vec<String> = pairs
                .iter()
                .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{}={}", quote_plus(k), quote_plus(v))))
                .collect();
            s.push('?');
            s.push_str(&rendered.join("&"));
        }
    }
    s
}

/// Python's `urllib.parse.unquote` (UTF-8, invalid sequences replaced).
fn unquote(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Python's `urllib.parse.quote(s, safe)`.
fn quote(s: &str, safe: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let c = b as char;
        if b.is_ascii_alphanumeric() || "_.-~".contains(c) || (b.is_ascii() && safe.contains(c)) {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Python's `urllib.parse.quote_plus(s)`.
fn quote_plus(s: &str) -> String {
    quote(s, " ").replace(' ', "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_render_as_sqlalchemy_prints_them() {
        assert_eq!(render_url("sqlite:////tmp/p/db.sqlite"), "sqlite:////tmp/p/db.sqlite");
        assert_eq!(render_url("sqlite:///rel.db"), "sqlite:///rel.db");
        assert_eq!(
            render_url("postgresql+psycopg2://u:s%40cret@db.example:05432/app?sslmode=require&application_name=a b"),
            "postgresql+psycopg2://u:***@db.example:5432/app?application_name=a+b&sslmode=require"
        );
        assert_eq!(render_url("postgresql://postgres@127.0.0.1:5432/x"), "postgresql://postgres@127.0.0.1:5432/x");
        assert_eq!(render_url("mysql+pymysql://root@[::1]:3306/t"), "mysql+pymysql://root@[::1]:3306/t");
        assert_eq!(render_url("postgresql:///db?host=/tmp"), "postgresql:///db?host=%2Ftmp");
    }
}
