//! The indexes page: sizes, scans, and the unused, duplicate and invalid ones with the SQL a DBA would run.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use serde::Deserialize;

use super::current_db::CurrentDb;
use super::extract::Query;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::introspect::IndexInfo;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::state::AppState;
use crate::watch::catalog;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// `all`, `unused`, `duplicate` or `invalid`.
    show: Option<String>,
}

/// `GET /indexes`.
pub async fn index(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<IndexPage> {
    user.require(Role::Viewer)?;
    let filter = params.show.unwrap_or_else(|| "all".into());
    if !matches!(filter.as_str(), "all" | "unused" | "duplicate" | "invalid") {
        return Err(Error::BadRequest(format!("show={filter:?}: use all, unused, duplicate or invalid")));
    }
    let limit = state.config.settings.catalog_timeout;
    let all = catalog::read(limit, db.introspector.indexes()).await?;
    let timed_out = all.is_none().then(|| catalog::timeout_note(limit));
    let all = all.unwrap_or_default();
    let count = |f: fn(&IndexInfo) -> bool| all.iter().filter(|i| f(i)).count();
    let (unused, duplicate, invalid) = (count(|i| i.unused), count(|i| i.duplicate_of.is_some()), count(|i| !i.valid));
    let indexes = all
        .into_iter()
        .filter(|i| match filter.as_str() {
            "unused" => i.unused,
            "duplicate" => i.duplicate_of.is_some(),
            "invalid" => !i.valid,
            _ => true,
        })
        .collect();
    Ok(IndexPage {
        layout: Layout::for_db(&user, &state, &db, "indexes").await?,
        timed_out,
        usage: db.introspector.capabilities().index_usage,
        indexes,
        filter,
        unused,
        duplicate,
        invalid,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "indexes/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    /// The backend reports scans; without it "unused" cannot be judged.
    pub usage: bool,
    pub indexes: Vec<IndexInfo>,
    pub filter: String,
    pub unused: usize,
    pub duplicate: usize,
    pub invalid: usize,
}
