//! `migrate::rehearse` and `strata migrate up|down --rehearse`: the plan runs for real in one transaction, its
//! locks, times and schema changes are reported, and the rollback leaves the catalog and Strata's bookkeeping
//! tables exactly as they were. MariaDB refuses (its DDL commits).

mod common;
#[path = "common/sql_migration.rs"]
mod sql_migration;

use std::time::Duration;

use common::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use sql_migration::SqlMigration;
use strata::config::DatabaseUrl;
use strata::db::{self, Purpose};
use strata::migrate::{self, Action, Event, MigrationSet, Runner, Steps};

each_backend! {
    rehearsal_reports_locks_and_schema_and_leaves_nothing => rehearsal_leaves_nothing;
    failed_rehearsal_names_the_migration_and_rolls_back => failed_rehearsal;
    rehearse_flag_reports_and_keeps_nothing => rehearse_command;
}

fn base() -> SqlMigration {
    SqlMigration::new("m20990101_000001_base").all(&[
        "CREATE TABLE orders (id integer PRIMARY KEY, amount integer)",
        "CREATE TABLE old_things (id integer PRIMARY KEY)",
    ])
}

fn add_region() -> SqlMigration {
    SqlMigration::new("m20990101_000002_add_region").all(&[
        "ALTER TABLE orders ADD COLUMN region text",
        "CREATE INDEX orders_region ON orders (region)",
        "DROP TABLE old_things",
    ])
}

fn invoices() -> SqlMigration {
    SqlMigration::new("m20990101_000003_invoices")
        .all(&["CREATE TABLE invoices (id integer PRIMARY KEY, total integer)"])
}

fn broken() -> SqlMigration {
    SqlMigration::new("m20990101_000003_broken").all(&["ALTER TABLE nope ADD COLUMN x integer"])
}

/// Applies the first migration (so the runner's tables hold rows) and puts rows in `orders`.
async fn prepared(t: &TestDb, set: &MigrationSet) -> DatabaseConnection {
    let url = DatabaseUrl::parse(&t.url).unwrap();
    let conn = db::connect(&url, Purpose::Migrate).await.unwrap();
    let quiet = |_: Event<'_>| {};
    Runner::new(&conn, set, "tester@host", Duration::from_secs(10), &quiet).up(&Steps::Count(1), false).await.unwrap();
    let check = t.connect().await;
    exec(&check, "INSERT INTO orders (id, amount) VALUES (1, 10), (2, 20), (3, 30)").await;
    check.close().await.ok();
    conn
}

/// The catalog (every relation, column, index, constraint) and the contents of Strata's tables and `orders`.
async fn dump(t: &TestDb) -> Vec<String> {
    let db = t.connect().await;
    let catalog = match t.kind {
        Kind::Postgres => {
            "SELECT x FROM ( \
               SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || c.relnatts AS x FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() \
               UNION ALL SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
                 || ' ' || coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = current_schema() \
               UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = current_schema() \
               UNION ALL SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE connamespace = current_schema()::regnamespace) d ORDER BY x"
        }
        Kind::MySql => {
            "SELECT CONCAT(TABLE_NAME, ' ', COLUMN_NAME, ' ', COLUMN_TYPE) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1"
        }
        Kind::Sqlite => "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY 1",
    };
    let mut out = column(&db, catalog).await;
    let contents = [
        "SELECT CONCAT_WS(' ', version, applied_at) FROM seaql_migrations ORDER BY 1",
        "SELECT version_num FROM alembic_version",
        "SELECT CONCAT_WS(' ', id, revision, action, status, actor) FROM migrations_log ORDER BY id",
        "SELECT CONCAT_WS(' ', id, amount) FROM orders ORDER BY id",
    ];
    for sql in contents {
        // SQLite has no CONCAT_WS before 3.44: its || does the same here (no NULLs in these columns).
        let sql = if t.kind == Kind::Sqlite { sqlite_concat(sql) } else { sql.to_string() };
        out.push(format!("-- {sql}"));
        out.extend(column(&db, &sql).await);
    }
    if t.kind == Kind::Sqlite {
        out.push(format!("schema_version {}", count(&db, "SELECT schema_version FROM pragma_schema_version").await));
    }
    db.close().await.ok();
    out
}

