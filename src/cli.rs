//! The command line: `strata serve`, `strata migrate ...`, `strata backup/restore/verify`, `strata maintenance ...`,
//! `strata user create`, `strata key ...`, `strata viewer-login ...`.

mod backup_cmd;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use sea_orm_migration::MigratorTrait;

use crate::backup::{self, Format, Preview, Progress, Report, RestoreOptions};
use crate::config::{Config, Overrides};
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::home::accounts::{self, NewAccount, Role};
use crate::home::api_keys::{self, NewKey, Scope};
use crate::home::audit;
use crate::maintenance::{self, Action as MaintenanceAction, Target};
use crate::migrate::{self, Action, Event, MigrationSet, Runner, StepReport, Steps};
use crate::viewer_login;

/// Strata: a migration-aware database admin dashboard.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, propagate_version = true)]
pub struct Cli {
    /// Alembic-style ini file ([alembic] sqlalchemy.url, [strata] settings); default ./alembic.ini when present.
    #[arg(long, global = true, value_name = "FILE", env = "STRATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// The project database's URL (SQLAlchemy or sqlx form), the one `strata migrate` manages; overrides the ini
    /// file.
    #[arg(long, global = true, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Strata's home database (accounts, sessions, history, keys, the watch list) [default: ./data/strata.db].
    #[arg(long, global = true, value_name = "URL", env = "STRATA_HOME_URL", hide_env_values = true)]
    pub home_url: Option<String>,
    /// Act on this watched database (a name from the configuration) instead of the project database:
    /// backup, restore, verify, maintenance, viewer-login and `migrate status|current|history`.
    #[arg(long = "db", global = true, value_name = "NAME")]
    pub db: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard (migrating the home database, and the project database when `migrate_on_start` is on).
    Serve(ServeArgs),
    /// Manage the schema the way Alembic does.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Manage dashboard accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Back the database up to a timestamped file (pg_dump, mariadb-dump, or SQLite's VACUUM INTO).
    Backup(BackupArgs),
    /// DESTRUCTIVE: restore a backup over the database, then print the verification report.
    Restore(RestoreArgs),
    /// Row counts per table, foreign keys, indexes and the migration state of the database.
    Verify(Output),
    /// Manage API keys (for pipelines and scripts).
    #[command(subcommand)]
    Key(KeyCommand),
    /// VACUUM, ANALYZE, REINDEX, OPTIMIZE, CHECK TABLE, integrity_check... (`strata maintenance list`).
    Maintenance(MaintenanceArgs),
    /// The database login with read grants only that read-only runs use (PostgreSQL, MariaDB/MySQL).
    #[command(subcommand, name = "viewer-login")]
    ViewerLogin(ViewerLoginCommand),
    /// Exit 0 when the local server answers /healthz (for container health checks).
    Healthcheck,
    /// Every migration tool's state in each watched database (or only --db NAME): history, pending files and
    /// problems. Exits 1 on a problem (failed, dirty, checksum mismatch, missing script, multiple heads).
    Migrations(MigrationsArgs),
    /// `alembic current|heads|history [-v]` answered without Python, byte for byte (`-c FILE` as Alembic's).
    Alembic(crate::watch::schema_history::alembic::command::AlembicArgs),
}

#[derive(Debug, Args)]
pub struct MigrationsArgs {
    /// Exit 1 also when a migration is pending (a deploy gate).
    #[arg(long)]
    pub fail_on_pending: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", env = "STRATA_LISTEN")]
    pub listen: Option<String>,
    /// Do not apply the project database's pending migrations at start, even with `migrate_on_start`.
    #[arg(long)]
    pub no_migrate: bool,
    /// Watch this database too: NAME=URL (repeatable; also `STRATA_WATCH_<NAME>=URL` and `[databases]`).
    #[arg(long, value_name = "NAME=URL")]
    pub watch: Vec<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: Option<BackupAction>,
    /// Folder for the backup [default: the backup_dir setting, ./backups].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// sql: gzip-compressed SQL (a compressed database file on SQLite); custom: pg_dump's custom format.
    #[arg(long, value_enum, default_value_t = Format::Sql)]
    pub format: Format,
    /// Afterwards keep only the newest N backups of this database in the folder.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: Option<u64>,
    /// Encrypt the backup to this age recipient (age1…; repeatable) [default: backup_encrypt_to].
    #[arg(long, value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// Show bytes written and the rate on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
    #[command(flatten)]
    pub out: Output,
}

