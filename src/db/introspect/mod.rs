//! Catalog reads behind the dashboard: one trait, one shared model, one implementation per backend chosen in one place.
//!
//! The model uses `Option` for what a backend cannot tell; templates show "—" for `None` and never
//! branch on the backend. `Capabilities` decides which pages and buttons appear.

mod mysql;
mod postgres;
mod redundant;
mod sqlite;
pub mod statements;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbBackend};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, Result};
pub use statements::{StatementInfo, StatementQuery, StatementSort, Statements, StatementsUnavailable};

/// The only place that matches on the backend for catalog reads.
pub fn for_connection(db: DatabaseConnection) -> Result<Arc<dyn Introspector>> {
    match db.get_database_backend() {
        DbBackend::Postgres => Ok(Arc::new(postgres::Postgres::new(db))),
        DbBackend::MySql => Ok(Arc::new(mysql::MySql::new(db))),
        DbBackend::Sqlite => Ok(Arc::new(sqlite::Sqlite::new(db))),
        #[allow(unreachable_patterns)] // DatabaseBackend is #[non_exhaustive]
        other => Err(Error::Unsupported(format!("{other:?} databases are not supported"))),
    }
}

/// What a backend can show or do; the navigation and buttons follow it.
#[derive(Clone, Copy, Debug, Default, Serialize, ToSchema)]
pub struct Capabilities {
    /// Server sessions exist (PostgreSQL, MariaDB); SQLite shows Strata's own statements instead.
    pub server_activity: bool,
    /// Cancel a running statement of another session.
    pub cancel: bool,
    /// End another session.
    pub terminate: bool,
    /// Lock waits and a blocking tree.
    pub blocking: bool,
    /// Bloat estimates (PostgreSQL).
    pub bloat: bool,
    /// Index usage statistics (scans since the stats reset).
    pub index_usage: bool,
    /// Several schemas (PostgreSQL) rather than one (MariaDB database, SQLite `main`).
    pub schemas: bool,
    /// Statement statistics (`pg_stat_statements`, `performance_schema` digests) may exist: the Statements page.
    pub statements: bool,
}

/// The overview page.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct Overview {
    pub server_version: String,
    pub database_name: String,
    pub database_size_bytes: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    /// Connection counts by state (`active`, `idle`, `idle in transaction`, ...).
    pub connections_by_state: Vec<(String, i64)>,
    pub max_connections: Option<i64>,
    /// Share of table reads served from cache, 0..=1.
    pub table_cache_hit_ratio: Option<f64>,
    pub index_cache_hit_ratio: Option<f64>,
    /// When the statistics the ratios rest on were reset.
    pub stats_reset_at: Option<DateTime<Utc>>,
    /// Transactions left before wraparound protection (PostgreSQL), and the share used 0..=1.
    pub wraparound_remaining: Option<i64>,
    pub wraparound_used_ratio: Option<f64>,
    pub long_running_queries: Option<i64>,
    /// Backend-specific facts worth a line (SQLite journal mode, WAL size, page size...).
    pub notes: Vec<(String, String)>,
}

/// The overview's readings that cost more than the rest (PostgreSQL's `pg_database_size` stats every file, its
/// cache hit sums read every relation's statistics; MariaDB sums `information_schema.TABLES`): read in the
/// background on their own, longer interval (`slow_stats_refresh`), never while a page waits.
///
/// `None` where a backend reads the figure with the fast part (or has none).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlowReadings {
    pub database_size_bytes: Option<i64>,
    /// Table and index cache hit ratios, when this backend reads them here (PostgreSQL).
    pub cache_hit_ratios: Option<CacheHitRatios>,
}

/// Shares of table and index page reads served from the server's cache, 0..=1 (`None`: nothing read yet).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CacheHitRatios {
    pub table: Option<f64>,
    pub index: Option<f64>,
}

