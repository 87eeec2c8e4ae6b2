//! `fleet-bench`: Strata watching a fleet of 20 databases (PostgreSQL, MariaDB and SQLite, plus one that accepts
//! connections and never answers): the fleet page against the slowest single database's overview, one database's
//! pages on the fleet server against a server watching it alone, idle memory with 0, 1 and 20 watched databases,
//! and the connections left to the watched databases once `idle_timeout` has passed.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Read;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sea_orm_migration::sea_orm::{ConnectionTrait, Database as Sea, DatabaseConnection, DbBackend, Statement};
use strata::config::mask_url_str;
use strata::watch::fleet::CARD_TTL;
use strata_bench::*;

/// The PostgreSQL admin connection that creates and drops the fleet's databases.
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The MariaDB admin connection, likewise.
const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mysql";
/// Every database and folder this benchmark makes starts with this (`_<pid>_<name>` follows).
const DB_PREFIX: &str = "strata_bench_fleet";
/// The fleet: this many of each engine, and the one that never answers: 20 in all.
const PG_COUNT: usize = 7;
const MYSQL_COUNT: usize = 6;
const SQLITE_COUNT: usize = 6;
/// The name of the database that accepts connections and never answers.
const STUCK: &str = "stuck";
/// `idle_timeout` of every server here, so that the idle check does not take a minute.
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT_SETTING: &str = "2s";
/// Waited beyond `idle_timeout` before the connections are counted again (the pool closes idle ones on a timer).
const IDLE_MARGIN: Duration = Duration::from_secs(5);
/// Waited beyond the fleet's card lifetime, so that every card is read again at the next fleet page.
const STALE_MARGIN: Duration = Duration::from_millis(500);
/// Untimed rounds before the timed ones in the pages comparison.
const WARMUP_ROUNDS: usize = 3;
/// The fleet page (every card read again) within this multiple of the slowest single database's overview.
const FLEET_TARGET: f64 = 1.5;
/// One database's pages on the fleet server within this multiple of a server watching it alone.
const PAGES_TARGET: f64 = 1.1;
/// Idle RSS: at most this many MiB...
const RSS_BASE_MIB: f64 = 20.0;
/// ...plus this many per watched database.
const RSS_PER_DB_MIB: f64 = 0.5;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let s = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut fixture = match Fixture::new(&s).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The servers stop when `run` returns (their `Drop`), before the databases go.
    let result = run(&s, &mut fixture).await;
    let cleaned = fixture.cleanup().await;
    match (result, cleaned) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _) | (Ok(()), Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one invocation measures, read from the environment.
struct Settings {
    pg_url: String,
    mysql_url: String,
    /// Fleet rounds, each after the cards went stale (`CARD_TTL`, 10 s).
    rounds: usize,
    /// Timed GETs per page in the pages comparison.
    requests: usize,
    /// Tables in each database.
    tables: usize,
    strata: PathBuf,
}

impl Settings {
    fn from_env() -> Result<Self> {
        Ok(Settings {
            pg_url: std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string()),
            mysql_url: std::env::var("STRATA_BENCH_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.to_string()),
            rounds: env_usize("STRATA_BENCH_ROUNDS", 10)?.max(1),
            requests: env_usize("STRATA_BENCH_REQUESTS", 30)?.max(1),
            tables: env_usize("STRATA_BENCH_TABLES", 20)?.max(1),
            strata: strata_binary()?,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Engine {
    Postgres,
    MariaDb,
    Sqlite,
    /// The TCP listener that never answers (a PostgreSQL URL pointing at it).
    Stuck,
}

impl Engine {
    fn label(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::MariaDb => "MariaDB",
            Engine::Sqlite => "SQLite",
            Engine::Stuck => "never answers",
        }
    }
}

/// One watched database of the fleet.
struct Member {
    name: String,
    engine: Engine,
    url: String,
}

impl Member {
    /// `STRATA_WATCH_<NAME>`: the variable that names it to a server.
    fn watch_var(&self) -> String {
        format!("STRATA_WATCH_{}", self.name.to_uppercase())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The fleet's databases

/// The databases made for the fleet, dropped by [`Fixture::cleanup`] (also after a failed step), and the folder of
/// its SQLite files.
struct Fixture {
    pg: Pg,
    mysql_url: String,
    mysql: DatabaseConnection,
    pg_dbs: Vec<String>,
    mysql_dbs: Vec<String>,
    dir: TempDir,
    /// `strata_bench_fleet_<pid>_`: every database of this run starts with it.
    prefix: String,
}

impl Fixture {
    /// Connects to both servers and drops what a killed earlier run left behind.
    async fn new(s: &Settings) -> Result<Fixture> {
        let pg = Pg::new(&s.pg_url)?;
        pg.admin_query("SELECT 1").map_err(|e| format!("PostgreSQL at {}: {e}", mask_url_str(&s.pg_url)))?;
        let mysql = Sea::connect(s.mysql_url.as_str()).await.map_err(|e| {
            format!("cannot connect to MariaDB at {} (STRATA_BENCH_MYSQL_URL): {e}", mask_url_str(&s.mysql_url))
        })?;
        let pid = std::process::id();
        let fixture = Fixture {
            pg,
            mysql_url: s.mysql_url.clone(),
            mysql,
            pg_dbs: Vec::new(),
            mysql_dbs: Vec::new(),
            dir: TempDir::new(&format!("{DB_PREFIX}_{pid}"))?,
            prefix: format!("{DB_PREFIX}_{pid}_"),
        };
        fixture.drop_leftovers().await?;
        Ok(fixture)
    }

    /// Databases `strata_bench_fleet_<pid>_*` whose process is gone (a run that was killed).
    async fn drop_leftovers(&self) -> Result<()> {
        let dead = |name: &str| {
            let pid = name.strip_prefix(DB_PREFIX).and_then(|r| r.strip_prefix('_')).and_then(|r| r.split('_').next());
            pid.and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists())
        };
        let listed = self.pg.admin_query(&format!(
            "SELECT datname FROM pg_database WHERE left(datname, {}) = '{DB_PREFIX}_'",
            DB_PREFIX.len() + 1
        ))?;
        for name in listed.lines().map(str::trim).filter(|n| dead(n)) {
            println!("dropping {name} (left by a run that no longer exists)");
            self.pg.admin_query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
        }
        let rows = self
            .mysql
            .query_all_raw(Statement::from_string(
                DbBackend::MySql,
                format!(
                    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, {}) = '{DB_PREFIX}_'",
                    DB_PREFIX.len() + 1
                ),
            ))
            .await
            .map_err(|e| format!("listing MariaDB databases: {e}"))?;
        for row in rows {
            let name: String = row.try_get_by_index(0).map_err(|e| e.to_string())?;
            if dead(&name) {
                println!("dropping {name} (left by a run that no longer exists)");
                self.mysql_exec(&format!("DROP DATABASE IF EXISTS `{name}`")).await?;
            }
        }
        Ok(())
    }

    async fn mysql_exec(&self, sql: &str) -> Result<()> {
        self.mysql.execute_unprepared(sql).await.map(|_| ()).map_err(|e| format!("MariaDB: {sql}: {e}"))
    }

    /// The fleet: PostgreSQL and MariaDB databases on the local servers and SQLite files, each with `tables`
    /// tables of rows and an index, and the database that never answers.
    async fn build(&mut self, tables: usize, stuck: SocketAddr) -> Result<Vec<Member>> {
        let t0 = Instant::now();
        let mut fleet = Vec::new();
        for i in 1..=PG_COUNT {
            let db = format!("{}pg{i}", self.prefix);
            self.pg.admin_query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))?;
            self.pg.admin_query(&format!("CREATE DATABASE \"{db}\""))?;
            self.pg_dbs.push(db.clone());
            let url = self.pg.url_for(&db);
            fill(&url, Engine::Postgres, tables, i).await?;
            fleet.push(Member { name: format!("pg{i}"), engine: Engine::Postgres, url });
        }
        for i in 1..=MYSQL_COUNT {
            let db = format!("{}my{i}", self.prefix);
            self.mysql_exec(&format!("DROP DATABASE IF EXISTS `{db}`")).await?;
            self.mysql_exec(&format!("CREATE DATABASE `{db}`")).await?;
            self.mysql_dbs.push(db.clone());
            let (base, query) = split_at_database(&self.mysql_url)
                .ok_or_else(|| format!("STRATA_BENCH_MYSQL_URL {} is not a URL", mask_url_str(&self.mysql_url)))?;
            let url = format!("{base}{db}{query}");
            fill(&url, Engine::MariaDb, tables, i).await?;
            fleet.push(Member { name: format!("my{i}"), engine: Engine::MariaDb, url });
        }
        for i in 1..=SQLITE_COUNT {
            let path = self.dir.path().join(format!("lite{i}.db"));
            fill(&format!("sqlite://{}?mode=rwc", path.display()), Engine::Sqlite, tables, i).await?;
            fleet.push(Member { name: format!("lite{i}"), engine: Engine::Sqlite, url: sqlite_url(&path) });
        }
        fleet.push(Member {
            name: STUCK.into(),
            engine: Engine::Stuck,
            url: format!("postgresql://strata@{stuck}/{STUCK}"),
        });
        println!(
            "fleet: {PG_COUNT} PostgreSQL, {MYSQL_COUNT} MariaDB, {SQLITE_COUNT} SQLite databases with {tables} tables \
             each, and one that never answers ({stuck}); made in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        Ok(fleet)
    }

    async fn cleanup(&mut self) -> Result<()> {
        let mut failed = Vec::new();
        for db in std::mem::take(&mut self.pg_dbs) {
            if let Err(e) = self.pg.admin_query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")) {
                failed.push(e);
            }
        }
        for db in std::mem::take(&mut self.mysql_dbs) {
            if let Err(e) = self.mysql_exec(&format!("DROP DATABASE IF EXISTS `{db}`")).await {
                failed.push(e);
            }
        }
        if failed.is_empty() { Ok(()) } else { Err(format!("dropping the fleet: {}", failed.join("; "))) }
    }
}

/// The name of fixture table `t` (1-based).
fn table_name(t: usize) -> String {
    format!("fleet_t{t:02}")
}

/// Creates `tables` tables in the database at `url` (a driver URL), each with 20 to 219 rows and an index on
/// `name`, through one connection that is closed at the end (so no connection of the benchmark's is counted later).
async fn fill(url: &str, engine: Engine, tables: usize, member: usize) -> Result<()> {
    let conn = Sea::connect(url).await.map_err(|e| format!("connect {}: {e}", mask_url_str(url)))?;
    for t in 1..=tables {
        let table = table_name(t);
        let rows = 20 + (t * 37 + member * 11) % 200;
        let series = format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows})");
        let statements = match engine {
            Engine::Postgres => vec![
                format!(
                    "CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, \
                     amount integer, created_at timestamptz NOT NULL DEFAULT now())"
                ),
                format!(
                    "INSERT INTO {table} (name, amount) SELECT 'row ' || g, g % 1000 FROM generate_series(1, {rows}) g"
                ),
                format!("CREATE INDEX {table}_name ON {table} (name)"),
            ],
            Engine::MariaDb => vec![
                format!(
                    "CREATE TABLE {table} (id bigint AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL, \
                     amount int, created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, KEY {table}_name (name))"
                ),
                format!("INSERT INTO {table} (name, amount) {series} SELECT CONCAT('row ', n), n % 1000 FROM g"),
            ],
            Engine::Sqlite => vec![
                format!(
                    "CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount INTEGER, \
                     created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                ),
                format!("{series} INSERT INTO {table} (name, amount) SELECT 'row ' || n, n % 1000 FROM g"),
                format!("CREATE INDEX {table}_name ON {table} (name)"),
            ],
            Engine::Stuck => Vec::new(),
        };
        for sql in statements {
            conn.execute_unprepared(&sql).await.map_err(|e| format!("{sql}: {e}"))?;
        }
    }
    if engine == Engine::Postgres {
        conn.execute_unprepared("ANALYZE").await.map_err(|e| format!("ANALYZE: {e}"))?;
    }
    conn.close().await.map_err(|e| format!("closing the fixture connection: {e}"))
}

/// A TCP listener on loopback that accepts every connection, reads what the client sends and never answers;
/// a connection is let go only when the client hangs up.
fn stuck_listener() -> Result<SocketAddr> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind the stuck listener: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("stuck listener: {e}"))?;
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    Ok(addr)
}

