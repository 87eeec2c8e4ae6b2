//! The trend samples in the home database (`samples`, `sample_objects`, and the tables' and indexes' readings packed
//! in `sample_packs`, see [`packed`]): writing what the sampler read, reading a metric's series back (rates from
//! counter deltas, surviving resets), and the retention job that turns raw samples into 5-minute and hourly averages
//! and deletes what is past its time.
//!
//! A raw row keeps counters as the server reported them; an average's row keeps the increase over its bucket, so a
//! reset inside the bucket loses nothing. A counter that went down, or a changed reset or start time, means the
//! counters began again: the delta is then the new value, never negative.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, SqlErr, Value};

use crate::config::SampleRetention;
use crate::db::introspect::{IndexInfo, SampleReadings, TableInfo};
use crate::error::{Error, Result};

mod around;
mod buckets;
mod growth;
mod packed;
mod rollups;

pub use around::{Around, Change, WINDOW_S, around};
pub use buckets::{Reduced, chart_series, chart_series_from_raw, grid, series_in_buckets};
pub use growth::{Growth, Which, growth};
pub use packed::Tails;
pub(crate) use packed::convert_rows;
pub(crate) use packed::{Kind, Snapshot, Stream, values};

const SAMPLES: &str = "samples";
const OBJECTS: &str = "sample_objects";

/// A sample as taken.
pub const RAW: i32 = 0;
/// 5-minute averages.
pub const FIVE_MINUTES: i32 = 300;
/// Hourly averages.
pub const HOURLY: i32 = 3600;

/// Rows per insert statement (well under every backend's limit on bound values).
const CHUNK: usize = 400;

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// One column of a per-sample table and how it combines into an average.
#[derive(Clone, Copy)]
struct Column {
    name: &'static str,
    counter: bool,
}

const fn gauge(name: &'static str) -> Column {
    Column { name, counter: false }
}

const fn counter(name: &'static str) -> Column {
    Column { name, counter: true }
}

/// The database-wide columns of `samples`, in the order [`values_of`] gives them.
const SCALARS: [Column; 14] = [
    gauge("db_size"),
    gauge("conn_active"),
    gauge("conn_idle"),
    gauge("conn_idle_in_tx"),
    gauge("conn_other"),
    counter("commits"),
    counter("rollbacks"),
    counter("deadlocks"),
    counter("temp_bytes"),
    counter("tup_inserted"),
    counter("tup_updated"),
    counter("tup_deleted"),
    counter("blks_hit"),
    counter("blks_read"),
];

const TABLE_COLUMNS: [Column; 4] =
    [gauge("total_bytes"), gauge("table_bytes"), gauge("index_bytes"), gauge("rows_estimate")];

const INDEX_COLUMNS: [Column; 1] = [counter("scans")];

fn values_of(r: &SampleReadings) -> Vec<Option<i64>> {
    let c = r.connections;
    vec![
        r.database_size_bytes,
        c.map(|c| c.active),
        c.map(|c| c.idle),
        c.map(|c| c.idle_in_transaction),
        c.map(|c| c.other),
        r.commits,
        r.rollbacks,
        r.deadlocks,
        r.temp_bytes,
        r.tuples_inserted,
        r.tuples_updated,
        r.tuples_deleted,
        r.blocks_hit,
        r.blocks_read,
    ]
}

/// One row of a per-sample table: its time, its values (in its columns' order) and, for the database-wide one,
/// the reset and start times its counters count from.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub at: i64,
    pub values: Vec<Option<i64>>,
    pub epoch: Epoch,
}

/// When the counters of a sample began: a change between two samples is a reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epoch {
    pub stats_reset: Option<i64>,
    pub started: Option<i64>,
}

impl Epoch {
    /// Whether the counters began again between `self` (earlier) and `later`: the reset time or the start time
    /// changed (a reset time that appears or disappears counts too: a crash recovery clears it).
    fn reset_before(&self, later: &Epoch) -> bool {
        let started_again = matches!((self.started, later.started), (Some(a), Some(b)) if a != b);
        let reset = self.stats_reset != later.stats_reset;
        started_again || reset
    }
}

/// What a counter grew by from `prev` to `cur`: the difference, or `cur` itself when it began again in between
/// (it went down, or `reset` says so). Never negative.
pub fn delta(prev: i64, cur: i64, reset: bool) -> i64 {
    if reset || cur < prev { Ord::max(cur, 0) } else { cur - prev }
}

