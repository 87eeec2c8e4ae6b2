//! Every migration tool's history in a watched database: which tools left their version tables there
//! ([`detect`]), each tool's applied migrations and troubles as its users read them ([`readers`]), the project
//! folder's pending and changed files ([`files`]), and the summary the overview, fleet page, CLI and metrics show.
//!
//! Strata only reads here: no statement creates, alters or writes anything in the watched database.

pub mod alembic;
pub mod detect;
pub mod files;
pub mod matrix;
pub mod readers;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use utoipa::ToSchema;

use super::Watched;
use crate::config::WatchSpec;
use crate::error::Result;
use crate::migrate::MigrationSet;

/// A migration tool whose version table Strata recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Alembic,
    Flyway,
    GolangMigrate,
    Dbmate,
    Rails,
    Prisma,
    Diesel,
    Seaorm,
    Django,
    Goose,
    Knex,
    Liquibase,
    Typeorm,
    Sequelize,
    Strata,
}

impl Tool {
    /// Every tool, in the order the pages list them.
    pub const ALL: [Tool; 15] = [
        Tool::Strata,
        Tool::Alembic,
        Tool::Flyway,
        Tool::GolangMigrate,
        Tool::Dbmate,
        Tool::Rails,
        Tool::Prisma,
        Tool::Diesel,
        Tool::Seaorm,
        Tool::Django,
        Tool::Goose,
        Tool::Knex,
        Tool::Liquibase,
        Tool::Typeorm,
        Tool::Sequelize,
    ];

    /// The name in JSON, metrics labels and `strata migrations` (`golang-migrate`, `seaorm`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Alembic => "alembic",
            Tool::Flyway => "flyway",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Dbmate => "dbmate",
            Tool::Rails => "rails",
            Tool::Prisma => "prisma",
            Tool::Diesel => "diesel",
            Tool::Seaorm => "seaorm",
            Tool::Django => "django",
            Tool::Goose => "goose",
            Tool::Knex => "knex",
            Tool::Liquibase => "liquibase",
            Tool::Typeorm => "typeorm",
            Tool::Sequelize => "sequelize",
            Tool::Strata => "strata",
        }
    }

    /// The name as the tool's users write it.
    pub fn label(self) -> &'static str {
        match self {
            Tool::Alembic => "Alembic",
            Tool::Flyway => "Flyway",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Dbmate => "dbmate",
            Tool::Rails => "Rails (Active Record)",
            Tool::Prisma => "Prisma Migrate",
            Tool::Diesel => "Diesel",
            Tool::Seaorm => "SeaORM",
            Tool::Django => "Django",
            Tool::Goose => "goose",
            Tool::Knex => "Knex",
            Tool::Liquibase => "Liquibase",
            Tool::Typeorm => "TypeORM",
            Tool::Sequelize => "Sequelize",
            Tool::Strata => "Strata's migrator",
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tool's migration history in one schema of a watched database.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ToolHistory {
    pub tool: Tool,
    /// The schema holding its version table (PostgreSQL schema, MariaDB database, SQLite `main` or an attached
    /// name); `None` when the tool has no table yet and only its files were found.
    pub schema: Option<String>,
    /// Its version table (`flyway_schema_history`, `schema_migrations`, ...).
    pub version_table: String,
    /// What was concluded from the catalog, and why (which columns and companion tables).
    pub reason: String,
    /// The version the database is at, as the tool reports it (`None` at base or when unknown).
    pub current: Option<String>,
    /// Every version the database is at: several only for an Alembic database on more than one head.
    pub heads: Vec<String>,
    /// Applied migrations (failed and rolled-back attempts included), oldest first; the newest
    /// [`HISTORY_LIMIT`] rows only.
    pub applied: Vec<Applied>,
    /// How many history rows the version table holds (more than `applied.len()` when capped).
    pub applied_total: i64,
    /// Files in the project folder not applied yet, oldest first (empty when no folder is configured).
    pub pending: Vec<Pending>,
    /// Troubles, each with what to do.
    pub problems: Vec<Problem>,
    /// The project folder the files were read from, when one is configured.
    pub files_dir: Option<String>,
}

/// How many history rows a reader takes per tool (the newest); the total is counted.
pub const HISTORY_LIMIT: u64 = 1000;

