//! `/metrics`: valid Prometheus text, the documented series per backend, readings that follow the database, access.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use common::exposition::{self, Exposition};
use common::web::{Browser, app_state_with, migrate_up};
use common::*;
use strata::config::AddrRange;
use strata::home::accounts::Role;
use strata::state::AppState;

/// Collections (and the slow figures' background reading) every 200 ms, and anything running over 1 s is long.
async fn fast_state(t: &TestDb) -> AppState {
    app_state_with(&t.url, |s| {
        s.metrics_refresh = Duration::from_millis(200);
        s.slow_stats_refresh = Duration::from_millis(200);
        s.long_query_threshold = Duration::from_secs(1);
        s.cookie_secure = false;
    })
    .await
}

/// A browser on the machine itself, which the default `metrics_allow` lets in.
fn local(state: AppState) -> Browser {
    let mut b = Browser::with_state(state);
    b.set_client_addr("127.0.0.1:40000");
    b
}

/// One scrape, checked for status, content type and the format's grammar.
async fn scrape(b: &mut Browser) -> Exposition {
    let (status, headers, body) = b.get("/metrics").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let content_type = headers.get(CONTENT_TYPE).unwrap().to_str().unwrap();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    exposition::parse(&body).unwrap_or_else(|e| panic!("not the Prometheus text format: {e}\n{body}"))
}

