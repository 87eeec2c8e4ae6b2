//! Indexes on SQLite: columns and expressions, uniqueness, partial predicates, sizes, and redundancy.
//!
//! SQLite keeps no usage statistics, so no index is ever called unused; redundant ones are found with the
//! shared rule in [`crate::db::introspect::redundant`]. A key part compares as its column (by position in
//! the table) or its expression text, with its sort order and collation. Indexes SQLite made for PRIMARY
//! KEY and UNIQUE constraints (`sqlite_autoindex_*`) cannot be dropped on their own: no statement is
//! suggested for them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sea_orm::FromQueryResult;

use super::sql_text::index_text;
use super::{MAIN, Sqlite, quote_ident};
use crate::db::introspect::IndexInfo;
use crate::db::introspect::redundant::{IndexShape, redundant_to};
use crate::error::{Error, Result};

/// Every index of user tables, or of the table `?1`. Definitions and sizes are read apart (by name), so
/// no row here looks anything up in `sqlite_schema` or `dbstat`.
const INDEXES_SQL: &str = r#"
SELECT m.name AS table_name, il.name AS index_name, il."unique" AS is_unique, il.origin, il.partial,
       NULL AS definition, NULL AS size_bytes
FROM sqlite_schema m
JOIN pragma_index_list(m.name) il
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND (?1 IS NULL OR m.name = ?1)
ORDER BY m.name, il.name"#;

/// The indexes of the table `?1` (a name read from `sqlite_schema`), through the pragma alone.
const INDEXES_OF_SQL: &str = r#"
SELECT ?1 AS table_name, il.name AS index_name, il."unique" AS is_unique, il.origin, il.partial,
       NULL AS definition, NULL AS size_bytes
FROM pragma_index_list(?1) il
ORDER BY il.name"#;

/// The size of each b-tree named in `?1` (a JSON array), each looked up by name in dbstat.
pub(super) const SIZES_SQL: &str = "SELECT j.value AS name, \
     (SELECT d.pgsize FROM dbstat d WHERE d.name = j.value AND d.aggregate = 1) AS bytes FROM json_each(?1) j";

/// The size of every b-tree of the file, in one walk (for an order by size).
pub(super) const ALL_SIZES_SQL: &str = "SELECT d.name, d.pgsize AS bytes FROM dbstat d WHERE d.aggregate = 1";

/// The key parts of every index, in order (`cid` -2: an expression; -1: the rowid). `?1` as above.
const KEYS_SQL: &str = r#"
SELECT il.name AS index_name, x.seqno, x.cid, x.name AS column_name, x."desc" AS descending, x.coll
FROM sqlite_schema m
JOIN pragma_index_list(m.name) il
JOIN pragma_index_xinfo(il.name) x
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND (?1 IS NULL OR m.name = ?1) AND x.key = 1
ORDER BY il.name, x.seqno"#;

/// The key parts of the indexes of the table `?1`, as [`KEYS_SQL`] reads them for every table.
const KEYS_OF_SQL: &str = r#"
SELECT il.name AS index_name, x.seqno, x.cid, x.name AS column_name, x."desc" AS descending, x.coll
FROM pragma_index_list(?1) il
JOIN pragma_index_xinfo(il.name) x
WHERE x.key = 1
ORDER BY il.name, x.seqno"#;

#[derive(Clone, Debug, Default, FromQueryResult)]
struct IndexRow {
    table_name: String,
    index_name: String,
    is_unique: i64,
    /// `c` CREATE INDEX, `u` a UNIQUE constraint, `pk` a PRIMARY KEY.
    origin: String,
    partial: i64,
    definition: Option<String>,
    size_bytes: Option<i64>,
}

#[derive(Clone, Debug, Default, FromQueryResult)]
struct KeyRow {
    index_name: String,
    seqno: i64,
    cid: i64,
    column_name: Option<String>,
    descending: i64,
    coll: Option<String>,
}

/// One index with its key parts, ready for the model.
struct Assembled {
    row: IndexRow,
    /// What each key part shows as (column name or expression text).
    columns: Vec<String>,
    shape: IndexShape,
}

