//! PostgreSQL: what the main login may do beyond reading, and the viewer role Strata creates (read grants only).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use crate::error::Result;

/// Predefined roles whose members can act on the server from a read-only transaction: signal or end other
/// sessions, run programs, read or write the server's files, read every table (Strata's own included,
/// whatever their grants), checkpoint. A login that is a member (even without INHERIT: it may `SET ROLE`)
/// is more than a reader.
const PRIVILEGED_ROLES: &str = "pg_signal_backend,pg_execute_server_program,pg_read_server_files,\
pg_write_server_files,pg_read_all_data,pg_checkpoint";

const ATTRIBUTES: &str = "SELECT rolsuper, rolcreaterole, rolreplication, rolbypassrls \
    FROM pg_roles WHERE rolname = current_user";

const MEMBERSHIPS: &str = "SELECT rolname::text FROM pg_roles \
    WHERE rolname = ANY(string_to_array($1, ',')) AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY rolname";

/// The schemas the application's tables live in (not the system's), that the main login may use.
const SCHEMAS: &str = "SELECT nspname::text FROM pg_namespace \
    WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' AND has_schema_privilege(oid, 'USAGE') \
    ORDER BY nspname";

/// Tables, views, materialized views, partitioned and foreign tables of one schema.
const RELATIONS: &str = "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY c.relname";

/// What the current login can do beyond reading, by name (empty: it only reads).
pub(super) async fn privileges(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    let mut found = Vec::new();
    if let Some(row) = db.query_one_raw(Statement::from_string(DbBackend::Postgres, ATTRIBUTES)).await? {
        for (i, name) in ["superuser", "CREATEROLE", "REPLICATION", "BYPASSRLS"].iter().enumerate() {
            if row.try_get_by_index::<bool>(i)? {
                found.push(name.to_string());
            }
        }
    }
    if found.first().is_some_and(|p| p == "superuser") {
        // A superuser is a member of every role: naming them all says nothing more.
        return Ok(found);
    }
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, MEMBERSHIPS, [PRIVILEGED_ROLES.into()]);
    for row in db.query_all_raw(stmt).await? {
        found.push(format!("member of {}", row.try_get_by_index::<String>(0)?));
    }
    Ok(found)
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(value: &str) -> String {
    // standard_conforming_strings is on by default since 9.1; the generated passwords are alphanumeric anyway.
    format!("'{}'", value.replace('\'', "''"))
}

async fn names(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Result<Vec<String>> {
    let rows = db.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    rows.iter().map(|r| Ok(r.try_get_by_index::<String>(0)?)).collect()
}

/// Whether the role exists.
pub(super) async fn exists(db: &impl ConnectionTrait, user: &str) -> Result<bool> {
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT count(*) FROM pg_roles WHERE rolname = $1",
        [user.into()],
    );
    let row = db.query_one_raw(stmt).await?;
    Ok(row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0) > 0)
}

/// Creates the role (or sets its password), then grants `CONNECT`, `USAGE` on the application's schemas and
/// `SELECT` on their tables and views (Strata's own are in its home database, never here). No default privileges:
/// a table created later (a future Strata table among them) is not readable until the grants are refreshed.
/// All in one transaction.
pub(super) async fn create(db: &DatabaseConnection, database: &str, user: &str, password: &str) -> Result<()> {
    let txn = db.begin().await?;
    let role = ident(user);
    let pw = literal(password);
    let sql = if exists(&txn, user).await? {
        format!(
            "ALTER ROLE {role} WITH LOGIN PASSWORD {pw} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        )
    } else {
        format!(
            "CREATE ROLE {role} WITH LOGIN PASSWORD {pw} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
             NOINHERIT"
        )
    };
    txn.execute_unprepared(&sql).await?;
    txn.execute_unprepared(&format!("GRANT CONNECT ON DATABASE {} TO {role}", ident(database))).await?;
    for schema in names(&txn, SCHEMAS, vec![]).await? {
        txn.execute_unprepared(&format!("GRANT USAGE ON SCHEMA {} TO {role}", ident(&schema))).await?;
        for table in names(&txn, RELATIONS, vec![schema.clone().into()]).await? {
            let target = format!("{}.{}", ident(&schema), ident(&table));
            txn.execute_unprepared(&format!("GRANT SELECT ON {target} TO {role}")).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Drops the role and what was granted to it in this database; false when it did not exist. A role that still
/// has grants in another database cannot be dropped: the error says so.
pub(super) async fn drop(db: &DatabaseConnection, user: &str) -> Result<bool> {
    let txn = db.begin().await?;
    if !exists(&txn, user).await? {
        return Ok(false);
    }
    let role = ident(user);
    txn.execute_unprepared(&format!("DROP OWNED BY {role}")).await?;
    txn.execute_unprepared(&format!("DROP ROLE {role}")).await?;
    txn.commit().await?;
    Ok(true)
}
