//! `/admin/users`: accounts for admins — list, create, change role, deactivate/reactivate, reset password.
//!
//! Every handler calls `user.require(Role::Admin)?` first. Changes run in a transaction together
//! with their audit row; refusals (the last active admin, a taken name, a short password) come back
//! as a flash message on the page the form was on (post/redirect/get).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use entity::admin_users;
use sea_orm::TransactionTrait;
use serde::Deserialize;

use super::auth::sentence;
use super::extract::{Form, Path};
use super::layout::Layout;
use super::session::{self, CurrentUser, FlashKind};
use crate::error::{Error, Result};
use crate::home::accounts::{self, NewAccount, Role};
use crate::home::audit;
use crate::state::AppState;

/// `GET /admin/users`.
pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<UsersPage> {
    user.require(Role::Admin)?;
    let accounts = accounts::list(&state.home).await?.into_iter().map(|a| AccountRow::new(a, user.id)).collect();
    Ok(UsersPage { layout: Layout::new(&user, &state, "users").await?, accounts })
}

/// `GET /admin/users/new`.
pub async fn new(user: CurrentUser, State(state): State<AppState>) -> Result<NewUserPage> {
    user.require(Role::Admin)?;
    let form =
        NewUserForm { username: String::new(), email: String::new(), role: Role::Viewer, password: String::new() };
    let layout = Layout::new(&user, &state, "users").await?;
    Ok(NewUserPage { layout, csrf_token: user.csrf_token, form, roles: Role::ALL.to_vec(), error: None })
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    username: String,
    email: String,
    role: Role,
    password: String,
}

/// `POST /admin/users`: creates an account; a refusal shows the form again with what was typed (but the password).
pub async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    Form(mut form): Form<NewUserForm>,
) -> Result<Response> {
    user.require(Role::Admin)?;
    let new = NewAccount {
        username: form.username.clone(),
        email: form.email.clone(),
        role: form.role,
        password: std::mem::take(&mut form.password),
    };
    let txn = state.home.begin().await?;
    let account = match accounts::create(&txn, new).await {
        Ok(a) => a,
        Err(Error::BadRequest(message)) => {
            let layout = Layout::new(&user, &state, "users").await?;
            let error = Some(sentence(&message));
            let page = NewUserPage { layout, csrf_token: user.csrf_token, form, roles: Role::ALL.to_vec(), error };
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
        Err(e) => return Err(e),
    };
    let detail = format!("role {}, email {}", account.role, account.email);
    audit::record(&txn, user.audit("user.create").target(&account.username).detail(detail)).await?;
    txn.commit().await?;
    user.flash(FlashKind::Success, format!("Created the {} account {}.", account.role, account.username)).await?;
    Ok(Redirect::to("/admin/users").into_response())
}

/// `GET /admin/users/{id}`.
pub async fn show(user: CurrentUser, State(state): State<AppState>, Path(id): Path<i32>) -> Result<UserPage> {
    user.require(Role::Admin)?;
    let account = AccountRow::new(accounts::get(&state.home, id).await?, user.id);
    Ok(UserPage {
        layout: Layout::new(&user, &state, "users").await?,
        csrf_token: user.csrf_token,
        account,
        roles: Role::ALL.to_vec(),
        min_password: accounts::MIN_PASSWORD_LEN,
    })
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: Role,
}

/// `POST /admin/users/{id}/role`.
pub async fn set_role(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<i32>,
    Form(form): Form<RoleForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let result = async {
        let txn = state.home.begin().await?;
        let (before, account) = accounts::set_role(&txn, id, form.role).await?;
        if before == form.role {
            return Ok(format!("{} already is {}.", account.username, form.role));
        }
        let detail = format!("{before} → {}", form.role);
        audit::record(&txn, user.audit("user.role").target(&account.username).detail(detail)).await?;
        txn.commit().await?;
        Ok(format!("{} is now {} (was {before}).", account.username, form.role))
    }
    .await;
    // Its sessions read the account again on their next request (on other instances within session_cache).
    state.accounts.forget(&id);
    // An admin who just gave up their own admin rights cannot see the account page any more.
    let gave_up_admin = id == user.id && form.role < Role::Admin && result.is_ok();
    finish(&user, result, if gave_up_admin { "/".into() } else { format!("/admin/users/{id}") }).await
}

/// `POST /admin/users/{id}/deactivate`: the account can no longer sign in; its sessions end at their next request.
pub async fn deactivate(user: CurrentUser, State(state): State<AppState>, Path(id): Path<i32>) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let result = set_active(&user, &state, id, false).await;
    state.accounts.forget(&id);
    finish(&user, result, format!("/admin/users/{id}")).await
}

