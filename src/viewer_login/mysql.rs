//! MariaDB/MySQL: what the main login may do beyond reading, and the viewer user Strata creates (table-level
//! `SELECT` grants only, nothing global).

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::error::Result;

/// Global privileges that reach beyond reading this database from a read-only transaction: files on the server
/// (`INTO OUTFILE`, `LOAD_FILE`), other sessions (`KILL`, the processlist), server settings (`SET GLOBAL`),
/// accounts, replication, shutdown, and a global `SELECT` (every database, `mysql.*` password hashes and
/// Strata's own tables included).
const PRIVILEGED: &[&str] = &[
    "SUPER",
    "FILE",
    "PROCESS",
    "CONNECTION ADMIN",
    "RELOAD",
    "SHUTDOWN",
    "CREATE USER",
    "SET USER",
    "READ_ONLY ADMIN",
    "BINLOG ADMIN",
    "BINLOG REPLAY",
    "REPLICATION SLAVE ADMIN",
    "REPLICATION MASTER ADMIN",
    "FEDERATED ADMIN",
    "SYSTEM_VARIABLES_ADMIN",
    "SELECT",
];

/// The current login's global privileges (and those of its enabled role), as `information_schema` lists them.
const GLOBAL_PRIVILEGES: &str = "SELECT DISTINCT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
    WHERE GRANTEE = CONCAT('''', LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) \
        - CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1), \
        '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') \
    OR GRANTEE IN (SELECT CONCAT('''', ROLE_NAME, '''') FROM information_schema.ENABLED_ROLES)";

const TABLES: &str =
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME";

/// What the current login can do beyond reading, by privilege name (empty: it only reads this database).
pub(super) async fn privileges(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    let rows = db.query_all_raw(Statement::from_string(DbBackend::MySql, GLOBAL_PRIVILEGES)).await?;
    let held: Vec<String> = rows.iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect();
    Ok(PRIVILEGED
        .iter()
        .filter(|p| held.iter().any(|h| h.eq_ignore_ascii_case(p)))
        .map(|p| if *p == "SELECT" { "global SELECT".to_string() } else { p.to_string() })
        .collect())
}

fn account(user: &str) -> String {
    format!("{}@'%'", literal(user))
}

fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn literal(value: &str) -> String {
    // Backslashes escape in MariaDB strings unless NO_BACKSLASH_ESCAPES; the passwords are alphanumeric anyway.
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// Whether the user (`user@'%'`) exists.
pub(super) async fn exists(db: &impl ConnectionTrait, user: &str) -> Result<bool> {
    // mysql.user is readable by a login that may create users; information_schema has no list of accounts.
    let stmt = Statement::from_sql_and_values(
        DbBackend::MySql,
        "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'",
        [user.into()],
    );
    let row = db.query_one_raw(stmt).await?;
    Ok(row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0) > 0)
}

/// Creates the user (or sets its password), takes back whatever it was granted, then grants `SELECT` on each
/// table and view of this database (Strata's own are in its home database). Table-level grants name the tables that exist now: a
/// table created later (a future Strata table among them) is not readable until the grants are refreshed.
pub(super) async fn create(db: &impl ConnectionTrait, database: &str, user: &str, password: &str) -> Result<()> {
    let who = account(user);
    let pw = literal(password);
    if exists(db, user).await? {
        db.execute_unprepared(&format!("ALTER USER {who} IDENTIFIED BY {pw}")).await?;
        db.execute_unprepared(&format!("REVOKE ALL PRIVILEGES, GRANT OPTION FROM {who}")).await?;
    } else {
        db.execute_unprepared(&format!("CREATE USER {who} IDENTIFIED BY {pw}")).await?;
    }
    let tables = db.query_all_raw(Statement::from_string(DbBackend::MySql, TABLES)).await?;
    for row in tables {
        let table: String = row.try_get_by_index(0)?;
        db.execute_unprepared(&format!("GRANT SELECT ON {}.{} TO {who}", ident(database), ident(&table))).await?;
    }
    Ok(())
}

/// Drops the user; false when it did not exist.
pub(super) async fn drop(db: &impl ConnectionTrait, user: &str) -> Result<bool> {
    if !exists(db, user).await? {
        return Ok(false);
    }
    db.execute_unprepared(&format!("DROP USER {}", account(user))).await?;
    Ok(true)
}
