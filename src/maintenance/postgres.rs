//! PostgreSQL maintenance: VACUUM (plain, ANALYZE, FULL), ANALYZE, REINDEX and REINDEX CONCURRENTLY per table or database; progress from `pg_stat_progress_*`.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};

use super::{Action, Maintainer, Offer, Outcome, Progress, Target, Tracker};
use crate::error::{Error, Result};

const SESSION_SQL: &str = "SELECT pg_backend_pid()::bigint AS pid, current_database() AS database, current_setting('server_version_num')::int AS version";

/// What the server reports about one session: waiting for a lock, or the phase of the VACUUM,
/// VACUUM FULL, CREATE/REINDEX INDEX or ANALYZE it runs and its blocks done of total.
const PROGRESS_SQL: &str = r"
SELECT a.wait_event_type,
       coalesce(v.phase, c.phase, i.phase, an.phase) AS phase,
       nullif(coalesce(v.relid, c.relid, i.relid, an.relid), 0)::regclass::text AS relation,
       coalesce(v.heap_blks_scanned, c.heap_blks_scanned, i.blocks_done, an.sample_blks_scanned)::bigint AS done,
       coalesce(v.heap_blks_total, c.heap_blks_total, i.blocks_total, an.sample_blks_total)::bigint AS total
FROM pg_stat_activity a
LEFT JOIN pg_stat_progress_vacuum v ON v.pid = a.pid
LEFT JOIN pg_stat_progress_cluster c ON c.pid = a.pid
LEFT JOIN pg_stat_progress_create_index i ON i.pid = a.pid
LEFT JOIN pg_stat_progress_analyze an ON an.pid = a.pid
WHERE a.pid = $1";

/// A table's statistics after the action, where PostgreSQL shows what VACUUM and ANALYZE did.
const TABLE_STATS_SQL: &str = r"
SELECT n_live_tup::text, n_dead_tup::text, last_vacuum::text, last_analyze::text,
       pg_size_pretty(pg_table_size(relid)) AS table_size, pg_size_pretty(pg_indexes_size(relid)) AS index_size
FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2";

const TABLE_STATS_COLUMNS: [&str; 6] = ["live rows", "dead rows", "last vacuum", "last analyze", "table", "indexes"];

const VERSION_SQL: &str = "SELECT current_setting('server_version') AS version";

/// The tables a database-wide VACUUM or ANALYZE skips because this login may not maintain them, in the
/// server's own rule (`vacuum_is_permitted_for_relation`) before PostgreSQL 17: the table's owner, or the
/// database's owner for a table that is not shared between databases (superusers pass both).
/// `{may}` is [`MAY_MAINTAIN_OWNER`] or [`MAY_MAINTAIN_17`]. The user's own tables come first.
const SKIPPED_SQL: &str = r"
SELECT n.nspname::text AS schema_name, c.relname::text AS table_name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p')
  AND NOT {may}
  AND NOT (NOT c.relisshared
           AND pg_has_role((SELECT d.datdba FROM pg_database d WHERE d.datname = current_database()), 'USAGE'))
ORDER BY n.nspname IN ('pg_catalog', 'information_schema'), n.nspname, c.relname";
/// Up to PostgreSQL 16: the table's owner (or a member of the owning role).
const MAY_MAINTAIN_OWNER: &str = "pg_has_role(c.relowner, 'USAGE')";
/// PostgreSQL 17: the MAINTAIN privilege, which owners and members of pg_maintain have.
const MAY_MAINTAIN_17: &str = "has_table_privilege(c.oid, 'MAINTAIN')";

/// How many skipped tables the summary names before "…".
const SKIPPED_NAMED: usize = 10;

#[derive(FromQueryResult)]
struct SessionRow {
    pid: i64,
    database: String,
    version: i32,
}

#[derive(FromQueryResult)]
struct ProgressRow {
    wait_event_type: Option<String>,
    phase: Option<String>,
    relation: Option<String>,
    done: Option<i64>,
    total: Option<i64>,
}

#[derive(FromQueryResult)]
struct VersionRow {
    version: String,
}

#[derive(FromQueryResult)]
struct SkippedRow {
    schema_name: String,
    table_name: String,
}

pub struct Postgres;

/// A quoted PostgreSQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn statement(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// One line for the tables a database-wide action skipped: how many, and the first names.
fn skipped_note(skipped: &[SkippedRow]) -> String {
    let mut names: Vec<String> =
        skipped.iter().take(SKIPPED_NAMED).map(|t| format!("{}.{}", t.schema_name, t.table_name)).collect();
    if skipped.len() > SKIPPED_NAMED {
        names.push("…".to_string());
    }
    format!("skipped {} tables the login does not own: {}", skipped.len(), names.join(", "))
}

