//! The one error type: every failure a user can meet, its message, its HTTP status and its stable code.
//!
//! A response made from an `Error` is an HTML page and carries an [`ErrorReport`] extension; under
//! `/api` a middleware (`api::errors`) answers the report as `{"error": {"code", "message"}}` instead.

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, sqlx};

use crate::config::{ConfigError, mask_url_str};
use chrono::{DateTime, Utc};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, worded for the person who reads it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration file, URL or setting is wrong (never an HTTP error: it stops start-up).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be reached (503).
    #[error("cannot connect to the database at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The database stopped answering in the middle of serving (503; the detail goes to the log).
    #[error("the database is unreachable: {0}")]
    Unavailable(String),
    /// A request could not reach the database (503; the health watcher takes over from here).
    #[error("the database is unreachable: {}", mask_url_str(.0))]
    Unreachable(String),
    /// The database is known to be down: answered at once, naming the cause (503).
    #[error(
        "Strata cannot reach its database, unreachable since {} UTC: {}. It retries every second by itself.",
        .0.since.format("%Y-%m-%d %H:%M:%S"),
        .0.cause
    )]
    Down(Outage),
    /// A watched database is known to be unreachable: answered at once, naming it and the cause (503).
    #[error(
        "the database {name} is unreachable since {} UTC: {}. Strata checks it every second; its pages recover by \
         themselves when it answers again.",
        .outage.since.format("%Y-%m-%d %H:%M:%S"),
        .outage.cause
    )]
    WatchedDown { name: String, outage: Outage },
    /// The database refuses writes: a read-only file, a full disk (503, naming the cause). `home` names
    /// the database when known.
    #[error("{}.", .fault.describe(.home.as_deref().unwrap_or("the database file")))]
    Unwritable { fault: WriteFault, home: Option<String> },
    /// A statement failed (500 unless a more specific variant fits).
    #[error("database error: {}", mask_url_str(&db_text(.0)))]
    Db(#[from] DbErr),
    /// A migration command cannot go on; the message says why and what to do (exit 1 / 409).
    #[error("{0}")]
    Migration(String),
    /// A migration command refuses a database this migrator does not manage: `alembic_version` holds another
    /// project's revision, or tables its migrations would create already exist; nothing was changed (exit 1 / 409).
    #[error("{0}")]
    NotOwned(String),
    /// The migration lock was not granted in time (exit 1 / 503).
    #[error("{0}")]
    LockTimeout(String),
    /// Input that cannot be used (400).
    #[error("{0}")]
    BadRequest(String),
    /// A request larger than a setting allows; the message names the limit and the setting (413).
    #[error("{0}")]
    TooLarge(String),
    /// No credentials, or ones that are wrong, expired or revoked (401; API keys).
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in, but not allowed (403).
    #[error("you are not allowed to do that")]
    Forbidden,
    /// An action that writes, on a database configured `read_only`; the message names the setting (403).
    #[error("{0}")]
    ReadOnlyDatabase(String),
    /// An API key without the scope this needs (403).
    #[error("this API key does not have the {0} scope")]
    MissingScope(String),
    /// A read that did not answer within its limit, where no partial answer is possible (504).
    #[error("{0}")]
    Timeout(String),
    /// A form without the session's CSRF token, or with another one (403).
    #[error(
        "this form has expired or did not come from Strata (its CSRF token is missing or wrong): \
         go back, reload the page and submit it again"
    )]
    Csrf,
    /// No such thing (404).
    #[error("{0} not found")]
    NotFound(String),
    /// A backup or restore cannot go on: a client tool is missing, too old or failed, the file is
    /// damaged, or another one is running; the message says what happened to the database and what
    /// to do (exit 1 / 409).
    #[error("{}", mask_url_str(.0))]
    Backup(String),
    /// A maintenance action cannot go on: not confirmed, or already running on that target; the message
    /// says what was (not) done and what to do (exit 1 / 409).
    #[error("{0}")]
    Maintenance(String),
    /// The request clashes with what exists (a login of that name, ...); the message says what to do (409).
    #[error("{0}")]
    Conflict(String),
    /// A read-only run with no login that can only read: the main login can do more, and no viewer login
    /// exists; the message names what it can do and the ways out (409).
    #[error("{0}")]
    ViewerLoginRequired(String),
    /// A client tool Strata runs (pg_dump, psql, mariadb-dump, ...) is missing, not executable, or cannot be
    /// started; the message says what to install or which setting names it (503).
    #[error("{}", mask_url_str(.0))]
    ToolMissing(String),
    /// This backend cannot do that (501).
    #[error("{0}")]
    Unsupported(String),
    /// Files, terminals, processes.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// A bug or an impossible state; the detail goes to the log, not the page (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// The HTTP status that fits this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Connect { .. } | Error::LockTimeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Db(e) if is_unreachable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Db(e) if write_fault(e).is_some() => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unavailable(_)
            | Error::Unreachable(_)
            | Error::Down(_)
            | Error::WatchedDown { .. }
            | Error::ToolMissing(_)
            | Error::Unwritable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden | Error::Csrf | Error::MissingScope(_) | Error::ReadOnlyDatabase(_) => {
                StatusCode::FORBIDDEN
            }
            Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Migration(_)
            | Error::NotOwned(_)
            | Error::Backup(_)
            | Error::Maintenance(_)
            | Error::Conflict(_)
            | Error::ViewerLoginRequired(_) => StatusCode::CONFLICT,
            Error::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
            Error::Config(_) | Error::Db(_) | Error::Io { .. } | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// A stable, machine-readable name for the kind of error (the `code` of API errors). Every variant is named
    /// here, so a new one cannot fall into "internal" by accident.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden => "forbidden",
            Error::MissingScope(_) => "missing_scope",
            Error::ReadOnlyDatabase(_) => "read_only",
            Error::Csrf => "csrf",
            Error::BadRequest(_) => "bad_request",
            Error::TooLarge(_) => "too_large",
            Error::NotFound(_) => "not_found",
            Error::Migration(_) | Error::Conflict(_) | Error::Backup(_) | Error::Maintenance(_) => "conflict",
            Error::NotOwned(_) => "not_owned",
            Error::ViewerLoginRequired(_) => "viewer_login_required",
            Error::Unsupported(_) => "unsupported",
            Error::Timeout(_) => "timeout",
            Error::ToolMissing(_) => "tool_missing",
            Error::Connect { .. }
            | Error::Unavailable(_)
            | Error::Unreachable(_)
            | Error::Down(_)
            | Error::WatchedDown { .. }
            | Error::Unwritable { .. }
            | Error::LockTimeout(_) => "unavailable",
            Error::Db(_) if self.status() == StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            Error::Db(_) | Error::Config(_) | Error::Io { .. } | Error::Internal(_) => "internal",
        }
    }

    /// Whether this error means the database cannot be reached right now (down, refusing, not answering).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::Unavailable(_) | Error::Down(_) | Error::WatchedDown { .. })
            || matches!(self.fault(), Some(Fault::Unreachable(_)))
    }

    /// What this error tells the health state: the database is unreachable, or refuses writes.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Error::Db(e) if is_unreachable(e) => Some(Fault::Unreachable(self.to_string())),
            Error::Db(e) => write_fault(e).map(Fault::Unwritable),
            Error::Unreachable(_) => Some(Fault::Unreachable(self.to_string())),
            Error::Unwritable { fault, .. } => Some(Fault::Unwritable(*fault)),
            _ => None,
        }
    }

    /// What the client is told: the message itself, or a plain sentence when the details belong in the log.
    fn public_message(&self) -> String {
        let status = self.status();
        if let Error::Down(_) | Error::WatchedDown { .. } = self {
            // Already logged once by the watcher; this names the cause for whoever is waiting.
            return self.to_string();
        }
        if let Some(Fault::Unwritable(fault)) = self.fault() {
            let home = match self {
                Error::Unwritable { home, .. } => home.as_deref(),
                _ => None,
            };
            if let Error::Db(_) = self {
                tracing::warn!(error = %self, "the database refuses writes");
            }
            return format!("{}.", fault.describe(home.unwrap_or("the database file")));
        }
        // "This backend cannot do that" (501) and a timeout (504) are answers for the user, not failures to hide.
        if let Error::ToolMissing(_) = self {
            // What to install is the answer; nothing about it is secret.
            return self.to_string();
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self, "database unavailable");
            "The database is unreachable right now.".to_string()
        } else if status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::GATEWAY_TIMEOUT
        {
            tracing::error!(error = %self, "request failed");
            "Something went wrong on the server. The details are in Strata's log.".to_string()
        } else {
            self.to_string()
        }
    }
}

