//! MariaDB/MySQL: mariadb-dump (or mysqldump) to back up; the mariadb (or mysql) client to restore, the file read whole first.
//!
//! MariaDB commits DDL as it goes, so a restore cannot be one transaction: a damaged file is found
//! by reading it to its end (gzip checksum, the dump's "Dump completed" line) before the database is touched.

use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use percent_encoding::percent_decode_str;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};

use super::file::{Complete, Content, Counting, Input, Markers, Staged};
use super::tools::{self, FeedError, Running, Wanted};
use super::{Engine, Format, Progress, RestoreOptions, Restored, blocking};
use crate::config::{DatabaseUrl, Settings};
use crate::error::{Error, Result};

/// What `--clean` drops: every table, view and sequence of the database, and its routines.
const OBJECTS_SQL: &str = r"
SELECT TABLE_NAME AS name, TABLE_TYPE AS kind FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
UNION ALL
SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()";

/// mariadb-dump and mysqldump write these first and, when complete, last.
const MARKERS: &[Markers] = &[
    Markers { header: "-- MariaDB dump", trailer: "-- Dump completed" },
    Markers { header: "-- MySQL dump", trailer: "-- Dump completed" },
];

const INSTALL: &str = "install the MariaDB client (apt-get install mariadb-client)";
const DUMP: Wanted = Wanted { setting: "mysqldump_path", names: &["mariadb-dump", "mysqldump"], install: INSTALL };
const CLIENT: Wanted = Wanted { setting: "mysql_path", names: &["mariadb", "mysql"], install: INSTALL };

#[derive(FromQueryResult)]
struct Object {
    name: String,
    kind: String,
}

pub struct MySql {
    url: DatabaseUrl,
    dump: Option<PathBuf>,
    client: Option<PathBuf>,
}

/// The connection settings in a 0600 option file (`--defaults-extra-file`), the password with them.
struct Client {
    options: tempfile::NamedTempFile,
    password: Option<String>,
    database: String,
}

impl Client {
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        // It must be the first argument.
        cmd.arg(format!("--defaults-extra-file={}", self.options.path().display()));
        cmd.env_remove("MYSQL_PWD");
        cmd
    }
}

impl MySql {
    pub fn new(url: &DatabaseUrl, settings: &Settings) -> MySql {
        MySql { url: url.clone(), dump: settings.mysqldump_path.clone(), client: settings.mysql_path.clone() }
    }

    /// `extra` lines go into the `[client]` group after the connection settings.
    fn client(&self, extra: &[&str]) -> Result<Client> {
        let parsed = url::Url::parse(self.url.connect_url())
            .map_err(|e| Error::Internal(format!("a parsed database URL no longer parses: {e}")))?;
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut text = String::from("[client]\n");
        if !parsed.username().is_empty() {
            text.push_str(&format!("user={}\n", quote(&decode(parsed.username()))));
        }
        let password = parsed.password().map(decode);
        if let Some(pw) = &password {
            text.push_str(&format!("password={}\n", quote(pw)));
        }
        if let Some(host) = parsed.host_str() {
            text.push_str(&format!("host={}\n", quote(host.trim_matches(['[', ']']))));
        }
        if let Some(port) = parsed.port() {
            text.push_str(&format!("port={port}\n"));
        }
        for line in extra {
            text.push_str(line);
            text.push('\n');
        }
        let database = decode(parsed.path().trim_start_matches('/'));
        Ok(Client { options: tools::secret_file(&text)?, password, database })
    }

    /// Drops every table, view, sequence and routine, foreign key checks off, on this one connection.
    async fn clean(&self, db: &DatabaseConnection) -> Result<String> {
        let objects = Object::find_by_statement(Statement::from_string(DbBackend::MySql, OBJECTS_SQL)).all(db).await?;
        db.execute_unprepared("SET FOREIGN_KEY_CHECKS = 0").await?;
        let mut dropped = 0;
        let mut result = Ok(());
        for o in &objects {
            let what = match o.kind.as_str() {
                "VIEW" => "VIEW",
                "SEQUENCE" => "SEQUENCE",
                "PROCEDURE" => "PROCEDURE",
                "FUNCTION" => "FUNCTION",
                _ => "TABLE",
            };
            result = db.execute_unprepared(&format!("DROP {what} IF EXISTS {}", ident(&o.name))).await.map(|_| ());
            if result.is_err() {
                break;
            }
            dropped += 1;
        }
        db.execute_unprepared("SET FOREIGN_KEY_CHECKS = 1").await?;
        result?;
        Ok(format!("dropped the {dropped} table(s), view(s) and routine(s) of the database first"))
    }
}