/// One sample of a database as the sampler read it.
#[derive(Clone, Copy)]
pub struct Taken<'a> {
    pub at: DateTime<Utc>,
    pub readings: &'a SampleReadings,
    pub tables: &'a [TableInfo],
    pub indexes: &'a [IndexInfo],
}

/// Writes one sample of `database` taken at `at`: its database-wide readings, each table's sizes and rows and each
/// index's scans. A sample already stored for that second is left as it is.
pub async fn record(
    db: &impl ConnectionTrait,
    database: &str,
    at: DateTime<Utc>,
    readings: &SampleReadings,
    tables: &[TableInfo],
    indexes: &[IndexInfo],
) -> Result<()> {
    record_many(db, database, &[Taken { at, readings, tables, indexes }]).await
}

/// Writes samples of `database` as [`record`] does, in as few statements as they fit in (for samples written for
/// past times, as the home-growth benchmark does).
pub async fn record_many(db: &impl ConnectionTrait, database: &str, taken: &[Taken<'_>]) -> Result<()> {
    record_many_with(db, database, taken, &mut Tails::default()).await
}

/// [`record_many`] by a writer that keeps the streams' newest states in `tails` (the sampler while it holds its
/// lease), which spares each append the replay of the hour before it.
pub async fn record_many_with(
    db: &impl ConnectionTrait,
    database: &str,
    taken: &[Taken<'_>],
    tails: &mut Tails,
) -> Result<()> {
    let epoch_of = |r: &SampleReadings| Epoch {
        stats_reset: r.stats_reset_at.map(|t| t.timestamp()),
        started: r.started_at.map(|t| t.timestamp()),
    };
    let rows: Vec<Row> = taken
        .iter()
        .map(|t| Row { at: t.at.timestamp(), values: values_of(t.readings), epoch: epoch_of(t.readings) })
        .collect();
    insert_samples(db, database, RAW, &rows).await?;
    let mut names: Vec<(String, String)> =
        taken.iter().flat_map(|t| t.tables.iter().map(|t| (t.schema.clone(), t.name.clone()))).collect();
    names.sort();
    names.dedup();
    let ids = &object_ids(db, database, "table", &names).await?;
    let mut snapshots: BTreeMap<i64, Snapshot> = BTreeMap::new();
    for t in taken {
        let objects = snapshots.entry(t.at.timestamp()).or_default();
        for table in t.tables {
            if let Some(id) = ids.get(&(table.schema.clone(), table.name.clone())) {
                let values = vec![table.total_bytes, table.table_bytes, table.index_bytes, table.row_estimate];
                // The first reading of an object at a second is the one kept.
                objects.entry(*id).or_insert(values);
            }
        }
    }
    Stream { database, kind: Kind::Table, resolution: RAW }.write(db, snapshots, tails).await?;
    let mut names: Vec<(String, String)> = taken
        .iter()
        .flat_map(|t| t.indexes.iter().filter(|i| i.scans.is_some()).map(|i| (i.schema.clone(), i.name.clone())))
        .collect();
    names.sort();
    names.dedup();
    let ids = &object_ids(db, database, "index", &names).await?;
    let mut snapshots: BTreeMap<i64, Snapshot> = BTreeMap::new();
    for t in taken {
        let objects = snapshots.entry(t.at.timestamp()).or_default();
        for index in t.indexes.iter().filter(|i| i.scans.is_some()) {
            if let Some(id) = ids.get(&(index.schema.clone(), index.name.clone())) {
                objects.entry(*id).or_insert(vec![index.scans]);
            }
        }
    }
    Stream { database, kind: Kind::Index, resolution: RAW }.write(db, snapshots, tails).await
}

/// Inserts database-wide rows at `resolution`; a row already there for that time is kept.
pub async fn insert_samples(db: &impl ConnectionTrait, database: &str, resolution: i32, rows: &[Row]) -> Result<()> {
    let keys = ["database_name", "resolution_s", "at_s"];
    let mut columns: Vec<Alias> = keys.iter().map(|k| col(k)).collect();
    columns.extend(SCALARS.iter().map(|c| col(c.name)));
    columns.extend([col("stats_reset_s"), col("started_s")]);
    for chunk in rows.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(col(SAMPLES)).columns(columns.clone());
        for r in chunk {
            let mut values: Vec<Value> = vec![database.into(), resolution.into(), r.at.into()];
            values.extend(r.values.iter().map(|v| Value::from(*v)));
            values.extend([r.epoch.stats_reset.into(), r.epoch.started.into()]);
            insert.values_panic(values.into_iter().map(Expr::val));
        }
        insert.on_conflict(OnConflict::columns(keys.map(col)).do_nothing_on(keys.map(col)).to_owned());
        db.execute(&insert).await?;
    }
    // Raw samples keep their 5-minute rollups up to date (for a 30-day chart of one-minute samples).
    let first = rows.iter().map(|r| r.at).min();
    let last = rows.iter().map(|r| r.at).max();
    if resolution == RAW
        && let (Some(first), Some(last)) = (first, last)
    {
        rollups::refresh(db, database, first, last).await?;
    }
    Ok(())
}

/// The ids of `database`'s objects of `kind` (`table`, `index`) by (schema, name), naming the new ones.
async fn object_ids(
    db: &impl ConnectionTrait,
    database: &str,
    kind: &str,
    names: &[(String, String)],
) -> Result<HashMap<(String, String), i32>> {
    let mut ids = known_objects(db, database, kind).await?;
    let missing: Vec<&(String, String)> = names.iter().filter(|n| !ids.contains_key(*n)).collect();
    if missing.is_empty() {
        return Ok(ids);
    }
    for chunk in missing.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(col(OBJECTS)).columns([
            col("database_name"),
            col("kind"),
            col("schema_name"),
            col("object_name"),
        ]);
        for (schema, name) in chunk {
            insert.values_panic([database.into(), kind.into(), schema.as_str().into(), name.as_str().into()]);
        }
        match db.execute(&insert).await {
            Ok(_) => {}
            // Another instance named some of them first (it held the lease a moment ago): read them back.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                for (schema, name) in chunk {
                    let one = Query::insert()
                        .into_table(col(OBJECTS))
                        .columns([col("database_name"), col("kind"), col("schema_name"), col("object_name")])
                        .values_panic([database.into(), kind.into(), schema.as_str().into(), name.as_str().into()])
                        .to_owned();
                    if let Err(e) = db.execute(&one).await
                        && !matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
                    {
                        return Err(e.into());
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    ids = known_objects(db, database, kind).await?;
    Ok(ids)
}

/// The ids of `database`'s objects of `kind` among `names` (schema, name); those never sampled are absent.
async fn known_named(
    db: &impl ConnectionTrait,
    database: &str,
    kind: &str,
    names: &[(String, String)],
) -> Result<HashMap<(String, String), i32>> {
    let mut out = HashMap::new();
    // The names (bound values, a page's worth) narrow the read to an index range; each row's pair is checked.
    for chunk in names.chunks(200) {
        let mut schemas: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
        schemas.sort_unstable();
        schemas.dedup();
        let found = objects(db, database, kind, |q| {
            q.and_where(Expr::col(col("schema_name")).is_in(schemas.iter().copied()))
                .and_where(Expr::col(col("object_name")).is_in(chunk.iter().map(|(_, n)| n.as_str())));
        })
        .await?;
        out.extend(found.into_iter().filter(|(key, _)| names.contains(key)));
    }
    Ok(out)
}

async fn known_objects(
    db: &impl ConnectionTrait,
    database: &str,
    kind: &str,
) -> Result<HashMap<(String, String), i32>> {
    objects(db, database, kind, |_| {}).await
}

/// The ids of `database`'s objects of `kind` by (schema, name), those `narrow` leaves.
async fn objects(
    db: &impl ConnectionTrait,
    database: &str,
    kind: &str,
    narrow: impl FnOnce(&mut sea_orm::sea_query::SelectStatement),
) -> Result<HashMap<(String, String), i32>> {
    let mut query = Query::select();
    query
        .columns([col("id"), col("schema_name"), col("object_name")])
        .from(col(OBJECTS))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("kind")).eq(kind));
    narrow(&mut query);
    let mut out = HashMap::new();
    for row in db.query_all(&query).await? {
        out.insert((row.try_get("", "schema_name")?, row.try_get("", "object_name")?), row.try_get("", "id")?);
    }
    Ok(out)
}

/// The time of `database`'s newest raw sample, if any.
pub async fn latest(db: &impl ConnectionTrait, database: &str) -> Result<Option<i64>> {
    let query = Query::select()
        .expr_as(Func::max(Expr::col(col("at_s"))), col("latest"))
        .from(col(SAMPLES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("resolution_s")).eq(RAW))
        .to_owned();
    let row = db.query_one(&query).await?;
    Ok(row.and_then(|r| r.try_get::<Option<i64>>("", "latest").ok().flatten()))
}

/// A metric the samples API and the charts know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metric {
    /// A database-wide one (`db_size`, `connections`, `commits_per_s`, `cache_hit_ratio`, ...).
    Database(&'static str),
    /// `table_size:{schema}.{table}` or `table_rows:{schema}.{table}`.
    Table { rows: bool, name: String },
    /// `index_scans:{schema}.{index}`.
    IndexScans(String),
    /// `statement_calls:{query_id}` (calls per second) or `statement_mean_ms:{query_id}`.
    Statement { mean: bool, id: String },
}

/// The database-wide metrics, with their units.
pub const DATABASE_METRICS: [(&str, &str); 10] = [
    ("db_size", "bytes"),
    ("connections", "connections"),
    ("commits_per_s", "1/s"),
    ("rollbacks_per_s", "1/s"),
    ("deadlocks_per_s", "1/s"),
    ("temp_bytes_per_s", "bytes/s"),
    ("tuples_inserted_per_s", "1/s"),
    ("tuples_updated_per_s", "1/s"),
    ("tuples_deleted_per_s", "1/s"),
    ("cache_hit_ratio", "ratio"),
];

impl Metric {
    /// Reads a metric's name; `None` for one Strata does not know.
    pub fn parse(text: &str) -> Option<Metric> {
        if let Some((m, _)) = DATABASE_METRICS.iter().find(|(m, _)| *m == text) {
            return Some(Metric::Database(m));
        }
        let (kind, name) = text.split_once(':')?;
        let name = name.to_string();
        match kind {
            "statement_calls" | "statement_mean_ms" if !name.is_empty() => {
                return Some(Metric::Statement { mean: kind == "statement_mean_ms", id: name });
            }
            _ => {}
        }
        (!name.is_empty() && name.contains('.')).then_some(())?;
        match kind {
            "table_size" => Some(Metric::Table { rows: false, name }),
            "table_rows" => Some(Metric::Table { rows: true, name }),
            "index_scans" => Some(Metric::IndexScans(name)),
            _ => None,
        }
    }

    /// Every metric name a request may give, for error messages and the API document.
    pub fn names() -> String {
        let mut names: Vec<&str> = DATABASE_METRICS.iter().map(|(m, _)| *m).collect();
        names.extend([
            "table_size:{schema}.{table}",
            "table_rows:{schema}.{table}",
            "index_scans:{schema}.{index}",
            "statement_calls:{query_id}",
            "statement_mean_ms:{query_id}",
        ]);
        names.join(", ")
    }

    pub fn unit(&self) -> &'static str {
        match self {
            Metric::Database(m) => DATABASE_METRICS.iter().find(|(n, _)| n == m).map(|(_, u)| *u).unwrap_or(""),
            Metric::Table { rows: false, .. } => "bytes",
            Metric::Table { rows: true, .. } => "rows",
            Metric::IndexScans(_) => "scans/day",
            Metric::Statement { mean: false, .. } => "1/s",
            Metric::Statement { mean: true, .. } => "ms",
        }
    }
}

