//! Trends: the sampler's readings follow what the test does to the database (rows inserted, a table grown,
//! sessions opened, an index used), rates survive a stats reset and a server restart, the retention job averages
//! and deletes samples written for past times, exactly one of two samplers samples (and the other takes over when
//! it stops), and the samples API and the overview's charts show it all.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::api::{get, key_for};
use common::cluster::PrivateCluster;
use common::web::{Browser, app_state_for, app_state_with, at, migrate_up, watched};
use common::*;
use sea_orm::{Database, DatabaseConnection};
use strata::config::{DatabaseUrl, Overrides, SampleRetention};
use strata::db::introspect::{SampleReadings, TableInfo};
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;
use strata::home::samples::{self, FIVE_MINUTES, HOURLY, Metric, RAW};
use strata::watch::sampler::{self, Sampler};

const TIMEOUT: Duration = Duration::from_secs(10);

async fn series(home: &DatabaseConnection, metric: &str, from: i64, to: i64, resolution: i32) -> Vec<(i64, f64)> {
    let metric = Metric::parse(metric).unwrap_or_else(|| panic!("a metric: {metric}"));
    samples::series(home, common::APP, &metric, from, to, resolution).await.expect("the series")
}

fn last(points: &[(i64, f64)]) -> f64 {
    points.last().map(|p| p.1).unwrap_or(f64::NAN)
}

/// What a rate series adds up to over its points' intervals (`step` seconds each).
fn total(points: &[(i64, f64)], step: f64) -> f64 {
    points.iter().map(|(_, r)| r * step).sum()
}

/// `n` rows of about 100 bytes each, in one statement every backend takes.
fn insert_rows(n: usize) -> String {
    let rows: Vec<String> = (1..=n).map(|i| format!("({i}, '{}')", "x".repeat(90) + &format!("{i:08}"))).collect();
    format!("INSERT INTO grow (id, note) VALUES {}", rows.join(", "))
}

async fn sampler_follows_what_the_test_does(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    exec(&db, "CREATE TABLE grow (id INTEGER PRIMARY KEY, note VARCHAR(200))").await;
    exec(&db, "CREATE INDEX grow_note ON grow (note)").await;
    let state = app_state_with(&t.url, |_| {}).await;
    let w = watched(&state);
    let home = state.home.clone();
    let base = chrono::Utc::now().timestamp() - 3600;
    let time = |k: i64| chrono::DateTime::from_timestamp(base + 60 * k, 0).unwrap();
    sampler::sample(&home, &w, TIMEOUT, time(0)).await.expect("the first sample");

    // Rows inserted (on a connection of its own, closed so PostgreSQL reports its statistics), a table grown, the
    // index used, sessions opened.
    let writer = t.connect_one().await;
    exec(&writer, &insert_rows(3000)).await;
    let analyze = match kind {
        Kind::Postgres => "ANALYZE grow",
        Kind::MySql => "ANALYZE TABLE grow",
        Kind::Sqlite => "ANALYZE",
    };
    exec(&writer, analyze).await;
    if kind == Kind::Postgres {
        exec(&writer, "SET enable_seqscan = off").await;
        for _ in 0..5 {
            exec(&writer, "SELECT count(*) FROM grow WHERE note = 'nothing'").await;
        }
    }
    writer.close().await.ok();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(t.connect_one().await);
    }

    let schema = t.schema().to_string();
    let mut k = 0;
    let to = base + 60 * 1000;
    eventually("the sampler sees the rows inserted", || {
        k += 1;
        let (home, w, schema, at) = (home.clone(), w.clone(), schema.clone(), time(k));
        async move {
            sampler::sample(&home, &w, TIMEOUT, at).await.expect("a sample");
            let rows = series(&home, &format!("table_rows:{schema}.grow"), base - 1, to, RAW).await;
            let inserted = series(&home, "tuples_inserted_per_s", base - 1, to, RAW).await;
            let rows_seen = last(&rows) >= 2500.0;
            let inserts_seen = kind == Kind::Sqlite || total(&inserted, 60.0) >= 3000.0;
            (rows_seen && inserts_seen).then_some(())
        }
    })
    .await;

    let sizes = series(&home, &format!("table_size:{schema}.grow"), base - 1, to, RAW).await;
    assert!(sizes.len() >= 2, "{sizes:?}");
    assert!(last(&sizes) > sizes[0].1 + 100_000.0, "the table grew by 300 kB: {sizes:?}");
    let db_size = series(&home, "db_size", base - 1, to, RAW).await;
    assert!(last(&db_size) >= db_size[0].1, "{db_size:?}");
    if kind == Kind::Sqlite {
        let connections = series(&home, "connections", base - 1, to, RAW).await;
        assert!(connections.is_empty(), "no server sessions on SQLite: {connections:?}");
    } else {
        let connections = series(&home, "connections", base - 1, to, RAW).await;
        assert!(last(&connections) >= connections[0].1 + 3.0, "three sessions opened: {connections:?}");
        let commits = series(&home, "commits_per_s", base - 1, to, RAW).await;
        assert!(commits.iter().all(|(_, r)| *r >= 0.0) && total(&commits, 60.0) >= 1.0, "{commits:?}");
    }
    if kind == Kind::Postgres {
        let scans = series(&home, "index_scans:public.grow_note", base - 1, to, RAW).await;
        // Per day: 5 scans in one minute is 7,200 a day.
        assert!(scans.iter().any(|(_, r)| *r >= 5.0 * 1440.0), "the index was used 5 times: {scans:?}");
        let hits = series(&home, "cache_hit_ratio", base - 1, to, RAW).await;
        assert!(hits.iter().all(|(_, r)| (0.0..=1.0).contains(r)) && !hits.is_empty(), "{hits:?}");
    }
    for s in sessions {
        s.close().await.ok();
    }
    db.close().await.ok();
    t.drop().await;
}

