//! The watched databases' readings for `/metrics`, labelled `database`: collected on a schedule, each read under `catalog_timeout`; a scrape
//! renders the last collection and never waits for the database.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::db::introspect::{Counters, Overview};
use crate::error::{Error, Result};
use crate::migrate::{self, MigrationSet};
use crate::watch::catalog;
use crate::watch::{Watched, Watchlist};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

/// What the collector reads and how: every watched database's readings, each under `catalog_timeout`.
pub struct DbReadings {
    watched: Arc<Watchlist>,
    migrations: Arc<MigrationSet>,
    long_query_threshold: Duration,
    /// The limit for each read (`catalog_timeout`).
    timeout: Duration,
    /// Per watched database, by name (databases removed from the list are dropped at the next collection).
    collected: RwLock<BTreeMap<String, Collected>>,
}

/// The outcome of one database's collections so far.
#[derive(Default)]
struct Collected {
    /// The last collection's readings, when it succeeded; `None` before the first and after a failure,
    /// so a database that stopped answering shows `strata_db_up 0` and no stale values.
    latest: Option<Readings>,
    last_success: Option<(SystemTime, Instant)>,
    collections: u64,
    errors: u64,
    last_duration: Option<Duration>,
}

/// One successful collection.
struct Readings {
    overview: Overview,
    /// When the slow figures in `overview` (size, cache hit sums) were read in the background.
    slow_read_at: Option<chrono::DateTime<chrono::Utc>>,
    counters: Counters,
    /// The `alembic_version` revision, or `base`.
    head: String,
    /// Migrations of this build not applied (project database only).
    pending: Option<usize>,
    dirty: Option<usize>,
    long_query_threshold: Duration,
}

impl DbReadings {
    pub fn new(
        watched: Arc<Watchlist>,
        migrations: Arc<MigrationSet>,
        long_query_threshold: Duration,
        timeout: Duration,
    ) -> DbReadings {
        DbReadings { watched, migrations, long_query_threshold, timeout, collected: RwLock::new(BTreeMap::new()) }
    }

    /// Reads every watched database once, concurrently, and keeps the outcomes; a failure is logged, counted and
    /// turns that database's `strata_db_up` to 0.
    pub async fn collect(&self) {
        let all = self.watched.all();
        let results = futures::future::join_all(all.iter().map(|w| async move {
            let started = Instant::now();
            let result = self.read(w).await;
            (w.name().to_string(), started.elapsed(), result)
        }))
        .await;
        let mut map = self.collected.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.retain(|name, _| all.iter().any(|w| w.name() == name));
        for (name, took, result) in results {
            let c = map.entry(name.clone()).or_default();
            c.collections += 1;
            c.last_duration = Some(took);
            match result {
                Ok(readings) => {
                    c.latest = Some(readings);
                    c.last_success = Some((SystemTime::now(), Instant::now()));
                }
                Err(e) => {
                    tracing::warn!(database = %name, error = %e, "metrics: collecting the database readings failed");
                    c.errors += 1;
                    c.latest = None;
                }
            }
        }
    }

    async fn read(&self, w: &Watched) -> Result<Readings> {
        let threshold = self.long_query_threshold;
        let mut overview = self.within("overview", w.introspector.live_overview(threshold)).await?;
        // The slow figures are the overview's background readings: a collection never runs their queries.
        let slow = w.slow_reading().await;
        if let Some(slow) = &slow {
            slow.value.apply(&mut overview);
        }
        let counters = self.within("counters", w.introspector.counters()).await?;
        let head = self.within("migration head", migrate::current(&w.db)).await?;
        // Keeps every migration tool's state fresh for strata_migrations_* (metrics::migrations).
        // A failure here leaves the other readings alone; the gauges then keep the last reading.
        if let Err(e) = crate::watch::schema_history::of(w, &self.migrations, self.timeout, false).await {
            tracing::warn!(database = %w.name(), error = %e, "metrics: reading the migration tools failed");
        }
        let status = if w.spec.project {
            Some(self.within("migration status", migrate::status(&w.db, &self.migrations)).await?)
        } else {
            None
        };
        Ok(Readings {
            overview,
            slow_read_at: slow.map(|r| r.read_at),
            counters,
            head: head.unwrap_or_else(|| "base".into()),
            pending: status.as_ref().map(|s| s.iter().filter(|m| !m.applied).count()),
            dirty: status.as_ref().map(|s| s.iter().filter(|m| m.state == "dirty").count()),
            long_query_threshold: threshold,
        })
    }

