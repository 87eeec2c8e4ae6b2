//! `GET /db/{name}/migrations/around?at=T&revision=R`: what changed around a migration — the hour before it against
//! the hour after, from the trend samples (database size, the tables whose size and rows changed most, the indexes
//! whose scans per day changed most, the statements whose mean time changed most). Linked from every chart's
//! migration markers.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use chrono::{TimeZone, Utc};
use serde::Deserialize;

use crate::error::Result;
use crate::home::accounts::Role;
use crate::home::samples::{self, Around, Change};
use crate::home::statement_samples::{self, StatementsAround};
use crate::state::AppState;
use crate::web::current_db::CurrentDb;
use crate::web::extract::Query;
use crate::web::fmt;
use crate::web::layout::Layout;
use crate::web::session::CurrentUser;

/// The most changes listed of each kind.
const TOP: usize = 20;

#[derive(Debug, Deserialize)]
pub struct AroundParams {
    /// When the migration was applied (Unix seconds).
    at: i64,
    /// Its revision, for the heading.
    revision: Option<String>,
}

/// `GET /db/{name}/migrations/around`.
pub async fn show(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<AroundParams>,
) -> Result<AroundPage> {
    user.require(Role::Viewer)?;
    let around = samples::around(&state.home, db.name(), params.at, TOP).await?;
    // Statement statistics exist on this engine: the statements' mean times from their samples.
    let (statements, not_here) = if db.introspector.capabilities().statements {
        (Some(statement_samples::around(&state.home, db.name(), params.at, samples::WINDOW_S, TOP).await?), None)
    } else {
        // The engine's own reason (no catalog read: the backend answers it without asking the database).
        let why = db.introspector.statements(&Default::default()).await?.unavailable.map(|u| u.reason);
        (None, Some(why.unwrap_or_else(|| "this engine keeps no statement statistics".into())))
    };
    let at = Utc.timestamp_opt(params.at, 0).single().unwrap_or_default();
    Ok(AroundPage {
        layout: Layout::for_db(&user, &state, &db, "migrations").await?,
        at: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        revision: params.revision.filter(|r| !r.is_empty()),
        around,
        statements,
        not_here,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "migrations/around.html")]
pub struct AroundPage {
    pub layout: Layout,
    pub at: String,
    pub revision: Option<String>,
    pub around: Around,
    /// The statements around the time; `None` where the engine keeps no statement statistics.
    pub statements: Option<StatementsAround>,
    /// Why the engine has no statement statistics, where it has none.
    pub not_here: Option<String>,
}

impl AroundPage {
    /// The lists of changes: title, unit, changes.
    pub fn sections(&self) -> Vec<(&'static str, &'static str, &[Change])> {
        vec![
            ("Table sizes", "bytes", &self.around.table_sizes),
            ("Table rows (estimate)", "rows", &self.around.table_rows),
            ("Index scans per day", "scans/day", &self.around.index_scans),
        ]
    }

    /// A value in `unit` (`bytes`, `rows`, `scans/day`), or "—".
    pub fn value(&self, v: &Option<f64>, unit: &str) -> String {
        match (v, unit) {
            (None, _) => "—".into(),
            (Some(v), "bytes") => fmt::bytes(&Some(v.round() as i64)),
            (Some(v), _) => format!("{v:.0}"),
        }
    }

    /// The statement page's link.
    pub fn statement_link(&self, id: &str) -> String {
        format!("{}/statements/{}?range=24h", self.layout.base, fmt::urlencode(id))
    }

    /// A mean time change in milliseconds, signed, or "—".
    pub fn delta_ms(&self, d: Option<f64>) -> String {
        match d {
            None => "—".into(),
            Some(d) => format!("{}{}", sign(d), crate::web::statements::ms(&d.abs())),
        }
    }

    /// The change, signed, or "—".
    pub fn delta(&self, c: &Change, unit: &str) -> String {
        match c.delta() {
            None => "—".into(),
            Some(d) => format!("{}{}", sign(d), self.value(&Some(d.abs()), unit)),
        }
    }
}

fn sign(d: f64) -> &'static str {
    if d > 0.0 {
        "+"
    } else if d < 0.0 {
        "−"
    } else {
        ""
    }
}
