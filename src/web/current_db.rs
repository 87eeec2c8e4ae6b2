//! The `/db/{name}` extractor: which watched database a page or API call is about.
//!
//! [`resolve`] runs on every per-database route: it finds the database named in the path and hands it to the
//! handler as [`CurrentDb`], and marks the database down when the handler met a connection failure, so its pages
//! answer at once until it is back. The extractor refuses after the handler's sign-in check: 404 when no database
//! has the name, 503 at once while it is known to be unreachable (naming since when and why; other databases'
//! pages are not affected).

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{Error, Fault};
use crate::state::AppState;
use crate::watch::Watched;

/// The watched database of this request.
#[derive(Clone)]
pub struct CurrentDb(pub Arc<Watched>);

impl Deref for CurrentDb {
    type Target = Watched;
    fn deref(&self) -> &Watched {
        &self.0
    }
}

/// What [`resolve`] found for the path's name; the extractor turns it into the database or the refusal, after the
/// handler's earlier extractors (the signed-in user, the API key) had their say: a visitor who is not signed in
/// learns neither which names exist nor why one is down.
#[derive(Clone)]
enum Found {
    Ready(CurrentDb),
    Down { name: String, outage: crate::error::Outage },
    Missing(String),
}

impl FromRequestParts<AppState> for CurrentDb {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Error> {
        match parts.extensions.get::<Found>().cloned() {
            Some(Found::Ready(db)) => Ok(db),
            Some(Found::Down { name, outage }) => Err(Error::WatchedDown { name, outage }),
            Some(Found::Missing(name)) => Err(Error::NotFound(format!("a watched database named {name:?}"))),
            None => Err(Error::Internal("a per-database handler is routed without current_db::resolve".into())),
        }
    }
}

/// The database name in a per-database path: `/db/{name}/…` or `/api/v1/databases/{name}/…`.
pub fn name_in(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/db/").or_else(|| path.strip_prefix("/api/v1/databases/"))?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// The middleware of every per-database route (see the module's documentation).
pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let name = name_in(request.uri().path()).unwrap_or_default().to_string();
    let Some(watched) = state.watched.get(&name) else {
        request.extensions_mut().insert(Found::Missing(name));
        return next.run(request).await;
    };
    let found = match watched.health.outage() {
        Some(outage) => Found::Down { name: watched.name().to_string(), outage },
        None => Found::Ready(CurrentDb(watched.clone())),
    };
    request.extensions_mut().insert(found);
    let mut response = next.run(request).await;
    // The fault is this database's, not the home database's: the home's guard outside must not see it.
    if let Some(Fault::Unreachable(cause)) = response.extensions_mut().remove::<Fault>() {
        watched.report_unreachable(&cause);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_segment_after_db_or_databases() {
        assert_eq!(name_in("/db/shop"), Some("shop"));
        assert_eq!(name_in("/db/shop/tables/public/users"), Some("shop"));
        assert_eq!(name_in("/api/v1/databases/orders-eu/overview"), Some("orders-eu"));
        assert_eq!(name_in("/db/"), None);
        assert_eq!(name_in("/tables"), None);
    }
}
