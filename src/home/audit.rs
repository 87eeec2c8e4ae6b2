//! The audit log: [`record`] one [`Entry`] per sign-in, account change or administrative action; [`search`] them.
//!
//! Anything that changes the database or the dashboard's accounts records an entry, in the same
//! transaction as the change when there is one (`record` takes any connection or transaction):
//!
//! ```ignore
//! audit::record(&state.db, user.audit("session.cancel").target(pid.to_string()).detail(query)).await?;
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use entity::audit_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::error::{Error, Result};

/// The actor of entries written before anyone signed in.
pub const ANONYMOUS: &str = "anonymous";

/// The client address when the connection's peer is not known (tests, some proxies).
pub const UNKNOWN_CLIENT: &str = "unknown";

/// The actions Strata itself records, offered as filters on the audit page (others may appear too).
pub const KNOWN_ACTIONS: &[&str] = &[
    "login.success",
    "login.failure",
    "login.throttled",
    "logout",
    "password.change",
    "user.create",
    "user.role",
    "user.deactivate",
    "user.reactivate",
    "user.password_reset",
    "history.export",
    "api_key.create",
    "api_key.revoke",
    "viewer_login.create",
    "viewer_login.drop",
    "maintenance.vacuum",
    "maintenance.vacuum_analyze",
    "maintenance.vacuum_full",
    "maintenance.analyze",
    "maintenance.reindex",
    "maintenance.reindex_concurrently",
    "maintenance.optimize",
    "maintenance.check",
    "maintenance.integrity_check",
    "maintenance.quick_check",
    "maintenance.foreign_key_check",
    "maintenance.wal_checkpoint",
    "backup.create",
    "backup.download",
    "backup.delete",
    "backup.prune",
    "backup.restore",
    "backup.restore_test",
    "backup.schedule",
    "database.add",
    "database.update",
    "database.remove",
    "migrations.apply",
    "migrations.cancel",
    "migrations.abort",
    "migrations.rehearse",
];

/// One thing that happened, built with [`Entry::new`] (or `CurrentUser::audit`) and the setters below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub action: String,
    pub actor_id: Option<i32>,
    pub actor: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client_addr: String,
    /// The watched database the action concerned, if any.
    pub database: Option<String>,
    /// When it happened, if not now (the login throttle stamps sign-ins with its own clock).
    pub at: Option<DateTime<Utc>>,
}

impl Entry {
    /// An anonymous entry from an unknown address.
    pub fn new(action: impl Into<String>) -> Entry {
        Entry {
            action: action.into(),
            actor_id: None,
            actor: ANONYMOUS.into(),
            target: None,
            detail: None,
            client_addr: UNKNOWN_CLIENT.into(),
            database: None,
            at: None,
        }
    }

    /// The account that acted.
    pub fn actor(mut self, id: i32, username: impl Into<String>) -> Entry {
        self.actor_id = Some(id);
        self.actor = username.into();
        self
    }

    /// What the action was done to.
    pub fn target(mut self, target: impl Into<String>) -> Entry {
        self.target = Some(target.into());
        self
    }

    /// Free text: the old and new value, the statement, why it failed.
    pub fn detail(mut self, detail: impl Into<String>) -> Entry {
        self.detail = Some(detail.into());
        self
    }

    /// When it happened (default: when it is recorded).
    pub fn at(mut self, at: DateTime<Utc>) -> Entry {
        self.at = Some(at);
        self
    }

    /// The watched database it concerned.
    pub fn database(mut self, name: impl Into<String>) -> Entry {
        self.database = Some(name.into());
        self
    }

    /// Where the request came from.
    pub fn client(mut self, addr: impl Into<String>) -> Entry {
        self.client_addr = addr.into();
        self
    }
}

/// Writes one entry. Text longer than its column is cut (on a character boundary), never refused:
/// a hostile username in a failed sign-in must still be logged.
pub async fn record(db: &impl ConnectionTrait, entry: Entry) -> Result<()> {
    let row = audit_log::ActiveModel {
        occurred_at: Set(entry.at.unwrap_or_else(Utc::now)),
        actor_id: Set(entry.actor_id),
        actor: Set(cut(&entry.actor, 64)),
        action: Set(cut(&entry.action, 64)),
        target: Set(entry.target.as_deref().map(|t| cut(t, 255))),
        detail: Set(entry.detail.as_deref().map(|d| cut(d, 4000))),
        client_addr: Set(cut(&entry.client_addr, 64)),
        database_name: Set(entry.database.as_deref().map(|d| cut(d, 63))),
        ..Default::default()
    };
    row.insert(db).await?;
    Ok(())
}

