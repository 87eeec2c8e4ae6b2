//! What `templates/base.html` needs on every page: the signed-in user, navigation, flash messages, the database.
//!
//! Every page template has a `layout: Layout` field and `{% extends "base.html" %}`:
//!
//! ```ignore
//! pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<IndexPage> {
//!     user.require(Role::Viewer)?;
//!     let layout = Layout::for_db(&user, &state, &db, "tables").await?;
//!     Ok(IndexPage { layout, .. })
//! }
//! ```

use tower_sessions::Session;

use super::session::{CurrentUser, Flash, take_flashes};
use crate::db::introspect::Capabilities;
use crate::error::Result;
use crate::home::accounts::Role;
use crate::state::AppState;
use crate::watch::Watched;

/// The signed-in account as the page header shows it.
#[derive(Clone, Debug)]
pub struct UserBadge {
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
}

impl UserBadge {
    /// Whether the account has `role` or a higher one (decides which links appear).
    pub fn can(&self, role: &Role) -> bool {
        self.role >= *role
    }

    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }
}

/// The frame around every page.
#[derive(Clone, Debug)]
pub struct Layout {
    /// `None` on the login page.
    pub user: Option<UserBadge>,
    /// Shown once, then gone.
    pub flashes: Vec<Flash>,
    /// The watched database this page is about, its URL with the password masked; empty on pages that are
    /// about no one database (the fleet, accounts, keys, history, audit).
    pub database: String,
    /// Its name (`/db/{name}`), empty when none.
    pub db_name: String,
    /// The path its pages live under (`/db/{name}`), empty when none.
    pub base: String,
    /// `postgresql`, `mysql` or `sqlite`; empty when no database.
    pub backend: String,
    /// Every watched database's name, for the switcher.
    pub databases: Vec<String>,
    /// The navigation entry to highlight (`overview`, `users`, `audit`, `backups`, ...); admins'
    /// entries (`users`, `audit`, `backups`) appear only for admins.
    pub active: &'static str,
    /// What this backend can show: the navigation lists only those pages.
    pub caps: Capabilities,
}

impl Layout {
    /// The frame for a signed-in page about no one database; takes the flash messages queued for this user.
    pub async fn new(user: &CurrentUser, state: &AppState, active: &'static str) -> Result<Layout> {
        Ok(Layout {
            user: Some(UserBadge {
                username: user.username.clone(),
                role: user.role,
                csrf_token: user.csrf_token.clone(),
            }),
            flashes: take_flashes(user.session()).await?,
            database: String::new(),
            db_name: String::new(),
            base: String::new(),
            backend: String::new(),
            databases: state.watched.all().iter().map(|w| w.name().to_string()).collect(),
            active,
            caps: Capabilities::default(),
        })
    }

    /// The frame for a page about one watched database: its navigation, name and engine.
    pub async fn for_db(user: &CurrentUser, state: &AppState, db: &Watched, active: &'static str) -> Result<Layout> {
        let mut layout = Layout::new(user, state, active).await?;
        layout.database = db.url().masked();
        layout.db_name = db.name().to_string();
        layout.base = db.base();
        layout.backend = db.url().backend().to_string();
        layout.caps = db.introspector.capabilities();
        Ok(layout)
    }

    /// The frame for the login page: no navigation, nothing about the database.
    pub async fn anonymous(session: &Session) -> Result<Layout> {
        Ok(Layout {
            user: None,
            flashes: take_flashes(session).await?,
            database: String::new(),
            db_name: String::new(),
            base: String::new(),
            backend: String::new(),
            databases: Vec::new(),
            active: "",
            caps: Capabilities::default(),
        })
    }
}