impl SlowReadings {
    /// Puts these readings into an overview read without them.
    pub fn apply(&self, overview: &mut Overview) {
        if self.database_size_bytes.is_some() {
            overview.database_size_bytes = self.database_size_bytes;
        }
        if let Some(r) = self.cache_hit_ratios {
            overview.table_cache_hit_ratio = r.table;
            overview.index_cache_hit_ratio = r.index;
        }
    }
}

/// Readings `/metrics` exports besides the overview's: the longest statement, deadlocks, replication lag.
///
/// `None` (or an empty list) where a backend has no such thing, so no series is exported rather than a zero.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// How long the longest statement now running in this database has run; 0 when none runs.
    pub longest_query_seconds: Option<f64>,
    /// Deadlocks detected since the statistics reset (PostgreSQL: this database; MariaDB: the server's InnoDB).
    pub deadlocks: Option<i64>,
    /// Replay lag of each streaming replica whose lag the server knows; empty when none is attached.
    pub replicas: Vec<ReplicaLag>,
}

/// The database-wide readings the trend sampler stores each `sample_interval` (see `crate::watch::sampler`).
///
/// Counters are as the server reports them (since its statistics were reset or it started): the sampler stores them
/// and rates are computed from the deltas when read. `None` where this engine has no such reading.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleReadings {
    pub database_size_bytes: Option<i64>,
    /// Sessions of this database (the reader's own left out) by state; `None` without server sessions (SQLite).
    pub connections: Option<ConnectionStates>,
    pub commits: Option<i64>,
    pub rollbacks: Option<i64>,
    pub deadlocks: Option<i64>,
    pub temp_bytes: Option<i64>,
    pub tuples_inserted: Option<i64>,
    pub tuples_updated: Option<i64>,
    pub tuples_deleted: Option<i64>,
    /// Page reads served from the server's cache, and those that were not.
    pub blocks_hit: Option<i64>,
    pub blocks_read: Option<i64>,
    /// When the counters were last reset and when the server started: either changing means they began again.
    pub stats_reset_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
}

/// Sessions by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStates {
    pub active: i64,
    pub idle: i64,
    pub idle_in_transaction: i64,
    pub other: i64,
}

impl ConnectionStates {
    pub fn total(&self) -> i64 {
        self.active + self.idle + self.idle_in_transaction + self.other
    }

    /// Counts by the state names the overview shows (`active`, `idle`, `idle in transaction`, ...).
    pub fn from_states<'a>(states: impl IntoIterator<Item = (&'a str, i64)>) -> ConnectionStates {
        let mut c = ConnectionStates::default();
        for (state, n) in states {
            match state {
                "active" => c.active += n,
                "idle" => c.idle += n,
                s if s.starts_with("idle in transaction") => c.idle_in_transaction += n,
                _ => c.other += n,
            }
        }
        c
    }
}

/// One replica's replay lag, as the primary sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaLag {
    /// `application_name` of the replica's connection.
    pub name: String,
    pub client_addr: String,
    pub lag_seconds: f64,
}

/// Sort keys of the tables page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableSort {
    #[default]
    Name,
    Rows,
    TableSize,
    IndexSize,
    ToastSize,
    TotalSize,
    DeadRows,
    LastVacuum,
    LastAnalyze,
}

impl TableSort {
    /// The name in URLs (`total_size`).
    pub fn as_str(self) -> &'static str {
        match self {
            TableSort::Name => "name",
            TableSort::Rows => "rows",
            TableSort::TableSize => "table_size",
            TableSort::IndexSize => "index_size",
            TableSort::ToastSize => "toast_size",
            TableSort::TotalSize => "total_size",
            TableSort::DeadRows => "dead_rows",
            TableSort::LastVacuum => "last_vacuum",
            TableSort::LastAnalyze => "last_analyze",
        }
    }

    /// Every sort key, in the order the tables page shows its columns.
    pub const ALL: [TableSort; 9] = [
        TableSort::Name,
        TableSort::Rows,
        TableSort::TableSize,
        TableSort::IndexSize,
        TableSort::ToastSize,
        TableSort::TotalSize,
        TableSort::DeadRows,
        TableSort::LastVacuum,
        TableSort::LastAnalyze,
    ];
}

