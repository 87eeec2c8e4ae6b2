//! Databases shaped like the real applications Strata watches, and an exact catalog snapshot to prove it wrote nothing.
//!
//! Each fixture fills a fresh [`TestDb`] the way an application (and its migration tool) would have left it. A
//! "Strata writes nothing" test takes [`snapshot`] before and after and compares them with [`assert_unchanged`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sea_orm::{
    AccessMode, ConnectionTrait, Database, DatabaseConnection, DbBackend, IsolationLevel, QueryResult, Statement,
    TransactionTrait,
};

use super::{Kind, TestDb, exec};

/// Runs statements one at a time, so a failure names the statement.
async fn script(db: &DatabaseConnection, statements: &[&str]) {
    for sql in statements {
        exec(db, sql).await;
    }
}

#[track_caller]
fn expect_kind(t: &TestDb, kind: Kind, fixture: &str) {
    assert_eq!(t.kind, kind, "the {fixture} fixture needs a {kind:?} test database");
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL app: its own `users` (UUID, JSONB), no migration version table.

/// A PostgreSQL application that manages its schema by hand: `users` with UUID ids and a JSONB `profile`, `orders`
/// referencing it (bigserial, CHECK constraints), a view, a materialized view, a trigger, 2000 users. No
/// migration version table of any tool.
pub async fn postgres_app(t: &TestDb) {
    expect_kind(t, Kind::Postgres, "postgres_app");
    let db = t.connect().await;
    script(
        &db,
        &[
            "CREATE TABLE users (
                id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                email text NOT NULL UNIQUE,
                name text NOT NULL,
                profile jsonb NOT NULL DEFAULT '{}'::jsonb,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz
            )",
            "CREATE INDEX users_profile_gin ON users USING gin (profile jsonb_path_ops)",
            "CREATE INDEX users_created_at_idx ON users (created_at DESC)",
            "CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN NEW.updated_at := now(); RETURN NEW; END $$",
            "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch_updated_at()",
            "CREATE TABLE orders (
                id bigserial PRIMARY KEY,
                user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                total_cents integer NOT NULL CONSTRAINT orders_total_nonnegative CHECK (total_cents >= 0),
                status text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
                placed_at timestamptz NOT NULL DEFAULT now()
            )",
            "CREATE INDEX orders_user_id_idx ON orders (user_id)",
            "CREATE INDEX orders_open_idx ON orders (placed_at) WHERE status IN ('pending', 'paid')",
            "CREATE VIEW user_order_totals AS
                SELECT u.id, u.email, count(o.id) AS orders, coalesce(sum(o.total_cents), 0) AS total_cents
                FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id, u.email",
            "GRANT SELECT ON user_order_totals TO PUBLIC",
            "INSERT INTO users (email, name, profile, created_at)
                SELECT 'user' || g || '@example.com', 'User ' || g,
                       jsonb_build_object('plan', CASE WHEN g % 10 = 0 THEN 'pro' ELSE 'free' END,
                                          'tags', jsonb_build_array('t' || g % 7), 'age', 18 + g % 60),
                       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
                FROM generate_series(1, 2000) g",
            "INSERT INTO orders (user_id, total_cents, status, placed_at)
                SELECT u.id, (k * 1999 + length(u.email)) % 50000, (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[1 + k % 4],
                       u.created_at + k * interval '1 day'
                FROM users u CROSS JOIN generate_series(1, 3) k WHERE u.email LIKE '%0@example.com' OR k = 1",
            "CREATE MATERIALIZED VIEW daily_orders AS
                SELECT date_trunc('day', placed_at) AS day, count(*) AS orders FROM orders GROUP BY 1",
        ],
    )
    .await;
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------------------------------------
// Prisma app: quoted CamelCase tables, enums, `_prisma_migrations`.

/// A database Prisma Migrate made: quoted CamelCase tables (`"User"`, `"Profile"`, `"Post"`, `"Category"`, `"Tag"`,
/// the implicit many-to-many `"_PostToTag"`), PostgreSQL enums, Prisma's constraint and index names, and
/// `_prisma_migrations` with three applied migrations and one that failed (the state `prisma migrate deploy`
/// leaves after an error).
pub async fn prisma_app(t: &TestDb) {
    expect_kind(t, Kind::Postgres, "prisma_app");
    let db = t.connect().await;
    script(
        &db,
        &[
            // The table exactly as Prisma's schema engine creates it on PostgreSQL.
            r#"CREATE TABLE "_prisma_migrations" (
                "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
                "checksum"              VARCHAR(64) NOT NULL,
                "finished_at"           TIMESTAMPTZ,
                "migration_name"        VARCHAR(255) NOT NULL,
                "logs"                  TEXT,
                "rolled_back_at"        TIMESTAMPTZ,
                "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
                "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
            )"#,
            r#"CREATE TYPE "Role" AS ENUM ('USER', 'EDITOR', 'ADMIN')"#,
            r#"CREATE TYPE "PostStatus" AS ENUM ('DRAFT', 'PUBLISHED', 'ARCHIVED')"#,
            r#"CREATE TABLE "User" (
                "id" SERIAL NOT NULL,
                "email" TEXT NOT NULL,
                "name" TEXT,
                "role" "Role" NOT NULL DEFAULT 'USER',
                "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                "updatedAt" TIMESTAMP(3) NOT NULL,
                CONSTRAINT "User_pkey" PRIMARY KEY ("id")
            )"#,
            r#"CREATE TABLE "Profile" (
                "id" SERIAL NOT NULL,
                "bio" TEXT,
                "userId" INTEGER NOT NULL,
                CONSTRAINT "Profile_pkey" PRIMARY KEY ("id")
            )"#,
            r#"CREATE TABLE "Category" (
                "id" TEXT NOT NULL,
                "name" TEXT NOT NULL,
                CONSTRAINT "Category_pkey" PRIMARY KEY ("id")
            )"#,
            r#"CREATE TABLE "Post" (
                "id" SERIAL NOT NULL,
                "title" VARCHAR(255) NOT NULL,
                "content" TEXT,
                "status" "PostStatus" NOT NULL DEFAULT 'DRAFT',
                "authorId" INTEGER NOT NULL,
                "categoryId" TEXT,
                "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                "updatedAt" TIMESTAMP(3) NOT NULL,
                CONSTRAINT "Post_pkey" PRIMARY KEY ("id")
            )"#,
            r#"CREATE TABLE "Tag" (
                "id" SERIAL NOT NULL,
                "name" TEXT NOT NULL,
                CONSTRAINT "Tag_pkey" PRIMARY KEY ("id")
            )"#,
            r#"CREATE TABLE "_PostToTag" (
                "A" INTEGER NOT NULL,
                "B" INTEGER NOT NULL,
                CONSTRAINT "_PostToTag_AB_pkey" PRIMARY KEY ("A","B")
            )"#,
            r#"CREATE UNIQUE INDEX "User_email_key" ON "User"("email")"#,
            r#"CREATE UNIQUE INDEX "Profile_userId_key" ON "Profile"("userId")"#,
            r#"CREATE UNIQUE INDEX "Category_name_key" ON "Category"("name")"#,
            r#"CREATE INDEX "Post_authorId_status_idx" ON "Post"("authorId", "status")"#,
            r#"CREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name")"#,
            r#"CREATE INDEX "_PostToTag_B_index" ON "_PostToTag"("B")"#,
            r#"ALTER TABLE "Profile" ADD CONSTRAINT "Profile_userId_fkey" FOREIGN KEY ("userId")
                REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE"#,
            r#"ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId")
                REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE"#,
            r#"ALTER TABLE "Post" ADD CONSTRAINT "Post_categoryId_fkey" FOREIGN KEY ("categoryId")
                REFERENCES "Category"("id") ON DELETE SET NULL ON UPDATE CASCADE"#,
            r#"ALTER TABLE "_PostToTag" ADD CONSTRAINT "_PostToTag_A_fkey" FOREIGN KEY ("A")
                REFERENCES "Post"("id") ON DELETE CASCADE ON UPDATE CASCADE"#,
            r#"ALTER TABLE "_PostToTag" ADD CONSTRAINT "_PostToTag_B_fkey" FOREIGN KEY ("B")
                REFERENCES "Tag"("id") ON DELETE CASCADE ON UPDATE CASCADE"#,
            // Prisma's ids are uuid v4 text, checksums the SHA-256 hex of migration.sql; the last one failed midway.
            r#"INSERT INTO "_prisma_migrations"
                ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count")
                VALUES
                ('0f6d7c8e-2b1a-4c5d-9e8f-1a2b3c4d5e6f', 'b3f1c0e9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1',
                 '2024-02-01 09:30:01.512+00', '20240201093000_init', NULL, NULL, '2024-02-01 09:30:01.101+00', 1),
                ('5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d', '7e2d9c4b1a0f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d',
                 '2024-03-12 14:02:44.870+00', '20240312140000_add_categories', NULL, NULL, '2024-03-12 14:02:44.613+00', 1),
                ('9c8b7a6f-5e4d-4c3b-a2f1-0e9d8c7b6a5f', '1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d',
                 '2024-04-20 08:15:10.004+00', '20240420081500_post_to_tag', NULL, NULL, '2024-04-20 08:15:09.771+00', 1),
                ('e1d2c3b4-a5f6-4e7d-8c9b-0a1f2e3d4c5b', 'a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8',
                 NULL, '20240502110000_add_user_handle',
                 'Database error code: 23505' || chr(10) || 'Database error:' || chr(10) ||
                 'ERROR: could not create unique index "User_handle_key"' || chr(10) ||
                 'DETAIL: Key (handle)=(admin) is duplicated.',
                 NULL, '2024-05-02 11:00:03.250+00', 0)"#,
            r#"INSERT INTO "User" ("email", "name", "role", "createdAt", "updatedAt")
                SELECT 'user' || g || '@example.com', 'User ' || g,
                       (CASE WHEN g = 1 THEN 'ADMIN' WHEN g % 25 = 0 THEN 'EDITOR' ELSE 'USER' END)::"Role",
                       timestamp '2024-02-01' + g * interval '2 hours', timestamp '2024-05-01' + g * interval '1 minute'
                FROM generate_series(1, 300) g"#,
            r#"INSERT INTO "Profile" ("bio", "userId") SELECT 'Bio of user ' || g, g FROM generate_series(1, 300, 3) g"#,
            r#"INSERT INTO "Category" ("id", "name")
                VALUES ('clx0cat0news0000001', 'News'), ('clx0cat0howto000002', 'How-to'), ('clx0cat0notes000003', 'Notes')"#,
            r#"INSERT INTO "Post" ("title", "content", "status", "authorId", "categoryId", "createdAt", "updatedAt")
                SELECT 'Post ' || g, repeat('Lorem ipsum ', 1 + g % 20),
                       (ARRAY['DRAFT', 'PUBLISHED', 'ARCHIVED'])[1 + g % 3]::"PostStatus", 1 + g % 300,
                       (ARRAY['clx0cat0news0000001', 'clx0cat0howto000002', NULL])[1 + g % 3],
                       timestamp '2024-03-01' + g * interval '30 minutes', timestamp '2024-05-01' + g * interval '1 minute'
                FROM generate_series(1, 1200) g"#,
            r#"INSERT INTO "Tag" ("name") SELECT 'tag-' || g FROM generate_series(1, 40) g"#,
            r#"INSERT INTO "_PostToTag" ("A", "B")
                SELECT p, 1 + (p * k) % 40 FROM generate_series(1, 1200) p CROSS JOIN generate_series(1, 2) k
                ON CONFLICT DO NOTHING"#,
        ],
    )
    .await;
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------------------------------------
// Alembic app: a real Alembic project, upgraded by the real `alembic`.

