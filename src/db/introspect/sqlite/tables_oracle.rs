//! The table list's and table detail's SQL as it was before the schema was kept per version (every page ordered,
//! cut and searched in one statement over `sqlite_schema`, incoming foreign keys prefiltered in SQL), kept here as
//! the reference the new reads must match row for row on a file with many tables and hostile names.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, FromQueryResult};

use super::Sqlite;
use super::tables::{ForeignKeyRow, REFERENCED_BY_SQL, TableRow, json_list, referencing_candidates};
use crate::db::introspect::{Introspector, TableQuery, TableSort};

/// One page of tables (as before). `?1`: search text or NULL; `?2`: an exact name or NULL; `?3`, `?4`: limit and offset.
/// `{ctes}`, `{joins}`, `{order}`, `{rows}` and the size expressions are replaced by fragments chosen from
/// constants only. The page is ordered and cut on names (and, for a row or size order, on one pass over
/// `sqlite_stat1` or `dbstat`) first; row estimates and sizes are then read for the page's rows only.
const TABLES_SQL: &str = r"
WITH t AS (
    SELECT m.name AS table_name
    FROM sqlite_schema m
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
      AND (?1 IS NULL OR instr(lower('main.' || m.name), lower(?1)) > 0)
      AND (?2 IS NULL OR m.name = ?2)
){ctes},
page AS MATERIALIZED (
    SELECT t.table_name, row_number() OVER (ORDER BY {order}) AS pos
    FROM t{joins}
    ORDER BY pos
    LIMIT ?3 OFFSET ?4
)
SELECT t.table_name, {rows} AS row_estimate, {table_bytes} AS table_bytes, {index_bytes} AS index_bytes
FROM page t
ORDER BY t.pos";

/// How many tables match (`?1`: search text or NULL).
const COUNT_SQL: &str = r"
SELECT count(*) AS n
FROM sqlite_schema m
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
  AND (?1 IS NULL OR instr(lower('main.' || m.name), lower(?1)) > 0)";

/// The row estimate of table `t.table_name` from the largest count ANALYZE stored for it.
const ROWS_FROM_STAT1: &str = "(SELECT max(CAST(s.stat AS INTEGER)) FROM sqlite_stat1 s WHERE s.tbl = t.table_name)";

// Sizes of the page's table `t.table_name` from dbstat: each b-tree is looked up by name (`name =` and
// `aggregate = 1` are constraints dbstat uses), so a page walks only its own tables' and indexes' b-trees.
const TABLE_BYTES: &str = "(SELECT d.pgsize FROM dbstat d WHERE d.name = t.table_name AND d.aggregate = 1)";
const INDEX_BYTES: &str = "(SELECT coalesce(sum((SELECT d.pgsize FROM dbstat d WHERE d.name = i.name AND d.aggregate = 1)), 0) \
     FROM sqlite_schema i WHERE i.type = 'index' AND i.tbl_name = t.table_name)";

// For an order by rows or size, every table's value is needed: one pass over `sqlite_stat1`, or one walk
// of every b-tree in dbstat, joined to the tables (never one lookup per table). CROSS JOIN keeps
// `sqlite_schema` outside, so SQLite indexes the walked sizes by name instead of scanning them per row.
const ROWS_CTE: &str =
    ",\nest AS MATERIALIZED (SELECT s.tbl, max(CAST(s.stat AS INTEGER)) AS n FROM sqlite_stat1 s GROUP BY s.tbl)";
const ROWS_JOIN: &str = "\n    LEFT JOIN est ON est.tbl = t.table_name";
const SIZES_CTE: &str = ",\nsizes AS MATERIALIZED (SELECT d.name, d.pgsize FROM dbstat d WHERE d.aggregate = 1),
per_table AS MATERIALIZED (
    SELECT b.tbl_name,
           sum(CASE WHEN b.type = 'table' THEN s.pgsize END) AS table_bytes,
           coalesce(sum(CASE WHEN b.type = 'index' THEN s.pgsize END), 0) AS index_bytes
    FROM sqlite_schema b CROSS JOIN sizes s ON s.name = b.name
    WHERE b.type IN ('table', 'index')
    GROUP BY b.tbl_name
)";
const SIZES_JOIN: &str = "\n    LEFT JOIN per_table ps ON ps.tbl_name = t.table_name";

/// The whitelisted ORDER BY over `t` and its joins. Unknowns sort last; ties by name.
fn order_by(sort: TableSort, descending: bool, dbstat: bool, stat1: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let key = match sort {
        TableSort::Name => return format!("t.table_name {dir}"),
        TableSort::Rows if stat1 => "est.n",
        TableSort::TableSize if dbstat => "ps.table_bytes",
        // A table without indexes has 0 bytes of them, as on the page.
        TableSort::IndexSize if dbstat => "coalesce(ps.index_bytes, 0)",
        TableSort::TotalSize if dbstat => "(ps.table_bytes + coalesce(ps.index_bytes, 0))",
        // Nothing SQLite can tell: every value is unknown, so the order is the name's.
        _ => "NULL",
    };
    format!("{key} IS NULL, {key} {dir}, t.table_name")
}

