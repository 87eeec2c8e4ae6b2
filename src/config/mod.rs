//! Strata's configuration: alembic.ini, environment and flags assembled into one [`Config`].

pub mod backup;
pub mod ini;
pub mod net;
pub mod url;
pub mod watch;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use self::ini::IniFile;
pub use self::net::AddrRange;
pub use self::url::{Backend, DatabaseUrl, mask_url_str};
pub use self::watch::WatchSpec;

/// The ini file read when neither `--config` nor `STRATA_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "alembic.ini";

/// The environment variable naming the ini file.
pub const CONFIG_ENV: &str = "STRATA_CONFIG";

/// The environment variable holding the database URL.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// The section and key Alembic reads the database URL from.
const ALEMBIC_SECTION: &str = "alembic";
const URL_KEY: &str = "sqlalchemy.url";

/// The section holding Strata's own settings.
pub const STRATA_SECTION: &str = "strata";

/// Everything that can be wrong with the configuration. Messages name the
/// place the bad value came from (`file:line`, environment variable or flag).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file exists but cannot be read.
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        error: std::io::Error,
    },

    /// A config file named by `--config` or `STRATA_CONFIG` does not exist.
    #[error("config file {} (from {origin}) does not exist", path.display())]
    MissingFile {
        /// The file.
        path: PathBuf,
        /// Where its name came from.
        origin: String,
    },

    /// A syntax or interpolation error in the ini file.
    #[error("{}:{line}: {message}", file.display())]
    Ini {
        /// The file.
        file: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },

    /// A database URL that cannot be parsed.
    #[error("{}invalid database URL {url}: {reason}", prefix(.origin))]
    InvalidUrl {
        /// The URL with its password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// Where the URL came from, when known.
        origin: Option<String>,
    },

    /// A database URL whose scheme names no supported database.
    #[error(
        "{}unsupported database URL scheme \"{scheme}\" in {url}{hint}; use one of: {}",
        prefix(.origin),
        url::accepted_schemes()
    )]
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
        /// The URL with its password masked.
        url: String,
        /// Where the URL came from, when known.
        origin: Option<String>,
        /// A hint for common mistakes (may be empty).
        hint: String,
    },

    /// A setting whose value does not parse.
    #[error("{origin}: invalid value {value:?} for {key}: expected {expected}, for example {example}")]
    InvalidSetting {
        /// The setting's ini key.
        key: String,
        /// The value as given.
        value: String,
        /// Where the value came from: `file:line`, environment variable or flag.
        origin: String,
        /// What kind of value is expected.
        expected: &'static str,
        /// A valid value.
        example: &'static str,
    },

    /// A watched database named wrongly, twice, or without a URL.
    #[error("{origin}: {reason}")]
    Watch {
        /// `file:line`, environment variable or flag.
        origin: String,
        /// What is wrong and what to write instead.
        reason: String,
    },

    /// The key file that seals Strata's secrets is unusable (unreadable, looser than 0600, not a key, or not
    /// the one a stored secret was sealed with).
    #[error("key file {} (secret_key_file) {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
}

fn prefix(origin: &Option<String>) -> String {
    origin.as_ref().map(|o| format!("{o}: ")).unwrap_or_default()
}

impl ConfigError {
    /// Records where a database URL came from.
    fn with_origin(mut self, place: String) -> ConfigError {
        if let ConfigError::InvalidUrl { origin, .. } | ConfigError::UnsupportedScheme { origin, .. } = &mut self {
            *origin = Some(place);
        }
        self
    }
}

/// Where the database URL came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// The `--database-url` flag.
    Flag,
    /// The `DATABASE_URL` environment variable.
    Env,
    /// `sqlalchemy.url` in the `[alembic]` section of this ini file.
    IniFile(PathBuf),
    /// Nothing was configured: the example project database `./data/example.db`.
    Default,
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlSource::Flag => f.write_str("--database-url"),
            UrlSource::Env => write!(f, "environment variable {DATABASE_URL_ENV}"),
            UrlSource::IniFile(path) => {
                write!(f, "{URL_KEY} in [{ALEMBIC_SECTION}] of {}", path.display())
            }
            UrlSource::Default => write!(f, "the default ({})", url::EXAMPLE_SQLITE_PATH),
        }
    }
}

