//! PostgreSQL's `EXPLAIN (FORMAT JSON[, ANALYZE, BUFFERS])` read into a [`Plan`].

use serde_json::Value;

use super::{Plan, PlanNode, json_cell, num, text};
use crate::query::Cell;

/// Lines shown under a node, with PostgreSQL's own names, in the order its text format prints them.
const DETAILS: [&str; 16] = [
    "Hash Cond",
    "Merge Cond",
    "Index Cond",
    "Recheck Cond",
    "Join Filter",
    "Filter",
    "Rows Removed by Join Filter",
    "Rows Removed by Filter",
    "Rows Removed by Index Recheck",
    "Sort Key",
    "Sort Method",
    "Group Key",
    "Heap Fetches",
    "Workers Planned",
    "Workers Launched",
    "Output",
];

/// The one row of `EXPLAIN (FORMAT JSON)`: `[{"Plan": {...}, "Planning Time": .., "Execution Time": ..}]`.
pub(super) fn plan(rows: &[Vec<Cell>]) -> Result<Plan, String> {
    let (json, raw) = json_cell(rows)?;
    let top = json.get(0).ok_or("the plan is not a JSON array")?;
    let root = top.get("Plan").ok_or("the plan has no \"Plan\"")?;
    let mut plan = Plan {
        planning_ms: num(top, "Planning Time"),
        execution_ms: num(top, "Execution Time"),
        raw,
        ..Plan::default()
    };
    let node = node(root, &mut plan.writes);
    plan.nodes.push(node);
    Ok(plan)
}

fn node(v: &Value, writes: &mut bool) -> PlanNode {
    let kind = v.get("Node Type").and_then(Value::as_str).unwrap_or("?");
    *writes |= kind == "ModifyTable";
    let mut n = PlanNode::new(label(v, kind));
    if let Some(name) = text(v, "Subplan Name") {
        n.details.push(name);
    }
    for key in DETAILS {
        if let Some(value) = text(v, key) {
            let value = match (key, num(v, "Sort Space Used")) {
                ("Sort Method", Some(kb)) => {
                    format!("{value} ({} {kb} kB)", text(v, "Sort Space Type").unwrap_or_default())
                }
                _ => value,
            };
            n.details.push(format!("{key}: {value}"));
        }
    }
    if let Some(b) = buffers(v) {
        n.details.push(b);
    }
    n.startup_cost = num(v, "Startup Cost");
    n.total_cost = num(v, "Total Cost");
    n.est_rows = num(v, "Plan Rows");
    n.actual_rows = num(v, "Actual Rows");
    n.loops = num(v, "Actual Loops");
    // "Actual Total Time" is per loop: the node's whole time is that many times over.
    n.time_ms = num(v, "Actual Total Time").map(|t| t * n.loops.unwrap_or(1.0));
    if n.loops == Some(0.0) {
        n.details.push("never executed".into());
    }
    n.children = v
        .get("Plans")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |plans| plans.iter().map(|c| node(c, writes)).collect());
    n
}

/// The node type the way PostgreSQL's text format names it: `Hash Left Join`, `HashAggregate`,
/// `Index Scan using idx on posts p`, `Delete on posts`.
fn label(v: &Value, kind: &str) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let mut label = match (kind, s("Join Type"), s("Strategy")) {
        ("ModifyTable", _, _) => s("Operation").unwrap_or("Modify").to_string(),
        ("Aggregate", _, Some("Hashed")) => "HashAggregate".into(),
        ("Aggregate", _, Some("Sorted")) => "GroupAggregate".into(),
        ("Aggregate", _, Some("Mixed")) => "MixedAggregate".into(),
        ("Nested Loop", Some(jt), _) if jt != "Inner" => format!("Nested Loop {jt} Join"),
        (k, Some(jt), _) if jt != "Inner" && k.ends_with(" Join") => {
            format!("{} {jt} Join", k.trim_end_matches(" Join"))
        }
        (k, _, _) => k.to_string(),
    };
    if let Some(index) = s("Index Name") {
        label.push_str(&format!(" using {index}"));
    }
    let target = s("Relation Name").or(s("Function Name")).or(s("CTE Name"));
    if let Some(t) = target {
        label.push_str(&format!(" on {t}"));
    }
    if let Some(alias) = s("Alias").filter(|a| Some(*a) != target) {
        label.push_str(&format!(" {}{alias}", if target.is_some() { "" } else { "on " }));
    }
    label
}

