//! What `/metrics` reads on SQLite besides the overview: only the longest of Strata's own statements.
//!
//! SQLite is a file inside this process: it has no deadlock counter (a writer waits for the lock up to the
//! busy timeout, then fails) and no replicas.

use crate::db::introspect::Counters;
use crate::db::running;

/// The longest statement Strata is running now, in seconds; 0 when none runs.
pub(super) fn read_counters() -> Counters {
    let longest = running::snapshot().iter().map(|s| s.elapsed.as_secs_f64()).fold(0.0, f64::max);
    Counters { longest_query_seconds: Some(longest), ..Counters::default() }
}
