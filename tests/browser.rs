//! A person in real headless Chromium: sign in, open every page, terminate a sleeping query and see it go.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`, `chromium-driver`); `scripts/test.sh` installs them.
//! Screenshots of every page land in `target/screenshots/` to be looked at.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use sea_orm::ConnectionTrait;

const PASSWORD: &str = "browser-test-password-1";

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The first of `names` found on PATH or as an absolute path.
fn program(names: &[&str]) -> PathBuf {
    for name in names {
        let candidate = PathBuf::from(name);
        if candidate.is_absolute() && candidate.exists() {
            return candidate;
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                if dir.join(name).is_file() {
                    return dir.join(name);
                }
            }
        }
    }
    panic!("none of {names:?} is installed: run `bash scripts/test.sh` (it installs chromium and chromium-driver)")
}

async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not start listening on port {port}");
}

/// `strata serve` on `url` with a known admin password, plain-HTTP cookies.
async fn serve(url: &str) -> (Running, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .env("STRATA_ADMIN_PASSWORD", PASSWORD)
        .env("STRATA_COOKIE_SECURE", "false")
        .env("STRATA_LONG_QUERY_THRESHOLD", "1s")
        .env_remove("STRATA_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start strata serve");
    let running = Running(child);
    wait_for_port(port, "strata serve").await;
    (running, format!("http://127.0.0.1:{port}"))
}

/// Headless Chromium driven through chromedriver.
async fn chromium() -> (Running, Client) {
    let driver = program(&["chromedriver", "/usr/bin/chromedriver"]);
    let browser = program(&["chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome"]);
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let running = Running(child);
    wait_for_port(port, "chromedriver").await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": browser,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-dev-shm-usage", "--window-size=1280,900"],
        }),
    );
    let client = ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    (running, client)
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn snap(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// The text of the first `css` element, waiting for it to appear (a click may still be loading the page).
async fn text_of(c: &Client, css: &str) -> String {
    let found = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await;
    found.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

/// Clicks `css` and waits until the browser has loaded the page at `path`.
async fn click_to(c: &Client, css: &str, path: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    for _ in 0..200 {
        let at = c.current_url().await.unwrap();
        let ready = c.execute("return document.readyState", vec![]).await.unwrap();
        if at.path() == path && ready == "complete" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} did not lead to {path}");
}

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
    assert_eq!(text_of(&c, "h1").await, "Overview");
    snap(&c, "01-overview").await;

    // Every page the navigation offers opens, by clicking its link.
    let links: Vec<String> = {
        let mut out = Vec::new();
        for a in c.find_all(Locator::Css("nav.nav a")).await.unwrap() {
            out.push(a.attr("href").await.unwrap().expect("a link"));
        }
        out
    };
    for want in
        ["/tables", "/indexes", "/activity", "/bloat", "/migrations", "/history", "/admin/users", "/admin/audit"]
    {
        assert!(links.iter().any(|l| l == want), "navigation has {want}: {links:?}");
    }
    for (n, href) in links.iter().enumerate() {
        click_to(&c, &format!("nav.nav a[href='{href}']"), href).await;
        let html = c.source().await.unwrap();
        assert!(!html.contains("Something went wrong"), "{href}:\n{html}");
        assert!(c.find(Locator::Css("main h1")).await.is_ok(), "{href} has a heading");
        snap(
            &c,
            &format!(
                "{:02}-{}",
                n + 2,
                if href == "/" { "overview-again".to_string() } else { href.trim_matches('/').replace('/', "-") }
            ),
        )
        .await;
    }

    // Tables → posts: the detail page with columns, indexes and rows.
    c.goto(&format!("{base}/tables")).await.unwrap();
    click_to(&c, "a[href='/tables/public/posts']", "/tables/public/posts").await;
    let detail = c.source().await.unwrap();
    assert!(detail.contains("user_id") && detail.contains("idx_posts_user_id_twin"), "{detail}");
    snap(&c, "10-table-posts").await;
    c.goto(&format!("{base}/indexes?show=duplicate")).await.unwrap();
    assert!(c.source().await.unwrap().contains("idx_posts_user_id_twin"));
    snap(&c, "11-indexes-duplicate").await;

    // A sleeping query: find it on the activity page, terminate it, see it gone.
    let sleeper = t.connect_one().await;
    let sleeping =
        tokio::spawn(async move { sleeper.execute_unprepared("SELECT pg_sleep(120) /* browser-sleeper */").await });
    let mut row = None;
    for _ in 0..60 {
        c.goto(&format!("{base}/activity")).await.unwrap();
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
    click_to(&c, &format!("tr[data-pid='{pid}'] a.btn-danger"), &format!("/activity/{pid}/terminate")).await;
    assert!(c.source().await.unwrap().contains("browser-sleeper"), "the confirmation shows the query");
    snap(&c, "13-confirm-terminate").await;
    c.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();
    let flash = text_of(&c, ".flash").await;
    assert!(flash.contains(&format!("Terminated session {pid}")), "{flash}");
    let ended = tokio::time::timeout(Duration::from_secs(30), sleeping).await.expect("the query ended").unwrap();
    assert!(ended.is_err(), "the sleeping query was terminated");
    let mut gone = false;
    for _ in 0..40 {
        c.goto(&format!("{base}/activity")).await.unwrap();
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
    c.goto(&format!("{base}/tables")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().starts_with("/login"));
    c.close().await.ok();
    t.drop().await;
}