// ---------------------------------------------------------------------------------------------------------------
// The servers

/// A signed-in `strata serve` and its keep-alive connection.
struct Served {
    server: Server,
    client: Client,
}

/// The settings every server here runs with: overview statistics read on every request (so a single database's
/// overview is a real read each time), and idle connections closed after 2 s.
fn common_env() -> Vec<(String, String)> {
    vec![("STRATA_STATS_REFRESH".into(), "0".into()), ("STRATA_IDLE_TIMEOUT".into(), IDLE_TIMEOUT_SETTING.into())]
}

fn start(strata: &Path, project: Option<&str>, cwd: Option<&Path>, env: &[(String, String)]) -> Result<Server> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::start_with(strata, project, cwd, &env)
}

async fn sign_in(server: Server) -> Result<Served> {
    server.wait_ready(Duration::from_secs(60)).await?;
    let cookie = login(server.addr).await?;
    let client = Client::connect(server.addr, Some(cookie)).await?;
    Ok(Served { server, client })
}

/// The fleet page: 200, a card for every member; its time and the names of the cards marked unreachable.
async fn fleet_page(client: &mut Client, fleet: &[Member]) -> Result<(f64, Vec<String>)> {
    let (ms, body) = get_page(client, "/", None).await?;
    if let Some(m) = fleet.iter().find(|m| !body.contains(&format!("id=\"db-{}\"", m.name))) {
        return Err(format!("the fleet page has no card for {}", m.name));
    }
    let down = body
        .split("class=\"card down\" id=\"db-")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_string))
        .collect();
    Ok((ms, down))
}

