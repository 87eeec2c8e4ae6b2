//! `strata migrate lint` and `migrate::lint_plan` on real databases: each rule fires on a crafted migrator, a clean
//! one passes (quoted names and comments included), and the command's exit status and JSON.

mod common;
#[path = "common/sql_migration.rs"]
mod sql_migration;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;
use sql_migration::SqlMigration;
use strata::config::DatabaseUrl;
use strata::db::{self, Purpose};
use strata::migrate::lint::Level;
use strata::migrate::{Action, Event, MigrationSet, Runner, Steps, lint_plan};

each_backend! {
    each_rule_fires_on_a_crafted_migrator => each_rule_fires;
    a_clean_migrator_passes_and_applies => clean_migrator_passes;
    lint_command_exits_one_on_errors_and_prints_json => lint_command;
}

/// Three tables the later migrations work on.
fn base() -> SqlMigration {
    SqlMigration::new("m20990101_000001_base").all(&[
        "CREATE TABLE customers (id integer PRIMARY KEY)",
        "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer, amount integer, note text)",
        "CREATE TABLE old_things (id integer PRIMARY KEY)",
    ])
}

fn risky() -> SqlMigration {
    SqlMigration::new("m20990101_000002_risky")
        .postgres(&[
            "CREATE INDEX orders_amount ON orders (amount)",
            "CREATE INDEX customers_id2 ON customers (id)",
            "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()",
            "ALTER TABLE orders ALTER COLUMN amount TYPE bigint",
            "ALTER TABLE orders ADD COLUMN region text NOT NULL",
            "ALTER TABLE orders ALTER COLUMN note SET NOT NULL",
            "ALTER TABLE orders ADD CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)",
            "ALTER TABLE orders DROP COLUMN note",
            "DROP TABLE old_things",
            "ALTER TABLE orders RENAME COLUMN amount TO total",
            "ALTER TABLE customers RENAME TO clients",
        ])
        .mysql(&[
            "CREATE INDEX orders_amount ON orders (amount)",
            "ALTER TABLE orders MODIFY amount bigint",
            "ALTER TABLE orders DROP COLUMN note",
            "DROP TABLE old_things",
            "ALTER TABLE orders RENAME COLUMN amount TO total",
            "RENAME TABLE customers TO clients",
        ])
        .sqlite(&[
            "CREATE TABLE orders_new (id integer PRIMARY KEY, customer_id integer NOT NULL, amount integer, note text)",
            "INSERT INTO orders_new SELECT * FROM orders",
            "DROP TABLE orders",
            "ALTER TABLE orders_new RENAME TO orders",
            "ALTER TABLE customers ADD COLUMN region text NOT NULL",
            "ALTER TABLE orders DROP COLUMN note",
            "DROP TABLE old_things",
            "ALTER TABLE orders RENAME COLUMN amount TO total",
            "ALTER TABLE customers RENAME TO clients",
        ])
}

/// The same intents written the safe way, with quoted names and comments that spell dangerous statements.
fn clean() -> Vec<SqlMigration> {
    vec![
        SqlMigration::new("m20990101_000003_index_online")
            .postgres(&[
                "SET lock_timeout = '5s'",
                "-- DROP TABLE orders;\nCREATE INDEX CONCURRENTLY \"drop table\" ON orders (amount)",
            ])
            .mysql(&["# DROP TABLE orders\nCREATE INDEX `drop table` ON orders (amount) ALGORITHM=INPLACE LOCK=NONE"])
            .sqlite(&["CREATE INDEX \"drop table\" ON orders (amount) -- DROP TABLE orders"])
            .outside_transaction(),
        SqlMigration::new("m20990101_000004_columns")
            .postgres(&[
                "SET LOCAL lock_timeout = '5s'",
                "/* ALTER TABLE orders DROP COLUMN note */ ALTER TABLE orders ADD COLUMN \"DROP COLUMN\" text",
                "ALTER TABLE orders ADD CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id) \
                 NOT VALID",
                "INSERT INTO old_things (id) SELECT 1 WHERE 'DROP TABLE orders; ALTER TABLE orders RENAME TO x' <> ''",
                "CREATE TABLE fresh (id integer PRIMARY KEY, n text)",
                "CREATE INDEX fresh_n ON fresh (n)",
                "ALTER TABLE fresh ADD COLUMN u uuid NOT NULL DEFAULT gen_random_uuid()",
            ])
            .mysql(&[
                "/* ALTER TABLE orders DROP COLUMN note */ ALTER TABLE orders ADD COLUMN `DROP COLUMN` text, \
                 ALGORITHM=INSTANT",
                "INSERT INTO old_things (id) SELECT 1 FROM DUAL WHERE 'DROP TABLE orders; RENAME TABLE a TO b' <> ''",
                "CREATE TABLE fresh (id integer PRIMARY KEY, n varchar(20))",
                "CREATE INDEX fresh_n ON fresh (n)",
                "ALTER TABLE fresh MODIFY n varchar(40)",
            ])
            .sqlite(&[
                "/* ALTER TABLE orders DROP COLUMN note */ ALTER TABLE orders ADD COLUMN \"DROP COLUMN\" text",
                "INSERT INTO old_things (id) SELECT 1 WHERE 'DROP TABLE orders; ALTER TABLE orders RENAME TO x' <> ''",
                "CREATE TABLE fresh (id integer PRIMARY KEY, n text)",
                "ALTER TABLE fresh ADD COLUMN m text NOT NULL DEFAULT ''",
                "ALTER TABLE fresh RENAME COLUMN m TO k",
            ]),
    ]
}

