//! The running 5-minute rollups of the raw database-wide samples (`sample_rollups`), kept as samples are written:
//! per database, metric and 5-minute bucket, the number of samples that count, the sum of their times and the sums
//! of what a chart bucket is made of (a gauge's values; a rate's reset-aware increases and the seconds they span;
//! the blocks hit and read). Sums, never averages: a chart whose buckets are whole 5-minute ones reads a fifth of
//! the rows and gets exactly what the raw samples give ([`super::buckets`]).
//!
//! Written raw samples refresh the rollups of their buckets and of the bucket of the sample after them (its
//! increase counts from the one before it), from the raw rows themselves, so a sample written late or twice leaves
//! them right. They go with the raw samples: the retention job deletes a bucket once raw samples in it may have
//! gone and makes it again from those left.

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query, SelectStatement};

use super::{DATABASE_METRICS, RAW, Row, SAMPLES, SCALARS, col, delta, rate_column};
use crate::error::Result;

const ROLLUPS: &str = "sample_rollups";

/// A rollup's seconds.
pub const STEP: i64 = 300;

/// Rows per insert statement.
const CHUNK: usize = 400;

/// What a database-wide metric is made of, by its position in [`DATABASE_METRICS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A column's value ([`SCALARS`] index).
    Gauge(usize),
    /// The sum of the sessions by state (present when any is).
    Connections,
    /// A counter column's increase.
    Rate(usize),
    /// The blocks hit and read.
    HitRatio(usize, usize),
}

fn scalar(name: &str) -> usize {
    SCALARS.iter().position(|s| s.name == name).unwrap_or(0)
}

/// The kind of the database-wide metric `name`.
pub(super) fn kind_of(name: &str) -> Kind {
    match name {
        "db_size" => Kind::Gauge(scalar("db_size")),
        "connections" => Kind::Connections,
        "cache_hit_ratio" => Kind::HitRatio(scalar("blks_hit"), scalar("blks_read")),
        rate => Kind::Rate(scalar(rate_column(rate))),
    }
}

/// The position of the database-wide metric `name` (its `metric` in `sample_rollups`).
pub(super) fn metric_code(name: &str) -> Option<i32> {
    DATABASE_METRICS.iter().position(|(m, _)| *m == name).map(|i| i as i32)
}

/// One rollup row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Rollup {
    pub metric: i32,
    pub at: i64,
    pub n: i64,
    pub sum_at: i64,
    pub max_at: i64,
    pub a: Option<i64>,
    pub b: Option<i64>,
    pub secs: Option<i64>,
}

impl Rollup {
    fn add(&mut self, at: i64, a: i64, b: Option<i64>, secs: Option<i64>) {
        self.n += 1;
        self.sum_at += at;
        self.max_at = Ord::max(self.max_at, at);
        self.a = Some(self.a.unwrap_or(0) + a);
        if let Some(b) = b {
            self.b = Some(self.b.unwrap_or(0) + b);
        }
        if let Some(secs) = secs {
            self.secs = Some(self.secs.unwrap_or(0) + secs);
        }
    }
}