/// The rows `samples` holds for the test database's counter `column` at `at`.
async fn stored(home: &DatabaseConnection, column: &str, at: i64) -> i64 {
    let sql = format!("SELECT {column} FROM samples WHERE database_name = 'app' AND resolution_s = 0 AND at_s = {at}");
    count(home, &sql).await
}

/// Reads samples until `enough` holds of the readings (statistics are reported a moment after a session ends),
/// then stores one taken at `at`.
async fn sample_when(
    home: &DatabaseConnection,
    w: &std::sync::Arc<strata::watch::Watched>,
    at: i64,
    enough: impl Fn(&SampleReadings) -> bool,
) {
    let read = || async {
        let r = w.introspector.sample_readings().await.ok()?;
        enough(&r).then_some(())
    };
    eventually("the statistics are reported", read).await;
    let at = chrono::DateTime::from_timestamp(at, 0).unwrap();
    sampler::sample(home, w, TIMEOUT, at).await.expect("a sample");
}

async fn commit(url: &str, n: usize) {
    let db = Database::connect(url).await.expect("connect to the private cluster");
    for i in 0..n {
        exec(&db, &format!("INSERT INTO counted (id) VALUES ({})", rand::random::<u32>() as usize + i)).await;
    }
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn rates_survive_a_stats_reset_and_a_server_restart() {
    let cluster = PrivateCluster::start();
    let admin = Database::connect(cluster.url("postgres")).await.expect("connect to the private cluster");
    exec(&admin, "CREATE DATABASE app").await;
    admin.close().await.ok();
    let url = cluster.url("app");
    let setup = Database::connect(url.as_str()).await.unwrap();
    exec(&setup, "CREATE TABLE counted (id BIGINT PRIMARY KEY)").await;
    setup.close().await.ok();
    let home_dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        database_url: Some(url.clone()),
        home_url: Some(format!("sqlite:///{}", home_dir.path().join("home.db").display())),
        watch: vec![format!("app={url}")],
        ..Default::default()
    };
    let mut config = strata::config::Config::load(&overrides, &|_| None).expect("config");
    config.settings.secret_key_file = Some(home_dir.path().join("strata.key"));
    let state = app_state_for(config, |_| {}).await;
    let (home, w) = (state.home.clone(), watched(&state));
    let base = chrono::Utc::now().timestamp() - 3600;

    let first = w.introspector.sample_readings().await.unwrap();
    let before = first.commits.unwrap();
    sample_when(&home, &w, base, |_| true).await;
    commit(&url, 20).await;
    sample_when(&home, &w, base + 60, |r| r.commits.unwrap_or(0) >= before + 20).await;
    let high = stored(&home, "commits", base + 60).await;

    // A stats reset: the counters start again from zero, with a new reset time.
    let db = Database::connect(url.as_str()).await.unwrap();
    exec(&db, "SELECT pg_stat_reset()").await;
    db.close().await.ok();
    commit(&url, 5).await;
    sample_when(&home, &w, base + 120, |r| r.stats_reset_at != first.stats_reset_at && r.commits.unwrap_or(0) >= 5)
        .await;
    let after_reset = stored(&home, "commits", base + 120).await;
    assert!(after_reset < high, "the counter went down at the reset: {high} -> {after_reset}");

    // A crash and restart: statistics are lost and the server's start time changes.
    cluster.stop();
    cluster.resume();
    let restarted = eventually("the private cluster answers again", || async {
        w.introspector.sample_readings().await.ok().filter(|r| r.started_at != first.started_at)
    })
    .await;
    commit(&url, 5).await;
    let _ = restarted;
    sample_when(&home, &w, base + 180, |r| r.commits.unwrap_or(0) >= 5).await;
    let after_restart = stored(&home, "commits", base + 180).await;

    let rates = series(&home, "commits_per_s", base - 1, base + 200, RAW).await;
    assert_eq!(rates.len(), 3, "{rates:?}");
    assert!(rates.iter().all(|(_, r)| *r >= 0.0), "never negative: {rates:?}");
    let at = |t: i64| rates.iter().find(|(a, _)| *a == t).map(|(_, r)| *r * 60.0).unwrap();
    assert!(at(base + 60) >= 20.0, "{rates:?}");
    assert_eq!(at(base + 120).round() as i64, after_reset, "after the reset the delta is the new value: {rates:?}");
    assert_eq!(at(base + 180).round() as i64, after_restart, "after the restart too: {rates:?}");
}

fn readings(minute: i64) -> SampleReadings {
    SampleReadings {
        database_size_bytes: Some(1000 + minute),
        // 10 a minute, starting again at minute 30 (a reset).
        commits: Some(if minute < 30 { 10 * minute } else { 10 * (minute - 29) }),
        ..Default::default()
    }
}

fn table(minute: i64) -> Vec<TableInfo> {
    vec![TableInfo {
        schema: "main".into(),
        name: "<script>".into(),
        total_bytes: Some(100 * minute),
        row_estimate: Some(minute),
        ..Default::default()
    }]
}

