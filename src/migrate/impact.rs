//! What a migration did to the database's storage: its relations (tables, indexes) with their sizes and row
//! estimates just before and just after, and the differences (added, dropped, rewritten, resized).
//!
//! Read on the runner's own connection, under its lock, so nothing else changes the schema in between. PostgreSQL:
//! `pg_class` (`pg_total_relation_size`, `reltuples`, `relfilenode`: a new file number is a rewrite); MariaDB/MySQL:
//! `information_schema.TABLES` and `STATISTICS`, index sizes from `mysql.innodb_index_stats` when readable, and InnoDB's
//! table id (`INNODB_SYS_TABLES` on MariaDB, `INNODB_TABLES` on MySQL, with the PROCESS privilege) as the storage: a
//! rebuild (`ALGORITHM=COPY`, or an `INPLACE` change that rebuilds) gets a new id, an `INSTANT` change keeps it;
//! SQLite: `dbstat` (page bytes per table and index) and `rootpage` (a new root is a rebuild).

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};

/// More relations than this in the schema and the impact is not read (the report says so).
pub const MAX_RELATIONS: usize = 5000;

/// The runner's own tables: they change with every migration and are not the migration's doing.
const BOOKKEEPING: &[&str] = &["seaql_migrations", "alembic_version", "migrations_log"];

// The oids tie a relation to the locks a migration takes (see [`Tracker`]); names sort bytewise on every backend.
macro_rules! pg_relations {
    ($tail:literal) => {
        concat!(
            "SELECT c.oid::bigint AS oid, i.indrelid::bigint AS parent_oid, c.relname::text AS name, \
             CASE WHEN c.relkind IN ('i', 'I') THEN 'index' WHEN c.relkind = 'm' THEN 'materialized view' ELSE 'table' END AS kind, \
             t.relname::text AS parent, \
             CASE WHEN c.relkind IN ('i', 'I') THEN pg_relation_size(c.oid) ELSE pg_total_relation_size(c.oid) END::bigint AS bytes, \
             CASE WHEN c.relkind IN ('r', 'p', 'm') AND c.reltuples >= 0 THEN c.reltuples::bigint END AS est_rows, \
             c.relfilenode::bigint AS file \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm', 'i', 'I') ",
            $tail
        )
    };
}
const PG_RELATIONS: &str = pg_relations!("ORDER BY c.relname COLLATE \"C\" LIMIT 5001");
/// The relations among `$1` (oids, as an array literal).
const PG_RELATIONS_IN: &str = pg_relations!("AND c.oid = ANY($1::text::oid[])");
/// Inside a migration's transaction, just before it commits: the relations the session holds a lock on (`locked`
/// rows), which are every relation the migration created, altered, wrote, rewrote or dropped (locks are held until
/// the commit); then the current schema's relations among them with their figures, and the indexes of those tables
/// and the tables of those indexes with their names only (one not locked kept its size: writing to a relation locks
/// it; but a table's new name shows on its indexes). Sizes are read of locked relations only (a table's counts its
/// indexes), so the query waits for no lock the migration does not hold already. Every catalog row is found by oid
/// through the catalogs' indexes (`near`), so the query costs what the migration touched, not the schema's size.
/// Relations below oid 16384 (`FirstNormalObjectId`) are the catalogs' and initdb's: never in the current schema, so
/// their locks are left out at once rather than looked up.
const PG_TOUCHED: &str = "WITH locked AS (SELECT DISTINCT relation AS oid FROM pg_locks \
     WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation >= 16384 \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())), \
     near AS (SELECT oid FROM locked \
         UNION SELECT x.indexrelid FROM pg_index x WHERE x.indrelid IN (SELECT oid FROM locked) \
         UNION SELECT x.indrelid FROM pg_index x WHERE x.indexrelid IN (SELECT oid FROM locked)) \
     SELECT true AS locked, oid::bigint AS oid, NULL::bigint AS parent_oid, NULL::text AS name, NULL::text AS kind, \
     NULL::text AS parent, NULL::bigint AS bytes, NULL::bigint AS est_rows, NULL::bigint AS file FROM locked \
     UNION ALL \
     SELECT false, c.oid::bigint, i.indrelid::bigint, c.relname::text, \
     CASE WHEN c.relkind IN ('i', 'I') THEN 'index' WHEN c.relkind = 'm' THEN 'materialized view' ELSE 'table' END, \
     t.relname::text, \
     CASE WHEN c.oid IN (SELECT oid FROM locked) THEN \
         CASE WHEN c.relkind IN ('i', 'I') THEN pg_relation_size(c.oid) ELSE pg_total_relation_size(c.oid) END END::bigint, \
     CASE WHEN c.relkind IN ('r', 'p', 'm') AND c.reltuples >= 0 THEN c.reltuples::bigint END, \
     c.relfilenode::bigint \
     FROM near JOIN pg_class c ON c.oid = near.oid JOIN pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid \
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm', 'i', 'I') \
     AND coalesce(t.relname, c.relname)::text NOT IN ('seaql_migrations', 'alembic_version', 'migrations_log')";

