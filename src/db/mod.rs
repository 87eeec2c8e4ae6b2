//! Opening connections: pool settings per backend, SQLite pragmas, and friendly connect errors.

pub mod health;
pub mod introspect;
pub mod running;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::config::{Backend, DatabaseUrl};
use crate::error::{Error, Result};

/// What a connection is for; decides the pool size and the name the server sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The dashboard's shared pool.
    App,
    /// One dedicated connection for the migration runner (it holds the lock).
    Migrate,
    /// One dedicated connection that migrates the home database (WAL on SQLite, as the home pool has it).
    HomeMigrate,
    /// One short-lived connection for a read-only CLI command.
    Cli,
    /// One dedicated connection for one maintenance action (VACUUM cannot share a transaction).
    Maintenance,
    /// A watched database's pool for the pages: opened lazily, idle connections closed after `idle`, and a
    /// SQLite file opened read-only, never created, its journal mode left as the application set it.
    Watch { idle: Duration },
}

/// Connects to the database the URL names, creating a SQLite file's folder if needed.
pub async fn connect(url: &DatabaseUrl, purpose: Purpose) -> Result<DatabaseConnection> {
    connect_with(url, purpose, None).await
}

/// The dashboard's pool, which consults `health` before reusing a SQLite connection: one opened while the
/// file was read-only stays read-only after the file is fixed, so none is reused while a write fault stands.
pub async fn connect_app(url: &DatabaseUrl, health: Arc<health::Health>) -> Result<DatabaseConnection> {
    connect_with(url, Purpose::App, Some(health)).await
}

async fn connect_with(
    url: &DatabaseUrl,
    purpose: Purpose,
    health: Option<Arc<health::Health>>,
) -> Result<DatabaseConnection> {
    if let (Purpose::Watch { idle }, Backend::Sqlite) = (purpose, url.backend()) {
        return watch_sqlite(url, idle);
    }
    if url.backend() == Backend::Sqlite && !matches!(purpose, Purpose::Watch { .. }) {
        url.ensure_sqlite_parent_dir().map_err(|e| Error::io(format!("cannot create the folder for {url}"), e))?;
    }
    let mut opts = ConnectOptions::new(driver_url(url));
    let max = match (purpose, url.backend()) {
        // A memory database exists once per connection: keep one so every query sees it.
        (_, Backend::Sqlite) if url.is_memory() => 1,
        (Purpose::App | Purpose::Watch { .. }, Backend::Sqlite) => 4,
        (Purpose::App, _) => 10,
        (Purpose::Watch { .. }, _) => 5,
        (Purpose::Migrate | Purpose::HomeMigrate | Purpose::Cli | Purpose::Maintenance, _) => 1,
    };
    opts.max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if let Purpose::Watch { idle } = purpose {
        // No connection is opened until a page needs one, and none is kept once nobody looks. While pages are in
        // use a connection lives on (no recycling after sqlx's default 30 min): each new server session warms its
        // catalog caches and prepared statements again, and the first request on it pays for that. A connection
        // used within the last second goes out without the ping round trip every acquire would otherwise cost.
        opts.connect_lazy(true)
            .idle_timeout(idle)
            .max_lifetime(None)
            .test_before_acquire_if_idle_for(WATCH_PING_AFTER_IDLE);
    }
    // The home pool pings every connection before use: a home database that went away is then reported by a failed
    // connect naming its address (tests/faults.rs), not by a pooled connection's bare end of stream.
    let app_name = match purpose {
        Purpose::App | Purpose::Watch { .. } => "strata",
        Purpose::Migrate | Purpose::HomeMigrate => "strata migrate",
        Purpose::Cli => "strata cli",
        Purpose::Maintenance => "strata maintenance",
    };
    match url.backend() {
        Backend::Postgres => {
            opts.set_application_name(app_name);

            if let Some(path) = url.search_path() {
                opts.set_schema_search_path(path.to_string());
            }
            if matches!(purpose, Purpose::Watch { .. }) {
                // Catalog reads are short, but their row estimates over a large catalog cross `jit_above_cost`:
                // compiling them took ~110 ms of a 10,000-table size order that runs in less without it. Set per
                // session (not as a startup option, which poolers such as PgBouncer refuse), where the server has JIT.
                opts.map_sqlx_postgres_pool_opts(|pool| {
                    pool.after_connect(|conn, _| {
                        Box::pin(async move { sea_orm::sqlx::Executor::execute(conn, JIT_OFF).await.map(|_| ()) })
                    })
                });
            }
        }
        Backend::Sqlite => {
            // WAL is the home database's mode (the dashboard's pool): a command that opens an application's file
            // (migrate, verify, backup, maintenance) leaves its journal mode as the application set it.
            let home_pool = matches!(purpose, Purpose::App | Purpose::HomeMigrate);
            opts.map_sqlx_sqlite_opts(move |o| {
                let o = o.create_if_missing(true).foreign_keys(true).busy_timeout(Duration::from_secs(5));
                if home_pool {
                    o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                } else {
                    o
                }
            });
            if let Some(health) = health {
                opts.map_sqlx_sqlite_before_acquire(move |_, meta| {
                    let reuse = health.reuse_connection(meta.age);
                    Box::pin(async move { Ok(reuse) })
                });
            }
        }
        Backend::MySql => {}
    }
    match Database::connect(opts).await {
        Ok(db) => Ok(db),
        Err(e) => {
            // The pool retries a refused connection until its acquire timeout and then says only that it timed
            // out: one connection of our own, outside any pool, learns why.
            let direct = if crate::error::is_pool_timeout(&e) { direct_failure(url).await } else { None };
            let raw = direct.unwrap_or_else(|| crate::error::db_text(&e));
            Err(Error::Connect { url: url.masked(), reason: connect_reason(&raw, url) })
        }
    }
}

