//! Who is signed in: the session layer, the [`CurrentUser`] extractor with its role checks, sign-in/out, and flashes.
//!
//! Every page and action takes a `CurrentUser` and checks the role it needs on the server:
//!
//! ```ignore
//! pub async fn cancel(user: CurrentUser, State(state): State<AppState>, ..) -> Result<Redirect> {
//!     user.require(Role::Editor)?; // 403 for a viewer, whatever the page showed them
//!     ..
//! }
//! ```
//!
//! Without a valid sign-in the extractor redirects a browser to `/login?next=<this page>`. The session and
//! the account are reused for `session_cache` (2 s) once read from the home database, so a page view reads
//! neither. A deactivation, a role change or a password reset (which changes the credential stamp kept in the
//! session) made on this instance forgets the account at once and takes effect on the next request; made on
//! another instance sharing the home database, it takes effect here within `session_cache`.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use entity::admin_users;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use super::csrf;
use super::extract::ClientAddr;
use crate::config::Settings;
use crate::db::health::Health;
use crate::error::{Error, Result};
use crate::home::accounts::{self, Role};
use crate::home::audit;
use crate::home::history;
use crate::home::session_store::DbSessionStore;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "strata_session";

const AUTH_KEY: &str = "auth";
const FLASH_KEY: &str = "flashes";
const SEEN_KEY: &str = "seen";

/// A request within this long of the last recorded activity does not rewrite the session:
/// inactivity expiry is exact to a minute, and a page view costs no write.
const TOUCH_EVERY: i64 = 60;

/// The session layer: database store, cookie `strata_session` (HttpOnly, SameSite=Lax, `Secure`
/// unless `cookie_secure = false`), expiry after `session_ttl` of inactivity.
///
/// Lax rather than Strict: a link to a Strata page from mail or chat must arrive signed in (Strict
/// would drop the cookie, and the login page would then replace it). Cross-site POSTs still carry
/// no cookie, and the CSRF token protects every form regardless.
pub fn layer(store: DbSessionStore, settings: &Settings) -> SessionManagerLayer<DbSessionStore> {
    let ttl = time::Duration::try_from(settings.session_ttl).unwrap_or(time::Duration::hours(12));
    SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.cookie_secure)
        .with_expiry(Expiry::OnInactivity(ttl))
}

/// What the session remembers about a sign-in.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Auth {
    user_id: i32,
    /// Changes whenever the password does: sessions from before a reset are signed out.
    stamp: String,
}

/// A value that changes with every new password hash (each has a fresh salt): the first 128 bits of the
/// hash's SHA-256, in hex. Derived rather than a piece of the hash, so session data reveals nothing of it.
fn credential_stamp(password_hash: &str) -> String {
    crate::hex::sha256(password_hash.as_bytes(), 16)
}

/// The signed-in account, read from the home database at most every `session_cache`.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i32,
    pub username: String,
    pub role: Role,
    /// The value every form must send back as `_csrf`.
    pub csrf_token: String,
    session: Session,
    client_addr: String,
}

impl CurrentUser {
    /// `Err(Error::Forbidden)` (403) unless the account has `role` or a higher one.
    pub fn require(&self, role: Role) -> Result<()> {
        if self.can(role) { Ok(()) } else { Err(Error::Forbidden) }
    }

    /// Whether the account has `role` or a higher one (for showing buttons; the handler still calls `require`).
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }

    pub fn is_admin(&self) -> bool {
        self.can(Role::Admin)
    }

    /// The client's IP address, or `unknown`.
    pub fn client_addr(&self) -> &str {
        &self.client_addr
    }

    /// An audit entry with this account as the actor and its client address filled in.
    pub fn audit(&self, action: impl Into<String>) -> audit::Entry {
        audit::Entry::new(action).actor(self.id, self.username.clone()).client(self.client_addr.clone())
    }

    /// A query-history run by this account from its client address (see `crate::home::history`).
    pub fn history_run(&self, query: impl Into<String>, status: history::RunStatus) -> history::NewRun {
        history::NewRun::new(self.username.clone(), query, status).client(self.client_addr.clone())
    }

    /// Queues a message for the next page this user sees (post/redirect/get).
    pub async fn flash(&self, kind: FlashKind, message: impl Into<String>) -> Result<()> {
        flash(&self.session, kind, message).await
    }

    pub fn session(&self) -> &Session {
        &self.session
    }
}

/// What happens when there is no usable sign-in.
#[derive(Debug)]
pub enum AuthRejection {
    /// Redirect to the login page, which sends the user back to `next` afterwards.
    Login {
        next: Option<String>,
    },
    Error(Error),
}

