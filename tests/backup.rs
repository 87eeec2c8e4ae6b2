//! `strata backup`, `strata restore` and `strata verify` as a user runs them, on SQLite, PostgreSQL and MariaDB.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::web::migrate_up;
use common::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;

each_backend! {
    round_trip_restores_rows_indexes_constraints_and_migration_head => round_trip;
    a_damaged_or_truncated_backup_fails_and_leaves_the_database_as_it_was => damaged_backups;
    restore_without_a_terminal_refuses_unless_yes_is_given => refuses_without_yes;
    an_unwritable_backup_folder_is_refused_and_leaves_no_file => unwritable_folder;
    keep_deletes_the_oldest_backups_of_this_database_only => retention;
}

/// Fills the seed schema: users (unique indexes) and posts (a foreign key to users), awkward text included.
async fn seed(db: &DatabaseConnection) {
    exec(
        db,
        "INSERT INTO users (username, email, is_active) VALUES \
         ('ann', 'ann@example.com', true), ('bob', 'bob@example.com', false), ('chloé', 'o''brien@example.com', true)",
    )
    .await;
    exec(
        db,
        "INSERT INTO posts (title, content, user_id, is_published) VALUES \
         ('first', 'line one\nline two', 1, true), ('second', 'tab\there; semicolon', 1, false), \
         ('third', 'ünïcødé ✓', 2, true), ('fourth', 'quote '' and backslash \\\\', 3, false)",
    )
    .await;
}

/// Everything a restore must bring back, as text: rows, indexes, constraints, the migration head.
async fn snapshot(t: &TestDb) -> Vec<String> {
    let db = t.connect().await;
    let queries: &[&str] = match t.kind {
        Kind::Postgres => &[
            "SELECT u::text FROM users u ORDER BY id",
            "SELECT p::text FROM posts p ORDER BY id",
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
            // A CHECK's text is deparsed anew after a restore (`ANY (ARRAY[..]::text[])` vs `ANY (ARRAY[..::text])`),
            // so CHECKs are compared by name and columns; the round trip test also tries one.
            "SELECT conname || ' ' || CASE WHEN contype = 'c' THEN 'CHECK ' || conkey::text \
             ELSE pg_get_constraintdef(oid) END FROM pg_constraint \
             WHERE connamespace = 'public'::regnamespace ORDER BY conname",
            "SELECT version_num FROM alembic_version",
            "SELECT version FROM seaql_migrations ORDER BY version",
        ],
        Kind::MySql => &[
            "SELECT CONCAT_WS('|', id, username, email, is_active, created_at, updated_at) FROM users ORDER BY id",
            "SELECT CONCAT_WS('|', id, title, content, user_id, is_published, created_at) FROM posts ORDER BY id",
            "SELECT CONCAT_WS(' ', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE) \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
            "SELECT CONCAT_WS(' ', CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME, UPDATE_RULE, DELETE_RULE) \
             FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY 1",
            "SELECT version_num FROM alembic_version",
            "SELECT version FROM seaql_migrations ORDER BY version",
        ],
        Kind::Sqlite => &[
            "SELECT id || '|' || username || '|' || email || '|' || is_active || '|' || created_at FROM users ORDER BY id",
            "SELECT id || '|' || title || '|' || content || '|' || user_id || '|' || is_published FROM posts ORDER BY id",
            "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
            "SELECT version_num FROM alembic_version",
            "SELECT version FROM seaql_migrations ORDER BY version",
        ],
    };
    let mut out = Vec::new();
    for q in queries {
        out.push(format!("-- {q}"));
        out.extend(column(&db, q).await);
    }
    db.close().await.ok();
    out
}

fn verify_json(t: &TestDb) -> Value {
    serde_json::from_str(&ok(&strata(&t.url, &["verify", "--json"]))).expect("verify --json prints JSON")
}

/// Runs `strata backup --dir DIR` and returns the file it wrote.
/// A migrated, seeded database and a backup of it: (database, connection, backup folder, backup file).
async fn seeded_backup(kind: Kind) -> (TestDb, DatabaseConnection, tempfile::TempDir, PathBuf) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    seed(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let file = backup_into(&t, dir.path(), &[]);
    (t, db, dir, file)
}