/// Values given as command-line flags; filled by the CLI.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config`: the ini file to read.
    pub config: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--home-url`: Strata's own database.
    pub home_url: Option<String>,
    /// `--watch NAME=URL`, repeatable.
    pub watch: Vec<String>,
}

/// Strata's own settings, read from the `[strata]` section of the ini file
/// or from `STRATA_*` environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `listen`: the address the dashboard serves on.
    pub listen: SocketAddr,
    /// `cookie_secure`: send the session cookie over HTTPS only.
    pub cookie_secure: bool,
    /// `session_ttl`: how long a login lasts.
    pub session_ttl: Duration,
    /// `query_timeout`: the limit for a query run from the editor.
    pub query_timeout: Duration,
    /// `max_rows`: the most rows the query editor shows.
    pub max_rows: usize,
    /// `max_sql_bytes`: the longest SQL text one run (editor, explain, export, API) accepts, in bytes.
    pub max_sql_bytes: usize,
    /// `lock_timeout`: how long a migration waits for the migration lock.
    pub lock_timeout: Duration,
    /// `long_query_threshold`: from when a running query counts as long.
    pub long_query_threshold: Duration,
    /// `catalog_timeout`: the limit for one catalog read on a dashboard page.
    pub catalog_timeout: Duration,
    /// `migrate_on_start`: apply the project database's pending migrations when the server starts (off unless
    /// set, except for the zero-configuration example database).
    pub migrate_on_start: bool,
    /// `stats_refresh`: how long the overview reuses the server statistics it read (0: read on every request).
    pub stats_refresh: Duration,
    /// `slow_stats_refresh`: how often the overview's slow figures (database size, cache hit sums) are read in the
    /// background while someone looks at the overview or `/metrics` (never 0).
    pub slow_stats_refresh: Duration,
    /// `session_cache`: how long an instance reuses a session and its account as read from the home database
    /// (0: read on every request). Bounds how late another instance sees a sign-out or an account change.
    pub session_cache: Duration,
    /// `history_retention`: how long the query history is kept (0: forever).
    pub history_retention: Duration,
    /// `read_only_for_all`: every account's query editor runs read-only, editors and admins too.
    pub read_only_for_all: bool,
    /// `viewer_url`: a database login with read grants only, used for read-only runs of the query editor
    /// (the one guard that also covers what a read-only transaction still allows a superuser login,
    /// such as PostgreSQL's `COPY ... TO PROGRAM`). Same backend and database as the main URL.
    pub viewer_url: Option<DatabaseUrl>,
    /// `secret_key_file`: the key that seals Strata's stored secrets (the password of the viewer login it
    /// creates); `None`: beside the SQLite database file, or `./data/strata.key` for server databases.
    pub secret_key_file: Option<PathBuf>,
    /// `maintenance_timeout`: the limit for one maintenance action (VACUUM, REINDEX, OPTIMIZE, integrity_check...).
    pub maintenance_timeout: Duration,
    /// `backup_dir`: where `strata backup` writes and `--keep` prunes (relative to the current directory).
    pub backup_dir: PathBuf,
    /// `pg_dump_path`: the pg_dump to run; `None` finds it on `PATH`.
    pub pg_dump_path: Option<PathBuf>,
    /// `pg_restore_path`: the pg_restore to run; `None` finds it on `PATH`.
    pub pg_restore_path: Option<PathBuf>,
    /// `psql_path`: the psql to run; `None` finds it on `PATH`.
    pub psql_path: Option<PathBuf>,
    /// `mysqldump_path`: the mariadb-dump or mysqldump to run; `None` finds one on `PATH`.
    pub mysqldump_path: Option<PathBuf>,
    /// `mysql_path`: the mariadb or mysql client to run; `None` finds one on `PATH`.
    pub mysql_path: Option<PathBuf>,
    /// `idle_timeout`: a watched database's pooled connection unused this long is closed.
    pub idle_timeout: Duration,
    /// `metrics_refresh`: how often the database readings `/metrics` exports are collected (never 0).
    pub metrics_refresh: Duration,
    /// `metrics_allow`: the client addresses that may read `/metrics` (loopback by default).
    pub metrics_allow: Vec<AddrRange>,
    /// `sample_interval`: how often `strata serve` samples each watched database for the trend charts (0: never).
    pub sample_interval: Duration,
    /// `sample_retention`: how long samples are kept, raw, as 5-minute averages and as hourly averages.
    pub sample_retention: SampleRetention,
}

/// How long the trend samples are kept at each resolution (`sample_retention = RAW, FIVE_MINUTE, HOURLY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRetention {
    /// Samples as taken.
    pub raw: Duration,
    /// 5-minute averages.
    pub five_minute: Duration,
    /// Hourly averages.
    pub hourly: Duration,
}

impl Default for SampleRetention {
    fn default() -> Self {
        SampleRetention {
            raw: Duration::from_secs(2 * 86_400),
            five_minute: Duration::from_secs(30 * 86_400),
            hourly: Duration::from_secs(365 * 86_400),
        }
    }
}

impl SampleRetention {
    /// Parses `2d, 30d, 1y`: three durations (raw, 5-minute, hourly), each at least the one before; `y` is 365 days.
    pub fn parse(input: &str) -> Option<SampleRetention> {
        let parts: Vec<Duration> =
            input.split(',').map(|p| parse_retention_duration(p.trim())).collect::<Option<_>>()?;
        match parts[..] {
            [raw, five_minute, hourly] if !raw.is_zero() && raw <= five_minute && five_minute <= hourly => {
                Some(SampleRetention { raw, five_minute, hourly })
            }
            _ => None,
        }
    }
}

/// A duration as [`parse_duration`] reads it, or a number of years (`1y`: 365 days).
fn parse_retention_duration(input: &str) -> Option<Duration> {
    let years = input.strip_suffix("years").or_else(|| input.strip_suffix("year")).or_else(|| input.strip_suffix('y'));
    match years {
        Some(n) => n.trim().parse::<u64>().ok()?.checked_mul(365 * 86_400).map(Duration::from_secs),
        None => parse_duration(input),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080)),
            cookie_secure: true,
            session_ttl: Duration::from_secs(12 * 3600),
            query_timeout: Duration::from_secs(30),
            max_rows: 1000,
            max_sql_bytes: 1_000_000,
            lock_timeout: Duration::from_secs(60),
            long_query_threshold: Duration::from_secs(5 * 60),
            catalog_timeout: Duration::from_secs(5),
            migrate_on_start: false,
            idle_timeout: Duration::from_secs(60),
            stats_refresh: Duration::from_secs(2),
            slow_stats_refresh: Duration::from_secs(60),
            session_cache: Duration::from_secs(2),
            history_retention: Duration::from_secs(90 * 86_400),
            read_only_for_all: false,
            viewer_url: None,
            secret_key_file: None,
            maintenance_timeout: Duration::from_secs(3600),
            backup_dir: PathBuf::from("backups"),
            pg_dump_path: None,
            pg_restore_path: None,
            psql_path: None,
            mysqldump_path: None,
            mysql_path: None,
            metrics_refresh: Duration::from_secs(15),
            metrics_allow: AddrRange::loopback(),
            sample_interval: Duration::from_secs(60),
            sample_retention: SampleRetention::default(),
        }
    }
}

/// The keys of the `[strata]` section.
const SETTING_KEYS: &[&str] = &[
    "home_url",
    "listen",
    "cookie_secure",
    "session_ttl",
    "query_timeout",
    "max_rows",
    "max_sql_bytes",
    "lock_timeout",
    "long_query_threshold",
    "catalog_timeout",
    "migrate_on_start",
    "stats_refresh",
    "slow_stats_refresh",
    "session_cache",
    "history_retention",
    "read_only_for_all",
    "viewer_url",
    "secret_key_file",
    "maintenance_timeout",
    "backup_dir",
    "pg_dump_path",
    "pg_restore_path",
    "psql_path",
    "mysqldump_path",
    "mysql_path",
    "metrics_refresh",
    "metrics_allow",
    "idle_timeout",
    "sample_interval",
    "sample_retention",
];

/// How one kind of setting value is parsed and explained.
struct Kind<T> {
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
    example: &'static str,
}