async fn retention_averages_and_deletes_past_samples(kind: Kind) {
    let t = TestDb::new(kind).await;
    strata::home::migrate(&DatabaseUrl::parse(&t.home_url).unwrap()).await.expect("migrate the home database");
    let home = t.connect_home().await;
    let now = chrono::Utc::now().timestamp() / 3600 * 3600;
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    let old = now - 3 * 86_400;
    // Two hours of one-minute samples three days ago, and the last hour.
    for start in [old, now - 3600] {
        let minutes = if start == old { 120 } else { 60 };
        for m in 0..minutes {
            samples::record(&home, APP, time(start + 60 * m), &readings(m), &table(m), &[]).await.expect("record");
        }
    }
    let retention = SampleRetention::default();
    let pass = samples::retain(&home, &[APP.to_string()], &retention, time(now)).await.expect("retain");
    let again = samples::retain(&home, &[APP.to_string()], &retention, time(now)).await.expect("retain again");
    assert_eq!(again.averaged, 0, "a second pass finds nothing new");
    // 24 + 12 five-minute buckets, 2 + 1 hourly ones.
    assert_eq!(pass.averaged, 36 + 3, "{pass:?}");
    let raw_old =
        count(&home, &format!("SELECT COUNT(*) FROM samples WHERE resolution_s = 0 AND at_s < {}", now - 86_400)).await;
    assert_eq!(raw_old, 0, "raw samples older than two days are gone");
    assert_eq!(count(&home, "SELECT COUNT(*) FROM samples WHERE resolution_s = 0").await, 60, "the last hour's stay");

    let sizes = series(&home, "db_size", old, old + 7200, FIVE_MINUTES).await;
    assert_eq!(sizes.len(), 24);
    assert_eq!(sizes[0], (old, 1002.0), "the average of minutes 0..4");
    assert_eq!(sizes[23], (old + 23 * 300, 1117.0));
    let commits = series(&home, "commits_per_s", old, old + 7200, FIVE_MINUTES).await;
    assert_eq!(commits.len(), 24);
    assert_eq!(commits[0].1 * 300.0, 40.0, "the first bucket has no sample before it");
    assert!(commits[1..].iter().all(|(_, r)| (r * 300.0 - 50.0).abs() < 1e-9), "the reset loses nothing: {commits:?}");
    let hourly = series(&home, "commits_per_s", old, old + 7200, HOURLY).await;
    assert_eq!(hourly.iter().map(|(_, r)| (r * 3600.0).round() as i64).collect::<Vec<_>>(), vec![590, 600]);
    let table_sizes = series(&home, "table_size:main.<script>", old, old + 7200, FIVE_MINUTES).await;
    assert_eq!(table_sizes.len(), 24);
    assert_eq!(table_sizes[1], (old + 300, 700.0));
    let hourly_rows = series(&home, "table_rows:main.<script>", old, old + 7200, HOURLY).await;
    assert_eq!(hourly_rows, vec![(old, 30.0), (old + 3600, 90.0)]);

    // A month on the 5-minute averages of three days ago are gone, the hourly ones stay; a year on, everything.
    samples::retain(&home, &[APP.to_string()], &retention, time(now + 31 * 86_400)).await.unwrap();
    assert!(series(&home, "db_size", old, old + 7200, FIVE_MINUTES).await.is_empty());
    assert_eq!(series(&home, "db_size", old, old + 7200, HOURLY).await.len(), 2);
    samples::retain(&home, &[APP.to_string()], &retention, time(now + 367 * 86_400)).await.unwrap();
    assert_eq!(count(&home, "SELECT COUNT(*) FROM samples").await, 0);
    assert_eq!(count(&home, "SELECT COUNT(*) FROM sample_packs").await, 0);
    home.close().await.ok();
    t.drop().await;
}

/// Commits with a counter that went down at minute 30 and a stats reset (counting on from 300) at minute 70.
fn commits_at(minute: i64) -> i64 {
    match minute {
        m if m < 30 => m * m,
        m if m < 70 => 5 + (m - 30) * 7,
        m => 300 + (m - 70) * 3,
    }
}

fn varied_readings(minute: i64) -> SampleReadings {
    let reset = if minute < 70 { 1_000 } else { 2_000 };
    SampleReadings {
        database_size_bytes: Some(1000 + minute),
        commits: Some(commits_at(minute)),
        blocks_hit: Some(9 * minute),
        blocks_read: Some(minute),
        stats_reset_at: chrono::DateTime::from_timestamp(reset, 0),
        ..Default::default()
    }
}