// ---------------------------------------------------------------------------------------------------------------
// The run

async fn run(s: &Settings, fixture: &mut Fixture) -> Result<()> {
    println!("strata fleet benchmark: {} fleet rounds, {} timed GETs per page", s.rounds, s.requests);
    println!(
        "PostgreSQL {} at {}, MariaDB at {}",
        fixture.pg.admin_query("SHOW server_version")?.trim(),
        mask_url_str(&s.pg_url),
        mask_url_str(&s.mysql_url)
    );
    println!("machine: {} CPU(s), load average at the start {}", cpus(), load_average());
    let stuck = stuck_listener()?;
    let fleet = fixture.build(s.tables, stuck).await?;
    let readable: Vec<&Member> = fleet.iter().filter(|m| m.engine != Engine::Stuck).collect();
    let chosen = readable[0]; // pg1: the project database of the fleet server and of its own server alike

    // The fleet server watches all 20; `chosen` is its project database (DATABASE_URL), as on the server that
    // watches it alone, so the overview does the same work on both.
    let mut env = common_env();
    env.extend(fleet.iter().map(|m| (m.watch_var(), m.url.clone())));
    let fleet_server = start(&s.strata, Some(&chosen.url), None, &env)?;
    // One server per readable database, watching it alone (its project database).
    let mut alone_servers = Vec::new();
    for m in &readable {
        let mut env = common_env();
        env.push((m.watch_var(), m.url.clone()));
        alone_servers.push(start(&s.strata, Some(&m.url), None, &env)?);
    }
    for server in std::iter::once(&fleet_server).chain(&alone_servers) {
        server.wait_ready(Duration::from_secs(60)).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut fleet_rss, mut one_rss) = (Rss::started(&fleet_server)?, Rss::started(&alone_servers[0])?);
    let mut fleet_srv = sign_in(fleet_server).await?;
    let mut alone = Vec::new();
    for server in alone_servers {
        alone.push(sign_in(server).await?);
    }
    fleet_rss.signed_in = fleet_srv.server.rss_mib()?;
    one_rss.signed_in = alone[0].server.rss_mib()?;
    println!("{} servers up and signed in; fleet server RSS {:.1} MiB", alone.len() + 1, fleet_rss.signed_in);

    let overview = fleet_rounds(s, &fleet, &readable, &mut fleet_srv, &mut alone).await?;
    let pages = pages_rounds(s, chosen, &mut fleet_srv, &mut alone[0]).await?;
    let idle = idle_connections(fixture, &fleet, &readable, &mut fleet_srv, &mut alone).await?;
    fleet_rss.idle = fleet_srv.server.rss_mib()?;
    one_rss.idle = alone[0].server.rss_mib()?;
    drop(alone);
    drop(fleet_srv);
    let rss = RssReport { none: sqlite_default(s).await?, one: one_rss, fleet: fleet_rss };

    let report = Report { overview, pages, idle, rss, chosen: chosen.name.clone() };
    print!("{}", report.render(s, &fleet));
    Ok(())
}