/// The resolution a range of `from..to` calls for: the finest whose retention is at least the range's length.
pub fn resolution_for(from: i64, to: i64, retention: &SampleRetention) -> i32 {
    let age = to.saturating_sub(from);
    if age <= retention.raw.as_secs() as i64 {
        RAW
    } else if age <= retention.five_minute.as_secs() as i64 {
        FIVE_MINUTES
    } else {
        HOURLY
    }
}

/// The points `[unix_seconds, value]` of `metric` for `database` from `from` to `to` (inclusive), at `resolution`.
/// Rates are per second (index scans: per day), from the counters' deltas.
pub async fn series(
    db: &impl ConnectionTrait,
    database: &str,
    metric: &Metric,
    from: i64,
    to: i64,
    resolution: i32,
) -> Result<Vec<(i64, f64)>> {
    match metric {
        Metric::Database(name) => {
            // A rate needs the sample before the range for its first point.
            let rows = scalar_rows(db, database, resolution, from, to, &columns_for(name)).await?;
            Ok(database_points(name, &rows, resolution, from))
        }
        Metric::Table { rows: count, name } => {
            let Some(id) = object_id(db, database, "table", name).await? else {
                return Ok(Vec::new());
            };
            let rows = object_rows(db, database, Kind::Table, id, resolution, from, to).await?;
            let i = if *count { 3 } else { 0 };
            Ok(rows.iter().filter_map(|r| Some((r.at, r.values[i]? as f64))).collect())
        }
        Metric::IndexScans(name) => {
            let Some(id) = object_id(db, database, "index", name).await? else {
                return Ok(Vec::new());
            };
            // A raw rate needs the sample before the range for its first point.
            let context = if resolution == RAW { 3600 } else { 0 };
            let from_context = from.saturating_sub(context);
            let rows = object_rows(db, database, Kind::Index, id, resolution, from_context, to).await?;
            Ok(rates(&rows, 0, resolution, from).into_iter().map(|(at, r)| (at, r * 86_400.0)).collect())
        }
        Metric::Statement { mean, id } => {
            super::statement_samples::series(db, database, id, *mean, from, to, resolution).await
        }
    }
}

