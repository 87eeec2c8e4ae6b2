//! Sessions of the current database on MariaDB/MySQL: who runs what, who waits for whom, KILL QUERY/CONNECTION.
//!
//! As on PostgreSQL, only sessions whose current database is Strata's are listed or killed, so the
//! dashboard of one database cannot reach into another. The connection that reads the list is Strata's
//! own and is marked so (application "strata (this page)") rather than hidden.
//!
//! States follow PostgreSQL's words where they mean the same: `Query` and `Execute` are `active`, `Sleep` is `idle`, or
//! `idle in transaction` when InnoDB has an open transaction for it; other commands show lower-cased.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sea_orm::FromQueryResult;
use sea_orm::sqlx::{Executor, Row};

use super::{MySql, db_error};
use crate::db::introspect::{Activity, Session, group_counts};
use crate::error::{Error, Result};

/// Sessions of the current database, longest first. `{elapsed_ms}`: see [`elapsed_ms_expr`].
const SESSIONS_SQL: &str = r"
SELECT CAST(p.ID AS SIGNED) AS id, p.USER AS user_name, p.HOST AS host, p.COMMAND AS command,
       CAST({elapsed_ms} AS SIGNED) AS elapsed_ms, p.STATE AS state, p.INFO AS info,
       CAST(p.ID = CONNECTION_ID() AS SIGNED) AS own
FROM information_schema.PROCESSLIST p
WHERE p.DB = DATABASE()
ORDER BY p.COMMAND IN ('Query', 'Execute') DESC, elapsed_ms DESC, p.ID";

/// Who waits for whom (thread ids), from InnoDB's lock waits.
const LOCK_WAITS_SQL: &str = r"
SELECT CAST(r.trx_mysql_thread_id AS SIGNED) AS waiting, CAST(b.trx_mysql_thread_id AS SIGNED) AS blocking
FROM information_schema.INNODB_LOCK_WAITS w
JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id
JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id";

/// Threads with an open InnoDB transaction.
const TRANSACTIONS_SQL: &str =
    "SELECT CAST(t.trx_mysql_thread_id AS SIGNED) AS thread FROM information_schema.INNODB_TRX t";

/// `?`: a thread id. 1 when it is another session of the current database.
const KILLABLE_SQL: &str = r"
SELECT COUNT(*) FROM information_schema.PROCESSLIST p
WHERE p.ID = ? AND p.ID <> CONNECTION_ID() AND p.DB = DATABASE()";

/// ER_NO_SUCH_THREAD: the thread ended between the check and the KILL.
const NO_SUCH_THREAD: u16 = 1094;

#[derive(FromQueryResult)]
struct SessionRow {
    id: i64,
    user_name: Option<String>,
    host: Option<String>,
    command: String,
    elapsed_ms: Option<i64>,
    state: Option<String>,
    info: Option<String>,
    own: i64,
}

#[derive(FromQueryResult)]
struct WaitRow {
    waiting: i64,
    blocking: i64,
}

#[derive(FromQueryResult)]
struct TransactionRow {
    thread: i64,
}

/// What to kill.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kill {
    Query,
    Connection,
}

/// The running time of a PROCESSLIST row `p` in milliseconds: MariaDB has `TIME_MS`, MySQL whole seconds.
pub(super) fn elapsed_ms_expr(mariadb: bool) -> &'static str {
    if mariadb { "p.TIME_MS" } else { "p.TIME * 1000" }
}

/// True for a thread running a statement: `Query`, or `Execute` for a prepared one (what drivers send).
pub(super) fn is_running(command: &str) -> bool {
    matches!(command, "Query" | "Execute")
}

