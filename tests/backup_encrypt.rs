//! Encrypted backups (`backup_encrypt_to`, `--encrypt-to`, `--identity`): standard age files, checked both ways with
//! the real `age` command-line tool (Debian's `age` package, installed by scripts/test.sh), on all three engines.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::http::StatusCode;
use common::web::{Browser, app_state_with, location, migrate_up};
use common::*;
use serde_json::Value;
use strata::home::accounts::Role;

each_backend! {
    a_strata_backup_is_an_age_file_the_age_cli_opens_and_strata_restores_with_the_identity => strata_encrypts;
    a_file_the_age_cli_encrypted_is_restored_and_restore_tested_by_strata_with_the_identity => age_encrypts;
    the_backups_page_restores_an_encrypted_backup_only_with_a_pasted_identity_it_never_echoes => page;
}

/// Runs the `age` tool (or `age-keygen`); missing, the test fails saying how to install it.
fn age(tool: &str, args: &[&str]) -> Output {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install Debian's `age` package (scripts/test.sh does)"));
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A new identity file in `dir` and its recipient (`age1…`).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    age("age-keygen", &["-o", key.to_str().unwrap()]);
    let recipient = String::from_utf8(age("age-keygen", &["-y", key.to_str().unwrap()]).stdout).unwrap();
    (key, recipient.trim().to_string())
}

fn config(t: &TestDb, dir: &Path, extra: &str) -> PathBuf {
    let mut section = format!("[database:app]\nurl = {}\nbackup_dir = {}\n", t.url, dir.join("backups").display());
    if t.kind != Kind::Sqlite {
        section.push_str(&format!("restore_test_url = {}\n", t.admin_url()));
    }
    section.push_str(extra);
    let path = dir.join("strata.ini");
    std::fs::write(&path, section).unwrap();
    path
}

fn run(ini: &Path, t: &TestDb, args: &[&str]) -> Output {
    let mut cmd = strata_cmd(&t.url, args);
    cmd.env("STRATA_CONFIG", ini);
    cmd.output().expect("run strata")
}

async fn seeded(kind: Kind) -> TestDb {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    exec(&db, "INSERT INTO users (username, email, is_active) VALUES ('ann', 'ann@example.com', true), ('bob', 'b@x.org', false)")
        .await;
    db.close().await.ok();
    t
}

async fn users(t: &TestDb) -> i64 {
    let db = t.connect().await;
    let n = count(&db, "SELECT count(*) FROM users").await;
    db.close().await.ok();
    n
}

async fn empty_users(t: &TestDb) {
    let db = t.connect().await;
    exec(&db, "DELETE FROM users").await;
    db.close().await.ok();
}

