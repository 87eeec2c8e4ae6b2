//! The databases Strata watches: one [`Watched`] per database, holding what its pages need (its pool, health,
//! catalog reader, query engine, overview cache, maintenance runs, backup jobs), and the [`Watchlist`] of them.
//!
//! Strata writes nothing into a watched database unless a person asks for an action that writes: its pages read
//! through a pool that opens no connection until one is needed and closes idle ones (a SQLite file is opened
//! read-only), and nothing of Strata's own state is ever kept there.

pub mod apply;
pub mod backups;
pub mod catalog;
pub mod fleet;
pub mod migration_state;
pub mod runs;
pub mod sampler;
pub mod scheduler;
pub mod schema_history;
pub mod slow;
pub mod trends;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sea_orm::DatabaseConnection;

use self::catalog::Cached;
use crate::backup::Jobs;
use crate::config::{Config, DatabaseUrl, WatchSpec};
use crate::db::health::Health;
use crate::db::introspect::{self, BloatInfo, Introspector, Overview};
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::maintenance;
use crate::query::Engine;
use crate::viewer_login::Logins;

/// One watched database and everything Strata keeps for it while serving.
pub struct Watched {
    /// Its name, URL and options as configured.
    pub spec: WatchSpec,
    /// The pages' pool (lazy, idle connections closed; read-only for SQLite).
    pub db: DatabaseConnection,
    /// Reachable, or down since when and why; a recovery probe runs only while it is down.
    pub health: Arc<Health>,
    /// Catalog reads, chosen once for its backend.
    pub introspector: Arc<dyn Introspector>,
    /// Runs the query editor's statements, each run on its own connection.
    pub engine: Engine,
    /// The overview's server statistics, reused for `stats_refresh`.
    pub overview: Arc<Cached<Overview>>,
    /// The overview's slow figures (size, cache hit sums), read in the background every `slow_stats_refresh`.
    pub slow: Arc<slow::Slow>,
    /// The bloat estimate, read in the background every `slow_stats_refresh` while the bloat page is looked at.
    pub bloat: Arc<slow::Slow<Vec<BloatInfo>>>,
    /// Maintenance actions started from the dashboard.
    pub maintenance: Arc<maintenance::Registry>,
    /// The Backups page's background backup or restore (one at a time in this process).
    pub backups: Arc<Jobs>,
    /// The fleet page's card, refreshed in the background.
    pub card: fleet::CardSlot,
    /// Every migration tool's history, last read (shared by the fleet page, overview and metrics).
    pub schema_history: Arc<schema_history::Cache>,
    /// The project database's migration state, kept while its bookkeeping tables' fingerprint stays the same.
    pub migration_state: migration_state::Cache,
}

impl Watched {
    /// Opens a watched database without connecting to it (the first page that needs it connects).
    pub async fn open(spec: WatchSpec, config: &Config, home: &DatabaseConnection) -> Result<Arc<Watched>> {
        let db = db::connect(&spec.url, Purpose::Watch { idle: config.settings.idle_timeout }).await?;
        let introspector = introspect::for_connection(db.clone())?;
        let logins = Logins::with_home(
            spec.name.clone(),
            spec.url.clone(),
            spec.viewer_url.clone(),
            home.clone(),
            db.clone(),
            config.secret_key_file(),
        );
        let engine = Engine::with_logins(spec.url.clone(), Arc::new(logins));
        Ok(Arc::new(Watched {
            health: Arc::new(Health::new(&spec.url)),
            overview: Arc::new(Cached::new(config.settings.stats_refresh)),
            slow: slow::Slow::new(config.settings.slow_stats_refresh, config.settings.catalog_timeout),
            bloat: slow::Slow::new(config.settings.slow_stats_refresh, config.settings.catalog_timeout),
            maintenance: Arc::new(maintenance::Registry::default()),
            backups: Jobs::shared(&spec.url),
            card: fleet::CardSlot::default(),
            schema_history: Arc::default(),
            migration_state: migration_state::Cache::default(),
            spec,
            db,
            introspector,
            engine,
        }))
    }

    /// The overview's slow figures as the background task last read them (the first time, waiting for its first
    /// reading at most [`slow::FIRST_READING_WAIT`]); asking keeps the task refreshing.
    pub async fn slow_reading(&self) -> Option<slow::Reading> {
        self.slow.get(&self.introspector, slow::FIRST_READING_WAIT).await
    }

    /// The bloat estimate: the background task's while it is refreshing it (the reading is at most two intervals
    /// old), which keeps it going; otherwise a new one read now (at most `limit`), after which the task refreshes it.
    /// A failed read is the page's error, as an inline read's would be.
    pub async fn bloat_reading(&self, limit: Duration) -> Result<Option<slow::Reading<Vec<BloatInfo>>>> {
        let max_age = self.bloat.every() * slow::IDLE_AFTER_INTERVALS;
        match self.bloat.recent(&self.introspector, max_age) {
            Some(reading) => Ok(Some(reading)),
            None => self.bloat.read_now(&self.introspector, limit).await,
        }
    }

