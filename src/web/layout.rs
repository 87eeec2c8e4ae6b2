//! What `templates/base.html` needs on every page: the signed-in user, navigation, flash messages, the database.
//!
//! Every page template has a `layout: Layout` field and `{% extends "base.html" %}`:
//!
//! ```ignore
//! pub async fn index(user: CurrentUser, State(state): State<AppState>) -> Result<IndexPage> {
//!     user.require(Role::Viewer)?;
//!     let layout = Layout::new(&user, &state, "tables").await?;
//!     Ok(IndexPage { layout, .. })
//! }
//! ```

use tower_sessions::Session;

use super::session::{CurrentUser, Flash, take_flashes};
use crate::accounts::Role;
use crate::db::introspect::Capabilities;
use crate::error::Result;
use crate::state::AppState;

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
    /// The database URL with its password masked; empty before sign-in.
    pub database: String,
    /// `postgresql`, `mysql` or `sqlite`; empty before sign-in.
    pub backend: String,
    /// The navigation entry to highlight (`overview`, `users`, `audit`, `backups`, ...); admins'
    /// entries (`users`, `audit`, `backups`) appear only for admins.
    pub active: &'static str,
    /// What this backend can show: the navigation lists only those pages.
    pub caps: Capabilities,
}

impl Layout {
    /// The frame for a signed-in page; takes the flash messages queued for this user.
    pub async fn new(user: &CurrentUser, state: &AppState, active: &'static str) -> Result<Layout> {
        let url = &state.config.database_url;
        Ok(Layout {
            user: Some(UserBadge {
                username: user.username.clone(),
                role: user.role,
                csrf_token: user.csrf_token.clone(),
            }),
            flashes: take_flashes(user.session()).await?,
            database: url.masked(),
            backend: url.backend().to_string(),
            active,
            caps: state.introspector.capabilities(),
        })
    }

    /// The frame for the login page: no navigation, nothing about the database.
    pub async fn anonymous(session: &Session) -> Result<Layout> {
        Ok(Layout {
            user: None,
            flashes: take_flashes(session).await?,
            database: String::new(),
            backend: String::new(),
            active: "",
            caps: Capabilities::default(),
        })
    }
}
