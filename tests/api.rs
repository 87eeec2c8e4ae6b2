//! The JSON API as a client sees it, on SQLite, PostgreSQL and MariaDB: keys, roles and scopes, JSON errors, the OpenAPI document, the key pages and CLI.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, COOKIE, WWW_AUTHENTICATE};
use axum::http::{Method, Request, StatusCode};
use common::api::{Answer, call, error, get, key_for, key_of};
use common::web::{Browser, create_account, migrate_up};
use common::*;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use strata::home::accounts::{self, Role};
use strata::home::api_keys::{self, Scope};
use strata::home::history::{self, NewRun, RunStatus};

each_backend! {
    every_read_endpoint_answers_json_for_each_role_and_needs_read_catalog => read_endpoints;
    cancel_and_terminate_need_an_admin_key_with_run_sql_and_are_audited => signals;
    history_shows_the_owners_runs_and_everyone_s_to_admin_keys => history_scope;
    wrong_expired_revoked_and_orphaned_keys_get_401_json => bad_keys;
    errors_under_api_are_json_with_a_code_and_a_message => json_errors;
    the_openapi_document_lists_exactly_the_routes_served => openapi_matches_router;
    keys_are_made_listed_and_revoked_through_the_cli => cli_keys;
    key_use_is_written_in_batches_not_per_request => last_used;
    keys_are_made_shown_once_and_revoked_on_the_dashboard => key_pages;
    a_session_cookie_on_an_api_post_needs_the_csrf_token => csrf_with_cookie;
}

async fn migrated(kind: Kind) -> (TestDb, Browser) {
    let t = TestDb::new(kind).await;
    migrate_up(&t).await;
    let b = Browser::new(&t.url).await;
    (t, b)
}

fn read_paths(t: &TestDb) -> Vec<String> {
    vec![
        "/api/v1/databases/app/overview".into(),
        "/api/v1/databases/app/tables".into(),
        format!("/api/v1/databases/app/tables/{}/users", t.schema()),
        "/api/v1/databases/app/indexes".into(),
        "/api/v1/databases/app/activity".into(),
        "/api/v1/databases/app/migrations".into(),
        "/api/v1/history".into(),
        "/api/v1/databases".into(),
    ]
}

