//! `migrate-bench`: times `strata migrate up/down/status` on PostgreSQL against the `psql -f` floor and prints medians.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::Instant;

/// The admin connection used to create and drop the throw-away databases.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every database this benchmark creates starts with this, so a leftover is easy to spot and drop.
const DB_PREFIX: &str = "strata_bench";
/// How many times each `status` process runs per round (odd, so the median is one real run).
const STATUS_RUNS: usize = 21;
/// `up` may take at most this multiple of the `psql -f` floor.
const UP_TARGET_RATIO: f64 = 1.15;
/// `status` must finish, as a whole process, within this many milliseconds.
const STATUS_TARGET_MS: f64 = 50.0;

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one invocation measures, read from the environment.
struct Settings {
    n: usize,
    rounds: usize,
    admin_url: String,
    bench_strata: PathBuf,
    strata: PathBuf,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let n = env_usize("STRATA_BENCH_N", 500)?;
        let rounds = env_usize("STRATA_BENCH_ROUNDS", 5)?.max(1);
        let admin_url = std::env::var("STRATA_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string());
        // The binaries under test sit next to this one, built by the same `cargo build --release`.
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
        let dir = exe.parent().ok_or("this executable has no parent directory")?;
        let bench_strata = dir.join(format!("bench-strata{}", std::env::consts::EXE_SUFFIX));
        let strata = dir.join(format!("strata{}", std::env::consts::EXE_SUFFIX));
        for bin in [&bench_strata, &strata] {
            if !bin.is_file() {
                return Err(format!(
                    "{} is missing: build it with `cargo build --release -p strata -p strata-bench` (or run bench/run.sh)",
                    bin.display()
                ));
            }
        }
        Ok(Settings { n, rounds, admin_url, bench_strata, strata })
    }
}

