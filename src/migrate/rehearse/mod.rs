//! Rehearsal: the planned migrations run for real inside one transaction under the migration lock, each one's
//! time and locks read as it goes and the schema compared before and after; then everything is rolled back.
//!
//! The version rows (`seaql_migrations`, `alembic_version`, and the runner's tables when missing) are written
//! inside that transaction, as a real run writes them, and rolled back with it. `migrations_log` gets no row: its
//! id comes from a sequence on PostgreSQL, and sequences do not roll back. Sequences the migrations themselves
//! advance are reported, since the rollback cannot restore them.

mod schema;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbBackend, Statement, TransactionTrait,
};
use sea_orm_migration::SchemaManager;
use serde::Serialize;

use super::backend::{self, Lock};
use super::{Action, MigrationSet, State, Steps, bookkeeping, head_of, is_transactional, ownership, run_migration};
use crate::error::{Error, Result};

pub use schema::Change;

/// How `pg_class.relkind` is said in the report.
const PG_KIND: &str = "CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'i' THEN 'index' \
     WHEN 'I' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
     ELSE 'relation' END";

/// The relations of the current schema, by oid: the names of those a migration drops (the catalog no longer
/// shows them to the transaction that dropped them).
fn pg_relations() -> String {
    format!(
        "SELECT c.oid::bigint AS oid, c.relname::text AS relation, {PG_KIND} AS kind FROM pg_class c \
         JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = current_schema()"
    )
}

/// The relation locks this session holds on relations made after initdb (oid 16384 on: the catalog and
/// `information_schema` are below), as one array of keys `oid * 32 + the mode's length in bytes` ([`MODES`]). The
/// new ones are told from those seen before in Rust: filtering them in the query (`NOT IN` the seen keys, the mode
/// by its position in a list) cost as much again as reading the lock table itself at 5,500 locks.
const PG_HELD: &str = "SELECT array_agg(relation::bigint * 32 + octet_length(mode))::text AS keys FROM pg_locks \
     WHERE relation >= 16384 AND pid = pg_backend_pid() AND locktype = 'relation' AND granted";

/// PostgreSQL's relation lock modes; each name's length differs, so a key carries its mode in five bits.
const MODES: [&str; 9] = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
    "SIReadLock",
];

/// The relations of `$1` (an array of oids, as text) with their names, kinds, and whether the report leaves them
/// out: TOAST, the catalog, and Strata's own tables with their indexes.
fn pg_relations_by_oid() -> String {
    format!(
        "SELECT c.oid::bigint AS oid, c.relname::text AS relation, {PG_KIND} AS kind, \
         (s.nspname::text IN ('pg_catalog', 'information_schema', 'pg_toast') OR coalesce(t.relname, c.relname)::text \
          IN ('seaql_migrations', 'alembic_version', 'migrations_log', 'migrations_log_id_seq')) AS skip \
         FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid \
         WHERE c.oid = ANY($1::text::oid[])"
    )
}

/// One lock a migration took.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub struct LockHeld {
    /// The relation's name (`oid N` for one dropped within the transaction), or `database` on SQLite.
    pub relation: String,
    /// `table`, `index`, `sequence`, `view`, ... or `database`.
    pub kind: String,
    /// PostgreSQL's lock mode (`AccessExclusiveLock`), or SQLite's `write lock`.
    pub mode: String,
}

/// One rehearsed migration.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RehearsedStep {
    pub revision: String,
    pub name: String,
    pub label: String,
    pub duration_ms: i64,
    /// The locks it took that earlier migrations of the rehearsal did not already hold (all are held until the
    /// rollback).
    pub locks: Vec<LockHeld>,
    /// Why it failed; the rehearsal stops there.
    pub error: Option<String>,
}

/// What a rehearsal found; nothing of it stays in the database.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Rehearsal {
    /// `postgres` or `sqlite`.
    pub backend: &'static str,
    /// `upgrade` or `downgrade`.
    pub action: &'static str,
    pub steps: Vec<RehearsedStep>,
    /// Tables, columns and indexes the migrations added, changed or dropped (Strata's own tables left out).
    pub changes: Vec<Change>,
    /// Strata's tables a real run would create first (they were created in the transaction and rolled back).
    pub bookkeeping_created: Vec<String>,
    /// Sequences left advanced by the migrations (PostgreSQL does not roll sequences back): name, before, after.
    pub sequences_advanced: Vec<(String, i64, i64)>,
    /// The revision that failed, if one did.
    pub failed: Option<String>,
    pub total_ms: i64,
}

