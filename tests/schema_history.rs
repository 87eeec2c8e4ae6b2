//! Every migration tool's history in a watched database, on SQLite, PostgreSQL and MariaDB: each tool's table built
//! with its real column types and realistic rows (failed, rolled-back, dirty, out-of-order and locked cases), the
//! project folder's files (pending, changed, missing), and what the page, the API, the CLI and the matrix show.

mod common;

use std::path::Path;

use common::apps::{assert_unchanged, snapshot};
use common::web::{Browser, app_state_for, test_config};
use common::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use strata::config::{DatabaseUrl, WatchSpec};
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;
use strata::watch::schema_history::files::{flyway_checksum, prisma_checksum};
use strata::watch::schema_history::{self, AppliedState, Migrations, ProblemKind, Tool, ToolHistory};

each_backend! {
    every_tool_is_detected_with_its_history_and_nothing_is_written => every_tool;
    the_three_schema_migrations_shapes_are_told_apart => three_shapes;
    prisma_failed_and_rolled_back_attempts_are_problems_with_their_logs => prisma_troubles;
    golang_migrate_dirty_names_the_version_and_migrate_force => golang_dirty;
    liquibase_and_knex_held_locks_say_who_and_since_when => held_locks;
    project_files_show_pending_changed_out_of_order_and_missing => project_files;
}

/// Column types and literals that differ between the engines, as each tool declares them there.
struct Dialect(Kind);

impl Dialect {
    /// A time column with zone (Prisma, Django, Knex).
    fn tstz(&self) -> &'static str {
        match self.0 {
            Kind::Postgres => "TIMESTAMPTZ",
            Kind::MySql => "DATETIME(3)",
            Kind::Sqlite => "DATETIME",
        }
    }

    /// A time column without zone (Flyway, Liquibase, Diesel).
    fn ts(&self) -> &'static str {
        match self.0 {
            Kind::Postgres => "TIMESTAMP",
            Kind::MySql => "DATETIME",
            Kind::Sqlite => "DATETIME",
        }
    }

    fn serial(&self) -> &'static str {
        match self.0 {
            Kind::Postgres => "SERIAL PRIMARY KEY",
            Kind::MySql => "INT AUTO_INCREMENT PRIMARY KEY",
            Kind::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        }
    }

    /// Liquibase's boolean: BIT(1) on MariaDB.
    fn lb_bool(&self) -> &'static str {
        match self.0 {
            Kind::MySql => "BIT(1)",
            _ => "BOOLEAN",
        }
    }

    fn lb_true(&self) -> &'static str {
        match self.0 {
            Kind::MySql => "b'1'",
            _ => "TRUE",
        }
    }

    /// A time literal (UTC).
    fn at(&self, t: &str) -> String {
        match self.0 {
            Kind::Postgres => format!("'{t}+00'"),
            _ => format!("'{t}'"),
        }
    }
}

async fn run(db: &DatabaseConnection, sqls: &[String]) {
    for s in sqls {
        exec(db, s).await;
    }
}

fn spec(t: &TestDb, dir: Option<&Path>) -> WatchSpec {
    let mut s = WatchSpec::new(APP.into(), DatabaseUrl::parse(&t.url).unwrap(), "test".into());
    s.migrations_dir = dir.map(Path::to_path_buf);
    s
}

/// What Strata reads, through the same pool the pages use (read-only on SQLite).
async fn read(t: &TestDb, dir: Option<&Path>) -> Migrations {
    let url = DatabaseUrl::parse(&t.url).unwrap();
    let db = strata::db::connect(&url, strata::db::Purpose::Watch { idle: std::time::Duration::from_secs(5) })
        .await
        .unwrap();
    let m = schema_history::read(&db, &spec(t, dir), None).await.expect("read the migration tools");
    db.close().await.ok();
    m
}

#[track_caller]
fn tool(m: &Migrations, tool: Tool) -> &ToolHistory {
    m.tools.iter().find(|t| t.tool == tool).unwrap_or_else(|| panic!("{tool} not found in {:#?}", m.tools))
}

fn kinds(h: &ToolHistory) -> Vec<ProblemKind> {
    h.problems.iter().map(|p| p.kind).collect()
}

// --- fixtures: each tool's table as the tool creates it, with rows as it writes them ---

fn flyway(d: &Dialect, q: &dyn Fn(&str) -> String) -> Vec<String> {
    let t = q("flyway_schema_history");
    let v1 = flyway_checksum(FLYWAY_V1.as_bytes());
    vec![
        format!(
            "CREATE TABLE {t} (installed_rank INT NOT NULL PRIMARY KEY, version VARCHAR(50), description VARCHAR(200) \
             NOT NULL, {ty} VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INT, installed_by \
             VARCHAR(100) NOT NULL, installed_on {ts} NOT NULL, execution_time INT NOT NULL, success BOOLEAN NOT NULL)",
            ty = q("type"),
            ts = d.ts()
        ),
        format!(
            "INSERT INTO {t} VALUES (1, '1', 'init', 'SQL', 'V1__init.sql', {v1}, 'deploy', '2024-03-01 12:00:00', 41, \
             TRUE), (2, '2', 'users', 'SQL', 'V2__users.sql', 12345, 'deploy', '2024-03-02 12:00:00', 1250, TRUE), \
             (3, '3', 'add index', 'SQL', 'V3__add_index.sql', -99, 'ci', '2024-03-03 12:00:00', 3, FALSE)"
        ),
    ]
}

const FLYWAY_V1: &str = "CREATE TABLE teams (id INT PRIMARY KEY);\r\n";

