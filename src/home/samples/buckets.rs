//! A metric's series reduced in the home database for a chart: the range cut into buckets of equal seconds (at most
//! one per pixel column) and each bucket's value computed by the query, so a 30-day chart over one-minute samples reads
//! a few hundred rows instead of 43,200.
//!
//! A gauge's bucket is the average of its samples. A rate's bucket is the counter's increase over the bucket divided
//! by the seconds it covers: from raw samples the sum of each sample's reset-aware delta to the sample before it
//! (`LAG` over the time order; a counter that went down, or a changed reset or start time, counts its new value, as
//! [`super::delta`] does), from averages the sum of their increases. The cache hit ratio is the blocks hit over the
//! blocks read and hit in the bucket. Every query answers sums and counts, never averages, so that a bucket read in
//! parts (the raw samples' 5-minute rollups, [`super::rollups`], and the samples as taken at the range's ends) adds up
//! to exactly what one read of every sample gives.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, WindowStatement};
use sea_orm::{ConnectionTrait, DbBackend};

use super::rollups::{self, STEP};
use super::{FIVE_MINUTES, HOURLY, Kind, Metric, RAW, SAMPLES, col, object_id};
use crate::error::Result;

/// How far before a raw range the sample its first delta starts from is looked for.
const CONTEXT_S: i64 = 3600;

/// A series reduced to buckets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reduced {
    /// `(mean time of the bucket's samples, value)`, oldest first; a bucket without samples has no point.
    pub points: Vec<(i64, f64)>,
    /// The time of the newest sample read (for an average: the start of its bucket).
    pub newest: Option<i64>,
}

/// What the query reads and how a bucket's value follows from its aggregates.
enum Shape {
    /// The average of a column (or of an expression over columns) of `table`.
    Gauge { table: &'static str, value: Expr, present: Expr },
    /// The rate of one counter column (`per` seconds: 1, or 86,400 for scans per day).
    Rate { table: &'static str, column: &'static str, per: f64 },
    /// `blks_hit / (blks_hit + blks_read)`.
    HitRatio,
}

/// The points of `metric` for `database` from `from` to `to` for a chart `columns` pixels wide: at most one a
/// column. Buckets are `(to - from + 1) / columns` seconds, rounded up; from 5 minutes up they are whole 5-minute
/// ones counted from the 5-minute boundary at or before `from` (see [`grid`]). The coarsest resolution whose step
/// fits a bucket is read first, for as far as it goes; the finer ones continue after its newest bucket, so a 30-day
/// chart reads hourly averages, then the last hour's 5-minute ones, then the last minutes as taken. Raw samples of a
/// database-wide metric are read from their 5-minute rollups ([`super::rollups`]) where whole ones fit.
pub async fn chart_series(
    db: &impl ConnectionTrait,
    database: &str,
    metric: &Metric,
    from: i64,
    to: i64,
    columns: u32,
) -> Result<Vec<(i64, f64)>> {
    chart(db, database, metric, (from, to), columns, true).await
}

/// [`chart_series`] with every raw sample read as taken (each rate's increase from `LAG` over the samples), never
/// from the rollups: what the rollups must equal, and what the benchmark sets them against.
pub async fn chart_series_from_raw(
    db: &impl ConnectionTrait,
    database: &str,
    metric: &Metric,
    from: i64,
    to: i64,
    columns: u32,
) -> Result<Vec<(i64, f64)>> {
    chart(db, database, metric, (from, to), columns, false).await
}

async fn chart(
    db: &impl ConnectionTrait,
    database: &str,
    metric: &Metric,
    (from, to): (i64, i64),
    columns: u32,
    use_rollups: bool,
) -> Result<Vec<(i64, f64)>> {
    let (origin, bucket) = grid(from, to, columns);
    let mut out = Vec::new();
    let mut start = from;
    for resolution in [HOURLY, FIVE_MINUTES, RAW] {
        if resolution as i64 > bucket || start > to {
            continue;
        }
        let read = if resolution == RAW && use_rollups {
            raw_read(db, database, metric, start, to, origin, bucket).await?
        } else {
            read_buckets(db, database, metric, start, to, resolution, origin, bucket).await?
        };
        let reduced = read.reduced();
        out.extend(reduced.points);
        if let Some(newest) = reduced.newest {
            // An average's time is the start of its bucket: the finer samples continue after it.
            start = newest + Ord::max(resolution as i64, 1);
        }
    }
    Ok(out)
}

/// The buckets of a chart from `from` to `to` (inclusive) `columns` wide: `(origin, seconds)`. Below 5 minutes,
/// `ceil((to - from + 1) / columns)` seconds counted from `from`; from 5 minutes up, that rounded up to whole
/// 5-minute steps counted from the step at or before `from` (widened by a step while that would make more buckets
/// than columns), so each bucket is made of whole 5-minute rollups and averages.
pub fn grid(from: i64, to: i64, columns: u32) -> (i64, i64) {
    let columns = Ord::max(columns, 1) as i64;
    let span = Ord::max(to - from + 1, 1);
    let bucket = ceil_div(span, columns);
    if bucket < STEP {
        return (from, bucket);
    }
    let origin = from.div_euclid(STEP) * STEP;
    let mut bucket = ceil_div(bucket, STEP) * STEP;
    while ceil_div(Ord::max(to - origin + 1, 1), bucket) > columns {
        bucket += STEP;
    }
    (origin, bucket)
}

/// `a / b` rounded up (`b` positive).
fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1).div_euclid(b)
}

