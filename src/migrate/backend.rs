//! The runner's backend-specific SQL: the migration lock, table listing, transactional DDL. The one `match` on the backend.

use std::time::{Duration, Instant};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionOptions,
    TransactionTrait,
};

use crate::error::{Error, Result};

/// Advisory-lock key for PostgreSQL: "STRA" "TAMG" as two 32-bit halves (pg_locks shows classid/objid).
const PG_LOCK_KEY: i64 = (0x5354_5241_i64 << 32) | 0x5441_4d47;
const PG_TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1) AS got";
const PG_UNLOCK: &str = "SELECT pg_advisory_unlock($1) AS released";
const PG_HOLDER: &str = "SELECT a.pid::bigint AS pid, coalesce(a.application_name, '') AS app, \
     coalesce(a.client_addr::text, 'local socket') AS addr, to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') AS since \
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
     WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND l.objid::bigint = $2 \
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";
const PG_HELD: &str = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
     AND classid::bigint = $1 AND objid::bigint = $2 \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS got";
const PG_TABLES: &str =
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename";

// MySQL locks are server-wide: the name carries the database so two databases migrate independently.
const MY_TRY_LOCK: &str = "SELECT GET_LOCK(CONCAT('strata_migrate:', DATABASE()), 0) AS got";
const MY_UNLOCK: &str = "SELECT RELEASE_LOCK(CONCAT('strata_migrate:', DATABASE())) AS released";
const MY_HOLDER: &str = "SELECT CAST(p.ID AS SIGNED) AS pid, p.USER AS app, p.HOST AS addr, CAST(p.TIME AS CHAR) AS since \
     FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK(CONCAT('strata_migrate:', DATABASE()))";
const MY_HELD: &str = "SELECT IS_USED_LOCK(CONCAT('strata_migrate:', DATABASE())) IS NOT NULL AS got";
const MY_TABLES: &str = "SELECT TABLE_NAME AS name FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME";

const SQLITE_TABLES: &str =
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";

// Tables and views share one namespace: a CREATE TABLE fails on either.
const PG_RELATIONS: &str = "SELECT c.relname::text AS name FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1";
const MY_RELATIONS: &str =
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME";
const SQLITE_RELATIONS: &str = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
     AND name NOT LIKE 'sqlite_%' ORDER BY name";

/// The busy timeout every other SQLite connection of Strata's uses (see `db::connect`).
const SQLITE_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 5000";

/// How often a waiting runner tries the lock again.
const POLL: Duration = Duration::from_millis(50);

/// The held migration lock. Dropping it without `release` leaves the server to free it when the connection closes.
pub enum Lock {
    /// Session-level advisory lock on the runner's dedicated connection.
    Postgres,
    /// `GET_LOCK` on the runner's dedicated connection.
    MySql,
    /// SQLite has no named locks: the runner works inside one `BEGIN IMMEDIATE` transaction,
    /// and each migration is a savepoint in it.
    Sqlite(DatabaseTransaction),
}

/// Whether the backend rolls DDL back with the transaction around it.
pub fn transactional_ddl(backend: DbBackend) -> bool {
    !matches!(backend, DbBackend::MySql)
}

