//! `/history`: the queries run through the editor, newest first, filtered by status, user, dates and text;
//! `/history/export.csv`: the same runs as CSV for audits (admins).
//!
//! Viewers and editors see only their own runs, whatever `user` the URL asks for; admins see everyone's.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;

use super::extract::Query;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::audit;
use crate::home::history::{self, Filter, RunStatus};
use crate::state::AppState;

/// Runs per page.
pub const PER_PAGE: u64 = 50;

/// Runs read and sent at a time by the CSV export.
pub const EXPORT_CHUNK: u64 = 500;

/// Characters of the query shown before "more".
const SHORT_QUERY_CHARS: usize = 160;

/// The filter form as typed; empty fields do not filter.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// Text the query contains.
    #[serde(default)]
    pub q: String,
    /// A watched database's name.
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub page: String,
}

impl Params {
    /// The filter this user may apply: anyone but an admin sees only their own runs.
    fn filter(&self, user: &CurrentUser) -> Result<Filter> {
        let text = |field: &str, s: &str| match s.trim() {
            "" => Ok(None),
            s if s.contains(char::is_control) => {
                Err(Error::BadRequest(format!("the {field} filter contains control characters")))
            }
            s => Ok(Some(s.to_string())),
        };
        let status = match self.status.trim() {
            "" => None,
            s => Some(s.parse::<RunStatus>()?),
        };
        let who = if user.is_admin() { text("user", &self.user)? } else { Some(user.username.clone()) };
        Ok(Filter {
            user: who,
            status,
            from: date(&self.from)?,
            to: date(&self.to)?,
            text: text("search", &self.q)?,
            database: text("database", &self.database)?,
        })
    }

    fn page(&self) -> Result<u64> {
        match self.page.trim() {
            "" => Ok(1),
            p => p
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| Error::BadRequest(format!("the page {p:?} is not a page number: use 1, 2, 3, ..."))),
        }
    }

    /// The filters as a query string (no page).
    fn query_string(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in
            [("status", &self.status), ("user", &self.user), ("from", &self.from), ("to", &self.to), ("q", &self.q)]
        {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }

    /// This page's query string with another page number.
    fn link(&self, page: u64) -> String {
        let filters = self.query_string();
        let sep = if filters.is_empty() { "" } else { "&" };
        format!("/history?{filters}{sep}page={page}")
    }

    /// The export of the runs these filters select.
    fn export_link(&self) -> String {
        match self.query_string() {
            q if q.is_empty() => "/history/export.csv".into(),
            q => format!("/history/export.csv?{q}"),
        }
    }
}

fn date(s: &str) -> Result<Option<NaiveDate>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| Error::BadRequest(format!("{s:?} is not a date: use YYYY-MM-DD, for example 2025-11-22")))
}

