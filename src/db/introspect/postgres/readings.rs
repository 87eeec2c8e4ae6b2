//! The trend sampler's database-wide readings on PostgreSQL: `pg_stat_database`'s counters, the size and the
//! sessions by state, in one row.

use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;

use super::Postgres;
use crate::db::introspect::{ConnectionStates, SampleReadings};
use crate::error::{Error, Result};

/// The current database's counters since its statistics were reset, its size, and its client sessions by state
/// (the reader's own left out, so sampling does not count itself).
const READINGS_SQL: &str = r"
SELECT pg_database_size(db.oid) AS database_size_bytes,
       sd.xact_commit AS commits, sd.xact_rollback AS rollbacks, sd.deadlocks AS deadlocks,
       sd.temp_bytes AS temp_bytes, sd.tup_inserted AS tuples_inserted, sd.tup_updated AS tuples_updated,
       sd.tup_deleted AS tuples_deleted, sd.blks_hit AS blocks_hit, sd.blks_read AS blocks_read,
       sd.stats_reset AS stats_reset_at, pg_postmaster_start_time() AS started_at,
       a.active, a.idle, a.idle_in_transaction, a.other
FROM pg_database db
LEFT JOIN pg_stat_database sd ON sd.datid = db.oid
CROSS JOIN (
    SELECT count(*) FILTER (WHERE state = 'active') AS active,
           count(*) FILTER (WHERE state = 'idle') AS idle,
           count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction,
           count(*) FILTER (WHERE state IS NULL OR state NOT IN ('active', 'idle')
                                  AND state NOT LIKE 'idle in transaction%') AS other
    FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
) a
WHERE db.datname = current_database()";

#[derive(FromQueryResult)]
struct ReadingsRow {
    database_size_bytes: Option<i64>,
    commits: Option<i64>,
    rollbacks: Option<i64>,
    deadlocks: Option<i64>,
    temp_bytes: Option<i64>,
    tuples_inserted: Option<i64>,
    tuples_updated: Option<i64>,
    tuples_deleted: Option<i64>,
    blocks_hit: Option<i64>,
    blocks_read: Option<i64>,
    stats_reset_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    active: i64,
    idle: i64,
    idle_in_transaction: i64,
    other: i64,
}

impl From<ReadingsRow> for SampleReadings {
    fn from(r: ReadingsRow) -> Self {
        SampleReadings {
            database_size_bytes: r.database_size_bytes,
            connections: Some(ConnectionStates {
                active: r.active,
                idle: r.idle,
                idle_in_transaction: r.idle_in_transaction,
                other: r.other,
            }),
            commits: r.commits,
            rollbacks: r.rollbacks,
            deadlocks: r.deadlocks,
            temp_bytes: r.temp_bytes,
            tuples_inserted: r.tuples_inserted,
            tuples_updated: r.tuples_updated,
            tuples_deleted: r.tuples_deleted,
            blocks_hit: r.blocks_hit,
            blocks_read: r.blocks_read,
            stats_reset_at: r.stats_reset_at,
            started_at: r.started_at,
        }
    }
}

impl Postgres {
    pub(super) async fn read_sample_readings(&self) -> Result<SampleReadings> {
        let row: ReadingsRow = self
            .one(READINGS_SQL, [])
            .await?
            .ok_or_else(|| Error::Internal("pg_database has no row for current_database()".into()))?;
        Ok(row.into())
    }
}
