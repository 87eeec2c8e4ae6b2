//! SeaORM entities for the seed tables and Strata's own tables; no logic lives here.

pub mod admin_users;
pub mod alembic_version;
pub mod api_keys;
pub mod audit_log;
pub mod migration_runs;
pub mod migrations_log;
pub mod posts;
pub mod query_history;
pub mod sessions;
pub mod strata_secrets;
pub mod users;
pub mod watched_databases;
