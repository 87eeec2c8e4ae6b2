//! `POST /api/v1/query` and `POST /api/v1/export` as a client sees them, on SQLite, PostgreSQL and MariaDB: results per statement, values, limits, read-only keys, history, exports, bad bodies.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use common::api::{error, json_request, key_for, key_of, post_json};
use common::web::{Browser, app_state_with, migrate_up};
use common::*;
use serde_json::{Value, json};
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;
use strata::home::history;

each_backend! {
    a_run_answers_each_statement_and_stops_at_the_first_error_with_its_position => statements;
    values_come_as_json_null_json_hex_and_exact_numbers => values;
    rows_past_max_rows_are_left_out_and_flagged => truncation;
    a_statement_past_query_timeout_is_stopped_and_recorded => timeout;
    read_only_keys_cannot_write_not_even_after_commit => read_only;
    a_key_needs_a_run_scope_to_run_or_export_sql => scopes;
    every_statement_is_recorded_as_the_key_s_owner_and_key_with_failures => history;
    an_export_streams_the_whole_result_as_csv_json_and_ndjson => export;
    bad_bodies_get_400_naming_the_field => bad_bodies;
}

/// A migrated database and a client of a server with `change`d settings.
async fn served(kind: Kind, change: impl FnOnce(&mut strata::config::Settings)) -> (TestDb, Browser) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let b = Browser::with_state(app_state_with(&t.url, change).await);
    (t, b)
}

/// `SELECT n` for n from 1 to `rows`.
fn series(kind: Kind, rows: u32) -> String {
    match kind {
        Kind::Postgres => format!("SELECT g AS n FROM generate_series(1, {rows}) g"),
        // Not the Sequence engine's seq_1_to_N: the viewer login's table-level grants do not cover it.
        Kind::MySql => format!(
            "SET STATEMENT max_recursive_iterations = {rows} FOR \
             WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) SELECT n FROM s"
        ),
        Kind::Sqlite => {
            format!("WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) SELECT n FROM s")
        }
    }
}

async fn users(t: &TestDb) -> i64 {
    count(&t.connect().await, "SELECT COUNT(*) FROM users").await
}

async fn statements(kind: Kind) {
    let (t, mut b) = served(kind, |_| {}).await;
    let (_, key) = key_for(&b.state, Role::Editor, &[Scope::RunSql]).await;
    let sql = "INSERT INTO users (username, email) VALUES ('q1', 'q1@example.com');\n\
               SELECT username, email FROM users WHERE username = 'q1';\n\
               SELECT * FROM users WHERE WHERE id = 1;\n\
               SELECT 'never runs'";
    let (status, headers, body) = post_json(&mut b, "/api/v1/databases/app/query", &key, json!({ "sql": sql })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "the run stops at the failing statement: {body}");

    let insert = &results[0];
    assert_eq!((&insert["status"], &insert["rows_affected"]), (&json!("success"), &json!(1)), "{insert}");
    assert_eq!((&insert["columns"], &insert["rows"], &insert["error"]), (&json!([]), &json!([]), &Value::Null));

    let select = &results[1];
    let names: Vec<&str> = select["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["username", "email"]);
    assert!(select["columns"][0]["type"].as_str().is_some_and(|t| !t.is_empty()), "{select}");
    assert_eq!(select["rows"], json!([["q1", "q1@example.com"]]));
    assert_eq!((&select["truncated"], &select["rows_affected"]), (&json!(false), &Value::Null));
    assert!(select["duration_ms"].is_u64());

    let failed = &results[2];
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["sql"], "SELECT * FROM users WHERE WHERE id = 1");
    let message = failed["error"]["message"].as_str().expect("a message");
    assert!(message.to_lowercase().contains("syntax") || message.contains("WHERE"), "{message}");
    if kind == Kind::Sqlite {
        // SQLite names the token but not its offset: no position rather than a wrong one.
        assert_eq!(failed["error"]["position"], Value::Null);
    } else {
        let column = "SELECT * FROM users WHERE ".len() + 1;
        let offset = sql.find("WHERE id").unwrap();
        assert_eq!(failed["error"]["position"], json!({ "offset": offset, "line": 3, "column": column }));
    }
    assert_eq!(count(&t.connect().await, "SELECT COUNT(*) FROM users WHERE username = 'q1'").await, 1, "it wrote");
    t.drop().await;
}

