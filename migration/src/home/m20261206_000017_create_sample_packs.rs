//! The per-object trend samples packed (`sample_packs`): one row per watched database, kind of object (1 tables,
//! 2 indexes), resolution and sample time, holding in one binary value what changed for that kind's objects since
//! the row before (Strata's `home::samples::packed` says how it is encoded), instead of a row per object per
//! sample in `sample_tables` and `sample_indexes`. Strata moves the rows of those two tables into this one when it
//! migrates its home database (after the migrations ran: the encoding is Strata's, not the migration's); the tables
//! stay, empty, for an older Strata after `down`, which drops the packed samples with their history.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut data = ColumnDef::new(SamplePacks::Data);
        // MariaDB's BLOB stops at 64 KiB; a key row of a database with thousands of tables is larger.
        match manager.get_database_backend() {
            DbBackend::MySql => data.custom(Alias::new("LONGBLOB")),
            _ => data.blob(),
        };
        manager
            .create_table(
                Table::create()
                    .table(SamplePacks::Table)
                    .col(ColumnDef::new(SamplePacks::DatabaseName).string_len(63).not_null())
                    .col(ColumnDef::new(SamplePacks::Kind).small_integer().not_null())
                    .col(ColumnDef::new(SamplePacks::ResolutionS).integer().not_null())
                    .col(ColumnDef::new(SamplePacks::AtS).big_integer().not_null())
                    .col(data.not_null())
                    .primary_key(
                        Index::create()
                            .col(SamplePacks::DatabaseName)
                            .col(SamplePacks::Kind)
                            .col(SamplePacks::ResolutionS)
                            .col(SamplePacks::AtS),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SamplePacks::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum SamplePacks {
    Table,
    DatabaseName,
    Kind,
    ResolutionS,
    AtS,
    Data,
}
