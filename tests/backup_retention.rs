//! Retention by generation and age on backups dated in the past (`strata backup prune [--dry-run]`, the policy
//! preview on the Backups page, retention after each backup), the schedule set on the page, and what
//! `/metrics` and the API say about backups.

mod common;

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use common::web::{Browser, app_state_for, location, migrate_up, test_config};
use common::*;
use serde_json::Value;
use strata::config::backup::Keep;
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;
use strata::state::AppState;

each_backend! {
    prune_keeps_by_rule_and_the_newest_verified_backup_and_dry_run_deletes_nothing => prune;
    retention_runs_after_each_backup => after_each_backup;
    the_page_previews_the_policy_then_deletes_only_what_it_showed => page_policy;
}

/// A config file naming database `app` with its backup folder and `extra` lines.
fn config(t: &TestDb, dir: &Path, extra: &str) -> PathBuf {
    let ini = dir.join("strata.ini");
    std::fs::write(&ini, format!("[database:app]\nurl = {}\nbackup_dir = {}\n{extra}", t.url, dir.display())).unwrap();
    ini
}

fn run(t: &TestDb, ini: &Path, args: &[&str]) -> std::process::Output {
    strata_cmd(&t.url, args).env("STRATA_CONFIG", ini).output().expect("run strata")
}

/// The name a backup of the test database taken at `stamp` (`YYYY-MM-DD_HH-MM-SS`) has.
fn named(t: &TestDb, stamp: &str) -> String {
    let ext = if t.kind == Kind::Sqlite { "db.gz" } else { "sql.gz" };
    format!("{}_{stamp}.{ext}", t.name)
}

/// The backup files in `dir` (not their sidecars), sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".gz"))
        .collect();
    names.sort();
    names
}

/// A real backup in `dir`, copied under past dates; the 2020-01-01 one has a passed restore test in its sidecar.
async fn past_backups(t: &TestDb, dir: &Path, ini: &Path) -> String {
    migrate_up(t).await;
    let summary: Value = serde_json::from_str(&ok(&run(t, ini, &["--db", "app", "backup", "--json"]))).unwrap();
    let real = PathBuf::from(summary["file"].as_str().unwrap());
    for stamp in ["2020-03-05_12-00-00", "2020-03-01_12-00-00", "2020-02-10_12-00-00", "2020-01-01_12-00-00"] {
        std::fs::copy(&real, dir.join(named(t, stamp))).unwrap();
    }
    let verified = format!("{}.strata.json", dir.join(named(t, "2020-01-01_12-00-00")).display());
    let sidecar = serde_json::json!({"tables": [], "foreign_keys": null, "indexes": null, "restore_test": {
        "state": "passed", "at": "2020-01-01T13:00:00Z", "scratch": "strata_restore_test_app_00000000",
        "restore_ms": 1, "verify_ms": 1, "total_ms": 2, "checked": [], "problems": []}});
    std::fs::write(verified, sidecar.to_string()).unwrap();
    real.file_name().unwrap().to_str().unwrap().to_string()
}

async fn prune(kind: Kind) {
    let t = TestDb::new(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let ini = config(&t, dir.path(), "backup_keep = last=1 monthly=2\n");
    let newest = past_backups(&t, dir.path(), &ini).await;
    let before = files(dir.path());

    let plan: Value =
        serde_json::from_str(&ok(&run(&t, &ini, &["--db", "app", "backup", "prune", "--dry-run", "--json"]))).unwrap();
    let decided: Vec<String> = plan["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            format!(
                "{} {}",
                b["file"].as_str().unwrap(),
                b["kept_by"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect::<Vec<_>>().join("+")
            )
        })
        .collect();
    // By hand: the newest is `last` and this month; March 2020 is the second month (its newest, the 5th); the 1st
    // of March and February go; January 2020 stays as the newest backup whose restore was verified.
    assert_eq!(
        decided,
        [
            format!("{newest} last+monthly"),
            format!("{} monthly", named(&t, "2020-03-05_12-00-00")),
            format!("{} ", named(&t, "2020-03-01_12-00-00")),
            format!("{} ", named(&t, "2020-02-10_12-00-00")),
            format!("{} newest verified backup", named(&t, "2020-01-01_12-00-00")),
        ]
    );
    assert_eq!(files(dir.path()), before, "--dry-run deletes nothing");

    let out = ok(&run(&t, &ini, &["--db", "app", "backup", "prune"]));
    assert!(out.contains("keep (last, monthly)"), "{out}");
    let mut left = vec![newest, named(&t, "2020-03-05_12-00-00"), named(&t, "2020-01-01_12-00-00")];
    left.sort();
    assert_eq!(files(dir.path()), left);
    assert!(!dir.path().join(format!("{}.strata.json", named(&t, "2020-03-01_12-00-00"))).exists(), "sidecars go too");

    let none = config(&t, dir.path(), "");
    let refused = run(&t, &none, &["--db", "app", "backup", "prune"]);
    assert!(!refused.status.success() && stderr(&refused).contains("no retention policy"), "{}", stderr(&refused));
    t.drop().await;
}

async fn after_each_backup(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let ini = config(&t, dir.path(), "backup_keep = last=2\n");
    for stamp in ["2020-01-01_00-00-00", "2020-01-02_00-00-00"] {
        std::fs::write(dir.path().join(named(&t, stamp)), b"old").unwrap();
    }
    let out = ok(&run(&t, &ini, &["--db", "app", "backup"]));
    let gone = named(&t, "2020-01-01_00-00-00");
    assert!(out.contains(&gone) && out.contains("(retention)"), "{out}");
    assert_eq!(files(dir.path()).len(), 2, "the new backup and the newest old one: {:?}", files(dir.path()));
    assert!(files(dir.path()).contains(&named(&t, "2020-01-02_00-00-00")));
    t.drop().await;
}

