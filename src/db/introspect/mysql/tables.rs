//! Tables on MariaDB/MySQL: the sorted, searchable list with sizes, one table's detail, and its rows as text.
//!
//! Row counts and sizes are the estimates `information_schema.TABLES` keeps (InnoDB refreshes them with
//! its persistent statistics): `table_bytes` is DATA_LENGTH (the clustered index, i.e. the rows),
//! `index_bytes` INDEX_LENGTH (secondary indexes), `total_bytes` their sum. There is no TOAST, dead-row
//! count or vacuum/analyze time: those are `None` and sorting by them sorts by name.
//!
//! Table names are compared as bytes (`CAST(... AS BINARY)`): `information_schema` compares without case,
//! while the tables `Users` and `users` can both exist.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, FromQueryResult};

use super::values::value_text;
use super::{MySql, db_error, quote_ident, statement};
use crate::db::introspect::{
    ColumnInfo, ConstraintInfo, ForeignKeyInfo, Page, RowsPage, TableDetail, TableInfo, TableQuery, TableSort, bigint,
};
use crate::error::{Error, Result};

/// One page of tables. `?` 1-2: search text or NULL (twice); 3, 4: limit and offset. `{order}` comes from
/// [`order_by`] only.
const TABLES_SQL: &str = r"
SELECT t.TABLE_SCHEMA AS schema_name, t.TABLE_NAME AS table_name, CAST(t.TABLE_ROWS AS SIGNED) AS row_estimate,
       CAST(t.DATA_LENGTH AS SIGNED) AS table_bytes, CAST(t.INDEX_LENGTH AS SIGNED) AS index_bytes
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
  AND (? IS NULL OR LOCATE(LOWER(?), LOWER(CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME))) > 0)
ORDER BY {order}
LIMIT ? OFFSET ?";

/// One base table of the current database by exact name (`?`), compared as bytes (`information_schema`
/// compares without case, and in a 3-byte character set that a 4-byte name could not be compared in).
const FIND_SQL: &str = r"
SELECT t.TABLE_SCHEMA AS schema_name, t.TABLE_NAME AS table_name, CAST(t.TABLE_ROWS AS SIGNED) AS row_estimate,
       CAST(t.DATA_LENGTH AS SIGNED) AS table_bytes, CAST(t.INDEX_LENGTH AS SIGNED) AS index_bytes
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
  AND CAST(t.TABLE_NAME AS BINARY) = CAST(? AS BINARY)";

/// How many tables match (`?` twice: search text or NULL).
const COUNT_SQL: &str = r"
SELECT COUNT(*) AS total
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
  AND (? IS NULL OR LOCATE(LOWER(?), LOWER(CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME))) > 0)";

/// Columns of one table (`?`: its name), in order.
const COLUMNS_SQL: &str = r"
SELECT c.COLUMN_NAME AS name, c.COLUMN_TYPE AS data_type, c.IS_NULLABLE AS is_nullable,
       c.COLUMN_DEFAULT AS default_value, c.COLUMN_KEY AS column_key, c.EXTRA AS extra,
       c.GENERATION_EXPRESSION AS generation
FROM information_schema.COLUMNS c
WHERE c.TABLE_SCHEMA = DATABASE() AND CAST(c.TABLE_NAME AS BINARY) = CAST(? AS BINARY)
ORDER BY c.ORDINAL_POSITION";

/// Constraints of one table (`?`: its name). MariaDB names CHECKs per table, so the join includes the table.
const CONSTRAINTS_SQL: &str = r"
SELECT tc.CONSTRAINT_NAME AS name, tc.CONSTRAINT_TYPE AS kind, cc.CHECK_CLAUSE AS check_clause
FROM information_schema.TABLE_CONSTRAINTS tc
LEFT JOIN information_schema.CHECK_CONSTRAINTS cc
       ON tc.CONSTRAINT_TYPE = 'CHECK' AND cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA
      AND cc.TABLE_NAME = tc.TABLE_NAME AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
WHERE tc.TABLE_SCHEMA = DATABASE() AND CAST(tc.TABLE_NAME AS BINARY) = CAST(? AS BINARY)
ORDER BY FIELD(tc.CONSTRAINT_TYPE, 'PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY', 'CHECK'), tc.CONSTRAINT_NAME";

/// Key columns of the table's own constraints and of foreign keys pointing to it (`?` three times: its
/// name), in key order.
const KEY_COLUMNS_SQL: &str = r"
SELECT k.CONSTRAINT_NAME AS constraint_name, k.TABLE_SCHEMA AS from_schema, k.TABLE_NAME AS from_table,
       k.COLUMN_NAME AS column_name, k.REFERENCED_TABLE_SCHEMA AS to_schema, k.REFERENCED_TABLE_NAME AS to_table,
       k.REFERENCED_COLUMN_NAME AS to_column, r.UPDATE_RULE AS on_update, r.DELETE_RULE AS on_delete,
       CAST(k.TABLE_SCHEMA = DATABASE() AND CAST(k.TABLE_NAME AS BINARY) = CAST(? AS BINARY) AS SIGNED) AS outgoing,
       CAST(k.REFERENCED_TABLE_SCHEMA = DATABASE()
            AND CAST(k.REFERENCED_TABLE_NAME AS BINARY) = CAST(? AS BINARY) AS SIGNED) AS incoming
