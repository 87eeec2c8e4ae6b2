//! The dashboard pages through the router on every backend: what each role sees and may do, hostile URLs, real fixtures.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::web::{Browser, app_state_with};
use common::*;
use sea_orm::ConnectionTrait;
use strata::home::accounts::Role;

each_backend! {
    every_page_opens_for_a_viewer => every_page_opens;
    role_checks_guard_every_admin_action => role_checks;
    hostile_identifiers_in_urls_are_harmless => hostile_identifiers;
    a_table_with_a_strange_name_has_its_own_page => strange_table_name;
    the_tables_page_sorts_searches_and_pages => tables_sort_and_page;
    a_duplicate_index_is_found_with_its_drop_statement => duplicate_index;
    an_admin_stops_a_sleeping_query_from_the_activity_page => stop_sleeping_query;
}

/// A migrated database and a browser on it.
async fn migrated(kind: Kind) -> (TestDb, Browser) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let browser = Browser::new(&t.url).await;
    (t, browser)
}

#[track_caller]
fn assert_page(got: &(StatusCode, axum::http::HeaderMap, String), status: StatusCode, needles: &[&str]) {
    let (s, _, body) = got;
    assert_eq!(*s, status, "{body}");
    for n in needles {
        assert!(body.contains(n), "expected {n:?} in:\n{body}");
    }
}