/// One applied (or attempted) migration.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Applied {
    /// The version or revision as the tool names it (`20240301120000`, `V1.2`, `auth.0001_initial`, ...).
    pub version: String,
    pub name: Option<String>,
    pub applied_at: Option<DateTime<Utc>>,
    /// The database or OS user the tool recorded.
    pub applied_by: Option<String>,
    pub duration_ms: Option<i64>,
    /// The checksum the tool recorded when it applied the file.
    pub checksum: Option<String>,
    /// Whether the tool recorded success (`None` when it records no outcome).
    pub success: Option<bool>,
    pub state: AppliedState,
    /// The tool's log or error text (Prisma's `logs`, Strata's error).
    pub logs: Option<String>,
    /// What else the tool records (Flyway's type, Liquibase's author and exec type, Prisma's applied steps).
    pub detail: Option<String>,
}

/// The state of a history row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppliedState {
    Applied,
    Failed,
    RolledBack,
    Dirty,
    Running,
}

impl AppliedState {
    pub fn as_str(self) -> &'static str {
        match self {
            AppliedState::Applied => "applied",
            AppliedState::Failed => "failed",
            AppliedState::RolledBack => "rolled_back",
            AppliedState::Dirty => "dirty",
            AppliedState::Running => "running",
        }
    }
}

/// A migration file not applied yet.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Pending {
    pub version: String,
    pub name: Option<String>,
    /// The file, relative to the project folder.
    pub path: Option<String>,
    /// Older than the newest applied migration: the tool may skip it or refuse to run.
    pub out_of_order: bool,
}

/// A trouble and what to do about it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The migration it is about, when it is about one.
    pub migration: Option<String>,
    /// What happened and what to do.
    pub message: String,
}

/// The kinds of trouble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    Failed,
    RolledBack,
    Dirty,
    ChecksumMismatch,
    OutOfOrder,
    MissingScript,
    MultipleHeads,
    LockHeld,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Failed => "failed",
            ProblemKind::RolledBack => "rolled_back",
            ProblemKind::Dirty => "dirty",
            ProblemKind::ChecksumMismatch => "checksum_mismatch",
            ProblemKind::OutOfOrder => "out_of_order",
            ProblemKind::MissingScript => "missing_script",
            ProblemKind::MultipleHeads => "multiple_heads",
            ProblemKind::LockHeld => "lock_held",
        }
    }

    /// Whether it stops a deploy (`strata migrations` exits 1): failed, dirty, checksum mismatch, missing script,
    /// multiple heads. A rolled-back attempt, an out-of-order file and a held lock are shown but do not.
    pub fn blocks(self) -> bool {
        matches!(
            self,
            ProblemKind::Failed
                | ProblemKind::Dirty
                | ProblemKind::ChecksumMismatch
                | ProblemKind::MissingScript
                | ProblemKind::MultipleHeads
        )
    }
}

impl Problem {
    pub fn new(kind: ProblemKind, migration: Option<&str>, message: impl Into<String>) -> Problem {
        Problem { kind, migration: migration.map(str::to_string), message: message.into() }
    }
}

impl ToolHistory {
    /// A history with nothing read yet.
    pub fn new(tool: Tool, schema: Option<String>, version_table: &str, reason: String) -> ToolHistory {
        ToolHistory {
            tool,
            schema,
            version_table: version_table.to_string(),
            reason,
            current: None,
            heads: Vec::new(),
            applied: Vec::new(),
            applied_total: 0,
            pending: Vec::new(),
            problems: Vec::new(),
            files_dir: None,
        }
    }

    /// The version table as SQL would name it to a person: `schema.table`.
    pub fn qualified_table(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.version_table),
            None => self.version_table.clone(),
        }
    }

    /// Problems that stop a deploy.
    pub fn blocking(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.kind.blocks())
    }

    /// The state in a few words, as the overview and fleet page show it: "failed: X", "dirty at 5",
    /// "2 pending", "current at V" — never "current" when it is not.
    pub fn summary(&self) -> String {
        let first = |kind: ProblemKind| self.problems.iter().find(|p| p.kind == kind);
        if let Some(p) = first(ProblemKind::Dirty) {
            return format!("dirty at {}", p.migration.as_deref().unwrap_or("?"));
        }
        if let Some(p) = first(ProblemKind::Failed) {
            return format!("failed: {}", p.migration.as_deref().unwrap_or("?"));
        }
        if first(ProblemKind::MultipleHeads).is_some() {
            return format!("multiple heads: {}", self.heads.join(", "));
        }
        if let Some(p) = first(ProblemKind::MissingScript) {
            return format!("missing script: {}", p.migration.as_deref().unwrap_or("?"));
        }
        if let Some(p) = first(ProblemKind::ChecksumMismatch) {
            return format!("changed after applied: {}", p.migration.as_deref().unwrap_or("?"));
        }
        if !self.pending.is_empty() {
            return format!("{} pending", self.pending.len());
        }
        match (&self.current, &self.files_dir) {
            (Some(v), Some(_)) => format!("current at {v}"),
            (Some(v), None) => format!("at {v}"),
            (None, _) => "nothing applied".into(),
        }
    }
}

