//! Strata's own state is out of the query editor's reach: its tables are in the home database, not in the watched
//! one, session ids are stored as hashes (no viewer-to-admin takeover on any backend), and on SQLite an
//! engine-enforced guard keeps other files (the home database's among them) and the pragmas that matter away.

mod common;

use axum::http::StatusCode;
use common::web::Browser;
use common::*;
use strata::home::accounts::Role;

each_backend! {
    a_session_id_read_through_the_editor_signs_nobody_in => no_takeover_through_the_editor;
    completion_does_not_offer_stratas_own_tables => names_without_own_tables;
    upgrading_ends_the_sessions_stored_in_plain_text => plain_sessions_end_at_upgrade;
}

async fn migrated(kind: Kind) -> (TestDb, Browser) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let b = Browser::new(&t.url).await;
    (t, b)
}

/// The query that dumps every session, its data as text, in this backend's dialect.
fn sessions_dump(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "select id, encode(data, 'escape') as data from strata_sessions",
        Kind::MySql => "select id, cast(data as char) as data from strata_sessions",
        Kind::Sqlite => "select id, cast(data as text) as data from strata_sessions",
    }
}

/// Every value of a result grid on a query page, and the id-like words inside each (a cookie could carry any).
fn grid_values(page: &str) -> Vec<String> {
    let mut values = Vec::new();
    for cell in page.split(r#"<td class="cell-"#).skip(1) {
        let Some(start) = cell.find('>') else { continue };
        let Some(end) = cell.find("</td>") else { continue };
        let mut text = String::new();
        let mut in_tag = false;
        for c in cell[start + 1..end].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = text.replace("&quot;", "\"").replace("&#x22;", "\"").replace("&amp;", "&");
        values.extend(
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .filter(|w| w.len() >= 16)
                .map(str::to_string),
        );
        values.push(text);
    }
    values
}