fn assemble(row: IndexRow, keys: &[KeyRow]) -> Assembled {
    let text = row.definition.as_deref().and_then(index_text);
    let mut columns = Vec::with_capacity(keys.len());
    let mut parts = Vec::with_capacity(keys.len());
    for k in keys {
        let written = text.as_ref().and_then(|t| t.keys.get(k.seqno.max(0) as usize));
        let (shown, part) = match (&k.column_name, k.cid) {
            (Some(name), cid) if cid >= 0 => (name.clone(), format!("column {cid}")),
            _ => match written {
                Some(expr) => (expr.clone(), format!("expression {expr}")),
                // Unreadable text: unique to this index, so it is never taken for a duplicate.
                None => ("(expression)".to_string(), format!("expression ? {} {}", row.index_name, k.seqno)),
            },
        };
        let order = if k.descending != 0 { "DESC" } else { "ASC" };
        let collation = k.coll.as_deref().unwrap_or("BINARY").to_ascii_uppercase();
        columns.push(shown);
        parts.push(format!("{part} {order} COLLATE {collation}"));
    }
    let predicate = match (row.partial != 0, &text) {
        (false, _) => None,
        (true, Some(t)) if t.predicate.is_some() => t.predicate.clone(),
        // Partial but unreadable: the whole statement stands for the predicate, matching nothing else.
        (true, _) => Some(format!("? {}", row.definition.clone().unwrap_or_else(|| row.index_name.clone()))),
    };
    let shape = IndexShape {
        table: row.table_name.clone(),
        name: row.index_name.clone(),
        method: "btree".into(),
        keys: parts,
        predicate,
        unique: row.is_unique != 0,
        primary: row.origin == "pk",
        constraint: row.origin == "pk" || row.origin == "u",
        valid: true,
    };
    Assembled { row, columns, shape }
}

/// The statement that removes an index; constraint indexes go only with their table.
fn drop_sql(row: &IndexRow) -> Option<String> {
    (row.origin == "c").then(|| format!("DROP INDEX {};", quote_ident(&row.index_name)))
}

/// The definition shown: the CREATE INDEX statement, or the constraint for an automatic index.
fn definition(row: &IndexRow, columns: &[String]) -> String {
    match &row.definition {
        Some(sql) => sql.clone(),
        None => {
            let kind = if row.origin == "pk" { "PRIMARY KEY" } else { "UNIQUE" };
            let cols = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
            format!("{kind} ({cols}) on {}", quote_ident(&row.table_name))
        }
    }
}

fn assess(rows: Vec<IndexRow>, keys: Vec<KeyRow>) -> Vec<IndexInfo> {
    let mut by_index: BTreeMap<String, Vec<KeyRow>> = BTreeMap::new();
    for k in keys {
        by_index.entry(k.index_name.clone()).or_default().push(k);
    }
    let assembled: Vec<Assembled> = rows
        .into_iter()
        .map(|r| {
            let keys = by_index.get(&r.index_name).map(Vec::as_slice).unwrap_or_default();
            assemble(r, keys)
        })
        .collect();
    let shapes: Vec<IndexShape> = assembled.iter().map(|a| a.shape.clone()).collect();
    let duplicates = redundant_to(&shapes);
    assembled
        .into_iter()
        .zip(duplicates)
        .map(|(a, duplicate_of)| {
            let suggested_sql = duplicate_of.as_ref().and_then(|_| drop_sql(&a.row));
            IndexInfo {
                schema: MAIN.into(),
                table: a.row.table_name.clone(),
                name: a.row.index_name.clone(),
                method: "btree".into(),
                definition: definition(&a.row, &a.columns),
                columns: a.columns,
                unique: a.row.is_unique != 0,
                primary: a.row.origin == "pk",
                valid: true,
                size_bytes: a.row.size_bytes,
                scans: None,
                tuples_read: None,
                unused: false,
                duplicate_of,
                suggested_sql,
            }
        })
        .collect()
}

/// The file's schema version: SQLite moves it with every change of the schema, from any connection.
const SCHEMA_VERSION_SQL: &str = "SELECT schema_version AS version FROM pragma_schema_version";

#[derive(FromQueryResult)]
struct VersionRow {
    version: i64,
}

#[derive(FromQueryResult)]
pub(super) struct SizeRow {
    pub name: String,
    pub bytes: Option<i64>,
}

impl Sqlite {
    /// Every index of user tables, or those of one table; sizes are left unknown (see [`Self::index_sizes`]).
    pub(super) async fn list_indexes(&self, table: Option<&str>) -> Result<Vec<IndexInfo>> {
        // One table: its name is looked up in the schema, and its indexes through the pragmas alone (no pass over
        // `sqlite_schema`, which has no index on names).
        let schema = self.schema().await?;
        let (rows_sql, keys_sql, table) = match table {
            Some(name) => match schema.find(name) {
                Some(t) => (INDEXES_OF_SQL, KEYS_OF_SQL, Some(t.name.clone())),
                None => return Ok(Vec::new()),
            },
            None => (INDEXES_SQL, KEYS_SQL, None),
        };
        let mut rows: Vec<IndexRow> = self.all(rows_sql, [table.clone().into()]).await?;
        for r in &mut rows {
            r.definition = schema.index_definitions.get(&r.index_name).cloned().flatten();
        }
        let keys: Vec<KeyRow> = self.all(keys_sql, [table.into()]).await?;
        Ok(assess(rows, keys))
    }

