//! `watched-load-bench`: what the trend sampler adds to a watched database's own query load. A private PostgreSQL
//! cluster (pg_stat_statements preloaded) holds a database of 1,000 tables and 1,000 indexes plus pgbench's tables;
//! a real `strata serve` watches it with the sampler off, then on (interval shortened), in alternating rounds,
//! while `pgbench -S` runs a fixed time. Reported: the workload's throughput each way (the target: the sampler
//! costs it at most 5 % at the default 60 s interval; measured at the short interval and scaled), and the sampler's
//! own database time (pg_stat_statements, by the role Strata connects as) per sample, against the workload's, with
//! the sampler's costliest statements.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use strata_bench::*;

/// Where Debian keeps PostgreSQL 15's server programs (`STRATA_BENCH_PG_BIN` overrides).
const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const DB_NAME: &str = "watched";
/// The role Strata connects as: its statements are told apart from the workload's by it.
const STRATA_ROLE: &str = "strata_sampler";
const TABLES: usize = 1000;
/// What the sampler may cost the workload's throughput, at the default interval.
const LOAD_TARGET_SHARE: f64 = 0.05;
/// The default `sample_interval` the short one is scaled to.
const DEFAULT_INTERVAL_S: f64 = 60.0;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A PostgreSQL cluster of this run's own (never the shared server: its settings are the benchmark's), stopped and
/// removed on drop.
struct Cluster {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
}

fn as_postgres(bin: &Path, program: &str) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(bin.join(program)).stdin(Stdio::null());
    cmd
}

impl Cluster {
    fn start() -> Result<Cluster> {
        let bin = PathBuf::from(std::env::var("STRATA_BENCH_PG_BIN").unwrap_or_else(|_| DEFAULT_PG_BIN.into()));
        if !bin.join("initdb").is_file() {
            return Err(format!("no initdb in {} (set STRATA_BENCH_PG_BIN)", bin.display()));
        }
        let dir = TempDir::new(&format!("strata-watched-load-{}", std::process::id()))?;
        succeeded(
            Command::new("chown").arg("postgres:postgres").arg(dir.path()).output().map_err(|e| e.to_string())?,
            "chown",
        )?;
        let data = dir.path().join("data");
        let out = as_postgres(&bin, "initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "--locale=C", "-E", "UTF8"])
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        succeeded(out, "initdb")?;
        let port = free_port()?.port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c shared_preload_libraries=pg_stat_statements \
             -c max_connections=50 -c shared_buffers=128MB",
            dir.path().display()
        );
        let out = as_postgres(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        succeeded(out, "pg_ctl start")?;
        Ok(Cluster { bin, dir, port })
    }

    fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }
}

/// One round: the server's sampler on or off, and what the window measured.
struct Round {
    on: bool,
    tps: f64,
    /// Database time (ms) of Strata's statements and of the workload's in the window.
    strata_ms: f64,
    workload_ms: f64,
    /// Raw samples the sampler stored in the window.
    samples: i64,
    seconds: f64,
}

