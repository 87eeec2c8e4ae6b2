//! An Alembic project's revisions previewed, linted and applied from the Migrations page and the API with the real
//! `alembic` (the venv `scripts/test.sh` makes), on SQLite and PostgreSQL: the preview is what runs, a run moves
//! `alembic_version` and shows each revision's progress, a failing revision is reported with Alembic's error, and
//! viewers, editors and `read_only` databases are refused.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::api::{self, api_finished, key_for};
use common::apps::{ALEMBIC_ENV_PY, ALEMBIC_MAKO, alembic, alembic_ini};
use common::web::*;
use common::*;
use serde_json::Value;
use strata::config::{Config, DatabaseUrl, WatchSpec};
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;
use strata::state::AppState;

/// The watched database the Alembic project manages.
const SHOP: &str = "shop";

const FIRST: &str = "aaa111aaa111";
const SECOND: &str = "bbb222bbb222";
const FAILING: &str = "ccc333ccc333";

each_alembic_backend! {
    an_admin_previews_applies_and_rolls_back_an_alembic_project => preview_apply_and_roll_back;
    a_failing_revision_is_reported_failed_with_alembics_error => failing_revision;
    the_api_previews_lints_and_applies_and_refuses_a_rehearsal => api_preview_lint_apply;
    viewers_editors_and_read_only_databases_are_refused => refusals;
}

/// SQLite and PostgreSQL (the fixture's venv has no MariaDB driver).
macro_rules! each_alembic_backend {
    ($($name:ident => $body:ident;)*) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::Postgres).await } )* }
    };
}
use each_alembic_backend;

fn revision(id: &str, down: Option<&str>, message: &str, upgrade: &str, downgrade: &str) -> String {
    let down = down.map_or("None".to_string(), |d| format!("{d:?}"));
    format!(
        "\"\"\"{message}\n\nRevision ID: {id}\n\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
         revision = {id:?}\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n{upgrade}\n\n\ndef downgrade():\n{downgrade}\n"
    )
}

/// An Alembic project for `t` (nothing applied): `aaa111aaa111` creates `teams`, `bbb222bbb222` creates `users`
/// and drops `teams.name` (the lint's `ban-drop-column`, so applying it needs the typed confirmation).
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn ini(&self) -> std::path::PathBuf {
        self.dir.path().join("alembic.ini")
    }

    fn versions(&self) -> std::path::PathBuf {
        self.dir.path().join("migrations/versions")
    }

    /// Adds `ccc333ccc333`, which creates `tags` and then fails on a table that does not exist.
    fn add_failing_revision(&self) {
        let text = revision(
            FAILING,
            Some(SECOND),
            "breaks",
            "    op.create_table(\"tags\", sa.Column(\"id\", sa.Integer(), primary_key=True))\n    \
             op.execute(\"INSERT INTO nowhere_at_all VALUES (1)\")",
            "    op.drop_table(\"tags\")",
        );
        std::fs::write(self.versions().join(format!("{FAILING}_breaks.py")), text).unwrap();
    }
}

async fn project(t: &TestDb) -> Project {
    let dir = tempfile::tempdir().unwrap();
    let versions = dir.path().join("migrations/versions");
    std::fs::create_dir_all(&versions).unwrap();
    let url = match t.kind {
        Kind::Postgres => t.url.replacen("postgres://", "postgresql+psycopg2://", 1),
        _ => t.url.clone(),
    };
    let first = revision(
        FIRST,
        None,
        "create teams",
        "    op.create_table(\"teams\", sa.Column(\"id\", sa.Integer(), primary_key=True), \
         sa.Column(\"name\", sa.String(100)))",
        "    op.drop_table(\"teams\")",
    );
    let second = revision(
        SECOND,
        Some(FIRST),
        "add users",
        "    op.create_table(\"users\", sa.Column(\"id\", sa.Integer(), primary_key=True), \
         sa.Column(\"email\", sa.String(200)))\n    op.drop_column(\"teams\", \"name\")",
        "    op.add_column(\"teams\", sa.Column(\"name\", sa.String(100)))\n    op.drop_table(\"users\")",
    );
    let files = [
        (dir.path().join("alembic.ini"), alembic_ini(&url.replace('%', "%%"))),
        (dir.path().join("migrations/env.py"), ALEMBIC_ENV_PY.to_string()),
        (dir.path().join("migrations/script.py.mako"), ALEMBIC_MAKO.to_string()),
        (versions.join(format!("{FIRST}_create_teams.py")), first),
        (versions.join(format!("{SECOND}_add_users.py")), second),
    ];
    for (path, text) in files {
        std::fs::write(path, text).unwrap();
    }
    // The SQLite file exists before Strata opens it, as an application's would.
    t.connect().await.close().await.ok();
    Project { dir }
}

