//! Schema migrations, one per file: the example project's (`users`, `posts`), which `strata migrate` runs on
//! the project database, and Strata's own state in [`home`], which only ever goes into the home database.

pub use sea_orm_migration::prelude::*;

pub mod home;
mod m20251122_000001_create_users;
mod m20251122_000002_create_posts;

pub use home::HomeMigrator;

/// The example project's migrator: what `strata migrate` runs on the project database, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20251122_000001_create_users::Migration), Box::new(m20251122_000002_create_posts::Migration)]
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
