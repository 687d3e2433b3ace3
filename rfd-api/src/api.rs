//! The API as a Dropshot trait: the contract, separate from its implementation, so the
//! OpenAPI document can be generated without a running server.

use dropshot::HttpResponseUpdatedNoContent;
use dropshot::{
    Body, HttpError, HttpResponseAccepted, HttpResponseCreated, HttpResponseOk,
    HttpResponseTemporaryRedirect, Path, Query, RequestContext, StreamingBody, TypedBody,
};
use rfd_model::{Job, JobState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{
    AccessGroupUpdateParams, AccessGroupView, AccessTokenView, AddGroupBody, ApiKeyCreateParams,
    ApiKeyResponse, ApiUserContactEmailView, ApiUserEmailUpdateParams, ApiUserPermissionParams,
    ApiUserUpdateParams, CreateMapper, GetUserResponse, InitialApiKeyResponse, MapperView,
    OpenIdConfiguration, RevokeAllResponse,
};
use crate::auth::jwt::Jwks;
use crate::rfd::read::{
    PaginationQuery, RfdAttrPathParams, RfdPathParams, RfdRevisionAttrPathParams, RfdRevisionPathParams,
    RfdView, RfdVisibility, RfdWithPdf, SearchRfdsQuery, UpdateRfdAttrBody,
};
use rfd_model::search::SearchResults;
use rfd_model::{RfdAttr, RfdMeta, RfdRevisionMeta, RfdWithRaw};

/// The state of the service as `/health` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok` when every dependency answers.
    pub status: String,
    /// Whether the database answered.
    pub database: String,
}

/// `/health/live`: the process is up.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Liveness {
    /// Always `ok`.
    pub status: String,
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

/// A user id in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UserPath {
    /// The user.
    pub user_id: Uuid,
}

/// A user's API key in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UserKeyPath {
    /// The user.
    pub user_id: Uuid,
    /// The key.
    pub api_key_id: Uuid,
}

/// A user's access token in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UserAccessTokenPath {
    /// The user.
    pub user_id: Uuid,
    /// The token's `jti`.
    pub token_id: Uuid,
}

/// A user and a group in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UserGroupPath {
    /// The user.
    pub user_id: Uuid,
    /// The group.
    pub group_id: Uuid,
}

/// A group in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GroupPath {
    /// The group.
    pub group_id: Uuid,
}

/// A mapper in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MapperPath {
    /// The mapper.
    pub mapper_id: Uuid,
}

/// `GET /mapper` parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListMappersQuery {
    /// Include mappers that reached their maximum.
    pub include_depleted: Option<bool>,
}

