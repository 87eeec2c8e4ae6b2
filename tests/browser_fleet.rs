//! A DBA watching five databases of all three engines (and one that accepts connections and never answers) in
//! real headless Chromium: the fleet page, switching between databases, one PostgreSQL server stopped mid-test
//! (a private cluster, never the shared one) and started again — the others keep working, its pages say it is
//! unreachable, then recover by themselves.

mod common;

use std::time::Duration;

use common::chrome::*;
use common::cluster::PrivateCluster;
use common::*;
use fantoccini::{Client, Locator};

/// A port that accepts connections and never says a word (a hung server, a black-holed proxy).
async fn silent_port() -> (tokio::task::JoinHandle<()>, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (task, port)
}

/// Reloads `path` until the page's text contains `wanted` (at most 30 s); returns the page source.
async fn until_page_says(c: &Client, base: &str, path: &str, wanted: &str) -> String {
    for _ in 0..120 {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let html = c.source().await.unwrap();
        if html.contains(wanted) {
            return html;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{path} never said {wanted:?}:\n{}", c.source().await.unwrap());
}

/// The fleet card of `name`, as text.
async fn card(c: &Client, name: &str) -> String {
    c.find(Locator::Css(&format!("#db-{name}")))
        .await
        .unwrap_or_else(|e| panic!("card {name}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn five_databases_of_three_engines_in_one_dashboard_and_one_goes_down_and_comes_back() {
    let pg = TestDb::new(Kind::Postgres).await;
    ok(&strata(&pg.url, &["migrate", "up"]));
    let maria = TestDb::new(Kind::MySql).await;
    exec(&maria.connect().await, "CREATE TABLE crm_contacts (id INT PRIMARY KEY, email VARCHAR(200))").await;
    let lite = TestDb::new(Kind::Sqlite).await;
    exec(&lite.connect().await, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)").await;
    let archive = TestDb::new(Kind::Sqlite).await;
    exec(&archive.connect().await, "CREATE TABLE old_orders (id INTEGER PRIMARY KEY)").await;
    let private = PrivateCluster::start();
    let (_silent, silent) = silent_port().await;

    let watch = [
        format!("crm={}", maria.url),
        format!("notes={}", lite.url),
        format!("archive={}", archive.url),
        format!("reports={}", private.url("postgres")),
        format!("stuck=postgresql://postgres@127.0.0.1:{silent}/stuck"),
    ];
    let mut args = Vec::new();
    for w in &watch {
        args.extend(["--watch", w.as_str()]);
    }
    let (_server, base) = serve_with(&pg.url, &args).await;
    let (_driver, c) = chromium().await;
    sign_in(&c, &base).await;
    assert_eq!(text_of(&c, "h1").await, "Fleet");

    // Every database has a card; the ones that answer show their engine and version, the silent one says why not.
    let fleet = until_page_says(&c, &base, "/", "Unreachable").await;
    for name in ["app", "crm", "notes", "archive", "reports", "stuck"] {
        assert!(fleet.contains(&format!("id=\"db-{name}\"")), "a card for {name}");
    }
    for (name, engine) in [("app", "postgresql"), ("crm", "mysql"), ("notes", "sqlite"), ("reports", "postgresql")] {
        let text = card(&c, name).await;
        assert!(text.to_lowercase().contains(engine) && text.contains("Version"), "{name}: {text}");
    }
    assert!(card(&c, "stuck").await.contains("Unreachable"), "{}", card(&c, "stuck").await);
    snap(&c, "fleet-01-six-databases").await;

    // Switching: each database's overview, and the switcher in the navigation leads from one to the other.
    for name in ["app", "crm", "notes", "reports"] {
        c.goto(&format!("{base}/db/{name}")).await.unwrap();
        assert_eq!(text_of(&c, "main h1").await, "Overview", "{name}");
        assert_eq!(text_of(&c, "details.switcher summary").await, name);
    }
    c.find(Locator::Css("details.switcher summary")).await.unwrap().click().await.unwrap();
    snap(&c, "fleet-02-switcher-open").await;
    click_to(&c, "details.switcher a[href='/db/crm']", "/db/crm").await;
    c.goto(&format!("{base}/db/crm/tables")).await.unwrap();
    assert!(c.source().await.unwrap().contains("crm_contacts"), "crm's own tables");
    c.goto(&format!("{base}/db/notes/tables")).await.unwrap();
    assert!(c.source().await.unwrap().contains("notes"), "notes' own tables");
    snap(&c, "fleet-03-sqlite-tables").await;

    // The private server stops: its pages say so (with since when), the others go on working.
    c.goto(&format!("{base}/db/reports/tables")).await.unwrap();
    private.stop();
    let down = until_page_says(&c, &base, "/db/reports", "unreachable since").await;
    assert!(down.contains("reports"), "{down}");
    snap(&c, "fleet-04-reports-unreachable").await;
    for name in ["app", "crm", "notes"] {
        c.goto(&format!("{base}/db/{name}/tables")).await.unwrap();
        let heading = text_of(&c, "main h1").await;
        assert!(heading.starts_with("Tables"), "{name} still works: {heading}");
    }
    // The fleet shows its kept cards at once and reads stale ones again in the background: within a few looks the
    // stopped server's card says so.
    let mut said = String::new();
    for _ in 0..120 {
        c.goto(&format!("{base}/")).await.unwrap();
        said = card(&c, "reports").await;
        if said.contains("Unreachable") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(said.contains("Unreachable"), "{said}");
    assert!(card(&c, "crm").await.contains("Version"), "crm is unaffected");
    snap(&c, "fleet-05-one-down").await;

    // It comes back: its pages recover by themselves.
    private.resume();
    until_page_says(&c, &base, "/db/reports", "Database size").await;
    assert_eq!(text_of(&c, "main h1").await, "Overview");
    snap(&c, "fleet-06-reports-back").await;

    c.close().await.ok();
    pg.drop().await;
    maria.drop().await;
}
