//! `GET /api/v1/databases`: the watched databases — name, engine, whether it answers, masked URL.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::errors::KeyRefusals;
use crate::error::Result;
use crate::home::api_keys::Scope;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseItem {
    /// The `{name}` in `/api/v1/databases/{name}/…` and `/db/{name}`.
    pub name: String,
    /// `postgresql`, `mysql` or `sqlite`.
    pub engine: String,
    /// False while Strata knows it to be unreachable (its endpoints answer 503 until it is back).
    pub reachable: bool,
    /// Why it is unreachable, when it is.
    pub error: Option<String>,
    /// The URL with its password masked.
    pub url: String,
    /// The project database (the one `strata migrate` manages).
    pub project: bool,
    /// Every run there is read-only; actions that write are refused.
    pub read_only: bool,
    pub group: Option<String>,
}

/// The watched databases.
///
/// Needs the `read_catalog` scope.
#[utoipa::path(
    get, path = "/api/v1/databases", tag = "catalog", operation_id = "databases_index", security(("bearer" = [])),
    responses((status = 200, description = "The watched databases", body = Vec<DatabaseItem>), KeyRefusals)
)]
pub async fn index(caller: Caller, State(state): State<AppState>) -> Result<Json<Vec<DatabaseItem>>> {
    caller.require(Scope::ReadCatalog)?;
    state.watched.sync(&state.config, &state.home).await?;
    let items = state
        .watched
        .all()
        .iter()
        .map(|w| {
            let outage = w.health.outage();
            DatabaseItem {
                name: w.name().to_string(),
                engine: w.url().backend().to_string(),
                reachable: outage.is_none(),
                error: outage.map(|o| o.cause),
                url: w.url().masked(),
                project: w.spec.project,
                read_only: w.spec.read_only,
                group: w.spec.group.clone(),
            }
        })
        .collect();
    Ok(Json(items))
}
