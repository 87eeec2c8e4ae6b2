//! Backup files: their names, atomic writing (temporary name, fsync, rename), retention, and reading them back.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use flate2::read::MultiGzDecoder;
use serde::Serialize;

use super::encrypt::{self, Identities, Sink};
use crate::error::{Error, Result};

/// The timestamp in backup names: sortable, no `:` (Windows-safe), UTC.
const STAMP: &str = "%Y-%m-%d_%H-%M-%S";

/// Every ending a backup written by Strata has (`.age` appended when encrypted); retention only ever deletes files
/// with one of these.
pub const EXTENSIONS: [&str; 6] = ["sql.gz", "dump", "db.gz", "sql.gz.age", "dump.age", "db.gz.age"];

/// What a file to restore holds, found from its first bytes rather than its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// SQL text (pg_dump plain format, mariadb-dump output, or hand-written).
    Sql { gzip: bool },
    /// pg_dump's custom format (`PGDMP` header), read through pg_restore.
    PgCustom,
    /// A SQLite database file.
    SqliteDb { gzip: bool },
}

impl Content {
    /// How a person would call it.
    pub fn describe(self) -> &'static str {
        match self {
            Content::Sql { gzip: true } => "gzip-compressed SQL",
            Content::Sql { gzip: false } => "SQL",
            Content::PgCustom => "pg_dump custom format",
            Content::SqliteDb { gzip: true } => "gzip-compressed SQLite database",
            Content::SqliteDb { gzip: false } => "SQLite database",
        }
    }
}

/// A backup file chosen for restoring.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: PathBuf,
    pub content: Content,
    pub bytes: u64,
    /// The identities that open it, when it is an age file.
    pub identity: Option<Identities>,
}

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
const PG_CUSTOM_MAGIC: &[u8] = b"PGDMP";
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

impl Input {
    /// Opens `path` and finds out what it holds; an age file needs `identity` (and is read through it).
    pub fn open(path: &Path, identity: Option<&Identities>) -> Result<Input> {
        let file = File::open(path).map_err(|e| Error::io(format!("cannot open the backup {}", path.display()), e))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut head =
            read_head(file).map_err(|e| Error::io(format!("cannot read the backup {}", path.display()), e))?;
        let mut opened = None;
        if head.starts_with(&encrypt::MAGIC[..16]) {
            let ids = identity.ok_or_else(|| encrypt::needs_identity(path))?;
            let file = File::open(path).map_err(|e| damaged(path, &e))?;
            head = read_head(ids.open(BufReader::new(file), path)?).map_err(|e| damaged(path, &e))?;
            opened = Some(ids.clone());
        }
        let content = if head.starts_with(GZIP_MAGIC) {
            let probe = Input {
                path: path.to_path_buf(),
                content: Content::Sql { gzip: false },
                bytes,
                identity: opened.clone(),
            };
            let inner = probe.raw().and_then(|r| read_head(MultiGzDecoder::new(r)).map_err(|e| damaged(path, &e)))?;
            if inner.starts_with(SQLITE_MAGIC) { Content::SqliteDb { gzip: true } } else { Content::Sql { gzip: true } }
        } else if head.starts_with(PG_CUSTOM_MAGIC) {
            Content::PgCustom
        } else if head.starts_with(SQLITE_MAGIC) {
            Content::SqliteDb { gzip: false }
        } else if head.is_empty() {
            return Err(Error::Backup(format!(
                "{} is empty: it is not a backup; nothing was restored",
                path.display()
            )));
        } else {
            Content::Sql { gzip: false }
        };
        Ok(Input { path: path.to_path_buf(), content, bytes, identity: opened })
    }

    /// Whether the file is an age file.
    pub fn encrypted(&self) -> bool {
        self.identity.is_some()
    }

    /// The file's bytes, decrypted when it is an age file (still compressed).
    pub fn raw(&self) -> Result<Box<dyn Read + Send>> {
        let file = File::open(&self.path)
            .map_err(|e| Error::io(format!("cannot open the backup {}", self.path.display()), e))?;
        let file = BufReader::with_capacity(1 << 16, file);
        Ok(match &self.identity {
            Some(ids) => Box::new(ids.open(file, &self.path)?),
            None => Box::new(file),
        })
    }

    /// The file's content, decrypted and decompressed.
    pub fn reader(&self) -> Result<Box<dyn Read + Send>> {
        let file = self.raw()?;
        Ok(match self.content {
            Content::Sql { gzip: true } | Content::SqliteDb { gzip: true } => Box::new(MultiGzDecoder::new(file)),
            _ => Box::new(file),
        })
    }
}

