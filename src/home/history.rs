//! The query history: [`record`] one [`NewRun`] per statement run through the query editor, whatever
//! its outcome; [`search`] them; [`purge_older_than`] the retention period ([`sweep`] does it in the background).
//!
//! A run of several statements records each one with the same batch id and its index in the batch:
//!
//! ```ignore
//! let batch = history::new_batch_id();
//! let head = history::migration_head(&state.db).await;
//! // `CurrentUser::history_run` fills in the username and the client address.
//! let runs = results.iter().enumerate().map(|(i, r)| {
//!     user.history_run(&r.sql, r.status).batch(&batch, i).elapsed(r.took).rows(r.rows).head(head.clone())
//! });
//! // Never fails the query: a failure (or a slow history table) comes back as a warning to show.
//! let warning = history::record_or_warn(&state.db, runs.collect()).await;
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use entity::query_history;
use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, Set, TransactionSession, TransactionTrait,
};

use crate::error::{Error, Result};

/// How long [`record_or_warn`] waits for the history table before giving up with a warning.
pub const RECORD_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest query text kept, in characters (longer text is cut, never refused).
pub const MAX_QUERY_CHARS: usize = 100_000;

/// The escape character of the text search's LIKE pattern (not `\`, which MySQL also reads in string literals).
const LIKE_ESCAPE: char = '!';

/// How a statement ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Success,
    Error,
    Cancelled,
    Timeout,
}

impl RunStatus {
    /// Every status, in the order the filter offers them.
    pub const ALL: [RunStatus; 4] = [RunStatus::Success, RunStatus::Error, RunStatus::Cancelled, RunStatus::Timeout];

    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Error => "error",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Timeout => "timeout",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<RunStatus> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s.trim()).ok_or_else(|| {
            Error::BadRequest(format!("{s:?} is not a status: use success, error, cancelled or timeout"))
        })
    }
}

/// One statement as it ran, built with [`NewRun::new`] and the setters below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    /// Shared by the statements of one run (see [`new_batch_id`]).
    pub batch_id: Option<String>,
    /// The statement's place in its batch, from 0.
    pub statement_index: i32,
    pub query: String,
    pub execution_time_ms: i64,
    /// The account's username or the API key's name.
    pub user: String,
    /// When the statement started.
    pub timestamp: DateTime<Utc>,
    pub status: RunStatus,
    /// Rows returned or affected.
    pub rows: Option<i64>,
    pub error: Option<String>,
    pub migration_head: Option<String>,
    pub client_addr: Option<String>,
    /// The watched database it ran on.
    pub database: Option<String>,
}

impl NewRun {
    /// A statement `user` ran just now, alone, taking no time.
    pub fn new(user: impl Into<String>, query: impl Into<String>, status: RunStatus) -> NewRun {
        NewRun {
            batch_id: None,
            statement_index: 0,
            query: query.into(),
            execution_time_ms: 0,
            user: user.into(),
            timestamp: Utc::now(),
            status,
            rows: None,
            error: None,
            migration_head: None,
            client_addr: None,
            database: None,
        }
    }

    /// The watched database it ran on.
    pub fn database(mut self, name: impl Into<String>) -> NewRun {
        self.database = Some(name.into());
        self
    }

    /// Statement `index` (from 0) of the batch `id`.
    pub fn batch(mut self, id: impl Into<String>, index: usize) -> NewRun {
        self.batch_id = Some(id.into());
        self.statement_index = i32::try_from(index).unwrap_or(i32::MAX);
        self
    }

