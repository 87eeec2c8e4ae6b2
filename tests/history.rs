//! The query history on every backend: recording runs of each outcome, the search filters, pages,
//! retention, the `/history` page per role and the CSV export for admins.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use chrono::{NaiveDate, Utc};
use common::web::Browser;
use common::*;
use sea_orm::DatabaseConnection;
use strata::home::accounts::Role;
use strata::home::history::{self, Filter, NewRun, RunStatus};

each_backend! {
    runs_of_every_outcome_are_recorded_and_read_back => record_and_read;
    the_search_filters_by_status_user_dates_and_literal_text => search_filters;
    search_results_come_a_page_at_a_time => pagination;
    purge_removes_only_runs_older_than_the_retention => purge;
    a_failure_to_record_is_a_warning_not_an_error => record_failure_warns;
    a_viewer_sees_only_their_own_runs_and_an_admin_sees_all => page_per_role;
    the_csv_export_is_for_admins_quoted_and_audited => export_csv;
    the_query_history_table_has_its_columns_and_indexes => table_schema;
}

/// A migrated test database and a connection to its home database (where the history is), migrated too.
async fn migrated(kind: Kind) -> (TestDb, DatabaseConnection) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let home = strata::config::DatabaseUrl::parse(&t.home_url).unwrap();
    strata::home::migrate(&home).await.expect("migrate the home database");
    let db = t.connect_home().await;
    (t, db)
}

fn day(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc()
}

async fn queries(db: &DatabaseConnection, filter: &Filter) -> Vec<String> {
    history::search(db, filter, 1, 100).await.unwrap().runs.into_iter().map(|r| r.query).collect()
}

