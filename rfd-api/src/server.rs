//! The implementation of [`RfdApi`] and the server's life cycle.

use std::sync::Arc;
use std::time::Duration;

use dropshot::{
    ApiDescription, Body, ConfigDropshot, HttpError, HttpResponseOk, HttpServer, Path, Query, RequestContext,
    ServerBuilder, StreamingBody,
};
use rfd_model::{Job, JobFilter, Page, Store};
use secrecy::ExposeSecret;

use crate::api::{Health, JobPath, ListJobsQuery, QueueJobsQuery, RfdApi, rfd_api_mod};
use crate::caller::Caller;
use crate::config::ApiConfig;
use crate::error::{store_error, unavailable};

/// What every handler can reach.
pub struct ApiContext {
    /// The database.
    pub store: Store,
    /// The loaded configuration.
    pub config: Arc<ApiConfig>,
    /// Records webhook deliveries in batches (group commit).
    pub intake: crate::intake::Intake,
}

/// The server-side implementation of the API trait.
pub enum RfdApiImpl {}

/// How long `/health` waits for the database before answering 503.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

impl RfdApi for RfdApiImpl {
    type Context = ApiContext;

    async fn health(rqctx: RequestContext<Self::Context>) -> Result<HttpResponseOk<Health>, HttpError> {
        let ctx = rqctx.context();
        match tokio::time::timeout(HEALTH_TIMEOUT, ctx.store.ping()).await {
            Ok(Ok(())) => Ok(HttpResponseOk(Health { status: "ok".into(), database: "up".into() })),
            Ok(Err(err)) => Err(store_error(err)),
            Err(_elapsed) => Err(unavailable("the database did not answer in time")),
        }
    }

    async fn github_webhook(
        rqctx: RequestContext<Self::Context>,
        body: StreamingBody,
    ) -> Result<http::Response<Body>, HttpError> {
        crate::webhook::receive(rqctx, body).await
    }

    async fn list_jobs(
        rqctx: RequestContext<Self::Context>,
        query: Query<ListJobsQuery>,
    ) -> Result<HttpResponseOk<Vec<Job>>, HttpError> {
        let caller = Caller::of(&rqctx)?;
        let query = query.into_inner();
        let rfd: i32 = query
            .rfd
            .trim()
            .parse()
            .map_err(|_| HttpError::for_bad_request(None, "Malformed RFD number".into()))?;
        // Until per-RFD permissions land, only admins see jobs; others see none, as an
        // unprivileged caller of the reference service does.
        if caller != Caller::Admin {
            return Ok(HttpResponseOk(Vec::new()));
        }
        let page = Page::new(query.offset.unwrap_or(0), query.limit.unwrap_or(100));
        let jobs = rqctx
            .context()
            .store
            .list_jobs(&JobFilter { rfd: Some(rfd), state: None }, page)
            .await
            .map_err(store_error)?;
        Ok(HttpResponseOk(jobs))
    }

    async fn list_queue_jobs(
        rqctx: RequestContext<Self::Context>,
        query: Query<QueueJobsQuery>,
    ) -> Result<HttpResponseOk<Vec<Job>>, HttpError> {
        Caller::of(&rqctx)?.require_admin()?;
        let query = query.into_inner();
        let page = Page::new(query.offset.unwrap_or(0), query.limit.unwrap_or(100));
        let filter = JobFilter { rfd: query.rfd, state: query.state };
        let jobs = rqctx.context().store.list_jobs(&filter, page).await.map_err(store_error)?;
        Ok(HttpResponseOk(jobs))
    }

    async fn retry_job(
        rqctx: RequestContext<Self::Context>,
        path: Path<JobPath>,
    ) -> Result<HttpResponseOk<Job>, HttpError> {
        Caller::of(&rqctx)?.require_admin()?;
        let job = rqctx.context().store.retry_job(path.into_inner().job_id).await.map_err(store_error)?;
        Ok(HttpResponseOk(job))
    }
}

/// The API description with our implementation behind it.
pub fn api_description() -> Result<ApiDescription<ApiContext>, anyhow::Error> {
    rfd_api_mod::api_description::<RfdApiImpl>()
        .map_err(|err| anyhow::anyhow!("invalid API description: {err}"))
}

/// Builds the context from configuration; connects lazily.
pub fn context(config: ApiConfig) -> ApiContext {
    let pool = rfd_model::db::pool(config.database_url.expose_secret(), &config.database);
    let store = Store::new(pool);
    ApiContext { intake: crate::intake::Intake::new(store.clone()), store, config: Arc::new(config) }
}

/// Starts serving on the configured address (use port 0 in tests and read
/// [`HttpServer::local_addr`]).
pub fn start(ctx: ApiContext) -> Result<HttpServer<ApiContext>, anyhow::Error> {
    let config = ConfigDropshot {
        bind_address: ctx.config.api.address,
        default_request_body_max_bytes: ctx.config.api.request_body_max_bytes,
        ..Default::default()
    };
    let log = slog::Logger::root(tracing_slog::TracingSlogDrain, slog::o!("component" => "dropshot"));
    ServerBuilder::new(api_description()?, ctx, log)
        .config(config)
        .start()
        .map_err(|err| anyhow::anyhow!("cannot start the HTTP server: {err}"))
}
