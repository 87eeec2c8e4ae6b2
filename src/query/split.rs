//! Splitting an editor's text into statements, per backend dialect.
//!
//! A `;` ends a statement only outside quoted strings, quoted identifiers, comments and bodies that
//! contain their own semicolons: PostgreSQL dollar quotes and `BEGIN ATOMIC ... END` function bodies,
//! SQLite `CREATE TRIGGER ... BEGIN ... END` bodies. MySQL's client-side `DELIMITER` command is
//! understood too (it is not sent to the server). Each statement keeps the byte offset where it
//! starts in the original text; statements with nothing but whitespace and comments are dropped.

use crate::config::Backend;

/// One statement of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The statement without surrounding whitespace and without its terminating delimiter.
    pub sql: String,
    /// The byte offset of `sql`'s first byte in the whole text.
    pub offset: usize,
}

/// Splits `text` into statements the way `backend` reads them.
pub fn split(text: &str, backend: Backend) -> Vec<Piece> {
    Splitter { text, b: text.as_bytes(), backend, pieces: Vec::new() }.run()
}

struct Splitter<'a> {
    text: &'a str,
    b: &'a [u8],
    backend: Backend,
    pieces: Vec<Piece>,
}

/// What the words of the current statement have opened so far.
#[derive(Default)]
struct Words {
    /// The first few words, upper-cased, to recognise `CREATE [TEMP] TRIGGER`.
    first: Vec<String>,
    previous: String,
    /// Inside a body whose semicolons do not end the statement.
    in_body: bool,
    /// `CASE` expressions open inside that body (their `END` does not close it).
    cases: usize,
}