const MY_TABLES: &str = "SELECT TABLE_NAME AS name, 'table' AS kind, CAST(NULL AS CHAR) AS parent, \
     CAST(COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS SIGNED) AS bytes, CAST(TABLE_ROWS AS SIGNED) AS est_rows, \
     CAST(NULL AS SIGNED) AS file \
     FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' LIMIT 5001";
const MY_INDEXES: &str = "SELECT DISTINCT INDEX_NAME AS name, 'index' AS kind, TABLE_NAME AS parent, \
     CAST(NULL AS SIGNED) AS bytes, CAST(NULL AS SIGNED) AS est_rows, CAST(NULL AS SIGNED) AS file \
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() LIMIT 5001";
// Readable by logins with SELECT on the mysql schema only; without it index sizes stay unknown.
const MY_INDEX_SIZES: &str = "SELECT CAST(table_name AS CHAR) AS parent, CAST(index_name AS CHAR) AS name, \
     CAST(stat_value * @@innodb_page_size AS SIGNED) AS bytes \
     FROM mysql.innodb_index_stats WHERE database_name = DATABASE() AND stat_name = 'size'";

// InnoDB's own table list: `db/table`, names with other characters than letters, digits and `_` file-encoded (those
// tables get no id, so a rewrite of them is not detected).
const MARIADB_TABLE_IDS: &str = "SELECT SUBSTRING(NAME, LENGTH(DATABASE()) + 2) AS name, CAST(TABLE_ID AS SIGNED) AS id \
     FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE CONCAT(DATABASE(), '/%')";
const MYSQL_TABLE_IDS: &str = "SELECT SUBSTRING(NAME, LENGTH(DATABASE()) + 2) AS name, CAST(TABLE_ID AS SIGNED) AS id \
     FROM information_schema.INNODB_TABLES WHERE NAME LIKE CONCAT(DATABASE(), '/%')";

const SQLITE_RELATIONS: &str = "SELECT name, CASE type WHEN 'index' THEN 'index' ELSE 'table' END AS kind, \
     CASE WHEN type = 'index' THEN tbl_name END AS parent, CAST(NULL AS INTEGER) AS bytes, \
     CAST(NULL AS INTEGER) AS est_rows, rootpage AS file \
     FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' AND rootpage > 0 \
     ORDER BY name LIMIT 5001";
const SQLITE_SIZES: &str = "SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name";

/// One table or index as the catalog reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Relation {
    pub name: String,
    /// `table`, `index` or `materialized view`.
    pub kind: String,
    /// For an index: its table.
    pub table: Option<String>,
    /// On disk, indexes and TOAST included for a table (PostgreSQL); `None` where the catalog does not say.
    pub bytes: Option<i64>,
    /// The planner's estimate (PostgreSQL `reltuples`, InnoDB `TABLE_ROWS`); `None` when never analyzed.
    pub rows: Option<i64>,
    /// The storage it lives in (PostgreSQL `relfilenode`, SQLite `rootpage`): a new one means it was rewritten.
    pub file: Option<i64>,
}

/// The relations of the schema at one moment, or why they could not be read.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub relations: Vec<Relation>,
    pub note: Option<String>,
    /// A table's size counts its indexes (PostgreSQL, MariaDB/MySQL), so totals add tables only.
    pub tables_include_indexes: bool,
}

