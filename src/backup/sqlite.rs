//! SQLite: `VACUUM INTO` a consistent copy (WAL included), checked and gzip-compressed, to back up; to restore,
//! one `BEGIN IMMEDIATE` transaction re-creates the objects from the attached copy and copies its rows.
//!
//! Restoring through SQL instead of replacing the file keeps other connections (a running `strata serve`)
//! safe: they wait for the transaction and then see the restored database, never a file swapped under them.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};

use super::file::{Content, Counting, Input, Staged};
use super::{Engine, Format, Progress, RestoreOptions, Restored, blocking};
use crate::config::DatabaseUrl;
use crate::error::{Error, Result};

/// The name the backup copy is attached under while it is checked or restored from.
const ATTACHED: &str = "strata_backup";

/// The objects of the copy, tables first in creation order; SQLite's own tables are handled apart.
const BACKUP_OBJECTS_SQL: &str = r"
SELECT type AS kind, name, sql FROM strata_backup.sqlite_master
WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY CASE type WHEN 'table' THEN 1 WHEN 'index' THEN 2 WHEN 'view' THEN 3 ELSE 4 END, rowid";

/// The tables and views of the live database (indexes and triggers go with them).
const MAIN_OBJECTS_SQL: &str = r"
SELECT type AS kind, name, sql FROM main.sqlite_master
WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'";

const HAS_SEQUENCE_SQL: &str =
    "SELECT count(*) AS n FROM strata_backup.sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'";

#[derive(FromQueryResult)]
struct Object {
    kind: String,
    name: String,
    sql: Option<String>,
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

pub struct Sqlite {
    path: Option<PathBuf>,
}

impl Sqlite {
    pub fn new(url: &DatabaseUrl) -> Sqlite {
        Sqlite { path: url.sqlite_path().map(Path::to_path_buf) }
    }
}

/// A quoted SQLite identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn run(db: &DatabaseConnection, sql: &str) -> Result<()> {
    db.execute_unprepared(sql).await?;
    Ok(())
}

/// Attaches the file at `path` as [`ATTACHED`] and runs its integrity check; detached again on failure.
async fn attach_checked(db: &DatabaseConnection, path: &Path, shown: &Path) -> Result<()> {
    let attach = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!("ATTACH DATABASE ? AS {ATTACHED}"),
        [path.display().to_string().into()],
    );
    db.execute_raw(attach).await?;
    let verdict = integrity(db, Some(ATTACHED)).await;
    match verdict {
        Ok(v) if v == "ok" => Ok(()),
        other => {
            run(db, &format!("DETACH DATABASE {ATTACHED}")).await.ok();
            let why = match other {
                Ok(v) => v,
                Err(e) => e.to_string(),
            };
            Err(Error::Backup(format!(
                "the backup {} fails SQLite's integrity check ({why}); nothing was restored and the database is as it was",
                shown.display()
            )))
        }
    }
}

/// `PRAGMA integrity_check` of a schema: `ok`, or its first problems.
async fn integrity(db: &DatabaseConnection, schema: Option<&str>) -> Result<String> {
    let pragma = match schema {
        Some(s) => format!("PRAGMA {s}.integrity_check(5)"),
        None => "PRAGMA integrity_check(5)".to_string(),
    };
    let rows = db.query_all_raw(Statement::from_string(DbBackend::Sqlite, pragma)).await?;
    let lines: Vec<String> = rows.iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect();
    Ok(lines.join("; "))
}

/// Replaces the live database's objects with the attached copy's, in the caller's transaction.
async fn copy_from_attached(db: &DatabaseConnection, clean: bool) -> Result<()> {
    let objects =
        Object::find_by_statement(Statement::from_string(DbBackend::Sqlite, BACKUP_OBJECTS_SQL)).all(db).await?;
    let existing =
        Object::find_by_statement(Statement::from_string(DbBackend::Sqlite, MAIN_OBJECTS_SQL)).all(db).await?;
    // Without --clean only what the backup has is replaced, as a dump with DROP ... IF EXISTS would.
    for o in existing.iter().filter(|o| clean || objects.iter().any(|b| b.name.eq_ignore_ascii_case(&o.name))) {
        let what = if o.kind == "view" { "VIEW" } else { "TABLE" };
        run(db, &format!("DROP {what} IF EXISTS main.{}", ident(&o.name))).await?;
    }
    for o in objects.iter().filter(|o| o.kind == "index" || o.kind == "trigger") {
        let what = if o.kind == "index" { "INDEX" } else { "TRIGGER" };
        run(db, &format!("DROP {what} IF EXISTS main.{}", ident(&o.name))).await?;
    }
    // Tables, then their rows, then indexes, views and triggers (a trigger made earlier would fire on the copy).
    for o in objects.iter().filter(|o| o.kind == "table") {
        run(db, o.sql.as_deref().unwrap_or_default()).await?;
        let (name, from) = (ident(&o.name), format!("{ATTACHED}.{}", ident(&o.name)));
        run(db, &format!("INSERT INTO main.{name} SELECT * FROM {from}")).await?;
    }
    let sequence =
        Count::find_by_statement(Statement::from_string(DbBackend::Sqlite, HAS_SEQUENCE_SQL)).one(db).await?;
    if sequence.is_some_and(|c| c.n > 0) {
        run(db, "DELETE FROM main.sqlite_sequence").await?;
        run(db, &format!("INSERT INTO main.sqlite_sequence SELECT * FROM {ATTACHED}.sqlite_sequence")).await?;
    }
    for o in objects.iter().filter(|o| o.kind != "table") {
        run(db, o.sql.as_deref().unwrap_or_default()).await?;
    }
    Ok(())
}

