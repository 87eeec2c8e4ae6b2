//! `pages-bench`: times the dashboard pages on a 1,000-table PostgreSQL fixture against their own catalog queries, loads the overview, and measures start-up and idle memory on the SQLite default.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use strata::config::{DatabaseUrl, Settings as ServerSettings, mask_url_str};
use strata::db::introspect::{self, Introspector, TableQuery, TableSort};
use strata::db::{self, Purpose};
use strata_bench::*;

/// The admin connection used to create and drop the fixture database.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every database this benchmark creates starts with this, so a leftover is easy to spot and drop.
const DB_PREFIX: &str = "strata_bench_pages";
/// Untimed rounds before the timed ones (connection set-up, plan caches, the OS page cache).
const WARMUP_ROUNDS: usize = 3;
/// Tables, sorted by size and indexes pages may take at most this multiple of their own queries' p50.
const RATIO_TARGET: f64 = 1.3;
/// The overview page's p50 target, in milliseconds.
const OVERVIEW_TARGET_MS: f64 = 5.0;
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

/// What one invocation measures, read from the environment.
struct Settings {
    admin_url: String,
    tables: usize,
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
        let tables = env_usize("STRATA_BENCH_TABLES", 1000)?.max(1);
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
        Ok(Settings { admin_url, tables, requests, load_secs, connections, load_tool, starts, strata, baseline })
    }
}

async fn run() -> Result<()> {
    let s = Settings::from_env()?;
    let pg = Pg::new(&s.admin_url)?;
    let version = pg.admin_query("SHOW server_version")?;
    println!(
        "strata pages benchmark: {} tables x 2 indexes, {} timed requests per page after {WARMUP_ROUNDS} warm-up rounds, \
         PostgreSQL {} at {}",
        s.tables,
        s.requests,
        version.trim(),
        mask_url_str(&s.admin_url)
    );
    println!("machine: {} CPU(s), load average {}", cpus(), load_average());

    let name = format!("{DB_PREFIX}_{}", std::process::id());
    let (fixture, url) = fixture_database(&pg, &name, &s.strata, s.tables)?;
    // The baseline gets a fixture of its own: its migrator may not know the revisions this binary applied.
    let baseline = match &s.baseline {
        Some(binary) => {
            println!("baseline: {} (its pages are timed in the same rounds)", binary.display());
            Some((binary.as_path(), fixture_database(&pg, &format!("{name}_base"), binary, s.tables)?))
        }
        None => None,
    };

    let pages = postgres_pages(&s, &url, baseline.as_ref().map(|(binary, (_, url))| (*binary, url.as_str()))).await?;
    if let Some((_, (db, _))) = baseline {
        db.drop_now()?;
    }
    let mut report = Report { pages, ..Report::default() };

    // The server stays up for the load run; it was started fresh for the page timings above.
    let server = Server::start(&s.strata, Some(&url), None)?;
    server.wait_ready(Duration::from_secs(30)).await?;
    let cookie = login(server.addr).await?;
    report.pg_idle_rss = Some(server.rss_mib()?);
    report.load = match s.load_tool {
        LoadTool::Skip => None,
        tool => Some(load(&s, tool, &server, &cookie).await?),
    };
    server.stop();
    fixture.drop_now()?;

    report.sqlite = Some(sqlite(&s).await?);
    report.print(&s);
    Ok(())
}

/// A fresh database named `name`, migrated by `strata` (the binary under test or the baseline), with the fixture.
fn fixture_database<'a>(pg: &'a Pg, name: &str, strata: &Path, tables: usize) -> Result<(Database<'a>, String)> {
    let fixture = Database::create(pg, name)?;
    let url = pg.url_for(name);
    let t0 = Instant::now();
    let migrate = Command::new(strata).arg("--database-url").arg(&url).args(["migrate", "up"]).output();
    succeeded(migrate.map_err(|e| format!("cannot start strata migrate up: {e}"))?, "strata migrate up")?;
    build_fixture(&url, tables)?;
    println!(
        "fixture {name}: strata migrate up, {tables} tables with rows, 2 indexes each, ANALYZE in {:.1} s",
        secs(t0)
    );
    Ok((fixture, url))
}

