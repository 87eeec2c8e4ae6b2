//! Strata's own HTTP metrics: requests by method, route template and status class, latency by route, server errors.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::Metrics;

/// Latency buckets in seconds: 1 ms to 10 s (pages take milliseconds; query runs and exports may take seconds).
const LATENCY_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The route label of a request that matched no route (every unknown path shares it, so the label stays bounded).
pub const UNMATCHED: &str = "unmatched";

/// `method`, `route` (the template, e.g. `/tables/{schema}/{table}`) and `status` (`2xx`...).
type RequestLabels = [(&'static str, String); 3];
/// `method` and `route`.
type RouteLabels = [(&'static str, String); 2];

/// The HTTP families, registered once.
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram>,
    errors: Family<RouteLabels, Counter>,
}

impl HttpMetrics {
    pub(super) fn register(registry: &mut Registry) -> HttpMetrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        let errors = Family::<RouteLabels, Counter>::default();
        registry.register(
            "strata_http_requests",
            "HTTP requests answered, by method, route template and status class",
            requests.clone(),
        );
        registry.register(
            "strata_http_request_duration_seconds",
            "Time from a request's arrival to its response head, by method and route template",
            duration.clone(),
        );
        registry.register(
            "strata_http_server_errors",
            "Requests answered with a 5xx status, by method and route template",
            errors.clone(),
        );
        HttpMetrics { requests, duration, errors }
    }

    fn record(&self, method: &Method, route: String, status: u16, seconds: f64) {
        let method = method_label(method);
        let class = format!("{}xx", status / 100);
        self.requests.get_or_create(&[("method", method.clone()), ("route", route.clone()), ("status", class)]).inc();
        let labels = [("method", method), ("route", route)];
        self.duration.get_or_create(&labels).observe(seconds);
        if status >= 500 {
            self.errors.get_or_create(&labels).inc();
        }
    }
}

/// Middleware (added with `Router::layer`, so it runs after routing and sees the matched route): times and counts
/// every request by the route's template, never by the raw path, whose values are unbounded.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| UNMATCHED.into());
    let response = next.run(request).await;
    metrics.http.record(&method, route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// The method as a label: the standard ones by name, anything else as `other` (clients may invent methods).
fn method_label(method: &Method) -> String {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if KNOWN.contains(method) { method.as_str().to_string() } else { "other".to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
