//! Indexes on PostgreSQL: usage since the statistics reset, validity, and redundancy, with the statement to run.
//!
//! Redundancy is decided here in Rust from the catalog's raw facts (`indkey`, `indclass`, `indcollation`,
//! `indoption`, deparsed `indexprs`/`indpred`), so the rule reads in one place and is unit-tested:
//! index A is made redundant by index B on the same table when
//! - B is valid, uses the same access method, the same expressions and the same predicate;
//! - A's key columns are a prefix of B's (for btree; other methods need the same key columns), each with
//!   the same operator class, collation and ASC/DESC/NULLS order;
//! - A's INCLUDE columns are among B's columns (otherwise B would lose A's index-only scans);
//! - if A is unique (or primary), B is unique on exactly the same key columns and at least as strict about
//!   NULLs: a unique index is never redundant to a non-unique one, nor to a wider unique one;
//! - A does not back an exclusion constraint.
//!
//! When A and B make each other redundant (exact duplicates), only the weaker one is reported: primary
//! beats constraint-backed, which beats plain unique, which beats plain; between equals the name that
//! sorts first is kept.

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;

use sea_orm::FromQueryResult;

use sea_orm::Value;

use super::{Postgres, bigint, qualified, quote_ident, search_pattern, strings};
use crate::db::introspect::{IndexFilter, IndexInfo, IndexQuery, IndexSort, Page};
use crate::error::Result;

/// Step one of a page of indexes: which, in which order, from catalog columns that cost nothing to read.
/// `$1`: ILIKE pattern on `schema.table.index` or NULL; `$2`, `$3`: limit and offset (in [`PAGE_SQL`]);
/// `{filter}` and `{order}` come from [`filter_sql`] and [`order_by`] only (`$4`: the duplicates' oids).
/// The size order is the planner's: `relpages` × `block_size` as of the last VACUUM, ANALYZE or
/// CREATE INDEX, as for tables (`pg_relation_size` would `stat` every index: ~0.5 s for 30,000).
const CHOSEN_SQL: &str = r"
WITH ix AS MATERIALIZED (
    SELECT i.indexrelid, i.indrelid, n.nspname::text AS schema_name, t.relname::text AS table_name,
           ic.relname::text AS index_name, ic.relkind, ic.relpages
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      AND ($1::text IS NULL OR (n.nspname || '.' || t.relname || '.' || ic.relname) ILIKE $1 ESCAPE E'\\')
      AND {filter}
)";

// Order keys over `ix`, read for every listed index only when the page is sorted by them.
const SIZE_KEY: &str =
    "CASE WHEN ix.relkind = 'i' THEN ix.relpages::bigint * current_setting('block_size')::bigint END";
const SCANS_KEY: &str = "CASE WHEN ix.relkind = 'i' THEN pg_stat_get_numscans(ix.indexrelid) END";

/// The page from [`CHOSEN_SQL`].
const PAGE_SQL: &str = r"
SELECT ix.indexrelid::bigint AS oid, ix.indrelid::bigint AS table_oid, (SELECT count(*) FROM ix) AS total
FROM ix
ORDER BY {order}
LIMIT $2 OFFSET $3";

/// One schema's indexes in table order, for [`Postgres::walk`] (an index is always in its table's schema):
/// `$1` the schema's oid, `$2` limit, `$3` offset. The name index gives the tables in order; each table's
/// few indexes are sorted as they come (an incremental sort), so the first page reads about 50 indexes.
const SCHEMA_PAGE_SQL: &str = r"
SELECT i.indexrelid::bigint AS oid, i.indrelid::bigint AS table_oid, (0)::bigint AS total
FROM pg_class t
JOIN pg_index i ON i.indrelid = t.oid
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE t.relnamespace = $1::bigint::oid
ORDER BY t.relname {dir}, ic.relname {dir}
LIMIT $2 OFFSET $3";

/// How many [`CHOSEN_SQL`] found, for a page past the end (`$2`, `$3` are bound but unused).
const COUNT_SQL: &str = "SELECT count(*) AS total FROM ix";

