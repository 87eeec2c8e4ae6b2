//! `pages-bench`: times the dashboard pages against their own catalog queries on fixtures of 1,000 and 10,000 tables
//! (3 indexes each) on PostgreSQL, MariaDB and SQLite, loads the overview, and measures start-up and idle memory on
//! the SQLite default.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use strata::config::{DatabaseUrl, Settings as ServerSettings, mask_url_str};
use strata::db::introspect::{self, IndexFilter, IndexQuery, IndexSort, Introspector, TableQuery, TableSort};
use strata::db::{self, Purpose};
use strata::home::samples;
use strata_bench::*;

/// The admin connection used to create and drop the PostgreSQL fixture databases.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The MariaDB server's admin URL (its fixture databases are made with the `mariadb` client).
const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mysql";
/// Every database this benchmark creates starts with this, so a leftover is easy to spot and drop.
const DB_PREFIX: &str = "strata_bench_pages";
/// Untimed rounds before the timed ones (connection set-up, plan caches, the OS page cache). The first of them is
/// reported on its own: the first request on a fresh server, on new pool connections.
const WARMUP_ROUNDS: usize = 3;
/// Pages may take at most this multiple of their own queries' p50 (`/tables` in any order, `/activity`).
const RATIO_TARGET: f64 = 1.3;
/// `/tables` in name order, p50 at most (ms).
const TABLES_TARGET_MS: f64 = 25.0;
/// `/tables` in size order, p50 at most (ms).
const SIZE_ORDER_TARGET_MS: f64 = 100.0;
/// `/indexes`, p50 at most (ms).
const INDEXES_TARGET_MS: f64 = 30.0;
/// Table detail, p50 at most (ms).
const TABLE_TARGET_MS: f64 = 8.0;
/// The overview's p50 and p99 targets (ms), every request reading the live figures (`stats_refresh = 0`).
const OVERVIEW_P50_MS: f64 = 3.0;
const OVERVIEW_P99_MS: f64 = 10.0;
/// `select 1` through the query editor, p50 at most (ms).
const EDITOR_TARGET_MS: f64 = 3.0;
/// A list page's p50 may grow at most this much from the smallest fixture to the largest (size order excepted).
const GROWTH_TARGET: f64 = 1.5;
/// Idle RSS target on the SQLite default, in MiB.
const IDLE_RSS_TARGET_MIB: f64 = 20.0;
/// Start-to-serving target on the SQLite default, in milliseconds.
const START_TARGET_MS: f64 = 100.0;
/// A page may take at most this multiple of the same page served by the baseline binary (`STRATA_BENCH_BASELINE`).
const BASELINE_TARGET: f64 = 1.05;
/// How often the server's RSS is sampled under load.
const RSS_EVERY: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A database server the pages are timed on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    Postgres,
    MariaDb,
    Sqlite,
}

impl Engine {
    fn label(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::MariaDb => "MariaDB",
            Engine::Sqlite => "SQLite",
        }
    }
}

/// What one invocation measures, read from the environment.
struct Settings {
    admin_url: String,
    mysql_url: String,
    engines: Vec<Engine>,
    /// Fixture sizes, smallest first (growth is judged from the first to the last).
    sizes: Vec<usize>,
    requests: usize,
    load_secs: u64,
    connections: usize,
    load_tool: LoadTool,
    starts: usize,
    strata: PathBuf,
    /// Another `strata` binary (an earlier commit's release build) whose pages are timed in the same rounds.
    baseline: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LoadTool {
    Wrk,
    Builtin,
    Skip,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let admin_url = std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string());
        let mysql_url = std::env::var("STRATA_BENCH_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.to_string());
        let mut sizes = Vec::new();
        for part in std::env::var("STRATA_BENCH_TABLES").unwrap_or_else(|_| "1000".into()).split(',') {
            let n: usize = part
                .trim()
                .parse()
                .map_err(|_| format!("STRATA_BENCH_TABLES={part:?}: a number of tables, or several with commas"))?;
            sizes.push(n.max(1));
        }
        sizes.sort_unstable();
        sizes.dedup();
        let mut engines = Vec::new();
        for part in std::env::var("STRATA_BENCH_ENGINE").unwrap_or_else(|_| "pg".into()).split(',') {
            match part.trim() {
                "pg" | "postgres" => engines.push(Engine::Postgres),
                "mysql" | "mariadb" => engines.push(Engine::MariaDb),
                "sqlite" => engines.push(Engine::Sqlite),
                "all" => engines.extend([Engine::Postgres, Engine::MariaDb, Engine::Sqlite]),
                other => return Err(format!("STRATA_BENCH_ENGINE={other:?}: use pg, mysql, sqlite or all")),
            }
        }
        engines.dedup();
        let requests = env_usize("STRATA_BENCH_REQUESTS", 30)?.max(1);
        let load_secs = env_usize("STRATA_BENCH_LOAD_SECS", 60)? as u64;
        let connections = env_usize("STRATA_BENCH_LOAD_CONNECTIONS", 16)?.max(1);
        let starts = env_usize("STRATA_BENCH_STARTS", 5)?.max(1);
        let load_tool = match std::env::var("STRATA_BENCH_LOAD_TOOL").unwrap_or_default().trim() {
            "" | "auto" if load_secs == 0 => LoadTool::Skip,
            "" | "auto" => {
                if on_path("wrk") {
                    LoadTool::Wrk
                } else {
                    LoadTool::Builtin
                }
            }
            "wrk" => LoadTool::Wrk,
            "builtin" => LoadTool::Builtin,
            "none" => LoadTool::Skip,
            other => return Err(format!("STRATA_BENCH_LOAD_TOOL={other:?}: use auto, wrk, builtin or none")),
        };
        let strata = strata_binary()?;
        let baseline = match std::env::var_os("STRATA_BENCH_BASELINE").filter(|v| !v.is_empty()) {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(format!("STRATA_BENCH_BASELINE={}: no such file", path.display()));
                }
                Some(path)
            }
            None => None,
        };
        Ok(Settings {
            admin_url,
            mysql_url,
            engines,
            sizes,
            requests,
            load_secs,
            connections,
            load_tool,
            starts,
            strata,
            baseline,
        })
    }
}

/// The pages of one engine at one fixture size.
struct Run {
    engine: Engine,
    tables: usize,
    pages: Vec<PageResult>,
}

