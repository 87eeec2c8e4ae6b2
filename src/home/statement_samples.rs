//! The statement samples in the home database (`sample_queries`, `sample_statements`): the sampler's top
//! statements per sample as counters, their increase over a past range (the Statements page's range view, summed
//! and sorted in SQL), one statement's calls and mean time as chart series, and their 5-minute and hourly
//! averages for the retention job ([`crate::home::samples::retain`]).
//!
//! A raw row keeps the counters as the server reported them; an average keeps the increase over its bucket (a
//! row only for the statements that ran in it). An increase is the difference between a statement's row and its
//! row before; when any of its counters went down (a reset, `pg_stat_statements_reset()`, an eviction, a server
//! restart) the counters began again and the increase is the new values. The extension's counters are never
//! reset by Strata.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, SqlErr, Statement, Value};

use super::samples::{FIVE_MINUTES, HOURLY, RAW};
use crate::config::SampleRetention;
use crate::db::introspect::statements::like_pattern;
use crate::db::introspect::{StatementInfo, StatementQuery, StatementSort};
use crate::error::Result;

const QUERIES: &str = "sample_queries";
const STATEMENTS: &str = "sample_statements";

/// The most statements a sample keeps per database: the top by total time.
pub const TOP: u64 = 200;

/// The longest normalized text kept (characters); a longer one is cut.
pub const MAX_TEXT: usize = 10_000;

/// How far before a range (or a bucket) a statement's previous raw row is looked for.
const LOOKBACK_S: i64 = 3600;

/// The longest range summed from raw rows alone.
const RAW_RANGE_S: i64 = 3 * 3600;

/// Rows per insert statement.
const CHUNK: usize = 300;

/// The counters of a row, in this order.
const COUNTERS: [&str; 5] = ["calls", "total_us", "rows_out", "blks_hit", "blks_read"];

/// A row's time and counters (in [`COUNTERS`]' order).
type Timed = (i64, Vec<Option<i64>>);

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// The counters of one statement as stored.
fn counters_of(s: &StatementInfo) -> [Option<i64>; 5] {
    [Some(s.calls), Some((s.total_ms * 1000.0).round() as i64), Some(s.rows), s.blocks_hit, s.blocks_read]
}

/// What counters grew by from `prev` to `cur`: the differences, or `cur` itself when any counter went down (the
/// statement's counters began again in between). Never negative.
pub fn increase(prev: &[Option<i64>], cur: &[Option<i64>]) -> Vec<Option<i64>> {
    let reset = prev.iter().zip(cur).any(|(p, c)| matches!((p, c), (Some(p), Some(c)) if c < p));
    prev.iter()
        .zip(cur)
        .map(|(p, c)| match (p, c) {
            (_, None) => None,
            (Some(p), Some(c)) if !reset => Some(c - p),
            (_, Some(c)) => Some(Ord::max(*c, 0)),
        })
        .collect()
}

/// Writes the statements read at `at` (Unix seconds) for `database`: their texts once per query id, their counters.
pub async fn record(db: &impl ConnectionTrait, database: &str, at: i64, items: &[StatementInfo]) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let ids = query_ids(db, database, items).await?;
    let mut names: Vec<Alias> = ["object_id", "resolution_s", "at_s"].iter().map(|k| col(k)).collect();
    names.extend(COUNTERS.iter().map(|c| col(c)));
    let keys = ["object_id", "resolution_s", "at_s"];
    for chunk in items.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(col(STATEMENTS)).columns(names.clone());
        let mut any = false;
        for s in chunk {
            let Some(id) = ids.get(&s.query_id) else { continue };
            let mut values: Vec<Value> = vec![(*id).into(), RAW.into(), at.into()];
            values.extend(counters_of(s).iter().map(|v| Value::from(*v)));
            insert.values_panic(values.into_iter().map(Expr::val));
            any = true;
        }
        if any {
            insert.on_conflict(OnConflict::columns(keys.map(col)).do_nothing_on(keys.map(col)).to_owned());
            db.execute(&insert).await?;
        }
    }
    Ok(())
}

