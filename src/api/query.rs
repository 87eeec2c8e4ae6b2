//! `POST /api/v1/databases/{name}/query` (run SQL, one result per statement) and `POST /api/v1/export` (stream one result), as the editor does.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::api_keys::Scope;
use crate::query::export::cell_json;
use crate::query::{Outcome, RunOptions, StatementResult};
use crate::state::AppState;
use crate::watch::runs::{ExportAs, export_recorded, line_and_column, run_recorded, too_long};
use crate::web::current_db::CurrentDb;
use crate::web::extract::Json as Body;

/// What to run.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QueryRequest {
    /// One or more statements, separated by `;`: at most 1,000,000 bytes, not only white space.
    #[schema(
        min_length = 1,
        max_length = 1000000,
        pattern = "\\S",
        example = "SELECT 1 AS one; SELECT NULL AS nothing"
    )]
    pub sql: String,
    /// The most rows returned per statement: from 1 up to the server's `max_rows` setting, which is
    /// also the default. A statement with more rows answers the first ones with `truncated: true`.
    /// (`/api/openapi.json` gives the setting as `maximum`.)
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "whole_number")]
    pub max_rows: Option<u64>,
}

/// A whole number as JSON Schema means it: `601` and `601.0` alike (an integer-valued float is an integer there).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    use serde::de::Error as _;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(f)) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => Ok(Some(f as u64)),
            _ => Err(D::Error::custom(format!("max_rows: {n} is not a whole number from 1 up"))),
        },
    }
}

/// One entry per statement that ran, in order. A run stops at the first statement that fails, times out or
/// is cancelled: that one is the last entry, with its `error`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueryResponse {
    pub results: Vec<StatementResponse>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatementResponse {
    /// The statement as it ran.
    pub sql: String,
    pub status: StatementStatus,
    /// The result's columns; empty for a statement without a result set.
    pub columns: Vec<ColumnResponse>,
    /// The rows, each an array in column order. NULL is `null`, JSON values are JSON, bytes are `\x` hex
    /// text, and a number is a JSON number only when JSON keeps its digits exactly (else its exact text).
    pub rows: Vec<Vec<Value>>,
    /// Rows changed, for a statement without a result set.
    pub rows_affected: Option<u64>,
    /// More rows existed than `max_rows`; they were not fetched.
    pub truncated: bool,
    pub duration_ms: u64,
    /// Why the statement did not succeed; `null` when it did.
    pub error: Option<StatementError>,
}

/// How a statement ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatementStatus {
    Success,
    Error,
    /// It ran longer than the server's `query_timeout` and was stopped.
    Timeout,
    Cancelled,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ColumnResponse {
    pub name: String,
    /// The database's type name as its driver reports it (`INT4`, `NUMERIC`, `VARCHAR`, ...).
    #[serde(rename = "type")]
    pub type_name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatementError {
    pub message: String,
    /// Where in `sql` the database says the error is, when it says.
    pub position: Option<Position>,
}

/// A place in the request's `sql`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Position {
    /// Characters before it, from 0.
    pub offset: u64,
    /// From 1.
    pub line: u64,
    /// From 1, in characters.
    pub column: u64,
}

/// Runs SQL, as the query editor does.
///
/// Needs the `run_sql` or `run_readonly_sql` scope. A key with `run_sql` and the editor or admin role runs
/// read-write; any other key (and every key when `read_only_for_all` is set) runs read-only, which the
/// database enforces. Each statement runs under the server's `query_timeout` and is recorded in the query
/// history as the key's owner and key. A statement that fails is a 200 with its `error`. A read-only run is
/// refused with 409 `viewer_login_required` when the main database login can do more than read and no viewer
/// login exists.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/query", tag = "query", operation_id = "query_run", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)")),
    request_body = QueryRequest,
    responses(
        (status = 200, description = "One result per statement that ran; a failing statement is a result too", body = QueryResponse),
        (status = 400, description = "A body that cannot be used; the message names the field (`bad_request`)", body = ErrorBody),
        (status = 413, description = "`too_large`: the `sql` text is longer than the `max_sql_bytes` setting", body = ErrorBody),
        (status = 409, description = "`viewer_login_required`: a read-only run, and the main database login can do \
         more than read while no viewer login exists", body = ErrorBody),
        KeyRefusals, DbRefusals
    )
)]
pub async fn run(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    body: Result<Body<QueryRequest>, Error>,
) -> Result<Json<QueryResponse>> {
    let mut opts = options(&caller, &db, &state)?;
    let Body(request) = body?;
    sql_field(&request.sql, &state)?;
    let limit = state.config.settings.max_rows;
    if let Some(n) = request.max_rows {
        match usize::try_from(n) {
            Ok(n) if (1..=limit).contains(&n) => opts.max_rows = n,
            _ => return Err(Error::BadRequest(format!("max_rows={n}: use 1 to {limit} (the max_rows setting)"))),
        }
    }
    let id = db.engine.new_run_id();
    // The history rows are written beside the answer; a failure is logged there.
    let (statements, _recording) =
        run_recorded(&state.history, &db, id, &request.sql, &opts, |q, s| caller.history_run(q, s)).await?;
    let results = statements.iter().map(|s| statement(s, &request.sql, &opts)).collect();
    Ok(Json(QueryResponse { results }))
}

