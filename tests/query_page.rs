//! The query editor through the router on every backend: results per statement, read-only viewers, history rows,
//! export, the names behind autocomplete, error positions of a selection, and cancel from another request.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use common::web::Browser;
use common::*;
use strata::home::accounts::Role;

each_backend! {
    an_editor_runs_several_statements_and_each_is_recorded => several_statements;
    a_viewer_cannot_write_and_the_refusal_is_recorded => viewer_read_only;
    an_export_streams_the_whole_result_as_a_file => export_file;
    read_only_for_all_holds_admins_to_reading_too => read_only_for_all;
    the_editor_reads_table_and_column_names_for_completion => names_for_completion;
    an_error_in_a_selection_is_placed_in_the_whole_text => selection_error_position;
    the_answer_does_not_wait_for_the_history_row_and_the_row_is_still_written => answer_before_history;
}

async fn migrated(kind: Kind) -> (TestDb, Browser) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let b = Browser::new(&t.url).await;
    (t, b)
}

async fn several_statements(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let me = b.login_as(Role::Editor).await;
    assert_eq!(b.get("/db/app/query").await.0, StatusCode::OK);
    let sql = "INSERT INTO users (username, email) VALUES ('q1', 'q1@example.com');\n\
               SELECT username, email, NULL AS nil, '' AS empty FROM users WHERE username = 'q1';\n\
               SELECT no_such_column FROM users";
    let (status, _, page) = b.post_form("/db/app/query", &[("sql", sql)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("1 rows affected"), "the insert reports its row:\n{page}");
    assert!(page.contains("q1@example.com") && page.contains(r#"class="cell-null">NULL"#), "{page}");
    assert!(page.contains(r#"class="cell-text"></td>"#), "an empty string is not NULL:\n{page}");
    assert!(page.contains("badge-error") && page.contains("no_such_column"), "the failing statement's error:\n{page}");
    let home = t.connect_home().await;
    let sql =
        format!("SELECT COUNT(*) FROM query_history WHERE {} = '{me}' AND database_name = 'app'", t.quote("user"));
    assert_eq!(
        count(&home, &sql).await,
        3,
        "one history row per statement, the failure included, each with its database"
    );
    let errors = count(&home, "SELECT COUNT(*) FROM query_history WHERE status = 'error'").await;
    assert_eq!(errors, 1);
    let (_, _, history) = b.get("/history").await;
    assert!(history.contains("no_such_column"), "the history page lists the failed run:\n{history}");
    assert_eq!(b.post_form("/db/app/query", &[("sql", "  ")]).await.0, StatusCode::BAD_REQUEST);
    t.drop().await;
}

async fn answer_before_history(kind: Kind) {
    use http_body_util::BodyExt;
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Viewer).await;
    assert_eq!(b.get("/db/app/query").await.0, StatusCode::OK);
    let home = t.connect_home().await;
    let recorded = "SELECT COUNT(*) FROM query_history WHERE query = 'SELECT 4243 AS answered_first'";
    // Another session holds back every INSERT into the history (reads still go through).
    let holder = t.connect_home().await;
    let txn = holder.begin().await.unwrap();
    let hold = match kind {
        Kind::Postgres => "LOCK TABLE query_history IN SHARE MODE",
        // A locking read to the end of the primary key also locks the gap after it, where new rows go.
        Kind::MySql => "SELECT id FROM query_history WHERE id >= 0 FOR UPDATE",
        // The first write of a transaction takes the database's one write lock.
        Kind::Sqlite => "DELETE FROM query_history WHERE id < 0",
    };
    txn.execute_unprepared(hold).await.unwrap();
    let res = b.post_form_streaming("/db/app/query", &[("sql", "SELECT 4243 AS answered_first")]).await;
    let status = res.status();
    let page = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("answered_first") && page.contains("4243"), "the result is on the page:\n{page}");
    assert!(!page.contains("could not be saved"), "the answer did not wait for the history table:\n{page}");
    assert_eq!(count(&home, recorded).await, 0, "the row waits for the lock; the answer did not");
    txn.rollback().await.unwrap();
    b.state.history.settled().await;
    assert_eq!(count(&home, recorded).await, 1, "the row is written once the table lets it");
    t.drop().await;
}

async fn viewer_read_only(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Viewer).await;
    b.get("/db/app/query").await;
    let db = t.connect().await;
    let home = t.connect_home().await;
    exec(&db, "INSERT INTO users (username, email) VALUES ('kept', 'kept@example.com')").await;
    let accounts = count(&home, "SELECT COUNT(*) FROM admin_users").await;
    for sql in ["DELETE FROM users", "COMMIT; DELETE FROM users", "DROP TABLE posts", "DELETE FROM admin_users"] {
        let (status, _, page) = b.post_form("/db/app/query", &[("sql", sql)]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("badge-error"), "{sql} is refused by the database:\n{page}");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM users").await, 1, "nothing was deleted");
    assert!(has_table(&db, "posts").await);
    // Strata's accounts are not in the watched database at all, and the home's are untouched.
    assert!(!has_table(&db, "admin_users").await);
    assert_eq!(count(&home, "SELECT COUNT(*) FROM admin_users").await, accounts);
    let refused = count(&home, "SELECT COUNT(*) FROM query_history WHERE status = 'error'").await;
    assert!(refused >= 4, "every refused statement is in the history ({refused})");
    // Reading the application's tables is allowed.
    let (_, _, page) = b.post_form("/db/app/query", &[("sql", "SELECT COUNT(*) AS n FROM users")]).await;
    assert!(page.contains("badge-success"), "reading is allowed:\n{page}");
    t.drop().await;
}

async fn export_file(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Viewer).await;
    b.get("/db/app/query").await;
    let sql = "SELECT 'a,b' AS x, 'say \"hi\"' AS y UNION ALL SELECT 'plain', NULL";
    let (status, headers, body) = b.post_form("/db/app/query/export", &[("sql", sql), ("format", "csv")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let disposition = headers.get("content-disposition").unwrap().to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=") && disposition.contains(".csv"), "{disposition}");
    assert_eq!(body, "x,y\n\"a,b\",\"say \"\"hi\"\"\"\nplain,\n");
    let (status, _, body) = b.post_form("/db/app/query/export", &[("sql", sql), ("format", "ndjson")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.lines().count(), 2, "{body}");
    let failing = [("sql", "SELECT no_such_column FROM users"), ("format", "csv")];
    let (status, headers, body) = b.post_form("/db/app/query/export", &failing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a statement that fails at once is an error page, not a file");
    assert!(headers.get("content-disposition").is_none() && body.contains("no_such_column"), "{body}");
    let home = t.connect_home().await;
    // Each export is recorded when its stream ends, in the background: wait for as many as expected, then
    // check that there are no more.
    let recorded = |status: &'static str, expected: i64| {
        let home = home.clone();
        async move {
            let sql =
                format!("SELECT COUNT(*) FROM query_history WHERE status = '{status}' AND query LIKE '-- export%'");
            Some(count(&home, &sql).await).filter(|n| *n >= expected)
        }
    };
    assert_eq!(eventually("the exports are in the history", || recorded("success", 2)).await, 2);
    assert_eq!(eventually("the failed export is recorded as failed", || recorded("error", 1)).await, 1);
    assert_eq!(
        b.post_form("/db/app/query/export", &[("sql", sql), ("format", "xlsx")]).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, _, _) = b.post_form_without_csrf("/db/app/query/export", &[("sql", sql), ("format", "csv")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "export runs SQL: it needs the CSRF token");
    t.drop().await;
}

async fn read_only_for_all(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let mut b = Browser::with_state(common::web::app_state_with(&t.url, |s| s.read_only_for_all = true).await);
    b.login_as(Role::Admin).await;
    let (_, _, page) = b.get("/db/app/query").await;
    assert!(page.contains("read-only for every account"), "the editor says why:\n{page}");
    let db = t.connect().await;
    exec(&db, "INSERT INTO users (username, email) VALUES ('kept', 'kept@example.com')").await;
    let (_, _, page) = b.post_form("/db/app/query", &[("sql", "DELETE FROM users")]).await;
    assert!(page.contains("badge-error"), "the database refuses an admin's write:\n{page}");
    let (status, _, _) = b.post_form("/db/app/query/export", &[("sql", "DELETE FROM users"), ("format", "csv")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an export cannot write either");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM users").await, 1, "nothing was deleted");
    t.drop().await;
}

async fn names_for_completion(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let db = t.connect().await;
    let odd = t.quote("Odd \"name\" `here`");
    exec(&db, &format!("CREATE TABLE {odd} ({} INTEGER, plain INTEGER)", t.quote("Mixed Case"))).await;
    let (status, headers, _) = b.get("/db/app/query/names").await;
    assert!(status.is_redirection() && location_is_login(&headers), "signed-out visitors get no names: {status}");
    b.login_as(Role::Viewer).await;
    let (status, headers, body) = b.get("/db/app/query/names").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let names: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(names["quote"], if kind == Kind::MySql { "`" } else { "\"" });
    assert_eq!(names["truncated"], false);
    let table = |name: &str| {
        names["tables"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap_or_else(|| {
            panic!("{name} is listed: {body}");
        })
    };
    let users = table("users");
    assert_eq!(users["schema"], t.schema());
    let columns: Vec<&str> = users["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(&columns[..3], ["id", "username", "email"], "columns in table order");
    let odd = table("Odd \"name\" `here`");
    assert_eq!(odd["columns"], serde_json::json!(["Mixed Case", "plain"]), "names come back exactly as created");
    // The cap keeps the answer small on a huge catalog, and says so.
    let capped = common::web::watched(&b.state).introspector.names(2).await.unwrap();
    assert!(capped.truncated);
    assert_eq!(capped.tables.iter().map(|t| t.columns.len()).sum::<usize>(), 2);
    t.drop().await;
}

fn location_is_login(headers: &axum::http::HeaderMap) -> bool {
    common::web::location(headers).starts_with("/login")
}

async fn selection_error_position(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Editor).await;
    b.get("/db/app/query").await;
    let text = "SELECT 'ü' AS first;\n-- the selection starts below\nSELECT 2 AS second;\n\
                SELECT * FROM users WHERE WHERE id = 1;\n";
    let from = text[..text.find("SELECT 2").unwrap()].chars().count();
    let to = text.chars().count();
    // The browser sends the textarea's line breaks as CRLF; the offsets count the `\n` the editor shows.
    let sent = text.replace('\n', "\r\n");
    let fields = [("sql", sent.as_str()), ("selection_start", &from.to_string()), ("selection_end", &to.to_string())];
    let (status, _, page) = b.post_form("/db/app/query", &fields).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches(r#"<section class="result "#).count(), 2, "only the selection ran:\n{page}");
    assert!(page.contains("-- the selection starts below"), "the editor keeps the whole text:\n{page}");
    assert!(!page.contains("\r\n-- the selection"), "line breaks come back as the editor counts them");
    let column = "SELECT * FROM users WHERE ".len() + 1;
    let at = format!(r#"data-line="4" data-column="{column}""#);
    let caret =
        format!("<pre class=\"caret\">SELECT * FROM users WHERE WHERE id = 1;\n{}^</pre>", " ".repeat(column - 1));
    if kind == Kind::Sqlite {
        // SQLite names the token but not its offset: then nothing is marked, rather than a wrong place.
        assert!(!page.contains("data-line=") && !page.contains("class=\"caret\""), "{page}");
    } else {
        assert!(page.contains(&at), "the error is placed in the whole text, not in the selection ({at}):\n{page}");
        assert!(page.contains(&caret), "without the script, a caret under the column:\n{page}");
    }
    let bad = [("sql", "SELECT 1"), ("selection_start", "3"), ("selection_end", "99")];
    assert_eq!(b.post_form("/db/app/query", &bad).await.0, StatusCode::BAD_REQUEST, "a selection outside the text");
    t.drop().await;
}

/// What the editor's Cancel button and its `sendBeacon` on leaving the page send: a form POST with the token.
#[tokio::test(flavor = "multi_thread")]
async fn a_sleeping_run_is_cancelled_by_a_form_post_from_another_tab() {
    let (t, mut b) = migrated(Kind::Postgres).await;
    let me = b.login_as(Role::Editor).await;
    let (_, _, page) = b.get("/db/app/query").await;
    let run_id = field_value(&page, "run_id");
    let mut tab = b.same_visitor();
    let mut stranger = b.another();
    stranger.login_as(Role::Editor).await;
    let engine = common::web::watched(&b.state).engine.clone();
    let started = Instant::now();
    let id = run_id.clone();
    let run =
        tokio::spawn(
            async move { b.post_form("/db/app/query", &[("sql", "SELECT pg_sleep(60)"), ("run_id", &id)]).await },
        );
    let id: i64 = run_id.parse().unwrap();
    eventually("the run is in progress", || {
        let running = engine.running().contains(&id);
        async move { running.then_some(()) }
    })
    .await;
    let cancel = format!("/db/app/query/{id}/cancel");
    assert_eq!(stranger.post_form(&cancel, &[]).await.0, StatusCode::FORBIDDEN, "only its owner (or an admin)");
    let (status, _, body) = tab.post_form_without_csrf(&cancel, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a cancel needs the CSRF token: {body}");
    let (status, _, body) = tab.post_form(&cancel, &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "cancelled"));
    let (status, _, page) = run.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("badge-cancelled"), "the page says the run was cancelled:\n{page}");
    assert!(started.elapsed() < Duration::from_secs(30), "it stopped long before pg_sleep(60) would have");
    let home = t.connect_home().await;
    let sql = format!("SELECT COUNT(*) FROM query_history WHERE status = 'cancelled' AND \"user\" = '{me}'");
    assert_eq!(count(&home, &sql).await, 1, "the cancelled run is in the history");
    assert_eq!(tab.post_form(&cancel, &[]).await.0, StatusCode::NOT_FOUND, "a finished run has nothing to cancel");
    t.drop().await;
}

/// The value of the form field `name` in a page.
fn field_value(html: &str, name: &str) -> String {
    let mark = format!(r#"name="{name}" value=""#);
    let start = html.find(&mark).unwrap_or_else(|| panic!("no {name} field")) + mark.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}