    /// Every index of user tables, assessed (sizes unknown). The assessment needs a pragma per table and per
    /// index, so it is kept under the schema version it was read at and reused while the version stays: any
    /// CREATE, DROP or ALTER moves it, so what is reused is exactly what would be read again.
    pub(super) async fn every_index(&self) -> Result<Arc<Vec<IndexInfo>>> {
        // Read before the indexes: a change in between leaves the kept list under an older version, read again.
        let version = self.one::<VersionRow>(SCHEMA_VERSION_SQL, []).await?.map(|r| r.version);
        let kept = self.indexes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(version), Some((at, list))) = (version, kept)
            && at == version
        {
            return Ok(list);
        }
        let list = Arc::new(self.list_indexes(None).await?);
        if let Some(version) = version {
            *self.indexes.lock().unwrap_or_else(|p| p.into_inner()) = Some((version, list.clone()));
        }
        Ok(list)
    }

    /// Fills in the sizes of the given indexes: looked up one by one, or with `every` from one walk of every
    /// b-tree (cheaper when most indexes are asked for). Nothing when the library has no dbstat.
    pub(super) async fn index_sizes(&self, indexes: &mut [IndexInfo], every: bool) -> Result<()> {
        if indexes.is_empty() || !self.has_dbstat().await? {
            return Ok(());
        }
        let sizes: Arc<HashMap<String, Option<i64>>> = if every {
            self.every_size().await?
        } else {
            let names: Vec<&str> = indexes.iter().map(|i| i.name.as_str()).collect();
            let list = serde_json::to_string(&names).map_err(|e| Error::Internal(e.to_string()))?;
            let rows: Vec<SizeRow> = self.all(SIZES_SQL, [list.into()]).await?;
            Arc::new(rows.into_iter().map(|r| (r.name, r.bytes)).collect())
        };
        for index in indexes {
            index.size_bytes = sizes.get(&index.name).copied().flatten();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, origin: &str, sql: Option<&str>) -> IndexRow {
        IndexRow {
            table_name: "t".into(),
            index_name: name.into(),
            is_unique: i64::from(origin != "c"),
            origin: origin.into(),
            partial: 0,
            definition: sql.map(str::to_string),
            size_bytes: Some(4096),
        }
    }

    fn key(index: &str, seqno: i64, cid: i64, name: Option<&str>) -> KeyRow {
        KeyRow {
            index_name: index.into(),
            seqno,
            cid,
            column_name: name.map(str::to_string),
            descending: 0,
            coll: Some("BINARY".into()),
        }
    }

    #[test]
    fn a_plain_index_on_a_unique_column_is_redundant_and_gets_a_drop() {
        let got = assess(
            vec![
                index("sqlite_autoindex_t_1", "u", None),
                index("idx_t_a", "c", Some(r#"CREATE INDEX "idx_t_a" ON t (a)"#)),
            ],
            vec![key("sqlite_autoindex_t_1", 0, 1, Some("a")), key("idx_t_a", 0, 1, Some("a"))],
        );
        assert_eq!(got[1].duplicate_of.as_deref(), Some("sqlite_autoindex_t_1"));
        assert_eq!(got[1].suggested_sql.as_deref(), Some(r#"DROP INDEX "idx_t_a";"#));
        assert_eq!(got[0].duplicate_of, None);
        assert_eq!(got[0].definition, r#"UNIQUE ("a") on "t""#);
        assert!(got.iter().all(|i| !i.unused && i.valid && i.scans.is_none()));
    }

    #[test]
    fn expressions_and_predicates_are_compared_by_their_text() {
        let rows = vec![
            index("e1", "c", Some("CREATE INDEX e1 ON t (lower(a))")),
            index("e2", "c", Some("CREATE INDEX e2 ON t (lower(a), b)")),
            index("e3", "c", Some("CREATE INDEX e3 ON t (upper(a))")),
            IndexRow { partial: 1, ..index("p1", "c", Some("CREATE INDEX p1 ON t (lower(a)) WHERE b > 0")) },
        ];
        let keys = vec![
            key("e1", 0, -2, None),
            key("e2", 0, -2, None),
            key("e2", 1, 2, Some("b")),
            key("e3", 0, -2, None),
            key("p1", 0, -2, None),
        ];
        let got = assess(rows, keys);
        assert_eq!(got[0].duplicate_of.as_deref(), Some("e2"), "lower(a) is a prefix of (lower(a), b)");
        assert_eq!(got[0].columns, ["lower(a)"]);
        assert_eq!(got[2].duplicate_of, None);
        assert_eq!(got[3].duplicate_of, None, "a partial index is not covered by a full one");
    }

    #[test]
    fn constraint_indexes_get_no_drop_statement() {
        let got = assess(
            vec![index("sqlite_autoindex_t_1", "u", None), index("sqlite_autoindex_t_2", "u", None)],
            vec![key("sqlite_autoindex_t_1", 0, 1, Some("a")), key("sqlite_autoindex_t_2", 0, 1, Some("a"))],
        );
        assert_eq!(got[1].duplicate_of.as_deref(), Some("sqlite_autoindex_t_1"));
        assert_eq!(got[1].suggested_sql, None);
    }
}
