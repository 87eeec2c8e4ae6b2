//! Database URLs: SQLAlchemy and sqlx spellings parsed into one [`DatabaseUrl`] that never shows its password.

use std::fmt;
use std::path::{Path, PathBuf};

use ::url::Url;

use super::ConfigError;

/// SQLAlchemy (and sqlx) schemes that name PostgreSQL.
const POSTGRES_SCHEMES: &[&str] =
    &["postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg", "postgresql+asyncpg", "postgresql+pg8000"];

/// SQLAlchemy (and sqlx) schemes that name MySQL or MariaDB.
const MYSQL_SCHEMES: &[&str] = &[
    "mysql",
    "mysql+pymysql",
    "mysql+mysqldb",
    "mysql+mysqlconnector",
    "mysql+aiomysql",
    "mysql+asyncmy",
    "mariadb",
    "mariadb+mariadbconnector",
    "mariadb+pymysql",
];

/// SQLAlchemy (and sqlx) schemes that name SQLite.
const SQLITE_SCHEMES: &[&str] = &["sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"];

/// Query parameters the sqlx PostgreSQL driver understands (its aliases included).
const POSTGRES_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "application_name",
    "options",
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "statement-cache-capacity",
    "connect_timeout",
];

/// Query parameters the sqlx MySQL driver understands (its aliases included).
const MYSQL_PARAMS: &[&str] = &[
    "ssl-mode",
    "sslmode",
    "ssl-ca",
    "sslca",
    "ssl-cert",
    "sslcert",
    "ssl-key",
    "sslkey",
    "charset",
    "collation",
    "socket",
    "statement-cache-capacity",
    "timezone",
    "time-zone",
];

/// Query parameters the sqlx SQLite driver understands.
const SQLITE_PARAMS: &[&str] = &["mode", "cache", "immutable", "vfs"];

/// libpq's `sslmode` values, which asyncpg also accepts as `ssl=`.
const PG_SSL_MODES: &[&str] = &["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/// Where the database lives when nothing is configured, relative to the current directory.
pub const DEFAULT_SQLITE_PATH: &str = "./data/strata.db";

/// The project database when nothing names one: the example project, created and migrated on first start.
pub const EXAMPLE_SQLITE_PATH: &str = "./data/example.db";

/// The database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB (one driver serves both).
    MySql,
    /// SQLite, a file or in memory.
    Sqlite,
}

impl Backend {
    fn from_scheme(scheme: &str) -> Option<Backend> {
        if POSTGRES_SCHEMES.contains(&scheme) {
            Some(Backend::Postgres)
        } else if MYSQL_SCHEMES.contains(&scheme) {
            Some(Backend::MySql)
        } else if SQLITE_SCHEMES.contains(&scheme) {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }

    /// The query parameters sqlx understands for this backend.
    fn known_params(self) -> &'static [&'static str] {
        match self {
            Backend::Postgres => POSTGRES_PARAMS,
            Backend::MySql => MYSQL_PARAMS,
            Backend::Sqlite => SQLITE_PARAMS,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MySQL/MariaDB",
            Backend::Sqlite => "SQLite",
        })
    }
}

