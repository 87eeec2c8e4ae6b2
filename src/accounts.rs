//! Dashboard accounts: roles, argon2id hashing, creation, and the first admin.

use std::fmt;
use std::str::FromStr;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::Utc;
use entity::admin_users;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::error::{Error, Result};

/// Shortest password Strata accepts.
pub const MIN_PASSWORD_LEN: usize = 8;

/// What an account may do; each role includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
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
        if !u.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return Err(Error::BadRequest("the username may contain letters, digits, '_', '-' and '.' only".into()));
        }
        let e = self.email.trim();
        let at = e.find('@');
        if e.len() > 255 || at.is_none_or(|i| i == 0 || i == e.len() - 1) || e.contains(char::is_whitespace) {
            return Err(Error::BadRequest(format!("{e:?} is not an email address")));
        }
        if self.password.chars().count() < MIN_PASSWORD_LEN {
            return Err(Error::BadRequest(format!("the password must have at least {MIN_PASSWORD_LEN} characters")));
        }
        Ok(())
    }
}

/// Creates an account; a taken username or email is a clear error, not a constraint dump.
pub async fn create(db: &DatabaseConnection, new: NewAccount) -> Result<admin_users::Model> {
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

/// Makes sure an active admin exists. Returns the generated password when it had to make one up.
pub async fn ensure_admin(db: &DatabaseConnection, configured: Option<String>) -> Result<Option<(String, String)>> {
    let admins = admin_users::Entity::find()
        .filter(admin_users::Column::Role.eq("admin"))
        .filter(admin_users::Column::IsActive.eq(true))
        .count(db)
        .await?;
    if admins > 0 {
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
    create(
        db,
        NewAccount {
            email: format!("{username}@localhost"),
            username: username.clone(),
            role: Role::Admin,
            password: password.clone(),
        },
    )
    .await?;
    Ok(generated.then_some((username, password)))
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
