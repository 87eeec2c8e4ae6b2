//! The tools that record little: golang-migrate (one row: version, dirty), goose (version rows applied or not),
//! Alembic (the heads), Strata's migrator, and the version lists of dbmate, Rails, Diesel, SeaORM, Django, TypeORM
//! and Sequelize.

use sea_orm::DatabaseConnection;

use super::{Sql, flag, int, text, time};
use crate::error::Result;
use crate::migrate::{self, MigrationSet};
use crate::watch::schema_history::{Applied, AppliedState, Problem, ProblemKind, Tool, ToolHistory};

fn applied(version: String, name: Option<String>, at: Option<chrono::DateTime<chrono::Utc>>) -> Applied {
    Applied {
        version,
        name,
        applied_at: at,
        applied_by: None,
        duration_ms: None,
        checksum: None,
        success: None,
        state: AppliedState::Applied,
        logs: None,
        detail: None,
    }
}

/// golang-migrate keeps one row: the version the database is at and whether the last run stopped midway.
pub(super) async fn golang_migrate(sql: &Sql<'_>, h: &mut ToolHistory) -> Result<()> {
    let rows = sql.newest(&[sql.int("version"), sql.flag("dirty")], &format!("{} DESC", sql.col("version"))).await?;
    h.applied_total = sql.count().await?;
    // golang-migrate writes -1 for "no version" (after `migrate force -1` or a failed first migration).
    if let Some(r) = rows.first()
        && let Some(version) = int(r, 0).filter(|v| *v >= 0)
    {
        let v = version.to_string();
        let dirty = flag(r, 1) == Some(true);
        let mut a = applied(v.clone(), None, None);
        if dirty {
            a.state = AppliedState::Dirty;
            a.success = Some(false);
            h.problems.push(Problem::new(
                ProblemKind::Dirty,
                Some(&v),
                format!(
                    "golang-migrate stopped while applying {v} and marked the database dirty: it refuses every \
                     command until this is fixed. Check what {v} changed, finish or undo it by hand, then run \
                     `migrate force {v}` (if {v} is fully in) or `migrate force` with the version before it (if not), \
                     and `migrate up` again."
                ),
            ));
        }
        h.applied.push(a);
        h.current = Some(v);
    }
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}

/// goose appends a row per up (is_applied true) and per down (false); a version is applied when its newest row
/// says so. Version 0 is goose's own first row.
pub(super) async fn goose(sql: &Sql<'_>, h: &mut ToolHistory) -> Result<()> {
    let columns = [sql.int("id"), sql.int("version_id"), sql.flag("is_applied"), sql.time("tstamp")];
    let mut rows = sql.newest(&columns, &format!("{} DESC", sql.col("id"))).await?;
    rows.reverse();
    h.applied_total = sql.count().await?;
    let mut state: Vec<(i64, bool, Option<chrono::DateTime<chrono::Utc>>)> = Vec::new();
    for r in &rows {
        let (Some(v), applied_now) = (int(r, 1), flag(r, 2).unwrap_or(true)) else { continue };
        if v == 0 {
            continue;
        }
        state.retain(|(x, _, _)| *x != v);
        state.push((v, applied_now, time(r, 3)));
    }
    state.sort_by_key(|(v, _, _)| *v);
    for (v, _, at) in state.into_iter().filter(|(_, is_applied, _)| *is_applied) {
        h.applied.push(applied(v.to_string(), None, at));
        h.current = Some(v.to_string());
    }
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}

/// Alembic's `alembic_version`: one row per head the database is on (several after a branch). The revision
/// graph, applied and pending revisions come from the scripts (`alembic_ini`).
pub(super) async fn alembic(sql: &Sql<'_>, h: &mut ToolHistory) -> Result<()> {
    let rows = sql.newest(&[sql.text("version_num")], &sql.col("version_num")).await?;
    h.heads = rows.iter().filter_map(|r| text(r, 0)).collect();
    h.applied_total = h.heads.len() as i64;
    h.current = (!h.heads.is_empty()).then(|| h.heads.join(", "));
    Ok(())
}

