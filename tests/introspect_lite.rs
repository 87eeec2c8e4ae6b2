//! The SQLite and MariaDB catalog reads against real SQLite files and the real MariaDB server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use strata::db::introspect::{
    IndexFilter, IndexInfo, IndexQuery, IndexSort, Introspector, TableInfo, TableQuery, TableSort, for_connection,
};

/// A migrated seed database, a connection to it and the introspector over that connection.
async fn seeded(kind: Kind) -> (TestDb, DatabaseConnection, Arc<dyn Introspector>) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let db = t.connect().await;
    let intro = for_connection(db.clone()).expect("backend is supported");
    (t, db, intro)
}

fn query(sort: TableSort, descending: bool, search: Option<&str>, offset: u64, limit: u64) -> TableQuery {
    TableQuery { sort, descending, search: search.map(str::to_string), offset, limit }
}

/// Every index in one list, as the indexes page pages through them.
async fn every_index(intro: &Arc<dyn Introspector>) -> Vec<IndexInfo> {
    intro.indexes(&IndexQuery { limit: 100_000, ..IndexQuery::default() }).await.unwrap().items
}

fn names(items: &[TableInfo]) -> Vec<String> {
    items.iter().map(|t| t.name.clone()).collect()
}

async fn thread_id(db: &impl ConnectionTrait) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::MySql, "SELECT CAST(CONNECTION_ID() AS SIGNED)"))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Expands one async test body into a test per lite backend (SQLite and MariaDB).
macro_rules! each_backend_lite {
    ($($name:ident => $body:ident;)*) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::Sqlite).await } )* }
        mod mariadb { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::MySql).await } )* }
    };
}

each_backend_lite! {
    overview_reports_version_and_size => overview_reports_version_and_size;
    tables_list_the_seed_sorted_paged_and_searched => tables_list_the_seed_sorted_paged_and_searched;
    posts_reference_users_seen_from_both_sides => posts_reference_users_seen_from_both_sides;
    hostile_names_find_nothing_and_harm_nothing => hostile_names_find_nothing_and_harm_nothing;
    a_table_with_a_weird_name_can_be_read_page_by_page => a_table_with_a_weird_name_can_be_read_page_by_page;
    table_rows_sort_by_the_key_as_a_number_not_as_text => table_rows_sort_by_the_key_as_a_number_not_as_text;
    duplicate_and_prefix_indexes_are_flagged_with_a_drop => duplicate_and_prefix_indexes_are_flagged_with_a_drop;
    index_pages_filter_search_sort_and_flag_a_twin_on_another_page => index_pages_filter_search_sort_and_flag_a_twin_on_another_page;
    bloat_is_unsupported => bloat_is_unsupported;
}

async fn overview_reports_version_and_size(kind: Kind) {
    let (t, db, intro) = seeded(kind).await;
    if kind == Kind::Sqlite {
        // An application's file in WAL mode (Strata leaves the mode as the application set it).
        common::exec(&db, "PRAGMA journal_mode = WAL").await;
    }
    let o = intro.overview(Duration::from_secs(300)).await.unwrap();
    assert!(o.server_version.starts_with(|c: char| c.is_ascii_digit()), "{}", o.server_version);
    assert!(o.database_size_bytes.unwrap() > 0);
    assert_eq!(o.long_running_queries, Some(0));
    match kind {
        Kind::Sqlite => {
            assert_eq!(o.database_name, format!("{}.db", t.name));
            let note = |k: &str| o.notes.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            assert_eq!(note("Journal mode").as_deref(), Some("wal"));
            assert!(note("Page size").unwrap().ends_with("bytes"));
            assert!(note("WAL file size").is_some(), "{:?}", o.notes);
            assert!(note("Auto-vacuum").is_some());
            assert!(note("Table sizes").is_none(), "dbstat is compiled into the bundled SQLite: {:?}", o.notes);
            assert_eq!(o.max_connections, None);
            assert!(o.wraparound_remaining.is_none() && o.table_cache_hit_ratio.is_none());
        }
        _ => {
            assert_eq!(o.database_name, t.name);
            assert!(o.max_connections.unwrap() > 0);
            assert!(o.started_at.unwrap() < chrono::Utc::now());
            assert!(o.connections_by_state.iter().map(|(_, n)| n).sum::<i64>() >= 1, "{:?}", o.connections_by_state);
            if let Some(r) = o.table_cache_hit_ratio {
                assert!((0.0..=1.0).contains(&r));
            }
        }
    }
    db.close().await.ok();
    t.drop().await;
}

