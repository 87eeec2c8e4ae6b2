//! The Statements page on MariaDB/MySQL: `performance_schema.events_statements_summary_by_digest` for the current
//! database (`SCHEMA_NAME = DATABASE()`), sorted, searched and cut to one page by the server. Timers are in
//! picoseconds; the counters count since the server started (or since someone truncated the table).

use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;

use super::MySql;
use crate::db::introspect::statements::like_pattern;
use crate::db::introspect::{StatementInfo, StatementQuery, StatementSort, Statements, bigint};
use crate::error::Result;

/// Whether performance_schema is on, whether the digest consumer is enabled, and when the server started.
const STATE_SQL: &str = r"
SELECT CAST(@@performance_schema AS SIGNED) AS enabled,
       CAST(UNIX_TIMESTAMP() - (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
                                WHERE VARIABLE_NAME = 'UPTIME') AS SIGNED) AS started";

const CONSUMER_SQL: &str = r"
SELECT ENABLED AS enabled FROM performance_schema.setup_consumers WHERE NAME = 'statements_digest'";

/// One page of the current database's digests; `{order}` from [`order_by`]. Bound: the search pattern twice (or
/// NULL), limit, offset.
const STATEMENTS_SQL: &str = r"
SELECT DIGEST AS query_id, DIGEST_TEXT AS query, CAST(COUNT_STAR AS SIGNED) AS calls,
       CAST(SUM_TIMER_WAIT AS DOUBLE) / 1e9 AS total_ms, CAST(AVG_TIMER_WAIT AS DOUBLE) / 1e9 AS mean_ms,
       CAST(SUM_ROWS_SENT AS SIGNED) AS rows_sent, CAST(SUM_ROWS_EXAMINED AS SIGNED) AS rows_examined,
       CAST(COUNT(*) OVER () AS SIGNED) AS total
FROM performance_schema.events_statements_summary_by_digest
WHERE SCHEMA_NAME = DATABASE() AND DIGEST IS NOT NULL AND COUNT_STAR > 0
  AND (? IS NULL OR LOWER(DIGEST_TEXT) LIKE ? ESCAPE '!')
ORDER BY {order}, DIGEST
LIMIT ? OFFSET ?";

#[derive(FromQueryResult)]
struct StateRow {
    enabled: Option<i64>,
    started: Option<i64>,
}

#[derive(FromQueryResult)]
struct ConsumerRow {
    enabled: String,
}

#[derive(FromQueryResult)]
struct StatementRow {
    query_id: String,
    query: Option<String>,
    calls: i64,
    total_ms: Option<f64>,
    mean_ms: Option<f64>,
    rows_sent: Option<i64>,
    rows_examined: Option<i64>,
    total: i64,
}

impl From<StatementRow> for StatementInfo {
    fn from(r: StatementRow) -> Self {
        StatementInfo {
            query_id: r.query_id,
            query: r.query.unwrap_or_default(),
            calls: r.calls,
            total_ms: r.total_ms.unwrap_or(0.0),
            mean_ms: r.mean_ms,
            rows: r.rows_sent.unwrap_or(0),
            rows_examined: r.rows_examined,
            blocks_hit: None,
            blocks_read: None,
        }
    }
}

/// The ORDER BY of a sort, from constants only (no hit ratio here: the total time orders).
fn order_by(sort: StatementSort, descending: bool) -> String {
    let column = match sort {
        StatementSort::Calls => "COUNT_STAR",
        StatementSort::TotalTime | StatementSort::HitRatio => "SUM_TIMER_WAIT",
        StatementSort::MeanTime => "AVG_TIMER_WAIT",
        StatementSort::Rows => "SUM_ROWS_SENT",
    };
    format!("{column} {}", if descending { "DESC" } else { "ASC" })
}

impl MySql {
    pub(super) async fn read_statements(&self, query: &StatementQuery) -> Result<Statements> {
        let state: Option<StateRow> = self.one(STATE_SQL, []).await?;
        if state.as_ref().and_then(|s| s.enabled) != Some(1) {
            return Ok(Statements::unavailable(
                "performance_schema is OFF on this server, so it keeps no statement digests.",
                &["Set performance_schema = ON under [mysqld] in the server's configuration (my.cnf), then restart \
                   the server (it cannot be turned on while running)."],
            ));
        }
        let consumer: Option<ConsumerRow> = self.one(CONSUMER_SQL, []).await?;
        if consumer.is_some_and(|c| !c.enabled.eq_ignore_ascii_case("YES")) {
            return Ok(Statements::unavailable(
                "performance_schema is ON, but its statements_digest consumer is disabled.",
                &["Run: UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = \
                   'statements_digest'; (and performance-schema-consumer-statements-digest = ON in my.cnf to keep \
                   it after a restart)."],
            ));
        }
        let pattern = like_pattern(query.search.as_deref());
        let sql = STATEMENTS_SQL.replace("{order}", &order_by(query.sort, query.descending));
        let values = [
            pattern.clone().into(),
            pattern.into(),
            bigint(query.limit, "limit")?.into(),
            bigint(query.offset, "offset")?.into(),
        ];
        let rows: Vec<StatementRow> = self.all(&sql, values).await?;
        Ok(Statements {
            unavailable: None,
            total: rows.first().map(|r| r.total as u64).unwrap_or(0),
            items: rows.into_iter().map(StatementInfo::from).collect(),
            since: state.and_then(|s| s.started).and_then(|s| DateTime::<Utc>::from_timestamp(s, 0)),
            since_what: "server start",
        })
    }
}
