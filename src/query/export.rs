//! Streaming one statement's whole result as CSV, JSON or NDJSON with bounded memory.
//!
//! A task runs the statement on its own connection (same read-only rules as [`Engine::run`]) and sends
//! ~64 KiB chunks through a channel of 4: a slow client slows the fetch, a client that goes away stops it.
//! CSV follows PostgreSQL's `COPY ... (FORMAT csv)`: NULL is an empty field, an empty string is `""`,
//! a field is quoted when it contains the delimiter, a quote, CR or LF (or is exactly `\.`).

use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::session::{Item, Session};
use super::{Cell, Column, Engine, Outcome, RunOptions, split};
use crate::error::{Error, Result};

const CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated like PostgreSQL's COPY CSV; `header` adds the column names first.
    Csv { header: bool },
    /// One JSON array of objects keyed by column name.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// A value as text the way PostgreSQL prints it (for CSV).
fn cell_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Text(s) | Cell::Number(s) => Some(s.clone()),
        Cell::Json(s) => {
            Some(serde_json::from_str::<serde_json::Value>(s).map_or_else(|_| s.clone(), |v| v.to_string()))
        }
        Cell::Binary(b) => Some(Cell::hex(b)),
        Cell::Bool(b) => Some(if *b { "t" } else { "f" }.to_string()),
    }
}

/// A value as JSON, the same for every JSON answer (exports and the API): NULL is `null`, JSON is JSON,
/// bytes are `\x` hex, and a number stays a JSON number only when its digits survive that exactly.
pub(crate) fn cell_json(cell: &Cell) -> serde_json::Value {
    use serde_json::Value;
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        Cell::Binary(b) => Value::String(Cell::hex(b)),
        // serde_json holds a number as u64, i64 or f64: a NUMERIC beyond those, or `1.10`, would come out
        // changed (rounded, or without its scale), so such a value is sent as its exact text instead.
        Cell::Number(s) => match s.parse::<serde_json::Number>() {
            Ok(n) if n.to_string() == *s => Value::Number(n),
            _ => Value::String(s.clone()),
        },
        Cell::Bool(b) => Value::Bool(*b),
    }
}

pub(crate) fn csv_field(out: &mut String, value: Option<&str>) {
    let Some(v) = value else { return };
    let quote = v.is_empty() || v == "\\." || v.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

fn csv_line(out: &mut String, values: impl Iterator<Item = Option<String>>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, v.as_deref());
    }
    out.push('\n');
}

fn json_object(columns: &[Column], row: &[Cell]) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        columns.iter().zip(row).map(|(c, v)| (c.name.clone(), cell_json(v))).collect();
    serde_json::Value::Object(map).to_string()
}

