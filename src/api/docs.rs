//! `GET /api/openapi.json` (the OpenAPI document) and `GET /api/docs` (the same, as a page people read).

use std::sync::LazyLock;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::Value;

use crate::config::Settings;
use crate::state::AppState;

/// The OpenAPI 3.1 document of every endpoint under `/api`, with the bounds that come from this server's settings.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "meta", operation_id = "docs_openapi_json",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    static BASE: LazyLock<Value> = LazyLock::new(|| serde_json::to_value(super::openapi()).unwrap_or_default());
    let mut doc = BASE.clone();
    with_settings(&mut doc, &state.config.settings);
    Json(doc)
}

/// Writes the bounds that are settings into the document: `max_rows` of a query goes up to the `max_rows` setting.
fn with_settings(doc: &mut Value, settings: &Settings) {
    if let Some(max_rows) = doc.pointer_mut("/components/schemas/QueryRequest/properties/max_rows")
        && let Some(schema) = max_rows.as_object_mut()
    {
        schema.insert("maximum".into(), settings.max_rows.into());
    }
}

/// The endpoints, their parameters and what they need, as a page.
#[utoipa::path(
    get, path = "/api/docs", tag = "meta", operation_id = "docs_page",
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
