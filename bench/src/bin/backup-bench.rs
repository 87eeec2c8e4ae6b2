//! `backup-bench`: `strata backup` and `strata restore` of a ~1 GB PostgreSQL database side by side with
//! `pg_dump | gzip` and `gunzip | psql` doing the same work, so the ratio is Strata's own overhead.
#![forbid(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use strata::config::mask_url_str;
use strata_bench::*;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every database this benchmark creates starts with this, then the process id.
const DB_PREFIX: &str = "strata_bench_backup";
/// Strata's backup and restore each within this multiple of the direct commands (issue 5).
const RATIO_TARGET: f64 = 1.10;

/// A restore test (restore into a scratch database, check, drop) against a plain `strata restore` of the same file.
const RESTORE_TEST_TARGET: f64 = 1.20;
/// The flags `strata backup` gives pg_dump for its default (plain SQL) format (`src/backup/postgres.rs`).
const PG_DUMP_FLAGS: &[&str] = &["--no-owner", "--no-privileges", "--clean", "--if-exists"];
/// Strata compresses with flate2's `Compression::default()`, which is level 6, gzip's own default.
const GZIP_LEVEL: &str = "-6";
/// The flags and session setting `strata restore` gives psql (`src/backup/postgres.rs`).
const PSQL_FLAGS: &[&str] =
    &["--no-psqlrc", "--quiet", "--single-transaction", "--echo-errors", "-v", "ON_ERROR_STOP=1"];
const PSQL_PGOPTIONS: &str = "-c client_min_messages=warning";
/// Orders in the first fill statement, which also measures how many bytes an order (with its share of the
/// other tables) takes; a multiple of 20 so that every table's share is whole.
const CALIBRATION_ORDERS: u64 = 20_000;
/// Each later fill statement adds about this much.
const CHUNK_BYTES: f64 = 256.0 * 1024.0 * 1024.0;

/// Set on Ctrl-C: the run stops after the step under way and drops what it made.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut work = tokio::task::spawn_blocking(run);
    let result = tokio::select! {
        r = &mut work => r,
        _ = tokio::signal::ctrl_c() => {
            INTERRUPTED.store(true, Ordering::SeqCst);
            eprintln!("interrupted: dropping this run's databases and files");
            work.await
        }
    };
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: the benchmark thread failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) { Err("interrupted".into()) } else { Ok(()) }
}

fn secs(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Strata,
    Direct,
}

struct Setup {
    strata: PathBuf,
    pg: Pg,
    /// `PGSSLMODE=disable` for the direct tools when `strata` would skip TLS too (loopback, no `sslmode`).
    sslmode: Option<&'static str>,
    work: TempDir,
    /// A fresh age recipient the encrypted backups are written to (its identity is not kept).
    recipient: String,
}

impl Setup {
    fn strata(&self, url: &str) -> Command {
        let mut cmd = Command::new(&self.strata);
        // No ./alembic.ini or DATABASE_URL can creep in from wherever the benchmark was started.
        cmd.env_remove("DATABASE_URL").current_dir(self.work.path()).arg("--database-url").arg(url);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn tool(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        if let Some(mode) = self.sslmode {
            cmd.env("PGSSLMODE", mode);
        }
        cmd
    }

    /// So that no timed run pays for the previous one's writes (skipped when the role may not).
    fn checkpoint(&self) {
        let _ = self.pg.admin_query("CHECKPOINT");
    }
}

/// Mirrors `db::loopback_without_tls_choice`: Strata's tools skip TLS on loopback unless the URL sets `sslmode`.
fn loopback_without_sslmode(url: &str) -> bool {
    if url.contains("sslmode=") {
        return false;
    }
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

// ---------------------------------------------------------------------------------------------------------------
// The fixture

/// The wide tables next to the seed schema's `users` and `posts`.
const SCHEMA_SQL: &str = r"
CREATE TABLE bench_customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    city text,
    balance numeric(12,2) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    profile jsonb
);
CREATE INDEX bench_customers_created_at ON bench_customers (created_at);
CREATE TABLE bench_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES bench_customers (id),
    status text NOT NULL,
    amount numeric(12,2) NOT NULL,
    currency char(3) NOT NULL,
    note text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz,
    items jsonb NOT NULL
);
CREATE INDEX bench_orders_customer_id ON bench_orders (customer_id);
CREATE INDEX bench_orders_created_at ON bench_orders (created_at);
CREATE INDEX bench_orders_status ON bench_orders (status);
CREATE TABLE bench_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id bigint,
    kind text NOT NULL,
    occurred_at timestamptz NOT NULL,
    source text,
    payload jsonb NOT NULL
);
CREATE INDEX bench_events_occurred_at ON bench_events (occurred_at);
CREATE INDEX bench_events_kind_occurred_at ON bench_events (kind, occurred_at);
";

