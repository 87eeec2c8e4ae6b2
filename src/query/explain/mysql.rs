//! MariaDB's `EXPLAIN FORMAT=JSON` and `ANALYZE FORMAT=JSON` read into a [`Plan`].
//!
//! Its JSON nests operations by name (`query_block` holds a `filesort` holding a `temporary_table`
//! holding a `nested_loop` of `table`s, ...). Estimated `rows` and the measured average `r_rows` are per
//! loop; `r_table_time_ms + r_other_time_ms` is a table's own time and a filesort's `r_total_time_ms` its
//! own, while a query block's `r_total_time_ms` includes everything under it.

use serde_json::Value;

use super::{Plan, PlanNode, json_cell, num, text};
use crate::query::Cell;

/// The operations a JSON object may hold, outermost first (the order MariaDB runs them backwards).
const OPERATIONS: [&str; 12] = [
    "union_result",
    "window_functions_computation",
    "read_sorted_file",
    "filesort",
    "duplicates_removal",
    "temporary_table",
    "nested_loop",
    "table",
    "block-nl-join",
    "materialized",
    "query_block",
    "subqueries",
];

/// The one row of `EXPLAIN FORMAT=JSON`: `{"query_optimization": {..}, "query_block": {..}}`.
pub(super) fn plan(rows: &[Vec<Cell>]) -> Result<Plan, String> {
    let (json, raw) = json_cell(rows)?;
    let block = json.get("query_block").ok_or("the plan has no \"query_block\"")?;
    let mut plan = Plan {
        planning_ms: json.get("query_optimization").and_then(|q| num(q, "r_total_time_ms")),
        execution_ms: num(block, "r_total_time_ms"),
        raw,
        ..Plan::default()
    };
    let mut reader = Reader { writes: false };
    plan.nodes = reader.operations(&json);
    plan.writes = reader.writes;
    Ok(plan)
}

struct Reader {
    writes: bool,
}

impl Reader {
    /// The operations held by one object, outermost first.
    fn operations(&mut self, v: &Value) -> Vec<PlanNode> {
        OPERATIONS.iter().filter_map(|key| v.get(*key).map(|op| (key, op))).flat_map(|(k, op)| self.op(k, op)).collect()
    }

