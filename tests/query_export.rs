//! A 1,000,000-row CSV export through the router: byte for byte what `psql \copy ... csv header` writes for the
//! same query, streamed with the process's memory bounded while it runs.
//!
//! Alone in its own test binary, so that no other test's allocations move the memory reading.

mod common;

use std::io::Read;
use std::process::Command;

use axum::http::StatusCode;
use common::web::Browser;
use common::*;
use http_body_util::BodyExt;
use strata::home::accounts::Role;

/// Awkward values on purpose: NULLs, empty strings, quotes, commas, newlines, timestamps, exact numerics.
const QUERY: &str = "SELECT g, md5(g::text) AS hash, \
     CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'a,\"b\"' WHEN 3 THEN E'two\\nlines' ELSE 'plain' END AS v, \
     timestamp '2026-01-01' + g * interval '1.5 second' AS at, g * 1.25 AS n \
     FROM generate_series(1, 1000000) g";

/// The process's resident set and its peak since the last reset, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let read = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key}"));
        line[key.len()..].split_whitespace().next().unwrap().parse::<f64>().unwrap() / 1024.0
    };
    (read("VmRSS:"), read("VmHWM:"))
}

/// Resets the peak-RSS counter (VmHWM) of this process.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS through /proc/self/clear_refs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_million_row_csv_export_is_byte_exact_with_psql_copy_and_streams_in_bounded_memory() {
    let t = TestDb::new(Kind::Postgres).await;
    ok(&strata(&t.url, &["migrate", "up"]));

    // What psql writes for the same query.
    let dir = tempfile::tempdir().unwrap();
    let expected_path = dir.path().join("psql.csv");
    let copy = format!("\\copy ({QUERY}) to '{}' csv header", expected_path.display());
    let out = Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &copy, &t.url]).output();
    let out = out.expect("psql is installed (Debian: postgresql-client)");
    assert!(out.status.success(), "psql \\copy failed: {}", String::from_utf8_lossy(&out.stderr));
    let expected_len = std::fs::metadata(&expected_path).unwrap().len();
    assert!(expected_len > 60_000_000, "psql wrote the whole result ({expected_len} bytes)");
    let mut expected = std::io::BufReader::new(std::fs::File::open(&expected_path).unwrap());

    let mut b = Browser::new(&t.url).await;
    b.login_as(Role::Viewer).await;
    b.get("/db/app/query").await;
    let (rss_before, _) = memory();
    reset_peak();
    let res = b.post_form_streaming("/db/app/query/export", &[("sql", QUERY), ("format", "csv")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.contains(&t.name) && disposition.ends_with(".csv\""), "{disposition}");

    // Compare chunk by chunk against the file, holding neither side whole.
    let mut body = res.into_body();
    let mut got_len = 0u64;
    let mut want = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("the stream does not break off");
        let Some(chunk) = frame.data_ref() else { continue };
        want.resize(chunk.len(), 0);
        let read = expected.read(&mut want[..]).unwrap();
        let mut filled = read;
        while filled < chunk.len() {
            let n = expected.read(&mut want[filled..]).unwrap();
            assert!(n > 0, "Strata sent more than psql wrote (at byte {})", got_len + filled as u64);
            filled += n;
        }
        if chunk[..] != want[..] {
            let at = chunk.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            let show =
                |b: &[u8]| String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 40).min(b.len())]).into_owned();
            panic!("differs at byte {}: Strata {:?} psql {:?}", got_len + at as u64, show(chunk), show(&want));
        }
        got_len += chunk.len() as u64;
    }
    assert_eq!(got_len, expected_len, "the whole file, no more, no less");
    let (_, peak) = memory();
    eprintln!("{expected_len} bytes streamed; RSS {rss_before:.1} MiB before, peak {peak:.1} MiB while streaming");
    // The file is over 60 MB; holding it (or the rows) would show here many times over.
    assert!(
        peak - rss_before < 48.0,
        "memory grew from {rss_before:.1} MiB to a peak of {peak:.1} MiB while streaming {} MB",
        expected_len / 1_000_000
    );

    let home = t.connect_home().await;
    let sql = "SELECT COUNT(*) FROM query_history \
               WHERE status = 'success' AND row_count = 1000000 AND database_name = 'app'";
    eventually("the export is in the history with its row count and database", || async {
        (count(&home, sql).await == 1).then_some(())
    })
    .await;
    t.drop().await;
}