    /// How long the statement took.
    pub fn elapsed(mut self, took: Duration) -> NewRun {
        self.execution_time_ms = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// When the statement started (by default: when the `NewRun` was made).
    pub fn at(mut self, when: DateTime<Utc>) -> NewRun {
        self.timestamp = when;
        self
    }

    /// Rows returned or affected.
    pub fn rows(mut self, rows: impl Into<Option<i64>>) -> NewRun {
        self.rows = rows.into();
        self
    }

    /// Why it failed.
    pub fn error(mut self, message: impl Into<String>) -> NewRun {
        self.error = Some(message.into());
        self
    }

    /// The migration head when it ran (see [`migration_head`]).
    pub fn head(mut self, revision: Option<String>) -> NewRun {
        self.migration_head = revision;
        self
    }

    /// Where the request came from.
    pub fn client(mut self, addr: impl Into<String>) -> NewRun {
        self.client_addr = Some(addr.into());
        self
    }

    fn into_active_model(self) -> query_history::ActiveModel {
        query_history::ActiveModel {
            batch_id: Set(self.batch_id.as_deref().map(|b| cut(b, 36))),
            statement_index: Set(self.statement_index.max(0)),
            query: Set(cut_owned(self.query, MAX_QUERY_CHARS)),
            execution_time: Set(self.execution_time_ms.max(0)),
            user: Set(cut(&self.user, 64)),
            timestamp: Set(self.timestamp),
            status: Set(self.status.as_str().to_string()),
            row_count: Set(self.rows),
            error: Set(self.error.as_deref().map(|e| cut(e, 8000))),
            migration_head: Set(self.migration_head.as_deref().map(|h| cut(h, 255))),
            client_addr: Set(self.client_addr.as_deref().map(|a| cut(a, 64))),
            database_name: Set(self.database.as_deref().map(|d| cut(d, 63))),
            ..Default::default()
        }
    }
}

/// The `user` of a run made through an API key: the owner, then which key, `alice (key strata_3f9a0c1d2e4b)`.
pub fn key_user(owner: &str, prefix: &str) -> String {
    format!("{owner} (key strata_{prefix})")
}

/// A fresh id for the statements of one run.
pub fn new_batch_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The revision in `alembic_version` now, or `None` at base or when it cannot be read (logged).
pub async fn migration_head(db: &DatabaseConnection) -> Option<String> {
    match crate::migrate::current(db).await {
        Ok(head) => head,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the migration head for the query history");
            None
        }
    }
}

/// Writes one statement; returns its id.
pub async fn record(db: &impl ConnectionTrait, run: NewRun) -> Result<i64> {
    let row = run.into_active_model().insert(db).await?;
    Ok(row.id)
}

/// The most values one statement may bind: SQLite's default `SQLITE_MAX_VARIABLE_NUMBER` (32,766), the
/// 16-bit parameter count of the PostgreSQL and MySQL wire protocols (65,535).
fn bind_limit(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 32_766,
        _ => 65_535,
    }
}

/// The most query text one INSERT carries, so that a batch of long statements stays well under MySQL's
/// `max_allowed_packet` (16 MB by default in MariaDB, 64 MB in MySQL 8) and one batch's copy in the
/// driver's buffer stays small.
const CHUNK_TEXT_BYTES: usize = 4 * 1024 * 1024;

/// How many rows one INSERT of `query_history` may carry on `backend` (bind limit over the columns).
pub fn rows_per_insert(backend: DbBackend) -> usize {
    use sea_orm::Iterable;
    bind_limit(backend) / query_history::Column::iter().count()
}

