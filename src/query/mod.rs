//! The query editor's execution engine: runs a text of statements on a dedicated connection, streams
//! capped results, enforces read-only for viewers in the database, times out and cancels server-side.
//!
//! A run stops at the first statement that fails, times out or is cancelled; the statements after it
//! are omitted from [`Run::statements`].

mod decode;
pub mod explain;
pub mod export;
mod session;
pub mod split;
mod sqlite_guard;
mod sqlite_kept;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sea_orm::sqlx;
use tokio::sync::Notify;

use crate::config::{Backend, DatabaseUrl};
use crate::error::Result;
use crate::viewer_login::Logins;
use session::{Item, Kill, Session};

pub use explain::{Explained, Plan, PlanNode, Weight};
pub use export::{ExportEnd, ExportFormat};

/// How one run may behave.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// A viewer's run: the database refuses writes.
    pub read_only: bool,
    /// The limit for each statement.
    pub timeout: Duration,
    /// The most rows kept per statement.
    pub max_rows: usize,
    /// Who runs it (listed in the running-statements registry).
    pub user: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The database's type name as the driver reports it (`INT4`, `NUMERIC`, `VARCHAR`, ...).
    pub type_name: String,
}

/// One value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Text(String),
    /// JSON, pretty-printed.
    Json(String),
    /// Bytes (bytea, BLOB, BINARY); shown as hex.
    Binary(Vec<u8>),
    /// A number as exact text.
    Number(String),
    Bool(bool),
}

impl Cell {
    /// `\x`-prefixed lower-case hex, as PostgreSQL prints bytea.
    pub fn hex(bytes: &[u8]) -> String {
        let mut s = String::with_capacity(2 + bytes.len() * 2);
        s.push_str("\\x");
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Error {
        message: String,
        /// Byte offset in the whole text, when the database says where.
        position: Option<usize>,
    },
    Cancelled,
    Timeout,
}

#[derive(Clone, Debug)]
pub struct StatementResult {
    pub sql: String,
    /// Byte offset of `sql` in the whole text.
    pub offset: usize,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// More rows existed than `max_rows`; they were not fetched.
    pub more_rows: bool,
    /// For statements without a result set: the rows they changed.
    pub rows_affected: Option<u64>,
    pub duration: Duration,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub struct Run {
    pub id: i64,
    /// The statements that ran, in order, up to and including the first that did not succeed.
    pub statements: Vec<StatementResult>,
    /// Opens the next run's session once dropped (see [`NextSession`]).
    pub next: NextSession,
}

/// Opens the next run's session, in the background, when dropped: keep it until the run's answer is written (its
/// history row, its page), so that a new server session does not compete with it for the same cores.
#[derive(Debug)]
pub struct NextSession {
    engine: Engine,
    kind: SessionKind,
}

impl Drop for NextSession {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            self.engine.refill(self.kind);
        }
    }
}

/// What another request needs to stop a run.
#[derive(Debug, Default)]
struct Control {
    /// The account that started the run (only it, or an admin, may cancel it).
    owner: String,
    kill: Mutex<Option<Kill>>,
    cancelled: AtomicBool,
    wake: Notify,
}

#[derive(Debug)]
struct Inner {
    url: DatabaseUrl,
    /// Which login read-only runs use (`viewer_url`, the created viewer login, the main one, or none).
    logins: Arc<Logins>,
    next_id: AtomicI64,
    runs: Mutex<HashMap<i64, Arc<Control>>>,
    /// A session opened ahead of the next run (see [`Engine::session`]).
    spare: Mutex<Option<Spare>>,
    refilling: AtomicBool,
}

/// How a session was set up: a spare serves only a run that wants the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SessionKind {
    read_only: bool,
    timeout: Duration,
}

/// A fresh session nobody has used yet, kept for the next run.
struct Spare {
    kind: SessionKind,
    /// The login it was opened with: after the read-only login changed, a spare of the old one is not used.
    url: DatabaseUrl,
    session: Session,
    opened: Instant,
}