/// What `strata backup` does besides taking a backup.
#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Delete the backups the retention policy (backup_keep, backup_max_age) does not keep.
    Prune {
        /// Show what would be kept (and by which rule) and deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// The backup folder [default: the database's backup_dir].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        out: Output,
    },
    /// List the off-site copies of the database's backups (backup_offsite), newest first.
    Offsite {
        #[command(flatten)]
        out: Output,
    },
    /// Restore a backup (the newest, or FILE) into a scratch database, check it against what was recorded when
    /// it was taken, and drop the scratch database. Exits 1 when the test fails.
    TestRestore {
        /// A backup file [default: the newest backup of the database].
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// A server where scratch databases may be created and dropped [default: the restore_test_url setting].
        #[arg(long, value_name = "URL", env = "STRATA_RESTORE_TEST_URL", hide_env_values = true)]
        scratch_url: Option<String>,
        /// The backup folder [default: the database's backup_dir].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The age identity file that opens an encrypted backup [default: restore_test_identity].
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        /// Show bytes read and the rate on stderr even when it is not a terminal.
        #[arg(long)]
        progress: bool,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup: .sql, .sql.gz, pg_dump custom format (.dump), or a SQLite database (.db, .db.gz).
    #[arg(value_name = "FILE", required_unless_present_any = ["latest", "from_offsite"], conflicts_with_all = ["latest", "from_offsite"])]
    pub file: Option<PathBuf>,
    /// Download this off-site copy (a file name from `strata backup offsite`) from backup_offsite and restore it.
    #[arg(long, value_name = "NAME", conflicts_with = "latest")]
    pub from_offsite: Option<String>,
    /// Restore the newest backup of the database in its backup folder.
    #[arg(long)]
    pub latest: bool,
    /// Empty the database first, so that objects the backup does not have are dropped too.
    #[arg(long)]
    pub clean: bool,
    /// Do not ask for the database name to be typed (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Grant usage and read/write privileges on the restored tables and sequences to this PostgreSQL role.
    #[arg(long, value_name = "ROLE")]
    pub grant_to: Option<String>,
    /// The age identity file (age-keygen's) that opens an encrypted backup (.age).
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Show bytes read and the rate on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct MaintenanceArgs {
    /// `list` (this backend's actions), or an action: vacuum, vacuum-analyze, vacuum-full, analyze, reindex,
    /// reindex-concurrently, optimize, check, integrity-check, quick-check, foreign-key-check, wal-checkpoint.
    #[arg(value_name = "ACTION")]
    pub action: String,
    /// Run on this table (SCHEMA.TABLE, or TABLE in the default schema) instead of the whole database.
    #[arg(long, value_name = "SCHEMA.TABLE")]
    pub table: Option<String>,
    /// Do not ask before an action that locks (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print JSON for scripts instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StepArgs {
    /// Run this many migrations.
    #[arg(short = 'n', long = "steps", value_name = "N", conflicts_with = "to")]
    pub steps: Option<u32>,
    /// Stop at this revision (`down`: keep it; `base` rolls everything back).
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,
    /// Print the SQL that would run, without running anything.
    #[arg(long, conflicts_with = "rehearse")]
    pub sql: bool,
    /// Run the migrations for real inside one transaction and roll it back: each one's time, the locks it took
    /// and the schema it would leave (PostgreSQL and SQLite; nothing is kept, not even bookkeeping rows).
    #[arg(long, conflicts_with = "retry_failed")]
    pub rehearse: bool,
    /// Run past a dirty migration after repairing the database by hand.
    #[arg(long)]
    pub retry_failed: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Lint the migrations up to this revision (`--down`: the ones rolled back to it; `base` for all).
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,
    /// Lint this many migrations.
    #[arg(short = 'n', long = "steps", value_name = "N", conflicts_with = "to")]
    pub steps: Option<u32>,
    /// Lint what `down` would run instead (one migration by default, like `down`).
    #[arg(long)]
    pub down: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct Confirm {
    /// Confirm a destructive command.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending migrations (all, -n N, or --to REV).
    Up(StepArgs),
    /// Roll back migrations (one by default, -n N, --to REV, or --to base).
    Down(StepArgs),
    /// Check the SQL the pending migrations would run against squawk/strong_migrations-style rules (exit 1 when
    /// an error-level rule fires).
    Lint(LintArgs),
    /// Every migration: revision, name, state, applied_at.
    Status(Output),
    /// The head revision, or `base`.
    Current(Output),
    /// Upgrade/downgrade/stamp attempts from migrations_log, newest first.
    History {
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Only rows with this status (success, failed, or running: an attempt in progress or cut short).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Record REV (or base) as the current version without running migrations.
    Stamp {
        /// Revision id, migration name, unique prefix, or `base`.
        revision: String,
        #[command(flatten)]
        out: Output,
    },
    /// DESTRUCTIVE: drop every table (migrations_log is kept), then apply all migrations.
    Fresh(Confirm),
    /// DESTRUCTIVE: roll every migration back, then apply them all again.
    Refresh(Confirm),
    /// DESTRUCTIVE: roll every migration back.
    Reset(Confirm),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a dashboard account.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// admin, editor or viewer.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ViewerLoginCommand {
    /// Create the viewer login (SELECT on the application's tables, Strata's own excluded), or refresh its grants
    /// when it exists; its password is generated and stored sealed with the key file, never shown.
    Create {
        /// Give the login a new password (also takes over a login of that name Strata holds no password for).
        #[arg(long)]
        rotate: bool,
    },
    /// Drop the viewer login and forget its password.
    Drop,
    /// Which login read-only runs use, and what the main login may do beyond reading.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key for an account and print it once (on stdout alone, for `KEY=$(strata key create ...)`).
    Create {
        /// The account the key acts for.
        #[arg(long, value_name = "USERNAME")]
        user: String,
        /// What the key is for (shown in lists).
        #[arg(long)]
        name: String,
        /// admin, editor or viewer; at most the account's role, which is the default.
        #[arg(long)]
        role: Option<String>,
        /// read_metrics, read_catalog, run_readonly_sql, run_sql or manage_migrations; repeat for several.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The key stops working after this many days (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_days: Option<u32>,
    },
    /// Every API key: id, name, prefix, owner, role, scopes, dates, state.
    List(Output),
    /// Revoke an API key at once.
    Revoke {
        /// The key's id (from `strata key list`).
        id: i32,
    },
}

/// Parses arguments, runs the command, and turns errors into a message and exit code 1.
pub fn main<M: MigratorTrait>() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Alembic(args) = cli.command {
        return crate::watch::schema_history::alembic::command::main(cli.config, args);
    }
    crate::telemetry::init();
    // One-shot commands run on one thread: fewer cross-thread wake-ups per statement (measurable
    // over 500 migrations); the server gets the multi-threaded scheduler.
    let mut builder = match cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    quiet_when_stdout_closes();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(run::<M>(cli))));
    match ran {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(Error::Io { source, .. })) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(STDOUT_CLOSED)
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(panic) if stdout_closed(panic.downcast_ref::<String>().map(String::as_str)) => {
            ExitCode::from(STDOUT_CLOSED)
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The exit status when whoever read the output went away (`strata migrate status | head -1`): what a shell
/// reports for a command ended by SIGPIPE (128 + 13), as `git log | head -1` would end.
const STDOUT_CLOSED: u8 = 141;

/// `println!` panics when stdout is a pipe whose reader has gone (Rust ignores SIGPIPE, so the write fails with
/// EPIPE instead of ending the process). That panic is no bug: its message and backtrace are left out, and
/// [`main`] catches it and exits with [`STDOUT_CLOSED`]. Every other panic is reported as before.
fn quiet_when_stdout_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !stdout_closed(info.payload_as_str()) {
            report(info);
        }
    }));
}

