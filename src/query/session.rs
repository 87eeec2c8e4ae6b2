//! One dedicated connection for one run: opening it with the run's limits, wrapping each statement in the
//! read-only transaction a viewer gets, streaming a statement's rows, and cancelling from elsewhere.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{self, AssertSqlSafe, Connection, Either, Executor, Row as _, SqlSafeStr, Statement as _};

use super::decode;
use super::{Cell, Column};
use crate::config::{Backend, DatabaseUrl};
use crate::error::{Error, Result};

/// How to stop what a session is running, from another task.
#[derive(Clone, Debug)]
pub(crate) enum Kill {
    Pg {
        url: DatabaseUrl,
        pid: i32,
    },
    MySql {
        url: DatabaseUrl,
        id: u64,
    },
    /// Checked by SQLite's progress handler while a statement runs.
    Sqlite(Arc<AtomicBool>),
}

impl Kill {
    /// Asks the server to cancel the statement running now (the session stays open).
    pub(crate) async fn cancel(&self) {
        let outcome = match self {
            Kill::Pg { url, pid } => match pg_connect(url, None).await {
                Ok(mut c) => {
                    let r = sqlx::query("SELECT pg_cancel_backend($1)").bind(*pid).execute(&mut c).await.map(|_| ());
                    c.close().await.ok();
                    r
                }
                Err(e) => Err(e),
            },
            Kill::MySql { url, id } => match mysql_connect(url).await {
                Ok(mut c) => {
                    let r = c.execute(AssertSqlSafe(format!("KILL QUERY {id}"))).await.map(|_| ());
                    c.close().await.ok();
                    r
                }
                Err(e) => Err(e),
            },
            Kill::Sqlite(stop) => {
                stop.store(true, Ordering::SeqCst);
                Ok(())
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "cannot cancel a running query on the server");
        }
    }
}

enum Conn {
    Pg(PgConnection),
    MySql(MySqlConnection),
    Sqlite(SqliteConnection),
}

/// What streaming a statement yields.
pub(crate) enum Item {
    Row(Vec<Cell>),
    /// Columns of the first row.
    Columns(Vec<Column>),
    Done(u64),
}

pub(crate) struct Session {
    conn: Conn,
    pub(crate) kill: Kill,
    read_only: bool,
    /// Each statement runs in a transaction that is rolled back afterwards (EXPLAIN ANALYZE).
    discard: bool,
    /// MariaDB viewers: the random XA transaction id of the statement running now.
    xid: Option<String>,
    /// SQLite: the file's connect URL and when the connection was opened (see [`super::sqlite_kept`]).
    sqlite: Option<(String, Instant)>,
}

fn loopback(url: &DatabaseUrl) -> bool {
    crate::db::loopback_without_tls_choice(url)
}

async fn pg_connect(url: &DatabaseUrl, app: Option<&str>) -> Result<PgConnection, sqlx::Error> {
    let mut opts = PgConnectOptions::from_str(url.connect_url())?.application_name(app.unwrap_or("strata cancel"));
    if loopback(url) {
        opts = opts.ssl_mode(PgSslMode::Disable);
    }
    if let Some(path) = url.search_path() {
        opts = opts.options([("search_path", path)]);
    }
    PgConnection::connect_with(&opts).await
}

async fn mysql_connect(url: &DatabaseUrl) -> Result<MySqlConnection, sqlx::Error> {
    let mut opts = MySqlConnectOptions::from_str(url.connect_url())?;
    if loopback(url) {
        opts = opts.ssl_mode(MySqlSslMode::Disabled);
    }
    MySqlConnection::connect_with(&opts).await
}

fn connect_error(url: &DatabaseUrl, e: sqlx::Error) -> Error {
    Error::Connect { url: url.masked(), reason: crate::config::mask_url_str(&crate::db::connect_error_text(&e, url)) }
}

fn setup_error(e: sqlx::Error) -> Error {
    Error::Internal(format!("cannot prepare the query session: {}", crate::error::sqlx_text(&e)))
}

