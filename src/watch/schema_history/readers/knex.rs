//! Knex's `knex_migrations` (name, batch, migration_time) and `knex_migrations_lock` (`is_locked`).

use super::{Sql, int, text, time};
use crate::error::Result;
use crate::watch::schema_history::detect::Table;
use crate::watch::schema_history::{Applied, AppliedState, Problem, ProblemKind, ToolHistory};

pub(super) async fn read(sql: &Sql<'_>, lock: Option<&Table>, h: &mut ToolHistory) -> Result<()> {
    let columns = [sql.int("id"), sql.text("name"), sql.int("batch"), sql.time("migration_time")];
    let order = format!("{} DESC", sql.col("id"));
    let mut rows = sql.newest(&columns, &order).await?;
    rows.reverse();
    h.applied_total = sql.count().await?;
    for r in &rows {
        let name = text(r, 1).unwrap_or_default();
        h.applied.push(Applied {
            version: name.clone(),
            name: None,
            applied_at: time(r, 3),
            applied_by: None,
            duration_ms: None,
            checksum: None,
            success: None,
            state: AppliedState::Applied,
            logs: None,
            detail: int(r, 2).map(|b| format!("batch {b}")),
        });
        h.current = Some(name);
    }
    if let Some(lock) = lock {
        let is_locked = sql.int_of(lock, "is_locked");
        let rows = sql.rows(format!("SELECT {is_locked} FROM {}", sql.table_name(lock)), Vec::new()).await?;
        if rows.iter().any(|r| int(r, 0) == Some(1)) {
            h.problems.push(Problem::new(
                ProblemKind::LockHeld,
                None,
                format!(
                    "{}.is_locked = 1: a `knex migrate` is running, or one crashed holding the lock (Knex records \
                     neither who nor since when). If none is running, run `knex migrate:unlock`.",
                    lock.name
                ),
            ));
        }
    }
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}
