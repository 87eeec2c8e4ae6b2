//! Dashboard accounts: argon2id password hashes and one of three roles.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminUsers::Table)
                    .col(ColumnDef::new(AdminUsers::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(AdminUsers::Username).string_len(50).not_null().unique_key())
                    .col(ColumnDef::new(AdminUsers::Email).string_len(255).not_null().unique_key())
                    // An argon2id PHC string ($argon2id$v=19$m=...$salt$hash), never a plain password.
                    .col(ColumnDef::new(AdminUsers::PasswordHash).string_len(255).not_null())
                    .col(
                        ColumnDef::new(AdminUsers::Role)
                            .string_len(16)
                            .not_null()
                            .default("viewer")
                            .check(Expr::col(AdminUsers::Role).is_in(["admin", "editor", "viewer"])),
                    )
                    .col(ColumnDef::new(AdminUsers::IsActive).boolean().not_null().default(true))
                    .col(
                        ColumnDef::new(AdminUsers::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .col(
                        ColumnDef::new(AdminUsers::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .col(ColumnDef::new(AdminUsers::LastLoginAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AdminUsers::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum AdminUsers {
    Table,
    Id,
    Username,
    Email,
    PasswordHash,
    Role,
    IsActive,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}
