//! Read-only runs with a privileged main login (the test servers' superuser and root): refused, with a message
//! that says why and what to do, until a viewer login exists; then the database itself refuses what a viewer may
//! not do, and Strata's own tables stay out of reach. Also the start-up warning and the key file's permissions.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use axum::http::StatusCode;
use common::web::{Browser, app_state_without_viewer_login, location};
use common::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use strata::home::accounts::Role;

/// The refusal a viewer's run gets, word for word in its important parts.
#[track_caller]
fn assert_refused(status: StatusCode, page: &str, sql: &str) {
    assert_eq!(status, StatusCode::CONFLICT, "{sql} must be refused:\n{page}");
    for part in ["can do more than read", "need a login that can only read", "viewer_url", "strata viewer-login create"]
    {
        assert!(page.contains(part), "{sql}: the refusal lacks {part:?}:\n{page}");
    }
}

/// A migrated database, a router with no viewer login, and a signed-in viewer.
async fn viewer_without_viewer_login(kind: Kind) -> (TestDb, Browser) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let mut b = Browser::with_state(app_state_without_viewer_login(&t.url, |_| {}).await);
    b.login_as(Role::Viewer).await;
    assert_eq!(b.get("/db/app/query").await.0, StatusCode::OK);
    (t, b)
}

