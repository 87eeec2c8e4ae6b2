//! An admin rolls a migration back from the Migrations page in real headless Chromium: the preview's SQL, the
//! database's name typed to confirm, the run followed live by the page's script until it shows the outcome.

mod common;

use std::time::Duration;

use common::chrome::*;
use common::*;
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_previews_confirms_and_applies_a_rollback_in_chromium() {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let (_server, base) = serve(&t.url).await;
    let (_driver, c) = chromium().await;
    sign_in(&c, &base).await;

    c.goto(&format!("{base}/db/{APP}/migrations")).await.unwrap();
    let form = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("migrate-form")).await;
    form.expect("admins get the migrate form");
    c.find(Locator::Css("#migrate-action option[value=down]")).await.unwrap().click().await.unwrap();
    c.find(Locator::Id("migrate-n")).await.unwrap().send_keys("1").await.unwrap();
    click_to(&c, "#migrate-preview", &format!("/db/{APP}/migrations/preview")).await;
    let sql = text_of(&c, "#preview-sql").await;
    assert!(sql.contains("DROP TABLE") && sql.contains("alembic_version"), "{sql}");
    assert!(text_of(&c, "#confirm-why").await.contains("Type the database's name"));
    snap(&c, "migrations_preview").await;

    // The name typed wrong is refused and nothing runs; typed right, the run starts.
    c.find(Locator::Id("confirm")).await.unwrap().send_keys("prod").await.unwrap();
    c.find(Locator::Id("apply")).await.unwrap().click().await.unwrap();
    until(&c, "the refusal", "return document.body.innerText.includes('nothing was run')").await;
    c.back().await.unwrap();
    let confirm = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("confirm")).await.unwrap();
    confirm.clear().await.unwrap();
    confirm.send_keys(APP).await.unwrap();
    c.find(Locator::Id("apply")).await.unwrap().click().await.unwrap();
    until(&c, "the run page", "return location.pathname.includes('/migrations/runs/')").await;
    // The script follows the run until it has ended, then the page shows the outcome.
    until(&c, "the run succeeds", "return document.getElementById('run-state')?.textContent === 'succeeded'").await;
    let steps = text_of(&c, "#run-steps").await;
    assert!(steps.contains(&*HEAD) && steps.contains("succeeded"), "{steps}");
    snap(&c, "migrations_run").await;

    let check = t.connect().await;
    assert!(!has_table(&check, "posts").await, "the newest migration was rolled back");
    let actors = column(&check, "SELECT actor FROM migrations_log WHERE action = 'downgrade'").await;
    assert_eq!(actors, vec!["admin".to_string()]);
    c.close().await.ok();
    check.close().await.ok();
    t.drop().await;
}
