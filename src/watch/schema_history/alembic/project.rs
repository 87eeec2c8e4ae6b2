//! An Alembic project on disk, read as Alembic reads it: `alembic.ini` (`script_location`, `version_locations`
//! split by `path_separator`, `recursive_version_locations`, `sqlalchemy.url`, the alembic logger's level),
//! then every `*.py` file of the version locations in Alembic's order, parsed by [`super::pyfile`].

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::format::py_strip;
use super::graph::{Graph, GraphError, Script};
use super::pyfile::{self, Value};
use crate::config::ini::IniFile;

/// The ini section Alembic reads (its `-n/--name` default).
const SECTION: &str = "alembic";

/// Why a project cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectError {
    /// An error Alembic reports as `FAILED: <message>` (exit status 255); the message is Alembic's own.
    Command(String),
    /// An error that stops Alembic with a Python traceback (exit status 1): a file Python cannot import, an ini
    /// file configparser rejects, a `down_revision` naming nothing. The message says which file and why.
    Broken(String),
}

impl fmt::Display for ProjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProjectError::Command(m) | ProjectError::Broken(m) => f.write_str(m),
        }
    }
}

impl From<GraphError> for ProjectError {
    fn from(e: GraphError) -> ProjectError {
        match e {
            GraphError::Revision(m) => ProjectError::Command(m),
            missing @ GraphError::Missing { .. } => ProjectError::Broken(missing.to_string()),
        }
    }
}

/// What `alembic.ini` says about the project.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The ini file, as given.
    pub ini: PathBuf,
    /// The script folder (`script_location`), as Alembic names it in messages.
    pub script_dir: PathBuf,
    /// The version folders, absolute, in order.
    pub version_locations: Vec<PathBuf>,
    /// `recursive_version_locations = true`.
    pub recursive: bool,
    /// `sqlalchemy.url`, interpolated (`%(here)s`, `%%`).
    pub sqlalchemy_url: Option<String>,
    /// Whether the ini's logging config shows the `alembic` logger's INFO lines (the generic template does).
    pub logs_info: bool,
    /// The version table `env.py` names in `context.configure(version_table=...)`, else `alembic_version`.
    pub version_table: String,
    /// `version_table_schema=` in `env.py`, if any.
    pub version_table_schema: Option<String>,
}

impl Settings {
    /// Reads `ini` as Alembic's `Config` and `ScriptDirectory.from_config` do; relative paths are taken from the
    /// current directory, as Alembic takes them.
    pub fn read(ini: &Path) -> Result<Settings, ProjectError> {
        // configparser silently reads nothing from a missing file; Alembic then misses script_location
        let file = if ini.is_file() {
            Some(IniFile::load(ini).map_err(|e| ProjectError::Broken(e.to_string()))?)
        } else {
            None
        };
        let get = |key: &str| -> Result<Option<String>, ProjectError> {
            match &file {
                Some(f) => f.get(SECTION, key).map_err(|e| ProjectError::Broken(e.to_string())),
                None => Ok(None),
            }
        };
        let Some(location) = get("script_location")? else {
            return Err(ProjectError::Command("No 'script_location' key found in configuration.".into()));
        };
        if !Path::new(&location).is_absolute() && location.contains(':') {
            return Err(ProjectError::Broken(format!(
                "script_location {location:?} names a Python package resource; Strata reads folders only \
                 (write the folder's path, e.g. %(here)s/migrations)"
            )));
        }
        let script_dir = PathBuf::from(py_path(&location));
        if std::fs::symlink_metadata(&script_dir).is_err() {
            return Err(ProjectError::Command(format!(
                "Path doesn't exist: {}.  Please use the 'init' command to create a new scripts folder.",
                script_dir.display()
            )));
        }
        let cwd = std::env::current_dir().map_err(|e| ProjectError::Broken(format!("no current directory: {e}")))?;
        let version_locations = match get("version_locations")?.filter(|v| !v.is_empty()) {
            Some(list) => split_locations(&list, &get)?.into_iter().map(|p| cwd.join(py_path(&p))).collect(),
            None => vec![cwd.join(&script_dir).join("versions")],
        };
        let recursive = get("recursive_version_locations")?.as_deref() == Some("true");
        let sqlalchemy_url = get("sqlalchemy.url")?;
        let logs_info = match &file {
            Some(f) => {
                let level = f.get("logger_alembic", "level").ok().flatten().unwrap_or_default();
                matches!(level.trim().to_ascii_uppercase().as_str(), "INFO" | "DEBUG")
            }
            None => false,
        };
        let env_py = std::fs::read_to_string(script_dir.join("env.py")).unwrap_or_default();
        let version_table =
            pyfile::keyword_strings(&env_py, "version_table").pop().unwrap_or_else(|| "alembic_version".into());
        let version_table_schema = pyfile::keyword_strings(&env_py, "version_table_schema").pop();
        Ok(Settings {
            ini: ini.to_path_buf(),
            script_dir,
            version_locations,
            recursive,
            sqlalchemy_url,
            logs_info,
            version_table,
            version_table_schema,
        })
    }
}

