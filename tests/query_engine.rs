//! The query engine against real servers: results, errors, caps, timeouts, cancel, viewer escapes, export.

mod common;

use std::time::Duration;

use common::{Kind, TestDb, count, eventually, exec, ok, strata};
use futures::StreamExt;
use strata::config::DatabaseUrl;
use strata::query::{Cell, Engine, ExportFormat, Outcome, RunOptions};

fn opts(read_only: bool) -> RunOptions {
    RunOptions { read_only, timeout: Duration::from_secs(10), max_rows: 1000, user: "tester".into() }
}

async fn setup(kind: Kind) -> (TestDb, Engine) {
    let db = TestDb::new(kind).await;
    ok(&strata(&db.url, &["migrate", "up"]));
    let conn = db.connect().await;
    exec(&conn, "INSERT INTO users (username, email) VALUES ('A', 'a@x'), ('B', 'b@x')").await;
    let engine = engine_for(&db).await;
    (db, engine)
}

/// An engine whose read-only runs use the viewer login Strata creates (the test servers' logins are superusers,
/// so without one read-only runs are refused); SQLite needs none. Call after the tables the test reads exist.
async fn engine_for(db: &TestDb) -> Engine {
    let main = DatabaseUrl::parse(&db.url).unwrap();
    match db.kind {
        Kind::Sqlite => Engine::new(main),
        _ => Engine::with_viewer_url(main, DatabaseUrl::parse(&db.viewer_url().await).unwrap()),
    }
}

async fn counts(db: &TestDb) -> (i64, i64) {
    let c = db.connect().await;
    (count(&c, "SELECT count(*) FROM users").await, count(&c, "SELECT count(*) FROM posts").await)
}

async fn multi_statement_results(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let text = "SELECT 1 AS one;\n  SELECT email FROM users ORDER BY email; UPDATE users SET username = 'Z' WHERE email = 'a@x'";
    let run = engine.run(text, &opts(false)).await.unwrap();
    assert_eq!(run.statements.len(), 3);
    assert!(run.statements.iter().all(|s| s.outcome == Outcome::Success), "{:?}", run.statements);
    assert_eq!(run.statements[0].columns[0].name, "one");
    assert_eq!(run.statements[0].rows, [[Cell::Number("1".into())]]);
    assert_eq!(run.statements[1].offset, text.find("SELECT email").unwrap());
    assert_eq!(run.statements[1].rows, [[Cell::Text("a@x".into())], [Cell::Text("b@x".into())]]);
    assert_eq!(run.statements[2].rows_affected, Some(1));
    // Editors can write.
    assert_eq!(count(&db.connect().await, "SELECT count(*) FROM users WHERE username = 'Z'").await, 1);
    db.drop().await;
}

async fn error_stops_the_run(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let text = "SELECT 1;\nSELECT nosuchcolumn FROM users;\nSELECT 3";
    let run = engine.run(text, &opts(false)).await.unwrap();
    assert_eq!(run.statements.len(), 2, "the statement after the error is omitted");
    let Outcome::Error { message, position } = &run.statements[1].outcome else { panic!("{:?}", run.statements[1]) };
    assert!(message.to_lowercase().contains("nosuchcolumn"), "{message}");
    if kind == Kind::Postgres {
        assert_eq!(*position, Some(text.find("nosuchcolumn").unwrap()));
    }
    let syntax = "SELECT 1;\nSELECT * FROM users WHERE = 1";
    let run = engine.run(syntax, &opts(false)).await.unwrap();
    let Outcome::Error { position, .. } = &run.statements[1].outcome else { panic!("{:?}", run.statements[1]) };
    if kind != Kind::Sqlite {
        assert_eq!(*position, Some(syntax.find("= 1").unwrap()), "{kind:?}");
    }
    db.drop().await;
}

async fn row_cap(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let sql = match kind {
        Kind::Postgres => "SELECT g FROM generate_series(1, 5000) g",
        // Not the Sequence engine's seq_1_to_5000: the viewer login's table-level grants do not cover it.
        Kind::MySql | Kind::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000) SELECT x FROM c"
        }
    };
    let mut o = opts(true);
    o.max_rows = 10;
    let run = engine.run(&format!("{sql}; SELECT 2"), &o).await.unwrap();
    assert_eq!(run.statements[0].rows.len(), 10);
    assert!(run.statements[0].more_rows);
    assert_eq!(run.statements[1].rows, [[Cell::Number("2".into())]]);
    assert!(!run.statements[1].more_rows);
    db.drop().await;
}