fn prisma(d: &Dialect, q: &dyn Fn(&str) -> String) -> Vec<String> {
    let t = q("_prisma_migrations");
    let (text, steps) = match d.0 {
        Kind::Postgres => ("VARCHAR(36) PRIMARY KEY NOT NULL", "INTEGER NOT NULL DEFAULT 0"),
        Kind::MySql => ("VARCHAR(36) PRIMARY KEY NOT NULL", "INTEGER UNSIGNED NOT NULL DEFAULT 0"),
        Kind::Sqlite => ("TEXT PRIMARY KEY NOT NULL", "INTEGER UNSIGNED NOT NULL DEFAULT 0"),
    };
    let init = prisma_checksum(PRISMA_INIT.as_bytes());
    // Prisma on SQLite stores its times as milliseconds since the epoch.
    let at = |s: &str, ms: i64| if d.0 == Kind::Sqlite { ms.to_string() } else { d.at(s) };
    vec![
        format!(
            "CREATE TABLE {t} (id {text}, checksum VARCHAR(64) NOT NULL, finished_at {tz}, migration_name \
             VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at {tz}, started_at {tz} NOT NULL, applied_steps_count {steps})",
            tz = d.tstz()
        ),
        format!(
            "INSERT INTO {t} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, \
             applied_steps_count) VALUES \
             ('0c1d6f7e-0001-4000-8000-000000000001', '{init}', {}, '20240101000000_init', NULL, NULL, {}, 1), \
             ('0c1d6f7e-0002-4000-8000-000000000002', 'aaaa', NULL, '20240201000000_add_posts', \
              'Database error: relation \"posts\" already exists', {}, {}, 0), \
             ('0c1d6f7e-0003-4000-8000-000000000003', 'aaaa', {}, '20240201000000_add_posts', NULL, NULL, {}, 1), \
             ('0c1d6f7e-0004-4000-8000-000000000004', 'bbbb', NULL, '20240301000000_add_goals', \
              'Database error code: 42701\nERROR: column \"goal\" of relation \"User\" already exists', NULL, {}, 0)",
            at("2024-01-01 00:00:01", 1_704_067_201_000),
            at("2024-01-01 00:00:00", 1_704_067_200_000),
            at("2024-02-01 01:00:00", 1_706_749_200_000),
            at("2024-02-01 00:00:00", 1_706_745_600_000),
            at("2024-02-02 00:00:02", 1_706_832_002_000),
            at("2024-02-02 00:00:00", 1_706_832_000_000),
            at("2024-03-01 00:00:00", 1_709_251_200_000),
        ),
    ]
}

const PRISMA_INIT: &str = "-- CreateTable\nCREATE TABLE \"User\" (\"id\" SERIAL NOT NULL);\n";

fn rails(d: &Dialect, q: &dyn Fn(&str) -> String) -> Vec<String> {
    vec![
        format!("CREATE TABLE {} (version VARCHAR(255) NOT NULL PRIMARY KEY)", q("schema_migrations")),
        format!(
            "CREATE TABLE {} ({} VARCHAR(255) NOT NULL PRIMARY KEY, value VARCHAR(255), created_at {ts} NOT NULL, \
             updated_at {ts} NOT NULL)",
            q("ar_internal_metadata"),
            q("key"),
            ts = d.ts()
        ),
        format!("INSERT INTO {} VALUES ('20240101120000'), ('20240215093000')", q("schema_migrations")),
    ]
}

