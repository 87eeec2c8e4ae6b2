//! The query history: one row per statement run through the query editor, whatever its outcome.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // MySQL's TEXT holds 64 KiB; a query may be longer (Strata keeps up to 100,000 characters).
        let mut query = ColumnDef::new(QueryHistory::Query);
        match manager.get_database_backend() {
            sea_orm::DbBackend::MySql => query.custom(Alias::new("mediumtext")),
            _ => query.text(),
        };
        query.not_null();
        manager
            .create_table(
                Table::create()
                    .table(QueryHistory::Table)
                    .col(ColumnDef::new(QueryHistory::Id).big_integer().not_null().auto_increment().primary_key())
                    // The statements of one run share a batch id; `statement_index` orders them (from 0).
                    .col(ColumnDef::new(QueryHistory::BatchId).string_len(36).null())
                    .col(ColumnDef::new(QueryHistory::StatementIndex).integer().not_null().default(0))
                    .col(query)
                    // Milliseconds.
                    .col(ColumnDef::new(QueryHistory::ExecutionTime).big_integer().not_null())
                    // No foreign key: the history outlives the accounts (and API keys) it names.
                    .col(ColumnDef::new(QueryHistory::User).string_len(64).not_null())
                    .col(
                        ColumnDef::new(QueryHistory::Timestamp)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    // success | error | cancelled | timeout
                    .col(ColumnDef::new(QueryHistory::Status).string_len(16).not_null())
                    // Rows returned or affected, when known.
                    .col(ColumnDef::new(QueryHistory::RowCount).big_integer().null())
                    .col(ColumnDef::new(QueryHistory::Error).text().null())
                    .col(ColumnDef::new(QueryHistory::MigrationHead).string_len(255).null())
                    .col(ColumnDef::new(QueryHistory::ClientAddr).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        // The history page lists one user's runs newest first (or everyone's), and filters by status.
        manager
            .create_index(
                Index::create()
                    .name("idx_query_history_user_timestamp")
                    .table(QueryHistory::Table)
                    .col(QueryHistory::User)
                    .col(QueryHistory::Timestamp)
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_query_history_timestamp", QueryHistory::Timestamp),
            ("idx_query_history_status", QueryHistory::Status),
            ("idx_query_history_batch_id", QueryHistory::BatchId),
        ] {
            manager.create_index(Index::create().name(name).table(QueryHistory::Table).col(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(QueryHistory::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum QueryHistory {
    Table,
    Id,
    BatchId,
    StatementIndex,
    Query,
    ExecutionTime,
    User,
    Timestamp,
    Status,
    RowCount,
    Error,
    MigrationHead,
    ClientAddr,
}
