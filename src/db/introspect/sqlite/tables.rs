//! Tables on SQLite: the sorted, searchable list with sizes, one table's detail, and its rows as text.
//!
//! Row counts are the estimates `ANALYZE` leaves in `sqlite_stat1` (unknown before the first ANALYZE):
//! counting rows would read every table. Sizes come from `dbstat` with `aggregate = 1` (one row per
//! b-tree) when available: `table_bytes` is the table's b-tree, `index_bytes` its indexes' b-trees,
//! `total_bytes` their sum; SQLite has no TOAST, dead rows or vacuum/analyze times, so those are `None`
//! and sorting by them sorts by name. As on PostgreSQL, sizes cost a walk of each b-tree, so they are
//! read for the rows of the page only unless the page is sorted by a size.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, FromQueryResult};

use super::sql_text::{checks, foreign_key_names};
use super::{MAIN, Sqlite, db_error, quote_ident, statement};
use crate::db::introspect::{
    ColumnInfo, ConstraintInfo, ForeignKeyInfo, Page, RowsPage, TableDetail, TableInfo, TableQuery, TableSort, bigint,
    bytes_as_text,
};
use crate::error::{Error, Result};

/// One page of tables. `?1`: search text or NULL; `?2`: an exact name or NULL; `?3`, `?4`: limit and offset.
/// `{ctes}`, `{joins}`, `{order}`, `{rows}` and the size expressions are replaced by fragments chosen from
/// constants only. The page is ordered and cut on names (and, for a row or size order, on one pass over
/// `sqlite_stat1` or `dbstat`) first; row estimates and sizes are then read for the page's rows only.
const TABLES_SQL: &str = r"
WITH t AS (
    SELECT m.name AS table_name
    FROM sqlite_schema m
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
      AND (?1 IS NULL OR instr(lower('main.' || m.name), lower(?1)) > 0)
      AND (?2 IS NULL OR m.name = ?2)
){ctes},
page AS MATERIALIZED (
    SELECT t.table_name, row_number() OVER (ORDER BY {order}) AS pos
    FROM t{joins}
    ORDER BY pos
    LIMIT ?3 OFFSET ?4
)
SELECT t.table_name, {rows} AS row_estimate, {table_bytes} AS table_bytes, {index_bytes} AS index_bytes
FROM page t
ORDER BY t.pos";

/// How many tables match (`?1`: search text or NULL).
const COUNT_SQL: &str = r"
SELECT count(*) AS n
FROM sqlite_schema m
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
  AND (?1 IS NULL OR instr(lower('main.' || m.name), lower(?1)) > 0)";

/// The row estimate of table `t.table_name` from the largest count ANALYZE stored for it.
const ROWS_FROM_STAT1: &str = "(SELECT max(CAST(s.stat AS INTEGER)) FROM sqlite_stat1 s WHERE s.tbl = t.table_name)";

// Sizes of the page's table `t.table_name` from dbstat: each b-tree is looked up by name (`name =` and
// `aggregate = 1` are constraints dbstat uses), so a page walks only its own tables' and indexes' b-trees.
const TABLE_BYTES: &str = "(SELECT d.pgsize FROM dbstat d WHERE d.name = t.table_name AND d.aggregate = 1)";
const INDEX_BYTES: &str = "(SELECT coalesce(sum((SELECT d.pgsize FROM dbstat d WHERE d.name = i.name AND d.aggregate = 1)), 0) \
     FROM sqlite_schema i WHERE i.type = 'index' AND i.tbl_name = t.table_name)";

// For an order by rows or size, every table's value is needed: one pass over `sqlite_stat1`, or one walk
// of every b-tree in dbstat, joined to the tables (never one lookup per table). CROSS JOIN keeps
// `sqlite_schema` outside, so SQLite indexes the walked sizes by name instead of scanning them per row.
const ROWS_CTE: &str =
    ",\nest AS MATERIALIZED (SELECT s.tbl, max(CAST(s.stat AS INTEGER)) AS n FROM sqlite_stat1 s GROUP BY s.tbl)";
