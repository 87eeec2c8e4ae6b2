//! The file's user tables as of one schema version: names in order, CREATE texts and index names.
//!
//! SQLite has no index on `sqlite_schema`: every lookup there by name is a scan of one row per table and index
//! (40,000 at 10,000 tables with 3 indexes each), and the table pages used to pay one per row shown. What is
//! read here changes only with the schema, and any CREATE, DROP or ALTER from any connection moves the file's
//! schema version, so it is kept under that version and read again when the version moves: what is reused is
//! exactly what would be read again. Row estimates and sizes are data, never kept here.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::FromQueryResult;

use super::Sqlite;
use crate::error::Result;

/// Every table and index with its table and CREATE text.
const SCHEMA_SQL: &str = "SELECT type AS kind, name, tbl_name, sql AS definition \
     FROM sqlite_schema WHERE type IN ('table', 'index')";

/// The file's schema version: SQLite moves it with every change of the schema, from any connection.
pub(super) const SCHEMA_VERSION_SQL: &str = "SELECT schema_version AS version FROM pragma_schema_version";

#[derive(FromQueryResult)]
pub(super) struct VersionRow {
    pub version: i64,
}

#[derive(FromQueryResult)]
struct SchemaRow {
    kind: String,
    name: String,
    tbl_name: String,
    definition: Option<String>,
}

/// One user table.
#[derive(Debug)]
pub(super) struct Table {
    pub name: String,
    /// Its `CREATE TABLE` text (`None` only if SQLite stored none).
    pub definition: Option<String>,
    /// Its indexes (those whose `tbl_name` is this table's name), automatic ones included.
    pub indexes: Vec<String>,
}

/// The user tables of `main` as of one schema version.
#[derive(Debug)]
pub(super) struct Schema {
    /// Tables not named `sqlite_*` (case folded, as `NOT LIKE 'sqlite\_%'` leaves them out), in SQLite's
    /// BINARY order of names (byte order of the UTF-8 text, which is Rust's order of `str`).
    pub tables: Vec<Table>,
    /// Whether `sqlite_stat1` exists (ANALYZE creates it; it can be dropped).
    pub stat1: bool,
    /// The `CREATE INDEX` text of every index by name (`None` for the automatic ones).
    pub index_definitions: HashMap<String, Option<String>>,
}

/// Whether a table is the user's: SQLite's own tables are named `sqlite_*`, in any case.
pub(super) fn is_user_table(name: &str) -> bool {
    !name.as_bytes().get(..7).is_some_and(|p| p.eq_ignore_ascii_case(b"sqlite_"))
}

impl Schema {
    fn from_rows(rows: Vec<SchemaRow>) -> Schema {
        let mut stat1 = false;
        let mut tables = Vec::new();
        let mut indexes: HashMap<String, Vec<String>> = HashMap::new();
        let mut index_definitions = HashMap::new();
        for r in rows {
            if r.kind == "table" {
                stat1 |= r.name == "sqlite_stat1";
                if is_user_table(&r.name) {
                    tables.push(Table { name: r.name, definition: r.definition, indexes: Vec::new() });
                }
            } else {
                index_definitions.insert(r.name.clone(), r.definition);
                indexes.entry(r.tbl_name).or_default().push(r.name);
            }
        }
        tables.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for t in &mut tables {
            if let Some(mut list) = indexes.remove(&t.name) {
                list.sort_unstable();
                t.indexes = list;
            }
        }
        Schema { tables, stat1, index_definitions }
    }

    /// The user table with exactly this name (SQLite's `=` on names: case and all).
    pub fn find(&self, name: &str) -> Option<&Table> {
        self.tables.binary_search_by(|t| t.name.as_str().cmp(name)).ok().map(|i| &self.tables[i])
    }
}

impl Sqlite {
    /// The user tables as of the file's current schema version (read again only when the version moved).
    pub(super) async fn schema(&self) -> Result<Arc<Schema>> {
        // Read before the tables: a change in between leaves the kept list under an older version, read again.
        let version = self.one::<VersionRow>(SCHEMA_VERSION_SQL, []).await?.map(|r| r.version);
        let kept = self.schema.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(version), Some((at, schema))) = (version, kept)
            && at == version
        {
            return Ok(schema);
        }
        let rows: Vec<SchemaRow> = self.all(SCHEMA_SQL, []).await?;
        let schema = Arc::new(Schema::from_rows(rows));
        if let Some(version) = version {
            *self.schema.lock().unwrap_or_else(|p| p.into_inner()) = Some((version, schema.clone()));
        }
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_tables_are_left_out_in_any_case_and_the_rest_kept_in_byte_order() {
        assert!(!is_user_table("sqlite_stat1"));
        assert!(!is_user_table("SQLite_Sequence"));
        assert!(is_user_table("sqlite"));
        assert!(is_user_table("sqlitex_y"));
        assert!(is_user_table("é_sqlite_"));
        let row = |kind: &str, name: &str, tbl: &str| SchemaRow {
            kind: kind.into(),
            name: name.into(),
            tbl_name: tbl.into(),
            definition: None,
        };
        let schema = Schema::from_rows(vec![
            row("table", "b", "b"),
            row("table", "B", "B"),
            row("table", "sqlite_stat1", "sqlite_stat1"),
            row("index", "b_2", "b"),
            row("index", "b_1", "b"),
            row("table", "a", "a"),
        ]);
        let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["B", "a", "b"]);
        assert!(schema.stat1);
        assert_eq!(schema.find("b").map(|t| t.indexes.clone()), Some(vec!["b_1".to_string(), "b_2".to_string()]));
        assert!(schema.find("A").is_none());
    }
}