async fn run() -> Result<bool> {
    let rounds = env_usize("STRATA_BENCH_ROUNDS", 3)?.max(1);
    let seconds = env_usize("STRATA_BENCH_SECONDS", 30)?.max(5);
    let interval = env_usize("STRATA_BENCH_INTERVAL", 5)?.max(1);
    let clients = env_usize("STRATA_BENCH_CLIENTS", 2)?.max(1);
    let strata = strata_binary()?;
    if !on_path("pgbench") {
        return Err("pgbench is not on PATH (Debian: postgresql-client)".into());
    }
    println!("watched-load-bench on {} CPUs, load {}", cpus(), load_average());
    let preloaded = std::env::var("STRATA_BENCH_PG_URL")
        .ok()
        .or_else(|| Some("postgres://postgres@127.0.0.1:5432/postgres".into()))
        .and_then(|u| query(&u, "SHOW shared_preload_libraries").ok())
        .map(|s| s.trim().to_string());
    println!(
        "the shared server's shared_preload_libraries: {:?}; a private cluster with pg_stat_statements preloaded is \
         used instead, so the sampler's own statements can be measured",
        preloaded.unwrap_or_else(|| "(unreadable)".into())
    );
    let cluster = Cluster::start()?;
    let admin = cluster.url("postgres", "postgres");
    query(&admin, &format!("CREATE DATABASE {DB_NAME}"))?;
    query(&admin, &format!("CREATE ROLE {STRATA_ROLE} LOGIN SUPERUSER"))?;
    let url = cluster.url("postgres", DB_NAME);
    let db = Database::connect(url.as_str()).await.map_err(|e| e.to_string())?;
    db.execute_unprepared("CREATE EXTENSION pg_stat_statements").await.map_err(|e| e.to_string())?;
    let ddl: Vec<String> = (0..TABLES)
        .map(|i| format!("CREATE TABLE t{i} (id bigint PRIMARY KEY, v text); CREATE INDEX t{i}_v ON t{i} (v);"))
        .collect();
    for chunk in ddl.chunks(100) {
        db.execute_unprepared(&chunk.join("\n")).await.map_err(|e| e.to_string())?;
    }
    db.close().await.ok();
    let out = Command::new("pgbench")
        .args(["-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", "postgres", DB_NAME])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run pgbench: {e}"))?;
    succeeded(out, "pgbench -i")?;
    query(&url, "VACUUM ANALYZE")?;
    println!(
        "watched: {TABLES} tables + {TABLES} indexes + pgbench scale 10; workload: pgbench -S, {clients} clients, \
         {seconds} s per round; sampler on: sample_interval {interval}s; {rounds} rounds each way, alternating"
    );

    let watched_url = cluster.url(STRATA_ROLE, DB_NAME);
    let mut results: Vec<Round> = Vec::new();
    for k in 0..rounds * 2 {
        // off, on, on, off, off, on, ...: each way goes first as often.
        let on = matches!(k % 4, 1 | 2);
        let r = round(&strata, &cluster, &url, &watched_url, on, interval, seconds, clients).await?;
        println!(
            "  round {}: sampler {:>3}: {:.0} tps; Strata's database time {:.0} ms, the workload's {:.0} ms, {} samples",
            k + 1,
            if on { "on" } else { "off" },
            r.tps,
            r.strata_ms,
            r.workload_ms,
            r.samples
        );
        results.push(r);
    }

    let pick =
        |on: bool, f: &dyn Fn(&Round) -> f64| -> Vec<f64> { results.iter().filter(|r| r.on == on).map(f).collect() };
    let tps_off = percentile(&pick(false, &|r| r.tps), 0.5);
    let tps_on = percentile(&pick(true, &|r| r.tps), 0.5);
    let drop_short = 1.0 - tps_on / tps_off;
    let scale = interval as f64 / DEFAULT_INTERVAL_S;
    // The sampler's database time per sample, and the workload's database time per second.
    let per_sample: Vec<f64> = results
        .iter()
        .filter(|r| r.on && r.samples > 0)
        .map(|r| (r.strata_ms - off_baseline(&results, r)) / r.samples as f64)
        .collect();
    if per_sample.is_empty() {
        return Err("the sampler stored no sample in any round: is sample_interval shorter than the round?".into());
    }
    let per_sample_ms = percentile(&per_sample, 0.5);
    let workload_ms_per_s = percentile(&pick(true, &|r| r.workload_ms / r.seconds), 0.5);
    let share_short = per_sample_ms / interval as f64 / workload_ms_per_s;
    let share_default = per_sample_ms / DEFAULT_INTERVAL_S / workload_ms_per_s;
    let strata_off_ms_per_s = percentile(&pick(false, &|r| r.strata_ms / r.seconds), 0.5);
    let drop_default = drop_short * scale;
    println!(
        "workload throughput (median of {rounds} rounds each): sampler off {tps_off:.0} tps, on every {interval}s \
         {tps_on:.0} tps ({:+.1} %); scaled to the default {DEFAULT_INTERVAL_S:.0} s: {:+.2} % [target: at most \
         {:.0} % less: {}]",
        -drop_short * 100.0,
        -drop_default * 100.0,
        LOAD_TARGET_SHARE * 100.0,
        verdict(drop_default <= LOAD_TARGET_SHARE)
    );
    println!(
        "the sampler's own database time: {per_sample_ms:.1} ms per sample (median; Strata's other statements with \
         the sampler off: {strata_off_ms_per_s:.2} ms/s, subtracted) against the workload's {workload_ms_per_s:.0} ms \
         per second: {:.1} % of it at {interval}s, {:.2} % at {DEFAULT_INTERVAL_S:.0} s",
        share_short * 100.0,
        share_default * 100.0,
    );
    println!("the sampler's costliest statements (all rounds):");
    let top = query(
        &url,
        &format!(
            "SELECT round(total_exec_time::numeric, 0) || ' ms in ' || calls || ' calls: ' || \
                    left(regexp_replace(query, '\\s+', ' ', 'g'), 90) \
             FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = '{STRATA_ROLE}' \
             ORDER BY total_exec_time DESC LIMIT 4"
        ),
    )?;
    for line in top.lines() {
        println!("  {line}");
    }
    Ok(drop_default <= LOAD_TARGET_SHARE)
}

