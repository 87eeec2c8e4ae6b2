//! SQLite's own guard on every query-editor connection: an authorizer and an attach limit keep other files (Strata's
//! home database among them) and the pragmas that matter out of the editor's reach, enforced by the engine, never
//! by parsing SQL. Strata's own tables are not in a watched database at all: they live in the home database, which
//! is never watched.
//!
//! What the authorizer refuses, on read-only and write runs alike (the statement fails with SQLite's
//! "not authorized" before it runs):
//! - `ATTACH` and `DETACH` (and the attached-database limit is 0, which also stops `VACUUM INTO`: SQLite
//!   attaches its output file internally and checks that limit before it creates the file);
//! - every pragma outside a short list that only reads: catalog pragmas (`table_info`, `index_list`, ... and
//!   their `pragma_*` table-valued forms, which SQLite authorizes as the same pragma) may name a table, other
//!   listed pragmas may only be read (`PRAGMA user_version`, not `PRAGMA user_version = 3`);
//! - the `load_extension` function.
//!
//! This is the one module of Strata with `unsafe` code (see `src/lib.rs`): sqlx exposes no authorizer, only
//! the raw `sqlite3*` of a locked connection.

#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ffi::{CStr, c_char, c_int, c_void};

use libsqlite3_sys as ffi;
use sea_orm::sqlx::{self, sqlite::SqliteConnection};

/// What the editor shows after SQLite's own "not authorized" or attach-limit error.
pub(crate) const REFUSAL: &str = "the query editor cannot attach or write other database files (Strata's own \
    among them), change pragmas or load extensions; SQLite's authorizer refused it";

/// Pragmas that read the catalog or check the database; their argument names a table or an index, or is a count.
const CATALOG_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
    "database_list",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
];

/// Pragmas that may be read but never set through the editor.
const READ_PRAGMAS: &[&str] = &[
    "application_id",
    "auto_vacuum",
    "busy_timeout",
    "cache_size",
    "data_version",
    "defer_foreign_keys",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "journal_mode",
    "journal_size_limit",
    "legacy_alter_table",
    "max_page_count",
    "page_count",
    "page_size",
    "query_only",
    "recursive_triggers",
    "schema_version",
    "secure_delete",
    "synchronous",
    "temp_store",
    "user_version",
    "wal_autocheckpoint",
];

/// Installs the authorizer and the attach limit on a connection the editor opened, before any user SQL runs on it.
pub(crate) async fn install(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the open connection's handle, and the `LockedSqliteHandle` held until the end of this
    // function guarantees sqlx's worker thread makes no call on it meanwhile. `authorize` matches the callback
    // type SQLite expects, never unwinds (see `authorize`), and uses no user data: the pointer is null.
    let rc = unsafe { ffi::sqlite3_set_authorizer(db, Some(authorize), std::ptr::null_mut()) };
    if rc != ffi::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!("cannot install the SQLite authorizer (code {rc})")));
    }
    // SAFETY: the same handle under the same lock; `sqlite3_limit` only lowers a per-connection limit.
    unsafe { ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_ATTACHED, 0) };
    Ok(())
}

/// The callback SQLite calls while it prepares each statement (and each statement it prepares internally).
///
/// No panic may cross this boundary: the decision is pure code over borrowed strings, and any panic all the
/// same is caught and turned into a refusal.
unsafe extern "C" fn authorize(
    _user_data: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _schema: *const c_char,
    _trigger_or_view: *const c_char,
) -> c_int {
    // SAFETY: SQLite passes either null or a NUL-terminated UTF-8 string that stays valid during this call,
    // and `text` copies nothing out of it that outlives the call.
    let (arg1, arg2) = unsafe { (text(arg1), text(arg2)) };
    let allowed = std::panic::catch_unwind(|| allowed(action, arg1.as_deref(), arg2.as_deref())).unwrap_or(false);
    if allowed { ffi::SQLITE_OK } else { ffi::SQLITE_DENY }
}

/// A string argument of the authorizer; invalid UTF-8 is kept (replaced), never taken for "no argument".
///
/// # Safety
/// `p` is null or points to a NUL-terminated string valid for `'a`.
unsafe fn text<'a>(p: *const c_char) -> Option<Cow<'a, str>> {
    // SAFETY: guaranteed by the caller.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy())
}

/// Whether SQLite may go on with one action of a statement (the authorizer's two action-specific arguments).
fn allowed(action: c_int, arg1: Option<&str>, arg2: Option<&str>) -> bool {
    match action {
        ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => false,
        ffi::SQLITE_PRAGMA => pragma_allowed(arg1.unwrap_or(""), arg2),
        ffi::SQLITE_FUNCTION => !arg2.is_some_and(|f| f.eq_ignore_ascii_case("load_extension")),
        _ => true,
    }
}

/// Catalog pragmas with or without an argument; other listed pragmas only without one (reading them).
fn pragma_allowed(name: &str, argument: Option<&str>) -> bool {
    let listed = |list: &[&str]| list.iter().any(|p| p.eq_ignore_ascii_case(name));
    listed(CATALOG_PRAGMAS) || (argument.is_none() && listed(READ_PRAGMAS))
}

/// The message the editor shows for a SQLite error: the guard's refusals say what was refused and why.
pub(crate) fn message(code: Option<&str>, message: &str) -> String {
    // SQLITE_AUTH is 23; the attach limit is a plain SQLITE_ERROR with this text.
    if code == Some("23") || message.starts_with("too many attached databases") {
        format!("{message}: {REFUSAL}")
    } else {
        message.to_string()
    }
}

/// A statement's error as text (without PostgreSQL's C source line), with the guard's reason added when it was the
/// guard that refused it.
pub(crate) fn describe(e: &sqlx::Error) -> String {
    let text = crate::error::sqlx_text(e);
    match e.as_database_error() {
        Some(db) if db.code().as_deref() == Some("23") || db.message().starts_with("too many attached databases") => {
            format!("{text}: {REFUSAL}")
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_may_have_tables_named_like_stratas_own() {
        // Strata's tables live in the home database; a watched app's `audit_log` or `api_keys` is its own.
        for table in ["admin_users", "api_keys", "audit_log"] {
            assert!(allowed(ffi::SQLITE_READ, Some(table), Some("id")), "{table}");
            assert!(allowed(ffi::SQLITE_INSERT, Some(table), None));
        }
    }

    #[test]
    fn pragmas_may_read_the_catalog_but_set_nothing() {
        assert!(pragma_allowed("table_info", Some("users")));
        assert!(pragma_allowed("INDEX_LIST", Some("users")));
        assert!(pragma_allowed("user_version", None));
        assert!(!pragma_allowed("user_version", Some("3")));
        assert!(!pragma_allowed("query_only", Some("OFF")));
        assert!(!pragma_allowed("journal_mode", Some("DELETE")));
        assert!(!pragma_allowed("writable_schema", None));
        assert!(!pragma_allowed("wal_checkpoint", None));
        assert!(!allowed(ffi::SQLITE_ATTACH, Some("/tmp/x.db"), None));
        assert!(!allowed(ffi::SQLITE_FUNCTION, None, Some("load_extension")));
        assert!(allowed(ffi::SQLITE_FUNCTION, None, Some("lower")));
    }

    #[test]
    fn refusals_say_why_and_other_errors_stay_as_they_are() {
        assert!(message(Some("23"), "not authorized").contains("authorizer refused"));
        assert!(message(Some("1"), "too many attached databases - max 0").contains("attach"));
        assert_eq!(message(Some("1"), "no such table: x"), "no such table: x");
    }
}