const ROWS_JOIN: &str = "\n    LEFT JOIN est ON est.tbl = t.table_name";
const SIZES_CTE: &str = ",\nsizes AS MATERIALIZED (SELECT d.name, d.pgsize FROM dbstat d WHERE d.aggregate = 1),
per_table AS MATERIALIZED (
    SELECT b.tbl_name,
           sum(CASE WHEN b.type = 'table' THEN s.pgsize END) AS table_bytes,
           coalesce(sum(CASE WHEN b.type = 'index' THEN s.pgsize END), 0) AS index_bytes
    FROM sqlite_schema b CROSS JOIN sizes s ON s.name = b.name
    WHERE b.type IN ('table', 'index')
    GROUP BY b.tbl_name
)";
const SIZES_JOIN: &str = "\n    LEFT JOIN per_table ps ON ps.tbl_name = t.table_name";

/// The table's own row in `sqlite_schema` (`?1`: exact name).
const FIND_SQL: &str = r"
SELECT m.name AS table_name, m.sql AS definition
FROM sqlite_schema m
WHERE m.type = 'table' AND m.name = ?1 AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'";

/// Columns (`?1`: table). `hidden` is 1 for a virtual table's hidden column, 2 or 3 for a generated one.
const COLUMNS_SQL: &str = r#"
SELECT c.name, c.type AS data_type, c."notnull" AS not_null, c.dflt_value AS default_value, c.pk, c.hidden
FROM pragma_table_xinfo(?1) c
WHERE c.hidden <> 1
ORDER BY c.cid"#;

/// Indexes backing PRIMARY KEY and UNIQUE constraints, with their columns (`?1`: table).
const KEY_CONSTRAINTS_SQL: &str = r"
SELECT il.name AS index_name, il.origin, json_group_array(ii.name) AS columns
FROM pragma_index_list(?1) il
JOIN pragma_index_info(il.name) ii
WHERE il.origin IN ('pk', 'u')
GROUP BY il.name, il.origin
ORDER BY il.origin = 'u', il.name";

/// Foreign keys from the table (`?1`), one row per column pair.
const FOREIGN_KEYS_SQL: &str = r#"
SELECT ?1 AS from_table, f.id, f.seq, f."table" AS to_table, f."from" AS from_column, f."to" AS to_column,
       f.on_update, f.on_delete
FROM pragma_foreign_key_list(?1) f
ORDER BY f.id, f.seq"#;

/// Foreign keys of every table that point to the table `?1` (SQLite compares table names without case).
/// `{prefilter}` is [`NAME_IN_TEXT`] or nothing: see [`referenced_by_sql`].
const REFERENCED_BY_SQL: &str = r#"
SELECT m.name AS from_table, f.id, f.seq, f."table" AS to_table, f."from" AS from_column, f."to" AS to_column,
       f.on_update, f.on_delete
FROM sqlite_schema m
JOIN pragma_foreign_key_list(m.name) f
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'{prefilter} AND f."table" = ?1 COLLATE NOCASE
ORDER BY m.name, f.id, f.seq"#;

/// Keeps only tables whose definition holds the name `?1` (ASCII case folded, as SQLite matches names),
/// so the foreign-key pragma runs for those tables and not for every table of the file.
const NAME_IN_TEXT: &str = " AND instr(lower(m.sql), lower(?1)) > 0";

/// The incoming foreign keys query for the table `name`. Every foreign key SQLite reports was parsed from
/// the child's `CREATE TABLE` text, where the parent's name is written as is (bare or quoted), unless the
/// name holds a quote character, which its quoted form doubles: such a name asks every table, as before.
fn referenced_by_sql(name: &str) -> String {
    let verbatim = !name.contains(['"', '\'', '`', ']']);
    REFERENCED_BY_SQL.replace("{prefilter}", if verbatim { NAME_IN_TEXT } else { "" })
}

/// Primary key columns of a table (`?1`), in key order: what a foreign key without columns refers to.
const PRIMARY_KEY_SQL: &str = "SELECT c.name FROM pragma_table_info(?1) c WHERE c.pk > 0 ORDER BY c.pk";