/// Whether `database` has an object of `kind` named `schema.name`.
async fn object_id(db: &impl ConnectionTrait, database: &str, kind: &str, wanted: &str) -> Result<Option<i32>> {
    let known = known_objects(db, database, kind).await?;
    Ok(known.into_iter().find(|((s, n), _)| format!("{s}.{n}") == wanted).map(|(_, id)| id))
}

/// The columns of `samples` (indexes into [`SCALARS`]) a database-wide metric is computed from.
fn columns_for(name: &str) -> Vec<usize> {
    let index = |c: &str| SCALARS.iter().position(|s| s.name == c).unwrap_or(0);
    match name {
        "db_size" => vec![index("db_size")],
        "connections" => (1..=4).collect(),
        "cache_hit_ratio" => vec![index("blks_hit"), index("blks_read")],
        rate => vec![index(rate_column(rate))],
    }
}

fn rate_column(metric: &str) -> &'static str {
    match metric {
        "commits_per_s" => "commits",
        "rollbacks_per_s" => "rollbacks",
        "deadlocks_per_s" => "deadlocks",
        "temp_bytes_per_s" => "temp_bytes",
        "tuples_inserted_per_s" => "tup_inserted",
        "tuples_updated_per_s" => "tup_updated",
        _ => "tup_deleted",
    }
}

