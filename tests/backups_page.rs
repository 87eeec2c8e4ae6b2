//! The dashboard's Backups page as an admin uses it — list, create, download, delete, retention, restore — and who may.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use common::web::{Browser, app_state_with, location, migrate_up};
use common::*;
use http_body_util::BodyExt;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use strata::home::accounts::Role;

each_backend! {
    the_list_shows_a_backup_made_by_the_cli => list_shows_cli_backup;
    a_backup_created_on_the_page_runs_in_the_background_and_appears => create_from_the_page;
    a_download_is_the_file_byte_for_byte => download;
    names_outside_the_list_are_not_found_on_any_route => outside_names;
    delete_asks_first_then_removes_the_file => delete;
    retention_previews_exactly_the_older_files_then_deletes_them => retention;
    a_wrong_typed_name_restores_nothing => wrong_name;
    a_restore_brings_back_deleted_rows_and_shows_the_verification_report => restore;
    viewers_and_editors_are_refused_on_every_route => roles;
    posts_without_the_csrf_token_are_refused => csrf;
}

mod sqlite_only {
    #[tokio::test(flavor = "multi_thread")]
    async fn a_second_restore_or_a_backup_while_one_runs_is_refused_with_409() {
        super::one_at_a_time(crate::common::Kind::Sqlite).await
    }
}

mod postgres_only {
    #[tokio::test(flavor = "multi_thread")]
    async fn a_second_restore_or_a_backup_while_one_runs_is_refused_with_409() {
        super::one_at_a_time(crate::common::Kind::Postgres).await
    }
}

mod mariadb_only {
    #[tokio::test(flavor = "multi_thread")]
    async fn a_second_restore_or_a_backup_while_one_runs_is_refused_with_409() {
        super::one_at_a_time(crate::common::Kind::MySql).await
    }
}

/// A migrated database, a backup folder inside a temporary one, and an admin signed in on the page.
struct Setup {
    t: TestDb,
    /// The parent of `dir`: a place outside the backup folder.
    outer: tempfile::TempDir,
    dir: PathBuf,
    b: Browser,
    admin: String,
}

async fn setup(kind: Kind) -> Setup {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("backups");
    let backup_dir = dir.clone();
    let state = app_state_with(&t.url, move |s| s.backup_dir = backup_dir).await;
    let mut b = Browser::with_state(state);
    let admin = b.login_as(Role::Admin).await;
    Setup { t, outer, dir, b, admin }
}

impl Setup {
    /// Runs `strata backup` into the page's folder; returns the file's name.
    fn cli_backup(&self) -> String {
        let out = ok(&strata(&self.t.url, &["backup", "--dir", self.dir.to_str().unwrap(), "--json"]));
        let summary: Value = serde_json::from_str(&out).expect("backup --json prints JSON");
        let file = PathBuf::from(summary["file"].as_str().unwrap());
        file.file_name().unwrap().to_str().unwrap().to_string()
    }

    /// The name an older backup of this database taken on `day` of January 2020 has.
    fn older(&self, day: u32) -> String {
        let ext = if self.t.kind == Kind::Sqlite { "db.gz" } else { "sql.gz" };
        format!("{}_2020-01-{day:02}_00-00-00.{ext}", self.t.name)
    }

