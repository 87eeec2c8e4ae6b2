//! Per-tool history readers: each reads its tool's version table (the newest [`HISTORY_LIMIT`] rows, the total
//! counted) into a [`ToolHistory`] with the troubles the tool records.
//!
//! Every column is read through a cast to text or a 64-bit integer on all three engines (times as text: the stored
//! text, or seconds since the epoch on PostgreSQL), so one reader serves PostgreSQL, MariaDB and SQLite and each
//! cell is decoded once, as the type its cast gives; table and column names come from the catalog and are quoted,
//! the row limit is bound.

mod flyway;
mod knex;
mod liquibase;
mod prisma;
mod versions;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};

use super::detect::{Found, Table};
use super::{HISTORY_LIMIT, Tool, ToolHistory};
use crate::error::{Error, Result};
use crate::migrate::MigrationSet;

/// Reads one found tool's history. `set` is this build's migrations, for Strata's own migrator on the project
/// database.
pub async fn read(db: &DatabaseConnection, found: &Found, set: Option<&MigrationSet>) -> Result<ToolHistory> {
    let sql = Sql::new(db, &found.table)?;
    let mut history =
        ToolHistory::new(found.tool, Some(found.table.schema.clone()), &found.table.name, found.reason.clone());
    match found.tool {
        Tool::Flyway => flyway::read(&sql, &mut history).await?,
        Tool::Prisma => prisma::read(&sql, &mut history).await?,
        Tool::Liquibase => liquibase::read(&sql, found.companion.as_ref(), &mut history).await?,
        Tool::Knex => knex::read(&sql, found.companion.as_ref(), &mut history).await?,
        Tool::GolangMigrate => versions::golang_migrate(&sql, &mut history).await?,
        Tool::Goose => versions::goose(&sql, &mut history).await?,
        Tool::Alembic => versions::alembic(&sql, &mut history).await?,
        Tool::Strata => versions::strata(&sql, db, set, &mut history).await?,
        Tool::Dbmate | Tool::Rails | Tool::Diesel | Tool::Seaorm | Tool::Django | Tool::Typeorm | Tool::Sequelize => {
            versions::list(&sql, &mut history).await?
        }
    }
    Ok(history)
}

/// Reads of one table: quoting, casts and decoding for its engine.
pub(crate) struct Sql<'a> {
    db: &'a DatabaseConnection,
    backend: DbBackend,
    table: &'a Table,
}

