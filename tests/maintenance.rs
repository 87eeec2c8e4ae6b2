//! Maintenance from the CLI and the dashboard on every backend: each action runs for real and its effect shows where the database shows it; admin-only, audited, confirmed.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::web::{Browser, app_state_with, location, migrate_up};
use common::{Kind, TestDb, column, count, exec, ok, stderr, stdout, strata, strata_cmd};
use strata::config::DatabaseUrl;
use strata::home::accounts::Role;

/// Rows the fixture table starts with; half are deleted, leaving dead rows behind.
const ROWS: usize = 200;

/// A migrated database with `maint_t` (`ROWS` rows, then every second one deleted).
async fn fixture(kind: Kind) -> TestDb {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    // The home as `serve` leaves it: "nothing audited" is then read from an audit log that exists.
    let home = DatabaseUrl::parse(&t.home_url).expect("a home URL");
    strata::home::migrate(&home).await.expect("migrate the test's home database");
    let db = t.connect_one().await;
    // No autovacuum on PostgreSQL: the dead rows stay until the test's own VACUUM.
    let with = if kind == Kind::Postgres { " WITH (autovacuum_enabled = false)" } else { "" };
    exec(&db, &format!("CREATE TABLE maint_t (id integer PRIMARY KEY, v varchar(40)){with}")).await;
    exec(&db, "CREATE INDEX maint_t_v ON maint_t (v)").await;
    let values: Vec<String> = (1..=ROWS).map(|i| format!("({i}, 'row {i}')")).collect();
    exec(&db, &format!("INSERT INTO maint_t (id, v) VALUES {}", values.join(", "))).await;
    if kind == Kind::Postgres {
        // Statistics reach pg_stat_user_tables when this session's transaction ends.
        exec(&db, "SELECT pg_stat_force_next_flush()").await;
    }
    exec(&db, "DELETE FROM maint_t WHERE id % 2 = 0").await;
    db.close().await.ok();
    t
}

fn url_of(t: &TestDb) -> DatabaseUrl {
    DatabaseUrl::parse(&t.url).expect("a test URL")
}

