//! Accounts, sessions, roles, CSRF, login throttling and the audit log, through the router as a browser uses them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use chrono::Utc;
use common::web::{Browser, PASSWORD, app_state, app_state_with, create_account, location, migrate_up};
use common::*;
use entity::sessions;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use strata::home::accounts::Role;
use strata::home::audit::{self, Entry};
use strata::home::session_store::DbSessionStore;
use strata::home::throttle::{LoginThrottle, ThrottleLimits};
use tower_sessions::ExpiredDeletion;

each_backend! {
    login_succeeds_and_failures_look_the_same => login_and_failures;
    signed_out_visitors_go_to_login_and_come_back => redirect_to_login;
    signing_in_gives_a_new_session_id => new_session_id_at_login;
    logout_ends_the_session => logout;
    failed_logins_are_throttled_per_account_and_address => throttling;
    posts_without_the_session_csrf_token_are_refused => csrf;
    viewers_and_editors_cannot_use_admin_pages_or_actions => roles_are_enforced;
    admins_create_change_deactivate_and_reset_accounts => admin_manages_accounts;
    the_last_active_admin_cannot_be_demoted_or_deactivated => last_admin;
    changing_my_password_needs_the_current_one => change_password;
    hostile_form_input_is_stored_or_refused_cleanly => hostile_input;
    audit_page_filters_and_pages_newest_first => audit_page;
    expired_sessions_are_refused_and_swept => expired_sessions;
}

async fn setup(kind: Kind) -> (TestDb, DatabaseConnection, Browser) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    // Accounts, sessions and the audit log are checked where Strata keeps them: its home database.
    let db = t.connect_home().await;
    let browser = Browser::new(&t.url).await;
    (t, db, browser)
}

async fn finish(t: TestDb, db: DatabaseConnection) {
    db.close().await.ok();
    t.drop().await;
}

async fn audit_count(db: &DatabaseConnection, action: &str) -> i64 {
    count(db, &format!("SELECT count(*) FROM audit_log WHERE action = '{action}'")).await
}

async fn account_id(db: &DatabaseConnection, username: &str) -> i64 {
    count(db, &format!("SELECT id FROM admin_users WHERE username = '{username}'")).await
}

async fn role_of(db: &DatabaseConnection, username: &str) -> String {
    column(db, &format!("SELECT role FROM admin_users WHERE username = '{username}'")).await.remove(0)
}

async fn is_active(db: &DatabaseConnection, username: &str) -> bool {
    let v = column(db, &format!("SELECT is_active FROM admin_users WHERE username = '{username}'")).await.remove(0);
    matches!(v.as_str(), "true" | "1")
}

/// HTML text back to plain text (askama writes numeric character references).
fn unescape(html: &str) -> String {
    [("&#34;", "\""), ("&#39;", "'"), ("&#60;", "<"), ("&#62;", ">"), ("&quot;", "\""), ("&lt;", "<"), ("&gt;", ">")]
        .iter()
        .chain([("&#38;", "&"), ("&amp;", "&")].iter())
        .fold(html.to_string(), |s, (from, to)| s.replace(from, to))
}

async fn password_hash(db: &DatabaseConnection, username: &str) -> String {
    column(db, &format!("SELECT password_hash FROM admin_users WHERE username = '{username}'")).await.remove(0)
}

