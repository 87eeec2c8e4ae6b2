//! Every migration tool's history in a watched database: which tools left their version tables there
//! ([`detect`]), each tool's applied migrations and troubles as its users read them ([`readers`]), the project
//! folder's pending and changed files ([`files`]), and the summary the overview, fleet page, CLI and metrics show.
//!
//! Strata only reads here: no statement creates, alters or writes anything in the watched database.

pub mod alembic;
pub mod detect;
pub mod files;
pub mod readers;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

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
