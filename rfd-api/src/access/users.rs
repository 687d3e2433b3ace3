//! `/self` and `/api-user/…`: users, their permissions, groups, contact address, API
//! keys and access tokens.

use chrono::Utc;
use dropshot::HttpError;
use rfd_model::auth::ApiUser;
use rfd_model::{Page, Store};
use uuid::Uuid;

use super::{
    AccessTokenView, AddGroupBody, ApiKeyCreateParams, ApiKeyResponse, ApiUserContactEmailView,
    ApiUserEmailUpdateParams, ApiUserPermissionParams, ApiUserUpdateParams, GetUserResponse,
    InitialApiKeyResponse, RevokeAllResponse,
};
use crate::auth::secret;
use crate::caller::Caller;
use crate::error::{bad_request, forbidden, not_found, store_error};
use crate::permissions::{Action, Permission, Permissions};

/// How many provider identities a user response lists (as the reference).
const PROVIDERS_SHOWN: i64 = 10;

/// A user with its identities.
pub async fn user_response(store: &Store, user: ApiUser) -> Result<GetUserResponse, HttpError> {
    let providers = store.user_providers(user.id, PROVIDERS_SHOWN).await.map_err(store_error)?;
    Ok(GetUserResponse { info: user.into(), providers: providers.into_iter().map(Into::into).collect() })
}

async fn live_user(store: &Store, id: Uuid) -> Result<ApiUser, HttpError> {
    store.get_user(id).await.map_err(store_error)?.ok_or_else(|| not_found("api_user"))
}

/// `GET /self`: any authenticated caller may read itself.
pub async fn get_self(store: &Store, caller: &Caller) -> Result<GetUserResponse, HttpError> {
    caller.require_authenticated()?;
    user_response(store, live_user(store, caller.id).await?).await
}

/// `GET /api-user`: the users the caller may see.
pub async fn list_users(store: &Store, caller: &Caller) -> Result<Vec<GetUserResponse>, HttpError> {
    caller.require_authenticated()?;
    let users = store.list_users(Page::first(Page::MAX_LIMIT)).await.map_err(store_error)?;
    let mut out = Vec::new();
    for user in users {
        if caller.can(&Permission::GetApiUser(user.id)) {
            out.push(user_response(store, user).await?);
        }
    }
    Ok(out)
}

fn ensure_grantable(caller: &Caller, permissions: &Permissions) -> Result<(), HttpError> {
    if let Some(unknown) = permissions.iter().find(|p| matches!(p, Permission::Unsupported(_))) {
        return Err(bad_request(format!(
            "unknown permission {}",
            serde_json::to_string(unknown).unwrap_or_default()
        )));
    }
    if caller.permissions.can_grant_all(permissions.iter()) { Ok(()) } else { Err(forbidden()) }
}

/// `POST /api-user`: creates a user; the caller must hold every permission it gives,
/// directly or through the groups it adds the user to.
pub async fn create_user(
    store: &Store,
    caller: &Caller,
    params: ApiUserUpdateParams,
) -> Result<GetUserResponse, HttpError> {
    caller.require(&Permission::CreateApiUser)?;
    ensure_grantable(caller, &params.permissions)?;
    let group_ids: Vec<Uuid> = params.group_ids.iter().copied().collect();
    let groups = store.get_groups(&group_ids).await.map_err(store_error)?;
    if groups.len() != group_ids.len() {
        return Err(bad_request("a group in group_ids does not exist"));
    }
    for group in &groups {
        ensure_grantable(caller, &Permissions::from_json(&group.permissions))?;
    }
    let user = store
        .create_user(Uuid::new_v4(), &params.permissions.to_json(), &group_ids)
        .await
        .map_err(store_error)?;
    tracing::info!(api_user.id = %user.id, caller.id = %caller.id, "user created");
    user_response(store, user).await
}

/// `GET /api-user/{user_id}`
pub async fn get_user(store: &Store, caller: &Caller, id: Uuid) -> Result<GetUserResponse, HttpError> {
    caller.require(&Permission::GetApiUser(id))?;
    user_response(store, live_user(store, id).await?).await
}

/// `POST /api-user/{user_id}`: replaces the user's direct permissions. The caller must
/// hold every permission it adds (ones the user already had may stay).
pub async fn update_user(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    params: ApiUserUpdateParams,
) -> Result<GetUserResponse, HttpError> {
    caller.require(&Permission::ManageApiUser(id))?;
    let current = Permissions::from_json(&live_user(store, id).await?.permissions);
    let added: Permissions = params.permissions.iter().filter(|p| !current.0.contains(p)).cloned().collect();
    ensure_grantable(caller, &added)?;
    let user = store.set_user_permissions(id, &params.permissions.to_json()).await.map_err(store_error)?;
    user_response(store, user).await
}

