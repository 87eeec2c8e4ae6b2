//! `api_keys`: bearer credentials for `/api` — a prefix to find them, a SHA-256 of the secret, an owner, a role and scopes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub name: String,
    /// The public part of the key (`strata_<prefix>_<secret>`), unique.
    #[sea_orm(column_type = "String(StringLen::N(16))", unique)]
    pub prefix: String,
    /// Lower-case hex SHA-256 of the secret part.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub hash: String,
    /// The `admin_users` account the key acts for.
    pub owner_id: i32,
    /// `admin`, `editor` or `viewer`: never above the creator's role.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub role: String,
    /// Space-separated scope names.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    /// Written in batches, so it may lag a few seconds behind the last request.
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
