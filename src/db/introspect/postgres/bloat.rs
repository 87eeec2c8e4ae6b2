//! Table and btree index bloat on PostgreSQL, estimated from the planner's statistics without reading data.
//!
//! The estimate compares a relation's size with the size it would have freshly written, from first
//! principles of the on-disk format (8 kB pages by default; the server's `block_size` is used):
//!
//! ```text
//! row data  = walk the columns in order; a column present with probability p = 1 - null_frac moves the
//!             offset to its alignment (typalign; 1 for a short varlena <= 127 bytes, stored unaligned)
//!             and adds avg_width (pg_stats measures stored, possibly compressed or TOAST-pointer, widths)
//! heap row  = MAXALIGN(header + row data), header = MAXALIGN(23 + null bitmap ceil(natts/8) bytes when
//!             the row has a NULL, else nothing) weighted by the chance that a row has a NULL
//! per page  = floor((block - 24 page header - block * (100 - fillfactor) / 100) / (heap row + 4 line
//!             pointer)), at most MaxHeapTuplesPerPage = floor((block - 24) / 28)
//! index row = MAXALIGN(8 IndexTupleData + 4-byte null bitmap only when a key is NULL, then MAXALIGNed
//!             + key data), + 4 line pointer; leaf pages also lose 16 bytes of btree special space and
//!             one slot to the high key, and fill to the index fillfactor (90 by default); inner levels
//!             fill to 70% (BTREE_NONLEAF_FILLFACTOR), plus one metapage
//! expected  = ceil(rows / per page) (+ inner pages and the metapage for an index)
//! bloat     = size - expected pages, never below 0
//! ```
//!
//! `rows` is scaled to the current size with the density at the last VACUUM/ANALYZE
//! (`reltuples / relpages * current pages`), as the planner does, so a table that grew since its last
//! ANALYZE is not mistaken for a bloated one. Btree deduplication (PostgreSQL 13+) stores repeated keys
//! once, so an index with many duplicates can be smaller than expected: the estimate then says 0, it never
//! invents bloat from it. TOAST tables are left out (their chunks are fixed-size and rarely bloat alone).
//!
//! Only relations of at least 1 MiB are listed: below that, even total bloat costs less than one
//! page-cache hiccup, and the statistics of tiny tables are too coarse to read anything from. Measuring a
//! relation `stat`s its files (about 10 µs each, 0.4 s for 40,000 relations), so only candidates are
//! measured: relations the catalog last saw at 1/8 of that size or more (`relpages`, as of the last VACUUM,
//! ANALYZE or CREATE INDEX), and those it never measured. A relation that grew eightfold since then without
//! an ANALYZE is missed until autovacuum or an ANALYZE catches up; its estimate would rest on statistics
//! too stale to trust anyway.
//! `unreliable` marks estimates resting on shaky statistics: never analyzed, analyzed more than 7 days
//! ago, or some column without a `pg_stats` row (missing widths are taken from `typlen` when fixed,
//! otherwise as 0, which can only overstate bloat).

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::FromQueryResult;
use serde::Deserialize;

use super::Postgres;
use crate::db::introspect::BloatInfo;
use crate::error::Result;

/// Relations smaller than this are not estimated.
const MIN_BYTES: i64 = 1 << 20;

/// Statistics older than this make an estimate unreliable.
const STALE_AFTER_DAYS: i64 = 7;

/// Heaps (tables, materialized views) of at least `$1` bytes (measured where the catalog says they may be), with every column's type and statistics.
/// Dropped columns are listed too: they still take a bit in the null bitmap of every row.
const TABLES_SQL: &str = r"
SELECT n.nspname::text AS schema_name, c.relname::text AS table_name, NULL::text AS index_name,
       c.relpages::bigint AS relpages, c.reltuples::float8 AS reltuples,
       pg_relation_size(c.oid) AS real_bytes,
       current_setting('block_size')::bigint AS block_size,
       coalesce((SELECT o.option_value FROM pg_options_to_table(c.reloptions) o
                  WHERE o.option_name = 'fillfactor'), '100')::bigint AS fillfactor,
       greatest(pg_stat_get_last_analyze_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid)) AS last_analyzed,
       (SELECT json_agg(json_build_object('len', t.typlen, 'align', t.typalign, 'dropped', a.attisdropped,
                                          'null_frac', s.null_frac, 'avg_width', s.avg_width) ORDER BY a.attnum)
          FROM pg_attribute a
          LEFT JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
                              AND s.attname = a.attname AND NOT s.inherited
         WHERE a.attrelid = c.oid AND a.attnum > 0) AS columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
  AND CASE WHEN c.relpages::bigint * current_setting('block_size')::bigint >= $1 / 8 OR c.reltuples < 0
           THEN pg_relation_size(c.oid) >= $1 ELSE false END";