fn others(d: &Dialect, q: &dyn Fn(&str) -> String) -> Vec<String> {
    let lb = |n: &str| if d.0 == Kind::Postgres { q(&n.to_lowercase()) } else { q(n) };
    vec![
        format!(
            "CREATE TABLE {} (id {}, app VARCHAR(255) NOT NULL, name VARCHAR(255) NOT NULL, applied {} NOT NULL)",
            q("django_migrations"),
            d.serial(),
            d.tstz()
        ),
        format!(
            "INSERT INTO {} (app, name, applied) VALUES ('contenttypes', '0001_initial', {}), ('auth', \
             '0001_initial', {})",
            q("django_migrations"),
            d.at("2024-01-05 10:00:00"),
            d.at("2024-01-05 10:00:01")
        ),
        format!(
            "CREATE TABLE {} (id {}, name VARCHAR(255), batch INT, migration_time {})",
            q("knex_migrations"),
            d.serial(),
            d.tstz()
        ),
        format!("CREATE TABLE {} ({} {}, is_locked INT)", q("knex_migrations_lock"), q("index"), d.serial()),
        format!(
            "INSERT INTO {} (name, batch, migration_time) VALUES ('20240101_create_users.js', 1, {}), \
             ('20240102_create_posts.js', 2, {})",
            q("knex_migrations"),
            d.at("2024-01-01 08:00:00"),
            d.at("2024-01-02 08:00:00")
        ),
        format!("INSERT INTO {} (is_locked) VALUES (0)", q("knex_migrations_lock")),
        format!(
            "CREATE TABLE {} (ID VARCHAR(255) NOT NULL, AUTHOR VARCHAR(255) NOT NULL, FILENAME VARCHAR(255) NOT NULL, \
             DATEEXECUTED {} NOT NULL, ORDEREXECUTED INT NOT NULL, EXECTYPE VARCHAR(10) NOT NULL, MD5SUM VARCHAR(35), \
             DESCRIPTION VARCHAR(255), COMMENTS VARCHAR(255), TAG VARCHAR(255), LIQUIBASE VARCHAR(20), CONTEXTS \
             VARCHAR(255), LABELS VARCHAR(255), DEPLOYMENT_ID VARCHAR(10))",
            lb("DATABASECHANGELOG"),
            d.ts()
        ),
        format!(
            "INSERT INTO {} (ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, EXECTYPE, MD5SUM, DESCRIPTION) VALUES \
             ('1', 'alice', 'db/changelog.xml', '2024-01-03 09:00:00', 1, 'EXECUTED', '9:1f2e3d', 'createTable \
             tableName=orders'), ('2', 'bob', 'db/changelog.xml', '2024-01-04 09:00:00', 2, 'EXECUTED', '9:aabbcc', \
             'addColumn tableName=orders')",
            lb("DATABASECHANGELOG")
        ),
        format!(
            "CREATE TABLE {} (ID INT NOT NULL PRIMARY KEY, LOCKED {} NOT NULL, LOCKGRANTED {}, LOCKEDBY VARCHAR(255))",
            lb("DATABASECHANGELOGLOCK"),
            d.lb_bool(),
            d.ts()
        ),
        format!("INSERT INTO {} (ID, LOCKED) VALUES (1, FALSE)", lb("DATABASECHANGELOGLOCK"))
            .replace("FALSE", if d.0 == Kind::MySql { "b'0'" } else { "FALSE" }),
        format!(
            "CREATE TABLE {} (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on {} NOT NULL)",
            q("__diesel_schema_migrations"),
            d.ts()
        ),
        format!(
            "INSERT INTO {} VALUES ('00000000000000', '2024-01-01 00:00:00'), ('20240110120000', '2024-01-10 12:00:00')",
            q("__diesel_schema_migrations")
        ),
        format!(
            "CREATE TABLE {} (version VARCHAR(255) PRIMARY KEY NOT NULL, applied_at BIGINT NOT NULL)",
            q("seaql_migrations")
        ),
        format!("INSERT INTO {} VALUES ('m20240101_000001_create_users', 1704067200)", q("seaql_migrations")),
        format!(
            "CREATE TABLE {} (id {}, version_id BIGINT NOT NULL, is_applied BOOLEAN NOT NULL, tstamp {})",
            q("goose_db_version"),
            d.serial(),
            d.ts()
        ),
        format!(
            "INSERT INTO {} (version_id, is_applied, tstamp) VALUES (0, TRUE, '2024-01-01 00:00:00'), (1, TRUE, \
             '2024-01-02 00:00:00'), (2, TRUE, '2024-01-03 00:00:00'), (2, FALSE, '2024-01-04 00:00:00')",
            q("goose_db_version")
        ),
        format!(
            "CREATE TABLE {} (id {}, {} BIGINT NOT NULL, name VARCHAR(255) NOT NULL)",
            q("migrations"),
            d.serial(),
            q("timestamp")
        ),
        format!(
            "INSERT INTO {} ({}, name) VALUES (1700000000000, 'CreateUsers1700000000000')",
            q("migrations"),
            q("timestamp")
        ),
        format!("CREATE TABLE {} (name VARCHAR(255) NOT NULL PRIMARY KEY)", q("SequelizeMeta")),
        format!("INSERT INTO {} VALUES ('20240101000000-create-user.js')", q("SequelizeMeta")),
    ]
}

async fn every_tool(kind: Kind) {
    let t = TestDb::new(kind).await;
    let d = Dialect(kind);
    let q = |n: &str| t.quote(n);
    let db = t.connect().await;
    for fixture in [flyway(&d, &q), prisma(&d, &q), rails(&d, &q), others(&d, &q)] {
        run(&db, &fixture).await;
    }
    let before = snapshot(&t).await;
    let m = read(&t, None).await;
    assert_unchanged(&before, &snapshot(&t).await, "reading every tool's history");
    let found: Vec<Tool> = m.tools.iter().map(|t| t.tool).collect();
    for want in [
        Tool::Flyway,
        Tool::Rails,
        Tool::Prisma,
        Tool::Diesel,
        Tool::Seaorm,
        Tool::Django,
        Tool::Goose,
        Tool::Knex,
        Tool::Liquibase,
        Tool::Typeorm,
        Tool::Sequelize,
    ] {
        assert!(found.contains(&want), "{want} on {kind:?}: found {found:?}");
    }
    assert_eq!(found.len(), 11, "nothing else: {found:?}");
    for h in &m.tools {
        assert_eq!(h.schema.as_deref(), Some(t.schema()), "{}", h.tool);
    }

    let fw = tool(&m, Tool::Flyway);
    assert_eq!(fw.current.as_deref(), Some("2"), "the newest successful version");
    assert_eq!(fw.applied.len(), 3);
    assert_eq!(fw.applied[1].applied_by.as_deref(), Some("deploy"));
    assert_eq!(fw.applied[1].duration_ms, Some(1250));
    assert_eq!(fw.applied[0].checksum, Some(flyway_checksum(FLYWAY_V1.as_bytes()).to_string()));
    assert_eq!(fw.applied[0].applied_at.unwrap().to_rfc3339(), "2024-03-01T12:00:00+00:00");
    assert_eq!(fw.applied[2].state, AppliedState::Failed);
    assert_eq!(kinds(fw), [ProblemKind::Failed]);
    assert!(fw.problems[0].message.contains("flyway repair"), "{}", fw.problems[0].message);

    let rails = tool(&m, Tool::Rails);
    assert!(rails.reason.contains("ar_internal_metadata"), "{}", rails.reason);
    assert_eq!(rails.current.as_deref(), Some("20240215093000"));

    let dj = tool(&m, Tool::Django);
    assert_eq!(
        dj.applied.iter().map(|a| a.version.as_str()).collect::<Vec<_>>(),
        ["contenttypes.0001_initial", "auth.0001_initial"]
    );
    assert_eq!(dj.applied[1].applied_at.unwrap().to_rfc3339(), "2024-01-05T10:00:01+00:00");

    let knex = tool(&m, Tool::Knex);
    assert_eq!(knex.current.as_deref(), Some("20240102_create_posts.js"));
    assert_eq!(knex.applied[1].detail.as_deref(), Some("batch 2"));
    assert!(knex.problems.is_empty(), "the lock is free: {:?}", knex.problems);

    let lb = tool(&m, Tool::Liquibase);
    assert_eq!(lb.current.as_deref(), Some("2"));
    assert!(lb.applied[0].detail.as_deref().unwrap().contains("alice"));
    assert_eq!(lb.applied[1].checksum.as_deref(), Some("9:aabbcc"));
    assert!(lb.problems.is_empty(), "{:?}", lb.problems);

    let goose = tool(&m, Tool::Goose);
    assert_eq!(goose.current.as_deref(), Some("1"), "version 2 was rolled back by `goose down`");
    assert_eq!(goose.applied_total, 4);

    assert_eq!(tool(&m, Tool::Diesel).current.as_deref(), Some("20240110120000"));
    let sea = tool(&m, Tool::Seaorm);
    assert_eq!(sea.applied[0].applied_at.unwrap().to_rfc3339(), "2024-01-01T00:00:00+00:00");
    let typeorm = tool(&m, Tool::Typeorm);
    assert_eq!(typeorm.applied[0].version, "1700000000000");
    assert_eq!(typeorm.applied[0].name.as_deref(), Some("CreateUsers1700000000000"));
    assert_eq!(tool(&m, Tool::Sequelize).current.as_deref(), Some("20240101000000-create-user.js"));
    db.close().await.ok();
    t.drop().await;
}