/// Whether a panic's message is the standard library's for a write to a closed stdout
/// (`failed printing to stdout: Broken pipe (os error 32)`; Rust never sets a locale, so the text is English).
fn stdout_closed(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe"))
}

/// Runs one parsed command line against migrator `M`.
pub async fn run<M: MigratorTrait>(cli: Cli) -> Result<()> {
    let (listen, watch) = match &cli.command {
        Command::Serve(a) => (a.listen.clone(), a.watch.clone()),
        _ => (None, Vec::new()),
    };
    let mut config = Config::from_env_and_flags(&Overrides {
        config: cli.config.clone(),
        database_url: cli.database_url.clone(),
        listen,
        home_url: cli.home_url.clone(),
        watch,
    })?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(name) = &cli.db {
        let spec = config.watched(name).map_err(Error::BadRequest)?.clone();
        let reads_only = matches!(
            cli.command,
            Command::Migrate(MigrateCommand::Status(_) | MigrateCommand::Current(_) | MigrateCommand::History { .. })
        );
        if matches!(cli.command, Command::Migrate(_)) && !reads_only && !spec.project {
            return Err(Error::BadRequest(format!(
                "{name} is not the project database: `strata migrate` changes only the project database \
                 (DATABASE_URL / sqlalchemy.url); `--db` works with migrate status, current and history"
            )));
        }
        config = config.for_watched(&spec);
    }
    let set = MigrationSet::of::<M>()?;
    match cli.command {
        Command::Migrations(args) => migrations_command(&config, &set, cli.db.as_deref(), args).await,
        Command::Serve(args) => crate::web::serve(config, set, !args.no_migrate).await,
        Command::Migrate(cmd) => migrate_command(&config, &set, cmd).await,
        Command::Healthcheck => healthcheck(config.settings.listen).await,
        // answered in `main` before any Strata configuration is read, with Alembic's exit statuses
        Command::Alembic(_) => Err(Error::BadRequest("`strata alembic` runs through cli::main".into())),
        Command::Backup(args) => backup_cmd::run(&config, Arc::new(MigrationSet::of::<M>()?), args).await,
        Command::Restore(args) => restore_command(&config, &set, args).await,
        Command::Maintenance(args) => maintenance_command(&config, args).await,
        Command::Verify(out) => {
            let report = backup::verify(&config, &set).await?;
            if out.json {
                return print_json(&report);
            }
            print_report(&report);
            Ok(())
        }
        Command::User(UserCommand::Create { username, email, role, password_stdin }) => {
            let role: Role = role.parse()?;
            let password = read_password(password_stdin)?;
            let conn = home(&config).await?;
            let user = accounts::create(&conn, NewAccount { username, email, role, password }).await?;
            println!("created {} account {:?} ({})", user.role, user.username, user.email);
            Ok(())
        }
        Command::Key(cmd) => {
            let conn = home(&config).await?;
            key_command(&conn, cmd).await
        }
        Command::ViewerLogin(cmd) => {
            let home = home(&config).await?;
            let conn = db::connect(&config.database_url, Purpose::Cli).await?;
            let name = cli.db.clone().unwrap_or_else(|| config.project().name.clone());
            viewer_login_command(&config, &home, &name, &conn, cmd).await
        }
    }
}

/// The home database, migrated first if needed (accounts, keys and secrets live there).
async fn home(config: &Config) -> Result<sea_orm::DatabaseConnection> {
    crate::home::migrate(&config.home_url).await?;
    db::connect(&config.home_url, Purpose::Cli).await
}

async fn viewer_login_command(
    config: &Config,
    home: &sea_orm::DatabaseConnection,
    name: &str,
    conn: &sea_orm::DatabaseConnection,
    cmd: ViewerLoginCommand,
) -> Result<()> {
    let url = &config.database_url;
    match cmd {
        ViewerLoginCommand::Create { rotate } => {
            let keyring = crate::home::secrets::Keyring::open_or_create(&config.secret_key_file())?;
            let created = viewer_login::create(home, name, conn, url, &keyring, rotate).await?;
            let detail = format!("existed: {}, new password: {}", created.existed, created.new_password);
            let entry = cli_audit("viewer_login.create").database(name).target(&created.user).detail(detail);
            audit::record(home, entry).await?;
            let what = if created.existed { "refreshed the grants of" } else { "created" };
            println!(
                "{what} the viewer login {}{}; its password is stored sealed with {}",
                created.user,
                if created.new_password && created.existed { " and gave it a new password" } else { "" },
                keyring.path().display()
            );
            if config.settings.viewer_url.is_some() {
                println!("note: viewer_url is set and wins: read-only runs use it, not this login");
            }
            println!("tables created from now on are readable by it once this command runs again");
            Ok(())
        }
        ViewerLoginCommand::Drop => {
            let user = url.database_name().map(|d| viewer_login::login_name(url.backend(), &d)).unwrap_or_default();
            if viewer_login::drop(home, name, conn, url).await? {
                audit::record(home, cli_audit("viewer_login.drop").database(name).target(&user)).await?;
                println!("dropped the viewer login {user}");
            } else {
                println!("there is no viewer login {user}");
            }
            Ok(())
        }
        ViewerLoginCommand::Status => {
            let privileges = viewer_login::privileges(conn).await?;
            if privileges.is_empty() {
                println!("the main login can only read");
            } else {
                println!("the main login can do more than read: {privileges}");
            }
            let key_file = config.secret_key_file();
            let place = viewer_login::Home { db: home, key_file: &key_file, name };
            let login = viewer_login::resolve(Some(place), conn, url, config.settings.viewer_url.as_ref()).await?;
            println!("{}", login.describe());
            Ok(())
        }
    }
}