impl<'a> Sql<'a> {
    fn new(db: &'a DatabaseConnection, table: &'a Table) -> Result<Sql<'a>> {
        let backend = db.get_database_backend();
        if !matches!(backend, DbBackend::Postgres | DbBackend::MySql | DbBackend::Sqlite) {
            return Err(Error::Unsupported(format!("{backend:?}")));
        }
        Ok(Sql { db, backend, table })
    }

    /// A quoted identifier.
    fn ident(&self, name: &str) -> String {
        match self.backend {
            DbBackend::MySql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// The table, schema-qualified and quoted.
    fn table_ref(&self) -> String {
        self.table_name(self.table)
    }

    fn table_name(&self, table: &Table) -> String {
        format!("{}.{}", self.ident(&table.schema), self.ident(&table.name))
    }

    /// A column of the table (named case-insensitively), quoted; `NULL` when the table lacks it (older versions
    /// of a tool have fewer columns).
    fn col(&self, name: &str) -> String {
        self.col_of(self.table, name)
    }

    fn col_of(&self, table: &Table, name: &str) -> String {
        table.column(name).map(|c| self.ident(c)).unwrap_or_else(|| "NULL".into())
    }

    /// The column as text.
    fn text(&self, name: &str) -> String {
        self.text_of(self.table, name)
    }

    fn text_of(&self, table: &Table, name: &str) -> String {
        let c = self.col_of(table, name);
        match self.backend {
            DbBackend::MySql => format!("CAST({c} AS CHAR)"),
            _ => format!("CAST({c} AS TEXT)"),
        }
    }

    /// The column as a 64-bit integer.
    fn int(&self, name: &str) -> String {
        self.int_of(self.table, name)
    }

    fn int_of(&self, table: &Table, name: &str) -> String {
        let c = self.col_of(table, name);
        match self.backend {
            DbBackend::Postgres => format!("CAST({c} AS BIGINT)"),
            DbBackend::MySql => format!("CAST({c} AS SIGNED)"),
            _ => format!("CAST({c} AS INTEGER)"),
        }
    }

    /// A boolean column as 1, 0 or NULL (booleans are `boolean`, `tinyint(1)`, `bit(1)` or integers), a 64-bit
    /// integer like [`Sql::int`].
    fn flag(&self, name: &str) -> String {
        self.flag_of(self.table, name)
    }

    fn flag_of(&self, table: &Table, name: &str) -> String {
        let c = self.col_of(table, name);
        let case = format!("CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN 1 ELSE 0 END");
        match self.backend {
            DbBackend::Postgres => format!("CAST({case} AS BIGINT)"),
            DbBackend::MySql => format!("CAST({case} AS SIGNED)"),
            _ => format!("CAST({case} AS INTEGER)"),
        }
    }

    /// A time column as text [`parse_time`] reads: seconds since the epoch on PostgreSQL, the stored text or
    /// number elsewhere (MariaDB's DATETIME is read as written, taken as UTC; SQLite's text, seconds or
    /// milliseconds as text).
    fn time(&self, name: &str) -> String {
        self.time_of(self.table, name)
    }

    fn time_of(&self, table: &Table, name: &str) -> String {
        let c = self.col_of(table, name);
        match self.backend {
            DbBackend::Postgres => format!("CAST(EXTRACT(EPOCH FROM {c}) AS TEXT)"),
            DbBackend::MySql => format!("CAST({c} AS CHAR)"),
            _ => format!("CAST({c} AS TEXT)"),
        }
    }

    /// `SELECT columns FROM table ORDER BY order LIMIT ?` with the history limit bound.
    async fn newest(&self, columns: &[String], order: &str) -> Result<Vec<QueryResult>> {
        let limit = match self.backend {
            DbBackend::Postgres => "$1",
            _ => "?",
        };
        let sql = format!("SELECT {} FROM {} ORDER BY {order} LIMIT {limit}", columns.join(", "), self.table_ref());
        self.rows(sql, vec![(HISTORY_LIMIT as i64).into()]).await
    }

    /// How many rows the table holds.
    async fn count(&self) -> Result<i64> {
        let rows = self.rows(format!("SELECT COUNT(*) FROM {}", self.table_ref()), Vec::new()).await?;
        Ok(rows.first().and_then(|r| int(r, 0)).unwrap_or(0))
    }

    async fn rows(&self, sql: String, values: Vec<Value>) -> Result<Vec<QueryResult>> {
        Ok(self.db.query_all_raw(Statement::from_sql_and_values(self.backend, sql, values)).await?)
    }
}

/// A text column ([`Sql::text`], [`Sql::time`] or `NULL`).
fn text(r: &QueryResult, i: usize) -> Option<String> {
    r.try_get_by_index::<Option<String>>(i).ok().flatten()
}

/// A 64-bit integer column ([`Sql::int`], [`Sql::flag`] or `COUNT(*)`).
fn int(r: &QueryResult, i: usize) -> Option<i64> {
    r.try_get_by_index::<Option<i64>>(i).ok().flatten()
}

/// A 0/1 flag ([`Sql::flag`]) as a bool.
fn flag(r: &QueryResult, i: usize) -> Option<bool> {
    int(r, i).map(|v| v != 0)
}

/// A time column ([`Sql::time`], or a [`Sql::text`] of seconds or milliseconds since the epoch).
fn time(r: &QueryResult, i: usize) -> Option<DateTime<Utc>> {
    text(r, i).and_then(|s| parse_time(&s))
}

fn epoch(v: i64) -> Option<DateTime<Utc>> {
    // Beyond the year 5138 in seconds means milliseconds.
    if v.abs() > 100_000_000_000 { Utc.timestamp_millis_opt(v).single() } else { Utc.timestamp_opt(v, 0).single() }
}

/// Parses the time texts the engines and tools write.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(v) = s.parse::<i64>() {
        return epoch(v);
    }
    // Seconds with a fraction (PostgreSQL's epoch, a REAL in SQLite).
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && let Ok(f) = s.parse::<f64>()
    {
        return Utc.timestamp_micros((f * 1e6).round() as i64).single();
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f %z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_shape_the_tools_write_are_read_as_utc() {
        let want = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap();
        for s in [
            "2024-03-01 12:00:00",
            "2024-03-01T12:00:00.000Z",
            "2024-03-01 13:00:00+01",
            "1709294400",
            "1709294400000",
            "1709294400.000000",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }
}
