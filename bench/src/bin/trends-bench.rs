//! `trends-bench`: what the trend charts and the sampler cost. A 30-day chart over one-minute samples (43,200 raw
//! points read from a SQLite home database, rates computed, reduced and drawn as SVG: p50 target 20 ms), the
//! sampler's CPU per sample of a PostgreSQL database with 1,000 tables (scaled to 20 such databases at the default
//! 60 s interval: target at most 2 % of one core), and the home database's growth over a simulated year of one
//! watched database at the default settings (target at most 50 MiB), and the tables page's growth column over 8 days
//! of samples of 1,000 tables. `trends-bench [chart] [sampler] [growth] [tables]` runs the parts named, all of them
//! without an argument.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use sea_orm_migration::sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait,
};
use strata::config::{Config, DatabaseUrl, Overrides, SampleRetention};
use strata::db::introspect::{ConnectionStates, IndexInfo, SampleReadings, StatementInfo, TableInfo};
use strata::home::samples::{self, Epoch, Metric, RAW, Row, Taken};
use strata::home::statement_samples;
use strata::web::chart::{self, Chart};
use strata_bench::*;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DB_NAME: &str = "strata_bench_trends";
const POINTS: i64 = 43_200;
const CHART_TARGET_MS: f64 = 20.0;
const CPU_TARGET_SHARE: f64 = 0.02;
const TABLES: usize = 1000;
const GROWTH_DB: &str = "strata_bench_growth";
const GROWTH_TARGET_MIB: f64 = 50.0;
/// The watched database the simulated year is of: tables, indexes and sampled statements.
const REAL_TABLES: usize = 1000;
const REAL_INDEXES: usize = 1000;
const REAL_STATEMENTS: usize = 200;

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
    let parts: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = parts.iter().find(|p| !["chart", "sampler", "growth", "tables"].contains(&p.as_str())) {
        return Err(format!("{unknown:?}: the parts are chart, sampler, growth and tables"));
    }
    let wanted = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    println!("trends-bench on {} CPUs, load {}", cpus(), load_average());
    let mut ok = true;
    if wanted("chart") {
        ok &= chart(runs).await?;
    }
    if wanted("sampler") {
        ok &= sampler(env_usize("STRATA_BENCH_SAMPLES", 10)?.max(1)).await?;
    }
    if wanted("growth") {
        ok &= growth().await?;
    }
    if wanted("tables") {
        tables_growth(runs).await?;
    }
    Ok(ok)
}

