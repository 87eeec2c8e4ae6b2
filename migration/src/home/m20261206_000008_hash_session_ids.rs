//! Session ids are kept as their SHA-256: the plain-text ids stored before are deleted, and everyone signs in again.
//!
//! Until this migration `strata_sessions.id` held the cookie's session id itself, and any query that could
//! read the table (a viewer's run in the query editor did) could sign in as anyone, admins included. Those
//! ids may have leaked, so they are not converted: every existing session ends and every account signs in
//! again once. The `id` column (`VARCHAR(128)`) already holds the 64 hex characters of a SHA-256.
//! `down` deletes the hashed rows the same way, since a build that looks ids up in plain text cannot use them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        end_every_session(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        end_every_session(manager).await
    }
}

async fn end_every_session(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.exec_stmt(Query::delete().from_table(Sessions::Table).to_owned()).await
}

#[derive(DeriveIden)]
enum Sessions {
    #[sea_orm(iden = "strata_sessions")]
    Table,
}
