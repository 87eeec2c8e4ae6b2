//! `GET /api/v1/databases/{name}/indexes`: every index with its size and use, and which are unused, redundant or invalid.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use super::params::{PageParams, Paged, SortKeys, SortParams};
use crate::db::introspect::IndexInfo;
use crate::error::{Error, Result};
use crate::home::api_keys::Scope;
use crate::state::AppState;
use crate::web::current_db::CurrentDb;
use crate::web::extract::Query;

#[derive(Clone, Copy, Debug)]
pub enum Sort {
    Name,
    Table,
    Size,
    Scans,
}

/// `sort` of the index list.
#[derive(Clone, Debug)]
pub struct IndexKeys;

impl SortKeys for IndexKeys {
    type Key = Sort;
    fn keys() -> Vec<(&'static str, Sort)> {
        vec![("table", Sort::Table), ("name", Sort::Name), ("size", Sort::Size), ("scans", Sort::Scans)]
    }
    fn default() -> (Sort, bool) {
        (Sort::Table, false)
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
/// `scans`; `q` searches `schema.table.index`.
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
    let search = sorting.search()?.map(|q| q.to_lowercase());
    let show = filter.show.as_deref().filter(|s| !s.is_empty()).unwrap_or("all");
    let keep: fn(&IndexInfo) -> bool = match show {
        "all" => |_| true,
        "unused" => |i| i.unused,
        "duplicate" => |i| i.duplicate_of.is_some(),
        "invalid" => |i| !i.valid,
        other => return Err(Error::BadRequest(format!("show={other:?}: use all, unused, duplicate or invalid"))),
    };
    let mut all: Vec<IndexInfo> = super::within(&state, db.introspector.indexes())
        .await?
        .into_iter()
        .filter(keep)
        .filter(|i| {
            search.as_ref().is_none_or(|q| format!("{}.{}.{}", i.schema, i.table, i.name).to_lowercase().contains(q))
        })
        .collect();
    all.sort_by(|a, b| {
        let by_place = (&a.schema, &a.table, &a.name).cmp(&(&b.schema, &b.table, &b.name));
        let order = match sort {
            Sort::Table => by_place,
            Sort::Name => a.name.cmp(&b.name).then(by_place),
            Sort::Size => a.size_bytes.cmp(&b.size_bytes).then(by_place),
            Sort::Scans => a.scans.cmp(&b.scans).then(by_place),
        };
        if descending { order.reverse() } else { order }
    });
    Ok(Json(Paged::slice(all, page, per_page)))
}
