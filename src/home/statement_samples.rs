//! The statement samples in the home database: each statement's text once in `sample_queries`, the sampler's top
//! statements per sample as counters packed in `sample_packs` (kind statement; [`crate::home::samples`] says how a
//! stream is packed), their increase over a past range (the Statements page's range view, summed, searched, sorted
//! and cut to a page here), one statement's calls and mean time as chart series, and their 5-minute and hourly
//! averages for the retention job ([`crate::home::samples::retain`]).
//!
//! A raw reading keeps the counters as the server reported them; an average keeps the increase over its bucket
//! (only the statements that ran in it). An increase is the difference between a statement's reading and its
//! reading before; when any of its counters went down (a reset, `pg_stat_statements_reset()`, an eviction, a server
//! restart) the counters began again and the increase is the new values. The extension's counters are never reset
//! by Strata.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, SqlErr};

use super::samples::{FIVE_MINUTES, HOURLY, Kind, RAW, Snapshot, Stream, Tails, values};
use crate::config::SampleRetention;
use crate::db::introspect::{StatementInfo, StatementQuery, StatementSort};
use crate::error::Result;

const QUERIES: &str = "sample_queries";

/// The most statements a sample keeps per database: the top by total time.
pub const TOP: u64 = 200;

/// The longest normalized text kept (characters); a longer one is cut.
pub const MAX_TEXT: usize = 10_000;

/// How far before a range (or a bucket) a statement's previous raw row is looked for.
const LOOKBACK_S: i64 = 3600;

/// The longest range summed from raw rows alone.
const RAW_RANGE_S: i64 = 3 * 3600;

/// Rows per insert statement, ids per `IN` list.
const CHUNK: usize = 300;

/// How many counters a reading has: calls, total time (µs), rows, blocks hit, blocks read.
const COUNTERS: usize = 5;

fn stream(database: &str, resolution: i32) -> Stream<'_> {
    Stream { database, kind: Kind::Statement, resolution }
}

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
    record_with(db, database, at, items, &mut Tails::default()).await
}

/// [`record`] by a writer that keeps the streams' newest states in `tails` (the sampler while it holds its lease).
pub async fn record_with(
    db: &impl ConnectionTrait,
    database: &str,
    at: i64,
    items: &[StatementInfo],
    tails: &mut Tails,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let ids = query_ids(db, database, items).await?;
    let mut objects = Snapshot::new();
    for s in items {
        if let Some(id) = ids.get(&s.query_id) {
            // The first reading of a statement at a second is the one kept.
            objects.entry(*id).or_insert_with(|| counters_of(s).to_vec());
        }
    }
    stream(database, RAW).write(db, BTreeMap::from([(at, objects)]), tails).await
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

/// Adds increases `inc` to the sums `sum` (a counter no reading had stays `None`).
fn add(sum: &mut Vec<Option<i64>>, inc: &[Option<i64>]) {
    sum.resize(COUNTERS, None);
    for (s, v) in sum.iter_mut().zip(inc) {
        if let Some(v) = v {
            *s = Some(s.unwrap_or(0).saturating_add(*v));
        }
    }
}

/// A statement's sums over a range as the page shows it.
fn info(query_id: String, query: String, v: &[Option<i64>]) -> StatementInfo {
    let calls = v[0].unwrap_or(0);
    let total_ms = v[1].unwrap_or(0) as f64 / 1000.0;
    StatementInfo {
        query_id,
        query,
        calls,
        total_ms,
        mean_ms: (calls > 0).then(|| total_ms / calls as f64),
        rows: v[2].unwrap_or(0),
        rows_examined: None,
        blocks_hit: v[3],
        blocks_read: v[4],
    }
}

/// What the range view sorts by, from the sums (`None`: sorted last either way).
fn sort_key(sort: StatementSort, v: &[Option<i64>]) -> Option<f64> {
    match sort {
        StatementSort::Calls => v[0].map(|c| c as f64),
        StatementSort::TotalTime => v[1].map(|t| t as f64),
        StatementSort::MeanTime => Some(v[1]? as f64 / v[0].filter(|c| *c != 0)? as f64),
        StatementSort::Rows => v[2].map(|r| r as f64),
        StatementSort::HitRatio => {
            let (hit, read) = (v[3]?, v[4]?);
            (hit + read != 0).then(|| hit as f64 / (hit + read) as f64)
        }
    }
}

/// A statement found in a range: its sort key, query id, text and sums.
type Found<'a> = (Option<f64>, String, String, &'a Vec<Option<i64>>);

