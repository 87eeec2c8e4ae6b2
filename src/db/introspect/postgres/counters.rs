//! What `/metrics` reads on PostgreSQL besides the overview: the longest statement, deadlocks, replicas' replay lag.

use sea_orm::FromQueryResult;

use super::Postgres;
use crate::db::introspect::{Counters, ReplicaLag};
use crate::error::Result;

/// The longest statement running in this database (other sessions, as the overview's long-running count),
/// and `pg_stat_database.deadlocks` since the statistics reset.
const COUNTERS_SQL: &str = r"
SELECT (SELECT coalesce(extract(epoch FROM max(clock_timestamp() - a.query_start)), 0)::float8
          FROM pg_stat_activity a
         WHERE a.datid = db.oid AND a.pid <> pg_backend_pid() AND a.state = 'active') AS longest_query_seconds,
       sd.deadlocks AS deadlocks
FROM pg_database db
LEFT JOIN pg_stat_database sd ON sd.datid = db.oid
WHERE db.datname = current_database()";

/// Replicas streaming from this server with a known replay lag (`NULL` when idle or not visible to this role).
const REPLICAS_SQL: &str = r"
SELECT coalesce(r.application_name, '') AS name, coalesce(host(r.client_addr), 'local') AS client_addr,
       extract(epoch FROM r.replay_lag)::float8 AS lag_seconds
FROM pg_stat_replication r
WHERE r.replay_lag IS NOT NULL
ORDER BY 1, 2";

#[derive(FromQueryResult)]
struct CountersRow {
    longest_query_seconds: f64,
    deadlocks: Option<i64>,
}

#[derive(FromQueryResult)]
struct ReplicaRow {
    name: String,
    client_addr: String,
    lag_seconds: f64,
}

impl From<ReplicaRow> for ReplicaLag {
    fn from(r: ReplicaRow) -> Self {
        ReplicaLag { name: r.name, client_addr: r.client_addr, lag_seconds: r.lag_seconds }
    }
}

impl Postgres {
    pub(super) async fn read_counters(&self) -> Result<Counters> {
        let row: Option<CountersRow> = self.one(COUNTERS_SQL, []).await?;
        let replicas: Vec<ReplicaRow> = self.all(REPLICAS_SQL, []).await?;
        Ok(Counters {
            longest_query_seconds: row.as_ref().map(|r| r.longest_query_seconds),
            deadlocks: row.and_then(|r| r.deadlocks),
            replicas: replicas.into_iter().map(ReplicaLag::from).collect(),
        })
    }
}