impl From<Error> for AuthRejection {
    fn from(e: Error) -> Self {
        AuthRejection::Error(e)
    }
}

impl From<sea_orm::DbErr> for AuthRejection {
    fn from(e: sea_orm::DbErr) -> Self {
        AuthRejection::Error(e.into())
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Login { next } => Redirect::to(&login_url(next.as_deref())).into_response(),
            AuthRejection::Error(e) => e.into_response(),
        }
    }
}

/// `/login`, with `?next=` when there is somewhere to come back to.
pub fn login_url(next: Option<&str>) -> String {
    match next.and_then(safe_next).filter(|n| *n != "/") {
        Some(n) => format!("/login?next={}", url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()),
        None => "/login".to_string(),
    }
}

/// `next` when it is a path on this site, `None` for anything that could leave it
/// (`https://evil`, `//evil`, `/\evil`, control characters).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048;
    ok.then_some(next)
}

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = session_of(parts)?;
        let state = AppState::from_ref(state);
        // Only a page can be returned to; after a refused POST, start from the overview.
        let next = (parts.method == Method::GET)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into()));
        let Some(auth) = session.get::<Auth>(AUTH_KEY).await.map_err(store_error)? else {
            return Err(AuthRejection::Login { next });
        };
        let account = account(&state, auth.user_id).await?;
        let Some(account) = account.filter(|a| a.is_active && credential_stamp(&a.password_hash) == auth.stamp) else {
            // Deactivated, deleted or password reset since: this session is signed out.
            session.remove_value(AUTH_KEY).await.map_err(store_error)?;
            return Err(AuthRejection::Login { next });
        };
        let role = accounts::role_of(&account)?;
        let csrf_token = csrf::token(&session).await?;
        touch(&session).await?;
        Ok(CurrentUser {
            id: account.id,
            username: account.username,
            role,
            csrf_token,
            session,
            client_addr: ClientAddr::of(parts).0,
        })
    }
}

/// The account `id`, as kept for `session_cache` or else read from the home database.
async fn account(state: &AppState, id: i32) -> Result<Option<admin_users::Model>> {
    if let Some(account) = state.accounts.get(&id) {
        return Ok(Some(account));
    }
    let ticket = state.accounts.ticket();
    let account = admin_users::Entity::find_by_id(id).one(&state.home).await?;
    if let Some(a) = &account {
        state.accounts.put(ticket, id, a.clone());
    }
    Ok(account)
}

/// The request's session; present on every route behind the session layer.
pub fn session_of(parts: &Parts) -> Result<Session> {
    parts.extensions.get::<Session>().cloned().ok_or_else(|| Error::Internal("no session layer on this route".into()))
}

/// Signs `account` in on this session: new session id (no fixation), new CSRF token, credential stamp.
pub async fn sign_in(session: &Session, account: &admin_users::Model) -> Result<()> {
    session.cycle_id().await.map_err(store_error)?;
    csrf::rotate(session).await?;
    let auth = Auth { user_id: account.id, stamp: credential_stamp(&account.password_hash) };
    session.insert(AUTH_KEY, auth).await.map_err(store_error)?;
    touch(session).await
}

/// Whether the session holds a sign-in (not checked against the account: `CurrentUser` does that).
pub async fn is_signed_in(session: &Session) -> Result<bool> {
    Ok(session.get::<Auth>(AUTH_KEY).await.map_err(store_error)?.is_some())
}

/// Ends the session: deleted from the store, cookie removed. Anything put in the session afterwards
/// (a flash message) lives in a new session with a new id.
pub async fn sign_out(session: &Session) -> Result<()> {
    session.flush().await.map_err(store_error)?;
    // flush() keeps the old id in the emptied record, and the next save would reuse it.
    session.cycle_id().await.map_err(store_error)
}

/// After the account's own password change: keep this session (under a new id), sign out the others.
pub async fn password_changed(session: &Session, account: &admin_users::Model) -> Result<()> {
    session.cycle_id().await.map_err(store_error)?;
    let auth = Auth { user_id: account.id, stamp: credential_stamp(&account.password_hash) };
    session.insert(AUTH_KEY, auth).await.map_err(store_error)
}

/// Records activity at most once a minute, which moves the inactivity expiry.
async fn touch(session: &Session) -> Result<()> {
    let now = chrono::Utc::now().timestamp();
    let seen = session.get::<i64>(SEEN_KEY).await.map_err(store_error)?;
    if seen.is_none_or(|s| now - s >= TOUCH_EVERY || s > now) {
        session.insert(SEEN_KEY, now).await.map_err(store_error)?;
    }
    Ok(())
}

