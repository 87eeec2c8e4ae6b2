//! The trend sampler's database-wide readings on MariaDB/MySQL: the size and sessions of this database, and the
//! server's own counters (`SHOW GLOBAL STATUS`: they count every database of the server, there is no per-database
//! figure).

use sea_orm::{ConnectionTrait, FromQueryResult};

use super::{MySql, db_error, statement};
use crate::db::introspect::{ConnectionStates, SampleReadings};
use crate::error::Result;

/// The database's size (data and indexes of its tables, as `information_schema` estimates them) and its sessions
/// (the reader's own left out): `Sleep` is idle, anything else active.
const READINGS_SQL: &str = r"
SELECT (SELECT CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS SIGNED) FROM information_schema.TABLES
         WHERE TABLE_SCHEMA = DATABASE()) AS database_size_bytes,
       (SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.PROCESSLIST
         WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep') AS active,
       (SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.PROCESSLIST
         WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND = 'Sleep') AS idle";

/// The server's counters the charts use (names as `SHOW GLOBAL STATUS` gives them).
const STATUS_SQL: &str = "SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_commit', 'Handler_rollback', \
     'Innodb_deadlocks', 'Handler_write', 'Handler_update', 'Handler_delete', \
     'Innodb_buffer_pool_read_requests', 'Innodb_buffer_pool_reads')";

#[derive(FromQueryResult)]
struct ReadingsRow {
    database_size_bytes: Option<i64>,
    active: i64,
    idle: i64,
}

impl MySql {
    pub(super) async fn read_sample_readings(&self) -> Result<SampleReadings> {
        let row: Option<ReadingsRow> = self.one(READINGS_SQL, []).await?;
        // SHOW names its columns `Variable_name` and `Value`: read by position.
        let rows = self.db.query_all_raw(statement(STATUS_SQL, [])).await.map_err(db_error)?;
        let status: Vec<(String, i64)> = rows
            .iter()
            .filter_map(|r| {
                let name = r.try_get_by_index::<String>(0).ok()?;
                let value = r.try_get_by_index::<String>(1).ok()?.parse().ok()?;
                Some((name.to_ascii_lowercase(), value))
            })
            .collect();
        let get = |name: &str| status.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        let hits = get("innodb_buffer_pool_read_requests").zip(get("innodb_buffer_pool_reads"));
        Ok(SampleReadings {
            database_size_bytes: row.as_ref().and_then(|r| r.database_size_bytes),
            connections: row.map(|r| ConnectionStates { active: r.active, idle: r.idle, ..Default::default() }),
            commits: get("handler_commit"),
            rollbacks: get("handler_rollback"),
            deadlocks: get("innodb_deadlocks"),
            temp_bytes: None,
            // Row writes of every engine (MariaDB 10.6+ has no `Innodb_rows_*`); internal temporary tables count too.
            tuples_inserted: get("handler_write"),
            tuples_updated: get("handler_update"),
            tuples_deleted: get("handler_delete"),
            // Read requests count every logical read; those that went to disk are among them.
            blocks_hit: hits.map(|(requests, reads)| (requests - reads).max(0)),
            blocks_read: hits.map(|(_, reads)| reads),
            // A start time computed from `Uptime` moves by a second between readings, which would read as a restart:
            // a restart shows as the counters going down instead (they start again from zero).
            stats_reset_at: None,
            started_at: None,
        })
    }
}
