//! The revision graph as Alembic's `RevisionMap` builds it: heads and "real" heads, bases, branch points, merge
//! points, `depends_on` edges (normalized as Alembic does), branch labels spread along their branch, cycle checks,
//! the topological order `alembic history` prints, and what `alembic current` shows for the database's rows.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;

/// One revision file, as read from disk.
#[derive(Clone, Debug)]
pub struct Script {
    /// The revision id (`revision = "..."`).
    pub revision: String,
    /// `down_revision` as a list: empty for a base, two or more for a merge.
    pub down_revision: Vec<String>,
    /// `depends_on` as written (revision ids or branch labels).
    pub dependencies: Vec<String>,
    /// `branch_labels` as written in this file.
    pub declared_labels: Vec<String>,
    /// The file, absolute and with symlinks resolved (Alembic prints it in `history --verbose`).
    pub path: PathBuf,
    /// The docstring with surrounding whitespace stripped (Alembic's `longdoc`).
    pub longdoc: String,
    /// Every branch label that applies here, the declared ones and those spread from labelled revisions.
    pub branch_labels: BTreeSet<String>,
    nextrev: Vec<usize>,
    all_nextrev: Vec<usize>,
    resolved_deps: Vec<usize>,
    normalized_deps: Vec<usize>,
}

impl Script {
    /// A script as read from its file; the graph fields are filled by [`Graph::build`].
    pub fn new(
        revision: String,
        down_revision: Vec<String>,
        dependencies: Vec<String>,
        declared_labels: Vec<String>,
        path: PathBuf,
        longdoc: String,
    ) -> Script {
        Script {
            revision,
            down_revision,
            dependencies,
            declared_labels,
            path,
            longdoc,
            branch_labels: BTreeSet::new(),
            nextrev: Vec::new(),
            all_nextrev: Vec::new(),
            resolved_deps: Vec::new(),
            normalized_deps: Vec::new(),
        }
    }

    /// The docstring's first paragraph (Alembic's `doc`): the message `history` prints.
    pub fn doc(&self) -> &str {
        self.longdoc.split("\n\n").next().unwrap_or("")
    }

    /// Whether it is a base (no `down_revision`).
    pub fn is_base(&self) -> bool {
        self.down_revision.is_empty()
    }

    /// Whether no revision names it as `down_revision` (Alembic's `is_head`).
    pub fn is_head(&self) -> bool {
        self.nextrev.is_empty()
    }

    /// Whether no revision names it at all, as `down_revision` or in `depends_on` (Alembic's `_is_real_head`).
    pub fn is_real_head(&self) -> bool {
        self.all_nextrev.is_empty()
    }

    /// Whether several revisions name it as their `down_revision`.
    pub fn is_branch_point(&self) -> bool {
        self.nextrev.len() > 1
    }

    /// Whether it merges several `down_revision`s.
    pub fn is_merge_point(&self) -> bool {
        self.down_revision.len() > 1
    }

    fn is_real_branch_point(&self) -> bool {
        self.all_nextrev.len() > 1
    }

    /// The `depends_on` revisions as ids (branch labels resolved).
    pub fn resolved_dependencies(&self) -> &[usize] {
        &self.resolved_deps
    }
}

/// Why the revisions do not form a graph Alembic accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphError {
    /// An error Alembic raises as a `RevisionError` (cycles, bad ids, a branch name used twice): the message is
    /// Alembic's own.
    Revision(String),
    /// A `down_revision` or `depends_on` that names no revision or branch label (Alembic stops with a KeyError).
    Missing {
        /// The name that is not there.
        reference: String,
        /// The revision naming it.
        from: String,
        /// Its file.
        file: PathBuf,
    },
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Revision(message) => f.write_str(message),
            GraphError::Missing { reference, from, file } => write!(
                f,
                "revision {from} ({}) names {reference:?}, which is no revision or branch label in the scripts",
                file.display()
            ),
        }
    }
}

/// The revision map of an Alembic project.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    revs: Vec<Script>,
    /// Revision ids and branch labels, as Alembic's map holds both.
    keys: HashMap<String, usize>,
    heads: Vec<usize>,
    real_heads: Vec<usize>,
    bases: Vec<usize>,
    /// Notes Alembic prints as warnings (a revision id present twice).
    pub warnings: Vec<String>,
}

/// The characters Alembic refuses in a revision id.
const ILLEGAL_CHARS: [char; 4] = ['@', '-', '+', ':'];