/// A page request for the tables list.
#[derive(Clone, Debug)]
pub struct TableQuery {
    pub sort: TableSort,
    pub descending: bool,
    /// Case-insensitive substring of schema.table.
    pub search: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// Sort keys of the indexes page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IndexSort {
    /// Schema, table, then index name.
    #[default]
    Table,
    /// Index name, then schema and table.
    Name,
    /// Size (PostgreSQL: the planner's page count as of the last VACUUM/ANALYZE or CREATE INDEX).
    Size,
    /// Scans since the statistics reset.
    Scans,
}

impl IndexSort {
    /// The name in URLs (`scans`).
    pub fn as_str(self) -> &'static str {
        match self {
            IndexSort::Table => "table",
            IndexSort::Name => "name",
            IndexSort::Size => "size",
            IndexSort::Scans => "scans",
        }
    }

    /// Every sort key, in the order the indexes page shows its columns.
    pub const ALL: [IndexSort; 4] = [IndexSort::Table, IndexSort::Name, IndexSort::Size, IndexSort::Scans];
}

/// Which indexes a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IndexFilter {
    #[default]
    All,
    /// No scan since the statistics reset, valid, and not backing a constraint or uniqueness.
    Unused,
    /// Made redundant by another valid index of the same table.
    Duplicate,
    /// Left invalid by a failed `CREATE INDEX CONCURRENTLY` (PostgreSQL).
    Invalid,
}

impl IndexFilter {
    /// The name in URLs (`unused`).
    pub fn as_str(self) -> &'static str {
        match self {
            IndexFilter::All => "all",
            IndexFilter::Unused => "unused",
            IndexFilter::Duplicate => "duplicate",
            IndexFilter::Invalid => "invalid",
        }
    }

    pub const ALL: [IndexFilter; 4] =
        [IndexFilter::All, IndexFilter::Unused, IndexFilter::Duplicate, IndexFilter::Invalid];

    /// Reads the name in URLs; `None` for anything else.
    pub fn parse(text: &str) -> Option<IndexFilter> {
        IndexFilter::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// Whether an assessed index belongs to this list.
    pub fn keeps(self, index: &IndexInfo) -> bool {
        match self {
            IndexFilter::All => true,
            IndexFilter::Unused => index.unused,
            IndexFilter::Duplicate => index.duplicate_of.is_some(),
            IndexFilter::Invalid => !index.valid,
        }
    }
}

/// A page request for the indexes list.
#[derive(Clone, Debug, Default)]
pub struct IndexQuery {
    pub sort: IndexSort,
    pub descending: bool,
    /// Case-insensitive substring of schema.table.index.
    pub search: Option<String>,
    pub filter: IndexFilter,
    pub offset: u64,
    pub limit: u64,
}

/// The per-object part of a trend sample ([`Introspector::sample_objects`]).
#[derive(Clone, Debug, Default)]
pub struct SampledObjects {
    pub tables: Vec<TableInfo>,
    /// Indexes with a scan count (the sampler keeps nothing else of them).
    pub indexes: Vec<IndexInfo>,
    /// How many of the tables had their sizes measured by this call (the others' were known not to have changed).
    pub measured: usize,
}

