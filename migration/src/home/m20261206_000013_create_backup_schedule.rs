//! Scheduled backups across instances sharing one home database: the scheduler's lease, one row per scheduled run
//! (unique per database, kind and scheduled time, so two instances can never both run it), and the schedules admins
//! set on the Backups page (they override the configuration's `backup_schedule`). Times are Unix milliseconds, UTC.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StrataLeases::Table)
                    .col(ColumnDef::new(StrataLeases::Name).string_len(63).not_null().primary_key())
                    // The instance holding it: host, process id and a random part.
                    .col(ColumnDef::new(StrataLeases::Holder).string_len(128).not_null())
                    .col(ColumnDef::new(StrataLeases::ExpiresAtMs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BackupRuns::Table)
                    .col(ColumnDef::new(BackupRuns::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(BackupRuns::DatabaseName).string_len(63).not_null())
                    // `backup` or `restore_test`.
                    .col(ColumnDef::new(BackupRuns::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(BackupRuns::ScheduledAtMs).big_integer().not_null())
                    .col(ColumnDef::new(BackupRuns::Instance).string_len(128).not_null())
                    .col(ColumnDef::new(BackupRuns::StartedAtMs).big_integer().not_null())
                    .col(ColumnDef::new(BackupRuns::FinishedAtMs).big_integer().null())
                    // `succeeded`, `failed` or `skipped`; NULL while it runs.
                    .col(ColumnDef::new(BackupRuns::Outcome).string_len(16).null())
                    .col(ColumnDef::new(BackupRuns::Detail).text().null())
                    .to_owned(),
            )
            .await?;
        // The claim: inserting a run another instance inserted first fails on this index.
        manager
            .create_index(
                Index::create()
                    .name("uq_backup_runs_database_kind_scheduled")
                    .table(BackupRuns::Table)
                    .col(BackupRuns::DatabaseName)
                    .col(BackupRuns::Kind)
                    .col(BackupRuns::ScheduledAtMs)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BackupSchedules::Table)
                    .col(ColumnDef::new(BackupSchedules::DatabaseName).string_len(63).not_null().primary_key())
                    // A schedule as `backup_schedule` takes it, or `off`.
                    .col(ColumnDef::new(BackupSchedules::Schedule).string_len(255).not_null())
                    .col(ColumnDef::new(BackupSchedules::UpdatedBy).string_len(64).not_null())
                    .col(ColumnDef::new(BackupSchedules::UpdatedAtMs).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(BackupSchedules::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(BackupRuns::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(StrataLeases::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum StrataLeases {
    Table,
    Name,
    Holder,
    ExpiresAtMs,
}

#[derive(DeriveIden)]
enum BackupRuns {
    Table,
    Id,
    DatabaseName,
    Kind,
    ScheduledAtMs,
    Instance,
    StartedAtMs,
    FinishedAtMs,
    Outcome,
    Detail,
}

#[derive(DeriveIden)]
enum BackupSchedules {
    Table,
    DatabaseName,
    Schedule,
    UpdatedBy,
    UpdatedAtMs,
}
