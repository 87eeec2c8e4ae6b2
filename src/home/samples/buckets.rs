//! A metric's series reduced in the home database for a chart: the range cut into buckets of equal seconds (at most
//! one per pixel column) and each bucket's value computed by the query, so a 30-day chart over one-minute samples reads
//! a few hundred rows instead of 43,200.
//!
//! A gauge's bucket is the average of its samples. A rate's bucket is the counter's increase over the bucket divided
//! by the seconds it covers: from raw samples the sum of each sample's reset-aware delta to the sample before it
//! (`LAG` over the time order; a counter that went down, or a changed reset or start time, counts its new value, as
//! [`super::delta`] does), from averages the sum of their increases. The cache hit ratio is the blocks hit over the
//! blocks read and hit in the bucket.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, WindowStatement};
use sea_orm::{ConnectionTrait, DbBackend};

use super::{FIVE_MINUTES, HOURLY, INDEXES, Metric, RAW, SAMPLES, TABLES, col, object_id};
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
/// column (buckets of `(to - from + 1) / columns` seconds, rounded up). The coarsest resolution whose step fits a
/// bucket is read first, for as far as it goes; the finer ones continue after its newest bucket, so a 30-day chart
/// reads hourly averages, then the last hour's 5-minute ones, then the last minutes as taken.
pub async fn chart_series(
    db: &impl ConnectionTrait,
    database: &str,
    metric: &Metric,
    from: i64,
    to: i64,
    columns: u32,
) -> Result<Vec<(i64, f64)>> {
    let bucket = (Ord::max(to - from + 1, 1) as u64).div_ceil(Ord::max(columns, 1) as u64) as i64;
    let mut out = Vec::new();
    let mut start = from;
    for resolution in [HOURLY, FIVE_MINUTES, RAW] {
        if resolution as i64 > bucket || start > to {
            continue;
        }
        let reduced = series_in_buckets(db, database, metric, start, to, resolution, bucket).await?;
        out.extend(reduced.points);
        if let Some(newest) = reduced.newest {
            // An average's time is the start of its bucket: the finer samples continue after it.
            start = newest + Ord::max(resolution as i64, 1);
        }
    }
    Ok(out)
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
                return Ok(Reduced::default());
            };
            let column = if *rows { "rows_estimate" } else { "total_bytes" };
            let shape = Shape::Gauge {
                table: TABLES,
                value: Expr::col(col(column)),
                present: Expr::col(col(column)).is_not_null(),
            };
            (shape, Expr::col(col("object_id")).eq(id).and(Expr::col(col("resolution_s")).eq(resolution)))
        }
        Metric::IndexScans(name) => {
            let Some(id) = object_id(db, database, "index", name).await? else {
                return Ok(Reduced::default());
            };
            let shape = Shape::Rate { table: INDEXES, column: "scans", per: 86_400.0 };
            (shape, Expr::col(col("object_id")).eq(id).and(Expr::col(col("resolution_s")).eq(resolution)))
        }
        Metric::Statement { .. } => {
            // A statement's samples (at most the top 200 per sample) are few: its series is read at this resolution
            // and each bucket averaged here, as the statement page reduces it.
            let points = super::series(db, database, metric, from, to, resolution).await?;
            return Ok(average_buckets(&points, from, bucket));
        }
    };
    let real = real_type(db.get_database_backend());
    let bucket_of = || {
        let since = Expr::col(col("at_s")).sub(from);
        since.clone().sub(since.modulo(bucket))
    };
    let mut outer = Query::select();
    outer
        .expr_as(Func::cast_as(Func::avg(Expr::col(col("at_s"))), real.clone()), col("t"))
        .expr_as(Func::max(Expr::col(col("at_s"))), col("newest"));
    match shape {
        Shape::Gauge { table, value, present } => {
            let inner = Query::select()
                .column(col("at_s"))
                .expr_as(bucket_of(), col("b"))
                .expr_as(value, col("v"))
                .from(col(table))
                .and_where(filter)
                .and_where(Expr::col(col("at_s")).gte(from))
                .and_where(Expr::col(col("at_s")).lte(to))
                .and_where(present)
                .to_owned();
            outer.expr_as(Func::cast_as(Func::avg(Expr::col(col("v"))), real.clone()), col("v"));
            outer.from_subquery(inner, col("s"));
            let rows = grouped(db, outer).await?;
            let points = rows.iter().filter_map(|r| Some((r.at, r.values[0]?))).collect();
            Ok(Reduced { points, newest: rows.iter().map(|r| r.newest).max() })
        }
        Shape::Rate { table, column, per } => {
            let epochs = table == SAMPLES;
            let rows = increases(db, filter, table, &[column], epochs, resolution, from, to, bucket, &real).await?;
            let points = rows
                .iter()
                .filter_map(|r| {
                    let (increase, secs) = (r.values[0]?, r.seconds?);
                    (secs > 0.0).then(|| (r.at, increase / secs * per))
                })
                .collect();
            Ok(Reduced { points, newest: rows.iter().map(|r| r.newest).max() })
        }
        Shape::HitRatio => {
            let columns = ["blks_hit", "blks_read"];
            let rows = increases(db, filter, SAMPLES, &columns, true, resolution, from, to, bucket, &real).await?;
            let points = rows
                .iter()
                .filter_map(|r| {
                    let (hit, read) = (r.values[0]?, r.values[1]?);
                    (hit + read > 0.0).then(|| (r.at, hit / (hit + read)))
                })
                .collect();
            Ok(Reduced { points, newest: rows.iter().map(|r| r.newest).max() })
        }
    }
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

/// One bucket as the query answers it.
struct Bucket {
    at: i64,
    newest: i64,
    values: Vec<Option<f64>>,
    seconds: Option<f64>,
}

/// Runs a grouped query whose select list is `t`, `newest`, then value columns `v`, `v1`, ... (and `secs` when
/// asked), grouping by `b`.
async fn grouped(db: &impl ConnectionTrait, mut outer: SelectStatement) -> Result<Vec<Bucket>> {
    outer.group_by_col(col("b")).order_by(col("b"), Order::Asc);
    let mut out = Vec::new();
    for row in db.query_all(&outer).await? {
        let at: Option<f64> = row.try_get("", "t")?;
        let newest: Option<i64> = row.try_get("", "newest")?;
        let (Some(at), Some(newest)) = (at, newest) else { continue };
        let mut values = Vec::new();
        for name in ["v", "v1"] {
            match row.try_get::<Option<f64>>("", name) {
                Ok(v) => values.push(v),
                Err(_) => break,
            }
        }
        let seconds = row.try_get::<Option<f64>>("", "secs").ok().flatten();
        out.push(Bucket { at: at.round() as i64, newest, values, seconds });
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
    from: i64,
    to: i64,
    bucket: i64,
    real: &Alias,
) -> Result<Vec<Bucket>> {
    let since = Expr::col(col("at_s")).sub(from);
    let bucket_expr = since.clone().sub(since.modulo(bucket));
    let names = ["v", "v1"];
    let mut outer = Query::select();
    outer
        .expr_as(Func::cast_as(Func::avg(Expr::col(col("at_s"))), real.clone()), col("t"))
        .expr_as(Func::max(Expr::col(col("at_s"))), col("newest"));
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
        return grouped(db, outer).await;
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
    grouped(db, outer).await
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
