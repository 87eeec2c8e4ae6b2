//! The Statements page and the statement samples: a private PostgreSQL cluster with pg_stat_statements preloaded
//! lists the test's own statement with its calls, the sampler's deltas survive a `pg_stat_statements_reset()`,
//! the range view and a statement's charts show them; without the extension (the shared server), with
//! performance_schema off (MariaDB) and on SQLite the page says why and how to enable it; hostile statement text
//! renders escaped; averages and retention keep the statements' increases.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::api::{get, key_for};
use common::cluster::PrivateCluster;
use common::web::{Browser, app_state_for, app_state_with, at, migrate_up, watched};
use common::*;
use sea_orm::Database;
use strata::config::{DatabaseUrl, Overrides, SampleRetention};
use strata::db::introspect::{SampleReadings, StatementInfo, StatementQuery, StatementSort};
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;
use strata::home::samples::{self, Metric, RAW};
use strata::home::statement_samples;
use strata::watch::sampler;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The test's marker statement: its normalized text keeps the column alias.
const PROBE: &str = "SELECT count(*) AS strata_probe FROM counted WHERE id > 5";

async fn run(url: &str, sql: &str, times: usize) {
    let db = Database::connect(url).await.expect("connect to the private cluster");
    for _ in 0..times {
        exec(&db, sql).await;
    }
    db.close().await.ok();
}

/// The probe's query id and its row as the live statistics show it.
async fn live_probe(w: &strata::watch::Watched) -> Option<StatementInfo> {
    let query = StatementQuery { search: Some("strata_probe".into()), limit: 10, ..Default::default() };
    let found = w.introspector.statements(&query).await.expect("the statements");
    assert!(found.unavailable.is_none(), "{:?}", found.unavailable);
    found.items.into_iter().next()
}

