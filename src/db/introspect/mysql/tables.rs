//! Tables on MariaDB/MySQL: the sorted, searchable list with sizes, one table's detail, and its rows as text.
//!
//! Row counts and sizes are the estimates `information_schema.TABLES` keeps (InnoDB refreshes them with
//! its persistent statistics): `table_bytes` is DATA_LENGTH (the clustered index, i.e. the rows),
//! `index_bytes` INDEX_LENGTH (secondary indexes), `total_bytes` their sum. There is no TOAST, dead-row
//! count or vacuum/analyze time: those are `None` and sorting by them sorts by name.
//!
//! Table names are compared as bytes (`CAST(... AS BINARY)`): `information_schema` compares without case,
//! while the tables `Users` and `users` can both exist.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sea_orm::{ConnectionTrait, FromQueryResult};

use super::values::value_text;
use super::{MySql, db_error, quote_ident, statement};
use crate::db::introspect::{
    ColumnInfo, ConstraintInfo, ForeignKeyInfo, Page, RowsPage, TableDetail, TableInfo, TableQuery, TableSort, bigint,
};
use crate::error::{Error, Result};

/// The table types the pages list as tables, for every query that keeps to them (one list, so they agree).
macro_rules! base_types {
    () => {
        "('BASE TABLE', 'SYSTEM VERSIONED')"
    };
}

/// One page of tables. `?` 1-2: search text or NULL (twice); 3, 4: limit and offset. `{order}` comes from
/// [`order_by`] only.
const TABLES_SQL: &str = concat!(
    r"
SELECT t.TABLE_SCHEMA AS schema_name, t.TABLE_NAME AS table_name, CAST(t.TABLE_ROWS AS SIGNED) AS row_estimate,
       CAST(t.DATA_LENGTH AS SIGNED) AS table_bytes, CAST(t.INDEX_LENGTH AS SIGNED) AS index_bytes
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE IN ",
    base_types!(),
    r"
  AND (? IS NULL OR LOCATE(LOWER(?), LOWER(CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME))) > 0)
ORDER BY {order}
LIMIT ? OFFSET ?"
);

/// One base table of the current database by exact name (`?` twice), compared as bytes (`information_schema`
/// compares without case, and in a 3-byte character set that a 4-byte name could not be compared in). The
/// plain `TABLE_NAME = ?` lets `information_schema` open that table only instead of every table.
const FIND_SQL: &str = concat!(
    r"
SELECT t.TABLE_SCHEMA AS schema_name, t.TABLE_NAME AS table_name, CAST(t.TABLE_ROWS AS SIGNED) AS row_estimate,
       CAST(t.DATA_LENGTH AS SIGNED) AS table_bytes, CAST(t.INDEX_LENGTH AS SIGNED) AS index_bytes
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE IN ",
    base_types!(),
    r"
  AND t.TABLE_NAME = ? AND CAST(t.TABLE_NAME AS BINARY) = CAST(? AS BINARY)"
);

/// The current database's names that are not base tables (views, sequences), from each table's `.frm` header:
/// about a third of what `information_schema.TABLES` costs to tell the types apart (it opens every table's
/// definition). System-versioned tables are base tables here as on the page.
const NOT_BASE_SQL: &str = concat!("SHOW FULL TABLES WHERE Table_type NOT IN ", base_types!());

/// Beyond this many views and sequences the names are told apart by `information_schema.TABLES` itself.
const NOT_BASE_LIMIT: usize = 1000;

/// One page of base table names (`?` 1-2: search text or NULL; 3, 4: limit and offset), in the order of
/// TABLES_SQL by name. `{kind}` is [`BASE_BY_TYPE`] or [`base_by_exclusion`]: names read without opening any
/// table are the cheap first step.
const NAMES_SQL: &str = r"
SELECT t.TABLE_SCHEMA AS schema_name, t.TABLE_NAME AS table_name
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = DATABASE() AND {kind}
  AND (? IS NULL OR LOCATE(LOWER(?), LOWER(CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME))) > 0)
ORDER BY t.TABLE_NAME {dir}
LIMIT ? OFFSET ?";

/// How many base tables match (`?` twice: search text or NULL); `{kind}` as in [`NAMES_SQL`].
const COUNT_SQL: &str = r"
SELECT COUNT(*) AS total
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = DATABASE() AND {kind}
  AND (? IS NULL OR LOCATE(LOWER(?), LOWER(CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME))) > 0)";

/// Base tables by their type: opens every table's definition.
const BASE_BY_TYPE: &str = concat!("t.TABLE_TYPE IN ", base_types!());

/// Base tables as every name but the `others` (one `?` each, compared as bytes: a view `v` and a table `V` may
/// both exist).
fn base_by_exclusion(others: usize) -> String {
    if others == 0 {
        return "TRUE".into();
    }
    format!("CAST(t.TABLE_NAME AS BINARY) NOT IN ({})", vec!["CAST(? AS BINARY)"; others].join(", "))
}

