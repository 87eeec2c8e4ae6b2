//! The trend sampler in `strata serve`: every `sample_interval`, for each watched database, under `catalog_timeout`,
//! it reads the database-wide readings, every table's sizes and rows (the largest [`TABLE_LIMIT`]), every index's
//! scans and the top statements' counters, and stores them in the home database ([`crate::home::samples`],
//! [`crate::home::statement_samples`]); now and then it runs the retention job (averages, deletions). Tables and
//! indexes come from `Introspector::sample_objects`, which on PostgreSQL measures only the tables that may have
//! changed.
//!
//! One sampler among all instances sharing the home database: each looks at the lease `sampler` (in
//! `strata_leases`, the backup scheduler's mechanism) every half interval; only its holder samples. The lease lasts
//! one interval, so when its holder stops another instance takes it within one and a half intervals. Samples are
//! keyed by database and second, so an instance that took over a moment too early cannot store one twice. While it
//! holds the lease the sampler keeps the newest state of each packed stream it appends to ([`samples::Tails`]), so
//! a sample costs what it writes, not a replay of the hour before it; it forgets them when the lease goes elsewhere.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use super::{Watched, Watchlist, catalog};
use crate::config::Settings;
use crate::db::introspect::{StatementInfo, StatementQuery, StatementSort};
use crate::error::{Error, Result};
use crate::home::{backup_runs, samples, statement_samples};

/// The lease's name in `strata_leases`.
pub const LEASE_NAME: &str = "sampler";

/// The most tables sampled per database: the largest, when there are more.
pub const TABLE_LIMIT: u64 = 1000;

/// The most indexes sampled per database: the largest, when there are more.
pub const INDEX_LIMIT: u64 = 4000;

/// How often the holder runs the retention job.
const RETAIN_EVERY: Duration = Duration::from_secs(60);

/// The sampler of one instance.
pub struct Sampler {
    home: DatabaseConnection,
    watched: Arc<Watchlist>,
    interval: Duration,
    timeout: Duration,
    retention: crate::config::SampleRetention,
    /// This instance, as the lease names it.
    instance: String,
    /// When each database was last sampled (Unix milliseconds), as this instance knows it while it holds the lease.
    last: HashMap<String, i64>,
    /// When the retention job last ran here.
    retained: Option<DateTime<Utc>>,
    /// The packed streams' newest states, while this instance holds the lease.
    tails: samples::Tails,
}

impl Sampler {
    pub fn new(home: DatabaseConnection, watched: Arc<Watchlist>, settings: &Settings) -> Self {
        let instance = format!("{}:{}:{:04x}", super::scheduler::hostname(), std::process::id(), rand::random::<u16>());
        Sampler {
            home,
            watched,
            interval: settings.sample_interval,
            timeout: settings.catalog_timeout,
            retention: settings.sample_retention,
            instance,
            last: HashMap::new(),
            retained: None,
            tails: samples::Tails::default(),
        }
    }

    /// This instance's name in the lease.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Runs until the task is aborted (at once when `sample_interval` is 0); [`Sampler::release`] gives the lease up.
    pub async fn run(mut self) {
        if self.interval.is_zero() {
            return;
        }
        let mut ticker = tokio::time::interval((self.interval / 2).max(Duration::from_millis(100)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = self.tick(Utc::now()).await {
                tracing::warn!(error = %e, "the trend sampler could not use the home database; it tries again");
            }
        }
    }

    /// Gives the lease up if this instance holds it.
    pub async fn release(home: &DatabaseConnection, instance: &str) {
        if let Err(e) = backup_runs::release_lease(home, LEASE_NAME, instance).await {
            tracing::warn!(error = %e, "the trend sampler's lease was not given up; it expires by itself");
        }
    }

    /// One look at the lease; the holder samples each database whose interval has passed. Returns whether this
    /// instance holds the lease.
    pub async fn tick(&mut self, now: DateTime<Utc>) -> Result<bool> {
        let until = now + chrono::Duration::from_std(self.interval).unwrap_or_default();
        if !backup_runs::take_lease(&self.home, LEASE_NAME, &self.instance, now, until).await? {
            // Another instance samples; when this one takes over it reads where that one got to.
            self.last.clear();
            self.tails.clear();
            return Ok(false);
        }
        let due_after = self.interval.as_millis() as i64 - (self.interval.as_millis() as i64 / 4);
        let all = self.watched.all();
        for watched in &all {
            let last = match self.last.get(watched.name()) {
                Some(ms) => Some(*ms),
                None => samples::latest(&self.home, watched.name()).await?.map(|s| s * 1000),
            };
            if last.is_some_and(|last| now.timestamp_millis() - last < due_after) {
                continue;
            }
            self.last.insert(watched.name().to_string(), now.timestamp_millis());
            if let Err(e) = sample_with(&self.home, watched, self.timeout, now, &mut self.tails).await {
                if e.is_unreachable() {
                    tracing::debug!(database = %watched.name(), error = %e, "not sampled: unreachable");
                } else {
                    tracing::warn!(database = %watched.name(), error = %e, "the trend sample failed");
                }
            }
        }
        if self.retained.is_none_or(|t| now - t >= chrono::Duration::from_std(RETAIN_EVERY).unwrap_or_default()) {
            self.retained = Some(now);
            let names: Vec<String> = all.iter().map(|w| w.name().to_string()).collect();
            samples::retain(&self.home, &names, &self.retention, now).await?;
        }
        Ok(true)
    }
}

/// Reads one sample of `watched` under `timeout` and stores it as taken at `at`.
pub async fn sample(home: &DatabaseConnection, watched: &Watched, timeout: Duration, at: DateTime<Utc>) -> Result<()> {
    sample_with(home, watched, timeout, at, &mut samples::Tails::default()).await
}

/// [`sample`] by the lease's holder, which keeps the packed streams' newest states in `tails`.
pub async fn sample_with(
    home: &DatabaseConnection,
    watched: &Watched,
    timeout: Duration,
    at: DateTime<Utc>,
    tails: &mut samples::Tails,
) -> Result<()> {
    let introspector = &watched.introspector;
    let read = async {
        let readings = introspector.sample_readings().await?;
        let objects = introspector.sample_objects(TABLE_LIMIT, INDEX_LIMIT).await?;
        let (tables, indexes) = (objects.tables, objects.indexes);
        Ok((readings, tables, indexes, top_statements(watched).await))
    };
    let (readings, tables, indexes, statements) = catalog::read(timeout, read).await?.ok_or_else(|| {
        Error::Timeout(format!("the sample did not arrive within {} s (catalog_timeout)", timeout.as_secs_f64()))
    })?;
    let taken = samples::Taken { at, readings: &readings, tables: &tables, indexes: &indexes };
    samples::record_many_with(home, watched.name(), &[taken], tails).await?;
    statement_samples::record_with(home, watched.name(), at.timestamp(), &statements, tails).await
}

/// The top statements by total time ([`statement_samples::TOP`]); none where the engine keeps no statistics or
/// they are not enabled or not readable (the rest of the sample is taken all the same).
async fn top_statements(watched: &Watched) -> Vec<StatementInfo> {
    if !watched.introspector.capabilities().statements {
        return Vec::new();
    }
    let query = StatementQuery {
        sort: StatementSort::TotalTime,
        descending: true,
        limit: statement_samples::TOP,
        ..Default::default()
    };
    match watched.introspector.statements(&query).await {
        Ok(s) => s.items,
        Err(e) => {
            tracing::debug!(database = %watched.name(), error = %e, "no statement sample");
            Vec::new()
        }
    }
}
