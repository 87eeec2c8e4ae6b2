//! Test support: a throw-away database per test on SQLite, PostgreSQL or MariaDB, and the `strata` binary.
#![allow(dead_code)]

pub mod api;
pub mod apps;
pub mod chrome;
pub mod cluster;
pub mod exposition;
pub mod http;
pub mod moto;
pub mod web;

use std::process::{Command, Output};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// The name tests give the watched database they check (`/db/app/...`): the project database.
pub const APP: &str = "app";

/// The newest revision Strata's migrator has: what `migrate up` leaves in `alembic_version`.
pub static HEAD: LazyLock<String> = LazyLock::new(|| {
    let set = strata::migrate::MigrationSet::of::<migration::Migrator>().expect("migrations");
    set.entries().last().expect("at least one migration").revision.clone()
});

/// How many migrations Strata's migrator has.
pub static MIGRATIONS: LazyLock<usize> = LazyLock::new(|| {
    use sea_orm_migration::MigratorTrait;
    migration::Migrator::migrations().len()
});

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

/// A database that exists for one test.
pub struct TestDb {
    pub kind: Kind,
    /// The URL Strata is given (SQLAlchemy form for SQLite: `sqlite:////abs/path.db`).
    pub url: String,
    /// The URL the test's own checking connection uses (sqlx form).
    driver_url: String,
    pub name: String,
    /// Strata's home database for this test (accounts, sessions, history, keys): beside the watched one, on the
    /// same engine (`<name>_h`, or `home.db` in the same folder).
    pub home_url: String,
    home_driver_url: String,
    admin_url: String,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn pg_admin_url() -> String {
    std::env::var("STRATA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn mysql_admin_url() -> String {
    std::env::var("STRATA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

impl TestDb {
    /// Creates an empty database; a missing server fails the test with how to start it.
    pub async fn new(kind: Kind) -> TestDb {
        let name =
            format!("strata_t_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), rand_suffix());
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join(format!("{name}.db"));
                let home = dir.path().join("home.db");
                TestDb {
                    kind,
                    url: format!("sqlite:///{}", path.display()),
                    driver_url: format!("sqlite://{}?mode=rwc", path.display()),
                    name,
                    home_url: format!("sqlite:///{}", home.display()),
                    home_driver_url: format!("sqlite://{}?mode=rwc", home.display()),
                    admin_url: String::new(),
                    _dir: Some(dir),
                }
            }
            Kind::Postgres => {
                Self::on_server(
                    kind,
                    name,
                    pg_admin_url(),
                    "PostgreSQL",
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
                    '"',
                )
                .await
            }
            Kind::MySql => {
                Self::on_server(
                    kind,
                    name,
                    mysql_admin_url(),
                    "MariaDB",
                    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
                    '`',
                )
                .await
            }
        }
    }

    /// Creates the database on a server through its admin URL.
    async fn on_server(kind: Kind, name: String, admin_url: String, what: &str, how: &str, quote: char) -> TestDb {
        let admin = connect_or_explain(&admin_url, what, how).await;
        exec(&admin, &format!("CREATE DATABASE {quote}{name}{quote}")).await;
        exec(&admin, &format!("CREATE DATABASE {quote}{name}_h{quote}")).await;
        admin.close().await.ok();
        let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin_url.clone());
        let url = format!("{base}/{name}");
        let home_url = format!("{base}/{name}_h");
        TestDb {
            kind,
            driver_url: url.clone(),
            url,
            name,
            home_driver_url: home_url.clone(),
            home_url,
            admin_url,
            _dir: None,
        }
    }

    /// The server's admin URL (a login that may create databases); empty for SQLite.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// A connection for checking what Strata did.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.driver_url.as_str()).await.expect("connect to the test database")
    }

    /// A connection to the test's home database, for checking what Strata keeps of its own.
    pub async fn connect_home(&self) -> DatabaseConnection {
        Database::connect(self.home_driver_url.as_str()).await.expect("connect to the test's home database")
    }

    /// A pool of exactly one connection: one server session whose id stays the same.
    pub async fn connect_one(&self) -> DatabaseConnection {
        let mut opts = sea_orm::ConnectOptions::new(self.driver_url.clone());
        opts.max_connections(1).min_connections(1).sqlx_logging(false);
        Database::connect(opts).await.expect("connect one session to the test database")
    }

    /// The schema the dashboard lists the seed tables under: `main`, `public`, or the MariaDB database.
    pub fn schema(&self) -> &str {
        match self.kind {
            Kind::Sqlite => "main",
            Kind::Postgres => "public",
            Kind::MySql => &self.name,
        }
    }

    /// Quotes an identifier the way this backend does (for fixtures only).
    pub fn quote(&self, name: &str) -> String {
        match self.kind {
            Kind::MySql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// The viewer login for this database, created through Strata's own code path (`strata viewer-login create`
    /// does the same): read-only runs need a login that can only read, and the test servers' logins are
    /// superusers. Run again after creating tables, to grant them too. Needs the migrations applied. Returns the
    /// login's URL; [`TestDb::drop`] drops the login.
    pub async fn viewer_url(&self) -> String {
        let url = strata::config::DatabaseUrl::parse(&self.url).expect("the test URL parses");
        let home_url = strata::config::DatabaseUrl::parse(&self.home_url).expect("the home URL parses");
        strata::home::migrate(&home_url).await.expect("migrate the test's home database");
        let home = strata::db::connect(&home_url, strata::db::Purpose::Cli).await.expect("connect home");
        let db = strata::db::connect(&url, strata::db::Purpose::Cli).await.expect("connect");
        let keyring = strata::home::secrets::Keyring::open_or_create(&key_file(&self.url)).expect("the test key file");
        let created = strata::viewer_login::create(&home, APP, &db, &url, &keyring, false)
            .await
            .expect("create the viewer login");
        db.close().await.ok();
        home.close().await.ok();
        created.url.connect_url().to_string()
    }

    /// The viewer login's name (server-global: unique per test database).
    pub fn viewer_name(&self) -> String {
        let backend = match self.kind {
            Kind::MySql => strata::config::Backend::MySql,
            Kind::Postgres => strata::config::Backend::Postgres,
            Kind::Sqlite => strata::config::Backend::Sqlite,
        };
        strata::viewer_login::login_name(backend, &self.name)
    }

    /// Drops the database and its viewer login, if one was made (call at the end of a passing test; a failing one
    /// leaves them for inspection).
    pub async fn drop(self) {
        std::fs::remove_file(key_file(&self.url)).ok();
        let viewer = self.viewer_name();
        let sql = match self.kind {
            Kind::Sqlite => return,
            Kind::Postgres => vec![
                format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
                format!("DROP DATABASE IF EXISTS \"{}_h\" WITH (FORCE)", self.name),
                format!("DROP ROLE IF EXISTS \"{viewer}\""),
            ],
            Kind::MySql => vec![
                format!("DROP DATABASE IF EXISTS `{}`", self.name),
                format!("DROP DATABASE IF EXISTS `{}_h`", self.name),
                format!("DROP USER IF EXISTS '{viewer}'@'%'"),
            ],
        };
        if let Ok(admin) = Database::connect(self.admin_url.as_str()).await {
            for s in sql {
                admin.execute_unprepared(&s).await.ok();
            }
            admin.close().await.ok();
        }
    }
}

fn rand_suffix() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0) % 100_000
}

async fn connect_or_explain(url: &str, what: &str, how: &str) -> DatabaseConnection {
    match Database::connect(url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "{what} is needed for this test and is not reachable at {url}: {e}\nStart it with: {how}\n\
             (or point STRATA_TEST_PG_URL / STRATA_TEST_MYSQL_URL at a server)"
        ),
    }
}