/// The two revisions of the Alembic fixture, oldest first (12 hex digits, as `alembic revision` makes them).
pub const ALEMBIC_REVISIONS: [&str; 2] = ["4f2a9c1e7b3d", "b81d6e0c5a92"];

/// An Alembic project on disk whose database `alembic upgrade head` has brought to [`AlembicApp::head`].
pub struct AlembicApp {
    /// The project folder: `alembic.ini`, `migrations/env.py`, `migrations/versions/` (removed on drop).
    pub dir: tempfile::TempDir,
    /// `alembic.ini`, whose `sqlalchemy.url` names the test database.
    pub ini: PathBuf,
}

impl AlembicApp {
    /// The revision `alembic_version` holds.
    pub fn head(&self) -> &'static str {
        ALEMBIC_REVISIONS[1]
    }

    /// Runs the real `alembic` in the project folder (`current`, `history`, `check`, ...).
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(alembic())
            .current_dir(self.dir.path())
            .arg("-c")
            .arg(&self.ini)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", alembic().display()))
    }
}

/// The `alembic` executable: `STRATA_ALEMBIC`, the venv `scripts/test.sh` makes, or one on `PATH`; otherwise a
/// failure that says how to install it (never a silent skip).
pub fn alembic() -> PathBuf {
    if let Some(path) = std::env::var_os("STRATA_ALEMBIC") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/alembic-venv/bin/alembic");
    if venv.exists() {
        return venv;
    }
    match Command::new("alembic").arg("--version").output() {
        Ok(o) if o.status.success() => PathBuf::from("alembic"),
        _ => panic!(
            "alembic is not installed: run scripts/test.sh (it installs it), or \
             `python3 -m venv target/alembic-venv && target/alembic-venv/bin/pip install alembic psycopg2-binary`, \
             or set STRATA_ALEMBIC to its path"
        ),
    }
}