/// Strata's state: its own project database (SQLite) and `shop`, the Alembic-managed database, with `alembic_ini`
/// and, when `with_path`, the venv's `alembic` as `alembic_path`.
async fn state(own: &TestDb, shop: &TestDb, p: &Project, with_path: bool, read_only: bool) -> AppState {
    let mut config: Config = test_config(&own.url);
    let mut spec = WatchSpec::new(SHOP.into(), DatabaseUrl::parse(&shop.url).unwrap(), "test".into());
    spec.alembic_ini = Some(p.ini());
    spec.alembic_path = with_path.then(alembic);
    spec.read_only = read_only;
    config.watched.push(spec);
    let state = app_state_for(config, |_| {}).await;
    ensure_viewer_login(&state).await;
    state
}

fn shop(path: &str) -> String {
    format!("/db/{SHOP}{path}")
}

/// Polls a run's status JSON until it has ended.
async fn finished(b: &mut Browser, run: &str) -> Value {
    for _ in 0..600 {
        let (status, _, body) = b.get(&format!("{run}/status")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let json: Value = serde_json::from_str(&body).unwrap();
        if json["state"] != "running" {
            return json;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the run {run} did not end");
}

async fn start(b: &mut Browser, fields: &[(&str, &str)]) -> String {
    b.get(&shop("/migrations")).await; // the form's CSRF token
    let (status, headers, body) = b.post_form(&shop("/migrations/runs"), fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    location(&headers).to_string()
}

async fn version(t: &TestDb) -> Vec<String> {
    let c = t.connect().await;
    let v = if has_table(&c, "alembic_version").await {
        column(&c, "SELECT version_num FROM alembic_version").await
    } else {
        Vec::new()
    };
    c.close().await.ok();
    v
}

/// Every table and column, sorted: what a schema is, for comparing two databases.
async fn schema(t: &TestDb) -> Vec<String> {
    let c = t.connect().await;
    let sql = match t.kind {
        Kind::Postgres => {
            "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY 1"
        }
        _ => {
            "SELECT m.name || '.' || p.name || ' ' || p.type FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' ORDER BY 1"
        }
    };
    let out = column(&c, sql).await;
    c.close().await.ok();
    out
}

fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page.find(start).unwrap_or_else(|| panic!("{start} in {page}")) + start.len();
    let to = page[from..].find(end).expect("the end") + from;
    &page[from..to]
}

async fn preview_apply_and_roll_back(kind: Kind) {
    let own = TestDb::new(Kind::Sqlite).await;
    let shop_db = TestDb::new(kind).await;
    let p = project(&shop_db).await;
    let mut b = Browser::with_state(state(&own, &shop_db, &p, true, false).await);
    let admin = b.login_as(Role::Admin).await;

    let (status, _, page) = b.get(&shop("/migrations")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("This database&#x27;s Alembic project") || page.contains("This database's Alembic project"));
    assert!(page.contains("id=\"migrate-form\""), "admins get the form: {page}");

    // The preview is alembic's own --sql output from base, split per revision and linted: teams is created in the
    // same plan, so dropping its column costs nothing and asks for no confirmation.
    let (status, _, preview) = b.get(&shop("/migrations/preview?action=up&to=&n=")).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let sql = unescape(between(&preview, "<pre class=\"sql\" id=\"preview-sql\">", "</pre>"));
    assert!(sql.contains(&format!("-- Running upgrade  -> {FIRST}")), "{sql}");
    assert!(sql.contains(&format!("-- Running upgrade {FIRST} -> {SECOND}")) && sql.contains("CREATE TABLE users"));
    assert!(preview.contains(&format!("id=\"lint-{SECOND}\"")) && !preview.contains("id=\"confirm\""), "{preview}");
    assert!(preview.contains("id=\"no-rehearsal\"") && !preview.contains("id=\"rehearse\""), "{preview}");
    assert!(version(&shop_db).await.is_empty(), "the preview runs nothing");

    // One revision; then the next one drops a column of an existing table: the finding, and the name to type.
    let run = start(&mut b, &[("action", "up"), ("n", "1")]).await;
    assert!(run.starts_with(&shop("/migrations/runs/")), "{run}");
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(version(&shop_db).await, vec![FIRST]);
    let (_, _, preview) = b.get(&shop("/migrations/preview?action=up")).await;
    assert!(preview.contains(&format!("id=\"lint-{SECOND}\"")) && preview.contains("data-rule=\"ban-drop-column\""));
    assert!(preview.contains("id=\"confirm\""), "dropping a column needs the name typed: {preview}");
    let (status, _, body) = b.post_form(&shop("/migrations/runs"), &[("action", "up")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("ban-drop-column") && body.contains("nothing was run"), "{body}");
    assert_eq!(version(&shop_db).await, vec![FIRST]);
    let run = start(&mut b, &[("action", "up"), ("confirm", SHOP)]).await;
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let steps: Vec<(&str, &str)> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["revision"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(steps, [(SECOND, "succeeded")], "{done}");
    assert_eq!(done["steps"][0]["name"], "add users", "{done}");
    assert!(done["steps"][0]["duration_ms"].is_i64(), "progress from alembic's INFO lines: {done}");
    assert_eq!(version(&shop_db).await, vec![SECOND]);

    // What ran is what the preview showed: its SQL, run on an empty database, leaves the same schema.
    let scratch = TestDb::new(kind).await;
    let c = scratch.connect_one().await; // BEGIN ... COMMIT on one connection
    for statement in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        exec(&c, statement).await;
    }
    c.close().await.ok();
    assert_eq!(schema(&scratch).await, schema(&shop_db).await);
    scratch.drop().await;

    // The run is recorded in migration_runs and the audit log, and listed on the page.
    let runs = column(&b.state.home, "SELECT state || ' ' || action || ' ' || target FROM migration_runs").await;
    assert_eq!(runs, vec!["succeeded up n=1", "succeeded up all"]);
    let audit =
        column(&b.state.home, "SELECT actor || ': ' || detail FROM audit_log WHERE action = 'migrations.apply'").await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(
        audit[1].starts_with(&format!("{admin}: run ")) && audit[1].contains("succeeded: 1 revision(s)"),
        "{audit:?}"
    );
    let (_, _, page) = b.get(&shop("/migrations")).await;
    assert!(page.contains("Runs from the dashboard") && page.contains(&format!("{SECOND}</span> succeeded")), "{page}");

    // down: the typed name again; alembic_version goes back one revision.
    let (_, _, preview) = b.get(&shop("/migrations/preview?action=down&n=1")).await;
    let sql = unescape(between(&preview, "<pre class=\"sql\" id=\"preview-sql\">", "</pre>"));
    assert!(sql.contains(&format!("-- Running downgrade {SECOND} -> {FIRST}")) && sql.contains("DROP TABLE users"));
    let (status, _, _) = b.post_form(&shop("/migrations/runs"), &[("action", "down"), ("n", "1")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let run = start(&mut b, &[("action", "down"), ("n", "1"), ("confirm", SHOP)]).await;
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["steps"][0]["revision"], SECOND);
    assert_eq!(version(&shop_db).await, vec![FIRST]);
    let c = shop_db.connect().await;
    assert!(!has_table(&c, "users").await);
    c.close().await.ok();
    drop(p);
    shop_db.drop().await;
    own.drop().await;
}

async fn failing_revision(kind: Kind) {
    let own = TestDb::new(Kind::Sqlite).await;
    let shop_db = TestDb::new(kind).await;
    let p = project(&shop_db).await;
    let mut b = Browser::with_state(state(&own, &shop_db, &p, true, false).await);
    b.login_as(Role::Admin).await;
    let run = start(&mut b, &[("action", "up")]).await;
    assert_eq!(finished(&mut b, &run).await["state"], "succeeded");
    p.add_failing_revision();

    let (_, _, preview) = b.get(&shop("/migrations/preview?action=up")).await;
    assert!(preview.contains(&format!("id=\"lint-{FAILING}\"")), "{preview}");
    let run = start(&mut b, &[("action", "up")]).await;
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "failed", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains("nowhere_at_all") && error.contains("INSERT INTO nowhere_at_all"),
        "Alembic's error: {error}"
    );
    assert!(!error.contains("Traceback"), "the exception, not the traceback: {error}");
    let step = &done["steps"][0];
    assert_eq!((step["revision"].as_str(), step["state"].as_str()), (Some(FAILING), Some("failed")), "{done}");
    assert!(step["error"].as_str().unwrap().contains("nowhere_at_all"), "{done}");
    assert_eq!(version(&shop_db).await, vec![SECOND], "the failing revision is not recorded");
    let runs = column(&b.state.home, "SELECT state FROM migration_runs ORDER BY id").await;
    assert_eq!(runs, vec!["succeeded", "failed"]);
    let audit =
        column(&b.state.home, "SELECT detail FROM audit_log WHERE action = 'migrations.apply' ORDER BY id").await;
    assert!(audit[1].contains("failed: alembic upgrade") && audit[1].contains("nowhere_at_all"), "{audit:?}");
    let (_, _, shown) = b.get(&run).await;
    assert!(shown.contains("badge-failed") && shown.contains("nowhere_at_all"), "{shown}");
    drop(p);
    shop_db.drop().await;
    own.drop().await;
}

async fn api_preview_lint_apply(kind: Kind) {
    let own = TestDb::new(Kind::Sqlite).await;
    let shop_db = TestDb::new(kind).await;
    let p = project(&shop_db).await;
    let mut b = Browser::with_state(state(&own, &shop_db, &p, true, false).await);
    let (_, key) = key_for(&b.state, Role::Admin, &[Scope::ManageMigrations]).await;
    let base = format!("/api/v1/databases/{SHOP}/migrations");

    let (status, _, preview) =
        api::post_json(&mut b, &format!("{base}/preview"), &key, r#"{"action":"up","n":1}"#).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let planned: Vec<&str> =
        preview["migrations"].as_array().unwrap().iter().map(|m| m["revision"].as_str().unwrap()).collect();
    assert_eq!(planned, [FIRST]);
    assert!(preview["sql"].as_str().unwrap().contains("CREATE TABLE teams"), "{preview}");
    assert!(preview["confirmation"].is_null(), "{preview}");

    let (status, _, started) = api::post_json(&mut b, &format!("{base}/apply"), &key, r#"{"action":"up","n":1}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let first = api_finished(&mut b, started["status_url"].as_str().unwrap(), &key).await;
    assert_eq!(first["state"], "succeeded", "{first}");

    let (status, _, lint) = api::post_json(&mut b, &format!("{base}/lint"), &key, r#"{"action":"up"}"#).await;
    assert_eq!(status, StatusCode::OK, "{lint}");
    assert_eq!(lint["migrations"][0]["revision"], SECOND, "{lint}");
    let rules: Vec<&str> =
        lint["migrations"][0]["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"ban-drop-column"), "{lint}");

    let answer = api::post_json(&mut b, &format!("{base}/rehearse"), &key, r#"{"action":"up"}"#).await;
    let message = api::error(&answer, StatusCode::NOT_IMPLEMENTED, "unsupported");
    assert!(message.contains("Alembic project cannot be rehearsed"), "{message}");

    let answer = api::post_json(&mut b, &format!("{base}/apply"), &key, r#"{"action":"up"}"#).await;
    api::error(&answer, StatusCode::BAD_REQUEST, "bad_request");
    let (status, _, started) =
        api::post_json(&mut b, &format!("{base}/apply"), &key, format!(r#"{{"action":"up","confirm":"{SHOP}"}}"#))
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let done = api_finished(&mut b, started["status_url"].as_str().unwrap(), &key).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(version(&shop_db).await, vec![SECOND]);
    let audit = column(&b.state.home, "SELECT detail FROM audit_log WHERE action = 'migrations.apply'").await;
    assert!(audit.len() == 2 && audit[1].contains("through the API"), "{audit:?}");
    drop(p);
    shop_db.drop().await;
    own.drop().await;
}

async fn refusals(kind: Kind) {
    let own = TestDb::new(Kind::Sqlite).await;
    let shop_db = TestDb::new(kind).await;
    let p = project(&shop_db).await;

    // Without alembic_path the page says how to enable it, and nothing can be previewed.
    let mut b = Browser::with_state(state(&own, &shop_db, &p, false, false).await);
    b.login_as(Role::Admin).await;
    let (_, _, page) = b.get(&shop("/migrations")).await;
    let why = between(&page, "id=\"cannot-apply\">", "</p>");
    assert!(why.contains("alembic_path") && why.contains(&format!("[database:{SHOP}]")), "{why}");
    assert!(!page.contains("id=\"migrate-form\""), "{page}");
    let (status, _, body) = b.get(&shop("/migrations/preview?action=up")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Viewers and editors see the page without the form and are refused every action, on the page and the API.
    let shared = state(&own, &shop_db, &p, true, false).await;
    for role in [Role::Viewer, Role::Editor] {
        let mut b = Browser::with_state(shared.clone());
        b.login_as(role).await;
        let (_, _, page) = b.get(&shop("/migrations")).await;
        assert!(!page.contains("id=\"migrate-form\""), "{page}");
        let (status, _, _) = b.get(&shop("/migrations/preview?action=up")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = b.post_form(&shop("/migrations/runs"), &[("action", "up"), ("confirm", SHOP)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, key) = key_for(&shared, role, &[Scope::ManageMigrations]).await;
        let mut client = b.another();
        for what in ["preview", "lint", "apply"] {
            let path = format!("/api/v1/databases/{SHOP}/migrations/{what}");
            let answer =
                api::post_json(&mut client, &path, &key, format!(r#"{{"action":"up","confirm":"{SHOP}"}}"#)).await;
            api::error(&answer, StatusCode::FORBIDDEN, "forbidden");
        }
    }

    // A read_only database refuses everyone, admins included.
    let mut b = Browser::with_state(state(&own, &shop_db, &p, true, true).await);
    b.login_as(Role::Admin).await;
    let (_, _, page) = b.get(&shop("/migrations")).await;
    assert!(!page.contains("id=\"migrate-form\"") && page.contains("read_only"), "{page}");
    let (status, _, _) = b.post_form(&shop("/migrations/runs"), &[("action", "up"), ("confirm", SHOP)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, key) = key_for(&b.state, Role::Admin, &[Scope::ManageMigrations]).await;
    let mut client = b.another();
    for what in ["preview", "lint", "apply"] {
        let path = format!("/api/v1/databases/{SHOP}/migrations/{what}");
        let answer = api::post_json(&mut client, &path, &key, format!(r#"{{"action":"up","confirm":"{SHOP}"}}"#)).await;
        api::error(&answer, StatusCode::FORBIDDEN, "read_only");
    }
    assert!(version(&shop_db).await.is_empty(), "nothing ran");
    drop(p);
    shop_db.drop().await;
    own.drop().await;
}
