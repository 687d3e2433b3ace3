//! The API as a Dropshot trait: the contract, separate from its implementation, so the
//! OpenAPI document can be generated without a running server.

use dropshot::{
    Body, HttpError, HttpResponseCreated, HttpResponseOk, Path, Query, RequestContext, StreamingBody,
    TypedBody,
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
