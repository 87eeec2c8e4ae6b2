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
use crate::watch::{catalog, slow};

/// `GET /db/{name}`.
pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<OverviewPage> {
    user.require(Role::Viewer)?;
    let limit = state.config.settings.catalog_timeout;
    let threshold = state.config.settings.long_query_threshold;
    // The reads go out together (each on its own pooled connection): the page waits for the slowest, not the sum.
    // The slow figures come from the background refresher: this request never runs their queries.
    let (snapshot, slow, migration_state, head, tools) = tokio::join!(
        db.overview.get(limit, || db.introspector.live_overview(threshold)),
        db.slow_reading(),
        migration_state(&db, &state),
        migrate::current(&db.db),
        // Every migration tool's state, from the reading the fleet page and metrics share.
        crate::watch::schema_history::of(&db, &state.migrations, limit, false),
    );
    let tools = tools.ok().flatten();
    let (snapshot, (migrations, last_run), head) = (snapshot?, migration_state?, head?);
    let head = head.unwrap_or_else(|| "base".into());
    let read_at = snapshot.as_ref().map(|s| s.read_at.format("%H:%M:%S UTC").to_string());
    let overview = snapshot.map(|s| {
        let mut o = (*s.value).clone();
        if let Some(r) = &slow {
            r.value.apply(&mut o);
        }
        o
    });
    let notes = SlowNotes::of(slow.as_ref(), overview.as_ref());
    let connections_total = overview.as_ref().map(|o| o.connections_by_state.iter().map(|(_, n)| n).sum()).unwrap_or(0);
    Ok(OverviewPage {
        layout: Layout::for_db(&user, &state, &db, "overview").await?,
        read_at,
        timed_out: overview.is_none().then(|| catalog::timeout_note(limit)),
        o: overview.unwrap_or_default(),
        size_note: notes.size,
        ratios_note: notes.ratios,
        connections_total,
        long_threshold: fmt::duration_ms(&Some(threshold.as_millis() as i64)),
        pending: migrations.iter().filter(|m| !m.applied).count(),
        dirty: migrations.iter().filter(|m| m.state == "dirty" || m.state == "failed").count(),
        total_migrations: migrations.len(),
        head,
        last_run,
        project: db.spec.project,
        tools_summary: tools.as_ref().map(|m| m.summary()),
        tools_troubled: tools.as_ref().is_some_and(|m| m.troubled()),
    })
}

/// The project database's migrations and its last migration run; another database has neither (Strata's migrator
/// knows only the project's migrations, so another database shows its head only).
async fn migration_state(
    db: &CurrentDb,
    state: &AppState,
) -> Result<(Vec<migrate::MigrationStatus>, Option<migrations_log::Model>)> {
    if !db.spec.project {
        return Ok((Vec::new(), None));
    }
    let (status, last) = tokio::join!(migrate::status(&db.db, &state.migrations), migrate::history(&db.db, 1, None));
    Ok((status?, last?.into_iter().next()))
}

#[derive(Template, WebTemplate)]
#[template(path = "overview/index.html")]
pub struct OverviewPage {
    pub layout: Layout,
    /// When the server statistics were read (they are reused for `stats_refresh`).
    pub read_at: Option<String>,
    pub timed_out: Option<String>,
    pub o: Overview,
    /// How old the database size is ("read 40 s ago"), or "reading…" before its first reading.
    pub size_note: Option<String>,
    /// The same for the cache hit ratios, when they are a slow figure on this backend.
    pub ratios_note: Option<String>,
    pub connections_total: i64,
    pub long_threshold: String,
    pub head: String,
    pub pending: usize,
    pub dirty: usize,
    pub total_migrations: usize,
    pub last_run: Option<migrations_log::Model>,
    /// Whether this is the project database, the one Strata's own migrator manages (its card shows only there).
    pub project: bool,
    /// Every migration tool found, in a few words each ("prisma: failed: X").
    pub tools_summary: Option<String>,
    pub tools_troubled: bool,
}

/// What the page says beside the slow figures: their age, or that the first reading is under way.
struct SlowNotes {
    size: Option<String>,
    ratios: Option<String>,
}

impl SlowNotes {
    fn of(reading: Option<&slow::Reading>, overview: Option<&Overview>) -> SlowNotes {
        const READING: &str = "reading…";
        match (reading, overview) {
            (Some(r), _) => SlowNotes {
                size: r.value.database_size_bytes.is_some().then(|| r.age()),
                ratios: r.value.cache_hit_ratios.is_some().then(|| r.age()),
            },
            // Nothing read yet: what the fast part left empty is still being read.
            (None, Some(o)) => SlowNotes {
                size: o.database_size_bytes.is_none().then(|| READING.to_string()),
                ratios: o.table_cache_hit_ratio.is_none().then(|| READING.to_string()),
            },
            (None, None) => SlowNotes { size: None, ratios: None },
        }
    }
}
