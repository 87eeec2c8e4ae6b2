//! SQLite maintenance: integrity_check, quick_check, foreign_key_check, wal_checkpoint(TRUNCATE), VACUUM, ANALYZE; the journal mode and WAL size.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};

use super::{Action, Maintainer, Offer, Outcome, Target, Tracker};
use crate::config::DatabaseUrl;
use crate::error::{Error, Result};

/// Pragmas with a table argument go through their table-valued functions so the name is bound.
const INTEGRITY_TABLE_SQL: &str = "SELECT * FROM pragma_integrity_check(?)";
const QUICK_TABLE_SQL: &str = "SELECT * FROM pragma_quick_check(?)";
const FOREIGN_KEYS_SQL: &str = r#"SELECT "table", rowid, parent, fkid FROM pragma_foreign_key_check"#;
const FOREIGN_KEYS_TABLE_SQL: &str = r#"SELECT "table", rowid, parent, fkid FROM pragma_foreign_key_check(?)"#;
/// Copies what it can without waiting and answers how many frames the WAL holds: TRUNCATE, which runs after
/// it, empties the WAL and then answers "0 of 0".
const PASSIVE_CHECKPOINT_SQL: &str = "PRAGMA wal_checkpoint(PASSIVE)";
const CHECKPOINT_SQL: &str = "PRAGMA wal_checkpoint(TRUNCATE)";
const FILE_SQL: &str = r"
SELECT (SELECT page_count FROM pragma_page_count) * (SELECT page_size FROM pragma_page_size) AS bytes,
       (SELECT freelist_count FROM pragma_freelist_count) AS free_pages,
       (SELECT journal_mode FROM pragma_journal_mode) AS journal_mode";

#[derive(FromQueryResult)]
struct Checkpoint {
    busy: i64,
    log: i64,
    checkpointed: i64,
}

#[derive(FromQueryResult)]
struct FileRow {
    bytes: i64,
    free_pages: i64,
    journal_mode: String,
}

pub struct Sqlite {
    /// The database file; `None` in memory.
    path: Option<PathBuf>,
}

impl Sqlite {
    pub fn new(url: &DatabaseUrl) -> Sqlite {
        Sqlite { path: url.sqlite_path().map(|p| p.to_path_buf()) }
    }

    /// The size of the `-wal` file beside the database: `None` when there is none (or in memory).
    fn wal_bytes(&self) -> Option<u64> {
        let path = self.path.as_ref()?;
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).ok().map(|m| m.len())
    }

    fn wal_shown(&self) -> String {
        self.shown(self.wal_bytes())
    }

    /// A WAL file size as the page shows it.
    fn shown(&self, bytes: Option<u64>) -> String {
        match (bytes, &self.path) {
            (Some(n), _) => format!("{} ({n} bytes)", crate::web::fmt::bytes_of(&(n as i64))),
            (None, Some(_)) => "no WAL file".to_string(),
            (None, None) => "— (in memory)".to_string(),
        }
    }
}

/// A quoted SQLite identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn table_stmt(sql: &str, table: &str) -> Statement {
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, [table.into()])
}

async fn checkpoint(db: &DatabaseConnection, sql: &str) -> Result<Checkpoint> {
    Checkpoint::find_by_statement(Statement::from_string(DbBackend::Sqlite, sql))
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal("wal_checkpoint answered no row".into()))
}

async fn file(db: &DatabaseConnection) -> Result<FileRow> {
    FileRow::find_by_statement(Statement::from_string(DbBackend::Sqlite, FILE_SQL))
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal("the page count pragmas answered no row".into()))
}

/// Stops any statement on the (only) connection of `db`'s pool once `timeout` has passed: the
/// progress handler is SQLite's one safe interrupt, and it stays set on that connection.
async fn interrupt_after(db: &DatabaseConnection, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut conn = db.get_sqlite_connection_pool().acquire().await.map_err(|e| Error::Unavailable(e.to_string()))?;
    conn.lock_handle()
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?
        .set_progress_handler(1000, move || Instant::now() < deadline);
    Ok(())
}

/// An integrity_check or quick_check answer: `ok`, or one line per problem.
fn check_outcome(what: &str, rows: &[sea_orm::QueryResult]) -> Outcome {
    let lines: Vec<Vec<String>> = super::text_rows(rows, 1);
    let healthy = lines.len() == 1 && lines[0][0] == "ok";
    Outcome {
        summary: if healthy { "ok".into() } else { format!("{what}: {} problem(s)", lines.len()) },
        healthy,
        columns: vec![what.to_string()],
        rows: lines,
        duration_ms: 0,
    }
}

