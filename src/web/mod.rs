//! The HTTP server: router, start-up (migrate, first admin, bind, session and history sweeps), static files.
//!
//! Everything but `/healthz`, `/readyz`, `/metrics` and `/static/*` runs behind the health guard (`health::guard`:
//! 503 at once while the database is known to be down), the session layer and the CSRF middleware
//! (`csrf::protect`); pages and actions then take a `session::CurrentUser`. The JSON API
//! (`crate::api`, bearer keys) is merged in under `/api`, and its errors are answered as JSON.

mod activity;
mod assets;
mod audit;
mod auth;
mod backups;
mod bloat;
pub mod catalog;
pub mod csrf;
pub mod extract;
pub mod fmt;
mod headers;
mod health;
pub mod history;
mod indexes;
mod keys;
pub mod layout;
pub mod maintenance;
mod metrics;
mod migrations;
mod overview;
mod plan;
pub(crate) mod query;
pub mod session;
pub mod session_store;
mod tables;
pub mod throttle;
mod users;
mod viewer_login;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::middleware;
use axum::routing::{get, post};
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::migrate::{Event, MigrationSet, Runner, Steps};
use crate::state::AppState;

/// How often expired sessions are deleted from the database.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// How often query history older than `history_retention` is deleted.
const HISTORY_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Every route the dashboard serves.
pub fn router(state: AppState) -> Router {
    let sessions = session::layer(session_store::DbSessionStore::new(state.db.clone()), &state.config.settings);
    // Layers run bottom-up on the way in: the session is loaded before the CSRF check reads its token.
    let pages = Router::new()
        .route("/", get(overview::index))
        .route("/tables", get(tables::index))
        .route("/tables/{schema}/{table}", get(tables::show))
        .route("/indexes", get(indexes::index))
        .route("/activity", get(activity::index))
        .route("/activity/{pid}/{action}", get(activity::confirm).post(activity::act))
        .route("/bloat", get(bloat::index))
        .route("/migrations", get(migrations::index))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/account/password", get(auth::password_form).post(auth::change_password))
        .route("/admin/users", get(users::index).post(users::create))
        .route("/admin/users/new", get(users::new))
        .route("/admin/users/{id}", get(users::show))
        .route("/admin/users/{id}/role", post(users::set_role))
        .route("/admin/users/{id}/deactivate", post(users::deactivate))
        .route("/admin/users/{id}/reactivate", post(users::reactivate))
        .route("/admin/users/{id}/password", post(users::reset_password))
        .route("/admin/viewer-login", get(viewer_login::index).post(viewer_login::create))
        .route("/admin/viewer-login/drop", post(viewer_login::drop))
        .route("/admin/audit", get(audit::index))
        .route("/maintenance", get(maintenance::index))
        .route("/maintenance/confirm", get(maintenance::confirm))
        .route("/maintenance/runs", post(maintenance::start))
        .route("/maintenance/runs/{id}", get(maintenance::show))
        .route("/query", get(query::editor).post(query::run))
        .route("/query/export", post(query::export))
        .route("/query/explain", post(query::explain))
        .route("/query/names", get(query::names))
        .route("/query/{id}/cancel", post(query::cancel))
        .route("/history", get(history::index))
        .route("/history/export.csv", get(history::export))
        .route("/keys", get(keys::index).post(keys::create))
        .route("/keys/new", get(keys::new))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .merge(crate::api::router())
        .route("/backups", get(backups::index).post(backups::create))
        .route("/backups/status", get(backups::status))
        .route("/backups/retention", get(backups::retention).post(backups::prune))
        .route("/backups/{name}/download", get(backups::download))
        .route("/backups/{name}/delete", get(backups::confirm_delete).post(backups::delete))
        .route("/backups/{name}/restore", get(backups::confirm_restore).post(backups::restore))
        .layer(middleware::from_fn_with_state(csrf::body_limit(state.config.settings.max_sql_bytes), csrf::protect))
        .layer(middleware::from_fn_with_state(state.health.clone(), session::save))
        .layer(sessions)
        // Outermost: while the database is known to be down nothing below (not even the session) waits for it.
        .layer(middleware::from_fn_with_state(state.health.clone(), health::guard));
    let app = Router::new()
        .merge(pages)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::show))
        .route("/static/{*path}", get(assets::serve))
        .fallback(|uri: Uri| async move {
            if crate::api::is_api(uri.path()) {
                Error::NotFound(format!("the endpoint {}", uri.path()))
            } else {
                Error::NotFound("page".into())
            }
        })
        .layer(middleware::from_fn(crate::api::errors::json))
        .layer(axum::extract::DefaultBodyLimit::max(csrf::body_limit(state.config.settings.max_sql_bytes)))
        // `Router::layer` wraps each route after routing, so the middleware sees the matched route template.
        .layer(middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::http::track))
        .layer(TraceLayer::new_for_http().on_failure(log_failure));
    let config = state.config.clone();
    headers::add(app, &config.settings).with_state(state)
}