fn database_points(name: &str, rows: &[Row], resolution: i32, from: i64) -> Vec<(i64, f64)> {
    let index = |c: &str| SCALARS.iter().position(|s| s.name == c).unwrap_or(0);
    let gauge = |f: &dyn Fn(&Row) -> Option<i64>| -> Vec<(i64, f64)> {
        rows.iter().filter(|r| r.at >= from).filter_map(|r| Some((r.at, f(r)? as f64))).collect()
    };
    match name {
        "db_size" => gauge(&|r| r.values[index("db_size")]),
        "connections" => gauge(&|r| {
            let parts: Vec<i64> = (1..=4).filter_map(|i| r.values[i]).collect();
            (!parts.is_empty()).then(|| parts.iter().sum())
        }),
        "cache_hit_ratio" => {
            let hits = increases(rows, index("blks_hit"), resolution, from);
            let reads = increases(rows, index("blks_read"), resolution, from);
            let reads: HashMap<i64, i64> = reads.into_iter().map(|(at, d, _)| (at, d)).collect();
            hits.into_iter()
                .filter_map(|(at, hit, _)| {
                    let read = *reads.get(&at)?;
                    (hit + read > 0).then(|| (at, hit as f64 / (hit + read) as f64))
                })
                .collect()
        }
        rate => rates(rows, index(rate_column(rate)), resolution, from),
    }
}

/// Each row's increase of column `i` over the time since the row before, as `(at, increase, seconds)`, for rows
/// at or after `from`. Raw rows hold the counter itself (the increase is the reset-aware delta); averages hold their
/// bucket's increase already.
fn increases(rows: &[Row], i: usize, resolution: i32, from: i64) -> Vec<(i64, i64, i64)> {
    if resolution != RAW {
        return rows
            .iter()
            .filter(|r| r.at >= from)
            .filter_map(|r| Some((r.at, r.values[i]?, resolution as i64)))
            .collect();
    }
    let mut out = Vec::new();
    let mut prev: Option<&Row> = None;
    for r in rows {
        if let (Some(p), Some(cur)) = (prev, r.values[i])
            && let Some(before) = p.values[i]
            && r.at > p.at
            && r.at >= from
        {
            out.push((r.at, delta(before, cur, p.epoch.reset_before(&r.epoch)), r.at - p.at));
        }
        if r.values[i].is_some() {
            prev = Some(r);
        }
    }
    out
}

fn rates(rows: &[Row], i: usize, resolution: i32, from: i64) -> Vec<(i64, f64)> {
    increases(rows, i, resolution, from).into_iter().map(|(at, d, secs)| (at, d as f64 / secs as f64)).collect()
}

async fn scalar_rows(
    db: &impl ConnectionTrait,
    database: &str,
    resolution: i32,
    from: i64,
    to: i64,
    columns: &[usize],
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    // The row before the range, for the first point's delta.
    if resolution == RAW
        && let Some(before) =
            scalar_query(db, database, resolution, None, Some(from), true, columns).await?.into_iter().next()
    {
        rows.push(before);
    }
    rows.extend(scalar_query(db, database, resolution, Some(from), Some(to.saturating_add(1)), false, columns).await?);
    Ok(rows)
}

