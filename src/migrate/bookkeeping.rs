//! The runner's own tables: `seaql_migrations` (SeaORM's), `alembic_version` (the head) and `migrations_log`.
//!
//! These belong to the runner, not to a migration: a `down --to base` must still be able to
//! write its log rows, and the history must survive it, just as Alembic keeps `alembic_version`.

use chrono::{DateTime, Utc};
use entity::{alembic_version, migrations_log};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Schema, Set, Statement,
};
use sea_orm_migration::seaql_migrations;

use crate::error::Result;

/// The statements that create the three tables when they are missing.
pub fn create_statements(backend: DbBackend) -> Vec<Statement> {
    let schema = Schema::new(backend);
    let mut seaql = schema.create_table_from_entity(seaql_migrations::Entity);
    let mut head = schema.create_table_from_entity(alembic_version::Entity);
    let mut log = schema.create_table_from_entity(migrations_log::Entity);
    vec![backend.build(seaql.if_not_exists()), backend.build(head.if_not_exists()), backend.build(log.if_not_exists())]
}

/// Records a migration as applied, the way SeaORM does (unix seconds).
pub fn insert_applied(backend: DbBackend, name: &str, applied_at: i64) -> Statement {
    backend.build(
        Query::insert()
            .into_table(seaql_migrations::Entity)
            .columns([seaql_migrations::Column::Version, seaql_migrations::Column::AppliedAt])
            .values_panic([name.into(), applied_at.into()]),
    )
}

/// Forgets that a migration was applied.
pub fn delete_applied(backend: DbBackend, name: &str) -> Statement {
    backend.build(
        Query::delete()
            .from_table(seaql_migrations::Entity)
            .and_where(Expr::col(seaql_migrations::Column::Version).eq(name)),
    )
}

/// Moves `alembic_version` from `from` to `to` in one statement (none when nothing changes).
/// UPDATE and DELETE name the old value, so a table changed behind Strata's back affects no row.
pub fn head_change(backend: DbBackend, from: Option<&str>, to: Option<&str>) -> Option<Statement> {
    let col = alembic_version::Column::VersionNum;
    Some(match (from, to) {
        (a, b) if a == b => return None,
        (None, Some(to)) => {
            backend.build(Query::insert().into_table(alembic_version::Entity).columns([col]).values_panic([to.into()]))
        }
        (Some(from), Some(to)) => backend
            .build(Query::update().table(alembic_version::Entity).value(col, to).and_where(Expr::col(col).eq(from))),
        (Some(from), None) => {
            backend.build(Query::delete().from_table(alembic_version::Entity).and_where(Expr::col(col).eq(from)))
        }
        (None, None) => return None,
    })
}

/// Makes `alembic_version` hold `head` whatever it held before, or no row at base (for `stamp`).
pub fn set_head(backend: DbBackend, head: Option<&str>) -> Vec<Statement> {
    let mut out = vec![backend.build(Query::delete().from_table(alembic_version::Entity))];
    if let Some(rev) = head {
        out.push(
            backend.build(
                Query::insert()
                    .into_table(alembic_version::Entity)
                    .columns([alembic_version::Column::VersionNum])
                    .values_panic([rev.into()]),
            ),
        );
    }
    out
}

/// Runs statements in order.
pub async fn run<C: ConnectionTrait>(db: &C, stmts: Vec<Statement>) -> Result<()> {
    for stmt in stmts {
        db.execute_raw(stmt).await?;
    }
    Ok(())
}

/// Which of the runner's tables exist (status reads must not create them: a read-only role may be asking).
pub struct Present {
    pub seaql: bool,
    pub head: bool,
    pub log: bool,
}

///
/// One catalog query for the three (pages read this on every request), resolved the way the tables'
/// own queries resolve names: the PostgreSQL search path, the MariaDB current database, SQLite `main`.
pub async fn present(db: sea_orm::DatabaseExecutor<'_>) -> Result<Present> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT to_regclass('seaql_migrations') IS NOT NULL AS seaql, \
                    to_regclass('alembic_version') IS NOT NULL AS head, \
                    to_regclass('migrations_log') IS NOT NULL AS log"
        }
        // MariaDB: each name by equality, which `information_schema` answers by looking for that one table; a list
        // (`IN`) lists every table of the database first (9 ms at 10,000 tables, against 0.4 ms).
        DbBackend::MySql => {
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
                            WHERE table_schema = DATABASE() AND table_name = 'seaql_migrations') AS seaql, \
                    EXISTS (SELECT 1 FROM information_schema.tables \
                            WHERE table_schema = DATABASE() AND table_name = 'alembic_version') AS head, \
                    EXISTS (SELECT 1 FROM information_schema.tables \
                            WHERE table_schema = DATABASE() AND table_name = 'migrations_log') AS log"
        }
        // SQLite: each name looked up in the connection's parsed schema (`pragma_table_list` with a name), not a pass
        // over `sqlite_master`, which has no index on names (40,000 rows at 10,000 tables with 3 indexes each). Its
        // types `table`, `virtual` and `shadow` are all `type = 'table'` in `sqlite_master`.
        _ => {
            "SELECT EXISTS (SELECT 1 FROM pragma_table_list('seaql_migrations') t \
                            WHERE t.schema = 'main' AND t.name = 'seaql_migrations' AND t.type <> 'view') AS seaql, \
                    EXISTS (SELECT 1 FROM pragma_table_list('alembic_version') t \
                            WHERE t.schema = 'main' AND t.name = 'alembic_version' AND t.type <> 'view') AS head, \
                    EXISTS (SELECT 1 FROM pragma_table_list('migrations_log') t \
                            WHERE t.schema = 'main' AND t.name = 'migrations_log' AND t.type <> 'view') AS log"
        }
    };
    let row = db.query_one_raw(Statement::from_string(backend, sql)).await?;
    let flag = |name: &str| -> Result<bool> {
        let Some(row) = row.as_ref() else { return Ok(false) };
        // MariaDB and SQLite answer 0/1 integers, PostgreSQL booleans.
        Ok(match row.try_get::<bool>("", name) {
            Ok(b) => b,
            Err(_) => row.try_get::<i64>("", name)? != 0,
        })
    };
    Ok(Present { seaql: flag("seaql")?, head: flag("head")?, log: flag("log")? })
}

