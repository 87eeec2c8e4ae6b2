//! The slow readings: the overview's figures (database size, cache hit sums) and the bloat estimate, read in the
//! background, never inline on a page or a `/metrics` collection, shown with their age, and not refreshed once
//! nobody looks.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::web::{Browser, app_state_with, at, migrate_up, watched};
use common::*;
use strata::home::accounts::Role;

/// The fast part is read on every request (`stats_refresh = 0`); the slow figures once an hour.
async fn pages_and_metrics_never_read_slow_figures_inline(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let state = app_state_with(&t.url, |s| {
        s.stats_refresh = Duration::ZERO;
        s.slow_stats_refresh = Duration::from_secs(3600);
    })
    .await;
    let mut b = Browser::with_state(state);
    b.login_as(Role::Viewer).await;
    let slow = watched(&b.state).slow.clone();
    assert!(slow.reads() <= 1, "the fleet page after sign-in may have started the refresher, nothing more");

    assert_eq!(b.get(&at("")).await.0, StatusCode::OK);
    eventually("the first background reading", || async { (slow.reads() == 1).then_some(()) }).await;
    for _ in 0..3 {
        let (status, _, page) = b.get(&at("")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.contains("reading…"), "the first reading is there: {page}");
        if kind == Kind::Sqlite {
            // A file's size is read with the fast part: nothing to date.
            assert!(!page.contains("size read"), "{page}");
        } else {
            assert!(page.contains("size read ") && page.contains(" ago"), "the size's age is shown: {page}");
        }
        if kind == Kind::Postgres {
            assert!(page.contains(r#"id="ratios-read">read "#), "the cache hit ratios' age is shown: {page}");
        }
    }
    b.state.metrics.collect_now().await;
    let scrape = b.state.metrics.render();
    assert!(scrape.contains("strata_db_slow_readings_age_seconds{database=\"app\"}"), "{scrape}");
    assert_eq!(slow.reads(), 1, "four overviews and a metrics collection later, still the one background reading");

    if kind != Kind::Sqlite {
        // The database grows by megabytes: the page and /metrics go on showing the size the background read, as
        // they would not if either read it itself.
        let w = watched(&b.state);
        let read = slow.get(&w.introspector, Duration::ZERO).await.unwrap().value.database_size_bytes.unwrap();
        grow(&t, kind).await;
        let now = w.introspector.slow_readings().await.unwrap().database_size_bytes.unwrap();
        assert!(now > read + 1_000_000, "the database grew: {read} -> {now}");
        let (_, _, page) = b.get(&at("")).await;
        assert!(page.contains(&format!("title=\"{} bytes\"", grouped(read))), "the background size {read}: {page}");
        b.state.metrics.collect_now().await;
        let scrape = b.state.metrics.render();
        assert!(scrape.contains(&format!("strata_db_size_bytes{{database=\"app\"}} {read}")), "{read}: {scrape}");
        assert_eq!(slow.reads(), 1);
    }
    t.drop().await;
}

/// Two megabytes more in the test database (MariaDB's sizes follow once the table is analyzed).
async fn grow(t: &TestDb, kind: Kind) {
    let db = t.connect().await;
    exec(&db, "CREATE TABLE ballast (id INTEGER PRIMARY KEY, filler VARCHAR(1000) NOT NULL)").await;
    let row = format!("'{}'", "x".repeat(1000));
    for chunk in 0..20 {
        let values: Vec<String> = (0..100).map(|i| format!("({}, {row})", chunk * 100 + i)).collect();
        exec(&db, &format!("INSERT INTO ballast (id, filler) VALUES {}", values.join(", "))).await;
    }
    if kind == Kind::MySql {
        exec(&db, "ANALYZE TABLE ballast").await;
    }
    db.close().await.ok();
}

/// 1234567 → "1,234,567", as the page writes exact sizes.
fn grouped(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The API answers with the same background figures and says when they were read.
async fn the_api_says_when_the_slow_figures_were_read(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let mut b = Browser::with_state(app_state_with(&t.url, |s| s.stats_refresh = Duration::ZERO).await);
    let (_, key) = common::api::key_for(&b.state, Role::Viewer, &[strata::home::api_keys::Scope::ReadCatalog]).await;
    let (status, _, json) = common::api::get(&mut b, "/api/v1/databases/app/overview", &key).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(json["slow_read_at"].is_string(), "{json}");
    if kind != Kind::Sqlite {
        assert!(json["server"]["database_size_bytes"].as_i64().unwrap() > 0, "{json}");
    }
    t.drop().await;
}

each_backend! {
    pages_and_metrics_show_the_background_reading_and_never_run_it_inline => pages_and_metrics_never_read_slow_figures_inline;
    the_api_gives_the_background_figures_and_their_time => the_api_says_when_the_slow_figures_were_read;
}

/// The refresher runs while someone looks and stops after two intervals without a request, so the watched pool's
/// connections can close; the next view starts it again and still shows the last reading, with its age.
#[tokio::test(flavor = "multi_thread")]
async fn the_refresher_stops_when_nobody_looks_and_starts_with_the_next_view() {
    let t = TestDb::new(Kind::Postgres).await;
    migrate_up(&t).await;
    let mut b = Browser::with_state(app_state_with(&t.url, |s| s.slow_stats_refresh = Duration::from_millis(50)).await);
    b.login_as(Role::Viewer).await;
    let slow = watched(&b.state).slow.clone();
    // The fleet page shown after sign-in uses the same reading: wait until that refresher has stopped too.
    eventually("the sign-in's refresher to stop", || async { (!slow.refreshing()).then_some(()) }).await;
    assert_eq!(b.get(&at("")).await.0, StatusCode::OK);
    assert!(slow.refreshing(), "the first view starts the refresher");
    eventually("the refresher to stop", || async { (!slow.refreshing()).then_some(()) }).await;
    let stopped_at = slow.reads();
    assert!(stopped_at >= 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slow.reads(), stopped_at, "no reading while nobody looks");

    let (status, _, page) = b.get(&at("")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("size read "), "the last reading is shown with its age: {page}");
    assert!(slow.refreshing(), "the next view starts it again");
    eventually("a new reading", || async { (slow.reads() > stopped_at).then_some(()) }).await;
    t.drop().await;
}

/// The bloat page shows the background estimate however often it is viewed and says how old it is; `?fresh=1`
/// estimates anew, and the pages after it show that estimate.
#[tokio::test(flavor = "multi_thread")]
async fn the_bloat_page_shows_the_background_estimate_and_estimates_anew_on_request() {
    let t = TestDb::new(Kind::Postgres).await;
    migrate_up(&t).await;
    let mut b = Browser::with_state(app_state_with(&t.url, |s| s.slow_stats_refresh = Duration::from_secs(3600)).await);
    b.login_as(Role::Viewer).await;
    let bloat = watched(&b.state).bloat.clone();
    for _ in 0..3 {
        let (status, _, page) = b.get(&at("/bloat")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("estimated ") && page.contains(" ago;") && page.contains("Estimate now"), "{page}");
        assert!(!page.contains("ballast"), "{page}");
    }
    assert_eq!(bloat.reads(), 1, "three views, one estimate");

    grow(&t, Kind::Postgres).await;
    let (_, _, page) = b.get(&at("/bloat")).await;
    assert!(!page.contains("ballast"), "the background estimate is from before the table: {page}");
    let (status, _, page) = b.get(&at("/bloat?fresh=1")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("ballast"), "a new estimate lists the new 2 MB table: {page}");
    let (_, _, page) = b.get(&at("/bloat")).await;
    assert!(page.contains("ballast"), "and the next view shows it: {page}");
    assert_eq!(bloat.reads(), 2);
    let (status, _, page) = b.get(&at("/bloat?fresh=yes")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("fresh=1"), "{page}");
    t.drop().await;
}