/// The rollups of the samples in `rows` (oldest first) timed in `lo..hi`; the rows before `lo` are only where the
/// first increases count from. A sample's increase is from the one before it with a value in the same column (for
/// the hit ratio: in both), exactly as the raw chart read pairs them with `LAG`.
pub(super) fn compute(rows: &[Row], lo: i64, hi: i64) -> Vec<Rollup> {
    let mut out: BTreeMap<(i32, i64), Rollup> = BTreeMap::new();
    let inside = |at: i64| at >= lo && at < hi;
    for (code, (name, _)) in DATABASE_METRICS.iter().enumerate() {
        let code = code as i32;
        match kind_of(name) {
            Kind::Gauge(i) => {
                for r in rows.iter().filter(|r| inside(r.at)) {
                    if let Some(v) = r.values[i] {
                        slot(&mut out, code, r.at).add(r.at, v, None, None);
                    }
                }
            }
            Kind::Connections => {
                for r in rows.iter().filter(|r| inside(r.at)) {
                    let parts: Vec<i64> = (1..=4).filter_map(|i| r.values[i]).collect();
                    if !parts.is_empty() {
                        slot(&mut out, code, r.at).add(r.at, parts.iter().sum(), None, None);
                    }
                }
            }
            Kind::Rate(i) => {
                let mut prev: Option<&Row> = None;
                for r in rows.iter().filter(|r| r.values[i].is_some()) {
                    if let (Some(p), Some(cur), Some(before)) = (prev, r.values[i], prev.and_then(|p| p.values[i]))
                        && inside(r.at)
                    {
                        let d = delta(before, cur, p.epoch.reset_before(&r.epoch));
                        slot(&mut out, code, r.at).add(r.at, d, None, Some(r.at - p.at));
                    }
                    prev = Some(r);
                }
            }
            Kind::HitRatio(h, m) => {
                let mut prev: Option<&Row> = None;
                for r in rows.iter().filter(|r| r.values[h].is_some() && r.values[m].is_some()) {
                    if let Some(p) = prev
                        && inside(r.at)
                        && let (Some(ph), Some(pm), Some(ch), Some(cm)) =
                            (p.values[h], p.values[m], r.values[h], r.values[m])
                    {
                        let reset = p.epoch.reset_before(&r.epoch);
                        slot(&mut out, code, r.at).add(r.at, delta(ph, ch, reset), Some(delta(pm, cm, reset)), None);
                    }
                    prev = Some(r);
                }
            }
        }
    }
    out.into_values().collect()
}

/// The rollup of metric `code` for the 5-minute step holding `at`.
fn slot(out: &mut BTreeMap<(i32, i64), Rollup>, code: i32, at: i64) -> &mut Rollup {
    let start = at.div_euclid(STEP) * STEP;
    out.entry((code, start)).or_insert_with(|| Rollup { metric: code, at: start, ..Default::default() })
}

