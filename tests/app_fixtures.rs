//! The real-app-shaped fixtures build as their tools would leave them, and `snapshot` sees every kind of write.

mod common;

use common::apps::{self, ALEMBIC_REVISIONS, diff, snapshot};
use common::*;

/// Snapshots the database after each change and requires a difference that mentions `expect`: proof that a
/// "Strata writes nothing" test built on `snapshot` can fail.
async fn each_change_shows(t: &TestDb, changes: &[(&str, &str)]) {
    let mut before = snapshot(t).await;
    for (sql, expect) in changes {
        let db = t.connect_one().await;
        for statement in sql.split(";\n") {
            exec(&db, statement).await;
        }
        db.close().await.ok();
        let after = snapshot(t).await;
        let changed = diff(&before, &after);
        assert!(!changed.is_empty(), "the snapshot missed: {sql}");
        assert!(changed.contains(expect), "after {sql} the snapshot's change does not mention {expect:?}:\n{changed}");
        before = after;
    }
}

#[track_caller]
fn assert_stable(first: &str, second: &str) {
    assert!(!first.trim().is_empty(), "empty snapshot");
    assert_eq!(diff(first, second), "", "two snapshots in a row differ");
    assert_eq!(first, second);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_app_has_its_own_users_and_no_version_table() {
    let t = TestDb::new(Kind::Postgres).await;
    apps::postgres_app(&t).await;
    let db = t.connect().await;
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 2000);
    assert_eq!(
        column(&db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname IN ('id', 'profile') ORDER BY attname").await,
        ["uuid", "jsonb"]
    );
    assert!(count(&db, "SELECT count(*) FROM orders").await > 2000);
    let version_tables = column(
        &db,
        "SELECT relname::text FROM pg_class WHERE relname IN \
         ('alembic_version', 'seaql_migrations', 'migrations_log', '_prisma_migrations', 'schema_migrations')",
    )
    .await;
    assert!(version_tables.is_empty(), "{version_tables:?}");
    db.close().await.ok();

    let first = snapshot(&t).await;
    for expect in [
        "relation: public | users | r | postgres",
        "relation: public | user_order_totals | v |",
        "relation: public | daily_orders | m |",
        "relation: public | orders_id_seq | S |",
        "column: public | users | id | uuid | NOT NULL | gen_random_uuid()",
        "constraint: public | orders | orders_total_nonnegative | c | CHECK ((total_cents >= 0))",
        "index: public | users_profile_gin | CREATE INDEX users_profile_gin ON public.users USING gin (profile jsonb_path_ops)",
        "trigger: public | users | users_touch |",
        "rows: public | users | 2000 |",
        "=r/postgres", // the grant on the view
    ] {
        assert!(first.contains(expect), "the snapshot lacks {expect:?}:\n{first}");
    }
    assert_stable(&first, &snapshot(&t).await);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_snapshot_sees_each_kind_of_change() {
    let t = TestDb::new(Kind::Postgres).await;
    apps::postgres_app(&t).await;
    each_change_shows(
        &t,
        &[
            ("CREATE INDEX orders_status_idx ON orders (status)", "orders_status_idx"),
            ("INSERT INTO users (email, name) VALUES ('new@example.com', 'New')", "rows: public | users | 2001 |"),
            ("UPDATE users SET name = 'Renamed' WHERE email = 'user1@example.com'", "rows: public | users | 2001 |"),
            ("ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'paid'", "'paid'::text"),
            ("CREATE SCHEMA strata;\nCREATE TABLE strata.accounts (id int)", "strata | accounts"),
            ("SELECT nextval('orders_id_seq')", "sequence state: public | orders_id_seq"),
            ("GRANT SELECT ON users TO PUBLIC", "relation: public | users |"),
            ("ALTER TABLE users DISABLE TRIGGER users_touch", "| D"),
            ("COMMENT ON TABLE orders IS 'placed orders'", "placed orders"),
            (
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '5s'); END $$",
                "statement_timeout=5s",
            ),
            ("CREATE EXTENSION citext", "extension: citext"),
        ],
    )
    .await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_snapshot_ignores_what_autovacuum_does() {
    // Autovacuum and autoanalyze may run during any test: the statistics they write are not a write by Strata.
    let t = TestDb::new(Kind::Postgres).await;
    apps::postgres_app(&t).await;
    let before = snapshot(&t).await;
    let db = t.connect_one().await;
    exec(&db, "VACUUM (ANALYZE)").await;
    db.close().await.ok();
    assert_stable(&before, &snapshot(&t).await);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prisma_app_is_shaped_like_prisma_migrate_left_it() {
    let t = TestDb::new(Kind::Postgres).await;
    apps::prisma_app(&t).await;
    let db = t.connect().await;
    let tables = column(&db, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").await;
    assert_eq!(tables, ["Category", "Post", "Profile", "Tag", "User", "_PostToTag", "_prisma_migrations"]);
    assert_eq!(
        column(&db, "SELECT typname::text FROM pg_type WHERE typtype = 'e' ORDER BY 1").await,
        ["PostStatus", "Role"]
    );
    assert_eq!(
        column(
            &db,
            "SELECT column_name::text || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '') \
             FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position"
        )
        .await,
        [
            "id character varying(36)",
            "checksum character varying(64)",
            "finished_at timestamp with time zone",
            "migration_name character varying(255)",
            "logs text",
            "rolled_back_at timestamp with time zone",
            "started_at timestamp with time zone",
            "applied_steps_count integer",
        ]
    );
    assert_eq!(count(&db, r#"SELECT count(*) FROM "_prisma_migrations" WHERE "finished_at" IS NOT NULL"#).await, 3);
    assert_eq!(
        column(
            &db,
            r#"SELECT "migration_name" FROM "_prisma_migrations"
               WHERE "finished_at" IS NULL AND "rolled_back_at" IS NULL AND "logs" IS NOT NULL"#
        )
        .await,
        ["20240502110000_add_user_handle"]
    );
    assert_eq!(count(&db, r#"SELECT count(*) FROM "User""#).await, 300);
    db.close().await.ok();

    let first = snapshot(&t).await;
    for expect in [
        "type: public | Role | e | postgres | 'USER', 'EDITOR', 'ADMIN'",
        "column: public | User | role | \"Role\" | NOT NULL | 'USER'::\"Role\"",
        "constraint: public | _PostToTag | _PostToTag_A_fkey | f | FOREIGN KEY (\"A\") REFERENCES \"Post\"(id) ON UPDATE CASCADE ON DELETE CASCADE",
        "rows: public | _prisma_migrations | 4 |",
    ] {
        assert!(first.contains(expect), "the snapshot lacks {expect:?}:\n{first}");
    }
    assert_stable(&first, &snapshot(&t).await);
    each_change_shows(
        &t,
        &[
            (r#"ALTER TYPE "Role" ADD VALUE 'GUEST'"#, "'GUEST'"),
            (r#"DELETE FROM "_PostToTag" WHERE "A" = 1"#, "rows: public | _PostToTag |"),
        ],
    )
    .await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alembic_app_is_at_its_own_revision_made_by_real_alembic() {
    let t = TestDb::new(Kind::Postgres).await;
    let started = std::time::Instant::now();
    let app = apps::alembic_app(&t).await;
    let took = started.elapsed();
    assert!(took.as_secs() < 30, "the Alembic fixture took {took:?}");
    assert!(app.ini.exists());
    assert!(
        app.dir.path().join("migrations/versions").join(format!("{}_create_teams.py", ALEMBIC_REVISIONS[0])).exists()
    );
    for rev in ALEMBIC_REVISIONS {
        assert!(rev.len() == 12 && rev.bytes().all(|b| b.is_ascii_hexdigit()), "{rev}");
    }
    let db = t.connect().await;
    assert_eq!(column(&db, "SELECT version_num FROM alembic_version").await, [app.head()]);
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 25_000);
    assert_eq!(count(&db, "SELECT count(*) FROM posts").await, 5_000);
    db.close().await.ok();
    // The real Alembic agrees: it owns this database and it is at head.
    let current = app.run(&["current"]);
    let said = format!("{}{}", String::from_utf8_lossy(&current.stdout), String::from_utf8_lossy(&current.stderr));
    assert!(current.status.success() && said.contains(&format!("{} (head)", app.head())), "{said}");

    let first = snapshot(&t).await;
    assert!(first.contains("rows: public | users | 25000 |"), "{first}");
    assert!(first.contains("constraint: public | alembic_version | alembic_version_pkc | p |"), "{first}");
    assert_stable(&first, &snapshot(&t).await);
    // A Strata that stamped the database over Alembic's revision would show.
    each_change_shows(
        &t,
        &[("UPDATE alembic_version SET version_num = 'm20251122_000002'", "rows: public | alembic_version | 1 |")],
    )
    .await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_migrate_app_is_in_wal_with_golang_migrate_version_table() {
    let t = TestDb::new(Kind::Sqlite).await;
    apps::sqlite_migrate_app(&t).await;
    let db = t.connect().await;
    assert_eq!(column(&db, "PRAGMA journal_mode").await, ["wal"]);
    assert_eq!(column(&db, "SELECT version || ' ' || dirty FROM schema_migrations").await, ["3 0"]);
    assert_eq!(count(&db, "SELECT count(*) FROM notes").await, 3000);
    db.close().await.ok();

    let first = snapshot(&t).await;
    for expect in [
        "pragma journal_mode: wal",
        "object: index | version_unique | schema_migrations |",
        "object: index | notes_account_updated | notes |",
        "rows: accounts | 500 |",
        "file: strata_t_",
    ] {
        assert!(first.contains(expect), "the snapshot lacks {expect:?}:\n{first}");
    }
    assert!(!first.contains("-wal") && !first.contains("-shm"), "{first}");
    assert_stable(&first, &snapshot(&t).await);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_snapshot_sees_each_kind_of_change() {
    let t = TestDb::new(Kind::Sqlite).await;
    apps::sqlite_migrate_app(&t).await;
    // A checkpoint moves pages from the WAL into the file: not a change of the database.
    let before = snapshot(&t).await;
    let db = t.connect_one().await;
    exec(&db, "PRAGMA wal_checkpoint(TRUNCATE)").await;
    db.close().await.ok();
    assert_stable(&before, &snapshot(&t).await);

    each_change_shows(
        &t,
        &[
            ("CREATE INDEX notes_title ON notes (title)", "notes_title"),
            ("INSERT INTO tags (name) VALUES ('new')", "rows: tags | 5 |"),
            ("UPDATE notes SET pinned = 1 - pinned WHERE id = 7", "rows: notes | 3000 |"),
            ("PRAGMA user_version = 7", "pragma user_version: 7"),
            ("PRAGMA journal_mode = DELETE", "pragma journal_mode: delete"),
        ],
    )
    .await;
    // A file left beside the database (a backup copy, a lock file) shows too.
    let before = snapshot(&t).await;
    let path = t.url.strip_prefix("sqlite:///").unwrap().to_string();
    std::fs::write(format!("{path}.bak"), b"copy").unwrap();
    assert!(diff(&before, &snapshot(&t).await).contains(".db.bak"));
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_app_builds_and_its_snapshot_sees_each_kind_of_change() {
    let t = TestDb::new(Kind::MySql).await;
    apps::mariadb_app(&t).await;
    let db = t.connect().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM customers").await, 1500);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM order_items").await, 8000);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
        )
        .await,
        3
    );
    db.close().await.ok();

    let first = snapshot(&t).await;
    for expect in [
        "table: customers | BASE TABLE | InnoDB |",
        "table: customer_order_counts | VIEW |",
        "index: orders | orders_placed_at_idx | 1 | placed_at |",
        "foreign key: order_items | order_items_product_fk | products |",
        "check: products_price_nonnegative |",
        "rows: customers | 1500 | checksum ",
    ] {
        assert!(first.contains(expect), "the snapshot lacks {expect:?}:\n{first}");
    }
    assert_stable(&first, &snapshot(&t).await);

    // ANALYZE TABLE rewrites index statistics, as a background stats refresh may: not a change of the database.
    let db = t.connect_one().await;
    exec(&db, "ANALYZE TABLE customers, orders").await;
    db.close().await.ok();
    assert_stable(&first, &snapshot(&t).await);

    each_change_shows(
        &t,
        &[
            ("CREATE INDEX orders_status_idx ON orders (status)", "orders_status_idx"),
            ("INSERT INTO products (sku, title, price_cents) VALUES ('SKU-NEW', 'New', 5)", "rows: products | 201 |"),
            ("UPDATE customers SET name = 'Renamed' WHERE id = 1", "rows: customers | 1500 |"),
            ("ALTER TABLE customers ALTER COLUMN country SET DEFAULT 'DE'", "'DE'"),
            // Same rows as before, but the AUTO_INCREMENT moved on.
            ("INSERT INTO products (sku, title, price_cents) VALUES ('SKU-GONE', 'Gone', 5);\nDELETE FROM products WHERE sku = 'SKU-GONE'", "table: products | BASE TABLE |"),
        ],
    )
    .await;
    t.drop().await;
}