/// `version_locations` split as Alembic's `get_version_locations_list` splits it.
fn split_locations(
    list: &str,
    get: &dyn Fn(&str) -> Result<Option<String>, ProjectError>,
) -> Result<Vec<String>, ProjectError> {
    for name in ["path_separator", "version_path_separator"] {
        let Some(value) = get(name)? else { continue };
        let separator = match value.as_str() {
            "space" => " ",
            "newline" => "\n",
            "os" | ":" => ":",
            ";" => ";",
            other => {
                return Err(ProjectError::Broken(format!(
                    "'{other}' is not a valid value for {name}; expected 'space', 'newline', 'os', ':', ';'"
                )));
            }
        };
        return Ok(list.split(separator).filter(|x| !x.is_empty()).map(|x| x.trim().to_string()).collect());
    }
    // legacy: split on commas and spaces (Alembic's `, *|(?: +)`)
    let mut out = Vec::new();
    let mut rest = list;
    loop {
        let next = rest.find([',', ' ']);
        let Some(at) = next else {
            out.push(rest.to_string());
            break;
        };
        out.push(rest[..at].to_string());
        rest = if rest[at..].starts_with(',') {
            rest[at + 1..].trim_start_matches(' ')
        } else {
            rest[at..].trim_start_matches(' ')
        };
    }
    Ok(out)
}

/// A path spelled as Python's `pathlib` prints it: repeated and trailing slashes and `.` parts dropped.
fn py_path(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let absolute = path.starts_with('/');
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// An Alembic project's revision files, read and linked.
#[derive(Clone, Debug)]
pub struct Scripts {
    /// The script folder (`script_location`).
    pub dir: PathBuf,
    /// The revision graph.
    pub graph: Graph,
}

impl Scripts {
    /// Reads the project `alembic.ini` describes.
    pub fn from_ini(ini: &Path) -> Result<Scripts, ProjectError> {
        let settings = Settings::read(ini)?;
        Scripts::load(&settings)
    }

    /// Reads the revision files of the folders `settings` names.
    pub fn load(settings: &Settings) -> Result<Scripts, ProjectError> {
        let scripts = read_locations(&settings.version_locations, settings.recursive)?;
        Ok(Scripts { dir: settings.script_dir.clone(), graph: Graph::build(scripts)? })
    }

    /// Reads a folder of revision files directly (a `migrations_dir` pointing at `versions/`, or at the script
    /// folder holding `versions/`).
    pub fn from_dir(dir: &Path) -> Result<Scripts, ProjectError> {
        let versions = if dir.join("versions").is_dir() { dir.join("versions") } else { dir.to_path_buf() };
        let abs = std::path::absolute(&versions).unwrap_or(versions);
        let scripts = read_locations(&[abs], false)?;
        Ok(Scripts { dir: dir.to_path_buf(), graph: Graph::build(scripts)? })
    }
}

/// Every revision file under `locations`, in Alembic's order: location by location, files sorted by name,
/// subfolders (when `recursive`) sorted and visited depth first; a file reached twice is read once.
fn read_locations(locations: &[PathBuf], recursive: bool) -> Result<Vec<Script>, ProjectError> {
    let mut seen = HashSet::new();
    let mut scripts = Vec::new();
    for location in locations.iter().filter(|l| l.exists()) {
        let mut files = Vec::new();
        list_py_dir(location, recursive, &mut files)?;
        for file in files {
            let real = std::fs::canonicalize(&file).unwrap_or(file);
            if !seen.insert(real.clone()) {
                continue;
            }
            if let Some(script) = read_script(&real)? {
                scripts.push(script);
            }
        }
    }
    Ok(scripts)
}

fn list_py_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), ProjectError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| ProjectError::Broken(format!("cannot list {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        // os.walk counts a symlink to a folder as a folder and does not follow it
        let is_dir = entry.file_type().map(|t| t.is_dir() || (t.is_symlink() && path.is_dir())).unwrap_or(false);
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_dir {
            dirs.push((name, path));
        } else {
            files.push((name, path));
        }
    }
    files.sort();
    out.extend(files.into_iter().map(|(_, p)| p));
    if recursive {
        dirs.sort();
        for (name, path) in dirs {
            let is_link = std::fs::symlink_metadata(&path).map(|m| m.file_type().is_symlink()).unwrap_or(false);
            if name.ends_with("__pycache__") || is_link {
                continue;
            }
            list_py_dir(&path, true, out)?;
        }
    }
    Ok(())
}