/// What to export.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExportRequest {
    /// Exactly one statement: at most 1,000,000 bytes, not only white space.
    #[schema(min_length = 1, max_length = 1000000, pattern = "\\S", example = "SELECT * FROM users")]
    pub sql: String,
    pub format: ExportAs,
}

/// Streams the whole result of one statement as CSV, JSON or NDJSON.
///
/// Needs the `run_sql` or `run_readonly_sql` scope, with the same read-only rules as `POST /api/v1/query`;
/// there is no row limit. The file is named after the database and the time (`Content-Disposition`), and
/// the export is recorded in the query history when the stream ends. A statement that fails at once is a
/// 400 JSON error, not a download that breaks off.
#[utoipa::path(
    post, path = "/api/v1/databases/{name}/export", tag = "query", operation_id = "query_export", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)")),
    request_body = ExportRequest,
    responses(
        (status = 200, description = "The whole result, in the format asked for",
         headers(("Content-Disposition" = String, description = "attachment; filename=\"<db>-<UTC time>.<format>\"")),
         content(
            (String = "text/csv", example = "id,name\n1,alice\n"),
            (Vec<Value> = "application/json", example = json!([{"id": 1, "name": "alice"}])),
            (String = "application/x-ndjson", example = "{\"id\":1,\"name\":\"alice\"}\n")
         )),
        (status = 400, description = "A body that cannot be used (the message names the field), more than one statement, \
                                        or a statement the database refuses before its first row (`bad_request`)", body = ErrorBody),
        (status = 413, description = "`too_large`: the `sql` text is longer than the `max_sql_bytes` setting", body = ErrorBody),
        (status = 409, description = "`viewer_login_required`: a read-only run, and the main database login can do \
         more than read while no viewer login exists", body = ErrorBody),
        KeyRefusals, DbRefusals
    )
)]
pub async fn export(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    body: Result<Body<ExportRequest>, Error>,
) -> Result<Response> {
    let opts = options(&caller, &db, &state)?;
    let Body(request) = body?;
    sql_field(&request.sql, &state)?;
    export_recorded(&state.history, &state.config.settings, &db, &request.sql, request.format, &opts, |q, s| {
        caller.history_run(q, s)
    })
    .await
}

/// The run's options for this key: 403 without a run scope; read-write only for `run_sql` with the editor
/// role or above, and never when `read_only_for_all` is set.
fn options(caller: &Caller, db: &CurrentDb, state: &AppState) -> Result<RunOptions> {
    let settings = &state.config.settings;
    let writes = caller.has(Scope::RunSql)
        && caller.key.role >= Role::Editor
        && !settings.read_only_for_all
        && !db.spec.read_only;
    if !caller.has(Scope::RunSql) && !caller.has(Scope::RunReadonlySql) {
        return Err(Error::MissingScope(format!("{} (or {})", Scope::RunReadonlySql.as_str(), Scope::RunSql.as_str())));
    }
    Ok(RunOptions {
        read_only: !writes,
        timeout: settings.query_timeout,
        max_rows: settings.max_rows,
        user: caller.history_user(),
    })
}

/// 400 naming `sql` when there is nothing to run, 413 when it is longer than `max_sql_bytes`.
fn sql_field(sql: &str, state: &AppState) -> Result<()> {
    if sql.trim().is_empty() {
        return Err(Error::BadRequest("sql: there is no SQL to run".into()));
    }
    too_long(sql, &state.config.settings).map_err(|e| Error::TooLarge(format!("sql: {e}")))
}

fn statement(s: &StatementResult, text: &str, opts: &RunOptions) -> StatementResponse {
    let (status, error) = match &s.outcome {
        Outcome::Success => (StatementStatus::Success, None),
        Outcome::Error { message, position } => {
            let position = position.map(|at| {
                let (line, column) = line_and_column(text, at);
                let offset = text.get(..at).unwrap_or(text).chars().count();
                Position { offset: offset as u64, line: line as u64, column: column as u64 }
            });
            (StatementStatus::Error, Some(StatementError { message: message.clone(), position }))
        }
        Outcome::Timeout => {
            let message = format!("stopped: it ran longer than the query_timeout of {} s", opts.timeout.as_secs_f64());
            (StatementStatus::Timeout, Some(StatementError { message, position: None }))
        }
        Outcome::Cancelled => {
            (StatementStatus::Cancelled, Some(StatementError { message: "cancelled".into(), position: None }))
        }
    };
    StatementResponse {
        sql: s.sql.clone(),
        status,
        columns: s
            .columns
            .iter()
            .map(|c| ColumnResponse { name: c.name.clone(), type_name: c.type_name.clone() })
            .collect(),
        rows: s.rows.iter().map(|r| r.iter().map(cell_json).collect()).collect(),
        rows_affected: s.rows_affected,
        truncated: s.more_rows,
        duration_ms: u64::try_from(s.duration.as_millis()).unwrap_or(u64::MAX),
        error,
    }
}
