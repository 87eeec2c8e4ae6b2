//! EXPLAIN and EXPLAIN ANALYZE of one statement: the backend's plan read into one tree of [`PlanNode`]s.
//!
//! The plan is asked for on the run's own [`Session`], so a viewer's EXPLAIN ANALYZE runs in the same
//! read-only transaction as any of their statements (the database refuses a write), and the timeout and
//! Cancel apply. EXPLAIN ANALYZE executes the statement: it always runs inside a transaction that is
//! rolled back, so a write is measured and then discarded.
//!
//! | backend | EXPLAIN | EXPLAIN ANALYZE |
//! |---|---|---|
//! | PostgreSQL | `EXPLAIN (FORMAT JSON)` | `EXPLAIN (FORMAT JSON, ANALYZE, BUFFERS)` |
//! | MariaDB | `EXPLAIN FORMAT=JSON` | `ANALYZE FORMAT=JSON` |
//! | SQLite | `EXPLAIN QUERY PLAN` | not available: SQLite does not report rows or times per step |

mod mysql;
mod postgres;
mod sqlite;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Cell, Engine, Outcome, RunOptions, StatementResult, split};
use crate::config::Backend;
use crate::error::{Error, Result};

/// A node whose own share of the plan's [`Weight`] is at least this much is highlighted.
pub const HOT_SHARE: f64 = 0.2;

/// Most rows a plan may have (SQLite returns one row per step).
const PLAN_ROWS: usize = 100_000;

/// Reads a backend's EXPLAIN rows into a plan.
type ReadPlan = fn(&[Vec<Cell>]) -> Result<Plan, String>;

/// The plan of one statement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The top of the tree (usually one node; SQLite may have several).
    pub nodes: Vec<PlanNode>,
    /// The statement was executed (EXPLAIN ANALYZE): actual rows, times and loops are known.
    pub analyzed: bool,
    /// The statement changes data (a ModifyTable node, a `delete`/`update` table, or not a query).
    pub writes: bool,
    /// It was executed inside a transaction that was then rolled back (always so for ANALYZE).
    pub rolled_back: bool,
    /// What the nodes' shares measure.
    pub weighed_by: Weight,
    /// Planning (optimization) time in milliseconds, when the backend says.
    pub planning_ms: Option<f64>,
    /// Execution time in milliseconds, when the backend says.
    pub execution_ms: Option<f64>,
    /// The backend's own output, for the curious and for bug reports.
    pub raw: String,
}

/// What makes a node expensive, from the best figure the plan has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weight {
    /// Its own measured time (ANALYZE).
    Time,
    /// Its own estimated cost.
    Cost,
    /// The rows it is estimated to examine over all its loops (MariaDB plans carry no costs).
    RowsExamined,
    /// No figures at all: full table scans are flagged (SQLite).
    #[default]
    FullScans,
}

/// One step of a plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanNode {
    /// The node type with its relation or index: `Index Scan using idx_posts_user_id on posts p`.
    pub label: String,
    /// Conditions, keys, sort methods, buffers: one line each.
    pub details: Vec<String>,
    pub startup_cost: Option<f64>,
    pub total_cost: Option<f64>,
    /// Estimated rows per loop.
    pub est_rows: Option<f64>,
    /// Actual rows per loop (average), after ANALYZE.
    pub actual_rows: Option<f64>,
    /// Milliseconds spent in this node and its children, over all its loops.
    pub time_ms: Option<f64>,
    /// Milliseconds spent in this node alone: [`PlanNode::time_ms`] minus its children's.
    pub self_ms: Option<f64>,
    /// How many times the node ran.
    pub loops: Option<f64>,
    /// Rows the node is estimated to examine over all its loops (MariaDB: `rows` times the rows of the
    /// tables before it in the join).
    pub examined: Option<f64>,
    /// This node's own share of the whole plan by [`Plan::weighed_by`] (0.0 to 1.0).
    pub share: Option<f64>,
    /// One of the most expensive nodes (see [`HOT_SHARE`]); without any figures, a full table scan.
    pub hot: bool,
    pub children: Vec<PlanNode>,
}

impl PlanNode {
    fn new(label: impl Into<String>) -> PlanNode {
        PlanNode { label: label.into(), ..PlanNode::default() }
    }

    /// This node and all below it, depth first, with their depth (0 for this one).
    pub fn walk(&self) -> Vec<(usize, &PlanNode)> {
        let mut out = Vec::new();
        fn go<'a>(n: &'a PlanNode, depth: usize, out: &mut Vec<(usize, &'a PlanNode)>) {
            out.push((depth, n));
            for c in &n.children {
                go(c, depth + 1, out);
            }
        }
        go(self, 0, &mut out);
        out
    }
}

