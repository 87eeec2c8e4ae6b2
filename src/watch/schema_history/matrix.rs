//! The environments matrix: for each migration tool and project, the watched databases that use it (ordered by
//! their `group`: dev, staging, prod, ...) against every migration any of them knows, each cell applied (when),
//! pending, failed or missing — drift between environments at a glance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppliedState, Migrations, Tool, files};
use crate::migrate::MigrationSet;
use crate::watch::Watched;

/// Every group of databases sharing a tool and project.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Matrix {
    pub groups: Vec<MatrixGroup>,
    /// Databases that could not be read in time, or have no migration tool.
    pub notes: Vec<String>,
}

/// One tool and project across the databases that use it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MatrixGroup {
    pub tool: Tool,
    /// The project folder (`migrations_dir` or `alembic_ini`) the databases share; `None` when none is configured.
    pub project: Option<String>,
    /// The columns, ordered by group then name.
    pub databases: Vec<MatrixDatabase>,
    /// The rows: every migration any of these databases has applied or pending, oldest first.
    pub rows: Vec<MatrixRow>,
}

/// A column.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MatrixDatabase {
    pub name: String,
    /// Its `group` (or `environment`) option.
    pub group: Option<String>,
    /// The tool's state there in a few words.
    pub summary: String,
}

/// A row: one migration.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MatrixRow {
    pub version: String,
    pub name: Option<String>,
    /// One cell per database, in column order.
    pub cells: Vec<MatrixCell>,
}

/// The migration in one database.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MatrixCell {
    pub database: String,
    /// `applied`, `pending`, `failed`, `dirty`, `rolled_back` or `missing` (neither applied nor among its files).
    pub state: String,
    pub applied_at: Option<DateTime<Utc>>,
}

/// Reads every database (from the shared cache when fresh, all at once) and lays the matrix out.
pub async fn read(all: &[Arc<Watched>], set: &MigrationSet, limit: Duration) -> Matrix {
    let readings = futures::future::join_all(
        all.iter().map(|w| async move { (w.clone(), super::of(w, set, limit, false).await) }),
    )
    .await;
    let mut notes = Vec::new();
    let mut ok = Vec::new();
    for (w, r) in readings {
        match r {
            Ok(Some(m)) => ok.push((w, m)),
            Ok(None) => notes.push(format!("{}: no answer within {} s", w.name(), limit.as_secs_f64())),
            Err(e) => notes.push(format!("{}: {}", w.name(), crate::config::mask_url_str(&e.to_string()))),
        }
    }
    let mut m = lay_out(&ok.iter().map(|(w, m)| (w.as_ref(), m.clone())).collect::<Vec<_>>());
    m.notes.extend(notes);
    m
}

/// A database and its history of one tool.
type Member<'a> = (&'a Watched, &'a super::ToolHistory);

/// Groups the readings by tool and project and fills the cells.
pub fn lay_out(readings: &[(&Watched, Arc<Migrations>)]) -> Matrix {
    let mut groups: BTreeMap<(Tool, Option<String>), Vec<Member<'_>>> = BTreeMap::new();
    let mut notes = Vec::new();
    for (w, m) in readings {
        if m.tools.is_empty() {
            notes.push(format!("{}: no migration tool found", w.name()));
        }
        for t in &m.tools {
            let project = match t.tool {
                Tool::Alembic => w.spec.alembic_ini.clone().or_else(|| w.spec.migrations_dir.clone()),
                _ => w.spec.migrations_dir.clone(),
            };
            let project = project.map(|p| std::fs::canonicalize(&p).unwrap_or(p).display().to_string());
            groups.entry((t.tool, project)).or_default().push((*w, t));
        }
    }
    let mut out = Vec::new();
    for ((tool, project), mut members) in groups {
        members.sort_by(|a, b| (a.0.spec.group.as_deref(), a.0.name()).cmp(&(b.0.spec.group.as_deref(), b.0.name())));
        let mut versions: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (_, t) in &members {
            for a in &t.applied {
                versions.entry(a.version.clone()).or_insert_with(|| a.name.clone());
            }
            for p in &t.pending {
                versions.entry(p.version.clone()).or_insert_with(|| p.name.clone());
            }
        }
        let mut order: Vec<(String, Option<String>)> = versions.into_iter().collect();
        order.sort_by(|a, b| files::compare_versions(&a.0, &b.0));
        let rows = order
            .into_iter()
            .map(|(version, name)| MatrixRow {
                cells: members.iter().map(|(w, t)| cell(w.name(), t, &version)).collect(),
                version,
                name,
            })
            .collect();
        out.push(MatrixGroup {
            tool,
            project,
            databases: members
                .iter()
                .map(|(w, t)| MatrixDatabase {
                    name: w.name().to_string(),
                    group: w.spec.group.clone(),
                    summary: t.summary(),
                })
                .collect(),
            rows,
        });
    }
    Matrix { groups: out, notes }
}

fn cell(database: &str, t: &super::ToolHistory, version: &str) -> MatrixCell {
    let latest = t.applied.iter().rev().find(|a| a.version == version);
    let (state, at) = match latest {
        Some(a) => (a.state.as_str().to_string(), a.applied_at),
        None if t.pending.iter().any(|p| p.version == version) => ("pending".to_string(), None),
        // golang-migrate records only the version it is at: anything below it is applied.
        None if t.tool == Tool::GolangMigrate
            && t.current.as_deref().is_some_and(|c| files::compare_versions(version, c).is_le()) =>
        {
            (AppliedState::Applied.as_str().to_string(), None)
        }
        None => ("missing".to_string(), None),
    };
    MatrixCell { database: database.to_string(), state, applied_at: at }
}
