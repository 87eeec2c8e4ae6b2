//! The sidecar next to each backup (`<file>.strata.json`): what the database held when the backup was taken (exact
//! row counts, keys, indexes, migration heads) and how the backup's last restore test went.
//!
//! A sidecar rather than a home-database table: it travels with the file (copied elsewhere, the counts a restore
//! is checked against go along), `strata backup` from a shell writes it without a home database, and it goes when
//! the backup goes. Every instance sharing the backup folder sees the same results.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The ending added to a backup's name for its sidecar.
pub const SUFFIX: &str = ".strata.json";

/// A table's exact row count when the backup was taken: counted before and after the dump, so a table written to
/// meanwhile has a range and one left alone an exact number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    /// The schema, empty for the database's default one (a MariaDB database's own name, SQLite's `main`).
    pub schema: String,
    pub name: String,
    pub min: i64,
    pub max: i64,
}

/// One migration tool's heads when the backup was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolHeads {
    pub tool: String,
    pub heads: Vec<String>,
}

/// How a restore test of the backup went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreTestRecord {
    /// `passed` or `failed`.
    pub state: String,
    pub at: DateTime<Utc>,
    /// The scratch database it was restored into.
    pub scratch: String,
    pub restore_ms: u64,
    pub verify_ms: u64,
    /// Creating and dropping the scratch database (SQLite: its temporary file), what a test adds to a restore.
    #[serde(default)]
    pub scratch_ms: u64,
    pub total_ms: u64,
    /// What was checked, one line each (`42 tables, rows as recorded`, `3 foreign keys`, ...).
    pub checked: Vec<String>,
    /// What was wrong; empty when it passed.
    pub problems: Vec<String>,
}

impl RestoreTestRecord {
    pub fn passed(&self) -> bool {
        self.state == "passed"
    }
}

/// Everything the sidecar holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub tables: Vec<TableCount>,
    pub foreign_keys: Option<usize>,
    pub indexes: Option<usize>,
    /// Migration heads per tool, when they were read.
    #[serde(default)]
    pub migrations: Option<Vec<ToolHeads>>,
    #[serde(default)]
    pub restore_test: Option<RestoreTestRecord>,
    /// Whether the backup is an age file, and the recipients (`age1…` public keys) it was encrypted to.
    #[serde(default)]
    pub encrypted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// The off-site copy (`s3://bucket/prefix/file`), once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsite: Option<String>,
}

/// The sidecar's path for the backup at `backup`.
pub fn path_of(backup: &Path) -> PathBuf {
    let mut name = backup.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(SUFFIX);
    backup.with_file_name(name)
}

/// The sidecar of `backup`; `None` when there is none (a backup taken before sidecars, or copied without it).
pub fn read(backup: &Path) -> Result<Option<Manifest>> {
    let path = path_of(backup);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Backup(format!("{} is not a Strata backup sidecar: {e}", path.display())))
}

/// Writes the sidecar of `backup` whole or not at all (a temporary file renamed over it).
pub fn write(backup: &Path, manifest: &Manifest) -> Result<()> {
    let path = path_of(backup);
    let dir = path.parent().unwrap_or(Path::new("."));
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Internal(format!("sidecar: {e}")))?;
    let failed = |e: std::io::Error| Error::io(format!("cannot write {}", path.display()), e);
    let mut tmp = tempfile::Builder::new().prefix(".sidecar.").suffix(".partial").tempfile_in(dir).map_err(failed)?;
    tmp.write_all(&text).and_then(|_| tmp.as_file().sync_all()).map_err(failed)?;
    tmp.persist(&path).map_err(|e| failed(e.error))?;
    Ok(())
}

/// Changes the sidecar of `backup` (an empty one when there is none yet).
pub fn update(backup: &Path, change: impl FnOnce(&mut Manifest)) -> Result<()> {
    let mut manifest = read(backup)?.unwrap_or_default();
    change(&mut manifest);
    write(backup, &manifest)
}

/// Counts before and after the dump merged into ranges; a table in only one of them gets its one count.
pub fn merge_counts(before: &[super::TableRows], after: &[super::TableRows], default_schema: &str) -> Vec<TableCount> {
    let key = |t: &super::TableRows| {
        let schema = if t.schema == default_schema { String::new() } else { t.schema.clone() };
        (schema, t.name.clone())
    };
    let mut map: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for t in before.iter().chain(after) {
        let e = map.entry(key(t)).or_insert((t.rows, t.rows));
        e.0 = e.0.min(t.rows);
        e.1 = e.1.max(t.rows);
    }
    map.into_iter().map(|((schema, name), (min, max))| TableCount { schema, name, min, max }).collect()
}

/// What a database's backup folder says about it: the newest backup's time and size, the newest verified one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Latest {
    pub success: Option<DateTime<Utc>>,
    /// When the newest backup whose restore test passed was taken.
    pub verified: Option<DateTime<Utc>>,
    /// The newest backup's restore test failed: why.
    pub failed: Option<String>,
    pub bytes: Option<u64>,
}

/// Reads the backups of database `db` in `dir` and the sidecars of the newest ones (up to the newest verified).
pub fn latest(dir: &Path, db: &str) -> Latest {
    let listed = super::list(dir, db).unwrap_or_default();
    let newest = listed.first();
    let mut out = Latest { success: newest.map(|b| b.taken), bytes: newest.map(|b| b.bytes), ..Latest::default() };
    for (i, b) in listed.iter().enumerate() {
        let Some(test) = read(&b.path).ok().flatten().and_then(|m| m.restore_test) else { continue };
        if test.passed() {
            out.verified = Some(b.taken);
            break;
        }
        if i == 0 {
            out.failed = Some(test.problems.join("; "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecar_sits_next_to_the_backup_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("app_2026-12-06_10-00-00.sql.gz");
        assert_eq!(path_of(&backup), dir.path().join("app_2026-12-06_10-00-00.sql.gz.strata.json"));
        assert_eq!(read(&backup).unwrap(), None);
        let m = Manifest {
            tables: vec![TableCount { schema: String::new(), name: "t".into(), min: 1, max: 2 }],
            ..Manifest::default()
        };
        write(&backup, &m).unwrap();
        assert_eq!(read(&backup).unwrap(), Some(m));
    }

    #[test]
    fn counts_before_and_after_become_ranges() {
        let rows = |n: i64| super::super::TableRows { schema: "public".into(), name: "t".into(), rows: n };
        let merged = merge_counts(&[rows(5)], &[rows(7)], "public");
        assert_eq!(merged, [TableCount { schema: String::new(), name: "t".into(), min: 5, max: 7 }]);
    }
}
