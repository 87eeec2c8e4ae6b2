//! Alembic, exactly as Alembic says it: an Alembic project read without running Python ([`project`],
//! [`pyfile`]), its revision graph ([`graph`]), Alembic's own output lines ([`format`]), `strata alembic
//! current|heads|history` ([`command`]), and [`annotate`], which adds the scripts' view to a watched database's
//! Alembic history (applied revisions with their messages, pending ones in upgrade order, missing scripts,
//! multiple heads).

pub mod command;
pub mod format;
pub mod graph;
pub mod project;
pub mod pyfile;

use std::collections::HashSet;

use serde::Serialize;

pub use self::graph::{Graph, GraphError, Script};
pub use self::project::{ProjectError, Scripts, Settings};
use super::{Applied, AppliedState, Pending, Problem, ProblemKind, ToolHistory};

/// Fills an Alembic [`ToolHistory`] from the project's scripts: `history.heads` (the version table's rows, or
/// `current` when only that is set) are resolved as Alembic resolves them; `applied` becomes every revision they
/// include, oldest first, with its message; `pending` what `alembic upgrade heads` would run, in that order;
/// problems: `missing_script` for a row no script declares, `multiple_heads` when the scripts have several heads
/// (`alembic upgrade head` then refuses).
pub fn annotate(history: &mut ToolHistory, scripts: &Scripts) {
    let g = &scripts.graph;
    let rows: Vec<String> =
        if history.heads.is_empty() { history.current.iter().cloned().collect() } else { history.heads.clone() };
    let mut resolved = Vec::new();
    for row in &rows {
        match g.resolve(row) {
            Ok(i) => resolved.push(i),
            Err(_) => history.problems.push(Problem::new(
                ProblemKind::MissingScript,
                Some(row),
                format!(
                    "the database is at revision {row}, which no file in {} declares: the file was deleted, renamed \
                     or not deployed here; Alembic stops with \"Can't locate revision identified by '{row}'\" until \
                     it is back (or the database is stamped to a revision that exists)",
                    scripts.dir.display()
                ),
            )),
        }
    }
    let missing = resolved.len() < rows.len();
    let applied = g.applied_set(&resolved);
    let mut oldest_first = g.history_order();
    oldest_first.reverse();
    history.applied = oldest_first
        .iter()
        .filter(|i| applied.contains(i))
        .map(|&i| {
            let s = g.script(i);
            Applied {
                version: s.revision.clone(),
                name: Some(s.doc().to_string()),
                applied_at: None,
                applied_by: None,
                duration_ms: None,
                checksum: None,
                success: None,
                state: AppliedState::Applied,
                logs: None,
                detail: None,
            }
        })
        .collect();
    history.applied_total = history.applied.len() as i64;
    history.pending = if missing {
        Vec::new() // Alembic cannot tell what is pending until the missing script is back
    } else {
        g.upgrade_order(&resolved)
            .into_iter()
            .map(|i| {
                let s = g.script(i);
                Pending {
                    version: s.revision.clone(),
                    name: Some(s.doc().to_string()),
                    path: Some(relative(&s.path, &scripts.dir)),
                    out_of_order: false,
                }
            })
            .collect()
    };
    let heads = g.heads();
    if heads.len() > 1 {
        let names: Vec<&str> = heads.iter().map(|&h| g.script(h).revision.as_str()).collect();
        let on_all = heads.iter().all(|h| applied.contains(h));
        history.problems.push(Problem::new(
            ProblemKind::MultipleHeads,
            None,
            format!(
                "the scripts have {} heads ({}): `alembic upgrade head` refuses to run; {}merge them with \
                 `alembic merge heads -m \"merge\"`, or upgrade with `alembic upgrade heads`",
                heads.len(),
                names.join(", "),
                if on_all { "the database is on all of them; " } else { "the database is not on all of them; " },
            ),
        ));
    }
    if history.current.is_none()
        && let Ok(current) = g.all_current(&rows)
        && !current.is_empty()
    {
        let ids: Vec<&str> = current.iter().map(|&i| g.script(i).revision.as_str()).collect();
        history.current = Some(ids.join(", "));
    }
}

/// One revision of the graph as the Alembic page draws it.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub revision: String,
    pub message: String,
    /// `down_revision`s (several for a merge).
    pub parents: Vec<String>,
    /// `depends_on`, as written.
    pub depends_on: Vec<String>,
    pub branch_labels: Vec<String>,
    pub head: bool,
    pub branch_point: bool,
    pub merge_point: bool,
    /// A version-table row names it (the database is on this head).
    pub current: bool,
    /// It or a descendant is in the version table.
    pub applied: bool,
}

/// The graph newest first (the order of `alembic history`), marked with where the database is (`rows`: the
/// version table's rows; unknown rows are left out, [`annotate`] reports them).
pub fn graph_nodes(scripts: &Scripts, rows: &[String]) -> Vec<Node> {
    let g = &scripts.graph;
    let resolved: Vec<usize> = rows.iter().filter_map(|r| g.resolve(r).ok()).collect();
    let current: HashSet<usize> = resolved.iter().copied().collect();
    let applied = g.applied_set(&resolved);
    g.history_order()
        .into_iter()
        .map(|i| {
            let s = g.script(i);
            Node {
                revision: s.revision.clone(),
                message: s.doc().to_string(),
                parents: s.down_revision.clone(),
                depends_on: s.dependencies.clone(),
                branch_labels: s.branch_labels.iter().cloned().collect(),
                head: s.is_head(),
                branch_point: s.is_branch_point(),
                merge_point: s.is_merge_point(),
                current: current.contains(&i),
                applied: applied.contains(&i),
            }
        })
        .collect()
}

fn relative(path: &std::path::Path, dir: &std::path::Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    path.strip_prefix(&dir).unwrap_or(path).display().to_string()
}
