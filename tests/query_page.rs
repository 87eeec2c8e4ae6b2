//! The query editor through the router on every backend: results per statement, read-only viewers, history rows, export.

mod common;

use axum::http::StatusCode;
use common::web::Browser;
use common::*;
use strata::accounts::Role;

each_backend! {
    an_editor_runs_several_statements_and_each_is_recorded => several_statements;
    a_viewer_cannot_write_and_the_refusal_is_recorded => viewer_read_only;
    an_export_streams_the_whole_result_as_a_file => export_file;
    read_only_for_all_holds_admins_to_reading_too => read_only_for_all;
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
    assert_eq!(b.get("/query").await.0, StatusCode::OK);
    let sql = "INSERT INTO users (username, email) VALUES ('q1', 'q1@example.com');\n\
               SELECT username, email, NULL AS nil, '' AS empty FROM users WHERE username = 'q1';\n\
               SELECT no_such_column FROM users";
    let (status, _, page) = b.post_form("/query", &[("sql", sql)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("1 rows affected"), "the insert reports its row:\n{page}");
    assert!(page.contains("q1@example.com") && page.contains(r#"class="cell-null">NULL"#), "{page}");
    assert!(page.contains(r#"class="cell-text"></td>"#), "an empty string is not NULL:\n{page}");
    assert!(page.contains("badge-error") && page.contains("no_such_column"), "the failing statement's error:\n{page}");
    let db = t.connect().await;
    let rows = count(&db, &format!("SELECT COUNT(*) FROM query_history WHERE {} = '{me}'", t.quote("user"))).await;
    assert_eq!(rows, 3, "one history row per statement, the failure included");
    let errors = count(&db, "SELECT COUNT(*) FROM query_history WHERE status = 'error'").await;
    assert_eq!(errors, 1);
    let (_, _, history) = b.get("/history").await;
    assert!(history.contains("no_such_column"), "the history page lists the failed run:\n{history}");
    assert_eq!(b.post_form("/query", &[("sql", "  ")]).await.0, StatusCode::BAD_REQUEST);
    t.drop().await;
}

async fn viewer_read_only(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Viewer).await;
    b.get("/query").await;
    let db = t.connect().await;
    let before = count(&db, "SELECT COUNT(*) FROM admin_users").await;
    for sql in ["DELETE FROM admin_users", "COMMIT; DELETE FROM admin_users", "DROP TABLE posts"] {
        let (status, _, page) = b.post_form("/query", &[("sql", sql)]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("badge-error"), "{sql} is refused by the database:\n{page}");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM admin_users").await, before, "nothing was deleted");
    assert!(has_table(&db, "posts").await);
    let refused = count(&db, "SELECT COUNT(*) FROM query_history WHERE status = 'error'").await;
    assert!(refused >= 3, "every refused statement is in the history ({refused})");
    let (_, _, page) = b.post_form("/query", &[("sql", "SELECT COUNT(*) AS n FROM admin_users")]).await;
    assert!(page.contains("badge-success"), "reading is allowed:\n{page}");
    t.drop().await;
}

async fn export_file(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Viewer).await;
    b.get("/query").await;
    let sql = "SELECT 'a,b' AS x, 'say \"hi\"' AS y UNION ALL SELECT 'plain', NULL";
    let (status, headers, body) = b.post_form("/query/export", &[("sql", sql), ("format", "csv")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let disposition = headers.get("content-disposition").unwrap().to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=") && disposition.contains(".csv"), "{disposition}");
    assert_eq!(body, "x,y\n\"a,b\",\"say \"\"hi\"\"\"\nplain,\n");
    let (status, _, body) = b.post_form("/query/export", &[("sql", sql), ("format", "ndjson")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.lines().count(), 2, "{body}");
    let failing = [("sql", "SELECT no_such_column FROM users"), ("format", "csv")];
    let (status, headers, body) = b.post_form("/query/export", &failing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a statement that fails at once is an error page, not a file");
    assert!(headers.get("content-disposition").is_none() && body.contains("no_such_column"), "{body}");
    let db = t.connect().await;
    let recorded = |status: &'static str| {
        let db = db.clone();
        async move {
            let sql =
                format!("SELECT COUNT(*) FROM query_history WHERE status = '{status}' AND query LIKE '-- export%'");
            Some(count(&db, &sql).await).filter(|n| *n > 0)
        }
    };
    assert_eq!(eventually("the exports are in the history", || recorded("success")).await, 2);
    assert_eq!(eventually("the failed export is recorded as failed", || recorded("error")).await, 1);
    assert_eq!(b.post_form("/query/export", &[("sql", sql), ("format", "xlsx")]).await.0, StatusCode::BAD_REQUEST);
    let (status, _, _) = b.post_form_without_csrf("/query/export", &[("sql", sql), ("format", "csv")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "export runs SQL: it needs the CSRF token");
    t.drop().await;
}

async fn read_only_for_all(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let mut b = Browser::with_state(common::web::app_state_with(&t.url, |s| s.read_only_for_all = true).await);
    b.login_as(Role::Admin).await;
    let (_, _, page) = b.get("/query").await;
    assert!(page.contains("read-only for every account"), "the editor says why:\n{page}");
    let db = t.connect().await;
    let before = count(&db, "SELECT COUNT(*) FROM admin_users").await;
    let (_, _, page) = b.post_form("/query", &[("sql", "DELETE FROM admin_users")]).await;
    assert!(page.contains("badge-error"), "the database refuses an admin's write:\n{page}");
    let (status, _, _) = b.post_form("/query/export", &[("sql", "DELETE FROM admin_users"), ("format", "csv")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an export cannot write either");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM admin_users").await, before, "nothing was deleted");
    t.drop().await;
}
