//! API keys: bearer credentials for `/api`, each owned by an account, with a role, scopes and an optional expiry.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(ColumnDef::new(ApiKeys::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(ApiKeys::Name).string_len(100).not_null())
                    // The key's public part (`strata_<prefix>_...`): shown for recognition, and how a key is found.
                    .col(ColumnDef::new(ApiKeys::Prefix).string_len(16).not_null().unique_key())
                    // Lower-case hex SHA-256 of the secret part; the secret itself is never stored.
                    .col(ColumnDef::new(ApiKeys::Hash).string_len(64).not_null())
                    .col(ColumnDef::new(ApiKeys::OwnerId).integer().not_null())
                    .col(
                        ColumnDef::new(ApiKeys::Role)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(ApiKeys::Role).is_in(["admin", "editor", "viewer"])),
                    )
                    // Space-separated scope names (`read_catalog run_sql ...`); empty means none.
                    .col(ColumnDef::new(ApiKeys::Scopes).string_len(255).not_null().default(""))
                    .col(
                        ColumnDef::new(ApiKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .col(ColumnDef::new(ApiKeys::ExpiresAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(ApiKeys::LastUsedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(ApiKeys::RevokedAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_owner")
                            .from(ApiKeys::Table, ApiKeys::OwnerId)
                            .to(AdminUsers::Table, AdminUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The keys page lists one owner's keys.
        manager
            .create_index(
                Index::create().name("idx_api_keys_owner_id").table(ApiKeys::Table).col(ApiKeys::OwnerId).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ApiKeys::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Prefix,
    Hash,
    OwnerId,
    Role,
    Scopes,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AdminUsers {
    Table,
    Id,
}
