//! The OpenAPI document as a client generator reads it: valid OpenAPI 3.1 (checked by `openapi-spec-validator`),
//! unique operationIds named by resource and action, and every bound and status the server enforces declared.
//!
//! `openapi-spec-validator` comes from PyPI: `scripts/test.sh` installs it into `target/openapi-validator-venv`
//! when it is missing (or set `STRATA_OPENAPI_VALIDATOR` to its path).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use axum::http::{Method, StatusCode};
use common::api::{call, key_for, post_json};
use common::web::{Browser, migrate_up};
use common::*;
use serde_json::Value;
use strata::home::accounts::Role;
use strata::home::api_keys::Scope;

/// The validator executable, or a failure that says how to install it.
fn validator() -> PathBuf {
    if let Some(path) = std::env::var_os("STRATA_OPENAPI_VALIDATOR") {
        return PathBuf::from(path);
    }
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/openapi-validator-venv/bin/openapi-spec-validator");
    if venv.exists() {
        return venv;
    }
    match Command::new("openapi-spec-validator").arg("--version").output() {
        Ok(o) if o.status.success() => PathBuf::from("openapi-spec-validator"),
        _ => panic!(
            "openapi-spec-validator is not installed: run scripts/test.sh (it installs it), or \
             `python3 -m venv target/openapi-validator-venv && \
             target/openapi-validator-venv/bin/pip install openapi-spec-validator`, \
             or set STRATA_OPENAPI_VALIDATOR to its path"
        ),
    }
}

/// The document as `/api/openapi.json` serves it, through the router.
async fn document() -> (TestDb, Browser, Value) {
    let t = TestDb::new(Kind::Sqlite).await;
    migrate_up(&t).await;
    let mut b = Browser::new(&t.url).await;
    let (status, _, doc) = call(&mut b, Method::GET, "/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    (t, b, doc)
}

/// Every operation: `(METHOD path, operation object)`.
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            out.push((format!("{} {path}", method.to_uppercase()), op));
        }
    }
    out
}

