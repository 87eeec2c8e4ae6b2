//! Pages of a listing in schema-then-name order, walked schema by schema along the catalog's name index.
//!
//! The tables page by name and the indexes page by table list relations ordered by (schema, name). Sorting
//! every relation of the database to show 50 of them costs what the catalog holds; instead one pass counts
//! each schema's relations (the total), and the page is read schema by schema with `ORDER BY relname`
//! `LIMIT`/`OFFSET`, which PostgreSQL answers from `pg_class_relname_nsp_index` and stops after the page.
//! A page in the second half of a schema is read from the other end (the reverse order, the mirrored
//! offset), so the last page costs what the first does. Names compare as `name` does (bytewise, the "C"
//! collation), exactly as the `::text` sort this replaces.
//!
//! Counting is the one pass over `pg_class` left (about 70,000 rows for 10,000 tables with 3 indexes each,
//! several milliseconds), so the counts are reused for [`COUNTS_FOR`] while no relation was created since:
//! the highest oid in `pg_class` (read from its oid index, microseconds) moves with every CREATE. A DROP or
//! a move to another schema reaches the total within [`COUNTS_FOR`]; the rows of a page are always read live.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::FromQueryResult;

use super::{Postgres, bigint};
use crate::error::Result;

/// How many relations each user schema holds, in schema name order. `{kinds}`: a `relkind` list.
const COUNTS_SQL: &str = r"
SELECT n.oid::bigint AS ns, count(c.oid) AS total
FROM pg_namespace n
JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ({kinds})
WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
GROUP BY n.oid, n.nspname
ORDER BY n.nspname";

/// The highest oid in `pg_class`: a new relation gets a higher one (until the oid counter wraps around).
const MAX_OID_SQL: &str = "SELECT max(oid)::bigint AS max_oid FROM pg_class";

/// How long counts are reused while no relation was created.
const COUNTS_FOR: Duration = Duration::from_secs(2);

#[derive(FromQueryResult)]
struct MaxOid {
    max_oid: Option<i64>,
}

/// Per-schema counts by relkind list, as last read.
#[derive(Default)]
pub(super) struct Counts(Mutex<HashMap<&'static str, Counted>>);

#[derive(Clone)]
struct Counted {
    at: Instant,
    max_oid: Option<i64>,
    schemas: Vec<(i64, u64)>,
}

impl Counts {
    /// The counts for `kinds` if read less than [`COUNTS_FOR`] ago with the same highest oid.
    fn fresh(&self, kinds: &'static str, max_oid: Option<i64>) -> Option<Vec<(i64, u64)>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(kinds).filter(|c| c.max_oid == max_oid && c.at.elapsed() < COUNTS_FOR).map(|c| c.schemas.clone())
    }

    fn keep(&self, kinds: &'static str, max_oid: Option<i64>, at: Instant, schemas: &[(i64, u64)]) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(kinds, Counted { at, max_oid, schemas: schemas.to_vec() });
    }
}

#[derive(FromQueryResult)]
struct SchemaCount {
    ns: i64,
    total: i64,
}

/// What to read of one schema: its oid, how many of its rows to skip, how many to take, and whether to
/// read them from the end (then the rows come back reversed and are turned round).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Slice {
    pub ns: i64,
    pub offset: u64,
    pub limit: u64,
    pub from_end: bool,
}

/// The slices of the schemas (`(oid, count)`, in listing order) that a page of `limit` rows from `offset` covers.
pub(super) fn slices(counts: &[(i64, u64)], mut offset: u64, mut limit: u64) -> Vec<Slice> {
    let mut out = Vec::new();
    for &(ns, count) in counts {
        if limit == 0 {
            break;
        }
        if offset >= count {
            offset -= count;
            continue;
        }
        let take = limit.min(count - offset);
        // Past the middle, the rows before the page outnumber those after it: skip the latter instead.
        let from_end = offset > count - offset - take;
        let skip = if from_end { count - offset - take } else { offset };
        out.push(Slice { ns, offset: skip, limit: take, from_end });
        limit -= take;
        offset = 0;
    }
    out
}

