//! API keys: [`create`] one (its secret is shown once), [`list`], [`revoke`], [`verify`] a bearer token, and record use in batches ([`Usage`]).
//!
//! A key reads `strata_<prefix>_<secret>`: the 12-character prefix is stored as it is (it finds the
//! row and lets people recognise a key in a list), the 64-character secret only as its SHA-256.
//!
//! **Why SHA-256 and not argon2id:** a password needs a slow hash because people choose guessable
//! ones. The secret is 256 random bits, so there is nothing to guess: a fast hash is exactly as safe,
//! and a slow one would only hand every unauthenticated request ~20 ms of CPU to spend. The stored
//! hash is compared in constant time.
//!
//! A key acts for its owner with the lower of its own role and the owner's current role; a
//! deactivated owner's keys stop working. Scopes narrow what a key may do on top of its role.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{admin_users, api_keys};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::home::accounts::{self, Role};

/// Every key starts with this, so secret scanners and people can tell what it is.
pub const KEY_START: &str = "strata_";
/// Hex characters of the public prefix (48 random bits: unique in practice, checked anyway).
const PREFIX_LEN: usize = 12;
/// Hex characters of the secret (256 random bits).
const SECRET_LEN: usize = 64;
/// Longest key name.
pub const MAX_NAME_CHARS: usize = 100;
/// How often [`Usage::flush_every`] writes `last_used_at` when `serve` runs it.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// What a key may be used for, on top of its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Scrape `/metrics`.
    ReadMetrics,
    /// Read what the dashboard shows: overview, tables, indexes, activity, migrations, history.
    ReadCatalog,
    /// Run SQL read-only (as the query editor does for viewers).
    RunReadonlySql,
    /// Run SQL that may write, and cancel or terminate server sessions (with the admin role).
    RunSql,
    /// Apply or roll back migrations.
    ManageMigrations,
}

impl Scope {
    pub const ALL: [Scope; 5] =
        [Scope::ReadMetrics, Scope::ReadCatalog, Scope::RunReadonlySql, Scope::RunSql, Scope::ManageMigrations];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadMetrics => "read_metrics",
            Scope::ReadCatalog => "read_catalog",
            Scope::RunReadonlySql => "run_readonly_sql",
            Scope::RunSql => "run_sql",
            Scope::ManageMigrations => "manage_migrations",
        }
    }

    /// One line for forms and `--help`.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::ReadMetrics => "scrape /metrics",
            Scope::ReadCatalog => "read the overview, tables, indexes, activity, migrations and query history",
            Scope::RunReadonlySql => "run SQL read-only",
            Scope::RunSql => "run SQL that writes; cancel or terminate sessions (admin keys)",
            Scope::ManageMigrations => "apply and roll back migrations",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Scope> {
        Scope::ALL.into_iter().find(|sc| sc.as_str() == s.trim()).ok_or_else(|| {
            let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            Error::BadRequest(format!("unknown scope {s:?}: use {}", all.join(", ")))
        })
    }
}

/// The scopes stored in a row (unknown names from a newer build are skipped).
fn scopes_of(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(|s| s.parse().ok()).collect()
}