impl Words {
    fn see(&mut self, word: &str, backend: Backend) {
        let upper = word.to_ascii_uppercase();
        if self.first.len() < 4 {
            self.first.push(upper.clone());
        }
        if self.in_body {
            match upper.as_str() {
                "CASE" => self.cases += 1,
                "END" if self.cases > 0 => self.cases -= 1,
                "END" => self.in_body = false,
                _ => {}
            }
        } else {
            let trigger = backend == Backend::Sqlite
                && self.first.first().is_some_and(|w| w == "CREATE")
                && self.first.iter().any(|w| w == "TRIGGER");
            if (trigger && upper == "BEGIN")
                || (backend == Backend::Postgres && self.previous == "BEGIN" && upper == "ATOMIC")
            {
                self.in_body = true;
                self.cases = 0;
            }
        }
        self.previous = upper;
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

impl Splitter<'_> {
    fn run(mut self) -> Vec<Piece> {
        let len = self.b.len();
        let mut delimiter = ";".to_string();
        let mut start = 0; // where the current statement's text begins
        let mut content = false; // it has something besides whitespace and comments
        let mut words = Words::default();
        let mut i = 0;
        while i < len {
            let c = self.b[i];
            // MySQL client command at the start of a statement: DELIMITER <text> up to the end of the line.
            if self.backend == Backend::MySql && !content && self.starts_word_ci(i, "DELIMITER") {
                let after = i + "DELIMITER".len();
                if after < len && (self.b[after] == b' ' || self.b[after] == b'\t') {
                    let end = self.text[after..].find('\n').map_or(len, |n| after + n);
                    let new = self.text[after..end].trim();
                    if !new.is_empty() {
                        delimiter = new.to_string();
                    }
                    i = end;
                    start = end;
                    continue;
                }
            }
            if !words.in_body && self.text[i..].starts_with(delimiter.as_str()) {
                self.push(start, i, content);
                i += delimiter.len();
                start = i;
                content = false;
                words = Words::default();
                continue;
            }
            match c {
                b'\'' => {
                    let backslash = match self.backend {
                        Backend::MySql => true,
                        Backend::Postgres => self.e_prefix(i),
                        Backend::Sqlite => false,
                    };
                    i = self.quoted(i, b'\'', backslash);
                    content = true;
                }
                b'"' => {
                    i = self.quoted(i, b'"', self.backend == Backend::MySql);
                    content = true;
                }
                b'`' if self.backend != Backend::Postgres => {
                    i = self.quoted(i, b'`', false);
                    content = true;
                }
                b'[' if self.backend == Backend::Sqlite => {
                    i = self.text[i..].find(']').map_or(len, |n| i + n + 1);
                    content = true;
                }
                b'-' if self.b.get(i + 1) == Some(&b'-') && self.dash_comment(i) => i = self.line_end(i),
                b'#' if self.backend == Backend::MySql => i = self.line_end(i),
                b'/' if self.b.get(i + 1) == Some(&b'*') => {
                    // MySQL runs the text of /*! ... */ comments: they count as content.
                    if self.backend == Backend::MySql && self.b.get(i + 2) == Some(&b'!') {
                        content = true;
                    }
                    i = self.block_comment(i);
                }
                b'$' if self.backend == Backend::Postgres && (i == 0 || !is_word_byte(self.b[i - 1])) => {
                    match self.dollar_tag(i) {
                        Some(tag) => {
                            let body = i + tag.len();
                            i = self.text[body..].find(tag).map_or(len, |n| body + n + tag.len());
                        }
                        None => i += 1,
                    }
                    content = true;
                }
                c if c.is_ascii_whitespace() => i += 1,
                c if is_word_byte(c) => {
                    let end = self.b[i..].iter().position(|&c| !is_word_byte(c)).map_or(len, |n| i + n);
                    words.see(&self.text[i..end], self.backend);
                    i = end;
                    content = true;
                }
                _ => {
                    // Step over one whole character (multi-byte characters are word bytes above).
                    i += 1;
                    content = true;
                }
            }
        }
        self.push(start, len, content);
        self.pieces
    }

    fn push(&mut self, start: usize, end: usize, content: bool) {
        if !content {
            return;
        }
        let raw = &self.text[start..end.min(self.text.len())];
        let trimmed_start = raw.len() - raw.trim_start().len();
        self.pieces.push(Piece { sql: raw.trim().to_string(), offset: start + trimmed_start });
    }

    fn starts_word_ci(&self, i: usize, word: &str) -> bool {
        (i == 0 || !is_word_byte(self.b[i - 1]))
            && self.b.len() >= i + word.len()
            && self.b[i..i + word.len()].eq_ignore_ascii_case(word.as_bytes())
    }

    /// PostgreSQL `E'...'` (escape string): the quote follows a lone E.
    fn e_prefix(&self, i: usize) -> bool {
        i >= 1 && matches!(self.b[i - 1], b'E' | b'e') && (i < 2 || !is_word_byte(self.b[i - 2]))
    }

    /// Skips a quoted run that starts at `i`; a doubled quote is an escaped quote.
    fn quoted(&self, i: usize, quote: u8, backslash: bool) -> usize {
        let mut j = i + 1;
        while j < self.b.len() {
            let c = self.b[j];
            if backslash && c == b'\\' {
                j += 2;
            } else if c == quote {
                if self.b.get(j + 1) == Some(&quote) {
                    j += 2;
                } else {
                    return j + 1;
                }
            } else {
                j += 1;
            }
        }
        self.b.len()
    }

    /// MySQL needs whitespace (or the end) after `--` for a comment; the others do not.
    fn dash_comment(&self, i: usize) -> bool {
        self.backend != Backend::MySql || self.b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace())
    }

    fn line_end(&self, i: usize) -> usize {
        self.text[i..].find('\n').map_or(self.b.len(), |n| i + n + 1)
    }