/// Opens the confirmation, confirms, and follows the run page until the action has ended.
async fn run_from_dashboard(b: &mut Browser, action: &str, table: Option<(&str, &str)>) -> String {
    let (schema, name) = table.unwrap_or(("", ""));
    // The fixture's schema and table names need no percent-encoding.
    let confirm = format!("/db/app/maintenance/confirm?action={action}&schema={schema}&table={name}");
    let (status, _, page) = b.get(&confirm).await;
    assert_eq!(status, StatusCode::OK, "{confirm}:\n{page}");
    assert!(page.contains("id=\"confirm\""), "the confirmation has a button:\n{page}");
    let (status, headers, page) =
        b.post_form("/db/app/maintenance/runs", &[("action", action), ("schema", schema), ("table", name)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let run = location(&headers).to_string();
    assert!(run.starts_with("/db/app/maintenance/runs/"), "{run}");
    common::eventually(&format!("{action} to finish"), || {
        let run = run.clone();
        let mut b = b.same_visitor();
        async move {
            let (status, _, page) = b.get(&run).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            (!page.contains(r#"id="status">running<"#)).then_some(page)
        }
    })
    .await
}

async fn audit_details(t: &TestDb, action: &str) -> Vec<String> {
    let home = t.connect_home().await;
    let q = t.quote("detail");
    let rows =
        column(&home, &format!("SELECT {q} FROM audit_log WHERE action = 'maintenance.{action}' ORDER BY id")).await;
    home.close().await.ok();
    rows
}

async fn every_offered_action_runs_from_the_cli(kind: Kind) {
    let t = fixture(kind).await;
    let table = format!("{}.maint_t", t.schema());
    let mut ran = 0;
    for a in strata::maintenance::offers(&url_of(&t)) {
        let Some(offer) = a.offer else { continue };
        let name = a.action.name();
        if offer.per_database {
            let out = ok(&strata(&t.url, &["maintenance", name, "--yes"]));
            assert!(out.contains("ms)") || out.contains(" s)"), "{name}: a summary with its time:\n{out}");
            ran += 1;
        }
        if offer.per_table {
            let out = ok(&strata(&t.url, &["maintenance", name, "--table", &table, "--yes", "--json"]));
            let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}\n{out}"));
            assert_eq!(json["target"]["name"], "maint_t", "{out}");
            assert_eq!(json["outcome"]["healthy"], true, "{out}");
            ran += 1;
        }
    }
    assert!(ran >= 6, "only {ran} runs on {kind:?}");
    let db = t.connect().await;
    assert_eq!(count(&db, "SELECT count(*) FROM maint_t").await, (ROWS / 2) as i64, "maintenance keeps every row");
    db.close().await.ok();
    let audited = audit_details(&t, "analyze").await;
    assert!(audited.len() >= 2 && audited.iter().all(|d| d.starts_with("succeeded")), "{audited:?}");
    t.drop().await;
}

async fn the_dashboard_runs_an_action_and_the_effect_shows(kind: Kind) {
    let t = fixture(kind).await;
    let mut b = Browser::new(&t.url).await;
    let admin = b.login_as(Role::Admin).await;
    let (status, _, page) = b.get("/db/app/maintenance").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"href="/db/app/maintenance" class="active""#), "the nav entry is there:\n{page}");
    let (_, _, table_page) = b.get(&format!("/db/app/tables/{}/maint_t", t.schema())).await;
    assert!(table_page.contains(r#"id="maintenance""#), "admins get maintenance buttons on the table page");
    let schema = t.schema().to_string();
    let db = t.connect().await;
    let (action, audit_name, target) = match kind {
        Kind::Postgres => {
            let dead = count(&db, "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'maint_t'").await;
            assert_eq!(dead, (ROWS / 2) as i64, "the deleted rows are dead rows before VACUUM");
            let page = run_from_dashboard(&mut b, "vacuum", Some((&schema, "maint_t"))).await;
            assert!(page.contains(r#"id="status">succeeded<"#), "{page}");
            let sql =
                "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'maint_t' AND last_vacuum IS NOT NULL";
            assert_eq!(count(&db, sql).await, 0, "VACUUM set last_vacuum and cleared the dead rows");
            let page = run_from_dashboard(&mut b, "analyze", None).await;
            assert!(page.contains("ANALYZE of the whole database done"), "{page}");
            let sql = "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'maint_t' AND last_analyze IS NOT NULL";
            assert_eq!(count(&db, sql).await, 1, "ANALYZE of the database set last_analyze");
            ("vacuum", "vacuum", format!("{schema}.maint_t"))
        }
        Kind::MySql => {
            let page = run_from_dashboard(&mut b, "check", Some((&schema, "maint_t"))).await;
            assert!(page.contains(r#"id="status">succeeded<"#), "{page}");
            let row = format!("<td>{schema}.maint_t</td><td>check</td><td>status</td><td>OK</td>");
            assert!(page.contains(&row), "CHECK TABLE's own result row is shown:\n{page}");
            ("check", "check", format!("{schema}.maint_t"))
        }
        Kind::Sqlite => {
            let page = run_from_dashboard(&mut b, "integrity-check", None).await;
            assert!(page.contains(r#"id="summary">ok "#), "{page}");
            let (_, _, index) = b.get("/db/app/maintenance").await;
            assert!(index.contains("journal mode") && index.contains("wal"), "journal mode shown:\n{index}");
            assert!(index.contains("WAL file"), "WAL size shown:\n{index}");
            assert!(index.contains(r#"id="last-checks""#) && index.contains("succeeded in"), "last check:\n{index}");
            ("integrity-check", "integrity_check", "the whole database".to_string())
        }
    };
    let q = t.quote("target");
    let sql = format!(
        "SELECT actor FROM audit_log WHERE action = 'maintenance.{audit_name}' AND {q} = '{target}' \
         AND database_name = 'app'"
    );
    let home = t.connect_home().await;
    assert_eq!(column(&home, &sql).await, vec![admin.clone()], "{action} is audited with who, what and where");
    home.close().await.ok();
    assert!(audit_details(&t, audit_name).await[0].starts_with("succeeded in"), "and its outcome");
    db.close().await.ok();
    t.drop().await;
}

async fn viewers_and_editors_are_refused(kind: Kind) {
    let t = fixture(kind).await;
    let mut admin = Browser::new(&t.url).await;
    admin.login_as(Role::Admin).await;
    for role in [Role::Viewer, Role::Editor] {
        let mut b = admin.another();
        b.login_as(role).await;
        for path in ["/db/app/maintenance", "/db/app/maintenance/confirm?action=analyze"] {
            assert_eq!(b.get(path).await.0, StatusCode::FORBIDDEN, "{role:?} GET {path}");
        }
        let (status, _, _) = b.post_form("/db/app/maintenance/runs", &[("action", "analyze")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} may not start an action");
        let (_, _, page) = b.get(&format!("/db/app/tables/{}/maint_t", t.schema())).await;
        assert!(
            !page.contains(r#"id="maintenance""#) && !page.contains(r#"href="/db/app/maintenance""#),
            "{role:?} sees none"
        );
    }
    assert!(audit_details(&t, "analyze").await.is_empty(), "nothing ran");
    t.drop().await;
}

async fn unknown_tables_are_404_and_missing_actions_say_why(kind: Kind) {
    let t = fixture(kind).await;
    let mut b = Browser::new(&t.url).await;
    b.login_as(Role::Admin).await;
    let (status, _, page) =
        b.get(&format!("/db/app/maintenance/confirm?action=analyze&schema={}&table=nope", t.schema())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    let schema = t.schema().to_string();
    let (status, _, page) =
        b.post_form("/db/app/maintenance/runs", &[("action", "analyze"), ("schema", &schema), ("table", "nope")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    let out = strata(&t.url, &["maintenance", "analyze", "--table", &format!("{schema}.nope")]);
    assert!(!out.status.success() && stderr(&out).contains("nope not found"), "{}", stderr(&out));

    // Each backend lacks something: the answer names it and what to use instead.
    let (missing, hint) = match kind {
        Kind::Postgres => ("optimize", "VACUUM"),
        Kind::MySql => ("vacuum", "OPTIMIZE TABLE"),
        Kind::Sqlite => ("check", "integrity-check"),
    };
    let out = strata(&t.url, &["maintenance", missing, "--yes"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("is not available on") && stderr(&out).contains(hint), "{}", stderr(&out));
    let (status, _, page) = b.get(&format!("/db/app/maintenance/confirm?action={missing}")).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{page}");
    assert!(page.contains(hint), "{page}");
    let out = ok(&strata(&t.url, &["maintenance", "list"]));
    assert!(out.contains(&format!("{missing} ")) && out.contains("not available"), "list says why:\n{out}");
    t.drop().await;
}

async fn locking_actions_refuse_without_yes_off_a_terminal(kind: Kind) {
    let t = fixture(kind).await;
    let locking = match kind {
        Kind::Postgres => "vacuum-full",
        Kind::MySql => "optimize",
        Kind::Sqlite => "vacuum",
    };
    let out = strata(&t.url, &["maintenance", locking]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no terminal to confirm on") && err.contains("--yes"), "{err}");
    assert!(audit_details(&t, &locking.replace('-', "_")).await.is_empty(), "nothing ran, nothing audited");
    // Actions that do not lock need no confirmation.
    ok(&strata(&t.url, &["maintenance", "analyze"]));
    t.drop().await;
}

each_backend! {
    every_offered_action_runs_from_the_cli => every_offered_action_runs_from_the_cli;
    the_dashboard_runs_an_action_and_the_effect_shows => the_dashboard_runs_an_action_and_the_effect_shows;
    viewers_and_editors_are_refused => viewers_and_editors_are_refused;
    unknown_tables_are_404_and_missing_actions_say_why => unknown_tables_are_404_and_missing_actions_say_why;
    locking_actions_refuse_without_yes_off_a_terminal => locking_actions_refuse_without_yes_off_a_terminal;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_without_the_csrf_token_is_refused_and_runs_nothing() {
    let t = fixture(Kind::Sqlite).await;
    let mut b = Browser::new(&t.url).await;
    b.login_as(Role::Admin).await;
    let (status, _, _) = b.post_form_without_csrf("/db/app/maintenance/runs", &[("action", "analyze")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        common::web::watched(&b.state).maintenance.running().is_empty()
            && common::web::watched(&b.state).maintenance.finished().is_empty()
    );
    assert!(audit_details(&t, "analyze").await.is_empty());
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_checkpoint_truncates_the_wal_and_checks_report_ok() {
    let t = fixture(Kind::Sqlite).await;
    let path = url_of(&t).sqlite_path().expect("a file").to_path_buf();
    let wal = path.with_file_name(format!("{}-wal", path.file_name().unwrap().to_string_lossy()));
    // An open connection keeps the WAL file (the last one to close would checkpoint it itself).
    let db = t.connect_one().await;
    exec(&db, "PRAGMA journal_mode = WAL").await;
    let values: Vec<String> = (1000..3000).map(|i| format!("({i}, '{}')", "w".repeat(30))).collect();
    exec(&db, &format!("INSERT INTO maint_t (id, v) VALUES {}", values.join(", "))).await;
    let before = std::fs::metadata(&wal).unwrap().len();
    assert!(before > 0, "the writes are in the WAL");
    let out = ok(&strata(&t.url, &["maintenance", "wal-checkpoint"]));
    assert!(out.contains("WAL file now 0 B"), "TRUNCATE leaves an empty WAL file:\n{out}");
    // Afterwards the WAL stays empty: the audit entry of the checkpoint itself goes to the home database.
    let after = std::fs::metadata(&wal).unwrap().len();
    assert_eq!(after, 0, "WAL {before} bytes before, {after} after");
    assert_eq!(audit_details(&t, "wal_checkpoint").await.len(), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM maint_t WHERE id >= 1000").await, 2000, "checkpointed, not lost");
    for check in ["integrity-check", "quick-check"] {
        let out = ok(&strata(&t.url, &["maintenance", check, "--json"]));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["outcome"]["rows"], serde_json::json!([["ok"]]), "{out}");
    }
    // A row whose parent is missing (foreign keys off for this one write) is found by foreign_key_check.
    exec(&db, "CREATE TABLE maint_child (id integer PRIMARY KEY, t_id integer REFERENCES maint_t (id))").await;
    exec(&db, "PRAGMA foreign_keys = OFF").await;
    exec(&db, "INSERT INTO maint_child (id, t_id) VALUES (1, 2)").await;
    let out = strata(&t.url, &["maintenance", "foreign-key-check", "--table", "maint_child"]);
    assert!(!out.status.success(), "problems found exit non-zero");
    assert!(
        stdout(&out).contains("maint_child") && stdout(&out).contains("1 row(s) point at no parent row"),
        "{}",
        stdout(&out)
    );
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_checkpoint_reports_what_the_wal_held_before_truncating_it() {
    let t = fixture(Kind::Sqlite).await;
    // An open connection keeps the WAL file (the last one to close would checkpoint it itself).
    let db = t.connect_one().await;
    exec(&db, "PRAGMA journal_mode = WAL").await;
    exec(&db, "PRAGMA wal_autocheckpoint = 0").await;
    let values: Vec<String> = (1000..1500).map(|i| format!("({i}, '{}')", "w".repeat(30))).collect();
    exec(&db, &format!("INSERT INTO maint_t (id, v) VALUES {}", values.join(", "))).await;
    let outcome = strata::maintenance::run(
        &url_of(&t),
        &strata::config::Settings::default(),
        strata::maintenance::Action::WalCheckpoint,
        &strata::maintenance::Target::Database,
        &strata::maintenance::Tracker::default(),
    )
    .await
    .expect("the checkpoint runs");
    assert!(outcome.healthy, "{outcome:?}");
    let frames: i64 = outcome
        .summary
        .strip_prefix("checkpointed ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the summary names the frames copied: {}", outcome.summary));
    assert!(frames > 0, "the WAL held the writes: {}", outcome.summary);
    assert!(
        outcome.summary.contains("truncated the WAL") && outcome.summary.contains("WAL file now 0 B"),
        "{}",
        outcome.summary
    );
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_vacuum_by_a_non_owner_names_the_skipped_tables_once() {
    let t = fixture(Kind::Postgres).await;
    let db = t.connect().await;
    // A login that owns a table of its own and none of the others (created by the superuser). The audit log is in
    // the test's home database, reached with the superuser, so the CLI has nothing else to warn about.
    let role = format!("{}_worker", t.name);
    exec(&db, &format!("CREATE ROLE \"{role}\" LOGIN")).await;
    exec(&db, &format!("GRANT CREATE ON SCHEMA public TO \"{role}\"")).await;
    exec(&db, &format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \"{role}\"")).await;
    exec(&db, &format!("SET ROLE \"{role}\"; CREATE TABLE own_t (id int); RESET ROLE")).await;
    let url = t.url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(url, t.url, "the test URL names its login: {}", t.url);

    let out = strata_cmd(&url, &["maintenance", "vacuum", "--yes"])
        .env("STRATA_HOME_URL", &t.home_url)
        .output()
        .expect("run strata");
    let (said, logged) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{said}\n{logged}");
    let line = said.lines().find(|l| l.contains("skipped")).unwrap_or_else(|| panic!("no summary:\n{said}"));
    let skipped: usize = line
        .split("skipped ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count: {line}"));
    assert!(line.contains("tables the login does not own: public."), "the user's tables come first: {line}");
    assert!(line.contains("public.maint_t") && !line.contains("own_t"), "{line}");
    // The catalogs are the superuser's: dozens of them.
    assert!(skipped > 50, "{line}");
    assert!(
        !logged.contains("skipping") && !logged.contains("permission denied") && !logged.contains("WARN"),
        "no warning per skipped table:\n{logged}"
    );
    exec(&db, &format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\"")).await;
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_runs_in_the_background_shows_the_lock_wait_and_stops_at_the_timeout() {
    let t = fixture(Kind::Postgres).await;
    let state = app_state_with(&t.url, |s| s.maintenance_timeout = Duration::from_secs(3)).await;
    let mut b = Browser::with_state(state);
    b.login_as(Role::Admin).await;
    let holder = t.connect_one().await;
    exec(&holder, "BEGIN").await;
    // The lock another VACUUM, ANALYZE or CREATE INDEX CONCURRENTLY holds: readers go on, VACUUM waits.
    exec(&holder, "LOCK TABLE maint_t IN SHARE UPDATE EXCLUSIVE MODE").await;
    b.get("/db/app/maintenance/confirm?action=vacuum&schema=public&table=maint_t").await;
    let (status, headers, _) = b
        .post_form("/db/app/maintenance/runs", &[("action", "vacuum"), ("schema", "public"), ("table", "maint_t")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the request does not wait for the VACUUM");
    let run = location(&headers).to_string();
    let page = common::eventually("the wait to show", || {
        let mut b = b.same_visitor();
        let run = run.clone();
        async move {
            let (_, _, page) = b.get(&run).await;
            page.contains("waiting for a lock").then_some(page)
        }
    })
    .await;
    assert!(page.contains(r#"<meta http-equiv="refresh""#), "a running action's page reloads itself");
    let (_, _, index) = b.get("/db/app/maintenance").await;
    assert!(index.contains("public.maint_t") && index.contains("waiting for a lock"), "listed as running:\n{index}");
    let (status, _, page) = b
        .post_form("/db/app/maintenance/runs", &[("action", "analyze"), ("schema", "public"), ("table", "maint_t")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "one action per table at a time:\n{page}");
    let page = common::eventually("the timeout to stop it", || {
        let mut b = b.same_visitor();
        let run = run.clone();
        async move {
            let (_, _, page) = b.get(&run).await;
            (!page.contains(r#"id="status">running<"#)).then_some(page)
        }
    })
    .await;
    assert!(
        page.contains(r#"id="status">failed<"#) && page.contains("did not finish within maintenance_timeout"),
        "{page}"
    );
    assert!(audit_details(&t, "vacuum").await[0].starts_with("failed: "), "the failure is audited");
    exec(&holder, "ROLLBACK").await;
    holder.close().await.ok();
    t.drop().await;
}
