//! The login read-only runs use: `viewer_url`, or the viewer login Strata creates itself, or — only when it can do
//! nothing but read — the main login; never silently a login that can do more.
//!
//! [`privileges`] asks the database what the main login may do beyond reading (PostgreSQL superuser, `CREATEROLE`,
//! `pg_signal_backend`, ...; MariaDB `FILE`, `SUPER`, `PROCESS`, ...). [`create`] makes a login with read grants
//! only on the watched database's tables and keeps its password sealed in the home database's `strata_secrets`.
//! [`Logins`] decides, once and then on every change, which login read-only runs connect with.

mod mysql;
mod postgres;

use std::path::PathBuf;

use rand::distr::{Alphanumeric, SampleString};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::RwLock;

use crate::config::{Backend, ConfigError, DatabaseUrl};
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::home::secrets::{self, Keyring};

/// The name a watched database's viewer login password is stored under in the home database's `strata_secrets`.
pub fn secret_name(database: &str) -> String {
    format!("viewer_login:{database}")
}

/// Where the created login's password is kept: the home database, the key file, and the watched database's name.
#[derive(Clone, Copy)]
pub struct Home<'a> {
    pub db: &'a DatabaseConnection,
    pub key_file: &'a std::path::Path,
    pub name: &'a str,
}

/// Length of the generated password (alphanumeric, so it is safe inside a quoted literal in DDL).
pub const PASSWORD_LEN: usize = 40;

/// What a login may do beyond reading, by name; empty when it only reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privileges(pub Vec<String>);

impl Privileges {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Privileges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

/// What the main login (the one `db` is connected with) may do beyond reading. SQLite has no logins: empty.
pub async fn privileges(db: &DatabaseConnection) -> Result<Privileges> {
    let found = match db.get_database_backend() {
        DbBackend::Postgres => postgres::privileges(db).await?,
        DbBackend::MySql => mysql::privileges(db).await?,
        _ => Vec::new(),
    };
    Ok(Privileges(found))
}

/// Where the login read-only runs use comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `viewer_url` in the configuration (it wins over a created login).
    Configured,
    /// The login Strata created (`strata viewer-login create`, or the admin page).
    Created,
}

/// Which login read-only runs connect with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadLogin {
    /// A login with read grants only.
    Viewer { url: DatabaseUrl, origin: Origin },
    /// The main login, inside a read-only transaction: SQLite, or a server login that holds nothing beyond reading.
    Main,
    /// None: the main login can do more than read (these), and no viewer login exists. Read-only runs are refused.
    Refused(Privileges),
}

impl ReadLogin {
    /// One line for logs and the admin page.
    pub fn describe(&self) -> String {
        match self {
            ReadLogin::Viewer { url, origin: Origin::Configured } => {
                format!("read-only runs use viewer_url ({url})")
            }
            ReadLogin::Viewer { url, origin: Origin::Created } => {
                format!("read-only runs use the viewer login Strata created ({})", url.user().unwrap_or_default())
            }
            ReadLogin::Main => "read-only runs use the main login in a read-only transaction".into(),
            ReadLogin::Refused(p) => format!("read-only runs are refused: the main login can do more than read ({p})"),
        }
    }
}

/// The refusal a read-only run gets when no login that can only read exists.
pub fn refusal(privileges: &Privileges) -> Error {
    Error::ViewerLoginRequired(format!(
        "read-only runs are refused: Strata's main database login can do more than read ({privileges}), and \
         read-only runs need a login that can only read. Set viewer_url to such a login, or have an admin \
         create one (Admin › Viewer login, or `strata viewer-login create`)"
    ))
}

/// The viewer login's name for a database: `strata_viewer_<db>` in lower-case letters, digits and `_`, cut to
/// the backend's limit (PostgreSQL 63 bytes, MySQL 32 characters) with a short hash of the whole name when cut.
pub fn login_name(backend: Backend, database: &str) -> String {
    let limit = if backend == Backend::MySql { 32 } else { 63 };
    let clean: String =
        database.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    let full = format!("strata_viewer_{clean}");
    if full.len() <= limit {
        return full;
    }
    let hash = crate::hex::sha256(database.as_bytes(), 4);
    format!("{}_{hash}", &full[..limit - 9])
}

/// A random alphanumeric password of [`PASSWORD_LEN`] characters.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LEN)
}

/// What [`create`] did.
#[derive(Clone, Debug)]
pub struct Created {
    /// The login's name.
    pub user: String,
    /// The login existed already (its grants were refreshed; its password changed only when rotated).
    pub existed: bool,
    /// Its password was newly generated.
    pub new_password: bool,
    /// The URL read-only runs now use (main URL, this login).
    pub url: DatabaseUrl,
}

