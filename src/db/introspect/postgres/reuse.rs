//! Catalog readings reused for a short while, as long as no relation was created since they were read.
//!
//! A new relation gets a higher oid than any before it (until the oid counter wraps around), and the
//! highest oid in `pg_class` is read from its oid index in microseconds: a reading taken under the same
//! highest oid and younger than its bound is still right about every relation created since. Drops,
//! renames and moves to another schema are not seen by this test: they reach a reused reading within its
//! bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::FromQueryResult;

use super::Postgres;
use crate::error::Result;

/// The highest oid in `pg_class`.
const MAX_OID_SQL: &str = "SELECT max(oid)::bigint AS max_oid FROM pg_class";

#[derive(FromQueryResult)]
struct MaxOid {
    max_oid: Option<i64>,
}

/// Readings by key, each reused for `bound` while the highest oid stays where it was.
pub(super) struct Reuse<K, V> {
    bound: Duration,
    kept: Mutex<HashMap<K, Kept<V>>>,
}

struct Kept<V> {
    at: Instant,
    max_oid: Option<i64>,
    value: Arc<V>,
}

impl<K: Eq + Hash, V> Reuse<K, V> {
    pub(super) fn new(bound: Duration) -> Self {
        Reuse { bound, kept: Mutex::new(HashMap::new()) }
    }

    /// The reading for `key` if it was taken less than the bound ago under this highest oid.
    pub(super) fn get(&self, key: &K, max_oid: Option<i64>) -> Option<Arc<V>> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.get(key).filter(|k| k.max_oid == max_oid && k.at.elapsed() < self.bound).map(|k| k.value.clone())
    }

    /// Keeps a reading started at `at` (before its query ran) under `max_oid`.
    pub(super) fn put(&self, key: K, max_oid: Option<i64>, at: Instant, value: Arc<V>) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|_, k| k.at.elapsed() < self.bound);
        kept.insert(key, Kept { at, max_oid, value });
    }
}

impl Postgres {
    /// The highest oid in `pg_class` now.
    pub(super) async fn max_oid(&self) -> Result<Option<i64>> {
        Ok(self.one::<MaxOid>(MAX_OID_SQL, []).await?.and_then(|r| r.max_oid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_reused_under_the_same_highest_oid_within_its_bound_only() {
        let reuse: Reuse<&str, u32> = Reuse::new(Duration::from_secs(60));
        reuse.put("k", Some(10), Instant::now(), Arc::new(7));
        assert_eq!(reuse.get(&"k", Some(10)).as_deref(), Some(&7));
        assert_eq!(reuse.get(&"k", Some(11)), None, "a relation was created since");
        assert_eq!(reuse.get(&"other", Some(10)), None);
        let old: Reuse<&str, u32> = Reuse::new(Duration::ZERO);
        old.put("k", Some(10), Instant::now(), Arc::new(7));
        assert_eq!(old.get(&"k", Some(10)), None, "past its bound");
    }
}