/// What happened to one relation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub name: String,
    pub kind: String,
    pub table: Option<String>,
    /// `added`, `dropped`, `rewritten` (new storage: the whole table or index was written again) or `resized`.
    pub change: String,
    pub bytes_before: Option<i64>,
    pub bytes_after: Option<i64>,
    pub rows_before: Option<i64>,
    pub rows_after: Option<i64>,
}

/// What one migration did: the changed relations with their figures before and after, and the totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Impact {
    pub revision: String,
    pub name: String,
    /// `upgrade` or `downgrade`.
    pub action: String,
    /// The relations that changed; the others kept their size, estimate and storage.
    pub changes: Vec<Change>,
    /// Tables and indexes before and after.
    pub relations_before: usize,
    pub relations_after: usize,
    /// Their total size before and after, where known (negative difference: space freed).
    pub bytes_before: Option<i64>,
    pub bytes_after: Option<i64>,
    /// The indexes of the tables this migration touched (changed, or on PostgreSQL locked), as `table.index`, just
    /// before and just after; not every index of the schema, which would make each report as long as the schema.
    #[serde(default)]
    pub indexes_before: Vec<String>,
    #[serde(default)]
    pub indexes_after: Vec<String>,
    /// What could not be read.
    pub note: Option<String>,
}

impl Impact {
    /// The size difference (negative: space freed), where both totals are known.
    pub fn bytes_delta(&self) -> Option<i64> {
        Some(self.bytes_after? - self.bytes_before?)
    }
}

#[derive(Debug, sea_orm::FromQueryResult)]
struct Row {
    name: String,
    kind: String,
    parent: Option<String>,
    bytes: Option<i64>,
    est_rows: Option<i64>,
    file: Option<i64>,
}

impl From<Row> for Relation {
    fn from(r: Row) -> Relation {
        Relation { name: r.name, kind: r.kind, table: r.parent, bytes: r.bytes, rows: r.est_rows, file: r.file }
    }
}

#[derive(Debug, sea_orm::FromQueryResult)]
struct Size {
    parent: Option<String>,
    name: String,
    bytes: Option<i64>,
}

/// Reads the schema's relations; never fails (what could not be read is in `note`).
pub async fn snapshot<C: ConnectionTrait>(x: &C) -> Snapshot {
    match read(x).await {
        Ok(mut s) => {
            s.relations.retain(|r| !is_bookkeeping(r));
            if s.relations.len() > MAX_RELATIONS {
                return Snapshot {
                    note: Some(format!("more than {MAX_RELATIONS} tables and indexes: the impact was not read")),
                    ..Snapshot::default()
                };
            }
            s
        }
        Err(e) => Snapshot { note: Some(format!("the catalog could not be read: {e}")), ..Snapshot::default() },
    }
}

async fn rows<C: ConnectionTrait>(x: &C, sql: &str) -> Result<Vec<Row>, sea_orm::DbErr> {
    let stmt = Statement::from_string(x.get_database_backend(), sql);
    sea_orm::FromQueryResult::find_by_statement(stmt).all(x).await
}

async fn sizes<C: ConnectionTrait>(x: &C, sql: &str) -> Result<Vec<Size>, sea_orm::DbErr> {
    let stmt = Statement::from_string(x.get_database_backend(), sql);
    <Size as sea_orm::FromQueryResult>::find_by_statement(stmt).all(x).await
}

#[derive(Debug, sea_orm::FromQueryResult)]
struct TableId {
    name: String,
    id: Option<i64>,
}

/// InnoDB's table id of each table (by name), from whichever of MariaDB's and MySQL's lists this login can read.
async fn table_ids<C: ConnectionTrait>(x: &C) -> Option<BTreeMap<String, i64>> {
    for sql in [MARIADB_TABLE_IDS, MYSQL_TABLE_IDS] {
        let stmt = Statement::from_string(x.get_database_backend(), sql);
        if let Ok(found) = <TableId as sea_orm::FromQueryResult>::find_by_statement(stmt).all(x).await {
            return Some(found.into_iter().filter_map(|t| Some((t.name, t.id?))).collect());
        }
    }
    None
}

