//! EXPLAIN and EXPLAIN ANALYZE from the query editor on every backend: the plan tree, rolled-back writes,
//! read-only viewers, SQLite's missing ANALYZE, one statement only, and a history row for each.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::web::Browser;
use common::*;
use strata::config::DatabaseUrl;
use strata::home::accounts::Role;
use strata::query::{Engine, Outcome, RunOptions};

each_backend! {
    explain_of_a_join_shows_the_plan_tree_and_is_recorded => join_tree;
    explain_takes_exactly_one_statement => one_statement;
    explain_analyze_shows_actual_rows_loops_and_times_or_says_why_not => analyze_figures;
}

/// EXPLAIN ANALYZE executes the statement: only the servers (SQLite has no ANALYZE, see above).
macro_rules! on_servers {
    ($($name:ident => $body:ident;)*) => {
        mod postgres_only { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::Postgres).await } )* }
        mod mariadb_only { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::MySql).await } )* }
    };
}

on_servers! {
    an_editors_explain_analyze_of_a_delete_is_rolled_back_and_says_so => delete_rolled_back;
    a_viewers_explain_analyze_of_a_delete_is_refused_by_the_database => viewer_refused;
    explain_analyze_through_the_engine_measures_each_node => engine_figures;
    explain_analyze_stops_at_the_statement_timeout => analyze_timeout;
}

const USERS: i64 = 30;
const POSTS: i64 = 90;
const JOIN: &str = "SELECT u.username, p.title FROM users u JOIN posts p ON p.user_id = u.id WHERE p.title LIKE 't1%'";

/// A migrated database with 30 users and 90 posts, and a browser on it.
async fn seeded(kind: Kind) -> (TestDb, Browser) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let db = t.connect().await;
    let users: Vec<String> = (1..=USERS).map(|i| format!("('u{i}', 'u{i}@example.com')")).collect();
    exec(&db, &format!("INSERT INTO users (username, email) VALUES {}", users.join(", "))).await;
    let posts: Vec<String> = (1..=POSTS).map(|i| format!("('t{i}', 'c', {})", 1 + i % USERS)).collect();
    exec(&db, &format!("INSERT INTO posts (title, content, user_id) VALUES {}", posts.join(", "))).await;
    let b = Browser::new(&t.url).await;
    (t, b)
}

async fn explain(b: &mut Browser, sql: &str, analyze: bool) -> (StatusCode, String) {
    let mut fields = vec![("sql", sql)];
    if analyze {
        fields.push(("analyze", "1"));
    }
    let (status, _, page) = b.post_form("/db/app/query/explain", &fields).await;
    (status, page)
}

async fn history_rows(t: &TestDb, like: &str) -> i64 {
    let home = t.connect_home().await;
    let sql = format!("SELECT COUNT(*) FROM query_history WHERE query LIKE '{like}'");
    let elsewhere = format!("{sql} AND (database_name IS NULL OR database_name <> '{APP}')");
    assert_eq!(count(&home, &elsewhere).await, 0, "every run names the database {APP}");
    count(&home, &sql).await
}

async fn join_tree(kind: Kind) {
    let (t, mut b) = seeded(kind).await;
    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get("/db/app/query").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(">Explain</button>") && page.contains(">Explain analyze</button>"), "{page}");
    let (status, page) = explain(&mut b, JOIN, false).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"class="grid plan-tree""#), "the plan is a tree:\n{page}");
    // Each backend names its steps its own way; both tables are read and joined in every plan.
    let kinds: &[&str] = match kind {
        Kind::Postgres => &["Join", "on users u", "on posts p"],
        Kind::MySql => &["Nested loop", " on u", " on p"],
        Kind::Sqlite => &["SCAN", "SEARCH", " u ", " p "],
    };
    for k in kinds {
        assert!(page.contains(k), "the plan has {k:?}:\n{page}");
    }
    // SQLite lists a join's steps side by side; the servers nest the scans under the join.
    if kind != Kind::Sqlite {
        assert!(
            page.contains(r#"data-depth="1""#) && page.contains("plan-step"),
            "children are indented under their parent:\n{page}"
        );
    }
    assert!(page.contains("plan-hot"), "the most expensive node is highlighted:\n{page}");
    assert!(!page.contains("rolled back"), "plain EXPLAIN runs nothing:\n{page}");
    assert_eq!(history_rows(&t, "-- explain\n%").await, 1, "the explain is in the history");
    t.drop().await;
}

