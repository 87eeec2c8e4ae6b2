//! Security headers on every kind of response (pages, static files, API JSON, errors, 404/405, redirects,
//! `/metrics`, `/healthz`), HSTS only with `cookie_secure`, and the pages still working in real headless Chromium
//! under the Content-Security-Policy: no violation in the browser's console on any page.
//!
//! Screenshots land in `target/screenshots/3*-csp-*.png` to be looked at.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{
    AUTHORIZATION, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use common::chrome::*;
use common::web::{Browser, app_state_with, migrate_up};
use common::*;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use strata::home::accounts::Role;

/// One request of each kind the router answers, with the status it gets.
async fn every_kind_of_response(b: &mut Browser) -> Vec<(String, StatusCode, HeaderMap)> {
    let mut seen = Vec::new();
    let mut record = |what: &str, (status, headers, _): (StatusCode, HeaderMap, String)| {
        seen.push((what.to_string(), status, headers));
    };
    record("redirect to the login page", b.get("/").await);
    record("login page", b.get("/login").await);
    record("static stylesheet", b.get("/static/css/strata.css").await);
    record("static script", b.get("/static/js/editor.js").await);
    record("static 404", b.get("/static/nothing.js").await);
    record("page 404", b.get("/no/such/page").await);
    record(
        "page 405",
        b.send(Request::builder().method(Method::OPTIONS).uri("/login").body(Body::empty()).unwrap()).await,
    );
    record("healthz", b.get("/healthz").await);
    record("readyz", b.get("/readyz").await);
    record("metrics refused", b.get("/metrics").await);
    b.set_client_addr("127.0.0.1:40000");
    record("metrics", b.get("/metrics").await);
    record("api document", b.get("/api/openapi.json").await);
    record("api docs page", b.get("/api/docs").await);
    record("api 401", b.get("/api/v1/databases/app/overview").await);
    record("api 404", b.get("/api/v1/nothing").await);
    let bad_key = Request::get("/api/v1/databases/app/tables")
        .header(AUTHORIZATION, "Bearer strata_nope_nope")
        .body(Body::empty());
    record("api wrong key", b.send(bad_key.unwrap()).await);
    record(
        "api 405",
        b.send(
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/api/v1/databases/app/overview")
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    );
    record("csrf refusal", b.post_form_without_csrf("/login", &[("username", "x"), ("password", "y")]).await);
    b.login_as(Role::Admin).await;
    record("signed-in page", b.get("/db/app/tables").await);
    record("query page", b.get("/db/app/query").await);
    record("sign-in redirect", b.try_login("nobody", "wrong").await);
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_response_carries_the_security_headers() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let mut b = Browser::with_state(app_state_with(&t.url, |s| s.cookie_secure = false).await);
    let seen = every_kind_of_response(&mut b).await;
    let statuses: Vec<u16> = seen.iter().map(|(_, s, _)| s.as_u16()).collect();
    // The kinds are really different answers: redirects, pages, errors of several sorts.
    for wanted in [200, 303, 401, 403, 404, 405] {
        assert!(statuses.contains(&wanted), "no {wanted} among {statuses:?}");
    }
    for (what, status, headers) in &seen {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let csp = header(&CONTENT_SECURITY_POLICY);
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{what} ({status}): CSP {csp:?} lacks {directive}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp}");
        assert_eq!(header(&X_FRAME_OPTIONS), "DENY", "{what} ({status})");
        assert_eq!(header(&X_CONTENT_TYPE_OPTIONS), "nosniff", "{what} ({status})");
        assert_eq!(header(&REFERRER_POLICY), "same-origin", "{what} ({status})");
        assert!(headers.get(STRICT_TRANSPORT_SECURITY).is_none(), "{what}: HSTS over plain HTTP (cookie_secure off)");
        assert_eq!(headers.get_all(CONTENT_SECURITY_POLICY).iter().count(), 1, "{what}: one policy");
    }
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hsts_is_sent_only_when_cookie_secure_is_on() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    // cookie_secure is on by default: Strata is served over HTTPS, so browsers are told to keep to it.
    let mut b = Browser::with_state(app_state_with(&t.url, |_| {}).await);
    assert!(b.state.config.settings.cookie_secure);
    for path in ["/login", "/static/css/strata.css", "/healthz", "/api/v1/databases/app/overview", "/no/such/page"] {
        let (status, headers, _) = b.get(path).await;
        let hsts = headers.get(STRICT_TRANSPORT_SECURITY).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(hsts.as_deref(), Some("max-age=31536000"), "{path} ({status})");
        assert_eq!(headers[X_FRAME_OPTIONS], "DENY", "{path}");
    }
    let mut plain = Browser::with_state(app_state_with(&t.url, |s| s.cookie_secure = false).await);
    let (_, headers, _) = plain.get("/login").await;
    assert!(headers.get(STRICT_TRANSPORT_SECURITY).is_none());
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_template_or_error_page_has_inline_script_style_or_handler() {
    // The policy would block these, so none may be there: checked on the sources the pages are built from.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("src/error.rs")];
    let mut dirs = vec![root.join("templates")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap().to_lowercase();
        let name = file.display();
        assert!(!text.contains("style=\"") && !text.contains("<style"), "{name} has inline style");
        assert!(!text.contains("javascript:"), "{name} has a javascript: URL");
        for (at, _) in text.match_indices("<script") {
            let tag = &text[at..text[at..].find('>').map_or(text.len(), |e| at + e)];
            assert!(tag.contains(" src="), "{name} has an inline script: {tag}");
        }
        for handler in [" onclick=", " onload=", " onsubmit=", " onchange=", " oninput=", " onerror="] {
            assert!(!text.contains(handler), "{name} has an inline {handler} handler");
        }
    }
}

/// chromedriver's console log since the last call (it hands each entry out once).
#[derive(Debug)]
struct ConsoleLog;

impl WebDriverCompatibleCommand for ConsoleLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(r#"{"type": "browser"}"#.into()))
    }
}

