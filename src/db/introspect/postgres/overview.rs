//! The overview page on PostgreSQL: version, size, uptime, connections, cache hit ratios, XID wraparound headroom.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;

use super::Postgres;
use crate::db::introspect::{CacheHitRatios, Overview, SlowReadings};
use crate::error::{Error, Result};

/// The current database in one row, without the slow figures (see [`SLOW_SQL`]). `$1`: the long-query
/// threshold in seconds. Its cost does not grow with the number of tables.
const OVERVIEW_SQL: &str = r"
SELECT current_setting('server_version') AS server_version,
       current_database()::text AS database_name,
       pg_postmaster_start_time() AS started_at,
       current_setting('max_connections')::bigint AS max_connections,
       sd.stats_reset AS stats_reset_at,
       age(db.datfrozenxid)::bigint AS xid_age,
       mxid_age(db.datminmxid)::bigint AS mxid_age,
       current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age,
       (SELECT count(*) FROM pg_stat_activity a
         WHERE a.datid = db.oid AND a.pid <> pg_backend_pid() AND a.state = 'active'
           AND a.query_start < clock_timestamp() - make_interval(secs => $1)) AS long_running_queries,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend') AS all_connections
FROM pg_database db
LEFT JOIN pg_stat_database sd ON sd.datid = db.oid
WHERE db.datname = current_database()";

/// The figures whose cost grows with the catalog, read in the background: the database size (`pg_database_size`
/// stats every file of the database) and the cache hit ratios (one statistics lookup per relation).
///
/// Cache hit ratios are block hits over block accesses (hits + reads from outside shared buffers) of user
/// tables' heaps and of user indexes since the statistics reset; `NULL` when nothing was accessed yet.
const SLOW_SQL: &str = r"
SELECT pg_database_size(current_database()) AS database_size_bytes,
       (SELECT sum(heap_blks_hit)::float8 / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0)::float8
          FROM pg_statio_user_tables) AS table_cache_hit_ratio,
       (SELECT sum(idx_blks_hit)::float8 / nullif(sum(idx_blks_hit) + sum(idx_blks_read), 0)::float8
          FROM pg_statio_user_indexes) AS index_cache_hit_ratio";

/// Client connections to the current database by state (Strata's own included: it uses a slot too).
const CONNECTIONS_SQL: &str = r"
SELECT coalesce(a.state, 'unknown') AS state, count(*) AS connections
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.backend_type = 'client backend'
GROUP BY 1
ORDER BY 2 DESC, 1";

#[derive(FromQueryResult)]
struct OverviewRow {
    server_version: String,
    database_name: String,
    started_at: Option<DateTime<Utc>>,
    max_connections: i64,
    stats_reset_at: Option<DateTime<Utc>>,
    xid_age: i64,
    mxid_age: i64,
    freeze_max_age: i64,
    long_running_queries: i64,
    all_connections: i64,
}

#[derive(FromQueryResult)]
struct SlowRow {
    database_size_bytes: Option<i64>,
    table_cache_hit_ratio: Option<f64>,
    index_cache_hit_ratio: Option<f64>,
}

#[derive(FromQueryResult)]
struct ConnectionsRow {
    state: String,
    connections: i64,
}

/// Transaction IDs are compared modulo 2^32: a database can be at most 2^31 - 1 transactions behind
/// (`age(datfrozenxid)`) before its oldest rows would appear to be in the future.
const XID_LIMIT: i64 = (1 << 31) - 1;

impl From<OverviewRow> for Overview {
    fn from(r: OverviewRow) -> Self {
        let freeze_share = r.xid_age as f64 / r.freeze_max_age.max(1) as f64;
        Overview {
            server_version: r.server_version,
            database_name: r.database_name,
            database_size_bytes: None,
            started_at: r.started_at,
            connections_by_state: Vec::new(),
            max_connections: Some(r.max_connections),
            table_cache_hit_ratio: None,
            index_cache_hit_ratio: None,
            stats_reset_at: r.stats_reset_at,
            wraparound_remaining: Some(XID_LIMIT - r.xid_age),
            // Against the hard limit, so the ratio stays within 0..=1 and agrees with `wraparound_remaining`;
            // how close autovacuum's forced freeze is shows in the notes.
            wraparound_used_ratio: Some(r.xid_age as f64 / (XID_LIMIT + 1) as f64),
            long_running_queries: Some(r.long_running_queries),
            notes: vec![
                ("Connections (all databases)".into(), format!("{} of {}", r.all_connections, r.max_connections)),
                (
                    "Oldest unfrozen XID age".into(),
                    format!(
                        "{} ({:.0}% of autovacuum_freeze_max_age {})",
                        r.xid_age,
                        freeze_share * 100.0,
                        r.freeze_max_age
                    ),
                ),
                ("Oldest multixact age".into(), r.mxid_age.to_string()),
            ],
        }
    }
}

impl From<SlowRow> for SlowReadings {
    fn from(r: SlowRow) -> Self {
        SlowReadings {
            database_size_bytes: r.database_size_bytes,
            cache_hit_ratios: Some(CacheHitRatios { table: r.table_cache_hit_ratio, index: r.index_cache_hit_ratio }),
        }
    }
}

impl Postgres {
    pub(super) async fn read_overview(&self, long_query_threshold: Duration) -> Result<Overview> {
        let mut overview = self.read_live_overview(long_query_threshold).await?;
        self.read_slow_readings().await?.apply(&mut overview);
        Ok(overview)
    }

    pub(super) async fn read_slow_readings(&self) -> Result<SlowReadings> {
        let row: Option<SlowRow> = self.one(SLOW_SQL, []).await?;
        Ok(row.map(SlowReadings::from).unwrap_or_default())
    }

    pub(super) async fn read_live_overview(&self, long_query_threshold: Duration) -> Result<Overview> {
        let row: OverviewRow = self
            .one(OVERVIEW_SQL, [long_query_threshold.as_secs_f64().into()])
            .await?
            .ok_or_else(|| Error::Internal("pg_database has no row for current_database()".into()))?;
        let mut overview = Overview::from(row);
        let states: Vec<ConnectionsRow> = self.all(CONNECTIONS_SQL, []).await?;
        overview.connections_by_state = states.into_iter().map(|r| (r.state, r.connections)).collect();
        Ok(overview)
    }
}
