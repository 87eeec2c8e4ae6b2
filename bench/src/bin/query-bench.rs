//! `query-bench`: the query editor on PostgreSQL side by side with psql: CSV export of 1,000,000 rows (time and
//! the server's peak RSS), the first page of that query, and `select 1` round trips through the editor.
#![forbid(unsafe_code)]

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hyper::StatusCode;
use sea_orm_migration::sea_orm::sqlx::{Connection, postgres::PgConnection};
use strata::config::mask_url_str;
use strata_bench::*;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every database this benchmark creates starts with this.
const DB_PREFIX: &str = "strata_bench_query";
/// The query.
const QUERY: &str = "select g, md5(g::text), now() from generate_series(1,1000000) g";
/// Export within this multiple of psql's `\copy ... to '/dev/null' csv`.
const EXPORT_RATIO_TARGET: f64 = 1.3;
/// The server's peak RSS during an export, in MiB.
const EXPORT_RSS_TARGET_MIB: f64 = 64.0;
/// The first page of the million-row query, in milliseconds.
const FIRST_PAGE_TARGET_MS: f64 = 50.0;
/// `select 1` through the editor, in milliseconds.
const SELECT_ONE_TARGET_MS: f64 = 3.0;

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

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// psql's own export of the query, start to exit.
fn psql_copy(url: &str) -> Result<f64> {
    let t0 = Instant::now();
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &format!("\\copy ({QUERY}) to '/dev/null' csv")])
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start psql: {e}"))?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    succeeded(out, "psql \\copy")?;
    Ok(ms)
}

struct Export {
    ms: f64,
    first_ms: f64,
    bytes: u64,
    peak_mib: f64,
}

async fn strata_export(server: &Server, client: &mut Client, token: &str) -> Result<Export> {
    server.reset_peak()?;
    let path = server.db_path("/query/export");
    let res = client.post_form_counting(&path, form(&[("sql", QUERY), ("format", "csv"), ("_csrf", token)])).await?;
    if res.status != StatusCode::OK {
        return Err(format!("POST {path} answered {}", res.status));
    }
    Ok(Export { ms: res.total_ms, first_ms: res.first_ms, bytes: res.bytes, peak_mib: server.status_mib("VmHWM:")? })
}