/// What the three tables hold, in a few numbers that change whenever a migration is applied, rolled back or
/// stamped, or a run starts or ends: reading it is one round trip, against the handful a full status read takes,
/// so a page can keep the state it read while the fingerprint stays the same.
///
/// Every run writes a `migrations_log` row before it changes anything (its id grows) and updates only a row that
/// is `running`; `seaql_migrations` and `alembic_version` are covered by their own figures, so a hand edit of
/// either changes the fingerprint too. Fails when one of the tables is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// `seaql_migrations`: rows, and the sum of their `applied_at`.
    pub applied: i64,
    pub applied_sum: i64,
    /// `alembic_version`'s rows, sorted and joined by spaces.
    pub heads: Option<String>,
    /// `migrations_log`: the newest id, and how many rows say `running` (a state that depends on a live runner,
    /// which the tables do not show: never kept).
    pub last_log: i64,
    pub running: i64,
}

/// Reads the [`Fingerprint`] (the three tables must exist: check with [`present`] first).
pub async fn fingerprint<C: ConnectionTrait>(db: &C) -> Result<Fingerprint> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT (SELECT count(*) FROM seaql_migrations)::bigint AS applied, \
                    (SELECT coalesce(sum(applied_at), 0) FROM seaql_migrations)::bigint AS applied_sum, \
                    (SELECT string_agg(version_num, ' ' ORDER BY version_num) FROM alembic_version) AS heads, \
                    (SELECT coalesce(max(id), 0) FROM migrations_log)::bigint AS last_log, \
                    (SELECT count(*) FROM migrations_log WHERE status = 'running')::bigint AS running"
        }
        DbBackend::MySql => {
            "SELECT (SELECT COUNT(*) FROM seaql_migrations) AS applied, \
                    (SELECT CAST(COALESCE(SUM(applied_at), 0) AS SIGNED) FROM seaql_migrations) AS applied_sum, \
                    (SELECT CAST(GROUP_CONCAT(version_num ORDER BY version_num SEPARATOR ' ') AS CHAR) \
                       FROM alembic_version) AS heads, \
                    (SELECT CAST(COALESCE(MAX(id), 0) AS SIGNED) FROM migrations_log) AS last_log, \
                    (SELECT COUNT(*) FROM migrations_log WHERE status = 'running') AS running"
        }
        _ => {
            "SELECT (SELECT count(*) FROM seaql_migrations) AS applied, \
                    (SELECT coalesce(sum(applied_at), 0) FROM seaql_migrations) AS applied_sum, \
                    (SELECT group_concat(version_num, ' ') FROM (SELECT version_num FROM alembic_version \
                       ORDER BY version_num)) AS heads, \
                    (SELECT coalesce(max(id), 0) FROM migrations_log) AS last_log, \
                    (SELECT count(*) FROM migrations_log WHERE status = 'running') AS running"
        }
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| crate::error::Error::Internal("the migration fingerprint query returned no row".into()))?;
    Ok(Fingerprint {
        applied: row.try_get("", "applied")?,
        applied_sum: row.try_get("", "applied_sum")?,
        heads: row.try_get("", "heads")?,
        last_log: row.try_get("", "last_log")?,
        running: row.try_get("", "running")?,
    })
}

/// Applied migration names with their unix `applied_at`.
pub async fn applied<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, i64)>> {
    let rows = seaql_migrations::Entity::find().order_by_asc(seaql_migrations::Column::Version).all(db).await?;
    Ok(rows.into_iter().map(|m| (m.version, m.applied_at)).collect())
}

/// The revision in `alembic_version`, if any.
pub async fn head<C: ConnectionTrait>(db: &C) -> Result<Option<String>> {
    Ok(alembic_version::Entity::find().one(db).await?.map(|m| m.version_num))
}

