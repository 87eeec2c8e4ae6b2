//! Indexes on MariaDB/MySQL: columns, uniqueness, sizes, usage when the server counts it, and redundancy.
//!
//! Redundancy uses the shared rule in [`crate::db::introspect::redundant`]; a key part compares as its
//! column with its prefix length and ASC/DESC. Sizes are InnoDB's persistent statistics (`size` pages ×
//! `innodb_page_size`, as of the last statistics update). Usage comes from `performance_schema` (no I/O
//! on the index since the server started = unused, as `sys.schema_unused_indexes` decides) or from
//! MariaDB's user statistics (no row read through it since FLUSH INDEX_STATISTICS or start); without
//! either, no index is called unused.
//!
//! InnoDB needs an index whose first columns are a foreign key's columns (on the referencing table)
//! or its referenced columns (on the referenced table). An unused index that is the only one serving a
//! foreign key cannot be dropped alone: its suggested statement says so in a comment. A redundant index
//! never is the only one: the index that covers it begins with the same columns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sea_orm::FromQueryResult;

use super::tables::KeyColumnRow;
use super::{DdlCount, Features, MySql, Usage, quote_ident};
use crate::db::introspect::redundant::{IndexShape, redundant_to};
use crate::db::introspect::{IndexInfo, IndexQuery, IndexSort, Page, page_of_indexes};
use crate::error::Result;

/// Every index of the current database with its key parts, and the assessment without usage counts, as read
/// under one DDL count: reused while the count stays, since no index can have changed without moving it.
pub(super) struct Kept {
    count: DdlCount,
    facts: Arc<Vec<IndexFacts>>,
    assessed: Arc<Vec<IndexInfo>>,
}

/// Key parts of every index of the current database, `{which}` being [`EVERY_TABLE`] or [`ONE_TABLE`]. Read
/// from each table's definition only (`information_schema` opens no table for these columns).
const INDEXES_SQL: &str = r"
SELECT s.TABLE_SCHEMA AS schema_name, s.TABLE_NAME AS table_name, s.INDEX_NAME AS index_name,
       CAST(s.NON_UNIQUE AS SIGNED) AS non_unique, CAST(s.SEQ_IN_INDEX AS SIGNED) AS seq,
       s.COLUMN_NAME AS column_name, s.COLLATION AS collation, CAST(s.SUB_PART AS SIGNED) AS sub_part,
       s.INDEX_TYPE AS index_type
FROM information_schema.STATISTICS s
WHERE s.TABLE_SCHEMA = DATABASE(){which}
ORDER BY CAST(s.TABLE_NAME AS BINARY), s.INDEX_NAME, s.SEQ_IN_INDEX";

const EVERY_TABLE: &str = "";

/// The table `?` (twice), by a plain equality `information_schema` answers by reading that table only.
const ONE_TABLE: &str = " AND s.TABLE_NAME = ? AND CAST(s.TABLE_NAME AS BINARY) = CAST(? AS BINARY)";

/// Index sizes from InnoDB's persistent statistics, `{which}` being [`EVERY_TABLE`] or [`SOME_TABLES`].
const SIZES_SQL: &str = r"
SELECT s.table_name, s.index_name, CAST(s.stat_value * @@innodb_page_size AS SIGNED) AS size_bytes
FROM mysql.innodb_index_stats s
WHERE s.database_name = DATABASE() AND s.stat_name = 'size'{which}";

/// The tables named in `{names}` (one `?` each), read along the statistics' primary key.
const SOME_TABLES: &str = " AND s.table_name IN ({names})";

/// I/O through each index since the server started.
const PERFORMANCE_SCHEMA_USAGE_SQL: &str = r"
SELECT u.OBJECT_NAME AS table_name, u.INDEX_NAME AS index_name, CAST(u.COUNT_STAR AS SIGNED) AS events,
       CAST(u.COUNT_READ AS SIGNED) AS rows_read
FROM performance_schema.table_io_waits_summary_by_index_usage u
WHERE u.OBJECT_SCHEMA = DATABASE() AND u.INDEX_NAME IS NOT NULL";

/// Rows read through each index since the statistics were flushed (indexes never read have no row).
const USER_STATISTICS_USAGE_SQL: &str = r"
SELECT u.TABLE_NAME AS table_name, u.INDEX_NAME AS index_name, CAST(u.ROWS_READ AS SIGNED) AS events,
       CAST(u.ROWS_READ AS SIGNED) AS rows_read
