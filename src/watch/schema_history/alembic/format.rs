//! The lines Alembic prints for a revision: `Script._head_only` (one line, as `history`, `heads` and `current`
//! print it) and `Script.log_entry` (the `--verbose` block), character for character.

use super::graph::{Graph, Script};

/// What a one-line entry includes (the arguments of Alembic's `cmd_format`).
#[derive(Clone, Copy, Debug)]
pub struct Line {
    /// ` (label, ...)` after the id.
    pub branches: bool,
    /// `, <message>` at the end.
    pub doc: bool,
    /// `<parents> [(deps)] -> ` before the id.
    pub parents: bool,
    /// ` (branchpoint)` / ` (mergepoint)`.
    pub tree: bool,
}

/// `alembic history`: everything.
pub const HISTORY: Line = Line { branches: true, doc: true, parents: true, tree: true };
/// `alembic heads`: labels, no tree markers.
pub const HEADS: Line = Line { branches: true, doc: false, parents: false, tree: false };
/// `alembic current`: the id and its markers.
pub const CURRENT: Line = Line { branches: false, doc: false, parents: false, tree: true };

/// One revision as Alembic's `cmd_format(verbose=False, ...)` prints it.
pub fn line(graph: &Graph, index: usize, what: Line) -> String {
    let s = graph.script(index);
    let mut text = if what.parents {
        if s.dependencies.is_empty() {
            format!("{} -> {}", parents(s), s.revision)
        } else {
            format!("{} ({}) -> {}", parents(s), s.dependencies.join(", "), s.revision)
        }
    } else {
        s.revision.clone()
    };
    if what.branches && !s.branch_labels.is_empty() {
        text.push_str(&format!(" ({})", labels(s)));
    }
    if s.is_real_head() {
        text.push_str(" (head)");
    }
    if s.is_head() && !s.is_real_head() {
        text.push_str(" (effective head)");
    }
    if what.tree {
        if s.is_branch_point() {
            text.push_str(" (branchpoint)");
        }
        if s.is_merge_point() {
            text.push_str(" (mergepoint)");
        }
    }
    if what.doc {
        text.push_str(", ");
        text.push_str(s.doc());
    }
    text
}

/// One revision as Alembic's `log_entry` prints it (`--verbose`), ending in a newline (the caller's print adds
/// the blank line that follows).
pub fn log_entry(graph: &Graph, index: usize) -> String {
    let s = graph.script(index);
    let mut entry = format!(
        "Rev: {}{}{}{}\n",
        s.revision,
        if s.is_head() { " (head)" } else { "" },
        if s.is_branch_point() { " (branchpoint)" } else { "" },
        if s.is_merge_point() { " (mergepoint)" } else { "" },
    );
    if s.is_merge_point() {
        entry.push_str(&format!("Merges: {}\n", parents(s)));
    } else {
        entry.push_str(&format!("Parent: {}\n", parents(s)));
    }
    if !s.dependencies.is_empty() {
        entry.push_str(&format!("Also depends on: {}\n", s.dependencies.join(", ")));
    }
    if s.is_branch_point() {
        // Alembic joins a Python frozenset here, in an order that changes from run to run; load order is stable
        let next: Vec<&str> = graph
            .scripts()
            .iter()
            .filter(|c| c.down_revision.contains(&s.revision))
            .map(|c| c.revision.as_str())
            .collect();
        entry.push_str(&format!("Branches into: {}\n", next.join(", ")));
    }
    if !s.branch_labels.is_empty() {
        entry.push_str(&format!("Branch names: {}\n", labels(s)));
    }
    entry.push_str(&format!("Path: {}\n", s.path.display()));
    let body: Vec<String> = splitlines(&s.longdoc).into_iter().map(|l| format!("    {l}")).collect();
    entry.push_str(&format!("\n{}\n", body.join("\n")));
    entry
}

/// `<base>`, or the `down_revision`s joined with ", " (Alembic's `_format_down_revision`).
fn parents(s: &Script) -> String {
    if s.down_revision.is_empty() { "<base>".to_string() } else { s.down_revision.join(", ") }
}

/// The branch labels, sorted (Alembic prints a Python set; with one label, as nearly always, the same).
fn labels(s: &Script) -> String {
    s.branch_labels.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Python's `str.splitlines()`: splits on every line boundary Python knows, drops the final empty piece.
pub fn splitlines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(
            c,
            '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        ) {
            out.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some(&(j, '\n')) = chars.peek()
            {
                chars.next();
                end = j + 1;
            }
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Python's `str.strip()` with no argument: Unicode whitespace, plus the four separators Python counts as space.
pub fn py_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(splitlines("a\n\nb\r\nc\rd\u{2028}e\n"), ["a", "", "b", "c", "d", "e"]);
        assert_eq!(splitlines(""), Vec::<&str>::new());
        assert_eq!(splitlines("x"), ["x"]);
    }

    #[test]
    fn strip_matches_python() {
        assert_eq!(py_strip("\n\t doc \u{1f}\n"), "doc");
    }
}
