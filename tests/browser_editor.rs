//! The query editor in real headless Chromium: typing with highlighting and completion, Ctrl+Enter, error marks,
//! running a selection, Cancel, leaving the page mid-run, and opening a run again from the history.
//!
//! Screenshots land in `target/screenshots/2*-editor-*.png` to be looked at.

mod common;

use common::chrome::*;
use common::*;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use sea_orm::DatabaseConnection;

/// Replaces the editor's text by typing, as a person would (every key goes through the page's script).
async fn retype(c: &Client, text: &str) {
    let sql = c.find(Locator::Id("sql")).await.unwrap();
    sql.send_keys(&(Key::Control + "a")).await.unwrap();
    sql.send_keys(&Key::Backspace.to_string()).await.unwrap();
    sql.send_keys(text).await.unwrap();
    assert_eq!(editor_text(c).await, text, "the editor holds what was typed");
}

async fn editor_text(c: &Client) -> String {
    let v = c.execute("return document.getElementById('sql').value", vec![]).await.unwrap();
    v.as_str().unwrap().to_string()
}

/// Presses Ctrl+Enter in the editor and waits for the page the run answers with.
async fn run_and_wait(c: &Client) {
    mark_page(c).await;
    let sql = c.find(Locator::Id("sql")).await.unwrap();
    sql.send_keys(&(Key::Control + &Key::Enter)).await.unwrap();
    wait_new_page(c, "the run's result page").await;
}

/// Opens `url` and waits until it has loaded (the session's commands do not wait by themselves).
async fn open(c: &Client, url: &str) {
    mark_page(c).await;
    c.goto(url).await.unwrap();
    wait_new_page(c, url).await;
}

/// Puts `sql` in the editor in the second window and presses Ctrl+Enter there (a key event the page dispatches,
/// which the editor handles like a typed one), flagging that window's page so that its successor can be told apart.
async fn start_in_frame(c: &Client, sql: &str) {
    let js = "const d = window.ed.document, s = d.getElementById('sql');
              s.value = arguments[0];
              s.dispatchEvent(new Event('input'));
              d.documentElement.dataset.old = '1';
              const press = { key: 'Enter', ctrlKey: true, bubbles: true, cancelable: true };
              s.dispatchEvent(new KeyboardEvent('keydown', press));";
    c.execute(js, vec![sql.into()]).await.unwrap();
}

/// Flags the current page, so that [`wait_new_page`] can tell the next one from it.
async fn mark_page(c: &Client) {
    c.execute("document.documentElement.dataset.old = '1'", vec![]).await.unwrap();
}

async fn wait_new_page(c: &Client, what: &str) {
    until(c, what, "return !document.documentElement.dataset.old && document.readyState === 'complete'").await;
}

