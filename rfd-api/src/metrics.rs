//! The API's Prometheus metrics, served as text at `GET /metrics`.
//!
//! - `rfd_api_http_requests_total{operation,method,status,class}` and
//!   `rfd_api_http_request_duration_seconds{operation}`: every request Dropshot answered,
//!   named by the operation id of its endpoint (`get_rfd`, never the raw path: no RFD
//!   number or token can become a label). Requests no endpoint matched are `unmatched`.
//! - `rfd_api_webhook_deliveries_total{outcome}`: `POST /github` by outcome (`queued`,
//!   `duplicate`, `ignored`, `pong`, `bad_signature`, `bad_request`, `unavailable`, `error`).
//! - `rfd_api_trigger_requests_total{outcome}`: `POST /trigger/{id}` by outcome (`queued`,
//!   `duplicate`, `ignored`, `refused` (wrong, rotated or disabled id, or backed off),
//!   `bad_request`, `unavailable`, `error`).
//! - `rfd_queue_jobs{state}`: jobs in each state, read from PostgreSQL at scrape time
//!   (one `GROUP BY` over the state index); absent from a scrape the database did not
//!   answer in time.
//!
//! Dropshot has no request middleware. Every request it answers ends in one "request
//! completed" record on the server's logger, with the method, URI, status and latency;
//! [`RequestObserver`] is a log drain that counts those records (and passes every record
//! on to `tracing` unchanged), naming each by the endpoint the router finds for it. So
//! requests refused before a handler runs (a malformed body, an unknown path) are counted
//! too, and no handler has to remember to count itself.

use std::sync::Arc;

use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rfd_model::JobState;

/// The content type of what `prometheus-client` writes: OpenMetrics text (counters are
/// exposed as `<name>_total` under a `# TYPE <name> counter`, which only this parser reads
/// as one metric; the document ends with `# EOF`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The operation label of a request no endpoint matched (404, 405).
const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    method: String,
    status: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

fn duration_histogram() -> Histogram {
    // 1 ms to ~16 s: most answers are a query or two; writes go to the source.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Finds the operation id of the endpoint serving a method and path.
pub type RouteLookup = Box<dyn Fn(&Method, &str) -> Option<String> + Send + Sync>;

/// The API's metrics. Shared (`Arc`) by the handlers and the log drain.
pub struct ApiMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<OperationLabel, Histogram, fn() -> Histogram>,
    webhooks: Family<OutcomeLabel, Counter>,
    triggers: Family<OutcomeLabel, Counter>,
    queue: Family<StateLabel, Gauge>,
    routes: RouteLookup,
    /// One scrape at a time: the queue gauge is rebuilt by each.
    render_lock: std::sync::Mutex<()>,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiMetrics").finish_non_exhaustive()
    }
}

impl ApiMetrics {
    /// Metrics with nothing counted yet; `routes` names the requests.
    pub fn new(routes: RouteLookup) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "rfd_api_http_requests",
            "HTTP requests answered, by operation, method and status",
            requests.clone(),
        );
        let durations = Family::<OperationLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "rfd_api_http_request_duration_seconds",
            "How long requests took to answer, by operation",
            durations.clone(),
        );
        let webhooks = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "rfd_api_webhook_deliveries",
            "GitHub webhook deliveries, by outcome",
            webhooks.clone(),
        );
        let triggers = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "rfd_api_trigger_requests",
            "Trigger requests (git hooks), by outcome",
            triggers.clone(),
        );
        let queue = Family::<StateLabel, Gauge>::default();
        registry.register(
            "rfd_queue_jobs",
            "Jobs in the queue, by state (read at scrape time)",
            queue.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            webhooks,
            triggers,
            queue,
            routes,
            render_lock: Default::default(),
        }
    }

    /// Counts one answered request.
    pub fn request(&self, method: &str, path: &str, status: u16, seconds: Option<f64>) {
        let operation = Method::from_bytes(method.as_bytes())
            .ok()
            .and_then(|method| (self.routes)(&method, path))
            .unwrap_or_else(|| UNMATCHED.to_string());
        // Methods are few, but a client may send any token: only the standard ones are labels.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        let labels = RequestLabels {
            operation: operation.clone(),
            method: method.to_string(),
            status: status.to_string(),
            class: format!("{}xx", status / 100),
        };
        self.requests.get_or_create(&labels).inc();
        if let Some(seconds) = seconds {
            self.durations.get_or_create(&OperationLabel { operation }).observe(seconds);
        }
    }

    /// Counts one webhook delivery.
    pub fn webhook(&self, outcome: &str) {
        self.webhooks.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    /// Counts one trigger request.
    pub fn trigger(&self, outcome: &str) {
        self.triggers.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    /// The text exposition format; `queue` is the job count of every state, or `None`
    /// when the database did not answer (the gauge is left out then, not reported stale).
    pub fn render(&self, queue: Option<&[(JobState, i64)]>) -> String {
        let _guard = self.render_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut text = String::new();
        self.queue.clear();
        if let Some(counts) = queue {
            // Every state is reported, 0 when it has no job, so a drained queue shows as 0.
            for state in [
                JobState::Queued,
                JobState::Running,
                JobState::Succeeded,
                JobState::Failed,
                JobState::Superseded,
            ] {
                let count = counts.iter().filter(|(s, _)| *s == state).map(|(_, n)| *n).sum::<i64>();
                self.queue.get_or_create(&StateLabel { state: state.as_str().into() }).set(count);
            }
        }
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %err, "encoding metrics failed");
        }
        text
    }
}