impl Plan {
    /// Every node, depth first, with its depth.
    pub fn walk(&self) -> Vec<(usize, &PlanNode)> {
        self.nodes.iter().flat_map(PlanNode::walk).collect()
    }
}

/// What [`Engine::explain_as`] did: the statement as it ran (its outcome, its duration) and its plan
/// when it succeeded.
#[derive(Clone, Debug)]
pub struct Explained {
    /// The user's statement (not the EXPLAIN wrapper), with its outcome; an error's position points into
    /// the user's text. No rows: the plan replaces them.
    pub statement: StatementResult,
    pub plan: Option<Plan>,
}

impl Engine {
    /// The plan of the one statement in `text`, with ANALYZE when `analyze`. Err when the text is not
    /// exactly one statement (400), when the backend cannot ANALYZE (501), or when no connection opens.
    pub async fn explain_as(&self, id: i64, text: &str, analyze: bool, opts: &RunOptions) -> Result<Explained> {
        let pieces = split::split(text, self.backend());
        let [piece] = pieces.as_slice() else {
            return Err(Error::BadRequest(format!(
                "EXPLAIN takes exactly one statement; this text has {}: select the one to explain",
                pieces.len()
            )));
        };
        let stmt = piece.sql.as_str();
        // The one place that knows each backend's EXPLAIN.
        let (prefix, read): (&str, ReadPlan) = match (self.backend(), analyze) {
            (Backend::Postgres, false) => ("EXPLAIN (FORMAT JSON) ", postgres::plan),
            (Backend::Postgres, true) => ("EXPLAIN (FORMAT JSON, ANALYZE, BUFFERS) ", postgres::plan),
            (Backend::MySql, false) => ("EXPLAIN FORMAT=JSON ", mysql::plan),
            (Backend::MySql, true) => ("ANALYZE FORMAT=JSON ", mysql::plan),
            (Backend::Sqlite, false) => ("EXPLAIN QUERY PLAN ", sqlite::plan),
            (Backend::Sqlite, true) => {
                return Err(Error::Unsupported(
                    "EXPLAIN ANALYZE is not available on SQLite: SQLite can show how it plans a statement \
                     (EXPLAIN QUERY PLAN) but does not measure rows, times or loops per step. Use Explain instead."
                        .into(),
                ));
            }
        };
        let wrapped = split::Piece { sql: format!("{prefix}{stmt}"), offset: 0 };

        let mut guard = self.enter(id, &opts.user)?;
        let mut session = self.session(opts.read_only, opts.timeout).await?;
        *guard.control.kill.lock().unwrap_or_else(|p| p.into_inner()) = Some(session.kill.clone());
        if analyze {
            session.discard_each_statement();
        }
        let _listed = crate::db::running::register(&opts.user, &wrapped.sql);
        let mut result = StatementResult {
            sql: stmt.to_string(),
            offset: piece.offset,
            columns: Vec::new(),
            rows: Vec::new(),
            more_rows: false,
            rows_affected: None,
            duration: Duration::ZERO,
            outcome: Outcome::Success,
        };
        let plan_opts = RunOptions { max_rows: PLAN_ROWS, ..opts.clone() };
        let started = Instant::now();
        let mut outcome = if guard.control.cancelled.load(Ordering::SeqCst) {
            Outcome::Cancelled
        } else {
            self.statement(&mut session, &guard.control, &wrapped, &plan_opts, &mut result).await
        };
        result.duration = started.elapsed();
        guard.finished = true;
        self.finish(session, opts.timeout, matches!(outcome, Outcome::Timeout | Outcome::Cancelled));

        let rows = std::mem::take(&mut result.rows);
        result.columns.clear();
        let plan = match &mut outcome {
            Outcome::Success => match read(&rows) {
                Ok(mut plan) => {
                    plan.analyzed = analyze;
                    plan.rolled_back = analyze;
                    plan.writes = plan.writes || !reads_only(stmt);
                    finish(&mut plan);
                    Some(plan)
                }
                Err(why) => {
                    outcome = Outcome::Error { message: format!("cannot read the plan: {why}"), position: None };
                    None
                }
            },
            // The database's position counts from the start of the wrapper.
            Outcome::Error { position, .. } => {
                *position = position.map(|p| piece.offset + p.saturating_sub(prefix.len()));
                None
            }
            Outcome::Cancelled | Outcome::Timeout => None,
        };
        result.outcome = outcome;
        Ok(Explained { statement: result, plan })
    }
}

/// Whether a statement's first keyword is one that only reads (comments and parentheses skipped).
fn reads_only(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, after)| after).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after).trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    // WITH ... DELETE shows up in the plan itself (a ModifyTable node).
    ["select", "with", "values", "table"].iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// Fills in what the backends leave to compute: times including children, self times and costs, each
