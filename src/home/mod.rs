//! Strata's own state, kept in the home database: accounts, sessions, API keys, sealed secrets, the audit log,
//! query history, the watch list, migration runs and the trend samples. Nothing here reads or writes a watched database.
//!
//! The home database is migrated by its own migrator (`migration::HomeMigrator`, version table
//! `strata_home_migrations`), never by `strata migrate`, and it is never a watched database: the configuration
//! refuses a watched URL equal to `home_url`, so the query editor cannot reach these tables.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod backup_runs;
pub mod history;
pub mod migration_runs;
pub mod offsite;
pub mod recent;
pub mod recorder;
pub mod samples;
pub mod secrets;
pub mod session_store;
pub mod statement_samples;
pub mod throttle;
pub mod watchlist;

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

use crate::config::DatabaseUrl;
use crate::db::{self, Purpose};
use crate::error::{Error, Result};

/// How long a start waits for another instance that is migrating the same home database.
const MIGRATE_LOCK_WAIT: Duration = Duration::from_secs(60);

/// Opens the home database and applies its pending migrations, one instance at a time (a PostgreSQL advisory
/// lock or a MariaDB named lock held on a connection of its own; SQLite serialises writers itself).
pub async fn migrate(url: &DatabaseUrl) -> Result<()> {
    let conn = db::connect(url, Purpose::HomeMigrate).await?;
    let result = migrate_on(&conn, None).await;
    conn.close().await.ok();
    result.map(|_| ())
}

/// What `serve` does first: migrate the home database and make sure an active admin exists, both under the lock,
/// so instances starting together make exactly one first admin. Returns the generated password when one was made.
pub async fn prepare(url: &DatabaseUrl, admin_password: Option<String>) -> Result<Option<(String, String)>> {
    let conn = db::connect(url, Purpose::HomeMigrate).await?;
    let result = migrate_on(&conn, Some(admin_password)).await;
    conn.close().await.ok();
    result
}

/// Applies the home migrations on `conn` under the lock (see [`migrate`]), then, when `admin` is given, makes sure
/// an active admin exists (its password, or a generated one that is returned).
pub async fn migrate_on(conn: &DatabaseConnection, admin: Option<Option<String>>) -> Result<Option<(String, String)>> {
    let backend = conn.get_database_backend();
    let wait = MIGRATE_LOCK_WAIT.as_secs() as i64;
    let (lock, unlock) = match backend {
        DbBackend::Postgres => (
            "SELECT pg_advisory_lock(hashtext('strata_home_migrations'))::text",
            Some("SELECT pg_advisory_unlock(hashtext('strata_home_migrations'))::text"),
        ),
        DbBackend::MySql => {
            ("SELECT GET_LOCK('strata_home_migrations', ?)", Some("SELECT RELEASE_LOCK('strata_home_migrations')"))
        }
        _ => ("", None),
    };
    if !lock.is_empty() {
        let values: Vec<sea_orm::Value> = if backend == DbBackend::MySql { vec![wait.into()] } else { vec![] };
        let row = conn.query_one_raw(Statement::from_sql_and_values(backend, lock, values)).await?;
        if backend == DbBackend::MySql
            && row.and_then(|r| r.try_get_by_index::<Option<i64>>(0).ok().flatten()) != Some(1)
        {
            return Err(Error::Unavailable(format!(
                "another Strata instance has been migrating the home database for over {wait} s"
            )));
        }
    }
    let applied = async {
        migration::HomeMigrator::up(conn, None)
            .await
            .map_err(|e| Error::Migration(format!("migrating Strata's home database failed: {e}")))?;
        // Migration 000017 made the packed per-object samples: the rows from before move into them.
        samples::convert_rows(conn).await?;
        match admin {
            Some(password) => accounts::ensure_admin(conn, password).await,
            None => Ok(None),
        }
    }
    .await;
    if let Some(unlock) = unlock {
        conn.execute_raw(Statement::from_string(backend, unlock)).await.ok();
    }
    applied
}

/// Every table of Strata's own state (all in the home database).
pub const OWN_TABLES: &[&str] = &[
    "admin_users",
    "strata_sessions",
    "audit_log",
    "query_history",
    "api_keys",
    "strata_secrets",
    "strata_leases",
    "backup_runs",
    "backup_schedules",
    "migration_runs",
    "samples",
    "sample_objects",
    "sample_tables",
    "sample_indexes",
    "sample_queries",
    "sample_statements",
    "sample_rollups",
    "sample_packs",
];

/// Whether `table` (compared without regard to ASCII case, as MariaDB and SQLite compare names) is Strata's own.
pub fn is_own_table(table: &str) -> bool {
    OWN_TABLES.iter().any(|t| t.eq_ignore_ascii_case(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_tables_are_recognised_whatever_their_case() {
        assert!(is_own_table("strata_sessions"));
        assert!(is_own_table("Admin_Users"));
        assert!(!is_own_table("users"));
    }
}
