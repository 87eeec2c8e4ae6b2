//! "What changed around this migration": the hour before a time against the hour after it, from the raw samples —
//! the database's average size, each table's average total size and rows, each index's scans per day — with the
//! largest changes first.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use super::{Kind, Metric, RAW, Stream, known_objects, series_in_buckets};
use crate::error::Result;

/// The window on each side of the time.
pub const WINDOW_S: i64 = 3600;

/// One object's value before and after.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    pub schema: String,
    pub name: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
}

impl Change {
    /// After minus before, when both are known.
    pub fn delta(&self) -> Option<f64> {
        Some(self.after? - self.before?)
    }
}

/// What changed around a time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Around {
    pub db_size: Change,
    /// Tables by the size of their change in total bytes, largest first.
    pub table_sizes: Vec<Change>,
    /// Tables by the size of their change in rows, largest first.
    pub table_rows: Vec<Change>,
    /// Indexes by the size of their change in scans per day, largest first.
    pub index_scans: Vec<Change>,
}

/// The hour before `at` against the hour after it for `database`, the `top` largest changes of each kind.
pub async fn around(db: &impl ConnectionTrait, database: &str, at: i64, top: usize) -> Result<Around> {
    let (before, after) = ((at - WINDOW_S, at - 1), (at, at + WINDOW_S));
    let one = |(from, to): (i64, i64), metric: Metric| async move {
        // One bucket spanning the whole window.
        let r = series_in_buckets(db, database, &metric, from, to, RAW, to - from + 1).await?;
        Ok::<_, crate::error::Error>(r.points.first().map(|p| p.1))
    };
    let db_size = Change {
        schema: String::new(),
        name: database.to_string(),
        before: one(before, Metric::Database("db_size")).await?,
        after: one(after, Metric::Database("db_size")).await?,
    };
    let (sizes_before, rows_before) = table_averages(db, database, before).await?;
    let (sizes_after, rows_after) = table_averages(db, database, after).await?;
    let table_sizes = changes(&sizes_before, &sizes_after, top);
    let table_rows = changes(&rows_before, &rows_after, top);
    let index_scans = changes(&scans(db, database, before).await?, &scans(db, database, after).await?, top);
    Ok(Around { db_size, table_sizes, table_rows, index_scans })
}

type Averages = HashMap<(String, String), f64>;

/// `database`'s objects of `kind` by id, with their (schema, name).
async fn names(db: &impl ConnectionTrait, database: &str, kind: Kind) -> Result<HashMap<i32, (String, String)>> {
    Ok(known_objects(db, database, kind.name()).await?.into_iter().map(|(name, id)| (id, name)).collect())
}

/// Each index's scans per day over `from..=to`: its counter's growth from its lowest to its highest value over the
/// seconds between its first and last sample (a stats reset inside the hour makes that index's figure too high,
/// which the chart of the index shows right).
async fn scans(db: &impl ConnectionTrait, database: &str, (from, to): (i64, i64)) -> Result<Averages> {
    let stream = Stream { database, kind: Kind::Index, resolution: RAW };
    // (lowest, highest, first time, last time) of each index's scans.
    let mut seen: HashMap<i32, (i64, i64, i64, i64)> = HashMap::new();
    stream
        .each(db, from, to, |at, state| {
            for (id, cols) in state {
                if let Some(v) = cols[0].last {
                    let s = seen.entry(*id).or_insert((v, v, at, at));
                    *s = (Ord::min(s.0, v), Ord::max(s.1, v), Ord::min(s.2, at), Ord::max(s.3, at));
                }
            }
        })
        .await?;
    let names = names(db, database, Kind::Index).await?;
    let mut out = HashMap::new();
    for (id, (low, high, first, last)) in seen {
        if let Some(name) = names.get(&id)
            && last > first
        {
            out.insert(name.clone(), (high - low) as f64 / (last - first) as f64 * 86_400.0);
        }
    }
    Ok(out)
}

/// Each table's average total bytes and rows over `from..=to`.
async fn table_averages(
    db: &impl ConnectionTrait,
    database: &str,
    (from, to): (i64, i64),
) -> Result<(Averages, Averages)> {
    let stream = Stream { database, kind: Kind::Table, resolution: RAW };
    // (sum, count) of each table's total bytes and rows.
    let mut sums: HashMap<i32, [(i128, i64); 2]> = HashMap::new();
    stream
        .each(db, from, to, |_, state| {
            for (id, cols) in state {
                let s = sums.entry(*id).or_default();
                for (k, column) in [0, 3].into_iter().enumerate() {
                    if let Some(v) = cols[column].last {
                        s[k] = (s[k].0 + v as i128, s[k].1 + 1);
                    }
                }
            }
        })
        .await?;
    let names = names(db, database, Kind::Table).await?;
    let (mut sizes, mut rows) = (HashMap::new(), HashMap::new());
    for (id, [size, count]) in sums {
        let Some(name) = names.get(&id) else { continue };
        if size.1 > 0 {
            sizes.insert(name.clone(), size.0 as f64 / size.1 as f64);
        }
        if count.1 > 0 {
            rows.insert(name.clone(), count.0 as f64 / count.1 as f64);
        }
    }
    Ok((sizes, rows))
}

/// The objects in either map, by the size of their change (those with both values first), at most `top`.
fn changes(before: &Averages, after: &Averages, top: usize) -> Vec<Change> {
    let mut keys: Vec<&(String, String)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out: Vec<Change> = keys
        .into_iter()
        .map(|k| Change {
            schema: k.0.clone(),
            name: k.1.clone(),
            before: before.get(k).copied(),
            after: after.get(k).copied(),
        })
        .collect();
    let size = |c: &Change| c.delta().map(f64::abs).unwrap_or(f64::MAX);
    out.sort_by(|a, b| size(b).total_cmp(&size(a)).then_with(|| (&a.schema, &a.name).cmp(&(&b.schema, &b.name))));
    out.truncate(top);
    out
}
