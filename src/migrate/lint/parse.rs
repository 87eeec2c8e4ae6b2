//! What a statement does, as far as the rules care: which table it creates, indexes, alters or drops, and how.

use sea_orm::DbBackend;

use super::lexer::{Tok, tokens};

/// One statement's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    CreateTable {
        table: String,
    },
    /// `at` is the byte offset just after the `INDEX` keyword (where `CONCURRENTLY` goes).
    CreateIndex {
        table: String,
        concurrently: bool,
        online: bool,
        at: usize,
    },
    DropTable {
        tables: Vec<String>,
    },
    Alter {
        table: String,
        ops: Vec<Op>,
        online: bool,
    },
    /// MariaDB/MySQL `RENAME TABLE a TO b, ...`.
    RenameTables {
        pairs: Vec<(String, String)>,
    },
    /// `SET [LOCAL|SESSION] lock_timeout ...`.
    SetLockTimeout,
    Other,
}

/// One action of an `ALTER TABLE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    AddColumn { column: String, not_null: bool, default: Option<Default>, stored: bool, references: bool },
    AddForeignKey { not_valid: bool },
    ValidateConstraint,
    SetNotNull { column: String },
    ChangeType { column: String },
    DropColumn { column: String },
    RenameColumn { from: String, to: String },
    RenameTo { to: String },
    Other,
}

/// A column default, by whether computing it once per row rewrites the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Default {
    /// A constant or a stable function (`now()`, `CURRENT_TIMESTAMP`): PostgreSQL 11+ stores it once.
    Stable,
    /// Calls this function, volatile or unknown.
    Volatile(String),
}

/// Functions PostgreSQL evaluates once per statement (stable or immutable): a default calling only these is
/// stored in the catalog instead of written to every row.
const STABLE_FUNCTIONS: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "transaction_timestamp",
    "statement_timestamp",
    "current_user",
    "session_user",
    "current_setting",
    "lower",
    "upper",
    "coalesce",
    "cast",
    "to_char",
    "to_date",
    "to_timestamp",
    "date_trunc",
    "length",
    "abs",
    "round",
    "concat",
    "json_build_object",
    "jsonb_build_object",
    "array",
    "make_interval",
    "interval",
];

/// Reads a statement's shape.
pub fn shape(sql: &str, backend: DbBackend) -> Shape {
    let toks = tokens(sql, backend);
    let mut c = Cursor { t: &toks, i: 0 };
    if c.eat("CREATE") {
        c.eat("OR");
        c.eat("REPLACE");
        while c.eat("TEMP") || c.eat("TEMPORARY") || c.eat("UNLOGGED") || c.eat("GLOBAL") || c.eat("LOCAL") {}
        if c.eat("TABLE") {
            c.eat_all(&["IF", "NOT", "EXISTS"]);
            return c.name().map_or(Shape::Other, |table| Shape::CreateTable { table });
        }
        c.eat("UNIQUE");
        c.eat("FULLTEXT");
        c.eat("SPATIAL");
        if c.peek_is("INDEX") {
            let at = c.t[c.i].0 + "INDEX".len();
            c.i += 1;
            let concurrently = c.eat("CONCURRENTLY");
            c.eat_all(&["IF", "NOT", "EXISTS"]);
            if !c.peek_is("ON") {
                c.name();
            }
            if !c.eat("ON") {
                return Shape::Other;
            }
            c.eat("ONLY");
            let Some(table) = c.name() else { return Shape::Other };
            let online = online_options(&toks[c.i..]);
            return Shape::CreateIndex { table, concurrently, online, at };
        }
        return Shape::Other;
    }
    if c.eat("DROP") {
        if c.eat("TABLE") {
            c.eat_all(&["IF", "EXISTS"]);
            let mut tables = Vec::new();
            while let Some(t) = c.name() {
                tables.push(t);
                if !c.eat_punct(',') {
                    break;
                }
            }
            return Shape::DropTable { tables };
        }
        return Shape::Other;
    }
    if c.eat("ALTER") && c.eat("TABLE") {
        c.eat_all(&["IF", "EXISTS"]);
        c.eat("ONLY");
        let Some(table) = c.name() else { return Shape::Other };
        let rest = &toks[c.i..];
        let ops = split_top(rest, ',').into_iter().map(|op| alter_op(op, backend)).collect();
        return Shape::Alter { table, ops, online: online_options(rest) };
    }
    if c.eat("RENAME") && c.eat("TABLE") {
        let mut pairs = Vec::new();
        while let Some(from) = c.name() {
            if !c.eat("TO") {
                break;
            }
            let Some(to) = c.name() else { break };
            pairs.push((from, to));
            if !c.eat_punct(',') {
                break;
            }
        }
        return Shape::RenameTables { pairs };
    }
    if c.eat("SET") {
        c.eat("LOCAL");
        c.eat("SESSION");
        if c.eat("LOCK_TIMEOUT") {
            return Shape::SetLockTimeout;
        }
    }
    Shape::Other
}