    fn op(&mut self, key: &str, v: &Value) -> Vec<PlanNode> {
        let each = |this: &mut Self, v: &Value| -> Vec<PlanNode> {
            match v {
                Value::Array(items) => items.iter().flat_map(|i| this.operations(i)).collect(),
                other => this.operations(other),
            }
        };
        match key {
            "query_block" => vec![self.block(v, "Query block")],
            "subqueries" => v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.get("query_block"))
                .map(|b| self.block(b, "Subquery"))
                .collect(),
            "table" => vec![self.table(v)],
            "nested_loop" => {
                // Each table is looked up once per row the tables before it let through.
                let mut fanout = 1.0;
                let mut tables = Vec::new();
                for item in v.as_array().into_iter().flatten() {
                    let mut ops = self.operations(item);
                    let table = item.get("table").or_else(|| item.get("block-nl-join").and_then(|b| b.get("table")));
                    if let Some(t) = table {
                        for n in &mut ops {
                            scale_examined(n, fanout);
                        }
                        fanout *= num(t, "rows").unwrap_or(1.0) * num(t, "filtered").unwrap_or(100.0) / 100.0;
                    }
                    tables.extend(ops);
                }
                // One table is not a join: no node for the loop.
                if tables.len() == 1 {
                    tables
                } else {
                    vec![PlanNode { children: tables, ..PlanNode::new("Nested loop") }]
                }
            }
            "block-nl-join" => {
                let mut n = PlanNode::new(match text(v, "join_type") {
                    Some(jt) => format!("Block nested loop join ({jt})"),
                    None => "Block nested loop join".into(),
                });
                detail(&mut n, v, "buffer_type", "buffer");
                detail(&mut n, v, "attached_condition", "condition");
                n.children = v.get("table").map(|t| vec![self.table(t)]).unwrap_or_default();
                vec![n]
            }
            "filesort" => {
                let mut n = PlanNode::new("Sort (filesort)");
                detail(&mut n, v, "sort_key", "key");
                detail(&mut n, v, "r_sort_mode", "mode");
                n.self_ms = num(v, "r_total_time_ms");
                n.loops = num(v, "r_loops");
                n.actual_rows = num(v, "r_output_rows");
                n.children = self.operations(v);
                vec![n]
            }
            "union_result" => {
                let mut n = PlanNode::new(match text(v, "table_name") {
                    Some(t) => format!("Union result {t}"),
                    None => "Union result".into(),
                });
                n.est_rows = num(v, "rows");
                n.actual_rows = num(v, "r_rows");
                n.loops = num(v, "r_loops");
                n.children = v
                    .get("query_specifications")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get("query_block"))
                    .map(|b| self.block(b, "Query block"))
                    .collect();
                vec![n]
            }
            "materialized" => vec![PlanNode { children: self.operations(v), ..PlanNode::new("Materialized") }],
            "temporary_table" => vec![PlanNode { children: each(self, v), ..PlanNode::new("Temporary table") }],
            "duplicates_removal" => vec![PlanNode { children: each(self, v), ..PlanNode::new("Duplicates removal") }],
            "read_sorted_file" => {
                let mut n = PlanNode::new("Read sorted file");
                n.actual_rows = num(v, "r_rows");
                n.children = self.operations(v);
                vec![n]
            }
            "window_functions_computation" => {
                vec![PlanNode { children: self.operations(v), ..PlanNode::new("Window functions") }]
            }
            _ => Vec::new(),
        }
    }

    fn block(&mut self, v: &Value, what: &str) -> PlanNode {
        let mut n = PlanNode::new(match num(v, "select_id") {
            Some(id) => format!("{what} #{id}"),
            None => what.to_string(),
        });
        detail(&mut n, v, "having_condition", "having");
        detail(&mut n, v, "outer_ref_condition", "outer reference");
        n.total_cost = num(v, "cost");
        n.time_ms = num(v, "r_total_time_ms");
        n.loops = num(v, "r_loops");
        n.children = self.operations(v);
        n
    }

    fn table(&mut self, v: &Value) -> PlanNode {
        let name = text(v, "table_name").unwrap_or_else(|| "?".into());
        let access = text(v, "access_type").unwrap_or_default();
        let how = access_words(&access);
        let write = [("delete", "Delete from"), ("update", "Update"), ("insert", "Insert into")]
            .into_iter()
            .find(|(key, _)| v.get(*key).is_some());
        self.writes |= write.is_some();
        let mut label = match write {
            Some((_, verb)) => format!("{verb} {name} ({how})"),
            None => format!("{how} on {name}"),
        };
        if let Some(key) = text(v, "key") {
            label.push_str(&format!(" using {key}"));
        }
        let mut n = PlanNode::new(label);
        detail(&mut n, v, "access_type", "access");
        detail(&mut n, v, "used_key_parts", "key parts");
        detail(&mut n, v, "ref", "ref");
        detail(&mut n, v, "index_condition", "index condition");
        detail(&mut n, v, "attached_condition", "condition");
        if let Some(f) = num(v, "filtered") {
            let measured = num(v, "r_filtered").map(|r| format!(", measured {r:.0}%")).unwrap_or_default();
            n.details.push(format!("filtered: {f:.0}%{measured}"));
        }
        if v.get("using_index").and_then(Value::as_bool) == Some(true) {
            n.details.push("covering index".into());
        }
        n.total_cost = num(v, "cost");
        n.est_rows = num(v, "rows");
        n.examined = n.est_rows;
        n.actual_rows = num(v, "r_rows");
        n.loops = num(v, "r_loops");
        n.self_ms = match (num(v, "r_table_time_ms"), num(v, "r_other_time_ms")) {
            (None, None) => None,
            (t, o) => Some(t.unwrap_or(0.0) + o.unwrap_or(0.0)),
        };
        n.children = v.get("materialized").map(|m| self.operations(m)).unwrap_or_default();
        n
    }
}

fn detail(n: &mut PlanNode, v: &Value, key: &str, name: &str) {
    if let Some(t) = text(v, key) {
        n.details.push(format!("{name}: {t}"));
    }
}