/// The series of `metric` for `database` from `from` to `to` (inclusive) at `resolution`, in buckets of `bucket`
/// seconds counted from `from`.
pub async fn series_in_buckets(
    db: &impl ConnectionTrait,
    database: &str,
    metric: &Metric,
    from: i64,
    to: i64,
    resolution: i32,
    bucket: i64,
) -> Result<Reduced> {
    Ok(read_buckets(db, database, metric, from, to, resolution, from, Ord::max(bucket, 1)).await?.reduced())
}

/// The raw samples of `metric` from `from` to `to` in the chart's buckets: for a database-wide metric in buckets of
/// whole 5-minute steps, the whole 5-minute rollups inside the range, and the samples before the first and after
/// the last as taken (their sums added to the same buckets); otherwise every sample as taken.
async fn raw_read(
    db: &impl ConnectionTrait,
    database: &str,
    metric: &Metric,
    from: i64,
    to: i64,
    origin: i64,
    bucket: i64,
) -> Result<Read> {
    let aligned = bucket % STEP == 0 && origin.rem_euclid(STEP) == 0;
    if let (Metric::Database(name), true) = (metric, aligned)
        && let Some(code) = rollups::metric_code(name)
    {
        // Whole rollups: those starting at or after `from` and ending by `to`.
        let (first, end) = ((from + STEP - 1).div_euclid(STEP) * STEP, (to + 1).div_euclid(STEP) * STEP);
        if first < end {
            let mut buckets = Vec::new();
            if from < first {
                buckets.extend(read_buckets(db, database, metric, from, first - 1, RAW, origin, bucket).await?.buckets);
            }
            let real = real_type(db.get_database_backend());
            let query = rollups::read(database, code, (first, end - 1), (origin, bucket), &real);
            buckets.extend(grouped(db, query, "b").await?);
            if end <= to {
                buckets.extend(read_buckets(db, database, metric, end, to, RAW, origin, bucket).await?.buckets);
            }
            let kind = shape_kind(name);
            return Ok(Read { kind, buckets: merge(buckets), done: None });
        }
    }
    read_buckets(db, database, metric, from, to, RAW, origin, bucket).await
}

/// How a database-wide metric's bucket sums become its value.
fn shape_kind(name: &str) -> ValueKind {
    match rollups::kind_of(name) {
        rollups::Kind::Gauge(_) | rollups::Kind::Connections => ValueKind::Gauge,
        rollups::Kind::Rate(_) => ValueKind::Rate(1.0),
        rollups::Kind::HitRatio(..) => ValueKind::HitRatio,
    }
}

/// Buckets with the same offset added together (their parts were read from rollups and from raw samples).
fn merge(parts: Vec<Bucket>) -> Vec<Bucket> {
    let mut by: BTreeMap<i64, Bucket> = BTreeMap::new();
    for p in parts {
        match by.get_mut(&p.offset) {
            None => {
                by.insert(p.offset, p);
            }
            Some(b) => {
                b.n += p.n;
                b.sum_at += p.sum_at;
                b.newest = Ord::max(b.newest, p.newest);
                for (v, w) in b.values.iter_mut().zip(&p.values) {
                    if let Some(w) = w {
                        *v = Some(v.unwrap_or(0.0) + w);
                    }
                }
                if let Some(s) = p.seconds {
                    b.seconds = Some(b.seconds.unwrap_or(0.0) + s);
                }
            }
        }
    }
    by.into_values().collect()
}