/// Everything read for one watched database.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct Migrations {
    /// Every tool found, in [`Tool::ALL`] order.
    pub tools: Vec<ToolHistory>,
    /// What the reading could not cover (a MariaDB server's other databases, a folder that cannot be read).
    pub notes: Vec<String>,
}

impl Migrations {
    /// Whether anything stops a deploy; with `pending_too`, whether anything is pending as well.
    pub fn fails(&self, pending_too: bool) -> bool {
        self.tools.iter().any(|t| t.blocking().next().is_some() || (pending_too && !t.pending.is_empty()))
    }

    /// One line for the overview and fleet page: each tool's summary, "no migration tool found" when none.
    pub fn summary(&self) -> String {
        if self.tools.is_empty() {
            return "no migration tool found".into();
        }
        self.tools.iter().map(|t| format!("{}: {}", t.tool, t.summary())).collect::<Vec<_>>().join("; ")
    }

    /// Whether any tool has a problem or pending files (the summary is then shown as a warning).
    pub fn troubled(&self) -> bool {
        self.tools.iter().any(|t| !t.problems.is_empty() || !t.pending.is_empty())
    }
}

/// Reads every tool's history in `db`, with the files of `spec`'s `migrations_dir` (and `alembic_ini`). `set` is this
/// build's migrations, passed for the project database (Strata's own migrator).
pub async fn read(db: &DatabaseConnection, spec: &WatchSpec, set: Option<&MigrationSet>) -> Result<Migrations> {
    let detection = detect::detect(db).await?;
    let mut out = Migrations { tools: Vec::new(), notes: detection.notes };
    for found in &detection.found {
        match readers::read(db, found, set).await {
            Ok(h) => out.tools.push(h),
            Err(e) if e.is_unreachable() => return Err(e),
            Err(e) => out.notes.push(format!("{} in {}: cannot read it: {e}", found.tool.label(), found.table.schema)),
        }
    }
    let alembic_dir = spec.migrations_dir.as_deref().filter(|d| is_alembic_dir(d));
    if let Some(dir) = spec.migrations_dir.as_deref().filter(|_| alembic_dir.is_none()) {
        add_files(&mut out, dir);
    }
    if spec.alembic_ini.is_some() || alembic_dir.is_some() {
        add_alembic_scripts(&mut out, spec.alembic_ini.as_deref(), alembic_dir);
    } else if out.tools.iter().any(|t| t.tool == Tool::Alembic) {
        out.notes.push(
            "alembic_version is read, but no alembic_ini is configured for this database: pending revisions and \
             the revision graph need alembic_ini = PATH in its [database:NAME] section."
                .into(),
        );
    }
    Ok(out)
}

/// Whether a `migrations_dir` is an Alembic script folder (`versions/` or `env.py` in it).
fn is_alembic_dir(dir: &Path) -> bool {
    dir.join("versions").is_dir() || dir.join("env.py").is_file()
}

/// Adds the Alembic project's view (the revision graph from `alembic_ini`'s `script_location`, or the script
/// folder given as `migrations_dir`) to the Alembic history: applied revisions with their messages, pending ones,
/// missing scripts, multiple heads. A database without `alembic_version` yet gets one with everything pending.
fn add_alembic_scripts(out: &mut Migrations, ini: Option<&Path>, dir: Option<&Path>) {
    let loaded = match (ini, dir) {
        (Some(ini), _) => alembic::Scripts::from_ini(ini).map_err(|e| format!("alembic_ini {}: {e}", ini.display())),
        (None, Some(dir)) => {
            alembic::Scripts::from_dir(dir).map_err(|e| format!("migrations_dir {}: {e}", dir.display()))
        }
        (None, None) => return,
    };
    let scripts = match loaded {
        Ok(s) => s,
        Err(e) => {
            out.notes.push(format!("cannot read the Alembic scripts of {e}"));
            return;
        }
    };
    if !out.tools.iter().any(|t| t.tool == Tool::Alembic) {
        out.tools.push(ToolHistory::new(
            Tool::Alembic,
            None,
            "alembic_version",
            format!(
                "no alembic_version yet, and {} holds Alembic revisions: nothing is applied",
                scripts.dir.display()
            ),
        ));
    }
    for h in out.tools.iter_mut().filter(|t| t.tool == Tool::Alembic) {
        alembic::annotate(h, &scripts);
        h.files_dir = Some(scripts.dir.display().to_string());
    }
}