async fn tables_list_the_seed_sorted_paged_and_searched(kind: Kind) {
    let (t, db, intro) = seeded(kind).await;
    exec(&db, "CREATE TABLE ab_c (id int)").await;
    exec(&db, "CREATE TABLE abxc (id int)").await;
    exec(&db, "CREATE TABLE big (id int PRIMARY KEY, v varchar(200))").await;
    exec(&db, "CREATE INDEX big_v ON big (v)").await;
    let filler = "x".repeat(150);
    let values: Vec<String> = (1..=2000).map(|i| format!("({i}, 'value number {i} {filler}')")).collect();
    exec(&db, &format!("INSERT INTO big VALUES {}", values.join(", "))).await;
    exec(&db, if kind == Kind::Sqlite { "ANALYZE" } else { "ANALYZE TABLE big" }).await;

    let all = intro.tables(&query(TableSort::Name, false, None, 0, 1000)).await.unwrap();
    for table in ["users", "posts", "alembic_version", "ab_c", "big"] {
        assert!(names(&all.items).contains(&table.to_string()), "{table} missing from {:?}", names(&all.items));
    }
    assert!(!names(&all.items).iter().any(|n| n.starts_with("sqlite_")), "SQLite's own tables are left out");
    assert_eq!(all.total as usize, all.items.len());
    assert!(all.items.iter().all(|i| i.schema == t.schema()));
    let descending = intro.tables(&query(TableSort::Name, true, None, 0, 1000)).await.unwrap();
    let mut reversed = names(&descending.items);
    reversed.reverse();
    assert_eq!(reversed, names(&all.items), "descending name order is the ascending one reversed");

    let big = all.items.iter().find(|i| i.name == "big").unwrap();
    assert!(big.row_estimate.unwrap() > 0, "{big:?}");
    assert!(big.table_bytes.unwrap() > 0 && big.index_bytes.unwrap() > 0, "{big:?}");
    assert_eq!(big.total_bytes.unwrap(), big.table_bytes.unwrap() + big.index_bytes.unwrap());
    assert!(big.dead_rows.is_none() && big.toast_bytes.is_none());

    for sort in [TableSort::TotalSize, TableSort::Rows] {
        let desc = intro.tables(&query(sort, true, None, 0, 1)).await.unwrap();
        assert_eq!(names(&desc.items), ["big"], "{sort:?}");
        assert_eq!(desc.total, all.total);
    }
    let by_dead_rows = intro.tables(&query(TableSort::DeadRows, false, None, 0, 1000)).await.unwrap();
    assert_eq!(names(&by_dead_rows.items), names(&all.items), "an unknown sort key sorts by name");

    let mut paged = Vec::new();
    let mut offset = 0;
    while offset < all.total {
        let page = intro.tables(&query(TableSort::Name, false, None, offset, 3)).await.unwrap();
        assert_eq!(page.total, all.total);
        assert!(!page.items.is_empty() && page.items.len() <= 3);
        paged.extend(names(&page.items));
        offset += 3;
    }
    assert_eq!(paged, names(&all.items));
    let past = intro.tables(&query(TableSort::Name, false, None, all.total + 5, 3)).await.unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.total, all.total);

    let search = |s: &'static str| {
        let intro = intro.clone();
        async move {
            let mut found = names(&intro.tables(&query(TableSort::Name, false, Some(s), 0, 100)).await.unwrap().items);
            found.sort();
            found
        }
    };
    assert_eq!(search("b_c").await, ["ab_c"], "_ is not a wildcard");
    assert_eq!(search("AB").await, ["ab_c", "abxc"], "case-insensitive");
    let qualified: &'static str = format!("{}.POSTS", t.schema()).leak();
    assert_eq!(search(qualified).await, ["posts"], "schema.table matches");
    assert!(search("%").await.is_empty());
    db.close().await.ok();
    t.drop().await;
}