/// Takes the migration lock, waiting up to `timeout`; `on_wait` hears once who holds it. While it waits, `stop`
/// is asked at each poll: when it says so, the wait ends with an error starting `cancelled while waiting` and
/// nothing has been taken or run.
pub async fn acquire(
    conn: &DatabaseConnection,
    timeout: Duration,
    on_wait: &(dyn Fn(&str) + Sync),
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Lock> {
    let start = Instant::now();
    let mut told = false;
    let sqlite = conn.get_database_backend() == DbBackend::Sqlite;
    if sqlite {
        // Poll for the write lock ourselves, so a waiter can say what it waits for.
        conn.execute_unprepared("PRAGMA busy_timeout = 0").await?;
    }
    loop {
        let got = match conn.get_database_backend() {
            DbBackend::Postgres => {
                try_flag(conn, PG_TRY_LOCK, vec![PG_LOCK_KEY.into()]).await?.then_some(Lock::Postgres)
            }
            DbBackend::MySql => try_flag(conn, MY_TRY_LOCK, vec![]).await?.then_some(Lock::MySql),
            DbBackend::Sqlite => {
                let opts = TransactionOptions {
                    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                    ..Default::default()
                };
                match conn.begin_with_options(opts).await {
                    Ok(txn) => {
                        txn.execute_unprepared(SQLITE_BUSY_TIMEOUT).await?;
                        Some(Lock::Sqlite(txn))
                    }
                    Err(e) if is_sqlite_busy(&e.to_string()) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            other => return Err(Error::Unsupported(format!("migrations on {other:?} are not supported"))),
        };
        if let Some(lock) = got {
            return Ok(lock);
        }
        let holder = holder(conn).await;
        if !told {
            on_wait(&format!("waiting for the migration lock, held by {holder}"));
            told = true;
        }
        if stop() {
            if sqlite {
                conn.execute_unprepared(SQLITE_BUSY_TIMEOUT).await?;
            }
            return Err(Error::Migration(format!(
                "cancelled while waiting for the migration lock, held by {holder}; no migration was run"
            )));
        }
        if start.elapsed() >= timeout {
            if sqlite {
                conn.execute_unprepared(SQLITE_BUSY_TIMEOUT).await?;
            }
            return Err(Error::LockTimeout(format!(
                "gave up after {} s waiting for the migration lock, held by {holder}. \
                 Another `strata migrate` or `strata serve` is probably migrating this database: \
                 wait for it, or raise lock_timeout ([strata] lock_timeout / STRATA_LOCK_TIMEOUT)",
                timeout.as_secs_f64().round()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

impl Lock {
    /// Commits the SQLite transaction or frees the server lock.
    pub async fn release(self, conn: &DatabaseConnection) -> Result<()> {
        match self {
            Lock::Postgres => {
                try_flag(conn, PG_UNLOCK, vec![PG_LOCK_KEY.into()]).await?;
            }
            Lock::MySql => {
                try_flag(conn, MY_UNLOCK, vec![]).await?;
            }
            Lock::Sqlite(txn) => txn.commit().await?,
        }
        Ok(())
    }
}

/// Whether some session holds the migration lock now: a live runner (asked by `status`, which does not take it).
/// SQLite has no lock to ask about: a runner's writes, its `running` rows included, are one transaction
/// nobody else sees until it commits.
pub async fn held(conn: &DatabaseConnection) -> Result<bool> {
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            try_flag(conn, PG_HELD, vec![(PG_LOCK_KEY >> 32).into(), (PG_LOCK_KEY & 0xffff_ffff).into()]).await
        }
        DbBackend::MySql => try_flag(conn, MY_HELD, vec![]).await,
        _ => Ok(false),
    }
}

/// Names every base table in the current schema (for `fresh`).
pub async fn list_tables<C: ConnectionTrait>(db: &C) -> Result<Vec<String>> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => PG_TABLES,
        DbBackend::MySql => MY_TABLES,
        _ => SQLITE_TABLES,
    };
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    rows.iter().map(|r| r.try_get::<String>("", "name").map_err(Error::from)).collect()
}

/// Names every table and view in the current schema (what a `CREATE TABLE` there would clash with).
pub async fn list_relations<C: ConnectionTrait>(db: &C) -> Result<Vec<String>> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => PG_RELATIONS,
        DbBackend::MySql => MY_RELATIONS,
        _ => SQLITE_RELATIONS,
    };
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    rows.iter().map(|r| r.try_get::<String>("", "name").map_err(Error::from)).collect()
}

/// Lets `DROP TABLE` go in any order for the rest of this connection or transaction.
pub async fn relax_foreign_keys<C: ConnectionTrait>(db: &C) -> Result<()> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => return Ok(()), // DROP ... CASCADE handles it
        DbBackend::MySql => "SET FOREIGN_KEY_CHECKS = 0",
        _ => "PRAGMA defer_foreign_keys = ON",
    };
    db.execute_unprepared(sql).await?;
    Ok(())
}

/// Restores what `relax_foreign_keys` changed.
pub async fn restore_foreign_keys<C: ConnectionTrait>(db: &C) -> Result<()> {
    if db.get_database_backend() == DbBackend::MySql {
        db.execute_unprepared("SET FOREIGN_KEY_CHECKS = 1").await?;
    }
    Ok(())
}

async fn try_flag(conn: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> Result<bool> {
    let stmt = Statement::from_sql_and_values(conn.get_database_backend(), sql, values);
    let row = conn.query_one_raw(stmt).await?;
    // GET_LOCK answers 1/0/NULL, pg_try_advisory_lock true/false.
    Ok(match row {
        Some(r) => r
            .try_get::<Option<bool>>("", "got")
            .or_else(|_| r.try_get::<Option<bool>>("", "released"))
            .ok()
            .flatten()
            .or_else(|| {
                r.try_get::<Option<i64>>("", "got")
                    .or_else(|_| r.try_get::<Option<i64>>("", "released"))
                    .ok()
                    .flatten()
                    .map(|v| v == 1)
            })
            .unwrap_or(false),
        None => false,
    })
}

/// Describes the session holding the lock, for the waiting message.
pub async fn holder(conn: &DatabaseConnection) -> String {
    let backend = conn.get_database_backend();
    let stmt = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            PG_HOLDER,
            [(PG_LOCK_KEY >> 32).into(), (PG_LOCK_KEY & 0xffff_ffff).into()],
        ),
        DbBackend::MySql => Statement::from_string(backend, MY_HOLDER),
        _ => return "another connection writing to this SQLite file".to_string(),
    };
    match conn.query_one_raw(stmt).await {
        Ok(Some(row)) => {
            let pid = row.try_get::<i64>("", "pid").map(|p| p.to_string()).unwrap_or_else(|_| "?".into());
            let app = row.try_get::<String>("", "app").unwrap_or_default();
            let addr = row.try_get::<String>("", "addr").unwrap_or_default();
            let since = row.try_get::<String>("", "since").unwrap_or_default();
            match backend {
                DbBackend::MySql => format!("connection {pid} ({app}@{addr}, {since} s in its current state)"),
                _ => format!("backend PID {pid} ({app:?} from {addr}, connected since {since})"),
            }
        }
        _ => "another session (it may have just released it)".to_string(),
    }
}

/// The backend PID of the connection's session (PostgreSQL only: the one engine Strata aborts statements on).
pub async fn session_pid(conn: &DatabaseConnection) -> Result<Option<i64>> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let stmt = Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid()::bigint AS pid");
    Ok(conn.query_one_raw(stmt).await?.and_then(|r| r.try_get::<i64>("", "pid").ok()))
}

/// `pg_cancel_backend(pid)` from this connection: whether a session got the signal.
pub async fn cancel_backend(conn: &DatabaseConnection, pid: i64) -> Result<bool> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Err(Error::Unsupported("aborting a migration's statement is offered on PostgreSQL only".into()));
    }
    let stmt =
        Statement::from_sql_and_values(DbBackend::Postgres, "SELECT pg_cancel_backend($1::int) AS got", [pid.into()]);
    let row = conn.query_one_raw(stmt).await?;
    Ok(row.and_then(|r| r.try_get::<bool>("", "got").ok()).unwrap_or(false))
}

fn is_sqlite_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("SQLITE_BUSY") || message.contains("(code: 5)")
}