/// Rows of `database` at `resolution` with `from <= at < to`, oldest first (with `last`, only the newest one), with
/// the values of `columns` (indexes into [`SCALARS`]; the others are `None`).
async fn scalar_query(
    db: &impl ConnectionTrait,
    database: &str,
    resolution: i32,
    from: Option<i64>,
    to: Option<i64>,
    last: bool,
    columns: &[usize],
) -> Result<Vec<Row>> {
    let mut query = Query::select();
    query.column(col("at_s"));
    query.columns(columns.iter().map(|i| col(SCALARS[*i].name)));
    query.columns([col("stats_reset_s"), col("started_s")]);
    query
        .from(col(SAMPLES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("resolution_s")).eq(resolution));
    if let Some(from) = from {
        query.and_where(Expr::col(col("at_s")).gte(from));
    }
    if let Some(to) = to {
        query.and_where(Expr::col(col("at_s")).lt(to));
    }
    if last {
        query.order_by(col("at_s"), Order::Desc).limit(1);
    } else {
        query.order_by(col("at_s"), Order::Asc);
    }
    read_scalar_rows(db, &query, columns).await
}

/// `database`'s newest raw row before `before` (with `present`, the newest whose column `present` has a value),
/// with every column.
async fn last_raw_before(
    db: &impl ConnectionTrait,
    database: &str,
    before: i64,
    present: Option<usize>,
) -> Result<Option<Row>> {
    let all: Vec<usize> = (0..SCALARS.len()).collect();
    let mut query = Query::select();
    query.column(col("at_s"));
    query.columns(all.iter().map(|i| col(SCALARS[*i].name)));
    query.columns([col("stats_reset_s"), col("started_s")]);
    query
        .from(col(SAMPLES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("resolution_s")).eq(RAW))
        .and_where(Expr::col(col("at_s")).lt(before));
    if let Some(i) = present {
        query.and_where(Expr::col(col(SCALARS[i].name)).is_not_null());
    }
    query.order_by(col("at_s"), Order::Desc).limit(1);
    Ok(read_scalar_rows(db, &query, &all).await?.into_iter().next())
}

async fn read_scalar_rows(
    db: &impl ConnectionTrait,
    query: &sea_orm::sea_query::SelectStatement,
    columns: &[usize],
) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for row in db.query_all(query).await? {
        let mut values = vec![None; SCALARS.len()];
        for i in columns {
            values[*i] = row.try_get::<Option<i64>>("", SCALARS[*i].name)?;
        }
        out.push(Row {
            at: row.try_get("", "at_s")?,
            values,
            epoch: Epoch { stats_reset: row.try_get("", "stats_reset_s")?, started: row.try_get("", "started_s")? },
        });
    }
    Ok(out)
}

/// Rows of `database`'s object `id` of `kind` at `resolution` with `from <= at <= to`, oldest first.
pub(crate) async fn object_rows(
    db: &impl ConnectionTrait,
    database: &str,
    kind: Kind,
    id: i32,
    resolution: i32,
    from: i64,
    to: i64,
) -> Result<Vec<Row>> {
    let stream = Stream { database, kind, resolution };
    Ok(stream.by_object(db, from, to, Some(id)).await?.remove(&id).unwrap_or_default())
}

/// Combines `rows` (at resolution `from_res`, oldest first; `before` is the row preceding them, for a raw counter's
/// first delta) into buckets of `to_res` seconds: gauges averaged, counters as the increase over the bucket.
pub fn downsample(
    columns_counter: &[bool],
    before: Option<&Row>,
    rows: &[Row],
    from_res: i32,
    to_res: i32,
) -> Vec<Row> {
    let mut buckets: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        buckets.entry(r.at.div_euclid(to_res as i64) * to_res as i64).or_default().push(r);
    }
    let mut prev = before;
    let mut out = Vec::new();
    for (start, members) in buckets {
        let mut values = Vec::with_capacity(columns_counter.len());
        for (i, counter) in columns_counter.iter().enumerate() {
            let present: Vec<(usize, i64)> =
                members.iter().enumerate().filter_map(|(k, r)| Some((k, r.values[i]?))).collect();
            let value = if !counter {
                (!present.is_empty()).then(|| {
                    let sum: i128 = present.iter().map(|(_, v)| *v as i128).sum();
                    (sum as f64 / present.len() as f64).round() as i64
                })
            } else if from_res != RAW {
                (!present.is_empty()).then(|| present.iter().map(|(_, v)| v).sum())
            } else {
                // Reset-aware deltas from the row before each member (the previous bucket's last for the first).
                let mut total: Option<i64> = None;
                let mut last = prev;
                for r in &members {
                    if let (Some(p), Some(cur)) = (last, r.values[i]) {
                        if let Some(before) = p.values[i] {
                            *total.get_or_insert(0) += delta(before, cur, p.epoch.reset_before(&r.epoch));
                        } else {
                            total.get_or_insert(0);
                        }
                    }
                    if r.values[i].is_some() {
                        last = Some(r);
                    }
                }
                total
            };
            values.push(value);
        }
        let epoch = members.last().map(|r| r.epoch).unwrap_or_default();
        prev = members.last().copied();
        out.push(Row { at: start, values, epoch });
    }
    out
}

