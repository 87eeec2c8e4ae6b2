//! MariaDB/MySQL catalog reads: the `Introspector` for `information_schema` of the current database.
//!
//! One file per topic (`overview`, `tables`, `indexes`, `activity`, `values`), as for PostgreSQL. The
//! schema is the database the connection uses (`DATABASE()`). Every value is bound (`?`); the only text
//! put into SQL is chosen from constants (sort orders), is an identifier read back from the catalog and
//! quoted by [`quote_ident`], or is a thread id formatted from an integer (`KILL QUERY 42`).
//!
//! What the server can show is probed once, in the background from construction on and awaited by the
//! first read that needs it: lock waits (`information_schema.INNODB_LOCK_WAITS`, MariaDB and MySQL 5.7),
//! index usage (`performance_schema` when it is ON, else MariaDB's `userstat` = 1) and index sizes
//! (`mysql.innodb_index_stats`). Until the probe has answered, [`Introspector::capabilities`] says no.

mod activity;
mod counters;
mod indexes;
mod names;
mod overview;
mod readings;
mod statements;
mod tables;
mod values;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend, DbErr, FromQueryResult, RuntimeErr, Statement, Value};
use tokio::sync::OnceCell;

use super::{Activity, BloatInfo, Capabilities, IndexInfo, Introspector, Overview, Page, RowsPage, TableDetail};
use super::{Counters, IndexQuery, Names, TableInfo, TableQuery};
use crate::error::{Error, Result};

/// Where index usage counts come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Usage {
    #[default]
    Unavailable,
    /// `performance_schema.table_io_waits_summary_by_index_usage` (performance_schema = ON).
    PerformanceSchema,
    /// `information_schema.INDEX_STATISTICS` (MariaDB with userstat = 1).
    UserStatistics,
}

/// What this server lets Strata read, probed once.
#[derive(Clone, Copy, Debug, Default)]
struct Features {
    mariadb: bool,
    lock_waits: bool,
    usage: Usage,
    index_sizes: bool,
}

#[derive(FromQueryResult)]
struct ProbeRow {
    v: Option<String>,
}

/// How many statements that can change a table, view, sequence or index the server has run since it started, and
/// when it started (`Com_*` counters count every such statement: from any session, stored programs and replication
/// included; `ALTER VIEW` counts as `CREATE VIEW`).
const DDL_COUNT_SQL: &str = r"
SELECT CAST(SUM(CASE WHEN VARIABLE_NAME = 'UPTIME' THEN 0 ELSE VARIABLE_VALUE END) AS SIGNED) AS statements,
       CAST(UNIX_TIMESTAMP() - SUM(CASE WHEN VARIABLE_NAME = 'UPTIME' THEN VARIABLE_VALUE ELSE 0 END) AS SIGNED)
           AS started
FROM information_schema.GLOBAL_STATUS
WHERE VARIABLE_NAME IN ('UPTIME', 'COM_ALTER_TABLE', 'COM_CREATE_INDEX', 'COM_CREATE_TABLE', 'COM_DROP_INDEX',
                        'COM_DROP_TABLE', 'COM_RENAME_TABLE', 'COM_CREATE_DB', 'COM_DROP_DB', 'COM_ALTER_DB',
                        'COM_CREATE_VIEW', 'COM_DROP_VIEW', 'COM_CREATE_SEQUENCE', 'COM_DROP_SEQUENCE',
                        'COM_ALTER_SEQUENCE')";

#[derive(Clone, Copy, Debug, PartialEq, Eq, FromQueryResult)]
pub(super) struct DdlCount {
    statements: Option<i64>,
    started: Option<i64>,
}

impl DdlCount {
    /// The same count on the same run of the server (its start, worked out from the uptime, moves by a second).
    pub(super) fn same_as(&self, other: &DdlCount) -> bool {
        let started = match (self.started, other.started) {
            (Some(a), Some(b)) => (a - b).abs() <= 1,
            _ => false,
        };
        self.statements.is_some() && self.statements == other.statements && started
    }
}

/// The MariaDB/MySQL implementation of the catalog trait.
pub struct MySql {
    db: DatabaseConnection,
    features: Arc<OnceCell<Features>>,
    /// Every index as last read and assessed, under the server's DDL count then (see `indexes::Kept`).
    indexes: std::sync::Mutex<Option<indexes::Kept>>,
    /// The views' and sequences' names as last read, under the server's DDL count then (see `tables::base_tables`).
    not_base: std::sync::Mutex<Option<(DdlCount, Arc<Vec<String>>)>>,
}

impl MySql {
    /// Never blocks: the probe of what the server offers starts in the background when a runtime runs.
    pub fn new(db: DatabaseConnection) -> Self {
        let features = Arc::new(OnceCell::new());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (db, cell) = (db.clone(), features.clone());
            handle.spawn(async move {
                cell.get_or_init(|| probe(&db)).await;
            });
        }
        MySql { db, features, indexes: std::sync::Mutex::new(None), not_base: std::sync::Mutex::new(None) }
    }

    async fn features(&self) -> Features {
        *self.features.get_or_init(|| probe(&self.db)).await
    }

    /// The server's DDL count now (`None` when it does not say).
    async fn ddl_count(&self) -> Result<Option<DdlCount>> {
        self.one(DDL_COUNT_SQL, []).await
    }

    /// Runs a query with bound values and reads every row into `T`.
    async fn all<T: FromQueryResult>(&self, sql: &str, values: impl IntoIterator<Item = Value>) -> Result<Vec<T>> {
        T::find_by_statement(statement(sql, values)).all(&self.db).await.map_err(db_error)
    }

    /// Runs a query with bound values and reads its first row into `T`.
    async fn one<T: FromQueryResult>(&self, sql: &str, values: impl IntoIterator<Item = Value>) -> Result<Option<T>> {
        T::find_by_statement(statement(sql, values)).one(&self.db).await.map_err(db_error)
    }
}