/// The tables page's 7-day growth column with the samples of a long-watched database: 8 simulated days of 1,000
/// tables and 1,000 indexes at the default settings in a SQLite home (raw samples kept 2 days, then 5-minute
/// averages), then a page of 50 tables' growth (what `/tables` sorted by the catalog reads), side by side with
/// every sampled table's growth from the whole replay of their samples (what the growth order reads, and what a
/// page of 50 read before it followed its own tables only). Both must agree on those 50.
async fn tables_growth(runs: usize) -> Result<()> {
    let days = env_usize("STRATA_BENCH_TABLES_DAYS", 8)?.max(1);
    let dir = tempfile::tempdir().map_err(err)?;
    let path = dir.path().join("home.db");
    let url = DatabaseUrl::parse(&format!("sqlite:///{}", path.display())).map_err(err)?;
    strata::home::migrate(&url).await.map_err(err)?;
    let home = Database::connect(format!("sqlite://{}", path.display())).await.map_err(err)?;
    let took = simulate(&home, REAL_TABLES, 1, days, false).await?;
    let now = 1_750_000_000i64 / 3600 * 3600 + days as i64 * 86_400 - 60;
    let span = 7 * 86_400;
    let page: Vec<(String, String)> = (0..50).map(|i| ("public".to_string(), format!("table_{:04}", i * 20))).collect();
    let (mut named, mut whole) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let (mine, _) = samples::growth(&home, "app", now, span, samples::Which::Named(&page)).await.map_err(err)?;
        named.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let which = samples::Which::ByGrowth { search: None, descending: true, offset: 0, limit: u64::MAX };
        let (all, _) = samples::growth(&home, "app", now, span, which).await.map_err(err)?;
        whole.push(started.elapsed().as_secs_f64() * 1000.0);
        for g in &mine {
            let same = all.iter().find(|a| (&a.schema, &a.name) == (&g.schema, &g.name));
            if same != Some(g) {
                return Err(format!("{}: the page's growth {g:?} differs from the whole replay's {same:?}", g.name));
            }
        }
        if mine.len() != page.len() || mine.iter().all(|g| g.growth.is_none()) {
            return Err(format!(
                "{} of 50 tables with growth read: the simulation left no samples 7 days back",
                mine.len()
            ));
        }
    }
    println!(
        "tables page growth column, {days} simulated days of {REAL_TABLES} tables in a SQLite home ({:.0} s): a page \
         of 50 tables p50 {:.2} ms; every sampled table from the whole replay p50 {:.2} ms; {runs} runs each",
        took.as_secs_f64(),
        percentile(&named, 0.5),
        percentile(&whole, 0.5),
    );
    home.close().await.ok();
    Ok(())
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
    let mut lag = Vec::new();
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
            assert!(
                points.len() > 500 && points.len() <= chart::COLUMNS as usize && svg.len() > 1000,
                "{}",
                points.len()
            );
            whole.push((done - started).as_secs_f64() * 1000.0);
            render.push((done - drawn).as_secs_f64() * 1000.0);
            // Side by side, the same buckets from every raw sample in the home database (rates from `LAG`): what
            // the chart read before the rollups, and what they must equal.
            let started = Instant::now();
            let raw =
                samples::chart_series_from_raw(&home, "app", &metric, from, to, chart::COLUMNS).await.map_err(err)?;
            let svg_raw = draw(&metric, from, to, &raw);
            lag.push(started.elapsed().as_secs_f64() * 1000.0);
            if raw.len() != points.len()
                || raw.iter().zip(&points).any(|(a, b)| a.0 != b.0 || (a.1 - b.1).abs() > 1e-9 * a.1.abs().max(1.0))
                || svg_raw.len() != svg.len()
            {
                return Err(format!("{metric:?}: the rollups' chart differs from the raw samples' one"));
            }
            // And what a client of the samples API does: every sample, rates computed and reduced in Strata.
            let started = Instant::now();
            let resolution = samples::resolution_for(from, to, &retention);
            let points = samples::series(&home, "app", &metric, from, to, resolution).await.map_err(err)?;
            let svg = draw(&metric, from, to, &points);
            assert!(points.len() as i64 >= POINTS - 1 && svg.len() > 1000);
            before.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let p50 = percentile(&whole, 0.5);
    let (_, bucket) = samples::grid(from, to, chart::COLUMNS);
    println!(
        "30-day chart over {POINTS} one-minute samples, {} columns (buckets of {bucket} s), read from the 5-minute \
         rollups in the home database: read + SVG p50 {p50:.1} ms, p95 {:.1} ms (SVG alone p50 {:.2} ms), {} runs \
         [target p50 <= {CHART_TARGET_MS} ms: {}]; the same buckets from every raw sample (LAG) p50 {:.1} ms; \
         every sample read and reduced in Strata p50 {:.1} ms",
        chart::COLUMNS,
        percentile(&whole, 0.95),
        percentile(&render, 0.5),
        whole.len(),
        verdict(p50 <= CHART_TARGET_MS),
        percentile(&lag, 0.5),
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
    // As the sampler samples while it holds its lease: the packed streams' newest states kept between samples
    // (STRATA_BENCH_SAMPLER_KEEP=0: forgotten after each sample, so each append replays its hour, as before).
    let keep = env_usize("STRATA_BENCH_SAMPLER_KEEP", 1)? != 0;
    let mut tails = strata::home::samples::Tails::default();
    let timeout = Duration::from_secs(30);
    // One untimed sample: connections, first object ids.
    strata::watch::sampler::sample_with(&home, &watched, timeout, start, &mut tails).await.map_err(err)?;
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    for k in 1..=samples_n {
        let at = start + chrono::Duration::seconds(60 * k as i64);
        if !keep {
            tails.clear();
        }
        strata::watch::sampler::sample_with(&home, &watched, timeout, at, &mut tails).await.map_err(err)?;
    }
    let cpu = (cpu_seconds() - cpu0) / samples_n as f64;
    let wall = wall0.elapsed().as_secs_f64() / samples_n as f64;
    let share = cpu * 20.0 / 60.0;
    println!(
        "sampling one PostgreSQL database of {TABLES} tables and {TABLES} indexes ({}): {:.0} ms CPU and {:.0} ms wall per \
         sample ({samples_n} samples); 20 such databases every 60 s: {:.2} % of one core [target <= {:.0} %: {}]",
        if keep { "stream states kept, as the lease holder samples" } else { "stream states replayed each sample" },
        cpu * 1000.0,
        wall * 1000.0,
        share * 100.0,
        CPU_TARGET_SHARE * 100.0,
        verdict(share <= CPU_TARGET_SHARE)
    );
    Ok(share <= CPU_TARGET_SHARE)
}