    async fn within<T>(&self, what: &str, read: impl Future<Output = Result<T>>) -> Result<T> {
        catalog::read(self.timeout, read).await?.ok_or_else(|| {
            Error::Unavailable(format!("the {what} read took longer than catalog_timeout ({:?})", self.timeout))
        })
    }
}

/// Collects every `every` until the readings are dropped (the last clone of the app state is gone).
pub async fn run(readings: Weak<DbReadings>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    // A slow collection delays the next one rather than causing a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(readings) = readings.upgrade() else { return };
        readings.collect().await;
    }
}

impl fmt::Debug for DbReadings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbReadings").finish_non_exhaustive()
    }
}

/// One database's value for a family: its name and the value (databases without one are left out).
type Values<'a, V> = Vec<(&'a str, V)>;

impl Collector for DbReadings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let map = self.collected.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.is_empty() {
            return Ok(()); // nothing is known before the first collection ends
        }
        let e = &mut encoder;
        let all: Vec<(&str, &Collected)> = map.iter().map(|(n, c)| (n.as_str(), c)).collect();
        let latest: Vec<(&str, &Readings)> =
            all.iter().filter_map(|(n, c)| c.latest.as_ref().map(|r| (*n, r))).collect();
        gauges(
            e,
            "strata_db_up",
            "1 when the last collection of the database readings succeeded, else 0",
            all.iter().map(|(n, c)| (*n, i64::from(c.latest.is_some()))).collect(),
        )?;
        counters(e, "strata_db_collections", "Collections of the database readings attempted", {
            all.iter().map(|(n, c)| (*n, c.collections)).collect()
        })?;
        counters(e, "strata_db_collection_errors", "Collections of the database readings that failed", {
            all.iter().map(|(n, c)| (*n, c.errors)).collect()
        })?;
        gauges(e, "strata_db_collection_duration_seconds", "How long the last collection took", {
            all.iter().filter_map(|(n, c)| c.last_duration.map(|d| (*n, d.as_secs_f64()))).collect()
        })?;
        gauges(e, "strata_db_last_success_timestamp_seconds", "When the last successful collection ended", {
            all.iter()
                .filter_map(|(n, c)| {
                    c.last_success.map(|(at, _)| (*n, at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()))
                })
                .collect()
        })?;
        gauges(e, "strata_db_scrape_age_seconds", "Age of the database readings in this scrape", {
            all.iter().filter_map(|(n, c)| c.last_success.map(|(_, i)| (*n, i.elapsed().as_secs_f64()))).collect()
        })?;
        if latest.is_empty() {
            return Ok(());
        }
        {
            let mut m = e.encode_descriptor(
                "strata_db_server",
                "The database server's version and the database's name on the server (datname)",
                None,
                MetricType::Info,
            )?;
            for (n, r) in &latest {
                let o = &r.overview;
                let labels =
                    [("database", *n), ("version", o.server_version.as_str()), ("datname", o.database_name.as_str())];
                m.encode_info(&labels)?;
            }
        }
        gauges(e, "strata_db_size_bytes", "Size of the database", {
            latest.iter().filter_map(|(n, r)| r.overview.database_size_bytes.map(|b| (*n, b))).collect()
        })?;
        gauges(e, "strata_db_slow_readings_age_seconds", "Age of the slow readings (size, cache hit ratios)", {
            let now = chrono::Utc::now();
            latest
                .iter()
                .filter_map(|(n, r)| {
                    r.slow_read_at.map(|at| (*n, (now - at).num_milliseconds().max(0) as f64 / 1000.0))
                })
                .collect()
        })?;
        if latest.iter().any(|(_, r)| !r.overview.connections_by_state.is_empty()) {
            let mut m = e.encode_descriptor(
                "strata_db_connections",
                "Client connections to this database by state",
                None,
                MetricType::Gauge,
            )?;
            for (n, r) in &latest {
                for (state, count) in &r.overview.connections_by_state {
                    m.encode_family(&[("database", *n), ("state", state.as_str())])?.encode_gauge(count)?;
                }
            }
        }
        gauges(e, "strata_db_max_connections", "The server's connection limit (all databases)", {
            latest.iter().filter_map(|(n, r)| r.overview.max_connections.map(|v| (*n, v))).collect()
        })?;
        let ratios: Vec<(&str, &str, f64)> = latest
            .iter()
            .flat_map(|(n, r)| {
                let o = &r.overview;
                [("table", o.table_cache_hit_ratio), ("index", o.index_cache_hit_ratio)]
                    .into_iter()
                    .filter_map(move |(cache, ratio)| ratio.map(|v| (*n, cache, v)))
            })
            .collect();
        if !ratios.is_empty() {
            let mut m = e.encode_descriptor(
                "strata_db_cache_hit_ratio",
                "Share of page reads served from the server's cache since the statistics reset (0..1)",
                None,
                MetricType::Gauge,
            )?;
            for (n, cache, ratio) in ratios {
                m.encode_family(&[("database", n), ("cache", cache)])?.encode_gauge(&ratio)?;
            }
        }
        gauges(
            e,
            "strata_db_long_query_threshold_seconds",
            "From when a running statement counts as long-running (long_query_threshold)",
            latest.iter().map(|(n, r)| (*n, r.long_query_threshold.as_secs_f64())).collect(),
        )?;
        gauges(e, "strata_db_long_running_queries", "Statements running longer than the threshold", {
            latest.iter().filter_map(|(n, r)| r.overview.long_running_queries.map(|v| (*n, v))).collect()
        })?;
        gauges(e, "strata_db_longest_query_seconds", "How long the longest running statement has run", {
            latest.iter().filter_map(|(n, r)| r.counters.longest_query_seconds.map(|v| (*n, v))).collect()
        })?;
        {
            let mut m = e.encode_descriptor(
                "strata_db_migration_head",
                "The revision in alembic_version (base when none)",
                None,
                MetricType::Info,
            )?;
            for (n, r) in &latest {
                m.encode_info(&[("database", *n), ("revision", r.head.as_str())])?;
            }
        }
        gauges(e, "strata_db_migrations_pending", "Migrations of this Strata build not applied to the database", {
            latest.iter().filter_map(|(n, r)| r.pending.map(|v| (*n, v as i64))).collect()
        })?;
        gauges(
            e,
            "strata_db_migrations_dirty",
            "Migrations that may be half-applied (failed or cut short where DDL is not transactional)",
            latest.iter().filter_map(|(n, r)| r.dirty.map(|v| (*n, v as i64))).collect(),
        )?;
        counters(e, "strata_db_deadlocks", "Deadlocks the server detected since its statistics reset", {
            latest.iter().filter_map(|(n, r)| r.counters.deadlocks.map(|v| (*n, v.max(0) as u64))).collect()
        })?;
        gauges(
            e,
            "strata_db_xid_wraparound_remaining",
            "Transactions left before transaction ID wraparound (2^31 - 1 - age(datfrozenxid))",
            latest.iter().filter_map(|(n, r)| r.overview.wraparound_remaining.map(|v| (*n, v))).collect(),
        )?;
        if latest.iter().any(|(_, r)| !r.counters.replicas.is_empty()) {
            let mut m = e.encode_descriptor(
                "strata_db_replication_lag_seconds",
                "Replay lag of each streaming replica",
                None,
                MetricType::Gauge,
            )?;
            for (n, r) in &latest {
                for rep in &r.counters.replicas {
                    let labels =
                        [("database", *n), ("replica", rep.name.as_str()), ("client_addr", rep.client_addr.as_str())];
                    m.encode_family(&labels)?.encode_gauge(&rep.lag_seconds)?;
                }
            }
        }
        Ok(())
    }
}

/// A gauge family with one series per database; nothing when no database has a value.
fn gauges<V: prometheus_client::encoding::EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: Values<'_, V>,
) -> fmt::Result {
    if values.is_empty() {
        return Ok(());
    }
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (database, v) in &values {
        m.encode_family(&[("database", *database)])?.encode_gauge(v)?;
    }
    Ok(())
}

/// A counter family (`name` without `_total`: the encoder adds it) with one series per database.
fn counters(e: &mut DescriptorEncoder, name: &str, help: &str, values: Values<'_, u64>) -> fmt::Result {
    if values.is_empty() {
        return Ok(());
    }
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (database, v) in values {
        ConstCounter::new(v).encode(m.encode_family(&[("database", database)])?)?;
    }
    Ok(())
}