async fn three_shapes(kind: Kind) {
    let d = Dialect(kind);
    let golang = TestDb::new(kind).await;
    let db = golang.connect().await;
    let version_type = if kind == Kind::Sqlite { "uint64" } else { "BIGINT" };
    let bool_type = if kind == Kind::Sqlite { "bool" } else { "BOOLEAN" };
    exec(
        &db,
        &format!(
            "CREATE TABLE schema_migrations (version {version_type} NOT NULL PRIMARY KEY, dirty {bool_type} NOT NULL)"
        ),
    )
    .await;
    exec(&db, "INSERT INTO schema_migrations VALUES (3, FALSE)").await;
    db.close().await.ok();
    let m = read(&golang, None).await;
    let h = tool(&m, Tool::GolangMigrate);
    assert!(h.reason.contains("dirty"), "{}", h.reason);
    assert_eq!(h.current.as_deref(), Some("3"));
    assert!(h.problems.is_empty());

    let dbmate = TestDb::new(kind).await;
    let db = dbmate.connect().await;
    exec(&db, "CREATE TABLE schema_migrations (version VARCHAR(128) NOT NULL PRIMARY KEY)").await;
    exec(&db, "INSERT INTO schema_migrations VALUES ('20240101120000'), ('20240102120000')").await;
    db.close().await.ok();
    let m = read(&dbmate, None).await;
    let h = tool(&m, Tool::Dbmate);
    assert!(h.reason.contains("no ar_internal_metadata"), "{}", h.reason);
    assert_eq!(h.current.as_deref(), Some("20240102120000"));

    let rails_db = TestDb::new(kind).await;
    let db = rails_db.connect().await;
    run(&db, &rails(&d, &|n| rails_db.quote(n))).await;
    db.close().await.ok();
    let m = read(&rails_db, None).await;
    assert_eq!(m.tools.iter().map(|t| t.tool).collect::<Vec<_>>(), [Tool::Rails]);
    for t in [golang, dbmate, rails_db] {
        t.drop().await;
    }
}

async fn prisma_troubles(kind: Kind) {
    let t = TestDb::new(kind).await;
    let db = t.connect().await;
    run(&db, &prisma(&Dialect(kind), &|n| t.quote(n))).await;
    db.close().await.ok();
    let m = read(&t, None).await;
    let p = tool(&m, Tool::Prisma);
    assert_eq!(p.applied_total, 4);
    let states: Vec<AppliedState> = p.applied.iter().map(|a| a.state).collect();
    assert_eq!(states, [AppliedState::Applied, AppliedState::RolledBack, AppliedState::Applied, AppliedState::Failed]);
    assert_eq!(p.current.as_deref(), Some("20240201000000_add_posts"), "the newest finished migration");
    assert_eq!(p.applied[0].duration_ms, Some(1000));
    assert_eq!(p.applied[0].applied_at.unwrap().to_rfc3339(), "2024-01-01T00:00:01+00:00");
    assert!(p.applied[3].logs.as_deref().unwrap().contains("already exists"));
    assert_eq!(kinds(p), [ProblemKind::RolledBack, ProblemKind::Failed]);
    let failed = &p.problems[1];
    assert_eq!(failed.migration.as_deref(), Some("20240301000000_add_goals"));
    assert!(
        failed.message.contains("prisma migrate resolve --rolled-back 20240301000000_add_goals"),
        "{}",
        failed.message
    );
    assert!(failed.message.contains("column \"goal\""), "the log's first line: {}", failed.message);
    assert!(p.problems[0].message.contains("applied again"), "{}", p.problems[0].message);
    assert_eq!(p.summary(), "failed: 20240301000000_add_goals");
    assert!(m.fails(false), "a failed migration stops a deploy");
    t.drop().await;
}