/// An audit entry for something done from the command line (no account acted: the OS user did).
fn cli_audit(action: &str) -> audit::Entry {
    let mut entry = audit::Entry::new(action).client("cli");
    entry.actor = format!("cli:{}", whoami::username());
    entry
}

async fn key_command(conn: &sea_orm::DatabaseConnection, cmd: KeyCommand) -> Result<()> {
    use sea_orm::TransactionTrait;
    match cmd {
        KeyCommand::Create { user, name, role, scopes, expires_days } => {
            let owner = accounts::find_by_username(conn, &user)
                .await?
                .ok_or_else(|| Error::NotFound(format!("account {user:?}")))?;
            let owner_role = accounts::role_of(&owner)?;
            let role = match role {
                Some(r) => r.parse()?,
                None => owner_role,
            };
            let scopes = scopes.iter().map(|s| s.parse()).collect::<Result<Vec<Scope>>>()?;
            let expires_at = expires_days.map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
            let txn = conn.begin().await?;
            let new = NewKey { owner_id: owner.id, name, role, scopes, expires_at };
            let created = api_keys::create(&txn, owner_role, new).await?;
            let k = &created.key;
            let detail = format!("role {}, scopes {}", k.role, k.scope_list());
            audit::record(
                &txn,
                cli_audit("api_key.create").target(format!("#{} {} ({})", k.id, k.name, k.owner)).detail(detail),
            )
            .await?;
            txn.commit().await?;
            eprintln!(
                "created API key #{} {:?} for {} (role {}, scopes {}, expires {}); it is shown once:",
                k.id,
                k.name,
                k.owner,
                k.role,
                k.scope_list(),
                k.expires_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "never".into())
            );
            println!("{}", created.token);
            Ok(())
        }
        KeyCommand::List(out) => {
            let keys = api_keys::list(conn, None).await?;
            if out.json {
                return print_json(&keys);
            }
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "-".into())
            };
            print_table(
                &["ID", "NAME", "PREFIX", "OWNER", "ROLE", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "STATE"],
                keys.iter()
                    .map(|k| {
                        vec![
                            k.id.to_string(),
                            k.name.clone(),
                            k.prefix.clone(),
                            k.owner.clone(),
                            k.role.to_string(),
                            k.scope_list(),
                            when(Some(k.created_at)),
                            when(k.expires_at),
                            when(k.last_used_at),
                            k.state().to_string(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        KeyCommand::Revoke { id } => {
            let txn = conn.begin().await?;
            let (key, was_active) = api_keys::revoke(&txn, id).await?;
            if was_active {
                let target = format!("#{} {} ({})", key.id, key.name, key.owner);
                audit::record(&txn, cli_audit("api_key.revoke").target(target)).await?;
            }
            txn.commit().await?;
            if was_active {
                println!("revoked API key #{} {:?} of {}", key.id, key.name, key.owner);
            } else {
                println!("API key #{} {:?} was already revoked", key.id, key.name);
            }
            Ok(())
        }
    }
}

async fn migrate_command(config: &Config, set: &MigrationSet, cmd: MigrateCommand) -> Result<()> {
    let url = &config.database_url;
    match cmd {
        MigrateCommand::Status(out) => {
            let conn = db::connect(url, Purpose::Cli).await?;
            warn_if_foreign(&conn, set).await?;
            let rows = migrate::status(&conn, set).await?;
            if out.json {
                return print_json(&rows);
            }
            let head = migrate::current(&conn).await?;
            println!("database: {url}");
            println!("head:     {}", head.as_deref().unwrap_or("base"));
            print_table(
                &["REVISION", "NAME", "STATE", "APPLIED AT"],
                rows.iter()
                    .map(|r| {
                        vec![
                            r.revision.clone(),
                            r.label.clone(),
                            r.state.to_string(),
                            r.applied_at.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default(),
                        ]
                    })
                    .collect(),
            );
            for r in rows.iter().filter(|r| r.last_error.is_some()) {
                match &r.advice {
                    Some(advice) => {
                        println!("\n{} is dirty: {}\n{advice}", r.revision, r.last_error.as_deref().unwrap_or(""))
                    }
                    None => println!("\n{} last attempt failed: {}", r.revision, r.last_error.as_deref().unwrap_or("")),
                }
            }
            Ok(())
        }
        MigrateCommand::Current(out) => {
            let conn = db::connect(url, Purpose::Cli).await?;
            warn_if_foreign(&conn, set).await?;
            let head = migrate::current(&conn).await?.unwrap_or_else(|| "base".into());
            if out.json {
                return print_json(&serde_json::json!({ "current": head }));
            }
            println!("{head}");
            Ok(())
        }
        MigrateCommand::History { limit, status, out } => {
            if let Some(s) = status.as_deref()
                && s != "success"
                && s != "failed"
                && s != migrate::bookkeeping::RUNNING
            {
                return Err(Error::BadRequest(format!("--status {s:?}: use success, failed or running")));
            }
            let conn = db::connect(url, Purpose::Cli).await?;
            warn_if_foreign(&conn, set).await?;
            let rows = migrate::history(&conn, limit, status.as_deref()).await?;
            if out.json {
                return print_json(&rows);
            }
            print_table(
                &["ID", "STARTED", "ACTION", "REVISION", "STATUS", "MS", "ACTOR", "ERROR"],
                rows.iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                            r.action.clone(),
                            r.revision.clone(),
                            r.status.clone(),
                            r.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
                            r.actor.clone(),
                            r.error.as_deref().map(first_line).unwrap_or_default(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        MigrateCommand::Lint(args) => lint_command(config, set, args).await,
        MigrateCommand::Up(args) if args.rehearse => rehearse_command(config, set, Action::Upgrade, &args).await,
        MigrateCommand::Down(args) if args.rehearse => rehearse_command(config, set, Action::Downgrade, &args).await,
        MigrateCommand::Up(args) if args.sql => dry_run(config, set, Action::Upgrade, &args).await,
        MigrateCommand::Down(args) if args.sql => dry_run(config, set, Action::Downgrade, &args).await,
        other => run_locked(config, set, other).await,
    }
}

/// Read-only commands work on a database another project manages, and say whose it looks like (on stderr,
/// so `--json` output stays one document).
async fn warn_if_foreign(conn: &sea_orm::DatabaseConnection, set: &MigrationSet) -> Result<()> {
    if let Some(description) = migrate::foreign(conn, set).await? {
        eprintln!(
            "warning: {description}; strata migrate will not change it (up, down, stamp, fresh, refresh and reset refuse)"
        );
    }
    Ok(())
}

async fn dry_run(config: &Config, set: &MigrationSet, action: Action, args: &StepArgs) -> Result<()> {
    let conn = db::connect(&config.database_url, Purpose::Cli).await?;
    let script = migrate::dry_run(&conn, set, action, &steps_of(args, action), &actor()).await?;
    print!("{script}");
    Ok(())
}

/// `strata migrate lint`: every finding, or "no findings"; an error-level finding makes the command fail (exit 1).
async fn lint_command(config: &Config, set: &MigrationSet, args: LintArgs) -> Result<()> {
    let conn = db::connect(&config.database_url, Purpose::Cli).await?;
    let action = if args.down { Action::Downgrade } else { Action::Upgrade };
    let report = migrate::lint_plan(&conn, set, action, &steps_from(&args.to, args.steps, action)).await?;
    conn.close().await.ok();
    let (errors, warnings) = (report.errors(), report.warnings());
    if args.out.json {
        let mut doc = serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))?;
        doc["errors"] = errors.into();
        doc["warnings"] = warnings.into();
        print_json(&doc)?;
    } else {
        let statements: usize = report.migrations.iter().map(|m| m.statements.len()).sum();
        for m in &report.migrations {
            for f in &m.findings {
                let level = if f.level == migrate::lint::Level::Error { "error" } else { "warning" };
                println!("{} ({}) statement {}: {level}: {}", m.revision, m.label, f.statement, f.rule);
                println!("  {}", first_line(&m.statements[f.statement - 1]));
                println!("  {}", f.message);
                println!("  safer: {}", f.safer);
                if f.destructive {
                    println!("  destructive: drops or rewrites data");
                }
                println!();
            }
        }
        if errors + warnings == 0 {
            println!("no findings ({} migration(s), {statements} statement(s) checked)", report.migrations.len());
        } else {
            println!(
                "{errors} error(s), {warnings} warning(s) in {} migration(s), {statements} statement(s) checked",
                report.migrations.len()
            );
        }
    }
    if errors > 0 {
        return Err(Error::Migration(format!(
            "lint: {errors} error-level finding(s); see the safer forms above, or fix the migrations"
        )));
    }
    Ok(())
}

/// `strata migrate up|down --rehearse`: runs the plan in one transaction, reports it, rolls it back.
async fn rehearse_command(config: &Config, set: &MigrationSet, action: Action, args: &StepArgs) -> Result<()> {
    let conn = db::connect(&config.database_url, Purpose::Migrate).await?;
    migrate::check_owned(&conn, set).await?;
    let steps = steps_of(args, action);
    let r = migrate::rehearse(&conn, set, action, &steps, config.settings.lock_timeout).await;
    conn.close().await.ok();
    let r = r?;
    if args.out.json {
        print_json(&r)?;
    } else {
        println!(
            "rehearsed {} migration(s) in one transaction in {} ms, then rolled it back: nothing was kept",
            r.steps.len(),
            r.total_ms
        );
        for s in &r.steps {
            let outcome = if s.error.is_some() { "  FAILED" } else { "" };
            println!("{:<18} {:<40} {:>6} ms{outcome}", s.revision, s.label, s.duration_ms);
            for l in &s.locks {
                println!("    lock {} on {} {}", l.mode, l.kind, l.relation);
            }
            if let Some(e) = &s.error {
                println!("    {e}");
            }
        }
        if r.changes.is_empty() {
            println!("schema: no table, column or index would change");
        } else {
            println!("schema it would leave:");
            for c in &r.changes {
                let sign = match c.change {
                    "added" => '+',
                    "dropped" => '-',
                    _ => '~',
                };
                let what = if c.object == "table" { c.name.clone() } else { format!("{}.{}", c.table, c.name) };
                let detail = match (&c.before, &c.after) {
                    (Some(b), Some(a)) => format!(": {b} -> {a}"),
                    (None, Some(a)) => format!(": {a}"),
                    _ => String::new(),
                };
                println!("  {sign} {} {what}{detail}", c.object);
            }
        }
        if !r.bookkeeping_created.is_empty() {
            println!("a real run would also create strata's tables {}", r.bookkeeping_created.join(", "));
        }
        for (name, before, after) in &r.sequences_advanced {
            println!(
                "note: sequence {name} advanced from {before} to {after} (PostgreSQL does not roll sequences back)"
            );
        }
    }
    match &r.failed {
        Some(rev) => {
            Err(Error::Migration(format!("rehearsal: migration {rev} failed (see above); everything was rolled back")))
        }
        None => Ok(()),
    }
}

fn steps_of(args: &StepArgs, action: Action) -> Steps {
    steps_from(&args.to, args.steps, action)
}

fn steps_from(to: &Option<String>, steps: Option<u32>, action: Action) -> Steps {
    match (to, steps) {
        (Some(rev), _) => Steps::To(rev.clone()),
        (None, Some(n)) => Steps::Count(n),
        (None, None) if action == Action::Downgrade => Steps::Count(1),
        (None, None) => Steps::All,
    }
}

async fn run_locked(config: &Config, set: &MigrationSet, cmd: MigrateCommand) -> Result<()> {
    let conn = db::connect(&config.database_url, Purpose::Migrate).await?;
    // Before the --yes question and the lock: a database another project manages is refused at once.
    migrate::check_owned(&conn, set).await?;
    let json = match &cmd {
        MigrateCommand::Up(a) | MigrateCommand::Down(a) => a.out.json,
        MigrateCommand::Stamp { out, .. } => out.json,
        MigrateCommand::Fresh(c) | MigrateCommand::Refresh(c) | MigrateCommand::Reset(c) => c.out.json,
        _ => false,
    };
    let progress = |e: Event<'_>| match e {
        Event::Waiting(msg) => eprintln!("{msg} ..."),
        Event::Started { .. } => {}
        Event::Finished { action, entry, duration_ms } => {
            eprintln!("{:<10} {:<18} {:<40} {duration_ms:>6} ms", past(action), entry.revision, entry.label)
        }
        Event::Failed { action, entry, duration_ms, .. } => {
            eprintln!("{:<10} {:<18} {:<40} {duration_ms:>6} ms  FAILED", action.as_str(), entry.revision, entry.label)
        }
    };
    let runner = Runner::new(&conn, set, actor(), config.settings.lock_timeout, &progress);
    let destructive = |c: &Confirm, what: &str| {
        if c.yes {
            Ok(())
        } else {
            Err(Error::Migration(format!(
                "`strata migrate {what}` destroys data in {}; nothing was done. Run it again with --yes if you mean it",
                config.database_url
            )))
        }
    };
    let steps = match cmd {
        MigrateCommand::Up(a) => runner.up(&steps_of(&a, Action::Upgrade), a.retry_failed).await?,
        MigrateCommand::Down(a) => runner.down(&steps_of(&a, Action::Downgrade), a.retry_failed).await?,
        MigrateCommand::Stamp { revision, .. } => runner.stamp(&revision).await?,
        MigrateCommand::Fresh(c) => {
            destructive(&c, "fresh")?;
            runner.fresh().await?
        }
        MigrateCommand::Refresh(c) => {
            destructive(&c, "refresh")?;
            runner.refresh().await?
        }
        MigrateCommand::Reset(c) => {
            destructive(&c, "reset")?;
            runner.reset().await?
        }
        _ => unreachable!("read-only commands are handled by migrate_command"),
    };
    let head = migrate::current(&conn).await?;
    conn.close().await.ok();
    if json {
        return print_json(&serde_json::json!({ "steps": steps, "current": head.as_deref().unwrap_or("base") }));
    }
    summary(&steps, head.as_deref());
    Ok(())
}

async fn restore_command(config: &Config, set: &MigrationSet, args: RestoreArgs) -> Result<()> {
    // An off-site copy is downloaded into a temporary folder, removed after the restore.
    let mut downloaded = None;
    let file = match (args.file, &args.from_offsite) {
        (Some(file), _) => file,
        (None, Some(name)) => {
            let (progress, done) = progress_line("downloaded", args.progress);
            let got = backup_cmd::download(config, name, progress).await;
            done();
            let (dir, file) = got?;
            downloaded = Some(dir);
            file
        }
        (None, None) => backup_cmd::latest(config)?,
    };
    let identity = args.identity.as_deref().map(backup::encrypt::Identities::read).transpose()?;
    let opts = RestoreOptions { file, clean: args.clean, grant_to: args.grant_to, identity };
    let url = &config.database_url;
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(Error::BadRequest(format!(
            "`strata restore` overwrites {url} and there is no terminal to confirm on; nothing was restored. \
             Run it again with --yes if you mean it"
        )));
    }
    let clean = opts.clean;
    let confirm = (!args.yes).then_some(move |p: &Preview| confirm_restore(p, url, clean));
    let (progress, done) = progress_line("read", args.progress);
    let summary = backup::restore(config, &opts, confirm, progress).await;
    done();
    drop(downloaded);
    let summary = summary?;
    let report = backup::verify(config, set).await?;
    if args.out.json {
        return print_json(&serde_json::json!({ "restore": summary, "verify": report }));
    }
    println!(
        "restored  {} ({}) in {}",
        backup::shown(&summary.file),
        summary.content,
        backup::human_duration(std::time::Duration::from_millis(summary.duration_ms as u64))
    );
    if let Some(how) = &summary.cleaned {
        println!("cleaned   {how}");
    }
    if let Some(what) = &summary.granted {
        println!("granted   {what}");
    }
    if let Some(what) = &summary.access_lost {
        println!("warning   {what}");
    }
    println!();
    print_report(&report);
    Ok(())
}

async fn maintenance_command(config: &Config, args: MaintenanceArgs) -> Result<()> {
    let url = &config.database_url;
    if args.action == "list" {
        let offers = maintenance::offers(url);
        if args.out.json {
            return print_json(&offers);
        }
        println!("maintenance on {} ({url}):", url.backend());
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        print_table(
            &["ACTION", "DATABASE", "TABLE", "WHAT IT DOES"],
            offers
                .iter()
                .map(|a| match (&a.offer, a.missing) {
                    (Some(o), _) => vec![
                        a.action.name().to_string(),
                        yes_no(o.per_database),
                        yes_no(o.per_table),
                        match o.locks {
                            Some(locks) => format!("{} (asks first: {locks})", o.does),
                            None => o.does.to_string(),
                        },
                    ],
                    (None, why) => vec![
                        a.action.name().to_string(),
                        "-".into(),
                        "-".into(),
                        format!("not available: {}", why.unwrap_or_default()),
                    ],
                })
                .collect(),
        );
        return Ok(());
    }
    let action: MaintenanceAction = args.action.parse()?;
    let default_schema = maintenance::default_schema(url);
    let named = args.table.as_deref().map(|t| maintenance::split_table_name(t, &default_schema));
    let wanted = match named {
        Some((schema, name)) => Target::Table { schema: schema.into(), name: name.into() },
        None => Target::Database,
    };
    // Refusals come before connecting: an action this backend lacks, or a locking one without a terminal.
    let offer = maintenance::check(url, action, &wanted)?;
    let ask = offer.locks.filter(|_| !args.yes);
    if ask.is_some() && !std::io::stdin().is_terminal() {
        return Err(Error::Maintenance(format!(
            "{} on {wanted} {}; there is no terminal to confirm on, so nothing was done. \
             Run it again with --yes if you mean it",
            action.label(),
            offer.locks.unwrap_or_default()
        )));
    }
    let conn = db::connect(url, Purpose::Cli).await?;
    let target = match named {
        Some((schema, name)) => {
            let introspector = crate::db::introspect::for_connection(conn.clone())?;
            maintenance::table(introspector.as_ref(), schema, name).await?
        }
        None => Target::Database,
    };
    if let Some(locks) = ask {
        eprint!("{} on {target} {locks}. Go on? [y/N] ", action.label());
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map_err(|e| Error::io("reading the confirmation", e))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            return Err(Error::Maintenance(format!("not confirmed; {} was not run", action.label())));
        }
    }
    eprintln!("{} on {target} ...", action.label());
    let outcome = maintenance::run(url, &config.settings, action, &target, &maintenance::Tracker::default()).await;
    let mut entry = audit::Entry::new(action.audit_action()).target(target.to_string()).client("cli");
    entry.actor = actor();
    if let Some(name) = config.current_name() {
        entry = entry.database(name);
    }
    conn.close().await.ok();
    let recorded = async {
        let home = home(config).await?;
        audit::record(&home, entry.detail(maintenance::audit_detail(&outcome))).await
    };
    if let Err(e) = recorded.await {
        eprintln!("warning: the audit log in the home database could not record this ({e})");
    }
    let outcome = outcome?;
    if args.out.json {
        print_json(&serde_json::json!({ "action": action, "target": target, "outcome": outcome }))?;
    } else {
        if !outcome.rows.is_empty() {
            let headers: Vec<&str> = outcome.columns.iter().map(String::as_str).collect();
            print_table(&headers, outcome.rows.clone());
            println!();
        }
        println!(
            "{} ({})",
            outcome.summary,
            backup::human_duration(std::time::Duration::from_millis(outcome.duration_ms as u64))
        );
    }
    if outcome.healthy {
        Ok(())
    } else {
        Err(Error::Maintenance(format!("{} found problems on {target}: {}", action.label(), outcome.summary)))
    }
}

/// Shows what a restore overwrites and asks for the database name to be typed.
fn confirm_restore(p: &Preview, url: &crate::config::DatabaseUrl, clean: bool) -> Result<()> {
    eprintln!("About to restore {} ({}) over {url}.", backup::shown(&p.input.path), p.input.content.describe());
    if p.tables.is_empty() {
        eprintln!("The database has no tables yet.");
    } else {
        let what = if clean { "dropped first (--clean)" } else { "overwritten where the backup has them" };
        eprintln!("These tables and their rows are {what}:");
        for t in &p.tables {
            eprintln!("  {:<40} {:>12} rows", format!("{}.{}", t.schema, t.name), t.rows);
        }
    }
    eprint!("Type the database name ({}) to go on: ", p.database);
    std::io::stderr().flush().ok();
    let mut typed = String::new();
    std::io::stdin().read_line(&mut typed).map_err(|e| Error::io("reading the confirmation", e))?;
    if typed.trim() != p.database {
        return Err(Error::BadRequest(format!("{:?} is not {:?}; nothing was restored", typed.trim(), p.database)));
    }
    Ok(())
}

/// A progress callback that redraws one stderr line (bytes, rate, elapsed) at most five times a second when stderr
/// is a terminal (or `forced`: `--progress`, one line each time, for logs), and a function that ends the line.
fn progress_line(verb: &'static str, forced: bool) -> (Progress, impl FnOnce()) {
    let tty = std::io::stderr().is_terminal();
    let (show, redraw) = (tty || forced, tty);
    let started = std::time::Instant::now();
    let last = std::sync::Mutex::new(None::<std::time::Instant>);
    let drawn = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = drawn.clone();
    let progress: Progress = std::sync::Arc::new(move |bytes: u64| {
        if !show {
            return;
        }
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let every = if redraw { 200 } else { 1000 };
        if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(every)) {
            return;
        }
        *last = Some(std::time::Instant::now());
        flag.store(redraw, std::sync::atomic::Ordering::Relaxed);
        let line = progress_text(bytes, verb, started.elapsed());
        if redraw {
            eprint!("\r{line}    ");
        } else {
            eprintln!("{line}");
        }
    });
    let done = move || {
        if drawn.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!();
        }
    };
    (progress, done)
}

