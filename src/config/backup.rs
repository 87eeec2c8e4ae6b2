//! The backup options of a `[database:NAME]` section: `backup_schedule`, `backup_keep`, `backup_max_age` and
//! `restore_test`, parsed once at load so a typo stops the start with the key named.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// When scheduled backups (or restore tests) run: a 5-field cron expression in UTC, an `@hourly`-style alias,
/// or `@every DURATION` counted from the previous run.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// As written, for pages and messages.
    text: String,
    kind: ScheduleKind,
}

#[derive(Clone, Debug)]
enum ScheduleKind {
    Cron(Box<croner::Cron>),
    Every(Duration),
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.text == other.text
    }
}

impl Eq for Schedule {}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The aliases and the cron lines they stand for.
const ALIASES: &[(&str, &str)] = &[
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
];

/// The shortest `@every` interval: anything shorter would keep a database busy backing up.
const SHORTEST_EVERY: Duration = Duration::from_secs(1);

impl Schedule {
    /// Parses `0 3 * * *`, `@daily`, or `@every 6h`; the error says what is accepted.
    pub fn parse(input: &str) -> Result<Schedule, String> {
        let text = input.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(rest) = text.strip_prefix("@every") {
            let every = super::parse_duration(rest.trim())
                .filter(|d| *d >= SHORTEST_EVERY)
                .ok_or_else(|| format!("{input:?}: @every needs a duration of 1 second or more, like @every 6h"))?;
            return Ok(Schedule { text, kind: ScheduleKind::Every(every) });
        }
        let pattern = match ALIASES.iter().find(|(alias, _)| *alias == text) {
            Some((_, line)) => *line,
            None if text.starts_with('@') => {
                return Err(format!(
                    "{input:?} is not a known alias: use @hourly, @daily, @weekly, @monthly or @every DURATION"
                ));
            }
            None => text.as_str(),
        };
        if pattern.split(' ').count() != 5 {
            return Err(format!(
                "{input:?} has {} fields: a cron expression has 5 (minute hour day-of-month month day-of-week, in \
                 UTC), e.g. \"0 3 * * *\"; or use @hourly, @daily, @weekly or @every DURATION",
                pattern.split(' ').count()
            ));
        }
        let cron = croner::Cron::from_str(pattern).map_err(|e| format!("{input:?} is not a cron expression: {e}"))?;
        Ok(Schedule { text, kind: ScheduleKind::Cron(Box::new(cron)) })
    }

    /// The first run strictly after `after`; `None` for a cron expression that never matches again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            ScheduleKind::Every(d) => chrono::Duration::from_std(*d).ok().map(|d| after + d),
            ScheduleKind::Cron(cron) => cron.find_next_occurrence(&after, false).ok(),
        }
    }

    /// The latest run due at or before `now`, counted from the previous run at `last`: the missed runs of a
    /// downtime collapse into this one, so a restart runs once, not once per missed time.
    pub fn latest_due(&self, last: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = self.next_after(last).filter(|t| *t <= now)?;
        match &self.kind {
            ScheduleKind::Every(d) => {
                let step = chrono::Duration::from_std(*d).ok()?;
                let missed = (now - first).num_milliseconds() / step.num_milliseconds().max(1);
                Some(first + step * i32::try_from(missed).unwrap_or(i32::MAX))
            }
            ScheduleKind::Cron(cron) => {
                // The previous match at or before now is the latest due time (never before `first`).
                let latest = cron.find_previous_occurrence(&now, true).ok().unwrap_or(first);
                Some(latest.max(first))
            }
        }
    }
}

/// How many backups of each period `backup_keep` keeps (restic's `--keep-*`); `None` is "no rule".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keep {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
}

impl Keep {
    /// Parses `last=3 daily=7 weekly=4`: any of last, hourly, daily, weekly, monthly, yearly, each once.
    pub fn parse(input: &str) -> Result<Keep, String> {
        let mut keep = Keep::default();
        let mut any = false;
        for part in input.split([' ', ',', '\t']).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("{part:?}: expected RULE=N, e.g. last=3 daily=7 weekly=4"));
            };
            let n: u32 = value
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{part:?}: the count must be a whole number of 1 or more"))?;
            let slot = match key.trim() {
                "last" => &mut keep.last,
                "hourly" => &mut keep.hourly,
                "daily" => &mut keep.daily,
                "weekly" => &mut keep.weekly,
                "monthly" => &mut keep.monthly,
                "yearly" => &mut keep.yearly,
                other => {
                    return Err(format!("unknown rule {other:?}: use last, hourly, daily, weekly, monthly or yearly"));
                }
            };
            if slot.replace(n).is_some() {
                return Err(format!("{key:?} is given twice"));
            }
            any = true;
        }
        if !any {
            return Err("no rule: write for example last=3 daily=7 weekly=4 monthly=12".into());
        }
        Ok(keep)
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules = [
            ("last", self.last),
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ];
        let parts: Vec<String> = rules.iter().filter_map(|(k, v)| v.map(|n| format!("{k}={n}"))).collect();
        f.write_str(&parts.join(" "))
    }
}