impl Graph {
    /// Builds the map from the scripts in the order Alembic loads them (version locations in order, files sorted).
    pub fn build(scripts: Vec<Script>) -> Result<Graph, GraphError> {
        let mut g = Graph::default();
        let mut ids: HashMap<String, usize> = HashMap::new();
        for script in scripts {
            check_script(&script)?;
            if let Some(&previous) = ids.get(&script.revision) {
                g.warnings.push(format!("Revision {} is present more than once", script.revision));
                g.revs[previous] = script;
                continue;
            }
            ids.insert(script.revision.clone(), g.revs.len());
            g.revs.push(script);
        }
        let n = g.revs.len();
        g.keys = ids;
        let mut is_head = vec![true; n];
        let mut is_real_head = vec![true; n];
        let real_bases: Vec<usize> =
            (0..n).filter(|&i| g.revs[i].is_base() && g.revs[i].dependencies.is_empty()).collect();
        g.bases = (0..n).filter(|&i| g.revs[i].is_base()).collect();

        for i in 0..n {
            for label in g.revs[i].declared_labels.clone() {
                if let Some(&other) = g.keys.get(&label) {
                    return Err(GraphError::Revision(format!(
                        "Branch name '{label}' in revision {} already used by revision {}",
                        g.revs[i].revision, g.revs[other].revision
                    )));
                }
                g.keys.insert(label, i);
            }
        }
        for i in 0..n {
            let mut resolved = Vec::new();
            for dep in &g.revs[i].dependencies {
                resolved.push(g.lookup(dep, i)?);
            }
            g.revs[i].resolved_deps = resolved;
        }
        for i in 0..n {
            let downs: Vec<String> = g.all_down_names(i);
            for down in downs {
                let target = g.lookup(&down, i)?;
                push_unique(&mut g.revs[target].all_nextrev, i);
                let versioned = g.revs[i].down_revision.contains(&down);
                if g.revs[i].down_revision.contains(&g.revs[target].revision) {
                    push_unique(&mut g.revs[target].nextrev, i);
                }
                if versioned {
                    is_head[target] = false;
                }
                is_real_head[target] = false;
            }
        }
        for list in g.revs.iter_mut().flat_map(|r| [&mut r.nextrev, &mut r.all_nextrev]) {
            list.sort_unstable();
        }
        g.heads = (0..n).filter(|&i| is_head[i]).collect();
        g.real_heads = (0..n).filter(|&i| is_real_head[i]).collect();
        g.normalize_depends_on();
        g.detect_cycles(&real_bases)?;
        g.spread_branch_labels();
        Ok(g)
    }

    /// Every revision, in load order.
    pub fn scripts(&self) -> &[Script] {
        &self.revs
    }

    /// The revision at `index` (load order).
    pub fn script(&self, index: usize) -> &Script {
        &self.revs[index]
    }

    /// The revision with this exact id.
    pub fn by_id(&self, id: &str) -> Option<usize> {
        self.keys.get(id).copied().filter(|&i| self.revs[i].revision == id)
    }

    /// What `alembic heads` lists: revisions no `down_revision` names, in load order.
    pub fn heads(&self) -> &[usize] {
        &self.heads
    }

    /// Heads no `depends_on` names either: what `alembic upgrade heads` ends at.
    pub fn real_heads(&self) -> &[usize] {
        &self.real_heads
    }

    /// Revisions without a `down_revision`.
    pub fn bases(&self) -> &[usize] {
        &self.bases
    }

    /// The revisions `alembic upgrade` would run, in order, for a database whose version table holds `current`
    /// (indexes of resolved rows), up to every real head.
    pub fn upgrade_order(&self, current: &[usize]) -> Vec<usize> {
        let applied: HashSet<usize> = self.ancestors(current, true).collect();
        let needed: HashSet<usize> = self.ancestors(&self.real_heads, true).filter(|i| !applied.contains(i)).collect();
        let mut order = self.topological(&needed, &self.real_heads);
        order.reverse();
        order
    }

    /// Every revision `current` (resolved rows) includes: the rows and all their ancestors, dependencies too.
    pub fn applied_set(&self, current: &[usize]) -> HashSet<usize> {
        self.ancestors(current, true).collect()
    }

    /// The order `alembic history` prints: newest first, Alembic's tie-breaking between branches.
    pub fn history_order(&self) -> Vec<usize> {
        let all: HashSet<usize> = (0..self.revs.len()).collect();
        self.topological(&all, &self.real_heads)
    }

