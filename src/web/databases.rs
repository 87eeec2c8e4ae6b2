//! `/databases`: the watched databases for admins — list (configuration and page), add, edit, test, remove.
//!
//! A password typed here is sealed with the key file in the home database (`strata_secrets`) and never shown
//! again; every URL on the page is masked. Databases named in the configuration are listed but changed there.

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::ConnectionTrait;
use serde::Deserialize;

use super::extract::{Form, Path};
use super::layout::Layout;
use super::session::{CurrentUser, FlashKind};
use crate::config::watch::check_name;
use crate::config::{DatabaseUrl, WatchSpec};
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::{audit, secrets, watchlist};
use crate::state::AppState;
use crate::watch::Watched;

/// How long "test connection" waits.
const TEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a database added on this page comes from (its `WatchSpec::origin`).
pub const PAGE_ORIGIN: &str = "the Databases page";

/// One row of the list.
pub struct Row {
    pub name: String,
    pub engine: String,
    pub url: String,
    pub read_only: bool,
    pub group: String,
    pub project: bool,
    /// Where it is named: the page (editable here) or the configuration (`file:line`, a flag, a variable).
    pub origin: String,
    pub editable: bool,
}

/// `GET /databases`.
pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<DatabasesPage> {
    user.require(Role::Admin)?;
    state.watched.sync(&state.config, &state.home).await?;
    let rows = state
        .watched
        .all()
        .iter()
        .map(|w| Row {
            name: w.name().to_string(),
            engine: w.url().backend().to_string(),
            url: w.url().masked(),
            read_only: w.spec.read_only,
            group: w.spec.group.clone().unwrap_or_default(),
            project: w.spec.project,
            editable: w.spec.origin == PAGE_ORIGIN,
            origin: w.spec.origin.clone(),
        })
        .collect();
    Ok(DatabasesPage {
        layout: Layout::new(&user, &state, "databases").await?,
        rows,
        form: DatabaseForm::default(),
        editing: false,
        error: None,
        notice: None,
    })
}

/// What the add and edit forms send.
#[derive(Debug, Default, Deserialize)]
pub struct DatabaseForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    /// Kept apart from the URL so it is never echoed back; empty on edit keeps the stored one.
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub read_only: Option<String>,
    #[serde(default)]
    pub group: String,
}

impl DatabaseForm {
    /// The database this form describes; the password goes into the URL (sealed when stored).
    fn spec(&self, keep_password: Option<&DatabaseUrl>) -> Result<WatchSpec> {
        let name = self.name.trim().to_string();
        check_name(&name).map_err(Error::BadRequest)?;
        let mut url = DatabaseUrl::parse(self.url.trim()).map_err(|e| Error::BadRequest(e.to_string()))?;
        let password = match (self.password.is_empty(), url.password(), keep_password.and_then(|u| u.password())) {
            (false, _, _) => Some(self.password.clone()),
            (true, Some(_), _) => None,
            (true, None, kept) => kept,
        };
        if let Some(password) = password {
            let user = url.user().ok_or_else(|| {
                Error::BadRequest("a password needs a user name in the URL (postgresql://USER@host/db)".into())
            })?;
            url = url.with_login(&user, &password).map_err(|e| Error::BadRequest(e.to_string()))?;
        }
        let mut spec = WatchSpec::new(name, url, PAGE_ORIGIN.into());
        spec.read_only = self.read_only.is_some();
        spec.group = Some(self.group.trim().to_string()).filter(|g| !g.is_empty());
        Ok(spec)
    }

    /// The form as shown again after a refusal: everything but the password.
    fn shown(&self) -> DatabaseForm {
        DatabaseForm {
            name: self.name.clone(),
            url: crate::config::mask_url_str(&self.url),
            password: String::new(),
            read_only: self.read_only.clone(),
            group: self.group.clone(),
        }
    }
}

