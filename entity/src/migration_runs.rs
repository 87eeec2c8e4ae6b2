//! `migration_runs`: one row per migration run started from the dashboard or the API, with its steps and impact.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "migration_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(63))")]
    pub database_name: String,
    /// `up`, `down` or `stamp`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub action: String,
    /// What the run aimed at: `all`, `n=2`, `to=REV`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub target: String,
    /// The dashboard account (or API key owner) that started it.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub actor: String,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub state: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// JSON array: per migration its revision, name, state, duration_ms and error.
    #[sea_orm(column_type = "Text")]
    pub steps: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// JSON array: per migration the relations just before and just after, and the differences.
    #[sea_orm(column_type = "Text", nullable)]
    pub impact: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