/// Turns JIT compilation off for the session on servers that have it (PostgreSQL 11 and later).
const JIT_OFF: &str = "SELECT set_config('jit', 'off', false) WHERE current_setting('jit', true) IS NOT NULL";

/// A watched database's pooled connection idle at least this long is pinged before a page uses it.
const WATCH_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// How long [`direct_failure`] waits for the server.
const DIRECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection to the server cannot be opened right now, from one attempt outside any pool: `None`
/// when it can (or for SQLite, whose pool reports its errors itself).
async fn direct_failure(url: &DatabaseUrl) -> Option<String> {
    use sea_orm::sqlx::{Connection, MySqlConnection, PgConnection};
    let driver_url = driver_url(url);
    let attempt = async {
        match url.backend() {
            Backend::Postgres => PgConnection::connect(&driver_url).await?.close().await,
            Backend::MySql => MySqlConnection::connect(&driver_url).await?.close().await,
            Backend::Sqlite => Ok(()),
        }
    };
    match tokio::time::timeout(DIRECT_TIMEOUT, attempt).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(connect_error_text(&e, url)),
        Err(_) => Some(format!("no answer from {} within {} s", server_address(url), DIRECT_TIMEOUT.as_secs())),
    }
}

/// A driver's error from opening a connection, as a person reads it: a refused connection names the address
/// that refused it; anything else is the driver's text without PostgreSQL's source line.
pub(crate) fn connect_error_text(e: &sea_orm::sqlx::Error, url: &DatabaseUrl) -> String {
    match e {
        sea_orm::sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused at {}", server_address(url))
        }
        other => crate::error::sqlx_text(other),
    }
}

/// `host:port` of a server URL, with the backend's default port when the URL names none.
fn server_address(url: &DatabaseUrl) -> String {
    let default_port = match url.backend() {
        Backend::Postgres => 5432,
        Backend::MySql => 3306,
        Backend::Sqlite => 0,
    };
    let Ok(parsed) = url::Url::parse(url.connect_url()) else { return "the server".to_string() };
    // A `host=` parameter (a socket folder, or a host list) wins over the URL's host, as the driver does.
    let query_host = parsed.query_pairs().find(|(k, _)| k == "host").map(|(_, v)| v.into_owned());
    let host = query_host.or_else(|| parsed.host_str().map(str::to_string)).unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", parsed.port().unwrap_or(default_port))
}

