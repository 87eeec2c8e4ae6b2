//! The statement samples: per watched database, the top statements' counters (calls, total time, rows, shared
//! blocks) at each sample, keyed by a small id; the normalized text is stored once per query id in
//! `sample_queries`.
//!
//! As in `samples`, `resolution_s` is 0 for a sample as taken (counters as the server reported them) and 300 or
//! 3600 for the increase over a 5-minute or hourly bucket (rows only for the statements that ran in it).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SampleQueries::Table)
                    .col(ColumnDef::new(SampleQueries::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(SampleQueries::DatabaseName).string_len(63).not_null())
                    // PostgreSQL's queryid as text, or MariaDB/MySQL's digest.
                    .col(ColumnDef::new(SampleQueries::QueryId).string_len(64).not_null())
                    .col(ColumnDef::new(SampleQueries::QueryText).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_sample_queries_id")
                    .table(SampleQueries::Table)
                    .col(SampleQueries::DatabaseName)
                    .col(SampleQueries::QueryId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let counter = |c: SampleStatements| ColumnDef::new(c).big_integer().null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(SampleStatements::Table)
                    .col(ColumnDef::new(SampleStatements::ObjectId).integer().not_null())
                    .col(ColumnDef::new(SampleStatements::ResolutionS).integer().not_null())
                    .col(ColumnDef::new(SampleStatements::AtS).big_integer().not_null())
                    .col(counter(SampleStatements::Calls))
                    // Microseconds, so the counter stays an integer.
                    .col(counter(SampleStatements::TotalUs))
                    .col(counter(SampleStatements::RowsOut))
                    .col(counter(SampleStatements::BlksHit))
                    .col(counter(SampleStatements::BlksRead))
                    .primary_key(
                        Index::create()
                            .col(SampleStatements::ObjectId)
                            .col(SampleStatements::ResolutionS)
                            .col(SampleStatements::AtS),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SampleStatements::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SampleQueries::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum SampleQueries {
    Table,
    Id,
    DatabaseName,
    QueryId,
    QueryText,
}

#[derive(DeriveIden, Clone, Copy)]
enum SampleStatements {
    Table,
    ObjectId,
    ResolutionS,
    AtS,
    Calls,
    TotalUs,
    RowsOut,
    BlksHit,
    BlksRead,
}