/// What one retention pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Averages written (database-wide rows, all resolutions).
    pub averaged: usize,
}

/// The retention job: turns `database`'s complete 5-minute and hourly buckets up to `now` into averages, then
/// deletes every database's rows older than their resolution's retention. Safe to run again: buckets already
/// averaged are skipped.
pub async fn retain(
    db: &impl ConnectionTrait,
    databases: &[String],
    retention: &SampleRetention,
    now: DateTime<Utc>,
) -> Result<Pass> {
    let now = now.timestamp();
    let mut pass = Pass::default();
    let mut turned = Vec::new();
    for database in databases {
        for (from_res, to_res) in [(RAW, FIVE_MINUTES), (FIVE_MINUTES, HOURLY)] {
            pass.averaged += average(db, database, from_res, to_res, now).await?;
        }
    }
    for (resolution, keep) in [(RAW, retention.raw), (FIVE_MINUTES, retention.five_minute), (HOURLY, retention.hourly)]
    {
        let before = now - keep.as_secs() as i64;
        // An average is deleted once its whole bucket is past the retention.
        let before = before - resolution as i64;
        let delete = Query::delete()
            .from_table(col(SAMPLES))
            .and_where(Expr::col(col("resolution_s")).eq(resolution))
            .and_where(Expr::col(col("at_s")).lt(before))
            .to_owned();
        db.execute(&delete).await?;
        turned.extend(packed::delete_older(db, resolution, before).await?);
    }
    for database in databases {
        rollups::retain(db, database, now - retention.raw.as_secs() as i64).await?;
    }
    turned.sort();
    turned.dedup();
    super::statement_samples::retain(db, &turned).await?;
    Ok(pass)
}

/// Writes the averages at `to_res` of `database`'s complete buckets not averaged yet; returns how many
/// database-wide rows it wrote.
async fn average(db: &impl ConnectionTrait, database: &str, from_res: i32, to_res: i32, now: i64) -> Result<usize> {
    let step = to_res as i64;
    let end = now.div_euclid(step) * step;
    let done = newest(db, database, to_res).await?;
    let start = match done {
        Some(at) => at + step,
        None => match oldest(db, database, from_res).await? {
            Some(at) => at.div_euclid(step) * step,
            None => return Ok(0),
        },
    };
    if start >= end {
        return Ok(0);
    }
    let all: Vec<usize> = (0..SCALARS.len()).collect();
    let before = if from_res == RAW {
        scalar_query(db, database, from_res, None, Some(start), true, &all).await?.into_iter().next()
    } else {
        None
    };
    // The statements first, in the same window (their progress is this table's).
    super::statement_samples::average(db, database, from_res, to_res, start, end).await?;
    let rows = scalar_query(db, database, from_res, Some(start), Some(end), false, &all).await?;
    let counters: Vec<bool> = SCALARS.iter().map(|c| c.counter).collect();
    let averaged = downsample(&counters, before.as_ref(), &rows, from_res, to_res);
    insert_samples(db, database, to_res, &averaged).await?;
    for (kind, columns) in [(Kind::Table, &TABLE_COLUMNS[..]), (Kind::Index, &INDEX_COLUMNS[..])] {
        let counters: Vec<bool> = columns.iter().map(|c| c.counter).collect();
        // The raw row before the window too, for a counter's first delta (at most one resolution step back).
        let context = if from_res == RAW { step } else { 0 };
        let stream = Stream { database, kind, resolution: from_res };
        let by_object = stream.by_object(db, start - context, end - 1, None).await?;
        let mut out: BTreeMap<i64, Snapshot> = BTreeMap::new();
        for (id, rows) in by_object {
            let split = rows.partition_point(|r| r.at < start);
            let before = split.checked_sub(1).map(|i| &rows[i]);
            for r in downsample(&counters, before, &rows[split..], from_res, to_res) {
                out.entry(r.at).or_default().insert(id, r.values);
            }
        }
        Stream { database, kind, resolution: to_res }.write(db, out, &mut Tails::default()).await?;
    }
    Ok(averaged.len())
}

