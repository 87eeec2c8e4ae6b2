//! `metrics-bench`: `/metrics` scrape and API overview (`/api/v1/databases/{name}/overview`) latency, then a
//! sustained load on `/metrics`, `/healthz` or the API overview at 16 connections with its errors and the server's
//! memory, against a `strata serve` on PostgreSQL.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use strata::config::mask_url_str;
use strata_bench::*;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every database this benchmark creates starts with this.
const DB_PREFIX: &str = "strata_bench_metrics";
/// The scrape p50 target with cached readings, in milliseconds.
const SCRAPE_TARGET_MS: f64 = 5.0;
/// The API overview's p50 target, in milliseconds.
const API_TARGET_MS: f64 = 5.0;
/// Untimed scrapes first (connection, first encodings).
const WARMUP: usize = 20;
/// How often the server's RSS is sampled under load.
const RSS_EVERY: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2), // measured, but a target was missed
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Settings {
    admin_url: String,
    scrapes: usize,
    load_secs: u64,
    connections: usize,
    /// `/metrics`, `/healthz`, or `/api/v1/overview` for the API overview of the database (which lives at
    /// `/api/v1/databases/{name}/overview`).
    load_path: String,
    strata: PathBuf,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let load_path = std::env::var("STRATA_BENCH_LOAD_PATH").unwrap_or_else(|_| "/metrics".into());
        if !matches!(load_path.as_str(), "/metrics" | "/healthz" | "/api/v1/overview") {
            return Err(format!("STRATA_BENCH_LOAD_PATH={load_path:?}: use /metrics, /healthz or /api/v1/overview"));
        }
        Ok(Settings {
            admin_url: std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string()),
            scrapes: env_usize("STRATA_BENCH_REQUESTS", 500)?.max(1),
            load_secs: env_usize("STRATA_BENCH_LOAD_SECS", 60)? as u64,
            connections: env_usize("STRATA_BENCH_LOAD_CONNECTIONS", 16)?.max(1),
            load_path,
            strata: strata_binary()?,
        })
    }
}

async fn run() -> Result<bool> {
    let s = Settings::from_env()?;
    let pg = Pg::new(&s.admin_url)?;
    let version = pg.admin_query("SHOW server_version")?;
    println!("strata metrics benchmark: PostgreSQL {} at {}", version.trim(), mask_url_str(&s.admin_url));
    println!("machine: {} CPU(s), load average {}", cpus(), load_average());
    let name = format!("{DB_PREFIX}_{}", std::process::id());
    let fixture = Database::create(&pg, &name)?;
    let url = pg.url_for(&name);
    let migrate = Command::new(&s.strata).arg("--database-url").arg(&url).args(["migrate", "up"]).output();
    succeeded(migrate.map_err(|e| format!("cannot start strata migrate up: {e}"))?, "strata migrate up")?;

    // Collections every second, so the load also runs across many of them (a scrape never waits for one).
    let server = Server::start_with(&s.strata, Some(&url), None, &[("STRATA_METRICS_REFRESH", "1s")])?;
    server.wait_ready(Duration::from_secs(30)).await?;
    let mut all_met = true;
    let api_overview = server.api_path("/overview");

    let scrape = scrape_latency(&s, &server).await?;
    let met = scrape.p50 < SCRAPE_TARGET_MS;
    all_met &= met;
    println!(
        "\n/metrics scrape with cached readings, {} sequential GETs on one keep-alive connection:\n  \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} bytes, {} series lines  [target p50 < {SCRAPE_TARGET_MS} ms: {}]",
        s.scrapes,
        scrape.p50,
        scrape.p90,
        scrape.p99,
        scrape.max,
        scrape.bytes,
        scrape.lines,
        verdict(met)
    );

    // An API key for the JSON API, made the way a pipeline would: `strata key create`, in the server's home.
    let created = Command::new(&s.strata)
        .arg("--home-url")
        .arg(&server.home_url)
        .arg("--database-url")
        .arg(&url)
        .args(["key", "create", "--user", ADMIN_USER, "--name", "bench", "--scope", "read_catalog"])
        .output();
    let created = succeeded(created.map_err(|e| format!("cannot start strata key create: {e}"))?, "strata key create")?;
    let key = String::from_utf8_lossy(&created.stdout).trim().to_string();
    let api = api_latency(&s, server.addr, &api_overview, &key).await?;
    let met = api.0 < API_TARGET_MS;
    all_met &= met;
    println!(
        "
{api_overview} with a bearer key, {} sequential GETs on one keep-alive connection:\n  \
         p50 {:.2} ms, p90 {:.2} ms  [target p50 < {API_TARGET_MS} ms: {}]",
        s.scrapes,
        api.0,
        api.1,
        verdict(met)
    );

    if s.load_secs > 0 {
        let path = if s.load_path == "/api/v1/overview" { api_overview.clone() } else { s.load_path.clone() };
        let load = load(&s, &server, &path, &key).await?;
        let (first, last) = (load.rss.first().copied().unwrap_or(0.0), load.rss.last().copied().unwrap_or(0.0));
        let flat = rss_flat(first, last);
        let met = load.errors == 0 && flat;
        all_met &= met;
        println!(
            "\n{} connections on {} for {:.1} s (built-in generator, 1 thread):\n  \
             {} requests, {:.0} req/s, errors {} ({}), p50 {:.2} ms, p99 {:.2} ms\n  \
             server RSS MiB before {:.1}, every {} s {:?}, after {:.1}, peak {:.1}: {}  [target: zero errors, flat memory: {}]",
            s.connections,
            path,
            load.secs,
            load.requests,
            load.requests as f64 / load.secs,
            load.errors,
            load.detail,
            load.p50,
            load.p99,
            load.rss_before,
            RSS_EVERY.as_secs(),
            load.rss.iter().map(|r| (r * 10.0).round() / 10.0).collect::<Vec<_>>(),
            load.rss_after,
            server.status_mib("VmHWM:")?,
            if flat { "flat" } else { "grew" },
            verdict(met)
        );
        let log_errors = server.error_lines();
        if log_errors > 0 {
            println!("  the server logged {log_errors} error line(s):\n{}", server.log_tail());
        }
    } else {
        println!("\nload: skipped (STRATA_BENCH_LOAD_SECS=0)");
    }
    server.stop();
    fixture.drop_now()?;
    Ok(all_met)
}

