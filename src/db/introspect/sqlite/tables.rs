//! Tables on SQLite: the sorted, searchable list with sizes, one table's detail, and its rows as text.
//!
//! Row counts are the estimates `ANALYZE` leaves in `sqlite_stat1` (unknown before the first ANALYZE):
//! counting rows would read every table. Sizes come from `dbstat` with `aggregate = 1` (one row per
//! b-tree) when available: `table_bytes` is the table's b-tree, `index_bytes` its indexes' b-trees,
//! `total_bytes` their sum; SQLite has no TOAST, dead rows or vacuum/analyze times, so those are `None`
//! and sorting by them sorts by name. As on PostgreSQL, sizes cost a walk of each b-tree, so they are
//! read for the rows of the page only unless the page is sorted by a size.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sea_orm::{ConnectionTrait, FromQueryResult};

use super::indexes::{SIZES_SQL, SizeRow};
use super::schema::{Schema, Table};
use super::sql_text::{checks, foreign_key_names};
use super::{MAIN, Sqlite, db_error, quote_ident, statement};
use crate::db::introspect::{
    ColumnInfo, ConstraintInfo, ForeignKeyInfo, Page, RowsPage, TableDetail, TableInfo, TableQuery, TableSort, bigint,
    bytes_as_text,
};
use crate::error::{Error, Result};

/// Row estimates of the tables named in `?1` (a JSON array): the largest count ANALYZE stored for each, in
/// one pass over `sqlite_stat1` (it has no index: a lookup per table would be a pass per table).
const ROWS_OF_SQL: &str = "SELECT s.tbl AS name, max(CAST(s.stat AS INTEGER)) AS n FROM sqlite_stat1 s \
     WHERE s.tbl IN (SELECT value FROM json_each(?1)) GROUP BY s.tbl";

/// Row estimates of every table, in one pass (for an order by rows).
const ROWS_ALL_SQL: &str = "SELECT s.tbl AS name, max(CAST(s.stat AS INTEGER)) AS n FROM sqlite_stat1 s GROUP BY s.tbl";

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

/// Foreign keys of the tables named in `?2` (a JSON array) that point to the table `?1` (SQLite compares table
/// names without case). The candidates are chosen by [`referencing_candidates`].
pub(super) const REFERENCED_BY_SQL: &str = r#"
SELECT j.value AS from_table, f.id, f.seq, f."table" AS to_table, f."from" AS from_column, f."to" AS to_column,
       f.on_update, f.on_delete
FROM json_each(?2) j
JOIN pragma_foreign_key_list(j.value) f
WHERE f."table" = ?1 COLLATE NOCASE
ORDER BY j.value, f.id, f.seq"#;

/// The tables whose foreign keys may point to the table `name`, so that the foreign-key pragma runs for those
/// tables and not for every table of the file. Every foreign key SQLite reports was parsed from the child's
/// `CREATE TABLE` text, where the parent's name is written as is (bare or quoted, ASCII case folded as SQLite
/// matches names), unless the name holds a quote character, which its quoted form doubles: such a name asks
/// every table.
pub(super) fn referencing_candidates<'a>(schema: &'a Schema, name: &str) -> Vec<&'a str> {
    let verbatim = !name.contains(['"', '\'', '`', ']']);
    let needle = name.to_ascii_lowercase();
    schema
        .tables
        .iter()
        .filter(|t| !verbatim || t.definition.as_deref().is_some_and(|d| d.to_ascii_lowercase().contains(&needle)))
        .map(|t| t.name.as_str())
        .collect()
}

/// Primary key columns of a table (`?1`), in key order: what a foreign key without columns refers to.
const PRIMARY_KEY_SQL: &str = "SELECT c.name FROM pragma_table_info(?1) c WHERE c.pk > 0 ORDER BY c.pk";

/// One table's facts as the list shows them.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub(super) struct TableRow {
    pub table_name: String,
    pub row_estimate: Option<i64>,
    pub table_bytes: Option<i64>,
    pub index_bytes: Option<i64>,
}

