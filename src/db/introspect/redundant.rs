//! The index redundancy rule for backends whose catalog describes a key as a plain list (SQLite, MariaDB).
//!
//! Each key part is compared as one text that already holds everything that matters about it (column or
//! expression, sort order, collation, prefix length), so two parts are interchangeable only when the
//! texts are equal. Index A is made redundant by index B when
//! - both are on the same table, B is valid, and they use the same access method and the same predicate;
//! - A's key parts are a prefix of B's (btree; other methods need exactly the same parts);
//! - if A is unique (or primary), B is unique on exactly the same parts: a unique index is never
//!   redundant to a non-unique one, nor to a wider unique one (it enforces something B does not).
//!
//! When A and B make each other redundant (exact duplicates), only the weaker one is reported: primary
//! beats constraint-backed, which beats plain unique, which beats plain; between equals the name that
//! sorts first is kept. (PostgreSQL has more to compare — operator classes, INCLUDE columns, NULLS NOT
//! DISTINCT — and keeps its own rule in `postgres/indexes.rs`.)

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;

/// What the rule compares about one index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IndexShape {
    pub table: String,
    pub name: String,
    /// Lower-case access method; `btree` lets a prefix be redundant.
    pub method: String,
    /// Key parts in order, each as comparable text.
    pub keys: Vec<String>,
    /// A partial index's condition, as the catalog gives it.
    pub predicate: Option<String>,
    pub unique: bool,
    pub primary: bool,
    /// Backs a declared PRIMARY KEY or UNIQUE constraint rather than a plain CREATE INDEX.
    pub constraint: bool,
    pub valid: bool,
}

impl IndexShape {
    /// Which index of an exact-duplicate pair is kept: the higher rank, then the name that sorts first.
    fn rank(&self) -> (bool, bool, bool) {
        (self.primary, self.constraint, self.unique)
    }

    fn outranks(&self, other: &IndexShape) -> bool {
        match self.rank().cmp(&other.rank()) {
            Ordering::Equal => self.name < other.name,
            order => order == Ordering::Greater,
        }
    }

    /// True when `self` makes `a` redundant (see the module comment).
    fn covers(&self, a: &IndexShape) -> bool {
        let (b, n) = (self, a.keys.len());
        let same_frame = b.name != a.name
            && b.table == a.table
            && b.valid
            && b.method == a.method
            && b.predicate == a.predicate
            && n > 0;
        let width_ok = if a.method == "btree" { n <= b.keys.len() } else { n == b.keys.len() };
        if !same_frame || !width_ok {
            return false;
        }
        let prefix = a.keys.iter().zip(&b.keys).all(|(x, y)| x == y);
        let uniqueness = !(a.unique || a.primary) || ((b.unique || b.primary) && b.keys.len() == n);
        prefix && uniqueness
    }
}

