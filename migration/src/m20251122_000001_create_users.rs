//! The seed project's `users` table with its two indexes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(crate::serial_primary_key(manager.get_database_backend(), Users::Id))
                    .col(ColumnDef::new(Users::Username).string_len(50).not_null().unique_key())
                    .col(ColumnDef::new(Users::Email).string_len(100).not_null().unique_key())
                    .col(ColumnDef::new(Users::IsActive).boolean().default(true))
                    .col(ColumnDef::new(Users::CreatedAt).timestamp().default(Expr::current_timestamp()))
                    .col(ColumnDef::new(Users::UpdatedAt).timestamp().default(Expr::current_timestamp()))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_users_username").table(Users::Table).col(Users::Username).to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("idx_users_email").table(Users::Table).col(Users::Email).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
    Username,
    Email,
    IsActive,
    CreatedAt,
    UpdatedAt,
}