async fn run() -> Result<()> {
    let s = Settings::from_env()?;
    let pg = Pg::new(&s.admin_url)?;
    let sizes: Vec<String> = s.sizes.iter().map(usize::to_string).collect();
    let engines: Vec<&str> = s.engines.iter().map(|e| e.label()).collect();
    println!(
        "strata pages benchmark: {} tables x 3 indexes on {}, {} timed requests per page after {WARMUP_ROUNDS} warm-up \
         rounds",
        sizes.join(" and "),
        engines.join(", "),
        s.requests,
    );
    println!("machine: {} CPU(s), load average {}", cpus(), load_average());

    let mut report = Report::default();
    for &engine in &s.engines {
        for &tables in &s.sizes {
            let name = format!("{DB_PREFIX}_{}_{tables}", std::process::id());
            let fixture = Fixture::create(&s, &pg, engine, &name, &s.strata, tables).await?;
            // The baseline (PostgreSQL only) gets a fixture of its own: its migrator may not know this build's
            // revisions.
            let baseline = match (&s.baseline, engine) {
                (Some(binary), Engine::Postgres) => {
                    println!("baseline: {} (its pages are timed in the same rounds)", binary.display());
                    let base = Fixture::create(&s, &pg, engine, &format!("{name}_base"), binary, tables).await?;
                    Some((binary.as_path(), base))
                }
                _ => None,
            };
            let pages =
                engine_pages(&s, &fixture, baseline.as_ref().map(|(binary, f)| (*binary, f.url.as_str()))).await?;
            report.runs.push(Run { engine, tables, pages });
            if let Some((_, base)) = baseline {
                base.drop_now()?;
            }
            // The load runs on the largest PostgreSQL fixture, on a server started fresh for it.
            let last_pg = engine == Engine::Postgres && Some(&tables) == s.sizes.last();
            if last_pg {
                let server = Server::start(&s.strata, Some(&fixture.url), None)?;
                server.wait_ready(Duration::from_secs(30)).await?;
                let cookie = login(server.addr).await?;
                report.pg_idle_rss = Some(server.rss_mib()?);
                report.load = match s.load_tool {
                    LoadTool::Skip => None,
                    tool => Some(load(&s, tool, &server, &cookie).await?),
                };
                server.stop();
            }
            fixture.drop_now()?;
        }
    }

    report.sqlite = Some(sqlite(&s).await?);
    report.print(&s);
    Ok(())
}

fn secs(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------------------------
// The fixtures

/// A fixture database: its URL, the schema its tables are in, and what removes it.
struct Fixture<'a> {
    url: String,
    schema: String,
    cleanup: Cleanup<'a>,
}

enum Cleanup<'a> {
    Postgres(Database<'a>),
    MariaDb(MariaDbDatabase),
    Sqlite(TempDir),
}

impl<'a> Fixture<'a> {
    /// A fresh database named `name`, migrated by `strata` (the binary under test or the baseline), with `tables`
    /// tables `bench_pNNNN` of 20 or more rows and three indexes each.
    async fn create(
        s: &Settings,
        pg: &'a Pg,
        engine: Engine,
        name: &str,
        strata: &Path,
        tables: usize,
    ) -> Result<Fixture<'a>> {
        let t0 = Instant::now();
        let fixture = match engine {
            Engine::Postgres => {
                let db = Database::create(pg, name)?;
                Fixture { url: pg.url_for(name), schema: "public".into(), cleanup: Cleanup::Postgres(db) }
            }
            Engine::MariaDb => {
                let db = MariaDbDatabase::create(&s.mysql_url, name)?;
                Fixture { url: db.url(), schema: name.to_string(), cleanup: Cleanup::MariaDb(db) }
            }
            Engine::Sqlite => {
                let dir = TempDir::new(&format!("{name}-dir"))?;
                let url = sqlite_url(&dir.path().join(format!("{name}.db")));
                Fixture { url, schema: "main".into(), cleanup: Cleanup::Sqlite(dir) }
            }
        };
        let migrate = Command::new(strata).arg("--database-url").arg(&fixture.url).args(["migrate", "up"]).output();
        succeeded(migrate.map_err(|e| format!("cannot start strata migrate up: {e}"))?, "strata migrate up")?;
        match &fixture.cleanup {
            Cleanup::Postgres(_) => build_pg_fixture(&fixture.url, tables)?,
            Cleanup::MariaDb(db) => db.build_fixture(tables)?,
            Cleanup::Sqlite(_) => build_sqlite_fixture(&fixture.url, tables).await?,
        }
        println!(
            "fixture {name} ({}): strata migrate up, {tables} tables with rows, 3 indexes each, ANALYZE in {:.1} s",
            engine.label(),
            secs(t0)
        );
        Ok(fixture)
    }

    fn drop_now(self) -> Result<()> {
        match self.cleanup {
            Cleanup::Postgres(db) => db.drop_now(),
            Cleanup::MariaDb(db) => db.drop_now(),
            Cleanup::Sqlite(dir) => {
                drop(dir);
                Ok(())
            }
        }
    }
}

/// `tables` tables `bench_pNNNN`, each with an identity primary key, 20 to 419 rows and two secondary indexes, in
/// one `DO` block (one round trip) that commits every 100 tables (thousands of relations in one transaction would
/// exhaust the lock table), then `ANALYZE`.
fn build_pg_fixture(url: &str, tables: usize) -> Result<()> {
    let width = tables.to_string().len().max(4);
    let sql = format!(
        r"DO $bench$
DECLARE t text;
BEGIN
  FOR i IN 1..{tables} LOOP
    t := 'bench_p' || lpad(i::text, {width}, '0');
    EXECUTE format('CREATE TABLE %I (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
                    amount integer, created_at timestamptz NOT NULL DEFAULT now())', t);
    EXECUTE format('INSERT INTO %I (name, amount, created_at)
                    SELECT ''row '' || g, mod(g * 7, 1000), now() - g * interval ''1 minute''
                    FROM generate_series(1, %s) g', t, 20 + mod(i * 37, 400));
    EXECUTE format('CREATE INDEX %I ON %I (name)', t || '_name', t);
    EXECUTE format('CREATE INDEX %I ON %I (created_at)', t || '_created_at', t);
    IF i % 100 = 0 THEN
      COMMIT;
    END IF;
  END LOOP;
END
$bench$"
    );
    query(url, &sql)?;
    query(url, "ANALYZE")?;
    let got = query(url, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'bench\\_p%'")?;
    if got.trim() != tables.to_string() {
        return Err(format!("the fixture has {} bench tables, expected {tables}", got.trim()));
    }
    Ok(())
}

/// A MariaDB database made and dropped with the `mariadb` client (at the end, or when the run fails).
struct MariaDbDatabase {
    /// `mysql://user[:password]@host:port/` of the admin URL, without a database.
    base: String,
    name: String,
    client: MariaDbClient,
    dropped: bool,
}

/// How to run the `mariadb` client against the admin URL's server.
struct MariaDbClient {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
}

impl MariaDbClient {
    fn parse(url: &str) -> Result<(MariaDbClient, String)> {
        let rest = url.strip_prefix("mysql://").or_else(|| url.strip_prefix("mariadb://"));
        let rest = rest.ok_or_else(|| format!("{}: not a mysql:// URL", mask_url_str(url)))?;
        let (auth, host_part) = rest.rsplit_once('@').unwrap_or(("root", rest));
        let (user, password) = match auth.split_once(':') {
            Some((u, p)) => (u.to_string(), Some(p.to_string())),
            None => (auth.to_string(), None),
        };
        let host_port = host_part.split(['/', '?']).next().unwrap_or("127.0.0.1:3306");
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| format!("{host_port}: no port"))?),
            None => (host_port.to_string(), 3306),
        };
        let base = match &password {
            Some(p) => format!("mysql://{user}:{p}@{host}:{port}/"),
            None => format!("mysql://{user}@{host}:{port}/"),
        };
        Ok((MariaDbClient { host, port, user, password }, base))
    }

    /// Runs `sql` (several statements, `DELIMITER` allowed) through the client's standard input.
    fn run(&self, database: Option<&str>, sql: &str) -> Result<String> {
        use std::io::Write as _;
        let program = if on_path("mariadb") { "mariadb" } else { "mysql" };
        let mut cmd = Command::new(program);
        cmd.args(["--batch", "--skip-column-names", "-h", &self.host, "-P", &self.port.to_string(), "-u", &self.user]);
        if let Some(p) = &self.password {
            cmd.env("MYSQL_PWD", p);
        }
        if let Some(db) = database {
            cmd.arg(db);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(sql.as_bytes())
            .map_err(|e| format!("writing to {program}: {e}"))?;
        let out = child.wait_with_output().map_err(|e| format!("waiting for {program}: {e}"))?;
        let what = format!("{program} {:?}", sql.chars().take(80).collect::<String>());
        Ok(String::from_utf8_lossy(&succeeded(out, &what)?.stdout).into_owned())
    }
}

