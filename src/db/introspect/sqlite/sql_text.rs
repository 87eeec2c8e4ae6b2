//! Reading what SQLite keeps only as text: index key expressions and predicates, CHECKs and foreign key names.
//!
//! `sqlite_schema.sql` holds the statement as written. The pragmas tell columns, uniqueness and whether an
//! index is partial, but not an expression's text, a predicate, a CHECK, or a constraint's name: those are
//! read here with a small tokenizer that knows SQLite's quoting (`"x"`, `` `x` ``, `[x]`, `'text'`) and
//! comments, so that a parenthesis or keyword inside a name or a string is never taken for syntax.
//! When the text cannot be read, the functions say so (`None`, or nothing found) rather than guess.

/// One token with its byte range in the statement.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// A bare word (keyword or identifier), as written.
    Word(String),
    /// A quoted identifier, unquoted.
    Quoted(String),
    /// A string literal.
    Text,
    /// Any other character outside quotes: `(`, `)`, `,`, operators, digits...
    Punct(char),
}

impl Token {
    fn is_word(&self, keyword: &str) -> bool {
        matches!(&self.kind, Kind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn is(&self, c: char) -> bool {
        self.kind == Kind::Punct(c)
    }

    /// The identifier this token names, bare or quoted.
    fn ident(&self) -> Option<&str> {
        match &self.kind {
            Kind::Word(w) | Kind::Quoted(w) => Some(w),
            _ => None,
        }
    }
}

/// Splits a statement into tokens; `None` when a quote or comment is never closed.
fn tokenize(sql: &str) -> Option<Vec<Token>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = i + 2 + sql[i + 2..].find("*/")? + 2;
            }
            b'"' | b'`' | b'\'' => {
                let (text, end) = quoted(sql, i, c as char)?;
                let kind = if c == b'\'' { Kind::Text } else { Kind::Quoted(text) };
                tokens.push(Token { kind, start, end });
                i = end;
            }
            b'[' => {
                let end = i + sql[i..].find(']')? + 1;
                tokens.push(Token { kind: Kind::Quoted(sql[i + 1..end - 1].to_string()), start, end });
                i = end;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80) {
                    i += 1;
                }
                tokens.push(Token { kind: Kind::Word(sql[start..i].to_string()), start, end: i });
            }
            _ => {
                let ch = sql[i..].chars().next()?;
                i += ch.len_utf8();
                tokens.push(Token { kind: Kind::Punct(ch), start, end: i });
            }
        }
    }
    Some(tokens)
}

/// A quoted run starting at `start`, the quote doubled inside; its unquoted text and the end offset.
fn quoted(sql: &str, start: usize, quote: char) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut chars = sql[start + 1..].char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        if ch == quote {
            if chars.peek().map(|&(_, next)| next) == Some(quote) {
                chars.next();
                text.push(quote);
            } else {
                return Some((text, start + 1 + at + 1));
            }
        } else {
            text.push(ch);
        }
    }
    None
}

/// The index of the `)` matching the `(` at `open`.
fn closing(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is('(') {
            depth += 1;
        } else if t.is(')') {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// The key parts and the predicate of a `CREATE INDEX` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IndexText {
    /// Each key part as written (`"a"`, `lower(b) DESC`, `c COLLATE NOCASE`).
    pub keys: Vec<String>,
    /// The text after `WHERE`, for a partial index.
    pub predicate: Option<String>,
}

/// Reads the key list and the WHERE clause of `CREATE [UNIQUE] INDEX ... ON t (...) [WHERE ...]`.
pub(super) fn index_text(sql: &str) -> Option<IndexText> {
    let tokens = tokenize(sql)?;
    let on = tokens.iter().position(|t| t.is_word("ON"))?;
    let open = on + tokens[on..].iter().position(|t| t.is('('))?;
    let close = closing(&tokens, open)?;
    let mut keys = Vec::new();
    let mut part_start = open + 1;
    let mut depth = 0usize;
    for i in open + 1..=close {
        let t = &tokens[i];
        if t.is('(') {
            depth += 1;
        } else if t.is(')') && depth > 0 {
            depth -= 1;
        } else if (t.is(',') && depth == 0) || i == close {
            if part_start == i {
                return None; // an empty key part: not a statement we understand
            }
            keys.push(sql[tokens[part_start].start..tokens[i - 1].end].to_string());
            part_start = i + 1;
        }
    }
    let predicate = match tokens.get(close + 1) {
        Some(w) if w.is_word("WHERE") => {
            Some(sql[w.end..].trim().trim_end_matches(';').trim_end().to_string()).filter(|p| !p.is_empty())
        }
        Some(end) if end.is(';') => None,
        Some(_) => return None,
        None => None,
    };
    Some(IndexText { keys, predicate })
}

/// A CHECK constraint found in a `CREATE TABLE` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CheckText {
    /// The name given with `CONSTRAINT name`, if any.
    pub name: Option<String>,
    /// `CHECK (...)` as written.
    pub definition: String,
}