/// Every accepted scheme, for error messages.
pub(crate) fn accepted_schemes() -> String {
    POSTGRES_SCHEMES
        .iter()
        .chain(MYSQL_SCHEMES)
        .chain(SQLITE_SCHEMES)
        .map(|s| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A parsed database URL.
///
/// Holds the sqlx-native URL the driver connects with and a masked form for
/// everything a person may see: `Display` and `Debug` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    connect: String,
    masked: String,
    search_path: Option<String>,
    sqlite_path: Option<PathBuf>,
    memory: bool,
    database: Option<String>,
    warnings: Vec<String>,
}

impl DatabaseUrl {
    /// Parses a SQLAlchemy URL as written in alembic.ini (`postgresql+psycopg2://…`,
    /// `mysql+pymysql://…`, `sqlite:///relative.db`, …) or a sqlx one
    /// (`postgres://…`, `sqlite:path.db`, `sqlite::memory:`).
    ///
    /// Relative SQLite paths are resolved against the current directory, as
    /// SQLAlchemy does. Query parameters the driver would not understand are
    /// dropped and reported by [`DatabaseUrl::warnings`].
    pub fn parse(input: &str) -> Result<DatabaseUrl, ConfigError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(invalid(
                input,
                "the URL is empty; expected for example postgresql://user:password@localhost:5432/dbname",
            ));
        }
        let Some((scheme, rest)) = split_scheme(input) else {
            return Err(invalid(
                input,
                "expected scheme://…, for example postgresql://user:password@localhost:5432/dbname",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        match Backend::from_scheme(&scheme) {
            Some(Backend::Sqlite) => Ok(parse_sqlite(input, rest)),
            Some(backend) => parse_network(input, rest, backend),
            None => Err(ConfigError::UnsupportedScheme {
                hint: scheme_hint(&scheme),
                scheme,
                url: mask_url_str(input),
                origin: None,
            }),
        }
    }

    /// The project database used when nothing is configured: `./data/example.db`.
    ///
    /// The caller creates the folder, see [`DatabaseUrl::ensure_sqlite_parent_dir`].
    pub fn default_sqlite() -> DatabaseUrl {
        sqlite_file(format!("sqlite:///{EXAMPLE_SQLITE_PATH}"), Path::new(EXAMPLE_SQLITE_PATH), Vec::new(), Vec::new())
    }

    /// The home database used when nothing names one: `./data/strata.db`.
    pub fn default_home() -> DatabaseUrl {
        sqlite_file(format!("sqlite:///{DEFAULT_SQLITE_PATH}"), Path::new(DEFAULT_SQLITE_PATH), Vec::new(), Vec::new())
    }

    /// The database engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The same database reached with another login (user name and password); the user name as
    /// [`DatabaseUrl::user`] gives it back. Only server URLs have logins.
    pub fn with_login(&self, user: &str, password: &str) -> Result<DatabaseUrl, ConfigError> {
        let mut url = Url::parse(&self.connect).map_err(|e| invalid(&self.masked, e.to_string()))?;
        let refused = || invalid(&self.masked, "this URL has no login to replace");
        url.set_username(user).map_err(|_| refused())?;
        url.set_password(Some(password)).map_err(|_| refused())?;
        let mut other = self.clone();
        other.connect = url.to_string();
        other.masked = mask_url_str(&other.connect);
        Ok(other)
    }

    /// Another database on the same server with the same login (a server URL), or another SQLite file.
    pub fn with_database(&self, name: &str) -> Result<DatabaseUrl, ConfigError> {
        if self.backend == Backend::Sqlite {
            return DatabaseUrl::parse(&format!("sqlite:///{name}"));
        }
        let mut url = Url::parse(&self.connect).map_err(|e| invalid(&self.masked, e.to_string()))?;
        url.set_path(&format!("/{name}"));
        DatabaseUrl::parse(url.as_str())
    }

    /// The password in the URL (percent-decoded), if it has one. Hand it to the key file's sealing and nowhere else.
    pub fn password(&self) -> Option<String> {
        let url = Url::parse(&self.connect).ok()?;
        let raw = url.password()?;
        let password = percent_encoding::percent_decode_str(raw).decode_utf8().ok()?.into_owned();
        (!password.is_empty()).then_some(password)
    }

    /// The URL with the password removed, in a form [`DatabaseUrl::parse`] reads back as the same database: what
    /// Strata may store as text (a SQLite file as `sqlite:////absolute/path`, a server URL in its sqlx form).
    pub fn without_password(&self) -> String {
        if self.memory {
            return "sqlite://".into();
        }
        if let Some(path) = &self.sqlite_path {
            return format!("sqlite:///{}", path.display());
        }
        match Url::parse(&self.connect) {
            Ok(mut url) if url.password().is_some() => {
                url.set_password(None).ok();
                url.to_string()
            }
            _ => self.connect.clone(),
        }
    }

    /// The user name the URL logs in with (percent-decoded); `None` for SQLite or a URL without one.
    pub fn user(&self) -> Option<String> {
        let url = Url::parse(&self.connect).ok()?;
        let user = percent_encoding::percent_decode_str(url.username()).decode_utf8().ok()?.into_owned();
        (!user.is_empty()).then_some(user)
    }

    /// The sqlx-native URL, password included: hand it to the driver and nowhere else.
    pub fn connect_url(&self) -> &str {
        &self.connect
    }

    /// The PostgreSQL search path given as `schema=` or `search_path=` in the URL.
    pub fn search_path(&self) -> Option<&str> {
        self.search_path.as_deref()
    }

    /// The absolute path of a SQLite database file; `None` for other backends and in-memory SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// Whether this is an in-memory SQLite database (gone when the last connection closes).
    pub fn is_memory(&self) -> bool {
        self.memory
    }

    /// A short name for the database: the database name for PostgreSQL and
    /// MySQL (when the URL has one), the file stem for SQLite, `memory` for in-memory SQLite.
    pub fn database_name(&self) -> Option<String> {
        self.database.clone()
    }

    /// The URL as written, with its password replaced by `***`.
    pub fn masked(&self) -> String {
        self.masked.clone()
    }

    /// Notes about the URL, such as query parameters that were dropped.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Creates the folder that holds the SQLite database file; does nothing for other databases.
    pub fn ensure_sqlite_parent_dir(&self) -> std::io::Result<()> {
        match self.sqlite_path.as_deref().and_then(Path::parent) {
            Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.masked).finish()
    }
}

fn invalid(input: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidUrl { url: mask_url_str(input), reason: reason.into(), origin: None }
}

/// Splits `scheme:rest`, accepting only RFC 3986 scheme characters.
fn split_scheme(input: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = input.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic() && chars.all(is_scheme_char);
    valid.then_some((scheme, rest))
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

fn scheme_hint(scheme: &str) -> String {
    if scheme == "driver" {
        " (this is the placeholder written by `alembic init`; put a real URL in sqlalchemy.url or set DATABASE_URL)"
            .into()
    } else if scheme.starts_with("postgres")
        || scheme.starts_with("mysql")
        || scheme.starts_with("mariadb")
        || scheme.starts_with("sqlite")
    {
        " (this SQLAlchemy dialect+driver is not known; the plain form without \"+driver\" works)".into()
    } else {
        String::new()
    }
}

/// One `key=value` of a query string, the key decoded, the pair kept as written.
struct Param<'a> {
    key: String,
    raw_value: &'a str,
}

impl Param<'_> {
    fn value(&self) -> String {
        form_decode(self.raw_value)
    }

    fn encoded(&self, key: &str) -> String {
        format!("{key}={}", self.raw_value)
    }
}

fn split_query(query: Option<&str>) -> Vec<Param<'_>> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            Param { key: form_decode(key), raw_value }
        })
        .collect()
}