/// Applies the first migration and fills `orders` past the row threshold, with fresh statistics.
async fn prepared(t: &TestDb, set: &MigrationSet) -> sea_orm::DatabaseConnection {
    let url = DatabaseUrl::parse(&t.url).unwrap();
    let conn = db::connect(&url, Purpose::Migrate).await.unwrap();
    let quiet = |_: Event<'_>| {};
    Runner::new(&conn, set, "tester@host", std::time::Duration::from_secs(10), &quiet)
        .up(&Steps::Count(1), false)
        .await
        .unwrap();
    let check = t.connect().await;
    let fill = match t.kind {
        Kind::Postgres => vec![
            "INSERT INTO customers SELECT generate_series(1, 10)",
            "INSERT INTO orders SELECT g, g % 10 + 1, g, 'n' FROM generate_series(1, 20000) g",
            "ANALYZE",
        ],
        Kind::MySql => vec![
            "INSERT INTO customers SELECT seq FROM seq_1_to_10",
            "INSERT INTO orders SELECT seq, seq % 10 + 1, seq, 'n' FROM seq_1_to_20000",
            "ANALYZE TABLE customers, orders",
        ],
        Kind::Sqlite => vec![
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 10) INSERT INTO customers SELECT x FROM g",
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 20000) \
             INSERT INTO orders SELECT x, x % 10 + 1, x, 'n' FROM g",
            "ANALYZE",
        ],
    };
    for sql in fill {
        exec(&check, sql).await;
    }
    check.close().await.ok();
    conn
}

async fn each_rule_fires(kind: Kind) {
    let t = TestDb::new(kind).await;
    let set = MigrationSet::new(vec![base().boxed(), risky().boxed()]).unwrap();
    let conn = prepared(&t, &set).await;

    let report = lint_plan(&conn, &set, Action::Upgrade, &Steps::All).await.unwrap();
    assert_eq!(report.migrations.len(), 1, "only the pending migration is linted");
    let findings: Vec<_> = report.findings().collect();
    let rules: BTreeSet<&str> = findings.iter().map(|f| f.rule).collect();
    let expected: &[&str] = match kind {
        Kind::Postgres => &[
            "require-lock-timeout",
            "require-concurrent-index-creation",
            "adding-field-with-default",
            "changing-column-type",
            "adding-not-nullable-field",
            "setting-not-null",
            "adding-foreign-key-constraint",
            "ban-drop-column",
            "ban-drop-table",
            "renaming-column",
            "renaming-table",
        ],
        Kind::MySql => &[
            "alter-without-algorithm",
            "changing-column-type",
            "ban-drop-column",
            "ban-drop-table",
            "renaming-column",
            "renaming-table",
        ],
        Kind::Sqlite => &[
            "rebuilding-table",
            "adding-not-nullable-field",
            "ban-drop-column",
            "ban-drop-table",
            "renaming-column",
            "renaming-table",
        ],
    };
    assert_eq!(rules, expected.iter().copied().collect(), "{findings:#?}");
    assert!(findings.iter().all(|f| f.migration == "m20990101_000002"));
    let find = |rule: &str, statement: usize| {
        findings
            .iter()
            .find(|f| f.rule == rule && f.statement == statement)
            .unwrap_or_else(|| panic!("{rule} on statement {statement}: {findings:#?}"))
    };
    match kind {
        Kind::Postgres => {
            let big = find("require-concurrent-index-creation", 1);
            assert_eq!(big.level, Level::Error, "orders has 20000 rows");
            assert!(big.message.contains("about 20000 rows"), "{}", big.message);
            assert!(big.safer.starts_with("CREATE INDEX CONCURRENTLY orders_amount ON orders"), "{}", big.safer);
            assert_eq!(find("require-concurrent-index-creation", 2).level, Level::Warning, "customers has 10");
            assert_eq!(find("setting-not-null", 6).level, Level::Error);
            assert!(find("changing-column-type", 4).destructive, "a type change rewrites the table");
        }
        Kind::MySql => {
            let alter = find("alter-without-algorithm", 2);
            assert!(alter.safer.contains("ALGORITHM=INPLACE, LOCK=NONE"), "{}", alter.safer);
        }
        Kind::Sqlite => {
            let rebuild = find("rebuilding-table", 4);
            assert_eq!(rebuild.level, Level::Error, "{}", rebuild.message);
            assert!(rebuild.destructive);
            assert!(!findings.iter().any(|f| f.rule == "ban-drop-table" && f.statement == 3), "the rebuild's drop");
        }
    }
    assert!(
        find(
            "ban-drop-table",
            if kind == Kind::Postgres {
                9
            } else if kind == Kind::MySql {
                4
            } else {
                7
            }
        )
        .destructive
    );
    assert!(report.errors() > 0 && report.destructive());
    // The statements are the ones `--sql` shows, numbered as the findings number them.
    assert!(report.migrations[0].statements[0].contains("orders"));

    conn.close().await.ok();
    t.drop().await;
}

