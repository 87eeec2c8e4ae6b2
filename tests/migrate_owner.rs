//! `strata migrate` on a database it does not own: another Alembic project's, or an app's schema with no version
//! table. Changing commands refuse and leave the catalog as it was; read-only ones work and warn. A migration that
//! fails on an existing object says exactly what was rolled back and what stays.

mod common;

use common::*;
use sea_orm::Statement;
use sea_orm_migration::prelude::*;
use strata::config::DatabaseUrl;
use strata::db::{self, Purpose};
use strata::migrate::{Event, MigrationSet, Runner, Steps};

/// The revision a real Alembic project keeps: twelve hex digits of its own.
const FOREIGN: &str = "3f2a9c1b7d4e";

const FOREIGN_TEXT: &str = "alembic_version holds 3f2a9c1b7d4e, which is not one of this migrator's revisions: \
                            the database looks managed by another Alembic project";

/// An application's own `users` table with rows, as an app that never heard of strata has it.
async fn app_users(t: &TestDb) {
    let db = t.connect().await;
    exec(&db, "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL)").await;
    exec(&db, "INSERT INTO users (id, email) VALUES (1, 'a@example.org'), (2, 'b@example.org'), (3, 'c@example.org')")
        .await;
    db.close().await.ok();
}

/// `alembic_version` as Alembic creates it, holding `revisions`.
async fn alembic_at(t: &TestDb, revisions: &[&str]) {
    let db = t.connect().await;
    exec(
        &db,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
         CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
    )
    .await;
    for rev in revisions {
        exec(&db, &format!("INSERT INTO alembic_version (version_num) VALUES ('{rev}')")).await;
    }
    db.close().await.ok();
}

/// Everything a command could have added or changed: every relation of the schema (PostgreSQL: tables, indexes,
/// sequences; SQLite: the whole `sqlite_master`), the row counts of the fixture's tables and `alembic_version`.
async fn catalog(t: &TestDb) -> Vec<String> {
    let db = t.connect().await;
    let relations = match t.kind {
        Kind::Postgres => {
            "SELECT c.relkind::text || ' ' || c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() ORDER BY 1"
        }
        Kind::MySql => {
            "SELECT CONCAT(TABLE_TYPE, ' ', TABLE_NAME) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1"
        }
        Kind::Sqlite => "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY 1",
    };
    let mut out = column(&db, relations).await;
    for table in ["users", "alembic_version"] {
        if has_table(&db, table).await {
            out.push(format!("{table}: {} rows", count(&db, &format!("SELECT count(*) FROM {table}")).await));
        }
    }
    if has_table(&db, "alembic_version").await {
        for v in column(&db, "SELECT version_num FROM alembic_version ORDER BY 1").await {
            out.push(format!("alembic_version = {v}"));
        }
    }
    db.close().await.ok();
    out
}

/// Runs `strata migrate ARGS`, which must fail saying `expected` and that nothing changed, and leave `before`.
#[track_caller]
fn refused(t: &TestDb, args: &[&str], expected: &str) -> String {
    let mut full = vec!["migrate"];
    full.extend_from_slice(args);
    let o = strata(&t.url, &full);
    let err = stderr(&o);
    assert!(!o.status.success(), "`strata migrate {}` succeeded:\n{}\n{err}", args.join(" "), stdout(&o));
    assert!(err.contains(expected), "`strata migrate {}` said:\n{err}", args.join(" "));
    assert!(err.contains("Nothing was changed"), "`strata migrate {}` said:\n{err}", args.join(" "));
    err
}

each_backend! {
    another_alembic_projects_database_is_refused_and_left_as_it_was => foreign_alembic;
    alembic_branches_are_another_projects_too => alembic_branches;
    an_app_schema_without_a_version_table_is_refused_naming_its_tables => app_schema;
    a_failed_migration_says_what_was_rolled_back_and_what_stays => honest_report;
    a_table_the_plan_drops_first_is_no_clash => drop_then_create;
}

