//! Statement readings packed in `sample_packs` answer what one row per statement per sample answered: the range
//! view's sums, sorts, search and pages across a reset, a statement leaving the top and coming back, one arriving
//! late, one without block counters, one that never runs, a gap and a sample written late, from raw readings and
//! from averages; texts no reading names any more are deleted, the others kept; rows of `sample_statements` from
//! before the packing are moved; and the sampler's kept stream states write byte for byte what a replay writes,
//! also after another instance wrote in between.

mod common;

use std::collections::BTreeMap;

use common::*;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use strata::config::{DatabaseUrl, SampleRetention};
use strata::db::introspect::{IndexInfo, SampleReadings, StatementInfo, StatementQuery, StatementSort, TableInfo};
use strata::home::samples::{self, RAW, Tails, Taken};
use strata::home::statement_samples;

/// An hour boundary in the past; `retain` is given its own `now`.
const BASE: i64 = 1_750_000_000 / 3600 * 3600;
const MINUTES: i64 = 240;
const DB: &str = "stmts";

/// One statement's reading: calls, total µs, rows, blocks hit, blocks read.
type Counters = [Option<i64>; 5];

#[derive(Clone)]
struct Sample {
    at: i64,
    readings: Vec<(&'static str, Counters)>,
}

/// Four hours of samples. `steady` runs 10 times a minute; `busy` a random amount; `reset`'s counters start again
/// at minute 100; `leaves` is out of the top from minute 50 to 69; `late` arrives at minute 90; `noblocks` has no
/// block counters; `idle` never runs. No samples from minute 120 to 129; minute 45's sample is written last.
fn scenario() -> Vec<Sample> {
    let mut seed = 11u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) % n) as i64
    };
    let mut c: BTreeMap<&'static str, [i64; 5]> = BTreeMap::new();
    for name in ["steady", "busy", "reset", "leaves", "late", "noblocks", "idle"] {
        c.insert(name, [1_000, 5_000_000, 3_000, 40_000, 200]);
    }
    let mut out = Vec::new();
    for m in 0..MINUTES {
        for (name, v) in c.iter_mut() {
            let calls = match *name {
                "steady" => 10,
                "idle" => 0,
                _ => next(60),
            };
            let step = [calls, calls * 300 + next(5_000), calls * 2 + next(3), calls * 40 + next(100), next(4)];
            for (v, s) in v.iter_mut().zip(step) {
                *v += if calls == 0 { 0 } else { s };
            }
            if *name == "reset" && m == 100 {
                *v = [3, 700, 6, 90, 1];
            }
        }
        if (120..130).contains(&m) {
            continue;
        }
        let mut readings = Vec::new();
        for (name, v) in &c {
            if (*name == "leaves" && (50..70).contains(&m)) || (*name == "late" && m < 90) {
                continue;
            }
            let blocks = |x: i64| if *name == "noblocks" { None } else { Some(x) };
            readings.push((*name, [Some(v[0]), Some(v[1]), Some(v[2]), blocks(v[3]), blocks(v[4])]));
        }
        out.push(Sample { at: BASE + 60 * m, readings });
    }
    out
}

fn info(name: &str, v: &Counters) -> StatementInfo {
    StatementInfo {
        query_id: name.to_string(),
        query: format!("SELECT /* {name} */ 1 FROM \"<t>\" WHERE x = $1"),
        calls: v[0].unwrap_or(0),
        total_ms: v[1].unwrap_or(0) as f64 / 1000.0,
        rows: v[2].unwrap_or(0),
        blocks_hit: v[3],
        blocks_read: v[4],
        ..Default::default()
    }
}

/// One sample as the sampler writes it: the database-wide readings (the retention job averages statements with
/// them) and the statements.
async fn record(home: &DatabaseConnection, sample: &Sample) {
    let readings = SampleReadings { database_size_bytes: Some(1), ..Default::default() };
    let at = chrono::DateTime::from_timestamp(sample.at, 0).unwrap();
    samples::record(home, DB, at, &readings, &[], &[]).await.expect("record a sample");
    let items: Vec<StatementInfo> = sample.readings.iter().map(|(name, v)| info(name, v)).collect();
    statement_samples::record(home, DB, sample.at, &items).await.expect("record statements");
}