FROM information_schema.INDEX_STATISTICS u
WHERE u.TABLE_SCHEMA = DATABASE()";

#[derive(Clone, Debug, Default, FromQueryResult)]
struct PartRow {
    schema_name: String,
    table_name: String,
    index_name: String,
    non_unique: i64,
    seq: i64,
    /// NULL for a MySQL 8 functional key part.
    column_name: Option<String>,
    /// `A`, `D`, or NULL (not sorted: HASH, FULLTEXT).
    collation: Option<String>,
    sub_part: Option<i64>,
    index_type: String,
}

#[derive(FromQueryResult)]
struct SizeRow {
    table_name: String,
    index_name: String,
    size_bytes: Option<i64>,
}

#[derive(FromQueryResult)]
struct UsageRow {
    table_name: String,
    index_name: String,
    events: Option<i64>,
    rows_read: Option<i64>,
}

#[derive(FromQueryResult)]
pub(super) struct ForeignKeyColumnRow {
    constraint_name: String,
    from_schema: String,
    from_table: String,
    from_column: String,
    to_schema: Option<String>,
    to_table: Option<String>,
    to_column: Option<String>,
}

impl ForeignKeyColumnRow {
    /// The row of a foreign key's column among a table's key columns; `None` for other constraints.
    fn of_key(k: &KeyColumnRow) -> Option<ForeignKeyColumnRow> {
        k.to_table.as_ref()?;
        Some(ForeignKeyColumnRow {
            constraint_name: k.constraint_name.clone(),
            from_schema: k.from_schema.clone(),
            from_table: k.from_table.clone(),
            from_column: k.column_name.clone(),
            to_schema: k.to_schema.clone(),
            to_table: k.to_table.clone(),
            to_column: k.to_column.clone(),
        })
    }
}

/// One index with its key parts and what the server counts about it.
#[derive(Clone, Debug, Default)]
struct IndexFacts {
    schema: String,
    table: String,
    name: String,
    unique: bool,
    method: String,
    parts: Vec<PartRow>,
    size_bytes: Option<i64>,
    /// `None` when the server does not count usage (or has no row for this index and absence means nothing).
    events: Option<i64>,
    rows_read: Option<i64>,
}

/// A foreign key end that needs an index: the table, its key columns, the key's name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyNeed {
    table: String,
    columns: Vec<String>,
    constraint: String,
}

impl IndexFacts {
    fn primary(&self) -> bool {
        self.name == "PRIMARY"
    }

    fn columns(&self) -> Vec<String> {
        self.parts.iter().map(|p| p.column_name.clone().unwrap_or_else(|| "(expression)".into())).collect()
    }

    fn shape(&self) -> IndexShape {
        let keys = self
            .parts
            .iter()
            .map(|p| {
                let column = match &p.column_name {
                    Some(c) => format!("column {}", c.to_lowercase()),
                    // A functional key part this catalog does not describe: never equal to another.
                    None => format!("expression ? {} {}", self.name, p.seq),
                };
                let prefix = p.sub_part.map(|n| format!("({n})")).unwrap_or_default();
                format!("{column}{prefix} {}", p.collation.as_deref().unwrap_or("-"))
            })
            .collect();
        IndexShape {
            table: self.table.clone(),
            name: self.name.clone(),
            method: self.method.clone(),
            keys,
            predicate: None,
            unique: self.unique,
            primary: self.primary(),
            // Every unique index is a UNIQUE constraint on MariaDB/MySQL.
            constraint: self.unique,
            valid: true,
        }
    }

    /// `CREATE INDEX` as it would be written (the catalog keeps no statement text).
    fn definition(&self) -> String {
        let parts = self
            .parts
            .iter()
            .map(|p| {
                let mut s = p.column_name.as_deref().map(quote_ident).unwrap_or_else(|| "(expression)".into());
                if let Some(n) = p.sub_part {
                    s.push_str(&format!("({n})"));
                }
                if p.collation.as_deref() == Some("D") {
                    s.push_str(" DESC");
                }
                s
            })
            .collect::<Vec<_>>()
            .join(", ");
        if self.primary() {
            return format!("ALTER TABLE {} ADD PRIMARY KEY ({parts})", quote_ident(&self.table));
        }
        let kind = match (self.unique, self.method.as_str()) {
            (_, "fulltext") => "FULLTEXT ",
            (_, "spatial") => "SPATIAL ",
            (true, _) => "UNIQUE ",
            (false, _) => "",
        };
        let using = if matches!(self.method.as_str(), "btree" | "hash") {
            format!(" USING {}", self.method.to_uppercase())
        } else {
            String::new()
        };
        format!("CREATE {kind}INDEX {} ON {} ({parts}){using}", quote_ident(&self.name), quote_ident(&self.table))
    }

