//! Database errors as users read them: PostgreSQL's C source line (sqlx's " at line N") never ends a message.

mod common;

use axum::http::StatusCode;
use common::api::{key_for, post_json};
use common::web::{Browser, migrate_up};
use common::*;
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;

/// Whether `text` ends in ` at line <digits>`.
fn ends_in_a_line_number(text: &str) -> bool {
    text.trim_end()
        .rsplit_once(" at line ")
        .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_exports_and_runs_on_postgres_do_not_end_in_the_server_s_source_line() {
    let t = TestDb::new(Kind::Postgres).await;
    migrate_up(&t).await;
    let mut b = Browser::new(&t.url).await;
    let (_, key) = key_for(&b.state, Role::Admin, &Scope::ALL).await;

    // A statement that fails on its first row: an export answers 400 with the database's message.
    for sql in ["SELECT 1/0", "SELECT 'abc'::int", "SELECT * FROM no_such_table"] {
        let body = serde_json::json!({"sql": sql, "format": "csv"});
        let (status, _, answer) = post_json(&mut b, "/api/v1/databases/app/export", &key, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{sql}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("the export failed: "), "{sql}: {message}");
        assert!(!ends_in_a_line_number(message), "{sql}: the message ends in a C source line: {message}");

        let body = serde_json::json!({"sql": sql});
        let (status, _, answer) = post_json(&mut b, "/api/v1/databases/app/query", &key, body).await;
        assert_eq!(status, StatusCode::OK, "{sql}: {answer}");
        let message = answer["results"][0]["error"]["message"].as_str().unwrap();
        assert!(!ends_in_a_line_number(message), "{sql}: the message ends in a C source line: {message}");
    }
    let (status, _, answer) =
        post_json(&mut b, "/api/v1/databases/app/export", &key, r#"{"sql": "SELECT 1/0", "format": "csv"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"]["message"].as_str().unwrap().contains("division by zero"), "{answer}");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_login_on_postgres_reads_without_the_server_s_source_line() {
    let t = TestDb::new(Kind::Postgres).await;
    // The server's FATAL answers carry a source line too: a database and a role that do not exist.
    let no_database = format!("{}_missing", t.url);
    let no_role = t.url.replacen("postgres@", "strata_no_such_role@", 1);
    for url in [no_database, no_role] {
        let out = strata(&url, &["migrate", "status"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{url}: {err}");
        assert!(err.contains("does not exist"), "{url}: the server's message is shown: {err}");
        let line_number = err
            .match_indices(" at line ")
            .any(|(i, m)| err[i + m.len()..].chars().next().is_some_and(|c| c.is_ascii_digit()));
        assert!(!line_number, "{url}: the message carries a C source line: {err}");
        let hint = if url.contains("no_such_role") { "check the user name" } else { "create the database first" };
        assert!(err.contains(hint), "{url}: the hint fits the cause: {err}");
    }
    t.drop().await;
}

/// A connection to a port nobody listens on (bound, then let go), from Strata's pool and from the query
/// editor's own connection: both name the refusal and the address, never the pool's time-out.
async fn refused(scheme: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = strata::config::DatabaseUrl::parse(&format!("{scheme}://app@127.0.0.1:{port}/app")).unwrap();
    let expected = format!("connection refused at 127.0.0.1:{port}");
    let err = strata::db::connect(&url, strata::db::Purpose::Cli).await.unwrap_err().to_string();
    assert!(err.contains(&expected), "{err}");
    assert!(!err.to_lowercase().contains("pool timed out"), "{err}");
    let opts = strata::query::RunOptions {
        read_only: false,
        timeout: std::time::Duration::from_secs(5),
        max_rows: 10,
        user: "tester".into(),
    };
    let err = strata::query::Engine::new(url).run("SELECT 1", &opts).await.unwrap_err().to_string();
    assert!(err.contains(&expected), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_to_postgres_says_so_and_where() {
    refused("postgresql").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_to_mariadb_says_so_and_where() {
    refused("mysql").await;
}

#[test]
fn a_line_number_at_the_end_is_recognised() {
    assert!(ends_in_a_line_number("the export failed: division by zero at line 414"));
    assert!(!ends_in_a_line_number("syntax error near 'x' at line one"));
    assert!(!ends_in_a_line_number("division by zero (22012)"));
}
