//! The home page: which database, its migration head, every migration's state, and the latest runs.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use entity::migrations_log;

use super::layout::Layout;
use super::session::CurrentUser;
use crate::accounts::Role;
use crate::error::Result;
use crate::migrate::{self, MigrationStatus};
use crate::state::AppState;

/// `GET /`: any signed-in account.
pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<HomePage> {
    user.require(Role::Viewer)?;
    let migrations = migrate::status(&state.db, &state.migrations).await?;
    let head = migrate::current(&state.db).await?.unwrap_or_else(|| "base".into());
    let recent = migrate::history(&state.db, 10, None).await?;
    let url = &state.config.database_url;
    Ok(HomePage {
        layout: Layout::new(&user, &state, "overview").await?,
        database: url.masked(),
        backend: url.backend().to_string(),
        pending: migrations.iter().filter(|m| !m.applied).count(),
        applied: migrations.iter().filter(|m| m.applied).count(),
        head,
        migrations,
        recent,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    pub layout: Layout,
    pub database: String,
    pub backend: String,
    pub head: String,
    pub applied: usize,
    pub pending: usize,
    pub migrations: Vec<MigrationStatus>,
    pub recent: Vec<migrations_log::Model>,
}