async fn posts_reference_users_seen_from_both_sides(kind: Kind) {
    let (t, db, intro) = seeded(kind).await;
    let s = t.schema().to_string();
    let posts = intro.table(&s, "posts").await.unwrap().expect("posts exists");
    let cols: Vec<_> = posts.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cols, ["id", "title", "content", "user_id", "is_published", "created_at", "updated_at"]);
    assert!(posts.columns[0].primary_key && !posts.columns[0].nullable);
    assert!(!posts.columns[3].nullable);
    let fk = posts.references.iter().find(|f| f.to_table == "users").expect("posts -> users");
    assert_eq!((fk.from_columns.clone(), fk.to_columns.clone()), (vec!["user_id".to_string()], vec!["id".to_string()]));
    assert_eq!(fk.on_delete, "CASCADE");
    assert!(posts.referenced_by.is_empty());
    assert!(posts.constraints.iter().any(|c| c.kind == "PRIMARY KEY"), "{:?}", posts.constraints);
    let fk_constraint = posts.constraints.iter().find(|c| c.kind == "FOREIGN KEY").expect("the key is a constraint");
    assert!(fk_constraint.definition.contains("CASCADE"), "{}", fk_constraint.definition);
    assert!(posts.indexes.iter().any(|i| i.name == "idx_posts_user_id" && i.columns == ["user_id"]));

    let users = intro.table(&s, "users").await.unwrap().unwrap();
    assert!(users.references.is_empty());
    let back = users.referenced_by.iter().find(|f| f.from_table == "posts").expect("users <- posts");
    assert_eq!(back.name, fk.name);
    assert_eq!(back.from_columns, ["user_id"]);
    assert!(users.constraints.iter().filter(|c| c.kind == "UNIQUE").count() >= 2, "{:?}", users.constraints);

    common::exec(&db, "CREATE TABLE roles_checked (role VARCHAR(10) NOT NULL CHECK (role IN ('admin', 'viewer')))")
        .await;
    let checked = intro.table(&s, "roles_checked").await.unwrap().unwrap();
    let check = checked.constraints.iter().find(|c| c.kind == "CHECK").expect("role check");
    assert!(check.definition.contains("viewer"), "{}", check.definition);
    db.close().await.ok();
    t.drop().await;
}

async fn hostile_names_find_nothing_and_harm_nothing(kind: Kind) {
    let (t, db, intro) = seeded(kind).await;
    let s = t.schema().to_string();
    for name in ["'; DROP TABLE users; --", "users\" ; --", "users` ; --", "tâble \"x\"", "%", "users'", "USERS"] {
        assert!(intro.table(&s, name).await.unwrap().is_none(), "{name:?}");
        assert!(intro.table(name, "users").await.unwrap().is_none(), "{name:?}");
        let err = intro.table_rows(&s, name, 0, 10).await.unwrap_err();
        assert!(matches!(err, strata::Error::NotFound(_)), "{name:?}: {err}");
    }
    assert!(intro.table("other", "users").await.unwrap().is_none(), "another schema is not this one");
    if kind == Kind::Sqlite {
        assert!(intro.table(&s, "sqlite_schema").await.unwrap().is_none(), "system tables are not user tables");
    }
    assert!(has_table(&db, "users").await);
    assert!(intro.table(&s, "users").await.unwrap().is_some());
    db.close().await.ok();
    t.drop().await;
}