async fn values(kind: Kind) {
    let (t, mut b) = served(kind, |_| {}).await;
    let (_, key) = key_for(&b.state, Role::Viewer, &[Scope::RunReadonlySql]).await;
    let sql = match kind {
        Kind::Postgres => {
            "SELECT NULL::text AS nil, ''::text AS empty, '{\"a\": [1, 2]}'::jsonb AS doc, '\\x00ff'::bytea AS bytes, \
             12345678901234567890.123456789::numeric AS big, 9223372036854775807::int8 AS max_int, 1.5::float8 AS half, \
             1.10::numeric AS scaled, true AS yes"
        }
        Kind::MySql => {
            "SELECT NULL AS nil, '' AS empty, JSON_OBJECT('a', JSON_ARRAY(1, 2)) AS doc, UNHEX('00FF') AS bytes, \
             CAST('12345678901234567890.123456789' AS DECIMAL(40, 9)) AS big, 9223372036854775807 AS max_int, \
             1.5e0 AS half, CAST(1.10 AS DECIMAL(4, 2)) AS scaled, TRUE AS yes"
        }
        Kind::Sqlite => {
            "SELECT NULL AS nil, '' AS empty, json_object('a', json_array(1, 2)) AS doc, x'00ff' AS bytes, \
             '12345678901234567890.123456789' AS big, 9223372036854775807 AS max_int, 1.5 AS half, '1.10' AS scaled, \
             1 AS yes"
        }
    };
    let (status, _, body) = post_json(&mut b, "/api/v1/databases/app/query", &key, json!({ "sql": sql })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["status"], "success", "{body}");
    let row = &body["results"][0]["rows"][0];
    assert_eq!(row[0], Value::Null, "NULL is null");
    assert_eq!(row[1], "", "and not the empty string");
    let doc = json!({"a": [1, 2]});
    match kind {
        Kind::Postgres => assert_eq!(row[2], doc, "JSON is JSON"),
        // MariaDB's JSON and SQLite's are text: it arrives as text that parses to the same value.
        _ => assert_eq!(serde_json::from_str::<Value>(row[2].as_str().unwrap()).unwrap(), doc),
    }
    assert_eq!(row[3], "\\x00ff", "bytes as hex");
    assert_eq!(row[4], "12345678901234567890.123456789", "a number JSON would round comes as its exact text");
    assert_eq!(row[5], json!(9223372036854775807i64), "a 64-bit integer stays a number, exactly");
    assert_eq!(row[6], json!(1.5));
    assert_eq!(row[7], "1.10", "the scale is kept");
    if kind == Kind::Postgres {
        assert_eq!(row[8], true);
        assert_eq!(body["results"][0]["columns"][4]["type"], "NUMERIC");
    }
    t.drop().await;
}

async fn truncation(kind: Kind) {
    let (t, mut b) = served(kind, |s| s.max_rows = 50).await;
    let (_, key) = key_for(&b.state, Role::Viewer, &[Scope::RunReadonlySql]).await;
    let sql = series(kind, 120);
    let run = |max_rows: Value| json!({ "sql": sql, "max_rows": max_rows });
    let (status, _, body) = post_json(&mut b, "/api/v1/databases/app/query", &key, run(json!(3))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["rows"], json!([[1], [2], [3]]));
    assert_eq!(body["results"][0]["truncated"], true);
    let (_, _, body) = post_json(&mut b, "/api/v1/databases/app/query", &key, json!({ "sql": sql })).await;
    assert_eq!(body["results"][0]["rows"].as_array().unwrap().len(), 50, "the max_rows setting is the default");
    assert_eq!(body["results"][0]["truncated"], true);
    let (_, _, body) = post_json(&mut b, "/api/v1/databases/app/query", &key, json!({ "sql": series(kind, 50) })).await;
    assert_eq!(body["results"][0]["truncated"], false, "exactly max_rows rows: nothing left out");
    let above = post_json(&mut b, "/api/v1/databases/app/query", &key, run(json!(51))).await;
    let message = error(&above, StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("max_rows") && message.contains("50"), "{message}");
    t.drop().await;
}