async fn every_page_opens(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Viewer).await;
    let schema = t.schema().to_string();
    assert_page(&b.get("/").await, StatusCode::OK, &["<h1>Fleet</h1>", r#"<a href="/db/app">app</a>"#, HEAD.as_str()]);
    assert_page(&b.get("/db/app").await, StatusCode::OK, &["<h1>Overview</h1>", "Database size", HEAD.as_str()]);
    assert_page(&b.get("/db/app/tables").await, StatusCode::OK, &[">users<", ">posts<", "alembic_version"]);
    let users = format!("/db/app/tables/{schema}/users");
    assert_page(&b.get(&users).await, StatusCode::OK, &["username", "idx_users_username", "posts"]);
    let posts = format!("/db/app/tables/{schema}/posts");
    assert_page(&b.get(&posts).await, StatusCode::OK, &["user_id", "CASCADE"]);
    assert_page(&b.get("/db/app/indexes").await, StatusCode::OK, &["idx_posts_user_id"]);
    let migrations = b.get("/db/app/migrations").await;
    assert_page(&migrations, StatusCode::OK, &["create_users", "create_posts", "badge-applied"]);
    assert!(
        !migrations.2.contains("create_audit_log"),
        "the home's migrations are not the project's:\n{}",
        migrations.2
    );
    assert_page(&b.get("/history").await, StatusCode::OK, &["<h1>Query history</h1>", "0 runs of yours"]);
    let activity = b.get("/db/app/activity").await;
    match kind {
        Kind::Sqlite => assert_page(&activity, StatusCode::OK, &["no server sessions"]),
        _ => assert_page(&activity, StatusCode::OK, &["Sessions"]),
    }
    let bloat = b.get("/db/app/bloat").await;
    match kind {
        Kind::Postgres => assert_page(&bloat, StatusCode::OK, &["<h1>Bloat"]),
        _ => assert_page(&bloat, StatusCode::NOT_IMPLEMENTED, &["PostgreSQL"]),
    }
    // The navigation offers only what the backend has.
    let (_, _, overview) = b.get("/db/app").await;
    assert_eq!(overview.contains(r#"href="/db/app/bloat""#), kind == Kind::Postgres, "{overview}");
    t.drop().await;
}

async fn role_checks(kind: Kind) {
    let (t, mut viewer) = migrated(kind).await;
    viewer.login_as(Role::Viewer).await;
    for page in ["/admin/users", "/admin/audit", "/db/app/activity/1/terminate"] {
        assert_eq!(viewer.get(page).await.0, StatusCode::FORBIDDEN, "viewer GET {page}");
    }
    assert_eq!(viewer.post_form("/db/app/activity/1/terminate", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(viewer.post_form("/db/app/activity/1/cancel", &[]).await.0, StatusCode::FORBIDDEN);

    let mut editor = viewer.another();
    editor.login_as(Role::Editor).await;
    assert_eq!(editor.post_form("/db/app/activity/1/terminate", &[]).await.0, StatusCode::FORBIDDEN);
    let (_, _, page) = editor.get("/").await;
    assert!(!page.contains(r#"href="/admin/users""#), "no admin links for an editor:\n{page}");

    let mut admin = viewer.another();
    admin.login_as(Role::Admin).await;
    let (status, _, body) = admin.post_form_without_csrf("/db/app/activity/1/terminate", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a POST without the CSRF token is refused: {body}");
    assert!(body.contains("CSRF"), "{body}");
    assert_eq!(admin.get("/db/app/activity/1/explode").await.0, StatusCode::NOT_FOUND);
    assert_eq!(admin.get("/db/app/activity/not-a-pid/cancel").await.0, StatusCode::BAD_REQUEST);
    t.drop().await;
}

async fn hostile_identifiers(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Viewer).await;
    let schema = urlencode(t.schema());
    for name in
        ["'; DROP TABLE users; --", "users\"; DROP TABLE posts; --", "users`; DROP TABLE posts; --", "ü😀", "%00"]
    {
        let path = format!("/db/app/tables/{schema}/{}", urlencode(name));
        let (status, _, body) = b.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(!body.contains("syntax"), "no SQL error leaks: {body}");
    }
    let (status, _, _) = b.get("/db/app/tables/x'%20OR%20'1'='1/users").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for query in [
        "/db/app/tables?q=%27%3B%20DROP%20TABLE%20users%3B%20--",
        "/db/app/tables?q=%25&sort=total_size",
        "/db/app/tables?q=_",
    ] {
        assert_eq!(b.get(query).await.0, StatusCode::OK, "{query}");
    }
    let db = t.connect().await;
    assert!(has_table(&db, "users").await && has_table(&db, "posts").await, "the seed tables survived");
    t.drop().await;
}

async fn strange_table_name(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let name = "we'ird \"näme\" ü";
    let name = if kind == Kind::MySql { name.replace('"', "") } else { name.to_string() };
    let db = t.connect().await;
    exec(&db, &format!("CREATE TABLE {} (id INTEGER PRIMARY KEY, note VARCHAR(40))", t.quote(&name))).await;
    exec(&db, &format!("INSERT INTO {} (id, note) VALUES (1, 'first <b>row</b>'), (2, NULL)", t.quote(&name))).await;
    b.login_as(Role::Viewer).await;
    let path = format!("/db/app/tables/{}/{}", urlencode(t.schema()), urlencode(&name));
    let (status, _, body) = b.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("first &#60;b&#62;row"), "row values are shown, escaped:\n{body}");
    assert!(!body.contains("<b>row</b>"), "never as markup:\n{body}");
    assert!(body.contains("note"), "{body}");
    let (_, _, list) = b.get(&format!("/db/app/tables?q={}", urlencode("näme"))).await;
    assert!(list.contains(&urlencode(&name)), "search finds it and links to it:\n{list}");
    t.drop().await;
}

async fn tables_sort_and_page(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let db = t.connect().await;
    for i in 0..60 {
        exec(&db, &format!("CREATE TABLE extra_{i:02} (id INTEGER PRIMARY KEY)")).await;
    }
    b.login_as(Role::Viewer).await;
    let (_, _, first) = b.get("/db/app/tables").await;
    assert!(first.contains("extra_00") && !first.contains("extra_59"), "50 per page:\n{first}");
    assert!(first.contains("next →"), "{first}");
    let (_, _, second) = b.get("/db/app/tables?sort=name&dir=asc&page=2").await;
    assert!(second.contains(">users<") && !second.contains(">extra_00<"), "{second}");
    let (_, _, desc) = b.get("/db/app/tables?sort=name&dir=desc").await;
    let (users, extra) = (desc.find(">users<").expect("users listed"), desc.find(">extra_59<").expect("extra_59"));
    assert!(users < extra, "descending by name");
    for sort in [
        "rows",
        "table_size",
        "index_size",
        "toast_size",
        "total_size",
        "dead_rows",
        "last_vacuum",
        "last_analyze",
        "growth",
    ] {
        assert_eq!(b.get(&format!("/db/app/tables?sort={sort}&dir=desc")).await.0, StatusCode::OK, "sort={sort}");
    }
    let (_, _, found) = b.get("/db/app/tables?q=EXTRA_5").await;
    assert!(found.contains(">extra_55<") && !found.contains(">extra_44<"), "case-insensitive search:\n{found}");
    assert_eq!(b.get("/db/app/tables?sort=bogus").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(b.get("/db/app/tables?dir=sideways").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(b.get("/db/app/tables?page=-1").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(b.get("/db/app/tables?page=999").await.0, StatusCode::OK);
    t.drop().await;
}

async fn duplicate_index(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let db = t.connect().await;
    exec(&db, "CREATE INDEX idx_posts_user_id_again ON posts (user_id)").await;
    exec(&db, "CREATE INDEX idx_posts_user_title ON posts (user_id, title)").await;
    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get("/db/app/indexes?show=duplicate").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("idx_posts_user_id_again"), "the exact duplicate is listed:\n{page}");
    assert!(page.contains("DROP INDEX"), "with the statement to drop it:\n{page}");
    // (idx_users_email is a real twin: of the unique index on users.email.)
    assert!(!page.contains(">idx_posts_is_published<"), "an index with no twin is not:\n{page}");
    assert_eq!(b.get("/db/app/indexes?show=everything").await.0, StatusCode::BAD_REQUEST);
    // Sorted, searched and paged by the server; links keep the filter and the search.
    let (status, _, page) = b.get("/db/app/indexes?show=duplicate&sort=name&dir=desc&q=POSTS_USER").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("idx_posts_user_id_again") && !page.contains(">idx_posts_is_published<"), "{page}");
    assert!(page.matches("q=POSTS_USER").count() >= 8, "4 filter tabs and 4 sort links keep the search:\n{page}");
    assert!(page.matches("show=duplicate").count() >= 5, "the sort links keep the filter:\n{page}");
    let (_, _, none) = b.get("/db/app/indexes?q=no_such_index").await;
    assert!(none.contains("No indexes match"), "{none}");
    assert_eq!(b.get("/db/app/indexes?dir=sideways").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(b.get("/db/app/indexes?sort=colour").await.0, StatusCode::BAD_REQUEST);
    t.drop().await;
}

/// The statement that sleeps on this backend, and how its text shows up in the activity list.
fn sleep_sql(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "SELECT pg_sleep(60) /* strata-test-sleeper */",
        Kind::MySql => "SELECT SLEEP(60) /* strata-test-sleeper */",
        Kind::Sqlite => "SELECT 1",
    }
}

async fn stop_sleeping_query(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let state = app_state_with(&t.url, |s| s.long_query_threshold = Duration::from_millis(200)).await;
    let mut admin = Browser::with_state(state);
    admin.login_as(Role::Admin).await;
    if kind == Kind::Sqlite {
        let (status, _, body) = admin.post_form("/db/app/activity/1/terminate", &[]).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{body}");
        assert!(body.contains("SQLite has no server sessions"), "{body}");
        return;
    }
    let sleeper = t.connect_one().await;
    let sleeping = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let result = sleeper.execute_unprepared(sleep_sql(kind)).await;
        (result.map(|_| ()).map_err(|e| e.to_string()), started.elapsed())
    });
    // Wait until the page lists it as long-running, then read its id off the page.
    let mut pid = None;
    for _ in 0..100 {
        let (_, _, page) = admin.get("/db/app/activity").await;
        if let Some(found) = long_running_pid(&page) {
            pid = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = pid.expect("the sleeping query appears among the long-running ones");
    let confirm = admin.get(&format!("/db/app/activity/{pid}/terminate")).await;
    assert_page(&confirm, StatusCode::OK, &["strata-test-sleeper", "Terminate"]);
    let (status, headers, _) = admin.post_form(&format!("/db/app/activity/{pid}/terminate"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, after) = admin.follow(&headers).await;
    assert!(after.contains(&format!("Terminated session {pid}")), "{after}");
    let (result, took) = tokio::time::timeout(Duration::from_secs(30), sleeping).await.expect("ends").unwrap();
    assert!(result.is_err(), "the sleeping statement was interrupted");
    assert!(took < Duration::from_secs(50), "it did not sleep its full minute");
    let mut gone = false;
    for _ in 0..50 {
        let (_, _, page) = admin.get("/db/app/activity").await;
        if !page.contains("strata-test-sleeper") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the terminated session left the activity page");
    let home = t.connect_home().await;
    let sql = "SELECT COUNT(*) FROM audit_log WHERE action = 'session.terminate' AND database_name = 'app'";
    assert_eq!(count(&home, sql).await, 1, "the terminate is in the audit log, with the database it concerns");
    t.drop().await;
}

/// The id in the first `data-long-pid="…"` of the activity page whose query is the test's sleeper.
fn long_running_pid(page: &str) -> Option<i64> {
    page.split("data-long-pid=\"")
        .skip(1)
        .find(|chunk| chunk.split("</li>").next().is_some_and(|li| li.contains("strata-test-sleeper")))
        .and_then(|chunk| chunk.split('"').next())
        .and_then(|pid| pid.parse().ok())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// A catalog read that cannot finish in time (the table is locked) renders the page with a note instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn a_catalog_read_that_times_out_renders_a_note() {
    use sea_orm::TransactionTrait;
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let state = app_state_with(&t.url, |s| s.catalog_timeout = Duration::from_millis(500)).await;
    let mut b = Browser::with_state(state);
    b.login_as(Role::Viewer).await;
    let locker = t.connect_one().await;
    let tx = locker.begin().await.unwrap();
    tx.execute_unprepared("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let (status, _, page) = b.get("/db/app/tables/public/posts").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("did not answer this catalog read within 0.5 s"), "{page}");
    tx.rollback().await.unwrap();
    let (status, _, page) = b.get("/db/app/tables/public/posts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("did not answer"), "once the lock is gone the page is whole:\n{page}");
    t.drop().await;
}

/// When a watched database goes away under a running server, its pages answer 503 with a plain sentence and
/// retry while the fleet page and the pages of Strata's own go on; when the home database goes too, every page does.
#[tokio::test(flavor = "multi_thread")]
async fn a_vanished_database_gives_a_503_page_that_retries() {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let mut b = Browser::new(&t.url).await;
    b.login_as(Role::Viewer).await;
    let name = t.name.clone();
    let home = t.connect_home().await;
    // DROP DATABASE ... WITH (FORCE): every connection of the watched database's pool is cut.
    exec(&home, &format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await;
    home.close().await.ok();
    let (status, headers, body) = b.get("/db/app/tables").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("unreachable") && body.contains(r#"http-equiv="refresh""#), "retries by itself: {body}");
    assert!(headers.get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("text/html")));
    // From then on the database is known to be down: its pages answer at once, naming it and since when (the
    // cause is for the signed-in, like the fleet page's card).
    let (status, _, body) = b.get("/db/app/tables").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("the database app is unreachable since") && body.contains(r#"http-equiv="refresh""#));
    for page in ["/", "/history"] {
        let (status, _, body) = b.get(page).await;
        assert_eq!(status, StatusCode::OK, "{page} does not need the watched database: {body}");
    }
    let mut stranger = b.another();
    t.drop().await; // the home database too
    // The session this instance kept for session_cache would answer /login from memory (a redirect to /).
    tokio::time::sleep(b.state.config.settings.session_cache).await;
    for page in ["/", "/login"] {
        let (status, headers, body) = b.get(page).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}: {body}");
        assert!(body.contains("The database is unreachable"), "{body}");
        assert!(body.contains(r#"http-equiv="refresh""#), "the page retries by itself: {body}");
        assert!(!body.contains(&name) && !body.contains("postgres://"), "no internals: {body}");
        assert!(headers.get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("text/html")));
    }
    // Someone who has not signed in learns nothing of the database behind the outage either.
    for page in ["/db/app/tables", "/api/v1/databases/app/tables"] {
        let (status, _, body) = stranger.get(page).await;
        assert!(!body.contains(&name) && !body.contains("postgres://"), "{page} ({status}): no internals: {body}");
    }
}