/// One fill statement per table for orders `lo+1..=hi`: a user per 20 orders, a customer and a post per 10,
/// two events per order. Orders and posts point at the customers and users of the first (calibration) fill,
/// which exist whatever the size. The series are bigint: `g * 7919` overflows int4 past 271,000 orders.
fn fill_sql(lo: u64, hi: u64) -> String {
    let (first_users, first_customers) = (CALIBRATION_ORDERS / 20, CALIBRATION_ORDERS / 10);
    let (u_lo, u_hi, c_lo, c_hi) = (lo / 20 + 1, hi / 20, lo / 10 + 1, hi / 10);
    let (e_lo, e_hi) = (2 * lo + 1, 2 * hi);
    format!(
        r"
INSERT INTO users (username, email, is_active, created_at, updated_at)
SELECT 'user_' || g, 'user' || g || '@example.com', g % 10 <> 0,
       timestamp '2022-01-01' + g * interval '37 seconds', timestamp '2024-01-01' + g * interval '11 seconds'
FROM generate_series({u_lo}::int8, {u_hi}) g;
INSERT INTO bench_customers (name, email, city, balance, created_at, profile)
SELECT 'Customer ' || g, 'customer' || g || '@example.org',
       (ARRAY['Berlin','Lisbon','Osaka','Toronto','Nairobi','Lima'])[1 + g % 6],
       round(((g * 37) % 1000000) / 100.0, 2), timestamptz '2022-01-01 00:00+00' + g * interval '3 minutes',
       jsonb_build_object('newsletter', g % 2 = 0, 'tier', (ARRAY['free','pro','team'])[1 + g % 3],
                          'notes', 'Prefers email. Account ' || md5(g::text))
FROM generate_series({c_lo}::int8, {c_hi}) g;
INSERT INTO posts (title, content, user_id, is_published, created_at, updated_at)
SELECT 'Post ' || g || ': notes on ' || left(md5(g::text), 10),
       'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et '
       || 'dolore magna aliqua. ' || repeat(md5(g::text) || ' ', 3)
       || 'Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo.',
       1 + g % {first_users}, g % 3 <> 0,
       timestamp '2024-01-01' + g * interval '5 minutes', timestamp '2024-06-01' + g * interval '5 minutes'
FROM generate_series({c_lo}::int8, {c_hi}) g;
INSERT INTO bench_orders (customer_id, status, amount, currency, note, created_at, updated_at, items)
SELECT 1 + (g * 7919) % {first_customers},
       (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + g % 5],
       round((g % 100000) / 100.0 + 5, 2), (ARRAY['EUR','USD','GBP'])[1 + g % 3],
       CASE WHEN g % 4 = 0 THEN 'Leave at the door, ring twice. Ref ' || md5(g::text) END,
       timestamptz '2023-01-01 00:00+00' + g * interval '17 seconds',
       timestamptz '2023-01-03 00:00+00' + g * interval '17 seconds',
       jsonb_build_array(
           jsonb_build_object('sku', 'SKU-' || lpad((g % 4999)::text, 5, '0'), 'qty', 1 + g % 4,
                              'price', round((g % 9000) / 100.0, 2)),
           jsonb_build_object('sku', 'SKU-' || lpad(((g * 31) % 4999)::text, 5, '0'), 'qty', 1 + g % 3,
                              'price', round(((g * 7) % 9000) / 100.0, 2)))
FROM generate_series({lo}::int8 + 1, {hi}) g;
INSERT INTO bench_events (order_id, kind, occurred_at, source, payload)
SELECT 1 + g / 2, (ARRAY['created','paid','packed','shipped','delivered','viewed','emailed'])[1 + g % 7],
       timestamptz '2023-01-01 00:00+00' + g * interval '8 seconds', (ARRAY['web','ios','android','api'])[1 + g % 4],
       jsonb_build_object('ip', '10.' || (g % 256) || '.' || (g / 256 % 256) || '.' || (g / 65536 % 256),
                          'agent', 'Mozilla/5.0 (X11; Linux x86_64) bench/' || (g % 50),
                          'session', md5(g::text), 'ms', g % 1500)
FROM generate_series({e_lo}::int8, {e_hi}) g;
"
    )
}

