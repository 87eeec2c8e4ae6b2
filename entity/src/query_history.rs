//! `query_history`: one row per statement run through the query editor (success, error, cancelled or timeout).

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, utoipa::ToSchema)]
#[schema(as = QueryRun)]
#[sea_orm(table_name = "query_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Shared by the statements of one run; `None` for a run of a single statement recorded alone.
    #[sea_orm(column_type = "String(StringLen::N(36))", nullable)]
    pub batch_id: Option<String>,
    /// The statement's place in its batch, from 0.
    pub statement_index: i32,
    #[sea_orm(column_type = "Text")]
    pub query: String,
    /// Milliseconds.
    pub execution_time: i64,
    /// The account's username (or the API key's name) at the time.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub user: String,
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: DateTimeUtc,
    /// `success`, `error`, `cancelled` or `timeout`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub status: String,
    /// Rows returned or affected, when known.
    pub row_count: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// The revision in `alembic_version` when the statement ran.
    #[sea_orm(column_type = "String(StringLen::N(255))", nullable)]
    pub migration_head: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub client_addr: Option<String>,
    /// The watched database the statement ran on (`NULL` for rows recorded before databases had names).
    #[sea_orm(column_type = "String(StringLen::N(63))", nullable)]
    pub database_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
