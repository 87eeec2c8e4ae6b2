//! Sessions of the current database on PostgreSQL: who runs what, who waits for whom, and cancel/terminate.
//!
//! Only sessions of the database Strata is connected to are listed or signalled, so the dashboard of one
//! database cannot reach into another; Strata's own backend is left out.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;

use super::Postgres;
use crate::db::introspect::{Activity, Session};
use crate::error::Result;

/// Sessions of the current database, the active ones first, longest first.
///
/// `duration_ms` is the time in the current state: since `query_start` while active, since `state_change`
/// otherwise (how long a session has been idle, or idle inside a transaction). `pg_blocking_pids` takes
/// the lock manager's locks, so it is only asked about sessions that wait for a lock.
const SESSIONS_SQL: &str = r"
SELECT a.pid::bigint AS pid, a.usename::text AS user_name, nullif(a.application_name, '') AS application,
       host(a.client_addr) AS client_addr, a.state, a.backend_type,
       a.wait_event_type || ':' || a.wait_event AS wait_event,
       nullif(a.query, '') AS query, a.query_start,
       (extract(epoch FROM clock_timestamp()
            - CASE WHEN a.state = 'active' THEN a.query_start ELSE a.state_change END) * 1000)::bigint AS duration_ms,
       CASE WHEN a.wait_event_type = 'Lock' THEN to_json(pg_blocking_pids(a.pid)) END AS blocked_by
FROM pg_stat_activity a
WHERE a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
  AND a.pid <> pg_backend_pid()
ORDER BY (a.state = 'active') IS TRUE DESC, duration_ms DESC NULLS LAST, a.pid";

/// `$1`: a pid. Signals it only when it is another session of the current database; false otherwise.
const CANCEL_SQL: &str = r"
SELECT CASE WHEN EXISTS (
           SELECT 1 FROM pg_stat_activity a
           WHERE a.pid = $1 AND a.pid <> pg_backend_pid()
             AND a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
       THEN pg_cancel_backend($1) ELSE false END AS signalled";

/// As [`CANCEL_SQL`], ending the session.
const TERMINATE_SQL: &str = r"
SELECT CASE WHEN EXISTS (
           SELECT 1 FROM pg_stat_activity a
           WHERE a.pid = $1 AND a.pid <> pg_backend_pid()
             AND a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
       THEN pg_terminate_backend($1) ELSE false END AS signalled";

#[derive(FromQueryResult)]
struct SessionRow {
    pid: i64,
    user_name: Option<String>,
    application: Option<String>,
    client_addr: Option<String>,
    state: Option<String>,
    backend_type: Option<String>,
    wait_event: Option<String>,
    query: Option<String>,
    query_start: Option<DateTime<Utc>>,
    duration_ms: Option<i64>,
    blocked_by: Option<serde_json::Value>,
}

#[derive(FromQueryResult)]
struct SignalRow {
    signalled: bool,
}

/// Which signal to send a session.
#[derive(Clone, Copy, Debug)]
pub(super) enum Signal {
    Cancel,
    Terminate,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        let blocked_by = match r.blocked_by {
            Some(serde_json::Value::Array(pids)) => pids.iter().filter_map(serde_json::Value::as_i64).collect(),
            _ => Vec::new(),
        };
        Session {
            pid: r.pid,
            user: r.user_name,
            application: r.application,
            client_addr: r.client_addr,
            state: r.state,
            wait_event: r.wait_event,
            query: r.query,
            query_started_at: r.query_start,
            duration_ms: r.duration_ms,
            blocked_by,
        }
    }
}

/// Counts by label, the largest group first, then by label.
fn group<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<(String, i64)> {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for label in labels {
        *counts.entry(label).or_default() += 1;
    }
    let mut groups: Vec<(String, i64)> = counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    groups
}

/// Sessions with their groupings; long-running = active for longer than the threshold.
fn summarize(rows: Vec<SessionRow>, threshold: Duration) -> Activity {
    let threshold_ms = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
    let by_state = group(rows.iter().map(|r| r.state.as_deref().or(r.backend_type.as_deref()).unwrap_or("unknown")));
    let by_application = group(rows.iter().map(|r| r.application.as_deref().unwrap_or("(none)")));
    let by_user = group(rows.iter().map(|r| r.user_name.as_deref().unwrap_or("(none)")));
    // No address: a Unix-socket client or a server process.
    let by_client = group(rows.iter().map(|r| r.client_addr.as_deref().unwrap_or("local")));
    let long_running = rows
        .iter()
        .filter(|r| r.state.as_deref() == Some("active") && r.duration_ms.is_some_and(|d| d > threshold_ms))
        .map(|r| r.pid)
        .collect();
    Activity {
        sessions: rows.into_iter().map(Session::from).collect(),
        by_state,
        by_application,
        by_user,
        by_client,
        long_running,
    }
}

impl Postgres {
    pub(super) async fn read_activity(&self, long_query_threshold: Duration) -> Result<Activity> {
        let rows: Vec<SessionRow> = self.all(SESSIONS_SQL, []).await?;
        Ok(summarize(rows, long_query_threshold))
    }

    pub(super) async fn signal(&self, pid: i64, signal: Signal) -> Result<bool> {
        // Server pids are 32-bit; anything else is no session of ours.
        let Ok(pid) = i32::try_from(pid) else { return Ok(false) };
        let sql = match signal {
            Signal::Cancel => CANCEL_SQL,
            Signal::Terminate => TERMINATE_SQL,
        };
        let row: Option<SignalRow> = self.one(sql, [pid.into()]).await?;
        Ok(row.is_some_and(|r| r.signalled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: i64, state: &str, app: &str, duration_ms: i64) -> SessionRow {
        SessionRow {
            pid,
            user_name: Some("postgres".into()),
            application: (!app.is_empty()).then(|| app.to_string()),
            client_addr: None,
            state: Some(state.into()),
            backend_type: Some("client backend".into()),
            wait_event: None,
            query: None,
            query_start: None,
            duration_ms: Some(duration_ms),
            blocked_by: Some(serde_json::json!([7, 8])),
        }
    }

    #[test]
    fn groups_count_largest_first_and_long_running_needs_active_past_threshold() {
        let rows = vec![row(1, "active", "psql", 10_000), row(2, "idle", "", 99_000), row(3, "active", "psql", 10)];
        let a = summarize(rows, Duration::from_secs(1));
        assert_eq!(a.by_state, [("active".to_string(), 2), ("idle".to_string(), 1)]);
        assert_eq!(a.by_application, [("psql".to_string(), 2), ("(none)".to_string(), 1)]);
        assert_eq!(a.by_client, [("local".to_string(), 3)]);
        assert_eq!(a.long_running, [1]);
        assert_eq!(a.sessions[0].blocked_by, [7, 8]);
    }
}
