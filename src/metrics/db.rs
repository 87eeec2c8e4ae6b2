//! The database's readings for `/metrics`: collected on a schedule, each read under `catalog_timeout`; a scrape
//! renders the last collection and never waits for the database.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use sea_orm::DatabaseConnection;

use crate::db::introspect::{Counters, Introspector, Overview};
use crate::error::{Error, Result};
use crate::migrate::{self, MigrationSet};
use crate::web::catalog;

/// What the collector reads and how.
pub struct DbReadings {
    db: DatabaseConnection,
    introspector: Arc<dyn Introspector>,
    migrations: Arc<MigrationSet>,
    long_query_threshold: Duration,
    /// The limit for each read (`catalog_timeout`).
    timeout: Duration,
    collected: RwLock<Collected>,
}

/// The outcome of the collections so far.
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
    counters: Counters,
    /// The `alembic_version` revision, or `base`.
    head: String,
    pending: usize,
    dirty: usize,
    long_query_threshold: Duration,
}

impl DbReadings {
    pub fn new(
        db: DatabaseConnection,
        introspector: Arc<dyn Introspector>,
        migrations: Arc<MigrationSet>,
        long_query_threshold: Duration,
        timeout: Duration,
    ) -> DbReadings {
        DbReadings {
            db,
            introspector,
            migrations,
            long_query_threshold,
            timeout,
            collected: RwLock::new(Collected::default()),
        }
    }

    /// Reads everything once and keeps the outcome; a failure is logged, counted and turns `strata_db_up` to 0.
    pub async fn collect(&self) {
        let started = Instant::now();
        let result = self.read().await;
        let mut c = self.collected.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        c.collections += 1;
        c.last_duration = Some(started.elapsed());
        match result {
            Ok(readings) => {
                c.latest = Some(readings);
                c.last_success = Some((SystemTime::now(), Instant::now()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: collecting the database readings failed");
                c.errors += 1;
                c.latest = None;
            }
        }
    }

    async fn read(&self) -> Result<Readings> {
        let threshold = self.long_query_threshold;
        let overview = self.within("overview", self.introspector.overview(threshold)).await?;
        let counters = self.within("counters", self.introspector.counters()).await?;
        let status = self.within("migration status", migrate::status(&self.db, &self.migrations)).await?;
        let head = self.within("migration head", migrate::current(&self.db)).await?;
        Ok(Readings {
            overview,
            counters,
            head: head.unwrap_or_else(|| "base".into()),
            pending: status.iter().filter(|m| !m.applied).count(),
            dirty: status.iter().filter(|m| m.state == "dirty").count(),
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

impl Collector for DbReadings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let c = self.collected.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if c.collections == 0 {
            return Ok(()); // nothing is known before the first collection ends
        }
        let e = &mut encoder;
        gauge(e, "strata_db_up", "1 when the last collection of the database readings succeeded, else 0", {
            i64::from(c.latest.is_some())
        })?;
        counter(e, "strata_db_collections", "Collections of the database readings attempted", c.collections)?;
        counter(e, "strata_db_collection_errors", "Collections of the database readings that failed", c.errors)?;
        if let Some(took) = c.last_duration {
            gauge(e, "strata_db_collection_duration_seconds", "How long the last collection took", took.as_secs_f64())?;
        }
        if let Some((at, instant)) = c.last_success {
            let unix = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
            gauge(e, "strata_db_last_success_timestamp_seconds", "When the last successful collection ended", unix)?;
            let age = instant.elapsed().as_secs_f64();
            gauge(e, "strata_db_scrape_age_seconds", "Age of the database readings in this scrape", age)?;
        }
        match &c.latest {
            Some(r) => r.encode(e),
            None => Ok(()),
        }
    }
}

impl Readings {
    fn encode(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let o = &self.overview;
        let labels = [("version", o.server_version.as_str()), ("database", o.database_name.as_str())];
        info(e, "strata_db_server", "The database server's version and the database's name", &labels)?;
        if let Some(bytes) = o.database_size_bytes {
            gauge(e, "strata_db_size_bytes", "Size of the database", bytes)?;
        }
        if !o.connections_by_state.is_empty() {
            let mut m = e.encode_descriptor(
                "strata_db_connections",
                "Client connections to this database by state",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in &o.connections_by_state {
                let labels = [("state", state.as_str())];
                m.encode_family(&labels)?.encode_gauge(n)?;
            }
        }
        if let Some(max) = o.max_connections {
            gauge(e, "strata_db_max_connections", "The server's connection limit (all databases)", max)?;
        }
        let ratios = [("table", o.table_cache_hit_ratio), ("index", o.index_cache_hit_ratio)];
        if ratios.iter().any(|(_, r)| r.is_some()) {
            let mut m = e.encode_descriptor(
                "strata_db_cache_hit_ratio",
                "Share of page reads served from the server's cache since the statistics reset (0..1)",
                None,
                MetricType::Gauge,
            )?;
            for (cache, ratio) in ratios {
                if let Some(ratio) = ratio {
                    m.encode_family(&[("cache", cache)])?.encode_gauge(&ratio)?;
                }
            }
        }
        gauge(
            e,
            "strata_db_long_query_threshold_seconds",
            "From when a running statement counts as long-running (long_query_threshold)",
            self.long_query_threshold.as_secs_f64(),
        )?;
        if let Some(n) = o.long_running_queries {
            gauge(e, "strata_db_long_running_queries", "Statements running longer than the threshold", n)?;
        }
        if let Some(s) = self.counters.longest_query_seconds {
            gauge(e, "strata_db_longest_query_seconds", "How long the longest running statement has run", s)?;
        }
        info(
            e,
            "strata_db_migration_head",
            "The revision in alembic_version (base when none)",
            &[("revision", self.head.as_str())],
        )?;
        gauge(
            e,
            "strata_db_migrations_pending",
            "Migrations of this Strata build not applied to the database",
            self.pending as i64,
        )?;
        gauge(
            e,
            "strata_db_migrations_dirty",
            "Migrations that may be half-applied (failed or cut short where DDL is not transactional)",
            self.dirty as i64,
        )?;
        if let Some(n) = self.counters.deadlocks {
            counter(
                e,
                "strata_db_deadlocks",
                "Deadlocks the server detected since its statistics reset",
                n.max(0) as u64,
            )?;
        }
        if let Some(left) = o.wraparound_remaining {
            gauge(
                e,
                "strata_db_xid_wraparound_remaining",
                "Transactions left before transaction ID wraparound (2^31 - 1 - age(datfrozenxid))",
                left,
            )?;
        }
        if !self.counters.replicas.is_empty() {
            let mut m = e.encode_descriptor(
                "strata_db_replication_lag_seconds",
                "Replay lag of each streaming replica",
                None,
                MetricType::Gauge,
            )?;
            for r in &self.counters.replicas {
                let labels = [("replica", r.name.as_str()), ("client_addr", r.client_addr.as_str())];
                m.encode_family(&labels)?.encode_gauge(&r.lag_seconds)?;
            }
        }
        Ok(())
    }
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)
}

/// `name` without `_total`: the encoder adds it.
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    ConstCounter::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// An info-style series: `name_info{labels} 1` (a gauge in the text format).
fn info(e: &mut DescriptorEncoder, name: &str, help: &str, labels: &impl EncodeLabelSet) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Info)?.encode_info(labels)
}
