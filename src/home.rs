//! Strata's own state: the tables that hold accounts, sessions, keys, secrets, the audit log and query history.
//!
//! They share the project database until Strata's state moves to a home database of its own; until then
//! this list is what the engines are told to keep away from the query editor (SQLite's authorizer, the
//! grants of a viewer login).

/// Every table of Strata's own state. Nothing in this list may be read or written through the query editor.
pub const OWN_TABLES: &[&str] =
    &["admin_users", "strata_sessions", "audit_log", "query_history", "api_keys", "strata_secrets"];

/// Whether `table` (compared without regard to ASCII case, as MariaDB and SQLite compare names) is Strata's own.
pub fn is_own_table(table: &str) -> bool {
    OWN_TABLES.iter().any(|t| t.eq_ignore_ascii_case(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_tables_are_recognised_whatever_their_case() {
        assert!(is_own_table("strata_sessions"));
        assert!(is_own_table("Admin_Users"));
        assert!(!is_own_table("users"));
    }
}
