//! `--sql`: the statements `up`/`down` would run, rendered for the connected backend without touching it.

use chrono::Utc;
use sea_orm::{DbBackend, MockDatabase, MockExecResult, Statement};
use sea_orm_migration::SchemaManager;

use super::{Action, MigrationSet, bookkeeping, head_of, is_transactional, run_migration};
use crate::error::{Error, Result};

/// Most statements one migration may issue in a dry run.
const MAX_STATEMENTS: usize = 10_000;

/// The recorder's first size: most migrations issue a few statements, and filling [`MAX_STATEMENTS`] answers for
/// each of 500 migrations cost more than linting them. A migration that issues more is recorded again.
const FIRST_STATEMENTS: usize = 64;

/// What SeaORM's recorder says when a migration issues more statements than it has answers for.
const RECORDER_FULL: &str = "`exec_results` buffer is empty";

/// Runs a migration against SeaORM's statement recorder (nothing is sent anywhere) and returns what it issued.
pub(super) async fn record(backend: DbBackend, set: &MigrationSet, i: usize, action: Action) -> Result<Vec<Statement>> {
    let entry = &set.entries()[i];
    let mut size = FIRST_STATEMENTS;
    loop {
        let recorder = MockDatabase::new(backend)
            .append_exec_results((0..size).map(|_| MockExecResult::default()))
            .into_connection();
        match run_migration(entry, action, SchemaManager::new(&recorder)).await {
            Ok(()) => {
                return Ok(recorder.into_transaction_log().iter().flat_map(|t| t.statements().to_vec()).collect());
            }
            Err(e) if size < MAX_STATEMENTS && e.to_string().contains(RECORDER_FULL) => size = MAX_STATEMENTS,
            Err(e) => {
                return Err(Error::Migration(format!(
                    "cannot show the SQL of {} ({}) without running it: it reads the database ({e})",
                    entry.revision, entry.label
                )));
            }
        }
    }
}

/// Renders the plan as a script the backend's own client could run (`psql -f`, `mariadb <`, `sqlite3`).
pub async fn render(
    backend: DbBackend,
    set: &MigrationSet,
    action: Action,
    plan: &[usize],
    applied: &mut [bool],
    mut head: Option<String>,
    actor: &str,
) -> Result<String> {
    let mut out = format!(
        "-- strata migrate {} --sql: {} migration(s) for {}\n",
        if action == Action::Downgrade { "down" } else { "up" },
        plan.len(),
        match backend {
            DbBackend::Postgres => "PostgreSQL",
            DbBackend::MySql => "MySQL/MariaDB",
            _ => "SQLite",
        }
    );
    push_all(&mut out, bookkeeping::create_statements(backend));
    let now = Utc::now().timestamp();
    for &i in plan {
        let entry = &set.entries()[i];
        let mut stmts = record(backend, set, i, action).await?;
        applied[i] = action == Action::Upgrade;
        stmts.push(match action {
            Action::Downgrade => bookkeeping::delete_applied(backend, &entry.name),
            _ => bookkeeping::insert_applied(backend, &entry.name, now),
        });
        let new_head = head_of(set, applied).map(str::to_string);
        stmts.extend(bookkeeping::head_change(backend, head.as_deref(), new_head.as_deref()));
        head = new_head;
        let now = Utc::now();
        stmts.push(bookkeeping::log_statement(
            backend,
            bookkeeping::LogEntry {
                revision: &entry.revision,
                name: &entry.name,
                action: action.as_str(),
                started_at: now,
                finished_at: now,
                duration_ms: 0,
                actor,
                error: None,
            },
        ));
        let verb = if action == Action::Downgrade { "downgrade" } else { "upgrade" };
        out.push_str(&format!("\n-- Running {verb} {} ({})\n", entry.revision, entry.label));
        let wrap = is_transactional(entry, backend);
        if wrap {
            out.push_str("BEGIN;\n");
        }
        push_all(&mut out, stmts);
        if wrap {
            out.push_str("COMMIT;\n");
        }
    }
    Ok(out)
}

fn push_all(out: &mut String, stmts: Vec<Statement>) {
    for s in stmts {
        let text = s.to_string();
        out.push_str(&text);
        if !text.starts_with("--") {
            out.push(';');
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbErr};
    use sea_orm_migration::{MigrationName, MigrationTrait};

    use super::*;

    /// Issues `n` statements.
    struct Many(usize);
    impl MigrationName for Many {
        fn name(&self) -> &str {
            "m20990101_000001_many"
        }
    }
    #[async_trait::async_trait]
    impl MigrationTrait for Many {
        async fn up(&self, m: &SchemaManager) -> std::result::Result<(), DbErr> {
            for k in 0..self.0 {
                m.get_connection().execute_unprepared(&format!("INSERT INTO t VALUES ({k})")).await?;
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_migration_with_more_statements_than_the_first_recorder_is_recorded_whole() {
        for n in [3, FIRST_STATEMENTS, FIRST_STATEMENTS + 1, 500] {
            let set = MigrationSet::new(vec![Box::new(Many(n))]).unwrap();
            let recorded = record(DbBackend::Postgres, &set, 0, Action::Upgrade).await.unwrap();
            assert_eq!(recorded.len(), n);
            assert_eq!(recorded.last().unwrap().to_string(), format!("INSERT INTO t VALUES ({})", n - 1));
        }
    }
}
