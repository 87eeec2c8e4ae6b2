//! Large runs on every backend: a run of 10,000 statements is recorded in full in the query history, from
//! the editor and from `POST /api/v1/databases/{name}/query` (each statement one row, the failing last one
//! included).

mod common;

use axum::http::StatusCode;
use common::api::{key_for, post_json};
use common::web::{Browser, app_state_with, migrate_up};
use common::*;
use serde_json::json;
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;

each_backend! {
    a_run_of_ten_thousand_statements_is_recorded_in_full => editor_run;
    an_api_run_of_ten_thousand_statements_is_recorded_in_full => api_run;
    a_text_over_max_sql_bytes_is_refused_with_413_naming_the_setting => over_the_limit;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raised_max_sql_bytes_lets_a_text_past_the_default_body_limit_run() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let mut b = Browser::with_state(app_state_with(&t.url, |s| s.max_sql_bytes = 3_000_000).await);
    b.login_as(Role::Editor).await;
    b.get("/db/app/query").await;
    // 2.5 MB of text, urlencoded to more than axum's default 2 MiB body limit.
    let sql = format!("SELECT length('{}') AS n", "x/".repeat(1_250_000));
    let (status, _, page) = b.post_form("/db/app/query", &[("sql", sql.as_str())]).await;
    assert_eq!(status, StatusCode::OK, "{}", &page[..page.len().min(500)]);
    assert!(page.contains("2500000"), "the statement ran");
    t.drop().await;
}

const STATEMENTS: usize = 10_000;

/// 9,999 `SELECT 1` and a last statement that fails: more rows than one INSERT may bind on any backend.
/// (The same text each time: 10,000 different ones take MariaDB ~45 ms each, as every prepared statement
/// evicted from the driver's cache costs a round trip stalled by delayed ACKs.)
fn big_run() -> String {
    let mut sql = "SELECT 1;\n".repeat(STATEMENTS - 1);
    sql.push_str("SELECT no_such_column FROM users;\n");
    sql
}

async fn served(kind: Kind) -> (TestDb, Browser) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let b = Browser::new(&t.url).await;
    (t, b)
}

/// Rows of `query_history` per status, for the one batch recorded.
async fn recorded(t: &TestDb) -> (i64, i64, i64, i64) {
    let home = t.connect_home().await;
    let all = count(&home, "SELECT COUNT(*) FROM query_history").await;
    let errors = count(&home, "SELECT COUNT(*) FROM query_history WHERE status = 'error'").await;
    let batches = count(&home, "SELECT COUNT(DISTINCT batch_id) FROM query_history").await;
    let last = count(&home, "SELECT COALESCE(MAX(statement_index), -1) FROM query_history").await;
    home.close().await.ok();
    (all, errors, batches, last)
}

async fn editor_run(kind: Kind) {
    let (t, mut b) = served(kind).await;
    b.login_as(Role::Editor).await;
    b.get("/db/app/query").await;
    let sql = big_run();
    let (status, _, page) = b.post_form("/db/app/query", &[("sql", sql.as_str())]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("could not be saved in the history"), "{}", &page[..page.len().min(2000)]);
    assert_eq!(recorded(&t).await, (STATEMENTS as i64, 1, 1, STATEMENTS as i64 - 1));
    t.drop().await;
}

async fn api_run(kind: Kind) {
    let (t, mut b) = served(kind).await;
    let (_, key) = key_for(&b.state, Role::Editor, &[Scope::RunSql]).await;
    let (status, _, answer) = post_json(&mut b, "/api/v1/databases/app/query", &key, json!({ "sql": big_run() })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["results"].as_array().map(Vec::len), Some(STATEMENTS));
    assert_eq!(recorded(&t).await, (STATEMENTS as i64, 1, 1, STATEMENTS as i64 - 1));
    t.drop().await;
}

async fn over_the_limit(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let mut b = Browser::with_state(app_state_with(&t.url, |s| s.max_sql_bytes = 1000).await);
    b.login_as(Role::Editor).await;
    b.get("/db/app/query").await;
    let sql = format!("SELECT '{}'", "x".repeat(1000));
    let (status, _, page) = b.post_form("/db/app/query", &[("sql", sql.as_str())]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.contains("1009 bytes") && page.contains("max_sql_bytes"), "{page}");
    let (_, key) = key_for(&b.state, Role::Editor, &[Scope::RunSql]).await;
    let mut client = b.another(); // a bearer request, without the page's session cookie
    let (status, _, answer) = post_json(&mut client, "/api/v1/databases/app/query", &key, json!({ "sql": sql })).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"]["code"], "too_large", "{answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("max_sql_bytes")), "{answer}");
    assert_eq!(recorded(&t).await.0, 0, "nothing ran, nothing is recorded");
    t.drop().await;
}
