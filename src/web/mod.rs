//! The HTTP server: router, start-up (home migrations, first admin, bind, session and history sweeps), static files.
//!
//! Everything but `/healthz`, `/readyz`, `/metrics` and `/static/*` runs behind the health guard (`health::guard`:
//! 503 at once while the database is known to be down), the session layer and the CSRF middleware
//! (`csrf::protect`); pages and actions then take a `session::CurrentUser`. The JSON API
//! (`crate::api`, bearer keys) is merged in under `/api`, and its errors are answered as JSON.

mod activity;
mod assets;
mod audit;
mod auth;
mod backup_offsite;
mod backup_policy;
mod backup_schedule;
mod backups;
mod bloat;
pub mod chart;
mod charts;
pub mod csrf;
pub mod current_db;
mod databases;
pub mod extract;
mod fleet;
pub mod fmt;
mod headers;
mod health;
pub mod history;
mod indexes;
mod keys;
pub mod layout;
mod legacy;
pub mod maintenance;
mod matrix;
mod metrics;
mod migrations;
mod overview;
mod plan;
pub(crate) mod query;
pub mod session;
mod statements;
mod tables;
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

/// The per-database pages and actions, under `/db/{name}`; [`current_db::resolve`] picks the database.
fn per_database(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/db/{name}", get(overview::index))
        .route("/db/{name}/tables", get(tables::index))
        .route("/db/{name}/tables/{schema}/{table}", get(tables::show))
        .route("/db/{name}/indexes", get(indexes::index))
        .route("/db/{name}/indexes/{schema}/{index}", get(indexes::show))
        .route("/db/{name}/activity", get(activity::index))
        .route("/db/{name}/activity/{pid}/{action}", get(activity::confirm).post(activity::act))
        .route("/db/{name}/bloat", get(bloat::index))
        .route("/db/{name}/statements", get(statements::index))
        .route("/db/{name}/statements/{id}", get(statements::show))
        .route("/db/{name}/migrations", get(migrations::index))
        .route("/db/{name}/migrations/around", get(migrations::around::show))
        .route("/db/{name}/migrations/preview", get(migrations::runs::preview))
        .route("/db/{name}/migrations/rehearse", post(migrations::runs::rehearse))
        .route("/db/{name}/migrations/runs", post(migrations::runs::start))
        .route("/db/{name}/migrations/runs/{id}", get(migrations::runs::show))
        .route("/db/{name}/migrations/runs/{id}/status", get(migrations::runs::status))
        .route("/db/{name}/migrations/runs/{id}/cancel", post(migrations::runs::cancel))
        .route("/db/{name}/viewer-login", get(viewer_login::index).post(viewer_login::create))
        .route("/db/{name}/viewer-login/drop", post(viewer_login::drop))
        .route("/db/{name}/maintenance", get(maintenance::index))
        .route("/db/{name}/maintenance/confirm", get(maintenance::confirm))
        .route("/db/{name}/maintenance/runs", post(maintenance::start))
        .route("/db/{name}/maintenance/runs/{id}", get(maintenance::show))
        .route("/db/{name}/query", get(query::editor).post(query::run))
        .route("/db/{name}/query/export", post(query::export))
        .route("/db/{name}/query/explain", post(query::explain))
        .route("/db/{name}/query/names", get(query::names))
        .route("/db/{name}/query/{id}/cancel", post(query::cancel))
        .route("/db/{name}/backups", get(backups::index).post(backups::create))
        .route("/db/{name}/backups/status", get(backups::status))
        .route("/db/{name}/backups/schedule", post(backup_schedule::update))
        .route("/db/{name}/backups/offsite", post(backup_offsite::update))
        .route(
            "/db/{name}/backups/offsite/{file}/restore",
            get(backup_offsite::confirm_restore).post(backup_offsite::restore),
        )
        .route("/db/{name}/backups/policy", get(backup_policy::index).post(backup_policy::apply))
        .route("/db/{name}/backups/retention", get(backups::retention).post(backups::prune))
        .route("/db/{name}/backups/{file}/download", get(backups::download))
        .route("/db/{name}/backups/{file}/delete", get(backups::confirm_delete).post(backups::delete))
        .route("/db/{name}/backups/{file}/restore", get(backups::confirm_restore).post(backups::restore))
        .merge(crate::api::per_database_router())
        .route_layer(middleware::from_fn_with_state(state.clone(), current_db::resolve))
}