/// Whether InnoDB writes `name` in its table list as it is (no file-name encoding).
fn plain_name(name: &str) -> bool {
    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

async fn read<C: ConnectionTrait>(x: &C) -> Result<Snapshot, sea_orm::DbErr> {
    let mut note = None;
    let relations: Vec<Relation> = match x.get_database_backend() {
        DbBackend::Postgres => rows(x, PG_RELATIONS).await?.into_iter().map(Relation::from).collect(),
        DbBackend::MySql => {
            let mut all: Vec<Relation> = rows(x, MY_TABLES).await?.into_iter().map(Relation::from).collect();
            let mut indexes: Vec<Relation> = rows(x, MY_INDEXES).await?.into_iter().map(Relation::from).collect();
            match sizes(x, MY_INDEX_SIZES).await {
                Ok(found) => {
                    let by: BTreeMap<(String, String), i64> = found
                        .into_iter()
                        .filter_map(|s| Some(((s.parent.unwrap_or_default(), s.name), s.bytes?)))
                        .collect();
                    for i in &mut indexes {
                        i.bytes = by.get(&(i.table.clone().unwrap_or_default(), i.name.clone())).copied();
                    }
                }
                Err(_) => {
                    note = Some("index sizes are not known: this login cannot read mysql.innodb_index_stats".into())
                }
            }
            match table_ids(x).await {
                Some(ids) => {
                    for t in all.iter_mut().filter(|t| plain_name(&t.name)) {
                        t.file = ids.get(&t.name).copied();
                    }
                }
                None => {
                    let why = "table rewrites are not detected: this login cannot read InnoDB's table list \
                               (information_schema.INNODB_SYS_TABLES needs the PROCESS privilege)";
                    note = Some(match note {
                        Some(n) => format!("{n}; {why}"),
                        None => why.to_string(),
                    });
                }
            }
            all.append(&mut indexes);
            all
        }
        _ => {
            let mut all: Vec<Relation> = rows(x, SQLITE_RELATIONS).await?.into_iter().map(Relation::from).collect();
            match sizes(x, SQLITE_SIZES).await {
                Ok(found) => {
                    let by: BTreeMap<String, i64> =
                        found.into_iter().filter_map(|s| Some((s.name, s.bytes?))).collect();
                    for r in &mut all {
                        r.bytes = by.get(&r.name).copied();
                    }
                }
                Err(_) => note = Some("sizes are not known: this SQLite build has no dbstat table".into()),
            }
            all
        }
    };
    let tables_include_indexes = x.get_database_backend() != DbBackend::Sqlite;
    Ok(Snapshot { relations, note, tables_include_indexes })
}

/// The differences between two snapshots of one migration.
pub fn compare(revision: &str, name: &str, action: &str, before: &Snapshot, after: &Snapshot) -> Impact {
    let key = |r: &Relation| (r.kind.clone(), r.table.clone().unwrap_or_default(), r.name.clone());
    let old: BTreeMap<_, &Relation> = before.relations.iter().map(|r| (key(r), r)).collect();
    let new: BTreeMap<_, &Relation> = after.relations.iter().map(|r| (key(r), r)).collect();
    let mut changes = Vec::new();
    let change = |r: &Relation, what: &str, b: Option<&Relation>, a: Option<&Relation>| Change {
        name: r.name.clone(),
        kind: r.kind.clone(),
        table: r.table.clone(),
        change: what.to_string(),
        bytes_before: b.and_then(|x| x.bytes),
        bytes_after: a.and_then(|x| x.bytes),
        rows_before: b.and_then(|x| x.rows),
        rows_after: a.and_then(|x| x.rows),
    };
    for (k, b) in &old {
        match new.get(k) {
            None => changes.push(change(b, "dropped", Some(b), None)),
            Some(a) if a.file.is_some() && a.file != b.file => changes.push(change(a, "rewritten", Some(b), Some(a))),
            Some(a) if a.bytes != b.bytes || a.rows != b.rows => changes.push(change(a, "resized", Some(b), Some(a))),
            Some(_) => {}
        }
    }
    for (k, a) in &new {
        if !old.contains_key(k) {
            changes.push(change(a, "added", None, Some(a)));
        }
    }
    let tables = touched_tables(changes.iter().map(|c| (c.kind.as_str(), c.table.as_deref(), c.name.as_str())));
    let total = |s: &Snapshot| total(s.relations.iter(), s.tables_include_indexes);
    let note = match (&before.note, &after.note) {
        (Some(a), Some(b)) if a == b => Some(a.clone()),
        (Some(a), Some(b)) => Some(format!("before: {a}; after: {b}")),
        (a, b) => a.clone().or_else(|| b.clone()),
    };
    Impact {
        revision: revision.to_string(),
        name: name.to_string(),
        action: action.to_string(),
        changes,
        relations_before: before.relations.len(),
        relations_after: after.relations.len(),
        bytes_before: total(before),
        bytes_after: total(after),
        indexes_before: indexes_of(before.relations.iter(), &tables),
        indexes_after: indexes_of(after.relations.iter(), &tables),
        note,
    }
}

/// A PostgreSQL relation with the oids that tie it to the locks a migration takes.
#[derive(Debug, sea_orm::FromQueryResult)]
struct PgRow {
    oid: i64,
    parent_oid: Option<i64>,
    name: String,
    kind: String,
    parent: Option<String>,
    bytes: Option<i64>,
    est_rows: Option<i64>,
    file: Option<i64>,
}

/// One relation as a run keeps it (PostgreSQL): its figures, its oid and, for an index, its table's oid.
#[derive(Clone, Debug)]
struct Kept {
    relation: Relation,
    oid: i64,
    table_oid: Option<i64>,
}

impl From<PgRow> for Kept {
    fn from(r: PgRow) -> Kept {
        Kept {
            oid: r.oid,
            table_oid: r.parent_oid,
            relation: Relation {
                name: r.name,
                kind: r.kind,
                table: r.parent,
                bytes: r.bytes,
                rows: r.est_rows,
                file: r.file,
            },
        }
    }
}

/// The catalog's order (name, bytewise; a relation name is unique in a schema), then kind and table.
type Key = (String, String, String);

fn key_of(r: &Relation) -> Key {
    (r.name.clone(), r.kind.clone(), r.table.clone().unwrap_or_default())
}

/// The schema's relations as a run leaves them, kept up to date migration by migration (PostgreSQL).
#[derive(Debug, Default)]
struct KeptSchema {
    by_key: BTreeMap<Key, Kept>,
    key_by_oid: HashMap<i64, Key>,
}

impl KeptSchema {
    /// From a whole reading; `None` when it is over [`MAX_RELATIONS`] (then the whole reading tells so).
    fn new(rows: Vec<Kept>) -> Option<KeptSchema> {
        let mut kept = KeptSchema::default();
        for k in rows.into_iter().filter(|k| !is_bookkeeping(&k.relation)) {
            kept.insert(k);
        }
        (kept.by_key.len() <= MAX_RELATIONS).then_some(kept)
    }

    fn insert(&mut self, k: Kept) {
        let key = key_of(&k.relation);
        self.key_by_oid.insert(k.oid, key.clone());
        if let Some(old) = self.by_key.insert(key, k)
            && self.key_by_oid.get(&old.oid).is_some_and(|key| *key == key_of(&old.relation))
        {
            // Another relation had that name: it is gone now.
            self.key_by_oid.remove(&old.oid);
        }
    }

    fn remove(&mut self, oid: i64) -> Option<Kept> {
        let key = self.key_by_oid.remove(&oid)?;
        self.by_key.remove(&key)
    }

    fn relations(&self) -> impl Iterator<Item = &Relation> {
        self.by_key.values().map(|k| &k.relation)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot { relations: self.relations().cloned().collect(), note: None, tables_include_indexes: true }
    }

    /// Replaces what a migration that held locks on `locked` may have changed with `read` (the relations among
    /// `locked`, their indexes and their tables as they are now); returns them as they were and as they are.
    fn apply(&mut self, locked: &[i64], read: Vec<Kept>) -> (Vec<Relation>, Vec<Relation>) {
        let locked: HashSet<i64> = locked.iter().copied().collect();
        let read: Vec<Kept> = read.into_iter().filter(|k| !is_bookkeeping(&k.relation)).collect();
        let gone: Vec<i64> = self
            .by_key
            .values()
            .filter(|k| locked.contains(&k.oid) || k.table_oid.is_some_and(|t| locked.contains(&t)))
            .map(|k| k.oid)
            .chain(read.iter().map(|k| k.oid))
            .collect();
        let mut before: Vec<Relation> =
            gone.into_iter().filter_map(|oid| self.remove(oid)).map(|k| k.relation).collect();
        before.sort_by_key(key_of);
        let mut after: Vec<Relation> = read.iter().map(|k| k.relation.clone()).collect();
        after.sort_by_key(key_of);
        for k in read {
            self.insert(k);
        }
        (before, after)
    }
}

fn is_bookkeeping(r: &Relation) -> bool {
    BOOKKEEPING.contains(&r.table.as_deref().unwrap_or(&r.name))
}

/// Each table's bytes once (a table's size counts its indexes where `tables_include_indexes`); `None` when one is
/// unknown.
fn total<'r>(relations: impl Iterator<Item = &'r Relation>, tables_include_indexes: bool) -> Option<i64> {
    relations
        .filter(|r| !(tables_include_indexes && r.kind == "index"))
        .map(|r| r.bytes)
        .try_fold(0i64, |sum, b| b.map(|b| sum + b))
}

