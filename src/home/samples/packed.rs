//! The per-object samples (tables' sizes and rows, indexes' scans, statements' counters) packed in `sample_packs`:
//! one row per watched database, kind of object, resolution and sample time, holding only what did not go as
//! predicted since the row before, so the home database grows with what changes instead of with objects × samples.
//!
//! A row's value starts with a byte saying whether it is a key row. Then come entries in object-id order, each
//! headed by a varint of `zigzag(id - previous entry's id) << 1 | gone`:
//! - in a key row (the stream's first row, and the first of each period: an hour of raw samples, a day of 5-minute
//!   averages, a week of hourly ones) every object present, with a tag byte of two bits per column (0: no value,
//!   1: a value, 2: a value and its step) and then zigzag varints of the values and steps; objects not named are
//!   absent (the tag is two bytes, little-endian, for a kind of more than four columns: statements);
//! - in a delta row, only the objects whose readings are not the prediction (the value before plus the step from
//!   the one before that: a table that did not change, or grew as it grew the minute before, and a counter that
//!   counted as it did costs nothing), objects that appeared (everything from no history), and objects gone (the
//!   `gone` bit, nothing else: a dropped table is not carried forward). The tag's two bits per column say: 0 as
//!   predicted, 1 a zigzag varint residual from the prediction follows, 2 no value.
//!
//! A row is written at every sample time the kind has any object (an empty delta row when everything went as
//! predicted), so the times of an object's points are exactly those it was sampled at. Reading starts at a period's
//! start, at a key row. Samples written late (before the newest row) re-encode the period they fall in; the
//! retention job makes the first row it keeps a key row before deleting the ones before it.
//!
//! The sampler appends a row a minute to each stream; [`Tails`] keeps the state after each stream's newest row so an
//! append reads only that row (to check it is still the one this process wrote) instead of replaying its period.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, Value};

use super::{Epoch, FIVE_MINUTES, HOURLY, RAW, Row, col};
use crate::error::Result;

const PACKS: &str = "sample_packs";

/// Rows per insert statement.
const CHUNK: usize = 200;

/// What a stream holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Tables: total, table and index bytes, rows estimate (gauges).
    Table,
    /// Indexes: scans (a counter).
    Index,
    /// Statements (ids of `sample_queries`): calls, total µs, rows, blocks hit, blocks read — counters in raw rows,
    /// their increases over the bucket in averages.
    Statement,
}

impl Kind {
    fn code(self) -> i32 {
        match self {
            Kind::Table => 1,
            Kind::Index => 2,
            Kind::Statement => 3,
        }
    }

    fn from_code(code: i16) -> Option<Kind> {
        [Kind::Table, Kind::Index, Kind::Statement].into_iter().find(|k| k.code() == code as i32)
    }

    /// The name `sample_objects` knows the kind by.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::Index => "index",
            Kind::Statement => "statement",
        }
    }
}

/// The objects present at one sample time, with their values.
pub(crate) type Snapshot = BTreeMap<i32, Vec<Option<i64>>>;

/// One column of an object as the stream last said it: its value and its step from the value before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Col {
    pub last: Option<i64>,
    step: i64,
}

/// Every object present after a row.
pub(crate) type State = BTreeMap<i32, Vec<Col>>;

/// An object's values in a state.
pub(crate) fn values(cols: &[Col]) -> Vec<Option<i64>> {
    cols.iter().map(|c| c.last).collect()
}

fn period(resolution: i32) -> i64 {
    match resolution {
        RAW => 3_600,
        FIVE_MINUTES => 86_400,
        _ => 7 * 86_400,
    }
}

fn period_start(at: i64, resolution: i32) -> i64 {
    at.saturating_sub(at.rem_euclid(period(resolution)))
}

fn predict(c: &Col) -> Option<i64> {
    c.last.map(|v| v.wrapping_add(c.step))
}

/// An object's columns after `values` followed `before` (its columns at the row before, when it was present).
fn next_state(before: Option<&Vec<Col>>, values: &[Option<i64>]) -> Vec<Col> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let step = match (before.and_then(|b| b.get(i)).and_then(|c| c.last), v) {
                (Some(a), Some(b)) => b.wrapping_sub(a),
                _ => 0,
            };
            Col { last: *v, step }
        })
        .collect()
}

const KEY: u8 = 1;
const DELTA: u8 = 0;

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// An entry's tag: two bits per column, one byte for up to four columns, two (little-endian) for more.
fn put_tags(out: &mut Vec<u8>, tags: u16, width: usize) {
    out.push(tags as u8);
    if width > 4 {
        out.push((tags >> 8) as u8);
    }
}

fn head(out: &mut Vec<u8>, id: i32, last_id: &mut i32, gone: bool) {
    let gap = zigzag(id as i64 - *last_id as i64);
    put(out, (gap << 1) | gone as u64);
    *last_id = id;
}