/// `12.5 MB written, 4.1 MB/s, 3.0 s`.
fn progress_text(bytes: u64, verb: &str, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { (bytes as f64 / secs) as i64 } else { 0 };
    format!(
        "{} {verb}, {}/s, {}",
        crate::web::fmt::bytes_of(&(bytes as i64)),
        crate::web::fmt::bytes_of(&rate),
        backup::human_duration(elapsed)
    )
}

fn print_report(r: &Report) {
    println!("database       {}", r.database);
    print_table(
        &["TABLE", "ROWS"],
        r.tables.iter().map(|t| vec![format!("{}.{}", t.schema, t.name), t.rows.to_string()]).collect(),
    );
    println!("foreign keys   {}", r.foreign_keys);
    println!("indexes        {}", r.indexes);
    println!("alembic head   {}", r.alembic_head.as_deref().unwrap_or("base"));
    println!("migrator head  {}", r.migrator_head.as_deref().unwrap_or("base"));
    if r.pending.is_empty() {
        println!("pending        none");
    } else {
        println!("pending        {} (run `strata migrate up`)", r.pending.join(", "));
    }
    if !r.unknown.is_empty() {
        println!("unknown        {} (applied, but not in this build of Strata)", r.unknown.join(", "));
    }
    for (check, verdict) in &r.checks {
        println!("{check:<14} {verdict}");
    }
}