/// The `env.py` of the Alembic fixtures: Alembic's generic template (URL from `sqlalchemy.url`).
pub const ALEMBIC_ENV_PY: &str = r#"from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"#;

const ALEMBIC_FIRST: &str = r#""""create teams

Revision ID: 4f2a9c1e7b3d
Revises:
Create Date: 2024-01-15 10:02:11.417305

"""
from alembic import op
import sqlalchemy as sa

revision = "4f2a9c1e7b3d"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.execute("INSERT INTO teams (name) SELECT 'team ' || g FROM generate_series(1, 50) g")


def downgrade() -> None:
    op.drop_table("teams")
"#;

const ALEMBIC_SECOND: &str = r#""""create users and posts

Revision ID: b81d6e0c5a92
Revises: 4f2a9c1e7b3d
Create Date: 2024-02-03 16:40:52.090112

"""
from alembic import op
import sqlalchemy as sa

revision = "b81d6e0c5a92"
down_revision = "4f2a9c1e7b3d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("published", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index("ix_posts_user_id", "posts", ["user_id"])
    op.execute(
        "INSERT INTO users (email, name, team_id, created_at) "
        "SELECT 'user' || g || '@example.org', 'User ' || g, 1 + g % 50, "
        "timestamptz '2024-02-03 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, 25000) g"
    )
    op.execute(
        "INSERT INTO posts (user_id, title, body, published) "
        "SELECT 1 + (g * 7) % 25000, 'Post ' || g, repeat('text ', 1 + g % 30), g % 3 = 0 "
        "FROM generate_series(1, 5000) g"
    )


def downgrade() -> None:
    op.drop_index("ix_posts_user_id", table_name="posts")
    op.drop_table("posts")
    op.drop_index("ix_users_email", table_name="users")
    op.drop_table("users")
"#;

/// An Alembic-managed PostgreSQL database: writes an Alembic project (`alembic.ini`, `env.py`, two revisions: the
/// second creates `users` with 25,000 rows and `posts`) into a temp folder and runs the real `alembic upgrade
/// head` against the test database, leaving `alembic_version` at [`ALEMBIC_REVISIONS`]`[1]`.
pub async fn alembic_app(t: &TestDb) -> AlembicApp {
    expect_kind(t, Kind::Postgres, "alembic_app");
    let dir = tempfile::tempdir().expect("temp dir for the Alembic project");
    let versions = dir.path().join("migrations/versions");
    std::fs::create_dir_all(&versions).expect("create migrations/versions");
    // SQLAlchemy's spelling of the test URL; `%` doubled because alembic.ini goes through configparser.
    let url = t.url.replacen("postgres://", "postgresql+psycopg2://", 1).replace('%', "%%");
    let ini = dir.path().join("alembic.ini");
    let files = [
        (ini.clone(), alembic_ini(&url)),
        (dir.path().join("migrations/env.py"), ALEMBIC_ENV_PY.to_string()),
        (dir.path().join("migrations/script.py.mako"), ALEMBIC_MAKO.to_string()),
        (versions.join(format!("{}_create_teams.py", ALEMBIC_REVISIONS[0])), ALEMBIC_FIRST.to_string()),
        (versions.join(format!("{}_create_users_and_posts.py", ALEMBIC_REVISIONS[1])), ALEMBIC_SECOND.to_string()),
    ];
    for (path, text) in files {
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let app = AlembicApp { dir, ini };
    let exe = alembic();
    let out = tokio::task::spawn_blocking({
        let (exe, dir, ini) = (exe.clone(), app.dir.path().to_path_buf(), app.ini.clone());
        move || Command::new(exe).current_dir(dir).arg("-c").arg(ini).args(["upgrade", "head"]).output()
    })
    .await
    .expect("join the alembic run")
    .unwrap_or_else(|e| panic!("cannot run {} (set STRATA_ALEMBIC to an alembic executable): {e}", exe.display()));
    assert!(
        out.status.success(),
        "alembic upgrade head failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    app
}

/// An `alembic.ini` for `url` (SQLAlchemy's spelling, `%` doubled) with the generic logging config (alembic at INFO).
pub fn alembic_ini(url: &str) -> String {
    format!(
        "[alembic]\nscript_location = %(here)s/migrations\nprepend_sys_path = .\nsqlalchemy.url = {url}\n\n\
         [loggers]\nkeys = root,sqlalchemy,alembic\n\n[handlers]\nkeys = console\n\n[formatters]\nkeys = generic\n\n\
         [logger_root]\nlevel = WARNING\nhandlers = console\nqualname =\n\n\
         [logger_sqlalchemy]\nlevel = WARNING\nhandlers =\nqualname = sqlalchemy.engine\n\n\
         [logger_alembic]\nlevel = INFO\nhandlers =\nqualname = alembic\n\n\
         [handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\nlevel = NOTSET\nformatter = generic\n\n\
         [formatter_generic]\nformat = %(levelname)-5.5s [%(name)s] %(message)s\ndatefmt = %H:%M:%S\n"
    )
}

/// The fixtures' `script.py.mako`.
pub const ALEMBIC_MAKO: &str = r#""""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
"#;