/// node's share of the whole by the best figure there is, and which nodes are hot.
fn finish(plan: &mut Plan) {
    for n in &mut plan.nodes {
        inclusive_times(n);
    }
    let total_time: f64 = plan.nodes.iter().filter_map(|n| n.time_ms).sum();
    let total_cost: f64 = plan.nodes.iter().filter_map(|n| n.total_cost).sum();
    let total_examined: f64 = plan.walk().iter().filter_map(|(_, n)| n.examined).sum();
    let (weight, total) = if plan.analyzed && total_time > 0.0 {
        (Weight::Time, total_time)
    } else if total_cost > 0.0 {
        (Weight::Cost, total_cost)
    } else if total_examined > 0.0 {
        (Weight::RowsExamined, total_examined)
    } else {
        (Weight::FullScans, 0.0)
    };
    plan.weighed_by = weight;
    for n in &mut plan.nodes {
        shares(n, weight, total);
    }
}

/// Bottom-up: a node reports either its time with its children (PostgreSQL) or only its own (MariaDB
/// tables and sorts); each gets the other. A node with neither takes the sum of its children.
fn inclusive_times(n: &mut PlanNode) {
    for c in &mut n.children {
        inclusive_times(c);
    }
    let children: Option<f64> =
        n.children.iter().filter_map(|c| c.time_ms).fold(None, |acc, t| Some(acc.unwrap_or(0.0) + t));
    match (n.time_ms, n.self_ms) {
        (Some(total), None) => n.self_ms = Some((total - children.unwrap_or(0.0)).max(0.0)),
        (None, Some(own)) => n.time_ms = Some(own + children.unwrap_or(0.0)),
        (None, None) => n.time_ms = children,
        (Some(_), Some(_)) => {}
    }
}

fn shares(n: &mut PlanNode, weight: Weight, total: f64) {
    let own = match weight {
        Weight::Time => n.self_ms,
        // A node's cost includes its children's (per loop): what is left is its own.
        Weight::Cost => {
            let children: f64 = n.children.iter().filter_map(|c| c.total_cost).sum();
            n.total_cost.map(|c| (c - children).max(0.0))
        }
        Weight::RowsExamined => n.examined,
        Weight::FullScans => None,
    };
    if total > 0.0 {
        n.share = own.map(|o| (o / total).min(1.0));
    }
    n.hot = n.hot || n.share.is_some_and(|s| s >= HOT_SHARE);
    for c in &mut n.children {
        shares(c, weight, total);
    }
}

/// The text of a cell the plan came in (JSON arrives as JSON on PostgreSQL, as text on MariaDB).
fn cell_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Text(s) | Cell::Json(s) | Cell::Number(s) => Some(s.clone()),
        Cell::Binary(b) => String::from_utf8(b.clone()).ok(),
        Cell::Bool(_) | Cell::Null => None,
    }
}

/// The first cell of the first row, parsed as JSON (PostgreSQL and MariaDB return the plan that way).
fn json_cell(rows: &[Vec<Cell>]) -> Result<(serde_json::Value, String), String> {
    let text = rows.first().and_then(|r| r.first()).and_then(cell_text).ok_or("the database returned no plan")?;
    let json = serde_json::from_str(&text).map_err(|e| format!("the plan is not JSON ({e})"))?;
    Ok((json, text))
}

/// A number in a JSON object, whether the backend wrote it as a number or a string.
fn num(v: &serde_json::Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A scalar or a list of scalars in a JSON object, as one line of text.
fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queries_read() {
        assert!(reads_only("select 1"));
        assert!(reads_only("  -- why\n/* note */ (SELECT 1) UNION (SELECT 2)"));
        assert!(reads_only("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(!reads_only("DELETE FROM posts"));
        assert!(!reads_only("/* select */ update t set a = 1"));
        assert!(!reads_only("INSERT INTO t SELECT 1"));
    }

    #[test]
    fn self_time_is_total_over_loops_minus_children() {
        let mut plan = Plan {
            analyzed: true,
            nodes: vec![PlanNode {
                time_ms: Some(10.0),
                children: vec![
                    PlanNode { time_ms: Some(1.0), ..PlanNode::new("a") },
                    PlanNode { self_ms: Some(5.0), ..PlanNode::new("b") },
                ],
                ..PlanNode::new("top")
            }],
            ..Plan::default()
        };
        finish(&mut plan);
        let top = &plan.nodes[0];
        assert_eq!(top.self_ms, Some(4.0));
        assert_eq!(top.children[1].time_ms, Some(5.0), "a node that reports only its own time");
        assert_eq!(plan.weighed_by, Weight::Time);
        assert_eq!(top.children[1].share, Some(0.5));
        assert_eq!(top.children[0].share, Some(0.1));
        assert!(top.hot && top.children[1].hot && !top.children[0].hot);
    }
}