/// Definitions of tables whose foreign keys are listed (`?1`: JSON array of names), for constraint names.
const DEFINITIONS_SQL: &str = "SELECT m.name AS table_name, m.sql AS definition FROM sqlite_schema m WHERE m.type = 'table' AND m.name IN \
     (SELECT value FROM json_each(?1))";

#[derive(FromQueryResult)]
struct TableRow {
    table_name: String,
    row_estimate: Option<i64>,
    table_bytes: Option<i64>,
    index_bytes: Option<i64>,
}

#[derive(FromQueryResult)]
struct FoundRow {
    table_name: String,
    definition: Option<String>,
}

#[derive(FromQueryResult)]
struct ColumnRow {
    name: String,
    data_type: String,
    not_null: i64,
    default_value: Option<String>,
    pk: i64,
    hidden: i64,
}

#[derive(FromQueryResult)]
struct KeyConstraintRow {
    index_name: String,
    origin: String,
    columns: String,
}

#[derive(FromQueryResult)]
struct ForeignKeyRow {
    from_table: String,
    id: i64,
    seq: i64,
    to_table: String,
    from_column: String,
    to_column: Option<String>,
    on_update: String,
    on_delete: String,
}

#[derive(FromQueryResult)]
struct NameRow {
    name: String,
}

impl From<TableRow> for TableInfo {
    fn from(r: TableRow) -> Self {
        TableInfo {
            schema: MAIN.into(),
            name: r.table_name,
            row_estimate: r.row_estimate,
            table_bytes: r.table_bytes,
            index_bytes: r.index_bytes,
            total_bytes: r.table_bytes.zip(r.index_bytes).map(|(t, i)| t + i),
            ..TableInfo::default()
        }
    }
}

/// The whitelisted ORDER BY over `t` and its joins. Unknowns sort last; ties by name.
fn order_by(sort: TableSort, descending: bool, dbstat: bool, stat1: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let key = match sort {
        TableSort::Name => return format!("t.table_name {dir}"),
        TableSort::Rows if stat1 => "est.n",
        TableSort::TableSize if dbstat => "ps.table_bytes",
        // A table without indexes has 0 bytes of them, as on the page.
        TableSort::IndexSize if dbstat => "coalesce(ps.index_bytes, 0)",
        TableSort::TotalSize if dbstat => "(ps.table_bytes + coalesce(ps.index_bytes, 0))",
        // Nothing SQLite can tell: every value is unknown, so the order is the name's.
        _ => "NULL",
    };
    format!("{key} IS NULL, {key} {dir}, t.table_name")
}

/// The tables query with every placeholder filled from constants (no user text).
fn tables_sql(sort: TableSort, descending: bool, dbstat: bool, stat1: bool) -> String {
    let (table_bytes, index_bytes) = if dbstat { (TABLE_BYTES, INDEX_BYTES) } else { ("NULL", "NULL") };
    let (ctes, joins) = match sort {
        TableSort::Rows if stat1 => (ROWS_CTE, ROWS_JOIN),
        TableSort::TableSize | TableSort::IndexSize | TableSort::TotalSize if dbstat => (SIZES_CTE, SIZES_JOIN),
        _ => ("", ""),
    };
    TABLES_SQL
        .replace("{ctes}", ctes)
        .replace("{joins}", joins)
        .replace("{rows}", if stat1 { ROWS_FROM_STAT1 } else { "NULL" })
        .replace("{order}", &order_by(sort, descending, dbstat, stat1))
        .replace("{table_bytes}", table_bytes)
        .replace("{index_bytes}", index_bytes)
}

