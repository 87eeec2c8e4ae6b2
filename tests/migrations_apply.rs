//! Applying migrations from the Migrations page and the API: preview, typed confirmation, progress, the
//! migrations_log and audit rows, a second migrator named, cancel between migrations, the impact report, refusals.

mod common;
#[path = "common/sql_migration.rs"]
mod sql_migration;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::api::{self, api_finished, key_for};
use common::web::*;
use common::*;
use sea_orm::DbErr;
use sea_orm::{ConnectionTrait, TransactionTrait};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use serde_json::Value;
use sql_migration::SqlMigration;
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;
use strata::migrate::MigrationSet;
use strata::state::AppState;
use tokio::sync::Semaphore;

each_backend! {
    an_admin_applies_and_rolls_back_from_the_page_with_the_typed_confirmation => apply_from_the_page;
    a_second_migrator_holding_the_lock_is_named => second_migrator_is_named;
    a_run_cancelled_between_migrations_stops_there => cancel_between_migrations;
    a_run_waiting_for_the_lock_is_cancelled_without_running_anything => cancel_while_waiting_for_the_lock;
    the_impact_report_shows_a_new_index_and_its_real_size => impact_of_a_new_index;
    the_impact_report_tells_a_table_rewrite_from_an_instant_change => impact_of_a_rewrite;
    the_impact_report_of_a_migration_names_only_what_it_touched_among_many_tables => impact_among_many_tables;
    viewers_and_editors_are_refused_on_the_page_and_the_api => viewers_and_editors_refused;
    everyone_is_refused_on_a_read_only_database => read_only_refuses_everyone;
    an_api_key_previews_applies_and_follows_a_run => api_apply_and_follow;
    an_up_that_drops_data_shows_the_finding_and_needs_the_typed_confirmation => destructive_up_needs_confirmation;
    a_rehearsal_from_the_page_and_the_api_reports_each_migration_and_leaves_nothing => rehearse_from_page_and_api;
}