/// A key row holding `state` exactly (values and steps).
fn encode_key(state: &State) -> Vec<u8> {
    let mut out = vec![KEY];
    let mut last_id = 0;
    for (id, cols) in state {
        head(&mut out, *id, &mut last_id, false);
        let mut tags = 0u16;
        for (i, c) in cols.iter().enumerate() {
            let tag = match c.last {
                None => 0,
                Some(_) if c.step == 0 => 1,
                Some(_) => 2,
            };
            tags |= tag << (2 * i);
        }
        put_tags(&mut out, tags, cols.len());
        for c in cols {
            if let Some(v) = c.last {
                put(&mut out, zigzag(v));
                if c.step != 0 {
                    put(&mut out, zigzag(c.step));
                }
            }
        }
    }
    out
}

/// The row saying `objects` after `prior` (the state after the row before; empty for the stream's first), a key
/// row when `key`; and the state after it.
fn encode(prior: &State, objects: &Snapshot, key: bool) -> (Vec<u8>, State) {
    let state: State = objects.iter().map(|(id, v)| (*id, next_state(prior.get(id), v))).collect();
    if key {
        return (encode_key(&state), state);
    }
    let mut out = vec![DELTA];
    let mut last_id = 0;
    let mut ids: Vec<i32> = objects.keys().chain(prior.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut residuals = Vec::new();
    for id in ids {
        let before = prior.get(&id);
        let Some(values) = objects.get(&id) else {
            head(&mut out, id, &mut last_id, true);
            continue;
        };
        let mut tags = 0u16;
        residuals.clear();
        for (i, v) in values.iter().enumerate() {
            let predicted = before.and_then(|b| b.get(i)).and_then(predict);
            let tag = match (v, predicted) {
                _ if *v == predicted => 0,
                (None, _) => 2,
                (Some(v), p) => {
                    residuals.push(v.wrapping_sub(p.unwrap_or(0)));
                    1
                }
            };
            tags |= tag << (2 * i);
        }
        if before.is_some() && tags == 0 {
            continue;
        }
        head(&mut out, id, &mut last_id, false);
        put_tags(&mut out, tags, values.len());
        for r in &residuals {
            put(&mut out, zigzag(*r));
        }
    }
    (out, state)
}

fn damaged() -> crate::error::Error {
    DbErr::Custom("a row of sample_packs is damaged (it ends in the middle of a value)".into()).into()
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self.data.get(self.pos).ok_or_else(damaged)?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(damaged())
    }

    fn tags(&mut self, width: usize) -> Result<u16> {
        let low = self.byte()? as u16;
        Ok(if width > 4 { low | (self.byte()? as u16) << 8 } else { low })
    }

    /// Skips an entry's values after its tag, as [`apply`] reads them: a key row's 2 (and 3) is a value and its
    /// step, a delta row's no value.
    fn skip_values(&mut self, tags: u16, width: usize, key: bool) -> Result<()> {
        for i in 0..width {
            let values = match ((tags >> (2 * i)) & 3, key) {
                (0, _) | (2 | 3, false) => 0,
                (1, _) => 1,
                _ => 2,
            };
            for _ in 0..values {
                self.varint()?;
            }
        }
        Ok(())
    }

    fn head(&mut self, last_id: &mut i32) -> Result<(i32, bool)> {
        let h = self.varint()?;
        let id = (*last_id as i64).wrapping_add(unzigzag(h >> 1)) as i32;
        *last_id = id;
        Ok((id, h & 1 == 1))
    }
}

/// Applies row `data` to `state` (the state after the row before), in place; answers whether it was a key row.
fn apply(state: &mut State, data: &[u8], width: usize) -> Result<bool> {
    let mut r = Reader { data, pos: 0 };
    let key = r.byte()? == KEY;
    let mut last_id = 0;
    if key {
        state.clear();
        while !r.done() {
            let (id, _) = r.head(&mut last_id)?;
            let tags = r.tags(width)?;
            let mut cols = Vec::with_capacity(width);
            for i in 0..width {
                let col = match (tags >> (2 * i)) & 3 {
                    0 => Col::default(),
                    1 => Col { last: Some(unzigzag(r.varint()?)), step: 0 },
                    _ => {
                        let last = Some(unzigzag(r.varint()?));
                        Col { last, step: unzigzag(r.varint()?) }
                    }
                };
                cols.push(col);
            }
            state.insert(id, cols);
        }
        return Ok(true);
    }
    // The objects the row names, read against the state before it; everything else went as predicted.
    // Objects present before (their new columns, or `None` when gone) and objects new in this row.
    let mut named: Vec<(i32, Option<Vec<Col>>)> = Vec::new();
    let mut fresh: Vec<(i32, Vec<Col>)> = Vec::new();
    while !r.done() {
        let (id, gone) = r.head(&mut last_id)?;
        let before = state.get(&id);
        if gone {
            if before.is_some() {
                named.push((id, None));
            }
            continue;
        }
        let tags = r.tags(width)?;
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            let predicted = before.and_then(|b| b.get(i)).and_then(predict);
            values.push(match (tags >> (2 * i)) & 3 {
                0 => predicted,
                1 => Some(predicted.unwrap_or(0).wrapping_add(unzigzag(r.varint()?))),
                _ => None,
            });
        }
        let cols = next_state(before, &values);
        if before.is_some() { named.push((id, Some(cols))) } else { fresh.push((id, cols)) }
    }
    let mut gone = false;
    let mut named = named.into_iter().peekable();
    for (id, cols) in state.iter_mut() {
        match named.next_if(|(n, _)| n == id) {
            Some((_, Some(new))) => *cols = new,
            Some((_, None)) => {
                cols.clear();
                gone = true;
            }
            None => {
                for c in cols.iter_mut() {
                    c.last = predict(c);
                }
            }
        }
    }
    if gone {
        state.retain(|_, cols| !cols.is_empty());
    }
    state.extend(fresh);
    Ok(false)
}