async fn read_endpoints(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    for role in Role::ALL {
        let (_, reader) = key_for(&b.state, role, &[Scope::ReadCatalog]).await;
        let (_, other_scopes) =
            key_for(&b.state, role, &[Scope::ReadMetrics, Scope::RunSql, Scope::ManageMigrations]).await;
        for path in read_paths(&t) {
            let (status, headers, body) = get(&mut b, &path, &reader).await;
            assert_eq!(status, StatusCode::OK, "{role} {path}: {body}");
            assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
            let message = error(&get(&mut b, &path, &other_scopes).await, StatusCode::FORBIDDEN, "missing_scope");
            assert!(message.contains("read_catalog"), "{message}");
        }
    }
    let (_, k) = key_for(&b.state, Role::Viewer, &[Scope::ReadCatalog]).await;

    let (_, _, overview) = get(&mut b, "/api/v1/databases/app/overview", &k).await;
    assert_eq!(overview["migrations"]["head"], *HEAD);
    assert_eq!(overview["migrations"]["pending"], 0);
    assert_eq!(overview["migrations"]["total"], *MIGRATIONS);
    assert!(!overview["server"]["server_version"].as_str().unwrap().is_empty(), "{overview}");
    let (_, _, databases) = get(&mut b, "/api/v1/databases", &k).await;
    assert_eq!(
        (databases[0]["name"].as_str(), databases[0]["project"].as_bool()),
        (Some(APP), Some(true)),
        "{databases}"
    );
    assert_eq!(databases.as_array().unwrap().len(), 1, "only the test database is watched: {databases}");

    // Pages, sorting and search: the same parameters as every list.
    let (_, _, all) = get(&mut b, "/api/v1/databases/app/tables?per_page=500", &k).await;
    let names: Vec<&str> = all["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for want in ["users", "posts"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    for own in strata::home::OWN_TABLES {
        assert!(!names.contains(own), "Strata's {own} lives in its home database, not in {names:?}");
    }
    let total = all["total"].as_u64().unwrap();
    let (_, _, page2) = get(&mut b, "/api/v1/databases/app/tables?per_page=2&page=2", &k).await;
    assert_eq!((page2["page"].as_u64(), page2["per_page"].as_u64()), (Some(2), Some(2)));
    assert_eq!(page2["pages"].as_u64().unwrap(), total.div_ceil(2));
    assert_eq!(page2["items"][0]["name"], names[2], "page 2 starts with the third name");
    let (_, _, desc) = get(&mut b, "/api/v1/databases/app/tables?sort=-name&per_page=1", &k).await;
    assert_eq!(desc["items"][0]["name"], *names.iter().max().unwrap());
    let (_, _, found) = get(&mut b, "/api/v1/databases/app/tables?q=MIGRATIONS_L", &k).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["name"], "migrations_log");

    let (_, _, users) = get(&mut b, &format!("/api/v1/databases/app/tables/{}/users", t.schema()), &k).await;
    let columns: Vec<&str> =
        users["detail"]["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(columns.contains(&"username") && columns.contains(&"email"), "{columns:?}");
    assert!(users["rows"]["columns"].is_array(), "{users}");

    let (_, _, indexes) = get(&mut b, "/api/v1/databases/app/indexes?q=posts&sort=name", &k).await;
    let on_posts = indexes["items"].as_array().unwrap();
    assert!(!on_posts.is_empty() && on_posts.iter().all(|i| i["table"] == "posts"), "{indexes}");

    let (_, _, activity) = get(&mut b, "/api/v1/databases/app/activity", &k).await;
    assert_eq!(activity["server_activity"], kind != Kind::Sqlite, "{activity}");
    assert!(activity["activity"]["sessions"].is_array());

    let (_, _, migrations) = get(&mut b, "/api/v1/databases/app/migrations?per_page=1", &k).await;
    assert_eq!(migrations["head"], *HEAD);
    assert_eq!(migrations["migrations"].as_array().unwrap().len(), *MIGRATIONS);
    assert!(*MIGRATIONS > 1, "the log below spans more than one page");
    assert_eq!(migrations["log"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(migrations["log"]["total"], *MIGRATIONS, "one upgrade per migration");
    assert_eq!(migrations["log"]["items"][0]["revision"], *HEAD, "newest first");
    let (_, _, failed) = get(&mut b, "/api/v1/databases/app/migrations?status=failed", &k).await;
    assert_eq!(failed["log"]["total"], 0);
    t.drop().await;
}

async fn signals(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let (_, admin) = key_for(&b.state, Role::Admin, &[Scope::RunSql, Scope::ReadCatalog]).await;
    let (_, admin_reader) = key_for(&b.state, Role::Admin, &[Scope::ReadCatalog]).await;
    for action in ["cancel", "terminate"] {
        let path = format!("/api/v1/databases/app/activity/1/{action}");
        for role in [Role::Viewer, Role::Editor] {
            let (_, k) = key_for(&b.state, role, &[Scope::RunSql, Scope::ReadCatalog]).await;
            error(&call(&mut b, Method::POST, &path, Some(&k)).await, StatusCode::FORBIDDEN, "forbidden");
        }
        error(&call(&mut b, Method::POST, &path, Some(&admin_reader)).await, StatusCode::FORBIDDEN, "missing_scope");
        let bad = format!("/api/v1/databases/app/activity/x1/{action}");
        let message =
            error(&call(&mut b, Method::POST, &bad, Some(&admin)).await, StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.starts_with("pid="), "{message}");
    }
    if kind == Kind::Sqlite {
        let answer = call(&mut b, Method::POST, "/api/v1/databases/app/activity/1/cancel", Some(&admin)).await;
        assert!(error(&answer, StatusCode::NOT_IMPLEMENTED, "unsupported").contains("no server sessions"));
        t.drop().await;
        return;
    }
    // A real statement in another session, found through the API and cancelled through it.
    let sleeper = t.connect_one().await;
    let sql = if kind == Kind::Postgres { "SELECT pg_sleep(30)" } else { "SELECT SLEEP(30)" };
    let running = tokio::spawn(async move { sleeper.execute_unprepared(sql).await.map(|_| ()) });
    let mut pid = None;
    for _ in 0..100 {
        let (_, _, a) = get(&mut b, "/api/v1/databases/app/activity", &admin).await;
        let sessions = a["activity"]["sessions"].as_array().cloned().unwrap_or_default();
        pid = sessions
            .iter()
            .find(|s| s["query"].as_str().is_some_and(|q| q.contains("SLEEP(30)") || q.contains("pg_sleep(30)")))
            .and_then(|s| s["pid"].as_i64());
        if pid.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = pid.expect("the sleeping session shows in /api/v1/activity");
    let (status, _, body) =
        call(&mut b, Method::POST, &format!("/api/v1/databases/app/activity/{pid}/cancel"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["pid"].as_i64(), body["action"].as_str(), body["signalled"].as_bool()),
        (Some(pid), Some("cancel"), Some(true))
    );
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the statement stopped well before 30 s").ok();
    let gone = 2_000_000_000;
    let (status, _, body) =
        call(&mut b, Method::POST, &format!("/api/v1/databases/app/activity/{gone}/terminate"), Some(&admin)).await;
    assert_eq!((status, body["signalled"].as_bool()), (StatusCode::OK, Some(false)), "{body}");

    let db = t.connect_home().await;
    let rows =
        column(&db, "SELECT detail FROM audit_log WHERE action IN ('session.cancel', 'session.terminate') ORDER BY id")
            .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].starts_with("signalled (API key #") && rows[1].starts_with("no such session (API key #"),
        "{rows:?}"
    );
    t.drop().await;
}

async fn history_scope(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let (viewer, viewer_key) = key_for(&b.state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let (_, admin_key) = key_for(&b.state, Role::Admin, &[Scope::ReadCatalog]).await;
    for run in [
        NewRun::new(&viewer, "SELECT mine_1", RunStatus::Success),
        NewRun::new(&viewer, "SELEC mine_2", RunStatus::Error).error("syntax"),
        NewRun::new("someone_else", "SELECT theirs", RunStatus::Success),
    ] {
        history::record(&b.state.home, run).await.unwrap();
    }
    let queries = |v: &Value| -> BTreeSet<String> {
        v["items"].as_array().unwrap().iter().map(|r| r["query"].as_str().unwrap().to_string()).collect()
    };
    let (_, _, own) = get(&mut b, "/api/v1/history", &viewer_key).await;
    assert_eq!(queries(&own), ["SELEC mine_2", "SELECT mine_1"].map(String::from).into());
    let (_, _, all) = get(&mut b, "/api/v1/history", &admin_key).await;
    assert_eq!(all["total"], 3);
    let (_, _, errors) = get(&mut b, "/api/v1/history?status=error", &admin_key).await;
    assert_eq!(queries(&errors), ["SELEC mine_2".to_string()].into());
    let (_, _, theirs) = get(&mut b, "/api/v1/history?user=someone_else&q=THEIR", &admin_key).await;
    assert_eq!(queries(&theirs), ["SELECT theirs".to_string()].into());
    error(&get(&mut b, "/api/v1/history?user=someone_else", &viewer_key).await, StatusCode::FORBIDDEN, "forbidden");
    let message = error(
        &get(&mut b, "/api/v1/history?from=yesterday", &viewer_key).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(message.starts_with("from="), "{message}");
    let message =
        error(&get(&mut b, "/api/v1/history?status=meh", &viewer_key).await, StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.starts_with("status:"), "{message}");
    t.drop().await;
}

async fn bad_keys(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let (owner, good) = key_for(&b.state, Role::Editor, &[Scope::ReadCatalog]).await;
    assert_eq!(get(&mut b, "/api/v1/databases/app/overview", &good).await.0, StatusCode::OK);

    let unauthorized = |answer: &Answer| {
        let message = error(answer, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(answer.1.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()), Some("Bearer"));
        message
    };
    assert!(unauthorized(&call(&mut b, Method::GET, "/api/v1/databases/app/overview", None).await).contains("Bearer"));
    let basic = Request::get("/api/v1/databases/app/overview").header(AUTHORIZATION, format!("Basic {good}"));
    let (status, headers, body) = b.send(basic.body(Body::empty()).unwrap()).await;
    unauthorized(&(status, headers, serde_json::from_str(&body).unwrap()));
    let (prefix, secret) = good.trim_start_matches("strata_").split_once('_').unwrap();
    let wrong_secret = format!("strata_{prefix}_{}", secret.chars().rev().collect::<String>());
    let unknown_prefix = format!("strata_{}_{secret}", "0".repeat(prefix.len()));
    for wrong in ["nonsense", "strata_", &wrong_secret, &unknown_prefix, &good[..good.len() - 1]] {
        assert_eq!(
            unauthorized(&get(&mut b, "/api/v1/databases/app/overview", wrong).await),
            "the API key is not valid",
            "{wrong}"
        );
    }

    let expiring = key_of(&b.state, &owner, Role::Editor, &[Scope::ReadCatalog]).await;
    let db = t.connect_home().await;
    let past = match kind {
        Kind::Postgres => "now() - interval '1 minute'",
        Kind::MySql => "NOW() - INTERVAL 1 MINUTE",
        Kind::Sqlite => "'2000-01-01 00:00:00+00:00'",
    };
    let prefix_of = |k: &str| k.trim_start_matches("strata_").split_once('_').unwrap().0.to_string();
    exec(&db, &format!("UPDATE api_keys SET expires_at = {past} WHERE prefix = '{}'", prefix_of(&expiring))).await;
    assert!(unauthorized(&get(&mut b, "/api/v1/databases/app/overview", &expiring).await).contains("expired"));

    let revoked = key_of(&b.state, &owner, Role::Editor, &[Scope::ReadCatalog]).await;
    let id = count(&db, &format!("SELECT id FROM api_keys WHERE prefix = '{}'", prefix_of(&revoked))).await;
    api_keys::revoke(&b.state.home, id as i32).await.unwrap();
    assert!(unauthorized(&get(&mut b, "/api/v1/databases/app/overview", &revoked).await).contains("revoked"));

    // A deactivated owner's keys stop working; a demoted owner's keys lose the role they had.
    let account = accounts::find_by_username(&b.state.home, &owner).await.unwrap().unwrap();
    let (_, admin_key) = key_for(&b.state, Role::Admin, &[Scope::ReadCatalog]).await;
    assert_eq!(get(&mut b, "/api/v1/history?user=nobody", &admin_key).await.0, StatusCode::OK);
    exec(
        &db,
        &format!(
            "UPDATE admin_users SET role = 'viewer' WHERE id = (SELECT owner_id FROM api_keys WHERE prefix = '{}')",
            prefix_of(&admin_key)
        ),
    )
    .await;
    error(&get(&mut b, "/api/v1/history?user=nobody", &admin_key).await, StatusCode::FORBIDDEN, "forbidden");
    exec(&db, &format!("UPDATE admin_users SET is_active = {} WHERE id = {}", sql_false(kind), account.id)).await;
    assert!(unauthorized(&get(&mut b, "/api/v1/databases/app/overview", &good).await).contains("deactivated"));
    t.drop().await;
}

fn sql_false(kind: Kind) -> &'static str {
    if kind == Kind::Sqlite { "0" } else { "false" }
}

async fn json_errors(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let (_, k) = key_for(&b.state, Role::Viewer, &[Scope::ReadCatalog]).await;
    assert!(
        error(&get(&mut b, "/api/v1/no/such/thing", &k).await, StatusCode::NOT_FOUND, "not_found")
            .contains("/api/v1/no/such/thing")
    );
    error(&call(&mut b, Method::GET, "/api/nothing", None).await, StatusCode::NOT_FOUND, "not_found");
    let missing = format!("/api/v1/databases/app/tables/{}/no_such_table", t.schema());
    assert!(error(&get(&mut b, &missing, &k).await, StatusCode::NOT_FOUND, "not_found").contains("no_such_table"));
    let answer = call(&mut b, Method::DELETE, "/api/v1/databases/app/overview", Some(&k)).await;
    error(&answer, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(answer.1.get(ALLOW).is_some(), "405 says what is allowed");
    error(
        &call(&mut b, Method::GET, "/api/v1/databases/app/activity/1/cancel", Some(&k)).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    for (path, param) in [
        ("/api/v1/databases/app/tables?page=abc", "page"),
        ("/api/v1/databases/app/tables?page=0", "page"),
        ("/api/v1/databases/app/indexes?per_page=501", "per_page"),
        ("/api/v1/history?per_page=-1", "per_page"),
        ("/api/v1/databases/app/tables?sort=colour", "sort"),
        ("/api/v1/databases/app/indexes?sort=-colour", "sort"),
        ("/api/v1/history?sort=timestamp", "sort"),
        ("/api/v1/databases/app/migrations?status=maybe", "status"),
        ("/api/v1/databases/app/indexes?show=some", "show"),
        ("/api/v1/databases/app/tables?q=a%00b", "q"),
    ] {
        let message = error(&get(&mut b, path, &k).await, StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(param), "{path}: {message:?} names {param}");
    }
    // The dashboard's own 404 stays a page.
    let (status, headers, page) = b.get("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{page}");
    t.drop().await;
}

async fn openapi_matches_router(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let (_, admin) = key_for(&b.state, Role::Admin, &Scope::ALL).await;
    let (status, _, doc) = call(&mut b, Method::GET, "/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "OpenAPI 3: {}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        assert!(path.starts_with("/api/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            // 200, or 202 for what starts in the background (a migration run).
            let answer = op["responses"]["200"].is_object() || op["responses"]["202"].is_object();
            assert!(answer, "{method} {path} documents its answer");
            if path.starts_with("/api/v1/") {
                assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{method} {path} needs a key");
                assert!(op["responses"]["401"].is_object(), "{method} {path} documents 401");
            }
            // Every `$ref` points at a schema the document has.
            for r in refs(op) {
                let name = r.trim_start_matches("#/components/schemas/");
                assert!(doc["components"]["schemas"][name].is_object(), "{method} {path}: {r}");
            }
        }
    }
    // The routes the router serves: each documented one answers (never "no route"), and every other
    // method on those paths is a 405, so nothing is served that the document does not list.
    let all_methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    let served = paths.keys().map(|p| {
        // `runs/{id}`: the run the `apply` above it (paths sort) starts, the first in this home database.
        p.replace("{name}", "app")
            .replace("{schema}", t.schema())
            .replace("{table}", "users")
            .replace("{pid}", "1")
            .replace("{id}", "1")
    });
    for (template, path) in paths.keys().zip(served) {
        for method in &all_methods {
            let listed = documented.contains(&(method.to_string(), template.clone()));
            let mut req =
                Request::builder().method(method.clone()).uri(&path).header(AUTHORIZATION, format!("Bearer {admin}"));
            // An operation that takes a body gets a valid one: a migration command (nothing is pending, so
            // nothing runs), or a statement that suits the query and the export.
            let body = if listed && paths[template][method.as_str().to_lowercase()]["requestBody"].is_object() {
                req = req.header(CONTENT_TYPE, "application/json");
                if template.contains("/migrations/") {
                    Body::from(r#"{"action": "up"}"#)
                } else {
                    Body::from(r#"{"sql": "SELECT 1", "format": "csv"}"#)
                }
            } else {
                Body::empty()
            };
            let (status, _, body) = b.send(req.body(body).unwrap()).await;
            if listed {
                // Cancelling run 1, which has ended: the documented 409.
                let ended = template.ends_with("/runs/{id}/cancel") && status == StatusCode::CONFLICT;
                // The shared servers keep no statement statistics (no pg_stat_statements, performance_schema OFF):
                // the documented 409.
                let off = template.ends_with("/statements") && status == StatusCode::CONFLICT;
                assert!(
                    status.is_success() || status == StatusCode::NOT_IMPLEMENTED || ended || off,
                    "{method} {path}: {status} {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented: {body}"
                );
            }
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/api/openapi.json"),
        ("GET", "/api/docs"),
        ("GET", "/api/v1/databases"),
        ("GET", "/api/v1/databases/{name}/overview"),
        ("GET", "/api/v1/databases/{name}/tables"),
        ("GET", "/api/v1/databases/{name}/tables/{schema}/{table}"),
        ("GET", "/api/v1/databases/{name}/indexes"),
        ("GET", "/api/v1/databases/{name}/activity"),
        ("POST", "/api/v1/databases/{name}/activity/{pid}/cancel"),
        ("POST", "/api/v1/databases/{name}/activity/{pid}/terminate"),
        ("GET", "/api/v1/databases/{name}/migrations"),
        ("POST", "/api/v1/databases/{name}/migrations/preview"),
        ("POST", "/api/v1/databases/{name}/migrations/lint"),
        ("POST", "/api/v1/databases/{name}/migrations/rehearse"),
        ("POST", "/api/v1/databases/{name}/migrations/apply"),
        ("GET", "/api/v1/databases/{name}/migrations/runs/{id}"),
        ("POST", "/api/v1/databases/{name}/migrations/runs/{id}/cancel"),
        ("GET", "/api/v1/databases/{name}/backups"),
        ("GET", "/api/v1/databases/{name}/samples"),
        ("GET", "/api/v1/databases/{name}/statements"),
        ("GET", "/api/v1/history"),
        ("GET", "/api/v1/migrations/matrix"),
        ("POST", "/api/v1/databases/{name}/query"),
        ("POST", "/api/v1/databases/{name}/export"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(documented, expected);
    // Neighbours of served paths are not served.
    for path in [
        "/api",
        "/api/v1",
        "/api/v1/",
        "/api/v1/databases/app/tables/x",
        "/api/v1/databases/app/activity/1",
        "/api/v1/databases/nope/overview",
        "/api/v2/overview",
    ] {
        error(&get(&mut b, path, &admin).await, StatusCode::NOT_FOUND, "not_found");
    }
    // The readable page lists every path.
    let (status, _, page) = b.get("/api/docs").await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in &documented {
        assert!(page.contains(&format!("{method} {path}")), "{method} {path} on the page");
    }
    t.drop().await;
}

/// Every `$ref` in a JSON value.
fn refs(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, v)| if k == "$ref" { v.as_str().map(String::from).into_iter().collect() } else { refs(v) })
            .collect(),
        Value::Array(a) => a.iter().flat_map(refs).collect(),
        _ => Vec::new(),
    }
}

async fn cli_keys(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let owner = create_account(&b.state, Role::Editor).await;
    let out = strata(
        &t.url,
        &["key", "create", "--user", &owner, "--name", "ci deploy", "--scope", "read_catalog", "--expires-days", "7"],
    );
    let key = ok(&out).trim().to_string();
    assert!(key.starts_with("strata_") && !key.contains(char::is_whitespace), "stdout is the key alone: {key:?}");
    assert!(stderr(&out).contains("shown once") && stderr(&out).contains("role editor"), "{}", stderr(&out));
    assert_eq!(get(&mut b, "/api/v1/databases/app/overview", &key).await.0, StatusCode::OK);

    let refused = strata(&t.url, &["key", "create", "--user", &owner, "--name", "x", "--role", "admin"]);
    assert!(!refused.status.success() && stderr(&refused).contains("above"), "{}", stderr(&refused));
    let refused = strata(&t.url, &["key", "create", "--user", &owner, "--name", "x", "--scope", "everything"]);
    assert!(!refused.status.success() && stderr(&refused).contains("unknown scope"), "{}", stderr(&refused));
    let refused = strata(&t.url, &["key", "create", "--user", "nobody_here", "--name", "x"]);
    assert!(!refused.status.success() && stderr(&refused).contains("not found"), "{}", stderr(&refused));

    let prefix = key.trim_start_matches("strata_").split_once('_').unwrap().0;
    let table = ok(&strata(&t.url, &["key", "list"]));
    let line = table.lines().find(|l| l.contains("ci deploy")).unwrap_or_else(|| panic!("{table}"));
    for want in [prefix, owner.as_str(), "editor", "read_catalog", "active"] {
        assert!(line.contains(want), "{want} in {line}");
    }
    assert!(!table.contains(&key[20..]), "the list never shows the secret");
    let listed: Value = serde_json::from_str(&ok(&strata(&t.url, &["key", "list", "--json"]))).unwrap();
    let id = listed[0]["id"].as_i64().unwrap();
    assert_eq!((listed[0]["prefix"].as_str(), listed[0]["owner"].as_str()), (Some(prefix), Some(owner.as_str())));
    assert!(listed[0].get("hash").is_none());

    assert!(ok(&strata(&t.url, &["key", "revoke", &id.to_string()])).contains("revoked"));
    assert!(ok(&strata(&t.url, &["key", "revoke", &id.to_string()])).contains("already revoked"));
    error(&get(&mut b, "/api/v1/databases/app/overview", &key).await, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(ok(&strata(&t.url, &["key", "list"])).lines().any(|l| l.contains("ci deploy") && l.contains("revoked")));
    let db = t.connect_home().await;
    let actions = column(&db, "SELECT action FROM audit_log WHERE action LIKE 'api_key.%' ORDER BY id").await;
    assert_eq!(actions, ["api_key.create", "api_key.revoke"]);
    t.drop().await;
}

async fn last_used(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    let (_, k) = key_for(&b.state, Role::Viewer, &[Scope::ReadCatalog]).await;
    let db = t.connect_home().await;
    let used = "SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL";
    for _ in 0..5 {
        assert_eq!(get(&mut b, "/api/v1/databases/app/activity", &k).await.0, StatusCode::OK);
    }
    assert_eq!(count(&db, used).await, 0, "requests write nothing themselves");
    // The same task `serve` runs, on a short period.
    let flusher = tokio::spawn(b.state.key_usage.clone().flush_every(b.state.home.clone(), Duration::from_millis(200)));
    eventually("last_used_at is written", || async { (count(&db, used).await == 1).then_some(()) }).await;
    flusher.abort();
    let page = b.state.key_usage.flush(&b.state.home).await.unwrap();
    assert_eq!(page, 0, "nothing is written again until the key is used again");
    t.drop().await;
}

async fn key_pages(kind: Kind) {
    let (t, mut viewer) = migrated(kind).await;
    let me = viewer.login_as(Role::Viewer).await;
    let (status, _, page) = viewer.get("/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No API keys yet") && page.contains(r#"href="/keys""#), "{page}");
    let (status, _, form) = viewer.get("/keys/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(r#"value="read_catalog""#) && !form.contains(r#"<option value="admin""#), "{form}");

    let fields = [
        ("name", "grafana"),
        ("role", "viewer"),
        ("scope", "read_catalog"),
        ("scope", "read_metrics"),
        ("expires_days", "30"),
    ];
    let (status, _, shown) = viewer.post_form("/keys", &fields).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    const MARK: &str = r#"<pre class="mono" id="api-key">"#;
    let start = shown.find(MARK).expect("the key is on the page") + MARK.len();
    let key: String = shown[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    assert!(shown.contains("cannot show it again"), "{shown}");
    assert_eq!(get(&mut viewer.another(), "/api/v1/databases/app/overview", &key).await.0, StatusCode::OK);

    let (_, _, list) = viewer.get("/keys").await;
    let secret = key.rsplit('_').next().unwrap();
    assert!(
        list.contains("grafana") && list.contains("read_metrics, read_catalog") && !list.contains(secret),
        "{list}"
    );
    let (status, _, refused) = viewer.post_form("/keys", &[("name", "escalate"), ("role", "admin")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("above"), "{refused}");

    let db = t.connect_home().await;
    let id = count(&db, "SELECT id FROM api_keys WHERE name = 'grafana'").await;
    let mut stranger = viewer.another();
    stranger.login_as(Role::Editor).await;
    let (status, _, _) = stranger.post_form(&format!("/keys/{id}/revoke"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "someone else's key cannot be revoked");
    let (_, _, theirs) = stranger.get("/keys").await;
    assert!(!theirs.contains("grafana"), "nor seen");

    let mut admin = viewer.another();
    admin.login_as(Role::Admin).await;
    let (_, _, everyone) = admin.get("/keys").await;
    assert!(everyone.contains("grafana") && everyone.contains(&me), "admins see every key");
    let (status, headers, _) = admin.post_form(&format!("/keys/{id}/revoke"), &[]).await;
    assert_eq!((status, common::web::location(&headers)), (StatusCode::SEE_OTHER, "/keys"));
    error(
        &get(&mut viewer.another(), "/api/v1/databases/app/overview", &key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let (_, _, after) = viewer.get("/keys").await;
    assert!(after.contains("revoked"), "{after}");
    let rows = column(&db, "SELECT actor FROM audit_log WHERE action LIKE 'api_key.%' ORDER BY id").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], me);
    t.drop().await;
}

async fn csrf_with_cookie(kind: Kind) {
    let (t, mut b) = migrated(kind).await;
    b.login_as(Role::Admin).await;
    let (_, k) = key_for(&b.state, Role::Viewer, &[Scope::ReadCatalog]).await;
    // With the dashboard's cookie (as a browser would send it) an unsafe API request needs the token.
    let with_cookie =
        Request::post("/api/v1/databases/app/activity/1/cancel").header(AUTHORIZATION, format!("Bearer {k}"));
    let (status, headers, body) = b.send(with_cookie.body(Body::empty()).unwrap()).await;
    error(&(status, headers, serde_json::from_str(&body).unwrap()), StatusCode::FORBIDDEN, "csrf");
    // Without it, the key decides (a viewer key may not cancel).
    let mut api = b.another();
    error(
        &call(&mut api, Method::POST, "/api/v1/databases/app/activity/1/cancel", Some(&k)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let cookie_only = Request::post("/api/v1/databases/app/activity/1/cancel").header(COOKIE, "theme=dark");
    let (status, headers, body) = api.send(cookie_only.body(Body::empty()).unwrap()).await;
    error(&(status, headers, serde_json::from_str(&body).unwrap()), StatusCode::UNAUTHORIZED, "unauthorized");
    t.drop().await;
}