/// The first bytes of a stream (fewer when it is shorter).
fn read_head(reader: impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(16);
    reader.take(16).read_to_end(&mut head)?;
    Ok(head)
}

/// The error for a backup that cannot be read to its end.
pub fn damaged(path: &Path, e: &io::Error) -> Error {
    Error::Backup(format!(
        "the backup {} is damaged or incomplete ({e}); nothing was restored and the database is as it was. \
         Take the backup again or use an older one",
        path.display()
    ))
}

/// A dump file's own first and last lines, when the tool that wrote it is known.
pub struct Markers {
    /// Text near the start that says which tool wrote the file.
    pub header: &'static str,
    /// Text near the end that the tool writes only when the dump is complete.
    pub trailer: &'static str,
}

/// Reads a dump and, when its header says which tool wrote it, fails at the end unless the tool's
/// "complete" trailer is there: a file cut short at a line boundary is otherwise valid SQL.
pub struct Complete<R> {
    inner: R,
    markers: &'static [Markers],
    head: Vec<u8>,
    tail: Vec<u8>,
}

const TAIL_BYTES: usize = 4096;

impl<R: Read> Complete<R> {
    pub fn new(inner: R, markers: &'static [Markers]) -> Complete<R> {
        Complete { inner, markers, head: Vec::new(), tail: Vec::new() }
    }

    fn check(&self) -> io::Result<()> {
        let head = String::from_utf8_lossy(&self.head);
        let tail = String::from_utf8_lossy(&self.tail);
        for m in self.markers {
            if head.contains(m.header) && !tail.contains(m.trailer) {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the dump ends without its last line \"{}\": it was cut short", m.trailer),
                ));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Complete<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check()?;
            return Ok(0);
        }
        if self.head.len() < 1024 {
            let take = (1024 - self.head.len()).min(n);
            self.head.extend_from_slice(&buf[..take]);
        }
        self.tail.extend_from_slice(&buf[..n]);
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
        Ok(n)
    }
}

/// Counts the bytes going through and reports the running total.
pub struct Counting<T> {
    inner: T,
    total: u64,
    progress: super::Progress,
}

impl<T> Counting<T> {
    pub fn new(inner: T, progress: super::Progress) -> Counting<T> {
        Counting { inner, total: 0, progress }
    }

    /// What it wrapped.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Write> Write for Counting<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.total += n as u64;
        (self.progress)(self.total);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Read> Read for Counting<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        (self.progress)(self.total);
        Ok(n)
    }
}

/// `<db>_YYYY-MM-DD_HH-MM-SS.<ext>`.
pub fn backup_name(db: &str, at: DateTime<Utc>, ext: &str) -> String {
    format!("{db}_{}.{ext}", at.format(STAMP))
}

/// A database name as it appears in file names: anything but letters, digits, `-` and `.` becomes `_`.
pub fn safe_name(db: &str) -> String {
    let name: String =
        db.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with('.') { format!("db{name}") } else { name }
}

/// When the backup named `file_name` of database `db` was taken; `None` for any other file.
pub fn backup_time(file_name: &str, db: &str) -> Option<NaiveDateTime> {
    parse_name(file_name, db).map(|(at, _)| at)
}

/// The time and ending of a backup of database `db` named `file_name`; `None` for any other file.
fn parse_name(file_name: &str, db: &str) -> Option<(NaiveDateTime, &'static str)> {
    let rest = file_name.strip_prefix(db)?.strip_prefix('_')?;
    EXTENSIONS.iter().find_map(|ext| {
        let stamp = rest.strip_suffix(ext)?.strip_suffix('.')?;
        Some((NaiveDateTime::parse_from_str(stamp, STAMP).ok()?, *ext))
    })
}

/// A backup of one database found in its folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The file name, without the folder.
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// When it was taken (UTC), from its name.
    pub taken: DateTime<Utc>,
    /// One of [`EXTENSIONS`].
    pub ext: &'static str,
}

impl Listed {
    /// What the file holds, as a person would call it.
    pub fn format(&self) -> &'static str {
        match self.ext {
            "sql.gz" => Content::Sql { gzip: true }.describe(),
            "dump" => Content::PgCustom.describe(),
            "sql.gz.age" => "gzip-compressed SQL, encrypted (age)",
            "dump.age" => "pg_dump custom format, encrypted (age)",
            "db.gz.age" => "gzip-compressed SQLite database, encrypted (age)",
            _ => Content::SqliteDb { gzip: true }.describe(),
        }
    }

    /// Whether it is an age file (its name ends in `.age`).
    pub fn encrypted(&self) -> bool {
        self.ext.ends_with(encrypt::SUFFIX)
    }
}

