//! Scheduled backups in `strata serve`: `@every 2s` fires, two instances on one PostgreSQL home database never
//! double a run, another instance takes over when the scheduler's holder stops, and runs missed while Strata was
//! down run once at start; each run is in the audit log as done by `scheduler`. A scheduled restore test runs as the
//! database's background job: the Backups page and its status show it running with its step, bytes and rate.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::chrome::free_port;
use common::http::Visitor;
use common::web::migrate_up;
use common::*;

/// A `strata serve`, killed (no graceful shutdown: its lease is left to expire) when dropped.
struct Instance(Child);

impl Drop for Instance {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn config(t: &TestDb, dir: &Path, schedule: &str) -> PathBuf {
    let ini = dir.join("strata.ini");
    let text =
        format!("[database:app]\nurl = {}\nbackup_dir = {}\nbackup_schedule = {schedule}\n", t.url, dir.display());
    std::fs::write(&ini, text).unwrap();
    ini
}

async fn start(t: &TestDb, ini: &Path) -> Instance {
    start_on(t, ini, free_port()).await
}

async fn start_on(t: &TestDb, ini: &Path, port: u16) -> Instance {
    let child = strata_cmd(&t.url, &["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("STRATA_CONFIG", ini)
        .env("STRATA_ADMIN_PASSWORD", "schedule-admin-password")
        .env("STRATA_COOKIE_SECURE", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start strata serve");
    let started = Instant::now();
    let mut v = Visitor::new(port);
    while !v.send("GET", "/readyz", None).await.is_ok_and(|r| r.status == 200) {
        assert!(started.elapsed() < Duration::from_secs(60), "the instance on {port} never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Instance(child)
}

/// The backup files in the folder (not their sidecars).
fn backups(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("{}_", "strata_t")) && n.ends_with(".gz"))
        .count()
}

/// (scheduled time in ms, instance, outcome) of every scheduled backup run, oldest first.
async fn runs(t: &TestDb) -> Vec<(i64, String, String)> {
    let home = t.connect_home().await;
    let rows = column(
        &home,
        "SELECT CONCAT(CAST(scheduled_at_ms AS TEXT), '|', instance, '|', COALESCE(outcome, 'running')) \
         FROM backup_runs WHERE kind = 'backup' ORDER BY scheduled_at_ms",
    )
    .await;
    home.close().await.ok();
    rows.into_iter()
        .map(|r| {
            let mut parts = r.splitn(3, '|');
            let at = parts.next().unwrap().parse().unwrap();
            (at, parts.next().unwrap().to_string(), parts.next().unwrap().to_string())
        })
        .collect()
}

/// Waits until at least `n` scheduled backups have finished.
async fn finished(t: &TestDb, n: usize) -> Vec<(i64, String, String)> {
    for _ in 0..300 {
        let all = runs(t).await;
        if all.iter().filter(|r| r.2 != "running").count() >= n {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} scheduled backups finished in 30 s: {:?}", runs(t).await);
}

async fn prepared() -> (TestDb, tempfile::TempDir) {
    let t = TestDb::new(Kind::Postgres).await;
    migrate_up(&t).await;
    let dir = tempfile::tempdir().unwrap();
    (t, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_two_seconds_fires_and_each_run_is_audited_as_the_scheduler() {
    let (t, dir) = prepared().await;
    let ini = config(&t, dir.path(), "@every 2s");
    let _one = start(&t, &ini).await;
    let done = finished(&t, 2).await;
    assert!(done.iter().take(2).all(|r| r.2 == "succeeded"), "{done:?}");
    assert_eq!(done[1].0 - done[0].0, 2000, "two seconds apart: {done:?}");
    assert!(backups(dir.path()) >= 2, "the files are there");
    let home = t.connect_home().await;
    let audited = column(
        &home,
        "SELECT detail FROM audit_log WHERE actor = 'scheduler' AND action = 'backup.create' ORDER BY id",
    )
    .await;
    assert!(audited.len() >= 2 && audited[0].contains("succeeded"), "{audited:?}");
    home.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_home_never_double_a_run_and_the_other_takes_over_when_one_stops() {
    let (t, dir) = prepared().await;
    let ini = config(&t, dir.path(), "@every 2s");
    let mut a = Some(start(&t, &ini).await);
    let b = start(&t, &ini).await;
    let before = finished(&t, 3).await;
    let done: Vec<_> = before.iter().filter(|r| r.2 != "running").cloned().collect();
    let holders: std::collections::BTreeSet<&str> = done.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(holders.len(), 1, "one scheduler while both run: {done:?}");
    let times: Vec<i64> = done.iter().map(|r| r.0).collect();
    // Each scheduled time at most once: a run that outlasts the interval (a loaded machine) makes the scheduler
    // skip to the latest due time, never run one twice.
    assert!(
        times.windows(2).all(|w| w[1] > w[0] && (w[1] - w[0]) % 2000 == 0),
        "each scheduled time ran once: {done:?}"
    );
    assert_eq!(backups(dir.path()), before.len(), "one file per run, none doubled");

    // Stop the holder without a goodbye (its lease expires); the other instance carries on.
    let holder = holders.iter().next().unwrap().to_string();
    let a_pid = a.as_ref().unwrap().0.id();
    let holder_is_a = holder.contains(&format!(":{a_pid}:"));
    let survivor_pid = if holder_is_a { b.0.id() } else { a_pid };
    let stopped_at = chrono::Utc::now().timestamp_millis();
    if holder_is_a {
        a.take();
    } else {
        drop(b);
    }
    let taken_over = Instant::now();
    loop {
        let all = runs(&t).await;
        if all.iter().any(|r| r.0 > stopped_at && r.1.contains(&format!(":{survivor_pid}:")) && r.2 == "succeeded") {
            break;
        }
        assert!(taken_over.elapsed() < Duration::from_secs(15), "no takeover: {all:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(a);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_missed_while_strata_was_down_run_once_at_start() {
    let (t, dir) = prepared().await;
    let ini = config(&t, dir.path(), "@every 3s");
    let first = start(&t, &ini).await;
    let done = finished(&t, 1).await;
    drop(first);
    let last = done.iter().map(|r| r.0).max().unwrap();
    // Down for three and more intervals.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let _again = start(&t, &ini).await;
    let all = finished(&t, done.len() + 1).await;
    // The first run after the restart is at the latest due time when it started (how late that is depends on how
    // long the start took): none of the earlier missed times ran.
    let first_after = all.iter().filter(|r| r.0 > last).map(|r| r.0).min().expect("a run after the restart");
    assert_eq!((first_after - last) % 3000, 0, "at a due time: {all:?}");
    assert!(first_after - last >= 9000, "the missed runs collapse into the latest one: {all:?}");
    t.drop().await;
}

/// Waits for the page's job status to satisfy `seen` (polled every 20 ms), or panics with the last status after 60 s.
async fn job_until(v: &mut Visitor, seen: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let reply = v.get("/db/progress/backups/status").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let job: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        if seen(&job) {
            return job;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not seen in 60 s; the job: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_restore_test_shows_its_progress_on_the_backups_page_until_it_is_done() {
    let (t, dir) = prepared().await;
    let db = t.connect().await;
    // Enough rows that restoring them takes a while: the test watches the restore under way.
    exec(&db, "CREATE TABLE bulk (id bigint PRIMARY KEY, body text NOT NULL)").await;
    exec(
        &db,
        "INSERT INTO bulk SELECT g, md5(g::text) || repeat(md5((g * 7)::text), 4) FROM generate_series(1, 300000) g",
    )
    .await;
    db.close().await.ok();
    let out = strata_cmd(&t.url, &["backup", "--dir", dir.path().to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ini = dir.path().join("strata.ini");
    let text = format!(
        "[database:progress]\nurl = {}\nbackup_dir = {}\nrestore_test = @every 2s\nrestore_test_url = {}\n",
        t.url,
        dir.path().display(),
        t.admin_url()
    );
    std::fs::write(&ini, text).unwrap();
    let port = free_port();
    let one = start_on(&t, &ini, port).await;
    let mut v = Visitor::new(port);
    v.timeout = Duration::from_secs(30);
    let signed = v.sign_in("admin", "schedule-admin-password").await;
    assert_eq!(signed.status, 303, "{}", signed.body);

    // Under way: the kind, the file, the step and the bytes restored so far, and the page reloads itself.
    let running =
        job_until(&mut v, |j| j["state"] == "running" && j["step"] == "restore" && j["bytes"].as_u64() > Some(0)).await;
    assert_eq!(running["kind"], "restore_test", "{running}");
    assert_eq!(running["actor"], "scheduler", "{running}");
    assert!(running["file"].as_str().is_some_and(|f| f.ends_with(".sql.gz")), "{running}");
    let line = running["progress"].as_str().unwrap();
    assert!(line.starts_with("restore test: ") && line.contains(" read"), "{running}");
    let page = v.get("/db/progress/backups").await;
    assert_eq!(page.status, 200, "{}", page.body);
    if page.body.contains("Restore-testing") {
        assert!(page.body.contains("http-equiv=\"refresh\""), "a running job reloads the page: {}", page.body);
        assert!(page.body.contains("restore test: "), "with its progress line: {}", page.body);
    } else {
        // It finished between the two requests: the page then names the last one.
        assert!(page.body.contains("Last restore test"), "{}", page.body);
    }

    // Done: a passing test, its summary on the page, the audit entry by the scheduler.
    let done = job_until(&mut v, |j| j["state"] != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let page = v.get("/db/progress/backups").await;
    assert!(page.body.contains("Last restore test") && page.body.contains("passed in"), "{}", page.body);
    let home = t.connect_home().await;
    let audited = column(
        &home,
        "SELECT detail FROM audit_log WHERE actor = 'scheduler' AND action = 'backup.restore_test' ORDER BY id",
    )
    .await;
    assert!(audited.first().is_some_and(|d| d.starts_with("passed in")), "{audited:?}");
    // Runs that fell due while it ran waited for it, instead of being claimed and skipped every 2 s.
    assert!(audited.iter().all(|d| !d.starts_with("skipped")), "{audited:?}");
    home.close().await.ok();
    // Stopped without a goodbye, the instance may leave the scratch database of a test under way: drop it.
    drop(one);
    let admin = sea_orm::Database::connect(t.admin_url()).await.unwrap();
    for name in
        column(&admin, "SELECT datname FROM pg_database WHERE datname LIKE 'strata_restore_test_progress_%'").await
    {
        exec(&admin, &format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await;
    }
    admin.close().await.ok();
    t.drop().await;
}
