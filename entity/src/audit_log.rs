//! `audit_log`: one row per sign-in, account change or administrative action, newest last.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: DateTimeUtc,
    /// The dashboard account that acted; `None` before sign-in.
    pub actor_id: Option<i32>,
    /// The account's username at the time, or `anonymous`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub actor: String,
    /// Dotted name such as `login.success` or `user.role`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub action: String,
    /// What the action was done to (an account, a session, a table), when anything.
    #[sea_orm(column_type = "String(StringLen::N(255))", nullable)]
    pub target: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
    /// The client's address, or `unknown`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub client_addr: String,
    /// The watched database the action concerned; `None` for account and sign-in events.
    #[sea_orm(column_type = "String(StringLen::N(63))", nullable)]
    pub database_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