// ---------------------------------------------------------------------------------------------------------------
// SQLite app: WAL mode, golang-migrate's `schema_migrations`.

/// A SQLite application in WAL mode whose schema golang-migrate manages: `schema_migrations` exactly as its
/// sqlite3 driver creates it (`version uint64, dirty bool` and the `version_unique` index) at version 3, clean, plus
/// `accounts`, `notes` (foreign key, CHECK, index) and a WITHOUT ROWID join table, with rows.
pub async fn sqlite_migrate_app(t: &TestDb) {
    expect_kind(t, Kind::Sqlite, "sqlite_migrate_app");
    let db = t.connect().await;
    let mode = super::column(&db, "PRAGMA journal_mode = WAL").await;
    assert_eq!(mode, ["wal"], "the SQLite fixture could not switch to WAL");
    script(
        &db,
        &[
            "CREATE TABLE schema_migrations (version uint64,dirty bool)",
            "CREATE UNIQUE INDEX version_unique ON schema_migrations (version)",
            "INSERT INTO schema_migrations (version, dirty) VALUES (3, 0)",
            "CREATE TABLE accounts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                email TEXT NOT NULL UNIQUE,
                display_name TEXT,
                created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
            )",
            "CREATE TABLE notes (
                id INTEGER PRIMARY KEY,
                account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                title TEXT NOT NULL,
                body TEXT,
                pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
                updated_at TEXT NOT NULL
            )",
            "CREATE INDEX notes_account_updated ON notes (account_id, updated_at)",
            "CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE)",
            "CREATE TABLE note_tags (
                note_id INTEGER NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
                tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
                PRIMARY KEY (note_id, tag_id)
            ) WITHOUT ROWID",
            "INSERT INTO accounts (email, display_name, created_at)
                WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 500)
                SELECT 'user' || n || '@example.net', CASE WHEN n % 4 = 0 THEN NULL ELSE 'User ' || n END,
                       datetime('2024-01-01', '+' || n || ' hours')
                FROM g",
            "INSERT INTO notes (account_id, title, body, pinned, updated_at)
                WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 3000)
                SELECT 1 + n % 500, 'Note ' || n, printf('%.*c', n % 50, 'x'), n % 9 = 0,
                       datetime('2024-02-01', '+' || n || ' minutes')
                FROM g",
            "INSERT INTO tags (name) VALUES ('work'), ('home'), ('ideas'), ('later')",
            "INSERT INTO note_tags (note_id, tag_id)
                WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 3000)
                SELECT n, 1 + n % 4 FROM g WHERE n % 2 = 0",
        ],
    )
    .await;
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------------------------------------
// MariaDB app.