/// The unused filter in SQL, exactly as [`assess`] decides it: scanned never, valid, not unique or
/// primary, backing no constraint (an exclusion constraint's index is not unique).
const UNUSED_FILTER: &str = "ic.relkind = 'i' AND pg_stat_get_numscans(i.indexrelid) = 0 AND i.indisvalid \
     AND NOT i.indisunique AND NOT i.indisprimary \
     AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conrelid = i.indrelid \
                     AND con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))";

/// Tables where one index can make another redundant: two indexes, one of them valid, with the same
/// first key column (0 for an expression). The rule needs a shared first key part, so no duplicate is
/// on any other table; which of these really are duplicates is decided by [`redundant_to`].
const CANDIDATE_TABLES_SQL: &str = r"
SELECT DISTINCT a.indrelid::bigint AS oid
FROM pg_index a
JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid AND b.indisvalid
               AND b.indkey[0] = a.indkey[0]
JOIN pg_class t ON t.oid = a.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'";

/// Every index of the tables `$1` (oids). The facts that cost (`pg_get_indexdef`, the column list,
/// `pg_relation_size`) are read only where `{full}` holds: every index, none, or those of `$2`.
///
/// `indclass`, `indcollation` and `indoption` hold the key columns only; `indkey` holds the key columns
/// then the INCLUDE columns (0 stands for an expression). Scan counts are those `pg_stat_user_indexes`
/// shows, read through the functions it is made of. `indnullsnotdistinct` exists from PostgreSQL 15 on:
/// it is read through `to_jsonb` so that older servers answer too, and only for non-primary unique
/// indexes, the only ones where it matters (`to_jsonb` of every row costs ~40 µs; primary key columns
/// hold no NULL, so a primary key counts as NULLS NOT DISTINCT).
const INDEXES_SQL: &str = r"
SELECT i.indexrelid::bigint AS index_oid,
       n.nspname::text AS schema_name, t.relname::text AS table_name, ic.relname::text AS index_name,
       i.indrelid::bigint AS table_oid, ic.relkind::text AS relkind, am.amname::text AS method,
       CASE WHEN {full} THEN pg_get_indexdef(i.indexrelid) END AS definition,
       i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisvalid AS is_valid,
       CASE WHEN i.indisprimary THEN true
            WHEN i.indisunique THEN coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false)
            ELSE false END AS nulls_not_distinct,
       i.indnkeyatts::bigint AS key_count,
       i.indkey::text AS attnums, i.indclass::text AS opclasses,
       i.indcollation::text AS collations, i.indoption::text AS options,
       pg_get_expr(i.indexprs, i.indrelid) AS expressions,
       pg_get_expr(i.indpred, i.indrelid) AS predicate,
       CASE WHEN {full} THEN
       (SELECT json_agg(coalesce(a.attname::text, pg_get_indexdef(i.indexrelid, k, true)) ORDER BY k)
          FROM generate_series(1, i.indnatts::int) k
          LEFT JOIN pg_attribute a
                 ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1] AND i.indkey[k - 1] > 0) END AS columns,
       con.conname::text AS constraint_name, con.contype::text AS constraint_kind,
       CASE WHEN ic.relkind = 'i' AND {full} THEN pg_relation_size(i.indexrelid) END AS size_bytes,
       CASE WHEN ic.relkind = 'i' THEN pg_stat_get_numscans(i.indexrelid) END AS scans,
       CASE WHEN ic.relkind = 'i' THEN pg_stat_get_tuples_returned(i.indexrelid) END AS tuples_read,
       EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) AS attached
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint con
       ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = ANY ($1::bigint[]::oid[])
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, t.relname, ic.relname";

/// Which rows of [`INDEXES_SQL`] get their costly facts.
#[derive(Clone, Copy)]
enum Full {
    All,
    None,
    /// The indexes whose oids are bound as `$2`.
    Listed,
}

#[derive(FromQueryResult)]
struct OidRow {
    oid: i64,
}

#[derive(FromQueryResult)]
struct ChosenRow {
    oid: i64,
    table_oid: i64,
    total: i64,
}

#[derive(FromQueryResult)]
struct CountRow {
    total: i64,
}