/// Per database, the overview GET on the server watching it alone: first after idle (new connection), then again.
struct OverviewTimes {
    cold: Vec<f64>,
    warm: Vec<f64>,
}

struct FleetResult {
    /// GET / right after every card went stale: the page reads every database again (waiting at most 1.5 s).
    stale: Vec<f64>,
    /// GET / again at once: every card kept.
    kept: Vec<f64>,
    per_db: Vec<OverviewTimes>,
    /// Readable databases a stale fleet page marked unreachable (name, rounds).
    marked_down: Vec<(String, usize)>,
}

/// Rounds of: wait until every fleet card is stale (and every pool idle-closed), then, in rotating order, the fleet
/// page on the fleet server and each database's overview on the server watching it alone; then each once more at
/// once (cards kept, connections open).
async fn fleet_rounds(
    s: &Settings,
    fleet: &[Member],
    readable: &[&Member],
    fleet_srv: &mut Served,
    alone: &mut [Served],
) -> Result<FleetResult> {
    let paths: Vec<String> = readable.iter().map(|m| format!("/db/{}", m.name)).collect();
    // Untimed: the first reading of every card; the stuck database's card says unreachable once its first read
    // ran into catalog_timeout.
    let t0 = Instant::now();
    loop {
        let (_, down) = fleet_page(&mut fleet_srv.client, fleet).await?;
        if down.iter().any(|d| d == STUCK) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            return Err("the fleet page did not mark the stuck database unreachable within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("fleet page: the stuck database shows unreachable after {:.1} s", t0.elapsed().as_secs_f64());
    for (a, path) in alone.iter_mut().zip(&paths) {
        get_page(&mut a.client, path, None).await?;
    }
    let mut last_fleet_read = Instant::now();
    let mut result = FleetResult {
        stale: Vec::new(),
        kept: Vec::new(),
        per_db: readable.iter().map(|_| OverviewTimes { cold: Vec::new(), warm: Vec::new() }).collect(),
        marked_down: Vec::new(),
    };
    let steps = readable.len() + 1;
    for round in 0..s.rounds {
        let wait = (last_fleet_read + CARD_TTL + STALE_MARGIN).saturating_duration_since(Instant::now());
        println!("fleet round {}/{}: {:.1} s until every card is stale ...", round + 1, s.rounds, wait.as_secs_f64());
        tokio::time::sleep(wait).await;
        // Step `steps - 1` is the fleet page; the rotation moves it through the single databases' turns. Each
        // step's second GET follows its first at once (well within idle_timeout).
        for k in 0..steps {
            let step = (k + round) % steps;
            if step == steps - 1 {
                let (stale, down) = fleet_page(&mut fleet_srv.client, fleet).await?;
                last_fleet_read = Instant::now();
                let (kept, _) = fleet_page(&mut fleet_srv.client, fleet).await?;
                result.stale.push(stale);
                result.kept.push(kept);
                for name in down.into_iter().filter(|d| d != STUCK) {
                    match result.marked_down.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, n)) => *n += 1,
                        None => result.marked_down.push((name, 1)),
                    }
                }
            } else {
                let (cold, _) = get_page(&mut alone[step].client, &paths[step], None).await?;
                let (warm, _) = get_page(&mut alone[step].client, &paths[step], None).await?;
                result.per_db[step].cold.push(cold);
                result.per_db[step].warm.push(warm);
            }
        }
    }
    Ok(result)
}