/// The tables named by relations given as (kind, table of an index, name): a table's own name, an index's table.
fn touched_tables<'r>(relations: impl Iterator<Item = (&'r str, Option<&'r str>, &'r str)>) -> HashSet<String> {
    relations
        .map(|(kind, table, name)| if kind == "index" { table.unwrap_or(name) } else { name }.to_string())
        .collect()
}

/// The indexes of `tables` among `relations`, as `table.index`, in the relations' order.
fn indexes_of<'r>(relations: impl Iterator<Item = &'r Relation>, tables: &HashSet<String>) -> Vec<String> {
    relations
        .filter(|r| r.kind == "index" && r.table.as_ref().is_some_and(|t| tables.contains(t)))
        .map(|r| format!("{}.{}", r.table.as_deref().unwrap_or("?"), r.name))
        .collect()
}

async fn read_pg<C: ConnectionTrait>(x: &C, only: Option<&[i64]>) -> Result<Vec<Kept>, sea_orm::DbErr> {
    let stmt = match only {
        None => Statement::from_string(DbBackend::Postgres, PG_RELATIONS),
        Some(oids) => {
            let list = oids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            Statement::from_sql_and_values(DbBackend::Postgres, PG_RELATIONS_IN, [format!("{{{list}}}").into()])
        }
    };
    let rows = <PgRow as sea_orm::FromQueryResult>::find_by_statement(stmt).all(x).await?;
    Ok(rows.into_iter().map(Kept::from).collect())
}