fn dropped(key: &str, backend: Backend) -> String {
    format!("dropped URL parameter \"{key}\" (not understood by the {backend} driver)")
}

/// PostgreSQL and MySQL: `scheme://user:password@host:port/database?params`.
fn parse_network(input: &str, rest: &str, backend: Backend) -> Result<DatabaseUrl, ConfigError> {
    if !rest.starts_with("//") {
        return Err(invalid(
            input,
            "expected \"://\" after the scheme, for example postgresql://user:password@localhost:5432/dbname",
        ));
    }
    let url = Url::parse(input).map_err(|e| invalid(input, describe_parse_error(e)))?;
    if url.fragment().is_some() {
        return Err(invalid(input, "unexpected \"#\"; a \"#\" in the password must be percent-encoded as %23"));
    }

    let mut warnings = Vec::new();
    let mut kept = Vec::new();
    let mut search_path: Option<String> = None;
    let mut has_host_param = false;
    for param in split_query(url.query()) {
        let key = param.key.as_str();
        match (backend, key) {
            (Backend::Postgres, "schema" | "search_path") => {
                let value = param.value();
                if value.is_empty() {
                    continue;
                }
                if let Some(previous) = search_path.as_ref().filter(|p| **p != value) {
                    warnings
                        .push(format!("URL parameter \"{key}\" replaces the search path \"{previous}\" given earlier"));
                }
                search_path = Some(value);
            }
            // asyncpg spells libpq's sslmode as ssl=
            (Backend::Postgres, "ssl") => {
                let value = param.value().to_ascii_lowercase();
                let mode = match value.as_str() {
                    "true" => Some("require"),
                    v => PG_SSL_MODES.iter().copied().find(|m| *m == v),
                };
                match mode {
                    Some(mode) => kept.push(format!("sslmode={mode}")),
                    None => warnings.push(dropped(key, backend)),
                }
            }
            (Backend::MySql, "ssl_ca" | "ssl_cert" | "ssl_key" | "ssl_mode") => {
                kept.push(param.encoded(&key.replace('_', "-")));
            }
            (Backend::Postgres, k) if k.starts_with("options[") && k.ends_with(']') => {
                kept.push(param.encoded(&encode_component(k)));
            }
            (_, k) if backend.known_params().contains(&k) => {
                has_host_param |= matches!(k, "host" | "hostaddr" | "socket");
                kept.push(param.encoded(k));
            }
            (_, k) => warnings.push(dropped(k, backend)),
        }
    }

    let host = url.host_str().unwrap_or("");
    if host.is_empty() && !has_host_param {
        let example = match backend {
            Backend::MySql => "mysql://user:password@localhost:3306/dbname",
            _ => "postgresql://user:password@localhost:5432/dbname",
        };
        return Err(invalid(input, format!("the host is missing, expected for example {example}")));
    }
    if url.port() == Some(0) {
        return Err(invalid(input, "invalid port 0, expected a number from 1 to 65535"));
    }

    let mut connect = String::from(match backend {
        Backend::MySql => "mysql://",
        _ => "postgres://",
    });
    let username = url.username();
    let password = url.password();
    if !username.is_empty() || password.is_some() {
        connect.push_str(username);
        if let Some(password) = password {
            connect.push(':');
            connect.push_str(password);
        }
        connect.push('@');
    }
    connect.push_str(host);
    if let Some(port) = url.port() {
        connect.push_str(&format!(":{port}"));
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() {
        connect.push('/');
        connect.push_str(path);
    }
    if !kept.is_empty() {
        connect.push('?');
        connect.push_str(&kept.join("&"));
    }

    let database = if path.is_empty() {
        split_query(url.query())
            .into_iter()
            .find(|p| backend == Backend::Postgres && p.key == "dbname")
            .map(|p| p.value())
    } else {
        Some(percent_decode(path))
    };

    Ok(DatabaseUrl {
        backend,
        connect,
        masked: mask_url(input, false),
        search_path,
        sqlite_path: None,
        memory: false,
        database,
        warnings,
    })
}

fn describe_parse_error(error: ::url::ParseError) -> String {
    const SPECIAL: &str = "if the user name or password contains @ : / ? or #, percent-encode it: @ as %40, : as %3A, / as %2F, ? as %3F, # as %23";
    match error {
        ::url::ParseError::InvalidPort => {
            format!("invalid port, expected a number from 1 to 65535; {SPECIAL}")
        }
        ::url::ParseError::EmptyHost => format!("the host is missing; {SPECIAL}"),
        other => format!("{other}; {SPECIAL}"),
    }
}

/// SQLite, SQLAlchemy style (`sqlite:///relative.db`, `sqlite:////absolute.db`,
/// `sqlite://` for memory) and sqlx style (`sqlite:path.db`, `sqlite://path.db`, `sqlite::memory:`).
fn parse_sqlite(input: &str, rest: &str) -> DatabaseUrl {
    let (target, query) = match rest.split_once('?') {
        Some((target, query)) => (target, Some(query)),
        None => (rest, None),
    };
    let path = target.strip_prefix("///").or_else(|| target.strip_prefix("//")).unwrap_or(target);
    let path = percent_decode(path);

    let mut warnings = Vec::new();
    let mut kept = Vec::new();
    let mut memory = path.is_empty() || path == ":memory:";
    for param in split_query(query) {
        let key = param.key.as_str();
        if SQLITE_PARAMS.contains(&key) {
            memory |= key == "mode" && param.value() == "memory";
            kept.push(param.encoded(key));
        } else {
            warnings.push(dropped(key, Backend::Sqlite));
        }
    }

    if memory {
        let mut connect = String::from("sqlite::memory:");
        if !kept.is_empty() {
            connect.push('?');
            connect.push_str(&kept.join("&"));
        }
        return DatabaseUrl {
            backend: Backend::Sqlite,
            connect,
            masked: mask_url(input, false),
            search_path: None,
            sqlite_path: None,
            memory: true,
            database: Some("memory".into()),
            warnings,
        };
    }
    sqlite_file(input.to_string(), Path::new(&path), kept, warnings)
}

fn sqlite_file(input: String, path: &Path, kept: Vec<String>, warnings: Vec<String>) -> DatabaseUrl {
    // relative to the current directory, as SQLAlchemy resolves it; if that is
    // unknown, sqlx resolves the relative path the same way later
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut kept = kept;
    if !kept.iter().any(|p| p.starts_with("mode=")) {
        // sqlite3 (and so SQLAlchemy) creates a missing file; sqlx only does with mode=rwc
        kept.insert(0, "mode=rwc".into());
    }
    let connect = format!("sqlite://{}?{}", encode_path(&path.to_string_lossy()), kept.join("&"));
    DatabaseUrl {
        backend: Backend::Sqlite,
        connect,
        masked: mask_url(&input, false),
        search_path: None,
        database: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
        sqlite_path: Some(path),
        memory: false,
        warnings,
    }
}

/// Percent-encodes what sqlx would misread in a SQLite path (it decodes the path again).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' | '?' | '#' | ' ' | '"' | '<' | '>' | '`' | '{' | '}' => {
                out.push_str(&format!("%{:02X}", c as u32));
            }
            c if c.is_ascii_control() => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query key; everything but unreserved characters and `[]`.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'[' | b']') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; invalid escapes and invalid UTF-8 are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// Decodes a query-string component: `+` is a space, then `%XX` escapes.
fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// Masks the passwords of every URL found in `s` (user info and `password=`
/// query parameters), for showing driver error messages and other text that
/// may quote a database URL.
pub fn mask_url_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("://") {
        let before = &rest[..pos];
        let scheme_start =
            before.char_indices().rev().find(|(_, c)| !is_scheme_char(*c)).map_or(0, |(i, c)| i + c.len_utf8());
        let after = &rest[pos + 3..];
        let token_end = pos + 3 + after.find(ends_url).unwrap_or(after.len());
        out.push_str(&rest[..scheme_start]);
        out.push_str(&mask_url(&rest[scheme_start..token_end], true));
        rest = &rest[token_end..];
    }
    out.push_str(rest);
    out
}

fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

/// Masks one URL. The user info ends at the last `@` of the authority; with
/// `guess`, a URL whose password broke the authority (a raw `/`, `?` or `#`)
/// is masked up to its first `@` instead, erring towards hiding too much.
fn mask_url(url: &str, guess: bool) -> String {
    let Some(sep) = url.find("://") else {
        return mask_query_password(url);
    };
    let (head, body) = url.split_at(sep + 3);
    let authority_end = body.find(['/', '?', '#']).unwrap_or(body.len());
    let at = body[..authority_end].rfind('@').or_else(|| if guess { body.find('@') } else { None });
    let mut out = head.to_string();
    let tail = match at {
        Some(at) => {
            let userinfo = &body[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..=colon]);
                    out.push_str("***");
                }
                None => out.push_str(userinfo),
            }
            out.push('@');
            &body[at + 1..]
        }
        None => body,
    };
    out.push_str(&mask_query_password(tail));
    out
}

