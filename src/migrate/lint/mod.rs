//! Lint of the SQL a migration plan would run: the rules DBAs know from squawk and strong_migrations, per
//! statement, with the reason, the safer form, and whether the statement drops or rewrites data.
//!
//! Statements are read by a small tokenizer ([`lexer`]) that keeps quoted names, strings and comments apart from
//! keywords, so `CREATE INDEX "drop table" ...` or a `-- DROP COLUMN` comment never trips a rule.

mod lexer;
mod parse;
mod rules;

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseExecutor, DbBackend, Statement};
use serde::Serialize;

use super::{Action, MigrationSet, State, Steps, dry_run};
use crate::config::Backend;
use crate::error::Result;

/// Above this many rows (the catalog's estimate) a statement that blocks writes while it scans the table is an
/// error; at or below it, a warning.
pub const ROWS_THRESHOLD: u64 = 10_000;

/// How bad a finding is: an error makes `strata migrate lint` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// One rule that fired on one statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// The migration's revision (`m20251122_000001`).
    pub migration: String,
    /// The statement's number in the migration's list, from 1.
    pub statement: usize,
    /// The rule's name, as squawk or strong_migrations call it where they have it (`ban-drop-column`).
    pub rule: &'static str,
    pub level: Level,
    /// What the statement does wrong, with the table's row estimate where it matters.
    pub message: String,
    /// How to get the same result safely.
    pub safer: String,
    /// The statement drops or rewrites data: the dashboard asks for a typed confirmation.
    pub destructive: bool,
}

/// One planned migration: the statements it would run (as `--sql` shows them, one per entry) and what the
/// rules say about them.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MigrationLint {
    pub revision: String,
    pub name: String,
    pub label: String,
    pub statements: Vec<String>,
    pub findings: Vec<Finding>,
}

/// The lint of a whole plan.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `postgres`, `mysql` or `sqlite`.
    pub backend: &'static str,
    /// `upgrade`, `downgrade` or `stamp`.
    pub action: &'static str,
    /// The row estimate above which a blocking scan is an error.
    pub rows_threshold: u64,
    pub migrations: Vec<MigrationLint>,
}

impl Report {
    /// Every finding, migration by migration.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.migrations.iter().flat_map(|m| m.findings.iter())
    }

    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings().filter(|f| f.level == Level::Error).count()
    }

    /// How many findings are warnings.
    pub fn warnings(&self) -> usize {
        self.findings().filter(|f| f.level == Level::Warning).count()
    }

    /// Whether some statement drops or rewrites data.
    pub fn destructive(&self) -> bool {
        self.findings().any(|f| f.destructive)
    }
}

/// Row estimates per table, read from the catalog: PostgreSQL `pg_class.reltuples`, MariaDB
/// `information_schema.TABLES.TABLE_ROWS`, SQLite `sqlite_stat1` (after `ANALYZE`; none otherwise).
#[derive(Clone, Debug, Default)]
pub struct TableFacts {
    rows: HashMap<String, u64>,
}

impl TableFacts {
    /// Knows nothing: every table's size is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Says `table` has about `rows` rows.
    pub fn with(mut self, table: &str, rows: u64) -> Self {
        self.rows.insert(table.to_lowercase(), rows);
        self
    }

    /// The estimate for `table`, when the catalog has one (names compare case-insensitively).
    pub fn rows(&self, table: &str) -> Option<u64> {
        self.rows.get(&table.to_lowercase()).copied()
    }

