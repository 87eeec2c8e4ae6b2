//! Large runs on every backend: a run of 10,000 statements is recorded in full in the query history, from
//! the editor and from `POST /api/v1/query` (each statement one row, the failing last one included).

mod common;

use axum::http::StatusCode;
use common::api::{key_for, post_json};
use common::web::{Browser, migrate_up};
use common::*;
use serde_json::json;
use strata::accounts::Role;
use strata::api_keys::Scope;

each_backend! {
    a_run_of_ten_thousand_statements_is_recorded_in_full => editor_run;
    an_api_run_of_ten_thousand_statements_is_recorded_in_full => api_run;
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
    let db = t.connect().await;
    let all = count(&db, "SELECT COUNT(*) FROM query_history").await;
    let errors = count(&db, "SELECT COUNT(*) FROM query_history WHERE status = 'error'").await;
    let batches = count(&db, "SELECT COUNT(DISTINCT batch_id) FROM query_history").await;
    let last = count(&db, "SELECT MAX(statement_index) FROM query_history").await;
    db.close().await.ok();
    (all, errors, batches, last)
}

async fn editor_run(kind: Kind) {
    let (t, mut b) = served(kind).await;
    b.login_as(Role::Editor).await;
    b.get("/query").await;
    let sql = big_run();
    let (status, _, page) = b.post_form("/query", &[("sql", sql.as_str())]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("could not be saved in the history"), "{}", &page[..page.len().min(2000)]);
    assert_eq!(recorded(&t).await, (STATEMENTS as i64, 1, 1, STATEMENTS as i64 - 1));
    t.drop().await;
}

async fn api_run(kind: Kind) {
    let (t, mut b) = served(kind).await;
    let (_, key) = key_for(&b.state, Role::Editor, &[Scope::RunSql]).await;
    let (status, _, answer) = post_json(&mut b, "/api/v1/query", &key, json!({ "sql": big_run() })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["results"].as_array().map(Vec::len), Some(STATEMENTS));
    assert_eq!(recorded(&t).await, (STATEMENTS as i64, 1, 1, STATEMENTS as i64 - 1));
    t.drop().await;
}
