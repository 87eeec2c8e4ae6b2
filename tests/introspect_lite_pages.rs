//! SQLite and MariaDB catalog pages that read only what they show: name order and totals across pages, size and row
//! orders from one pass agreeing with each table's own figures, index sizes, and incoming foreign keys
//! found without asking every table (however the parent's name is written, hostile names included), on
//! SQLite and, through InnoDB's list of foreign keys, on MariaDB.

mod common;

use std::sync::Arc;

use common::*;
use sea_orm::ConnectionTrait;
use sea_orm::DatabaseConnection;
use strata::db::introspect::{
    IndexFilter, IndexInfo, IndexQuery, IndexSort, Introspector, Page, TableInfo, TableQuery, TableSort, for_connection,
};

async fn empty_sqlite() -> (TestDb, DatabaseConnection, Arc<dyn Introspector>) {
    let t = TestDb::new(Kind::Sqlite).await;
    let db = t.connect().await;
    let intro = for_connection(db.clone()).expect("backend is supported");
    (t, db, intro)
}

fn query(sort: TableSort, descending: bool, offset: u64, limit: u64) -> TableQuery {
    TableQuery { sort, descending, search: None, offset, limit }
}

/// 60 tables `t_00` .. `t_59` whose row counts and sizes differ (table `t_nn` holds nn * 40 rows), half of
/// them with an index, then ANALYZE so row estimates exist.
async fn sixty_tables(db: &DatabaseConnection) {
    for n in 0..60 {
        exec(db, &format!("CREATE TABLE t_{n:02} (id INTEGER PRIMARY KEY, v TEXT)")).await;
        if n % 2 == 0 {
            exec(db, &format!("CREATE INDEX t_{n:02}_v ON t_{n:02} (v)")).await;
        }
        let rows = (n * 37) % 60 * 40;
        exec(
            db,
            &format!(
                "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows}) \
                 INSERT INTO t_{n:02} (v) SELECT printf('%0200d', i) FROM c"
            ),
        )
        .await;
    }
    exec(db, "ANALYZE").await;
}

async fn whole(intro: &Arc<dyn Introspector>, sort: TableSort, descending: bool) -> Vec<TableInfo> {
    intro.tables(&query(sort, descending, 0, 1000)).await.unwrap().items
}