/// A row of [`PG_TOUCHED`]: a lock, or a relation.
#[derive(Debug, sea_orm::FromQueryResult)]
struct TouchedRow {
    locked: bool,
    oid: i64,
    parent_oid: Option<i64>,
    name: Option<String>,
    kind: Option<String>,
    parent: Option<String>,
    bytes: Option<i64>,
    est_rows: Option<i64>,
    file: Option<i64>,
}

/// What a migration touched, read inside its transaction.
#[derive(Debug, Default)]
struct Touched {
    /// The relations it held locks on.
    locked: Vec<i64>,
    /// Those of the schema, their indexes and their tables, as they are now.
    read: Vec<Kept>,
    /// Relations not locked and not known before (none, as PostgreSQL locks what it creates): read after the commit.
    unknown: Vec<i64>,
}

async fn touched<C: ConnectionTrait>(x: &C, kept: &KeptSchema) -> Result<Touched, sea_orm::DbErr> {
    let stmt = Statement::from_string(DbBackend::Postgres, PG_TOUCHED);
    let rows = <TouchedRow as sea_orm::FromQueryResult>::find_by_statement(stmt).all(x).await?;
    let mut t = Touched { locked: rows.iter().filter(|r| r.locked).map(|r| r.oid).collect(), ..Touched::default() };
    let locked: HashSet<i64> = t.locked.iter().copied().collect();
    for r in rows.into_iter().filter(|r| !r.locked) {
        let (Some(name), Some(kind)) = (r.name, r.kind) else { continue };
        let bytes = if locked.contains(&r.oid) {
            r.bytes
        } else if let Some(k) = kept.key_by_oid.get(&r.oid).and_then(|key| kept.by_key.get(key)) {
            k.relation.bytes
        } else {
            t.unknown.push(r.oid);
            continue;
        };
        t.read.push(Kept {
            oid: r.oid,
            table_oid: r.parent_oid,
            relation: Relation { name, kind, table: r.parent, bytes, rows: r.est_rows, file: r.file },
        });
    }
    Ok(t)
}

