//! Retention by generation and age, with restic's `forget` semantics: `backup_keep` (last, hourly, daily, weekly,
//! monthly, yearly) and `backup_max_age` (restic's `--keep-within`), plus one rule of Strata's own: the newest
//! backup whose restore was verified is never deleted.
//!
//! As restic does: backups are walked newest first; `last=N` keeps the newest N; each period rule keeps the
//! newest backup of each of the N most recent periods (hours, days, ISO weeks, months, years, in UTC) that have
//! one, and also the oldest backup when a rule still has periods left; `backup_max_age` keeps every backup taken
//! after the newest one (not in the future) minus the age. A backup kept by any rule is kept; the rest go.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::Listed;
use crate::config::backup::Keep;
use crate::error::Result;

/// One backup as the policy sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub name: String,
    pub taken: DateTime<Utc>,
    /// Its restore test passed.
    pub verified: bool,
}

/// What the policy decided about one backup, and by which rules it is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub name: String,
    pub taken: DateTime<Utc>,
    /// Empty: it is deleted.
    pub kept_by: Vec<String>,
}

impl Decision {
    pub fn keep(&self) -> bool {
        !self.kept_by.is_empty()
    }
}

/// The retention settings of one database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub keep: Option<Keep>,
    pub max_age: Option<Duration>,
}

impl Policy {
    /// Whether any rule is set (without one, nothing is ever deleted).
    pub fn is_set(&self) -> bool {
        self.keep.is_some() || self.max_age.is_some()
    }

    /// The policy as the page shows it: `last=3 daily=7 · max age 30d`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(k) = &self.keep {
            parts.push(k.to_string());
        }
        if let Some(age) = self.max_age {
            parts.push(format!("max age {}", age_text(age)));
        }
        if parts.is_empty() { "none (every backup is kept)".into() } else { parts.join(" · ") }
    }
}

fn age_text(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}min", s / 60)
    } else {
        format!("{s}s")
    }
}

type Bucket = fn(DateTime<Utc>, usize) -> i64;

fn hour(t: DateTime<Utc>, _: usize) -> i64 {
    day(t, 0) * 100 + i64::from(t.hour())
}
fn day(t: DateTime<Utc>, _: usize) -> i64 {
    i64::from(t.year()) * 10_000 + i64::from(t.month()) * 100 + i64::from(t.day())
}
fn week(t: DateTime<Utc>, _: usize) -> i64 {
    let w = t.iso_week();
    i64::from(w.year()) * 100 + i64::from(w.week())
}
fn month(t: DateTime<Utc>, _: usize) -> i64 {
    i64::from(t.year()) * 100 + i64::from(t.month())
}
fn year(t: DateTime<Utc>, _: usize) -> i64 {
    i64::from(t.year())
}
fn each(_: DateTime<Utc>, nr: usize) -> i64 {
    nr as i64
}

/// Applies `policy` to `backups` at `now`; the decisions come newest first.
pub fn apply(backups: &[Candidate], policy: &Policy, now: DateTime<Utc>) -> Vec<Decision> {
    let mut list: Vec<&Candidate> = backups.iter().collect();
    list.sort_by(|a, b| b.taken.cmp(&a.taken).then_with(|| b.name.cmp(&a.name)));
    let mut out: Vec<Decision> =
        list.iter().map(|b| Decision { name: b.name.clone(), taken: b.taken, kept_by: Vec::new() }).collect();
    if !policy.is_set() {
        for d in &mut out {
            d.kept_by.push("no retention policy".into());
        }
        return out;
    }
    let keep = policy.keep.unwrap_or_default();
    // (periods left, bucket, last bucket value, reason)
    let mut rules: Vec<(u32, Bucket, Option<i64>, &str)> = [
        (keep.last, each as Bucket, "last"),
        (keep.hourly, hour as Bucket, "hourly"),
        (keep.daily, day as Bucket, "daily"),
        (keep.weekly, week as Bucket, "weekly"),
        (keep.monthly, month as Bucket, "monthly"),
        (keep.yearly, year as Bucket, "yearly"),
    ]
    .into_iter()
    .filter_map(|(n, b, reason)| n.map(|n| (n, b, None, reason)))
    .collect();
    let latest = list.iter().map(|b| b.taken).filter(|t| *t <= now).max();
    let oldest = list.len().saturating_sub(1);
    for (nr, (b, d)) in list.iter().zip(out.iter_mut()).enumerate() {
        if let (Some(age), Some(latest)) = (policy.max_age, latest) {
            let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
            if b.taken > latest - age {
                d.kept_by.push(format!("max age {}", age_text(policy.max_age.unwrap_or_default())));
            }
        }
        for (left, bucket, last, reason) in &mut rules {
            if *left == 0 {
                continue;
            }
            let value = bucket(b.taken, nr);
            // A new period, or the oldest backup while periods are left (restic keeps it to stretch the history).
            if Some(value) != *last || nr == oldest {
                *last = Some(value);
                *left -= 1;
                d.kept_by.push((*reason).to_string());
            }
        }
    }
    if let Some(i) = list.iter().position(|b| b.verified) {
        out[i].kept_by.push("newest verified backup".into());
    }
    out
}

