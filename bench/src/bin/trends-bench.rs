//! `trends-bench`: what the trend charts and the sampler cost. A 30-day chart over one-minute samples (43,200 raw
//! points read from a SQLite home database, rates computed, reduced and drawn as SVG: p50 target 20 ms), and the
//! sampler's CPU per sample of a PostgreSQL database with 1,000 tables (scaled to 20 such databases at the default
//! 60 s interval: target at most 2 % of one core).
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use strata::config::{Config, DatabaseUrl, Overrides, SampleRetention};
use strata::home::samples::{self, Epoch, Metric, RAW, Row};
use strata::web::chart::{self, Chart};
use strata_bench::*;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DB_NAME: &str = "strata_bench_trends";
const POINTS: i64 = 43_200;
const CHART_TARGET_MS: f64 = 20.0;
const CPU_TARGET_SHARE: f64 = 0.02;
const TABLES: usize = 1000;

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

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn run() -> Result<bool> {
    let runs = env_usize("STRATA_BENCH_REQUESTS", 50)?.max(1);
    println!("trends-bench on {} CPUs, load {}", cpus(), load_average());
    let chart_ok = chart(runs).await?;
    let sampler_ok = sampler(env_usize("STRATA_BENCH_SAMPLES", 10)?.max(1)).await?;
    Ok(chart_ok && sampler_ok)
}

