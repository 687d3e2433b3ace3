//! `/group` and `/group-membership`.

use dropshot::HttpError;
use rfd_model::Store;
use uuid::Uuid;

use super::{AccessGroupUpdateParams, AccessGroupView, GetUserResponse};
use crate::access::users::user_response;
use crate::caller::Caller;
use crate::error::{bad_request, forbidden, not_found, store_error};
use crate::permissions::{Permission, Permissions};

fn ensure_grantable(caller: &Caller, permissions: &Permissions) -> Result<(), HttpError> {
    if permissions.iter().any(|p| matches!(p, Permission::Unsupported(_))) {
        return Err(bad_request("unknown permission"));
    }
    if caller.permissions.can_grant_all(permissions.iter()) { Ok(()) } else { Err(forbidden()) }
}

fn valid_name(name: &str) -> Result<(), HttpError> {
    if name.trim().is_empty() { Err(bad_request("a group needs a name")) } else { Ok(()) }
}

/// `GET /group`: the groups the caller may see.
pub async fn list(store: &Store, caller: &Caller) -> Result<Vec<AccessGroupView>, HttpError> {
    caller.require_authenticated()?;
    let groups = store.list_groups().await.map_err(store_error)?;
    Ok(groups.into_iter().filter(|g| caller.can(&Permission::GetGroup(g.id))).map(Into::into).collect())
}

/// `POST /group`: the caller must hold every permission the group gives.
pub async fn create(
    store: &Store,
    caller: &Caller,
    params: AccessGroupUpdateParams,
) -> Result<AccessGroupView, HttpError> {
    caller.require(&Permission::CreateGroup)?;
    valid_name(&params.name)?;
    ensure_grantable(caller, &params.permissions)?;
    let group =
        store.create_group(params.name.trim(), &params.permissions.to_json()).await.map_err(store_error)?;
    tracing::info!(group.id = %group.id, caller.id = %caller.id, "group created");
    Ok(group.into())
}

/// `PUT /group/{group_id}`: the caller must hold every permission it adds.
pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    params: AccessGroupUpdateParams,
) -> Result<AccessGroupView, HttpError> {
    caller.require(&Permission::ManageGroup(id))?;
    valid_name(&params.name)?;
    let current = store.get_group(id).await.map_err(store_error)?.ok_or_else(|| not_found("access_group"))?;
    let current = Permissions::from_json(&current.permissions);
    let added: Permissions = params.permissions.iter().filter(|p| !current.0.contains(p)).cloned().collect();
    ensure_grantable(caller, &added)?;
    Ok(store
        .update_group(id, params.name.trim(), &params.permissions.to_json())
        .await
        .map_err(store_error)?
        .into())
}

/// `DELETE /group/{group_id}`: members lose the group's permissions at once.
pub async fn delete(store: &Store, caller: &Caller, id: Uuid) -> Result<AccessGroupView, HttpError> {
    caller.require(&Permission::ManageGroup(id))?;
    Ok(store.delete_group(id).await.map_err(store_error)?.into())
}

/// `GET /group-membership/{group_id}`: the members the caller may see.
pub async fn members(store: &Store, caller: &Caller, id: Uuid) -> Result<Vec<GetUserResponse>, HttpError> {
    caller.require(&Permission::GetGroup(id))?;
    store.get_group(id).await.map_err(store_error)?.ok_or_else(|| not_found("access_group"))?;
    let mut out = Vec::new();
    for user in store.group_members(id).await.map_err(store_error)? {
        if caller.can(&Permission::GetApiUser(user.id)) {
            out.push(user_response(store, user).await?);
        }
    }
    Ok(out)
}
