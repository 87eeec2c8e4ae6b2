//! The Maintenance page (admins): this backend's actions, a confirmation step, runs in background tasks with their progress and results, audited.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;

use super::current_db::CurrentDb;
use super::extract::{Form, Path, Query};
use super::layout::Layout;
use super::session::CurrentUser;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::audit;
use crate::maintenance::{self, Action, Availability, Offer, Progress, Run, Target};
use crate::state::AppState;
use crate::watch::catalog;

/// How often a page with a running action reloads itself, in seconds.
const REFRESH_SECS: u32 = 2;

/// What an action is asked to run on: both empty for the whole database.
#[derive(Debug, Default, Deserialize)]
pub struct TargetParams {
    action: String,
    #[serde(default)]
    schema: String,
    #[serde(default)]
    table: String,
}

/// `GET /maintenance`.
pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<IndexPage> {
    user.require(Role::Admin)?;
    let url = db.url();
    let limit = state.config.settings.catalog_timeout;
    let facts = catalog::read(limit, maintenance::facts(url, &db.db)).await?;
    let offers = maintenance::offers(url);
    // The latest outcome of each check, from the audit log: it outlives this server's memory.
    let mut last_checks = Vec::new();
    for a in offers.iter().filter(|a| a.offer.is_some() && a.action.is_check()) {
        let filter = audit::Filter {
            action: Some(a.action.audit_action().into()),
            database: Some(db.name().to_string()),
            ..audit::Filter::default()
        };
        if let Some(e) = audit::search(&state.home, &filter, 1, 1).await?.entries.into_iter().next() {
            last_checks.push(LastCheck {
                action: a.action.label(),
                at: e.occurred_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                actor: e.actor,
                target: e.target.unwrap_or_default(),
                detail: e.detail.unwrap_or_default(),
            });
        }
    }
    let running = watch(&db, &state, db.maintenance.running()).await;
    Ok(IndexPage {
        layout: Layout::for_db(&user, &state, &db, "maintenance").await?,
        timed_out: facts.is_none().then(|| catalog::timeout_note(limit)),
        refresh: (!running.is_empty()).then_some(REFRESH_SECS),
        facts: facts.unwrap_or_default(),
        offers,
        running,
        finished: db.maintenance.finished(),
        last_checks,
    })
}

/// `GET /maintenance/confirm?action=..[&schema=..&table=..]`: what is about to run, and a button to run it.
pub async fn confirm(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<TargetParams>,
) -> Result<ConfirmPage> {
    user.require(Role::Admin)?;
    let action: Action = params.action.parse()?;
    let target = target(&db, &state, &params).await?;
    let offer = maintenance::check(db.url(), action, &target)?;
    Ok(ConfirmPage {
        layout: Layout::for_db(&user, &state, &db, "maintenance").await?,
        offer,
        back: match &target {
            Target::Table { schema, name } => super::fmt::table_link(&db.base(), schema, name),
            Target::Database => format!("{}/maintenance", db.base()),
        },
        schema: params.schema,
        table: params.table,
        target,
    })
}

/// `POST /maintenance/runs`: starts the action in a background task and shows its run page.
pub async fn start(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(params): Form<TargetParams>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    db.require_writable("maintenance")?;
    let action: Action = params.action.parse()?;
    let target = target(&db, &state, &params).await?;
    maintenance::check(db.url(), action, &target)?;
    let run = db.maintenance.start(action, target.clone(), user.username.clone())?;
    let entry = user.audit(action.audit_action()).database(db.name()).target(target.to_string());
    let id = run.id;
    let base = db.base();
    // The request returns at once; the page polls the run. The audit entry is written before the
    // run is marked finished, so whoever sees it finished also finds it in the log.
    tokio::spawn(async move {
        let outcome = maintenance::run(db.url(), &state.config.settings, action, &target, &run.tracker).await;
        if let Err(e) = audit::record(&state.home, entry.detail(maintenance::audit_detail(&outcome))).await {
            tracing::error!(error = %e, "recording maintenance run {id} in the audit log");
        }
        db.maintenance.finish(id, outcome.map_err(|e| e.to_string()));
    });
    Ok(Redirect::to(&format!("{base}/maintenance/runs/{id}")))
}

