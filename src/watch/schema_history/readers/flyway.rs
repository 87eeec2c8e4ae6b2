//! Flyway's `flyway_schema_history`: every versioned, repeatable and baseline row with who, when, how long, its
//! checksum and whether it succeeded.

use super::{Sql, flag, int, text, time};
use crate::error::Result;
use crate::watch::schema_history::{Applied, AppliedState, Problem, ProblemKind, ToolHistory};

pub(super) async fn read(sql: &Sql<'_>, h: &mut ToolHistory) -> Result<()> {
    let columns = [
        sql.int("installed_rank"),
        sql.text("version"),
        sql.text("description"),
        sql.text("type"),
        sql.text("script"),
        sql.int("checksum"),
        sql.text("installed_by"),
        sql.time("installed_on"),
        sql.int("execution_time"),
        sql.flag("success"),
    ];
    let order = format!("{} DESC", sql.col("installed_rank"));
    let mut rows = sql.newest(&columns, &order).await?;
    rows.reverse();
    h.applied_total = sql.count().await?;
    for r in &rows {
        let version = text(r, 1);
        let description = text(r, 2).unwrap_or_default();
        let kind = text(r, 3).unwrap_or_default();
        let success = flag(r, 9);
        h.applied.push(Applied {
            // A repeatable migration has no version: Flyway's `info` lists it by its description.
            version: version.clone().unwrap_or_else(|| format!("R {description}")),
            name: Some(description.clone()),
            applied_at: time(r, 7),
            applied_by: text(r, 6),
            duration_ms: int(r, 8),
            checksum: int(r, 5).map(|c| c.to_string()),
            success,
            state: if success == Some(false) { AppliedState::Failed } else { AppliedState::Applied },
            logs: None,
            detail: Some(format!("{kind} {}", text(r, 4).unwrap_or_default()).trim().to_string()),
        });
        if success == Some(true)
            && let Some(v) = version
            && kind != "DELETE"
        {
            h.current = Some(v);
        }
    }
    for a in h.applied.iter().filter(|a| a.state == AppliedState::Failed) {
        h.problems.push(Problem::new(
            ProblemKind::Failed,
            Some(&a.version),
            format!(
                "Flyway recorded {} ({}) as failed, and `flyway migrate` stops there: undo what the script changed \
                 if it ran partly, fix it, then run `flyway repair` (it removes the failed row) and migrate again.",
                a.version,
                a.name.as_deref().unwrap_or("")
            ),
        ));
    }
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}