async fn timeout(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let sql = match kind {
        Kind::Postgres => "SELECT pg_sleep(10)",
        Kind::MySql => "SELECT SLEEP(10)",
        Kind::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c"
        }
    };
    let mut o = opts(false);
    o.timeout = Duration::from_secs(1);
    let run = engine.run(sql, &o).await.unwrap();
    // MariaDB's SLEEP interrupted by max_statement_time returns 1 rather than an error.
    if kind == Kind::MySql && run.statements[0].outcome == Outcome::Success {
        assert_eq!(run.statements[0].rows, [[Cell::Number("1".into())]]);
    } else {
        assert_eq!(run.statements[0].outcome, Outcome::Timeout, "{:?}", run.statements[0]);
    }
    db.drop().await;
}

async fn cancel(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let sql = match kind {
        Kind::Postgres => "SELECT pg_sleep(20)",
        Kind::MySql => "SELECT SLEEP(20)",
        Kind::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c"
        }
    };
    let mut o = opts(false);
    o.timeout = Duration::from_secs(60);
    let id = engine.new_run_id();
    let e2 = engine.clone();
    let task = tokio::spawn(async move { e2.run_as(id, &format!("{sql}; SELECT 2"), &o).await });
    while !engine.running().contains(&id) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(engine.cancel(id).await);
    let run = task.await.unwrap().unwrap();
    assert_eq!(run.statements.len(), 1, "{:?}", run.statements);
    // MariaDB's SLEEP killed by KILL QUERY returns 1 rather than an error; the run still stops.
    if !(kind == Kind::MySql && run.statements[0].outcome == Outcome::Success) {
        assert_eq!(run.statements[0].outcome, Outcome::Cancelled, "{:?}", run.statements[0]);
    }
    assert!(!engine.running().contains(&id));
    db.drop().await;
}

async fn values(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let sql = match kind {
        Kind::Postgres => {
            "SELECT NULL::text, ''::text, '{\"a\": [1, 2]}'::jsonb, '\\x00ff'::bytea, \
             12345678901234567890.123456789::numeric, true, 1.5::float8"
        }
        Kind::MySql => {
            "SELECT NULL, '', JSON_OBJECT('a', JSON_ARRAY(1, 2)), UNHEX('00FF'), \
             CAST('12345678901234567890.123456789' AS DECIMAL(40, 9)), TRUE, 1.5e0"
        }
        Kind::Sqlite => {
            "SELECT NULL, '', json_object('a', json_array(1, 2)), x'00ff', '12345678901234567890.123456789', 1, 1.5"
        }
    };
    let run = engine.run(sql, &opts(true)).await.unwrap();
    let s = &run.statements[0];
    assert_eq!(s.outcome, Outcome::Success, "{s:?}");
    let row = &s.rows[0];
    assert_eq!(row[0], Cell::Null);
    assert_eq!(row[1], Cell::Text(String::new()));
    match (&row[2], kind) {
        (Cell::Json(j), _) => assert_eq!(j, "{\n  \"a\": [\n    1,\n    2\n  ]\n}"),
        (Cell::Text(t), Kind::MySql | Kind::Sqlite) => assert_eq!(t.replace(' ', ""), "{\"a\":[1,2]}"),
        (other, _) => panic!("{other:?}"),
    }
    assert_eq!(row[3], Cell::Binary(vec![0, 255]));
    match &row[4] {
        Cell::Number(n) | Cell::Text(n) => assert_eq!(n, "12345678901234567890.123456789"),
        other => panic!("{other:?}"),
    }
    if kind == Kind::Postgres {
        assert_eq!(row[5], Cell::Bool(true));
        assert_eq!(s.columns[4].type_name, "NUMERIC");
    }
    assert_eq!(row[6], Cell::Number("1.5".into()));
    db.drop().await;
}

