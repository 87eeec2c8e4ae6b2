//! `GET /api/v1/databases/{name}/statements`: the Statements page's list as JSON — live from the engine's statement
//! statistics, or over a past range from the statement samples — sorted, searched and paginated the same way.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use super::params::{PageParams, SortKeys, SortParams};
use crate::db::introspect::{StatementInfo, StatementQuery, StatementSort};
use crate::error::{Error, Result};
use crate::home::api_keys::Scope;
use crate::home::samples;
use crate::home::statement_samples;
use crate::state::AppState;
use crate::watch::trends;
use crate::web::current_db::CurrentDb;
use crate::web::extract::Query;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementsParams {
    /// `live` (default: the engine's counters now) or a past range read from the statement samples: `1h`, `24h`,
    /// `7d`, `30d`, `1y` (up to now).
    pub range: Option<String>,
    /// Start of a past range: Unix seconds or RFC 3339 (with or without `to`; instead of `range`).
    pub from: Option<String>,
    /// End of a past range: Unix seconds or RFC 3339 (default: now).
    pub to: Option<String>,
}

/// One page of statements and what their counters count.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementsResponse {
    pub items: Vec<StatementInfo>,
    /// From 1.
    pub page: u64,
    pub per_page: u64,
    /// Statements matching `q`, on every page.
    pub total: u64,
    /// At least 1.
    pub pages: u64,
    /// `live` (the engine's counters) or `samples` (what ran between `from` and `to`, across resets).
    pub source: String,
    /// Live: since when the counters count, when the engine says (PostgreSQL 14+: the statistics' reset;
    /// MariaDB/MySQL: the server's start).
    pub since: Option<DateTime<Utc>>,
    /// What `since` is: `stats reset` or `server start`.
    pub since_what: Option<String>,
    /// A past range's start and end (Unix seconds); null when live.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The top statements, `per_page` at a time.
///
/// Needs the `read_catalog` scope. Live from `pg_stat_statements` (PostgreSQL) or
/// `performance_schema.events_statements_summary_by_digest` (MariaDB/MySQL); with `range` or `from`/`to`, the
/// increase of each statement's counters over that range from the samples `strata serve` takes every
/// `sample_interval` (a statistics reset in between loses nothing). `sort`: `total_time` (default `-total_time`),
/// `calls`, `mean_time`, `rows`, `hit_ratio`; `q` searches the normalized text.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/statements", tag = "catalog", operation_id = "statements_index", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)"), PageParams, SortParams<StatementKeys>, StatementsParams),
    responses(
        (status = 200, description = "One page of the statements", body = StatementsResponse),
        (status = 400, description = "A parameter out of its bounds, a time that does not parse or `from` after `to` (`bad_request`)", body = ErrorBody),
        KeyRefusals, DbRefusals,
        (status = 409, description = "The engine's statement statistics are off here (the extension is not installed or \
                                      not loaded, performance_schema is OFF); the message says how to enable them (`conflict`)", body = ErrorBody),
        (status = 501, description = "The engine keeps no statement statistics (SQLite); the message says why (`unsupported`)", body = ErrorBody),
        (status = 504, description = "A catalog read passed `catalog_timeout` (`timeout`)", body = ErrorBody)
    )
)]
pub async fn index(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(paging): Query<PageParams>,
    Query(sorting): Query<SortParams<StatementKeys>>,
    Query(params): Query<StatementsParams>,
) -> Result<Json<StatementsResponse>> {
    caller.require(Scope::ReadCatalog)?;
    let (page, per_page) = paging.get()?;
    let (sort, descending) = sorting.sort()?;
    let query =
        StatementQuery { sort, descending, search: sorting.search()?, offset: (page - 1) * per_page, limit: per_page };
    let window = window(&params)?;
    if !db.introspector.capabilities().statements {
        let found = db.introspector.statements(&query).await?;
        let why = found.unavailable.map(|u| u.reason);
        return Err(Error::Unsupported(why.unwrap_or_else(|| "this engine keeps no statement statistics".into())));
    }
    let answer = |items, total, source: &str| StatementsResponse {
        items,
        page,
        per_page,
        total,
        pages: u64::max(total.div_ceil(per_page), 1),
        source: source.to_string(),
        since: None,
        since_what: None,
        from: window.map(|w| w.0),
        to: window.map(|w| w.1),
    };
    match window {
        Some((from, to)) => {
            let retention = state.config.settings.sample_retention;
            let (items, total) = statement_samples::range(&state.home, db.name(), from, to, &retention, &query).await?;
            Ok(Json(answer(items, total, "samples")))
        }
        None => {
            let found = super::within(&state, db.introspector.statements(&query)).await?;
            if let Some(u) = found.unavailable {
                let mut message = u.reason;
                if !u.enable.is_empty() {
                    message.push_str(". To enable it: ");
                    message.push_str(&u.enable.join("; "));
                }
                return Err(Error::Conflict(message));
            }
            let mut out = answer(found.items, found.total, "live");
            out.since = found.since;
            out.since_what = found.since.map(|_| found.since_what.to_string());
            Ok(Json(out))
        }
    }
}

