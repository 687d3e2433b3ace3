//! The API as a Dropshot trait: the contract, separate from its implementation, so the
//! OpenAPI document can be generated without a running server.

use dropshot::{Body, HttpError, HttpResponseOk, Path, Query, RequestContext, StreamingBody};
use rfd_model::{Job, JobState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The state of the service as `/health` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok` when every dependency answers.
    pub status: String,
    /// Whether the database answered.
    pub database: String,
}

/// The largest webhook body accepted: GitHub caps payloads at 25 MiB.
pub const WEBHOOK_BODY_MAX_BYTES: usize = 25 * 1024 * 1024;

/// `GET /job` parameters (as the reference API).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListJobsQuery {
    /// The RFD whose jobs to list.
    pub rfd: String,
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
}

/// `GET /queue/jobs` parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct QueueJobsQuery {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this RFD.
    pub rfd: Option<i32>,
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
}

/// A job id in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JobPath {
    /// The job id.
    pub job_id: i32,
}

/// What became of a webhook delivery.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WebhookOutcome {
    /// `queued`, `duplicate`, `ignored` or `pong`.
    pub outcome: String,
    /// Jobs queued by this delivery.
    pub jobs_queued: usize,
    /// Why nothing was queued, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The RFD API.
#[dropshot::api_description]
pub trait RfdApi {
    /// The server state handlers share.
    type Context;

    /// Reports whether the service can do its work: 200 when the database answers,
    /// 503 when it does not (so a load balancer stops sending traffic).
    #[endpoint { method = GET, path = "/health", tags = ["system"] }]
    async fn health(rqctx: RequestContext<Self::Context>) -> Result<HttpResponseOk<Health>, HttpError>;

    /// Receives GitHub webhooks. The signature (`X-Hub-Signature-256`) is verified over
    /// the raw body before anything is parsed; a push becomes one job per affected RFD,
    /// recorded with the delivery id in one transaction (a redelivery queues nothing).
    /// 202 when accepted, 200 for `ping`, 401 for a bad signature, 400 for a malformed
    /// request, 503 when the database is unavailable (GitHub can redeliver).
    #[endpoint {
        method = POST,
        path = "/github",
        tags = ["hidden"],
        // The handler enforces GitHub's 25 MiB cap itself (answering 413); this only
        // bounds what Dropshot lets through to it.
        request_body_max_bytes = 1024 * 1024 * 1024,
    }]
    async fn github_webhook(
        rqctx: RequestContext<Self::Context>,
        body: StreamingBody,
    ) -> Result<http::Response<Body>, HttpError>;

    /// Lists the jobs of one RFD, newest first (the jobs of RFDs the caller may read).
    #[endpoint { method = GET, path = "/job", tags = ["job"] }]
    async fn list_jobs(
        rqctx: RequestContext<Self::Context>,
        query: Query<ListJobsQuery>,
    ) -> Result<HttpResponseOk<Vec<Job>>, HttpError>;

    /// Lists queued, running, succeeded, failed (dead-letter) or superseded jobs.
    /// Requires an admin token.
    #[endpoint { method = GET, path = "/queue/jobs", tags = ["job"] }]
    async fn list_queue_jobs(
        rqctx: RequestContext<Self::Context>,
        query: Query<QueueJobsQuery>,
    ) -> Result<HttpResponseOk<Vec<Job>>, HttpError>;

    /// Puts a failed job back in the queue with fresh attempts. Requires an admin token.
    #[endpoint { method = POST, path = "/queue/jobs/{job_id}/retry", tags = ["job"] }]
    async fn retry_job(
        rqctx: RequestContext<Self::Context>,
        path: Path<JobPath>,
    ) -> Result<HttpResponseOk<Job>, HttpError>;
}

/// The OpenAPI document of the API, as committed in `openapi/rfd-api.json`.
pub fn openapi_document() -> Result<String, anyhow::Error> {
    let description = rfd_api_mod::stub_api_description()
        .map_err(|err| anyhow::anyhow!("invalid API description: {err}"))?;
    let mut spec = description.openapi("RFD API", semver::Version::parse(env!("CARGO_PKG_VERSION"))?);
    spec.description("Programmatic access to RFDs");
    let mut json = serde_json::to_string_pretty(&spec.json()?)?;
    json.push('\n');
    Ok(json)
}
