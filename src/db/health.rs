//! What Strata knows about its database's health: reachable or down since when and why (kept by a
//! background watcher, read by every request as one atomic load), and whether its last write failed
//! because the database refuses writes (read-only file, disk full).
//!
//! While the database is known to be down, pages, the API, sign-in and `/readyz` answer 503 at once
//! instead of waiting for the pool's acquire timeout; the watcher pings every second and clears the
//! outage by itself once the database answers again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::DatabaseConnection;
use sea_orm::sqlx::{self, Connection};

use crate::config::{Backend, DatabaseUrl, mask_url_str};
use crate::error::{Outage, WriteFault};

/// How long one ping may take before the database counts as down.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// How long opening the watcher's own connection may take (a connection handshake; the ping follows).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the watcher pings, up or down.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Shared by the watcher, the request guard, `/readyz` and the pool's connection check.
#[derive(Debug)]
pub struct Health {
    /// What messages call the database: the SQLite file's path, else the URL with its password masked.
    home: String,
    /// Set once a watcher runs: without one nobody would clear an outage, so requests do not set it.
    watched: AtomicBool,
    down: AtomicBool,
    outage: Mutex<Option<Outage>>,
    unwritable: AtomicBool,
    write_fault: Mutex<Option<WriteFault>>,
    /// When the last write fault was cleared, in microseconds after `started` (0: never).
    cleared_at: AtomicU64,
    started: Instant,
}