/// `Buffers: shared hit=3 read=2 dirtied=1`, as the text format prints it (BUFFERS).
fn buffers(v: &Value) -> Option<String> {
    let mut parts = Vec::new();
    for (scope, prefix) in [("shared", "Shared"), ("local", "Local"), ("temp", "Temp")] {
        let counts: Vec<String> = ["Hit", "Read", "Dirtied", "Written"]
            .iter()
            .filter_map(|what| {
                let n = num(v, &format!("{prefix} {what} Blocks"))?;
                (n > 0.0).then(|| format!("{}={n}", what.to_lowercase()))
            })
            .collect();
        if !counts.is_empty() {
            parts.push(format!("{scope} {}", counts.join(" ")));
        }
    }
    (!parts.is_empty()).then(|| format!("Buffers: {}", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::super::finish;
    use super::*;

    /// Captured from PostgreSQL 15 (`psql -At`), the plans of a users ⋈ posts join and a DELETE.
    fn captured(name: &str) -> Plan {
        let text = match name {
            "explain_join" => include_str!("testdata/postgres_explain_join.json"),
            "analyze_join" => include_str!("testdata/postgres_analyze_join.json"),
            "analyze_nested_loop" => include_str!("testdata/postgres_analyze_nested_loop.json"),
            "analyze_delete" => include_str!("testdata/postgres_analyze_delete.json"),
            _ => unreachable!(),
        };
        let analyzed = name.starts_with("analyze");
        let mut plan = plan(&[vec![Cell::Json(text.to_string())]]).expect("a plan");
        plan.analyzed = analyzed;
        finish(&mut plan);
        plan
    }

    fn labels(plan: &Plan) -> Vec<(usize, String)> {
        plan.walk().into_iter().map(|(d, n)| (d, n.label.clone())).collect()
    }

    #[test]
    fn a_join_becomes_a_tree_of_named_nodes_with_costs() {
        let plan = captured("explain_join");
        let l = labels(&plan);
        assert_eq!(l[0], (0, "Sort".to_string()));
        assert_eq!(l[1], (1, "HashAggregate".to_string()));
        assert_eq!(l[2], (2, "Hash Join".to_string()));
        assert!(l.contains(&(3, "Seq Scan on posts p".to_string())), "{l:?}");
        assert!(l.contains(&(4, "Seq Scan on users u".to_string())), "under the Hash: {l:?}");
        let join = plan.walk()[2].1;
        assert_eq!(join.details, ["Hash Cond: (p.user_id = u.id)"]);
        assert_eq!((join.startup_cost, join.est_rows, join.actual_rows), (Some(2.12), Some(200.0), None));
        assert!(!plan.writes && plan.execution_ms.is_none());
        let hot: Vec<&str> = plan.walk().iter().filter(|(_, n)| n.hot).map(|(_, n)| n.label.as_str()).collect();
        assert_eq!(
            hot,
            ["Seq Scan on posts p"],
            "by its own cost (4.00 of 9.73), the scan of posts is the expensive node"
        );
    }

    #[test]
    fn analyze_adds_actual_rows_times_loops_and_buffers() {
        let plan = captured("analyze_join");
        assert_eq!((plan.planning_ms.is_some(), plan.execution_ms.is_some()), (true, true));
        let sort = &plan.nodes[0];
        assert_eq!((sort.actual_rows, sort.loops, sort.time_ms), (Some(50.0), Some(1.0), Some(0.1)));
        assert!(sort.details.iter().any(|d| d.starts_with("Sort Method: quicksort (Memory")), "{:?}", sort.details);
        assert!(sort.details.iter().any(|d| d == "Buffers: shared hit=3"), "{:?}", sort.details);
        let shares: f64 = plan.walk().iter().filter_map(|(_, n)| n.share).sum();
        assert!((shares - 1.0).abs() < 0.01, "self times add up to the whole: {shares}");
    }

    #[test]
    fn self_time_multiplies_by_loops() {
        let plan = captured("analyze_nested_loop");
        let scan = plan.walk().into_iter().find(|(_, n)| n.label.starts_with("Index Scan")).unwrap().1;
        assert_eq!(scan.label, "Index Scan using idx_posts_user_id on posts p");
        assert_eq!(scan.loops, Some(9.0));
        assert!((scan.time_ms.unwrap() - 0.002 * 9.0).abs() < 1e-9, "{:?}", scan.time_ms);
        let top = &plan.nodes[0];
        let children: f64 = top.children.iter().filter_map(|c| c.time_ms).sum();
        assert!((top.self_ms.unwrap() - (0.031 - children)).abs() < 1e-9);
    }

    #[test]
    fn a_delete_is_a_writing_plan() {
        let plan = captured("analyze_delete");
        assert!(plan.writes);
        assert_eq!(plan.nodes[0].label, "Delete on posts");
    }
}