/// `POST /admin/users/{id}/reactivate`.
pub async fn reactivate(user: CurrentUser, State(state): State<AppState>, Path(id): Path<i32>) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let result = set_active(&user, &state, id, true).await;
    state.accounts.forget(&id);
    finish(&user, result, format!("/admin/users/{id}")).await
}

async fn set_active(user: &CurrentUser, state: &AppState, id: i32, active: bool) -> Result<String> {
    let txn = state.home.begin().await?;
    let before = accounts::get(&txn, id).await?.is_active;
    let account = accounts::set_active(&txn, id, active).await?;
    let (action, done) = if active { ("user.reactivate", "reactivated") } else { ("user.deactivate", "deactivated") };
    if before == active {
        return Ok(format!("{} already is {done}.", account.username));
    }
    audit::record(&txn, user.audit(action).target(&account.username)).await?;
    txn.commit().await?;
    Ok(format!("{} is {done}.", account.username))
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    password: String,
}

/// `POST /admin/users/{id}/password`: the admin sets a new password; the account's sessions end.
pub async fn reset_password(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<i32>,
    Form(form): Form<ResetForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let result = async {
        let txn = state.home.begin().await?;
        let account = accounts::set_password(&txn, id, form.password).await?;
        audit::record(&txn, user.audit("user.password_reset").target(&account.username)).await?;
        txn.commit().await?;
        state.accounts.forget(&id);
        if account.id == user.id {
            // An admin resetting their own password stays signed in here.
            session::password_changed(user.session(), &account).await?;
        }
        Ok(format!("{} has a new password; their sessions are signed out.", account.username))
    }
    .await;
    finish(&user, result, format!("/admin/users/{id}")).await
}

/// Flashes the outcome and goes back to `to`.
async fn finish(user: &CurrentUser, result: Result<String>, to: String) -> Result<Redirect> {
    match result {
        Ok(message) => user.flash(FlashKind::Success, message).await?,
        Err(Error::BadRequest(message)) => user.flash(FlashKind::Error, sentence(&message)).await?,
        Err(e) => return Err(e),
    }
    Ok(Redirect::to(&to))
}

/// An account as the pages show it.
#[derive(Clone, Debug)]
pub struct AccountRow {
    pub id: i32,
    pub username: String,
    pub email: String,
    pub role: String,
    pub is_active: bool,
    pub created_at: String,
    pub last_login_at: String,
    /// The signed-in admin's own account.
    pub is_me: bool,
}

impl AccountRow {
    fn new(a: admin_users::Model, me: i32) -> AccountRow {
        AccountRow {
            id: a.id,
            is_me: a.id == me,
            username: a.username,
            email: a.email,
            role: a.role,
            is_active: a.is_active,
            created_at: a.created_at.format("%Y-%m-%d %H:%M").to_string(),
            last_login_at: a
                .last_login_at
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "—".into()),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "users/index.html")]
pub struct UsersPage {
    pub layout: Layout,
    pub accounts: Vec<AccountRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "users/new.html")]
pub struct NewUserPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub form: NewUserForm,
    pub roles: Vec<Role>,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "users/show.html")]
pub struct UserPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub account: AccountRow,
    pub roles: Vec<Role>,
    pub min_password: usize,
}