/// Removes a SQLite file and the `-wal` / `-shm` files beside it.
fn remove_with_sidecars(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::fs::remove_file(PathBuf::from(p)).ok();
    }
}

#[async_trait::async_trait]
impl Engine for Sqlite {
    fn default_schema(&self) -> String {
        "main".into()
    }

    fn extension(&self, format: Format) -> Result<&'static str> {
        match format {
            Format::Sql => Ok("db.gz"),
            Format::Custom => Err(Error::BadRequest(
                "--format custom is pg_dump's format: SQLite backups are a gzip-compressed copy of the database file \
                 (--format sql)"
                    .into(),
            )),
        }
    }

    async fn dump(&self, db: &DatabaseConnection, _format: Format, staged: &Staged, progress: Progress) -> Result<()> {
        let dir = staged.path().parent().unwrap_or(Path::new("."));
        let copy = tempfile::Builder::new()
            .prefix(".strata-copy-")
            .suffix(".db")
            .tempfile_in(dir)
            .map_err(|e| Error::io(format!("cannot create a temporary copy in {}", dir.display()), e))?
            .into_temp_path();
        // VACUUM INTO reads one snapshot (committed WAL frames included) while other connections go on writing.
        let vacuum =
            Statement::from_sql_and_values(DbBackend::Sqlite, "VACUUM INTO ?", [copy.display().to_string().into()]);
        let result = async {
            db.execute_raw(vacuum).await?;
            attach_checked(db, &copy, &copy).await?;
            run(db, &format!("DETACH DATABASE {ATTACHED}")).await?;
            let (from, out) = (copy.to_path_buf(), staged.sink()?);
            blocking(move || {
                let mut source = BufReader::new(File::open(&from).map_err(|e| Error::io("cannot read the copy", e))?);
                let sink = Counting::new(out, progress);
                let mut gz = flate2::write::GzEncoder::new(sink, flate2::Compression::default());
                io::copy(&mut source, &mut gz)
                    .and_then(|_| gz.finish())
                    .and_then(|w| w.into_inner().finish())
                    .map_err(|e| Error::io("cannot write the backup; nothing was kept", e))
            })
            .await
        }
        .await;
        remove_with_sidecars(&copy);
        result
    }

    fn accepts(&self, input: &Input) -> Result<()> {
        match input.content {
            Content::SqliteDb { .. } => Ok(()),
            other => Err(Error::Backup(format!(
                "{} is {}: a SQLite database restores from a SQLite backup (.db.gz from `strata backup`, or a .db \
                 file); nothing was restored",
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
            return Err(Error::Unsupported("SQLite has no roles: leave out --grant-to; nothing was restored".into()));
        }
        let dir = self.path.as_deref().and_then(Path::parent).unwrap_or(Path::new(".")).to_path_buf();
        // A compressed backup is unpacked beside the database first; reading it whole checks its gzip checksum.
        let unpacked = match input.content {
            Content::SqliteDb { gzip } if gzip || input.encrypted() => {
                let input = input.clone();
                Some(
                    blocking(move || {
                        let tmp =
                            tempfile::Builder::new()
                                .prefix(".strata-restore-")
                                .suffix(".db")
                                .tempfile_in(&dir)
                                .map_err(|e| Error::io(format!("cannot unpack the backup in {}", dir.display()), e))?;
                        let mut source = Counting::new(input.reader()?, progress);
                        let mut out = BufWriter::new(tmp.as_file());
                        io::copy(&mut source, &mut out)
                            .and_then(|_| out.flush())
                            .map_err(|e| super::file::damaged(&input.path, &e))?;
                        drop(out);
                        Ok(tmp.into_temp_path())
                    })
                    .await?,
                )
            }
            _ => None,
        };
        let source = unpacked.as_ref().map(|p| p.to_path_buf()).unwrap_or_else(|| input.path.clone());
        // Foreign keys are checked per statement otherwise; they cannot be switched inside a transaction.
        run(db, "PRAGMA foreign_keys = OFF").await?;
        let result = async {
            attach_checked(db, &source, &input.path).await?;
            run(db, "BEGIN IMMEDIATE").await?;
            match copy_from_attached(db, opts.clean).await {
                Ok(()) => run(db, "COMMIT").await,
                Err(e) => {
                    run(db, "ROLLBACK").await.ok();
                    Err(Error::Backup(format!(
                        "the restore failed and was rolled back; the database is as it was: {e}"
                    )))
                }
            }
        }
        .await;
        run(db, &format!("DETACH DATABASE {ATTACHED}")).await.ok();
        run(db, "PRAGMA foreign_keys = ON").await.ok();
        if let Some(p) = &unpacked {
            remove_with_sidecars(p);
        }
        result?;
        Ok(Restored {
            cleaned: opts.clean.then(|| "dropped every table and view of the database first".to_string()),
            granted: None,
            access_lost: None,
        })
    }

    async fn checks(&self, db: &DatabaseConnection) -> Result<Vec<(String, String)>> {
        let problems = db.query_all_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA foreign_key_check")).await?;
        Ok(vec![
            ("integrity_check".into(), integrity(db, None).await?),
            ("foreign_key_check".into(), format!("{} violation(s)", problems.len())),
        ])
    }
}