/// `POST /api-user/{user_id}/permission`
pub async fn add_permission(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    params: ApiUserPermissionParams,
) -> Result<GetUserResponse, HttpError> {
    caller.require(&Permission::ManageApiUser(id))?;
    ensure_grantable(caller, &Permissions::from([params.permission.clone()]))?;
    let permission = params.permission;
    let user = store
        .update_user_permissions(id, move |current| {
            let mut list = Permissions::from_json(&current);
            list.insert(permission);
            list.to_json()
        })
        .await
        .map_err(store_error)?;
    user_response(store, user).await
}

/// `DELETE /api-user/{user_id}/permission`
pub async fn remove_permission(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    params: ApiUserPermissionParams,
) -> Result<GetUserResponse, HttpError> {
    caller.require(&Permission::ManageApiUser(id))?;
    let permission = params.permission;
    let user = store
        .update_user_permissions(id, move |current| {
            let mut list = Permissions::from_json(&current);
            list.remove(&permission);
            list.to_json()
        })
        .await
        .map_err(store_error)?;
    user_response(store, user).await
}

/// `PUT /api-user/{user_id}/contact/email`: the address must be one a provider verified.
pub async fn set_contact_email(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    params: ApiUserEmailUpdateParams,
) -> Result<ApiUserContactEmailView, HttpError> {
    caller.require(&Permission::ManageApiUser(id))?;
    live_user(store, id).await?;
    let providers = store.user_providers(id, i64::from(i32::MAX)).await.map_err(store_error)?;
    let known =
        providers.iter().flat_map(|p| p.emails.iter()).any(|email| email.eq_ignore_ascii_case(&params.email));
    if !known {
        return Err(bad_request("the address is not a verified address of this user"));
    }
    Ok(store.set_contact_email(id, &params.email).await.map_err(store_error)?.into())
}

/// Whether the caller may read a key of `owner`: `GetApiKey(id)`, or its own keys with
/// `GetApiKeysAssigned`.
fn may_get_key(caller: &Caller, owner: Uuid, key: Uuid) -> bool {
    caller.can(&Permission::GetApiKey(key)) || (owner == caller.id && caller.can_assigned(Action::GetApiKey))
}

fn may_manage_key(caller: &Caller, owner: Uuid, key: Uuid) -> bool {
    caller.can(&Permission::ManageApiKey(key))
        || (owner == caller.id && caller.can_assigned(Action::ManageApiKey))
}

/// `GET /api-user/{user_id}/token`: the user's keys the caller may see (expired ones
/// included, deleted ones not). Never the secrets.
pub async fn list_keys(store: &Store, caller: &Caller, user: Uuid) -> Result<Vec<ApiKeyResponse>, HttpError> {
    caller.require_authenticated()?;
    let keys = store.list_api_keys(user, Page::first(Page::MAX_LIMIT)).await.map_err(store_error)?;
    Ok(keys.into_iter().filter(|key| may_get_key(caller, user, key.id)).map(Into::into).collect())
}

/// `POST /api-user/{user_id}/token`: creates a key and shows its secret once.
///
/// A boundary must be grantable by the caller. Without a boundary the key carries all
/// its user holds, which only the user itself may ask for; and a caller that is itself
/// restricted (scoped token, bounded key) gets a key bounded by what it has, so a key
/// can never be used to climb out of a restriction.
pub async fn create_key(
    store: &Store,
    caller: &Caller,
    user: Uuid,
    params: ApiKeyCreateParams,
) -> Result<InitialApiKeyResponse, HttpError> {
    caller.require(&Permission::GetApiUser(user))?;
    caller.require(&Permission::CreateApiKey(user))?;
    if params.expires_at <= Utc::now() {
        return Err(bad_request("expires_at must be in the future"));
    }
    let boundary = match params.permission_boundary {
        Some(boundary) => {
            ensure_grantable(caller, &boundary)?;
            Some(boundary)
        }
        None if user != caller.id => {
            return Err(bad_request("a key for another user needs a permission_boundary"));
        }
        None if caller.is_restricted() => Some(caller.permissions.clone()),
        None => None,
    };
    live_user(store, user).await?;
    let secret = secret::generate();
    let key = store
        .create_api_key(
            user,
            &secret.hash,
            boundary.as_ref().map(Permissions::to_json).as_ref(),
            params.expires_at,
        )
        .await
        .map_err(store_error)?;
    tracing::info!(api_key.id = %key.id, api_user.id = %user, "API key created");
    Ok(InitialApiKeyResponse {
        id: key.id,
        key: secret.value,
        permission_boundary: boundary,
        created_at: key.created_at,
        expires_at: key.expires_at,
    })
}