/// A year of one watched database at the default settings (a sample every 60 s; `sample_retention` 2 d, 30 d, 1 y),
/// written for past times an hour at a time with the sampler's own writes (`home::samples::record_many`,
/// `home::statement_samples::record`) and the retention job after each hour, into a SQLite home and then a
/// PostgreSQL one; the home database's size at the end. The per-object tables are simulated with
/// `STRATA_BENCH_GROWTH_OBJECTS` tables and as many indexes (default 10) and `STRATA_BENCH_GROWTH_STATEMENTS`
/// statements (default 10) and scaled to 1,000 tables, 1,000 indexes and the top 200 statements: their rows, and so
/// their size, grow with the number of objects (a full-size year is 1.2 billion rows to write).
async fn growth() -> Result<bool> {
    let objects = env_usize("STRATA_BENCH_GROWTH_OBJECTS", 10)?.clamp(1, REAL_TABLES);
    let statements = env_usize("STRATA_BENCH_GROWTH_STATEMENTS", 10)?.clamp(1, REAL_STATEMENTS);
    let days = env_usize("STRATA_BENCH_GROWTH_DAYS", 365)?.max(1);
    let uneven = match std::env::var("STRATA_BENCH_GROWTH_MIX").as_deref() {
        Ok("uneven") => true,
        Ok("even") | Err(_) => false,
        Ok(other) => return Err(format!("STRATA_BENCH_GROWTH_MIX={other:?}: the mixes are even and uneven")),
    };
    if uneven {
        println!("the uneven mix: every reading off its steady pace by a pseudo-random amount each minute");
    }
    let scale = |table: &str| -> f64 {
        match table {
            // `sample_packs` is scaled kind by kind, its rows' own overhead not at all (see `packs_factor`).
            "sample_tables" | "sample_indexes" | "sample_objects" => REAL_TABLES as f64 / objects as f64,
            "sample_statements" | "sample_queries" => REAL_STATEMENTS as f64 / statements as f64,
            _ => 1.0,
        }
    };

    let mut ok = true;
    if env_usize("STRATA_BENCH_GROWTH_SQLITE", 1)? != 0 {
        let dir = tempfile::tempdir().map_err(err)?;
        let path = dir.path().join("home.db");
        let url = DatabaseUrl::parse(&format!("sqlite:///{}", path.display())).map_err(err)?;
        strata::home::migrate(&url).await.map_err(err)?;
        let home = Database::connect(format!("sqlite://{}", path.display())).await.map_err(err)?;
        let took = simulate(&home, objects, statements, days, uneven).await?;
        let by_kind = packs_by_kind(&home).await?;
        let sizes = rows_of(
            &home,
            "SELECT m.tbl_name AS name, CAST(SUM(d.pgsize) AS TEXT) AS bytes FROM dbstat d \
         JOIN sqlite_master m ON m.name = d.name GROUP BY m.tbl_name",
        )
        .await?;
        let free = rows_of(
            &home,
            "SELECT 'free' AS name, CAST((SELECT freelist_count FROM pragma_freelist_count) * \
         (SELECT page_size FROM pragma_page_size) AS TEXT) AS bytes",
        )
        .await?;
        home.close().await.ok();
        let file = std::fs::metadata(&path).map_err(err)?.len() as f64;
        let free = free.first().map(|(_, b)| *b).unwrap_or(0.0);
        let packed = sizes.iter().find(|(n, _)| n == "sample_packs").map(|(_, b)| *b).unwrap_or(0.0);
        let factor = packs_factor(packed, &by_kind, objects, statements);
        let scale_here = |t: &str| if t == "sample_packs" { factor } else { scale(t) };
        ok &= report("SQLite", &sizes, &scale_here, days, took, Some((file, free)), (objects, statements));
    }
    if env_usize("STRATA_BENCH_GROWTH_PG", 1)? == 0 {
        return Ok(ok);
    }

    let admin_url = std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string());
    let admin = Database::connect(admin_url.as_str()).await.map_err(err)?;
    let exec = |sql: String| Statement::from_string(DbBackend::Postgres, sql);
    admin.execute_raw(exec(format!("DROP DATABASE IF EXISTS {GROWTH_DB}"))).await.map_err(err)?;
    admin.execute_raw(exec(format!("CREATE DATABASE {GROWTH_DB}"))).await.map_err(err)?;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or_default();
    let url = format!("{base}/{GROWTH_DB}");
    let result = async {
        strata::home::migrate(&DatabaseUrl::parse(&url).map_err(err)?).await.map_err(err)?;
        let home = Database::connect(url.as_str()).await.map_err(err)?;
        let took = simulate(&home, objects, statements, days, uneven).await?;
        let by_kind = packs_by_kind(&home).await?;
        let sizes = rows_of(
            &home,
            "SELECT c.relname AS name, CAST(pg_total_relation_size(c.oid) AS TEXT) AS bytes FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'",
        )
        .await?;
        home.close().await.ok();
        let packed = sizes.iter().find(|(n, _)| n == "sample_packs").map(|(_, b)| *b).unwrap_or(0.0);
        let factor = packs_factor(packed, &by_kind, objects, statements);
        let scale_here = |t: &str| if t == "sample_packs" { factor } else { scale(t) };
        Ok::<_, String>(report("PostgreSQL", &sizes, &scale_here, days, took, None, (objects, statements)))
    }
    .await;
    admin.execute_raw(exec(format!("DROP DATABASE IF EXISTS {GROWTH_DB} WITH (FORCE)"))).await.map_err(err)?;
    ok &= result?;
    Ok(ok)
}

