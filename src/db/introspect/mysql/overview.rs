//! The overview page on MariaDB/MySQL: version, size, uptime, connections, InnoDB buffer pool hit ratio.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectionTrait, FromQueryResult};

use super::activity::{elapsed_ms_expr, state_label};
use super::{MySql, db_error, statement};
use crate::db::introspect::{Overview, SlowReadings};
use crate::error::Result;

/// The current database in one row, without its size (see [`SIZE_SQL`]). `?`: the long-query threshold in
/// milliseconds. `{elapsed_ms}` is a constant expression for a PROCESSLIST row's running time.
const OVERVIEW_SQL: &str = r"
SELECT VERSION() AS server_version, DATABASE() AS database_name,
       CAST(@@max_connections AS SIGNED) AS max_connections,
       (SELECT COUNT(*) FROM information_schema.PROCESSLIST p
         WHERE p.DB = DATABASE() AND p.COMMAND IN ('Query', 'Execute') AND p.ID <> CONNECTION_ID() AND {elapsed_ms} > ?)
         AS long_running_queries,
       (SELECT COUNT(*) FROM information_schema.PROCESSLIST p WHERE p.COMMAND <> 'Daemon') AS all_connections";

/// The database's size, read in the background: `information_schema.TABLES` opens every table of the database
/// (or its statistics) to fill the lengths, so its cost grows with the number of tables.
const SIZE_SQL: &str = r"
SELECT CAST(SUM(t.DATA_LENGTH + t.INDEX_LENGTH) AS SIGNED) AS database_size_bytes
FROM information_schema.TABLES t
WHERE t.TABLE_SCHEMA = DATABASE()";

/// Connections to the current database by command (`Sleep` is idle, `Query` and `Execute` active).
const CONNECTIONS_SQL: &str = r"
SELECT p.COMMAND AS command, COUNT(*) AS connections
FROM information_schema.PROCESSLIST p
WHERE p.DB = DATABASE()
GROUP BY p.COMMAND";

/// Server counters the overview rests on.
const STATUS_SQL: &str = "SHOW GLOBAL STATUS WHERE Variable_name IN \
     ('Uptime', 'Innodb_buffer_pool_read_requests', 'Innodb_buffer_pool_reads')";

#[derive(FromQueryResult)]
struct OverviewRow {
    server_version: String,
    database_name: Option<String>,
    max_connections: i64,
    long_running_queries: i64,
    all_connections: i64,
}

#[derive(FromQueryResult)]
struct SizeRow {
    database_size_bytes: Option<i64>,
}

#[derive(FromQueryResult)]
struct ConnectionsRow {
    command: String,
    connections: i64,
}

/// Share of buffer pool page requests served without reading from disk; `None` before any request.
fn hit_ratio(requests: Option<f64>, disk_reads: Option<f64>) -> Option<f64> {
    let (requests, disk_reads) = (requests?, disk_reads?);
    (requests > 0.0).then(|| ((requests - disk_reads) / requests).clamp(0.0, 1.0))
}

impl MySql {
    pub(super) async fn read_overview(&self, long_query_threshold: Duration) -> Result<Overview> {
        let mut overview = self.read_live_overview(long_query_threshold).await?;
        self.read_slow_readings().await?.apply(&mut overview);
        Ok(overview)
    }

    pub(super) async fn read_slow_readings(&self) -> Result<SlowReadings> {
        let row: Option<SizeRow> = self.one(SIZE_SQL, []).await?;
        // No table yet: SUM over no rows is NULL, and the database is empty.
        let size = row.and_then(|r| r.database_size_bytes).unwrap_or(0);
        Ok(SlowReadings { database_size_bytes: Some(size), cache_hit_ratios: None })
    }

    pub(super) async fn read_live_overview(&self, long_query_threshold: Duration) -> Result<Overview> {
        let features = self.features().await;
        let threshold_ms = i64::try_from(long_query_threshold.as_millis()).unwrap_or(i64::MAX);
        let sql = OVERVIEW_SQL.replace("{elapsed_ms}", elapsed_ms_expr(features.mariadb));
        let row: Option<OverviewRow> = self.one(&sql, [threshold_ms.into()]).await?;
        let Some(r) = row else { return Ok(Overview::default()) };
        // SHOW names its columns `Variable_name` and `Value`: read by position.
        let status = self.db.query_all_raw(statement(STATUS_SQL, [])).await.map_err(db_error)?;
        let status: Vec<(String, String)> = status
            .iter()
            .filter_map(|r| Some((r.try_get_by_index::<String>(0).ok()?, r.try_get_by_index::<String>(1).ok()?)))
            .collect();
        let counter = |name: &str| status.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.parse::<f64>().ok());
        let uptime = counter("Uptime").map(|s| s as i64);
        let states: Vec<ConnectionsRow> = self.all(CONNECTIONS_SQL, []).await?;
        let mut connections_by_state: Vec<(String, i64)> =
            states.into_iter().map(|s| (state_label(&s.command, false).to_string(), s.connections)).collect();
        connections_by_state.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(Overview {
            server_version: r.server_version,
            database_name: r.database_name.unwrap_or_default(),
            started_at: uptime.map(|secs| Utc::now() - chrono::TimeDelta::seconds(secs)),
            connections_by_state,
            max_connections: Some(r.max_connections),
            table_cache_hit_ratio: hit_ratio(
                counter("Innodb_buffer_pool_read_requests"),
                counter("Innodb_buffer_pool_reads"),
            ),
            // InnoDB's buffer pool holds table and index pages alike: one ratio for both.
            index_cache_hit_ratio: None,
            // The counters start at server start.
            stats_reset_at: uptime.map(|secs| Utc::now() - chrono::TimeDelta::seconds(secs)),
            long_running_queries: Some(r.long_running_queries),
            notes: vec![
                ("Connections (all databases)".into(), format!("{} of {}", r.all_connections, r.max_connections)),
                ("Buffer pool hit ratio".into(), "table and index pages together (InnoDB has one pool)".into()),
            ],
            ..Overview::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_ratio_is_the_share_not_read_from_disk() {
        assert_eq!(hit_ratio(Some(1000.0), Some(10.0)), Some(0.99));
        assert_eq!(hit_ratio(Some(0.0), Some(0.0)), None);
        assert_eq!(hit_ratio(None, Some(1.0)), None);
    }
}