/// tower-http's default logs every 5xx at ERROR. A 501 (this backend cannot), 503 (the database is down, already
/// logged as a warning) and 504 (a read passed its limit) are answers, not faults: they are logged at INFO.
fn log_failure(class: ServerErrorsFailureClass, latency: Duration, _span: &tracing::Span) {
    let ms = latency.as_millis();
    match class {
        ServerErrorsFailureClass::StatusCode(
            status @ (StatusCode::NOT_IMPLEMENTED | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT),
        ) => tracing::info!(%status, latency_ms = ms, "request refused"),
        ServerErrorsFailureClass::StatusCode(status) => tracing::error!(%status, latency_ms = ms, "response failed"),
        ServerErrorsFailureClass::Error(error) => tracing::error!(%error, latency_ms = ms, "response failed"),
    }
}

/// `strata serve`: connect, migrate under the lock, make sure an admin exists, then serve until Ctrl-C.
pub async fn serve(config: Config, set: MigrationSet, migrate: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let url = config.database_url.clone();
    let health = Arc::new(db::health::Health::new(&url));
    let db = db::connect_app(&url, health.clone()).await?;
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
    // A key file others may read, or one that cannot be read, stops the start: the secrets it seals are no safer.
    crate::secrets::Keyring::open(&config.secret_key_file())?;
    let listen = config.settings.listen;
    let retention = config.settings.history_retention;
    let mut state = AppState::new(db.clone(), Arc::new(config), Arc::new(set))?;
    state.health = health.clone();
    // Before listening: whoever sees the port open has also been warned.
    warn_if_privileged(&state).await;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {listen} (set --listen or STRATA_LISTEN)"), e))?;
    tracing::info!("serving {} on http://{listen} (ready in {} ms)", url, started.elapsed().as_millis());
    let sweeper =
        tokio::spawn(session_store::sweep_expired(session_store::DbSessionStore::new(db.clone()), SESSION_SWEEP_EVERY));
    let history_sweeper =
        (!retention.is_zero()).then(|| tokio::spawn(crate::history::sweep(db.clone(), retention, HISTORY_SWEEP_EVERY)));
    let watcher = tokio::spawn(health.watch(url.clone(), db.clone()));
    let key_usage = state.key_usage.clone();
    let usage_flusher = tokio::spawn(key_usage.clone().flush_every(db.clone(), crate::api_keys::FLUSH_EVERY));
    state.metrics.start_collecting();
    let served = axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::io("serving HTTP", e));
    sweeper.abort();
    watcher.abort();
    usage_flusher.abort();
    if let Err(e) = key_usage.flush(&db).await {
        tracing::warn!(error = %e, "recording API key use at shutdown failed");
    }
    if let Some(h) = history_sweeper {
        h.abort();
    }
    served
}

/// Logs a warning when the main login can do more than read, saying which login read-only runs use instead (or
/// that they are refused until there is one).
async fn warn_if_privileged(state: &AppState) {
    let privileges = match crate::viewer_login::privileges(&state.db).await {
        Ok(p) if p.is_empty() => return,
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read what the main database login may do");
            return;
        }
    };
    let reads = match state.engine.logins().current().await {
        Ok(login) => login.describe(),
        Err(e) => format!("the login for read-only runs cannot be found: {e}"),
    };
    tracing::warn!(
        "the main database login can do more than read ({privileges}); {reads}. Set viewer_url, or run \
         `strata viewer-login create` (or Admin › Viewer login), so that read-only runs use a login that can only read"
    );
}

/// Ctrl-C, or SIGTERM (what `docker stop`, systemd and Kubernetes send; as PID 1 in a container an unhandled
/// SIGTERM would be ignored until the SIGKILL that follows).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server"),
        }
    }
    tokio::signal::ctrl_c().await.ok();
}