/// Every CHECK of a `CREATE TABLE` statement, column-level and table-level, in the order written.
pub(super) fn checks(sql: &str) -> Vec<CheckText> {
    let Some(tokens) = tokenize(sql) else { return Vec::new() };
    let mut found = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !t.is_word("CHECK") || !tokens.get(i + 1).is_some_and(|n| n.is('(')) {
            continue;
        }
        let Some(close) = closing(&tokens, i + 1) else { break };
        let name = (i >= 2 && tokens[i - 2].is_word("CONSTRAINT")).then(|| tokens[i - 1].ident()).flatten();
        found.push(CheckText {
            name: name.map(str::to_string),
            definition: sql[t.start..tokens[close].end].to_string(),
        });
    }
    found
}

/// Names of table-level foreign keys (`CONSTRAINT name FOREIGN KEY (cols)`), with their columns.
pub(super) fn foreign_key_names(sql: &str) -> Vec<(String, Vec<String>)> {
    let Some(tokens) = tokenize(sql) else { return Vec::new() };
    let mut found = Vec::new();
    for i in 0..tokens.len() {
        let window = &tokens[i..];
        if window.len() < 5 || !window[0].is_word("CONSTRAINT") {
            continue;
        }
        let (Some(name), true, true, true) =
            (window[1].ident(), window[2].is_word("FOREIGN"), window[3].is_word("KEY"), window[4].is('('))
        else {
            continue;
        };
        let Some(close) = closing(&tokens, i + 4) else { break };
        let columns: Vec<String> = tokens[i + 5..close].iter().filter_map(|t| t.ident().map(str::to_string)).collect();
        found.push((name.to_string(), columns));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_and_predicate_are_read_as_written() {
        let got =
            index_text(r#"CREATE INDEX "i(x" ON "t" (lower("b, c") DESC, c COLLATE NOCASE) WHERE c > 1"#).unwrap();
        assert_eq!(got.keys, [r#"lower("b, c") DESC"#, "c COLLATE NOCASE"]);
        assert_eq!(got.predicate.as_deref(), Some("c > 1"));
        let plain = index_text(r#"CREATE UNIQUE INDEX x ON t ("a", [b]);"#).unwrap();
        assert_eq!(plain.keys, [r#""a""#, "[b]"]);
        assert_eq!(plain.predicate, None);
    }

    #[test]
    fn strings_comments_and_odd_names_do_not_confuse_the_reader() {
        let sql = "CREATE INDEX x ON t /* ( */ (substr(a, 1, ')') -- )\n, b) WHERE a <> 'WHERE ('";
        let got = index_text(sql).unwrap();
        assert_eq!(got.keys, ["substr(a, 1, ')')", "b"]);
        assert_eq!(got.predicate.as_deref(), Some("a <> 'WHERE ('"));
    }

    #[test]
    fn unreadable_index_text_gives_none() {
        assert_eq!(index_text("CREATE INDEX x ON t (a"), None);
        assert_eq!(index_text("CREATE INDEX x ON t ('a"), None);
        assert_eq!(index_text("CREATE INDEX x ON t ()"), None);
    }

    #[test]
    fn checks_are_found_at_column_and_table_level_with_their_names() {
        let sql = r#"CREATE TABLE t ("role" text CHECK ("role" IN ('a', 'b)')), n int,
                     CONSTRAINT "positive n" CHECK (n > 0), note text DEFAULT 'CHECK (x)')"#;
        let got = checks(sql);
        assert_eq!(
            got,
            [
                CheckText { name: None, definition: r#"CHECK ("role" IN ('a', 'b)'))"#.into() },
                CheckText { name: Some("positive n".into()), definition: "CHECK (n > 0)".into() },
            ]
        );
    }

    #[test]
    fn named_foreign_keys_are_found() {
        let sql = r#"CREATE TABLE p (id int, u int, v int, CONSTRAINT "p_u_fk" FOREIGN KEY ("u", v) REFERENCES x(a, b),
                     FOREIGN KEY (v) REFERENCES y)"#;
        assert_eq!(foreign_key_names(sql), [("p_u_fk".to_string(), vec!["u".to_string(), "v".to_string()])]);
    }
}
