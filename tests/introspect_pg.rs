//! The PostgreSQL catalog reads against a real server: overview, tables, indexes, sessions, bloat.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use strata::db::introspect::{IndexInfo, IndexQuery, Introspector, TableInfo, TableQuery, TableSort, for_connection};

/// A migrated seed database and the introspector over it.
async fn seeded() -> (TestDb, DatabaseConnection, Arc<dyn Introspector>) {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let db = t.connect().await;
    let intro = for_connection(db.clone()).expect("PostgreSQL is supported");
    (t, db, intro)
}

async fn pid_of(db: &impl ConnectionTrait) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid()::bigint"))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

fn query(sort: TableSort, descending: bool, search: Option<&str>, offset: u64, limit: u64) -> TableQuery {
    TableQuery { sort, descending, search: search.map(str::to_string), offset, limit }
}

/// Every index in one list, as the indexes page pages through them.
async fn every_index(intro: &Arc<dyn Introspector>) -> Vec<IndexInfo> {
    intro.indexes(&IndexQuery { limit: 100_000, ..IndexQuery::default() }).await.unwrap().items
}

fn names(items: &[TableInfo]) -> Vec<String> {
    items.iter().map(|t| format!("{}.{}", t.schema, t.name)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn overview_reports_sane_numbers() {
    let (t, db, intro) = seeded().await;
    let o = intro.overview(Duration::from_secs(300)).await.unwrap();
    assert!(o.server_version.starts_with(|c: char| c.is_ascii_digit()), "{}", o.server_version);
    assert_eq!(o.database_name, t.name);
    assert!(o.database_size_bytes.unwrap() > 0);
    assert!(o.started_at.unwrap() < chrono::Utc::now());
    assert!(o.max_connections.unwrap() > 0);
    assert!(o.connections_by_state.iter().map(|(_, n)| n).sum::<i64>() >= 1, "{:?}", o.connections_by_state);
    let remaining = o.wraparound_remaining.unwrap();
    assert!(remaining > 0 && remaining < i64::from(i32::MAX) + 1);
    assert!((0.0..=1.0).contains(&o.wraparound_used_ratio.unwrap()));
    for ratio in [o.table_cache_hit_ratio, o.index_cache_hit_ratio].into_iter().flatten() {
        assert!((0.0..=1.0).contains(&ratio));
    }
    assert_eq!(o.long_running_queries, Some(0));
    db.close().await.ok();
    t.drop().await;
}

/// The value a sort key orders by, as a number (times in microseconds).
fn sort_value(sort: TableSort, t: &TableInfo) -> Option<i64> {
    let newest = |a: Option<chrono::DateTime<chrono::Utc>>, b: Option<chrono::DateTime<chrono::Utc>>| {
        a.max(b).map(|d| d.timestamp_micros())
    };
    match sort {
        TableSort::Name => unreachable!(),
        TableSort::Rows => t.row_estimate,
        TableSort::TableSize => t.table_bytes,
        TableSort::IndexSize => t.index_bytes,
        TableSort::ToastSize => t.toast_bytes,
        TableSort::TotalSize => t.total_bytes,
        TableSort::DeadRows => t.dead_rows,
        TableSort::LastVacuum => newest(t.last_vacuum, t.last_autovacuum),
        TableSort::LastAnalyze => newest(t.last_analyze, t.last_autoanalyze),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_sort_by_every_key_both_ways_and_page_with_right_totals() {
    let (t, db, intro) = seeded().await;
    exec(&db, "CREATE TABLE sort_small (id int PRIMARY KEY, v text)").await;
    exec(&db, "CREATE TABLE sort_big (id int PRIMARY KEY, v text, w text)").await;
    exec(&db, "CREATE INDEX sort_big_v ON sort_big (v)").await;
    // EXTERNAL: long values go to the TOAST table uncompressed, so it has a size of its own.
    exec(&db, "ALTER TABLE sort_big ALTER COLUMN w SET STORAGE EXTERNAL").await;
    exec(&db, "INSERT INTO sort_small SELECT g, 'x' FROM generate_series(1, 10) g").await;
    exec(&db, "INSERT INTO sort_big SELECT g, md5(g::text), repeat(md5(g::text), 100) FROM generate_series(1, 2000) g")
        .await;
    exec(&db, "DELETE FROM sort_big WHERE id <= 100").await;
    exec(&db, "VACUUM sort_small").await;
    exec(&db, "VACUUM posts").await;
    exec(&db, "ANALYZE sort_big").await;
    exec(&db, "ANALYZE users").await;
    let everything = intro.tables(&query(TableSort::Name, false, None, 0, 1000)).await.unwrap();
    let expected_total = count(
        &db,
        "SELECT count(*)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname !~ '^pg_toast'",
    )
    .await;
    assert_eq!(everything.total as i64, expected_total);
    assert_eq!(everything.items.len() as i64, expected_total);
    for table in ["public.users", "public.posts", "public.sort_small", "public.sort_big"] {
        assert!(names(&everything.items).contains(&table.to_string()), "{table} missing");
    }
    let big = everything.items.iter().find(|t| t.name == "sort_big").unwrap();
    assert!(big.toast_bytes.unwrap() > 0 && big.index_bytes.unwrap() > 0 && big.table_bytes.unwrap() > 0);
    assert_eq!(
        big.total_bytes.unwrap(),
        big.table_bytes.unwrap() + big.toast_bytes.unwrap() + big.index_bytes.unwrap(),
        "total = table + toast + indexes"
    );
    assert_eq!(big.row_estimate, Some(1900));

    let by_name_desc = intro.tables(&query(TableSort::Name, true, None, 0, 1000)).await.unwrap();
    let mut reversed = names(&by_name_desc.items);
    reversed.reverse();
    assert_eq!(reversed, names(&everything.items), "descending name order is the ascending one reversed");

    // Size orders follow the planner's estimate, not the sizes shown: tests/catalog_pages.rs checks them.
    for sort in [TableSort::TableSize, TableSort::IndexSize, TableSort::ToastSize, TableSort::TotalSize] {
        let page = intro.tables(&query(sort, true, None, 0, 1000)).await.unwrap();
        assert_eq!(page.total as i64, expected_total);
        let mut listed = names(&page.items);
        listed.sort();
        let mut all = names(&everything.items);
        all.sort();
        assert_eq!(listed, all, "{sort:?} lists every table once");
    }
    for sort in [TableSort::Rows, TableSort::DeadRows, TableSort::LastVacuum, TableSort::LastAnalyze] {
        for descending in [false, true] {
            let page = intro.tables(&query(sort, descending, None, 0, 1000)).await.unwrap();
            assert_eq!(page.total as i64, expected_total);
            let values: Vec<Option<i64>> = page.items.iter().map(|t| sort_value(sort, t)).collect();
            // "Never" is the oldest time: first from the oldest; every other unknown goes last.
            let nulls_first = !descending && matches!(sort, TableSort::LastVacuum | TableSort::LastAnalyze);
            for pair in values.windows(2) {
                let in_order = match (pair[0], pair[1]) {
                    (Some(a), Some(b)) => {
                        if descending {
                            a >= b
                        } else {
                            a <= b
                        }
                    }
                    (None, None) => true,
                    (None, Some(_)) => nulls_first,
                    (Some(_), None) => !nulls_first,
                };
                assert!(in_order, "{sort:?} descending={descending}: {values:?}");
            }
            let distinct: std::collections::BTreeSet<_> = values.iter().flatten().collect();
            assert!(distinct.len() >= 2 || sort == TableSort::DeadRows, "{sort:?} gives nothing to sort: {values:?}");
        }
    }

    // Pages of 3 cover the list exactly once, each with the full total.
    let mut paged = Vec::new();
    let mut offset = 0;
    while offset < everything.total {
        let page = intro.tables(&query(TableSort::Name, false, None, offset, 3)).await.unwrap();
        assert_eq!(page.total, everything.total);
        assert!(page.items.len() <= 3 && !page.items.is_empty());
        paged.extend(names(&page.items));
        offset += 3;
    }
    assert_eq!(paged, names(&everything.items));
    let past_the_end = intro.tables(&query(TableSort::Name, false, None, everything.total + 10, 3)).await.unwrap();
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, everything.total, "a page past the end still knows the total");
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn table_search_matches_schema_dot_table_case_insensitively_and_takes_wildcards_literally() {
    let (t, db, intro) = seeded().await;
    exec(&db, "CREATE TABLE ab_c (id int)").await;
    exec(&db, "CREATE TABLE abxc (id int)").await;
    exec(&db, "CREATE TABLE \"a%b\" (id int)").await;
    let search = |s: &'static str| {
        let intro = intro.clone();
        async move {
            let page = intro.tables(&query(TableSort::Name, false, Some(s), 0, 100)).await.unwrap();
            assert_eq!(page.total as usize, page.items.len());
            names(&page.items)
        }
    };
    assert_eq!(search("b_c").await, ["public.ab_c"], "_ is not a wildcard");
    assert_eq!(search("a%b").await, ["public.a%b"], "% is not a wildcard");
    assert_eq!(search("PUBLIC.AB").await, ["public.ab_c", "public.abxc"]);
    assert_eq!(search("posts").await, ["public.posts"]);
    assert!(search("no such table").await.is_empty());
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_table_names_find_nothing_and_harm_nothing() {
    let (t, db, intro) = seeded().await;
    for name in ["'; DROP TABLE users; --", "users\" ; --", "tâble \"x\"", "users\0", "%", "users'"] {
        assert!(intro.table("public", name).await.unwrap().is_none(), "{name:?}");
        assert!(intro.table(name, "users").await.unwrap().is_none(), "{name:?}");
        let err = intro.table_rows("public", name, 0, 10).await.unwrap_err();
        assert!(matches!(err, strata::Error::NotFound(_)), "{name:?}: {err}");
    }
    assert!(intro.table("pg_catalog", "pg_class").await.unwrap().is_none(), "system tables are not user tables");
    assert!(has_table(&db, "users").await);
    assert!(intro.table("public", "users").await.unwrap().is_some());
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_with_a_weird_name_in_a_weird_schema_can_be_read() {
    let (t, db, intro) = seeded().await;
    exec(&db, r#"CREATE SCHEMA "Sch ema""#).await;
    exec(&db, r#"CREATE TABLE "Sch ema"."we""ird ü" (id int PRIMARY KEY, "na""me" text, "select" int DEFAULT 7)"#)
        .await;
    exec(&db, r#"INSERT INTO "Sch ema"."we""ird ü" VALUES (3, 'c', NULL), (1, NULL, 1), (2, 'b"b', 2)"#).await;
    let detail = intro.table("Sch ema", "we\"ird ü").await.unwrap().expect("found by its real name");
    assert_eq!(detail.table.schema, "Sch ema");
    assert_eq!(detail.table.name, "we\"ird ü");
    let cols: Vec<_> = detail.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.primary_key)).collect();
    assert_eq!(cols, [("id", "integer", true), ("na\"me", "text", false), ("select", "integer", false)]);
    assert_eq!(detail.columns[2].default.as_deref(), Some("7"));
    assert!(!detail.columns[0].nullable && detail.columns[1].nullable);
    assert_eq!(detail.indexes.len(), 1);
    assert!(detail.indexes[0].primary);

    let rows = intro.table_rows("Sch ema", "we\"ird ü", 0, 2).await.unwrap();
    assert_eq!(rows.columns, ["id", "na\"me", "select"]);
    let s = |v: &str| Some(v.to_string());
    assert_eq!(rows.rows, [vec![s("1"), None, s("1")], vec![s("2"), s("b\"b"), s("2")]], "primary-key order");
    assert!(rows.has_more);
    let rest = intro.table_rows("Sch ema", "we\"ird ü", 2, 2).await.unwrap();
    assert_eq!(rest.rows, [vec![s("3"), s("c"), None]]);
    assert!(!rest.has_more);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn table_rows_sort_by_the_key_as_a_number_not_as_text() {
    let t = TestDb::new(Kind::Postgres).await;
    let db = t.connect().await;
    exec(&db, "CREATE TABLE numbered (id int PRIMARY KEY, label text)").await;
    // Inserted out of order, so neither the physical order nor a text sort gives 1, 2, ..., 12.
    exec(&db, "INSERT INTO numbered SELECT i, 'n' || i FROM unnest(ARRAY[10, 2, 12, 1, 11, 3, 9, 4, 8, 5, 7, 6]) i")
        .await;
    let intro = for_connection(db.clone()).expect("PostgreSQL is supported");
    let ids = |page: &strata::db::introspect::RowsPage| -> Vec<String> {
        page.rows.iter().map(|r| r[0].clone().unwrap_or_default()).collect()
    };
    let first = intro.table_rows("public", "numbered", 0, 5).await.unwrap();
    assert_eq!(ids(&first), ["1", "2", "3", "4", "5"], "text order would be 1, 10, 11, 12, 2");
    let rest = intro.table_rows("public", "numbered", 10, 5).await.unwrap();
    assert_eq!(ids(&rest), ["11", "12"]);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn table_rows_keep_column_order_and_render_every_type_as_text() {
    let (t, db, intro) = seeded().await;
    exec(&db, "CREATE TABLE mixed (z int, a jsonb, m bytea, b boolean, d date, arr int[])").await;
    exec(&db, r#"INSERT INTO mixed VALUES (1, '{"k": [1, 2]}', '\x00ff', true, '2024-02-29', '{1,NULL,3}')"#).await;
    let rows = intro.table_rows("public", "mixed", 0, 10).await.unwrap();
    assert_eq!(rows.columns, ["z", "a", "m", "b", "d", "arr"]);
    let got: Vec<Option<&str>> = rows.rows[0].iter().map(|v| v.as_deref()).collect();
    assert_eq!(
        got,
        [Some("1"), Some(r#"{"k": [1, 2]}"#), Some(r"\x00ff"), Some("true"), Some("2024-02-29"), Some("{1,NULL,3}")]
    );
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_reference_users_with_on_delete_cascade_seen_from_both_sides() {
    let (t, db, intro) = seeded().await;
    let posts = intro.table("public", "posts").await.unwrap().unwrap();
    let fk = posts.references.iter().find(|f| f.name == "posts_user_id_fkey").expect("posts -> users");
    assert_eq!((fk.from_table.as_str(), fk.to_table.as_str()), ("posts", "users"));
    assert_eq!((fk.from_columns.clone(), fk.to_columns.clone()), (vec!["user_id".to_string()], vec!["id".to_string()]));
    assert_eq!((fk.on_delete.as_str(), fk.on_update.as_str()), ("CASCADE", "NO ACTION"));
    assert!(posts.referenced_by.is_empty());
    let fk_constraint = posts.constraints.iter().find(|c| c.name == "posts_user_id_fkey").unwrap();
    assert_eq!(fk_constraint.kind, "FOREIGN KEY");
    assert!(fk_constraint.definition.contains("ON DELETE CASCADE"), "{}", fk_constraint.definition);
    assert!(posts.constraints.iter().any(|c| c.kind == "PRIMARY KEY"));

    let users = intro.table("public", "users").await.unwrap().unwrap();
    assert!(users.references.is_empty());
    let back = users.referenced_by.iter().find(|f| f.name == "posts_user_id_fkey").expect("users <- posts");
    assert_eq!((back.from_schema.as_str(), back.from_table.as_str()), ("public", "posts"));
    assert_eq!(back.on_delete, "CASCADE");
    let user_indexes: Vec<_> = users.indexes.iter().map(|i| i.name.as_str()).collect();
    assert!(user_indexes.contains(&"idx_users_username") && user_indexes.contains(&"users_pkey"), "{user_indexes:?}");
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_duplicates_unused_and_invalid_indexes_are_flagged_with_the_statement_to_run() {
    let (t, db, intro) = seeded().await;
    exec(&db, "CREATE INDEX idx_posts_title ON posts (title)").await;
    exec(&db, "INSERT INTO users (username, email) VALUES ('alice', 'alice@example.com')").await;
    exec(&db, "INSERT INTO posts (title, content, user_id) SELECT 'same', 'x', id FROM users").await;
    exec(&db, "INSERT INTO posts (title, content, user_id) SELECT 'same', 'y', id FROM users").await;
    let failed =
        db.execute_unprepared("CREATE UNIQUE INDEX CONCURRENTLY idx_posts_title_unique ON posts (title)").await;
    assert!(failed.is_err(), "duplicate titles make the unique build fail");

    let indexes = every_index(&intro).await;
    let get = |name: &str| indexes.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("{name} missing"));
    for (dup, of) in [("idx_users_username", "users_username_key"), ("idx_users_email", "users_email_key")] {
        assert_eq!(get(dup).duplicate_of.as_deref(), Some(of));
        assert_eq!(
            get(dup).suggested_sql.as_deref(),
            Some(format!(r#"DROP INDEX CONCURRENTLY "public"."{dup}";"#).as_str())
        );
        assert_eq!(get(of).duplicate_of, None, "the unique index stays");
    }
    let unique = get("users_username_key");
    assert!(unique.unique && !unique.unused && unique.valid);
    assert_eq!(unique.method, "btree");
    assert_eq!(unique.columns, ["username"]);

    let unused = get("idx_posts_title");
    assert_eq!(unused.scans, Some(0));
    assert!(unused.unused);
    assert_eq!(unused.duplicate_of, None);
    assert_eq!(unused.suggested_sql.as_deref(), Some(r#"DROP INDEX CONCURRENTLY "public"."idx_posts_title";"#));
    assert_eq!(unused.definition, "CREATE INDEX idx_posts_title ON public.posts USING btree (title)");

    let invalid = get("idx_posts_title_unique");
    assert!(!invalid.valid && invalid.unique);
    assert_eq!(
        invalid.suggested_sql.as_deref(),
        Some(r#"REINDEX INDEX CONCURRENTLY "public"."idx_posts_title_unique";"#)
    );
    assert_eq!(get("idx_posts_title").duplicate_of, None, "an invalid index covers nothing");

    let pkey = get("users_pkey");
    assert!(pkey.primary && pkey.size_bytes.unwrap() > 0 && pkey.suggested_sql.is_none());
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_waiting_for_a_row_lock_shows_who_blocks_it() {
    let (t, db, intro) = seeded().await;
    exec(&db, "INSERT INTO users (username, email) VALUES ('alice', 'alice@example.com')").await;
    let update = "UPDATE users SET email = 'a@example.com' WHERE username = 'alice'";
    let a = t.connect_one().await;
    let tx = a.begin().await.unwrap();
    let pid_a = pid_of(&tx).await;
    tx.execute_unprepared(update).await.unwrap();

    let b = t.connect_one().await;
    let pid_b = pid_of(&b).await;
    let blocked = tokio::spawn(async move {
        let r = b.execute_unprepared(update).await.map(|_| ());
        b.close().await.ok();
        r
    });
    let activity = eventually("B waits for A", || async {
        let act = intro.activity(Duration::from_secs(300)).await.unwrap();
        act.sessions.iter().any(|s| s.pid == pid_b && s.blocked_by == [pid_a]).then_some(act)
    })
    .await;
    let waiting = activity.sessions.iter().find(|s| s.pid == pid_b).unwrap();
    assert_eq!(waiting.state.as_deref(), Some("active"));
    assert!(waiting.wait_event.as_deref().unwrap_or("").starts_with("Lock:"), "{:?}", waiting.wait_event);
    assert_eq!(waiting.query.as_deref(), Some(update));
    let holder = activity.sessions.iter().find(|s| s.pid == pid_a).unwrap();
    assert_eq!(holder.state.as_deref(), Some("idle in transaction"));
    assert!(holder.blocked_by.is_empty());
    assert!(activity.by_state.iter().any(|(s, n)| s == "idle in transaction" && *n >= 1));

    tx.rollback().await.unwrap();
    blocked.await.unwrap().expect("B goes on once A rolls back");
    a.close().await.ok();
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_query_is_listed_counted_and_can_be_cancelled_or_terminated() {
    let (t, db, intro) = seeded().await;
    let threshold = Duration::from_millis(200);
    let c = t.connect_one().await;
    let pid_c = pid_of(&c).await;
    let c2 = c.clone();
    let sleeper = tokio::spawn(async move { c2.execute_unprepared("SELECT pg_sleep(60)").await.map(|_| ()) });
    let activity = eventually("the sleep becomes long-running", || async {
        let act = intro.activity(threshold).await.unwrap();
        act.long_running.contains(&pid_c).then_some(act)
    })
    .await;
    let s = activity.sessions.iter().find(|s| s.pid == pid_c).unwrap();
    assert_eq!(s.state.as_deref(), Some("active"));
    assert!(s.duration_ms.unwrap() > 200);
    assert!(s.query_started_at.is_some());
    assert_eq!(s.query.as_deref(), Some("SELECT pg_sleep(60)"));
    let own = t.connect_one().await;
    let own_pid = pid_of(&own).await;
    let own_view = for_connection(own.clone()).unwrap().activity(threshold).await.unwrap();
    assert!(own_view.sessions.iter().any(|s| s.pid == pid_c));
    assert!(!own_view.sessions.iter().any(|s| s.pid == own_pid), "Strata's own session is left out");
    own.close().await.ok();
    assert!(intro.overview(threshold).await.unwrap().long_running_queries.unwrap() >= 1);

    // Cancel stops the statement; the session stays.
    assert!(intro.cancel(pid_c).await.unwrap());
    assert!(sleeper.await.unwrap().is_err(), "the sleep was cancelled");
    assert_eq!(pid_of(&c).await, pid_c, "same session after a cancel");

    // Terminate ends the session.
    let c3 = c.clone();
    let sleeper = tokio::spawn(async move { c3.execute_unprepared("SELECT pg_sleep(60)").await.map(|_| ()) });
    eventually("the second sleep runs", || async {
        let act = intro.activity(threshold).await.unwrap();
        act.sessions.iter().any(|s| s.pid == pid_c && s.state.as_deref() == Some("active")).then_some(())
    })
    .await;
    assert!(intro.terminate(pid_c).await.unwrap());
    assert!(sleeper.await.unwrap().is_err(), "the session was ended");
    eventually("the session disappears", || async {
        let act = intro.activity(threshold).await.unwrap();
        (!act.sessions.iter().any(|s| s.pid == pid_c)).then_some(())
    })
    .await;
    c.close().await.ok();
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_of_other_databases_cannot_be_cancelled_or_terminated() {
    let (t, db, intro) = seeded().await;
    let other = TestDb::new(Kind::Postgres).await;
    let elsewhere = other.connect_one().await;
    let pid = pid_of(&elsewhere).await;
    assert!(!intro.activity(Duration::from_secs(1)).await.unwrap().sessions.iter().any(|s| s.pid == pid));
    assert!(!intro.cancel(pid).await.unwrap());
    assert!(!intro.terminate(pid).await.unwrap());
    assert_eq!(pid_of(&elsewhere).await, pid, "the other database's session is untouched");
    for nonsense in [0, -1, i64::from(i32::MAX) + 1, i64::MAX] {
        assert!(!intro.terminate(nonsense).await.unwrap(), "{nonsense}");
    }
    elsewhere.close().await.ok();
    other.drop().await;
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_rows_show_as_bloat_and_a_never_analyzed_table_is_unreliable() {
    let (t, db, intro) = seeded().await;
    exec(&db, "CREATE TABLE bloated (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = false)").await;
    exec(&db, "INSERT INTO bloated SELECT g, md5(g::text) FROM generate_series(1, 100000) g").await;
    exec(&db, "DELETE FROM bloated WHERE id % 10 <> 0").await;
    exec(&db, "ANALYZE bloated").await;
    exec(&db, "CREATE TABLE fresh (id int, payload text) WITH (autovacuum_enabled = false)").await;
    exec(&db, "INSERT INTO fresh SELECT g, md5(g::text) FROM generate_series(1, 50000) g").await;
    exec(&db, "CREATE TABLE tight (id int, payload text) WITH (autovacuum_enabled = false)").await;
    exec(&db, "INSERT INTO tight SELECT g, md5(g::text) FROM generate_series(1, 50000) g").await;
    exec(&db, "CREATE INDEX tight_id ON tight (id)").await;
    exec(&db, "CREATE INDEX tight_lower ON tight (lower(payload))").await;
    exec(&db, "VACUUM ANALYZE tight").await;

    let bloat = intro.bloat().await.unwrap();
    let get = |table: &str, index: Option<&str>| {
        bloat
            .iter()
            .find(|b| b.table == table && b.index.as_deref() == index)
            .unwrap_or_else(|| panic!("{table} {index:?} missing from {bloat:?}"))
    };
    let table = get("bloated", None);
    assert!(table.real_bytes > 1 << 20);
    assert!(table.bloat_bytes > 0 && table.bloat_ratio > 0.5, "{table:?}");
    assert!(table.last_analyzed.is_some());
    assert!(!table.unreliable, "{table:?}");
    assert!(get("bloated", Some("bloated_pkey")).bloat_ratio > 0.5);

    let tight = get("tight", None);
    assert!(tight.bloat_ratio < 0.2, "a freshly written table is not bloated: {tight:?}");
    assert!(!tight.unreliable);
    for index in ["tight_id", "tight_lower"] {
        let fresh_index = get("tight", Some(index));
        assert!(fresh_index.bloat_ratio < 0.2, "a freshly built index is not bloated: {fresh_index:?}");
        assert!(!fresh_index.unreliable, "expression statistics are found too: {fresh_index:?}");
    }

    let never = get("fresh", None);
    assert!(never.unreliable && never.last_analyzed.is_none(), "{never:?}");
    assert!(bloat.iter().all(|b| b.real_bytes >= 1 << 20), "small relations are left out");
    assert!(!bloat.iter().any(|b| b.table == "users"), "tiny seed tables are left out");
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn partitioned_tables_sum_their_partitions_and_list_each_foreign_key_once() {
    let (t, db, intro) = seeded().await;
    exec(&db, "CREATE TABLE parent (id int PRIMARY KEY) PARTITION BY RANGE (id)").await;
    exec(&db, "CREATE TABLE parent_low PARTITION OF parent FOR VALUES FROM (0) TO (1000)").await;
    exec(&db, "CREATE TABLE parent_high PARTITION OF parent FOR VALUES FROM (1000) TO (2000)").await;
    exec(
        &db,
        "CREATE TABLE child (id int, parent_id int REFERENCES parent ON DELETE SET NULL) PARTITION BY RANGE (id)",
    )
    .await;
    exec(&db, "CREATE TABLE child_low PARTITION OF child FOR VALUES FROM (0) TO (1000)").await;
    exec(&db, "CREATE INDEX child_parent_id ON child (parent_id)").await;
    exec(&db, "INSERT INTO parent SELECT g FROM generate_series(0, 1999) g").await;
    exec(&db, "ANALYZE parent_low").await;
    exec(&db, "ANALYZE parent_high").await;

    let all = intro.tables(&query(TableSort::Name, false, Some("parent"), 0, 10)).await.unwrap();
    let get = |name: &str| all.items.iter().find(|t| t.name == name).unwrap().clone();
    let (parent, low, high) = (get("parent"), get("parent_low"), get("parent_high"));
    assert_eq!(parent.row_estimate, Some(2000));
    for size in [|t: &TableInfo| t.table_bytes, |t: &TableInfo| t.index_bytes, |t: &TableInfo| t.total_bytes] {
        assert_eq!(size(&parent).unwrap(), size(&low).unwrap() + size(&high).unwrap());
        assert!(size(&parent).unwrap() > 0);
    }

    let parent_detail = intro.table("public", "parent").await.unwrap().unwrap();
    let incoming: Vec<_> =
        parent_detail.referenced_by.iter().map(|f| (f.from_table.as_str(), f.on_delete.as_str())).collect();
    assert_eq!(incoming, [("child", "SET NULL")], "one key, not one per partition");
    let child = intro.table("public", "child").await.unwrap().unwrap();
    let outgoing: Vec<_> = child.references.iter().map(|f| f.to_table.as_str()).collect();
    assert_eq!(outgoing, ["parent"]);
    assert_eq!(child.constraints.iter().filter(|c| c.kind == "FOREIGN KEY").count(), 1);
    let partition = intro.table("public", "child_low").await.unwrap().unwrap();
    assert_eq!(partition.references.len(), 1, "a partition has its parent's key");

    let indexes = every_index(&intro).await;
    let get = |name: &str| indexes.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("{name} missing"));
    let on_parent = get("child_parent_id");
    assert_eq!((on_parent.size_bytes, on_parent.scans), (None, None), "a partitioned index has no storage or scans");
    let attached = indexes.iter().find(|i| i.table == "child_low" && i.columns == ["parent_id"]).unwrap();
    assert!(attached.unused && attached.suggested_sql.is_none(), "dropped through its parent only: {attached:?}");
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_table_or_index_counts_at_once_and_a_dropped_one_leaves_the_totals_within_seconds() {
    let (t, db, intro) = seeded().await;
    let tables = || async { intro.tables(&query(TableSort::Name, false, None, 0, 50)).await.unwrap().total };
    let indexes = || async { intro.indexes(&IndexQuery::default()).await.unwrap().total };
    let (before, before_indexes) = (tables().await, indexes().await);
    exec(&db, "CREATE TABLE counted_now (id int PRIMARY KEY)").await;
    // A new relation has a higher oid than any before it: the reused counts are read again at once.
    assert_eq!(tables().await, before + 1, "a created table counts on the next read");
    assert_eq!(indexes().await, before_indexes + 1, "so does its primary key's index");
    exec(&db, "DROP TABLE counted_now").await;
    let after = Instant::now();
    eventually("the dropped table leaves the total", || async { (tables().await == before).then_some(()) }).await;
    eventually("its index leaves the total", || async { (indexes().await == before_indexes).then_some(()) }).await;
    assert!(after.elapsed() < Duration::from_secs(5), "within the counts' 2 s reuse: {:?}", after.elapsed());
    db.close().await.ok();
    t.drop().await;
}

/// The sizes the trend sampler keeps of a table, and the exact ones the tables list reads now.
async fn sampled_and_exact(intro: &Arc<dyn Introspector>, name: &str) -> (TableInfo, TableInfo) {
    let sampled = intro.sample_objects(1000, 4000).await.unwrap();
    let sampled = sampled.tables.into_iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name} sampled"));
    let exact = intro.tables(&query(TableSort::Name, false, Some(name), 0, 50)).await.unwrap().items;
    let exact = exact.into_iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name} listed"));
    (sampled, exact)
}

fn sizes(t: &TableInfo) -> [Option<i64>; 4] {
    [t.total_bytes, t.table_bytes, t.index_bytes, t.toast_bytes]
}

/// No autovacuum on the tables of a test that counts what the sampler measures: a vacuum changes what it sees.
const QUIET: &str = "WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off)";

#[tokio::test(flavor = "multi_thread")]
async fn the_sampler_measures_only_tables_that_changed_and_misses_no_change() {
    let (t, db, intro) = seeded().await;
    // Thirty quiet tables first (lower oids: the turn of re-measuring goes to them before the tables under test).
    for i in 0..30 {
        exec(&db, &format!("CREATE TABLE quiet_{i:02} (id int PRIMARY KEY, note text) {QUIET}")).await;
    }
    exec(&db, &format!("CREATE TABLE grows (id int PRIMARY KEY, note text) {QUIET}")).await;
    exec(&db, &format!("CREATE TABLE indexed (id int PRIMARY KEY, note text) {QUIET}")).await;
    exec(&db, "INSERT INTO indexed SELECT g, repeat('x', 50) FROM generate_series(1, 2000) g").await;
    exec(&db, &format!("CREATE TABLE emptied (id int PRIMARY KEY, note text) {QUIET}")).await;
    exec(&db, "INSERT INTO emptied SELECT g, repeat('y', 50) FROM generate_series(1, 2000) g").await;
    // A partitioned table (the sum of its leaves) and one with no partition yet.
    exec(&db, "CREATE TABLE parted (id int, note text) PARTITION BY RANGE (id)").await;
    exec(&db, &format!("CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (1) TO (100000) {QUIET}")).await;
    exec(&db, "CREATE TABLE bare (id int) PARTITION BY RANGE (id)").await;
    let counted = |table: &'static str| {
        let db = db.clone();
        async move {
            let sql = format!("SELECT pg_stat_get_tuples_inserted('{table}'::regclass)::text");
            column(&db, &sql).await.first().and_then(|v| v.parse::<i64>().ok()).filter(|n| *n > 0).map(|_| ())
        }
    };
    eventually("the inserts are counted", || counted("emptied")).await;

    let first = intro.sample_objects(1000, 4000).await.unwrap();
    let n = first.tables.len();
    assert!(n >= 36, "every table sampled: {n}");
    assert_eq!(first.measured, n, "the first sample measures every table");
    let idle = intro.sample_objects(1000, 4000).await.unwrap();
    assert_eq!(idle.measured, n.div_ceil(20), "nothing changed: only the turn of a twentieth is measured");

    // Rows inserted: counted by the statistics once the writer's transaction is over.
    let writer = t.connect_one().await;
    exec(&writer, "INSERT INTO grows SELECT g, repeat('z', 200) FROM generate_series(1, 5000) g").await;
    writer.close().await.ok();
    eventually("the writer's inserts are counted", || counted("grows")).await;
    let (sampled, exact) = sampled_and_exact(&intro, "grows").await;
    assert!(exact.total_bytes.unwrap() > 1_000_000, "{exact:?}");
    assert_eq!(sizes(&sampled), sizes(&exact), "rows inserted");
    let writer = t.connect_one().await;
    exec(&writer, "INSERT INTO parted SELECT g, repeat('p', 200) FROM generate_series(1, 3000) g").await;
    writer.close().await.ok();
    eventually("the partition's inserts are counted", || counted("parted_1")).await;
    let (sampled, exact) = sampled_and_exact(&intro, "parted").await;
    assert!(exact.total_bytes.unwrap() > 500_000, "{exact:?}");
    assert_eq!(sizes(&sampled), sizes(&exact), "rows inserted into a partition");
    let (sampled, exact) = sampled_and_exact(&intro, "bare").await;
    assert_eq!(sizes(&sampled), sizes(&exact), "a partitioned table without partitions");

    // A new index: no counter moves, a new file does.
    let (before, _) = sampled_and_exact(&intro, "indexed").await;
    exec(&db, "CREATE INDEX indexed_note ON indexed (note)").await;
    let (sampled, exact) = sampled_and_exact(&intro, "indexed").await;
    assert!(sampled.index_bytes > before.index_bytes, "{before:?} -> {sampled:?}");
    assert_eq!(sizes(&sampled), sizes(&exact), "an index created");

    // TRUNCATE gives the table new, empty files.
    exec(&db, "TRUNCATE emptied").await;
    let (sampled, exact) = sampled_and_exact(&intro, "emptied").await;
    assert_eq!(sizes(&sampled), sizes(&exact), "a table truncated");

    // A rename changes neither files nor counters: the name is read every time.
    exec(&db, "ALTER TABLE grows RENAME TO grown").await;
    let (sampled, exact) = sampled_and_exact(&intro, "grown").await;
    assert_eq!(sizes(&sampled), sizes(&exact), "a table renamed");

    // A dropped table is no longer sampled.
    exec(&db, "DROP TABLE emptied").await;
    let after = intro.sample_objects(1000, 4000).await.unwrap();
    assert!(after.tables.iter().all(|t| t.name != "emptied"));

    // Index scans, without anything else of the index.
    exec(&db, "SET enable_seqscan = off").await;
    exec(&db, "SELECT count(*) FROM indexed WHERE note = 'none'").await;
    let scanned = eventually("the scan is counted", || {
        let intro = intro.clone();
        async move {
            let s = intro.sample_objects(1000, 4000).await.unwrap();
            s.indexes.into_iter().find(|i| i.name == "indexed_note").filter(|i| i.scans.unwrap_or(0) >= 1)
        }
    })
    .await;
    assert_eq!(scanned.table, "indexed");
    db.close().await.ok();
    t.drop().await;
}
