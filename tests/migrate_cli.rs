//! `strata migrate` as a user runs it, on SQLite, PostgreSQL and MariaDB: up/down, status, locks, dry runs, refusals.

mod common;

use common::*;
use serde_json::Value;

each_backend! {
    up_all_then_down_all_then_up_again => up_down_up;
    eight_concurrent_migrators_apply_each_migration_once => concurrent_up;
    sql_flag_prints_ddl_and_changes_nothing => dry_run_changes_nothing;
    destructive_commands_refuse_without_yes => destructive_refusals;
    status_json_lists_every_migration => status_json;
    stepwise_up_and_down_follow_revisions => stepwise;
    stamp_sets_the_version_without_running => stamp;
}

/// Strata's own tables and the home migrator's version table.
const STRATAS_TABLES: [&str; 8] = [
    "admin_users",
    "strata_sessions",
    "audit_log",
    "query_history",
    "api_keys",
    "strata_secrets",
    "watched_databases",
    "strata_home_migrations",
];

async fn up_down_up(kind: Kind) {
    let t = TestDb::new(kind).await;
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "base");

    let out: Value = serde_json::from_str(&ok(&strata(&t.url, &["migrate", "up", "--json"]))).unwrap();
    assert_eq!(out["current"], *HEAD);
    assert_eq!(out["steps"].as_array().unwrap().len(), *MIGRATIONS);
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), *HEAD);

    let db = t.connect().await;
    assert_eq!(column(&db, "SELECT version_num FROM alembic_version").await, vec![HEAD.clone()]);
    assert_eq!(count(&db, "SELECT count(*) FROM seaql_migrations").await, *MIGRATIONS as i64);
    assert_eq!(
        count(&db, "SELECT count(*) FROM migrations_log WHERE action = 'upgrade' AND status = 'success'").await,
        *MIGRATIONS as i64
    );
    for table in ["users", "posts"] {
        assert!(has_table(&db, table).await, "{table} exists after up");
    }
    // Strata's own tables live only in the home database, which `strata migrate` leaves alone.
    let home = t.connect_home().await;
    for table in STRATAS_TABLES {
        assert!(!has_table(&db, table).await, "{table} is not in the project database");
        assert!(!has_table(&home, table).await, "`migrate up` does not touch the home database: {table}");
    }
    home.close().await.ok();

    ok(&strata(&t.url, &["migrate", "down", "--to", "base"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "base");
    assert_eq!(count(&db, "SELECT count(*) FROM alembic_version").await, 0, "no row at base");
    assert_eq!(count(&db, "SELECT count(*) FROM seaql_migrations").await, 0);
    for table in ["users", "posts"] {
        assert!(!has_table(&db, table).await, "{table} is gone after down to base");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM migrations_log WHERE action = 'downgrade'").await, *MIGRATIONS as i64);

    ok(&strata(&t.url, &["migrate", "up"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), *HEAD);
    let history: Value = serde_json::from_str(&ok(&strata(&t.url, &["migrate", "history", "--json"]))).unwrap();
    let rows = history.as_array().unwrap();
    assert_eq!(rows.len() as i64, 3 * *MIGRATIONS as i64, "every attempt is logged");
    assert_eq!(rows[0]["action"], "upgrade", "newest first");
    assert_eq!(rows[0]["revision"], *HEAD);
    assert!(rows[0]["actor"].as_str().unwrap().contains('@'), "actor is user@host");
    assert!(rows[0]["duration_ms"].as_i64().is_some());
    db.close().await.ok();
    t.drop().await;
}

async fn concurrent_up(kind: Kind) {
    let t = TestDb::new(kind).await;
    let children: Vec<_> = (0..8)
        .map(|_| {
            strata_cmd(&t.url, &["migrate", "up"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn strata")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        ok(&out);
    }
    let db = t.connect().await;
    assert_eq!(count(&db, "SELECT count(*) FROM seaql_migrations").await, *MIGRATIONS as i64);
    assert_eq!(count(&db, "SELECT count(*) FROM migrations_log WHERE status = 'success'").await, *MIGRATIONS as i64);
    assert_eq!(count(&db, "SELECT count(*) FROM migrations_log WHERE status = 'failed'").await, 0);
    assert_eq!(column(&db, "SELECT version_num FROM alembic_version").await, vec![HEAD.clone()]);
    db.close().await.ok();
    t.drop().await;
}

async fn dry_run_changes_nothing(kind: Kind) {
    let t = TestDb::new(kind).await;
    let sql = ok(&strata(&t.url, &["migrate", "up", "--sql"]));
    assert!(sql.contains("CREATE TABLE"), "{sql}");
    assert!(sql.contains("idx_users_username"), "{sql}");
    assert!(sql.contains("alembic_version"), "{sql}");
    let db = t.connect().await;
    for table in ["users", "seaql_migrations", "alembic_version", "migrations_log"] {
        assert!(!has_table(&db, table).await, "--sql must not create {table}");
    }
    // Down --sql after a real up prints the drops and keeps the tables.
    ok(&strata(&t.url, &["migrate", "up"]));
    let down = ok(&strata(&t.url, &["migrate", "down", "--to", "base", "--sql"]));
    assert!(down.contains("DROP TABLE"), "{down}");
    assert!(has_table(&db, "users").await);
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), *HEAD);
    db.close().await.ok();
    t.drop().await;
}

async fn destructive_refusals(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let db = t.connect().await;
    exec(&db, "INSERT INTO users (username, email) VALUES ('keep', 'keep@example.com')").await;
    for cmd in ["fresh", "refresh", "reset"] {
        let out = strata(&t.url, &["migrate", cmd]);
        assert!(!out.status.success(), "{cmd} without --yes must fail");
        let err = stderr(&out);
        assert!(err.contains("--yes") && err.contains("nothing was done"), "{cmd}: {err}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 1, "data untouched");

    ok(&strata(&t.url, &["migrate", "refresh", "--yes"]));
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 0);
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), *HEAD);
    let before = count(&db, "SELECT count(*) FROM migrations_log").await;
    ok(&strata(&t.url, &["migrate", "fresh", "--yes"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), *HEAD);
    assert!(count(&db, "SELECT count(*) FROM migrations_log").await > before, "fresh keeps the history");
    ok(&strata(&t.url, &["migrate", "reset", "--yes"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "base");
    db.close().await.ok();
    t.drop().await;
}

async fn status_json(kind: Kind) {
    let t = TestDb::new(kind).await;
    let before: Value = serde_json::from_str(&ok(&strata(&t.url, &["migrate", "status", "--json"]))).unwrap();
    let rows = before.as_array().unwrap();
    assert_eq!(rows.len() as i64, *MIGRATIONS as i64);
    assert!(rows.iter().all(|r| r["applied"] == false && r["applied_at"].is_null() && r["state"] == "pending"));
    ok(&strata(&t.url, &["migrate", "up", "-n", "1"]));
    let after: Value = serde_json::from_str(&ok(&strata(&t.url, &["migrate", "status", "--json"]))).unwrap();
    let first = &after[0];
    assert_eq!(first["revision"], "m20251122_000001");
    assert_eq!(first["name"], "m20251122_000001_create_users");
    assert_eq!(first["applied"], true);
    assert!(first["applied_at"].is_string());
    assert_eq!(after[1]["applied"], false);
    let human = ok(&strata(&t.url, &["migrate", "status"]));
    assert!(human.contains("REVISION") && human.contains("create_posts") && human.contains("pending"), "{human}");
    t.drop().await;
}

async fn stepwise(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up", "--to", "m20251122_000001"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "m20251122_000001");
    ok(&strata(&t.url, &["migrate", "up", "-n", "1"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "m20251122_000002");
    ok(&strata(&t.url, &["migrate", "down"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "m20251122_000001");
    ok(&strata(&t.url, &["migrate", "up"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "m20251122_000002");
    ok(&strata(&t.url, &["migrate", "down", "--to", "m20251122_000001"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "m20251122_000001");
    let bad = strata(&t.url, &["migrate", "up", "--to", "no_such_rev"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("no migration has the revision"), "{}", stderr(&bad));
    let nothing = ok(&strata(&t.url, &["migrate", "down", "--to", "m20251122_000001"]));
    assert!(nothing.contains("nothing to do"), "{nothing}");
    t.drop().await;
}

async fn stamp(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "stamp", "m20251122_000002"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "m20251122_000002");
    let db = t.connect().await;
    assert!(!has_table(&db, "users").await, "stamp runs nothing");
    assert_eq!(count(&db, "SELECT count(*) FROM migrations_log WHERE action = 'stamp'").await, 2);
    ok(&strata(&t.url, &["migrate", "stamp", "base"]));
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "base");
    assert_eq!(count(&db, "SELECT count(*) FROM seaql_migrations").await, 0);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_into_a_closed_pipe_ends_quietly() {
    let t = TestDb::new(Kind::Sqlite).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    for args in [&["migrate", "status"][..], &["migrate", "status", "--json"], &["migrate", "history"]] {
        let mut child = strata_cmd(&t.url, args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run strata");
        // The reader goes away before Strata has written a line (`strata migrate status | head -0`), so every
        // write it makes meets a closed pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("strata ends");
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(101), "{args:?} panicked:\n{err}");
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?} is quiet:\n{err}");
        assert!(matches!(out.status.code(), Some(0 | 141)), "{args:?}: {:?}\n{err}", out.status);
    }
    t.drop().await;
}
