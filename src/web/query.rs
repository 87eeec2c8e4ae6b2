//! The query editor: run SQL (read-only for viewers, enforced by the database), see each statement's result, cancel, export.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::current_db::CurrentDb;
use super::extract::{Form, Path, Query};
use super::layout::Layout;
use super::plan::PlanView;
use super::session::{CurrentUser, FlashKind, flash, store_error};
use crate::db::introspect::Names;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::history::{self, RunStatus};
use crate::home::recorder::Recording;
use crate::query::{Cell, Outcome, RunOptions, StatementResult};
use crate::state::AppState;
use crate::watch::Watched;
use crate::watch::catalog;
use crate::watch::runs::{export_recorded, line_and_column, run_recorded, status_of, usable};

#[derive(Debug, Default, Deserialize)]
pub struct EditorParams {
    /// Text to open the editor with ("open in editor" from the history).
    sql: Option<String>,
}

/// `GET /query`.
pub async fn editor(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(params): Query<EditorParams>,
) -> Result<EditorPage> {
    user.require(Role::Viewer)?;
    page(&user, &db, &state, params.sql.unwrap_or_default(), Vec::new(), None, None).await
}

#[derive(Debug, Deserialize)]
pub struct RunForm {
    /// The editor's whole text.
    sql: String,
    /// The id the page reserved for this run, so that its Cancel button can name it.
    run_id: Option<i64>,
    /// Run only part of the text: where the selection starts and ends, in characters of the text with
    /// its line breaks as `\n` (the editor's script sends these; a plain form runs everything).
    selection_start: Option<usize>,
    selection_end: Option<usize>,
}

/// `POST /query`: runs every statement of the text, records each in `query_history`, shows the results.
pub async fn run(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<RunForm>,
) -> Result<EditorPage> {
    user.require(Role::Viewer)?;
    // Browsers send a textarea's line breaks as CRLF; the editor (and its selection offsets) count `\n`.
    // (No copy of a text without them: a run's memory is a few times its text, see `usable`.)
    let whole = if form.sql.contains('\r') { form.sql.replace("\r\n", "\n") } else { form.sql };
    let (start, sql) = match (form.selection_start, form.selection_end) {
        (Some(from), Some(to)) => selection(&whole, from, to)?,
        _ => (0, whole.as_str()),
    };
    usable(sql, &state.config.settings)?;
    let opts = options(&user, &db, &state);
    let id = form.run_id.filter(|id| *id > 0).unwrap_or_else(|| db.engine.new_run_id());
    let (statements, recording) =
        run_recorded(&state.history, &db, id, sql, &opts, |q, s| user.history_run(q, s)).await?;
    warn_later(&user, recording);
    let blocks = statements.iter().map(|s| Block::of(s, &whole, start)).collect();
    page(&user, &db, &state, whole, blocks, None, None).await
}

/// A run's history rows are written beside its answer: when they cannot be, the user's next page says so.
fn warn_later(user: &CurrentUser, recording: Recording) {
    let session = user.session().clone();
    tokio::spawn(async move {
        let Some(warning) = recording.warning().await else { return };
        let flashed = flash(&session, FlashKind::Error, warning).await;
        if let Err(e) = flashed.and(session.save().await.map_err(store_error)) {
            tracing::warn!(error = %e, "cannot keep the history warning for the next page");
        }
    });
}

/// The first line of an explain's `query_history` text (the statement follows on the next line).
const EXPLAIN_MARK: &str = "-- explain";
const EXPLAIN_ANALYZE_MARK: &str = "-- explain analyze";