fn width(kind: Kind) -> usize {
    match kind {
        Kind::Table => 4,
        Kind::Index => 1,
        Kind::Statement => 5,
    }
}

/// Follows object `id` alone through `rows` (oldest first, from a key row; rows before the first key row are
/// skipped, as [`replay`] skips them), calling `each` at every row it is present after: what [`replay`] gives for
/// it, without keeping every other object's state.
fn follow(rows: &[(i64, Vec<u8>)], width: usize, id: i32, mut each: impl FnMut(i64, &[Col])) -> Result<()> {
    follow_many(rows, width, &[id], |at, present| {
        if let Some(cols) = present.get(&id) {
            each(at, cols);
        }
    })
}

/// Follows the objects `ids` through `rows` as [`follow`] follows one, calling `each` after every row with those of
/// them present then; the other objects' entries are skipped unread.
fn follow_many(
    rows: &[(i64, Vec<u8>)],
    width: usize,
    ids: &[i32],
    mut each: impl FnMut(i64, &HashMap<i32, Vec<Col>>),
) -> Result<()> {
    let wanted: HashSet<i32> = ids.iter().copied().collect();
    // Two maps and a set swapped and cleared row by row, their room kept: no allocation per row but the values.
    let mut present: HashMap<i32, Vec<Col>> = HashMap::new();
    let mut before: HashMap<i32, Vec<Col>> = HashMap::new();
    let mut named: HashSet<i32> = HashSet::new();
    let mut keyed = false;
    for (at, data) in rows {
        let mut r = Reader { data, pos: 0 };
        let key = r.byte()? == KEY;
        if !keyed && !key {
            continue;
        }
        keyed = true;
        // A key row names every object present; a delta row only those not as predicted.
        std::mem::swap(&mut present, &mut before);
        present.clear();
        named.clear();
        let mut last_id = 0;
        while !r.done() {
            let (entry, gone) = r.head(&mut last_id)?;
            if gone {
                if wanted.contains(&entry) {
                    named.insert(entry);
                }
                continue;
            }
            let tags = r.tags(width)?;
            if !wanted.contains(&entry) {
                r.skip_values(tags, width, key)?;
                continue;
            }
            named.insert(entry);
            let cols = if key {
                let mut read = Vec::with_capacity(width);
                for i in 0..width {
                    read.push(match (tags >> (2 * i)) & 3 {
                        0 => Col::default(),
                        1 => Col { last: Some(unzigzag(r.varint()?)), step: 0 },
                        _ => {
                            let last = Some(unzigzag(r.varint()?));
                            Col { last, step: unzigzag(r.varint()?) }
                        }
                    });
                }
                read
            } else {
                let prior = before.get(&entry);
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    let predicted = prior.and_then(|b| b.get(i)).and_then(predict);
                    values.push(match (tags >> (2 * i)) & 3 {
                        0 => predicted,
                        1 => Some(predicted.unwrap_or(0).wrapping_add(unzigzag(r.varint()?))),
                        _ => None,
                    });
                }
                next_state(prior, &values)
            };
            present.insert(entry, cols);
        }
        if !key {
            // Present before and not named: as predicted.
            for (id, mut cols) in before.drain() {
                if !named.contains(&id) {
                    for c in cols.iter_mut() {
                        c.last = predict(c);
                    }
                    present.insert(id, cols);
                }
            }
        }
        each(*at, &present);
    }
    Ok(())
}

/// Adds the ids of the objects row `data` names (present in it, or appearing) to `out`.
fn named_ids(data: &[u8], width: usize, out: &mut HashSet<i32>) -> Result<()> {
    let mut r = Reader { data, pos: 0 };
    let key = r.byte()? == KEY;
    let mut last_id = 0;
    while !r.done() {
        let (id, gone) = r.head(&mut last_id)?;
        if gone {
            continue;
        }
        out.insert(id);
        let tags = r.tags(width)?;
        r.skip_values(tags, width, key)?;
    }
    Ok(())
}