/// Valid btree indexes of at least `$1` bytes (measured where the catalog says they may be). A key column's statistics are its table column's; an
/// expression's are those ANALYZE keeps under the index's own name.
const INDEXES_SQL: &str = r"
SELECT n.nspname::text AS schema_name, t.relname::text AS table_name, ic.relname::text AS index_name,
       ic.relpages::bigint AS relpages, ic.reltuples::float8 AS reltuples,
       pg_relation_size(ic.oid) AS real_bytes,
       current_setting('block_size')::bigint AS block_size,
       coalesce((SELECT o.option_value FROM pg_options_to_table(ic.reloptions) o
                  WHERE o.option_name = 'fillfactor'), '90')::bigint AS fillfactor,
       greatest(pg_stat_get_last_analyze_time(t.oid), pg_stat_get_last_autoanalyze_time(t.oid)) AS last_analyzed,
       (SELECT json_agg(json_build_object('len', ty.typlen, 'align', ty.typalign, 'dropped', false,
                                          'null_frac', coalesce(ts.null_frac, xs.null_frac),
                                          'avg_width', coalesce(ts.avg_width, xs.avg_width)) ORDER BY ia.attnum)
          FROM pg_attribute ia
          LEFT JOIN pg_type ty ON ty.oid = ia.atttypid
          LEFT JOIN pg_attribute ta ON ta.attrelid = i.indrelid AND ta.attnum = i.indkey[ia.attnum - 1]
                                   AND i.indkey[ia.attnum - 1] > 0
          LEFT JOIN pg_stats ts ON ts.schemaname = n.nspname AND ts.tablename = t.relname
                               AND ts.attname = ta.attname AND NOT ts.inherited
          LEFT JOIN pg_stats xs ON ta.attname IS NULL AND xs.schemaname = n.nspname
                               AND xs.tablename = ic.relname AND xs.attname = ia.attname
         WHERE ia.attrelid = ic.oid AND ia.attnum > 0) AS columns
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE am.amname = 'btree' AND ic.relkind = 'i' AND i.indisvalid
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
  AND CASE WHEN ic.relpages::bigint * current_setting('block_size')::bigint >= $1 / 8 OR ic.reltuples < 0
           THEN pg_relation_size(ic.oid) >= $1 ELSE false END";

#[derive(FromQueryResult)]
struct RelationRow {
    schema_name: String,
    table_name: String,
    index_name: Option<String>,
    relpages: i64,
    reltuples: f64,
    real_bytes: i64,
    block_size: i64,
    fillfactor: i64,
    last_analyzed: Option<DateTime<Utc>>,
    columns: Option<serde_json::Value>,
}

/// One column as `pg_type` and `pg_stats` describe it.
#[derive(Clone, Debug, Default, Deserialize)]
struct ColumnStats {
    /// `typlen`: bytes when fixed, -1 for varlena, -2 for C strings.
    len: Option<i64>,
    /// `typalign`: `c`, `s`, `i` or `d`.
    align: Option<String>,
    #[serde(default)]
    dropped: bool,
    null_frac: Option<f64>,
    avg_width: Option<f64>,
}

const MAXALIGN: f64 = 8.0;
const PAGE_HEADER: f64 = 24.0;
const LINE_POINTER: f64 = 4.0;
const HEAP_TUPLE_HEADER: f64 = 23.0;
const INDEX_TUPLE_HEADER: f64 = 8.0;
/// `IndexAttributeBitMapData`: INDEX_MAX_KEYS (32) bits.
const INDEX_NULL_BITMAP: f64 = 4.0;
/// `BTPageOpaqueData` at the end of every btree page.
const BTREE_SPECIAL: f64 = 16.0;
const BTREE_NONLEAF_FILLFACTOR: f64 = 70.0;

fn align_up(offset: f64, align: f64) -> f64 {
    (offset / align).ceil() * align
}

fn align_bytes(typalign: Option<&str>) -> f64 {
    match typalign {
        Some("d") => 8.0,
        Some("i") => 4.0,
        Some("s") => 2.0,
        _ => 1.0,
    }
}