const DURATION: Kind<Duration> = Kind {
    parse: parse_duration,
    expected: "a duration (a number with ms, s, min or m, h or d; a bare number is seconds)",
    example: "30s, 500ms, 5min, 2h or 1d",
};

const BOOL: Kind<bool> =
    Kind { parse: parse_bool, expected: "true or false (also yes/no, on/off, 1/0)", example: "true" };

const POSITIVE_DURATION: Kind<Duration> = Kind {
    parse: |s| parse_duration(s).filter(|d| !d.is_zero()),
    expected: "a duration above zero (a number with ms, s, min or m, h or d; a bare number is seconds)",
    example: "15s or 500ms",
};

const ADDRESS_RANGES: Kind<Vec<AddrRange>> = Kind {
    parse: net::parse_list,
    expected: "client addresses or CIDR blocks separated by commas",
    example: "127.0.0.0/8, ::1, 10.0.0.0/8",
};

const SAMPLE_RETENTION: Kind<SampleRetention> = Kind {
    parse: SampleRetention::parse,
    expected: "three durations separated by commas: raw, 5-minute averages, hourly averages (each at least the one \
               before; y is a year of 365 days)",
    example: "2d, 30d, 1y",
};

const COUNT: Kind<usize> = Kind { parse: |s| s.parse().ok(), expected: "a whole number", example: "1000" };

const PATH: Kind<PathBuf> = Kind { parse: |s| Some(PathBuf::from(s)), expected: "a path", example: "/usr/bin/pg_dump" };

const ADDRESS: Kind<SocketAddr> =
    Kind { parse: parse_listen, expected: "an address and port", example: "127.0.0.1:8080 or 0.0.0.0:8080" };

/// The complete configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The home database: Strata's own state (accounts, sessions, audit, history, keys, the watch list).
    pub home_url: DatabaseUrl,
    /// Where [`Config::home_url`] came from.
    pub home_source: String,
    /// The project database, which `strata migrate` manages (its `Display`/`Debug` mask the password).
    pub database_url: DatabaseUrl,
    /// Where [`Config::database_url`] came from.
    pub url_source: UrlSource,
    /// The ini file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Strata's own settings.
    pub settings: Settings,
    /// The watched databases the configuration names, the project database among them (first unless an entry
    /// with its URL was named).
    pub watched: Vec<WatchSpec>,
    /// Things worth telling the user that are not errors: dropped URL
    /// parameters, unknown keys in `[strata]`.
    pub warnings: Vec<String>,
}

impl Config {
    /// The key file for Strata's secrets: `secret_key_file`, else `strata.key` beside the SQLite home database
    /// file, else `./data/strata.key`.
    pub fn secret_key_file(&self) -> PathBuf {
        if let Some(p) = &self.settings.secret_key_file {
            return p.clone();
        }
        match self.home_url.sqlite_path().filter(|_| !self.home_url.is_memory()) {
            Some(db) => db.with_file_name("strata.key"),
            None => PathBuf::from("./data/strata.key"),
        }
    }

