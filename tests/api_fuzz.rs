//! A schemathesis run over `/api/openapi.json` against the real `strata serve`: no 5xx, no panic, every answer as documented.
//!
//! schemathesis comes from PyPI: `scripts/test.sh` installs it into `target/schemathesis-venv` when it is missing
//! (or set `STRATA_SCHEMATHESIS` to its path). The run is bounded (a fixed seed and number of cases per
//! operation). Besides "no 5xx" and "answers as documented" it checks `positive_data_acceptance`: a request the
//! document calls valid is never refused with a 400. On PostgreSQL it leaves out cancel and terminate (they would
//! signal other sessions of the shared server); on SQLite it covers every path, and their 501 is the documented answer.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;

// SQLite and PostgreSQL: MariaDB adds time and no endpoint of its own.
#[tokio::test(flavor = "multi_thread")]
async fn fuzzing_the_openapi_document_on_sqlite_finds_no_5xx_no_panic_and_no_undocumented_answer() {
    fuzz(Kind::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn fuzzing_the_openapi_document_on_postgres_finds_no_5xx_no_panic_and_no_undocumented_answer() {
    fuzz(Kind::Postgres).await
}

/// Cases per operation: enough to reach every parameter and body field, small enough for well under a minute.
const MAX_EXAMPLES: &str = "25";

/// Documented exceptions. SQLite has no server sessions: cancel and terminate answer 501 there, as the document
/// says, and no statement statistics: the statements list answers 501. An export runs its SQL at once, and text the database refuses is a 400: no schema can say which strings
/// are valid SQL, so for the export a 400 is an acceptable answer to schema-valid data; the same goes for the
/// history's ranges and the migration commands' revisions and field combinations.
const CONFIG: &str = r#"
# Every per-database endpoint is fuzzed on the test's own database; other names are a declared 404.
[parameters]
"path.name" = "app"

[[operations]]
include-path-regex = "/(cancel|terminate)$"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]

# `from` after `to` is an empty range, which no schema can rule out: the history answers it with a 400, as documented.
[[operations]]
include-path = "/api/v1/history"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

# A migration command names revisions that must exist in the migrator and combines its fields by rules no schema
# states (`to` or `n`, not both; `stamp` needs `to`): those answer 400 with the reason, as documented.
[[operations]]
include-path-regex = "/migrations/(preview|lint|rehearse|apply)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

# A samples metric names a table or index (`table_size:{schema}.{table}`), and `from` and `to` are Unix seconds or
# RFC 3339 with `from` not after `to`: no schema states those, and the answer to the rest is a 400 naming the reason.
[[operations]]
include-path = "/api/v1/databases/{name}/samples"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

# Statements: SQLite keeps no statement statistics (501), the shared PostgreSQL server does not load
# pg_stat_statements (409), and `range` with `from`/`to`, or `from` after `to`, is a 400 naming the reason.
[[operations]]
include-path = "/api/v1/databases/{name}/statements"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-path = "/api/v1/databases/{name}/export"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
"#;

/// The schemathesis executable, or a failure that says how to install it.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("STRATA_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis-venv/bin/schemathesis");
    if venv.exists() {
        return venv;
    }
    match Command::new("schemathesis").arg("--version").output() {
        Ok(o) if o.status.success() => PathBuf::from("schemathesis"),
        _ => panic!(
            "schemathesis is not installed: run scripts/test.sh (it installs it), or \
             `python3 -m venv target/schemathesis-venv && target/schemathesis-venv/bin/pip install schemathesis`, \
             or set STRATA_SCHEMATHESIS to its path"
        ),
    }
}

/// `strata serve`, stopped when the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

async fn fuzz(kind: Kind) {
    let st = schemathesis();
    let t = TestDb::new(kind).await;
    ok(&strata(&t.url, &["migrate", "up"]));
    let mut create = strata_cmd(
        &t.url,
        &[
            "user",
            "create",
            "--username",
            "fuzzer",
            "--email",
            "fuzzer@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run strata user create");
    create.stdin.take().unwrap().write_all(b"correct horse battery staple\n").unwrap();
    ok(&create.wait_with_output().unwrap());
    let mut args = vec!["key", "create", "--user", "fuzzer", "--name", "schemathesis"];
    for scope in strata::home::api_keys::Scope::ALL {
        args.extend(["--scope", scope.as_str()]);
    }
    let key = ok(&strata(&t.url, &args)).trim().to_string();

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let server = Server(
        strata_cmd(&t.url, &["serve", "--listen", &listen])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start strata serve"),
    );

    let config = log_dir.path().join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut cmd = Command::new(&st);
    cmd.arg("--config-file").arg(&config);
    cmd.args(["run", &format!("http://{listen}/api/openapi.json")]);
    if kind == Kind::Postgres {
        cmd.args(["--exclude-path-regex", "/(cancel|terminate)$"]);
    }
    let out = cmd
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,\
             positive_data_acceptance",
        ])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", "20250601", "--workers", "1"])
        .args(["--wait-for-schema", "30", "--request-timeout", "30"])
        .env("NO_COLOR", "1")
        .current_dir(log_dir.path())
        .output()
        .expect("run schemathesis");
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let report = format!("{}\n{}\n--- strata serve ---\n{log}", stdout(&out), stderr(&out));
    assert!(!log.contains("panicked"), "strata panicked during the run:\n{report}");
    // Refusals (4xx, 501, 504) are answers, not faults: nothing of the run is logged at ERROR.
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "ERROR lines in the server's log:\n{}\n{report}", errors.join("\n"));
    assert!(out.status.success(), "schemathesis found problems:\n{report}");
    assert!(stdout(&out).contains("passed"), "{report}");
    t.drop().await;
}
