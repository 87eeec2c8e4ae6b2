//! What `/metrics` reads on MariaDB/MySQL besides the overview: the longest statement and InnoDB's deadlock count.
//!
//! Replication lag is not read: a primary does not know its replicas' lag (each replica reports its own
//! `Seconds_Behind_Master`), so no series is exported.

use sea_orm::{ConnectionTrait, FromQueryResult};

use super::activity::elapsed_ms_expr;
use super::{MySql, db_error, statement};
use crate::db::introspect::Counters;
use crate::error::Result;

/// The longest statement of another session of this database, in milliseconds. `{elapsed_ms}`: see
/// [`elapsed_ms_expr`].
const LONGEST_SQL: &str = r"
SELECT CAST(COALESCE(MAX({elapsed_ms}), 0) AS SIGNED) AS longest_ms
FROM information_schema.PROCESSLIST p
WHERE p.DB = DATABASE() AND p.COMMAND IN ('Query', 'Execute') AND p.ID <> CONNECTION_ID()";

/// MariaDB counts deadlocks in `Innodb_deadlocks`; MySQL has no such status variable (no row).
const DEADLOCKS_SQL: &str = "SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'";

#[derive(FromQueryResult)]
struct LongestRow {
    longest_ms: i64,
}

impl MySql {
    pub(super) async fn read_counters(&self) -> Result<Counters> {
        let features = self.features().await;
        let sql = LONGEST_SQL.replace("{elapsed_ms}", elapsed_ms_expr(features.mariadb));
        let longest: Option<LongestRow> = self.one(&sql, []).await?;
        // SHOW names its columns `Variable_name` and `Value`: read by position.
        let status = self.db.query_all_raw(statement(DEADLOCKS_SQL, [])).await.map_err(db_error)?;
        let deadlocks = status.first().and_then(|r| r.try_get_by_index::<String>(1).ok()).and_then(|v| v.parse().ok());
        Ok(Counters {
            longest_query_seconds: longest.map(|r| r.longest_ms as f64 / 1000.0),
            deadlocks,
            replicas: Vec::new(),
        })
    }
}