struct ScrapeResult {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    bytes: usize,
    lines: usize,
}

/// Waits for the first collection, then times sequential scrapes.
async fn scrape_latency(s: &Settings, server: &Server) -> Result<ScrapeResult> {
    let mut client = Client::connect(server.addr, None).await?;
    let up = format!("\nstrata_db_up{{database=\"{}\"}} 1\n", server.db_name);
    let t0 = Instant::now();
    loop {
        let res = client.get("/metrics").await?;
        if res.status != StatusCode::OK {
            return Err(format!("/metrics answered {}: {}", res.status, res.snippet()));
        }
        if String::from_utf8_lossy(&res.body).contains(&up) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(format!("no successful collection within 30 s:\n{}", res.snippet()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..WARMUP {
        client.get("/metrics").await?;
    }
    let mut times = Vec::with_capacity(s.scrapes);
    let mut last = Vec::new();
    for _ in 0..s.scrapes {
        let t = Instant::now();
        let res = client.get("/metrics").await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if res.status != StatusCode::OK {
            return Err(format!("/metrics answered {}", res.status));
        }
        last = res.body.to_vec();
    }
    let text = String::from_utf8_lossy(&last);
    Ok(ScrapeResult {
        p50: percentile(&times, 0.5),
        p90: percentile(&times, 0.9),
        p99: percentile(&times, 0.99),
        max: times.iter().copied().fold(0.0, f64::max),
        bytes: last.len(),
        lines: text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count(),
    })
}

struct LoadResult {
    secs: f64,
    requests: u64,
    errors: u64,
    detail: String,
    p50: f64,
    p99: f64,
    rss_before: f64,
    rss: Vec<f64>,
    rss_after: f64,
}

/// `connections` keep-alive clients each sending GETs back to back until the deadline.
/// p50 and p90 of the API overview at `path`, after a warm-up.
async fn api_latency(s: &Settings, addr: SocketAddr, path: &str, key: &str) -> Result<(f64, f64)> {
    let mut client = Client::connect(addr, None).await?;
    client.bearer = Some(key.to_string());
    let mut times = Vec::with_capacity(s.scrapes);
    for i in 0..WARMUP + s.scrapes {
        let t = Instant::now();
        let res = client.get(path).await?;
        if res.status != StatusCode::OK {
            return Err(format!("{path} answered {}: {}", res.status, res.snippet()));
        }
        if i >= WARMUP {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok((percentile(&times, 0.5), percentile(&times, 0.9)))
}

async fn load(s: &Settings, server: &Server, path: &str, key: &str) -> Result<LoadResult> {
    println!("\nload: {} connections on {path} for {} s ...", s.connections, s.load_secs);
    let rss_before = server.rss_mib()?;
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(s.load_secs);
    let mut tasks = Vec::with_capacity(s.connections);
    for _ in 0..s.connections {
        let (addr, path, key) = (server.addr, path.to_string(), key.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut non_200, mut io_errors) = (Vec::new(), 0u64, 0u64);
            let mut client = None;
            while Instant::now() < deadline {
                if client.is_none() {
                    match Client::connect(addr, None).await {
                        Ok(mut c) => {
                            c.bearer = Some(key.clone());
                            client = Some(c);
                        }
                        Err(_) => {
                            io_errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some(c) = client.as_mut() else { continue };
                let t = Instant::now();
                match c.get(&path).await {
                    Ok(res) if res.status == StatusCode::OK => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
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
    let mut rss = vec![server.rss_mib()?];
    while Instant::now() < deadline {
        tokio::time::sleep(RSS_EVERY.min(deadline.saturating_duration_since(Instant::now()))).await;
        rss.push(server.rss_mib()?);
    }
    let (mut latencies, mut non_200, mut io_errors) = (Vec::new(), 0, 0);
    for task in tasks {
        let (l, n, e) = task.await.map_err(|e| format!("a load task failed: {e}"))?;
        latencies.extend(l);
        non_200 += n;
        io_errors += e;
    }
    let secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (p50, p99) =
        if latencies.is_empty() { (0.0, 0.0) } else { (percentile(&latencies, 0.5), percentile(&latencies, 0.99)) };
    Ok(LoadResult {
        secs,
        requests: latencies.len() as u64 + non_200,
        errors: non_200 + io_errors,
        detail: format!("non-200: {non_200}, I/O errors: {io_errors}"),
        p50,
        p99,
        rss_before,
        rss,
        rss_after: server.rss_mib()?,
    })
}