/// Expected width of a row's data, the chance that it has a NULL, and whether every column had statistics.
fn row_data(columns: &[ColumnStats]) -> (f64, f64, bool) {
    let (mut offset, mut no_null, mut complete) = (0.0, 1.0, true);
    for c in columns {
        if c.dropped {
            no_null = 0.0; // NULL in every row written since the drop
            continue;
        }
        let (null_frac, width) = match (c.null_frac, c.avg_width) {
            (Some(n), Some(w)) => (n.clamp(0.0, 1.0), w.max(0.0)),
            _ => {
                complete = false;
                match c.len {
                    Some(len) if len > 0 => (0.0, len as f64),
                    _ => continue,
                }
            }
        };
        let short_varlena = c.len == Some(-1) && width <= 127.0;
        let align = if short_varlena { 1.0 } else { align_bytes(c.align.as_deref()) };
        let present = 1.0 - null_frac;
        offset += present * (align_up(offset, align) - offset + width);
        no_null *= present;
    }
    (offset, 1.0 - no_null, complete)
}

/// Pages a freshly written heap with `rows` rows of these columns would take.
fn heap_pages(columns: &[ColumnStats], rows: f64, block: f64, fillfactor: f64) -> f64 {
    let (data, p_null, _) = row_data(columns);
    let bitmap = (columns.len() as f64 / 8.0).ceil();
    let header = p_null * align_up(HEAP_TUPLE_HEADER + bitmap, MAXALIGN)
        + (1.0 - p_null) * align_up(HEAP_TUPLE_HEADER, MAXALIGN);
    let tuple = align_up(header + data, MAXALIGN);
    let usable = block - PAGE_HEADER - block * (100.0 - fillfactor) / 100.0;
    let max_per_page = ((block - PAGE_HEADER) / (align_up(HEAP_TUPLE_HEADER, MAXALIGN) + LINE_POINTER)).floor();
    let per_page = (usable / (tuple + LINE_POINTER)).floor().clamp(1.0, max_per_page);
    (rows / per_page).ceil()
}

/// Pages a freshly built btree with `rows` entries of these key columns would take.
fn btree_pages(columns: &[ColumnStats], rows: f64, block: f64, fillfactor: f64) -> f64 {
    let (data, p_null, _) = row_data(columns);
    let header = p_null * align_up(INDEX_TUPLE_HEADER + INDEX_NULL_BITMAP, MAXALIGN)
        + (1.0 - p_null) * align_up(INDEX_TUPLE_HEADER, MAXALIGN);
    let entry = align_up(header + data, MAXALIGN) + LINE_POINTER;
    let page = block - PAGE_HEADER - BTREE_SPECIAL;
    let per_leaf = ((page - block * (100.0 - fillfactor) / 100.0) / entry).floor() - 1.0; // the high key
    let per_inner = ((page - block * (100.0 - BTREE_NONLEAF_FILLFACTOR) / 100.0) / entry).floor();
    let (per_leaf, per_inner) = (per_leaf.max(1.0), per_inner.max(2.0));
    let mut level = (rows / per_leaf).ceil().max(1.0);
    let mut total = 1.0 + level; // the metapage and the leaves
    while level > 1.0 {
        level = (level / per_inner).ceil();
        total += level;
    }
    total
}

/// The estimate for one relation; `now` decides what "stale statistics" means.
fn estimate(r: RelationRow, now: DateTime<Utc>) -> BloatInfo {
    let columns: Vec<ColumnStats> = r.columns.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
    let (_, _, complete) = row_data(&columns);
    let block = r.block_size.max(1) as f64;
    let fillfactor = (r.fillfactor.clamp(10, 100)) as f64;
    let real_pages = (r.real_bytes as f64 / block).floor();
    // Without pages and rows from a VACUUM or ANALYZE there is no density to scale.
    let known = r.relpages > 0 && r.reltuples >= 0.0 && !columns.is_empty();
    let bloat_pages = if known {
        let rows = r.reltuples / r.relpages as f64 * real_pages;
        let expected = if r.index_name.is_some() {
            btree_pages(&columns, rows, block, fillfactor)
        } else {
            heap_pages(&columns, rows, block, fillfactor)
        };
        (real_pages - expected).max(0.0)
    } else {
        0.0
    };
    let bloat_bytes = (bloat_pages * block) as i64;
    let stale = r.last_analyzed.is_none_or(|t| now - t > TimeDelta::days(STALE_AFTER_DAYS));
    BloatInfo {
        schema: r.schema_name,
        table: r.table_name,
        index: r.index_name,
        real_bytes: r.real_bytes,
        bloat_bytes,
        bloat_ratio: if r.real_bytes > 0 { bloat_bytes as f64 / r.real_bytes as f64 } else { 0.0 },
        last_analyzed: r.last_analyzed,
        unreliable: stale || !complete || !known,
    }
}

