//! The Statements page in real headless Chromium, against a private PostgreSQL cluster with pg_stat_statements
//! preloaded and `strata serve` sampling every second: the live list finds the test's statement, its page shows
//! the calls and mean time charts, and the past range lists it from the samples. Screenshots go to
//! `target/screenshots/statements-*.png`.

mod common;

use std::time::Duration;

use common::chrome::*;
use common::cluster::PrivateCluster;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use sea_orm::Database;

const PROBE: &str = "SELECT count(*) AS strata_probe FROM counted WHERE id > 5";

/// Reloads `path` until the page's source contains `wanted` (at most 30 s); returns it.
async fn until_page_says(c: &Client, base: &str, path: &str, wanted: &str) -> String {
    for _ in 0..120 {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let html = c.source().await.unwrap();
        if html.contains(wanted) {
            return html;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{path} never said {wanted:?}:\n{}", c.source().await.unwrap());
}

/// Headless Chromium that prefers the dark colour scheme (as a browser on a dark desktop does).
async fn dark_chromium() -> (Running, Client) {
    let driver = program(&["chromedriver", "/usr/bin/chromedriver"]);
    let browser = program(&["chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome"]);
    let port = free_port();
    let child = std::process::Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let running = Running(child);
    wait_for_port(port, "chromedriver").await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": browser,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--force-dark-mode", "--blink-settings=preferredColorScheme=0"],
        }),
    );
    let client = ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    (running, client)
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_page_and_a_statements_charts_in_chromium() {
    let cluster = PrivateCluster::start_with("-c shared_preload_libraries=pg_stat_statements");
    let admin = Database::connect(cluster.url("postgres")).await.expect("connect to the private cluster");
    exec(&admin, "CREATE DATABASE app").await;
    exec(&admin, "CREATE DATABASE app_h").await;
    admin.close().await.ok();
    let url = cluster.url("app");
    let db = Database::connect(url.as_str()).await.unwrap();
    exec(&db, "CREATE EXTENSION pg_stat_statements").await;
    exec(&db, "CREATE TABLE counted (id BIGINT PRIMARY KEY)").await;
    let ini = cluster.dir().join("strata.ini");
    std::fs::write(&ini, "[strata]\nsample_interval = 1s\n").unwrap();
    let (_server, base) = serve_with(&url, &["--config", ini.to_str().unwrap()]).await;
    let (_driver, c) = chromium().await;
    sign_in(&c, &base).await;

    // Calls keep coming while the sampler samples every second.
    let load = {
        let url = url.clone();
        tokio::spawn(async move {
            let db = Database::connect(url.as_str()).await.unwrap();
            loop {
                exec(&db, PROBE).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    until_page_says(&c, &base, "/db/app/statements?q=strata_probe", "strata_probe").await;
    assert!(text_of(&c, "nav a.active").await.contains("Statements"));
    let row = text_of(&c, "table.statements tbody tr").await;
    assert!(row.contains("strata_probe"), "{row}");
    snap(&c, "statements-live").await;

    // The range view, from the samples (a few seconds of them).
    tokio::time::sleep(Duration::from_secs(4)).await;
    until_page_says(&c, &base, "/db/app/statements?range=1h&q=strata_probe", "strata_probe").await;
    assert!(text_of(&c, "#ranges").await.contains("from the statement samples"));
    snap(&c, "statements-range-1h").await;

    // The statement's page: its text and two charts with points.
    let link = c.find(Locator::Css("a.stmt-link")).await.unwrap().attr("href").await.unwrap().unwrap();
    let path = link.split('?').next().unwrap().to_string();
    click_to(&c, "a.stmt-link", &path).await;
    assert!(text_of(&c, "pre.stmt-text").await.contains("strata_probe"));
    let charts = c.find_all(Locator::Css("svg.chart")).await.unwrap();
    assert_eq!(charts.len(), 2);
    let points = c.find_all(Locator::Css("svg.chart circle")).await.unwrap();
    assert!(points.len() >= 2, "the charts have points: {}", points.len());
    snap(&c, "statements-show").await;

    // The same page in the dark theme: the charts' colours follow it.
    let (_dark_driver, d) = dark_chromium().await;
    sign_in(&d, &base).await;
    d.goto(&format!("{base}{link}")).await.unwrap();
    let dark = d.execute("return matchMedia('(prefers-color-scheme: dark)').matches", vec![]).await.unwrap();
    assert_eq!(dark, serde_json::Value::Bool(true), "the browser prefers dark");
    let background = d.execute("return getComputedStyle(document.body).backgroundColor", vec![]).await.unwrap();
    let light_background = c.execute("return getComputedStyle(document.body).backgroundColor", vec![]).await.unwrap();
    assert_ne!(background, light_background, "the dark theme applies");
    snap(&d, "statements-show-dark").await;
    d.close().await.ok();
    load.abort();
    db.close().await.ok();
    c.close().await.ok();
}
