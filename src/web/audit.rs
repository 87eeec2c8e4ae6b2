//! `/admin/audit`: the audit log, newest first, filtered by action, actor and dates, a page at a time.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use chrono::NaiveDate;
use serde::Deserialize;

use super::extract::Query;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::audit::{self, Filter, KNOWN_ACTIONS};
use crate::state::AppState;

/// Entries per page.
pub const PER_PAGE: u64 = 50;

/// The filter form as typed; empty fields do not filter.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// A watched database's name.
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub page: String,
}

impl Params {
    fn filter(&self) -> Result<Filter> {
        let text = |field: &str, s: &str| match s.trim() {
            "" => Ok(None),
            s if s.contains(char::is_control) => {
                Err(Error::BadRequest(format!("the {field} filter contains control characters")))
            }
            s => Ok(Some(s.to_string())),
        };
        Ok(Filter {
            action: text("action", &self.action)?,
            actor: text("actor", &self.actor)?,
            from: date(&self.from)?,
            to: date(&self.to)?,
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

    /// This page's query string with another page number.
    fn link(&self, page: u64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("action", &self.action), ("actor", &self.actor), ("from", &self.from), ("to", &self.to)] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.append_pair("page", &page.to_string());
        format!("/admin/audit?{}", q.finish())
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

/// `GET /admin/audit`.
pub async fn index(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<AuditPage> {
    user.require(Role::Admin)?;
    let filter = params.filter()?;
    let found = audit::search(&state.home, &filter, params.page()?, PER_PAGE).await?;
    let mut actions: Vec<String> = KNOWN_ACTIONS.iter().map(|a| a.to_string()).collect();
    if let Some(a) = &filter.action
        && !actions.contains(a)
    {
        actions.push(a.clone());
    }
    let rows = found
        .entries
        .into_iter()
        .map(|e| Row {
            occurred_at: e.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            actor: e.actor,
            action: e.action,
            target: e.target.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
            client_addr: e.client_addr,
        })
        .collect();
    Ok(AuditPage {
        layout: Layout::new(&user, &state, "audit").await?,
        rows,
        actions,
        actors: audit::actors(&state.home).await?,
        previous: (found.page > 1).then(|| params.link(found.page - 1)),
        next: (found.page < found.pages).then(|| params.link(found.page + 1)),
        page: found.page,
        pages: found.pages,
        total: found.total,
        params,
    })
}

/// One entry as the table shows it.
pub struct Row {
    pub occurred_at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub client_addr: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/index.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub rows: Vec<Row>,
    pub params: Params,
    pub actions: Vec<String>,
    pub actors: Vec<String>,
    pub page: u64,
    pub pages: u64,
    pub total: u64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_say_what_is_wrong() {
        let p = Params { action: " user.role ".into(), from: "2025-11-01".into(), ..Default::default() };
        let f = p.filter().unwrap();
        assert_eq!(f.action.as_deref(), Some("user.role"));
        assert_eq!(f.from, NaiveDate::from_ymd_opt(2025, 11, 1));
        assert_eq!(f.actor, None);
        let bad = Params { to: "yesterday".into(), ..Default::default() };
        assert!(matches!(bad.filter(), Err(Error::BadRequest(m)) if m.contains("YYYY-MM-DD")));
        assert!(Params { page: "0".into(), ..Default::default() }.page().is_err());
        assert_eq!(Params::default().page().unwrap(), 1);
    }

    #[test]
    fn page_links_keep_the_filters() {
        let p = Params { actor: "o'brien & co".into(), page: "2".into(), ..Default::default() };
        assert_eq!(p.link(3), "/admin/audit?actor=o%27brien+%26+co&page=3");
    }
}