/// One table's row by name (`?`: schema, name twice), a block of a UNION ALL: `information_schema` opens
/// the named table only.
const LOOKUP_BLOCK: &str = concat!(
    r"
SELECT t.TABLE_SCHEMA AS schema_name, t.TABLE_NAME AS table_name, CAST(t.TABLE_ROWS AS SIGNED) AS row_estimate,
       CAST(t.DATA_LENGTH AS SIGNED) AS table_bytes, CAST(t.INDEX_LENGTH AS SIGNED) AS index_bytes
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ? AND CAST(t.TABLE_NAME AS BINARY) = CAST(? AS BINARY)
  AND t.TABLE_TYPE IN ",
    base_types!()
);

/// How many tables one UNION ALL of [`LOOKUP_BLOCK`]s looks up.
const LOOKUP_CHUNK: usize = 100;

/// InnoDB's persistent statistics of every table of the current database, as `information_schema.TABLES`
/// shows them once loaded (rows, clustered index pages, other index pages), read without opening any table.
const RANKING_SQL: &str = r"
SELECT s.table_name, CAST(s.n_rows AS SIGNED) AS row_estimate,
       CAST(s.clustered_index_size * @@innodb_page_size AS SIGNED) AS table_bytes,
       CAST(s.sum_of_other_index_sizes * @@innodb_page_size AS SIGNED) AS index_bytes
FROM mysql.innodb_table_stats s
WHERE s.database_name = DATABASE()";

/// Most tables without persistent statistics measured one by one for a size order; beyond it the order reads
/// every table's row of `information_schema.TABLES` (exact, and slow on a large catalog).
const MEASURED_LIMIT: usize = 200;

/// What the tables page says about a size order on MariaDB/MySQL.
pub(super) const SIZE_ORDER: &str = "Ordered by InnoDB's persistent statistics (mysql.innodb_table_stats, as of each \
     table's last statistics update: ANALYZE TABLE, or InnoDB's own after a tenth of the rows changed); tables \
     without them (other engines, partitioned tables, names InnoDB stores encoded) are measured now while there \
     are at most 200 of them, and beyond that every table is. The sizes shown are read now.";

/// Columns of one table (`?` twice: its name), in order.
const COLUMNS_SQL: &str = r"
SELECT c.COLUMN_NAME AS name, c.COLUMN_TYPE AS data_type, c.IS_NULLABLE AS is_nullable,
       c.COLUMN_DEFAULT AS default_value, c.COLUMN_KEY AS column_key, c.EXTRA AS extra,
       c.GENERATION_EXPRESSION AS generation
FROM information_schema.COLUMNS c
WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = ? AND CAST(c.TABLE_NAME AS BINARY) = CAST(? AS BINARY)
ORDER BY c.ORDINAL_POSITION";

/// Constraints of one table (`?` twice: its name). Check clauses are read apart ([`CHECKS_SQL`]): joined
/// here, `information_schema` would open every table of the server to answer the join.
const CONSTRAINTS_SQL: &str = r"
SELECT tc.CONSTRAINT_NAME AS name, tc.CONSTRAINT_TYPE AS kind, NULL AS check_clause
FROM information_schema.TABLE_CONSTRAINTS tc
WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.TABLE_NAME = ? AND CAST(tc.TABLE_NAME AS BINARY) = CAST(? AS BINARY)
ORDER BY FIELD(tc.CONSTRAINT_TYPE, 'PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY', 'CHECK'), tc.CONSTRAINT_NAME";

/// The CHECK clauses of one table (`?` twice: its name); MariaDB names CHECKs per table.
const CHECKS_SQL: &str = r"
SELECT cc.CONSTRAINT_NAME AS name, cc.CHECK_CLAUSE AS check_clause
FROM information_schema.CHECK_CONSTRAINTS cc
WHERE cc.CONSTRAINT_SCHEMA = DATABASE() AND cc.TABLE_NAME = ? AND CAST(cc.TABLE_NAME AS BINARY) = CAST(? AS BINARY)";

/// The update and delete rules of the foreign keys of one table, a block of a UNION ALL (`?`: its schema
/// and name); looked up by name, as joining them would open every table of the server.
const RULES_BLOCK: &str = r"
SELECT r.CONSTRAINT_SCHEMA AS schema_name, r.TABLE_NAME AS table_name, r.CONSTRAINT_NAME AS constraint_name,
       r.UPDATE_RULE AS on_update, r.DELETE_RULE AS on_delete
FROM information_schema.REFERENTIAL_CONSTRAINTS r
WHERE r.CONSTRAINT_SCHEMA = ? AND r.TABLE_NAME = ?";

/// Key columns of the table's own constraints and of foreign keys pointing to it (`?` four times: its
/// name), in key order. The keys' rules are read apart ([`RULES_BLOCK`]).
const KEY_COLUMNS_SQL: &str = r"
SELECT k.CONSTRAINT_NAME AS constraint_name, k.TABLE_SCHEMA AS from_schema, k.TABLE_NAME AS from_table,
       k.COLUMN_NAME AS column_name, k.REFERENCED_TABLE_SCHEMA AS to_schema, k.REFERENCED_TABLE_NAME AS to_table,
       k.REFERENCED_COLUMN_NAME AS to_column, NULL AS on_update, NULL AS on_delete,
       CAST(k.TABLE_SCHEMA = DATABASE() AND CAST(k.TABLE_NAME AS BINARY) = CAST(? AS BINARY) AS SIGNED) AS outgoing,
       CAST(k.REFERENCED_TABLE_SCHEMA = DATABASE()
            AND CAST(k.REFERENCED_TABLE_NAME AS BINARY) = CAST(? AS BINARY) AS SIGNED) AS incoming
