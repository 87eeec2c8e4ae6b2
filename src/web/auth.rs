//! Signing in and out, and changing one's own password.
//!
//! A wrong username and a wrong password get the same answer after the same work (one argon2
//! verification either way); the audit log records which it was. Failures are throttled per account
//! and per client address (`throttle.rs`), across every instance sharing the home database: past the limit the
//! answer is 429 without checking anything.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::extract::{ClientAddr, Form, Query};
use super::layout::Layout;
use super::session::{self, CurrentUser, FlashKind, safe_next};
use crate::error::{Error, Result};
use crate::home::accounts;
use crate::home::audit::{self, Entry};
use crate::home::throttle::Throttled;
use crate::state::AppState;

/// The one answer to a wrong username or a wrong password.
pub const WRONG_CREDENTIALS: &str = "Wrong username or password.";

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    next: Option<String>,
}

/// `GET /login`: the form (and the pre-login session that holds its CSRF token).
pub async fn login_form(session: Session, Query(params): Query<LoginParams>) -> Result<Response> {
    let next = params.next.as_deref().and_then(safe_next).unwrap_or("/").to_string();
    if session::is_signed_in(&session).await? {
        return Ok(Redirect::to(&next).into_response());
    }
    login_page(&session, StatusCode::OK, next, String::new(), None).await
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    ClientAddr(client): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response> {
    let next = safe_next(&form.next).unwrap_or("/").to_string();
    let username = form.username.trim().to_string();
    if username.is_empty() || form.password.is_empty() {
        let message = "Enter your username and your password.".to_string();
        return login_page(&session, StatusCode::BAD_REQUEST, next, username, Some(message)).await;
    }

    // This instance's counts first (no database work), then every instance's, from the shared audit log.
    let throttled = match state.login_throttle.check(&username, &client) {
        Some(t) => Some(t),
        None => state.login_throttle.check_shared(&state.home, &username, &client).await?,
    };
    if let Some(throttled) = throttled {
        let why = match throttled {
            Throttled::Account { .. } => "too many failures for this account",
            Throttled::Address { .. } => "too many failures from this address",
        };
        audit::record(&state.home, Entry::new("login.throttled").target(&username).detail(why).client(&client)).await?;
        let minutes = throttled.retry_after().as_secs().div_ceil(60).max(1);
        let message = format!(
            "Too many failed sign-in attempts for this account or from your address. \
             Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        );
        let mut res = login_page(&session, StatusCode::TOO_MANY_REQUESTS, next, username, Some(message)).await?;
        res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(throttled.retry_after().as_secs().max(1)));
        return Ok(res);
    }

    match accounts::authenticate(&state.home, &username, &form.password).await? {
        Ok(account) => {
            state.login_throttle.succeeded(&username);
            // Logged first: a sign-in that cannot be recorded does not happen.
            let at = state.login_throttle.wall_now();
            let entry = Entry::new("login.success").actor(account.id, &account.username).client(&client).at(at);
            audit::record(&state.home, entry).await?;
            accounts::touch_last_login(&state.home, account.id).await?;
            session::sign_in(&session, &account).await?;
            Ok(Redirect::to(&next).into_response())
        }
        Err(failure) => {
            state.login_throttle.failed(&username, &client);
            // Stamped with the throttle's clock: every instance counts it from the shared audit log.
            let entry = Entry::new("login.failure").target(&username).detail(failure.as_str()).client(&client);
            let entry = entry.at(state.login_throttle.wall_now());
            audit::record(&state.home, entry).await?;
            login_page(&session, StatusCode::UNAUTHORIZED, next, username, Some(WRONG_CREDENTIALS.into())).await
        }
    }
}

async fn login_page(
    session: &Session,
    status: StatusCode,
    next: String,
    username: String,
    error: Option<String>,
) -> Result<Response> {
    let csrf_token = super::csrf::token(session).await?;
    let page = LoginPage { layout: Layout::anonymous(session).await?, csrf_token, next, username, error };
    Ok((status, page).into_response())
}

/// `POST /logout`: ends the session everywhere it is stored.
pub async fn logout(user: CurrentUser, State(state): State<AppState>) -> Result<Redirect> {
    audit::record(&state.home, user.audit("logout")).await?;
    session::sign_out(user.session()).await?;
    // A fresh, anonymous session carries the goodbye to the login page.
    session::flash(user.session(), FlashKind::Info, "You are signed out.").await?;
    Ok(Redirect::to("/login"))
}

/// `GET /account/password`.
pub async fn password_form(user: CurrentUser, State(state): State<AppState>) -> Result<PasswordPage> {
    Ok(PasswordPage { layout: Layout::new(&user, &state, "account").await?, csrf_token: user.csrf_token, error: None })
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

/// `POST /account/password`: needs the current password; signs out the account's other sessions.
pub async fn change_password(
    user: CurrentUser,
    State(state): State<AppState>,
    Form(form): Form<PasswordForm>,
) -> Result<Response> {
    // A stolen session must not become a way to guess the password.
    if state.login_throttle.check(&user.username, user.client_addr()).is_some() {
        let message = "Too many wrong passwords: try again later.".to_string();
        return password_page(&user, &state, StatusCode::TOO_MANY_REQUESTS, message).await;
    }
    let account = accounts::get(&state.home, user.id).await?;
    if !accounts::verify_password(account.password_hash, form.current.clone()).await {
        state.login_throttle.failed(&user.username, user.client_addr());
        return password_page(&user, &state, StatusCode::BAD_REQUEST, "The current password is wrong.".into()).await;
    }
    if form.new != form.confirm {
        return password_page(
            &user,
            &state,
            StatusCode::BAD_REQUEST,
            "The new password and its confirmation differ.".into(),
        )
        .await;
    }
    if form.new == form.current {
        return password_page(&user, &state, StatusCode::BAD_REQUEST, "The new password is the current one.".into())
            .await;
    }
    let txn = sea_orm::TransactionTrait::begin(&state.home).await?;
    let updated = match accounts::set_password(&txn, user.id, form.new).await {
        Ok(a) => a,
        Err(Error::BadRequest(m)) => return password_page(&user, &state, StatusCode::BAD_REQUEST, sentence(&m)).await,
        Err(e) => return Err(e),
    };
    audit::record(&txn, user.audit("password.change").target(&user.username)).await?;
    txn.commit().await?;
    // The other sessions' stamp no longer matches: the account is read again on their next request.
    state.accounts.forget(&user.id);
    session::password_changed(user.session(), &updated).await?;
    user.flash(FlashKind::Success, "Your password is changed. Your other sessions are signed out.").await?;
    Ok(Redirect::to("/account/password").into_response())
}

async fn password_page(user: &CurrentUser, state: &AppState, status: StatusCode, error: String) -> Result<Response> {
    let layout = Layout::new(user, state, "account").await?;
    let page = PasswordPage { layout, csrf_token: user.csrf_token.clone(), error: Some(error) };
    Ok((status, page).into_response())
}

/// `the password must ...` → `The password must ....`
pub(crate) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub next: String,
    pub username: String,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/password.html")]
pub struct PasswordPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub error: Option<String>,
}