async fn foreign_alembic(kind: Kind) {
    let t = TestDb::new(kind).await;
    app_users(&t).await;
    alembic_at(&t, &[FOREIGN]).await;
    let before = catalog(&t).await;
    assert!(before.contains(&"users: 3 rows".to_string()), "{before:?}");

    let commands: [&[&str]; 9] = [
        &["up"],
        &["up", "--sql"],
        &["down", "--to", "base"],
        &["down", "--to", "base", "--sql"],
        &["stamp", "head"],
        &["stamp", "base"],
        &["fresh", "--yes"],
        &["reset", "--yes"],
        &["refresh", "--yes"],
    ];
    for args in commands {
        refused(&t, args, FOREIGN_TEXT);
        assert_eq!(catalog(&t).await, before, "after `strata migrate {}`", args.join(" "));
    }
    // Not even the confirmation question comes first: the refusal says why --yes would not help.
    refused(&t, &["fresh"], FOREIGN_TEXT);

    let status = strata(&t.url, &["migrate", "status"]);
    let out = ok(&status);
    assert!(stderr(&status).contains(&format!("warning: {FOREIGN_TEXT}")), "{}", stderr(&status));
    assert!(out.contains(FOREIGN), "status shows the head it found:\n{out}");
    let current = strata(&t.url, &["migrate", "current"]);
    assert_eq!(ok(&current).trim(), FOREIGN);
    assert!(stderr(&current).contains(FOREIGN_TEXT), "{}", stderr(&current));
    let history = strata(&t.url, &["migrate", "history", "--json"]);
    assert_eq!(ok(&history).trim(), "[]");
    assert!(stderr(&history).contains(FOREIGN_TEXT), "{}", stderr(&history));
    assert_eq!(catalog(&t).await, before, "read-only commands change nothing");
    t.drop().await;
}

async fn alembic_branches(kind: Kind) {
    let t = TestDb::new(kind).await;
    app_users(&t).await;
    // One of them even looks like one of strata's revisions: two rows are never strata's.
    let ours = strata::migrate::MigrationSet::of::<migration::Migrator>().unwrap().entries()[0].revision.clone();
    alembic_at(&t, &["a1b2c3d4e5f6", &ours]).await;
    let before = catalog(&t).await;
    for args in [&["up"][..], &["stamp", HEAD.as_str()], &["down", "--to", "base"]] {
        refused(&t, args, "the database looks managed by another Alembic project");
        assert_eq!(catalog(&t).await, before, "after `strata migrate {}`", args.join(" "));
    }
    let err = refused(&t, &["up"], "2 revisions");
    assert!(err.contains("a1b2c3d4e5f6"), "{err}");
    t.drop().await;
}

async fn app_schema(kind: Kind) {
    let t = TestDb::new(kind).await;
    app_users(&t).await;
    let before = catalog(&t).await;

    let err = refused(&t, &["up"], "the database already has a table that `strata migrate up` would create: users");
    assert!(err.contains("stamp"), "says how to take the schema over explicitly: {err}");
    assert_eq!(catalog(&t).await, before, "no bookkeeping table, no lock table, nothing");
    refused(&t, &["up", "--sql"], "users");
    assert_eq!(catalog(&t).await, before);

    // An empty alembic_version is no revision either.
    alembic_at(&t, &[]).await;
    let before = catalog(&t).await;
    refused(&t, &["up"], "users");
    assert_eq!(catalog(&t).await, before);

    // Stamping says the schema is the migrations': then strata manages it.
    ok(&strata(&t.url, &["migrate", "stamp", HEAD.as_str()]));
    ok(&strata(&t.url, &["migrate", "up"]));
    let check = t.connect().await;
    assert_eq!(column(&check, "SELECT version_num FROM alembic_version").await, vec![HEAD.clone()]);
    assert_eq!(count(&check, "SELECT count(*) FROM users").await, 3, "the app's rows are untouched");
    check.close().await.ok();
    t.drop().await;
}

