//! `migrations-bench`: the per-database Migrations page on a PostgreSQL database holding five migration tools'
//! tables (Flyway, Prisma, Django, Knex, Liquibase) with 2,000 history rows each, against the catalog and history
//! queries alone (the same reads issued directly, no decoding, rendering or HTTP), with the library's read in
//! between. Medians of timed rounds after untimed warm-up ones, all in one run.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use sea_orm_migration::sea_orm::{ConnectionTrait, Database as Sea, DatabaseConnection, DbBackend, Statement, Value};
use strata::config::{DatabaseUrl, WatchSpec};
use strata_bench::*;

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The page within this multiple of the queries alone.
const TARGET: f64 = 1.3;
const WARMUP: usize = 3;

/// The five tools: (table, the ORDER BY of its newest rows).
const TOOLS: [(&str, &str); 5] = [
    ("flyway_schema_history", "installed_rank"),
    ("_prisma_migrations", "started_at DESC, migration_name"),
    ("django_migrations", "id"),
    ("knex_migrations", "id"),
    ("databasechangelog", "dateexecuted DESC, orderexecuted"),
];

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

fn fixture_sql(rows: usize) -> String {
    format!(
        r#"
CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL PRIMARY KEY, version VARCHAR(50), description
  VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INT, installed_by
  VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(), execution_time INT NOT NULL, success BOOLEAN NOT NULL);
INSERT INTO flyway_schema_history SELECT i, i::text, 'migration ' || i, 'SQL', 'V' || i || '__migration.sql',
  (i * 7919) % 2147483647, 'deploy', now() - (({rows} - i) || ' minutes')::interval, i % 900, i % 500 <> 0
  FROM generate_series(1, {rows}) i;
CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY NOT NULL, checksum VARCHAR(64) NOT NULL, finished_at
  TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, started_at TIMESTAMPTZ NOT
  NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0);
INSERT INTO _prisma_migrations SELECT md5(i::text), md5('c' || i) || md5('d' || i), now() - (({rows} - i) || ' minutes')::interval,
  lpad(i::text, 14, '0') || '_migration_' || i, CASE WHEN i % 700 = 0 THEN 'ERROR: column exists' END, NULL,
  now() - (({rows} - i) || ' minutes')::interval - interval '2 seconds', 1 FROM generate_series(1, {rows}) i;
CREATE TABLE django_migrations (id SERIAL PRIMARY KEY, app VARCHAR(255) NOT NULL, name VARCHAR(255) NOT NULL, applied
  TIMESTAMPTZ NOT NULL);
INSERT INTO django_migrations (app, name, applied) SELECT 'app' || (i % 40), lpad(i::text, 4, '0') || '_auto', now()
  FROM generate_series(1, {rows}) i;
CREATE TABLE knex_migrations (id SERIAL PRIMARY KEY, name VARCHAR(255), batch INT, migration_time TIMESTAMPTZ);
CREATE TABLE knex_migrations_lock (index SERIAL PRIMARY KEY, is_locked INT);
INSERT INTO knex_migrations_lock (is_locked) VALUES (0);
INSERT INTO knex_migrations (name, batch, migration_time) SELECT lpad(i::text, 14, '0') || '_migration.js', i / 10, now()
  FROM generate_series(1, {rows}) i;
CREATE TABLE databasechangelog (id VARCHAR(255) NOT NULL, author VARCHAR(255) NOT NULL, filename VARCHAR(255) NOT NULL,
  dateexecuted TIMESTAMP NOT NULL, orderexecuted INT NOT NULL, exectype VARCHAR(10) NOT NULL, md5sum VARCHAR(35),
  description VARCHAR(255), comments VARCHAR(255), tag VARCHAR(255), liquibase VARCHAR(20), contexts VARCHAR(255),
  labels VARCHAR(255), deployment_id VARCHAR(10));
CREATE TABLE databasechangeloglock (id INT PRIMARY KEY, locked BOOLEAN NOT NULL, lockgranted TIMESTAMP, lockedby VARCHAR(255));
INSERT INTO databasechangeloglock VALUES (1, FALSE, NULL, NULL);
INSERT INTO databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype, md5sum, description)
  SELECT i::text, 'dev' || (i % 5), 'db/changelog.xml', now(), i, 'EXECUTED', '9:' || md5(i::text), 'change ' || i
  FROM generate_series(1, {rows}) i;
ANALYZE;
"#
    )
}

