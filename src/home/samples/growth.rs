//! Each table's growth over a span (7 days on the tables page) from the samples: its newest sample's total size
//! against the newest sample at or within an hour before the span's start (raw, else a 5-minute or hourly
//! average), and nothing when there is none, from the database's packed table samples ([`super::packed`]). Sorting
//! by growth replays every sampled table's raw samples up to now (two days by default) and the hour or so before the
//! span's start; a page the catalog sorted follows only its own tables, reading back from the newest samples.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use super::{FIVE_MINUTES, HOURLY, Kind, RAW, Stream, known_named, known_objects};
use crate::error::Result;

/// How far before the span's start its sample may be.
const SLACK_S: i64 = 3600;

/// How old a table's newest sample may be for the table to be listed when sorting by growth (a dropped table drops
/// out a day after).
const FRESH_S: i64 = 86_400;

/// A table's sizes as last sampled and its growth.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Growth {
    pub schema: String,
    pub name: String,
    /// The newest sample's values.
    pub total_bytes: Option<i64>,
    pub table_bytes: Option<i64>,
    pub index_bytes: Option<i64>,
    pub rows: Option<i64>,
    /// Total bytes now minus then; `None` without a sample then.
    pub growth: Option<i64>,
}

/// Which tables and in what order.
pub enum Which<'a> {
    /// These tables (schema, name), in no particular order (a page the catalog sorted).
    Named(&'a [(String, String)]),
    /// Every table sampled in the last day whose schema or name contains `search` (any case), by growth (largest
    /// first when `descending`; tables without growth last), then by name; `offset` and `limit` as a page.
    ByGrowth { search: Option<&'a str>, descending: bool, offset: u64, limit: u64 },
}

/// The growth of `database`'s tables over `span` seconds before `now`, and how many tables `which` matches.
pub async fn growth(
    db: &impl ConnectionTrait,
    database: &str,
    now: i64,
    span: i64,
    which: Which<'_>,
) -> Result<(Vec<Growth>, u64)> {
    let then = now - span;
    let (search, descending, offset, limit) = match which {
        Which::Named(names) => return named(db, database, now, then, names).await,
        Which::ByGrowth { search, descending, offset, limit } => (search, descending, offset, limit),
    };
    let known = known_objects(db, database, Kind::Table.name()).await?;
    // Each table's newest raw sample up to `now` (raw samples are kept two days by default).
    let mut newest: HashMap<i32, (i64, [Option<i64>; 4])> = HashMap::new();
    let raw = Stream { database, kind: Kind::Table, resolution: RAW };
    raw.each(db, i64::MIN, now, |at, state| {
        for (id, cols) in state {
            newest.insert(*id, (at, [cols[0].last, cols[1].last, cols[2].last, cols[3].last]));
        }
    })
    .await?;
    let back = back_then(db, database, then, None).await?;
    let of = |name: &(String, String), id: i32| {
        growth_of(name, newest.get(&id).map(|(_, v)| *v).unwrap_or_default(), back.get(&id).copied().flatten())
    };
    let search = search.filter(|s| !s.is_empty()).map(str::to_lowercase);
    let mut out: Vec<Growth> = Vec::new();
    for (name, id) in &known {
        let fresh = newest.get(id).is_some_and(|(at, v)| *at >= now - FRESH_S && v[0].is_some());
        let found =
            search.as_ref().is_none_or(|s| name.0.to_lowercase().contains(s) || name.1.to_lowercase().contains(s));
        if fresh && found {
            out.push(of(name, *id));
        }
    }
    out.sort_by(|a, b| {
        let by_growth = match (a.growth, b.growth) {
            (Some(x), Some(y)) if descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            (x, y) => x.is_none().cmp(&y.is_none()),
        };
        by_growth.then_with(|| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)))
    });
    let total = out.len() as u64;
    let page = out.into_iter().skip(offset as usize).take(limit as usize).collect();
    Ok((page, total))
}

/// The growth of the tables named (a page the catalog sorted): only their ids are looked up and followed, reading
/// back from the newest samples until each is found, so a page costs its 50 tables, not every sampled one.
async fn named(
    db: &impl ConnectionTrait,
    database: &str,
    now: i64,
    then: i64,
    names: &[(String, String)],
) -> Result<(Vec<Growth>, u64)> {
    let known = known_named(db, database, Kind::Table.name(), names).await?;
    let ids: Vec<i32> = known.values().copied().collect();
    let raw = Stream { database, kind: Kind::Table, resolution: RAW };
    let newest = raw.newest_in(db, i64::MIN, now, &ids).await?;
    let back = back_then(db, database, then, Some(&ids)).await?;
    let mut out: Vec<Growth> = Vec::new();
    for name in names {
        if let Some(id) = known.get(name)
            && !out.iter().any(|g| (&g.schema, &g.name) == (&name.0, &name.1))
        {
            let values = newest.get(id).map(|(_, cols)| [cols[0].last, cols[1].last, cols[2].last, cols[3].last]);
            out.push(growth_of(name, values.unwrap_or_default(), back.get(id).copied().flatten()));
        }
    }
    let total = out.len() as u64;
    Ok((out, total))
}

/// Each table's total size at `then`: its newest sample at or within an hour before it, raw, else 5-minute, else
/// hourly (the newest of a resolution decides, even without a value). Only `ids`' when given.
async fn back_then(
    db: &impl ConnectionTrait,
    database: &str,
    then: i64,
    ids: Option<&[i32]>,
) -> Result<HashMap<i32, Option<i64>>> {
    let mut back: HashMap<i32, Option<i64>> = HashMap::new();
    for resolution in [RAW, FIVE_MINUTES, HOURLY] {
        let stream = Stream { database, kind: Kind::Table, resolution };
        let from = then.saturating_sub(SLACK_S + resolution as i64);
        let found: HashMap<i32, Option<i64>> = match ids {
            Some(ids) => {
                let missing: Vec<i32> = ids.iter().copied().filter(|id| !back.contains_key(id)).collect();
                stream
                    .newest_in(db, from, then, &missing)
                    .await?
                    .into_iter()
                    .map(|(id, (_, c))| (id, c[0].last))
                    .collect()
            }
            None => {
                let mut found = HashMap::new();
                stream
                    .each(db, from, then, |_, state| {
                        for (id, cols) in state {
                            found.insert(*id, cols[0].last);
                        }
                    })
                    .await?;
                found
            }
        };
        for (id, total) in found {
            let kept = back.entry(id).or_insert(None);
            if kept.is_none() {
                *kept = total;
            }
        }
    }
    Ok(back)
}

/// A table's growth from its newest values and its total size then.
fn growth_of((schema, name): &(String, String), values: [Option<i64>; 4], then_bytes: Option<i64>) -> Growth {
    Growth {
        schema: schema.clone(),
        name: name.clone(),
        total_bytes: values[0],
        table_bytes: values[1],
        index_bytes: values[2],
        rows: values[3],
        growth: values[0].zip(then_bytes).map(|(now, then)| now - then),
    }
}