async fn viewer_escapes(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let conn = db.connect().await;
    exec(&conn, "INSERT INTO posts (user_id, title, content) SELECT id, 'p', 'b' FROM users").await;
    let before = counts(&db).await;
    let mut attempts: Vec<&str> = vec![
        "DELETE FROM users",
        "SELECT 1; COMMIT; DELETE FROM users",
        "COMMIT; DELETE FROM users",
        "ROLLBACK; DELETE FROM users",
        "BEGIN; DELETE FROM users",
        "END; DELETE FROM users",
        "DROP TABLE posts",
        "CREATE TABLE x (a int)",
        "UPDATE users SET username = 'hacked'",
    ];
    match kind {
        Kind::Postgres => attempts.extend([
            "SET TRANSACTION READ WRITE; DELETE FROM users",
            "SET TRANSACTION READ WRITE",
            "RESET ALL; DELETE FROM users",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM users",
            "SET default_transaction_read_only = off; DELETE FROM users",
            "START TRANSACTION READ WRITE; DELETE FROM users",
            "ABORT; DELETE FROM users",
            "DO $$ BEGIN DELETE FROM users; END $$",
            "DO $$ BEGIN COMMIT; SET TRANSACTION READ WRITE; DELETE FROM users; END $$",
            "SELECT set_config('transaction_read_only', 'off', false); DELETE FROM users",
            "CREATE TEMP TABLE t (a int)",
            "CREATE SEQUENCE s",
        ]),
        Kind::MySql => attempts.extend([
            "SET SESSION TRANSACTION READ WRITE; DELETE FROM users",
            "SET SESSION TRANSACTION READ WRITE; DROP TABLE posts",
            "SET autocommit = 1; DELETE FROM users",
            "SET SESSION tx_read_only = 0; DELETE FROM users",
            "START TRANSACTION READ WRITE; DELETE FROM users",
            "BEGIN NOT ATOMIC COMMIT; SET SESSION TRANSACTION READ WRITE; DELETE FROM users; END",
            "BEGIN NOT ATOMIC ROLLBACK; SET SESSION TRANSACTION READ WRITE; DELETE FROM users; END",
            "BEGIN NOT ATOMIC SET SESSION TRANSACTION READ WRITE; DROP TABLE posts; END",
            "BEGIN NOT ATOMIC SET autocommit = 1; SET SESSION TRANSACTION READ WRITE; DELETE FROM users; END",
            "XA END 'x'; DELETE FROM users",
        ]),
        Kind::Sqlite => attempts.extend([
            "PRAGMA query_only = OFF; DELETE FROM users",
            "ATTACH DATABASE 'file:/tmp/strata_attach_test.db' AS x; CREATE TABLE x.t (a int)",
            "VACUUM",
        ]),
    }
    for text in attempts {
        let run = engine.run(text, &opts(true)).await.unwrap();
        assert_eq!(counts(&db).await, before, "data changed by {text:?}: {:?}", run.statements);
    }
    let c = db.connect().await;
    assert_eq!(count(&c, "SELECT count(*) FROM users WHERE username = 'hacked'").await, 0);
    assert!(!common::has_table(&c, "x").await);
    if kind == Kind::Sqlite {
        // The attached file was not created with a table by a read-only connection.
        assert!(!std::path::Path::new("/tmp/strata_attach_test.db").exists());
    }
    // The same texts write for an editor (the suite is not vacuous).
    let run = engine.run("DELETE FROM posts", &opts(false)).await.unwrap();
    assert_eq!(run.statements[0].outcome, Outcome::Success);
    assert_eq!(counts(&db).await.1, 0);
    db.drop().await;
}