impl MariaDbDatabase {
    fn create(admin_url: &str, name: &str) -> Result<Self> {
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let (client, base) = MariaDbClient::parse(admin_url)?;
        client.run(None, &format!("DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`;"))?;
        Ok(MariaDbDatabase { base, name: name.to_string(), client, dropped: false })
    }

    fn url(&self) -> String {
        format!("{}{}", self.base, self.name)
    }

    /// The tables, made by a stored procedure in one call (one round trip; each statement commits on its own, as
    /// DDL does in MariaDB), with the rows from the `SEQUENCE` engine, then `ANALYZE` of every table.
    fn build_fixture(&self, tables: usize) -> Result<()> {
        let width = tables.to_string().len().max(4);
        let sql = format!(
            r"DELIMITER //
CREATE PROCEDURE bench_fixture()
BEGIN
  DECLARE i INT DEFAULT 1;
  DECLARE t VARCHAR(64);
  WHILE i <= {tables} DO
    SET t = CONCAT('bench_p', LPAD(i, {width}, '0'));
    SET @s = CONCAT('CREATE TABLE `', t, '` (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, ',
                    'amount INT, created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, ',
                    'INDEX `', t, '_name` (name), INDEX `', t, '_created_at` (created_at))');
    PREPARE st FROM @s; EXECUTE st; DEALLOCATE PREPARE st;
    SET @s = CONCAT('INSERT INTO `', t, '` (name, amount) SELECT CONCAT(''row '', seq), MOD(seq * 7, 1000) ',
                    'FROM seq_1_to_', 20 + MOD(i * 37, 100));
    PREPARE st FROM @s; EXECUTE st; DEALLOCATE PREPARE st;
    SET i = i + 1;
  END WHILE;
END//
DELIMITER ;
CALL bench_fixture();
DROP PROCEDURE bench_fixture;
"
        );
        self.client.run(Some(&self.name), &sql)?;
        let got = self.client.run(
            Some(&self.name),
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'bench\\_p%';",
        )?;
        if got.trim() != tables.to_string() {
            return Err(format!("the MariaDB fixture has {} bench tables, expected {tables}", got.trim()));
        }
        Ok(())
    }

    fn drop_now(mut self) -> Result<()> {
        self.dropped = true;
        self.client.run(None, &format!("DROP DATABASE IF EXISTS `{}`;", self.name)).map(|_| ())
    }
}

impl Drop for MariaDbDatabase {
    fn drop(&mut self) {
        if !self.dropped {
            let _ = self.client.run(None, &format!("DROP DATABASE IF EXISTS `{}`;", self.name));
        }
    }
}

