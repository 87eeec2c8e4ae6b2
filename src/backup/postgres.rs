//! PostgreSQL: pg_dump to back up; psql in one transaction to restore, custom-format files read through pg_restore;
//! after a restore, which roles lost their access to the tables it re-created.

use std::io::{BufReader, Cursor, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use percent_encoding::percent_decode_str;
use sea_orm::{DatabaseConnection, DbBackend, FromQueryResult, Statement};

use super::file::{Complete, Content, Counting, Input, Markers, Staged};
use super::pg_script::TolerantSchemas;
use super::tools::{self, FeedError, Running, ToolOutput, Wanted};
use super::{Engine, Format, Progress, RestoreOptions, Restored, blocking};
use crate::config::{DatabaseUrl, Settings};
use crate::error::{Error, Result};

const SERVER_VERSION_SQL: &str =
    "SELECT current_setting('server_version_num')::int4 AS num, current_setting('server_version') AS text";

/// Who owns the schema and whether this role may drop it (superuser, or a member of the owner).
const SCHEMA_SQL: &str = r"
SELECT pg_get_userbyid(n.nspowner)::text AS owner, current_user::text AS me,
       (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)
         OR pg_has_role(current_user, n.nspowner, 'MEMBER') AS may_drop
FROM pg_namespace n WHERE n.nspname = $1";

/// Statements that give a re-created schema its owner, comment and grants back.
const SCHEMA_GRANTS_SQL: &str = r"
SELECT format('ALTER SCHEMA %I OWNER TO %I;', n.nspname, pg_get_userbyid(n.nspowner)) AS sql
FROM pg_namespace n WHERE n.nspname = $1 AND n.nspowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
UNION ALL
SELECT format('COMMENT ON SCHEMA %I IS %L;', n.nspname, obj_description(n.oid, 'pg_namespace'))
FROM pg_namespace n WHERE n.nspname = $1 AND obj_description(n.oid, 'pg_namespace') IS NOT NULL
UNION ALL
SELECT format('GRANT %s ON SCHEMA %I TO %s;', a.privilege_type, n.nspname,
              CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
FROM pg_namespace n, aclexplode(n.nspacl) a
WHERE n.nspname = $1 AND a.grantee <> n.nspowner";

/// DROP statements for everything in the schema this role owns: tables first (their indexes,
/// constraints and owned sequences go with them), then views, sequences, routines and types.
/// Objects that belong to an extension are left to the extension.
const OWNED_SQL: &str = r"
SELECT sql FROM (
  SELECT CASE WHEN c.relkind IN ('r', 'p', 'f') THEN 1 WHEN c.relkind IN ('v', 'm') THEN 2 ELSE 3 END AS step,
         c.relname::text AS name,
         format('DROP %s IF EXISTS %I.%I CASCADE;',
                CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                               WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                n.nspname, c.relname) AS sql
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition
    AND pg_has_role(current_user, c.relowner, 'MEMBER')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  UNION ALL
  SELECT 4, p.proname::text, format('DROP ROUTINE IF EXISTS %s CASCADE;', p.oid::regprocedure)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = $1 AND p.prokind <> 'a' AND pg_has_role(current_user, p.proowner, 'MEMBER')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  UNION ALL
  SELECT 5, t.typname::text, format('DROP TYPE IF EXISTS %I.%I CASCADE;', n.nspname, t.typname)
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE n.nspname = $1 AND t.typtype IN ('e', 'd', 'r') AND pg_has_role(current_user, t.typowner, 'MEMBER')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
) owned ORDER BY step, name";

const ROLE_EXISTS_SQL: &str = "SELECT count(*)::int8 AS n FROM pg_roles WHERE rolname = $1";

/// Roles other than this login (and superusers, who can do anything) that own a relation of the schema or
/// hold a privilege on one (`$1`: the schema): the ones a restore, which makes this login the owner of
/// everything it creates, may leave without access.
const ACCESS_SQL: &str = r"
SELECT DISTINCT r.rolname::text AS name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (SELECT c.relowner AS grantee UNION SELECT a.grantee FROM aclexplode(c.relacl) a) g
JOIN pg_roles r ON r.oid = g.grantee
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND r.rolname <> current_user AND NOT r.rolsuper
ORDER BY 1";

/// Of the roles in `$2` (a JSON array of names), those that cannot read every table of the schema `$1`,
/// with how many they cannot read, and this login's name.
const LOST_SQL: &str = r"
SELECT r.name, count(*)::int8 AS tables, current_user::text AS me
FROM json_array_elements_text($2::json) AS r(name)
JOIN pg_roles ro ON ro.rolname = r.name
CROSS JOIN pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT has_table_privilege(ro.oid, c.oid, 'SELECT')
GROUP BY r.name
ORDER BY r.name";

/// pg_dump's plain format starts and, when complete, ends with these lines.
const MARKERS: &[Markers] =
    &[Markers { header: "-- PostgreSQL database dump", trailer: "-- PostgreSQL database dump complete" }];

const INSTALL: &str = "install the PostgreSQL client of the server's version (apt-get install postgresql-client)";
const PG_DUMP: Wanted = Wanted { setting: "pg_dump_path", names: &["pg_dump"], install: INSTALL };
const PG_RESTORE: Wanted = Wanted { setting: "pg_restore_path", names: &["pg_restore"], install: INSTALL };
const PSQL: Wanted = Wanted { setting: "psql_path", names: &["psql"], install: INSTALL };

#[derive(FromQueryResult)]
struct ServerVersion {
    num: i32,
    text: String,
}

#[derive(FromQueryResult)]
struct SchemaOwner {
    owner: String,
    me: String,
    may_drop: bool,
}

#[derive(FromQueryResult)]
struct SqlRow {
    sql: String,
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

#[derive(FromQueryResult)]
struct RoleName {
    name: String,
}

#[derive(FromQueryResult)]
struct Lost {
    name: String,
    tables: i64,
    me: String,
}

pub struct Postgres {
    url: DatabaseUrl,
    pg_dump: Option<PathBuf>,
    pg_restore: Option<PathBuf>,
    psql: Option<PathBuf>,
}

/// How the client tools reach the server: `PG*` variables and a 0600 password file, never arguments.
struct Client {
    envs: Vec<(&'static str, String)>,
    password: Option<String>,
    _passfile: Option<tempfile::NamedTempFile>,
}

impl Client {
    fn command(&self, program: &std::path::Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_remove("PGPASSWORD").envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

impl Postgres {
    pub fn new(url: &DatabaseUrl, settings: &Settings) -> Postgres {
        Postgres {
            url: url.clone(),
            pg_dump: settings.pg_dump_path.clone(),
            pg_restore: settings.pg_restore_path.clone(),
            psql: settings.psql_path.clone(),
        }
    }

    fn client(&self, app: &str) -> Result<Client> {
        let parsed = url::Url::parse(self.url.connect_url())
            .map_err(|e| Error::Internal(format!("a parsed database URL no longer parses: {e}")))?;
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let mut envs = vec![("PGAPPNAME", app.to_string())];
        if let Some(host) = parsed.host_str() {
            envs.push(("PGHOST", host.trim_matches(['[', ']']).to_string()));
        }
        if let Some(port) = parsed.port() {
            envs.push(("PGPORT", port.to_string()));
        }
        if !parsed.username().is_empty() {
            envs.push(("PGUSER", decode(parsed.username())));
        }
        envs.push(("PGDATABASE", decode(parsed.path().trim_start_matches('/'))));
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "host" => envs.push(("PGHOST", value.into_owned())),
                "sslmode" => envs.push(("PGSSLMODE", value.into_owned())),
                "sslrootcert" => envs.push(("PGSSLROOTCERT", value.into_owned())),
                "sslcert" => envs.push(("PGSSLCERT", value.into_owned())),
                "sslkey" => envs.push(("PGSSLKEY", value.into_owned())),
                _ => {}
            }
        }
        if crate::db::loopback_without_tls_choice(&self.url) {
            envs.push(("PGSSLMODE", "disable".into()));
        }
        let password = parsed.password().map(decode);
        let passfile = match &password {
            Some(pw) => {
                let escaped = pw.replace('\\', "\\\\").replace(':', "\\:");
                let file = tools::secret_file(&format!("*:*:*:*:{escaped}\n"))?;
                envs.push(("PGPASSFILE", file.path().display().to_string()));
                Some(file)
            }
            None => None,
        };
        Ok(Client { envs, password, _passfile: passfile })
    }

    /// The schema `--clean` empties and `--grant-to` grants on: the URL's first search path entry, else `public`.
    fn schema(&self) -> String {
        self.url
            .search_path()
            .and_then(|p| p.split(',').map(|s| s.trim().trim_matches('"')).find(|s| !s.is_empty() && *s != "$user"))
            .unwrap_or("public")
            .to_string()
    }

    /// Refuses a pg_dump older than the server, before anything is written.
    async fn check_version(&self, db: &DatabaseConnection, pg_dump: &std::path::Path) -> Result<()> {
        let line = tools::version(pg_dump)?;
        let server = ServerVersion::find_by_statement(Statement::from_string(DbBackend::Postgres, SERVER_VERSION_SQL))
            .one(db)
            .await?
            .ok_or_else(|| Error::Internal("the server did not say its version".into()))?;
        // 150014 is 15.14, 90624 is 9.6.24: the major version pg_dump compares is the part above 10,000.
        let server_major = u32::try_from(server.num / 10_000).unwrap_or(0);
        match tools::major_version(&line) {
            Some(tool_major) if tool_major < server_major => Err(Error::Backup(format!(
                "{} is {line}, older than the server (PostgreSQL {}): an older pg_dump refuses a newer server because \
                 it cannot know what that server may hold. Install the PostgreSQL {server_major} client \
                 (apt-get install postgresql-client-{server_major}) and set pg_dump_path (STRATA_PG_DUMP_PATH) to its \
                 pg_dump, e.g. /usr/lib/postgresql/{server_major}/bin/pg_dump; nothing was backed up",
                pg_dump.display(),
                server.text
            ))),
            _ => Ok(()),
        }
    }

    /// The statements that empty the schema inside the restore's transaction, and what they do.
    async fn clean_plan(&self, db: &DatabaseConnection, schema: &str) -> Result<(String, String)> {
        let owner = SchemaOwner::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SCHEMA_SQL,
            [schema.into()],
        ))
        .one(db)
        .await?;
        let Some(owner) = owner else {
            return Ok((String::new(), format!("schema {schema} did not exist: nothing to drop")));
        };
        if owner.may_drop {
            let mut sql = format!("DROP SCHEMA {q} CASCADE;\nCREATE SCHEMA {q};\n", q = ident(schema));
            for row in self.rows(db, SCHEMA_GRANTS_SQL, schema).await? {
                sql.push_str(&row);
                sql.push('\n');
            }
            return Ok((sql, format!("dropped schema {schema} with everything in it and created it again")));
        }
        let drops = self.rows(db, OWNED_SQL, schema).await?;
        let how = format!(
            "{} may not drop schema {schema} (owned by {}), so dropped the {} object(s) in it that {} owns instead",
            owner.me,
            owner.owner,
            drops.len(),
            owner.me
        );
        Ok((drops.join("\n") + "\n", how))
    }

    /// After a restore: which of `before` (roles that had access, from [`ACCESS_SQL`]) cannot read the restored
    /// tables now, said in one sentence that points at `--grant-to`.
    async fn access_lost(&self, db: &DatabaseConnection, schema: &str, before: &[String]) -> Result<Option<String>> {
        if before.is_empty() {
            return Ok(None);
        }
        let names = serde_json::to_string(before).map_err(|e| Error::Internal(e.to_string()))?;
        let lost = Lost::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            LOST_SQL,
            [schema.into(), names.into()],
        ))
        .all(db)
        .await?;
        let Some(first) = lost.first() else { return Ok(None) };
        let who: Vec<String> = lost.iter().map(|l| format!("{} ({} tables)", l.name, l.tables)).collect();
        Ok(Some(format!(
            "the restored tables of schema {schema} belong to {} now; {} owned or could use them before and cannot \
             read them now: restore with --grant-to {} to give an application role its access back",
            first.me,
            who.join(", "),
            ident(&first.name)
        )))
    }

    async fn rows(&self, db: &DatabaseConnection, sql: &str, schema: &str) -> Result<Vec<String>> {
        let rows = SqlRow::find_by_statement(Statement::from_sql_and_values(DbBackend::Postgres, sql, [schema.into()]))
            .all(db)
            .await?;
        Ok(rows.into_iter().map(|r| r.sql).collect())
    }
}