async fn run() -> Result<()> {
    let admin_url = std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string());
    let rounds = env_usize("STRATA_BENCH_ROUNDS", 5)?.max(1);
    let requests = env_usize("STRATA_BENCH_REQUESTS", 50)?.max(1);
    let strata = strata_binary()?;
    let pg = Pg::new(&admin_url)?;
    let version = pg.admin_query("SHOW server_version")?;
    println!(
        "strata query benchmark: PostgreSQL {} at {}; {rounds} export rounds, {requests} page requests",
        version.trim(),
        mask_url_str(&admin_url)
    );
    println!("machine: {} CPU(s), load average {}", cpus(), load_average());
    println!("query: {QUERY}");

    let name = format!("{DB_PREFIX}_{}", std::process::id());
    let database = Database::create(&pg, &name)?;
    let url = pg.url_for(&name);
    let server = Server::start(&strata, Some(&url), None)?;
    server.wait_ready(Duration::from_secs(60)).await?;
    let cookie = login(server.addr).await?;
    let mut client = Client::connect(server.addr, Some(cookie)).await?;
    let editor_path = server.db_path("/query");
    let editor = client.get(&editor_path).await?;
    let token = hidden_field(&String::from_utf8_lossy(&editor.body), "_csrf").ok_or("the editor has no _csrf field")?;
    let rss_idle = server.rss_mib()?;

    // Untimed: connection set-up, plan caches, the OS page cache.
    psql_copy(&url)?;
    strata_export(&server, &mut client, &token).await?;

    let (mut psql, mut exports) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which side goes first: on a small machine the first heavy run of a pair is often slower.
        if round % 2 == 0 {
            psql.push(psql_copy(&url)?);
            exports.push(strata_export(&server, &mut client, &token).await?);
        } else {
            exports.push(strata_export(&server, &mut client, &token).await?);
            psql.push(psql_copy(&url)?);
        }
    }

    let mut first_page = Vec::new();
    for i in 0..=requests {
        let t0 = Instant::now();
        let res = client.post_form(&editor_path, form(&[("sql", QUERY), ("_csrf", &token)])).await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let body = String::from_utf8_lossy(&res.body);
        if res.status != StatusCode::OK || !body.contains("more not fetched") {
            return Err(format!("POST {editor_path} of the million rows answered {}: {}", res.status, res.snippet()));
        }
        if i > 0 {
            first_page.push(ms);
        }
    }
    let mut select_one = Vec::new();
    for i in 0..=requests {
        let t0 = Instant::now();
        let res = client.post_form(&editor_path, form(&[("sql", "select 1"), ("_csrf", &token)])).await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if res.status != StatusCode::OK || !String::from_utf8_lossy(&res.body).contains("badge-success") {
            return Err(format!("POST {editor_path} of select 1 answered {}: {}", res.status, res.snippet()));
        }
        if i > 0 {
            select_one.push(ms);
        }
    }
    // The database alone, from this process over one loopback connection without TLS like Strata's: the
    // first 1,000 rows of the query (then the statement is dropped), and a new session with `select 1`.
    let no_tls = format!("{url}{}sslmode=disable", if url.contains('?') { '&' } else { '?' });
    let mut db_first_page = Vec::new();
    for i in 0..=requests {
        // A connection per round, opened before the clock starts and dropped after it stops, as Strata drops
        // its run's session: the rest of the million rows is never read.
        let mut conn = PgConnection::connect(&no_tls).await.map_err(|e| format!("connect: {e}"))?;
        let t0 = Instant::now();
        let mut rows = sea_orm_migration::sea_orm::sqlx::query(QUERY).fetch(&mut conn);
        for _ in 0..1000 {
            rows.next().await.ok_or("fewer than 1,000 rows")?.map_err(|e| format!("fetch: {e}"))?;
        }
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        drop(rows);
        conn.close_hard().await.ok();
        if i > 0 {
            db_first_page.push(ms);
        }
    }
    let mut db_connect = Vec::new();
    for i in 0..=requests {
        let t0 = Instant::now();
        let mut c = PgConnection::connect(&no_tls).await.map_err(|e| format!("connect: {e}"))?;
        sea_orm_migration::sea_orm::sqlx::query("select 1").execute(&mut c).await.map_err(|e| format!("{e}"))?;
        c.close().await.ok();
        if i > 0 {
            db_connect.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let rss_end = server.rss_mib()?;
    server.stop();
    database.drop_now()?;

    let export_ms: Vec<f64> = exports.iter().map(|e| e.ms).collect();
    let ratios: Vec<f64> = exports.iter().zip(&psql).map(|(e, p)| e.ms / p).collect();
    let peak = exports.iter().map(|e| e.peak_mib).fold(0.0, f64::max);
    let (p50_export, p50_psql, ratio) = (percentile(&export_ms, 0.5), percentile(&psql, 0.5), percentile(&ratios, 0.5));
    let row = |v: &[f64]| {
        let (min, max) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
        format!("median {:>8.1} ms (min {min:.1}, max {max:.1})", percentile(v, 0.5))
    };
    println!();
    println!("CSV export of 1,000,000 rows, {rounds} rounds, order alternating:");
    println!("  psql \\copy to /dev/null       {}", row(&psql));
    println!(
        "  strata POST …/query/export    {}  first byte median {:.1} ms, {} bytes",
        row(&export_ms),
        percentile(&exports.iter().map(|e| e.first_ms).collect::<Vec<_>>(), 0.5),
        exports[0].bytes
    );
    println!(
        "  ratio (per round, median)     {ratio:.2}x (medians {:.2}x)  target <= {EXPORT_RATIO_TARGET}x: {}",
        p50_export / p50_psql,
        verdict(ratio <= EXPORT_RATIO_TARGET)
    );
    println!(
        "  server peak RSS while exporting {peak:.1} MiB (idle after sign-in {rss_idle:.1})  target < {EXPORT_RSS_TARGET_MIB} MiB: {}",
        verdict(peak < EXPORT_RSS_TARGET_MIB)
    );
    println!();
    println!("editor page (POST {editor_path}, whole response), {requests} requests on one keep-alive connection:");
    println!(
        "  first page of the million rows {}  p90 {:.1}  target < {FIRST_PAGE_TARGET_MS} ms: {}",
        row(&first_page),
        percentile(&first_page, 0.9),
        verdict(percentile(&first_page, 0.5) < FIRST_PAGE_TARGET_MS)
    );
    println!(
        "  select 1                       {}  p90 {:.1}  target < {SELECT_ONE_TARGET_MS} ms: {}",
        row(&select_one),
        percentile(&select_one, 0.9),
        verdict(percentile(&select_one, 0.5) < SELECT_ONE_TARGET_MS)
    );
    println!("the database alone (this process, one loopback connection, no HTTP):");
    println!("  first 1,000 rows of the query   {}", row(&db_first_page));
    println!("  new session + select 1 + close  {}", row(&db_connect));
    println!("server RSS at the end: {rss_end:.1} MiB; load average {}", load_average());
    Ok(())
}