/// Writes the statements of a run in one transaction, as few INSERTs as the bind limit allows (a run of
/// 10,000 statements is two on PostgreSQL); returns how many were written.
pub async fn record_many<C: ConnectionTrait + TransactionTrait>(db: &C, runs: Vec<NewRun>) -> Result<u64> {
    if runs.is_empty() {
        return Ok(0);
    }
    let per_insert = rows_per_insert(db.get_database_backend());
    // One INSERT is atomic on its own: no BEGIN and COMMIT round trips around it (most runs are one statement).
    if runs.len() <= per_insert && runs.iter().map(|r| r.query.len()).sum::<usize>() <= CHUNK_TEXT_BYTES {
        let rows: Vec<_> = runs.into_iter().map(NewRun::into_active_model).collect();
        return Ok(query_history::Entity::insert_many(rows).exec_without_returning(db).await?);
    }
    let txn = db.begin().await?;
    let mut written = 0;
    let mut runs = runs.into_iter().peekable();
    while runs.peek().is_some() {
        // Rows are made one chunk at a time, moving each text rather than copying it.
        let mut bytes = 0;
        let mut chunk = Vec::with_capacity(per_insert.min(runs.len()));
        while let Some(run) = runs
            .next_if(|r| chunk.is_empty() || (chunk.len() < per_insert && bytes + r.query.len() <= CHUNK_TEXT_BYTES))
        {
            bytes += run.query.len();
            chunk.push(run.into_active_model());
        }
        written += query_history::Entity::insert_many(chunk).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;
    Ok(written)
}

/// Writes the statements of a run without ever failing the run: an error, or a history table that
/// does not answer within [`RECORD_TIMEOUT`] per INSERT it needs, is logged and returned as a warning to show the user.
pub async fn record_or_warn<C: ConnectionTrait + TransactionTrait>(db: &C, runs: Vec<NewRun>) -> Option<String> {
    let n = runs.len();
    let inserts = n.div_ceil(rows_per_insert(db.get_database_backend())).max(1) as u32;
    let failure = match tokio::time::timeout(RECORD_TIMEOUT * inserts, record_many(db, runs)).await {
        Ok(Ok(_)) => return None,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("the history table did not answer within {} s", RECORD_TIMEOUT.as_secs()),
    };
    tracing::warn!(statements = n, "recording the query history failed: {failure}");
    Some(format!("The query ran, but it could not be saved in the history: {failure}"))
}

/// Filters for [`search`]; empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exact username: that account's runs, from the editor and from its API keys (see [`key_user`]).
    pub user: Option<String>,
    pub status: Option<RunStatus>,
    /// From the start of this day (UTC).
    pub from: Option<NaiveDate>,
    /// To the end of this day (UTC).
    pub to: Option<NaiveDate>,
    /// Text the query contains, case-insensitively; `%` and `_` are literal.
    pub text: Option<String>,
    /// Only runs on this watched database.
    pub database: Option<String>,
}

/// One page of runs, newest first.
#[derive(Clone, Debug)]
pub struct Page {
    pub runs: Vec<query_history::Model>,
    /// Counting from 1.
    pub page: u64,
    pub pages: u64,
    pub total: u64,
}

/// Runs matching `filter`, newest first (then by id, newest first), `per_page` at a time; `page` counts from 1.
pub async fn search(db: &impl ConnectionTrait, filter: &Filter, page: u64, per_page: u64) -> Result<Page> {
    let query = filtered(filter)?;
    let total = query.clone().count(db).await?;
    let per_page = per_page.max(1);
    let pages = total.div_ceil(per_page).max(1);
    let page = page.clamp(1, pages);
    let runs = newest_first(query).offset((page - 1) * per_page).limit(per_page).all(db).await?;
    Ok(Page { runs, page, pages, total })
}

/// Every run matching `filter`, newest first.
pub async fn all(db: &impl ConnectionTrait, filter: &Filter) -> Result<Vec<query_history::Model>> {
    Ok(newest_first(filtered(filter)?).all(db).await?)
}

/// How many runs match `filter`.
pub async fn count(db: &impl ConnectionTrait, filter: &Filter) -> Result<u64> {
    Ok(filtered(filter)?.count(db).await?)
}

/// At most `limit` runs matching `filter` whose id is above `after`, in id order (oldest first): a
/// whole export a chunk at a time (`after` = the last id of the previous chunk, 0 at first).
pub async fn chunk_after(
    db: &impl ConnectionTrait,
    filter: &Filter,
    after: i64,
    limit: u64,
) -> Result<Vec<query_history::Model>> {
    Ok(filtered(filter)?
        .filter(query_history::Column::Id.gt(after))
        .order_by_asc(query_history::Column::Id)
        .limit(limit.max(1))
        .all(db)
        .await?)
}