/// `GET /maintenance/runs/{id}`: a run's progress while it runs (the page reloads itself), then its result.
pub async fn show(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, u64)>,
) -> Result<RunPage> {
    user.require(Role::Admin)?;
    let run = db.maintenance.get(id).ok_or_else(|| Error::NotFound(format!("maintenance run {id}")))?;
    let mut watched = watch(&db, &state, vec![run]).await;
    let run = watched.pop().ok_or_else(|| Error::Internal("a watched run went missing".into()))?;
    Ok(RunPage {
        layout: Layout::for_db(&user, &state, &db, "maintenance").await?,
        refresh: run.run.is_running().then_some(REFRESH_SECS),
        run,
    })
}

/// The target named by the form or query: the whole database, or a table the catalog has (else 404).
async fn target(db: &CurrentDb, state: &AppState, params: &TargetParams) -> Result<Target> {
    if params.schema.is_empty() && params.table.is_empty() {
        return Ok(Target::Database);
    }
    let limit = state.config.settings.catalog_timeout;
    let found =
        catalog::read(limit, maintenance::table(db.introspector.as_ref(), &params.schema, &params.table)).await?;
    // A table another session holds an exclusive lock on cannot even be looked up; say so.
    found.ok_or_else(|| {
        Error::Maintenance(format!(
            "looking up {}.{} in the catalog took longer than catalog_timeout ({} s); another session may hold a \
             lock on it. Nothing was started",
            params.schema,
            params.table,
            limit.as_secs_f64()
        ))
    })
}

/// Runs with what the database reports about their progress right now.
async fn watch(db: &CurrentDb, state: &AppState, runs: Vec<Run>) -> Vec<Watched> {
    let limit = state.config.settings.catalog_timeout;
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        let progress = if run.is_running() {
            let read = maintenance::progress(db.url(), &db.db, &run.tracker);
            tokio::time::timeout(limit, read).await.ok().flatten()
        } else {
            None
        };
        out.push(Watched { run, progress });
    }
    out
}

/// The offers that can run on one table, for the table page's buttons.
pub fn table_offers(db: &CurrentDb) -> Vec<Offer> {
    maintenance::offers(db.url()).into_iter().filter_map(|a| a.offer).filter(|o| o.per_table).collect()
}

/// A run and its progress as last read.
pub struct Watched {
    pub run: Run,
    pub progress: Option<Progress>,
}

impl Watched {
    /// `scanning heap — public.t — 120 / 500 blocks (24%)`, or a dash.
    pub fn progress_line(&self) -> String {
        let Some(p) = &self.progress else { return "—".into() };
        let mut parts = vec![p.phase.clone()];
        if let Some(r) = &p.relation {
            parts.push(r.clone());
        }
        if let (Some(d), Some(t)) = (p.done, p.total) {
            let pct = p.percent().map(|x| format!(" ({x}%)")).unwrap_or_default();
            parts.push(format!("{d} / {t} {}{pct}", p.unit));
        }
        parts.join(" — ")
    }
}

/// The latest audit entry of one check.
pub struct LastCheck {
    pub action: &'static str,
    pub at: String,
    pub actor: String,
    pub target: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "maintenance/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub timed_out: Option<String>,
    pub refresh: Option<u32>,
    pub facts: Vec<(String, String)>,
    pub offers: Vec<Availability>,
    pub running: Vec<Watched>,
    pub finished: Vec<Run>,
    pub last_checks: Vec<LastCheck>,
}

#[derive(Template, WebTemplate)]
#[template(path = "maintenance/confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub offer: Offer,
    pub target: Target,
    pub schema: String,
    pub table: String,
    pub back: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "maintenance/show.html")]
pub struct RunPage {
    pub layout: Layout,
    pub refresh: Option<u32>,
    pub run: Watched,
}

/// The link to the confirmation of `action` on one table.
pub fn confirm_link(action: &Action, schema: &str, table: &str) -> String {
    format!(
        "/maintenance/confirm?action={}&schema={}&table={}",
        action.name(),
        super::fmt::urlencode(schema),
        super::fmt::urlencode(table)
    )
}