/// What a new key should be.
#[derive(Clone, Debug)]
pub struct NewKey {
    pub owner_id: i32,
    pub name: String,
    /// At most the creator's role and the owner's.
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just made: the row and the full key, which is never available again.
#[derive(Clone, Debug)]
pub struct Created {
    pub key: KeyInfo,
    pub token: String,
}

/// A key as lists show it (never its secret or hash).
#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    pub id: i32,
    pub name: String,
    pub prefix: String,
    pub owner_id: i32,
    pub owner: String,
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyInfo {
    fn new(row: api_keys::Model, owner: String) -> Result<KeyInfo> {
        let role = row
            .role
            .parse()
            .map_err(|_| Error::Internal(format!("API key #{} has the role {:?}", row.id, row.role)))?;
        Ok(KeyInfo {
            id: row.id,
            scopes: scopes_of(&row.scopes),
            name: row.name,
            prefix: row.prefix,
            owner_id: row.owner_id,
            owner,
            role,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }

    /// `active`, `expired` or `revoked`.
    pub fn state(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|t| t <= Utc::now()) {
            "expired"
        } else {
            "active"
        }
    }

    /// The beginning of the key, as it can be recognised: `strata_<prefix>_…`.
    pub fn display_prefix(&self) -> String {
        format!("{KEY_START}{}_…", self.prefix)
    }

    /// The scopes as `a, b` (or `none`).
    pub fn scope_list(&self) -> String {
        if self.scopes.is_empty() {
            "none".into()
        } else {
            self.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        }
    }
}

/// Creates a key for `new.owner_id`; `creator_role` is the role of whoever asks (the CLI passes the owner's).
pub async fn create(db: &impl ConnectionTrait, creator_role: Role, new: NewKey) -> Result<Created> {
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!("the key name must have 1 to {MAX_NAME_CHARS} printable characters")));
    }
    if new.role > creator_role {
        return Err(Error::BadRequest(format!(
            "a key's role cannot be above its creator's: {} is above {creator_role}",
            new.role
        )));
    }
    let owner = accounts::get(db, new.owner_id).await?;
    let owner_role = accounts::role_of(&owner)?;
    if !owner.is_active {
        return Err(Error::BadRequest(format!("the account {} is deactivated", owner.username)));
    }
    if new.role > owner_role {
        return Err(Error::BadRequest(format!(
            "a key's role cannot be above its owner's: {} is above {owner_role} ({})",
            new.role, owner.username
        )));
    }
    if new.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(Error::BadRequest("the expiry must be in the future".into()));
    }
    let scopes: BTreeSet<Scope> = new.scopes.into_iter().collect();
    let stored_scopes = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
    // 48 random bits almost never collide; when they do, draw again rather than fail on the unique index.
    let mut prefix = random_hex(PREFIX_LEN);
    while api_keys::Entity::find().filter(api_keys::Column::Prefix.eq(&prefix)).one(db).await?.is_some() {
        prefix = random_hex(PREFIX_LEN);
    }
    let secret = random_hex(SECRET_LEN);
    let row = api_keys::ActiveModel {
        name: Set(name),
        prefix: Set(prefix.clone()),
        hash: Set(hash(&secret)),
        owner_id: Set(owner.id),
        role: Set(new.role.as_str().to_string()),
        scopes: Set(stored_scopes),
        created_at: Set(Utc::now()),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Created { key: KeyInfo::new(row, owner.username)?, token: format!("{KEY_START}{prefix}_{secret}") })
}

/// Every key (`owner: None`) or one account's, newest first.
pub async fn list(db: &impl ConnectionTrait, owner: Option<i32>) -> Result<Vec<KeyInfo>> {
    let mut query =
        api_keys::Entity::find().order_by_desc(api_keys::Column::CreatedAt).order_by_desc(api_keys::Column::Id);
    if let Some(id) = owner {
        query = query.filter(api_keys::Column::OwnerId.eq(id));
    }
    let rows = query.all(db).await?;
    let ids: HashSet<i32> = rows.iter().map(|r| r.owner_id).collect();
    let names: HashMap<i32, String> = admin_users::Entity::find()
        .filter(admin_users::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.username))
        .collect();
    rows.into_iter()
        .map(|r| {
            let owner = names.get(&r.owner_id).cloned().unwrap_or_else(|| format!("#{}", r.owner_id));
            KeyInfo::new(r, owner)
        })
        .collect()
}

/// One key, or `NotFound`.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> Result<KeyInfo> {
    let row =
        api_keys::Entity::find_by_id(id).one(db).await?.ok_or_else(|| Error::NotFound(format!("API key #{id}")))?;
    let owner =
        accounts::get(db, row.owner_id).await.map(|a| a.username).unwrap_or_else(|_| format!("#{}", row.owner_id));
    KeyInfo::new(row, owner)
}

/// Revokes a key at once (its next request gets 401). Returns the key and whether it was active until now.
pub async fn revoke(db: &impl ConnectionTrait, id: i32) -> Result<(KeyInfo, bool)> {
    let key = get(db, id).await?;
    if key.revoked_at.is_some() {
        return Ok((key, false));
    }
    let row =
        api_keys::Entity::find_by_id(id).one(db).await?.ok_or_else(|| Error::NotFound(format!("API key #{id}")))?;
    let mut row = row.into_active_model();
    row.revoked_at = Set(Some(Utc::now()));
    let row = row.update(db).await?;
    Ok((KeyInfo::new(row, key.owner)?, true))
}

/// Why a bearer token was not accepted (each is a 401; the message may say which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Not shaped like a Strata key, or no key has its prefix, or the secret is wrong.
    Invalid,
    Revoked,
    Expired,
    /// The owner's account is deactivated.
    OwnerInactive,
}

impl Rejected {
    /// What the client is told. Only someone holding the real secret learns more than "not valid".
    pub fn message(self) -> &'static str {
        match self {
            Rejected::Invalid => "the API key is not valid",
            Rejected::Revoked => "the API key has been revoked",
            Rejected::Expired => "the API key has expired",
            Rejected::OwnerInactive => "the API key's account is deactivated",
        }
    }
}