/// The backups of database `db` in `dir`, newest first. Only regular files named like a backup of
/// `db` count (no symbolic links, no other database's backups); a folder not created yet has none.
pub fn list(dir: &Path, db: &str) -> Result<Vec<Listed>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
    };
    let mut backups: Vec<Listed> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (taken, ext) = parse_name(&name, db)?;
            let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
            Some(Listed { path: e.path(), name, bytes, taken: taken.and_utc(), ext })
        })
        .collect();
    backups.sort_by(|a, b| b.taken.cmp(&a.taken).then_with(|| b.name.cmp(&a.name)));
    Ok(backups)
}

/// The backup of `db` in `dir` called `name`; anything else (another file, a path, `..`) is not found.
/// The backup of `db` called `name` as it would be listed in `dir` (its path there, whether or not the file exists):
/// `None` when the name is not one of `db`'s backups.
pub fn listed_as(dir: &Path, db: &str, name: &str, bytes: u64) -> Option<Listed> {
    let (at, ext) = parse_name(name, db)?;
    Some(Listed { name: name.to_string(), path: dir.join(name), bytes, taken: at.and_utc(), ext })
}

pub fn find(dir: &Path, db: &str, name: &str) -> Result<Listed> {
    list(dir, db)?.into_iter().find(|b| b.name == name).ok_or_else(|| Error::NotFound(format!("backup {name:?}")))
}

/// What [`prune`] would delete: all but the newest `keep` backups of `db` in `dir`, newest first.
pub fn retention(dir: &Path, db: &str, keep: usize) -> Result<Vec<Listed>> {
    Ok(list(dir, db)?.into_iter().skip(keep).collect())
}

