//! `watched_databases`: the databases admins added on the Databases page (the configuration file names others).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "watched_databases")]
pub struct Model {
    /// The name in `/db/{name}`.
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(63))")]
    pub name: String,
    /// The URL without its password (sealed in `strata_secrets` as `watch:<name>`).
    #[sea_orm(column_type = "Text")]
    pub url: String,
    pub read_only: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub viewer_url: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub backup_dir: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(63))", nullable)]
    pub group_name: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
