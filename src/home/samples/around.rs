//! "What changed around this migration": the hour before a time against the hour after it, from the raw samples —
//! the database's average size, each table's average total size and rows, each index's scans per day — with the
//! largest changes first.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query};

use super::{INDEXES, Metric, OBJECTS, RAW, TABLES, col, series_in_buckets};
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

fn real_type(db: &impl ConnectionTrait) -> Alias {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => Alias::new("DOUBLE PRECISION"),
        sea_orm::DbBackend::MySql => Alias::new("DOUBLE"),
        _ => Alias::new("REAL"),
    }
}

/// Each index's scans per day over `from..=to`: its counter's growth from its lowest to its highest value over the
/// seconds between its first and last sample (one grouped query; a stats reset inside the hour makes that index's
/// figure too high, which the chart of the index shows right).
async fn scans(db: &impl ConnectionTrait, database: &str, (from, to): (i64, i64)) -> Result<Averages> {
    let real = real_type(db);
    let c = |t: &str, c: &str| Expr::col((col(t), col(c)));
    let query = Query::select()
        .expr_as(c("o", "schema_name"), col("schema_name"))
        .expr_as(c("o", "object_name"), col("object_name"))
        .expr_as(Func::cast_as(Func::max(c("t", "scans")).sub(Func::min(c("t", "scans"))), real.clone()), col("grew"))
        .expr_as(Func::cast_as(Func::max(c("t", "at_s")).sub(Func::min(c("t", "at_s"))), real), col("secs"))
        .from_as(col(INDEXES), col("t"))
        .join_as(JoinType::InnerJoin, col(OBJECTS), col("o"), c("o", "id").equals((col("t"), col("object_id"))))
        .and_where(c("o", "database_name").eq(database))
        .and_where(c("o", "kind").eq("index"))
        .and_where(c("t", "resolution_s").eq(RAW))
        .and_where(c("t", "at_s").gte(from))
        .and_where(c("t", "at_s").lte(to))
        .and_where(c("t", "scans").is_not_null())
        .group_by_col((col("o"), col("schema_name")))
        .group_by_col((col("o"), col("object_name")))
        .to_owned();
    let mut out = HashMap::new();
    for row in db.query_all(&query).await? {
        let key: (String, String) = (row.try_get("", "schema_name")?, row.try_get("", "object_name")?);
        let (grew, secs): (Option<f64>, Option<f64>) = (row.try_get("", "grew")?, row.try_get("", "secs")?);
        if let (Some(grew), Some(secs)) = (grew, secs)
            && secs > 0.0
        {
            out.insert(key, grew / secs * 86_400.0);
        }
    }
    Ok(out)
}

/// Each table's average total bytes and rows over `from..=to`, in one grouped query.
async fn table_averages(
    db: &impl ConnectionTrait,
    database: &str,
    (from, to): (i64, i64),
) -> Result<(Averages, Averages)> {
    let real = real_type(db);
    let query = Query::select()
        .expr_as(Expr::col((col("o"), col("schema_name"))), col("schema_name"))
        .expr_as(Expr::col((col("o"), col("object_name"))), col("object_name"))
        .expr_as(Func::cast_as(Func::avg(Expr::col((col("t"), col("total_bytes")))), real.clone()), col("size"))
        .expr_as(Func::cast_as(Func::avg(Expr::col((col("t"), col("rows_estimate")))), real), col("rows"))
        .from_as(col(TABLES), col("t"))
        .join_as(
            JoinType::InnerJoin,
            col(OBJECTS),
            col("o"),
            Expr::col((col("o"), col("id"))).equals((col("t"), col("object_id"))),
        )
        .and_where(Expr::col((col("o"), col("database_name"))).eq(database))
        .and_where(Expr::col((col("o"), col("kind"))).eq("table"))
        .and_where(Expr::col((col("t"), col("resolution_s"))).eq(RAW))
        .and_where(Expr::col((col("t"), col("at_s"))).gte(from))
        .and_where(Expr::col((col("t"), col("at_s"))).lte(to))
        .group_by_col((col("o"), col("schema_name")))
        .group_by_col((col("o"), col("object_name")))
        .to_owned();
    let (mut sizes, mut rows) = (HashMap::new(), HashMap::new());
    for row in db.query_all(&query).await? {
        let key: (String, String) = (row.try_get("", "schema_name")?, row.try_get("", "object_name")?);
        if let Some(v) = row.try_get::<Option<f64>>("", "size")? {
            sizes.insert(key.clone(), v);
        }
        if let Some(v) = row.try_get::<Option<f64>>("", "rows")? {
            rows.insert(key, v);
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
