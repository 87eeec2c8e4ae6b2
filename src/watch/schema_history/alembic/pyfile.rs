//! Reads what Alembic takes from a revision file — the module docstring and the top-level assignments
//! (`revision`, `down_revision`, `branch_labels`, `depends_on`) — without running Python: a small tokenizer
//! (string literals with every quote style and prefix, names, brackets, comments, line continuations) and a
//! parser for `NAME [: annotation] = value` where the value is a string, `None`, or a tuple or list of strings.

use std::fmt;

/// A value assigned at the top of a revision file, as far as Alembic cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `None`.
    None,
    /// A string literal (adjacent literals concatenated, escapes decoded).
    Str(String),
    /// A tuple or list of string literals (`("a", "b")`, `["a"]`, `()`, `"a", "b"`).
    Seq(Vec<String>),
    /// Anything else: a call, a name, a number, an f-string... with a short description of what it starts with.
    Other(String),
}

impl Value {
    /// Alembic's `util.to_tuple(value, default=())`: `None` is empty, a string is one item.
    /// `Err` with a description when the value is not something Alembic could read without running code.
    pub fn to_list(&self) -> Result<Vec<String>, String> {
        match self {
            Value::None => Ok(Vec::new()),
            Value::Str(s) => Ok(vec![s.clone()]),
            Value::Seq(items) => Ok(items.clone()),
            Value::Other(what) => Err(what.clone()),
        }
    }
}

/// A revision file's module-level facts.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// The module docstring (Python's `__doc__`), unstripped; `None` when the file has none.
    pub doc: Option<String>,
    assignments: Vec<(String, Value, usize)>,
}

impl Module {
    /// The value last assigned to `name` at module level, with the line it was assigned on.
    pub fn get(&self, name: &str) -> Option<(&Value, usize)> {
        self.assignments.iter().rev().find(|(n, _, _)| n == name).map(|(_, v, line)| (v, *line))
    }
}

/// Why a file could not be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The line, counting from 1.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// A string literal: its decoded text, and whether it is a bytes or f-string literal (not a `str` constant).
    Str {
        text: String,
        plain: bool,
    },
    Name(String),
    /// A number or any other literal piece that is not a name.
    Number(String),
    Open(char),
    Close(char),
    Op(String),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

/// One logical line: its tokens and the column its first token starts at.
struct Line {
    indent: usize,
    tokens: Vec<Token>,
}

/// Parses a revision file's source text.
pub fn parse(source: &str) -> Result<Module, SyntaxError> {
    let lines = tokenize(source)?;
    let mut module = Module::default();
    let mut first = true;
    for line in lines {
        if line.indent > 0 {
            // inside a def, class or if block: not a module-level assignment
            first = false;
            continue;
        }
        for statement in split_top(&line.tokens, |t| matches!(t, Tok::Op(op) if op == ";")) {
            if statement.is_empty() {
                continue;
            }
            let parts = split_top(statement, |t| matches!(t, Tok::Op(op) if op == "="));
            if first {
                first = false;
                // the docstring is a str constant only: a bytes or f-string literal leaves __doc__ None
                if parts.len() == 1
                    && let Value::Str(doc) = value(statement)
                {
                    module.doc = Some(doc);
                    continue;
                }
            }
            if parts.len() < 2 {
                continue;
            }
            let rhs = value(parts[parts.len() - 1]);
            for target in &parts[..parts.len() - 1] {
                if let Some(name) = target_name(target) {
                    module.assignments.push((name, rhs.clone(), target[0].line));
                }
            }
        }
    }
    Ok(module)
}

/// The string literals passed as keyword `name=` anywhere in `source` (for `env.py`'s
/// `context.configure(version_table="...")`), in file order; an unreadable file gives none.
pub fn keyword_strings(source: &str, name: &str) -> Vec<String> {
    let Ok(lines) = tokenize(source) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in &lines {
        for w in line.tokens.windows(3) {
            if let [
                Token { tok: Tok::Name(n), .. },
                Token { tok: Tok::Op(eq), .. },
                Token { tok: Tok::Str { text, plain: true }, .. },
            ] = w
                && n == name
                && eq == "="
            {
                out.push(text.clone());
            }
        }
    }
    out
}