async fn newest(db: &impl ConnectionTrait, database: &str, resolution: i32) -> Result<Option<i64>> {
    bound(db, database, resolution, true).await
}

async fn oldest(db: &impl ConnectionTrait, database: &str, resolution: i32) -> Result<Option<i64>> {
    bound(db, database, resolution, false).await
}

async fn bound(db: &impl ConnectionTrait, database: &str, resolution: i32, max: bool) -> Result<Option<i64>> {
    let at = Expr::col(col("at_s"));
    let query = Query::select()
        .expr_as(if max { Func::max(at) } else { Func::min(at) }, col("bound"))
        .from(col(SAMPLES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("resolution_s")).eq(resolution))
        .to_owned();
    let row = db.query_one(&query).await?;
    Ok(row.and_then(|r| r.try_get::<Option<i64>>("", "bound").ok().flatten()))
}

/// Parses a time as the samples API takes it: Unix seconds or RFC 3339.
pub fn parse_time(text: &str) -> Result<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    DateTime::parse_from_rfc3339(text).map(|t| t.timestamp()).map_err(|_| {
        Error::BadRequest(format!("{text:?} is not a time: give Unix seconds or RFC 3339 (2026-12-06T12:00:00Z)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(at: i64, v: i64) -> Row {
        Row { at, values: vec![Some(v)], epoch: Epoch::default() }
    }

    #[test]
    fn a_counter_that_went_down_counts_its_new_value_and_never_a_negative_delta() {
        assert_eq!(delta(100, 150, false), 50);
        assert_eq!(delta(100, 7, false), 7);
        assert_eq!(delta(100, 150, true), 150, "a changed reset time means the counter began again");
        assert_eq!(delta(100, -3, false), 0);
    }

    #[test]
    fn rates_survive_a_stats_reset_between_samples() {
        let rows = [raw(0, 1000), raw(10, 1100), raw(20, 30), raw(30, 130)];
        let r = rates(&rows, 0, RAW, 0);
        assert_eq!(r, vec![(10, 10.0), (20, 3.0), (30, 10.0)]);
        // A restart whose counters got past the old value is caught by the start time.
        let mut restarted = raw(20, 1500);
        restarted.epoch.started = Some(1_000);
        let mut before = raw(10, 1100);
        before.epoch.started = Some(1);
        let r = rates(&[before, restarted], 0, RAW, 0);
        assert_eq!(r, vec![(20, 150.0)]);
    }

    #[test]
    fn downsampling_averages_gauges_and_sums_counter_increases_across_a_reset() {
        let rows: Vec<Row> = [(0, 10, 100), (60, 20, 160), (120, 30, 10), (300, 40, 70)]
            .into_iter()
            .map(|(at, g, c)| Row { at, values: vec![Some(g), Some(c)], epoch: Epoch::default() })
            .collect();
        let before = Row { at: -60, values: vec![Some(0), Some(40)], epoch: Epoch::default() };
        let out = downsample(&[false, true], Some(&before), &rows, RAW, FIVE_MINUTES);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].at, out[0].values.clone()), (0, vec![Some(20), Some(60 + 60 + 10)]));
        assert_eq!((out[1].at, out[1].values.clone()), (300, vec![Some(40), Some(60)]));
        let hourly = downsample(&[false, true], None, &out, FIVE_MINUTES, HOURLY);
        assert_eq!(hourly[0].values, vec![Some(30), Some(190)]);
    }

    #[test]
    fn metric_names_parse_and_unknown_ones_do_not() {
        assert_eq!(Metric::parse("db_size"), Some(Metric::Database("db_size")));
        assert_eq!(
            Metric::parse("table_size:public.users"),
            Some(Metric::Table { rows: false, name: "public.users".into() })
        );
        assert_eq!(Metric::parse("index_scans:main.ix").map(|m| m.unit()), Some("scans/day"));
        assert_eq!(Metric::parse("nope"), None);
        assert_eq!(Metric::parse("table_size:users"), None);
    }

    #[test]
    fn times_are_unix_seconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_time("1970-01-01T00:01:00Z").unwrap(), 60);
        assert!(parse_time("yesterday").is_err());
    }
}
