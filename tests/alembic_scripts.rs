//! `strata alembic current|heads|history [--verbose]` against the real Alembic (from PyPI) on projects the real
//! `alembic revision` / `alembic merge` write: a linear chain, branches, a merge, a branch label, `depends_on`,
//! pending revisions, a database revision missing from the scripts; `current` on SQLite, PostgreSQL and (through
//! a version table copied from SQLite) MariaDB. Standard output must be byte-identical and the exit status equal.
//!
//! Two places where Alembic's own output order is not stable are compared as sets, never silently: `current` on a
//! database with several heads (Alembic prints them from a Python set of objects) and the `Branches into:` line of
//! `--verbose` (a Python frozenset of strings, whose order follows the per-process hash seed).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::apps::alembic;
use common::*;
use strata::watch::schema_history::alembic::{Scripts, annotate, command::version_rows};
use strata::watch::schema_history::{ProblemKind, Tool, ToolHistory};

/// An Alembic project made by `alembic init` in a temp folder, its `sqlalchemy.url` pointing at a test database.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// `alembic init migrations` with the generic template, then `sqlalchemy.url` set to `url` (SQLAlchemy form).
    fn init(url: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir for the Alembic project");
        let p = Project { dir };
        p.alembic_ok(&["init", "migrations"]);
        let ini = p.ini();
        let text = std::fs::read_to_string(&ini).expect("read alembic.ini");
        let text = text
            .lines()
            .map(|l| {
                if l.starts_with("sqlalchemy.url") {
                    format!("sqlalchemy.url = {}", url.replace('%', "%%"))
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&ini, text + "\n").expect("write alembic.ini");
        p
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ini(&self) -> PathBuf {
        self.path().join("alembic.ini")
    }

    fn versions(&self) -> PathBuf {
        self.path().join("migrations/versions")
    }

    fn alembic(&self, args: &[&str]) -> Output {
        Command::new(alembic())
            .current_dir(self.path())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", alembic().display()))
    }

    #[track_caller]
    fn alembic_ok(&self, args: &[&str]) -> String {
        let out = self.alembic(args);
        assert!(out.status.success(), "alembic {args:?} failed:\n{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    }

    /// `alembic revision -m MESSAGE EXTRA...`: the new revision's id (Alembic makes it; read from the file name).
    #[track_caller]
    fn revision(&self, message: &str, extra: &[&str]) -> String {
        let mut args = vec!["revision", "-m", message];
        args.extend_from_slice(extra);
        created(&self.alembic_ok(&args))
    }

    fn strata(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .current_dir(self.path())
            .env_remove("STRATA_CONFIG")
            .env_remove("ALEMBIC_CONFIG")
            .arg("alembic")
            .args(args)
            .output()
            .expect("run strata")
    }

    /// Runs `strata alembic ARGS` then `alembic ARGS` (Strata first, so that it never sees a SQLite file Alembic
    /// created) and asserts the same exit status and the same stdout; returns Alembic's stdout.
    #[track_caller]
    fn same(&self, args: &[&str]) -> String {
        let ours = self.strata(args);
        let theirs = self.alembic(args);
        let (a, b) = (stdout(&theirs), stdout(&ours));
        let (a_cmp, b_cmp) = if args.contains(&"current") {
            (entries(&a), entries(&b))
        } else {
            (vec![branches_sorted(&a)], vec![branches_sorted(&b)])
        };
        assert_eq!(
            b_cmp,
            a_cmp,
            "stdout of `alembic {args:?}` differs\n--- alembic:\n{a}\n--- strata:\n{b}\n--- strata stderr:\n{}",
            stderr(&ours)
        );
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "exit status of {args:?}; alembic stderr: {}",
            stderr(&theirs)
        );
        a
    }
}

/// The revision id in `Generating /.../versions/<rev>_<slug>.py ...  done`.
fn created(out: &str) -> String {
    let line = out.lines().find(|l| l.contains("/versions/")).unwrap_or_else(|| panic!("no file generated:\n{out}"));
    let file = line.split("/versions/").nth(1).unwrap();
    file.split('_').next().unwrap().to_string()
}

/// `alembic current` output as a multiset of entries (one line each, or one `Rev:` block each with --verbose),
/// after the `Current revision(s) for ...:` header and any `FAILED:` line, which keep their place.
fn entries(out: &str) -> Vec<String> {
    let verbose = out.lines().any(|l| l.starts_with("Rev: "));
    let mut head = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for line in out.split_inclusive('\n') {
        if line.starts_with("Current revision(s) for ") || line.starts_with("FAILED: ") {
            head.push(line.to_string());
        } else if !verbose || line.starts_with("Rev: ") || parts.is_empty() {
            parts.push(line.to_string());
        } else {
            parts.last_mut().unwrap().push_str(line);
        }
    }
    let mut parts: Vec<String> = parts.iter().map(|e| branches_sorted(e)).collect();
    parts.sort();
    head.into_iter().chain(parts).collect()
}

/// The text with every `Branches into: a, b` list sorted.
fn branches_sorted(out: &str) -> String {
    out.split_inclusive('\n')
        .map(|l| match l.strip_prefix("Branches into: ") {
            Some(list) => {
                let mut items: Vec<&str> = list.trim_end().split(", ").collect();
                items.sort_unstable();
                format!("Branches into: {}\n", items.join(", "))
            }
            None => l.to_string(),
        })
        .collect()
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:///{}", dir.join("app.db").display())
}

const ALL: [&[&str]; 4] = [&["heads"], &["heads", "--verbose"], &["history"], &["history", "--verbose"]];

#[test]
fn a_linear_chain_prints_what_alembic_prints_at_every_step() {
    let db_dir = tempfile::tempdir().unwrap();
    let p = Project::init(&sqlite_url(db_dir.path()));
    // no revisions at all
    for args in ALL {
        p.same(args);
    }
    p.same(&["current"]);
    let first = p.revision("create teams", &[]);
    let second = p.revision("add users, \"quoted\" and 'single' — ünïcode", &[]);
    let third = p.revision("0021 custom id", &["--rev-id", "0021"]);
    for args in ALL {
        p.same(args);
    }
    assert!(p.same(&["history"]).starts_with(&format!("{second} -> 0021 (head), 0021 custom id\n")));
    // no database file yet, then an empty one, then each step
    p.same(&["current", "--verbose"]);
    p.same(&["current"]);
    for target in [first.as_str(), second.as_str(), third.as_str()] {
        p.alembic_ok(&["upgrade", target]);
        assert_eq!(p.same(&["current"]).lines().next().unwrap().split(' ').next().unwrap(), target);
        p.same(&["current", "--verbose"]);
    }
    // -c with a path, from another folder, and --config
    let elsewhere = tempfile::tempdir().unwrap();
    let ini = p.ini();
    let ours = Command::new(env!("CARGO_BIN_EXE_strata"))
        .current_dir(elsewhere.path())
        .env_remove("STRATA_CONFIG")
        .args(["alembic", "-c", ini.to_str().unwrap(), "history"])
        .output()
        .unwrap();
    assert_eq!(stdout(&ours), p.alembic_ok(&["history"]));
    let ours = Command::new(env!("CARGO_BIN_EXE_strata"))
        .current_dir(elsewhere.path())
        .env_remove("STRATA_CONFIG")
        .args(["alembic", "heads", "--config", ini.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(stdout(&ours), p.alembic_ok(&["heads"]));
}

/// a1 - b2 - c1 - d(depends on lib)         (c1 and c2 branch at b2; lib is a second root with a branch label)
///         \ c2
/// lib1 (branch label "lib") - lib2
fn branchy(p: &Project) -> [String; 7] {
    let a = p.revision("base one", &[]);
    let b = p.revision("two", &[]);
    let c1 = p.revision("branch one", &[]);
    let c2 = p.revision("branch two", &["--head", &b, "--splice"]);
    let lib1 = p.revision("library root", &["--head", "base", "--branch-label", "lib"]);
    let lib2 = p.revision("library two", &["--head", "lib@head"]);
    let d = p.revision("needs the library", &["--head", &c1, "--depends-on", &lib1]);
    [a, b, c1, c2, lib1, lib2, d]
}

#[test]
fn branches_labels_dependencies_and_a_merge_print_what_alembic_prints() {
    let db_dir = tempfile::tempdir().unwrap();
    let p = Project::init(&sqlite_url(db_dir.path()));
    let [_a, b, _c1, c2, _lib1, _lib2, d] = branchy(&p);
    for args in ALL {
        p.same(args);
    }
    // the database on one branch, then on several heads
    p.alembic_ok(&["upgrade", &c2]);
    p.same(&["current"]);
    p.alembic_ok(&["upgrade", &d]);
    assert_eq!(p.same(&["current"]).lines().count(), 3, "c2, d and the library root d depends on");
    p.same(&["current", "--verbose"]);
    p.alembic_ok(&["upgrade", "heads"]);
    p.same(&["current"]);
    // merge every head: one head again, c2 and d pending a merge revision
    let m = created(&p.alembic_ok(&["merge", "-m", "merge everything", "heads"]));
    for args in ALL {
        p.same(args);
    }
    assert!(p.same(&["heads"]).starts_with(&m));
    p.same(&["current"]);
    p.alembic_ok(&["upgrade", "head"]);
    p.same(&["current", "--verbose"]);
    // a revision spliced onto an older one, pending
    p.revision("late fix", &["--head", &b, "--splice"]);
    for args in ALL {
        p.same(args);
    }
    p.same(&["current"]);
}

#[test]
fn current_on_postgres_follows_each_upgrade_with_alembics_log_lines() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(TestDb::new(Kind::Postgres));
    // SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the venv has psycopg2
    let url = t.url.replacen("postgres://", "postgresql+psycopg2://", 1);
    let p = Project::init(&url);
    let [a, _b, c1, c2, lib1, _lib2, d] = branchy(&p);
    let check = |verbose: bool| {
        let args: &[&str] = if verbose { &["current", "--verbose"] } else { &["current"] };
        let ours = p.strata(args);
        let theirs = p.alembic(args);
        assert_eq!(entries(&stdout(&ours)), entries(&stdout(&theirs)), "{args:?}");
        assert_eq!(ours.status.code(), theirs.status.code());
        // the INFO lines alembic.ini's logging config shows
        assert_eq!(stderr(&ours), stderr(&theirs), "stderr of {args:?}");
    };
    check(false);
    for target in [a.as_str(), c1.as_str(), c2.as_str(), lib1.as_str(), d.as_str(), "heads"] {
        p.alembic_ok(&["upgrade", target]);
        check(false);
        check(true);
    }
    p.alembic_ok(&["downgrade", "base"]);
    check(false);
    check(true);
    rt.block_on(t.drop());
}

#[test]
fn a_database_revision_missing_from_the_scripts_fails_as_alembic_fails() {
    let db_dir = tempfile::tempdir().unwrap();
    let p = Project::init(&sqlite_url(db_dir.path()));
    p.revision("one", &[]);
    let two = p.revision("two", &[]);
    p.alembic_ok(&["upgrade", "head"]);
    let file = std::fs::read_dir(p.versions())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&two))
        .unwrap();
    std::fs::remove_file(file.path()).unwrap();
    let out = p.same(&["current"]);
    assert_eq!(out, format!("FAILED: Can't locate revision identified by '{two}'\n"));
    p.same(&["current", "--verbose"]);
    p.same(&["history"]);
    let ours = p.strata(&["current"]);
    assert_eq!(ours.status.code(), Some(255));
    assert!(
        stderr(&ours).contains(&format!("ERROR [alembic.util.messaging] Can't locate revision identified by '{two}'"))
    );
}

#[test]
fn configuration_and_file_errors_exit_as_alembic_exits() {
    let db_dir = tempfile::tempdir().unwrap();
    let p = Project::init(&sqlite_url(db_dir.path()));
    let one = p.revision("one", &[]);
    // no such ini file: Alembic finds no script_location
    assert_eq!(p.same(&["-c", "missing.ini", "history"]), "FAILED: No 'script_location' key found in configuration.\n");
    // no script folder
    let ini = std::fs::read_to_string(p.ini()).unwrap().replace("%(here)s/migrations", "%(here)s/nowhere");
    std::fs::write(p.path().join("other.ini"), ini).unwrap();
    assert!(p.same(&["-c", "other.ini", "heads"]).starts_with("FAILED: Path doesn't exist: "));
    // a down_revision naming nothing: Alembic stops with a traceback (status 1), Strata says which file
    let two = p.revision("two", &[]);
    let path = std::fs::read_dir(p.versions())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&two))
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&path).unwrap().replace(&format!("= '{one}'"), "= 'nowhere'");
    std::fs::write(&path, text).unwrap();
    p.same(&["history"]);
    p.same(&["heads"]);
    assert!(stderr(&p.strata(&["history"])).contains(&path.file_name().unwrap().to_string_lossy().to_string()));
    // a file Python cannot import: the same status, and the file and line named
    std::fs::write(&path, "revision = 'x\ndown_revision = None\n").unwrap();
    assert_eq!(p.alembic(&["history"]).status.code(), Some(1));
    let ours = p.strata(&["history"]);
    assert_eq!(ours.status.code(), Some(1));
    assert!(stderr(&ours).contains(&format!("{}:1: unterminated string", path.display())), "{}", stderr(&ours));
}