fn database_of(main: &DatabaseUrl) -> Result<String> {
    main.database_name()
        .ok_or_else(|| Error::BadRequest("the database URL names no database: a viewer login needs one".into()))
}

/// Creates the viewer login for the main URL's database (or refreshes its grants when it exists), seals its
/// password in `strata_secrets` and gives back its URL. `rotate` gives an existing login a new password. A login
/// of that name that Strata holds no password for is refused unless `rotate` (it would take it over).
pub async fn create(
    home: &DatabaseConnection,
    name: &str,
    db: &DatabaseConnection,
    main: &DatabaseUrl,
    keyring: &Keyring,
    rotate: bool,
) -> Result<Created> {
    let backend = main.backend();
    if backend == Backend::Sqlite {
        return Err(Error::Unsupported(
            "SQLite has no logins: read-only runs use a read-only connection to the file, no viewer login is needed"
                .into(),
        ));
    }
    let database = database_of(main)?;
    let user = login_name(backend, &database);
    let stored = secrets::get(home, keyring, &secret_name(name)).await?.filter(|(label, _)| *label == user);
    let existed = match backend {
        Backend::Postgres => postgres::exists(db, &user).await?,
        _ => mysql::exists(db, &user).await?,
    };
    if existed && stored.is_none() && !rotate {
        return Err(Error::Conflict(format!(
            "a database login named {user} exists, but Strata holds no password for it: drop it, or create again \
             with --rotate to give it a new password and take it over"
        )));
    }
    let (password, new_password) = match stored {
        Some((_, pw)) if !rotate => (pw, false),
        _ => (generate_password(), true),
    };
    match backend {
        Backend::Postgres => postgres::create(db, &database, &user, &password).await?,
        _ => mysql::create(db, &database, &user, &password).await?,
    }
    secrets::put(home, keyring, &secret_name(name), &user, &password).await?;
    let url = main.with_login(&user, &password)?;
    Ok(Created { user, existed, new_password, url })
}

/// Drops the viewer login of the main URL's database and forgets its password; false when there was none.
pub async fn drop(home: &DatabaseConnection, name: &str, db: &DatabaseConnection, main: &DatabaseUrl) -> Result<bool> {
    let database = database_of(main)?;
    let user = login_name(main.backend(), &database);
    let dropped = match main.backend() {
        Backend::Postgres => postgres::drop(db, &user).await?,
        Backend::MySql => mysql::drop(db, &user).await?,
        Backend::Sqlite => false,
    };
    let forgotten = secrets::delete(home, &secret_name(name)).await?;
    Ok(dropped || forgotten)
}

/// The created viewer login's URL, when one is stored. A stored password without its key file is an error.
async fn stored(home: Home<'_>, main: &DatabaseUrl) -> Result<Option<DatabaseUrl>> {
    let name = secret_name(home.name);
    if secrets::label(home.db, &name).await?.is_none() {
        return Ok(None);
    }
    let keyring = Keyring::open(home.key_file)?.ok_or_else(|| ConfigError::KeyFile {
        path: home.key_file.to_path_buf(),
        reason: "does not exist, but the viewer login's password is stored sealed with it: restore the file, or \
                 run `strata viewer-login create --rotate`"
            .into(),
    })?;
    let Some((user, password)) = secrets::get(home.db, &keyring, &name).await? else { return Ok(None) };
    Ok(Some(main.with_login(&user, &password)?))
}

/// Decides which login read-only runs use: `viewer_url`, else the created login, else the main login when it can
/// only read (SQLite, or an engine on its own away from Strata's tables), else a refusal naming what it can do.
/// `key_file` is `None` where Strata's own tables are not at hand (an engine made on its own): then no created
/// login is looked for.
pub async fn resolve(
    home: Option<Home<'_>>,
    db: &DatabaseConnection,
    main: &DatabaseUrl,
    configured: Option<&DatabaseUrl>,
) -> Result<ReadLogin> {
    if let Some(url) = configured {
        return Ok(ReadLogin::Viewer { url: url.clone(), origin: Origin::Configured });
    }
    if main.backend() == Backend::Sqlite {
        return Ok(ReadLogin::Main);
    }
    if let Some(home) = home
        && let Some(url) = stored(home, main).await?
    {
        return Ok(ReadLogin::Viewer { url, origin: Origin::Created });
    }
    let mut p = privileges(db).await?;
    if home.is_some() {
        // The dashboard does not take the database's main login for read-only runs unless it is known to only read:
        // an owner login (the usual one an application hands out) may write every table.
        p.0.push(MAIN_LOGIN_UNVERIFIED.into());
    }
    Ok(if p.is_empty() { ReadLogin::Main } else { ReadLogin::Refused(p) })
}

