//! Dashboard sessions, kept in the application database so several Strata instances share them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(ColumnDef::new(Sessions::Id).string_len(128).not_null().primary_key())
                    .col(ColumnDef::new(Sessions::Data).blob().not_null())
                    .col(ColumnDef::new(Sessions::ExpiryDate).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // The expired-session sweep deletes by expiry date.
        manager
            .create_index(
                Index::create()
                    .name("idx_strata_sessions_expiry_date")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiryDate)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Sessions::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    #[sea_orm(iden = "strata_sessions")]
    Table,
    Id,
    Data,
    ExpiryDate,
}
