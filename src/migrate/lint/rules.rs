//! The rules: each statement's shape, the tables the plan created before it and the catalog's row estimates
//! decide what is reported.

use std::collections::HashSet;

use sea_orm::DbBackend;

use super::parse::{Default, Op, Shape, shape};
use super::{Finding, Level, ROWS_THRESHOLD, TableFacts};

/// Lints migration after migration, remembering what earlier ones created.
pub struct Linter<'f> {
    backend: DbBackend,
    facts: &'f TableFacts,
    /// Tables created earlier in the plan: empty when the next statement runs, so locks on them cost nothing.
    created: HashSet<String>,
    /// Tables whose constraint was validated earlier in the plan (a later `SET NOT NULL` can use the check).
    validated: HashSet<String>,
    /// Existing tables dropped to be replaced by a copy renamed to their name later in the same migration.
    rebuilding: HashSet<String>,
}

impl<'f> Linter<'f> {
    pub fn new(backend: DbBackend, facts: &'f TableFacts) -> Self {
        Linter { backend, facts, created: HashSet::new(), validated: HashSet::new(), rebuilding: HashSet::new() }
    }

    /// The findings of one migration's statements (numbered from 1 in the findings).
    pub fn migration(&mut self, revision: &str, statements: &[String]) -> Vec<Finding> {
        let shapes: Vec<Shape> = statements.iter().map(|s| shape(s, self.backend)).collect();
        let mut m = Migration { l: self, revision, out: Vec::new(), lock_timeout: false, timeout_told: false };
        for (i, s) in shapes.iter().enumerate() {
            m.statement(i, &statements[i], s, &shapes[i + 1..]);
        }
        m.out
    }
}

/// One migration's pass.
struct Migration<'l, 'f> {
    l: &'l mut Linter<'f>,
    revision: &'l str,
    out: Vec<Finding>,
    /// A `SET lock_timeout` ran earlier in this migration.
    lock_timeout: bool,
    timeout_told: bool,
}

impl Migration<'_, '_> {
    fn report(
        &mut self,
        i: usize,
        rule: &'static str,
        level: Level,
        destructive: bool,
        message: String,
        safer: String,
    ) {
        self.out.push(Finding {
            migration: self.revision.to_string(),
            statement: i + 1,
            rule,
            level,
            message,
            safer,
            destructive,
        });
    }

    fn fresh(&self, table: &str) -> bool {
        self.l.created.contains(table)
    }

    fn pg(&self) -> bool {
        self.l.backend == DbBackend::Postgres
    }

    /// The estimate, said for a message, and the level a lock for the table's whole scan deserves.
    fn size(&self, table: &str) -> (String, Level) {
        match self.l.facts.rows(table) {
            Some(n) if n > ROWS_THRESHOLD => (format!("about {n} rows"), Level::Error),
            Some(n) => (format!("about {n} rows"), Level::Warning),
            None => ("rows unknown: no estimate in the catalog, run ANALYZE".into(), Level::Warning),
        }
    }

    /// PostgreSQL DDL that takes a strong lock on an existing table should be bounded by `lock_timeout`, or it
    /// queues behind a long transaction and every query on the table queues behind it.
    fn needs_timeout(&mut self, i: usize, table: &str) {
        if !self.pg() || self.lock_timeout || self.timeout_told || self.fresh(table) {
            return;
        }
        self.timeout_told = true;
        self.report(
            i,
            "require-lock-timeout",
            Level::Warning,
            false,
            format!(
                "this statement locks {table:?} with no lock_timeout set before it: if a long transaction holds \
                 the table, it waits, and every query on {table:?} waits behind it"
            ),
            "SET LOCAL lock_timeout = '5s'; as the migration's first statement (retry the migration if it times out)"
                .into(),
        );
    }