/// 30 days of one-minute samples in a SQLite home, read and drawn `runs` times.
async fn chart(runs: usize) -> Result<bool> {
    let dir = tempfile::tempdir().map_err(err)?;
    let url = DatabaseUrl::parse(&format!("sqlite:///{}", dir.path().join("home.db").display())).map_err(err)?;
    strata::home::migrate(&url).await.map_err(err)?;
    let home = Database::connect(format!("sqlite://{}", dir.path().join("home.db").display())).await.map_err(err)?;
    let to = 1_800_000_000i64;
    let from = to - POINTS * 60;
    let rows: Vec<Row> = (0..POINTS)
        .map(|i| {
            let mut values = vec![None; 14];
            values[0] = Some(1_000_000 + i * 100);
            values[5] = Some(i * 37);
            Row { at: from + i * 60, values, epoch: Epoch::default() }
        })
        .collect();
    let tx = home.begin().await.map_err(err)?;
    samples::insert_samples(&tx, "app", RAW, &rows).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    let retention = SampleRetention { raw: Duration::from_secs(31 * 86_400), ..SampleRetention::default() };
    let mut whole = Vec::new();
    let mut render = Vec::new();
    let mut before = Vec::new();
    for metric in ["db_size", "commits_per_s"] {
        let metric = Metric::parse(metric).unwrap();
        for _ in 0..runs {
            // What the chart reads: one point per pixel column, reduced by the home database.
            let started = Instant::now();
            let points = samples::chart_series(&home, "app", &metric, from, to, chart::COLUMNS).await.map_err(err)?;
            let drawn = Instant::now();
            let svg = draw(&metric, from, to, &points);
            let done = Instant::now();
            assert!(points.len() > 500 && points.len() <= chart::COLUMNS as usize && svg.len() > 1000);
            whole.push((done - started).as_secs_f64() * 1000.0);
            render.push((done - drawn).as_secs_f64() * 1000.0);
            // Side by side, what it read before: every sample, rates computed and reduced in Strata.
            let started = Instant::now();
            let resolution = samples::resolution_for(from, to, &retention);
            let points = samples::series(&home, "app", &metric, from, to, resolution).await.map_err(err)?;
            let svg = draw(&metric, from, to, &points);
            assert!(points.len() as i64 >= POINTS - 1 && svg.len() > 1000);
            before.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let p50 = percentile(&whole, 0.5);
    println!(
        "30-day chart over {POINTS} one-minute samples, reduced to {} buckets in the home database: read + SVG p50 \
         {p50:.1} ms, p95 {:.1} ms (SVG alone p50 {:.2} ms), {} runs [target p50 <= {CHART_TARGET_MS} ms: {}]; \
         reading every sample and reducing in Strata instead: p50 {:.1} ms",
        chart::COLUMNS,
        percentile(&whole, 0.95),
        percentile(&render, 0.5),
        whole.len(),
        verdict(p50 <= CHART_TARGET_MS),
        percentile(&before, 0.5),
    );
    Ok(p50 <= CHART_TARGET_MS)
}

fn draw(metric: &Metric, from: i64, to: i64, points: &[(i64, f64)]) -> String {
    chart::render(&Chart {
        title: "Database size",
        unit: metric.unit(),
        from,
        to,
        points,
        markers: &[],
        markers_href: "/db/app/migrations",
    })
}

/// This process's CPU time so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command: state is field 0, utime 11, stime 12 (clock ticks of 1/100 s).
    (ticks(11) + ticks(12)) / 100.0
}

/// `samples` samples of a PostgreSQL database with 1,000 tables, each into a SQLite home.
async fn sampler(samples_n: usize) -> Result<bool> {
    let admin_url = std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string());
    let admin = Database::connect(admin_url.as_str()).await.map_err(err)?;
    let exec = |sql: String| Statement::from_string(DbBackend::Postgres, sql);
    admin.execute_raw(exec(format!("DROP DATABASE IF EXISTS {DB_NAME}"))).await.map_err(err)?;
    admin.execute_raw(exec(format!("CREATE DATABASE {DB_NAME}"))).await.map_err(err)?;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or_default();
    let url = format!("{base}/{DB_NAME}");
    let result = sample_tables(&url, samples_n).await;
    admin.execute_raw(exec(format!("DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))).await.map_err(err)?;
    result
}

async fn sample_tables(url: &str, samples_n: usize) -> Result<bool> {
    let db = Database::connect(url).await.map_err(err)?;
    let ddl: Vec<String> = (0..TABLES)
        .map(|i| format!("CREATE TABLE t{i} (id bigint PRIMARY KEY, v text); CREATE INDEX t{i}_v ON t{i} (v);"))
        .collect();
    for chunk in ddl.chunks(100) {
        db.execute_unprepared(&chunk.join("\n")).await.map_err(err)?;
    }
    db.close().await.ok();
    let dir = tempfile::tempdir().map_err(err)?;
    let home_url = format!("sqlite:///{}", dir.path().join("home.db").display());
    let overrides = Overrides {
        database_url: Some(url.to_string()),
        home_url: Some(home_url.clone()),
        watch: vec![format!("app={url}")],
        ..Default::default()
    };
    let mut config = Config::load(&overrides, &|_| None).map_err(err)?;
    config.settings.secret_key_file = Some(dir.path().join("strata.key"));
    strata::home::migrate(&config.home_url).await.map_err(err)?;
    let home = Database::connect(format!("sqlite://{}", dir.path().join("home.db").display())).await.map_err(err)?;
    let spec = config.watched.iter().find(|s| s.name == "app").cloned().ok_or("no watched app")?;
    let watched = strata::watch::Watched::open(spec, &config, &home).await.map_err(err)?;
    let start = chrono::Utc::now();
    // One untimed sample: connections, first object ids.
    strata::watch::sampler::sample(&home, &watched, Duration::from_secs(30), start).await.map_err(err)?;
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    for k in 1..=samples_n {
        let at = start + chrono::Duration::seconds(60 * k as i64);
        strata::watch::sampler::sample(&home, &watched, Duration::from_secs(30), at).await.map_err(err)?;
    }
    let cpu = (cpu_seconds() - cpu0) / samples_n as f64;
    let wall = wall0.elapsed().as_secs_f64() / samples_n as f64;
    let share = cpu * 20.0 / 60.0;
    println!(
        "sampling one PostgreSQL database of {TABLES} tables and {TABLES} indexes: {:.0} ms CPU and {:.0} ms wall per \
         sample ({samples_n} samples); 20 such databases every 60 s: {:.2} % of one core [target <= {:.0} %: {}]",
        cpu * 1000.0,
        wall * 1000.0,
        share * 100.0,
        CPU_TARGET_SHARE * 100.0,
        verdict(share <= CPU_TARGET_SHARE)
    );
    Ok(share <= CPU_TARGET_SHARE)
}
