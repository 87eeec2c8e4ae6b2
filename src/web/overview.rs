//! The overview page: server, size, connections, cache, wraparound, long queries and the migration state.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use entity::migrations_log;
use serde::Deserialize;

use super::chart::{self, Chart};
use super::current_db::CurrentDb;
use super::extract::Query;
use super::fmt;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::introspect::Overview;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::samples::Metric;
use crate::state::AppState;
use crate::watch::trends::{self, Marker, Source};
use crate::watch::{catalog, migration_state, slow};

#[derive(Debug, Default, Deserialize)]
pub struct OverviewParams {
    /// The charts' range: `1h`, `24h` (default), `7d`, `30d` or `1y`.
    pub range: Option<String>,
}

/// The overview's charts: metric, title.
const CHARTS: [(&str, &str); 4] = [
    ("db_size", "Database size"),
    ("connections", "Connections"),
    ("commits_per_s", "Commits per second"),
    ("cache_hit_ratio", "Cache hit ratio"),
];

/// One chart on a page.
pub struct ChartView {
    pub title: &'static str,
    /// The inline `<svg>` (escaped by the renderer).
    pub svg: String,
}

/// `GET /db/{name}`.
pub async fn index(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<OverviewParams>,
) -> Result<OverviewPage> {
    user.require(Role::Viewer)?;
    let range = params.range.as_deref().filter(|r| !r.is_empty()).unwrap_or("24h");
    let span = trends::RANGES.iter().find(|(name, _)| *name == range).map(|(_, s)| *s).ok_or_else(|| {
        let names: Vec<&str> = trends::RANGES.iter().map(|(n, _)| *n).collect();
        Error::BadRequest(format!("range={range}: use one of {}", names.join(", ")))
    })?;
    let limit = state.config.settings.catalog_timeout;
    let threshold = state.config.settings.long_query_threshold;
    // The reads go out together (each on its own pooled connection): the page waits for the slowest, not the sum.
    // The slow figures come from the background refresher: this request never runs their queries.
    let to = chrono::Utc::now().timestamp();
    let source = source(&state);
    let (snapshot, slow, migrations, tools, points) = tokio::join!(
        db.overview.get(limit, || db.introspector.live_overview(threshold)),
        db.slow_reading(),
        // Status, last run, head and Strata's log, kept while the bookkeeping tables do not change.
        migration_state::of(&db, &state.migrations, limit),
        // Every migration tool's state, from the reading the fleet page and metrics share.
        crate::watch::schema_history::of(&db, &state.migrations, limit, false),
        // The charts' samples (home database).
        chart_points(&source, &db, to - span, to),
    );
    let tools = tools.ok().flatten();
    let (snapshot, migrations) = (snapshot?, migrations?);
    let markers = trends::markers_of(&db, &migrations.log, tools.as_deref(), to - span, to);
    let charts = charts(&db, points?, &markers, to - span, to);
    let head = migrations.head.clone().unwrap_or_else(|| "base".into());
    let read_at = snapshot.as_ref().map(|s| s.read_at.format("%H:%M:%S UTC").to_string());
    let overview = snapshot.map(|s| {
        let mut o = (*s.value).clone();
        if let Some(r) = &slow {
            r.value.apply(&mut o);
        }
        o
    });
    let notes = SlowNotes::of(slow.as_ref(), overview.as_ref());
    let connections_total = overview.as_ref().map(|o| o.connections_by_state.iter().map(|(_, n)| n).sum()).unwrap_or(0);
    Ok(OverviewPage {
        layout: Layout::for_db(&user, &state, &db, "overview").await?,
        read_at,
        timed_out: overview.is_none().then(|| catalog::timeout_note(limit)),
        o: overview.unwrap_or_default(),
        size_note: notes.size,
        ratios_note: notes.ratios,
        connections_total,
        long_threshold: fmt::duration_ms(&Some(threshold.as_millis() as i64)),
        pending: migrations.status.iter().filter(|m| !m.applied).count(),
        dirty: migrations.status.iter().filter(|m| m.state == "dirty" || m.state == "failed").count(),
        total_migrations: migrations.status.len(),
        head,
        last_run: migrations.last_run.clone(),
        project: db.spec.project,
        tools_summary: tools.as_ref().map(|m| m.summary()),
        tools_troubled: tools.as_ref().is_some_and(|m| m.troubled()),
        charts,
        range: range.to_string(),
        ranges: trends::RANGES.iter().map(|(n, _)| *n).collect(),
        sampling: !state.config.settings.sample_interval.is_zero(),
    })
}