/// `CONCAT_WS(' ', a, b)` → `a || ' ' || b`.
fn sqlite_concat(sql: &str) -> String {
    let Some((head, rest)) = sql.split_once("CONCAT_WS(' ', ") else { return sql.to_string() };
    let (args, tail) = rest.split_once(')').unwrap();
    format!("{head}{}{tail}", args.split(", ").collect::<Vec<_>>().join(" || ' ' || "))
}

fn sqlite_file(t: &TestDb) -> Option<Vec<u8>> {
    let path = t.url.strip_prefix("sqlite:///")?;
    Some(std::fs::read(path).expect("read the SQLite file"))
}

async fn rehearsal_leaves_nothing(kind: Kind) {
    let t = TestDb::new(kind).await;
    let set = MigrationSet::new(vec![base().boxed(), add_region().boxed(), invoices().boxed()]).unwrap();
    let conn = prepared(&t, &set).await;
    let before = dump(&t).await;
    let file_before = sqlite_file(&t);

    let result = migrate::rehearse(&conn, &set, Action::Upgrade, &Steps::All, Duration::from_secs(10)).await;
    if kind == Kind::MySql {
        let err = result.unwrap_err().to_string();
        assert!(err.contains("MariaDB/MySQL commit") && err.contains("--sql") && err.contains("lint"), "{err}");
        assert_eq!(dump(&t).await, before, "a refused rehearsal runs nothing");
        conn.close().await.ok();
        return t.drop().await;
    }
    let r = result.unwrap();
    assert_eq!(r.failed, None);
    let revisions: Vec<&str> = r.steps.iter().map(|s| s.revision.as_str()).collect();
    assert_eq!(revisions, ["m20990101_000002", "m20990101_000003"]);
    let locks = &r.steps[0].locks;
    match kind {
        Kind::Postgres => {
            let on_orders: Vec<&str> =
                locks.iter().filter(|l| l.relation == "orders").map(|l| l.mode.as_str()).collect();
            assert!(on_orders.contains(&"AccessExclusiveLock"), "ALTER TABLE takes it: {locks:?}");
            assert!(locks.iter().any(|l| l.relation == "orders_region" && l.kind == "index"), "{locks:?}");
            assert!(
                r.steps[1].locks.iter().all(|l| l.relation != "orders"),
                "the second migration's list names only its own new locks: {:?}",
                r.steps[1].locks
            );
            let all: Vec<_> = r.steps.iter().flat_map(|s| &s.locks).collect();
            assert!(
                all.iter().any(|l| l.relation == "old_things" && l.mode == "AccessExclusiveLock"),
                "a table dropped in the rehearsal is still named by its lock: {all:?}"
            );
            for ours in ["seaql_migrations", "seaql_migrations_pkey", "alembic_version", "alembic_version_pkey"] {
                assert!(all.iter().all(|l| l.relation != ours), "Strata's bookkeeping is left out: {all:?}");
            }
            assert!(all.iter().all(|l| !l.relation.starts_with("pg_")), "the catalog is left out: {all:?}");
        }
        _ => assert_eq!(locks[0].relation, "database", "{locks:?}"),
    }
    let changes: Vec<(&str, &str, &str, &str)> =
        r.changes.iter().map(|c| (c.object, c.change, c.table.as_str(), c.name.as_str())).collect();
    for expected in [
        ("column", "added", "orders", "region"),
        ("index", "added", "orders", "orders_region"),
        ("table", "dropped", "old_things", "old_things"),
        ("table", "added", "invoices", "invoices"),
        ("column", "added", "invoices", "total"),
    ] {
        assert!(changes.contains(&expected), "{expected:?} in {changes:#?}");
    }
    assert!(changes.iter().all(|c| c.2 != "migrations_log" && c.2 != "seaql_migrations"), "{changes:?}");
    assert!(r.bookkeeping_created.is_empty(), "the first migration created them for real");

    assert_eq!(dump(&t).await, before, "catalog and bookkeeping unchanged");
    if let (Some(a), Some(b)) = (file_before, sqlite_file(&t)) {
        assert!(a == b, "the SQLite file is byte for byte the same");
    }
    let status = migrate::status(&conn, &set).await.unwrap();
    assert_eq!(status.iter().map(|s| s.state).collect::<Vec<_>>(), ["applied", "pending", "pending"]);
    // The rehearsal freed the lock: a real run goes ahead.
    let quiet = |_: Event<'_>| {};
    let runner = Runner::new(&conn, &set, "tester@host", Duration::from_secs(2), &quiet);
    assert_eq!(runner.up(&Steps::All, false).await.unwrap().len(), 2);
    conn.close().await.ok();
    t.drop().await;
}