#[derive(Clone, Debug, Default, FromQueryResult)]
struct IndexRow {
    index_oid: i64,
    schema_name: String,
    table_name: String,
    index_name: String,
    table_oid: i64,
    /// `i` an index, `I` a partitioned table's index (no storage of its own).
    relkind: String,
    method: String,
    /// `None` where the costly facts were not asked for (as `columns` and `size_bytes`).
    definition: Option<String>,
    is_unique: bool,
    is_primary: bool,
    is_valid: bool,
    nulls_not_distinct: bool,
    key_count: i64,
    attnums: String,
    opclasses: String,
    collations: String,
    options: String,
    expressions: Option<String>,
    predicate: Option<String>,
    columns: Option<serde_json::Value>,
    constraint_name: Option<String>,
    constraint_kind: Option<String>,
    size_bytes: Option<i64>,
    scans: Option<i64>,
    tuples_read: Option<i64>,
    /// A partition's index attached to its partitioned parent's index: it is dropped with the parent only.
    attached: bool,
}

/// What the redundancy rule compares, parsed from one row.
struct Shape<'a> {
    row: &'a IndexRow,
    keys: Vec<&'a str>,
    includes: Vec<&'a str>,
    opclasses: Vec<&'a str>,
    collations: Vec<&'a str>,
    options: Vec<&'a str>,
}

impl<'a> Shape<'a> {
    fn new(row: &'a IndexRow) -> Self {
        let attnums: Vec<&str> = row.attnums.split_whitespace().collect();
        let split = (row.key_count.max(0) as usize).min(attnums.len());
        Shape {
            row,
            keys: attnums[..split].to_vec(),
            includes: attnums[split..].to_vec(),
            opclasses: row.opclasses.split_whitespace().collect(),
            collations: row.collations.split_whitespace().collect(),
            options: row.options.split_whitespace().collect(),
        }
    }

    /// Which index of an exact-duplicate pair is kept: the higher rank, then the name that sorts first.
    fn rank(&self) -> (bool, bool, bool) {
        (self.row.is_primary, self.row.constraint_name.is_some(), self.row.is_unique)
    }

    fn outranks(&self, other: &Shape) -> bool {
        match self.rank().cmp(&other.rank()) {
            Ordering::Equal => self.row.index_name < other.row.index_name,
            order => order == Ordering::Greater,
        }
    }

    /// True when `self` makes `a` redundant (see the module comment).
    fn covers(&self, a: &Shape) -> bool {
        let (b, n) = (self, a.keys.len());
        let same_frame = b.row.index_name != a.row.index_name
            && b.row.table_oid == a.row.table_oid
            && b.row.is_valid
            && b.row.method == a.row.method
            && b.row.expressions == a.row.expressions
            && b.row.predicate == a.row.predicate
            && a.row.constraint_kind.as_deref() != Some("x");
        let width_ok = if a.row.method == "btree" { n <= b.keys.len() } else { n == b.keys.len() };
        if !same_frame || !width_ok {
            return false;
        }
        let prefix = (0..n).all(|i| {
            a.keys[i] == b.keys[i]
                && a.opclasses.get(i) == b.opclasses.get(i)
                && a.collations.get(i) == b.collations.get(i)
                && a.options.get(i) == b.options.get(i)
        });
        let includes = a.includes.iter().all(|c| b.keys.contains(c) || b.includes.contains(c));
        let uniqueness = !a.row.is_unique
            || (b.row.is_unique && b.keys.len() == n && (b.row.nulls_not_distinct || !a.row.nulls_not_distinct));
        prefix && includes && uniqueness
    }
}

/// For each row, the name of the index that makes it redundant, if any.
fn redundant_to(rows: &[IndexRow]) -> Vec<Option<String>> {
    let shapes: Vec<Shape> = rows.iter().map(Shape::new).collect();
    let mut by_table: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_table.entry(r.table_oid).or_default().push(i);
    }
    let mut result = vec![None; rows.len()];
    for members in by_table.values() {
        for &a in members {
            let a_shape = &shapes[a];
            let best = members
                .iter()
                .map(|&b| &shapes[b])
                .filter(|b| b.covers(a_shape) && !(a_shape.covers(b) && a_shape.outranks(b)))
                // An exact match reads best; then the strongest index, then the first name.
                .min_by_key(|b| (b.keys.len() != a_shape.keys.len(), Reverse(b.rank()), &b.row.index_name));
            result[a] = best.map(|b| b.row.index_name.clone());
        }
    }
    result
}