/// One `ALTER TABLE` action, from its tokens.
fn alter_op(t: &[(usize, Tok)], backend: DbBackend) -> Op {
    let mut c = Cursor { t, i: 0 };
    if c.eat("ADD") {
        if c.eat("CONSTRAINT") {
            c.name();
        }
        if c.eat_all(&["FOREIGN", "KEY"]) {
            return Op::AddForeignKey { not_valid: has_seq(t, &["NOT", "VALID"]) };
        }
        for kw in ["PRIMARY", "UNIQUE", "CHECK", "INDEX", "KEY", "FULLTEXT", "SPATIAL", "EXCLUDE", "PARTITION"] {
            if c.peek_is(kw) {
                return Op::Other;
            }
        }
        c.eat("COLUMN");
        c.eat_all(&["IF", "NOT", "EXISTS"]);
        let Some(column) = c.name() else { return Op::Other };
        return add_column(column, &t[c.i..], backend);
    }
    if c.eat("ALTER") {
        c.eat("COLUMN");
        let Some(column) = c.name() else { return Op::Other };
        if c.eat("TYPE") || c.eat_all(&["SET", "DATA", "TYPE"]) {
            return Op::ChangeType { column };
        }
        if c.eat_all(&["SET", "NOT", "NULL"]) {
            return Op::SetNotNull { column };
        }
        return Op::Other;
    }
    // MariaDB/MySQL: MODIFY c <definition>, CHANGE old new <definition>
    if c.eat("MODIFY") {
        c.eat("COLUMN");
        return c.name().map_or(Op::Other, |column| Op::ChangeType { column });
    }
    if c.eat("CHANGE") {
        c.eat("COLUMN");
        return c.name().map_or(Op::Other, |column| Op::ChangeType { column });
    }
    if c.eat("DROP") {
        for kw in ["CONSTRAINT", "INDEX", "KEY", "PRIMARY", "FOREIGN", "CHECK", "DEFAULT", "PARTITION"] {
            if c.peek_is(kw) {
                return Op::Other;
            }
        }
        c.eat("COLUMN");
        c.eat_all(&["IF", "EXISTS"]);
        return c.name().map_or(Op::Other, |column| Op::DropColumn { column });
    }
    if c.eat("RENAME") {
        if c.eat("TO") || c.eat("AS") {
            return c.name().map_or(Op::Other, |to| Op::RenameTo { to });
        }
        if c.peek_is("INDEX") || c.peek_is("KEY") || c.peek_is("CONSTRAINT") {
            return Op::Other;
        }
        c.eat("COLUMN");
        let Some(from) = c.name() else { return Op::Other };
        if !c.eat("TO") {
            return Op::Other;
        }
        return c.name().map_or(Op::Other, |to| Op::RenameColumn { from, to });
    }
    if c.eat("VALIDATE") && c.eat("CONSTRAINT") {
        return Op::ValidateConstraint;
    }
    Op::Other
}

