//! A migration made of plain SQL per backend, for crafting migrators in tests (`#[path]`-included by the test
//! files that need it).
#![allow(dead_code)] // each test file uses a part of it

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

/// Runs its statements for the connection's backend, one `execute_unprepared` each.
#[derive(Default)]
pub struct SqlMigration {
    name: String,
    postgres: Vec<String>,
    mysql: Vec<String>,
    sqlite: Vec<String>,
    down: Vec<String>,
    outside_transaction: bool,
}

impl SqlMigration {
    pub fn new(name: &str) -> Self {
        SqlMigration { name: name.to_string(), ..Default::default() }
    }

    /// The same statements on every backend.
    pub fn all(self, sql: &[&str]) -> Self {
        self.postgres(sql).mysql(sql).sqlite(sql)
    }

    pub fn postgres(mut self, sql: &[&str]) -> Self {
        self.postgres = sql.iter().map(|s| String::from(*s)).collect();
        self
    }

    pub fn mysql(mut self, sql: &[&str]) -> Self {
        self.mysql = sql.iter().map(|s| String::from(*s)).collect();
        self
    }

    pub fn sqlite(mut self, sql: &[&str]) -> Self {
        self.sqlite = sql.iter().map(|s| String::from(*s)).collect();
        self
    }

    pub fn down(mut self, sql: &[&str]) -> Self {
        self.down = sql.iter().map(|s| String::from(*s)).collect();
        self
    }

    /// Runs outside a transaction (`use_transaction() == Some(false)`), as `CREATE INDEX CONCURRENTLY` needs.
    pub fn outside_transaction(mut self) -> Self {
        self.outside_transaction = true;
        self
    }

    pub fn boxed(self) -> Box<dyn MigrationTrait> {
        Box::new(self)
    }
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = m.get_connection();
        let sql = match c.get_database_backend() {
            DbBackend::Postgres => &self.postgres,
            DbBackend::MySql => &self.mysql,
            _ => &self.sqlite,
        };
        for s in sql {
            c.execute_unprepared(s).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for s in &self.down {
            m.get_connection().execute_unprepared(s).await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        self.outside_transaction.then_some(false)
    }
}