/// What an error response tells the health state (`web::health::guard` reads it from the response's extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The database could not be reached; the reason, passwords masked.
    Unreachable(String),
    /// The database refused a write.
    Unwritable(WriteFault),
}

/// What an error response says, kept in the response's extensions so `/api` can answer it as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReport {
    pub code: &'static str,
    pub message: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let fault = self.fault();
        let report = ErrorReport { code: self.code(), message: self.public_message() };
        let mut shown = report.message.clone();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            shown.push_str(" This page retries every 5 seconds.");
        }
        let retry =
            if status == StatusCode::SERVICE_UNAVAILABLE { r#"<meta http-equiv="refresh" content="5">"# } else { "" };
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{retry}<title>{code} · Strata</title>\
             <link rel=\"stylesheet\" href=\"/static/css/strata.css\"></head><body class=\"error-page\"><main>\
             <h1>{code} {reason}</h1><p>{msg}</p><p><a href=\"/\">Back to the overview</a></p></main></body></html>",
            code = status.as_u16(),
            reason = status.canonical_reason().unwrap_or(""),
            msg = html_escape(&shown),
        );
        let mut response = (status, Html(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(report);
        if let Some(fault) = fault {
            response.extensions_mut().insert(fault);
        }
        response
    }
}

// Malformed forms, query strings and paths are the client's mistake: 400 with what was wrong.
impl From<FormRejection> for Error {
    fn from(rejection: FormRejection) -> Self {
        Error::BadRequest(format!("the form cannot be used: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::BadRequest(format!("the query string cannot be used: {}", rejection.body_text()))
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        Error::BadRequest(format!("the JSON body cannot be used: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::BadRequest(format!("the address cannot be used: {}", rejection.body_text()))
    }
}

/// An sqlx error as text, without the C source line of PostgreSQL's own code that raised it: sqlx ends a
/// PostgreSQL error's text in ` at line N` (the `L` field), which is no line of the user's SQL and means
/// nothing to them. MariaDB's ` at line N` (a line of the statement) is kept.
pub fn sqlx_text(e: &sqlx::Error) -> String {
    let text = e.to_string();
    let line = e.as_database_error().and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?.line());
    match line {
        Some(n) => without_suffix(text, &format!(" at line {n}")),
        None => text,
    }
}

/// Whether a pool gave up waiting for a connection: at start (sea-orm reports sqlx's error as a connect error)
/// or later (as an acquire error). A refused or failing connect ends the same way, since the pool retries it.
pub fn is_pool_timeout(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => true,
        DbErr::Conn(RuntimeErr::SqlxError(s)) => matches!(**s, sqlx::Error::PoolTimedOut),
        _ => false,
    }
}

/// A sea-orm error as text, the way [`sqlx_text`] words the sqlx error inside it.
pub fn db_text(e: &DbErr) -> String {
    if is_pool_timeout(e) {
        // "pool timed out while waiting for an open connection" names the pool, not what went wrong.
        return "no connection to the database could be had in time: the server is down, unreachable or slow, \
                or every connection is busy"
            .to_string();
    }
    let text = e.to_string();
    let inner = match e {
        DbErr::Conn(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => s,
        DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        _ => return text,
    };
    let full = inner.to_string();
    let short = sqlx_text(inner);
    if full == short { text } else { text.replacen(&full, &short, 1) }
}

fn without_suffix(text: String, suffix: &str) -> String {
    match text.strip_suffix(suffix) {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_postgres_error_loses_its_source_line_and_other_texts_keep_theirs() {
        // Not a PostgreSQL server error: MariaDB's "at line N" is a line of the statement and stays.
        let mariadb_like = sqlx::Error::Protocol("near 'FORM t' at line 3".into());
        assert!(sqlx_text(&mariadb_like).ends_with("near 'FORM t' at line 3"), "{}", sqlx_text(&mariadb_like));
        let wrapped = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(mariadb_like)));
        assert!(db_text(&wrapped).ends_with("at line 3"), "{}", db_text(&wrapped));
        assert_eq!(without_suffix("division by zero at line 414".into(), " at line 414"), "division by zero");
        assert_eq!(without_suffix("at line 414 happened".into(), " at line 414"), "at line 414 happened");
    }

    #[test]
    fn a_pool_timeout_never_reads_as_the_pool_s_own_words() {
        let at_start = DbErr::Conn(RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::PoolTimedOut)));
        let later = DbErr::ConnectionAcquire(ConnAcquireErr::Timeout);
        for e in [at_start, later] {
            assert!(is_pool_timeout(&e));
            let text = Error::Db(e).to_string();
            assert!(!text.to_lowercase().contains("pool timed out"), "{text}");
            assert!(text.contains("the server is down"), "{text}");
        }
    }
}

