//! `bench-strata`: the full Strata CLI over a synthetic migrator of `STRATA_BENCH_N` small-table migrations.
#![forbid(unsafe_code)]

use sea_orm_migration::prelude::*;

/// How many migrations the synthetic migrator has when `STRATA_BENCH_N` is unset.
const DEFAULT_N: usize = 500;

/// The synthetic migrator: migration `i` (1-based) creates `bench_t{i:04}` with one index.
struct BenchMigrator;

#[async_trait::async_trait]
impl MigratorTrait for BenchMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let n = std::env::var("STRATA_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_N);
        (1..=n).map(|i| Box::new(BenchTable::new(i)) as Box<dyn MigrationTrait>).collect()
    }
}

/// One synthetic migration; kept to an index and its name so building 500 of them costs nothing.
struct BenchTable {
    index: usize,
    name: String,
}

impl BenchTable {
    fn new(index: usize) -> Self {
        // `m<date>_<seq>` is the revision the runner keeps in alembic_version.
        BenchTable { index, name: format!("m20000101_{index:06}_bench_table") }
    }

    fn table(&self) -> Alias {
        Alias::new(format!("bench_t{:04}", self.index))
    }
}

impl MigrationName for BenchTable {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for BenchTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(self.table())
                    .col(ColumnDef::new(Bench::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Bench::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Bench::Amount).integer())
                    .col(ColumnDef::new(Bench::CreatedAt).timestamp().default(Expr::current_timestamp()))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(format!("idx_bench_t{:04}_name", self.index))
                    .table(self.table())
                    .col(Bench::Name)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(self.table()).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Bench {
    Id,
    Name,
    Amount,
    CreatedAt,
}

fn main() -> std::process::ExitCode {
    strata::cli::main::<BenchMigrator>()
}
