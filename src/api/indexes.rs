//! `GET /api/v1/databases/{name}/indexes`: every index with its size and use, and which are unused, redundant or invalid.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use super::params::{PageParams, Paged, SortKeys, SortParams};
use crate::db::introspect::{IndexFilter, IndexInfo, IndexQuery, IndexSort};
use crate::error::{Error, Result};
use crate::home::api_keys::Scope;
use crate::state::AppState;
use crate::web::current_db::CurrentDb;
use crate::web::extract::Query;

/// `sort` of the index list: every [`IndexSort`].
#[derive(Clone, Debug)]
pub struct IndexKeys;

impl SortKeys for IndexKeys {
    type Key = IndexSort;
    fn keys() -> Vec<(&'static str, IndexSort)> {
        IndexSort::ALL.iter().map(|s| (s.as_str(), *s)).collect()
    }
    fn default() -> (IndexSort, bool) {
        (IndexSort::Table, false)
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// `all` (default), `unused`, `duplicate` or `invalid`.
    #[param(inline, value_type = Option<Show>)]
    show: Option<String>,
}

/// The values of `show` (the document's list; the handler matches the text).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum Show {
    All,
    Unused,
    Duplicate,
    Invalid,
}

/// The indexes, `per_page` at a time.
///
/// Needs the `read_catalog` scope. `sort`: `table` (default: schema, table, name), `name`, `size`,
/// `scans`; `q` searches `schema.table.index`; `show` keeps the unused, duplicate or invalid ones. Sorted,
/// filtered and paged by the database; a duplicate is judged against every index of its table. On
/// PostgreSQL `size` orders by the planner's estimate (pages at the last VACUUM, ANALYZE or CREATE INDEX)
/// while `size_bytes` is read now.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/indexes", tag = "catalog", operation_id = "indexes_index", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)"), PageParams, SortParams<IndexKeys>, Filter),
    responses(
        (status = 200, description = "One page of the indexes", body = Paged<IndexInfo>),
        (status = 400, description = "A parameter out of its bounds; the message names it (`bad_request`)", body = ErrorBody),
        KeyRefusals, DbRefusals,
        (status = 504, description = "A catalog read passed `catalog_timeout` (`timeout`)", body = ErrorBody)
    )
)]
pub async fn index(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Query(paging): Query<PageParams>,
    Query(sorting): Query<SortParams<IndexKeys>>,
    Query(filter): Query<Filter>,
) -> Result<Json<Paged<IndexInfo>>> {
    caller.require(Scope::ReadCatalog)?;
    let (page, per_page) = paging.get()?;
    let (sort, descending) = sorting.sort()?;
    let show = filter.show.as_deref().filter(|s| !s.is_empty()).unwrap_or("all");
    let filter = IndexFilter::parse(show)
        .ok_or_else(|| Error::BadRequest(format!("show={show:?}: use all, unused, duplicate or invalid")))?;
    let query = IndexQuery {
        sort,
        descending,
        search: sorting.search()?,
        filter,
        offset: (page - 1) * per_page,
        limit: per_page,
    };
    let found = super::within(&state, db.introspector.indexes(&query)).await?;
    Ok(Json(Paged::new(found.items, page, per_page, found.total)))
}
