//! The schema a rehearsal compares before and after: tables, columns with their types, indexes, and (PostgreSQL)
//! sequence positions, which a rollback does not restore.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::Serialize;

use crate::error::Result;

/// Strata's own tables: a rehearsal reports them apart, not as the migrations' changes.
pub const BOOKKEEPING: [&str; 3] = ["seaql_migrations", "alembic_version", "migrations_log"];

const PG_COLUMNS: &str = "SELECT c.relname::text AS t, coalesce(a.attname::text, '') AS n, \
     coalesce(format_type(a.atttypid, a.atttypmod), '') || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END AS d \
     FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
     LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     WHERE s.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1, a.attnum";
const PG_INDEXES: &str = "SELECT tablename::text AS t, indexname::text AS n, indexdef AS d FROM pg_indexes \
     WHERE schemaname = current_schema() ORDER BY 1, 2";
const PG_SEQUENCES: &str = "SELECT sequencename::text AS n, coalesce(last_value, 0) AS v FROM pg_sequences \
     WHERE schemaname = current_schema() ORDER BY 1";

const SQLITE_COLUMNS: &str = "SELECT m.name AS t, coalesce(p.name, '') AS n, \
     coalesce(p.type, '') || CASE WHEN p.\"notnull\" THEN ' NOT NULL' ELSE '' END AS d \
     FROM sqlite_master m LEFT JOIN pragma_table_info(m.name) p \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid";
const SQLITE_INDEXES: &str = "SELECT tbl_name AS t, name AS n, coalesce(sql, '(automatic)') AS d FROM sqlite_master \
     WHERE type = 'index' ORDER BY 1, 2";

/// One moment's schema.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// table → column → type (with NOT NULL)
    pub tables: BTreeMap<String, BTreeMap<String, String>>,
    /// (table, index) → definition
    pub indexes: BTreeMap<(String, String), String>,
}

/// What changed between two snapshots, one line per object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
// Its own name in the OpenAPI document: the impact report has a `Change` too.
#[schema(as = SchemaChange)]
pub struct Change {
    /// `table`, `column` or `index`.
    pub object: &'static str,
    /// `added`, `changed` or `dropped`.
    pub change: &'static str,
    pub table: String,
    /// The column's or index's name (the table's for `table`).
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Reads the schema of the current schema (PostgreSQL) or the main database (SQLite).
pub async fn snapshot<C: ConnectionTrait>(db: &C) -> Result<Snapshot> {
    let backend = db.get_database_backend();
    let (columns, indexes) = match backend {
        DbBackend::Postgres => (PG_COLUMNS, PG_INDEXES),
        _ => (SQLITE_COLUMNS, SQLITE_INDEXES),
    };
    let mut snap = Snapshot::default();
    for r in db.query_all_raw(Statement::from_string(backend, columns)).await? {
        let (t, n, d): (String, String, String) = (r.try_get("", "t")?, r.try_get("", "n")?, r.try_get("", "d")?);
        let table = snap.tables.entry(t).or_default();
        if !n.is_empty() {
            table.insert(n, d);
        }
    }
    for r in db.query_all_raw(Statement::from_string(backend, indexes)).await? {
        let (t, n, d): (String, String, String) = (r.try_get("", "t")?, r.try_get("", "n")?, r.try_get("", "d")?);
        snap.indexes.insert((t, n), d);
    }
    Ok(snap)
}

/// PostgreSQL sequences' last values (sequences are not transactional); none elsewhere.
pub async fn sequences<C: ConnectionTrait>(db: &C) -> Result<BTreeMap<String, i64>> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(BTreeMap::new());
    }
    let mut out = BTreeMap::new();
    for r in db.query_all_raw(Statement::from_string(backend, PG_SEQUENCES)).await? {
        out.insert(r.try_get("", "n")?, r.try_get("", "v")?);
    }
    Ok(out)
}

/// The migrations' changes from `before` to `after`, Strata's own tables left out.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<Change> {
    let ours = |t: &str| BOOKKEEPING.contains(&t);
    let mut out = Vec::new();
    let change = |object, change, table: &str, name: &str, before: Option<&String>, after: Option<&String>| Change {
        object,
        change,
        table: table.to_string(),
        name: name.to_string(),
        before: before.cloned(),
        after: after.cloned(),
    };
    for (t, cols) in &before.tables {
        match after.tables.get(t) {
            None if !ours(t) => out.push(change("table", "dropped", t, t, None, None)),
            None => {}
            Some(now) => {
                for (c, ty) in cols {
                    match now.get(c) {
                        None => out.push(change("column", "dropped", t, c, Some(ty), None)),
                        Some(new) if new != ty => out.push(change("column", "changed", t, c, Some(ty), Some(new))),
                        _ => {}
                    }
                }
                for (c, ty) in now.iter().filter(|(c, _)| !cols.contains_key(*c)) {
                    out.push(change("column", "added", t, c, None, Some(ty)));
                }
            }
        }
    }
    for (t, cols) in after.tables.iter().filter(|(t, _)| !before.tables.contains_key(*t) && !ours(t)) {
        out.push(change("table", "added", t, t, None, None));
        for (c, ty) in cols {
            out.push(change("column", "added", t, c, None, Some(ty)));
        }
    }
    for ((t, i), def) in &before.indexes {
        match after.indexes.get(&(t.clone(), i.clone())) {
            None if !ours(t) => out.push(change("index", "dropped", t, i, Some(def), None)),
            Some(new) if new != def => out.push(change("index", "changed", t, i, Some(def), Some(new))),
            _ => {}
        }
    }
    for ((t, i), def) in after.indexes.iter().filter(|(k, _)| !before.indexes.contains_key(*k) && !ours(&k.0)) {
        out.push(change("index", "added", t, i, None, Some(def)));
    }
    out
}