/// `ADD COLUMN name <type and constraints>`.
fn add_column(column: String, t: &[(usize, Tok)], backend: DbBackend) -> Op {
    let mut not_null = false;
    let mut default = None;
    let mut stored = false;
    let mut references = false;
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        let tok = &t[i].1;
        match tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            w if w.is("NOT") && t.get(i + 1).is_some_and(|n| n.1.is("NULL")) => not_null = true,
            w if w.is("REFERENCES") => references = true,
            w if w.is("STORED") || (w.is("PERSISTENT") && backend == DbBackend::MySql) => stored = true,
            w if w.is("DEFAULT") => {
                let end = (i + 1..t.len()).find(|&j| ends_default(&t[j].1)).unwrap_or(t.len());
                default = Some(classify_default(&t[i + 1..end]));
                // parentheses inside the default were walked by `classify_default`
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Op::AddColumn { column, not_null, default, stored, references }
}

/// Words after which a column definition's default expression is over.
fn ends_default(t: &Tok) -> bool {
    ["NOT", "NULL", "CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "REFERENCES", "GENERATED", "COLLATE", "COMMENT"]
        .iter()
        .any(|kw| t.is(kw))
}

fn classify_default(expr: &[(usize, Tok)]) -> Default {
    for w in expr.windows(2) {
        if let (Tok::Word { text, .. }, Tok::Punct('(')) = (&w[0].1, &w[1].1) {
            let f = text.to_lowercase();
            if !STABLE_FUNCTIONS.contains(&f.as_str()) {
                return Default::Volatile(f);
            }
        }
    }
    Default::Stable
}

/// MariaDB/MySQL `ALGORITHM = INSTANT | INPLACE` (or `NOCOPY`) among the options: the server refuses instead of
/// copying the table.
fn online_options(t: &[(usize, Tok)]) -> bool {
    t.iter().enumerate().any(|(i, (_, tok))| {
        tok.is("ALGORITHM")
            && t[i + 1..]
                .iter()
                .map(|x| &x.1)
                .find(|x| !matches!(x, Tok::Punct('=')))
                .is_some_and(|v| v.is("INSTANT") || v.is("INPLACE") || v.is("NOCOPY"))
    })
}

fn has_seq(t: &[(usize, Tok)], kws: &[&str]) -> bool {
    t.windows(kws.len()).any(|w| w.iter().zip(kws).all(|(x, k)| x.1.is(k)))
}

/// Splits tokens at `sep` outside parentheses.
fn split_top(t: &[(usize, Tok)], sep: char) -> Vec<&[(usize, Tok)]> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    for (i, (_, tok)) in t.iter().enumerate() {
        match tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            Tok::Punct(c) if *c == sep && depth == 0 => {
                out.push(&t[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&t[from..]);
    out
}

struct Cursor<'a> {
    t: &'a [(usize, Tok)],
    i: usize,
}

impl Cursor<'_> {
    fn peek_is(&self, kw: &str) -> bool {
        self.t.get(self.i).is_some_and(|t| t.1.is(kw))
    }

    fn eat(&mut self, kw: &str) -> bool {
        let hit = self.peek_is(kw);
        if hit {
            self.i += 1;
        }
        hit
    }

    /// Eats all of `kws` in a row, or nothing.
    fn eat_all(&mut self, kws: &[&str]) -> bool {
        let hit = kws.iter().enumerate().all(|(k, kw)| self.t.get(self.i + k).is_some_and(|t| t.1.is(kw)));
        if hit {
            self.i += kws.len();
        }
        hit
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let hit = self.t.get(self.i).is_some_and(|t| t.1 == Tok::Punct(c));
        if hit {
            self.i += 1;
        }
        hit
    }

    /// A possibly qualified name (`schema.table`): its last part.
    fn name(&mut self) -> Option<String> {
        let mut last = self.t.get(self.i)?.1.name()?;
        self.i += 1;
        while self.t.get(self.i).is_some_and(|t| t.1 == Tok::Punct('.')) {
            match self.t.get(self.i + 1).and_then(|t| t.1.name()) {
                Some(n) => {
                    last = n;
                    self.i += 2;
                }
                None => break,
            }
        }
        Some(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_shapes() {
        let pg = DbBackend::Postgres;
        assert_eq!(
            shape("CREATE UNIQUE INDEX IF NOT EXISTS \"i\" ON \"public\".\"Big\" (a)", pg),
            Shape::CreateIndex { table: "Big".into(), concurrently: false, online: false, at: 19 }
        );
        assert!(matches!(shape("create index concurrently on big (a)", pg),
            Shape::CreateIndex { ref table, concurrently: true, .. } if table == "big"));
        assert!(matches!(
            shape("CREATE INDEX i ON t (a) ALGORITHM=INPLACE LOCK=NONE", DbBackend::MySql),
            Shape::CreateIndex { online: true, .. }
        ));
    }

    #[test]
    fn alter_shapes() {
        let pg = DbBackend::Postgres;
        let Shape::Alter { table, ops, .. } = shape(
            "ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid() NOT NULL, ALTER COLUMN a TYPE bigint, \
             ALTER b SET NOT NULL, DROP COLUMN c, DROP CONSTRAINT k, RENAME COLUMN d TO e",
            pg,
        ) else {
            panic!("not an alter")
        };
        assert_eq!(table, "t");
        assert_eq!(
            ops,
            vec![
                Op::AddColumn {
                    column: "u".into(),
                    not_null: true,
                    default: Some(Default::Volatile("gen_random_uuid".into())),
                    stored: false,
                    references: false
                },
                Op::ChangeType { column: "a".into() },
                Op::SetNotNull { column: "b".into() },
                Op::DropColumn { column: "c".into() },
                Op::Other,
                Op::RenameColumn { from: "d".into(), to: "e".into() },
            ]
        );
        let Shape::Alter { ops, .. } = shape(
            "ALTER TABLE t ADD COLUMN at timestamp DEFAULT now(), ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID",
            pg,
        ) else {
            panic!()
        };
        assert!(matches!(ops[0], Op::AddColumn { default: Some(Default::Stable), not_null: false, .. }));
        assert_eq!(ops[1], Op::AddForeignKey { not_valid: true });
    }

    #[test]
    fn mysql_alter_options_and_renames() {
        let my = DbBackend::MySql;
        assert!(matches!(
            shape("ALTER TABLE `t` ADD COLUMN `c` int, ALGORITHM = INSTANT", my),
            Shape::Alter { online: true, .. }
        ));
        assert!(matches!(shape("ALTER TABLE `t` MODIFY `c` bigint", my),
            Shape::Alter { online: false, ref ops, .. } if ops[0] == Op::ChangeType { column: "c".into() }));
        assert_eq!(
            shape("RENAME TABLE a TO b, c TO d", my),
            Shape::RenameTables { pairs: vec![("a".into(), "b".into()), ("c".into(), "d".into())] }
        );
        assert_eq!(shape("SET LOCAL lock_timeout = '2s'", DbBackend::Postgres), Shape::SetLockTimeout);
    }
}
