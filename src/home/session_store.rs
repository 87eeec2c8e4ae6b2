//! tower-sessions' `SessionStore` on SeaORM over `strata_sessions`, so every Strata instance on one database shares sessions.
//!
//! One pool for everything and the same code on SQLite, PostgreSQL and MariaDB (the sqlx stores
//! bring a second sqlx; see STACK.md). Session data is the JSON of tower-sessions' map.
//!
//! A session id is a bearer credential: the table holds only its SHA-256 (lower-case hex), and every
//! lookup hashes the cookie's id first. Whoever reads `strata_sessions` (a backup, a leaked dump, a
//! query that got past the editor's guards) learns no id that a cookie could carry.
//!
//! Each instance reuses a session it read or wrote for `session_cache` (2 s; see [`super::recent`]), so a page
//! view reads no session row. Sign-out deletes the row and drops the kept copy at once; another instance sharing
//! the home database stops accepting the session within the bound. A save never brings back a session another
//! instance ended: it updates the row and writes nothing when the row is gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entity::sessions;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, SqlErr};
use time::OffsetDateTime;
use tower_sessions::ExpiredDeletion;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::recent::Recent;
use crate::config::mask_url_str;
use crate::error::WriteFault;

/// Sessions in the home database, each reused for a bounded time once read or written.
#[derive(Clone)]
pub struct DbSessionStore {
    db: DatabaseConnection,
    recent: Arc<Recent<Id, Record>>,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSessionStore").finish_non_exhaustive()
    }
}

impl DbSessionStore {
    /// A store that reads the home database on every load (the sweeper, tools).
    pub fn new(db: DatabaseConnection) -> DbSessionStore {
        DbSessionStore::with_cache(db, Duration::ZERO)
    }

    /// A store that reuses a session it read or wrote for `bound` (`session_cache`).
    pub fn with_cache(db: DatabaseConnection, bound: Duration) -> DbSessionStore {
        DbSessionStore { db, recent: Arc::new(Recent::new(bound)) }
    }

    fn row(record: &Record) -> session_store::Result<sessions::ActiveModel> {
        let data = serde_json::to_vec(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        Ok(sessions::ActiveModel {
            id: Set(stored_id(&record.id)),
            data: Set(data),
            expiry_date: Set(to_chrono(record.expiry_date)),
        })
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    /// Inserts under a fresh id, drawing another one on the (astronomically unlikely) collision.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let ticket = self.recent.ticket();
        for _ in 0..8 {
            match sessions::Entity::insert(Self::row(record)?).exec_without_returning(&self.db).await {
                Ok(_) => {
                    self.recent.put(ticket, record.id, record.clone());
                    return Ok(());
                }
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    record.id = Id::default();
                }
                Err(e) => return Err(backend(e)),
            }
        }
        Err(session_store::Error::Backend("no free session id after 8 attempts".into()))
    }

    /// Updates the session's row. tower-sessions saves through here only a session it loaded (new ones go
    /// through `create`), so a missing row means the session ended meanwhile (signed out on another instance,
    /// swept): it stays ended, and the write is dropped.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_vec(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let ticket = self.recent.ticket();
        let updated = sessions::Entity::update_many()
            .col_expr(sessions::Column::Data, Expr::value(data))
            .col_expr(sessions::Column::ExpiryDate, Expr::value(to_chrono(record.expiry_date)))
            .filter(sessions::Column::Id.eq(stored_id(&record.id)))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        if updated.rows_affected == 0 {
            tracing::info!("a session ended while a request was using it; its changes are not saved");
            self.recent.forget(&record.id);
        } else {
            self.recent.put(ticket, record.id, record.clone());
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.recent.get(id).filter(|r| r.expiry_date > OffsetDateTime::now_utc()) {
            return Ok(Some(record));
        }
        let ticket = self.recent.ticket();
        let row = sessions::Entity::find_by_id(stored_id(id))
            .filter(sessions::Column::ExpiryDate.gt(Utc::now()))
            .one(&self.db)
            .await
            .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let data: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&row.data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let record = Record { id: *id, data, expiry_date: to_time(row.expiry_date) };
        self.recent.put(ticket, *id, record.clone());
        Ok(Some(record))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        // Dropped before and after: no request of this instance reuses it while the row goes, nor puts back a
        // copy it read just before.
        self.recent.forget(id);
        sessions::Entity::delete_by_id(stored_id(id)).exec(&self.db).await.map_err(backend)?;
        self.recent.forget(id);
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sessions::Entity::delete_many()
            .filter(sessions::Column::ExpiryDate.lte(Utc::now()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Deletes expired sessions every `period` until the task is aborted; a failed sweep is logged and retried.
pub async fn sweep_expired(store: DbSessionStore, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = store.delete_expired().await {
            tracing::warn!(error = %e, "deleting expired sessions failed; retrying in {period:?}");
        }
    }
}

/// Marks store failures that mean "database unreachable" so the request answers 503, not 500.
pub(crate) const UNREACHABLE: &str = "database unreachable: ";

/// Marks store failures that mean "the database refuses writes", one marker per cause (503 naming it).
pub(crate) const UNWRITABLE: [(WriteFault, &str); 3] = [
    (WriteFault::ReadOnly, "database read-only: "),
    (WriteFault::Full, "database full: "),
    (WriteFault::Io, "database write failed: "),
];

fn backend(e: DbErr) -> session_store::Error {
    let prefix = if crate::error::is_unreachable(&e) {
        UNREACHABLE
    } else if let Some(fault) = crate::error::write_fault(&e) {
        UNWRITABLE.iter().find(|(f, _)| *f == fault).map_or("", |(_, marker)| marker)
    } else {
        ""
    };
    session_store::Error::Backend(format!("{prefix}{}", mask_url_str(&e.to_string())))
}

/// What the table keeps for a session id: the SHA-256 of the id as the cookie carries it, in lower-case hex.
fn stored_id(id: &Id) -> String {
    crate::hex::sha256(id.to_string().as_bytes(), 32)
}

fn to_chrono(t: OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_else(Utc::now)
}

fn to_time(t: DateTime<Utc>) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map(|s| s + time::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos())))
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn a_session_id_is_stored_as_its_sha256_and_never_as_itself() {
        let id = Id(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let stored = stored_id(&id);
        assert_eq!(stored.len(), 64);
        assert!(stored.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(!stored.contains(&id.to_string()));
        let expected: String = Sha256::digest(id.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(stored, expected);
        assert_ne!(stored_id(&Id(1)), stored_id(&Id(2)));
    }

    #[test]
    fn times_survive_the_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp(1_764_000_000).unwrap() + time::Duration::nanoseconds(123_456_789);
        assert_eq!(to_time(to_chrono(t)), t);
    }
}