/// Refuses a name the configuration uses or the home database's own URL.
fn check_new(state: &AppState, spec: &WatchSpec) -> Result<()> {
    if let Some(c) = state.config.watched.iter().find(|c| c.name == spec.name) {
        return Err(Error::Conflict(format!(
            "{} is named in the configuration ({}): change it there",
            c.name, c.origin
        )));
    }
    if spec.url.connect_url() == state.config.home_url.connect_url() {
        return Err(Error::BadRequest(
            "that is Strata's home database: it keeps Strata's own state and is never a watched database".into(),
        ));
    }
    Ok(())
}

/// `POST /databases`: adds a database (refused: the form again, with the reason and without the password).
pub async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    Form(form): Form<DatabaseForm>,
) -> Result<Response> {
    user.require(Role::Admin)?;
    let saved = async {
        let spec = form.spec(None)?;
        check_new(&state, &spec)?;
        if state.watched.get(&spec.name).is_some() {
            return Err(Error::Conflict(format!("a database named {} is already watched", spec.name)));
        }
        save(&state, &user, &spec, false, "database.add").await?;
        Ok(spec.name)
    }
    .await;
    match saved {
        Ok(name) => {
            user.flash(FlashKind::Success, format!("{name} is watched now.")).await?;
            Ok(Redirect::to("/databases").into_response())
        }
        Err(e) if e.status().is_client_error() => refused(&user, &state, form.shown(), false, e).await,
        Err(e) => Err(e),
    }
}

/// Connects once with `url` (nothing is stored); what answered, or why it could not.
async fn probe(url: &DatabaseUrl) -> Result<String> {
    let connected = tokio::time::timeout(TEST_TIMEOUT, async {
        let conn = db::connect(url, Purpose::Cli).await?;
        let version = server_version(&conn).await;
        conn.close().await.ok();
        version
    })
    .await;
    match connected {
        Ok(Ok(version)) => Ok(version),
        Ok(Err(e)) => Err(Error::BadRequest(format!("cannot connect to {}: {e}", url.masked()))),
        Err(_) => {
            Err(Error::BadRequest(format!("{} did not answer within {} s", url.masked(), TEST_TIMEOUT.as_secs())))
        }
    }
}

/// Seals the password, stores the row, opens the database in this server, and records it in the audit log.
/// A database that cannot be reached is not saved: the message says why (a server that is down for a while can
/// be named in the configuration instead).
async fn save(state: &AppState, user: &CurrentUser, spec: &WatchSpec, replace: bool, action: &str) -> Result<()> {
    if spec.url.sqlite_path().is_some_and(|p| !p.exists()) {
        return Err(Error::BadRequest(format!(
            "{} does not exist: Strata watches SQLite files, it does not create them",
            spec.url.masked()
        )));
    }
    probe(&spec.url).await.map_err(|e| Error::BadRequest(format!("{e}; nothing was saved")))?;
    let keyring = secrets::Keyring::open_or_create(&state.config.secret_key_file())?;
    watchlist::save(&state.home, &keyring, spec, replace).await?;
    state.watched.insert(Watched::open(spec.clone(), &state.config, &state.home).await?);
    let detail =
        format!("{} {}{}", spec.url.backend(), spec.url.masked(), if spec.read_only { ", read_only" } else { "" });
    audit::record(&state.home, user.audit(action).target(&spec.name).database(&spec.name).detail(detail)).await
}

async fn refused(
    user: &CurrentUser,
    state: &AppState,
    form: DatabaseForm,
    editing: bool,
    e: Error,
) -> Result<Response> {
    let mut page = index(user.clone(), State(state.clone())).await?;
    page.form = form;
    page.editing = editing;
    page.error = Some(e.to_string());
    Ok((e.status(), page).into_response())
}

/// `GET /databases/{name}/edit`.
pub async fn edit(user: CurrentUser, State(state): State<AppState>, Path(name): Path<String>) -> Result<DatabasesPage> {
    user.require(Role::Admin)?;
    let w = editable(&state, &name)?;
    let mut page = index(user, State(state)).await?;
    page.form = DatabaseForm {
        name: w.name().to_string(),
        url: w.url().without_password(),
        password: String::new(),
        read_only: w.spec.read_only.then(|| "on".into()),
        group: w.spec.group.clone().unwrap_or_default(),
    };
    page.editing = true;
    Ok(page)
}