/// The tables query with every placeholder filled from constants (no user text).
fn tables_sql(sort: TableSort, descending: bool, dbstat: bool, stat1: bool) -> String {
    let (table_bytes, index_bytes) = if dbstat { (TABLE_BYTES, INDEX_BYTES) } else { ("NULL", "NULL") };
    let (ctes, joins) = match sort {
        TableSort::Rows if stat1 => (ROWS_CTE, ROWS_JOIN),
        TableSort::TableSize | TableSort::IndexSize | TableSort::TotalSize if dbstat => (SIZES_CTE, SIZES_JOIN),
        _ => ("", ""),
    };
    TABLES_SQL
        .replace("{ctes}", ctes)
        .replace("{joins}", joins)
        .replace("{rows}", if stat1 { ROWS_FROM_STAT1 } else { "NULL" })
        .replace("{order}", &order_by(sort, descending, dbstat, stat1))
        .replace("{table_bytes}", table_bytes)
        .replace("{index_bytes}", index_bytes)
}

/// Foreign keys of every table that point to the table `?1` (SQLite compares table names without case).
/// `{prefilter}` is `NAME_IN_TEXT` or nothing.
const REFERENCED_BY_ALL_SQL: &str = r#"
SELECT m.name AS from_table, f.id, f.seq, f."table" AS to_table, f."from" AS from_column, f."to" AS to_column,
       f.on_update, f.on_delete
FROM sqlite_schema m
JOIN pragma_foreign_key_list(m.name) f
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'{prefilter} AND f."table" = ?1 COLLATE NOCASE
ORDER BY m.name, f.id, f.seq"#;

/// Keeps only tables whose definition holds the name `?1` (ASCII case folded, as SQLite matches names),
/// so the foreign-key pragma runs for those tables and not for every table of the file.
const NAME_IN_TEXT: &str = " AND instr(lower(m.sql), lower(?1)) > 0";

/// The incoming foreign keys query for the table `name`. Every foreign key SQLite reports was parsed from
/// the child's `CREATE TABLE` text, where the parent's name is written as is (bare or quoted), unless the
/// name holds a quote character, which its quoted form doubles: such a name asks every table, as before.
fn referenced_by_sql(name: &str) -> String {
    let verbatim = !name.contains(['"', '\'', '`', ']']);
    REFERENCED_BY_ALL_SQL.replace("{prefilter}", if verbatim { NAME_IN_TEXT } else { "" })
}

/// Names a person would not type: quotes of every kind, spaces, mixed case, non-ASCII twins that SQLite does not fold,
/// SQL in the name.
const HOSTILE: &[&str] = &[
    "Users",
    "Mixed_CASE",
    "order",
    "a \"quoted\" name",
    "it's",
    "back`tick",
    "[bracket]",
    "semi; DROP TABLE x; --",
    "Ünïcödé",
    "ünïcödé",
    "main.dotted",
    "100%_like",
    "sqlitefoo",
    "SQLITE",
    " leading space",
];

async fn fixture() -> (tempfile::TempDir, DatabaseConnection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("many.db").display());
    let db = Database::connect(&url).await.expect("open the fixture");
    let exec = |sql: String| {
        let db = db.clone();
        async move { db.execute_unprepared(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) }
    };
    exec("BEGIN".into()).await;
    for i in 0..300 {
        let t = format!("p{i:04}");
        exec(format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT UNIQUE, v INTEGER)")).await;
        exec(format!(
            "INSERT INTO {t} (name, v) WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {}) \
             SELECT 'row ' || x, x % 7 FROM g",
            (i * 37) % 90
        ))
        .await;
        if i % 3 == 0 {
            exec(format!("CREATE INDEX {t}_v ON {t} (v)")).await;
        }
        if i % 5 == 0 {
            exec(format!("CREATE TABLE c{i:04} (id INTEGER PRIMARY KEY, p INTEGER REFERENCES {t} (id))")).await;
        }
    }
    for (n, name) in HOSTILE.iter().enumerate() {
        let q = super::quote_ident(name);
        exec(format!("CREATE TABLE {q} (k TEXT PRIMARY KEY, w INTEGER) WITHOUT ROWID")).await;
        exec(format!("INSERT INTO {q} VALUES ('a', {n}), ('b', 2)")).await;
        exec(format!("CREATE INDEX {} ON {q} (w)", super::quote_ident(&format!("{name} idx")))).await;
        // Foreign keys into the hostile table, written quoted and bare-ish.
        exec(format!(
            "CREATE TABLE {} (id INTEGER PRIMARY KEY, k TEXT, CONSTRAINT fk_{n} FOREIGN KEY (k) REFERENCES {q} (k))",
            super::quote_ident(&format!("child of {name}"))
        ))
        .await;
    }
    exec("CREATE TABLE lone (x)".into()).await;
    exec("CREATE VIEW a_view AS SELECT 1".into()).await;
    exec("COMMIT".into()).await;
    // Estimates for most tables, not all: a table ANALYZE never saw has none.
    exec("ANALYZE".into()).await;
    exec("CREATE TABLE after_analyze (id INTEGER PRIMARY KEY, t TEXT)".into()).await;
    exec("DELETE FROM sqlite_stat1 WHERE tbl = 'p0007'".into()).await;
    (dir, db)
}