/// GETs /healthz from the address `serve` listens on (0.0.0.0 is asked on loopback).
async fn healthcheck(listen: std::net::SocketAddr) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let check = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await?;
        Ok::<bool, std::io::Error>(head.ends_with(b"200"))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), check).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(unhealthy(addr, "it did not answer 200".into())),
        Ok(Err(e)) => Err(unhealthy(addr, e.to_string())),
        Err(_) => Err(unhealthy(addr, "no answer within 3 s".into())),
    }
}

fn unhealthy(addr: std::net::SocketAddr, reason: String) -> Error {
    Error::Connect { url: format!("http://{addr}/healthz"), reason }
}

fn summary(steps: &[StepReport], head: Option<&str>) {
    if steps.is_empty() {
        println!("nothing to do; head is {}", head.unwrap_or("base"));
    } else {
        let total: i64 = steps.iter().map(|s| s.duration_ms).sum();
        println!("{} migration(s) in {total} ms; head is now {}", steps.len(), head.unwrap_or("base"));
    }
}

fn past(action: Action) -> &'static str {
    match action {
        Action::Upgrade => "upgraded",
        Action::Downgrade => "downgraded",
        Action::Stamp => "stamped",
    }
}

pub use crate::migrate::actor;

fn read_password(from_stdin: bool) -> Result<String> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Error::io("reading the password from stdin", e))?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ").map_err(|e| Error::io("reading the password", e))?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| Error::io("reading the password", e))?;
        if first != again {
            return Err(Error::BadRequest("the two passwords differ".into()));
        }
        first
    };
    Ok(password)
}