/// A key of the local storage directory in the path (`rfd/0042/<commit>/a.png`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StoragePath {
    /// The key's segments.
    pub path: Vec<String>,
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

    /// Liveness: 200 while the process serves requests.
    ///
    /// Touches nothing else (not the database), so a database outage never gets a healthy
    /// API restarted.
    #[endpoint { method = GET, path = "/health/live", tags = ["system"] }]
    async fn health_live(rqctx: RequestContext<Self::Context>)
    -> Result<HttpResponseOk<Liveness>, HttpError>;

    /// Readiness: 200 when the database answers, 503 when it does not.
    ///
    /// The database must answer within a short timeout; a load balancer sends the traffic
    /// of an instance that is not ready to another one.
    #[endpoint { method = GET, path = "/health/ready", tags = ["system"] }]
    async fn health_ready(rqctx: RequestContext<Self::Context>) -> Result<HttpResponseOk<Health>, HttpError>;

    /// Prometheus metrics in the text exposition format: requests by operation and status,
    /// webhook and trigger outcomes, and the job queue by state (read from the database
    /// at scrape time; left out when it does not answer). Not part of the client API.
    #[endpoint { method = GET, path = "/metrics", unpublished = true }]
    async fn metrics(rqctx: RequestContext<Self::Context>) -> Result<http::Response<Body>, HttpError>;

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
    ) -> Result<HttpResponseOk<Vec<crate::jobs::RfdJob>>, HttpError>;

    /// Lists queued, running, succeeded, failed (dead-letter) or superseded jobs.
    /// Requires `GetRfdsAll` (the queue names every RFD).
    #[endpoint { method = GET, path = "/queue/jobs", tags = ["job"] }]
    async fn list_queue_jobs(
        rqctx: RequestContext<Self::Context>,
        query: Query<QueueJobsQuery>,
    ) -> Result<HttpResponseOk<Vec<Job>>, HttpError>;

    /// Puts a failed job back in the queue with fresh attempts. Requires `UpdateRfdsAll`
    /// (a job rewrites an RFD's stored data).
    #[endpoint { method = POST, path = "/queue/jobs/{job_id}/retry", tags = ["job"] }]
    async fn retry_job(
        rqctx: RequestContext<Self::Context>,
        path: Path<JobPath>,
    ) -> Result<HttpResponseOk<Job>, HttpError>;

    /// The OpenID configuration: where the token keys are published.
    #[endpoint { method = GET, path = "/.well-known/openid-configuration", tags = ["system"] }]
    async fn openid_configuration(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<OpenIdConfiguration>, HttpError>;

    /// The public keys access tokens are signed with (every key that verifies).
    #[endpoint { method = GET, path = "/.well-known/jwks.json", tags = ["system"] }]
    async fn jwks_json(rqctx: RequestContext<Self::Context>) -> Result<HttpResponseOk<Jwks>, HttpError>;

    /// The calling user.
    #[endpoint { method = GET, path = "/self", tags = ["api-user"] }]
    async fn get_self(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError>;

    /// The users the caller may see (`GetApiUser`).
    #[endpoint { method = GET, path = "/api-user", tags = ["api-user"] }]
    async fn list_api_users(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<GetUserResponse>>, HttpError>;

    /// Creates a user (`CreateApiUser`; only permissions the caller holds).
    #[endpoint { method = POST, path = "/api-user", tags = ["api-user"] }]
    async fn create_api_user(
        rqctx: RequestContext<Self::Context>,
        body: TypedBody<ApiUserUpdateParams>,
    ) -> Result<HttpResponseCreated<GetUserResponse>, HttpError>;

    /// A user (`GetApiUser`).
    #[endpoint { method = GET, path = "/api-user/{user_id}", tags = ["api-user"] }]
    async fn get_api_user(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError>;

    /// Replaces a user's direct permissions (`ManageApiUser`; added ones must be held
    /// by the caller). `group_ids` is ignored, as in the reference service.
    #[endpoint { method = POST, path = "/api-user/{user_id}", tags = ["api-user"] }]
    async fn update_api_user(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiUserUpdateParams>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError>;

    /// Adds a permission to a user (`ManageApiUser`; the caller must hold it).
    #[endpoint { method = POST, path = "/api-user/{user_id}/permission", tags = ["api-user"] }]
    async fn add_api_user_permission(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiUserPermissionParams>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError>;

    /// Removes a permission from a user (`ManageApiUser`).
    #[endpoint { method = DELETE, path = "/api-user/{user_id}/permission", tags = ["api-user"] }]
    async fn remove_api_user_permission(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiUserPermissionParams>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError>;

    /// Sets a user's contact address to one of its verified provider addresses.
    #[endpoint { method = PUT, path = "/api-user/{user_id}/contact/email", tags = ["api-user"] }]
    async fn set_api_user_contact_email(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiUserEmailUpdateParams>,
    ) -> Result<HttpResponseOk<ApiUserContactEmailView>, HttpError>;

    /// A user's API keys the caller may see (never their secrets).
    #[endpoint { method = GET, path = "/api-user/{user_id}/token", tags = ["api-user"] }]
    async fn list_api_user_tokens(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
    ) -> Result<HttpResponseOk<Vec<ApiKeyResponse>>, HttpError>;

    /// Creates an API key; its secret is in this response only.
    #[endpoint { method = POST, path = "/api-user/{user_id}/token", tags = ["api-user"] }]
    async fn create_api_user_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<ApiKeyCreateParams>,
    ) -> Result<HttpResponseCreated<InitialApiKeyResponse>, HttpError>;

    /// An API key (without its secret).
    #[endpoint { method = GET, path = "/api-user/{user_id}/token/{api_key_id}", tags = ["api-user"] }]
    async fn get_api_user_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserKeyPath>,
    ) -> Result<HttpResponseOk<ApiKeyResponse>, HttpError>;

    /// Deletes (revokes) an API key.
    #[endpoint { method = DELETE, path = "/api-user/{user_id}/token/{api_key_id}", tags = ["api-user"] }]
    async fn delete_api_user_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserKeyPath>,
    ) -> Result<HttpResponseOk<ApiKeyResponse>, HttpError>;

    /// A user's live access tokens (their ids and lifetimes, not the tokens). The user
    /// itself, or `ManageApiUser`.
    #[endpoint { method = GET, path = "/api-user/{user_id}/access-token", tags = ["api-user"] }]
    async fn list_api_user_access_tokens(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
    ) -> Result<HttpResponseOk<Vec<AccessTokenView>>, HttpError>;

    /// Revokes one access token at once (it is refused from the next request on). The
    /// user itself, or `ManageApiUser`.
    #[endpoint { method = DELETE, path = "/api-user/{user_id}/access-token/{token_id}", tags = ["api-user"] }]
    async fn revoke_api_user_access_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserAccessTokenPath>,
    ) -> Result<HttpResponseOk<AccessTokenView>, HttpError>;

    /// Revokes every access token and API key of a user. The user itself, or
    /// `ManageApiUser`.
    #[endpoint { method = POST, path = "/api-user/{user_id}/revoke", tags = ["api-user"] }]
    async fn revoke_api_user_credentials(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
    ) -> Result<HttpResponseOk<RevokeAllResponse>, HttpError>;

    /// Adds a user to a group (`GetGroup` and `ManageGroupMembership` of the group, and
    /// every permission the group gives).
    #[endpoint { method = POST, path = "/api-user/{user_id}/group", tags = ["api-user"] }]
    async fn add_api_user_to_group(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<AddGroupBody>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError>;

    /// Removes a user from a group (`ManageGroupMembership`).
    #[endpoint { method = DELETE, path = "/api-user/{user_id}/group/{group_id}", tags = ["api-user"] }]
    async fn remove_api_user_from_group(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserGroupPath>,
    ) -> Result<HttpResponseOk<GetUserResponse>, HttpError>;

    /// The groups the caller may see (`GetGroup`).
    #[endpoint { method = GET, path = "/group", tags = ["group"] }]
    async fn get_groups(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<AccessGroupView>>, HttpError>;

    /// Creates a group (`CreateGroup`; only permissions the caller holds).
    #[endpoint { method = POST, path = "/group", tags = ["group"] }]
    async fn create_group(
        rqctx: RequestContext<Self::Context>,
        body: TypedBody<AccessGroupUpdateParams>,
    ) -> Result<HttpResponseCreated<AccessGroupView>, HttpError>;

    /// Renames a group and replaces its permissions (`ManageGroup`).
    #[endpoint { method = PUT, path = "/group/{group_id}", tags = ["group"] }]
    async fn update_group(
        rqctx: RequestContext<Self::Context>,
        path: Path<GroupPath>,
        body: TypedBody<AccessGroupUpdateParams>,
    ) -> Result<HttpResponseOk<AccessGroupView>, HttpError>;

    /// Deletes a group (`ManageGroup`); members lose its permissions.
    #[endpoint { method = DELETE, path = "/group/{group_id}", tags = ["group"] }]
    async fn delete_group(
        rqctx: RequestContext<Self::Context>,
        path: Path<GroupPath>,
    ) -> Result<HttpResponseOk<AccessGroupView>, HttpError>;

    /// The members of a group (`GetGroup`; members filtered by `GetApiUser`).
    #[endpoint { method = GET, path = "/group-membership/{group_id}", tags = ["group"] }]
    async fn get_group_members(
        rqctx: RequestContext<Self::Context>,
        path: Path<GroupPath>,
    ) -> Result<HttpResponseOk<Vec<GetUserResponse>>, HttpError>;

    /// The login mappers (`GetMappersAll`).
    #[endpoint { method = GET, path = "/mapper", tags = ["mapper"] }]
    async fn get_mappers(
        rqctx: RequestContext<Self::Context>,
        query: Query<ListMappersQuery>,
    ) -> Result<HttpResponseOk<Vec<MapperView>>, HttpError>;

    /// Creates a mapper (`CreateMapper`, and everything it would give).
    #[endpoint { method = POST, path = "/mapper", tags = ["mapper"] }]
    async fn create_mapper(
        rqctx: RequestContext<Self::Context>,
        body: TypedBody<CreateMapper>,
    ) -> Result<HttpResponseCreated<MapperView>, HttpError>;

    /// Deletes a mapper (`ManageMapper`); mappers from mappers.toml answer 409.
    #[endpoint { method = DELETE, path = "/mapper/{mapper_id}", tags = ["mapper"] }]
    async fn delete_mapper(
        rqctx: RequestContext<Self::Context>,
        path: Path<MapperPath>,
    ) -> Result<HttpResponseOk<MapperView>, HttpError>;

    // ---- RFD read: RFDs, revisions, PDFs, visibility, search, storage ----

    /// Lists the RFDs the caller may read, with the metadata of their latest revisions,
    /// highest number first.
    #[endpoint { method = GET, path = "/rfd", tags = ["rfd"] }]
    async fn list_rfds(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<RfdMeta>>, HttpError>;

    /// Gets the latest representation of an RFD's metadata.
    #[endpoint { method = GET, path = "/rfd/{number}", tags = ["rfd"] }]
    async fn view_rfd_meta(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseOk<RfdMeta>, HttpError>;

    /// Gets the raw contents of the latest revision of an RFD.
    #[endpoint { method = GET, path = "/rfd/{number}/raw", tags = ["rfd"] }]
    async fn view_rfd(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseOk<RfdWithRaw>, HttpError>;

    /// Gets an attribute of the latest revision of an RFD (404 when it is not set).
    #[endpoint { method = GET, path = "/rfd/{number}/attr/{attr}", tags = ["rfd"] }]
    async fn view_rfd_attr(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdAttrPathParams>,
    ) -> Result<HttpResponseOk<RfdAttr>, HttpError>;

    /// Gets every PDF of the latest revision of an RFD (an empty list when none).
    #[endpoint { method = GET, path = "/rfd/{number}/pdf", tags = ["rfd"] }]
    async fn view_rfd_pdf(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
    ) -> Result<HttpResponseOk<RfdWithPdf>, HttpError>;

    /// Lists the revisions of an RFD, newest first.
    #[endpoint { method = GET, path = "/rfd/{number}/revision", tags = ["rfd"] }]
    async fn list_rfd_revisions(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
        query: Query<PaginationQuery>,
    ) -> Result<HttpResponseOk<Vec<RfdRevisionMeta>>, HttpError>;

    /// Gets an RFD's metadata at a revision (historic revisions too).
    #[endpoint { method = GET, path = "/rfd/{number}/revision/{revision}", tags = ["rfd"] }]
    async fn view_rfd_revision_meta(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
    ) -> Result<HttpResponseOk<RfdMeta>, HttpError>;

    /// Updates the metadata of an RFD's revision (`major_change`). Needs `UpdateRfd(n)`
    /// (or `UpdateRfds`, `UpdateRfdsAll`).
    #[endpoint { method = PATCH, path = "/rfd/{number}/revision/{revision}", tags = ["rfd"] }]
    async fn update_rfd_revision(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
        body: TypedBody<UpdateRfdAttrBody>,
    ) -> Result<HttpResponseOk<RfdRevisionMeta>, HttpError>;

    /// Gets the raw contents of a revision of an RFD.
    #[endpoint { method = GET, path = "/rfd/{number}/revision/{revision}/raw", tags = ["rfd"] }]
    async fn view_rfd_revision(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
    ) -> Result<HttpResponseOk<RfdWithRaw>, HttpError>;

    /// Gets an attribute of a revision of an RFD.
    #[endpoint { method = GET, path = "/rfd/{number}/revision/{revision}/attr/{attr}", tags = ["rfd"] }]
    async fn view_rfd_revision_attr(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionAttrPathParams>,
    ) -> Result<HttpResponseOk<RfdAttr>, HttpError>;

    /// Gets every PDF of a revision of an RFD.
    #[endpoint { method = GET, path = "/rfd/{number}/revision/{revision}/pdf", tags = ["rfd"] }]
    async fn view_rfd_revision_pdf(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdRevisionPathParams>,
    ) -> Result<HttpResponseOk<RfdWithPdf>, HttpError>;

    /// Modifies the visibility of an RFD; search reflects it at once. Needs read and
    /// `ManageRfdVisibility(n)` (or `ManageRfdsVisibility`, `ManageRfdsVisibilityAll`).
    #[endpoint { method = POST, path = "/rfd/{number}/visibility", tags = ["rfd"] }]
    async fn update_rfd_visibility(
        rqctx: RequestContext<Self::Context>,
        path: Path<RfdPathParams>,
        body: TypedBody<RfdVisibility>,
    ) -> Result<HttpResponseOk<RfdView>, HttpError>;

    /// Searches the RFD index (hits only from RFDs the caller may read). Needs
    /// `SearchRfds`, which the anonymous caller has.
    #[endpoint { method = GET, path = "/rfd-search", tags = ["rfd"] }]
    async fn search_rfds(
        rqctx: RequestContext<Self::Context>,
        query: Query<SearchRfdsQuery>,
    ) -> Result<HttpResponseOk<SearchResults>, HttpError>;

    /// Serves a file of the local storage directory (RFD images and PDFs) with its
    /// content type; a file of an RFD the caller may not read is a 404.
    #[endpoint { method = GET, path = "/storage/{path:.*}", unpublished = true }]
    async fn get_storage_file(
        rqctx: RequestContext<Self::Context>,
        path: Path<StoragePath>,
    ) -> Result<http::Response<Body>, HttpError>;

    // ---- RFD writes and discussions (rfd-write) ----
    // Writes are commits through the RFD source on the RFD's branch; the database changes
    // when the pipeline processes the commit, hence 202. Without a source: 503.

    /// Create a new RFD
    ///
    /// Reserves the next free number (never the same for two callers), creates its branch
    /// and commits the initial document there. Requires `CreateRfd`.
    #[endpoint { method = POST, path = "/rfd", tags = ["rfd"] }]
    async fn reserve_rfd(
        rqctx: RequestContext<Self::Context>,
        body: TypedBody<crate::rfd::write::ReserveRfdBody>,
    ) -> Result<HttpResponseAccepted<crate::rfd::write::ReserveRfdResponse>, HttpError>;

    /// Replace the full document of a RFD
    ///
    /// Requires `UpdateRfd` for the RFD (or `UpdateRfds`, `UpdateRfdsAll`) and read access.
    #[endpoint { method = POST, path = "/rfd/{number}/raw", tags = ["rfd"] }]
    async fn set_rfd_document(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::rfd::read::RfdPathParams>,
        body: TypedBody<crate::rfd::write::RfdUpdateBody>,
    ) -> Result<HttpResponseAccepted<()>, HttpError>;

    /// Replace the contents of a RFD
    ///
    /// Replaces the body; the title and the header attributes are kept.
    #[endpoint { method = POST, path = "/rfd/{number}/content", tags = ["rfd"] }]
    async fn set_rfd_content(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::rfd::read::RfdPathParams>,
        body: TypedBody<crate::rfd::write::RfdUpdateContentBody>,
    ) -> Result<HttpResponseAccepted<()>, HttpError>;

    /// Set an attribute of a RFD
    #[endpoint { method = POST, path = "/rfd/{number}/attr/{attr}", tags = ["rfd"] }]
    async fn set_rfd_attr(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::rfd::read::RfdAttrPathParams>,
        body: TypedBody<crate::rfd::write::RfdAttrValue>,
    ) -> Result<HttpResponseAccepted<rfd_model::RfdAttr>, HttpError>;

    /// Open a RFD for discussion
    #[endpoint { method = POST, path = "/rfd/{number}/state/discuss", tags = ["rfd"] }]
    async fn discuss_rfd(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::rfd::read::RfdPathParams>,
    ) -> Result<HttpResponseAccepted<rfd_model::RfdAttr>, HttpError>;

    /// Publish a RFD
    #[endpoint { method = POST, path = "/rfd/{number}/state/publish", tags = ["rfd"] }]
    async fn publish_rfd(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::rfd::read::RfdPathParams>,
    ) -> Result<HttpResponseAccepted<rfd_model::RfdAttr>, HttpError>;

    /// Get the comments related to the latest revision of a RFD
    ///
    /// The pull request comments stored when the revision was processed. Requires read
    /// access and `GetDiscussion` for the RFD (or `GetDiscussions`, `GetDiscussionsAll`).
    #[endpoint { method = GET, path = "/rfd/{number}/discussion", tags = ["rfd"] }]
    async fn view_rfd_discussion(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::rfd::read::RfdPathParams>,
    ) -> Result<HttpResponseOk<rfd_model::discussion::RfdDiscussion>, HttpError>;

    /// Get the comments related to a revision of a RFD
    #[endpoint { method = GET, path = "/rfd/{number}/revision/{revision}/discussion", tags = ["rfd"] }]
    async fn view_rfd_revision_discussion(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::rfd::read::RfdRevisionPathParams>,
    ) -> Result<HttpResponseOk<rfd_model::discussion::RfdDiscussion>, HttpError>;
    // ---- OAuth and magic-link clients, magic-link login, account linking ----

    /// The OAuth clients the caller may see (`GetOAuthClient`). Secrets are listed by
    /// id only.
    #[endpoint { method = GET, path = "/oauth/client", tags = ["oauth-client"] }]
    async fn list_oauth_clients(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<crate::clients::OAuthClient>>, HttpError>;

    /// Creates an OAuth client (`CreateOAuthClient`); the caller is granted
    /// `GetOAuthClient` and `ManageOAuthClient` on it.
    #[endpoint { method = POST, path = "/oauth/client", tags = ["oauth-client"] }]
    async fn create_oauth_client(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseCreated<crate::clients::OAuthClient>, HttpError>;

    /// An OAuth client (`GetOAuthClient`).
    #[endpoint { method = GET, path = "/oauth/client/{client_id}", tags = ["oauth-client"] }]
    async fn get_oauth_client(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientPath>,
    ) -> Result<HttpResponseOk<crate::clients::OAuthClient>, HttpError>;

    /// Registers a redirect URI (`ManageOAuthClient`): an absolute URL without a
    /// fragment, matched exactly.
    #[endpoint { method = POST, path = "/oauth/client/{client_id}/redirect_uri", tags = ["oauth-client"] }]
    async fn create_oauth_client_redirect_uri(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientPath>,
        body: TypedBody<crate::clients::AddOAuthClientRedirectBody>,
    ) -> Result<HttpResponseOk<crate::clients::OAuthClientRedirectUri>, HttpError>;

    /// Deletes a redirect URI (`ManageOAuthClient`).
    #[endpoint {
        method = DELETE,
        path = "/oauth/client/{client_id}/redirect_uri/{redirect_uri_id}",
        tags = ["oauth-client"],
    }]
    async fn delete_oauth_client_redirect_uri(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientRedirectUriPath>,
    ) -> Result<HttpResponseOk<crate::clients::OAuthClientRedirectUri>, HttpError>;

    /// Adds a secret (`ManageOAuthClient`); this response is the only time it is shown.
    #[endpoint { method = POST, path = "/oauth/client/{client_id}/secret", tags = ["oauth-client"] }]
    async fn create_oauth_client_secret(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientPath>,
    ) -> Result<HttpResponseOk<crate::clients::InitialOAuthClientSecretResponse>, HttpError>;

    /// Deletes a secret (`ManageOAuthClient`); it stops working at once.
    #[endpoint { method = DELETE, path = "/oauth/client/{client_id}/secret/{secret_id}", tags = ["oauth-client"] }]
    async fn delete_oauth_client_secret(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientSecretPath>,
    ) -> Result<HttpResponseOk<crate::clients::OAuthClientSecret>, HttpError>;

    /// The magic-link clients the caller may see (`GetMagicLinkClient`), all of them.
    #[endpoint { method = GET, path = "/magic/client", tags = ["magic-link"] }]
    async fn list_magic_links(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<Vec<crate::clients::MagicLink>>, HttpError>;

    /// Creates a magic-link client (`CreateMagicLinkClient`); the caller is granted
    /// `GetMagicLinkClient` and `ManageMagicLinkClient` on it.
    #[endpoint { method = POST, path = "/magic/client", tags = ["magic-link"] }]
    async fn create_magic_link(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseCreated<crate::clients::MagicLink>, HttpError>;

    /// A magic-link client (`GetMagicLinkClient`).
    #[endpoint { method = GET, path = "/magic/client/{client_id}", tags = ["magic-link"] }]
    async fn get_magic_link(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientPath>,
    ) -> Result<HttpResponseOk<crate::clients::MagicLink>, HttpError>;

    /// Registers a redirect URI (`ManageMagicLinkClient`).
    #[endpoint { method = POST, path = "/magic/client/{client_id}/redirect_uri", tags = ["magic-link"] }]
    async fn create_magic_link_redirect_uri(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientPath>,
        body: TypedBody<crate::clients::AddMagicLinkRedirectBody>,
    ) -> Result<HttpResponseOk<crate::clients::MagicLinkRedirectUri>, HttpError>;

    /// Deletes a redirect URI (`ManageMagicLinkClient`).
    #[endpoint {
        method = DELETE,
        path = "/magic/client/{client_id}/redirect_uri/{redirect_uri_id}",
        tags = ["magic-link"],
    }]
    async fn delete_magic_link_redirect_uri(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientRedirectUriPath>,
    ) -> Result<HttpResponseOk<crate::clients::MagicLinkRedirectUri>, HttpError>;

    /// Adds a secret (`ManageMagicLinkClient`); this response is the only time it is
    /// shown.
    #[endpoint { method = POST, path = "/magic/client/{client_id}/secret", tags = ["magic-link"] }]
    async fn create_magic_link_secret(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientPath>,
    ) -> Result<HttpResponseOk<crate::clients::InitialMagicLinkSecretResponse>, HttpError>;

    /// Deletes a secret (`ManageMagicLinkClient`).
    #[endpoint { method = DELETE, path = "/magic/client/{client_id}/secret/{secret_id}", tags = ["magic-link"] }]
    async fn delete_magic_link_secret(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::clients::ClientSecretPath>,
    ) -> Result<HttpResponseOk<crate::clients::MagicLinkSecret>, HttpError>;

    /// Sends a sign-in link by email. The client is identified by its secret; the
    /// redirect URI must be registered; the link works once, for at most 15 minutes.
    /// 401 for a wrong secret, 400 for a bad request, 503 when the email could not be
    /// sent (the attempt is recorded either way).
    #[endpoint { method = POST, path = "/login/magic/{channel}/send", tags = ["login"] }]
    async fn magic_link_send(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::magic_link::ChannelPath>,
        body: TypedBody<crate::magic_link::MagicLinkSendRequest>,
    ) -> Result<HttpResponseOk<crate::magic_link::MagicLinkSendResponse>, HttpError>;

    /// Exchanges a magic link's code for an access token (once). 401 for an unknown
    /// attempt or wrong code; 400 if used, expired or for another recipient.
    #[endpoint { method = POST, path = "/login/magic/{channel}/exchange", tags = ["login"] }]
    async fn magic_link_exchange(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::magic_link::ChannelPath>,
        body: TypedBody<crate::magic_link::MagicLinkExchangeRequest>,
    ) -> Result<HttpResponseOk<crate::magic_link::MagicLinkExchangeResponse>, HttpError>;

    /// Makes a token (15 minutes, single use) with which another user can take over
    /// one of the caller's provider identities (`CreateUserApiProviderLinkToken`).
    #[endpoint { method = POST, path = "/api-user-provider/{provider_id}/link-token", tags = ["api-user"] }]
    async fn create_link_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::linking::ProviderPath>,
        body: TypedBody<crate::linking::ApiUserLinkRequestPayload>,
    ) -> Result<HttpResponseOk<crate::linking::ApiUserLinkRequestResponse>, HttpError>;

    /// Redeems a link token: the identity moves to the caller, who must be the path's
    /// user, the token's target, and hold `ManageApiUser` on the identity's owner.
    #[endpoint { method = POST, path = "/api-user/{user_id}/link", tags = ["api-user"] }]
    async fn link_provider(
        rqctx: RequestContext<Self::Context>,
        path: Path<UserPath>,
        body: TypedBody<crate::linking::ApiUserProviderLinkPayload>,
    ) -> Result<HttpResponseUpdatedNoContent, HttpError>;
    // ---- gitsource ----

    /// A git server's post-receive hook reports the refs a push moved (one or a list of
    /// `{ref, before, after}`); each moved default or `NNNN` branch is queued for the
    /// processor to reconcile. Disabled unless `[trigger] enabled`; a wrong, rotated or
    /// unset id answers 404 like an unknown path, and repeated wrong ids lock the address
    /// out for a while.
    #[endpoint { method = POST, path = "/trigger/{trigger_id}", tags = ["hidden"] }]
    async fn trigger(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::trigger::TriggerPath>,
        body: TypedBody<crate::trigger::TriggerRequest>,
    ) -> Result<dropshot::HttpResponseAccepted<WebhookOutcome>, HttpError>;

    // ---- OAuth login (auth-oauth) ----
    // Types in crate::auth::oauth; handlers call into its `code` and `device` modules.

    /// Generate the remote provider login url and redirect the user. The client's
    /// redirect URI must be registered exactly; PKCE (S256) is required. Sets an HttpOnly
    /// cookie that binds the login to this browser.
    #[endpoint { method = GET, path = "/login/oauth/{provider}/code/authorize" }]
    async fn authz_code_redirect(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::auth::oauth::OAuthProviderPath>,
        query: Query<crate::auth::oauth::OAuthAuthzCodeQuery>,
    ) -> Result<HttpResponseTemporaryRedirect, HttpError>;

    /// Handle return calls from a remote OAuth provider: back to the client's redirect
    /// URI with our code (or `error=access_denied`). Refused unless the state matches
    /// this browser's login cookie.
    #[endpoint { method = GET, path = "/login/oauth/{provider}/code/callback" }]
    async fn authz_code_callback(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::auth::oauth::OAuthProviderPath>,
        query: Query<crate::auth::oauth::OAuthAuthzCodeReturnQuery>,
    ) -> Result<HttpResponseTemporaryRedirect, HttpError>;

    /// Exchange an authorization code for an access token. The code is single-use;
    /// client, redirect URI and PKCE verifier must match. Errors are RFC 6749 §5.2
    /// JSON (`invalid_grant`, `invalid_client`, …).
    #[endpoint {
        method = POST,
        path = "/login/oauth/{provider}/code/token",
        content_type = "application/x-www-form-urlencoded",
    }]
    async fn authz_code_exchange(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::auth::oauth::OAuthProviderPath>,
        query: Query<crate::auth::oauth::OAuthAuthzCodeExchangeQuery>,
        body: TypedBody<crate::auth::oauth::OAuthAuthzCodeExchangeBody>,
    ) -> Result<
        HttpResponseOk<crate::auth::oauth::OAuthAuthzCodeExchangeResponse>,
        crate::auth::oauth::OAuthError,
    >;

    /// Retrieve the metadata about an OAuth provider for device authorization flow
    #[endpoint { method = GET, path = "/login/oauth/{provider}/device" }]
    async fn get_device_provider(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::auth::oauth::OAuthProviderPath>,
    ) -> Result<HttpResponseOk<crate::auth::oauth::OAuthProviderDeviceInfo>, HttpError>;

    /// Retrieve the metadata about an OAuth provider for public PKCE authorization code flow
    #[endpoint { method = GET, path = "/login/oauth/{provider}/public-pkce" }]
    async fn get_web_pkce_provider(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::auth::oauth::OAuthProviderPath>,
    ) -> Result<HttpResponseOk<crate::auth::oauth::OAuthProviderAuthorizationCodePkceInfo>, HttpError>;

    /// Initiate a device authorization flow by proxying the request to the
    /// upstream OAuth provider. Creates a login attempt and returns the upstream device
    /// authorization response, with a device code of our own.
    #[endpoint { method = POST, path = "/login/oauth/{provider}/device" }]
    async fn device_authz(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::auth::oauth::OAuthProviderPath>,
        body: TypedBody<crate::auth::oauth::DeviceAuthorizationRequest>,
    ) -> Result<http::Response<Body>, HttpError>;

    /// Exchange an OAuth device code for an access token. The client polls
    /// this endpoint until the user completes authorization (`authorization_pending`,
    /// `slow_down`, `access_denied` and `expired_token` as RFC 8628 §3.5 errors).
    #[endpoint {
        method = POST,
        path = "/login/oauth/{provider}/device/exchange",
        content_type = "application/x-www-form-urlencoded",
    }]
    async fn exchange_device_token(
        rqctx: RequestContext<Self::Context>,
        path: Path<crate::auth::oauth::OAuthProviderPath>,
        body: TypedBody<crate::auth::oauth::DeviceTokenExchangeRequest>,
    ) -> Result<http::Response<Body>, HttpError>;
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
