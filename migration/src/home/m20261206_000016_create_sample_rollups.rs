//! The running 5-minute rollups of each watched database's raw samples (`sample_rollups`), kept as the samples
//! arrive so a chart over days of one-minute samples reads one row per 5 minutes instead of five.
//!
//! One row per database, metric and 5-minute bucket (`at_s`, a multiple of 300): how many raw samples count for the
//! metric in the bucket (`n`), the sum and the newest of their times, and sums, never averages, so any bucket made
//! of whole 5-minute ones reads exactly what the raw samples give: for a gauge `value_a` is the sum of its values; for a
//! rate `value_a` is the sum of each sample's reset-aware increase since the sample before it and `secs` the sum of the
//! seconds in between; for the cache hit ratio `value_a` and `value_b` are the blocks hit and read. `metric` is the position of
//! the metric in Strata's list of database-wide metrics. They live as long as the raw samples.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sum = |c: SampleRollups| ColumnDef::new(c).big_integer().null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(SampleRollups::Table)
                    .col(ColumnDef::new(SampleRollups::DatabaseName).string_len(63).not_null())
                    .col(ColumnDef::new(SampleRollups::Metric).integer().not_null())
                    .col(ColumnDef::new(SampleRollups::AtS).big_integer().not_null())
                    .col(ColumnDef::new(SampleRollups::N).big_integer().not_null())
                    .col(ColumnDef::new(SampleRollups::SumAt).big_integer().not_null())
                    .col(ColumnDef::new(SampleRollups::MaxAt).big_integer().not_null())
                    .col(sum(SampleRollups::ValueA))
                    .col(sum(SampleRollups::ValueB))
                    .col(sum(SampleRollups::Secs))
                    .primary_key(
                        Index::create()
                            .col(SampleRollups::DatabaseName)
                            .col(SampleRollups::Metric)
                            .col(SampleRollups::AtS),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SampleRollups::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SampleRollups {
    Table,
    DatabaseName,
    Metric,
    AtS,
    N,
    SumAt,
    MaxAt,
    ValueA,
    ValueB,
    Secs,
}