/// The statement that removes an index, or `None` when it cannot be removed on its own.
fn drop_sql(r: &IndexRow) -> Option<String> {
    if r.attached {
        return None; // dropped through the partitioned table's index
    }
    Some(match r.constraint_kind.as_deref() {
        Some("p" | "u") => format!(
            "ALTER TABLE {} DROP CONSTRAINT {};",
            qualified(&r.schema_name, &r.table_name),
            quote_ident(r.constraint_name.as_deref().unwrap_or(&r.index_name))
        ),
        Some(_) => return None,
        // CONCURRENTLY is refused on a partitioned table's index.
        None if r.relkind == "I" => format!("DROP INDEX {};", qualified(&r.schema_name, &r.index_name)),
        None => format!("DROP INDEX CONCURRENTLY {};", qualified(&r.schema_name, &r.index_name)),
    })
}

/// Rebuilds an invalid index; a partitioned table's index is invalid while a partition lacks its index,
/// which REINDEX does not fix.
fn reindex_sql(r: &IndexRow) -> Option<String> {
    (r.relkind == "i").then(|| format!("REINDEX INDEX CONCURRENTLY {};", qualified(&r.schema_name, &r.index_name)))
}

/// Turns catalog rows into the shared model, deciding unused, redundant and the suggested statement.
fn assess(rows: Vec<IndexRow>) -> Vec<IndexInfo> {
    let duplicates = redundant_to(&rows);
    rows.into_iter()
        .zip(duplicates)
        .map(|(r, duplicate_of)| {
            // An invalid index is never scanned, so its zero says nothing; constraint indexes stay.
            let unused =
                r.scans == Some(0) && r.is_valid && !r.is_unique && !r.is_primary && r.constraint_name.is_none();
            let suggested_sql = if duplicate_of.is_some() {
                drop_sql(&r)
            } else if !r.is_valid {
                reindex_sql(&r)
            } else if unused {
                drop_sql(&r)
            } else {
                None
            };
            IndexInfo {
                schema: r.schema_name,
                table: r.table_name,
                name: r.index_name,
                method: r.method,
                columns: strings(r.columns),
                definition: r.definition.unwrap_or_default(),
                unique: r.is_unique,
                primary: r.is_primary,
                valid: r.is_valid,
                size_bytes: r.size_bytes,
                scans: r.scans,
                tuples_read: r.tuples_read,
                unused,
                duplicate_of,
                suggested_sql,
            }
        })
        .collect()
}

/// [`INDEXES_SQL`] with its `{full}` filled in.
fn indexes_sql(full: Full) -> String {
    let full = match full {
        Full::All => "true",
        Full::None => "false",
        Full::Listed => "i.indexrelid = ANY ($2::bigint[]::oid[])",
    };
    INDEXES_SQL.replace("{full}", full)
}

/// The WHERE part of a filter; duplicates are found in Rust first and bound as `$4`.
fn filter_sql(filter: IndexFilter) -> &'static str {
    match filter {
        IndexFilter::All => "true",
        IndexFilter::Unused => UNUSED_FILTER,
        IndexFilter::Duplicate => "i.indexrelid = ANY ($4::bigint[]::oid[])",
        IndexFilter::Invalid => "NOT i.indisvalid",
    }
}

/// The whitelisted ORDER BY of step one, over `ix`. Descending reverses the whole order, ties included;
/// an unknown size or scan count (a partitioned index) sorts as the smallest.
fn order_by(sort: IndexSort, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let nulls = if descending { "NULLS LAST" } else { "NULLS FIRST" };
    let place = format!("ix.schema_name {dir}, ix.table_name {dir}, ix.index_name {dir}");
    match sort {
        IndexSort::Table => place,
        IndexSort::Name => format!("ix.index_name {dir}, {place}"),
        IndexSort::Size => format!("{SIZE_KEY} {dir} {nulls}, {place}"),
        IndexSort::Scans => format!("{SCANS_KEY} {dir} {nulls}, {place}"),
    }
}

/// The indexes a filter keeps, as the CTE `ix` (no user text).
fn chosen_sql(filter: IndexFilter) -> String {
    CHOSEN_SQL.replace("{filter}", filter_sql(filter))
}