async fn no_takeover_through_the_editor(kind: Kind) {
    let (t, mut admin) = migrated(kind).await;
    admin.login_as(Role::Admin).await;
    assert_eq!(admin.get("/admin/users").await.0, StatusCode::OK, "the admin's own cookie opens the admin page");
    let admin_cookie = admin.session_id().expect("the admin's session cookie");

    for role in [Role::Viewer, Role::Editor] {
        let mut insider = admin.another();
        insider.login_as(role).await;
        insider.get("/db/app/query").await;
        let (status, _, page) = insider.post_form("/db/app/query", &[("sql", sessions_dump(kind))]).await;
        // Ran (and the ids are useless), refused by the engine, or refused outright: all fine, none a crash.
        assert!(!status.is_server_error(), "{role:?}: {status}\n{page}");
        let values = grid_values(&page);
        for value in &values {
            let mut attacker = admin.another();
            attacker.set_session_id(value);
            let (status, _, _) = attacker.get("/admin/users").await;
            assert_ne!(status, StatusCode::OK, "a {role:?} read {value:?} from strata_sessions and became an admin");
        }
        assert!(!values.iter().any(|v| v.contains(&admin_cookie)), "{role:?} saw the admin's session id");
    }

    // The sessions are not in the watched database at all; and the home's table holds nothing a cookie could carry.
    let db = t.connect().await;
    assert!(!has_table(&db, "strata_sessions").await, "the sessions are kept in the home database only");
    let home = t.connect_home().await;
    let ids = column(&home, "select id from strata_sessions").await;
    assert!(!ids.is_empty(), "the signed-in sessions are stored");
    for id in &ids {
        assert_eq!(id.len(), 64, "a SHA-256 in hex: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    let data = match kind {
        Kind::Postgres => "select encode(data, 'escape') from strata_sessions",
        Kind::MySql => "select cast(data as char) from strata_sessions",
        Kind::Sqlite => "select cast(data as text) from strata_sessions",
    };
    let stored: Vec<String> = ids.into_iter().chain(column(&home, data).await).collect();
    assert!(
        !stored.iter().any(|v| v.contains(&admin_cookie)),
        "the admin's cookie value {admin_cookie} is stored in strata_sessions: {stored:?}"
    );
    t.drop().await;
}

async fn names_without_own_tables(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    // An application may have a table named like one of Strata's: it is the application's, and offered.
    exec(&t.connect().await, "CREATE TABLE audit_log (id INTEGER PRIMARY KEY)").await;
    b.login_as(Role::Editor).await;
    let (status, _, body) = b.get("/db/app/query/names").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let listed: Vec<&str> = names["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(listed.contains(&"users") && listed.contains(&"audit_log"), "{listed:?}");
    for own in strata::home::OWN_TABLES.iter().filter(|t| **t != "audit_log") {
        assert!(!listed.contains(own), "{own} is offered for completion: {listed:?}");
    }
    t.drop().await;
}

async fn plain_sessions_end_at_upgrade(kind: Kind) {
    use sea_orm_migration::MigratorTrait;
    let t = TestDb::new(kind).await;
    // The home database as the versions before session ids were hashed left it.
    let db = t.connect_home().await;
    let home_migrations = migration::HomeMigrator::migrations();
    let before = home_migrations.iter().position(|m| m.name() == "m20261206_000008_hash_session_ids").unwrap();
    migration::HomeMigrator::up(&db, Some(before as u32)).await.expect("the home's first migrations");
    let blob = if kind == Kind::Postgres { "decode('7b7d', 'hex')" } else { "X'7b7d'" };
    exec(
        &db,
        &format!(
            "INSERT INTO strata_sessions (id, data, expiry_date) VALUES ('plainTextSessionId0001', {blob}, '2037-01-01 00:00:00')"
        ),
    )
    .await;
    // Any command that uses the home database upgrades it first (as `serve` does).
    ok(&strata(&t.url, &["key", "list"]));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM strata_sessions").await, 0, "the plain-text session is gone");
    t.drop().await;
}

// SQLite: the editor's connections carry an authorizer and an attach limit.

/// Runs `sql` on the query page and returns the page; the status must be 200 (the statement's own outcome is in the page).
async fn run(b: &mut Browser, sql: &str) -> String {
    let (status, _, page) = b.post_form("/db/app/query", &[("sql", sql)]).await;
    assert_eq!(status, StatusCode::OK, "{sql}: {status}\n{page}");
    page
}

fn refused(page: &str) -> bool {
    page.contains("badge-error") && !page.contains("badge-success")
}

/// What the editor says when SQLite's authorizer refuses a statement.
const GUARDED: &str = "the query editor cannot attach or write other database files";

async fn sqlite_as(role: Role) -> (TestDb, Browser) {
    let (t, mut b) = migrated(Kind::Sqlite).await;
    b.login_as(role).await;
    b.get("/db/app/query").await;
    (t, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_viewer_can_neither_turn_query_only_off_nor_vacuum_into_a_file() {
    let (t, mut b) = sqlite_as(Role::Viewer).await;
    let mode = column(&t.connect().await, "PRAGMA journal_mode").await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let page = run(&mut b, &format!("PRAGMA query_only=OFF; VACUUM INTO '{}'", copy.display())).await;
    assert!(refused(&page), "turning query_only off is refused:\n{page}");
    assert!(page.contains(GUARDED), "{page}");
    let page = run(&mut b, &format!("VACUUM INTO '{}'", copy.display())).await;
    assert!(refused(&page), "VACUUM INTO is refused:\n{page}");
    assert!(!copy.exists(), "no copy of the database, not even an empty file");
    let page = run(&mut b, "PRAGMA query_only").await;
    assert!(page.contains(r#"<td class="cell-number">1</td>"#), "query_only is still on:\n{page}");
    for sql in ["PRAGMA journal_mode=DELETE", "PRAGMA writable_schema=ON", "PRAGMA main.query_only = 0"] {
        assert!(refused(&run(&mut b, sql).await), "{sql} is refused");
    }
    let db = t.connect().await;
    assert_eq!(column(&db, "PRAGMA journal_mode").await, mode, "the file's journal mode is unchanged");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_no_run_attaches_or_creates_a_file() {
    for role in [Role::Viewer, Role::Editor] {
        let (t, mut b) = sqlite_as(role).await;
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("x.db");
        let page = run(&mut b, &format!("ATTACH '{}' AS x", other.display())).await;
        assert!(refused(&page), "{role:?}: ATTACH is refused:\n{page}");
        let page = run(&mut b, &format!("VACUUM INTO '{}'", dir.path().join("copy.db").display())).await;
        assert!(refused(&page), "{role:?}: VACUUM INTO is refused:\n{page}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{role:?}: no file was created");
        // Neither the home database beside it nor the database file itself under another name can be attached.
        let home = t.home_url.trim_start_matches("sqlite:///").to_string();
        let page = run(&mut b, &format!("ATTACH '{home}' AS home; SELECT * FROM home.admin_users")).await;
        assert!(refused(&page) && page.contains(GUARDED), "{role:?}: {page}");
        let again = t.url.trim_start_matches("sqlite:///").to_string();
        let page = run(&mut b, &format!("ATTACH '{again}' AS again; SELECT * FROM again.users")).await;
        assert!(refused(&page) && page.contains(GUARDED), "{role:?}: {page}");
        t.drop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_an_editor_finds_none_of_stratas_tables_but_works_on_its_own() {
    let (t, mut b) = sqlite_as(Role::Editor).await;
    let home = t.connect_home().await;
    let admins = count(&home, "SELECT COUNT(*) FROM admin_users WHERE role = 'admin'").await;
    let runs = count(&home, "SELECT COUNT(*) FROM query_history").await;
    // Strata's tables are not in the watched database: there is nothing of them to read, change or hook into.
    for sql in [
        "SELECT * FROM admin_users",
        "SELECT id FROM strata_sessions",
        "SELECT * FROM main.api_keys",
        "SELECT query FROM query_history",
        "SELECT * FROM audit_log",
        "UPDATE admin_users SET role = 'admin'",
        "DELETE FROM query_history",
        "CREATE VIEW peek AS SELECT * FROM admin_users; SELECT * FROM peek",
        "CREATE TRIGGER leak AFTER INSERT ON strata_sessions BEGIN SELECT 1; END",
        "DROP TABLE audit_log",
    ] {
        let page = run(&mut b, sql).await;
        assert!(page.contains("badge-error") && page.contains("no such table"), "{sql} finds no table:\n{page}");
    }
    for sql in ["PRAGMA writable_schema=ON", "PRAGMA journal_mode=DELETE"] {
        let page = run(&mut b, sql).await;
        assert!(refused(&page) && page.contains(GUARDED), "{sql} is refused:\n{page}");
    }
    let db = t.connect().await;
    for table in strata::home::OWN_TABLES {
        assert!(!has_table(&db, table).await, "{table} is not in the watched database");
    }
    assert!(has_table(&home, "audit_log").await);
    assert_eq!(count(&home, "SELECT COUNT(*) FROM admin_users WHERE role = 'admin'").await, admins);
    assert!(count(&home, "SELECT COUNT(*) FROM query_history").await > runs, "the home's history only grew");
    for sql in [
        "SELECT * FROM users",
        "SELECT name FROM pragma_table_info('users')",
        "PRAGMA table_info(users)",
        "PRAGMA user_version",
        "INSERT INTO users (username, email) VALUES ('ed', 'ed@example.com')",
        "INSERT INTO posts (title, content, user_id) SELECT 't', 'c', id FROM users WHERE username = 'ed'",
        // An application may have an audit_log of its own: it is the application's table like any other.
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, what TEXT)",
        "INSERT INTO audit_log (what) VALUES ('the application''s own')",
        "SELECT * FROM audit_log",
    ] {
        let page = run(&mut b, sql).await;
        assert!(page.contains("badge-success") && !page.contains("badge-error"), "{sql} works:\n{page}");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM posts").await, 1, "the editor's write went through");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM audit_log").await, 1, "into the application's own audit_log");
    // Exports and plans go through the same connections, and find no more.
    let (status, headers, body) =
        b.post_form("/db/app/query/export", &[("sql", "SELECT * FROM admin_users"), ("format", "csv")]).await;
    assert!(headers.get("content-disposition").is_none() && body.contains("no such table"), "{status}\n{body}");
    let page = run(&mut b, "EXPLAIN QUERY PLAN SELECT * FROM strata_sessions").await;
    assert!(refused(&page) && page.contains("no such table"), "{page}");
    t.drop().await;
}