impl Postgres {
    /// Tables and btree indexes of at least 1 MiB, the most bloated first.
    pub(super) async fn estimate_bloat(&self) -> Result<Vec<BloatInfo>> {
        let mut rows: Vec<RelationRow> = self.all(TABLES_SQL, [MIN_BYTES.into()]).await?;
        rows.extend(self.all::<RelationRow>(INDEXES_SQL, [MIN_BYTES.into()]).await?);
        let now = Utc::now();
        let mut estimates: Vec<BloatInfo> = rows.into_iter().map(|r| estimate(r, now)).collect();
        estimates.sort_by(|a, b| {
            b.bloat_bytes
                .cmp(&a.bloat_bytes)
                .then_with(|| (&a.schema, &a.table, &a.index).cmp(&(&b.schema, &b.table, &b.index)))
        });
        Ok(estimates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int4() -> ColumnStats {
        ColumnStats {
            len: Some(4),
            align: Some("i".into()),
            null_frac: Some(0.0),
            avg_width: Some(4.0),
            ..Default::default()
        }
    }

    fn text(width: f64, null_frac: f64) -> ColumnStats {
        ColumnStats {
            len: Some(-1),
            align: Some("i".into()),
            null_frac: Some(null_frac),
            avg_width: Some(width),
            ..Default::default()
        }
    }

    fn relation(index: Option<&str>, pages: i64, rows: f64, columns: Vec<ColumnStats>) -> RelationRow {
        RelationRow {
            schema_name: "public".into(),
            table_name: "t".into(),
            index_name: index.map(str::to_string),
            relpages: pages,
            reltuples: rows,
            real_bytes: pages * 8192,
            block_size: 8192,
            fillfactor: if index.is_some() { 90 } else { 100 },
            last_analyzed: Some(Utc::now()),
            columns: Some(serde_json::to_value(columns.iter().map(|c| {
                serde_json::json!({"len": c.len, "align": c.align, "dropped": c.dropped, "null_frac": c.null_frac, "avg_width": c.avg_width})
            }).collect::<Vec<_>>()).unwrap()),
        }
    }

    #[test]
    fn an_int4_heap_holds_226_rows_per_page() {
        // The textbook figure: 24 header + 4 data -> 32 bytes, + 4 line pointer, into 8168 bytes.
        assert_eq!(heap_pages(&[int4()], 226.0, 8192.0, 100.0), 1.0);
        assert_eq!(heap_pages(&[int4()], 227.0, 8192.0, 100.0), 2.0);
    }

    #[test]
    fn an_int4_btree_holds_365_entries_per_leaf_at_fillfactor_90() {
        // 16-byte entries + 4 line pointer into (8152 - 819.2) bytes, one slot for the high key.
        let pages = btree_pages(&[int4()], 365.0 * 100.0, 8192.0, 90.0);
        assert_eq!(pages, 1.0 + 100.0 + 1.0); // metapage, leaves, root
    }

    #[test]
    fn short_text_is_unaligned_and_nulls_cost_a_bitmap() {
        let (data, p_null, complete) = row_data(&[int4(), text(11.0, 0.5)]);
        assert!(complete);
        assert_eq!(p_null, 0.5);
        assert_eq!(data, 4.0 + 0.5 * 11.0);
    }

    #[test]
    fn a_table_at_its_expected_size_has_no_bloat_and_a_sparse_one_does() {
        let tight = estimate(relation(None, 4425, 1_000_000.0, vec![int4()]), Utc::now());
        assert_eq!(tight.bloat_bytes, 0);
        assert!(!tight.unreliable);
        let sparse = estimate(relation(None, 4425, 100_000.0, vec![int4()]), Utc::now());
        assert!(sparse.bloat_ratio > 0.85 && sparse.bloat_ratio < 0.95, "{}", sparse.bloat_ratio);
    }

    #[test]
    fn missing_or_old_statistics_make_the_estimate_unreliable() {
        let mut never = relation(None, 500, 100_000.0, vec![int4()]);
        never.last_analyzed = None;
        assert!(estimate(never, Utc::now()).unreliable);
        let mut old = relation(None, 500, 100_000.0, vec![int4()]);
        old.last_analyzed = Some(Utc::now() - TimeDelta::days(8));
        assert!(estimate(old, Utc::now()).unreliable);
        let no_stats = ColumnStats { len: Some(-1), align: Some("i".into()), ..Default::default() };
        assert!(estimate(relation(None, 500, 100_000.0, vec![int4(), no_stats]), Utc::now()).unreliable);
        let unknown_rows = estimate(relation(None, 500, -1.0, vec![int4()]), Utc::now());
        assert!(unknown_rows.unreliable);
        assert_eq!(unknown_rows.bloat_bytes, 0);
    }
}
