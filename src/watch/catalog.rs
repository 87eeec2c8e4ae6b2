//! Catalog reads for pages: each runs under `catalog_timeout`, and a read that times out renders as a note, not an error.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use crate::error::Result;

/// What a page shows when a read did not answer in time.
pub fn timeout_note(limit: Duration) -> String {
    format!(
        "The database did not answer this catalog read within {} s, so this part is empty. \
         Reload to try again, or raise catalog_timeout ([strata] catalog_timeout / STRATA_CATALOG_TIMEOUT).",
        limit.as_secs_f64()
    )
}

/// Runs a read under `limit`: `Ok(None)` when it timed out, errors pass through.
pub async fn read<T>(limit: Duration, fut: impl Future<Output = Result<T>>) -> Result<Option<T>> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map(Some),
        Err(_) => {
            tracing::warn!("catalog read timed out after {limit:?}");
            Ok(None)
        }
    }
}

/// A value read from the server, reused for a while: every request within `ttl` shares one read.
///
/// The lock is held while reading, so concurrent requests after expiry wait for one read instead of
/// each running it. Failures and timeouts are never kept.
pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<Snapshot<T>>>,
}

/// A cached value and when it was read.
pub struct Snapshot<T> {
    pub value: Arc<T>,
    pub read_at: DateTime<Utc>,
    fresh_until: Instant,
}

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Snapshot { value: self.value.clone(), read_at: self.read_at, fresh_until: self.fresh_until }
    }
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Cached { ttl, slot: Mutex::new(None) }
    }

    /// The kept value while it is fresh; otherwise `read` under `limit` (`Ok(None)` when that timed out).
    pub async fn get<F>(&self, limit: Duration, read: impl FnOnce() -> F) -> Result<Option<Snapshot<T>>>
    where
        F: Future<Output = Result<T>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| Instant::now() < s.fresh_until) {
            return Ok(Some(s.clone()));
        }
        let Some(value) = self::read(limit, read()).await? else { return Ok(None) };
        let snapshot = Snapshot { value: Arc::new(value), read_at: Utc::now(), fresh_until: Instant::now() + self.ttl };
        if !self.ttl.is_zero() {
            *slot = Some(snapshot.clone());
        }
        Ok(Some(snapshot))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn a_fresh_value_is_reused_and_an_expired_one_read_again() {
        let reads = AtomicU32::new(0);
        let cache = Cached::new(Duration::from_millis(200));
        let read = || async { Ok(reads.fetch_add(1, Ordering::SeqCst)) };
        let first = cache.get(Duration::from_secs(1), read).await.unwrap().unwrap();
        let second = cache.get(Duration::from_secs(1), read).await.unwrap().unwrap();
        assert_eq!((*first.value, *second.value), (0, 0));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(*cache.get(Duration::from_secs(1), read).await.unwrap().unwrap().value, 1);
    }

    #[tokio::test]
    async fn failures_and_timeouts_are_not_kept() {
        let cache: Cached<u32> = Cached::new(Duration::from_secs(60));
        let failed = cache.get(Duration::from_secs(1), || async { Err(Error::Internal("boom".into())) }).await;
        assert!(failed.is_err());
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(1)
        };
        assert!(cache.get(Duration::from_millis(10), slow).await.unwrap().is_none());
        assert_eq!(*cache.get(Duration::from_secs(1), || async { Ok(7) }).await.unwrap().unwrap().value, 7);
    }

    #[tokio::test]
    async fn zero_ttl_reads_every_time() {
        let cache = Cached::new(Duration::ZERO);
        let reads = AtomicU32::new(0);
        for want in 0..3 {
            let got = cache.get(Duration::from_secs(1), || async { Ok(reads.fetch_add(1, Ordering::SeqCst)) }).await;
            assert_eq!(*got.unwrap().unwrap().value, want);
        }
    }
}