/// The users that appear in the history, for the filter's suggestions.
pub async fn users(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    let mut names: Vec<String> = query_history::Entity::find()
        .select_only()
        .column(query_history::Column::User)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    names.sort();
    Ok(names)
}

fn filtered(filter: &Filter) -> Result<Select<query_history::Entity>> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(Error::BadRequest(format!("the date range is empty: {from} is after {to}")));
    }
    let mut query = query_history::Entity::find();
    if let Some(user) = &filter.user {
        use sea_orm::sea_query::ExprTrait;
        let by_key = LikeExpr::new(format!("{} (key %", escape_like(user))).escape(LIKE_ESCAPE);
        query = query.filter(
            sea_orm::Condition::any()
                .add(query_history::Column::User.eq(user.as_str()))
                .add(Expr::col(query_history::Column::User).like(by_key)),
        );
    }
    if let Some(database) = &filter.database {
        query = query.filter(query_history::Column::DatabaseName.eq(database.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(query_history::Column::Status.eq(status.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(query_history::Column::Timestamp.gte(start_of(from)));
    }
    if let Some(to) = filter.to.and_then(|d| d.succ_opt()) {
        query = query.filter(query_history::Column::Timestamp.lt(start_of(to)));
    }
    if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
        use sea_orm::sea_query::ExprTrait;
        // LOWER on both sides: PostgreSQL's LIKE is case-sensitive, MySQL's depends on the collation.
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        query = query.filter(
            Expr::from(Func::lower(Expr::col(query_history::Column::Query)))
                .like(LikeExpr::new(pattern).escape(LIKE_ESCAPE)),
        );
    }
    Ok(query)
}

fn newest_first(query: Select<query_history::Entity>) -> Select<query_history::Entity> {
    query.order_by_desc(query_history::Column::Timestamp).order_by_desc(query_history::Column::Id)
}

/// `text` with the LIKE wildcards and the escape character itself taken literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_') || c == LIKE_ESCAPE {
            out.push(LIKE_ESCAPE);
        }
        out.push(c);
    }
    out
}

/// Deletes the runs older than `age`; returns how many went.
pub async fn purge_older_than(db: &impl ConnectionTrait, age: Duration) -> Result<u64> {
    let age = chrono::Duration::from_std(age).map_err(|_| Error::BadRequest(format!("{age:?} is too long")))?;
    let Some(cutoff) = Utc::now().checked_sub_signed(age) else {
        return Ok(0);
    };
    let done =
        query_history::Entity::delete_many().filter(query_history::Column::Timestamp.lt(cutoff)).exec(db).await?;
    Ok(done.rows_affected)
}

/// Deletes runs older than `retention` every `period` until the task is aborted; a failed sweep is
/// logged and retried. A zero `retention` keeps the history forever (returns at once).
pub async fn sweep(db: DatabaseConnection, retention: Duration, period: Duration) {
    if retention.is_zero() {
        return;
    }
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match purge_older_than(&db, retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("deleted {n} query history rows older than {retention:?}"),
            Err(e) => tracing::warn!(error = %e, "purging the query history failed; retrying in {period:?}"),
        }
    }
}

/// The columns of the CSV export, in order.
pub const CSV_COLUMNS: [&str; 13] = [
    "id",
    "timestamp",
    "user",
    "status",
    "execution_time_ms",
    "rows",
    "query",
    "error",
    "migration_head",
    "client_addr",
    "batch_id",
    "statement_index",
    "database",
];

/// RFC 4180 CSV: [`csv_header`] and a [`csv_row`] per run.
pub fn to_csv(runs: &[query_history::Model]) -> String {
    let mut out = csv_header();
    for r in runs {
        out.push_str(&csv_row(r));
    }
    out
}

/// The CSV header record, CRLF-terminated.
pub fn csv_header() -> String {
    let mut out = String::new();
    csv_record(&mut out, &CSV_COLUMNS);
    out
}

