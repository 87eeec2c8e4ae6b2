//! The Statements page: the top statements live from the engine's statistics (`pg_stat_statements`,
//! `performance_schema` digests) or over a past range from the statement samples (the difference between samples,
//! so a reset loses nothing), sortable, searchable and paginated; and one statement's page with its calls and mean
//! time charts, migrations marked.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use serde::Deserialize;

use super::chart::{self, Chart};
use super::current_db::CurrentDb;
use super::extract::{self, Path, Query};
use super::fmt::urlencode;
use super::layout::Layout;
use super::overview::ChartView;
use super::session::CurrentUser;
use crate::db::introspect::{StatementInfo, StatementQuery, StatementSort, Statements, StatementsUnavailable};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::samples::Metric;
use crate::home::statement_samples;
use crate::state::AppState;
use crate::watch::catalog;
use crate::watch::trends::{self, Source};

/// Statements per page.
const PAGE_SIZE: u64 = 50;

/// The past ranges the list offers, besides `live`.
const RANGES: [&str; 4] = ["1h", "24h", "7d", "30d"];

/// How much of a statement's text the list shows.
const LIST_TEXT: usize = 400;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    sort: StatementSort,
    dir: Option<String>,
    page: Option<u64>,
    q: Option<String>,
    /// `live` (default) or a past range: `1h`, `24h`, `7d`, `30d`.
    range: Option<String>,
}

/// The length of a named range, in seconds.
fn span_of(range: &str) -> Result<i64> {
    trends::RANGES
        .iter()
        .find(|(name, _)| *name == range)
        .map(|(_, s)| *s)
        .ok_or_else(|| Error::BadRequest(format!("range={range}: use live, {}", RANGES.join(", "))))
}

fn source(state: &AppState) -> Source<'_> {
    Source {
        home: &state.home,
        set: &state.migrations,
        catalog_timeout: state.config.settings.catalog_timeout,
        retention: state.config.settings.sample_retention,
    }
}

