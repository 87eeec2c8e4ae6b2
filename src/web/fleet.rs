//! The fleet page (`/`): every watched database at a glance, read concurrently from per-database caches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::chart;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::error::Result;
use crate::home::accounts::Role;
use crate::home::samples::{self, Metric};
use crate::state::AppState;
use crate::watch::Watched;
use crate::watch::fleet::{self, Card};

/// How long the page waits for the first reading of databases it has no card for yet.
const WAIT: Duration = Duration::from_millis(1500);

/// `GET /`.
pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<FleetPage> {
    user.require(Role::Viewer)?;
    // Another instance sharing the home may have added or removed a database on its Databases page.
    state.watched.sync(&state.config, &state.home).await?;
    let all = state.watched.all();
    let (cards, sparklines) =
        tokio::join!(fleet::cards(&all, &state.config, &state.migrations, WAIT), sparklines(&state, &all));
    Ok(FleetPage {
        layout: Layout::new(&user, &state, "fleet").await?,
        admin: user.is_admin(),
        cards,
        sparklines: sparklines?,
    })
}

/// Each database's size over the last 24 hours as a sparkline, from the samples (one query each, side by side).
async fn sparklines(state: &AppState, all: &[Arc<Watched>]) -> Result<HashMap<String, String>> {
    let to = chrono::Utc::now().timestamp();
    let from = to - 86_400;
    let metric = Metric::Database("db_size");
    let reads = all.iter().map(|w| {
        let metric = &metric;
        async move {
            let points = samples::chart_series(&state.home, w.name(), metric, from, to, chart::SPARK_WIDTH).await?;
            let title = match (points.first(), points.last()) {
                (Some(first), Some(last)) => format!(
                    "{}: size over 24 h, {} to {}",
                    w.name(),
                    chart::value_text(first.1, "bytes"),
                    chart::value_text(last.1, "bytes")
                ),
                _ => format!("{}: no size samples in the last 24 h", w.name()),
            };
            Ok::<_, crate::error::Error>((w.name().to_string(), chart::sparkline(&title, from, to, &points)))
        }
    });
    futures::future::try_join_all(reads).await.map(|v| v.into_iter().collect())
}

#[derive(Template, WebTemplate)]
#[template(path = "fleet/index.html")]
pub struct FleetPage {
    pub layout: Layout,
    pub admin: bool,
    pub cards: Vec<Card>,
    /// Each database's 24 h size sparkline (inline `<svg>`, escaped by the renderer), by name.
    pub sparklines: HashMap<String, String>,
}

impl FleetPage {
    pub fn sparkline(&self, name: &str) -> &str {
        self.sparklines.get(name).map(String::as_str).unwrap_or("")
    }
}