/// A quoted MariaDB identifier.
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The line number in a client error: `ERROR 1062 (23000) at line 57: Duplicate entry ...`.
fn error_line(said: &str) -> Option<usize> {
    let rest = &said[said.find(" at line ")? + " at line ".len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The start of line `n` of the input, to show with the error.
fn statement_at(input: &Input, n: usize) -> Option<String> {
    let reader = io::BufReader::new(input.reader().ok()?);
    let line = reader.split(b'\n').nth(n.checked_sub(1)?)?.ok()?;
    let text = String::from_utf8_lossy(&line);
    Some(if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text.into()
    })
}

#[async_trait::async_trait]
impl Engine for MySql {
    fn default_schema(&self) -> String {
        self.url.database_name().unwrap_or_default()
    }

    fn scratch_sql(&self, name: &str) -> Option<(String, String)> {
        Some((
            format!("CREATE DATABASE `{}`", name.replace('`', "``")),
            format!("DROP DATABASE IF EXISTS `{}`", name.replace('`', "``")),
        ))
    }

    fn extension(&self, format: Format) -> Result<&'static str> {
        match format {
            Format::Sql => Ok("sql.gz"),
            Format::Custom => Err(Error::BadRequest(
                "--format custom is pg_dump's format: MariaDB/MySQL backups are gzip-compressed SQL (--format sql)"
                    .into(),
            )),
        }
    }

    async fn dump(&self, _db: &DatabaseConnection, _format: Format, staged: &Staged, progress: Progress) -> Result<()> {
        let tool = tools::find(self.dump.as_deref(), &DUMP)?;
        let client = self.client(&[])?;
        let mut cmd = client.command(&tool);
        // One consistent snapshot of InnoDB tables without locking them; DROP TABLE before each CREATE;
        // the dump itself turns foreign key checks off while it loads.
        cmd.args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--add-drop-table",
            "--hex-blob",
            "--no-tablespaces",
            "--default-character-set=utf8mb4",
        ])
        .arg(&client.database);
        let out = staged.sink()?;
        blocking(move || {
            let result = super::dump_with_tool(cmd, client.password.as_deref(), out, true, progress);
            drop(client);
            result
        })
        .await
    }

    fn accepts(&self, input: &Input) -> Result<()> {
        match input.content {
            Content::Sql { .. } => Ok(()),
            other => Err(Error::Backup(format!(
                "{} is a {}: MariaDB/MySQL restores take SQL (.sql or .sql.gz); nothing was restored",
                input.path.display(),
                other.describe()
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
        if opts.grant_to.is_some() {
            return Err(Error::Unsupported(
                "--grant-to grants to a PostgreSQL role; on MariaDB/MySQL run GRANT ... ON db.* TO 'user'@'host' \
                 yourself; nothing was restored"
                    .into(),
            ));
        }
        let tool = tools::find(self.client.as_deref(), &CLIENT)?;
        let checked = input.clone();
        blocking(move || {
            let mut whole = Complete::new(checked.reader()?, MARKERS);
            io::copy(&mut whole, &mut io::sink()).map(|_| ()).map_err(|e| super::file::damaged(&checked.path, &e))
        })
        .await?;
        let mut done = Restored::default();
        if opts.clean {
            done.cleaned = Some(self.clean(db).await?);
        }
        let client = self.client(&["init-command=\"SET FOREIGN_KEY_CHECKS=0\""])?;
        let mut cmd = client.command(&tool);
        cmd.arg("--batch").arg(&client.database).stdin(Stdio::piped()).stdout(Stdio::null());
        let input = input.clone();
        blocking(move || {
            let running = Running::spawn(&mut cmd, client.password.as_deref())?;
            let mut source = Counting::new(input.reader()?, progress);
            let fed = tools::feed(running, &mut source as &mut dyn Read);
            drop(client);
            match fed {
                Ok(()) => Ok(()),
                Err(FeedError::Source(e)) => Err(Error::Backup(format!(
                    "the backup {} could not be read to its end ({e}) after it had been checked; the restore stopped \
                     part-way and MariaDB keeps what it committed: restore again with --clean",
                    input.path.display()
                ))),
                Err(FeedError::Tool(said)) => {
                    let statement = error_line(&said)
                        .and_then(|n| statement_at(&input, n))
                        .map(|s| format!("\nThe statement: {s}"))
                        .unwrap_or_default();
                    Err(Error::Backup(format!(
                        "the restore failed: {}{statement}\nMariaDB/MySQL commits each statement, so the tables \
                         restored before it stay restored: fix the cause and restore again (with --clean to start \
                         from an empty database)",
                        said.trim()
                    )))
                }
            }
        })
        .await?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_give_their_line() {
        assert_eq!(error_line("ERROR 1146 (42S02) at line 57: Table 'x.y' doesn't exist"), Some(57));
        assert_eq!(error_line("ERROR 2002 (HY000): Can't connect"), None);
    }

    #[test]
    fn the_password_goes_to_a_private_option_file_quoted() {
        let url = DatabaseUrl::parse("mysql://app:pa%22ss%5Cw@127.0.0.1:3307/shop").unwrap();
        let my = MySql::new(&url, &Settings::default());
        let client = my.client(&[]).unwrap();
        let text = std::fs::read_to_string(client.options.path()).unwrap();
        assert!(text.contains("password=\"pa\\\"ss\\\\w\"\n"), "{text}");
        assert!(text.contains("port=3307") && text.contains("user=\"app\""), "{text}");
        assert_eq!(client.database, "shop");
        let cmd = client.command(Path::new("mariadb-dump"));
        assert!(cmd.get_args().all(|a| !a.to_string_lossy().contains("pa\"ss")));
    }
}