pub async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Runs a query and returns the first column of every row as text.
pub async fn column(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            r.try_get_by_index::<Option<String>>(0)
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .or_else(|_| r.try_get_by_index::<i64>(0).map(|v| v.to_string()))
                .or_else(|_| r.try_get_by_index::<i32>(0).map(|v| v.to_string()))
                .or_else(|_| r.try_get_by_index::<bool>(0).map(|v| v.to_string()))
                .unwrap_or_else(|e| panic!("{sql}: cannot read column 0 as text: {e}"))
        })
        .collect()
}

/// One number from a query.
pub async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let v = column(db, sql).await;
    v.first().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{sql}: expected a number, got {v:?}"))
}

/// Whether a table exists, asked from the catalog.
pub async fn has_table(db: &DatabaseConnection, table: &str) -> bool {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "SELECT count(*)::bigint FROM pg_tables WHERE schemaname = current_schema() AND tablename = '{table}'"
        ),
        DbBackend::MySql => format!(
            "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
        ),
        _ => format!("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"),
    };
    count(db, &sql).await > 0
}

/// The home database the tests give Strata beside the watched database `url` (see [`TestDb::home_url`]).
pub fn home_url_for(url: &str) -> String {
    if let Some(path) = url.strip_prefix("sqlite:///") {
        let path = std::path::Path::new(path);
        return format!("sqlite:///{}", path.with_file_name("home.db").display());
    }
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    match query {
        Some(q) => format!("{base}_h?{q}"),
        None => format!("{base}_h"),
    }
}

/// Runs the `strata` binary with `args` against `url`, with a clean environment for configuration.
pub fn strata(url: &str, args: &[&str]) -> Output {
    strata_cmd(url, args).output().expect("run strata")
}

/// The key file that seals the test database's secrets (the viewer login's password): one per database, so that
/// tests never share one, the same for the binary and the router built in the test.
pub fn key_file(url: &str) -> std::path::PathBuf {
    let name = strata::config::DatabaseUrl::parse(url).ok().and_then(|u| u.database_name()).unwrap_or_default();
    std::env::temp_dir().join("strata-test-keys").join(format!("{name}.key"))
}

pub fn strata_cmd(url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.env_remove("STRATA_CONFIG")
        .env("DATABASE_URL", url)
        .env("STRATA_HOME_URL", home_url_for(url))
        .env(format!("STRATA_WATCH_{}", APP.to_uppercase()), url)
        .env("STRATA_SECRET_KEY_FILE", key_file(url))
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .args(args);
    cmd
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a process succeeded, showing its output when it did not.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "strata failed ({:?})\nstdout:\n{}\nstderr:\n{}", o.status, stdout(o), stderr(o));
    stdout(o)
}

/// Expands one async test body into a test per backend.
#[macro_export]
#[allow(clippy::crate_in_macro_def)] // the test crate that expands it owns `common`
macro_rules! each_backend {
    ($($name:ident => $body:ident;)*) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::Postgres).await } )* }
        mod mariadb { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$body(crate::common::Kind::MySql).await } )* }
    };
}

/// Polls `f` until it yields something, for at most 20 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("gave up waiting: {what}");
}
