//! Trend charts for any page of a watched database: the range from `?range=`, each metric's points reduced to the
//! chart's width by the home database, the migrations applied in the range as markers, and the range links.

use super::chart::{self, Chart};
use super::current_db::CurrentDb;
use crate::error::{Error, Result};
use crate::home::samples::Metric;
use crate::state::AppState;
use crate::watch::trends::{self, Source};

/// The range a page shows when `?range=` is not given.
pub const DEFAULT_RANGE: &str = "24h";

/// One chart on a page.
pub struct ChartView {
    pub title: String,
    /// The inline `<svg>` (escaped by the renderer).
    pub svg: String,
}

/// A page's trend charts and their range links.
pub struct Trends {
    pub charts: Vec<ChartView>,
    /// The range shown and the ranges offered.
    pub range: String,
    pub ranges: Vec<&'static str>,
    /// The page the range links go to (`?range=` is added).
    pub href: String,
    /// Whether `sample_interval` is above zero (else the charts say sampling is off).
    pub sampling: bool,
}

impl Trends {
    /// A range link of this page.
    pub fn range_link(&self, range: &str) -> String {
        format!("{}?range={range}#trends", self.href)
    }
}

/// The seconds of a `?range=` (`1h`, `24h`, `7d`, `30d`, `1y`; the default when empty).
pub fn span_of(range: Option<&str>) -> Result<(&'static str, i64)> {
    let wanted = range.filter(|r| !r.is_empty()).unwrap_or(DEFAULT_RANGE);
    trends::RANGES.iter().find(|(name, _)| *name == wanted).copied().ok_or_else(|| {
        let names: Vec<&str> = trends::RANGES.iter().map(|(n, _)| *n).collect();
        Error::BadRequest(format!("range={wanted}: use one of {}", names.join(", ")))
    })
}

/// The charts of `metrics` (metric, title) for `db` over `range`, on the page at `href`.
pub async fn trends(
    state: &AppState,
    db: &CurrentDb,
    metrics: Vec<(Metric, String)>,
    range: Option<&str>,
    href: String,
) -> Result<Trends> {
    let (range, span) = span_of(range)?;
    let to = chrono::Utc::now().timestamp();
    let from = to - span;
    let source = Source {
        home: &state.home,
        set: &state.migrations,
        catalog_timeout: state.config.settings.catalog_timeout,
        retention: state.config.settings.sample_retention,
    };
    // Each chart's reads side by side on the home pool's connections: the page waits for the slowest, not the sum.
    let points = futures::future::try_join_all(
        metrics.iter().map(|(metric, _)| trends::chart_points(&source, db, metric, from, to, chart::COLUMNS)),
    );
    let (points, markers) = tokio::join!(points, trends::markers(&source, db, from, to));
    let markers_href = format!("{}/migrations", db.base());
    let charts = metrics
        .iter()
        .zip(points?)
        .map(|((metric, title), points)| {
            let chart = Chart {
                title,
                unit: metric.unit(),
                from,
                to,
                points: &points,
                markers: &markers,
                markers_href: &markers_href,
            };
            ChartView { title: title.clone(), svg: chart::render(&chart) }
        })
        .collect();
    Ok(Trends {
        charts,
        range: range.to_string(),
        ranges: trends::RANGES.iter().map(|(n, _)| *n).collect(),
        href,
        sampling: !state.config.settings.sample_interval.is_zero(),
    })
}