#[async_trait::async_trait]
impl Maintainer for Postgres {
    fn offer(&self, action: Action) -> std::result::Result<Offer, &'static str> {
        let offer = |locks, does| Ok(Offer { action, per_database: true, per_table: true, locks, does });
        match action {
            Action::Vacuum => offer(
                None,
                "marks the space of dead rows for reuse and updates the visibility map; reads and writes go on",
            ),
            Action::VacuumAnalyze => offer(None, "VACUUM, then refreshes the planner statistics"),
            Action::VacuumFull => offer(
                Some(
                    "rewrites each table under an ACCESS EXCLUSIVE lock: its reads and writes wait until it is done, and it needs free disk as large as the table",
                ),
                "rewrites the table into a new file, giving the space of dead rows back to the operating system",
            ),
            Action::Analyze => offer(None, "refreshes the planner statistics from a sample of rows"),
            Action::Reindex => offer(
                Some(
                    "blocks writes to the table, and reads that use its indexes, until each index is rebuilt (reindex-concurrently does not)",
                ),
                "rebuilds the indexes from the table",
            ),
            Action::ReindexConcurrently => offer(
                None,
                "rebuilds the indexes beside reads and writes (PostgreSQL 12 or newer; slower, and system catalogs are skipped)",
            ),
            Action::Optimize => Err("PostgreSQL reclaims space with VACUUM (vacuum-full rewrites the table)"),
            Action::Check => {
                Err("PostgreSQL has no CHECK TABLE; its amcheck extension does that and is not offered yet")
            }
            Action::IntegrityCheck | Action::QuickCheck => Err(
                "these are SQLite's file checks; PostgreSQL verifies pages itself (data checksums) and amcheck is not offered yet",
            ),
            Action::ForeignKeyCheck => Err("PostgreSQL enforces foreign keys as rows change, so none can be violated"),
            Action::WalCheckpoint => Err("PostgreSQL checkpoints its WAL by itself (see checkpoint_timeout)"),
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
        let session = SessionRow::find_by_statement(Statement::from_string(DbBackend::Postgres, SESSION_SQL))
            .one(db)
            .await?
            .ok_or_else(|| Error::Internal("pg_backend_pid() answered no row".into()))?;
        tracker.set_pid(session.pid);
        db.execute_unprepared(&format!("SET statement_timeout = {}", timeout.as_millis().max(1))).await?;
        if action == Action::ReindexConcurrently && session.version < 120_000 {
            return Err(Error::Unsupported(format!(
                "REINDEX CONCURRENTLY needs PostgreSQL 12 or newer (this server is {}); reindex rebuilds with locks",
                session.version
            )));
        }
        let (table, database) = match target {
            Target::Table { schema, name } => (format!("{}.{}", ident(schema), ident(name)), None),
            Target::Database => (String::new(), Some(ident(&session.database))),
        };
        // VACUUM and REINDEX ... CONCURRENTLY refuse to run inside a transaction: each is sent alone,
        // as a simple query, on this connection of its own.
        let sql = match (action, &database) {
            (Action::Vacuum, _) => format!("VACUUM {table}"),
            (Action::VacuumAnalyze, _) => format!("VACUUM (ANALYZE) {table}"),
            (Action::VacuumFull, _) => format!("VACUUM (FULL) {table}"),
            (Action::Analyze, _) => format!("ANALYZE {table}"),
            (Action::Reindex, None) => format!("REINDEX TABLE {table}"),
            (Action::Reindex, Some(db)) => format!("REINDEX DATABASE {db}"),
            (Action::ReindexConcurrently, None) => format!("REINDEX TABLE CONCURRENTLY {table}"),
            (Action::ReindexConcurrently, Some(db)) => format!("REINDEX DATABASE CONCURRENTLY {db}"),
            (other, _) => return Err(Error::Internal(format!("{other} reached PostgreSQL's run"))),
        };
        // A database-wide VACUUM or ANALYZE skips each table this login may not maintain with a WARNING of its
        // own, which the driver logs as one line each (hundreds on a shared database): the tables are listed
        // here instead, once, and the server is asked to keep those warnings to itself.
        let skipped = match (action, target) {
            (Action::Vacuum | Action::VacuumAnalyze | Action::VacuumFull | Action::Analyze, Target::Database) => {
                let may = if session.version >= 170_000 { MAY_MAINTAIN_17 } else { MAY_MAINTAIN_OWNER };
                let sql = SKIPPED_SQL.replace("{may}", may);
                SkippedRow::find_by_statement(Statement::from_string(DbBackend::Postgres, sql)).all(db).await?
            }
            _ => Vec::new(),
        };
        if !skipped.is_empty() {
            db.execute_unprepared("SET client_min_messages = error").await?;
        }
        db.execute_unprepared(sql.trim_end()).await?;
        let Target::Table { schema, name } = target else {
            let mut summary = format!("{} of the whole database done", action.label());
            if !skipped.is_empty() {
                summary.push_str(&format!("; {}", skipped_note(&skipped)));
            }
            return Ok(Outcome::done(summary));
        };
        let rows = db.query_all_raw(statement(TABLE_STATS_SQL, vec![schema.into(), name.into()])).await?;
        Ok(Outcome {
            summary: format!("{} of {schema}.{name} done", action.label()),
            healthy: true,
            columns: TABLE_STATS_COLUMNS.iter().map(|c| c.to_string()).collect(),
            rows: super::text_rows(&rows, TABLE_STATS_COLUMNS.len()),
            duration_ms: 0,
        })
    }

    async fn facts(&self, db: &DatabaseConnection) -> Result<Vec<(String, String)>> {
        let v = VersionRow::find_by_statement(Statement::from_string(DbBackend::Postgres, VERSION_SQL)).one(db).await?;
        Ok(v.map(|v| vec![("server version".to_string(), v.version)]).unwrap_or_default())
    }

    async fn progress(&self, db: &DatabaseConnection, pid: i64) -> Result<Option<Progress>> {
        let Some(row) = ProgressRow::find_by_statement(statement(PROGRESS_SQL, vec![pid.into()])).one(db).await? else {
            return Ok(None);
        };
        let phase = match (row.phase, row.wait_event_type.as_deref()) {
            (_, Some("Lock")) => "waiting for a lock".to_string(),
            (Some(phase), _) => phase,
            (None, _) => return Ok(None),
        };
        Ok(Some(Progress { phase, relation: row.relation, done: row.done, total: row.total, unit: "blocks".into() }))
    }
}
