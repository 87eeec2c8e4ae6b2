//! SQLite catalog reads: the `Introspector` for `sqlite_schema`, the table-valued pragmas and `dbstat`.
//!
//! One file per topic (`overview`, `tables`, `indexes`, `activity`), as for PostgreSQL. The only schema is
//! `main`; tables named `sqlite_*` belong to SQLite and are left out. Table and index names reach SQL as
//! bound values only — the pragmas are called as table-valued functions (`pragma_table_info(?1)`), never
//! as `PRAGMA x('name')` text — and the one statement that must name a table (reading its rows) quotes a
//! name read back from `sqlite_schema` with [`quote_ident`].
//!
//! Sizes come from the `dbstat` virtual table when the library was built with it (the bundled SQLite
//! that sqlx ships is); otherwise they are unknown and the overview says why. SQLite keeps no usage
//! statistics, no server sessions and no bloat estimate: the capabilities say so.

mod activity;
mod counters;
mod indexes;
mod names;
mod overview;
mod schema;
mod sizes;
mod sql_text;
mod tables;
#[cfg(test)]
mod tables_oracle;

use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement, Value};
use tokio::sync::OnceCell;

use super::{Activity, BloatInfo, Capabilities, IndexInfo, Introspector, Overview, Page, RowsPage, TableDetail};
use super::{Counters, IndexQuery, IndexSort, Names, TableInfo, TableQuery};
use crate::error::{Error, Result};

/// The only schema an SQLite connection shows.
const MAIN: &str = "main";

/// Whether `dbstat` is available (`$1`: none).
const DBSTAT_SQL: &str = "SELECT count(*) AS n FROM pragma_module_list() WHERE name = 'dbstat'";

#[derive(FromQueryResult)]
struct CountRow {
    n: i64,
}

/// The SQLite implementation of the catalog trait.
pub struct Sqlite {
    db: DatabaseConnection,
    /// Whether the library has the `dbstat` virtual table; asked once.
    dbstat: OnceCell<bool>,
    /// Every index as last assessed, under the file's schema version then (see [`Sqlite::every_index`]).
    indexes: std::sync::Mutex<Option<(i64, std::sync::Arc<Vec<IndexInfo>>)>>,
    /// The user tables as last read, under the file's schema version then (see [`Sqlite::schema`]).
    schema: std::sync::Mutex<Option<(i64, std::sync::Arc<schema::Schema>)>>,
    /// Every b-tree's size from the last walk of the file, while nothing was committed since (see [`sizes`]).
    sizes: sizes::KeptSizes,
}

impl Sqlite {
    pub fn new(db: DatabaseConnection) -> Self {
        Sqlite {
            db,
            dbstat: OnceCell::new(),
            indexes: std::sync::Mutex::new(None),
            schema: std::sync::Mutex::new(None),
            sizes: sizes::KeptSizes::default(),
        }
    }

    /// Runs a query with bound values and reads every row into `T`.
    async fn all<T: FromQueryResult>(&self, sql: &str, values: impl IntoIterator<Item = Value>) -> Result<Vec<T>> {
        T::find_by_statement(statement(sql, values)).all(&self.db).await.map_err(db_error)
    }

    /// Runs a query with bound values and reads its first row into `T`.
    async fn one<T: FromQueryResult>(&self, sql: &str, values: impl IntoIterator<Item = Value>) -> Result<Option<T>> {
        T::find_by_statement(statement(sql, values)).one(&self.db).await.map_err(db_error)
    }

    async fn count(&self, sql: &str, values: impl IntoIterator<Item = Value>) -> Result<i64> {
        Ok(self.one::<CountRow>(sql, values).await?.map_or(0, |r| r.n))
    }

    /// Whether table and index sizes can be read from `dbstat`.
    async fn has_dbstat(&self) -> Result<bool> {
        self.dbstat.get_or_try_init(|| async { Ok(self.count(DBSTAT_SQL, []).await? > 0) }).await.copied()
    }
}

#[async_trait::async_trait]
impl Introspector for Sqlite {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            server_activity: false,
            cancel: false,
            terminate: false,
            blocking: false,
            bloat: false,
            index_usage: false,
            schemas: false,
            statements: false,
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
        Ok(counters::read_counters())
    }

    async fn tables(&self, query: &TableQuery) -> Result<Page<TableInfo>> {
        self.list_tables(query).await
    }

    async fn table(&self, schema: &str, table: &str) -> Result<Option<TableDetail>> {
        self.table_detail(schema, table).await
    }

    async fn table_rows(&self, schema: &str, table: &str, offset: u64, limit: u64) -> Result<RowsPage> {
        self.read_rows(schema, table, offset, limit).await
    }

    async fn indexes(&self, query: &IndexQuery) -> Result<Page<IndexInfo>> {
        // Duplicates need every index of a table and the catalog gives no cheaper order: every index is assessed
        // (once per schema version), and paged here. Sizes cost a b-tree walk each: for the page's indexes only, unless the order is by size.
        let all = self.every_index().await?;
        if query.sort == IndexSort::Size {
            let mut all = all.as_ref().clone();
            self.index_sizes(&mut all, true).await?;
            return Ok(super::page_of_indexes(&all, query));
        }
        let mut page = super::page_of_indexes(all.iter(), query);
        self.index_sizes(&mut page.items, false).await?;
        Ok(page)
    }

    async fn activity(&self, long_query_threshold: Duration) -> Result<Activity> {
        Ok(activity::running_statements(long_query_threshold))
    }

    async fn cancel(&self, _pid: i64) -> Result<bool> {
        Err(Error::Unsupported(
            "SQLite runs inside Strata and has no server sessions: a running statement cannot be cancelled from here"
                .into(),
        ))
    }

    async fn terminate(&self, _pid: i64) -> Result<bool> {
        Err(Error::Unsupported("SQLite has no server sessions to end: it runs inside Strata's own process".into()))
    }

    async fn bloat(&self) -> Result<Vec<BloatInfo>> {
        Err(Error::Unsupported(
            "bloat estimates are PostgreSQL-only; on SQLite the overview shows the free pages (VACUUM reclaims them)"
                .into(),
        ))
    }

    async fn names(&self, cap: u64) -> Result<Names> {
        self.read_names(cap).await
    }

    async fn statements(&self, _query: &super::StatementQuery) -> Result<super::Statements> {
        Ok(super::Statements::unavailable(
            "SQLite keeps no statement statistics: it is a library inside each program that opens the file, with no \
             server that sees every program's statements. Strata's own statements are in the query history.",
            &[],
        ))
    }
}

/// An SQLite statement with bound values (`?1`, `?2`, ...).
fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// Quotes an identifier for SQLite: double quotes around it, inner double quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQLite reports no permission errors for catalog reads: every failure is a database error.
fn db_error(e: DbErr) -> Error {
    Error::Db(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote_ident("users"), r#""users""#);
        assert_eq!(quote_ident(r#"'; DROP TABLE "users"; --"#), r#""'; DROP TABLE ""users""; --""#);
    }
}