/// The console messages that report a Content-Security-Policy violation, since the last call.
async fn violations(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(ConsoleLog).await.expect("chromedriver's browser log");
    let entries = log.as_array().cloned().unwrap_or_else(|| panic!("a list of log entries: {log}"));
    entries
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.contains("Content Security Policy") || m.contains("Content-Security-Policy"))
        .map(str::to_string)
        .collect()
}

/// Opens `path`, waits for it to load and checks the console has no CSP violation.
async fn visit(c: &Client, base: &str, path: &str) {
    c.goto(&format!("{base}{path}")).await.unwrap();
    until(c, &format!("{path} loaded"), "return document.readyState === 'complete'").await;
    let found = violations(c).await;
    assert!(found.is_empty(), "{path}: the CSP blocked something:\n{}", found.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_works_in_chromium_under_the_content_security_policy() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    exec(&db, "CREATE TABLE csp_items (id INTEGER PRIMARY KEY, name TEXT)").await;
    exec(&db, "INSERT INTO csp_items (name) VALUES ('one'), ('two')").await;
    let (_server, base) = serve(&t.url).await;
    let (_driver, c) = chromium().await;
    sign_in(&c, &base).await;
    violations(&c).await;

    // The detector itself: an inline style the policy refuses is reported.
    c.execute("document.body.setAttribute('style', 'background: red')", vec![]).await.unwrap();
    let mut caught = Vec::new();
    for _ in 0..40 {
        caught = violations(&c).await;
        if !caught.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!caught.is_empty(), "a refused inline style shows in the console");

    for path in [
        "/",
        "/db/app/tables",
        "/db/app/tables/main/csp_items",
        "/db/app/indexes",
        "/db/app/activity",
        "/db/app/migrations",
        "/history",
        "/keys",
        "/keys/new",
        "/account/password",
        "/admin/users",
        "/admin/users/new",
        "/admin/audit",
        "/db/app/viewer-login",
        "/db/app/maintenance",
        "/db/app/backups",
        "/api/docs",
        "/no/such/page",
    ] {
        visit(&c, &base, path).await;
    }
    snap(&c, "30-csp-api-docs").await;
    visit(&c, &base, "/db/app/viewer-login").await;
    snap(&c, "33-csp-viewer-login").await;

    // The editor's script runs: it builds its highlighted overlay and line numbers around the textarea.
    visit(&c, &base, "/db/app/query").await;
    until(&c, "the editor's overlay", "return document.querySelector('.code .highlight') !== null").await;
    until(&c, "line numbers", "return document.querySelector('.code .gutter') !== null").await;
    let sql = c.find(Locator::Id("sql")).await.unwrap();
    sql.send_keys("SELECT name FROM csp_items ORDER BY id").await.unwrap();
    until(&c, "keywords highlighted", "return document.querySelectorAll('.highlight span').length > 0").await;
    c.find(Locator::Id("run")).await.unwrap().click().await.unwrap();
    until(&c, "the result grid", "return document.body.innerText.includes('two')").await;
    let found = violations(&c).await;
    assert!(found.is_empty(), "running a query: the CSP blocked something:\n{}", found.join("\n"));
    snap(&c, "31-csp-query-result").await;

    // The plan page indents its nodes with spacer elements now, not style attributes.
    visit(&c, &base, "/db/app/query").await;
    c.execute(
        "document.getElementById('sql').value = 'SELECT a.name FROM csp_items a JOIN csp_items b ON a.id = b.id'",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Id("explain")).await.unwrap().click().await.unwrap();
    until(&c, "the plan", "return document.querySelector('.plan-tree') !== null").await;
    let found = violations(&c).await;
    assert!(found.is_empty(), "explain: the CSP blocked something:\n{}", found.join("\n"));
    snap(&c, "32-csp-plan").await;

    // Styles from the stylesheet apply (the policy allows 'self'): the top bar is laid out as a flex row.
    let display =
        c.execute("return getComputedStyle(document.querySelector('.topbar')).display", vec![]).await.unwrap();
    assert_eq!(display, "flex", "the stylesheet applies under the CSP");
    t.drop().await;
}