/// One database's pages: (path under `/db/{name}`, fleet server's times, alone server's times).
type PageTimes = Vec<(String, Vec<f64>, Vec<f64>)>;

/// The chosen database's overview, tables and indexes pages on the fleet server and on the server watching it
/// alone, in the same rounds, which of the two goes first alternating.
async fn pages_rounds(s: &Settings, chosen: &Member, fleet_srv: &mut Served, one: &mut Served) -> Result<PageTimes> {
    let first = table_name(1);
    let index = format!("{first}_name");
    let pages: [(&str, Option<&str>); 3] = [("", None), ("/tables", Some(&first)), ("/indexes", Some(&index))];
    let mut times: PageTimes = pages.iter().map(|(p, _)| (p.to_string(), Vec::new(), Vec::new())).collect();
    for round in 0..WARMUP_ROUNDS + s.requests {
        for (k, (page, expect)) in pages.iter().enumerate() {
            let path = format!("/db/{}{page}", chosen.name);
            let fleet_first = (round + k) % 2 == 0;
            let (mut on_fleet, mut on_one) = (0.0, 0.0);
            for side in 0..2 {
                if (side == 0) == fleet_first {
                    on_fleet = get_page(&mut fleet_srv.client, &path, *expect).await?.0;
                } else {
                    on_one = get_page(&mut one.client, &path, *expect).await?.0;
                }
            }
            if round >= WARMUP_ROUNDS {
                times[k].1.push(on_fleet);
                times[k].2.push(on_one);
            }
        }
    }
    Ok(times)
}

