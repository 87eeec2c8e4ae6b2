//! Dashboard accounts: roles, argon2id hashing, creation, and the first admin.

use std::fmt;
use std::str::FromStr;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::Utc;
use entity::admin_users;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::error::{Error, Result};

/// Shortest password Strata accepts.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Longest password Strata accepts (hashing cost grows with the length).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// What an account may do; each role includes the ones below it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    /// Every role, lowest first (for role pickers).
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(Error::BadRequest(format!("unknown role {other:?}: use admin, editor or viewer"))),
        }
    }
}

/// The role an account row holds (a CHECK constraint allows only the three).
pub fn role_of(account: &admin_users::Model) -> Result<Role> {
    account
        .role
        .parse()
        .map_err(|_| Error::Internal(format!("account #{} has the role {:?}", account.id, account.role)))
}

/// Hashes a password with argon2id (default parameters) off the async threads.
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("hashing a password failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

/// Checks a password against a stored PHC string off the async threads; a malformed hash never matches.
pub async fn verify_password(hash: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok())
        .await
        .unwrap_or(false)
}

/// A new account's details, checked before anything is written.
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub role: Role,
    pub password: String,
}

impl NewAccount {
    fn validate(&self) -> Result<()> {
        let u = self.username.trim();
        if u.is_empty() || u.chars().count() > 50 {
            return Err(Error::BadRequest("the username must have 1 to 50 characters".into()));
        }
        if !plausible_username(u) {
            return Err(Error::BadRequest("the username may contain letters, digits, '_', '-' and '.' only".into()));
        }
        let e = self.email.trim();
        let at = e.find('@');
        let odd = |c: char| c.is_whitespace() || c.is_control();
        if e.chars().count() > 255 || at.is_none_or(|i| i == 0 || i == e.len() - 1) || e.contains(odd) {
            return Err(Error::BadRequest(format!("{e:?} is not an email address")));
        }
        validate_password(&self.password)
    }
}

/// Whether a name could belong to an account: 1 to 50 letters, digits, `_`, `-` and `.`.
pub fn plausible_username(name: &str) -> bool {
    let n = name.chars().count();
    (1..=50).contains(&n) && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Refuses passwords that are too short or absurdly long.
pub fn validate_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(Error::BadRequest(format!("the password must have at least {MIN_PASSWORD_LEN} characters")));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(Error::BadRequest(format!("the password must have at most {MAX_PASSWORD_LEN} characters")));
    }
    Ok(())
}

/// Creates an account; a taken username or email is a clear error, not a constraint dump.
pub async fn create(db: &impl ConnectionTrait, new: NewAccount) -> Result<admin_users::Model> {
    new.validate()?;
    let username = new.username.trim().to_string();
    let email = new.email.trim().to_string();
    let taken = admin_users::Entity::find()
        .filter(admin_users::Column::Username.eq(&username).or(admin_users::Column::Email.eq(&email)))
        .one(db)
        .await?;
    if let Some(t) = taken {
        let what = if t.username == username { "username" } else { "email" };
        return Err(Error::BadRequest(format!("an account with that {what} already exists")));
    }
    let now = Utc::now();
    let row = admin_users::ActiveModel {
        username: Set(username),
        email: Set(email),
        password_hash: Set(hash_password(new.password).await?),
        role: Set(new.role.as_str().to_string()),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

/// Makes sure an active admin exists. Returns the generated password when it had to make one up. Several
/// instances starting together on one home database may race here: the one whose insert loses finds the
/// winner's admin and goes on.
pub async fn ensure_admin(db: &DatabaseConnection, configured: Option<String>) -> Result<Option<(String, String)>> {
    if active_admins(db).await? > 0 {
        return Ok(None);
    }
    let generated = configured.is_none();
    let password = configured.unwrap_or_else(generate_password);
    // "admin" may exist as a deactivated or demoted account: pick a free name.
    let mut username = "admin".to_string();
    let mut n = 1;
    while admin_users::Entity::find().filter(admin_users::Column::Username.eq(&username)).one(db).await?.is_some() {
        n += 1;
        username = format!("admin{n}");
    }
    let created = create(
        db,
        NewAccount {
            email: format!("{username}@localhost"),
            username: username.clone(),
            role: Role::Admin,
            password: password.clone(),
        },
    )
    .await;
    match created {
        Ok(_) => Ok(generated.then_some((username, password))),
        Err(_) if active_admins(db).await? > 0 => Ok(None),
        Err(e) => Err(e),
    }
}

async fn active_admins(db: &DatabaseConnection) -> Result<u64> {
    Ok(admin_users::Entity::find()
        .filter(admin_users::Column::Role.eq("admin"))
        .filter(admin_users::Column::IsActive.eq(true))
        .count(db)
        .await?)
}

/// Why a sign-in failed. The user is told only "wrong username or password"; the audit log gets this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginFailure {
    UnknownAccount,
    WrongPassword,
    Deactivated,
}

impl LoginFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFailure::UnknownAccount => "unknown account",
            LoginFailure::WrongPassword => "wrong password",
            LoginFailure::Deactivated => "account deactivated",
        }
    }
}