    fn drop_sql(&self) -> String {
        if self.primary() {
            format!("ALTER TABLE {} DROP PRIMARY KEY;", quote_ident(&self.table))
        } else {
            format!("ALTER TABLE {} DROP INDEX {};", quote_ident(&self.table), quote_ident(&self.name))
        }
    }

    /// True when the index's first columns are exactly the given ones, in order (case aside).
    fn leads_with(&self, columns: &[String]) -> bool {
        columns.len() <= self.parts.len()
            && columns.iter().zip(&self.parts).all(|(c, p)| {
                p.sub_part.is_none() && p.column_name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(c))
            })
    }
}

/// Key parts grouped into indexes, in the order read.
fn group_parts(rows: Vec<PartRow>) -> Vec<IndexFacts> {
    let mut indexes: Vec<IndexFacts> = Vec::new();
    for p in rows {
        let same = indexes.last().is_some_and(|i| i.table == p.table_name && i.name == p.index_name);
        if !same {
            indexes.push(IndexFacts {
                schema: p.schema_name.clone(),
                table: p.table_name.clone(),
                name: p.index_name.clone(),
                unique: p.non_unique == 0,
                method: p.index_type.to_lowercase(),
                ..IndexFacts::default()
            });
        }
        indexes.last_mut().expect("pushed above").parts.push(p);
    }
    indexes
}

/// A foreign key gathered from its column rows: (referenced schema, referenced table, columns, referenced columns).
type GatheredKey = (Option<String>, Option<String>, Vec<String>, Vec<String>);

/// Foreign key ends of the current database that need an index.
fn key_needs(rows: Vec<ForeignKeyColumnRow>, schema: &str) -> Vec<KeyNeed> {
    let mut keys: BTreeMap<(String, String, String), GatheredKey> = BTreeMap::new();
    for r in rows {
        let entry = keys
            .entry((r.from_schema.clone(), r.from_table.clone(), r.constraint_name.clone()))
            .or_insert_with(|| (r.to_schema.clone(), r.to_table.clone(), Vec::new(), Vec::new()));
        entry.2.push(r.from_column);
        entry.3.extend(r.to_column);
    }
    let mut needs = Vec::new();
    for ((from_schema, from_table, constraint), (to_schema, to_table, from, to)) in keys {
        if from_schema == schema {
            needs.push(KeyNeed { table: from_table, columns: from, constraint: constraint.clone() });
        }
        if let (Some(to_schema), Some(to_table)) = (to_schema, to_table)
            && to_schema == schema
        {
            needs.push(KeyNeed { table: to_table, columns: to, constraint });
        }
    }
    needs
}

/// Turns catalog facts into the shared model, deciding unused, redundant and the suggested statement.
fn assess(indexes: Vec<IndexFacts>, needs: &[KeyNeed], usage_counted: bool) -> Vec<IndexInfo> {
    let shapes: Vec<IndexShape> = indexes.iter().map(IndexFacts::shape).collect();
    let duplicates = redundant_to(&shapes);
    let sole_server = |i: &IndexFacts| -> Option<&str> {
        needs
            .iter()
            .filter(|n| n.table == i.table && i.leads_with(&n.columns))
            .find(|n| !indexes.iter().any(|o| o.table == i.table && o.name != i.name && o.leads_with(&n.columns)))
            .map(|n| n.constraint.as_str())
    };
    indexes
        .iter()
        .zip(duplicates)
        .map(|(i, duplicate_of)| {
            let unused = usage_counted && i.events == Some(0) && !i.unique && !i.primary();
            let suggested_sql = if duplicate_of.is_some() {
                Some(i.drop_sql())
            } else if unused {
                Some(match sole_server(i) {
                    Some(fk) => format!(
                        "-- the only index serving foreign key {}: MariaDB refuses to drop it while the key exists\n{}",
                        quote_ident(fk),
                        i.drop_sql()
                    ),
                    None => i.drop_sql(),
                })
            } else {
                None
            };
            IndexInfo {
                schema: i.schema.clone(),
                table: i.table.clone(),
                name: i.name.clone(),
                method: i.method.clone(),
                columns: i.columns(),
                definition: i.definition(),
                unique: i.unique,
                primary: i.primary(),
                valid: true,
                size_bytes: i.size_bytes,
                scans: None,
                tuples_read: i.rows_read,
                unused,
                duplicate_of,
                suggested_sql,
            }
        })
        .collect()
}