async fn empty_result(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let names = |s: &strata::query::StatementResult| s.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    // The INSERT first: SQLite's change counter still says 1 when the SELECT after it ends.
    let text = "INSERT INTO users (username, email) VALUES ('C', 'c@x');\n\
                SELECT email, username FROM users WHERE email = 'nobody';\n\
                UPDATE users SET username = 'D' WHERE email = 'nobody'";
    let run = engine.run(text, &opts(false)).await.unwrap();
    assert!(run.statements.iter().all(|s| s.outcome == Outcome::Success), "{:?}", run.statements);
    assert_eq!(run.statements[0].rows_affected, Some(1));
    let select = &run.statements[1];
    assert_eq!(names(select), ["email", "username"], "an empty result still has its columns: {select:?}");
    assert!(select.rows.is_empty());
    assert_eq!(select.rows_affected, None, "a result set, not a write: {select:?}");
    let update = &run.statements[2];
    assert!(update.columns.is_empty(), "{update:?}");
    assert_eq!(update.rows_affected, Some(0), "a write that matched nothing: {update:?}");

    let run = engine.run("SELECT email AS address FROM users WHERE 1 = 0", &opts(true)).await.unwrap();
    let select = &run.statements[0];
    assert_eq!(select.outcome, Outcome::Success, "{select:?}");
    assert_eq!(names(select), ["address"], "the same for a read-only run: {select:?}");
    assert_eq!(select.rows_affected, None);

    let (body, _) = engine.export(
        "SELECT email, username FROM users WHERE email = 'nobody'",
        ExportFormat::Csv { header: true },
        &opts(true),
    );
    let mut body = Box::pin(body);
    let mut out = Vec::new();
    while let Some(b) = body.next().await {
        out.extend_from_slice(&b.unwrap());
    }
    assert_eq!(String::from_utf8(out).unwrap(), "email,username\n", "a CSV of no rows keeps its header");
    db.drop().await;
}

async fn export_formats(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let collect = |f| {
        let engine = engine.clone();
        async move {
            let mut s = Box::pin(engine.export("SELECT email, username FROM users ORDER BY email", f, &opts(true)).0);
            let mut out = Vec::new();
            while let Some(b) = s.next().await {
                out.extend_from_slice(&b.unwrap());
            }
            String::from_utf8(out).unwrap()
        }
    };
    assert_eq!(collect(ExportFormat::Csv { header: true }).await, "email,username\na@x,A\nb@x,B\n");
    assert_eq!(
        collect(ExportFormat::Json).await,
        "[{\"email\":\"a@x\",\"username\":\"A\"},{\"email\":\"b@x\",\"username\":\"B\"}]\n"
    );
    assert_eq!(
        collect(ExportFormat::Ndjson).await,
        "{\"email\":\"a@x\",\"username\":\"A\"}\n{\"email\":\"b@x\",\"username\":\"B\"}\n"
    );
    db.drop().await;
}

each_backend! {
    multi_statement_results_with_offsets => multi_statement_results;
    an_error_stops_the_run_with_its_position => error_stops_the_run;
    rows_are_capped_with_more_rows => row_cap;
    a_slow_statement_times_out => timeout;
    a_sleeping_statement_is_cancelled_from_another_task => cancel;
    values_render_faithfully => values;
    viewers_cannot_escape_read_only => viewer_escapes;
    exports_stream_csv_json_ndjson => export_formats;
    a_select_without_rows_has_its_columns_and_no_rows_affected => empty_result;
    nothing_a_run_leaves_in_its_session_reaches_the_next_run => sessions_are_not_shared;
}

async fn sessions_are_not_shared(kind: Kind) {
    let (db, engine) = setup(kind).await;
    let run = engine.run("CREATE TEMPORARY TABLE left_behind (x INTEGER)", &opts(false)).await.unwrap();
    assert_eq!(run.statements[0].outcome, Outcome::Success, "{:?}", run.statements[0]);
    // The next runs get the session opened ahead of them: a fresh one, without the temporary table.
    for _ in 0..3 {
        let run = engine.run("SELECT * FROM left_behind", &opts(false)).await.unwrap();
        assert!(matches!(run.statements[0].outcome, Outcome::Error { .. }), "{:?}", run.statements[0]);
    }
    // A viewer's run never gets an editor's spare session (and so stays read-only).
    engine.run("SELECT 1", &opts(false)).await.unwrap();
    let run = engine.run("DELETE FROM users", &opts(true)).await.unwrap();
    assert!(matches!(run.statements[0].outcome, Outcome::Error { .. }), "{:?}", run.statements[0]);
    assert_eq!(counts(&db).await.0, 2);
    db.drop().await;
}