/// A watched SQLite file's pool, built here rather than by sea-orm: sea-orm opens a connection at once to check the
/// SQLite version, and a watched file must not be touched (or found missing) before a page asks for it.
fn watch_sqlite(url: &DatabaseUrl, idle: Duration) -> Result<DatabaseConnection> {
    use std::str::FromStr;

    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    let opts = SqliteConnectOptions::from_str(url.connect_url())
        .map_err(|e| Error::Connect { url: url.masked(), reason: e.to_string() })?
        .read_only(true)
        .create_if_missing(false)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let max = if url.is_memory() { 1 } else { 4 };
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .idle_timeout(idle)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(opts);
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// The URL handed to the driver: the connect URL, plus "no TLS" for a server on this machine when the URL
/// does not choose (see [`loopback_without_tls_choice`]). It holds the password: give it to the driver only.
pub(crate) fn driver_url(url: &DatabaseUrl) -> String {
    let mut connect_url = url.connect_url().to_string();
    if loopback_without_tls_choice(url) {
        // sea-orm 2.0.4 ignores map_sqlx_postgres_opts, so the choice travels in the URL.
        let param = if url.backend() == Backend::Postgres { "sslmode=disable" } else { "ssl-mode=DISABLED" };
        connect_url.push(if connect_url.contains('?') { '&' } else { '?' });
        connect_url.push_str(param);
    }
    connect_url
}

/// True for a server on this machine whose URL does not choose TLS itself.
///
/// The drivers' default ("prefer") negotiates TLS even over loopback, where it protects nothing and
/// its handshake costs ~90 ms per connection here (Nagle meets delayed ACK), which would dominate
/// every CLI command. An explicit `sslmode` / `ssl-mode` in the URL is always obeyed.
pub(crate) fn loopback_without_tls_choice(url: &DatabaseUrl) -> bool {
    let Ok(parsed) = url::Url::parse(url.connect_url()) else { return false };
    let explicit = parsed.query_pairs().any(|(k, _)| matches!(k.as_ref(), "sslmode" | "ssl-mode" | "ssl_mode"));
    let local = match parsed.host() {
        // Non-special schemes keep IP hosts as text.
        Some(url::Host::Domain(d)) => {
            d == "localhost" || d.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    local && !explicit
}

/// Turns a driver's connect error into a sentence with a hint, passwords masked.
fn connect_reason(raw: &str, url: &DatabaseUrl) -> String {
    let raw = crate::config::mask_url_str(raw);
    let hint = if raw.contains("connection refused")
        || raw.contains("Connection refused")
        || raw.contains("os error 111")
    {
        match url.backend() {
            Backend::Postgres => " (is PostgreSQL running? start it with `pg_ctlcluster <version> main start`)",
            Backend::MySql => {
                " (is MariaDB/MySQL running? start it with `start-stop-daemon --start --background --exec /usr/sbin/mariadbd`)"
            }
            Backend::Sqlite => "",
        }
    } else if raw.contains("role \"") && raw.contains("does not exist") {
        " (check the user name in the URL)"
    } else if raw.contains("does not exist") || raw.contains("Unknown database") {
        " (create the database first, or fix the database name in the URL)"
    } else if raw.contains("password authentication failed") || raw.contains("Access denied") {
        " (check the user name and password in the URL)"
    } else {
        ""
    };
    format!("{raw}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(u: &str) -> bool {
        loopback_without_tls_choice(&DatabaseUrl::parse(u).unwrap())
    }

    #[test]
    fn loopback_servers_skip_tls_unless_the_url_asks_for_it() {
        assert!(plain("postgresql://u:p@127.0.0.1:5432/db"));
        assert!(plain("postgres://u@localhost/db"));
        assert!(plain("mysql://root@127.0.0.1:3306/test"));
        assert!(!plain("postgresql://u@127.0.0.1/db?sslmode=require"));
        assert!(!plain("postgresql://u@db.example.com/db"));
        assert!(!plain("sqlite:///x.db"));
    }
}
