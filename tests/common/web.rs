//! A test browser: the router called with `oneshot`, a cookie jar, the latest CSRF token, sign-in through the real form.
//!
//! ```ignore
//! let t = TestDb::new(kind).await;
//! migrate_up(&t).await;
//! let mut b = Browser::new(&t.url).await;
//! b.login_as(Role::Editor).await;
//! let (status, _, page) = b.get("/db/app/tables").await;
//! let (status, headers, _) = b.post_form("/db/app/activity/42/cancel", &[("reason", "runaway")]).await;
//! assert_eq!(location(&headers), "/db/app/activity");
//! ```
//!
//! Every HTML response refreshes the CSRF token from its first `name="_csrf" value="..."` field,
//! so `post_form` sends the token of the page seen last, as a real browser would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use strata::config::{Config, Overrides};
use strata::db::{self, Purpose};
use strata::home::accounts::{self, NewAccount, Role};
use strata::migrate::MigrationSet;
use strata::state::AppState;
use tower::ServiceExt;

use super::{APP, TestDb, ok, strata};

/// The password `login_as` gives the accounts it creates.
pub const PASSWORD: &str = "correct horse battery staple";

/// A response as a test reads it.
pub type Page = (StatusCode, HeaderMap, String);

/// Applies every migration with `strata migrate up`.
pub async fn migrate_up(t: &TestDb) {
    ok(&strata(&t.url, &["migrate", "up"]));
}

/// The state `strata serve` would build for `url` (default settings, default login throttle).
pub async fn app_state(url: &str) -> AppState {
    app_state_with(url, |_| {}).await
}

/// Like [`app_state`], with settings changed first (e.g. `s.cookie_secure = false`). On PostgreSQL and MariaDB
/// the viewer login is created first when the database has none (read-only runs need a login that can only
/// read; the test servers' logins are superusers), through the same code path as the admin page's button.
pub async fn app_state_with(url: &str, change: impl FnOnce(&mut strata::config::Settings)) -> AppState {
    let state = app_state_without_viewer_login(url, change).await;
    ensure_viewer_login(&state).await;
    state
}

/// Like [`app_state_with`], but no viewer login is made: read-only runs see the main login as it is.
pub async fn app_state_without_viewer_login(url: &str, change: impl FnOnce(&mut strata::config::Settings)) -> AppState {
    app_state_for(test_config(url), change).await
}

/// The configuration `strata serve` would read for the test database `url`: it is the project database, watched
/// as [`APP`], and the test's home database beside it keeps Strata's own state.
pub fn test_config(url: &str) -> Config {
    let overrides = Overrides {
        database_url: Some(url.to_string()),
        home_url: Some(super::home_url_for(url)),
        watch: vec![format!("{APP}={url}")],
        ..Default::default()
    };
    let mut config = Config::load(&overrides, &|_| None).expect("config");
    config.settings.secret_key_file = Some(super::key_file(url));
    config
}

/// The state for `config` (its home database migrated first), with settings changed by `change`.
pub async fn app_state_for(mut config: Config, change: impl FnOnce(&mut strata::config::Settings)) -> AppState {
    change(&mut config.settings);
    strata::home::migrate(&config.home_url).await.expect("migrate the home database");
    let home = db::connect(&config.home_url, Purpose::App).await.expect("connect to the home database");
    let migrations = Arc::new(MigrationSet::of::<migration::Migrator>().expect("migrations"));
    AppState::new(home, Arc::new(config), migrations).await.expect("an app state")
}

/// Creates the viewer login of the test database when a server database has none (and `viewer_url` is not set);
/// does nothing on SQLite.
pub async fn ensure_viewer_login(state: &AppState) {
    let config = &state.config;
    if config.database_url.backend() == strata::config::Backend::Sqlite || config.settings.viewer_url.is_some() {
        return;
    }
    let secret = strata::viewer_login::secret_name(APP);
    if let Ok(None) = strata::home::secrets::label(&state.home, &secret).await {
        refresh_viewer_grants(state).await;
    }
}