/// For each index, the name of the index that makes it redundant, if any.
pub(crate) fn redundant_to(shapes: &[IndexShape]) -> Vec<Option<String>> {
    let mut by_table: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in shapes.iter().enumerate() {
        by_table.entry(s.table.as_str()).or_default().push(i);
    }
    let mut result = vec![None; shapes.len()];
    for members in by_table.values() {
        for &a in members {
            let a_shape = &shapes[a];
            let best = members
                .iter()
                .map(|&b| &shapes[b])
                .filter(|b| b.covers(a_shape) && !(a_shape.covers(b) && a_shape.outranks(b)))
                // An exact match reads best; then the strongest index, then the first name.
                .min_by_key(|b| (b.keys.len() != a_shape.keys.len(), Reverse(b.rank()), &b.name));
            result[a] = best.map(|b| b.name.clone());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, keys: &[&str]) -> IndexShape {
        IndexShape {
            table: "t".into(),
            name: name.into(),
            method: "btree".into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            valid: true,
            ..IndexShape::default()
        }
    }

    fn unique(mut s: IndexShape) -> IndexShape {
        s.unique = true;
        s
    }

    fn duplicates(shapes: &[IndexShape]) -> Vec<(String, Option<String>)> {
        shapes.iter().map(|s| s.name.clone()).zip(redundant_to(shapes)).collect()
    }

    #[test]
    fn a_prefix_is_redundant_but_a_longer_or_reordered_index_is_not() {
        let got = duplicates(&[index("a", &["x"]), index("ab", &["x", "y"]), index("ba", &["y", "x"])]);
        assert_eq!(got, [("a".into(), Some("ab".into())), ("ab".into(), None), ("ba".into(), None)]);
    }

    #[test]
    fn exact_duplicates_report_only_the_one_whose_name_sorts_later() {
        for shapes in [[index("x1", &["c"]), index("x2", &["c"])], [index("x2", &["c"]), index("x1", &["c"])]] {
            let got = duplicates(&shapes);
            let reported: Vec<_> = got.iter().filter(|(_, d)| d.is_some()).collect();
            assert_eq!(reported, [&("x2".to_string(), Some("x1".to_string()))]);
        }
    }

    #[test]
    fn of_exact_duplicates_the_primary_then_the_constraint_then_the_unique_one_is_kept() {
        let mut pk = unique(index("a_pk", &["id"]));
        pk.primary = true;
        let mut constraint = unique(index("b_constraint", &["id"]));
        constraint.constraint = true;
        let plain_unique = unique(index("0_unique", &["id"]));
        let plain = index("0_plain", &["id"]);
        let got = duplicates(&[plain, plain_unique, constraint, pk]);
        assert_eq!(got[0].1.as_deref(), Some("a_pk"), "an exact match of the strongest index is named");
        assert_eq!(got[1].1.as_deref(), Some("a_pk"));
        assert_eq!(got[2].1.as_deref(), Some("a_pk"));
        assert_eq!(got[3].1, None, "the primary key stays");
    }

    #[test]
    fn a_unique_index_is_never_redundant_to_a_plain_or_a_wider_unique_one() {
        let got = duplicates(&[unique(index("u_a", &["a"])), index("a", &["a"]), unique(index("u_ab", &["a", "b"]))]);
        assert_eq!(got[0].1, None, "unique (a) enforces something");
        assert_eq!(got[1].1.as_deref(), Some("u_a"), "the exact match is preferred over the wider one");
        assert_eq!(got[2].1, None);
    }

    #[test]
    fn order_collation_predicate_method_table_and_validity_matter() {
        let mut partial = index("a_partial", &["a"]);
        partial.predicate = Some("a > 0".into());
        let mut hash = index("a_hash", &["a"]);
        hash.method = "hash".into();
        let mut other_table = index("a_other", &["a"]);
        other_table.table = "u".into();
        let got = duplicates(&[
            index("a_desc", &["a DESC"]),
            index("a_nocase", &["a COLLATE NOCASE"]),
            partial,
            hash,
            other_table,
        ]);
        assert!(got.iter().all(|(_, d)| d.is_none()), "{got:?}");

        let mut invalid = index("ab_invalid", &["a", "b"]);
        invalid.valid = false;
        let got = duplicates(&[index("a", &["a"]), invalid]);
        assert_eq!(got[0].1, None, "an invalid index covers nothing");
    }

    #[test]
    fn non_btree_methods_need_the_same_keys_exactly() {
        let mut a = index("ft_a", &["a"]);
        a.method = "fulltext".into();
        let mut ab = index("ft_ab", &["a", "b"]);
        ab.method = "fulltext".into();
        let mut a2 = index("ft_a2", &["a"]);
        a2.method = "fulltext".into();
        let got = duplicates(&[a, ab, a2]);
        assert_eq!(got[0].1, None);
        assert_eq!(got[1].1, None);
        assert_eq!(got[2].1.as_deref(), Some("ft_a"));
    }
}
