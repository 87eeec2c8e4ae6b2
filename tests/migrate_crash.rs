//! `strata migrate up` killed with SIGKILL at any point leaves a state `status` tells honestly: every
//! migration applied, pending with none of its tables present, or dirty with what to do; the next `up`
//! either completes or refuses saying why, never "already exists" out of the blue.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::Value;

/// Kills at a random moment per backend (each on a fresh database).
const RANDOM_ROUNDS: usize = 20;
/// Kills while `up` is blocked between a migration's DDL and its version row (see `blocked_round`).
const BLOCKED_ROUNDS: usize = 3;

/// The runner's own tables, which belong to no migration.
const RUNNER_TABLES: [&str; 3] = ["seaql_migrations", "alembic_version", "migrations_log"];

each_backend! {
    a_migrator_killed_at_random_points_leaves_an_honest_status => killed_at_random;
}

mod blocked {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn postgres_a_migrator_killed_mid_migration_leaves_nothing_half_applied() {
        blocked_rounds(Kind::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn mariadb_a_migrator_killed_mid_migration_leaves_the_migration_dirty_not_pending() {
        blocked_rounds(Kind::MySql).await;
    }
}

/// A small deterministic generator (xorshift); the seed is printed so that a failing round can be replayed
/// with `STRATA_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("STRATA_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
        eprintln!("STRATA_CRASH_SEED={seed}");
        Rng(seed.max(1))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The tables of the current schema, the runner's own left out.
async fn tables(db: &DatabaseConnection, kind: Kind) -> BTreeSet<String> {
    let sql = match kind {
        Kind::Postgres => "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
        Kind::MySql => "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        Kind::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    column(db, sql).await.into_iter().filter(|t| !RUNNER_TABLES.contains(&t.as_str())).collect()
}

/// What `migrate up -n 1` adds, migration by migration, on a fresh database.
async fn tables_per_migration(kind: Kind) -> Vec<BTreeSet<String>> {
    let t = TestDb::new(kind).await;
    let mut before = BTreeSet::new();
    let mut out = Vec::new();
    for _ in 0..*MIGRATIONS {
        ok(&strata(&t.url, &["migrate", "up", "-n", "1"]));
        let db = t.connect().await;
        let now = tables(&db, kind).await;
        db.close().await.ok();
        out.push(now.difference(&before).cloned().collect());
        before = now;
    }
    t.drop().await;
    out
}

/// Waits until no session holds the migration lock: a killed runner's server session may still be
/// finishing the statement it was sending when it died.
async fn wait_for_lock_free(db: &DatabaseConnection, kind: Kind) {
    let sql = match kind {
        Kind::Postgres => format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = {} AND objid::bigint = {} \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            0x5354_5241_i64, 0x5441_4d47_i64
        ),
        Kind::MySql => "SELECT IS_USED_LOCK(CONCAT('strata_migrate:', DATABASE())) IS NOT NULL".to_string(),
        Kind::Sqlite => return,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(db, &sql).await != 0 {
        assert!(Instant::now() < deadline, "the killed migrator's session still holds the lock after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status_json(url: &str) -> Vec<Value> {
    let out = ok(&strata(url, &["migrate", "status", "--json"]));
    serde_json::from_str::<Vec<Value>>(&out).unwrap_or_else(|e| panic!("status --json: {e}\n{out}"))
}

fn spawn_up(url: &str) -> Child {
    strata_cmd(url, &["migrate", "up"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn strata")
}

/// What a round saw.
#[derive(Debug, Default)]
struct Seen {
    /// Some migrations applied and others not: the kill landed between the first and the last.
    midway: bool,
    dirty: bool,
}

/// Checks the state a killed `up` left, then runs `up` again: it completes, or (only when something is dirty)
/// refuses naming the dirty migration and both ways out.
async fn check_after_kill(t: &TestDb, objects: &[BTreeSet<String>], what: &str) -> Seen {
    let db = t.connect().await;
    wait_for_lock_free(&db, t.kind).await;
    let present = tables(&db, t.kind).await;
    let status = status_json(&t.url);
    let mut seen = Seen::default();
    let applied = status.iter().filter(|m| m["state"] == "applied").count();
    seen.midway = applied > 0 && applied < *MIGRATIONS;
    for (m, own) in status.iter().zip(objects) {
        let rev = m["revision"].as_str().unwrap_or_default();
        match m["state"].as_str().unwrap_or_default() {
            "applied" => {
                assert!(own.is_subset(&present), "{what}: {rev} is applied but {own:?} are not all there: {present:?}")
            }
            "pending" => assert!(
                own.is_disjoint(&present),
                "{what}: {rev} is called pending but its tables {:?} exist: a half-built migration reported as \
                 not started\n{status:#?}",
                own.intersection(&present).collect::<Vec<_>>()
            ),
            "dirty" => {
                seen.dirty = true;
                let advice = m["advice"].as_str().unwrap_or_default();
                assert!(advice.contains("stamp") && advice.contains("--retry-failed"), "{what}: {m}");
                assert!(m["last_error"].as_str().is_some_and(|e| e.contains("never finished")), "{what}: {m}");
            }
            other => panic!("{what}: {rev} is {other:?} after the migrator died\n{status:#?}"),
        }
    }
    db.close().await.ok();

    let again = strata(&t.url, &["migrate", "up"]);
    let err = stderr(&again);
    assert!(!err.contains("panicked"), "{what}: {err}");
    if again.status.success() {
        assert!(!seen.dirty, "{what}: `up` ran over a dirty migration without --retry-failed");
        let after = status_json(&t.url);
        assert!(after.iter().all(|m| m["state"] == "applied"), "{what}: {after:#?}");
    } else {
        assert!(
            seen.dirty && err.contains("is dirty") && err.contains("stamp") && err.contains("--retry-failed"),
            "{what}: the second `up` failed without saying the migration is dirty and what to do:\n{err}"
        );
    }
    seen
}

async fn killed_at_random(kind: Kind) {
    let objects = tables_per_migration(kind).await;
    // How long a whole `up` takes here, process start included: kills are spread over that.
    let t = TestDb::new(kind).await;
    let started = Instant::now();
    ok(&strata(&t.url, &["migrate", "up"]));
    let full = started.elapsed();
    t.drop().await;
    eprintln!("{kind:?}: a whole `up` takes {} ms", full.as_millis());

    let mut rng = Rng::seeded();
    let (mut midway, mut dirty) = (0, 0);
    for round in 0..RANDOM_ROUNDS {
        let t = TestDb::new(kind).await;
        let delay = Duration::from_micros(rng.below(full.as_micros() as u64 + 1));
        let mut child = spawn_up(&t.url);
        tokio::time::sleep(delay).await;
        child.kill().ok(); // SIGKILL; fails only when it had already exited
        child.wait().expect("reap strata");
        let seen = check_after_kill(&t, &objects, &format!("{kind:?} round {round}, killed after {delay:?}")).await;
        midway += seen.midway as usize;
        dirty += seen.dirty as usize;
        t.drop().await;
    }
    eprintln!("{kind:?}: {RANDOM_ROUNDS} kills, {midway} between the first and the last migration, {dirty} left dirty");
}

/// The kill lands inside a migration every time: a transaction of the test's holds the `seaql_migrations`
/// row migration k is about to insert, so `up` runs k's DDL and then waits for that row lock: exactly the
/// window between a migration's first statement and its version row. While it waits, `status` says the
/// migration is running and a second `up` waits for the lock instead of calling it dirty. Then `up` is
/// killed and the test's transaction rolled back.
async fn blocked_rounds(kind: Kind) {
    let objects = tables_per_migration(kind).await;
    let mut rng = Rng::seeded();
    for round in 0..BLOCKED_ROUNDS {
        let k = 1 + rng.below(*MIGRATIONS as u64 - 1) as usize;
        blocked_round(kind, &objects, k, &format!("{kind:?} blocked round {round}, migration {k}")).await;
    }
}

async fn blocked_round(kind: Kind, objects: &[BTreeSet<String>], k: usize, what: &str) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up", "-n", "1"])); // the runner's tables exist from here on
    let set = strata::migrate::MigrationSet::of::<migration::Migrator>().unwrap();
    let (name, revision) = (&set.entries()[k].name, &set.entries()[k].revision);
    let blocker = t.connect_one().await;
    let txn = blocker.begin().await.unwrap();
    txn.execute_unprepared(&format!("INSERT INTO seaql_migrations (version, applied_at) VALUES ('{name}', 0)"))
        .await
        .unwrap();

    let mut child = spawn_up(&t.url);
    let watcher = t.connect().await;
    let waiting = match kind {
        Kind::Postgres => "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                           AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"seaql_migrations\"%'"
            .to_string(),
        _ => "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() \
              AND INFO LIKE 'INSERT INTO `seaql_migrations`%'"
            .to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&watcher, &waiting).await == 0 {
        assert!(child.try_wait().unwrap().is_none(), "{what}: `up` ended instead of waiting for the row lock");
        assert!(Instant::now() < deadline, "{what}: `up` never reached migration {k}'s version row");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A live runner: its migration is running (where it is logged as such), and is not dirty.
    let live = status_json(&t.url);
    let state = live[k]["state"].as_str().unwrap_or_default();
    match kind {
        Kind::MySql => assert_eq!(state, "running", "{what}: {:#}", live[k]),
        _ => assert_eq!(state, "pending", "{what}: its transaction is not visible yet: {:#}", live[k]),
    }
    let second = strata_cmd(&t.url, &["migrate", "up"]).env("STRATA_LOCK_TIMEOUT", "1s").output().unwrap();
    let err = stderr(&second);
    assert!(
        !second.status.success() && err.contains("waiting for the migration lock") && !err.contains("dirty"),
        "{what}: a second `up` must wait for the live runner, not call its migration dirty:\n{err}"
    );

    child.kill().unwrap();
    child.wait().unwrap();
    txn.rollback().await.unwrap();
    blocker.close().await.ok();
    let seen = check_after_kill(&t, objects, what).await;
    match kind {
        Kind::MySql => {
            // k's tables were built and stay: it must be dirty, and the second `up` refused.
            assert!(seen.dirty, "{what}: the half-applied migration is not dirty");
            // The operator checks that it is complete, and records it as applied.
            ok(&strata(&t.url, &["migrate", "stamp", revision]));
            ok(&strata(&t.url, &["migrate", "up"]));
            let after = status_json(&t.url);
            assert!(after.iter().all(|m| m["state"] == "applied"), "{what}: {after:#?}");
        }
        _ => assert!(!seen.dirty, "{what}: transactional DDL rolls the whole migration back"),
    }
    watcher.close().await.ok();
    t.drop().await;
}