/// A MariaDB shop: InnoDB tables with AUTO_INCREMENT keys, foreign keys, unique and secondary indexes, an ENUM, a
/// CHECK constraint, a view, and rows (MariaDB's `seq_1_to_N` tables make them in one statement each).
pub async fn mariadb_app(t: &TestDb) {
    expect_kind(t, Kind::MySql, "mariadb_app");
    let db = t.connect().await;
    script(
        &db,
        &[
            "CREATE TABLE customers (
                id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                email VARCHAR(191) NOT NULL,
                name VARCHAR(100) NOT NULL,
                country CHAR(2) NOT NULL DEFAULT 'US',
                created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
                UNIQUE KEY customers_email_unique (email),
                KEY customers_country_idx (country)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            "CREATE TABLE products (
                id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                sku VARCHAR(32) NOT NULL,
                title VARCHAR(200) NOT NULL,
                price_cents INT NOT NULL,
                stock INT NOT NULL DEFAULT 0,
                UNIQUE KEY products_sku_unique (sku),
                CONSTRAINT products_price_nonnegative CHECK (price_cents >= 0)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            "CREATE TABLE orders (
                id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                customer_id INT UNSIGNED NOT NULL,
                status ENUM('new', 'paid', 'shipped', 'cancelled') NOT NULL DEFAULT 'new',
                placed_at DATETIME NOT NULL,
                KEY orders_placed_at_idx (placed_at),
                CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            "CREATE TABLE order_items (
                order_id BIGINT UNSIGNED NOT NULL,
                product_id INT UNSIGNED NOT NULL,
                quantity SMALLINT UNSIGNED NOT NULL DEFAULT 1,
                PRIMARY KEY (order_id, product_id),
                CONSTRAINT order_items_order_fk FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
                CONSTRAINT order_items_product_fk FOREIGN KEY (product_id) REFERENCES products (id)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            "CREATE VIEW customer_order_counts AS
                SELECT c.id, c.email, COUNT(o.id) AS orders
                FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.email",
            "INSERT INTO customers (email, name, country, created_at)
                SELECT CONCAT('customer', seq, '@example.com'), CONCAT('Customer ', seq),
                       ELT(1 + seq % 4, 'US', 'DE', 'FR', 'JP'), '2024-01-01' + INTERVAL seq HOUR
                FROM seq_1_to_1500",
            "INSERT INTO products (sku, title, price_cents, stock)
                SELECT CONCAT('SKU-', LPAD(seq, 5, '0')), CONCAT('Product ', seq), 100 + seq * 37 % 9000, seq % 70
                FROM seq_1_to_200",
            "INSERT INTO orders (customer_id, status, placed_at)
                SELECT 1 + seq % 1500, ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'cancelled'),
                       '2024-02-01' + INTERVAL seq MINUTE
                FROM seq_1_to_4000",
            "INSERT INTO order_items (order_id, product_id, quantity)
                SELECT o.seq, 1 + (o.seq + k.seq * 37) % 200, k.seq
                FROM seq_1_to_4000 o JOIN seq_1_to_2 k",
        ],
    )
    .await;
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------------------------------------
// The snapshot.

