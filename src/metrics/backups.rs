//! `strata_backup_last_success_timestamp_seconds`, `strata_backup_last_verified_timestamp_seconds` and
//! `strata_backup_size_bytes`, per watched database: read at scrape time from its backup folder (a directory
//! listing and the newest backups' sidecars, no database work).
//!
//! "Verified" is the newest backup whose restore test passed; the timestamp is when that backup was taken (the
//! point a restore would bring the database back to).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::backup::{self, manifest};
use crate::watch::Watchlist;

/// The backup gauges of every watched database; `backup_dir` is the shared folder (a database may have its own).
pub struct BackupGauges {
    pub watched: Arc<Watchlist>,
    pub backup_dir: PathBuf,
}

impl fmt::Debug for BackupGauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupGauges").finish_non_exhaustive()
    }
}

/// The newest backup's time and size, and the newest verified backup's time, of one database.
pub struct Latest {
    pub success: Option<chrono::DateTime<chrono::Utc>>,
    pub verified: Option<chrono::DateTime<chrono::Utc>>,
    /// The newest verified backup's restore test failed after it, or the newest backup's test failed: why.
    pub failed: Option<String>,
    pub bytes: Option<u64>,
}

/// Reads the backup folder of one database.
pub fn latest(dir: &std::path::Path, prefix: &str) -> Latest {
    let listed = backup::list(dir, prefix).unwrap_or_default();
    let newest = listed.first();
    let mut verified = None;
    let mut failed = None;
    for (i, b) in listed.iter().enumerate() {
        let Some(test) = manifest::read(&b.path).ok().flatten().and_then(|m| m.restore_test) else { continue };
        if test.passed() {
            verified = Some(b.taken);
            break;
        }
        if i == 0 {
            failed = Some(test.problems.join("; "));
        }
    }
    Latest { success: newest.map(|b| b.taken), verified, failed, bytes: newest.map(|b| b.bytes) }
}

impl Collector for BackupGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut success = Vec::new();
        let mut verified = Vec::new();
        let mut size = Vec::new();
        for w in self.watched.all() {
            let dir = w.spec.backup_dir.clone().unwrap_or_else(|| self.backup_dir.clone());
            let l = latest(&dir, &backup::file_prefix(w.url()));
            let name = w.name().to_string();
            if let Some(t) = l.success {
                success.push((name.clone(), t.timestamp()));
            }
            if let Some(t) = l.verified {
                verified.push((name.clone(), t.timestamp()));
            }
            if let Some(b) = l.bytes {
                size.push((name, i64::try_from(b).unwrap_or(i64::MAX)));
            }
        }
        for (metric, help, values) in [
            ("strata_backup_last_success_timestamp_seconds", "When the newest backup was taken (Unix time)", &success),
            (
                "strata_backup_last_verified_timestamp_seconds",
                "When the newest backup whose restore test passed was taken (Unix time)",
                &verified,
            ),
            ("strata_backup_size_bytes", "The size of the newest backup", &size),
        ] {
            if values.is_empty() {
                continue;
            }
            let mut m = encoder.encode_descriptor(metric, help, None, MetricType::Gauge)?;
            for (database, v) in values {
                ConstGauge::new(*v).encode(m.encode_family(&[("database", database.as_str())])?)?;
            }
        }
        Ok(())
    }
}
