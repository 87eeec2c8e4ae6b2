//! A query plan as the editor page shows it: the tree flattened into indented rows of formatted figures.

use crate::query::{Plan, PlanNode, Weight};

/// The plan of one statement, ready for `templates/query/plan.html`.
pub struct PlanView {
    /// The statement explained.
    pub sql: String,
    pub analyzed: bool,
    /// The statement changes data (its changes were rolled back when it was analyzed).
    pub writes: bool,
    pub rolled_back: bool,
    /// Some node has a cost, an estimate or a time (SQLite's plans have none: only the steps are shown).
    pub figures: bool,
    /// What made the highlighted nodes stand out, for the note under the tree.
    pub hot_rule: &'static str,
    /// `—` when the backend does not say.
    pub planning: String,
    pub execution: String,
    pub rows: Vec<PlanRow>,
    pub raw: String,
}

/// One node, at its depth in the tree.
pub struct PlanRow {
    pub depth: usize,
    pub label: String,
    pub details: Vec<String>,
    /// `startup..total`.
    pub cost: String,
    pub est_rows: String,
    pub actual_rows: String,
    pub loops: String,
    /// With its children, over all loops.
    pub time: String,
    /// Its own.
    pub self_time: String,
    pub share: String,
    /// One of the most expensive nodes.
    pub hot: bool,
}

const NONE: &str = "—";

impl PlanView {
    pub fn of(plan: &Plan, sql: &str) -> PlanView {
        let rows: Vec<PlanRow> = plan.walk().into_iter().map(|(depth, n)| PlanRow::of(depth, n)).collect();
        let figures =
            plan.walk().iter().any(|(_, n)| n.total_cost.is_some() || n.est_rows.is_some() || n.time_ms.is_some());
        PlanView {
            sql: sql.to_string(),
            analyzed: plan.analyzed,
            writes: plan.writes,
            rolled_back: plan.rolled_back,
            figures,
            hot_rule: match plan.weighed_by {
                Weight::Time => "take at least 20% of the time on their own",
                Weight::Cost => "take at least 20% of the estimated cost on their own",
                Weight::RowsExamined => "are estimated to examine at least 20% of all the rows examined",
                Weight::FullScans => "read a whole table",
            },
            planning: plan.planning_ms.map_or_else(|| NONE.into(), ms),
            execution: plan.execution_ms.map_or_else(|| NONE.into(), ms),
            rows,
            raw: plan.raw.clone(),
        }
    }
}

impl PlanRow {
    fn of(depth: usize, n: &PlanNode) -> PlanRow {
        let cost = match (n.startup_cost, n.total_cost) {
            (Some(s), Some(t)) => format!("{s:.2}..{t:.2}"),
            (None, Some(t)) => format!("{t:.2}"),
            _ => NONE.into(),
        };
        PlanRow {
            depth,
            label: n.label.clone(),
            details: n.details.clone(),
            cost,
            est_rows: n.est_rows.map_or_else(|| NONE.into(), count),
            actual_rows: n.actual_rows.map_or_else(|| NONE.into(), count),
            loops: n.loops.map_or_else(|| NONE.into(), count),
            time: n.time_ms.map_or_else(|| NONE.into(), ms),
            self_time: n.self_ms.map_or_else(|| NONE.into(), ms),
            share: n.share.map_or_else(|| NONE.into(), |s| format!("{:.0}%", s * 100.0)),
            hot: n.hot,
        }
    }
}

/// Milliseconds with three decimals, like EXPLAIN ANALYZE prints them.
fn ms(v: f64) -> String {
    format!("{v:.3} ms")
}

/// Whole numbers as such, averages (rows per loop) with two decimals.
fn count(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_like_explain_prints_them() {
        let node = PlanNode {
            label: "Seq Scan on posts p".into(),
            startup_cost: Some(0.0),
            total_cost: Some(4.0),
            est_rows: Some(200.0),
            actual_rows: Some(4.5),
            time_ms: Some(0.0183),
            share: Some(0.414),
            ..PlanNode::default()
        };
        let row = PlanRow::of(2, &node);
        assert_eq!((row.cost.as_str(), row.est_rows.as_str(), row.actual_rows.as_str()), ("0.00..4.00", "200", "4.50"));
        assert_eq!((row.time.as_str(), row.self_time.as_str(), row.share.as_str()), ("0.018 ms", "—", "41%"));
    }
}