/// Prints the packed values' bytes per kind and resolution (before any scaling; a row's own overhead excluded);
/// answers the values' bytes per kind (1 tables, 2 indexes, 3 statements).
async fn packs_by_kind(home: &DatabaseConnection) -> Result<Vec<(i16, f64)>> {
    let sql = "SELECT kind, resolution_s, CAST(COUNT(*) AS TEXT) AS n, CAST(SUM(LENGTH(data)) AS TEXT) AS bytes \
               FROM sample_packs GROUP BY kind, resolution_s ORDER BY kind, resolution_s";
    let rows = home.query_all_raw(Statement::from_string(home.get_database_backend(), sql)).await.map_err(err)?;
    let (mut parts, mut by_kind) = (Vec::new(), Vec::<(i16, f64)>::new());
    for row in rows {
        let code = row.try_get::<i16>("", "kind").map_err(err)?;
        let kind = match code {
            1 => "tables",
            2 => "indexes",
            _ => "statements",
        };
        let resolution: i32 = row.try_get("", "resolution_s").map_err(err)?;
        let n: String = row.try_get("", "n").map_err(err)?;
        let bytes: f64 = row.try_get::<String>("", "bytes").map_err(err)?.parse().map_err(err)?;
        parts.push(format!("{kind} at {resolution} s: {n} rows, {:.2} MiB of values", bytes / MIB));
        match by_kind.iter_mut().find(|(k, _)| *k == code) {
            Some((_, sum)) => *sum += bytes,
            None => by_kind.push((code, bytes)),
        }
    }
    println!("sample_packs as measured: {}", parts.join("; "));
    Ok(by_kind)
}