/// The chart's series reduced by the home database: one point per bucket, each the bucket's average (gauges) or
/// increase over its seconds (rates, across a counter that went down and a stats reset), from raw samples and
/// from 5-minute averages alike.
async fn chart_series_reduces_each_bucket_in_the_home_database(kind: Kind) {
    let t = TestDb::new(kind).await;
    strata::home::migrate(&DatabaseUrl::parse(&t.home_url).unwrap()).await.expect("migrate the home database");
    let home = t.connect_home().await;
    let now = chrono::Utc::now().timestamp() / 3600 * 3600;
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    let base = now - 3 * 3600;
    for m in 0..120 {
        let index = strata::db::introspect::IndexInfo {
            schema: "main".into(),
            name: "ix".into(),
            scans: Some(2 * m),
            ..Default::default()
        };
        samples::record(&home, APP, time(base + 60 * m), &varied_readings(m), &table(m), &[index]).await.unwrap();
    }
    let (from, to) = (base, base + 7199);
    // Twelve columns: buckets of ten minutes.
    let chart = |metric: &str| {
        let (home, metric) = (home.clone(), Metric::parse(metric).unwrap());
        async move { samples::chart_series(&home, APP, &metric, from, to, 12).await.expect("the chart series") }
    };
    let sizes = chart("db_size").await;
    let expected: Vec<(i64, f64)> = (0..12).map(|k| (base + 600 * k + 270, 1004.5 + 10.0 * k as f64)).collect();
    assert_eq!(sizes, expected, "each bucket's average, at its samples' mean time");
    let rows = chart("table_rows:main.<script>").await;
    assert_eq!(
        rows.iter().map(|p| p.1).collect::<Vec<_>>(),
        (0..12).map(|k| 4.5 + 10.0 * k as f64).collect::<Vec<_>>()
    );

    // By hand: each sample's delta to the one before (its new value where the counter went down or was reset),
    // summed over the bucket and divided by the seconds between those samples.
    let mut by_hand = Vec::new();
    for k in 0..12i64 {
        let (mut increase, mut seconds, mut times) = (0i64, 0i64, Vec::new());
        for m in (10 * k..10 * k + 10).filter(|m| *m > 0) {
            let (prev, cur) = (commits_at(m - 1), commits_at(m));
            increase += if cur < prev || m == 70 { cur } else { cur - prev };
            seconds += 60;
            times.push(base + 60 * m);
        }
        let at = times.iter().sum::<i64>() as f64 / times.len() as f64;
        by_hand.push((at.round() as i64, increase as f64 / seconds as f64));
    }
    let commits = chart("commits_per_s").await;
    assert_eq!(commits.len(), 12);
    for ((at, rate), (hand_at, hand_rate)) in commits.iter().zip(&by_hand) {
        assert_eq!(at, hand_at);
        assert!((rate - hand_rate).abs() < 1e-9, "{commits:?} against {by_hand:?}");
    }
    assert_eq!(commits[0].1, 81.0 / 540.0, "the first sample has none before it");
    assert_eq!(commits[3].1, (5.0 + 9.0 * 7.0) / 600.0, "the counter that went down counts its new value");
    assert_eq!(commits[7].1, (300.0 + 9.0 * 3.0) / 600.0, "after a stats reset the value counts from zero");
    let hits = chart("cache_hit_ratio").await;
    assert!(hits.len() == 12 && hits.iter().all(|(_, r)| (r - 0.9).abs() < 1e-9), "{hits:?}");
    let scans = chart("index_scans:main.ix").await;
    assert!(scans.len() == 12 && scans.iter().all(|(_, r)| (r - 2880.0).abs() < 1e-6), "2 a minute: {scans:?}");

    // After the retention job the same chart reads the 5-minute averages: the same values (the first bucket has
    // no sample before it either way), at the averages' times.
    samples::retain(&home, &[APP.to_string()], &SampleRetention::default(), time(now)).await.expect("retain");
    let raw_rows = count(&home, "SELECT COUNT(*) FROM samples WHERE resolution_s = 0").await;
    assert_eq!(raw_rows, 120);
    let averaged = chart("db_size").await;
    let expected: Vec<(i64, f64)> = (0..12).map(|k| (base + 600 * k + 150, 1004.5 + 10.0 * k as f64)).collect();
    assert_eq!(averaged, expected, "two 5-minute averages a bucket");
    let averaged = chart("commits_per_s").await;
    assert_eq!(averaged.len(), 12);
    for k in 1..12 {
        assert!((averaged[k].1 - by_hand[k].1).abs() < 1e-9, "bucket {k}: {averaged:?} against {by_hand:?}");
    }
    home.close().await.ok();
    t.drop().await;
}

/// Four hours of readings with all that makes a rate hard: gaps (twenty minutes, then one), a sample without a size
/// and one without commits, sessions only now and then, a counter that went down, a stats reset and a server restart
/// whose counters got past the old values.
fn rough_readings(minute: i64) -> Option<SampleReadings> {
    if (50..70).contains(&minute) || minute == 133 {
        return None;
    }
    let reset = if minute < 150 { 1_000 } else { 2_000 };
    let started = if minute < 200 { 10 } else { 20 };
    let commits = match minute {
        m if m < 30 => m * m,
        m if m < 150 => 5 + (m - 30) * 7,
        m if m < 200 => (m - 150) * 3,
        m => 10_000 + m,
    };
    Some(SampleReadings {
        database_size_bytes: (!(90..92).contains(&minute)).then_some(5_000 + minute * minute),
        connections: (minute % 3 == 0).then_some(strata::db::introspect::ConnectionStates {
            active: minute % 5,
            idle: 2,
            idle_in_transaction: 0,
            other: 1,
        }),
        commits: (minute != 100).then_some(commits),
        rollbacks: Some(minute / 7),
        blocks_hit: Some(if minute < 150 { 9 * minute } else { 4 * (minute - 150) }),
        blocks_read: Some(if minute < 150 { minute } else { minute - 150 }),
        stats_reset_at: chrono::DateTime::from_timestamp(reset, 0),
        started_at: chrono::DateTime::from_timestamp(started, 0),
        ..Default::default()
    })
}