/// Replays `rows` (oldest first, the first a key row; rows before the first key row cannot be read and are
/// skipped) from `state`, calling `each` with every row's time and the state after it.
fn replay(rows: &[(i64, Vec<u8>)], kind: Kind, mut state: State, mut each: impl FnMut(i64, &State)) -> Result<State> {
    let mut keyed = false;
    for (at, data) in rows {
        if !keyed && data.first() != Some(&KEY) {
            continue;
        }
        keyed = true;
        apply(&mut state, data, width(kind))?;
        each(*at, &state);
    }
    Ok(state)
}

/// The state after the newest row of each stream this process wrote last (by database, kind and resolution).
/// Kept only by a writer that is the streams' only one (the sampler while it holds its lease): an entry is used
/// when the stream's newest row is still the one it describes, byte for byte.
#[derive(Default)]
pub struct Tails(HashMap<(String, i32, i32), Tail>);

impl Tails {
    /// Forgets every stream (another instance may write them from now on).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

struct Tail {
    at: i64,
    data: Vec<u8>,
    state: State,
}

/// One stream: a database's objects of a kind at a resolution.
#[derive(Clone, Copy)]
pub(crate) struct Stream<'a> {
    pub database: &'a str,
    pub kind: Kind,
    pub resolution: i32,
}