async fn login_and_failures(kind: Kind) {
    let (t, db, mut b) = setup(kind).await;
    let name = create_account(&b.state, Role::Editor).await;

    let (wrong_status, _, wrong_password) = b.try_login(&name, "not the password").await;
    let (unknown_status, _, unknown_user) = b.try_login("nobody_here", PASSWORD).await;
    assert_eq!((wrong_status, unknown_status), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert!(wrong_password.contains("Wrong username or password."), "{wrong_password}");
    assert_eq!(
        wrong_password.replace(&name, "NAME"),
        unknown_user.replace("nobody_here", "NAME"),
        "an unknown user and a wrong password get the same page"
    );
    assert!(!b.get("/").await.0.is_success(), "still signed out");

    let (status, headers, _) = b.try_login(&name, PASSWORD).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"));
    let (status, _, home) = b.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains(&name) && home.contains("role-editor"), "the header names the user and role: {home}");
    assert!(home.contains(r#"action="/logout""#), "a sign-out form: {home}");
    assert!(!home.contains("/admin/users"), "no admin links for an editor");

    let sql = format!("SELECT count(*) FROM admin_users WHERE username = '{name}' AND last_login_at IS NOT NULL");
    assert_eq!(count(&db, &sql).await, 1, "last_login_at is set");
    assert_eq!(audit_count(&db, "login.failure").await, 2);
    let details = column(&db, "SELECT detail FROM audit_log WHERE action = 'login.failure' ORDER BY id").await;
    assert_eq!(details, vec!["wrong password", "unknown account"], "the log tells what the page does not");
    assert_eq!(
        column(&db, "SELECT actor FROM audit_log WHERE action = 'login.success'").await,
        vec![name.clone()],
        "one success, by the account"
    );
    finish(t, db).await;
}

async fn redirect_to_login(kind: Kind) {
    let (t, db, mut b) = setup(kind).await;
    let (status, headers, _) = b.get("/").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"));
    let (status, headers, _) = b.get("/admin/users?sort=name&x=1").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let login_page = location(&headers).to_string();
    assert_eq!(login_page, "/login?next=%2Fadmin%2Fusers%3Fsort%3Dname%26x%3D1");

    let admin = create_account(&b.state, Role::Admin).await;
    let (status, _, form) = b.get(&login_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(r#"name="next""#), "{form}");
    let fields = [("username", admin.as_str()), ("password", PASSWORD), ("next", "/admin/users?sort=name&x=1")];
    let (status, headers, _) = b.post_form("/login", &fields).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/admin/users?sort=name&x=1"));
    let (status, headers, _) = b.get("/login").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"), "signed in: the form is skipped");

    for hostile in ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"] {
        let mut other = b.another();
        other.get("/login").await;
        let (status, headers, _) =
            other.post_form("/login", &[("username", admin.as_str()), ("password", PASSWORD), ("next", hostile)]).await;
        assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"), "next={hostile:?} is not followed");
    }
    for public in ["/healthz", "/static/css/strata.css", "/login"] {
        assert_eq!(b.another().get(public).await.0, StatusCode::OK, "{public} needs no sign-in");
    }
    finish(t, db).await;
}

async fn new_session_id_at_login(kind: Kind) {
    let (t, db, mut b) = setup(kind).await;
    let (_, headers, _) = b.get("/login").await;
    let before = b.session_id().expect("the login form starts a session for its CSRF token");
    let cookie = headers.get(SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(cookie.starts_with("strata_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }

    b.login_as(Role::Viewer).await;
    let after = b.session_id().unwrap();
    assert_ne!(before, after, "no session fixation");
    let stored = |id: &str| format!("SELECT count(*) FROM strata_sessions WHERE id = '{}'", stored_id(id));
    assert_eq!(count(&db, &stored(&before)).await, 0);
    assert_eq!(count(&db, &stored(&after)).await, 1);

    let mut replay = b.another();
    replay.set_session_id(&before);
    let (status, headers, _) = replay.get("/").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"), "the old id is worth nothing");
    assert_eq!(b.get("/").await.0, StatusCode::OK);
    finish(t, db).await;
}

async fn logout(kind: Kind) {
    let (t, db, mut b) = setup(kind).await;
    let name = b.login_as(Role::Viewer).await;
    let id = b.session_id().unwrap();

    let (status, headers, _) = b.post_form("/logout", &[]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"));
    let (_, _, page) = b.follow(&headers).await;
    assert!(page.contains("You are signed out."), "{page}");
    let (status, headers, _) = b.get("/").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"));

    let stored = format!("SELECT count(*) FROM strata_sessions WHERE id = '{}'", stored_id(&id));
    assert_eq!(count(&db, &stored).await, 0);
    let mut replay = b.another();
    replay.set_session_id(&id);
    assert_eq!(replay.get("/").await.0, StatusCode::SEE_OTHER, "a copied cookie is dead too");
    assert_eq!(column(&db, "SELECT actor FROM audit_log WHERE action = 'logout'").await, vec![name]);
    finish(t, db).await;
}

async fn throttling(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let db = t.connect_home().await;
    // The throttle's clock is moved by hand: the test never waits and asserts no timing.
    let now = Arc::new(Mutex::new(Instant::now()));
    let read = now.clone();
    let limits = ThrottleLimits { window: Duration::from_secs(15 * 60), per_account: 3, per_address: 5 };
    let mut state = app_state(&t.url).await;
    state.login_throttle = Arc::new(LoginThrottle::with_clock(limits, Arc::new(move || *read.lock().unwrap())));
    let mut b = Browser::with_state(state);
    let name = create_account(&b.state, Role::Viewer).await;

    for _ in 0..3 {
        assert_eq!(b.try_login(&name, "guess").await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, page) = b.try_login(&name, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits: {page}");
    assert!(page.contains("Too many failed sign-in attempts"), "{page}");
    assert!(headers.contains_key(RETRY_AFTER));
    assert_eq!(b.get("/").await.0, StatusCode::SEE_OTHER, "not signed in");

    // Per address: failures spread over many names from one address.
    let other = create_account(&b.state, Role::Viewer).await;
    let mut attacker = b.another();
    attacker.set_client_addr("203.0.113.9:40000");
    for i in 0..5 {
        assert_eq!(attacker.try_login(&format!("ghost{i}"), "guess").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attacker.try_login(&other, PASSWORD).await.0, StatusCode::TOO_MANY_REQUESTS);
    let mut elsewhere = b.another();
    elsewhere.set_client_addr("198.51.100.7:40000");
    assert_eq!(elsewhere.try_login(&other, PASSWORD).await.0, StatusCode::SEE_OTHER, "other addresses are not blocked");

    *now.lock().unwrap() += Duration::from_secs(15 * 60 + 1);
    let (status, _, page) = b.try_login(&name, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "usable again after the window: {page}");
    assert_eq!(attacker.try_login(&other, PASSWORD).await.0, StatusCode::SEE_OTHER);
    assert_eq!(audit_count(&db, "login.throttled").await, 2);
    assert_eq!(
        column(&db, "SELECT client_addr FROM audit_log WHERE action = 'login.throttled' ORDER BY id").await,
        vec!["unknown", "203.0.113.9"]
    );
    finish(t, db).await;
}

async fn csrf(kind: Kind) {
    let (t, db, mut b) = setup(kind).await;
    b.login_as(Role::Admin).await;
    let create = [("username", "mallory"), ("email", "m@example.com"), ("role", "admin"), ("password", "long enough")];
    let accounts = count(&db, "SELECT count(*) FROM admin_users").await;

    let (status, _, page) = b.post_form_without_csrf("/admin/users", &create).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("CSRF token is missing or wrong"), "{page}");
    let mut wrong = create.to_vec();
    wrong.push(("_csrf", "0000000000000000000000000000000000000000000000000000000000000000"));
    assert_eq!(b.post_form_without_csrf("/admin/users", &wrong).await.0, StatusCode::FORBIDDEN);
    // A real token, but of another session.
    let mut other = b.another();
    other.get("/login").await;
    let foreign = other.csrf.clone().unwrap();
    assert_ne!(Some(&foreign), b.csrf.as_ref());
    let mut stolen = create.to_vec();
    stolen.push(("_csrf", foreign.as_str()));
    assert_eq!(b.post_form_without_csrf("/admin/users", &stolen).await.0, StatusCode::FORBIDDEN);
    assert_eq!(count(&db, "SELECT count(*) FROM admin_users").await, accounts, "nothing was created");
    assert_eq!(audit_count(&db, "user.create").await, 0);

    assert_eq!(b.post_form_without_csrf("/logout", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/").await.0, StatusCode::OK, "still signed in");

    // The login form needs its token too.
    let admin = create_account(&b.state, Role::Admin).await;
    let mut c = b.another();
    c.get("/login").await;
    let (status, _, _) =
        c.post_form_without_csrf("/login", &[("username", admin.as_str()), ("password", PASSWORD)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(c.get("/").await.0, StatusCode::SEE_OTHER, "not signed in");
    // And with the token, the same post works.
    assert_eq!(b.post_form("/admin/users", &create).await.0, StatusCode::SEE_OTHER);
    finish(t, db).await;
}

async fn roles_are_enforced(kind: Kind) {
    let (t, db, mut admin) = setup(kind).await;
    let admin_name = admin.login_as(Role::Admin).await;
    let admin_id = account_id(&db, &admin_name).await;
    let mut viewer = admin.another();
    let viewer_name = viewer.login_as(Role::Viewer).await;
    let viewer_id = account_id(&db, &viewer_name).await;

    let (status, _, home) = viewer.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!home.contains("/admin/users") && !home.contains("/admin/audit"), "no admin links: {home}");
    for page in ["/admin/users", "/admin/users/new", &format!("/admin/users/{admin_id}"), "/admin/audit"] {
        let (status, _, body) = viewer.get(page).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(body.contains("not allowed"), "{body}");
    }
    let mut editor = admin.another();
    editor.login_as(Role::Editor).await;
    let accounts = count(&db, "SELECT count(*) FROM admin_users").await;
    let create = [("username", "sneaky"), ("email", "s@example.com"), ("role", "admin"), ("password", "long enough")];
    let attempts: [(String, Vec<(&str, &str)>); 6] = [
        ("/admin/users".into(), create.to_vec()),
        (format!("/admin/users/{admin_id}/role"), vec![("role", "viewer")]),
        (format!("/admin/users/{admin_id}/deactivate"), vec![]),
        (format!("/admin/users/{admin_id}/password"), vec![("password", "taken over!")]),
        (format!("/admin/users/{viewer_id}/role"), vec![("role", "admin")]),
        (format!("/admin/users/{viewer_id}/reactivate"), vec![]),
    ];
    for (path, fields) in &attempts {
        assert_eq!(viewer.post_form(path, fields).await.0, StatusCode::FORBIDDEN, "{path}");
    }
    for (path, fields) in &attempts {
        assert_eq!(editor.post_form(path, fields).await.0, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(editor.get("/admin/users").await.0, StatusCode::FORBIDDEN);

    assert_eq!(count(&db, "SELECT count(*) FROM admin_users").await, accounts, "nothing created");
    assert_eq!(role_of(&db, &admin_name).await, "admin");
    assert_eq!(role_of(&db, &viewer_name).await, "viewer");
    assert!(is_active(&db, &admin_name).await);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log WHERE action LIKE 'user.%'").await, 0);
    assert_eq!(admin.login(&admin_name, PASSWORD).await.0, StatusCode::OK, "the admin's password is unchanged");
    finish(t, db).await;
}

async fn admin_manages_accounts(kind: Kind) {
    let (t, db, mut a) = setup(kind).await;
    let admin = a.login_as(Role::Admin).await;
    assert_eq!(a.get("/admin/users/new").await.0, StatusCode::OK);
    let fields =
        [("username", "carol"), ("email", "carol@example.com"), ("role", "editor"), ("password", "carol's pw!")];
    let (status, headers, _) = a.post_form("/admin/users", &fields).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/admin/users"));
    let (_, _, list) = a.follow(&headers).await;
    assert!(list.contains("Created the editor account carol."), "{list}");
    assert!(list.contains("carol@example.com"), "{list}");
    let (_, _, again) = a.get("/admin/users").await;
    assert!(!again.contains("Created the editor account"), "a flash is shown once");
    let carol = account_id(&db, "carol").await;
    assert_eq!(a.post_form("/admin/users", &fields).await.0, StatusCode::BAD_REQUEST, "the name is taken");

    let mut c = a.another();
    c.login("carol", "carol's pw!").await;
    assert_eq!(c.get("/admin/users").await.0, StatusCode::FORBIDDEN);

    let (status, headers, _) = a.post_form(&format!("/admin/users/{carol}/role"), &[("role", "admin")]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, format!("/admin/users/{carol}").as_str()));
    let (_, _, page) = a.follow(&headers).await;
    assert!(page.contains("carol is now admin (was editor)."), "{page}");
    assert_eq!(role_of(&db, "carol").await, "admin");
    assert_eq!(c.get("/admin/users").await.0, StatusCode::OK, "a new role applies at once");

    a.post_form(&format!("/admin/users/{carol}/deactivate"), &[]).await;
    assert!(!is_active(&db, "carol").await);
    assert_eq!(c.get("/").await.0, StatusCode::SEE_OTHER, "a deactivated account's sessions end");
    let mut fresh = a.another();
    let (status, _, page) = fresh.try_login("carol", "carol's pw!").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Wrong username or password."), "nothing tells the account is deactivated: {page}");

    a.post_form(&format!("/admin/users/{carol}/reactivate"), &[]).await;
    assert!(is_active(&db, "carol").await);
    let mut c = a.another();
    c.login("carol", "carol's pw!").await;

    let (_, headers, _) = a.post_form(&format!("/admin/users/{carol}/password"), &[("password", "short")]).await;
    let (_, _, page) = a.follow(&headers).await;
    assert!(page.contains("The password must have at least 8 characters."), "{page}");
    let (_, headers, _) =
        a.post_form(&format!("/admin/users/{carol}/password"), &[("password", "brand new one")]).await;
    let (_, _, page) = a.follow(&headers).await;
    assert!(page.contains("carol has a new password"), "{page}");
    assert_eq!(c.get("/").await.0, StatusCode::SEE_OTHER, "a reset signs the account out");
    let mut fresh = a.another();
    assert_eq!(fresh.try_login("carol", "carol's pw!").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(fresh.try_login("carol", "brand new one").await.0, StatusCode::SEE_OTHER);

    for action in ["user.create", "user.role", "user.deactivate", "user.reactivate", "user.password_reset"] {
        let rows =
            column(&db, &format!("SELECT actor FROM audit_log WHERE action = '{action}' AND target = 'carol'")).await;
        assert_eq!(rows, vec![admin.clone()], "{action} is logged once, by the admin");
    }
    let (_, _, log) = a.get("/admin/audit?action=user.role").await;
    assert!(log.contains("editor → admin") && log.contains("1 entry"), "{log}");
    assert!(a.get("/admin/users").await.2.contains("carol"));
    finish(t, db).await;
}

async fn last_admin(kind: Kind) {
    let (t, db, mut a) = setup(kind).await;
    let admin = a.login_as(Role::Admin).await;
    let id = account_id(&db, &admin).await;

    let (status, headers, _) = a.post_form(&format!("/admin/users/{id}/role"), &[("role", "editor")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = a.follow(&headers).await;
    assert!(page.contains("is the last active admin: make another account an admin first"), "{page}");
    let (_, headers, _) = a.post_form(&format!("/admin/users/{id}/deactivate"), &[]).await;
    let (_, _, page) = a.follow(&headers).await;
    assert!(page.contains("is the last active admin"), "{page}");
    assert_eq!(role_of(&db, &admin).await, "admin");
    assert!(is_active(&db, &admin).await);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log WHERE action LIKE 'user.%'").await, 0);

    // A deactivated admin does not count.
    let second = create_account(&a.state, Role::Admin).await;
    let second_id = account_id(&db, &second).await;
    a.post_form(&format!("/admin/users/{second_id}/deactivate"), &[]).await;
    assert!(!is_active(&db, &second).await);
    let (_, headers, _) = a.post_form(&format!("/admin/users/{id}/role"), &[("role", "viewer")]).await;
    assert!(a.follow(&headers).await.2.contains("is the last active admin"));

    // With another active admin, stepping down works and leads out of the admin pages.
    a.post_form(&format!("/admin/users/{second_id}/reactivate"), &[]).await;
    let (status, headers, _) = a.post_form(&format!("/admin/users/{id}/role"), &[("role", "editor")]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(role_of(&db, &admin).await, "editor");
    assert_eq!(a.get("/admin/users").await.0, StatusCode::FORBIDDEN);
    finish(t, db).await;
}

async fn change_password(kind: Kind) {
    let (t, db, mut b) = setup(kind).await;
    let name = b.login_as(Role::Viewer).await;
    let mut elsewhere = b.another();
    elsewhere.login(&name, PASSWORD).await;
    let before = password_hash(&db, &name).await;

    assert_eq!(b.get("/account/password").await.0, StatusCode::OK);
    for (current, new, confirm, says) in [
        ("wrong password", "a new password", "a new password", "The current password is wrong."),
        (PASSWORD, "a new password", "another password", "The new password and its confirmation differ."),
        (PASSWORD, "short", "short", "The password must have at least 8 characters."),
    ] {
        let (status, _, page) =
            b.post_form("/account/password", &[("current", current), ("new", new), ("confirm", confirm)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{says}");
        assert!(page.contains(says), "{says} in {page}");
    }
    assert_eq!(password_hash(&db, &name).await, before, "refusals change nothing");

    let fields = [("current", PASSWORD), ("new", "a brand new one"), ("confirm", "a brand new one")];
    let (status, headers, _) = b.post_form("/account/password", &fields).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account/password"));
    assert!(b.follow(&headers).await.2.contains("Your password is changed."));
    assert_ne!(password_hash(&db, &name).await, before);
    assert_eq!(b.get("/").await.0, StatusCode::OK, "this session goes on");
    assert_eq!(elsewhere.get("/").await.0, StatusCode::SEE_OTHER, "the other one is signed out");
    let mut fresh = b.another();
    assert_eq!(fresh.try_login(&name, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(fresh.try_login(&name, "a brand new one").await.0, StatusCode::SEE_OTHER);
    assert_eq!(column(&db, "SELECT actor FROM audit_log WHERE action = 'password.change'").await, vec![name]);
    finish(t, db).await;
}

async fn hostile_input(kind: Kind) {
    let (t, db, mut a) = setup(kind).await;
    a.login_as(Role::Admin).await;
    let accounts = count(&db, "SELECT count(*) FROM admin_users").await;
    let sql = "'; DROP TABLE users; --";

    let (status, _, page) = a
        .post_form(
            "/admin/users",
            &[("username", sql), ("email", "x@example.com"), ("role", "viewer"), ("password", "long enough")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("The username may contain letters, digits"), "{page}");
    assert!(!page.contains(r#"value="'; DROP"#), "the value is escaped when shown again: {page}");
    assert_eq!(count(&db, "SELECT count(*) FROM admin_users").await, accounts);

    // Unicode, quotes and markup are stored exactly and shown escaped.
    let name = "zoë_ユーザー";
    let email = "o'brien+<b>\"q\"@example.com";
    let password = "pa'ss\"wörd <script> --";
    let (status, _, page) = a
        .post_form("/admin/users", &[("username", name), ("email", email), ("role", "editor"), ("password", password)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(column(&db, &format!("SELECT email FROM admin_users WHERE username = '{name}'")).await, vec![email]);
    let (_, _, list) = a.get("/admin/users").await;
    assert!(list.contains(name), "{list}");
    assert!(!list.contains("<b>") && unescape(&list).contains(email), "markup is escaped: {list}");
    let mut z = a.another();
    assert_eq!(z.try_login(name, password).await.0, StatusCode::SEE_OTHER);

    // Hostile sign-ins fail like any other, and the log keeps what was typed.
    let mut m = a.another();
    let long = "x".repeat(5000);
    for attempt in [sql, "admin' OR '1'='1", "nul\0byte", long.as_str()] {
        let (status, _, page) = m.try_login(attempt, "' OR 1=1 --").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{attempt:?}: {page}");
    }
    let targets = column(&db, "SELECT target FROM audit_log WHERE action = 'login.failure' ORDER BY id").await;
    assert_eq!(targets[0], sql);
    assert_eq!(targets[1], "admin' OR '1'='1");
    assert_eq!(targets[3].chars().count(), 255, "cut to the column");
    assert!(has_table(&t.connect().await, "users").await && has_table(&db, "admin_users").await);
    let (status, _, _) = a.get("/admin/audit?actor=%27%3B%20DROP%20TABLE%20users%3B%20--&action=login.failure").await;
    assert_eq!(status, StatusCode::OK);

    // Malformed requests are 400 with what is wrong, never a 500.
    let (status, _, page) = a
        .post_form(
            "/admin/users",
            &[("username", "x"), ("email", "x@example.com"), ("role", "root"), ("password", "long enough")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("unknown variant") && page.contains("root"), "{page}");
    let (status, _, page) = a.post_form("/admin/users", &[("username", "y")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("missing field"), "{page}");
    let (status, _, page) = a.get("/admin/audit?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("YYYY-MM-DD"), "{page}");
    assert_eq!(a.get("/admin/audit?actor=a%00b").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(a.get("/admin/audit?page=last").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(a.get("/admin/users/abc").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(a.get("/admin/users/999999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(a.post_form("/admin/users/999999/deactivate", &[]).await.0, StatusCode::NOT_FOUND);
    let (status, _, _) =
        a.post_form("/account/password", &[("current", "\0"), ("new", "\0\0\0\0\0\0\0\0"), ("confirm", "x")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    finish(t, db).await;
}

async fn audit_page(kind: Kind) {
    let (t, db, mut a) = setup(kind).await;
    a.login_as(Role::Admin).await;
    for i in 0..60 {
        audit::record(
            &a.state.home,
            Entry::new("test.bulk").actor(1, "bulk").target(format!("t{i:02}")).client("10.0.0.1"),
        )
        .await
        .unwrap();
    }
    let (status, _, first) = a.get("/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(first.contains("61 entries") && first.contains("Page 1 of 2"), "{first}");
    let (newest, older) = (first.find(">t59<").expect("t59 on page 1"), first.find(">t58<").expect("t58"));
    assert!(newest < older, "newest first");
    assert!(!first.contains(">t09<"), "t09 is on page 2");
    let (_, _, second) = a.get("/admin/audit?page=2").await;
    assert!(second.contains(">t09<") && second.contains(">t00<") && second.contains("login.success"), "{second}");
    assert!(a.get("/admin/audit?page=99").await.2.contains("Page 2 of 2"), "past the end shows the last page");

    let today = Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let yesterday = today.pred_opt().unwrap();
    for (query, says) in [
        ("action=login.success".to_string(), "1 entry"),
        ("action=test.bulk&actor=bulk".to_string(), "60 entries"),
        ("actor=nobody".to_string(), "Nothing matches"),
        (format!("from={today}&to={today}"), "61 entries"),
        (format!("from={tomorrow}"), "0 entries"),
        (format!("to={yesterday}"), "0 entries"),
    ] {
        let (status, _, page) = a.get(&format!("/admin/audit?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert!(page.contains(says), "{query}: expected {says:?} in {page}");
    }
    let (_, _, filtered) = a.get("/admin/audit?action=test.bulk&actor=bulk").await;
    assert!(unescape(&filtered).contains("?action=test.bulk&actor=bulk&page=2"), "links keep the filters: {filtered}");
    assert_eq!(a.get(&format!("/admin/audit?from={tomorrow}&to={today}")).await.0, StatusCode::BAD_REQUEST);
    finish(t, db).await;
}

async fn expired_sessions(kind: Kind) {
    let (t, db, mut b) = setup(kind).await;
    b.login_as(Role::Viewer).await;
    let id = stored_id(&b.session_id().unwrap());
    let expiry = sessions::Entity::find_by_id(id.clone()).one(&db).await.unwrap().unwrap().expiry_date;
    assert!(expiry > Utc::now() + chrono::Duration::hours(11), "session_ttl from now: {expiry}");

    let mut other = b.another();
    other.login_as(Role::Viewer).await;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::ExpiryDate, Expr::value(Utc::now() - chrono::Duration::minutes(1)))
        .filter(sessions::Column::Id.eq(id.clone()))
        .exec(&db)
        .await
        .unwrap();
    // Changed behind the server's back, as another instance would: seen once the kept copy is past its bound.
    tokio::time::sleep(b.state.config.settings.session_cache).await;
    let (status, headers, _) = b.get("/").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"), "an expired session is refused");

    DbSessionStore::new(db.clone()).delete_expired().await.unwrap();
    assert_eq!(count(&db, &format!("SELECT count(*) FROM strata_sessions WHERE id = '{id}'")).await, 0, "swept");
    assert_eq!(count(&db, "SELECT count(*) FROM strata_sessions").await, 1, "the live one stays");
    assert_eq!(other.get("/").await.0, StatusCode::OK);
    finish(t, db).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_cookie_drops_secure_only_when_configured() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let mut b = Browser::with_state(app_state_with(&t.url, |s| s.cookie_secure = false).await);
    let (_, headers, _) = b.get("/login").await;
    let cookie = headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && !cookie.contains("Secure"), "{cookie}");
    b.login_as(Role::Viewer).await;
    assert_eq!(b.get("/").await.0, StatusCode::OK);
}

/// What `strata_sessions.id` holds for a cookie's session id: its SHA-256 in lower-case hex.
fn stored_id(cookie_id: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(cookie_id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