async fn one_statement(kind: Kind) {
    let (t, mut b) = seeded(kind).await;
    b.login_as(Role::Editor).await;
    b.get("/db/app/query").await;
    let (status, page) = explain(&mut b, "SELECT 1; SELECT 2", false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("EXPLAIN takes exactly one statement; this text has 2"), "{page}");
    assert_eq!(explain(&mut b, "  ", true).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(history_rows(&t, "-- explain%").await, 0, "nothing ran, nothing is recorded");
    t.drop().await;
}

async fn analyze_figures(kind: Kind) {
    let (t, mut b) = seeded(kind).await;
    b.login_as(Role::Viewer).await;
    b.get("/db/app/query").await;
    let (status, page) = explain(&mut b, JOIN, true).await;
    if kind == Kind::Sqlite {
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{page}");
        assert!(page.contains("EXPLAIN ANALYZE is not available on SQLite"), "the page says why:\n{page}");
        assert!(page.contains("does not measure rows, times or loops"), "{page}");
        assert_eq!(history_rows(&t, "-- explain%").await, 0);
        return t.drop().await;
    }
    assert_eq!(status, StatusCode::OK, "{page}");
    for heading in ["Rows (est.)", "Rows (actual)", "Loops", "Time", "Self time"] {
        assert!(page.contains(&format!(">{heading}</th>")), "{heading}:\n{page}");
    }
    assert!(page.contains(" ms</td>") && page.contains("execution "), "times in milliseconds:\n{page}");
    assert!(page.contains("ran the statement inside a transaction that was then rolled back"), "{page}");
    assert_eq!(history_rows(&t, "-- explain analyze\n%").await, 1);
    t.drop().await;
}

async fn engine_figures(kind: Kind) {
    let (t, _) = seeded(kind).await;
    let engine = Engine::new(DatabaseUrl::parse(&t.url).unwrap());
    let opts = RunOptions { read_only: false, timeout: Duration::from_secs(10), max_rows: 10, user: "tester".into() };
    let sql = "SELECT u.username, p.title FROM users u JOIN posts p ON p.user_id = u.id";
    let ex = engine.explain_as(engine.new_run_id(), sql, true, &opts).await.unwrap();
    assert_eq!(ex.statement.outcome, Outcome::Success);
    let plan = ex.plan.expect("a plan");
    assert!(plan.analyzed && plan.rolled_back && !plan.writes);
    let nodes = plan.walk();
    // Whichever table the join reads in full, it reads all of its rows once per loop.
    let full = nodes
        .iter()
        .map(|(_, n)| n)
        .find(|n| n.actual_rows.zip(n.loops).is_some_and(|(r, l)| r * l == USERS as f64 || r * l == POSTS as f64))
        .unwrap_or_else(|| panic!("a node that read a whole table: {nodes:#?}"));
    assert!(full.time_ms.is_some() && full.self_ms.is_some() && full.est_rows.is_some(), "{full:#?}");
    let shares: f64 = nodes.iter().filter_map(|(_, n)| n.share).sum();
    assert!(shares > 0.5 && shares <= 1.01, "own times are shares of the whole: {shares}");
    assert!(nodes.iter().any(|(_, n)| n.hot));
    assert!(plan.execution_ms.is_some_and(|ms| ms > 0.0));
    t.drop().await;
}

async fn delete_rolled_back(kind: Kind) {
    let (t, mut b) = seeded(kind).await;
    b.login_as(Role::Editor).await;
    b.get("/db/app/query").await;
    let (status, page) = explain(&mut b, "DELETE FROM posts WHERE user_id > 0", true).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let delete = if kind == Kind::Postgres { "Delete on posts" } else { "Delete from posts" };
    assert!(page.contains(delete), "{page}");
    assert!(page.contains("This statement changes data") && page.contains("<b>rolled back</b>"), "{page}");
    assert_eq!(count(&t.connect().await, "SELECT COUNT(*) FROM posts").await, POSTS, "every post is still there");
    assert_eq!(history_rows(&t, "-- explain analyze\nDELETE FROM posts%").await, 1);
    // Run again from the history explains it again (rolled back), it does not run the DELETE itself.
    let (_, _, history) = b.get("/history").await;
    assert!(
        history.contains(r#"action="/db/app/query/explain""#) && history.contains(r#"name="analyze" value="1""#),
        "{history}"
    );
    assert!(history.contains(r#"name="sql" value="DELETE FROM posts WHERE user_id &#62; 0""#), "{history}");
    let (status, page) = explain(&mut b, "DELETE FROM posts WHERE user_id > 0", true).await;
    assert!(status == StatusCode::OK && page.contains("<b>rolled back</b>"), "what Run again posts:\n{page}");
    assert_eq!(count(&t.connect().await, "SELECT COUNT(*) FROM posts").await, POSTS);
    // The same session goes on working: a plain run after it really deletes.
    let (_, _, page) = b.post_form("/db/app/query", &[("sql", "DELETE FROM posts WHERE id = 1")]).await;
    assert!(page.contains("1 rows affected"), "{page}");
    t.drop().await;
}

async fn viewer_refused(kind: Kind) {
    let (t, mut b) = seeded(kind).await;
    b.login_as(Role::Viewer).await;
    b.get("/db/app/query").await;
    for sql in ["DELETE FROM posts", "UPDATE users SET username = 'x' WHERE id = 1"] {
        let (status, page) = explain(&mut b, sql, true).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("badge-error"), "{sql} is refused by the database:\n{page}");
        assert!(page.to_lowercase().contains("read-only") || page.to_lowercase().contains("read only"), "{page}");
        assert!(!page.contains("plan-tree"), "no plan for a refused statement:\n{page}");
    }
    let db = t.connect().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM posts").await, POSTS, "nothing was deleted");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM users WHERE username = 'x'").await, 0, "nothing was updated");
    let refused = "SELECT COUNT(*) FROM query_history WHERE status = 'error' AND query LIKE '-- explain analyze%'";
    assert_eq!(count(&t.connect_home().await, refused).await, 2, "each refusal is in the history");
    // Plain EXPLAIN of a write only plans it, and the viewer login (read grants only) may not even plan a
    // DELETE: PostgreSQL checks the table's privileges while planning, MariaDB refuses it (as it refuses a plain
    // EXPLAIN of a write inside a read-only transaction). Either way the database decides and nothing changes.
    let (status, page) = explain(&mut b, "DELETE FROM posts", false).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    match kind {
        Kind::MySql => assert!(page.contains("DELETE command denied to user") && page.contains("(1142)"), "{page}"),
        _ => assert!(page.contains("permission denied for table posts (42501)"), "{page}"),
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM posts").await, POSTS);
    t.drop().await;
}

async fn analyze_timeout(kind: Kind) {
    let (t, _) = seeded(kind).await;
    // A read-only run: on the test servers (superuser logins) it needs the viewer login Strata creates.
    let main = DatabaseUrl::parse(&t.url).unwrap();
    let engine = match kind {
        Kind::Sqlite => Engine::new(main),
        _ => Engine::with_viewer_url(main, DatabaseUrl::parse(&t.viewer_url().await).unwrap()),
    };
    let opts = RunOptions { read_only: true, timeout: Duration::from_secs(1), max_rows: 10, user: "tester".into() };
    let sleep = if kind == Kind::Postgres { "SELECT pg_sleep(30)" } else { "SELECT SLEEP(30)" };
    let started = std::time::Instant::now();
    let ex = engine.explain_as(engine.new_run_id(), sleep, true, &opts).await.unwrap();
    assert_eq!(ex.statement.outcome, Outcome::Timeout, "{:?}", ex.statement);
    assert!(ex.plan.is_none());
    assert!(started.elapsed() < Duration::from_secs(10), "stopped by the timeout: {:?}", started.elapsed());
    assert!(engine.running().is_empty(), "the run is unlisted");
    // Cancel stops it on the server too, by its run id.
    let id = engine.new_run_id();
    let opts = RunOptions { timeout: Duration::from_secs(60), ..opts };
    let running = {
        let (engine, opts) = (engine.clone(), opts.clone());
        tokio::spawn(async move { engine.explain_as(id, sleep, true, &opts).await })
    };
    eventually("the explain is running", || async { engine.running().contains(&id).then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(engine.cancel(id).await);
    let ex = running.await.unwrap().unwrap();
    assert_eq!(ex.statement.outcome, Outcome::Cancelled, "{:?}", ex.statement);
    t.drop().await;
}
