//! The ordered list of migrations a build knows, with their revision ids.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

use crate::error::{Error, Result};

/// Longest revision id `alembic_version.version_num` can hold.
pub const MAX_REVISION_LEN: usize = 32;

/// One migration with the names it is known by.
pub struct Entry {
    /// Stable id kept in `alembic_version` (at most 32 characters): `m20251122_000001`.
    pub revision: String,
    /// The SeaORM migration name kept in `seaql_migrations`: `m20251122_000001_create_users`.
    pub name: String,
    /// The human part of the name: `create_users`.
    pub label: String,
    pub migration: Box<dyn MigrationTrait>,
}

/// The migrations of one migrator, in the order they apply.
pub struct MigrationSet {
    entries: Vec<Entry>,
}

/// Which revision a command aims at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Before the first migration.
    Base,
    /// This migration (index into the set) and everything before it.
    Revision(usize),
}

impl MigrationSet {
    /// The migrations of a `MigratorTrait` implementation.
    pub fn of<M: MigratorTrait>() -> Result<Self> {
        Self::new(M::migrations())
    }

    /// Names every migration and checks that revision ids are unique and short enough.
    pub fn new(migrations: Vec<Box<dyn MigrationTrait>>) -> Result<Self> {
        let mut entries: Vec<Entry> = Vec::with_capacity(migrations.len());
        for migration in migrations {
            let name = migration.name().to_string();
            let (revision, label) = split_name(&name);
            if revision.len() > MAX_REVISION_LEN {
                return Err(Error::Migration(format!(
                    "migration {name:?} has no revision id of at most {MAX_REVISION_LEN} characters; \
                     name it like m20250101_000001_create_things"
                )));
            }
            if let Some(other) = entries.iter().find(|e| e.revision == revision || e.name == name) {
                return Err(Error::Migration(format!(
                    "migrations {:?} and {name:?} share the revision id {revision}",
                    other.name
                )));
            }
            entries.push(Entry { revision, name, label, migration });
        }
        Ok(MigrationSet { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Index of the migration with this SeaORM name.
    pub fn index_of_name(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }

    /// Resolves what a user typed: `base`, `head` (the newest migration, as in Alembic), a revision id, a full
    /// name, or an unambiguous prefix of either.
    pub fn resolve(&self, input: &str) -> Result<Target> {
        let input = input.trim();
        if input.eq_ignore_ascii_case("base") {
            return Ok(Target::Base);
        }
        if input.eq_ignore_ascii_case("head") {
            return Ok(self.entries.len().checked_sub(1).map_or(Target::Base, Target::Revision));
        }
        if let Some(i) = self.entries.iter().position(|e| e.revision == input || e.name == input) {
            return Ok(Target::Revision(i));
        }
        let matches: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].revision.starts_with(input) || self.entries[i].name.starts_with(input))
            .collect();
        match matches.as_slice() {
            [i] if !input.is_empty() => Ok(Target::Revision(*i)),
            [] | [_] => Err(Error::Migration(format!(
                "no migration has the revision {input:?}; `strata migrate status` lists them"
            ))),
            many => Err(Error::Migration(format!(
                "{input:?} is ambiguous: it matches {}",
                many.iter().map(|&i| self.entries[i].revision.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// The revision id a migration name carries (`m20251122_000001` for `m20251122_000001_create_users`).
pub(crate) fn revision_of(name: &str) -> String {
    split_name(name).0
}

/// `m20251122_000001_create_users` → (`m20251122_000001`, `create_users`); other names stay whole.
fn split_name(name: &str) -> (String, String) {
    let mut parts = name.splitn(3, '_');
    if let (Some(a), Some(b), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
        let dated = a.len() > 1 && a.starts_with('m') && a[1..].bytes().all(|c| c.is_ascii_digit());
        if dated && !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) {
            return (format!("{a}_{b}"), rest.to_string());
        }
    }
    (name.to_string(), name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_names_give_short_revisions() {
        assert_eq!(
            split_name("m20251122_000003_create_admin_users"),
            ("m20251122_000003".to_string(), "create_admin_users".to_string())
        );
    }

    #[test]
    fn other_names_are_their_own_revision() {
        assert_eq!(split_name("bench_0007").0, "bench_0007");
    }

    #[test]
    fn every_shipped_revision_fits_alembic_version() {
        let set = MigrationSet::of::<migration::Migrator>().unwrap();
        assert!(set.entries().iter().all(|e| e.revision.len() <= MAX_REVISION_LEN));
        assert_eq!(set.resolve("base").unwrap(), Target::Base);
        assert_eq!(set.resolve("head").unwrap(), Target::Revision(set.len() - 1));
        assert_eq!(set.resolve("m20251122_000002").unwrap(), Target::Revision(1));
        assert_eq!(set.resolve("m20251122_000002_create_posts").unwrap(), Target::Revision(1));
        assert!(set.resolve("m2025").is_err(), "a prefix matching several is ambiguous");
        assert!(set.resolve("nope").is_err());
    }
}
