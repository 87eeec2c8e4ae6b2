//! Real headless Chromium for browser tests: `strata serve` as a child process, chromedriver, screenshots.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`, `chromium-driver`); `scripts/test.sh` installs them.
//! Screenshots land in `target/screenshots/` to be looked at.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

/// The admin password `serve` starts the server with (the admin is `admin`).
pub const PASSWORD: &str = "browser-test-password-1";

/// A child process killed when the test ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The first of `names` found on PATH or as an absolute path.
pub fn program(names: &[&str]) -> PathBuf {
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

pub async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not start listening on port {port}");
}

/// `strata serve` on `url` (watched as `app`, its home beside it) with a known admin password, plain-HTTP cookies.
pub async fn serve(url: &str) -> (Running, String) {
    serve_with(url, &[]).await
}

/// Like [`serve`], with more arguments (`--watch NAME=URL`, ...).
pub async fn serve_with(url: &str, extra: &[&str]) -> (Running, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("DATABASE_URL", url)
        .env("STRATA_HOME_URL", super::home_url_for(url))
        .env(format!("STRATA_WATCH_{}", super::APP.to_uppercase()), url)
        .env("STRATA_SECRET_KEY_FILE", super::key_file(url))
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

/// Headless Chromium driven through chromedriver; each command waits for a page that is loading.
pub async fn chromium() -> (Running, Client) {
    chromium_with("normal").await
}

/// Like [`chromium`] with a WebDriver page load strategy: `none` returns from every command at once, even while a
/// page loads (a run in flight), so the test waits for what it expects by itself.
pub async fn chromium_with(page_load_strategy: &str) -> (Running, Client) {
    chromium_args(page_load_strategy, &[]).await
}

/// Headless Chromium in dark mode (`prefers-color-scheme: dark`).
pub async fn chromium_dark() -> (Running, Client) {
    chromium_args("normal", &["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]).await
}

/// Like [`chromium_with`], with more command-line arguments for Chromium.
pub async fn chromium_args(page_load_strategy: &str, extra: &[&str]) -> (Running, Client) {
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
    let mut args: Vec<&str> = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ];
    args.extend(extra);
    let mut caps = serde_json::Map::new();
    caps.insert("pageLoadStrategy".into(), page_load_strategy.into());
    // The console (CSP violations among it) for tests that read it through chromedriver's log endpoint.
    caps.insert("goog:loggingPrefs".into(), serde_json::json!({"browser": "ALL"}));
    caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": browser, "args": args }));
    let client = ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    (running, client)
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

pub async fn snap(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// The text of the first `css` element, waiting for it to appear (a click may still be loading the page).
pub async fn text_of(c: &Client, css: &str) -> String {
    let found = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await;
    found.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

/// Clicks `css` and waits until the browser has loaded the page at `path`.
pub async fn click_to(c: &Client, css: &str, path: &str) {
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

/// Polls the script `js` (a function body that returns a value) until it returns something truthy, for at most
/// 20 seconds; returns that value.
pub async fn until(c: &Client, what: &str, js: &str) -> serde_json::Value {
    for _ in 0..400 {
        // A page being replaced may refuse scripts for a moment: that counts as "not yet".
        if let Ok(v) = c.execute(js, vec![]).await
            && !matches!(&v, serde_json::Value::Null | serde_json::Value::Bool(false))
            && v != ""
            && v != 0
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting: {what}");
}

/// Signs in as `admin` through the login form and waits for the fleet page.
pub async fn sign_in(c: &Client, base: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    let username = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("username")).await;
    username.unwrap().send_keys("admin").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    click_to(c, "button[type=submit]", "/").await;
}
