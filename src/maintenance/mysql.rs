//! MariaDB/MySQL maintenance: ANALYZE, OPTIMIZE and CHECK TABLE, one table at a time, with the rows each answers.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};

use super::{Action, Maintainer, Offer, Outcome, Progress, Target, Tracker};
use crate::error::{Error, Result};

const CONNECTION_SQL: &str = "SELECT CAST(CONNECTION_ID() AS SIGNED) AS id, DATABASE() AS db";

const BASE_TABLES_SQL: &str = r"
SELECT TABLE_NAME AS name FROM information_schema.TABLES
WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME";

/// MariaDB reports a stage and a percentage for long ALTER/OPTIMIZE work (MySQL lacks the columns).
const PROGRESS_SQL: &str = r"
SELECT STATE AS state, CAST(PROGRESS AS SIGNED) AS percent
FROM information_schema.PROCESSLIST WHERE ID = ?";

const VERSION_SQL: &str = "SELECT VERSION() AS version";

/// The columns ANALYZE, OPTIMIZE and CHECK TABLE answer with.
const RESULT_COLUMNS: [&str; 4] = ["Table", "Op", "Msg_type", "Msg_text"];

#[derive(FromQueryResult)]
struct ConnectionRow {
    id: i64,
    db: Option<String>,
}

#[derive(FromQueryResult)]
struct NameRow {
    name: String,
}

#[derive(FromQueryResult)]
struct ProgressRow {
    state: Option<String>,
    percent: Option<i64>,
}

#[derive(FromQueryResult)]
struct VersionRow {
    version: String,
}

pub struct MySql;

/// A quoted MariaDB/MySQL identifier.
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[async_trait::async_trait]
impl Maintainer for MySql {
    fn offer(&self, action: Action) -> std::result::Result<Offer, &'static str> {
        let offer = |locks, does| Ok(Offer { action, per_database: true, per_table: true, locks, does });
        match action {
            Action::Analyze => offer(None, "refreshes the index statistics the optimizer uses"),
            Action::Optimize => offer(
                Some(
                    "rebuilds each table (InnoDB: a copy, with short exclusive locks at the start and end; MyISAM and Aria tables are locked throughout) and needs free disk as large as the table",
                ),
                "defragments the table and gives back the space of deleted rows, then refreshes its statistics",
            ),
            Action::Check => offer(None, "checks the table and its indexes for errors and reports what it finds"),
            Action::Vacuum | Action::VacuumAnalyze | Action::VacuumFull => {
                Err("MariaDB/MySQL has no VACUUM: OPTIMIZE TABLE reclaims space and ANALYZE TABLE refreshes statistics")
            }
            Action::Reindex | Action::ReindexConcurrently => {
                Err("MariaDB/MySQL has no REINDEX: OPTIMIZE TABLE rebuilds a table with its indexes")
            }
            Action::IntegrityCheck | Action::QuickCheck => {
                Err("these are SQLite's file checks: CHECK TABLE is MariaDB's")
            }
            Action::ForeignKeyCheck => {
                Err("InnoDB enforces foreign keys as rows change (unless foreign_key_checks was turned off)")
            }
            Action::WalCheckpoint => {
                Err("InnoDB flushes its redo log by itself; there is nothing to checkpoint by hand")
            }
        }
    }

    async fn run(
        &self,
        db: &DatabaseConnection,
        action: Action,
        target: &Target,
        timeout: Duration,
        tracker: &Tracker,
    ) -> Result<Outcome> {
        let conn = ConnectionRow::find_by_statement(Statement::from_string(DbBackend::MySql, CONNECTION_SQL))
            .one(db)
            .await?
            .ok_or_else(|| Error::Internal("CONNECTION_ID() answered no row".into()))?;
        tracker.set_pid(conn.id);
        // MariaDB counts seconds; MySQL has no limit for these statements, so a refusal is not an error.
        let secs = format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64().max(0.001));
        db.execute_unprepared(&secs).await.ok();
        let verb = match action {
            Action::Analyze => "ANALYZE TABLE",
            Action::Optimize => "OPTIMIZE TABLE",
            Action::Check => "CHECK TABLE",
            other => return Err(Error::Internal(format!("{other} reached MariaDB's run"))),
        };
        let tables: Vec<(String, String)> = match target {
            Target::Table { schema, name } => vec![(schema.clone(), name.clone())],
            Target::Database => {
                let schema = conn.db.ok_or_else(|| Error::BadRequest("the database URL names no database".into()))?;
                let stmt = Statement::from_sql_and_values(DbBackend::MySql, BASE_TABLES_SQL, [schema.clone().into()]);
                NameRow::find_by_statement(stmt).all(db).await?.into_iter().map(|t| (schema.clone(), t.name)).collect()
            }
        };
        // One statement per table: a long run shows which table it is at, and the rows say which is which.
        let mut rows = Vec::new();
        for (n, (schema, name)) in tables.iter().enumerate() {
            tracker.table_step(n + 1, tables.len(), &format!("{schema}.{name}"));
            let sql = format!("{verb} {}.{}", ident(schema), ident(name));
            let answer = db.query_all_raw(Statement::from_string(DbBackend::MySql, sql)).await?;
            rows.extend(super::text_rows(&answer, RESULT_COLUMNS.len()));
        }
        let errors = rows.iter().filter(|r| r[2].eq_ignore_ascii_case("error")).count();
        let summary = match (errors, tables.len()) {
            (0, 1) => format!("{verb} {target}: {}", rows.last().map(|r| r[3].as_str()).unwrap_or("done")),
            (0, n) => format!("{verb} of {n} tables: no errors"),
            (e, _) => format!("{verb}: {e} error(s)"),
        };
        Ok(Outcome {
            summary,
            healthy: errors == 0,
            columns: RESULT_COLUMNS.iter().map(|c| c.to_string()).collect(),
            rows,
            duration_ms: 0,
        })
    }

    async fn facts(&self, db: &DatabaseConnection) -> Result<Vec<(String, String)>> {
        let v = VersionRow::find_by_statement(Statement::from_string(DbBackend::MySql, VERSION_SQL)).one(db).await?;
        Ok(v.map(|v| vec![("server version".to_string(), v.version)]).unwrap_or_default())
    }

    async fn progress(&self, db: &DatabaseConnection, pid: i64) -> Result<Option<Progress>> {
        let stmt = Statement::from_sql_and_values(DbBackend::MySql, PROGRESS_SQL, [pid.into()]);
        let Some(row) = ProgressRow::find_by_statement(stmt).one(db).await? else { return Ok(None) };
        let Some(state) = row.state.filter(|s| !s.is_empty()) else { return Ok(None) };
        let percent = row.percent.filter(|p| *p > 0);
        Ok(Some(Progress {
            phase: state,
            relation: None,
            done: percent,
            total: percent.map(|_| 100),
            unit: if percent.is_some() { "%".into() } else { String::new() },
        }))
    }
}