async fn timeout(kind: Kind) {
    let (t, mut b) = served(kind, |s| s.query_timeout = Duration::from_secs(1)).await;
    let (_, key) = key_for(&b.state, Role::Viewer, &[Scope::RunReadonlySql]).await;
    let slow = match kind {
        Kind::Postgres => "SELECT pg_sleep(10)",
        Kind::MySql => {
            "SELECT COUNT(*) FROM information_schema.COLUMNS a, information_schema.COLUMNS b, information_schema.COLUMNS c"
        }
        Kind::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c"
        }
    };
    let started = std::time::Instant::now();
    let (status, _, body) =
        post_json(&mut b, "/api/v1/databases/app/query", &key, json!({ "sql": format!("SELECT 1; {slow}; SELECT 2") }))
            .await;
    assert!(started.elapsed() < Duration::from_secs(8), "stopped near the 1 s limit, took {:?}", started.elapsed());
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "nothing runs after the timeout: {body}");
    assert_eq!(results[1]["status"], "timeout", "{body}");
    assert!(results[1]["error"]["message"].as_str().unwrap().contains("query_timeout"), "{body}");
    let db = t.connect_home().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM query_history WHERE status = 'timeout'").await, 1);
    t.drop().await;
}

async fn read_only(kind: Kind) {
    let (t, mut b) = served(kind, |_| {}).await;
    exec(&t.connect().await, "INSERT INTO users (username, email) VALUES ('keep', 'keep@example.com')").await;
    let before = users(&t).await;
    let (_, viewer_run_sql) = key_for(&b.state, Role::Viewer, &[Scope::RunSql]).await;
    let (editor, editor_read_only) = key_for(&b.state, Role::Editor, &[Scope::RunReadonlySql]).await;
    for key in [&viewer_run_sql, &editor_read_only] {
        for sql in ["DELETE FROM users", "COMMIT; DELETE FROM users", "SELECT 1; COMMIT; DELETE FROM users"] {
            let (status, _, body) = post_json(&mut b, "/api/v1/databases/app/query", key, json!({ "sql": sql })).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            // Refused by the database: the DELETE itself, or the COMMIT before it (SQLite, MariaDB).
            let results = body["results"].as_array().unwrap();
            assert_eq!(results.last().unwrap()["status"], "error", "{sql}: {body}");
            assert!(!results.iter().any(|r| r["sql"] == "DELETE FROM users" && r["status"] == "success"), "{body}");
            assert_eq!(users(&t).await, before, "{sql}: the data is unchanged");
        }
        let (status, _, body) = post_json(
            &mut b,
            "/api/v1/databases/app/export",
            key,
            json!({ "sql": "DELETE FROM users", "format": "csv" }),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a refused write is a JSON error, not a download: {body}");
    }
    // The same account's key with run_sql writes; under read_only_for_all even an admin's does not.
    let writer = key_of(&b.state, &editor, Role::Editor, &[Scope::RunSql]).await;
    let delete = json!({ "sql": "DELETE FROM users WHERE username = 'keep'" });
    let mut locked = Browser::with_state(app_state_with(&t.url, |s| s.read_only_for_all = true).await);
    let (_, admin) = key_for(&locked.state, Role::Admin, &Scope::ALL).await;
    let (_, _, body) = post_json(&mut locked, "/api/v1/databases/app/query", &admin, &delete).await;
    assert_eq!(body["results"][0]["status"], "error", "read_only_for_all holds admin keys too: {body}");
    assert_eq!(users(&t).await, before);
    let (_, _, body) = post_json(&mut b, "/api/v1/databases/app/query", &writer, &delete).await;
    assert_eq!(body["results"][0]["rows_affected"], 1, "{body}");
    assert_eq!(users(&t).await, before - 1);
    t.drop().await;
}

async fn scopes(kind: Kind) {
    let (t, mut b) = served(kind, |_| {}).await;
    let (_, catalog_only) = key_for(&b.state, Role::Admin, &[Scope::ReadCatalog, Scope::ReadMetrics]).await;
    for (path, body) in [
        ("/api/v1/databases/app/query", json!({ "sql": "SELECT 1" })),
        ("/api/v1/databases/app/export", json!({ "sql": "SELECT 1", "format": "csv" })),
        // A key without the scope learns that first, whatever its body.
        ("/api/v1/databases/app/query", json!({ "nonsense": true })),
    ] {
        let message =
            error(&post_json(&mut b, path, &catalog_only, &body).await, StatusCode::FORBIDDEN, "missing_scope");
        assert!(message.contains("run_readonly_sql") && message.contains("run_sql"), "{message}");
    }
    let unauthorized = json_request("/api/v1/databases/app/query", "strata_nope_nope", json!({ "sql": "SELECT 1" }));
    let (status, _, _) = b.send(unauthorized).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let db = t.connect_home().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM query_history").await, 0, "nothing ran, nothing recorded");
    t.drop().await;
}

async fn history(kind: Kind) {
    let (t, mut b) = served(kind, |_| {}).await;
    b.set_client_addr("203.0.113.7:4000");
    let (owner, key) = key_for(&b.state, Role::Editor, &[Scope::RunSql]).await;
    let prefix = key.trim_start_matches("strata_").split_once('_').unwrap().0.to_string();
    let (_, _, body) = post_json(
        &mut b,
        "/api/v1/databases/app/query",
        &key,
        json!({ "sql": "SELECT 1 AS one; SELECT nope FROM users" }),
    )
    .await;
    assert_eq!(body["results"].as_array().unwrap().len(), 2, "{body}");
    let db = t.connect_home().await;
    let who = format!("{owner} (key strata_{prefix})");
    let mut runs = history::all(&db, &history::Filter::default()).await.unwrap();
    runs.sort_by_key(|r| r.statement_index);
    let seen: Vec<_> = runs
        .iter()
        .map(|r| (r.user.as_str(), r.status.as_str(), r.client_addr.as_deref(), r.query.as_str(), r.batch_id.is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            (who.as_str(), "success", Some("203.0.113.7"), "SELECT 1 AS one", true),
            (who.as_str(), "error", Some("203.0.113.7"), "SELECT nope FROM users", true)
        ]
    );
    assert_eq!(runs[0].batch_id, runs[1].batch_id, "one run, one batch");
    assert!(runs.iter().all(|r| r.database_name.as_deref() == Some(APP)), "each run names its database: {runs:?}");
    assert!(runs[1].error.as_deref().unwrap_or("").contains("nope"), "the failure's message is kept: {:?}", runs[1]);
    // The owner's history, read with another of the owner's keys, has the runs made through the first.
    let reader = key_of(&b.state, &owner, Role::Editor, &[Scope::ReadCatalog]).await;
    let (_, _, listed) = common::api::get(&mut b, "/api/v1/history", &reader).await;
    assert_eq!(listed["total"], 2, "{listed}");
    assert_eq!(listed["items"][0]["user"], who.as_str());
    t.drop().await;
}

async fn export(kind: Kind) {
    let (t, mut b) = served(kind, |s| s.max_rows = 10).await;
    let (_, key) = key_for(&b.state, Role::Viewer, &[Scope::RunReadonlySql]).await;
    let sql = series(kind, 2500);
    let mut bodies = Vec::new();
    for (format, mime) in [("csv", "text/csv"), ("json", "application/json"), ("ndjson", "application/x-ndjson")] {
        let req = json_request("/api/v1/databases/app/export", &key, json!({ "sql": sql, "format": format }));
        let (status, headers, body) = b.send(req).await;
        assert_eq!(status, StatusCode::OK, "{format}: {body}");
        assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with(mime), "{format}: {:?}", headers[CONTENT_TYPE]);
        let disposition = headers[CONTENT_DISPOSITION].to_str().unwrap();
        let stem =
            t.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect::<String>();
        assert!(disposition.starts_with("attachment; filename=\"") && disposition.contains(&stem), "{disposition}");
        assert!(disposition.ends_with(&format!(".{format}\"")), "{disposition}");
        bodies.push(body);
    }
    let want: Vec<u32> = (1..=2500).collect();
    let csv: Vec<u32> = bodies[0].lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(bodies[0].lines().next(), Some("n"));
    assert_eq!(csv, want, "the whole result, not max_rows of it");
    let json: Vec<Value> = serde_json::from_str(&bodies[1]).expect("one JSON array");
    assert_eq!(json.iter().map(|o| o["n"].as_u64().unwrap() as u32).collect::<Vec<_>>(), want);
    let ndjson: Vec<u32> =
        bodies[2].lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["n"].as_u64().unwrap() as u32).collect();
    assert_eq!(ndjson, want);

    // An empty result is an empty file (with its header where the backend names the columns), not a
    // broken connection.
    let empty = json!({ "sql": "SELECT username FROM users WHERE 1 = 0", "format": "csv" });
    let (status, _, body) = b.send(json_request("/api/v1/databases/app/export", &key, empty)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.is_empty() || body == "username\n", "{body:?}");
    let failing = json!({ "sql": "SELECT no_such_column FROM users", "format": "csv" });
    let answer = post_json(&mut b, "/api/v1/databases/app/export", &key, failing).await;
    assert!(answer.1.get(CONTENT_DISPOSITION).is_none());
    assert!(error(&answer, StatusCode::BAD_REQUEST, "bad_request").contains("no_such_column"));
    let two = json!({ "sql": "SELECT 1; SELECT 2", "format": "json" });
    assert!(
        error(
            &post_json(&mut b, "/api/v1/databases/app/export", &key, two).await,
            StatusCode::BAD_REQUEST,
            "bad_request"
        )
        .contains("exactly one statement")
    );

    let db = t.connect_home().await;
    let exports = |status: &'static str, want: usize| {
        let db = db.clone();
        async move {
            let runs = history::all(&db, &history::Filter::default()).await.unwrap();
            let runs: Vec<_> = runs
                .into_iter()
                .filter(|r| r.status == status && r.query.starts_with("-- export") && r.user.contains(" (key strata_"))
                .collect();
            Some(runs).filter(|r| r.len() >= want)
        }
    };
    let done = eventually("the four exports are in the history", || exports("success", 4)).await;
    let mut rows: Vec<_> = done.iter().map(|r| r.row_count).collect();
    rows.sort();
    assert_eq!(rows, [Some(0), Some(2500), Some(2500), Some(2500)]);
    let failed = eventually("the failed exports are recorded as failed", || exports("error", 2)).await;
    assert_eq!(failed.len(), 2, "the statement that failed and the text of two statements");
    t.drop().await;
}

