//! Calling the JSON API as a client would: API keys for new accounts, requests with `Authorization: Bearer`, the error shape.

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use strata::home::accounts::{self, Role};
use strata::home::api_keys::{self, NewKey, Scope};
use strata::state::AppState;

use super::web::{Browser, create_account};

/// An API answer: status, headers and the body as JSON.
pub type Answer = (StatusCode, HeaderMap, Value);

/// Sends a request with `Authorization: Bearer <key>` (when given) and no cookies.
pub async fn call(b: &mut Browser, method: Method, path: &str, key: Option<&str>) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header(AUTHORIZATION, format!("Bearer {k}"));
    }
    answer(b, path, req.body(Body::empty()).unwrap()).await
}

pub async fn get(b: &mut Browser, path: &str, key: &str) -> Answer {
    call(b, Method::GET, path, Some(key)).await
}

/// POSTs `body` as `application/json` (it is sent as it is: a test may send broken JSON on purpose).
pub async fn post_json(b: &mut Browser, path: &str, key: &str, body: impl ToString) -> Answer {
    answer(b, path, json_request(path, key, body)).await
}

/// The request [`post_json`] sends, for a test that reads the answer itself (a download).
pub fn json_request(path: &str, key: &str, body: impl ToString) -> Request<Body> {
    Request::post(path)
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn answer(b: &mut Browser, path: &str, req: Request<Body>) -> Answer {
    let (status, headers, body) = b.send(req).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
    (status, headers, json)
}

/// Asserts the status and the error shape `{"error": {"code", "message"}}`; returns the message.
#[track_caller]
pub fn error(answer: &Answer, status: StatusCode, code: &str) -> String {
    let (got, headers, body) = answer;
    assert_eq!(*got, status, "{body}");
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let obj = body.as_object().expect("an object");
    assert_eq!(obj.len(), 1, "only `error`: {body}");
    let e = body["error"].as_object().expect("error is an object");
    assert_eq!(e.len(), 2, "code and message: {body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().expect("a message").to_string()
}

/// A new account with `role` and a key of that role with `scopes`: (username, key).
pub async fn key_for(state: &AppState, role: Role, scopes: &[Scope]) -> (String, String) {
    let owner = create_account(state, role).await;
    (owner.clone(), key_of(state, &owner, role, scopes).await)
}

/// Another key for an existing account.
pub async fn key_of(state: &AppState, owner: &str, role: Role, scopes: &[Scope]) -> String {
    let account = accounts::find_by_username(&state.home, owner).await.unwrap().expect("the owner exists");
    let new = NewKey {
        owner_id: account.id,
        name: format!("test key of {owner}"),
        role,
        scopes: scopes.to_vec(),
        expires_at: None,
    };
    api_keys::create(&state.home, role, new).await.expect("create a key").token
}

/// Polls a migration run's status (`status_url`, as `apply` answered) until the run has ended; returns it.
pub async fn api_finished(b: &mut Browser, url: &str, key: &str) -> Value {
    for _ in 0..600 {
        let (status, _, run) = get(b, url, key).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        if run["state"] != "running" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the run {url} did not end");
}
