//! What the benchmarks share: a `strata serve` child process, a keep-alive HTTP client that signs in through the
//! real form, PostgreSQL through `psql` with throw-away databases, and medians.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use strata::config::watch::{WATCH_ENV_PREFIX, name_from_url};
use strata::config::{DatabaseUrl, mask_url_str};

pub type Result<T> = std::result::Result<T, String>;

/// What a page says when one of its catalog reads hit `catalog_timeout` (`web::catalog::timeout_note`).
pub const TIMEOUT_NOTE: &str = "did not answer this catalog read";

/// The first admin `strata serve` creates in an empty database (`accounts::ensure_admin`).
pub const ADMIN_USER: &str = "admin";
/// The password the servers started here give that admin (`STRATA_ADMIN_PASSWORD`).
pub const ADMIN_PASSWORD: &str = "bench-admin-password";
/// The variable that names Strata's home database (`home_url`).
pub const HOME_ENV: &str = "STRATA_HOME_URL";
/// The session cookie (`web::session::COOKIE_NAME`).
pub const COOKIE_NAME: &str = "strata_session";

/// A whole number from the environment, or `default` when unset.
pub fn env_usize(key: &str, default: usize) -> Result<usize> {
    match std::env::var(key) {
        Ok(v) => v.trim().parse().map_err(|_| format!("{key}={v:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The `strata` binary under test: next to the running benchmark, built by the same `cargo build --release`.
pub fn strata_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let dir = exe.parent().ok_or("this executable has no parent directory")?;
    let strata = dir.join(format!("strata{}", std::env::consts::EXE_SUFFIX));
    if !strata.is_file() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p strata -p strata-bench` (or run bench/*.sh)",
            strata.display()
        ));
    }
    Ok(strata)
}

/// How a report marks a target.
pub fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

/// RSS under load counts as flat when the last sample is within this share of the first one...
pub const FLAT_SHARE: f64 = 0.10;
/// ...or within this many MiB, whichever is larger.
pub const FLAT_MIB: f64 = 2.0;

/// Whether memory stayed flat from `first` to `last` (MiB) by the rule above.
pub fn rss_flat(first: f64, last: f64) -> bool {
    last - first <= (first * FLAT_SHARE).max(FLAT_MIB)
}

pub fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The median (mean of the middle two for an even count) or, for other shares, the nearest-rank percentile.
pub fn percentile(values: &[f64], share: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if share == 0.5 {
        let mid = v.len() / 2;
        return if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
    }
    let rank = ((share * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

// ---------------------------------------------------------------------------------------------------------------
// The server under test

/// A `strata serve` child process on a free loopback port, stopped with SIGINT (its graceful shutdown).
pub struct Server {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub log: PathBuf,
    /// Its home database (Strata's own state: accounts, sessions, keys, history, audit), for CLI commands that
    /// must see the same accounts (`strata key create --home-url`).
    pub home_url: String,
    /// The project database's name: its pages are under `/db/{db_name}`, its API under
    /// `/api/v1/databases/{db_name}`.
    pub db_name: String,
    /// The throw-away folder of the home database: its fields drop after `Drop` stopped the server.
    _home_dir: Option<TempDir>,
}

impl Server {
    /// `url` None: the SQLite default, with `cwd` as the working directory.
    pub fn start(strata: &Path, url: Option<&str>, cwd: Option<&Path>) -> Result<Server> {
        Server::start_with(strata, url, cwd, &[])
    }

    /// [`Server::start`] with extra environment variables (settings such as `STRATA_QUERY_TIMEOUT`,
    /// `STRATA_WATCH_<NAME>` for more watched databases, or `STRATA_HOME_URL` for a home of the caller's).
    ///
    /// Unless `env` names a home or `cwd` is given (a throw-away folder whose `./data/strata.db` is the default
    /// home), the server gets a home of its own: a SQLite file in a temp folder that goes with the server, so no
    /// benchmark shares accounts, sessions or history with another or with a developer's `./data`.
    pub fn start_with(strata: &Path, url: Option<&str>, cwd: Option<&Path>, env: &[(&str, &str)]) -> Result<Server> {
        let addr = free_port()?;
        let tag = format!("{}-{}", std::process::id(), addr.port());
        let log = std::env::temp_dir().join(format!("strata-bench-{tag}.log"));
        let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let (home_dir, home_url) = match (env.iter().find(|(k, _)| *k == HOME_ENV), cwd) {
            (Some((_, given)), _) => (None, given.to_string()),
            (None, Some(dir)) => (None, sqlite_url(&dir.join("data/strata.db"))),
            (None, None) => {
                let dir = TempDir::new(&format!("strata-bench-home-{tag}"))?;
                let url = sqlite_url(&dir.path().join("strata.db"));
                (Some(dir), url)
            }
        };
        let project = match url {
            Some(u) => DatabaseUrl::parse(u).map_err(|e| format!("{}: {e}", mask_url_str(u)))?,
            None => DatabaseUrl::default_sqlite(),
        };
        let mut cmd = Command::new(strata);
        cmd.env_remove("DATABASE_URL")
            .env_remove("STRATA_CONFIG")
            .env_remove(HOME_ENV)
            .env("STRATA_LISTEN", addr.to_string())
            .env("STRATA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("STRATA_COOKIE_SECURE", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        // Only the databases the benchmark names are watched.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with(WATCH_ENV_PREFIX)) {
                cmd.env_remove(key);
            }
        }
        if cwd.is_none() {
            cmd.env(HOME_ENV, &home_url);
        }
        cmd.envs(env.iter().copied());
        if let Some(url) = url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.arg("serve");
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        } else {
            // No ./alembic.ini can creep in from wherever the benchmark was started.
            cmd.current_dir(std::env::temp_dir());
        }
        let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", strata.display()))?;
        // The project database joins a `STRATA_WATCH_<NAME>` entry with the same URL and takes its name.
        let db_name = env
            .iter()
            .find(|(k, v)| k.starts_with(WATCH_ENV_PREFIX) && Some(*v) == url)
            .map(|(k, _)| k[WATCH_ENV_PREFIX.len()..].to_lowercase())
            .unwrap_or_else(|| name_from_url(&project));
        Ok(Server { child: Some(child), addr, log, home_url, db_name, _home_dir: home_dir })
    }

    /// A path under the project database's pages: `db_path("/tables")` is `/db/{name}/tables`.
    pub fn db_path(&self, rest: &str) -> String {
        format!("/db/{}{rest}", self.db_name)
    }

    /// A path under the project database's API: `api_path("/overview")` is `/api/v1/databases/{name}/overview`.
    pub fn api_path(&self, rest: &str) -> String {
        format!("/api/v1/databases/{}{rest}", self.db_name)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Polls `/healthz` on a new connection each time until it answers 200.
    pub async fn wait_ready(&self, limit: Duration) -> Result<()> {
        let t0 = Instant::now();
        loop {
            if let Ok(mut c) = Client::connect(self.addr, None).await
                && let Ok(res) = c.get("/healthz").await
                && res.status == StatusCode::OK
            {
                return Ok(());
            }
            if t0.elapsed() > limit || !self.running() {
                return Err(format!(
                    "strata serve did not become ready on {} within {limit:?}; its log:\n{}",
                    self.addr,
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn running(&self) -> bool {
        std::fs::metadata(format!("/proc/{}", self.pid())).is_ok()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
                .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
    }

    /// A line of `/proc/<pid>/status` such as `VmRSS:` in MiB.
    pub fn status_mib(&self, key: &str) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .map_err(|e| format!("cannot read the server's /proc status: {e}"))?;
        let line = status.lines().find(|l| l.starts_with(key)).ok_or_else(|| format!("no {key} in /proc status"))?;
        let kib: f64 = line[key.len()..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("cannot read {line:?}"))?;
        Ok(kib / 1024.0)
    }

    /// Resets the peak-RSS counter (`VmHWM`) so that the next reading is the peak from now on.
    pub fn reset_peak(&self) -> Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .map_err(|e| format!("cannot reset the server's peak RSS: {e}"))
    }

    pub fn rss_mib(&self) -> Result<f64> {
        self.status_mib("VmRSS:")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines the server logged at ERROR level so far.
    pub fn error_lines(&self) -> usize {
        self.log_text().lines().filter(|l| l.contains(" ERROR ")).count()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        mask_url_str(&lines[lines.len().saturating_sub(20)..].join("\n"))
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    pub fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = child.try_wait() {
                let _ = std::fs::remove_file(&self.log);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A loopback address nobody listens on right now (the OS picks the port; the server binds it a moment later).
pub fn free_port() -> Result<SocketAddr> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener.local_addr().map_err(|e| format!("cannot find a free port: {e}"))
}

/// Signs in through the real form: GET /login for the pre-login session and its CSRF token, then POST the form.
/// Returns the new session cookie's value.
pub async fn login(addr: SocketAddr) -> Result<String> {
    let mut client = Client::connect(addr, None).await?;
    let form = client.get("/login").await?;
    if form.status != StatusCode::OK {
        return Err(format!("GET /login answered {}", form.status));
    }
    let body = String::from_utf8_lossy(&form.body);
    let token = hidden_field(&body, "_csrf").ok_or("the login form has no _csrf field")?;
    let pre_login = form.session.clone().ok_or("GET /login set no session cookie")?;
    client.cookie = Some(pre_login.clone());
    let fields = format!("_csrf={token}&next=%2F&username={ADMIN_USER}&password={ADMIN_PASSWORD}");
    let res = client.post_form("/login", fields).await?;
    if res.status != StatusCode::SEE_OTHER {
        return Err(format!("POST /login answered {} (expected 303): {}", res.status, res.snippet()));
    }
    let session = res.session.ok_or("POST /login set no session cookie")?;
    if session == pre_login {
        return Err("the session id was not replaced at sign-in".into());
    }
    Ok(session)
}

/// One GET of a dashboard page, checked the way a person would look at it: status 200, no catalog-timeout note,
/// and `expect` on the page when given. Its time in milliseconds and its body.
pub async fn get_page(client: &mut Client, path: &str, expect: Option<&str>) -> Result<(f64, String)> {
    let t0 = Instant::now();
    let res = client.get(path).await?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    if res.status != StatusCode::OK {
        return Err(format!("GET {path} answered {} (expected 200): {}", res.status, res.snippet()));
    }
    let body = String::from_utf8_lossy(&res.body).into_owned();
    if body.contains(TIMEOUT_NOTE) {
        return Err(format!("GET {path}: a catalog read timed out (catalog_timeout)"));
    }
    if let Some(text) = expect
        && !body.contains(text)
    {
        return Err(format!("GET {path}: the page does not show {text:?}"));
    }
    Ok((ms, body))
}

/// The value of `<input type="hidden" name="NAME" value="...">`.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_end = at + html[at..].find('>')?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..tag_end];
    let value = tag.split("value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_string())
}

// ---------------------------------------------------------------------------------------------------------------
// A keep-alive HTTP/1.1 client on one connection

pub struct Client {
    pub addr: SocketAddr,
    pub sender: http1::SendRequest<Full<Bytes>>,
    /// The `strata_session` cookie value sent with every request.
    pub cookie: Option<String>,
    /// An API key sent as `Authorization: Bearer` with every request.
    pub bearer: Option<String>,
}

/// A response read by [`Client::post_form_counting`].
pub struct Counted {
    pub status: StatusCode,
    pub bytes: u64,
    pub first_ms: f64,
    pub total_ms: f64,
}

pub struct Response {
    pub status: StatusCode,
    /// The `strata_session` value of a `Set-Cookie`, if the response had one.
    pub session: Option<String>,
    pub body: Bytes,
}

impl Response {
    pub fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body).chars().take(300).collect()
    }
}

impl Client {
    pub async fn connect(addr: SocketAddr, cookie: Option<String>) -> Result<Client> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, conn) =
            http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Client { addr, sender, cookie, bearer: None })
    }

    pub async fn get(&mut self, path: &str) -> Result<Response> {
        self.send("GET", path, None).await
    }

    pub async fn post_form(&mut self, path: &str, body: String) -> Result<Response> {
        self.send("POST", path, Some(body)).await
    }

    /// POSTs a form and reads the answer as it streams without keeping it: status, bytes, time to the first
    /// body byte and to the last, in milliseconds.
    pub async fn post_form_counting(&mut self, path: &str, body: String) -> Result<Counted> {
        let t0 = Instant::now();
        let res = self.request("POST", path, Some(body)).await?;
        let status = res.status();
        let mut body = res.into_body();
        let (mut bytes, mut first_ms) = (0u64, None);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("POST {path}: reading the body: {e}"))?;
            if let Some(data) = frame.data_ref() {
                first_ms.get_or_insert_with(|| t0.elapsed().as_secs_f64() * 1000.0);
                bytes += data.len() as u64;
            }
        }
        let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
        Ok(Counted { status, bytes, first_ms: first_ms.unwrap_or(total_ms), total_ms })
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        form: Option<String>,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", self.addr.to_string());
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("{COOKIE_NAME}={c}"));
        }
        if let Some(key) = &self.bearer {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        if form.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req
            .body(Full::new(Bytes::from(form.unwrap_or_default())))
            .map_err(|e| format!("building {method} {path}: {e}"))?;
        self.sender.ready().await.map_err(|e| format!("{method} {path}: connection lost: {e}"))?;
        self.sender.send_request(req).await.map_err(|e| format!("{method} {path}: {e}"))
    }

    pub async fn send(&mut self, method: &str, path: &str, form: Option<String>) -> Result<Response> {
        let res = self.request(method, path, form).await?;
        let status = res.status();
        let prefix = format!("{COOKIE_NAME}=");
        let session = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix(prefix.as_str()))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
            .find(|v| !v.is_empty());
        let body =
            res.into_body().collect().await.map_err(|e| format!("{method} {path}: reading the body: {e}"))?.to_bytes();
        Ok(Response { status, session, body })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL through psql, throw-away database, temp dir

/// The PostgreSQL server, reached through `psql` on the admin URL.
pub struct Pg {
    pub admin_url: String,
    /// The admin URL split around its database name: `postgres://u@h:5432/` + name + `?query`.
    pub base: String,
    pub query: String,
}

/// A server URL split around its database name: `scheme://u@h:port/` and `?query` (or `""`); `None` when it has
/// no `scheme://`.
pub fn split_at_database(url: &str) -> Option<(String, String)> {
    let (no_query, query) = match url.split_once('?') {
        Some((a, q)) => (a, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = no_query.find("://")? + 3;
    let base = match no_query[scheme_end..].find('/') {
        Some(i) => no_query[..scheme_end + i + 1].to_string(),
        None => format!("{no_query}/"),
    };
    Some((base, query))
}

impl Pg {
    pub fn new(admin_url: &str) -> Result<Self> {
        let (base, query) = split_at_database(admin_url)
            .ok_or_else(|| format!("STRATA_BENCH_PG_URL {} is not a postgres:// URL", mask_url_str(admin_url)))?;
        Ok(Pg { admin_url: admin_url.to_string(), base, query })
    }

    pub fn url_for(&self, name: &str) -> String {
        format!("{}{name}{}", self.base, self.query)
    }

    pub fn admin_query(&self, sql: &str) -> Result<String> {
        query(&self.admin_url, sql)
    }
}

/// Runs one statement with `psql` and returns its unaligned output.
pub fn query(url: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start psql: {e}"))?;
    let what = format!("psql -c {:?}", sql.chars().take(80).collect::<String>());
    let out = succeeded(out, &what)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn succeeded(out: std::process::Output, what: &str) -> Result<std::process::Output> {
    if out.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
    Err(format!("{what} failed ({}):\n{}", out.status, mask_url_str(&tail.join("\n"))))
}

/// The fixture database, dropped at the end or, if the run fails, when this guard goes.
pub struct Database<'a> {
    pub pg: &'a Pg,
    pub name: String,
    pub dropped: bool,
}

impl<'a> Database<'a> {
    pub fn create(pg: &'a Pg, name: &str) -> Result<Self> {
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        pg.admin_query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
        pg.admin_query(&format!("CREATE DATABASE \"{name}\""))?;
        Ok(Database { pg, name: name.to_string(), dropped: false })
    }

    pub fn drop_now(mut self) -> Result<()> {
        self.dropped = true;
        self.pg.admin_query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).map(|_| ())
    }
}

impl Drop for Database<'_> {
    fn drop(&mut self) {
        if !self.dropped {
            let _ = self.pg.admin_query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
        }
    }
}

/// The SQLAlchemy-style URL of a SQLite file (`sqlite:////abs/path.db` for an absolute path).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite:///{}", path.display())
}

/// An empty directory under the system temp dir, removed with everything in it when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