/// Whether Alembic reads the file as a revision (`(?!\.\#|__init__)(.*\.py)$`).
fn is_revision_file(name: &str) -> bool {
    name.ends_with(".py") && !name.starts_with(".#") && !name.starts_with("__init__")
}

/// Reads one revision file; `None` for files Alembic skips.
fn read_script(path: &Path) -> Result<Option<Script>, ProjectError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !is_revision_file(&name) {
        return Ok(None);
    }
    let bytes =
        std::fs::read(path).map_err(|e| ProjectError::Broken(format!("cannot read {}: {e}", path.display())))?;
    let source = String::from_utf8(bytes)
        .map_err(|_| ProjectError::Broken(format!("{}: not UTF-8 text, so Python cannot import it", path.display())))?;
    let module = pyfile::parse(&source).map_err(|e| {
        ProjectError::Broken(format!("{}:{}: {} (Python cannot import this file)", path.display(), e.line, e.message))
    })?;
    let unreadable = |var: &str, line: usize, what: String| {
        ProjectError::Broken(format!(
            "{}:{line}: {var} is {what}; Strata reads a string, a tuple or list of strings, or None there \
             without running Python",
            path.display()
        ))
    };
    let list = |var: &str| -> Result<Vec<String>, ProjectError> {
        match module.get(var) {
            None => Ok(Vec::new()),
            Some((value, line)) => value.to_list().map_err(|what| unreadable(var, line, what)),
        }
    };
    let revision = match module.get("revision") {
        Some((Value::Str(r), _)) => r.clone(),
        Some((other, line)) => {
            let what = match other {
                Value::Other(w) => w.clone(),
                _ => "not a string".into(),
            };
            return Err(unreadable("revision", line, what));
        }
        None => legacy_revision(&name).ok_or_else(|| {
            ProjectError::Command(format!(
                "Could not determine revision id from filename {name}. Be sure the 'revision' variable is declared \
                 inside the script (please see 'Upgrading from Alembic 0.1 to 0.2' in the documentation)."
            ))
        })?,
    };
    if module.get("down_revision").is_none() {
        return Err(ProjectError::Broken(format!(
            "{}: the module has no down_revision (write down_revision = None for a first revision)",
            path.display()
        )));
    }
    let longdoc = module.doc.as_deref().map(py_strip).unwrap_or("").to_string();
    Ok(Some(Script::new(
        revision,
        list("down_revision")?,
        list("depends_on")?,
        list("branch_labels")?,
        path.to_path_buf(),
        longdoc,
    )))
}

/// Alembic 0.1's revision id: the whole file name is hex digits and `.py`.
fn legacy_revision(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".py")?;
    (!stem.is_empty() && stem.chars().all(|c| matches!(c, 'a'..='f' | '0'..='9'))).then(|| stem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_pathlib() {
        assert_eq!(py_path("/a//b/./c/"), "/a/b/c");
        assert_eq!(py_path("./migrations"), "migrations");
        assert_eq!(py_path(""), ".");
    }

    #[test]
    fn version_locations_split_like_alembic() {
        let none = |_: &str| Ok(None);
        assert_eq!(split_locations("a, b  c", &none).unwrap(), ["a", "b", "c"]);
        let os = |k: &str| Ok((k == "path_separator").then(|| "os".to_string()));
        assert_eq!(split_locations("/x/a:/x/b :", &os).unwrap(), ["/x/a", "/x/b"]);
    }

    #[test]
    fn revision_files_are_py_files_but_init_and_editor_locks() {
        assert!(is_revision_file("1a_add.py"));
        assert!(!is_revision_file("__init__.py"));
        assert!(!is_revision_file(".#1a_add.py"));
        assert!(!is_revision_file("1a_add.pyc"));
        assert_eq!(legacy_revision("abc123.py").as_deref(), Some("abc123"));
        assert_eq!(legacy_revision("abc_x.py"), None);
    }
}
