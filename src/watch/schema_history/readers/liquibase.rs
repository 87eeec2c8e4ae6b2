//! Liquibase's `DATABASECHANGELOG` (upper case on most engines, lower case on PostgreSQL) and its
//! `DATABASECHANGELOGLOCK`: who holds the lock, since when.

use super::{Sql, flag, text, time};
use crate::error::Result;
use crate::watch::schema_history::detect::Table;
use crate::watch::schema_history::{Applied, AppliedState, Problem, ProblemKind, ToolHistory};

pub(super) async fn read(sql: &Sql<'_>, lock: Option<&Table>, h: &mut ToolHistory) -> Result<()> {
    let columns = [
        sql.text("id"),
        sql.text("author"),
        sql.text("filename"),
        sql.time("dateexecuted"),
        sql.text("exectype"),
        sql.text("md5sum"),
        sql.text("description"),
        sql.text("comments"),
        sql.text("tag"),
    ];
    let order = format!("{} DESC, {} DESC", sql.col("dateexecuted"), sql.col("orderexecuted"));
    let mut rows = sql.newest(&columns, &order).await?;
    rows.reverse();
    h.applied_total = sql.count().await?;
    for r in &rows {
        let id = text(r, 0).unwrap_or_default();
        let exectype = text(r, 4).unwrap_or_default();
        let failed = exectype.eq_ignore_ascii_case("FAILED");
        let mut detail =
            format!("{exectype} by author {} from {}", text(r, 1).unwrap_or_default(), text(r, 2).unwrap_or_default());
        if let Some(tag) = text(r, 8) {
            detail.push_str(&format!(", tag {tag}"));
        }
        h.applied.push(Applied {
            version: id.clone(),
            name: text(r, 7).filter(|c| !c.is_empty()).or_else(|| text(r, 6)),
            applied_at: time(r, 3),
            applied_by: None,
            duration_ms: None,
            checksum: text(r, 5),
            success: Some(!failed),
            state: if failed { AppliedState::Failed } else { AppliedState::Applied },
            logs: None,
            detail: Some(detail),
        });
        if !failed {
            h.current = Some(id);
        }
    }
    for a in h.applied.iter().filter(|a| a.state == AppliedState::Failed) {
        h.problems.push(Problem::new(
            ProblemKind::Failed,
            Some(&a.version),
            format!("Liquibase recorded changeset {} as FAILED: fix it and run `liquibase update` again.", a.version),
        ));
    }
    if let Some(lock) = lock {
        let columns = [sql.flag_of(lock, "locked"), sql.time_of(lock, "lockgranted"), sql.text_of(lock, "lockedby")];
        let rows = sql.rows(format!("SELECT {} FROM {}", columns.join(", "), sql.table_name(lock)), Vec::new()).await?;
        for r in rows.iter().filter(|r| flag(r, 0) == Some(true)) {
            let by = text(r, 2).unwrap_or_else(|| "an unnamed client".into());
            let since =
                time(r, 1).map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or("an unknown time".into());
            h.problems.push(Problem::new(
                ProblemKind::LockHeld,
                None,
                format!(
                    "{} is held by {by} since {since}: every other Liquibase run waits for it. If no Liquibase \
                     command is running there, a crashed one left it: run `liquibase release-locks`.",
                    lock.name
                ),
            ));
        }
    }
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}