impl std::fmt::Debug for Spare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spare").field("kind", &self.kind).field("opened", &self.opened).finish_non_exhaustive()
    }
}

/// A spare older than this is closed rather than used (servers and proxies drop idle connections).
const SPARE_MAX_AGE: Duration = Duration::from_secs(60);

/// Runs the query editor's statements; cheap to clone (all clones share the runs, for cancel).
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Unlists a run when it ends; a run dropped mid-statement (the client went away) is cancelled
/// on the server.
struct RunGuard {
    engine: Engine,
    id: i64,
    control: Arc<Control>,
    finished: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.engine.inner.runs.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
        if !self.finished {
            let kill = self.control.kill.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let (Some(kill), Ok(rt)) = (kill, tokio::runtime::Handle::try_current()) {
                rt.spawn(async move { kill.cancel().await });
            }
        }
    }
}

impl Engine {
    /// An engine for the app's database on its own: read-only runs use the main login only when it can do
    /// nothing but read, and are refused otherwise (see [`Logins`]).
    pub fn new(url: DatabaseUrl) -> Engine {
        let logins = Arc::new(Logins::new(url.clone(), None));
        Engine::with_logins(url, logins)
    }

    /// Read-only runs connect with this login instead (a role with read grants only is the one guard that
    /// also covers what a read-only transaction allows a privileged login).
    pub fn with_viewer_url(url: DatabaseUrl, viewer_url: DatabaseUrl) -> Engine {
        let logins = Arc::new(Logins::new(url.clone(), Some(viewer_url)));
        Engine::with_logins(url, logins)
    }