async fn clean_migrator_passes(kind: Kind) {
    let t = TestDb::new(kind).await;
    let mut migrations = vec![base().boxed()];
    migrations.extend(clean().into_iter().map(SqlMigration::boxed));
    let set = MigrationSet::new(migrations).unwrap();
    let conn = prepared(&t, &set).await;

    let report = lint_plan(&conn, &set, Action::Upgrade, &Steps::All).await.unwrap();
    assert_eq!(report.migrations.len(), 2);
    assert_eq!(report.findings().count(), 0, "{:#?}", report.findings().collect::<Vec<_>>());

    // The clean migrations are real SQL this backend runs.
    let quiet = |_: Event<'_>| {};
    let runner = Runner::new(&conn, &set, "tester@host", std::time::Duration::from_secs(10), &quiet);
    assert_eq!(runner.up(&Steps::All, false).await.unwrap().len(), 2);
    conn.close().await.ok();
    t.drop().await;
}

async fn lint_command(kind: Kind) {
    let t = TestDb::new(kind).await;
    // Strata's example migrator only creates tables: nothing to say.
    let out = strata(&t.url, &["migrate", "lint"]);
    assert!(ok(&out).contains("no findings"), "{}", stdout(&out));
    let doc: Value = serde_json::from_str(&ok(&strata(&t.url, &["migrate", "lint", "--json"]))).unwrap();
    assert_eq!(doc["errors"], 0);
    assert_eq!(doc["action"], "upgrade");
    assert_eq!(doc["migrations"].as_array().unwrap().len(), *MIGRATIONS);
    assert!(doc["migrations"][0]["statements"][0].as_str().unwrap().contains("CREATE TABLE"), "{doc}");

    ok(&strata(&t.url, &["migrate", "up"]));
    // Rolling everything back drops tables: error-level findings, exit status 1, still one JSON document.
    let out = strata(&t.url, &["migrate", "lint", "--down", "--to", "base", "--json"]);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("error-level finding"), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["action"], "downgrade");
    assert!(doc["errors"].as_u64().unwrap() >= 2, "{doc}");
    let first = &doc["migrations"][0]["findings"][0];
    for field in ["migration", "statement", "rule", "level", "message", "safer", "destructive"] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }
    let rules: Vec<&str> = doc["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()))
        .collect();
    assert!(rules.contains(&"ban-drop-table"), "{rules:?}");

    let text = strata(&t.url, &["migrate", "lint", "--down"]);
    assert_eq!(text.status.code(), Some(1));
    let shown = stdout(&text);
    assert!(shown.contains("error: ban-drop-table") && shown.contains("safer: "), "{shown}");
    // Linting changed nothing.
    assert_eq!(ok(&strata(&t.url, &["migrate", "current"])).trim(), *HEAD);
    t.drop().await;
}