/// Makes again the rollups of `database`'s buckets from the one holding `first` to the one holding the raw sample
/// after `last`, from the raw samples.
pub(super) async fn refresh(db: &impl ConnectionTrait, database: &str, first: i64, last: i64) -> Result<()> {
    let lo = first.div_euclid(STEP) * STEP;
    let next = next_after(db, database, last).await?;
    let hi = Ord::max(next.unwrap_or(last), last).div_euclid(STEP) * STEP + STEP;
    let all: Vec<usize> = (0..SCALARS.len()).collect();
    let inside = super::scalar_query(db, database, RAW, Some(lo), Some(hi), false, &all).await?;
    // Where each metric's first increase counts from: the newest sample before the window, or for a counter it
    // lacks, the newest one that has it.
    let mut before: Vec<Row> = Vec::new();
    if let Some(last_row) = super::last_raw_before(db, database, lo, None).await? {
        let missing: Vec<usize> = SCALARS
            .iter()
            .enumerate()
            .filter(|(i, c)| c.counter && last_row.values[*i].is_none())
            .map(|(i, _)| i)
            .collect();
        before.push(last_row);
        for i in missing {
            if let Some(row) = super::last_raw_before(db, database, lo, Some(i)).await?
                && !before.iter().any(|b| b.at == row.at)
            {
                before.push(row);
            }
        }
    }
    before.sort_by_key(|r| r.at);
    before.extend(inside);
    let rollups = compute(&before, lo, hi);
    let delete = Query::delete()
        .from_table(col(ROLLUPS))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("at_s")).gte(lo))
        .and_where(Expr::col(col("at_s")).lt(hi))
        .to_owned();
    db.execute(&delete).await?;
    let columns = ["database_name", "metric", "at_s", "n", "sum_at", "max_at", "value_a", "value_b", "secs"];
    for chunk in rollups.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(col(ROLLUPS)).columns(columns.map(col));
        for r in chunk {
            insert.values_panic([
                database.into(),
                r.metric.into(),
                r.at.into(),
                r.n.into(),
                r.sum_at.into(),
                r.max_at.into(),
                r.a.into(),
                r.b.into(),
                r.secs.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// The time of `database`'s first raw sample after `at`.
async fn next_after(db: &impl ConnectionTrait, database: &str, at: i64) -> Result<Option<i64>> {
    let query = Query::select()
        .expr_as(Func::min(Expr::col(col("at_s"))), col("next"))
        .from(col(SAMPLES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("resolution_s")).eq(RAW))
        .and_where(Expr::col(col("at_s")).gt(at))
        .to_owned();
    let row = db.query_one(&query).await?;
    Ok(row.and_then(|r| r.try_get::<Option<i64>>("", "next").ok().flatten()))
}

async fn bound(db: &impl ConnectionTrait, table: &str, database: &str, raw: bool) -> Result<Option<i64>> {
    let mut query = Query::select();
    query
        .expr_as(Func::min(Expr::col(col("at_s"))), col("bound"))
        .from(col(table))
        .and_where(Expr::col(col("database_name")).eq(database));
    if raw {
        query.and_where(Expr::col(col("resolution_s")).eq(RAW));
    }
    let row = db.query_one(&query).await?;
    Ok(row.and_then(|r| r.try_get::<Option<i64>>("", "bound").ok().flatten()))
}

/// The retention job's part: deletes `database`'s rollups whose bucket starts before `before` (the raw samples
/// before it are gone), then makes the rollups of the raw samples older than the oldest rollup left (those of the
/// bucket cut in two, and all of them in a home database that had samples before rollups existed).
pub(super) async fn retain(db: &impl ConnectionTrait, database: &str, before: i64) -> Result<()> {
    let delete = Query::delete()
        .from_table(col(ROLLUPS))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("at_s")).lt(before))
        .to_owned();
    db.execute(&delete).await?;
    let Some(oldest_raw) = bound(db, SAMPLES, database, true).await? else {
        return Ok(());
    };
    let oldest_rollup = bound(db, ROLLUPS, database, false).await?;
    if oldest_rollup.is_some_and(|r| r <= oldest_raw.div_euclid(STEP) * STEP) {
        return Ok(());
    }
    let last = match oldest_rollup {
        Some(r) => r - 1,
        None => super::latest(db, database).await?.unwrap_or(oldest_raw),
    };
    refresh(db, database, oldest_raw, Ord::max(last, oldest_raw)).await
}

/// The sums of `database`'s rollups of metric `code` whose bucket starts in `from..=to`, grouped into chart buckets
/// of `bucket` seconds counted from `origin` (both multiples of [`STEP`]): `b` (the chart bucket's offset), `n`,
/// `sum_at`, `newest`, `v`, `v1` and `secs`, as the raw chart read answers them.
pub(super) fn read(
    database: &str,
    code: i32,
    (from, to): (i64, i64),
    (origin, bucket): (i64, i64),
    real: &Alias,
) -> SelectStatement {
    let since = Expr::col(col("at_s")).sub(origin);
    let inner = Query::select()
        .columns(["n", "sum_at", "max_at", "value_a", "value_b", "secs"].map(col))
        .expr_as(since.clone().sub(since.modulo(bucket)), col("b"))
        .from(col(ROLLUPS))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("metric")).eq(code))
        .and_where(Expr::col(col("at_s")).gte(from))
        .and_where(Expr::col(col("at_s")).lte(to))
        .to_owned();
    let sum = |c: &str| Func::cast_as(Func::sum(Expr::col(col(c))), real.clone());
    Query::select()
        .expr_as(sum("n"), col("n"))
        .expr_as(sum("sum_at"), col("sum_at"))
        .expr_as(Func::max(Expr::col(col("max_at"))), col("newest"))
        .expr_as(sum("value_a"), col("v"))
        .expr_as(sum("value_b"), col("v1"))
        .expr_as(sum("secs"), col("secs"))
        .from_subquery(inner, col("r"))
        .to_owned()
}