impl Postgres {
    /// A page of relations of the kinds `kinds` (a quoted `relkind` list) in (schema, name) order, and how
    /// many there are in all. `page_sql` reads one schema's rows: `$1` its oid, `$2` limit, `$3` offset,
    /// `{dir}` replaced by ASC or DESC.
    pub(super) async fn walk<T: FromQueryResult>(
        &self,
        kinds: &'static str,
        page_sql: &str,
        descending: bool,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<T>, u64)> {
        let mut counts = self.schema_counts(kinds).await?;
        if descending {
            counts.reverse();
        }
        let total = counts.iter().map(|c| c.1).sum();
        let mut rows = Vec::new();
        for slice in slices(&counts, offset, limit) {
            let dir = if descending != slice.from_end { "DESC" } else { "ASC" };
            let values =
                [slice.ns.into(), bigint(slice.limit, "limit")?.into(), bigint(slice.offset, "offset")?.into()];
            let mut got: Vec<T> = self.all(&page_sql.replace("{dir}", dir), values).await?;
            if slice.from_end {
                got.reverse();
            }
            rows.extend(got);
        }
        Ok((rows, total))
    }

    /// How many relations of `kinds` each user schema holds, in schema name order (reused, see the module comment).
    async fn schema_counts(&self, kinds: &'static str) -> Result<Vec<(i64, u64)>> {
        let max_oid = self.one::<MaxOid>(MAX_OID_SQL, []).await?.and_then(|r| r.max_oid);
        if let Some(counts) = self.counts.fresh(kinds, max_oid) {
            return Ok(counts);
        }
        let at = Instant::now();
        let rows: Vec<SchemaCount> = self.all(&COUNTS_SQL.replace("{kinds}", kinds), []).await?;
        let counts: Vec<(i64, u64)> = rows.into_iter().map(|c| (c.ns, c.total.max(0) as u64)).collect();
        self.counts.keep(kinds, max_oid, at, &counts);
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(ns: i64, offset: u64, limit: u64, from_end: bool) -> Slice {
        Slice { ns, offset, limit, from_end }
    }

    #[test]
    fn a_first_page_reads_the_start_of_the_first_schema() {
        assert_eq!(slices(&[(1, 100), (2, 100)], 0, 50), [slice(1, 0, 50, false)]);
    }

    #[test]
    fn a_page_across_two_schemas_reads_the_end_of_one_and_the_start_of_the_next() {
        assert_eq!(slices(&[(1, 70), (2, 100)], 50, 50), [slice(1, 0, 20, true), slice(2, 0, 30, false)]);
    }

    #[test]
    fn a_last_page_is_read_from_the_end() {
        // Rows 9,950..10,000 of 10,000: skip none from the end.
        assert_eq!(slices(&[(1, 10_000)], 9_950, 50), [slice(1, 0, 50, true)]);
        // A short last page.
        assert_eq!(slices(&[(1, 120)], 100, 50), [slice(1, 0, 20, true)]);
        // Just past the middle: 4,950 after the page, 5,000 before it.
        assert_eq!(slices(&[(1, 10_000)], 5_000, 50), [slice(1, 4_950, 50, true)]);
        assert_eq!(slices(&[(1, 10_000)], 4_950, 50), [slice(1, 4_950, 50, false)]);
    }

    #[test]
    fn empty_schemas_and_pages_past_the_end_read_nothing() {
        assert_eq!(slices(&[(1, 0), (2, 10)], 0, 50), [slice(2, 0, 10, false)]);
        assert_eq!(slices(&[(1, 10)], 10, 50), []);
        assert_eq!(slices(&[(1, 10)], 0, 0), []);
        assert_eq!(slices(&[], 0, 50), []);
    }
}