    /// Loads the configuration from flags, the process environment and the ini file.
    pub fn from_env_and_flags(overrides: &Overrides) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> =
            std::env::vars().filter(|(k, _)| k.starts_with(watch::WATCH_ENV_PREFIX)).collect();
        Config::load_with(overrides, &|name| std::env::var(name).ok(), &vars, Path::new(DEFAULT_CONFIG_FILE))
    }

    /// The configuration as seen by code that acts on one watched database (backup, restore, maintenance,
    /// verify): its URL as `database_url`, its viewer login and its own backup folder (else the shared one, where
    /// file names carry the database's name) as the settings.
    pub fn for_watched(&self, spec: &WatchSpec) -> Config {
        let mut config = self.clone();
        config.database_url = spec.url.clone();
        config.settings.viewer_url = spec.viewer_url.clone();
        if let Some(dir) = &spec.backup_dir {
            config.settings.backup_dir = dir.clone();
        }
        config.watched = vec![spec.clone()];
        config
    }

    /// The name of the watched database `database_url` names (the project database, or the one `--db` chose).
    pub fn current_name(&self) -> Option<&str> {
        let url = self.database_url.connect_url();
        self.watched.iter().find(|s| s.url.connect_url() == url).map(|s| s.name.as_str())
    }

    /// The project database's entry in [`Config::watched`].
    pub fn project(&self) -> &WatchSpec {
        self.watched.iter().find(|s| s.project).expect("load always adds the project database")
    }

    /// A watched database by name, or an error listing the names there are.
    pub fn watched(&self, name: &str) -> Result<&WatchSpec, String> {
        self.watched.iter().find(|s| s.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.watched.iter().map(|s| s.name.as_str()).collect();
            format!("no watched database is named {name:?}; the configuration names: {}", names.join(", "))
        })
    }

    /// Loads the configuration; `env` looks up environment variables.
    ///
    /// The ini file is `--config`, else `STRATA_CONFIG`, else `./alembic.ini`
    /// when it exists. The database URL is `--database-url`, else
    /// `DATABASE_URL`, else `sqlalchemy.url` in `[alembic]`, else
    /// `./data/strata.db`. Each setting is its flag, else `STRATA_<KEY>`, else
    /// its key in `[strata]`, else its default. Empty values count as unset.
    pub fn load(overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::load_with(overrides, env, &[], Path::new(DEFAULT_CONFIG_FILE))
    }

    /// Like [`Config::load`], with the `STRATA_WATCH_*` variables listed (`env` cannot enumerate them).
    pub fn load_with(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
        watch_vars: &[(String, String)],
        default_file: &Path,
    ) -> Result<Config, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());

        let config_file = match (overrides.config.clone().filter(|p| !p.as_os_str().is_empty()), env(CONFIG_ENV)) {
            (Some(path), _) => Some(existing(path, "--config")?),
            (None, Some(path)) => Some(existing(PathBuf::from(path), &format!("environment variable {CONFIG_ENV}"))?),
            (None, None) => default_file.is_file().then(|| default_file.to_path_buf()),
        };
        let ini = config_file.as_deref().map(IniFile::load).transpose()?;
        let mut warnings = Vec::new();

        let (database_url, url_source) = database_url(overrides, &env, ini.as_ref())?;
        warnings.extend(database_url.warnings().iter().cloned());
        let (home_url, home_source) = home_url(overrides, &env, ini.as_ref())?;
        warnings.extend(home_url.warnings().iter().cloned());

        let reader = Reader { env: &env, ini: ini.as_ref() };
        let defaults = Settings::default();
        let settings = Settings {
            listen: reader.read("listen", overrides.listen.as_deref(), &ADDRESS, defaults.listen)?,
            cookie_secure: reader.read("cookie_secure", None, &BOOL, defaults.cookie_secure)?,
            session_ttl: reader.read("session_ttl", None, &DURATION, defaults.session_ttl)?,
            query_timeout: reader.read("query_timeout", None, &DURATION, defaults.query_timeout)?,
            max_rows: reader.read("max_rows", None, &COUNT, defaults.max_rows)?,
            max_sql_bytes: reader.read("max_sql_bytes", None, &COUNT, defaults.max_sql_bytes)?,
            lock_timeout: reader.read("lock_timeout", None, &DURATION, defaults.lock_timeout)?,
            long_query_threshold: reader.read(
                "long_query_threshold",
                None,
                &DURATION,
                defaults.long_query_threshold,
            )?,
            catalog_timeout: reader.read("catalog_timeout", None, &DURATION, defaults.catalog_timeout)?,
            // Off unless asked for, except for the zero-configuration example database.
            migrate_on_start: reader.read("migrate_on_start", None, &BOOL, url_source == UrlSource::Default)?,
            stats_refresh: reader.read("stats_refresh", None, &DURATION, defaults.stats_refresh)?,
            slow_stats_refresh: reader.read(
                "slow_stats_refresh",
                None,
                &POSITIVE_DURATION,
                defaults.slow_stats_refresh,
            )?,
            session_cache: reader.read("session_cache", None, &DURATION, defaults.session_cache)?,
            history_retention: reader.read("history_retention", None, &DURATION, defaults.history_retention)?,
            read_only_for_all: reader.read("read_only_for_all", None, &BOOL, defaults.read_only_for_all)?,
            viewer_url: reader.viewer_url(&database_url)?,
            secret_key_file: reader.optional("secret_key_file", &PATH)?,
            maintenance_timeout: reader.read("maintenance_timeout", None, &DURATION, defaults.maintenance_timeout)?,
            backup_dir: reader.read("backup_dir", None, &PATH, defaults.backup_dir)?,
            pg_dump_path: reader.optional("pg_dump_path", &PATH)?,
            pg_restore_path: reader.optional("pg_restore_path", &PATH)?,
            psql_path: reader.optional("psql_path", &PATH)?,
            mysqldump_path: reader.optional("mysqldump_path", &PATH)?,
            mysql_path: reader.optional("mysql_path", &PATH)?,
            idle_timeout: reader.read("idle_timeout", None, &POSITIVE_DURATION, defaults.idle_timeout)?,
            metrics_refresh: reader.read("metrics_refresh", None, &POSITIVE_DURATION, defaults.metrics_refresh)?,
            metrics_allow: reader.read("metrics_allow", None, &ADDRESS_RANGES, defaults.metrics_allow)?,
            sample_interval: reader.read("sample_interval", None, &DURATION, defaults.sample_interval)?,
            sample_retention: reader.read("sample_retention", None, &SAMPLE_RETENTION, defaults.sample_retention)?,
        };
        if let Some(ini) = &ini {
            warnings.extend(unknown_keys(ini));
        }
        let mut watched = watch::read(ini.as_ref(), watch_vars, &overrides.watch)?;
        watch::add_project(&mut watched, &database_url, url_source.to_string());
        if let Some(project) = watched.iter_mut().find(|s| s.project && s.viewer_url.is_none()) {
            project.viewer_url = settings.viewer_url.clone();
        }
        if let Some(same) = watched.iter().find(|s| s.url.connect_url() == home_url.connect_url()) {
            return Err(ConfigError::Watch {
                origin: same.origin.clone(),
                reason: format!(
                    "{} is Strata's home database ({home_source}); the home database is never a watched database: \
                     give Strata a database of its own with home_url",
                    same.url.masked()
                ),
            });
        }

        Ok(Config { home_url, home_source, database_url, url_source, config_file, settings, watched, warnings })
    }
}

fn existing(path: PathBuf, origin: &str) -> Result<PathBuf, ConfigError> {
    if path.exists() { Ok(path) } else { Err(ConfigError::MissingFile { path, origin: origin.to_string() }) }
}

/// flag > `DATABASE_URL` > `[alembic] sqlalchemy.url` > default SQLite.
fn database_url(
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    ini: Option<&IniFile>,
) -> Result<(DatabaseUrl, UrlSource), ConfigError> {
    if let Some(flag) = overrides.database_url.as_deref().filter(|v| !v.trim().is_empty()) {
        let url = DatabaseUrl::parse(flag).map_err(|e| e.with_origin("--database-url".into()))?;
        return Ok((url, UrlSource::Flag));
    }
    if let Some(value) = env(DATABASE_URL_ENV) {
        let url = DatabaseUrl::parse(&value)
            .map_err(|e| e.with_origin(format!("environment variable {DATABASE_URL_ENV}")))?;
        return Ok((url, UrlSource::Env));
    }
    if let Some(ini) = ini
        && let Some(value) = ini.get(ALEMBIC_SECTION, URL_KEY)?.filter(|v| !v.trim().is_empty())
    {
        let place = ini.location(ALEMBIC_SECTION, URL_KEY).unwrap_or_else(|| ini.path().display().to_string());
        let url = DatabaseUrl::parse(&value).map_err(|e| e.with_origin(format!("{place} ({URL_KEY})")))?;
        return Ok((url, UrlSource::IniFile(ini.path().to_path_buf())));
    }
    Ok((DatabaseUrl::default_sqlite(), UrlSource::Default))
}

/// `--home-url` > `STRATA_HOME_URL` > `[strata] home_url` > `./data/strata.db`.
fn home_url(
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    ini: Option<&IniFile>,
) -> Result<(DatabaseUrl, String), ConfigError> {
    let reader = Reader { env, ini };
    match reader.lookup("home_url", overrides.home_url.as_deref())? {
        Some((value, origin)) => {
            let url = DatabaseUrl::parse(value.trim()).map_err(|e| e.with_origin(origin.clone()))?;
            Ok((url, origin))
        }
        None => Ok((DatabaseUrl::default_home(), format!("the default ({})", url::DEFAULT_SQLITE_PATH))),
    }
}

