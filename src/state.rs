//! What every request handler shares: the pool, the configuration, the migrations of this build.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::migrate::MigrationSet;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub migrations: Arc<MigrationSet>,
}