/// Deletes one backup file and its sidecar.
pub fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Error::io(format!("cannot delete the backup {}", path.display()), e))?;
    match std::fs::remove_file(super::manifest::path_of(path)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(Error::io(format!("deleted the backup {} but not its sidecar", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// Deletes all but the newest `keep` backups of database `db` in `dir`; other files are never touched.
pub fn prune(dir: &Path, db: &str, keep: usize) -> Result<Vec<PathBuf>> {
    let mut deleted = Vec::new();
    for old in retention(dir, db, keep)? {
        remove(&old.path)?;
        deleted.push(old.path);
    }
    Ok(deleted)
}

/// A file being written under a temporary name in its final folder; it appears under its final
/// name only through [`Staged::commit`], and is removed when dropped before that.
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    /// age recipients the content is encrypted to as it is written (none: written as it is).
    recipients: Vec<String>,
}

impl Staged {
    /// Creates the folder if needed and the temporary file in it; fails early when neither can be written.
    pub fn create(dir: &Path, name: &str) -> Result<Staged> {
        let unwritable = |e: io::Error| {
            Error::Backup(format!(
                "cannot write backups to {}: {e}. Choose another folder with --dir (or the backup_dir setting) \
                 or make this one writable; nothing was backed up",
                dir.display()
            ))
        };
        std::fs::create_dir_all(dir).map_err(unwritable)?;
        let path = dir.join(name);
        if path.exists() {
            return Err(Error::Backup(format!(
                "{} already exists (one backup per database per second); nothing was backed up",
                path.display()
            )));
        }
        let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".partial").tempfile_in(dir);
        Ok(Staged { tmp: tmp.map_err(unwritable)?, path, recipients: Vec::new() })
    }

    /// Encrypts what is written through [`Staged::sink`] to these age recipients.
    pub fn encrypt_to(mut self, recipients: &[String]) -> Staged {
        self.recipients = recipients.to_vec();
        self
    }

    /// Where the backup's bytes go (encrypted when recipients are set); [`Sink::finish`] ends it.
    pub fn sink(&self) -> Result<Sink> {
        Sink::new(self.file()?, &self.recipients)
    }

    /// A second handle on the temporary file, for the writer.
    pub fn file(&self) -> Result<File> {
        self.tmp.as_file().try_clone().map_err(|e| Error::io("cannot reopen the temporary backup file", e))
    }

    /// The name the backup will have.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk, gives it its final name and makes the rename durable; returns its size.
    pub fn commit(self) -> Result<(PathBuf, u64)> {
        let file = self.tmp.as_file();
        file.sync_all().map_err(|e| Error::io("cannot flush the backup to disk", e))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let path = self.path;
        self.tmp
            .persist_noclobber(&path)
            .map_err(|e| Error::io(format!("cannot name the backup {}", path.display()), e.error))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("cannot flush the backup folder", e))?;
        }
        Ok((path, bytes))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn names_carry_the_database_and_a_sortable_utc_stamp() {
        let at = Utc.with_ymd_and_hms(2025, 11, 28, 7, 5, 9).unwrap();
        assert_eq!(backup_name("app", at, "sql.gz"), "app_2025-11-28_07-05-09.sql.gz");
        assert_eq!(backup_time("app_2025-11-28_07-05-09.sql.gz", "app"), Some(at.naive_utc()));
        assert_eq!(backup_time("app_2025-11-28_07-05-09.dump", "app"), Some(at.naive_utc()));
    }

    #[test]
    fn another_databases_backups_and_other_files_are_not_ours() {
        assert_eq!(backup_time("app_test_2025-11-28_07-05-09.sql.gz", "app"), None);
        assert_eq!(backup_time("app_2025-11-28_07-05-09.sql", "app"), None);
        assert_eq!(backup_time("app_2025-11-28.sql.gz", "app"), None);
        assert_eq!(backup_time(".app_2025-11-28_07-05-09.sql.gz.x.partial", "app"), None);
        assert!(backup_time("app_test_2025-11-28_07-05-09.sql.gz", "app_test").is_some());
    }

    #[test]
    fn unsafe_characters_in_database_names_become_underscores() {
        assert_eq!(safe_name("my db/x"), "my_db_x");
        assert_eq!(safe_name("..hidden"), "db..hidden");
        assert_eq!(safe_name("strata"), "strata");
    }

    #[test]
    fn a_dump_cut_short_is_an_error_at_its_end() {
        const PG: &[Markers] =
            &[Markers { header: "-- PostgreSQL database dump", trailer: "-- PostgreSQL database dump complete" }];
        let whole = "--\n-- PostgreSQL database dump\n--\nSELECT 1;\n--\n-- PostgreSQL database dump complete\n--\n";
        let mut out = String::new();
        Complete::new(whole.as_bytes(), PG).read_to_string(&mut out).unwrap();
        assert_eq!(out, whole);
        let cut = &whole[..40];
        let err = Complete::new(cut.as_bytes(), PG).read_to_string(&mut String::new()).unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");
        let handwritten = "CREATE TABLE t (x int);\n";
        Complete::new(handwritten.as_bytes(), PG).read_to_string(&mut String::new()).unwrap();
    }

    #[test]
    fn retention_keeps_the_newest_of_one_database_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "app_2025-01-01_00-00-00.sql.gz",
            "app_2025-01-03_00-00-00.sql.gz",
            "app_2025-01-02_00-00-00.dump",
            "app_test_2020-01-01_00-00-00.sql.gz",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let deleted = prune(dir.path(), "app", 2).unwrap();
        assert_eq!(deleted, [dir.path().join("app_2025-01-01_00-00-00.sql.gz")]);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(
            left,
            [
                "app_2025-01-02_00-00-00.dump",
                "app_2025-01-03_00-00-00.sql.gz",
                "app_test_2020-01-01_00-00-00.sql.gz",
                "notes.txt"
            ]
        );
    }

    #[test]
    fn listing_is_newest_first_and_finds_only_listed_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["app_2025-01-01_00-00-00.sql.gz", "app_2025-01-02_00-00-00.dump", "app_x.sql.gz", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"xy").unwrap();
        }
        let names: Vec<String> = list(dir.path(), "app").unwrap().into_iter().map(|b| b.name).collect();
        assert_eq!(names, ["app_2025-01-02_00-00-00.dump", "app_2025-01-01_00-00-00.sql.gz"]);
        assert_eq!(find(dir.path(), "app", "app_2025-01-01_00-00-00.sql.gz").unwrap().bytes, 2);
        for outside in ["notes.txt", "../app_2025-01-01_00-00-00.sql.gz", "/etc/passwd", ""] {
            assert!(matches!(find(dir.path(), "app", outside), Err(Error::NotFound(_))), "{outside:?}");
        }
        assert!(list(&dir.path().join("not-yet"), "app").unwrap().is_empty(), "a missing folder has no backups");
    }

    #[test]
    fn a_staged_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let staged = Staged::create(dir.path(), "a.sql.gz").unwrap();
        staged.file().unwrap().write_all(b"data").unwrap();
        drop(staged);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "an abandoned file leaves nothing");
        let staged = Staged::create(dir.path(), "a.sql.gz").unwrap();
        staged.file().unwrap().write_all(b"data").unwrap();
        let (path, bytes) = staged.commit().unwrap();
        assert_eq!((std::fs::read(&path).unwrap(), bytes), (b"data".to_vec(), 4));
        let again = Staged::create(dir.path(), "a.sql.gz").err().unwrap().to_string();
        assert!(again.contains("already exists"), "{again}");
    }
}
