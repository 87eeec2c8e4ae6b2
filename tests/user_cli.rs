//! `strata user create`: argon2id at rest, clear refusals, nothing written on bad input.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;

fn create(url: &str, args: &[&str], password: &str) -> std::process::Output {
    let mut all = vec!["user", "create"];
    all.extend_from_slice(args);
    all.push("--password-stdin");
    let mut child =
        strata_cmd(url, &all).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // A process that exits early closes its end: its output, not a broken pipe here, says why.
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).ok();
    child.wait_with_output().unwrap()
}

each_backend! {
    created_accounts_store_only_an_argon2id_hash => create_account;
}

async fn create_account(kind: Kind) {
    let t = TestDb::new(kind).await;
    // Accounts live in the home database, which `strata user` migrates itself: no `strata migrate up` first, and
    // nothing is written into the project database.
    let out =
        create(&t.url, &["--username", "ann", "--email", "ann@example.com", "--role", "editor"], "long enough pw");
    assert!(ok(&out).contains("created editor account"));
    let db = t.connect().await;
    let home = t.connect_home().await;
    assert!(has_table(&home, "strata_home_migrations").await, "the home database was migrated");
    for table in ["admin_users", "alembic_version", "strata_home_migrations"] {
        assert!(!has_table(&db, table).await, "{table} was created in the project database");
    }
    let hash = column(&home, "SELECT password_hash FROM admin_users WHERE username = 'ann'").await;
    assert!(hash[0].starts_with("$argon2id$"), "{hash:?}");
    assert!(!hash[0].contains("long enough pw"));
    assert_eq!(column(&home, "SELECT role FROM admin_users WHERE username = 'ann'").await, vec!["editor"]);

    for (args, password, says) in [
        (["--username", "ann", "--email", "other@example.com", "--role", "viewer"], "long enough pw", "already exists"),
        (["--username", "bob", "--email", "bob@example.com", "--role", "root"], "long enough pw", "unknown role"),
        (["--username", "bob", "--email", "bob@example.com", "--role", "viewer"], "short", "at least 8"),
        (["--username", "bob", "--email", "not-an-email", "--role", "viewer"], "long enough pw", "not an email"),
    ] {
        let out = create(&t.url, &args, password);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(says), "expected {says:?} in {}", stderr(&out));
    }
    assert_eq!(count(&home, "SELECT count(*) FROM admin_users").await, 1, "refusals write nothing");
    db.close().await.ok();
    t.drop().await;
}