async fn golang_dirty(kind: Kind) {
    let t = TestDb::new(kind).await;
    let db = t.connect().await;
    exec(&db, "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, dirty BOOLEAN NOT NULL)").await;
    exec(&db, "INSERT INTO schema_migrations VALUES (5, TRUE)").await;
    db.close().await.ok();
    let m = read(&t, None).await;
    let h = tool(&m, Tool::GolangMigrate);
    assert_eq!(kinds(h), [ProblemKind::Dirty]);
    assert_eq!(h.problems[0].migration.as_deref(), Some("5"));
    assert!(h.problems[0].message.contains("migrate force 5"), "{}", h.problems[0].message);
    assert_eq!(h.applied[0].state, AppliedState::Dirty);
    assert_eq!(h.summary(), "dirty at 5");
    t.drop().await;
}

async fn held_locks(kind: Kind) {
    let t = TestDb::new(kind).await;
    let d = Dialect(kind);
    let db = t.connect().await;
    run(&db, &others(&d, &|n| t.quote(n))).await;
    let lock = if kind == Kind::Postgres { t.quote("databasechangeloglock") } else { t.quote("DATABASECHANGELOGLOCK") };
    exec(
        &db,
        &format!(
            "UPDATE {lock} SET LOCKED = {}, LOCKGRANTED = '2024-05-01 08:30:00', LOCKEDBY = 'ci-runner-7 (10.0.0.7)'",
            d.lb_true()
        ),
    )
    .await;
    exec(&db, &format!("UPDATE {} SET is_locked = 1", t.quote("knex_migrations_lock"))).await;
    db.close().await.ok();
    let m = read(&t, None).await;
    let lb = tool(&m, Tool::Liquibase);
    assert_eq!(kinds(lb), [ProblemKind::LockHeld]);
    let msg = &lb.problems[0].message;
    assert!(msg.contains("ci-runner-7 (10.0.0.7)") && msg.contains("2024-05-01 08:30:00 UTC"), "{msg}");
    assert!(msg.contains("liquibase release-locks"), "{msg}");
    let knex = tool(&m, Tool::Knex);
    assert_eq!(kinds(knex), [ProblemKind::LockHeld]);
    assert!(knex.problems[0].message.contains("knex migrate:unlock"));
    assert!(!m.fails(false), "a held lock alone does not stop a deploy");
    t.drop().await;
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

async fn project_files(kind: Kind) {
    // Flyway: V1 as applied (CRLF in the file: the checksum ignores line breaks), V2 edited after it was applied,
    // V1.5 pending but older than V2, V4 pending.
    let t = TestDb::new(kind).await;
    let db = t.connect().await;
    run(&db, &flyway(&Dialect(kind), &|n| t.quote(n))).await;
    db.close().await.ok();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "V1__init.sql", &FLYWAY_V1.replace("\r\n", "\n"));
    write(dir.path(), "V2__users.sql", "CREATE TABLE users (id INT);\n");
    write(dir.path(), "V1_5__backfill.sql", "UPDATE teams SET id = id;\n");
    write(dir.path(), "V4__late.sql", "SELECT 1;\n");
    write(dir.path(), "README.md", "not a migration\n");
    let m = read(&t, Some(dir.path())).await;
    let fw = tool(&m, Tool::Flyway);
    let pending: Vec<(&str, bool)> = fw.pending.iter().map(|p| (p.version.as_str(), p.out_of_order)).collect();
    assert_eq!(pending, [("1.5", true), ("4", false)]);
    let mut k = kinds(fw);
    k.sort_by_key(|k| k.as_str());
    assert_eq!(k, [ProblemKind::ChecksumMismatch, ProblemKind::Failed, ProblemKind::OutOfOrder]);
    let changed = fw.problems.iter().find(|p| p.kind == ProblemKind::ChecksumMismatch).unwrap();
    assert_eq!(changed.migration.as_deref(), Some("2"), "V1 matches despite CRLF; V2 does not");
    t.drop().await;

    // Prisma: init matches its recorded SHA-256; add_posts has no file (missing); a new folder is pending.
    let t = TestDb::new(kind).await;
    let db = t.connect().await;
    run(&db, &prisma(&Dialect(kind), &|n| t.quote(n))).await;
    db.close().await.ok();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20240101000000_init/migration.sql", PRISMA_INIT);
    write(dir.path(), "20240301000000_add_goals/migration.sql", "ALTER TABLE \"User\" ADD COLUMN goal INT;\n");
    write(dir.path(), "20240401000000_add_tags/migration.sql", "CREATE TABLE tags (id INT);\n");
    write(dir.path(), "migration_lock.toml", "provider = \"postgresql\"\n");
    let m = read(&t, Some(dir.path())).await;
    let p = tool(&m, Tool::Prisma);
    let pending: Vec<&str> = p.pending.iter().map(|p| p.version.as_str()).collect();
    assert_eq!(pending, ["20240401000000_add_tags"], "the failed one is a problem, not pending");
    assert!(!kinds(p).contains(&ProblemKind::ChecksumMismatch), "init is as applied: {:?}", p.problems);
    let missing = p.problems.iter().find(|x| x.kind == ProblemKind::MissingScript).expect("a missing script");
    assert_eq!(missing.migration.as_deref(), Some("20240201000000_add_posts"));
    // Edited after it was applied: Prisma's checksum no longer matches.
    write(dir.path(), "20240101000000_init/migration.sql", &format!("{PRISMA_INIT}-- edited\n"));
    let m = read(&t, Some(dir.path())).await;
    assert!(kinds(tool(&m, Tool::Prisma)).contains(&ProblemKind::ChecksumMismatch));
    t.drop().await;

    // golang-migrate: files up to the current version count as applied; later ones are pending.
    let t = TestDb::new(kind).await;
    let db = t.connect().await;
    exec(&db, "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, dirty BOOLEAN NOT NULL)").await;
    exec(&db, "INSERT INTO schema_migrations VALUES (2, FALSE)").await;
    db.close().await.ok();
    let dir = tempfile::tempdir().unwrap();
    for f in ["000001_init.up.sql", "000001_init.down.sql", "000002_users.up.sql", "000003_posts.up.sql"] {
        write(dir.path(), f, "SELECT 1;\n");
    }
    let m = read(&t, Some(dir.path())).await;
    let h = tool(&m, Tool::GolangMigrate);
    assert_eq!(h.pending.iter().map(|p| p.version.as_str()).collect::<Vec<_>>(), ["3"]);
    assert!(h.problems.is_empty(), "{:?}", h.problems);
    assert_eq!(h.summary(), "1 pending");
    assert!(!m.fails(false) && m.fails(true), "pending fails only with --fail-on-pending");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_tools_in_any_schema_are_found_and_named_by_schema() {
    let t = TestDb::new(Kind::Postgres).await;
    let db = t.connect().await;
    exec(&db, "CREATE SCHEMA billing").await;
    exec(&db, "CREATE SCHEMA auth").await;
    exec(&db, "CREATE TABLE billing.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
        .await;
    exec(&db, "INSERT INTO billing.schema_migrations VALUES (7, false)").await;
    exec(&db, "CREATE TABLE auth.schema_migrations (version varchar(128) NOT NULL PRIMARY KEY)").await;
    exec(&db, "INSERT INTO auth.schema_migrations VALUES ('20240101')").await;
    db.close().await.ok();
    // Flyway with `-schemas=auth`: its table in auth (one session, so the search path holds).
    let one = t.connect_one().await;
    exec(&one, "SET search_path TO auth").await;
    run(&one, &flyway(&Dialect(Kind::Postgres), &|n| t.quote(n))).await;
    one.close().await.ok();
    let m = read(&t, None).await;
    let found: Vec<(Tool, Option<&str>)> = m.tools.iter().map(|h| (h.tool, h.schema.as_deref())).collect();
    assert!(found.contains(&(Tool::GolangMigrate, Some("billing"))), "{found:?}");
    assert!(found.contains(&(Tool::Dbmate, Some("auth"))), "{found:?}");
    assert!(found.contains(&(Tool::Flyway, Some("auth"))), "{found:?}");
    assert_eq!(tool(&m, Tool::GolangMigrate).qualified_table(), "billing.schema_migrations");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn strata_s_own_tables_are_strata_not_seaorm_or_alembic() {
    let t = TestDb::new(Kind::Sqlite).await;
    web::migrate_up(&t).await;
    let m = read(&t, None).await;
    assert_eq!(m.tools.iter().map(|t| t.tool).collect::<Vec<_>>(), [Tool::Strata]);
    let h = &m.tools[0];
    assert!(h.reason.contains("migrations_log"), "{}", h.reason);
    assert_eq!(h.applied.len(), *MIGRATIONS);
    t.drop().await;
}

/// A PostgreSQL app database with Prisma's troubles and a project folder, watched as `app` with `migrations_dir`.
async fn prisma_app_with_files(t: &TestDb) -> (Browser, tempfile::TempDir) {
    let db = t.connect().await;
    run(&db, &prisma(&Dialect(t.kind), &|n| t.quote(n))).await;
    db.close().await.ok();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20240101000000_init/migration.sql", PRISMA_INIT);
    write(dir.path(), "20240201000000_add_posts/migration.sql", "CREATE TABLE posts (id INT);\n");
    write(dir.path(), "20240301000000_add_goals/migration.sql", "ALTER TABLE \"User\" ADD COLUMN goal INT;\n");
    write(dir.path(), "20240401000000_add_tags/migration.sql", "CREATE TABLE tags (id INT);\n");
    let mut config = test_config(&t.url);
    config.watched.iter_mut().for_each(|s| s.migrations_dir = Some(dir.path().to_path_buf()));
    let state = app_state_for(config, |_| {}).await;
    (Browser::with_state(state), dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_tools_history_pending_and_problems_per_the_contract() {
    let t = TestDb::new(Kind::Postgres).await;
    let (mut b, _dir) = prisma_app_with_files(&t).await;
    let (_, key) = api::key_for(&b.state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let (status, _, body) = api::get(&mut b, "/api/v1/databases/app/migrations", &key).await;
    assert_eq!(status, 200, "{body}");
    let tools = body["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 1, "{body}");
    let p = &tools[0];
    for field in ["tool", "schema", "version_table", "current", "applied", "pending", "problems"] {
        assert!(p.get(field).is_some(), "{field} in {p}");
    }
    assert_eq!(p["tool"], "prisma");
    assert_eq!(p["schema"], "public");
    assert_eq!(p["version_table"], "_prisma_migrations");
    assert_eq!(p["current"], "20240201000000_add_posts");
    assert_eq!(p["applied"].as_array().unwrap().len(), 4);
    assert_eq!(p["applied"][3]["state"], "failed");
    assert_eq!(p["pending"][0]["version"], "20240401000000_add_tags");
    let problems: Vec<(&str, &str)> = p["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["kind"].as_str().unwrap(), x["migration"].as_str().unwrap_or("")))
        .collect();
    assert!(problems.contains(&("failed", "20240301000000_add_goals")), "{problems:?}");
    assert!(problems.contains(&("rolled_back", "20240201000000_add_posts")), "{problems:?}");
    assert!(p["problems"][0]["message"].as_str().is_some());

    // The metrics carry the same state, per database and tool.
    b.state.metrics.collect_now().await;
    let text = b.state.metrics.render();
    assert!(text.contains("strata_migrations_pending{database=\"app\",tool=\"prisma\"} 1"), "{text}");
    assert!(text.contains("strata_migrations_failed{database=\"app\",tool=\"prisma\"} 1"), "{text}");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_each_tool_as_its_users_read_it_with_troubles_in_red() {
    let t = TestDb::new(Kind::Postgres).await;
    let (mut b, _dir) = prisma_app_with_files(&t).await;
    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get(&web::at("/migrations")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Prisma Migrate"), "{page}");
    assert!(page.contains("public._prisma_migrations"));
    assert!(page.contains("failed: 20240301000000_add_goals"), "the summary badge");
    assert!(page.contains("class=\"flash flash-error\"><strong>failed 20240301000000_add_goals</strong>"), "{page}");
    assert!(page.contains("prisma migrate resolve --rolled-back 20240301000000_add_goals"));
    assert!(page.contains("20240401000000_add_tags"), "the pending folder");
    assert!(
        page.contains("Strata&#x27;s migrator") || page.contains("Strata's migrator"),
        "Strata's own section stays"
    );

    // The overview and the fleet page say it too, and never that the state is current.
    let (_, _, overview) = b.get(&web::at("")).await;
    assert!(overview.contains("prisma: failed: 20240301000000_add_goals"), "{overview}");
    assert!(!overview.contains("migration state is current"));
    let (_, _, fleet) = b.get("/").await;
    assert!(fleet.contains("prisma: failed: 20240301000000_add_goals"), "{fleet}");
    t.drop().await;
}

/// Writes a Strata configuration naming the test database as `app` with `migrations_dir`.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_the_newest_100_rows_per_tool_and_all_read_rows_on_request() {
    let t = TestDb::new(Kind::Postgres).await;
    let db = t.connect().await;
    exec(
        &db,
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL)",
    )
    .await;
    exec(
        &db,
        "INSERT INTO __diesel_schema_migrations SELECT to_char(TIMESTAMP '2024-01-01' + n * INTERVAL '1 day', \
         'YYYYMMDDHH24MISS'), TIMESTAMP '2024-01-01' + n * INTERVAL '1 day' FROM generate_series(1, 1200) AS n",
    )
    .await;
    db.close().await.ok();
    let mut b = Browser::with_state(app_state_for(test_config(&t.url), |_| {}).await);
    b.login_as(Role::Viewer).await;

    let (status, _, page) = b.get(&web::at("/migrations")).await;
    assert_eq!(status, 200);
    // Day 1200 is 2027-04-15, the newest; the 100th newest is day 1101, the 101st day 1100.
    assert!(page.contains("1200 history row(s), newest 100 shown"), "{page}");
    assert!(page.contains(">900 more</a>, of the newest 1000 read)"), "{page}");
    assert!(page.contains("/migrations?rows=all#tool-diesel"), "{page}");
    assert!(page.contains("20270415000000") && page.contains("20270106000000"), "the newest 100 rows");
    assert!(!page.contains("20270105000000"), "the 101st newest row is not on the page");

    let (status, _, all) = b.get(&web::at("/migrations?rows=all")).await;
    assert_eq!(status, 200);
    assert!(all.contains("1200 history row(s), newest 1000 shown"), "{all}");
    assert!(all.contains("20270105000000") && all.contains("20240720000000"), "every row read (1000)");
    assert!(!all.contains("20240719000000"), "the 1001st newest row is not read");

    let (status, _, _) = b.get(&web::at("/migrations?rows=some")).await;
    assert_eq!(status, 400);
    t.drop().await;
}

fn config_file(t: &TestDb, dir: &Path, group: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        format!("[database:app]\nurl = {}\nmigrations_dir = {}\ngroup = {group}\n", t.url, dir.display()),
    )
    .unwrap();
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_exits_1_on_problems_and_on_pending_only_with_the_flag() {
    let t = TestDb::new(Kind::Sqlite).await;
    let db = t.connect().await;
    exec(&db, "CREATE TABLE schema_migrations (version VARCHAR(128) NOT NULL PRIMARY KEY)").await;
    exec(&db, "INSERT INTO schema_migrations VALUES ('20240101120000')").await;
    db.close().await.ok();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20240101120000_init.sql", "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\n");
    let config = config_file(&t, dir.path(), "dev");
    let cli = |args: &[&str]| strata_cmd(&t.url, args).env("STRATA_CONFIG", config.path()).output().unwrap();

    let clean = cli(&["migrations", "--db", "app"]);
    assert!(clean.status.success(), "{}\n{}", stdout(&clean), stderr(&clean));
    assert!(stdout(&clean).contains("dbmate  main.schema_migrations  current at 20240101120000"), "{}", stdout(&clean));

    write(dir.path(), "20240201120000_more.sql", "-- migrate:up\nCREATE TABLE b (id int);\n");
    let pending = cli(&["migrations", "--db", "app"]);
    assert!(pending.status.success(), "pending alone passes: {}", stderr(&pending));
    let gate = cli(&["migrations", "--db", "app", "--fail-on-pending"]);
    assert_eq!(gate.status.code(), Some(1), "{}", stdout(&gate));
    assert!(stderr(&gate).contains("1 pending"), "{}", stderr(&gate));

    // The applied migration's file vanished: a missing script fails even without the flag.
    std::fs::remove_file(dir.path().join("20240101120000_init.sql")).unwrap();
    let missing = cli(&["migrations", "--db", "app", "--json"]);
    assert_eq!(missing.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&missing)).expect("JSON on stdout");
    assert_eq!(json["database"], "app");
    assert_eq!(json["tools"][0]["tool"], "dbmate");
    assert_eq!(json["tools"][0]["problems"][0]["kind"], "missing_script");
    assert_eq!(json["tools"][0]["problems"][0]["migration"], "20240101120000");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_matrix_shows_drift_between_environments() {
    let dev = TestDb::new(Kind::Sqlite).await;
    let prod = TestDb::new(Kind::Sqlite).await;
    for (t, versions) in [(&dev, "('20240101120000'), ('20240201120000')"), (&prod, "('20240101120000')")] {
        let db = t.connect().await;
        exec(&db, "CREATE TABLE schema_migrations (version VARCHAR(128) NOT NULL PRIMARY KEY)").await;
        exec(&db, &format!("INSERT INTO schema_migrations VALUES {versions}")).await;
        db.close().await.ok();
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20240101120000_init.sql", "-- migrate:up\n");
    write(dir.path(), "20240201120000_more.sql", "-- migrate:up\n");
    write(dir.path(), "20240301120000_latest.sql", "-- migrate:up\n");
    let mut config = test_config(&dev.url);
    let mut prod_spec = WatchSpec::new("prod".into(), DatabaseUrl::parse(&prod.url).unwrap(), "test".into());
    prod_spec.group = Some("prod".into());
    prod_spec.migrations_dir = Some(dir.path().to_path_buf());
    for s in config.watched.iter_mut() {
        s.group = Some("dev".into());
        s.migrations_dir = Some(dir.path().to_path_buf());
    }
    config.watched.push(prod_spec);
    let mut b = Browser::with_state(app_state_for(config, |_| {}).await);
    let (_, key) = api::key_for(&b.state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let (status, _, m) = api::get(&mut b, "/api/v1/migrations/matrix", &key).await;
    assert_eq!(status, 200, "{m}");
    let groups = m["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "one tool and project: {m}");
    let g = &groups[0];
    assert_eq!(g["tool"], "dbmate");
    let columns: Vec<&str> = g["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["app", "prod"], "ordered by group: dev before prod");
    let cells = |row: usize| -> Vec<String> {
        g["rows"][row]["cells"].as_array().unwrap().iter().map(|c| c["state"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(g["rows"][1]["version"], "20240201120000");
    assert_eq!(cells(0), ["applied", "applied"]);
    assert_eq!(cells(1), ["applied", "pending"], "prod has drifted behind dev");
    assert_eq!(cells(2), ["pending", "pending"]);

    b.login_as(Role::Viewer).await;
    let (status, _, page) = b.get("/migrations").await;
    assert_eq!(status, 200);
    assert!(page.contains("Migrations across databases"));
    assert!(page.contains("href=\"/db/prod/migrations\" class=\"badge badge-pending\">pending"), "{page}");
    dev.drop().await;
    prod.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alembic_database_with_alembic_ini_shows_applied_and_pending_revisions() {
    let t = TestDb::new(Kind::Postgres).await;
    let app = common::apps::alembic_app(&t).await;
    std::fs::write(
        app.dir.path().join("migrations/versions/c3f1e2d4a5b6_add_goals.py"),
        "\"\"\"add goals\n\nRevision ID: c3f1e2d4a5b6\nRevises: b81d6e0c5a92\n\"\"\"\nrevision = \"c3f1e2d4a5b6\"\n\
         down_revision = \"b81d6e0c5a92\"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    pass\n",
    )
    .unwrap();
    let url = DatabaseUrl::parse(&t.url).unwrap();
    let db = strata::db::connect(&url, strata::db::Purpose::Watch { idle: std::time::Duration::from_secs(5) })
        .await
        .unwrap();
    let mut s = spec(&t, None);
    s.alembic_ini = Some(app.ini.clone());
    let m = schema_history::read(&db, &s, None).await.unwrap();
    db.close().await.ok();
    let h = tool(&m, Tool::Alembic);
    assert_eq!(h.current.as_deref(), Some(app.head()));
    let applied: Vec<&str> = h.applied.iter().map(|a| a.version.as_str()).collect();
    assert_eq!(applied, common::apps::ALEMBIC_REVISIONS);
    assert_eq!(h.pending.iter().map(|p| p.version.as_str()).collect::<Vec<_>>(), ["c3f1e2d4a5b6"]);
    assert_eq!(h.pending[0].name.as_deref(), Some("add goals"));
    assert_eq!(h.summary(), "1 pending");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_databases_overview_shows_its_tools_and_no_strata_migrations_card() {
    let project = TestDb::new(Kind::Sqlite).await;
    ok(&strata(&project.url, &["migrate", "up"]));
    let other = TestDb::new(Kind::Sqlite).await;
    let db = other.connect().await;
    exec(&db, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)").await;
    exec(&db, "INSERT INTO schema_migrations VALUES (5, 1)").await;
    db.close().await.ok();
    let mut config = test_config(&project.url);
    let mut spec = WatchSpec::new("other".into(), DatabaseUrl::parse(&other.url).unwrap(), "test".into());
    spec.project = false;
    config.watched.push(spec);
    let mut b = Browser::with_state(app_state_for(config, |_| {}).await);
    b.login_as(Role::Viewer).await;

    let (status, _, page) = b.get("/db/other").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("golang-migrate: dirty at 5"), "{page}");
    assert!(!page.contains("Strata migrations"), "Strata's migrator does not manage this database: {page}");
    assert!(!page.contains("pending of"), "{page}");
    // The project database keeps its card.
    let (_, _, page) = b.get(&web::at("")).await;
    assert!(page.contains("Strata migrations") && page.contains("pending of"), "{page}");
    project.drop().await;
    other.drop().await;
}
