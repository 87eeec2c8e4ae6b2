//! A person in real headless Chromium: sign in, open every page, terminate a sleeping query and see it go.
//!
//! The Chromium and server helpers are in `common::chrome`; screenshots of every page land in `target/screenshots/`.

mod common;

use std::time::Duration;

use common::chrome::*;
use common::*;
use fantoccini::Locator;
use sea_orm::ConnectionTrait;

#[tokio::test(flavor = "multi_thread")]
async fn a_dba_signs_in_opens_every_page_and_terminates_a_sleeping_query() {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let db = t.connect().await;
    exec(&db, "CREATE INDEX idx_posts_user_id_twin ON posts (user_id)").await;
    let (_server, base) = serve(&t.url).await;
    let (_driver, c) = chromium().await;

    c.goto(&format!("{base}/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().starts_with("/login"), "signed-out visitors land on the login form");
    c.find(Locator::Id("username")).await.unwrap().send_keys("admin").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys("not the password").await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    text_of(&c, ".flash, .note, [role=alert]").await;
    let refused = c.source().await.unwrap();
    assert!(refused.contains("Wrong username or password."), "{refused}");
    snap(&c, "00-login-refused").await;
    c.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    click_to(&c, "button[type=submit]", "/").await;
    assert_eq!(text_of(&c, "h1").await, "Fleet");
    snap(&c, "01-fleet").await;
    click_to(&c, "#db-app h2 a[href='/db/app']", "/db/app").await;
    assert_eq!(text_of(&c, "h1").await, "Overview");
    snap(&c, "01-overview").await;

    // Every page the navigation offers opens, by clicking its link.
    let links: Vec<String> = {
        let mut out = Vec::new();
        for a in c.find_all(Locator::Css("nav.nav > a")).await.unwrap() {
            out.push(a.attr("href").await.unwrap().expect("a link"));
        }
        out
    };
    for want in [
        "/db/app/tables",
        "/db/app/indexes",
        "/db/app/activity",
        "/db/app/bloat",
        "/db/app/migrations",
        "/history",
        "/admin/users",
        "/admin/audit",
    ] {
        assert!(links.iter().any(|l| l == want), "navigation has {want}: {links:?}");
    }
    for (n, href) in links.iter().enumerate() {
        // From the database's overview each time: the fleet and account pages have no per-database links.
        c.goto(&format!("{base}/db/app")).await.unwrap();
        click_to(&c, &format!("nav.nav > a[href='{href}']"), href).await;
        let html = c.source().await.unwrap();
        assert!(!html.contains("Something went wrong"), "{href}:\n{html}");
        assert!(c.find(Locator::Css("main h1")).await.is_ok(), "{href} has a heading");
        snap(
            &c,
            &format!(
                "{:02}-{}",
                n + 2,
                if href == "/" { "fleet-again".to_string() } else { href.trim_matches('/').replace('/', "-") }
            ),
        )
        .await;
    }

    // Tables → posts: the detail page with columns, indexes and rows.
    c.goto(&format!("{base}/db/app/tables")).await.unwrap();
    click_to(&c, "a[href='/db/app/tables/public/posts']", "/db/app/tables/public/posts").await;
    let detail = c.source().await.unwrap();
    assert!(detail.contains("user_id") && detail.contains("idx_posts_user_id_twin"), "{detail}");
    snap(&c, "10-table-posts").await;
    c.goto(&format!("{base}/db/app/indexes?show=duplicate")).await.unwrap();
    assert!(c.source().await.unwrap().contains("idx_posts_user_id_twin"));
    snap(&c, "11-indexes-duplicate").await;

    // A sleeping query: find it on the activity page, terminate it, see it gone.
    let sleeper = t.connect_one().await;
    let sleeping =
        tokio::spawn(async move { sleeper.execute_unprepared("SELECT pg_sleep(120) /* browser-sleeper */").await });
    let mut row = None;
    for _ in 0..60 {
        c.goto(&format!("{base}/db/app/activity")).await.unwrap();
        for tr in c.find_all(Locator::Css("#sessions tbody tr")).await.unwrap() {
            if tr.text().await.unwrap().contains("browser-sleeper") {
                row = tr.attr("data-pid").await.unwrap();
            }
        }
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let pid = row.expect("the sleeping query shows on the activity page");
    snap(&c, "12-activity-sleeper").await;
    click_to(&c, &format!("tr[data-pid='{pid}'] a.btn-danger"), &format!("/db/app/activity/{pid}/terminate")).await;
    assert!(c.source().await.unwrap().contains("browser-sleeper"), "the confirmation shows the query");
    snap(&c, "13-confirm-terminate").await;
    c.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();
    let flash = text_of(&c, ".flash").await;
    assert!(flash.contains(&format!("Terminated session {pid}")), "{flash}");
    let ended = tokio::time::timeout(Duration::from_secs(30), sleeping).await.expect("the query ended").unwrap();
    assert!(ended.is_err(), "the sleeping query was terminated");
    let mut gone = false;
    for _ in 0..40 {
        c.goto(&format!("{base}/db/app/activity")).await.unwrap();
        if !c.source().await.unwrap().contains("browser-sleeper") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(gone, "the terminated session left the activity page");
    snap(&c, "14-activity-after").await;
    c.goto(&format!("{base}/admin/audit")).await.unwrap();
    assert!(c.source().await.unwrap().contains("session.terminate"), "the audit log shows the terminate");

    // Sign out: the pages need a sign-in again.
    click_to(&c, "form[action='/logout'] button", "/login").await;
    c.goto(&format!("{base}/db/app/tables")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().starts_with("/login"));
    c.close().await.ok();
    t.drop().await;
}