/// Waits until the server runs a statement whose text starts with `sql` (so that cancelling it means something).
async fn wait_running(db: &DatabaseConnection, sql: &str) {
    let query = format!("SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE '{sql}%' AND state = 'active'");
    eventually(&format!("{sql} runs on the server"), || {
        let (db, query) = (db.clone(), query.clone());
        async move { (count(&db, &query).await > 0).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_writes_runs_cancels_and_reruns_queries_in_the_editor() {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let db = t.connect().await;
    exec(&db, "INSERT INTO users (username, email) VALUES ('ada', 'ada@example.com'), ('grace', 'grace@example.com')")
        .await;
    let (_server, base) = serve(&t.url).await;
    // Commands must not wait for a page in flight: the Cancel button is clicked while the run's page loads.
    let (_driver, c) = chromium_with("none").await;
    sign_in(&c, &base).await;

    // Typing: the names complete from the catalog, tables first; Tab and Enter accept.
    open(&c, &format!("{base}/db/app/query")).await;
    c.find(Locator::Id("sql")).await.unwrap().click().await.unwrap();
    until(&c, "the catalog's names have loaded", "return !!document.querySelector('.code.names-ready')").await;
    let sql = c.find(Locator::Id("sql")).await.unwrap();
    sql.send_keys("SELECT username, email FROM us").await.unwrap();
    let offered = text_of(&c, ".completions:not([hidden]) li.active").await;
    assert!(offered.starts_with("users"), "the table is offered first: {offered}");
    snap(&c, "20-editor-complete-table").await;
    sql.send_keys(&Key::Tab.to_string()).await.unwrap();
    sql.send_keys("\nORDER BY users.").await.unwrap();
    until(
        &c,
        "the columns of users are offered",
        "return document.querySelector('.completions:not([hidden])')?.textContent.includes('email')",
    )
    .await;
    snap(&c, "21-editor-complete-column").await;
    sql.send_keys("usern").await.unwrap();
    sql.send_keys(&Key::Enter.to_string()).await.unwrap();
    let query = "SELECT username, email FROM users\nORDER BY users.username";
    assert_eq!(editor_text(&c).await, query);
    until(&c, "the completion closed", "return document.querySelector('.completions').hidden").await;

    // Highlighting and line numbers follow the text.
    let keywords = c.execute("return [...document.querySelectorAll('.highlight .k')].map(e => e.textContent)", vec![]);
    assert_eq!(keywords.await.unwrap(), serde_json::json!(["SELECT", "FROM", "ORDER", "BY"]));
    assert_eq!(text_of(&c, ".code .gutter").await.split_whitespace().collect::<Vec<_>>(), ["1", "2"]);

    // Ctrl+Enter runs it: the grid.
    run_and_wait(&c).await;
    let grid = text_of(&c, "table.results").await;
    assert!(grid.contains("ada@example.com") && grid.contains("grace@example.com"), "{grid}");
    assert_eq!(editor_text(&c).await.replace("\r\n", "\n"), query, "the editor still holds the query");
    snap(&c, "22-editor-result").await;

    // An error is marked where the database says it is.
    retype(&c, "SELECT 1;\nSELECT * FROM users WHERE WHERE id = 1").await;
    run_and_wait(&c).await;
    let marked =
        until(&c, "the error is marked", "return document.querySelector('.highlight .err')?.textContent").await;
    assert_eq!(marked, "WHERE");
    let line = c.execute("return document.querySelector('.result-error').dataset.line", vec![]).await.unwrap();
    assert_eq!(line, "2");
    snap(&c, "23-editor-error").await;

    // A selection runs alone, and its error is marked in the whole text (after a two-byte character).
    retype(&c, "SELECT 'ü' AS x;\nSELECT nope FROM users").await;
    c.execute(
        "const s = document.getElementById('sql'); s.focus();
         s.setSelectionRange(s.value.indexOf('SELECT nope'), s.value.length)",
        vec![],
    )
    .await
    .unwrap();
    run_and_wait(&c).await;
    let marked =
        until(&c, "the error is marked", "return document.querySelector('.highlight .err')?.textContent").await;
    assert_eq!(marked, "nope");
    assert_eq!(c.find_all(Locator::Css("section.result")).await.unwrap().len(), 1, "only the selection ran");
    assert!(editor_text(&c).await.starts_with("SELECT 'ü' AS x;"), "the whole text stays in the editor");
    snap(&c, "24-editor-selection-error").await;

    // Runs in flight. chromedriver answers no command while the page it drives waits for a navigation (not even
    // with the `none` page load strategy), so the editor runs in a second window this page opened (a frame is
    // refused: the CSP's frame-ancestors 'none') and the test acts from the first, pressing Cancel and leaving the
    // page while the run's answer is still pending.
    open(&c, &format!("{base}/history")).await;
    c.execute("window.ed = window.open('/db/app/query', 'editor', 'width=1280,height=800')", vec![]).await.unwrap();
    until(&c, "the editor loads in its window", "return !!window.ed?.document?.querySelector('.code .highlight')")
        .await;

    // Cancel stops a sleeping run; the page says so.
    start_in_frame(&c, "select pg_sleep(60)").await;
    wait_running(&db, "select pg_sleep(60)").await;
    until(&c, "Cancel shows while the run is in flight", "return !window.ed.document.getElementById('cancel').hidden")
        .await;
    c.execute("window.ed.document.getElementById('cancel').click()", vec![]).await.unwrap();
    let badge = "return !window.ed.document.documentElement.dataset.old && \
                 window.ed.document.querySelector('section.result .badge')?.textContent";
    assert_eq!(until(&c, "the cancelled run's page", badge).await, "cancelled");

    // Leaving the page mid-run cancels it too (the script's beacon), long before the sleep would end.
    start_in_frame(&c, "select pg_sleep(59)").await;
    wait_running(&db, "select pg_sleep(59)").await;
    // A spy on the beacon (the real one still goes out) shows what the page sends as it goes.
    let spy = "const n = window.ed.navigator, send = n.sendBeacon.bind(n);
               n.sendBeacon = (url, body) => { window.beacon = url + ' ' + body; return send(url, body); };";
    c.execute(spy, vec![]).await.unwrap();
    c.execute("window.ed.close()", vec![]).await.unwrap();
    let beacon = until(&c, "the page sent its beacon", "return window.beacon").await;
    assert!(beacon.as_str().unwrap().contains("/cancel _csrf="), "a cancel with the CSRF token: {beacon}");
    let still = "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE 'select pg_sleep(59)%' AND state = 'active'";
    eventually("the abandoned run stops", || {
        let db = db.clone();
        async move { (count(&db, still).await == 0).then_some(()) }
    })
    .await;
    let recorded = "SELECT COUNT(*) FROM query_history WHERE status = 'cancelled' AND query = 'select pg_sleep(59)'";
    let home = t.connect_home().await;
    eventually("the abandoned run is in the history as cancelled", || {
        let home = home.clone();
        async move { (count(&home, recorded).await == 1).then_some(()) }
    })
    .await;

    // The history lists the runs; one opens in the editor and runs again, another reruns straight away.
    open(&c, &format!("{base}/history")).await;
    let cancelled = text_of(&c, "table.history").await;
    assert!(cancelled.contains("select pg_sleep(60)") && cancelled.contains("cancelled"), "{cancelled}");
    snap(&c, "27-editor-history").await;
    let open_link = "(//tr[.//code[contains(., 'ORDER BY users.username')]]//a[contains(., 'Open in editor')])[1]";
    c.find(Locator::XPath(open_link)).await.unwrap().click().await.unwrap();
    until(&c, "the editor opens with the query", "return document.getElementById('sql')?.value.includes('ORDER BY')")
        .await;
    assert_eq!(editor_text(&c).await, query);
    run_and_wait(&c).await;
    assert!(text_of(&c, "table.results").await.contains("ada@example.com"));
    snap(&c, "28-editor-reopened").await;
    open(&c, &format!("{base}/history")).await;
    mark_page(&c).await;
    let again = "(//tr[.//code[contains(., 'ORDER BY users.username')]]//button[contains(., 'Run again')])[1]";
    c.find(Locator::XPath(again)).await.unwrap().click().await.unwrap();
    wait_new_page(&c, "the rerun's result page").await;
    assert!(text_of(&c, "table.results").await.contains("grace@example.com"));
    snap(&c, "29-editor-run-again").await;

    c.close().await.ok();
    t.drop().await;
}