impl Stream<'_> {
    fn filter(&self, q: &mut sea_orm::sea_query::SelectStatement) {
        q.and_where(Expr::col(col("database_name")).eq(self.database))
            .and_where(Expr::col(col("kind")).eq(self.kind.code()))
            .and_where(Expr::col(col("resolution_s")).eq(self.resolution));
    }

    /// The rows with `from <= at <= to`, oldest first.
    async fn rows(&self, db: &impl ConnectionTrait, from: i64, to: Option<i64>) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut q = Query::select();
        q.columns([col("at_s"), col("data")]).from(col(PACKS));
        self.filter(&mut q);
        q.and_where(Expr::col(col("at_s")).gte(from));
        if let Some(to) = to {
            q.and_where(Expr::col(col("at_s")).lte(to));
        }
        q.order_by(col("at_s"), Order::Asc);
        let mut out = Vec::new();
        for row in db.query_all(&q).await? {
            out.push((row.try_get::<i64>("", "at_s")?, row.try_get::<Vec<u8>>("", "data")?));
        }
        Ok(out)
    }

    /// The oldest row's time with `from <= at <= to`.
    pub(crate) async fn first_at(&self, db: &impl ConnectionTrait, from: i64, to: i64) -> Result<Option<i64>> {
        self.edge_at(db, from, to, Order::Asc).await
    }

    /// The oldest (`Order::Asc`) or newest row's time with `from <= at <= to`.
    async fn edge_at(&self, db: &impl ConnectionTrait, from: i64, to: i64, order: Order) -> Result<Option<i64>> {
        let mut q = Query::select();
        q.column(col("at_s")).from(col(PACKS));
        self.filter(&mut q);
        q.and_where(Expr::col(col("at_s")).gte(from)).and_where(Expr::col(col("at_s")).lte(to));
        q.order_by(col("at_s"), order).limit(1);
        Ok(db.query_one(&q).await?.map(|r| r.try_get::<i64>("", "at_s")).transpose()?)
    }

    /// The ids of every object some row names.
    pub(crate) async fn named(&self, db: &impl ConnectionTrait) -> Result<HashSet<i32>> {
        let mut out = HashSet::new();
        for (_, data) in self.rows(db, i64::MIN, None).await? {
            named_ids(&data, width(self.kind), &mut out)?;
        }
        Ok(out)
    }

    /// Calls `each` with every sample time from `from` to `to` (inclusive) and the objects present then.
    pub(crate) async fn each(
        &self,
        db: &impl ConnectionTrait,
        from: i64,
        to: i64,
        mut each: impl FnMut(i64, &State),
    ) -> Result<()> {
        if from > to {
            return Ok(());
        }
        let rows = self.rows(db, period_start(from, self.resolution), Some(to)).await?;
        replay(&rows, self.kind, State::new(), |at, state| {
            if at >= from {
                each(at, state)
            }
        })?;
        Ok(())
    }

    /// For each of `ids`, its newest sample with `from <= at <= to`: the time and its columns then. Reads back a
    /// period at a time from the newest row, each replayed from its key row, until every id is found or `from` is
    /// passed: a page of objects sampled a minute ago reads one period, not the whole stream.
    pub(crate) async fn newest_in(
        &self,
        db: &impl ConnectionTrait,
        from: i64,
        to: i64,
        ids: &[i32],
    ) -> Result<HashMap<i32, (i64, Vec<Col>)>> {
        let mut out = HashMap::new();
        let mut wanted: Vec<i32> = ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut end = to;
        while !wanted.is_empty() && from <= end {
            let Some(last) = self.edge_at(db, from, end, Order::Desc).await? else { break };
            let start = period_start(last, self.resolution);
            let rows = self.rows(db, start, Some(end)).await?;
            follow_many(&rows, width(self.kind), &wanted, |at, present| {
                if at >= from {
                    for (id, cols) in present {
                        out.insert(*id, (at, cols.clone()));
                    }
                }
            })?;
            wanted.retain(|id| !out.contains_key(id));
            end = start.saturating_sub(1);
        }
        Ok(out)
    }

    /// Each object's rows from `from` to `to` (inclusive), oldest first (only object `only`'s when given).
    pub(crate) async fn by_object(
        &self,
        db: &impl ConnectionTrait,
        from: i64,
        to: i64,
        only: Option<i32>,
    ) -> Result<BTreeMap<i32, Vec<Row>>> {
        let mut out: BTreeMap<i32, Vec<Row>> = BTreeMap::new();
        let row = |at: i64, cols: &[Col]| Row { at, values: values(cols), epoch: Epoch::default() };
        if let Some(id) = only {
            // One object's chart: its entries followed through the rows, the other objects' skipped unread.
            if from <= to {
                let rows = self.rows(db, period_start(from, self.resolution), Some(to)).await?;
                let mut points = Vec::new();
                follow(&rows, width(self.kind), id, |at, cols| {
                    if at >= from {
                        points.push(row(at, cols));
                    }
                })?;
                if !points.is_empty() {
                    out.insert(id, points);
                }
            }
            return Ok(out);
        }
        self.each(db, from, to, |at, state| {
            for (id, cols) in state {
                out.entry(*id).or_default().push(row(at, cols));
            }
        })
        .await?;
        Ok(out)
    }

    /// The newest row: its time and value.
    async fn newest_row(&self, db: &impl ConnectionTrait) -> Result<Option<(i64, Vec<u8>)>> {
        let mut q = Query::select();
        q.columns([col("at_s"), col("data")]).from(col(PACKS));
        self.filter(&mut q);
        q.order_by(col("at_s"), Order::Desc).limit(1);
        match db.query_one(&q).await? {
            Some(r) => Ok(Some((r.try_get("", "at_s")?, r.try_get("", "data")?))),
            None => Ok(None),
        }
    }

    fn tail_key(&self) -> (String, i32, i32) {
        (self.database.to_string(), self.kind.code(), self.resolution)
    }

    /// Writes the objects present at each of `snapshots`' times. At a time already written, the objects it has
    /// are kept as they are and the others added (as a sample already stored for that second is left alone).
    /// `tails` spares an append the replay of its period when it holds the stream's newest row.
    pub(crate) async fn write(
        &self,
        db: &impl ConnectionTrait,
        snapshots: BTreeMap<i64, Snapshot>,
        tails: &mut Tails,
    ) -> Result<()> {
        let Some(first) = snapshots.keys().next().copied() else {
            return Ok(());
        };
        let newest = self.newest_row(db).await?;
        let res = self.resolution;
        let cached = tails.0.remove(&self.tail_key());
        let (prior, prior_at, frames, existing) = match &newest {
            Some((last, _)) if first <= *last => {
                // Late: the period `first` falls in is read (with the period before, for the steps) and re-encoded.
                let start = period_start(first, res);
                let rows = self.rows(db, period_start(start.saturating_sub(1), res), None).await?;
                let split = rows.partition_point(|(at, _)| *at < start);
                let prior_at = split.checked_sub(1).map(|i| rows[i].0);
                let prior = replay(&rows[..split], self.kind, State::new(), |_, _| {})?;
                let mut frames: BTreeMap<i64, Snapshot> = BTreeMap::new();
                replay(&rows[split..], self.kind, prior.clone(), |at, state| {
                    frames.insert(at, state.iter().map(|(id, cols)| (*id, values(cols))).collect());
                })?;
                let existing: BTreeMap<i64, Vec<u8>> = rows.into_iter().skip(split).collect();
                for (at, objects) in snapshots {
                    let frame = frames.entry(at).or_default();
                    for (id, v) in objects {
                        frame.entry(id).or_insert(v);
                    }
                }
                (prior, prior_at, frames, existing)
            }
            Some((last, data)) => {
                // The state after the newest row: kept from this process's last write when that row is still the
                // one it wrote (same time, same bytes), else replayed from the period's key row.
                let prior = match cached {
                    Some(tail) if tail.at == *last && tail.data == *data => tail.state,
                    _ => {
                        let rows = self.rows(db, period_start(*last, res), None).await?;
                        replay(&rows, self.kind, State::new(), |_, _| {})?
                    }
                };
                (prior, Some(*last), snapshots, BTreeMap::new())
            }
            None => (State::new(), None, snapshots, BTreeMap::new()),
        };
        let (mut prior, mut prior_at) = (prior, prior_at);
        let (mut inserts, mut updates) = (Vec::new(), Vec::new());
        let mut newest_data = newest.map(|(_, data)| data);
        for (at, objects) in &frames {
            let stored = existing.get(at);
            if objects.is_empty() && prior.is_empty() && stored.is_none() {
                continue;
            }
            let key = prior_at.is_none_or(|p| p.div_euclid(period(res)) != at.div_euclid(period(res)));
            let (data, state) = encode(&prior, objects, key);
            match stored {
                Some(old) if *old == data => {}
                Some(_) => updates.push((*at, data.clone())),
                None => inserts.push((*at, data.clone())),
            }
            newest_data = Some(data);
            (prior, prior_at) = (state, Some(*at));
        }
        for (at, data) in updates {
            self.update(db, at, data).await?;
        }
        for chunk in inserts.chunks(CHUNK) {
            let mut insert = Query::insert();
            insert.into_table(col(PACKS)).columns([
                col("database_name"),
                col("kind"),
                col("resolution_s"),
                col("at_s"),
                col("data"),
            ]);
            for (at, data) in chunk {
                let values: [Value; 5] = [
                    self.database.into(),
                    (self.kind.code() as i16).into(),
                    res.into(),
                    (*at).into(),
                    data.clone().into(),
                ];
                insert.values_panic(values.map(Expr::val));
            }
            db.execute(&insert).await?;
        }
        // The frames end at the newest row (a late write re-encodes up to it), so `prior` is the state after it.
        if let (Some(at), Some(data)) = (prior_at, newest_data) {
            tails.0.insert(self.tail_key(), Tail { at, data, state: prior });
        }
        Ok(())
    }

    async fn update(&self, db: &impl ConnectionTrait, at: i64, data: Vec<u8>) -> Result<()> {
        let update = Query::update()
            .table(col(PACKS))
            .value(col("data"), data)
            .and_where(Expr::col(col("database_name")).eq(self.database))
            .and_where(Expr::col(col("kind")).eq(self.kind.code()))
            .and_where(Expr::col(col("resolution_s")).eq(self.resolution))
            .and_where(Expr::col(col("at_s")).eq(at))
            .to_owned();
        db.execute(&update).await?;
        Ok(())
    }

    /// Deletes the rows older than `before`, making the first one kept a key row first. Answers whether the
    /// stream turned a day over: rows were deleted and none is left, or the oldest left is of a later UTC day than
    /// the newest deleted (once a day per stream in steady use).
    async fn delete_older(&self, db: &impl ConnectionTrait, before: i64) -> Result<bool> {
        let mut q = Query::select();
        q.column(col("at_s")).from(col(PACKS));
        self.filter(&mut q);
        q.and_where(Expr::col(col("at_s")).lt(before)).order_by(col("at_s"), Order::Desc).limit(1);
        let Some(deleted) = db.query_one(&q).await?.map(|r| r.try_get::<i64>("", "at_s")).transpose()? else {
            return Ok(false);
        };
        let mut q = Query::select();
        q.columns([col("at_s"), col("data")]).from(col(PACKS));
        self.filter(&mut q);
        q.and_where(Expr::col(col("at_s")).gte(before)).order_by(col("at_s"), Order::Asc).limit(1);
        let kept = db.query_one(&q).await?;
        let mut turned = true;
        if let Some(row) = kept {
            let (at, data): (i64, Vec<u8>) = (row.try_get("", "at_s")?, row.try_get("", "data")?);
            turned = at.div_euclid(86_400) != deleted.div_euclid(86_400);
            if data.first() != Some(&KEY) {
                let rows = self.rows(db, period_start(at, self.resolution), Some(at)).await?;
                let state = replay(&rows, self.kind, State::new(), |_, _| {})?;
                self.update(db, at, encode_key(&state)).await?;
            }
        }
        let delete = Query::delete()
            .from_table(col(PACKS))
            .and_where(Expr::col(col("database_name")).eq(self.database))
            .and_where(Expr::col(col("kind")).eq(self.kind.code()))
            .and_where(Expr::col(col("resolution_s")).eq(self.resolution))
            .and_where(Expr::col(col("at_s")).lt(before))
            .to_owned();
        db.execute(&delete).await?;
        Ok(turned)
    }
}

