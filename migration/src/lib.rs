//! Strata's schema migrations: the seed tables and Strata's own, one migration per file.

pub use sea_orm_migration::prelude::*;

mod m20251122_000001_create_users;
mod m20251122_000002_create_posts;
mod m20251122_000003_create_admin_users;
mod m20251122_000004_create_sessions;
mod m20251122_000005_create_audit_log;
mod m20251122_000006_create_query_history;
mod m20251122_000007_create_api_keys;
mod m20261206_000008_hash_session_ids;
mod m20261206_000009_create_strata_secrets;

/// The migrator `strata migrate` and `strata serve` run, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20251122_000001_create_users::Migration),
            Box::new(m20251122_000002_create_posts::Migration),
            Box::new(m20251122_000003_create_admin_users::Migration),
            Box::new(m20251122_000004_create_sessions::Migration),
            Box::new(m20251122_000005_create_audit_log::Migration),
            Box::new(m20251122_000006_create_query_history::Migration),
            Box::new(m20251122_000007_create_api_keys::Migration),
            Box::new(m20261206_000008_hash_session_ids::Migration),
            Box::new(m20261206_000009_create_strata_secrets::Migration),
        ]
    }
}

/// `id SERIAL PRIMARY KEY` as the seed schema writes it: a real `serial` (sequence + default) on
/// PostgreSQL rather than an identity column, AUTO_INCREMENT / AUTOINCREMENT elsewhere.
pub(crate) fn serial_primary_key<T: IntoIden>(backend: sea_orm::DbBackend, column: T) -> ColumnDef {
    let mut col = ColumnDef::new(column);
    match backend {
        sea_orm::DbBackend::Postgres => col.custom(Alias::new("serial")),
        _ => col.integer().auto_increment(),
    };
    col.not_null().primary_key();
    col
}
