//! `GET /api/v1/databases/{name}/samples`: one metric's trend samples over a range, with the migrations applied in
//! it, as JSON or CSV.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use crate::error::{Error, Result};
use crate::home::api_keys::Scope;
use crate::home::samples::{self, Metric};
use crate::state::AppState;
use crate::watch::trends::{self, Marker, Source};
use crate::web::current_db::CurrentDb;
use crate::web::extract::Query;

/// The range when `from` is not given: the last day.
const DEFAULT_RANGE_S: i64 = 86_400;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SamplesParams {
    /// `db_size`, `connections`, `commits_per_s`, `rollbacks_per_s`, `deadlocks_per_s`, `temp_bytes_per_s`,
    /// `tuples_inserted_per_s`, `tuples_updated_per_s`, `tuples_deleted_per_s`, `cache_hit_ratio`,
    /// `table_size:{schema}.{table}`, `table_rows:{schema}.{table}`, `index_scans:{schema}.{index}`,
    /// `statement_calls:{query_id}` (calls per second) or `statement_mean_ms:{query_id}` (mean time per call in the
    /// interval), where `query_id` is PostgreSQL's `queryid` or MariaDB/MySQL's digest as the Statements page links
    /// it (default: `db_size`).
    pub metric: Option<String>,
    /// Start of the range: Unix seconds or RFC 3339 (default: a day before `to`).
    pub from: Option<String>,
    /// End of the range: Unix seconds or RFC 3339 (default: now).
    pub to: Option<String>,
    /// `json` (default) or `csv` (`unix_seconds,value` lines; no markers).
    #[param(inline)]
    pub format: Option<SamplesFormat>,
}

/// How the samples are answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SamplesFormat {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SamplesResponse {
    pub metric: String,
    /// `bytes`, `connections`, `1/s`, `bytes/s`, `ratio` (0..1), `rows`, `scans/day` or `ms`.
    pub unit: String,
    /// `[unix_seconds, value]`, oldest first: samples as taken for the last `sample_retention` raw days, 5-minute
    /// or hourly averages further back. Rates come from counter deltas (a reset counts from zero).
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<(i64, f64)>,
    /// Migrations applied in the range, from Strata's log and every migration tool found in the database.
    pub markers: Vec<Marker>,
}

/// A metric's trend samples.
///
/// Needs the `read_catalog` scope. Samples are taken by `strata serve` every `sample_interval`.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/samples", tag = "catalog", operation_id = "samples_index", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)"), SamplesParams),
    responses(
        (status = 200, description = "The points and markers (JSON), or `unix_seconds,value` lines with `format=csv`",
            content((SamplesResponse = "application/json"), (String = "text/csv", example = "unix_seconds,value\n1765000000,12345\n"))),
        (status = 400, description = "An unknown metric, a time that does not parse or `from` after `to` (`bad_request`)", body = ErrorBody),
        KeyRefusals, DbRefusals
    )
)]
pub async fn index(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<SamplesParams>,
) -> Result<Response> {
    caller.require(Scope::ReadCatalog)?;
    let name = params.metric.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| "db_size".into());
    let metric = Metric::parse(&name)
        .ok_or_else(|| Error::BadRequest(format!("metric={name}: use one of {}", Metric::names())))?;
    let to = match params.to.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => samples::parse_time(t)?,
        None => chrono::Utc::now().timestamp(),
    };
    let from = match params.from.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => samples::parse_time(t)?,
        None => to.saturating_sub(DEFAULT_RANGE_S),
    };
    if from > to {
        return Err(Error::BadRequest(format!("from={from} is after to={to}")));
    }
    let csv = params.format.unwrap_or_default() == SamplesFormat::Csv;
    let source = Source {
        home: &state.home,
        set: &state.migrations,
        catalog_timeout: state.config.settings.catalog_timeout,
        retention: state.config.settings.sample_retention,
    };
    let series = trends::series(&source, &db, metric, from, to).await?;
    if csv {
        let mut text = String::from("unix_seconds,value\n");
        for (at, v) in &series.points {
            text.push_str(&format!("{at},{v}\n"));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response());
    }
    Ok(Json(SamplesResponse {
        metric: name,
        unit: series.metric.unit().to_string(),
        points: series.points,
        markers: series.markers,
    })
    .into_response())
}
