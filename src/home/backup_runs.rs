//! Scheduled backups in the home database: the scheduler's lease (one scheduler among the instances sharing this
//! home), the claimed runs (a unique row per database, kind and scheduled time: exactly one instance runs each),
//! and the schedules set on the Backups page.
//!
//! Times are Unix milliseconds in UTC, compared with the instances' own clocks: instances whose clocks differ by
//! more than a lease's length could both believe they hold it, but the run claim still lets only one of them run
//! each scheduled backup.

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, SqlErr};

use crate::error::Result;

const LEASES: &str = "strata_leases";
const RUNS: &str = "backup_runs";
const SCHEDULES: &str = "backup_schedules";

/// What a scheduled run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    Backup,
    RestoreTest,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Backup => "backup",
            RunKind::RestoreTest => "restore_test",
        }
    }
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Takes the lease `name` for `holder` until `until`, or renews it: granted when nobody holds it, `holder` does,
/// or the holder let it expire. Returns whether `holder` holds it now.
pub async fn take_lease(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    let update = Query::update()
        .table(col(LEASES))
        .values([(col("holder"), holder.into()), (col("expires_at_ms"), ms(until).into())])
        .and_where(Expr::col(col("name")).eq(name))
        .and_where(Expr::col(col("holder")).eq(holder).or(Expr::col(col("expires_at_ms")).lt(ms(now))))
        .to_owned();
    if db.execute(&update).await?.rows_affected() == 1 {
        return Ok(true);
    }
    let insert = Query::insert()
        .into_table(col(LEASES))
        .columns([col("name"), col("holder"), col("expires_at_ms")])
        .values_panic([name.into(), holder.into(), ms(until).into()])
        .to_owned();
    match db.execute(&insert).await {
        Ok(_) => Ok(true),
        // Another instance holds it (the row exists and did not match the update).
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Gives the lease up at once (on shutdown), so another instance takes over without waiting for it to expire.
pub async fn release_lease(db: &impl ConnectionTrait, name: &str, holder: &str) -> Result<()> {
    let delete = Query::delete()
        .from_table(col(LEASES))
        .and_where(Expr::col(col("name")).eq(name))
        .and_where(Expr::col(col("holder")).eq(holder))
        .to_owned();
    db.execute(&delete).await?;
    Ok(())
}

/// Claims the run of `database` scheduled at `at`: `true` for exactly one caller, however many instances try.
pub async fn claim(
    db: &impl ConnectionTrait,
    database: &str,
    kind: RunKind,
    at: DateTime<Utc>,
    instance: &str,
) -> Result<bool> {
    let insert = Query::insert()
        .into_table(col(RUNS))
        .columns([col("database_name"), col("kind"), col("scheduled_at_ms"), col("instance"), col("started_at_ms")])
        .values_panic([database.into(), kind.as_str().into(), ms(at).into(), instance.into(), ms(Utc::now()).into()])
        .to_owned();
    match db.execute(&insert).await {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Records how the claimed run ended: `succeeded`, `failed` or `skipped`, and a line on what it did.
pub async fn finish(
    db: &impl ConnectionTrait,
    database: &str,
    kind: RunKind,
    at: DateTime<Utc>,
    outcome: &str,
    detail: &str,
) -> Result<()> {
    let update = Query::update()
        .table(col(RUNS))
        .values([
            (col("finished_at_ms"), ms(Utc::now()).into()),
            (col("outcome"), outcome.into()),
            (col("detail"), detail.into()),
        ])
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("kind")).eq(kind.as_str()))
        .and_where(Expr::col(col("scheduled_at_ms")).eq(ms(at)))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// One scheduled run as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub scheduled_at: DateTime<Utc>,
    pub instance: String,
    pub outcome: Option<String>,
    pub detail: Option<String>,
}

/// The runs of `database` of `kind`, newest first, at most `limit`.
pub async fn runs(db: &impl ConnectionTrait, database: &str, kind: RunKind, limit: u64) -> Result<Vec<Run>> {
    let query = Query::select()
        .columns([col("scheduled_at_ms"), col("instance"), col("outcome"), col("detail")])
        .from(col(RUNS))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("kind")).eq(kind.as_str()))
        .order_by(col("scheduled_at_ms"), Order::Desc)
        .limit(limit)
        .to_owned();
    let mut out = Vec::new();
    for row in db.query_all(&query).await? {
        out.push(Run {
            scheduled_at: time(row.try_get::<i64>("", "scheduled_at_ms")?),
            instance: row.try_get("", "instance")?,
            outcome: row.try_get("", "outcome")?,
            detail: row.try_get("", "detail")?,
        });
    }
    Ok(out)
}

/// When the newest scheduled run of `database` of `kind` was due, if one ever ran.
pub async fn last_run(db: &impl ConnectionTrait, database: &str, kind: RunKind) -> Result<Option<DateTime<Utc>>> {
    Ok(runs(db, database, kind, 1).await?.first().map(|r| r.scheduled_at))
}

/// A schedule set on the Backups page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// As `backup_schedule` takes it, or `off`.
    pub schedule: String,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// Every schedule set on the page, by database name.
pub async fn overrides(db: &impl ConnectionTrait) -> Result<Vec<(String, Override)>> {
    let query = Query::select()
        .columns([col("database_name"), col("schedule"), col("updated_by"), col("updated_at_ms")])
        .from(col(SCHEDULES))
        .to_owned();
    let mut out = Vec::new();
    for row in db.query_all(&query).await? {
        out.push((
            row.try_get("", "database_name")?,
            Override {
                schedule: row.try_get("", "schedule")?,
                updated_by: row.try_get("", "updated_by")?,
                updated_at: time(row.try_get::<i64>("", "updated_at_ms")?),
            },
        ));
    }
    Ok(out)
}

/// The schedule set on the page for `database`, if any.
pub async fn schedule_override(db: &impl ConnectionTrait, database: &str) -> Result<Option<Override>> {
    Ok(overrides(db).await?.into_iter().find(|(name, _)| name == database).map(|(_, o)| o))
}

/// Sets (or with `None` removes) the page's schedule for `database`.
pub async fn set_override(db: &impl ConnectionTrait, database: &str, schedule: Option<&str>, by: &str) -> Result<()> {
    let delete =
        Query::delete().from_table(col(SCHEDULES)).and_where(Expr::col(col("database_name")).eq(database)).to_owned();
    db.execute(&delete).await?;
    if let Some(schedule) = schedule {
        let insert = Query::insert()
            .into_table(col(SCHEDULES))
            .columns([col("database_name"), col("schedule"), col("updated_by"), col("updated_at_ms")])
            .values_panic([database.into(), schedule.into(), by.into(), ms(Utc::now()).into()])
            .to_owned();
        db.execute(&insert).await?;
    }
    Ok(())
}
