//! The off-site target set on the Backups page: checked, stored in the home database with the secret sealed (never
//! in plain text in any column, the page or the audit log), used by the page's backups and by the CLI over the
//! configuration's, refused to editors, viewers and forms without the CSRF token, and cleared again. Against moto's
//! S3-compatible server on loopback (see tests/backup_offsite.rs). A copy whose local file is gone is still listed
//! (page and API, with where each copy is) and admins restore it from the bucket.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use common::moto::start_moto;
use common::web::{Browser, app_state_for, location, migrate_up, test_config};
use common::*;
use serde_json::Value;
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;

/// Polls `GET /backups/status` until the job is no longer running.
async fn finished_job(b: &mut Browser) -> Value {
    for _ in 0..600 {
        let (status, _, body) = b.get("/db/app/backups/status").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let job: Value = serde_json::from_str(&body).expect("the status is JSON");
        if job["state"] != "running" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the job did not finish in 60 s");
}

/// Backs up from the page; the new backup's sidecar.
async fn backup_from_the_page(b: &mut Browser, dir: &Path) -> (String, Value) {
    let before = sidecars(dir);
    let (status, _, body) = b.post_form("/db/app/backups", &[("format", "sql")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let job = finished_job(b).await;
    let new: Vec<String> = sidecars(dir).into_iter().filter(|n| !before.contains(n)).collect();
    assert_eq!(new.len(), 1, "one new backup: {job}");
    let sidecar: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(&new[0])).unwrap()).unwrap();
    (new[0].trim_end_matches(".strata.json").to_string(), sidecar)
}

fn sidecars(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".strata.json"))
        .collect()
}