/// The database cannot be reached: since when, and the last reason seen (passwords masked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    pub cause: String,
    pub since: DateTime<Utc>,
}

/// Why the database refused a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// The file (or the file system) is read-only for Strata.
    ReadOnly,
    /// No space left on the disk (or the database's size limit).
    Full,
    /// The operating system failed the write.
    Io,
}

impl WriteFault {
    /// The sentence a page shows, `home` naming the database (a SQLite path or a masked URL).
    pub fn describe(self, home: &str) -> String {
        match self {
            WriteFault::ReadOnly => format!("Strata cannot write to its database: {home} is read-only"),
            WriteFault::Full => format!("Strata cannot write to its database: disk full (no space left for {home})"),
            WriteFault::Io => format!("Strata cannot write to its database: writing {home} failed (disk I/O error)"),
        }
    }
}

/// Whether a failure means the database cannot be reached right now (down, restarting, dropped,
/// connections cut, pool exhausted) rather than a statement being wrong: such failures are a 503.
pub fn is_unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => match &**s {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => d.code().is_some_and(|code| unreachable_code(&code)),
            _ => false,
        },
        _ => false,
    }
}

/// Whether a failure means the database refuses writes (a read-only SQLite file, a full disk) rather
/// than a statement being wrong: such failures are a 503 naming the cause.
pub fn write_fault(e: &sea_orm::DbErr) -> Option<WriteFault> {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    let (DbErr::Query(RuntimeErr::SqlxError(s))
    | DbErr::Exec(RuntimeErr::SqlxError(s))
    | DbErr::Conn(RuntimeErr::SqlxError(s))) = e
    else {
        return None;
    };
    let sqlx::Error::Database(d) = &**s else { return None };
    d.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    // SQLite reports extended result codes; the primary code is the low byte.
    let code: i32 = d.code()?.parse().ok()?;
    match code & 0xff {
        8 => Some(WriteFault::ReadOnly), // SQLITE_READONLY
        13 => Some(WriteFault::Full),    // SQLITE_FULL
        10 => Some(WriteFault::Io),      // SQLITE_IOERR
        _ => None,
    }
}

/// SQLSTATEs of a server that is going away or a database that is gone: class 08 (connection
/// exception), 57P01-57P03 (shutdown, crash, cannot connect now), 3D000 (no such database).
fn unreachable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "3D000")
}
