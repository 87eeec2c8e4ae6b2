//! Each table's growth over a span (7 days on the tables page) from the samples: its newest sample's total size
//! against the newest sample at or within an hour before the span's start (raw, else a 5-minute or hourly
//! average), and nothing when there is none. Every value is one index seek on `sample_tables`' key, so a page of
//! 50 tables costs 50 lookups and sorting every sampled table by growth costs one per table, never a read of the
//! samples themselves.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Order, Query, QueryStatementBuilder, SelectStatement};

use super::{FIVE_MINUTES, HOURLY, OBJECTS, RAW, TABLES, col};
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
    let newest = |column: &str, fresh: bool| {
        let mut q = Query::select();
        q.column(col(column))
            .from(col(TABLES))
            .and_where(Expr::col(col("object_id")).equals((col("o"), col("id"))))
            .and_where(Expr::col(col("resolution_s")).eq(RAW))
            .and_where(Expr::col(col("at_s")).lte(now))
            .order_by(col("at_s"), Order::Desc)
            .limit(1);
        if fresh {
            q.and_where(Expr::col(col("at_s")).gte(now - FRESH_S));
        }
        scalar(q)
    };
    let back = |resolution: i32| {
        let q = Query::select()
            .column(col("total_bytes"))
            .from(col(TABLES))
            .and_where(Expr::col(col("object_id")).equals((col("o"), col("id"))))
            .and_where(Expr::col(col("resolution_s")).eq(resolution))
            .and_where(Expr::col(col("at_s")).lte(then))
            .and_where(Expr::col(col("at_s")).gte(then - SLACK_S - resolution as i64))
            .order_by(col("at_s"), Order::Desc)
            .limit(1)
            .to_owned();
        scalar(q)
    };
    let mut inner = Query::select();
    inner
        .expr_as(Expr::col((col("o"), col("schema_name"))), col("schema_name"))
        .expr_as(Expr::col((col("o"), col("object_name"))), col("object_name"))
        .expr_as(newest("total_bytes", false), col("total_bytes"))
        .expr_as(newest("table_bytes", false), col("table_bytes"))
        .expr_as(newest("index_bytes", false), col("index_bytes"))
        .expr_as(newest("rows_estimate", false), col("rows_estimate"))
        .expr_as(Func::coalesce([back(RAW), back(FIVE_MINUTES), back(HOURLY)]), col("then_bytes"))
        .from_as(col(OBJECTS), col("o"));
    let filter = |q: &mut SelectStatement| {
        q.and_where(Expr::col((col("o"), col("database_name"))).eq(database))
            .and_where(Expr::col((col("o"), col("kind"))).eq("table"));
    };
    filter(&mut inner);
    let grown = || Expr::col(col("total_bytes")).sub(Expr::col(col("then_bytes")));
    let mut outer = Query::select();
    outer
        .columns([
            col("schema_name"),
            col("object_name"),
            col("total_bytes"),
            col("table_bytes"),
            col("index_bytes"),
            col("rows_estimate"),
        ])
        .expr_as(grown(), col("growth"));
    let total = match which {
        Which::Named(names) => {
            if names.is_empty() {
                return Ok((Vec::new(), 0));
            }
            let any = names
                .iter()
                .map(|(s, n)| {
                    Expr::col((col("o"), col("schema_name")))
                        .eq(s.as_str())
                        .and(Expr::col((col("o"), col("object_name"))).eq(n.as_str()))
                })
                .reduce(|a, b| a.or(b))
                .unwrap_or_else(|| Expr::val(false));
            inner.and_where(any);
            outer.from_subquery(inner, col("g"));
            None
        }
        Which::ByGrowth { search, descending, offset, limit } => {
            let fresh = |q: &mut SelectStatement| {
                q.and_where(newest("total_bytes", true).is_not_null());
                if let Some(search) = search.filter(|s| !s.is_empty()) {
                    let pattern = format!("%{}%", like_escaped(&search.to_lowercase()));
                    let like = |c: &str| {
                        Func::lower(Expr::col((col("o"), col(c))))
                            .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
                    };
                    q.and_where(like("schema_name").or(like("object_name")));
                }
            };
            fresh(&mut inner);
            let mut count = Query::select();
            count.expr_as(Func::count(Expr::col((col("o"), col("id")))), col("n")).from_as(col(OBJECTS), col("o"));
            filter(&mut count);
            fresh(&mut count);
            outer
                .from_subquery(inner, col("g"))
                // PostgreSQL orders by an output column's name, not by an expression of it: spelled out.
                .order_by_expr(grown().is_null(), Order::Asc)
                .order_by_expr(grown(), if descending { Order::Desc } else { Order::Asc })
                .order_by(col("schema_name"), Order::Asc)
                .order_by(col("object_name"), Order::Asc)
                .limit(limit)
                .offset(offset);
            let row = db.query_one(&count).await?;
            Some(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) as u64)
        }
    };
    let mut out = Vec::new();
    for row in db.query_all(&outer).await? {
        out.push(Growth {
            schema: row.try_get("", "schema_name")?,
            name: row.try_get("", "object_name")?,
            total_bytes: row.try_get("", "total_bytes")?,
            table_bytes: row.try_get("", "table_bytes")?,
            index_bytes: row.try_get("", "index_bytes")?,
            rows: row.try_get("", "rows_estimate")?,
            growth: row.try_get("", "growth")?,
        });
    }
    let total = total.unwrap_or(out.len() as u64);
    Ok((out, total))
}

fn scalar(q: SelectStatement) -> Expr {
    Expr::SubQuery(None, Box::new(q.into_sub_query_statement()))
}

fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