/// The SQLite fixture, on one connection, 500 tables per transaction, then `ANALYZE` (row estimates).
async fn build_sqlite_fixture(url: &str, tables: usize) -> Result<()> {
    let url = DatabaseUrl::parse(url).map_err(|e| e.to_string())?;
    let conn = db::connect(&url, Purpose::Cli).await.map_err(|e| e.to_string())?;
    let width = tables.to_string().len().max(4);
    let exec = |sql: String| {
        let conn = conn.clone();
        async move { conn.execute_unprepared(&sql).await.map_err(|e| format!("{sql}: {e}")).map(|_| ()) }
    };
    for chunk in (1..=tables).collect::<Vec<_>>().chunks(500) {
        exec("BEGIN".into()).await?;
        for &i in chunk {
            let t = format!("bench_p{i:0width$}");
            let rows = 20 + (i * 37) % 400;
            exec(format!(
                "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount INTEGER, \
                 created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            ))
            .await?;
            exec(format!(
                "INSERT INTO {t} (name, amount) WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL \
                 SELECT x + 1 FROM g WHERE x < {rows}) SELECT 'row ' || x, (x * 7) % 1000 FROM g"
            ))
            .await?;
            // INTEGER PRIMARY KEY is the rowid, not an index: three secondary ones make three.
            for column in ["name", "created_at", "amount"] {
                exec(format!("CREATE INDEX {t}_{column} ON {t} ({column})")).await?;
            }
        }
        exec("COMMIT".into()).await?;
    }
    exec("ANALYZE".into()).await?;
    conn.close().await.ok();
    Ok(())
}

/// The name of the fixture table `i` (1-based).
fn fixture_table(tables: usize, i: usize) -> String {
    format!("bench_p{i:0width$}", width = tables.to_string().len().max(4))
}

// ---------------------------------------------------------------------------------------------------------------
// Pages against their own catalog queries

/// One page of the dashboard and what the introspector does for it.
struct PageSpec {
    /// The path under the database's pages (`/db/{name}`): `""` for its overview, `/tables`, ...
    path: String,
    /// A form to POST instead of a GET (the editor's `select 1`); `{csrf}` is replaced by the page's token.
    form: Option<String>,
    /// What the page is compared with, run directly; `None` for pages with none.
    query: Option<QueryKind>,
    /// The page must show this text (proof it rendered the fixture, not an empty list).
    expect: Option<String>,
    target: Target,
    /// A list page whose p50 may grow at most `GROWTH_TARGET` from the smallest fixture to the largest.
    growth: bool,
}

/// What a page is judged by.
#[derive(Clone, Copy)]
enum Target {
    None,
    /// p50 at most this many ms and at most `RATIO_TARGET` times its queries.
    MsAndRatio(f64),
    /// p50 at most this many ms.
    Ms(f64),
    /// p50 at most `RATIO_TARGET` times its queries.
    Ratio,
    /// The overview: p50 and p99 bounds.
    Overview,
}

#[derive(Clone)]
enum QueryKind {
    Overview,
    Tables(TableSort, bool),
    Indexes,
    Activity,
    Bloat,
    Table(String, String),
    /// A new connection of the driver's own (no psql), `select 1`, closed.
    NewConnection(String),
}

/// Timings of one page, in milliseconds.
struct PageResult {
    label: String,
    /// The first request on the fresh server (first warm-up round: new pool connections, cold caches).
    first: f64,
    page: Vec<f64>,
    query: Option<Vec<f64>>,
    /// The same page served by the baseline binary, when there is one.
    baseline: Option<Vec<f64>>,
    target: Target,
    growth: bool,
    /// Overview only: the parts of its catalog reads, each timed alone on the same connection.
    parts: Vec<(String, Vec<f64>)>,
}

fn page_specs(engine: Engine, tables: usize, schema: &str, url: &str) -> Vec<PageSpec> {
    let first = fixture_table(tables, 1);
    let one = fixture_table(tables, tables.div_ceil(2));
    let spec = |path: &str, query: Option<QueryKind>, expect: Option<&str>, target: Target, growth: bool| PageSpec {
        path: path.to_string(),
        form: None,
        query,
        expect: expect.map(str::to_string),
        target,
        growth,
    };
    let mut specs = vec![
        spec("", Some(QueryKind::Overview), Some(DB_PREFIX), Target::Overview, false),
        spec(
            "/tables",
            Some(QueryKind::Tables(TableSort::Name, false)),
            Some(&first),
            Target::MsAndRatio(TABLES_TARGET_MS),
            true,
        ),
        spec(
            "/tables?sort=total_size&dir=desc",
            Some(QueryKind::Tables(TableSort::TotalSize, true)),
            None,
            Target::MsAndRatio(SIZE_ORDER_TARGET_MS),
            false,
        ),
        spec(
            "/indexes",
            Some(QueryKind::Indexes),
            Some(&format!("{first}_created_at")),
            Target::Ms(INDEXES_TARGET_MS),
            true,
        ),
        spec("/activity", Some(QueryKind::Activity), None, Target::Ratio, false),
    ];
    if engine == Engine::Postgres {
        specs.push(spec("/bloat", Some(QueryKind::Bloat), None, Target::None, true));
    }
    specs.push(spec("/migrations", None, None, Target::None, false));
    specs.push(spec(
        &format!("/tables/{schema}/{one}"),
        Some(QueryKind::Table(schema.to_string(), one.clone())),
        Some("row 1"),
        Target::Ms(TABLE_TARGET_MS),
        false,
    ));
    specs.push(PageSpec {
        path: "/query".into(),
        form: Some("_csrf={csrf}&sql=select+1".into()),
        query: Some(QueryKind::NewConnection(url.to_string())),
        expect: None,
        target: Target::Ms(EDITOR_TARGET_MS),
        growth: false,
    });
    specs
}

/// The label of a page in the report: its path under `/db/{name}`, the overview by name.
fn label(spec: &PageSpec) -> String {
    match (&spec.form, &spec.query, spec.path.as_str()) {
        (Some(_), _, _) => "POST /query select 1".into(),
        (None, _, "") => "(overview)".into(),
        // The same label at every size (the middle table's name depends on it).
        (None, Some(QueryKind::Table(..)), _) => "table detail (middle table)".into(),
        (None, _, path) => path.to_string(),
    }
}

/// A page's full path under `base` (`/db/{name}`, or `""` for a build from before `/db/{name}`, whose overview
/// is `/`).
fn page_path(base: &str, path: &str) -> String {
    if base.is_empty() && path.is_empty() { "/".into() } else { format!("{base}{path}") }
}

/// Where a server's pages of its project database live: `/db/{name}`, or `""` when it answers 404 there (a
/// baseline built before databases had names: its pages are `/`, `/tables`, ...).
async fn pages_base(server: &Server, client: &mut Client) -> Result<String> {
    let base = server.db_path("");
    let res = client.get(&base).await?;
    Ok(if res.status == StatusCode::NOT_FOUND { String::new() } else { base })
}

/// A signed-in client of a fresh `strata serve` on `url`, every overview reading its live figures
/// (`stats_refresh = 0`: the cache refreshes are in every request).
async fn start_signed_in(binary: &Path, url: &str) -> Result<(Server, Client)> {
    let server = Server::start_with(binary, Some(url), None, &[("STRATA_STATS_REFRESH", "0")])?;
    server.wait_ready(Duration::from_secs(30)).await?;
    let cookie = login(server.addr).await?;
    let client = Client::connect(server.addr, Some(cookie)).await?;
    Ok((server, client))
}

/// The `_csrf` token of the database's editor page.
async fn editor_token(client: &mut Client, base: &str) -> Result<String> {
    let (_, body) = get_page(client, &page_path(base, "/query"), None).await?;
    hidden_field(&body, "_csrf").ok_or_else(|| "the editor page has no _csrf field".to_string())
}

/// Starts `strata serve` on the fixture, signs in through the login form, and times every page and, side by side
/// in the same round, what the page is compared with on one dedicated connection and the baseline's page.
async fn engine_pages(s: &Settings, fixture: &Fixture<'_>, baseline: Option<(&Path, &str)>) -> Result<Vec<PageResult>> {
    let engine = match fixture.cleanup {
        Cleanup::Postgres(_) => Engine::Postgres,
        Cleanup::MariaDb(_) => Engine::MariaDb,
        Cleanup::Sqlite(_) => Engine::Sqlite,
    };
    let tables = count_tables(fixture, engine).await?;
    let specs = page_specs(engine, tables, &fixture.schema, &fixture.url);
    let (server, mut client) = start_signed_in(&s.strata, &fixture.url).await?;
    let base = server.db_path("");
    println!("pages: {} on {}", base, engine.label());
    let (base_server, mut base_client) = match baseline {
        Some((binary, base_url)) => {
            let (server, mut client) = start_signed_in(binary, base_url).await?;
            let base = pages_base(&server, &mut client).await?;
            (Some(server), Some((client, base)))
        }
        None => (None, None),
    };

    let parsed = DatabaseUrl::parse(&fixture.url).map_err(|e| e.to_string())?;
    // Purpose::Cli: a pool of exactly one connection, so every direct read runs in one session.
    let conn = db::connect(&parsed, Purpose::Cli).await.map_err(|e| e.to_string())?;
    if conn.get_database_backend() == DbBackend::Postgres {
        // As the server's connections to a watched database are (`db::connect` for `Purpose::Watch`): without it a
        // read whose estimate crosses `jit_above_cost` (the bloat estimate at 10,000 tables) is JIT-compiled here
        // and not in the page, and the queries column would be the slower of the two.
        conn.execute_unprepared(
            "SELECT set_config('jit', 'off', false) WHERE current_setting('jit', true) IS NOT NULL",
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    let catalog = introspect::for_connection(conn.clone()).map_err(|e| e.to_string())?;
    let threshold = ServerSettings::default().long_query_threshold;
    // The server's home database, for what the tables page reads there: its rows' 7-day growth.
    let home_url = DatabaseUrl::parse(&server.home_url).map_err(|e| e.to_string())?;
    let home = db::connect(&home_url, Purpose::Cli).await.map_err(|e| e.to_string())?;
    let home = Home { db: &home, database: &server.db_name };

    let mut results: Vec<PageResult> = specs
        .iter()
        .map(|p| PageResult {
            label: label(p),
            first: 0.0,
            page: Vec::new(),
            query: p.query.as_ref().map(|_| Vec::new()),
            baseline: base_client.as_ref().filter(|_| p.form.is_none()).map(|_| Vec::new()),
            target: p.target,
            growth: p.growth,
            parts: Vec::new(),
        })
        .collect();
    let mut token: Option<String> = None;
    for round in 0..WARMUP_ROUNDS + s.requests {
        let timed = round >= WARMUP_ROUNDS;
        for (spec, result) in specs.iter().zip(results.iter_mut()) {
            // Rotate which of the three goes first, so none always runs on a warmer cache.
            let mut page_ms = 0.0;
            let mut query_ms = None;
            let mut base_ms = None;
            for step in 0..3 {
                match (round + step) % 3 {
                    0 => {
                        page_ms = match &spec.form {
                            Some(form) => {
                                if token.is_none() {
                                    token = Some(editor_token(&mut client, &base).await?);
                                }
                                let body = form.replace("{csrf}", token.as_deref().unwrap_or_default());
                                time_post(&mut client, &page_path(&base, &spec.path), body).await?
                            }
                            None => time_page(&mut client, &base, spec).await?,
                        }
                    }
                    1 => {
                        if let Some(kind) = &spec.query {
                            query_ms = Some(time_query(catalog.as_ref(), &home, kind, threshold, tables).await?);
                        }
                    }
                    _ => {
                        if let (Some((client, base)), None) = (base_client.as_mut(), &spec.form) {
                            base_ms = Some(time_page(client, base, spec).await?);
                        }
                    }
                }
            }
            if round == 0 {
                result.first = page_ms;
            }
            if timed {
                result.page.push(page_ms);
                if let (Some(q), Some(v)) = (query_ms, result.query.as_mut()) {
                    v.push(q);
                }
                if let (Some(b), Some(v)) = (base_ms, result.baseline.as_mut()) {
                    v.push(b);
                }
            }
        }
    }
    results[0].parts = overview_parts(engine, &conn, catalog.as_ref(), s.requests, threshold).await?;
    conn.close().await.ok();
    server.stop();
    if let Some(base) = base_server {
        base.stop();
    }
    Ok(results)
}

/// The fixture's bench tables, as the catalog counts them.
async fn count_tables(fixture: &Fixture<'_>, engine: Engine) -> Result<usize> {
    let parsed = DatabaseUrl::parse(&fixture.url).map_err(|e| e.to_string())?;
    let conn = db::connect(&parsed, Purpose::Cli).await.map_err(|e| e.to_string())?;
    let (backend, sql) = match engine {
        Engine::Postgres => {
            (DbBackend::Postgres, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'bench\\_p%'")
        }
        Engine::MariaDb => (
            DbBackend::MySql,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'bench\\_p%'",
        ),
        Engine::Sqlite => {
            (DbBackend::Sqlite, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE 'bench_p%'")
        }
    };
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .map_err(|e| format!("{sql}: {e}"))?
        .ok_or("no count")?;
    let n: i64 = row.try_get_by_index(0).map_err(|e| format!("{sql}: {e}"))?;
    conn.close().await.ok();
    Ok(n as usize)
}

/// One GET of a page under `base`, checked: status 200, no catalog timeout note, the expected text present.
async fn time_page(client: &mut Client, base: &str, spec: &PageSpec) -> Result<f64> {
    Ok(get_page(client, &page_path(base, &spec.path), spec.expect.as_deref()).await?.0)
}

/// One POST of a form (the editor's run), the whole page read; it must answer 200 without an error box.
async fn time_post(client: &mut Client, path: &str, body: String) -> Result<f64> {
    let t0 = Instant::now();
    let res = client.post_form(path, body).await?;
    let took = ms(t0);
    if res.status != StatusCode::OK {
        return Err(format!("POST {path} answered {}: {}", res.status, res.snippet()));
    }
    Ok(took)
}

/// The server's home database and the watched database's name there.
struct Home<'a> {
    db: &'a DatabaseConnection,
    database: &'a str,
}

/// The introspector calls a page makes (the same arguments as its handler), and its reads of the home database,
/// timed, with a sanity check.
async fn time_query(
    catalog: &dyn Introspector,
    home: &Home<'_>,
    kind: &QueryKind,
    threshold: Duration,
    tables: usize,
) -> Result<f64> {
    let err = |e: strata::Error| format!("catalog read failed: {e}");
    let t0 = Instant::now();
    match kind {
        // What a request reads: the slow figures come from the background refresher.
        QueryKind::Overview => {
            catalog.live_overview(threshold).await.map_err(err)?;
        }
        QueryKind::Tables(sort, descending) => {
            // web::tables: 50 per page, first page, no search.
            let q = TableQuery { sort: *sort, descending: *descending, search: None, offset: 0, limit: 50 };
            let page = catalog.tables(&q).await.map_err(err)?;
            if (page.total as usize) < tables || page.items.len() != 50 {
                return Err(format!(
                    "tables(): {} of {} rows, expected 50 of >= {tables}",
                    page.items.len(),
                    page.total
                ));
            }
            // Then, as web::tables does, the 7-day growth of those 50 from the samples in the home database.
            let names: Vec<(String, String)> = page.items.iter().map(|t| (t.schema.clone(), t.name.clone())).collect();
            let now = chrono::Utc::now().timestamp();
            samples::growth(home.db, home.database, now, 7 * 86_400, samples::Which::Named(&names))
                .await
                .map_err(err)?;
        }
        QueryKind::Indexes => {
            // web::indexes: the first page of 50, in table order, every index, no search.
            let q = IndexQuery {
                sort: IndexSort::Table,
                descending: false,
                search: None,
                filter: IndexFilter::All,
                offset: 0,
                limit: 50,
            };
            let page = catalog.indexes(&q).await.map_err(err)?;
            if (page.total as usize) < 3 * tables || page.items.len() != 50 {
                return Err(format!(
                    "indexes(): {} of {} rows, expected 50 of >= {}",
                    page.items.len(),
                    page.total,
                    3 * tables
                ));
            }
        }
        QueryKind::Activity => {
            catalog.activity(threshold).await.map_err(err)?;
        }
        QueryKind::Bloat => {
            catalog.bloat().await.map_err(err)?;
        }
        QueryKind::Table(schema, name) => {
            // web::tables::show: the detail, then the first 50 rows.
            catalog.table(schema, name).await.map_err(err)?.ok_or_else(|| format!("table({name}) found nothing"))?;
            catalog.table_rows(schema, name, 0, 50).await.map_err(err)?;
        }
        QueryKind::NewConnection(url) => {
            new_connection_select_1(url).await?;
        }
    }
    Ok(ms(t0))
}

/// A connection of the driver's own, opened, `select 1`, closed: what the editor's run does at the least.
async fn new_connection_select_1(url: &str) -> Result<()> {
    use sea_orm_migration::sea_orm::sqlx::{self, Connection};
    let parsed = DatabaseUrl::parse(url).map_err(|e| e.to_string())?;
    let driver_url = parsed.connect_url().to_string();
    let fail = |e: sqlx::Error| format!("new connection + select 1: {e}");
    if driver_url.starts_with("postgres") {
        let sep = if driver_url.contains('?') { '&' } else { '?' };
        let mut c = sqlx::PgConnection::connect(&format!("{driver_url}{sep}sslmode=disable")).await.map_err(fail)?;
        sqlx::query("select 1").execute(&mut c).await.map_err(fail)?;
        c.close().await.map_err(fail)
    } else if driver_url.starts_with("mysql") {
        let sep = if driver_url.contains('?') { '&' } else { '?' };
        let mut c =
            sqlx::MySqlConnection::connect(&format!("{driver_url}{sep}ssl-mode=DISABLED")).await.map_err(fail)?;
        sqlx::query("select 1").execute(&mut c).await.map_err(fail)?;
        c.close().await.map_err(fail)
    } else {
        let mut c = sqlx::SqliteConnection::connect(&driver_url).await.map_err(fail)?;
        sqlx::query("select 1").execute(&mut c).await.map_err(fail)?;
        c.close().await.map_err(fail)
    }
}

/// The overview's reads timed alone on one connection: on PostgreSQL the pieces of its SQL (mirroring
/// `src/db/introspect/postgres/overview.rs`), on every engine the live part, the slow figures the background task
/// reads, and the handler's migration reads.
async fn overview_parts(
    engine: Engine,
    conn: &DatabaseConnection,
    catalog: &dyn Introspector,
    n: usize,
    threshold: Duration,
) -> Result<Vec<(String, Vec<f64>)>> {
    let secs = threshold.as_secs_f64();
    let sql_parts: Vec<(&str, String)> = if engine == Engine::Postgres {
        vec![
            ("SELECT 1 (round trip)", "SELECT 1".into()),
            ("settings + version + start time", "SELECT current_setting('server_version'), current_setting('max_connections')::bigint, current_setting('autovacuum_freeze_max_age')::bigint, pg_postmaster_start_time()".into()),
            ("pg_database_size(current db)", "SELECT pg_database_size(oid) FROM pg_database WHERE datname = current_database()".into()),
            ("pg_statio_user_tables sums", "SELECT sum(heap_blks_hit)::float8 / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0)::float8 FROM pg_statio_user_tables".into()),
            ("pg_statio_user_indexes sums", "SELECT sum(idx_blks_hit)::float8 / nullif(sum(idx_blks_hit) + sum(idx_blks_read), 0)::float8 FROM pg_statio_user_indexes".into()),
            ("pg_stat_database + xid ages", "SELECT sd.stats_reset, age(db.datfrozenxid)::bigint, mxid_age(db.datminmxid)::bigint FROM pg_database db LEFT JOIN pg_stat_database sd ON sd.datid = db.oid WHERE db.datname = current_database()".into()),
            ("pg_stat_activity counts", format!("SELECT (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state = 'active' AND a.query_start < clock_timestamp() - make_interval(secs => {secs})), (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend')")),
            ("connections by state", "SELECT coalesce(a.state, 'unknown'), count(*) FROM pg_stat_activity a WHERE a.datname = current_database() AND a.backend_type = 'client backend' GROUP BY 1 ORDER BY 2 DESC, 1".into()),
        ]
    } else {
        Vec::new()
    };
    let mut parts: Vec<(String, Vec<f64>)> = sql_parts.iter().map(|(l, _)| (l.to_string(), Vec::new())).collect();
    let set = strata::migrate::MigrationSet::of::<migration::Migrator>().map_err(|e| e.to_string())?;
    let fixed = parts.len();
    for label in [
        "live_overview (what a request reads)",
        "slow_readings (background only)",
        "migrate::status (real migrator)",
        "migrate::current + history(1)",
    ] {
        parts.push((label.into(), Vec::new()));
    }
    let err = |e: strata::Error| e.to_string();
    for round in 0..WARMUP_ROUNDS + n {
        let keep = round >= WARMUP_ROUNDS;
        for (i, (_, sql)) in sql_parts.iter().enumerate() {
            let t0 = Instant::now();
            conn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
                .await
                .map_err(|e| format!("{sql}: {e}"))?;
            if keep {
                parts[i].1.push(ms(t0));
            }
        }
        let t0 = Instant::now();
        catalog.live_overview(threshold).await.map_err(err)?;
        let live = ms(t0);
        let t0 = Instant::now();
        catalog.slow_readings().await.map_err(err)?;
        let slow = ms(t0);
        let t0 = Instant::now();
        strata::migrate::status(conn, &set).await.map_err(err)?;
        let status = ms(t0);
        let t0 = Instant::now();
        strata::migrate::current(conn).await.map_err(err)?;
        strata::migrate::history(conn, 1, None).await.map_err(err)?;
        let head = ms(t0);
        if keep {
            for (i, v) in [live, slow, status, head].into_iter().enumerate() {
                parts[fixed + i].1.push(v);
            }
        }
    }
    Ok(parts)
}

// ---------------------------------------------------------------------------------------------------------------
// Load on the overview

struct LoadResult {
    /// The page under load (the fixture's overview).
    path: String,
    tool: &'static str,
    secs: f64,
    requests: u64,
    rps: f64,
    errors: u64,
    error_detail: String,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    rss_before: f64,
    rss_during: Vec<f64>,
    rss_after: f64,
    hwm: f64,
    server_error_lines: usize,
}

impl LoadResult {
    /// The first sample under load against the larger of the last one and the one after the run.
    fn flat(&self) -> bool {
        let Some(first) = self.rss_during.first() else { return true };
        let last = self.rss_during.last().map_or(self.rss_after, |l| l.max(self.rss_after));
        rss_flat(*first, last)
    }
}

/// What a load generator reports: requests answered, errors, latency percentiles.
struct Counts {
    requests: u64,
    errors: u64,
    detail: String,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

async fn load(s: &Settings, tool: LoadTool, server: &Server, cookie: &str) -> Result<LoadResult> {
    let secs = s.load_secs.max(1);
    // The overview of the database, the page the load has always been on (`/` is now the fleet page).
    let path = server.db_path("");
    println!("load: {} connections on {path} for {secs} s with {} ...", s.connections, tool_name(tool));
    let rss_before = server.rss_mib()?;
    let log_before = server.error_lines();
    let t0 = Instant::now();
    let mut rss_during = Vec::new();
    let counts = match tool {
        LoadTool::Wrk => {
            let mut child = Command::new("wrk")
                .args(["-t1", &format!("-c{}", s.connections), &format!("-d{secs}s"), "--latency", "-H"])
                .arg(format!("Cookie: {COOKIE_NAME}={cookie}"))
                .arg(format!("http://{}{path}", server.addr))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start wrk: {e}"))?;
            let mut next_sample = Instant::now() + RSS_EVERY;
            while child.try_wait().map_err(|e| format!("waiting for wrk: {e}"))?.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if Instant::now() >= next_sample {
                    rss_during.push(server.rss_mib()?);
                    next_sample += RSS_EVERY;
                }
            }
            let out = child.wait_with_output().map_err(|e| format!("reading wrk's output: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() {
                return Err(format!("wrk failed ({}): {text}{}", out.status, String::from_utf8_lossy(&out.stderr)));
            }
            parse_wrk(&text)?
        }
        LoadTool::Builtin => builtin_load(server, &path, cookie, s.connections, secs, &mut rss_during).await?,
        LoadTool::Skip => unreachable!("load() is not called without a tool"),
    };
    let elapsed = secs_f(t0);
    // Requests after the run prove the session was valid throughout (a lost session would have been a 303).
    let mut client = Client::connect(server.addr, Some(cookie.to_string())).await?;
    let after = client.get(&path).await?;
    if after.status != StatusCode::OK {
        return Err(format!("after the load GET {path} answered {}: {}", after.status, after.snippet()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = server.rss_mib()?;
    Ok(LoadResult {
        path,
        tool: tool_name(tool),
        secs: elapsed,
        requests: counts.requests,
        rps: counts.requests as f64 / elapsed.min(secs as f64).max(f64::EPSILON),
        errors: counts.errors,
        error_detail: counts.detail,
        p50_ms: counts.p50_ms,
        p99_ms: counts.p99_ms,
        rss_before,
        rss_during,
        rss_after,
        hwm: server.status_mib("VmHWM:")?,
        server_error_lines: server.error_lines().saturating_sub(log_before),
    })
}

fn secs_f(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

fn tool_name(tool: LoadTool) -> &'static str {
    match tool {
        LoadTool::Wrk => "wrk (1 thread)",
        LoadTool::Builtin => "the built-in generator (tokio tasks, 1 thread)",
        LoadTool::Skip => "nothing",
    }
}

/// Reads wrk's summary: total requests, errors (socket errors + non-2xx/3xx), p50 and p99 latency.
fn parse_wrk(text: &str) -> Result<Counts> {
    let mut requests = None;
    let mut errors = 0;
    let mut detail = Vec::new();
    let (mut p50, mut p99) = (None, None);
    for line in text.lines().map(str::trim) {
        if let Some((n, _)) = line.split_once(" requests in ") {
            requests = n.trim().parse::<u64>().ok();
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in rest.split(',') {
                let n: u64 = part.split_whitespace().last().and_then(|v| v.parse().ok()).unwrap_or(0);
                errors += n;
            }
            detail.push(format!("socket errors: {}", rest.trim()));
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            let n: u64 = rest.trim().parse().unwrap_or(0);
            errors += n;
            detail.push(format!("non-2xx/3xx: {n}"));
        } else if let Some(rest) = line.strip_prefix("50%") {
            p50 = parse_wrk_duration(rest.trim());
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99 = parse_wrk_duration(rest.trim());
        }
    }
    let requests = requests.ok_or_else(|| format!("cannot read the request count in wrk's output:\n{text}"))?;
    if detail.is_empty() {
        detail.push("wrk reported no socket errors and no non-2xx/3xx answers".into());
    }
    Ok(Counts { requests, errors, detail: detail.join(", "), p50_ms: p50, p99_ms: p99 })
}

/// `812.00us`, `3.41ms`, `1.02s` → milliseconds.
fn parse_wrk_duration(s: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|v| v * factor)
}

/// `connections` keep-alive connections, each a task sending GET `path` back to back until the time is up;
/// anything but 200 (a redirect to the login form included) and any I/O error counts as an error.
async fn builtin_load(
    server: &Server,
    path: &str,
    cookie: &str,
    connections: usize,
    secs: u64,
    rss_during: &mut Vec<f64>,
) -> Result<Counts> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (addr, cookie, path) = (server.addr, cookie.to_string(), path.to_string());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut non_200, mut io_errors) = (0u64, 0u64);
            let mut client = None;
            while Instant::now() < deadline {
                if client.is_none() {
                    match Client::connect(addr, Some(cookie.clone())).await {
                        Ok(c) => client = Some(c),
                        Err(_) => {
                            io_errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some(c) = client.as_mut() else { continue };
                let t0 = Instant::now();
                match c.get(&path).await {
                    Ok(res) if res.status == StatusCode::OK => latencies.push(ms(t0)),
                    Ok(_) => non_200 += 1,
                    Err(_) => {
                        io_errors += 1;
                        client = None;
                    }
                }
            }
            (latencies, non_200, io_errors)
        }));
    }
    while Instant::now() < deadline {
        tokio::time::sleep(RSS_EVERY.min(deadline.saturating_duration_since(Instant::now()))).await;
        if Instant::now() < deadline || rss_during.is_empty() {
            rss_during.push(server.rss_mib()?);
        }
    }
    let (mut latencies, mut non_200, mut io_errors) = (Vec::new(), 0, 0);
    for task in tasks {
        let (l, n, e) = task.await.map_err(|e| format!("a load task failed: {e}"))?;
        latencies.extend(l);
        non_200 += n;
        io_errors += e;
    }
    let requests = latencies.len() as u64 + non_200;
    let detail = format!("non-200: {non_200}, I/O errors: {io_errors}");
    let (p50, p99) = if latencies.is_empty() {
        (None, None)
    } else {
        (Some(percentile(&latencies, 0.5)), Some(percentile(&latencies, 0.99)))
    };
    Ok(Counts { requests, errors: non_200 + io_errors, detail, p50_ms: p50, p99_ms: p99 })
}

// ---------------------------------------------------------------------------------------------------------------
// The SQLite default: start-up time and idle memory

struct SqliteResult {
    fresh_ms: Vec<f64>,
    existing_ms: Vec<f64>,
    rss_started: f64,
    rss_idle: f64,
    /// Pages loaded before the idle reading.
    pages: usize,
}

/// The pages loaded (three times each) before the idle RSS reading on the SQLite default: the fleet page and the
/// example database's pages (`users` is one of its tables).
const SQLITE_PAGES: &[&str] = &["/", "", "/tables", "/indexes", "/activity", "/migrations", "/tables/main/users"];

/// `strata serve` with nothing configured, in an empty directory: it creates its home `./data/strata.db` and the
/// example project database `./data/example.db`, migrates both, creates the first admin and serves. Timed from
/// spawn to the first 200 from `/healthz`; then once more on the same files.
async fn sqlite(s: &Settings) -> Result<SqliteResult> {
    println!("sqlite: {} fresh starts and {} starts on the existing database ...", s.starts, s.starts);
    let mut result = SqliteResult {
        fresh_ms: Vec::new(),
        existing_ms: Vec::new(),
        rss_started: 0.0,
        rss_idle: 0.0,
        pages: 3 * SQLITE_PAGES.len(),
    };
    for i in 0..s.starts {
        let dir = TempDir::new(&format!("strata-pages-bench-{}-{i}", std::process::id()))?;
        for existing in [false, true] {
            let t0 = Instant::now();
            let server = Server::start(&s.strata, None, Some(dir.path()))?;
            server.wait_ready(Duration::from_secs(30)).await?;
            let elapsed = ms(t0);
            let times = if existing { &mut result.existing_ms } else { &mut result.fresh_ms };
            times.push(elapsed);
            for file in ["data/strata.db", "data/example.db"] {
                if !dir.path().join(file).is_file() {
                    return Err(format!("strata serve did not create ./{file}"));
                }
            }
            // The last server stays a little: idle memory after start, then after signing in and a few pages.
            if existing && i + 1 == s.starts {
                tokio::time::sleep(Duration::from_secs(1)).await;
                result.rss_started = server.rss_mib()?;
                let cookie = login(server.addr).await?;
                let mut client = Client::connect(server.addr, Some(cookie)).await?;
                for _ in 0..3 {
                    for page in SQLITE_PAGES {
                        let path = if *page == "/" { page.to_string() } else { server.db_path(page) };
                        let res = client.get(&path).await?;
                        if res.status != StatusCode::OK {
                            return Err(format!("SQLite: GET {path} answered {}: {}", res.status, res.snippet()));
                        }
                    }
                }
                drop(client);
                tokio::time::sleep(Duration::from_secs(2)).await;
                result.rss_idle = server.rss_mib()?;
            }
            server.stop();
        }
    }
    Ok(result)
}

// ---------------------------------------------------------------------------------------------------------------
// The report

#[derive(Default)]
struct Report {
    runs: Vec<Run>,
    pg_idle_rss: Option<f64>,
    load: Option<LoadResult>,
    sqlite: Option<SqliteResult>,
}

/// The verdict text of a page's target, from its p50, p99 and its queries' p50.
fn target_text(target: Target, p50: f64, p99: f64, q50: Option<f64>) -> String {
    let ratio = q50.map(|q| p50 / q).unwrap_or(f64::NAN);
    match target {
        Target::None => String::new(),
        Target::Overview => format!(
            "p50 <= {OVERVIEW_P50_MS} ms: {}, p99 <= {OVERVIEW_P99_MS} ms: {}",
            verdict(p50 <= OVERVIEW_P50_MS),
            verdict(p99 <= OVERVIEW_P99_MS)
        ),
        Target::Ms(limit) => format!("p50 <= {limit} ms: {}", verdict(p50 <= limit)),
        Target::Ratio => format!("<= {RATIO_TARGET}x its query: {}", verdict(ratio <= RATIO_TARGET)),
        Target::MsAndRatio(limit) => format!(
            "p50 <= {limit} ms: {}, <= {RATIO_TARGET}x its queries: {}",
            verdict(p50 <= limit),
            verdict(ratio <= RATIO_TARGET)
        ),
    }
}

impl Report {
    fn print(&self, s: &Settings) {
        let mut out = String::new();
        for run in &self.runs {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{} pages, {} tables x 3 indexes: {} timed requests each on one keep-alive connection \
                 (stats_refresh = 0: every overview reads its live figures); \"queries\" = what the page runs, on one \
                 dedicated connection, same round (the editor's: a new driver connection + select 1); \"first\" = \
                 the first request on the fresh server",
                run.engine.label(),
                run.tables,
                s.requests
            );
            let _ = writeln!(
                out,
                "{:<36} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}  target",
                "page", "first", "p50", "p90", "p99", "q p50", "q p90", "q p99", "ratio"
            );
            for p in &run.pages {
                let (p50, p90, p99) = (percentile(&p.page, 0.5), percentile(&p.page, 0.9), percentile(&p.page, 0.99));
                let q = p.query.as_ref().map(|q| (percentile(q, 0.5), percentile(q, 0.9), percentile(q, 0.99)));
                let num = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into());
                let ratio = q.map(|(q50, _, _)| format!("{:.2}x", p50 / q50)).unwrap_or_else(|| "—".into());
                let _ = writeln!(
                    out,
                    "{:<36} {:>8.1} {p50:>8.2} {p90:>8.2} {p99:>8.2} {:>8} {:>8} {:>8} {ratio:>7}  {}",
                    p.label,
                    p.first,
                    num(q.map(|q| q.0)),
                    num(q.map(|q| q.1)),
                    num(q.map(|q| q.2)),
                    target_text(p.target, p50, p99, q.map(|q| q.0))
                );
            }
            if let Some(p) = run.pages.iter().find(|p| !p.parts.is_empty()) {
                let _ = writeln!(out, "  overview, its reads timed alone on the same connection:");
                for (label, v) in &p.parts {
                    let _ = writeln!(
                        out,
                        "    {label:<40} p50 {:>8.2} ms  p90 {:>8.2} ms",
                        percentile(v, 0.5),
                        percentile(v, 0.9)
                    );
                }
            }
            if run.pages.iter().any(|p| p.baseline.is_some()) {
                let _ = writeln!(out, "  against the baseline (its own fixture, same rounds, order rotating):");
                for p in &run.pages {
                    let Some(b) = &p.baseline else { continue };
                    let (p50, b50) = (percentile(&p.page, 0.5), percentile(b, 0.5));
                    let _ = writeln!(
                        out,
                        "    {:<36} p50 {p50:>8.2}  baseline {b50:>8.2}  {:>6.2}x  <= {BASELINE_TARGET}: {}",
                        p.label,
                        p50 / b50,
                        verdict(p50 / b50 <= BASELINE_TARGET)
                    );
                }
            }
        }
        self.print_growth(&mut out, s);
        if let Some(rss) = self.pg_idle_rss {
            let _ = writeln!(out, "\nserver RSS on PostgreSQL after sign-in, before the load: {rss:.1} MiB");
        }
        self.print_load(&mut out, s);
        self.print_sqlite(&mut out);
        let _ = writeln!(out, "\nload average at the end: {} ({} CPU(s))", load_average(), cpus());
        print!("{out}");
    }

    /// Each engine's list pages from the smallest fixture to the largest.
    fn print_growth(&self, out: &mut String, s: &Settings) {
        let (Some(small), Some(large)) = (s.sizes.first(), s.sizes.last()) else { return };
        if small == large {
            return;
        }
        for engine in &s.engines {
            let find = |n: usize| self.runs.iter().find(|r| r.engine == *engine && r.tables == n);
            let (Some(a), Some(b)) = (find(*small), find(*large)) else { continue };
            let _ = writeln!(out);
            let _ = writeln!(out, "{} growth from {small} to {large} tables (p50):", engine.label());
            for (pa, pb) in a.pages.iter().zip(&b.pages) {
                let (x, y) = (percentile(&pa.page, 0.5), percentile(&pb.page, 0.5));
                let target = if pa.growth {
                    format!("<= {GROWTH_TARGET}x: {}", verdict(y / x <= GROWTH_TARGET))
                } else {
                    String::new()
                };
                let _ = writeln!(out, "  {:<36} {x:>8.2} -> {y:>8.2} ms  {:>6.2}x  {target}", pa.label, y / x);
            }
        }
    }

    fn print_load(&self, out: &mut String, s: &Settings) {
        match &self.load {
            Some(l) => {
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "load on the overview {} with {}: {} connections, {:.0} s",
                    l.path, l.tool, s.connections, l.secs
                );
                let lat = |v: Option<f64>| v.map(|v| format!("{v:.2} ms")).unwrap_or_else(|| "—".into());
                let _ = writeln!(
                    out,
                    "  {} requests, {:.0} req/s, latency p50 {} p99 {}",
                    l.requests,
                    l.rps,
                    lat(l.p50_ms),
                    lat(l.p99_ms)
                );
                let _ = writeln!(
                    out,
                    "  errors: {} ({}); server ERROR log lines during the run: {}  target 0: {}",
                    l.errors,
                    l.error_detail,
                    l.server_error_lines,
                    verdict(l.errors == 0 && l.server_error_lines == 0)
                );
                let during: Vec<String> = l.rss_during.iter().map(|r| format!("{r:.1}")).collect();
                let _ = writeln!(
                    out,
                    "  RSS MiB: before {:.1}, every {} s [{}], after {:.1}, peak (VmHWM) {:.1}  flat: {}",
                    l.rss_before,
                    RSS_EVERY.as_secs(),
                    during.join(", "),
                    l.rss_after,
                    l.hwm,
                    verdict(l.flat())
                );
                if l.secs < 59.0 {
                    let _ = writeln!(out, "  (shortened run: the target is 60 s, STRATA_BENCH_LOAD_SECS=60)");
                }
            }
            None => {
                let _ = writeln!(out, "\nload: skipped (STRATA_BENCH_LOAD_SECS=0 or STRATA_BENCH_LOAD_TOOL=none)");
            }
        }
    }

    fn print_sqlite(&self, out: &mut String) {
        let Some(q) = &self.sqlite else { return };
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "SQLite default (home ./data/strata.db, project ./data/example.db), {} runs each:",
            q.fresh_ms.len()
        );
        let row = |v: &[f64]| {
            let (min, max) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
            format!("median {:.1} ms (min {min:.1}, max {max:.1})", percentile(v, 0.5))
        };
        let _ = writeln!(
            out,
            "  start to serving, empty directory:     {}  target < {START_TARGET_MS} ms: {}",
            row(&q.fresh_ms),
            verdict(percentile(&q.fresh_ms, 0.5) < START_TARGET_MS)
        );
        let _ = writeln!(
            out,
            "  start to serving, existing database:   {}  target < {START_TARGET_MS} ms: {}",
            row(&q.existing_ms),
            verdict(percentile(&q.existing_ms, 0.5) < START_TARGET_MS)
        );
        let _ = writeln!(out, "  RSS 1 s after start:                   {:.1} MiB", q.rss_started);
        let _ = writeln!(
            out,
            "  RSS idle after sign-in + {} pages:     {:.1} MiB  target < {IDLE_RSS_TARGET_MIB} MiB: {}",
            q.pages,
            q.rss_idle,
            verdict(q.rss_idle < IDLE_RSS_TARGET_MIB)
        );
    }
}