/// Reads settings by precedence: flag > environment > ini > default.
struct Reader<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    ini: Option<&'a IniFile>,
}

impl Reader<'_> {
    fn read<T>(&self, key: &str, flag: Option<&str>, kind: &Kind<T>, default: T) -> Result<T, ConfigError> {
        Ok(self.read_given(key, flag, kind)?.unwrap_or(default))
    }

    /// A setting without a default: `None` when it is given nowhere.
    fn optional<T>(&self, key: &str, kind: &Kind<T>) -> Result<Option<T>, ConfigError> {
        self.read_given(key, None, kind)
    }

    fn read_given<T>(&self, key: &str, flag: Option<&str>, kind: &Kind<T>) -> Result<Option<T>, ConfigError> {
        let Some((value, origin)) = self.lookup(key, flag)? else {
            return Ok(None);
        };
        (kind.parse)(value.trim()).map(Some).ok_or_else(|| ConfigError::InvalidSetting {
            key: key.to_string(),
            value,
            origin,
            expected: kind.expected,
            example: kind.example,
        })
    }

    /// `viewer_url`: parsed like the main URL (errors mask its password) and checked to name the same backend.
    fn viewer_url(&self, main: &DatabaseUrl) -> Result<Option<DatabaseUrl>, ConfigError> {
        let Some((value, origin)) = self.lookup("viewer_url", None)? else {
            return Ok(None);
        };
        let url = DatabaseUrl::parse(value.trim()).map_err(|e| e.with_origin(origin.clone()))?;
        if url.backend() != main.backend() {
            return Err(ConfigError::InvalidUrl {
                url: url.masked(),
                reason: format!(
                    "viewer_url is a {} URL but the database is {}: it must be a second login to the same database",
                    url.backend(),
                    main.backend()
                ),
                origin: Some(origin),
            });
        }
        Ok(Some(url))
    }

    /// The raw value of a setting and where it came from.
    fn lookup(&self, key: &str, flag: Option<&str>) -> Result<Option<(String, String)>, ConfigError> {
        if let Some(value) = flag.filter(|v| !v.trim().is_empty()) {
            return Ok(Some((value.to_string(), format!("--{}", key.replace('_', "-")))));
        }
        let var = env_var_name(key);
        if let Some(value) = (self.env)(&var) {
            return Ok(Some((value, format!("environment variable {var}"))));
        }
        if let Some(ini) = self.ini
            && let Some(value) = ini.get(STRATA_SECTION, key)?.filter(|v| !v.trim().is_empty())
        {
            let place = ini.location(STRATA_SECTION, key).unwrap_or_else(|| ini.path().display().to_string());
            return Ok(Some((value, place)));
        }
        Ok(None)
    }
}

/// The environment variable for a `[strata]` key: `STRATA_` + the key in
/// upper case with `.` and `-` as `_`.
pub fn env_var_name(key: &str) -> String {
    format!("STRATA_{}", key.to_uppercase().replace(['.', '-'], "_"))
}

/// Warnings for keys in `[strata]` that Strata does not know (typo protection).
fn unknown_keys(ini: &IniFile) -> Vec<String> {
    ini.keys(STRATA_SECTION)
        .filter(|(key, _)| !SETTING_KEYS.contains(key))
        .map(|(key, line)| {
            let suggestion = closest_key(key)
                .map(|k| format!("; did you mean \"{k}\"?"))
                .unwrap_or_else(|| format!("; known keys: {}", SETTING_KEYS.join(", ")));
            format!(
                "{}:{line}: unknown key \"{key}\" in [{STRATA_SECTION}] is ignored{suggestion}",
                ini.path().display()
            )
        })
        .collect()
}

fn closest_key(key: &str) -> Option<&'static str> {
    let normal = key.replace(['-', '.'], "_");
    SETTING_KEYS
        .iter()
        .map(|known| (*known, edit_distance(&normal, known)))
        .filter(|(_, distance)| *distance <= 2)
        .min_by_key(|(_, distance)| *distance)
        .map(|(known, _)| known)
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Parses `30s`, `500ms`, `5min`, `5m`, `2h`, `1d`, or a bare number of seconds.
pub fn parse_duration(input: &str) -> Option<Duration> {
    let input = input.trim();
    let digits = input.find(|c: char| !c.is_ascii_digit()).unwrap_or(input.len());
    let (number, unit) = input.split_at(digits);
    let n: u64 = number.parse().ok()?;
    let seconds = |factor: u64| n.checked_mul(factor).map(Duration::from_secs);
    match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "msec" | "millis" | "millisecond" | "milliseconds" => Some(Duration::from_millis(n)),
        "" | "s" | "sec" | "secs" | "second" | "seconds" => seconds(1),
        "m" | "min" | "mins" | "minute" | "minutes" => seconds(60),
        "h" | "hr" | "hrs" | "hour" | "hours" => seconds(3600),
        "d" | "day" | "days" => seconds(86_400),
        _ => None,
    }
}

