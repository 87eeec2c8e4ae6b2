//! Tables on PostgreSQL: the sorted, searchable list with sizes, one table's detail, and its rows as text.
//!
//! Sizes, precisely (each summed over the leaf partitions for a partitioned table, whose own size is 0):
//! - `table_bytes`: the heap's main fork + free space map + visibility map (+ init fork), i.e.
//!   `pg_table_size` minus the TOAST part;
//! - `toast_bytes`: the TOAST table including its index (`pg_total_relation_size(reltoastrelid)`);
//! - `index_bytes`: every index of the table (`pg_indexes_size`);
//! - `total_bytes`: `pg_total_relation_size`, which is exactly the sum of the three above.
//!
//! A page of the list costs what it shows, in two steps: the first orders and limits the matching tables
//! on catalog columns that cost nothing to read (names, `reltuples`, `relpages`, the statistics
//! counters), the second computes every fact — exact sizes, which `stat` each file, and the vacuum and
//! analyze times — for the rows of the page only. The total is a plain count with the same search.
//!
//! Sorting by a size therefore orders by the planner's estimate, not by a `stat` of every file: each
//! part's `relpages` (the heap, its TOAST table and TOAST index, its indexes; summed over the leaf
//! partitions) × `block_size`, as of the last VACUUM, ANALYZE or CREATE INDEX. A table never vacuumed
//! or analyzed has `relpages` 0 and no estimate: while at most [`EXACT_SIZE_LIMIT`] of the listed
//! tables are in that state they are measured exactly and sort by their real size; past that they sort
//! as their estimate says (empty, or their indexes' size at creation) and the page says so. The sizes
//! shown are always exact. Measured side by side on 10,000 tables with 3 indexes each (PostgreSQL 15, a
//! busy 2-core machine): the old single query that measured every table took 1.9 s sorted by total size,
//! these two 0.4 s; by name 135 ms against 41 ms (figures in the commit that made them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};

use super::{Postgres, bigint, db_error, qualified, quote_ident, search_pattern, statement, strings};
use crate::db::introspect::{
    ColumnInfo, ConstraintInfo, ForeignKeyInfo, Page, RowsPage, TableDetail, TableInfo, TableQuery, TableSort,
};
use crate::error::{Error, Result};

/// Tables never vacuumed or analyzed are measured exactly for a size order while at most this many are listed.
const EXACT_SIZE_LIMIT: i64 = 200;

/// What the tables page says about a size order (the number is [`EXACT_SIZE_LIMIT`]).
pub(super) const SIZE_ORDER: &str = "Ordered by the planner's size estimate as of each table's last VACUUM, ANALYZE or \
     CREATE INDEX; tables never vacuumed or analyzed are measured now while there are at most 200 of them, and \
     count as empty beyond that (ANALYZE them). Without a search the order is worked out at most every 30 seconds \
     (at once after a table is created). The sizes shown are read now.";

/// How long a size order of every table is reused while no relation was created (see [`super::reuse`]).
pub(super) const RANKING_FOR: Duration = Duration::from_secs(30);

/// Step one of a page: which tables match, and how many. `$1`: ILIKE pattern on `schema.table` or NULL;
/// `$4`: [`EXACT_SIZE_LIMIT`]. The ORDER BY, LIMIT `$2` and OFFSET `$3` follow in [`PAGE_SQL`] or
/// [`SIZE_PAGE_SQL`].
///
/// `parts` lists the relations holding the data: the table itself, or a partitioned table's leaves.
/// Only columns that cost nothing are read for every table; `never` marks a heap without statistics.
const REL_SQL: &str = r"
WITH rel AS MATERIALIZED (
    SELECT c.oid, n.nspname::text AS schema_name, c.relname::text AS table_name, c.relkind,
           c.relpages, c.reltuples, c.reltoastrelid,
           c.relkind = 'r' AND c.relpages = 0 AND c.reltuples < 0 AS never,
           CASE WHEN c.relkind = 'p' THEN ARRAY(SELECT t.relid FROM pg_partition_tree(c.oid) t WHERE t.isleaf)
                ELSE ARRAY[c.oid] END AS parts
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      AND ($1::text IS NULL OR (n.nspname || '.' || c.relname) ILIKE $1 ESCAPE E'\\')
),
k AS (
    SELECT count(*) AS total, count(*) FILTER (WHERE never) <= $4 AS exact FROM rel
)";