async fn a_table_with_a_weird_name_can_be_read_page_by_page(kind: Kind) {
    let (t, db, intro) = seeded(kind).await;
    let (weird, create) = match kind {
        Kind::Sqlite => (
            "we\"ird `ü'",
            r#"CREATE TABLE "we""ird `ü'" (id int PRIMARY KEY, "na""me" text, "select" int DEFAULT 7, b blob)"#,
        ),
        _ => (
            "we\"ird `ü'",
            "CREATE TABLE `we\"ird ``ü'` (id int PRIMARY KEY, `na\"me` text, `select` int DEFAULT 7, b blob)",
        ),
    };
    exec(&db, create).await;
    let q = |sql: &str| match kind {
        Kind::Sqlite => sql.replace("{t}", r#""we""ird `ü'""#),
        _ => sql.replace("{t}", "`we\"ird ``ü'`"),
    };
    exec(&db, &q("INSERT INTO {t} VALUES (3, 'c', NULL, NULL), (1, NULL, 1, X'00ff'), (2, 'b\"b', 2, NULL)")).await;
    let s = t.schema().to_string();
    let detail = intro.table(&s, weird).await.unwrap().expect("found by its real name");
    assert_eq!(detail.table.name, weird);
    let cols: Vec<_> = detail.columns.iter().map(|c| (c.name.as_str(), c.primary_key)).collect();
    assert_eq!(cols, [("id", true), ("na\"me", false), ("select", false), ("b", false)]);
    assert_eq!(detail.columns[2].default.as_deref(), Some("7"));

    let rows = intro.table_rows(&s, weird, 0, 2).await.unwrap();
    assert_eq!(rows.columns, ["id", "na\"me", "select", "b"]);
    let v = |x: &str| Some(x.to_string());
    assert_eq!(rows.rows, [vec![v("1"), None, v("1"), v(r"\x00ff")], vec![v("2"), v("b\"b"), v("2"), None]]);
    assert!(rows.has_more);
    let rest = intro.table_rows(&s, weird, 2, 2).await.unwrap();
    assert_eq!(rest.rows, [vec![v("3"), v("c"), None, None]]);
    assert!(!rest.has_more);
    db.close().await.ok();
    t.drop().await;
}

async fn table_rows_sort_by_the_key_as_a_number_not_as_text(kind: Kind) {
    let t = TestDb::new(kind).await;
    let db = t.connect().await;
    exec(&db, "CREATE TABLE numbered (id int PRIMARY KEY, label varchar(10))").await;
    // Inserted out of order, so neither the insertion order nor a text sort gives 1, 2, ..., 12.
    let values: Vec<String> =
        [10, 2, 12, 1, 11, 3, 9, 4, 8, 5, 7, 6].iter().map(|i| format!("({i}, 'n{i}')")).collect();
    exec(&db, &format!("INSERT INTO numbered (id, label) VALUES {}", values.join(", "))).await;
    let intro = for_connection(db.clone()).expect("backend is supported");
    let ids = |page: &strata::db::introspect::RowsPage| -> Vec<String> {
        page.rows.iter().map(|r| r[0].clone().unwrap_or_default()).collect()
    };
    let first = intro.table_rows(t.schema(), "numbered", 0, 5).await.unwrap();
    assert_eq!(ids(&first), ["1", "2", "3", "4", "5"], "text order would be 1, 10, 11, 12, 2");
    let rest = intro.table_rows(t.schema(), "numbered", 10, 5).await.unwrap();
    assert_eq!(ids(&rest), ["11", "12"]);
    db.close().await.ok();
    t.drop().await;
}

async fn duplicate_and_prefix_indexes_are_flagged_with_a_drop(kind: Kind) {
    let (t, db, intro) = seeded(kind).await;
    exec(&db, "CREATE INDEX dup_a ON posts (user_id)").await;
    exec(&db, "CREATE INDEX dup_b ON posts (user_id)").await;
    exec(&db, "CREATE INDEX title_only ON posts (title)").await;
    exec(&db, "CREATE INDEX title_user ON posts (title, user_id)").await;
    let indexes = every_index(&intro).await;
    let get = |name: &str| indexes.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("{name} missing"));
    let drop = |name: &str| match kind {
        Kind::Sqlite => format!("DROP INDEX \"{name}\";"),
        _ => format!("ALTER TABLE `posts` DROP INDEX `{name}`;"),
    };
    // dup_a sorts first among the three equal indexes on (user_id): it is the one kept.
    assert_eq!(get("dup_a").duplicate_of, None);
    assert_eq!(get("dup_a").suggested_sql, None);
    for name in ["dup_b", "idx_posts_user_id"] {
        assert_eq!(get(name).duplicate_of.as_deref(), Some("dup_a"), "{name}");
        assert_eq!(get(name).suggested_sql.as_deref(), Some(drop(name).as_str()));
    }
    assert_eq!(get("title_only").duplicate_of.as_deref(), Some("title_user"), "a prefix is redundant");
    assert_eq!(get("title_user").duplicate_of, None);

    // The seed's plain indexes on unique columns are redundant to the unique ones.
    let username = get("idx_users_username");
    let unique = indexes
        .iter()
        .find(|i| i.table == "users" && i.unique && !i.primary && i.columns == ["username"])
        .expect("unique index on users.username");
    assert_eq!(username.duplicate_of.as_deref(), Some(unique.name.as_str()));
    assert_eq!(unique.duplicate_of, None);
    assert!(unique.suggested_sql.is_none());
    let primary = indexes.iter().find(|i| i.table == "posts" && i.primary);
    if let Some(primary) = primary {
        assert!(primary.unique && primary.duplicate_of.is_none() && primary.suggested_sql.is_none());
    }
    assert!(indexes.iter().all(|i| i.valid && i.method == "btree"));
    assert!(indexes.iter().all(|i| !i.unused), "no usage statistics here: nothing is called unused");
    assert!(get("dup_a").size_bytes.unwrap() > 0);
    if kind == Kind::Sqlite {
        assert!(get("dup_a").scans.is_none());
    }
    db.close().await.ok();
    t.drop().await;
}