/// The ids of `items`' query ids for `database`, naming the new ones with their text.
async fn query_ids(db: &impl ConnectionTrait, database: &str, items: &[StatementInfo]) -> Result<HashMap<String, i32>> {
    let mut ids = known(db, database).await?;
    let mut seen = std::collections::HashSet::new();
    let missing: Vec<&StatementInfo> =
        items.iter().filter(|s| !ids.contains_key(&s.query_id) && seen.insert(s.query_id.clone())).collect();
    if missing.is_empty() {
        return Ok(ids);
    }
    let columns = [col("database_name"), col("query_id"), col("query_text")];
    let row = |s: &StatementInfo| -> [Expr; 3] {
        let text: String = s.query.chars().take(MAX_TEXT).collect();
        [Expr::val(database), Expr::val(s.query_id.as_str()), Expr::val(text)]
    };
    for chunk in missing.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(col(QUERIES)).columns(columns.clone());
        for s in chunk {
            insert.values_panic(row(s));
        }
        match db.execute(&insert).await {
            Ok(_) => {}
            // Another instance named some of them first: one at a time, skipping those.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                for s in chunk {
                    let one = Query::insert()
                        .into_table(col(QUERIES))
                        .columns(columns.clone())
                        .values_panic(row(s))
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
    ids = known(db, database).await?;
    Ok(ids)
}

async fn known(db: &impl ConnectionTrait, database: &str) -> Result<HashMap<String, i32>> {
    let query = Query::select()
        .columns([col("id"), col("query_id")])
        .from(col(QUERIES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .to_owned();
    let mut out = HashMap::new();
    for row in db.query_all(&query).await? {
        out.insert(row.try_get("", "query_id")?, row.try_get("", "id")?);
    }
    Ok(out)
}

/// The stored normalized text of `database`'s statement `query_id`.
pub async fn text(db: &impl ConnectionTrait, database: &str, query_id: &str) -> Result<Option<String>> {
    let query = Query::select()
        .column(col("query_text"))
        .from(col(QUERIES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("query_id")).eq(query_id))
        .to_owned();
    Ok(match db.query_one(&query).await? {
        Some(row) => Some(row.try_get("", "query_text")?),
        None => None,
    })
}

/// A statement with `?` placeholders for `backend` (`$1`, ... on PostgreSQL). The SQL here has no `?` elsewhere.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The past-range view: each statement's increase over `from..=to`, reset-aware, summed, searched, sorted and cut
/// to a page by the home database. Raw rows (each statement's row before the range as the base) for a range of up
/// to [`RAW_RANGE_S`]; averages up to the newest averaged bucket and raw rows after it for a longer one.
/// Returns the page and the number of statements that ran in the range and match the search.
const RANGE_SQL: &str = r"
WITH ids AS (SELECT id FROM sample_queries WHERE database_name = ?),
raw AS (
    SELECT object_id, at_s, calls, total_us, rows_out, blks_hit, blks_read,
           LAG(calls) OVER (PARTITION BY object_id ORDER BY at_s) AS p_calls,
           LAG(total_us) OVER (PARTITION BY object_id ORDER BY at_s) AS p_total,
           LAG(rows_out) OVER (PARTITION BY object_id ORDER BY at_s) AS p_rows,
           LAG(blks_hit) OVER (PARTITION BY object_id ORDER BY at_s) AS p_hit,
           LAG(blks_read) OVER (PARTITION BY object_id ORDER BY at_s) AS p_read
    FROM sample_statements
    WHERE resolution_s = 0 AND at_s >= ? AND at_s <= ? AND object_id IN (SELECT id FROM ids)
),
steps AS (
    SELECT object_id, at_s, calls, total_us, rows_out, blks_hit, blks_read, p_calls, p_total, p_rows, p_hit, p_read,
           CASE WHEN calls < p_calls OR total_us < p_total OR rows_out < p_rows OR blks_hit < p_hit
                     OR blks_read < p_read THEN 1 ELSE 0 END AS reset
    FROM raw WHERE p_calls IS NOT NULL AND at_s > ?
),
parts AS (
    SELECT object_id,
           CASE WHEN reset = 1 THEN calls ELSE calls - p_calls END AS calls,
           CASE WHEN reset = 1 THEN total_us ELSE total_us - p_total END AS total_us,
           CASE WHEN reset = 1 THEN rows_out ELSE rows_out - p_rows END AS rows_out,
           CASE WHEN reset = 1 THEN blks_hit ELSE blks_hit - p_hit END AS blks_hit,
           CASE WHEN reset = 1 THEN blks_read ELSE blks_read - p_read END AS blks_read
    FROM steps
    UNION ALL
    SELECT object_id, calls, total_us, rows_out, blks_hit, blks_read FROM sample_statements
    WHERE resolution_s = ? AND at_s >= ? AND at_s < ? AND object_id IN (SELECT id FROM ids)
),
agg AS (
    SELECT q.query_id, q.query_text, CAST(SUM(p.calls) AS {int}) AS calls, CAST(SUM(p.total_us) AS {int}) AS total_us,
           CAST(SUM(p.rows_out) AS {int}) AS rows_out, CAST(SUM(p.blks_hit) AS {int}) AS blks_hit,
           CAST(SUM(p.blks_read) AS {int}) AS blks_read
    FROM parts p JOIN sample_queries q ON q.id = p.object_id
    GROUP BY q.id, q.query_id, q.query_text
)
SELECT query_id, query_text, calls, total_us, rows_out, blks_hit, blks_read, COUNT(*) OVER () AS total
FROM agg
WHERE calls > 0 AND (CAST(? AS {text}) IS NULL OR LOWER(query_text) LIKE ? ESCAPE '!')
ORDER BY {order}, query_id
LIMIT ? OFFSET ?";

#[derive(FromQueryResult)]
struct RangeRow {
    query_id: String,
    query_text: String,
    calls: Option<i64>,
    total_us: Option<i64>,
    rows_out: Option<i64>,
    blks_hit: Option<i64>,
    blks_read: Option<i64>,
    total: i64,
}

impl From<RangeRow> for StatementInfo {
    fn from(r: RangeRow) -> Self {
        let calls = r.calls.unwrap_or(0);
        let total_ms = r.total_us.unwrap_or(0) as f64 / 1000.0;
        StatementInfo {
            query_id: r.query_id,
            query: r.query_text,
            calls,
            total_ms,
            mean_ms: (calls > 0).then(|| total_ms / calls as f64),
            rows: r.rows_out.unwrap_or(0),
            rows_examined: None,
            blocks_hit: r.blks_hit,
            blocks_read: r.blks_read,
        }
    }
}

/// The ORDER BY of the range view, from constants only (NULLs last on every engine).
fn range_order(sort: StatementSort, descending: bool) -> String {
    let expr = match sort {
        StatementSort::Calls => "calls",
        StatementSort::TotalTime => "total_us",
        StatementSort::MeanTime => "(total_us * 1.0 / calls)",
        StatementSort::Rows => "rows_out",
        StatementSort::HitRatio => "(blks_hit * 1.0 / NULLIF(blks_hit + blks_read, 0))",
    };
    format!("({expr} IS NULL), {expr} {}", if descending { "DESC" } else { "ASC" })
}

/// One page of `database`'s statements over `from..=to` (see [`RANGE_SQL`]) and how many there are.
pub async fn range(
    db: &impl ConnectionTrait,
    database: &str,
    from: i64,
    to: i64,
    retention: &SampleRetention,
    query: &StatementQuery,
) -> Result<(Vec<StatementInfo>, u64)> {
    let backend = db.get_database_backend();
    // Summing raw rows needs each one's predecessor (a window over every row in the range): a day of 200
    // statements a minute is 288,000 rows. Past a few hours the 5-minute increases do it with a fifth of the rows
    // and no window, and the raw rows cover only the minutes since the newest average.
    let resolution = if to.saturating_sub(from) <= RAW_RANGE_S {
        RAW
    } else {
        Ord::max(super::samples::resolution_for(from, to, retention), FIVE_MINUTES)
    };
    // Averages up to the end of the newest averaged bucket, raw rows after it.
    let cut = if resolution == RAW {
        from
    } else {
        match newest_average(db, database, resolution).await? {
            Some(at) => (at + resolution as i64).clamp(from, to),
            None => from,
        }
    };
    let (int, text) = if backend == DbBackend::MySql { ("SIGNED", "CHAR") } else { ("BIGINT", "TEXT") };
    let sql = RANGE_SQL
        .replace("{int}", int)
        .replace("{text}", text)
        .replace("{order}", &range_order(query.sort, query.descending));
    let pattern = like_pattern(query.search.as_deref());
    let values: Vec<Value> = vec![
        database.into(),
        cut.saturating_sub(LOOKBACK_S).into(),
        to.into(),
        cut.into(),
        resolution.into(),
        from.into(),
        cut.into(),
        pattern.clone().into(),
        pattern.into(),
        i64::try_from(query.limit).unwrap_or(i64::MAX).into(),
        i64::try_from(query.offset).unwrap_or(i64::MAX).into(),
    ];
    let rows = RangeRow::find_by_statement(statement(backend, &sql, values)).all(db).await?;
    let total = rows.first().map(|r| r.total as u64).unwrap_or(0);
    Ok((rows.into_iter().map(StatementInfo::from).collect(), total))
}

/// One statement over one side of a time: its calls and their mean time, from the samples' increases.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Side {
    pub calls: i64,
    pub mean_ms: Option<f64>,
}

/// One statement in the hour before a time and the hour after it (`None`: it did not run in that hour).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementChange {
    pub query_id: String,
    pub query: String,
    pub before: Option<Side>,
    pub after: Option<Side>,
}

impl StatementChange {
    /// The mean time after minus before, when it ran on both sides.
    pub fn delta_ms(&self) -> Option<f64> {
        Some(self.after.as_ref()?.mean_ms? - self.before.as_ref()?.mean_ms?)
    }
}

/// The statements around a time, and whether statement samples cover each side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementsAround {
    /// Statement samples were taken in the hour before (a reading with one before it to count from).
    pub covered_before: bool,
    pub covered_after: bool,
    /// Those that ran on both sides by the size of their change in mean time, largest first; then those that ran
    /// on one side only, by their calls.
    pub changes: Vec<StatementChange>,
}