/// The page of [`REL_SQL`] in any order but a size's. `{order}` comes from [`order_by`] only.
const PAGE_SQL: &str = r"
SELECT r.oid::bigint AS oid, k.total
FROM rel r CROSS JOIN k
ORDER BY {order}
LIMIT $2 OFFSET $3";

/// The page of [`REL_SQL`] in a size order: `{size}` (from [`size_key`]) over each leaf `f`, summed per
/// table, with the `{joins}` it needs ([`INDEX_JOIN`], [`TOAST_JOIN`]). Pages of indexes and TOAST tables are gathered in one pass over `pg_index` (hash joins)
/// rather than probed table by table (~15 µs each, 0.5 s for 10,000 tables on a busy machine).
const SIZE_PAGE_SQL: &str = r",
leaf AS (
    SELECT r.oid AS table_oid, r.oid, r.relpages, r.reltuples, r.reltoastrelid FROM rel r WHERE r.relkind = 'r'
    UNION ALL
    SELECT r.oid, l.oid, l.relpages, l.reltuples, l.reltoastrelid
    FROM rel r JOIN pg_class l ON l.oid = ANY (r.parts) WHERE r.relkind = 'p'
),
ip AS (
    SELECT i.indrelid AS owner, sum(x.relpages)::bigint AS pages
    FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
    GROUP BY i.indrelid
),
est AS (
    SELECT f.table_oid, sum({size}) AS size
    FROM leaf f
    CROSS JOIN k{joins}
    GROUP BY f.table_oid
)
SELECT r.oid::bigint AS oid, k.total
FROM rel r CROSS JOIN k LEFT JOIN est e ON e.table_oid = r.oid
ORDER BY e.size {dir} NULLS LAST, r.schema_name, r.table_name
LIMIT $2 OFFSET $3";

/// Step two: every fact of the tables `$1` (oids), in that order.
///
/// Statistics come from the `pg_stat_get_*` functions the `pg_stat_user_tables` view is made of: the view
/// aggregates over every relation of the database before any join, which is wasted work for one page.
const FACTS_SQL: &str = r"
WITH rel AS (
    SELECT c.oid, p.pos, n.nspname::text AS schema_name, c.relname::text AS table_name,
           CASE WHEN c.relkind = 'p' THEN ARRAY(SELECT t.relid FROM pg_partition_tree(c.oid) t WHERE t.isleaf)
                ELSE ARRAY[c.oid] END AS parts
    FROM unnest($1::bigint[]) WITH ORDINALITY p(oid, pos)
    JOIN pg_class c ON c.oid = p.oid::oid
    JOIN pg_namespace n ON n.oid = c.relnamespace
)
SELECT r.oid::bigint AS oid, r.schema_name, r.table_name, f.row_estimate,
       f.table_bytes, f.toast_bytes, f.index_bytes, f.total_bytes, f.dead_rows,
       pg_stat_get_last_vacuum_time(r.oid) AS last_vacuum,
       pg_stat_get_last_autovacuum_time(r.oid) AS last_autovacuum,
       pg_stat_get_last_analyze_time(r.oid) AS last_analyze,
       pg_stat_get_last_autoanalyze_time(r.oid) AS last_autoanalyze
FROM rel r
CROSS JOIN LATERAL (
    -- reltuples is -1 until the first VACUUM or ANALYZE: unknown, not zero.
    SELECT (sum(l.reltuples) FILTER (WHERE l.reltuples >= 0))::bigint AS row_estimate,
           sum(pg_stat_get_dead_tuples(l.oid))::bigint AS dead_rows,
           sum({table_bytes})::bigint AS table_bytes, sum({toast_bytes})::bigint AS toast_bytes,
           sum({index_bytes})::bigint AS index_bytes, sum({total_bytes})::bigint AS total_bytes
    FROM pg_class l WHERE l.oid = ANY (r.parts)
) f
ORDER BY r.pos";

/// One table by exact schema (`$1`) and name (`$2`): its own statement, so that the generic plan
/// PostgreSQL switches to after five runs still finds it through the name indexes.
const FIND_SQL: &str = r"
SELECT c.oid::bigint AS oid, (1)::bigint AS total
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'";

