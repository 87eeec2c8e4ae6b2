//! The single-database URLs of earlier versions (`/tables`, `/query`, `/api/v1/overview`, …): with exactly one
//! watched database they redirect to its `/db/{name}/…` page (307 keeps a POST a POST); with several they are
//! not found, since they cannot say which database they mean.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::any;

use crate::error::Error;
use crate::state::AppState;

/// The old paths, page and API, each with its `{*rest}` form.
const PREFIXES: &[&str] = &[
    "/tables",
    "/indexes",
    "/activity",
    "/bloat",
    "/migrations",
    "/query",
    "/backups",
    "/maintenance",
    "/admin/viewer-login",
    "/api/v1/overview",
    "/api/v1/tables",
    "/api/v1/indexes",
    "/api/v1/activity",
    "/api/v1/migrations",
    "/api/v1/query",
];

/// The routes that redirect.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in PREFIXES {
        router = router.route(prefix, any(redirect)).route(&format!("{prefix}/{{*rest}}"), any(redirect));
    }
    router
}

/// Where an old path lives now, for the database `name`.
pub fn new_path(old: &str, name: &str) -> String {
    if let Some(rest) = old.strip_prefix("/api/v1") {
        return format!("/api/v1/databases/{name}{rest}");
    }
    if let Some(rest) = old.strip_prefix("/admin/viewer-login") {
        return format!("/db/{name}/viewer-login{rest}");
    }
    format!("/db/{name}{old}")
}

async fn redirect(State(state): State<AppState>, request: Request) -> Response {
    let Some(only) = state.watched.only() else {
        return Error::NotFound(format!(
            "{} (Strata watches several databases: their pages are under /db/NAME/…)",
            request.uri().path()
        ))
        .into_response();
    };
    let mut to = new_path(request.uri().path(), only.name());
    if let Some(q) = request.uri().query() {
        to.push('?');
        to.push_str(q);
    }
    // 307: the method and body stay (a form POSTed to the old address still works once followed).
    let mut response = Redirect::temporary(&to).into_response();
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_paths_map_under_the_database() {
        assert_eq!(new_path("/tables/public/users", "app"), "/db/app/tables/public/users");
        assert_eq!(new_path("/api/v1/tables", "app"), "/api/v1/databases/app/tables");
        assert_eq!(new_path("/admin/viewer-login/drop", "app"), "/db/app/viewer-login/drop");
    }
}