/// Every route the dashboard serves.
pub fn router(state: AppState) -> Router {
    let sessions = session::layer(state.sessions.clone(), &state.config.settings);
    // Layers run bottom-up on the way in: the session is loaded before the CSRF check reads its token.
    let pages = Router::new()
        .route("/", get(fleet::index))
        .route("/migrations", get(matrix::index))
        .merge(per_database(&state))
        .merge(legacy::routes())
        .route("/databases", get(databases::index).post(databases::create))
        .route("/databases/test", post(databases::test))
        .route("/databases/{name}/edit", get(databases::edit).post(databases::update))
        .route("/databases/{name}/delete", post(databases::delete))
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
        .route("/admin/audit", get(audit::index))
        .route("/history", get(history::index))
        .route("/history/export.csv", get(history::export))
        .route("/keys", get(keys::index).post(keys::create))
        .route("/keys/new", get(keys::new))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .merge(crate::api::router())
        .layer(middleware::from_fn_with_state(csrf::body_limit(state.config.settings.max_sql_bytes), csrf::protect))
        .layer(middleware::from_fn_with_state(state.health.clone(), session::save))
        .layer(sessions)
        // Outermost: while the home database is known to be down nothing below (not even the session) waits for it.
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

/// `strata serve`: open and migrate the home database, migrate the project database when asked, make sure an
/// admin exists, then serve until Ctrl-C.
pub async fn serve(config: Config, set: MigrationSet, migrate: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let home_url = config.home_url.clone();
    let health = Arc::new(db::health::Health::new(&home_url));
    let home = db::connect_app(&home_url, health.clone()).await?;
    let admin_password = std::env::var("STRATA_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    // A memory home lives in the pool's one connection; anything else is prepared on a connection of its own.
    let created = if home_url.is_memory() {
        crate::home::migrate_on(&home, Some(admin_password)).await?
    } else {
        crate::home::prepare(&home_url, admin_password).await?
    };
    if migrate && config.settings.migrate_on_start {
        migrate_project(&config, &set).await?;
    }
    if let Some((user, password)) = created {
        eprintln!(
            "\nNo active admin existed, so Strata created one.\n  username: {user}\n  password: {password}\n\
             This password is shown once: store it, then change it after logging in.\n"
        );
    }
    // A key file others may read, or one that cannot be read, stops the start: the secrets it seals are no safer.
    crate::home::secrets::Keyring::open(&config.secret_key_file())?;
    let listen = config.settings.listen;
    let retention = config.settings.history_retention;
    let mut state = AppState::new(home.clone(), Arc::new(config), Arc::new(set)).await?;
    state.health = health.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {listen} (set --listen or STRATA_LISTEN)"), e))?;
    let names: Vec<String> = state.watched.all().iter().map(|w| w.name().to_string()).collect();
    tracing::info!(
        "serving on http://{listen} (ready in {} ms): home {home_url}, watching {}",
        started.elapsed().as_millis(),
        names.join(", ")
    );
    // In the background, so a database that hangs never delays the start; the project database only (the one
    // `strata migrate` already works on): the others get no connection until a page asks.
    if let Some(project) = state.watched.project() {
        tokio::spawn(warn_if_privileged(project));
    }
    let store = crate::home::session_store::DbSessionStore::new(home.clone());
    let sweeper = tokio::spawn(crate::home::session_store::sweep_expired(store, SESSION_SWEEP_EVERY));
    let history_sweeper = (!retention.is_zero())
        .then(|| tokio::spawn(crate::home::history::sweep(home.clone(), retention, HISTORY_SWEEP_EVERY)));
    let watcher = tokio::spawn(health.watch(home_url.clone(), home.clone()));
    let key_usage = state.key_usage.clone();
    let history = state.history.clone();
    let usage_flusher = tokio::spawn(key_usage.clone().flush_every(home.clone(), crate::home::api_keys::FLUSH_EVERY));
    // One scheduler among the instances sharing this home database runs the scheduled backups (a lease there).
    let scheduler = crate::watch::scheduler::Scheduler::new(
        home.clone(),
        state.watched.clone(),
        state.config.clone(),
        state.migrations.clone(),
    );
    let instance = scheduler.instance().to_string();
    let scheduler = tokio::spawn(scheduler.run());
    // One sampler among the instances, too: the trend charts' samples (`sample_interval`, 0: none).
    let sampler = crate::watch::sampler::Sampler::new(home.clone(), state.watched.clone(), &state.config.settings);
    let sampler_instance = sampler.instance().to_string();
    let sampler = tokio::spawn(sampler.run());
    // The database readings for `/metrics` start at the first scrape: a watched database nobody looks at, and no
    // Prometheus scrapes, keeps no connection of Strata's.
    let served = axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::io("serving HTTP", e));
    sweeper.abort();
    watcher.abort();
    usage_flusher.abort();
    scheduler.abort();
    crate::watch::scheduler::Scheduler::release(&home, &instance).await;
    sampler.abort();
    crate::watch::sampler::Sampler::release(&home, &sampler_instance).await;
    if let Err(e) = key_usage.flush(&home).await {
        tracing::warn!(error = %e, "recording API key use at shutdown failed");
    }
    // The last runs' history rows, written beside their answers, are not lost to the exit.
    history.settled().await;
    if let Some(h) = history_sweeper {
        h.abort();
    }
    served
}

/// Applies the project database's pending migrations under the migration lock (`migrate_on_start`).
async fn migrate_project(config: &Config, set: &MigrationSet) -> Result<()> {
    let url = &config.database_url;
    let conn = db::connect(url, Purpose::Migrate).await?;
    let progress = |e: Event<'_>| match e {
        Event::Waiting(m) => tracing::info!("{m}"),
        Event::Finished { action, entry, duration_ms } => {
            tracing::info!(revision = %entry.revision, "{} {} in {duration_ms} ms", action.as_str(), entry.label)
        }
        Event::Failed { entry, error, .. } => tracing::error!(revision = %entry.revision, "{error}"),
        Event::Started { .. } => {}
    };
    let actor = format!("strata serve ({})", crate::migrate::actor());
    let runner = Runner::new(&conn, set, actor, config.settings.lock_timeout, &progress);
    let result = runner.up(&Steps::All, false).await;
    conn.close().await.ok();
    result.map(|_| ())
}

/// Logs a warning when a watched database's main login can do more than read, saying which login read-only runs
/// use instead (or that they are refused until there is one).
async fn warn_if_privileged(w: Arc<crate::watch::Watched>) {
    let read = tokio::time::timeout(Duration::from_secs(10), crate::viewer_login::privileges(&w.db)).await;
    let privileges = match read {
        Ok(Ok(p)) if p.is_empty() => return,
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::warn!(database = %w.name(), error = %e, "cannot read what the database login may do");
            return;
        }
        Err(_) => return,
    };
    let reads = match w.engine.logins().current().await {
        Ok(login) => login.describe(),
        Err(e) => format!("the login for read-only runs cannot be found: {e}"),
    };
    tracing::warn!(
        database = %w.name(),
        "the database login can do more than read ({privileges}); {reads}. Set viewer_url in its [database:{}] \
         section, or run `strata viewer-login create --db {}` (or its Viewer login page), so that read-only runs \
         use a login that can only read",
        w.name(),
        w.name()
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