/// The past range asked for, `None` for live.
fn window(params: &StatementsParams) -> Result<Option<(i64, i64)>> {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let (range, from, to) = (given(&params.range), given(&params.from), given(&params.to));
    let now = Utc::now().timestamp();
    match (range.as_deref(), from, to) {
        (Some("live") | None, None, None) => Ok(None),
        (Some("live"), _, _) => Err(Error::BadRequest("range=live takes no from or to".into())),
        (Some(r), None, None) => {
            let span = trends::RANGES.iter().find(|(name, _)| *name == r).map(|(_, s)| *s).ok_or_else(|| {
                let names: Vec<&str> = trends::RANGES.iter().map(|(n, _)| *n).collect();
                Error::BadRequest(format!("range={r}: use live, {}", names.join(", ")))
            })?;
            Ok(Some((now - span, now)))
        }
        (Some(_), _, _) => Err(Error::BadRequest("give either range or from/to, not both".into())),
        (None, from, to) => {
            let to = match to {
                Some(t) => samples::parse_time(&t)?,
                None => now,
            };
            let from = match from {
                Some(f) => samples::parse_time(&f)?,
                None => return Err(Error::BadRequest("to needs a from".into())),
            };
            if from > to {
                return Err(Error::BadRequest(format!("from={from} is after to={to}")));
            }
            Ok(Some((from, to)))
        }
    }
}

/// `sort` of the statements: every [`StatementSort`].
#[derive(Clone, Debug)]
pub struct StatementKeys;

impl SortKeys for StatementKeys {
    type Key = StatementSort;
    fn keys() -> Vec<(&'static str, StatementSort)> {
        [
            StatementSort::TotalTime,
            StatementSort::Calls,
            StatementSort::MeanTime,
            StatementSort::Rows,
            StatementSort::HitRatio,
        ]
        .iter()
        .map(|s| (s.as_str(), *s))
        .collect()
    }
    fn default() -> (StatementSort, bool) {
        (StatementSort::TotalTime, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(range: Option<&str>, from: Option<&str>, to: Option<&str>) -> StatementsParams {
        StatementsParams { range: range.map(Into::into), from: from.map(Into::into), to: to.map(Into::into) }
    }

    #[test]
    fn a_window_is_live_a_named_range_or_from_to() {
        assert_eq!(window(&params(None, None, None)).unwrap(), None);
        assert_eq!(window(&params(Some("live"), None, None)).unwrap(), None);
        let (from, to) = window(&params(Some("24h"), None, None)).unwrap().unwrap();
        assert_eq!(to - from, 86_400);
        assert_eq!(window(&params(None, Some("100"), Some("200"))).unwrap(), Some((100, 200)));
        for bad in [
            params(Some("2w"), None, None),
            params(Some("1h"), Some("100"), None),
            params(None, Some("300"), Some("200")),
            params(None, None, Some("200")),
            params(Some("live"), Some("1"), None),
        ] {
            assert!(matches!(window(&bad), Err(Error::BadRequest(_))), "{bad:?}");
        }
    }
}