/// `GET /api-user/{user_id}/token/{api_key_id}`
pub async fn get_key(
    store: &Store,
    caller: &Caller,
    user: Uuid,
    key: Uuid,
) -> Result<ApiKeyResponse, HttpError> {
    if !may_get_key(caller, user, key) {
        return Err(if caller.is_anonymous() { crate::error::unauthorized() } else { forbidden() });
    }
    Ok(store.get_api_key(user, key).await.map_err(store_error)?.ok_or_else(|| not_found("api_key"))?.into())
}

/// `DELETE /api-user/{user_id}/token/{api_key_id}`: revokes the key at once.
pub async fn delete_key(
    store: &Store,
    caller: &Caller,
    user: Uuid,
    key: Uuid,
) -> Result<ApiKeyResponse, HttpError> {
    if !may_manage_key(caller, user, key) {
        return Err(if caller.is_anonymous() { crate::error::unauthorized() } else { forbidden() });
    }
    let deleted = store.delete_api_key(user, key).await.map_err(store_error)?;
    tracing::info!(api_key.id = %key, api_user.id = %user, "API key deleted");
    Ok(deleted.into())
}

/// Users may always manage their own sessions; others need `ManageApiUser(user)`.
fn require_self_or_manage(caller: &Caller, user: Uuid) -> Result<(), HttpError> {
    caller.require_authenticated()?;
    if caller.id == user { Ok(()) } else { caller.require(&Permission::ManageApiUser(user)) }
}

/// `GET /api-user/{user_id}/access-token`: live access tokens (not the tokens).
pub async fn list_access_tokens(
    store: &Store,
    caller: &Caller,
    user: Uuid,
) -> Result<Vec<AccessTokenView>, HttpError> {
    require_self_or_manage(caller, user)?;
    let tokens = store.list_access_tokens(user, Page::first(Page::MAX_LIMIT)).await.map_err(store_error)?;
    Ok(tokens.into_iter().map(Into::into).collect())
}

/// `DELETE /api-user/{user_id}/access-token/{token_id}`: revokes one access token.
pub async fn revoke_access_token(
    store: &Store,
    caller: &Caller,
    user: Uuid,
    token: Uuid,
) -> Result<AccessTokenView, HttpError> {
    require_self_or_manage(caller, user)?;
    let revoked = store.revoke_access_token(user, token).await.map_err(store_error)?;
    tracing::info!(token.jti = %token, api_user.id = %user, "access token revoked");
    Ok(revoked.into())
}

/// `POST /api-user/{user_id}/revoke`: revokes every access token and API key of the
/// user (e.g. when a credential may have leaked).
pub async fn revoke_all(store: &Store, caller: &Caller, user: Uuid) -> Result<RevokeAllResponse, HttpError> {
    require_self_or_manage(caller, user)?;
    live_user(store, user).await?;
    let (access_tokens_revoked, api_keys_revoked) =
        store.revoke_all_credentials(user).await.map_err(store_error)?;
    tracing::info!(api_user.id = %user, access_tokens_revoked, api_keys_revoked, "all credentials revoked");
    Ok(RevokeAllResponse { access_tokens_revoked, api_keys_revoked })
}

/// `POST /api-user/{user_id}/group`: the caller must see and manage the group's
/// membership and hold every permission the group gives.
pub async fn add_to_group(
    store: &Store,
    caller: &Caller,
    user: Uuid,
    body: AddGroupBody,
) -> Result<GetUserResponse, HttpError> {
    caller.require(&Permission::GetGroup(body.group_id))?;
    caller.require(&Permission::ManageGroupMembership(body.group_id))?;
    let group = store
        .get_group(body.group_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found("access_group"))?;
    ensure_grantable(caller, &Permissions::from_json(&group.permissions))?;
    let user = store.add_user_to_group(user, group.id).await.map_err(store_error)?;
    user_response(store, user).await
}

/// `DELETE /api-user/{user_id}/group/{group_id}`
pub async fn remove_from_group(
    store: &Store,
    caller: &Caller,
    user: Uuid,
    group: Uuid,
) -> Result<GetUserResponse, HttpError> {
    caller.require(&Permission::ManageGroupMembership(group))?;
    live_user(store, user).await?;
    let user = store.remove_user_from_group(user, group).await.map_err(store_error)?;
    user_response(store, user).await
}