/// `GET /db/{name}/statements`.
pub async fn index(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<IndexPage> {
    user.require(Role::Viewer)?;
    let descending = extract::sort_direction(params.dir.as_deref(), true)?;
    let page = params.page.unwrap_or(1).max(1);
    let search = extract::search_term(params.q.as_deref());
    let range = params.range.as_deref().filter(|r| !r.is_empty() && *r != "live").map(str::to_string);
    if let Some(r) = range.as_deref().filter(|r| !RANGES.contains(r)) {
        return Err(Error::BadRequest(format!("range={r}: use live, {}", RANGES.join(", "))));
    }
    let query = StatementQuery {
        sort: params.sort,
        descending,
        search: search.clone(),
        offset: (page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
    };
    let limit = state.config.settings.catalog_timeout;
    let (statements, timed_out, window) = match range.as_deref() {
        None => {
            let read = catalog::read(limit, db.introspector.statements(&query)).await?;
            let timed_out = read.is_none().then(|| catalog::timeout_note(limit));
            (read.unwrap_or_default(), timed_out, None)
        }
        Some(r) => {
            let to = chrono::Utc::now().timestamp();
            let from = to - span_of(r)?;
            let retention = state.config.settings.sample_retention;
            let (items, total) = statement_samples::range(&state.home, db.name(), from, to, &retention, &query).await?;
            let statements = Statements { items, total, ..Statements::default() };
            (statements, None, Some((from, to)))
        }
    };
    let pages = statements.total.div_ceil(PAGE_SIZE).max(1);
    let since = statements.since.map(|t| (statements.since_what, t.format("%Y-%m-%d %H:%M:%S UTC").to_string()));
    Ok(IndexPage {
        layout: Layout::for_db(&user, &state, &db, "statements").await?,
        timed_out,
        unavailable: statements.unavailable,
        items: statements.items,
        total: statements.total,
        since,
        window: window.map(|(from, to)| (time_text(from), time_text(to))),
        range: range.unwrap_or_else(|| "live".into()),
        ranges: RANGES.to_vec(),
        sampling: !state.config.settings.sample_interval.is_zero(),
        sort: params.sort.as_str(),
        descending,
        search: search.unwrap_or_default(),
        page,
        pages,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    /// The charts' range: `1h`, `24h` (default), `7d`, `30d` or `1y`.
    range: Option<String>,
}

/// `GET /db/{name}/statements/{id}`: one statement's text and its calls and mean time over a range.
pub async fn show(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    Query(params): Query<ShowParams>,
) -> Result<ShowPage> {
    user.require(Role::Viewer)?;
    let range = params.range.as_deref().filter(|r| !r.is_empty()).unwrap_or("24h").to_string();
    let span = span_of(&range)?;
    let to = chrono::Utc::now().timestamp();
    let from = to - span;
    let source = source(&state);
    let text = statement_samples::text(&state.home, db.name(), &id).await?;
    let calls = Metric::Statement { mean: false, id: id.clone() };
    let mean = Metric::Statement { mean: true, id: id.clone() };
    let (calls_points, mean_points, log) = tokio::join!(
        trends::points(&source, &db, &calls, from, to),
        trends::points(&source, &db, &mean, from, to),
        trends::strata_log(&source, &db)
    );
    let tools = crate::watch::schema_history::of(&db, &state.migrations, source.catalog_timeout, false).await;
    let markers = trends::markers_of(&db, &log, tools.ok().flatten().as_deref(), from, to);
    let href = format!("{}/migrations", db.base());
    let mut charts = Vec::new();
    for (title, metric, points) in
        [("Calls per second", &calls, calls_points?.0), ("Mean time per call (ms)", &mean, mean_points?.0)]
    {
        let chart =
            Chart { title, unit: metric.unit(), from, to, points: &points, markers: &markers, markers_href: &href };
        charts.push(ChartView { title, svg: chart::render(&chart) });
    }
    Ok(ShowPage {
        layout: Layout::for_db(&user, &state, &db, "statements").await?,
        id,
        text,
        charts,
        range,
        ranges: trends::RANGES.iter().map(|(n, _)| *n).collect(),
        sampling: !state.config.settings.sample_interval.is_zero(),
    })
}

fn time_text(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// A time in milliseconds as a person reads it: "0.42 ms", "12.3 ms", "4.56 s", "3.2 min", "1.5 h".
pub fn ms(v: &f64) -> String {
    let v = *v;
    if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 1000.0 {
        format!("{v:.1} ms")
    } else if v < 60_000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v < 3_600_000.0 {
        format!("{:.1} min", v / 60_000.0)
    } else {
        format!("{:.1} h", v / 3_600_000.0)
    }
}

/// [`ms`] of a time that may be unknown.
pub fn ms_opt(v: &Option<f64>) -> String {
    v.as_ref().map(ms).unwrap_or_else(|| "—".into())
}

/// A count that is always known, grouped ("1,234").
pub fn count(v: &i64) -> String {
    super::fmt::count(&Some(*v))
}

/// A statement's shared-buffer hit ratio, "—" where unknown.
pub fn hit(s: &StatementInfo) -> String {
    super::fmt::percent(&s.hit_ratio())
}

/// The start of a statement's text for the list (the whole text is on its page).
pub fn short(text: &str) -> String {
    let mut out: String = text.chars().take(LIST_TEXT).collect();
    if text.chars().count() > LIST_TEXT {
        out.push('…');
    }
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "statements/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    /// Why the live statistics cannot be read, and how to enable them.
    pub unavailable: Option<StatementsUnavailable>,
    pub items: Vec<StatementInfo>,
    pub total: u64,
    /// What the live counters count since, and when (`stats reset`, `server start`).
    pub since: Option<(&'static str, String)>,
    /// The past range shown (from, to), `None` when live.
    pub window: Option<(String, String)>,
    /// `live` or the past range's name.
    pub range: String,
    pub ranges: Vec<&'static str>,
    pub sampling: bool,
    pub sort: &'static str,
    pub descending: bool,
    pub search: String,
    pub page: u64,
    pub pages: u64,
}

impl IndexPage {
    fn query(&self, sort: &str, dir: &str, page: u64, range: &str) -> String {
        let mut link = format!("{}/statements?sort={sort}", self.layout.base);
        if !dir.is_empty() {
            link.push_str(&format!("&dir={dir}"));
        }
        if page > 1 {
            link.push_str(&format!("&page={page}"));
        }
        if range != "live" {
            link.push_str(&format!("&range={range}"));
        }
        if !self.search.is_empty() {
            link.push_str(&format!("&q={}", urlencode(&self.search)));
        }
        link
    }

    /// The link of a column header: same search and range, this sort, the other direction when already sorted by it.
    pub fn sort_link(&self, key: &str) -> String {
        let dir = match (self.sort == key, self.descending) {
            (true, true) => "asc",
            (true, false) => "desc",
            _ => "",
        };
        self.query(key, dir, 1, &self.range)
    }

    pub fn page_link(&self, page: u64) -> String {
        self.query(self.sort, if self.descending { "desc" } else { "asc" }, page, &self.range)
    }

    pub fn range_link(&self, range: &str) -> String {
        self.query(self.sort, if self.descending { "desc" } else { "asc" }, 1, range)
    }

    pub fn show_link(&self, id: &str) -> String {
        let range = if self.range == "live" { String::new() } else { format!("?range={}", self.range) };
        format!("{}/statements/{}{range}", self.layout.base, urlencode(id))
    }

    pub fn arrow(&self, key: &str) -> &'static str {
        match (self.sort == key, self.descending) {
            (false, _) => "",
            (true, true) => " ▼",
            (true, false) => " ▲",
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "statements/show.html")]
pub struct ShowPage {
    pub layout: Layout,
    pub id: String,
    /// The normalized text, when the sampler stored it.
    pub text: Option<String>,
    pub charts: Vec<ChartView>,
    pub range: String,
    pub ranges: Vec<&'static str>,
    pub sampling: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_the_unit_that_fits() {
        assert_eq!(ms(&0.4213), "0.42 ms");
        assert_eq!(ms(&123.45), "123.5 ms");
        assert_eq!(ms(&4560.0), "4.56 s");
        assert_eq!(ms(&5_400_000.0), "1.5 h");
    }

    #[test]
    fn long_texts_are_cut_for_the_list() {
        let long = "x".repeat(LIST_TEXT + 5);
        assert_eq!(short(&long).chars().count(), LIST_TEXT + 1);
        assert_eq!(short("SELECT 1"), "SELECT 1");
    }
}