/// `database`'s texts of statements `ids`: id → (query id, text).
async fn texts_of(db: &impl ConnectionTrait, database: &str, ids: &[i32]) -> Result<HashMap<i32, (String, String)>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let query = Query::select()
            .columns([col("id"), col("query_id"), col("query_text")])
            .from(col(QUERIES))
            .and_where(Expr::col(col("database_name")).eq(database))
            .and_where(Expr::col(col("id")).is_in(chunk.iter().copied()))
            .to_owned();
        for row in db.query_all(&query).await? {
            out.insert(row.try_get("", "id")?, (row.try_get("", "query_id")?, row.try_get("", "query_text")?));
        }
    }
    Ok(out)
}

/// One page of `database`'s statements over `from..=to` and how many there are: each statement's increase over
/// the range, reset-aware, summed, searched (case-insensitive substring of the text), sorted (`None` last, then by
/// query id) and cut. Raw readings (each statement's reading before the range, within [`LOOKBACK_S`], as the base)
/// for a range of up to [`RAW_RANGE_S`]; averages up to the newest averaged bucket and raw readings after it for a
/// longer one.
pub async fn range(
    db: &impl ConnectionTrait,
    database: &str,
    from: i64,
    to: i64,
    retention: &SampleRetention,
    query: &StatementQuery,
) -> Result<(Vec<StatementInfo>, u64)> {
    // Summing raw readings needs each one's predecessor: a day of 200 statements a minute is 288,000 readings. Past
    // a few hours the 5-minute increases do it with a fifth of them, and raw readings cover only the minutes since
    // the newest average.
    let resolution = if to.saturating_sub(from) <= RAW_RANGE_S {
        RAW
    } else {
        Ord::max(super::samples::resolution_for(from, to, retention), FIVE_MINUTES)
    };
    // Averages up to the end of the newest averaged bucket, raw readings after it.
    let cut = if resolution == RAW {
        from
    } else {
        match newest_average(db, database, resolution).await? {
            Some(at) => (at + resolution as i64).clamp(from, to),
            None => from,
        }
    };
    let mut sums: HashMap<i32, Vec<Option<i64>>> = HashMap::new();
    if resolution != RAW && cut > from {
        stream(database, resolution)
            .each(db, from, cut - 1, |_, state| {
                for (id, cols) in state {
                    add(sums.entry(*id).or_default(), &values(cols));
                }
            })
            .await?;
    }
    let mut last: HashMap<i32, Vec<Option<i64>>> = HashMap::new();
    stream(database, RAW)
        .each(db, cut.saturating_sub(LOOKBACK_S), to, |at, state| {
            for (id, cols) in state {
                let cur = values(cols);
                if at > cut
                    && let Some(prev) = last.get(id)
                {
                    add(sums.entry(*id).or_default(), &increase(prev, &cur));
                }
                last.insert(*id, cur);
            }
        })
        .await?;
    let ran: Vec<i32> = sums.iter().filter(|(_, v)| v[0].unwrap_or(0) > 0).map(|(id, _)| *id).collect();
    let texts = texts_of(db, database, &ran).await?;
    let needle = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let mut found: Vec<Found<'_>> = ran
        .iter()
        .filter_map(|id| {
            let (query_id, text) = texts.get(id)?;
            if needle.as_ref().is_some_and(|n| !text.to_lowercase().contains(n.as_str())) {
                return None;
            }
            let v = &sums[id];
            Some((sort_key(query.sort, v), query_id.clone(), text.clone(), v))
        })
        .collect();
    found.sort_by(|a, b| {
        let by_value = match (a.0, b.0) {
            (Some(x), Some(y)) if query.descending => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_value.then_with(|| a.1.cmp(&b.1))
    });
    let total = found.len() as u64;
    let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let page = found.into_iter().skip(offset).take(limit).map(|(_, id, text, v)| info(id, text, v)).collect();
    Ok((page, total))
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
    let raw = stream(database, RAW);
    let Some(first) = raw.first_at(db, from.saturating_add(1), to).await? else { return Ok(false) };
    // A reading in the window counts once there is one before it to count from.
    Ok(raw.first_at(db, from.saturating_sub(LOOKBACK_S), first - 1).await?.is_some()
        || raw.first_at(db, first + 1, to).await?.is_some())
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

/// The id of `database`'s statement `query_id`.
async fn id_of(db: &impl ConnectionTrait, database: &str, query_id: &str) -> Result<Option<i32>> {
    let query = Query::select()
        .column(col("id"))
        .from(col(QUERIES))
        .and_where(Expr::col(col("database_name")).eq(database))
        .and_where(Expr::col(col("query_id")).eq(query_id))
        .to_owned();
    Ok(db.query_one(&query).await?.map(|r| r.try_get::<i32>("", "id")).transpose()?)
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
    let Some(id) = id_of(db, database, query_id).await? else { return Ok(Vec::new()) };
    let rows: Vec<(i64, Vec<Option<i64>>)> = stream(database, resolution)
        .by_object(db, from.saturating_sub(context), to, Some(id))
        .await?
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.at, r.values))
        .collect();
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
    let by_object = stream(database, from_res).by_object(db, start - context, end - 1, None).await?;
    let step = to_res as i64;
    let mut out: Vec<(i32, i64, Vec<Option<i64>>)> = Vec::new();
    for (id, rows) in by_object {
        let mut buckets: BTreeMap<i64, Vec<Option<i64>>> = BTreeMap::new();
        let mut bucket =
            |at: i64, inc: &[Option<i64>]| add(buckets.entry(at.div_euclid(step) * step).or_default(), inc);
        if from_res == RAW {
            for pair in rows.windows(2) {
                let (prev, cur) = (&pair[0], &pair[1]);
                if cur.at >= start {
                    bucket(cur.at, &increase(&prev.values, &cur.values));
                }
            }
        } else {
            for r in rows {
                bucket(r.at, &r.values);
            }
        }
        out.extend(buckets.into_iter().filter(|(_, v)| v[0].unwrap_or(0) > 0).map(|(at, v)| (id, at, v)));
    }
    let written = out.len();
    let mut frames: BTreeMap<i64, Snapshot> = BTreeMap::new();
    for (id, at, v) in out {
        frames.entry(at).or_default().insert(id, v);
    }
    stream(database, to_res).write(db, frames, &mut Tails::default()).await?;
    Ok(written)
}

