//! Strata writes nothing into a watched database: `strata serve` watching a real application's database, an admin
//! opening every page, running a read query and an export, leaves its catalog and data exactly as they were.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::apps::{self, assert_unchanged, snapshot};
use common::web::{Browser, app_state_without_viewer_login, at};
use common::{Kind, TestDb, strata_cmd};
use http_body_util::BodyExt;
use strata::home::accounts::Role;

/// A free port on this machine.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` over plain HTTP/1.0; the status code, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Starts the real `strata serve` watching `t` (its project database, as a DBA would point it at an app) and
/// waits until it answers `/readyz`; the home database is the test's own.
fn serve(t: &TestDb) -> (Child, u16) {
    let port = free_port();
    let child = strata_cmd(&t.url, &["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("STRATA_ADMIN_PASSWORD", common::web::PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strata serve");
    let started = Instant::now();
    while http_status(port, "/readyz").is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "strata serve did not answer within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

fn stop(mut child: Child) -> String {
    child.kill().ok();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).ok();
    }
    child.wait().ok();
    err
}

/// Every table page the tables list links to.
fn table_links(page: &str) -> Vec<String> {
    let mark = format!("href=\"{}", at("/tables/"));
    page.match_indices(&mark)
        .filter_map(|(i, _)| {
            let start = i + "href=\"".len();
            let len = page[start..].find('"')?;
            Some(page[start..start + len].to_string())
        })
        .collect()
}

/// An admin opens every page of the watched database, runs `read` and exports it.
async fn walk(t: &TestDb, read: &str) {
    let mut b = Browser::with_state(app_state_without_viewer_login(&t.url, |s| s.cookie_secure = false).await);
    b.login_as(Role::Admin).await;
    let (status, _, tables) = b.get(&at("/tables")).await;
    assert_eq!(status, StatusCode::OK, "{tables}");
    let links = table_links(&tables);
    assert!(!links.is_empty(), "the tables page lists the app's tables:\n{tables}");
    let mut pages: Vec<String> =
        ["/", "/databases", "/history", "/admin/audit"].iter().map(|p| p.to_string()).collect();
    for p in ["", "/indexes", "/activity", "/migrations", "/query", "/query/names", "/backups", "/maintenance"] {
        pages.push(at(p));
    }
    pages.push(at("/viewer-login"));
    pages.extend(links);
    for path in &pages {
        let (status, _, body) = b.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}:\n{body}");
    }
    let (status, _, _) = b.get(&at("/bloat")).await;
    let expected = if t.kind == Kind::Postgres { StatusCode::OK } else { StatusCode::NOT_IMPLEMENTED };
    assert_eq!(status, expected, "bloat");
    b.get(&at("/query")).await;
    let (status, _, body) = b.post_form(&at("/query"), &[("sql", read)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("flash-error") && !body.contains("class=\"error"), "the read query runs:\n{body}");
    let res = b.post_form_streaming(&at("/query/export"), &[("sql", read), ("format", "csv")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csv = res.into_body().collect().await.unwrap().to_bytes();
    assert!(csv.len() > 2, "the export has a header and a row");
}

async fn untouched(t: &TestDb, read: &str) {
    let before = snapshot(t).await;
    let (server, port) = serve(t);
    assert_eq!(http_status(port, "/login"), Some(200));
    let log = stop(server);
    assert_unchanged(&before, &snapshot(t).await, &format!("strata serve starting against it (log:\n{log})"));
    walk(t, read).await;
    assert_unchanged(&before, &snapshot(t).await, "an admin opening every page, a read query and an export");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_app_with_its_own_users_table_is_left_as_it_was() {
    let t = TestDb::new(Kind::Postgres).await;
    apps::postgres_app(&t).await;
    untouched(&t, "SELECT count(*) FROM users").await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prisma_app_is_left_as_it_was() {
    let t = TestDb::new(Kind::Postgres).await;
    apps::prisma_app(&t).await;
    untouched(&t, r#"SELECT "email" FROM "User" ORDER BY 1 LIMIT 5"#).await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alembic_project_is_left_at_its_own_revision() {
    let t = TestDb::new(Kind::Postgres).await;
    let app = apps::alembic_app(&t).await;
    untouched(&t, "SELECT count(*) FROM users").await;
    let current = app.run(&["current"]);
    let out = String::from_utf8_lossy(&current.stdout);
    assert!(out.contains(app.head()), "real Alembic still finds its own head: {out}");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_wal_app_managed_by_golang_migrate_is_left_as_it_was() {
    let t = TestDb::new(Kind::Sqlite).await;
    apps::sqlite_migrate_app(&t).await;
    untouched(&t, "SELECT count(*) FROM accounts").await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mariadb_app_is_left_as_it_was() {
    let t = TestDb::new(Kind::MySql).await;
    apps::mariadb_app(&t).await;
    untouched(&t, "SELECT count(*) FROM customers").await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_commands_leave_a_sqlite_app_in_its_own_journal_mode() {
    let t = TestDb::new(Kind::Sqlite).await;
    let db = t.connect().await;
    common::exec(&db, "PRAGMA journal_mode = DELETE").await;
    common::exec(&db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)").await;
    db.close().await.ok();
    let before = snapshot(&t).await;
    for args in [&["migrate", "status"][..], &["migrate", "current"], &["verify"]] {
        let out = strata_cmd(&t.url, args).output().expect("run strata");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_unchanged(&before, &snapshot(&t).await, &format!("strata {}", args.join(" ")));
    }
    walk(&t, "SELECT count(*) FROM notes").await;
    assert_unchanged(&before, &snapshot(&t).await, "the pages, a read query and an export");
    t.drop().await;
}