    /// Read-only runs use the login `logins` decides on.
    pub fn with_logins(url: DatabaseUrl, logins: Arc<Logins>) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                url,
                logins,
                next_id: AtomicI64::new(1),
                runs: Mutex::new(HashMap::new()),
                spare: Mutex::new(None),
                refilling: AtomicBool::new(false),
            }),
        }
    }

    /// Which login read-only runs use.
    pub fn logins(&self) -> &Arc<Logins> {
        &self.inner.logins
    }

    pub fn backend(&self) -> Backend {
        self.inner.url.backend()
    }

    /// Reserves a run id, so that the caller can hand it out (for cancel) before the run starts.
    pub fn new_run_id(&self) -> i64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The ids of the runs in progress.
    pub fn running(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.lock_runs().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Who started a run in progress; `None` when no such run is in progress.
    pub fn owner(&self, run_id: i64) -> Option<String> {
        self.lock_runs().get(&run_id).map(|c| c.owner.clone())
    }

    fn lock_runs(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Control>>> {
        self.inner.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The login a run connects with: the main one for writes; for read-only runs the one [`Logins`] decides
    /// on, or the refusal when there is none that can only read (never silently the privileged main login).
    async fn url_for(&self, read_only: bool) -> Result<DatabaseUrl> {
        if read_only { self.inner.logins.read_url().await } else { Ok(self.inner.url.clone()) }
    }

    /// A session for one run. Opening one costs a connection set-up (on PostgreSQL a new server process,
    /// most of a `select 1` round trip), so after each run the engine opens the next one in the background
    /// (see [`Engine::finish`]). A session serves exactly one run and is closed after it: nothing a run changes
    /// in its session (settings, temporary tables, prepared statements) can reach another run.
    pub(crate) async fn session(&self, read_only: bool, timeout: Duration) -> Result<Session> {
        let kind = SessionKind { read_only, timeout };
        let url = self.url_for(read_only).await?;
        let spare = self.inner.spare.lock().unwrap_or_else(|p| p.into_inner()).take();
        let ready = match spare {
            Some(mut s) if s.kind == kind && s.url == url && s.opened.elapsed() < SPARE_MAX_AGE => {
                if s.session.ping().await { Some(s.session) } else { None }
            }
            Some(s) => {
                s.session.close(false).await;
                None
            }
            None => None,
        };
        match ready {
            Some(s) => Ok(s),
            None => Session::open(&url, read_only, timeout).await,
        }
    }

    /// Ends a run's session and prepares the next run's: the used session is closed and the spare opened in the
    /// background, after the run rather than beside it. A new server session costs the database far more work
    /// than a short statement (on PostgreSQL a new backend process), and opened while the run's own statements
    /// ran it competed with them for the same cores; the run's answer no longer waits for the close either.
    pub(crate) fn finish(&self, session: Session, timeout: Duration, hard: bool) {
        drop(self.close_later(session, timeout, hard));
    }

    /// Closes a run's session in the background; the next run's is opened when the [`NextSession`] is dropped.
    fn close_later(&self, session: Session, timeout: Duration, hard: bool) -> NextSession {
        let kind = SessionKind { read_only: session.read_only(), timeout };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(session.close(hard))),
            Err(_) => tracing::debug!("no runtime to close a query session on: dropped"),
        }
        NextSession { engine: self.clone(), kind }
    }

    /// Opens the next run's session in the background (one at a time; a failure just leaves no spare).
    fn refill(&self, kind: SessionKind) {
        if self.inner.refilling.swap(true, Ordering::SeqCst) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let opened = match engine.url_for(kind.read_only).await {
                Ok(url) => Session::open(&url, kind.read_only, kind.timeout).await.map(|s| (url, s)),
                Err(e) => Err(e),
            };
            match opened {
                Ok((url, session)) => {
                    let old = engine.inner.spare.lock().unwrap_or_else(|p| p.into_inner()).replace(Spare {
                        kind,
                        url,
                        session,
                        opened: Instant::now(),
                    });
                    if let Some(old) = old {
                        old.session.close(false).await;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot open a spare query session"),
            }
            engine.inner.refilling.store(false, Ordering::SeqCst);
        });
    }

    /// Cancels a run: the statement running now stops on the server and the run ends with
    /// [`Outcome::Cancelled`]. False when no such run is in progress.
    pub async fn cancel(&self, run_id: i64) -> bool {
        let Some(control) = self.lock_runs().get(&run_id).cloned() else { return false };
        control.cancelled.store(true, Ordering::SeqCst);
        let kill = control.kill.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(kill) = kill {
            kill.cancel().await;
        }
        // Also stop waiting Strata-side, in case the server did not answer the cancel.
        control.wake.notify_one();
        true
    }

    /// Lists a run under `id`; an id already in use (a form submitted twice) is refused, so that one
    /// run can never unlist or cancel another.
    fn enter(&self, id: i64, owner: &str) -> Result<RunGuard> {
        let control = Arc::new(Control { owner: owner.to_string(), ..Control::default() });
        match self.lock_runs().entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => {
                return Err(crate::error::Error::BadRequest(format!(
                    "run {id} is already running: wait for it, or reload the editor to start another"
                )));
            }
            std::collections::hash_map::Entry::Vacant(v) => v.insert(control.clone()),
        };
        Ok(RunGuard { engine: self.clone(), id, control, finished: false })
    }

    /// Runs `text` under a fresh run id.
    pub async fn run(&self, text: &str, opts: &RunOptions) -> Result<Run> {
        self.run_as(self.new_run_id(), text, opts).await
    }

    /// Runs `text` statement by statement on a dedicated connection, stopping at the first that does not
    /// succeed. Err only when the connection cannot be opened or set up.
    pub async fn run_as(&self, id: i64, text: &str, opts: &RunOptions) -> Result<Run> {
        let mut guard = self.enter(id, &opts.user)?;
        let mut session = self.session(opts.read_only, opts.timeout).await?;
        *guard.control.kill.lock().unwrap_or_else(|p| p.into_inner()) = Some(session.kill.clone());
        let mut statements = Vec::new();
        let mut clean = true;
        for piece in split::split(text, session.backend()) {
            let mut result = StatementResult {
                sql: String::new(), // the piece's own text, moved in below
                offset: piece.offset,
                columns: Vec::new(),
                rows: Vec::new(),
                more_rows: false,
                rows_affected: None,
                duration: Duration::ZERO,
                outcome: Outcome::Success,
            };
            if guard.control.cancelled.load(Ordering::SeqCst) {
                // Cancelled before this statement was sent (while the connection opened, say): it is shown and
                // recorded as cancelled, never silently dropped.
                result.sql = piece.sql;
                result.outcome = Outcome::Cancelled;
                clean = false;
                statements.push(result);
                break;
            }
            let _listed = crate::db::running::register(&opts.user, &piece.sql);
            let started = Instant::now();
            let outcome = self.statement(&mut session, &guard.control, &piece, opts, &mut result).await;
            result.duration = started.elapsed();
            drop(_listed);
            result.sql = piece.sql;
            let stop = outcome != Outcome::Success;
            if matches!(outcome, Outcome::Timeout | Outcome::Cancelled) {
                clean = false;
            }
            result.outcome = outcome;
            statements.push(result);
            if stop {
                break;
            }
        }
        guard.finished = true;
        let next = self.close_later(session, opts.timeout, !clean);
        Ok(Run { id, statements, next })
    }

    /// One statement with its read-only wrapper, Strata-side timeout and cancel.
    async fn statement(
        &self,
        session: &mut Session,
        control: &Control,
        piece: &split::Piece,
        opts: &RunOptions,
        result: &mut StatementResult,
    ) -> Outcome {
        // The server's own limit fires first; this one covers a server that does not answer.
        let strata_limit = match session.backend() {
            Backend::Sqlite => opts.timeout,
            _ => opts.timeout + Duration::from_millis(500),
        };
        let work = async {
            session.before().await?;
            let fetched = fetch(session, &piece.sql, opts.max_rows, result).await;
            // The columns come with the first row: a statement that returned none showed none, and looked
            // like a write ("0 rows affected"). Preparing it again says whether it has a result set.
            if fetched.is_ok() && result.columns.is_empty() {
                result.columns = session.columns(&piece.sql).await;
                if !result.columns.is_empty() {
                    result.rows_affected = None;
                }
            }
            let ended = session.after().await;
            fetched.and(ended)
        };
        let raced = tokio::select! {
            r = tokio::time::timeout(strata_limit, work) => r,
            _ = control.wake.notified() => return Outcome::Cancelled,
        };
        match raced {
            Ok(Ok(())) => Outcome::Success,
            Err(_elapsed) => {
                session.kill.cancel().await;
                if control.cancelled.load(Ordering::SeqCst) { Outcome::Cancelled } else { Outcome::Timeout }
            }
            Ok(Err(e)) => {
                let outcome = error_outcome(&e, piece);
                if control.cancelled.load(Ordering::SeqCst) && outcome != Outcome::Timeout {
                    return Outcome::Cancelled;
                }
                // Leave a failed viewer transaction (the statement's error comes first).
                if let Outcome::Error { .. } = outcome
                    && let Err(e2) = session.after().await
                {
                    tracing::debug!(error = %e2, "ending a failed read-only statement transaction");
                }
                outcome
            }
        }
    }
}