/// A key that checked out, with what it may do now.
#[derive(Clone, Debug)]
pub struct Verified {
    pub key_id: i32,
    pub key_name: String,
    pub prefix: String,
    pub owner_id: i32,
    pub owner: String,
    /// The lower of the key's role and its owner's current role.
    pub role: Role,
    pub scopes: Vec<Scope>,
}

/// Checks a bearer token against the stored hash (in constant time), the revocation, the expiry and the owner.
pub async fn verify(db: &impl ConnectionTrait, token: &str) -> Result<std::result::Result<Verified, Rejected>> {
    let Some((prefix, secret)) = split_token(token) else { return Ok(Err(Rejected::Invalid)) };
    let Some(row) = api_keys::Entity::find().filter(api_keys::Column::Prefix.eq(prefix)).one(db).await? else {
        return Ok(Err(Rejected::Invalid));
    };
    if !bool::from(hash(secret).as_bytes().ct_eq(row.hash.as_bytes())) {
        return Ok(Err(Rejected::Invalid));
    }
    if row.revoked_at.is_some() {
        return Ok(Err(Rejected::Revoked));
    }
    if row.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Ok(Err(Rejected::Expired));
    }
    let Some(owner) = admin_users::Entity::find_by_id(row.owner_id).one(db).await?.filter(|a| a.is_active) else {
        return Ok(Err(Rejected::OwnerInactive));
    };
    let key_role: Role =
        row.role.parse().map_err(|_| Error::Internal(format!("API key #{} has the role {:?}", row.id, row.role)))?;
    Ok(Ok(Verified {
        key_id: row.id,
        role: key_role.min(accounts::role_of(&owner)?),
        scopes: scopes_of(&row.scopes),
        key_name: row.name,
        prefix: row.prefix,
        owner_id: owner.id,
        owner: owner.username,
    }))
}

/// `(prefix, secret)` of a well-formed token.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let (prefix, secret) = token.strip_prefix(KEY_START)?.split_once('_')?;
    let hex =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex(prefix, PREFIX_LEN) && hex(secret, SECRET_LEN)).then_some((prefix, secret))
}

fn hash(secret: &str) -> String {
    crate::hex::sha256(secret.as_bytes(), 32)
}

fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

/// Keys used since the last flush. A request only notes its key here; [`Usage::flush`] writes
/// `last_used_at` for all of them in one UPDATE, so a burst of requests costs no write each.
#[derive(Debug, Default)]
pub struct Usage {
    used: Mutex<HashSet<i32>>,
}

impl Usage {
    /// Remembers that key `id` was used just now.
    pub fn note(&self, id: i32) {
        self.used.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
    }

    /// Writes `last_used_at = now` for every key noted since the last flush; returns how many.
    /// On failure the keys are kept for the next flush.
    pub async fn flush(&self, db: &impl ConnectionTrait) -> Result<usize> {
        let ids: Vec<i32> =
            std::mem::take(&mut *self.used.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let written = api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, Expr::value(Utc::now()))
            .filter(api_keys::Column::Id.is_in(ids.clone()))
            .exec(db)
            .await;
        match written {
            Ok(_) => Ok(ids.len()),
            Err(e) => {
                self.used.lock().unwrap_or_else(|p| p.into_inner()).extend(ids);
                Err(e.into())
            }
        }
    }

    /// Flushes every `every` until the task is dropped (`serve` runs it, and flushes once more at shutdown).
    pub async fn flush_every(self: Arc<Self>, db: sea_orm::DatabaseConnection, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.flush(&db).await {
                tracing::warn!(error = %e, "recording API key use failed; retrying at the next flush");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_into_prefix_and_secret_only_when_well_formed() {
        let secret = "a".repeat(SECRET_LEN);
        let token = format!("strata_0123456789ab_{secret}");
        assert_eq!(split_token(&token), Some(("0123456789ab", secret.as_str())));
        for bad in [
            "",
            "strata_",
            "Bearer strata_0123456789ab_x",
            &format!("other_0123456789ab_{secret}"),
            &format!("strata_0123456789a_{secret}"),
            &format!("strata_0123456789ab_{secret}0"),
            &format!("strata_0123456789AB_{secret}"),
        ] {
            assert_eq!(split_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn random_parts_are_hex_of_the_right_length() {
        let (a, b) = (random_hex(SECRET_LEN), random_hex(SECRET_LEN));
        assert_eq!(a.len(), SECRET_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn scopes_parse_by_name_and_unknown_stored_names_are_skipped() {
        assert_eq!("run_sql".parse::<Scope>().unwrap(), Scope::RunSql);
        assert!("root".parse::<Scope>().is_err());
        assert_eq!(scopes_of("read_catalog  from_the_future run_sql"), vec![Scope::ReadCatalog, Scope::RunSql]);
        assert!(scopes_of("").is_empty());
    }
}