/// Connections to the fleet's databases held by every server here, by engine.
#[derive(Default)]
struct Held {
    pg: Vec<(String, usize)>,
    mysql: Vec<(String, usize)>,
    /// SQLite files of the fleet open in the servers (file descriptors).
    sqlite: usize,
}

impl Held {
    fn total(list: &[(String, usize)]) -> usize {
        list.iter().map(|(_, n)| n).sum()
    }

    fn summary(&self) -> String {
        let list = |l: &[(String, usize)]| {
            if l.is_empty() {
                "none".to_string()
            } else {
                l.iter().map(|(db, n)| format!("{db} {n}")).collect::<Vec<_>>().join(", ")
            }
        };
        format!(
            "PostgreSQL {} ({}); MariaDB {} ({}); SQLite files open {}",
            Held::total(&self.pg),
            list(&self.pg),
            Held::total(&self.mysql),
            list(&self.mysql),
            self.sqlite
        )
    }
}

struct IdleResult {
    opened: Held,
    after: Held,
    waited: Duration,
}

/// Opens every database once more on every server (a stale fleet page, each overview), counts the connections,
/// waits `idle_timeout` and a margin, and counts again.
async fn idle_connections(
    fixture: &Fixture,
    fleet: &[Member],
    readable: &[&Member],
    fleet_srv: &mut Served,
    alone: &mut [Served],
) -> Result<IdleResult> {
    tokio::time::sleep(CARD_TTL + STALE_MARGIN).await;
    fleet_page(&mut fleet_srv.client, fleet).await?;
    for (a, m) in alone.iter_mut().zip(readable) {
        get_page(&mut a.client, &format!("/db/{}", m.name), None).await?;
    }
    let pids: Vec<u32> = std::iter::once(&*fleet_srv).chain(alone.iter()).map(|a| a.server.pid()).collect();
    let opened = held(fixture, &pids).await?;
    let waited = IDLE_TIMEOUT + IDLE_MARGIN;
    println!("pages opened: {}; idle for {} s ...", opened.summary(), waited.as_secs());
    tokio::time::sleep(waited).await;
    let after = held(fixture, &pids).await?;
    Ok(IdleResult { opened, after, waited })
}

/// What the servers hold now: `pg_stat_activity` rows of application `strata` on the fleet's PostgreSQL databases,
/// `information_schema.PROCESSLIST` rows on its MariaDB databases, and open descriptors of its SQLite files.
async fn held(fixture: &Fixture, pids: &[u32]) -> Result<Held> {
    let prefix = &fixture.prefix;
    let pg = fixture.pg.admin_query(&format!(
        "SELECT datname, count(*) FROM pg_stat_activity WHERE application_name = 'strata' \
         AND left(datname, {}) = '{prefix}' GROUP BY 1 ORDER BY 1",
        prefix.len()
    ))?;
    let pg = pg
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(db, n)| (db.trim_start_matches(prefix.as_str()).to_string(), n.trim().parse().unwrap_or(0)))
        .collect();
    let rows = fixture
        .mysql
        .query_all_raw(Statement::from_string(
            DbBackend::MySql,
            format!(
                "SELECT DB, COUNT(*) FROM information_schema.PROCESSLIST WHERE LEFT(DB, {}) = '{prefix}' \
                 GROUP BY DB ORDER BY DB",
                prefix.len()
            ),
        ))
        .await
        .map_err(|e| format!("reading MariaDB's PROCESSLIST: {e}"))?;
    let mut mysql = Vec::new();
    for row in rows {
        let db: String = row.try_get_by_index(0).map_err(|e| e.to_string())?;
        let n: i64 = row.try_get_by_index(1).map_err(|e| e.to_string())?;
        mysql.push((db.trim_start_matches(prefix.as_str()).to_string(), n as usize));
    }
    let mut sqlite = 0;
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        sqlite += fds
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter(|target| target.starts_with(fixture.dir.path()))
            .count();
    }
    Ok(Held { pg, mysql, sqlite })
}

