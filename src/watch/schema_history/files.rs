//! A project folder's migration files (`migrations_dir`): which are pending, which are out of order, which were
//! changed after they were applied (Flyway's CRC32 and Prisma's SHA-256 checksums), and which applied ones have
//! no file any more.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{AppliedState, Pending, Problem, ProblemKind, Tool, ToolHistory};

/// A migration file as its tool names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMigration {
    /// The version as the tool records it in its table.
    pub version: String,
    pub name: Option<String>,
    /// Relative to the project folder.
    pub path: String,
    /// The checksum the tool would record (Flyway, Prisma).
    pub checksum: Option<String>,
    /// A Flyway repeatable migration (`R__name.sql`): no version, run again when its checksum changes.
    pub repeatable: bool,
}

/// Flyway's checksum of a script: CRC-32 (IEEE) over the UTF-8 bytes of its lines without their line breaks, a
/// leading byte-order mark dropped, as a signed 32-bit integer — what Flyway's `ChecksumCalculator` computes, so
/// it does not change with line endings.
pub fn flyway_checksum(script: &[u8]) -> i32 {
    let text = String::from_utf8_lossy(script);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut crc = Crc32::default();
    for line in text.split(['\n', '\r']) {
        crc.update(line.as_bytes());
    }
    crc.finish() as i32
}

/// Prisma's checksum of `migration.sql`: the SHA-256 of its bytes in lower-case hex.
pub fn prisma_checksum(script: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(script))
}

/// Whether a script matches a checksum Prisma recorded, as Prisma decides it: with the file's line endings, or
/// with CRLF turned into LF or LF into CRLF (git may have changed them), and in the old form without zero padding.
pub fn prisma_matches(script: &[u8], recorded: &str) -> bool {
    let text = String::from_utf8_lossy(script);
    let variants = [text.to_string(), text.replace("\r\n", "\n"), text.replace('\n', "\r\n")];
    variants.iter().any(|v| {
        let digest = Sha256::digest(v.as_bytes());
        if recorded.len() == 64 {
            crate::hex::encode(&digest) == recorded
        } else {
            digest.iter().map(|b| format!("{b:x}")).collect::<String>() == recorded
        }
    })
}

