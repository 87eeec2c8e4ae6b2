//! The bloat page: estimated wasted space per table and index, flagged where the statistics are too old to trust.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::current_db::CurrentDb;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::introspect::BloatInfo;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::state::AppState;
use crate::watch::catalog;

/// `GET /bloat`'s query: `fresh=1` estimates now instead of showing the background estimate.
#[derive(Debug, Default, Deserialize)]
pub struct BloatParams {
    #[serde(default)]
    pub fresh: Option<String>,
}

/// `GET /bloat`: the estimate the background task keeps (every table's and index's statistics are read at most
/// once per `slow_stats_refresh` however often the page is viewed), or a new one with `?fresh=1`.
pub async fn index(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<BloatParams>,
) -> Result<BloatPage> {
    user.require(Role::Viewer)?;
    if !db.introspector.capabilities().bloat {
        return Err(Error::Unsupported(format!(
            "bloat estimates need PostgreSQL statistics; {} has no equivalent (SQLite's free pages are on the overview)",
            db.url().backend()
        )));
    }
    let limit = state.config.settings.catalog_timeout;
    let reading = match params.fresh.as_deref() {
        Some("1") => db.bloat.read_now(&db.introspector, limit).await?,
        Some(other) => return Err(Error::BadRequest(format!("fresh={other:?}: use fresh=1 or leave it out"))),
        None => db.bloat_reading(limit).await?,
    };
    Ok(BloatPage {
        layout: Layout::for_db(&user, &state, &db, "bloat").await?,
        timed_out: reading.is_none().then(|| catalog::timeout_note(limit)),
        age: reading.as_ref().map(|r| format!("estimated {}", r.ago())),
        every: match db.bloat.every() {
            every if every.as_secs() > 0 => format!("{} s", every.as_secs()),
            every => format!("{} ms", every.as_millis()),
        },
        rows: reading.map(|r| r.value).unwrap_or_default(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "bloat/index.html")]
pub struct BloatPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    /// "estimated 40 s ago".
    pub age: Option<String>,
    /// How often the background task estimates while the page is viewed ("60 s").
    pub every: String,
    pub rows: Vec<BloatInfo>,
}