/// Replaces the value of `password=` query parameters by `***`.
fn mask_query_password(s: &str) -> String {
    let Some((before, query)) = s.split_once('?') else {
        return s.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if form_decode(key).eq_ignore_ascii_case("password") => {
                format!("{key}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{before}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> DatabaseUrl {
        match DatabaseUrl::parse(input) {
            Ok(url) => url,
            Err(e) => panic!("{input} should parse: {e}"),
        }
    }

    fn parse_err(input: &str) -> String {
        match DatabaseUrl::parse(input) {
            Ok(url) => panic!("{input} should not parse, got {url}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_sqlalchemy_postgres_form_connects_with_postgres_scheme() {
        for scheme in [
            "postgresql",
            "postgresql+psycopg2",
            "postgresql+psycopg",
            "postgresql+asyncpg",
            "postgresql+pg8000",
            "postgres",
        ] {
            let url = parse(&format!("{scheme}://bob:secret@db:5432/app"));
            assert_eq!(url.backend(), Backend::Postgres, "{scheme}");
            assert_eq!(url.connect_url(), "postgres://bob:secret@db:5432/app");
            assert_eq!(url.database_name().as_deref(), Some("app"));
        }
    }

    #[test]
    fn every_sqlalchemy_mysql_and_mariadb_form_connects_with_mysql_scheme() {
        for scheme in [
            "mysql",
            "mysql+pymysql",
            "mysql+mysqldb",
            "mysql+mysqlconnector",
            "mysql+aiomysql",
            "mysql+asyncmy",
            "mariadb",
            "mariadb+mariadbconnector",
            "mariadb+pymysql",
        ] {
            let url = parse(&format!("{scheme}://bob:secret@db/app?charset=utf8mb4"));
            assert_eq!(url.backend(), Backend::MySql, "{scheme}");
            assert_eq!(url.connect_url(), "mysql://bob:secret@db/app?charset=utf8mb4");
            assert!(url.warnings().is_empty(), "{:?}", url.warnings());
        }
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(parse("PostgreSQL://h/db").backend(), Backend::Postgres);
    }

    #[test]
    fn backend_display_names() {
        assert_eq!(Backend::Postgres.to_string(), "PostgreSQL");
        assert_eq!(Backend::MySql.to_string(), "MySQL/MariaDB");
        assert_eq!(Backend::Sqlite.to_string(), "SQLite");
    }

    #[test]
    fn sqlite_three_slashes_is_relative_to_the_current_directory() {
        let url = parse("sqlite:///relative.db");
        let expected = std::env::current_dir().unwrap().join("relative.db");
        assert_eq!(url.sqlite_path(), Some(expected.as_path()));
        assert_eq!(url.connect_url(), format!("sqlite://{}?mode=rwc", expected.display()));
        assert_eq!(url.database_name().as_deref(), Some("relative"));
        assert!(!url.is_memory());
    }

    #[test]
    fn sqlite_four_slashes_is_absolute() {
        let url = parse("sqlite:////var/lib/app.db");
        assert_eq!(url.sqlite_path(), Some(Path::new("/var/lib/app.db")));
        assert_eq!(url.connect_url(), "sqlite:///var/lib/app.db?mode=rwc");
    }

    #[test]
    fn sqlite_pysqlite_and_aiosqlite_drivers_are_accepted() {
        for input in ["sqlite+pysqlite:////tmp/a.db", "sqlite+aiosqlite:////tmp/a.db"] {
            assert_eq!(parse(input).connect_url(), "sqlite:///tmp/a.db?mode=rwc");
        }
    }

    #[test]
    fn sqlx_sqlite_forms_are_relative_paths() {
        let cwd = std::env::current_dir().unwrap();
        for input in ["sqlite:path.db", "sqlite://path.db"] {
            let url = parse(input);
            assert_eq!(url.sqlite_path(), Some(cwd.join("path.db").as_path()), "{input}");
        }
    }

    #[test]
    fn sqlite_memory_forms_are_all_in_memory() {
        for input in ["sqlite://", "sqlite:///:memory:", "sqlite::memory:", "sqlite://:memory:", "sqlite+pysqlite://"] {
            let url = parse(input);
            assert!(url.is_memory(), "{input}");
            assert_eq!(url.sqlite_path(), None);
            assert_eq!(url.connect_url(), "sqlite::memory:");
            assert_eq!(url.database_name().as_deref(), Some("memory"));
        }
    }

    #[test]
    fn sqlite_keeps_its_mode_and_drops_sqlalchemy_options() {
        let url = parse("sqlite:////tmp/a.db?mode=ro&check_same_thread=false");
        assert_eq!(url.connect_url(), "sqlite:///tmp/a.db?mode=ro");
        assert_eq!(
            url.warnings(),
            ["dropped URL parameter \"check_same_thread\" (not understood by the SQLite driver)"]
        );
    }

    #[test]
    fn sqlite_path_with_question_mark_is_encoded_for_sqlx() {
        let url = parse("sqlite:////tmp/a%3Fb%25.db");
        assert_eq!(url.sqlite_path(), Some(Path::new("/tmp/a?b%.db")));
        assert_eq!(url.connect_url(), "sqlite:///tmp/a%3Fb%25.db?mode=rwc");
    }

    #[test]
    fn a_url_without_its_password_reads_back_as_the_same_database() {
        for written in [
            "postgresql://ann:s3cret@db.example:5432/app?sslmode=require",
            "mysql://root:pw@127.0.0.1:3306/shop",
            "sqlite:////tmp/some/app.db",
            "sqlite:///relative/app.db",
        ] {
            let url = DatabaseUrl::parse(written).unwrap();
            let stored = url.without_password();
            assert!(!stored.contains("s3cret") && !stored.contains(":pw@"), "{stored}");
            let back = DatabaseUrl::parse(&stored).unwrap();
            assert_eq!(back.sqlite_path(), url.sqlite_path(), "{written} -> {stored}");
            assert_eq!(back.database_name(), url.database_name(), "{written} -> {stored}");
            assert_eq!(back.backend(), url.backend());
        }
    }

    #[test]
    fn defaults_are_data_strata_db_for_home_and_data_example_db_for_the_project() {
        let url = DatabaseUrl::default_home();
        let expected = std::env::current_dir().unwrap().join("data/strata.db");
        assert_eq!(url.backend(), Backend::Sqlite);
        assert_eq!(url.sqlite_path(), Some(expected.as_path()));
        assert_eq!(url.database_name().as_deref(), Some("strata"));
        let project = DatabaseUrl::default_sqlite();
        assert_eq!(project.database_name().as_deref(), Some("example"));
    }

    #[test]
    fn ensure_sqlite_parent_dir_creates_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nested/deeper/app.db");
        let url = parse(&format!("sqlite:///{}", file.display()));
        url.ensure_sqlite_parent_dir().unwrap();
        assert!(dir.path().join("nested/deeper").is_dir());
        parse("sqlite::memory:").ensure_sqlite_parent_dir().unwrap();
    }

    #[test]
    fn display_and_debug_mask_the_password() {
        let url = parse("postgresql://bob:secret@db:5432/app");
        assert_eq!(url.to_string(), "postgresql://bob:***@db:5432/app");
        assert_eq!(url.masked(), "postgresql://bob:***@db:5432/app");
        let debug = format!("{url:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("bob:***@db"), "{debug}");
    }

    #[test]
    fn password_query_parameter_is_masked() {
        let url = parse("postgresql://db/app?user=bob&password=secret&sslmode=require");
        assert_eq!(url.to_string(), "postgresql://db/app?user=bob&password=***&sslmode=require");
        assert!(!format!("{url:?}").contains("secret"));
        assert!(url.connect_url().contains("password=secret"));
    }

    #[test]
    fn url_without_password_is_shown_unchanged() {
        let url = parse("postgresql://bob@db/app?application_name=me@work");
        assert_eq!(url.to_string(), "postgresql://bob@db/app?application_name=me@work");
    }

    #[test]
    fn mask_url_str_masks_urls_inside_text() {
        let text = "error connecting to postgres://bob:hunter2@db:5432/app: password authentication failed";
        assert_eq!(
            mask_url_str(text),
            "error connecting to postgres://bob:***@db:5432/app: password authentication failed"
        );
        assert_eq!(
            mask_url_str("a 'mysql://u:p@h/d' and \"sqlite:///x.db\" and mysql://h/d?password=p&x=1"),
            "a 'mysql://u:***@h/d' and \"sqlite:///x.db\" and mysql://h/d?password=***&x=1"
        );
    }

    #[test]
    fn mask_url_str_hides_a_password_that_broke_the_url() {
        let masked = mask_url_str("bad url postgresql://bob:se/cr?et@db/app here");
        assert_eq!(masked, "bad url postgresql://bob:***@db/app here");
        let masked = mask_url_str("postgresql://bob:p@ss@db/app");
        assert_eq!(masked, "postgresql://bob:***@db/app");
    }

    #[test]
    fn mask_url_str_leaves_plain_text_alone() {
        let text = "nothing here: just a note, see https://example.com/docs";
        assert_eq!(mask_url_str(text), text);
        assert_eq!(mask_url_str("odd ://x:y@z"), "odd ://x:***@z");
    }

    #[test]
    fn percent_encoded_password_round_trips_to_the_driver() {
        let url = parse("postgresql://bob%40corp:p%40ss%3Aw%2Frd@db:5432/app");
        let connect = Url::parse(url.connect_url()).unwrap();
        assert_eq!(percent_decode(connect.username()), "bob@corp");
        assert_eq!(percent_decode(connect.password().unwrap()), "p@ss:w/rd");
        assert_eq!(connect.host_str(), Some("db"));
        assert_eq!(url.to_string(), "postgresql://bob%40corp:***@db:5432/app");
    }

    #[test]
    fn raw_at_sign_in_password_is_taken_up_to_the_last_at() {
        let url = parse("mysql://bob:p@ss@db/app");
        let connect = Url::parse(url.connect_url()).unwrap();
        assert_eq!(percent_decode(connect.password().unwrap()), "p@ss");
        assert_eq!(url.to_string(), "mysql://bob:***@db/app");
    }

    #[test]
    fn schema_parameter_becomes_the_search_path() {
        let url = parse("postgresql://bob:pw@db/app?schema=public&sslmode=require");
        assert_eq!(url.search_path(), Some("public"));
        assert_eq!(url.connect_url(), "postgres://bob:pw@db/app?sslmode=require");
        assert!(url.warnings().is_empty());
        let url = parse("postgres://db/app?search_path=tenant%2Cpublic");
        assert_eq!(url.search_path(), Some("tenant,public"));
        assert_eq!(url.connect_url(), "postgres://db/app");
    }

    #[test]
    fn unknown_parameters_are_dropped_with_a_warning_naming_them() {
        let url = parse("postgresql://db/app?connection_limit=5&application_name=strata&pool_timeout=3");
        assert_eq!(url.connect_url(), "postgres://db/app?application_name=strata");
        assert_eq!(
            url.warnings(),
            [
                "dropped URL parameter \"connection_limit\" (not understood by the PostgreSQL driver)",
                "dropped URL parameter \"pool_timeout\" (not understood by the PostgreSQL driver)",
            ]
        );
        let url = parse("mysql://db/app?pool_size=5");
        assert_eq!(
            url.warnings(),
            ["dropped URL parameter \"pool_size\" (not understood by the MySQL/MariaDB driver)"]
        );
    }

    #[test]
    fn mysql_sqlalchemy_ssl_parameters_become_dashed() {
        let url = parse("mysql+pymysql://u:p@db/app?ssl_ca=/etc/ca.pem&ssl_cert=/c.pem&ssl_key=/k.pem");
        assert_eq!(url.connect_url(), "mysql://u:p@db/app?ssl-ca=/etc/ca.pem&ssl-cert=/c.pem&ssl-key=/k.pem");
    }

    #[test]
    fn asyncpg_ssl_parameter_becomes_sslmode() {
        let url = parse("postgresql+asyncpg://db/app?ssl=require");
        assert_eq!(url.connect_url(), "postgres://db/app?sslmode=require");
    }

    #[test]
    fn ipv6_host_and_socket_host_parameter_are_accepted() {
        assert_eq!(parse("postgresql://u@[::1]:5433/app").connect_url(), "postgres://u@[::1]:5433/app");
        let url = parse("postgresql:///app?host=/var/run/postgresql");
        assert_eq!(url.connect_url(), "postgres:///app?host=/var/run/postgresql");
    }

    #[test]
    fn unknown_scheme_is_named_and_accepted_ones_listed() {
        let message = parse_err("mongodb://bob:secret@db/app");
        assert!(message.contains("\"mongodb\""), "{message}");
        assert!(message.contains("postgresql+psycopg2://"), "{message}");
        assert!(message.contains("sqlite://"), "{message}");
        assert!(message.contains("mongodb://bob:***@db/app"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn alembic_placeholder_url_gets_a_hint() {
        let message = parse_err("driver://user:pass@localhost/dbname");
        assert!(message.contains("alembic init"), "{message}");
    }

    #[test]
    fn bad_port_is_an_error_with_the_password_masked() {
        let message = parse_err("postgresql://bob:secret@db:99999/app");
        assert!(message.contains("invalid port"), "{message}");
        assert!(message.contains("postgresql://bob:***@db:99999/app"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        assert!(parse_err("mysql://bob:x@db:abc/app").contains("invalid port"));
        assert!(parse_err("postgres://db:0/app").contains("invalid port"));
    }

    #[test]
    fn unescaped_special_character_in_password_is_explained_and_masked() {
        let message = parse_err("postgresql://bob:se#cret@db/app");
        assert!(message.contains("percent-encode"), "{message}");
        assert!(!message.contains("cret"), "{message}");
    }

    #[test]
    fn empty_host_is_an_error() {
        let message = parse_err("postgresql:///app");
        assert!(message.contains("host is missing"), "{message}");
        assert!(parse_err("mysql://bob:pw@/app").contains("host is missing"));
    }

    #[test]
    fn missing_scheme_and_empty_input_are_errors() {
        assert!(parse_err("").contains("empty"));
        assert!(parse_err("/just/a/path.db").contains("expected scheme"));
        assert!(parse_err("postgresql:app").contains("://"));
    }
}