/// SQLite keeps a connection a run left clean for the next run (its schema stays loaded): one left inside a
/// transaction, or holding a temporary table, is closed instead, so the next run never sees either.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_transaction_or_temporary_table_left_by_a_run_does_not_reach_the_next() {
    let (db, engine) = setup(Kind::Sqlite).await;
    let run = engine.run("BEGIN; INSERT INTO users (username, email) VALUES ('C', 'c@x')", &opts(false)).await.unwrap();
    assert!(run.statements.iter().all(|s| s.outcome == Outcome::Success), "{:?}", run.statements);
    for _ in 0..3 {
        let run = engine.run("SELECT count(*) FROM users", &opts(false)).await.unwrap();
        assert_eq!(run.statements[0].rows, [[Cell::Number("2".into())]], "the uncommitted row is gone");
    }
    engine.run("CREATE TEMP VIEW v AS SELECT 1", &opts(false)).await.unwrap();
    for _ in 0..3 {
        let run = engine.run("SELECT * FROM v", &opts(false)).await.unwrap();
        assert!(matches!(run.statements[0].outcome, Outcome::Error { .. }), "{:?}", run.statements[0]);
    }
    // Clean runs one after another still see what the others committed.
    engine.run("INSERT INTO users (username, email) VALUES ('D', 'd@x')", &opts(false)).await.unwrap();
    let run = engine.run("SELECT count(*) FROM users", &opts(true)).await.unwrap();
    assert_eq!(run.statements[0].rows, [[Cell::Number("3".into())]]);
    assert_eq!(counts(&db).await.0, 3);
    db.drop().await;
}

/// CSV export byte-for-byte like PostgreSQL's own COPY ... CSV, over 100 000 rows with awkward values.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_csv_export_matches_copy() {
    use sea_orm::sqlx::{Connection, postgres::PgConnection};
    let db = TestDb::new(Kind::Postgres).await;
    let query = "SELECT g, CASE g % 7 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'a,b' WHEN 3 THEN 'say \"hi\"' \
                 WHEN 4 THEN E'two\\nlines' WHEN 5 THEN 'héllo 日本' ELSE 'plain' END, g * 1.5 \
                 FROM generate_series(1, 100000) g";
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let mut copy = conn.copy_out_raw(&format!("COPY ({query}) TO STDOUT WITH (FORMAT csv)")).await.unwrap();
    let mut expected = Vec::new();
    while let Some(chunk) = copy.next().await {
        expected.extend_from_slice(&chunk.unwrap());
    }
    drop(copy);
    ok(&strata(&db.url, &["migrate", "up"]));
    let engine = engine_for(&db).await;
    let mut stream = Box::pin(engine.export(query, ExportFormat::Csv { header: false }, &opts(true)).0);
    let mut got = Vec::new();
    let mut chunks = 0;
    while let Some(b) = stream.next().await {
        got.extend_from_slice(&b.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "streamed in chunks");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "CSV differs from COPY");
    conn.close().await.ok();
    db.drop().await;
}

/// Dates and times read in binary print exactly as the server's own `::text` does (infinity and BC too).
#[tokio::test(flavor = "multi_thread")]
async fn postgres_dates_and_times_print_like_the_server() {
    let db = TestDb::new(Kind::Postgres).await;
    let engine = Engine::new(DatabaseUrl::parse(&db.url).unwrap());
    let values = [
        "'2026-11-28 06:19:36.12'::timestamp",
        "'2026-11-28 06:19:36.000001'::timestamp",
        "'2026-11-28 06:19:36'::timestamptz",
        "'2026-11-28 06:19:36.5+05:30'::timestamptz",
        "'infinity'::timestamp",
        "'-infinity'::timestamptz",
        "'0044-03-15 12:00:00 BC'::timestamp",
        "'2026-11-28'::date",
        "'infinity'::date",
        "'0044-03-15 BC'::date",
        "'23:59:59.999999'::time",
    ];
    for v in values {
        let run = engine.run(&format!("SET TIME ZONE 'UTC'; SELECT {v}, ({v})::text"), &opts(false)).await.unwrap();
        let s = &run.statements[1];
        assert_eq!(s.outcome, Outcome::Success, "{v}: {s:?}");
        assert_eq!(s.rows[0][0], s.rows[0][1], "{v} prints like the server");
    }
    db.drop().await;
}

