//! The overview page: server, size, connections, cache, wraparound, long queries and the migration state.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use entity::migrations_log;

use super::current_db::CurrentDb;
use super::fmt;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::introspect::Overview;
use crate::error::Result;
use crate::home::accounts::Role;
use crate::migrate;
use crate::state::AppState;
use crate::watch::catalog;

/// `GET /db/{name}`.
pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<OverviewPage> {
    user.require(Role::Viewer)?;
    let limit = state.config.settings.catalog_timeout;
    let threshold = state.config.settings.long_query_threshold;
    let snapshot = db.overview.get(limit, || db.introspector.overview(threshold)).await?;
    let read_at = snapshot.as_ref().map(|s| s.read_at.format("%H:%M:%S UTC").to_string());
    let overview = snapshot.map(|s| s.value);
    // Strata's migrator knows only the project database's migrations; another database shows its head only.
    let (migrations, last_run) = if db.spec.project {
        (migrate::status(&db.db, &state.migrations).await?, migrate::history(&db.db, 1, None).await?.into_iter().next())
    } else {
        (Vec::new(), None)
    };
    let head = migrate::current(&db.db).await?.unwrap_or_else(|| "base".into());
    // Every migration tool's state, from the reading the fleet page and metrics share.
    let tools = crate::watch::schema_history::of(&db, &state.migrations, limit, false).await.ok().flatten();
    let connections_total = overview.as_ref().map(|o| o.connections_by_state.iter().map(|(_, n)| n).sum()).unwrap_or(0);
    Ok(OverviewPage {
        layout: Layout::for_db(&user, &state, &db, "overview").await?,
        read_at,
        timed_out: overview.is_none().then(|| catalog::timeout_note(limit)),
        o: overview.unwrap_or_default(), // the cached statistics are shared, not copied
        connections_total,
        long_threshold: fmt::duration_ms(&Some(threshold.as_millis() as i64)),
        pending: migrations.iter().filter(|m| !m.applied).count(),
        dirty: migrations.iter().filter(|m| m.state == "dirty" || m.state == "failed").count(),
        total_migrations: migrations.len(),
        head,
        last_run,
        tools_summary: tools.as_ref().map(|m| m.summary()),
        tools_troubled: tools.as_ref().is_some_and(|m| m.troubled()),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "overview/index.html")]
pub struct OverviewPage {
    pub layout: Layout,
    /// When the server statistics were read (they are reused for `stats_refresh`).
    pub read_at: Option<String>,
    pub timed_out: Option<String>,
    pub o: std::sync::Arc<Overview>,
    pub connections_total: i64,
    pub long_threshold: String,
    pub head: String,
    pub pending: usize,
    pub dirty: usize,
    pub total_migrations: usize,
    pub last_run: Option<migrations_log::Model>,
    /// Every migration tool found, in a few words each ("prisma: failed: X").
    pub tools_summary: Option<String>,
    pub tools_troubled: bool,
}