/// How a bucket's sums become a point.
#[derive(Clone, Copy)]
enum ValueKind {
    /// The values' sum over their number.
    Gauge,
    /// The increase over the seconds, times this (1, or 86,400 for scans per day).
    Rate(f64),
    /// Blocks hit over blocks hit and read.
    HitRatio,
}

/// What a read answered: buckets' sums and how they become points, or points already reduced.
struct Read {
    kind: ValueKind,
    buckets: Vec<Bucket>,
    done: Option<Reduced>,
}

impl Read {
    fn reduced(self) -> Reduced {
        if let Some(done) = self.done {
            return done;
        }
        let at = |b: &Bucket| (b.sum_at / b.n).round() as i64;
        let points = self
            .buckets
            .iter()
            .filter(|b| b.n > 0.0)
            .filter_map(|b| match self.kind {
                ValueKind::Gauge => Some((at(b), b.values.first().copied().flatten()? / b.n)),
                ValueKind::Rate(per) => {
                    let (increase, secs) = (b.values.first().copied().flatten()?, b.seconds?);
                    (secs > 0.0).then(|| (at(b), increase / secs * per))
                }
                ValueKind::HitRatio => {
                    let (hit, read) = (b.values.first().copied().flatten()?, b.values.get(1).copied().flatten()?);
                    (hit + read > 0.0).then(|| (at(b), hit / (hit + read)))
                }
            })
            .collect();
        Reduced { points, newest: self.buckets.iter().map(|b| b.newest).max() }
    }
}

/// The sums of `metric` for `database` from `from` to `to` (inclusive) at `resolution`, per bucket of `bucket`
/// seconds counted from `origin`.
#[allow(clippy::too_many_arguments)]
async fn read_buckets(
    db: &impl ConnectionTrait,
    database: &str,
    metric: &Metric,
    from: i64,
    to: i64,
    resolution: i32,
    origin: i64,
    bucket: i64,
) -> Result<Read> {
    let bucket = Ord::max(bucket, 1);
    let (shape, filter) = match metric {
        Metric::Database(name) => {
            let filter = Expr::col(col("database_name")).eq(database);
            let shape = match *name {
                "db_size" => Shape::Gauge {
                    table: SAMPLES,
                    value: Expr::col(col("db_size")),
                    present: Expr::col(col("db_size")).is_not_null(),
                },
                "connections" => {
                    let parts = ["conn_active", "conn_idle", "conn_idle_in_tx", "conn_other"];
                    let value = parts
                        .iter()
                        .map(|c| Expr::col(col(c)).if_null(0))
                        .reduce(|a, b| a.add(b))
                        .unwrap_or_else(|| Expr::val(0));
                    let present = parts
                        .iter()
                        .map(|c| Expr::col(col(c)).is_not_null())
                        .reduce(|a, b| a.or(b))
                        .unwrap_or_else(|| Expr::val(false));
                    Shape::Gauge { table: SAMPLES, value, present }
                }
                "cache_hit_ratio" => Shape::HitRatio,
                rate => Shape::Rate { table: SAMPLES, column: super::rate_column(rate), per: 1.0 },
            };
            (shape, filter.and(Expr::col(col("resolution_s")).eq(resolution)))
        }
        Metric::Table { rows, name } => {
            let Some(id) = object_id(db, database, "table", name).await? else {
                return Ok(Read { kind: ValueKind::Gauge, buckets: Vec::new(), done: Some(Reduced::default()) });
            };
            let column = if *rows { 3 } else { 0 };
            let read = super::object_rows(db, database, Kind::Table, id, resolution, from, to).await?;
            let values: Vec<(i64, i64)> = read.iter().filter_map(|r| Some((r.at, r.values[column]?))).collect();
            return Ok(Read { kind: ValueKind::Gauge, buckets: gauge_buckets(&values, origin, bucket), done: None });
        }
        Metric::IndexScans(name) => {
            let Some(id) = object_id(db, database, "index", name).await? else {
                return Ok(Read { kind: ValueKind::Gauge, buckets: Vec::new(), done: Some(Reduced::default()) });
            };
            let context = if resolution == RAW { CONTEXT_S } else { 0 };
            let rows =
                super::object_rows(db, database, Kind::Index, id, resolution, from.saturating_sub(context), to).await?;
            let values: Vec<(i64, i64)> = rows.iter().filter_map(|r| Some((r.at, r.values[0]?))).collect();
            let buckets = rate_buckets(&values, resolution, from, origin, bucket);
            return Ok(Read { kind: ValueKind::Rate(86_400.0), buckets, done: None });
        }
        Metric::Statement { .. } => {
            // A statement's samples (at most the top 200 per sample) are few: its series is read at this resolution
            // and each bucket averaged here, as the statement page reduces it.
            let points = super::series(db, database, metric, from, to, resolution).await?;
            let done = Some(average_buckets(&points, origin, bucket));
            return Ok(Read { kind: ValueKind::Gauge, buckets: Vec::new(), done });
        }
    };
    let real = real_type(db.get_database_backend());
    let buckets = match shape {
        Shape::Gauge { table, value, present } => {
            let since = Expr::col(col("at_s")).sub(origin);
            let inner = Query::select()
                .column(col("at_s"))
                .expr_as(since.clone().sub(since.modulo(bucket)), col("b"))
                .expr_as(value, col("v"))
                .from(col(table))
                .and_where(filter)
                .and_where(Expr::col(col("at_s")).gte(from))
                .and_where(Expr::col(col("at_s")).lte(to))
                .and_where(present)
                .to_owned();
            let mut outer = sums_of(&real);
            outer.expr_as(Func::cast_as(Func::sum(Expr::col(col("v"))), real.clone()), col("v"));
            outer.from_subquery(inner, col("s"));
            return Ok(Read { kind: ValueKind::Gauge, buckets: grouped(db, outer, "b").await?, done: None });
        }
        Shape::Rate { table, column, per } => {
            let epochs = table == SAMPLES;
            let range = (from, to, origin, bucket);
            let buckets = increases(db, filter, table, &[column], epochs, resolution, range, &real).await?;
            (ValueKind::Rate(per), buckets)
        }
        Shape::HitRatio => {
            let columns = ["blks_hit", "blks_read"];
            let range = (from, to, origin, bucket);
            (ValueKind::HitRatio, increases(db, filter, SAMPLES, &columns, true, resolution, range, &real).await?)
        }
    };
    Ok(Read { kind: buckets.0, buckets: buckets.1, done: None })
}