    /// Resolves a version-table row the way Alembic resolves an identifier: an exact id or branch label, else a
    /// unique prefix of more than three characters. `Err` carries the identifier (Alembic: "Can't locate revision
    /// identified by '...'").
    pub fn resolve(&self, ident: &str) -> Result<usize, String> {
        if let Some(&i) = self.keys.get(ident) {
            return Ok(i);
        }
        let mut found: Vec<usize> = self
            .keys
            .iter()
            .filter(|(key, _)| key.chars().count() > 3 && key.starts_with(ident))
            .map(|(_, &i)| i)
            .collect();
        if found.len() == 1 && !ident.is_empty() {
            return Ok(found.remove(0));
        }
        Err(ident.to_string())
    }

    /// What `alembic current` shows for the version table's rows: the rows resolved, their ancestors (through
    /// `depends_on` too) added, then only those with no descendant in the set. In load order (Alembic prints them
    /// from a Python set, in an order that changes from run to run).
    pub fn all_current(&self, rows: &[String]) -> Result<Vec<usize>, String> {
        let mut top = Vec::new();
        for row in rows {
            top.push(self.resolve(row)?);
        }
        let set: HashSet<usize> = self.ancestors(&top, true).collect();
        let mut out: Vec<usize> = set
            .iter()
            .copied()
            .filter(|&r| !self.descendants(&[r], false).any(|d| d != r && set.contains(&d)))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    fn lookup(&self, name: &str, from: usize) -> Result<usize, GraphError> {
        self.keys.get(name).copied().ok_or_else(|| GraphError::Missing {
            reference: name.to_string(),
            from: self.revs[from].revision.clone(),
            file: self.revs[from].path.clone(),
        })
    }

    /// Alembic's `_all_down_revisions`: `down_revision` names, then resolved dependency ids, without repeats.
    fn all_down_names(&self, i: usize) -> Vec<String> {
        let r = &self.revs[i];
        let mut out: Vec<String> = Vec::new();
        for name in
            r.down_revision.iter().cloned().chain(r.resolved_deps.iter().map(|&d| self.revs[d].revision.clone()))
        {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// Alembic's `_normalized_down_revisions`: `down_revision` plus the dependencies no ancestor already has.
    fn normalized_down(&self, i: usize) -> Vec<usize> {
        let r = &self.revs[i];
        let mut out: Vec<usize> = Vec::new();
        for d in r
            .down_revision
            .iter()
            .filter_map(|name| self.keys.get(name).copied())
            .chain(r.normalized_deps.iter().copied())
        {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    fn versioned_down(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.revs[i].down_revision.iter().filter_map(|name| self.keys.get(name).copied())
    }

    fn normalize_depends_on(&mut self) {
        for i in 0..self.revs.len() {
            if self.revs[i].resolved_deps.is_empty() {
                continue;
            }
            let mut inherited: HashSet<usize> = HashSet::new();
            for a in self.ancestors(&[i], false) {
                if a != i {
                    inherited.extend(self.revs[a].resolved_deps.iter().copied());
                }
            }
            let mut normalized = Vec::new();
            for &d in &self.revs[i].resolved_deps {
                if !inherited.contains(&d) && !normalized.contains(&d) {
                    normalized.push(d);
                }
            }
            self.revs[i].normalized_deps = normalized;
        }
    }

    /// Alembic's `_detect_cycles`: every revision must lie between a head and a base, following
    /// `down_revision` alone and then following dependencies too.
    fn detect_cycles(&self, real_bases: &[usize]) -> Result<(), GraphError> {
        let n = self.revs.len();
        if n == 0 {
            return Ok(());
        }
        let all_ids = || self.revs.iter().map(|r| r.revision.as_str()).collect::<Vec<_>>().join(", ");
        let cut = |up: HashSet<usize>, down: HashSet<usize>| {
            let mut missing: Vec<&str> = (0..n)
                .filter(|i| !(up.contains(i) && down.contains(i)))
                .map(|i| self.revs[i].revision.as_str())
                .collect();
            missing.sort_unstable();
            missing.join(", ")
        };
        if self.heads.is_empty() || self.bases.is_empty() {
            return Err(GraphError::Revision(format!("Cycle is detected in revisions ({})", all_ids())));
        }
        let lost = cut(self.ancestors(&self.heads, false).collect(), self.descendants(&self.bases, false).collect());
        if !lost.is_empty() {
            return Err(GraphError::Revision(format!("Cycle is detected in revisions ({lost})")));
        }
        if self.real_heads.is_empty() || real_bases.is_empty() {
            return Err(GraphError::Revision(format!("Dependency cycle is detected in revisions ({})", all_ids())));
        }
        let up: HashSet<usize> = self.walk(&self.real_heads, |i| {
            self.revs[i]
                .down_revision
                .iter()
                .filter_map(|d| self.keys.get(d).copied())
                .chain(self.revs[i].resolved_deps.iter().copied())
                .collect()
        });
        let down: HashSet<usize> = self.walk(real_bases, |i| self.revs[i].all_nextrev.clone());
        let lost = cut(up, down);
        if !lost.is_empty() {
            return Err(GraphError::Revision(format!("Dependency cycle is detected in revisions ({lost})")));
        }
        Ok(())
    }

    /// Alembic's `_add_branches`: a label applies to every descendant of its revision, and, when the line above it
    /// is plain, down through its ancestors to the nearest branch point or merge.
    fn spread_branch_labels(&mut self) {
        for i in 0..self.revs.len() {
            if self.revs[i].declared_labels.is_empty() {
                continue;
            }
            let declared = self.revs[i].declared_labels.clone();
            self.revs[i].branch_labels.extend(declared);
            let labels = self.revs[i].branch_labels.clone();
            // Alembic walks down from the last revision its descendant walk visited (a stack: depth first).
            let mut last = i;
            let mut stack = vec![i];
            let mut seen = HashSet::new();
            while let Some(r) = stack.pop() {
                if !seen.insert(r) {
                    continue;
                }
                stack.extend(self.revs[r].nextrev.iter().copied());
                self.revs[r].branch_labels.extend(labels.iter().cloned());
                last = r;
            }
            let mut parent = last;
            while !self.revs[parent].is_real_branch_point() && !self.revs[parent].is_merge_point() {
                self.revs[parent].branch_labels.extend(labels.iter().cloned());
                match self.revs[parent].down_revision.first().and_then(|d| self.keys.get(d)) {
                    Some(&down) => parent = down,
                    None => break,
                }
            }
        }
    }

    /// `targets` and everything below them: through `down_revision`, and with `deps` through the normalized
    /// dependencies as well (Alembic's `_get_ancestor_nodes`).
    fn ancestors(&self, targets: &[usize], deps: bool) -> impl Iterator<Item = usize> + use<> {
        let set = if deps {
            self.walk(targets, |i| self.normalized_down(i))
        } else {
            self.walk(targets, |i| self.versioned_down(i).collect())
        };
        set.into_iter()
    }

    /// `targets` and everything above them: through `down_revision`, and with `deps` through `depends_on` too.
    fn descendants(&self, targets: &[usize], deps: bool) -> impl Iterator<Item = usize> + use<> {
        let set = if deps {
            self.walk(targets, |i| self.revs[i].all_nextrev.clone())
        } else {
            self.walk(targets, |i| self.revs[i].nextrev.clone())
        };
        set.into_iter()
    }

    fn walk(&self, targets: &[usize], next: impl Fn(usize) -> Vec<usize>) -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut stack: Vec<usize> = targets.to_vec();
        while let Some(r) = stack.pop() {
            if seen.insert(r) {
                stack.extend(next(r));
            }
        }
        seen
    }

    /// Alembic's `_topological_sort`: newest first; walks one branch down until another pending head still needs
    /// the candidate, then switches to that head; ties go by load order.
    fn topological(&self, revisions: &HashSet<usize>, heads: &[usize]) -> Vec<usize> {
        let mut todo = revisions.clone();
        let mut current: Vec<usize> = heads.iter().copied().filter(|h| todo.contains(h)).collect();
        current.sort_unstable();
        current.dedup();
        let mut ancestors: Vec<HashSet<usize>> =
            current.iter().map(|&h| self.ancestors(&[h], true).collect()).collect();
        let mut output = Vec::with_capacity(todo.len());
        let mut idx = 0;
        while !current.is_empty() {
            let candidate = current[idx];
            if let Some(other) = ancestors.iter().enumerate().position(|(k, a)| k != idx && a.contains(&candidate)) {
                idx = other;
                continue;
            }
            if todo.remove(&candidate) {
                output.push(candidate);
            }
            let rev = &self.revs[candidate];
            let to_add: Vec<usize> = self
                .normalized_down(candidate)
                .into_iter()
                .filter(|r| todo.contains(r) && !current.contains(r))
                .collect();
            if to_add.is_empty() {
                current.remove(idx);
                ancestors.remove(idx);
                idx = idx.saturating_sub(1);
            } else if rev.normalized_deps.is_empty() && rev.down_revision.len() == 1 {
                current[idx] = to_add[0];
                ancestors[idx].remove(&candidate);
            } else {
                current[idx] = to_add[0];
                ancestors[idx] = self.ancestors(&[to_add[0]], true).collect();
                for &extra in &to_add[1..] {
                    current.push(extra);
                    ancestors.push(self.ancestors(&[extra], true).collect());
                }
            }
        }
        output
    }
}

fn push_unique(list: &mut Vec<usize>, item: usize) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The checks Alembic's `Revision.__init__` makes, with its messages.
fn check_script(s: &Script) -> Result<(), GraphError> {
    if s.down_revision.contains(&s.revision) {
        return Err(GraphError::Revision(format!("Self-loop is detected in revisions ({})", s.revision)));
    }
    if s.dependencies.contains(&s.revision) {
        return Err(GraphError::Revision(format!("Dependency self-loop is detected in revisions ({})", s.revision)));
    }
    let mut illegal: Vec<char> = ILLEGAL_CHARS.iter().copied().filter(|c| s.revision.contains(*c)).collect();
    if !illegal.is_empty() {
        illegal.sort_unstable();
        let chars: Vec<String> = illegal.iter().map(char::to_string).collect();
        return Err(GraphError::Revision(format!(
            "Character(s) '{}' not allowed in revision identifier '{}'",
            chars.join(", "),
            s.revision
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rev: &str, down: &[&str], deps: &[&str], labels: &[&str]) -> Script {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        Script::new(rev.into(), v(down), v(deps), v(labels), PathBuf::from(format!("/v/{rev}.py")), rev.into())
    }

    fn ids(g: &Graph, list: &[usize]) -> Vec<String> {
        list.iter().map(|&i| g.script(i).revision.clone()).collect()
    }

    #[test]
    fn a_branch_with_a_dependency_orders_like_alembic_history() {
        // the project of the first example in the session notes; Alembic printed c3y, d4, c3x, b2, a1, r1
        let g = Graph::build(vec![
            s("a1", &[], &[], &[]),
            s("b2", &["a1"], &[], &[]),
            s("c3x", &["b2"], &[], &[]),
            s("c3y", &["b2"], &[], &[]),
            s("d4", &["c3x"], &["r1"], &[]),
            s("r1", &[], &[], &["other"]),
        ])
        .unwrap();
        assert_eq!(ids(&g, &g.history_order()), ["c3y", "d4", "c3x", "b2", "a1", "r1"]);
        assert_eq!(ids(&g, g.heads()), ["c3y", "d4", "r1"]);
        assert_eq!(ids(&g, g.real_heads()), ["c3y", "d4"]);
        assert_eq!(ids(&g, &g.all_current(&["d4".into()]).unwrap()), ["d4", "r1"]);
        assert_eq!(ids(&g, &g.upgrade_order(&[g.by_id("c3x").unwrap()])), ["r1", "d4", "c3y"]);
    }

    #[test]
    fn cycles_missing_parents_and_reused_labels_are_errors() {
        let cycle = Graph::build(vec![s("a", &["b"], &[], &[]), s("b", &["a"], &[], &[])]).unwrap_err();
        assert_eq!(cycle, GraphError::Revision("Cycle is detected in revisions (a, b)".into()));
        let missing = Graph::build(vec![s("a", &["zz"], &[], &[])]).unwrap_err();
        assert!(matches!(missing, GraphError::Missing { reference, .. } if reference == "zz"));
        let label = Graph::build(vec![s("a", &[], &[], &["x"]), s("b", &["a"], &[], &["x"])]).unwrap_err();
        assert_eq!(label, GraphError::Revision("Branch name 'x' in revision b already used by revision a".into()));
        let bad = Graph::build(vec![s("a-b", &[], &[], &[])]).unwrap_err();
        assert_eq!(bad, GraphError::Revision("Character(s) '-' not allowed in revision identifier 'a-b'".into()));
    }

    #[test]
    fn a_label_spreads_up_its_branch_and_down_a_plain_line() {
        let g = Graph::build(vec![s("a", &[], &[], &[]), s("b", &["a"], &[], &[]), s("c", &["b"], &[], &["feat"])])
            .unwrap();
        assert!(g.scripts().iter().all(|r| r.branch_labels.contains("feat")));
    }

    #[test]
    fn partial_ids_resolve_when_unique_and_longer_than_three() {
        let g = Graph::build(vec![s("abcdef", &[], &[], &[]), s("abcxyz", &["abcdef"], &[], &[])]).unwrap();
        assert_eq!(g.resolve("abcd"), Ok(0));
        assert_eq!(g.resolve("abc"), Err("abc".into()));
        assert_eq!(g.resolve("nope"), Err("nope".into()));
    }
}
