//! A migration that fails half-way: PostgreSQL and SQLite keep no trace of it; MariaDB marks it dirty and `up` refuses.

mod common;

use common::*;
use sea_orm_migration::prelude::*;
use strata::config::DatabaseUrl;
use strata::db::{self, Purpose};
use strata::migrate::{self, Event, MigrationSet, Runner, Steps};

struct CreateOk;
impl MigrationName for CreateOk {
    fn name(&self) -> &str {
        "m20990101_000001_create_ok"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for CreateOk {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("CREATE TABLE t_ok (id INTEGER PRIMARY KEY)").await.map(|_| ())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP TABLE t_ok").await.map(|_| ())
    }
}

/// Creates a table, then fails: what is left of it depends on the backend.
struct HalfFails;
impl MigrationName for HalfFails {
    fn name(&self) -> &str {
        "m20990101_000002_half_fails"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for HalfFails {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = m.get_connection();
        c.execute_unprepared("CREATE TABLE t_partial (id INTEGER PRIMARY KEY)").await?;
        c.execute_unprepared("CREATE TABLE t_ok (id INTEGER PRIMARY KEY)").await?; // already exists
        Ok(())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP TABLE t_partial").await.map(|_| ())
    }
}

fn set() -> MigrationSet {
    MigrationSet::new(vec![Box::new(CreateOk), Box::new(HalfFails)]).unwrap()
}

each_backend! {
    a_failing_migration_is_logged_and_handled_per_backend => failing_migration;
}

async fn failing_migration(kind: Kind) {
    let t = TestDb::new(kind).await;
    let url = DatabaseUrl::parse(&t.url).unwrap();
    let conn = db::connect(&url, Purpose::Migrate).await.unwrap();
    let set = set();
    let quiet = |_: Event<'_>| {};
    let runner = Runner::new(&conn, &set, "tester@host", std::time::Duration::from_secs(10), &quiet);

    let err = runner.up(&Steps::All, false).await.unwrap_err().to_string();
    assert!(err.contains("m20990101_000002") && err.contains("failed"), "{err}");

    let check = t.connect().await;
    assert!(has_table(&check, "t_ok").await, "the first migration stays applied");
    assert_eq!(count(&check, "SELECT count(*) FROM migrations_log WHERE status = 'success'").await, 1);
    let errors = column(&check, "SELECT error FROM migrations_log WHERE status = 'failed'").await;
    assert_eq!(errors.len(), 1, "the failure is logged once");
    assert_eq!(column(&check, "SELECT version_num FROM alembic_version").await, vec!["m20990101_000001"]);

    let status = migrate::status(&conn, &set).await.unwrap();
    match kind {
        Kind::Postgres | Kind::Sqlite => {
            assert!(!has_table(&check, "t_partial").await, "transactional DDL keeps no trace");
            assert_eq!(status[1].state, "failed");
            assert!(status[1].last_error.is_some());
            // Nothing is half-applied, so `up` simply tries again (and fails again, logged again).
            assert!(runner.up(&Steps::All, false).await.is_err());
            assert_eq!(count(&check, "SELECT count(*) FROM migrations_log WHERE status = 'failed'").await, 2);
        }
        Kind::MySql => {
            assert!(has_table(&check, "t_partial").await, "MariaDB cannot roll DDL back");
            assert_eq!(status[1].state, "dirty");
            let refusal = runner.up(&Steps::All, false).await.unwrap_err().to_string();
            assert!(
                refusal.contains("dirty") && refusal.contains("stamp") && refusal.contains("--retry-failed"),
                "{refusal}"
            );
            assert_eq!(
                count(&check, "SELECT count(*) FROM migrations_log WHERE status = 'failed'").await,
                1,
                "refusing runs nothing"
            );
            // The operator finishes it by hand and stamps: the migration counts as applied.
            runner.stamp("m20990101_000002").await.unwrap();
            let status = migrate::status(&conn, &set).await.unwrap();
            assert_eq!(status[1].state, "applied");
            assert!(runner.up(&Steps::All, false).await.unwrap().is_empty(), "nothing left to do");
        }
    }
    conn.close().await.ok();
    check.close().await.ok();
    t.drop().await;
}
