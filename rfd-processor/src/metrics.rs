//! The processor's Prometheus metrics, served as text at `GET /metrics` on
//! `[metrics] processor_address` (off when absent).
//!
//! - `rfd_processor_jobs_total{kind,outcome}` and `rfd_processor_job_duration_seconds{kind}`:
//!   every attempt a handler ran (outcome `succeeded` or `failed`; `superseded` for jobs
//!   not run because a newer commit was processed). Retries and the dead letter are
//!   queue states, which `rfd-api`'s `/metrics` reports from PostgreSQL.
//! - `rfd_processor_event_deliveries_total{subscriber,outcome}`: outbound event attempts
//!   (`delivered`, `rejected` (a non-2xx answer), `error` (no answer), `skipped`).
//! - `rfd_processor_scans_total{outcome}`: scanner runs (`completed`, `skipped` (another
//!   processor held the lock), `failed`).
//! - `rfd_github_calls_total`, `rfd_github_rate_limit_remaining`: read from the GitHub
//!   client at scrape time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rfd_model::{Attempt, Job};
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::runner::{JobError, JobHandler};

/// `[metrics]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where `rfd-processor` serves `GET /metrics`; no metrics server when absent.
    pub processor_address: Option<SocketAddr>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    subscriber: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

/// What the GitHub client reports (read at scrape time).
pub trait GitHubStats: Send + Sync {
    /// Calls made so far.
    fn calls(&self) -> u64;
    /// The last remaining rate limit seen, if any.
    fn rate_limit_remaining(&self) -> Option<u64>;
}

impl GitHubStats for rfd_github::GitHubSource {
    fn calls(&self) -> u64 {
        rfd_github::GitHubSource::calls(self)
    }
    fn rate_limit_remaining(&self) -> Option<u64> {
        rfd_github::GitHubSource::rate_limit_remaining(self)
    }
}

fn duration_histogram() -> Histogram {
    // 10 ms to ~160 s: a job is a few GitHub calls, or a PDF rendering.
    Histogram::new(exponential_buckets(0.01, 2.0, 15))
}

/// The processor's metrics. Cheap to share (`Arc`).
pub struct ProcessorMetrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    durations: Family<KindLabel, Histogram, fn() -> Histogram>,
    deliveries: Family<DeliveryLabels, Counter>,
    scans: Family<OutcomeLabel, Counter>,
    github_calls: Counter,
    github_remaining: Gauge,
    github: Option<Arc<dyn GitHubStats>>,
}

impl std::fmt::Debug for ProcessorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorMetrics").finish_non_exhaustive()
    }
}

impl ProcessorMetrics {
    /// Metrics with nothing counted yet; `github` is read at every scrape.
    pub fn new(github: Option<Arc<dyn GitHubStats>>) -> Self {
        let mut registry = Registry::default();
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("rfd_processor_jobs", "Job attempts run, by kind and outcome", jobs.clone());
        let durations = Family::<KindLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "rfd_processor_job_duration_seconds",
            "How long job attempts took, by kind",
            durations.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "rfd_processor_event_deliveries",
            "Outbound event delivery attempts, by subscriber and outcome",
            deliveries.clone(),
        );
        let scans = Family::<OutcomeLabel, Counter>::default();
        registry.register("rfd_processor_scans", "Scanner runs, by outcome", scans.clone());
        let github_calls = Counter::default();
        registry.register("rfd_github_calls", "Calls made to the GitHub API", github_calls.clone());
        let github_remaining = Gauge::default();
        registry.register(
            "rfd_github_rate_limit_remaining",
            "The GitHub rate limit left at the last call (-1 before any)",
            github_remaining.clone(),
        );
        Self { registry, jobs, durations, deliveries, scans, github_calls, github_remaining, github }
    }

    /// Counts one job attempt.
    pub fn job(&self, kind: &str, outcome: &str, seconds: f64) {
        self.jobs.get_or_create(&JobLabels { kind: kind.into(), outcome: outcome.into() }).inc();
        self.durations.get_or_create(&KindLabel { kind: kind.into() }).observe(seconds);
    }

    /// Counts one event delivery attempt.
    pub fn delivery(&self, subscriber: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels { subscriber: subscriber.into(), outcome: outcome.into() })
            .inc();
    }

    /// Counts one scanner run.
    pub fn scan(&self, outcome: &str) {
        self.scans.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        if let Some(github) = &self.github {
            // The client counts; the counter follows it (it only ever grows).
            let calls = github.calls();
            let seen = self.github_calls.get();
            if calls > seen {
                self.github_calls.inc_by(calls - seen);
            }
            let remaining =
                github.rate_limit_remaining().map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
            self.github_remaining.set(remaining);
        }
        let mut text = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %err, "encoding metrics failed");
        }
        text
    }
}

/// The content type of what `prometheus-client` writes: OpenMetrics text (with its
/// `# EOF` line), not the older 0.0.4 text format, so scrapers parse it as such.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<ProcessorMetrics>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "metrics server: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move {
                    let response = if request.uri().path() == "/metrics" {
                        hyper::Response::builder()
                            .header(hyper::header::CONTENT_TYPE, CONTENT_TYPE)
                            .body(Full::new(Bytes::from(metrics.render())))
                    } else {
                        hyper::Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"not found\n")))
                    };
                    Ok::<_, Infallible>(response.unwrap_or_else(|_| hyper::Response::new(Full::default())))
                }
            });
            if let Err(err) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %err, "metrics connection ended");
            }
        });
    }
}

/// A job handler that measures the handler it wraps.
pub struct Measured<H> {
    inner: H,
    metrics: Arc<ProcessorMetrics>,
}

impl<H> Measured<H> {
    /// Measures `inner` into `metrics`.
    pub fn new(inner: H, metrics: Arc<ProcessorMetrics>) -> Self {
        Self { inner, metrics }
    }
}

impl<H: JobHandler> JobHandler for Measured<H> {
    async fn run(&self, job: Job, attempt: Attempt) -> Result<(), JobError> {
        let kind = job.kind.as_str();
        let started = Instant::now();
        let result = self.inner.run(job, attempt).await;
        let outcome = if result.is_ok() { "succeeded" } else { "failed" };
        self.metrics.job(kind, outcome, started.elapsed().as_secs_f64());
        result
    }

    async fn superseded(&self, job: Job, attempt: Attempt) -> Result<(), JobError> {
        let kind = job.kind.as_str();
        let started = Instant::now();
        let result = self.inner.superseded(job, attempt).await;
        let outcome = if result.is_ok() { "superseded" } else { "failed" };
        self.metrics.job(kind, outcome, started.elapsed().as_secs_f64());
        result
    }
}