impl MySql {
    /// One page of indexes. Every index's key parts are read (from table definitions only, without opening any
    /// table), so that filters, orders and duplicates are exact; sizes are read for the page (for every index
    /// in a size order), and the foreign keys an unused index may serve for the page's tables only.
    pub(super) async fn index_page(&self, query: &IndexQuery) -> Result<Page<IndexInfo>> {
        let features = self.features().await;
        let (facts, assessed) = self.every_index().await?;
        let Some(schema) = facts.first().map(|i| i.schema.clone()) else {
            return Ok(page_of_indexes(&[], query));
        };
        let counted = features.usage != Usage::Unavailable;
        // Usage counts and sizes move with the data: read now, on a copy of the kept facts when every index needs them.
        let mut indexes: Vec<IndexFacts> = Vec::new();
        let mut page = if counted || query.sort == IndexSort::Size {
            indexes = facts.as_ref().clone();
            self.read_usage(features, &mut indexes).await?;
            if query.sort == IndexSort::Size {
                self.read_sizes(features, &mut indexes, None).await?;
            }
            page_of_indexes(&assess(indexes.clone(), &[], counted), query)
        } else {
            page_of_indexes(assessed.iter(), query)
        };
        // The page's tables' facts (with usage when counted).
        let on_page: BTreeSet<&str> = page.items.iter().map(|i| i.table.as_str()).collect();
        let source: &[IndexFacts] = if indexes.is_empty() { &facts } else { &indexes };
        let indexes: Vec<IndexFacts> = source.iter().filter(|i| on_page.contains(i.table.as_str())).cloned().collect();
        if query.sort != IndexSort::Size {
            let tables: BTreeSet<String> = page.items.iter().map(|i| i.table.clone()).collect();
            let mut facts: Vec<IndexFacts> = indexes.iter().filter(|i| tables.contains(&i.table)).cloned().collect();
            self.read_sizes(features, &mut facts, Some(&tables)).await?;
            let sizes: BTreeMap<(&str, &str), Option<i64>> =
                facts.iter().map(|i| ((i.table.as_str(), i.name.as_str()), i.size_bytes)).collect();
            for item in &mut page.items {
                item.size_bytes = sizes.get(&(item.table.as_str(), item.name.as_str())).copied().flatten();
            }
        }
        // An unused index's statement says when it alone serves a foreign key: asked for its table only.
        let tables: BTreeSet<String> =
            page.items.iter().filter(|i| i.unused && i.duplicate_of.is_none()).map(|i| i.table.clone()).collect();
        if tables.is_empty() {
            return Ok(page);
        }
        let mut fk_rows = Vec::new();
        let mut seen: BTreeSet<(String, String, String)> = BTreeSet::new();
        for table in &tables {
            let rows: Vec<ForeignKeyColumnRow> =
                self.key_columns(table).await?.iter().filter_map(ForeignKeyColumnRow::of_key).collect();
            let key =
                |r: &ForeignKeyColumnRow| (r.from_schema.clone(), r.from_table.clone(), r.constraint_name.clone());
            // A key between two of these tables comes with both: kept once.
            let new: Vec<ForeignKeyColumnRow> = rows.into_iter().filter(|r| !seen.contains(&key(r))).collect();
            seen.extend(new.iter().map(key));
            fk_rows.extend(new);
        }
        let needs = key_needs(fk_rows, &schema);
        let facts: Vec<IndexFacts> = indexes.into_iter().filter(|i| tables.contains(&i.table)).collect();
        let judged: BTreeMap<(String, String), Option<String>> =
            assess(facts, &needs, counted).into_iter().map(|i| ((i.table, i.name), i.suggested_sql)).collect();
        for item in page.items.iter_mut().filter(|i| i.unused && i.duplicate_of.is_none()) {
            if let Some(sql) = judged.get(&(item.table.clone(), item.name.clone())) {
                item.suggested_sql = sql.clone();
            }
        }
        Ok(page)
    }