/// The outcome label of a webhook or trigger request that was refused.
pub fn refusal(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 422 => "bad_request",
        401 => "bad_signature",
        404 => "refused",
        503 => "unavailable",
        _ => "error",
    }
}

/// A log drain that counts Dropshot's "request completed" records into [`ApiMetrics`],
/// then hands every record to the drain it wraps.
pub struct RequestObserver<D> {
    inner: D,
    // slog wants drains unwind-safe; a panic while counting leaves at worst a count out.
    metrics: std::panic::AssertUnwindSafe<Arc<ApiMetrics>>,
}

impl<D> RequestObserver<D> {
    /// Observes the records going to `inner`.
    pub fn new(inner: D, metrics: Arc<ApiMetrics>) -> Self {
        Self { inner, metrics: std::panic::AssertUnwindSafe(metrics) }
    }
}

/// The fields of a request's completion record.
#[derive(Default)]
struct Completion {
    method: Option<String>,
    uri: Option<String>,
    status: Option<u16>,
    latency_us: Option<u64>,
}

impl slog::Serializer for Completion {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        let key: &str = key.as_ref();
        match key {
            "method" => self.method = Some(val.to_string()),
            "uri" => self.uri = Some(val.to_string()),
            "response_code" => self.status = val.to_string().parse().ok(),
            "latency_us" => self.latency_us = val.to_string().parse().ok(),
            _ => {}
        }
        Ok(())
    }
}

impl<D: slog::Drain> slog::Drain for RequestObserver<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &slog::Record<'_>, values: &slog::OwnedKVList) -> Result<Self::Ok, Self::Err> {
        let cancelled = match record.msg().as_str() {
            Some("request completed") => Some(false),
            // The client went away before the answer: counted as nginx's 499.
            Some("request handling cancelled (client disconnected)") => Some(true),
            _ => None,
        };
        if let Some(cancelled) = cancelled {
            let mut fields = Completion::default();
            // Method and URI are on the request's logger, status and latency on the record.
            let _ = slog::KV::serialize(values, record, &mut fields);
            let _ = slog::KV::serialize(&record.kv(), record, &mut fields);
            let status = if cancelled { Some(499) } else { fields.status };
            if let (Some(method), Some(uri), Some(status)) = (fields.method, fields.uri, status) {
                // Origin form (`/rfd/1?x`) as a rule; the absolute form a proxy may send too.
                let path = match uri.parse::<http::Uri>() {
                    Ok(uri) => uri.path().to_string(),
                    Err(_) => String::new(),
                };
                let path = path.as_str();
                let seconds = (!cancelled).then_some(fields.latency_us).flatten().map(|us| us as f64 / 1e6);
                self.metrics.request(&method, path, status, seconds);
            }
        }
        self.inner.log(record, values)
    }
}
