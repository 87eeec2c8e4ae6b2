//! Whether a database is this migrator's to change: a foreign `alembic_version`, or tables `up` would create
//! that are already there. Both are read from the catalog, before the runner creates anything.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{Action, MigrationSet, backend, dry_run};
use crate::error::{Error, Result};

/// What the refusals and warnings say about a foreign `alembic_version`.
const ANOTHER_PROJECT: &str = "the database looks managed by another Alembic project";

/// Describes `alembic_version` when it is not this migrator's: a revision it does not know (and no migration
/// recorded in `seaql_migrations` has, which would make it another build's), or several rows, which Alembic
/// keeps for branches and this migrator never does. `None` when the database may be this migrator's.
pub(super) fn foreign_head(heads: &[String], set: &MigrationSet, recorded: &[(String, i64)]) -> Option<String> {
    let ours = |rev: &str| {
        set.entries().iter().any(|e| e.revision == rev)
            || recorded.iter().any(|(name, _)| super::set::revision_of(name) == rev)
    };
    match heads {
        [] => None,
        [one] if ours(one) => None,
        [one] => Some(format!(
            "alembic_version holds {}, which is not one of this migrator's revisions: {ANOTHER_PROJECT}",
            one.escape_debug()
        )),
        many => Some(format!(
            "alembic_version holds {} revisions ({}), as Alembic keeps for branches, and this migrator keeps one: \
             {ANOTHER_PROJECT}",
            many.len(),
            many.iter().map(|h| h.escape_debug().to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The refusal for a foreign `alembic_version`.
pub(super) fn refuse_foreign(description: String) -> Error {
    Error::NotOwned(format!(
        "{description}. Nothing was changed: strata migrate does not take over a database another migrator manages. \
         Point DATABASE_URL (or sqlalchemy.url) at the database these migrations are for"
    ))
}

/// One table `up` would create that the database already has.
struct Clash {
    table: String,
    /// Index of the migration that would create it.
    by: usize,
}

/// Refuses `plan` when one of its migrations would create a table or view the database already has (the
/// database is someone else's, or a schema this migrator made without its bookkeeping). It follows the
/// plan's statements as `--sql` renders them, so a table the plan drops or renames first is no clash; a
/// migration that reads the database cannot be followed, and the check stops there.
pub(super) async fn refuse_clashes<C: ConnectionTrait>(db: &C, set: &MigrationSet, plan: &[usize]) -> Result<()> {
    if plan.is_empty() {
        return Ok(());
    }
    let dialect = db.get_database_backend();
    let mut existing: HashMap<String, String> =
        backend::list_relations(db).await?.into_iter().map(|t| (key(dialect, &t, true), t)).collect();
    let mut clashes = Vec::new();
    'plan: for &i in plan {
        if existing.is_empty() {
            break; // an empty schema (a first start) clashes with nothing: no need to render the migrations
        }
        let Ok(statements) = dry_run::record(dialect, set, i, Action::Upgrade).await else { break 'plan };
        for change in statements.iter().filter_map(effect) {
            match change {
                Effect::Create(name) => {
                    if let Some(table) = existing.remove(&key(dialect, &name.text, name.quoted)) {
                        clashes.push(Clash { table, by: i });
                    }
                }
                Effect::Drop(names) => {
                    for name in names {
                        existing.remove(&key(dialect, &name.text, name.quoted));
                    }
                }
                Effect::Rename(from, to) => {
                    if existing.remove(&key(dialect, &from.text, from.quoted)).is_some() {
                        existing.insert(key(dialect, &to.text, to.quoted), to.text);
                    }
                }
            }
        }
    }
    if clashes.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = clashes
        .iter()
        .map(|c| {
            let e = &set.entries()[c.by];
            format!("{} (created by {} {})", c.table, e.revision, e.label)
        })
        .collect();
    Err(Error::NotOwned(format!(
        "the database already has {} that `strata migrate up` would create: {}; it has no revision of this \
         migrator's in alembic_version. Nothing was changed. If the schema is exactly what these migrations make, \
         record that first with `strata migrate stamp REV` (the revision it is at, `head` for all); otherwise \
         point DATABASE_URL (or sqlalchemy.url) at a database of its own",
        if clashes.len() == 1 { "a table" } else { "tables" },
        listed.join(", ")
    )))
}

/// A table name as a statement writes it.
#[derive(Debug, PartialEq, Eq)]
struct Name {
    text: String,
    quoted: bool,
}

/// What a statement does to the set of tables and views, as far as a clash goes.
#[derive(Debug, PartialEq, Eq)]
enum Effect {
    /// `CREATE TABLE name` or `CREATE VIEW name` (not `IF NOT EXISTS`, not temporary): fails when it exists.
    Create(Name),
    /// `DROP TABLE a, b` / `DROP VIEW a`.
    Drop(Vec<Name>),
    /// `ALTER TABLE a RENAME TO b` / `RENAME TABLE a TO b`.
    Rename(Name, Name),
}

/// How the catalog spells a name: PostgreSQL folds unquoted names to lower case, SQLite compares without
/// case, MariaDB as written (`lower_case_table_names = 0`, the Linux default).
fn key(dialect: DbBackend, text: &str, quoted: bool) -> String {
    match dialect {
        DbBackend::Postgres if !quoted => text.to_lowercase(),
        DbBackend::Sqlite => text.to_ascii_lowercase(),
        _ => text.to_string(),
    }
}

/// Reads what a statement does to tables; `None` for everything else, and for names qualified by a schema
/// (only the current schema is listed).
fn effect(stmt: &Statement) -> Option<Effect> {
    let tokens = tokens(&stmt.sql, 24);
    let mut t = tokens.iter().peekable();
    if word(&mut t, "CREATE") {
        if word(&mut t, "TEMP") || word(&mut t, "TEMPORARY") {
            return None;
        }
        while word(&mut t, "UNLOGGED") || word(&mut t, "GLOBAL") || word(&mut t, "LOCAL") {}
        if !(word(&mut t, "TABLE") || word(&mut t, "VIEW")) {
            return None;
        }
        if word(&mut t, "IF") {
            return None; // IF NOT EXISTS: an existing one is no failure
        }
        return unqualified(&mut t).map(Effect::Create);
    }
    if word(&mut t, "DROP") {
        if !(word(&mut t, "TABLE") || word(&mut t, "VIEW")) {
            return None;
        }
        if word(&mut t, "IF") && !word(&mut t, "EXISTS") {
            return None;
        }
        let mut names = vec![unqualified(&mut t)?];
        while t.next_if_eq(&&Token::Punct(',')).is_some() {
            names.push(unqualified(&mut t)?);
        }
        return Some(Effect::Drop(names));
    }
    if word(&mut t, "ALTER") {
        if !word(&mut t, "TABLE") {
            return None;
        }
        if word(&mut t, "IF") && !word(&mut t, "EXISTS") {
            return None;
        }
        word(&mut t, "ONLY");
        let from = unqualified(&mut t)?;
        if !(word(&mut t, "RENAME") && word(&mut t, "TO")) {
            return None;
        }
        return Some(Effect::Rename(from, unqualified(&mut t)?));
    }
    if word(&mut t, "RENAME") && word(&mut t, "TABLE") {
        let from = unqualified(&mut t)?;
        if !word(&mut t, "TO") {
            return None;
        }
        return Some(Effect::Rename(from, unqualified(&mut t)?));
    }
    None
}

type Tokens<'a> = std::iter::Peekable<std::slice::Iter<'a, Token>>;

/// Takes the next token when it is the keyword `w`.
fn word(t: &mut Tokens<'_>, w: &str) -> bool {
    t.next_if(|tok| matches!(tok, Token::Word(x) if x.eq_ignore_ascii_case(w))).is_some()
}

/// The next token as a table name, unless a `.` follows (a schema-qualified name).
fn unqualified(t: &mut Tokens<'_>) -> Option<Name> {
    let name = match t.next()? {
        Token::Word(w) => Name { text: w.clone(), quoted: false },
        Token::Quoted(q) => Name { text: q.clone(), quoted: true },
        Token::Punct(_) => return None,
    };
    match t.peek() {
        Some(Token::Punct('.')) => None,
        _ => Some(name),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// A keyword or unquoted identifier.
    Word(String),
    /// A `"quoted"`, `` `quoted` `` or `[quoted]` identifier, unescaped.
    Quoted(String),
    Punct(char),
}

/// The first `max` tokens of `sql`, comments skipped (string literals never come before a table name here).
fn tokens(sql: &str, max: usize) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while out.len() < max {
        let Some(c) = chars.next() else { break };
        match c {
            c if c.is_whitespace() => {}
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for c in chars.by_ref() {
                    if star && c == '/' {
                        break;
                    }
                    star = c == '*';
                }
            }
            '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    if c == close {
                        // A doubled quote is one quote inside the name.
                        if close != ']' && chars.peek() == Some(&close) {
                            chars.next();
                            text.push(c);
                            continue;
                        }
                        break;
                    }
                    text.push(c);
                }
                out.push(Token::Quoted(text));
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let mut text = String::from(c);
                while let Some(&c) = chars.peek() {
                    if !(c.is_alphanumeric() || c == '_' || c == '$') {
                        break;
                    }
                    text.push(c);
                    chars.next();
                }
                out.push(Token::Word(text));
            }
            c => out.push(Token::Punct(c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(sql: &str) -> Option<Effect> {
        effect(&Statement::from_string(DbBackend::Postgres, sql))
    }

    fn name(text: &str, quoted: bool) -> Name {
        Name { text: text.into(), quoted }
    }

    #[test]
    fn creates_are_read_in_every_dialect() {
        assert_eq!(of(r#"CREATE TABLE "users" ( "id" serial )"#), Some(Effect::Create(name("users", true))));
        assert_eq!(of("CREATE TABLE `Users` (`id` int)"), Some(Effect::Create(name("Users", true))));
        assert_eq!(of("create table t_ok (id INTEGER PRIMARY KEY)"), Some(Effect::Create(name("t_ok", false))));
        assert_eq!(of(r#"CREATE UNLOGGED TABLE "a""b" (x int)"#), Some(Effect::Create(name("a\"b", true))));
        assert_eq!(of("-- note\n/* c */ CREATE VIEW v AS SELECT 1"), Some(Effect::Create(name("v", false))));
    }

    #[test]
    fn creates_that_cannot_clash_are_ignored() {
        assert_eq!(of(r#"CREATE TABLE IF NOT EXISTS "users" (id int)"#), None);
        assert_eq!(of("CREATE TEMPORARY TABLE scratch (id int)"), None);
        assert_eq!(of(r#"CREATE TABLE "audit"."users" (id int)"#), None, "another schema is not listed");
        assert_eq!(of(r#"CREATE INDEX "ix" ON "users" ("id")"#), None);
        assert_eq!(of(r#"INSERT INTO "users" VALUES (1)"#), None);
    }

    #[test]
    fn drops_and_renames_are_followed() {
        assert_eq!(
            of(r#"DROP TABLE IF EXISTS "a", b CASCADE"#),
            Some(Effect::Drop(vec![name("a", true), name("b", false)]))
        );
        assert_eq!(
            of(r#"ALTER TABLE "users" RENAME TO "users_old""#),
            Some(Effect::Rename(name("users", true), name("users_old", true)))
        );
        assert_eq!(
            of("RENAME TABLE `users` TO `users_old`"),
            Some(Effect::Rename(name("users", true), name("users_old", true)))
        );
        assert_eq!(of(r#"ALTER TABLE "users" ADD COLUMN "x" int"#), None);
    }

    #[test]
    fn names_compare_the_way_each_catalog_does() {
        assert_eq!(key(DbBackend::Postgres, "Users", false), "users");
        assert_eq!(key(DbBackend::Postgres, "Users", true), "Users");
        assert_eq!(key(DbBackend::Sqlite, "Users", true), "users");
        assert_eq!(key(DbBackend::MySql, "Users", false), "Users");
    }

    #[test]
    fn a_head_of_another_project_or_several_heads_are_foreign() {
        let set = MigrationSet::new(Vec::new()).unwrap();
        let heads = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let text = foreign_head(&heads(&["3f2a9c1b7d4e"]), &set, &[]).unwrap();
        assert_eq!(
            text,
            "alembic_version holds 3f2a9c1b7d4e, which is not one of this migrator's revisions: \
             the database looks managed by another Alembic project"
        );
        assert!(foreign_head(&heads(&["a1", "b2"]), &set, &[]).unwrap().contains("2 revisions (a1, b2)"));
        assert!(foreign_head(&[], &set, &[]).is_none());
        // Another build of strata recorded it: the unknown-migrations refusal explains that case better.
        let recorded = vec![("m20990101_000001_create_x".to_string(), 0)];
        assert!(foreign_head(&heads(&["m20990101_000001"]), &set, &recorded).is_none());
    }
}
