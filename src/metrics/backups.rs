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

impl Collector for BackupGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut success = Vec::new();
        let mut verified = Vec::new();
        let mut size = Vec::new();
        for w in self.watched.all() {
            let dir = w.spec.backup_dir.clone().unwrap_or_else(|| self.backup_dir.clone());
            let l = manifest::latest(&dir, &backup::file_prefix(w.url()));
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
