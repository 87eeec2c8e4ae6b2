//! What every request handler shares: the pool, the database's health, the catalog reader, the configuration, the
//! migrations, the login throttle, API key use, the maintenance runs, the backup jobs, the metrics.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::api_keys;
use crate::backup::Jobs;
use crate::config::Config;
use crate::db::health::Health;
use crate::db::introspect::{self, Introspector, Overview};
use crate::error::Result;
use crate::maintenance;
use crate::metrics::Metrics;
use crate::migrate::MigrationSet;
use crate::query::Engine;
use crate::viewer_login::Logins;
use crate::web::catalog::Cached;
use crate::web::throttle::LoginThrottle;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// Whether the database is known to be down or to refuse writes (`serve` starts its watcher).
    pub health: Arc<Health>,
    /// Catalog reads for the pages, chosen once for this database's backend.
    pub introspector: Arc<dyn Introspector>,
    pub config: Arc<Config>,
    pub migrations: Arc<MigrationSet>,
    /// Failed sign-ins per account and per address (in memory, per instance).
    pub login_throttle: Arc<LoginThrottle>,
    /// Runs the query editor's statements, each run on its own connection.
    pub engine: Engine,
    /// The overview's server statistics, reused for `stats_refresh`.
    pub overview: Arc<Cached<Overview>>,
    /// API keys used since the last flush of `last_used_at` (`serve` flushes every few seconds).
    pub key_usage: Arc<api_keys::Usage>,
    /// Maintenance actions started from the dashboard, running in background tasks.
    pub maintenance: Arc<maintenance::Registry>,
    /// What `/metrics` shows; its database readings are collected every `metrics_refresh` once started.
    pub metrics: Arc<Metrics>,
    /// The Backups page's background backup or restore of this database (one at a time in this process).
    pub backups: Arc<Jobs>,
}

impl AppState {
    /// The state with the default login throttle (5 failures per account, 20 per address, 15 minutes).
    pub fn new(db: DatabaseConnection, config: Arc<Config>, migrations: Arc<MigrationSet>) -> Result<AppState> {
        let introspector = introspect::for_connection(db.clone())?;
        let overview = Arc::new(Cached::new(config.settings.stats_refresh));
        let backups = Jobs::shared(&config.database_url);
        let logins = Logins::with_home(
            config.database_url.clone(),
            config.settings.viewer_url.clone(),
            db.clone(),
            config.secret_key_file(),
        );
        let engine = Engine::with_logins(config.database_url.clone(), Arc::new(logins));
        let metrics = Arc::new(Metrics::new(db.clone(), introspector.clone(), migrations.clone(), &config.settings));
        Ok(AppState {
            health: Arc::new(Health::new(&config.database_url)),
            metrics,
            engine,
            db,
            introspector,
            config,
            migrations,
            login_throttle: Arc::new(LoginThrottle::default()),
            overview,
            key_usage: Arc::new(api_keys::Usage::default()),
            maintenance: Arc::new(maintenance::Registry::default()),
            backups,
        })
    }
}