/// A query parameter of an operation.
fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name} in {op}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_passes_openapi_spec_validator_with_no_error() {
    let validator = validator();
    let (t, _, doc) = document().await;
    assert_eq!(doc["openapi"].as_str().unwrap(), "3.1.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let out = Command::new(&validator)
        .args(["--validation-errors", "all", "--schema", "3.1"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", validator.display()));
    let report = format!("{}\n{}", stdout(&out), stderr(&out));
    assert!(out.status.success() && report.contains("OK"), "openapi-spec-validator found errors:\n{report}");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operation_ids_are_unique_and_named_by_resource_and_action() {
    let (t, _, doc) = document().await;
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (op_name, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{op_name} has no operationId")).to_string();
        if let Some(first) = ids.insert(id.clone(), op_name.clone()) {
            panic!("operationId {id} is used by {first} and {op_name}");
        }
    }
    // `<resource>_<action>`: the API module and its handler (`tables::index` is `tables_index`).
    let expected = [
        "activity_cancel",
        "activity_index",
        "activity_terminate",
        "backups_index",
        "databases_index",
        "docs_openapi_json",
        "docs_page",
        "history_index",
        "indexes_index",
        "matrix_index",
        "migration_runs_apply",
        "migration_runs_cancel",
        "migration_runs_lint",
        "migration_runs_preview",
        "migration_runs_rehearse",
        "migration_runs_show",
        "migrations_index",
        "overview_show",
        "query_export",
        "query_run",
        "samples_index",
        "statements_index",
        "tables_index",
        "tables_show",
    ];
    assert_eq!(ids.keys().map(String::as_str).collect::<Vec<_>>(), expected, "{ids:?}");
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_a_description_and_every_refusal_the_server_gives_is_declared() {
    let (t, _, doc) = document().await;
    for (op_name, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let description = response["description"].as_str().unwrap_or_default();
            assert!(!description.trim().is_empty(), "{op_name} {status} has no description");
        }
        let declared = |s: &str| op["responses"][s].is_object();
        if op_name.contains(" /api/v1/") {
            // Any key may be wrong (401) or lack the scope (403); a database that stops answering is a 503.
            for status in ["401", "403", "503"] {
                assert!(declared(status), "{op_name} does not declare {status}");
            }
            // Whatever takes parameters or a body refuses bad ones with a 400.
            if op["parameters"].is_array() || op["requestBody"].is_object() {
                assert!(declared("400"), "{op_name} does not declare 400");
            }
        }
    }
    let by_name: BTreeMap<String, &Value> = operations(&doc).into_iter().collect();
    // SQLite has no server sessions: cancel and terminate answer 501; nor statement statistics.
    for op in [
        "POST /api/v1/databases/{name}/activity/{pid}/cancel",
        "POST /api/v1/databases/{name}/activity/{pid}/terminate",
        "GET /api/v1/databases/{name}/statements",
    ] {
        assert!(by_name[op]["responses"]["501"].is_object(), "{op} does not declare 501");
    }
    // Catalog reads pass `catalog_timeout` with a 504.
    for op in [
        "GET /api/v1/databases/{name}/overview",
        "GET /api/v1/databases/{name}/tables",
        "GET /api/v1/databases/{name}/tables/{schema}/{table}",
        "GET /api/v1/databases/{name}/indexes",
        "GET /api/v1/databases/{name}/statements",
    ] {
        assert!(by_name[op]["responses"]["504"].is_object(), "{op} does not declare 504");
    }
    // Every per-database endpoint names the database; one Strata does not watch is a 404.
    for (op_name, op) in &by_name {
        if op_name.contains("/api/v1/databases/{name}") {
            assert!(op["responses"]["404"].is_object(), "{op_name} does not declare 404");
        }
    }
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bounds_the_server_enforces_are_in_the_document_and_a_value_past_them_is_a_400() {
    let (t, mut b, doc) = document().await;
    let (_, key) = key_for(&b.state, Role::Admin, &Scope::ALL).await;
    let by_name: BTreeMap<String, &Value> = operations(&doc).into_iter().collect();
    let tables = by_name["GET /api/v1/databases/{name}/tables"];
    let page = &param(tables, "page")["schema"];
    let per_page = &param(tables, "per_page")["schema"];
    let q = &param(tables, "q")["schema"];
    assert_eq!((page["minimum"].as_u64(), per_page["minimum"].as_u64()), (Some(1), Some(1)), "{tables}");
    assert_eq!(per_page["maximum"].as_u64(), Some(strata::api::params::MAX_PER_PAGE), "{per_page}");
    assert_eq!(q["maxLength"].as_u64(), Some(strata::api::params::MAX_SEARCH_CHARS as u64), "{q}");
    let page_max = page["maximum"].as_u64().unwrap_or_else(|| panic!("page has no maximum: {page}"));
    // The bound is exact: the largest page is accepted, the next one is a 400 naming `page`.
    let at = |p: u64| format!("/api/v1/databases/app/tables?page={p}&per_page={}", strata::api::params::MAX_PER_PAGE);
    let (status, _, body) = call(&mut b, Method::GET, &at(page_max), Some(&key)).await;
    assert_eq!(status, StatusCode::OK, "page={page_max}: {body}");
    let (status, _, body) = call(&mut b, Method::GET, &at(page_max + 1), Some(&key)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "page={}: {body}", page_max + 1);
    assert!(body["error"]["message"].as_str().unwrap().contains("page="), "{body}");

    // `max_rows` goes from 1 to the `max_rows` setting.
    let query = by_name["POST /api/v1/databases/{name}/query"];
    let schema_ref = query["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
    let request = &doc["components"]["schemas"][schema_ref.trim_start_matches("#/components/schemas/")];
    let max_rows = &request["properties"]["max_rows"];
    let setting = b.state.config.settings.max_rows as u64;
    assert_eq!(max_rows["maximum"].as_u64(), Some(setting), "{max_rows}");
    assert_eq!(max_rows["minimum"].as_u64(), Some(1), "{max_rows}");
    let (status, _, body) = post_json(
        &mut b,
        "/api/v1/databases/app/query",
        &key,
        format!(r#"{{"sql": "SELECT 1", "max_rows": {setting}}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = post_json(
        &mut b,
        "/api/v1/databases/app/query",
        &key,
        format!(r#"{{"sql": "SELECT 1", "max_rows": {}}}"#, setting + 1),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    t.drop().await;
}
