//! Several `strata serve` processes on one PostgreSQL home database: they start together, and share accounts,
//! sessions (a sign-in on one is valid on the others), query history, the watch list and the login throttle.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::chrome::free_port;
use common::http::Visitor;
use common::{Kind, TestDb, count, ok, strata, strata_cmd};

const PASSWORD: &str = "instances-admin-password";

/// A `strata serve`, killed when the test ends.
struct Instance(std::process::Child);

impl Drop for Instance {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn start(t: &TestDb, port: u16) -> Instance {
    let child = strata_cmd(&t.url, &["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("STRATA_ADMIN_PASSWORD", PASSWORD)
        .env("STRATA_COOKIE_SECURE", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start strata serve");
    Instance(child)
}

async fn until_ready(port: u16) {
    let started = Instant::now();
    let mut v = Visitor::new(port);
    while !v.send("GET", "/readyz", None).await.is_ok_and(|r| r.status == 200) {
        assert!(started.elapsed() < Duration::from_secs(60), "the instance on {port} never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_on_one_postgres_home_share_sign_ins_history_the_watch_list_and_the_throttle() {
    let t = TestDb::new(Kind::Postgres).await;
    assert!(t.home_url.starts_with("postgres"), "the home is a PostgreSQL database: {}", t.home_url);
    ok(&strata(&t.url, &["migrate", "up"]));
    // All three start at once: the home migrations and the first admin are made exactly once.
    let ports = [free_port(), free_port(), free_port()];
    let _servers: Vec<Instance> = ports.iter().map(|p| start(&t, *p)).collect();
    for p in ports {
        until_ready(p).await;
    }
    let home = t.connect_home().await;
    assert_eq!(count(&home, "SELECT count(*) FROM admin_users").await, 1, "one first admin, not three");

    // A sign-in on the first instance is a session on the others.
    let mut first = Visitor::new(ports[0]);
    let signed = first.sign_in("admin", PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    for p in &ports[1..] {
        let page = first.at(*p).get("/db/app").await;
        assert_eq!(page.status, 200, "signed in on {p} too: {}", page.body);
    }

    // A query run on the second is in the history the third shows.
    let mut second = first.at(ports[1]);
    second.get("/db/app/query").await;
    let ran = second.post("/db/app/query", &[("sql", "SELECT 4242 AS shared_marker")]).await;
    assert_eq!(ran.status, 200);
    // Its rows are written beside the answer: another instance shows them a moment later.
    let mut history = first.at(ports[2]).get("/history").await;
    for _ in 0..50 {
        if history.body.contains("shared_marker") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        history = first.at(ports[2]).get("/history").await;
    }
    assert!(history.body.contains("shared_marker"), "{}", history.body);

    // A database added on the third is watched by the first (its fleet page reads the shared list).
    let extra = TestDb::new(Kind::Sqlite).await;
    common::exec(&extra.connect().await, "CREATE TABLE extra_things (id INTEGER PRIMARY KEY)").await;
    let mut third = first.at(ports[2]);
    third.get("/databases").await;
    let added = third.post("/databases", &[("name", "extra"), ("url", &extra.url), ("group", "")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let fleet = first.at(ports[1]).get("/").await;
    assert!(fleet.body.contains("id=\"db-extra\""), "the second instance's fleet shows it: {}", fleet.body);
    let listed = first.get("/databases").await;
    assert!(listed.body.contains("/db/extra"), "{}", listed.body);
    assert_eq!(first.get("/db/extra").await.status, 200);

    // Five wrong passwords spread over the three instances lock the account everywhere, as five on one would.
    for (i, p) in [ports[0], ports[1], ports[2], ports[0], ports[1]].iter().enumerate() {
        let refused = Visitor::new(*p).sign_in("admin", "wrong password").await;
        assert_eq!(refused.status, 401, "failure {} on {p}", i + 1);
    }
    for p in ports {
        let locked = Visitor::new(p).sign_in("admin", PASSWORD).await;
        assert_eq!(locked.status, 429, "the right password on {p} is refused while the account is locked");
        assert!(locked.header("retry-after").is_some());
    }
    t.drop().await;
}
