//! SQLite's `EXPLAIN QUERY PLAN` (rows of `id, parent, notused, detail`) read into a [`Plan`].
//!
//! SQLite gives no costs, row estimates or times: each step is its `detail` text, and a full table scan
//! (`SCAN t` without an index) is what gets highlighted.

use super::{Plan, PlanNode, cell_text};
use crate::query::Cell;

pub(super) fn plan(rows: &[Vec<Cell>]) -> Result<Plan, String> {
    let mut steps = Vec::with_capacity(rows.len());
    for row in rows {
        let [id, parent, _, detail] = row.as_slice() else {
            return Err(format!("a step of EXPLAIN QUERY PLAN has {} columns instead of 4", row.len()));
        };
        let number = |c: &Cell| cell_text(c).and_then(|t| t.parse::<i64>().ok()).ok_or("a step id is not a number");
        steps.push((number(id)?, number(parent)?, cell_text(detail).unwrap_or_default()));
    }
    let raw = steps.iter().map(|(id, parent, d)| format!("{id}|{parent}|{d}")).collect::<Vec<_>>().join("\n");
    Ok(Plan { nodes: children(&steps, 0), raw, ..Plan::default() })
}

/// The steps whose parent is `parent`, in the order SQLite listed them, each with its own children.
fn children(steps: &[(i64, i64, String)], parent: i64) -> Vec<PlanNode> {
    steps
        .iter()
        .filter(|(id, p, _)| *p == parent && *id != parent)
        .map(|(id, _, detail)| PlanNode {
            hot: detail.starts_with("SCAN ") && !detail.contains(" USING "),
            children: children(steps, *id),
            ..PlanNode::new(detail.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows captured from SQLite 3.40 (Python's sqlite3 module), for a users ⋈ posts join and a UNION.
    fn captured(json: &str) -> Plan {
        let rows: Vec<(i64, i64, i64, String)> = serde_json::from_str(json).unwrap();
        let cells: Vec<Vec<Cell>> = rows
            .into_iter()
            .map(|(a, b, c, d)| {
                vec![
                    Cell::Number(a.to_string()),
                    Cell::Number(b.to_string()),
                    Cell::Number(c.to_string()),
                    Cell::Text(d),
                ]
            })
            .collect();
        plan(&cells).unwrap()
    }

    #[test]
    fn a_join_is_a_scan_and_a_search() {
        let plan = captured(include_str!("testdata/sqlite_eqp_join.json"));
        let labels: Vec<&str> = plan.nodes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "SCAN u USING COVERING INDEX sqlite_autoindex_users_1",
                "SEARCH p USING COVERING INDEX idx_posts_user_id (user_id=?)",
                "USE TEMP B-TREE FOR ORDER BY"
            ]
        );
        assert!(plan.nodes.iter().all(|n| !n.hot), "an index scan is not flagged");
    }

    #[test]
    fn parents_nest_and_full_scans_are_hot() {
        let plan = captured(include_str!("testdata/sqlite_eqp_union.json"));
        let walked: Vec<(usize, &str, bool)> =
            plan.walk().into_iter().map(|(d, n)| (d, n.label.as_str(), n.hot)).collect();
        assert_eq!(
            walked,
            [
                (0, "COMPOUND QUERY", false),
                (1, "LEFT-MOST SUBQUERY", false),
                (2, "SEARCH users USING INTEGER PRIMARY KEY (rowid=?)", false),
                (2, "LIST SUBQUERY 1", false),
                (3, "SCAN posts", true),
                (1, "UNION USING TEMP B-TREE", false),
                (2, "SCAN users", true),
            ]
        );
    }
}
