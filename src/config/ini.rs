//! A small configparser-compatible ini reader for alembic.ini, with Alembic's `%(here)s`.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::ConfigError;
use super::url::mask_url_str;

/// The section whose keys every other section inherits, as in configparser.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// configparser's `MAX_INTERPOLATION_DEPTH`.
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// How much of an offending line an error message quotes.
const QUOTE_LIMIT: usize = 60;

/// A parsed ini file: sections of `key = value` entries, read the way
/// Python's configparser (and so Alembic) reads them.
///
/// Values are interpolated on [`IniFile::get`]: `%(name)s` names another key
/// of the same section or of `[DEFAULT]`, `%(here)s` is the absolute folder
/// holding the file and `%%` is a literal `%`.
#[derive(Clone)]
pub struct IniFile {
    path: PathBuf,
    here: String,
    sections: Vec<Section>,
}

#[derive(Clone)]
struct Section {
    name: String,
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    key: String,
    value: String,
    line: usize,
}

/// What a name resolves to: an entry, or Alembic's built-in `here`.
enum Found<'a> {
    Entry(&'a Entry),
    Here,
}

impl Section {
    fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

impl IniFile {
    /// Reads and parses the ini file at `path`.
    pub fn load(path: &Path) -> Result<IniFile, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.to_path_buf(), error })?;
        IniFile::parse(&text, path)
    }

    /// Parses `text` as the content of the ini file at `path` (used for
    /// `%(here)s` and in error messages).
    pub fn parse(text: &str, path: &Path) -> Result<IniFile, ConfigError> {
        let error = |line: usize, message: String| ConfigError::Ini { file: path.to_path_buf(), line, message };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);

        let mut sections: Vec<Section> = Vec::new();
        let mut section_lines: Vec<usize> = Vec::new();
        // the indent of the last key's line, while a continuation line may extend its value
        let mut open: Option<usize> = None;

        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            // comments do not end a value, as in configparser
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if trimmed.is_empty() {
                // kept inside a multi-line value, trailing ones trimmed at the end
                if let Some(entry) = open.and(last_entry(&mut sections)) {
                    entry.value.push('\n');
                }
                continue;
            }
            let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
            if open.is_some_and(|key_indent| indent > key_indent)
                && let Some(entry) = last_entry(&mut sections)
            {
                entry.value.push('\n');
                entry.value.push_str(trimmed);
                continue;
            }

            if let Some(header) = trimmed.strip_prefix('[') {
                let Some(name) = header.strip_suffix(']') else {
                    return Err(error(
                        line,
                        format!("expected a [section] header ending in \"]\", found {}", quote(trimmed)),
                    ));
                };
                if name.is_empty() {
                    return Err(error(line, "empty section name \"[]\"".into()));
                }
                if let Some(previous) = sections.iter().position(|s| s.name == name) {
                    return Err(error(
                        line,
                        format!("duplicate section [{name}] (first defined on line {})", section_lines[previous]),
                    ));
                }
                sections.push(Section { name: name.to_string(), entries: Vec::new() });
                section_lines.push(line);
                open = None;
                continue;
            }

            let Some(section) = sections.last_mut() else {
                return Err(error(
                    line,
                    format!("expected a [section] header before the first key, found {}", quote(trimmed)),
                ));
            };
            // configparser would accept "a b: c" as key "a b"; a key with a space
            // is far more likely a forgotten "=" (`sqlalchemy.url postgres://…`)
            let separator = trimmed.find(['=', ':']).filter(|&at| !trimmed[..at].trim().contains(char::is_whitespace));
            let Some(separator) = separator else {
                return Err(error(
                    line,
                    format!("expected \"key = value\" or a [section] header, found {}", quote(trimmed)),
                ));
            };
            let key = trimmed[..separator].trim().to_lowercase();
            if key.is_empty() {
                return Err(error(
                    line,
                    format!("expected a key before \"{}\", found {}", &trimmed[separator..=separator], quote(trimmed)),
                ));
            }
            if let Some(previous) = section.entry(&key) {
                return Err(error(
                    line,
                    format!("duplicate key \"{key}\" in [{}] (first defined on line {})", section.name, previous.line),
                ));
            }
            section.entries.push(Entry { key, value: trimmed[separator + 1..].trim().to_string(), line });
            open = Some(indent);
        }

        // blank lines inside a value are kept, trailing ones are not (configparser)
        for entry in sections.iter_mut().flat_map(|s| s.entries.iter_mut()) {
            entry.value.truncate(entry.value.trim_end().len());
        }

        Ok(IniFile { path: path.to_path_buf(), here: here_of(path), sections })
    }

    /// The path the file was read from, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The absolute folder holding the file: the value of `%(here)s`.
    pub fn here(&self) -> &str {
        &self.here
    }

    /// The section names in file order (`DEFAULT` included when present).
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.name.as_str())
    }

    /// Whether the file has a `[section]`.
    pub fn has_section(&self, section: &str) -> bool {
        self.section(section).is_some()
    }

    /// The keys written in `[section]` itself (not inherited from `[DEFAULT]`)
    /// with the line each was defined on.
    pub fn keys(&self, section: &str) -> impl Iterator<Item = (&str, usize)> {
        self.section(section).into_iter().flat_map(|s| s.entries.iter().map(|e| (e.key.as_str(), e.line)))
    }

    /// The interpolated value of `key` in `section`, falling back to
    /// `[DEFAULT]`; `None` when the section or the key is absent.
    pub fn get(&self, section: &str, key: &str) -> Result<Option<String>, ConfigError> {
        let key = key.to_lowercase();
        match self.find(section, &key) {
            None => Ok(None),
            Some(Found::Here) => Ok(Some(self.here.clone())),
            Some(Found::Entry(entry)) => {
                let mut out = String::new();
                self.interpolate(section, entry, &entry.value, &mut out, 1)?;
                Ok(Some(out))
            }
        }
    }

    /// The value of `key` in `section` as written, without interpolation.
    pub fn get_raw(&self, section: &str, key: &str) -> Option<&str> {
        match self.find(section, &key.to_lowercase())? {
            Found::Entry(entry) => Some(&entry.value),
            Found::Here => Some(&self.here),
        }
    }

    /// The line on which `key` of `section` (or of `[DEFAULT]`) was defined.
    pub fn line(&self, section: &str, key: &str) -> Option<usize> {
        match self.find(section, &key.to_lowercase())? {
            Found::Entry(entry) => Some(entry.line),
            Found::Here => None,
        }
    }

    /// `file:line` of `key` in `section`, for messages about its value.
    pub fn location(&self, section: &str, key: &str) -> Option<String> {
        let line = self.line(section, key)?;
        Some(format!("{}:{line}", self.path.display()))
    }

    fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// configparser's lookup: the section, then `[DEFAULT]`, then Alembic's
    /// `here`; nothing at all when the section is missing.
    fn find(&self, section: &str, key: &str) -> Option<Found<'_>> {
        let own = self.section(section);
        if own.is_none() && section != DEFAULT_SECTION {
            return None;
        }
        own.and_then(|s| s.entry(key))
            .or_else(|| self.section(DEFAULT_SECTION).and_then(|s| s.entry(key)))
            .map(Found::Entry)
            .or_else(|| (key == "here").then_some(Found::Here))
    }

    /// configparser's BasicInterpolation, appending the expansion of `raw`
    /// (the value of `entry`) to `out`.
    fn interpolate(
        &self,
        section: &str,
        entry: &Entry,
        raw: &str,
        out: &mut String,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let error = |message: String| ConfigError::Ini { file: self.path.clone(), line: entry.line, message };
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(error(format!(
                "the value of \"{}\" nests %(name)s references deeper than {MAX_INTERPOLATION_DEPTH} levels \
                 (do two keys refer to each other?)",
                entry.key
            )));
        }
        let mut rest = raw;
        while let Some(percent) = rest.find('%') {
            out.push_str(&rest[..percent]);
            let after = &rest[percent + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                out.push('%');
                rest = tail;
            } else if let Some(tail) = after.strip_prefix('(') {
                let name = tail
                    .find(')')
                    .filter(|&close| close > 0 && tail[close + 1..].starts_with('s'))
                    .map(|close| (&tail[..close], &tail[close + 2..]));
                let Some((name, tail)) = name else {
                    return Err(error(format!(
                        "bad interpolation in the value of \"{}\": expected \"%(name)s\" after \"%(\"; \
                         write \"%%\" for a literal percent sign",
                        entry.key
                    )));
                };
                rest = tail;
                match self.find(section, &name.to_lowercase()) {
                    Some(Found::Here) => out.push_str(&self.here),
                    Some(Found::Entry(target)) if target.value.contains('%') => {
                        self.interpolate(section, target, &target.value, out, depth + 1)?;
                    }
                    Some(Found::Entry(target)) => out.push_str(&target.value),
                    None => {
                        return Err(error(format!(
                            "the value of \"{}\" refers to unknown key \"%({name})s\" \
                             (looked in [{section}], [{DEFAULT_SECTION}] and \"here\")",
                            entry.key
                        )));
                    }
                }
            } else {
                return Err(error(format!(
                    "bad interpolation in the value of \"{}\": \"%\" must be followed by \"%\" or \"(name)s\"; \
                     write \"%%\" for a literal percent sign (a percent-encoded password needs \"%%40\" for \"%40\")",
                    entry.key
                )));
            }
        }
        out.push_str(rest);
        Ok(())
    }
}

