//! Slow readings of one watched database, read in the background every `slow_stats_refresh` while someone looks,
//! never while a page or `/metrics` waits: the overview's slow figures (database size, cache hit sums) and the bloat
//! estimate (every table's and index's statistics: 20 ms at 10,000 tables).
//!
//! The refresher starts at the first request that asks for the figures and stops by itself once nobody asked for
//! [`IDLE_AFTER_INTERVALS`] intervals (or the database stopped answering), so a database nobody looks at keeps no
//! connection of Strata's open: its pool closes idle connections after `idle_timeout`. The last reading is kept
//! with the time it was taken, and pages say how old it is.
//!
//! The very first request finds nothing read yet: it waits for the refresher's first reading at most
//! [`FIRST_READING_WAIT`] and otherwise shows "reading…". Waiting a little shows a complete page in the usual
//! case (the figures take milliseconds on most databases, ~0.2 s at 10,000 tables) and happens once per database
//! per process; waiting up to `catalog_timeout` would hold the page on a database where the sizes take seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::catalog;
use crate::db::introspect::{BloatInfo, Introspector, SlowReadings};
use crate::error::Result;

/// How long a request waits for the first reading when none was taken yet.
pub const FIRST_READING_WAIT: Duration = Duration::from_secs(1);

/// The refresher stops when nobody asked for the figures for this many intervals.
pub const IDLE_AFTER_INTERVALS: u32 = 2;

/// A reading and when it was taken.
#[derive(Clone, Debug)]
pub struct Reading<T = SlowReadings> {
    pub value: T,
    pub read_at: DateTime<Utc>,
}

impl<T> Reading<T> {
    /// "read 40 s ago", for pages.
    pub fn age(&self) -> String {
        format!("read {}", self.ago())
    }

    /// "40 s ago".
    pub fn ago(&self) -> String {
        let secs = (Utc::now() - self.read_at).num_seconds().max(0);
        match secs {
            0..=119 => format!("{secs} s ago"),
            120..=7199 => format!("{} min ago", secs / 60),
            _ => format!("{} h ago", secs / 3600),
        }
    }
}

/// What a slow reading reads, from the database's introspector.
pub trait Read: Clone + Send + Sync + 'static {
    /// What it is, for the log ("the slow overview figures").
    const WHAT: &'static str;
    fn read(introspector: Arc<dyn Introspector>) -> BoxFuture<'static, Result<Self>>;
}

impl Read for SlowReadings {
    const WHAT: &'static str = "the slow overview figures";
    fn read(introspector: Arc<dyn Introspector>) -> BoxFuture<'static, Result<Self>> {
        Box::pin(async move { introspector.slow_readings().await })
    }
}

impl Read for Vec<BloatInfo> {
    const WHAT: &'static str = "the bloat estimate";
    fn read(introspector: Arc<dyn Introspector>) -> BoxFuture<'static, Result<Self>> {
        Box::pin(async move { introspector.bloat().await })
    }
}

/// One database's slow reading of one kind and its refresher.
pub struct Slow<T = SlowReadings> {
    every: Duration,
    limit: Duration,
    latest: watch::Sender<Option<Reading<T>>>,
    refresher: Mutex<Refresher>,
    reads: AtomicU64,
}

struct Refresher {
    running: bool,
    wanted_at: Instant,
}

impl<T: Read> Slow<T> {
    /// Figures read every `every`, each read under `catalog_timeout` or, when longer, `every`: nobody waits for
    /// this read, so a database whose size takes longer than a page may wait still gets one (and one at a time).
    pub fn new(every: Duration, catalog_timeout: Duration) -> Arc<Slow<T>> {
        Arc::new(Slow {
            every,
            limit: catalog_timeout.max(every),
            latest: watch::Sender::new(None),
            refresher: Mutex::new(Refresher { running: false, wanted_at: Instant::now() }),
            reads: AtomicU64::new(0),
        })
    }

    /// The latest reading, however old; starts the refresher when it is not running. When nothing was read yet,
    /// waits for the first reading at most `wait`.
    pub async fn get(self: &Arc<Self>, introspector: &Arc<dyn Introspector>, wait: Duration) -> Option<Reading<T>> {
        let mut seen = self.latest.subscribe();
        self.wanted(introspector);
        if let Some(reading) = seen.borrow_and_update().clone() {
            return Some(reading);
        }
        let first = tokio::time::timeout(wait, seen.wait_for(Option::is_some)).await;
        first.ok().and_then(|r| r.ok()).and_then(|r| r.clone())
    }

