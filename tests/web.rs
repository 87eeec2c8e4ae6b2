//! The server as a client sees it: health, readiness, the home page, a real `strata serve` on the SQLite default.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::web::{Browser, app_state, location};
use common::*;
use http_body_util::BodyExt;
use strata::home::accounts::Role;
use tower::ServiceExt;

async fn app_for(url: &str) -> axum::Router {
    strata::web::router(app_state(url).await)
}

async fn get(app: &axum::Router, path: &str) -> (StatusCode, String) {
    let res = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

each_backend! {
    readiness_follows_the_migration_state => readiness;
}

async fn readiness(kind: Kind) {
    let t = TestDb::new(kind).await;
    // An empty database, as a new project starts with (on SQLite too: Strata never creates a watched database).
    t.connect().await.close().await.ok();
    let app = app_for(&t.url).await;
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("pending_migrations") && body.contains("m20251122_000001"), "{body}");

    ok(&strata(&t.url, &["migrate", "up"]));
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut browser = Browser::new(&t.url).await;
    let (status, headers, _) = browser.get("/").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"), "the home page needs a sign-in");
    browser.login_as(Role::Viewer).await;
    let (status, _, page) = browser.get("/db/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Overview</h1>") && page.contains(HEAD.as_str()), "{page}");
    assert!(page.contains(&format!("0 pending of {}", *MIGRATIONS)), "{page}");
    let (status, _, page) = browser.get("/db/app/migrations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("create_posts") && page.contains("badge-applied"), "{page}");
    t.drop().await;
}

#[tokio::test]
async fn unknown_pages_and_static_files_are_404() {
    let t = TestDb::new(Kind::Sqlite).await;
    t.connect().await.close().await.ok();
    let app = app_for(&t.url).await;
    assert_eq!(get(&app, "/no/such/page").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/static/nope.css").await.0, StatusCode::NOT_FOUND);
    let (status, css) = get(&app, "/static/css/strata.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains("prefers-color-scheme: dark"));
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn home_page_masks_the_database_password() {
    let t = TestDb::new(Kind::Postgres).await;
    // Trust authentication ignores the password, so it can be anything the page must not show.
    let url = t.url.replacen("postgres://postgres@", "postgres://postgres:s3cr3t-pw@", 1);
    assert_ne!(url, t.url);
    // Every migration applied, then the last one marked pending again.
    ok(&strata(&t.url, &["migrate", "up"]));
    let mut browser = Browser::new(&url).await;
    browser.login_as(Role::Viewer).await;
    let set = strata::migrate::MigrationSet::of::<migration::Migrator>().unwrap();
    let before_head = set.entries()[set.len() - 2].revision.clone();
    ok(&strata(&t.url, &["migrate", "stamp", &before_head]));
    // The home page (the fleet) and the database's overview both show the URL, masked.
    let (status, _, page) = browser.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Fleet</h1>") && !page.contains("s3cr3t-pw"), "{page}");
    assert!(page.contains("postgres:***@"), "{page}");
    let (status, _, page) = browser.get("/db/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("s3cr3t-pw"), "{page}");
    assert!(page.contains("postgres:***@"), "{page}");
    assert!(page.contains(&format!("1 pending of {}", *MIGRATIONS)), "the last migration is pending: {page}");
    t.drop().await;
}

/// `strata serve` with no configuration: creates its home ./data/strata.db and the example project database
/// ./data/example.db, migrates both, creates an admin, answers /readyz.
#[tokio::test(flavor = "multi_thread")]
async fn serve_with_no_configuration_uses_local_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("STRATA_CONFIG")
        .env_remove("STRATA_ADMIN_PASSWORD")
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = None;
    for _ in 0..100 {
        if let Ok(body) = http_get(port, "/readyz").await {
            ready = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    child.kill().ok();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let ready = ready.unwrap_or_else(|| panic!("server never answered; stderr:\n{err}"));
    assert!(ready.starts_with("HTTP/1.1 200") && ready.contains("ready"), "{ready}");
    assert!(dir.path().join("data/strata.db").exists(), "the default home database file is created");
    assert!(dir.path().join("data/example.db").exists(), "the example project database file is created");
    assert!(err.contains("username: admin") && err.contains("password: "), "first admin announced once: {err}");
}

/// A minimal HTTP/1.1 GET over loopback (no client library needed for one request).
async fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    Ok(buf)
}
