//! The watched databases a configuration names: `[databases]` lines, `[database:NAME]` sections,
//! `STRATA_WATCH_<NAME>` variables and `--watch NAME=URL` flags, plus the project database.

use std::path::PathBuf;
use std::time::Duration;

use super::backup::{Keep, Offsite, RestoreTest, Schedule};
use super::ini::IniFile;
use super::{ConfigError, DatabaseUrl, parse_bool};

/// The ini section of `NAME = URL` lines.
pub const DATABASES_SECTION: &str = "databases";

/// The prefix of a `[database:NAME]` section holding one database's URL and options.
pub const DATABASE_SECTION_PREFIX: &str = "database:";

/// The prefix of the environment variables that name a watched database.
pub const WATCH_ENV_PREFIX: &str = "STRATA_WATCH_";

/// The keys a `[database:NAME]` section may hold.
pub const DATABASE_KEYS: &[&str] = &[
    "url",
    "read_only",
    "viewer_url",
    "backup_dir",
    "group",
    "environment",
    "migrations_dir",
    "alembic_ini",
    "alembic_path",
    "backup_schedule",
    "backup_keep",
    "backup_max_age",
    "restore_test",
    "restore_test_url",
    "restore_test_identity",
    "backup_encrypt_to",
    "backup_offsite",
    "backup_offsite_endpoint",
    "backup_offsite_region",
    "backup_offsite_access_key_id",
    "backup_offsite_secret_access_key",
];

/// Longest database name (it is a path segment and a label).
pub const MAX_NAME_LEN: usize = 63;

/// One watched database as the configuration names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchSpec {
    /// Lower-case letters, digits, `_` and `-` (see [`check_name`]).
    pub name: String,
    pub url: DatabaseUrl,
    /// Every run there is read-only; maintenance, terminate and restore are refused.
    pub read_only: bool,
    /// A second login to the same database, with read grants only, for read-only runs.
    pub viewer_url: Option<DatabaseUrl>,
    /// Where this database's backups go (else `backup_dir/<name>`).
    pub backup_dir: Option<PathBuf>,
    /// A label the fleet page and the migrations matrix group by (`group` or `environment`).
    pub group: Option<String>,
    /// The folder of the application's migration files, for pending and changed files.
    pub migrations_dir: Option<PathBuf>,
    /// An Alembic project's `alembic.ini` (its `script_location` is read).
    pub alembic_ini: Option<PathBuf>,
    /// That project's own `alembic` executable (a venv's `bin/alembic`): the dashboard runs it to preview and apply
    /// the project's revisions.
    pub alembic_path: Option<PathBuf>,
    /// When scheduled backups run (`backup_schedule`); the Backups page may override it in the home database.
    pub backup_schedule: Option<Schedule>,
    /// How many backups of each period to keep (`backup_keep`), applied after each successful backup.
    pub backup_keep: Option<Keep>,
    /// Keep every backup taken within this long before the newest one (`backup_max_age`, restic's `--keep-within`).
    pub backup_max_age: Option<Duration>,
    /// When a backup's restore is tested (`restore_test`).
    pub restore_test: RestoreTest,
    /// A server where restore tests may create and drop scratch databases (`restore_test_url`; not for SQLite).
    pub restore_test_url: Option<DatabaseUrl>,
    /// The age identity file scheduled restore tests open encrypted backups with (`restore_test_identity`).
    pub restore_test_identity: Option<PathBuf>,
    /// age recipients (`age1…`) every backup is encrypted to (`backup_encrypt_to`); empty: not encrypted.
    pub backup_encrypt_to: Vec<String>,
    /// Where off-site copies go (`backup_offsite` and its settings).
    pub backup_offsite: Option<Offsite>,
    /// Where it was named: `--watch`, an environment variable, `file:line`, or the Databases page.
    pub origin: String,
    /// The project database: the one `strata migrate` manages (`DATABASE_URL` / `sqlalchemy.url`).
    pub project: bool,
}

impl WatchSpec {
    /// A database named only by its URL, with default options.
    pub fn new(name: String, url: DatabaseUrl, origin: String) -> WatchSpec {
        WatchSpec {
            name,
            url,
            read_only: false,
            viewer_url: None,
            backup_dir: None,
            group: None,
            migrations_dir: None,
            alembic_ini: None,
            alembic_path: None,
            backup_schedule: None,
            backup_keep: None,
            backup_max_age: None,
            restore_test: RestoreTest::Off,
            restore_test_url: None,
            restore_test_identity: None,
            backup_encrypt_to: Vec::new(),
            backup_offsite: None,
            origin,
            project: false,
        }
    }
}

