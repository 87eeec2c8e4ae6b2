//! Names on MariaDB/MySQL for the query editor: every table and view of the current database with its columns.

use sea_orm::FromQueryResult;

use super::MySql;
use crate::db::introspect::{Names, bigint};
use crate::error::Result;

/// Columns in order, grouped by table; `?`: row limit. Names sort as bytes so that `Users` and `users`
/// (two tables where names are case-sensitive) stay in separate groups.
const NAMES_SQL: &str = r"
SELECT c.TABLE_SCHEMA AS schema_name, c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name
FROM information_schema.COLUMNS c
WHERE c.TABLE_SCHEMA = DATABASE()
ORDER BY CAST(c.TABLE_NAME AS BINARY), c.ORDINAL_POSITION
LIMIT ?";

#[derive(FromQueryResult)]
struct NameRow {
    schema_name: String,
    table_name: String,
    column_name: Option<String>,
}

impl MySql {
    pub(super) async fn read_names(&self, cap: u64) -> Result<Names> {
        let rows: Vec<NameRow> = self.all(NAMES_SQL, [bigint(cap.saturating_add(1), "the name cap")?.into()]).await?;
        Ok(Names::from_rows('`', rows.into_iter().map(|r| (r.schema_name, r.table_name, r.column_name)), cap))
    }
}
