//! `GET /api/v1/indexes`: every index with its size and use, and which are unused, redundant or invalid.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::errors::ErrorBody;
use super::params::{PageParams, Paged, SortParams};
use crate::api_keys::Scope;
use crate::db::introspect::IndexInfo;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::web::extract::Query;

#[derive(Clone, Copy, Debug)]
enum Sort {
    Name,
    Table,
    Size,
    Scans,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// `all` (default), `unused`, `duplicate` or `invalid`.
    show: Option<String>,
}

/// The indexes, `per_page` at a time.
///
/// Needs the `read_catalog` scope. `sort`: `table` (default: schema, table, name), `name`, `size`,
/// `scans`; `q` searches `schema.table.index`.
#[utoipa::path(
    get, path = "/api/v1/indexes", tag = "catalog", security(("bearer" = [])),
    params(PageParams, SortParams, Filter),
    responses(
        (status = 200, body = Paged<IndexInfo>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 504, body = ErrorBody)
    )
)]
pub async fn index(
    caller: Caller,
    State(state): State<AppState>,
    Query(paging): Query<PageParams>,
    Query(sorting): Query<SortParams>,
    Query(filter): Query<Filter>,
) -> Result<Json<Paged<IndexInfo>>> {
    caller.require(Scope::ReadCatalog)?;
    let (page, per_page) = paging.get()?;
    let keys = [("table", Sort::Table), ("name", Sort::Name), ("size", Sort::Size), ("scans", Sort::Scans)];
    let (sort, descending) = sorting.sort(&keys, (Sort::Table, false))?;
    let search = sorting.search()?.map(|q| q.to_lowercase());
    let show = filter.show.as_deref().filter(|s| !s.is_empty()).unwrap_or("all");
    let keep: fn(&IndexInfo) -> bool = match show {
        "all" => |_| true,
        "unused" => |i| i.unused,
        "duplicate" => |i| i.duplicate_of.is_some(),
        "invalid" => |i| !i.valid,
        other => return Err(Error::BadRequest(format!("show={other:?}: use all, unused, duplicate or invalid"))),
    };
    let mut all: Vec<IndexInfo> = super::within(&state, state.introspector.indexes())
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