/// What `sample_packs` (`measured` bytes in all) scales by: each kind's values by its own number of objects, the
/// rest (a row per kind and sample time, whatever the number of objects; pages' overhead) not at all.
fn packs_factor(measured: f64, by_kind: &[(i16, f64)], objects: usize, statements: usize) -> f64 {
    let values: f64 = by_kind.iter().map(|(_, b)| b).sum();
    let scaled: f64 = by_kind
        .iter()
        .map(|(kind, b)| {
            b * if *kind == 3 {
                REAL_STATEMENTS as f64 / statements as f64
            } else {
                REAL_TABLES as f64 / objects as f64
            }
        })
        .sum();
    if measured <= 0.0 { 1.0 } else { (measured - values + scaled) / measured }
}

/// `(name, bytes)` rows of a query answering `name` and `bytes` (as text, the same on every backend).
async fn rows_of(db: &DatabaseConnection, sql: &str) -> Result<Vec<(String, f64)>> {
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.map_err(err)?;
    let mut out = Vec::new();
    for row in rows {
        let name: String = row.try_get("", "name").map_err(err)?;
        let bytes: String = row.try_get("", "bytes").map_err(err)?;
        out.push((name, bytes.parse::<f64>().map_err(err)?));
    }
    Ok(out)
}

const MIB: f64 = 1024.0 * 1024.0;

/// Prints the sample tables' sizes as measured and scaled to the full-size database; whether the year fits.
fn report(
    engine: &str,
    sizes: &[(String, f64)],
    scale: &dyn Fn(&str) -> f64,
    days: usize,
    took: Duration,
    sqlite_file: Option<(f64, f64)>,
    (objects, statements): (usize, usize),
) -> bool {
    let mut sizes: Vec<(String, f64)> = sizes.iter().filter(|(n, _)| n.starts_with("sample")).cloned().collect();
    sizes.sort_by(|a, b| (b.1 * scale(&b.0)).total_cmp(&(a.1 * scale(&a.0))));
    let total: f64 = sizes.iter().map(|(n, b)| b * scale(n)).sum();
    let per_table: Vec<String> = sizes
        .iter()
        .map(|(n, b)| format!("{n} {:.2} MiB (measured {:.2} MiB, x{:.0})", b * scale(n) / MIB, b / MIB, scale(n)))
        .collect();
    let file = sqlite_file
        .map(|(file, free)| {
            format!("; the file at the simulated size {:.1} MiB, {:.1} MiB of it free pages", file / MIB, free / MIB)
        })
        .unwrap_or_default();
    println!(
        "home database growth, {engine}: {days} simulated days of one watched database at the default settings \
         ({REAL_TABLES} tables, {REAL_INDEXES} indexes, top {REAL_STATEMENTS} statements; simulated with {objects}, \
         {objects} and {statements} and scaled) in {:.0} s: the sample tables {:.1} MiB [target <= \
         {GROWTH_TARGET_MIB} MiB a year: {}]{file}; by table: {}",
        took.as_secs_f64(),
        total / MIB,
        // A shorter run says nothing of a year: the hourly rows pile up for a year, the raw ones for two days.
        if days >= 365 { verdict(total <= GROWTH_TARGET_MIB * MIB) } else { "not a year: no verdict" },
        per_table.join(", "),
    );
    days < 365 || total <= GROWTH_TARGET_MIB * MIB
}