FROM information_schema.KEY_COLUMN_USAGE k
WHERE (k.TABLE_SCHEMA = DATABASE() AND CAST(k.TABLE_NAME AS BINARY) = CAST(? AS BINARY))
   OR (k.REFERENCED_TABLE_SCHEMA = DATABASE() AND CAST(k.REFERENCED_TABLE_NAME AS BINARY) = CAST(? AS BINARY))
ORDER BY k.CONSTRAINT_NAME, k.TABLE_SCHEMA, k.TABLE_NAME, k.ORDINAL_POSITION";

/// The key columns query cut into lookups: `{blocks}` is [`OWN_KEYS`] and one [`CHILD_KEYS`] per table
/// with a foreign key to this one, joined with UNION ALL. Each block names its table by equality, which
/// `information_schema` answers by opening that table only (an OR over both sides opens every table).
const KEY_COLUMNS_BY_TABLE_SQL: &str = r"
SELECT * FROM ({blocks}) x
ORDER BY x.constraint_name, x.from_schema, x.from_table, x.ord";

/// The table's own key columns (`?` 2-5: its name). The first two `?` fill the flags as in KEY_COLUMNS_SQL.
const OWN_KEYS: &str =
    "k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? AND CAST(k.TABLE_NAME AS BINARY) = CAST(? AS BINARY)";

/// A child table's key columns pointing to this table (`?`: child schema, child name twice, this name).
const CHILD_KEYS: &str = "k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND CAST(k.TABLE_NAME AS BINARY) = CAST(? AS BINARY) \
     AND k.REFERENCED_TABLE_SCHEMA = DATABASE() AND CAST(k.REFERENCED_TABLE_NAME AS BINARY) = CAST(? AS BINARY)";

/// The select list of KEY_COLUMNS_SQL with the key position, for one block (`?` 1-2: the table's name).
const KEY_COLUMNS_BLOCK: &str = r"
SELECT k.CONSTRAINT_NAME AS constraint_name, k.TABLE_SCHEMA AS from_schema, k.TABLE_NAME AS from_table,
       k.COLUMN_NAME AS column_name, k.REFERENCED_TABLE_SCHEMA AS to_schema, k.REFERENCED_TABLE_NAME AS to_table,
       k.REFERENCED_COLUMN_NAME AS to_column, NULL AS on_update, NULL AS on_delete,
       CAST(k.TABLE_SCHEMA = DATABASE() AND CAST(k.TABLE_NAME AS BINARY) = CAST(? AS BINARY) AS SIGNED) AS outgoing,
       CAST(k.REFERENCED_TABLE_SCHEMA = DATABASE()
            AND CAST(k.REFERENCED_TABLE_NAME AS BINARY) = CAST(? AS BINARY) AS SIGNED) AS incoming,
       k.ORDINAL_POSITION AS ord
FROM information_schema.KEY_COLUMN_USAGE k
WHERE ";

/// InnoDB's own list of foreign keys naming this table as parent (`?`: its name), read without opening any
/// table; needs the PROCESS privilege. InnoDB writes `db/table` in its file-name encoding (`@0020` for a
/// space): the server encodes this table's name and decodes each child's with its `filename` character set,
/// and `exact` says the decoded name encodes back to what InnoDB wrote.
const CHILDREN_SQL: &str = r"
SELECT DISTINCT c.child_schema, c.child_table, DATABASE() AS db,
       CAST(CONCAT(CONVERT(CONVERT(c.child_schema USING filename) USING binary), '/',
                   CONVERT(CONVERT(c.child_table USING filename) USING binary)) = CAST(c.for_name AS BINARY)
            AS SIGNED) AS exact
FROM (SELECT f.FOR_NAME AS for_name,
             CONVERT(CAST(CAST(SUBSTRING_INDEX(f.FOR_NAME, '/', 1) AS BINARY) AS CHAR CHARACTER SET filename)
                     USING utf8mb4) AS child_schema,
             CONVERT(CAST(CAST(SUBSTRING(f.FOR_NAME, LOCATE('/', f.FOR_NAME) + 1) AS BINARY)
                          AS CHAR CHARACTER SET filename) USING utf8mb4) AS child_table
      FROM information_schema.INNODB_SYS_FOREIGN f
      WHERE CAST(f.REF_NAME AS BINARY) = CONCAT(CONVERT(CONVERT(DATABASE() USING filename) USING binary), '/',
                                               CONVERT(CONVERT(? USING filename) USING binary))) c";

#[derive(FromQueryResult)]
struct ChildRow {
    child_schema: Option<String>,
    child_table: Option<String>,
    db: Option<String>,
    exact: Option<i64>,
}

/// A name whose row in InnoDB's persistent statistics can only be that table's: the statistics name a
/// partition `table#P#part` (`#p#` in MySQL 8), and a server that kept names in the file-name encoding would
/// write `@0020` for a space; names with `#` or `@` are measured one by one instead.
fn whole_table(name: &str) -> bool {
    !name.is_empty() && !name.contains(['#', '@'])
}