/// One page of a longer list.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub row_estimate: Option<i64>,
    pub table_bytes: Option<i64>,
    pub index_bytes: Option<i64>,
    pub toast_bytes: Option<i64>,
    pub total_bytes: Option<i64>,
    pub dead_rows: Option<i64>,
    pub last_vacuum: Option<DateTime<Utc>>,
    pub last_autovacuum: Option<DateTime<Utc>>,
    pub last_analyze: Option<DateTime<Utc>>,
    pub last_autoanalyze: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub primary_key: bool,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct ConstraintInfo {
    pub name: String,
    /// `PRIMARY KEY`, `UNIQUE`, `CHECK`, `FOREIGN KEY`, `EXCLUDE`.
    pub kind: String,
    pub definition: String,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct ForeignKeyInfo {
    pub name: String,
    pub from_schema: String,
    pub from_table: String,
    pub from_columns: Vec<String>,
    pub to_schema: String,
    pub to_table: String,
    pub to_columns: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct TableDetail {
    pub table: TableInfo,
    pub columns: Vec<ColumnInfo>,
    pub indexes: Vec<IndexInfo>,
    pub constraints: Vec<ConstraintInfo>,
    /// Foreign keys of this table.
    pub references: Vec<ForeignKeyInfo>,
    /// Foreign keys of other tables pointing here.
    pub referenced_by: Vec<ForeignKeyInfo>,
}

/// Rows of a table, read-only, as text (NULL is `None`).
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct RowsPage {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub offset: u64,
    pub limit: u64,
    pub has_more: bool,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct IndexInfo {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// Access method (`btree`, `hash`, `gin`...).
    pub method: String,
    pub columns: Vec<String>,
    pub definition: String,
    pub unique: bool,
    pub primary: bool,
    pub valid: bool,
    pub size_bytes: Option<i64>,
    pub scans: Option<i64>,
    pub tuples_read: Option<i64>,
    /// 0 scans since the stats reset, not unique, not primary.
    pub unused: bool,
    /// Name of a valid index on the same table that makes this one redundant.
    pub duplicate_of: Option<String>,
    /// The statement a DBA would run about this index (DROP for unused/duplicate, REINDEX for invalid).
    pub suggested_sql: Option<String>,
}

/// One server session or statement.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct Session {
    pub pid: i64,
    pub user: Option<String>,
    pub application: Option<String>,
    pub client_addr: Option<String>,
    pub state: Option<String>,
    pub wait_event: Option<String>,
    pub query: Option<String>,
    pub query_started_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    /// Sessions this one waits for.
    pub blocked_by: Vec<i64>,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct Activity {
    pub sessions: Vec<Session>,
    /// Counts grouped by state, application, user and client address.
    pub by_state: Vec<(String, i64)>,
    pub by_application: Vec<(String, i64)>,
    pub by_user: Vec<(String, i64)>,
    pub by_client: Vec<(String, i64)>,
    /// Pids of sessions running longer than the threshold.
    pub long_running: Vec<i64>,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct BloatInfo {
    pub schema: String,
    pub table: String,
    /// `None` for the table itself, the index name otherwise.
    pub index: Option<String>,
    pub real_bytes: i64,
    pub bloat_bytes: i64,
    pub bloat_ratio: f64,
    pub last_analyzed: Option<DateTime<Utc>>,
    /// Never analyzed, or analyzed long ago: the estimate is shaky.
    pub unreliable: bool,
}

/// One table or view and its columns, in order: what the query editor completes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableNames {
    pub schema: String,
    pub name: String,
    pub columns: Vec<String>,
}

/// Every user table and view with its column names, for the query editor's autocomplete.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Names {
    /// The character this backend quotes identifiers with (`"`, or `` ` `` on MariaDB/MySQL).
    pub quote: char,
    pub tables: Vec<TableNames>,
    /// The catalog has more columns than the cap: some tables or columns are missing.
    pub truncated: bool,
}

impl Names {
    /// Groups `(schema, table, column)` rows, already ordered by table then column position, read with a
    /// limit of `cap + 1` rows (a row past the cap says the list is truncated; it is left out).
    fn from_rows(quote: char, rows: impl IntoIterator<Item = (String, String, Option<String>)>, cap: u64) -> Names {
        let mut names = Names { quote, ..Names::default() };
        for (n, (schema, table, column)) in rows.into_iter().enumerate() {
            if n as u64 >= cap {
                names.truncated = true;
                break;
            }
            let same = names.tables.last().is_some_and(|t| t.schema == schema && t.name == table);
            if !same {
                names.tables.push(TableNames { schema, name: table, columns: Vec::new() });
            }
            if let (Some(column), Some(t)) = (column, names.tables.last_mut()) {
                t.columns.push(column);
            }
        }
        names
    }
}

/// Catalog reads for one database. Identifiers are always bound as values, never spliced.
#[async_trait::async_trait]
pub trait Introspector: Send + Sync {
    fn capabilities(&self) -> Capabilities;
    /// The whole overview: [`Introspector::live_overview`] with [`Introspector::slow_readings`] in it.
    async fn overview(&self, long_query_threshold: Duration) -> Result<Overview>;
    /// The overview's cheap part, read on a page request; the slow figures are left `None`.
    async fn live_overview(&self, long_query_threshold: Duration) -> Result<Overview>;
    /// The overview's expensive figures, read in the background (see [`SlowReadings`]).
    async fn slow_readings(&self) -> Result<SlowReadings>;
    /// What `/metrics` needs beyond the overview.
    async fn counters(&self) -> Result<Counters>;
    /// The trend sampler's database-wide readings. By default what the overview tells (size, connections): an
    /// engine with cumulative statistics reads them too.
    async fn sample_readings(&self) -> Result<SampleReadings> {
        let o = self.overview(Duration::from_secs(3600)).await?;
        Ok(SampleReadings {
            database_size_bytes: o.database_size_bytes,
            connections: (!o.connections_by_state.is_empty())
                .then(|| ConnectionStates::from_states(o.connections_by_state.iter().map(|(s, n)| (s.as_str(), *n)))),
            started_at: o.started_at,
            stats_reset_at: o.stats_reset_at,
            ..SampleReadings::default()
        })
    }
    async fn tables(&self, query: &TableQuery) -> Result<Page<TableInfo>>;
    /// What the trend sampler keeps of each table and index: the sizes and row estimates of the largest
    /// `table_limit` tables and the scans of the largest `index_limit` indexes (only indexes with a scan count).
    /// By default the lists' own reads, every size measured on every call; an engine may keep sizes between calls
    /// while nothing that changes them happened (see [`SampledObjects::measured`]).
    async fn sample_objects(&self, table_limit: u64, index_limit: u64) -> Result<SampledObjects> {
        let query =
            TableQuery { sort: TableSort::TotalSize, descending: true, search: None, offset: 0, limit: table_limit };
        let tables = self.tables(&query).await?.items;
        let indexes = if self.capabilities().index_usage {
            let query =
                IndexQuery { sort: IndexSort::Size, descending: true, limit: index_limit, ..Default::default() };
            self.indexes(&query).await?.items.into_iter().filter(|i| i.scans.is_some()).collect()
        } else {
            Vec::new()
        };
        Ok(SampledObjects { measured: tables.len(), tables, indexes })
    }
    /// How the tables list orders by a size when that is not simply the sizes it shows; pages show it.
    fn size_order(&self) -> Option<&'static str> {
        None
    }
    /// How the indexes list orders and filters when some of that is not read on every request; pages show it.
    fn index_order(&self) -> Option<&'static str> {
        None
    }
    /// `None` when no such table exists.
    async fn table(&self, schema: &str, table: &str) -> Result<Option<TableDetail>>;
    /// First rows of a table the catalog confirmed exists.
    async fn table_rows(&self, schema: &str, table: &str, offset: u64, limit: u64) -> Result<RowsPage>;
    /// One page of indexes, filtered, searched and sorted; duplicates are judged against every index of
    /// their table, on the page or not.
    async fn indexes(&self, query: &IndexQuery) -> Result<Page<IndexInfo>>;
    async fn activity(&self, long_query_threshold: Duration) -> Result<Activity>;
    /// Cancels the running statement of a session; false when there was none.
    async fn cancel(&self, pid: i64) -> Result<bool>;
    /// Ends a session; false when there was none.
    async fn terminate(&self, pid: i64) -> Result<bool>;
    async fn bloat(&self) -> Result<Vec<BloatInfo>>;
    /// User tables and views with their columns, at most `cap` columns in all.
    async fn names(&self, cap: u64) -> Result<Names>;
    /// One page of the top statements since the statistics were reset, or why there are none here.
    async fn statements(&self, _query: &StatementQuery) -> Result<Statements> {
        Ok(Statements::unavailable("this engine keeps no statement statistics", &[]))
    }
}

