//! Off-site copies (`backup_offsite = s3://bucket/prefix`) against a real S3-compatible server on loopback: moto's
//! server mode (PyPI `moto[server]`, installed by scripts/test.sh into `target/moto-venv`, or `STRATA_MOTO_SERVER`),
//! with its IAM checks on so that a wrong secret is refused as a real S3 would.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::moto::{Moto, start_moto};
use common::web::migrate_up;
use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_copies_go_off_site_are_pruned_there_and_restore_from_there() {
    round_trip(Kind::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_copies_go_off_site_are_pruned_there_and_restore_from_there() {
    round_trip(Kind::Postgres).await
}

fn config(t: &TestDb, dir: &Path, moto: &Moto, secret: &str) -> PathBuf {
    let text = format!(
        "[database:app]\nurl = {}\nbackup_dir = {}\nbackup_keep = last=2\nbackup_offsite = s3://strata-test/nightly/app\n\
         backup_offsite_endpoint = http://127.0.0.1:{}\nbackup_offsite_region = us-east-1\n\
         backup_offsite_access_key_id = {}\nbackup_offsite_secret_access_key = {secret}\n",
        t.url,
        dir.join("backups").display(),
        moto.port,
        moto.key_id
    );
    let path = dir.join(format!("strata-{}.ini", secret.len()));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(ini: &Path, t: &TestDb, args: &[&str]) -> Output {
    let mut cmd = strata_cmd(&t.url, args);
    cmd.env("STRATA_CONFIG", ini).env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    cmd.output().expect("run strata")
}

fn offsite_names(ini: &Path, t: &TestDb) -> Vec<String> {
    let listed: Value =
        serde_json::from_str(&ok(&run(ini, t, &["--db", "app", "backup", "offsite", "--json"]))).unwrap();
    listed.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

fn local_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with(".") && !n.ends_with(".strata.json"))
        .collect();
    names.sort();
    names.reverse();
    names
}

async fn users(t: &TestDb) -> i64 {
    let db = t.connect().await;
    let n = count(&db, "SELECT count(*) FROM users").await;
    db.close().await.ok();
    n
}

async fn round_trip(kind: Kind) {
    let moto = start_moto("strata-test");
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    exec(&db, "INSERT INTO users (username, email, is_active) VALUES ('ann', 'ann@example.com', true), ('bob', 'b@x.org', false)")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let ini = config(&t, dir.path(), &moto, &moto.secret);

    let mut summaries = Vec::new();
    for _ in 0..3 {
        let out = ok(&run(&ini, &t, &["--db", "app", "backup", "--json"]));
        summaries.push(serde_json::from_str::<Value>(&out).unwrap());
        // Backup names have a one-second resolution.
        std::thread::sleep(Duration::from_millis(1100));
    }
    for s in &summaries {
        let file = s["file"].as_str().unwrap();
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert_eq!(s["offsite"], format!("s3://strata-test/nightly/app/{name}"), "{s}");
    }
    let first = Path::new(summaries[0]["file"].as_str().unwrap()).file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(
        summaries[2]["offsite_deleted"],
        serde_json::json!([format!("s3://strata-test/nightly/app/{first}")]),
        "last=2 deleted the oldest copy off-site too: {}",
        summaries[2]
    );
    assert_eq!(offsite_names(&ini, &t), local_names(dir.path()), "the same two backups here and there");
    let newest = PathBuf::from(summaries[2]["file"].as_str().unwrap());
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.strata.json", newest.display())).unwrap()).unwrap();
    assert_eq!(sidecar["offsite"], summaries[2]["offsite"], "the sidecar says where the copy is");

    // The local files gone, the off-site copy restores.
    let name = newest.file_name().unwrap().to_str().unwrap().to_string();
    std::fs::remove_dir_all(dir.path().join("backups")).unwrap();
    exec(&db, "DELETE FROM users").await;
    ok(&run(&ini, &t, &["--db", "app", "restore", "--yes", "--from-offsite", &name]));
    assert_eq!(users(&t).await, 2, "restored from the off-site copy");

    // A wrong secret: a clear error, the local backup stands, nothing off-site claims it.
    let before = offsite_names(&ini, &t);
    let wrong = config(&t, dir.path(), &moto, "not-the-secret-at-all");
    let out = run(&wrong, &t, &["--db", "app", "backup"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("the off-site copy failed") && err.contains("stands"), "{err}");
    assert!(!err.contains("not-the-secret-at-all"), "the secret is never shown: {err}");
    let local = local_names(dir.path());
    assert_eq!(local.len(), 1, "the local backup was kept: {local:?}");
    let kept = dir.path().join("backups").join(&local[0]);
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.strata.json", kept.display())).unwrap()).unwrap();
    assert!(sidecar.get("offsite").is_none(), "no off-site claim: {sidecar}");
    assert_eq!(offsite_names(&ini, &t), before, "nothing was added off-site");
    db.close().await.ok();
    drop(dir);
    t.drop().await;
}
