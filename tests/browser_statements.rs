//! The Statements page in real headless Chromium, against a private PostgreSQL cluster with pg_stat_statements
//! preloaded and `strata serve` sampling every second: the live list finds the test's statement, its page shows
//! the calls and mean time charts, and the past range lists it from the samples. Screenshots go to
//! `target/screenshots/statements-*.png`.

mod common;

use std::time::Duration;

use common::chrome::*;
use common::cluster::PrivateCluster;
use common::*;
use fantoccini::{Client, Locator};
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
    load.abort();
    db.close().await.ok();
    c.close().await.ok();
}