/// Failed sign-ins since a time, oldest first: those naming an account (after its last successful sign-in) and
/// those from an address. What the login throttle counts across instances.
#[derive(Clone, Debug, Default)]
pub struct RecentFailures {
    pub account: Vec<DateTime<Utc>>,
    pub address: Vec<DateTime<Utc>>,
}

/// The `login.failure` entries since `since` for `account` (lower-case; after its last `login.success`) and for
/// `address`; at most the newest 100 of each.
pub async fn recent_failures(
    db: &impl ConnectionTrait,
    account: &str,
    address: &str,
    since: DateTime<Utc>,
) -> Result<RecentFailures> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let last_success = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("login.success"))
        .filter(Expr::expr(Func::lower(Expr::col(audit_log::Column::Actor))).eq(account))
        .filter(audit_log::Column::OccurredAt.gte(since))
        .order_by_desc(audit_log::Column::OccurredAt)
        .one(db)
        .await?
        .map(|e| e.occurred_at);
    let mut by_account = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("login.failure"))
        .filter(Expr::expr(Func::lower(Expr::col(audit_log::Column::Target))).eq(account))
        .filter(audit_log::Column::OccurredAt.gte(since));
    if let Some(at) = last_success {
        by_account = by_account.filter(audit_log::Column::OccurredAt.gt(at));
    }
    let by_address = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("login.failure"))
        .filter(audit_log::Column::ClientAddr.eq(address))
        .filter(audit_log::Column::OccurredAt.gte(since));
    let times = |rows: Vec<audit_log::Model>| {
        let mut t: Vec<DateTime<Utc>> = rows.into_iter().map(|r| r.occurred_at).collect();
        t.reverse();
        t
    };
    Ok(RecentFailures {
        account: times(by_account.order_by_desc(audit_log::Column::OccurredAt).limit(100).all(db).await?),
        address: times(by_address.order_by_desc(audit_log::Column::OccurredAt).limit(100).all(db).await?),
    })
}

/// At most `max_chars` characters, NUL replaced (PostgreSQL cannot store it in text).
fn cut(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).map(|c| if c == '\0' { char::REPLACEMENT_CHARACTER } else { c }).collect()
}

/// Filters for [`search`]; empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exact action name.
    pub action: Option<String>,
    /// Exact actor username (or `anonymous`).
    pub actor: Option<String>,
    /// From the start of this day (UTC).
    pub from: Option<NaiveDate>,
    /// To the end of this day (UTC).
    pub to: Option<NaiveDate>,
    /// Only entries about this watched database.
    pub database: Option<String>,
}

/// One page of entries, newest first.
#[derive(Clone, Debug)]
pub struct Page {
    pub entries: Vec<audit_log::Model>,
    /// Counting from 1.
    pub page: u64,
    pub pages: u64,
    pub total: u64,
}

/// Entries matching `filter`, newest first, `per_page` at a time; `page` counts from 1.
pub async fn search(db: &impl ConnectionTrait, filter: &Filter, page: u64, per_page: u64) -> Result<Page> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(Error::BadRequest(format!("the date range is empty: {from} is after {to}")));
    }
    let mut query = audit_log::Entity::find();
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::Column::Action.eq(action.as_str()));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_log::Column::Actor.eq(actor.as_str()));
    }
    if let Some(database) = &filter.database {
        query = query.filter(audit_log::Column::DatabaseName.eq(database.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::Column::OccurredAt.gte(start_of(from)));
    }
    if let Some(to) = filter.to.and_then(|d| d.succ_opt()) {
        query = query.filter(audit_log::Column::OccurredAt.lt(start_of(to)));
    }
    let total = query.clone().count(db).await?;
    let per_page = per_page.max(1);
    let pages = total.div_ceil(per_page).max(1);
    let page = page.clamp(1, pages);
    let entries = query
        .order_by_desc(audit_log::Column::OccurredAt)
        .order_by_desc(audit_log::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok(Page { entries, page, pages, total })
}

/// The actors that appear in the log, for the filter's suggestions.
pub async fn actors(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    let mut names: Vec<String> = audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::Actor)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    names.sort();
    Ok(names)
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_character_boundaries() {
        assert_eq!(cut("ünïcødé", 3), "ünï");
        assert_eq!(cut("short", 64), "short");
        assert_eq!(cut("a\0b", 64), "a\u{fffd}b");
    }

    #[test]
    fn entries_default_to_anonymous_from_an_unknown_address() {
        let e = Entry::new("login.failure").target("bob");
        assert_eq!((e.actor.as_str(), e.actor_id, e.client_addr.as_str()), (ANONYMOUS, None, UNKNOWN_CLIENT));
        let e = e.actor(7, "ann").client("10.0.0.1");
        assert_eq!((e.actor.as_str(), e.actor_id, e.client_addr.as_str()), ("ann", Some(7), "10.0.0.1"));
    }
}