/// `NAME` or `NAME: annotation` (the only targets Alembic's variables are written with).
fn target_name(target: &[Token]) -> Option<String> {
    match target {
        [Token { tok: Tok::Name(name), .. }] => Some(name.clone()),
        [Token { tok: Tok::Name(name), .. }, Token { tok: Tok::Op(colon), .. }, _, ..] if colon == ":" => {
            Some(name.clone())
        }
        _ => None,
    }
}

/// Splits `tokens` at the separators outside brackets.
fn split_top(tokens: &[Token], is_separator: impl Fn(&Tok) -> bool) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        match &t.tok {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => depth = depth.saturating_sub(1),
            tok if depth == 0 && is_separator(tok) => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts
}

/// The value of an expression, as far as Alembic's variables go.
fn value(tokens: &[Token]) -> Value {
    let items = split_top(tokens, |t| matches!(t, Tok::Op(op) if op == ","));
    if items.len() > 1 {
        // a bare tuple: `"a", "b"` (a trailing comma leaves an empty last item)
        return sequence(&items);
    }
    match tokens {
        [] => Value::Other("nothing".into()),
        [Token { tok: Tok::Name(n), .. }] if n == "None" => Value::None,
        [Token { tok: Tok::Open(open), .. }, inner @ .., Token { tok: Tok::Close(close), .. }]
            if matches!((open, close), ('(', ')') | ('[', ']')) && balanced(inner) =>
        {
            if inner.is_empty() {
                return Value::Seq(Vec::new());
            }
            let items = split_top(inner, |t| matches!(t, Tok::Op(op) if op == ","));
            if *open == '(' && items.len() == 1 {
                return value(inner); // parenthesized, not a tuple
            }
            sequence(&items)
        }
        _ if tokens.iter().all(|t| matches!(t.tok, Tok::Str { .. })) => {
            if tokens.iter().any(|t| matches!(t.tok, Tok::Str { plain: false, .. })) {
                return Value::Other("a bytes or f-string literal".into());
            }
            let mut text = String::new();
            for t in tokens {
                if let Tok::Str { text: part, .. } = &t.tok {
                    text.push_str(part);
                }
            }
            Value::Str(text)
        }
        [first, ..] => Value::Other(describe(&first.tok)),
    }
}

