//! The bloat page: estimated wasted space per table and index, flagged where the statistics are too old to trust.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::current_db::CurrentDb;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::introspect::BloatInfo;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::state::AppState;
use crate::watch::catalog;

/// `GET /bloat`.
pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<BloatPage> {
    user.require(Role::Viewer)?;
    if !db.introspector.capabilities().bloat {
        return Err(Error::Unsupported(format!(
            "bloat estimates need PostgreSQL statistics; {} has no equivalent (SQLite's free pages are on the overview)",
            db.url().backend()
        )));
    }
    let limit = state.config.settings.catalog_timeout;
    let rows = catalog::read(limit, db.introspector.bloat()).await?;
    Ok(BloatPage {
        layout: Layout::for_db(&user, &state, &db, "bloat").await?,
        timed_out: rows.is_none().then(|| catalog::timeout_note(limit)),
        rows: rows.unwrap_or_default(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "bloat/index.html")]
pub struct BloatPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    pub rows: Vec<BloatInfo>,
}