/// Everything a "Strata writes nothing" test compares, read from the catalog as sorted text lines: PostgreSQL's
/// schemas, extensions, relations (kind, owner, grants, options), types and enum labels, columns, indexes,
/// constraints, sequences with `last_value`/`is_called`, triggers, functions, policies, comments, default
/// privileges and database settings; MariaDB's `information_schema` (tables, columns, statistics, constraints,
/// views, triggers, routines, grants) and AUTO_INCREMENT values; SQLite's `sqlite_master`, pragmas and the files
/// beside the database. For every table: the exact row count and a digest of its rows (so an UPDATE shows too).
///
/// Reads only: PostgreSQL and MariaDB in a READ ONLY transaction that is rolled back, SQLite through `mode=ro`.
pub async fn snapshot(t: &TestDb) -> String {
    let lines = match t.kind {
        Kind::Postgres => postgres_snapshot(t).await,
        Kind::MySql => mariadb_snapshot(t).await,
        Kind::Sqlite => sqlite_snapshot(t).await,
    };
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The lines of `after` that are not in `before` (`+`) and those gone from it (`-`), in order: empty when equal.
pub fn diff(before: &str, after: &str) -> String {
    let old: std::collections::HashSet<&str> = before.lines().collect();
    let new: std::collections::HashSet<&str> = after.lines().collect();
    let gone = before.lines().filter(|l| !new.contains(l)).map(|l| format!("- {l}"));
    let came = after.lines().filter(|l| !old.contains(l)).map(|l| format!("+ {l}"));
    gone.chain(came).collect::<Vec<_>>().join("\n")
}

/// Fails with the changed lines when two snapshots differ.
#[track_caller]
pub fn assert_unchanged(before: &str, after: &str, what: &str) {
    if before != after {
        panic!("{what} changed the database:\n{}", diff(before, after));
    }
}

/// One row as `a | b | c`: each column read as text by trial, NULL as `NULL`, newlines escaped so a value never
/// splits a line.
fn row_text(row: &QueryResult) -> String {
    let names = row.column_names();
    let cells: Vec<String> = (0..names.len()).map(|i| cell(row, i)).collect();
    cells.join(" | ").replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r")
}

fn cell(row: &QueryResult, i: usize) -> String {
    fn show<T: ToString>(v: Option<T>) -> String {
        v.map(|v| v.to_string()).unwrap_or_else(|| "NULL".into())
    }
    if let Ok(v) = row.try_get_by_index::<Option<String>>(i) {
        return show(v);
    }
    if let Ok(v) = row.try_get_by_index::<Option<i64>>(i) {
        return show(v);
    }
    if let Ok(v) = row.try_get_by_index::<Option<u64>>(i) {
        return show(v);
    }
    if let Ok(v) = row.try_get_by_index::<Option<i32>>(i) {
        return show(v);
    }
    if let Ok(v) = row.try_get_by_index::<Option<u32>>(i) {
        return show(v);
    }
    if let Ok(v) = row.try_get_by_index::<Option<bool>>(i) {
        return show(v);
    }
    if let Ok(v) = row.try_get_by_index::<Option<f64>>(i) {
        return show(v);
    }
    match row.try_get_by_index::<Option<Vec<u8>>>(i) {
        // MariaDB hands some information_schema text over with the binary charset.
        Ok(v) => show(v.map(|b| String::from_utf8_lossy(&b).into_owned())),
        Err(e) => panic!("snapshot: cannot read column {i} ({:?}) as text: {e}", row.column_names().get(i)),
    }
}

/// Every row of a query as text, each prefixed with `section: `.
async fn section(db: &impl ConnectionTrait, name: &str, sql: &str) -> Vec<String> {
    rows(db, sql).await.into_iter().map(|r| format!("{name}: {r}")).collect()
}

async fn rows(db: &impl ConnectionTrait, sql: &str) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("snapshot: {sql}: {e}"));
    rows.iter().map(row_text).collect()
}

async fn rows_with(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values))
        .await
        .unwrap_or_else(|e| panic!("snapshot: {sql}: {e}"));
    rows.iter().map(row_text).collect()
}

/// Schemas a PostgreSQL snapshot covers: everything but the system's own.
const PG_OWN: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'";

/// `(section, query)` pairs for PostgreSQL; each query's rows are sorted by its ORDER BY.
fn postgres_sections() -> Vec<(&'static str, String)> {
    let own = PG_OWN;
    vec![
        (
            "database",
            "SELECT pg_get_userbyid(datdba)::text, datacl::text, pg_encoding_to_char(encoding)::text, \
             datcollate::text, datctype::text FROM pg_database WHERE datname = current_database()"
                .into(),
        ),
        (
            "setting",
            "SELECT CASE WHEN s.setrole = 0 THEN 'ALL' ELSE pg_get_userbyid(s.setrole)::text END, \
             array_to_string(s.setconfig, ', ') FROM pg_db_role_setting s \
             WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1, 2"
                .into(),
        ),
        (
            "schema",
            format!(
                "SELECT n.nspname::text, pg_get_userbyid(n.nspowner)::text, n.nspacl::text \
                 FROM pg_namespace n WHERE {own} ORDER BY 1"
            ),
        ),
        (
            "extension",
            "SELECT e.extname::text, e.extversion, n.nspname::text FROM pg_extension e \
             JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1"
                .into(),
        ),
        (
            "relation",
            format!(
                "SELECT n.nspname::text, c.relname::text, c.relkind::text, pg_get_userbyid(c.relowner)::text, \
                 c.relpersistence::text, c.relacl::text, array_to_string(c.reloptions, ', '), \
                 c.relrowsecurity::text, c.relispopulated::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {own} ORDER BY 1, 2"
            ),
        ),
        (
            "view",
            format!(
                "SELECT n.nspname::text, c.relname::text, pg_get_viewdef(c.oid) \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE {own} AND c.relkind IN ('v', 'm') ORDER BY 1, 2"
            ),
        ),
        (
            // Standalone types: enums with their labels in order, domains, ranges, composite types; not the row
            // and array types every table and type brings along.
            "type",
            format!(
                "SELECT n.nspname::text, t.typname::text, t.typtype::text, pg_get_userbyid(t.typowner)::text, \
                 CASE t.typtype \
                   WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) \
                                  FROM pg_enum e WHERE e.enumtypid = t.oid) \
                   WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) || coalesce(' DEFAULT ' || t.typdefault, '') \
                                 || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END \
                 END, t.typacl::text \
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE {own} \
                   AND NOT (t.typrelid <> 0 AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) <> 'c') \
                   AND NOT EXISTS (SELECT 1 FROM pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid) \
                 ORDER BY 1, 2"
            ),
        ),
        (
            "column",
            format!(
                "SELECT n.nspname::text, c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                 CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END, pg_get_expr(d.adbin, d.adrelid), \
                 a.attidentity::text, a.attgenerated::text, \
                 CASE WHEN a.attcollation <> ty.typcollation THEN a.attcollation::regcollation::text END, \
                 a.attacl::text \
                 FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_type ty ON ty.oid = a.atttypid \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE {own} AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') \
                 ORDER BY n.nspname, c.relname, a.attnum"
            ),
        ),
        (
            "index",
            format!(
                "SELECT n.nspname::text, ic.relname::text, pg_get_indexdef(i.indexrelid), i.indisvalid::text \
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
                 JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE {own} ORDER BY 1, 2"
            ),
        ),
        (
            "constraint",
            format!(
                "SELECT n.nspname::text, coalesce(c.relname, t.typname)::text, con.conname::text, con.contype::text, \
                 pg_get_constraintdef(con.oid) \
                 FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace \
                 LEFT JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_type t ON t.oid = con.contypid \
                 WHERE {own} ORDER BY 1, 2, 3"
            ),
        ),
        (
            "sequence",
            format!(
                "SELECT n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL), s.seqstart::text, \
                 s.seqincrement::text, s.seqmin::text, s.seqmax::text, s.seqcache::text, s.seqcycle::text, \
                 (SELECT string_agg(format('owned by %s.%s', tc.relname, ta.attname), ', ') \
                  FROM pg_depend dep JOIN pg_class tc ON tc.oid = dep.refobjid \
                  JOIN pg_attribute ta ON ta.attrelid = dep.refobjid AND ta.attnum = dep.refobjsubid \
                  WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype IN ('a', 'i')) \
                 FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {own} ORDER BY 1, 2"
            ),
        ),
        (
            "trigger",
            format!(
                "SELECT n.nspname::text, c.relname::text, tg.tgname::text, pg_get_triggerdef(tg.oid), \
                 tg.tgenabled::text \
                 FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE {own} AND NOT tg.tgisinternal ORDER BY 1, 2, 3"
            ),
        ),
        (
            "function",
            format!(
                "SELECT n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid), \
                 p.prokind::text, pg_get_userbyid(p.proowner)::text, p.proacl::text, \
                 CASE WHEN p.prokind IN ('f', 'p') THEN md5(pg_get_functiondef(p.oid)) END \
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {own} ORDER BY 1, 2, 3"
            ),
        ),
        (
            "policy",
            "SELECT schemaname::text, tablename::text, policyname::text, permissive, roles::text, cmd, qual, \
             with_check FROM pg_policies ORDER BY 1, 2, 3"
                .into(),
        ),
        (
            "comment",
            format!(
                "SELECT n.nspname::text, c.relname::text, d.objsubid::text, d.description \
                 FROM pg_description d JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {own} ORDER BY 1, 2, 3"
            ),
        ),
        (
            "default privileges",
            "SELECT pg_get_userbyid(d.defaclrole)::text, coalesce(n.nspname::text, '*'), d.defaclobjtype::text, \
             d.defaclacl::text FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace \
             ORDER BY 1, 2, 3"
                .into(),
        ),
    ]
}