/// Compares `dir`'s files with each tool that has files there; a tool whose table does not exist yet but whose
/// files are there is listed with everything pending.
fn add_files(out: &mut Migrations, dir: &Path) {
    if !dir.is_dir() {
        out.notes.push(format!("migrations_dir {} is not a folder Strata can read.", dir.display()));
        return;
    }
    let mut matched = false;
    for h in out.tools.iter_mut().filter(|t| !matches!(t.tool, Tool::Alembic | Tool::Strata | Tool::Django)) {
        match files::scan(h.tool, dir) {
            Ok(list) if !list.is_empty() => {
                files::compare(h, dir, list);
                matched = true;
            }
            Ok(_) => {}
            Err(e) => out.notes.push(format!("cannot read migrations_dir {}: {e}", dir.display())),
        }
    }
    if matched || out.tools.iter().any(|t| t.tool == Tool::Alembic) {
        return;
    }
    match files::infer(dir) {
        Some(tool) => {
            let mut h = ToolHistory::new(
                tool,
                None,
                default_table(tool),
                format!(
                    "no version table yet, and the files in {} are {}'s: nothing is applied",
                    dir.display(),
                    tool.label()
                ),
            );
            if let Ok(list) = files::scan(tool, dir) {
                files::compare(&mut h, dir, list);
            }
            out.tools.push(h);
        }
        None => out.notes.push(format!("no migration files Strata recognises in migrations_dir {}.", dir.display())),
    }
}

/// The version table a tool creates by default.
pub fn default_table(tool: Tool) -> &'static str {
    match tool {
        Tool::Alembic => "alembic_version",
        Tool::Flyway => "flyway_schema_history",
        Tool::GolangMigrate | Tool::Dbmate | Tool::Rails => "schema_migrations",
        Tool::Prisma => "_prisma_migrations",
        Tool::Diesel => "__diesel_schema_migrations",
        Tool::Seaorm | Tool::Strata => "seaql_migrations",
        Tool::Django => "django_migrations",
        Tool::Goose => "goose_db_version",
        Tool::Knex => "knex_migrations",
        Tool::Liquibase => "DATABASECHANGELOG",
        Tool::Typeorm => "migrations",
        Tool::Sequelize => "SequelizeMeta",
    }
}

/// How long the fleet page, overview and metrics reuse a reading.
pub const CACHE_TTL: Duration = Duration::from_secs(10);

/// The last reading of one database, shared by the fleet page, the overview and the metrics.
#[derive(Default)]
pub struct Cache {
    slot: tokio::sync::Mutex<Option<(Arc<Migrations>, Instant)>>,
}

/// Reads `w`'s migrations under `catalog_timeout`: a kept reading younger than [`CACHE_TTL`] unless `fresh` (the
/// migrations page, the API and the CLI read anew, and keep what they read for the others). `Ok(None)` when the
/// database did not answer in time.
pub async fn of(w: &Watched, set: &MigrationSet, limit: Duration, fresh: bool) -> Result<Option<Arc<Migrations>>> {
    let mut slot = w.schema_history.slot.lock().await;
    if !fresh && let Some((m, at)) = slot.as_ref().filter(|(_, at)| at.elapsed() < CACHE_TTL) {
        let _ = at;
        return Ok(Some(m.clone()));
    }
    let set = w.spec.project.then_some(set);
    let Some(m) = super::catalog::read(limit, read(&w.db, &w.spec, set)).await? else { return Ok(None) };
    let m = Arc::new(m);
    *slot = Some((m.clone(), Instant::now()));
    Ok(Some(m))
}

/// The kept reading, if any (never reads: for callers that must not wait).
pub fn kept(w: &Watched) -> Option<Arc<Migrations>> {
    w.schema_history.slot.try_lock().ok().and_then(|s| s.as_ref().map(|(m, _)| m.clone()))
}