/// A quoted PostgreSQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The grants `--grant-to` adds at the end of the restore's transaction.
fn grants(schema: &str, role: &str) -> String {
    let (s, r) = (ident(schema), ident(role));
    format!(
        "\nGRANT USAGE ON SCHEMA {s} TO {r};\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};\n\
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {r};\n\
         ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r};\n\
         ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r};\n"
    )
}

#[async_trait::async_trait]
impl Engine for Postgres {
    fn default_schema(&self) -> String {
        self.schema()
    }

    fn scratch_sql(&self, name: &str) -> Option<(String, String)> {
        Some((
            format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")),
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", name.replace('"', "\"\"")),
        ))
    }

    fn extension(&self, format: Format) -> Result<&'static str> {
        Ok(match format {
            Format::Sql => "sql.gz",
            Format::Custom => "dump",
        })
    }

    async fn dump(&self, db: &DatabaseConnection, format: Format, staged: &Staged, progress: Progress) -> Result<()> {
        let pg_dump = tools::find(self.pg_dump.as_deref(), &PG_DUMP)?;
        self.check_version(db, &pg_dump).await?;
        let client = self.client("strata backup")?;
        let mut cmd = client.command(&pg_dump);
        // Ownership and grants stay out: the restoring role owns what it restores (--grant-to gives access).
        cmd.args(["--no-owner", "--no-privileges"]);
        match format {
            Format::Sql => cmd.args(["--clean", "--if-exists"]),
            Format::Custom => cmd.arg("--format=custom"),
        };
        let out = staged.sink()?;
        blocking(move || {
            let result = super::dump_with_tool(cmd, client.password.as_deref(), out, format == Format::Sql, progress);
            drop(client);
            result
        })
        .await
    }

    fn accepts(&self, input: &Input) -> Result<()> {
        match input.content {
            Content::Sql { .. } | Content::PgCustom => Ok(()),
            Content::SqliteDb { .. } => Err(Error::Backup(format!(
                "{} is a SQLite database backup: it can only be restored into SQLite; nothing was restored",
                input.path.display()
            ))),
        }
    }

    async fn restore(
        &self,
        db: &DatabaseConnection,
        input: &Input,
        opts: &RestoreOptions,
        progress: Progress,
    ) -> Result<Restored> {
        let psql = tools::find(self.psql.as_deref(), &PSQL)?;
        let schema = self.schema();
        let mut done = Restored::default();
        let mut postlude = String::new();
        if let Some(role) = &opts.grant_to {
            let found = Count::find_by_statement(Statement::from_sql_and_values(
                DbBackend::Postgres,
                ROLE_EXISTS_SQL,
                [role.as_str().into()],
            ))
            .one(db)
            .await?;
            if found.is_none_or(|c| c.n == 0) {
                return Err(Error::Backup(format!(
                    "role {role:?} does not exist: create it first (CREATE ROLE {} LOGIN) or leave out --grant-to; \
                     nothing was restored",
                    ident(role)
                )));
            }
            postlude = grants(&schema, role);
            done.granted = Some(format!(
                "{role} may use schema {schema}, read and write its tables and sequences, and those created later"
            ));
        }
        let had_access: Vec<String> = RoleName::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            ACCESS_SQL,
            [schema.as_str().into()],
        ))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.name)
        .filter(|name| opts.grant_to.as_ref() != Some(name))
        .collect();
        let mut prelude = String::new();
        if opts.clean {
            let (sql, how) = self.clean_plan(db, &schema).await?;
            prelude = sql;
            done.cleaned = Some(how);
        }
        let source: Box<dyn Read + Send> = match input.content {
            Content::PgCustom => {
                let pg_restore = tools::find(self.pg_restore.as_deref(), &PG_RESTORE)?;
                let mut cmd = Command::new(pg_restore);
                // Without a database, pg_restore prints the script: psql runs it in the same transaction as the clean.
                cmd.args(["--no-owner", "--no-privileges", "--clean", "--if-exists", "--file=-"])
                    .stdout(Stdio::piped());
                if input.encrypted() {
                    // An age file is decrypted into pg_restore's stdin as it reads (no plain copy on disk).
                    let mut plain = input.raw()?;
                    cmd.stdin(Stdio::piped());
                    let mut running = Running::spawn(&mut cmd, None)?;
                    let mut stdin = running.stdin();
                    std::thread::spawn(move || std::io::copy(&mut plain, &mut stdin));
                    Box::new(ToolOutput::new(running, "pg_restore"))
                } else {
                    cmd.arg(&input.path).stdin(Stdio::null());
                    Box::new(ToolOutput::new(Running::spawn(&mut cmd, None)?, "pg_restore"))
                }
            }
            _ => Box::new(Complete::new(input.reader()?, MARKERS)),
        };
        let client = self.client("strata restore")?;
        let mut cmd = client.command(&psql);
        cmd.args(["--no-psqlrc", "--quiet", "--single-transaction", "--echo-errors", "-v", "ON_ERROR_STOP=1"])
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let path = input.path.clone();
        blocking(move || {
            let running = Running::spawn(&mut cmd, client.password.as_deref())?;
            let script = TolerantSchemas::new(BufReader::with_capacity(1 << 16, Counting::new(source, progress)));
            let mut all = Cursor::new(prelude).chain(script).chain(Cursor::new(postlude));
            let fed = tools::feed(running, &mut all);
            drop(client);
            match fed {
                Ok(()) => Ok(()),
                Err(FeedError::Source(e)) => Err(super::file::damaged(&path, &e)),
                Err(FeedError::Tool(said)) => {
                    let hint = if said.contains("depend on it") {
                        "\nObjects that are not in the backup depend on objects in it: restore with --clean to drop them too."
                    } else {
                        ""
                    };
                    Err(Error::Backup(format!(
                        "the restore failed and was rolled back; the database is as it was. psql said:\n{}{hint}",
                        said.trim()
                    )))
                }
            }
        })
        .await?;
        done.access_lost = self.access_lost(db, &schema, &had_access).await?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_quote_the_role_as_an_identifier() {
        let sql = grants("public", "app\"; DROP TABLE users; --");
        assert!(sql.contains("TO \"app\"\"; DROP TABLE users; --\";"), "{sql}");
        assert!(sql.contains("ALTER DEFAULT PRIVILEGES IN SCHEMA \"public\""), "{sql}");
    }

    #[test]
    fn tools_get_the_password_in_a_file_and_never_in_arguments() {
        let url = DatabaseUrl::parse("postgresql://bob:s3cr%3At@db.example.com:6543/app?sslmode=require").unwrap();
        let pg = Postgres::new(&url, &Settings::default());
        let client = pg.client("strata backup").unwrap();
        let env: std::collections::HashMap<_, _> = client.envs.iter().cloned().collect();
        assert_eq!(env["PGHOST"], "db.example.com");
        assert_eq!(env["PGPORT"], "6543");
        assert_eq!(env["PGUSER"], "bob");
        assert_eq!(env["PGDATABASE"], "app");
        assert_eq!(env["PGSSLMODE"], "require");
        assert!(!client.envs.iter().any(|(_, v)| v.contains("s3cr")), "no password in the environment");
        let passfile = std::fs::read_to_string(&env["PGPASSFILE"]).unwrap();
        assert_eq!(passfile, "*:*:*:*:s3cr\\:t\n");
        let cmd = client.command(std::path::Path::new("pg_dump"));
        assert!(cmd.get_args().all(|a| !a.to_string_lossy().contains("s3cr")));
    }
}
