//! `GET /api/v1/migrations/matrix`: every migration against the databases that share its tool and project (the
//! `/migrations` page's data).

use axum::Json;
use axum::extract::State;

use super::auth::Caller;
use super::errors::KeyRefusals;
use crate::error::Result;
use crate::home::api_keys::Scope;
use crate::state::AppState;
use crate::watch::schema_history::matrix::{self, Matrix};

/// The environments matrix.
///
/// Needs the `read_catalog` scope.
#[utoipa::path(
    get, path = "/api/v1/migrations/matrix", tag = "catalog", operation_id = "matrix_index", security(("bearer" = [])),
    responses((status = 200, description = "Groups of databases sharing a migration tool and project, one row per migration", body = Matrix), KeyRefusals)
)]
pub async fn index(caller: Caller, State(state): State<AppState>) -> Result<Json<Matrix>> {
    caller.require(Scope::ReadCatalog)?;
    state.watched.sync(&state.config, &state.home).await?;
    Ok(Json(matrix::read(&state.watched.all(), &state.migrations, state.config.settings.catalog_timeout).await))
}