/// Scrapes until `check` finds what it waits for (collections run every 200 ms).
async fn scrape_until<T>(b: &mut Browser, what: &str, check: impl Fn(&Exposition) -> Option<T>) -> T {
    for _ in 0..150 {
        let e = scrape(b).await;
        if let Some(v) = check(&e) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = b.get("/metrics").await.2;
    panic!("gave up waiting for {what}; last scrape:\n{last}");
}

/// A scrape taken after a successful collection.
async fn readings(b: &mut Browser) -> Exposition {
    scrape_until(b, "strata_db_up 1", |e| (e.value("strata_db_up", &[]) == Some(1.0)).then_some(())).await;
    scrape(b).await
}

each_backend! {
    metrics_are_prometheus_text_with_the_documented_series => documented_series;
    the_connection_gauge_follows_open_connections => connections_follow;
    a_long_statement_is_counted_while_it_runs => long_statement;
    the_size_grows_with_data => size_grows;
}

async fn documented_series(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let mut b = local(fast_state(&t).await);
    b.login_as(Role::Viewer).await;
    let table_page = format!("/db/app/tables/{}/users", t.schema());
    assert_eq!(b.get(&table_page).await.0, StatusCode::OK);
    assert_eq!(b.get("/no/such/page/4711").await.0, StatusCode::NOT_FOUND);
    if kind == Kind::Postgres {
        // The cache ratios need block reads in the statistics, which backends report when they go idle.
        let db = t.connect().await;
        column(&db, "SELECT count(*)::text FROM users").await;
        db.close().await.ok();
    }
    let e = readings(&mut b).await;

    // The database's readings every backend has.
    let set = strata::migrate::MigrationSet::of::<migration::Migrator>().unwrap();
    let revision = set.entries().last().unwrap().revision.clone();
    assert_eq!(e.value("strata_db_migration_head_info", &[("revision", &revision)]), Some(1.0), "head {revision}");
    assert_eq!(e.value("strata_db_migrations_pending", &[]), Some(0.0));
    assert!(e.value("strata_db_size_bytes", &[]).unwrap() > 0.0);
    assert_eq!(e.value("strata_db_long_query_threshold_seconds", &[]), Some(1.0));
    // On SQLite these count Strata's own statements in this process, where other tests run theirs.
    let long = e.value("strata_db_long_running_queries", &[]).unwrap();
    assert!(long == 0.0 || kind == Kind::Sqlite, "{long}");
    assert!(e.value("strata_db_longest_query_seconds", &[]).unwrap() >= 0.0);
    assert!(e.value("strata_db_collections_total", &[]).unwrap() >= 1.0);
    assert_eq!(e.value("strata_db_collection_errors_total", &[]), Some(0.0));
    let age = e.value("strata_db_scrape_age_seconds", &[]).unwrap();
    assert!((0.0..5.0).contains(&age), "readings are {age} s old");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - e.value("strata_db_last_success_timestamp_seconds", &[]).unwrap()).abs() < 30.0);
    assert_eq!(e.series("strata_db_server_info").len(), 1);

    // What only a server has; SQLite is a file inside Strata (see the README).
    let server = kind != Kind::Sqlite;
    assert_eq!(e.sum("strata_db_connections").is_some(), server, "connections by state");
    assert_eq!(e.value("strata_db_max_connections", &[]).is_some(), server);
    assert_eq!(e.value("strata_db_deadlocks_total", &[]).is_some(), server);
    assert_eq!(e.types.get("strata_db_deadlocks_total").map(String::as_str), server.then_some("counter"));
    if server {
        assert!(
            e.value("strata_db_connections", &[("state", "idle")]).is_some()
                || e.sum("strata_db_connections").unwrap() >= 1.0
        );
        let cache =
            scrape_until(&mut b, "a cache hit ratio", |e| e.value("strata_db_cache_hit_ratio", &[("cache", "table")]))
                .await;
        assert!((0.0..=1.0).contains(&cache), "{cache}");
    } else {
        assert!(e.series("strata_db_cache_hit_ratio").is_empty());
    }
    assert_eq!(e.value("strata_db_xid_wraparound_remaining", &[]).is_some(), kind == Kind::Postgres);
    if let Some(left) = e.value("strata_db_xid_wraparound_remaining", &[]) {
        assert!(left > 1e9 && left < 2f64.powi(31), "{left}");
    }
    assert!(e.series("strata_db_replication_lag_seconds").is_empty(), "no replicas here: no series, not zeros");

    // Every reading names the database it was read from.
    for s in e.samples.iter().filter(|s| s.name.starts_with("strata_db_")) {
        assert_eq!(s.labels.get("database").map(String::as_str), Some(APP), "{s:?}");
    }

    // Strata's own HTTP metrics, labelled by route template, never by the raw path (nor the database's name).
    let ok_tables = [("method", "GET"), ("route", "/db/{name}/tables/{schema}/{table}"), ("status", "2xx")];
    assert_eq!(e.value("strata_http_requests_total", &ok_tables), Some(1.0));
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "4xx")];
    assert_eq!(e.value("strata_http_requests_total", &unmatched), Some(1.0));
    assert!(
        e.value("strata_http_requests_total", &[("route", "/login"), ("method", "POST"), ("status", "3xx")]).is_some()
    );
    for s in &e.samples {
        let route = s.labels.get("route").map(String::as_str).unwrap_or("/");
        assert!(!route.contains("/db/app/") && !route.contains("4711"), "raw path as a label: {s:?}");
    }
    assert_eq!(e.types["strata_http_request_duration_seconds"], "histogram");
    let timed =
        e.value("strata_http_request_duration_seconds_count", &[("route", "/db/{name}/tables/{schema}/{table}")]);
    assert_eq!(timed, Some(1.0));
    assert!(e.series("strata_http_server_errors_total").is_empty(), "no 5xx was answered");
    t.drop().await;
}

/// Client connections to the test's own database, as the last collection counted them.
fn connections(e: &Exposition) -> f64 {
    e.sum("strata_db_connections").unwrap_or(0.0)
}

/// A statement that runs for `seconds` on a server.
fn sleep_sql(kind: Kind, seconds: u32) -> String {
    match kind {
        Kind::Postgres => format!("SELECT pg_sleep({seconds})::text"),
        _ => format!("SELECT CAST(SLEEP({seconds}) AS CHAR)"),
    }
}

async fn connections_follow(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let mut b = local(fast_state(&t).await);
    let before = connections(&readings(&mut b).await);
    if kind == Kind::Sqlite {
        assert!(readings(&mut b).await.series("strata_db_connections").is_empty(), "a file has no connections");
        t.drop().await;
        return;
    }
    // Five more sessions, each running a statement for a while. Strata's own pool may also grow between two
    // collections (sqlx opens a connection when a returned one is not back yet), so the checks count the busy
    // sessions, which only the test makes: Strata's pool is busy with nothing but the collection itself.
    let mut sessions = Vec::new();
    for _ in 0..5 {
        let c = t.connect_one().await;
        let sql = sleep_sql(kind, 3);
        sessions.push(tokio::spawn(async move {
            column(&c, &sql).await;
            c
        }));
    }
    scrape_until(&mut b, "5 more connections, running", |e| {
        let active = e.value("strata_db_connections", &[("state", "active")]).unwrap_or(0.0);
        (connections(e) >= before + 5.0 && active >= 5.0).then_some(())
    })
    .await;
    for s in sessions {
        s.await.unwrap().close().await.unwrap();
    }
    scrape_until(&mut b, "the 5 statements done", |e| {
        // The collection's own connection is the one active session left.
        (e.value("strata_db_connections", &[("state", "active")]).unwrap_or(0.0) <= 1.0).then_some(())
    })
    .await;
    t.drop().await;
}