/// When a backup's restore is tested: never, after each backup, or on a schedule of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RestoreTest {
    #[default]
    Off,
    AfterBackup,
    /// The newest backup is tested on this schedule.
    Scheduled(Schedule),
}

impl RestoreTest {
    /// Parses `off`, `after_backup`, or a schedule.
    pub fn parse(input: &str) -> Result<RestoreTest, String> {
        match input.trim() {
            "off" | "" => Ok(RestoreTest::Off),
            "after_backup" => Ok(RestoreTest::AfterBackup),
            other => Schedule::parse(other)
                .map(RestoreTest::Scheduled)
                .map_err(|e| format!("expected off, after_backup, or a schedule: {e}")),
        }
    }
}

impl fmt::Display for RestoreTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreTest::Off => f.write_str("off"),
            RestoreTest::AfterBackup => f.write_str("after_backup"),
            RestoreTest::Scheduled(s) => write!(f, "{s}"),
        }
    }
}

/// Where off-site copies go (`backup_offsite = s3://bucket/prefix`) and how to reach it: an S3-compatible server
/// (`backup_offsite_endpoint`, else AWS), `backup_offsite_region`, `backup_offsite_access_key_id` and
/// `backup_offsite_secret_access_key` (else the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` variables).
#[derive(Clone, PartialEq, Eq)]
pub struct Offsite {
    pub bucket: String,
    /// The folder in the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    /// Never shown (not in `Debug`, not in messages).
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for Offsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offsite")
            .field("url", &self.to_string())
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl fmt::Display for Offsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl Offsite {
    /// Parses `s3://bucket/prefix`; the other settings start empty.
    pub fn parse(input: &str) -> Result<Offsite, String> {
        let rest = input.trim().strip_prefix("s3://").ok_or_else(|| {
            format!(
                "{input:?} is not an S3 location: write s3://bucket/prefix (the server goes in backup_offsite_endpoint)"
            )
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        if bucket.len() < 3 || bucket.len() > 63 || !bucket.chars().all(valid) {
            return Err(format!(
                "{bucket:?} is not an S3 bucket name (3 to 63 lower-case letters, digits, `-` and `.`)"
            ));
        }
        Ok(Offsite {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, h, m, s).unwrap()
    }

    #[test]
    fn schedules_parse_cron_aliases_and_every() {
        assert_eq!(Schedule::parse("0 3 * * *").unwrap().next_after(at(2, 0, 0)), Some(at(3, 0, 0)));
        assert_eq!(Schedule::parse("@hourly").unwrap().next_after(at(2, 0, 0)), Some(at(3, 0, 0)));
        assert_eq!(Schedule::parse("@every 2s").unwrap().next_after(at(2, 0, 0)), Some(at(2, 0, 2)));
        assert_eq!(Schedule::parse("  @every   90m ").unwrap().to_string(), "@every 90m");
        for bad in ["0 3 * *", "0 0 3 * * *", "61 * * * *", "@yearlyish", "@every", "@every 0s", "@every soon"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missed_runs_collapse_into_the_latest_due_one() {
        let every = Schedule::parse("@every 10s").unwrap();
        assert_eq!(every.latest_due(at(2, 0, 0), at(2, 0, 5)), None, "not due yet");
        assert_eq!(every.latest_due(at(2, 0, 0), at(2, 0, 35)), Some(at(2, 0, 30)));
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(hourly.latest_due(at(1, 0, 0), at(5, 30, 0)), Some(at(5, 0, 0)));
        assert_eq!(hourly.latest_due(at(5, 0, 0), at(5, 30, 0)), None);
    }

    #[test]
    fn keep_rules_parse_and_refuse_typos() {
        let keep = Keep::parse("last=3 daily=7, weekly=4").unwrap();
        assert_eq!((keep.last, keep.daily, keep.weekly, keep.monthly), (Some(3), Some(7), Some(4), None));
        assert_eq!(keep.to_string(), "last=3 daily=7 weekly=4");
        assert!(Keep::parse("dayly=7").unwrap_err().contains("dayly"));
        assert!(Keep::parse("last=0").is_err());
        assert!(Keep::parse("last=2 last=3").unwrap_err().contains("twice"));
        assert!(Keep::parse("").is_err());
    }

    #[test]
    fn restore_test_is_off_after_backup_or_a_schedule() {
        assert_eq!(RestoreTest::parse("off").unwrap(), RestoreTest::Off);
        assert_eq!(RestoreTest::parse("after_backup").unwrap(), RestoreTest::AfterBackup);
        assert!(matches!(RestoreTest::parse("@daily").unwrap(), RestoreTest::Scheduled(_)));
        assert!(RestoreTest::parse("sometimes").is_err());
    }
}