    /// Skips `/* ... */`; PostgreSQL nests them.
    fn block_comment(&self, i: usize) -> usize {
        let nests = self.backend == Backend::Postgres;
        let mut depth = 0;
        let mut j = i;
        while j < self.b.len() {
            if self.b[j] == b'/' && self.b.get(j + 1) == Some(&b'*') && (depth == 0 || nests) {
                depth += 1;
                j += 2;
            } else if self.b[j] == b'*' && self.b.get(j + 1) == Some(&b'/') {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return j;
                }
            } else {
                j += 1;
            }
        }
        self.b.len()
    }

    /// The `$tag$` opening a dollar quote at `i`, if it is one (`$1` is a parameter, not a quote).
    fn dollar_tag(&self, i: usize) -> Option<&str> {
        let rest = &self.b[i + 1..];
        if rest.first().is_some_and(|c| c.is_ascii_digit()) {
            return None;
        }
        let n = rest.iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80))?;
        (rest[n] == b'$').then(|| &self.text[i..i + n + 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(text: &str, backend: Backend) -> Vec<String> {
        split(text, backend).into_iter().map(|p| p.sql).collect()
    }

    fn check_offsets(text: &str, backend: Backend) {
        for p in split(text, backend) {
            assert_eq!(&text[p.offset..p.offset + p.sql.len()], p.sql, "offset of {:?}", p.sql);
        }
    }

    const ALL: [Backend; 3] = [Backend::Postgres, Backend::MySql, Backend::Sqlite];

    #[test]
    fn plain_statements_split_on_semicolons_with_offsets() {
        for b in ALL {
            let text = "SELECT 1;  SELECT 2 ;\n\nSELECT 3";
            let pieces = split(text, b);
            assert_eq!(
                pieces,
                [
                    Piece { sql: "SELECT 1".into(), offset: 0 },
                    Piece { sql: "SELECT 2".into(), offset: 11 },
                    Piece { sql: "SELECT 3".into(), offset: 23 },
                ]
            );
        }
    }

    #[test]
    fn empty_statements_and_comment_only_statements_are_dropped() {
        for b in ALL {
            assert!(split("", b).is_empty());
            assert!(split(" ;; ;\n", b).is_empty());
            assert!(split("-- just a note\n; /* and this */ ;", b).is_empty());
            assert_eq!(sqls(";;SELECT 1;;", b), ["SELECT 1"]);
        }
        assert!(split("# mysql note\n;", Backend::MySql).is_empty());
    }

    #[test]
    fn comments_stay_with_their_statement_and_hide_semicolons() {
        for b in ALL {
            assert_eq!(sqls("-- a; b\nSELECT 1; /* c; d */ SELECT 2", b), ["-- a; b\nSELECT 1", "/* c; d */ SELECT 2"]);
        }
    }

    #[test]
    fn single_quoted_strings_hide_semicolons_with_doubled_quotes() {
        for b in ALL {
            assert_eq!(sqls("SELECT 'a;''b;'; SELECT 2", b), ["SELECT 'a;''b;'", "SELECT 2"]);
        }
    }

    #[test]
    fn backslashes_escape_only_where_the_dialect_says() {
        // MySQL: \' does not end the string.
        assert_eq!(sqls(r"SELECT 'a\';b'; SELECT 2", Backend::MySql), [r"SELECT 'a\';b'", "SELECT 2"]);
        // PostgreSQL standard strings: a backslash is a plain character.
        assert_eq!(sqls(r"SELECT 'a\'; SELECT 2", Backend::Postgres), [r"SELECT 'a\'", "SELECT 2"]);
        // ... but E'' strings use backslash escapes.
        assert_eq!(sqls(r"SELECT E'a\';b'; SELECT 2", Backend::Postgres), [r"SELECT E'a\';b'", "SELECT 2"]);
        assert_eq!(sqls(r"SELECT e'\\'; SELECT 2", Backend::Postgres), [r"SELECT e'\\'", "SELECT 2"]);
        // A word ending in E before a quote is not an E string.
        assert_eq!(sqls(r"SELECT 1 AS namE'\'; SELECT 2", Backend::Postgres).len(), 2);
        assert_eq!(sqls(r"SELECT 'a\'; SELECT 2", Backend::Sqlite), [r"SELECT 'a\'", "SELECT 2"]);
    }

    #[test]
    fn double_quotes_are_identifiers_or_mysql_strings() {
        assert_eq!(sqls(r#"SELECT "a;""b"; SELECT 2"#, Backend::Postgres), [r#"SELECT "a;""b""#, "SELECT 2"]);
        assert_eq!(sqls(r#"SELECT "a;""b"; SELECT 2"#, Backend::Sqlite), [r#"SELECT "a;""b""#, "SELECT 2"]);
        assert_eq!(sqls(r#"SELECT "a\";b"; SELECT 2"#, Backend::MySql), [r#"SELECT "a\";b""#, "SELECT 2"]);
    }

    #[test]
    fn backticks_and_brackets_quote_identifiers() {
        assert_eq!(sqls("SELECT `a;``b`; SELECT 2", Backend::MySql), ["SELECT `a;``b`", "SELECT 2"]);
        assert_eq!(sqls("SELECT `a;b`; SELECT 2", Backend::Sqlite), ["SELECT `a;b`", "SELECT 2"]);
        assert_eq!(sqls("SELECT [a;b]; SELECT 2", Backend::Sqlite), ["SELECT [a;b]", "SELECT 2"]);
    }

    #[test]
    fn postgres_dollar_quotes_hide_semicolons() {
        let f = "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql";
        assert_eq!(sqls(&format!("{f}; SELECT 2"), Backend::Postgres), [f, "SELECT 2"]);
        let tagged = "DO $body$ BEGIN PERFORM '$$;'; END $body$";
        assert_eq!(sqls(&format!("{tagged};SELECT 2"), Backend::Postgres), [tagged, "SELECT 2"]);
        // $1 is a parameter and a$b$ is part of a word: neither opens a quote.
        assert_eq!(sqls("SELECT $1; SELECT a$b$; SELECT 3", Backend::Postgres).len(), 3);
        // An unterminated dollar quote runs to the end.
        assert_eq!(sqls("SELECT $x$ ; SELECT 2", Backend::Postgres), ["SELECT $x$ ; SELECT 2"]);
    }

    #[test]
    fn postgres_block_comments_nest_and_others_do_not() {
        let text = "SELECT 1 /* a /* b */ ; */; SELECT 2";
        assert_eq!(sqls(text, Backend::Postgres), ["SELECT 1 /* a /* b */ ; */", "SELECT 2"]);
        assert_eq!(sqls(text, Backend::Sqlite), ["SELECT 1 /* a /* b */", "*/", "SELECT 2"]);
    }

    #[test]
    fn mysql_line_comments_need_a_space_after_the_dashes() {
        assert_eq!(sqls("SELECT 1--2;\nSELECT 2", Backend::MySql), ["SELECT 1--2", "SELECT 2"]);
        assert_eq!(sqls("SELECT 1 -- x;\n; SELECT 2", Backend::MySql), ["SELECT 1 -- x;", "SELECT 2"]);
        assert_eq!(sqls("SELECT 1 # x;\n; SELECT 2", Backend::MySql), ["SELECT 1 # x;", "SELECT 2"]);
        // # is not a comment elsewhere.
        assert_eq!(sqls("SELECT 1 # x;\nSELECT 2", Backend::Postgres), ["SELECT 1 # x", "SELECT 2"]);
    }

    #[test]
    fn sqlite_trigger_bodies_keep_their_semicolons() {
        let trigger = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO b VALUES (1);\n  \
                       UPDATE c SET x = CASE WHEN 1 THEN 2 ELSE 3 END;\nEND";
        let text = format!("{trigger};\nSELECT 2;");
        assert_eq!(sqls(&text, Backend::Sqlite), [trigger, "SELECT 2"]);
        check_offsets(&text, Backend::Sqlite);
        let temp = "create temp trigger if not exists t before delete on a begin select 1; end";
        assert_eq!(sqls(&format!("{temp}; select 2"), Backend::Sqlite), [temp, "select 2"]);
        // BEGIN as a statement is a transaction, not a body.
        assert_eq!(sqls("BEGIN; SELECT 1; END;", Backend::Sqlite), ["BEGIN", "SELECT 1", "END"]);
    }

    #[test]
    fn postgres_begin_atomic_bodies_keep_their_semicolons() {
        let f = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END";
        assert_eq!(sqls(&format!("{f}; SELECT 3"), Backend::Postgres), [f, "SELECT 3"]);
        assert_eq!(sqls("BEGIN; SELECT 1; END", Backend::Postgres), ["BEGIN", "SELECT 1", "END"]);
    }

    #[test]
    fn mysql_delimiter_command_changes_the_terminator() {
        let text = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END//\nDELIMITER ;\nSELECT 3;";
        let pieces = split(text, Backend::MySql);
        assert_eq!(
            pieces.iter().map(|p| p.sql.as_str()).collect::<Vec<_>>(),
            ["CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "SELECT 3"]
        );
        check_offsets(text, Backend::MySql);
    }

    #[test]
    fn offsets_are_bytes_in_the_original_text_with_unicode() {
        for b in ALL {
            let text = "SELECT 'héllo; wörld'; \n  SELECT '日本';SELECT 3";
            let pieces = split(text, b);
            assert_eq!(pieces.len(), 3, "{b}");
            check_offsets(text, b);
            assert_eq!(pieces[1].offset, text.find("SELECT '日本'").unwrap());
        }
    }

    #[test]
    fn unterminated_quotes_and_comments_run_to_the_end() {
        for b in ALL {
            assert_eq!(sqls("SELECT 'abc; SELECT 2", b), ["SELECT 'abc; SELECT 2"]);
            assert_eq!(sqls("SELECT 1 /* open; SELECT 2", b), ["SELECT 1 /* open; SELECT 2"]);
        }
    }

    #[test]
    fn escape_attempts_are_separate_statements() {
        let text = "SELECT 1; COMMIT; DELETE FROM users";
        for b in ALL {
            assert_eq!(sqls(text, b), ["SELECT 1", "COMMIT", "DELETE FROM users"]);
        }
    }
}