/// Writes `days` of one-minute samples of database `app` into `home`, an hour at a time, each hour in a transaction
/// with the retention job at its end, as the sampler would have; returns how long it took.
async fn simulate(
    home: &DatabaseConnection,
    objects: usize,
    statements: usize,
    days: usize,
    uneven: bool,
) -> Result<Duration> {
    let started = Instant::now();
    let mut vacuumed = 0;
    let retention = SampleRetention::default();
    let start = 1_750_000_000i64 / 3600 * 3600;
    let names = vec!["app".to_string()];
    // The sampler's kept stream states, as while it holds its lease.
    let mut tails = samples::Tails::default();
    let texts: Vec<String> = (0..statements)
        .map(|q| {
            format!(
                "SELECT o.id, o.created_at, c.name FROM orders_{q} o JOIN customers c ON c.id = o.customer_id \
                 WHERE o.status = $1 AND o.created_at > $2 ORDER BY o.created_at DESC LIMIT $3"
            )
        })
        .collect();
    for hour in 0..(days * 24) as i64 {
        let minutes: Vec<i64> = (0..60).map(|m| hour * 60 + m).collect();
        let readings: Vec<SampleReadings> = minutes.iter().map(|g| readings_at(*g)).collect();
        let tables: Vec<Vec<TableInfo>> = minutes.iter().map(|g| tables_at(*g, objects, uneven)).collect();
        let indexes: Vec<Vec<IndexInfo>> = minutes.iter().map(|g| indexes_at(*g, objects, uneven)).collect();
        let taken: Vec<Taken<'_>> = (0..60)
            .map(|m| Taken {
                at: chrono::DateTime::from_timestamp(start + minutes[m] * 60, 0).unwrap_or_default(),
                readings: &readings[m],
                tables: &tables[m],
                indexes: &indexes[m],
            })
            .collect();
        let tx = home.begin().await.map_err(err)?;
        samples::record_many_with(&tx, "app", &taken, &mut tails).await.map_err(err)?;
        for g in &minutes {
            let items = statements_at(*g, &texts, uneven);
            statement_samples::record_with(&tx, "app", start + g * 60, &items, &mut tails).await.map_err(err)?;
        }
        let now = chrono::DateTime::from_timestamp(start + (hour + 1) * 3600, 0).unwrap_or_default();
        samples::retain(&tx, &names, &retention, now).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        vacuumed += autovacuum(home).await?;
        if (hour + 1) % (30 * 24) == 0 {
            eprintln!("  {} simulated days in {:.0} s", (hour + 1) / 24, started.elapsed().as_secs_f64());
        }
    }
    if home.get_database_backend() == DbBackend::Postgres {
        println!("PostgreSQL home: {vacuumed} VACUUMs by autovacuum's rule (see `autovacuum`)");
    }
    Ok(started.elapsed())
}

/// On a PostgreSQL home, what autovacuum does over a real year: a simulated hour takes a fraction of a second, far
/// less than autovacuum's one-minute naptime (and autovacuum is off on this machine's server), so without this
/// the dead rows of a year of retention deletes and key-row rewrites would all still be in the files. After each
/// simulated hour, every sample table whose dead rows passed autovacuum's default threshold (50 + 20 % of its live
/// rows) is vacuumed, as autovacuum, looking every minute, would have by then. Returns how many were.
async fn autovacuum(home: &DatabaseConnection) -> Result<usize> {
    if home.get_database_backend() != DbBackend::Postgres {
        return Ok(0);
    }
    let due = rows_of_names(
        home,
        "SELECT relname::text AS name FROM pg_stat_user_tables \
         WHERE relname LIKE 'sample%' AND n_dead_tup > 50 + 0.2 * n_live_tup",
    )
    .await?;
    for name in &due {
        home.execute_unprepared(&format!("VACUUM \"{}\"", name.replace('"', "\"\""))).await.map_err(err)?;
    }
    Ok(due.len())
}

/// The `name` column of every row of `sql`.
async fn rows_of_names(db: &DatabaseConnection, sql: &str) -> Result<Vec<String>> {
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.map_err(err)?;
    rows.iter().map(|r| r.try_get::<String>("", "name").map_err(err)).collect()
}

/// The database-wide readings at minute `g` of the year: a busy database (10 commits a second, a growing size).
fn readings_at(g: i64) -> SampleReadings {
    SampleReadings {
        database_size_bytes: Some(20_000_000_000 + g * 4_000),
        connections: Some(ConnectionStates {
            active: 2 + g % 5,
            idle: 18 + g % 3,
            idle_in_transaction: g % 2,
            other: 1,
        }),
        commits: Some(3_000_000_000 + g * 600),
        rollbacks: Some(10_000 + g / 3),
        deadlocks: Some(g / 20_000),
        temp_bytes: Some(g * 2_000_000),
        tuples_inserted: Some(900_000_000 + g * 1_200),
        tuples_updated: Some(400_000_000 + g * 800),
        tuples_deleted: Some(100_000_000 + g * 100),
        blocks_hit: Some(90_000_000_000 + g * 500_000),
        blocks_read: Some(700_000_000 + g * 2_000),
        stats_reset_at: chrono::DateTime::from_timestamp(1_700_000_000, 0),
        started_at: chrono::DateTime::from_timestamp(1_740_000_000, 0),
    }
}

