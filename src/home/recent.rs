//! What this instance read from the home database a moment ago, reused for a bounded time: the sessions and the
//! signed-in accounts, so an ordinary page view costs no home database read.
//!
//! A value is reused for at most `bound`; whatever changed it elsewhere (another instance, the CLI, a direct
//! `UPDATE`) is seen after that. A change made through this instance calls [`Recent::forget`] once it is saved,
//! and a read that was under way meanwhile does not put its (older) value back: every `forget` moves a
//! generation on, and [`Recent::put`] keeps a value only when no `forget` happened since its read began.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries beyond this many are pruned (expired ones first, then all): a flood of distinct session ids must not
/// grow the process without end.
const MOST_ENTRIES: usize = 10_000;

/// Values read recently, each reused for at most `bound`.
pub struct Recent<K, V> {
    bound: Duration,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    values: HashMap<K, (V, Instant)>,
    generation: u64,
}

/// Taken before a read: [`Recent::put`] keeps the value read only if nothing was forgotten since.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

impl<K: Eq + Hash + Clone, V: Clone> Recent<K, V> {
    /// Reuses values for `bound` (zero: never).
    pub fn new(bound: Duration) -> Self {
        Recent { bound, inner: Mutex::new(Inner { values: HashMap::new(), generation: 0 }) }
    }

    /// The value kept for `key`, when it was read or written within the bound.
    pub fn get(&self, key: &K) -> Option<V> {
        let inner = self.lock();
        inner.values.get(key).filter(|(_, at)| at.elapsed() < self.bound).map(|(v, _)| v.clone())
    }

    /// Call before reading from the database; hand the ticket to [`Recent::put`] with what was read.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Keeps `value` for `key`, unless something was forgotten since `ticket` was taken (the value may be older
    /// than that change) or the bound is zero.
    pub fn put(&self, ticket: Ticket, key: K, value: V) {
        if self.bound.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.values.len() >= MOST_ENTRIES {
            let bound = self.bound;
            inner.values.retain(|_, (_, at)| at.elapsed() < bound);
            if inner.values.len() >= MOST_ENTRIES {
                inner.values.clear();
            }
        }
        inner.values.insert(key, (value, Instant::now()));
    }

    /// Drops `key` at once and keeps reads under way from putting an older value back.
    pub fn forget(&self, key: &K) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.values.remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_reused_within_the_bound_and_not_after() {
        let recent = Recent::new(Duration::from_millis(50));
        recent.put(recent.ticket(), 1, "ann");
        assert_eq!(recent.get(&1), Some("ann"));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(recent.get(&1), None);
    }

    #[test]
    fn a_read_that_began_before_a_forget_is_not_kept() {
        let recent = Recent::new(Duration::from_secs(60));
        let before = recent.ticket();
        recent.forget(&1);
        recent.put(before, 1, "old");
        assert_eq!(recent.get(&1), None, "read before the change: dropped");
        recent.put(recent.ticket(), 1, "new");
        assert_eq!(recent.get(&1), Some("new"));
        recent.forget(&1);
        assert_eq!(recent.get(&1), None);
    }

    #[test]
    fn a_zero_bound_keeps_nothing() {
        let recent = Recent::new(Duration::ZERO);
        recent.put(recent.ticket(), 1, 1);
        assert_eq!(recent.get(&1), None);
    }

    #[test]
    fn the_map_stays_bounded() {
        let recent = Recent::new(Duration::from_secs(60));
        for i in 0..(MOST_ENTRIES + 5) {
            recent.put(recent.ticket(), i, i);
        }
        assert!(recent.lock().values.len() <= MOST_ENTRIES);
        assert_eq!(recent.get(&(MOST_ENTRIES + 4)), Some(MOST_ENTRIES + 4));
    }
}