/// Checks a database name: 1 to 63 of `a-z`, `0-9`, `_`, `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a database name cannot be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("the database name {name:?} is longer than {MAX_NAME_LEN} characters"));
    }
    if let Some(c) = name.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-')) {
        return Err(format!("the database name {name:?} has {c:?}: use lower-case letters, digits, `_` and `-` only"));
    }
    Ok(())
}

/// A name made from a URL's database name (file stem for SQLite): lower-cased, other characters as `-`.
pub fn name_from_url(url: &DatabaseUrl) -> String {
    let raw = url.database_name().unwrap_or_else(|| "project".into()).to_lowercase();
    let mut name: String =
        raw.chars().map(|c| if matches!(c, 'a'..='z' | '0'..='9' | '_' | '-') { c } else { '-' }).collect();
    name.truncate(MAX_NAME_LEN);
    if name.trim_matches('-').is_empty() { "project".into() } else { name }
}

fn bad(origin: &str, reason: String) -> ConfigError {
    ConfigError::Watch { origin: origin.to_string(), reason }
}

fn parse_url(value: &str, origin: &str) -> Result<DatabaseUrl, ConfigError> {
    DatabaseUrl::parse(value).map_err(|e| e.with_origin(origin.to_string()))
}

/// Adds `spec`, refusing a name already given by the same source.
fn push(list: &mut Vec<WatchSpec>, spec: WatchSpec, replace: bool) -> Result<(), ConfigError> {
    match list.iter().position(|s| s.name == spec.name) {
        Some(i) if replace => {
            // A higher-precedence source names the URL; options given in the ini file stay.
            let old = &mut list[i];
            old.url = spec.url;
            old.origin = spec.origin;
            Ok(())
        }
        Some(i) => Err(bad(
            &spec.origin,
            format!("the database name {:?} is given twice (also at {})", spec.name, list[i].origin),
        )),
        None => {
            list.push(spec);
            Ok(())
        }
    }
}