/// A chart over raw samples in buckets of whole 5-minute steps reads their running rollups; it must give exactly
/// what reading every raw sample gives (each rate's increase from `LAG`), across gaps, missing values, a counter that
/// went down, a stats reset and a server restart, with a sample written late, and after the retention job cut a
/// rollup in two or made them all again.
async fn charts_from_rollups_equal_charts_from_raw_samples(kind: Kind) {
    let t = TestDb::new(kind).await;
    strata::home::migrate(&DatabaseUrl::parse(&t.home_url).unwrap()).await.expect("migrate the home database");
    let home = t.connect_home().await;
    let base = chrono::Utc::now().timestamp() / 3600 * 3600 - 5 * 3600;
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    let late = 121;
    for m in (0..240).filter(|m| *m != late) {
        if let Some(r) = rough_readings(m) {
            samples::record(&home, APP, time(base + 60 * m + 7), &r, &[], &[]).await.expect("record");
        }
    }
    samples::record(&home, APP, time(base + 60 * late + 7), &rough_readings(late).unwrap(), &[], &[]).await.unwrap();
    let metrics = ["db_size", "connections", "commits_per_s", "rollbacks_per_s", "cache_hit_ratio"];
    let compare = |what: &'static str| {
        let home = home.clone();
        async move {
            let mut points = 0;
            for (from, to, columns) in [
                (base, base + 4 * 3600 - 1, 48),
                (base + 130, base + 4 * 3600 + 76, 30),
                (base + 10, base + 3 * 3600, 7),
            ] {
                let (origin, bucket) = samples::grid(from, to, columns);
                assert!(bucket % 300 == 0 && origin % 300 == 0 && origin <= from, "{bucket} {origin}");
                for metric in metrics {
                    let m = Metric::parse(metric).unwrap();
                    let rolled = samples::chart_series(&home, APP, &m, from, to, columns).await.expect("from rollups");
                    let raw = samples::chart_series_from_raw(&home, APP, &m, from, to, columns).await.expect("raw");
                    assert!(!raw.is_empty() && raw.len() <= columns as usize, "{what} {metric}: {raw:?}");
                    assert_eq!(rolled.len(), raw.len(), "{what} {metric} {from}: {rolled:?} against {raw:?}");
                    for (r, w) in rolled.iter().zip(&raw) {
                        assert_eq!(r.0, w.0, "{what} {metric}: {rolled:?} against {raw:?}");
                        let scale = w.1.abs().max(1.0);
                        assert!((r.1 - w.1).abs() <= 1e-9 * scale, "{what} {metric}: {rolled:?} against {raw:?}");
                    }
                    points += raw.len();
                }
            }
            points
        }
    };
    assert!(compare("as written").await > 300);
    let rollups = count(&home, "SELECT COUNT(*) FROM sample_rollups").await;
    assert!(rollups >= 48 * 4, "rollups for each metric and 5-minute step: {rollups}");

    // By hand, around the twenty-minute gap (minutes 50 to 69 missing): two buckets of 15 minutes from minute 45;
    // minute 45's increase counts from minute 44 (before the range), minute 70's from minute 49, over 21 minutes.
    let m = Metric::parse("commits_per_s").unwrap();
    let gap = samples::chart_series(&home, APP, &m, base + 2700, base + 4499, 2).await.unwrap();
    let increase = |pairs: &[(i64, i64)]| -> f64 {
        let at = |m: i64| rough_readings(m).unwrap().commits.unwrap();
        pairs.iter().map(|(a, b)| at(*b) - at(*a)).sum::<i64>() as f64
    };
    let first = increase(&[(44, 45), (45, 46), (46, 47), (47, 48), (48, 49)]) / 300.0;
    let second = increase(&[(49, 70), (70, 71), (71, 72), (72, 73), (73, 74)]) / 1500.0;
    assert_eq!(gap.len(), 2, "{gap:?}");
    assert!((gap[0].1 - first).abs() < 1e-12 && (gap[1].1 - second).abs() < 1e-12, "{gap:?}: {first}, {second}");
    assert_eq!(gap[1].0, base + 72 * 60 + 7, "at the mean time of minutes 70 to 74");

    // The retention job cuts the raw samples in the middle of a 5-minute step: that step's rollups are made again
    // from the samples left. The averages it writes are deleted here so that the charts read the raw samples.
    let cut = base + 100 * 60 + 150;
    let now = chrono::Utc::now().timestamp();
    let retention = SampleRetention { raw: Duration::from_secs((now - cut) as u64), ..SampleRetention::default() };
    samples::retain(&home, &[APP.to_string()], &retention, time(now)).await.expect("retain");
    exec(&home, "DELETE FROM samples WHERE resolution_s <> 0").await;
    assert!(count(&home, &format!("SELECT COUNT(*) FROM samples WHERE at_s < {cut}")).await == 0);
    assert!(compare("after the retention job").await > 200);
    // A home database with raw samples and no rollups (samples taken before they existed) gets them from the job.
    exec(&home, "DELETE FROM sample_rollups").await;
    samples::retain(&home, &[APP.to_string()], &retention, time(now)).await.expect("retain");
    exec(&home, "DELETE FROM samples WHERE resolution_s <> 0").await;
    assert!(count(&home, "SELECT COUNT(*) FROM sample_rollups").await > 0);
    assert!(compare("made again").await > 200);
    home.close().await.ok();
    t.drop().await;
}