fn secs(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------------------------
// The fixture

/// `tables` tables `bench_pNNNN`, each with an identity primary key, 20 to 419 rows and two secondary indexes,
/// one transaction per table (thousands of relations in one would exhaust the lock table), then `ANALYZE`.
fn build_fixture(url: &str, tables: usize) -> Result<()> {
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
    COMMIT;
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
    /// The introspector calls the page makes, run directly on one connection; `None` for pages with none.
    query: Option<QueryKind>,
    /// The page must show this text (proof it rendered the fixture, not an empty list).
    expect: Option<String>,
    /// Whether the page's p50 is judged against its queries' p50 (`RATIO_TARGET`).
    ratio_target: bool,
}

#[derive(Clone)]
enum QueryKind {
    Overview,
    Tables(TableSort, bool),
    Indexes,
    Activity,
    Bloat,
    Table(String),
}

/// Timings of one page, in milliseconds.
struct PageResult {
    path: String,
    page: Vec<f64>,
    query: Option<Vec<f64>>,
    /// The same page served by the baseline binary, when there is one.
    baseline: Option<Vec<f64>>,
    ratio_target: bool,
    /// Overview only: the parts of its catalog reads, each timed alone on the same connection.
    parts: Vec<(String, Vec<f64>)>,
}

fn page_specs(tables: usize) -> Vec<PageSpec> {
    let first = fixture_table(tables, 1);
    let one = fixture_table(tables, tables.div_ceil(2));
    let spec = |path: &str, query: Option<QueryKind>, expect: Option<&str>, ratio_target: bool| PageSpec {
        path: path.to_string(),
        query,
        expect: expect.map(str::to_string),
        ratio_target,
    };
    vec![
        spec("", Some(QueryKind::Overview), Some("strata_bench_pages"), false),
        spec("/tables", Some(QueryKind::Tables(TableSort::Name, false)), Some(&first), true),
        spec("/tables?sort=total_size&dir=desc", Some(QueryKind::Tables(TableSort::TotalSize, true)), None, true),
        spec("/indexes", Some(QueryKind::Indexes), Some(&format!("{first}_created_at")), true),
        spec("/activity", Some(QueryKind::Activity), None, false),
        spec("/bloat", Some(QueryKind::Bloat), None, false),
        spec("/migrations", None, None, false),
        spec(&format!("/tables/public/{one}"), Some(QueryKind::Table(one.clone())), Some("row 1"), false),
    ]
}

/// The label of a page in the report: its path under `/db/{name}`, the overview by name.
fn label(path: &str) -> &str {
    if path.is_empty() { "(overview)" } else { path }
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

/// Starts `strata serve` on the fixture, signs in through the login form, and times every page and, side by side
/// in the same round, the catalog reads behind it on one dedicated connection and the baseline's page.
async fn postgres_pages(s: &Settings, url: &str, baseline: Option<(&Path, &str)>) -> Result<Vec<PageResult>> {
    let specs = page_specs(s.tables);
    let server = Server::start(&s.strata, Some(url), None)?;
    server.wait_ready(Duration::from_secs(30)).await?;
    let cookie = login(server.addr).await?;
    let mut client = Client::connect(server.addr, Some(cookie)).await?;
    let base = server.db_path("");
    println!("pages: {base}");
    let (base_server, mut base_client) = match baseline {
        Some((binary, base_url)) => {
            let server = Server::start(binary, Some(base_url), None)?;
            server.wait_ready(Duration::from_secs(30)).await?;
            let cookie = login(server.addr).await?;
            let mut client = Client::connect(server.addr, Some(cookie)).await?;
            let base = pages_base(&server, &mut client).await?;
            (Some(server), Some((client, base)))
        }
        None => (None, None),
    };

    let parsed = DatabaseUrl::parse(url).map_err(|e| e.to_string())?;
    // Purpose::Cli: a pool of exactly one connection, so every direct read runs in one session.
    let conn = db::connect(&parsed, Purpose::Cli).await.map_err(|e| e.to_string())?;
    let catalog = introspect::for_connection(conn.clone()).map_err(|e| e.to_string())?;
    let threshold = ServerSettings::default().long_query_threshold;

    let mut results: Vec<PageResult> = specs
        .iter()
        .map(|p| PageResult {
            path: p.path.clone(),
            page: Vec::new(),
            query: p.query.as_ref().map(|_| Vec::new()),
            baseline: base_client.as_ref().map(|_| Vec::new()),
            ratio_target: p.ratio_target,
            parts: Vec::new(),
        })
        .collect();
    for round in 0..WARMUP_ROUNDS + s.requests {
        let timed = round >= WARMUP_ROUNDS;
        for (spec, result) in specs.iter().zip(results.iter_mut()) {
            // Rotate which of the three goes first, so none always runs on a warmer cache.
            let mut page_ms = 0.0;
            let mut query_ms = None;
            let mut base_ms = None;
            for step in 0..3 {
                match (round + step) % 3 {
                    0 => page_ms = time_page(&mut client, &base, spec).await?,
                    1 => {
                        if let Some(kind) = &spec.query {
                            query_ms = Some(time_query(catalog.as_ref(), kind, threshold, s.tables).await?);
                        }
                    }
                    _ => {
                        if let Some((client, base)) = base_client.as_mut() {
                            base_ms = Some(time_page(client, base, spec).await?);
                        }
                    }
                }
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
    results[0].parts = overview_parts(&conn, s.requests, threshold).await?;
    conn.close().await.ok();
    server.stop();
    if let Some(base) = base_server {
        base.stop();
    }
    Ok(results)
}

/// One GET of a page under `base`, checked: status 200, no catalog timeout note, the expected text present.
async fn time_page(client: &mut Client, base: &str, spec: &PageSpec) -> Result<f64> {
    Ok(get_page(client, &page_path(base, &spec.path), spec.expect.as_deref()).await?.0)
}

/// The introspector calls a page makes (the same arguments as its handler), timed, with a sanity check.
async fn time_query(catalog: &dyn Introspector, kind: &QueryKind, threshold: Duration, tables: usize) -> Result<f64> {
    let err = |e: strata::Error| format!("catalog read failed: {e}");
    let t0 = Instant::now();
    match kind {
        QueryKind::Overview => {
            catalog.overview(threshold).await.map_err(err)?;
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
        }
        QueryKind::Indexes => {
            let all = catalog.indexes().await.map_err(err)?;
            if all.len() < 3 * tables {
                return Err(format!("indexes(): {} rows, expected >= {}", all.len(), 3 * tables));
            }
        }
        QueryKind::Activity => {
            catalog.activity(threshold).await.map_err(err)?;
        }
        QueryKind::Bloat => {
            catalog.bloat().await.map_err(err)?;
        }
        QueryKind::Table(name) => {
            // web::tables::show: the detail, then the first 50 rows.
            catalog.table("public", name).await.map_err(err)?.ok_or_else(|| format!("table({name}) found nothing"))?;
            catalog.table_rows("public", name, 0, 50).await.map_err(err)?;
        }
    }
    Ok(ms(t0))
}

/// The pieces of the overview's catalog reads (mirroring `OVERVIEW_SQL` and `CONNECTIONS_SQL` in
/// `src/db/introspect/postgres/overview.rs`) and the handler's migration reads, each timed alone on one connection.
async fn overview_parts(conn: &DatabaseConnection, n: usize, threshold: Duration) -> Result<Vec<(String, Vec<f64>)>> {
    let secs = threshold.as_secs_f64();
    let sql_parts: Vec<(&str, String)> = vec![
        ("SELECT 1 (round trip)", "SELECT 1".into()),
        ("settings + version + start time", "SELECT current_setting('server_version'), current_setting('max_connections')::bigint, current_setting('autovacuum_freeze_max_age')::bigint, pg_postmaster_start_time()".into()),
        ("pg_database_size(current db)", "SELECT pg_database_size(oid) FROM pg_database WHERE datname = current_database()".into()),
        ("pg_statio_user_tables sums", "SELECT sum(heap_blks_hit)::float8 / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0)::float8 FROM pg_statio_user_tables".into()),
        ("pg_statio_user_indexes sums", "SELECT sum(idx_blks_hit)::float8 / nullif(sum(idx_blks_hit) + sum(idx_blks_read), 0)::float8 FROM pg_statio_user_indexes".into()),
        ("pg_stat_database + xid ages", "SELECT sd.stats_reset, age(db.datfrozenxid)::bigint, mxid_age(db.datminmxid)::bigint FROM pg_database db LEFT JOIN pg_stat_database sd ON sd.datid = db.oid WHERE db.datname = current_database()".into()),
        ("pg_stat_activity counts", format!("SELECT (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state = 'active' AND a.query_start < clock_timestamp() - make_interval(secs => {secs})), (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend')")),
        ("connections by state", "SELECT coalesce(a.state, 'unknown'), count(*) FROM pg_stat_activity a WHERE a.datname = current_database() AND a.backend_type = 'client backend' GROUP BY 1 ORDER BY 2 DESC, 1".into()),
    ];
    let mut parts: Vec<(String, Vec<f64>)> = sql_parts.iter().map(|(l, _)| (l.to_string(), Vec::new())).collect();
    // The rest of the overview handler's reads: the migration state, head and last run.
    let set = strata::migrate::MigrationSet::of::<migration::Migrator>().map_err(|e| e.to_string())?;
    parts.push(("migrate::status (real migrator)".into(), Vec::new()));
    parts.push(("migrate::current + history(1)".into(), Vec::new()));
    for round in 0..WARMUP_ROUNDS + n {
        for (i, (_, sql)) in sql_parts.iter().enumerate() {
            let t0 = Instant::now();
            conn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
                .await
                .map_err(|e| format!("{sql}: {e}"))?;
            if round >= WARMUP_ROUNDS {
                parts[i].1.push(ms(t0));
            }
        }
        let t0 = Instant::now();
        strata::migrate::status(conn, &set).await.map_err(|e| e.to_string())?;
        if round >= WARMUP_ROUNDS {
            parts[sql_parts.len()].1.push(ms(t0));
        }
        let t0 = Instant::now();
        strata::migrate::current(conn).await.map_err(|e| e.to_string())?;
        strata::migrate::history(conn, 1, None).await.map_err(|e| e.to_string())?;
        if round >= WARMUP_ROUNDS {
            parts[sql_parts.len() + 1].1.push(ms(t0));
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
    pages: Vec<PageResult>,
    pg_idle_rss: Option<f64>,
    load: Option<LoadResult>,
    sqlite: Option<SqliteResult>,
}

impl Report {
    fn print(&self, s: &Settings) {
        let mut out = String::new();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "pages of the fixture (under /db/<name>) on PostgreSQL, {} tables: {} timed GETs each on one keep-alive \
             connection; \"queries\" = the page's introspector calls on one dedicated connection, same round",
            s.tables, s.requests
        );
        let _ = writeln!(
            out,
            "{:<36} {:>9} {:>9} {:>11} {:>11} {:>8}  target",
            "page", "p50 ms", "p90 ms", "query p50", "query p90", "ratio"
        );
        for p in &self.pages {
            let (p50, p90) = (percentile(&p.page, 0.5), percentile(&p.page, 0.9));
            let (q50, q90, ratio) = match &p.query {
                Some(q) => {
                    let q50 = percentile(q, 0.5);
                    (format!("{q50:.2}"), format!("{:.2}", percentile(q, 0.9)), format!("{:.2}x", p50 / q50))
                }
                None => ("—".into(), "—".into(), "—".into()),
            };
            let target = if p.path.is_empty() {
                format!("p50 < {OVERVIEW_TARGET_MS} ms: {}", verdict(p50 < OVERVIEW_TARGET_MS))
            } else if p.ratio_target {
                let q50 = p.query.as_ref().map(|q| percentile(q, 0.5)).unwrap_or(f64::NAN);
                format!("ratio <= {RATIO_TARGET}: {}", verdict(p50 / q50 <= RATIO_TARGET))
            } else {
                String::new()
            };
            let _ =
                writeln!(out, "{:<36} {p50:>9.2} {p90:>9.2} {q50:>11} {q90:>11} {ratio:>8}  {target}", label(&p.path));
        }
        if let Some(binary) = &s.baseline {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "against the baseline {} (its own fixture, same rounds, order rotating):",
                binary.display()
            );
            let _ = writeln!(out, "{:<36} {:>9} {:>12} {:>8}  target", "page", "p50 ms", "baseline p50", "ratio");
            for p in &self.pages {
                let Some(b) = &p.baseline else { continue };
                let (p50, b50) = (percentile(&p.page, 0.5), percentile(b, 0.5));
                let _ = writeln!(
                    out,
                    "{:<36} {p50:>9.2} {b50:>12.2} {:>7.2}x  ratio <= {BASELINE_TARGET}: {}",
                    label(&p.path),
                    p50 / b50,
                    verdict(p50 / b50 <= BASELINE_TARGET)
                );
            }
        }
        if let Some(p) = self.pages.iter().find(|p| !p.parts.is_empty()) {
            let _ = writeln!(out);
            let _ = writeln!(out, "overview, its parts timed alone on the same connection:");
            let _ = writeln!(out, "{:<36} {:>9} {:>9}", "part", "p50 ms", "p90 ms");
            for (label, v) in &p.parts {
                let _ = writeln!(out, "{label:<36} {:>9.2} {:>9.2}", percentile(v, 0.5), percentile(v, 0.9));
            }
        }
        if let Some(rss) = self.pg_idle_rss {
            let _ = writeln!(out, "\nserver RSS on PostgreSQL after sign-in, before the load: {rss:.1} MiB");
        }
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
        if let Some(q) = &self.sqlite {
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
        let _ = writeln!(out, "\nload average at the end: {} ({} CPU(s))", load_average(), cpus());
        print!("{out}");
    }
}