#[async_trait::async_trait]
impl Maintainer for Sqlite {
    fn offer(&self, action: Action) -> std::result::Result<Offer, &'static str> {
        let both = |locks, does| Ok(Offer { action, per_database: true, per_table: true, locks, does });
        let whole = |locks, does| Ok(Offer { action, per_database: true, per_table: false, locks, does });
        match action {
            Action::IntegrityCheck => both(None, "reads every page and index and reports corruption, or ok"),
            Action::QuickCheck => {
                both(None, "integrity_check without comparing indexes to their tables: faster, finds less")
            }
            Action::ForeignKeyCheck => both(None, "lists rows whose foreign key points at no parent row"),
            Action::WalCheckpoint => {
                whole(None, "copies the WAL into the database file and truncates the WAL to 0 bytes")
            }
            Action::Vacuum => whole(
                Some(
                    "rewrites the whole database file: other connections cannot write until it is done, and it needs free disk as large as the database",
                ),
                "rebuilds the file without its free pages, making it smaller and less fragmented",
            ),
            Action::Analyze => both(None, "refreshes the statistics (sqlite_stat1) the query planner uses"),
            Action::VacuumAnalyze | Action::VacuumFull => {
                Err("SQLite's VACUUM always rewrites the whole file: run vacuum, then analyze")
            }
            Action::Reindex | Action::ReindexConcurrently => {
                Err("not offered for SQLite: integrity-check finds a damaged index, and vacuum rebuilds every index")
            }
            Action::Optimize => Err("MariaDB's OPTIMIZE TABLE: SQLite's vacuum gives free pages back"),
            Action::Check => Err("MariaDB's CHECK TABLE: SQLite's integrity-check does that"),
        }
    }

    async fn run(
        &self,
        db: &DatabaseConnection,
        action: Action,
        target: &Target,
        timeout: Duration,
        _tracker: &Tracker,
    ) -> Result<Outcome> {
        interrupt_after(db, timeout).await?;
        let table = match target {
            Target::Table { name, .. } => Some(name.as_str()),
            Target::Database => None,
        };
        let sqlite = DbBackend::Sqlite;
        match (action, table) {
            (Action::IntegrityCheck, None) => {
                let rows = db.query_all_raw(Statement::from_string(sqlite, "PRAGMA integrity_check")).await?;
                Ok(check_outcome("integrity_check", &rows))
            }
            (Action::IntegrityCheck, Some(t)) => {
                Ok(check_outcome("integrity_check", &db.query_all_raw(table_stmt(INTEGRITY_TABLE_SQL, t)).await?))
            }
            (Action::QuickCheck, None) => {
                let rows = db.query_all_raw(Statement::from_string(sqlite, "PRAGMA quick_check")).await?;
                Ok(check_outcome("quick_check", &rows))
            }
            (Action::QuickCheck, Some(t)) => {
                Ok(check_outcome("quick_check", &db.query_all_raw(table_stmt(QUICK_TABLE_SQL, t)).await?))
            }
            (Action::ForeignKeyCheck, _) => {
                let stmt = match table {
                    Some(t) => table_stmt(FOREIGN_KEYS_TABLE_SQL, t),
                    None => Statement::from_string(sqlite, FOREIGN_KEYS_SQL),
                };
                let rows = super::text_rows(&db.query_all_raw(stmt).await?, 4);
                Ok(Outcome {
                    summary: match rows.len() {
                        0 => "no foreign key violations".to_string(),
                        n => format!("{n} row(s) point at no parent row"),
                    },
                    healthy: rows.is_empty(),
                    columns: ["table", "rowid", "parent", "fkid"].map(String::from).to_vec(),
                    rows,
                    duration_ms: 0,
                })
            }
            (Action::WalCheckpoint, None) => {
                let was = self.shown(self.wal_bytes());
                let held = checkpoint(db, PASSIVE_CHECKPOINT_SQL).await?;
                let c = checkpoint(db, CHECKPOINT_SQL).await?;
                let wal = self.wal_shown();
                let summary = match (c.busy, held.log) {
                    (_, -1) => format!("the database is not in WAL mode: nothing to checkpoint (WAL file: {wal})"),
                    (0, 0) => format!("the WAL held no frames: nothing to copy; WAL file now {wal}, {was} before"),
                    // TRUNCATE only succeeds once every frame is in the database file.
                    (0, n) => format!(
                        "checkpointed {n} WAL frames into the database and truncated the WAL; WAL file now {wal}, {was} before"
                    ),
                    (_, n) => format!(
                        "another connection kept the checkpoint from finishing ({} of {n} frames copied, the WAL was \
                         not truncated); WAL file now {wal}, {was} before",
                        held.checkpointed.max(c.checkpointed)
                    ),
                };
                let row = |step: &str, c: &Checkpoint| {
                    vec![step.to_string(), c.busy.to_string(), c.log.to_string(), c.checkpointed.to_string()]
                };
                Ok(Outcome {
                    summary,
                    healthy: c.busy == 0,
                    columns: ["checkpoint", "busy", "WAL frames", "checkpointed frames"].map(String::from).to_vec(),
                    rows: vec![row("passive (what the WAL held)", &held), row("truncate", &c)],
                    duration_ms: 0,
                })
            }
            (Action::Vacuum, None) => {
                let before = file(db).await?;
                db.execute_unprepared("VACUUM").await?;
                let after = file(db).await?;
                let size = |n: i64| crate::web::fmt::bytes_of(&n);
                Ok(Outcome {
                    summary: format!("VACUUM done: {} → {}", size(before.bytes), size(after.bytes)),
                    healthy: true,
                    columns: ["", "size", "free pages"].map(String::from).to_vec(),
                    rows: vec![
                        vec!["before".into(), before.bytes.to_string(), before.free_pages.to_string()],
                        vec!["after".into(), after.bytes.to_string(), after.free_pages.to_string()],
                    ],
                    duration_ms: 0,
                })
            }
            (Action::Analyze, None) => {
                db.execute_unprepared("ANALYZE").await?;
                Ok(Outcome::done("ANALYZE of the whole database done"))
            }
            (Action::Analyze, Some(t)) => {
                db.execute_unprepared(&format!("ANALYZE main.{}", ident(t))).await?;
                Ok(Outcome::done(format!("ANALYZE of main.{t} done")))
            }
            (other, _) => Err(Error::Internal(format!("{other} on {target} reached SQLite's run"))),
        }
    }

    async fn facts(&self, db: &DatabaseConnection) -> Result<Vec<(String, String)>> {
        let f = file(db).await?;
        Ok(vec![
            ("journal mode".to_string(), f.journal_mode),
            ("WAL file".to_string(), self.wal_shown()),
            ("database size".to_string(), format!("{} ({} bytes)", crate::web::fmt::bytes_of(&f.bytes), f.bytes)),
            ("free pages".to_string(), f.free_pages.to_string()),
        ])
    }
}