async fn one_of_two_samplers_samples_and_the_other_takes_over(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let state = app_state_with(&t.url, |s| s.sample_interval = Duration::from_secs(10)).await;
    let settings = state.config.settings.clone();
    let mut a = Sampler::new(state.home.clone(), state.watched.clone(), &settings);
    let mut b = Sampler::new(state.home.clone(), state.watched.clone(), &settings);
    let start = chrono::Utc::now();
    let after = |s: i64| start + chrono::Duration::seconds(s);
    let mut holders = Vec::new();
    // Both look every half interval for 30 s; only `a` samples.
    for s in (0..30).step_by(5) {
        holders.push((a.tick(after(s)).await.unwrap(), b.tick(after(s)).await.unwrap()));
    }
    assert!(holders.iter().all(|h| *h == (true, false)), "{holders:?}");
    let sampled = count(&state.home, "SELECT COUNT(*) FROM samples WHERE resolution_s = 0").await;
    assert_eq!(sampled, 3, "one sample each interval, from one sampler: at 0, 10 and 20 s");
    // `a` stops (its last renewal at 25 s, valid until 35 s); `b` holds the lease by 45 s, within two intervals.
    let taken = [35, 40, 45].into_iter().map(after);
    let mut took_over = None;
    for at in taken {
        if b.tick(at).await.unwrap() {
            took_over = Some(at);
            break;
        }
    }
    let took_over = took_over.expect("the second sampler took over");
    assert!(took_over <= after(25 + 20), "within two intervals of the last renewal");
    assert_eq!(
        count(&state.home, "SELECT COUNT(*) FROM samples WHERE resolution_s = 0").await,
        4,
        "and sampled at once"
    );
    t.drop().await;
}

/// The sampler as `strata serve` runs it, with a one-second interval: the API and the overview show its samples.
async fn samples_api_and_charts_show_what_the_running_sampler_took(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let state = app_state_with(&t.url, |s| s.sample_interval = Duration::from_secs(1)).await;
    let sampler = Sampler::new(state.home.clone(), state.watched.clone(), &state.config.settings);
    let running = tokio::spawn(sampler.run());
    let mut b = Browser::with_state(state.clone());
    let (_, key) = key_for(&state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let (status, _, body) = eventually("two samples", || {
        let mut b = Browser::with_state(state.clone());
        let key = key.clone();
        async move {
            let answer = get(&mut b, "/api/v1/databases/app/samples?metric=db_size", &key).await;
            (answer.2["points"].as_array().map_or(0, |p| p.len()) >= 2).then_some(answer)
        }
    })
    .await;
    running.abort();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metric"], "db_size");
    assert_eq!(body["unit"], "bytes");
    let point = &body["points"][0];
    assert!(point[0].as_i64().is_some() && point[1].as_f64().is_some_and(|v| v > 0.0), "{body}");
    // Strata's own migrations, applied a moment ago, are markers with their revisions.
    let markers = body["markers"].as_array().expect("markers");
    assert!(markers.iter().any(|m| m["tool"] == "strata" && m["revision"] == *HEAD), "{body}");

    let (status, headers, csv) = b.send(csv_request(&key)).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.starts_with("unix_seconds,value\n") && csv.lines().count() >= 3, "{csv}");
    let bad = get(&mut b, "/api/v1/databases/app/samples?metric=nope", &key).await;
    common::api::error(&bad, StatusCode::BAD_REQUEST, "bad_request");

    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get(&at("?range=1h")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 4, "size, connections, commits/s, cache hit");
    assert!(page.contains("aria-label=\"Database size\""), "{page}");
    assert!(page.contains(&format!(">{}</text></a>", *HEAD)), "a marker carries the revision: {page}");
    assert_eq!(b.get(&at("?range=2w")).await.0, StatusCode::BAD_REQUEST);
    t.drop().await;
}

/// The first inline chart of `page` whose `aria-label` is `title`, parsed: its polyline's points.
fn chart_points_in(page: &str, title: &str) -> Vec<(f64, f64)> {
    let start = page.find(&format!("aria-label=\"{title}\"")).unwrap_or_else(|| panic!("a chart {title}: {page}"));
    let start = page[..start].rfind("<svg").unwrap();
    let end = start + page[start..].find("</svg>").unwrap() + "</svg>".len();
    let doc = roxmltree::Document::parse(&page[start..end]).expect("the chart is well-formed XML");
    let Some(line) = doc.descendants().find(|n| n.attribute("class") == Some("chart-line")) else {
        return Vec::new();
    };
    let point = |p: &str| {
        let (x, y) = p.split_once(',').unwrap();
        (x.parse().unwrap(), y.parse().unwrap())
    };
    line.attribute("points").unwrap().split(' ').map(point).collect()
}