/// The watched databases named by the ini file, the environment (`vars`: every `STRATA_WATCH_*` pair) and
/// `--watch` flags, in that order of increasing precedence for the URL.
pub fn read(ini: Option<&IniFile>, vars: &[(String, String)], flags: &[String]) -> Result<Vec<WatchSpec>, ConfigError> {
    let mut list: Vec<WatchSpec> = Vec::new();
    if let Some(ini) = ini {
        for (key, line) in ini.keys(DATABASES_SECTION).map(|(k, l)| (k.to_string(), l)).collect::<Vec<_>>() {
            let origin = format!("{}:{line}", ini.path().display());
            check_name(&key).map_err(|r| bad(&origin, r))?;
            let value = ini.get(DATABASES_SECTION, &key)?.unwrap_or_default();
            let url = parse_url(value.trim(), &origin)?;
            push(&mut list, WatchSpec::new(key, url, origin), false)?;
        }
        let sections: Vec<String> = ini.sections().map(str::to_string).collect();
        for section in sections {
            let Some(name) = section.strip_prefix(DATABASE_SECTION_PREFIX) else { continue };
            let name = name.trim().to_string();
            let place = |key: &str| ini.location(&section, key).unwrap_or_else(|| ini.path().display().to_string());
            check_name(&name).map_err(|r| bad(&place("url"), r))?;
            if let Some((key, line)) = ini.keys(&section).find(|(k, _)| !DATABASE_KEYS.contains(k)) {
                return Err(bad(
                    &format!("{}:{line}", ini.path().display()),
                    format!("unknown key {key:?} in [{section}]; known keys: {}", DATABASE_KEYS.join(", ")),
                ));
            }
            let url = match ini.get(&section, "url")? {
                Some(v) if !v.trim().is_empty() => Some(parse_url(v.trim(), &place("url"))?),
                _ => None,
            };
            let existing = list.iter().position(|s| s.name == name);
            let spec = match (existing, url) {
                (Some(i), None) => &mut list[i],
                (Some(i), Some(_)) => {
                    return Err(bad(
                        &place("url"),
                        format!("the database {name:?} already has a URL at {}", list[i].origin),
                    ));
                }
                (None, Some(url)) => {
                    list.push(WatchSpec::new(name.clone(), url, place("url")));
                    list.last_mut().expect("just pushed")
                }
                (None, None) => {
                    return Err(bad(&place("url"), format!("[{section}] has no url = ... line")));
                }
            };
            if let Some(v) = ini.get(&section, "read_only")? {
                spec.read_only = parse_bool(v.trim())
                    .ok_or_else(|| bad(&place("read_only"), format!("read_only = {v:?}: expected true or false")))?;
            }
            if let Some(v) = ini.get(&section, "viewer_url")?.filter(|v| !v.trim().is_empty()) {
                let viewer = parse_url(v.trim(), &place("viewer_url"))?;
                if viewer.backend() != spec.url.backend() {
                    return Err(bad(
                        &place("viewer_url"),
                        format!("viewer_url must be a second login to the same {} database", spec.url.backend()),
                    ));
                }
                spec.viewer_url = Some(viewer);
            }
            if let Some(v) = ini.get(&section, "backup_dir")?.filter(|v| !v.trim().is_empty()) {
                spec.backup_dir = Some(PathBuf::from(v.trim()));
            }
            if let Some(v) = ini.get(&section, "group")?.filter(|v| !v.trim().is_empty()) {
                spec.group = Some(v.trim().to_string());
            } else if let Some(v) = ini.get(&section, "environment")?.filter(|v| !v.trim().is_empty()) {
                spec.group = Some(v.trim().to_string());
            }
            // Relative paths are read from the configuration file's folder, as Alembic reads its own.
            let here = ini.path().parent().map(std::path::Path::to_path_buf).unwrap_or_default();
            if let Some(v) = ini.get(&section, "migrations_dir")?.filter(|v| !v.trim().is_empty()) {
                spec.migrations_dir = Some(here.join(v.trim()));
            }
            if let Some(v) = ini.get(&section, "alembic_ini")?.filter(|v| !v.trim().is_empty()) {
                spec.alembic_ini = Some(here.join(v.trim()));
            }
            if let Some(v) = ini.get(&section, "alembic_path")?.filter(|v| !v.trim().is_empty()) {
                // A bare name (`alembic`) is looked up on PATH, as a shell would.
                let path = PathBuf::from(v.trim());
                spec.alembic_path = Some(if path.components().count() == 1 { path } else { here.join(path) });
            }
            read_backup_keys(ini, &section, spec, &place)?;
        }
    }
    let mut from_env: Vec<WatchSpec> = Vec::new();
    for (var, value) in vars {
        let Some(suffix) = var.strip_prefix(WATCH_ENV_PREFIX) else { continue };
        if value.trim().is_empty() {
            continue;
        }
        let origin = format!("environment variable {var}");
        let name = suffix.to_lowercase();
        check_name(&name).map_err(|r| bad(&origin, r))?;
        push(&mut from_env, WatchSpec::new(name, parse_url(value.trim(), &origin)?, origin), false)?;
    }
    let mut from_flags: Vec<WatchSpec> = Vec::new();
    for flag in flags {
        let origin = format!("--watch {}", super::mask_url_str(flag));
        let Some((name, url)) = flag.split_once('=') else {
            return Err(bad(&origin, "expected --watch NAME=URL".into()));
        };
        let name = name.trim().to_string();
        check_name(&name).map_err(|r| bad(&origin, r))?;
        push(&mut from_flags, WatchSpec::new(name, parse_url(url.trim(), &origin)?, origin), false)?;
    }
    for spec in from_env.into_iter().chain(from_flags) {
        push(&mut list, spec, true)?;
    }
    Ok(list)
}