async fn bad_bodies(kind: Kind) {
    let (t, mut b) = served(kind, |_| {}).await;
    let (_, key) = key_for(&b.state, Role::Editor, &Scope::ALL).await;
    for (path, body, field) in [
        ("/api/v1/databases/app/query", "{}", "sql"),
        ("/api/v1/databases/app/query", r#"{"sql": 1}"#, "sql"),
        ("/api/v1/databases/app/query", r#"{"sql": "  "}"#, "sql"),
        ("/api/v1/databases/app/query", r#"{"sql": null}"#, "sql"),
        ("/api/v1/databases/app/query", r#"{"sql": "SELECT 1", "max_rows": 0}"#, "max_rows"),
        ("/api/v1/databases/app/query", r#"{"sql": "SELECT 1", "max_rows": -1}"#, "max_rows"),
        ("/api/v1/databases/app/query", r#"{"sql": "SELECT 1", "max_rows": "ten"}"#, "max_rows"),
        ("/api/v1/databases/app/query", r#"{"sql": "SELECT 1", "max_rows": 1e99}"#, "max_rows"),
        ("/api/v1/databases/app/query", r#"{"sql": "SELECT 1""#, "JSON"),
        ("/api/v1/databases/app/query", "[]", "JSON"),
        ("/api/v1/databases/app/export", r#"{"sql": "SELECT 1"}"#, "format"),
        ("/api/v1/databases/app/export", r#"{"sql": "SELECT 1", "format": "xlsx"}"#, "format"),
        ("/api/v1/databases/app/export", r#"{"format": "csv"}"#, "sql"),
        ("/api/v1/databases/app/export", r#"{"sql": "", "format": "csv"}"#, "sql"),
    ] {
        let message = error(&post_json(&mut b, path, &key, body).await, StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(field), "{path} {body}: {message:?} names {field}");
    }
    let db = t.connect_home().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM query_history").await, 0, "nothing ran");
    t.drop().await;
}