/// CRC-32 with the IEEE polynomial (as `java.util.zip.CRC32`).
struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Crc32(0xFFFF_FFFF)
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Crc32 {
    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = CRC_TABLE[((self.0 ^ u32::from(*b)) & 0xFF) as usize] ^ (self.0 >> 8);
        }
    }

    fn finish(&self) -> u32 {
        !self.0
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses one directory entry (a file, or for Prisma and Diesel a folder) as `tool`'s migration.
fn parse(tool: Tool, dir: &Path, entry: &str, is_dir: bool) -> Option<FileMigration> {
    let plain = |version: String, name: &str, path: &str| FileMigration {
        version,
        name: Some(name.to_string()).filter(|n| !n.is_empty()),
        path: path.to_string(),
        checksum: None,
        repeatable: false,
    };
    match tool {
        Tool::Prisma if is_dir => {
            let script = std::fs::read(dir.join(entry).join("migration.sql")).ok()?;
            Some(FileMigration {
                checksum: Some(prisma_checksum(&script)),
                ..plain(entry.to_string(), "", &format!("{entry}/migration.sql"))
            })
        }
        Tool::Diesel if is_dir => {
            dir.join(entry).join("up.sql").is_file().then_some(())?;
            let (version, name) = entry.split_once('_').unwrap_or((entry, ""));
            let version = version.replace('-', "");
            digits(&version).then(|| plain(version, name, &format!("{entry}/up.sql")))
        }
        _ if is_dir => None,
        Tool::Flyway => {
            let stem = entry.strip_suffix(".sql")?;
            let checksum = || std::fs::read(dir.join(entry)).ok().map(|s| flyway_checksum(&s).to_string());
            if let Some(desc) = stem.strip_prefix("R__") {
                let desc = desc.replace('_', " ");
                return Some(FileMigration {
                    checksum: checksum(),
                    repeatable: true,
                    ..plain(format!("R {desc}"), &desc, entry)
                });
            }
            let (version, desc) = stem.strip_prefix('V')?.split_once("__")?;
            let version = version.replace('_', ".");
            Some(FileMigration { checksum: checksum(), ..plain(version, &desc.replace('_', " "), entry) })
        }
        Tool::GolangMigrate => {
            let stem = entry.rsplit_once('.').map(|(s, _)| s)?.strip_suffix(".up")?;
            let (version, name) = stem.split_once('_').unwrap_or((stem, ""));
            let version: u64 = version.parse().ok()?;
            Some(plain(version.to_string(), name, entry))
        }
        Tool::Goose => {
            let stem = entry.strip_suffix(".sql").or_else(|| entry.strip_suffix(".go"))?;
            let (version, name) = stem.split_once('_')?;
            let version: i64 = version.parse().ok()?;
            Some(plain(version.to_string(), name, entry))
        }
        Tool::Dbmate | Tool::Rails => {
            let stem = entry.strip_suffix(if tool == Tool::Rails { ".rb" } else { ".sql" })?;
            let (version, name) = stem.split_once('_').unwrap_or((stem, ""));
            digits(version).then(|| plain(version.to_string(), name, entry))
        }
        Tool::Knex | Tool::Sequelize => {
            let ext = entry.rsplit_once('.').map(|(_, e)| e)?;
            (["js", "ts", "cjs", "mjs"].contains(&ext) && !entry.ends_with(".d.ts") && !entry.starts_with('.'))
                .then(|| plain(entry.to_string(), "", entry))
        }
        Tool::Typeorm => {
            let stem = entry.strip_suffix(".ts").or_else(|| entry.strip_suffix(".js"))?;
            let (timestamp, name) = stem.split_once('-')?;
            digits(timestamp).then(|| plain(timestamp.to_string(), name, entry))
        }
        Tool::Seaorm => {
            let stem = entry.strip_suffix(".rs")?;
            let rest = stem.strip_prefix('m')?;
            (rest.len() > 16 && digits(&rest[..8]) && &rest[8..9] == "_" && digits(&rest[9..15]))
                .then(|| plain(stem.to_string(), &rest[16..], entry))
        }
        _ => None,
    }
}

/// Lists `dir`'s migrations for `tool`, in the tool's order.
pub fn scan(tool: Tool, dir: &Path) -> std::io::Result<Vec<FileMigration>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if let Some(m) = parse(tool, dir, &name, entry.file_type()?.is_dir()) {
            out.push(m);
        }
    }
    out.sort_by(|a, b| a.repeatable.cmp(&b.repeatable).then_with(|| compare_versions(&a.version, &b.version)));
    Ok(out)
}

/// Which tool's files `dir` holds, for a database whose version table does not exist yet.
pub fn infer(dir: &Path) -> Option<Tool> {
    let order = [Tool::Prisma, Tool::Diesel, Tool::Flyway, Tool::GolangMigrate, Tool::Typeorm, Tool::Seaorm];
    for tool in order {
        if scan(tool, dir).is_ok_and(|f| !f.is_empty()) {
            return Some(tool);
        }
    }
    // goose and dbmate both name files `NNN_name.sql`: their annotations tell them apart.
    let sql: Vec<FileMigration> = scan(Tool::Dbmate, dir).ok()?;
    let first = sql.first()?;
    let text = std::fs::read_to_string(dir.join(&first.path)).unwrap_or_default();
    if text.contains("-- +goose") {
        Some(Tool::Goose)
    } else if text.contains("-- migrate:up") {
        Some(Tool::Dbmate)
    } else {
        None
    }
}

/// Orders versions as the tools do: dotted numbers numerically (`1.10` after `1.9`), anything else as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// `1.02.0` as `[1, 2]`: Flyway treats these as the same version.
fn numeric(v: &str) -> Option<Vec<u128>> {
    let mut parts: Vec<u128> = v.split(['.', '_']).map(|p| p.parse().ok()).collect::<Option<_>>()?;
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    Some(parts)
}

