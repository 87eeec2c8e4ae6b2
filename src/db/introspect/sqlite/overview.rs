//! The overview page on SQLite: library version, file size, journal mode, free pages, WAL size, auto-vacuum.

use std::time::Duration;

use sea_orm::FromQueryResult;

use super::{MAIN, Sqlite, activity};
use crate::db::introspect::{Overview, SlowReadings};
use crate::error::{Error, Result};

/// Everything about the `main` database in one row, from the pragmas that only read.
const OVERVIEW_SQL: &str = r"
SELECT sqlite_version() AS server_version,
       (SELECT page_count FROM pragma_page_count()) AS page_count,
       (SELECT page_size FROM pragma_page_size()) AS page_size,
       (SELECT freelist_count FROM pragma_freelist_count()) AS freelist_count,
       (SELECT journal_mode FROM pragma_journal_mode()) AS journal_mode,
       (SELECT auto_vacuum FROM pragma_auto_vacuum()) AS auto_vacuum,
       (SELECT file FROM pragma_database_list() WHERE name = 'main') AS file";

#[derive(FromQueryResult)]
struct OverviewRow {
    server_version: String,
    page_count: i64,
    page_size: i64,
    freelist_count: i64,
    journal_mode: String,
    auto_vacuum: i64,
    /// Empty for an in-memory or temporary database.
    file: Option<String>,
}

/// `PRAGMA auto_vacuum` values.
fn auto_vacuum_name(mode: i64) -> &'static str {
    match mode {
        0 => "none",
        1 => "full",
        2 => "incremental",
        _ => "unknown",
    }
}

/// The database's name: its file name, or `main` for an in-memory database.
fn database_name(file: Option<&str>) -> String {
    file.filter(|f| !f.is_empty())
        .and_then(|f| std::path::Path::new(f).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| MAIN.to_string())
}

impl Sqlite {
    /// SQLite has no slow figure: its size is two pragmas that read the file's header.
    pub(super) async fn read_overview(&self, long_query_threshold: Duration) -> Result<Overview> {
        self.read_live_overview(long_query_threshold).await
    }

    pub(super) async fn read_slow_readings(&self) -> Result<SlowReadings> {
        Ok(SlowReadings::default())
    }

    pub(super) async fn read_live_overview(&self, long_query_threshold: Duration) -> Result<Overview> {
        let r: OverviewRow = self
            .one(OVERVIEW_SQL, [])
            .await?
            .ok_or_else(|| Error::Internal("the SQLite overview query returned no row".into()))?;
        let file = r.file.clone().filter(|f| !f.is_empty());
        let mut notes = vec![
            ("File".to_string(), file.clone().unwrap_or_else(|| "(in memory)".into())),
            ("Journal mode".to_string(), r.journal_mode.clone()),
            ("Page size".to_string(), format!("{} bytes", r.page_size)),
            (
                "Free pages".to_string(),
                format!(
                    "{} ({} bytes; VACUUM returns them to the file system)",
                    r.freelist_count,
                    r.freelist_count * r.page_size
                ),
            ),
        ];
        if r.journal_mode.eq_ignore_ascii_case("wal")
            && let Some(file) = &file
        {
            let wal = format!("{file}-wal");
            let size = match tokio::fs::metadata(&wal).await {
                Ok(m) => format!("{} bytes", m.len()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no WAL file (checkpointed and closed)".into(),
                Err(e) => format!("unreadable: {e}"),
            };
            notes.push(("WAL file size".to_string(), size));
        }
        notes.push(("Auto-vacuum".to_string(), auto_vacuum_name(r.auto_vacuum).to_string()));
        if !self.has_dbstat().await? {
            notes.push((
                "Table sizes".to_string(),
                "unknown: this SQLite library was built without the dbstat virtual table".to_string(),
            ));
        }
        Ok(Overview {
            server_version: r.server_version,
            database_name: database_name(file.as_deref()),
            database_size_bytes: Some(r.page_count * r.page_size),
            long_running_queries: Some(activity::long_running_count(long_query_threshold)),
            notes,
            ..Overview::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_file_name_or_main() {
        assert_eq!(database_name(Some("/var/lib/app/data.db")), "data.db");
        assert_eq!(database_name(Some("")), "main");
        assert_eq!(database_name(None), "main");
        assert_eq!(auto_vacuum_name(2), "incremental");
    }
}
