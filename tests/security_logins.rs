//! Read-only runs with a privileged main login (the test servers' superuser and root): refused, with a message
//! that says why and what to do, until a viewer login exists; then the database itself refuses what a viewer may
//! not do, and Strata's own tables are not there to reach. Also the start-up warning and the key file's permissions.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
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

/// What a viewer's run must still be able to do, and what it cannot reach: Strata's own tables, which are not in
/// the watched database at all (the database answers `refusal`: PostgreSQL that they do not exist, MariaDB, which
/// does not tell a login without grants whether a table exists, that the command is denied).
async fn own_tables_are_absent_and_the_app_tables_readable(t: &TestDb, b: &mut Browser, refusal: &str) {
    let (status, page) = run(b, "select count(*) from users").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("badge-error"), "a viewer reads the application's tables:\n{page}");
    let db = t.connect().await;
    for table in strata::home::OWN_TABLES {
        assert!(!has_table(&db, table).await, "{table} is not in the watched database");
        let (status, page) = run(b, &format!("select * from {table}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("badge-error") && page.contains(refusal), "{table} is out of reach:\n{page}");
        assert!(!page.contains("$argon2"), "no hash reaches the viewer:\n{page}");
    }
    db.close().await.ok();
}

/// The stored password is sealed: the row holds neither it nor its hex, and names the login.
async fn password_is_sealed(t: &TestDb, b: &Browser) {
    let url = common::web::watched(&b.state).engine.logins().read_url().await.expect("a viewer login");
    let password = url::Url::parse(url.connect_url()).unwrap().password().expect("a password").to_string();
    assert!(password.len() >= 32 && password.chars().all(|c| c.is_ascii_alphanumeric()), "generated, long");
    let db = t.connect_home().await;
    let name = strata::viewer_login::secret_name(APP);
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT label, nonce, ciphertext FROM strata_secrets WHERE name = '{name}'"),
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
    assert_eq!(count(&t.connect_home().await, "SELECT count(*) FROM strata_secrets").await, 0, "nothing was created");

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
    own_tables_are_absent_and_the_app_tables_readable(&t, &mut b, "command denied").await;
    password_is_sealed(&t, &b).await;
    // Table-level grants: a table created later is not readable.
    exec(&t.connect().await, "CREATE TABLE created_later (id int)").await;
    let (_, page) = run(&mut b, "select * from created_later").await;
    assert!(page.contains("command denied"), "not granted by default:\n{page}");
    let sql = "SELECT count(*) FROM audit_log WHERE action = 'viewer_login.create' AND database_name = 'app'";
    assert_eq!(count(&t.connect_home().await, sql).await, 1, "audited in the home, with the database it concerns");
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
    own_tables_are_absent_and_the_app_tables_readable(&t, &mut b, "does not exist").await;
    password_is_sealed(&t, &b).await;

    // No default privileges: a table created later is not readable by the viewer login; refreshing the grants
    // gives it the application's new tables, one named like Strata's own among them (it is the application's).
    let main = t.connect().await;
    exec(&main, "CREATE TABLE later (id int)").await;
    exec(&main, "CREATE TABLE audit_log (id int)").await;
    for table in ["later", "audit_log"] {
        let (_, page) = run(&mut b, &format!("select * from {table}")).await;
        assert!(page.contains("permission denied"), "{table} is not granted by default:\n{page}");
    }
    let out = ok(&strata(&t.url, &["viewer-login", "create"]));
    assert!(out.contains("refreshed the grants"), "{out}");
    for table in ["later", "audit_log"] {
        let (_, page) = run(&mut b, &format!("select * from {table}")).await;
        assert!(!page.contains("badge-error"), "refreshed grants cover the new table {table}:\n{page}");
    }
    exec(&main, "DROP TABLE audit_log").await;
    own_tables_are_absent_and_the_app_tables_readable(&t, &mut b, "does not exist").await;

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
    let answer = common::api::post_json(
        &mut client,
        "/api/v1/databases/app/query",
        &key,
        serde_json::json!({"sql": "select 1"}),
    )
    .await;
    let message = common::api::error(&answer, StatusCode::CONFLICT, "viewer_login_required");
    assert!(message.contains("can do more than read (superuser"), "{message}");
    t.drop().await;
}

/// Runs `strata serve` on a free port until it listens (or exits) and, when `wait_for` is given, until its log says
/// that (each watched database's login is checked in the background once it listens, a hanging one for at most
/// 10 s); then stops it. Returns whether it listened, and its log.
fn serve_log(t: &TestDb, wait_for: Option<&str>) -> (bool, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = strata_cmd(&t.url, &["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("STRATA_ADMIN_PASSWORD", "correct horse battery staple")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strata serve");
    let log = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (stderr, log) = (child.stderr.take().expect("piped stderr"), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        })
    };
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
    if let Some(needle) = wait_for.filter(|_| started) {
        for _ in 0..150 {
            if log.lock().unwrap().contains(needle) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    child.kill().ok();
    child.wait().expect("strata serve ends");
    reader.join().expect("the log is read to its end");
    let log = log.lock().unwrap().clone();
    (started, log)
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_warns_at_start_when_the_main_login_can_do_more_than_read() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let t = TestDb::new(kind).await;
        ok(&strata(&t.url, &["migrate", "up"]));
        let (started, log) = serve_log(&t, Some("the database login can do more than read"));
        assert!(started, "{log}");
        assert!(log.contains("WARN") && log.contains("the database login can do more than read"), "{log}");
        assert!(log.contains("read-only runs are refused"), "{kind:?}: says there is no viewer login:\n{log}");
        assert!(log.contains("strata viewer-login create --db app"), "{kind:?}: names the database:\n{log}");
        ok(&strata(&t.url, &["viewer-login", "create"]));
        let (_, log) = serve_log(&t, Some("read-only runs use the viewer login Strata created"));
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
    let (started, log) = serve_log(&t, None);
    assert!(!started, "it must not serve:\n{log}");
    assert!(log.contains("looser than 0600") && log.contains("chmod 600"), "{log}");
    t.drop().await;
}

/// A main login with no privilege beyond its own database still owns it, and may write every table: a viewer's run
/// is not handed to it, but refused like a superuser's until a viewer login exists.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_viewer_is_refused_when_the_main_login_merely_owns_the_database() {
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

    exec(&admin, "INSERT INTO users (username, email) VALUES ('owned', 'owned@example.com')").await;

    // Strata's own state stays with the server's admin login in the test's home database.
    let mut config = common::web::test_config(&owner_url);
    config.home_url = strata::config::DatabaseUrl::parse(&t.home_url).expect("the home URL parses");
    let mut b = Browser::with_state(common::web::app_state_for(config, |_| {}).await);
    b.login_as(Role::Viewer).await;
    b.get("/db/app/query").await;
    let sql = "select email from users";
    let (status, page) = run(&mut b, sql).await;
    assert_refused(status, &page, sql);
    let why = strata::viewer_login::MAIN_LOGIN_UNVERIFIED.replace('\'', "&#39;");
    assert!(page.contains(&why), "the refusal says why:\n{page}");
    assert!(!page.contains("owned@example.com"), "nothing ran under the main login:\n{page}");

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