fn database_size(url: &str) -> Result<u64> {
    let out = query(url, "SELECT pg_database_size(current_database())")?;
    out.trim().parse().map_err(|_| format!("pg_database_size answered {out:?}"))
}

/// What a restore must reproduce: every table of `public` with its exact row count, and the number of indexes.
#[derive(PartialEq, Debug)]
struct Snapshot {
    tables: Vec<(String, i64)>,
    indexes: i64,
    /// How long the exact `count(*)` of every table took.
    count_secs: f64,
}

impl Snapshot {
    fn of(url: &str) -> Result<Snapshot> {
        let names = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")?;
        let names: Vec<&str> = names.lines().filter(|l| !l.is_empty()).collect();
        if names.is_empty() {
            return Err("the database has no tables in schema public".into());
        }
        // Names from the catalog, quoted; `ORDER BY` because a (parallel) append need not keep the order.
        let counts = names
            .iter()
            .map(|n| format!("SELECT '{}', count(*) FROM public.\"{}\"", n.replace('\'', "''"), n.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let t0 = Instant::now();
        let out = query(url, &format!("{counts} ORDER BY 1"))?;
        let count_secs = secs(t0);
        let tables: Vec<(String, i64)> = out
            .lines()
            .filter_map(|l| l.rsplit_once('|'))
            .filter_map(|(name, n)| Some((name.to_string(), n.trim().parse().ok()?)))
            .collect();
        if tables.len() != names.len() {
            return Err(format!("counted {} tables of {}: {out:?}", tables.len(), names.len()));
        }
        let indexes = query(url, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")?;
        Ok(Snapshot {
            tables,
            indexes: indexes.trim().parse().map_err(|_| format!("cannot read the index count {indexes:?}"))?,
            count_secs,
        })
    }

    fn rows(&self) -> i64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }

    /// The same tables, rows and indexes (the time to count them aside).
    fn same_data(&self, other: &Snapshot) -> bool {
        self.tables == other.tables && self.indexes == other.indexes
    }
}

struct Fixture {
    url: String,
    bytes: u64,
    snapshot: Snapshot,
    build_secs: f64,
}

fn build_fixture(s: &Setup, url: &str, target_bytes: u64) -> Result<Fixture> {
    let t0 = Instant::now();
    let migrate = s.strata(url).args(["migrate", "up"]).output();
    succeeded(migrate.map_err(|e| format!("cannot start strata migrate up: {e}"))?, "strata migrate up")?;
    query(url, SCHEMA_SQL)?;
    let empty = database_size(url)?;
    query(url, &fill_sql(0, CALIBRATION_ORDERS))?;
    let mut size = database_size(url)?;
    let per_order = (size.saturating_sub(empty) as f64 / CALIBRATION_ORDERS as f64).max(1.0);
    let mut orders = CALIBRATION_ORDERS;
    if size < target_bytes {
        let missing = (target_bytes - size) as f64;
        let chunks = (missing / CHUNK_BYTES).ceil().max(1.0) as u64;
        let wanted = ((missing / per_order / 20.0).ceil() as u64) * 20;
        let per_chunk = wanted.div_ceil(chunks).div_ceil(20) * 20;
        for _ in 0..chunks {
            check_interrupt()?;
            let hi = (orders + per_chunk).min(CALIBRATION_ORDERS + wanted);
            query(url, &fill_sql(orders, hi))?;
            orders = hi;
            print!("\rfixture: {orders} orders, {:.0} MB", mib(database_size(url)?));
            flush();
        }
        println!();
    }
    check_interrupt()?;
    query(url, "VACUUM ANALYZE")?;
    size = database_size(url)?;
    let snapshot = Snapshot::of(url)?;
    Ok(Fixture { url: url.to_string(), bytes: size, snapshot, build_secs: secs(t0) })
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

// ---------------------------------------------------------------------------------------------------------------
// The timed runs

/// `strata backup --dir DIR --json` (with `--encrypt-to` when `encrypted`): whole-process seconds, the file, and the
/// duration Strata reports.
fn strata_backup(s: &Setup, url: &str, dir: &Path, encrypted: bool) -> Result<(f64, PathBuf, f64)> {
    let mut cmd = s.strata(url);
    cmd.arg("backup").arg("--dir").arg(dir).arg("--json");
    if encrypted {
        cmd.arg("--encrypt-to").arg(&s.recipient);
    }
    let t0 = Instant::now();
    let out = cmd.output().map_err(|e| format!("cannot start strata backup: {e}"))?;
    let wall = secs(t0);
    let out = succeeded(out, "strata backup")?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("strata backup --json printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))?;
    let file = json["file"].as_str().ok_or("strata backup --json has no file")?;
    let file = if Path::new(file).is_absolute() { PathBuf::from(file) } else { s.work.path().join(file) };
    Ok((wall, file, json["duration_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0))
}

/// `strata backup test-restore FILE --scratch-url ADMIN --json`: whole-process seconds, and the test's own total.
fn strata_test_restore(s: &Setup, url: &str, file: &Path) -> Result<(f64, f64)> {
    let mut cmd = s.strata(url);
    cmd.args(["backup", "test-restore"]).arg(file).args(["--scratch-url", &s.pg.admin_url, "--json"]);
    let t0 = Instant::now();
    let out = cmd.output().map_err(|e| format!("cannot start strata backup test-restore: {e}"))?;
    let wall = secs(t0);
    let out = succeeded(out, "strata backup test-restore")?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!("strata backup test-restore --json printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
    })?;
    if json["state"] != "passed" {
        return Err(format!("the restore test did not pass: {json}"));
    }
    Ok((wall, json["total_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0))
}

/// `pg_dump FLAGS | gzip -6 > FILE`, then what Strata does to finish its file: fsync, rename, fsync the folder.
fn direct_backup(s: &Setup, url: &str, dir: &Path) -> Result<(f64, PathBuf)> {
    let tmp = dir.join(".direct.sql.gz.tmp");
    let path = dir.join("direct.sql.gz");
    let t0 = Instant::now();
    let file = File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut dump = s
        .tool("pg_dump")
        .args(PG_DUMP_FLAGS)
        .arg("--dbname")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start pg_dump: {e}"))?;
    let pipe = dump.stdout.take().ok_or("pg_dump has no stdout")?;
    let gzip = Command::new("gzip").arg(GZIP_LEVEL).stdin(pipe).stdout(file).stderr(Stdio::piped()).spawn();
    let gzip = match gzip {
        Ok(g) => g,
        Err(e) => {
            let _ = dump.kill();
            let _ = dump.wait();
            return Err(format!("cannot start gzip: {e}"));
        }
    };
    let dumped = dump.wait_with_output().map_err(|e| format!("waiting for pg_dump: {e}"))?;
    let zipped = gzip.wait_with_output().map_err(|e| format!("waiting for gzip: {e}"))?;
    succeeded(dumped, "pg_dump")?;
    succeeded(zipped, "gzip")?;
    let sync = |p: &Path| File::open(p).and_then(|f| f.sync_all()).map_err(|e| format!("fsync {}: {e}", p.display()));
    sync(&tmp)?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot rename {}: {e}", tmp.display()))?;
    sync(dir)?;
    Ok((secs(t0), path))
}

/// `strata restore FILE --yes --json`: whole-process seconds (load and verification report) and the load alone.
fn strata_restore(s: &Setup, url: &str, file: &Path) -> Result<(f64, f64)> {
    let mut cmd = s.strata(url);
    cmd.arg("restore").arg(file).args(["--yes", "--json"]);
    let t0 = Instant::now();
    let out = cmd.output().map_err(|e| format!("cannot start strata restore: {e}"))?;
    let wall = secs(t0);
    let out = succeeded(out, "strata restore")?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!("strata restore --json printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
    })?;
    Ok((wall, json["restore"]["duration_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0))
}

/// `gunzip -c FILE | psql FLAGS` with the session setting Strata gives psql, psql's output discarded.
fn direct_restore(s: &Setup, url: &str, file: &Path) -> Result<f64> {
    let t0 = Instant::now();
    let mut gunzip = Command::new("gunzip")
        .arg("-c")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start gunzip: {e}"))?;
    let pipe = gunzip.stdout.take().ok_or("gunzip has no stdout")?;
    let psql = s
        .tool("psql")
        .args(PSQL_FLAGS)
        .arg("--dbname")
        .arg(url)
        .env("PGOPTIONS", PSQL_PGOPTIONS)
        .stdin(pipe)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let psql = match psql {
        Ok(p) => p,
        Err(e) => {
            let _ = gunzip.kill();
            let _ = gunzip.wait();
            return Err(format!("cannot start psql: {e}"));
        }
    };
    let loaded = psql.wait_with_output().map_err(|e| format!("waiting for psql: {e}"))?;
    let unzipped = gunzip.wait_with_output().map_err(|e| format!("waiting for gunzip: {e}"))?;
    succeeded(loaded, "psql")?;
    succeeded(unzipped, "gunzip")?;
    Ok(secs(t0))
}

#[derive(Default)]
struct Round {
    strata_first: bool,
    backup_strata: f64,
    /// The duration `strata backup --json` reports (connect to summary, without process start and exit).
    backup_strata_reported: f64,
    backup_direct: f64,
    restore_strata: f64,
    /// The load alone, as `strata restore --json` reports it (without the verification report).
    restore_strata_load: f64,
    restore_direct: f64,
    /// `strata backup test-restore` of the same file into a scratch database (created, checked, dropped).
    restore_test: f64,
    restore_test_reported: f64,
    strata_file: u64,
    direct_file: u64,
    /// `strata backup --encrypt-to R` of the same database.
    backup_encrypted: f64,
    encrypted_file: u64,
    restored_bytes: u64,
}

fn file_len(path: &Path) -> Result<u64> {
    std::fs::metadata(path).map(|m| m.len()).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn run_round(s: &Setup, fixture: &Fixture, index: usize) -> Result<Round> {
    let strata_first = index.is_multiple_of(2);
    let order = if strata_first { [Side::Strata, Side::Direct] } else { [Side::Direct, Side::Strata] };
    let mut round = Round { strata_first, ..Round::default() };
    let dir = s.work.path().join(format!("round{}", index + 1));
    let (strata_dir, direct_dir) = (dir.join("strata"), dir.join("direct"));
    for d in [&strata_dir, &direct_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }

    let mut strata_file = PathBuf::new();
    for side in order {
        check_interrupt()?;
        s.checkpoint();
        match side {
            Side::Strata => {
                let (wall, file, reported) = strata_backup(s, &fixture.url, &strata_dir, false)?;
                (round.backup_strata, round.backup_strata_reported) = (wall, reported);
                round.strata_file = file_len(&file)?;
                strata_file = file;
            }
            Side::Direct => {
                let (wall, file) = direct_backup(s, &fixture.url, &direct_dir)?;
                round.backup_direct = wall;
                round.direct_file = file_len(&file)?;
            }
        }
    }

    // The same backup encrypted (age), right after: the plain strata backup is its reference.
    check_interrupt()?;
    s.checkpoint();
    let encrypted_dir = dir.join("encrypted");
    let (wall, file, _) = strata_backup(s, &fixture.url, &encrypted_dir, true)?;
    round.backup_encrypted = wall;
    round.encrypted_file = file_len(&file)?;

    // Both sides restore Strata's file, so that the same bytes go in.
    for side in order {
        check_interrupt()?;
        let tag = if side == Side::Strata { "strata" } else { "direct" };
        let name = format!("{DB_PREFIX}_{}_r{}_{tag}", std::process::id(), index + 1);
        let target = Database::create(&s.pg, &name)?;
        let url = s.pg.url_for(&name);
        s.checkpoint();
        match side {
            Side::Strata => (round.restore_strata, round.restore_strata_load) = strata_restore(s, &url, &strata_file)?,
            Side::Direct => round.restore_direct = direct_restore(s, &url, &strata_file)?,
        }
        let restored = Snapshot::of(&url)?;
        if !restored.same_data(&fixture.snapshot) {
            return Err(format!(
                "the {tag} restore does not match the fixture:\n  fixture  {:?} ({} indexes)\n  restored {:?} ({} indexes)",
                fixture.snapshot.tables, fixture.snapshot.indexes, restored.tables, restored.indexes
            ));
        }
        round.restored_bytes = database_size(&url)?;
        target.drop_now()?;
    }
    check_interrupt()?;
    s.checkpoint();
    (round.restore_test, round.restore_test_reported) = strata_test_restore(s, &fixture.url, &strata_file)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(round)
}

// ---------------------------------------------------------------------------------------------------------------
// The report

fn stats(v: &[f64]) -> String {
    let (min, max) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    format!("median {:>7.2} s (min {min:.2}, max {max:.2})", percentile(v, 0.5))
}

fn ratio_list(v: &[f64]) -> String {
    v.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ")
}

/// Drops databases an earlier run left behind when it was killed (its process id no longer runs).
fn drop_stale(pg: &Pg) -> Result<()> {
    let names = pg.admin_query(&format!("SELECT datname FROM pg_database WHERE datname LIKE '{DB_PREFIX}\\_%'"))?;
    for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let pid = name[DB_PREFIX.len() + 1..].split('_').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            println!("dropping {name}, left by an earlier run that was killed");
            pg.admin_query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
        }
    }
    Ok(())
}

fn run() -> Result<()> {
    let admin_url = std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string());
    let size_mb = env_usize("STRATA_BENCH_BACKUP_MB", 1024)?.max(10);
    let rounds = env_usize("STRATA_BENCH_ROUNDS", 3)?.max(1);
    let pg = Pg::new(&admin_url)?;
    for tool in ["pg_dump", "psql", "gzip", "gunzip"] {
        if !on_path(tool) {
            return Err(format!("{tool} is not on the PATH: apt-get install postgresql-client gzip"));
        }
    }
    let pid = std::process::id();
    let s = Setup {
        strata: strata_binary()?,
        sslmode: loopback_without_sslmode(&admin_url).then_some("disable"),
        work: TempDir::new(&format!("strata-bench-backup-{pid}"))?,
        pg,
        recipient: age::x25519::Identity::generate().to_public().to_string(),
    };
    let version = s.pg.admin_query("SHOW server_version")?;
    let pg_dump = Command::new("pg_dump").arg("--version").output().map_err(|e| format!("pg_dump --version: {e}"))?;
    let gzip = Command::new("gzip").arg("--version").output().map_err(|e| format!("gzip --version: {e}"))?;
    let first_line =
        |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string();
    println!(
        "strata backup benchmark: PostgreSQL {} at {}; fixture {size_mb} MB, {rounds} round(s)",
        version.trim(),
        mask_url_str(&admin_url)
    );
    println!("tools: {}, {}; files in {}", first_line(&pg_dump), first_line(&gzip), s.work.path().display());
    println!(
        "machine: {} CPU(s), load average {} (a shared machine: other work moves every figure)",
        cpus(),
        load_average()
    );
    println!(
        "direct side: pg_dump {} | gzip {GZIP_LEVEL} > file, fsync, rename, fsync folder; gunzip -c file | \
         PGOPTIONS='{PSQL_PGOPTIONS}' psql {}{}",
        PG_DUMP_FLAGS.join(" "),
        PSQL_FLAGS.join(" "),
        if s.sslmode.is_some() { " (PGSSLMODE=disable, as strata on loopback)" } else { "" }
    );
    drop_stale(&s.pg)?;

    let fixture_name = format!("{DB_PREFIX}_{pid}_fixture");
    let fixture_db = Database::create(&s.pg, &fixture_name)?;
    let fixture = build_fixture(&s, &s.pg.url_for(&fixture_name), size_mb as u64 * 1024 * 1024)?;
    println!(
        "fixture: pg_database_size {:.0} MB, {} tables, {} rows, {} indexes, built in {:.1} s",
        mib(fixture.bytes),
        fixture.snapshot.tables.len(),
        fixture.snapshot.rows(),
        fixture.snapshot.indexes,
        fixture.build_secs
    );
    for (name, rows) in fixture.snapshot.tables.iter().filter(|(_, n)| *n > 0) {
        println!("  {name:<16} {rows:>10} rows");
    }
    println!("exact count(*) of every table: {:.2} s", fixture.snapshot.count_secs);
    println!();

    let mut done = Vec::new();
    for i in 0..rounds {
        let r = run_round(&s, &fixture, i)?;
        println!(
            "round {} ({} first): backup strata {:.2} s, direct {:.2} s, ratio {:.3}; restore strata {:.2} s \
             (load {:.2} s), direct {:.2} s, ratio {:.3}; load average {}",
            i + 1,
            if r.strata_first { "strata" } else { "direct" },
            r.backup_strata,
            r.backup_direct,
            r.backup_strata / r.backup_direct,
            r.restore_strata,
            r.restore_strata_load,
            r.restore_direct,
            r.restore_strata / r.restore_direct,
            load_average()
        );
        done.push(r);
    }
    let restored_bytes = done.last().map(|r| r.restored_bytes).unwrap_or(0);
    fixture_db.drop_now()?;

    let col = |f: fn(&Round) -> f64| done.iter().map(f).collect::<Vec<f64>>();
    let backup_ratios = col(|r| r.backup_strata / r.backup_direct);
    let restore_ratios = col(|r| r.restore_strata / r.restore_direct);
    let load_ratios = col(|r| r.restore_strata_load / r.restore_direct);
    let (backup_ratio, restore_ratio) = (percentile(&backup_ratios, 0.5), percentile(&restore_ratios, 0.5));
    let files = |f: fn(&Round) -> u64| {
        let v: Vec<f64> = done.iter().map(|r| mib(f(r))).collect();
        format!("{:.1} MB", percentile(&v, 0.5))
    };
    println!();
    println!(
        "fixture {:.0} MB (pg_database_size; {:.0} MB once restored), {rounds} round(s), order alternating, \
         whole processes timed:",
        mib(fixture.bytes),
        mib(restored_bytes)
    );
    println!("backup");
    println!(
        "  strata backup                  {}  file {}",
        stats(&col(|r| r.backup_strata)),
        files(|r| r.strata_file)
    );
    println!("    as strata reports it         {}", stats(&col(|r| r.backup_strata_reported)));
    println!(
        "  pg_dump | gzip {GZIP_LEVEL} + fsync      {}  file {}",
        stats(&col(|r| r.backup_direct)),
        files(|r| r.direct_file)
    );
    println!(
        "  ratio per round {}: median {backup_ratio:.3}  target <= {RATIO_TARGET:.2}: {}",
        ratio_list(&backup_ratios),
        verdict(backup_ratio <= RATIO_TARGET)
    );
    let encrypted_ratios = col(|r| r.backup_encrypted / r.backup_strata);
    let encrypted_ratio = percentile(&encrypted_ratios, 0.5);
    println!(
        "  strata backup --encrypt-to R   {}  file {}",
        stats(&col(|r| r.backup_encrypted)),
        files(|r| r.encrypted_file)
    );
    println!(
        "  encrypted / plain strata backup per round {}: median {encrypted_ratio:.3}  target <= {RATIO_TARGET:.2}: {}",
        ratio_list(&encrypted_ratios),
        verdict(encrypted_ratio <= RATIO_TARGET)
    );
    println!(
        "restore into a fresh empty database (both from strata's file), row counts and indexes checked after each"
    );
    println!("  strata restore --yes           {}", stats(&col(|r| r.restore_strata)));
    println!("    its load alone (no report)   {}", stats(&col(|r| r.restore_strata_load)));
    println!("  gunzip -c | psql               {}", stats(&col(|r| r.restore_direct)));
    println!(
        "  ratio per round {}: median {restore_ratio:.3}  target <= {RATIO_TARGET:.2}: {}",
        ratio_list(&restore_ratios),
        verdict(restore_ratio <= RATIO_TARGET)
    );
    println!(
        "  load alone / direct per round {}: median {:.3} (information: the verification report is part of the command)",
        ratio_list(&load_ratios),
        percentile(&load_ratios, 0.5)
    );
    let test_ratios = col(|r| r.restore_test / r.restore_strata);
    let test_ratio = percentile(&test_ratios, 0.5);
    println!(
        "restore test of the same file (scratch database created, restored, checked against the sidecar, dropped)"
    );
    println!("  strata backup test-restore     {}", stats(&col(|r| r.restore_test)));
    println!("    as strata reports it         {}", stats(&col(|r| r.restore_test_reported)));
    println!(
        "  ratio to strata restore per round {}: median {test_ratio:.3}  target <= {RESTORE_TEST_TARGET:.2}: {}",
        ratio_list(&test_ratios),
        verdict(test_ratio <= RESTORE_TEST_TARGET)
    );
    println!(
        "note: strata backup counts every table's rows (count(*)) before and after the dump (the restore test \
         checks against them), and strata restore's verification report counts them again; counting this fixture \
         took {:.2} s",
        fixture.snapshot.count_secs
    );
    println!("load average at the end: {} on {} CPU(s); the machine is shared", load_average(), cpus());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_without_sslmode_skip_tls_like_strata() {
        assert!(loopback_without_sslmode("postgres://postgres@127.0.0.1:5432/postgres"));
        assert!(loopback_without_sslmode("postgres://u:p@localhost/db"));
        assert!(loopback_without_sslmode("postgres://u@[::1]:5432/db"));
        assert!(!loopback_without_sslmode("postgres://u@127.0.0.1/db?sslmode=require"));
        assert!(!loopback_without_sslmode("postgres://u@db.example.com/db"));
    }

    #[test]
    fn fill_ranges_cover_each_table_once() {
        let sql = fill_sql(20_000, 40_000);
        assert!(sql.contains("generate_series(1001::int8, 2000)"), "users");
        assert!(sql.contains("generate_series(2001::int8, 4000)"), "customers and posts");
        assert!(sql.contains("generate_series(20000::int8 + 1, 40000)"), "orders");
        assert!(sql.contains("generate_series(40001::int8, 80000)"), "events");
    }
}