async fn bloat_is_unsupported(kind: Kind) {
    let (t, db, intro) = seeded(kind).await;
    assert!(!intro.capabilities().bloat);
    let err = intro.bloat().await.unwrap_err();
    assert!(matches!(err, strata::Error::Unsupported(ref m) if m.contains("PostgreSQL-only")), "{err}");
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_activity_lists_strata_statements_and_cannot_cancel() {
    let (t, db, intro) = seeded(Kind::Sqlite).await;
    let caps = intro.capabilities();
    assert!(!caps.server_activity && !caps.cancel && !caps.terminate && !caps.index_usage && !caps.schemas);
    let sql = format!("SELECT 'long statement of {}'", t.name);
    let guard = strata::db::running::register("alice", &sql);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let activity = intro.activity(Duration::from_millis(1)).await.unwrap();
    let s = activity.sessions.iter().find(|s| s.pid == guard.id()).expect("the registered statement is listed");
    assert_eq!(s.query.as_deref(), Some(sql.as_str()));
    assert_eq!(s.user.as_deref(), Some("alice"));
    assert_eq!(s.application.as_deref(), Some("strata"));
    assert!(activity.long_running.contains(&guard.id()));
    assert!(intro.overview(Duration::from_millis(1)).await.unwrap().long_running_queries.unwrap() >= 1);
    let id = guard.id();
    drop(guard);
    let after = intro.activity(Duration::from_millis(1)).await.unwrap();
    assert!(!after.sessions.iter().any(|s| s.pid == id), "gone once the guard is dropped");
    for err in [intro.cancel(id).await.unwrap_err(), intro.terminate(id).await.unwrap_err()] {
        assert!(matches!(err, strata::Error::Unsupported(_)), "{err}");
    }
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_sees_a_long_query_and_can_cancel_it_or_end_its_session() {
    let (t, db, intro) = seeded(Kind::MySql).await;
    let threshold = Duration::from_millis(200);
    let c = t.connect_one().await;
    let id = thread_id(&c).await;
    let c2 = c.clone();
    let sleeper = tokio::spawn(async move {
        let row = c2.query_one_raw(Statement::from_string(DbBackend::MySql, "SELECT SLEEP(30)")).await?;
        Ok::<_, sea_orm::DbErr>(row.and_then(|r| r.try_get_by_index::<i64>(0).ok()))
    });
    let activity = eventually("the sleep becomes long-running", || async {
        let act = intro.activity(threshold).await.unwrap();
        act.long_running.contains(&id).then_some(act)
    })
    .await;
    let s = activity.sessions.iter().find(|s| s.pid == id).unwrap();
    assert_eq!(s.state.as_deref(), Some("active"));
    assert_eq!(s.query.as_deref(), Some("SELECT SLEEP(30)"));
    assert!(s.duration_ms.unwrap() > 200);
    assert!(activity.sessions.iter().any(|s| s.application.as_deref() == Some("strata (this page)")));
    assert!(intro.overview(threshold).await.unwrap().long_running_queries.unwrap() >= 1);

    // KILL QUERY makes SLEEP return early (with 1) and keeps the session.
    assert!(intro.cancel(id).await.unwrap());
    // An interrupted SLEEP returns 1 (or the statement reports the interruption).
    match sleeper.await.unwrap() {
        Ok(v) => assert_eq!(v, Some(1), "SLEEP was interrupted"),
        Err(e) => assert!(e.to_string().contains("interrupted"), "{e}"),
    }
    assert_eq!(thread_id(&c).await, id, "same session after a cancel");

    // KILL CONNECTION ends it.
    assert!(intro.terminate(id).await.unwrap());
    eventually("the session disappears", || async {
        let act = intro.activity(threshold).await.unwrap();
        (!act.sessions.iter().any(|s| s.pid == id)).then_some(())
    })
    .await;
    assert!(!intro.cancel(id).await.unwrap(), "a session that is gone cannot be cancelled");
    for nonsense in [0, -1, i64::MAX] {
        assert!(!intro.terminate(nonsense).await.unwrap(), "{nonsense}");
    }
    c.close().await.ok();
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_sessions_of_other_databases_are_out_of_reach() {
    let (t, db, intro) = seeded(Kind::MySql).await;
    let other = TestDb::new(Kind::MySql).await;
    let elsewhere = other.connect_one().await;
    let id = thread_id(&elsewhere).await;
    assert!(!intro.activity(Duration::from_secs(1)).await.unwrap().sessions.iter().any(|s| s.pid == id));
    assert!(!intro.cancel(id).await.unwrap());
    assert!(!intro.terminate(id).await.unwrap());
    assert_eq!(thread_id(&elsewhere).await, id, "the other database's session is untouched");
    elsewhere.close().await.ok();
    other.drop().await;
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_a_session_waiting_for_a_row_lock_shows_who_blocks_it() {
    let (t, db, intro) = seeded(Kind::MySql).await;
    exec(&db, "INSERT INTO users (username, email) VALUES ('alice', 'alice@example.com')").await;
    let update = "UPDATE users SET email = 'a@example.com' WHERE username = 'alice'";
    let a = t.connect_one().await;
    let id_a = thread_id(&a).await;
    exec(&a, "START TRANSACTION").await;
    exec(&a, update).await;
    let b = t.connect_one().await;
    let id_b = thread_id(&b).await;
    let blocked = tokio::spawn(async move { b.execute_unprepared(update).await.map(|_| ()) });
    // Capabilities follow the server probe, which every read awaits.
    intro.overview(Duration::from_secs(1)).await.unwrap();
    assert!(intro.capabilities().blocking, "MariaDB 10.11 has information_schema.INNODB_LOCK_WAITS");
    {
        let activity = eventually("B waits for A", || async {
            let act = intro.activity(Duration::from_secs(300)).await.unwrap();
            act.sessions.iter().any(|s| s.pid == id_b && s.blocked_by == [id_a]).then_some(act)
        })
        .await;
        let holder = activity.sessions.iter().find(|s| s.pid == id_a).unwrap();
        assert_eq!(holder.state.as_deref(), Some("idle in transaction"));
        let waiting = activity.sessions.iter().find(|s| s.pid == id_b).unwrap();
        assert!(waiting.wait_event.as_deref().unwrap_or("").starts_with("Lock:"), "{:?}", waiting.wait_event);
    }
    exec(&a, "ROLLBACK").await;
    blocked.await.unwrap().expect("B goes on once A rolls back");
    a.close().await.ok();
    db.close().await.ok();
    t.drop().await;
}

async fn index_pages_filter_search_sort_and_flag_a_twin_on_another_page(kind: Kind) {
    let (t, db, intro) = seeded(kind).await;
    exec(&db, "CREATE TABLE twins (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER)").await;
    exec(&db, "CREATE INDEX aaaa_twin ON twins (a)").await;
    exec(&db, "CREATE INDEX zzzz_twin ON twins (a)").await;
    exec(&db, "CREATE INDEX twins_b ON twins (b)").await;
    let page = |filter, sort, descending, search: Option<&str>, offset, limit| {
        let intro = intro.clone();
        let query = IndexQuery { sort, descending, search: search.map(str::to_string), filter, offset, limit };
        async move { intro.indexes(&query).await.unwrap() }
    };
    let all = every_index(&intro).await;
    let by_name = page(IndexFilter::All, IndexSort::Name, false, None, 0, 1000).await;
    assert_eq!(by_name.total as usize, all.len());
    let mut names: Vec<&str> = by_name.items.iter().map(|i| i.name.as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    names.reverse();
    let desc = page(IndexFilter::All, IndexSort::Name, true, None, 0, 1000).await;
    assert_eq!(desc.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), names);

    // One index per page: the twin far from aaaa_twin is still a duplicate of it.
    let at = by_name.items.iter().position(|i| i.name == "zzzz_twin").unwrap() as u64;
    let alone = page(IndexFilter::All, IndexSort::Name, false, None, at, 1).await;
    assert_eq!(alone.items.len(), 1);
    assert_eq!(alone.items[0].duplicate_of.as_deref(), Some("aaaa_twin"));
    assert_eq!(alone.total, by_name.total);

    let duplicates = page(IndexFilter::Duplicate, IndexSort::Table, false, Some("TWIN"), 0, 10).await;
    assert_eq!(duplicates.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["zzzz_twin"]);
    assert_eq!(duplicates.total, 1);
    let on_twins = page(IndexFilter::All, IndexSort::Table, false, Some("twins"), 0, 2).await;
    // SQLite's INTEGER PRIMARY KEY is the rowid, MariaDB's PRIMARY an index of its own.
    let twins = all.iter().filter(|i| i.table == "twins").count() as u64;
    assert!(twins >= 3);
    assert_eq!((on_twins.total, on_twins.items.len()), (twins, 2), "searched, then paged");
    let invalid = page(IndexFilter::Invalid, IndexSort::Table, false, None, 0, 10).await;
    assert_eq!(invalid.total, 0, "SQLite and MariaDB have no invalid indexes");
    let unused = page(IndexFilter::Unused, IndexSort::Table, false, None, 0, 1000).await;
    assert!(unused.items.iter().all(|i| i.unused) && unused.total as usize == unused.items.len());
    db.close().await.ok();
    t.drop().await;
}