/// `strata migrations`: what each database's Migrations page shows, and exit 1 when a deploy should stop.
async fn migrations_command(
    config: &Config,
    set: &MigrationSet,
    only: Option<&str>,
    args: MigrationsArgs,
) -> Result<()> {
    use crate::watch::schema_history;
    #[derive(serde::Serialize)]
    struct One {
        database: String,
        tools: Vec<schema_history::ToolHistory>,
        notes: Vec<String>,
    }
    let specs: Vec<&crate::config::WatchSpec> =
        config.watched.iter().filter(|s| only.is_none_or(|n| s.name == n)).collect();
    let mut all = Vec::new();
    let mut failing = Vec::new();
    for spec in specs {
        let db =
            crate::db::connect(&spec.url, crate::db::Purpose::Watch { idle: config.settings.idle_timeout }).await?;
        let read = schema_history::read(&db, spec, spec.project.then_some(set)).await;
        db.close().await.ok();
        let m = read?;
        if m.fails(args.fail_on_pending) {
            failing.push(format!("{} ({})", spec.name, m.summary()));
        }
        all.push(One { database: spec.name.clone(), tools: m.tools, notes: m.notes });
    }
    if args.out.json {
        match (only, all.first()) {
            (Some(_), Some(one)) => print_json(one)?,
            _ => print_json(&all)?,
        }
    } else {
        for one in &all {
            print_migrations(&one.database, &one.tools, &one.notes);
        }
    }
    if failing.is_empty() {
        return Ok(());
    }
    Err(Error::Migration(format!(
        "migration {} in {}",
        if args.fail_on_pending { "problems or pending migrations" } else { "problems" },
        failing.join(", ")
    )))
}