async fn postgres_snapshot(t: &TestDb) -> Vec<String> {
    let db = t.connect_one().await;
    // One read-only, repeatable-read transaction: the snapshot can write nothing and sees one moment.
    let tx = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
        .await
        .expect("begin the snapshot's read-only transaction");
    let mut out = Vec::new();
    for (name, sql) in postgres_sections() {
        out.extend(section(&tx, name, &sql).await);
    }
    let own = PG_OWN;
    // Sequence positions: `nextval` in a watched database is a write too.
    let sequences = rows(
        &tx,
        &format!(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {own} AND c.relkind = 'S' ORDER BY 1, 2"
        ),
    )
    .await;
    for line in sequences {
        let (schema, name) = line.split_once(" | ").expect("schema | name");
        let q = format!("{}.{}", t.quote(schema), t.quote(name));
        let state = rows(&tx, &format!("SELECT last_value::text, is_called::text FROM {q}")).await;
        out.extend(state.into_iter().map(|s| format!("sequence state: {schema} | {name} | {s}")));
    }
    // Exact row counts and a digest of every row's text (sorted, so it does not depend on physical order).
    let tables = rows(
        &tx,
        &format!(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {own} AND (c.relkind IN ('r', 'p') OR (c.relkind = 'm' AND c.relispopulated)) ORDER BY 1, 2"
        ),
    )
    .await;
    for line in tables {
        let (schema, name) = line.split_once(" | ").expect("schema | name");
        let q = format!("{}.{}", t.quote(schema), t.quote(name));
        let sql = format!(
            "SELECT count(*)::text, md5(coalesce(string_agg(ROW(strata_snapshot_row.*)::text, E'\\n' \
             ORDER BY ROW(strata_snapshot_row.*)::text), '')) FROM {q} AS strata_snapshot_row"
        );
        out.extend(rows(&tx, &sql).await.into_iter().map(|r| format!("rows: {schema} | {name} | {r}")));
    }
    tx.rollback().await.expect("end the snapshot's transaction");
    db.close().await.ok();
    out
}