    /// Reads every table's estimate in the current schema with one catalog query.
    pub async fn read<C: ConnectionTrait>(db: &C) -> Result<TableFacts> {
        let backend = db.get_database_backend();
        let sql = match backend {
            // reltuples is -1 for a table never analyzed or vacuumed (PostgreSQL 14+): unknown, not empty.
            DbBackend::Postgres => {
                "SELECT c.relname::text AS name, c.reltuples::bigint AS n FROM pg_class c \
                 JOIN pg_namespace s ON s.oid = c.relnamespace \
                 WHERE s.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.reltuples >= 0"
            }
            DbBackend::MySql => {
                "SELECT TABLE_NAME AS name, CAST(TABLE_ROWS AS SIGNED) AS n FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_ROWS IS NOT NULL"
            }
            _ => {
                // The first number of a table's stat is its row count; `sqlite_stat1` exists only after ANALYZE.
                "SELECT s.tbl AS name, CAST(s.stat AS INTEGER) AS n FROM sqlite_stat1 s \
                 WHERE s.idx IS NULL OR s.idx = (SELECT min(idx) FROM sqlite_stat1 x WHERE x.tbl = s.tbl)"
            }
        };
        let rows = match db.query_all_raw(Statement::from_string(backend, sql)).await {
            Ok(rows) => rows,
            Err(e) if backend == DbBackend::Sqlite && e.to_string().contains("no such table") => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut facts = TableFacts::new();
        for r in rows {
            let name: String = r.try_get("", "name")?;
            let n: i64 = r.try_get("", "n")?;
            facts = facts.with(&name, n.max(0) as u64);
        }
        Ok(facts)
    }
}

/// Lints one list of statements on its own (tables it creates count as new; every other table as `facts` say).
/// Entries holding several statements are split first; findings number the split statements from 1.
pub fn lint_sql(backend: DbBackend, sql: &[String], facts: &TableFacts) -> Vec<Finding> {
    let statements = split_all(backend, sql);
    rules::Linter::new(backend, facts).migration("", &statements)
}

/// Lints what `up` or `down` would run now with these steps (what `--sql` prints, bookkeeping left out: it is
/// Strata's own), reading the row estimates from the catalog once. `stamp` runs no migration: an empty report.
pub async fn lint_plan(db: &DatabaseConnection, set: &MigrationSet, action: Action, steps: &Steps) -> Result<Report> {
    let backend = db.get_database_backend();
    let state = State::load(DatabaseExecutor::from(db), set).await?;
    state.check_owned(set)?;
    let plan = match action {
        Action::Downgrade => state.plan_down(set, steps)?,
        Action::Upgrade => state.plan_up(set, steps)?,
        Action::Stamp => Vec::new(),
    };
    let facts = TableFacts::read(db).await?;
    let mut linter = rules::Linter::new(backend, &facts);
    let mut migrations = Vec::with_capacity(plan.len());
    for i in plan {
        let entry = &set.entries()[i];
        let recorded: Vec<String> =
            dry_run::record(backend, set, i, action).await?.iter().map(Statement::to_string).collect();
        let statements = split_all(backend, &recorded);
        let findings = linter.migration(&entry.revision, &statements);
        migrations.push(MigrationLint {
            revision: entry.revision.clone(),
            name: entry.name.clone(),
            label: entry.label.clone(),
            statements,
            findings,
        });
    }
    Ok(Report { backend: backend_name(backend), action: action.as_str(), rows_threshold: ROWS_THRESHOLD, migrations })
}

/// One migration of another tool's plan (an Alembic revision): its statements as the tool prints them.
pub struct External {
    pub revision: String,
    pub name: String,
    pub statements: Vec<String>,
}

/// Lints the plan of another migration tool (what `alembic upgrade --sql` prints, split per revision, version-table
/// writes left out) as [`lint_plan`] lints Strata's: one linter over the whole plan, so a table created by an
/// earlier migration counts as new, with row estimates read from `db`'s catalog once.
pub async fn lint_external(db: &DatabaseConnection, action: Action, plan: Vec<External>) -> Result<Report> {
    let backend = db.get_database_backend();
    let facts = TableFacts::read(db).await?;
    let mut linter = rules::Linter::new(backend, &facts);
    let migrations = plan
        .into_iter()
        .map(|m| {
            let statements = split_all(backend, &m.statements);
            let findings = linter.migration(&m.revision, &statements);
            MigrationLint { label: m.name.clone(), revision: m.revision, name: m.name, statements, findings }
        })
        .collect();
    Ok(Report { backend: backend_name(backend), action: action.as_str(), rows_threshold: ROWS_THRESHOLD, migrations })
}

fn backend_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgres",
        DbBackend::MySql => "mysql",
        _ => "sqlite",
    }
}

