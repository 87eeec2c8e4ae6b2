//! SQLite editor connections kept for the next session of the same file and mode, when a run left nothing behind.
//!
//! A new SQLite connection parses the whole schema at its first statement: about a second at 10,000 tables with 3
//! indexes each, more than any short statement. A run's session is closed after the run; on SQLite, a connection
//! the run left clean is kept here instead and the next session of the same file and mode (read-only or not) takes
//! it with its schema loaded. Clean means what a new connection would be: no transaction open (a `BEGIN` would
//! fail inside one) and no temporary table, view, index or trigger (`temp.sqlite_schema` is empty). Settings cannot
//! differ: the editor's guard refuses every pragma that sets something and every ATTACH (see `sqlite_guard`), and
//! statements are not kept prepared. The connection-wide counters `changes()`, `total_changes()` and
//! `last_insert_rowid()` carry over, between sessions of the same mode only (read-only ones never write).
//! A kept connection is reused for at most [`MAX_LIFE`] after it was opened, and dropped unused after [`MAX_IDLE`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx::sqlite::SqliteConnection;
use sea_orm::sqlx::{self, Connection, Executor};

/// How long after it was opened a connection may still be reused.
pub(crate) const MAX_LIFE: Duration = Duration::from_secs(300);

/// How long a kept connection waits for a next session before it is closed (at the next look).
const MAX_IDLE: Duration = Duration::from_secs(60);

/// At most this many are kept, across files.
const MAX_KEPT: usize = 4;

/// One kept connection.
pub(crate) struct Kept {
    /// The file's connect URL and the mode it was opened in.
    key: (String, bool),
    pub conn: SqliteConnection,
    /// The flag its progress handler checks (reset before reuse).
    pub stop: Arc<AtomicBool>,
    pub opened: Instant,
    kept: Instant,
}

static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

fn kept() -> std::sync::MutexGuard<'static, Vec<Kept>> {
    KEPT.lock().unwrap_or_else(|p| p.into_inner())
}

/// A kept connection for this file and mode, if there is one young enough; the stale ones are closed.
pub(crate) async fn take(url: &str, read_only: bool) -> Option<Kept> {
    let (found, stale) = {
        let mut all = kept();
        let (stale, fresh): (Vec<Kept>, Vec<Kept>) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|k| k.kept.elapsed() >= MAX_IDLE || k.opened.elapsed() >= MAX_LIFE);
        *all = fresh;
        let at = all.iter().position(|k| k.key.0 == url && k.key.1 == read_only);
        (at.map(|i| all.swap_remove(i)), stale)
    };
    for k in stale {
        k.conn.close().await.ok();
    }
    let found = found?;
    found.stop.store(false, Ordering::SeqCst);
    Some(found)
}

/// Keeps the connection of a finished session when it is clean and young enough; closes it otherwise.
pub(crate) async fn keep_or_close(
    url: &str,
    read_only: bool,
    mut conn: SqliteConnection,
    stop: Arc<AtomicBool>,
    opened: Instant,
) {
    if opened.elapsed() >= MAX_LIFE || !clean(&mut conn).await {
        conn.close().await.ok();
        return;
    }
    let evicted = {
        let mut all = kept();
        all.push(Kept { key: (url.to_string(), read_only), conn, stop, opened, kept: Instant::now() });
        if all.len() > MAX_KEPT { Some(all.remove(0)) } else { None }
    };
    if let Some(k) = evicted {
        k.conn.close().await.ok();
    }
}

/// Whether the connection is as a new one would be (see the module).
async fn clean(conn: &mut SqliteConnection) -> bool {
    let temp: Result<i64, sqlx::Error> =
        sqlx::query_scalar("SELECT count(*) FROM temp.sqlite_schema").fetch_one(&mut *conn).await;
    if !matches!(temp, Ok(0)) {
        return false;
    }
    // SQLite refuses a BEGIN inside a transaction: one that succeeds proves none was left open.
    if conn.execute("BEGIN").await.is_err() {
        return false;
    }
    conn.execute("ROLLBACK").await.is_ok()
}
