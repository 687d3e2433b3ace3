//! The implementation of [`RfdApi`] and the server's life cycle.

use std::sync::Arc;
use std::time::Duration;

use dropshot::HttpResponseUpdatedNoContent;
use dropshot::{
    ApiDescription, Body, ConfigDropshot, HttpError, HttpResponseAccepted, HttpResponseCreated,
    HttpResponseOk, HttpResponseTemporaryRedirect, HttpServer, Path, Query, RequestContext, ServerBuilder,
    StreamingBody, TypedBody,
};
use rfd_model::{Job, JobFilter, Page, Store};
use secrecy::ExposeSecret;

use crate::access::{
    AccessGroupUpdateParams, AccessGroupView, AccessTokenView, AddGroupBody, ApiKeyCreateParams,
    ApiKeyResponse, ApiUserContactEmailView, ApiUserEmailUpdateParams, ApiUserPermissionParams,
    ApiUserUpdateParams, CreateMapper, GetUserResponse, InitialApiKeyResponse, MapperView,
    OpenIdConfiguration, RevokeAllResponse, groups, mappers, users,
};
use crate::api::{
    GroupPath, Health, JobPath, ListJobsQuery, ListMappersQuery, Liveness, MapperPath, QueueJobsQuery,
    RfdApi, StoragePath, UserAccessTokenPath, UserGroupPath, UserKeyPath, UserPath, rfd_api_mod,
};
use crate::auth::jwt::{Jwks, Keys};
use crate::auth::oauth;
use crate::caller::Caller;
use crate::clients::{ClientPath, ClientRedirectUriPath, ClientSecretPath, Magic, OAuth};
use crate::config::ApiConfig;
use crate::error::{store_error, unavailable};
use crate::jobs::RfdJob;
use crate::permissions::Permission;
use crate::rfd::read::{
    self, PaginationQuery, RfdAttrPathParams, RfdPathParams, RfdRevisionAttrPathParams,
    RfdRevisionPathParams, RfdView, RfdVisibility, RfdWithPdf, SearchRfdsQuery, UpdateRfdAttrBody,
};
use crate::rfd::{discussion, write};
use rfd_model::search::SearchResults;
use rfd_model::{RfdAttr, RfdMeta, RfdRevisionMeta, RfdWithRaw};

/// What every handler can reach.
pub struct ApiContext {
    /// The database.
    pub store: Store,
    /// The loaded configuration.
    pub config: Arc<ApiConfig>,
    /// Access-token signing and verification keys.
    pub keys: Arc<Keys>,
    /// Records webhook deliveries in batches (group commit).
    pub intake: crate::intake::Intake,
    /// The repository RFD writes are committed to (or why there is none).
    pub source: crate::source::ApiSource,
    /// The search index and local storage the RFD read endpoints use.
    pub rfd_read: crate::rfd::read::ReadServices,

    /// Wrong trigger ids per address (`POST /trigger/{id}`).
    pub trigger_backoff: crate::trigger::Backoff,
    /// What `GET /metrics` reports.
    pub metrics: Arc<crate::metrics::ApiMetrics>,
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

