//! Security headers on every response — pages, static files, API JSON, errors, redirects, `/metrics` — set by one
//! tower-http layer around the whole router.
//!
//! The Content-Security-Policy allows only Strata's own files: the templates carry no inline script, style
//! attribute or event handler (the editor's script and the stylesheet are under `/static`).

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Settings;

/// Only Strata's own scripts, styles and images; `fetch` and beacons to Strata itself; forms post to Strata;
/// no frame may show a page (`frame-ancestors`), no `<base>`, no plugins.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// HTTPS only for a year; sent only when `cookie_secure` says Strata is served over HTTPS.
pub const STRICT_TRANSPORT_SECURITY_VALUE: &str = "max-age=31536000";

/// `router` with the security headers on each of its responses, replacing any a handler set. One
/// `SetResponseHeaderLayer` per header: fixed values, nothing boxed or allocated per request.
pub fn add<S: Clone + Send + Sync + 'static>(router: Router<S>, settings: &Settings) -> Router<S> {
    let fixed = |name, value| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    let hsts = settings.cookie_secure.then(|| HeaderValue::from_static(STRICT_TRANSPORT_SECURITY_VALUE));
    router
        .layer(fixed(CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE))
        .layer(fixed(X_FRAME_OPTIONS, "DENY"))
        .layer(fixed(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(fixed(REFERRER_POLICY, "same-origin"))
        // `None` adds nothing: plain-HTTP set-ups get no HSTS.
        .layer(SetResponseHeaderLayer::overriding(STRICT_TRANSPORT_SECURITY, hsts))
}