/// `(section, query)` pairs for MariaDB, all about the current database.
fn mariadb_sections() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "schema",
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA \
             WHERE SCHEMA_NAME = DATABASE()",
        ),
        (
            "table",
            "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, ROW_FORMAT, TABLE_COLLATION, CREATE_OPTIONS, TABLE_COMMENT, \
             AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        ),
        (
            "column",
            "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, \
             CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_KEY, COLUMN_COMMENT, GENERATION_EXPRESSION \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
        ),
        (
            "index",
            "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, SUB_PART, INDEX_TYPE, NULLABLE, \
             COLLATION, COMMENT, INDEX_COMMENT FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        ),
        (
            "constraint",
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE",
        ),
        (
            "check",
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY CONSTRAINT_NAME, CHECK_CLAUSE",
        ),
        (
            "foreign key",
            "SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME, UNIQUE_CONSTRAINT_NAME, UPDATE_RULE, \
             DELETE_RULE, MATCH_OPTION FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME",
        ),
        (
            "key column",
            "SELECT TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION, COLUMN_NAME, REFERENCED_TABLE_NAME, \
             REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() \
             ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
        ),
        (
            "view",
            "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, IS_UPDATABLE, DEFINER, SECURITY_TYPE \
             FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        ),
        (
            "trigger",
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT, DEFINER \
             FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME",
        ),
        (
            "routine",
            "SELECT ROUTINE_NAME, ROUTINE_TYPE, MD5(ROUTINE_DEFINITION), DEFINER FROM information_schema.ROUTINES \
             WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY ROUTINE_NAME, ROUTINE_TYPE",
        ),
        (
            // A database-level grant may be stored with `_` escaped, as `GRANT ... ON `a\_b`.*` writes it.
            "schema grant",
            "SELECT GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES \
             WHERE TABLE_SCHEMA IN (DATABASE(), REPLACE(DATABASE(), '_', '\\\\_')) \
             ORDER BY GRANTEE, PRIVILEGE_TYPE",
        ),
        (
            "table grant",
            "SELECT GRANTEE, TABLE_NAME, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.TABLE_PRIVILEGES \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY GRANTEE, TABLE_NAME, PRIVILEGE_TYPE",
        ),
    ]
}

async fn mariadb_snapshot(t: &TestDb) -> Vec<String> {
    let db = t.connect_one().await;
    let tx = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
        .await
        .expect("begin the snapshot's read-only transaction");
    let mut out = Vec::new();
    for (name, sql) in mariadb_sections() {
        out.extend(section(&tx, name, sql).await);
    }
    let tables = rows(
        &tx,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    )
    .await;
    for name in tables {
        let q = t.quote(&name);
        let count = rows(&tx, &format!("SELECT COUNT(*) FROM {q}")).await;
        // CHECKSUM TABLE reads every row of an InnoDB table: a changed value changes it.
        let checksum = rows(&tx, &format!("CHECKSUM TABLE {q}")).await;
        let checksum = checksum.iter().map(|r| r.rsplit(" | ").next().unwrap_or_default()).collect::<Vec<_>>();
        out.push(format!("rows: {name} | {} | checksum {}", count.join(""), checksum.join("")));
    }
    tx.rollback().await.expect("end the snapshot's transaction");
    db.close().await.ok();
    out
}

/// The SQLite file's path, from the test URL (`sqlite:////abs/path.db`).
fn sqlite_path(t: &TestDb) -> PathBuf {
    PathBuf::from(t.url.strip_prefix("sqlite:///").expect("a SQLAlchemy SQLite URL"))
}

async fn sqlite_snapshot(t: &TestDb) -> Vec<String> {
    let path = sqlite_path(t);
    let db = Database::connect(format!("sqlite://{}?mode=ro", path.display()))
        .await
        .expect("open the SQLite file read-only for the snapshot");
    let mut out =
        section(&db, "object", "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").await;
    for pragma in
        ["journal_mode", "user_version", "application_id", "schema_version", "page_size", "auto_vacuum", "encoding"]
    {
        out.extend(section(&db, &format!("pragma {pragma}"), &format!("PRAGMA {pragma}")).await);
    }
    let tables = super::column(&db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").await;
    for name in tables {
        let columns =
            rows_with(&db, "SELECT name FROM pragma_table_info(?) ORDER BY cid", vec![name.clone().into()]).await;
        let cells = columns.iter().map(|c| format!("quote({})", t.quote(c))).collect::<Vec<_>>().join(" || ',' || ");
        let q = t.quote(&name);
        let sql = format!(
            "SELECT count(*), coalesce(group_concat(r, char(10) ORDER BY r), '') FROM (SELECT {cells} AS r FROM {q})"
        );
        let result = db
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql.clone()))
            .await
            .unwrap_or_else(|e| panic!("snapshot: {sql}: {e}"))
            .expect("one row");
        let count: i64 = result.try_get_by_index(0).expect("count");
        let text: String = result.try_get_by_index(1).expect("rows as text");
        out.push(format!("rows: {name} | {count} | fnv {:016x}", fnv1a(text.as_bytes())));
    }
    db.close().await.ok();
    // The files beside the database: a stray copy, journal or lock file is a write too. The -wal and -shm files
    // come and go with checkpoints and connections, so their presence is not compared. `home.db` is the test
    // harness's own home database for Strata (see `TestDb::home_url`), kept in the same temporary folder.
    let dir = path.parent().expect("the database's folder");
    let home =
        Path::new(&t.home_url.trim_start_matches("sqlite:///")).file_name().map(|n| n.to_string_lossy().into_owned());
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("list the database's folder")
        .map(|e| e.expect("a folder entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .filter(|n| home.as_deref() != Some(n.as_str()))
        .collect();
    files.sort();
    out.extend(files.into_iter().map(|f| format!("file: {f}")));
    out
}

/// FNV-1a, 64 bits: a stable digest of a table's rows without a crypto dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