/// The most statements read on each side of [`around`] (each sample keeps at most [`TOP`]).
const AROUND_READ: u64 = 5_000;

/// `database`'s statements in the `window` seconds before `at` against the `window` seconds after it: each one's
/// calls and mean time (its total time's increase over its calls' increase, across resets, as the range view
/// counts them), the `top` largest changes.
pub async fn around(
    db: &impl ConnectionTrait,
    database: &str,
    at: i64,
    window: i64,
    top: usize,
) -> Result<StatementsAround> {
    let retention = SampleRetention::default();
    let all = StatementQuery { sort: StatementSort::Calls, descending: true, limit: AROUND_READ, ..Default::default() };
    let (before, after) = ((at - window, at - 1), (at, at + window));
    let (items_before, _) = range(db, database, before.0, before.1, &retention, &all).await?;
    let (items_after, _) = range(db, database, after.0, after.1, &retention, &all).await?;
    let covered_before = covered(db, database, before.0, before.1).await?;
    let covered_after = covered(db, database, after.0, after.1).await?;
    let side = |s: &StatementInfo| Side { calls: s.calls, mean_ms: s.mean_ms };
    let mut by_id: BTreeMap<String, StatementChange> = BTreeMap::new();
    for s in &items_before {
        let c = by_id.entry(s.query_id.clone()).or_default();
        (c.query_id, c.query, c.before) = (s.query_id.clone(), s.query.clone(), Some(side(s)));
    }
    for s in &items_after {
        let c = by_id.entry(s.query_id.clone()).or_default();
        (c.query_id, c.query, c.after) = (s.query_id.clone(), s.query.clone(), Some(side(s)));
    }
    let mut changes: Vec<StatementChange> = by_id.into_values().collect();
    let calls = |c: &StatementChange| {
        c.before.as_ref().map(|s| s.calls).unwrap_or(0) + c.after.as_ref().map(|s| s.calls).unwrap_or(0)
    };
    changes.sort_by(|a, b| {
        match (a.delta_ms(), b.delta_ms()) {
            (Some(x), Some(y)) => y.abs().total_cmp(&x.abs()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => calls(b).cmp(&calls(a)),
        }
        .then_with(|| a.query_id.cmp(&b.query_id))
    });
    changes.truncate(top);
    Ok(StatementsAround { covered_before, covered_after, changes })
}

/// Whether `database` has a raw statement reading in `from..=to` with one before it (within [`LOOKBACK_S`]).
async fn covered(db: &impl ConnectionTrait, database: &str, from: i64, to: i64) -> Result<bool> {
    let ids = Query::select()
        .column(col("id"))
        .from(col(QUERIES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .to_owned();
    let times = |from: i64, to: i64| {
        Query::select()
            .column(col("at_s"))
            .from(col(STATEMENTS))
            .and_where(Expr::col(col("object_id")).in_subquery(ids.clone()))
            .and_where(Expr::col(col("resolution_s")).eq(RAW))
            .and_where(Expr::col(col("at_s")).gte(from))
            .and_where(Expr::col(col("at_s")).lte(to))
            .order_by(col("at_s"), Order::Asc)
            .limit(1)
            .to_owned()
    };
    let Some(first) = db.query_one(&times(from.saturating_add(1), to)).await? else { return Ok(false) };
    let first: i64 = first.try_get("", "at_s")?;
    // A reading in the window counts once there is one before it to count from.
    Ok(db.query_one(&times(from.saturating_sub(LOOKBACK_S), first - 1)).await?.is_some()
        || db.query_one(&times(first + 1, to)).await?.is_some())
}

/// The start of `database`'s newest average at `resolution` (the database-wide samples are averaged in the same
/// pass as the statements).
async fn newest_average(db: &impl ConnectionTrait, database: &str, resolution: i32) -> Result<Option<i64>> {
    let query = Query::select()
        .expr_as(sea_orm::sea_query::Func::max(Expr::col(col("at_s"))), col("newest"))
        .from(col("samples"))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("resolution_s")).eq(resolution))
        .to_owned();
    let row = db.query_one(&query).await?;
    Ok(row.and_then(|r| r.try_get::<Option<i64>>("", "newest").ok().flatten()))
}

/// One statement's rows (at `resolution`, `from..=to`), oldest first, as `(at, counters)`.
async fn rows_of(
    db: &impl ConnectionTrait,
    database: &str,
    query_id: &str,
    resolution: i32,
    from: i64,
    to: i64,
) -> Result<Vec<Timed>> {
    let mut query = Query::select();
    query.column(col("at_s"));
    query.columns(COUNTERS.iter().map(|c| col(c)));
    query
        .from(col(STATEMENTS))
        .and_where(
            Expr::col(col("object_id")).in_subquery(
                Query::select()
                    .column(col("id"))
                    .from(col(QUERIES))
                    .and_where(Expr::col(col("database_name")).eq(database))
                    .and_where(Expr::col(col("query_id")).eq(query_id))
                    .to_owned(),
            ),
        )
        .and_where(Expr::col(col("resolution_s")).eq(resolution))
        .and_where(Expr::col(col("at_s")).gte(from))
        .and_where(Expr::col(col("at_s")).lte(to))
        .order_by(col("at_s"), Order::Asc);
    let mut out = Vec::new();
    for row in db.query_all(&query).await? {
        let mut values = Vec::with_capacity(COUNTERS.len());
        for c in COUNTERS {
            values.push(row.try_get::<Option<i64>>("", c)?);
        }
        out.push((row.try_get("", "at_s")?, values));
    }
    Ok(out)
}

/// A statement's chart series at `resolution`: calls per second (`mean` false) or the mean time in milliseconds of
/// the calls in each interval (`mean` true; intervals without calls have no point).
pub async fn series(
    db: &impl ConnectionTrait,
    database: &str,
    query_id: &str,
    mean: bool,
    from: i64,
    to: i64,
    resolution: i32,
) -> Result<Vec<(i64, f64)>> {
    let context = if resolution == RAW { LOOKBACK_S } else { 0 };
    let rows = rows_of(db, database, query_id, resolution, from.saturating_sub(context), to).await?;
    // (at, calls, total µs, seconds) per interval.
    let mut steps: Vec<(i64, i64, i64, i64)> = Vec::new();
    if resolution == RAW {
        for pair in rows.windows(2) {
            let ((p_at, prev), (at, cur)) = (&pair[0], &pair[1]);
            if *at < from || at <= p_at {
                continue;
            }
            let inc = increase(prev, cur);
            steps.push((*at, inc[0].unwrap_or(0), inc[1].unwrap_or(0), at - p_at));
        }
    } else {
        steps = rows.iter().map(|(at, v)| (*at, v[0].unwrap_or(0), v[1].unwrap_or(0), resolution as i64)).collect();
    }
    Ok(steps
        .into_iter()
        .filter_map(|(at, calls, total_us, secs)| {
            if mean {
                (calls > 0).then(|| (at, total_us as f64 / 1000.0 / calls as f64))
            } else {
                Some((at, calls as f64 / Ord::max(secs, 1) as f64))
            }
        })
        .collect())
}

/// Writes `database`'s statement averages at `to_res` for the buckets in `start..end` (called by the retention job
/// with the window it averages the database-wide samples in): each statement's increase over each bucket, for the
/// statements that ran in it.
pub async fn average(
    db: &impl ConnectionTrait,
    database: &str,
    from_res: i32,
    to_res: i32,
    start: i64,
    end: i64,
) -> Result<usize> {
    let context = if from_res == RAW { LOOKBACK_S } else { 0 };
    let mut query = Query::select();
    query.columns([col("object_id"), col("at_s")]);
    query.columns(COUNTERS.iter().map(|c| col(c)));
    query
        .from(col(STATEMENTS))
        .and_where(
            Expr::col(col("object_id")).in_subquery(
                Query::select()
                    .column(col("id"))
                    .from(col(QUERIES))
                    .and_where(Expr::col(col("database_name")).eq(database))
                    .to_owned(),
            ),
        )
        .and_where(Expr::col(col("resolution_s")).eq(from_res))
        .and_where(Expr::col(col("at_s")).gte(start - context))
        .and_where(Expr::col(col("at_s")).lt(end))
        .order_by(col("object_id"), Order::Asc)
        .order_by(col("at_s"), Order::Asc);
    let mut by_object: BTreeMap<i32, Vec<Timed>> = BTreeMap::new();
    for row in db.query_all(&query).await? {
        let mut values = Vec::with_capacity(COUNTERS.len());
        for c in COUNTERS {
            values.push(row.try_get::<Option<i64>>("", c)?);
        }
        by_object.entry(row.try_get("", "object_id")?).or_default().push((row.try_get("", "at_s")?, values));
    }
    let step = to_res as i64;
    let mut out: Vec<(i32, i64, Vec<Option<i64>>)> = Vec::new();
    for (id, rows) in by_object {
        let mut buckets: BTreeMap<i64, Vec<Option<i64>>> = BTreeMap::new();
        let mut add = |at: i64, inc: Vec<Option<i64>>| {
            let sum = buckets.entry(at.div_euclid(step) * step).or_insert_with(|| vec![None; COUNTERS.len()]);
            for (s, v) in sum.iter_mut().zip(inc) {
                if let Some(v) = v {
                    *s = Some(s.unwrap_or(0) + v);
                }
            }
        };
        if from_res == RAW {
            for pair in rows.windows(2) {
                let ((_, prev), (at, cur)) = (&pair[0], &pair[1]);
                if *at >= start {
                    add(*at, increase(prev, cur));
                }
            }
        } else {
            for (at, v) in rows {
                add(at, v);
            }
        }
        out.extend(buckets.into_iter().filter(|(_, v)| v[0].unwrap_or(0) > 0).map(|(at, v)| (id, at, v)));
    }
    let mut names: Vec<Alias> = ["object_id", "resolution_s", "at_s"].iter().map(|k| col(k)).collect();
    names.extend(COUNTERS.iter().map(|c| col(c)));
    let keys = ["object_id", "resolution_s", "at_s"];
    for chunk in out.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(col(STATEMENTS)).columns(names.clone());
        for (id, at, v) in chunk {
            let mut values: Vec<Value> = vec![(*id).into(), to_res.into(), (*at).into()];
            values.extend(v.iter().map(|x| Value::from(*x)));
            insert.values_panic(values.into_iter().map(Expr::val));
        }
        insert.on_conflict(OnConflict::columns(keys.map(col)).do_nothing_on(keys.map(col)).to_owned());
        db.execute(&insert).await?;
    }
    Ok(out.len())
}