/// One schema's tables in name order, for [`Postgres::walk`]: `$1` the schema's oid, `$2` limit, `$3` offset.
const SCHEMA_PAGE_SQL: &str = r"
SELECT c.oid::bigint AS oid, (0)::bigint AS total
FROM pg_class c
WHERE c.relnamespace = $1::bigint::oid AND c.relkind IN ('r', 'p')
ORDER BY c.relname {dir}
LIMIT $2 OFFSET $3";

/// How many tables match, for a page past the end (where step one has no row to carry the total on).
const COUNT_SQL: &str = r"
SELECT count(*) AS total
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
  AND ($1::text IS NULL OR (n.nspname || '.' || c.relname) ILIKE $1 ESCAPE E'\\')";

// Exact size of one relation `{l}` (a row of pg_class) by part; see the module comment.
const TABLE_BYTES: &str = "pg_table_size({l}.oid) - coalesce(pg_total_relation_size(nullif({l}.reltoastrelid, 0)), 0)";
const TOAST_BYTES: &str = "coalesce(pg_total_relation_size(nullif({l}.reltoastrelid, 0)), 0)";
const INDEX_BYTES: &str = "pg_indexes_size({l}.oid)";
const TOTAL_BYTES: &str = "pg_total_relation_size({l}.oid)";

// What the estimates of indexes and TOAST need to see of a leaf `f`.
const INDEX_JOIN: &str = "\n    LEFT JOIN ip ON ip.owner = f.oid";
const TOAST_JOIN: &str =
    "\n    LEFT JOIN pg_class tt ON tt.oid = f.reltoastrelid\n    LEFT JOIN ip tip ON tip.owner = f.reltoastrelid";

// Estimated pages of one leaf `f` by part, from the catalog only (`ip`, `tt`, `tip` as in SIZE_PAGE_SQL).
const TABLE_PAGES: &str = "f.relpages::bigint";
const TOAST_PAGES: &str = "coalesce(tt.relpages, 0)::bigint + coalesce(tip.pages, 0)";
const INDEX_PAGES: &str = "coalesce(ip.pages, 0)";

/// Columns of one table (`$1`: its oid). Identity and generated columns show how they are generated.
const COLUMNS_SQL: &str = r"
SELECT a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS data_type,
       NOT a.attnotnull AS nullable,
       CASE WHEN a.attgenerated = 's' THEN 'GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED'
            WHEN a.attidentity = 'a' THEN 'GENERATED ALWAYS AS IDENTITY'
            WHEN a.attidentity = 'd' THEN 'GENERATED BY DEFAULT AS IDENTITY'
            ELSE pg_get_expr(d.adbin, d.adrelid) END AS default_value,
       coalesce(a.attnum = ANY (pk.conkey), false) AS primary_key
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_constraint pk ON pk.conrelid = a.attrelid AND pk.contype = 'p'
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum";

/// Constraints of one table (`$1`: its oid). A foreign key to a partitioned table is stored once more for
/// each of its partitions (same `conrelid` as the parent constraint): those copies are left out.
const CONSTRAINTS_SQL: &str = r"
SELECT c.conname::text AS name, c.contype::text AS kind, pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c
WHERE c.conrelid = $1::oid
  AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.oid = c.conparentid AND p.conrelid = c.conrelid)
ORDER BY array_position(ARRAY['p', 'u', 'f', 'c', 'x', 't'], c.contype::text), c.conname";

