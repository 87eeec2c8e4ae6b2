//! The JSON API under `/api/v1` for API keys (`Authorization: Bearer`), its OpenAPI document and a readable page of it.
//!
//! Every endpoint is a handler with a `#[utoipa::path]` in the file of its resource, registered once
//! in [`routes`] through `utoipa_axum::routes!`: the router and the OpenAPI document are built from
//! that one list, so an endpoint cannot be served without being documented, or the other way round.
//!
//! Handlers take an [`auth::Caller`] (the verified key) and check what they need first:
//!
//! ```ignore
//! pub async fn index(caller: Caller, State(state): State<AppState>, ..) -> Result<Json<..>> {
//!     caller.require(Scope::ReadCatalog)?; // 403 `missing_scope`
//!     ..
//! }
//! ```
//!
//! Errors are `crate::error::Error` as everywhere; [`errors::json`] answers them (and axum's own 404s,
//! 405s and rejections) under `/api` as `{"error": {"code": ..., "message": ...}}`.

mod activity;
pub mod auth;
mod backups;
mod databases;
mod docs;
pub mod errors;
mod history;
mod indexes;
mod matrix;
mod migration_runs;
mod migrations;
mod overview;
pub mod params;
mod query;
mod samples;
mod statements;
mod tables;

use std::future::Future;
use std::sync::LazyLock;

use axum::Router;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::watch::catalog;

/// The name of the bearer security scheme in the document (the `security(("bearer" = []))` of each path).
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Strata API",
        description = "Read what the Strata dashboard shows, as JSON. Authenticate with an API key: \
                       `Authorization: Bearer strata_...`. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BearerScheme),
    components(schemas(errors::ErrorBody)),
    tags(
        (name = "catalog", description = "What the dashboard shows (scope `read_catalog`)"),
        (name = "query", description = "Run SQL and export results, as the query editor does (scopes `run_readonly_sql`, `run_sql`)"),
        (name = "sessions", description = "Cancel or terminate server sessions (admin keys with scope `run_sql`)"),
        (name = "migrations", description = "Preview and apply Strata's migrations on the project database (admin keys with scope `manage_migrations`)"),
        (name = "backups", description = "Backups and their restore tests (admin keys with scope `read_catalog`)"),
        (name = "meta", description = "This document and its readable page (no key needed)")
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme =
            HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("strata_<prefix>_<secret>").build();
        components.add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// The endpoints about no one database (the watch list, history, this document), with their documentation.
fn home_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(databases::index))
        .routes(routes!(history::index))
        .routes(routes!(matrix::index))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::page))
}

/// The endpoints under `/api/v1/databases/{name}`, with their documentation.
fn database_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview::show))
        .routes(routes!(tables::index))
        .routes(routes!(tables::show))
        .routes(routes!(indexes::index))
        .routes(routes!(activity::index))
        .routes(routes!(activity::cancel))
        .routes(routes!(activity::terminate))
        .routes(routes!(migrations::index))
        .routes(routes!(migration_runs::preview))
        .routes(routes!(migration_runs::lint))
        .routes(routes!(migration_runs::rehearse))
        .routes(routes!(migration_runs::apply))
        .routes(routes!(migration_runs::show))
        .routes(routes!(migration_runs::cancel))
        .routes(routes!(backups::index))
        .routes(routes!(query::run))
        .routes(routes!(query::export))
        .routes(routes!(samples::index))
        .routes(routes!(statements::index))
}

/// The `/api` routes about no one database, to merge into the dashboard's router.
pub fn router() -> Router<AppState> {
    home_routes().split_for_parts().0
}

/// The `/api/v1/databases/{name}/…` routes, merged among the per-database routes (which pick the database).
pub fn per_database_router() -> Router<AppState> {
    database_routes().split_for_parts().0
}

/// The OpenAPI document of exactly the routes [`router`] and [`per_database_router`] serve (built once).
pub fn openapi() -> &'static Document {
    static DOC: LazyLock<Document> = LazyLock::new(|| home_routes().merge(database_routes()).into_openapi());
    &DOC
}

/// Whether a path belongs to the API (its errors are JSON).
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// A catalog read under `catalog_timeout`: a page would show a note, the API answers 504.
async fn within<T>(state: &AppState, read: impl Future<Output = Result<T>>) -> Result<T> {
    let limit = state.config.settings.catalog_timeout;
    catalog::read(limit, read).await?.ok_or_else(|| {
        Error::Timeout(format!(
            "the database did not answer this catalog read within {} s (catalog_timeout)",
            limit.as_secs_f64()
        ))
    })
}