/// Strata's database time with the sampler off, per second, scaled to round `r`'s window: what the server does
/// anyway (health checks), not the sampler's.
fn off_baseline(results: &[Round], r: &Round) -> f64 {
    let off: Vec<f64> = results.iter().filter(|x| !x.on).map(|x| x.strata_ms / x.seconds).collect();
    if off.is_empty() { 0.0 } else { percentile(&off, 0.5) * r.seconds }
}

/// Database time (ms) of the statements of Strata's role and of the others.
fn db_time(admin: &str) -> Result<(f64, f64)> {
    let out = query(
        admin,
        &format!(
            "SELECT COALESCE(SUM(total_exec_time) FILTER (WHERE r.rolname = '{STRATA_ROLE}'), 0), \
                    COALESCE(SUM(total_exec_time) FILTER (WHERE r.rolname <> '{STRATA_ROLE}'), 0) \
             FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
        ),
    )?;
    let mut parts = out.trim().split('|').map(|v| v.parse::<f64>().map_err(|e| format!("{out:?}: {e}")));
    Ok((parts.next().ok_or("no row")??, parts.next().ok_or("no column")??))
}

#[allow(clippy::too_many_arguments)]
async fn round(
    strata: &Path,
    cluster: &Cluster,
    url: &str,
    watched_url: &str,
    on: bool,
    interval: usize,
    seconds: usize,
    clients: usize,
) -> Result<Round> {
    let interval_text = if on { format!("{interval}s") } else { "0".into() };
    let server = Server::start_with(strata, Some(watched_url), None, &[("STRATA_SAMPLE_INTERVAL", &interval_text)])?;
    server.wait_ready(Duration::from_secs(60)).await?;
    // Let the server settle (its first sample, connections) before the window opens.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (strata0, work0) = db_time(url)?;
    let t0 = chrono::Utc::now().timestamp();
    let started = std::time::Instant::now();
    let out = Command::new("pgbench")
        .args(["-n", "-S", "-c", &clients.to_string(), "-j", &clients.to_string(), "-T", &seconds.to_string()])
        .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", "postgres", DB_NAME])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run pgbench: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    let t1 = chrono::Utc::now().timestamp();
    let (strata1, work1) = db_time(url)?;
    let out = succeeded(out, "pgbench -S")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no tps in pgbench's output:\n{text}"))?;
    let home = Database::connect(server.home_url.as_str()).await.map_err(|e| e.to_string())?;
    let row = home
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM samples WHERE resolution_s = 0 AND at_s > ? AND at_s <= ?",
            [t0.into(), t1.into()],
        ))
        .await
        .map_err(|e| e.to_string())?;
    let samples: i64 = row.and_then(|r| r.try_get("", "n").ok()).unwrap_or(0);
    home.close().await.ok();
    server.stop();
    Ok(Round { on, tps, strata_ms: strata1 - strata0, workload_ms: work1 - work0, samples, seconds: secs })
}