/// Runs `sql` in the query editor: the status and the page.
async fn run(b: &mut Browser, sql: &str) -> (StatusCode, String) {
    let (status, _, page) = b.post_form("/db/app/query", &[("sql", sql)]).await;
    (status, page)
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> String {
    column(db, sql).await.into_iter().next().unwrap_or_else(|| panic!("{sql}: no row"))
}

/// What a viewer's run must still be able to do, and what the database must refuse it: Strata's own tables.
async fn own_tables_are_denied_and_the_app_tables_readable(b: &mut Browser, denied: &str) {
    let (status, page) = run(b, "select count(*) from users").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("badge-error"), "a viewer reads the application's tables:\n{page}");
    for table in strata::home::OWN_TABLES {
        let (status, page) = run(b, &format!("select * from {table}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page.contains("badge-error") && page.contains(denied),
            "{table} must be denied by the database:\n{page}"
        );
    }
}

/// The stored password is sealed: the row holds neither it nor its hex, and names the login.
async fn password_is_sealed(t: &TestDb, b: &Browser) {
    let url = common::web::watched(&b.state).engine.logins().read_url().await.expect("a viewer login");
    let password = url::Url::parse(url.connect_url()).unwrap().password().expect("a password").to_string();
    assert!(password.len() >= 32 && password.chars().all(|c| c.is_ascii_alphanumeric()), "generated, long");
    let db = t.connect_home().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT label, nonce, ciphertext FROM strata_secrets WHERE name = 'viewer_login'",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let label: String = rows[0].try_get_by_index(0).unwrap();
    let nonce: String = rows[0].try_get_by_index(1).unwrap();
    let sealed: String = rows[0].try_get_by_index(2).unwrap();
    assert_eq!(label, t.viewer_name());
    assert_eq!(nonce.len(), 48, "a 24-byte nonce");
    let hex: String = password.bytes().map(|c| format!("{c:02x}")).collect();
    assert!(!sealed.contains(&password) && !sealed.contains(&hex), "the password is not stored as it is");
    assert!(sealed.len() > hex.len(), "ciphertext and tag");
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_viewer_cannot_write_files_read_files_set_globals_or_kill_with_a_privileged_login() {
    let (t, mut b) = viewer_without_viewer_login(Kind::MySql).await;
    let other = t.connect_one().await;
    let other_id = scalar(&other, "SELECT CAST(CONNECTION_ID() AS CHAR)").await;
    let outfile = std::env::temp_dir().join(format!("{}-outfile", t.name));
    let attempts = [
        format!("SELECT 1 INTO OUTFILE '{}'", outfile.display()),
        "SELECT LOAD_FILE('/etc/hostname')".to_string(),
        "SET GLOBAL max_connections = 151".to_string(),
        format!("KILL {other_id}"),
    ];
    for sql in &attempts {
        let (status, page) = run(&mut b, sql).await;
        assert_refused(status, &page, sql);
    }
    assert!(!outfile.exists(), "no file was written");
    assert_eq!(scalar(&other, "SELECT 1").await, "1", "the other connection is alive");

    // Only admins see the page and may press its button.
    assert_eq!(b.get("/db/app/viewer-login").await.0, StatusCode::FORBIDDEN);
    assert_eq!(b.post_form("/db/app/viewer-login", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(count(&t.connect().await, "SELECT count(*) FROM strata_secrets").await, 0, "nothing was created");

    // An admin creates the viewer login on the admin page.
    let mut admin = b.another();
    admin.login_as(Role::Admin).await;
    let (status, _, page) = admin.get("/db/app/viewer-login").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("can do more than read") && page.contains("SUPER") && page.contains("FILE"), "{page}");
    let (status, headers, _) = admin.post_form("/db/app/viewer-login", &[]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/db/app/viewer-login"));
    let (_, _, page) = admin.follow(&headers).await;
    assert!(page.contains(&format!("Created the viewer login {}", t.viewer_name())), "{page}");

    // The same statements now reach the database, which refuses them itself.
    for (sql, refusal) in
        [(&attempts[0], "Access denied"), (&attempts[2], "Access denied"), (&attempts[3], "not owner of thread")]
    {
        let (status, page) = run(&mut b, sql).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("badge-error") && page.contains(refusal), "{sql} must fail with {refusal:?}:\n{page}");
    }
    let (_, page) = run(&mut b, &attempts[1]).await;
    assert!(!page.contains("badge-error") && page.contains("cell-null"), "LOAD_FILE reads nothing:\n{page}");
    assert!(!outfile.exists(), "no file was written");
    assert_eq!(scalar(&other, "SELECT 1").await, "1", "the other connection is alive");
    own_tables_are_denied_and_the_app_tables_readable(&mut b, "command denied").await;
    password_is_sealed(&t, &b).await;
    // Table-level grants: a table created later (a future Strata table too) is not readable.
    exec(&t.connect().await, "CREATE TABLE strata_secrets_next (id int)").await;
    let (_, page) = run(&mut b, "select * from strata_secrets_next").await;
    assert!(page.contains("command denied"), "not granted by default:\n{page}");
    let audited =
        count(&t.connect().await, "SELECT count(*) FROM audit_log WHERE action = 'viewer_login.create'").await;
    assert_eq!(audited, 1);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_viewer_cannot_terminate_reload_or_run_programs_with_a_superuser_login() {
    let (t, mut b) = viewer_without_viewer_login(Kind::Postgres).await;
    let other = t.connect_one().await;
    let pid = scalar(&other, "SELECT pg_backend_pid()").await;
    let marker = std::env::temp_dir().join(format!("{}-program-ran", t.name));
    let attempts = [
        format!("SELECT pg_terminate_backend({pid})"),
        "SELECT pg_reload_conf()".to_string(),
        format!("COPY (select 1) TO PROGRAM 'touch {}'", marker.display()),
    ];
    for sql in &attempts {
        let (status, page) = run(&mut b, sql).await;
        assert_refused(status, &page, sql);
    }
    assert!(!marker.exists(), "no program ran");
    assert_eq!(scalar(&other, "SELECT 1::text").await, "1", "the other session is alive");

    // An admin creates the viewer login from the command line; the running server takes it up at the next run.
    let out = ok(&strata(&t.url, &["viewer-login", "create"]));
    assert!(out.contains(&format!("created the viewer login {}", t.viewer_name())), "{out}");
    for sql in &attempts {
        let (status, page) = run(&mut b, sql).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("badge-error") && page.contains("(42501)"), "{sql}: permission denied:\n{page}");
    }
    assert!(!marker.exists(), "no program ran");
    assert_eq!(scalar(&other, "SELECT 1::text").await, "1", "the other session is alive");
    own_tables_are_denied_and_the_app_tables_readable(&mut b, "permission denied").await;
    password_is_sealed(&t, &b).await;

    // No default privileges: a table created later (say, a future Strata table) is not readable by the viewer
    // login; refreshing the grants gives it the application's new tables, never Strata's own.
    let main = t.connect().await;
    exec(&main, "CREATE TABLE later (id int)").await;
    exec(&main, "CREATE TABLE strata_secrets_next (id int)").await;
    for table in ["later", "strata_secrets_next"] {
        let (_, page) = run(&mut b, &format!("select * from {table}")).await;
        assert!(page.contains("permission denied"), "{table} is not granted by default:\n{page}");
    }
    let out = ok(&strata(&t.url, &["viewer-login", "create"]));
    assert!(out.contains("refreshed the grants"), "{out}");
    let (_, page) = run(&mut b, "select * from later").await;
    assert!(!page.contains("badge-error"), "refreshed grants cover the new table:\n{page}");
    own_tables_are_denied_and_the_app_tables_readable(&mut b, "permission denied").await;

    // Dropping it brings the refusal back.
    let out = ok(&strata(&t.url, &["viewer-login", "drop"]));
    assert!(out.contains("dropped the viewer login"), "{out}");
    common::web::watched(&b.state).engine.logins().forget().await;
    let (status, page) = run(&mut b, "select 1").await;
    assert_refused(status, &page, "select 1 after the drop");
    let roles = count(&main, &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{}'", t.viewer_name())).await;
    assert_eq!(roles, 0, "the role is gone");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_api_key_gets_409_viewer_login_required() {
    let (t, b) = viewer_without_viewer_login(Kind::Postgres).await;
    let (_, key) = common::api::key_for(&b.state, Role::Viewer, &[strata::home::api_keys::Scope::RunReadonlySql]).await;
    let mut client = b.another();
    let answer =
        common::api::post_json(&mut client, "/api/v1/databases/app/query", &key, serde_json::json!({"sql": "select 1"})).await;
    let message = common::api::error(&answer, StatusCode::CONFLICT, "viewer_login_required");
    assert!(message.contains("can do more than read (superuser"), "{message}");
    t.drop().await;
}

/// Runs `strata serve` on a free port until it listens (or exits), then stops it; returns its log.
fn serve_log(t: &TestDb) -> (bool, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = strata_cmd(&t.url, &["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("STRATA_ADMIN_PASSWORD", "correct horse battery staple")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strata serve");
    let mut started = false;
    for _ in 0..300 {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            started = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    let out = child.wait_with_output().expect("strata serve ends");
    (started, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_warns_at_start_when_the_main_login_can_do_more_than_read() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let t = TestDb::new(kind).await;
        ok(&strata(&t.url, &["migrate", "up"]));
        let (started, log) = serve_log(&t);
        assert!(started, "{log}");
        assert!(log.contains("WARN") && log.contains("the main database login can do more than read"), "{log}");
        assert!(log.contains("read-only runs are refused"), "{kind:?}: says there is no viewer login:\n{log}");
        ok(&strata(&t.url, &["viewer-login", "create"]));
        let (_, log) = serve_log(&t);
        assert!(log.contains("read-only runs use the viewer login Strata created"), "{kind:?}:\n{log}");
        let password = String::from_utf8_lossy(&std::fs::read(key_file(&t.url)).unwrap()).into_owned();
        assert!(!log.contains(password.trim()), "the key never shows");
        t.drop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_to_start_with_a_key_file_others_may_read() {
    let t = TestDb::new(Kind::Sqlite).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let key = key_file(&t.url);
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (started, log) = serve_log(&t);
    assert!(!started, "it must not serve:\n{log}");
    assert!(log.contains("looser than 0600") && log.contains("chmod 600"), "{log}");
    t.drop().await;
}

/// A main login with no privilege beyond its own database still owns Strata's tables: a viewer's run under it would
/// read every password hash, session and run, so it is refused like a superuser's until a viewer login exists.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_viewer_is_refused_when_the_main_login_merely_owns_stratas_tables() {
    let t = TestDb::new(Kind::Postgres).await;
    let owner = format!("{}_owner", t.name);
    let admin = t.connect().await;
    exec(&admin, &format!("CREATE ROLE \"{owner}\" LOGIN")).await;
    exec(&admin, &format!("ALTER DATABASE \"{}\" OWNER TO \"{owner}\"", t.name)).await;
    exec(&admin, &format!("ALTER SCHEMA public OWNER TO \"{owner}\"")).await;
    let owner_url = t.url.replacen("://postgres@", &format!("://{owner}@"), 1);
    assert_ne!(owner_url, t.url, "the test URL names the postgres login: {}", t.url);
    ok(&strata(&owner_url, &["migrate", "up"]));
    assert_eq!(
        scalar(&admin, &format!("select rolsuper::text from pg_roles where rolname = '{owner}'")).await,
        "false",
        "the owner is an ordinary login"
    );

    let mut b = Browser::with_state(app_state_without_viewer_login(&owner_url, |_| {}).await);
    b.login_as(Role::Viewer).await;
    let sql = "select password_hash from admin_users";
    let (status, page) = run(&mut b, sql).await;
    assert_refused(status, &page, sql);
    assert!(page.contains("own tables: accounts, sessions, API keys, history"), "the refusal says why:\n{page}");
    assert!(!page.contains("$argon2"), "no hash reaches the viewer:\n{page}");

    drop(b);
    admin.close().await.ok();
    t.drop().await;
    let server = connect_or_explain_admin().await;
    exec(&server, &format!("DROP ROLE IF EXISTS \"{owner}\"")).await;
}

/// The PostgreSQL server's admin connection (the test's own database is gone by then).
async fn connect_or_explain_admin() -> DatabaseConnection {
    let url =
        std::env::var("STRATA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sea_orm::Database::connect(url.as_str()).await.expect("connect to the PostgreSQL server")
}