    /// The files in the backup folder, without the sidecars that go with each backup (`<file>.strata.json`).
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.ends_with(".strata.json"))
            .collect();
        names.sort();
        names
    }

    /// Polls `GET /backups/status` until the job is no longer running.
    async fn finished_job(&mut self) -> Value {
        for _ in 0..600 {
            // Sessions live in the home database, which a restore never touches: the status always answers.
            let (status, _, body) = self.b.get("/db/app/backups/status").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let job: Value = serde_json::from_str(&body).expect("the status is JSON");
            assert!(!job.is_null(), "a job was started");
            if job["state"] != "running" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the job did not finish in 60 s");
    }

    /// `actor target detail` of every audit entry with `action`, oldest first (from the home database; each
    /// entry must name the database it concerns).
    async fn audited(&self, action: &str) -> Vec<String> {
        let home = self.t.connect_home().await;
        let line = match self.t.kind {
            Kind::MySql => "CONCAT_WS(' ', actor, target, detail)",
            _ => "actor || ' ' || coalesce(target, '') || ' ' || coalesce(detail, '')",
        };
        let sql = format!("SELECT {line} FROM audit_log WHERE action = '{action}' ORDER BY id");
        let lines = column(&home, &sql).await;
        let elsewhere = format!(
            "SELECT count(*) FROM audit_log WHERE action = '{action}' AND (database_name IS NULL OR database_name <> '{APP}')"
        );
        assert_eq!(count(&home, &elsewhere).await, 0, "every {action} entry names the database {APP}");
        home.close().await.ok();
        lines
    }

    async fn done(self) {
        self.t.drop().await;
    }
}

/// Users and posts (posts refer to users).
async fn seed(db: &DatabaseConnection) {
    exec(db, "INSERT INTO users (username, email) VALUES ('ann', 'ann@example.com'), ('bob', 'bob@example.com')").await;
    exec(
        db,
        "INSERT INTO posts (title, content, user_id) VALUES ('first', 'one', 1), ('second', 'two', 1), ('third', 'three', 2)",
    )
    .await;
}

async fn list_shows_cli_backup(kind: Kind) {
    let mut s = setup(kind).await;
    let (status, _, page) = s.b.get("/db/app/backups").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No backups of this database yet"), "{page}");
    assert!(page.contains(r#"href="/db/app/backups" class="active""#), "admins have the nav entry");

    let name = s.cli_backup();
    std::fs::write(s.dir.join("notes.txt"), b"not a backup").unwrap();
    std::fs::write(s.dir.join("other_db_2020-01-01_00-00-00.sql.gz"), b"someone else's").unwrap();
    let bytes = std::fs::metadata(s.dir.join(&name)).unwrap().len();
    let (_, _, page) = s.b.get("/db/app/backups").await;
    assert!(page.contains(&name), "{page}");
    assert!(page.contains(&format!("href=\"/db/app/backups/{name}/download\"")));
    let format = if kind == Kind::Sqlite { "gzip-compressed SQLite database" } else { "gzip-compressed SQL" };
    assert!(page.contains(format), "the format is shown: {page}");
    let exact = strata::web::fmt::exact(&Some(bytes as i64));
    assert!(page.contains(&format!("title=\"{exact} bytes\"")), "the exact size is there: {page}");
    assert!(page.contains(" s ago") || page.contains(" ms ago"), "the age is shown: {page}");
    assert!(!page.contains("notes.txt") && !page.contains("other_db"), "only this database's backups are listed");
    s.done().await;
}

async fn create_from_the_page(kind: Kind) {
    let mut s = setup(kind).await;
    let db = s.t.connect().await;
    seed(&db).await;
    s.b.get("/db/app/backups").await;
    let (status, headers, body) = s.b.post_form("/db/app/backups", &[("format", "sql")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location(&headers), "/db/app/backups");

    let job = s.finished_job().await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "backup");
    assert_eq!(job["actor"], s.admin.as_str());
    let name = job["file"].as_str().expect("a finished backup names its file").to_string();
    assert_eq!(s.files(), std::slice::from_ref(&name), "the file is there and nothing temporary is left");
    assert!(s.dir.join(format!("{name}.strata.json")).is_file(), "the row counts are recorded beside it");
    let size = std::fs::metadata(s.dir.join(&name)).unwrap().len();
    assert_eq!(job["bytes"].as_u64(), Some(size), "the progress counted every byte written");

    let (_, _, page) = s.b.get("/db/app/backups").await;
    assert!(page.contains(&format!("<td class=\"mono\">{name}</td>")), "listed: {page}");
    assert!(page.contains("Last backup") && page.contains("succeeded"), "{page}");
    assert!(!page.contains("http-equiv=\"refresh\""), "a finished job does not reload the page");

    let entries = s.audited("backup.create").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].starts_with(&format!("{} {name} succeeded: ", s.admin)), "{entries:?}");

    // The backup is a real one: restoring it brings back what it had.
    exec(&db, "DELETE FROM posts").await;
    let restore = format!("/db/app/backups/{name}/restore");
    assert_eq!(s.b.post_form(&restore, &[("database", &s.t.name)]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(s.finished_job().await["state"], "succeeded");
    assert_eq!(count(&db, "SELECT count(*) FROM posts").await, 3);
    // The audit log lives in the home database, which the restore leaves alone: the backup's entry stays.
    assert_eq!(s.audited("backup.create").await, entries);
    assert!(!has_table(&db, "audit_log").await, "the backup brought none of Strata's tables into the database");
    db.close().await.ok();
    s.done().await;
}

async fn download(kind: Kind) {
    let mut s = setup(kind).await;
    let name = s.cli_backup();
    let res = s.b.get_streaming(&format!("/db/app/backups/{name}/download")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_DISPOSITION], format!("attachment; filename=\"{name}\"").as_str());
    assert_eq!(res.headers()[CONTENT_TYPE], "application/gzip");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.as_ref(), std::fs::read(s.dir.join(&name)).unwrap().as_slice(), "byte for byte");
    let entries = s.audited("backup.download").await;
    assert_eq!(
        entries,
        [format!(
            "{} {name} sent {} ({} bytes)",
            s.admin,
            strata::web::fmt::bytes_of(&(body.len() as i64)),
            body.len()
        )]
    );
    s.done().await;
}

