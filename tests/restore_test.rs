//! Restore tests (`strata backup test-restore`, `restore_test = after_backup`): a backup restored into a scratch
//! database, checked against what was recorded when it was taken, and dropped — on SQLite, PostgreSQL and MariaDB.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::web::migrate_up;
use common::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;

each_backend! {
    a_restore_test_passes_is_recorded_beside_the_backup_and_leaves_no_scratch_database => passes;
    a_backup_corrupted_after_it_was_written_fails_its_restore_test => corrupted;
    rows_that_differ_from_those_recorded_fail_the_test => rows_differ;
    after_backup_tests_each_new_backup_and_restore_latest_restores_the_newest => after_backup;
}

mod servers {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn postgres_scratch_server_that_refuses_create_database_fails_the_test() {
        refused(Kind::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn mariadb_scratch_server_that_refuses_create_database_fails_the_test() {
        refused(Kind::MySql).await
    }
}

async fn seed(db: &DatabaseConnection) {
    exec(db, "INSERT INTO users (username, email, is_active) VALUES ('ann', 'ann@example.com', true), ('bob', 'b@x.org', false)")
        .await;
    exec(db, "INSERT INTO posts (title, content, user_id, is_published) VALUES ('first', 'x', 1, true)").await;
}

/// A config file naming database `app` with `extra` lines in its section; `restore_test_url` is the test server.
fn config(t: &TestDb, dir: &Path, extra: &str) -> PathBuf {
    let mut section = format!("[database:app]\nurl = {}\nbackup_dir = {}\n", t.url, dir.display());
    if t.kind != Kind::Sqlite && !extra.contains("restore_test_url") {
        section.push_str(&format!("restore_test_url = {}\n", t.admin_url()));
    }
    section.push_str(extra);
    let path = dir.join("strata.ini");
    std::fs::write(&path, section).unwrap();
    path
}

fn run(t: &TestDb, ini: &Path, args: &[&str]) -> Output {
    let mut cmd: Command = strata_cmd(&t.url, args);
    cmd.env("STRATA_CONFIG", ini);
    cmd.output().expect("run strata")
}

/// A migrated, seeded database, its backup folder and config, and one backup.
async fn backed_up(kind: Kind, extra: &str) -> (TestDb, tempfile::TempDir, PathBuf, PathBuf) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    seed(&db).await;
    db.close().await.ok();
    let dir = tempfile::tempdir().unwrap();
    let ini = config(&t, dir.path(), extra);
    let summary: Value = serde_json::from_str(&ok(&run(&t, &ini, &["--db", "app", "backup", "--json"]))).unwrap();
    let file = PathBuf::from(summary["file"].as_str().unwrap());
    (t, dir, ini, file)
}

fn test_restore(t: &TestDb, ini: &Path, file: Option<&Path>) -> (Output, Value) {
    let mut args = vec!["--db", "app", "backup", "test-restore", "--json"];
    if let Some(f) = file {
        args.push(f.to_str().unwrap());
    }
    let out = run(t, ini, &args);
    let record = serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null);
    (out, record)
}

/// Whether a database of this name exists on the test's server (SQLite scratch files are temporary: false).
async fn exists(t: &TestDb, name: &str) -> bool {
    let sql = match t.kind {
        Kind::Sqlite => return false,
        Kind::Postgres => format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        Kind::MySql => format!("SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"),
    };
    let admin = sea_orm::Database::connect(t.admin_url()).await.unwrap();
    let n = count(&admin, &sql).await;
    admin.close().await.ok();
    n > 0
}

fn sidecar(file: &Path) -> Value {
    let path = format!("{}.strata.json", file.display());
    serde_json::from_str(&std::fs::read_to_string(path).expect("a sidecar beside the backup")).unwrap()
}

async fn passes(kind: Kind) {
    let (t, _dir, ini, file) = backed_up(kind, "").await;
    let recorded = sidecar(&file);
    let users = recorded["tables"].as_array().unwrap().iter().find(|x| x["name"] == "users").unwrap().clone();
    assert_eq!((users["min"].as_i64(), users["max"].as_i64()), (Some(2), Some(2)), "{recorded}");
    assert!(recorded["migrations"].as_array().is_some_and(|m| !m.is_empty()), "heads recorded: {recorded}");

    let (out, record) = test_restore(&t, &ini, None);
    ok(&out);
    assert_eq!(record["state"], "passed", "{record}");
    let scratch = record["scratch"].as_str().unwrap();
    assert!(scratch.starts_with("strata_restore_test_app_"), "{scratch}");
    let checked = record["checked"].to_string();
    assert!(checked.contains("rows as recorded") && checked.contains("foreign keys"), "{checked}");
    assert!(checked.contains("at m20251122_000002_create_posts"), "the migration heads were compared: {checked}");
    assert!(!exists(&t, scratch).await, "the scratch database {scratch} was dropped");
    let kept = sidecar(&file);
    assert_eq!(kept["restore_test"]["state"], "passed", "recorded beside the backup: {kept}");
    // Its timings say what the test adds to a restore: the scratch database's creation and drop, apart.
    for part in ["restore_ms", "verify_ms", "scratch_ms", "total_ms"] {
        assert!(kept["restore_test"][part].is_u64(), "{part}: {kept}");
    }
    t.drop().await;
}