    async fn health_live(
        _rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Liveness>, HttpError> {
        Ok(HttpResponseOk(Liveness { status: "ok".into() }))
    }

    async fn health_ready(rqctx: RequestContext<Self::Context>) -> Result<HttpResponseOk<Health>, HttpError> {
        let ctx = rqctx.context();
        match tokio::time::timeout(HEALTH_TIMEOUT, ctx.store.ping()).await {
            Ok(Ok(())) => Ok(HttpResponseOk(Health { status: "ok".into(), database: "up".into() })),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "not ready: the database does not answer");
                Err(unavailable("not ready: the database is unavailable"))
            }
            Err(_elapsed) => Err(unavailable("not ready: the database did not answer in time")),
        }
    }

    async fn metrics(rqctx: RequestContext<Self::Context>) -> Result<http::Response<Body>, HttpError> {
        let ctx = rqctx.context();
        let queue = match tokio::time::timeout(HEALTH_TIMEOUT, ctx.store.job_counts()).await {
            Ok(Ok(counts)) => Some(counts),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "metrics: the job queue could not be counted");
                None
            }
            Err(_elapsed) => {
                tracing::warn!("metrics: the database did not answer in time; the queue is left out");
                None
            }
        };
        http::Response::builder()
            .header(http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)
            .body(Body::from(ctx.metrics.render(queue.as_deref())))
            .map_err(|err| HttpError::for_internal_error(err.to_string()))
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
    ) -> Result<HttpResponseOk<Vec<RfdJob>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let query = query.into_inner();
        let rfd: i32 = query
            .rfd
            .trim()
            .parse()
            .map_err(|_| HttpError::for_bad_request(None, "Malformed RFD number".into()))?;
        // As the reference: jobs are shown to holders of GetRfdsAll or GetRfd(rfd); a
        // public RFD's jobs are not public. The read scope decides, as for every read.
        let readable = match caller.read_scope() {
            rfd_model::ReadScope::All => true,
            rfd_model::ReadScope::PublicAnd(granted) => granted.contains(&rfd),
        };
        if !readable {
            return Ok(HttpResponseOk(Vec::new()));
        }
        let page = Page::new(query.offset.unwrap_or(0), query.limit.unwrap_or(100));
        let jobs = rqctx
            .context()
            .store
            .list_jobs(&JobFilter { rfd: Some(rfd), state: None }, page)
            .await
            .map_err(store_error)?;
        Ok(HttpResponseOk(jobs.into_iter().filter_map(RfdJob::of).collect()))
    }

    async fn list_queue_jobs(
        rqctx: RequestContext<Self::Context>,
        query: Query<QueueJobsQuery>,
    ) -> Result<HttpResponseOk<Vec<Job>>, HttpError> {
        Caller::of(&rqctx).await?.require(&Permission::GetRfdsAll)?;
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
        Caller::of(&rqctx).await?.require(&Permission::UpdateRfdsAll)?;
        let job = rqctx.context().store.retry_job(path.into_inner().job_id).await.map_err(store_error)?;
        Ok(HttpResponseOk(job))
    }

    async fn openid_configuration(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<OpenIdConfiguration>, HttpError> {
        let base = rqctx.context().config.api.public_url();
        Ok(HttpResponseOk(OpenIdConfiguration { jwks_uri: format!("{base}/.well-known/jwks.json") }))
    }

    async fn jwks_json(rqctx: RequestContext<Self::Context>) -> Result<HttpResponseOk<Jwks>, HttpError> {
        Ok(HttpResponseOk(rqctx.context().keys.jwks()))
    }

    async fn get_self(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(users::get_self(&rqctx.context().store, &caller).await?))
    }

    async fn list_api_users(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<GetUserResponse>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(users::list_users(&rqctx.context().store, &caller).await?))
    }

    async fn create_api_user(
        rqctx: RequestContext<Self::Context>,
        body: TypedBody<ApiUserUpdateParams>,
    ) -> Result<HttpResponseCreated<GetUserResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseCreated(users::create_user(&rqctx.context().store, &caller, body.into_inner()).await?))
    }

    async fn get_api_user(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(users::get_user(&rqctx.context().store, &caller, path.into_inner().user_id).await?))
    }

    async fn update_api_user(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiUserUpdateParams>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().user_id;
        Ok(HttpResponseOk(users::update_user(&rqctx.context().store, &caller, id, body.into_inner()).await?))
    }

    async fn add_api_user_permission(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiUserPermissionParams>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().user_id;
        Ok(HttpResponseOk(
            users::add_permission(&rqctx.context().store, &caller, id, body.into_inner()).await?,
        ))
    }

    async fn remove_api_user_permission(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiUserPermissionParams>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().user_id;
        Ok(HttpResponseOk(
            users::remove_permission(&rqctx.context().store, &caller, id, body.into_inner()).await?,
        ))
    }

    async fn set_api_user_contact_email(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiUserEmailUpdateParams>,
    ) -> Result<HttpResponseOk<ApiUserContactEmailView>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().user_id;
        Ok(HttpResponseOk(
            users::set_contact_email(&rqctx.context().store, &caller, id, body.into_inner()).await?,
        ))
    }

    async fn list_api_user_tokens(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
    ) -> Result<HttpResponseOk<Vec<ApiKeyResponse>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(
            users::list_keys(&rqctx.context().store, &caller, path.into_inner().user_id).await?,
        ))
    }

    async fn create_api_user_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiKeyCreateParams>,
    ) -> Result<HttpResponseCreated<InitialApiKeyResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().user_id;
        Ok(HttpResponseCreated(
            users::create_key(&rqctx.context().store, &caller, id, body.into_inner()).await?,
        ))
    }

    async fn get_api_user_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserKeyPath>,
    ) -> Result<HttpResponseOk<ApiKeyResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        Ok(HttpResponseOk(
            users::get_key(&rqctx.context().store, &caller, path.user_id, path.api_key_id).await?,
        ))
    }

    async fn delete_api_user_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserKeyPath>,
    ) -> Result<HttpResponseOk<ApiKeyResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        Ok(HttpResponseOk(
            users::delete_key(&rqctx.context().store, &caller, path.user_id, path.api_key_id).await?,
        ))
    }

    async fn list_api_user_access_tokens(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
    ) -> Result<HttpResponseOk<Vec<AccessTokenView>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().user_id;
        Ok(HttpResponseOk(users::list_access_tokens(&rqctx.context().store, &caller, id).await?))
    }

    async fn revoke_api_user_access_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserAccessTokenPath>,
    ) -> Result<HttpResponseOk<AccessTokenView>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(users::revoke_access_token(store, &caller, path.user_id, path.token_id).await?))
    }

    async fn revoke_api_user_credentials(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
    ) -> Result<HttpResponseOk<RevokeAllResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(
            users::revoke_all(&rqctx.context().store, &caller, path.into_inner().user_id).await?,
        ))
    }

    async fn add_api_user_to_group(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<AddGroupBody>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().user_id;
        Ok(HttpResponseOk(users::add_to_group(&rqctx.context().store, &caller, id, body.into_inner()).await?))
    }

    async fn remove_api_user_from_group(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserGroupPath>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(users::remove_from_group(store, &caller, path.user_id, path.group_id).await?))
    }

    async fn get_groups(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<AccessGroupView>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(groups::list(&rqctx.context().store, &caller).await?))
    }

    async fn create_group(
        rqctx: RequestContext<Self::Context>,
        body: TypedBody<AccessGroupUpdateParams>,
    ) -> Result<HttpResponseCreated<AccessGroupView>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseCreated(groups::create(&rqctx.context().store, &caller, body.into_inner()).await?))
    }

    async fn update_group(
        rqctx: RequestContext<Self::Context>,
        path: Path<GroupPath>,
        body: TypedBody<AccessGroupUpdateParams>,
    ) -> Result<HttpResponseOk<AccessGroupView>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().group_id;
        Ok(HttpResponseOk(groups::update(&rqctx.context().store, &caller, id, body.into_inner()).await?))
    }

    async fn delete_group(
        rqctx: RequestContext<Self::Context>,
        path: Path<GroupPath>,
    ) -> Result<HttpResponseOk<AccessGroupView>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(groups::delete(&rqctx.context().store, &caller, path.into_inner().group_id).await?))
    }

    async fn get_group_members(
        rqctx: RequestContext<Self::Context>,
        path: Path<GroupPath>,
    ) -> Result<HttpResponseOk<Vec<GetUserResponse>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(
            groups::members(&rqctx.context().store, &caller, path.into_inner().group_id).await?,
        ))
    }

    async fn get_mappers(
        rqctx: RequestContext<Self::Context>,
        query: Query<ListMappersQuery>,
    ) -> Result<HttpResponseOk<Vec<MapperView>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let include_depleted = query.into_inner().include_depleted.unwrap_or(false);
        Ok(HttpResponseOk(mappers::list(&rqctx.context().store, &caller, include_depleted).await?))
    }

    async fn create_mapper(
        rqctx: RequestContext<Self::Context>,
        body: TypedBody<CreateMapper>,
    ) -> Result<HttpResponseCreated<MapperView>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseCreated(mappers::create(&rqctx.context().store, &caller, body.into_inner()).await?))
    }

    async fn delete_mapper(
        rqctx: RequestContext<Self::Context>,
        path: Path<MapperPath>,
    ) -> Result<HttpResponseOk<MapperView>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(
            mappers::delete(&rqctx.context().store, &caller, path.into_inner().mapper_id).await?,
        ))
    }

    // ---- RFD read: RFDs, revisions, PDFs, visibility, search, storage ----

    async fn list_rfds(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<RfdMeta>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(read::list_rfds(&rqctx.context().store, &caller).await?))
    }

    async fn view_rfd_meta(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseOk<RfdMeta>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = path.into_inner().number;
        Ok(HttpResponseOk(read::view_meta(&rqctx.context().store, &caller, &number, None).await?))
    }

    async fn view_rfd(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseOk<RfdWithRaw>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = path.into_inner().number;
        Ok(HttpResponseOk(read::view_raw(&rqctx.context().store, &caller, &number, None).await?))
    }

    async fn view_rfd_attr(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdAttrPathParams>,
    ) -> Result<HttpResponseOk<RfdAttr>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(read::view_attr(store, &caller, &path.number, None, path.attr).await?))
    }

    async fn view_rfd_pdf(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseOk<RfdWithPdf>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let ctx = rqctx.context();
        let number = path.into_inner().number;
        Ok(HttpResponseOk(read::view_pdf(&ctx.rfd_read, &ctx.store, &caller, &number, None).await?))
    }

    async fn list_rfd_revisions(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
        query: Query<PaginationQuery>,
    ) -> Result<HttpResponseOk<Vec<RfdRevisionMeta>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = path.into_inner().number;
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(read::list_revisions(store, &caller, &number, query.into_inner()).await?))
    }

    async fn view_rfd_revision_meta(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
    ) -> Result<HttpResponseOk<RfdMeta>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(read::view_meta(store, &caller, &path.number, Some(path.revision)).await?))
    }

    async fn update_rfd_revision(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
        body: TypedBody<UpdateRfdAttrBody>,
    ) -> Result<HttpResponseOk<RfdRevisionMeta>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(
            read::update_revision(store, &caller, &path.number, path.revision, body.into_inner()).await?,
        ))
    }

    async fn view_rfd_revision(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
    ) -> Result<HttpResponseOk<RfdWithRaw>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(read::view_raw(store, &caller, &path.number, Some(path.revision)).await?))
    }

    async fn view_rfd_revision_attr(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionAttrPathParams>,
    ) -> Result<HttpResponseOk<RfdAttr>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(
            read::view_attr(store, &caller, &path.number, Some(path.revision), path.attr).await?,
        ))
    }

    async fn view_rfd_revision_pdf(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
    ) -> Result<HttpResponseOk<RfdWithPdf>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let ctx = rqctx.context();
        let path = path.into_inner();
        Ok(HttpResponseOk(
            read::view_pdf(&ctx.rfd_read, &ctx.store, &caller, &path.number, Some(path.revision)).await?,
        ))
    }

    async fn update_rfd_visibility(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
        body: TypedBody<RfdVisibility>,
    ) -> Result<HttpResponseOk<RfdView>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let ctx = rqctx.context();
        let number = path.into_inner().number;
        Ok(HttpResponseOk(
            read::update_visibility(
                &ctx.rfd_read,
                &ctx.store,
                &caller,
                &number,
                body.into_inner(),
                ctx.source.location(),
            )
            .await?,
        ))
    }

    async fn search_rfds(
        rqctx: RequestContext<Self::Context>,
        query: Query<SearchRfdsQuery>,
    ) -> Result<HttpResponseOk<SearchResults>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let ctx = rqctx.context();
        Ok(HttpResponseOk(read::search(&ctx.rfd_read, &ctx.store, &caller, query.into_inner()).await?))
    }

    async fn get_storage_file(
        rqctx: RequestContext<Self::Context>,
        path: Path<StoragePath>,
    ) -> Result<http::Response<Body>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let ctx = rqctx.context();
        crate::rfd::storage::serve(&ctx.rfd_read, &ctx.store, &caller, path.into_inner().path).await
    }

    // ---- RFD writes and discussions (rfd-write) ----

    async fn reserve_rfd(
        rqctx: RequestContext<Self::Context>,
        body: TypedBody<write::ReserveRfdBody>,
    ) -> Result<HttpResponseAccepted<write::ReserveRfdResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = write::reserve(rqctx.context(), &caller, body.into_inner()).await?;
        Ok(HttpResponseAccepted(write::ReserveRfdResponse { number }))
    }

    async fn set_rfd_document(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
        body: TypedBody<write::RfdUpdateBody>,
    ) -> Result<HttpResponseAccepted<()>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = path.into_inner().number;
        write::set_document(rqctx.context(), &caller, &number, body.into_inner()).await?;
        Ok(HttpResponseAccepted(()))
    }

    async fn set_rfd_content(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
        body: TypedBody<write::RfdUpdateContentBody>,
    ) -> Result<HttpResponseAccepted<()>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = path.into_inner().number;
        write::set_content(rqctx.context(), &caller, &number, body.into_inner()).await?;
        Ok(HttpResponseAccepted(()))
    }

    async fn set_rfd_attr(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdAttrPathParams>,
        body: TypedBody<write::RfdAttrValue>,
    ) -> Result<HttpResponseAccepted<RfdAttr>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let attr =
            write::set_attr(rqctx.context(), &caller, &path.number, path.attr, body.into_inner()).await?;
        Ok(HttpResponseAccepted(attr))
    }

    async fn discuss_rfd(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseAccepted<RfdAttr>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = path.into_inner().number;
        let state = rfd_model::document::RfdState::Discussion;
        Ok(HttpResponseAccepted(write::set_state(rqctx.context(), &caller, &number, state).await?))
    }

    async fn publish_rfd(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseAccepted<RfdAttr>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = path.into_inner().number;
        let state = rfd_model::document::RfdState::Published;
        Ok(HttpResponseAccepted(write::set_state(rqctx.context(), &caller, &number, state).await?))
    }

    async fn view_rfd_discussion(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseOk<rfd_model::discussion::RfdDiscussion>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let number = path.into_inner().number;
        let latest = rfd_model::RevisionRef::Latest;
        Ok(HttpResponseOk(discussion::view(rqctx.context(), &caller, &number, latest).await?))
    }

    async fn view_rfd_revision_discussion(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
    ) -> Result<HttpResponseOk<rfd_model::discussion::RfdDiscussion>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let revision = rfd_model::RevisionRef::Id(path.revision);
        Ok(HttpResponseOk(discussion::view(rqctx.context(), &caller, &path.number, revision).await?))
    }

    // ---- OAuth and magic-link clients, magic-link login, account linking ----

    async fn list_oauth_clients(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<crate::clients::OAuthClient>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(crate::clients::list::<OAuth>(&rqctx.context().store, &caller).await?))
    }

    async fn create_oauth_client(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseCreated<crate::clients::OAuthClient>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseCreated(crate::clients::create::<OAuth>(&rqctx.context().store, &caller).await?))
    }

    async fn get_oauth_client(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientPath>,
    ) -> Result<HttpResponseOk<crate::clients::OAuthClient>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().client_id;
        Ok(HttpResponseOk(crate::clients::get::<OAuth>(&rqctx.context().store, &caller, id).await?))
    }

    async fn create_oauth_client_redirect_uri(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientPath>,
        body: TypedBody<crate::clients::AddOAuthClientRedirectBody>,
    ) -> Result<HttpResponseOk<crate::clients::OAuthClientRedirectUri>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let (id, uri) = (path.into_inner().client_id, body.into_inner().redirect_uri);
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(crate::clients::add_redirect_uri::<OAuth>(store, &caller, id, &uri).await?))
    }

    async fn delete_oauth_client_redirect_uri(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientRedirectUriPath>,
    ) -> Result<HttpResponseOk<crate::clients::OAuthClientRedirectUri>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(
            crate::clients::delete_redirect_uri::<OAuth>(
                store,
                &caller,
                path.client_id,
                path.redirect_uri_id,
            )
            .await?,
        ))
    }

    async fn create_oauth_client_secret(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientPath>,
    ) -> Result<HttpResponseOk<crate::clients::InitialOAuthClientSecretResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().client_id;
        Ok(HttpResponseOk(crate::clients::create_secret::<OAuth>(&rqctx.context().store, &caller, id).await?))
    }

    async fn delete_oauth_client_secret(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientSecretPath>,
    ) -> Result<HttpResponseOk<crate::clients::OAuthClientSecret>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(
            crate::clients::delete_secret::<OAuth>(store, &caller, path.client_id, path.secret_id).await?,
        ))
    }

    async fn list_magic_links(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<crate::clients::MagicLink>>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseOk(crate::clients::list::<Magic>(&rqctx.context().store, &caller).await?))
    }

    async fn create_magic_link(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseCreated<crate::clients::MagicLink>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        Ok(HttpResponseCreated(crate::clients::create::<Magic>(&rqctx.context().store, &caller).await?))
    }

    async fn get_magic_link(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientPath>,
    ) -> Result<HttpResponseOk<crate::clients::MagicLink>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().client_id;
        Ok(HttpResponseOk(crate::clients::get::<Magic>(&rqctx.context().store, &caller, id).await?))
    }

    async fn create_magic_link_redirect_uri(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientPath>,
        body: TypedBody<crate::clients::AddMagicLinkRedirectBody>,
    ) -> Result<HttpResponseOk<crate::clients::MagicLinkRedirectUri>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let (id, uri) = (path.into_inner().client_id, body.into_inner().redirect_uri);
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(crate::clients::add_redirect_uri::<Magic>(store, &caller, id, &uri).await?))
    }

    async fn delete_magic_link_redirect_uri(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientRedirectUriPath>,
    ) -> Result<HttpResponseOk<crate::clients::MagicLinkRedirectUri>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(
            crate::clients::delete_redirect_uri::<Magic>(
                store,
                &caller,
                path.client_id,
                path.redirect_uri_id,
            )
            .await?,
        ))
    }

    async fn create_magic_link_secret(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientPath>,
    ) -> Result<HttpResponseOk<crate::clients::InitialMagicLinkSecretResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().client_id;
        Ok(HttpResponseOk(crate::clients::create_secret::<Magic>(&rqctx.context().store, &caller, id).await?))
    }

    async fn delete_magic_link_secret(
        rqctx: RequestContext<Self::Context>,
        path: Path<ClientSecretPath>,
    ) -> Result<HttpResponseOk<crate::clients::MagicLinkSecret>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let path = path.into_inner();
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(
            crate::clients::delete_secret::<Magic>(store, &caller, path.client_id, path.secret_id).await?,
        ))
    }

    async fn magic_link_send(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::magic_link::ChannelPath>,
        body: TypedBody<crate::magic_link::MagicLinkSendRequest>,
    ) -> Result<HttpResponseOk<crate::magic_link::MagicLinkSendResponse>, HttpError> {
        let channel = path.into_inner().channel;
        Ok(HttpResponseOk(crate::magic_link::send(rqctx.context(), &channel, body.into_inner()).await?))
    }

    async fn magic_link_exchange(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::magic_link::ChannelPath>,
        body: TypedBody<crate::magic_link::MagicLinkExchangeRequest>,
    ) -> Result<HttpResponseOk<crate::magic_link::MagicLinkExchangeResponse>, HttpError> {
        let channel = path.into_inner().channel;
        Ok(HttpResponseOk(crate::magic_link::exchange(rqctx.context(), &channel, body.into_inner()).await?))
    }

    async fn create_link_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::linking::ProviderPath>,
        body: TypedBody<crate::linking::ApiUserLinkRequestPayload>,
    ) -> Result<HttpResponseOk<crate::linking::ApiUserLinkRequestResponse>, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().provider_id;
        let store = &rqctx.context().store;
        Ok(HttpResponseOk(crate::linking::create_link_token(store, &caller, id, body.into_inner()).await?))
    }

    async fn link_provider(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<crate::linking::ApiUserProviderLinkPayload>,
    ) -> Result<HttpResponseUpdatedNoContent, HttpError> {
        let caller = Caller::of(&rqctx).await?;
        let id = path.into_inner().user_id;
        crate::linking::link_provider(&rqctx.context().store, &caller, id, body.into_inner()).await?;
        Ok(HttpResponseUpdatedNoContent())
    }

    // ---- gitsource ----

    async fn trigger(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::trigger::TriggerPath>,
        body: TypedBody<crate::trigger::TriggerRequest>,
    ) -> Result<dropshot::HttpResponseAccepted<crate::api::WebhookOutcome>, HttpError> {
        let metrics = rqctx.context().metrics.clone();
        let result = crate::trigger::receive(rqctx, path.into_inner().trigger_id, body).await;
        metrics.trigger(match &result {
            Ok(accepted) => accepted.0.outcome.as_str(),
            Err(err) => crate::metrics::refusal(err.status_code.as_status()),
        });
        result
    }

    // ---- OAuth login (auth-oauth) ----

    async fn authz_code_redirect(
        rqctx: RequestContext<Self::Context>,
        path: Path<oauth::OAuthProviderPath>,
        query: Query<oauth::OAuthAuthzCodeQuery>,
    ) -> Result<HttpResponseTemporaryRedirect, HttpError> {
        oauth::code::authorize(&rqctx, path.into_inner().provider, query.into_inner()).await
    }

    async fn authz_code_callback(
        rqctx: RequestContext<Self::Context>,
        path: Path<oauth::OAuthProviderPath>,
        query: Query<oauth::OAuthAuthzCodeReturnQuery>,
    ) -> Result<HttpResponseTemporaryRedirect, HttpError> {
        oauth::code::callback(&rqctx, path.into_inner().provider, query.into_inner()).await
    }

    async fn authz_code_exchange(
        rqctx: RequestContext<Self::Context>,
        path: Path<oauth::OAuthProviderPath>,
        query: Query<oauth::OAuthAuthzCodeExchangeQuery>,
        body: TypedBody<oauth::OAuthAuthzCodeExchangeBody>,
    ) -> Result<HttpResponseOk<oauth::OAuthAuthzCodeExchangeResponse>, oauth::OAuthError> {
        oauth::code::token(&rqctx, path.into_inner().provider, query.into_inner(), body.into_inner()).await
    }

    async fn get_device_provider(
        rqctx: RequestContext<Self::Context>,
        path: Path<oauth::OAuthProviderPath>,
    ) -> Result<HttpResponseOk<oauth::OAuthProviderDeviceInfo>, HttpError> {
        Ok(HttpResponseOk(oauth::device::info(rqctx.context(), path.into_inner().provider)?))
    }

    async fn get_web_pkce_provider(
        rqctx: RequestContext<Self::Context>,
        path: Path<oauth::OAuthProviderPath>,
    ) -> Result<HttpResponseOk<oauth::OAuthProviderAuthorizationCodePkceInfo>, HttpError> {
        Ok(HttpResponseOk(oauth::code::public_pkce_info(rqctx.context(), path.into_inner().provider)?))
    }

    async fn device_authz(
        rqctx: RequestContext<Self::Context>,
        path: Path<oauth::OAuthProviderPath>,
        body: TypedBody<oauth::DeviceAuthorizationRequest>,
    ) -> Result<http::Response<Body>, HttpError> {
        oauth::device::authorize(&rqctx, path.into_inner().provider, body.into_inner()).await
    }

    async fn exchange_device_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<oauth::OAuthProviderPath>,
        body: TypedBody<oauth::DeviceTokenExchangeRequest>,
    ) -> Result<http::Response<Body>, HttpError> {
        oauth::device::exchange(&rqctx, path.into_inner().provider, body.into_inner()).await
    }
}

