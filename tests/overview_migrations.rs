//! The overview's migration card: the state it shows is kept between requests while the bookkeeping tables stay
//! the same, and whatever changes them (a run from another process, a stamp, a hand edit, an attempt left
//! `running`) shows on the very next request.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::web::{Browser, at, migrate_up, watched};
use common::*;
use sea_orm::{ActiveModelTrait, Set};
use strata::home::accounts::Role;
use strata::watch::migration_state;

each_backend! {
    the_overview_shows_every_migration_change_on_the_next_request => changes_show_at_once;
    the_migration_state_is_read_again_only_when_the_tables_change => kept_while_unchanged;
}

async fn overview(b: &mut Browser) -> String {
    let (status, _, page) = b.get(&at("")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

async fn changes_show_at_once(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let mut b = Browser::new(&t.url).await;
    b.login_as(Role::Viewer).await;
    let set = strata::migrate::MigrationSet::of::<migration::Migrator>().unwrap();
    let before_head = set.entries()[set.len() - 2].revision.clone();
    for _ in 0..2 {
        let page = overview(&mut b).await;
        assert!(page.contains(&format!("0 pending of {}", *MIGRATIONS)) && page.contains(HEAD.as_str()), "{page}");
    }

    // Another process rolls the last migration back: pending at once, with its run as the last one.
    ok(&strata(&t.url, &["migrate", "down"]));
    let page = overview(&mut b).await;
    assert!(page.contains(&format!("1 pending of {}", *MIGRATIONS)), "the downgrade shows at once: {page}");
    assert!(page.contains(&format!(">{before_head}<")), "the head moved back: {page}");
    assert!(page.contains("last downgrade"), "the last run is the downgrade: {page}");

    ok(&strata(&t.url, &["migrate", "up"]));
    let page = overview(&mut b).await;
    assert!(page.contains(&format!("0 pending of {}", *MIGRATIONS)) && page.contains("last upgrade"), "{page}");

    // A hand edit of alembic_version alone (no log row, no applied row changes).
    let db = t.connect().await;
    exec(&db, &format!("UPDATE alembic_version SET version_num = '{before_head}'")).await;
    let page = overview(&mut b).await;
    assert!(page.contains(&format!(">{before_head}<")), "the edited head shows at once: {page}");
    exec(&db, &format!("UPDATE alembic_version SET version_num = '{}'", *HEAD)).await;
    let page = overview(&mut b).await;
    assert!(page.contains(&format!(">{}<", *HEAD)), "{page}");

    // A rollback left `running` by a runner that died: dirty, and still dirty on the next requests (its state
    // depends on the migration lock, which no table shows, so it is read every time).
    let last = &set.entries()[set.len() - 1];
    let dead = entity::migrations_log::ActiveModel {
        revision: Set(last.revision.clone()),
        name: Set(last.name.clone()),
        action: Set("downgrade".into()),
        started_at: Set(chrono::Utc::now()),
        actor: Set("a runner that died".into()),
        status: Set("running".into()),
        ..Default::default()
    };
    dead.insert(&db).await.unwrap();
    for _ in 0..2 {
        let page = overview(&mut b).await;
        assert!(page.contains("1 failed") && page.contains("badge-running"), "the dead run shows: {page}");
    }
    exec(&db, "DELETE FROM migrations_log WHERE status = 'running'").await;
    let page = overview(&mut b).await;
    assert!(!page.contains("1 failed"), "the dead attempt is gone: {page}");
    db.close().await.ok();
    t.drop().await;
}

async fn kept_while_unchanged(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let b = Browser::new(&t.url).await;
    let w = watched(&b.state);
    let set = &b.state.migrations;
    let limit = Duration::from_secs(10);
    let first = migration_state::of(&w, set, limit).await.unwrap();
    let again = migration_state::of(&w, set, limit).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "nothing changed: the kept state is reused");
    // The same as the direct reads.
    let status = strata::migrate::status(&w.db, set).await.unwrap();
    assert_eq!(first.status.len(), status.len());
    assert!(first.status.iter().zip(&status).all(|(a, b)| a.revision == b.revision && a.state == b.state));
    assert_eq!(first.head, strata::migrate::current(&w.db).await.unwrap());
    assert_eq!(first.last_run, strata::migrate::history(&w.db, 1, None).await.unwrap().into_iter().next());
    assert_eq!(first.log, strata::migrate::history(&w.db, migration_state::LOG_ROWS, Some("success")).await.unwrap());

    // A stamp from another process changes alembic_version and writes a log row: read anew.
    let before_head = set.entries()[set.len() - 2].revision.clone();
    ok(&strata(&t.url, &["migrate", "stamp", &before_head]));
    let after = migration_state::of(&w, set, limit).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &after), "the stamp is seen");
    assert_eq!(after.head.as_deref(), Some(before_head.as_str()));
    assert_eq!(after.status.iter().filter(|m| !m.applied).count(), 1);
    let kept = migration_state::of(&w, set, limit).await.unwrap();
    assert!(Arc::ptr_eq(&after, &kept));

    // A hand edit of seaql_migrations alone.
    let db = t.connect().await;
    exec(&db, "UPDATE seaql_migrations SET applied_at = applied_at + 1").await;
    let edited = migration_state::of(&w, set, limit).await.unwrap();
    assert!(!Arc::ptr_eq(&kept, &edited), "the edited applied_at is seen");
    db.close().await.ok();
    t.drop().await;
}
