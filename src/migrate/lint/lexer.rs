//! Tokens of one SQL statement for the linter: keywords and names apart, quoted names never taken for keywords,
//! strings and comments skipped whole.

use sea_orm::DbBackend;

/// One token of a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A bare word: a keyword or an unquoted name, kept upper-cased in `upper` and as written in `text`.
    Word { upper: String, text: String },
    /// A quoted name (`"x"`, `` `x` ``, `[x]`): never a keyword.
    Quoted(String),
    /// A string literal (its contents do not matter to any rule).
    Str,
    /// A number.
    Num(String),
    /// Any other character: `(`, `)`, `,`, `.`, `;`, `=`, ...
    Punct(char),
}

impl Tok {
    /// Whether this is the bare keyword `kw` (upper case).
    pub fn is(&self, kw: &str) -> bool {
        matches!(self, Tok::Word { upper, .. } if upper == kw)
    }

    /// The name this token spells, when it is one: quoted names keep their case, bare ones are lower-cased
    /// (PostgreSQL folds them so; MariaDB and SQLite compare table names case-insensitively here).
    pub fn name(&self) -> Option<String> {
        match self {
            Tok::Word { text, .. } => Some(text.to_lowercase()),
            Tok::Quoted(name) => Some(name.clone()),
            _ => None,
        }
    }
}

/// Splits one statement into tokens the way `backend` reads it, each with the byte offset where it starts.
pub fn tokens(sql: &str, backend: DbBackend) -> Vec<(usize, Tok)> {
    let b = sql.as_bytes();
    let mysql = backend == DbBackend::MySql;
    let postgres = backend == DbBackend::Postgres;
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => i = line_end(b, i),
            b'#' if mysql => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => i = block_comment_end(b, i, postgres),
            b'\'' => {
                // MariaDB reads backslash escapes in strings; PostgreSQL only in E'...' (handled below).
                i = string_end(b, i + 1, b'\'', mysql);
                out.push((start, Tok::Str));
            }
            b'"' if mysql => {
                i = string_end(b, i + 1, b'"', true);
                out.push((start, Tok::Str));
            }
            b'"' | b'`' => {
                let (name, end) = quoted(sql, i + 1, c);
                out.push((start, Tok::Quoted(name)));
                i = end;
            }
            b'[' if backend == DbBackend::Sqlite => {
                let end = sql[i + 1..].find(']').map_or(b.len(), |p| i + 1 + p);
                out.push((start, Tok::Quoted(sql[i + 1..end].to_string())));
                i = (end + 1).min(b.len());
            }
            b'$' if postgres => match dollar_tag(b, i) {
                Some(tag_end) => {
                    let tag = &sql[i..tag_end];
                    i = sql[tag_end..].find(tag).map_or(b.len(), |p| tag_end + p + tag.len());
                    out.push((start, Tok::Str));
                }
                None => {
                    // $1 placeholders
                    let end = word_end(b, i + 1);
                    out.push((start, Tok::Num(sql[i..end].to_string())));
                    i = end.max(i + 1);
                }
            },
            c if c.is_ascii_digit() => {
                let end = number_end(b, i);
                out.push((start, Tok::Num(sql[i..end].to_string())));
                i = end;
            }
            c if is_word_start(c) => {
                let end = word_end(b, i);
                let text = &sql[i..end];
                // E'..' (escape string), X'..', B'..', N'..': a prefixed literal, not a word
                if b.get(end) == Some(&b'\'') && text.len() == 1 && "eEbBxXnN".contains(text) {
                    let escapes = mysql || text.eq_ignore_ascii_case("e");
                    i = string_end(b, end + 1, b'\'', escapes);
                    out.push((start, Tok::Str));
                } else {
                    out.push((start, Tok::Word { upper: text.to_ascii_uppercase(), text: text.to_string() }));
                    i = end;
                }
            }
            _ => {
                let ch = sql[i..].chars().next().unwrap_or('?');
                out.push((start, Tok::Punct(ch)));
                i += ch.len_utf8();
            }
        }
    }
    out
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
        i += 1;
    }
    i
}

fn number_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
        i += 1;
    }
    i
}

fn line_end(b: &[u8], i: usize) -> usize {
    b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p + 1)
}

/// The end of a `/* */` comment; PostgreSQL nests them.
fn block_comment_end(b: &[u8], mut i: usize, nested: bool) -> usize {
    let mut depth = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
            if !nested && depth > 1 {
                depth = 1;
            }
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// The end of a literal opened just before `i`: a doubled quote is the quote itself, a backslash escapes where
/// `escapes` says so.
fn string_end(b: &[u8], mut i: usize, quote: u8, escapes: bool) -> usize {
    while i < b.len() {
        if escapes && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// A quoted name opened just before `start`, with doubled quotes undone, and where it ends.
fn quoted(sql: &str, start: usize, quote: u8) -> (String, usize) {
    let b = sql.as_bytes();
    let mut name = String::new();
    let mut i = start;
    let mut from = start;
    while i < b.len() {
        if b[i] == quote {
            name.push_str(&sql[from..i]);
            if b.get(i + 1) == Some(&quote) {
                name.push(quote as char);
                i += 2;
                from = i;
            } else {
                return (name, i + 1);
            }
        } else {
            i += 1;
        }
    }
    name.push_str(&sql[from..]);
    (name, b.len())
}

/// Where a PostgreSQL dollar-quote tag (`$$`, `$body$`) starting at `i` ends.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        if j == i + 1 && b[j].is_ascii_digit() {
            return None;
        }
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(j + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(sql: &str, backend: DbBackend) -> Vec<String> {
        tokens(sql, backend)
            .into_iter()
            .filter_map(|(_, t)| match t {
                Tok::Word { upper, .. } => Some(upper),
                Tok::Quoted(q) => Some(format!("<{q}>")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_strings_and_quoted_names_are_not_keywords() {
        let sql = "/* DROP TABLE x /* nested */ */ CREATE INDEX \"drop table\" ON t (a) -- CONCURRENTLY\n \
                   WHERE b = 'DROP COLUMN' AND c = $x$ ALTER $x$";
        assert_eq!(
            words(sql, DbBackend::Postgres),
            ["CREATE", "INDEX", "<drop table>", "ON", "T", "A", "WHERE", "B", "AND", "C"]
        );
    }

    #[test]
    fn mysql_reads_backticks_hashes_and_backslashes() {
        let sql = "ALTER TABLE `a``b` ADD COLUMN c INT DEFAULT 'it\\'s' # DROP\n, ALGORITHM=INSTANT";
        assert_eq!(
            words(sql, DbBackend::MySql),
            ["ALTER", "TABLE", "<a`b>", "ADD", "COLUMN", "C", "INT", "DEFAULT", "ALGORITHM", "INSTANT"]
        );
    }

    #[test]
    fn escape_strings_and_sqlite_brackets() {
        assert_eq!(words("SELECT E'a\\'b DROP' , x", DbBackend::Postgres), ["SELECT", "X"]);
        assert_eq!(words("DROP TABLE [my table]", DbBackend::Sqlite), ["DROP", "TABLE", "<my table>"]);
    }
}