async fn failed_rehearsal(kind: Kind) {
    if kind == Kind::MySql {
        return; // refused before anything runs: rehearsal_reports_locks_and_schema_and_leaves_nothing checks it
    }
    let t = TestDb::new(kind).await;
    let set = MigrationSet::new(vec![base().boxed(), add_region().boxed(), broken().boxed()]).unwrap();
    let conn = prepared(&t, &set).await;
    let before = dump(&t).await;

    let r = migrate::rehearse(&conn, &set, Action::Upgrade, &Steps::All, Duration::from_secs(10)).await.unwrap();
    assert_eq!(r.failed.as_deref(), Some("m20990101_000003"));
    assert_eq!(r.steps.len(), 2);
    assert_eq!(r.steps[0].error, None);
    let error = r.steps[1].error.as_deref().unwrap();
    assert!(error.contains("nope"), "{error}");
    assert!(r.changes.iter().any(|c| c.name == "region"), "what ran before the failure is still reported");
    assert_eq!(dump(&t).await, before, "everything rolled back");
    conn.close().await.ok();
    t.drop().await;
}

async fn rehearse_command(kind: Kind) {
    let t = TestDb::new(kind).await;
    let out = strata(&t.url, &["migrate", "up", "--rehearse", "--json"]);
    if kind == Kind::MySql {
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("MariaDB/MySQL") && err.contains("strata migrate up --sql"), "{err}");
        assert!(stdout(&out).is_empty());
        assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "base");
        return t.drop().await;
    }
    let doc: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(doc["steps"].as_array().unwrap().len(), *MIGRATIONS);
    assert_eq!(doc["failed"], Value::Null);
    let added: Vec<&str> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["object"] == "table" && c["change"] == "added")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["posts", "users"]);
    let created: Vec<&str> =
        doc["bookkeeping_created"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(created, ["seaql_migrations", "alembic_version", "migrations_log"]);

    // Nothing stayed: not the tables, not Strata's own.
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), "base");
    let db = t.connect().await;
    for table in ["users", "posts", "seaql_migrations", "alembic_version", "migrations_log"] {
        assert!(!has_table(&db, table).await, "{table} is gone after the rehearsal");
    }

    ok(&strata(&t.url, &["migrate", "up"]));
    let text = ok(&strata(&t.url, &["migrate", "down", "--rehearse"]));
    assert!(text.contains("rolled it back") && text.contains("- table posts"), "{text}");
    if kind == Kind::Postgres {
        assert!(text.contains("lock AccessExclusiveLock on table posts"), "{text}");
    }
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), *HEAD);
    assert!(has_table(&db, "posts").await);
    db.close().await.ok();
    t.drop().await;
}
