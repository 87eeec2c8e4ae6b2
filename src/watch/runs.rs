//! The query editor's runs, recorded in the home database's `query_history`: each statement of a run on a
//! watched database, the run a closed page left behind (as cancelled), and streamed exports (when they end). The
//! page (`web::query`) and the API (`api::query`) both run SQL through here.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures::StreamExt;
use serde::Deserialize;

use super::Watched;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::home::history::{self, RunStatus};
use crate::home::recorder::{Recorder, Recording};
use crate::query::{ExportFormat, Outcome, RunOptions, StatementResult};

/// Runs `sql` as run `id` and records each statement in `query_history` (a run that never reached its
/// statements as one failed row); `who` makes a history row for the account, or API key, and its client.
/// A request dropped mid-run (a closed page, a client that hung up) is recorded as cancelled. Returns the
/// statements as soon as they ran: their history rows are written beside the answer (see [`Recorder`]), and the
/// returned [`Recording`] says, once that is over, whether they could not be.
pub async fn run_recorded(
    recorder: &Recorder,
    db: &Watched,
    id: i64,
    sql: &str,
    opts: &RunOptions,
    who: impl Fn(String, RunStatus) -> history::NewRun,
) -> Result<(Vec<StatementResult>, Recording)> {
    let who = |q: String, s: RunStatus| who(q, s).database(db.name());
    // The history keeps the first MAX_QUERY_CHARS of a text: copy no more than that.
    let closed = who(history::truncated(sql), RunStatus::Cancelled).error("the client went away during the run");
    let mut pending = Unrecorded { recorder: recorder.clone(), started: std::time::Instant::now(), run: Some(closed) };
    // The migration head the run is recorded with is read beside the run, not after it (one round trip less).
    let (outcome, head) = tokio::join!(db.engine.run_as(id, sql, opts), history::migration_head(&db.db));
    let batch = history::new_batch_id();
    // The next run's session is opened once this run is recorded (after the answer), not while it is.
    let (statements, failure, next) = match outcome {
        Ok(run) => (run.statements, None, Some(run.next)),
        Err(e) => (Vec::new(), Some(e), None),
    };
    let mut runs: Vec<history::NewRun> = statements
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let rows = s.rows_affected.map(|n| n as i64).or(Some(s.rows.len() as i64));
            let mut run = who(history::truncated(&s.sql), status_of(&s.outcome))
                .batch(batch.clone(), i)
                .elapsed(s.duration)
                .rows(rows)
                .head(head.clone());
            if let Outcome::Error { message, .. } = &s.outcome {
                run = run.error(message.clone());
            }
            run
        })
        .collect();
    if let Some(e) = &failure {
        // The run never reached its statements (no connection, say): still one history row.
        runs.push(
            who(history::truncated(sql), RunStatus::Error).batch(batch.clone(), 0).error(e.to_string()).head(head),
        );
    }
    // Handed to a task of its own: from here the rows are written whatever happens to this request.
    let recording = recorder.record_holding(runs, next);
    pending.run = None;
    match failure {
        Some(e) => Err(e),
        None => Ok((statements, recording)),
    }
}

/// Refuses an empty text or one longer than `max_sql_bytes` (413). Within it, a run's memory is bounded by
/// a small multiple of its text plus its result rows (README: "Query editor").
pub fn usable(sql: &str, settings: &Settings) -> Result<()> {
    if sql.trim().is_empty() {
        return Err(Error::BadRequest("there is no SQL to run: type a statement first".into()));
    }
    too_long(sql, settings)
}

/// Refuses a text longer than the `max_sql_bytes` setting, naming the limit and the setting.
pub fn too_long(sql: &str, settings: &Settings) -> Result<()> {
    let max = settings.max_sql_bytes;
    if sql.len() > max {
        return Err(Error::TooLarge(format!(
            "the SQL text is {} bytes, longer than the {max} bytes a run accepts (setting max_sql_bytes, \
             env STRATA_MAX_SQL_BYTES)",
            sql.len()
        )));
    }
    Ok(())
}

/// A run not yet in the history. A page closed mid-run drops the request's future: the engine then cancels the
/// run, and this records it as cancelled (the statements' own results never arrive).
struct Unrecorded {
    recorder: Recorder,
    started: std::time::Instant,
    run: Option<history::NewRun>,
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        if let (Some(run), Ok(_)) = (self.run.take(), tokio::runtime::Handle::try_current()) {
            drop(self.recorder.record(vec![run.elapsed(self.started.elapsed())]));
        }
    }
}

