//! The packed per-object samples (`sample_packs`) answer what one row per object per sample answered: series,
//! charts, averages, "what changed around", growth, for tables that grow unevenly, stay the same, are dropped and
//! created again, an index whose counter is reset, minutes without samples and samples written late; and the rows
//! of a home database from before the packing are moved into it when it is migrated.

mod common;

use std::collections::BTreeMap;

use common::*;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use strata::config::{DatabaseUrl, SampleRetention};
use strata::db::introspect::{IndexInfo, SampleReadings, TableInfo};
use strata::home::samples::{self, FIVE_MINUTES, HOURLY, Metric, RAW, Which};

/// An hour boundary well in the past, so nothing here is near the retention's edges.
const BASE: i64 = 1_750_000_000 / 3600 * 3600;
const MINUTES: i64 = 180;

/// One sample as the sampler would read it: `(name, total bytes, rows)` of the tables, `(name, scans)` of the
/// indexes.
#[derive(Clone)]
struct Sample {
    at: i64,
    tables: Vec<(&'static str, i64, Option<i64>)>,
    indexes: Vec<(&'static str, i64)>,
}

/// Three hours of samples: `grows` grows unevenly, `same` does not change, `dropped` is gone from minute 50 to
/// 69 and comes back smaller, `ix` counts unevenly and is reset at minute 100, `sometimes` is read only on even
/// minutes; there are none from minute 120 to 129.
fn scenario() -> Vec<Sample> {
    let mut seed = 7u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let (mut grows, mut scans) = (10_000i64, 5_000i64);
    let mut out = Vec::new();
    for m in 0..MINUTES {
        grows += next(3) as i64 * 8192;
        scans += next(50) as i64;
        if (120..130).contains(&m) {
            continue;
        }
        if m == 100 {
            scans = 3;
        }
        let mut tables = vec![("grows", grows, Some(grows / 100)), ("same", 65_536, Some(12))];
        if !(50..70).contains(&m) {
            let size = if m < 50 { 40_000 + m * 10 } else { 8_192 };
            tables.push(("dropped", size, if m % 7 == 0 { None } else { Some(m) }));
        }
        let mut indexes = vec![("ix", scans)];
        if m % 2 == 0 {
            indexes.push(("sometimes", m * 3));
        }
        out.push(Sample { at: BASE + 60 * m, tables, indexes });
    }
    out
}

const DB: &str = "packed";

async fn record(home: &DatabaseConnection, database: &str, sample: &Sample) {
    let tables: Vec<TableInfo> = sample
        .tables
        .iter()
        .map(|(name, total, rows)| TableInfo {
            schema: "s".into(),
            name: (*name).into(),
            total_bytes: Some(*total),
            table_bytes: Some(total / 2),
            index_bytes: None,
            row_estimate: *rows,
            ..Default::default()
        })
        .collect();
    let indexes: Vec<IndexInfo> = sample
        .indexes
        .iter()
        .map(|(name, scans)| IndexInfo {
            schema: "s".into(),
            name: (*name).into(),
            scans: Some(*scans),
            ..Default::default()
        })
        .collect();
    let readings = SampleReadings { database_size_bytes: Some(1_000 + sample.at - BASE), ..Default::default() };
    let at = chrono::DateTime::from_timestamp(sample.at, 0).unwrap();
    samples::record(home, database, at, &readings, &tables, &indexes).await.expect("record a sample");
}

/// A table's `(at, total bytes)` (or rows) and an index's `(at, scans)` as one row per sample held them.
fn table_points(all: &[Sample], name: &str, rows: bool) -> Vec<(i64, Option<i64>)> {
    all.iter()
        .filter_map(|s| {
            let t = s.tables.iter().find(|t| t.0 == name)?;
            Some((s.at, if rows { t.2 } else { Some(t.1) }))
        })
        .collect()
}

fn index_points(all: &[Sample], name: &str) -> Vec<(i64, i64)> {
    all.iter().filter_map(|s| Some((s.at, s.indexes.iter().find(|i| i.0 == name)?.1))).collect()
}

fn delta(prev: i64, cur: i64) -> i64 {
    if cur < prev { cur.max(0) } else { cur - prev }
}

/// Scans per day between consecutive samples, for samples from `from` to `to` (the one before `from` within an
/// hour counts for the first).
fn expected_scans(points: &[(i64, i64)], from: i64, to: i64) -> Vec<(i64, f64)> {
    let within: Vec<&(i64, i64)> = points.iter().filter(|(at, _)| *at >= from - 3600 && *at <= to).collect();
    within
        .windows(2)
        .filter(|w| w[1].0 >= from)
        .map(|w| (w[1].0, delta(w[0].1, w[1].1) as f64 / (w[1].0 - w[0].0) as f64 * 86_400.0))
        .collect()
}

type Pair = (Option<i64>, Option<i64>);

/// Averages of `points` per bucket of `step`: gauges' mean (rounded), counters' increase (from the point before
/// each, across buckets; `None` for a bucket none of whose points has one before it).
fn averaged(points: &[(i64, Option<i64>)], step: i64, counter: bool) -> Vec<(i64, Option<i64>)> {
    // Each bucket's points: (the value before, the value).
    let mut buckets: BTreeMap<i64, Vec<Pair>> = BTreeMap::new();
    let mut prev: Option<i64> = None;
    for (at, v) in points {
        buckets.entry(at.div_euclid(step) * step).or_default().push((prev, *v));
        if v.is_some() {
            prev = *v;
        }
    }
    buckets
        .into_iter()
        .map(|(at, members)| {
            let value = if counter {
                let deltas: Vec<i64> = members.iter().filter_map(|(p, v)| Some(delta((*p)?, (*v)?))).collect();
                (!deltas.is_empty()).then(|| deltas.iter().sum())
            } else {
                let present: Vec<i64> = members.iter().filter_map(|(_, v)| *v).collect();
                (!present.is_empty()).then(|| {
                    (present.iter().map(|v| *v as i128).sum::<i128>() as f64 / present.len() as f64).round() as i64
                })
            };
            (at, value)
        })
        .collect()
}

fn some_points(points: &[(i64, Option<i64>)], from: i64, to: i64) -> Vec<(i64, f64)> {
    points.iter().filter(|(at, _)| (from..=to).contains(at)).filter_map(|(at, v)| Some((*at, (*v)? as f64))).collect()
}

async fn series(
    home: &DatabaseConnection,
    database: &str,
    metric: &str,
    from: i64,
    to: i64,
    res: i32,
) -> Vec<(i64, f64)> {
    let metric = Metric::parse(metric).expect("a metric");
    samples::series(home, database, &metric, from, to, res).await.expect("a series")
}

async fn raw_series_match(home: &DatabaseConnection, database: &str, all: &[Sample]) {
    for (from, to) in
        [(BASE - 600, BASE + MINUTES * 60), (BASE + 45 * 60 + 7, BASE + 75 * 60), (BASE + 3599, BASE + 3601)]
    {
        for name in ["grows", "same", "dropped"] {
            for rows in [false, true] {
                let metric = format!("{}:s.{name}", if rows { "table_rows" } else { "table_size" });
                let want = some_points(&table_points(all, name, rows), from, to);
                assert_eq!(series(home, database, &metric, from, to, RAW).await, want, "{metric} {from}..{to}");
            }
        }
        for name in ["ix", "sometimes"] {
            let want = expected_scans(&index_points(all, name), from, to);
            let got = series(home, database, &format!("index_scans:s.{name}"), from, to, RAW).await;
            assert_eq!(got, want, "{name} {from}..{to}");
        }
    }
}

async fn packed_answers_what_rows_answered(kind: Kind) {
    let t = TestDb::new(kind).await;
    strata::home::migrate(&DatabaseUrl::parse(&t.home_url).unwrap()).await.expect("migrate the home database");
    let home = t.connect_home().await;
    let all = scenario();
    // Minutes 30 to 39 arrive late, after everything else, and minute 90 twice (the first one kept).
    let late = |s: &Sample| (BASE + 30 * 60..BASE + 40 * 60).contains(&s.at);
    for s in all.iter().filter(|s| !late(s)) {
        record(&home, DB, s).await;
    }
    for s in all.iter().filter(|s| late(s)) {
        record(&home, DB, s).await;
    }
    let mut again = all.iter().find(|s| s.at == BASE + 90 * 60).unwrap().clone();
    again.tables[0].1 += 1;
    record(&home, DB, &again).await;
    raw_series_match(&home, DB, &all).await;

    // A chart of the three hours, 40 columns: each bucket the mean of its samples at their mean time.
    let metric = Metric::parse("table_size:s.grows").unwrap();
    let (from, to) = (BASE, BASE + MINUTES * 60 - 1);
    let chart = samples::chart_series(&home, DB, &metric, from, to, 40).await.unwrap();
    let (origin, bucket) = samples::grid(from, to, 40);
    let mut want: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for (at, v) in some_points(&table_points(&all, "grows", false), from, to) {
        let b = want.entry((at - origin) / bucket).or_default();
        *b = (b.0 + 1, b.1 + at, b.2 + v as i64);
    }
    let want: Vec<(i64, f64)> =
        want.values().map(|(n, ats, vs)| ((*ats as f64 / *n as f64).round() as i64, *vs as f64 / *n as f64)).collect();
    assert_eq!(chart, want);

    // What changed around minute 90: the hours before and after it.
    let at = BASE + 90 * 60;
    let around = samples::around(&home, DB, at, 10).await.unwrap();
    let mean = |p: &[(i64, f64)]| (!p.is_empty()).then(|| p.iter().map(|x| x.1).sum::<f64>() / p.len() as f64);
    let window =
        |from: i64, to: i64, name: &str, rows: bool| mean(&some_points(&table_points(&all, name, rows), from, to));
    for (changes, rows) in [(&around.table_sizes, false), (&around.table_rows, true)] {
        for c in changes.iter() {
            let before = window(at - 3600, at - 1, &c.name, rows);
            let after = window(at, at + 3600, &c.name, rows);
            assert!((c.before.unwrap() - before.unwrap()).abs() < 1e-6, "{c:?} {before:?}");
            assert!((c.after.unwrap() - after.unwrap()).abs() < 1e-6, "{c:?} {after:?}");
        }
        assert_eq!(changes.len(), 3, "{changes:?}");
    }
    for c in &around.index_scans {
        let per_day = |from: i64, to: i64| {
            let p: Vec<(i64, i64)> =
                index_points(&all, &c.name).into_iter().filter(|(t, _)| (from..=to).contains(t)).collect();
            let (low, high) = (p.iter().map(|x| x.1).min()?, p.iter().map(|x| x.1).max()?);
            let secs = p.last()?.0 - p.first()?.0;
            (secs > 0).then(|| (high - low) as f64 / secs as f64 * 86_400.0)
        };
        assert_eq!((c.before, c.after), (per_day(at - 3600, at - 1), per_day(at, at + 3600)), "{c:?}");
    }
    assert_eq!(around.index_scans.len(), 2);

    // Growth over the last two hours, at minute 179: the newest sample against the one at or an hour before then.
    let now = BASE + 179 * 60;
    let (growth, total) =
        samples::growth(&home, DB, now, 7200, Which::ByGrowth { search: None, descending: true, offset: 0, limit: 10 })
            .await
            .unwrap();
    assert_eq!(total, 3);
    let newest = |name: &str| table_points(&all, name, false).into_iter().rfind(|(t, _)| *t <= now).and_then(|p| p.1);
    let then = |name: &str| {
        table_points(&all, name, false).into_iter().rfind(|(t, _)| *t <= now - 7200 && *t >= now - 7200 - 3600)
    };
    for g in &growth {
        let want = newest(&g.name).zip(then(&g.name).and_then(|p| p.1)).map(|(a, b)| a - b);
        assert_eq!((g.total_bytes, g.growth), (newest(&g.name), want), "{g:?}");
    }
    let names: Vec<&str> = growth.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["grows", "same", "dropped"], "largest growth first, then by name; dropped shrank");
    let named = [("s".to_string(), "same".to_string()), ("s".to_string(), "nope".to_string())];
    let (growth, _) = samples::growth(&home, DB, now, 7200, Which::Named(&named)).await.unwrap();
    assert_eq!(growth.len(), 1);
    assert_eq!(growth[0].growth, Some(0));
    // A page's own tables, read back from the newest samples, answer as the whole replay does: `dropped` while it
    // is gone (its newest sample an hour before), back and smaller, and in the gap of minutes 120 to 129.
    let page: Vec<(String, String)> =
        ["grows", "same", "dropped"].iter().map(|n| ("s".to_string(), n.to_string())).collect();
    for minute in [30, 55, 65, 75, 125, 179] {
        let (now, span) = (BASE + minute * 60, 1500);
        let (growth, _) = samples::growth(&home, DB, now, span, Which::Named(&page)).await.unwrap();
        assert_eq!(growth.len(), 3, "minute {minute}");
        for g in &growth {
            let newest = table_points(&all, &g.name, false).into_iter().rfind(|(t, _)| *t <= now).and_then(|p| p.1);
            let then = table_points(&all, &g.name, false)
                .into_iter()
                .rfind(|(t, _)| *t <= now - span && *t >= now - span - 3600)
                .and_then(|p| p.1);
            assert_eq!(
                (g.total_bytes, g.growth),
                (newest, newest.zip(then).map(|(a, b)| a - b)),
                "minute {minute}: {g:?}"
            );
        }
    }

    // The averages: 5-minute ones of every complete bucket, then hourly ones of those.
    let retention = SampleRetention::default();
    let end = BASE + 4 * 3600;
    samples::retain(&home, &[DB.to_string()], &retention, chrono::DateTime::from_timestamp(end, 0).unwrap())
        .await
        .unwrap();
    for name in ["grows", "same", "dropped"] {
        for rows in [false, true] {
            let metric = format!("{}:s.{name}", if rows { "table_rows" } else { "table_size" });
            let five = averaged(&table_points(&all, name, rows), 300, false);
            assert_eq!(
                series(&home, DB, &metric, BASE, end, FIVE_MINUTES).await,
                some_points(&five, BASE, end),
                "{metric}"
            );
            let hourly = averaged(&five, 3600, false);
            assert_eq!(
                series(&home, DB, &metric, BASE, end, HOURLY).await,
                some_points(&hourly, BASE, end),
                "{metric}"
            );
        }
    }
    for name in ["ix", "sometimes"] {
        let points: Vec<(i64, Option<i64>)> = index_points(&all, name).into_iter().map(|(t, v)| (t, Some(v))).collect();
        let five = averaged(&points, 300, true);
        let rate = |p: &[(i64, Option<i64>)], step: f64| -> Vec<(i64, f64)> {
            p.iter().filter_map(|(t, v)| Some((*t, (*v)? as f64 / step * 86_400.0))).collect()
        };
        let metric = format!("index_scans:s.{name}");
        assert_eq!(series(&home, DB, &metric, BASE, end, FIVE_MINUTES).await, rate(&five, 300.0), "{metric}");
        let hourly: Vec<(i64, Option<i64>)> = {
            let mut by: BTreeMap<i64, Option<i64>> = BTreeMap::new();
            for (t, v) in &five {
                let b = by.entry(t.div_euclid(3600) * 3600).or_default();
                if let Some(v) = v {
                    *b = Some(b.unwrap_or(0) + v);
                }
            }
            by.into_iter().collect()
        };
        assert_eq!(series(&home, DB, &metric, BASE, end, HOURLY).await, rate(&hourly, 3600.0), "{metric}");
    }
    // The raw samples still answer as before; three days on they are gone, and the first 5-minute rows kept are
    // still read right after the ones before them are deleted.
    raw_series_match(&home, DB, &all).await;
    let later = chrono::DateTime::from_timestamp(BASE + 30 * 86_400 + 2 * 3600, 0).unwrap();
    samples::retain(&home, &[DB.to_string()], &retention, later).await.unwrap();
    assert!(series(&home, DB, "table_size:s.grows", BASE, end, RAW).await.is_empty());
    let five = averaged(&table_points(&all, "grows", false), 300, false);
    let kept = BASE + 2 * 3600 - 300;
    let got = series(&home, DB, "table_size:s.grows", BASE, end, FIVE_MINUTES).await;
    assert_eq!(got, some_points(&five, kept, end), "the 5-minute averages from the retention's edge");
    home.close().await.ok();
    t.drop().await;
}

/// Rows of `sample_tables` and `sample_indexes` written by a Strata from before migration 000017 are moved into
/// `sample_packs` when the home database is migrated, and read back the same.
async fn rows_from_before_the_packing_are_moved(kind: Kind) {
    let t = TestDb::new(kind).await;
    let url = DatabaseUrl::parse(&t.home_url).unwrap();
    strata::home::migrate(&url).await.expect("migrate the home database");
    let home = t.connect_home().await;
    let all = scenario();
    let col = Alias::new;
    let mut ids = BTreeMap::new();
    for (k, (kind, name)) in
        [("table", "grows"), ("table", "same"), ("table", "dropped"), ("index", "ix"), ("index", "sometimes")]
            .into_iter()
            .enumerate()
    {
        let id = 100 + k as i32;
        let insert = Query::insert()
            .into_table(col("sample_objects"))
            .columns([col("id"), col("database_name"), col("kind"), col("schema_name"), col("object_name")])
            .values_panic([id.into(), DB.into(), kind.into(), "s".into(), name.into()])
            .to_owned();
        home.execute(&insert).await.unwrap();
        ids.insert(name, id);
    }
    let mut tables = Query::insert();
    tables.into_table(col("sample_tables")).columns([
        col("object_id"),
        col("resolution_s"),
        col("at_s"),
        col("total_bytes"),
        col("table_bytes"),
        col("index_bytes"),
        col("rows_estimate"),
    ]);
    let mut indexes = Query::insert();
    indexes.into_table(col("sample_indexes")).columns([
        col("object_id"),
        col("resolution_s"),
        col("at_s"),
        col("scans"),
    ]);
    for s in &all {
        for (name, total, rows) in &s.tables {
            let values = [
                ids[name].into(),
                RAW.into(),
                s.at.into(),
                Some(*total).into(),
                Some(total / 2).into(),
                None::<i64>.into(),
                (*rows).into(),
            ];
            tables.values_panic(values);
        }
        for (name, scans) in &s.indexes {
            indexes.values_panic([ids[name].into(), RAW.into(), s.at.into(), Some(*scans).into()]);
        }
    }
    home.execute(&tables).await.unwrap();
    home.execute(&indexes).await.unwrap();
    strata::home::migrate(&url).await.expect("migrate again: the rows move");
    assert_eq!(count(&home, "SELECT COUNT(*) FROM sample_tables").await, 0);
    assert_eq!(count(&home, "SELECT COUNT(*) FROM sample_indexes").await, 0);
    raw_series_match(&home, DB, &all).await;
    home.close().await.ok();
    t.drop().await;
}

each_backend! {
    packed_samples_answer_what_rows_answered => packed_answers_what_rows_answered;
    rows_from_before_the_packing_are_moved_into_packs => rows_from_before_the_packing_are_moved;
}
