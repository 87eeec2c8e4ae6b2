//! `GET /api/v1/history`: the query history — the key owner's runs, or everyone's for an admin key.

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use entity::query_history;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::errors::{ErrorBody, KeyRefusals};
use super::params::{PageParams, Paged, SortKeys, SortParams};
use crate::error::{Error, Result};
use crate::home::api_keys::Scope;
use crate::home::history::{self, Filter as HistoryFilter, RunStatus};
use crate::state::AppState;
use crate::web::extract::Query;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// `success`, `error`, `cancelled` or `timeout`.
    #[param(inline, value_type = Option<Status>)]
    status: Option<String>,
    /// Only this user's runs (admin keys; others always see their owner's).
    user: Option<String>,
    /// From this day on (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    from: Option<String>,
    /// Up to the end of this day (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<String>,
    /// Only runs on this watched database (a name from /api/v1/databases).
    database: Option<String>,
}

/// The values of `status` (the document's list; `RunStatus` parses the text).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum Status {
    Success,
    Error,
    Cancelled,
    Timeout,
}

/// `sort` of the history: newest first is the only order, so `-timestamp` is the only value.
#[derive(Clone, Debug)]
pub struct HistoryKeys;

impl SortKeys for HistoryKeys {
    type Key = ();
    fn keys() -> Vec<(&'static str, ())> {
        vec![("timestamp", ())]
    }
    fn default() -> ((), bool) {
        ((), true)
    }
    fn values() -> Vec<String> {
        vec!["-timestamp".into()]
    }
}

/// Statements run through the query editor, newest first.
///
/// Needs the `read_catalog` scope. `q` searches the statement text (`%` and `_` are literal);
/// `sort` is `-timestamp`, the only order.
#[utoipa::path(
    get, path = "/api/v1/history", tag = "catalog", operation_id = "history_index", security(("bearer" = [])),
    params(PageParams, SortParams<HistoryKeys>, Filter),
    responses(
        (status = 200, description = "One page of the runs, newest first", body = Paged<query_history::Model>),
        (status = 400, description = "A parameter out of its bounds; the message names it (`bad_request`)", body = ErrorBody),
        KeyRefusals
    )
)]
pub async fn index(
    caller: Caller,
    State(state): State<AppState>,
    Query(paging): Query<PageParams>,
    Query(sorting): Query<SortParams<HistoryKeys>>,
    Query(filter): Query<Filter>,
) -> Result<Json<Paged<query_history::Model>>> {
    caller.require(Scope::ReadCatalog)?;
    let (page, per_page) = paging.get()?;
    sorting.sort()?;
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let user = match nonempty(filter.user) {
        Some(u) if caller.is_admin() => Some(u),
        Some(u) if u != caller.key.owner => return Err(Error::Forbidden),
        _ if caller.is_admin() => None,
        _ => Some(caller.key.owner.clone()),
    };
    let query = HistoryFilter {
        user,
        status: nonempty(filter.status)
            .map(|s| s.parse::<RunStatus>().map_err(|e| Error::BadRequest(format!("status: {e}"))))
            .transpose()?,
        from: date("from", nonempty(filter.from))?,
        to: date("to", nonempty(filter.to))?,
        text: sorting.search()?,
        database: nonempty(filter.database),
    };
    // This instance's runs whose rows are still being written are in the answer too.
    state.history.settled().await;
    let found = history::search(&state.home, &query, page, per_page).await?;
    // `search` moves a page past the end back to the last one; the API answers it empty instead.
    let runs = if found.page == page { found.runs } else { Vec::new() };
    Ok(Json(Paged::new(runs, page, per_page, found.total)))
}

fn date(name: &str, value: Option<String>) -> Result<Option<NaiveDate>> {
    value
        .map(|v| {
            NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                .map_err(|_| Error::BadRequest(format!("{name}={v:?}: use a date like 2025-01-31")))
        })
        .transpose()
}