/// Creates the viewer login, or grants it the tables created since (what the admin page's button does).
pub async fn refresh_viewer_grants(state: &AppState) {
    let keyring =
        strata::home::secrets::Keyring::open_or_create(&state.config.secret_key_file()).expect("the key file");
    let app = watched(state);
    strata::viewer_login::create(&state.home, APP, &app.db, app.url(), &keyring, false)
        .await
        .expect("create the viewer login");
    app.engine.logins().forget().await;
}

/// The test database as the server watches it.
pub fn watched(state: &AppState) -> Arc<strata::watch::Watched> {
    state.watched.get(APP).expect("the test database is watched as `app`")
}

/// A page of the test database: `/db/app` followed by `path`.
pub fn at(path: &str) -> String {
    format!("/db/{APP}{path}")
}

/// The path a redirect points to.
#[track_caller]
pub fn location(headers: &HeaderMap) -> &str {
    headers.get(LOCATION).and_then(|v| v.to_str().ok()).expect("a Location header")
}

static ACCOUNTS: AtomicU32 = AtomicU32::new(0);

/// One visitor: cookies and the CSRF token carry over from request to request.
pub struct Browser {
    app: Router,
    pub state: AppState,
    cookies: BTreeMap<String, String>,
    /// The CSRF token of the last page that had a form.
    pub csrf: Option<String>,
    client: Option<SocketAddr>,
}

impl Browser {
    /// A browser on a fresh router for an already-migrated database.
    pub async fn new(url: &str) -> Browser {
        Browser::with_state(app_state(url).await)
    }

    /// A browser on a router built from `state` (custom settings or login throttle).
    pub fn with_state(state: AppState) -> Browser {
        Browser { app: strata::web::router(state.clone()), state, cookies: BTreeMap::new(), csrf: None, client: None }
    }

    /// Another visitor of the same server (same router, own cookies).
    pub fn another(&self) -> Browser {
        Browser { app: self.app.clone(), state: self.state.clone(), cookies: BTreeMap::new(), csrf: None, client: None }
    }

    /// A second tab of the same visitor: same cookies (the same session) and CSRF token, its own requests.
    pub fn same_visitor(&self) -> Browser {
        Browser {
            app: self.app.clone(),
            state: self.state.clone(),
            cookies: self.cookies.clone(),
            csrf: self.csrf.clone(),
            client: self.client,
        }
    }