/// What an export writes: `csv`, `json` or `ndjson`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportAs {
    /// Comma-separated with a header line, quoted like PostgreSQL's `COPY ... CSV`.
    Csv,
    /// One array of objects keyed by column name.
    Json,
    /// One object per line.
    Ndjson,
}

impl std::str::FromStr for ExportAs {
    type Err = Error;

    fn from_str(s: &str) -> Result<ExportAs> {
        match s {
            "csv" => Ok(ExportAs::Csv),
            "json" => Ok(ExportAs::Json),
            "ndjson" => Ok(ExportAs::Ndjson),
            other => Err(Error::BadRequest(format!("format={other:?}: use csv, json or ndjson"))),
        }
    }
}

impl ExportAs {
    /// The engine's format, the file extension and the media type.
    pub fn parts(self) -> (ExportFormat, &'static str, &'static str) {
        match self {
            ExportAs::Csv => (ExportFormat::Csv { header: true }, "csv", "text/csv; charset=utf-8"),
            ExportAs::Json => (ExportFormat::Json, "json", "application/json"),
            ExportAs::Ndjson => (ExportFormat::Ndjson, "ndjson", "application/x-ndjson"),
        }
    }
}

/// Streams the whole result of the one statement in `sql` as a download named after the database and the
/// time, and records it in `query_history` (through `who`) when the stream ends, with how it ended. A
/// statement that fails at once is an error answer, not a download that breaks off.
pub async fn export_recorded(
    recorder: &Recorder,
    settings: &Settings,
    db: &Watched,
    sql: &str,
    format: ExportAs,
    opts: &RunOptions,
    who: impl Fn(String, RunStatus) -> history::NewRun,
) -> Result<Response> {
    let (format, ext, mime) = format.parts();
    if sql.trim().is_empty() {
        return Err(Error::BadRequest("there is no SQL to export".into()));
    }
    too_long(sql, settings)?;
    let who = |q: String, s: RunStatus| who(q, s).database(db.name());
    let mut opts = opts.clone();
    // An export reads everything: the statement limit is the server's safety net, not the page's.
    opts.timeout = opts.timeout.max(std::time::Duration::from_secs(3600));
    let (stream, ended) = db.engine.export(sql, format, &opts);
    // The history row is written when the stream ends, with how it ended (a failure or a reader that
    // went away is recorded as such, not as a success).
    let run = who(format!("-- export {ext}\n{sql}"), RunStatus::Success);
    let run = run.head(history::migration_head(&db.db).await);
    let recorder = recorder.clone();
    tokio::spawn(async move {
        let Ok(end) = ended.await else { return };
        let mut run = run.elapsed(end.duration).rows(end.rows.map(|n| n as i64));
        run.status = status_of(&end.outcome);
        if let Outcome::Error { message, .. } = &end.outcome {
            run = run.error(message.clone());
        }
        drop(recorder.record(vec![run]));
    });
    // Wait for the first chunk before answering: a statement that fails at once (a typo, a refused
    // write) gets an error answer rather than a download that breaks off.
    // Fused: an empty result ends before the first chunk, and the body polls the stream again after it.
    let mut stream = Box::pin(stream.fuse());
    let first = match stream.next().await {
        Some(Err(e)) => return Err(e),
        Some(Ok(chunk)) => Some(Ok(chunk)),
        None => None,
    };
    let body = futures::stream::iter(first).chain(stream);
    let name = format!("{}-{}.{ext}", file_stem(db), Utc::now().format("%Y%m%dT%H%M%SZ"));
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The database name, safe for a file name.
fn file_stem(db: &Watched) -> String {
    let name = db.url().database_name().unwrap_or_else(|| "strata".into());
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if clean.is_empty() { "strata".into() } else { clean }
}

pub fn status_of(outcome: &Outcome) -> RunStatus {
    match outcome {
        Outcome::Success => RunStatus::Success,
        Outcome::Error { .. } => RunStatus::Error,
        Outcome::Cancelled => RunStatus::Cancelled,
        Outcome::Timeout => RunStatus::Timeout,
    }
}

/// 1-based line and column of a byte offset.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}
