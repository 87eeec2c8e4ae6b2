//! The verification report after a restore and for `strata verify`: rows per table, keys, indexes, migration state.

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;

use crate::config::DatabaseUrl;
use crate::db::introspect::{self, IndexQuery, TableQuery, TableSort};
use crate::error::Result;
use crate::migrate::{self, MigrationSet};

/// One table and its exact row count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableRows {
    pub schema: String,
    pub name: String,
    pub rows: i64,
}

/// What a database holds, as far as a restore can be judged by it.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The database URL, password masked.
    pub database: String,
    pub tables: Vec<TableRows>,
    pub foreign_keys: usize,
    pub indexes: usize,
    /// `alembic_version`'s head, `None` at base or without the table.
    pub alembic_head: Option<String>,
    /// The newest migration `seaql_migrations` records as applied.
    pub migrator_head: Option<String>,
    /// Migrations of this build not applied to the database.
    pub pending: Vec<String>,
    /// Migrations the database records that this build does not know (a backup from a newer build).
    pub unknown: Vec<String>,
    /// Backend-specific checks (SQLite's integrity_check and foreign_key_check).
    pub checks: Vec<(String, String)>,
}

/// Every table with its exact row count (`count(*)`, not the catalog's estimate).
pub async fn tables(db: &DatabaseConnection) -> Result<Vec<TableRows>> {
    let introspector = introspect::for_connection(db.clone())?;
    let query =
        TableQuery { sort: TableSort::Name, descending: false, search: None, offset: 0, limit: i64::MAX as u64 };
    let mut out = Vec::new();
    for t in introspector.tables(&query).await?.items {
        out.push(TableRows { rows: row_count(db, &t.schema, &t.name).await?, schema: t.schema, name: t.name });
    }
    Ok(out)
}

/// `SELECT count(*) FROM "schema"."table"`, the names quoted by the query builder for this backend.
async fn row_count(db: &DatabaseConnection, schema: &str, table: &str) -> Result<i64> {
    let query = Query::select()
        .expr_as(Expr::cust("count(*)"), Alias::new("n"))
        .from((Alias::new(schema), Alias::new(table)))
        .to_owned();
    let row = db.query_one(&query).await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0))
}

/// The number of foreign keys and indexes, as the report counts them.
pub async fn shape(db: &DatabaseConnection) -> Result<(usize, usize)> {
    let introspector = introspect::for_connection(db.clone())?;
    let mut foreign_keys = 0;
    for t in tables(db).await? {
        if let Some(detail) = introspector.table(&t.schema, &t.name).await? {
            foreign_keys += detail.references.len();
        }
    }
    let indexes = introspector.indexes(&IndexQuery { limit: 1, ..IndexQuery::default() }).await?.total as usize;
    Ok((foreign_keys, indexes))
}

/// Builds the report.
pub(super) async fn report(
    db: &DatabaseConnection,
    url: &DatabaseUrl,
    set: &MigrationSet,
    engine: &dyn super::Engine,
) -> Result<Report> {
    let introspector = introspect::for_connection(db.clone())?;
    let tables = tables(db).await?;
    let mut foreign_keys = 0;
    for t in &tables {
        if let Some(detail) = introspector.table(&t.schema, &t.name).await? {
            foreign_keys += detail.references.len();
        }
    }
    let indexes = introspector.indexes(&IndexQuery { limit: 1, ..IndexQuery::default() }).await?.total as usize;
    let status = migrate::status(db, set).await?;
    let alembic_head = migrate::current(db).await?;
    let migrator_head = status.iter().rfind(|m| m.applied).map(|m| m.revision.clone());
    let pending = status.iter().filter(|m| !m.applied).map(|m| m.revision.clone()).collect();
    let unknown = status.iter().filter(|m| m.state == "unknown").map(|m| m.revision.clone()).collect();
    let checks = engine.checks(db).await?;
    Ok(Report {
        database: url.masked(),
        tables,
        foreign_keys,
        indexes,
        alembic_head,
        migrator_head,
        pending,
        unknown,
        checks,
    })
}