/// One statement per entry, split the way the backend reads them.
fn split_all(backend: DbBackend, sql: &[String]) -> Vec<String> {
    let dialect = match backend {
        DbBackend::Postgres => Backend::Postgres,
        DbBackend::MySql => Backend::MySql,
        _ => Backend::Sqlite,
    };
    sql.iter().flat_map(|s| crate::query::split::split(s, dialect)).map(|p| p.sql).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(backend: DbBackend, sql: &[&str], facts: &TableFacts) -> Vec<(&'static str, Level, usize)> {
        let sql: Vec<String> = sql.iter().map(|s| s.to_string()).collect();
        lint_sql(backend, &sql, facts).into_iter().map(|f| (f.rule, f.level, f.statement)).collect()
    }

    #[test]
    fn index_level_follows_the_row_estimate() {
        let pg = DbBackend::Postgres;
        let big = TableFacts::new().with("orders", 50_000);
        let small = TableFacts::new().with("orders", 10);
        let sql = ["SET lock_timeout = '2s'", "CREATE INDEX i ON orders (a)"];
        assert_eq!(rules(pg, &sql, &big), [("require-concurrent-index-creation", Level::Error, 2)]);
        assert_eq!(rules(pg, &sql, &small), [("require-concurrent-index-creation", Level::Warning, 2)]);
        let f = &lint_sql(pg, &[sql[1].to_string()], &big)[1];
        assert!(f.message.contains("50000 rows"), "{}", f.message);
        assert!(f.safer.starts_with("CREATE INDEX CONCURRENTLY i ON orders (a)"), "{}", f.safer);
        assert!(rules(pg, &["SET lock_timeout = '2s'", "CREATE INDEX CONCURRENTLY i ON orders (a)"], &big).is_empty());
    }

    #[test]
    fn tables_created_in_the_plan_are_free() {
        let sql = [
            "CREATE TABLE t (id int)",
            "CREATE INDEX i ON t (id)",
            "ALTER TABLE t ADD COLUMN u uuid NOT NULL DEFAULT gen_random_uuid()",
            "ALTER TABLE t DROP COLUMN u",
        ];
        assert!(rules(DbBackend::Postgres, &sql, &TableFacts::new()).is_empty());
    }

    #[test]
    fn quoted_names_and_comments_do_not_fire() {
        let sql = [
            "SET lock_timeout = '1s'",
            "-- DROP TABLE users;\nALTER TABLE \"drop table\" ADD COLUMN \"DROP COLUMN\" text /* ALTER COLUMN x TYPE int */",
            "CREATE INDEX CONCURRENTLY \"create index\" ON t (\"ALTER\")",
            "INSERT INTO notes (body) VALUES ('DROP TABLE users; ALTER TABLE t RENAME TO u')",
        ];
        assert_eq!(rules(DbBackend::Postgres, &sql, &TableFacts::new()), []);
    }

    #[test]
    fn sqlite_rebuild_is_one_finding_not_a_drop() {
        let sql = [
            "CREATE TABLE t_new (id integer, n text NOT NULL)",
            "INSERT INTO t_new SELECT id, n FROM t",
            "DROP TABLE t",
            "ALTER TABLE t_new RENAME TO t",
        ];
        let found = rules(DbBackend::Sqlite, &sql, &TableFacts::new().with("t", 20_000));
        assert_eq!(found, [("rebuilding-table", Level::Error, 4)]);
    }

    #[test]
    fn lock_timeout_is_asked_once_per_migration() {
        let sql = ["ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE t RENAME COLUMN c TO d"];
        let found = rules(DbBackend::Postgres, &sql, &TableFacts::new());
        assert_eq!(
            found,
            [
                ("require-lock-timeout", Level::Warning, 1),
                ("renaming-column", Level::Warning, 1),
                ("renaming-column", Level::Warning, 2)
            ]
        );
    }
}
