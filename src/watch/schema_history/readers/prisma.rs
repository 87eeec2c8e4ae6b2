//! Prisma Migrate's `_prisma_migrations`: every attempt with its checksum, start and finish, applied steps, logs,
//! and whether it was rolled back.

use super::{Sql, int, text, time};
use crate::error::Result;
use crate::watch::schema_history::{Applied, AppliedState, Problem, ProblemKind, ToolHistory};

pub(super) async fn read(sql: &Sql<'_>, h: &mut ToolHistory) -> Result<()> {
    let columns = [
        sql.text("id"),
        sql.text("checksum"),
        sql.time("finished_at"),
        sql.text("migration_name"),
        sql.text("logs"),
        sql.time("rolled_back_at"),
        sql.time("started_at"),
        sql.int("applied_steps_count"),
    ];
    let order = format!("{} DESC, {} DESC", sql.col("started_at"), sql.col("migration_name"));
    let mut rows = sql.newest(&columns, &order).await?;
    rows.reverse();
    h.applied_total = sql.count().await?;
    for r in &rows {
        let name = text(r, 3).unwrap_or_default();
        let (started, finished, rolled_back) = (time(r, 6), time(r, 2), time(r, 5));
        let state = match (finished, rolled_back) {
            (_, Some(_)) => AppliedState::RolledBack,
            (None, None) => AppliedState::Failed,
            (Some(_), None) => AppliedState::Applied,
        };
        h.applied.push(Applied {
            version: name.clone(),
            name: None,
            applied_at: finished.or(started),
            applied_by: None,
            duration_ms: started.zip(finished).map(|(s, f)| (f - s).num_milliseconds()),
            checksum: text(r, 1),
            success: Some(state == AppliedState::Applied),
            state,
            logs: text(r, 4).filter(|l| !l.trim().is_empty()),
            detail: int(r, 7).map(|n| format!("{n} step(s) applied")),
        });
        if state == AppliedState::Applied {
            h.current = Some(name);
        }
    }
    for (i, a) in h.applied.iter().enumerate() {
        let again = h.applied[i + 1..].iter().find(|b| b.version == a.version && b.state == AppliedState::Applied);
        match a.state {
            AppliedState::Failed => h.problems.push(Problem::new(
                ProblemKind::Failed,
                Some(&a.version),
                format!(
                    "{} failed{} and is not resolved: `prisma migrate deploy` refuses to run (P3009) until it is. \
                     Check what it changed, then `prisma migrate resolve --rolled-back {}` to run it again, or \
                     `prisma migrate resolve --applied {}` if you completed it by hand.",
                    a.version,
                    a.logs.as_deref().map(|l| format!(": {}", first_line(l))).unwrap_or_default(),
                    a.version,
                    a.version
                ),
            )),
            AppliedState::RolledBack => h.problems.push(Problem::new(
                ProblemKind::RolledBack,
                Some(&a.version),
                match again {
                    Some(b) => format!(
                        "An attempt of {} was marked rolled back; it was applied again{}.",
                        a.version,
                        b.applied_at.map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default()
                    ),
                    None => format!(
                        "{} was marked rolled back and is not applied: the next `prisma migrate deploy` runs it again.",
                        a.version
                    ),
                },
            )),
            _ => {}
        }
    }
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}

/// The line of a log that says what went wrong: the database's `ERROR:` line when there is one.
fn first_line(text: &str) -> &str {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next().unwrap_or("");
    lines.find(|l| l.starts_with("ERROR")).unwrap_or(first)
}