/// The child tables (schema, name) of the table `name` from InnoDB's list, other than the table itself;
/// `None` when a name did not decode exactly, so the caller asks every table instead.
fn children(name: &str, rows: &[ChildRow]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for r in rows {
        let (Some(schema), Some(table), Some(db), Some(1)) = (&r.child_schema, &r.child_table, &r.db, r.exact) else {
            return None;
        };
        // Its own keys come with the table's own block already.
        if !(schema == db && table == name) {
            out.push((schema.clone(), table.clone()));
        }
    }
    Some(out)
}

/// How the names queries keep to base tables.
enum BaseTables {
    /// By `TABLE_TYPE` (opens every table's definition).
    ByType,
    /// Every name but these views and sequences.
    Excluding(Arc<Vec<String>>),
}

impl BaseTables {
    fn condition(&self) -> String {
        match self {
            BaseTables::ByType => BASE_BY_TYPE.into(),
            BaseTables::Excluding(others) => base_by_exclusion(others.len()),
        }
    }

    fn values(&self) -> Vec<sea_orm::Value> {
        match self {
            BaseTables::ByType => Vec::new(),
            BaseTables::Excluding(others) => others.iter().map(|n| n.as_str().into()).collect(),
        }
    }
}

#[derive(Default, FromQueryResult)]
struct TableRow {
    schema_name: String,
    table_name: String,
    row_estimate: Option<i64>,
    table_bytes: Option<i64>,
    index_bytes: Option<i64>,
}

#[derive(FromQueryResult)]
struct NameRow {
    schema_name: String,
    table_name: String,
}

#[derive(FromQueryResult)]
struct StatsRow {
    table_name: String,
    row_estimate: Option<i64>,
    table_bytes: Option<i64>,
    index_bytes: Option<i64>,
}

#[derive(FromQueryResult)]
struct CheckRow {
    name: String,
    check_clause: Option<String>,
}

#[derive(FromQueryResult)]
struct RulesRow {
    schema_name: String,
    table_name: String,
    constraint_name: String,
    on_update: Option<String>,
    on_delete: Option<String>,
}

#[derive(FromQueryResult)]
struct CountRow {
    total: i64,
}

#[derive(FromQueryResult)]
struct ColumnRow {
    name: String,
    data_type: String,
    is_nullable: String,
    default_value: Option<String>,
    column_key: String,
    extra: String,
    generation: Option<String>,
}

#[derive(FromQueryResult)]
struct ConstraintRow {
    name: String,
    kind: String,
    check_clause: Option<String>,
}

#[derive(Clone, FromQueryResult)]
pub(super) struct KeyColumnRow {
    pub(super) constraint_name: String,
    pub(super) from_schema: String,
    pub(super) from_table: String,
    pub(super) column_name: String,
    pub(super) to_schema: Option<String>,
    pub(super) to_table: Option<String>,
    pub(super) to_column: Option<String>,
    on_update: Option<String>,
    on_delete: Option<String>,
    outgoing: Option<i64>,
    incoming: Option<i64>,
}

impl From<TableRow> for TableInfo {
    fn from(r: TableRow) -> Self {
        TableInfo {
            schema: r.schema_name,
            name: r.table_name,
            row_estimate: r.row_estimate,
            table_bytes: r.table_bytes,
            index_bytes: r.index_bytes,
            total_bytes: r.table_bytes.zip(r.index_bytes).map(|(t, i)| t + i),
            ..TableInfo::default()
        }
    }
}

impl From<ColumnRow> for ColumnInfo {
    fn from(c: ColumnRow) -> Self {
        let extra = c.extra.to_ascii_lowercase();
        // MariaDB shows a default of NULL as the text NULL; literals come quoted, expressions as written.
        let default = if extra.contains("generated") {
            c.generation.map(|g| format!("GENERATED ALWAYS AS ({g})"))
        } else if extra.contains("auto_increment") {
            Some("AUTO_INCREMENT".into())
        } else {
            c.default_value.filter(|d| d != "NULL")
        };
        ColumnInfo {
            name: c.name,
            data_type: c.data_type,
            nullable: c.is_nullable == "YES",
            default,
            primary_key: c.column_key == "PRI",
        }
    }
}

/// The whitelisted ORDER BY over `information_schema.TABLES t`. Unknowns sort last; ties by name.
fn order_by(sort: TableSort, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let key = match sort {
        TableSort::Name => return format!("t.TABLE_NAME {dir}"),
        TableSort::Rows => "t.TABLE_ROWS",
        TableSort::TableSize => "t.DATA_LENGTH",
        TableSort::IndexSize => "t.INDEX_LENGTH",
        TableSort::TotalSize => "(t.DATA_LENGTH + t.INDEX_LENGTH)",
        TableSort::ToastSize | TableSort::DeadRows | TableSort::LastVacuum | TableSort::LastAnalyze => "NULL",
    };
    format!("{key} IS NULL, {key} {dir}, t.TABLE_NAME")
}