/// Step one with its filter and order filled in (no user text).
fn order_sql(query: &IndexQuery) -> String {
    format!("{}\n{}", chosen_sql(query.filter), PAGE_SQL.replace("{order}", &order_by(query.sort, query.descending)))
}

impl Postgres {
    /// Every index of one table (by oid), with every fact.
    pub(super) async fn table_indexes(&self, table_oid: i64) -> Result<Vec<IndexInfo>> {
        let rows: Vec<IndexRow> = self.all(&indexes_sql(Full::All), [vec![table_oid].into()]).await?;
        Ok(assess(rows))
    }

    /// One page of indexes: chosen and ordered on cheap columns, then assessed with every index of
    /// their tables (so a duplicate's twin counts wherever it is listed), costly facts for the page only.
    pub(super) async fn list_indexes(&self, query: &IndexQuery) -> Result<Page<IndexInfo>> {
        let pattern = search_pattern(query.search.as_deref());
        let (limit, offset) = (bigint(query.limit, "limit")?, bigint(query.offset, "offset")?);
        let walk = query.sort == IndexSort::Table && query.filter == IndexFilter::All && pattern.is_none();
        let (chosen, total) = if walk {
            let (chosen, total) = self
                .walk::<ChosenRow>("'i', 'I'", SCHEMA_PAGE_SQL, query.descending, query.offset, query.limit)
                .await?;
            (chosen, total as i64)
        } else {
            let mut values: Vec<Value> = vec![pattern.clone().into(), limit.into(), offset.into()];
            if query.filter == IndexFilter::Duplicate {
                values.push(self.duplicate_oids().await?.into());
            }
            let chosen: Vec<ChosenRow> = self.all(&order_sql(query), values.clone()).await?;
            let total = match chosen.first() {
                Some(r) => r.total,
                None if query.offset == 0 && query.limit > 0 => 0,
                None => {
                    let count = format!("{}\n{COUNT_SQL}", chosen_sql(query.filter));
                    self.one::<CountRow>(&count, values).await?.map_or(0, |r| r.total)
                }
            };
            (chosen, total)
        };
        let page: Vec<i64> = chosen.iter().map(|r| r.oid).collect();
        let mut tables: Vec<i64> = chosen.iter().map(|r| r.table_oid).collect();
        tables.sort_unstable();
        tables.dedup();
        let rows: Vec<IndexRow> = if page.is_empty() {
            Vec::new()
        } else {
            self.all(&indexes_sql(Full::Listed), [tables.into(), page.clone().into()]).await?
        };
        let oids: Vec<i64> = rows.iter().map(|r| r.index_oid).collect();
        let mut assessed: BTreeMap<i64, IndexInfo> = oids.into_iter().zip(assess(rows)).collect();
        let items = page.iter().filter_map(|oid| assessed.remove(oid)).collect();
        Ok(Page { items, total: total.max(0) as u64, offset: query.offset, limit: query.limit })
    }