/// An explain's history text read back: whether it was analyzed, and the statement explained.
pub(super) fn explained(history_text: &str) -> Option<(bool, &str)> {
    let (first, statement) = history_text.split_once('\n')?;
    match first {
        EXPLAIN_ANALYZE_MARK => Some((true, statement)),
        EXPLAIN_MARK => Some((false, statement)),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub struct ExplainForm {
    sql: String,
    run_id: Option<i64>,
    /// Sent by the "Explain analyze" button (any value): run the statement and measure it.
    analyze: Option<String>,
}

/// `POST /query/explain`: the plan of the one statement in the text as a tree; with `analyze`, the
/// statement runs (in the account's read-only mode for viewers) inside a transaction that is rolled back.
/// Recorded in `query_history` as the statement under an `-- explain` or `-- explain analyze` line.
pub async fn explain(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<ExplainForm>,
) -> Result<EditorPage> {
    user.require(Role::Viewer)?;
    let sql = form.sql;
    usable(&sql, &state.config.settings)?;
    let analyze = form.analyze.is_some();
    let opts = options(&user, &db, &state);
    let id = form.run_id.filter(|id| *id > 0).unwrap_or_else(|| db.engine.new_run_id());
    let explained = match db.engine.explain_as(id, &sql, analyze, &opts).await {
        // Refused before anything ran (not one statement, no ANALYZE on this backend): nothing to record.
        Err(e @ (Error::BadRequest(_) | Error::Unsupported(_))) => return Err(e),
        other => other,
    };
    let head = history::migration_head(&db.db).await;
    let mark = if analyze { EXPLAIN_ANALYZE_MARK } else { EXPLAIN_MARK };
    let (run, explained) = match explained {
        Ok(ex) => {
            let s = &ex.statement;
            let mut run = user
                .history_run(format!("{mark}\n{}", s.sql), status_of(&s.outcome))
                .database(db.name())
                .elapsed(s.duration)
                .head(head);
            if let Outcome::Error { message, .. } = &s.outcome {
                run = run.error(message.clone());
            }
            (run, Ok(ex))
        }
        Err(e) => {
            let run = user.history_run(format!("{mark}\n{sql}"), RunStatus::Error).database(db.name());
            (run.error(e.to_string()).head(head), Err(e))
        }
    };
    let warning = history::record_or_warn(&state.home, vec![run]).await;
    let explained = explained?;
    let s = &explained.statement;
    let blocks = if s.outcome == Outcome::Success { Vec::new() } else { vec![Block::of(s, &sql, 0)] };
    let plan = explained.plan.as_ref().map(|p| PlanView::of(p, &s.sql));
    page(&user, &db, &state, sql, blocks, plan, warning).await
}

/// The selected part of `text` and its byte offset, from character offsets.
fn selection(text: &str, from: usize, to: usize) -> Result<(usize, &str)> {
    let byte = |chars: usize| text.char_indices().map(|(i, _)| i).chain([text.len()]).nth(chars);
    match (byte(from), byte(to)) {
        (Some(a), Some(b)) if a <= b => Ok((a, &text[a..b])),
        _ => Err(Error::BadRequest(format!("the selection {from}..{to} is not inside the text: run it again"))),
    }
}

/// Most columns `GET /query/names` lists: enough for any schema a person types against, small enough
/// to send once per page (about 1 MB at worst).
const MAX_NAMES: u64 = 20_000;

/// `GET /query/names`: the catalog's tables and views with their columns, as JSON for the editor's autocomplete.
pub async fn names(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<Json<Names>> {
    user.require(Role::Viewer)?;
    let limit = state.config.settings.catalog_timeout;
    match catalog::read(limit, db.introspector.names(MAX_NAMES)).await? {
        Some(names) => Ok(Json(names)),
        None => Err(Error::Unavailable(catalog::timeout_note(limit))),
    }
}

/// `POST /query/{id}/cancel`: stops a run of one's own (admins: any run).
pub async fn cancel(user: CurrentUser, db: CurrentDb, Path((_, id)): Path<(String, i64)>) -> Result<Response> {
    user.require(Role::Viewer)?;
    match db.engine.owner(id) {
        Some(o) if o == user.username || user.can(Role::Admin) => {}
        Some(_) => return Err(Error::Forbidden),
        None => return Err(Error::NotFound(format!("running query {id}"))),
    }
    let stopped = db.engine.cancel(id).await;
    Ok(if stopped { "cancelled" } else { "it had already finished" }.into_response())
}

#[derive(Debug, Deserialize)]
pub struct ExportForm {
    sql: String,
    /// `csv`, `json` or `ndjson`.
    format: String,
}

/// `POST /query/export`: the whole result of one statement, streamed as a file.
pub async fn export(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<ExportForm>,
) -> Result<Response> {
    user.require(Role::Viewer)?;
    let format = form.format.parse()?;
    export_recorded(
        &state.history,
        &state.config.settings,
        &db,
        &form.sql,
        format,
        &options(&user, &db, &state),
        |q, s| user.history_run(q, s),
    )
    .await
}

/// Whether this account's runs are read-only: viewers always, everyone when `read_only_for_all` is set.
/// Whether this account's runs on `db` are read-only: viewers always, everyone when `read_only_for_all` is set or
/// the database is configured `read_only`.
fn read_only(user: &CurrentUser, db: &Watched, state: &AppState) -> bool {
    !user.can(Role::Editor) || state.config.settings.read_only_for_all || db.spec.read_only
}

fn options(user: &CurrentUser, db: &Watched, state: &AppState) -> RunOptions {
    RunOptions {
        read_only: read_only(user, db, state),
        timeout: state.config.settings.query_timeout,
        max_rows: state.config.settings.max_rows,
        user: user.username.clone(),
    }
}

async fn page(
    user: &CurrentUser,
    db: &Watched,
    state: &AppState,
    sql: String,
    blocks: Vec<Block>,
    plan: Option<PlanView>,
    warning: Option<String>,
) -> Result<EditorPage> {
    let run_id = db.engine.new_run_id();
    Ok(EditorPage {
        layout: Layout::for_db(user, state, db, "query").await?,
        sql,
        blocks,
        plan,
        warning,
        run_id,
        read_only: read_only(user, db, state),
        for_all: state.config.settings.read_only_for_all,
        max_rows: state.config.settings.max_rows,
        timeout: crate::web::fmt::duration_ms(&Some(state.config.settings.query_timeout.as_millis() as i64)),
    })
}

/// One statement's result as the page shows it.
pub struct Block {
    pub sql: String,
    /// `success`, `error`, `cancelled` or `timeout`.
    pub status: &'static str,
    pub message: Option<String>,
    /// Line and column of an error in the whole text, when the database said where.
    pub position: Option<(usize, usize)>,
    /// The line the error is on, and a caret under its column (the editor's script marks the spot instead).
    pub caret: Option<(String, String)>,
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Shown>>,
    pub more_rows: bool,
    pub rows_affected: Option<u64>,
    pub duration: String,
}

/// A cell as text plus how to style it.
pub struct Shown {
    pub text: String,
    /// `null`, `json`, `binary`, `number`, `bool` or `text`.
    pub kind: &'static str,
    /// Longer than the grid shows: the full value is in a `<details>`.
    pub long: bool,
}

/// Characters of a value the grid shows before folding it.
const FOLD_AT: usize = 200;

impl Block {
    /// `s` ran as part of `whole` starting at byte `start` (a selection), so its error offsets move by `start`.
    fn of(s: &StatementResult, whole: &str, start: usize) -> Block {
        let at = match &s.outcome {
            Outcome::Error { position: Some(p), .. } => Some(start + p),
            _ => None,
        };
        let (status, message, position) = match &s.outcome {
            Outcome::Success => ("success", None, None),
            Outcome::Error { message, .. } => ("error", Some(message.clone()), at.map(|p| line_and_column(whole, p))),
            Outcome::Cancelled => ("cancelled", Some("Cancelled.".to_string()), None),
            Outcome::Timeout => ("timeout", Some("Stopped: it ran longer than the statement timeout.".into()), None),
        };
        Block {
            sql: s.sql.clone(),
            status,
            message,
            position,
            caret: at.map(|p| caret(whole, p)),
            columns: s.columns.iter().map(|c| (c.name.clone(), c.type_name.clone())).collect(),
            rows: s.rows.iter().map(|r| r.iter().map(shown).collect()).collect(),
            more_rows: s.more_rows,
            rows_affected: s.rows_affected,
            duration: crate::web::fmt::duration_ms(&Some(s.duration.as_millis() as i64)),
        }
    }
}

fn shown(c: &Cell) -> Shown {
    let (text, kind) = match c {
        Cell::Null => ("NULL".to_string(), "null"),
        Cell::Text(t) => (t.clone(), "text"),
        Cell::Json(j) => (j.clone(), "json"),
        Cell::Binary(b) => (Cell::hex(b), "binary"),
        Cell::Number(n) => (n.clone(), "number"),
        Cell::Bool(b) => (b.to_string(), "bool"),
    };
    let long = text.chars().count() > FOLD_AT || (kind == "json" && text.contains('\n'));
    Shown { text, kind, long }
}

impl Shown {
    /// The first characters, for a folded value.
    pub fn preview(&self) -> String {
        let first_line = self.text.lines().next().unwrap_or("");
        let cut: String = first_line.chars().take(FOLD_AT).collect();
        format!("{cut}…")
    }
}

/// The line holding byte `offset`, and a line that puts `^` under it (tabs kept, so it lines up).
fn caret(text: &str, offset: usize) -> (String, String) {
    let offset = offset.min(text.len());
    let offset = (0..=offset).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim_end_matches('\r');
    let mut under: String = text[line_start..offset].chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    under.push('^');
    (line.to_string(), under)
}

#[derive(Template, WebTemplate)]
#[template(path = "query/index.html")]
pub struct EditorPage {
    pub layout: Layout,
    pub sql: String,
    pub blocks: Vec<Block>,
    /// The plan, after Explain or Explain analyze.
    pub plan: Option<PlanView>,
    pub warning: Option<String>,
    pub run_id: i64,
    pub read_only: bool,
    /// Read-only because the administrator set it for every account.
    pub for_all: bool,
    pub max_rows: usize,
    pub timeout: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_offsets_become_lines_and_columns() {
        let text = "SELECT 1;\nSELEC ü 2;";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 10), (2, 1));
        assert_eq!(line_and_column(text, 16), (2, 7), "columns count characters, not bytes");
    }

    #[test]
    fn an_explain_is_told_from_its_history_text() {
        assert_eq!(explained("-- explain analyze\nDELETE FROM t"), Some((true, "DELETE FROM t")));
        assert_eq!(explained("-- explain\nSELECT 1;\nx"), Some((false, "SELECT 1;\nx")));
        assert_eq!(explained("-- explained why\nDELETE FROM t"), None);
        assert_eq!(explained("-- export csv\nSELECT 1"), None);
    }

    #[test]
    fn the_caret_points_at_the_column_of_its_line() {
        let text = "SELECT 1;\n\tSELEC ü 2;\nSELECT 3";
        let at = text.find('ü').unwrap();
        assert_eq!(caret(text, at), ("\tSELEC ü 2;".to_string(), "\t      ^".to_string()));
        assert_eq!(caret(text, 0), ("SELECT 1;".to_string(), "^".to_string()));
        assert_eq!(caret(text, text.len()).1, "        ^", "an error at the very end points past the last character");
    }

    #[test]
    fn a_selection_is_cut_out_by_characters() {
        let text = "SELECT 'ü';\nSELECT 2";
        assert_eq!(selection(text, 12, 20).unwrap(), (13, "SELECT 2"), "ü is one character and two bytes");
        assert_eq!(selection(text, 0, 0).unwrap(), (0, ""));
        assert!(selection(text, 5, 21).is_err(), "past the end");
        assert!(selection(text, 6, 5).is_err(), "backwards");
    }

    #[test]
    fn null_and_empty_text_look_different() {
        let (null, empty) = (shown(&Cell::Null), shown(&Cell::Text(String::new())));
        assert_eq!((null.kind, empty.kind), ("null", "text"));
        assert_ne!(null.text, empty.text);
        assert!(shown(&Cell::Text("x".repeat(500))).long);
    }
}
