//! Names on SQLite for the query editor: every table and view of `main` with its columns.

use sea_orm::FromQueryResult;

use super::{MAIN, Sqlite};
use crate::db::introspect::{Names, bigint};
use crate::error::Result;

/// Tables and views with their columns in order, read through `pragma_table_info` (the table name is the
/// pragma's argument, never SQL text); `?1`: row limit.
const NAMES_SQL: &str = r"
SELECT m.name AS table_name, p.name AS column_name
FROM sqlite_schema m
LEFT JOIN pragma_table_info(m.name) p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY m.name, p.cid
LIMIT ?1";

#[derive(FromQueryResult)]
struct NameRow {
    table_name: String,
    column_name: Option<String>,
}

impl Sqlite {
    pub(super) async fn read_names(&self, cap: u64) -> Result<Names> {
        let rows: Vec<NameRow> = self.all(NAMES_SQL, [bigint(cap.saturating_add(1), "the name cap")?.into()]).await?;
        Ok(Names::from_rows('"', rows.into_iter().map(|r| (MAIN.to_string(), r.table_name, r.column_name)), cap))
    }
}