/// Deletes every database's rows at `resolution` older than `before`; answers the databases whose statement
/// streams turned a day over (see [`Stream::delete_older`]: their texts are worth looking at).
pub(crate) async fn delete_older(db: &impl ConnectionTrait, resolution: i32, before: i64) -> Result<Vec<String>> {
    let q = Query::select()
        .distinct()
        .columns([col("database_name"), col("kind")])
        .from(col(PACKS))
        .and_where(Expr::col(col("resolution_s")).eq(resolution))
        .and_where(Expr::col(col("at_s")).lt(before))
        .to_owned();
    let mut turned = Vec::new();
    for row in db.query_all(&q).await? {
        let database: String = row.try_get("", "database_name")?;
        let Some(kind) = Kind::from_code(row.try_get::<i16>("", "kind")?) else { continue };
        if (Stream { database: &database, kind, resolution }).delete_older(db, before).await? && kind == Kind::Statement
        {
            turned.push(database);
        }
    }
    Ok(turned)
}

/// Moves the rows of the row-per-sample tables (`sample_tables`, `sample_indexes` from before migration 000017,
/// `sample_statements` from before Strata packed statements too) into `sample_packs`, a window at a time, and
/// deletes them. Does nothing when they are empty; safe to run again after an interruption (times already packed
/// keep what they have).
pub(crate) async fn convert_rows(db: &impl ConnectionTrait) -> Result<()> {
    let legacy: [(Kind, &str, &[&str]); 3] = [
        (Kind::Table, "sample_tables", &["total_bytes", "table_bytes", "index_bytes", "rows_estimate"]),
        (Kind::Index, "sample_indexes", &["scans"]),
        (Kind::Statement, "sample_statements", &["calls", "total_us", "rows_out", "blks_hit", "blks_read"]),
    ];
    for (kind, table, columns) in legacy {
        let any = Query::select().column(col("object_id")).from(col(table)).limit(1).to_owned();
        if db.query_one(&any).await?.is_none() {
            continue;
        }
        // Tables and indexes are named in `sample_objects`, statements in `sample_queries`.
        let of_kind = |q: &mut sea_orm::sea_query::SelectStatement| {
            if kind == Kind::Statement {
                q.from(col("sample_queries"));
            } else {
                q.from(col("sample_objects")).and_where(Expr::col(col("kind")).eq(kind.name()));
            }
        };
        let mut databases = Query::select();
        databases.distinct().column(col("database_name"));
        of_kind(&mut databases);
        let databases: Vec<String> = db
            .query_all(&databases)
            .await?
            .into_iter()
            .map(|r| r.try_get::<String>("", "database_name"))
            .collect::<std::result::Result<_, _>>()?;
        for database in &databases {
            let mut ids = Query::select();
            ids.column(col("id")).and_where(Expr::col(col("database_name")).eq(database.as_str()));
            of_kind(&mut ids);
            for resolution in [RAW, FIVE_MINUTES, HOURLY] {
                let stream = Stream { database, kind, resolution };
                let of_stream = |q: &mut sea_orm::sea_query::SelectStatement| {
                    q.from(col(table))
                        .and_where(Expr::col(col("object_id")).in_subquery(ids.clone()))
                        .and_where(Expr::col(col("resolution_s")).eq(resolution));
                };
                let mut range = Query::select();
                range
                    .expr_as(sea_orm::sea_query::Func::min(Expr::col(col("at_s"))), col("first"))
                    .expr_as(sea_orm::sea_query::Func::max(Expr::col(col("at_s"))), col("last"));
                of_stream(&mut range);
                let Some(row) = db.query_one(&range).await? else { continue };
                let (Some(first), Some(last)) =
                    (row.try_get::<Option<i64>>("", "first")?, row.try_get::<Option<i64>>("", "last")?)
                else {
                    continue;
                };
                let mut start = period_start(first, resolution);
                while start <= last {
                    let end = start.saturating_add(period(resolution));
                    let mut q = Query::select();
                    q.columns([col("object_id"), col("at_s")]).columns(columns.iter().map(|c| col(c)));
                    of_stream(&mut q);
                    q.and_where(Expr::col(col("at_s")).gte(start)).and_where(Expr::col(col("at_s")).lt(end));
                    let mut snapshots: BTreeMap<i64, Snapshot> = BTreeMap::new();
                    for row in db.query_all(&q).await? {
                        let mut values = Vec::with_capacity(columns.len());
                        for c in columns {
                            values.push(row.try_get::<Option<i64>>("", c)?);
                        }
                        let at: i64 = row.try_get("", "at_s")?;
                        snapshots.entry(at).or_default().insert(row.try_get("", "object_id")?, values);
                    }
                    stream.write(db, snapshots, &mut Tails::default()).await?;
                    start = end;
                }
            }
        }
        db.execute(&Query::delete().from_table(col(table)).to_owned()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(objects: &[(i32, &[Option<i64>])]) -> Snapshot {
        objects.iter().map(|(id, v)| (*id, v.to_vec())).collect()
    }

    fn round_trip(frames: &[Snapshot]) -> Vec<usize> {
        let (mut prior, mut sizes) = (State::new(), Vec::new());
        for (i, objects) in frames.iter().enumerate() {
            let (data, state) = encode(&prior, objects, i == 0);
            let mut decoded = prior.clone();
            apply(&mut decoded, &data, 4).unwrap();
            assert_eq!(decoded, state, "row {i} decodes to what was encoded");
            let read: Snapshot = decoded.iter().map(|(id, c)| (*id, values(c))).collect();
            assert_eq!(&read, objects, "row {i}");
            sizes.push(data.len());
            prior = state;
        }
        sizes
    }

    #[test]
    fn steady_growth_and_unchanged_objects_cost_nothing_after_the_first_rows() {
        let frames: Vec<Snapshot> = (0..10)
            .map(|g| {
                snapshot(&[
                    (3, &[Some(100 + g * 7), Some(5), None, Some(i64::MAX - g)]),
                    (9, &[Some(16_384), Some(0), Some(1), Some(2)]),
                ])
            })
            .collect();
        let sizes = round_trip(&frames);
        assert_eq!(&sizes[2..], &[1; 8], "only the delta row's own byte");
    }

    #[test]
    fn objects_appear_disappear_and_values_go_missing_and_jump() {
        let frames = vec![
            snapshot(&[(1, &[Some(10), None, None, None]), (2, &[Some(-5), Some(0), Some(0), Some(0)])]),
            snapshot(&[(2, &[Some(-5), Some(i64::MIN), Some(0), Some(0)])]),
            snapshot(&[(1, &[None, None, None, None]), (2, &[Some(7), None, Some(0), Some(0)])]),
            snapshot(&[]),
            snapshot(&[(40_000, &[Some(1), Some(2), Some(3), Some(4)]), (1, &[Some(3), None, None, None])]),
        ];
        round_trip(&frames);
    }

    #[test]
    fn following_one_object_gives_what_replaying_every_object_gives() {
        let frames = [
            snapshot(&[(1, &[Some(10), None, None, None]), (2, &[Some(-5), Some(0), Some(0), Some(0)])]),
            snapshot(&[(2, &[Some(-5), Some(i64::MIN), Some(0), Some(0)]), (1, &[Some(11), None, None, None])]),
            snapshot(&[(1, &[Some(12), None, None, None]), (2, &[Some(7), None, Some(0), Some(0)])]),
            snapshot(&[(2, &[Some(9), None, Some(0), Some(0)])]),
            snapshot(&[]),
            snapshot(&[(40_000, &[Some(1), Some(2), Some(3), Some(4)]), (1, &[Some(3), None, None, None])]),
            snapshot(&[(40_000, &[Some(1), Some(2), Some(3), Some(5)]), (1, &[Some(3), None, None, None])]),
            snapshot(&[(40_000, &[Some(1), Some(2), Some(3), Some(6)]), (2, &[Some(1), None, None, None])]),
        ];
        let mut rows = vec![(0, vec![DELTA, 2, 0])]; // before the first key row: skipped by both
        let mut prior = State::new();
        for (i, objects) in frames.iter().enumerate() {
            let (data, state) = encode(&prior, objects, i == 0 || i == 5 || i == 7);
            rows.push((i as i64 + 1, data));
            prior = state;
        }
        for id in [1, 2, 3, 40_000] {
            let mut want = Vec::new();
            replay(&rows, Kind::Table, State::new(), |at, state| {
                if let Some(cols) = state.get(&id) {
                    want.push((at, cols.clone()));
                }
            })
            .unwrap();
            let mut got = Vec::new();
            follow(&rows, 4, id, |at, cols| got.push((at, cols.to_vec()))).unwrap();
            assert_eq!(got, want, "object {id}");
        }
        // Several followed together: after each row, those of them the full replay has, with the same columns.
        for ids in [vec![1, 2], vec![2, 40_000, 3], vec![1, 2, 40_000]] {
            let mut want = Vec::new();
            replay(&rows, Kind::Table, State::new(), |at, state| {
                let mut present: Vec<(i32, Vec<Col>)> =
                    state.iter().filter(|(id, _)| ids.contains(id)).map(|(id, c)| (*id, c.clone())).collect();
                present.sort_by_key(|(id, _)| *id);
                want.push((at, present));
            })
            .unwrap();
            let mut got = Vec::new();
            follow_many(&rows, 4, &ids, |at, present| {
                let mut present: Vec<(i32, Vec<Col>)> = present.iter().map(|(id, c)| (*id, c.clone())).collect();
                present.sort_by_key(|(id, _)| *id);
                got.push((at, present));
            })
            .unwrap();
            assert_eq!(got, want, "objects {ids:?}");
        }
    }

    #[test]
    fn a_truncated_row_is_an_error_not_a_panic() {
        let (data, _) = encode(&State::new(), &snapshot(&[(1, &[Some(1 << 40), None, None, None])]), true);
        assert!(apply(&mut State::new(), &data[..data.len() - 1], 4).is_err());
    }
}