/// Whether migrations can be rehearsed on this backend: only where DDL rolls back (PostgreSQL, SQLite).
pub fn rehearsable(backend: DbBackend) -> bool {
    backend::transactional_ddl(backend)
}

/// Runs the plan `up`/`down` would run now inside one transaction under the migration lock, and rolls it back.
///
/// `db` must be a single-connection pool (`db::Purpose::Migrate`): the lock belongs to that connection.
/// Waits up to `lock_timeout` for the migration lock; on PostgreSQL it is also the `lock_timeout` of each
/// statement, so a rehearsal stuck behind a long transaction gives up instead of blocking the table.
/// Refuses MariaDB/MySQL, where DDL commits implicitly. A failing migration is reported in the result
/// (`failed`), not as an error.
pub async fn rehearse(
    db: &DatabaseConnection,
    set: &MigrationSet,
    action: Action,
    steps: &Steps,
    lock_timeout: Duration,
) -> Result<Rehearsal> {
    let backend = db.get_database_backend();
    if !backend::transactional_ddl(backend) {
        return Err(Error::Unsupported(
            "a rehearsal needs DDL that rolls back, and MariaDB/MySQL commit every CREATE, ALTER and DROP at once; \
             nothing was run. Preview the SQL with `strata migrate up --sql` and check it with `strata migrate lint`"
                .into(),
        ));
    }
    if action == Action::Stamp {
        return Err(Error::BadRequest("a stamp runs no migration: there is nothing to rehearse".into()));
    }
    let lock = backend::acquire(db, lock_timeout, &|_| {}, &|| false).await?;
    match lock {
        Lock::Sqlite(txn) => {
            // The lock is the BEGIN IMMEDIATE transaction itself: rolling it back undoes everything.
            let result = rehearse_in(&txn, set, action, steps, lock_timeout).await;
            rolled_back(txn).await?;
            result
        }
        other => {
            let result = async {
                let txn = db.begin().await?;
                let result = rehearse_in(&txn, set, action, steps, lock_timeout).await;
                rolled_back(txn).await?;
                result
            }
            .await;
            let released = other.release(db).await;
            let value = result?;
            released?;
            Ok(value)
        }
    }
}

/// Rolls the rehearsal back, and says at debug level how long that took: the server unlinks every file the
/// migrations created, a cost of the rollback itself that no reading of Strata's adds to.
async fn rolled_back(txn: DatabaseTransaction) -> Result<()> {
    let t0 = Instant::now();
    txn.rollback().await?;
    tracing::debug!(rollback_ms = t0.elapsed().as_millis() as u64, "rehearsal rolled back");
    Ok(())
}