    /// Oids of every redundant index in user schemas, decided by the rule on the tables that can have one.
    async fn duplicate_oids(&self) -> Result<Vec<i64>> {
        let candidates: Vec<OidRow> = self.all(CANDIDATE_TABLES_SQL, []).await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let tables: Vec<i64> = candidates.into_iter().map(|r| r.oid).collect();
        let rows: Vec<IndexRow> = self.all(&indexes_sql(Full::None), [tables.into()]).await?;
        let verdicts = redundant_to(&rows);
        Ok(rows.iter().zip(verdicts).filter(|(_, v)| v.is_some()).map(|(r, _)| r.index_oid).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid btree index on table 1 over the given attribute numbers (default opclass/collation/order).
    fn index(name: &str, keys: &str) -> IndexRow {
        let n = keys.split_whitespace().count();
        IndexRow {
            schema_name: "public".into(),
            table_name: "t".into(),
            index_name: name.into(),
            table_oid: 1,
            relkind: "i".into(),
            method: "btree".into(),
            is_valid: true,
            key_count: n as i64,
            attnums: keys.into(),
            opclasses: vec!["1978"; n].join(" "),
            collations: vec!["0"; n].join(" "),
            options: vec!["0"; n].join(" "),
            scans: Some(5),
            ..IndexRow::default()
        }
    }

    fn unique(mut r: IndexRow, constraint: bool) -> IndexRow {
        r.is_unique = true;
        if constraint {
            r.constraint_name = Some(r.index_name.clone());
            r.constraint_kind = Some("u".into());
        }
        r
    }

    fn duplicates(rows: Vec<IndexRow>) -> Vec<(String, Option<String>)> {
        assess(rows).into_iter().map(|i| (i.name, i.duplicate_of)).collect()
    }

    #[test]
    fn a_plain_index_is_redundant_to_a_unique_constraint_on_the_same_column() {
        let got = duplicates(vec![index("idx_users_username", "2"), unique(index("users_username_key", "2"), true)]);
        assert_eq!(got[0].1.as_deref(), Some("users_username_key"));
        assert_eq!(got[1].1, None);
    }

    #[test]
    fn a_prefix_is_redundant_but_a_longer_index_is_not() {
        let got = duplicates(vec![index("a", "1"), index("ab", "1 2"), index("ba", "2 1")]);
        assert_eq!(got, [("a".into(), Some("ab".into())), ("ab".into(), None), ("ba".into(), None)]);
    }

    #[test]
    fn exact_duplicates_report_one_of_the_pair_deterministically() {
        for rows in [vec![index("x1", "1"), index("x2", "1")], vec![index("x2", "1"), index("x1", "1")]] {
            let got = duplicates(rows);
            let reported: Vec<_> = got.iter().filter(|(_, d)| d.is_some()).collect();
            assert_eq!(reported, [&("x2".to_string(), Some("x1".to_string()))]);
        }
    }

    #[test]
    fn unique_indexes_are_never_redundant_to_plain_or_wider_ones() {
        let got =
            duplicates(vec![unique(index("u_a", "1"), false), index("a", "1"), unique(index("u_ab", "1 2"), false)]);
        assert_eq!(got[0].1, None, "unique (a) must stay");
        assert_eq!(got[1].1.as_deref(), Some("u_a"));
    }

    #[test]
    fn different_opclass_order_predicate_or_method_is_not_a_duplicate() {
        let mut desc = index("a_desc", "1");
        desc.options = "3".into();
        let mut partial = index("a_partial", "1");
        partial.predicate = Some("(deleted_at IS NULL)".into());
        let mut hash = index("a_hash", "1");
        hash.method = "hash".into();
        let mut pattern = index("a_pattern", "1");
        pattern.opclasses = "10044".into();
        let got = duplicates(vec![desc, partial, hash, pattern, index("ab", "1 2")]);
        assert!(got.iter().all(|(_, d)| d.is_none()), "{got:?}");
    }

    #[test]
    fn an_invalid_index_covers_nothing_and_gets_reindex() {
        let mut invalid = unique(index("u_bad", "1"), false);
        invalid.is_valid = false;
        invalid.scans = Some(0);
        let got = assess(vec![invalid, unique(index("u_good", "1 2"), false)]);
        assert_eq!(got[0].duplicate_of, None);
        assert_eq!(got[0].suggested_sql.as_deref(), Some(r#"REINDEX INDEX CONCURRENTLY "public"."u_bad";"#));
        assert!(!got[0].unused);
    }

    #[test]
    fn include_columns_must_be_covered() {
        let mut covering = index("a_inc_c", "1 3");
        covering.key_count = 1;
        covering.opclasses = "1978".into();
        covering.collations = "0".into();
        covering.options = "0".into();
        let got = duplicates(vec![covering, index("ab", "1 2"), index("abc", "1 2 3")]);
        assert_eq!(got[0].1.as_deref(), Some("abc"));
        assert_eq!(got[1].1.as_deref(), Some("abc"));
    }

    #[test]
    fn unused_indexes_get_a_quoted_drop_statement() {
        let mut r = index(r#"we"ird"#, "1");
        r.scans = Some(0);
        r.schema_name = "Sch ema".into();
        let got = assess(vec![r]);
        assert!(got[0].unused);
        assert_eq!(got[0].suggested_sql.as_deref(), Some(r#"DROP INDEX CONCURRENTLY "Sch ema"."we""ird";"#));
    }
}
