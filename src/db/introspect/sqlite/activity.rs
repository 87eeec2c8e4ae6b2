//! Activity on SQLite: no server sessions exist, so the page lists the statements Strata itself is running.

use std::time::Duration;

use crate::db::introspect::{Activity, Session, group_counts};
use crate::db::running::{self, RunningStatement};

/// The `application` shown for Strata's own statements.
const APPLICATION: &str = "strata";

impl From<RunningStatement> for Session {
    fn from(s: RunningStatement) -> Self {
        Session {
            pid: s.id,
            user: Some(s.user),
            application: Some(APPLICATION.into()),
            client_addr: None,
            state: Some("active".into()),
            wait_event: None,
            query: Some(s.sql),
            query_started_at: Some(s.started_at),
            duration_ms: Some(i64::try_from(s.elapsed.as_millis()).unwrap_or(i64::MAX)),
            blocked_by: Vec::new(),
        }
    }
}

/// Strata's running statements as sessions, the longest-running first.
pub(super) fn running_statements(threshold: Duration) -> Activity {
    summarize(running::snapshot(), threshold)
}

/// How many of Strata's statements have run longer than the threshold.
pub(super) fn long_running_count(threshold: Duration) -> i64 {
    running::snapshot().iter().filter(|s| s.elapsed > threshold).count() as i64
}

fn summarize(mut statements: Vec<RunningStatement>, threshold: Duration) -> Activity {
    statements.sort_by(|a, b| b.elapsed.cmp(&a.elapsed).then(a.id.cmp(&b.id)));
    let long_running = statements.iter().filter(|s| s.elapsed > threshold).map(|s| s.id).collect();
    let sessions: Vec<Session> = statements.into_iter().map(Session::from).collect();
    Activity {
        by_state: group_counts(sessions.iter().map(|s| s.state.as_deref().unwrap_or("unknown"))),
        by_application: group_counts(sessions.iter().map(|_| APPLICATION)),
        by_user: group_counts(sessions.iter().map(|s| s.user.as_deref().unwrap_or("(none)"))),
        // Statements run inside this process: no client address.
        by_client: group_counts(sessions.iter().map(|_| "local")),
        long_running,
        sessions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(id: i64, user: &str, elapsed_ms: u64) -> RunningStatement {
        RunningStatement {
            id,
            user: user.into(),
            sql: format!("SELECT {id}"),
            started_at: chrono::Utc::now(),
            elapsed: Duration::from_millis(elapsed_ms),
        }
    }

    #[test]
    fn statements_become_sessions_longest_first_and_past_the_threshold_are_long_running() {
        let a = summarize(
            vec![statement(1, "alice", 10), statement(2, "bob", 5_000), statement(3, "alice", 2_000)],
            Duration::from_secs(1),
        );
        assert_eq!(a.sessions.iter().map(|s| s.pid).collect::<Vec<_>>(), [2, 3, 1]);
        assert_eq!(a.long_running, [2, 3]);
        assert_eq!(a.by_user, [("alice".to_string(), 2), ("bob".to_string(), 1)]);
        assert_eq!(a.by_application, [("strata".to_string(), 3)]);
        assert_eq!(a.sessions[0].query.as_deref(), Some("SELECT 2"));
        assert_eq!(a.sessions[0].duration_ms, Some(5_000));
    }
}
