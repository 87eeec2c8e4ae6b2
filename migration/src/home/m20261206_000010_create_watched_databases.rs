//! The watch list kept in the home database: the databases admins added on the Databases page.
//!
//! A password given on that page is not stored here: it is sealed in `strata_secrets` under `watch:<name>`,
//! so `url` holds the URL without it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WatchedDatabases::Table)
                    // Lower-case letters, digits, `_` and `-`; at most 63 characters (the `/db/{name}` in URLs).
                    .col(ColumnDef::new(WatchedDatabases::Name).string_len(63).not_null().primary_key())
                    // The URL as written, password removed (it is sealed in `strata_secrets`).
                    .col(ColumnDef::new(WatchedDatabases::Url).text().not_null())
                    .col(ColumnDef::new(WatchedDatabases::ReadOnly).boolean().not_null().default(false))
                    .col(ColumnDef::new(WatchedDatabases::ViewerUrl).text().null())
                    .col(ColumnDef::new(WatchedDatabases::BackupDir).text().null())
                    .col(ColumnDef::new(WatchedDatabases::GroupName).string_len(63).null())
                    .col(
                        ColumnDef::new(WatchedDatabases::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .col(
                        ColumnDef::new(WatchedDatabases::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WatchedDatabases::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum WatchedDatabases {
    Table,
    Name,
    Url,
    ReadOnly,
    ViewerUrl,
    BackupDir,
    GroupName,
    CreatedAt,
    UpdatedAt,
}