/// How a refusal names a main login that is not known to only read.
pub const MAIN_LOGIN_UNVERIFIED: &str =
    "it is the database's main login, which Strata does not take for read-only runs: it may write";

/// Which login read-only runs use, decided at the first one and again after every change ([`Logins::forget`]);
/// a refusal is not kept, so a login created meanwhile counts at the next run.
#[derive(Debug)]
pub struct Logins {
    main: DatabaseUrl,
    configured: Option<DatabaseUrl>,
    /// The home database (where the created login's password is), the key file and the watched database's
    /// name, and the watched database's pool; without them (an engine made on its own) only the main login's
    /// privileges decide.
    home: Option<(DatabaseConnection, PathBuf, String, DatabaseConnection)>,
    current: RwLock<Option<ReadLogin>>,
}

impl Logins {
    /// For an engine on its own: `viewer_url` when given, else the main login only when it can only read.
    pub fn new(main: DatabaseUrl, configured: Option<DatabaseUrl>) -> Logins {
        Logins { main, configured, home: None, current: RwLock::new(None) }
    }

    /// For the dashboard: also the login Strata created for the watched database `name`, its password read from
    /// `home` with the key in `key_file`; `target` is the watched database's pool.
    pub fn with_home(
        name: String,
        main: DatabaseUrl,
        configured: Option<DatabaseUrl>,
        home: DatabaseConnection,
        target: DatabaseConnection,
        key_file: PathBuf,
    ) -> Logins {
        Logins { main, configured, home: Some((home, key_file, name, target)), current: RwLock::new(None) }
    }

    /// The login read-only runs use now (decided on first use).
    pub async fn current(&self) -> Result<ReadLogin> {
        if let Some(known) = self.current.read().await.clone() {
            return Ok(known);
        }
        let mut slot = self.current.write().await;
        if let Some(known) = slot.clone() {
            return Ok(known);
        }
        let decided = match &self.home {
            Some((home, key_file, name, target)) => {
                let home = Home { db: home, key_file, name };
                resolve(Some(home), target, &self.main, self.configured.as_ref()).await?
            }
            None => {
                let db = db::connect(&self.main, Purpose::Cli).await?;
                let decided = resolve(None, &db, &self.main, self.configured.as_ref()).await;
                db.close().await.ok();
                decided?
            }
        };
        // A refusal is decided again at the next run: a viewer login created meanwhile (from the CLI, by another
        // instance) is taken up at once.
        if !matches!(decided, ReadLogin::Refused(_)) {
            *slot = Some(decided.clone());
        }
        Ok(decided)
    }

    /// The URL a read-only run connects with, or the refusal.
    pub async fn read_url(&self) -> Result<DatabaseUrl> {
        match self.current().await? {
            ReadLogin::Viewer { url, .. } => Ok(url),
            ReadLogin::Main => Ok(self.main.clone()),
            ReadLogin::Refused(p) => Err(refusal(&p)),
        }
    }

    /// Decide again at the next read-only run (after a viewer login was created or dropped).
    pub async fn forget(&self) {
        *self.current.write().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_are_plain_and_fit_the_backends_limits() {
        assert_eq!(login_name(Backend::Postgres, "app"), "strata_viewer_app");
        assert_eq!(login_name(Backend::Postgres, "My-App"), "strata_viewer_my_app");
        let long = "strata_t_123456_7_89012_and_more";
        let my = login_name(Backend::MySql, long);
        assert_eq!(my.len(), 32, "{my}");
        assert!(my.starts_with("strata_viewer_"));
        assert_ne!(my, login_name(Backend::MySql, "strata_t_123456_7_89012_and_less"), "a hash keeps cut names apart");
        assert!(login_name(Backend::Postgres, &"x".repeat(100)).len() <= 63);
    }

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_differ() {
        let a = generate_password();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, generate_password());
    }

    #[test]
    fn the_refusal_names_the_privileges_and_both_ways_out() {
        let msg = refusal(&Privileges(vec!["superuser".into()])).to_string();
        for part in ["can do more than read (superuser)", "viewer_url", "strata viewer-login create", "Viewer login"] {
            assert!(msg.contains(part), "{part} missing from: {msg}");
        }
    }
}