fn query(sort: TableSort, descending: bool, search: Option<&str>, offset: u64, limit: u64) -> TableQuery {
    TableQuery { sort, descending, search: search.map(str::to_string), offset, limit }
}

#[tokio::test]
async fn the_table_pages_match_the_single_statement_reads_row_for_row() {
    let (_dir, db) = fixture().await;
    let intro = Sqlite::new(db.clone());
    let searches = [None, Some("P01"), Some("main.u"), Some("\""), Some("Ü"), Some("ü"), Some("%"), Some("child of")];
    for sort in TableSort::ALL {
        for descending in [false, true] {
            for search in searches {
                for (offset, limit) in [(0, 50), (37, 50), (330, 50), (0, 1000)] {
                    let q = query(sort, descending, search, offset, limit);
                    let got = intro.tables(&q).await.expect("new read");
                    let sql = tables_sql(sort, descending, true, true);
                    let values: [sea_orm::Value; 4] = [
                        search.map(str::to_string).into(),
                        Option::<String>::None.into(),
                        (limit as i64).into(),
                        (offset as i64).into(),
                    ];
                    let want = TableRow::find_by_statement(super::statement(&sql, values)).all(&db).await.expect("old");
                    let total = intro.count(COUNT_SQL, [search.map(str::to_string).into()]).await.expect("count");
                    let got_rows: Vec<TableRow> = got
                        .items
                        .iter()
                        .map(|t| TableRow {
                            table_name: t.name.clone(),
                            row_estimate: t.row_estimate,
                            table_bytes: t.table_bytes,
                            index_bytes: t.index_bytes,
                        })
                        .collect();
                    assert_eq!(got_rows, want, "{sort:?} desc={descending} search={search:?} offset={offset}");
                    assert_eq!(got.total, total as u64, "{sort:?} search={search:?}");
                }
            }
        }
    }
}

#[tokio::test]
async fn incoming_foreign_keys_match_the_scan_of_every_table() {
    let (_dir, db) = fixture().await;
    let intro = Sqlite::new(db.clone());
    let schema = intro.schema().await.expect("schema");
    let mut seen = 0;
    for t in &schema.tables {
        let want: Vec<ForeignKeyRow> =
            intro.all(&referenced_by_sql(&t.name), [t.name.clone().into()]).await.expect("old");
        let candidates = json_list(referencing_candidates(&schema, &t.name).into_iter()).expect("list");
        let got: Vec<ForeignKeyRow> =
            intro.all(REFERENCED_BY_SQL, [t.name.clone().into(), candidates.into()]).await.expect("new");
        assert_eq!(got, want, "foreign keys into {:?}", t.name);
        seen += want.len();
    }
    assert!(seen >= 60 + HOSTILE.len(), "the fixture's keys were found ({seen})");
}

#[tokio::test]
async fn a_schema_change_from_another_connection_is_seen_by_the_next_page() {
    let (dir, db) = fixture().await;
    let intro = Sqlite::new(db.clone());
    let before = intro.tables(&query(TableSort::Name, false, Some("zz_new"), 0, 50)).await.expect("list");
    assert_eq!(before.total, 0);
    let other = Database::connect(format!("sqlite://{}", dir.path().join("many.db").display())).await.expect("other");
    other
        .execute_unprepared("CREATE TABLE zz_new (a INTEGER); CREATE INDEX zz_new_a ON zz_new (a)")
        .await
        .expect("ddl");
    let after = intro.tables(&query(TableSort::Name, false, Some("zz_new"), 0, 50)).await.expect("list");
    assert_eq!(after.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["zz_new"]);
    assert!(after.items[0].index_bytes.unwrap_or(0) > 0, "the new index's b-tree is counted");
    let detail = intro.table("main", "zz_new").await.expect("detail").expect("found");
    assert_eq!(detail.indexes.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["zz_new_a"]);
    other.execute_unprepared("DROP TABLE zz_new").await.expect("drop");
    assert!(intro.table("main", "zz_new").await.expect("detail").is_none());
}
