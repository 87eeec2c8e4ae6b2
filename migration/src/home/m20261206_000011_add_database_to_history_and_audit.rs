//! `query_history` and `audit_log` name the watched database a row concerns (`NULL`: none, e.g. a sign-in).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(QueryHistory::Table)
                    .add_column(ColumnDef::new(QueryHistory::DatabaseName).string_len(63).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .add_column(ColumnDef::new(AuditLog::DatabaseName).string_len(63).null())
                    .to_owned(),
            )
            .await?;
        // History and audit filter by database, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_query_history_database_timestamp")
                    .table(QueryHistory::Table)
                    .col(QueryHistory::DatabaseName)
                    .col(QueryHistory::Timestamp)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_database_occurred_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::DatabaseName)
                    .col(AuditLog::OccurredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_audit_log_database_occurred_at").table(AuditLog::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop().name("idx_query_history_database_timestamp").table(QueryHistory::Table).to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table(AuditLog::Table).drop_column(AuditLog::DatabaseName).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(QueryHistory::Table).drop_column(QueryHistory::DatabaseName).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum QueryHistory {
    Table,
    Timestamp,
    DatabaseName,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    OccurredAt,
    DatabaseName,
}