#[tokio::test(flavor = "multi_thread")]
async fn name_order_and_totals_hold_across_pages() {
    let (t, db, intro) = empty_sqlite().await;
    sixty_tables(&db).await;
    let mut seen = Vec::new();
    for offset in [0, 25, 50] {
        let page = intro.tables(&query(TableSort::Name, false, offset, 25)).await.unwrap();
        assert_eq!(page.total, 60, "the total counts every table on every page");
        assert!(page.items.iter().all(|i| i.table_bytes.is_some() && i.row_estimate.is_some()), "{:?}", page.items);
        seen.extend(page.items.into_iter().map(|i| i.name));
    }
    let expected: Vec<String> = (0..60).map(|n| format!("t_{n:02}")).collect();
    assert_eq!(seen, expected);
    let last = intro.tables(&query(TableSort::Name, true, 0, 3)).await.unwrap();
    assert_eq!(last.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["t_59", "t_58", "t_57"]);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn size_and_row_orders_agree_with_each_tables_own_figures_on_every_page() {
    let (t, db, intro) = empty_sqlite().await;
    sixty_tables(&db).await;
    let key = |sort: TableSort, i: &TableInfo| match sort {
        TableSort::Rows => i.row_estimate,
        TableSort::TableSize => i.table_bytes,
        TableSort::IndexSize => i.index_bytes,
        _ => i.total_bytes,
    };
    for sort in [TableSort::Rows, TableSort::TableSize, TableSort::IndexSize, TableSort::TotalSize] {
        for descending in [false, true] {
            let all = whole(&intro, sort, descending).await;
            assert_eq!(all.len(), 60);
            for pair in all.windows(2) {
                let (a, b) = (key(sort, &pair[0]).expect("known"), key(sort, &pair[1]).expect("known"));
                let in_order = if descending { a > b } else { a < b };
                assert!(in_order || (a == b && pair[0].name < pair[1].name), "{sort:?} desc={descending}: {pair:?}");
            }
            // The same order cut into pages gives the same rows with the same figures.
            let mut paged = Vec::new();
            for offset in (0..60).step_by(7) {
                paged.extend(intro.tables(&query(sort, descending, offset, 7)).await.unwrap().items);
            }
            let shown = |v: &[TableInfo]| v.iter().map(|i| (i.name.clone(), key(sort, i))).collect::<Vec<_>>();
            assert_eq!(shown(&paged), shown(&all), "{sort:?} desc={descending}");
        }
    }
    // A table without indexes has none of their bytes, and its total is its own size.
    let odd = whole(&intro, TableSort::Name, false).await.into_iter().find(|i| i.name == "t_01").unwrap();
    assert_eq!(odd.index_bytes, Some(0));
    assert_eq!(odd.total_bytes, odd.table_bytes);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn index_sizes_show_on_every_page_and_order_the_size_sort() {
    let (t, db, intro) = empty_sqlite().await;
    sixty_tables(&db).await;
    let by_size = intro
        .indexes(&IndexQuery { sort: IndexSort::Size, descending: true, limit: 1000, ..IndexQuery::default() })
        .await
        .unwrap();
    assert_eq!(by_size.total, 30);
    let sizes: Vec<i64> = by_size.items.iter().map(|i| i.size_bytes.expect("dbstat is built in")).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    let page = intro.indexes(&IndexQuery { offset: 10, limit: 5, ..IndexQuery::default() }).await.unwrap();
    assert_eq!(page.total, 30);
    assert_eq!(
        page.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["t_20_v", "t_22_v", "t_24_v", "t_26_v", "t_28_v"]
    );
    for index in &page.items {
        let same = by_size.items.iter().find(|i| i.name == index.name).unwrap();
        assert_eq!(index.size_bytes, same.size_bytes, "{}", index.name);
        assert_eq!(index.definition, format!("CREATE INDEX {0} ON {1} (v)", index.name, index.table));
    }
    let detail = intro.table("main", "t_20").await.unwrap().unwrap();
    assert_eq!(detail.indexes.len(), 1);
    assert_eq!(detail.indexes[0].size_bytes, page.items[0].size_bytes);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn incoming_foreign_keys_are_found_however_the_parent_is_written() {
    let (t, db, intro) = empty_sqlite().await;
    for sql in [
        "CREATE TABLE Parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE)",
        "CREATE TABLE bare (p INTEGER REFERENCES parent (id))",
        r#"CREATE TABLE quoted (p INTEGER, CONSTRAINT to_parent FOREIGN KEY (p) REFERENCES "PARENT")"#,
        "CREATE TABLE bracketed (c TEXT REFERENCES [Parent] (code) ON DELETE CASCADE)",
        "CREATE TABLE elsewhere (p INTEGER REFERENCES parent_archive (id))",
        "CREATE TABLE mentions_parent (parent_id INTEGER, note TEXT DEFAULT 'parent')",
        r#"CREATE TABLE "we""ird'parent" (id INTEGER PRIMARY KEY)"#,
        r#"CREATE TABLE hostile_child (p INTEGER REFERENCES "We""ird'Parent" (id))"#,
        // 200 more tables that do not refer to anything: the prefilter skips them.
        "CREATE TABLE parent_archive (id INTEGER PRIMARY KEY)",
    ] {
        exec(&db, sql).await;
    }
    for n in 0..200 {
        exec(&db, &format!("CREATE TABLE filler_{n} (id INTEGER PRIMARY KEY)")).await;
    }
    let parent = intro.table("main", "Parent").await.unwrap().unwrap();
    let from: Vec<(&str, &str)> =
        parent.referenced_by.iter().map(|k| (k.from_table.as_str(), k.name.as_str())).collect();
    assert_eq!(
        from,
        [("bare", "(unnamed foreign key #0)"), ("bracketed", "(unnamed foreign key #0)"), ("quoted", "to_parent")]
    );
    let bracketed = parent.referenced_by.iter().find(|k| k.from_table == "bracketed").unwrap();
    assert_eq!((bracketed.to_columns.clone(), bracketed.on_delete.as_str()), (vec!["code".to_string()], "CASCADE"));
    let quoted = parent.referenced_by.iter().find(|k| k.from_table == "quoted").unwrap();
    assert_eq!(quoted.to_columns, ["id"], "a key without columns refers to the primary key");

    let hostile = intro.table("main", "we\"ird'parent").await.unwrap().unwrap();
    let from: Vec<&str> = hostile.referenced_by.iter().map(|k| k.from_table.as_str()).collect();
    assert_eq!(from, ["hostile_child"]);
    let archive = intro.table("main", "parent_archive").await.unwrap().unwrap();
    assert_eq!(archive.referenced_by.iter().map(|k| k.from_table.as_str()).collect::<Vec<_>>(), ["elsewhere"]);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_incoming_foreign_keys_are_found_by_lookups_and_for_hostile_names() {
    let t = TestDb::new(Kind::MySql).await;
    let db = t.connect().await;
    let intro = for_connection(db.clone()).expect("backend is supported");
    for sql in [
        "CREATE TABLE parent_t (id INT PRIMARY KEY, up INT, code VARCHAR(10) UNIQUE, \
         CONSTRAINT parent_up FOREIGN KEY (up) REFERENCES parent_t (id))",
        "CREATE TABLE child_a (id INT PRIMARY KEY, p INT, CONSTRAINT a_to_parent FOREIGN KEY (p) REFERENCES parent_t (id) ON DELETE CASCADE)",
        "CREATE TABLE child_b (c VARCHAR(10), p INT, q INT, CONSTRAINT b_code FOREIGN KEY (c) REFERENCES parent_t (code), \
         CONSTRAINT b_to_a FOREIGN KEY (q) REFERENCES child_a (id))",
        "CREATE TABLE parent_t2 (id INT PRIMARY KEY)",
        "CREATE TABLE child_c (p INT, CONSTRAINT c_to_other FOREIGN KEY (p) REFERENCES parent_t2 (id))",
        "CREATE TABLE `we'ird näme` (id INT PRIMARY KEY)",
        "CREATE TABLE `hostile child` (p INT, CONSTRAINT hostile_fk FOREIGN KEY (p) REFERENCES `we'ird näme` (id))",
    ] {
        exec(&db, sql).await;
    }
    let s = t.schema().to_string();
    let parent = intro.table(&s, "parent_t").await.unwrap().unwrap();
    let incoming: Vec<(&str, &str)> =
        parent.referenced_by.iter().map(|k| (k.from_table.as_str(), k.name.as_str())).collect();
    assert_eq!(incoming, [("child_a", "a_to_parent"), ("child_b", "b_code"), ("parent_t", "parent_up")]);
    let a = parent.referenced_by.iter().find(|k| k.from_table == "child_a").unwrap();
    assert_eq!(
        (a.from_columns.clone(), a.to_columns.clone(), a.on_delete.as_str()),
        (vec!["p".into()], vec!["id".into()], "CASCADE")
    );
    let outgoing: Vec<&str> = parent.references.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(outgoing, ["parent_up"], "the self-reference is listed once on each side");
    assert!(parent.constraints.iter().any(|c| c.kind == "PRIMARY KEY"), "{:?}", parent.constraints);

    let child_a = intro.table(&s, "child_a").await.unwrap().unwrap();
    assert_eq!(child_a.referenced_by.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["b_to_a"]);
    assert_eq!(child_a.references.iter().map(|k| k.to_table.as_str()).collect::<Vec<_>>(), ["parent_t"]);

    let hostile = intro.table(&s, "we'ird näme").await.unwrap().unwrap();
    let incoming: Vec<&str> = hostile.referenced_by.iter().map(|k| k.from_table.as_str()).collect();
    assert_eq!(incoming, ["hostile child"]);
    db.close().await.ok();
    t.drop().await;
}

/// Tables this MariaDB session has opened so far (its table cache's hits and misses).
async fn tables_opened(db: &DatabaseConnection) -> i64 {
    let rows = column(
        db,
        "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
         WHERE VARIABLE_NAME IN ('TABLE_OPEN_CACHE_HITS', 'TABLE_OPEN_CACHE_MISSES')",
    )
    .await;
    rows.iter().map(|v| v.parse::<i64>().expect("a counter")).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_table_detail_opens_only_the_tables_it_names_whatever_their_names() {
    let t = TestDb::new(Kind::MySql).await;
    // One session, so its status counters are the introspector's.
    let db = t.connect_one().await;
    let intro = for_connection(db.clone()).expect("backend is supported");
    let other = format!("{}_h", t.name);
    for sql in [
        "CREATE TABLE `we'ird näme ü` (id INT PRIMARY KEY)".to_string(),
        "CREATE TABLE `a/b.c` (id INT PRIMARY KEY)".to_string(),
        "CREATE TABLE `ch@ild-ä.x` (p INT, CONSTRAINT to_weird FOREIGN KEY (p) REFERENCES `we'ird näme ü` (id), \
         CONSTRAINT to_slash FOREIGN KEY (p) REFERENCES `a/b.c` (id))"
            .to_string(),
        format!(
            "CREATE TABLE `{other}`.`far child` (p INT, CONSTRAINT from_afar FOREIGN KEY (p) \
             REFERENCES `{}`.`we'ird näme ü` (id))",
            t.name
        ),
    ] {
        exec(&db, &sql).await;
    }
    for n in 0..40 {
        exec(&db, &format!("CREATE TABLE filler_{n} (id INT PRIMARY KEY)")).await;
    }
    let s = t.schema().to_string();
    for (table, expected) in [
        ("we'ird näme ü", vec![("far child", "from_afar"), ("ch@ild-ä.x", "to_weird")]),
        ("a/b.c", vec![("ch@ild-ä.x", "to_slash")]),
    ] {
        let before = tables_opened(&db).await;
        let detail = intro.table(&s, table).await.unwrap().unwrap();
        let opened = tables_opened(&db).await - before;
        let incoming: Vec<(&str, &str)> =
            detail.referenced_by.iter().map(|k| (k.from_table.as_str(), k.name.as_str())).collect();
        assert_eq!(incoming, expected, "{table}");
        // Asking every table of the server would open the 40 fillers and more.
        assert!(opened < 20, "{table}: the detail opened {opened} tables");
    }
    exec(&db, &format!("DROP TABLE `{other}`.`far child`")).await;
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_index_assessment_follows_every_schema_change_made_on_another_connection() {
    let (t, db, intro) = empty_sqlite().await;
    sixty_tables(&db).await;
    let duplicates = IndexQuery { filter: IndexFilter::Duplicate, limit: 100, ..IndexQuery::default() };
    let names = |page: Page<IndexInfo>| page.items.into_iter().map(|i| i.name).collect::<Vec<_>>();
    assert_eq!(names(intro.indexes(&duplicates).await.unwrap()), Vec::<String>::new());
    let other = t.connect().await;
    exec(&other, "CREATE INDEX t_04_v_again ON t_04 (v)").await;
    assert_eq!(names(intro.indexes(&duplicates).await.unwrap()), ["t_04_v_again"], "a new index counts at once");
    exec(&other, "ALTER TABLE t_04 RENAME TO t_04_renamed").await;
    let page = intro.indexes(&duplicates).await.unwrap();
    assert_eq!(page.items.iter().map(|i| i.table.as_str()).collect::<Vec<_>>(), ["t_04_renamed"]);
    exec(&other, "DROP INDEX t_04_v").await;
    assert_eq!(names(intro.indexes(&duplicates).await.unwrap()), Vec::<String>::new(), "its twin is gone");
    let all = intro.indexes(&IndexQuery { limit: 100, ..IndexQuery::default() }).await.unwrap();
    assert_eq!(all.total, 30);
    assert!(all.items.iter().any(|i| i.name == "t_04_v_again" && i.duplicate_of.is_none()));
    other.close().await.ok();
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_tables_page_follows_views_and_sequences_made_on_another_connection() {
    let t = TestDb::new(Kind::MySql).await;
    let db = t.connect().await;
    let intro = for_connection(db.clone()).expect("backend is supported");
    let other = t.connect().await;
    let listed = || async {
        let page = intro.tables(&query(TableSort::Name, false, 0, 50)).await.unwrap();
        (page.total, page.items.into_iter().map(|i| i.name).collect::<Vec<_>>())
    };
    exec(&other, "CREATE TABLE a_t (id INT PRIMARY KEY)").await;
    exec(&other, "CREATE VIEW b_v AS SELECT 1 AS one").await;
    assert_eq!(listed().await, (1, vec!["a_t".to_string()]));
    exec(&other, "CREATE VIEW c_v AS SELECT 1 AS one").await;
    assert_eq!(listed().await, (1, vec!["a_t".to_string()]), "a new view is not a table");
    exec(&other, "DROP VIEW c_v").await;
    exec(&other, "CREATE TABLE c_v (id INT PRIMARY KEY)").await;
    assert_eq!(listed().await, (2, vec!["a_t".to_string(), "c_v".to_string()]), "a table where a view was");
    exec(&other, "RENAME TABLE b_v TO d_v").await;
    exec(&other, "CREATE SEQUENCE e_s").await;
    assert_eq!(listed().await, (2, vec!["a_t".to_string(), "c_v".to_string()]), "a renamed view, a sequence");
    exec(&other, "DROP TABLE c_v").await;
    exec(&other, "CREATE OR REPLACE VIEW c_v AS SELECT 2 AS two").await;
    assert_eq!(listed().await, (1, vec!["a_t".to_string()]), "a view where a table was");
    other.close().await.ok();
    db.close().await.ok();
    t.drop().await;
}

/// The tables page of MariaDB as one read of every table's row of `information_schema.TABLES` orders it.
async fn maria_reference(db: &DatabaseConnection, sort: TableSort, descending: bool) -> Vec<(String, Option<i64>)> {
    let dir = if descending { "DESC" } else { "ASC" };
    let key = match sort {
        TableSort::Name => None,
        TableSort::Rows => Some("t.TABLE_ROWS"),
        TableSort::TableSize => Some("t.DATA_LENGTH"),
        TableSort::IndexSize => Some("t.INDEX_LENGTH"),
        TableSort::TotalSize => Some("(t.DATA_LENGTH + t.INDEX_LENGTH)"),
        _ => Some("NULL"),
    };
    let order = match key {
        None => format!("t.TABLE_NAME {dir}"),
        Some(k) => format!("{k} IS NULL, {k} {dir}, t.TABLE_NAME"),
    };
    let sql = format!(
        "SELECT t.TABLE_NAME AS name, CAST(t.DATA_LENGTH + t.INDEX_LENGTH AS SIGNED) AS total \
         FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = DATABASE() \
         AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY {order}"
    );
    let rows = db.query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::MySql, sql)).await.unwrap();
    rows.iter().map(|r| (r.try_get("", "name").unwrap(), r.try_get("", "total").unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_pages_read_by_names_first_match_one_read_of_every_table() {
    let t = TestDb::new(Kind::MySql).await;
    let db = t.connect().await;
    let intro = for_connection(db.clone()).expect("backend is supported");
    for n in 0..12 {
        exec(
            &db,
            &format!("CREATE TABLE m_{n:02} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200), KEY m_{n:02}_v (v))"),
        )
        .await;
        let rows = (n * 37) % 12 * 150;
        if rows > 0 {
            exec(&db, &format!("INSERT INTO m_{n:02} (v) SELECT LPAD(seq, 200, '0') FROM seq_1_to_{rows}")).await;
        }
    }
    for sql in [
        // Without InnoDB's persistent statistics: another engine, partitions, a name InnoDB stores encoded.
        "CREATE TABLE aria_t (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=Aria",
        "INSERT INTO aria_t SELECT seq, LPAD(seq, 200, '0') FROM seq_1_to_700",
        "CREATE TABLE part_t (id INT PRIMARY KEY, v VARCHAR(200)) PARTITION BY HASH (id) PARTITIONS 2",
        "INSERT INTO part_t SELECT seq, LPAD(seq, 200, '0') FROM seq_1_to_900",
        "CREATE TABLE `dollar$t` (id INT PRIMARY KEY, v VARCHAR(200), KEY dv (v), KEY dv_again (v))",
        "INSERT INTO `dollar$t` SELECT seq, LPAD(seq, 200, '0') FROM seq_1_to_400",
        "CREATE VIEW v_m AS SELECT * FROM m_01",
        // Not tables: a sequence and a view `kase` beside a table `KASE` (names differ by case only).
        "CREATE SEQUENCE seq_m",
        "CREATE VIEW kase AS SELECT 1 AS one",
        "CREATE TABLE KASE (id INT PRIMARY KEY)",
        // A table that keeps its history is a table.
        "CREATE TABLE sv_t (id INT PRIMARY KEY, v VARCHAR(200)) WITH SYSTEM VERSIONING",
        "INSERT INTO sv_t SELECT seq, LPAD(seq, 200, '0') FROM seq_1_to_300",
        "CREATE TABLE checked (id INT PRIMARY KEY, p INT, q INT, CONSTRAINT positive CHECK (q > 0), \
         CONSTRAINT checked_to_m FOREIGN KEY (p) REFERENCES m_01 (id) ON UPDATE CASCADE)",
    ] {
        exec(&db, sql).await;
    }
    let tables = (0..12)
        .map(|n| format!("m_{n:02}"))
        .chain(["aria_t", "part_t", "`dollar$t`", "checked", "KASE", "sv_t"].map(String::from));
    exec(&db, &format!("ANALYZE TABLE {}", tables.collect::<Vec<_>>().join(", "))).await;

    for sort in [TableSort::Name, TableSort::Rows, TableSort::TableSize, TableSort::TotalSize, TableSort::DeadRows] {
        for descending in [false, true] {
            let reference = maria_reference(&db, sort, descending).await;
            assert_eq!(reference.len(), 18, "{reference:?}");
            let mut got = Vec::new();
            for offset in (0..20).step_by(5) {
                let page = intro.tables(&query(sort, descending, offset, 5)).await.unwrap();
                assert_eq!(page.total, 18, "{sort:?}");
                got.extend(page.items.into_iter().map(|i| (i.name, i.total_bytes)));
            }
            assert_eq!(got, reference, "{sort:?} descending={descending}");
        }
    }
    for sort in [TableSort::Name, TableSort::TotalSize] {
        let past = intro.tables(&query(sort, false, 40, 5)).await.unwrap();
        assert_eq!((past.total, past.items.len()), (18, 0), "a page past the last one still has the total");
    }
    let none = TableQuery { search: Some("no such".into()), ..query(TableSort::Name, false, 0, 5) };
    assert_eq!(intro.tables(&none).await.unwrap().total, 0);
    let searched = intro
        .tables(&TableQuery { search: Some("M_0".into()), ..query(TableSort::TotalSize, true, 2, 3) })
        .await
        .unwrap();
    assert_eq!(searched.total, 10);
    assert_eq!(searched.items.len(), 3);

    let s = t.schema().to_string();
    let checked = intro.table(&s, "checked").await.unwrap().unwrap();
    let check = checked.constraints.iter().find(|c| c.kind == "CHECK").unwrap();
    assert_eq!(check.definition, "CHECK (`q` > 0)");
    assert_eq!(checked.references[0].on_update, "CASCADE");
    let dollar = intro.table(&s, "dollar$t").await.unwrap().unwrap();
    assert_eq!(dollar.indexes.iter().filter(|i| i.duplicate_of.is_some()).count(), 1);
    assert!(intro.table(&s, "v_m").await.unwrap().is_none(), "a view is not a table");

    // Index pages hold what each table's own detail says, in the page's order.
    let mut every: Vec<IndexInfo> = Vec::new();
    for name in reference_names(&maria_reference(&db, TableSort::Name, false).await) {
        every.extend(intro.table(&s, &name).await.unwrap().unwrap().indexes);
    }
    let place = |i: &IndexInfo| (i.table.clone(), i.name.clone());
    every.sort_by_key(place);
    let listed = intro.indexes(&IndexQuery { limit: 1000, ..IndexQuery::default() }).await.unwrap();
    assert_eq!(listed.items.iter().map(place).collect::<Vec<_>>(), every.iter().map(place).collect::<Vec<_>>());
    for (a, b) in listed.items.iter().zip(&every) {
        assert_eq!((&a.duplicate_of, &a.definition, a.size_bytes), (&b.duplicate_of, &b.definition, b.size_bytes));
    }
    let duplicates = intro
        .indexes(&IndexQuery { filter: IndexFilter::Duplicate, limit: 10, ..IndexQuery::default() })
        .await
        .unwrap();
    assert_eq!(
        duplicates.items.iter().map(place).collect::<Vec<_>>(),
        [("dollar$t".to_string(), "dv_again".to_string())]
    );
    let second = intro.indexes(&IndexQuery { offset: 5, limit: 5, ..IndexQuery::default() }).await.unwrap();
    assert_eq!(second.total, every.len() as u64);
    assert_eq!(second.items.iter().map(place).collect::<Vec<_>>(), every[5..10].iter().map(place).collect::<Vec<_>>());
    // The list is reused while no index can have changed: a new or dropped one shows at once.
    let duplicates = IndexQuery { filter: IndexFilter::Duplicate, limit: 10, ..IndexQuery::default() };
    exec(&db, "CREATE INDEX m_03_v_again ON m_03 (v)").await;
    let names = |page: Page<IndexInfo>| page.items.into_iter().map(|i| i.name).collect::<Vec<_>>();
    assert_eq!(names(intro.indexes(&duplicates).await.unwrap()), ["dv_again", "m_03_v_again"]);
    exec(&db, "DROP INDEX dv_again ON `dollar$t`").await;
    assert_eq!(names(intro.indexes(&duplicates).await.unwrap()), ["m_03_v_again"]);
    db.close().await.ok();
    t.drop().await;
}

fn reference_names(rows: &[(String, Option<i64>)]) -> Vec<String> {
    rows.iter().map(|(n, _)| n.clone()).collect()
}
