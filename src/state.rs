//! What every request handler shares: the home database and its health, the configuration, the migrations, the
//! login throttle, API key use, the metrics, and the watched databases (each with its own pool, catalog reader,
//! engine, caches and jobs: see [`crate::watch::Watched`]).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::db::health::Health;
use crate::error::Result;
use crate::home::api_keys;
use crate::home::recent::Recent;
use crate::home::recorder::Recorder;
use crate::home::session_store::DbSessionStore;
use crate::home::throttle::LoginThrottle;
use crate::metrics::Metrics;
use crate::migrate::MigrationSet;
use crate::watch::Watchlist;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    /// The home database: accounts, sessions, audit, history, API keys, secrets, the watch list.
    pub home: DatabaseConnection,
    /// Whether the home database is known to be down or to refuse writes (`serve` starts its watcher).
    pub health: Arc<Health>,
    pub config: Arc<Config>,
    /// The project database's migrations (what `strata migrate` runs).
    pub migrations: Arc<MigrationSet>,
    /// Failed sign-ins per account and per address (in memory, per instance).
    pub login_throttle: Arc<LoginThrottle>,
    /// API keys used since the last flush of `last_used_at` (`serve` flushes every few seconds).
    pub key_usage: Arc<api_keys::Usage>,
    /// What `/metrics` shows; its database readings are collected every `metrics_refresh` once started.
    pub metrics: Arc<Metrics>,
    /// The databases the dashboard shows.
    pub watched: Arc<Watchlist>,
    /// The sessions (in the home database, each reused for `session_cache` once read).
    pub sessions: DbSessionStore,
    /// Signed-in accounts as read from the home database, each reused for `session_cache`; a change made here
    /// forgets the account at once.
    pub accounts: Arc<Recent<i32, entity::admin_users::Model>>,
    /// The query history's writes, done beside the answers; readers of the history wait for them first.
    pub history: Recorder,
}

impl AppState {
    /// The state for a migrated home database: opens every watched database the configuration names and those
    /// added on the Databases page (none is connected to until a page needs it).
    pub async fn new(home: DatabaseConnection, config: Arc<Config>, migrations: Arc<MigrationSet>) -> Result<AppState> {
        let keyring = crate::home::secrets::Keyring::open(&config.secret_key_file())?;
        let added = crate::home::watchlist::list(&home, keyring.as_ref()).await?;
        let watched = Arc::new(Watchlist::open(&config, &home, added).await?);
        let metrics = Arc::new(Metrics::new(watched.clone(), migrations.clone(), &config.settings));
        Ok(AppState {
            health: Arc::new(Health::new(&config.home_url)),
            metrics,
            sessions: DbSessionStore::with_cache(home.clone(), config.settings.session_cache),
            accounts: Arc::new(Recent::new(config.settings.session_cache)),
            history: Recorder::new(home.clone()),
            home,
            config,
            migrations,
            login_throttle: Arc::new(LoginThrottle::default()),
            key_usage: Arc::new(api_keys::Usage::default()),
            watched,
        })
    }
}