/// Foreign keys from and to one table (`$1`: its oid), columns in key order. Copies PostgreSQL makes for
/// partitions are left out on the side where they repeat their parent: towards the referenced table's
/// partitions (same `conrelid`) and from the referencing table's partitions (same `confrelid`).
/// (A join to the parent, not `NOT EXISTS`: inside the OR the latter costs a full catalog pass, ~80 ms
/// with 10,000 tables.)
const FOREIGN_KEYS_SQL: &str = r"
SELECT c.conname::text AS name,
       fn.nspname::text AS from_schema, ft.relname::text AS from_table,
       (SELECT json_agg(a.attname::text ORDER BY k.ord)
          FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS from_columns,
       tn.nspname::text AS to_schema, tt.relname::text AS to_table,
       (SELECT json_agg(a.attname::text ORDER BY k.ord)
          FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS to_columns,
       c.confdeltype::text AS on_delete, c.confupdtype::text AS on_update,
       d.outgoing, d.incoming
FROM pg_constraint c
JOIN pg_class ft ON ft.oid = c.conrelid
JOIN pg_namespace fn ON fn.oid = ft.relnamespace
JOIN pg_class tt ON tt.oid = c.confrelid
JOIN pg_namespace tn ON tn.oid = tt.relnamespace
LEFT JOIN pg_constraint p ON p.oid = c.conparentid
CROSS JOIN LATERAL (
    SELECT c.conrelid = $1::oid AND (p.oid IS NULL OR p.conrelid <> c.conrelid) AS outgoing,
           c.confrelid = $1::oid AND (p.oid IS NULL OR p.confrelid <> c.confrelid) AS incoming
) d
WHERE c.contype = 'f' AND (c.conrelid = $1::oid OR c.confrelid = $1::oid) AND (d.outgoing OR d.incoming)
ORDER BY c.conname, fn.nspname, ft.relname";

/// A table the catalog knows (`$1` schema, `$2` name, both exact), with its columns and primary key.
const ROWS_TABLE_SQL: &str = r"
SELECT n.nspname::text AS schema_name, c.relname::text AS table_name,
       (SELECT json_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT json_agg(a.attname::text ORDER BY k.ord)
          FROM pg_constraint p
          CROSS JOIN unnest(p.conkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = p.conrelid AND a.attnum = k.attnum
         WHERE p.conrelid = c.oid AND p.contype = 'p') AS key_columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'";

#[derive(FromQueryResult)]
pub(super) struct TableRow {
    pub(super) oid: i64,
    schema_name: String,
    table_name: String,
    row_estimate: Option<i64>,
    table_bytes: Option<i64>,
    toast_bytes: Option<i64>,
    index_bytes: Option<i64>,
    total_bytes: Option<i64>,
    dead_rows: Option<i64>,
    last_vacuum: Option<DateTime<Utc>>,
    last_autovacuum: Option<DateTime<Utc>>,
    last_analyze: Option<DateTime<Utc>>,
    last_autoanalyze: Option<DateTime<Utc>>,
}

/// A table chosen by step one (or by name), and how many matched.
#[derive(FromQueryResult)]
struct OidRow {
    oid: i64,
    total: i64,
}

#[derive(FromQueryResult)]
struct CountRow {
    total: i64,
}

#[derive(FromQueryResult)]
struct ColumnRow {
    name: String,
    data_type: String,
    nullable: bool,
    default_value: Option<String>,
    primary_key: bool,
}

#[derive(FromQueryResult)]
struct ConstraintRow {
    name: String,
    kind: String,
    definition: String,
}

#[derive(FromQueryResult)]
struct ForeignKeyRow {
    name: String,
    from_schema: String,
    from_table: String,
    from_columns: Option<serde_json::Value>,
    to_schema: String,
    to_table: String,
    to_columns: Option<serde_json::Value>,
    on_delete: String,
    on_update: String,
    outgoing: bool,
    incoming: bool,
}

#[derive(FromQueryResult)]
struct RowsTableRow {
    schema_name: String,
    table_name: String,
    columns: Option<serde_json::Value>,
    key_columns: Option<serde_json::Value>,
}

impl From<TableRow> for TableInfo {
    fn from(r: TableRow) -> Self {
        TableInfo {
            schema: r.schema_name,
            name: r.table_name,
            row_estimate: r.row_estimate,
            table_bytes: r.table_bytes,
            index_bytes: r.index_bytes,
            toast_bytes: r.toast_bytes,
            total_bytes: r.total_bytes,
            dead_rows: r.dead_rows,
            last_vacuum: r.last_vacuum,
            last_autovacuum: r.last_autovacuum,
            last_analyze: r.last_analyze,
            last_autoanalyze: r.last_autoanalyze,
        }
    }
}

impl From<ColumnRow> for ColumnInfo {
    fn from(r: ColumnRow) -> Self {
        ColumnInfo {
            name: r.name,
            data_type: r.data_type,
            nullable: r.nullable,
            default: r.default_value,
            primary_key: r.primary_key,
        }
    }
}

impl From<ConstraintRow> for ConstraintInfo {
    fn from(r: ConstraintRow) -> Self {
        let kind = match r.kind.as_str() {
            "p" => "PRIMARY KEY",
            "u" => "UNIQUE",
            "f" => "FOREIGN KEY",
            "c" => "CHECK",
            "x" => "EXCLUDE",
            "t" => "CONSTRAINT TRIGGER",
            _ => "OTHER",
        };
        ConstraintInfo { name: r.name, kind: kind.into(), definition: r.definition }
    }
}

impl From<ForeignKeyRow> for ForeignKeyInfo {
    fn from(r: ForeignKeyRow) -> Self {
        ForeignKeyInfo {
            name: r.name,
            from_schema: r.from_schema,
            from_table: r.from_table,
            from_columns: strings(r.from_columns),
            to_schema: r.to_schema,
            to_table: r.to_table,
            to_columns: strings(r.to_columns),
            on_delete: fk_action(&r.on_delete).into(),
            on_update: fk_action(&r.on_update).into(),
        }
    }
}

/// Decodes `pg_constraint.confdeltype` / `confupdtype`.
fn fk_action(code: &str) -> &'static str {
    match code {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "UNKNOWN",
    }
}

/// A per-relation expression (over `{l}`) for a listed table `r`: its own value for a plain table, the
/// sum over its leaf partitions for a partitioned one.
fn per_table(leaf: &str) -> String {
    format!(
        "CASE WHEN r.relkind = 'r' THEN {} ELSE (SELECT sum({}) FROM pg_class l WHERE l.oid = ANY (r.parts)) END",
        leaf.replace("{l}", "r"),
        leaf.replace("{l}", "l")
    )
}

/// The size of a leaf `f` in bytes for a size order: the estimate from `pages`, or the exact `bytes`
/// for a heap without statistics while `k.exact` says there are few of those (see the module comment).
fn size_key(pages: &str, bytes: &str) -> String {
    format!(
        "CASE WHEN f.relpages = 0 AND f.reltuples < 0 AND k.exact THEN {} \
         ELSE ({pages}) * current_setting('block_size')::bigint END",
        bytes.replace("{l}", "f")
    )
}

/// The whitelisted ORDER BY of [`PAGE_SQL`], over `rel` (alias `r`), for the orders that are not sizes.
/// Ties go by name.
fn order_by(sort: TableSort, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let key = match sort {
        TableSort::Rows => format!("({})::bigint", per_table("CASE WHEN {l}.reltuples >= 0 THEN {l}.reltuples END")),
        TableSort::DeadRows => per_table("pg_stat_get_dead_tuples({l}.oid)"),
        // Never is the oldest: first when sorting from the oldest, last from the newest.
        TableSort::LastVacuum => {
            "greatest(pg_stat_get_last_vacuum_time(r.oid), pg_stat_get_last_autovacuum_time(r.oid))".to_string()
        }
        TableSort::LastAnalyze => {
            "greatest(pg_stat_get_last_analyze_time(r.oid), pg_stat_get_last_autoanalyze_time(r.oid))".to_string()
        }
        _ => return format!("r.schema_name {dir}, r.table_name {dir}"),
    };
    let nulls = match (sort, descending) {
        (TableSort::LastVacuum | TableSort::LastAnalyze, false) => "NULLS FIRST",
        _ => "NULLS LAST",
    };
    format!("{key} {dir} {nulls}, r.schema_name, r.table_name")
}

/// Step one with its order filled in (no user text).
fn order_sql(sort: TableSort, descending: bool) -> String {
    let (size, joins) = match sort {
        TableSort::TableSize => (size_key(TABLE_PAGES, TABLE_BYTES), String::new()),
        TableSort::IndexSize => (size_key(INDEX_PAGES, INDEX_BYTES), INDEX_JOIN.to_string()),
        TableSort::ToastSize => (size_key(TOAST_PAGES, TOAST_BYTES), TOAST_JOIN.to_string()),
        TableSort::TotalSize => (
            size_key(&format!("{TABLE_PAGES} + {INDEX_PAGES} + {TOAST_PAGES}"), TOTAL_BYTES),
            format!("{INDEX_JOIN}{TOAST_JOIN}"),
        ),
        _ => return format!("{REL_SQL}{}", PAGE_SQL.replace("{order}", &order_by(sort, descending))),
    };
    let dir = if descending { "DESC" } else { "ASC" };
    format!("{REL_SQL}{}", SIZE_PAGE_SQL.replace("{size}", &size).replace("{joins}", &joins).replace("{dir}", dir))
}

/// Step two with its size expressions filled in.
fn facts_sql() -> String {
    FACTS_SQL
        .replace("{table_bytes}", TABLE_BYTES)
        .replace("{toast_bytes}", TOAST_BYTES)
        .replace("{index_bytes}", INDEX_BYTES)
        .replace("{total_bytes}", TOTAL_BYTES)
        .replace("{l}", "l")
}

/// Whether a sort is by a size (ordered by estimates over every table, see [`SIZE_PAGE_SQL`]).
fn is_size(sort: TableSort) -> bool {
    matches!(sort, TableSort::TableSize | TableSort::IndexSize | TableSort::ToastSize | TableSort::TotalSize)
}

/// Names PostgreSQL cannot hold (a NUL byte) cannot name a table; the driver would refuse to send them.
fn impossible_name(name: &str) -> bool {
    name.contains('\0')
}

impl Postgres {
    pub(super) async fn list_tables(&self, query: &TableQuery) -> Result<Page<TableInfo>> {
        let pattern = search_pattern(query.search.as_deref());
        let (limit, offset) = (bigint(query.limit, "limit")?, bigint(query.offset, "offset")?);
        let (chosen, total) = if query.sort == TableSort::Name && pattern.is_none() {
            let (chosen, total) =
                self.walk::<OidRow>("'r', 'p'", SCHEMA_PAGE_SQL, query.descending, query.offset, query.limit).await?;
            (chosen, total as i64)
        } else if is_size(query.sort) && pattern.is_none() {
            let ranking = self.size_ranking(query.sort, query.descending).await?;
            let page = ranking.iter().skip(query.offset as usize).take(query.limit as usize);
            (page.map(|&oid| OidRow { oid, total: 0 }).collect(), ranking.len() as i64)
        } else {
            let values = [pattern.clone().into(), limit.into(), offset.into(), EXACT_SIZE_LIMIT.into()];
            let chosen: Vec<OidRow> = self.all(&order_sql(query.sort, query.descending), values).await?;
            let total = match chosen.first() {
                Some(r) => r.total,
                None if query.offset == 0 && query.limit > 0 => 0,
                None => self.one::<CountRow>(COUNT_SQL, [pattern.into()]).await?.map_or(0, |r| r.total),
            };
            (chosen, total)
        };
        let oids: Vec<i64> = chosen.iter().map(|r| r.oid).collect();
        let items = if oids.is_empty() { Vec::new() } else { self.table_facts(oids).await? };
        Ok(Page {
            items: items.into_iter().map(TableInfo::from).collect(),
            total: total.max(0) as u64,
            offset: query.offset,
            limit: query.limit,
        })
    }

    /// Every table in a size order, reused for [`RANKING_FOR`] while no relation was created: ordering
    /// 10,000 tables by their pages joins every index to its table, which costs far more than the page.
    pub(super) async fn size_ranking(&self, sort: TableSort, descending: bool) -> Result<Arc<Vec<i64>>> {
        let max_oid = self.max_oid().await?;
        if let Some(ranking) = self.rankings.get(&(sort, descending), max_oid) {
            return Ok(ranking);
        }
        let at = Instant::now();
        let none: Option<String> = None;
        let values = [none.into(), Option::<i64>::None.into(), 0i64.into(), EXACT_SIZE_LIMIT.into()];
        let rows: Vec<OidRow> = self.all(&order_sql(sort, descending), values).await?;
        let ranking = Arc::new(rows.into_iter().map(|r| r.oid).collect::<Vec<_>>());
        self.rankings.put((sort, descending), max_oid, at, ranking.clone());
        Ok(ranking)
    }

    /// Every fact of these tables (by oid), in that order; a table dropped meanwhile is left out.
    pub(super) async fn table_facts(&self, oids: Vec<i64>) -> Result<Vec<TableRow>> {
        self.all(&facts_sql(), [oids.into()]).await
    }

    /// The oid of one table, looked up by exact schema and name.
    async fn find_table(&self, schema: &str, table: &str) -> Result<Option<i64>> {
        if impossible_name(schema) || impossible_name(table) {
            return Ok(None);
        }
        Ok(self.one::<OidRow>(FIND_SQL, [schema.into(), table.into()]).await?.map(|r| r.oid))
    }

    pub(super) async fn table_detail(&self, schema: &str, table: &str) -> Result<Option<TableDetail>> {
        let Some(oid) = self.find_table(schema, table).await? else { return Ok(None) };
        // Five independent reads, side by side on the pool's connections: the page waits for the slowest, not the sum.
        let (mut facts, columns, constraints, keys, indexes) = futures::try_join!(
            self.table_facts(vec![oid]),
            self.all::<ColumnRow>(COLUMNS_SQL, [oid.into()]),
            self.all::<ConstraintRow>(CONSTRAINTS_SQL, [oid.into()]),
            self.all::<ForeignKeyRow>(FOREIGN_KEYS_SQL, [oid.into()]),
            self.table_indexes(oid),
        )?;
        let Some(row) = facts.pop() else { return Ok(None) }; // dropped meanwhile
        let (mut references, mut referenced_by) = (Vec::new(), Vec::new());
        for key in keys {
            let (outgoing, incoming) = (key.outgoing, key.incoming);
            let info = ForeignKeyInfo::from(key);
            // A self-reference is both.
            if incoming {
                referenced_by.push(info.clone());
            }
            if outgoing {
                references.push(info);
            }
        }
        Ok(Some(TableDetail {
            table: row.into(),
            columns: columns.into_iter().map(ColumnInfo::from).collect(),
            indexes,
            constraints: constraints.into_iter().map(ConstraintInfo::from).collect(),
            references,
            referenced_by,
        }))
    }

    /// Rows in primary-key order when there is one (physical order otherwise), every value cast to text in SQL.
    pub(super) async fn read_rows(&self, schema: &str, table: &str, offset: u64, limit: u64) -> Result<RowsPage> {
        let not_found = || Error::NotFound(format!("table {schema}.{table}"));
        if impossible_name(schema) || impossible_name(table) {
            return Err(not_found());
        }
        let found: Option<RowsTableRow> = self.one(ROWS_TABLE_SQL, [schema.into(), table.into()]).await?;
        let found = found.ok_or_else(not_found)?;
        let columns = strings(found.columns);
        let keys = strings(found.key_columns);
        // Identifiers come from the catalog, never from the request, and are quoted. Each `::text` output
        // column keeps its column's name, and a bare name in ORDER BY means the output column: the key is
        // qualified with the table's alias so rows sort by the real column (1, 2, 10), not its text (1, 10, 2).
        let select = columns.iter().map(|c| format!("t.{}::text", quote_ident(c))).collect::<Vec<_>>().join(", ");
        let order = if keys.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", keys.iter().map(|k| format!("t.{}", quote_ident(k))).collect::<Vec<_>>().join(", "))
        };
        let sql = format!(
            "SELECT {select} FROM {} AS t{order} LIMIT $1 OFFSET $2",
            qualified(&found.schema_name, &found.table_name)
        );
        let fetch = bigint(limit, "limit")?.saturating_add(1);
        let result = self
            .db
            .query_all_raw(statement(&sql, [fetch.into(), bigint(offset, "offset")?.into()]))
            .await
            .map_err(db_error)?;
        let mut rows = Vec::with_capacity(result.len());
        for r in result.iter().take(limit as usize) {
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                values.push(r.try_get_by_index::<Option<String>>(i).map_err(db_error)?);
            }
            rows.push(values);
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
                let order = order_sql(sort, desc);
                assert!(order.contains("r.table_name"), "{order}");
                assert!(!order_sql(sort, desc).contains('{'), "unfilled placeholder for {sort:?}");
            }
        }
        assert!(order_by(TableSort::LastVacuum, false).contains("NULLS FIRST"));
        assert!(!facts_sql().contains('{'));
    }

    #[test]
    fn the_size_order_note_names_the_exact_limit() {
        assert!(SIZE_ORDER.contains(&format!(" {EXACT_SIZE_LIMIT} ")), "{SIZE_ORDER}");
    }

    #[test]
    fn foreign_key_actions_are_decoded() {
        assert_eq!(fk_action("c"), "CASCADE");
        assert_eq!(fk_action("n"), "SET NULL");
        assert_eq!(fk_action("a"), "NO ACTION");
    }
}