/// Fetches up to `max_rows` (+1 to know there are more), then drops the stream.
async fn fetch(
    session: &mut Session,
    text: &str,
    max_rows: usize,
    result: &mut StatementResult,
) -> Result<(), sqlx::Error> {
    let read_only = session.read_only();
    let mysql = session.backend() == Backend::MySql;
    let mut text_protocol = false;
    loop {
        let mut affected: Option<u64> = None;
        let mut stream = session.stream(text, text_protocol);
        let mut failed = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(Item::Columns(c)) => {
                    if result.columns.is_empty() {
                        result.columns = c;
                    }
                }
                Ok(Item::Row(r)) => {
                    if result.rows.len() >= max_rows {
                        result.more_rows = true;
                        break;
                    }
                    result.rows.push(r);
                }
                Ok(Item::Done(n)) => *affected.get_or_insert(0) += n,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(stream);
        match failed {
            // 1295: this command is not supported in the prepared statement protocol.
            Some(e) if mysql && !read_only && !text_protocol && mysql_number(&e) == Some(1295) => {
                text_protocol = true;
                continue;
            }
            Some(e) => return Err(e),
            None => {}
        }
        if result.columns.is_empty() && !result.more_rows {
            result.rows_affected = affected;
        }
        return Ok(());
    }
}