    fn statement(&mut self, i: usize, sql: &str, s: &Shape, later: &[Shape]) {
        match s {
            Shape::CreateTable { table } => {
                self.l.created.insert(table.clone());
            }
            Shape::SetLockTimeout => self.lock_timeout = true,
            Shape::CreateIndex { table, concurrently, online, at } => {
                self.create_index(i, sql, table, *concurrently, *online, *at)
            }
            Shape::DropTable { tables } => {
                for t in tables {
                    // `DROP TABLE t` followed by `ALTER TABLE t_new RENAME TO t` is a rebuild, reported on the rename.
                    let rebuilt = later.iter().any(|l| renames_to(l, t));
                    if rebuilt && !self.fresh(t) {
                        self.l.rebuilding.insert(t.clone());
                    }
                    if !self.fresh(t) && !rebuilt {
                        self.needs_timeout(i, t);
                        self.report(
                            i,
                            "ban-drop-table",
                            Level::Error,
                            true,
                            format!("drops table {t:?} and all its rows ({}); code still reading it fails", self.size(t).0),
                            format!(
                                "stop using {t:?} in the application and deploy that first; keep a backup, then drop it \
                                 in a later migration"
                            ),
                        );
                    }
                    self.l.created.remove(t);
                }
            }
            Shape::RenameTables { pairs } => {
                for (from, to) in pairs {
                    self.rename_table(i, from, to);
                }
            }
            Shape::Alter { table, ops, online } => {
                let table = table.clone();
                for op in ops {
                    self.alter(i, &table, op);
                }
                let alters_existing = !self.fresh(&table) && ops.iter().any(|o| !matches!(o, Op::RenameTo { .. }));
                if self.l.backend == DbBackend::MySql && !online && alters_existing {
                    let instant = ops.iter().all(|o| matches!(o, Op::AddColumn { .. } | Op::RenameColumn { .. }));
                    let option = if instant { "ALGORITHM=INSTANT" } else { "ALGORITHM=INPLACE, LOCK=NONE" };
                    self.report(
                        i,
                        "alter-without-algorithm",
                        Level::Warning,
                        false,
                        format!(
                            "ALTER TABLE {table:?} names no ALGORITHM: where INSTANT or INPLACE is impossible the server \
                             silently copies the table ({}), blocking writes until it is done",
                            self.size(&table).0
                        ),
                        format!("{}, {option} (the server then refuses instead of copying)", sql.trim_end_matches(';')),
                    );
                }
            }
            Shape::Other => {}
        }
    }

    fn create_index(&mut self, i: usize, sql: &str, table: &str, concurrently: bool, online: bool, at: usize) {
        if self.fresh(table) {
            return;
        }
        match self.l.backend {
            DbBackend::Postgres if !concurrently => {
                self.needs_timeout(i, table);
                let (rows, level) = self.size(table);
                self.report(
                    i,
                    "require-concurrent-index-creation",
                    level,
                    false,
                    format!(
                        "CREATE INDEX without CONCURRENTLY blocks writes to {table:?} ({rows}) until the index is built"
                    ),
                    format!(
                        "{} CONCURRENTLY{} — in a migration of its own whose use_transaction() returns Some(false)",
                        &sql[..at],
                        &sql[at..]
                    ),
                );
            }
            DbBackend::MySql if !online => {
                let (rows, _) = self.size(table);
                self.report(
                    i,
                    "alter-without-algorithm",
                    Level::Warning,
                    false,
                    format!(
                        "CREATE INDEX on {table:?} ({rows}) names no ALGORITHM: where INPLACE is impossible the server \
                         copies the table, blocking writes"
                    ),
                    format!("{} ALGORITHM=INPLACE LOCK=NONE", sql.trim_end_matches(';')),
                );
            }
            _ => {}
        }
    }

    fn rename_table(&mut self, i: usize, from: &str, to: &str) {
        let fresh = self.fresh(from);
        let rebuild = fresh && self.l.rebuilding.remove(to);
        if rebuild {
            // `CREATE TABLE t_new; INSERT INTO t_new SELECT ... FROM t; DROP TABLE t; ALTER TABLE t_new RENAME TO t`
            let (rows, level) = self.size(to);
            self.report(
                i,
                "rebuilding-table",
                level,
                true,
                format!(
                    "rebuilds {to:?} ({rows}) by copying it into {from:?}: the whole table is rewritten while writes \
                     wait{}",
                    if self.l.backend == DbBackend::Sqlite {
                        " (SQLite holds the database write lock throughout)"
                    } else {
                        ""
                    }
                ),
                "prefer a change the engine makes in place (SQLite: ADD COLUMN, RENAME COLUMN); on a large table copy \
                 in batches while the application writes to both"
                    .into(),
            );
        } else if !fresh {
            self.needs_timeout(i, from);
            self.report(
                i,
                "renaming-table",
                Level::Warning,
                false,
                format!("renames table {from:?} to {to:?}: application code still using the old name fails"),
                format!(
                    "create the new table or a view named {to:?}, move the application to it, then drop {from:?} in \
                     a later migration"
                ),
            );
        }
        self.l.created.remove(from);
        // A rebuilt table holds the old rows; a fresh one renamed is still empty.
        if fresh && !rebuild {
            self.l.created.insert(to.to_string());
        }
    }

