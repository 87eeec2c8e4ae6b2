//! The indexes page: sizes, scans, and the unused, duplicate and invalid ones with the SQL a DBA would run; sorted, searched and paginated on the server; and one index's scans per day over time.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use serde::Deserialize;

use super::charts::{self, Trends};
use super::current_db::CurrentDb;
use super::extract::{self, Path, Query};
use super::fmt::{self, urlencode};
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::introspect::{IndexFilter, IndexInfo, IndexQuery, IndexSort, Page};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::samples::Metric;
use crate::state::AppState;
use crate::watch::catalog;

/// Indexes per page.
const PAGE_SIZE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// `all`, `unused`, `duplicate` or `invalid`.
    show: Option<String>,
    #[serde(default)]
    sort: IndexSort,
    dir: Option<String>,
    page: Option<u64>,
    q: Option<String>,
}

/// `GET /indexes`.
pub async fn index(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<IndexPage> {
    user.require(Role::Viewer)?;
    let show = params.show.as_deref().filter(|s| !s.is_empty()).unwrap_or("all");
    let filter = IndexFilter::parse(show)
        .ok_or_else(|| Error::BadRequest(format!("show={show:?}: use all, unused, duplicate or invalid")))?;
    let descending =
        extract::sort_direction(params.dir.as_deref(), matches!(params.sort, IndexSort::Size | IndexSort::Scans))?;
    let page = params.page.unwrap_or(1).max(1);
    let search = extract::search_term(params.q.as_deref());
    let query = IndexQuery {
        sort: params.sort,
        descending,
        search: search.clone(),
        filter,
        offset: (page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
    };
    let limit = state.config.settings.catalog_timeout;
    let result = catalog::read(limit, db.introspector.indexes(&query)).await?;
    let pages = result.as_ref().map(|p| p.total.div_ceil(PAGE_SIZE).max(1)).unwrap_or(1);
    Ok(IndexPage {
        layout: Layout::for_db(&user, &state, &db, "indexes").await?,
        timed_out: result.is_none().then(|| catalog::timeout_note(limit)),
        usage: db.introspector.capabilities().index_usage,
        order_note: db
            .introspector
            .index_order()
            .filter(|_| search.is_none() && (params.sort != IndexSort::Table || filter != IndexFilter::All)),
        indexes: result.unwrap_or(Page { items: Vec::new(), total: 0, offset: 0, limit: PAGE_SIZE }),
        filter: filter.as_str(),
        sort: params.sort.as_str(),
        descending,
        search: search.unwrap_or_default(),
        page,
        pages,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    /// The chart's range: `1h`, `24h` (default), `7d`, `30d` or `1y`.
    range: Option<String>,
}

/// `GET /indexes/{schema}/{index}`: one index's scans per day over a range, from the samples.
pub async fn show(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, schema, index)): Path<(String, String, String)>,
    Query(params): Query<ShowParams>,
) -> Result<ShowPage> {
    user.require(Role::Viewer)?;
    let usage = db.introspector.capabilities().index_usage;
    let metrics = if usage {
        vec![(Metric::IndexScans(format!("{schema}.{index}")), "Scans per day".to_string())]
    } else {
        Vec::new()
    };
    let href = fmt::index_link(&db.base(), &schema, &index);
    let trends = charts::trends(&state, &db, metrics, params.range.as_deref(), href).await?;
    Ok(ShowPage { layout: Layout::for_db(&user, &state, &db, "indexes").await?, schema, index, usage, trends })
}

#[derive(Template, WebTemplate)]
#[template(path = "indexes/show.html")]
pub struct ShowPage {
    pub layout: Layout,
    pub schema: String,
    pub index: String,
    /// The backend reports scans (else: "not on this engine").
    pub usage: bool,
    /// The scans per day chart.
    pub trends: Trends,
}

#[derive(Template, WebTemplate)]
#[template(path = "indexes/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    /// The backend reports scans; without it "unused" cannot be judged.
    pub usage: bool,
    /// How this order or filter is read, when it is not simply read now (see `Introspector::index_order`).
    pub order_note: Option<&'static str>,
    pub indexes: Page<IndexInfo>,
    pub filter: &'static str,
    pub sort: &'static str,
    pub descending: bool,
    pub search: String,
    pub page: u64,
    pub pages: u64,
}

impl IndexPage {
    /// The query string shared by every link of the page: this filter and search.
    fn keep(&self) -> String {
        let mut keep = String::new();
        if self.filter != "all" {
            keep.push_str(&format!("&show={}", self.filter));
        }
        if !self.search.is_empty() {
            keep.push_str(&format!("&q={}", urlencode(&self.search)));
        }
        keep
    }

    /// The link of a column header: same filter and search, this sort, the other direction when already sorted by it.
    pub fn sort_link(&self, key: &str) -> String {
        let dir = match (self.sort == key, self.descending) {
            (true, true) => "&dir=asc",
            (true, false) => "&dir=desc",
            (false, _) => "",
        };
        format!("{}/indexes?sort={key}{dir}{}", self.layout.base, self.keep())
    }

    /// A filter tab: same search and sort, first page.
    pub fn filter_link(&self, filter: &str) -> String {
        let dir = if self.descending { "desc" } else { "asc" };
        let search = if self.search.is_empty() { String::new() } else { format!("&q={}", urlencode(&self.search)) };
        format!("{}/indexes?show={filter}&sort={}&dir={dir}{search}", self.layout.base, self.sort)
    }

    pub fn page_link(&self, page: u64) -> String {
        let dir = if self.descending { "desc" } else { "asc" };
        format!("{}/indexes?sort={}&dir={dir}&page={page}{}", self.layout.base, self.sort, self.keep())
    }

    pub fn arrow(&self, key: &str) -> &'static str {
        match (self.sort == key, self.descending) {
            (false, _) => "",
            (true, true) => " ▼",
            (true, false) => " ▲",
        }
    }
}