/// The impact report of a run, migration by migration, each costing what the migration touched.
///
/// The schema is read whole once, before the first migration; the reading just after a migration is the one just
/// before the next (the runner holds the migration lock, and its bookkeeping is left out of the report). On
/// PostgreSQL, a migration that runs in a transaction is followed exactly without reading the schema again: just
/// before its transaction commits, the runner's session holds a lock on every relation it created, altered, wrote,
/// rewrote or dropped, so one query there ([`Tracker::before_commit`]) reads those, their indexes and their tables
/// (sizes as they will be committed). A migration outside a transaction (`use_transaction()` false), and every migration on MariaDB/MySQL and
/// SQLite, gets the schema read whole after it.
#[derive(Debug, Default)]
pub struct Tracker {
    /// PostgreSQL: the relations now, with their oids.
    kept: Option<KeptSchema>,
    /// Elsewhere, or over [`MAX_RELATIONS`]: the last whole reading.
    whole: Option<Snapshot>,
    /// What the migration running now touched, read just before it committed.
    touched: Option<Touched>,
}

impl Tracker {
    /// Just before a migration: reads the schema the first time.
    pub async fn before<C: ConnectionTrait>(&mut self, x: &C) {
        self.touched = None;
        if self.kept.is_some() || self.whole.is_some() {
            return;
        }
        self.read_whole(x).await;
    }

    /// Inside the migration's transaction, just before it commits (PostgreSQL): what it touched. Never fails (an
    /// error is logged, and the schema is then read whole after the commit), and opens only what the migration has
    /// locked already.
    pub async fn before_commit<C: ConnectionTrait>(&mut self, x: &C) {
        let Some(kept) = &self.kept else { return };
        match touched(x, kept).await {
            Ok(t) => self.touched = Some(t),
            Err(e) => tracing::warn!(error = %e, "reading what a migration touched; the schema is read whole after it"),
        }
    }

    /// Just after the migration committed: what it did.
    pub async fn after<C: ConnectionTrait>(&mut self, x: &C, revision: &str, name: &str, action: &str) -> Impact {
        if let (Some(kept), Some(mut t)) = (self.kept.as_mut(), self.touched.take()) {
            let unknown = match t.unknown.is_empty() {
                true => Ok(Vec::new()),
                false => read_pg(x, Some(&t.unknown)).await,
            };
            match unknown {
                Ok(read) => {
                    t.read.extend(read);
                    let relations_before = kept.by_key.len();
                    let bytes_before = total(kept.relations(), true);
                    let (was, now) = kept.apply(&t.locked, t.read);
                    // What it touched: the tables it locked, and those of the indexes it locked, before and after.
                    let tables = touched_tables(
                        was.iter().chain(&now).map(|r| (r.kind.as_str(), r.table.as_deref(), r.name.as_str())),
                    );
                    let (indexes_before, indexes_after) =
                        (indexes_of(was.iter(), &tables), indexes_of(now.iter(), &tables));
                    let part = |relations| Snapshot { relations, note: None, tables_include_indexes: true };
                    let changes = compare(revision, name, action, &part(was), &part(now)).changes;
                    return Impact {
                        revision: revision.to_string(),
                        name: name.to_string(),
                        action: action.to_string(),
                        changes,
                        relations_before,
                        relations_after: kept.by_key.len(),
                        bytes_before,
                        bytes_after: total(kept.relations(), true),
                        indexes_before,
                        indexes_after,
                        note: None,
                    };
                }
                Err(e) => tracing::warn!(error = %e, "reading the relations a migration touched; reading them all"),
            }
        }
        let before = match (self.kept.take(), self.whole.take()) {
            (Some(kept), _) => kept.snapshot(),
            (None, Some(whole)) => whole,
            (None, None) => Snapshot::default(),
        };
        self.read_whole(x).await;
        let after = match (&self.kept, &self.whole) {
            (Some(kept), _) => kept.snapshot(),
            (None, Some(whole)) => whole.clone(),
            (None, None) => Snapshot::default(),
        };
        compare(revision, name, action, &before, &after)
    }