/// The search text, or `None` when there is nothing to search for.
fn search_text(search: Option<&str>) -> Option<String> {
    search.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Foreign key rows grouped into keys, named from the table definitions when they were named.
fn foreign_keys(rows: Vec<ForeignKeyRow>, names: &BTreeMap<String, Vec<(String, Vec<String>)>>) -> Vec<ForeignKeyInfo> {
    let mut keys: Vec<(i64, ForeignKeyInfo)> = Vec::new();
    for r in rows {
        let same = keys.last().is_some_and(|(id, k)| *id == r.id && k.from_table == r.from_table && r.seq > 0);
        if !same {
            keys.push((
                r.id,
                ForeignKeyInfo {
                    name: String::new(),
                    from_schema: MAIN.into(),
                    from_table: r.from_table.clone(),
                    to_schema: MAIN.into(),
                    to_table: r.to_table.clone(),
                    on_delete: r.on_delete.clone(),
                    on_update: r.on_update.clone(),
                    ..ForeignKeyInfo::default()
                },
            ));
        }
        let key = &mut keys.last_mut().expect("pushed above").1;
        key.from_columns.push(r.from_column);
        // No column named: the parent's primary key, filled in by the caller.
        if let Some(to) = r.to_column {
            key.to_columns.push(to);
        }
    }
    keys.into_iter()
        .map(|(id, mut key)| {
            let named = names.get(&key.from_table).and_then(|found| {
                found.iter().find(|(_, cols)| {
                    cols.len() == key.from_columns.len()
                        && cols.iter().zip(&key.from_columns).all(|(a, b)| a.eq_ignore_ascii_case(b))
                })
            });
            // SQLite keeps no name for a key declared without CONSTRAINT: say which one it is.
            key.name = named.map_or_else(|| format!("(unnamed foreign key #{id})"), |(n, _)| n.clone());
            key
        })
        .collect()
}

impl Sqlite {
    pub(super) async fn list_tables(&self, query: &TableQuery) -> Result<Page<TableInfo>> {
        let search = search_text(query.search.as_deref());
        let (limit, offset) = (bigint(query.limit, "limit")?, bigint(query.offset, "offset")?);
        let sql = tables_sql(query.sort, query.descending, self.has_dbstat().await?, self.has_stat1().await?);
        let values = [search.clone().into(), Option::<String>::None.into(), limit.into(), offset.into()];
        let rows: Vec<TableRow> = self.all(&sql, values).await?;
        let total = self.count(COUNT_SQL, [search.into()]).await?;
        Ok(Page {
            items: rows.into_iter().map(TableInfo::from).collect(),
            total: total.max(0) as u64,
            offset: query.offset,
            limit: query.limit,
        })
    }

    /// The table's `sqlite_schema` row, when `schema` is `main` and such a user table exists.
    async fn find_table(&self, schema: &str, table: &str) -> Result<Option<FoundRow>> {
        if schema != MAIN {
            return Ok(None);
        }
        self.one(FIND_SQL, [table.into()]).await
    }

    pub(super) async fn table_detail(&self, schema: &str, table: &str) -> Result<Option<TableDetail>> {
        let Some(found) = self.find_table(schema, table).await? else { return Ok(None) };
        let name = found.table_name.clone();
        let sql = tables_sql(TableSort::Name, false, self.has_dbstat().await?, self.has_stat1().await?);
        let info: Option<TableRow> =
            self.one(&sql, [Option::<String>::None.into(), name.clone().into(), 1i64.into(), 0i64.into()]).await?;
        let Some(info) = info else { return Ok(None) }; // dropped in between
        let columns: Vec<ColumnRow> = self.all(COLUMNS_SQL, [name.clone().into()]).await?;
        let definition = found.definition.unwrap_or_default();
        let columns = table_columns(columns, &definition);
        let mut indexes = self.list_indexes(Some(&name)).await?;
        self.index_sizes(&mut indexes, false).await?;

        let mut constraints = Vec::new();
        let keys: Vec<KeyConstraintRow> = self.all(KEY_CONSTRAINTS_SQL, [name.clone().into()]).await?;
        let pk_columns: Vec<&str> = columns.iter().filter(|c| c.primary_key).map(|c| c.name.as_str()).collect();
        if !pk_columns.is_empty() && !keys.iter().any(|k| k.origin == "pk") {
            // An INTEGER PRIMARY KEY is the rowid itself: no index of its own.
            constraints.push(ConstraintInfo {
                name: "(rowid primary key)".into(),
                kind: "PRIMARY KEY".into(),
                definition: format!("PRIMARY KEY ({})", quoted_list(&pk_columns)),
            });
        }
        for k in keys {
            let cols: Vec<String> = serde_json::from_str(&k.columns).unwrap_or_default();
            let kind = if k.origin == "pk" { "PRIMARY KEY" } else { "UNIQUE" };
            let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
            constraints.push(ConstraintInfo {
                name: k.index_name,
                kind: kind.into(),
                definition: format!("{kind} ({})", quoted_list(&cols)),
            });
        }

        let outgoing: Vec<ForeignKeyRow> = self.all(FOREIGN_KEYS_SQL, [name.clone().into()]).await?;
        let incoming: Vec<ForeignKeyRow> = self.all(&referenced_by_sql(&name), [name.clone().into()]).await?;
        let mut tables: Vec<&str> = incoming.iter().map(|r| r.from_table.as_str()).collect();
        tables.push(&name);
        let names = self.foreign_key_names(&tables).await?;
        let mut references = foreign_keys(outgoing, &names);
        let mut referenced_by = foreign_keys(incoming, &names);
        for key in references.iter_mut().chain(referenced_by.iter_mut()) {
            if key.to_columns.is_empty() {
                let pk: Vec<NameRow> = self.all(PRIMARY_KEY_SQL, [key.to_table.clone().into()]).await?;
                key.to_columns = pk.into_iter().map(|r| r.name).collect();
            }
        }
        for key in &references {
            constraints.push(ConstraintInfo {
                name: key.name.clone(),
                kind: "FOREIGN KEY".into(),
                definition: format!(
                    "FOREIGN KEY ({}) REFERENCES {} ({}) ON UPDATE {} ON DELETE {}",
                    quoted_list(&key.from_columns.iter().map(String::as_str).collect::<Vec<_>>()),
                    quote_ident(&key.to_table),
                    quoted_list(&key.to_columns.iter().map(String::as_str).collect::<Vec<_>>()),
                    key.on_update,
                    key.on_delete
                ),
            });
        }
        for (n, check) in checks(&definition).into_iter().enumerate() {
            constraints.push(ConstraintInfo {
                name: check.name.unwrap_or_else(|| format!("(unnamed check #{})", n + 1)),
                kind: "CHECK".into(),
                definition: check.definition,
            });
        }
        Ok(Some(TableDetail { table: info.into(), columns, indexes, constraints, references, referenced_by }))
    }

    /// Named foreign keys of the given tables, read from their definitions.
    async fn foreign_key_names(&self, tables: &[&str]) -> Result<BTreeMap<String, Vec<(String, Vec<String>)>>> {
        #[derive(FromQueryResult)]
        struct DefinitionRow {
            table_name: String,
            definition: Option<String>,
        }
        let list = serde_json::to_string(tables).map_err(|e| Error::Internal(e.to_string()))?;
        let rows: Vec<DefinitionRow> = self.all(DEFINITIONS_SQL, [list.into()]).await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.table_name, foreign_key_names(r.definition.as_deref().unwrap_or_default())))
            .collect())
    }

    /// Rows in primary-key order when there is one (rowid order otherwise), every value rendered as text.
    pub(super) async fn read_rows(&self, schema: &str, table: &str, offset: u64, limit: u64) -> Result<RowsPage> {
        let not_found = || Error::NotFound(format!("table {schema}.{table}"));
        let found = self.find_table(schema, table).await?.ok_or_else(not_found)?;
        let column_rows: Vec<ColumnRow> = self.all(COLUMNS_SQL, [found.table_name.clone().into()]).await?;
        let columns: Vec<String> = column_rows.iter().map(|c| c.name.clone()).collect();
        let mut keys: Vec<&ColumnRow> = column_rows.iter().filter(|c| c.pk > 0).collect();
        keys.sort_by_key(|c| c.pk);
        // Identifiers come from the catalog, never from the request, and are quoted.
        let select = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
        let order = if keys.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", keys.iter().map(|k| quote_ident(&k.name)).collect::<Vec<_>>().join(", "))
        };
        let sql = format!("SELECT {select} FROM {}{order} LIMIT ?1 OFFSET ?2", quote_ident(&found.table_name));
        let fetch = bigint(limit, "limit")?.saturating_add(1);
        let result = self
            .db
            .query_all_raw(statement(&sql, [fetch.into(), bigint(offset, "offset")?.into()]))
            .await
            .map_err(db_error)?;
        let mut rows = Vec::with_capacity(result.len());
        for r in result.iter().take(limit as usize) {
            let row = r.try_as_sqlite_row().ok_or_else(|| Error::Internal("not an SQLite row".into()))?;
            rows.push((0..columns.len()).map(|i| value_text(row, i)).collect::<Result<Vec<_>>>()?);
        }
        Ok(RowsPage { columns, rows, offset, limit, has_more: result.len() as u64 > limit })
    }
}

