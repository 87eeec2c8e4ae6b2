//! The tables and indexes lists on PostgreSQL against a catalog of 2,000+ tables: every page, sort and search
//! gives the same rows, totals, order and flags as a plain reference query over the whole catalog, sorted in Rust.

mod common;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement};
use strata::db::introspect::{
    IndexFilter, IndexInfo, IndexQuery, IndexSort, Introspector, TableInfo, TableQuery, TableSort, for_connection,
};

/// Tables in the catalog besides the seed's: enough that a page is a small part of it.
const TABLES: usize = 2100;
/// Rows per page in these tests.
const PAGE: u64 = 50;
/// Never-analyzed tables are measured exactly for a size order up to this many (see postgres/tables.rs).
const EXACT_SIZE_LIMIT: usize = 200;

/// 2,100 tables over three schemas with quotes, spaces, mixed case and non-ASCII letters in their names, some
/// with rows, TOAST data, dead rows, statistics; a partitioned table, a materialized view, and indexes that are
/// unused, invalid, or duplicates whose twin sorts far away.
async fn fixture(db: &DatabaseConnection) {
    exec(db, r#"CREATE SCHEMA "Mixed Case""#).await;
    exec(db, r#"CREATE SCHEMA "we""ird ü""#).await;
    exec(
        db,
        &format!(
            r#"DO $$
DECLARE s text; n text;
BEGIN
  FOR i IN 1..{TABLES} LOOP
    s := (ARRAY['public', 'Mixed Case', 'we"ird ü'])[1 + i % 3];
    n := (ARRAY['T ', 'tab"', 'ünï_', 'a%_b'])[1 + i % 4] || i;
    EXECUTE format('CREATE TABLE %I.%I (id int PRIMARY KEY, a int, b text) '
                   'WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)', s, n);
    IF i % 7 = 0 THEN
      EXECUTE format('INSERT INTO %I.%I SELECT g, g %% 5, md5(g::text) FROM generate_series(1, %s) g', s, n, i % 300);
    END IF;
    IF i % 77 = 0 THEN
      EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN b SET STORAGE EXTERNAL', s, n);
      EXECUTE format('INSERT INTO %I.%I SELECT -g, 0, repeat(md5(g::text), 200) FROM generate_series(1, %s) g', s, n, i % 40 + 1);
    END IF;
    IF i % 21 = 0 THEN EXECUTE format('DELETE FROM %I.%I WHERE id %% 3 = 0', s, n); END IF;
    IF i % 50 = 0 THEN EXECUTE format('CREATE INDEX ON %I.%I (a)', s, n); END IF;
    IF i % 14 = 0 THEN EXECUTE format('ANALYZE %I.%I', s, n); END IF;
    IF i % 200 = 0 THEN COMMIT; END IF;
  END LOOP;
END $$"#
        ),
    )
    .await;
    for vacuumed in [r#""Mixed Case"."T 4""#, r#""Mixed Case"."tab""301""#, r#""public"."a%_b1155""#] {
        exec(db, &format!("VACUUM {vacuumed}")).await;
    }
    exec(db, "CREATE TABLE parted (id int PRIMARY KEY, v text) PARTITION BY RANGE (id)").await;
    for (n, from) in [(1, 0), (2, 1000), (3, 2000)] {
        exec(db, &format!("CREATE TABLE parted_{n} PARTITION OF parted FOR VALUES FROM ({from}) TO ({})", from + 1000))
            .await;
    }
    exec(db, "INSERT INTO parted SELECT g, repeat('x', g % 100) FROM generate_series(0, 2500) g").await;
    exec(db, "ANALYZE parted_1").await;
    exec(db, "CREATE MATERIALIZED VIEW mv AS SELECT g FROM generate_series(1, 1000) g").await;

    exec(db, "CREATE TABLE dup_holder (id int PRIMARY KEY, a int, b int)").await;
    exec(db, "INSERT INTO dup_holder SELECT g, g, g FROM generate_series(1, 500) g").await;
    exec(db, r#"CREATE INDEX "aaaa dup" ON dup_holder (a)"#).await;
    exec(db, r#"CREATE INDEX "zzzz dup" ON dup_holder (a)"#).await;
    exec(db, "CREATE INDEX dup_holder_a_b ON dup_holder (a, b)").await;
    exec(db, "CREATE TABLE inv (t text)").await;
    exec(db, "INSERT INTO inv VALUES ('same'), ('same')").await;
    assert!(db.execute_unprepared("CREATE UNIQUE INDEX CONCURRENTLY inv_t ON inv (t)").await.is_err());
    // Some scans, so that used and unused indexes both exist.
    exec(db, "SET enable_seqscan = off").await;
    exec(db, "SELECT count(*) FROM dup_holder WHERE id < 10").await;
    exec(db, "SELECT count(*) FROM dup_holder WHERE b = 3").await;
}

/// A fresh database with the fixture, and an introspector on a new pool. The fixture's own connections are
/// closed first, which flushes their statistics: nothing changes between the reference and the lists.
async fn catalog() -> (TestDb, DatabaseConnection, Arc<dyn Introspector>) {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let setup = t.connect_one().await;
    fixture(&setup).await;
    setup.close().await.ok();
    let db = t.connect().await;
    let intro = for_connection(db.clone()).expect("PostgreSQL is supported");
    (t, db, intro)
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<QueryResult> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap()
}

fn get<T: sea_orm::TryGetable>(r: &QueryResult, column: &str) -> T {
    r.try_get("", column).unwrap_or_else(|e| panic!("{column}: {e}"))
}

/// Every table with every fact, computed the plain way: one row per table, aggregates over its leaves.
const REFERENCE_TABLES_SQL: &str = r"
WITH t AS (
    SELECT c.oid, c.relkind, n.nspname::text AS schema_name, c.relname::text AS table_name,
           c.relkind = 'r' AND c.relpages = 0 AND c.reltuples < 0 AS never,
           CASE WHEN c.relkind = 'p' THEN ARRAY(SELECT p.relid FROM pg_partition_tree(c.oid) p WHERE p.isleaf)
                ELSE ARRAY[c.oid] END AS parts
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
), leaf AS (
    SELECT t.oid AS table_oid, l.oid, l.reltuples, l.relpages = 0 AND l.reltuples < 0 AS never,
           current_setting('block_size')::bigint AS bs, l.relpages::bigint AS table_pages,
           (SELECT coalesce(sum(x.relpages), 0) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
             WHERE i.indrelid = l.oid)::bigint AS index_pages,
           (SELECT coalesce(sum(x.relpages), 0) FROM pg_class x
             WHERE l.reltoastrelid <> 0 AND (x.oid = l.reltoastrelid
                OR x.oid IN (SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = l.reltoastrelid)))::bigint AS toast_pages,
           pg_table_size(l.oid) - coalesce(pg_total_relation_size(nullif(l.reltoastrelid, 0)), 0) AS table_bytes,
           coalesce(pg_total_relation_size(nullif(l.reltoastrelid, 0)), 0) AS toast_bytes,
           pg_indexes_size(l.oid) AS index_bytes, pg_total_relation_size(l.oid) AS total_bytes
    FROM t JOIN pg_class l ON l.oid = ANY (t.parts)
)
SELECT t.schema_name, t.table_name, t.never,
       (sum(f.reltuples) FILTER (WHERE f.reltuples >= 0))::bigint AS row_estimate,
       sum(pg_stat_get_dead_tuples(f.oid))::bigint AS dead_rows,
       sum(f.table_bytes)::bigint AS table_bytes, sum(f.toast_bytes)::bigint AS toast_bytes,
       sum(f.index_bytes)::bigint AS index_bytes, sum(f.total_bytes)::bigint AS total_bytes,
       sum(f.table_pages * f.bs)::bigint AS est_table, sum(f.index_pages * f.bs)::bigint AS est_index,
       sum(f.toast_pages * f.bs)::bigint AS est_toast,
       sum((f.table_pages + f.index_pages + f.toast_pages) * f.bs)::bigint AS est_total,
       sum(CASE WHEN f.never THEN f.table_bytes ELSE f.table_pages * f.bs END)::bigint AS mixed_table,
       sum(CASE WHEN f.never THEN f.index_bytes ELSE f.index_pages * f.bs END)::bigint AS mixed_index,
       sum(CASE WHEN f.never THEN f.toast_bytes ELSE f.toast_pages * f.bs END)::bigint AS mixed_toast,
       sum(CASE WHEN f.never THEN f.total_bytes
                ELSE (f.table_pages + f.index_pages + f.toast_pages) * f.bs END)::bigint AS mixed_total,
       pg_stat_get_last_vacuum_time(t.oid) AS last_vacuum, pg_stat_get_last_autovacuum_time(t.oid) AS last_autovacuum,
       pg_stat_get_last_analyze_time(t.oid) AS last_analyze,
       pg_stat_get_last_autoanalyze_time(t.oid) AS last_autoanalyze
FROM t LEFT JOIN leaf f ON f.table_oid = t.oid
GROUP BY t.oid, t.schema_name, t.table_name, t.never";

/// One table as the reference sees it.
#[derive(Clone, Debug)]
struct RefTable {
    info: TableInfo,
    never: bool,
    /// Size order keys (table, index, toast, total): estimates only, and with never-analyzed heaps measured.
    estimated: [Option<i64>; 4],
    mixed: [Option<i64>; 4],
}

async fn reference_tables(db: &DatabaseConnection) -> Vec<RefTable> {
    rows(db, REFERENCE_TABLES_SQL)
        .await
        .iter()
        .map(|r| RefTable {
            info: TableInfo {
                schema: get(r, "schema_name"),
                name: get(r, "table_name"),
                row_estimate: get(r, "row_estimate"),
                table_bytes: get(r, "table_bytes"),
                index_bytes: get(r, "index_bytes"),
                toast_bytes: get(r, "toast_bytes"),
                total_bytes: get(r, "total_bytes"),
                dead_rows: get(r, "dead_rows"),
                last_vacuum: get(r, "last_vacuum"),
                last_autovacuum: get(r, "last_autovacuum"),
                last_analyze: get(r, "last_analyze"),
                last_autoanalyze: get(r, "last_autoanalyze"),
            },
            never: get(r, "never"),
            estimated: [get(r, "est_table"), get(r, "est_index"), get(r, "est_toast"), get(r, "est_total")],
            mixed: [get(r, "mixed_table"), get(r, "mixed_index"), get(r, "mixed_toast"), get(r, "mixed_total")],
        })
        .collect()
}

fn micros(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<i64> {
    a.max(b).map(|d| d.timestamp_micros())
}

/// The documented order: the key, unknowns last (first for "never" vacuumed/analyzed from the oldest), then
/// schema and name ascending; by name both parts follow the direction. Size keys are the planner's estimates,
/// or exact sizes for never-analyzed heaps while at most EXACT_SIZE_LIMIT of the listed tables are such.
fn sort_reference(mut list: Vec<RefTable>, sort: TableSort, descending: bool) -> Vec<RefTable> {
    let exact = list.iter().filter(|t| t.never).count() <= EXACT_SIZE_LIMIT;
    let size = |t: &RefTable, i: usize| if exact { t.mixed[i] } else { t.estimated[i] };
    let key = |t: &RefTable| -> Option<i64> {
        match sort {
            TableSort::Name => None,
            TableSort::Rows => t.info.row_estimate,
            TableSort::DeadRows => t.info.dead_rows,
            TableSort::LastVacuum => micros(t.info.last_vacuum, t.info.last_autovacuum),
            TableSort::LastAnalyze => micros(t.info.last_analyze, t.info.last_autoanalyze),
            TableSort::TableSize => size(t, 0),
            TableSort::IndexSize => size(t, 1),
            TableSort::ToastSize => size(t, 2),
            TableSort::TotalSize => size(t, 3),
        }
    };
    let nulls_first = !descending && matches!(sort, TableSort::LastVacuum | TableSort::LastAnalyze);
    list.sort_by(|a, b| {
        let place = (&a.info.schema, &a.info.name).cmp(&(&b.info.schema, &b.info.name));
        if sort == TableSort::Name {
            return if descending { place.reverse() } else { place };
        }
        let by_key = match (key(a), key(b)) {
            (Some(x), Some(y)) => {
                if descending {
                    y.cmp(&x)
                } else {
                    x.cmp(&y)
                }
            }
            (None, None) => Ordering::Equal,
            (None, Some(_)) if nulls_first => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) if nulls_first => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
        };
        by_key.then(place)
    });
    list
}

fn shown(t: &TableInfo) -> String {
    format!("{t:?}")
}

/// The pages a test reads of a list of `total`: the first, the second, one in the middle, the last, one past
/// the end, and two that start a little before a third and two thirds of the way (the fixture's three schemas
/// hold about a third each, so these pages straddle the ends of schemas).
fn offsets(total: u64) -> Vec<u64> {
    let last = total.saturating_sub(1) / PAGE * PAGE;
    let straddle = |n: u64| (total * n / 3).saturating_sub(PAGE / 2);
    vec![0, PAGE, total / 2 / PAGE * PAGE, last, total + 10, straddle(1), straddle(2)]
}

#[tokio::test(flavor = "multi_thread")]
async fn table_pages_match_a_reference_over_the_whole_catalog_for_every_sort_search_and_page() {
    let (t, db, intro) = catalog().await;
    let everything = reference_tables(&db).await;
    assert!(everything.len() > TABLES, "{}", everything.len());
    assert!(everything.iter().any(|t| t.info.toast_bytes.unwrap_or(0) > 0), "some table has TOAST data");
    assert!(!everything.iter().any(|t| t.info.name == "mv"), "a materialized view is not a table");
    // The whole catalog has more never-analyzed tables than are measured; "t 12" (T 12, T 120, ...) fewer.
    for search in [None, Some("t 12"), Some("%_B1"), Some("ü"), Some("no such table")] {
        let matching: Vec<RefTable> = everything
            .iter()
            .filter(|t| {
                search.is_none_or(|s| {
                    format!("{}.{}", t.info.schema, t.info.name).to_lowercase().contains(&s.to_lowercase())
                })
            })
            .cloned()
            .collect();
        let never = matching.iter().filter(|t| t.never).count();
        if search.is_none() {
            assert!(never > EXACT_SIZE_LIMIT, "the whole catalog orders sizes by estimates: {never}");
        }
        if search == Some("t 12") {
            assert!(never <= EXACT_SIZE_LIMIT && never > 0, "measured exactly: {never}");
        }
        for sort in TableSort::ALL {
            for descending in [false, true] {
                let expected = sort_reference(matching.clone(), sort, descending);
                for offset in offsets(expected.len() as u64) {
                    let query =
                        TableQuery { sort, descending, search: search.map(str::to_string), offset, limit: PAGE };
                    let page = intro.tables(&query).await.unwrap();
                    let what = format!("{sort:?} desc={descending} search={search:?} offset={offset}");
                    assert_eq!(page.total, expected.len() as u64, "{what}");
                    let want: Vec<String> =
                        expected.iter().skip(offset as usize).take(PAGE as usize).map(|t| shown(&t.info)).collect();
                    let got: Vec<String> = page.items.iter().map(shown).collect();
                    assert_eq!(got, want, "{what}: same rows, order and facts (exact sizes)");
                }
            }
        }
    }
    db.close().await.ok();
    t.drop().await;
}

/// Every index with what decides its order and filters, computed the plain way.
const REFERENCE_INDEXES_SQL: &str = r"
SELECT n.nspname::text AS schema_name, t.relname::text AS table_name, ic.relname::text AS index_name,
       CASE WHEN ic.relkind = 'i' THEN ic.relpages::bigint * current_setting('block_size')::bigint END AS size,
       CASE WHEN ic.relkind = 'i' THEN pg_stat_get_numscans(i.indexrelid) END AS scans,
       i.indisvalid AS valid, i.indisunique AS is_unique, i.indisprimary AS is_primary,
       EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                AND con.contype IN ('p', 'u', 'x')) AS constrained
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'";

#[derive(Clone, Debug)]
struct RefIndex {
    place: (String, String, String),
    size: Option<i64>,
    scans: Option<i64>,
    valid: bool,
    unused: bool,
    /// What the table's detail (every index of the table, assessed together) says.
    duplicate_of: Option<String>,
}

async fn reference_indexes(db: &DatabaseConnection, intro: &Arc<dyn Introspector>) -> Vec<RefIndex> {
    let mut list: Vec<RefIndex> = rows(db, REFERENCE_INDEXES_SQL)
        .await
        .iter()
        .map(|r| {
            let scans: Option<i64> = get(r, "scans");
            let (valid, unique, primary, constrained): (bool, bool, bool, bool) =
                (get(r, "valid"), get(r, "is_unique"), get(r, "is_primary"), get(r, "constrained"));
            RefIndex {
                place: (get(r, "schema_name"), get(r, "table_name"), get(r, "index_name")),
                size: get(r, "size"),
                scans,
                valid,
                unused: scans == Some(0) && valid && !unique && !primary && !constrained,
                duplicate_of: None,
            }
        })
        .collect();
    // The truth about duplicates: each table with two or more indexes, assessed whole by its detail.
    let mut per_table: BTreeMap<(String, String), usize> = BTreeMap::new();
    for i in &list {
        *per_table.entry((i.place.0.clone(), i.place.1.clone())).or_default() += 1;
    }
    for ((schema, table), n) in per_table {
        if n < 2 {
            continue;
        }
        let detail = intro.table(&schema, &table).await.unwrap().expect("listed table");
        for found in detail.indexes {
            let entry = list.iter_mut().find(|i| i.place == (schema.clone(), table.clone(), found.name.clone()));
            entry.expect("same indexes").duplicate_of = found.duplicate_of;
        }
    }
    list
}

fn sort_indexes(mut list: Vec<RefIndex>, sort: IndexSort, descending: bool) -> Vec<RefIndex> {
    list.sort_by(|a, b| {
        let order = match sort {
            IndexSort::Table => a.place.cmp(&b.place),
            IndexSort::Name => a.place.2.cmp(&b.place.2).then(a.place.cmp(&b.place)),
            IndexSort::Size => a.size.cmp(&b.size).then(a.place.cmp(&b.place)),
            IndexSort::Scans => a.scans.cmp(&b.scans).then(a.place.cmp(&b.place)),
        };
        if descending { order.reverse() } else { order }
    });
    list
}

fn place(i: &IndexInfo) -> (String, String, String) {
    (i.schema.clone(), i.table.clone(), i.name.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn index_pages_match_a_reference_and_flag_duplicates_whose_twin_is_on_another_page() {
    let (t, db, intro) = catalog().await;
    let everything = reference_indexes(&db, &intro).await;
    assert!(everything.len() > TABLES, "{}", everything.len());
    let flagged = |f: fn(&RefIndex) -> bool| everything.iter().filter(|i| f(i)).count();
    assert!(flagged(|i| i.unused) > 10 && flagged(|i| !i.valid) == 1, "the fixture has unused and invalid ones");
    let mut dups: Vec<_> = everything.iter().filter(|i| i.duplicate_of.is_some()).map(|i| i.place.2.as_str()).collect();
    dups.sort();
    // The seed's two plain indexes beside unique constraints, (a) twice, both a prefix of (a, b) too.
    assert_eq!(dups, ["aaaa dup", "idx_users_email", "idx_users_username", "zzzz dup"]);

    for filter in IndexFilter::ALL {
        for search in [None, Some("DUP"), Some("ünï_1")] {
            let matching: Vec<RefIndex> = everything
                .iter()
                .filter(|i| match filter {
                    IndexFilter::All => true,
                    IndexFilter::Unused => i.unused,
                    IndexFilter::Duplicate => i.duplicate_of.is_some(),
                    IndexFilter::Invalid => !i.valid,
                })
                .filter(|i| {
                    search.is_none_or(|s| {
                        format!("{}.{}.{}", i.place.0, i.place.1, i.place.2).to_lowercase().contains(&s.to_lowercase())
                    })
                })
                .cloned()
                .collect();
            for sort in IndexSort::ALL {
                for descending in [false, true] {
                    let expected = sort_indexes(matching.clone(), sort, descending);
                    for offset in offsets(expected.len() as u64) {
                        let query = IndexQuery {
                            sort,
                            descending,
                            search: search.map(str::to_string),
                            filter,
                            offset,
                            limit: PAGE,
                        };
                        let page = intro.indexes(&query).await.unwrap();
                        let what = format!("{filter:?} {sort:?} desc={descending} search={search:?} offset={offset}");
                        assert_eq!(page.total, expected.len() as u64, "{what}");
                        let want: Vec<_> = expected
                            .iter()
                            .skip(offset as usize)
                            .take(PAGE as usize)
                            .map(|i| (i.place.clone(), i.unused, i.valid, i.duplicate_of.clone()))
                            .collect();
                        let got: Vec<_> =
                            page.items.iter().map(|i| (place(i), i.unused, i.valid, i.duplicate_of.clone())).collect();
                        assert_eq!(got, want, "{what}: same rows, order and flags");
                    }
                }
            }
        }
    }

    // By name, "aaaa dup" and its twin "zzzz dup" are pages apart: the twin is still flagged, with the drop.
    let mut found: BTreeMap<String, (u64, IndexInfo)> = BTreeMap::new();
    let mut offset = 0;
    loop {
        let query = IndexQuery { sort: IndexSort::Name, offset, limit: PAGE, ..IndexQuery::default() };
        let page = intro.indexes(&query).await.unwrap();
        for i in page.items.into_iter().filter(|i| i.name.ends_with(" dup")) {
            found.insert(i.name.clone(), (offset, i));
        }
        offset += PAGE;
        if offset >= page.total {
            break;
        }
    }
    let (first, _) = &found["aaaa dup"];
    let (second, twin) = &found["zzzz dup"];
    assert!(second > first, "the twins are on different pages: {first} and {second}");
    assert_eq!(twin.duplicate_of.as_deref(), Some("aaaa dup"));
    assert_eq!(twin.suggested_sql.as_deref(), Some(r#"DROP INDEX CONCURRENTLY "public"."zzzz dup";"#));
    assert_eq!(twin.definition, r#"CREATE INDEX "zzzz dup" ON public.dup_holder USING btree (a)"#);
    assert!(twin.size_bytes.unwrap() > 0);
    db.close().await.ok();
    t.drop().await;
}

/// The name of the prepared statement sqlx made for a query text containing `marker`, on this connection.
async fn prepared(db: &DatabaseConnection, marker: &str) -> (String, i64) {
    let found =
        rows(db, "SELECT name, statement, generic_plans + custom_plans AS runs FROM pg_prepared_statements").await;
    let hit = found
        .iter()
        .find(|r| get::<String>(r, "statement").contains(marker))
        .unwrap_or_else(|| panic!("no prepared statement with {marker:?}"));
    (get(hit, "name"), get(hit, "runs"))
}

async fn generic_plan(db: &DatabaseConnection, name: &str, args: &str) -> String {
    exec(db, "SET plan_cache_mode = force_generic_plan").await;
    let plan = rows(db, &format!("EXPLAIN EXECUTE {name}({args})")).await;
    exec(db, "RESET plan_cache_mode").await;
    plan.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn table_detail_keeps_using_the_name_and_oid_indexes_after_postgresql_switches_to_a_generic_plan() {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let setup = t.connect().await;
    exec(&setup, "DO $$ BEGIN FOR i IN 1..300 LOOP EXECUTE format('CREATE TABLE t_%s (id int PRIMARY KEY, a int)', i); END LOOP; END $$").await;
    exec(&setup, "CREATE INDEX t_7_a ON t_7 (a)").await;
    setup.close().await.ok();
    // One connection: every run of the detail reuses the same prepared statements.
    let db = t.connect_one().await;
    let intro = for_connection(db.clone()).unwrap();
    for _ in 0..7 {
        let detail = intro.table("public", "t_7").await.unwrap().expect("found");
        assert_eq!(detail.indexes.len(), 2);
    }
    let (find, runs) = prepared(&db, "(1)::bigint AS total").await;
    assert!(runs >= 7, "{runs} runs of the lookup");
    let plan = generic_plan(&db, &find, "'public', 't_7'").await;
    assert!(plan.contains("pg_class_relname_nsp_index"), "the lookup by name uses the name index:\n{plan}");
    assert!(!plan.contains("Seq Scan on pg_class"), "no scan of the whole catalog:\n{plan}");

    let (indexes, _) = prepared(&db, "WHERE i.indrelid = ANY").await;
    let oid = count(&db, "SELECT 'public.t_7'::regclass::oid::bigint").await;
    let plan = generic_plan(&db, &indexes, &format!("ARRAY[{oid}]::bigint[]")).await;
    assert!(plan.contains("pg_index_indrelid_index"), "one table's indexes come by its oid:\n{plan}");
    assert!(!plan.contains("Seq Scan on pg_index"), "{plan}");

    db.close().await.ok();
    t.drop().await;
}