/// Deletes statement rows older than their resolution's retention, and the texts no row refers to any more.
pub async fn retain(db: &impl ConnectionTrait, retention: &SampleRetention, now: i64) -> Result<()> {
    for (resolution, keep) in [(RAW, retention.raw), (FIVE_MINUTES, retention.five_minute), (HOURLY, retention.hourly)]
    {
        let before = now - keep.as_secs() as i64 - resolution as i64;
        super::samples::delete_older_by_object(db, STATEMENTS, QUERIES, resolution, before).await?;
    }
    // A text is looked up by its id along sample_statements' primary key (`NOT EXISTS`), not by collecting every
    // row's id first (`NOT IN`), which read the whole table on each pass.
    let referenced = Query::select()
        .expr(Expr::val(1))
        .from(col(STATEMENTS))
        .and_where(Expr::col((col(STATEMENTS), col("object_id"))).equals((col(QUERIES), col("id"))))
        .to_owned();
    let orphans = Query::delete().from_table(col(QUERIES)).and_where(Expr::exists(referenced).not()).to_owned();
    db.execute(&orphans).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_increase_is_the_difference_or_after_a_reset_the_new_values() {
        let p = [Some(10), Some(1000), Some(5), None, None];
        assert_eq!(
            increase(&p, &[Some(15), Some(1600), Some(7), None, None]),
            vec![Some(5), Some(600), Some(2), None, None]
        );
        // The calls went down: pg_stat_statements_reset() in between, so everything counts from zero.
        assert_eq!(
            increase(&p, &[Some(3), Some(2000), Some(1), None, None]),
            vec![Some(3), Some(2000), Some(1), None, None]
        );
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        let s = statement(DbBackend::Postgres, "SELECT ? + ?", vec![1.into(), 2.into()]);
        assert_eq!(s.sql, "SELECT $1 + $2");
        let s = statement(DbBackend::Sqlite, "SELECT ?", vec![1.into()]);
        assert_eq!(s.sql, "SELECT ?");
    }

    #[test]
    fn range_orders_put_nulls_last() {
        assert_eq!(range_order(StatementSort::Calls, true), "(calls IS NULL), calls DESC");
    }
}
