//! The trend samples `strata serve` takes of each watched database: one row per database per sample for the
//! database-wide readings (`samples`), and one table per kind of per-object reading (`sample_tables`,
//! `sample_indexes`) whose objects are named once in `sample_objects` and referred to by a small id.
//!
//! `resolution_s` is 0 for a sample as taken, 300 for a 5-minute average and 3600 for an hourly one; `at_s` is Unix
//! seconds (a sample's time, or the start of an average's bucket). Counters (`commits`, `scans`, ...) are stored as
//! the server reported them in a raw sample (rates are computed when read, from the deltas), and as the increase
//! over the bucket in an average (so a stats reset inside the bucket loses nothing). Gauges (sizes, connections)
//! are averaged.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let counter = |c: Samples| ColumnDef::new(c).big_integer().null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(Samples::Table)
                    .col(ColumnDef::new(Samples::DatabaseName).string_len(63).not_null())
                    .col(ColumnDef::new(Samples::ResolutionS).integer().not_null())
                    .col(ColumnDef::new(Samples::AtS).big_integer().not_null())
                    .col(counter(Samples::DbSize))
                    .col(counter(Samples::ConnActive))
                    .col(counter(Samples::ConnIdle))
                    .col(counter(Samples::ConnIdleInTx))
                    .col(counter(Samples::ConnOther))
                    .col(counter(Samples::Commits))
                    .col(counter(Samples::Rollbacks))
                    .col(counter(Samples::Deadlocks))
                    .col(counter(Samples::TempBytes))
                    .col(counter(Samples::TupInserted))
                    .col(counter(Samples::TupUpdated))
                    .col(counter(Samples::TupDeleted))
                    .col(counter(Samples::BlksHit))
                    .col(counter(Samples::BlksRead))
                    // When the server's statistics were last reset and when it started (Unix seconds): a change means
                    // the counters started again from zero.
                    .col(counter(Samples::StatsResetS))
                    .col(counter(Samples::StartedS))
                    .primary_key(Index::create().col(Samples::DatabaseName).col(Samples::ResolutionS).col(Samples::AtS))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SampleObjects::Table)
                    .col(ColumnDef::new(SampleObjects::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(SampleObjects::DatabaseName).string_len(63).not_null())
                    // `table` or `index`.
                    .col(ColumnDef::new(SampleObjects::Kind).string_len(8).not_null())
                    .col(ColumnDef::new(SampleObjects::SchemaName).string_len(128).not_null())
                    .col(ColumnDef::new(SampleObjects::ObjectName).string_len(128).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_sample_objects_name")
                    .table(SampleObjects::Table)
                    .col(SampleObjects::DatabaseName)
                    .col(SampleObjects::Kind)
                    .col(SampleObjects::SchemaName)
                    .col(SampleObjects::ObjectName)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SampleTables::Table)
                    .col(ColumnDef::new(SampleTables::ObjectId).integer().not_null())
                    .col(ColumnDef::new(SampleTables::ResolutionS).integer().not_null())
                    .col(ColumnDef::new(SampleTables::AtS).big_integer().not_null())
                    .col(ColumnDef::new(SampleTables::TotalBytes).big_integer().null())
                    .col(ColumnDef::new(SampleTables::TableBytes).big_integer().null())
                    .col(ColumnDef::new(SampleTables::IndexBytes).big_integer().null())
                    .col(ColumnDef::new(SampleTables::RowsEstimate).big_integer().null())
                    .primary_key(
                        Index::create()
                            .col(SampleTables::ObjectId)
                            .col(SampleTables::ResolutionS)
                            .col(SampleTables::AtS),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SampleIndexes::Table)
                    .col(ColumnDef::new(SampleIndexes::ObjectId).integer().not_null())
                    .col(ColumnDef::new(SampleIndexes::ResolutionS).integer().not_null())
                    .col(ColumnDef::new(SampleIndexes::AtS).big_integer().not_null())
                    .col(ColumnDef::new(SampleIndexes::Scans).big_integer().null())
                    .primary_key(
                        Index::create()
                            .col(SampleIndexes::ObjectId)
                            .col(SampleIndexes::ResolutionS)
                            .col(SampleIndexes::AtS),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SampleIndexes::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SampleTables::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SampleObjects::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Samples::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Samples {
    Table,
    DatabaseName,
    ResolutionS,
    AtS,
    DbSize,
    ConnActive,
    ConnIdle,
    ConnIdleInTx,
    ConnOther,
    Commits,
    Rollbacks,
    Deadlocks,
    TempBytes,
    TupInserted,
    TupUpdated,
    TupDeleted,
    BlksHit,
    BlksRead,
    StatsResetS,
    StartedS,
}

#[derive(DeriveIden)]
enum SampleObjects {
    Table,
    Id,
    DatabaseName,
    Kind,
    SchemaName,
    ObjectName,
}

#[derive(DeriveIden)]
enum SampleTables {
    Table,
    ObjectId,
    ResolutionS,
    AtS,
    TotalBytes,
    TableBytes,
    IndexBytes,
    RowsEstimate,
}

#[derive(DeriveIden)]
enum SampleIndexes {
    Table,
    ObjectId,
    ResolutionS,
    AtS,
    Scans,
}
