//! Applying Strata's migrations from the Migrations page (admins, project database, not `read_only`): the preview
//! with its exact SQL, the typed confirmation, the run page with live progress, cancel and abort, and the impact.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;

use crate::db::introspect::Session;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::audit;
use crate::migrate;
use crate::migrate::impact::Impact;
use crate::state::AppState;
use crate::watch::apply::{self, Preview, Request, RunStatus};
use crate::watch::catalog;
use crate::web::activity::{TreeLine, blocking_tree};
use crate::web::current_db::CurrentDb;
use crate::web::extract::{Form, Path, Query};
use crate::web::layout::Layout;
use crate::web::session::{CurrentUser, FlashKind};

/// The form's fields, as the page sends them (empty fields are absent).
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    action: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    confirm: String,
}

impl Params {
    fn request(&self) -> Result<Request> {
        let n = match self.n.trim() {
            "" => None,
            n => Some(n.parse().map_err(|_| Error::BadRequest(format!("n={n:?}: a count of migrations, 1 or more")))?),
        };
        Ok(Request {
            action: self.action.clone(),
            to: Some(self.to.clone()).filter(|t| !t.trim().is_empty()),
            n,
            confirm: Some(self.confirm.clone()).filter(|c| !c.is_empty()),
        })
    }
}

/// Admins only, on the project database, when it is not `read_only`.
fn allowed(user: &CurrentUser, db: &CurrentDb) -> Result<()> {
    user.require(Role::Admin)?;
    apply::check_allowed(db)
}