/// The state of a dashboard whose `app` database has a retention policy and its backups in `dir`.
async fn state(t: &TestDb, dir: &Path, keep: &str) -> AppState {
    let mut config = test_config(&t.url);
    for spec in config.watched.iter_mut() {
        spec.backup_keep = Some(Keep::parse(keep).unwrap());
        spec.backup_dir = Some(dir.to_path_buf());
    }
    app_state_for(config, |s| s.cookie_secure = false).await
}

async fn page_policy(kind: Kind) {
    let t = TestDb::new(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let ini = config(&t, dir.path(), "");
    let newest = past_backups(&t, dir.path(), &ini).await;
    let mut b = Browser::with_state(state(&t, dir.path(), "last=1 monthly=2").await);
    b.login_as(Role::Admin).await;

    let (status, _, page) = b.get("/db/app/backups").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("last=1 monthly=2"), "the policy is shown");
    assert!(page.contains("restore verified"), "the verified backup says so");
    assert!(page.contains("No scheduled backups"), "{page}");

    let (status, _, page) = b.get("/db/app/backups/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("keep: last, monthly") && page.contains("keep: newest verified backup"), "{page}");
    assert!(page.contains("Delete 2 backups"), "{page}");

    // A backup taken after the preview changes nothing that was not shown.
    let only = named(&t, "2020-03-01_12-00-00");
    let (status, _, body) = b.post_form_without_csrf("/db/app/backups/policy", &[("files", &only)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, headers, _) = b.post_form("/db/app/backups/policy", &[("files", &only)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/db/app/backups");
    let mut left = vec![
        newest.clone(),
        named(&t, "2020-03-05_12-00-00"),
        named(&t, "2020-02-10_12-00-00"),
        named(&t, "2020-01-01_12-00-00"),
    ];
    left.sort();
    assert_eq!(files(dir.path()), left, "only the previewed file went");

    let mut viewer = b.another();
    viewer.login_as(Role::Editor).await;
    assert_eq!(viewer.get("/db/app/backups/policy").await.0, StatusCode::FORBIDDEN);

    // The schedule: set on the page, shown with its next run, audited; a bad one is refused with the reason.
    let (status, _, body) = b.post_form("/db/app/backups/schedule", &[("schedule", "0 3 * *")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("5 (minute hour"), "{body}");
    let (status, _, _) = b.post_form("/db/app/backups/schedule", &[("schedule", "0 3 * * *")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = b.get("/db/app/backups").await;
    assert!(
        page.contains("Backs up on <code>0 3 * * *</code>") && page.contains("overrides the configuration"),
        "{page}"
    );
    assert!(page.contains(" 03:00</span>"), "the next run is at 03:00: {page}");
    assert_eq!(viewer.post_form("/db/app/backups/schedule", &[("schedule", "@hourly")]).await.0, StatusCode::FORBIDDEN);
    let home = t.connect_home().await;
    let audited = column(&home, "SELECT detail FROM audit_log WHERE action = 'backup.schedule'").await;
    assert_eq!(audited, ["off (configuration) -> 0 3 * * *"]);
    let pruned = column(&home, "SELECT detail FROM audit_log WHERE action = 'backup.prune'").await;
    assert_eq!(pruned, std::slice::from_ref(&only));
    home.close().await.ok();
    let (status, _, _) = b.post_form("/db/app/backups/schedule", &[("reset", "1")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(b.get("/db/app/backups").await.2.contains("No scheduled backups"));

    // The API: the same list, each backup's restore test, and the next run (none: the schedule is off).
    let state = b.state.clone();
    let (_, admin_key) = common::api::key_for(&state, Role::Admin, &[Scope::ReadCatalog]).await;
    let (status, _, json) = common::api::get(&mut b, "/api/v1/databases/app/backups", &admin_key).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{json}");
    assert_eq!(items[0]["file"], newest.as_str());
    assert_eq!(items[3]["restore_test"]["state"], "passed");
    assert_eq!(items[0]["restore_test"]["state"], Value::Null);
    assert_eq!(items[0]["encrypted"], false);
    assert_eq!(json["next_run"], Value::Null);
    let (_, viewer_key) = common::api::key_for(&state, Role::Viewer, &[Scope::ReadCatalog]).await;
    assert_eq!(common::api::get(&mut b, "/api/v1/databases/app/backups", &viewer_key).await.0, StatusCode::FORBIDDEN);

    // The fleet card: the newest backup, and in red that the newest verified one is years old.
    let (_, _, fleet) = b.get("/").await;
    assert!(fleet.contains("no verified backup for") && fleet.contains("days"), "{fleet}");

    // /metrics: the newest backup's time and size, and the verified one's time.
    b.set_client_addr("127.0.0.1:40000");
    let (_, _, metrics) = b.get("/metrics").await;
    let verified = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc();
    assert!(
        metrics.contains(&format!(
            "strata_backup_last_verified_timestamp_seconds{{database=\"app\"}} {}",
            verified.timestamp()
        )),
        "{metrics}"
    );
    assert!(metrics.contains("strata_backup_last_success_timestamp_seconds{database=\"app\"}"), "{metrics}");
    let size = std::fs::metadata(dir.path().join(&newest)).unwrap().len();
    assert!(metrics.contains(&format!("strata_backup_size_bytes{{database=\"app\"}} {size}")), "{metrics}");
    t.drop().await;
}
