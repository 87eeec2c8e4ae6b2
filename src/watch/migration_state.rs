//! The project database's migration state as the overview and the charts show it (each migration's status, the
//! last run, the head, Strata's log), kept while the bookkeeping tables' fingerprint stays the same.
//!
//! A full read takes about ten queries (which tables exist, the applied rows, the heads, the latest attempt per
//! revision, the log); the fingerprint ([`bookkeeping::fingerprint`]) is one. Whatever changes the state (a run
//! of this instance, of another one, of the CLI, a hand edit of the tables) changes the fingerprint, so a page
//! shows it at once. A state with a `running` attempt depends on whether its runner is alive, which the tables do
//! not say: it is never kept.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use entity::migrations_log;

use super::Watched;
use crate::error::Result;
use crate::migrate::{self, MigrationSet, MigrationStatus, bookkeeping};

/// Strata's successful log rows read for chart markers, newest first, at most.
pub const LOG_ROWS: u64 = 1000;

/// What the pages show of one database's migrations.
#[derive(Debug, Default)]
pub struct MigrationState {
    /// Each of this build's migrations (the project database only; empty for another).
    pub status: Vec<MigrationStatus>,
    /// The newest `migrations_log` row, whatever its outcome (the project database only).
    pub last_run: Option<migrations_log::Model>,
    /// The revision in `alembic_version`, `None` at base.
    pub head: Option<String>,
    /// Strata's successful attempts, newest first, at most [`LOG_ROWS`] (the project database only).
    pub log: Vec<migrations_log::Model>,
}

/// The last state read with the fingerprint read just before it.
#[derive(Default)]
pub struct Cache {
    slot: Mutex<Option<(bookkeeping::Fingerprint, Arc<MigrationState>)>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl Cache {
    fn kept(&self) -> Option<(bookkeeping::Fingerprint, Arc<MigrationState>)> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn keep(&self, value: Option<(bookkeeping::Fingerprint, Arc<MigrationState>)>) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = value;
    }
}

/// `w`'s migration state: the kept one when the fingerprint has not changed since it was read, else read anew.
/// The log is read under `log_limit` (a log that did not come in time is left empty, and that state not kept).
pub async fn of(w: &Watched, set: &MigrationSet, log_limit: Duration) -> Result<Arc<MigrationState>> {
    if !w.spec.project {
        // Strata's migrator knows only the project's migrations: another database shows its head only.
        let head = migrate::current(&w.db).await?;
        return Ok(Arc::new(MigrationState { head, ..MigrationState::default() }));
    }
    let cache = &w.migration_state;
    // The fingerprint is read before the state: a change made in between makes the kept fingerprint stale, and the
    // next request reads again.
    let fingerprint = match cache.kept() {
        Some((kept, state)) => match bookkeeping::fingerprint(&w.db).await {
            Ok(now) if now == kept => return Ok(state),
            Ok(now) => Some(now),
            // A table gone (or the database failing): the full read says which.
            Err(_) => None,
        },
        None => {
            let present = bookkeeping::present(sea_orm::DatabaseExecutor::from(&w.db)).await?;
            match present.seaql && present.head && present.log {
                true => Some(bookkeeping::fingerprint(&w.db).await?),
                false => None,
            }
        }
    };
    let (status, last, head, log) = tokio::join!(
        migrate::status(&w.db, set),
        migrate::history(&w.db, 1, None),
        migrate::current(&w.db),
        tokio::time::timeout(log_limit, migrate::history(&w.db, LOG_ROWS, Some("success"))),
    );
    let (log, complete) = match log {
        Ok(Ok(rows)) => (rows, true),
        _ => (Vec::new(), false),
    };
    let state = Arc::new(MigrationState { status: status?, last_run: last?.into_iter().next(), head: head?, log });
    let keep = fingerprint.filter(|f| complete && f.running == 0).map(|f| (f, state.clone()));
    cache.keep(keep);
    Ok(state)
}