    /// The latest reading when it is at most `max_age` old, which keeps the refresher going (or starts it); `None`
    /// otherwise, and nothing is started: the caller reads with [`Slow::read_now`].
    pub fn recent(self: &Arc<Self>, introspector: &Arc<dyn Introspector>, max_age: Duration) -> Option<Reading<T>> {
        let reading = self.latest.borrow().clone()?;
        if (Utc::now() - reading.read_at).to_std().unwrap_or_default() > max_age {
            return None;
        }
        self.wanted(introspector);
        Some(reading)
    }

    /// Reads now, while the caller waits (someone asked for a fresh reading, or none is recent), and keeps the
    /// reading for the next requests; `None` when it took longer than `limit`; an error as the read failed.
    pub async fn read_now(
        self: &Arc<Self>,
        introspector: &Arc<dyn Introspector>,
        limit: Duration,
    ) -> Result<Option<Reading<T>>> {
        let Some(value) = catalog::read(limit, T::read(introspector.clone())).await? else { return Ok(None) };
        self.reads.fetch_add(1, Ordering::Relaxed);
        let reading = Reading { value, read_at: Utc::now() };
        self.latest.send_replace(Some(reading.clone()));
        // Started after the reading is in: the refresher then waits an interval before its own.
        self.wanted(introspector);
        Ok(Some(reading))
    }

    /// How often the refresher reads.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// How many readings were taken (each is one round of the slow queries).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Whether the refresher is running now.
    pub fn refreshing(&self) -> bool {
        self.lock().running
    }

    fn wanted(self: &Arc<Self>, introspector: &Arc<dyn Introspector>) {
        let mut r = self.lock();
        r.wanted_at = Instant::now();
        if r.running {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        r.running = true;
        handle.spawn(refresh(Arc::downgrade(self), introspector.clone()));
    }

    /// Ends the refresher when nobody asked for a while; decided under the lock `wanted` takes, so a request
    /// either sees it running (and it goes on) or starts a new one.
    fn keep_going(&self) -> bool {
        let mut r = self.lock();
        let idle = r.wanted_at.elapsed() >= self.every * IDLE_AFTER_INTERVALS;
        if idle {
            r.running = false;
        }
        !idle
    }

    fn stop(&self) {
        self.lock().running = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Refresher> {
        self.refresher.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Reads the figures now and every interval until nobody asks, the database stops answering, or it is no longer
/// watched (the [`Slow`] is dropped).
async fn refresh<T: Read>(stats: Weak<Slow<T>>, introspector: Arc<dyn Introspector>) {
    loop {
        let Some(s) = stats.upgrade() else { return };
        // A reading younger than the interval (one taken on request) is not taken again before its time.
        let young = s.latest.borrow().as_ref().and_then(|r| (r.read_at + s.every - Utc::now()).to_std().ok());
        if let Some(left) = young.filter(|left| !left.is_zero()) {
            drop(s);
            tokio::time::sleep(left).await;
            let Some(s) = stats.upgrade() else { return };
            if !s.keep_going() {
                return;
            }
            continue;
        }
        match catalog::read(s.limit, T::read(introspector.clone())).await {
            Ok(Some(value)) => {
                s.reads.fetch_add(1, Ordering::Relaxed);
                s.latest.send_replace(Some(Reading { value, read_at: Utc::now() }));
            }
            // Timed out: the older reading stays, and its age shows.
            Ok(None) => {}
            Err(e) if e.is_unreachable() => {
                // The pages' health probe takes over; the next request starts a refresher again.
                tracing::warn!(error = %e, "{} stops refreshing: the database is unreachable", T::WHAT);
                s.stop();
                return;
            }
            Err(e) => tracing::warn!(error = %e, "reading {} failed", T::WHAT),
        }
        let every = s.every;
        drop(s);
        tokio::time::sleep(every).await;
        let Some(s) = stats.upgrade() else { return };
        if !s.keep_going() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_say_them() {
        let at = |secs| Reading { value: (), read_at: Utc::now() - chrono::TimeDelta::seconds(secs) };
        assert_eq!(at(40).age(), "read 40 s ago");
        assert_eq!(at(600).age(), "read 10 min ago");
        assert_eq!(at(3 * 3600).age(), "read 3 h ago");
    }
}