/// Every text the home database holds in `strata_secrets` and `audit_log`, and its SQLite file's bytes.
async fn home_text(t: &TestDb) -> String {
    let home = t.connect_home().await;
    let mut all = column(&home, "SELECT name || ' ' || label || ' ' || nonce || ' ' || ciphertext FROM strata_secrets")
        .await
        .join("\n");
    all.push_str(
        &column(&home, "SELECT action || ' ' || coalesce(target, '') || ' ' || coalesce(detail, '') FROM audit_log")
            .await
            .join("\n"),
    );
    home.close().await.ok();
    let path = home_url_for(&t.url).strip_prefix("sqlite:///").unwrap().to_string();
    for file in [path.clone(), format!("{path}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            all.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_sets_seals_uses_and_clears_the_off_site_target() {
    let moto = start_moto("strata-page");
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&t.url);
    for spec in config.watched.iter_mut() {
        spec.backup_dir = Some(dir.path().to_path_buf());
    }
    let state = app_state_for(config, |s| s.cookie_secure = false).await;
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Admin).await;
    let page = b.get("/db/app/backups").await.2;
    assert!(page.contains("No off-site copies — no backup_offsite in the configuration"), "{page}");

    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let fields = |url: &str, endpoint: &str, secret: &str| {
        vec![
            ("url".to_string(), url.to_string()),
            ("endpoint".to_string(), endpoint.to_string()),
            ("region".to_string(), "us-east-1".to_string()),
            ("access_key_id".to_string(), moto.key_id.clone()),
            ("secret_access_key".to_string(), secret.to_string()),
        ]
    };
    let post = |b: &mut Browser, f: Vec<(String, String)>| {
        let mut b = b.same_visitor();
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            b.post_form("/db/app/backups/offsite", &f).await
        }
    };

    // Wrong input: the reason, and nothing stored.
    let (status, _, body) = post(&mut b, fields("/mnt/backups", &endpoint, &moto.secret)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not saved") && body.contains("is not an S3 location"), "{body}");
    let (status, _, body) = post(&mut b, fields("s3://strata-page/app", "ftp://127.0.0.1", &moto.secret)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("is not an http:// or https:// URL"), "{body}");
    assert!(strata::home::offsite::stored(&state.home, "app").await.unwrap().is_none(), "nothing was stored");

    // Editors, viewers and a form without the CSRF token are refused.
    for role in [Role::Editor, Role::Viewer] {
        let mut other = b.another();
        other.login_as(role).await;
        let f = fields("s3://strata-page/app", &endpoint, &moto.secret);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(other.post_form("/db/app/backups/offsite", &f).await.0, StatusCode::FORBIDDEN, "{role:?}");
    }
    let f = fields("s3://strata-page/app", &endpoint, &moto.secret);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(b.post_form_without_csrf("/db/app/backups/offsite", &f).await.0, StatusCode::FORBIDDEN);
    assert!(strata::home::offsite::stored(&state.home, "app").await.unwrap().is_none(), "nothing was stored");

    // The admin sets it: the page says so, the secret field stays empty, the secret is sealed.
    let (status, _, body) = post(&mut b, fields("s3://strata-page/nightly/app", &endpoint, &moto.secret)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let page = b.get("/db/app/backups").await.2;
    assert!(page.contains("copied to <code>s3://strata-page/nightly/app</code> — set on this page by"), "{page}");
    assert!(page.contains("Secret access key (set)"), "{page}");
    assert!(!page.contains(&moto.secret), "the secret is never shown back");
    let text = home_text(&t).await;
    assert!(text.contains("s3://strata-page/nightly/app"), "the settings are in the home database");
    assert!(!text.contains(&moto.secret), "the secret is not in the home database in plain");

    // A backup from the page goes there, and the sidecar names the copy.
    let (name, sidecar) = backup_from_the_page(&mut b, dir.path()).await;
    assert_eq!(sidecar["offsite"], format!("s3://strata-page/nightly/app/{name}"), "{sidecar}");

    // Saving again with the secret left empty keeps it; the CLI lists the copies with the page's settings.
    let (status, _, body) = post(&mut b, fields("s3://strata-page/nightly/app", &endpoint, "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let out = strata_cmd(&t.url, &["--db", "app", "backup", "offsite", "--json"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let listed: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(listed[0]["name"], name.as_str(), "{listed}");
    assert!(!stderr(&out).contains(&moto.secret));
    let audited = column(&t.connect_home().await, "SELECT detail FROM audit_log WHERE action = 'backup.offsite'").await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(audited[0].contains("s3://strata-page/nightly/app") && audited[0].contains("secret access key changed"));
    assert!(audited.iter().all(|d| !d.contains(&moto.secret)));
    assert!(!home_text(&t).await.contains(&moto.secret));

    // Off on the page: no copies, said so.
    let (status, _, _) = b.post_form("/db/app/backups/offsite", &[("off", "1")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = b.get("/db/app/backups").await.2;
    assert!(page.contains("No off-site copies — set on this page by"), "{page}");

    // Cleared: the configuration (none) is in force again and backups stay local.
    let (status, _, _) = b.post_form("/db/app/backups/offsite", &[("reset", "1")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(b.get("/db/app/backups").await.2.contains("No off-site copies — no backup_offsite in the configuration"));
    std::thread::sleep(Duration::from_millis(1100));
    let (_, sidecar) = backup_from_the_page(&mut b, dir.path()).await;
    assert!(sidecar.get("offsite").is_none(), "no upload once cleared: {sidecar}");
    let out = strata_cmd(&t.url, &["--db", "app", "backup", "offsite"]).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("has no off-site copies"), "{}", stderr(&out));
    t.drop().await;
}

#[tokio::test]
async fn a_database_no_longer_watched_leaves_no_sealed_off_site_secret_behind() {
    let t = TestDb::new(Kind::Sqlite).await;
    let state = app_state_for(test_config(&t.url), |s| s.cookie_secure = false).await;
    let home = state.home.clone();
    let keys = tempfile::tempdir().unwrap();
    let keyring = strata::home::secrets::Keyring::open_or_create(&keys.path().join("strata.key")).unwrap();
    let offsite = strata::config::backup::Offsite {
        bucket: "strata-page".into(),
        prefix: "extra".into(),
        endpoint: Some("http://127.0.0.1:9".into()),
        region: Some("us-east-1".into()),
        access_key_id: Some("AKIAEXTRA".into()),
        secret_access_key: Some("extra-secret-value".into()),
    };
    strata::home::offsite::save(&home, &keyring, "extra", Some(&offsite), "admin").await.unwrap();
    assert!(strata::home::offsite::stored(&home, "extra").await.unwrap().is_some());

    strata::home::watchlist::remove(&home, "extra").await.unwrap();
    assert!(strata::home::offsite::stored(&home, "extra").await.unwrap().is_none(), "the settings are forgotten");
    let left = column(&home, "SELECT name FROM strata_secrets").await;
    assert!(left.iter().all(|name| !name.contains("extra")), "no sealed row of extra is left: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_only_off_site_is_listed_on_the_page_and_the_api_and_admins_restore_it_from_there() {
    let moto = start_moto("strata-only");
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    exec(&db, "CREATE TABLE marker (id INTEGER PRIMARY KEY, note TEXT NOT NULL)").await;
    exec(&db, "INSERT INTO marker (note) VALUES ('one'), ('two'), ('three')").await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&t.url);
    for spec in config.watched.iter_mut() {
        spec.backup_dir = Some(dir.path().to_path_buf());
    }
    let state = app_state_for(config, |s| s.cookie_secure = false).await;
    let mut b = Browser::with_state(state.clone());
    b.login_as(Role::Admin).await;
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let target = [
        ("url", "s3://strata-only/app"),
        ("endpoint", endpoint.as_str()),
        ("region", "us-east-1"),
        ("access_key_id", moto.key_id.as_str()),
        ("secret_access_key", moto.secret.as_str()),
    ];
    let (status, _, body) = b.post_form("/db/app/backups/offsite", &target).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    // Two backups, both copied off-site; then the older one's local file (and sidecar) is gone.
    let (gone, _) = backup_from_the_page(&mut b, dir.path()).await;
    std::thread::sleep(Duration::from_millis(1100));
    let (kept, _) = backup_from_the_page(&mut b, dir.path()).await;
    std::fs::remove_file(dir.path().join(&gone)).unwrap();
    std::fs::remove_file(dir.path().join(format!("{gone}.strata.json"))).unwrap();

    // The page lists both, says where each is, and offers the off-site-only one's restore from there.
    let (status, _, page) = b.get("/db/app/backups").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let row = |name: &str| {
        let start = page.find(&format!("<td class=\"mono\">{name}</td>")).unwrap_or_else(|| panic!("{name}: {page}"));
        page[start..start + page[start..].find("</tr>").unwrap()].to_string()
    };
    let only = row(&gone);
    assert!(only.contains("<td class=\"location nowrap\">off-site</td>"), "{only}");
    assert!(only.contains(&format!("s3://strata-only/app/{gone}")), "{only}");
    assert!(only.contains(&format!("/db/app/backups/offsite/{gone}/restore")), "{only}");
    assert!(!only.contains("/download"), "nothing local to download: {only}");
    let both = row(&kept);
    assert!(both.contains("<td class=\"location nowrap\">local and off-site</td>"), "{both}");
    assert!(both.contains(&format!("/db/app/backups/{kept}/restore")), "{both}");

    // The API says the same.
    let (_, admin_key) = common::api::key_for(&state, Role::Admin, &[Scope::ReadCatalog]).await;
    let (status, _, json) = common::api::get(&mut b, "/api/v1/databases/app/backups", &admin_key).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{json}");
    assert_eq!((items[0]["file"].as_str(), items[0]["location"].as_str()), (Some(kept.as_str()), Some("both")));
    assert_eq!(items[0]["offsite"], format!("s3://strata-only/app/{kept}"));
    assert_eq!((items[1]["file"].as_str(), items[1]["location"].as_str()), (Some(gone.as_str()), Some("offsite")));
    assert_eq!(items[1]["offsite"], format!("s3://strata-only/app/{gone}"));
    assert!(items[1]["size"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(items[1]["restore_test"]["state"], Value::Null);

    // Editors may not restore it; a wrong name restores nothing.
    let restore = format!("/db/app/backups/offsite/{gone}/restore");
    let mut editor = b.another();
    editor.login_as(Role::Editor).await;
    assert_eq!(editor.get(&restore).await.0, StatusCode::FORBIDDEN);
    let (status, _, form) = b.get(&restore).await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(form.contains(&format!("s3://strata-only/app/{gone}")) && form.contains(&format!("action=\"{restore}\"")));
    assert_eq!(
        b.get("/db/app/backups/offsite/app_2001-01-01_00-00-00.sql.gz/restore").await.0,
        StatusCode::NOT_FOUND,
        "a name the bucket does not have"
    );
    exec(&db, "DELETE FROM marker").await;
    let (status, _, _) = b.post_form_without_csrf(&restore, &[("database", t.name.as_str())]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a form without the CSRF token");
    let (status, _, _) = editor.post_form(&restore, &[("database", t.name.as_str())]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an editor's form");
    let (status, headers, _) = b.post_form(&restore, &[("database", "nope")]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, restore.as_str()));
    assert_eq!(count(&db, "SELECT count(*) FROM marker").await, 0, "refused: nothing restored");

    // The admin restores it: downloaded, restored, verified, audited.
    let (status, headers, body) = b.post_form(&restore, &[("database", t.name.as_str())]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/db/app/backups"), "{body}");
    let job = finished_job(&mut b).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["file"], gone.as_str(), "{job}");
    assert_eq!(count(&db, "SELECT count(*) FROM marker").await, 3, "the off-site copy's rows are back");
    assert!(!dir.path().join(&gone).exists(), "the download was not left in the backup folder");
    let audited = column(&t.connect_home().await, "SELECT detail FROM audit_log WHERE action = 'backup.restore'").await;
    assert!(audited.iter().any(|d| d.starts_with("refused (off-site copy)")), "{audited:?}");
    let done = audited.last().unwrap();
    assert!(done.starts_with(&format!("succeeded from the off-site copy s3://strata-only/app/{gone}")), "{done}");
    db.close().await.ok();
    t.drop().await;
}
