//! A migrator that finds the lock taken says who holds it, waits, and gives up after lock_timeout with a clear message.

mod common;

use common::*;
use sea_orm::{ConnectionTrait, TransactionTrait};

each_backend! {
    waiter_names_the_lock_and_gives_up_after_the_timeout => waiter_gives_up;
}

async fn waiter_gives_up(kind: Kind) {
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "current"])); // creates the SQLite file as Strata does (WAL)
    let holder = t.connect().await;
    // Take the same lock `strata migrate` takes, from another session.
    let _txn = match kind {
        Kind::Postgres => {
            exec(&holder, &format!("SELECT pg_advisory_lock({})", (0x5354_5241_i64 << 32) | 0x5441_4d47)).await;
            None
        }
        Kind::MySql => {
            exec(&holder, "SELECT GET_LOCK(CONCAT('strata_migrate:', DATABASE()), 0)").await;
            None
        }
        Kind::Sqlite => {
            let txn = holder.begin().await.unwrap();
            txn.execute_unprepared("CREATE TABLE lock_holder (id INTEGER)").await.unwrap(); // takes the write lock
            Some(txn)
        }
    };
    let out = strata_cmd(&t.url, &["migrate", "up"]).env("STRATA_LOCK_TIMEOUT", "1s").output().unwrap();
    assert!(!out.status.success(), "must give up while the lock is held");
    let err = stderr(&out);
    assert!(err.contains("waiting for the migration lock"), "{err}");
    assert!(err.contains("gave up after 1 s") && err.contains("lock_timeout"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    drop(_txn);
    holder.close().await.ok();
    // Once the holder is gone the same command goes through.
    ok(&strata(&t.url, &["migrate", "up"]));
    t.drop().await;
}
