//! Every b-tree's size from one walk of the file, kept until something is committed to the file.
//!
//! An order by size needs every table's and index's size, and dbstat can only walk every page of the file for
//! that (about 0.3 s at 10,000 tables with 3 indexes each). The walk is kept with the `data_version` it was read
//! under, on a connection of its own: SQLite changes that number on a connection whenever another connection
//! (of this process or any other) commits to the file, and only then, so while it stays the walk is exactly what
//! a new walk would read. The number means something only on the connection it was read on: the connection is
//! taken out of the pool for this (already warm, so no second schema load) and closed after [`IDLE`] unused, as
//! the pool closes its own. An in-memory database is walked each time (it has no other connection to share).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::sqlx::sqlite::SqliteConnection;
use sea_orm::sqlx::{self, Connection};

use super::Sqlite;
use super::indexes::{ALL_SIZES_SQL, SizeRow};
use crate::error::{Error, Result};

/// Unused this long, the walk's connection is closed (the next order by size opens one and walks again).
pub(super) const IDLE: Duration = Duration::from_secs(60);

/// Whether `main` is a file (an in-memory or temporary database has no file name).
const IS_FILE_SQL: &str = "SELECT count(*) AS n FROM pragma_database_list WHERE name = 'main' AND file <> ''";

/// The file's version as this connection sees it: `data_version` moves with every commit by another connection.
const VERSION_SQL: &str = "SELECT (SELECT data_version FROM pragma_data_version), \
     (SELECT schema_version FROM pragma_schema_version)";

/// Sizes by b-tree name (a table's or an index's), `None` where dbstat reports none.
pub(super) type Sizes = Arc<HashMap<String, Option<i64>>>;

/// The kept walk and the connection its version was read on.
struct Kept {
    conn: SqliteConnection,
    version: Option<(i64, i64)>,
    sizes: Sizes,
    used: Instant,
}

/// One database's kept walk (see the module).
#[derive(Default)]
pub(super) struct KeptSizes {
    slot: Arc<tokio::sync::Mutex<Option<Kept>>>,
    is_file: tokio::sync::OnceCell<bool>,
}

fn sqlx_error(e: sqlx::Error) -> Error {
    Error::Db(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into())))
}

impl Sqlite {
    /// Every b-tree's size: the kept walk while nothing was committed to the file since, else a new walk.
    pub(super) async fn every_size(&self) -> Result<Sizes> {
        let is_file =
            self.sizes.is_file.get_or_try_init(|| async { Ok::<_, Error>(self.count(IS_FILE_SQL, []).await? > 0) });
        if !*is_file.await? {
            let rows: Vec<SizeRow> = self.all(ALL_SIZES_SQL, []).await?;
            return Ok(Arc::new(rows.into_iter().map(|r| (r.name, r.bytes)).collect()));
        }
        let mut slot = self.sizes.slot.lock().await;
        if let Some(old) = slot.take_if(|k| k.used.elapsed() >= IDLE) {
            old.conn.close().await.ok();
        }
        if slot.is_none() {
            // A pooled connection has its schema loaded already; taken out of the pool, it is ours alone.
            let conn = self.db.get_sqlite_connection_pool().acquire().await.map_err(sqlx_error)?.detach();
            *slot = Some(Kept { conn, version: None, sizes: Sizes::default(), used: Instant::now() });
            self.close_when_idle();
        }
        let kept = slot.as_mut().expect("filled above");
        kept.used = Instant::now();
        let version: (i64, i64) = sqlx::query_as(VERSION_SQL).fetch_one(&mut kept.conn).await.map_err(sqlx_error)?;
        if kept.version == Some(version) {
            return Ok(kept.sizes.clone());
        }
        // Unset while walking: a walk cut short (a timeout drops this future) leaves nothing to reuse.
        kept.version = None;
        let rows: Vec<(String, Option<i64>)> =
            sqlx::query_as(ALL_SIZES_SQL).fetch_all(&mut kept.conn).await.map_err(sqlx_error)?;
        kept.sizes = Arc::new(rows.into_iter().collect());
        kept.version = Some(version);
        Ok(kept.sizes.clone())
    }

    /// Closes the walk's connection once it has been unused for [`IDLE`], as the pool closes idle connections
    /// (one task per connection taken).
    fn close_when_idle(&self) {
        let slot = self.sizes.slot.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        rt.spawn(async move {
            loop {
                tokio::time::sleep(IDLE).await;
                let mut guard = slot.lock().await;
                match guard.as_ref() {
                    None => return,
                    Some(k) if k.used.elapsed() >= IDLE => {
                        if let Some(old) = guard.take() {
                            old.conn.close().await.ok();
                        }
                        return;
                    }
                    Some(_) => {}
                }
            }
        });
    }
}