/// Records the scenario (minute 45 last, and minute 30 again with other counters, which must not count).
async fn record_all(home: &DatabaseConnection, all: &[Sample]) {
    let (late, on_time): (Vec<&Sample>, Vec<&Sample>) = all.iter().partition(|s| s.at == BASE + 45 * 60);
    for s in on_time.into_iter().chain(late) {
        record(home, s).await;
    }
    let again =
        Sample { at: BASE + 30 * 60, readings: vec![("steady", [Some(1); 5]), ("busy", [Some(9e15 as i64); 5])] };
    record(home, &again).await;
}

/// What a statement's counters grew by: the differences, or the new values when any went down.
fn increase(p: &Counters, c: &Counters) -> Counters {
    let reset = p.iter().zip(c).any(|(p, c)| matches!((p, c), (Some(p), Some(c)) if c < p));
    let mut out = [None; 5];
    for i in 0..5 {
        out[i] = match (p[i], c[i]) {
            (_, None) => None,
            (Some(p), Some(c)) if !reset => Some(c - p),
            (_, Some(c)) => Some(c.max(0)),
        };
    }
    out
}

/// Each statement's increase over `from..=to` as one row per reading gave it: every reading after `from` against the
/// statement's reading before it (looked for up to an hour before `from`); only statements with calls.
fn expected(all: &[Sample], from: i64, to: i64) -> BTreeMap<&'static str, Counters> {
    let mut by: BTreeMap<&'static str, Vec<(i64, Counters)>> = BTreeMap::new();
    let mut sorted: Vec<&Sample> = all.iter().collect();
    sorted.sort_by_key(|s| s.at);
    for s in sorted.into_iter().filter(|s| s.at >= from - 3600 && s.at <= to) {
        for (name, v) in &s.readings {
            by.entry(*name).or_default().push((s.at, *v));
        }
    }
    let mut out = BTreeMap::new();
    for (name, readings) in by {
        let mut sum: Counters = [None; 5];
        for w in readings.windows(2).filter(|w| w[1].0 > from) {
            for (s, v) in sum.iter_mut().zip(increase(&w[0].1, &w[1].1)) {
                if let Some(v) = v {
                    *s = Some(s.unwrap_or(0) + v);
                }
            }
        }
        if sum[0].unwrap_or(0) > 0 {
            out.insert(name, sum);
        }
    }
    out
}

fn key(sort: StatementSort, v: &Counters) -> Option<f64> {
    match sort {
        StatementSort::Calls => v[0].map(|x| x as f64),
        StatementSort::TotalTime => v[1].map(|x| x as f64),
        StatementSort::MeanTime => Some(v[1]? as f64 / v[0].filter(|c| *c != 0)? as f64),
        StatementSort::Rows => v[2].map(|x| x as f64),
        StatementSort::HitRatio => {
            let (h, r) = (v[3]?, v[4]?);
            (h + r != 0).then(|| h as f64 / (h + r) as f64)
        }
    }
}