async fn rehearse_in(
    txn: &DatabaseTransaction,
    set: &MigrationSet,
    action: Action,
    steps: &Steps,
    lock_timeout: Duration,
) -> Result<Rehearsal> {
    let backend = txn.get_database_backend();
    let t0 = Instant::now();
    if backend == DbBackend::Postgres {
        let ms = lock_timeout.as_millis().clamp(1, i32::MAX as u128);
        txn.execute_unprepared(&format!("SET LOCAL lock_timeout = {ms}")).await?;
    }
    let mut state = State::load(DatabaseExecutor::from(txn), set).await?;
    state.check_owned(set)?;
    state.check_runnable(set, backend, false)?;
    let plan = match action {
        Action::Downgrade => state.plan_down(set, steps)?,
        _ => state.plan_up(set, steps)?,
    };
    if action == Action::Upgrade && state.at_base() {
        ownership::refuse_clashes(txn, set, &plan).await?;
    }
    let before = schema::snapshot(txn).await?;
    let sequences_before = schema::sequences(txn).await?;
    let bookkeeping_created: Vec<String> =
        if plan.is_empty() { Vec::new() } else { state.created.iter().map(|t| t.to_string()).collect() };
    if !bookkeeping_created.is_empty() {
        bookkeeping::run(txn, bookkeeping::create_statements(backend)).await?;
    }
    let names = relation_names(txn).await?;
    let mut seen = Seen::default();
    let mut held: HashSet<LockHeld> = locks(txn, &names, &mut seen).await?.into_iter().collect();
    let setup = t0.elapsed();
    let (mut migrating, mut reading_locks) = (Duration::ZERO, Duration::ZERO);
    let mut done = Vec::with_capacity(plan.len());
    let mut failed = None;
    for i in plan {
        let entry = &set.entries()[i];
        let started = Instant::now();
        let outcome = if is_transactional(entry, backend) {
            step(txn, set, i, action, &mut state).await
        } else {
            Err(Error::Migration(
                "it runs outside a transaction (use_transaction() is false, as CREATE INDEX CONCURRENTLY needs), \
                 so it cannot be rehearsed and rolled back; preview it with --sql"
                    .into(),
            ))
        };
        let duration_ms = started.elapsed().as_millis() as i64;
        migrating += started.elapsed();
        let read = Instant::now();
        let now = locks(txn, &names, &mut seen).await?;
        reading_locks += read.elapsed();
        // SQLite's one lock is every migration's; PostgreSQL's pile up until the rollback, so each step shows its own.
        let new: Vec<LockHeld> = if backend == DbBackend::Postgres {
            now.into_iter().filter(|l| held.insert(l.clone())).collect()
        } else {
            now
        };
        let error = outcome.err().map(|e| e.to_string());
        let stop = error.is_some();
        done.push(RehearsedStep {
            revision: entry.revision.clone(),
            name: entry.name.clone(),
            label: entry.label.clone(),
            duration_ms,
            locks: new,
            error,
        });
        if stop {
            failed = Some(entry.revision.clone());
            break;
        }
    }
    let finishing = Instant::now();
    let after = schema::snapshot(txn).await?;
    let sequences_after = schema::sequences(txn).await?;
    tracing::debug!(
        setup_ms = setup.as_millis() as u64,
        migrations_ms = migrating.as_millis() as u64,
        lock_reads_ms = reading_locks.as_millis() as u64,
        final_reads_ms = finishing.elapsed().as_millis() as u64,
        "rehearsal's phases"
    );
    let sequences_advanced = sequences_after
        .iter()
        .filter_map(|(name, &v)| {
            let was = *sequences_before.get(name)?;
            (v != was).then(|| (name.clone(), was, v))
        })
        .collect();
    Ok(Rehearsal {
        backend: if backend == DbBackend::Postgres { "postgres" } else { "sqlite" },
        action: action.as_str(),
        steps: done,
        changes: schema::diff(&before, &after),
        bookkeeping_created,
        sequences_advanced,
        failed,
        total_ms: t0.elapsed().as_millis() as i64,
    })
}

/// Runs one migration and its version rows in a savepoint (rolled back alone when it fails, so the report can
/// still read the catalog).
async fn step(
    txn: &DatabaseTransaction,
    set: &MigrationSet,
    i: usize,
    action: Action,
    state: &mut State,
) -> Result<()> {
    let backend = txn.get_database_backend();
    let entry = &set.entries()[i];
    let savepoint = txn.begin().await?;
    let attempt = async {
        run_migration(entry, action, SchemaManager::new(&savepoint)).await?;
        savepoint
            .execute_raw(match action {
                Action::Downgrade => bookkeeping::delete_applied(backend, &entry.name),
                _ => bookkeeping::insert_applied(backend, &entry.name, chrono::Utc::now().timestamp()),
            })
            .await?;
        let mut after = state.applied.clone();
        after[i] = action == Action::Upgrade;
        let head = head_of(set, &after);
        if let Some(change) = bookkeeping::head_change(backend, state.head.as_deref(), head) {
            savepoint.execute_raw(change).await?;
        }
        Ok::<_, Error>((after, head.map(str::to_string)))
    }
    .await;
    match attempt {
        Ok((after, head)) => {
            savepoint.commit().await?;
            state.applied = after;
            state.head = head;
            Ok(())
        }
        Err(e) => {
            savepoint.rollback().await.ok();
            Err(e)
        }
    }
}

/// Names of the current schema's relations by oid, read before the rehearsal: those a migration drops.
type Names = HashMap<i64, (String, String)>;