/// A PROCESSLIST command in PostgreSQL's words where they mean the same.
pub(super) fn state_label(command: &str, in_transaction: bool) -> String {
    match command {
        "Query" | "Execute" => "active".into(),
        "Sleep" if in_transaction => "idle in transaction".into(),
        "Sleep" => "idle".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// The client's host without its port (`10.0.0.5:51234` → `10.0.0.5`, `[::1]:5000` → `::1`).
fn client_host(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn summarize(rows: Vec<SessionRow>, waits: &[WaitRow], transactions: &BTreeSet<i64>, threshold: Duration) -> Activity {
    let threshold_ms = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
    let mut blockers: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for w in waits {
        let list = blockers.entry(w.waiting).or_default();
        if !list.contains(&w.blocking) {
            list.push(w.blocking);
        }
    }
    let long_running = rows
        .iter()
        .filter(|r| is_running(&r.command) && r.own == 0 && r.elapsed_ms.is_some_and(|ms| ms > threshold_ms))
        .map(|r| r.id)
        .collect();
    let sessions: Vec<Session> = rows
        .into_iter()
        .map(|r| {
            let blocked_by = blockers.get(&r.id).cloned().unwrap_or_default();
            let state = state_label(&r.command, transactions.contains(&r.id));
            let wait_event = if blocked_by.is_empty() {
                r.state.filter(|s| !s.is_empty())
            } else {
                Some(format!("Lock: {}", r.state.filter(|s| !s.is_empty()).unwrap_or_else(|| "row lock".into())))
            };
            Session {
                pid: r.id,
                user: r.user_name,
                application: (r.own != 0).then(|| "strata (this page)".to_string()),
                client_addr: r.host.as_deref().map(client_host).map(str::to_string),
                state: Some(state),
                wait_event,
                query: r.info.filter(|q| !q.is_empty()),
                query_started_at: None,
                duration_ms: r.elapsed_ms,
                blocked_by,
            }
        })
        .map(|mut s| {
            if s.state.as_deref() == Some("active") {
                s.query_started_at = s.duration_ms.map(|ms| chrono::Utc::now() - chrono::TimeDelta::milliseconds(ms));
            }
            s
        })
        .collect();
    Activity {
        by_state: group_counts(sessions.iter().map(|s| s.state.as_deref().unwrap_or("unknown"))),
        // MariaDB/MySQL sessions carry no application name.
        by_application: Vec::new(),
        by_user: group_counts(sessions.iter().map(|s| s.user.as_deref().unwrap_or("(none)"))),
        by_client: group_counts(sessions.iter().map(|s| s.client_addr.as_deref().unwrap_or("local"))),
        long_running,
        sessions,
    }
}

impl MySql {
    pub(super) async fn read_activity(&self, long_query_threshold: Duration) -> Result<Activity> {
        let features = self.features().await;
        let sql = SESSIONS_SQL.replace("{elapsed_ms}", elapsed_ms_expr(features.mariadb));
        let rows: Vec<SessionRow> = self.all(&sql, []).await?;
        let (waits, transactions) = if features.lock_waits {
            let waits: Vec<WaitRow> = self.all(LOCK_WAITS_SQL, []).await?;
            let trx: Vec<TransactionRow> = self.all(TRANSACTIONS_SQL, []).await?;
            (waits, trx.into_iter().map(|t| t.thread).collect())
        } else {
            (Vec::new(), BTreeSet::new())
        };
        Ok(summarize(rows, &waits, &transactions, long_query_threshold))
    }

    /// Kills a statement or a session of the current database; false when there is no such other session.
    ///
    /// The check and the KILL run on one connection, so "not this very connection" holds for the KILL.
    pub(super) async fn kill(&self, pid: i64, what: Kill) -> Result<bool> {
        if pid <= 0 {
            return Ok(false);
        }
        let sqlx_error = |e: sea_orm::sqlx::Error| {
            db_error(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e))))
        };
        let mut conn = self.db.get_mysql_connection_pool().acquire().await.map_err(sqlx_error)?;
        let found = conn.fetch_one(sea_orm::sqlx::query(KILLABLE_SQL).bind(pid)).await.map_err(sqlx_error)?;
        let found: i64 = found.try_get(0).map_err(sqlx_error)?;
        if found == 0 {
            return Ok(false);
        }
        // The id is an integer, formatted, never text from the request.
        let sql = match what {
            Kill::Query => format!("KILL QUERY {pid}"),
            Kill::Connection => format!("KILL CONNECTION {pid}"),
        };
        match conn.execute(sea_orm::sqlx::AssertSqlSafe(sql)).await {
            Ok(_) => Ok(true),
            Err(e) => match sqlx_error(e) {
                Error::Db(db) if super::error_number(&db) == Some(NO_SUCH_THREAD) => Ok(false),
                other => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, command: &str, ms: i64, host: &str) -> SessionRow {
        SessionRow {
            id,
            user_name: Some("app".into()),
            host: Some(host.into()),
            command: command.into(),
            elapsed_ms: Some(ms),
            state: Some(if is_running(command) { "User sleep".into() } else { String::new() }),
            info: (is_running(command)).then(|| "SELECT SLEEP(30)".into()),
            own: 0,
        }
    }

    #[test]
    fn sessions_are_labelled_grouped_and_long_queries_found() {
        let mut own = row(9, "Query", 99_000, "localhost");
        own.own = 1;
        let rows = vec![
            row(1, "Query", 5_000, "10.0.0.5:51234"),
            row(2, "Sleep", 60_000, "10.0.0.5:51300"),
            row(3, "Sleep", 10, "[::1]:4000"),
            row(4, "Execute", 10, "localhost"),
            own,
        ];
        let waits = [WaitRow { waiting: 4, blocking: 2 }, WaitRow { waiting: 4, blocking: 2 }];
        let a = summarize(rows, &waits, &BTreeSet::from([2]), Duration::from_secs(1));
        assert_eq!(a.long_running, [1], "Strata's own statement is not a long-running one");
        let by_id = |id: i64| a.sessions.iter().find(|s| s.pid == id).unwrap();
        assert_eq!(by_id(2).state.as_deref(), Some("idle in transaction"));
        assert_eq!(by_id(3).state.as_deref(), Some("idle"));
        assert_eq!(by_id(4).blocked_by, [2]);
        assert_eq!(by_id(4).wait_event.as_deref(), Some("Lock: User sleep"));
        assert_eq!(by_id(9).application.as_deref(), Some("strata (this page)"));
        assert_eq!(by_id(1).client_addr.as_deref(), Some("10.0.0.5"));
        assert_eq!(by_id(3).client_addr.as_deref(), Some("::1"));
        assert!(by_id(1).query_started_at.is_some() && by_id(2).query_started_at.is_none());
        assert_eq!(a.by_client[0], ("10.0.0.5".to_string(), 2));
        assert_eq!(a.by_state[0], ("active".to_string(), 3));
        assert!(a.by_application.is_empty());
    }

    #[test]
    fn commands_read_like_postgres_states() {
        assert_eq!(state_label("Query", false), "active");
        assert_eq!(state_label("Sleep", true), "idle in transaction");
        assert_eq!(state_label("Binlog Dump", false), "binlog dump");
        assert_eq!(client_host("localhost"), "localhost");
    }
}