impl Engine {
    /// Streams all rows of one statement (no row cap) in `format`; the receiver says how it ended
    /// (finished, failed, or cut short because the reader went away) once the stream is done.
    pub fn export(
        &self,
        text: &str,
        format: ExportFormat,
        opts: &RunOptions,
    ) -> (impl Stream<Item = Result<Bytes>> + Send + 'static, oneshot::Receiver<ExportEnd>) {
        let (tx, rx) = mpsc::channel::<Result<Bytes>>(4);
        let (end_tx, end_rx) = oneshot::channel();
        let engine = self.clone();
        let text = text.to_string();
        let opts = opts.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let (outcome, rows) = match engine.export_into(&text, format, &opts, &tx).await {
                Ok(Streamed { rows, complete: true }) => (Outcome::Success, Some(rows)),
                Ok(Streamed { rows, complete: false }) => (Outcome::Cancelled, Some(rows)),
                Err(e) => {
                    let message = e.to_string();
                    tx.send(Err(e)).await.ok();
                    (Outcome::Error { message, position: None }, None)
                }
            };
            end_tx.send(ExportEnd { outcome, rows, duration: started.elapsed() }).ok();
        });
        let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        (body, end_rx)
    }

    async fn export_into(
        &self,
        text: &str,
        format: ExportFormat,
        opts: &RunOptions,
        tx: &mpsc::Sender<Result<Bytes>>,
    ) -> Result<Streamed> {
        let pieces = split::split(text, self.backend());
        let [piece] = pieces.as_slice() else {
            return Err(Error::BadRequest(format!(
                "an export runs exactly one statement; this text has {}",
                pieces.len()
            )));
        };
        let mut guard = self.enter(self.new_run_id(), &opts.user)?;
        let url = self.url_for(opts.read_only).await?;
        let mut session = Session::open(&url, opts.read_only, opts.timeout).await?;
        *guard.control.kill.lock().unwrap_or_else(|p| p.into_inner()) = Some(session.kill.clone());
        let _listed = crate::db::running::register(&opts.user, &piece.sql);
        let failed = |e: sea_orm::sqlx::Error| {
            Error::BadRequest(format!("the export failed: {}", super::sqlite_guard::describe(&e)))
        };
        session.before().await.map_err(failed)?;
        let mut columns: Vec<Column> = Vec::new();
        let mut out = String::with_capacity(CHUNK + 1024);
        let mut rows = 0u64;
        if format == ExportFormat::Json {
            out.push('[');
        }
        let mut gone = false;
        {
            let mut stream = session.stream(&piece.sql, false);
            while let Some(item) = stream.next().await {
                match item.map_err(failed)? {
                    Item::Columns(c) => {
                        columns = c;
                        if format == (ExportFormat::Csv { header: true }) {
                            csv_line(&mut out, columns.iter().map(|c| Some(c.name.clone())));
                        }
                    }
                    Item::Row(r) => {
                        match format {
                            ExportFormat::Csv { .. } => csv_line(&mut out, r.iter().map(cell_text)),
                            ExportFormat::Json => {
                                if rows > 0 {
                                    out.push(',');
                                }
                                out.push_str(&json_object(&columns, &r));
                            }
                            ExportFormat::Ndjson => {
                                out.push_str(&json_object(&columns, &r));
                                out.push('\n');
                            }
                        }
                        rows += 1;
                        if out.len() >= CHUNK && tx.send(Ok(Bytes::from(std::mem::take(&mut out)))).await.is_err() {
                            gone = true;
                            break;
                        }
                    }
                    Item::Done(_) => {}
                }
            }
        }
        if gone {
            // Dropping the guard unfinished cancels the statement on the server.
            return Ok(Streamed { rows, complete: false });
        }
        if columns.is_empty() && format == (ExportFormat::Csv { header: true }) {
            // The columns come with the first row: a result without rows still gets its header line.
            let named = session.columns(&piece.sql).await;
            if !named.is_empty() {
                csv_line(&mut out, named.iter().map(|c| Some(c.name.clone())));
            }
        }
        if format == ExportFormat::Json {
            out.push_str("]\n");
        }
        session.after().await.map_err(failed)?;
        guard.finished = true;
        if !out.is_empty() {
            tx.send(Ok(Bytes::from(out))).await.ok();
        }
        session.close(false).await;
        Ok(Streamed { rows, complete: true })
    }
}

/// What [`Engine::export_into`] sent.
struct Streamed {
    rows: u64,
    /// False when the reader went away before the end.
    complete: bool,
}

/// How an export ended.
#[derive(Clone, Debug)]
pub struct ExportEnd {
    /// `Success`, `Error`, or `Cancelled` when the reader went away.
    pub outcome: Outcome,
    /// Rows streamed (`None` after a failure).
    pub rows: Option<u64>,
    pub duration: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(values: &[Option<&str>]) -> String {
        let mut out = String::new();
        csv_line(&mut out, values.iter().map(|v| v.map(str::to_string)));
        out
    }

    #[test]
    fn csv_quotes_like_postgres_copy() {
        assert_eq!(
            line(&[Some("a"), None, Some(""), Some("x,y"), Some("say \"hi\""), Some("l1\nl2")]),
            "a,,\"\",\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\"\n"
        );
        assert_eq!(line(&[Some("\\."), Some("é")]), "\"\\.\",é\n");
    }

    #[test]
    fn json_values_keep_their_kinds() {
        let cols = vec![
            Column { name: "a".into(), type_name: "INT4".into() },
            Column { name: "b".into(), type_name: "JSONB".into() },
        ];
        let row = vec![Cell::Number("12345678901234567890".into()), Cell::Json("{\n  \"k\": [1]\n}".into())];
        assert_eq!(json_object(&cols, &row), r#"{"a":12345678901234567890,"b":{"k":[1]}}"#);
        assert_eq!(cell_json(&Cell::Number("NaN".into())), serde_json::Value::String("NaN".into()));
        let exact = |s: &str| cell_json(&Cell::Number(s.into()));
        assert_eq!(exact("-42"), serde_json::json!(-42));
        assert_eq!(exact("0.5"), serde_json::json!(0.5));
        assert_eq!(exact("123456789012345678901234567890"), "123456789012345678901234567890", "beyond u64: text");
        assert_eq!(exact("1.10"), "1.10", "the scale is kept");
    }
}