    fn alter(&mut self, i: usize, table: &str, op: &Op) {
        if let Op::RenameTo { to } = op {
            return self.rename_table(i, table, to);
        }
        if self.fresh(table) {
            return;
        }
        if !matches!(op, Op::Other) {
            self.needs_timeout(i, table);
        }
        let pg = self.pg();
        match op {
            Op::AddColumn { column, not_null, default, stored, references } => {
                if let Some(Default::Volatile(f)) = default
                    && pg
                {
                    self.report(
                        i,
                        "adding-field-with-default",
                        Level::Error,
                        true,
                        format!(
                            "adds {column:?} with a default calling {f}(), which may be volatile: PostgreSQL rewrites \
                             {table:?} ({}) under an ACCESS EXCLUSIVE lock to fill it",
                            self.size(table).0
                        ),
                        format!(
                            "add {column:?} without a default, set the default in a second statement (new rows only), \
                             then backfill existing rows in batches"
                        ),
                    );
                }
                if *stored && pg {
                    self.report(
                        i,
                        "adding-field-with-default",
                        Level::Error,
                        true,
                        format!(
                            "adds the stored generated column {column:?}: PostgreSQL rewrites {table:?} to fill it"
                        ),
                        format!("add {column:?} as a plain column, fill it with a trigger and a batched backfill"),
                    );
                }
                if *not_null && default.is_none() && !*stored && self.l.backend != DbBackend::MySql {
                    self.report(
                        i,
                        "adding-not-nullable-field",
                        Level::Error,
                        false,
                        format!(
                            "adds {column:?} NOT NULL without a default: it fails as soon as {table:?} has a row ({})",
                            self.size(table).0
                        ),
                        format!(
                            "add {column:?} as nullable (or with a constant default), backfill it, then add a CHECK \
                             ({column} IS NOT NULL) NOT VALID, VALIDATE it, and SET NOT NULL"
                        ),
                    );
                }
                if *references && pg {
                    let (rows, level) = self.size(table);
                    self.report(
                        i,
                        "adding-foreign-key-constraint",
                        level,
                        false,
                        format!(
                            "adds {column:?} with a REFERENCES constraint: both tables are locked against writes while \
                             {table:?} ({rows}) is checked"
                        ),
                        format!(
                            "add {column:?} without REFERENCES, then ADD CONSTRAINT ... FOREIGN KEY ({column}) ... NOT \
                             VALID, and VALIDATE CONSTRAINT in a separate migration"
                        ),
                    );
                }
            }
            Op::AddForeignKey { not_valid: false } if pg => {
                let (rows, level) = self.size(table);
                self.report(
                    i,
                    "adding-foreign-key-constraint",
                    level,
                    false,
                    format!(
                        "adds a foreign key without NOT VALID: writes to {table:?} and the referenced table wait while \
                         every row of {table:?} ({rows}) is checked"
                    ),
                    "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID now, then ALTER TABLE ... VALIDATE CONSTRAINT ... in a \
                     separate migration (it does not block writes)"
                        .into(),
                );
            }
            Op::ValidateConstraint => {
                self.l.validated.insert(table.to_string());
            }
            Op::SetNotNull { column } if pg && !self.l.validated.contains(table) => {
                let (rows, level) = self.size(table);
                self.report(
                    i,
                    "setting-not-null",
                    level,
                    false,
                    format!(
                        "SET NOT NULL on {column:?} scans all of {table:?} ({rows}) under an ACCESS EXCLUSIVE lock, \
                         blocking reads and writes"
                    ),
                    format!(
                        "ADD CONSTRAINT {table}_{column}_not_null CHECK ({column} IS NOT NULL) NOT VALID; then in a \
                         separate migration VALIDATE CONSTRAINT it, SET NOT NULL (no scan: PostgreSQL 12+ uses the \
                         check) and drop the check"
                    ),
                );
            }
            Op::ChangeType { column } if self.l.backend != DbBackend::Sqlite => {
                self.report(
                    i,
                    "changing-column-type",
                    Level::Error,
                    true,
                    format!(
                        "changes the type of {column:?}: most type changes rewrite {table:?} ({}) and its indexes under \
                         an exclusive lock",
                        self.size(table).0
                    ),
                    format!(
                        "add a new column of the new type, write to both, backfill in batches, move reads to it, then \
                         drop {column:?} in a later migration"
                    ),
                );
            }
            Op::DropColumn { column } => {
                let rebuild =
                    if self.l.backend == DbBackend::Sqlite { " (SQLite rewrites the table to do it)" } else { "" };
                self.report(
                    i,
                    "ban-drop-column",
                    Level::Error,
                    true,
                    format!("drops column {column:?} of {table:?} and its data{rebuild}; code still reading it fails"),
                    format!(
                        "stop reading and writing {column:?} in the application and deploy that first, then drop it \
                         in a later migration"
                    ),
                );
            }
            Op::RenameColumn { from, to } => {
                self.report(
                    i,
                    "renaming-column",
                    Level::Warning,
                    false,
                    format!(
                        "renames column {from:?} of {table:?} to {to:?}: application code using the old name fails"
                    ),
                    format!(
                        "add {to:?}, write to both and backfill, move reads to {to:?}, then drop {from:?} in a later \
                         migration"
                    ),
                );
            }
            _ => {}
        }
    }
}

fn renames_to(s: &Shape, table: &str) -> bool {
    match s {
        Shape::Alter { ops, .. } => ops.iter().any(|o| matches!(o, Op::RenameTo { to } if to == table)),
        Shape::RenameTables { pairs } => pairs.iter().any(|(_, to)| to == table),
        _ => false,
    }
}