#[derive(FromQueryResult)]
struct EstimateRow {
    name: Option<String>,
    n: Option<i64>,
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

#[derive(Debug, PartialEq, Eq, FromQueryResult)]
pub(super) struct ForeignKeyRow {
    pub from_table: String,
    pub id: i64,
    pub seq: i64,
    pub to_table: String,
    pub from_column: String,
    pub to_column: Option<String>,
    pub on_update: String,
    pub on_delete: String,
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

/// The value a sort orders by, for one table; `None` when the order needs none (by name) or SQLite cannot tell
/// (every other key it lacks, which then orders by name, as the unknowns always do).
fn sort_key(sort: TableSort, row: &TableRow, dbstat: bool, stat1: bool) -> Option<i64> {
    match sort {
        TableSort::Rows if stat1 => row.row_estimate,
        TableSort::TableSize if dbstat => row.table_bytes,
        // A table without indexes has 0 bytes of them, as on the page.
        TableSort::IndexSize if dbstat => Some(row.index_bytes.unwrap_or(0)),
        TableSort::TotalSize if dbstat => row.table_bytes.map(|t| t + row.index_bytes.unwrap_or(0)),
        _ => None,
    }
}

/// Orders the rows as the page shows them: by name in the asked direction, or by the sort's value in the asked
/// direction with unknown values last and ties (and unknowns) by name ascending.
fn sort_rows(rows: &mut [TableRow], sort: TableSort, descending: bool, dbstat: bool, stat1: bool) {
    use std::cmp::Ordering;
    if sort == TableSort::Name {
        rows.sort_by(|a, b| if descending { b.table_name.cmp(&a.table_name) } else { a.table_name.cmp(&b.table_name) });
        return;
    }
    rows.sort_by(|a, b| {
        let (ka, kb) = (sort_key(sort, a, dbstat, stat1), sort_key(sort, b, dbstat, stat1));
        let by_value = match (ka, kb) {
            (Some(x), Some(y)) if descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_value.then_with(|| a.table_name.cmp(&b.table_name))
    });
}

/// Whether a table name holds the search text (`instr(lower('main.' || name), lower(search))`: SQLite's `lower`
/// folds ASCII only, as `to_ascii_lowercase` does). `needle` is already folded.
fn name_matches(name: &str, needle: &str) -> bool {
    format!("main.{name}").to_ascii_lowercase().contains(needle)
}

/// Which tables a fact is read for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Skip,
    /// The tables asked for, looked up by name.
    Page,
    /// Every table, in one pass; the ones asked for are picked out.
    All,
}

/// A JSON array of names, bound as one value.
pub(super) fn json_list<'a>(names: impl Iterator<Item = &'a str>) -> Result<String> {
    serde_json::to_string(&names.collect::<Vec<_>>()).map_err(|e| Error::Internal(e.to_string()))
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
        let needle = search_text(query.search.as_deref()).map(|s| s.to_ascii_lowercase());
        let (limit, offset) = (bigint(query.limit, "limit")?, bigint(query.offset, "offset")?);
        let schema = self.schema().await?;
        let (dbstat, stat1) = (self.has_dbstat().await?, schema.stat1);
        let matching: Vec<&Table> =
            schema.tables.iter().filter(|t| needle.as_deref().is_none_or(|n| name_matches(&t.name, n))).collect();
        let total = matching.len() as u64;
        let (skip, take) = (offset as usize, limit as usize);
        // By name, the page is cut on names alone; by rows or size, every matching table's value is needed: one pass
        // over `sqlite_stat1`, or one walk of every b-tree in dbstat, never a lookup per table.
        let keyed = match query.sort {
            TableSort::Rows if stat1 => Some(self.facts(&matching, Scope::All, Scope::Skip).await?),
            TableSort::TableSize | TableSort::IndexSize | TableSort::TotalSize if dbstat => {
                Some(self.facts(&matching, Scope::Skip, Scope::All).await?)
            }
            _ => None,
        };
        let rows = match keyed {
            Some(mut rows) => {
                sort_rows(&mut rows, query.sort, query.descending, dbstat, stat1);
                let mut page: Vec<TableRow> = rows.into_iter().skip(skip).take(take).collect();
                // The page's other facts, for its rows only.
                let tables: Vec<&Table> = page.iter().filter_map(|r| schema.find(&r.table_name)).collect();
                let by_rows = query.sort == TableSort::Rows;
                let (rows, sizes) = if by_rows { (Scope::Skip, Scope::Page) } else { (Scope::Page, Scope::Skip) };
                let other = self.facts(&tables, rows, sizes).await?;
                for (p, o) in page.iter_mut().zip(other) {
                    if by_rows {
                        (p.table_bytes, p.index_bytes) = (o.table_bytes, o.index_bytes);
                    } else {
                        p.row_estimate = o.row_estimate;
                    }
                }
                page
            }
            None => {
                let mut named: Vec<&Table> = matching;
                if query.sort == TableSort::Name && query.descending {
                    named.reverse();
                }
                let page: Vec<&Table> = named.into_iter().skip(skip).take(take).collect();
                self.facts(&page, Scope::Page, Scope::Page).await?
            }
        };
        Ok(Page {
            items: rows.into_iter().map(TableInfo::from).collect(),
            total,
            offset: query.offset,
            limit: query.limit,
        })
    }