/// One run as a CSV record, CRLF-terminated; fields are quoted when they need it.
pub fn csv_row(r: &query_history::Model) -> String {
    let fields = [
        r.id.to_string(),
        r.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        r.user.clone(),
        r.status.clone(),
        r.execution_time.to_string(),
        r.row_count.map(|n| n.to_string()).unwrap_or_default(),
        r.query.clone(),
        r.error.clone().unwrap_or_default(),
        r.migration_head.clone().unwrap_or_default(),
        r.client_addr.clone().unwrap_or_default(),
        r.batch_id.clone().unwrap_or_default(),
        r.statement_index.to_string(),
        r.database_name.clone().unwrap_or_default(),
    ];
    let mut out = String::new();
    csv_record(&mut out, &fields);
    out
}

fn csv_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_field(f.as_ref()));
    }
    out.push_str("\r\n");
}

/// One CSV field: quoted (with `"` doubled) when it holds a comma, a quote or a line break.
pub fn csv_field(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\"")).into()
    } else {
        value.into()
    }
}

/// At most `max_chars` characters, NUL replaced (PostgreSQL cannot store it in text).
fn cut(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).map(|c| if c == '\0' { char::REPLACEMENT_CHARACTER } else { c }).collect()
}

/// The part of `text` the history keeps (its first [`MAX_QUERY_CHARS`]), copied.
pub fn truncated(text: &str) -> String {
    match text.char_indices().nth(MAX_QUERY_CHARS) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// [`cut`] without a copy when there is nothing to cut or replace (the usual case).
fn cut_owned(s: String, max_chars: usize) -> String {
    if s.len() <= max_chars && !s.contains('\0') { s } else { cut(&s, max_chars) }
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_bad_ones_are_refused() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
        }
        assert!(matches!("done".parse::<RunStatus>(), Err(Error::BadRequest(m)) if m.contains("cancelled")));
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off!"), "50!%!_off!!");
        assert_eq!(escape_like("plain"), "plain");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_field("cr\rlf"), "\"cr\rlf\"");
    }

    #[test]
    fn csv_has_a_header_and_crlf_records() {
        let run = query_history::Model {
            id: 7,
            batch_id: None,
            statement_index: 0,
            query: "SELECT 'a,b', \"x\"\nFROM t".into(),
            execution_time: 12,
            user: "ann".into(),
            timestamp: DateTime::from_timestamp(1_763_800_000, 0).unwrap(),
            status: "success".into(),
            row_count: Some(3),
            error: None,
            migration_head: Some("m20250101_000042".into()),
            client_addr: None,
            database_name: Some("app".into()),
        };
        let csv = to_csv(&[run]);
        let mut lines = csv.split("\r\n");
        assert!(lines.next().unwrap().starts_with("id,timestamp,user,status,execution_time_ms,rows,query,"));
        assert_eq!(
            lines.next().unwrap(),
            "7,2025-11-22T08:26:40.000Z,ann,success,12,3,\"SELECT 'a,b', \"\"x\"\"\nFROM t\",,m20250101_000042,,,0,app"
        );
        assert_eq!(lines.collect::<Vec<_>>(), vec![""]);
    }

    #[test]
    fn builder_fills_the_run() {
        let run = NewRun::new("ann", "SELECT 1", RunStatus::Timeout)
            .batch("b1", 2)
            .elapsed(Duration::from_millis(1500))
            .rows(0)
            .error("canceling statement due to statement timeout")
            .head(Some("m1".into()))
            .client("10.0.0.1");
        assert_eq!((run.batch_id.as_deref(), run.statement_index, run.execution_time_ms), (Some("b1"), 2, 1500));
        assert_eq!((run.rows, run.client_addr.as_deref()), (Some(0), Some("10.0.0.1")));
        assert_eq!(cut("a\0b", 8), "a\u{fffd}b");
    }
}