/// Parses true/false, yes/no, on/off and 1/0, in any case.
pub fn parse_bool(input: &str) -> Option<bool> {
    match input.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Parses a socket address; `localhost:PORT` means `127.0.0.1:PORT`.
fn parse_listen(input: &str) -> Option<SocketAddr> {
    if let Some(port) = input.strip_prefix("localhost:") {
        return Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port.parse().ok()?)));
    }
    input.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Setup {
        dir: tempfile::TempDir,
        env: HashMap<String, String>,
        overrides: Overrides,
    }

    impl Setup {
        fn new() -> Setup {
            Setup { dir: tempfile::tempdir().unwrap(), env: HashMap::new(), overrides: Overrides::default() }
        }

        /// Writes an ini file and names it with `--config`.
        fn ini(mut self, text: &str) -> Setup {
            let path = self.dir.path().join("alembic.ini");
            std::fs::write(&path, text).unwrap();
            self.overrides.config = Some(path);
            self
        }

        fn env(mut self, name: &str, value: &str) -> Setup {
            self.env.insert(name.into(), value.into());
            self
        }

        fn load(&self) -> Result<Config, ConfigError> {
            let env = |name: &str| self.env.get(name).cloned();
            // the default file is looked for in the temp dir, not the real current directory
            Config::load_with(&self.overrides, &env, &[], &self.dir.path().join("alembic.ini"))
        }

        fn ok(&self) -> Config {
            match self.load() {
                Ok(config) => config,
                Err(e) => panic!("should load: {e}"),
            }
        }

        fn err(&self) -> String {
            match self.load() {
                Ok(config) => panic!("should fail: {config:?}"),
                Err(e) => e.to_string(),
            }
        }
    }

    const INI: &str = "[alembic]\nscript_location = migrations\nsqlalchemy.url = postgresql+psycopg2://ini:pw@ini-host/app\n\n[strata]\nlisten = 0.0.0.0:7000\n";

    #[test]
    fn nothing_configured_gives_defaults_and_local_sqlite() {
        let config = Setup::new().ok();
        assert_eq!(config.url_source, UrlSource::Default);
        assert_eq!(config.database_url.backend(), Backend::Sqlite);
        assert!(config.database_url.sqlite_path().unwrap().ends_with("data/example.db"), "the example project");
        assert!(config.home_url.sqlite_path().unwrap().ends_with("data/strata.db"), "Strata's own home");
        assert_eq!(config.config_file, None);
        let names: Vec<&str> = config.watched.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["example"], "the example database is watched");
        assert!(config.settings.migrate_on_start, "and migrated on start, so a newcomer sees a working dashboard");
        assert_eq!(Settings { migrate_on_start: false, ..config.settings.clone() }, Settings::default());
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn a_named_database_is_not_migrated_on_start_unless_asked() {
        let config = Setup::new().env("DATABASE_URL", "postgres://app@db/shop").ok();
        assert!(!config.settings.migrate_on_start);
        assert_eq!(config.project().name, "shop");
        let config =
            Setup::new().env("DATABASE_URL", "postgres://app@db/shop").env("STRATA_MIGRATE_ON_START", "1").ok();
        assert!(config.settings.migrate_on_start);
    }

    #[test]
    fn the_example_ini_file_loads_without_warnings_and_keeps_home_apart() {
        let config = Setup::new().ini(include_str!("../../alembic.ini.example")).ok();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        assert!(config.home_url.sqlite_path().unwrap().ends_with("data/strata.db"));
        assert!(config.database_url.sqlite_path().unwrap().ends_with("data/example.db"));
        assert_eq!(config.project().name, "example");
    }

    #[test]
    fn the_home_database_is_never_a_watched_one() {
        let message = Setup::new()
            .env("DATABASE_URL", "postgres://app@db/shop")
            .env("STRATA_HOME_URL", "postgres://app@db/shop")
            .err();
        assert!(message.contains("never a watched database"), "{message}");
    }

    #[test]
    fn default_settings_match_the_documented_values() {
        let s = Settings::default();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(s.cookie_secure && !s.migrate_on_start);
        assert_eq!(s.session_ttl, Duration::from_secs(43_200));
        assert_eq!(s.query_timeout, Duration::from_secs(30));
        assert_eq!(s.max_rows, 1000);
        assert_eq!(s.lock_timeout, Duration::from_secs(60));
        assert_eq!(s.long_query_threshold, Duration::from_secs(300));
        assert_eq!(s.catalog_timeout, Duration::from_secs(5));
        assert_eq!(s.history_retention, Duration::from_secs(90 * 86_400));
        assert_eq!(s.maintenance_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn sampling_defaults_to_a_minute_and_zero_turns_it_off() {
        let s = Settings::default();
        assert_eq!(s.sample_interval, Duration::from_secs(60));
        assert_eq!(s.sample_retention.raw, Duration::from_secs(2 * 86_400));
        assert_eq!(s.sample_retention.five_minute, Duration::from_secs(30 * 86_400));
        assert_eq!(s.sample_retention.hourly, Duration::from_secs(365 * 86_400));
        let s = Setup::new().env("STRATA_SAMPLE_INTERVAL", "1s").ok();
        assert_eq!(s.settings.sample_interval, Duration::from_secs(1));
        let s = Setup::new().ini("[strata]\nsample_interval = 0\n").ok();
        assert!(s.settings.sample_interval.is_zero());
        let s = Setup::new().ini("[strata]\nsample_retention = 1d, 7d, 2y\n").ok();
        assert_eq!(s.settings.sample_retention.raw, Duration::from_secs(86_400));
        assert_eq!(s.settings.sample_retention.hourly, Duration::from_secs(2 * 365 * 86_400));
        let err = Setup::new().ini("[strata]\nsample_retention = 30d, 2d, 1y\n").err();
        assert!(err.contains("sample_retention"), "{err}");
    }

    #[test]
    fn history_retention_is_a_duration_and_zero_keeps_forever() {
        let s = Setup::new().ini("[strata]\nhistory_retention = 30d\n").ok();
        assert_eq!(s.settings.history_retention, Duration::from_secs(30 * 86_400));
        assert!(s.warnings.is_empty(), "a known key: {:?}", s.warnings);
        let s = Setup::new().ini("[strata]\nhistory_retention = 7d\n").env("STRATA_HISTORY_RETENTION", "0").ok();
        assert!(s.settings.history_retention.is_zero());
        let err = Setup::new().ini("[strata]\nhistory_retention = forever\n").err();
        assert!(err.contains("invalid value \"forever\" for history_retention"), "{err}");
    }

    #[test]
    fn maintenance_timeout_is_a_duration_from_the_ini_or_the_environment() {
        let s = Setup::new().ini("[strata]\nmaintenance_timeout = 90min\n").ok();
        assert_eq!(s.settings.maintenance_timeout, Duration::from_secs(5400));
        assert!(s.warnings.is_empty(), "a known key: {:?}", s.warnings);
        let s = Setup::new().env("STRATA_MAINTENANCE_TIMEOUT", "2h").ok();
        assert_eq!(s.settings.maintenance_timeout, Duration::from_secs(7200));
    }

    #[test]
    fn metrics_settings_default_to_15_s_and_loopback_and_refuse_nonsense() {
        let s = Setup::new().ok().settings;
        assert_eq!(s.metrics_refresh, Duration::from_secs(15));
        assert_eq!(s.metrics_allow, AddrRange::loopback());
        let config = Setup::new()
            .ini("[strata]\nmetrics_refresh = 500ms\nmetrics_allow = 10.0.0.0/8, ::1\n")
            .env("STRATA_METRICS_REFRESH", "30s")
            .ok();
        assert!(config.warnings.is_empty(), "known keys: {:?}", config.warnings);
        assert_eq!(config.settings.metrics_refresh, Duration::from_secs(30));
        assert!(config.settings.metrics_allow.iter().any(|r| r.contains("10.2.3.4".parse().unwrap())));
        let err = Setup::new().env("STRATA_METRICS_REFRESH", "0").err();
        assert!(err.contains("metrics_refresh") && err.contains("above zero"), "{err}");
        let err = Setup::new().ini("[strata]\nmetrics_allow = 10.0.0.0/40\n").err();
        assert!(err.contains("alembic.ini:2") && err.contains("CIDR"), "{err}");
    }

    #[test]
    fn backup_tools_are_looked_up_on_path_unless_a_setting_names_them() {
        let s = Setup::new().ok().settings;
        assert_eq!(s.backup_dir, PathBuf::from("backups"));
        assert_eq!((s.pg_dump_path, s.psql_path, s.mysqldump_path), (None, None, None));
        let config = Setup::new()
            .ini("[strata]\npg_dump_path = /usr/lib/postgresql/17/bin/pg_dump\nbackup_dir = /var/backups/strata\n")
            .env("STRATA_MYSQL_PATH", "/opt/mariadb/bin/mariadb")
            .ok();
        assert!(config.warnings.is_empty(), "known keys: {:?}", config.warnings);
        let s = config.settings;
        assert_eq!(s.pg_dump_path, Some(PathBuf::from("/usr/lib/postgresql/17/bin/pg_dump")));
        assert_eq!(s.mysql_path, Some(PathBuf::from("/opt/mariadb/bin/mariadb")));
        assert_eq!(s.backup_dir, PathBuf::from("/var/backups/strata"));
        assert_eq!(s.pg_restore_path, None);
    }

    #[test]
    fn database_url_precedence_is_flag_env_ini_default() {
        let mut setup = Setup::new().ini(INI).env("DATABASE_URL", "mysql://env@env-host/app");
        setup.overrides.database_url = Some("sqlite::memory:".into());
        let config = setup.ok();
        assert_eq!(config.url_source, UrlSource::Flag);
        assert!(config.database_url.is_memory());

        setup.overrides.database_url = None;
        let config = setup.ok();
        assert_eq!(config.url_source, UrlSource::Env);
        assert_eq!(config.database_url.connect_url(), "mysql://env@env-host/app");

        setup.env.clear();
        let config = setup.ok();
        assert_eq!(config.url_source, UrlSource::IniFile(setup.dir.path().join("alembic.ini")));
        assert_eq!(config.database_url.connect_url(), "postgres://ini:pw@ini-host/app");

        let setup = Setup::new().ini("[alembic]\nsqlalchemy.url =\n");
        assert_eq!(setup.ok().url_source, UrlSource::Default);
    }

    #[test]
    fn empty_flag_and_env_values_count_as_unset() {
        let mut setup = Setup::new().ini(INI).env("DATABASE_URL", "  ").env("STRATA_LISTEN", "");
        setup.overrides.database_url = Some(String::new());
        setup.overrides.listen = Some(String::new());
        let config = setup.ok();
        assert!(matches!(config.url_source, UrlSource::IniFile(_)));
        assert_eq!(config.settings.listen.to_string(), "0.0.0.0:7000");
    }

    #[test]
    fn listen_precedence_is_flag_env_ini_default() {
        let mut setup = Setup::new().ini(INI).env("STRATA_LISTEN", "127.0.0.1:9000");
        setup.overrides.listen = Some("[::1]:9100".into());
        assert_eq!(setup.ok().settings.listen.to_string(), "[::1]:9100");
        setup.overrides.listen = None;
        assert_eq!(setup.ok().settings.listen.to_string(), "127.0.0.1:9000");
        setup.env.clear();
        assert_eq!(setup.ok().settings.listen.to_string(), "0.0.0.0:7000");
        let setup = Setup::new().ini("[strata]\n");
        assert_eq!(setup.ok().settings.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn every_setting_is_read_from_the_strata_section() {
        let config = Setup::new()
            .ini(
                "[strata]\ncookie_secure = off\nsession_ttl = 2h\nquery_timeout = 500ms\nmax_rows = 50\n\
                 lock_timeout = 90\nlong_query_threshold = 5m\ncatalog_timeout = 1d\nmigrate_on_start = No\n",
            )
            .ok();
        let s = config.settings;
        assert!(!s.cookie_secure);
        assert_eq!(s.session_ttl, Duration::from_secs(7200));
        assert_eq!(s.query_timeout, Duration::from_millis(500));
        assert_eq!(s.max_rows, 50);
        assert_eq!(s.lock_timeout, Duration::from_secs(90));
        assert_eq!(s.long_query_threshold, Duration::from_secs(300));
        assert_eq!(s.catalog_timeout, Duration::from_secs(86_400));
        assert!(!s.migrate_on_start);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn viewer_url_is_a_second_login_to_the_same_backend_and_its_password_never_shows() {
        let config = Setup::new()
            .ini("[strata]\nviewer_url = postgresql://reader:s3cret@db/app\nread_only_for_all = yes\n")
            .env("DATABASE_URL", "postgres://owner:pw@db/app")
            .ok();
        let viewer = config.settings.viewer_url.clone().expect("read from [strata]");
        assert_eq!(viewer.connect_url(), "postgres://reader:s3cret@db/app");
        assert!(config.settings.read_only_for_all);
        assert!(!format!("{:?}", config.settings).contains("s3cret"), "Debug masks it");

        let err = Setup::new()
            .env("DATABASE_URL", "postgres://owner:pw@db/app")
            .env("STRATA_VIEWER_URL", "mysql://reader:s3cret@db/app")
            .err();
        assert!(err.contains("STRATA_VIEWER_URL") && err.contains("same database"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn env_overrides_the_ini_for_settings() {
        let config = Setup::new()
            .ini("[strata]\nmax_rows = 50\n")
            .env("STRATA_MAX_ROWS", "75")
            .env("STRATA_COOKIE_SECURE", "false")
            .ok();
        assert_eq!(config.settings.max_rows, 75);
        assert!(!config.settings.cookie_secure);
    }

    #[test]
    fn bad_duration_in_ini_names_key_file_line_and_an_example() {
        let message = Setup::new().ini("[strata]\n\nquery_timeout = 30 parsecs\n").err();
        assert!(message.contains("alembic.ini:3: "), "{message}");
        assert!(message.contains("query_timeout"), "{message}");
        assert!(message.contains("\"30 parsecs\""), "{message}");
        assert!(message.contains("30s"), "{message}");
    }

    #[test]
    fn bad_values_from_env_and_flag_name_their_source() {
        let message = Setup::new().env("STRATA_SESSION_TTL", "soon").err();
        assert!(
            message.starts_with("environment variable STRATA_SESSION_TTL: invalid value \"soon\" for session_ttl"),
            "{message}"
        );
        let mut setup = Setup::new();
        setup.overrides.listen = Some("everywhere".into());
        let message = setup.err();
        assert!(message.starts_with("--listen: invalid value \"everywhere\" for listen"), "{message}");
        assert!(message.contains("127.0.0.1:8080"), "{message}");
        let message = Setup::new().env("STRATA_MIGRATE_ON_START", "maybe").err();
        assert!(message.contains("true or false"), "{message}");
    }

    #[test]
    fn unknown_strata_key_is_a_warning_with_file_line_and_suggestion() {
        let config = Setup::new().ini("[strata]\nmax_rows = 5\nmax_row = 10\nfoo = 1\n").ok();
        assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
        assert!(config.warnings[0].contains("alembic.ini:3: unknown key \"max_row\""), "{}", config.warnings[0]);
        assert!(config.warnings[0].contains("did you mean \"max_rows\""), "{}", config.warnings[0]);
        assert!(config.warnings[1].contains("known keys: home_url, listen"), "{}", config.warnings[1]);
        assert_eq!(config.settings.max_rows, 5);
    }

    #[test]
    fn url_warnings_are_collected() {
        let config = Setup::new().env("DATABASE_URL", "postgres://db/app?connection_limit=3").ok();
        assert_eq!(
            config.warnings,
            ["dropped URL parameter \"connection_limit\" (not understood by the PostgreSQL driver)"]
        );
    }

    #[test]
    fn bad_url_in_ini_names_file_and_line_and_masks_the_password() {
        let message = Setup::new().ini("[alembic]\nsqlalchemy.url = postgresql://bob:secret@db:http/app\n").err();
        assert!(message.contains("alembic.ini:2 (sqlalchemy.url): invalid database URL"), "{message}");
        assert!(message.contains("bob:***@db"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn bad_url_from_env_names_the_variable() {
        let message = Setup::new().env("DATABASE_URL", "oracle://u:p@h/d").err();
        assert!(
            message.starts_with("environment variable DATABASE_URL: unsupported database URL scheme \"oracle\""),
            "{message}"
        );
    }

    #[test]
    fn ini_url_can_use_here_and_escaped_percent() {
        let setup = Setup::new()
            .ini("[alembic]\nsqlalchemy.url = sqlite:///%(here)s/app.db\n[other]\nurl = postgresql://u:p%%40ss@h/d\n");
        let config = setup.ok();
        assert_eq!(config.database_url.sqlite_path(), Some(setup.dir.path().join("app.db").as_path()));
    }

    #[test]
    fn missing_config_file_from_flag_or_env_is_an_error() {
        let mut setup = Setup::new();
        setup.overrides.config = Some(setup.dir.path().join("nope.ini"));
        let message = setup.err();
        assert!(message.contains("nope.ini (from --config) does not exist"), "{message}");
        let setup = Setup::new().env("STRATA_CONFIG", "/definitely/not/here.ini");
        assert!(setup.err().contains("from environment variable STRATA_CONFIG"));
    }

    #[test]
    fn config_env_names_the_file_below_the_flag() {
        let setup = Setup::new().ini(INI);
        let flag_file = setup.overrides.config.clone().unwrap();
        let env_file = setup.dir.path().join("env.ini");
        std::fs::write(&env_file, "[strata]\nmax_rows = 3\n").unwrap();
        let mut setup = setup.env("STRATA_CONFIG", env_file.to_str().unwrap());
        assert_eq!(setup.ok().config_file, Some(flag_file));
        setup.overrides.config = None;
        let config = setup.ok();
        assert_eq!(config.config_file, Some(env_file));
        assert_eq!(config.settings.max_rows, 3);
    }

    #[test]
    fn alembic_ini_in_the_current_directory_is_found() {
        let mut setup = Setup::new().ini(INI);
        setup.overrides.config = None;
        let config = setup.ok();
        assert_eq!(config.config_file, Some(setup.dir.path().join("alembic.ini")));
        assert_eq!(config.settings.listen.to_string(), "0.0.0.0:7000");
    }

    #[test]
    fn malformed_ini_is_reported_with_file_and_line() {
        let message = Setup::new().ini("[alembic]\nsqlalchemy.url postgres://u:pw@h/d\n").err();
        assert!(message.contains("alembic.ini:2: expected \"key = value\""), "{message}");
        assert!(!message.contains("pw@"), "{message}");
    }

    #[test]
    fn debug_of_config_masks_the_password() {
        // (not "secret": the setting secret_key_file is named in the output)
        let config = Setup::new().env("DATABASE_URL", "postgresql://bob:hunter2pw@db/app").ok();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2pw"), "{debug}");
    }

    #[test]
    fn durations_parse_in_all_documented_forms() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5min"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration(" 10 S "), Some(Duration::from_secs(10)));
        for bad in ["", "s", "-5s", "1.5h", "5 parsecs", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn booleans_accept_the_usual_spellings() {
        for yes in ["true", "YES", "on", "1"] {
            assert_eq!(parse_bool(yes), Some(true));
        }
        for no in ["false", "no", "OFF", "0"] {
            assert_eq!(parse_bool(no), Some(false));
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn env_var_names_are_upper_case_with_underscores() {
        assert_eq!(env_var_name("query_timeout"), "STRATA_QUERY_TIMEOUT");
        assert_eq!(env_var_name("a.b-c"), "STRATA_A_B_C");
    }

    #[test]
    fn listen_accepts_localhost() {
        assert_eq!(parse_listen("localhost:3000").unwrap().to_string(), "127.0.0.1:3000");
    }
}