fn env_usize(key: &str, default: usize) -> Result<usize> {
    match std::env::var(key) {
        Ok(v) => v.trim().parse().map_err(|_| format!("{key}={v:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// The timings of one round, in milliseconds.
struct Round {
    /// Whether `up` ran before the floor this round.
    up_first: bool,
    floor: f64,
    up: f64,
    down: f64,
    status_synthetic: f64,
    status_real: f64,
}

fn run() -> Result<()> {
    let s = Settings::from_env()?;
    let server = Pg::new(&s.admin_url)?;
    let version = server.admin_query("SHOW server_version")?;
    if !server.can_checkpoint {
        println!("note: the admin role may not run CHECKPOINT, so each timed run may pay for the last one's writes");
    }
    println!(
        "strata migrate benchmark: N={} migrations, {} round(s), {} status runs per round, PostgreSQL {} at {}",
        s.n,
        s.rounds,
        STATUS_RUNS,
        version.trim(),
        mask_password(&s.admin_url)
    );
    let mut rounds = Vec::with_capacity(s.rounds);
    for r in 0..s.rounds {
        let round = one_round(&s, &server, r)?;
        println!(
            "round {} ({} first): floor {:.0} ms, up {:.0} ms ({:.3}x), down {:.0} ms, status {:.1} ms, status (real) {:.1} ms",
            r + 1,
            if round.up_first { "up" } else { "floor" },
            round.floor,
            round.up,
            round.up / round.floor,
            round.down,
            round.status_synthetic,
            round.status_real
        );
        rounds.push(round);
    }
    report(&s, &rounds);
    Ok(())
}

/// One round on fresh databases; floor and `up` swap order every round so neither always runs warmer.
fn one_round(s: &Settings, pg: &Pg, r: usize) -> Result<Round> {
    let tag = format!("{DB_PREFIX}_{}_r{r}", std::process::id());
    let dbs = Databases::create(
        pg,
        &[&format!("{tag}_script"), &format!("{tag}_floor"), &format!("{tag}_up"), &format!("{tag}_real")],
    )?;
    let [script_db, floor_db, up_db, real_db] = [0, 1, 2, 3].map(|i| pg.url_for(&dbs.names[i]));
    let n = s.n.to_string();
    let bench = |url: &str, args: &[&str]| {
        let mut c = Command::new(&s.bench_strata);
        c.env("STRATA_BENCH_N", &n).arg("--database-url").arg(url).arg("migrate").args(args);
        c
    };

    // The floor's script: exactly what `up` would run, for this backend.
    let script = std::env::temp_dir().join(format!("{tag}_up.sql"));
    let sql = checked(bench(&script_db, &["up", "--sql"]), "bench-strata migrate up --sql")?;
    std::fs::write(&script, &sql.stdout).map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let psql = |url: &str| {
        let mut c = Command::new("psql");
        c.args(["-q", "-X", "-v", "ON_ERROR_STOP=1", "-f"]).arg(&script).arg(url);
        c
    };
    // Untimed warm-up: the first heavy run of a round is markedly slower on a small VM, whichever command
    // it is. This absorbs part of that; the order-balanced ratio in the report cancels the rest.
    checked(psql(&script_db), "psql -f (warm-up)")?;

    let up_first = !r.is_multiple_of(2);
    let (floor, up) = if up_first {
        pg.settle()?;
        let up = timed(bench(&up_db, &["up"]), "bench-strata migrate up")?;
        pg.settle()?;
        (timed(psql(&floor_db), "psql -f")?, up)
    } else {
        pg.settle()?;
        let floor = timed(psql(&floor_db), "psql -f")?;
        pg.settle()?;
        (floor, timed(bench(&up_db, &["up"]), "bench-strata migrate up")?)
    };
    let _ = std::fs::remove_file(&script);
    for (db, what) in [(&floor_db, "psql -f"), (&up_db, "strata migrate up")] {
        pg.expect_bench_tables(db, s.n, what)?;
    }

    let status_synthetic = median_of_runs(|| bench(&up_db, &["status"]), "bench-strata migrate status")?;
    pg.settle()?;
    let down = timed(bench(&up_db, &["down", "--to", "base"]), "bench-strata migrate down --to base")?;
    pg.expect_bench_tables(&up_db, 0, "strata migrate down --to base")?;

    let real = |args: &[&str]| {
        let mut c = Command::new(&s.strata);
        c.arg("--database-url").arg(&real_db).arg("migrate").args(args);
        c
    };
    checked(real(&["up"]), "strata migrate up (real migrator)")?;
    let status_real = median_of_runs(|| real(&["status"]), "strata migrate status")?;
    dbs.drop_all()?;
    Ok(Round { up_first, floor, up, down, status_synthetic, status_real })
}

/// Runs a whole process to completion and returns its wall time in milliseconds.
fn timed(cmd: Command, what: &str) -> Result<f64> {
    let t0 = Instant::now();
    let out = output(cmd, what)?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    succeeded(&out, what)?;
    Ok(ms)
}

/// The median wall time of `STATUS_RUNS` runs of a fresh process.
fn median_of_runs(make: impl Fn() -> Command, what: &str) -> Result<f64> {
    let mut times = Vec::with_capacity(STATUS_RUNS);
    for _ in 0..STATUS_RUNS {
        times.push(timed(make(), what)?);
    }
    Ok(Stats::of(&times).median)
}

/// Runs a process that must succeed, untimed.
fn checked(cmd: Command, what: &str) -> Result<Output> {
    let out = output(cmd, what)?;
    succeeded(&out, what)?;
    Ok(out)
}

fn output(mut cmd: Command, what: &str) -> Result<Output> {
    cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot start {what} ({}): {e}", program(&cmd)))
}

fn succeeded(out: &Output, what: &str) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
    Err(format!("{what} failed ({}):\n{}", out.status, mask_password(&tail.join("\n"))))
}

fn program(cmd: &Command) -> String {
    Path::new(cmd.get_program()).display().to_string()
}

/// The PostgreSQL server, reached through `psql` on the admin URL.
struct Pg {
    admin_url: String,
    /// The admin URL split around its database name: `postgres://u@h:5432/` + name + `?query`.
    base: String,
    query: String,
    /// Whether the admin role may run `CHECKPOINT` (superuser or `pg_checkpoint`).
    can_checkpoint: bool,
}

impl Pg {
    fn new(admin_url: &str) -> Result<Self> {
        let (no_query, query) = match admin_url.split_once('?') {
            Some((a, q)) => (a, format!("?{q}")),
            None => (admin_url, String::new()),
        };
        let scheme_end = no_query
            .find("://")
            .map(|i| i + 3)
            .ok_or_else(|| format!("STRATA_BENCH_PG_URL {} is not a postgres:// URL", mask_password(admin_url)))?;
        let base = match no_query[scheme_end..].find('/') {
            Some(i) => no_query[..scheme_end + i + 1].to_string(),
            None => format!("{no_query}/"),
        };
        let mut pg = Pg { admin_url: admin_url.to_string(), base, query, can_checkpoint: false };
        pg.can_checkpoint = pg.admin_query("CHECKPOINT").is_ok();
        Ok(pg)
    }

    /// Writes out every dirty buffer before a timed run, so that run starts on a clean slate
    /// instead of competing with the writes of `CREATE DATABASE` or of the run before it.
    fn settle(&self) -> Result<()> {
        if self.can_checkpoint {
            self.admin_query("CHECKPOINT")?;
        }
        Ok(())
    }

    /// The URL of database `name` on the same server, as the admin URL with its database swapped.
    fn url_for(&self, name: &str) -> String {
        format!("{}{name}{}", self.base, self.query)
    }

    fn admin_query(&self, sql: &str) -> Result<String> {
        query(&self.admin_url, sql)
    }

    /// Fails unless `db` holds exactly `n` of the synthetic tables (the command really did its work).
    fn expect_bench_tables(&self, db: &str, n: usize, what: &str) -> Result<()> {
        let got = query(
            db,
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'bench\\_t%'",
        )?;
        if got.trim() != n.to_string() {
            return Err(format!("after {what} the database has {} bench tables, expected {n}", got.trim()));
        }
        Ok(())
    }
}

/// Runs one statement with `psql` and returns its unaligned output.
fn query(url: &str, sql: &str) -> Result<String> {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]).arg(url);
    let out = checked(cmd, &format!("psql -c {sql:?}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Throw-away databases, dropped at the end of the round or, if it fails, when this guard goes.
struct Databases<'a> {
    pg: &'a Pg,
    names: Vec<String>,
    dropped: bool,
}

impl<'a> Databases<'a> {
    fn create(pg: &'a Pg, names: &[&str]) -> Result<Self> {
        let dbs = Databases { pg, names: names.iter().map(|n| n.to_string()).collect(), dropped: false };
        for name in &dbs.names {
            pg.admin_query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)))?;
            pg.admin_query(&format!("CREATE DATABASE {}", ident(name)))?;
        }
        Ok(dbs)
    }

    fn drop_all(mut self) -> Result<()> {
        self.dropped = true;
        for name in &self.names {
            self.pg.admin_query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)))?;
        }
        Ok(())
    }
}