async fn outside_names(kind: Kind) {
    let mut s = setup(kind).await;
    let name = s.cli_backup();
    // Real files under names a backup of this database would have, beside the folder and in it.
    let bait = s.older(1);
    std::fs::copy(s.dir.join(&name), s.outer.path().join(&bait)).unwrap();
    std::fs::write(s.dir.join("notes.txt"), b"not a backup").unwrap();
    let absolute = s.outer.path().join(&bait).display().to_string();
    let encode = |n: &str| url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>();
    s.b.get("/db/app/backups").await;
    for outside in [format!("../{bait}"), absolute, "notes.txt".into(), s.older(2), "..".into()] {
        let e = encode(&outside);
        for path in ["download", "delete", "restore"] {
            let (status, _, body) = s.b.get(&format!("/db/app/backups/{e}/{path}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "GET {path} of {outside:?}: {body}");
        }
        for (path, fields) in [("delete", vec![]), ("restore", vec![("database", s.t.name.as_str())])] {
            let (status, _, body) = s.b.post_form(&format!("/db/app/backups/{e}/{path}"), &fields).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "POST {path} of {outside:?}: {body}");
        }
    }
    // A path the router would have to normalise matches no route at all.
    assert_eq!(s.b.get(&format!("/db/app/backups/../{bait}/download")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.b.get("/db/app/backups/x/../../etc/passwd").await.0, StatusCode::NOT_FOUND);
    assert!(s.outer.path().join(&bait).exists() && s.dir.join("notes.txt").exists(), "nothing was touched");
    let (_, _, status) = s.b.get("/db/app/backups/status").await;
    assert_eq!(status, "null", "no restore started");
    for action in ["backup.download", "backup.delete", "backup.restore"] {
        assert!(s.audited(action).await.is_empty(), "{action}");
    }
    s.done().await;
}

async fn delete(kind: Kind) {
    let mut s = setup(kind).await;
    let name = s.cli_backup();
    std::fs::copy(s.dir.join(&name), s.dir.join(s.older(1))).unwrap();
    let (status, _, page) = s.b.get(&format!("/db/app/backups/{name}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("Delete {name}?")), "{page}");
    assert_eq!(s.files().len(), 2, "asking deletes nothing");
    let (status, headers, _) = s.b.post_form(&format!("/db/app/backups/{name}/delete"), &[]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/db/app/backups"));
    assert_eq!(s.files(), [s.older(1)]);
    let (_, _, page) = s.b.get("/db/app/backups").await;
    assert!(page.contains(&format!("Deleted {name}.")), "{page}");
    assert_eq!(
        s.b.post_form(&format!("/db/app/backups/{name}/delete"), &[]).await.0,
        StatusCode::NOT_FOUND,
        "gone is gone"
    );
    assert_eq!(s.audited("backup.delete").await, [format!("{} {name} deleted", s.admin)]);
    s.done().await;
}

async fn retention(kind: Kind) {
    let mut s = setup(kind).await;
    let newest = s.cli_backup();
    for day in 1..=3 {
        std::fs::copy(s.dir.join(&newest), s.dir.join(s.older(day))).unwrap();
    }
    let stranger = format!("{}x_2019-01-01_00-00-00.sql.gz", s.t.name);
    std::fs::write(s.dir.join(&stranger), b"another database's backup").unwrap();

    let (status, _, page) = s.b.get("/db/app/backups/retention?keep=2").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (doomed, kept) = page.split_once("id=\"kept\"").expect("a kept table");
    let kept = kept.split_once("<form").map_or(kept, |(table, _)| table);
    for name in [s.older(1), s.older(2)] {
        assert!(doomed.contains(&name) && !kept.contains(&name), "{name} would be deleted: {page}");
    }
    for name in [&newest, &s.older(3)] {
        assert!(kept.contains(name.as_str()) && !doomed.contains(name.as_str()), "{name} is kept: {page}");
    }
    assert!(!page.contains(&stranger), "other databases' backups are not part of it");
    assert_eq!(s.files().len(), 5, "the preview deletes nothing");

    let files = format!("{},{}", s.older(2), s.older(1));
    assert!(page.contains(&format!("name=\"files\" value=\"{files}\"")), "{page}");
    let (status, headers, _) = s.b.post_form("/db/app/backups/retention", &[("keep", "2"), ("files", &files)]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/db/app/backups"));
    let mut left = vec![newest.clone(), s.older(3), stranger.clone()];
    left.sort();
    assert_eq!(s.files(), left);
    let (_, _, page) = s.b.get("/db/app/backups").await;
    assert!(page.contains("Deleted 2 old backups, keeping the newest 2."), "{page}");
    assert_eq!(s.audited("backup.prune").await, [format!("{} keep 2 deleted {}, {}", s.admin, s.older(2), s.older(1))]);

    // A confirmation applies only to what its preview showed: keep 1 now, with the old preview's list.
    let (status, _, _) = s.b.post_form("/db/app/backups/retention", &[("keep", "1"), ("files", &files)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(s.files(), left, "the 2020-01-03 backup was never previewed for deletion");
    let (_, _, page) = s.b.get("/db/app/backups").await;
    assert!(page.contains(&format!("Not deleted because the preview did not show them: {}", s.older(3))), "{page}");
    s.done().await;
}

async fn wrong_name(kind: Kind) {
    let mut s = setup(kind).await;
    let db = s.t.connect().await;
    seed(&db).await;
    let name = s.cli_backup();
    exec(&db, "DELETE FROM posts WHERE id = 3").await;

    let (status, _, page) = s.b.get(&format!("/db/app/backups/{name}/restore")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("Type the database name, <strong class=\"mono\">{}</strong>", s.t.name)), "{page}");
    assert!(page.contains(&format!("{}.posts</td><td class=\"num\">2</td>", s.t.schema())), "rows now: {page}");
    // Accounts, sessions and the audit log live in the home database: a restore of this one leaves them alone,
    // and the page must not say otherwise.
    assert!(
        !page.contains("sessions opened since then")
            && !page.contains("Accounts, sessions and the audit log are restored"),
        "the page claims Strata's own state is restored with the database: {page}"
    );

    for typed in ["", "wrong", &format!("{}x", s.t.name)] {
        let (status, headers, _) =
            s.b.post_form(&format!("/db/app/backups/{name}/restore"), &[("database", typed), ("clean", "1")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), format!("/db/app/backups/{name}/restore"));
        let (_, _, page) = s.b.follow(&headers).await;
        assert!(page.contains("Not restored:") && page.contains("nothing was restored"), "{page}");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM posts").await, 2, "the data is untouched");
    assert_eq!(s.b.get("/db/app/backups/status").await.2, "null", "no restore started");
    let entries = s.audited("backup.restore").await;
    assert_eq!(entries.len(), 3);
    assert!(entries[1].starts_with(&format!("{} {name} refused: \"wrong\" was typed", s.admin)), "{entries:?}");
    db.close().await.ok();
    s.done().await;
}

async fn restore(kind: Kind) {
    let mut s = setup(kind).await;
    let db = s.t.connect().await;
    seed(&db).await;
    let name = s.cli_backup();
    exec(&db, "DELETE FROM posts WHERE id >= 2").await;
    exec(&db, "CREATE TABLE scratch (id INTEGER PRIMARY KEY)").await;

    s.b.get(&format!("/db/app/backups/{name}/restore")).await;
    let (status, headers, body) =
        s.b.post_form(&format!("/db/app/backups/{name}/restore"), &[("database", &s.t.name), ("clean", "1")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location(&headers), "/db/app/backups");
    let job = s.finished_job().await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!((job["kind"].as_str(), job["file"].as_str()), (Some("restore"), Some(name.as_str())));
    assert_eq!(column(&db, "SELECT title FROM posts ORDER BY id").await, ["first", "second", "third"]);
    assert!(!has_table(&db, "scratch").await, "emptied first (--clean)");

    // The session lives in the home database, which the restore leaves alone: still signed in.
    let (status, _, page) = s.b.get("/db/app/backups").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Last restore") && page.contains("succeeded"), "{page}");
    assert!(page.contains("Verification report"), "{page}");
    assert!(page.contains(&format!("{}.posts</td><td class=\"num\">3</td>", s.t.schema())), "{page}");
    assert!(page.contains(HEAD.as_str()), "the migration head is reported: {page}");
    let entries = s.audited("backup.restore").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].starts_with(&format!("{} {name} succeeded: ", s.admin)), "{entries:?}");
    db.close().await.ok();
    s.done().await;
}

/// Holds the first thing a restore writes, so that it waits — a real restore, really running.
async fn hold_back_restores(t: &TestDb) -> DatabaseConnection {
    let db = t.connect_one().await;
    match t.kind {
        // The dump's first statement alters posts, which the dashboard itself never reads.
        Kind::Postgres => {
            exec(&db, "BEGIN").await;
            exec(&db, "LOCK TABLE posts IN ACCESS SHARE MODE").await;
        }
        // The dump's first statement drops alembic_version, whose metadata lock an open transaction that read it
        // holds; the pages of the test read nothing there.
        Kind::MySql => {
            exec(&db, "START TRANSACTION").await;
            exec(&db, "SELECT COUNT(*) FROM alembic_version").await;
        }
        // The restore's BEGIN IMMEDIATE waits up to its 5 s busy timeout; readers go on (WAL).
        _ => exec(&db, "BEGIN IMMEDIATE").await,
    }
    db
}

async fn one_at_a_time(kind: Kind) {
    let mut s = setup(kind).await;
    let db = s.t.connect().await;
    seed(&db).await;
    let name = s.cli_backup();
    exec(&db, "DELETE FROM posts").await;
    s.b.get("/db/app/backups").await;

    let holder = hold_back_restores(&s.t).await;
    let restore = format!("/db/app/backups/{name}/restore");
    let (status, _, body) = s.b.post_form(&restore, &[("database", &s.t.name)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, job) = s.b.get("/db/app/backups/status").await;
    assert!(job.contains("\"state\":\"running\""), "held back, it is still running: {job}");

    let mut tab = s.b.same_visitor();
    let (status, _, body) = tab.post_form(&restore, &[("database", &s.t.name)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains(&format!("a restore of {name} started by {}", s.admin)) && body.contains("already running"));
    let (status, _, body) = tab.post_form("/db/app/backups", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "a backup waits for the restore too: {body}");
    let (_, _, page) = tab.get("/db/app/backups").await;
    assert!(page.contains("http-equiv=\"refresh\""), "the page follows the running restore: {page}");
    assert!(page.contains(&format!("Restoring {name}")), "{page}");

    exec(&holder, if kind == Kind::Sqlite { "ROLLBACK" } else { "COMMIT" }).await;
    let job = s.finished_job().await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job["elapsed_ms"].as_u64().unwrap() >= 300, "it waited for the database: {job}");
    assert_eq!(count(&db, "SELECT count(*) FROM posts").await, 3, "the first restore ran");
    // Afterwards the next one may start.
    exec(&db, "DELETE FROM posts").await;
    let (status, _, body) = s.b.post_form(&restore, &[("database", &s.t.name)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(s.finished_job().await["state"], "succeeded");
    assert_eq!(count(&db, "SELECT count(*) FROM posts").await, 3);
    holder.close().await.ok();
    db.close().await.ok();
    s.done().await;
}

/// Every route of the page: (method, path), with `NAME` standing for a listed backup.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/db/app/backups"),
    ("GET", "/db/app/backups/status"),
    ("POST", "/db/app/backups"),
    ("GET", "/db/app/backups/retention?keep=0"),
    ("POST", "/db/app/backups/retention"),
    ("GET", "/db/app/backups/NAME/download"),
    ("GET", "/db/app/backups/NAME/delete"),
    ("POST", "/db/app/backups/NAME/delete"),
    ("GET", "/db/app/backups/NAME/restore"),
    ("POST", "/db/app/backups/NAME/restore"),
];

async fn roles(kind: Kind) {
    let mut s = setup(kind).await;
    let name = s.cli_backup();
    for role in [Role::Viewer, Role::Editor] {
        let mut b = s.b.another();
        b.login_as(role).await;
        let (_, _, page) = b.get("/db/app").await;
        assert!(page.contains("href=\"/db/app/query\""), "the database's navigation is there: {page}");
        assert!(!page.contains("href=\"/db/app/backups\""), "no nav entry for a {role:?}");
        for (method, path) in ROUTES {
            let path = path.replace("NAME", &name);
            let fields = [("keep", "0"), ("files", name.as_str()), ("database", s.t.name.as_str())];
            let (status, _, _) = if *method == "GET" { b.get(&path).await } else { b.post_form(&path, &fields).await };
            assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} {method} {path}");
        }
    }
    assert_eq!(s.files(), std::slice::from_ref(&name), "nothing was deleted");
    assert_eq!(s.b.get("/db/app/backups/status").await.2, "null", "nothing was started");
    // Even an admin cannot keep zero backups: retention always keeps the newest one, as the CLI does.
    let (status, _, page) = s.b.get("/db/app/backups/retention?keep=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("keep at least the newest 1"), "{page}");
    s.b.get("/db/app/backups").await;
    let fields = [("keep", "0"), ("files", name.as_str())];
    assert_eq!(s.b.post_form("/db/app/backups/retention", &fields).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(s.files(), [name], "nothing was deleted");
    s.done().await;
}

async fn csrf(kind: Kind) {
    let mut s = setup(kind).await;
    let name = s.cli_backup();
    for (method, path) in ROUTES.iter().filter(|(m, _)| *m == "POST") {
        let path = path.replace("NAME", &name);
        let fields = [("keep", "0"), ("files", name.as_str()), ("database", s.t.name.as_str())];
        let (status, _, _) = s.b.post_form_without_csrf(&path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        let wrong = "0".repeat(64);
        let with_another_token = [fields.as_slice(), &[("_csrf", wrong.as_str())]].concat();
        let (status, _, _) = s.b.post_form_without_csrf(&path, &with_another_token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with another token");
    }
    assert_eq!(s.files(), [name]);
    assert_eq!(s.b.get("/db/app/backups/status").await.2, "null");
    s.done().await;
}
