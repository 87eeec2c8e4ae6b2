//! `migrations_log`: one row per upgrade, downgrade or stamp attempt, failures included.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, utoipa::ToSchema)]
#[schema(as = MigrationLogEntry)]
#[sea_orm(table_name = "migrations_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub revision: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    /// `upgrade`, `downgrade` or `stamp`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub action: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTimeUtc,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<DateTimeUtc>,
    pub duration_ms: Option<i64>,
    /// `user@host` for the CLI, the dashboard account otherwise.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub actor: String,
    /// `success` or `failed`; `running` while a migration whose DDL commits as it goes (MariaDB/MySQL)
    /// runs, and for good when its runner died before it ended (the migration is then dirty).
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub status: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
