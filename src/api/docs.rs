//! `GET /api/openapi.json` (the OpenAPI document) and `GET /api/docs` (the same, as a page people read).

use std::sync::LazyLock;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::Value;

/// The OpenAPI 3 document of every endpoint under `/api`.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub async fn openapi_json() -> impl IntoResponse {
    static JSON: LazyLock<String> =
        LazyLock::new(|| super::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")));
    ([(CONTENT_TYPE, "application/json")], JSON.as_str())
}

/// The endpoints, their parameters and what they need, as a page.
#[utoipa::path(
    get, path = "/api/docs", tag = "meta",
    responses((status = 200, description = "An HTML page", content_type = "text/html"))
)]
pub async fn page() -> DocsPage {
    DocsPage { title: super::openapi().info.title.clone(), endpoints: endpoints() }
}

/// One operation as the page lists it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    /// `name (in): description`.
    pub params: Vec<String>,
    pub needs_key: bool,
}

/// Every operation in the document, in path order.
fn endpoints() -> Vec<Endpoint> {
    let doc = serde_json::to_value(super::openapi()).unwrap_or_default();
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{} ({}): {}", text(p, "name"), text(p, "in"), text(p, "description")))
                .collect();
            out.push(Endpoint {
                method: method.to_uppercase(),
                path: path.clone(),
                summary: text(op, "summary"),
                description: text(op, "description"),
                params,
                needs_key: op.get("security").is_some(),
            });
        }
    }
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "api/docs.html")]
pub struct DocsPage {
    pub title: String,
    pub endpoints: Vec<Endpoint>,
}
