//! The fleet page's reading of each watched database: reachable or not, engine and version, size, connections,
//! long-running queries, migration head and pending, last backup. Each database is read in a task of its own,
//! under its own time limit, and the result kept for [`CARD_TTL`]; a page shows the kept cards at once (reading
//! stale ones again in the background) and waits a short while only for databases never read yet, so one hanging
//! database never slows the page or the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Watched;
use crate::backup;
use crate::config::Config;
use crate::migrate::MigrationSet;

/// How long a card is reused before it is read again.
pub const CARD_TTL: Duration = Duration::from_secs(10);

/// One database as the fleet page shows it.
#[derive(Clone, Debug)]
pub struct Card {
    pub name: String,
    pub engine: String,
    /// The URL with its password masked.
    pub url: String,
    pub group: Option<String>,
    pub project: bool,
    pub read_only: bool,
    /// `None` until the first reading finished.
    pub reachable: Option<bool>,
    /// Why it cannot be read (passwords masked), and since when it has been unreachable.
    pub error: Option<String>,
    pub down_since: Option<DateTime<Utc>>,
    pub version: Option<String>,
    pub size_bytes: Option<i64>,
    pub connections: Option<i64>,
    pub long_running: Option<i64>,
    /// The revision in `alembic_version`, when the database has one.
    pub head: Option<String>,
    /// Migrations of this build not applied yet (project database only).
    pub pending: Option<usize>,
    /// Every migration tool's state in a few words ("prisma: failed: X; golang-migrate: dirty at 5").
    pub migrations: Option<String>,
    /// Whether a tool has a problem or pending migrations.
    pub migrations_troubled: bool,
    pub last_backup: Option<DateTime<Utc>>,
    /// When the newest backup whose restore test passed was taken.
    pub last_verified: Option<DateTime<Utc>>,
    /// The newest backup's restore test failed: why.
    pub restore_failed: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A verified backup older than this is called out in red on the card.
pub const VERIFIED_STALE_DAYS: i64 = 7;

impl Card {
    /// Red on the card: the newest backup's restore test failed, or no backup was verified for a week.
    pub fn backup_warning(&self) -> Option<String> {
        if let Some(why) = &self.restore_failed {
            return Some(format!("restore failed: {why}"));
        }
        self.last_backup?;
        match self.last_verified {
            None => Some("no verified backup".into()),
            Some(at) => {
                let days = (Utc::now() - at).num_days();
                (days > VERIFIED_STALE_DAYS).then(|| format!("no verified backup for {days} days"))
            }
        }
    }
}

/// The kept card of one database and whether a reading is under way.
#[derive(Default)]
pub struct CardSlot {
    card: std::sync::Mutex<Option<(Card, Instant)>>,
    reading: AtomicBool,
}

impl CardSlot {
    fn kept(&self) -> Option<(Card, Instant)> {
        self.card.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn keep(&self, card: Card) {
        *self.card.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((card, Instant::now()));
    }
}

fn blank(w: &Watched) -> Card {
    Card {
        name: w.spec.name.clone(),
        engine: w.spec.url.backend().to_string(),
        url: w.spec.url.masked(),
        group: w.spec.group.clone(),
        project: w.spec.project,
        read_only: w.spec.read_only,
        reachable: None,
        error: None,
        down_since: None,
        version: None,
        size_bytes: None,
        connections: None,
        long_running: None,
        head: None,
        pending: None,
        migrations: None,
        migrations_troubled: false,
        last_backup: None,
        last_verified: None,
        restore_failed: None,
        read_at: None,
    }
}

/// Reads one database's card under `limit`.
pub async fn read(w: Arc<Watched>, config: Arc<Config>, set: Arc<MigrationSet>, limit: Duration) -> Card {
    let mut card = blank(&w);
    let dir = w.backup_dir(&config);
    let prefix = backup::file_prefix(w.url());
    let latest = tokio::task::spawn_blocking(move || backup::manifest::latest(&dir, &prefix)).await.unwrap_or_default();
    (card.last_backup, card.last_verified, card.restore_failed) = (latest.success, latest.verified, latest.failed);
    card.read_at = Some(Utc::now());
    if let Some(outage) = w.health.outage() {
        card.reachable = Some(false);
        card.error = Some(outage.cause);
        card.down_since = Some(outage.since);
        return card;
    }
    let reading = async {
        let mut overview = w.introspector.live_overview(config.settings.long_query_threshold).await?;
        // The size is the overview's background reading (never read here again while it refreshes).
        if let Some(slow) = w.slow_reading().await {
            slow.value.apply(&mut overview);
        }
        let head = crate::migrate::current(&w.db).await.ok().flatten();
        let pending: Option<usize> = if w.spec.project {
            crate::migrate::status(&w.db, &set).await.ok().map(|s| s.iter().filter(|m| !m.applied).count())
        } else {
            None
        };
        let tools = super::schema_history::of(&w, &set, limit, false).await.ok().flatten();
        crate::error::Result::Ok((overview, head, pending, tools))
    };
    match tokio::time::timeout(limit, reading).await {
        Ok(Ok((o, head, pending, tools))) => {
            card.migrations = tools.as_ref().map(|m| m.summary());
            card.migrations_troubled = tools.as_ref().is_some_and(|m| m.troubled());
            card.reachable = Some(true);
            card.version = Some(o.server_version);
            card.size_bytes = o.database_size_bytes;
            card.connections = Some(o.connections_by_state.iter().map(|(_, n)| n).sum());
            card.long_running = o.long_running_queries;
            card.head = head;
            card.pending = pending;
        }
        Ok(Err(e)) => {
            let e: crate::error::Error = e;
            let text = e.to_string();
            if e.is_unreachable() {
                w.report_unreachable(&text);
            }
            card.reachable = Some(!e.is_unreachable());
            card.error = Some(crate::config::mask_url_str(&text));
            card.down_since = w.health.outage().map(|o| o.since);
        }
        Err(_) => {
            let text = format!("no answer within {} s", limit.as_secs_f64());
            w.report_unreachable(&text);
            card.reachable = Some(false);
            card.error = Some(text);
            card.down_since = w.health.outage().map(|o| o.since);
        }
    }
    card
}

/// Every database's card: kept ones at once (a stale one is read again in the background, for the next look), and
/// for a database never read yet, its first reading, waited for at most `wait` ("reading…" after that).
pub async fn cards(all: &[Arc<Watched>], config: &Arc<Config>, set: &Arc<MigrationSet>, wait: Duration) -> Vec<Card> {
    let limit = config.settings.catalog_timeout;
    let mut first_readings = Vec::new();
    for w in all {
        let kept = w.card.kept();
        let fresh = kept.as_ref().is_some_and(|(_, at)| at.elapsed() < CARD_TTL);
        if fresh || w.card.reading.swap(true, Ordering::AcqRel) {
            continue;
        }
        let (w2, config, set) = (w.clone(), config.clone(), set.clone());
        let reading = tokio::spawn(async move {
            let card = read(w2.clone(), config, set, limit).await;
            w2.card.keep(card);
            w2.card.reading.store(false, Ordering::Release);
        });
        if kept.is_none() {
            first_readings.push(reading);
        }
    }
    if !first_readings.is_empty() {
        let _ = tokio::time::timeout(wait, futures::future::join_all(first_readings)).await;
    }
    all.iter().map(|w| w.card.kept().map(|(c, _)| c).unwrap_or_else(|| blank(w))).collect()
}
