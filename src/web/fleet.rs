//! The fleet page (`/`): every watched database at a glance, read concurrently from per-database caches.

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::layout::Layout;
use super::session::CurrentUser;
use crate::error::Result;
use crate::home::accounts::Role;
use crate::state::AppState;
use crate::watch::fleet::{self, Card};

/// How long the page waits for the first reading of databases it has no card for yet.
const WAIT: Duration = Duration::from_millis(1500);

/// `GET /`.
pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<FleetPage> {
    user.require(Role::Viewer)?;
    // Another instance sharing the home may have added or removed a database on its Databases page.
    state.watched.sync(&state.config, &state.home).await?;
    let cards = fleet::cards(&state.watched.all(), &state.config, &state.migrations, WAIT).await;
    Ok(FleetPage { layout: Layout::new(&user, &state, "fleet").await?, admin: user.is_admin(), cards })
}

#[derive(Template, WebTemplate)]
#[template(path = "fleet/index.html")]
pub struct FleetPage {
    pub layout: Layout,
    pub admin: bool,
    pub cards: Vec<Card>,
}
