//! Opening connections: pool settings per backend, SQLite pragmas, and friendly connect errors.

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
    /// One short-lived connection for a read-only CLI command.
    Cli,
}

/// Connects to the database the URL names, creating a SQLite file's folder if needed.
pub async fn connect(url: &DatabaseUrl, purpose: Purpose) -> Result<DatabaseConnection> {
    if url.backend() == Backend::Sqlite {
        url.ensure_sqlite_parent_dir().map_err(|e| Error::io(format!("cannot create the folder for {url}"), e))?;
    }
    let mut opts = ConnectOptions::new(url.connect_url().to_string());
    let max = match (purpose, url.backend()) {
        // A memory database exists once per connection: keep one so every query sees it.
        (_, Backend::Sqlite) if url.is_memory() => 1,
        (Purpose::App, Backend::Sqlite) => 4,
        (Purpose::App, _) => 10,
        (Purpose::Migrate | Purpose::Cli, _) => 1,
    };
    opts.max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let app_name = match purpose {
        Purpose::App => "strata",
        Purpose::Migrate => "strata migrate",
        Purpose::Cli => "strata cli",
    };
    match url.backend() {
        Backend::Postgres => {
            opts.set_application_name(app_name);
            if let Some(path) = url.search_path() {
                opts.set_schema_search_path(path.to_string());
            }
        }
        Backend::Sqlite => {
            opts.map_sqlx_sqlite_opts(move |o| {
                let o = o.create_if_missing(true).foreign_keys(true).busy_timeout(Duration::from_secs(5));
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            });
        }
        Backend::MySql => {}
    }
    Database::connect(opts)
        .await
        .map_err(|e| Error::Connect { url: url.masked(), reason: connect_reason(&e.to_string(), url) })
}

/// Turns a driver's connect error into a sentence with a hint, passwords masked.
fn connect_reason(raw: &str, url: &DatabaseUrl) -> String {
    let raw = crate::config::mask_url_str(raw);
    let hint = if raw.contains("Connection refused") || raw.contains("os error 111") {
        match url.backend() {
            Backend::Postgres => " (is PostgreSQL running? start it with `pg_ctlcluster <version> main start`)",
            Backend::MySql => {
                " (is MariaDB/MySQL running? start it with `start-stop-daemon --start --background --exec /usr/sbin/mariadbd`)"
            }
            Backend::Sqlite => "",
        }
    } else if raw.contains("does not exist") || raw.contains("Unknown database") {
        " (create the database first, or fix the database name in the URL)"
    } else if raw.contains("password authentication failed") || raw.contains("Access denied") {
        " (check the user name and password in the URL)"
    } else {
        ""
    };
    format!("{raw}{hint}")
}
