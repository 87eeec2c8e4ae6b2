//! `/admin/viewer-login`: which login read-only runs use, what the main login may do beyond reading, and the
//! buttons that create (or refresh, or rotate) and drop the viewer login Strata manages. Admins only; audited.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;

use super::extract::Form;
use super::layout::Layout;
use super::session::{CurrentUser, FlashKind};
use crate::accounts::Role;
use crate::audit;
use crate::config::Backend;
use crate::error::{Error, Result};
use crate::secrets::{self, Keyring};
use crate::state::AppState;
use crate::viewer_login::{self, SECRET_NAME};

/// `GET /admin/viewer-login`.
pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<ViewerLoginPage> {
    user.require(Role::Admin)?;
    let layout = Layout::new(&user, &state, "users").await?;
    let server = state.config.database_url.backend() != Backend::Sqlite;
    let privileges = viewer_login::privileges(&state.db).await?.to_string();
    let created = secrets::label(&state.db, SECRET_NAME).await?;
    let current = match state.engine.logins().current().await {
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
        configured: state.config.settings.viewer_url.is_some(),
    })
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    /// A ticked "new password" box.
    rotate: Option<String>,
}

/// `POST /admin/viewer-login`: creates the viewer login, or refreshes its grants (and rotates its password when
/// asked); read-only runs use it from the next run on.
pub async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    Form(form): Form<CreateForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let rotate = form.rotate.is_some();
    let result = async {
        let keyring = Keyring::open_or_create(&state.config.secret_key_file())?;
        let created = viewer_login::create(&state.db, &state.config.database_url, &keyring, rotate).await?;
        let detail = format!("existed: {}, new password: {}", created.existed, created.new_password);
        audit::record(&state.db, user.audit("viewer_login.create").target(&created.user).detail(detail)).await?;
        state.engine.logins().forget().await;
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
    finish(&user, result).await
}

/// `POST /admin/viewer-login/drop`.
pub async fn drop(user: CurrentUser, State(state): State<AppState>) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let url = &state.config.database_url;
    let result = async {
        let name = url.database_name().map(|d| viewer_login::login_name(url.backend(), &d)).unwrap_or_default();
        let dropped = viewer_login::drop(&state.db, url).await?;
        state.engine.logins().forget().await;
        if !dropped {
            return Ok(format!("There is no viewer login {name}."));
        }
        audit::record(&state.db, user.audit("viewer_login.drop").target(&name)).await?;
        Ok(format!("Dropped the viewer login {name}."))
    }
    .await;
    finish(&user, result).await
}

/// Flashes the outcome: refusals a user can act on as errors on the page, anything else as an error answer.
async fn finish(user: &CurrentUser, result: Result<String>) -> Result<Redirect> {
    match result {
        Ok(message) => user.flash(FlashKind::Success, message).await?,
        Err(e @ (Error::Conflict(_) | Error::Unsupported(_) | Error::BadRequest(_) | Error::Db(_))) => {
            // A database refusal (the main login may not create roles, ...) is worth showing as it is.
            user.flash(FlashKind::Error, e.to_string()).await?
        }
        Err(e) => return Err(e),
    }
    Ok(Redirect::to("/admin/viewer-login"))
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