    /// Reads the whole schema: kept by oid on PostgreSQL (up to [`MAX_RELATIONS`]), as a [`Snapshot`] elsewhere.
    async fn read_whole<C: ConnectionTrait>(&mut self, x: &C) {
        if x.get_database_backend() == DbBackend::Postgres
            && let Ok(rows) = read_pg(x, None).await
            && let Some(kept) = KeptSchema::new(rows)
        {
            self.kept = Some(kept);
            self.whole = None;
            return;
        }
        self.kept = None;
        self.whole = Some(snapshot(x).await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(name: &str, kind: &str, bytes: i64, file: i64) -> Relation {
        Relation {
            name: name.into(),
            kind: kind.into(),
            table: (kind == "index").then(|| "t".into()),
            bytes: Some(bytes),
            rows: None,
            file: Some(file),
        }
    }

    #[test]
    fn a_new_index_a_rewrite_and_a_drop_are_told_apart() {
        let before = Snapshot {
            relations: vec![rel("t", "table", 8192, 1), rel("u", "table", 16384, 2), rel("v", "table", 100, 3)],
            ..Snapshot::default()
        };
        let after = Snapshot {
            relations: vec![rel("t", "table", 8192, 1), rel("t_idx", "index", 16384, 4), rel("u", "table", 8192, 5)],
            ..Snapshot::default()
        };
        let impact = compare("r1", "m_r1", "upgrade", &before, &after);
        let what: Vec<(&str, &str)> = impact.changes.iter().map(|c| (c.name.as_str(), c.change.as_str())).collect();
        assert_eq!(what, vec![("u", "rewritten"), ("v", "dropped"), ("t_idx", "added")]);
        assert_eq!(impact.indexes_after, vec!["t.t_idx".to_string()]);
        assert_eq!(impact.bytes_delta(), Some(8192 + 16384 + 8192 - 8192 - 16384 - 100));
    }

    #[test]
    fn the_index_lists_name_the_touched_tables_indexes_only() {
        let index = |name: &str, table: &str, bytes: i64| Relation {
            table: Some(table.into()),
            ..rel(name, "index", bytes, bytes)
        };
        let untouched = [rel("w", "table", 8192, 7), index("w_idx", "w", 16)];
        let before = Snapshot {
            relations: [vec![rel("t", "table", 8192, 1), index("t_a", "t", 8)], untouched.to_vec()].concat(),
            ..Snapshot::default()
        };
        let after = Snapshot {
            relations: [
                vec![rel("t", "table", 16384, 1), index("t_a", "t", 8), index("t_b", "t", 9)],
                untouched.to_vec(),
            ]
            .concat(),
            ..Snapshot::default()
        };
        let impact = compare("r1", "m_r1", "upgrade", &before, &after);
        assert_eq!(impact.indexes_before, vec!["t.t_a".to_string()]);
        assert_eq!(impact.indexes_after, vec!["t.t_a".to_string(), "t.t_b".to_string()]);
        assert_eq!((impact.relations_before, impact.relations_after), (4, 5));
    }

    #[test]
    fn a_report_kept_before_the_index_list_before_existed_still_reads() {
        let old = r#"{"revision":"r1","name":"m_r1","action":"upgrade","changes":[],"relations_before":1,
            "relations_after":1,"bytes_before":8192,"bytes_after":8192,"indexes_after":["t.t_a"],"note":null}"#;
        let impact: Impact = serde_json::from_str(old).expect("an old report reads");
        assert!(impact.indexes_before.is_empty());
        assert_eq!(impact.indexes_after, vec!["t.t_a".to_string()]);
    }
}