/// The API description with our implementation behind it.
pub fn api_description() -> Result<ApiDescription<ApiContext>, anyhow::Error> {
    rfd_api_mod::api_description::<RfdApiImpl>()
        .map_err(|err| anyhow::anyhow!("invalid API description: {err}"))
}

/// Builds the context from configuration; connects lazily.
///
/// Keys that cannot be loaded are logged and leave the server without JWT keys (API
/// keys still work); `rfd-api serve` loads them first with [`Keys::load`] and refuses
/// to start instead, through [`context_with_keys`].
pub fn context(config: ApiConfig) -> ApiContext {
    let keys = Keys::load(&config).unwrap_or_else(|err| {
        tracing::error!(error = %err, "access-token keys not loaded; JWTs are refused");
        Keys::none(&config.api.public_url())
    });
    context_with_keys(config, keys)
}

/// Builds the context with keys already loaded.
pub fn context_with_keys(config: ApiConfig, keys: Keys) -> ApiContext {
    let pool = rfd_model::db::pool(config.database_url.expose_secret(), &config.database);
    let store = Store::new(pool);
    ApiContext {
        rfd_read: crate::rfd::read::ReadServices::from_config(&config, &store),
        intake: crate::intake::Intake::new(store.clone()),
        source: crate::source::ApiSource::from_config(&config),
        trigger_backoff: crate::trigger::Backoff::new(&config.trigger),
        metrics: Arc::new(crate::metrics::ApiMetrics::new(route_lookup())),
        store,
        keys: Arc::new(keys),
        config: Arc::new(config),
    }
}

