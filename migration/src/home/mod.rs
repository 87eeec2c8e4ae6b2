//! Strata's own state, migrated into the home database: accounts, sessions, audit log, query history, API keys,
//! sealed secrets, the watch list and the migration runs started from the dashboard. Never applied to a watched database.

use sea_orm_migration::prelude::*;

mod m20251122_000003_create_admin_users;
mod m20251122_000004_create_sessions;
mod m20251122_000005_create_audit_log;
mod m20251122_000006_create_query_history;
mod m20251122_000007_create_api_keys;
mod m20261206_000008_hash_session_ids;
mod m20261206_000009_create_strata_secrets;
mod m20261206_000010_create_watched_databases;
mod m20261206_000011_add_database_to_history_and_audit;
mod m20261206_000012_create_migration_runs;
mod m20261206_000013_create_backup_schedule;
mod m20261206_000014_create_samples;
mod m20261206_000015_create_sample_statements;
mod m20261206_000016_create_sample_rollups;
mod m20261206_000017_create_sample_packs;

/// The table that records which home migrations ran (not `seaql_migrations`, which an application migrated
/// with SeaORM may use, and not `alembic_version`).
pub const VERSION_TABLE: &str = "strata_home_migrations";

/// The migrator `strata serve`, `strata user` and `strata key` run on the home database.
pub struct HomeMigrator;

#[async_trait::async_trait]
impl MigratorTrait for HomeMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20251122_000003_create_admin_users::Migration),
            Box::new(m20251122_000004_create_sessions::Migration),
            Box::new(m20251122_000005_create_audit_log::Migration),
            Box::new(m20251122_000006_create_query_history::Migration),
            Box::new(m20251122_000007_create_api_keys::Migration),
            Box::new(m20261206_000008_hash_session_ids::Migration),
            Box::new(m20261206_000009_create_strata_secrets::Migration),
            Box::new(m20261206_000010_create_watched_databases::Migration),
            Box::new(m20261206_000011_add_database_to_history_and_audit::Migration),
            Box::new(m20261206_000012_create_migration_runs::Migration),
            Box::new(m20261206_000013_create_backup_schedule::Migration),
            Box::new(m20261206_000014_create_samples::Migration),
            Box::new(m20261206_000015_create_sample_statements::Migration),
            Box::new(m20261206_000016_create_sample_rollups::Migration),
            Box::new(m20261206_000017_create_sample_packs::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new(VERSION_TABLE).into_iden()
    }
}
