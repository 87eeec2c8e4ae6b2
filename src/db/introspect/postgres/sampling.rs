//! What the trend sampler reads of each table and index on PostgreSQL, at a cost that follows what changed.
//!
//! Exact sizes `stat` every file of a table (heap, free space map, visibility map, TOAST, every index):
//! about 0.3 ms a table, a third of a second per sample of 1,000 tables on the watched server. A table's
//! files change size only through what the statistics count (rows inserted, updated or deleted — aborted ones
//! included — and vacuums of it or of its TOAST table) or through a new file (TRUNCATE, VACUUM FULL, CLUSTER, a
//! rewriting ALTER, CREATE INDEX, REINDEX: a new `relfilenode`). So each sample reads a signature of every table
//! from the catalog and the statistics counters (no file is touched) and measures exactly:
//! - the tables whose signature changed since they were last measured, or that are new here;
//! - every table while `track_counts` is off (the counters then never move);
//! - and, in turn, the [`REMEASURE_SHARE`]th of the tables measured longest ago (a twentieth), so that what the counters see
//!   late is still caught within that many samples: a backend publishes its counters when its transaction ends
//!   (a bulk load that is still running grows its table unseen), and a statistics reset hides nothing but is
//!   not the only way counters can miss.
//!
//! Row estimates (`reltuples`) are read on every sample: they are a catalog column. Index scans come from
//! `pg_stat_get_numscans` alone: the sampler keeps nothing else of an index, so neither its definition nor its
//! size is read (the index list's read measured every index's file and deparsed every definition).

use std::collections::HashMap;

use sea_orm::FromQueryResult;

use super::{Postgres, bigint};
use crate::db::introspect::{IndexInfo, SampledObjects, TableInfo, TableSort};
use crate::error::Result;

/// Each sample also measures this share of the tables (the longest unmeasured first): every table is measured
/// at least once every this many samples.
pub(super) const REMEASURE_SHARE: usize = 20;

/// Every user table with what its sizes depend on, read from the catalog and the statistics counters only.
/// A partitioned table is the sum of its leaves, so its signature lists each leaf's; a relation's indexes count by
/// their number and the sum of their file numbers (a new or rebuilt index changes one or the other). Indexes are
/// gathered in one pass over `pg_index` (a lookup per table cost three times as much at 1,000 tables).
const SIGNATURES_SQL: &str = r"
WITH rel AS (
    SELECT c.oid, n.nspname::text AS schema_name, c.relname::text AS table_name, c.relkind
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
),
leaf AS (
    SELECT r.oid AS table_oid, r.oid FROM rel r WHERE r.relkind = 'r'
    UNION ALL
    SELECT r.oid, t.relid FROM rel r CROSS JOIN LATERAL pg_partition_tree(r.oid) t WHERE r.relkind = 'p' AND t.isleaf
),
ix AS (
    SELECT i.indrelid, count(*) AS n, sum(x.relfilenode::bigint) AS files
    FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
    GROUP BY i.indrelid
)
SELECT r.oid::bigint AS oid, r.schema_name, r.table_name,
       (sum(l.reltuples) FILTER (WHERE l.reltuples >= 0))::bigint AS row_estimate,
       coalesce(string_agg(concat_ws(',', l.oid, l.relfilenode,
               pg_stat_get_tuples_inserted(l.oid), pg_stat_get_tuples_updated(l.oid),
               pg_stat_get_tuples_deleted(l.oid), pg_stat_get_vacuum_count(l.oid),
               pg_stat_get_autovacuum_count(l.oid), lx.n, lx.files,
               t.oid, t.relfilenode, pg_stat_get_vacuum_count(t.oid), pg_stat_get_autovacuum_count(t.oid),
               tx.n, tx.files), ';' ORDER BY l.oid), '') AS signature,
       current_setting('track_counts')::bool AS counting
FROM rel r
LEFT JOIN leaf f ON f.table_oid = r.oid
LEFT JOIN pg_class l ON l.oid = f.oid
LEFT JOIN pg_class t ON t.oid = nullif(l.reltoastrelid, 0)
LEFT JOIN ix lx ON lx.indrelid = l.oid
LEFT JOIN ix tx ON tx.indrelid = t.oid
GROUP BY r.oid, r.schema_name, r.table_name";

/// The scans of the largest `$1` indexes with a scan count (plain indexes: a partitioned one has none), by the
/// planner's size (`relpages`, as the index list orders by size) and then by place.
const INDEX_SCANS_SQL: &str = r"
SELECT n.nspname::text AS schema_name, t.relname::text AS table_name, ic.relname::text AS index_name,
       pg_stat_get_numscans(i.indexrelid) AS scans
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' AND ic.relkind = 'i'
ORDER BY ic.relpages DESC, n.nspname, t.relname, ic.relname
LIMIT $1";

#[derive(FromQueryResult)]
struct SignatureRow {
    oid: i64,
    schema_name: String,
    table_name: String,
    row_estimate: Option<i64>,
    signature: String,
    counting: bool,
}

#[derive(FromQueryResult)]
struct ScansRow {
    schema_name: String,
    table_name: String,
    index_name: String,
    scans: Option<i64>,
}

