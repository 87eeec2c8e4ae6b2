//! Login throttling: failed sign-ins counted per account and per client address in a sliding window.
//!
//! Each instance counts in memory (the fast path), and [`LoginThrottle::check_shared`] counts every instance's
//! failures from the home database's audit log (every failed sign-in is recorded there as `login.failure`), so ten
//! wrong passwords spread over three instances sharing one home lock the account as ten on one would. Only
//! failures count; a success clears the account's failures but not the address's, so one known password cannot
//! wash away guesses at other accounts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many failures are allowed within how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleLimits {
    pub window: Duration,
    pub per_account: usize,
    pub per_address: usize,
}

impl Default for ThrottleLimits {
    /// 5 failures per account and 20 per address in 15 minutes.
    fn default() -> Self {
        ThrottleLimits { window: Duration::from_secs(15 * 60), per_account: 5, per_address: 20 }
    }
}

/// Where time comes from: the system clock, or a hand-moved one in tests.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Keys kept before expired ones are pruned (bounds memory under a username-spraying attack).
const PRUNE_ABOVE: usize = 10_000;

/// The failure counts; cheap to share behind an `Arc`.
pub struct LoginThrottle {
    limits: ThrottleLimits,
    clock: Clock,
    accounts: Mutex<HashMap<String, VecDeque<Instant>>>,
    addresses: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(ThrottleLimits::default())
    }
}

/// Why a sign-in is refused before its password is even checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttled {
    Account { retry_after: Duration },
    Address { retry_after: Duration },
}

impl Throttled {
    pub fn retry_after(self) -> Duration {
        match self {
            Throttled::Account { retry_after } | Throttled::Address { retry_after } => retry_after,
        }
    }
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> LoginThrottle {
        LoginThrottle::with_clock(limits, Arc::new(Instant::now))
    }

    /// A throttle reading time from `clock` (tests move it instead of sleeping).
    pub fn with_clock(limits: ThrottleLimits, clock: Clock) -> LoginThrottle {
        LoginThrottle { limits, clock, accounts: Mutex::default(), addresses: Mutex::default() }
    }

    pub fn limits(&self) -> ThrottleLimits {
        self.limits
    }

    /// `Some` when the account or the address has used up its failures in the current window.
    pub fn check(&self, account: &str, address: &str) -> Option<Throttled> {
        let now = (self.clock)();
        if let Some(retry_after) = self.blocked(&self.accounts, &account_key(account), self.limits.per_account, now) {
            return Some(Throttled::Account { retry_after });
        }
        self.blocked(&self.addresses, address, self.limits.per_address, now)
            .map(|retry_after| Throttled::Address { retry_after })
    }

    /// The wall-clock time this throttle's clock says (the system's, unless a test moved it).
    pub fn wall_now(&self) -> chrono::DateTime<chrono::Utc> {
        let (clock, real) = ((self.clock)(), Instant::now());
        let now = chrono::Utc::now();
        match clock.checked_duration_since(real) {
            Some(ahead) => now + ahead,
            None => now - real.saturating_duration_since(clock),
        }
    }

    /// `Some` when the account or the address has used up its failures in the current window, counted over every
    /// instance from the audit log of the shared home database.
    pub async fn check_shared(
        &self,
        home: &sea_orm::DatabaseConnection,
        account: &str,
        address: &str,
    ) -> crate::error::Result<Option<Throttled>> {
        let now = self.wall_now();
        let window = chrono::Duration::from_std(self.limits.window).unwrap_or(chrono::Duration::MAX);
        let since = now - window;
        // As the audit log stores them: NUL cannot be in PostgreSQL text, the log keeps U+FFFD in its place.
        let clean = |s: &str| s.replace('\0', "\u{FFFD}");
        let recent =
            crate::home::audit::recent_failures(home, &clean(&account_key(account)), &clean(address), since).await?;
        let retry = |oldest: chrono::DateTime<chrono::Utc>| (oldest + window - now).to_std().unwrap_or_default();
        if recent.account.len() >= self.limits.per_account.max(1) {
            let oldest = recent.account[recent.account.len() - self.limits.per_account.max(1)];
            return Ok(Some(Throttled::Account { retry_after: retry(oldest) }));
        }
        if recent.address.len() >= self.limits.per_address.max(1) {
            let oldest = recent.address[recent.address.len() - self.limits.per_address.max(1)];
            return Ok(Some(Throttled::Address { retry_after: retry(oldest) }));
        }
        Ok(None)
    }

