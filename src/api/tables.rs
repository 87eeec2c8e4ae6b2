//! `GET /api/v1/databases/{name}/tables` (sorted, searched and paginated in SQL) and `GET /api/v1/tables/{schema}/{table}` with its first rows.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::errors::{DbRefusals, ErrorBody, KeyRefusals};
use super::params::{PageParams, Paged, SortKeys, SortParams};
use crate::db::introspect::{RowsPage, TableDetail, TableInfo, TableQuery, TableSort};
use crate::error::{Error, Result};
use crate::home::api_keys::Scope;
use crate::state::AppState;
use crate::web::current_db::CurrentDb;
use crate::web::extract::{Path, Query};

/// The tables, `per_page` at a time.
///
/// Needs the `read_catalog` scope. `sort`: `name` (default), `rows`, `table_size`, `index_size`,
/// `toast_size`, `total_size`, `dead_rows`, `last_vacuum`, `last_analyze`; `q` searches `schema.table`.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/tables", tag = "catalog", operation_id = "tables_index", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)"), PageParams, SortParams<TableKeys>),
    responses(
        (status = 200, description = "One page of the tables", body = Paged<TableInfo>),
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
    Query(sorting): Query<SortParams<TableKeys>>,
) -> Result<Json<Paged<TableInfo>>> {
    caller.require(Scope::ReadCatalog)?;
    let (page, per_page) = paging.get()?;
    let (sort, descending) = sorting.sort()?;
    let query =
        TableQuery { sort, descending, search: sorting.search()?, offset: (page - 1) * per_page, limit: per_page };
    let found = super::within(&state, db.introspector.tables(&query)).await?;
    Ok(Json(Paged::new(found.items, page, per_page, found.total)))
}

/// `sort` of the table list: every [`TableSort`].
#[derive(Clone, Debug)]
pub struct TableKeys;

impl SortKeys for TableKeys {
    type Key = TableSort;
    fn keys() -> Vec<(&'static str, TableSort)> {
        TableSort::ALL.iter().map(|s| (s.as_str(), *s)).collect()
    }
    fn default() -> (TableSort, bool) {
        (TableSort::Name, false)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableResponse {
    pub detail: TableDetail,
    /// Rows `(page - 1) * per_page` onwards, as text (`null` for NULL).
    pub rows: RowsPage,
}

/// One table: columns, indexes, constraints, foreign keys both ways, and a page of its rows.
///
/// Needs the `read_catalog` scope. `page` and `per_page` page through the rows.
#[utoipa::path(
    get, path = "/api/v1/databases/{name}/tables/{schema}/{table}", tag = "catalog", operation_id = "tables_show", security(("bearer" = [])),
    params(("name" = String, Path, description = "The watched database (a name from GET /api/v1/databases)"), 
        ("schema" = String, Path, description = "`public`, the MariaDB database, or `main` on SQLite"),
        ("table" = String, Path, description = "The table's name"),
        PageParams
    ),
    responses(
        (status = 200, description = "The table and a page of its rows", body = TableResponse),
        (status = 400, description = "A parameter out of its bounds; the message names it (`bad_request`)", body = ErrorBody),
        KeyRefusals, DbRefusals,
        (status = 404, description = "No such table (`not_found`)", body = ErrorBody),
        (status = 504, description = "A catalog read passed `catalog_timeout` (`timeout`)", body = ErrorBody)
    )
)]
pub async fn show(
    caller: Caller,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, schema, table)): Path<(String, String, String)>,
    Query(paging): Query<PageParams>,
) -> Result<Json<TableResponse>> {
    caller.require(Scope::ReadCatalog)?;
    let (page, per_page) = paging.get()?;
    let detail = super::within(&state, db.introspector.table(&schema, &table))
        .await?
        .ok_or_else(|| Error::NotFound(format!("table {schema}.{table}")))?;
    let rows =
        super::within(&state, db.introspector.table_rows(&schema, &table, (page - 1) * per_page, per_page)).await?;
    Ok(Json(TableResponse { detail, rows }))
}