/// A pseudo-random amount in `0..below` for minute `g` and object `i` (the uneven mix's noise).
fn jitter(g: i64, i: i64, below: i64) -> i64 {
    let mut x = (g as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x % below.max(1) as u64) as i64
}

/// Table `i`'s readings at minute `g`: sizes from 16 KiB to some GiB, a tenth of the tables growing (`uneven`: by
/// a pseudo-random amount each minute around the same pace).
fn tables_at(g: i64, objects: usize, uneven: bool) -> Vec<TableInfo> {
    (0..objects as i64)
        .map(|i| {
            let noise = if uneven { jitter(g, i, 8_192) } else { 0 };
            let grows = if i % 10 == 0 { g * 8_192 / 60 + noise } else { 0 };
            let table = 16_384 * (1 + i * i * 131) + grows;
            TableInfo {
                schema: "public".into(),
                name: format!("table_{i:04}"),
                row_estimate: Some(table / 120),
                table_bytes: Some(table),
                index_bytes: Some(table / 3),
                total_bytes: Some(table + table / 3 + 8_192),
                ..Default::default()
            }
        })
        .collect()
}

/// Index `i`'s scans at minute `g`: some used all the time, some now and then, some never.
/// (`uneven`: the ones used all the time by a pseudo-random number of scans each minute around the same pace.)
fn indexes_at(g: i64, objects: usize, uneven: bool) -> Vec<IndexInfo> {
    (0..objects as i64)
        .map(|i| IndexInfo {
            schema: "public".into(),
            table: format!("table_{i:04}"),
            name: format!("table_{i:04}_idx"),
            scans: Some(match i % 3 {
                0 => 5_000_000 + g * (i + 1) * 40 + if uneven { jitter(g, i, (i + 1) * 20) } else { 0 },
                1 => 1_000 + g / 60,
                _ => 0,
            }),
            ..Default::default()
        })
        .collect()
}

/// The top statements at minute `g`: each called at its own steady pace (`uneven`: each minute's calls, time,
/// rows and blocks off that pace by pseudo-random amounts, as a real workload's are).
fn statements_at(g: i64, texts: &[String], uneven: bool) -> Vec<StatementInfo> {
    texts
        .iter()
        .enumerate()
        .map(|(q, text)| {
            let q = q as i64;
            let pace = (q + 1) * 25;
            // A steady pace plus a wobble smaller than half a minute's pace: each minute's increase varies, and no
            // counter ever goes down (which would read as a reset). The time's wobble is up to half a minute's time
            // (in µs), as the calls' is up to half a minute's calls.
            let calls = 1_000_000 + g * pace + if uneven { jitter(g, q + 7_000, pace / 2 + 1) } else { 0 };
            let mean_ms = 0.3 + q as f64 / 10.0;
            let wobble = |salt: i64, spread: i64| if uneven { jitter(g, q + salt, spread) } else { 0 };
            let minute_us = (pace as f64 * mean_ms * 1000.0) as i64;
            StatementInfo {
                query_id: format!("{}", -4_611_686_018_427_387_904 + q * 7_919_113),
                query: text.clone(),
                calls,
                total_ms: calls as f64 * mean_ms + wobble(8_000, minute_us / 2 + 1) as f64 / 1000.0,
                rows: calls * 3 + wobble(9_000, pace),
                blocks_hit: Some(calls * 40 + wobble(10_000, pace * 4)),
                blocks_read: Some(calls / 10 + wobble(11_000, pace / 40 + 1)),
                ..Default::default()
            }
        })
        .collect()
}
