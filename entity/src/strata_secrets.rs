//! `strata_secrets`: values Strata keeps for itself, each sealed with the key file (nonce and ciphertext as hex).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "strata_secrets")]
pub struct Model {
    /// What the secret is for (`viewer_login`, ...).
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(100))")]
    pub name: String,
    /// The public part kept beside it (a login's user name); never secret.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub label: String,
    /// Hex of the random 24-byte nonce.
    #[sea_orm(column_type = "String(StringLen::N(48))")]
    pub nonce: String,
    /// Hex of the ciphertext with its authentication tag.
    #[sea_orm(column_type = "Text")]
    pub ciphertext: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