async fn strata_encrypts(kind: Kind) {
    let t = seeded(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(dir.path(), "key.txt");
    let (other, _) = keygen(dir.path(), "other.txt");
    let ini = config(&t, dir.path(), &format!("backup_encrypt_to = {recipient}\n"));

    let summary: Value = serde_json::from_str(&ok(&run(&ini, &t, &["--db", "app", "backup", "--json"]))).unwrap();
    let file = PathBuf::from(summary["file"].as_str().unwrap());
    assert!(file.to_string_lossy().ends_with(".gz.age"), "the name says it is an age file: {}", file.display());
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "a standard age file");
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.strata.json", file.display())).unwrap()).unwrap();
    assert_eq!(sidecar["encrypted"], true, "{sidecar}");
    assert_eq!(sidecar["recipients"], serde_json::json!([recipient]), "{sidecar}");

    // The age CLI opens it: what comes out is the plain backup, which Strata restores as it is.
    let plain = dir.path().join(if kind == Kind::Sqlite { "plain.db.gz" } else { "plain.sql.gz" });
    age("age", &["-d", "-i", key.to_str().unwrap(), "-o", plain.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(&std::fs::read(&plain).unwrap()[..2], &[0x1f, 0x8b], "gzip inside");
    empty_users(&t).await;
    ok(&run(&ini, &t, &["--db", "app", "restore", "--yes", plain.to_str().unwrap()]));
    assert_eq!(users(&t).await, 2, "the decrypted backup restored");

    // Strata restores the age file itself only with an identity that opens it.
    empty_users(&t).await;
    let out = run(&ini, &t, &["--db", "app", "restore", "--yes", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is encrypted (age)") && stderr(&out).contains("--identity"), "{}", stderr(&out));
    let out = run(
        &ini,
        &t,
        &["--db", "app", "restore", "--yes", "--identity", other.to_str().unwrap(), file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not open"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("AGE-SECRET-KEY"), "the identity is never shown");
    assert_eq!(users(&t).await, 0, "nothing was restored without the right identity");
    ok(&run(
        &ini,
        &t,
        &["--db", "app", "restore", "--yes", "--identity", key.to_str().unwrap(), file.to_str().unwrap()],
    ));
    assert_eq!(users(&t).await, 2, "restored through the identity");

    // A restore test needs the identity too: refused without, passed with.
    let out = run(&ini, &t, &["--db", "app", "backup", "test-restore", "--json"]);
    assert!(!out.status.success(), "no identity: the test fails");
    assert!(stdout(&out).contains("is encrypted (age)"), "{}", stdout(&out));
    let out =
        ok(&run(&ini, &t, &["--db", "app", "backup", "test-restore", "--json", "--identity", key.to_str().unwrap()]));
    let record: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["state"], "passed", "{record}");
    drop(dir);
    t.drop().await;
}

async fn age_encrypts(kind: Kind) {
    let t = seeded(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(dir.path(), "key.txt");
    let ini = config(&t, dir.path(), &format!("restore_test_identity = {}\n", key.display()));
    let summary: Value = serde_json::from_str(&ok(&run(&ini, &t, &["--db", "app", "backup", "--json"]))).unwrap();
    let file = PathBuf::from(summary["file"].as_str().unwrap());
    assert!(!file.to_string_lossy().ends_with(".age"), "no backup_encrypt_to: a plain backup");
    let sealed = PathBuf::from(format!("{}.age", file.display()));
    age("age", &["-r", &recipient, "-o", sealed.to_str().unwrap(), file.to_str().unwrap()]);
    std::fs::rename(format!("{}.strata.json", file.display()), format!("{}.strata.json", sealed.display())).unwrap();
    std::fs::remove_file(&file).unwrap();

    empty_users(&t).await;
    ok(&run(&ini, &t, &["--db", "app", "restore", "--latest", "--yes", "--identity", key.to_str().unwrap()]));
    assert_eq!(users(&t).await, 2, "the file age encrypted was restored (and --latest found it)");
    // The restore test finds its identity in restore_test_identity.
    let out = ok(&run(&ini, &t, &["--db", "app", "backup", "test-restore", "--json"]));
    let record: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["state"], "passed", "{record}");
    assert!(record["checked"].to_string().contains("rows as recorded"), "{record}");

    if kind == Kind::Postgres {
        // pg_dump's custom format is read through pg_restore's stdin, decrypted on the way.
        let ini = config(&t, dir.path(), &format!("backup_encrypt_to = {recipient}\n"));
        let summary: Value =
            serde_json::from_str(&ok(&run(&ini, &t, &["--db", "app", "backup", "--format", "custom", "--json"])))
                .unwrap();
        let custom = summary["file"].as_str().unwrap().to_string();
        assert!(custom.ends_with(".dump.age"), "{custom}");
        empty_users(&t).await;
        ok(&run(&ini, &t, &["--db", "app", "restore", "--yes", "--identity", key.to_str().unwrap(), &custom]));
        assert_eq!(users(&t).await, 2, "the encrypted custom-format backup restored");
    }
    drop(dir);
    t.drop().await;
}

async fn page(kind: Kind) {
    let t = seeded(kind).await;
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("backups");
    let (key, recipient) = keygen(outer.path(), "key.txt");
    let (other, _) = keygen(outer.path(), "other.txt");
    let out = ok(&strata(&t.url, &["backup", "--dir", dir.to_str().unwrap(), "--encrypt-to", &recipient, "--json"]));
    let summary: Value = serde_json::from_str(&out).unwrap();
    let name = Path::new(summary["file"].as_str().unwrap()).file_name().unwrap().to_str().unwrap().to_string();
    let backup_dir = dir.clone();
    let mut b = Browser::with_state(app_state_with(&t.url, move |s| s.backup_dir = backup_dir).await);
    b.login_as(Role::Admin).await;

    let (status, _, list) = b.get("/db/app/backups").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&name) && list.contains(">encrypted</span>"), "{list}");
    let form = format!("/db/app/backups/{name}/restore");
    let (status, _, confirm) = b.get(&form).await;
    assert_eq!(status, StatusCode::OK, "{confirm}");
    assert!(confirm.contains("name=\"identity\"") && confirm.contains("never stored"), "{confirm}");

    empty_users(&t).await;
    let wrong = std::fs::read_to_string(&other).unwrap();
    let right = std::fs::read_to_string(&key).unwrap();
    for (identity, said) in [
        ("", "is encrypted (age)"),
        (wrong.as_str(), "does not open"),
        ("AGE-SECRET-KEY-1NOPE", "not an age identity file"),
    ] {
        let (status, headers, _) = b.post_form(&form, &[("database", &t.name), ("identity", identity)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), form);
        let (_, _, shown) = b.follow(&headers).await;
        assert!(shown.contains("Not restored:") && shown.contains(said), "{said}: {shown}");
        assert!(!shown.contains("AGE-SECRET-KEY-1"), "the identity is never echoed back: {shown}");
    }
    assert_eq!(users(&t).await, 0, "nothing was restored");
    let (status, headers, _) = b.post_form(&form, &[("database", &t.name), ("identity", &right)]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/db/app/backups"));
    for _ in 0..600 {
        let job: Value = serde_json::from_str(&b.get("/db/app/backups/status").await.2).unwrap();
        if job["state"] != "running" {
            assert_eq!(job["state"], "succeeded", "{job}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(users(&t).await, 2, "restored through the pasted identity");
    let home = t.connect_home().await;
    let logged = column(&home, "SELECT coalesce(detail, '') FROM audit_log WHERE action = 'backup.restore'").await;
    home.close().await.ok();
    assert_eq!(logged.len(), 4, "{logged:?}");
    assert!(logged.iter().all(|l| !l.contains("AGE-SECRET-KEY-1")), "never logged: {logged:?}");
    drop(outer);
    t.drop().await;
}