impl Drop for Databases<'_> {
    fn drop(&mut self) {
        if !self.dropped {
            for name in &self.names {
                let _ = self.pg.admin_query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)));
            }
        }
    }
}

/// Quotes a database name we made up ourselves (letters, digits, underscores) as an SQL identifier.
fn ident(name: &str) -> String {
    debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    format!("\"{name}\"")
}

/// `postgres://user:secret@host` → `postgres://user:***@host`, anywhere in `text`.
fn mask_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(|c: char| c == '/' || c.is_whitespace()).unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon + 1]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Median, min and max of some timings.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(values: &[f64]) -> Stats {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
        Stats { median, min: v[0], max: v[v.len() - 1] }
    }
}

fn report(s: &Settings, rounds: &[Round]) {
    let col = |f: fn(&Round) -> f64| Stats::of(&rounds.iter().map(f).collect::<Vec<_>>());
    let floor = col(|r| r.floor);
    let up = col(|r| r.up);
    // Each round's ratio compares runs made side by side, so the ratio's median is not median(up)/median(floor).
    let ratio = col(|r| r.up / r.floor);
    let balanced = balanced_ratio(rounds);
    let down = col(|r| r.down);
    let status = col(|r| r.status_synthetic);
    let status_real = col(|r| r.status_real);

    println!();
    println!("medians over {} round(s); status rows are each round's median of {STATUS_RUNS} runs", rounds.len());
    println!("{:<36} {:>10} {:>10} {:>10}", "", "median", "min", "max");
    let row = |label: &str, st: &Stats, unit: &str, digits: usize| {
        println!(
            "{label:<36} {:>10} {:>10} {:>10}",
            format!("{:.digits$}{unit}", st.median),
            format!("{:.digits$}{unit}", st.min),
            format!("{:.digits$}{unit}", st.max)
        );
    };
    row("floor: psql -f (ms)", &floor, "", 1);
    row(&format!("strata up, all {} (ms)", s.n), &up, "", 1);
    row(&format!("ratio up/floor (target <= {UP_TARGET_RATIO})"), &ratio, "x", 3);
    if let Some(b) = &balanced {
        println!(
            "{:<36} {:>10}   (floor first {:.3}x, up first {:.3}x)",
            "ratio, order-balanced",
            format!("{:.3}x", b.ratio),
            b.floor_first,
            b.up_first
        );
    }
    row(&format!("strata down --to base, all {} (ms)", s.n), &down, "", 1);
    row(&format!("status, synthetic N={} (ms)", s.n), &status, "", 1);
    row("status, real migrator (ms)", &status_real, "", 1);

    println!();
    let verdict = |ok: bool| if ok { "MET" } else { "MISSED" };
    let (judged, how) = match &balanced {
        Some(b) => (b.ratio, "order-balanced up/floor"),
        None => (ratio.median, "median up/floor"),
    };
    println!(
        "up:     {} — {how} {judged:.3}x (target <= {UP_TARGET_RATIO}x; median up {:.0} ms vs psql -f {:.0} ms)",
        verdict(judged <= UP_TARGET_RATIO),
        up.median,
        floor.median
    );
    println!(
        "status: {} — median {:.1} ms with N={} (target < {STATUS_TARGET_MS} ms; real migrator {:.1} ms)",
        verdict(status.median < STATUS_TARGET_MS && status_real.median < STATUS_TARGET_MS),
        status.median,
        s.n,
        status_real.median
    );
}

/// The up/floor ratio with the running order factored out.
struct Balanced {
    ratio: f64,
    floor_first: f64,
    up_first: f64,
}

/// Whichever command runs first in a round can be markedly slower on a busy or freshly written-to
/// machine, so the per-round ratio swings with the order and a plain median over an odd number of
/// rounds leans towards the order that ran more often. The geometric mean of the median ratio of each
/// order cancels a penalty that multiplies the first run's time. `None` until both orders have run.
fn balanced_ratio(rounds: &[Round]) -> Option<Balanced> {
    let median_ratio = |up_first: bool| {
        let ratios: Vec<f64> = rounds.iter().filter(|r| r.up_first == up_first).map(|r| r.up / r.floor).collect();
        (!ratios.is_empty()).then(|| Stats::of(&ratios).median)
    };
    let (floor_first, up_first) = (median_ratio(false)?, median_ratio(true)?);
    Some(Balanced { ratio: (floor_first * up_first).sqrt(), floor_first, up_first })
}
