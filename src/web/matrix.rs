//! The environments matrix (`/migrations`): every migration against the databases that share its tool and project,
//! grouped by their `group`, each cell applied (when), pending, failed or missing, linking to that database.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::layout::Layout;
use super::session::CurrentUser;
use crate::error::Result;
use crate::home::accounts::Role;
use crate::state::AppState;
use crate::watch::schema_history::matrix::{self, Matrix};

/// `GET /migrations`.
pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<MatrixPage> {
    user.require(Role::Viewer)?;
    state.watched.sync(&state.config, &state.home).await?;
    let m = matrix::read(&state.watched.all(), &state.migrations, state.config.settings.catalog_timeout).await;
    Ok(MatrixPage { layout: Layout::new(&user, &state, "matrix").await?, m })
}

#[derive(Template, WebTemplate)]
#[template(path = "matrix/index.html")]
pub struct MatrixPage {
    pub layout: Layout,
    pub m: Matrix,
}