/// A grouped query's first columns: the number of rows, the sum and the newest of their times.
fn sums_of(real: &Alias) -> SelectStatement {
    Query::select()
        .expr_as(Func::cast_as(Func::count(Expr::col(col("at_s"))), real.clone()), col("n"))
        .expr_as(Func::cast_as(Func::sum(Expr::col(col("at_s"))), real.clone()), col("sum_at"))
        .expr_as(Func::max(Expr::col(col("at_s"))), col("newest"))
        .to_owned()
}

/// The type a backend casts aggregates to so they read back as `f64` (PostgreSQL's `AVG` and `SUM` of a `bigint`
/// answer `numeric`, MariaDB's `decimal`).
fn real_type(backend: DbBackend) -> Alias {
    match backend {
        DbBackend::Postgres => Alias::new("DOUBLE PRECISION"),
        DbBackend::MySql => Alias::new("DOUBLE"),
        _ => Alias::new("REAL"),
    }
}

/// One bucket as the query answers it: its offset from the origin, how many rows count in it, the sum and the
/// newest of their times, the sums of its values and of the seconds its increases span.
struct Bucket {
    offset: i64,
    n: f64,
    sum_at: f64,
    newest: i64,
    values: Vec<Option<f64>>,
    seconds: Option<f64>,
}

/// Runs a grouped query whose select list is `n`, `sum_at`, `newest`, then value columns `v`, `v1` (and `secs`
/// when asked), grouping by the column `by`, the bucket's offset.
async fn grouped(db: &impl ConnectionTrait, mut outer: SelectStatement, by: &str) -> Result<Vec<Bucket>> {
    let real = real_type(db.get_database_backend());
    outer.expr_as(Func::cast_as(Expr::col(col(by)), real), col("bucket_offset"));
    outer.group_by_col(col(by)).order_by(col(by), Order::Asc);
    let mut out = Vec::new();
    for row in db.query_all(&outer).await? {
        let n: Option<f64> = row.try_get("", "n")?;
        let sum_at: Option<f64> = row.try_get("", "sum_at")?;
        let newest: Option<i64> = row.try_get("", "newest")?;
        let offset = row.try_get::<f64>("", "bucket_offset")?.round() as i64;
        let (Some(n), Some(sum_at), Some(newest)) = (n, sum_at, newest) else { continue };
        let mut values = Vec::new();
        for name in ["v", "v1"] {
            match row.try_get::<Option<f64>>("", name) {
                Ok(v) => values.push(v),
                Err(_) => break,
            }
        }
        let seconds = row.try_get::<Option<f64>>("", "secs").ok().flatten();
        out.push(Bucket { offset, n, sum_at, newest, values, seconds });
    }
    Ok(out)
}

