//! Names on PostgreSQL for the query editor: every user table, view and foreign table with its columns.

use sea_orm::FromQueryResult;

use super::{Postgres, bigint};
use crate::db::introspect::Names;
use crate::error::Result;

/// Tables (partitioned ones once, not each partition) and views with their columns in order; `$1`: row limit.
const NAMES_SQL: &str = r"
SELECT n.nspname::text AS schema_name, c.relname::text AS table_name, a.attname::text AS column_name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, c.relname, a.attnum
LIMIT $1";

#[derive(FromQueryResult)]
struct NameRow {
    schema_name: String,
    table_name: String,
    column_name: Option<String>,
}

impl Postgres {
    pub(super) async fn read_names(&self, cap: u64) -> Result<Names> {
        let rows: Vec<NameRow> = self.all(NAMES_SQL, [bigint(cap.saturating_add(1), "the name cap")?.into()]).await?;
        Ok(Names::from_rows('"', rows.into_iter().map(|r| (r.schema_name, r.table_name, r.column_name)), cap))
    }
}
