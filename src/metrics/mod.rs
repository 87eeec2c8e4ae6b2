//! `/metrics` in the Prometheus text format: Strata's HTTP metrics and the database's readings, on one registry.
//!
//! The HTTP families are updated by the [`http::track`] middleware as requests finish; the database readings
//! are collected every `metrics_refresh` by a background task ([`db::run`]) and a scrape only renders what it
//! found last, so a scrape costs no database work. `strata serve` starts the task; a router built without it
//! (tests, embedding) starts it at its first scrape. The series and which backends have them are in the README.

pub mod backups;
pub mod db;
pub mod http;
pub mod migrations;

use std::sync::{Arc, Once};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;

use self::db::DbReadings;
use self::http::HttpMetrics;
use crate::config::Settings;
use crate::migrate::MigrationSet;
use crate::watch::Watchlist;

/// The `Content-Type` of a scrape: the Prometheus text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Everything `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    pub(crate) http: HttpMetrics,
    db: Arc<DbReadings>,
    refresh: Duration,
    started: Once,
}

impl Metrics {
    /// The registry with the HTTP families and the database readings (empty until the first collection).
    pub fn new(watched: Arc<Watchlist>, migrations: Arc<MigrationSet>, settings: &Settings) -> Metrics {
        let mut registry = Registry::default();
        let watched_for_gauges = watched.clone();
        let http = HttpMetrics::register(&mut registry);
        let readings =
            Arc::new(DbReadings::new(watched, migrations, settings.long_query_threshold, settings.catalog_timeout));
        registry.register_collector(Box::new(readings.clone()));
        registry.register_collector(Box::new(migrations::MigrationGauges(watched_for_gauges.clone())));
        registry.register_collector(Box::new(backups::BackupGauges {
            watched: watched_for_gauges,
            backup_dir: settings.backup_dir.clone(),
        }));
        Metrics { registry, http, db: readings, refresh: settings.metrics_refresh, started: Once::new() }
    }

    /// Starts collecting the database readings every `metrics_refresh`, the first time at once; later calls do
    /// nothing. The task holds no strong reference: it ends by itself once these metrics are dropped.
    pub fn start_collecting(&self) {
        self.started.call_once(|| match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(db::run(Arc::downgrade(&self.db), self.refresh));
            }
            Err(_) => tracing::warn!("metrics: no async runtime, so the database readings are not collected"),
        });
    }

    /// Collects the database readings now (the schedule does this by itself; for the CLI and tests).
    pub async fn collect_now(&self) {
        self.db.collect().await;
    }

    /// The scrape body.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail; an encoder error would be a bug in a label set.
        if let Err(e) = prometheus_text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics: encoding failed");
        }
        out
    }
}
