//! The Statements page on PostgreSQL: `pg_stat_statements` of the current database, grouped by `queryid` (one
//! normalized statement run by several roles is one row), sorted, searched and cut to one page by the server.
//!
//! The view lives in the schema the extension was created in (read from `pg_extension`, quoted); its time column is
//! `total_exec_time` from PostgreSQL 13 on and `total_time` before; `pg_stat_statements_info.stats_reset` (14+)
//! says since when it counts. Statements of other roles whose text this role may not read (`queryid` NULL) are left
//! out.

use chrono::{DateTime, Utc};
use sea_orm::{DbErr, FromQueryResult, RuntimeErr};

use super::{Postgres, bigint, db_error, quote_ident, statement};
use crate::db::introspect::statements::like_pattern;
use crate::db::introspect::{StatementInfo, StatementQuery, StatementSort, Statements};
use crate::error::Result;

/// Where the extension is, whether its info view exists, and the server's version.
const EXTENSION_SQL: &str = r"
SELECT n.nspname AS schema, e.extversion AS version,
       current_setting('server_version_num')::int AS server_version,
       to_regclass(quote_ident(n.nspname) || '.pg_stat_statements_info') IS NOT NULL AS has_info
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'";

/// One page of the current database's statements; `{view}` is the quoted schema's view, `{time}` the total-time
/// column for this version, `{order}` a sort from [`order_by`]. `$1` the search pattern or NULL, `$2` and `$3` limit
/// and offset.
const STATEMENTS_SQL: &str = r"
WITH s AS (
    SELECT queryid::text AS query_id, min(query) AS query, sum(calls)::bigint AS calls,
           sum({time})::float8 AS total_ms, sum(rows)::bigint AS rows,
           sum(shared_blks_hit)::bigint AS blocks_hit, sum(shared_blks_read)::bigint AS blocks_read
    FROM {view}
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND queryid IS NOT NULL AND calls > 0
    GROUP BY queryid
)
SELECT query_id, query, calls, total_ms, total_ms / nullif(calls, 0) AS mean_ms, rows, blocks_hit, blocks_read,
       blocks_hit::float8 / nullif(blocks_hit + blocks_read, 0) AS hit_ratio, count(*) OVER () AS total
FROM s
WHERE $1::text IS NULL OR lower(query) LIKE $1 ESCAPE '!'
ORDER BY {order}, query_id
LIMIT $2 OFFSET $3";

/// Since when the extension counts (PostgreSQL 14+).
const INFO_SQL: &str = "SELECT stats_reset FROM {info}";

/// What enables the extension, in order.
const ENABLE: [&str; 3] = [
    "Add pg_stat_statements to shared_preload_libraries in postgresql.conf \
     (shared_preload_libraries = 'pg_stat_statements'), then restart the server.",
    "In this database, run: CREATE EXTENSION pg_stat_statements;",
    "Optionally, for roles other than superusers to see every statement's text: GRANT pg_read_all_stats TO the role.",
];

#[derive(FromQueryResult)]
struct ExtensionRow {
    schema: String,
    version: String,
    server_version: i32,
    has_info: bool,
}

#[derive(FromQueryResult)]
struct StatementRow {
    query_id: String,
    query: Option<String>,
    calls: i64,
    total_ms: Option<f64>,
    mean_ms: Option<f64>,
    rows: Option<i64>,
    blocks_hit: Option<i64>,
    blocks_read: Option<i64>,
    total: i64,
}

#[derive(FromQueryResult)]
struct InfoRow {
    stats_reset: Option<DateTime<Utc>>,
}

impl From<StatementRow> for StatementInfo {
    fn from(r: StatementRow) -> Self {
        StatementInfo {
            query_id: r.query_id,
            query: r.query.unwrap_or_default(),
            calls: r.calls,
            total_ms: r.total_ms.unwrap_or(0.0),
            mean_ms: r.mean_ms,
            rows: r.rows.unwrap_or(0),
            rows_examined: None,
            blocks_hit: r.blocks_hit,
            blocks_read: r.blocks_read,
        }
    }
}

/// The ORDER BY of a sort, from constants only.
fn order_by(sort: StatementSort, descending: bool) -> String {
    let column = match sort {
        StatementSort::Calls => "calls",
        StatementSort::TotalTime => "total_ms",
        StatementSort::MeanTime => "mean_ms",
        StatementSort::Rows => "rows",
        StatementSort::HitRatio => "hit_ratio",
    };
    format!("{column} {} NULLS LAST", if descending { "DESC" } else { "ASC" })
}

/// The SQLSTATE of a server error.
fn sqlstate(e: &DbErr) -> Option<String> {
    match e {
        DbErr::Query(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => {
            s.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
        }
        _ => None,
    }
}

impl Postgres {
    pub(super) async fn read_statements(&self, query: &StatementQuery) -> Result<Statements> {
        let Some(ext) = self.one::<ExtensionRow>(EXTENSION_SQL, []).await? else {
            return Ok(Statements::unavailable(
                "The pg_stat_statements extension is not installed in this database.",
                &ENABLE,
            ));
        };
        let view = format!("{}.pg_stat_statements", quote_ident(&ext.schema));
        let time = if ext.server_version >= 130_000 { "total_exec_time" } else { "total_time" };
        let sql = STATEMENTS_SQL
            .replace("{view}", &view)
            .replace("{time}", time)
            .replace("{order}", &order_by(query.sort, query.descending));
        let values = [
            like_pattern(query.search.as_deref()).into(),
            bigint(query.limit, "limit")?.into(),
            bigint(query.offset, "offset")?.into(),
        ];
        let rows = match StatementRow::find_by_statement(statement(&sql, values)).all(&self.db).await {
            Ok(rows) => rows,
            // 55000: "pg_stat_statements must be loaded via shared_preload_libraries".
            Err(e) if sqlstate(&e).as_deref() == Some("55000") => {
                return Ok(Statements::unavailable(
                    format!(
                        "The pg_stat_statements extension ({}) is installed here, but the server did not load it: \
                         it is not in shared_preload_libraries.",
                        ext.version
                    ),
                    &ENABLE[..1],
                ));
            }
            Err(e) => return Err(db_error(e)),
        };
        let since = if ext.has_info {
            let info = INFO_SQL.replace("{info}", &format!("{}.pg_stat_statements_info", quote_ident(&ext.schema)));
            self.one::<InfoRow>(&info, []).await?.and_then(|r| r.stats_reset)
        } else {
            None
        };
        Ok(Statements {
            unavailable: None,
            total: rows.first().map(|r| r.total as u64).unwrap_or(0),
            items: rows.into_iter().map(StatementInfo::from).collect(),
            since,
            since_what: "stats reset",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_come_from_constants_with_nulls_last() {
        assert_eq!(order_by(StatementSort::MeanTime, true), "mean_ms DESC NULLS LAST");
        assert_eq!(order_by(StatementSort::HitRatio, false), "hit_ratio ASC NULLS LAST");
    }
}
