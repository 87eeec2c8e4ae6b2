//! The HTTP server: router, start-up (migrate, first admin, bind), static files.

mod assets;
pub mod csrf;
pub mod extract;
mod health;
mod home;
pub mod layout;
pub mod session;
pub mod session_store;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::migrate::{Event, MigrationSet, Runner, Steps};
use crate::state::AppState;

/// Every route the dashboard serves.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home::index))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/static/{*path}", get(assets::serve))
        .fallback(|| async { Error::NotFound("page".into()) })
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `strata serve`: connect, migrate under the lock, make sure an admin exists, then serve until Ctrl-C.
pub async fn serve(config: Config, set: MigrationSet, migrate: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let url = config.database_url.clone();
    let db = db::connect(&url, Purpose::App).await?;
    if migrate && config.settings.migrate_on_start {
        // A memory database lives in the app's one connection; anything else migrates on its own connection.
        let dedicated = if url.is_memory() { None } else { Some(db::connect(&url, Purpose::Migrate).await?) };
        let conn = dedicated.as_ref().unwrap_or(&db);
        let progress = |e: Event<'_>| match e {
            Event::Waiting(m) => tracing::info!("{m}"),
            Event::Finished { action, entry, duration_ms } => {
                tracing::info!(revision = %entry.revision, "{} {} in {duration_ms} ms", action.as_str(), entry.label)
            }
            Event::Failed { entry, error, .. } => tracing::error!(revision = %entry.revision, "{error}"),
            Event::Started { .. } => {}
        };
        let actor = format!("strata serve ({})", crate::cli::actor());
        let runner = Runner::new(conn, &set, actor, config.settings.lock_timeout, &progress);
        runner.up(&Steps::All, false).await?;
        if let Some(c) = dedicated {
            c.close().await.ok();
        }
    }
    let admin_password = std::env::var("STRATA_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    if let Some((user, password)) = crate::accounts::ensure_admin(&db, admin_password).await? {
        eprintln!(
            "\nNo active admin existed, so Strata created one.\n  username: {user}\n  password: {password}\n\
             This password is shown once: store it, then change it after logging in.\n"
        );
    }
    let listen = config.settings.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {listen} (set --listen or STRATA_LISTEN)"), e))?;
    tracing::info!("serving {} on http://{listen} (ready in {} ms)", url, started.elapsed().as_millis());
    let state = AppState::new(db, Arc::new(config), Arc::new(set));
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await
        .map_err(|e| Error::io("serving HTTP", e))
}