/// The catalog read and each tool's newest rows and count, issued directly.
async fn queries_alone(db: &DatabaseConnection) -> Result<usize> {
    let names: Vec<Value> = strata::watch::schema_history::detect::CANDIDATES.iter().map(|n| (*n).into()).collect();
    let list: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let catalog = format!(
        "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
         AND a.attnum > 0 AND NOT a.attisdropped WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' \
         AND n.nspname NOT LIKE 'pg\\_%' AND lower(c.relname) IN ({}) ORDER BY 1, 2, a.attnum",
        list.join(", ")
    );
    let q = |sql: String, v: Vec<Value>| Statement::from_sql_and_values(DbBackend::Postgres, sql, v);
    let mut rows = db.query_all_raw(q(catalog, names)).await.map_err(|e| e.to_string())?.len();
    for (table, order) in TOOLS {
        let newest = format!("SELECT * FROM public.\"{table}\" ORDER BY {order} DESC LIMIT $1");
        rows += db.query_all_raw(q(newest, vec![1000i64.into()])).await.map_err(|e| e.to_string())?.len();
        rows += db
            .query_all_raw(q(format!("SELECT COUNT(*) FROM public.\"{table}\""), vec![]))
            .await
            .map_err(|e| e.to_string())?
            .len();
    }
    for lock in ["knex_migrations_lock", "databasechangeloglock"] {
        rows += db
            .query_all_raw(q(format!("SELECT * FROM public.\"{lock}\""), vec![]))
            .await
            .map_err(|e| e.to_string())?
            .len();
    }
    Ok(rows)
}

async fn median_of<F, Fut>(rounds: usize, mut f: F) -> Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    for _ in 0..WARMUP {
        f().await?;
    }
    let mut ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t0 = Instant::now();
        f().await?;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(percentile(&ms, 0.5))
}

async fn run() -> Result<()> {
    let admin = std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let rows = env_usize("STRATA_BENCH_ROWS", 2000)?;
    let rounds = env_usize("STRATA_BENCH_REQUESTS", 30)?;
    let strata = strata_binary()?;
    let pg = Pg::new(&admin)?;
    let name = format!("strata_bench_mig_{}", std::process::id());
    let database = Database::create(&pg, &name)?;
    let url = pg.url_for(&name);
    query(&url, &fixture_sql(rows))?;

    let db = Sea::connect(url.as_str()).await.map_err(|e| e.to_string())?;
    let alone = median_of(rounds, || async { queries_alone(&db).await.map(|_| ()) }).await?;
    let spec = WatchSpec::new("apps".into(), DatabaseUrl::parse(&url).map_err(|e| e.to_string())?, "bench".into());
    let library = median_of(rounds, || async {
        let m = strata::watch::schema_history::read(&db, &spec, None).await.map_err(|e| e.to_string())?;
        if m.tools.len() != 5 {
            return Err(format!("expected 5 tools, found {:?}", m.tools.iter().map(|t| t.tool).collect::<Vec<_>>()));
        }
        Ok(())
    })
    .await?;
    db.close().await.ok();

    // The page: a server whose project is its own SQLite file, watching the fixture as `apps`.
    let server = Server::start_with(&strata, None, None, &[("STRATA_WATCH_APPS", url.as_str())])?;
    server.wait_ready(Duration::from_secs(30)).await?;
    let cookie = login(server.addr).await?;
    let mut client = Client::connect(server.addr, Some(cookie)).await?;
    let mut page_bytes = 0;
    let mut ms = Vec::with_capacity(rounds);
    for i in 0..WARMUP + rounds {
        let (t, body) = get_page(&mut client, "/db/apps/migrations", Some("Liquibase")).await?;
        page_bytes = body.len();
        if i >= WARMUP {
            ms.push(t);
        }
    }
    let page = percentile(&ms, 0.5);
    server.stop();
    database.drop_now()?;

    let ratio = page / alone;
    println!(
        "migrations-bench: PostgreSQL, 5 tools x {rows} history rows, {rounds} timed rounds (medians), {} CPUs, load {}",
        cpus(),
        load_average()
    );
    println!("  catalog + history queries alone   {alone:8.2} ms");
    println!("  schema_history::read (library)   {library:8.2} ms");
    println!("  GET /db/apps/migrations (page)    {page:8.2} ms   ({} KiB)", page_bytes / 1024);
    println!("  page / queries alone              {ratio:8.2}x   (target <= {TARGET}x: {})", verdict(ratio <= TARGET));
    Ok(())
}
