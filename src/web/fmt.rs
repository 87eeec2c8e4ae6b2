//! Human formatting for pages: sizes, durations, counts, ratios, times — each with its exact value for a tooltip.

use chrono::{DateTime, Utc};

/// "1.2 GB" for a byte count; "—" when unknown.
pub fn bytes(v: &Option<i64>) -> String {
    match v {
        None => "—".into(),
        Some(n) => {
            let n = *n as f64;
            const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
            let mut value = n;
            let mut unit = 0;
            while value.abs() >= 1000.0 && unit < UNITS.len() - 1 {
                value /= 1000.0;
                unit += 1;
            }
            if unit == 0 { format!("{} B", n as i64) } else { format!("{value:.1} {}", UNITS[unit]) }
        }
    }
}

/// [`bytes`] of a size that is always known.
pub fn bytes_of(v: &i64) -> String {
    bytes(&Some(*v))
}

/// The exact value behind a human figure, for `title=`.
pub fn exact(v: &Option<i64>) -> String {
    v.map(group).unwrap_or_default()
}

/// 1234567 → "1,234,567"; "—" when unknown.
pub fn count(v: &Option<i64>) -> String {
    v.map(group).unwrap_or_else(|| "—".into())
}

fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// "3 h 12 min", "45 s", "120 ms"; "—" when unknown.
pub fn duration_ms(v: &Option<i64>) -> String {
    match v {
        None => "—".into(),
        Some(ms) if *ms < 1000 => format!("{ms} ms"),
        Some(ms) => {
            let s = ms / 1000;
            let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
            match (d, h, m) {
                (0, 0, 0) => format!("{s} s"),
                (0, 0, _) => format!("{m} min {s} s"),
                (0, _, _) => format!("{h} h {m} min"),
                _ => format!("{d} d {h} h"),
            }
        }
    }
}

/// "97.3 %" for a 0..=1 ratio; "—" when unknown.
pub fn percent(v: &Option<f64>) -> String {
    v.map(|r| format!("{:.1} %", r * 100.0)).unwrap_or_else(|| "—".into())
}

/// [`percent`] of a ratio that is always known.
pub fn ratio(v: &f64) -> String {
    percent(&Some(*v))
}

/// "2026-11-22 04:08" in UTC; "—" when unknown.
pub fn time(v: &Option<DateTime<Utc>>) -> String {
    v.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "—".into())
}

/// The later of two times ("last vacuum" is the later of manual and auto), as [`time`] shows it.
pub fn latest(a: &Option<DateTime<Utc>>, b: &Option<DateTime<Utc>>) -> String {
    time(&(*a).max(*b))
}

/// How long ago, "3 h 12 min ago"; "never" when unknown.
pub fn ago(v: &Option<DateTime<Utc>>) -> String {
    match v {
        None => "never".into(),
        Some(t) => format!("{} ago", duration_ms(&Some((Utc::now() - *t).num_milliseconds().max(0)))),
    }
}

/// Full timestamp for a tooltip.
pub fn exact_time(v: &Option<DateTime<Utc>>) -> String {
    v.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
}

/// Text or "—".
pub fn opt(v: &Option<String>) -> String {
    v.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "—".into())
}

/// Percent-encodes a path segment or query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The link to a table's page of the database whose pages live under `base` (`/db/{name}`).
pub fn table_link(base: &str, schema: &str, table: &str) -> String {
    format!("{base}/tables/{}/{}", urlencode(schema), urlencode(table))
}

/// The link of an index's page (its scans over time).
pub fn index_link(base: &str, schema: &str, index: &str) -> String {
    format!("{base}/indexes/{}/{}", urlencode(schema), urlencode(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(bytes(&Some(512)), "512 B");
        assert_eq!(bytes(&Some(1_234_567)), "1.2 MB");
        assert_eq!(bytes(&Some(1_200_000_000)), "1.2 GB");
        assert_eq!(bytes(&None), "—");
        assert_eq!(exact(&Some(1_234_567)), "1,234,567");
    }

    #[test]
    fn durations_pick_two_units() {
        assert_eq!(duration_ms(&Some(120)), "120 ms");
        assert_eq!(duration_ms(&Some(45_000)), "45 s");
        assert_eq!(duration_ms(&Some((3 * 3600 + 12 * 60) * 1000)), "3 h 12 min");
        assert_eq!(duration_ms(&Some(2 * 86_400_000 + 3_600_000)), "2 d 1 h");
    }

    #[test]
    fn counts_and_ratios() {
        assert_eq!(count(&Some(-1234)), "-1,234");
        assert_eq!(count(&Some(999)), "999");
        assert_eq!(percent(&Some(0.9734)), "97.3 %");
        assert_eq!(percent(&None), "—");
    }
}