async fn long_statement(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let state = fast_state(&t).await;
    let mut b = local(state.clone());
    let idle = readings(&mut b).await.value("strata_db_long_running_queries", &[]);
    assert!(idle == Some(0.0) || kind == Kind::Sqlite, "nothing runs yet: {idle:?}");
    let sleeper = match kind {
        Kind::Postgres | Kind::MySql => {
            let c = t.connect_one().await;
            let sql = sleep_sql(kind, 4);
            tokio::spawn(async move {
                column(&c, &sql).await;
                c.close().await.ok();
            })
        }
        Kind::Sqlite => {
            // SQLite has no server sessions: the long statements are Strata's own, here one from the query editor.
            let mut editor = Browser::with_state(state.clone());
            editor.login_as(Role::Viewer).await;
            editor.get("/db/app/query").await;
            tokio::spawn(async move {
                let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) \
                            SELECT count(*) FROM c";
                editor.post_form("/db/app/query", &[("sql", slow)]).await;
            })
        }
    };
    let (count, longest) = scrape_until(&mut b, "a long-running statement", |e| {
        let n = e.value("strata_db_long_running_queries", &[])?;
        (n >= 1.0).then(|| (n, e.value("strata_db_longest_query_seconds", &[]).unwrap()))
    })
    .await;
    assert!(count >= 1.0 && longest >= 1.0, "{count} long, the longest {longest} s");
    sleeper.abort(); // a dropped editor request cancels its run; the server sleeps end by themselves
    scrape_until(&mut b, "no long-running statement", |e| {
        (e.value("strata_db_long_running_queries", &[]) == Some(0.0)).then_some(())
    })
    .await;
    t.drop().await;
}

async fn size_grows(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let mut b = local(fast_state(&t).await);
    let before = readings(&mut b).await.value("strata_db_size_bytes", &[]).unwrap();
    let db = t.connect().await;
    exec(&db, "CREATE TABLE ballast (id INTEGER PRIMARY KEY, filler VARCHAR(1000) NOT NULL)").await;
    let row = format!("'{}'", "x".repeat(1000));
    for chunk in 0..20 {
        let values: Vec<String> = (0..100).map(|i| format!("({}, {row})", chunk * 100 + i)).collect();
        exec(&db, &format!("INSERT INTO ballast (id, filler) VALUES {}", values.join(", "))).await;
    }
    if kind == Kind::MySql {
        // MariaDB reports table sizes from InnoDB's statistics, which follow a new table's rows only when recalculated.
        exec(&db, "ANALYZE TABLE ballast").await;
    }
    let after = scrape_until(&mut b, "a larger database", |e| {
        let size = e.value("strata_db_size_bytes", &[])?;
        (size >= before + 1_000_000.0).then_some(size)
    })
    .await;
    assert!(after > before, "{before} -> {after}");
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test]
async fn only_allowed_addresses_may_read_metrics() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let state = fast_state(&t).await;
    let mut b = Browser::with_state(state.clone());
    assert_eq!(b.get("/metrics").await.0, StatusCode::FORBIDDEN, "no client address (not over a socket)");
    for outside in ["10.1.2.3:5000", "[2001:db8::1]:5000", "172.17.0.1:5000"] {
        b.set_client_addr(outside);
        assert_eq!(b.get("/metrics").await.0, StatusCode::FORBIDDEN, "{outside} is not loopback");
    }
    for inside in ["127.0.0.1:5000", "[::1]:5000"] {
        b.set_client_addr(inside);
        assert_eq!(b.get("/metrics").await.0, StatusCode::OK, "{inside}");
    }

    let state = app_state_with(&t.url, |s| s.metrics_allow = vec![AddrRange::parse("10.0.0.0/8").unwrap()]).await;
    let mut b = Browser::with_state(state);
    b.set_client_addr("10.1.2.3:5000");
    assert_eq!(b.get("/metrics").await.0, StatusCode::OK, "inside metrics_allow");
    b.set_client_addr("127.0.0.1:5000");
    assert_eq!(b.get("/metrics").await.0, StatusCode::FORBIDDEN, "loopback is only the default");
    t.drop().await;
}