fn mysql_number(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()?.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|d| d.number())
}

/// Turns a statement's error into an outcome: timeouts and cancels by their codes, errors with positions.
fn error_outcome(e: &sqlx::Error, piece: &split::Piece) -> Outcome {
    use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
    let Some(db) = e.as_database_error() else {
        return Outcome::Error { message: e.to_string(), position: None };
    };
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        if pg.code() == "57014" {
            return if pg.message().contains("statement timeout") { Outcome::Timeout } else { Outcome::Cancelled };
        }
        let mut message = format!("{} ({})", pg.message(), pg.code());
        if let Some(d) = pg.detail() {
            message.push_str(&format!("\nDETAIL: {d}"));
        }
        if let Some(h) = pg.hint() {
            message.push_str(&format!("\nHINT: {h}"));
        }
        let position = match pg.position() {
            Some(PgErrorPosition::Original(n)) => Some(piece.offset + char_to_byte(&piece.sql, n.saturating_sub(1))),
            _ => None,
        };
        return Outcome::Error { message, position };
    }
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return match my.number() {
            1317 => Outcome::Cancelled,
            1969 | 3024 => Outcome::Timeout,
            n => Outcome::Error {
                message: format!("{} ({n})", my.message()),
                position: mysql_position(my.message(), &piece.sql).map(|p| piece.offset + p),
            },
        };
    }
    // SQLite: SQLITE_INTERRUPT (9) is the progress handler stopping it.
    if db.code().as_deref() == Some("9") {
        return Outcome::Cancelled;
    }
    Outcome::Error { message: sqlite_guard::message(db.code().as_deref(), db.message()), position: None }
}

fn char_to_byte(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(b, _)| b)
}

/// MariaDB syntax errors say `... near '<rest of the statement>' at line N`: where that rest starts.
fn mysql_position(message: &str, sql: &str) -> Option<usize> {
    let start = message.find("near '")? + "near '".len();
    let end = message.rfind("' at line ")?;
    let line: usize = message[end + "' at line ".len()..].trim().parse().ok()?;
    let near = message.get(start..end)?;
    let line_start = if line <= 1 { 0 } else { sql.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)? };
    if near.is_empty() {
        return Some(sql.len());
    }
    // The server shows at most 80 characters; a shorter prefix is enough to find it.
    let probe: String = near.chars().take(40).collect();
    sql[line_start..].find(&probe).map(|i| line_start + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_in_use_is_refused_and_names_its_owner_until_the_run_ends() {
        let engine = Engine::new(DatabaseUrl::parse("sqlite://").unwrap());
        let guard = engine.enter(7, "alice").expect("a free id");
        assert_eq!(engine.owner(7).as_deref(), Some("alice"));
        let second = engine.enter(7, "mallory");
        assert!(matches!(second, Err(crate::error::Error::BadRequest(_))), "a second run cannot take the id");
        assert_eq!(engine.owner(7).as_deref(), Some("alice"), "nor its ownership");
        drop(guard);
        assert_eq!(engine.owner(7), None);
        assert!(engine.enter(7, "bob").is_ok(), "the id is free again once the run ended");
    }

    #[test]
    fn mysql_near_positions_point_into_the_statement() {
        let sql = "SELECT *\nFROM t WHERE\nx = = 1";
        let msg = "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server \
                   version for the right syntax to use near '= 1' at line 3";
        assert_eq!(mysql_position(msg, sql), Some(sql.find("= 1").unwrap()));
        assert_eq!(mysql_position("... near '' at line 1", "SELECT"), Some(6));
        assert_eq!(mysql_position("Table 'x' doesn't exist", sql), None);
    }

    #[test]
    fn char_positions_become_byte_offsets() {
        assert_eq!(char_to_byte("héllo", 2), 3);
        assert_eq!(char_to_byte("abc", 10), 3);
    }

    #[test]
    fn hex_is_like_bytea() {
        assert_eq!(Cell::hex(&[0, 255, 16]), "\\x00ff10");
    }
}