/// Whether the brackets in `tokens` pair up on their own (so `(a) + (b)` is not read as one parenthesis).
fn balanced(tokens: &[Token]) -> bool {
    let mut depth = 0i64;
    for t in tokens {
        match t.tok {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// A tuple or list whose items are all strings.
fn sequence(items: &[&[Token]]) -> Value {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.is_empty() && i == items.len() - 1 && i > 0 {
            break; // trailing comma
        }
        match value(item) {
            Value::Str(s) => out.push(s),
            Value::Other(what) => return Value::Other(what),
            Value::None => return Value::Other("a sequence holding None".into()),
            Value::Seq(_) => return Value::Other("a nested sequence".into()),
        }
    }
    Value::Seq(out)
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Str { .. } => "a string expression".into(),
        Tok::Name(n) => format!("the name {n:?}"),
        Tok::Number(n) => format!("the number {n}"),
        Tok::Open(c) | Tok::Close(c) => format!("{c:?}"),
        Tok::Op(op) => format!("{op:?}"),
    }
}

/// Splits Python source into logical lines of tokens.
fn tokenize(source: &str) -> Result<Vec<Line>, SyntaxError> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    // Python reads source with universal newlines: \r\n and \r are \n, in string literals too
    let text: Vec<char> = source.replace("\r\n", "\n").replace('\r', "\n").chars().collect();
    let mut lines = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut indent = 0usize;
    let mut column = 0usize;
    let mut line = 1usize;
    let mut brackets: Vec<(char, usize)> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        match c {
            '\n' => {
                line += 1;
                column = 0;
                i += 1;
                if brackets.is_empty() && !current.is_empty() {
                    lines.push(Line { indent, tokens: std::mem::take(&mut current) });
                }
                continue;
            }
            '#' => {
                while i < text.len() && text[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\\' if text.get(i + 1) == Some(&'\n') => {
                i += 2;
                line += 1;
                column = 0;
                continue;
            }
            '\\' => {
                return Err(SyntaxError {
                    line,
                    message: "a backslash outside a string that does not end the line".into(),
                });
            }
            c if c.is_whitespace() => {
                i += 1;
                column += 1;
                continue;
            }
            _ => {}
        }
        if current.is_empty() && brackets.is_empty() {
            indent = column;
        }
        let start_line = line;
        if c == '"' || c == '\'' || (is_name_start(c) && string_prefix(&text, i).is_some()) {
            let (prefix_len, raw, plain) = if c == '"' || c == '\'' {
                (0, false, true)
            } else {
                string_prefix(&text, i).unwrap_or((0, false, true))
            };
            let (value, next, lines_used) = read_string(&text, i + prefix_len, raw, start_line)?;
            current.push(Token { tok: Tok::Str { text: value, plain }, line: start_line });
            column += next - i;
            line += lines_used;
            i = next;
            continue;
        }
        if is_name_start(c) {
            let start = i;
            while i < text.len() && is_name_continue(text[i]) {
                i += 1;
            }
            current.push(Token { tok: Tok::Name(text[start..i].iter().collect()), line });
            column += i - start;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && text.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < text.len() && (is_name_continue(text[i]) || text[i] == '.') {
                i += 1;
            }
            current.push(Token { tok: Tok::Number(text[start..i].iter().collect()), line });
            column += i - start;
            continue;
        }
        match c {
            '(' | '[' | '{' => {
                brackets.push((c, line));
                current.push(Token { tok: Tok::Open(c), line });
            }
            ')' | ']' | '}' => {
                let expected = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match brackets.pop() {
                    Some((open, _)) if open == expected => current.push(Token { tok: Tok::Close(c), line }),
                    Some((open, at)) => {
                        return Err(SyntaxError {
                            line,
                            message: format!("{c:?} does not close {open:?} opened on line {at}"),
                        });
                    }
                    None => return Err(SyntaxError { line, message: format!("unmatched {c:?}") }),
                }
            }
            _ => {
                let two = text.get(i + 1) == Some(&'=') && "=<>!+-*/%&|^@:".contains(c);
                let op: String = if two { [c, '='].iter().collect() } else { c.to_string() };
                current.push(Token { tok: Tok::Op(op), line });
                if two {
                    i += 1;
                    column += 1;
                }
            }
        }
        i += 1;
        column += 1;
    }
    if let Some((open, at)) = brackets.pop() {
        return Err(SyntaxError { line: at, message: format!("{open:?} is never closed") });
    }
    if !current.is_empty() {
        lines.push(Line { indent, tokens: current });
    }
    Ok(lines)
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_name_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// A string prefix (`r`, `b`, `f`, `u`, `rb`, ...) at `i` directly followed by a quote: its length, whether the
/// literal is raw, and whether it is a plain `str` (not bytes, not an f-string).
fn string_prefix(text: &[char], i: usize) -> Option<(usize, bool, bool)> {
    let mut len = 0;
    while len < 3 && text.get(i + len).is_some_and(|c| c.is_ascii_alphabetic()) {
        len += 1;
    }
    if !matches!(text.get(i + len), Some('"' | '\'')) || len == 0 {
        return None;
    }
    let prefix: String = text[i..i + len].iter().collect::<String>().to_ascii_lowercase();
    let (raw, plain) = match prefix.as_str() {
        "r" => (true, true),
        "u" => (false, true),
        "b" | "f" | "t" => (false, false),
        "br" | "rb" | "fr" | "rf" | "tr" | "rt" => (true, false),
        _ => return None,
    };
    Some((len, raw, plain))
}

/// Reads the string literal whose opening quote is at `i`: its decoded text, the index after it, and how many
/// newlines it spans.
fn read_string(text: &[char], i: usize, raw: bool, line: usize) -> Result<(String, usize, usize), SyntaxError> {
    let quote = text[i];
    let triple = text.get(i + 1) == Some(&quote) && text.get(i + 2) == Some(&quote);
    let mut j = if triple { i + 3 } else { i + 1 };
    let mut body = String::new();
    let mut newlines = 0;
    let unterminated = || SyntaxError {
        line,
        message: if triple {
            format!("unterminated triple-quoted string ({0}{0}{0}) starting here", quote)
        } else {
            format!("unterminated string ({quote}) starting here")
        },
    };
    loop {
        let Some(&c) = text.get(j) else {
            return Err(unterminated());
        };
        if c == quote && (!triple || (text.get(j + 1) == Some(&quote) && text.get(j + 2) == Some(&quote))) {
            j += if triple { 3 } else { 1 };
            break;
        }
        if c == '\n' {
            if !triple {
                return Err(unterminated());
            }
            newlines += 1;
        }
        if c == '\\' {
            let Some(&next) = text.get(j + 1) else {
                return Err(unterminated());
            };
            if next == '\n' {
                newlines += 1;
            }
            if raw {
                // a raw string keeps the backslash, but it still escapes the quote
                body.push(c);
                body.push(next);
                j += 2;
                continue;
            }
            j = escape(text, j + 1, &mut body);
            continue;
        }
        body.push(c);
        j += 1;
    }
    Ok((body, j, newlines))
}

/// Decodes the escape whose character after the backslash is at `j`; returns the index after it.
fn escape(text: &[char], j: usize, out: &mut String) -> usize {
    let c = text[j];
    let simple = match c {
        '\n' => Some(None),
        '\\' => Some(Some('\\')),
        '\'' => Some(Some('\'')),
        '"' => Some(Some('"')),
        'a' => Some(Some('\u{7}')),
        'b' => Some(Some('\u{8}')),
        'f' => Some(Some('\u{c}')),
        'n' => Some(Some('\n')),
        'r' => Some(Some('\r')),
        't' => Some(Some('\t')),
        'v' => Some(Some('\u{b}')),
        _ => None,
    };
    if let Some(decoded) = simple {
        out.extend(decoded);
        return j + 1;
    }
    let hex = |len: usize| -> Option<char> {
        let digits: String = text.get(j + 1..j + 1 + len)?.iter().collect();
        if digits.len() != len || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
            return None;
        }
        char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
    };
    let (decoded, len) = match c {
        'x' => (hex(2), 3),
        'u' => (hex(4), 5),
        'U' => (hex(8), 9),
        '0'..='7' => {
            let digits: String = text[j..].iter().take(3).take_while(|d| ('0'..='7').contains(*d)).collect();
            (u32::from_str_radix(&digits, 8).ok().and_then(char::from_u32), digits.len())
        }
        _ => (None, 0),
    };
    match decoded {
        Some(ch) => {
            out.push(ch);
            j + len
        }
        None => {
            // an unknown escape (or \N{...}) stays as written, as Python keeps unknown ones
            out.push('\\');
            j
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(m: &Module, name: &str) -> Option<Value> {
        m.get(name).map(|(v, _)| v.clone())
    }

    #[test]
    fn reads_the_annotated_template_alembic_writes() {
        let src = r#""""add users

Revision ID: 1a2b3c4d5e6f
Revises: 0f9e8d7c6b5a
Create Date: 2026-01-02 03:04:05.678901

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '1a2b3c4d5e6f'
down_revision: Union[str, Sequence[str], None] = '0f9e8d7c6b5a'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    revision = "not this one"
"#;
        let m = parse(src).unwrap();
        assert!(m.doc.as_deref().unwrap().starts_with("add users\n\nRevision ID: 1a2b3c4d5e6f\n"));
        assert_eq!(get(&m, "revision"), Some(Value::Str("1a2b3c4d5e6f".into())));
        assert_eq!(get(&m, "down_revision"), Some(Value::Str("0f9e8d7c6b5a".into())));
        assert_eq!(get(&m, "branch_labels"), Some(Value::None));
        assert_eq!(get(&m, "depends_on"), Some(Value::None));
        assert_eq!(m.get("revision").unwrap().1, 15);
    }

    #[test]
    fn reads_tuples_lists_and_the_old_unannotated_form() {
        let src = "'''merge'''\nrevision = \"m1\"\ndown_revision = ('a1', \"b2\")\nbranch_labels = ['x',]\n\
                   depends_on = 'd' 'e'\n";
        let m = parse(src).unwrap();
        assert_eq!(m.doc.as_deref(), Some("merge"));
        assert_eq!(get(&m, "down_revision"), Some(Value::Seq(vec!["a1".into(), "b2".into()])));
        assert_eq!(get(&m, "branch_labels"), Some(Value::Seq(vec!["x".into()])));
        assert_eq!(get(&m, "depends_on"), Some(Value::Str("de".into())));
    }

    #[test]
    fn weird_spacing_comments_continuations_and_semicolons() {
        let src = "# -*- coding: utf-8 -*-\n\"\"\"doc\"\"\"\nrevision   =\\\n    'r1'  # the id\n\
                   down_revision : Optional[Tuple[str, ...]]=(\n  'a',  # first\n  'b',\n)\nbranch_labels=None;depends_on=()\n";
        let m = parse(src).unwrap();
        assert_eq!(get(&m, "revision"), Some(Value::Str("r1".into())));
        assert_eq!(get(&m, "down_revision"), Some(Value::Seq(vec!["a".into(), "b".into()])));
        assert_eq!(get(&m, "branch_labels"), Some(Value::None));
        assert_eq!(get(&m, "depends_on"), Some(Value::Seq(vec![])));
    }

    #[test]
    fn strings_with_prefixes_and_escapes_decode_like_python() {
        let m =
            parse("a = r'x\\ny'\nb = 'x\\ny\\t\\'q\\x41\\u00e9\\101\\d'\nc = u\"\"\"it's \"fine\" \"\"\"\n").unwrap();
        assert_eq!(get(&m, "a"), Some(Value::Str("x\\ny".into())));
        assert_eq!(get(&m, "b"), Some(Value::Str("x\ny\t'qAéA\\d".into())));
        assert_eq!(get(&m, "c"), Some(Value::Str("it's \"fine\" ".into())));
        assert_eq!(parse("a = b'x'").unwrap().get("a").unwrap().0, &Value::Other("a bytes or f-string literal".into()));
    }

    #[test]
    fn a_docstring_must_come_first_and_be_a_plain_string() {
        assert_eq!(parse("import os\n'''late'''\n").unwrap().doc, None);
        assert_eq!(parse("b'''bytes'''\n").unwrap().doc, None);
        assert_eq!(parse("f'''{x}'''\n").unwrap().doc, None);
        assert_eq!(parse("\n\n# c\n'a' \"b\"\n").unwrap().doc.as_deref(), Some("ab"));
        assert_eq!(parse("").unwrap().doc, None);
    }

    #[test]
    fn expressions_alembic_cannot_read_without_running_code_are_other() {
        let m = parse("revision = make_id()\ndown_revision = 'a' + 'b'\ndepends_on = ('a', None)\n").unwrap();
        assert!(matches!(get(&m, "revision"), Some(Value::Other(_))));
        assert!(matches!(get(&m, "down_revision"), Some(Value::Other(_))));
        assert!(matches!(get(&m, "depends_on"), Some(Value::Other(_))));
    }

    #[test]
    fn hostile_inputs_are_errors_with_a_line_not_panics() {
        assert_eq!(parse("x = 1\nrevision = 'abc\n").unwrap_err().line, 2);
        assert_eq!(parse("\"\"\"never closed\n\nrevision = 'a'\n").unwrap_err().line, 1);
        assert_eq!(parse("down_revision = ('a',\n").unwrap_err().line, 1);
        assert_eq!(parse("x = (]\n").unwrap_err().line, 1);
        assert_eq!(parse("x = )\n").unwrap_err().line, 1);
        assert!(parse("x = 'ends in a backslash\\").is_err());
        assert!(parse("x = 1 \\ 2").is_err());
        for junk in ["'", "\"\"\"", "r'\\", "((((", "\u{feff}", "= = =", ": :", "revision:", "\\\n"] {
            let _ = parse(junk); // no panic
        }
    }

    #[test]
    fn assignments_in_blocks_and_functions_are_not_module_level() {
        let m = parse("if True:\n    revision = 'x'\ndef f():\n    down_revision = 'y'\nrevision = 'z'\n").unwrap();
        assert_eq!(get(&m, "revision"), Some(Value::Str("z".into())));
        assert_eq!(get(&m, "down_revision"), None);
    }
}