/// The expected page: sorted with `None` last either way, then by query id.
fn page(want: &BTreeMap<&'static str, Counters>, q: &StatementQuery) -> (Vec<(String, Counters)>, u64) {
    let needle = q.search.as_deref().map(str::to_lowercase);
    let mut rows: Vec<(&str, &Counters)> = want
        .iter()
        .filter(|(name, _)| needle.as_ref().is_none_or(|n| info(name, &[None; 5]).query.to_lowercase().contains(n)))
        .map(|(name, v)| (*name, v))
        .collect();
    rows.sort_by(|a, b| {
        let (x, y) = (key(q.sort, a.1), key(q.sort, b.1));
        let order = match (x, y) {
            (Some(x), Some(y)) if q.descending => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        order.then_with(|| a.0.cmp(b.0))
    });
    let total = rows.len() as u64;
    let shown = rows.into_iter().skip(q.offset as usize).take(q.limit as usize);
    (shown.map(|(n, v)| (n.to_string(), *v)).collect(), total)
}

fn as_counters(s: &StatementInfo) -> Counters {
    [Some(s.calls), Some((s.total_ms * 1000.0).round() as i64), Some(s.rows), s.blocks_hit, s.blocks_read]
}

async fn ranges_match(home: &DatabaseConnection, all: &[Sample], from: i64, to: i64) {
    let retention = SampleRetention::default();
    let want = expected(all, from, to);
    assert!(want.len() >= 4, "the window {from}..{to} has statements to compare: {want:?}");
    let sorts = [
        StatementSort::Calls,
        StatementSort::TotalTime,
        StatementSort::MeanTime,
        StatementSort::Rows,
        StatementSort::HitRatio,
    ];
    for sort in sorts {
        for descending in [true, false] {
            for (search, offset, limit) in
                [(None, 0, 50), (None, 2, 3), (Some("BUSY"), 0, 10), (Some("<T>\" where"), 1, 10)]
            {
                let q = StatementQuery { sort, descending, search: search.map(String::from), offset, limit };
                let (items, total) =
                    statement_samples::range(home, DB, from, to, &retention, &q).await.expect("the range");
                let got: Vec<(String, Counters)> = items.iter().map(|s| (s.query_id.clone(), as_counters(s))).collect();
                assert_eq!((got, total), page(&want, &q), "{from}..{to} {sort:?} desc={descending} {search:?}");
            }
        }
    }
}

async fn migrated_home(t: &TestDb) -> DatabaseConnection {
    strata::home::migrate(&DatabaseUrl::parse(&t.home_url).unwrap()).await.expect("migrate the home database");
    t.connect_home().await
}

/// Ranges of up to three hours (raw readings) and longer ones (averages, then raw readings) sum what rows summed.
async fn statement_ranges_answer_what_rows_answered(kind: Kind) {
    let t = TestDb::new(kind).await;
    let home = migrated_home(&t).await;
    let all = scenario();
    record_all(&home, &all).await;
    let m = |minute: i64| BASE + 60 * minute;
    for (from, to) in [(m(10), m(130)), (m(40), m(75)), (m(95), m(105)), (m(119) + 30, m(131)), (m(0) - 1, m(60))] {
        ranges_match(&home, &all, from, to).await;
    }
    // The retention job averages the complete buckets; a longer range reads them, and raw readings after them.
    let now = chrono::DateTime::from_timestamp(m(MINUTES) + 60, 0).unwrap();
    samples::retain(&home, &[DB.to_string()], &SampleRetention::default(), now).await.expect("retain");
    ranges_match(&home, &all, m(0) - 1, m(MINUTES)).await;
    ranges_match(&home, &all, m(0) - 40 * 86_400, m(MINUTES)).await;
    home.close().await.ok();
    t.drop().await;
}

/// Rows of `sample_statements` written by a Strata from before statements were packed move into `sample_packs`
/// when the home database is migrated, and sum the same.
async fn statement_rows_from_before_the_packing_are_moved(kind: Kind) {
    let t = TestDb::new(kind).await;
    let url = DatabaseUrl::parse(&t.home_url).unwrap();
    let home = migrated_home(&t).await;
    let all = scenario();
    let col = Alias::new;
    let names = ["steady", "busy", "reset", "leaves", "late", "noblocks", "idle"];
    for (k, name) in names.iter().enumerate() {
        let text = info(name, &[None; 5]).query;
        let insert = Query::insert()
            .into_table(col("sample_queries"))
            .columns([col("id"), col("database_name"), col("query_id"), col("query_text")])
            .values_panic([(50 + k as i32).into(), DB.into(), (*name).into(), text.into()])
            .to_owned();
        home.execute(&insert).await.unwrap();
    }
    let mut rows = Query::insert();
    rows.into_table(col("sample_statements")).columns(
        ["object_id", "resolution_s", "at_s", "calls", "total_us", "rows_out", "blks_hit", "blks_read"].map(col),
    );
    for s in &all {
        for (name, v) in &s.readings {
            let id = 50 + names.iter().position(|n| n == name).unwrap() as i32;
            rows.values_panic([
                id.into(),
                RAW.into(),
                s.at.into(),
                v[0].into(),
                v[1].into(),
                v[2].into(),
                v[3].into(),
                v[4].into(),
            ]);
        }
    }
    home.execute(&rows).await.unwrap();
    strata::home::migrate(&url).await.expect("migrate again: the rows move");
    assert_eq!(count(&home, "SELECT COUNT(*) FROM sample_statements").await, 0);
    ranges_match(&home, &all, BASE + 600, BASE + 130 * 60).await;
    home.close().await.ok();
    t.drop().await;
}

/// A text stays while some reading names it and goes once none does: after the raw readings age out, a statement
/// that ran is still in the averages; one that never ran is named nowhere.
async fn texts_no_reading_names_are_deleted(kind: Kind) {
    let t = TestDb::new(kind).await;
    let home = migrated_home(&t).await;
    let short: Vec<Sample> = scenario().into_iter().take(30).collect();
    record_all(&home, &short).await;
    let text = async |name: &str| statement_samples::text(&home, DB, name).await.expect("a text");
    assert!(text("idle").await.is_some() && text("busy").await.is_some());
    // Two days and a bit later the raw readings are gone.
    let now = chrono::DateTime::from_timestamp(BASE + 2 * 86_400 + 3 * 3600, 0).unwrap();
    samples::retain(&home, &[DB.to_string()], &SampleRetention::default(), now).await.expect("retain");
    assert_eq!(text("idle").await, None, "never ran: only raw readings named it");
    for name in ["steady", "busy", "reset", "noblocks"] {
        assert!(text(name).await.is_some(), "{name} ran: its averages name it");
    }
    home.close().await.ok();
    t.drop().await;
}

each_backend! {
    statement_ranges_from_packed_readings_equal_row_arithmetic => statement_ranges_answer_what_rows_answered;
    statement_rows_from_before_the_packing_move_into_packs => statement_rows_from_before_the_packing_are_moved;
    statement_texts_named_by_no_reading_are_deleted => texts_no_reading_names_are_deleted;
}

/// A minute of a sampler's writes: five tables (one growing), three indexes, and the scenario's statements.
async fn write_minute(home: &DatabaseConnection, all: &[Sample], m: usize, tails: &mut Tails) {
    let sample = &all[m];
    let tables: Vec<TableInfo> = (0..5)
        .map(|i| TableInfo {
            schema: "s".into(),
            name: format!("t{i}"),
            total_bytes: Some(8_192 * (1 + i) + if i == 0 { m as i64 * 8_192 * (m as i64 % 3) } else { 0 }),
            row_estimate: Some(i * 10),
            ..Default::default()
        })
        .collect();
    let indexes: Vec<IndexInfo> = (0..3)
        .map(|i| IndexInfo {
            schema: "s".into(),
            name: format!("i{i}"),
            scans: Some(m as i64 * i * (m as i64 % 4)),
            ..Default::default()
        })
        .collect();
    let readings = SampleReadings { database_size_bytes: Some(1), ..Default::default() };
    let at = chrono::DateTime::from_timestamp(sample.at, 0).unwrap();
    let taken = Taken { at, readings: &readings, tables: &tables, indexes: &indexes };
    samples::record_many_with(home, DB, &[taken], tails).await.expect("record a sample");
    let items: Vec<StatementInfo> = sample.readings.iter().map(|(name, v)| info(name, v)).collect();
    statement_samples::record_with(home, DB, sample.at, &items, tails).await.expect("record statements");
}

async fn sqlite_home(dir: &tempfile::TempDir, name: &str) -> DatabaseConnection {
    let path = dir.path().join(name);
    strata::home::migrate(&DatabaseUrl::parse(&format!("sqlite:///{}", path.display())).unwrap()).await.unwrap();
    Database::connect(format!("sqlite://{}", path.display())).await.unwrap()
}

async fn packs(home: &DatabaseConnection) -> Vec<String> {
    let sql = "SELECT kind || ' ' || resolution_s || ' ' || at_s || ' ' || hex(data) FROM sample_packs \
               ORDER BY kind, resolution_s, at_s";
    column(home, sql).await
}

/// The sampler keeps each stream's newest state between samples instead of replaying the hour; what it writes is
/// what a writer that replays writes, across an hour's key row and after another instance (another `Tails`) wrote
/// in between, which the kept state must notice.
#[tokio::test(flavor = "multi_thread")]
async fn kept_stream_states_write_what_a_replay_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, replayed) = (sqlite_home(&dir, "kept.db").await, sqlite_home(&dir, "replayed.db").await);
    let all = scenario();
    let (mut ours, mut theirs) = (Tails::default(), Tails::default());
    for m in 0..80 {
        // Minutes 20, 21 and 70 are written by another instance; this one goes on with what it kept.
        let tails = if [20, 21, 70].contains(&m) { &mut theirs } else { &mut ours };
        write_minute(&kept, &all, m, tails).await;
        write_minute(&replayed, &all, m, &mut Tails::default()).await;
    }
    let (a, b) = (packs(&kept).await, packs(&replayed).await);
    assert!(a.len() > 200, "{} rows", a.len());
    assert_eq!(a, b, "the same rows, byte for byte");
}