/// Each bucket's increase of `columns` (counters) and the seconds it covers. Raw rows: the sum of the reset-aware
/// deltas of the samples in the bucket to the sample before each (with `epochs`, a changed `stats_reset_s` or
/// `started_s` is a reset too), and the sum of the times between them. Averages: the sum of their increases, and
/// their number times their resolution.
#[allow(clippy::too_many_arguments)]
async fn increases(
    db: &impl ConnectionTrait,
    filter: Expr,
    table: &'static str,
    columns: &[&'static str],
    epochs: bool,
    resolution: i32,
    (from, to, origin, bucket): (i64, i64, i64, i64),
    real: &Alias,
) -> Result<Vec<Bucket>> {
    let since = Expr::col(col("at_s")).sub(origin);
    let bucket_expr = since.clone().sub(since.modulo(bucket));
    let names = ["v", "v1"];
    let mut outer = sums_of(real);
    let mut inner = Query::select();
    inner.column(col("at_s")).expr_as(bucket_expr, col("b")).from(col(table)).and_where(filter);
    for (c, name) in columns.iter().zip(names) {
        inner.expr_as(Expr::col(col(c)), col(name)).and_where(Expr::col(col(c)).is_not_null());
    }
    inner.and_where(Expr::col(col("at_s")).lte(to));
    if resolution != RAW {
        inner.and_where(Expr::col(col("at_s")).gte(from));
        for name in names.iter().take(columns.len()) {
            outer.expr_as(Func::cast_as(Func::sum(Expr::col(col(name))), real.clone()), col(name));
        }
        outer.expr_as(
            Func::cast_as(Func::count(Expr::col(col("at_s"))), real.clone()).mul(resolution as i64),
            col("secs"),
        );
        outer.from_subquery(inner.to_owned(), col("s"));
        return grouped(db, outer, "b").await;
    }
    // Each sample with the one before it (the hour before the range too, for the first delta).
    inner.and_where(Expr::col(col("at_s")).gte(from.saturating_sub(CONTEXT_S)));
    let lag = |c: &str, alias: &str, inner: &mut SelectStatement| {
        let window = WindowStatement::new().order_by(col("at_s"), Order::Asc).to_owned();
        inner.expr_window_as(Func::cust(col("LAG")).arg(Expr::col(col(c))), window, col(alias));
    };
    lag("at_s", "p_at", &mut inner);
    for (c, prev) in columns.iter().zip(["p_v", "p_v1"]) {
        lag(c, prev, &mut inner);
    }
    let reset = if epochs {
        inner.columns([col("stats_reset_s"), col("started_s")]);
        lag("stats_reset_s", "p_reset", &mut inner);
        lag("started_s", "p_started", &mut inner);
        let (reset, p_reset) = (|| Expr::col(col("stats_reset_s")), || Expr::col(col("p_reset")));
        let (started, p_started) = (|| Expr::col(col("started_s")), || Expr::col(col("p_started")));
        started()
            .is_not_null()
            .and(p_started().is_not_null())
            .and(started().ne(p_started()))
            .or(reset().is_null().and(p_reset().is_not_null()))
            .or(reset().is_not_null().and(p_reset().is_null()))
            .or(reset().ne(p_reset()))
    } else {
        Expr::val(false)
    };
    for (name, prev) in names.iter().zip(["p_v", "p_v1"]).take(columns.len()) {
        let (v, p) = (|| Expr::col(col(name)), || Expr::col(col(prev)));
        let began_again = Expr::case(v().gt(0), v()).finally(0);
        let delta = Expr::case(reset.clone().or(v().lt(p())), began_again).finally(v().sub(p()));
        outer.expr_as(Func::cast_as(Func::sum(delta), real.clone()), col(name));
    }
    outer.expr_as(
        Func::cast_as(Func::sum(Expr::col(col("at_s")).sub(Expr::col(col("p_at")))), real.clone()),
        col("secs"),
    );
    outer
        .from_subquery(inner.to_owned(), col("s"))
        .and_where(Expr::col(col("at_s")).gte(from))
        .and_where(Expr::col(col("p_at")).is_not_null());
    grouped(db, outer, "b").await
}

/// The bucket a time falls in, as the queries compute it: `(at - origin) - (at - origin) % bucket` (the remainder
/// truncated toward zero, as SQL's `%`).
fn offset_of(at: i64, origin: i64, bucket: i64) -> i64 {
    let since = at - origin;
    since - since % bucket
}

/// A gauge's buckets from its `(at, value)` points (oldest first): their number, the sum and newest of their
/// times and the sum of their values, as the grouped query of a database-wide gauge answers them.
fn gauge_buckets(points: &[(i64, i64)], origin: i64, bucket: i64) -> Vec<Bucket> {
    let mut by: BTreeMap<i64, (i64, i128, i64, i128)> = BTreeMap::new();
    for &(at, v) in points {
        let b = by.entry(offset_of(at, origin, bucket)).or_insert((0, 0, i64::MIN, 0));
        *b = (b.0 + 1, b.1 + at as i128, Ord::max(b.2, at), b.3 + v as i128);
    }
    by.into_iter()
        .map(|(offset, (n, sum_at, newest, sum))| Bucket {
            offset,
            n: n as f64,
            sum_at: sum_at as f64,
            newest,
            values: vec![Some(sum as f64)],
            seconds: None,
        })
        .collect()
}

/// A counter's buckets from its `(at, value)` points (oldest first; raw ones from before `from` too, for the first
/// delta), as [`increases`] computes them for a table without reset times: raw points' reset-aware deltas to the
/// point before each and the seconds between them, averages' increases and their number times the resolution.
fn rate_buckets(points: &[(i64, i64)], resolution: i32, from: i64, origin: i64, bucket: i64) -> Vec<Bucket> {
    let mut by: BTreeMap<i64, (i64, i128, i64, i128, i128)> = BTreeMap::new();
    let mut add = |at: i64, increase: i64, secs: i64| {
        let b = by.entry(offset_of(at, origin, bucket)).or_insert((0, 0, i64::MIN, 0, 0));
        *b = (b.0 + 1, b.1 + at as i128, Ord::max(b.2, at), b.3 + increase as i128, b.4 + secs as i128);
    };
    if resolution != RAW {
        for &(at, v) in points.iter().filter(|(at, _)| *at >= from) {
            add(at, v, resolution as i64);
        }
    } else {
        for pair in points.windows(2) {
            let ((p_at, p), (at, v)) = (pair[0], pair[1]);
            if at >= from {
                add(at, if v < p { Ord::max(v, 0) } else { v - p }, at - p_at);
            }
        }
    }
    by.into_iter()
        .map(|(offset, (n, sum_at, newest, increase, secs))| Bucket {
            offset,
            n: n as f64,
            sum_at: sum_at as f64,
            newest,
            values: vec![Some(increase as f64)],
            seconds: Some(secs as f64),
        })
        .collect()
}

/// `points` (oldest first) averaged per bucket of `bucket` seconds counted from `from`: each bucket's point at the mean
/// time of its points.
fn average_buckets(points: &[(i64, f64)], from: i64, bucket: i64) -> Reduced {
    let mut out = Reduced { points: Vec::new(), newest: points.last().map(|p| p.0) };
    let mut current: Option<(i64, i64, f64, i64)> = None; // (bucket, sum of times, sum of values, count)
    for &(at, value) in points {
        let b = (at - from).div_euclid(bucket);
        match &mut current {
            Some((cb, ts, vs, n)) if *cb == b => {
                *ts += at;
                *vs += value;
                *n += 1;
            }
            _ => {
                if let Some((_, ts, vs, n)) = current.take() {
                    out.points.push((ts / n, vs / n as f64));
                }
                current = Some((b, at, value, 1));
            }
        }
    }
    if let Some((_, ts, vs, n)) = current {
        out.points.push((ts / n, vs / n as f64));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::average_buckets;

    #[test]
    fn a_statement_series_is_averaged_per_bucket_at_the_mean_time_of_its_points() {
        let points = [(100, 1.0), (130, 3.0), (160, 5.0), (230, 7.0)];
        let reduced = average_buckets(&points, 100, 60);
        assert_eq!(reduced.points, vec![(115, 2.0), (160, 5.0), (230, 7.0)]);
        assert_eq!(reduced.newest, Some(230));
        assert_eq!(average_buckets(&[], 0, 60).points, Vec::new());
    }
}