/// `strata serve` with nothing configured (its example database only) in an empty folder: RSS 1 s after start,
/// after the sign-in, and after the fleet page and two of the example database's pages, `idle_timeout` and the
/// margin.
async fn sqlite_default(s: &Settings) -> Result<Rss> {
    let dir = TempDir::new(&format!("{DB_PREFIX}_{}_default", std::process::id()))?;
    let env = vec![("STRATA_IDLE_TIMEOUT".to_string(), IDLE_TIMEOUT_SETTING.to_string())];
    let server = start(&s.strata, None, Some(dir.path()), &env)?;
    server.wait_ready(Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut rss = Rss::started(&server)?;
    let mut served = sign_in(server).await?;
    rss.signed_in = served.server.rss_mib()?;
    for path in ["/".to_string(), served.server.db_path(""), served.server.db_path("/tables")] {
        get_page(&mut served.client, &path, None).await?;
    }
    tokio::time::sleep(IDLE_TIMEOUT + IDLE_MARGIN).await;
    rss.idle = served.server.rss_mib()?;
    Ok(rss)
}

// ---------------------------------------------------------------------------------------------------------------
// The report

/// One server's RSS in MiB: 1 s after it was ready (before any sign-in), right after the sign-in, and idle after
/// its pages were opened and `idle_timeout` and the margin passed.
struct Rss {
    started: f64,
    signed_in: f64,
    idle: f64,
}

impl Rss {
    fn started(server: &Server) -> Result<Rss> {
        Ok(Rss { started: server.rss_mib()?, signed_in: f64::NAN, idle: f64::NAN })
    }
}

/// With nothing configured (0 extra), watching one database alone, watching the fleet.
struct RssReport {
    none: Rss,
    one: Rss,
    fleet: Rss,
}

struct Report {
    overview: FleetResult,
    pages: PageTimes,
    idle: IdleResult,
    rss: RssReport,
    chosen: String,
}

fn p50(v: &[f64]) -> f64 {
    percentile(v, 0.5)
}

fn p90(v: &[f64]) -> f64 {
    percentile(v, 0.9)
}

impl Report {
    fn render(&self, s: &Settings, fleet: &[Member]) -> String {
        let mut out = String::new();
        let readable: Vec<&Member> = fleet.iter().filter(|m| m.engine != Engine::Stuck).collect();
        let o = &self.overview;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "each database's overview GET /db/NAME on a server watching it alone (stats_refresh 0), {} rounds:",
            s.rounds
        );
        let _ = writeln!(
            out,
            "  \"after idle\": the first GET of the round, its pool closed by idle_timeout (a new connection);"
        );
        let _ = writeln!(out, "  \"again\": the same GET at once, on the open connection");
        let _ = writeln!(
            out,
            "  {:<8} {:<12} {:>15} {:>15} {:>11} {:>11}",
            "database", "engine", "after idle p50", "after idle p90", "again p50", "again p90"
        );
        for (m, t) in readable.iter().zip(&o.per_db) {
            let _ = writeln!(
                out,
                "  {:<8} {:<12} {:>15.2} {:>15.2} {:>11.2} {:>11.2}",
                m.name,
                m.engine.label(),
                p50(&t.cold),
                p90(&t.cold),
                p50(&t.warm),
                p90(&t.warm)
            );
        }
        let _ = writeln!(out, "  ({STUCK}: never answers, no overview to time)");
        let slowest = |pick: fn(&OverviewTimes) -> &Vec<f64>| {
            readable
                .iter()
                .zip(&o.per_db)
                .map(|(m, t)| (m.name.as_str(), p50(pick(t))))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or(("—", f64::NAN))
        };
        let (cold_name, cold) = slowest(|t| &t.cold);
        let cold_sum: f64 = o.per_db.iter().map(|t| p50(&t.cold)).sum();
        let (warm_name, warm) = slowest(|t| &t.warm);
        let _ = writeln!(out);
        let _ = writeln!(out, "fleet page GET / on the server watching all {} databases, same rounds:", fleet.len());
        let ratio = p50(&o.stale) / cold;
        let _ = writeln!(
            out,
            "  every card stale (reads all {} again):   p50 {:>8.2} ms  p90 {:>8.2} ms   slowest single overview after \
             idle: {cold_name} p50 {cold:.2} ms   ratio {ratio:.2}x  target <= {FLEET_TARGET}x: {}",
            fleet.len(),
            p50(&o.stale),
            p90(&o.stale),
            verdict(ratio <= FLEET_TARGET)
        );
        let _ = writeln!(
            out,
            "  every card kept (no database read):     p50 {:>8.2} ms  p90 {:>8.2} ms   slowest single overview again: \
             {warm_name} p50 {warm:.2} ms   ratio {:.2}x (information)",
            p50(&o.kept),
            p90(&o.kept),
            p50(&o.kept) / warm
        );
        let _ = writeln!(
            out,
            "  (the single overviews after idle add up to {cold_sum:.2} ms: the fleet page reads them side by side)"
        );
        if o.marked_down.is_empty() {
            let _ = writeln!(out, "  no readable database was ever shown unreachable; {STUCK} always was");
        } else {
            let list: Vec<String> = o.marked_down.iter().map(|(n, r)| format!("{n} ({r} pages)")).collect();
            let _ = writeln!(out, "  readable databases shown unreachable (a finding): {}", list.join(", "));
        }

        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}'s pages, fleet server (20 watched) against a server watching it alone, {} rounds, order alternating:",
            self.chosen, s.requests
        );
        let _ = writeln!(
            out,
            "  {:<24} {:>9} {:>9} {:>10} {:>10} {:>8}  target",
            "page", "fleet p50", "fleet p90", "alone p50", "alone p90", "ratio"
        );
        for (page, on_fleet, on_one) in &self.pages {
            let ratio = p50(on_fleet) / p50(on_one);
            let _ = writeln!(
                out,
                "  {:<24} {:>9.2} {:>9.2} {:>10.2} {:>10.2} {:>7.2}x  <= {PAGES_TARGET}x: {}",
                format!("/db/{}{page}", self.chosen),
                p50(on_fleet),
                p90(on_fleet),
                p50(on_one),
                p90(on_one),
                ratio,
                verdict(ratio <= PAGES_TARGET)
            );
        }

        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "idle RSS of strata serve (VmRSS), target {RSS_BASE_MIB} MiB + {RSS_PER_DB_MIB} MiB per watched database:"
        );
        let r = &self.rss;
        let rows = [
            ("0 extra (SQLite default: example database)", 0usize, &r.none),
            ("1 watched (PostgreSQL, alone)", 1, &r.one),
            ("20 watched (the fleet)", fleet.len(), &r.fleet),
        ];
        let _ = writeln!(
            out,
            "  {:<44} {:>13} {:>14} {:>13} {:>9}",
            "server", "after start", "after sign-in", "after idle", "target"
        );
        for (label, n, rss) in rows {
            let target = RSS_BASE_MIB + RSS_PER_DB_MIB * n as f64;
            let _ = writeln!(
                out,
                "  {label:<44} {:>9.1} MiB {:>10.1} MiB {:>9.1} MiB {target:>5.1} MiB  start {}, idle {}",
                rss.started,
                rss.signed_in,
                rss.idle,
                verdict(rss.started <= target),
                verdict(rss.idle <= target)
            );
        }
        // What each watched database adds: the fleet server against the one watching a single database.
        let extra = (fleet.len() - 1) as f64;
        let (per_start, per_idle) = ((r.fleet.started - r.one.started) / extra, (r.fleet.idle - r.one.idle) / extra);
        let _ = writeln!(
            out,
            "  per extra watched database (20 watched - 1 watched) / {extra}: after start {per_start:.2} MiB, after idle \
             {per_idle:.2} MiB  <= {RSS_PER_DB_MIB} MiB: start {}, idle {}",
            verdict(per_start <= RSS_PER_DB_MIB),
            verdict(per_idle <= RSS_PER_DB_MIB)
        );
        let _ = writeln!(
            out,
            "  (after start: 1 s after ready, before any sign-in; after idle: signed in, pages opened, then idle_timeout \
             {} s + {} s)",
            IDLE_TIMEOUT.as_secs(),
            IDLE_MARGIN.as_secs()
        );

        let i = &self.idle;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "connections to the fleet's databases held by all {} servers (idle_timeout {} s):",
            readable.len() + 1,
            IDLE_TIMEOUT.as_secs()
        );
        let _ = writeln!(out, "  right after the pages: {}", i.opened.summary());
        let left = Held::total(&i.after.pg) + Held::total(&i.after.mysql) + i.after.sqlite;
        let _ = writeln!(
            out,
            "  {} s later:            {}  target 0: {}",
            i.waited.as_secs(),
            i.after.summary(),
            verdict(left == 0)
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "load average at the end: {} ({} CPU(s))", load_average(), cpus());
        out
    }
}
