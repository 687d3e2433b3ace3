//! Account linking (`POST /api-user-provider/{provider_id}/link-token`,
//! `POST /api-user/{user_id}/link`): the owner of a provider identity asks for a token
//! naming another user; that user redeems it, and the identity moves to them.
//!
//! Permissions as the reference service: making a token needs
//! `CreateUserApiProviderLinkToken` and the identity must be the caller's; redeeming
//! needs the caller to be the path's user and the token's target, and to hold
//! `ManageApiUser` on the identity's current owner. The token is random (it starts with
//! the request id), lives 15 minutes, is stored as its SHA-256 digest and works once.

use chrono::Utc;
use dropshot::HttpError;
use rfd_model::Store;
use rfd_model::clients::{generate_keyed_secret, keyed_secret_id, secret_digest};
use rfd_model::linking::LinkRefusal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::{bad_request, forbidden, not_found, store_error};
use crate::permissions::Permission;

/// How long a link token works.
pub const LINK_TOKEN_TTL_MINUTES: i64 = 15;

/// `POST /api-user-provider/{provider_id}/link-token`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ApiUserLinkRequestPayload {
    /// The user the identity should move to.
    pub user_id: Uuid,
}

/// A new link token: shown once.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct ApiUserLinkRequestResponse {
    /// The token, for the target user to redeem within 15 minutes.
    pub token: String,
}

impl std::fmt::Debug for ApiUserLinkRequestResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiUserLinkRequestResponse { token: [redacted] }")
    }
}

/// `POST /api-user/{user_id}/link`
#[derive(Deserialize, Serialize, JsonSchema)]
pub struct ApiUserProviderLinkPayload {
    /// The link token.
    pub token: String,
}

impl std::fmt::Debug for ApiUserProviderLinkPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiUserProviderLinkPayload { token: [redacted] }")
    }
}

/// A provider identity in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProviderPath {
    /// The identity.
    pub provider_id: Uuid,
}

/// Makes a link token for one of the caller's identities.
pub async fn create_link_token(
    store: &Store,
    caller: &Caller,
    provider_id: Uuid,
    payload: ApiUserLinkRequestPayload,
) -> Result<ApiUserLinkRequestResponse, HttpError> {
    caller.require(&Permission::CreateUserApiProviderLinkToken)?;
    let owned = store
        .user_providers(caller.id, i64::MAX)
        .await
        .map_err(store_error)?
        .into_iter()
        .any(|p| p.id == provider_id);
    if !owned {
        // Another user's identity is indistinguishable from a missing one.
        return Err(not_found("api_user_provider"));
    }
    if payload.user_id == caller.id {
        return Err(bad_request("the identity already belongs to this user"));
    }
    if store.get_user(payload.user_id).await.map_err(store_error)?.is_none() {
        return Err(not_found("api_user"));
    }
    let id = Uuid::new_v4();
    let (token, hash) = generate_keyed_secret(id);
    let expires_at = Utc::now() + chrono::Duration::minutes(LINK_TOKEN_TTL_MINUTES);
    store
        .create_link_request(id, provider_id, caller.id, payload.user_id, &hash, expires_at)
        .await
        .map_err(store_error)?;
    tracing::info!(link_request.id = %id, api_user_provider.id = %provider_id, "link token created");
    Ok(ApiUserLinkRequestResponse { token: token.expose().to_string() })
}

/// Redeems a link token: the identity moves to the caller.
pub async fn link_provider(
    store: &Store,
    caller: &Caller,
    user_id: Uuid,
    payload: ApiUserProviderLinkPayload,
) -> Result<(), HttpError> {
    caller.require_authenticated()?;
    if user_id != caller.id {
        return Err(forbidden());
    }
    let invalid = || bad_request(LinkRefusal::Invalid.to_string());
    let request_id = keyed_secret_id(&payload.token).ok_or_else(invalid)?;
    let request = store.get_link_request(request_id).await.map_err(store_error)?.ok_or_else(invalid)?;
    caller.require(&Permission::ManageApiUser(request.source_api_user_id))?;
    let done = store
        .redeem_link_request(request_id, &secret_digest(&payload.token), caller.id)
        .await
        .map_err(store_error)?
        .map_err(|refusal| match refusal {
            LinkRefusal::WrongTarget => forbidden(),
            other => bad_request(other.to_string()),
        })?;
    tracing::info!(
        link_request.id = %done.id,
        api_user_provider.id = %done.source_provider_id,
        from = %done.source_api_user_id,
        to = %done.target_api_user_id,
        "provider identity linked"
    );
    Ok(())
}
