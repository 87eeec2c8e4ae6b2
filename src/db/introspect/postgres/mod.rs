//! PostgreSQL catalog reads: the `Introspector` for `pg_catalog` and the cumulative statistics views.
//!
//! One file per topic (`overview`, `tables`, `indexes`, `activity`, `bloat`), each reading top to bottom:
//! SQL constants, row structs, conversions into the shared model, then the functions this file's trait
//! impl calls. Every value is bound (`$1`, ...); the only text ever put into SQL is chosen from constants
//! (sort orders) or is an identifier read back from the catalog and quoted by [`quote_ident`].
//!
//! "User schemas" means every schema except `information_schema` and the `pg_*` ones (`pg_catalog`,
//! `pg_toast`, other sessions' `pg_temp_N`): PostgreSQL reserves the `pg_` prefix, so no user schema has it.

mod activity;
mod bloat;
mod counters;
mod indexes;
mod names;
mod overview;
mod readings;
mod reuse;
mod sampling;
mod statements;
mod tables;
mod walk;

use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend, DbErr, FromQueryResult, RuntimeErr, Statement, Value};

use super::{Activity, BloatInfo, Capabilities, IndexInfo, Introspector, Overview, Page, RowsPage, TableDetail};
use super::{Counters, IndexFilter, IndexQuery, IndexSort, Names, TableInfo, TableQuery, TableSort};
use crate::error::{Error, Result};

/// The PostgreSQL implementation of the catalog trait.
pub struct Postgres {
    db: DatabaseConnection,
    /// Per-schema counts of the walked listings by relkind list, reused briefly (see [`walk`]).
    counts: reuse::Reuse<&'static str, Vec<(i64, u64)>>,
    /// Every table's oid in a size order, by sort and direction, reused briefly (see [`tables`]).
    rankings: reuse::Reuse<(TableSort, bool), Vec<i64>>,
    /// Every index's (oid, table oid) by sort, direction and filter, reused briefly (see [`indexes`]).
    index_orders: reuse::Reuse<(IndexSort, bool, IndexFilter), Vec<(i64, i64)>>,
    /// The trend sampler's last measured table sizes (see [`sampling`]).
    known_sizes: std::sync::Mutex<sampling::KnownSizes>,
}

impl Postgres {
    pub fn new(db: DatabaseConnection) -> Self {
        Postgres {
            db,
            counts: reuse::Reuse::new(walk::COUNTS_FOR),
            rankings: reuse::Reuse::new(tables::RANKING_FOR),
            index_orders: reuse::Reuse::new(indexes::ORDER_FOR),
            known_sizes: std::sync::Mutex::default(),
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
}

#[async_trait::async_trait]
impl Introspector for Postgres {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            server_activity: true,
            cancel: true,
            terminate: true,
            blocking: true,
            bloat: true,
            index_usage: true,
            schemas: true,
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

    async fn sample_objects(&self, table_limit: u64, index_limit: u64) -> Result<super::SampledObjects> {
        self.read_sample_objects(table_limit, index_limit).await
    }

    fn size_order(&self) -> Option<&'static str> {
        Some(tables::SIZE_ORDER)
    }

    fn index_order(&self) -> Option<&'static str> {
        Some(indexes::INDEX_ORDER)
    }

    async fn table(&self, schema: &str, table: &str) -> Result<Option<TableDetail>> {
        self.table_detail(schema, table).await
    }

    async fn table_rows(&self, schema: &str, table: &str, offset: u64, limit: u64) -> Result<RowsPage> {
        self.read_rows(schema, table, offset, limit).await
    }

    async fn indexes(&self, query: &IndexQuery) -> Result<Page<IndexInfo>> {
        self.list_indexes(query).await
    }

    async fn activity(&self, long_query_threshold: Duration) -> Result<Activity> {
        self.read_activity(long_query_threshold).await
    }

    async fn cancel(&self, pid: i64) -> Result<bool> {
        self.signal(pid, activity::Signal::Cancel).await
    }

    async fn terminate(&self, pid: i64) -> Result<bool> {
        self.signal(pid, activity::Signal::Terminate).await
    }

    async fn bloat(&self) -> Result<Vec<BloatInfo>> {
        self.estimate_bloat().await
    }

    async fn names(&self, cap: u64) -> Result<Names> {
        self.read_names(cap).await
    }

    async fn statements(&self, query: &super::StatementQuery) -> Result<super::Statements> {
        self.read_statements(query).await
    }
}

/// A PostgreSQL statement with bound values.
fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Quotes an identifier for PostgreSQL: double quotes around it, inner double quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`, both parts quoted.
pub(crate) fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Reads a JSON array of strings produced by `json_agg` (`NULL` when there was nothing to aggregate).
fn strings(value: Option<serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::Array(items)) => {
            items.into_iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect()
        }
        _ => Vec::new(),
    }
}

/// `%text%` for ILIKE, with the pattern characters of the text escaped; `None` for an empty search.
pub(super) fn search_pattern(search: Option<&str>) -> Option<String> {
    let text = search.map(str::trim).filter(|s| !s.is_empty())?;
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

/// A count or offset from the web layer as the `bigint` PostgreSQL expects.
fn bigint(n: u64, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::BadRequest(format!("{what} is too large")))
}

/// Maps "permission denied" (SQLSTATE 42501) to `Forbidden`; every other failure stays a database error.
fn db_error(e: DbErr) -> Error {
    let code = match &e {
        DbErr::Query(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => {
            s.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
        }
        _ => None,
    };
    if code.as_deref() == Some("42501") {
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
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote_ident("users"), r#""users""#);
        assert_eq!(quote_ident(r#"users" ; --"#), r#""users"" ; --""#);
        assert_eq!(qualified("Sch ema", r#"we"ird ü"#), r#""Sch ema"."we""ird ü""#);
    }

    #[test]
    fn search_text_is_escaped_for_ilike() {
        assert_eq!(search_pattern(Some("users")).as_deref(), Some("%users%"));
        assert_eq!(search_pattern(Some(r"a_b%c\d")).as_deref(), Some(r"%a\_b\%c\\d%"));
        assert_eq!(search_pattern(Some("  ")), None);
        assert_eq!(search_pattern(None), None);
    }

    #[test]
    fn json_string_arrays_are_read_in_order() {
        let v = serde_json::json!(["b", "a", "b"]);
        assert_eq!(strings(Some(v)), ["b", "a", "b"]);
        assert!(strings(None).is_empty());
    }
}