/// The calls cell of the first row of a Statements page.
fn first_calls(page: &str) -> Option<i64> {
    let mark = r#"class="num stmt-calls" title=""#;
    let start = page.find(mark)? + mark.len();
    page[start..].split('"').next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_statements_live_sampled_across_a_reset_and_over_a_range() {
    let cluster = PrivateCluster::start_with("-c shared_preload_libraries=pg_stat_statements");
    let admin = Database::connect(cluster.url("postgres")).await.expect("connect to the private cluster");
    exec(&admin, "CREATE DATABASE app").await;
    admin.close().await.ok();
    let url = cluster.url("app");
    let setup = Database::connect(url.as_str()).await.unwrap();
    exec(&setup, "CREATE EXTENSION pg_stat_statements").await;
    exec(&setup, "CREATE TABLE counted (id BIGINT PRIMARY KEY)").await;
    exec(&setup, r#"SELECT 1 AS "<script>alert(1)</script>""#).await;
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

    // Live: the statement run 7 times shows 7 calls, found by its text.
    run(&url, PROBE, 7).await;
    let probe = live_probe(&w).await.expect("the probe is counted");
    assert_eq!(probe.calls, 7, "{probe:?}");
    assert!(probe.query.contains("strata_probe") && probe.query.contains("$1"), "normalized: {probe:?}");
    assert!(probe.hit_ratio().is_some(), "{probe:?}");
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get(&at("/statements?q=strata_probe")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(">Statements</a>"), "the nav item: {page}");
    assert!(page.contains("since stats reset at"), "{page}");
    assert_eq!(first_calls(&page), Some(7), "{page}");
    assert!(page.contains("strata_probe"));
    let (_, _, page) = b.get(&at("/statements?sort=calls&dir=asc")).await;
    let escaped = ["&lt;script&gt;alert(1)&lt;/script&gt;", "&#60;script&#62;alert(1)&#60;/script&#62;"];
    assert!(escaped.iter().any(|e| page.contains(e)), "hostile text escaped: {page}");
    assert!(!page.contains("<script>alert"), "{page}");

    // Samples: 5 more calls between the first two, then a reset and 3 calls: the range holds 8.
    let base = chrono::Utc::now().timestamp() - 1800;
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    sampler::sample(&home, &w, TIMEOUT, time(base)).await.expect("a sample");
    run(&url, PROBE, 5).await;
    sampler::sample(&home, &w, TIMEOUT, time(base + 60)).await.expect("a sample");
    run(&url, "SELECT pg_stat_statements_reset()", 1).await;
    run(&url, PROBE, 3).await;
    assert_eq!(live_probe(&w).await.expect("counted again").calls, 3, "the reset began the counters again");
    sampler::sample(&home, &w, TIMEOUT, time(base + 120)).await.expect("a sample");
    let id = probe.query_id.clone();

    let calls = Metric::parse(&format!("statement_calls:{id}")).expect("a metric");
    let points = samples::series(&home, APP, &calls, base - 1, base + 200, RAW).await.unwrap();
    let per_minute: Vec<(i64, i64)> = points.iter().map(|(at, r)| (*at, (r * 60.0).round() as i64)).collect();
    assert_eq!(per_minute, vec![(base + 60, 5), (base + 120, 3)], "deltas, the reset's is its new value");
    let mean = Metric::parse(&format!("statement_mean_ms:{id}")).unwrap();
    let means = samples::series(&home, APP, &mean, base - 1, base + 200, RAW).await.unwrap();
    assert!(means.len() == 2 && means.iter().all(|(_, ms)| *ms >= 0.0), "{means:?}");

    let retention = SampleRetention::default();
    let query = StatementQuery { search: Some("strata_probe".into()), limit: 10, ..Default::default() };
    let (items, total) =
        statement_samples::range(&home, APP, base - 1, base + 200, &retention, &query).await.expect("the range");
    assert_eq!((total, items[0].calls), (1, 8), "{items:?}");
    // The whole range, sorted by calls: the probe, with its 8, is among them.
    let all = StatementQuery { sort: StatementSort::Calls, descending: true, limit: 500, ..Default::default() };
    let (items, _) = statement_samples::range(&home, APP, base - 1, base + 200, &retention, &all).await.unwrap();
    assert!(items.windows(2).all(|p| p[0].calls >= p[1].calls), "sorted by calls");
    assert_eq!(items.iter().find(|s| s.query_id == id).map(|s| s.calls), Some(8));

    // The page's range view, and the statement's charts.
    let (status, _, page) = b.get(&at("/statements?range=1h&q=strata_probe")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("from the statement samples"), "{page}");
    assert_eq!(first_calls(&page), Some(8), "{page}");
    assert_eq!(b.get(&at("/statements?range=2w")).await.0, StatusCode::BAD_REQUEST);
    let (status, _, page) = b.get(&at(&format!("/statements/{id}?range=1h"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("strata_probe"), "its text: {page}");
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 2, "calls and mean time");
    assert!(
        page.contains("aria-label=\"Calls per second\"") && page.contains("aria-label=\"Mean time per call (ms)\"")
    );

    // The samples API.
    let (_, key) = key_for(&state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let path = format!("/api/v1/databases/app/samples?metric=statement_calls:{id}&from={}&to={}", base - 1, base + 200);
    let (status, _, body) = get(&mut b, &path, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unit"], "1/s");
    assert_eq!(body["points"].as_array().map(|p| p.len()), Some(2), "{body}");
}

/// The slow probe: pg_sleep's argument is a constant, so a short and a long sleep are one statement.
const SLOW: &str = "SELECT pg_sleep(0.001) AS strata_slow";
const SLOWER: &str = "SELECT pg_sleep(0.05) AS strata_slow";

/// The cells of the row of `needle` in the around page's statements table.
fn around_row<'a>(page: &'a str, needle: &str) -> Option<&'a str> {
    let table = &page[page.find("id=\"statements\"")?..];
    let row = table.split("<tr>").find(|r| r.contains(needle))?;
    Some(row.split("</tr>").next().unwrap_or(row))
}

#[tokio::test(flavor = "multi_thread")]
async fn around_a_migration_statement_mean_times_across_a_reset_and_the_statements_api() {
    let cluster = PrivateCluster::start_with("-c shared_preload_libraries=pg_stat_statements");
    let admin = Database::connect(cluster.url("postgres")).await.expect("connect to the private cluster");
    exec(&admin, "CREATE DATABASE app").await;
    admin.close().await.ok();
    let url = cluster.url("app");
    let setup = Database::connect(url.as_str()).await.unwrap();
    exec(&setup, "CREATE EXTENSION pg_stat_statements").await;
    exec(&setup, r#"SELECT 1 AS "<script>alert(1)</script>""#).await;
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
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Viewer).await;

    // The migration at `mig`: 4 short sleeps in the hour before; in the hour after, 2 long ones, a reset, 3 more.
    let mig = chrono::Utc::now().timestamp() - 1800;
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    // Once before the first sample: a statement's first reading is the base its increases count from.
    run(&url, SLOW, 1).await;
    sampler::sample(&home, &w, TIMEOUT, time(mig - 120)).await.expect("a sample");
    run(&url, SLOW, 4).await;
    sampler::sample(&home, &w, TIMEOUT, time(mig - 60)).await.expect("a sample");
    run(&url, SLOWER, 2).await;
    sampler::sample(&home, &w, TIMEOUT, time(mig + 60)).await.expect("a sample");
    run(&url, "SELECT pg_stat_statements_reset()", 1).await;
    run(&url, SLOWER, 3).await;
    sampler::sample(&home, &w, TIMEOUT, time(mig + 120)).await.expect("a sample");

    let around = statement_samples::around(&home, APP, mig, samples::WINDOW_S, 20).await.expect("around");
    assert!(around.covered_before && around.covered_after, "{around:?}");
    let slow = around.changes.iter().find(|c| c.query.contains("strata_slow")).expect("the slow probe");
    let (before, after) = (slow.before.clone().expect("ran before"), slow.after.clone().expect("ran after"));
    assert_eq!((before.calls, after.calls), (4, 5), "the reset loses none of the 5 calls after: {slow:?}");
    // pg_sleep sleeps at least that long: the mean after is 50 ms or more, counted from the increases.
    assert!(after.mean_ms.unwrap() >= 50.0 && before.mean_ms.unwrap() >= 1.0, "{slow:?}");
    assert!(slow.delta_ms().unwrap() > 0.0, "{slow:?}");
    let deltas: Vec<f64> = around.changes.iter().filter_map(|c| c.delta_ms()).map(f64::abs).collect();
    assert!(deltas.windows(2).all(|p| p[0] >= p[1]), "the largest changes first: {deltas:?}");

    let (status, _, page) = b.get(&at(&format!("/migrations/around?at={mig}&revision=abc"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Statement mean times") && !page.contains("no-statement-samples"), "{page}");
    let row = around_row(&page, "strata_slow").expect("the probe's row");
    assert!(row.contains(&format!("/db/app/statements/{}", slow.query_id)), "links to its page: {row}");
    assert!(row.contains("stmt-calls-before\">4<") && row.contains("stmt-calls-after\">5<"), "{row}");
    assert!(!page.contains("<script>alert"), "statement text is escaped: {page}");
    // A time no statement sample covers: said plainly.
    let (status, _, page) = b.get(&at(&format!("/migrations/around?at={}", mig - 5 * 86_400))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"no-statement-samples\"") && page.contains("either hour"), "{page}");

    // The statements API: live, over a past range (the reset loses nothing: 4 + 2 + 3 calls), sorted and paged.
    let (_, key) = key_for(&state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let list = "/api/v1/databases/app/statements";
    let (status, _, body) = get(&mut b, &format!("{list}?q=strata_slow"), &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["source"].as_str(), body["total"].as_u64()), (Some("live"), Some(1)), "{body}");
    assert_eq!(body["items"][0]["calls"], 3, "live counts since the reset: {body}");
    assert_eq!(body["since_what"], "stats reset", "{body}");
    let (status, _, body) =
        get(&mut b, &format!("{list}?q=strata_slow&from={}&to={}", mig - 600, mig + 600), &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["source"].as_str(), body["items"][0]["calls"].as_i64()), (Some("samples"), Some(9)), "{body}");
    assert_eq!(body["items"][0]["query_id"].as_str(), Some(slow.query_id.as_str()));
    let (status, _, body) = get(&mut b, &format!("{list}?range=1h&q=strata_slow"), &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = get(&mut b, &format!("{list}?sort=calls&per_page=1&page=2"), &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["per_page"].as_u64(), body["page"].as_u64()), (Some(1), Some(2)), "{body}");
    assert!(body["total"].as_u64().unwrap() >= 2 && body["items"].as_array().unwrap().len() == 1, "{body}");
    let (status, _, body) = get(&mut b, &format!("{list}?sort=calls"), &key).await;
    let calls: Vec<i64> = body["items"].as_array().unwrap().iter().map(|s| s["calls"].as_i64().unwrap()).collect();
    assert!(status == StatusCode::OK && calls.windows(2).all(|p| p[0] <= p[1]), "ascending by calls: {calls:?}");
    for bad in ["sort=colour", "range=2w", "range=1h&from=5", "from=9&to=5"] {
        let (status, _, body) = get(&mut b, &format!("{list}?{bad}"), &key).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{bad}");
    }
    let (_, nope) = key_for(&state, Role::Viewer, &[Scope::RunReadonlySql]).await;
    assert_eq!(get(&mut b, list, &nope).await.0, StatusCode::FORBIDDEN, "read_catalog is needed");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_without_the_extension_says_how_to_enable_it() {
    let t = TestDb::new(Kind::Postgres).await;
    migrate_up(&t).await;
    let state = app_state_with(&t.url, |_| {}).await;
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get(&at("/statements")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("not installed in this database"), "{page}");
    assert!(page.contains("shared_preload_libraries") && page.contains("CREATE EXTENSION pg_stat_statements"));
    // The API answers 409 with the same reason and steps; a past range from the samples still answers.
    let (_, key) = key_for(&state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let (status, _, body) = get(&mut b, "/api/v1/databases/app/statements", &key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not installed") && message.contains("CREATE EXTENSION pg_stat_statements"), "{body}");
    let (status, _, body) = get(&mut b, "/api/v1/databases/app/statements?range=24h", &key).await;
    assert_eq!((status, body["total"].as_u64()), (StatusCode::OK, Some(0)), "{body}");
    // Installed but not loaded (the shared server does not preload it): the page says so.
    let db = t.connect().await;
    let preloaded = count(
        &db,
        "SELECT count(*) FROM pg_settings WHERE name = 'shared_preload_libraries' \
                                 AND setting LIKE '%pg_stat_statements%'",
    )
    .await;
    if preloaded == 0 {
        exec(&db, "CREATE EXTENSION pg_stat_statements").await;
        let (status, _, page) = b.get(&at("/statements")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("the server did not load it"), "{page}");
        assert!(page.contains("shared_preload_libraries"), "{page}");
    }
    // A sample is taken all the same, with no statements.
    let w = watched(&state);
    sampler::sample(&state.home, &w, TIMEOUT, chrono::Utc::now()).await.expect("a sample without statements");
    assert_eq!(count(&state.home, "SELECT count(*) FROM sample_statements").await, 0);
    db.close().await.ok();
    t.drop().await;
}

/// A MariaDB server of this test's own with performance_schema ON (the shared one has it off): a temp data
/// folder, a free port, stopped on drop. Never the shared server.
struct PrivateMariaDb {
    _dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl PrivateMariaDb {
    async fn start() -> PrivateMariaDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let out = std::process::Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal"])
            .arg(format!("--datadir={}", data.display()))
            .output()
            .expect("mariadb-install-db");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let port = common::chrome::free_port();
        let child = std::process::Command::new("/usr/sbin/mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--performance_schema=ON"])
            .args(["--skip-log-bin", "--innodb-buffer-pool-size=32M"])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mariadbd");
        common::chrome::wait_for_port(port, "the private MariaDB").await;
        PrivateMariaDb { _dir: dir, port, child }
    }

    fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_digests_live_and_sampled_across_a_truncate() {
    let server = PrivateMariaDb::start().await;
    let admin = Database::connect(server.url("mysql")).await.expect("connect to the private MariaDB");
    exec(&admin, "CREATE DATABASE app").await;
    admin.close().await.ok();
    let url = server.url("app");
    run(&url, "CREATE TABLE counted (id BIGINT PRIMARY KEY)", 1).await;
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

    run(&url, PROBE, 3).await;
    let probe = live_probe(&w).await.expect("the digest of the probe");
    assert_eq!(probe.calls, 3, "{probe:?}");
    assert!(probe.query.contains("strata_probe") && probe.rows_examined.is_some(), "{probe:?}");
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get(&at("/statements?q=strata_probe")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(first_calls(&page), Some(3), "{page}");
    assert!(page.contains("since server start at"), "{page}");

    let base = chrono::Utc::now().timestamp() - 1800;
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    sampler::sample(&home, &w, TIMEOUT, time(base)).await.expect("a sample");
    run(&url, PROBE, 2).await;
    sampler::sample(&home, &w, TIMEOUT, time(base + 60)).await.expect("a sample");
    // Emptying the digest table is MariaDB's reset.
    run(&url, "TRUNCATE TABLE performance_schema.events_statements_summary_by_digest", 1).await;
    run(&url, PROBE, 1).await;
    sampler::sample(&home, &w, TIMEOUT, time(base + 120)).await.expect("a sample");
    let retention = SampleRetention::default();
    let query = StatementQuery { search: Some("strata_probe".into()), limit: 10, ..Default::default() };
    let (items, _) = statement_samples::range(&home, APP, base - 1, base + 200, &retention, &query).await.unwrap();
    assert_eq!(items.first().map(|s| s.calls), Some(3), "2 before the truncate, 1 after: {items:?}");
    let (_, _, page) = b.get(&at("/statements?range=1h&q=strata_probe")).await;
    assert_eq!(first_calls(&page), Some(3), "{page}");

    // The statements API: the digest live (since the truncate), and over the range across it.
    let (_, key) = key_for(&state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let (status, _, body) = get(&mut b, "/api/v1/databases/app/statements?q=strata_probe", &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["source"].as_str(), body["items"][0]["calls"].as_i64()), (Some("live"), Some(1)), "{body}");
    assert_eq!(body["since_what"], "server start", "{body}");
    assert!(body["items"][0]["rows_examined"].is_i64(), "{body}");
    let path = format!("/api/v1/databases/app/statements?q=strata_probe&from={}&to={}", base - 1, base + 200);
    let (status, _, body) = get(&mut b, &path, &key).await;
    assert_eq!((status, body["items"][0]["calls"].as_i64()), (StatusCode::OK, Some(3)), "{body}");
    // What changed around a time between the samples: the probe ran in the hour after.
    let (status, _, page) = b.get(&at(&format!("/migrations/around?at={}", base + 30))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let row = around_row(&page, "strata_probe").expect("the probe's row");
    assert!(row.contains("stmt-calls-after\">3<"), "{row}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_statements_need_performance_schema() {
    let t = TestDb::new(Kind::MySql).await;
    migrate_up(&t).await;
    let state = app_state_with(&t.url, |_| {}).await;
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Viewer).await;
    let db = t.connect().await;
    let on = count(&db, "SELECT CAST(@@performance_schema AS SIGNED)").await == 1;
    let (status, _, page) = b.get(&at("/statements")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    if on {
        exec(&db, "SELECT 1 AS strata_probe").await;
        let w = watched(&state);
        let query = StatementQuery { search: Some("strata_probe".into()), limit: 10, ..Default::default() };
        let found = w.introspector.statements(&query).await.unwrap();
        assert!(found.items.iter().any(|s| s.calls >= 1 && s.query.contains("strata_probe")), "{found:?}");
    } else {
        assert!(page.contains("performance_schema is OFF"), "{page}");
        assert!(page.contains("performance_schema = ON"), "how to enable it: {page}");
    }
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_says_why_there_are_no_statement_statistics() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let mut b = Browser::new(&t.url).await;
    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get(&at("/statements")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("SQLite keeps no statement statistics"), "{page}");
    let (_, _, overview) = b.get(&at("")).await;
    assert!(!overview.contains("/statements\""), "no nav item where the engine has none");
    // What changed around a migration: no statements here, and why.
    let (status, _, page) = b.get(&at("/migrations/around?at=1800000000")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"statements-not-here\"") && page.contains("SQLite keeps no statement"), "{page}");
    // The API: 501, saying why.
    let state = b.state.clone();
    let (_, key) = key_for(&state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let (status, _, body) = get(&mut b, "/api/v1/databases/app/statements", &key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_IMPLEMENTED, Some("unsupported")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("SQLite keeps no statement"), "{body}");
    t.drop().await;
}

fn statement(calls: i64, total_ms: f64) -> StatementInfo {
    StatementInfo {
        query_id: "42".into(),
        query: "SELECT <b>$1</b>".into(),
        calls,
        total_ms,
        rows: calls,
        ..Default::default()
    }
}

/// The home database on each engine: averages, the range's SQL and retention.
async fn averages_keep_increases_across_a_reset_and_retention_deletes_them(kind: Kind) {
    let t = TestDb::new(kind).await;
    strata::home::migrate(&DatabaseUrl::parse(&t.home_url).unwrap()).await.expect("migrate the home database");
    let home = t.connect_home().await;
    let now = chrono::Utc::now().timestamp() / 3600 * 3600;
    let old = now - 3 * 86_400;
    let time = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
    // Two hours of one-minute samples: 10 calls (20 ms) a minute, the counters reset at minute 60.
    for m in 0..120 {
        let n = if m < 60 { m } else { m - 59 };
        let readings = SampleReadings { database_size_bytes: Some(1), ..Default::default() };
        samples::record(&home, APP, time(old + 60 * m), &readings, &[], &[]).await.unwrap();
        statement_samples::record(&home, APP, old + 60 * m, &[statement(10 * n, 20.0 * n as f64)]).await.unwrap();
    }
    let retention = SampleRetention::default();
    samples::retain(&home, &[APP.to_string()], &retention, time(now)).await.expect("retain");
    let query = StatementQuery { limit: 10, ..Default::default() };
    let (_, total) = statement_samples::range(&home, APP, old - 1, old + 7200, &retention, &query).await.unwrap();
    assert_eq!(total, 0, "raw readings older than two days are gone (a two-hour range reads raw readings)");
    // Sixty days read the hourly averages.
    let (items, _) = statement_samples::range(&home, APP, now - 60 * 86_400, now, &retention, &query).await.unwrap();
    assert_eq!(items[0].calls, 119 * 10, "every minute's 10 calls but the first sample's, the reset losing none");
    // A week reads the 5-minute averages.
    let (items, total) =
        statement_samples::range(&home, APP, now - 7 * 86_400, now, &retention, &query).await.expect("the range");
    assert_eq!(total, 1);
    assert_eq!((items[0].calls, items[0].total_ms.round() as i64), (1190, 2380));
    // Raw samples newer than the newest average are added to it: 10, then 20 more calls.
    for (k, calls) in [(0, 1000), (1, 1010), (2, 1030)] {
        statement_samples::record(&home, APP, now - 300 + 60 * k, &[statement(calls, 0.0)]).await.unwrap();
    }
    let (items, _) = statement_samples::range(&home, APP, now - 7 * 86_400, now, &retention, &query).await.unwrap();
    assert_eq!(items[0].calls, 1190 + 30, "the averages, then the raw samples after them");
    let mean = Metric::parse("statement_mean_ms:42").unwrap();
    let means = samples::series(&home, APP, &mean, old, old + 7200, samples::FIVE_MINUTES).await.unwrap();
    assert!(means.iter().all(|(_, ms)| (*ms - 2.0).abs() < 1e-9), "{means:?}");
    // A year on, nothing is left, texts included.
    samples::retain(&home, &[APP.to_string()], &retention, time(now + 367 * 86_400)).await.unwrap();
    assert_eq!(count(&home, "SELECT COUNT(*) FROM sample_packs").await, 0);
    assert_eq!(count(&home, "SELECT COUNT(*) FROM sample_queries").await, 0);
    home.close().await.ok();
    t.drop().await;
}

each_backend! {
    statement_averages_keep_increases_across_a_reset_and_retention_deletes_them =>
        averages_keep_increases_across_a_reset_and_retention_deletes_them;
}