async fn corrupted(kind: Kind) {
    let (t, _dir, ini, file) = backed_up(kind, "").await;
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let (out, record) = test_restore(&t, &ini, Some(&file));
    assert!(!out.status.success(), "a damaged backup fails its test: {}", stdout(&out));
    assert_eq!(record["state"], "failed", "{record}");
    let problems = record["problems"].to_string();
    assert!(problems.contains("the restore failed"), "{problems}");
    assert!(!exists(&t, record["scratch"].as_str().unwrap()).await, "dropped after the failure too");
    assert!(stderr(&out).contains("the restore test failed"), "{}", stderr(&out));
    t.drop().await;
}

async fn rows_differ(kind: Kind) {
    let (t, _dir, ini, file) = backed_up(kind, "").await;
    // The sidecar says posts had 5 rows when the backup was taken; the backup holds 1.
    let mut recorded = sidecar(&file);
    for table in recorded["tables"].as_array_mut().unwrap() {
        if table["name"] == "posts" {
            table["min"] = 5.into();
            table["max"] = 5.into();
        }
    }
    std::fs::write(format!("{}.strata.json", file.display()), recorded.to_string()).unwrap();
    let (out, record) = test_restore(&t, &ini, Some(&file));
    assert!(!out.status.success());
    let problems = record["problems"].to_string();
    assert!(problems.contains("table posts has 1 rows, 5 were recorded"), "{problems}");
    t.drop().await;
}

async fn after_backup(kind: Kind) {
    let (t, dir, ini, first) = backed_up(kind, "restore_test = after_backup\n").await;
    assert_eq!(sidecar(&first)["restore_test"]["state"], "passed", "tested right after the backup");
    let db = t.connect().await;
    exec(&db, "INSERT INTO users (username, email, is_active) VALUES ('cy', 'c@x.org', true)").await;
    // Backup names have a one-second resolution.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = ok(&run(&t, &ini, &["--db", "app", "backup"]));
    assert!(out.contains("restore   passed"), "{out}");
    exec(&db, "DELETE FROM posts").await;
    exec(&db, "DELETE FROM users").await;
    ok(&run(&t, &ini, &["--db", "app", "restore", "--latest", "--yes"]));
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 3, "the newest backup (with cy) came back");
    db.close().await.ok();
    drop(dir);
    t.drop().await;
}

async fn refused(kind: Kind) {
    let t = TestDb::new(kind).await;
    let login = format!("nocreate_{}", &t.name[t.name.len() - 10..]);
    let admin = sea_orm::Database::connect(t.admin_url()).await.unwrap();
    let base = t.admin_url().split_once("://").unwrap().1.split_once('@').unwrap().1.to_string();
    let scheme = t.admin_url().split_once("://").unwrap().0;
    let url = match kind {
        Kind::Postgres => {
            exec(&admin, &format!("CREATE ROLE {login} LOGIN PASSWORD 'pw' NOCREATEDB")).await;
            format!("{scheme}://{login}:pw@{base}")
        }
        _ => {
            exec(&admin, &format!("CREATE USER '{login}'@'%' IDENTIFIED BY 'pw'")).await;
            exec(&admin, &format!("CREATE USER '{login}'@'localhost' IDENTIFIED BY 'pw'")).await;
            format!("{scheme}://{login}:pw@{base}")
        }
    };
    migrate_up(&t).await;
    let db = t.connect().await;
    seed(&db).await;
    db.close().await.ok();
    let dir = tempfile::tempdir().unwrap();
    let ini = config(&t, dir.path(), &format!("restore_test_url = {url}\n"));
    ok(&run(&t, &ini, &["--db", "app", "backup"]));
    let (out, record) = test_restore(&t, &ini, None);
    assert!(!out.status.success());
    assert_eq!(record["state"], "failed", "{record}");
    let problems = record["problems"].to_string();
    assert!(problems.contains("cannot create the scratch database"), "{problems}");
    assert!(problems.to_lowercase().contains("denied"), "the server's refusal is named: {problems}");
    let drop_login = match kind {
        Kind::Postgres => vec![format!("DROP ROLE IF EXISTS {login}")],
        _ => vec![format!("DROP USER IF EXISTS '{login}'@'%'"), format!("DROP USER IF EXISTS '{login}'@'localhost'")],
    };
    for sql in drop_login {
        exec(&admin, &sql).await;
    }
    admin.close().await.ok();
    t.drop().await;
}
