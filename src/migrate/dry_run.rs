//! `--sql`: the statements `up`/`down` would run, rendered for the connected backend without touching it.

use chrono::Utc;
use sea_orm::{DbBackend, MockDatabase, MockExecResult, Statement};
use sea_orm_migration::SchemaManager;

use super::{Action, MigrationSet, bookkeeping, head_of, is_transactional, run_migration};
use crate::error::{Error, Result};

/// Most statements one migration may issue in a dry run.
const MAX_STATEMENTS: usize = 10_000;

/// Runs a migration against SeaORM's statement recorder (nothing is sent anywhere) and returns what it issued.
pub(super) async fn record(backend: DbBackend, set: &MigrationSet, i: usize, action: Action) -> Result<Vec<Statement>> {
    let entry = &set.entries()[i];
    let recorder = MockDatabase::new(backend)
        .append_exec_results((0..MAX_STATEMENTS).map(|_| MockExecResult::default()))
        .into_connection();
    run_migration(entry, action, SchemaManager::new(&recorder)).await.map_err(|e| {
        Error::Migration(format!(
            "cannot show the SQL of {} ({}) without running it: it reads the database ({e})",
            entry.revision, entry.label
        ))
    })?;
    Ok(recorder.into_transaction_log().iter().flat_map(|t| t.statements().to_vec()).collect())
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