fn source(state: &AppState) -> Source<'_> {
    Source {
        home: &state.home,
        set: &state.migrations,
        catalog_timeout: state.config.settings.catalog_timeout,
        retention: state.config.settings.sample_retention,
    }
}

/// The points of each of the overview's charts from `from` to `to`.
async fn chart_points(source: &Source<'_>, db: &CurrentDb, from: i64, to: i64) -> Result<Vec<Vec<(i64, f64)>>> {
    let metrics: Vec<Metric> =
        CHARTS.iter().map(|(name, _)| Metric::parse(name).unwrap_or(Metric::Database("db_size"))).collect();
    // Side by side on the home pool's connections: the page waits for the slowest chart, not the sum of the four.
    futures::future::try_join_all(
        metrics.iter().map(|metric| trends::chart_points(source, db, metric, from, to, chart::COLUMNS)),
    )
    .await
}

/// The overview's trend charts, with the migrations applied meanwhile.
fn charts(db: &CurrentDb, points: Vec<Vec<(i64, f64)>>, markers: &[Marker], from: i64, to: i64) -> Vec<ChartView> {
    let href = format!("{}/migrations", db.base());
    CHARTS
        .iter()
        .zip(points)
        .map(|((name, title), points)| {
            let unit = Metric::parse(name).map(|m| m.unit()).unwrap_or("");
            let chart = Chart { title, unit, from, to, points: &points, markers, markers_href: &href };
            ChartView { title, svg: chart::render(&chart) }
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "overview/index.html")]
pub struct OverviewPage {
    pub layout: Layout,
    /// When the server statistics were read (they are reused for `stats_refresh`).
    pub read_at: Option<String>,
    pub timed_out: Option<String>,
    pub o: Overview,
    /// How old the database size is ("read 40 s ago"), or "reading…" before its first reading.
    pub size_note: Option<String>,
    /// The same for the cache hit ratios, when they are a slow figure on this backend.
    pub ratios_note: Option<String>,
    pub connections_total: i64,
    pub long_threshold: String,
    pub head: String,
    pub pending: usize,
    pub dirty: usize,
    pub total_migrations: usize,
    pub last_run: Option<migrations_log::Model>,
    /// Whether this is the project database, the one Strata's own migrator manages (its card shows only there).
    pub project: bool,
    /// Every migration tool found, in a few words each ("prisma: failed: X").
    pub tools_summary: Option<String>,
    pub tools_troubled: bool,
    /// The trend charts (size, connections, commits/s, cache hit).
    pub charts: Vec<ChartView>,
    /// The charts' range and the ranges offered.
    pub range: String,
    pub ranges: Vec<&'static str>,
    /// Whether `sample_interval` is above zero (else the charts say sampling is off).
    pub sampling: bool,
}

/// What the page says beside the slow figures: their age, or that the first reading is under way.
struct SlowNotes {
    size: Option<String>,
    ratios: Option<String>,
}

impl SlowNotes {
    fn of(reading: Option<&slow::Reading>, overview: Option<&Overview>) -> SlowNotes {
        const READING: &str = "reading…";
        match (reading, overview) {
            (Some(r), _) => SlowNotes {
                size: r.value.database_size_bytes.is_some().then(|| r.age()),
                ratios: r.value.cache_hit_ratios.is_some().then(|| r.age()),
            },
            // Nothing read yet: what the fast part left empty is still being read.
            (None, Some(o)) => SlowNotes {
                size: o.database_size_bytes.is_none().then(|| READING.to_string()),
                ratios: o.table_cache_hit_ratio.is_none().then(|| READING.to_string()),
            },
            (None, None) => SlowNotes { size: None, ratios: None },
        }
    }
}