async fn record_and_read(kind: Kind) {
    let (t, db) = migrated(kind).await;
    let head = history::migration_head(&t.connect().await).await;
    assert_eq!(head.as_deref(), Some(HEAD.as_str()));
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    let ok_id = history::record(
        &db,
        NewRun::new("ann", "SELECT 1", RunStatus::Success)
            .at(t0)
            .elapsed(Duration::from_millis(42))
            .rows(1)
            .head(head.clone())
            .client("10.0.0.7"),
    )
    .await
    .unwrap();
    assert!(ok_id > 0);
    let batch = history::new_batch_id();
    let written = history::record_many(
        &db,
        vec![
            NewRun::new("ann", "UPDATE posts SET title = 'x'", RunStatus::Success)
                .batch(&batch, 0)
                .at(t0 + chrono::Duration::minutes(1))
                .rows(0),
            NewRun::new("ann", "SELEC oops", RunStatus::Error)
                .batch(&batch, 1)
                .at(t0 + chrono::Duration::minutes(2))
                .error("syntax error at or near \"SELEC\""),
            NewRun::new("bob", "SELECT pg_sleep(60)", RunStatus::Cancelled)
                .at(t0 + chrono::Duration::minutes(3))
                .elapsed(Duration::from_secs(3)),
            NewRun::new("bob", "SELECT pg_sleep(600)", RunStatus::Timeout)
                .at(t0 + chrono::Duration::minutes(4))
                .elapsed(Duration::from_secs(30))
                .error("statement timeout"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(written, 4);
    assert_eq!(history::record_many(&db, Vec::new()).await.unwrap(), 0);

    let page = history::search(&db, &Filter::default(), 1, 50).await.unwrap();
    assert_eq!(page.total, 5);
    let statuses: Vec<&str> = page.runs.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, ["timeout", "cancelled", "error", "success", "success"], "newest first");
    let first = page.runs.last().unwrap();
    assert_eq!(first.id, ok_id);
    assert_eq!((first.user.as_str(), first.query.as_str()), ("ann", "SELECT 1"));
    assert_eq!((first.execution_time, first.row_count), (42, Some(1)));
    assert_eq!(first.migration_head, head);
    assert_eq!(first.client_addr.as_deref(), Some("10.0.0.7"));
    assert!((first.timestamp - t0).num_seconds().abs() <= 1, "the time survives: {} vs {t0}", first.timestamp);
    assert_eq!((first.batch_id.as_deref(), first.error.as_deref()), (None, None));
    let failed = &page.runs[2];
    assert_eq!(failed.error.as_deref(), Some("syntax error at or near \"SELEC\""));
    assert_eq!((failed.batch_id.as_deref(), failed.statement_index), (Some(batch.as_str()), 1));
    assert_eq!(page.runs[3].batch_id.as_deref(), Some(batch.as_str()));
    assert_eq!(page.runs[3].statement_index, 0);
    assert_eq!((page.runs[0].execution_time, page.runs[0].row_count), (30_000, None));
    assert_eq!(history::users(&db).await.unwrap(), ["ann", "bob"]);

    // A long query is kept up to MAX_QUERY_CHARS characters, multi-byte ones included; NUL is replaced.
    let long = format!("SELECT '\0{}'", "ü".repeat(history::MAX_QUERY_CHARS));
    let id = history::record(&db, NewRun::new("ann", long, RunStatus::Success)).await.unwrap();
    let stored = history::all(&db, &Filter { user: Some("ann".into()), ..Default::default() }).await.unwrap();
    let stored = stored.into_iter().find(|r| r.id == id).unwrap().query;
    assert_eq!(stored.chars().count(), history::MAX_QUERY_CHARS);
    assert!(stored.starts_with("SELECT '\u{fffd}üü"), "{}", stored.chars().take(20).collect::<String>());
    db.close().await.ok();
    t.drop().await;
}

async fn search_filters(kind: Kind) {
    let (t, db) = migrated(kind).await;
    let runs = [
        ("ann", "SELECT '100%' AS pct", RunStatus::Success, day(2025, 11, 1)),
        ("ann", "SELECT 1000 AS pct", RunStatus::Success, day(2025, 11, 2)),
        ("bob", "SELECT a_b FROM t", RunStatus::Error, day(2025, 11, 3)),
        ("bob", "SELECT axb FROM t", RunStatus::Error, day(2025, 11, 4)),
        ("cy", "select UPPER_Case from Ünïcode", RunStatus::Cancelled, day(2025, 11, 5)),
        ("cy", "SELECT 'wow!' AS bang", RunStatus::Timeout, day(2025, 11, 6)),
    ];
    for (user, query, status, at) in runs {
        history::record(&db, NewRun::new(user, query, status).at(at)).await.unwrap();
    }
    let text = |s: &str| Filter { text: Some(s.into()), ..Default::default() };
    assert_eq!(queries(&db, &text("100%")).await, ["SELECT '100%' AS pct"], "% is literal");
    assert_eq!(queries(&db, &text("a_b")).await, ["SELECT a_b FROM t"], "_ is literal");
    assert_eq!(queries(&db, &text("wow!")).await, ["SELECT 'wow!' AS bang"], "the escape character is literal");
    assert_eq!(queries(&db, &text("upper_CASE FROM")).await, ["select UPPER_Case from Ünïcode"], "any case");
    assert_eq!(queries(&db, &text("' OR '1'='1")).await, Vec::<String>::new(), "text is a bound value");
    assert_eq!(queries(&db, &text("AS pct")).await.len(), 2);

    let status = |s: RunStatus| Filter { status: Some(s), ..Default::default() };
    assert_eq!(queries(&db, &status(RunStatus::Error)).await, ["SELECT axb FROM t", "SELECT a_b FROM t"]);
    assert_eq!(queries(&db, &status(RunStatus::Timeout)).await, ["SELECT 'wow!' AS bang"]);
    let user = Filter { user: Some("ann".into()), ..Default::default() };
    assert_eq!(queries(&db, &user).await, ["SELECT 1000 AS pct", "SELECT '100%' AS pct"]);

    let range = |from: Option<NaiveDate>, to: Option<NaiveDate>| Filter { from, to, ..Default::default() };
    let d = |n| NaiveDate::from_ymd_opt(2025, 11, n);
    assert_eq!(queries(&db, &range(d(2), d(3))).await, ["SELECT a_b FROM t", "SELECT 1000 AS pct"], "whole days");
    assert_eq!(queries(&db, &range(d(6), None)).await, ["SELECT 'wow!' AS bang"]);
    assert_eq!(queries(&db, &range(None, d(1))).await, ["SELECT '100%' AS pct"]);
    let err = history::search(&db, &range(d(5), d(1)), 1, 10).await.unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    let all = Filter {
        user: Some("bob".into()),
        status: Some(RunStatus::Error),
        from: d(4),
        to: d(4),
        text: Some("AXB".into()),
        database: None,
    };
    assert_eq!(queries(&db, &all).await, ["SELECT axb FROM t"], "filters combine");
    db.close().await.ok();
    t.drop().await;
}

async fn pagination(kind: Kind) {
    let (t, db) = migrated(kind).await;
    for i in 1..=7 {
        history::record(&db, NewRun::new("ann", format!("SELECT {i}"), RunStatus::Success).at(day(2025, 10, i)))
            .await
            .unwrap();
    }
    let all = Filter::default();
    let page = |n| history::search(&db, &all, n, 3);
    let p1 = page(1).await.unwrap();
    assert_eq!((p1.page, p1.pages, p1.total), (1, 3, 7));
    assert_eq!(p1.runs.iter().map(|r| r.query.as_str()).collect::<Vec<_>>(), ["SELECT 7", "SELECT 6", "SELECT 5"]);
    let p3 = page(3).await.unwrap();
    assert_eq!(p3.runs.iter().map(|r| r.query.as_str()).collect::<Vec<_>>(), ["SELECT 1"]);
    let beyond = page(99).await.unwrap();
    assert_eq!((beyond.page, beyond.runs.len()), (3, 1), "a page past the end is the last page");
    // The export's chunks walk every run once, in id order.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let chunk = history::chunk_after(&db, &all, after, 3).await.unwrap();
        let Some(last) = chunk.last() else { break };
        after = last.id;
        seen.extend(chunk.into_iter().map(|r| r.query));
    }
    assert_eq!(seen, (1..=7).map(|i| format!("SELECT {i}")).collect::<Vec<_>>());
    assert_eq!(history::count(&db, &all).await.unwrap(), 7);
    let none = history::search(&db, &Filter { user: Some("nobody".into()), ..Default::default() }, 1, 3).await.unwrap();
    assert_eq!((none.page, none.pages, none.total, none.runs.len()), (1, 1, 0, 0));
    db.close().await.ok();
    t.drop().await;
}

async fn purge(kind: Kind) {
    let (t, db) = migrated(kind).await;
    let now = Utc::now();
    for (query, age_days) in [("old", 100), ("recent", 10), ("now", 0)] {
        let at = now - chrono::Duration::days(age_days);
        history::record(&db, NewRun::new("ann", query, RunStatus::Success).at(at)).await.unwrap();
    }
    let days = |n: u64| Duration::from_secs(n * 86_400);
    assert_eq!(history::purge_older_than(&db, days(90)).await.unwrap(), 1);
    assert_eq!(queries(&db, &Filter::default()).await, ["now", "recent"]);
    assert_eq!(history::purge_older_than(&db, days(90)).await.unwrap(), 0, "nothing more to purge");

    // The background sweep does the same; a zero retention keeps everything and returns at once.
    tokio::time::timeout(Duration::from_secs(1), history::sweep(db.clone(), Duration::ZERO, Duration::from_millis(1)))
        .await
        .expect("a zero retention does not sweep");
    let sweeper = tokio::spawn(history::sweep(db.clone(), days(5), Duration::from_millis(50)));
    let mut left = Vec::new();
    for _ in 0..100 {
        left = queries(&db, &Filter::default()).await;
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sweeper.abort();
    assert_eq!(left, ["now"]);
    db.close().await.ok();
    t.drop().await;
}

async fn record_failure_warns(kind: Kind) {
    let (t, db) = migrated(kind).await;
    let run = || vec![NewRun::new("ann", "SELECT 1", RunStatus::Success)];
    assert_eq!(history::record_or_warn(&db, run()).await, None);
    exec(&db, "DROP TABLE query_history").await;
    let warning = history::record_or_warn(&db, run()).await.expect("a warning");
    assert!(warning.contains("could not be saved in the history"), "{warning}");
    assert!(history::record(&db, run().remove(0)).await.is_err());
    db.close().await.ok();
    t.drop().await;
}

async fn page_per_role(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let mut viewer = Browser::new(&t.url).await;
    let me = viewer.login_as(Role::Viewer).await;
    let db = viewer.state.home.clone();
    let long = format!("SELECT mine_long /* {} */", "x".repeat(300));
    for run in [
        NewRun::new(&me, "SELECT mine_ok", RunStatus::Success).rows(3).head(Some(HEAD.clone())),
        NewRun::new(&me, "SELEC mine_broken", RunStatus::Error).error("syntax error near SELEC"),
        NewRun::new(&me, &long, RunStatus::Success),
        NewRun::new("someone_else", "SELECT theirs", RunStatus::Success),
    ] {
        // Runs in the editor are recorded with the database they ran on.
        history::record(&db, run.database(APP)).await.unwrap();
    }

    let (status, _, page) = viewer.get("/history").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"href="/history""#), "the navigation links the page");
    for want in ["mine_ok", "mine_broken", "syntax error near SELEC", "badge-error", HEAD.as_str(), "3 runs"] {
        assert!(page.contains(want), "{want:?} in:\n{page}");
    }
    assert!(!page.contains("theirs"), "another user's run is hidden:\n{page}");
    assert!(page.contains(r#"href="/db/app/query?sql=SELECT+mine_ok""#), "open in editor:\n{page}");
    assert!(page.contains(r#"<form class="inline" method="post" action="/db/app/query">"#), "{page}");
    assert!(page.contains(r#"name="sql" value="SELECT mine_ok""#), "run again:\n{page}");
    assert!(page.contains("<details>"), "a long query folds:\n{page}");
    assert!(!page.contains("Export CSV"), "no export for a viewer");

    let (status, _, page) = viewer.get("/history?user=someone_else").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("mine_ok") && !page.contains("theirs"), "the user filter is forced:\n{page}");
    let (_, _, page) = viewer.get("/history?status=error").await;
    assert!(page.contains("mine_broken") && !page.contains("mine_ok"), "{page}");
    let (_, _, page) = viewer.get("/history?q=MINE_OK").await;
    assert!(page.contains("mine_ok") && !page.contains("mine_broken"), "{page}");
    let (_, _, page) = viewer.get(&format!("/history?database={APP}")).await;
    assert!(page.contains("mine_ok") && page.contains("3 runs"), "the runs on {APP}:\n{page}");
    let (_, _, page) = viewer.get("/history?database=crm").await;
    assert!(!page.contains("mine_ok"), "none ran on another database:\n{page}");
    assert_eq!(viewer.get("/history?status=done").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(viewer.get("/history?from=yesterday").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(viewer.get("/history?page=0").await.0, StatusCode::BAD_REQUEST);

    let mut admin = viewer.another();
    admin.login_as(Role::Admin).await;
    let (status, _, page) = admin.get("/history").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("mine_ok") && page.contains("theirs") && page.contains("4 runs"), "{page}");
    assert!(page.contains("Export CSV"), "{page}");
    let (_, _, page) = admin.get("/history?user=someone_else").await;
    assert!(page.contains("theirs") && !page.contains("mine_ok"), "an admin filters by user:\n{page}");

    let mut anonymous = viewer.another();
    let (status, _, _) = anonymous.get("/history").await;
    assert!(status.is_redirection(), "signing in comes first: {status}");
    t.drop().await;
}

async fn export_csv(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let mut viewer = Browser::new(&t.url).await;
    viewer.login_as(Role::Viewer).await;
    let tricky = "SELECT 'a,b' AS \"quoted\"\nFROM t";
    history::record(
        &viewer.state.home,
        NewRun::new("ann", tricky, RunStatus::Error).error("bad, \"very\" bad").rows(2),
    )
    .await
    .unwrap();
    history::record(&viewer.state.home, NewRun::new("bob", "SELECT 2", RunStatus::Success).database(APP))
        .await
        .unwrap();

    assert_eq!(viewer.get("/history/export.csv").await.0, StatusCode::FORBIDDEN);
    let mut editor = viewer.another();
    editor.login_as(Role::Editor).await;
    assert_eq!(editor.get("/history/export.csv").await.0, StatusCode::FORBIDDEN);

    let mut admin = viewer.another();
    let name = admin.login_as(Role::Admin).await;
    let (status, headers, body) = admin.get("/history/export.csv").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = headers[CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"strata-history-"), "{disposition}");
    assert!(disposition.ends_with("Z.csv\""), "{disposition}");
    let mut lines = body.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "id,timestamp,user,status,execution_time_ms,rows,query,error,migration_head,client_addr,batch_id,statement_index,database"
    );
    assert!(body.contains(",bob,success,0,,SELECT 2,,,,,0,app\r\n"), "{body}");
    assert!(
        body.contains(",ann,error,0,2,\"SELECT 'a,b' AS \"\"quoted\"\"\nFROM t\",\"bad, \"\"very\"\" bad\",,,,0,\r\n"),
        "commas, quotes and line breaks are quoted:\n{body}"
    );
    assert!(body.ends_with("\r\n"));

    // A long export streams in chunks: every run once, oldest first.
    let many = strata::web::history::EXPORT_CHUNK as usize * 2 + 10;
    let runs: Vec<NewRun> = (0..many).map(|i| NewRun::new("carl", format!("SELECT {i}"), RunStatus::Success)).collect();
    for part in runs.chunks(400) {
        history::record_many(&admin.state.home, part.to_vec()).await.unwrap();
    }
    let (status, _, body) = admin.get("/history/export.csv?user=carl").await;
    assert_eq!(status, StatusCode::OK);
    let records: Vec<&str> = body.split("\r\n").skip(1).filter(|l| !l.is_empty()).collect();
    assert_eq!(records.len(), many);
    let ids: Vec<i64> = records.iter().map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first, no repeats");
    assert!(records[many - 1].contains(&format!(",SELECT {},", many - 1)), "{}", records[many - 1]);

    let (_, _, only_bob) = admin.get("/history/export.csv?user=bob").await;
    assert_eq!(only_bob.split("\r\n").count(), 3, "header, one record, the empty end:\n{only_bob}");

    let db = t.connect().await;
    let home = t.connect_home().await;
    let audited = column(&home, "SELECT actor FROM audit_log WHERE action = 'history.export' ORDER BY id").await;
    assert_eq!(audited, [name.clone(), name.clone(), name]);
    let details = column(&home, "SELECT detail FROM audit_log WHERE action = 'history.export' ORDER BY id").await;
    let carl = format!("{many} runs, filters user=carl");
    assert_eq!(details, ["2 runs, no filters", carl.as_str(), "1 run, filters user=bob"]);
    db.close().await.ok();
    t.drop().await;
}

async fn table_schema(kind: Kind) {
    let (t, db) = migrated(kind).await;
    assert!(has_table(&db, "query_history").await);
    let (columns, indexes) = match kind {
        Kind::Postgres => (
            column(
                &db,
                "SELECT column_name::text FROM information_schema.columns \
                WHERE table_schema = current_schema() AND table_name = 'query_history' ORDER BY ordinal_position",
            )
            .await,
            column(
                &db,
                "SELECT indexname::text FROM pg_indexes \
                WHERE schemaname = current_schema() AND tablename = 'query_history' ORDER BY indexname",
            )
            .await,
        ),
        Kind::MySql => (
            column(
                &db,
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'query_history' ORDER BY ORDINAL_POSITION",
            )
            .await,
            column(
                &db,
                "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS \
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'query_history' ORDER BY INDEX_NAME",
            )
            .await,
        ),
        Kind::Sqlite => (
            column(&db, "SELECT name FROM pragma_table_info('query_history') ORDER BY cid").await,
            column(&db, "SELECT name FROM pragma_index_list('query_history') WHERE origin = 'c' ORDER BY name").await,
        ),
    };
    assert_eq!(
        columns,
        [
            "id",
            "batch_id",
            "statement_index",
            "query",
            "execution_time",
            "user",
            "timestamp",
            "status",
            "row_count",
            "error",
            "migration_head",
            "client_addr",
            "database_name"
        ]
    );
    let mut expected = vec![
        "idx_query_history_batch_id",
        "idx_query_history_database_timestamp",
        "idx_query_history_status",
        "idx_query_history_timestamp",
        "idx_query_history_user_timestamp",
    ];
    match kind {
        Kind::Postgres => expected.push("query_history_pkey"),
        Kind::MySql => expected.push("PRIMARY"),
        Kind::Sqlite => {}
    }
    assert_eq!(indexes, expected);
    // The home migrator's `down` to the audit log's migration drops it again.
    use sea_orm_migration::MigratorTrait;
    let newer = migration::HomeMigrator::migrations()
        .iter()
        .rev()
        .take_while(|m| m.name() != "m20251122_000005_create_audit_log")
        .count() as u32;
    migration::HomeMigrator::down(&db, Some(newer)).await.expect("the home migrations go down");
    assert!(!has_table(&db, "query_history").await);
    assert!(has_table(&db, "audit_log").await);
    db.close().await.ok();
    t.drop().await;
}