/// `ALTER TABLE first DROP COLUMN name`: the lint's `ban-drop-column`, which drops data.
struct DropName;
impl MigrationName for DropName {
    fn name(&self) -> &str {
        "m20990101_000002_drop_first_name"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for DropName {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("ALTER TABLE first DROP COLUMN name").await.map(|_| ())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("ALTER TABLE first ADD COLUMN name VARCHAR(40)").await.map(|_| ())
    }
}

async fn destructive_up_needs_confirmation(kind: Kind) {
    let t = fresh(kind).await;
    let set = MigrationSet::new(vec![Box::new(Create("m20990101_000001_create_first", "first")), Box::new(DropName)])
        .unwrap();
    let mut b = Browser::with_state(state_with(&t, set).await);
    b.login_as(Role::Admin).await;
    // A clean migration needs no confirmation; its lint has nothing under its statement.
    let (_, _, preview) = b.get(&at("/migrations/preview?action=up&n=1")).await;
    assert!(preview.contains("id=\"lint-m20990101_000001\"") && preview.contains("nothing found"), "{preview}");
    assert!(!preview.contains("id=\"confirm\""), "{preview}");
    let run = start(&mut b, &[("action", "up"), ("n", "1")]).await;
    assert_eq!(finished(&mut b, &run).await["state"], "succeeded");
    // Dropping a column: the finding sits under its statement and the name must be typed.
    let (_, _, preview) = b.get(&at("/migrations/preview?action=up")).await;
    let lint = &preview[preview.find("id=\"lint-m20990101_000002\"").expect("the migration's lint")..];
    let statement = lint.find("DROP COLUMN").expect("the statement");
    let finding = lint.find("data-rule=\"ban-drop-column\"").expect("the finding");
    assert!(statement < finding, "the finding follows its statement: {lint}");
    assert!(preview.contains("id=\"confirm\"") && preview.contains("this plan drops or rewrites data"), "{preview}");
    let (status, _, body) = b.post_form(&at("/migrations/runs"), &[("action", "up")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("ban-drop-column") && body.contains("nothing was run"), "{body}");
    let check = t.connect().await;
    assert_eq!(column(&check, "SELECT version_num FROM alembic_version").await, vec!["m20990101_000001"]);
    // The API says the same.
    let (_, key) = key_for(&b.state, Role::Admin, &[Scope::ManageMigrations]).await;
    let mut client = b.another();
    let path = format!("/api/v1/databases/{APP}/migrations/preview");
    let (status, _, body) = api::post_json(&mut client, &path, &key, r#"{"action":"up"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let findings = body["lint"]["migrations"][0]["findings"].as_array().unwrap();
    let drop = findings.iter().find(|f| f["rule"] == "ban-drop-column").unwrap_or_else(|| panic!("{body}"));
    assert_eq!(drop["destructive"], true);
    assert_eq!(drop["statement"], 1);
    assert!(body["confirmation"].as_str().unwrap().contains("ban-drop-column"));
    let path = format!("/api/v1/databases/{APP}/migrations/lint");
    let (status, _, lint) = api::post_json(&mut client, &path, &key, r#"{"action":"up"}"#).await;
    assert_eq!(status, StatusCode::OK, "{lint}");
    assert_eq!(lint["migrations"], body["lint"]["migrations"], "the lint endpoint says what the preview showed");
    let run = start(&mut b, &[("action", "up"), ("confirm", APP)]).await;
    assert_eq!(finished(&mut b, &run).await["state"], "succeeded");
    assert_eq!(column(&check, "SELECT version_num FROM alembic_version").await, vec!["m20990101_000002"]);
    check.close().await.ok();
    t.drop().await;
}

// A crafted migrator: a table, a migration that waits for the test's go (the "slow" one), another table, an index.

/// `CREATE TABLE` of one table (and `DROP TABLE` back).
struct Create(&'static str, &'static str);
impl MigrationName for Create {
    fn name(&self) -> &str {
        self.0
    }
}
#[async_trait::async_trait]
impl MigrationTrait for Create {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = format!("CREATE TABLE {} (id INTEGER PRIMARY KEY, name VARCHAR(40))", self.1);
        m.get_connection().execute_unprepared(&sql).await.map(|_| ())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared(&format!("DROP TABLE {}", self.1)).await.map(|_| ())
    }
}

/// Alters `first` (PostgreSQL then holds its lock until the migration commits), then runs until the test lets it
/// go: a migration that is still running when the test asks to cancel.
struct Gate(Arc<Semaphore>);
impl MigrationName for Gate {
    fn name(&self) -> &str {
        "m20990101_000002_wait_for_the_test"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for Gate {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("ALTER TABLE first ADD COLUMN extra INTEGER").await?;
        // The preview and the lint record the statements on SeaORM's mock connection: only a real run waits.
        let recording =
            matches!(m.get_connection(), sea_orm::DatabaseExecutor::Connection(c) if c.is_mock_connection());
        let _go = match recording {
            true => None,
            false => Some(self.0.acquire().await.map_err(|e| DbErr::Custom(e.to_string()))?),
        };
        m.get_connection().execute_unprepared("CREATE TABLE gated (id INTEGER)").await.map(|_| ())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP TABLE gated").await.map(|_| ())
    }
}

/// Fills `items` with 5000 rows.
struct Fill;
impl MigrationName for Fill {
    fn name(&self) -> &str {
        "m20990101_000002_fill_items"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for Fill {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = m.get_connection();
        let values: Vec<String> = (1..=5000).map(|i| format!("({i}, 'name number {i}')")).collect();
        for chunk in values.chunks(500) {
            c.execute_unprepared(&format!("INSERT INTO items (id, name) VALUES {}", chunk.join(", "))).await?;
        }
        Ok(())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DELETE FROM items").await.map(|_| ())
    }
}

/// `CREATE INDEX items_name_idx`.
struct AddIndex;
impl MigrationName for AddIndex {
    fn name(&self) -> &str {
        "m20990101_000003_index_items_name"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for AddIndex {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("CREATE INDEX items_name_idx ON items (name)").await.map(|_| ())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            sea_orm::DbBackend::MySql => "DROP INDEX items_name_idx ON items",
            _ => "DROP INDEX items_name_idx",
        };
        m.get_connection().execute_unprepared(sql).await.map(|_| ())
    }
}

/// A fresh test database; a SQLite file is created as Strata does (the pages open it read-only).
async fn fresh(kind: Kind) -> TestDb {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "current"]));
    t
}

/// The state `strata serve` would build, with `set` as the project's migrations.
async fn state_with(t: &TestDb, set: MigrationSet) -> AppState {
    let base = app_state(&t.url).await;
    let state = AppState::new(base.home.clone(), base.config.clone(), Arc::new(set)).await.expect("a state");
    ensure_viewer_login(&state).await;
    state
}

/// Polls the run's status JSON until it has ended; returns it.
async fn finished(b: &mut Browser, run: &str) -> Value {
    for _ in 0..400 {
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

/// Polls the run's status JSON until `check` holds; returns it.
async fn until_status(b: &mut Browser, run: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let (_, _, body) = b.get(&format!("{run}/status")).await;
        let json: Value = serde_json::from_str(&body).unwrap();
        if check(&json) {
            return json;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting: {what}");
}

/// Starts a run with the form's fields; returns the run page's path.
async fn start(b: &mut Browser, fields: &[(&str, &str)]) -> String {
    b.get(&at("/migrations")).await; // the form's CSRF token
    let (status, headers, body) = b.post_form(&at("/migrations/runs"), fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    location(&headers).to_string()
}

async fn audit_details(state: &AppState, action: &str) -> Vec<String> {
    column(&state.home, &format!("SELECT detail FROM audit_log WHERE action = '{action}' ORDER BY id")).await
}

async fn apply_from_the_page(kind: Kind) {
    let t = fresh(kind).await;
    let mut b = Browser::new(&t.url).await;
    let admin = b.login_as(Role::Admin).await;

    let (status, _, page) = b.get(&at("/migrations")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"migrate-form\""), "admins get the form");

    // The preview is the exact SQL, version-table writes included; nothing has run.
    let (status, _, preview) = b.get(&at("/migrations/preview?action=up&to=&n=")).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(preview.contains("CREATE TABLE") && preview.contains("alembic_version"), "{preview}");
    assert!(!preview.contains("id=\"confirm\""), "up needs no typed confirmation");
    let check = t.connect().await;
    assert!(!has_table(&check, "users").await, "the preview runs nothing");

    let run = start(&mut b, &[("action", "up"), ("to", ""), ("n", "")]).await;
    assert!(run.starts_with(&at("/migrations/runs/")), "{run}");
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let steps = done["steps"].as_array().unwrap();
    assert_eq!(steps.len(), *MIGRATIONS);
    assert!(steps.iter().all(|s| s["state"] == "succeeded" && s["duration_ms"].is_i64()), "{done}");
    assert!(has_table(&check, "users").await && has_table(&check, "posts").await);
    // The run page shows the outcome without any script.
    let (_, _, shown) = b.get(&run).await;
    assert!(shown.contains("badge-succeeded") && shown.contains(&*HEAD), "{shown}");

    // migrations_log names the account; the audit log has the run and how it ended.
    let actors = column(&check, "SELECT actor FROM migrations_log WHERE action = 'upgrade'").await;
    assert_eq!(actors, vec![admin.clone(); *MIGRATIONS]);
    let details = audit_details(&b.state, "migrations.apply").await;
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(details[0].contains("succeeded") && details[0].contains(&*HEAD), "{details:?}");

    // down needs the database's name typed: refused without it, or with another, and nothing runs.
    let (_, _, preview) = b.get(&at("/migrations/preview?action=down&to=&n=1")).await;
    assert!(preview.contains("id=\"confirm\"") && preview.contains("DROP TABLE"), "{preview}");
    for confirm in ["", "prod"] {
        let (status, _, body) =
            b.post_form(&at("/migrations/runs"), &[("action", "down"), ("n", "1"), ("confirm", confirm)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("type the database") && body.contains("nothing was run"), "{body}");
    }
    assert!(has_table(&check, "posts").await, "a refused down runs nothing");
    let run = start(&mut b, &[("action", "down"), ("n", "1"), ("confirm", APP)]).await;
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["steps"].as_array().unwrap().len(), 1);
    assert!(!has_table(&check, "posts").await && has_table(&check, "users").await);
    let downs = column(&check, "SELECT actor FROM migrations_log WHERE action = 'downgrade'").await;
    assert_eq!(downs, vec![admin.clone()]);

    // stamp needs it too; then the head is what was stamped.
    let run = start(&mut b, &[("action", "stamp"), ("to", "base"), ("confirm", APP)]).await;
    assert_eq!(finished(&mut b, &run).await["state"], "succeeded");
    assert!(column(&check, "SELECT version_num FROM alembic_version").await.is_empty());

    // The page lists the runs.
    let (_, _, page) = b.get(&at("/migrations")).await;
    assert!(page.contains("Runs from the dashboard") && page.contains("stamp to=base"), "{page}");
    check.close().await.ok();
    t.drop().await;
}

async fn second_migrator_is_named(kind: Kind) {
    let t = fresh(kind).await;
    let mut b = Browser::new(&t.url).await;
    b.login_as(Role::Admin).await;
    let (holder, txn, holder_id) = hold_the_lock(&t).await;
    // The page names the holder where the server can say who it is.
    let (_, _, page) = b.get(&at("/migrations")).await;
    if kind == Kind::Sqlite {
        assert!(!page.contains("id=\"lock-holder\""), "SQLite has no lock to ask about before a run waits");
    } else {
        assert!(page.contains("id=\"lock-holder\"") && page.contains(&holder_id), "{page}");
    }
    // A run waits for it, saying who holds it.
    let run = start(&mut b, &[("action", "up")]).await;
    let waiting = until_status(&mut b, &run, "the run waits", |s| s["waiting"].is_string()).await;
    let says = waiting["waiting"].as_str().unwrap();
    assert!(says.contains("waiting for the migration lock, held by"), "{says}");
    match kind {
        Kind::Postgres => assert!(says.contains(&format!("backend PID {holder_id}")), "{says}"),
        Kind::MySql => assert!(says.contains(&format!("connection {holder_id}")), "{says}"),
        Kind::Sqlite => assert!(says.contains("another connection writing to this SQLite file"), "{says}"),
    }
    let (_, _, shown) = b.get(&run).await;
    let named = if kind == Kind::Sqlite { "another connection writing" } else { holder_id.as_str() };
    assert!(
        shown.contains("waiting for the migration lock, held by") && shown.contains(named),
        "the run page shows it"
    );
    if let Some(txn) = txn {
        txn.rollback().await.unwrap();
    }
    holder.close().await.ok();
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "once the holder is gone the run goes on: {done}");
    t.drop().await;
}

/// Another migrator holding the migration lock on its own connection: PostgreSQL's advisory lock, MariaDB's
/// `GET_LOCK`, SQLite's write lock (an open write transaction). Returns the connection, the SQLite transaction, and
/// the holder's session id as the server names it (empty on SQLite).
async fn hold_the_lock(t: &TestDb) -> (sea_orm::DatabaseConnection, Option<sea_orm::DatabaseTransaction>, String) {
    let holder = t.connect_one().await;
    let (txn, holder_id) = match t.kind {
        Kind::Postgres => {
            exec(&holder, &format!("SELECT pg_advisory_lock({})", (0x5354_5241_i64 << 32) | 0x5441_4d47)).await;
            (None, column(&holder, "SELECT pg_backend_pid()::text").await.remove(0))
        }
        Kind::MySql => {
            exec(&holder, "SELECT GET_LOCK(CONCAT('strata_migrate:', DATABASE()), 0)").await;
            (None, column(&holder, "SELECT CAST(CONNECTION_ID() AS CHAR)").await.remove(0))
        }
        Kind::Sqlite => {
            let txn = holder.begin().await.unwrap();
            txn.execute_unprepared("CREATE TABLE lock_holder (id INTEGER)").await.unwrap(); // the write lock
            (Some(txn), String::new())
        }
    };
    (holder, txn, holder_id)
}

async fn cancel_while_waiting_for_the_lock(kind: Kind) {
    let t = fresh(kind).await;
    let mut b = Browser::new(&t.url).await;
    b.login_as(Role::Admin).await;
    let (holder, txn, _) = hold_the_lock(&t).await;
    let run = start(&mut b, &[("action", "up")]).await;
    until_status(&mut b, &run, "the run waits for the lock", |s| s["waiting"].is_string()).await;
    let (_, _, page) = b.get(&run).await;
    assert!(page.contains("id=\"cancel\""), "a waiting run offers the stop button: {page}");
    let (status, _, body) = b.post_form(&format!("{run}/cancel"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    // The holder still holds the lock: the run ends on the cancel, not on getting the lock or lock_timeout.
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "cancelled", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(error.starts_with("cancelled while waiting for the migration lock, held by"), "{error}");
    assert!(error.ends_with("no migration was run"), "{error}");
    let states: Vec<&str> = done["steps"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["not_run"; *MIGRATIONS], "{done}");
    // The API cancels a waiting run the same way.
    let waiting = start(&mut b, &[("action", "up")]).await;
    until_status(&mut b, &waiting, "the second run waits", |s| s["waiting"].is_string()).await;
    let id = waiting.rsplit('/').next().unwrap().to_string();
    let (_, key) = key_for(&b.state, Role::Admin, &[Scope::ManageMigrations]).await;
    let mut client = b.another();
    let path = format!("/api/v1/databases/{APP}/migrations/runs/{id}/cancel");
    let (status, _, answer) = api::post_json(&mut client, &path, &key, "").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["done"].as_str().unwrap().contains("stops waiting for the migration lock"), "{answer}");
    let again = finished(&mut b, &waiting).await;
    assert_eq!(again["state"], "cancelled", "{again}");
    let answer = api::post_json(&mut client, &path, &key, "").await;
    api::error(&answer, StatusCode::CONFLICT, "conflict");
    if let Some(txn) = txn {
        txn.rollback().await.unwrap();
    }
    holder.close().await.ok();
    // Nothing ran: no table, no version, no log row; and the next run takes the free lock and applies them all.
    let check = t.connect().await;
    assert!(!has_table(&check, "users").await);
    assert!(
        !has_table(&check, "migrations_log").await || count(&check, "SELECT count(*) FROM migrations_log").await == 0
    );
    let applies = audit_details(&b.state, "migrations.apply").await;
    assert!(applies[0].starts_with(&format!("run {} cancelled: cancelled while waiting", done["id"])), "{applies:?}");
    assert_eq!(column(&b.state.home, "SELECT state FROM migration_runs").await, vec!["cancelled", "cancelled"]);
    let run = start(&mut b, &[("action", "up")]).await;
    assert_eq!(finished(&mut b, &run).await["state"], "succeeded");
    assert!(has_table(&check, "users").await);
    check.close().await.ok();
    t.drop().await;
}

async fn cancel_between_migrations(kind: Kind) {
    let t = fresh(kind).await;
    let gate = Arc::new(Semaphore::new(0));
    let set = MigrationSet::new(vec![
        Box::new(Create("m20990101_000001_create_first", "first")),
        Box::new(Gate(gate.clone())),
        Box::new(Create("m20990101_000003_create_third", "third")),
    ])
    .unwrap();
    let mut b = Browser::with_state(state_with(&t, set).await);
    let admin = b.login_as(Role::Admin).await;
    let run = start(&mut b, &[("action", "up")]).await;
    until_status(&mut b, &run, "the second migration runs", |s| s["steps"][1]["state"] == "running").await;
    let (_, _, page) = b.get(&run).await;
    assert!(page.contains("id=\"cancel\""), "a running run offers the stop button");
    // On PostgreSQL the migration's lock blocks a reader: the run page shows who waits on the runner.
    let mut waiting_reader = None;
    if kind == Kind::Postgres {
        let c = t.connect_one().await;
        let pid = column(&c, "SELECT pg_backend_pid()::text").await.remove(0);
        let waited = tokio::spawn(async move { count(&c, "SELECT count(*) FROM first").await });
        let runner =
            until_status(&mut b, &run, "a runner pid", |s| s["runner_pid"].is_i64()).await["runner_pid"].clone();
        let mut shown = String::new();
        for _ in 0..100 {
            shown = b.get(&run).await.2;
            if shown.contains(&format!("data-pid=\"{pid}\"")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(shown.contains(&format!("data-pid=\"{runner}\"")) && shown.contains("the runner"), "{shown}");
        assert!(shown.contains(&format!("data-pid=\"{pid}\"")) && shown.contains("↳ waits"), "{shown}");
        waiting_reader = Some(waited);
    }
    let (status, headers, body) = b.post_form(&format!("{run}/cancel"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location(&headers), run);
    gate.add_permits(1); // the running migration finishes; the next one never starts
    let done = finished(&mut b, &run).await;
    if let Some(waited) = waiting_reader {
        assert_eq!(waited.await.unwrap(), 0, "the reader goes on once the migration committed");
    }
    assert_eq!(done["state"], "cancelled", "{done}");
    let error = done["error"].as_str().unwrap();
    assert_eq!(error, "cancelled after m20990101_000002; 1 not run: m20990101_000003", "{done}");
    let states: Vec<&str> = done["steps"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["succeeded", "succeeded", "not_run"]);
    let check = t.connect().await;
    assert!(has_table(&check, "gated").await && !has_table(&check, "third").await);
    assert_eq!(column(&check, "SELECT version_num FROM alembic_version").await, vec!["m20990101_000002"]);
    assert_eq!(count(&check, "SELECT count(*) FROM migrations_log WHERE status = 'success'").await, 2);
    let cancels = audit_details(&b.state, "migrations.cancel").await;
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    let applies = audit_details(&b.state, "migrations.apply").await;
    assert!(applies[0].starts_with(&format!("run {} cancelled: cancelled after", done["id"])), "{applies:?}");
    let row = column(&b.state.home, "SELECT state FROM migration_runs").await;
    assert_eq!(row, vec!["cancelled"]);
    let _ = admin;
    check.close().await.ok();

    // On PostgreSQL the statement running now can be aborted too: its migration fails and is rolled back.
    if kind == Kind::Postgres {
        abort_current_statement(&t).await;
    }
    t.drop().await;
}

/// A migration that sleeps in the database.
struct Sleeps;
impl MigrationName for Sleeps {
    fn name(&self) -> &str {
        "m20990101_000004_sleep"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for Sleeps {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = m.get_connection();
        c.execute_unprepared("CREATE TABLE slept (id INTEGER)").await?;
        c.execute_unprepared("SELECT pg_sleep(60)").await.map(|_| ())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP TABLE slept").await.map(|_| ())
    }
}

async fn abort_current_statement(t: &TestDb) {
    let gate = Arc::new(Semaphore::new(1));
    let set = MigrationSet::new(vec![
        Box::new(Create("m20990101_000001_create_first", "first")),
        Box::new(Gate(gate)),
        Box::new(Create("m20990101_000003_create_third", "third")),
        Box::new(Sleeps),
        Box::new(Create("m20990101_000005_create_fifth", "fifth")),
    ])
    .unwrap();
    let mut b = Browser::with_state(state_with(t, set).await);
    b.login_as(Role::Admin).await;
    let run = start(&mut b, &[("action", "up")]).await;
    let running = until_status(&mut b, &run, "the sleep runs", |s| s["steps"][1]["state"] == "running").await;
    let pid = running["runner_pid"].as_i64().expect("the runner's backend PID");
    let check = t.connect().await;
    // Wait until the runner's session is inside pg_sleep.
    eventually("the runner sleeps", || {
        let check = &check;
        async move {
            let q = format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND query LIKE '%pg_sleep%'");
            (count(check, &q).await == 1).then_some(())
        }
    })
    .await;
    let (_, _, page) = b.get(&run).await;
    assert!(page.contains("id=\"abort\""), "PostgreSQL offers the abort button");
    let (status, _, body) = b.post_form(&format!("{run}/cancel"), &[("abort", "statement")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "cancelled", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.starts_with("the current statement was aborted on request") && error.contains("rolled back"),
        "{error}"
    );
    assert_eq!(done["steps"][1]["state"], "failed");
    assert_eq!(done["steps"][2]["state"], "not_run");
    assert!(!has_table(&check, "slept").await, "the aborted migration is rolled back");
    assert!(!has_table(&check, "fifth").await);
    assert_eq!(audit_details(&b.state, "migrations.abort").await.len(), 1);
    check.close().await.ok();
}

async fn rehearse_from_page_and_api(kind: Kind) {
    let t = fresh(kind).await;
    let set = MigrationSet::new(vec![
        Box::new(Create("m20990101_000001_create_items", "items")),
        Box::new(Fill),
        Box::new(AddIndex),
    ])
    .unwrap();
    let mut b = Browser::with_state(state_with(&t, set).await);
    b.login_as(Role::Admin).await;
    let (_, _, preview) = b.get(&at("/migrations/preview?action=up")).await;
    assert_eq!(preview.contains("id=\"rehearse\""), kind != Kind::MySql, "the button where it can work:\n{preview}");
    let (status, _, page) = b.post_form(&at("/migrations/rehearse"), &[("action", "up")]).await;
    let (_, key) = key_for(&b.state, Role::Admin, &[Scope::ManageMigrations]).await;
    let path = format!("/api/v1/databases/{APP}/migrations/rehearse");
    let answer = api::post_json(&mut b.another(), &path, &key, r#"{"action":"up"}"#).await;
    let check = t.connect().await;
    if kind == Kind::MySql {
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{page}");
        assert!(page.contains("--sql"), "says what to use instead:\n{page}");
        api::error(&answer, StatusCode::NOT_IMPLEMENTED, "unsupported");
    } else {
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("id=\"rehearsal-ok\"") && page.contains("rolled back"), "{page}");
        for revision in ["m20990101_000001", "m20990101_000002", "m20990101_000003"] {
            assert!(page.contains(revision), "{revision} is reported:\n{page}");
        }
        assert!(page.contains("items_name_idx"), "the new index is among the changes:\n{page}");
        if kind == Kind::Postgres {
            assert!(page.contains("AccessExclusiveLock"), "CREATE TABLE's lock is named:\n{page}");
        }
        let (status, _, json) = answer;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["steps"].as_array().unwrap().len(), 3, "{json}");
        assert!(json["failed"].is_null(), "{json}");
    }
    assert!(!has_table(&check, "items").await, "nothing stays");
    if has_table(&check, "alembic_version").await {
        assert_eq!(count(&check, "SELECT COUNT(*) FROM alembic_version").await, 0, "no head was recorded");
    }
    let audit = audit_details(&b.state, "migrations.rehearse").await;
    assert_eq!(audit.len(), 2, "the page's and the API's rehearsals are audited: {audit:?}");
    assert!(audit[1].contains("API key"), "{audit:?}");
    check.close().await.ok();
    t.drop().await;
}

async fn impact_of_a_new_index(kind: Kind) {
    let t = fresh(kind).await;
    let set = MigrationSet::new(vec![
        Box::new(Create("m20990101_000001_create_items", "items")),
        Box::new(Fill),
        Box::new(AddIndex),
    ])
    .unwrap();
    let mut b = Browser::with_state(state_with(&t, set).await);
    b.login_as(Role::Admin).await;
    let run = start(&mut b, &[("action", "up")]).await;
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let impact = done["impact"].as_array().unwrap();
    assert_eq!(impact.len(), 3, "one report per migration: {done}");
    let created = &impact[0]["changes"].as_array().unwrap();
    assert!(created.iter().any(|c| c["name"] == "items" && c["change"] == "added"), "{done}");
    let added = impact[2]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "items_name_idx")
        .unwrap_or_else(|| panic!("the new index is reported: {}", impact[2]))
        .clone();
    assert_eq!(added["change"], "added");
    assert_eq!(added["kind"], "index");
    assert_eq!(added["table"], "items");
    assert!(impact[2]["indexes_after"].as_array().unwrap().iter().any(|i| i == "items.items_name_idx"));
    // Its size is the one the database reports.
    let check = t.connect().await;
    let real = match kind {
        Kind::Postgres => count(&check, "SELECT pg_relation_size('items_name_idx')").await,
        Kind::Sqlite => count(&check, "SELECT SUM(pgsize) FROM dbstat WHERE name = 'items_name_idx'").await,
        Kind::MySql => {
            count(
                &check,
                "SELECT CAST(stat_value * @@innodb_page_size AS SIGNED) FROM mysql.innodb_index_stats \
                 WHERE database_name = DATABASE() AND index_name = 'items_name_idx' AND stat_name = 'size'",
            )
            .await
        }
    };
    assert!(real > 0, "a filled index has pages");
    assert_eq!(added["bytes_after"].as_i64(), Some(real), "{added}");
    // The fill grew the table (row estimates where the engine keeps them).
    let filled = impact[1]["changes"].as_array().unwrap();
    assert!(filled.iter().any(|c| c["name"] == "items" && c["change"] == "resized"), "{}", impact[1]);
    // Stored with the run in the home database and shown on the run's row and page.
    let stored = column(&b.state.home, "SELECT impact FROM migration_runs").await;
    assert!(stored[0].contains("items_name_idx"), "{stored:?}");
    let (_, _, page) = b.get(&at("/migrations")).await;
    assert!(page.contains("added index items_name_idx"), "{page}");
    let (_, _, shown) = b.get(&run).await;
    assert!(shown.contains("items.items_name_idx") && shown.contains("data-change=\"added\""), "{shown}");
    check.close().await.ok();
    t.drop().await;
}

/// Changes `items.id`'s type: PostgreSQL and MariaDB write the table again; SQLite's way is a rebuild under the same
/// name.
fn retype() -> Box<dyn MigrationTrait> {
    SqlMigration::new("m20990101_000002_retype_items_id")
        .postgres(&["ALTER TABLE items ALTER COLUMN id TYPE BIGINT"])
        .mysql(&["ALTER TABLE items MODIFY id BIGINT NOT NULL, ALGORITHM=COPY"])
        .sqlite(&[
            "CREATE TABLE items_new (id BIGINT PRIMARY KEY, name VARCHAR(40))",
            "INSERT INTO items_new SELECT id, name FROM items",
            "DROP TABLE items",
            "ALTER TABLE items_new RENAME TO items",
        ])
        .boxed()
}

/// Adds a nullable column at the end: an instant change (catalog only) on the three backends.
fn add_note() -> Box<dyn MigrationTrait> {
    SqlMigration::new("m20990101_000003_add_items_note").all(&["ALTER TABLE items ADD COLUMN note INTEGER"]).boxed()
}

async fn impact_of_a_rewrite(kind: Kind) {
    let t = fresh(kind).await;
    let set = MigrationSet::new(vec![Box::new(Create("m20990101_000001_create_items", "items")), retype(), add_note()])
        .unwrap();
    let mut b = Browser::with_state(state_with(&t, set).await);
    b.login_as(Role::Admin).await;
    let run = start(&mut b, &[("action", "up")]).await;
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let change_of = |k: usize| -> Option<String> {
        done["impact"][k]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "items" && c["kind"] == "table")
            .map(|c| c["change"].as_str().unwrap().to_string())
    };
    assert_eq!(change_of(1).as_deref(), Some("rewritten"), "{}", done["impact"][1]);
    assert_ne!(change_of(2).as_deref(), Some("rewritten"), "{}", done["impact"][2]);
    t.drop().await;
}

/// Forty tables `t00`..`t39`, each with an index on `name`.
fn many() -> Box<dyn MigrationTrait> {
    let sql: Vec<String> = (0..40)
        .flat_map(|i| {
            [
                format!("CREATE TABLE t{i:02} (id INTEGER PRIMARY KEY, name VARCHAR(40))"),
                format!("CREATE INDEX t{i:02}_name_idx ON t{i:02} (name)"),
            ]
        })
        .collect();
    SqlMigration::new("m20990101_000001_create_many").all(&sql.iter().map(String::as_str).collect::<Vec<_>>()).boxed()
}

/// Fills `t17` and indexes it again: one table and its indexes change, the 39 others do not.
fn touch_one() -> Box<dyn MigrationTrait> {
    let values: Vec<String> = (1..=2000).map(|i| format!("({i}, 'name number {i}')")).collect();
    let fill = format!("INSERT INTO t17 (id, name) VALUES {}", values.join(", "));
    SqlMigration::new("m20990101_000002_touch_t17").all(&[&fill, "CREATE INDEX t17_both_idx ON t17 (id, name)"]).boxed()
}

/// Renames `t18` to `u18`: its indexes keep their names under another table (PostgreSQL locks the table only).
fn rename_one() -> Box<dyn MigrationTrait> {
    SqlMigration::new("m20990101_000003_rename_t18").all(&["ALTER TABLE t18 RENAME TO u18"]).boxed()
}

async fn impact_among_many_tables(kind: Kind) {
    let t = fresh(kind).await;
    let set = MigrationSet::new(vec![many(), touch_one(), rename_one()]).unwrap();
    let mut b = Browser::with_state(state_with(&t, set).await);
    b.login_as(Role::Admin).await;
    let run = start(&mut b, &[("action", "up")]).await;
    let done = finished(&mut b, &run).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let impact = done["impact"].as_array().unwrap();
    assert_eq!(impact.len(), 3, "one report per migration: {done}");
    let changes = |k: usize| impact[k]["changes"].as_array().unwrap().clone();
    let about = |c: &Value, tables: &[&str]| {
        tables.iter().any(|t| c["name"] == *t || (c["kind"] == "index" && c["table"] == *t))
    };
    // The first migration added the forty tables and their indexes, and nothing else changed.
    let created = changes(0);
    assert!(created.iter().all(|c| c["change"] == "added"), "{}", impact[0]);
    assert!(created.iter().any(|c| c["name"] == "t39_name_idx" && c["table"] == "t39"), "{}", impact[0]);

    // Filling and indexing t17 reports t17 and its indexes, exactly.
    let touched = changes(1);
    assert!(touched.iter().all(|c| about(c, &["t17"])), "only t17 and its indexes: {}", impact[1]);
    let added = touched
        .iter()
        .find(|c| c["name"] == "t17_both_idx")
        .unwrap_or_else(|| panic!("the new index is reported: {}", impact[1]));
    assert_eq!((&added["change"], &added["kind"], &added["table"]), (&"added".into(), &"index".into(), &"t17".into()));
    if kind != Kind::MySql {
        // Sizes as the database reports them now (InnoDB's come from statistics it updates in the background).
        let check = t.connect().await;
        let real = match kind {
            Kind::Postgres => count(&check, "SELECT pg_relation_size('t17_both_idx')").await,
            _ => count(&check, "SELECT SUM(pgsize) FROM dbstat WHERE name = 't17_both_idx'").await,
        };
        assert_eq!(added["bytes_after"].as_i64(), Some(real), "{added}");
        let table = touched.iter().find(|c| c["name"] == "t17" && c["kind"] == "table").expect("t17 grew");
        assert_eq!(table["change"], "resized", "{table}");
        check.close().await.ok();
    }
    assert_eq!(impact[1]["relations_after"].as_u64(), impact[1]["relations_before"].as_u64().map(|n| n + 1));
    // The index lists are t17's, before and after: not the schema's 40 others (each report would be as long as the
    // schema, and a run of N migrations O(N^2)).
    let list = |k: usize, which: &str| -> Vec<String> {
        impact[k][which].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_string()).collect()
    };
    let (before, after) = (list(1, "indexes_before"), list(1, "indexes_after"));
    assert!(before.iter().chain(&after).all(|i| i.starts_with("t17.")), "t17's only: {before:?} {after:?}");
    assert!(before.contains(&"t17.t17_name_idx".into()) && !before.contains(&"t17.t17_both_idx".into()), "{before:?}");
    assert!(after.contains(&"t17.t17_name_idx".into()) && after.contains(&"t17.t17_both_idx".into()), "{after:?}");
    assert_eq!(after.len(), before.len() + 1, "{before:?} {after:?}");

    // The rename: t18 and its indexes go, u18 and the same indexes (now u18's) come; nothing else.
    let renamed = changes(2);
    // InnoDB may update t17's statistics in the background meanwhile; MariaDB's report reads the whole schema.
    let others: &[&str] = if kind == Kind::MySql { &["t18", "u18", "t17"] } else { &["t18", "u18"] };
    assert!(renamed.iter().all(|c| about(c, others)), "only t18/u18: {}", impact[2]);
    let has = |what: &str, kind: &str, table: &str, name: &str| {
        renamed.iter().any(|c| c["change"] == what && c["kind"] == kind && c["table"] == table && c["name"] == name)
    };
    assert!(
        has("dropped", "index", "t18", "t18_name_idx") && has("added", "index", "u18", "t18_name_idx"),
        "{}",
        impact[2]
    );
    assert!(renamed.iter().any(|c| c["change"] == "added" && c["name"] == "u18"), "{}", impact[2]);
    let (before, after) = (list(2, "indexes_before"), list(2, "indexes_after"));
    assert!(before.contains(&"t18.t18_name_idx".into()) && !before.contains(&"u18.t18_name_idx".into()), "{before:?}");
    assert!(after.contains(&"u18.t18_name_idx".into()) && !after.contains(&"t18.t18_name_idx".into()), "{after:?}");
    let named = |i: &String| others.iter().any(|t| i.starts_with(&format!("{t}.")));
    assert!(before.iter().chain(&after).all(named), "the renamed table's only: {before:?} {after:?}");
    assert_eq!(impact[2]["relations_after"], impact[2]["relations_before"], "{}", impact[2]);
    t.drop().await;
}

async fn viewers_and_editors_refused(kind: Kind) {
    let t = fresh(kind).await;
    let mut admin = Browser::new(&t.url).await;
    admin.login_as(Role::Admin).await;
    for role in [Role::Viewer, Role::Editor] {
        let mut b = admin.another();
        b.login_as(role).await;
        let (status, _, page) = b.get(&at("/migrations")).await;
        assert_eq!(status, StatusCode::OK, "{role:?} sees the page");
        assert!(!page.contains("id=\"migrate-form\"") && page.contains("Only admins apply migrations"), "{page}");
        let (status, _, _) = b.get(&at("/migrations/preview?action=up")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} preview");
        let (status, _, _) = b.post_form(&at("/migrations/runs"), &[("action", "up")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} apply");
        let (status, _, _) = b.post_form(&at("/migrations/rehearse"), &[("action", "up")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} rehearse");
        let (_, key) = key_for(&b.state, role, &[Scope::ManageMigrations]).await;
        let mut client = b.another();
        for what in ["preview", "apply", "rehearse"] {
            let path = format!("/api/v1/databases/{APP}/migrations/{what}");
            let answer = api::post_json(&mut client, &path, &key, r#"{"action":"up"}"#).await;
            api::error(&answer, StatusCode::FORBIDDEN, "forbidden");
        }
    }
    // An admin key without the scope is refused too.
    let (_, key) = key_for(&admin.state, Role::Admin, &[Scope::ReadCatalog]).await;
    let path = format!("/api/v1/databases/{APP}/migrations/apply");
    api::error(
        &api::post_json(&mut admin.another(), &path, &key, r#"{"action":"up"}"#).await,
        StatusCode::FORBIDDEN,
        "missing_scope",
    );
    let check = t.connect().await;
    assert!(!has_table(&check, "users").await, "nothing ran");
    check.close().await.ok();
    t.drop().await;
}

async fn read_only_refuses_everyone(kind: Kind) {
    let t = fresh(kind).await;
    let mut config = test_config(&t.url);
    config.watched.iter_mut().for_each(|w| w.read_only = true);
    let mut b = Browser::with_state(app_state_for(config, |_| {}).await);
    b.login_as(Role::Admin).await;
    let (_, _, page) = b.get(&at("/migrations")).await;
    assert!(!page.contains("id=\"migrate-form\"") && page.contains("read_only"), "{page}");
    let (status, _, body) = b.get(&at("/migrations/preview?action=up")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, body) = b.post_form(&at("/migrations/runs"), &[("action", "up")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("read_only"), "{body}");
    let (status, _, body) = b.post_form(&at("/migrations/rehearse"), &[("action", "up")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, key) = key_for(&b.state, Role::Admin, &[Scope::ManageMigrations]).await;
    let mut client = b.another();
    for what in ["preview", "apply", "rehearse"] {
        let path = format!("/api/v1/databases/{APP}/migrations/{what}");
        let answer = api::post_json(&mut client, &path, &key, r#"{"action":"up"}"#).await;
        api::error(&answer, StatusCode::FORBIDDEN, "read_only");
    }
    let check = t.connect().await;
    assert!(!has_table(&check, "users").await, "nothing ran");
    check.close().await.ok();
    t.drop().await;
}

async fn api_apply_and_follow(kind: Kind) {
    let t = fresh(kind).await;
    let mut b = Browser::new(&t.url).await;
    let (owner, key) = key_for(&b.state, Role::Admin, &[Scope::ManageMigrations]).await;
    let base = format!("/api/v1/databases/{APP}/migrations");

    let (status, _, preview) =
        api::post_json(&mut b, &format!("{base}/preview"), &key, r#"{"action":"up","n":1}"#).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["migrations"].as_array().unwrap().len(), 1);
    assert!(preview["sql"].as_str().unwrap().contains("CREATE TABLE"), "{preview}");
    assert!(preview["confirmation"].is_null());

    let bad = api::post_json(&mut b, &format!("{base}/apply"), &key, r#"{"action":"sideways"}"#).await;
    assert!(api::error(&bad, StatusCode::BAD_REQUEST, "bad_request").contains("use up, down or stamp"));

    let (status, _, started) = api::post_json(&mut b, &format!("{base}/apply"), &key, r#"{"action":"up"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let url = started["status_url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{base}/runs/{}", started["id"]));
    let done = api_finished(&mut b, &url, &key).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["steps"].as_array().unwrap().len(), *MIGRATIONS);
    let check = t.connect().await;
    let actors = column(&check, "SELECT DISTINCT actor FROM migrations_log").await;
    assert_eq!(actors.len(), 1);
    assert!(actors[0].starts_with(&format!("{owner} (key strata_")), "{actors:?}");

    // down asks for the confirmation through the API as well.
    let refused = api::post_json(&mut b, &format!("{base}/apply"), &key, r#"{"action":"down"}"#).await;
    assert!(api::error(&refused, StatusCode::BAD_REQUEST, "bad_request").contains(&format!("({APP})")));
    let body = format!(r#"{{"action":"down","to":"base","confirm":"{APP}"}}"#);
    let (status, _, started) = api::post_json(&mut b, &format!("{base}/apply"), &key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let done = api_finished(&mut b, started["status_url"].as_str().unwrap(), &key).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(!has_table(&check, "users").await, "down to base rolled everything back");
    let missing = api::get(&mut b, &format!("{base}/runs/999999"), &key).await;
    api::error(&missing, StatusCode::NOT_FOUND, "not_found");
    let audit = audit_details(&b.state, "migrations.apply").await;
    assert!(audit[0].contains("succeeded") && audit[0].contains("API key"), "{audit:?}");
    check.close().await.ok();
    t.drop().await;
}
