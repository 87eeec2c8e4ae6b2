//! A metric's series as the samples API and the charts show it: the points from the home database's samples
//! ([`crate::home::samples`]) at the resolution the range calls for, and the migration markers in the range — from
//! Strata's `migrations_log` and from every migration tool detected in the database.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use utoipa::ToSchema;

use super::Watched;
use crate::config::SampleRetention;
use crate::error::Result;
use crate::home::samples::{self, Metric};
use crate::migrate::MigrationSet;
use crate::watch::schema_history::{self, Migrations, Tool};
use entity::migrations_log;

/// A migration applied to the database, as a chart marks it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Marker {
    /// When it was applied (Unix seconds).
    pub at: i64,
    /// The tool that applied it (`strata`, `alembic`, `flyway`, ...).
    pub tool: String,
    /// Its revision or version, as the tool names it.
    pub revision: String,
    pub name: Option<String>,
}

/// One metric over a range.
#[derive(Clone, Debug)]
pub struct Series {
    pub metric: Metric,
    pub points: Vec<(i64, f64)>,
    pub markers: Vec<Marker>,
    /// The samples' resolution the points come from (0: as taken; 300, 3600: averages).
    pub resolution: i32,
}

/// What reading a series needs besides the database.
pub struct Source<'a> {
    pub home: &'a DatabaseConnection,
    pub set: &'a MigrationSet,
    pub catalog_timeout: Duration,
    pub retention: SampleRetention,
}

/// The series of `metric` for `watched` from `from` to `to` (Unix seconds, both included).
pub async fn series(src: &Source<'_>, watched: &Watched, metric: Metric, from: i64, to: i64) -> Result<Series> {
    let (points, resolution) = points(src, watched, &metric, from, to).await?;
    let markers = markers(src, watched, from, to).await;
    Ok(Series { metric, points, markers, resolution })
}

/// The points of `metric` from `from` to `to`, and the finest resolution among them. The range is read at the
/// resolution its length calls for (raw for up to `sample_retention`'s raw time, ...), newest first, and where
/// that resolution has nothing older, the coarser ones continue; a range with nothing at those resolutions (a new
/// installation asked for a year) is read at every resolution instead.
pub async fn points(
    src: &Source<'_>,
    watched: &Watched,
    metric: &Metric,
    from: i64,
    to: i64,
) -> Result<(Vec<(i64, f64)>, i32)> {
    let coarsest_needed = samples::resolution_for(from, to, &src.retention);
    let all = [samples::RAW, samples::FIVE_MINUTES, samples::HOURLY];
    let wanted: Vec<i32> = all.iter().copied().filter(|r| *r >= coarsest_needed).collect();
    let found = stitched(src, watched, metric, from, to, &wanted).await?;
    if !found.0.is_empty() || wanted.len() == all.len() {
        return Ok(found);
    }
    stitched(src, watched, metric, from, to, &all).await
}

/// The points of `metric` from `from` to `to` for a chart `columns` pixels wide, reduced by the home database
/// ([`samples::chart_series`]).
pub async fn chart_points(
    src: &Source<'_>,
    watched: &Watched,
    metric: &Metric,
    from: i64,
    to: i64,
    columns: u32,
) -> Result<Vec<(i64, f64)>> {
    samples::chart_series(src.home, watched.name(), metric, from, to, columns).await
}

/// Each resolution of `resolutions` (finest first) continues where the one before has nothing older.
async fn stitched(
    src: &Source<'_>,
    watched: &Watched,
    metric: &Metric,
    from: i64,
    to: i64,
    resolutions: &[i32],
) -> Result<(Vec<(i64, f64)>, i32)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    let mut finest = None;
    let mut end = to;
    for &resolution in resolutions {
        if end < from {
            break;
        }
        let points = samples::series(src.home, watched.name(), metric, from, end, resolution).await?;
        if let Some(first) = points.first() {
            // An average's bucket starts at its time: the next, coarser one ends before it.
            end = first.0.saturating_sub(1);
            finest.get_or_insert(resolution);
            let mut older = points;
            older.append(&mut out);
            out = older;
        }
    }
    Ok((out, finest.unwrap_or(resolutions[0])))
}

/// The ranges the charts offer, by the name in `?range=`.
pub const RANGES: [(&str, i64); 5] =
    [("1h", 3600), ("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400), ("1y", 365 * 86_400)];

/// The migrations applied to `watched` from `from` to `to`, oldest first. What cannot be read in time is left out
/// (a chart without markers beats no chart).
pub async fn markers(src: &Source<'_>, watched: &Watched, from: i64, to: i64) -> Vec<Marker> {
    let (log, tools) =
        tokio::join!(strata_log(src, watched), schema_history::of(watched, src.set, src.catalog_timeout, false));
    markers_of(watched, &log, tools.ok().flatten().as_deref(), from, to)
}

/// Strata's successful upgrades of the project database (newest first); nothing elsewhere or when unreadable.
pub async fn strata_log(src: &Source<'_>, watched: &Watched) -> Vec<migrations_log::Model> {
    if !watched.spec.project {
        return Vec::new();
    }
    let state = super::migration_state::of(watched, src.set, src.catalog_timeout);
    match tokio::time::timeout(src.catalog_timeout, state).await {
        Ok(Ok(state)) => state.log.clone(),
        _ => Vec::new(),
    }
}

/// The markers from `from` to `to` in Strata's log rows and every detected tool's history, oldest first.
pub fn markers_of(
    watched: &Watched,
    log: &[migrations_log::Model],
    tools: Option<&Migrations>,
    from: i64,
    to: i64,
) -> Vec<Marker> {
    let within = |at: i64| at >= from && at <= to;
    let mut out = Vec::new();
    for row in log.iter().filter(|r| r.action == "upgrade") {
        let at = row.finished_at.unwrap_or(row.started_at).timestamp();
        if within(at) {
            out.push(Marker {
                at,
                tool: Tool::Strata.as_str().into(),
                revision: row.revision.clone(),
                name: Some(row.name.clone()),
            });
        }
    }
    // Strata's own rows come from its log above, with their revisions.
    for tool in tools.iter().flat_map(|t| &t.tools).filter(|t| t.tool != Tool::Strata || !watched.spec.project) {
        for applied in &tool.applied {
            if let Some(at) = applied.applied_at.map(|t| t.timestamp()).filter(|at| within(*at)) {
                out.push(Marker {
                    at,
                    tool: tool.tool.as_str().into(),
                    revision: applied.version.clone(),
                    name: applied.name.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.revision.cmp(&b.revision)));
    out
}
