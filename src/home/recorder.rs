//! The query history's writes, done beside the answer instead of before it, and waited for by whoever reads the history.
//!
//! Writing a run's rows costs a commit in the home database (on PostgreSQL with `synchronous_commit` a WAL flush,
//! about 3.5 ms on the benchmark machine: most of what `select 1` through the editor cost). The rows are known once
//! the run ends, and nothing the answer shows depends on them, so [`Recorder::record`] writes them on a task of its
//! own: the answer leaves at once, and the write finishes even when the client has gone away (the task does not
//! belong to the request). Readers of the history ([`Recorder::settled`]: the history page, its export, the API)
//! first wait for this instance's writes in flight, so a run is always in the history its own instance shows next;
//! `serve` waits for them before it exits. Another instance sharing the home database sees the rows once written,
//! a few milliseconds after the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::history::{self, NewRun};

/// The longest [`Recorder::settled`] waits.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// Writes query-history rows in the background; cheap to clone (clones share the writes in flight).
#[derive(Clone, Debug)]
pub struct Recorder {
    home: DatabaseConnection,
    pending: Arc<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    writes: AtomicUsize,
    idle: Notify,
}

/// Counts one write in flight until dropped (also when its task panics or is aborted).
struct InFlight(Arc<Pending>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.writes.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A write under way: awaiting it gives the warning to show when the rows could not be written (`None`: written).
#[derive(Debug)]
pub struct Recording(Option<JoinHandle<Option<String>>>);

impl Recording {
    /// The warning [`history::record_or_warn`] gave, once the write is over.
    pub async fn warning(self) -> Option<String> {
        match self.0?.await {
            Ok(warning) => warning,
            Err(e) => Some(format!("The query ran, but it could not be saved in the history: {e}")),
        }
    }
}

impl Recorder {
    pub fn new(home: DatabaseConnection) -> Recorder {
        Recorder { home, pending: Arc::new(Pending::default()) }
    }

    /// Starts writing `runs` (as [`history::record_or_warn`] does: bounded, never failing) on a task of its own and
    /// returns at once; a failure is logged there, and the returned [`Recording`] gives it to whoever wants to show it.
    pub fn record(&self, runs: Vec<NewRun>) -> Recording {
        self.record_holding(runs, ())
    }

    /// [`Recorder::record`], keeping `hold` until the write is over (the editor's next session opens when its
    /// guard drops: after the answer and the write, not while they compete for the same cores).
    pub fn record_holding<T: Send + 'static>(&self, runs: Vec<NewRun>, hold: T) -> Recording {
        if runs.is_empty() {
            drop(hold);
            return Recording(None);
        }
        self.pending.writes.fetch_add(1, Ordering::SeqCst);
        let in_flight = InFlight(self.pending.clone());
        let home = self.home.clone();
        Recording(Some(tokio::spawn(async move {
            let warning = history::record_or_warn(&home, runs).await;
            drop(in_flight);
            drop(hold);
            warning
        })))
    }

    /// Waits until no write is in flight (each written, or given up with its warning logged), for at most
    /// [`SETTLE_LIMIT`]: a write is bounded by [`history::RECORD_TIMEOUT`] per INSERT, and a steady stream of new
    /// runs on other tabs must not hold a reader up for longer.
    pub async fn settled(&self) {
        let _ = tokio::time::timeout(SETTLE_LIMIT, self.idle()).await;
    }

    async fn idle(&self) {
        loop {
            let idle = self.pending.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read: a write ending in between still wakes this one.
            idle.as_mut().enable();
            if self.pending.writes.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}