/// The backups of database `db` in `dir`, newest first, each with what `policy` decides about it now.
pub fn plan(dir: &Path, db: &str, policy: &Policy) -> Result<Vec<(Listed, Decision)>> {
    let listed = super::list(dir, db)?;
    let candidates: Vec<Candidate> = listed
        .iter()
        .map(|b| Candidate {
            name: b.name.clone(),
            taken: b.taken,
            verified: super::manifest::read(&b.path)
                .ok()
                .flatten()
                .and_then(|m| m.restore_test)
                .is_some_and(|r| r.passed()),
        })
        .collect();
    let decisions = apply(&candidates, policy, Utc::now());
    Ok(listed
        .into_iter()
        .filter_map(|b| {
            let d = decisions.iter().find(|d| d.name == b.name)?.clone();
            Some((b, d))
        })
        .collect())
}

/// Deletes the backups of `db` in `dir` that `policy` does not keep (none without a policy); returns them.
pub fn prune(dir: &Path, db: &str, policy: &Policy) -> Result<Vec<Listed>> {
    let mut deleted = Vec::new();
    if !policy.is_set() {
        return Ok(deleted);
    }
    for (b, d) in plan(dir, db, policy)? {
        if !d.keep() {
            super::remove(&b.path)?;
            deleted.push(b);
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        Utc.from_utc_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
    }

    fn backups(times: &[&str]) -> Vec<Candidate> {
        times.iter().map(|s| Candidate { name: (*s).to_string(), taken: t(s), verified: false }).collect()
    }

    /// The kept names with their rules, newest first; the deleted ones as `name: -`.
    fn verdicts(list: &[Candidate], keep: &str, max_age: Option<&str>, now: &str) -> Vec<String> {
        let policy = Policy {
            keep: (!keep.is_empty()).then(|| Keep::parse(keep).unwrap()),
            max_age: max_age.map(|a| crate::config::parse_duration(a).unwrap()),
        };
        apply(list, &policy, t(now))
            .into_iter()
            .map(|d| {
                let why = if d.kept_by.is_empty() { "-".to_string() } else { d.kept_by.join("+") };
                format!("{}: {why}", d.name)
            })
            .collect()
    }

    #[test]
    fn retention_cases_match_hand_computed_expectations() {
        // Twice a day for four days, plus two in the previous month and one the year before.
        let list = backups(&[
            "2026-12-04 18:00",
            "2026-12-04 06:00",
            "2026-12-03 18:00",
            "2026-12-03 06:00",
            "2026-12-02 18:00",
            "2026-12-02 06:00",
            "2026-12-01 18:00",
            "2026-12-01 06:00",
            "2026-11-20 12:00",
            "2026-11-10 12:00",
            "2025-06-01 00:00",
        ]);
        let now = "2026-12-05 00:00";
        struct Case {
            keep: &'static str,
            max_age: Option<&'static str>,
            expect: &'static [&'static str],
        }
        let cases = [
            // last=3: the three newest, nothing else.
            Case {
                keep: "last=3",
                max_age: None,
                expect: &[
                    "2026-12-04 18:00: last",
                    "2026-12-04 06:00: last",
                    "2026-12-03 18:00: last",
                    "2026-12-03 06:00: -",
                    "2026-12-02 18:00: -",
                    "2026-12-02 06:00: -",
                    "2026-12-01 18:00: -",
                    "2026-12-01 06:00: -",
                    "2026-11-20 12:00: -",
                    "2026-11-10 12:00: -",
                    "2025-06-01 00:00: -",
                ],
            },
            // daily=2: the newest of each of the two newest days.
            Case {
                keep: "daily=2",
                max_age: None,
                expect: &[
                    "2026-12-04 18:00: daily",
                    "2026-12-04 06:00: -",
                    "2026-12-03 18:00: daily",
                    "2026-12-03 06:00: -",
                    "2026-12-02 18:00: -",
                    "2026-12-02 06:00: -",
                    "2026-12-01 18:00: -",
                    "2026-12-01 06:00: -",
                    "2026-11-20 12:00: -",
                    "2026-11-10 12:00: -",
                    "2025-06-01 00:00: -",
                ],
            },
            // last=1 monthly=3: last counts apart; months Dec, Nov, then the 2025-06 one is both a month and the
            // oldest. monthly=5 would keep the oldest too, as the oldest backup while periods are left.
            Case {
                keep: "last=1 monthly=3",
                max_age: None,
                expect: &[
                    "2026-12-04 18:00: last+monthly",
                    "2026-12-04 06:00: -",
                    "2026-12-03 18:00: -",
                    "2026-12-03 06:00: -",
                    "2026-12-02 18:00: -",
                    "2026-12-02 06:00: -",
                    "2026-12-01 18:00: -",
                    "2026-12-01 06:00: -",
                    "2026-11-20 12:00: monthly",
                    "2026-11-10 12:00: -",
                    "2025-06-01 00:00: monthly",
                ],
            },
            // weekly=2: 2026-12-04 is in ISO week 49 (Mon 11-30 .. Sun 12-06); week 48 holds 11-23..11-29,
            // which has none, so the second week kept is week 47 (11-16..11-22): 11-20.
            Case {
                keep: "weekly=2",
                max_age: None,
                expect: &[
                    "2026-12-04 18:00: weekly",
                    "2026-12-04 06:00: -",
                    "2026-12-03 18:00: -",
                    "2026-12-03 06:00: -",
                    "2026-12-02 18:00: -",
                    "2026-12-02 06:00: -",
                    "2026-12-01 18:00: -",
                    "2026-12-01 06:00: -",
                    "2026-11-20 12:00: weekly",
                    "2026-11-10 12:00: -",
                    "2025-06-01 00:00: -",
                ],
            },
            // yearly=5 has periods left at the end: 2026, 2025 (the oldest, also a new year).
            // max age 2d: after 2026-12-02 18:00 (strictly), relative to the newest backup, not to now.
            Case {
                keep: "yearly=5",
                max_age: Some("2d"),
                expect: &[
                    "2026-12-04 18:00: max age 2d+yearly",
                    "2026-12-04 06:00: max age 2d",
                    "2026-12-03 18:00: max age 2d",
                    "2026-12-03 06:00: max age 2d",
                    "2026-12-02 18:00: -",
                    "2026-12-02 06:00: -",
                    "2026-12-01 18:00: -",
                    "2026-12-01 06:00: -",
                    "2026-11-20 12:00: -",
                    "2026-11-10 12:00: -",
                    "2025-06-01 00:00: yearly",
                ],
            },
            // hourly=1 daily=1 on the same backup: both reasons are named.
            Case {
                keep: "hourly=1 daily=1",
                max_age: None,
                expect: &[
                    "2026-12-04 18:00: hourly+daily",
                    "2026-12-04 06:00: -",
                    "2026-12-03 18:00: -",
                    "2026-12-03 06:00: -",
                    "2026-12-02 18:00: -",
                    "2026-12-02 06:00: -",
                    "2026-12-01 18:00: -",
                    "2026-12-01 06:00: -",
                    "2026-11-20 12:00: -",
                    "2026-11-10 12:00: -",
                    "2025-06-01 00:00: -",
                ],
            },
        ];
        for c in cases {
            assert_eq!(verdicts(&list, c.keep, c.max_age, now), c.expect, "keep {:?} max_age {:?}", c.keep, c.max_age);
        }
    }

    #[test]
    fn daily_with_periods_left_keeps_the_oldest_too() {
        let list = backups(&["2026-12-04 18:00", "2026-12-04 06:00", "2026-12-03 18:00", "2026-12-03 06:00"]);
        assert_eq!(
            verdicts(&list, "daily=5", None, "2026-12-05 00:00"),
            ["2026-12-04 18:00: daily", "2026-12-04 06:00: -", "2026-12-03 18:00: daily", "2026-12-03 06:00: daily"]
        );
    }

    #[test]
    fn the_newest_verified_backup_is_never_deleted() {
        let mut list = backups(&["2026-12-04 18:00", "2026-12-03 18:00", "2026-12-02 18:00"]);
        list[1].verified = true;
        list[2].verified = true;
        assert_eq!(
            verdicts(&list, "last=1", None, "2026-12-05 00:00"),
            ["2026-12-04 18:00: last", "2026-12-03 18:00: newest verified backup", "2026-12-02 18:00: -"]
        );
    }

    #[test]
    fn max_age_counts_from_the_newest_backup_not_from_now() {
        // Backups stopped a month ago: max age 1d still keeps the last day's worth rather than deleting them all.
        let list = backups(&["2026-11-04 18:00", "2026-11-04 06:00", "2026-11-03 12:00"]);
        assert_eq!(
            verdicts(&list, "", Some("1d"), "2026-12-05 00:00"),
            ["2026-11-04 18:00: max age 1d", "2026-11-04 06:00: max age 1d", "2026-11-03 12:00: -"]
        );
    }

    #[test]
    fn without_a_policy_everything_is_kept() {
        let list = backups(&["2026-11-04 18:00", "2020-01-01 00:00"]);
        assert!(apply(&list, &Policy::default(), t("2026-12-05 00:00")).iter().all(Decision::keep));
    }
}