/// The sizes last measured of each table (by oid), with the signature they were measured under.
#[derive(Default)]
pub(super) struct KnownSizes {
    /// Samples taken so far: the clock of `measured_at`.
    samples: u64,
    tables: HashMap<i64, Known>,
}

struct Known {
    signature: String,
    measured_at: u64,
    sizes: TableInfo,
}

impl KnownSizes {
    /// Which of `rows` to measure now (see the module comment), oldest measurement first.
    fn to_measure(&self, rows: &[&SignatureRow]) -> Vec<i64> {
        let mut changed = Vec::new();
        let mut unchanged = Vec::new();
        for r in rows {
            match self.tables.get(&r.oid) {
                Some(k) if r.counting && k.signature == r.signature => unchanged.push((k.measured_at, r.oid)),
                _ => changed.push(r.oid),
            }
        }
        unchanged.sort_unstable();
        let turn = rows.len().div_ceil(REMEASURE_SHARE);
        changed.extend(unchanged.into_iter().take(turn).map(|(_, oid)| oid));
        changed
    }
}

impl Postgres {
    pub(super) async fn read_sample_objects(&self, table_limit: u64, index_limit: u64) -> Result<SampledObjects> {
        let rows: Vec<SignatureRow> = self.all(SIGNATURES_SQL, []).await?;
        let chosen: Vec<&SignatureRow> = if rows.len() as u64 <= table_limit {
            rows.iter().collect()
        } else {
            // The largest by the tables list's own size order.
            let ranking = self.size_ranking(TableSort::TotalSize, true).await?;
            let by_oid: HashMap<i64, &SignatureRow> = rows.iter().map(|r| (r.oid, r)).collect();
            ranking.iter().filter_map(|oid| by_oid.get(oid).copied()).take(table_limit as usize).collect()
        };
        let wanted = self.known_sizes.lock().unwrap_or_else(|e| e.into_inner()).to_measure(&chosen);
        let facts = if wanted.is_empty() { Vec::new() } else { self.table_facts(wanted).await? };
        let measured = facts.len();
        let tables = {
            let mut known = self.known_sizes.lock().unwrap_or_else(|e| e.into_inner());
            known.samples += 1;
            let now = known.samples;
            let signatures: HashMap<i64, &str> = chosen.iter().map(|r| (r.oid, r.signature.as_str())).collect();
            for f in facts {
                let (oid, sizes) = (f.oid, TableInfo::from(f));
                let signature = signatures.get(&oid).map(|s| s.to_string()).unwrap_or_default();
                known.tables.insert(oid, Known { signature, measured_at: now, sizes });
            }
            // Tables dropped (or no longer among the largest) are forgotten.
            known.tables.retain(|oid, _| signatures.contains_key(oid));
            chosen
                .iter()
                .filter_map(|r| {
                    let k = known.tables.get(&r.oid)?;
                    Some(TableInfo {
                        // A rename or a move changes neither files nor counters: the names are read every time.
                        schema: r.schema_name.clone(),
                        name: r.table_name.clone(),
                        row_estimate: r.row_estimate,
                        ..k.sizes.clone()
                    })
                })
                .collect()
        };
        let scans: Vec<ScansRow> = self.all(INDEX_SCANS_SQL, [bigint(index_limit, "index limit")?.into()]).await?;
        let indexes = scans
            .into_iter()
            .filter(|r| r.scans.is_some())
            .map(|r| IndexInfo {
                schema: r.schema_name,
                table: r.table_name,
                name: r.index_name,
                scans: r.scans,
                ..IndexInfo::default()
            })
            .collect();
        Ok(SampledObjects { tables, indexes, measured })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(oid: i64, signature: &str, counting: bool) -> SignatureRow {
        SignatureRow {
            oid,
            schema_name: "public".into(),
            table_name: format!("t{oid}"),
            row_estimate: None,
            signature: signature.into(),
            counting,
        }
    }

    fn known(entries: &[(i64, &str, u64)]) -> KnownSizes {
        let tables = entries
            .iter()
            .map(|(oid, signature, at)| {
                (*oid, Known { signature: signature.to_string(), measured_at: *at, sizes: TableInfo::default() })
            })
            .collect();
        KnownSizes { samples: 100, tables }
    }

    #[test]
    fn changed_and_new_tables_are_measured_and_a_twentieth_of_the_others_in_turn_oldest_first() {
        let known = known(&[(1, "a", 50), (2, "b", 40), (3, "c", 60), (4, "d", 45)]);
        let rows = [row(1, "a", true), row(2, "b", true), row(3, "c2", true), row(4, "d", true), row(5, "e", true)];
        let refs: Vec<&SignatureRow> = rows.iter().collect();
        // 3 changed, 5 is new; of the unchanged 1, 2 and 4 the one measured longest ago (2) takes its turn (5 tables:
        // a twentieth rounds up to one).
        assert_eq!(known.to_measure(&refs), vec![3, 5, 2]);
    }

    #[test]
    fn every_table_is_measured_when_the_server_counts_nothing() {
        let known = known(&[(1, "a", 50), (2, "b", 40)]);
        let rows = [row(1, "a", false), row(2, "b", false)];
        let refs: Vec<&SignatureRow> = rows.iter().collect();
        assert_eq!(known.to_measure(&refs), vec![1, 2]);
    }
}
