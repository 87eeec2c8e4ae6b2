//! `strata_migrations_pending{database,tool}` and `strata_migrations_failed{database,tool}`: from each watched
//! database's last migrations reading (kept by `watch::schema_history`, refreshed by the database collection), so
//! a scrape reads nothing.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::watch::Watchlist;
use crate::watch::schema_history::{self, AppliedState, ProblemKind};

/// The migration gauges of every watched database.
pub struct MigrationGauges(pub Arc<Watchlist>);

impl fmt::Debug for MigrationGauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrationGauges").finish_non_exhaustive()
    }
}

impl Collector for MigrationGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut pending: Vec<(String, &'static str, i64)> = Vec::new();
        let mut failed: Vec<(String, &'static str, i64)> = Vec::new();
        for w in self.0.all() {
            let Some(m) = schema_history::kept(&w) else { continue };
            for t in &m.tools {
                pending.push((w.name().to_string(), t.tool.as_str(), t.pending.len() as i64));
                let failures =
                    t.problems.iter().filter(|p| matches!(p.kind, ProblemKind::Failed | ProblemKind::Dirty)).count();
                let rows =
                    t.applied.iter().filter(|a| matches!(a.state, AppliedState::Failed | AppliedState::Dirty)).count();
                failed.push((w.name().to_string(), t.tool.as_str(), failures.max(rows) as i64));
            }
        }
        for (name, help, values) in [
            ("strata_migrations_pending", "Migration files not applied yet, per database and migration tool", &pending),
            ("strata_migrations_failed", "Failed or dirty migrations the tool records, per database and tool", &failed),
        ] {
            if values.is_empty() {
                continue;
            }
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (database, tool, v) in values {
                ConstGauge::new(*v).encode(m.encode_family(&[("database", database.as_str()), ("tool", *tool)])?)?;
            }
        }
        Ok(())
    }
}