/// `GET /history`.
pub async fn index(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<HistoryPage> {
    user.require(Role::Viewer)?;
    let filter = params.filter(&user)?;
    // This instance's runs whose rows are still being written are in the page too.
    state.history.settled().await;
    let found = history::search(&state.home, &filter, params.page()?, PER_PAGE).await?;
    let rows = found.runs.into_iter().map(Row::from).collect();
    let users = if user.is_admin() { history::users(&state.home).await? } else { Vec::new() };
    Ok(HistoryPage {
        layout: Layout::new(&user, &state, "history").await?,
        is_admin: user.is_admin(),
        csrf_token: user.csrf_token.clone(),
        rows,
        statuses: RunStatus::ALL.iter().map(|s| s.as_str().to_string()).collect(),
        users,
        previous: (found.page > 1).then(|| params.link(found.page - 1)),
        next: (found.page < found.pages).then(|| params.link(found.page + 1)),
        export: params.export_link(),
        page: found.page,
        pages: found.pages,
        total: found.total,
        params,
    })
}

/// `GET /history/export.csv`: every run the filters select, oldest first, as CSV (admins; audited).
///
/// The body is streamed [`EXPORT_CHUNK`] runs at a time, so a long history never sits in memory whole.
pub async fn export(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response> {
    user.require(Role::Admin)?;
    let filter = params.filter(&user)?;
    state.history.settled().await;
    let total = history::count(&state.home, &filter).await?;
    let counted = if total == 1 { "1 run".to_string() } else { format!("{total} runs") };
    let detail = match params.query_string() {
        f if f.is_empty() => format!("{counted}, no filters"),
        f => format!("{counted}, filters {f}"),
    };
    audit::record(&state.home, user.audit("history.export").detail(detail)).await?;
    let db = state.config.database_url.database_name().unwrap_or_else(|| "database".into());
    let filename = format!("strata-history-{}-{}.csv", file_safe(&db), Utc::now().format("%Y%m%dT%H%M%SZ"));
    let header = stream::once(async { Ok::<_, Error>(Bytes::from(history::csv_header())) });
    let rows = stream::try_unfold((state.home.clone(), filter, 0_i64), |(db, filter, after)| async move {
        let chunk = history::chunk_after(&db, &filter, after, EXPORT_CHUNK).await?;
        let Some(last) = chunk.last().map(|r| r.id) else { return Ok(None) };
        let text: String = chunk.iter().map(history::csv_row).collect();
        Ok(Some((Bytes::from(text), (db, filter, last))))
    });
    let body = header.chain(rows).inspect_err(|e| tracing::error!(error = %e, "the history export stopped"));
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// A database name fit for a file name (and a quoted header value).
fn file_safe(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    if safe.trim_matches(['.', '_']).is_empty() { "database".into() } else { safe }
}

/// One run as the table shows it.
pub struct Row {
    pub id: i64,
    pub timestamp: String,
    pub user: String,
    pub status: String,
    pub duration: String,
    pub rows: String,
    pub query: String,
    /// The start of the query when it is too long to show whole; empty otherwise.
    pub short_query: String,
    pub error: String,
    pub migration_head: String,
    pub client_addr: String,
    /// "2 of batch 1f3a…" for statements of a batch; empty otherwise.
    pub batch: String,
    /// `/query?sql=...`.
    pub open_url: String,
    /// Where "Run again" posts: `/query`, or `/query/explain` for an explain (so that an EXPLAIN ANALYZE
    /// of a write runs again as a rolled-back explain, never as the write itself).
    pub rerun_action: String,
    /// The text "Run again" posts.
    pub rerun_sql: String,
    /// "Run again" asks for EXPLAIN ANALYZE.
    pub rerun_analyze: bool,
}

impl From<entity::query_history::Model> for Row {
    fn from(r: entity::query_history::Model) -> Row {
        let short_query = if r.query.chars().count() > SHORT_QUERY_CHARS {
            format!("{}…", r.query.chars().take(SHORT_QUERY_CHARS).collect::<String>())
        } else {
            String::new()
        };
        // The database the run was on; rows from before databases had names open on the old path, which leads to
        // the one watched database (or says which to choose).
        let base = r.database_name.as_deref().map(|d| format!("/db/{d}")).unwrap_or_default();
        let open_url = format!(
            "{base}/query?{}",
            url::form_urlencoded::Serializer::new(String::new()).append_pair("sql", &r.query).finish()
        );
        let (rerun_action, rerun_sql, rerun_analyze) = match super::query::explained(&r.query) {
            Some((analyze, statement)) => (format!("{base}/query/explain"), statement.to_string(), analyze),
            None => (format!("{base}/query"), r.query.clone(), false),
        };
        Row {
            id: r.id,
            timestamp: r.timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
            user: r.user,
            status: r.status,
            duration: super::fmt::duration_ms(&Some(r.execution_time)),
            rows: super::fmt::count(&r.row_count),
            short_query,
            query: r.query,
            error: r.error.unwrap_or_default(),
            migration_head: r.migration_head.unwrap_or_default(),
            client_addr: r.client_addr.unwrap_or_default(),
            batch: r
                .batch_id
                .map(|b| {
                    format!("statement {} of batch {}", r.statement_index + 1, b.chars().take(8).collect::<String>())
                })
                .unwrap_or_default(),
            open_url,
            rerun_action,
            rerun_sql,
            rerun_analyze,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "history/index.html")]
pub struct HistoryPage {
    pub layout: Layout,
    pub is_admin: bool,
    /// For the "Run again" forms.
    pub csrf_token: String,
    pub rows: Vec<Row>,
    pub params: Params,
    pub statuses: Vec<String>,
    /// Suggestions for the user filter (admins only).
    pub users: Vec<String>,
    pub page: u64,
    pub pages: u64,
    pub total: u64,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub export: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_keep_the_filters() {
        let p = Params { q: "50% off".into(), status: "error".into(), page: "2".into(), ..Default::default() };
        assert_eq!(p.link(3), "/history?status=error&q=50%25+off&page=3");
        assert_eq!(Params::default().link(2), "/history?page=2");
        assert_eq!(p.export_link(), "/history/export.csv?status=error&q=50%25+off");
        assert_eq!(Params::default().export_link(), "/history/export.csv");
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        assert!(Params { page: "0".into(), ..Default::default() }.page().is_err());
        assert!(matches!(date("yesterday"), Err(Error::BadRequest(m)) if m.contains("YYYY-MM-DD")));
        assert_eq!(date(" 2025-11-01 ").unwrap(), NaiveDate::from_ymd_opt(2025, 11, 1));
    }

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(file_safe("app_db-1"), "app_db-1");
        assert_eq!(file_safe("my db\"; x"), "my_db___x");
        assert_eq!(file_safe(".."), "database");
    }
}