fn backup_into(t: &TestDb, dir: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["backup", "--dir", dir.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let summary: Value = serde_json::from_str(&ok(&strata(&t.url, &args))).expect("backup --json prints JSON");
    let file = PathBuf::from(summary["file"].as_str().unwrap());
    assert!(file.is_file(), "{} exists", file.display());
    assert!(summary["bytes"].as_u64().unwrap() > 0);
    file
}

fn restore(t: &TestDb, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["restore", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    strata(&t.url, &args)
}

/// Files in a folder, sorted, without the sidecars beside each backup (`<file>.strata.json`).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".strata.json"))
        .collect();
    names.sort();
    names
}

#[track_caller]
fn fails_saying(out: &Output, says: &[&str]) {
    assert!(!out.status.success(), "should fail\nstdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
    for s in says {
        assert!(stderr(out).contains(s), "expected {s:?} in:\n{}", stderr(out));
    }
}

async fn round_trip(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    seed(&db).await;
    // A CHECK constraint for the restore to bring back (the seed schema has none).
    exec(&db, "CREATE TABLE ratings (id INTEGER PRIMARY KEY, stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5))")
        .await;
    let before = snapshot(&t).await;
    let report = verify_json(&t);
    let dir = tempfile::tempdir().unwrap();
    let file = backup_into(&t, dir.path(), &[]);
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let prefix = format!("{}_", t.name);
    assert!(name.starts_with(&prefix), "{name} names the database");
    let ext = if kind == Kind::Sqlite { ".db.gz" } else { ".sql.gz" };
    assert!(name.ends_with(ext), "{name}");
    assert_eq!(listing(dir.path()), [name], "no temporary file is left beside the backup");

    // Change, delete and add data, and add a table the backup does not have.
    exec(&db, "UPDATE users SET email = 'changed@example.com' WHERE id = 1").await;
    exec(&db, "DELETE FROM posts WHERE id IN (2, 3)").await;
    exec(&db, "INSERT INTO users (username, email) VALUES ('dave', 'dave@example.com')").await;
    exec(&db, "CREATE TABLE scratch (id INTEGER PRIMARY KEY)").await;
    assert_ne!(snapshot(&t).await, before);

    let out = restore(&t, &file, &["--yes"]);
    let said = ok(&out);
    assert!(said.contains("restored") && said.contains("alembic head"), "{said}");
    assert!(has_table(&db, "scratch").await, "without --clean, tables the backup lacks stay");
    exec(&db, "DROP TABLE scratch").await;
    assert_eq!(snapshot(&t).await, before, "rows, indexes, constraints and heads are as backed up");
    assert_eq!(verify_json(&t), report, "the verification report is the one taken before the backup");

    exec(&db, "DELETE FROM posts").await;
    exec(&db, "CREATE TABLE scratch (id INTEGER PRIMARY KEY)").await;
    let out = restore(&t, &file, &["--yes", "--clean"]);
    assert!(ok(&out).contains("cleaned"), "{}", stdout(&out));
    assert!(!has_table(&db, "scratch").await, "--clean drops what the backup does not have");
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(verify_json(&t), report);

    // Constraints hold again: the CHECK on ratings.stars and the foreign key of posts.
    use sea_orm::ConnectionTrait;
    exec(&db, "INSERT INTO ratings (id, stars) VALUES (1, 5)").await;
    let bad_stars = "INSERT INTO ratings (id, stars) VALUES (2, 9)";
    assert!(db.execute_unprepared(bad_stars).await.is_err(), "the CHECK constraint was restored");
    let orphan = "INSERT INTO posts (title, content, user_id) VALUES ('orphan', 'x', 999)";
    assert!(db.execute_unprepared(orphan).await.is_err(), "the foreign key was restored");
    // The restored id sequences are where they were: new rows get fresh ids.
    exec(&db, "INSERT INTO users (username, email) VALUES ('erin', 'erin@example.com')").await;
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 4);
    db.close().await.ok();
    t.drop().await;
}

/// A copy of `file` with bytes in its middle overwritten, and one cut in half.
fn damaged_copies(file: &Path, dir: &Path) -> Vec<PathBuf> {
    let bytes = std::fs::read(file).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    let mut corrupt = bytes.clone();
    let middle = corrupt.len() / 2;
    for b in &mut corrupt[middle..middle + 8] {
        *b ^= 0x5a;
    }
    let corrupt_path = dir.join(format!("corrupt-{name}"));
    std::fs::write(&corrupt_path, corrupt).unwrap();
    let truncated_path = dir.join(format!("truncated-{name}"));
    std::fs::write(&truncated_path, &bytes[..bytes.len() / 2]).unwrap();
    vec![corrupt_path, truncated_path]
}

async fn damaged_backups(kind: Kind) {
    let (t, db, dir, file) = seeded_backup(kind).await;
    exec(&db, "DELETE FROM posts WHERE id = 4").await;
    let now = snapshot(&t).await;

    let mut bad = damaged_copies(&file, dir.path());
    if kind != Kind::Sqlite {
        // Plain SQL cut at a line boundary is valid SQL: the dump's missing last line gives it away.
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap()),
            &mut text,
        )
        .unwrap();
        let cut = text[..text.len() * 2 / 3].rfind('\n').unwrap();
        let path = dir.path().join("cut.sql");
        std::fs::write(&path, &text[..=cut]).unwrap();
        bad.push(path);
    }
    for path in bad {
        let out = restore(&t, &path, &["--yes", "--clean"]);
        fails_saying(&out, &["damaged or incomplete", "nothing was restored"]);
        assert_eq!(snapshot(&t).await, now, "{} left the database untouched, --clean included", path.display());
    }
    db.close().await.ok();
    t.drop().await;
}