/// The page of a list of indexes read whole (backends whose catalog cannot sort or filter them cheaper):
/// filtered, searched in schema.table.index, sorted with the place (schema, table, name) breaking ties.
fn page_of_indexes<'a>(all: impl IntoIterator<Item = &'a IndexInfo>, query: &IndexQuery) -> Page<IndexInfo> {
    let search = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let mut kept: Vec<&IndexInfo> = all
        .into_iter()
        .filter(|i| query.filter.keeps(i))
        .filter(|i| {
            search.as_ref().is_none_or(|q| format!("{}.{}.{}", i.schema, i.table, i.name).to_lowercase().contains(q))
        })
        .collect();
    kept.sort_by(|a, b| {
        let by_place = (&a.schema, &a.table, &a.name).cmp(&(&b.schema, &b.table, &b.name));
        let order = match query.sort {
            IndexSort::Table => by_place,
            IndexSort::Name => a.name.cmp(&b.name).then(by_place),
            IndexSort::Size => a.size_bytes.cmp(&b.size_bytes).then(by_place),
            IndexSort::Scans => a.scans.cmp(&b.scans).then(by_place),
        };
        if query.descending { order.reverse() } else { order }
    });
    let total = kept.len() as u64;
    let start = usize::try_from(query.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let items = kept.into_iter().skip(start).take(take).cloned().collect();
    Page { items, total, offset: query.offset, limit: query.limit }
}

/// Counts by label, the largest group first, then by label.
fn group_counts<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<(String, i64)> {
    let mut counts: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for label in labels {
        *counts.entry(label).or_default() += 1;
    }
    let mut groups: Vec<(String, i64)> = counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    groups
}

/// Longest binary value shown as hex in a rows page; longer ones show their length only.
const MAX_HEX_BYTES: usize = 256;

/// A binary value as text: `\x` and lower-case hex like PostgreSQL's `bytea`, or `<n bytes>` when long.
fn bytes_as_text(bytes: &[u8]) -> String {
    if bytes.len() > MAX_HEX_BYTES {
        return format!("<{} bytes>", bytes.len());
    }
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A number of rows or an offset from the web layer as the signed 64-bit integer SQL binds.
fn bigint(n: u64, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::BadRequest(format!("{what} is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_largest_first_then_by_label() {
        let got = group_counts(["b", "a", "b", "c", "a", "b"].into_iter());
        assert_eq!(got, [("b".to_string(), 3), ("a".to_string(), 2), ("c".to_string(), 1)]);
    }

    #[test]
    fn names_group_columns_under_their_table_and_stop_at_the_cap() {
        let row = |t: &str, c: Option<&str>| ("s".to_string(), t.to_string(), c.map(str::to_string));
        let rows = vec![row("a", Some("x")), row("a", Some("y")), row("empty", None), row("b", Some("z"))];
        let all = Names::from_rows('"', rows.clone(), 10);
        let got: Vec<(&str, usize)> = all.tables.iter().map(|t| (t.name.as_str(), t.columns.len())).collect();
        assert_eq!(got, [("a", 2), ("empty", 0), ("b", 1)]);
        assert!(!all.truncated);
        let capped = Names::from_rows('"', rows, 3);
        assert_eq!(capped.tables.len(), 2);
        assert!(capped.truncated, "a row past the cap means there is more");
    }

    #[test]
    fn binary_values_are_hex_or_their_length() {
        assert_eq!(bytes_as_text(&[0x00, 0xff, 0x1a]), r"\x00ff1a");
        assert_eq!(bytes_as_text(&[]), r"\x");
        assert_eq!(bytes_as_text(&vec![7; MAX_HEX_BYTES + 1]), format!("<{} bytes>", MAX_HEX_BYTES + 1));
    }
}