impl Health {
    /// Healthy until a watcher or a request learns otherwise.
    pub fn new(url: &DatabaseUrl) -> Health {
        let home = match url.sqlite_path() {
            Some(path) => path.display().to_string(),
            None => url.masked(),
        };
        Health {
            home,
            watched: AtomicBool::new(false),
            down: AtomicBool::new(false),
            outage: Mutex::new(None),
            unwritable: AtomicBool::new(false),
            write_fault: Mutex::new(None),
            cleared_at: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// What messages call the database.
    pub fn home(&self) -> &str {
        &self.home
    }

    /// Whether the database is known to be down (one atomic load: cheap enough for every request).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// The current outage, if the database is known to be down.
    pub fn outage(&self) -> Option<Outage> {
        if !self.is_down() {
            return None;
        }
        self.outage.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A request met a connection failure: the database is down until the watcher reaches it again.
    /// Ignored when no watcher runs (tests that build the router alone), since nothing would clear it; the
    /// watcher's own reason, more precise than a pool's time-out, is kept when it has one.
    pub fn report_unreachable(&self, cause: &str) {
        if self.watched.load(Ordering::Acquire) && !self.is_down() {
            self.mark_down(cause);
        }
    }

    fn mark_down(&self, cause: &str) {
        let cause = mask_url_str(cause);
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        match outage.as_mut() {
            // Keep when it started; show the latest reason.
            Some(o) => o.cause = cause,
            None => {
                tracing::warn!(database = %self.home, cause = %cause, "a database is unreachable; its pages answer 503 until it is back");
                *outage = Some(Outage { cause, since: Utc::now() });
            }
        }
        self.down.store(true, Ordering::Release);
    }

    fn mark_up(&self) {
        if !self.is_down() {
            return;
        }
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(o) = outage.take() {
            let seconds = (Utc::now() - o.since).num_seconds();
            tracing::info!(database = %self.home, "the database answers again after {seconds} s unreachable");
        }
        self.down.store(false, Ordering::Release);
    }

    /// A write failed because the database refuses writes: remembered until a write succeeds.
    pub fn report_write_fault(&self, fault: WriteFault) {
        let mut current = self.write_fault.lock().unwrap_or_else(PoisonError::into_inner);
        if current.is_none() {
            tracing::warn!("{}", fault.describe(&self.home));
        }
        *current = Some(fault);
        self.unwritable.store(true, Ordering::Release);
    }

    /// The last write fault, while no write has succeeded since.
    pub fn write_fault(&self) -> Option<WriteFault> {
        if !self.unwritable.load(Ordering::Acquire) {
            return None;
        }
        *self.write_fault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A write succeeded: whatever refused writes before is fixed.
    pub fn wrote(&self) {
        if self.unwritable.swap(false, Ordering::AcqRel) {
            let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
            self.cleared_at.store(now, Ordering::Release);
            self.write_fault.lock().unwrap_or_else(PoisonError::into_inner).take();
            tracing::info!("Strata can write to its database again");
        }
    }

    /// Whether the pool may hand out again a connection opened `age` ago. A SQLite connection opened on a
    /// read-only file stays read-only after the file is fixed, so while a write fault stands none is reused,
    /// and once it is cleared the ones opened before that are replaced too.
    pub fn reuse_connection(&self, age: Duration) -> bool {
        if self.unwritable.load(Ordering::Acquire) {
            return false;
        }
        let cleared = self.cleared_at.load(Ordering::Acquire);
        let opened = self.started.elapsed().saturating_sub(age).as_micros();
        cleared == 0 || opened >= u128::from(cleared)
    }

    /// A watched database's page met a connection failure: marks it down. True when it was up before, so the
    /// caller starts [`Health::probe_until_up`] (one probe per outage).
    pub fn mark_down_and_probe(&self, cause: &str) -> bool {
        let was_down = self.is_down();
        self.mark_down(cause);
        !was_down
    }

    /// Pings every second until the database answers, then marks it up and returns, closing the probe's
    /// connection: a watched database that is up and idle keeps no connection of Strata's.
    pub async fn probe_until_up(self: Arc<Self>, url: DatabaseUrl, pool: DatabaseConnection) {
        let mut probe: Option<Probe> = None;
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let result = match url.backend() {
                Backend::Sqlite => ping_pool(&pool).await,
                _ => Probe::ping(&mut probe, &url).await,
            };
            match result {
                Ok(()) => {
                    self.mark_up();
                    return;
                }
                Err(cause) => self.mark_down(&cause),
            }
        }
    }

    /// Pings the database every second until the task is aborted, marking it down or up.
    ///
    /// PostgreSQL and MariaDB are pinged on a connection of the watcher's own, outside any pool, so a busy
    /// pool is not mistaken for an outage and a refused connection is reported as such (a pool retries it
    /// until its time-out); SQLite through the application's pool.
    pub async fn watch(self: Arc<Self>, url: DatabaseUrl, app: DatabaseConnection) {
        self.watched.store(true, Ordering::Release);
        let mut probe: Option<Probe> = None;
        loop {
            let result = match url.backend() {
                Backend::Sqlite => ping_pool(&app).await,
                _ => Probe::ping(&mut probe, &url).await,
            };
            match result {
                Ok(()) => self.mark_up(),
                Err(cause) => self.mark_down(&cause),
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }
}

/// Pings through the pool within [`PING_TIMEOUT`].
async fn ping_pool(db: &DatabaseConnection) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(crate::error::db_text(&e)),
        Err(_) => Err(format!("no answer within {} s", PING_TIMEOUT.as_secs())),
    }
}

/// The watcher's own connection to a database server.
enum Probe {
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
}

impl Probe {
    /// Pings on `probe`, opening it first when there is none (or the last one failed).
    async fn ping(probe: &mut Option<Probe>, url: &DatabaseUrl) -> Result<(), String> {
        let masked = url.masked();
        if probe.is_none() {
            let opened = tokio::time::timeout(CONNECT_TIMEOUT, Probe::open(url)).await;
            *probe = Some(match opened {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    return Err(format!(
                        "cannot connect to the database at {masked}: {}",
                        super::connect_error_text(&e, url)
                    ));
                }
                Err(_) => {
                    let secs = CONNECT_TIMEOUT.as_secs();
                    return Err(format!("cannot connect to the database at {masked}: no answer within {secs} s"));
                }
            });
        }
        let pinged = match probe.as_mut() {
            Some(Probe::Postgres(c)) => tokio::time::timeout(PING_TIMEOUT, c.ping()).await,
            Some(Probe::MySql(c)) => tokio::time::timeout(PING_TIMEOUT, c.ping()).await,
            None => return Ok(()),
        };
        let result = match pinged {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the database at {masked} stopped answering: {}", crate::error::sqlx_text(&e))),
            Err(_) => Err(format!("the database at {masked} did not answer within {} s", PING_TIMEOUT.as_secs())),
        };
        if result.is_err() {
            // A broken connection is not reused: the next round opens a new one.
            probe.take();
        }
        result
    }

    async fn open(url: &DatabaseUrl) -> Result<Probe, sqlx::Error> {
        let driver_url = super::driver_url(url);
        match url.backend() {
            Backend::MySql => Ok(Probe::MySql(sqlx::MySqlConnection::connect(&driver_url).await?)),
            _ => Ok(Probe::Postgres(sqlx::PgConnection::connect(&driver_url).await?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> Health {
        Health::new(&DatabaseUrl::parse("postgresql://ann:secret@db.example:5432/app").unwrap())
    }

    #[test]
    fn requests_report_outages_only_while_a_watcher_can_clear_them() {
        let h = health();
        h.report_unreachable("connection refused");
        assert!(!h.is_down(), "without a watcher the outage would never end");
        h.watched.store(true, Ordering::Release);
        h.report_unreachable("connection refused for postgresql://ann:secret@db.example/app");
        let outage = h.outage().expect("down");
        assert!(!outage.cause.contains("secret"), "{outage:?}");
        h.mark_down("still refused");
        assert_eq!(h.outage().unwrap().since, outage.since, "an outage keeps when it started");
        h.mark_up();
        assert!(!h.is_down() && h.outage().is_none());
    }

    #[test]
    fn a_write_fault_stands_until_a_write_succeeds() {
        let h = health();
        assert!(h.reuse_connection(Duration::from_secs(1)));
        h.report_write_fault(WriteFault::ReadOnly);
        assert_eq!(h.write_fault(), Some(WriteFault::ReadOnly));
        assert!(!h.reuse_connection(Duration::ZERO), "no connection is reused while writes fail");
        std::thread::sleep(Duration::from_millis(5));
        h.wrote();
        assert_eq!(h.write_fault(), None);
        assert!(!h.reuse_connection(Duration::from_millis(4)), "one opened before the fix is replaced");
        assert!(h.reuse_connection(Duration::ZERO), "one opened after the fix is reused");
        assert!(!h.home().contains("secret"), "{}", h.home());
    }
}