FROM information_schema.KEY_COLUMN_USAGE k
LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r
       ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME
      AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
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
       k.REFERENCED_COLUMN_NAME AS to_column, r.UPDATE_RULE AS on_update, r.DELETE_RULE AS on_delete,
       CAST(k.TABLE_SCHEMA = DATABASE() AND CAST(k.TABLE_NAME AS BINARY) = CAST(? AS BINARY) AS SIGNED) AS outgoing,
       CAST(k.REFERENCED_TABLE_SCHEMA = DATABASE()
            AND CAST(k.REFERENCED_TABLE_NAME AS BINARY) = CAST(? AS BINARY) AS SIGNED) AS incoming,
       k.ORDINAL_POSITION AS ord
FROM information_schema.KEY_COLUMN_USAGE k
LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r
       ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME
      AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
WHERE ";

/// InnoDB's own list of foreign keys naming this table as parent (`?`: its name), read without opening any
/// table. Names are in InnoDB's file-name encoding (`db/table`); needs the PROCESS privilege.
const CHILDREN_SQL: &str = "SELECT DISTINCT f.FOR_NAME AS for_name, DATABASE() AS db \
     FROM information_schema.INNODB_SYS_FOREIGN f WHERE f.REF_NAME = CONCAT(DATABASE(), '/', ?)";

#[derive(FromQueryResult)]
struct ChildRow {
    for_name: String,
    db: Option<String>,
}

/// A name InnoDB writes as is in its file-name encoding (letters, digits and `_` only).
fn plain(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The child tables (schema, name) of the table `name` from InnoDB's list, other than `name` itself; `None`
/// when a name is not plain (its encoding would need decoding), so the caller asks every table instead.
fn children(name: &str, rows: &[ChildRow]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for r in rows {
        let db = r.db.as_deref().filter(|d| plain(d))?;
        let (schema, table) = r.for_name.split_once('/')?;
        if !plain(schema) || !plain(table) {
            return None;
        }
        // Its own keys come with the table's own block already.
        if !(schema == db && table == name) {
            out.push((schema.to_string(), table.to_string()));
        }
    }
    Some(out)
}

#[derive(FromQueryResult)]
struct TableRow {
    schema_name: String,
    table_name: String,
    row_estimate: Option<i64>,
    table_bytes: Option<i64>,
    index_bytes: Option<i64>,
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

#[derive(FromQueryResult)]
struct KeyColumnRow {
    constraint_name: String,
    from_schema: String,
    from_table: String,
    column_name: String,
    to_schema: Option<String>,
    to_table: Option<String>,
    to_column: Option<String>,
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
    pub(super) async fn list_tables(&self, query: &TableQuery) -> Result<Page<TableInfo>> {
        let search = search_text(query.search.as_deref());
        let (limit, offset) = (bigint(query.limit, "limit")?, bigint(query.offset, "offset")?);
        let sql = TABLES_SQL.replace("{order}", &order_by(query.sort, query.descending));
        let values = [search.clone().into(), search.clone().into(), limit.into(), offset.into()];
        let rows: Vec<TableRow> = self.all(&sql, values).await?;
        let total =
            self.one::<CountRow>(COUNT_SQL, [search.clone().into(), search.into()]).await?.map_or(0, |r| r.total);
        Ok(Page {
            items: rows.into_iter().map(TableInfo::from).collect(),
            total: total.max(0) as u64,
            offset: query.offset,
            limit: query.limit,
        })
    }

    /// The table's row, when `schema` is the current database and such a base table exists.
    async fn find_table(&self, schema: &str, table: &str) -> Result<Option<TableRow>> {
        let found: Option<TableRow> = self.one(FIND_SQL, [table.into()]).await?;
        Ok(found.filter(|t| t.schema_name == schema))
    }

    /// Key columns of the table's own constraints and of foreign keys pointing to it. With InnoDB's list of
    /// foreign keys readable and plain names, each table involved is looked up by name; otherwise one query
    /// asks every table of the server.
    async fn key_columns(&self, name: &str) -> Result<Vec<KeyColumnRow>> {
        let found = if plain(name) {
            match self.all::<ChildRow>(CHILDREN_SQL, [name.into()]).await {
                Ok(rows) => children(name, &rows),
                Err(Error::Forbidden | Error::Db(_)) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
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
        let columns: Vec<ColumnRow> = self.all(COLUMNS_SQL, [name.clone().into()]).await?;
        let constraint_rows: Vec<ConstraintRow> = self.all(CONSTRAINTS_SQL, [name.clone().into()]).await?;
        let key_rows = self.key_columns(&name).await?;
        let indexes = self.list_indexes(Some(&name)).await?;

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
        let column_rows: Vec<ColumnRow> = self.all(COLUMNS_SQL, [found.table_name.clone().into()]).await?;
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