    /// Counts a failed sign-in (or a wrong current password) against the account and the address.
    pub fn failed(&self, account: &str, address: &str) {
        let now = (self.clock)();
        self.push(&self.accounts, account_key(account), now);
        self.push(&self.addresses, address.to_string(), now);
    }

    /// Forgets the account's failures after a successful sign-in.
    pub fn succeeded(&self, account: &str) {
        lock(&self.accounts).remove(&account_key(account));
    }

    fn blocked(
        &self,
        map: &Mutex<HashMap<String, VecDeque<Instant>>>,
        key: &str,
        max: usize,
        now: Instant,
    ) -> Option<Duration> {
        let mut map = lock(map);
        let times = map.get_mut(key)?;
        self.expire(times, now);
        if times.len() < max.max(1) {
            return None;
        }
        // The window frees a slot when the oldest counted failure leaves it.
        let oldest = *times.front()?;
        Some((oldest + self.limits.window).saturating_duration_since(now))
    }

    fn push(&self, map: &Mutex<HashMap<String, VecDeque<Instant>>>, key: String, now: Instant) {
        let mut map = lock(map);
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, times| {
                self.expire(times, now);
                !times.is_empty()
            });
        }
        let times = map.entry(key).or_default();
        self.expire(times, now);
        times.push_back(now);
        // Only the newest `limit` failures matter; keep memory per key bounded.
        let keep = self.limits.per_account.max(self.limits.per_address).max(1);
        while times.len() > keep {
            times.pop_front();
        }
    }

    fn expire(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.limits.window) {
            times.pop_front();
        }
    }
}

/// Usernames are throttled case-insensitively, so `Admin` and `admin` share one budget.
fn account_key(account: &str) -> String {
    account.trim().to_lowercase()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters behind: still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manual() -> (Clock, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = now.clone();
        (Arc::new(move || *lock(&read)), now)
    }

    #[test]
    fn an_account_is_blocked_after_its_failures_until_the_window_passes() {
        let (clock, now) = manual();
        let t = LoginThrottle::with_clock(ThrottleLimits::default(), clock);
        for _ in 0..5 {
            assert_eq!(t.check("ann", "1.2.3.4"), None);
            t.failed("ann", "1.2.3.4");
        }
        assert!(matches!(t.check("ANN ", "5.6.7.8"), Some(Throttled::Account { .. })));
        assert_eq!(t.check("bob", "1.2.3.4"), None, "other accounts from the address still have room");
        *lock(&now) += Duration::from_secs(15 * 60);
        assert_eq!(t.check("ann", "1.2.3.4"), None);
    }

    #[test]
    fn an_address_is_blocked_after_failures_across_accounts() {
        let (clock, _) = manual();
        let t = LoginThrottle::with_clock(ThrottleLimits { per_address: 3, ..Default::default() }, clock);
        for user in ["a", "b", "c"] {
            t.failed(user, "9.9.9.9");
        }
        assert!(matches!(t.check("d", "9.9.9.9"), Some(Throttled::Address { .. })));
        assert_eq!(t.check("d", "8.8.8.8"), None);
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let (clock, _) = manual();
        let t =
            LoginThrottle::with_clock(ThrottleLimits { per_account: 2, per_address: 2, ..Default::default() }, clock);
        t.failed("ann", "1.1.1.1");
        t.succeeded("ann");
        t.failed("ann", "2.2.2.2");
        assert_eq!(t.check("ann", "3.3.3.3"), None);
        t.failed("bob", "1.1.1.1");
        assert!(matches!(t.check("carl", "1.1.1.1"), Some(Throttled::Address { .. })));
    }
}