/// Samples written for the last ten minutes and for seven days ago show on the table page's size and rows charts,
/// the index page's scans chart, the tables page's growth column and sort, and the fleet page's sparkline.
async fn table_and_index_charts_growth_and_fleet_sparklines(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let state = app_state_with(&t.url, |_| {}).await;
    let w = watched(&state);
    let query = strata::db::introspect::TableQuery {
        sort: strata::db::introspect::TableSort::Name,
        descending: false,
        search: Some("posts".into()),
        offset: 0,
        limit: 10,
    };
    let posts = w.introspector.tables(&query).await.unwrap().items.into_iter().find(|t| t.name == "posts").unwrap();
    let schema = posts.schema.clone();
    let now = chrono::Utc::now().timestamp();
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    let table = |name: &str, total: i64, rows: i64| TableInfo {
        schema: schema.clone(),
        name: name.into(),
        total_bytes: Some(total),
        row_estimate: Some(rows),
        ..Default::default()
    };
    let index = |scans: i64| strata::db::introspect::IndexInfo {
        schema: schema.clone(),
        name: "posts_<ix>".into(),
        scans: Some(scans),
        ..Default::default()
    };
    let readings = |size: i64| SampleReadings { database_size_bytes: Some(size), ..Default::default() };
    // Seven days ago: posts was 1,000 bytes; `<script>` was not sampled yet.
    let week_ago = now - 7 * 86_400 - 120;
    samples::record(&state.home, APP, time(week_ago), &readings(10), &[table("posts", 1000, 1)], &[index(0)])
        .await
        .unwrap();
    for k in 0..10 {
        let tables = [table("posts", 5000 + 100 * k, 10 * k), table("<script>", 700, 1)];
        samples::record(&state.home, APP, time(now - 600 + 60 * k), &readings(20 + k), &tables, &[index(3 * k)])
            .await
            .unwrap();
    }
    // And 20 hours ago the database was 5 bytes.
    samples::record(&state.home, APP, time(now - 20 * 3600), &readings(5), &[], &[]).await.unwrap();
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Viewer).await;

    let (status, _, page) = b.get(&at(&format!("/tables/{schema}/posts?range=1h"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let sizes = chart_points_in(&page, "Total size");
    let rows = chart_points_in(&page, "Rows (estimate)");
    assert_eq!((sizes.len(), rows.len()), (10, 10), "one point a sample: {sizes:?}");
    assert!(sizes.windows(2).all(|p| p[1].0 > p[0].0 && p[1].1 < p[0].1), "growing, left to right: {sizes:?}");
    assert!(page.contains(&format!(">{}</text></a>", *HEAD)), "the migration marker carries its revision");
    assert!(page.contains("<a href=\"/db/app/tables/"), "the range links stay on the table page");
    assert_eq!(b.get(&at(&format!("/tables/{schema}/posts?range=2w"))).await.0, StatusCode::BAD_REQUEST);

    let (status, _, page) = b.get(&at(&format!("/indexes/{schema}/posts_%3Cix%3E?range=1h"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("posts_<ix>"), "the index's name is escaped: {page}");
    if w.introspector.capabilities().index_usage {
        let scans = chart_points_in(&page, "Scans per day");
        // Three scans a minute: 4,320 a day, the same height everywhere.
        assert_eq!(scans.len(), 9, "{scans:?}");
        assert!(scans.iter().all(|p| (p.1 - scans[0].1).abs() < 0.01), "{scans:?}");
    } else {
        assert!(page.contains("not on this engine"), "{page}");
    }

    let grown = format!("+{}", strata::web::fmt::bytes(&Some(5900 - 1000)));
    let (status, _, page) = b.get(&at("/tables?q=posts")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Growth 7 d") && page.contains(&grown), "{grown} in {page}");
    let (status, _, page) = b.get(&at("/tables?sort=growth")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (posts_at, script_at) = (page.find(&grown).unwrap(), page.find("&#60;script&#62;").expect("escaped"));
    assert!(posts_at < script_at, "the grown table first, the one without a sample a week ago after it");
    assert!(!page.contains("<script>"), "{page}");
    let (_, _, page) = b.get(&at("/tables?sort=growth&dir=asc&q=scri")).await;
    assert!(page.contains("&#60;script&#62;") && !page.contains(&grown), "the search applies: {page}");

    let (status, _, page) = b.get("/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let start = page.find("<svg class=\"sparkline\"").expect("a sparkline");
    let end = start + page[start..].find("</svg>").unwrap() + "</svg>".len();
    let doc = roxmltree::Document::parse(&page[start..end]).expect("well-formed");
    let label = doc.root_element().attribute("aria-label").unwrap().to_string();
    assert!(label.starts_with("app: size over 24 h, 5 B to 2"), "{label}");
    let line = doc.descendants().find(|n| n.attribute("class") == Some("chart-line")).expect("a line");
    let xs: Vec<f64> =
        line.attribute("points").unwrap().split(' ').map(|p| p.split_once(',').unwrap().0.parse().unwrap()).collect();
    // 120 pixel columns of 12 minutes (118 drawn): the ten minutes of samples are one or two points, 20 hours to
    // the right of the older one.
    assert!((2..=3).contains(&xs.len()), "{xs:?}");
    assert!((xs[1] - xs[0] - 118.0 * 20.0 / 24.0).abs() < 2.0, "20 of the 24 hours apart: {xs:?}");
    t.drop().await;
}

/// The hour before a migration against the hour after: the database's size, the table that grew, the index whose
/// scans rose, largest changes first, every name escaped.
async fn what_changed_around_a_migration(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let state = app_state_with(&t.url, |_| {}).await;
    let applied = chrono::Utc::now().timestamp() - 7200;
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    let table = |name: &str, total: i64, rows: i64| TableInfo {
        schema: "s".into(),
        name: name.into(),
        total_bytes: Some(total),
        row_estimate: Some(rows),
        ..Default::default()
    };
    for m in -60..60i64 {
        let after = m >= 0;
        let tables =
            [table("<grew>", if after { 9000 } else { 1000 }, if after { 90 } else { 10 }), table("same", 500, 5)];
        // One scan a minute before, ten after.
        let scans = if after { 60 + 10 * m } else { 60 + m };
        let index = strata::db::introspect::IndexInfo {
            schema: "s".into(),
            name: "ix".into(),
            scans: Some(scans),
            ..Default::default()
        };
        let readings =
            SampleReadings { database_size_bytes: Some(if after { 20_000 } else { 10_000 }), ..Default::default() };
        samples::record(&state.home, APP, time(applied + 60 * m), &readings, &tables, &[index]).await.unwrap();
    }
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get(&at_path(applied)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("&#60;script&#62;") && !page.contains("<script>"), "the revision escaped: {page}");
    let plus = |bytes: i64| format!("+{}", strata::web::fmt::bytes(&Some(bytes)));
    assert!(page.contains(&plus(10_000)), "the database grew by 10 kB: {page}");
    let (grew, same) = (page.find("&#60;grew&#62;").expect("escaped"), page.find(">same<").expect("listed"));
    assert!(grew < same, "the largest change first");
    assert!(page.contains(&plus(8000)) && page.contains("+80<"), "sizes and rows: {page}");
    // 1,440 scans a day before, 14,400 after.
    assert!(page.contains(">1440<") && page.contains(">14400<") && page.contains("+12960<"), "{page}");
    assert_eq!(b.get(&at("/migrations/around?at=soon")).await.0, StatusCode::BAD_REQUEST);
    let (_, _, migrations) = b.get(&at("/migrations")).await;
    assert!(migrations.contains("/db/app/migrations/around?at="), "each applied row links to it: {migrations}");
    t.drop().await;
}

fn at_path(at_s: i64) -> String {
    at(&format!("/migrations/around?at={at_s}&revision=%3Cscript%3E"))
}

fn csv_request(key: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get("/api/v1/databases/app/samples?metric=db_size&format=csv&from=0")
        .header("authorization", format!("Bearer {key}"))
        .body(axum::body::Body::empty())
        .unwrap()
}

each_backend! {
    sampler_follows_rows_sizes_sessions_and_index_use => sampler_follows_what_the_test_does;
    retention_averages_raw_samples_and_deletes_old_ones => retention_averages_and_deletes_past_samples;
    chart_series_reduces_buckets_by_hand => chart_series_reduces_each_bucket_in_the_home_database;
    charts_from_rollups_equal_charts_from_raw => charts_from_rollups_equal_charts_from_raw_samples;
    table_and_index_charts_growth_and_fleet_sparklines => table_and_index_charts_growth_and_fleet_sparklines;
    what_changed_around_a_migration => what_changed_around_a_migration;
    exactly_one_sampler_samples_and_another_takes_over => one_of_two_samplers_samples_and_the_other_takes_over;
    samples_api_and_overview_charts => samples_api_and_charts_show_what_the_running_sampler_took;
}

fn marker(at: i64, revision: &str) -> strata::watch::trends::Marker {
    strata::watch::trends::Marker {
        at,
        tool: "strata".into(),
        revision: revision.into(),
        name: Some("<b>add</b>".into()),
    }
}

/// The chart parsed as XML: its polyline's points, its markers' x and texts, every text escaped.
#[test]
fn chart_svg_parses_with_one_point_per_column_markers_at_their_x_and_escaped_labels() {
    use strata::web::chart::{self, Chart};
    // Thirty days of one-minute samples.
    let points: Vec<(i64, f64)> = (0..43_200).map(|i| (i * 60, (i % 1000) as f64)).collect();
    let (from, to) = (0, 43_200 * 60);
    let markers = [marker(to / 2, "<script>alert(1)</script>"), marker(to / 4, "ae1027a6acf")];
    let svg = chart::render(&Chart {
        title: "<script>",
        unit: "bytes",
        from,
        to,
        points: &points,
        markers: &markers,
        markers_href: "/db/app/migrations",
    });
    assert!(!svg.contains("<script>"), "nothing unescaped: {svg}");
    let doc = roxmltree::Document::parse(&svg).expect("the chart is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("aria-label"), Some("<script>"), "the table's name, as text");
    let width: f64 = root.attribute("width").unwrap().parse().unwrap();
    let line = doc.descendants().find(|n| n.attribute("class") == Some("chart-line")).expect("a line");
    let xs: Vec<f64> =
        line.attribute("points").unwrap().split(' ').map(|p| p.split_once(',').unwrap().0.parse().unwrap()).collect();
    assert!(xs.len() > 400 && (xs.len() as f64) < width, "at most one point per pixel column: {}", xs.len());
    let mut columns: Vec<i64> = xs.iter().map(|x| x.floor() as i64).collect();
    columns.dedup();
    assert_eq!(columns.len(), xs.len(), "no two points in one column");
    let circles = doc.descendants().filter(|n| n.tag_name().name() == "circle").count();
    assert_eq!(circles, xs.len(), "each point has its hover title");
    // The plot spans from the first to the last x: a marker halfway is halfway between them.
    let (left, right) = (xs[0], *xs.last().unwrap());
    let found: Vec<(f64, String, String)> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("chart-marker"))
        .map(|a| {
            let line = a.children().find(|c| c.tag_name().name() == "line").unwrap();
            let text = a.children().find(|c| c.tag_name().name() == "text").unwrap();
            let href = a.attribute("href").unwrap().to_string();
            (line.attribute("x1").unwrap().parse().unwrap(), text.text().unwrap().to_string(), href)
        })
        .collect();
    assert_eq!(found.len(), 2);
    let (x, revision, href) = &found[0];
    assert!((x - (left + right) / 2.0).abs() < 1.0, "the marker halfway: {x} between {left} and {right}");
    assert_eq!(revision, "<script>alert(1)</script>", "the revision as text");
    assert_eq!(
        *href,
        format!("/db/app/migrations/around?at={}&revision=%3Cscript%3Ealert%281%29%3C%2Fscript%3E", to / 2),
        "the marker links to what changed around it"
    );
    assert!((found[1].0 - (left + (right - left) / 4.0)).abs() < 1.0);
    assert_eq!(found[1].1, "ae1027a6acf");
}
