//! The trend charts a DBA looks at in real headless Chromium, light and dark: a table's size and rows charts with a
//! migration marker, and the fleet page's 24 h size sparkline, from samples written into the home database of a
//! running `strata serve`. Screenshots land in `target/screenshots/trends-*.png`.

mod common;

use common::chrome::*;
use common::*;
use fantoccini::{Client, Locator};
use sea_orm::Database;
use strata::db::introspect::{SampleReadings, TableInfo};
use strata::home::samples;

/// The `<svg>` elements matching `css` on the current page, as the browser sees them: (count, first one's width).
async fn rendered(c: &Client, css: &str) -> (usize, f64) {
    let found = c.find_all(Locator::Css(css)).await.unwrap();
    let width = match found.first() {
        Some(e) => e.rectangle().await.unwrap().2,
        None => 0.0,
    };
    (found.len(), width)
}

#[tokio::test(flavor = "multi_thread")]
async fn table_charts_and_fleet_sparklines_in_light_and_dark() {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let (_server, base) = serve(&t.url).await;
    // A day of samples every ten minutes: posts grows from 1 MB to 3 MB and 10,000 to 30,000 rows.
    let home = Database::connect(home_url_for(&t.url)).await.unwrap();
    // The server samples `app` as it starts, then every 60 s. Its sample's rollups span the bucket the history's
    // newest sample's rollups reach too (a write refreshes up to the next raw sample): writing the history while
    // the server writes its first sample is two writers of one database's samples, which a lease rules out in
    // production. So the history goes in once that sample is there, a minute before the next.
    let waited = std::time::Instant::now();
    while count(&home, &format!("SELECT count(*) FROM samples WHERE database_name = '{APP}'")).await == 0 {
        assert!(waited.elapsed() < std::time::Duration::from_secs(30), "the server took no sample of {APP}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let now = chrono::Utc::now().timestamp();
    for k in 0..144i64 {
        let at = chrono::DateTime::from_timestamp(now - 86_400 + 600 * k, 0).unwrap();
        let wave = ((k as f64) / 10.0).sin() * 50_000.0;
        let posts = TableInfo {
            schema: "public".into(),
            name: "posts".into(),
            total_bytes: Some(1_000_000 + 14_000 * k + wave as i64),
            row_estimate: Some(10_000 + 140 * k),
            ..Default::default()
        };
        let readings =
            SampleReadings { database_size_bytes: Some(8_000_000 + 20_000 * k + wave as i64), ..Default::default() };
        samples::record(&home, APP, at, &readings, &[posts], &[]).await.unwrap();
    }
    for (mode, (_driver, c)) in [("light", chromium().await), ("dark", chromium_dark().await)] {
        sign_in(&c, &base).await;
        c.goto(&format!("{base}/db/{APP}/tables/public/posts")).await.unwrap();
        let (charts, width) = rendered(&c, "svg.chart").await;
        assert_eq!(charts, 2, "size and rows");
        assert!(width > 300.0, "the chart is drawn at a readable width: {width}");
        // The marker of the migrations `migrate up` applied a moment ago, with its revision as text.
        let mut markers = Vec::new();
        for m in c.find_all(Locator::Css("a.chart-marker text")).await.unwrap() {
            markers.push(m.text().await.unwrap());
        }
        assert!(markers.contains(&HEAD), "{markers:?}");
        c.find(Locator::Id("trends")).await.unwrap();
        snap(&c, &format!("trends-table-{mode}")).await;
        c.goto(&format!("{base}/")).await.unwrap();
        let (sparklines, width) = rendered(&c, "svg.sparkline").await;
        assert_eq!(sparklines, 1);
        assert_eq!(width, 120.0);
        snap(&c, &format!("trends-fleet-{mode}")).await;
        c.close().await.ok();
    }
    home.close().await.ok();
    t.drop().await;
}