/// Names requests by the operation id of the endpoint the server's router picks for them.
fn route_lookup() -> crate::metrics::RouteLookup {
    match api_description() {
        Ok(api) => {
            let router = api.into_router();
            Box::new(move |method, path| {
                router.lookup_route(method, path.into(), None).ok().map(|found| found.endpoint.operation_id)
            })
        }
        Err(err) => {
            // Cannot happen (the server could not start either); requests count as unmatched.
            tracing::error!(error = %err, "no API description to name requests by");
            Box::new(|_, _| None)
        }
    }
}

/// Starts serving on the configured address (use port 0 in tests and read
/// [`HttpServer::local_addr`]).
pub fn start(ctx: ApiContext) -> Result<HttpServer<ApiContext>, anyhow::Error> {
    let config = ConfigDropshot {
        bind_address: ctx.config.api.address,
        default_request_body_max_bytes: ctx.config.api.request_body_max_bytes,
        ..Default::default()
    };
    // Every request ends in a record on this logger: the observer counts them for /metrics.
    let drain = crate::metrics::RequestObserver::new(tracing_slog::TracingSlogDrain, ctx.metrics.clone());
    let log = slog::Logger::root(drain, slog::o!("component" => "dropshot"));
    ServerBuilder::new(api_description()?, ctx, log)
        .config(config)
        .start()
        .map_err(|err| anyhow::anyhow!("cannot start the HTTP server: {err}"))
}