fn print_migrations(database: &str, tools: &[crate::watch::schema_history::ToolHistory], notes: &[String]) {
    println!("{database}");
    if tools.is_empty() {
        println!("  no migration tool found");
    }
    for t in tools {
        println!("  {}  {}  {}", t.tool, t.qualified_table(), t.summary());
        println!("    concluded: {}", t.reason);
        println!(
            "    current: {}  history rows: {}  pending: {}",
            t.current.as_deref().unwrap_or("-"),
            t.applied_total,
            if t.files_dir.is_some() { t.pending.len().to_string() } else { "unknown (no migrations_dir)".into() }
        );
        for p in &t.pending {
            let late = if p.out_of_order { "  (out of order)" } else { "" };
            println!("    pending  {}  {}{late}", p.version, p.path.as_deref().unwrap_or(""));
        }
        for p in &t.problems {
            println!("    {}  {}: {}", p.kind.as_str(), p.migration.as_deref().unwrap_or("-"), p.message);
        }
    }
    for n in notes {
        println!("  note: {n}");
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Error::io("writing to stdout", e))
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 80 { format!("{}…", line.chars().take(79).collect::<String>()) } else { line.into() }
}

/// Prints rows under headers, columns padded to their widest cell.
fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let text: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    let empty = rows.is_empty();
    for row in rows {
        line(row);
    }
    if empty {
        println!("(none)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_defaults_to_one_step_and_up_to_all() {
        let cli = Cli::try_parse_from(["strata", "migrate", "down"]).unwrap();
        let Command::Migrate(MigrateCommand::Down(a)) = cli.command else { panic!() };
        assert_eq!(steps_of(&a, Action::Downgrade), Steps::Count(1));
        let cli = Cli::try_parse_from(["strata", "migrate", "up"]).unwrap();
        let Command::Migrate(MigrateCommand::Up(a)) = cli.command else { panic!() };
        assert_eq!(steps_of(&a, Action::Upgrade), Steps::All);
    }

    #[test]
    fn steps_and_to_cannot_be_combined() {
        assert!(Cli::try_parse_from(["strata", "migrate", "up", "-n", "2", "--to", "x"]).is_err());
    }
}