/// The backup keys of a `[database:NAME]` section; an error names the key and its line.
fn read_backup_keys(
    ini: &IniFile,
    section: &str,
    spec: &mut WatchSpec,
    place: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    let value = |key: &str| -> Result<Option<String>, ConfigError> {
        Ok(ini.get(section, key)?.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
    };
    let wrong = |key: &str, why: String| bad(&place(key), format!("{key}: {why}"));
    if let Some(v) = value("backup_schedule")? {
        spec.backup_schedule = Some(Schedule::parse(&v).map_err(|e| wrong("backup_schedule", e))?);
    }
    if let Some(v) = value("backup_keep")? {
        spec.backup_keep = Some(Keep::parse(&v).map_err(|e| wrong("backup_keep", e))?);
    }
    if let Some(v) = value("backup_max_age")? {
        let age = super::parse_duration(&v)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| wrong("backup_max_age", format!("{v:?} is not a duration like 30d, 12h or 90min")))?;
        spec.backup_max_age = Some(age);
    }
    if let Some(v) = value("restore_test")? {
        spec.restore_test = RestoreTest::parse(&v).map_err(|e| wrong("restore_test", e))?;
    }
    if let Some(v) = value("restore_test_url")? {
        let url = parse_url(&v, &place("restore_test_url"))?;
        if url.backend() != spec.url.backend() {
            return Err(wrong(
                "restore_test_url",
                format!("a restore test needs a {} server like the database's own", spec.url.backend()),
            ));
        }
        spec.restore_test_url = Some(url);
    }
    let here = ini.path().parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    if let Some(v) = value("restore_test_identity")? {
        spec.restore_test_identity = Some(here.join(v));
    }
    if let Some(v) = value("backup_encrypt_to")? {
        spec.backup_encrypt_to =
            crate::backup::encrypt::parse_recipients(&v).map_err(|e| wrong("backup_encrypt_to", e))?;
    }
    if let Some(v) = value("backup_offsite")? {
        let mut offsite = Offsite::parse(&v).map_err(|e| wrong("backup_offsite", e))?;
        offsite.endpoint = value("backup_offsite_endpoint")?;
        if let Some(e) = &offsite.endpoint
            && url::Url::parse(e).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
        {
            return Err(wrong("backup_offsite_endpoint", format!("{e:?} is not an http:// or https:// URL")));
        }
        offsite.region = value("backup_offsite_region")?;
        offsite.access_key_id = value("backup_offsite_access_key_id")?;
        offsite.secret_access_key = value("backup_offsite_secret_access_key")?;
        spec.backup_offsite = Some(offsite);
    } else if let Some((key, _)) = ini.keys(section).find(|(k, _)| k.starts_with("backup_offsite_")) {
        return Err(wrong(key, "set backup_offsite = s3://bucket/prefix first".into()));
    }
    Ok(())
}