fn same(a: &str, b: &str) -> bool {
    compare_versions(a, b) == Ordering::Equal
}

/// Fills `h.pending` and its problems from the project folder's files.
pub fn compare(h: &mut ToolHistory, dir: &Path, files: Vec<FileMigration>) {
    h.files_dir = Some(dir.display().to_string());
    let applied: Vec<(String, Option<String>)> = h
        .applied
        .iter()
        .filter(|a| matches!(a.state, AppliedState::Applied | AppliedState::Dirty))
        .filter(|a| !(h.tool == Tool::Flyway && a.detail.as_deref().is_some_and(|d| d.starts_with("BASELINE"))))
        .map(|a| (a.version.clone(), a.checksum.clone()))
        .collect();
    let newest =
        applied.iter().map(|(v, _)| v.as_str()).filter(|v| !v.starts_with("R ")).max_by(|a, b| compare_versions(a, b));
    let newest = newest.map(str::to_string);
    let is_applied = |f: &FileMigration| -> bool {
        if h.tool == Tool::GolangMigrate {
            // golang-migrate keeps only the version it is at: every file up to it counts as applied.
            return h.current.as_deref().is_some_and(|c| compare_versions(&f.version, c) != Ordering::Greater);
        }
        applied.iter().any(|(v, _)| same(v, &f.version))
    };
    for f in &files {
        if f.repeatable {
            // Flyway runs a repeatable migration again whenever its checksum changes.
            let last = h.applied.iter().rev().find(|a| a.version == f.version && a.state == AppliedState::Applied);
            if last.is_none_or(|a| a.checksum != f.checksum) {
                h.pending.push(Pending {
                    version: f.version.clone(),
                    name: f.name.clone(),
                    path: Some(f.path.clone()),
                    out_of_order: false,
                });
            }
            continue;
        }
        if is_applied(f) {
            let recorded = applied.iter().rev().find(|(v, _)| same(v, &f.version)).and_then(|(_, c)| c.clone());
            let changed = match (h.tool, &recorded, &f.checksum) {
                (Tool::Flyway, Some(r), Some(c)) => r != c,
                (Tool::Prisma, Some(r), Some(_)) => {
                    std::fs::read(dir.join(&f.path)).is_ok_and(|script| !prisma_matches(&script, r))
                }
                _ => false,
            };
            if changed {
                h.problems.push(Problem::new(
                    ProblemKind::ChecksumMismatch,
                    Some(&f.version),
                    format!(
                        "{} was changed after it was applied (checksum {} recorded, the file's is {}): {}",
                        f.path,
                        recorded.unwrap_or_default(),
                        f.checksum.clone().unwrap_or_default(),
                        match h.tool {
                            Tool::Flyway =>
                                "`flyway validate` fails on this. Put the file back as applied, or run \
                                             `flyway repair` to accept the edit.",
                            _ =>
                                "Prisma reports it as modified after it was applied. Put the file back as applied; \
                                  put new changes in a new migration.",
                        }
                    ),
                ));
            }
            continue;
        }
        // A failed or dirty attempt is a problem of its own (already listed), not a pending file.
        let attempted = h.applied.iter().rev().find(|a| same(&a.version, &f.version));
        if attempted.is_some_and(|a| matches!(a.state, AppliedState::Failed | AppliedState::Running)) {
            continue;
        }
        let out_of_order = newest.as_deref().is_some_and(|n| compare_versions(&f.version, n) == Ordering::Less);
        if out_of_order {
            h.problems.push(Problem::new(
                ProblemKind::OutOfOrder,
                Some(&f.version),
                format!(
                    "{} is pending but older than {}, the newest applied migration: {}",
                    f.path,
                    newest.as_deref().unwrap_or(""),
                    out_of_order_advice(h.tool)
                ),
            ));
        }
        h.pending.push(Pending {
            version: f.version.clone(),
            name: f.name.clone(),
            path: Some(f.path.clone()),
            out_of_order,
        });
    }
    if h.tool == Tool::GolangMigrate {
        if let Some(c) = h.current.clone()
            && !files.iter().any(|f| same(&f.version, &c))
        {
            h.problems.push(missing(h.tool, &c, dir));
        }
        return;
    }
    let mut seen = HashSet::new();
    for (v, _) in &applied {
        if v.starts_with("R ") || !seen.insert(v.clone()) {
            continue;
        }
        if !files.iter().any(|f| same(&f.version, v)) {
            h.problems.push(missing(h.tool, v, dir));
        }
    }
}