    /// Every index of the current database and its assessment without usage, reused while no statement that
    /// can change an index ran on the server (see [`DdlCount`]).
    async fn every_index(&self) -> Result<(Arc<Vec<IndexFacts>>, Arc<Vec<IndexInfo>>)> {
        // Counted before the indexes are read: a change in between leaves them under an older count, read again.
        let count = self.ddl_count().await?;
        if let Some(count) = count {
            let kept = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = kept.as_ref().filter(|k| k.count.same_as(&count)) {
                return Ok((k.facts.clone(), k.assessed.clone()));
            }
        }
        let facts = group_parts(self.all(&INDEXES_SQL.replace("{which}", EVERY_TABLE), []).await?);
        let assessed = Arc::new(assess(facts.clone(), &[], false));
        let facts = Arc::new(facts);
        if let Some(count) = count {
            let kept = Kept { count, facts: facts.clone(), assessed: assessed.clone() };
            *self.indexes.lock().unwrap_or_else(|p| p.into_inner()) = Some(kept);
        }
        Ok((facts, assessed))
    }

    /// The indexes of one table, with the key columns read for its detail (its foreign keys at both ends).
    pub(super) async fn table_indexes(&self, table: &str, keys: &[KeyColumnRow]) -> Result<Vec<IndexInfo>> {
        let features = self.features().await;
        let sql = INDEXES_SQL.replace("{which}", ONE_TABLE);
        let mut indexes = group_parts(self.all(&sql, [table.into(), table.into()]).await?);
        let Some(schema) = indexes.first().map(|i| i.schema.clone()) else { return Ok(Vec::new()) };
        self.read_sizes(features, &mut indexes, Some(&BTreeSet::from([table.to_string()]))).await?;
        let counted = self.read_usage(features, &mut indexes).await?;
        let needs = key_needs(keys.iter().filter_map(ForeignKeyColumnRow::of_key).collect(), &schema);
        let needs: Vec<KeyNeed> = needs.into_iter().filter(|n| n.table == table).collect();
        Ok(assess(indexes, &needs, counted))
    }

    /// Fills in sizes from InnoDB's persistent statistics, of every table or of the named ones.
    async fn read_sizes(
        &self,
        features: Features,
        indexes: &mut [IndexFacts],
        tables: Option<&BTreeSet<String>>,
    ) -> Result<()> {
        if !features.index_sizes || tables.is_some_and(BTreeSet::is_empty) {
            return Ok(());
        }
        let (sql, values) = match tables {
            None => (SIZES_SQL.replace("{which}", EVERY_TABLE), Vec::new()),
            Some(tables) => {
                let names = vec!["?"; tables.len()].join(", ");
                let values: Vec<sea_orm::Value> = tables.iter().map(|t| t.as_str().into()).collect();
                (SIZES_SQL.replace("{which}", &SOME_TABLES.replace("{names}", &names)), values)
            }
        };
        let sizes: Vec<SizeRow> = self.all(&sql, values).await?;
        let sizes: BTreeMap<(String, String), Option<i64>> =
            sizes.into_iter().map(|s| ((s.table_name, s.index_name), s.size_bytes)).collect();
        for i in indexes {
            i.size_bytes = sizes.get(&(i.table.clone(), i.name.clone())).copied().flatten();
        }
        Ok(())
    }