/// With `viewer_url` a read-only run logs in as a role with read grants only: the database refuses what a
/// read-only transaction would still let a superuser do (running a program, reading server files).
#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_login_without_superuser_rights_cannot_run_programs_or_write() {
    let (db, _) = setup(Kind::Postgres).await;
    let role = format!("{}_reader", db.name);
    let conn = db.connect().await;
    exec(&conn, &format!("CREATE ROLE \"{role}\" LOGIN")).await;
    exec(&conn, &format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{role}\"")).await;
    let viewer_url = db.url.replacen("://postgres@", &format!("://{role}@"), 1);
    assert_ne!(viewer_url, db.url, "the test URL names the postgres login");
    let engine =
        Engine::with_viewer_url(DatabaseUrl::parse(&db.url).unwrap(), DatabaseUrl::parse(&viewer_url).unwrap());
    let marker = std::env::temp_dir().join(format!("{}-ran", db.name));
    let attempts = [
        format!("COPY (SELECT 1) TO PROGRAM 'touch {}'", marker.display()),
        "SELECT pg_read_file('/etc/hostname')".to_string(),
        "COMMIT; DELETE FROM users".to_string(),
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM users".to_string(),
    ];
    for sql in &attempts {
        let run = engine.run(sql, &opts(true)).await.unwrap();
        let last = run.statements.last().unwrap();
        assert!(matches!(last.outcome, Outcome::Error { .. }), "{sql} must fail: {last:?}");
    }
    assert!(!marker.exists(), "no program ran");
    assert_eq!(counts(&db).await.0, 2, "no row was deleted");
    let run = engine.run("SELECT current_user, count(*) FROM users", &opts(true)).await.unwrap();
    assert_eq!(run.statements[0].rows[0][0], Cell::Text(role.clone()), "read-only runs use the viewer login");
    let run = engine.run("SELECT current_user", &opts(false)).await.unwrap();
    assert_eq!(run.statements[0].rows[0][0], Cell::Text("postgres".into()), "editors keep the main login");

    // Cancel works with the viewer login (a role may cancel its own backends).
    let mut o = opts(true);
    o.timeout = Duration::from_secs(60);
    let id = engine.new_run_id();
    let e2 = engine.clone();
    let task = tokio::spawn(async move { e2.run_as(id, "SELECT pg_sleep(30)", &o).await });
    while !engine.running().contains(&id) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(engine.cancel(id).await);
    let run = task.await.unwrap().unwrap();
    assert_eq!(run.statements[0].outcome, Outcome::Cancelled);

    drop(conn);
    db.drop().await;
    let admin = sea_orm::Database::connect(
        std::env::var("STRATA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
    )
    .await
    .unwrap();
    exec(&admin, &format!("DROP ROLE IF EXISTS \"{role}\"")).await;
}

/// The session for the next run is opened once the run is done with (its history row written, its page sent),
/// never while its answer is still being written: a new server process competes with it for the same cores.
#[tokio::test(flavor = "multi_thread")]
async fn the_next_runs_session_opens_once_the_run_is_dropped() {
    let (db, engine) = setup(Kind::Postgres).await;
    let c = db.connect().await;
    let sessions = "SELECT count(*) FROM pg_stat_activity \
                    WHERE datname = current_database() AND application_name = 'strata query'";
    let run = engine.run("SELECT 1", &opts(false)).await.unwrap();
    assert_eq!(run.statements[0].outcome, Outcome::Success);
    eventually("the run's own session closed", || async { (count(&c, sessions).await == 0).then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&c, sessions).await, 0, "no session is opened while the run is still held");
    drop(run);
    eventually("the next run's session opened", || async { (count(&c, sessions).await == 1).then_some(()) }).await;
    // The next run uses it: still one session of Strata's while it runs, none new.
    let run = engine.run("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'strata query' AND datname = current_database()", &opts(false)).await.unwrap();
    assert_eq!(run.statements[0].rows.len(), 1);
    c.close().await.ok();
    db.drop().await;
}