/// Asks the server what it offers; a question it refuses to answer counts as "no".
async fn probe(db: &DatabaseConnection) -> Features {
    let ask = |sql: &'static str| async move {
        ProbeRow::find_by_statement(statement(sql, [])).one(db).await.ok().flatten().map(|r| r.v)
    };
    let version = ask("SELECT VERSION() AS v").await.flatten().unwrap_or_default();
    let lock_waits =
        ask("SELECT CAST(COUNT(*) AS CHAR) AS v FROM information_schema.INNODB_LOCK_WAITS").await.is_some();
    let performance_schema = ask("SELECT CAST(@@performance_schema AS CHAR) AS v").await.flatten();
    let userstat = ask("SELECT CAST(@@userstat AS CHAR) AS v").await.flatten();
    let usage = if performance_schema.as_deref() == Some("1")
        && ask("SELECT CAST(COUNT(*) AS CHAR) AS v FROM performance_schema.table_io_waits_summary_by_index_usage \
                WHERE 1 = 0")
        .await
        .is_some()
    {
        Usage::PerformanceSchema
    } else if userstat.as_deref() == Some("1")
        && ask("SELECT CAST(COUNT(*) AS CHAR) AS v FROM information_schema.INDEX_STATISTICS WHERE 1 = 0")
            .await
            .is_some()
    {
        Usage::UserStatistics
    } else {
        Usage::Unavailable
    };
    let index_sizes =
        ask("SELECT CAST(COUNT(*) AS CHAR) AS v FROM mysql.innodb_index_stats WHERE 1 = 0").await.is_some();
    let features = Features { mariadb: version.contains("MariaDB"), lock_waits, usage, index_sizes };
    tracing::debug!(?features, "MariaDB/MySQL catalog features");
    features
}

#[async_trait::async_trait]
impl Introspector for MySql {
    fn capabilities(&self) -> Capabilities {
        let f = self.features.get().copied().unwrap_or_default();
        Capabilities {
            server_activity: true,
            cancel: true,
            terminate: true,
            blocking: f.lock_waits,
            bloat: false,
            index_usage: f.usage != Usage::Unavailable,
            schemas: false,
            statements: true,
        }
    }

    async fn overview(&self, long_query_threshold: Duration) -> Result<Overview> {
        self.read_overview(long_query_threshold).await
    }

    async fn live_overview(&self, long_query_threshold: Duration) -> Result<Overview> {
        self.read_live_overview(long_query_threshold).await
    }

    async fn slow_readings(&self) -> Result<super::SlowReadings> {
        self.read_slow_readings().await
    }

    async fn counters(&self) -> Result<Counters> {
        self.read_counters().await
    }

    async fn sample_readings(&self) -> Result<super::SampleReadings> {
        self.read_sample_readings().await
    }

    async fn tables(&self, query: &TableQuery) -> Result<Page<TableInfo>> {
        self.list_tables(query).await
    }

    fn size_order(&self) -> Option<&'static str> {
        Some(tables::SIZE_ORDER)
    }

    async fn table(&self, schema: &str, table: &str) -> Result<Option<TableDetail>> {
        self.table_detail(schema, table).await
    }

    async fn table_rows(&self, schema: &str, table: &str, offset: u64, limit: u64) -> Result<RowsPage> {
        self.read_rows(schema, table, offset, limit).await
    }

    async fn indexes(&self, query: &IndexQuery) -> Result<Page<IndexInfo>> {
        self.index_page(query).await
    }

    async fn activity(&self, long_query_threshold: Duration) -> Result<Activity> {
        self.read_activity(long_query_threshold).await
    }

    async fn cancel(&self, pid: i64) -> Result<bool> {
        self.kill(pid, activity::Kill::Query).await
    }

    async fn terminate(&self, pid: i64) -> Result<bool> {
        self.kill(pid, activity::Kill::Connection).await
    }

    async fn bloat(&self) -> Result<Vec<BloatInfo>> {
        Err(Error::Unsupported(
            "bloat estimates are PostgreSQL-only; on MariaDB/MySQL the tables page shows each table's size, and \
             OPTIMIZE TABLE rebuilds a table that has grown sparse"
                .into(),
        ))
    }

    async fn names(&self, cap: u64) -> Result<Names> {
        self.read_names(cap).await
    }

    async fn statements(&self, query: &super::StatementQuery) -> Result<super::Statements> {
        self.read_statements(query).await
    }
}

/// A MariaDB/MySQL statement with bound values (`?`).
fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::MySql, sql, values)
}

/// Quotes an identifier for MariaDB/MySQL: backticks around it, inner backticks doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The server's error number, when the failure came from the server.
fn error_number(e: &DbErr) -> Option<u16> {
    match e {
        DbErr::Query(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => s
            .as_database_error()
            .and_then(|d| d.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>())
            .map(|d| d.number()),
        _ => None,
    }
}

/// Maps the "access denied" family of errors to `Forbidden`; every other failure stays a database error.
///
/// 1044 database, 1142 table, 1143 column, 1227 privilege (PROCESS, SUPER...), 1095 not the thread's owner.
fn db_error(e: DbErr) -> Error {
    if matches!(error_number(&e), Some(1044 | 1142 | 1143 | 1227 | 1095)) {
        tracing::warn!(error = %e, "catalog read refused by the server");
        Error::Forbidden
    } else {
        Error::Db(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_inner_backticks_doubled() {
        assert_eq!(quote_ident("users"), "`users`");
        assert_eq!(quote_ident("we`ird'; DROP TABLE users; --"), "`we``ird'; DROP TABLE users; --`");
    }
}