    /// Its name (the `{name}` in `/db/{name}`).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its URL (password inside: hand it to drivers only; `masked()` for people).
    pub fn url(&self) -> &DatabaseUrl {
        &self.spec.url
    }

    /// The path its pages live under: `/db/{name}`.
    pub fn base(&self) -> String {
        format!("/db/{}", self.spec.name)
    }

    /// Where its backups go: its own `backup_dir`, else the shared one (file names carry the database's name).
    pub fn backup_dir(&self, config: &Config) -> std::path::PathBuf {
        self.spec.backup_dir.clone().unwrap_or_else(|| config.settings.backup_dir.clone())
    }

    /// The configuration as the backup, restore and maintenance code reads it for this database.
    pub fn config(&self, config: &Config) -> Config {
        config.for_watched(&self.spec)
    }

    /// Refuses an action that writes when the database is configured `read_only`.
    pub fn require_writable(&self, what: &str) -> Result<()> {
        if self.spec.read_only {
            return Err(Error::ReadOnlyDatabase(format!(
                "{} is configured read_only: {what} is refused there (set read_only = false in its [database:{}] \
                 section to allow it)",
                self.spec.name, self.spec.name
            )));
        }
        Ok(())
    }

    /// A page met a connection failure: mark the database down and probe it in the background until it answers,
    /// then stop probing (so an idle database keeps no connection).
    pub fn report_unreachable(self: &Arc<Self>, cause: &str) {
        if self.health.mark_down_and_probe(cause) {
            let health = self.health.clone();
            let url = self.spec.url.clone();
            let db = self.db.clone();
            tokio::spawn(async move { health.probe_until_up(url, db).await });
        }
    }
}

/// The watched databases of this server, in the order the fleet page lists them.
#[derive(Default)]
pub struct Watchlist {
    all: RwLock<Vec<Arc<Watched>>>,
}

impl Watchlist {
    /// Opens every database the configuration names and those added on the Databases page (`added`).
    pub async fn open(config: &Config, home: &DatabaseConnection, added: Vec<WatchSpec>) -> Result<Watchlist> {
        let list = Watchlist::default();
        for spec in config.watched.iter().cloned().chain(added) {
            if list.get(&spec.name).is_some() {
                tracing::warn!(
                    database = %spec.name,
                    "a database added on the Databases page has the name of one in the configuration; the \
                     configuration's is used"
                );
                continue;
            }
            list.insert(Watched::open(spec, config, home).await?);
        }
        Ok(list)
    }

    /// The database of this name.
    pub fn get(&self, name: &str) -> Option<Arc<Watched>> {
        self.read().iter().find(|w| w.spec.name == name).cloned()
    }

    /// Every watched database, in order.
    pub fn all(&self) -> Vec<Arc<Watched>> {
        self.read().clone()
    }

    /// The project database (the one `strata migrate` manages), when it is watched.
    pub fn project(&self) -> Option<Arc<Watched>> {
        self.read().iter().find(|w| w.spec.project).cloned()
    }

    /// The only watched database, when there is exactly one (old single-database URLs redirect to it).
    pub fn only(&self) -> Option<Arc<Watched>> {
        let all = self.read();
        (all.len() == 1).then(|| all[0].clone())
    }

    /// Adds (or replaces) a database.
    pub fn insert(&self, watched: Arc<Watched>) {
        let mut all = self.all.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match all.iter().position(|w| w.spec.name == watched.spec.name) {
            Some(i) => all[i] = watched,
            None => all.push(watched),
        }
    }

    /// Removes a database; its pool closes when the last request using it ends.
    pub fn remove(&self, name: &str) -> Option<Arc<Watched>> {
        let mut all = self.all.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let i = all.iter().position(|w| w.spec.name == name)?;
        Some(all.remove(i))
    }

    /// Brings the databases added on the Databases page in line with the home database (another instance may
    /// have added, changed or removed one); the configuration's own are left as they are.
    pub async fn sync(&self, config: &Config, home: &DatabaseConnection) -> Result<()> {
        let keyring = crate::home::secrets::Keyring::open(&config.secret_key_file())?;
        let stored = crate::home::watchlist::list(home, keyring.as_ref()).await?;
        let configured = |name: &str| config.watched.iter().any(|s| s.name == name);
        for spec in stored.iter().filter(|s| !configured(&s.name)) {
            let same = self.get(&spec.name).is_some_and(|w| w.spec == *spec);
            if !same {
                self.insert(Watched::open(spec.clone(), config, home).await?);
            }
        }
        let gone: Vec<String> = self
            .all()
            .iter()
            .filter(|w| !configured(w.name()) && !stored.iter().any(|s| s.name == w.name()))
            .map(|w| w.name().to_string())
            .collect();
        for name in gone {
            self.remove(&name);
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Watched>>> {
        self.all.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
