//! The tables list (sortable, searchable, paginated on the server) and one table's detail with its first rows and, for admins, its maintenance actions.

use std::collections::HashMap;

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
use crate::db::introspect::{Page, RowsPage, TableDetail, TableInfo, TableQuery, TableSort};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::samples::{self, Metric};
use crate::maintenance::Offer;
use crate::state::AppState;
use crate::watch::catalog;

/// Tables per page.
const PAGE_SIZE: u64 = 50;
/// Rows shown on a table's page.
const ROWS_PER_PAGE: u64 = 50;

/// The span of the tables page's growth column.
const GROWTH_SPAN_S: i64 = 7 * 86_400;

/// A sort of the tables page: one the catalog makes, or by growth (from the samples in the home database).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
enum ListSort {
    Catalog(TableSort),
    Samples(GrowthSort),
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum GrowthSort {
    Growth,
}

impl Default for ListSort {
    fn default() -> Self {
        ListSort::Catalog(TableSort::default())
    }
}

impl ListSort {
    fn as_str(self) -> &'static str {
        match self {
            ListSort::Catalog(sort) => sort.as_str(),
            ListSort::Samples(GrowthSort::Growth) => "growth",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    sort: ListSort,
    dir: Option<String>,
    page: Option<u64>,
    q: Option<String>,
}

/// `GET /tables`.
pub async fn index(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<IndexPage> {
    user.require(Role::Viewer)?;
    let by_name = params.sort == ListSort::Catalog(TableSort::Name);
    let descending = extract::sort_direction(params.dir.as_deref(), !by_name)?;
    let page = params.page.unwrap_or(1).max(1);
    let search = extract::search_term(params.q.as_deref());
    let limit = state.config.settings.catalog_timeout;
    let now = chrono::Utc::now().timestamp();
    let (result, growth) = match params.sort {
        ListSort::Catalog(sort) => {
            let query = TableQuery {
                sort,
                descending,
                search: search.clone(),
                offset: (page - 1) * PAGE_SIZE,
                limit: PAGE_SIZE,
            };
            let result = catalog::read(limit, db.introspector.tables(&query)).await?;
            // The growth of the tables on this page only.
            let names: Vec<(String, String)> =
                result.iter().flat_map(|p| &p.items).map(|t| (t.schema.clone(), t.name.clone())).collect();
            let which = samples::Which::Named(&names);
            let (growth, _) = samples::growth(&state.home, db.name(), now, GROWTH_SPAN_S, which).await?;
            let growth = growth.into_iter().map(|g| ((g.schema, g.name), g.growth)).collect();
            (result, growth)
        }
        ListSort::Samples(GrowthSort::Growth) => {
            // Sampled tables by growth: their sizes as last sampled, one index seek per value.
            let which = samples::Which::ByGrowth {
                search: search.as_deref(),
                descending,
                offset: (page - 1) * PAGE_SIZE,
                limit: PAGE_SIZE,
            };
            let (rows, total) = samples::growth(&state.home, db.name(), now, GROWTH_SPAN_S, which).await?;
            let growth = rows.iter().map(|g| ((g.schema.clone(), g.name.clone()), g.growth)).collect();
            let items = rows
                .into_iter()
                .map(|g| TableInfo {
                    schema: g.schema,
                    name: g.name,
                    row_estimate: g.rows,
                    table_bytes: g.table_bytes,
                    index_bytes: g.index_bytes,
                    total_bytes: g.total_bytes,
                    ..Default::default()
                })
                .collect();
            (Some(Page { items, total, offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE }), growth)
        }
    };
    let pages = result.as_ref().map(|p| p.total.div_ceil(PAGE_SIZE).max(1)).unwrap_or(1);
    Ok(IndexPage {
        layout: Layout::for_db(&user, &state, &db, "tables").await?,
        timed_out: result.is_none().then(|| catalog::timeout_note(limit)),
        tables: result.unwrap_or(Page { items: Vec::new(), total: 0, offset: 0, limit: PAGE_SIZE }),
        growth,
        size_order: db.introspector.size_order(),
        sort: params.sort.as_str(),
        descending,
        search: search.unwrap_or_default(),
        page,
        pages,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    page: Option<u64>,
    /// The charts' range: `1h`, `24h` (default), `7d`, `30d` or `1y`.
    range: Option<String>,
}

/// `GET /tables/{schema}/{table}`.
pub async fn show(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, schema, table)): Path<(String, String, String)>,
    Query(params): Query<ShowParams>,
) -> Result<ShowPage> {
    user.require(Role::Viewer)?;
    let limit = state.config.settings.catalog_timeout;
    // The size and rows charts come from the home database's samples, read beside the catalog.
    let name = format!("{schema}.{table}");
    let metrics = vec![
        (Metric::Table { rows: false, name: name.clone() }, "Total size".to_string()),
        (Metric::Table { rows: true, name }, "Rows (estimate)".to_string()),
    ];
    let href = fmt::table_link(&db.base(), &schema, &table);
    let page = params.page.unwrap_or(1).max(1);
    // The rows are read beside the table's facts rather than after them (each read finds the table by name on
    // its own); they are shown only when the facts say the table exists.
    let (detail, trends, rows) = tokio::join!(
        catalog::read(limit, db.introspector.table(&schema, &table)),
        charts::trends(&state, &db, metrics, params.range.as_deref(), href),
        catalog::read(limit, db.introspector.table_rows(&schema, &table, (page - 1) * ROWS_PER_PAGE, ROWS_PER_PAGE))
    );
    let (detail, trends) = (detail?, trends?);
    let detail = match detail {
        Some(None) => return Err(Error::NotFound(format!("table {schema}.{table}"))),
        other => other.flatten(),
    };
    let rows = match detail {
        Some(_) => rows?,
        None => None,
    };
    // Admins get the maintenance actions that run on one table; each opens its confirmation.
    let maintenance = if user.is_admin() { super::maintenance::table_offers(&db) } else { Vec::new() };
    Ok(ShowPage {
        layout: Layout::for_db(&user, &state, &db, "tables").await?,
        maintenance,
        timed_out: (detail.is_none() || rows.is_none()).then(|| catalog::timeout_note(limit)),
        schema,
        table,
        detail: detail.unwrap_or_default(),
        rows: rows.unwrap_or_default(),
        page,
        trends,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "tables/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    pub tables: Page<TableInfo>,
    /// Each listed table's growth in total size over 7 days, from the samples (`None`: no sample 7 days back).
    pub growth: HashMap<(String, String), Option<i64>>,
    /// How a size order is made, when it is not by the sizes shown.
    pub size_order: Option<&'static str>,
    pub sort: &'static str,
    pub descending: bool,
    pub search: String,
    pub page: u64,
    pub pages: u64,
}

impl IndexPage {
    /// A table's growth over 7 days as the page writes it: signed bytes, or "—".
    pub fn growth_of(&self, t: &TableInfo) -> String {
        match self.growth.get(&(t.schema.clone(), t.name.clone())).copied().flatten() {
            Some(g) if g > 0 => format!("+{}", fmt::bytes(&Some(g))),
            Some(g) if g < 0 => format!("−{}", fmt::bytes(&Some(-g))),
            Some(_) => "0 B".to_string(),
            None => "—".to_string(),
        }
    }

    /// The link of a column header: same search, this sort, the other direction when already sorted by it.
    pub fn sort_link(&self, key: &str) -> String {
        let dir = if self.sort == key && self.descending {
            "asc"
        } else if self.sort == key {
            "desc"
        } else {
            ""
        };
        let mut link = format!("{}/tables?sort={key}", self.layout.base);
        if !dir.is_empty() {
            link.push_str(&format!("&dir={dir}"));
        }
        if !self.search.is_empty() {
            link.push_str(&format!("&q={}", urlencode(&self.search)));
        }
        link
    }

    pub fn page_link(&self, page: u64) -> String {
        format!(
            "{}/tables?sort={}&dir={}&page={page}{}",
            self.layout.base,
            self.sort,
            if self.descending { "desc" } else { "asc" },
            if self.search.is_empty() { String::new() } else { format!("&q={}", urlencode(&self.search)) }
        )
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
#[template(path = "tables/show.html")]
pub struct ShowPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    pub schema: String,
    pub table: String,
    pub detail: TableDetail,
    pub rows: RowsPage,
    pub page: u64,
    /// Maintenance actions for this table (admins only; empty otherwise).
    pub maintenance: Vec<Offer>,
    /// The size and rows charts.
    pub trends: Trends,
}
