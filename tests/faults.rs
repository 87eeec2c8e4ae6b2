//! Faults of the database under a real `strata serve`: a PostgreSQL server with the home and the watched database
//! on it that goes down and comes back (a private cluster this test starts and stops, never the machine's shared
//! one), and a SQLite home file that is read-only or on a full disk. Plain HTTP over loopback, each request with a
//! client timeout.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::chrome::{free_port, wait_for_port};
use common::cluster::PrivateCluster;
use common::http::{Reply, Visitor};
use common::{exec, ok, strata};

/// What "answers quickly" means here: the server answers within 1 s, plus slack for a loaded machine.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(1500);
const PASSWORD: &str = "faults-test-password-1";

/// A visitor whose every request must be answered within [`CLIENT_TIMEOUT`].
fn timed_visitor(port: u16) -> Visitor {
    let mut v = Visitor::new(port);
    v.timeout = CLIENT_TIMEOUT;
    v
}

/// Signs in as `admin` through the login form; panics unless it redirects to `/`.
async fn sign_in(v: &mut Visitor) {
    let reply = v.sign_in("admin", PASSWORD).await;
    assert_eq!(reply.status, 303, "sign-in: {}", reply.body);
    assert_eq!(reply.header("location"), Some("/"));
}

/// A `strata serve` child, killed when the test ends however it ends; its log is kept for failure messages.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Serves `url` (the project database, watched as `app`) with its state in `home`; `as_nobody` runs it as
    /// `nobody` (root ignores file permissions).
    async fn start(url: &str, home: &str, as_nobody: bool, log_dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let log = log_dir.join(format!("serve-{port}.log"));
        let mut cmd = if as_nobody {
            // setpriv execs the server itself, so killing the child kills the server.
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", env!("CARGO_BIN_EXE_strata")]);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_strata"))
        };
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("DATABASE_URL", url)
            .env("STRATA_WATCH_APP", url)
            .env("STRATA_HOME_URL", home)
            .env("STRATA_ADMIN_PASSWORD", PASSWORD)
            .env("STRATA_COOKIE_SECURE", "false")
            .env_remove("STRATA_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("server log"));
        let child = cmd.spawn().expect("start strata serve");
        let server = Server { child, port, log };
        wait_for_port(port, "strata serve").await;
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Runs a command to completion, panicking with its output when it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// Sends `GET path` every 200 ms for at most `limit` until `wanted` holds for the answer.
async fn poll(v: &mut Visitor, path: &str, limit: Duration, wanted: impl Fn(&Reply) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if v.send("GET", path, None).await.is_ok_and(|r| wanted(&r)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// While PostgreSQL (the home database and the watched one) is down, pages, the API, sign-in and `/readyz` answer
/// 503 within the client timeout, naming the cause with the password masked; `/healthz` stays 200; once it is back
/// the same session works.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_is_down_gets_a_quick_503_and_recovers_by_itself() {
    let pg = PrivateCluster::start();
    // Trust authentication ignores the password: it is there to prove it is never shown.
    let url = format!("postgresql://postgres:not-shown-pw@127.0.0.1:{}/postgres", pg.port);
    let server_db = sea_orm::Database::connect(url.as_str()).await.expect("the private cluster answers");
    exec(&server_db, "CREATE DATABASE strata_home").await;
    server_db.close().await.ok();
    let home = format!("postgresql://postgres:not-shown-pw@127.0.0.1:{}/strata_home", pg.port);
    ok(&strata(&url, &["migrate", "up"]));
    let server = Server::start(&url, &home, false, pg.dir(), &[]).await;
    let mut admin = timed_visitor(server.port);
    sign_in(&mut admin).await;
    assert_eq!(admin.get("/").await.status, 200);
    let session = admin.cookie.clone();

    pg.stop();
    let mut probe = timed_visitor(server.port);
    let known = poll(&mut probe, "/readyz", Duration::from_secs(10), |r| r.status == 503).await;
    assert!(known, "/readyz never answered 503 within {CLIENT_TIMEOUT:?}:\n{}", server.log());

    let ready = probe.send("GET", "/readyz", None).await.expect("/readyz answers quickly");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("database unreachable") && ready.body.contains("since"), "{}", ready.body);
    let page = admin.send("GET", "/", None).await.expect("a page answers quickly");
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("unreachable since"), "{}", page.body);
    assert!(page.body.contains(&format!("127.0.0.1:{}", pg.port)), "the page names the database: {}", page.body);
    assert!(page.body.contains(r#"http-equiv="refresh""#), "the page retries by itself: {}", page.body);
    assert!(!page.body.contains("not-shown-pw"), "{}", page.body);
    let api = probe.send("GET", "/api/v1/databases/app/tables", None).await.expect("the API answers quickly");
    assert_eq!(api.status, 503, "{}", api.body);
    assert!(api.header("content-type").is_some_and(|v| v.starts_with("application/json")), "{api:?}");
    assert!(api.body.contains(r#""code":"unavailable""#), "{}", api.body);
    let mut stranger = timed_visitor(server.port);
    let login = stranger.send("GET", "/login", None).await.expect("the login page answers quickly");
    assert_eq!(login.status, 503, "no sign-in while down: {}", login.body);
    let posted = stranger
        .send("POST", "/login", Some(&format!("username=admin&password={PASSWORD}&_csrf=x")))
        .await
        .expect("a sign-in answers quickly");
    assert_eq!(posted.status, 503, "{}", posted.body);
    assert_eq!(probe.get("/healthz").await.status, 200);

    pg.resume();
    let back = poll(&mut admin, "/db/app", Duration::from_secs(15), |r| {
        r.status == 200 && r.body.contains("<h1>Overview</h1>")
    })
    .await;
    assert!(back, "the pages did not come back by themselves:\n{}", server.log());
    assert_eq!(admin.cookie, session, "the same session, still signed in");
    assert_eq!(probe.get("/readyz").await.status, 200);
}

/// A SQLite home database prepared as `nobody` (the server runs as nobody, since root ignores file permissions),
/// and the project database it watches, in a folder of its own.
struct NobodyHome {
    dir: tempfile::TempDir,
    path: PathBuf,
    url: String,
    project_url: String,
}

impl NobodyHome {
    /// Migrated, with the admin account, in `folder` (a fresh temp dir when `None`); the project database, migrated,
    /// in a fresh temp dir.
    fn new(folder: Option<PathBuf>) -> NobodyHome {
        let dir = tempfile::tempdir().expect("temp dir");
        let folder = folder.unwrap_or_else(|| dir.path().to_path_buf());
        run(Command::new("chown").arg("nobody:nogroup").arg(dir.path()).arg(&folder));
        let path = folder.join("strata.db");
        let url = format!("sqlite:///{}", path.display());
        let project_url = format!("sqlite:///{}", dir.path().join("app.db").display());
        let as_nobody = |args: &[&str]| {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", env!("CARGO_BIN_EXE_strata")])
                .args(args)
                .env("DATABASE_URL", &project_url)
                .env("STRATA_HOME_URL", &url)
                .env_remove("STRATA_CONFIG")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c
        };
        run(&mut as_nobody(&["migrate", "up"]));
        let mut create =
            as_nobody(&["user", "create", "--username", "admin", "--email", "a@example.com", "--role", "admin"]);
        let mut child = create.arg("--password-stdin").spawn().expect("user create");
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        NobodyHome { dir, path, url, project_url }
    }

    /// The database file and its WAL companions, whichever exist.
    fn files(&self) -> Vec<PathBuf> {
        ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| PathBuf::from(format!("{}{suffix}", self.path.display())))
            .filter(|p| p.exists())
            .collect()
    }
}

/// A read-only home database gives a 503 naming the file for the login page and for a sign-in (never a 500 or a
/// bare 403); once the file is writable again, signing in works without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_home_file_gives_a_503_naming_it_and_sign_in_works_once_fixed() {
    let home = NobodyHome::new(None);
    // Owned by root and read-only: nobody cannot write it. The folder stays writable, as WAL mode needs for
    // its -wal and -shm files (without that, `serve` refuses to start, naming the read-only database).
    run(Command::new("chown").arg("root").arg(&home.path));
    run(Command::new("chmod").arg("0444").arg(&home.path));
    let server = Server::start(&home.project_url, &home.url, true, home.dir.path(), &["--no-migrate"]).await;
    let cause = format!("Strata cannot write to its database: {} is read-only", home.path.display());

    let mut visitor = timed_visitor(server.port);
    let form = visitor.get("/login").await;
    assert_eq!(form.status, 503, "{}\n{}", form.body, server.log());
    assert!(form.body.contains(&cause), "{}", form.body);
    let posted =
        visitor.send("POST", "/login", Some(&format!("username=admin&password={PASSWORD}&_csrf=none"))).await.unwrap();
    assert_eq!(posted.status, 503, "a sign-in names the cause, not a CSRF failure: {}", posted.body);
    assert!(posted.body.contains(&cause), "{}", posted.body);

    for file in home.files() {
        run(Command::new("chown").arg("nobody").arg(&file));
        run(Command::new("chmod").arg("0644").arg(&file));
    }
    let mut visitor = timed_visitor(server.port);
    sign_in(&mut visitor).await;
    let page = visitor.get("/").await;
    assert_eq!(page.status, 200, "{}\n{}", page.body, server.log());
}

/// A tmpfs of its own, unmounted when the test ends: a disk that really fills up.
struct SmallDisk {
    mount: PathBuf,
}

impl SmallDisk {
    fn new(at: &Path) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        run(Command::new("mount").args(["-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs"]).arg(at));
        SmallDisk { mount: at.to_path_buf() }
    }

    /// Writes a filler file until the disk has no space left.
    fn fill(&self) -> PathBuf {
        let filler = self.mount.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match f.write_all(&chunk).and_then(|_| f.sync_all()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).output();
    }
}

/// A full disk under the home database gives a 503 that says so for the login page; once space is freed,
/// signing in works without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_gives_a_503_saying_so_and_sign_in_works_once_space_is_freed() {
    let outer = tempfile::tempdir().unwrap();
    let disk = SmallDisk::new(&outer.path().join("disk"));
    let home = NobodyHome::new(Some(disk.mount.clone()));
    let server = Server::start(&home.project_url, &home.url, true, outer.path(), &[]).await;
    let filler = disk.fill();

    let mut visitor = timed_visitor(server.port);
    let form = visitor.get("/login").await;
    assert_eq!(form.status, 503, "{}\n{}", form.body, server.log());
    assert!(form.body.contains("Strata cannot write to its database: disk full"), "{}", form.body);
    assert!(form.body.contains(&home.path.display().to_string()), "{}", form.body);

    std::fs::remove_file(&filler).unwrap();
    let mut visitor = timed_visitor(server.port);
    sign_in(&mut visitor).await;
    let page = visitor.get("/").await;
    assert_eq!(page.status, 200, "{}\n{}", page.body, server.log());
    drop(server);
}