fn editable(state: &AppState, name: &str) -> Result<std::sync::Arc<Watched>> {
    let w = state.watched.get(name).ok_or_else(|| Error::NotFound(format!("a watched database named {name:?}")))?;
    if w.spec.origin != PAGE_ORIGIN {
        return Err(Error::Conflict(format!(
            "{name} is named in the configuration ({}): change it there",
            w.spec.origin
        )));
    }
    Ok(w)
}

/// `POST /databases/{name}/edit`: changes a database added here; an empty password keeps the stored one.
pub async fn update(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Form(mut form): Form<DatabaseForm>,
) -> Result<Response> {
    user.require(Role::Admin)?;
    let w = editable(&state, &name)?;
    form.name = name.clone();
    let saved = async {
        let spec = form.spec(Some(w.url()))?;
        check_new(&state, &spec)?;
        save(&state, &user, &spec, true, "database.update").await
    }
    .await;
    match saved {
        Ok(()) => {
            user.flash(FlashKind::Success, format!("{name} is changed.")).await?;
            Ok(Redirect::to("/databases").into_response())
        }
        Err(e) if e.status().is_client_error() => refused(&user, &state, form.shown(), true, e).await,
        Err(e) => Err(e),
    }
}

/// `POST /databases/{name}/delete`: stops watching a database added here (nothing in it is touched).
pub async fn delete(user: CurrentUser, State(state): State<AppState>, Path(name): Path<String>) -> Result<Redirect> {
    user.require(Role::Admin)?;
    editable(&state, &name)?;
    watchlist::remove(&state.home, &name).await?;
    state.watched.remove(&name);
    audit::record(&state.home, user.audit("database.remove").target(&name).database(&name)).await?;
    user.flash(FlashKind::Success, format!("{name} is no longer watched; nothing in it was changed.")).await?;
    Ok(Redirect::to("/databases"))
}

/// `POST /databases/test`: connects with what the form says (nothing is stored) and reports what answered.
pub async fn test(
    user: CurrentUser,
    State(state): State<AppState>,
    Form(form): Form<DatabaseForm>,
) -> Result<Response> {
    user.require(Role::Admin)?;
    let shown = form.shown();
    let outcome = async {
        let mut f = DatabaseForm { name: "test".into(), ..form.shown() };
        f.url = form.url.clone();
        f.password = form.password.clone();
        let spec = f.spec(None)?;
        if spec.url.sqlite_path().is_some_and(|p| !p.exists()) {
            return Err(Error::BadRequest(format!("{} does not exist", spec.url.masked())));
        }
        let version = probe(&spec.url).await?;
        Ok::<_, Error>(format!("Connected to {}: {version}.", spec.url.masked()))
    }
    .await;
    let mut page = index(user.clone(), State(state.clone())).await?;
    page.form = shown;
    match outcome {
        Ok(message) => page.notice = Some(message),
        Err(e) => page.error = Some(format!("The connection test failed: {e}")),
    }
    Ok(page.into_response())
}

async fn server_version(conn: &sea_orm::DatabaseConnection) -> Result<String> {
    let sql = match conn.get_database_backend() {
        sea_orm::DbBackend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
        _ => "SELECT version()",
    };
    let row = conn.query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql)).await?;
    Ok(row.and_then(|r| r.try_get_by_index::<String>(0).ok()).unwrap_or_default())
}

#[derive(Template, WebTemplate)]
#[template(path = "databases/index.html")]
pub struct DatabasesPage {
    pub layout: Layout,
    pub rows: Vec<Row>,
    pub form: DatabaseForm,
    pub editing: bool,
    pub error: Option<String>,
    /// A connection test that succeeded.
    pub notice: Option<String>,
}