    /// Requests appear to come from `addr` (as `ConnectInfo` would say); by default the address is unknown.
    pub fn set_client_addr(&mut self, addr: &str) {
        self.client = Some(addr.parse().expect("ip:port"));
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path).body(Body::empty()).unwrap()).await
    }

    /// Posts a form with the current CSRF token added as `_csrf`.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf.clone().unwrap_or_else(|| panic!("no CSRF token yet: GET a page with a form first"));
        let mut all = fields.to_vec();
        all.push(("_csrf", &token));
        self.post_raw(path, &all).await
    }

    /// Posts a form exactly as given: no `_csrf` unless `fields` has one.
    pub async fn post_form_without_csrf(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_raw(path, fields).await
    }

    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = form_request(path, fields);
        self.send(req).await
    }

    /// Posts a form (CSRF token added) and hands back the response with its body unread, to stream it.
    pub async fn post_form_streaming(&mut self, path: &str, fields: &[(&str, &str)]) -> axum::response::Response {
        let token = self.csrf.clone().unwrap_or_else(|| panic!("no CSRF token yet: GET a page with a form first"));
        let mut all = fields.to_vec();
        all.push(("_csrf", &token));
        self.respond(form_request(path, &all)).await
    }

    /// GETs a path and hands back the response with its body unread (binary downloads).
    pub async fn get_streaming(&mut self, path: &str) -> axum::response::Response {
        self.respond(Request::get(path).body(Body::empty()).unwrap()).await
    }

    /// GETs where a redirect points.
    pub async fn follow(&mut self, headers: &HeaderMap) -> Page {
        let to = location(headers).to_string();
        self.get(&to).await
    }

    /// Sends any request with the jar's cookies; keeps the cookies and the CSRF token of the answer.
    pub async fn send(&mut self, req: Request<Body>) -> Page {
        let res = self.respond(req).await;
        let status = res.status();
        let headers = res.headers().clone();
        let body = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned();
        // A run's history rows are written beside its answer (`strata::home::recorder`): wait for them, as the
        // history page does, so that a test may count them in the home database right after. (The streaming
        // calls do not wait.)
        self.state.history.settled().await;
        if let Some(token) = csrf_in(&body) {
            self.csrf = Some(token);
        }
        (status, headers, body)
    }

    /// Sends a request with the jar's cookies and keeps the cookies it sets; the body is left unread.
    async fn respond(&mut self, mut req: Request<Body>) -> axum::response::Response {
        if !self.cookies.is_empty() {
            let jar = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            req.headers_mut().insert(COOKIE, jar.parse().unwrap());
        }
        if let Some(addr) = self.client {
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        let res = self.app.clone().oneshot(req).await.expect("the router answers");
        for set in res.headers().get_all(SET_COOKIE) {
            self.store_cookie(set.to_str().expect("ASCII Set-Cookie"));
        }
        res
    }

    fn store_cookie(&mut self, header: &str) {
        let mut parts = header.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else { return };
        let removed = parts.any(|a| a.eq_ignore_ascii_case("max-age=0"));
        if removed || value.is_empty() {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_string(), value.to_string());
        }
    }

    /// A cookie's current value.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// The session cookie's value (the session id).
    pub fn session_id(&self) -> Option<String> {
        self.cookie(strata::web::session::COOKIE_NAME).map(str::to_string)
    }

    /// Replaces the session cookie (to replay an old one).
    pub fn set_session_id(&mut self, id: &str) {
        self.cookies.insert(strata::web::session::COOKIE_NAME.to_string(), id.to_string());
    }

    /// Opens the login form and submits it; returns the answer to the POST (no assertion).
    pub async fn try_login(&mut self, username: &str, password: &str) -> Page {
        let (status, _, page) = self.get("/login").await;
        assert!(status.is_success() || status.is_redirection(), "GET /login: {status}\n{page}");
        self.post_form("/login", &[("username", username), ("password", password)]).await
    }

    /// Signs in through the form and opens the page it leads to; panics when sign-in fails.
    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let (status, headers, body) = self.try_login(username, password).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "login as {username} failed:\n{body}");
        self.follow(&headers).await
    }

    /// Creates an account with `role` and [`PASSWORD`] and signs in as it; returns the username.
    pub async fn login_as(&mut self, role: Role) -> String {
        let username = create_account(&self.state, role).await;
        self.login(&username, PASSWORD).await;
        username
    }
}

/// Creates an account with `role` and [`PASSWORD`] straight in the database; returns the username.
pub async fn create_account(state: &AppState, role: Role) -> String {
    let username = format!("{}{}", role.as_str(), ACCOUNTS.fetch_add(1, Ordering::SeqCst));
    accounts::create(
        &state.home,
        NewAccount {
            email: format!("{username}@example.com"),
            username: username.clone(),
            role,
            password: PASSWORD.to_string(),
        },
    )
    .await
    .expect("create an account");
    username
}

/// The value of the first `name="_csrf" value="..."` in a page.
fn form_request(path: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    Request::post(path).header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(body)).unwrap()
}

fn csrf_in(html: &str) -> Option<String> {
    const MARK: &str = r#"name="_csrf" value=""#;
    let start = html.find(MARK)? + MARK.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_string())
}