/// `GET /migrations/preview?action=..&to=..&n=..`: the SQL the run would send, and the form that applies it.
pub async fn preview(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<PreviewPage> {
    allowed(&user, &db)?;
    let plan = params.request()?.plan()?;
    let preview = apply::preview(&db, &state.migrations, &plan, &user.username).await?;
    let alembic = matches!(apply::tool(&db)?, apply::Tool::Alembic(_));
    Ok(PreviewPage {
        layout: Layout::for_db(&user, &state, &db, "migrations").await?,
        to: params.to.trim().to_string(),
        n: params.n.trim().to_string(),
        rehearsable: !alembic && migrate::rehearsable(db.db.get_database_backend()),
        alembic,
        preview,
    })
}

/// `POST /migrations/rehearse`: runs the plan inside one transaction and rolls it back, then shows what it did:
/// each migration's time and locks, the schema changes; nothing stays (PostgreSQL and SQLite).
pub async fn rehearse(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(params): Form<Params>,
) -> Result<RehearsalPage> {
    allowed(&user, &db)?;
    let plan = params.request()?.plan()?;
    let result = apply::rehearse(&db, &state.migrations, &plan, state.config.settings.lock_timeout).await;
    let outcome = apply::rehearsal_outcome(&plan, &result);
    if let Err(e) =
        audit::record(&state.home, user.audit("migrations.rehearse").database(db.name()).detail(outcome)).await
    {
        tracing::warn!(error = %e, "cannot record the rehearsal in the audit log");
    }
    Ok(RehearsalPage {
        layout: Layout::for_db(&user, &state, &db, "migrations").await?,
        action: plan.verb().to_string(),
        target: plan.target.clone(),
        to: params.to.trim().to_string(),
        n: params.n.trim().to_string(),
        rehearsal: result?,
    })
}

/// `POST /migrations/runs`: checks the confirmation, starts the run in the background, shows its page.
pub async fn start(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(params): Form<Params>,
) -> Result<Redirect> {
    allowed(&user, &db)?;
    let request = params.request()?;
    let plan = request.plan()?;
    apply::check_confirmed(&db, &state.migrations, &plan, request.confirm.as_deref()).await?;
    let id = apply::start(
        &state.home,
        db.0.clone(),
        state.migrations.clone(),
        state.config.settings.lock_timeout,
        plan,
        user.username.clone(),
        user.audit("migrations.apply"),
    )
    .await?;
    Ok(Redirect::to(&format!("{}/migrations/runs/{id}", db.base())))
}

/// `GET /migrations/runs/{id}`: the run's steps, who holds the lock while it waits, its outcome and impact.
pub async fn show(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, i64)>,
) -> Result<RunPage> {
    user.require(Role::Admin)?;
    let run = apply::status(&state.home, &db, id).await?;
    let blocking = match run.runner_pid {
        Some(pid) if run.is_running() && db.introspector.capabilities().server_activity => {
            let limit = state.config.settings.catalog_timeout;
            let read = catalog::read(limit, db.introspector.activity(state.config.settings.long_query_threshold));
            read.await.ok().flatten().map(|a| around(&a.sessions, pid)).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    Ok(RunPage {
        layout: Layout::for_db(&user, &state, &db, "migrations").await?,
        can_abort: run.runner_pid.is_some(),
        run,
        blocking,
    })
}

/// The Activity page's blocking tree cut to the runner's session `pid`: the sessions it waits on, itself, and
/// every session waiting on it (directly or not). Empty when it neither waits nor blocks.
fn around(sessions: &[Session], pid: i64) -> Vec<TreeLine> {
    let tree = blocking_tree(sessions);
    let Some(at) = tree.iter().position(|l| l.session.pid == pid) else { return Vec::new() };
    let mut above = Vec::new();
    let mut depth = tree[at].depth;
    for line in tree[..at].iter().rev() {
        if line.depth < depth {
            depth = line.depth;
            above.push(line.clone());
        }
    }
    above.reverse();
    let below = tree[at + 1..].iter().take_while(|l| l.depth > tree[at].depth).cloned();
    above.into_iter().chain(std::iter::once(tree[at].clone())).chain(below).collect()
}

/// `GET /migrations/runs/{id}/status`: the same as JSON, for the page's script.
pub async fn status(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Json<RunStatus>> {
    user.require(Role::Admin)?;
    Ok(Json(apply::status(&state.home, &db, id).await?))
}

#[derive(Debug, Default, Deserialize)]
pub struct CancelForm {
    /// `statement`: also abort the statement running now (PostgreSQL).
    #[serde(default)]
    abort: String,
}

/// `POST /migrations/runs/{id}/cancel`: stop before the next migration, or abort the current statement too.
pub async fn cancel(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<CancelForm>,
) -> Result<Redirect> {
    allowed(&user, &db)?;
    let abort = form.abort == "statement";
    let done = apply::cancel(&db, id, abort).await;
    let detail = match &done {
        Ok(what) => what.clone(),
        Err(e) => format!("refused: {e}"),
    };
    let action = if abort { "migrations.abort" } else { "migrations.cancel" };
    audit::record(&state.home, user.audit(action).database(db.name()).target(format!("run {id}")).detail(detail))
        .await?;
    user.flash(FlashKind::Success, format!("Cancel asked: {}.", done?)).await?;
    Ok(Redirect::to(&format!("{}/migrations/runs/{id}", db.base())))
}

/// Who holds the migration lock now, for the Migrations page (`None` when nobody does or it cannot be read).
pub async fn lock_holder(db: &CurrentDb) -> Option<String> {
    let read = tokio::time::timeout(std::time::Duration::from_secs(2), migrate::lock_holder(&db.db)).await;
    read.ok().and_then(|r| r.ok()).flatten()
}

#[derive(Template, WebTemplate)]
#[template(path = "migrations/preview.html")]
pub struct PreviewPage {
    pub layout: Layout,
    pub preview: Preview,
    pub to: String,
    pub n: String,
    /// Whether the plan can be rehearsed here (DDL that rolls back).
    pub rehearsable: bool,
    /// An Alembic project's plan (its own `alembic` runs it).
    pub alembic: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "migrations/rehearsal.html")]
pub struct RehearsalPage {
    pub layout: Layout,
    /// `up` or `down`, and the target as the preview names it.
    pub action: String,
    pub target: String,
    pub to: String,
    pub n: String,
    pub rehearsal: migrate::Rehearsal,
}

#[derive(Template, WebTemplate)]
#[template(path = "migrations/run.html")]
pub struct RunPage {
    pub layout: Layout,
    pub run: RunStatus,
    pub can_abort: bool,
    /// While it runs: who the runner waits on and who waits on it (PostgreSQL, MariaDB).
    pub blocking: Vec<TreeLine>,
}

/// `+1.2 MB` / `-8.0 kB` / `—`.
pub fn delta(impact: &Impact) -> String {
    signed(impact.bytes_delta())
}

/// A size difference with its sign.
pub fn signed(v: Option<i64>) -> String {
    match v {
        None => "—".into(),
        Some(d) if d < 0 => format!("−{}", crate::web::fmt::bytes_of(&-d)),
        Some(d) => format!("+{}", crate::web::fmt::bytes_of(&d)),
    }
}