    /// The listed facts of the given tables, in their order: row estimates from `sqlite_stat1` and sizes from
    /// dbstat, each read as `rows` and `sizes` say. For the page's tables, the estimates take one pass over
    /// `sqlite_stat1` and each b-tree is looked up by name (`name =` and `aggregate = 1` are constraints dbstat
    /// uses, so only these tables' and their indexes' b-trees are walked); for all of them, one pass and one walk
    /// of every b-tree of the file (kept while nothing was committed: see [`super::sizes`]).
    async fn facts(&self, tables: &[&Table], rows: Scope, sizes: Scope) -> Result<Vec<TableRow>> {
        let mut out: Vec<TableRow> = tables
            .iter()
            .map(|t| TableRow { table_name: t.name.clone(), row_estimate: None, table_bytes: None, index_bytes: None })
            .collect();
        if tables.is_empty() {
            return Ok(out);
        }
        if rows != Scope::Skip && self.schema().await?.stat1 {
            let estimates: Vec<EstimateRow> = match rows {
                Scope::All => self.all(ROWS_ALL_SQL, []).await?,
                _ => self.all(ROWS_OF_SQL, [json_list(tables.iter().map(|t| t.name.as_str()))?.into()]).await?,
            };
            let estimates: HashMap<String, Option<i64>> =
                estimates.into_iter().filter_map(|r| Some((r.name?, r.n))).collect();
            for r in &mut out {
                r.row_estimate = estimates.get(&r.table_name).copied().flatten();
            }
        }
        if sizes != Scope::Skip && self.has_dbstat().await? {
            let read = match sizes {
                Scope::All => self.every_size().await?,
                _ => {
                    let names = tables.iter().flat_map(|t| std::iter::once(&t.name).chain(&t.indexes));
                    let rows: Vec<SizeRow> =
                        self.all(SIZES_SQL, [json_list(names.map(String::as_str))?.into()]).await?;
                    Arc::new(rows.into_iter().map(|r| (r.name, r.bytes)).collect::<HashMap<_, _>>())
                }
            };
            for (r, t) in out.iter_mut().zip(tables) {
                r.table_bytes = read.get(&t.name).copied().flatten();
                // The sum of the indexes' b-trees, 0 without any (as `coalesce(sum(...), 0)` gave).
                r.index_bytes = Some(t.indexes.iter().filter_map(|i| read.get(i).copied().flatten()).sum());
            }
        }
        Ok(out)
    }

    /// The user table `table` of `main`, as of the current schema.
    async fn find_table(&self, schema: &str, table: &str) -> Result<Option<(Arc<Schema>, usize)>> {
        if schema != MAIN {
            return Ok(None);
        }
        let tables = self.schema().await?;
        let at = tables.tables.binary_search_by(|t| t.name.as_str().cmp(table)).ok();
        Ok(at.map(|i| (tables, i)))
    }

    pub(super) async fn table_detail(&self, schema: &str, table: &str) -> Result<Option<TableDetail>> {
        let Some((tables, at)) = self.find_table(schema, table).await? else { return Ok(None) };
        let found = &tables.tables[at];
        let name = found.name.clone();
        let Some(info) = self.facts(&[found], Scope::Page, Scope::Page).await?.pop() else { return Ok(None) };
        let columns: Vec<ColumnRow> = self.all(COLUMNS_SQL, [name.clone().into()]).await?;
        let definition = found.definition.clone().unwrap_or_default();
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
        let candidates = json_list(referencing_candidates(&tables, &name).into_iter())?;
        let incoming: Vec<ForeignKeyRow> =
            self.all(REFERENCED_BY_SQL, [name.clone().into(), candidates.into()]).await?;
        let mut with_keys: Vec<&str> = incoming.iter().map(|r| r.from_table.as_str()).collect();
        with_keys.push(&name);
        let names = foreign_key_names_of(&tables, &with_keys);
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

    /// Rows in primary-key order when there is one (rowid order otherwise), every value rendered as text.
    pub(super) async fn read_rows(&self, schema: &str, table: &str, offset: u64, limit: u64) -> Result<RowsPage> {
        let not_found = || Error::NotFound(format!("table {schema}.{table}"));
        let (tables, at) = self.find_table(schema, table).await?.ok_or_else(not_found)?;
        let found = &tables.tables[at];
        let column_rows: Vec<ColumnRow> = self.all(COLUMNS_SQL, [found.name.clone().into()]).await?;
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
        let sql = format!("SELECT {select} FROM {}{order} LIMIT ?1 OFFSET ?2", quote_ident(&found.name));
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

/// Named foreign keys of the given tables, read from their definitions.
fn foreign_key_names_of(schema: &Schema, tables: &[&str]) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    tables
        .iter()
        .filter_map(|name| schema.find(name))
        .map(|t| (t.name.clone(), foreign_key_names(t.definition.as_deref().unwrap_or_default())))
        .collect()
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