/// The tools that keep one row per applied migration and nothing about failures.
pub(super) async fn list(sql: &Sql<'_>, h: &mut ToolHistory) -> Result<()> {
    // (version, name, time, order by)
    let (columns, order): (Vec<String>, String) = match h.tool {
        Tool::Diesel => (vec![sql.text("version"), "NULL".into(), sql.time("run_on")], sql.col("version")),
        // SeaORM keeps seconds since the epoch in an integer: as text, [`time`] reads it.
        Tool::Seaorm => (vec![sql.text("version"), "NULL".into(), sql.text("applied_at")], sql.col("version")),
        Tool::Django => (vec![sql.text("app"), sql.text("name"), sql.time("applied")], sql.col("id")),
        Tool::Typeorm => (vec![sql.text("timestamp"), sql.text("name"), "NULL".into()], sql.col("id")),
        _ => {
            let version = if h.tool == Tool::Sequelize { "name" } else { "version" };
            (vec![sql.text(version), "NULL".into(), "NULL".into()], sql.col(version))
        }
    };
    let mut rows = sql.newest(&columns, &format!("{order} DESC")).await?;
    rows.reverse();
    h.applied_total = sql.count().await?;
    for r in &rows {
        let (version, name) = match h.tool {
            // Django names a migration by app and name, as `showmigrations --plan` prints it.
            Tool::Django => (format!("{}.{}", text(r, 0).unwrap_or_default(), text(r, 1).unwrap_or_default()), None),
            _ => (text(r, 0).unwrap_or_default(), text(r, 1)),
        };
        h.applied.push(applied(version.clone(), name, time(r, 2)));
        h.current = Some(version);
    }
    if matches!(h.tool, Tool::Dbmate | Tool::Rails | Tool::Diesel | Tool::Seaorm | Tool::Sequelize) {
        // Their order is the version order (read newest first above); the newest is the current one.
        h.current = h.applied.last().map(|a| a.version.clone());
    }
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}

/// Strata's own migrator: on the project database, the state `strata migrate status` shows (failed and dirty
/// attempts included); elsewhere, the rows of `seaql_migrations`.
pub(super) async fn strata(
    sql: &Sql<'_>,
    db: &DatabaseConnection,
    set: Option<&MigrationSet>,
    h: &mut ToolHistory,
) -> Result<()> {
    let Some(set) = set else {
        h.tool = Tool::Strata;
        return list_seaql(sql, h).await;
    };
    for m in migrate::status(db, set).await? {
        let state = match m.state {
            "applied" => AppliedState::Applied,
            "running" => AppliedState::Running,
            "failed" => AppliedState::Failed,
            "dirty" => AppliedState::Dirty,
            "unknown" => AppliedState::Applied,
            _ => {
                h.pending.push(crate::watch::schema_history::Pending {
                    version: m.name.clone(),
                    name: Some(m.label.clone()),
                    path: None,
                    out_of_order: false,
                });
                continue;
            }
        };
        if matches!(state, AppliedState::Failed | AppliedState::Dirty) {
            let kind = if state == AppliedState::Dirty { ProblemKind::Dirty } else { ProblemKind::Failed };
            let advice = m.advice.clone().unwrap_or_else(|| "fix it and run `strata migrate up` again".into());
            h.problems.push(Problem::new(
                kind,
                Some(&m.name),
                format!("{}: {}. {advice}", m.name, m.last_error.as_deref().unwrap_or("its last attempt failed")),
            ));
        }
        if m.applied || !matches!(state, AppliedState::Applied) {
            h.applied.push(Applied {
                success: Some(matches!(state, AppliedState::Applied)),
                state,
                logs: m.last_error.clone(),
                detail: Some(format!("revision {}", m.revision)),
                ..applied(m.name.clone(), Some(m.label.clone()), m.applied_at)
            });
        }
        if m.applied {
            h.current = Some(m.name.clone());
        }
    }
    h.applied_total = h.applied.len() as i64;
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}

async fn list_seaql(sql: &Sql<'_>, h: &mut ToolHistory) -> Result<()> {
    let columns = [sql.text("version"), sql.text("applied_at")];
    let mut rows = sql.newest(&columns, &format!("{} DESC", sql.col("version"))).await?;
    rows.reverse();
    h.applied_total = sql.count().await?;
    for r in &rows {
        let v = text(r, 0).unwrap_or_default();
        h.applied.push(applied(v.clone(), None, time(r, 1)));
        h.current = Some(v);
    }
    h.heads = h.current.iter().cloned().collect();
    Ok(())
}