/// Every row of `alembic_version`: one at most when this migrator keeps it, several for Alembic branches.
pub async fn heads<C: ConnectionTrait>(db: &C) -> Result<Vec<String>> {
    let rows = alembic_version::Entity::find().order_by_asc(alembic_version::Column::VersionNum).all(db).await?;
    Ok(rows.into_iter().map(|m| m.version_num).collect())
}

/// What a log row says.
pub struct LogEntry<'a> {
    pub revision: &'a str,
    pub name: &'a str,
    pub action: &'a str,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub actor: &'a str,
    pub error: Option<String>,
}

/// Writes one `migrations_log` row.
pub async fn log<C: ConnectionTrait>(db: &C, e: LogEntry<'_>) -> Result<()> {
    db.execute_raw(log_statement(db.get_database_backend(), e)).await?;
    Ok(())
}

/// The INSERT that writes one `migrations_log` row (also printed by `--sql`).
pub fn log_statement(backend: DbBackend, e: LogEntry<'_>) -> Statement {
    let mut insert = migrations_log::Entity::insert(log_row(e, false));
    backend.build(QueryTrait::query(&mut insert))
}

/// The `status` of a row written before a migration whose DDL commits as it goes, until it ends.
pub const RUNNING: &str = "running";

/// Writes a `running` row for an attempt that is about to start, on its own (the caller makes sure no
/// transaction is open, so it is committed before the migration's first statement); returns its id.
/// [`finish`] turns it into the attempt's outcome; a runner killed in between leaves it `running`.
pub async fn mark_running<C: ConnectionTrait>(db: &C, e: LogEntry<'_>) -> Result<i64> {
    Ok(migrations_log::Entity::insert(log_row(e, true)).exec(db).await?.last_insert_id)
}

/// Records how the attempt `mark_running` started ended.
pub async fn finish<C: ConnectionTrait>(db: &C, id: i64, e: LogEntry<'_>) -> Result<()> {
    db.execute_raw(finish_statement(db.get_database_backend(), id, e)).await?;
    Ok(())
}

/// The UPDATE behind [`finish`] (also printed by `--sql`).
pub fn finish_statement(backend: DbBackend, id: i64, e: LogEntry<'_>) -> Statement {
    let row = log_row(e, false);
    backend.build(
        Query::update()
            .table(migrations_log::Entity)
            .value(migrations_log::Column::FinishedAt, row.finished_at.unwrap())
            .value(migrations_log::Column::DurationMs, row.duration_ms.unwrap())
            .value(migrations_log::Column::Status, row.status.unwrap())
            .value(migrations_log::Column::Error, row.error.unwrap())
            .and_where(Expr::col(migrations_log::Column::Id).eq(id)),
    )
}

fn log_row(e: LogEntry<'_>, running: bool) -> migrations_log::ActiveModel {
    let status = match (running, e.error.is_some()) {
        (true, _) => RUNNING,
        (false, true) => "failed",
        (false, false) => "success",
    };
    migrations_log::ActiveModel {
        revision: Set(e.revision.chars().take(32).collect()),
        name: Set(e.name.chars().take(255).collect()),
        action: Set(e.action.to_string()),
        started_at: Set(e.started_at),
        finished_at: Set((!running).then_some(e.finished_at)),
        duration_ms: Set((!running).then_some(e.duration_ms)),
        actor: Set(e.actor.chars().take(255).collect()),
        status: Set(status.to_string()),
        error: Set(e.error),
        ..Default::default()
    }
}

/// The newest log row of every revision (decides failed/dirty states).
pub async fn latest_per_revision<C: ConnectionTrait>(db: &C) -> Result<Vec<migrations_log::Model>> {
    let newest = Query::select()
        .expr(Expr::col(migrations_log::Column::Id).max())
        .from(migrations_log::Entity)
        .group_by_col(migrations_log::Column::Revision)
        .to_owned();
    Ok(migrations_log::Entity::find().filter(migrations_log::Column::Id.in_subquery(newest)).all(db).await?)
}

/// Log rows, newest first, optionally only one status.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    limit: u64,
    status: Option<&str>,
) -> Result<Vec<migrations_log::Model>> {
    let mut q = migrations_log::Entity::find().order_by_desc(migrations_log::Column::Id);
    if let Some(s) = status {
        q = q.filter(migrations_log::Column::Status.eq(s));
    }
    Ok(q.limit(limit).all(db).await?)
}

/// Rows of `migrations_log` from `offset` (newest first), and how many match `status`.
pub async fn history_page<C: ConnectionTrait>(
    db: &C,
    status: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<migrations_log::Model>, u64)> {
    let mut q = migrations_log::Entity::find().order_by_desc(migrations_log::Column::Id);
    if let Some(s) = status {
        q = q.filter(migrations_log::Column::Status.eq(s));
    }
    let total = q.clone().count(db).await?;
    Ok((q.offset(offset).limit(limit).all(db).await?, total))
}
