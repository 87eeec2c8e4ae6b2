//! The session and account cache (`session_cache`): reused within its bound, dropped at once by a change made on
//! the same instance, and never longer than the bound on another instance sharing the home database.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::web::{Browser, PASSWORD, app_state_with, create_account, location, migrate_up};
use common::*;
use strata::home::accounts::Role;
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

/// The bound the two-instance tests run with: short, so waiting past it keeps the tests quick.
const BOUND: Duration = Duration::from_millis(400);

/// Two instances (app states with their own caches) on the test database's one home database. The first keeps
/// what it read for an hour, so whatever it refuses at once it refuses because its own change dropped its copy.
async fn two_instances(kind: Kind, bound: Duration) -> (TestDb, Browser, Browser) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let first = app_state_with(&t.url, |s| s.session_cache = Duration::from_secs(3600)).await;
    let second = app_state_with(&t.url, |s| s.session_cache = bound).await;
    (t, Browser::with_state(first), Browser::with_state(second))
}

/// A visitor of `on` carrying `visitor`'s session cookie (one browser, two instances behind a balancer).
fn same_session_on(on: &Browser, visitor: &Browser) -> Browser {
    let mut b = on.another();
    b.set_session_id(&visitor.session_id().expect("signed in"));
    b
}

async fn status(b: &mut Browser, path: &str) -> StatusCode {
    b.get(path).await.0
}

/// Each change is made through the first instance; the account's session is refused there on its next request,
/// and on the second once the bound has passed (its kept copies were fresh when the change was made).
async fn changes_reach_both_instances(kind: Kind) {
    let (t, mut admin, other) = two_instances(kind, BOUND).await;
    admin.login_as(Role::Admin).await;

    // Sign-out.
    let mut ann = admin.another();
    ann.login_as(Role::Viewer).await;
    let mut ann_there = same_session_on(&other, &ann);
    assert_eq!(status(&mut ann_there, "/").await, StatusCode::OK, "one sign-in serves both instances");
    let id = ann.session_id().unwrap();
    ann.post_form("/logout", &[]).await;
    let mut copied = admin.another();
    copied.set_session_id(&id);
    let (code, headers, _) = copied.get("/").await;
    assert_eq!((code, location(&headers)), (StatusCode::SEE_OTHER, "/login"), "refused at once where it ended");
    tokio::time::sleep(BOUND).await;
    assert_eq!(status(&mut ann_there, "/").await, StatusCode::SEE_OTHER, "refused on the other within the bound");

    // Deactivation, role change and password reset, each of a fresh account with a session on both instances.
    for change in ["deactivate", "role", "password"] {
        let mut bob = admin.another();
        let name = bob.login_as(Role::Admin).await;
        let mut bob_there = same_session_on(&other, &bob);
        assert_eq!(status(&mut bob_there, "/admin/users").await, StatusCode::OK, "{change}: kept on the other");
        assert_eq!(status(&mut bob, "/admin/users").await, StatusCode::OK, "{change}: kept here");
        let bob_id =
            count(&t.connect_home().await, &format!("SELECT id FROM admin_users WHERE username = '{name}'")).await;
        let (path, fields): (String, Vec<(&str, &str)>) = match change {
            "deactivate" => (format!("/admin/users/{bob_id}/deactivate"), vec![]),
            "role" => (format!("/admin/users/{bob_id}/role"), vec![("role", "viewer")]),
            _ => (format!("/admin/users/{bob_id}/password"), vec![("password", "a new password for bob")]),
        };
        admin.get("/admin/users").await;
        let (code, _, page) = admin.post_form(&path, &fields).await;
        assert_eq!(code, StatusCode::SEE_OTHER, "{change}: {page}");
        let refused = if change == "role" { StatusCode::FORBIDDEN } else { StatusCode::SEE_OTHER };
        assert_eq!(status(&mut bob, "/admin/users").await, refused, "{change}: at once on the same instance");
        tokio::time::sleep(BOUND).await;
        assert_eq!(status(&mut bob_there, "/admin/users").await, refused, "{change}: within the bound elsewhere");
    }
    t.drop().await;
}

/// With a long bound, a change made behind the server's back (another instance, a direct `UPDATE`) is not read
/// again while the kept copy is fresh: proof that a page view reads neither the session nor the account.
#[tokio::test(flavor = "multi_thread")]
async fn within_the_bound_a_page_view_reads_neither_session_nor_account() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let mut b = Browser::with_state(app_state_with(&t.url, |s| s.session_cache = Duration::from_secs(3600)).await);
    let name = b.login_as(Role::Viewer).await;
    let home = t.connect_home().await;
    exec(&home, &format!("UPDATE admin_users SET is_active = 0 WHERE username = '{name}'")).await;
    exec(&home, "DELETE FROM strata_sessions").await;
    assert_eq!(status(&mut b, "/").await, StatusCode::OK, "the kept session and account serve the request");

    // With no cache the same change is seen at once.
    let mut fresh = Browser::with_state(app_state_with(&t.url, |s| s.session_cache = Duration::ZERO).await);
    let name = fresh.login_as(Role::Viewer).await;
    exec(&home, &format!("UPDATE admin_users SET is_active = 0 WHERE username = '{name}'")).await;
    assert_eq!(status(&mut fresh, "/").await, StatusCode::SEE_OTHER);
    t.drop().await;
}

/// Session writes are saved at once (another instance sees them), and a save by an instance holding a copy of a
/// session that another instance ended does not bring the session back.
async fn writes_are_saved_and_never_revive(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let long = Duration::from_secs(3600);
    let here = app_state_with(&t.url, |s| s.session_cache = long).await;
    let there = app_state_with(&t.url, |s| s.session_cache = long).await;
    let mut b = Browser::with_state(here.clone());
    b.login_as(Role::Viewer).await;

    // A flash written by the first instance is shown by the second.
    let (code, headers, _) = b.post_form("/logout", &[]).await;
    assert_eq!((code, location(&headers)), (StatusCode::SEE_OTHER, "/login"));
    let mut elsewhere = same_session_on(&Browser::with_state(there.clone()), &b);
    let (_, _, page) = elsewhere.get("/login").await;
    assert!(page.contains("You are signed out."), "the flash was saved to the home database: {page}");

    // The second instance keeps a copy of a live session; the first ends it; the second saves its copy.
    let mut c = Browser::with_state(here.clone());
    c.login(&create_account(&here, Role::Viewer).await, PASSWORD).await;
    let id: Id = c.session_id().unwrap().parse().expect("a session id");
    let record = there.sessions.load(&id).await.unwrap().expect("the second instance reads the session");
    c.post_form("/logout", &[]).await;
    there.sessions.save(&record).await.unwrap();
    // The first instance forgot it at sign-out: this load reads the home database.
    assert!(here.sessions.load(&id).await.unwrap().is_none(), "the ended session stays ended");
    assert!(there.sessions.load(&id).await.unwrap().is_none(), "the saving instance dropped its copy too");
    t.drop().await;
}

each_backend! {
    sign_out_deactivation_role_and_password_changes_reach_the_other_instance_within_the_bound => changes_reach_both_instances;
    session_writes_are_saved_at_once_and_never_bring_an_ended_session_back => writes_are_saved_and_never_revive;
}
