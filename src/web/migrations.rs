//! The migrations page: every migration's state, the alembic_version head, and migrations_log (read-only).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use entity::migrations_log;
use serde::Deserialize;

use super::extract::Query;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::accounts::Role;
use crate::error::{Error, Result};
use crate::migrate::{self, MigrationStatus};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// `success` or `failed`.
    status: Option<String>,
}

/// `GET /migrations`.
pub async fn index(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<MigrationsPage> {
    user.require(Role::Viewer)?;
    let status = params.status.filter(|s| !s.is_empty());
    if let Some(s) = status.as_deref()
        && s != "success"
        && s != "failed"
    {
        return Err(Error::BadRequest(format!("status={s:?}: use success or failed")));
    }
    Ok(MigrationsPage {
        layout: Layout::new(&user, &state, "migrations").await?,
        migrations: migrate::status(&state.db, &state.migrations).await?,
        head: migrate::current(&state.db).await?.unwrap_or_else(|| "base".into()),
        history: migrate::history(&state.db, 200, status.as_deref()).await?,
        status: status.unwrap_or_default(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "migrations/index.html")]
pub struct MigrationsPage {
    pub layout: Layout,
    pub migrations: Vec<MigrationStatus>,
    pub head: String,
    pub history: Vec<migrations_log::Model>,
    pub status: String,
}