    /// Fills in usage counts when the server keeps them; says whether it does.
    async fn read_usage(&self, features: Features, indexes: &mut [IndexFacts]) -> Result<bool> {
        let sql = match features.usage {
            Usage::PerformanceSchema => PERFORMANCE_SCHEMA_USAGE_SQL,
            Usage::UserStatistics => USER_STATISTICS_USAGE_SQL,
            Usage::Unavailable => return Ok(false),
        };
        let rows: Vec<UsageRow> = self.all(sql, []).await?;
        let counted: BTreeMap<(String, String), (Option<i64>, Option<i64>)> =
            rows.into_iter().map(|u| ((u.table_name, u.index_name), (u.events, u.rows_read))).collect();
        // User statistics list only indexes that were read; performance_schema lists every index of
        // the tables it has seen, so a missing row there means "not known".
        let missing = if features.usage == Usage::UserStatistics { (Some(0), Some(0)) } else { (None, None) };
        for i in indexes {
            (i.events, i.rows_read) = counted.get(&(i.table.clone(), i.name.clone())).copied().unwrap_or(missing);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(table: &str, name: &str, columns: &[&str], unique: bool) -> IndexFacts {
        IndexFacts {
            schema: "db".into(),
            table: table.into(),
            name: name.into(),
            unique,
            method: "btree".into(),
            parts: columns
                .iter()
                .enumerate()
                .map(|(n, c)| PartRow {
                    schema_name: "db".into(),
                    table_name: table.into(),
                    index_name: name.into(),
                    non_unique: i64::from(!unique),
                    seq: n as i64 + 1,
                    column_name: Some(c.to_string()),
                    collation: Some("A".into()),
                    sub_part: None,
                    index_type: "BTREE".into(),
                })
                .collect(),
            size_bytes: Some(16384),
            events: Some(3),
            rows_read: Some(3),
        }
    }

    #[test]
    fn duplicates_get_an_alter_table_drop_and_the_unique_index_stays() {
        let got = assess(
            vec![
                index("users", "idx_users_username", &["username"], false),
                index("users", "username", &["username"], true),
            ],
            &[],
            false,
        );
        assert_eq!(got[0].duplicate_of.as_deref(), Some("username"));
        assert_eq!(got[0].suggested_sql.as_deref(), Some("ALTER TABLE `users` DROP INDEX `idx_users_username`;"));
        assert_eq!(got[1].duplicate_of, None);
        assert_eq!(got[1].definition, "CREATE UNIQUE INDEX `username` ON `users` (`username`) USING BTREE");
        assert!(got.iter().all(|i| !i.unused), "no usage statistics, nothing is unused");
    }

    #[test]
    fn prefix_lengths_and_order_make_different_keys() {
        let mut prefix = index("t", "a10", &["a"], false);
        prefix.parts[0].sub_part = Some(10);
        let mut desc = index("t", "a_desc", &["a"], false);
        desc.parts[0].collation = Some("D".into());
        let got = assess(vec![prefix, desc, index("t", "ab", &["a", "b"], false)], &[], false);
        assert_eq!(got[0].duplicate_of, None);
        assert_eq!(got[1].duplicate_of, None);
        assert_eq!(got[0].definition, "CREATE INDEX `a10` ON `t` (`a`(10)) USING BTREE");
    }

    #[test]
    fn an_unused_index_that_alone_serves_a_foreign_key_says_so() {
        let mut alone = index("posts", "posts_user_id_fkey", &["user_id"], false);
        alone.events = Some(0);
        let mut other = index("posts", "idx_title", &["title"], false);
        other.events = Some(0);
        let needs = [KeyNeed { table: "posts".into(), columns: vec!["user_id".into()], constraint: "fk_user".into() }];
        let got = assess(vec![alone, other], &needs, true);
        assert!(got[0].unused && got[1].unused);
        let sql = got[0].suggested_sql.as_deref().unwrap();
        assert!(sql.starts_with("-- the only index serving foreign key `fk_user`"), "{sql}");
        assert!(sql.ends_with("ALTER TABLE `posts` DROP INDEX `posts_user_id_fkey`;"));
        assert_eq!(got[1].suggested_sql.as_deref(), Some("ALTER TABLE `posts` DROP INDEX `idx_title`;"));

        // With a second index starting with the key's columns, either can go.
        let mut first = index("posts", "a_user", &["user_id"], false);
        first.events = Some(0);
        let got = assess(vec![first, index("posts", "b_user_title", &["user_id", "title"], false)], &needs, true);
        assert_eq!(got[0].duplicate_of.as_deref(), Some("b_user_title"));
        assert_eq!(got[0].suggested_sql.as_deref(), Some("ALTER TABLE `posts` DROP INDEX `a_user`;"));
    }

    #[test]
    fn foreign_keys_need_indexes_at_both_ends_of_this_database() {
        let row = |c: &str, from: &str, to: &str| {
            ForeignKeyColumnRow {
                constraint_name: "fk".into(),
                from_schema: "db".into(),
                from_table: "posts".into(),
                from_column: from.into(),
                to_schema: Some("db".into()),
                to_table: Some("users".into()),
                to_column: Some(to.into()),
            }
            .with_constraint(c)
        };
        let needs = key_needs(vec![row("fk", "a", "x"), row("fk", "b", "y")], "db");
        assert_eq!(
            needs,
            [
                KeyNeed { table: "posts".into(), columns: vec!["a".into(), "b".into()], constraint: "fk".into() },
                KeyNeed { table: "users".into(), columns: vec!["x".into(), "y".into()], constraint: "fk".into() },
            ]
        );
    }

    impl ForeignKeyColumnRow {
        fn with_constraint(mut self, name: &str) -> Self {
            self.constraint_name = name.into();
            self
        }
    }
}
