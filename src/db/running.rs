//! Strata's own running statements: a process-wide registry that code running SQL enters and leaves.
//!
//! A statement is listed from [`register`] until its [`RunningGuard`] is dropped, so an early return or
//! a panic cannot leave it behind. SQLite has no server sessions to show; its activity page lists these.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// One statement Strata is running right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningStatement {
    /// Unique within the process, never reused.
    pub id: i64,
    /// Who asked for it (the signed-in Strata account, or the CLI).
    pub user: String,
    pub sql: String,
    pub started_at: DateTime<Utc>,
    /// How long it has been running when the snapshot was taken.
    pub elapsed: Duration,
}

#[derive(Debug)]
struct Entry {
    user: String,
    sql: String,
    started_at: DateTime<Utc>,
    started: Instant,
}

/// A registry of running statements; the process uses one, [`RUNNING`].
#[derive(Debug)]
pub struct Running {
    next_id: AtomicI64,
    statements: Mutex<BTreeMap<i64, Entry>>,
}

/// The process-wide registry behind [`register`] and [`snapshot`].
pub static RUNNING: LazyLock<Running> = LazyLock::new(Running::new);

impl Default for Running {
    fn default() -> Self {
        Running::new()
    }
}

impl Running {
    pub fn new() -> Self {
        Running { next_id: AtomicI64::new(1), statements: Mutex::new(BTreeMap::new()) }
    }

    /// Lists a statement until the returned guard is dropped.
    pub fn register(&self, user: &str, sql: &str) -> RunningGuard<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry =
            Entry { user: user.to_string(), sql: sql.to_string(), started_at: Utc::now(), started: Instant::now() };
        self.lock().insert(id, entry);
        RunningGuard { registry: self, id }
    }

    /// The statements running now, oldest first.
    pub fn snapshot(&self) -> Vec<RunningStatement> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(&id, e)| RunningStatement {
                id,
                user: e.user.clone(),
                sql: e.sql.clone(),
                started_at: e.started_at,
                elapsed: now.saturating_duration_since(e.started),
            })
            .collect()
    }

    /// A panic while the lock was held cannot leave the map half-written (every change is one call), so a
    /// poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<i64, Entry>> {
        self.statements.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Keeps a statement listed; dropping it removes the statement.
#[derive(Debug)]
#[must_use = "the statement is unlisted as soon as the guard is dropped"]
pub struct RunningGuard<'a> {
    registry: &'a Running,
    id: i64,
}

impl RunningGuard<'_> {
    /// The id the statement is listed under.
    pub fn id(&self) -> i64 {
        self.id
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// Lists a statement in the process-wide registry until the guard is dropped.
pub fn register(user: &str, sql: &str) -> RunningGuard<'static> {
    RUNNING.register(user, sql)
}

/// The statements running now in this process, oldest first.
pub fn snapshot() -> Vec<RunningStatement> {
    RUNNING.snapshot()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_listed_while_its_guard_lives() {
        let running = Running::new();
        let a = running.register("alice", "SELECT 1");
        let b = running.register("bob", "SELECT 2");
        let listed = running.snapshot();
        assert_eq!(
            listed.iter().map(|s| (s.id, s.user.as_str(), s.sql.as_str())).collect::<Vec<_>>(),
            [(a.id(), "alice", "SELECT 1"), (b.id(), "bob", "SELECT 2")]
        );
        assert!(listed[0].started_at <= listed[1].started_at);
        drop(a);
        let listed = running.snapshot();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, b.id());
        drop(b);
        assert!(running.snapshot().is_empty());
    }

    #[test]
    fn ids_are_never_reused() {
        let running = Running::new();
        let first = running.register("u", "x").id();
        let second = running.register("u", "y").id();
        assert_ne!(first, second);
        assert!(running.snapshot().is_empty(), "both guards were temporaries");
    }

    #[test]
    fn a_panic_while_running_still_unlists_the_statement() {
        let running = Running::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = running.register("u", "SELECT boom");
            panic!("the statement failed badly");
        }));
        assert!(result.is_err());
        assert!(running.snapshot().is_empty());
    }

    #[test]
    fn the_process_registry_lists_what_is_registered() {
        let sql = format!("SELECT 'process registry test {}'", std::process::id());
        let guard = register("carol", &sql);
        assert!(snapshot().iter().any(|s| s.id == guard.id() && s.sql == sql && s.user == "carol"));
        let id = guard.id();
        drop(guard);
        assert!(!snapshot().iter().any(|s| s.id == id));
    }
}
