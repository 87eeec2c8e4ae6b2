//! `migration_runs`: each migration run started from the dashboard or the API, its steps and its impact report.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MigrationRuns::Table)
                    .col(ColumnDef::new(MigrationRuns::Id).big_integer().not_null().auto_increment().primary_key())
                    // The watched database (the project database) it ran on.
                    .col(ColumnDef::new(MigrationRuns::DatabaseName).string_len(63).not_null())
                    // `up`, `down` or `stamp`.
                    .col(ColumnDef::new(MigrationRuns::Action).string_len(16).not_null())
                    // What the run aimed at, as asked: `all`, `n=2`, `to=m2025..`, `base`.
                    .col(ColumnDef::new(MigrationRuns::Target).string_len(64).not_null())
                    .col(ColumnDef::new(MigrationRuns::Actor).string_len(255).not_null())
                    // `running`, `succeeded`, `failed` or `cancelled`.
                    .col(ColumnDef::new(MigrationRuns::State).string_len(16).not_null())
                    .col(ColumnDef::new(MigrationRuns::StartedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(MigrationRuns::FinishedAt).timestamp_with_time_zone().null())
                    // JSON: one object per migration (revision, name, state, duration_ms, error).
                    .col(ColumnDef::new(MigrationRuns::Steps).text().not_null())
                    .col(ColumnDef::new(MigrationRuns::Error).text().null())
                    // JSON: per migration, the relations before and after and what changed.
                    .col(ColumnDef::new(MigrationRuns::Impact).text().null())
                    .to_owned(),
            )
            .await?;
        // The page lists a database's runs, newest first.
        manager
            .create_index(
                Index::create()
                    .name("migration_runs_database_started")
                    .table(MigrationRuns::Table)
                    .col(MigrationRuns::DatabaseName)
                    .col(MigrationRuns::StartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(MigrationRuns::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum MigrationRuns {
    Table,
    Id,
    DatabaseName,
    Action,
    Target,
    Actor,
    State,
    StartedAt,
    FinishedAt,
    Steps,
    Error,
    Impact,
}