/// Adds the project database to the list: the entry with the same URL when there is one (it becomes the
/// project), else a new entry named after the URL's database (`-project` appended when that name is taken).
pub fn add_project(list: &mut Vec<WatchSpec>, url: &DatabaseUrl, origin: String) {
    if let Some(spec) = list.iter_mut().find(|s| s.url.connect_url() == url.connect_url()) {
        spec.project = true;
        return;
    }
    let mut name = name_from_url(url);
    if list.iter().any(|s| s.name == name) {
        name.truncate(MAX_NAME_LEN - "-project".len());
        name.push_str("-project");
    }
    let mut spec = WatchSpec::new(name, url.clone(), origin);
    spec.project = true;
    list.insert(0, spec);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn ini(text: &str) -> IniFile {
        IniFile::parse(text, Path::new("/etc/strata/alembic.ini")).unwrap()
    }

    #[test]
    fn names_are_lowercase_letters_digits_underscore_and_dash() {
        assert!(check_name("orders_2-eu").is_ok());
        assert!(check_name("Orders").unwrap_err().contains("'O'"));
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(64)).unwrap_err().contains("63"));
    }

    #[test]
    fn databases_come_from_ini_lines_sections_env_and_flags() {
        let file =
            ini("[databases]\nshop = postgresql://app:pw@db/shop\n\n[database:legacy]\nurl = sqlite:///legacy.db\n\
                        read_only = true\ngroup = old\n\n[database:shop]\nbackup_dir = /backups/shop\n");
        let vars = vec![("STRATA_WATCH_CACHE".to_string(), "mysql://root@127.0.0.1/cache".to_string())];
        let flags = vec!["shop=postgresql://app:pw@db2/shop".to_string()];
        let list = read(Some(&file), &vars, &flags).unwrap();
        let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["shop", "legacy", "cache"]);
        let shop = &list[0];
        assert!(shop.url.masked().contains("db2"), "the flag's URL wins: {}", shop.url.masked());
        assert_eq!(shop.backup_dir.as_deref(), Some(Path::new("/backups/shop")), "the ini's options stay");
        assert!(list[1].read_only && list[1].group.as_deref() == Some("old"));
    }

    #[test]
    fn migrations_dir_and_alembic_ini_are_read_relative_to_the_file() {
        let file = ini("[database:app]\nurl = sqlite:///app.db\nmigrations_dir = db/migrations\n\
                        alembic_ini = /srv/app/alembic.ini\nalembic_path = venv/bin/alembic\nenvironment = staging\n");
        let list = read(Some(&file), &[], &[]).unwrap();
        assert_eq!(list[0].migrations_dir.as_deref(), Some(Path::new("/etc/strata/db/migrations")));
        assert_eq!(list[0].alembic_ini.as_deref(), Some(Path::new("/srv/app/alembic.ini")));
        assert_eq!(list[0].alembic_path.as_deref(), Some(Path::new("/etc/strata/venv/bin/alembic")));
        assert_eq!(list[0].group.as_deref(), Some("staging"));
    }

    #[test]
    fn a_bad_or_duplicate_name_is_an_error_naming_it() {
        let e = read(None, &[], &["Shop=sqlite:///a.db".into()]).unwrap_err().to_string();
        assert!(e.contains("\"Shop\""), "{e}");
        let e = read(None, &[], &["a=sqlite:///a.db".into(), "a=sqlite:///b.db".into()]).unwrap_err().to_string();
        assert!(e.contains("\"a\" is given twice"), "{e}");
        let e = read(Some(&ini("[database:x]\nurl = sqlite:///x.db\nreadonly = 1\n")), &[], &[]).unwrap_err();
        assert!(e.to_string().contains("readonly"), "{e}");
    }

    #[test]
    fn encryption_recipients_and_offsite_settings_are_checked_at_load() {
        let good = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        let file = ini(&format!(
            "[database:app]\nurl = sqlite:///app.db\nbackup_encrypt_to = {good}, {good}\n\
             backup_offsite = s3://my-bucket/nightly/app/\nbackup_offsite_endpoint = http://127.0.0.1:9000\n\
             backup_offsite_secret_access_key = s3cr3t\n"
        ));
        let list = read(Some(&file), &[], &[]).unwrap();
        assert_eq!(list[0].backup_encrypt_to, [good, good]);
        let offsite = list[0].backup_offsite.as_ref().unwrap();
        assert_eq!(
            (offsite.to_string().as_str(), offsite.prefix.as_str()),
            ("s3://my-bucket/nightly/app", "nightly/app")
        );
        assert!(!format!("{:?}", list[0]).contains("s3cr3t"), "the secret is never shown");
        let e = read(Some(&ini("[database:app]\nurl = sqlite:///app.db\nbackup_encrypt_to = age1oops\n")), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("backup_encrypt_to") && e.contains("age1oops") && e.contains(":3"), "{e}");
        let e = read(Some(&ini("[database:app]\nurl = sqlite:///app.db\nbackup_offsite = /mnt/b\n")), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("backup_offsite") && e.contains("s3://bucket/prefix"), "{e}");
        let e = read(Some(&ini("[database:app]\nurl = sqlite:///app.db\nbackup_offsite_region = x\n")), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("backup_offsite_region") && e.contains("backup_offsite = s3://"), "{e}");
    }

    #[test]
    fn backup_keys_are_parsed_and_a_bad_one_is_named() {
        let file = ini("[database:app]\nurl = sqlite:///app.db\nbackup_schedule = @every 2s\n\
                        backup_keep = last=3 daily=7\nbackup_max_age = 30d\nrestore_test = after_backup\n");
        let list = read(Some(&file), &[], &[]).unwrap();
        assert_eq!(list[0].backup_schedule.as_ref().map(|s| s.to_string()).as_deref(), Some("@every 2s"));
        assert_eq!(list[0].backup_keep.map(|k| k.to_string()).as_deref(), Some("last=3 daily=7"));
        assert_eq!(list[0].backup_max_age, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(list[0].restore_test, RestoreTest::AfterBackup);
        let e = read(Some(&ini("[database:app]\nurl = sqlite:///app.db\nbackup_schedule = 0 3 * *\n")), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("backup_schedule") && e.contains(":3"), "{e}");
        let e = read(Some(&ini("[database:app]\nurl = sqlite:///app.db\nbackup_keep = dayly=7\n")), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("backup_keep") && e.contains("dayly"), "{e}");
    }

    #[test]
    fn the_project_database_joins_the_entry_with_its_url_or_gets_its_own_name() {
        let url = DatabaseUrl::parse("postgresql://u:p@h/shop").unwrap();
        let mut list = vec![WatchSpec::new("main".into(), url.clone(), "x".into())];
        add_project(&mut list, &url, "DATABASE_URL".into());
        assert_eq!(list.len(), 1);
        assert!(list[0].project);
        let mut list = vec![WatchSpec::new("shop".into(), DatabaseUrl::parse("sqlite:///s.db").unwrap(), "x".into())];
        add_project(&mut list, &url, "DATABASE_URL".into());
        assert_eq!(list[0].name, "shop-project");
        assert!(list[0].project);
    }
}