async fn relation_names(txn: &DatabaseTransaction) -> Result<Names> {
    let backend = txn.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(Names::new());
    }
    let rows = txn.query_all_raw(Statement::from_string(backend, pg_relations())).await?;
    rows.iter().map(|r| Ok((r.try_get("", "oid")?, (r.try_get("", "relation")?, r.try_get("", "kind")?)))).collect()
}

/// What [`locks`] has read so far (PostgreSQL): the keys of the locks held, and the relations named by oid (`None`
/// for those the report leaves out).
#[derive(Default)]
struct Seen {
    keys: HashSet<i64>,
    relations: HashMap<i64, Option<(String, String)>>,
}

/// `{1,2,3}`, an array as PostgreSQL reads it from text.
fn array_text(items: &[i64]) -> String {
    let items: Vec<String> = items.iter().map(i64::to_string).collect();
    format!("{{{}}}", items.join(","))
}

/// The locks the rehearsal's session took since the last call (PostgreSQL; SQLite's one lock every time). A
/// relation dropped in the rehearsal is named from `names`; one never seen by name (the TOAST table of a dropped
/// one) is left out.
async fn locks(txn: &DatabaseTransaction, names: &Names, seen: &mut Seen) -> Result<Vec<LockHeld>> {
    let backend = txn.get_database_backend();
    if backend != DbBackend::Postgres {
        // SQLite locks the whole file: the rehearsal's BEGIN IMMEDIATE holds the write lock from the start.
        return Ok(vec![LockHeld {
            relation: "database".into(),
            kind: "database".into(),
            mode: "write lock (BEGIN IMMEDIATE: other writers wait, readers go on)".into(),
        }]);
    }
    let row = txn.query_one_raw(Statement::from_string(backend, PG_HELD)).await?;
    let keys: Option<String> = match row {
        Some(r) => r.try_get("", "keys")?,
        None => None,
    };
    let mut new: Vec<i64> = Vec::new();
    for key in keys.as_deref().unwrap_or("{}").trim_matches(['{', '}']).split(',').filter(|k| !k.is_empty()) {
        let key: i64 = key.parse().map_err(|_| Error::Internal(format!("pg_locks gave the key {key:?}")))?;
        if seen.keys.insert(key) {
            new.push(key);
        }
    }
    let mut unnamed: Vec<i64> = new.iter().map(|k| k >> 5).filter(|oid| !seen.relations.contains_key(oid)).collect();
    unnamed.sort_unstable();
    unnamed.dedup();
    if !unnamed.is_empty() {
        let stmt = Statement::from_sql_and_values(backend, pg_relations_by_oid(), [array_text(&unnamed).into()]);
        for r in txn.query_all_raw(stmt).await? {
            let oid: i64 = r.try_get("", "oid")?;
            let skip: bool = r.try_get("", "skip")?;
            let named = (r.try_get::<String>("", "relation")?, r.try_get::<String>("", "kind")?);
            seen.relations.insert(oid, (!skip).then_some(named));
        }
        // Not in the catalog any more: dropped in the rehearsal, named from before it if it was there.
        for oid in unnamed {
            seen.relations.entry(oid).or_insert_with(|| names.get(&oid).cloned());
        }
    }
    let mut out = Vec::with_capacity(new.len());
    for key in new {
        let Some(Some((relation, kind))) = seen.relations.get(&(key >> 5)) else { continue };
        let mode = MODES
            .iter()
            .find(|m| m.len() as i64 == key & 31)
            .map_or_else(|| format!("mode {}", key & 31), |m| m.to_string());
        out.push(LockHeld { relation: relation.clone(), kind: kind.clone(), mode });
    }
    out.sort_by(|a, b| (&a.relation, &a.mode).cmp(&(&b.relation, &b.mode)));
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lock_mode_is_told_by_its_length_in_five_bits() {
        let mut lengths: Vec<usize> = MODES.iter().map(|m| m.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        assert_eq!(lengths.len(), MODES.len(), "two modes of one length: {MODES:?}");
        assert!(lengths.iter().all(|n| *n < 32), "{lengths:?}");
    }

    #[test]
    fn keys_go_to_postgres_as_an_array_literal() {
        assert_eq!(array_text(&[]), "{}");
        assert_eq!(array_text(&[16384, 524_288_015]), "{16384,524288015}");
    }
}