/// The cheapest statement that makes SQLite load a connection's schema: preparing it needs `sqlite_schema`, and
/// it returns no row.
const SQLITE_LOAD_SCHEMA: &str = "SELECT 1 FROM sqlite_schema LIMIT 0";

fn sql(s: &str) -> sqlx::SqlStr {
    AssertSqlSafe(s.to_string()).into_sql_str()
}

impl Session {
    /// Opens a fresh connection (never one from the app pool) set up for one run.
    pub(crate) async fn open(url: &DatabaseUrl, read_only: bool, timeout: Duration) -> Result<Session> {
        let ms = timeout.as_millis().max(1);
        match url.backend() {
            Backend::Postgres => {
                let mut c = pg_connect(url, Some("strata query")).await.map_err(|e| connect_error(url, e))?;
                // The limits and the backend's pid in one round trip (one simple query, committed as one).
                let mut setup = format!("SET statement_timeout = {ms}; ");
                if read_only {
                    setup.push_str("SET default_transaction_read_only = on; ");
                }
                setup.push_str("SELECT pg_backend_pid()");
                let row = sqlx::raw_sql(sql(&setup)).fetch_one(&mut c).await.map_err(setup_error)?;
                let pid: i32 = row.try_get(0).map_err(setup_error)?;
                Ok(Session {
                    conn: Conn::Pg(c),
                    kill: Kill::Pg { url: url.clone(), pid },
                    read_only,
                    discard: false,
                    xid: None,
                    sqlite: None,
                })
            }
            Backend::MySql => {
                let mut c = mysql_connect(url).await.map_err(|e| connect_error(url, e))?;
                let id: u64 =
                    sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(&mut c).await.map_err(setup_error)?;
                // MariaDB counts seconds; MySQL has max_execution_time (ms, SELECT only) instead.
                let secs = format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0);
                if c.execute(sql(&secs)).await.is_err() {
                    c.execute(sql(&format!("SET SESSION max_execution_time = {ms}"))).await.map_err(setup_error)?;
                }
                if read_only {
                    c.execute("SET SESSION TRANSACTION READ ONLY").await.map_err(setup_error)?;
                }
                Ok(Session {
                    conn: Conn::MySql(c),
                    kill: Kill::MySql { url: url.clone(), id },
                    read_only,
                    discard: false,
                    xid: None,
                    sqlite: None,
                })
            }
            Backend::Sqlite => {
                // A connection an earlier run of this file and mode left clean has its schema loaded already.
                if let Some(k) = super::sqlite_kept::take(url.connect_url(), read_only).await {
                    return Ok(Session {
                        conn: Conn::Sqlite(k.conn),
                        kill: Kill::Sqlite(k.stop),
                        read_only,
                        discard: false,
                        xid: None,
                        sqlite: Some((url.connect_url().to_string(), k.opened)),
                    });
                }
                let opened = Instant::now();
                let mut opts = SqliteConnectOptions::from_str(url.connect_url())
                    .map_err(|e| connect_error(url, e))?
                    .foreign_keys(true)
                    // A watched file that is gone is an error, never an empty database created in its place.
                    .create_if_missing(false)
                    .busy_timeout(Duration::from_secs(5));
                if read_only {
                    // Opened read-only: no pragma, ATTACH or statement can write through this connection.
                    opts = opts.read_only(true).create_if_missing(false);
                }
                let mut c = SqliteConnection::connect_with(&opts).await.map_err(|e| connect_error(url, e))?;
                // A new SQLite connection parses the whole schema (and loads sqlite_stat1) at its first statement
                // that reads the catalog: about a second at 10,000 tables with 3 indexes each. Done here, it lands
                // on the spare the engine opens in the background after a run, not on the run that uses it.
                c.execute(SQLITE_LOAD_SCHEMA).await.map_err(setup_error)?;
                if read_only {
                    c.execute("PRAGMA query_only = ON").await.map_err(setup_error)?;
                }
                // Last of the set-up, before any user SQL: from here on SQLite refuses Strata's tables,
                // ATTACH (and so VACUUM INTO) and pragma changes on this connection.
                super::sqlite_guard::install(&mut c).await.map_err(setup_error)?;
                let stop = Arc::new(AtomicBool::new(false));
                let flag = stop.clone();
                // The only safe way sqlx offers to interrupt SQLite: a progress handler that says stop.
                c.lock_handle()
                    .await
                    .map_err(setup_error)?
                    .set_progress_handler(1000, move || !flag.load(Ordering::SeqCst));
                Ok(Session {
                    conn: Conn::Sqlite(c),
                    kill: Kill::Sqlite(stop),
                    read_only,
                    discard: false,
                    xid: None,
                    sqlite: Some((url.connect_url().to_string(), opened)),
                })
            }
        }
    }

    /// From now on every statement runs in a transaction that is rolled back after it, whatever it
    /// wrote (a viewer's read-only transaction is already rolled back).
    pub(crate) fn discard_each_statement(&mut self) {
        self.discard = true;
    }

    /// Starts the transaction a viewer's statement runs in (for editors: only in discard mode).
    pub(crate) async fn before(&mut self) -> Result<(), sqlx::Error> {
        if !self.read_only {
            if self.discard {
                let begin = match self.conn {
                    Conn::MySql(_) => "START TRANSACTION",
                    Conn::Pg(_) | Conn::Sqlite(_) => "BEGIN",
                };
                self.execute(begin).await?;
            }
            return Ok(());
        }
        match &mut self.conn {
            Conn::Pg(c) => {
                // Its own transaction per statement: whatever one statement does to the transaction
                // or the session defaults, the next one starts read-only again.
                c.execute("BEGIN READ ONLY").await?;
            }
            Conn::MySql(c) => {
                // The session default is set again (a statement may have changed it), then an XA
                // transaction under a random id: COMMIT, ROLLBACK, DDL's implicit commit and SET
                // autocommit all fail inside an active XA transaction, and only its id ends it.
                c.execute("SET SESSION TRANSACTION READ ONLY").await?;
                let xid = format!("strata-{}", uuid::Uuid::new_v4().simple());
                c.execute(sql(&format!("XA START '{xid}'"))).await?;
                self.xid = Some(xid);
            }
            Conn::Sqlite(_) => {}
        }
        Ok(())
    }

    /// Ends a viewer's (or a discarding) statement transaction, discarding whatever it did.
    pub(crate) async fn after(&mut self) -> Result<(), sqlx::Error> {
        if !self.read_only {
            if self.discard {
                self.execute("ROLLBACK").await?;
            }
            return Ok(());
        }
        match &mut self.conn {
            Conn::Pg(c) => {
                c.execute("ROLLBACK").await?;
            }
            Conn::MySql(c) => {
                if let Some(xid) = self.xid.take() {
                    c.execute(sql(&format!("XA END '{xid}'"))).await?;
                    c.execute(sql(&format!("XA ROLLBACK '{xid}'"))).await?;
                }
            }
            Conn::Sqlite(_) => {}
        }
        Ok(())
    }

    async fn execute(&mut self, text: &'static str) -> Result<(), sqlx::Error> {
        match &mut self.conn {
            Conn::Pg(c) => c.execute(text).await.map(|_| ()),
            Conn::MySql(c) => c.execute(text).await.map(|_| ()),
            Conn::Sqlite(c) => c.execute(text).await.map(|_| ()),
        }
    }

    /// The columns a statement would return, from preparing it (for results without rows).
    pub(crate) async fn columns(&mut self, text: &str) -> Vec<Column> {
        fn cols<C: sqlx::Column>(c: &[C]) -> Vec<Column> {
            c.iter()
                .map(|c| Column {
                    name: c.name().to_string(),
                    type_name: sqlx::TypeInfo::name(c.type_info()).to_string(),
                })
                .collect()
        }
        match &mut self.conn {
            Conn::Pg(c) => c.prepare(sql(text)).await.map(|s| cols(s.columns())).unwrap_or_default(),
            Conn::MySql(c) => c.prepare(sql(text)).await.map(|s| cols(s.columns())).unwrap_or_default(),
            Conn::Sqlite(c) => c.prepare(sql(text)).await.map(|s| cols(s.columns())).unwrap_or_default(),
        }
    }

    /// Streams one statement's results. PostgreSQL and MariaDB get it as a prepared statement (the
    /// extended / binary protocol), which carries exactly one statement. MariaDB cannot prepare a
    /// few commands: an editor's such statement runs as plain text instead, a viewer's fails.
    pub(crate) fn stream<'a>(
        &'a mut self,
        text: &'a str,
        text_protocol: bool,
    ) -> BoxStream<'a, Result<Item, sqlx::Error>> {
        let mut first = true;
        macro_rules! items {
            ($s:expr, $decode:path) => {
                $s.flat_map(move |r| {
                    let items: Vec<Result<Item, sqlx::Error>> = match r {
                        Err(e) => vec![Err(e)],
                        Ok(Either::Left(done)) => vec![Ok(Item::Done(done.rows_affected()))],
                        Ok(Either::Right(row)) => {
                            let mut v = Vec::with_capacity(2);
                            if std::mem::take(&mut first) {
                                v.push(Ok(Item::Columns(decode::columns_of(&row))));
                            }
                            v.push(Ok(Item::Row($decode(&row))));
                            v
                        }
                    };
                    futures::stream::iter(items)
                })
                .boxed()
            };
        }
        match &mut self.conn {
            Conn::Pg(c) => items!(c.fetch_many(sqlx::query(AssertSqlSafe(text)).persistent(false)), decode::pg_row),
            Conn::MySql(c) => {
                if text_protocol {
                    items!(c.fetch_many(AssertSqlSafe(text)), decode::mysql_row)
                } else {
                    // Kept in the session's statement cache (bounded, closed with the session after this one run):
                    // a statement closed after each use costs a COM_STMT_CLOSE that gets no reply, and the next
                    // PREPARE then waits ~40 ms for its delayed ACK (sqlx sets no TCP_NODELAY) — 10,000 statements
                    // took 7.7 minutes that way.
                    items!(c.fetch_many(sqlx::query(AssertSqlSafe(text)).persistent(true)), decode::mysql_row)
                }
            }
            Conn::Sqlite(c) => {
                items!(c.fetch_many(sqlx::query(AssertSqlSafe(text)).persistent(false)), decode::sqlite_row)
            }
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self.conn {
            Conn::Pg(_) => Backend::Postgres,
            Conn::MySql(_) => Backend::MySql,
            Conn::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub(crate) fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the connection still answers (a spare opened a while ago may have been closed by the server).
    pub(crate) async fn ping(&mut self) -> bool {
        let r = match &mut self.conn {
            Conn::Pg(c) => c.ping().await,
            Conn::MySql(c) => c.ping().await,
            Conn::Sqlite(c) => c.ping().await,
        };
        r.is_ok()
    }

    /// Closes the connection; `hard` when a statement may still be running or unread.
    /// On SQLite a connection the run left clean is kept for the next session instead (see [`super::sqlite_kept`]).
    pub(crate) async fn close(self, hard: bool) {
        let Session { conn, kill, read_only, sqlite, .. } = self;
        let r = match (conn, hard) {
            (Conn::Pg(c), false) => c.close().await,
            (Conn::Pg(c), true) => c.close_hard().await,
            (Conn::MySql(c), false) => c.close().await,
            (Conn::MySql(c), true) => c.close_hard().await,
            (Conn::Sqlite(c), false) => match (kill, sqlite) {
                (Kill::Sqlite(stop), Some((url, opened))) => {
                    super::sqlite_kept::keep_or_close(&url, read_only, c, stop, opened).await;
                    return;
                }
                _ => c.close().await,
            },
            (Conn::Sqlite(c), true) => c.close_hard().await,
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "closing a query connection");
        }
    }
}