/// Creates a table, then fails on one that exists. It reads the database first, as a migration checking its
/// data does, so the clash check cannot follow it and the runner meets the failure itself.
struct FailsOnExisting;
impl MigrationName for FailsOnExisting {
    fn name(&self) -> &str {
        "m20990301_000001_fails_on_existing"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for FailsOnExisting {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = m.get_connection();
        c.query_one_raw(Statement::from_string(c.get_database_backend(), "SELECT count(*) FROM taken")).await?;
        c.execute_unprepared("CREATE TABLE t_new (id INTEGER PRIMARY KEY)").await?;
        c.execute_unprepared("CREATE TABLE taken (id INTEGER PRIMARY KEY)").await?; // already exists
        Ok(())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP TABLE t_new").await.map(|_| ())
    }
}

async fn honest_report(kind: Kind) {
    let t = TestDb::new(kind).await;
    exec(&t.connect().await, "CREATE TABLE taken (id INTEGER PRIMARY KEY)").await;
    let url = DatabaseUrl::parse(&t.url).unwrap();
    let conn = db::connect(&url, Purpose::Migrate).await.unwrap();
    let set = MigrationSet::new(vec![Box::new(FailsOnExisting)]).unwrap();
    let quiet = |_: Event<'_>| {};
    let runner = Runner::new(&conn, &set, "tester@host", std::time::Duration::from_secs(10), &quiet);

    let err = runner.up(&Steps::All, false).await.unwrap_err().to_string();
    assert!(err.contains("m20990301_000001") && err.contains("failed"), "{err}");
    assert!(!err.contains("as it was before"), "the bookkeeping tables stay, so the database is not as it was: {err}");
    assert!(
        err.contains(
            "the bookkeeping tables this run created before it (seaql_migrations, alembic_version, migrations_log)"
        ),
        "names the tables it leaves behind: {err}"
    );
    assert!(err.contains("this failed attempt, recorded in migrations_log"), "{err}");
    conn.close().await.ok();

    // Every claim holds.
    let check = t.connect().await;
    for table in ["seaql_migrations", "alembic_version", "migrations_log"] {
        assert!(has_table(&check, table).await, "{table} stays, as the report says");
    }
    assert_eq!(count(&check, "SELECT count(*) FROM migrations_log WHERE status = 'failed'").await, 1);
    assert_eq!(count(&check, "SELECT count(*) FROM alembic_version").await, 0);
    match kind {
        Kind::Postgres | Kind::Sqlite => {
            assert!(err.contains("Its own changes were rolled back"), "{err}");
            assert!(!has_table(&check, "t_new").await, "rolled back, as the report says");
        }
        Kind::MySql => {
            assert!(!err.contains("rolled back"), "MariaDB commits DDL: no rollback is claimed: {err}");
            assert!(err.contains("may be half-applied"), "{err}");
            assert!(has_table(&check, "t_new").await, "half-applied, as the report says");
        }
    }
    check.close().await.ok();
    t.drop().await;
}

/// Replaces an app's `legacy` table: a drop, then a create of the same name.
struct ReplaceLegacy;
impl MigrationName for ReplaceLegacy {
    fn name(&self) -> &str {
        "m20990301_000002_replace_legacy"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for ReplaceLegacy {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = m.get_connection();
        c.execute_unprepared("DROP TABLE legacy").await?;
        c.execute_unprepared("CREATE TABLE legacy (id INTEGER PRIMARY KEY, note VARCHAR(20))").await?;
        Ok(())
    }
    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

async fn drop_then_create(kind: Kind) {
    let t = TestDb::new(kind).await;
    exec(&t.connect().await, "CREATE TABLE legacy (id INTEGER PRIMARY KEY)").await;
    let url = DatabaseUrl::parse(&t.url).unwrap();
    let conn = db::connect(&url, Purpose::Migrate).await.unwrap();
    let set = MigrationSet::new(vec![Box::new(ReplaceLegacy)]).unwrap();
    let quiet = |_: Event<'_>| {};
    let runner = Runner::new(&conn, &set, "tester@host", std::time::Duration::from_secs(10), &quiet);
    let done = runner.up(&Steps::All, false).await.expect("a dropped table is no clash");
    assert_eq!(done.len(), 1);
    conn.close().await.ok();
    t.drop().await;
}