/// Columns with their primary-key flag; an INTEGER PRIMARY KEY (the rowid) is never NULL.
fn table_columns(rows: Vec<ColumnRow>, definition: &str) -> Vec<ColumnInfo> {
    let pk_count = rows.iter().filter(|c| c.pk > 0).count();
    let without_rowid =
        definition.to_ascii_uppercase().split_whitespace().collect::<Vec<_>>().ends_with(&["WITHOUT", "ROWID"]);
    rows.into_iter()
        .map(|c| {
            let rowid = c.pk > 0 && pk_count == 1 && c.data_type.eq_ignore_ascii_case("INTEGER") && !without_rowid;
            let default = match c.hidden {
                2 | 3 => Some(format!("GENERATED ALWAYS ({})", if c.hidden == 3 { "STORED" } else { "VIRTUAL" })),
                _ => c.default_value,
            };
            ColumnInfo {
                name: c.name,
                data_type: c.data_type,
                nullable: c.not_null == 0 && !rowid,
                default,
                primary_key: c.pk > 0,
            }
        })
        .collect()
}

fn quoted_list(names: &[&str]) -> String {
    names.iter().map(|n| quote_ident(n)).collect::<Vec<_>>().join(", ")
}

/// One value as text by its storage class: NULL is `None`, a BLOB is hex (or its length when long).
fn value_text(row: &sea_orm::sqlx::sqlite::SqliteRow, i: usize) -> Result<Option<String>> {
    use sea_orm::sqlx::{Row, TypeInfo, ValueRef};
    let raw = row.try_get_raw(i).map_err(|e| Error::Internal(format!("column {i}: {e}")))?;
    if raw.is_null() {
        return Ok(None);
    }
    let class = raw.type_info().name().to_string();
    let text = match class.as_str() {
        "INTEGER" => row.try_get_unchecked::<i64, _>(i).map(|v| v.to_string()),
        "REAL" => row.try_get_unchecked::<f64, _>(i).map(|v| v.to_string()),
        "BLOB" => row.try_get_unchecked::<Vec<u8>, _>(i).map(|v| bytes_as_text(&v)),
        _ => row.try_get_unchecked::<String, _>(i),
    };
    text.map(Some).map_err(|e| Error::Internal(format!("column {i} ({class}): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_key_fills_every_placeholder_with_name_as_tiebreak() {
        for sort in TableSort::ALL {
            for (desc, dbstat, stat1) in [(false, true, true), (true, false, false)] {
                let sql = tables_sql(sort, desc, dbstat, stat1);
                assert!(!sql.contains('{'), "unfilled placeholder for {sort:?}");
                assert!(order_by(sort, desc, dbstat, stat1).contains("t.table_name"));
                assert_eq!(sql.contains("dbstat"), dbstat);
            }
        }
    }

    #[test]
    fn an_integer_primary_key_is_not_nullable_but_other_keys_may_be() {
        let col = |name: &str, ty: &str, pk: i64| ColumnRow {
            name: name.into(),
            data_type: ty.into(),
            not_null: 0,
            default_value: None,
            pk,
            hidden: 0,
        };
        let got = table_columns(
            vec![col("id", "INTEGER", 1), col("v", "TEXT", 0)],
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v)",
        );
        assert!(!got[0].nullable && got[0].primary_key);
        assert!(got[1].nullable);
        let got = table_columns(vec![col("id", "TEXT", 1)], "CREATE TABLE t (id TEXT PRIMARY KEY)");
        assert!(got[0].nullable, "SQLite lets a non-integer primary key hold NULL");
    }
}
