//! `/db/{name}/viewer-login`: which login read-only runs use, what the main login may do beyond reading, and the
//! buttons that create (or refresh, or rotate) and drop the viewer login Strata manages. Admins only; audited.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;

use super::current_db::CurrentDb;
use super::extract::Form;
use super::layout::Layout;
use super::session::{CurrentUser, FlashKind};
use crate::config::Backend;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::audit;
use crate::home::secrets::{self, Keyring};
use crate::state::AppState;
use crate::viewer_login;

/// `GET /db/{name}/viewer-login`.
pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<ViewerLoginPage> {
    user.require(Role::Admin)?;
    let layout = Layout::for_db(&user, &state, &db, "users").await?;
    let server = db.url().backend() != Backend::Sqlite;
    let privileges = viewer_login::privileges(&db.db).await?.to_string();
    let created = secrets::label(&state.home, &viewer_login::secret_name(db.name())).await?;
    let current = match db.engine.logins().current().await {
        Ok(login) => login.describe(),
        Err(e) => format!("read-only runs cannot find their login: {e}"),
    };
    Ok(ViewerLoginPage {
        layout,
        csrf_token: user.csrf_token,
        server,
        privileges,
        created,
        current,
        configured: db.spec.viewer_url.is_some(),
    })
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    /// A ticked "new password" box.
    rotate: Option<String>,
}

/// `POST /db/{name}/viewer-login`: creates the viewer login, or refreshes its grants (and rotates its password when
/// asked); read-only runs use it from the next run on.
pub async fn create(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<CreateForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let rotate = form.rotate.is_some();
    let result = async {
        let keyring = Keyring::open_or_create(&state.config.secret_key_file())?;
        let created = viewer_login::create(&state.home, db.name(), &db.db, db.url(), &keyring, rotate).await?;
        let detail = format!("existed: {}, new password: {}", created.existed, created.new_password);
        audit::record(
            &state.home,
            user.audit("viewer_login.create").database(db.name()).target(&created.user).detail(detail),
        )
        .await?;
        db.engine.logins().forget().await;
        Ok(if created.existed {
            format!(
                "Refreshed the grants of the viewer login {}{}.",
                created.user,
                if rotate { " and gave it a new password" } else { "" }
            )
        } else {
            format!("Created the viewer login {}: read-only runs use it from now on.", created.user)
        })
    }
    .await;
    finish(&user, &db, result).await
}

/// `POST /db/{name}/viewer-login/drop`.
pub async fn drop(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let url = db.url();
    let result = async {
        let name = url.database_name().map(|d| viewer_login::login_name(url.backend(), &d)).unwrap_or_default();
        let dropped = viewer_login::drop(&state.home, db.name(), &db.db, url).await?;
        db.engine.logins().forget().await;
        if !dropped {
            return Ok(format!("There is no viewer login {name}."));
        }
        audit::record(&state.home, user.audit("viewer_login.drop").database(db.name()).target(&name)).await?;
        Ok(format!("Dropped the viewer login {name}."))
    }
    .await;
    finish(&user, &db, result).await
}

/// Flashes the outcome: refusals a user can act on as errors on the page, anything else as an error answer.
async fn finish(user: &CurrentUser, db: &CurrentDb, result: Result<String>) -> Result<Redirect> {
    match result {
        Ok(message) => user.flash(FlashKind::Success, message).await?,
        Err(e @ (Error::Conflict(_) | Error::Unsupported(_) | Error::BadRequest(_) | Error::Db(_))) => {
            // A database refusal (the main login may not create roles, ...) is worth showing as it is.
            user.flash(FlashKind::Error, e.to_string()).await?
        }
        Err(e) => return Err(e),
    }
    Ok(Redirect::to(&format!("{}/viewer-login", db.base())))
}

#[derive(Template, WebTemplate)]
#[template(path = "viewer_login/index.html")]
pub struct ViewerLoginPage {
    pub layout: Layout,
    pub csrf_token: String,
    /// PostgreSQL or MariaDB/MySQL (SQLite has no logins).
    pub server: bool,
    /// What the main login may do beyond reading ("" when nothing).
    pub privileges: String,
    /// The created login's name, when Strata holds one.
    pub created: Option<String>,
    /// Which login read-only runs use now.
    pub current: String,
    /// `viewer_url` is set (and wins over a created login).
    pub configured: bool,
}