/// Checks a username and password. Always verifies one argon2 hash (a throw-away one for unknown
/// names), so the answer takes about as long whether or not the account exists.
/// Usernames match exactly on every backend (MariaDB's default collation would ignore case).
pub async fn authenticate(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> Result<std::result::Result<admin_users::Model, LoginFailure>> {
    // A name no account can have is not looked up (PostgreSQL refuses NUL bytes in text, for one).
    let account = if plausible_username(username) {
        admin_users::Entity::find()
            .filter(admin_users::Column::Username.eq(username))
            .one(db)
            .await?
            .filter(|a| a.username == username)
    } else {
        None
    };
    let hash = match &account {
        Some(a) => a.password_hash.clone(),
        None => dummy_hash().await?,
    };
    let matches = password.chars().count() <= MAX_PASSWORD_LEN && verify_password(hash, password.to_string()).await;
    Ok(match account {
        None => Err(LoginFailure::UnknownAccount),
        Some(_) if !matches => Err(LoginFailure::WrongPassword),
        Some(a) if !a.is_active => Err(LoginFailure::Deactivated),
        Some(a) => Ok(a),
    })
}

/// A hash of a random password, made once per process, to verify against for unknown usernames.
async fn dummy_hash() -> Result<String> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY.get_or_try_init(|| hash_password(generate_password())).await.cloned()
}

/// Records a successful sign-in.
pub async fn touch_last_login(db: &DatabaseConnection, id: i32) -> Result<()> {
    admin_users::Entity::update_many()
        .col_expr(admin_users::Column::LastLoginAt, sea_orm::sea_query::Expr::value(Utc::now()))
        .filter(admin_users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Every account, admins first, then by name.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<admin_users::Model>> {
    Ok(admin_users::Entity::find()
        .order_by_asc(admin_users::Column::Role)
        .order_by_asc(admin_users::Column::Username)
        .all(db)
        .await?)
}

/// The account with exactly this username (MariaDB's collation would also match other cases).
pub async fn find_by_username(db: &impl ConnectionTrait, username: &str) -> Result<Option<admin_users::Model>> {
    Ok(admin_users::Entity::find()
        .filter(admin_users::Column::Username.eq(username))
        .one(db)
        .await?
        .filter(|a| a.username == username))
}

/// One account, or `NotFound`.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> Result<admin_users::Model> {
    admin_users::Entity::find_by_id(id).one(db).await?.ok_or_else(|| Error::NotFound(format!("account #{id}")))
}

/// Locks the account and every active admin for the rest of `txn` (`FOR UPDATE`; SQLite's write lock
/// serializes anyway), so two admins demoting each other at once cannot leave none.
async fn lock_for_change(txn: &DatabaseTransaction, id: i32) -> Result<admin_users::Model> {
    admin_users::Entity::find()
        .filter(admin_users::Column::Role.eq(Role::Admin.as_str()))
        .filter(admin_users::Column::IsActive.eq(true))
        .lock_exclusive()
        .all(txn)
        .await?;
    admin_users::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("account #{id}")))
}

/// Refuses a change that would leave no active admin.
async fn keep_an_admin(txn: &DatabaseTransaction, account: &admin_users::Model) -> Result<()> {
    if account.role != Role::Admin.as_str() || !account.is_active {
        return Ok(());
    }
    let others = admin_users::Entity::find()
        .filter(admin_users::Column::Role.eq(Role::Admin.as_str()))
        .filter(admin_users::Column::IsActive.eq(true))
        .filter(admin_users::Column::Id.ne(account.id))
        .count(txn)
        .await?;
    if others == 0 {
        return Err(Error::BadRequest(format!(
            "the account {} is the last active admin: make another account an admin first",
            account.username
        )));
    }
    Ok(())
}

/// Gives an account another role; returns the role it had and the account after the change.
pub async fn set_role(txn: &DatabaseTransaction, id: i32, role: Role) -> Result<(Role, admin_users::Model)> {
    let account = lock_for_change(txn, id).await?;
    let before = role_of(&account)?;
    if before == role {
        return Ok((before, account));
    }
    if before == Role::Admin {
        keep_an_admin(txn, &account).await?;
    }
    let mut row = account.into_active_model();
    row.role = Set(role.as_str().to_string());
    row.updated_at = Set(Utc::now());
    Ok((before, row.update(txn).await?))
}

/// Deactivates or reactivates an account; a deactivated account cannot sign in and its sessions end.
pub async fn set_active(txn: &DatabaseTransaction, id: i32, active: bool) -> Result<admin_users::Model> {
    let account = lock_for_change(txn, id).await?;
    if account.is_active == active {
        return Ok(account);
    }
    if !active {
        keep_an_admin(txn, &account).await?;
    }
    let mut row = account.into_active_model();
    row.is_active = Set(active);
    row.updated_at = Set(Utc::now());
    Ok(row.update(txn).await?)
}

/// Sets a new password (checked for length first); the account's other sessions end.
pub async fn set_password(db: &impl ConnectionTrait, id: i32, password: String) -> Result<admin_users::Model> {
    validate_password(&password)?;
    let hash = hash_password(password).await?;
    let account = get(db, id).await?;
    let mut row = account.into_active_model();
    row.password_hash = Set(hash);
    row.updated_at = Set(Utc::now());
    Ok(row.update(db).await?)
}

/// 20 random characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(hash.clone(), "correct horse".into()).await);
        assert!(!verify_password(hash, "wrong horse".into()).await);
        assert!(!verify_password("not a hash".into(), "x".into()).await);
    }

    #[test]
    fn roles_parse_and_order() {
        assert_eq!("Admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Viewer);
    }

    #[test]
    fn bad_accounts_are_refused_before_writing() {
        let base = || NewAccount {
            username: "ann".into(),
            email: "ann@example.com".into(),
            role: Role::Viewer,
            password: "long enough".into(),
        };
        assert!(base().validate().is_ok());
        assert!(NewAccount { password: "short".into(), ..base() }.validate().is_err());
        assert!(NewAccount { email: "nope".into(), ..base() }.validate().is_err());
        assert!(NewAccount { username: "a b; drop".into(), ..base() }.validate().is_err());
    }
}