fn missing(tool: Tool, version: &str, dir: &Path) -> Problem {
    Problem::new(
        ProblemKind::MissingScript,
        Some(version),
        format!(
            "{version} is applied but has no file in {}: restore it from version control (a deleted or renamed \
             migration makes {} {}).",
            dir.display(),
            tool.label(),
            match tool {
                Tool::Flyway => "fail `validate` (\"applied migration not resolved locally\")",
                Tool::Knex => "refuse to run (\"the migration directory is corrupt\")",
                Tool::GolangMigrate => "unable to migrate down from here",
                _ => "lose track of what the database holds",
            }
        ),
    )
}

fn out_of_order_advice(tool: Tool) -> &'static str {
    match tool {
        Tool::Flyway => {
            "Flyway ignores it and `validate` fails unless outOfOrder=true; rename it to a newer version, \
                         or run with -outOfOrder=true."
        }
        Tool::GolangMigrate => "golang-migrate will never apply it; give it a version above the current one.",
        Tool::Goose => {
            "goose refuses to run unless -allow-missing; give it a newer version or run with -allow-missing."
        }
        Tool::Dbmate => {
            "dbmate applies it on the next `dbmate up` (or refuses with --strict); check it does not \
                         depend on order."
        }
        _ => {
            "it was likely merged from a branch after newer ones ran; check it does not depend on their order before \
              applying it."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flyway_checksum_is_crc32_over_the_lines_without_their_breaks() {
        // CRC-32/IEEE's published check value: crc32("123456789") = 0xCBF43926 (= -873187034 as Java's int).
        assert_eq!(flyway_checksum(b"123456789"), 0xCBF4_3926_u32 as i32);
        assert_eq!(flyway_checksum(b"12345\r\n6789\n"), -873_187_034);
        assert_eq!(flyway_checksum("\u{feff}1234\n56789".as_bytes()), -873_187_034);
        assert_ne!(flyway_checksum(b"12345 6789"), -873_187_034);
    }

    #[test]
    fn prisma_checksum_is_sha256_hex_and_matching_ignores_line_endings() {
        // prisma-engines, schema-engine/connectors/schema-connector/src/checksum.rs, format_checksum_does_not_strip_zeros.
        assert_eq!(prisma_checksum(b"hello"), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert!(prisma_matches(b"a\r\nb\r\n", &prisma_checksum(b"a\nb\n")));
        assert!(!prisma_matches(b"abc\n", &prisma_checksum(b"abc")));
    }

    #[test]
    fn a_folder_s_tool_is_inferred_from_its_file_names_and_annotations() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("20240101120000_init.sql"), "-- migrate:up\nSELECT 1;\n").unwrap();
        assert_eq!(infer(dir.path()), Some(Tool::Dbmate));
        std::fs::write(dir.path().join("20240101120000_init.sql"), "-- +goose Up\nSELECT 1;\n").unwrap();
        assert_eq!(infer(dir.path()), Some(Tool::Goose));
        std::fs::write(dir.path().join("V1__init.sql"), "SELECT 1;\n").unwrap();
        assert_eq!(infer(dir.path()), Some(Tool::Flyway));
    }

    #[test]
    fn versions_order_numerically_and_flyway_versions_compare_by_number() {
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.0", "1"), Ordering::Equal);
        assert_eq!(compare_versions("20240301", "9"), Ordering::Greater);
    }
}