#[tokio::test]
async fn an_api_key_with_the_read_metrics_scope_reads_metrics_from_anywhere() {
    use axum::body::Body;
    use axum::http::Request;
    use strata::home::accounts::{self, Role};
    use strata::home::api_keys::{self, NewKey, Scope};
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let state = fast_state(&t).await;
    let owner = common::web::create_account(&state, Role::Viewer).await;
    let account = accounts::find_by_username(&state.home, &owner).await.unwrap().unwrap();
    let key = |scopes: Vec<Scope>| NewKey {
        owner_id: account.id,
        name: format!("{scopes:?}"),
        role: Role::Viewer,
        scopes,
        expires_at: None,
    };
    let metrics_key = api_keys::create(&state.home, Role::Viewer, key(vec![Scope::ReadMetrics])).await.unwrap().token;
    let catalog_key = api_keys::create(&state.home, Role::Viewer, key(vec![Scope::ReadCatalog])).await.unwrap().token;
    let mut b = Browser::with_state(state);
    b.set_client_addr("203.0.113.9:5000");
    let mut scrape = async |bearer: &str| {
        let req = Request::get("/metrics").header("authorization", format!("Bearer {bearer}")).body(Body::empty());
        b.send(req.unwrap()).await
    };
    assert_eq!(scrape(&metrics_key).await.0, StatusCode::OK);
    let (status, _, body) = scrape(&metrics_key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("route=\"/metrics\""), "the first scrape is counted in the second: {body}");
    assert_eq!(scrape(&catalog_key).await.0, StatusCode::FORBIDDEN, "a key without the scope");
    assert_eq!(scrape("strata_0000_nonsense").await.0, StatusCode::UNAUTHORIZED, "a wrong key");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_goes_away_turns_up_to_0_and_counts_the_errors() {
    let t = TestDb::new(Kind::Postgres).await;
    migrate_up(&t).await;
    let mut b = local(
        app_state_with(&t.url, |s| {
            s.metrics_refresh = Duration::from_millis(200);
            s.catalog_timeout = Duration::from_secs(2);
        })
        .await,
    );
    readings(&mut b).await;
    let name = t.name.clone();
    t.drop().await; // DROP DATABASE ... WITH (FORCE) ends Strata's connections too
    scrape_until(&mut b, "strata_db_up 0", |e| (e.value("strata_db_up", &[]) == Some(0.0)).then_some(())).await;
    let e = scrape(&mut b).await;
    assert!(e.value("strata_db_collection_errors_total", &[]).unwrap() >= 1.0, "{name}");
    assert!(e.series("strata_db_size_bytes").is_empty(), "no stale readings while the database is down");
    assert!(e.value("strata_db_last_success_timestamp_seconds", &[]).is_some(), "the last success is still known");
    let age = e.value("strata_db_scrape_age_seconds", &[]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(scrape(&mut b).await.value("strata_db_scrape_age_seconds", &[]).unwrap() > age, "the age keeps growing");
}

#[test]
fn the_test_parser_refuses_what_the_format_does_not_allow() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"q\\\\\"} 3\n";
    let e = exposition::parse(good).unwrap();
    assert_eq!(e.value("a_total", &[("x", "1\"q\\")]), Some(3.0));
    for bad in [
        "a b c d\n",
        "1a 3\n",
        "a{x=1} 3\n",
        "a{x=\"1\"} three\n",
        "a{x=\"\\t\"} 1\n",
        "# TYPE a gauge\n# TYPE a gauge\na 1\n",
        "a 1\nb 1\na 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
    ] {
        assert!(exposition::parse(bad).is_err(), "{bad:?}");
    }
}