async fn refuses_without_yes(kind: Kind) {
    let (t, db, _dir, file) = seeded_backup(kind).await;
    exec(&db, "DELETE FROM posts").await;
    let now = snapshot(&t).await;
    // `strata()` gives the child no terminal on stdin.
    let out = restore(&t, &file, &["--clean"]);
    fails_saying(&out, &["no terminal", "--yes", "nothing was restored"]);
    assert_eq!(snapshot(&t).await, now);
    db.close().await.ok();
    t.drop().await;
}

async fn unwritable_folder(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let out = strata(&t.url, &["backup", "--dir", file.join("backups").to_str().unwrap()]);
    fails_saying(&out, &["cannot write backups to", "--dir", "nothing was backed up"]);
    assert_eq!(listing(dir.path()), ["a-file"]);
    t.drop().await;
}

async fn retention(kind: Kind) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let ext = if kind == Kind::Sqlite { "db.gz" } else { "sql.gz" };
    let old = |day: u32| format!("{}_2020-01-{day:02}_00-00-00.{ext}", t.name);
    let others = [format!("{}x_2019-01-01_00-00-00.{ext}", t.name), "notes.txt".to_string()];
    for name in [old(1), old(2), old(3)].iter().chain(&others) {
        std::fs::write(dir.path().join(name), b"older backup").unwrap();
    }
    let newest = backup_into(&t, dir.path(), &["--keep", "2"]);
    let mut expected = vec![newest.file_name().unwrap().to_str().unwrap().to_string(), old(3)];
    expected.extend(others.iter().cloned());
    expected.sort();
    assert_eq!(listing(dir.path()), expected, "the newest two of this database stay; other files are not touched");
    let out = strata(&t.url, &["backup", "--dir", dir.path().to_str().unwrap(), "--keep", "0"]);
    assert!(!out.status.success(), "--keep 0 would delete the backup just taken");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_pg_dump_is_refused_with_the_setting_to_fix() {
    let t = TestDb::new(Kind::Postgres).await;
    migrate_up(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let out = strata_cmd(&t.url, &["backup", "--dir", dir.path().to_str().unwrap()])
        .env("STRATA_PG_DUMP_PATH", "/nonexistent/bin/pg_dump")
        .output()
        .unwrap();
    fails_saying(&out, &["/nonexistent/bin/pg_dump", "pg_dump_path", "STRATA_PG_DUMP_PATH", "nothing was done"]);
    assert!(listing(dir.path()).is_empty(), "no file, not even a temporary one");

    let out = strata_cmd(&t.url, &["backup", "--dir", dir.path().to_str().unwrap()]).env("PATH", "").output().unwrap();
    fails_saying(&out, &["pg_dump was not found on PATH", "postgresql-client", "pg_dump_path"]);
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_mariadb_dump_is_refused_with_the_setting_to_fix() {
    let t = TestDb::new(Kind::MySql).await;
    migrate_up(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let out = strata_cmd(&t.url, &["backup", "--dir", dir.path().to_str().unwrap()])
        .env("STRATA_MYSQLDUMP_PATH", "/nonexistent/mariadb-dump")
        .output()
        .unwrap();
    fails_saying(&out, &["/nonexistent/mariadb-dump", "STRATA_MYSQLDUMP_PATH"]);
    assert!(listing(dir.path()).is_empty());
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_custom_format_round_trips_through_pg_restore() {
    let t = TestDb::new(Kind::Postgres).await;
    migrate_up(&t).await;
    let db = t.connect().await;
    seed(&db).await;
    let before = snapshot(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let file = backup_into(&t, dir.path(), &["--format", "custom"]);
    assert!(file.to_str().unwrap().ends_with(".dump"));
    assert_eq!(&std::fs::read(&file).unwrap()[..5], b"PGDMP");
    exec(&db, "DELETE FROM posts").await;
    exec(&db, "DELETE FROM users").await;
    ok(&restore(&t, &file, &["--yes"]));
    assert_eq!(snapshot(&t).await, before);

    // A custom-format file cut short fails in pg_restore and changes nothing.
    exec(&db, "DELETE FROM posts WHERE id = 1").await;
    let now = snapshot(&t).await;
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.dump");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails_saying(&restore(&t, &cut, &["--yes", "--clean"]), &["pg_restore", "nothing was restored"]);
    assert_eq!(snapshot(&t).await, now);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restore_that_fails_midway_rolls_back_and_shows_the_statement() {
    let (t, db, _dir, file) = seeded_backup(Kind::Postgres).await;
    // A view the backup does not know depends on posts: the dump's DROP TABLE posts fails.
    exec(&db, "CREATE VIEW published AS SELECT id, title FROM posts WHERE is_published").await;
    exec(&db, "DELETE FROM posts WHERE id = 1").await;
    let now = snapshot(&t).await;
    let out = restore(&t, &file, &["--yes"]);
    fails_saying(&out, &["rolled back", "DROP TABLE", "depend", "--clean"]);
    assert_eq!(snapshot(&t).await, now, "statements before the failing one were rolled back too");
    // With --clean the view goes with the schema and the restore succeeds.
    ok(&restore(&t, &file, &["--yes", "--clean"]));
    assert_eq!(count(&db, "SELECT count(*) FROM posts").await, 4);
    db.close().await.ok();
    t.drop().await;
}

/// A role of the test's own (roles belong to the whole server), dropped at the end.
async fn role(t: &TestDb, suffix: &str, grants: &str) -> String {
    let name = format!("{}_{suffix}", t.name);
    let db = t.connect().await;
    exec(&db, &format!("CREATE ROLE \"{name}\" LOGIN")).await;
    if !grants.is_empty() {
        exec(&db, &grants.replace("{role}", &format!("\"{name}\""))).await;
    }
    db.close().await.ok();
    name
}

async fn drop_role(t: &TestDb, name: &str) {
    let db = t.connect().await;
    exec(&db, &format!("DROP OWNED BY \"{name}\" CASCADE")).await;
    exec(&db, &format!("DROP ROLE \"{name}\"")).await;
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_grant_to_gives_the_application_role_its_privileges() {
    let (t, db, _dir, file) = seeded_backup(Kind::Postgres).await;
    // Spaces and capitals: the name only works quoted as an identifier.
    let app = role(&t, "App Role", "").await;
    let out = restore(&t, &file, &["--yes", "--clean", "--grant-to", &app]);
    assert!(ok(&out).contains("granted"), "{}", stdout(&out));
    let lit = app.replace('\'', "''");
    for (check, what) in [
        (format!("has_schema_privilege('{lit}', 'public', 'USAGE')"), "schema usage"),
        (format!("has_table_privilege('{lit}', 'public.posts', 'SELECT, INSERT, UPDATE, DELETE')"), "tables"),
        (format!("has_sequence_privilege('{lit}', 'public.users_id_seq', 'USAGE, SELECT, UPDATE')"), "sequences"),
    ] {
        assert_eq!(column(&db, &format!("SELECT {check}")).await, ["true"], "{what}");
    }
    exec(&db, "CREATE TABLE later (id int)").await;
    assert_eq!(
        column(&db, &format!("SELECT has_table_privilege('{lit}', 'public.later', 'SELECT')")).await,
        ["true"],
        "default privileges cover tables created later"
    );
    let out = restore(&t, &file, &["--yes", "--grant-to", "no_such_role_anywhere"]);
    fails_saying(&out, &["role \"no_such_role_anywhere\" does not exist", "nothing was restored"]);
    db.close().await.ok();
    drop_role(&t, &app).await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restores_a_pg_dump_of_the_public_schema_into_an_empty_database() {
    let source = TestDb::new(Kind::Postgres).await;
    migrate_up(&source).await;
    let db = source.connect().await;
    seed(&db).await;
    let before = snapshot(&source).await;
    // pg_dump as a DBA runs it by hand: the public schema only, with its own CREATE SCHEMA public.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("public.sql");
    let dumped = std::process::Command::new("pg_dump")
        .args(["--schema", "public", "--file", file.to_str().unwrap(), "--dbname", &source.url])
        .output()
        .expect("run pg_dump");
    assert!(dumped.status.success(), "{}", String::from_utf8_lossy(&dumped.stderr));
    assert!(std::fs::read_to_string(&file).unwrap().contains("\nCREATE SCHEMA public;\n"), "the dump creates public");

    let target = TestDb::new(Kind::Postgres).await;
    let said = ok(&restore(&target, &file, &["--yes"]));
    assert_eq!(snapshot(&target).await, before, "{said}");
    assert!(!said.contains("warning"), "nobody had access to lose: {said}");
    db.close().await.ok();
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restore_says_which_roles_lost_their_access_and_points_at_grant_to() {
    let (t, db, _dir, file) = seeded_backup(Kind::Postgres).await;
    // The application's role could use every table before the superuser's restore re-created them.
    let app = role(&t, "app", "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}").await;
    let said = ok(&restore(&t, &file, &["--yes", "--clean"]));
    let warning = said.lines().find(|l| l.starts_with("warning")).unwrap_or_else(|| panic!("no warning:\n{said}"));
    assert!(warning.contains("belong to postgres now") && warning.contains(&app), "{warning}");
    assert!(warning.contains(&format!("--grant-to \"{app}\"")), "{warning}");
    let lit = app.replace('\'', "''");
    let readable = format!("SELECT has_table_privilege('{lit}', 'public.posts', 'SELECT')");
    assert_eq!(column(&db, &readable).await, ["false"], "the warning is true");
    // What it points at works, and then there is nothing to warn about.
    let said = ok(&restore(&t, &file, &["--yes", "--clean", "--grant-to", &app]));
    assert!(!said.contains("warning"), "{said}");
    assert_eq!(column(&db, &readable).await, ["true"]);
    db.close().await.ok();
    drop_role(&t, &app).await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_clean_without_schema_ownership_drops_the_roles_own_objects() {
    let t = TestDb::new(Kind::Postgres).await;
    let owner = role(&t, "owner", "GRANT USAGE, CREATE ON SCHEMA public TO {role}").await;
    // The same database, reached as a role that owns the tables but not the schema.
    let (base, _) = t.url.split_once("://").unwrap();
    let rest = t.url.split_once('@').unwrap().1;
    let url = format!("{base}://{}@{rest}", owner.replace(' ', "%20"));
    ok(&strata(&url, &["migrate", "up"]));
    let db = t.connect().await;
    seed(&db).await;
    let before = snapshot(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let summary: Value =
        serde_json::from_str(&ok(&strata(&url, &["backup", "--dir", dir.path().to_str().unwrap(), "--json"]))).unwrap();
    exec(&db, "DELETE FROM posts").await;
    exec(&db, &format!("CREATE TABLE scratch (id int); ALTER TABLE scratch OWNER TO \"{owner}\"")).await;
    let out = strata(&url, &["restore", summary["file"].as_str().unwrap(), "--yes", "--clean"]);
    let said = ok(&out);
    assert!(said.contains("may not drop schema public"), "{said}");
    assert!(said.contains(&format!("that {owner} owns instead")), "{said}");
    assert!(!has_table(&db, "scratch").await);
    assert_eq!(snapshot(&t).await, before);
    db.close().await.ok();
    drop_role(&t, &owner).await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_on_a_terminal_asks_for_the_database_name() {
    let (t, db, _dir, file) = seeded_backup(Kind::Postgres).await;
    exec(&db, "DELETE FROM posts").await;
    // `script` runs strata on a pseudo-terminal and passes our input to it.
    let typed = |answer: &str| {
        let cmdline = format!("{} restore {}", env!("CARGO_BIN_EXE_strata"), file.display());
        let mut child = std::process::Command::new("script")
            .env_remove("STRATA_CONFIG")
            .env("DATABASE_URL", &t.url)
            .env("RUST_LOG", "warn")
            .current_dir(std::env::temp_dir())
            .args(["-qec", &cmdline, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{answer}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = typed("not-the-name");
    let screen = stdout(&out);
    assert!(!out.status.success(), "{screen}");
    assert!(screen.contains("public.posts") && screen.contains("public.users"), "tables are listed: {screen}");
    assert!(screen.contains(&format!("Type the database name ({})", t.name)), "{screen}");
    assert!(screen.contains("nothing was restored"), "{screen}");
    assert_eq!(count(&db, "SELECT count(*) FROM posts").await, 0);
    let out = typed(&t.name);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(count(&db, "SELECT count(*) FROM posts").await, 4);
    db.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_backup_while_another_connection_writes_is_a_consistent_snapshot() {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let writer = t.connect().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    // Each transaction adds a user and a post of theirs: a consistent copy has as many of one as the other.
    let writing = tokio::spawn(async move {
        let mut n = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            n += 1;
            exec(
                &writer,
                &format!(
                    "BEGIN; INSERT INTO users (username, email) VALUES ('u{n}', 'u{n}@example.com'); \
                     INSERT INTO posts (title, content, user_id) VALUES ('p{n}', 'x', last_insert_rowid()); COMMIT;"
                ),
            )
            .await;
        }
        writer.close().await.ok();
        n
    });
    let db = t.connect().await;
    eventually("the writer has written", || async {
        (count(&db, "SELECT count(*) FROM users").await > 20).then_some(())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let before = count(&db, "SELECT count(*) FROM users").await;
    let file = backup_into(&t, dir.path(), &[]);
    let after = count(&db, "SELECT count(*) FROM users").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writing.await.unwrap();
    assert!(after > before, "the writer kept writing during the backup ({before} -> {after})");

    let copy = dir.path().join("copy.db");
    let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap());
    std::io::copy(&mut gz, &mut std::fs::File::create(&copy).unwrap()).unwrap();
    let snap = sea_orm::Database::connect(format!("sqlite://{}?mode=ro", copy.display())).await.unwrap();
    assert_eq!(column(&snap, "PRAGMA integrity_check").await, ["ok"]);
    assert!(column(&snap, "PRAGMA foreign_key_check").await.is_empty());
    let users = count(&snap, "SELECT count(*) FROM users").await;
    assert_eq!(users, count(&snap, "SELECT count(*) FROM posts").await, "no user without the post of its transaction");
    assert!((before..=after).contains(&users), "{users} rows: a point in time between {before} and {after}");
    assert!(written as i64 >= after);
    snap.close().await.ok();
    db.close().await.ok();
}