/// MariaDB's `access_type` in words.
fn access_words(access: &str) -> String {
    match access {
        "ALL" => "Full table scan",
        "index" => "Full index scan",
        "range" => "Index range scan",
        "ref" => "Index lookup",
        "eq_ref" => "Unique index lookup",
        "ref_or_null" => "Index lookup with NULL",
        "const" => "Constant row",
        "system" => "System row",
        "index_merge" => "Index merge",
        "fulltext" => "Full-text search",
        "unique_subquery" => "Unique subquery lookup",
        "index_subquery" => "Subquery index lookup",
        "" => "Table",
        other => return other.to_string(),
    }
    .to_string()
}

/// The table in `n` (itself, or under a block nested loop join) is examined `times` as often.
fn scale_examined(n: &mut PlanNode, times: f64) {
    match n.examined.as_mut() {
        Some(e) => *e *= times,
        None => n.children.iter_mut().take(1).for_each(|c| scale_examined(c, times)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::finish;
    use super::*;

    /// Captured from MariaDB 10.11 (`mysql -N -r`), the plans of a users ⋈ posts join and a DELETE.
    fn captured(name: &str) -> Plan {
        let text = match name {
            "explain_join" => include_str!("testdata/mariadb_explain_join.json"),
            "analyze_join" => include_str!("testdata/mariadb_analyze_join.json"),
            "analyze_delete" => include_str!("testdata/mariadb_analyze_delete.json"),
            _ => unreachable!(),
        };
        let analyzed = name.starts_with("analyze");
        let mut plan = plan(&[vec![Cell::Text(text.to_string())]]).expect("a plan");
        plan.analyzed = analyzed;
        finish(&mut plan);
        plan
    }

    fn labels(plan: &Plan) -> Vec<(usize, String)> {
        plan.walk().into_iter().map(|(d, n)| (d, n.label.clone())).collect()
    }

    #[test]
    fn a_join_becomes_block_sort_temporary_table_and_a_nested_loop_of_tables() {
        let plan = captured("explain_join");
        assert_eq!(
            labels(&plan),
            [
                (0, "Query block #1".to_string()),
                (1, "Sort (filesort)".to_string()),
                (2, "Temporary table".to_string()),
                (3, "Nested loop".to_string()),
                (4, "Full index scan on u using username".to_string()),
                (4, "Index lookup on p using idx_posts_user_id".to_string()),
            ]
        );
        let p = plan.walk()[5].1;
        assert_eq!(p.est_rows, Some(2.0));
        assert!(p.details.contains(&"ref: explain_capture.u.id".to_string()), "{:?}", p.details);
        assert!(!plan.writes && plan.walk().iter().all(|(_, n)| n.actual_rows.is_none()));
    }

    #[test]
    fn analyze_gives_rows_loops_and_own_times() {
        let plan = captured("analyze_join");
        let p = plan.walk()[5].1;
        assert_eq!((p.est_rows, p.actual_rows, p.loops), (Some(2.0), Some(4.0), Some(50.0)));
        let own = 0.045711274 + 0.034420421;
        assert!((p.self_ms.unwrap() - own).abs() < 1e-9 && (p.time_ms.unwrap() - own).abs() < 1e-9);
        let block = &plan.nodes[0];
        assert_eq!(block.time_ms, Some(0.136485791), "a block reports its time with everything under it");
        assert!(p.hot, "the lookup of p takes most of the time");
        assert!(plan.planning_ms.is_some() && plan.execution_ms == Some(0.136485791));
    }

    #[test]
    fn a_delete_writes_and_keeps_its_subquery() {
        let plan = captured("analyze_delete");
        assert!(plan.writes);
        let l = labels(&plan);
        assert_eq!(l[1], (1, "Delete from posts (Full table scan)".to_string()));
        assert_eq!(l[2], (1, "Subquery #2".to_string()));
        assert_eq!(l[3], (2, "Unique subquery lookup on users using PRIMARY".to_string()));
        assert_eq!(plan.walk()[3].1.actual_rows, None, "r_rows: null, the subquery never ran");
    }

    #[test]
    fn without_analyze_the_rows_each_table_examines_decide() {
        let plan = captured("explain_join");
        assert_eq!(plan.weighed_by, super::super::Weight::RowsExamined);
        let (u, p) = (plan.walk()[4].1, plan.walk()[5].1);
        assert_eq!((u.examined, p.examined), (Some(50.0), Some(100.0)), "p: 2 rows for each of the 50 users");
        assert!(p.hot && u.hot && p.share > u.share);
    }
}