/// Deletes the texts no statement reading names any more: of `turned` (the databases whose statement readings
/// the retention job just aged out past a day's end; a statement can be named anywhere in their streams, so they
/// are read whole, about once a day each) and of databases with no statement reading left at all.
pub async fn retain(db: &impl ConnectionTrait, turned: &[String]) -> Result<()> {
    for database in turned {
        let mut named: HashSet<i32> = HashSet::new();
        for resolution in [RAW, FIVE_MINUTES, HOURLY] {
            named.extend(stream(database, resolution).named(db).await?);
        }
        let orphans: Vec<i32> = known(db, database).await?.into_values().filter(|id| !named.contains(id)).collect();
        delete_texts(db, &orphans).await?;
    }
    let databases = Query::select().distinct().column(col("database_name")).from(col(QUERIES)).to_owned();
    for row in db.query_all(&databases).await? {
        let database: String = row.try_get("", "database_name")?;
        let mut any = false;
        for resolution in [RAW, FIVE_MINUTES, HOURLY] {
            any |= stream(&database, resolution).first_at(db, i64::MIN, i64::MAX).await?.is_some();
        }
        if !any {
            let delete = Query::delete()
                .from_table(col(QUERIES))
                .and_where(Expr::col(col("database_name")).eq(database.as_str()))
                .to_owned();
            db.execute(&delete).await?;
        }
    }
    Ok(())
}

async fn delete_texts(db: &impl ConnectionTrait, ids: &[i32]) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let delete = Query::delete()
            .from_table(col(QUERIES))
            .and_where(Expr::col(col("id")).is_in(chunk.iter().copied()))
            .to_owned();
        db.execute(&delete).await?;
    }
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
    fn sort_keys_leave_what_cannot_be_computed_empty() {
        let v = [Some(0), Some(10), Some(1), Some(0), Some(0)];
        assert_eq!(sort_key(StatementSort::MeanTime, &v), None, "no calls: no mean");
        assert_eq!(sort_key(StatementSort::HitRatio, &v), None, "no blocks: no ratio");
        let v = [Some(4), Some(10), Some(1), Some(3), Some(1)];
        assert_eq!(sort_key(StatementSort::MeanTime, &v), Some(2.5));
        assert_eq!(sort_key(StatementSort::HitRatio, &v), Some(0.75));
        assert_eq!(sort_key(StatementSort::HitRatio, &[Some(1), Some(1), Some(1), None, Some(1)]), None);
    }
}