impl fmt::Debug for IniFile {
    // values may hold passwords: show the shape, not the content
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sections = f.debug_map();
        for section in &self.sections {
            let keys: Vec<&str> = section.entries.iter().map(|e| e.key.as_str()).collect();
            sections.entry(&section.name, &keys);
        }
        sections.finish()?;
        write!(f, " from {}", self.path.display())
    }
}

fn last_entry(sections: &mut [Section]) -> Option<&mut Entry> {
    sections.last_mut()?.entries.last_mut()
}

/// A line quoted in an error message: masked, and cut when long.
fn quote(line: &str) -> String {
    let masked = mask_url_str(line);
    if masked.chars().count() > QUOTE_LIMIT {
        let cut: String = masked.chars().take(QUOTE_LIMIT).collect();
        format!("\"{cut}...\"")
    } else {
        format!("\"{masked}\"")
    }
}

/// Alembic's `here`: `os.path.abspath(os.path.dirname(file))`.
fn here_of(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal.pop();
    normal.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> IniFile {
        match IniFile::parse(text, Path::new("/etc/strata/alembic.ini")) {
            Ok(ini) => ini,
            Err(e) => panic!("should parse: {e}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match IniFile::parse(text, Path::new("alembic.ini")) {
            Ok(ini) => panic!("should not parse: {ini:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn get(ini: &IniFile, section: &str, key: &str) -> Option<String> {
        ini.get(section, key).unwrap()
    }

    #[test]
    fn reads_sections_keys_and_both_separators() {
        let ini = parse(
            "[alembic]\nscript_location = migrations\nsqlalchemy.url: sqlite://\n\n[strata]\nlisten=0.0.0.0:80\n",
        );
        assert_eq!(get(&ini, "alembic", "script_location").as_deref(), Some("migrations"));
        assert_eq!(get(&ini, "alembic", "sqlalchemy.url").as_deref(), Some("sqlite://"));
        // the first separator wins, later ones are part of the value
        assert_eq!(get(&ini, "strata", "listen").as_deref(), Some("0.0.0.0:80"));
        assert_eq!(ini.sections().collect::<Vec<_>>(), ["alembic", "strata"]);
        assert_eq!(get(&ini, "strata", "missing"), None);
        assert_eq!(get(&ini, "nowhere", "listen"), None);
    }

    #[test]
    fn keys_are_case_insensitive_and_values_trimmed() {
        let ini = parse("[s]\n  Max_Rows   =   10   \n");
        assert_eq!(get(&ini, "s", "max_rows").as_deref(), Some("10"));
        assert_eq!(get(&ini, "s", "MAX_ROWS").as_deref(), Some("10"));
        assert_eq!(ini.keys("s").collect::<Vec<_>>(), [("max_rows", 2)]);
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let ini = parse("# top\n; also\n[s]\n# a = 1\n   ; b = 2\n\nc = 3 # not a comment\n");
        assert_eq!(ini.keys("s").map(|(k, _)| k).collect::<Vec<_>>(), ["c"]);
        assert_eq!(get(&ini, "s", "c").as_deref(), Some("3 # not a comment"));
    }

    #[test]
    fn continuation_lines_join_with_newlines() {
        let ini = parse(
            "[loggers]\nkeys = root,\n    sqlalchemy,\n\n    alembic\n# comment inside\n    strata\n\n\nnext = 1\n",
        );
        assert_eq!(get(&ini, "loggers", "keys").as_deref(), Some("root,\nsqlalchemy,\n\nalembic\nstrata"));
        assert_eq!(get(&ini, "loggers", "next").as_deref(), Some("1"));
    }

    #[test]
    fn empty_value_followed_by_continuation_starts_with_newline() {
        let ini = parse("[s]\nurls =\n  a\n  b\n");
        assert_eq!(get(&ini, "s", "urls").as_deref(), Some("\na\nb"));
    }

    #[test]
    fn indented_key_after_header_is_a_key() {
        let ini = parse("[s]\n  a = 1\n  b = 2\n");
        assert_eq!(get(&ini, "s", "b").as_deref(), Some("2"));
    }

    #[test]
    fn line_numbers_are_remembered() {
        let ini = parse("[alembic]\n\nsqlalchemy.url = sqlite://\n");
        assert_eq!(ini.line("alembic", "sqlalchemy.url"), Some(3));
        assert_eq!(ini.location("alembic", "sqlalchemy.url").as_deref(), Some("/etc/strata/alembic.ini:3"));
    }

    #[test]
    fn here_is_the_absolute_folder_of_the_file() {
        let ini = parse("[alembic]\nscript_location = %(here)s/migrations\n");
        assert_eq!(get(&ini, "alembic", "script_location").as_deref(), Some("/etc/strata/migrations"));
        assert_eq!(get(&ini, "alembic", "here").as_deref(), Some("/etc/strata"));

        let relative = IniFile::parse("[a]\nx = %(here)s\n", Path::new("conf/./sub/../alembic.ini")).unwrap();
        let expected = std::env::current_dir().unwrap().join("conf");
        assert_eq!(get(&relative, "a", "x"), Some(expected.to_string_lossy().into_owned()));
    }

    #[test]
    fn double_percent_is_a_literal_percent() {
        let ini = parse("[alembic]\nsqlalchemy.url = postgresql://bob:p%%40ss@db/app\n");
        assert_eq!(get(&ini, "alembic", "sqlalchemy.url").as_deref(), Some("postgresql://bob:p%40ss@db/app"));
        assert_eq!(ini.get_raw("alembic", "sqlalchemy.url"), Some("postgresql://bob:p%%40ss@db/app"));
    }

    #[test]
    fn references_resolve_in_the_section_then_default() {
        let ini = parse(
            "[DEFAULT]\nhost = db\nport = 5432\n\n[alembic]\nport = 6432\nname = app\nsqlalchemy.url = postgresql://%(HOST)s:%(port)s/%(db)s\ndb = %(name)s_%%\n",
        );
        assert_eq!(get(&ini, "alembic", "sqlalchemy.url").as_deref(), Some("postgresql://db:6432/app_%"));
        // [DEFAULT] keys are inherited but not listed as the section's own
        assert_eq!(get(&ini, "alembic", "host").as_deref(), Some("db"));
        assert!(ini.keys("alembic").all(|(k, _)| k != "host"));
    }

    #[test]
    fn unknown_reference_is_an_error_with_file_and_line() {
        let ini = IniFile::parse("[alembic]\n\nsqlalchemy.url = %(nope)s/x\n", Path::new("alembic.ini")).unwrap();
        let message = ini.get("alembic", "sqlalchemy.url").unwrap_err().to_string();
        assert!(message.starts_with("alembic.ini:3: "), "{message}");
        assert!(message.contains("\"%(nope)s\""), "{message}");
    }

    #[test]
    fn lone_percent_is_an_error_with_a_hint() {
        let ini = IniFile::parse("[a]\nurl = postgresql://u:p%40ss@h/d\n", Path::new("alembic.ini")).unwrap();
        let message = ini.get("a", "url").unwrap_err().to_string();
        assert!(message.starts_with("alembic.ini:2: "), "{message}");
        assert!(message.contains("%%"), "{message}");
        // the value itself (it may hold a password) is not quoted
        assert!(!message.contains("p%40ss"), "{message}");
        assert!(ini.get("a", "url").is_err());
        let bad = IniFile::parse("[a]\nx = %(unterminated\n", Path::new("alembic.ini")).unwrap();
        assert!(bad.get("a", "x").unwrap_err().to_string().contains("%(name)s"));
    }

    #[test]
    fn reference_cycle_stops_at_the_depth_limit() {
        let ini = parse("[a]\nx = %(y)s\ny = %(x)s\n");
        let message = ini.get("a", "x").unwrap_err().to_string();
        assert!(message.contains("deeper than 10"), "{message}");
    }

    #[test]
    fn malformed_line_names_file_line_and_expectation() {
        let message = parse_err("[alembic]\n\nsqlalchemy.url postgres://bob:secret@db/app\n");
        assert_eq!(
            message,
            "alembic.ini:3: expected \"key = value\" or a [section] header, found \"sqlalchemy.url postgres://bob:***@db/app\""
        );
    }

    #[test]
    fn key_before_any_section_is_an_error() {
        let message = parse_err("\nurl = x\n[a]\n");
        assert!(message.starts_with("alembic.ini:2: expected a [section] header"), "{message}");
    }

    #[test]
    fn unterminated_section_header_is_an_error() {
        let message = parse_err("[alembic\nx = 1\n");
        assert!(message.starts_with("alembic.ini:1: "), "{message}");
        assert!(message.contains("\"]\""), "{message}");
    }

    #[test]
    fn duplicate_sections_and_keys_are_errors() {
        assert!(parse_err("[a]\n[a]\n").contains("alembic.ini:2: duplicate section [a] (first defined on line 1)"));
        assert!(parse_err("[a]\nx = 1\nX = 2\n").contains("alembic.ini:3: duplicate key \"x\""));
    }

    #[test]
    fn empty_key_is_an_error() {
        assert!(parse_err("[a]\n= 1\n").starts_with("alembic.ini:2: expected a key"));
    }

    #[test]
    fn long_offending_lines_are_cut() {
        let message = parse_err(&format!("[a]\n{}\n", "x".repeat(200)));
        assert!(message.ends_with("...\""), "{message}");
        assert!(message.len() < 150, "{message}");
    }

    #[test]
    fn load_reads_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alembic.ini");
        std::fs::write(&path, "\u{feff}[alembic]\nscript_location = %(here)s/m\r\n").unwrap();
        let ini = IniFile::load(&path).unwrap();
        let expected = format!("{}/m", dir.path().display());
        assert_eq!(get(&ini, "alembic", "script_location"), Some(expected));
        let missing = IniFile::load(&dir.path().join("nope.ini")).unwrap_err().to_string();
        assert!(missing.contains("nope.ini"), "{missing}");
    }

    #[test]
    fn debug_does_not_show_values() {
        let ini = parse("[alembic]\nsqlalchemy.url = postgresql://bob:secret@db/app\n");
        let debug = format!("{ini:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("sqlalchemy.url"), "{debug}");
    }
}