/// How a flash message looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashKind {
    Success,
    Info,
    Error,
}

impl FlashKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlashKind::Success => "success",
            FlashKind::Info => "info",
            FlashKind::Error => "error",
        }
    }
}

/// A message shown once, on the next page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

/// Queues a flash message in the session.
pub async fn flash(session: &Session, kind: FlashKind, message: impl Into<String>) -> Result<()> {
    let mut all: Vec<Flash> = session.get(FLASH_KEY).await.map_err(store_error)?.unwrap_or_default();
    // A page shows a handful at most; a loop of failing posts must not grow the session.
    if all.len() >= 5 {
        all.remove(0);
    }
    all.push(Flash { kind, message: message.into() });
    session.insert(FLASH_KEY, all).await.map_err(store_error)
}

/// Takes the queued flash messages (they are shown once).
pub async fn take_flashes(session: &Session) -> Result<Vec<Flash>> {
    // `remove` marks the session changed even when there is nothing to remove: look first,
    // so that an ordinary page view writes nothing.
    let Some(flashes) = session.get::<Vec<Flash>>(FLASH_KEY).await.map_err(store_error)? else {
        return Ok(Vec::new());
    };
    session.remove_value(FLASH_KEY).await.map_err(store_error)?;
    Ok(flashes)
}

/// Session store failures are the server's problem: 503 when the database is unreachable or refuses
/// writes, 500 otherwise.
pub(crate) fn store_error(e: tower_sessions::session::Error) -> Error {
    let text = e.to_string();
    if text.contains(crate::home::session_store::UNREACHABLE) {
        return Error::Unreachable(format!("session store: {text}"));
    }
    match crate::home::session_store::UNWRITABLE.iter().find(|(_, marker)| text.contains(marker)) {
        Some((fault, _)) => Error::Unwritable { fault: *fault, home: None },
        None => Error::Internal(format!("session store: {text}")),
    }
}

/// Saves a changed session before the response leaves, so that a store failure becomes a page that says
/// why (503 when the database is down or refuses writes). Left to the session layer, it would be a bare,
/// empty 500, and the next form would fail its CSRF check for want of the session that was never stored.
///
/// The session layer saves the session once more afterwards (it cannot tell it was saved); that costs one
/// write on the few responses that change a session (sign-in, flashes, the once-a-minute activity stamp).
pub async fn save(State(health): State<Arc<Health>>, req: Request, next: Next) -> Response {
    let session = req.extensions().get::<Session>().cloned();
    let response = next.run(req).await;
    let Some(session) = session else { return response };
    if !session.is_modified() || response.status().is_server_error() || session.is_empty().await {
        return response;
    }
    match session.save().await {
        Ok(()) => {
            health.wrote();
            response
        }
        Err(e) => store_error(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        for good in ["/", "/tables?schema=public", "/admin/users/3"] {
            assert_eq!(safe_next(good), Some(good));
        }
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "evil", "", "/a\r\nSet-Cookie: x"] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn login_urls_carry_an_encoded_next() {
        assert_eq!(login_url(None), "/login");
        assert_eq!(login_url(Some("/")), "/login");
        assert_eq!(login_url(Some("//evil")), "/login");
        assert_eq!(login_url(Some("/tables?a=1&b=2")), "/login?next=%2Ftables%3Fa%3D1%26b%3D2");
    }

    #[test]
    fn the_credential_stamp_changes_with_the_hash_and_shows_none_of_it() {
        let a = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo";
        let b = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNp";
        assert_eq!(credential_stamp(a), credential_stamp(a));
        assert_ne!(credential_stamp(a), credential_stamp(b));
        assert_eq!(credential_stamp(a).len(), 32);
        assert!(!a.contains(&credential_stamp(a)[..8]));
    }

    #[test]
    fn roles_are_checked_by_rank() {
        let store = std::sync::Arc::new(tower_sessions::MemoryStore::default());
        let user = |role| CurrentUser {
            id: 1,
            username: "ann".into(),
            role,
            csrf_token: String::new(),
            session: Session::new(None, store.clone(), None),
            client_addr: "unknown".into(),
        };
        assert!(user(Role::Admin).require(Role::Editor).is_ok());
        assert!(user(Role::Editor).require(Role::Editor).is_ok());
        assert!(matches!(user(Role::Viewer).require(Role::Editor), Err(Error::Forbidden)));
    }
}