/// The value a size order ranks a table by, as [`order_by`] reads it; `None` for a sort that is not by a size.
fn ranked_value(sort: TableSort, t: &TableRow) -> Option<Option<i64>> {
    match sort {
        TableSort::Rows => Some(t.row_estimate),
        TableSort::TableSize => Some(t.table_bytes),
        TableSort::IndexSize => Some(t.index_bytes),
        TableSort::TotalSize => Some(t.table_bytes.zip(t.index_bytes).map(|(a, b)| a + b)),
        _ => None,
    }
}

/// Sorts tables listed by name as [`order_by`] does: unknowns last, then the value, ties keeping name order.
fn rank(tables: &mut [TableRow], sort: TableSort, descending: bool) {
    tables.sort_by(|a, b| {
        let (x, y) = (ranked_value(sort, a).flatten(), ranked_value(sort, b).flatten());
        x.is_none().cmp(&y.is_none()).then_with(|| if descending { y.cmp(&x) } else { x.cmp(&y) })
    });
}

fn search_text(search: Option<&str>) -> Option<String> {
    search.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn quoted_list(names: &[String]) -> String {
    names.iter().map(|n| quote_ident(n)).collect::<Vec<_>>().join(", ")
}

/// Key column rows grouped into constraints, in the order read.
fn group_keys(rows: Vec<KeyColumnRow>) -> Vec<(KeyColumnRow, Vec<String>, Vec<String>)> {
    let mut keys: Vec<(KeyColumnRow, Vec<String>, Vec<String>)> = Vec::new();
    for r in rows {
        let same = keys.last().is_some_and(|(k, _, _)| {
            k.constraint_name == r.constraint_name && k.from_schema == r.from_schema && k.from_table == r.from_table
        });
        let (column, to_column) = (r.column_name.clone(), r.to_column.clone());
        if !same {
            keys.push((r, Vec::new(), Vec::new()));
        }
        let (_, from, to) = keys.last_mut().expect("pushed above");
        from.push(column);
        to.extend(to_column);
    }
    keys
}

impl MySql {
    /// One page of tables: names first (ordered, searched and limited without opening any table), then the
    /// page's tables looked up by name for their figures. A size order ranks every table by InnoDB's
    /// persistent statistics (see [`SIZE_ORDER`]).
    pub(super) async fn list_tables(&self, query: &TableQuery) -> Result<Page<TableInfo>> {
        let search = search_text(query.search.as_deref());
        let (limit, offset) = (bigint(query.limit, "limit")?, bigint(query.offset, "offset")?);
        let (names, total) = if ranked_value(query.sort, &TableRow::default()).is_some() {
            let Some(order) = self.size_ranking(search.clone(), query.sort, query.descending).await? else {
                return self.list_tables_whole(query).await;
            };
            let total = order.len() as i64;
            let page = order.into_iter().skip(query.offset as usize).take(query.limit as usize);
            (page.map(|t| (t.schema_name, t.table_name)).collect::<Vec<_>>(), total)
        } else {
            // Sorts by what MariaDB does not keep sort by name, ascending, as `order_by` does.
            let descending = query.sort == TableSort::Name && query.descending;
            let kind = self.base_tables().await?;
            let (names, total) = futures::try_join!(
                self.table_names_of(&kind, search.clone(), descending, limit, offset),
                self.count_tables(&kind, search),
            )?;
            (names, total)
        };
        let mut found = self.lookup_tables(&names).await?;
        let items = names.iter().filter_map(|n| found.remove(n)).map(TableInfo::from).collect();
        Ok(Page { items, total: total.max(0) as u64, offset: query.offset, limit: query.limit })
    }

    /// How this database's base tables are told from its views and sequences in the names queries. The names
    /// of views and sequences are kept while the server's DDL count stays (no view, sequence or table can have
    /// been created, dropped or renamed meanwhile), so a page usually reads only names.
    async fn base_tables(&self) -> Result<BaseTables> {
        // Counted before the names are read: a change in between leaves them under an older count, read again.
        let count = self.ddl_count().await?;
        if let Some(count) = &count {
            let kept = self.not_base.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, others)) = kept.as_ref().filter(|(c, _)| c.same_as(count)) {
                return Ok(BaseTables::Excluding(others.clone()));
            }
        }
        let rows = self.db.query_all_raw(statement(NOT_BASE_SQL, [])).await.map_err(db_error)?;
        let others = rows.iter().map(|r| r.try_get_by_index::<String>(0)).collect::<Result<Vec<_>, _>>();
        let Ok(others) = others.map(Arc::new) else { return Ok(BaseTables::ByType) };
        if others.len() > NOT_BASE_LIMIT {
            return Ok(BaseTables::ByType);
        }
        if let Some(count) = count {
            *self.not_base.lock().unwrap_or_else(|p| p.into_inner()) = Some((count, others.clone()));
        }
        Ok(BaseTables::Excluding(others))
    }

    /// Names of base tables matching the search, by name (collation order, as `ORDER BY t.TABLE_NAME`).
    async fn table_names(
        &self,
        search: Option<String>,
        descending: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(String, String)>> {
        let kind = self.base_tables().await?;
        self.table_names_of(&kind, search, descending, limit, offset).await
    }

    async fn table_names_of(
        &self,
        kind: &BaseTables,
        search: Option<String>,
        descending: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(String, String)>> {
        let sql =
            NAMES_SQL.replace("{kind}", &kind.condition()).replace("{dir}", if descending { "DESC" } else { "ASC" });
        let mut values = kind.values();
        values.extend([search.clone().into(), search.into(), limit.into(), offset.into()]);
        let rows: Vec<NameRow> = self.all(&sql, values).await?;
        Ok(rows.into_iter().map(|r| (r.schema_name, r.table_name)).collect())
    }

    /// How many base tables match the search.
    async fn count_tables(&self, kind: &BaseTables, search: Option<String>) -> Result<i64> {
        let mut values = kind.values();
        values.extend([search.clone().into(), search.into()]);
        let found: Option<CountRow> = self.one(&COUNT_SQL.replace("{kind}", &kind.condition()), values).await?;
        Ok(found.map_or(0, |r| r.total))
    }

    /// The named tables' rows from `information_schema.TABLES`, each looked up by name (a dropped one is left out).
    async fn lookup_tables(&self, names: &[(String, String)]) -> Result<HashMap<(String, String), TableRow>> {
        let mut found = HashMap::with_capacity(names.len());
        for chunk in names.chunks(LOOKUP_CHUNK) {
            let sql = vec![LOOKUP_BLOCK; chunk.len()].join("\nUNION ALL");
            let values = chunk
                .iter()
                .flat_map(|(schema, table)| [schema.as_str().into(), table.as_str().into(), table.as_str().into()]);
            let rows: Vec<TableRow> = self.all(&sql, values.collect::<Vec<sea_orm::Value>>()).await?;
            found.extend(rows.into_iter().map(|r| ((r.schema_name.clone(), r.table_name.clone()), r)));
        }
        Ok(found)
    }

    /// Every base table matching the search in a size order, each with the figures it is ranked by: InnoDB's
    /// persistent statistics, or `information_schema.TABLES` for the tables without them. `None` when the
    /// statistics are not readable or more than [`MEASURED_LIMIT`] tables lack them.
    async fn size_ranking(
        &self,
        search: Option<String>,
        sort: TableSort,
        descending: bool,
    ) -> Result<Option<Vec<TableRow>>> {
        let stats: Vec<StatsRow> = match self.all(RANKING_SQL, []).await {
            Ok(rows) => rows,
            Err(Error::Forbidden) => return Ok(None),
            Err(e) => return Err(e),
        };
        // Only rows that can be a table's own: a table without one is measured.
        let stats: HashMap<String, StatsRow> =
            stats.into_iter().filter(|r| whole_table(&r.table_name)).map(|r| (r.table_name.clone(), r)).collect();
        let names = self.table_names(search, false, i64::MAX, 0).await?;
        let unmeasured: Vec<(String, String)> =
            names.iter().filter(|(_, table)| !stats.contains_key(table)).cloned().collect();
        if unmeasured.len() > MEASURED_LIMIT {
            return Ok(None);
        }
        let mut measured = self.lookup_tables(&unmeasured).await?;
        let mut tables: Vec<TableRow> = names
            .into_iter()
            .filter_map(|(schema, table)| match stats.get(&table) {
                Some(s) => Some(TableRow {
                    schema_name: schema,
                    table_name: table,
                    row_estimate: s.row_estimate,
                    table_bytes: s.table_bytes,
                    index_bytes: s.index_bytes,
                }),
                None => measured.remove(&(schema, table)),
            })
            .collect();
        rank(&mut tables, sort, descending);
        Ok(Some(tables))
    }

    /// One page of tables read from every table's row of `information_schema.TABLES`: exact, and slow on a large
    /// catalog (each table is opened).
    async fn list_tables_whole(&self, query: &TableQuery) -> Result<Page<TableInfo>> {
        let search = search_text(query.search.as_deref());
        let (limit, offset) = (bigint(query.limit, "limit")?, bigint(query.offset, "offset")?);
        let sql = TABLES_SQL.replace("{order}", &order_by(query.sort, query.descending));
        let values = [search.clone().into(), search.clone().into(), limit.into(), offset.into()];
        let rows: Vec<TableRow> = self.all(&sql, values).await?;
        let total = self.count_tables(&BaseTables::ByType, search).await?;
        Ok(Page {
            items: rows.into_iter().map(TableInfo::from).collect(),
            total: total.max(0) as u64,
            offset: query.offset,
            limit: query.limit,
        })
    }

    /// The table's row, when `schema` is the current database and such a base table exists.
    async fn find_table(&self, schema: &str, table: &str) -> Result<Option<TableRow>> {
        // Identifiers are in a 3-byte character set: a name with a 4-byte character names no table (and
        // cannot be compared with the plain equality).
        if table.chars().any(|c| u32::from(c) > 0xFFFF) {
            return Ok(None);
        }
        let found: Option<TableRow> = self.one(FIND_SQL, [table.into(), table.into()]).await?;
        Ok(found.filter(|t| t.schema_name == schema))
    }

    /// Key columns of the table's own constraints and of foreign keys pointing to it. With InnoDB's list of
    /// foreign keys readable (and its names decoded exactly), each table involved is looked up by name;
    /// otherwise one query asks every table of the server.
    pub(super) async fn key_columns(&self, name: &str) -> Result<Vec<KeyColumnRow>> {
        let mut rows = self.key_column_rows(name).await?;
        self.fill_rules(&mut rows).await?;
        Ok(rows)
    }

    /// Fills in the update and delete rules of the foreign keys among `rows`, looked up by their tables' names.
    async fn fill_rules(&self, rows: &mut [KeyColumnRow]) -> Result<()> {
        let tables: BTreeSet<(String, String)> = rows
            .iter()
            .filter(|r| r.to_table.is_some())
            .map(|r| (r.from_schema.clone(), r.from_table.clone()))
            .collect();
        if tables.is_empty() {
            return Ok(());
        }
        let tables: Vec<(String, String)> = tables.into_iter().collect();
        let mut rules: HashMap<(String, String, String), RulesRow> = HashMap::new();
        for chunk in tables.chunks(LOOKUP_CHUNK) {
            let sql = vec![RULES_BLOCK; chunk.len()].join("\nUNION ALL");
            let values: Vec<sea_orm::Value> =
                chunk.iter().flat_map(|(schema, table)| [schema.as_str().into(), table.as_str().into()]).collect();
            let found: Vec<RulesRow> = self.all(&sql, values).await?;
            rules.extend(
                found
                    .into_iter()
                    .map(|r| ((r.schema_name.clone(), r.table_name.clone(), r.constraint_name.clone()), r)),
            );
        }
        for r in rows.iter_mut().filter(|r| r.to_table.is_some()) {
            let key = (r.from_schema.clone(), r.from_table.clone(), r.constraint_name.clone());
            if let Some(rule) = rules.get(&key) {
                (r.on_update, r.on_delete) = (rule.on_update.clone(), rule.on_delete.clone());
            }
        }
        Ok(())
    }

    async fn key_column_rows(&self, name: &str) -> Result<Vec<KeyColumnRow>> {
        let found = match self.all::<ChildRow>(CHILDREN_SQL, [name.into()]).await {
            Ok(rows) => children(name, &rows),
            Err(Error::Forbidden | Error::Db(_)) => None,
            Err(e) => return Err(e),
        };
        let Some(children) = found else {
            let n = || sea_orm::Value::from(name);
            return self.all(KEY_COLUMNS_SQL, [n(), n(), n(), n()]).await;
        };
        let mut blocks = vec![format!("{KEY_COLUMNS_BLOCK}{OWN_KEYS}")];
        let mut values: Vec<sea_orm::Value> = vec![name.into(), name.into(), name.into(), name.into()];
        for (schema, table) in &children {
            blocks.push(format!("{KEY_COLUMNS_BLOCK}{CHILD_KEYS}"));
            values.extend([name.into(), name.into(), schema.as_str().into(), table.as_str().into()]);
            values.extend([table.as_str().into(), name.into()]);
        }
        let sql = KEY_COLUMNS_BY_TABLE_SQL.replace("{blocks}", &blocks.join("\nUNION ALL"));
        self.all(&sql, values).await
    }

    pub(super) async fn table_detail(&self, schema: &str, table: &str) -> Result<Option<TableDetail>> {
        let Some(found) = self.find_table(schema, table).await? else { return Ok(None) };
        let name = found.table_name.clone();
        let n = || sea_orm::Value::from(name.as_str());
        let columns: Vec<ColumnRow> = self.all(COLUMNS_SQL, [n(), n()]).await?;
        let mut constraint_rows: Vec<ConstraintRow> = self.all(CONSTRAINTS_SQL, [n(), n()]).await?;
        if constraint_rows.iter().any(|c| c.kind == "CHECK") {
            let checks: Vec<CheckRow> = self.all(CHECKS_SQL, [n(), n()]).await?;
            let checks: HashMap<String, Option<String>> =
                checks.into_iter().map(|c| (c.name, c.check_clause)).collect();
            for c in constraint_rows.iter_mut().filter(|c| c.kind == "CHECK") {
                c.check_clause = checks.get(&c.name).cloned().flatten();
            }
        }
        let key_rows = self.key_columns(&name).await?;
        let indexes = self.table_indexes(&name, &key_rows).await?;

        let keys = group_keys(key_rows);
        let (mut references, mut referenced_by) = (Vec::new(), Vec::new());
        let mut own_keys: BTreeMap<String, (Vec<String>, Option<ForeignKeyInfo>)> = BTreeMap::new();
        for (k, from, to) in keys {
            let outgoing = k.outgoing == Some(1);
            let fk = k.to_table.clone().map(|to_table| ForeignKeyInfo {
                name: k.constraint_name.clone(),
                from_schema: k.from_schema.clone(),
                from_table: k.from_table.clone(),
                from_columns: from.clone(),
                to_schema: k.to_schema.clone().unwrap_or_default(),
                to_table,
                to_columns: to,
                on_delete: k.on_delete.clone().unwrap_or_else(|| "NO ACTION".into()),
                on_update: k.on_update.clone().unwrap_or_else(|| "NO ACTION".into()),
            });
            if let Some(fk) = &fk
                && k.incoming == Some(1)
            {
                referenced_by.push(fk.clone());
            }
            if outgoing {
                if let Some(fk) = &fk {
                    references.push(fk.clone());
                }
                own_keys.insert(k.constraint_name.clone(), (from, fk));
            }
        }
        let constraints = constraint_rows
            .into_iter()
            .map(|c| {
                let own = own_keys.get(&c.name);
                let columns = own.map(|(cols, _)| quoted_list(cols)).unwrap_or_default();
                let definition = match c.kind.as_str() {
                    "PRIMARY KEY" | "UNIQUE" => format!("{} ({columns})", c.kind),
                    "FOREIGN KEY" => match own.and_then(|(_, fk)| fk.as_ref()) {
                        Some(fk) => format!(
                            "FOREIGN KEY ({columns}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                            quote_ident(&fk.to_table),
                            quoted_list(&fk.to_columns),
                            fk.on_delete,
                            fk.on_update
                        ),
                        None => format!("FOREIGN KEY ({columns})"),
                    },
                    "CHECK" => format!("CHECK ({})", c.check_clause.as_deref().unwrap_or("?")),
                    _ => String::new(),
                };
                ConstraintInfo { name: c.name, kind: c.kind, definition }
            })
            .collect();
        Ok(Some(TableDetail {
            table: found.into(),
            columns: columns.into_iter().map(ColumnInfo::from).collect(),
            indexes,
            constraints,
            references,
            referenced_by,
        }))
    }

    /// Rows in primary-key order when there is one, every value read raw and rendered as text.
    pub(super) async fn read_rows(&self, schema: &str, table: &str, offset: u64, limit: u64) -> Result<RowsPage> {
        let not_found = || Error::NotFound(format!("table {schema}.{table}"));
        let found = self.find_table(schema, table).await?.ok_or_else(not_found)?;
        let name = || sea_orm::Value::from(found.table_name.as_str());
        let column_rows: Vec<ColumnRow> = self.all(COLUMNS_SQL, [name(), name()]).await?;
        let columns: Vec<String> = column_rows.iter().map(|c| c.name.clone()).collect();
        let keys: Vec<&str> = column_rows.iter().filter(|c| c.column_key == "PRI").map(|c| c.name.as_str()).collect();
        // Identifiers come from the catalog, never from the request, and are quoted.
        let select = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
        let order = if keys.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", keys.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", "))
        };
        let sql = format!(
            "SELECT {select} FROM {}.{}{order} LIMIT ? OFFSET ?",
            quote_ident(&found.schema_name),
            quote_ident(&found.table_name)
        );
        let fetch = bigint(limit, "limit")?.saturating_add(1);
        let result = self
            .db
            .query_all_raw(statement(&sql, [fetch.into(), bigint(offset, "offset")?.into()]))
            .await
            .map_err(db_error)?;
        let mut rows = Vec::with_capacity(result.len());
        for r in result.iter().take(limit as usize) {
            let row = r.try_as_mysql_row().ok_or_else(|| Error::Internal("not a MySQL row".into()))?;
            rows.push((0..columns.len()).map(|i| value_text(row, i)).collect::<Result<Vec<_>>>()?);
        }
        Ok(RowsPage { columns, rows, offset, limit, has_more: result.len() as u64 > limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_key_has_a_fixed_order_with_name_as_tiebreak() {
        for sort in TableSort::ALL {
            for desc in [false, true] {
                assert!(order_by(sort, desc).contains("t.TABLE_NAME"));
            }
        }
    }

    #[test]
    fn a_size_ranking_puts_unknowns_last_and_keeps_name_order_between_equals() {
        let row = |name: &str, rows: Option<i64>| TableRow {
            table_name: name.into(),
            row_estimate: rows,
            ..TableRow::default()
        };
        let names = |tables: &[TableRow]| tables.iter().map(|t| t.table_name.clone()).collect::<Vec<_>>();
        let listed = || vec![row("a", Some(5)), row("b", None), row("c", Some(9)), row("d", Some(5))];
        let mut up = listed();
        rank(&mut up, TableSort::Rows, false);
        assert_eq!(names(&up), ["a", "d", "c", "b"]);
        let mut down = listed();
        rank(&mut down, TableSort::Rows, true);
        assert_eq!(names(&down), ["c", "a", "d", "b"], "ties stay in name order either way, as in the SQL order");
        let mut total = listed();
        rank(&mut total, TableSort::TotalSize, true);
        assert_eq!(names(&total), ["a", "b", "c", "d"], "no sizes known: name order");
    }

    #[test]
    fn defaults_read_like_the_column_definition() {
        let col = |default: Option<&str>, extra: &str| ColumnRow {
            name: "c".into(),
            data_type: "int(11)".into(),
            is_nullable: "YES".into(),
            default_value: default.map(str::to_string),
            column_key: String::new(),
            extra: extra.into(),
            generation: Some("`a` + 1".into()),
        };
        assert_eq!(ColumnInfo::from(col(Some("NULL"), "")).default, None);
        assert_eq!(ColumnInfo::from(col(Some("'x'"), "")).default.as_deref(), Some("'x'"));
        assert_eq!(ColumnInfo::from(col(None, "auto_increment")).default.as_deref(), Some("AUTO_INCREMENT"));
        assert_eq!(
            ColumnInfo::from(col(None, "STORED GENERATED")).default.as_deref(),
            Some("GENERATED ALWAYS AS (`a` + 1)")
        );
    }
}
