//! The Statements page's model: the top queries from the engine's statement statistics (`pg_stat_statements`,
//! `performance_schema.events_statements_summary_by_digest`), one page sorted and searched by the server, or why
//! the engine cannot show them and how to enable them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// Sort keys of the Statements page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementSort {
    Calls,
    #[default]
    TotalTime,
    MeanTime,
    Rows,
    /// Shared-buffer hit ratio (PostgreSQL; elsewhere the total time orders).
    HitRatio,
}

impl StatementSort {
    /// The name in URLs (`total_time`).
    pub fn as_str(self) -> &'static str {
        match self {
            StatementSort::Calls => "calls",
            StatementSort::TotalTime => "total_time",
            StatementSort::MeanTime => "mean_time",
            StatementSort::Rows => "rows",
            StatementSort::HitRatio => "hit_ratio",
        }
    }
}

/// A page request for the statements list.
#[derive(Clone, Debug, Default)]
pub struct StatementQuery {
    pub sort: StatementSort,
    pub descending: bool,
    /// Case-insensitive substring of the normalized text.
    pub search: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// One normalized statement and its counters since the statistics were reset (or over a past range).
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct StatementInfo {
    /// PostgreSQL's `queryid` (as text) or MariaDB/MySQL's digest.
    pub query_id: String,
    /// The normalized text (`$1`, `?` for the constants).
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: Option<f64>,
    /// Rows returned or affected (MariaDB/MySQL: rows sent).
    pub rows: i64,
    /// Rows examined (MariaDB/MySQL).
    pub rows_examined: Option<i64>,
    /// Shared-buffer pages found in the cache and read (PostgreSQL).
    pub blocks_hit: Option<i64>,
    pub blocks_read: Option<i64>,
}

impl StatementInfo {
    /// The share of its page reads served from shared buffers, 0..=1.
    pub fn hit_ratio(&self) -> Option<f64> {
        let (hit, read) = (self.blocks_hit?, self.blocks_read?);
        (hit + read > 0).then(|| hit as f64 / (hit + read) as f64)
    }
}

/// Why statement statistics cannot be read, and what turns them on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct StatementsUnavailable {
    pub reason: String,
    /// The steps that enable them, each a line a DBA can follow (settings, SQL).
    pub enable: Vec<String>,
}

/// One page of statements, or why there is none.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct Statements {
    pub unavailable: Option<StatementsUnavailable>,
    pub items: Vec<StatementInfo>,
    /// Statements matching the search, on every page.
    pub total: u64,
    /// Since when the counters count: the statistics' reset (PostgreSQL 14+) or the server's start (MariaDB).
    pub since: Option<DateTime<Utc>>,
    /// What `since` is (`stats reset`, `server start`).
    pub since_what: &'static str,
}

impl Statements {
    pub fn unavailable(reason: impl Into<String>, enable: &[&str]) -> Statements {
        Statements {
            unavailable: Some(StatementsUnavailable {
                reason: reason.into(),
                enable: enable.iter().map(|s| s.to_string()).collect(),
            }),
            ..Statements::default()
        }
    }
}

/// `%text%` for LIKE with `!` as the escape character (the same on every engine), lower-cased.
pub fn like_pattern(search: Option<&str>) -> Option<String> {
    let text = search.map(str::trim).filter(|s| !s.is_empty())?;
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '!' | '%' | '_') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(like_pattern(Some("Users")).as_deref(), Some("%users%"));
        assert_eq!(like_pattern(Some("a_b%c!d")).as_deref(), Some("%a!_b!%c!!d%"));
        assert_eq!(like_pattern(Some("  ")), None);
    }

    #[test]
    fn hit_ratio_needs_some_reads() {
        let s = StatementInfo { blocks_hit: Some(3), blocks_read: Some(1), ..Default::default() };
        assert_eq!(s.hit_ratio(), Some(0.75));
        let none = StatementInfo { blocks_hit: Some(0), blocks_read: Some(0), ..Default::default() };
        assert_eq!(none.hit_ratio(), None);
    }
}