/// The revisions `alembic upgrade FROM:heads --sql` runs, in order (Alembic's own upgrade plan, offline).
fn alembic_plan(p: &Project, from: &str) -> Vec<String> {
    let out = p.alembic_ok(&["upgrade", &format!("{from}:heads"), "--sql"]);
    out.lines()
        .filter_map(|l| l.strip_prefix("-- Running upgrade "))
        .map(|l| l.split(" -> ").nth(1).unwrap().split(',').next().unwrap().trim().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn annotate_gives_alembics_pending_order_and_problems() {
    let t = TestDb::new(Kind::Sqlite).await;
    let p = Project::init(&t.url);
    let [a, b, c1, c2, lib1, lib2, d] = branchy(&p);
    p.alembic_ok(&["upgrade", &c1]);
    let conn = t.connect().await;
    let rows = version_rows(&conn, "alembic_version", None).await.unwrap();
    assert_eq!(rows, [c1.as_str()]);
    let scripts = Scripts::from_ini(&p.ini()).unwrap();
    let mut h = ToolHistory::new(Tool::Alembic, None, "alembic_version", "alembic_version table".into());
    h.heads = rows;
    annotate(&mut h, &scripts);
    let applied: Vec<&str> = h.applied.iter().map(|x| x.version.as_str()).collect();
    assert_eq!(applied, [a.as_str(), b.as_str(), c1.as_str()]);
    assert_eq!(h.applied[2].name.as_deref(), Some("branch one"));
    let pending: Vec<String> = h.pending.iter().map(|x| x.version.clone()).collect();
    assert_eq!(pending, alembic_plan(&p, &c1), "pending in the order alembic upgrade runs them");
    for x in [&c2, &lib1, &lib2, &d] {
        assert!(pending.contains(x));
    }
    assert!(h.pending.iter().all(|x| x.path.as_deref().is_some_and(|f| f.starts_with("versions/"))));
    let kinds: Vec<ProblemKind> = h.problems.iter().map(|x| x.kind).collect();
    assert_eq!(kinds, [ProblemKind::MultipleHeads], "{:?}", h.problems);
    assert_eq!(h.current.as_deref(), Some(c1.as_str()), "filled when the reader left it empty");

    // a row no script declares
    let mut h = ToolHistory::new(Tool::Alembic, None, "alembic_version", String::new());
    h.heads = vec!["feedbeef0000".into(), c2.clone()];
    annotate(&mut h, &scripts);
    let missing: Vec<_> = h.problems.iter().filter(|x| x.kind == ProblemKind::MissingScript).collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].migration.as_deref(), Some("feedbeef0000"));
    assert!(h.pending.is_empty(), "nothing is known pending while a script is missing");

    // merged and upgraded: nothing pending, no problem
    p.alembic_ok(&["merge", "-m", "merge", "heads"]);
    p.alembic_ok(&["upgrade", "head"]);
    let scripts = Scripts::from_ini(&p.ini()).unwrap();
    let mut h = ToolHistory::new(Tool::Alembic, None, "alembic_version", String::new());
    h.heads = version_rows(&conn, "alembic_version", None).await.unwrap();
    annotate(&mut h, &scripts);
    assert!(h.pending.is_empty() && h.problems.is_empty(), "{:?} {:?}", h.pending, h.problems);
    assert_eq!(h.applied.len(), 8);
    conn.close().await.ok();
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn current_reads_a_mariadb_version_table_as_alembic_reads_sqlites() {
    // the venv has no MySQL driver: Alembic reads the rows from SQLite, Strata the same rows from MariaDB
    let db_dir = tempfile::tempdir().unwrap();
    let p = Project::init(&sqlite_url(db_dir.path()));
    let [_a, _b, _c1, c2, _lib1, _lib2, d] = branchy(&p);
    p.alembic_ok(&["upgrade", &c2]);
    p.alembic_ok(&["upgrade", &d]);
    let expected = p.alembic_ok(&["current"]);
    let t = TestDb::new(Kind::MySql).await;
    let conn = t.connect().await;
    exec(&conn, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)").await;
    exec(&conn, &format!("INSERT INTO alembic_version VALUES ('{c2}'), ('{d}')")).await;
    let url = t.url.replacen("mysql://", "mysql+pymysql://", 1);
    let ini = std::fs::read_to_string(p.ini()).unwrap();
    let ini: String = ini
        .lines()
        .map(|l| if l.starts_with("sqlalchemy.url") { format!("sqlalchemy.url = {url}\n") } else { format!("{l}\n") })
        .collect();
    std::fs::write(p.path().join("mariadb.ini"), ini).unwrap();
    let ours = p.strata(&["-c", "mariadb.ini", "current"]);
    assert_eq!(entries(&stdout(&ours)), entries(&expected), "{}", stderr(&ours));
    assert!(stderr(&ours).contains("INFO  [alembic.runtime.migration] Context impl MySQLImpl."));
    conn.close().await.ok();
    t.drop().await;
}

#[test]
fn hand_written_revision_files_read_as_alembic_imports_them() {
    let db_dir = tempfile::tempdir().unwrap();
    let p = Project::init(&sqlite_url(db_dir.path()));
    let files: [(&str, &str); 7] = [
        ("0001_first.py", "'''First.\n\nLonger text.'''\nrevision = \"0001\"\ndown_revision = None\n"),
        (
            "0002_second.py",
            "# -*- coding: utf-8 -*-\n\"\"\"Second: tabs\\tand 'quotes' \"\"\"\nimport os\n\
             revision = '0002'; down_revision = ['0001']\nbranch_labels = (\"feature\",)\n",
        ),
        ("abcdef.py", "\"\"\"legacy: no revision variable\"\"\"\ndown_revision = (\"0002\",)\n"),
        (
            "0004_x.py",
            "r\"\"\"Fourth \\u00e9 \\x41\n  indented line\n\n\n  after blank lines\n\"\"\"\nfrom typing import Optional, Sequence\nif False:\n    down_revision = 'nope'\n\
             down_revision = \\\n  'abcdef'\nrevision: \"str\" = \"0004\"  # trailing comment\n\
             depends_on: Optional[Sequence[str]] = None\n",
        ),
        ("0005_other_root.py", "revision = '0005'\ndown_revision = ()\ndepends_on = '0002'\n"),
        ("__init__.py", ""),
        (".#0006_lock.py", "not python at all ("),
    ];
    for (name, text) in files {
        let body = if name.starts_with(".#") {
            String::new()
        } else {
            "\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n".into()
        };
        std::fs::write(p.versions().join(name), format!("{text}{body}")).unwrap();
    }
    std::fs::write(p.versions().join("README.txt"), "notes").unwrap();
    for args in ALL {
        p.same(args);
    }
    p.alembic_ok(&["upgrade", "heads"]);
    p.same(&["current"]);
    p.same(&["current", "--verbose"]);
}
